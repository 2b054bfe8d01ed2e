/* src/autotune.c - automatic workers: the controller that gives each stage
 * with CV_WORKERS_AUTO as many workers as it can use (see "Automatic
 * workers" in include/conveyor/pipeline.h).
 *
 * DESIGN
 *
 * Where it runs.  On the pipeline's monitor thread, which already sleeps in
 * poll(2): the poll timeout also wakes it once per tune interval (the first
 * intervals are shorter: 10 ms, doubling).  Each
 * tick it (1) joins the workers it parked that have left, (2) measures
 * every stage over the interval just ended, (3) decides, (4) starts or parks
 * workers and reports each change to tune_cb.
 *
 * Workers.  An automatic stage has a slot (a cv_stage_ctx) for every worker
 * it could ever run; slot threads start with cv__worker_spawn and are asked
 * to leave with their `retire` flag, which the worker reads between batches
 * (a starved one wakes from its queue wait once per interval to look).  A
 * leaving worker runs worker_finish, sets `exited` and wakes the monitor,
 * which joins it.  The thread count is bounded because a slot's count
 * (`alive`) drops only when its thread was joined, and a new thread starts
 * only while the sum over all stages is below max_workers.  Close
 * propagation is untouched: a worker that leaves is one fewer `live`, and
 * cv__worker_spawn never revives a stage whose last worker closed its
 * output.
 *
 * Measurements, per stage over the interval (as worker-equivalents: 1.0 is
 * one worker for the whole interval): busy, starved and blocked time from
 * the statistics; CPU time and run-queue delay of its threads from the
 * kernel (/proc/self/task/TID/schedstat; else the thread's CPU clock and no
 * delay); the input queue's fill.  Busy time off the CPU and off the run
 * queue is sleep: a stage whose busy time is mostly sleep waits on I/O.
 * A stage's CPU `load`: the busy workers of a stage that computes (on a CPU
 * or waiting for one: either way a CPU's worth of work), the CPU time of a
 * stage that waits on I/O.
 *
 * Rules (a stage that grew waits one interval, one that parked workers two
 * (they leave after their current batch), so that the next decision
 * measures the new layout):
 *   - park: a stage with more workers than ceil(busy / 0.8) at two
 *     intervals in a row parks half the surplus (rounded up).  Starved and
 *     blocked workers are surplus alike: neither uses a CPU, but each is a
 *     thread of the budget.
 *   - grow: the bottleneck is the stage whose workers are at least 70% busy
 *     and whose input is at least half full, the busiest and fullest first.
 *     It grows by one worker (computing) or doubles (waiting on I/O), as
 *     long as the pipeline's CPU load stays within cpu_budget (+ half a
 *     CPU: a worker is a whole unit) and its threads within max_workers
 *     (and the stage's own max_workers: its slots).  The load is at least
 *     the process's CPU use, which counts work done in threads that are not
 *     workers (a library's thread pool: the worker sleeps while it
 *     computes, so its stage looks as if it waited on I/O); and a stage that
 *     sleeps grows only while the process leaves half a CPU of the budget
 *     unused.  Run-queue delay is not load: on a machine shared with other
 *     programs every thread waits for a CPU, and the budget is ours.
 *   - give: when only the thread limit stops the bottleneck, the least busy
 *     other automatic stage with more than one worker (under 60% busy)
 *     parks one, and the bottleneck grows at a later interval.
 *   - never below one worker per stage; explicit counts are never touched.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall(SYS_gettid) */
#endif
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if CV_HAVE_RING /* the Linux build; the portable one is C11 + pthreads */
#include <sys/syscall.h>
#endif
#include <time.h>
#include <unistd.h>

#include "autotune.h"
#include "pipeline_internal.h"

#define BUSY_GROW 0.70  /* a bottleneck's workers are at least this busy */
#define FILL_GROW 0.50  /* and its input at least this full */
#define BUSY_KEEP 0.80  /* park down to busy / BUSY_KEEP workers */
#define BUSY_GIVE 0.60  /* a stage this idle gives a worker away */
#define IO_SHARE 0.50   /* busy time more than half asleep: I/O */
#define FIRST_INTERVAL_NS 10000000 /* 10 ms, doubling up to the interval */

/* What the controller remembers of one worker slot between ticks. */
typedef struct tune_slot {
  int tid;
  int64_t cpu_ns, delay_ns;
} tune_slot;

typedef struct tune_stage {
  int64_t busy_ns, starved_ns, blocked_ns; /* at the last tick */
  bool surplus; /* had idle workers at the last tick too */
  tune_slot *slots;                        /* nworkers of them */
  int hold;     /* intervals to wait before the next change */
  bool no_grow; /* a worker_init failed: start no more workers */
} tune_stage;

/* One stage over one interval. */
typedef struct meas {
  bool is_auto;
  unsigned n;     /* worker threads not asked to leave */
  double busy;    /* worker-equivalents */
  double cpu;     /* CPUs used */
  double load;    /* CPUs it keeps busy: computing, its busy workers (on a
                     CPU or waiting for one); waiting on I/O, its CPU time */
  double fill;    /* input queue, 0..1 */
  bool io;        /* busy time mostly asleep */
} meas;

typedef struct cv__tune {
  unsigned max_workers, cpu_budget;
  int64_t next_ns, prev_ns;
  unsigned ticks; /* measurements so far */
  int64_t proc_ns; /* the process's CPU time at the last tick */
  double proc;     /* CPUs the whole process used over the interval */
  tune_stage *st;
  meas *m;
} cv__tune;

static unsigned online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

static unsigned pipeline_max(const cv_pipeline *p) {
  return p->max_workers ? p->max_workers : 8 * online_cpus();
}

unsigned cv__tune_slots(const cv_pipeline *p, unsigned most) {
  unsigned n = pipeline_max(p);
  return most && most < n ? most : n;
}

int cv__tune_create(cv_pipeline *p) {
  bool any = false;
  for (size_t i = 0; i < p->nstages; i++)
    any |= p->stages[i]->auto_workers;
  if (!any)
    return CV_OK;
  cv__tune *t = calloc(1, sizeof(*t));
  if (!t)
    return CV_ENOMEM;
  t->st = calloc(p->nstages, sizeof(*t->st));
  t->m = calloc(p->nstages, sizeof(*t->m));
  bool ok = t->st && t->m;
  for (size_t i = 0; ok && i < p->nstages; i++) {
    t->st[i].slots = calloc(p->stages[i]->nworkers, sizeof(tune_slot));
    ok = t->st[i].slots != NULL;
  }
  if (!ok) {
    p->tune = t;
    cv__tune_destroy(p);
    return CV_ENOMEM;
  }
  t->max_workers = pipeline_max(p);
  t->cpu_budget = p->cpu_budget ? p->cpu_budget : online_cpus();
  t->next_ns = cv__now_ns();
  p->tune = t;
  return CV_OK;
}

void cv__tune_destroy(cv_pipeline *p) {
  cv__tune *t = p->tune;
  if (!t)
    return;
  for (size_t i = 0; t->st && i < p->nstages; i++)
    free(t->st[i].slots);
  free(t->st);
  free(t->m);
  free(t);
  p->tune = NULL;
}

void cv__tune_worker_begin(cv_stage_ctx *w) {
#if CV_HAVE_RING
  /* The kernel's id names the thread's schedstat (thread_times). */
  int tid = (int)syscall(SYS_gettid);
#else
  /* The portable build has no thread ids: a number new for each worker
   * thread still tells the controller that a slot holds a new thread, and
   * thread_times reads that thread's CPU clock. */
  static atomic_uint next;
  int tid = (int)(atomic_fetch_add(&next, 1) % INT_MAX) + 1;
#endif
  atomic_store_explicit(&w->tid, tid, memory_order_relaxed);
}

void cv__tune_worker_end(cv_stage_ctx *w) {
  atomic_store_explicit(&w->exited, true, memory_order_release);
  char c = 'x';
  if (write(w->p->wake_fd[1], &c, 1) < 0) {
    /* Pipe full: the monitor has a wake-up pending already. */
  }
}

int cv__tune_poll_ms(cv_pipeline *p, int tmo_ms) {
  int64_t d = p->tune->next_ns - cv__now_ns();
  int ms = d <= 0 ? 0 : (int)((d + 999999) / 1000000);
  return tmo_ms < 0 || ms < tmo_ms ? ms : tmo_ms;
}

/* ---- measuring -------------------------------------------------------- */

/* A thread's CPU time and run-queue delay so far.  False if unknown. */
static bool thread_times(const cv_stage_ctx *w, int tid, int64_t *cpu,
                         int64_t *delay) {
#if CV_HAVE_RING
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char b[128];
    ssize_t n = read(fd, b, sizeof(b) - 1);
    close(fd);
    long long c, d;
    if (n > 0) {
      b[n] = '\0';
      if (sscanf(b, "%lld %lld", &c, &d) == 2) {
        *cpu = c;
        *delay = d;
        return true;
      }
    }
  }
#else
  (void)tid;
#endif
  /* Without schedstat: the CPU clock of a thread not yet joined (only the
   * monitor joins parked workers, and it is the caller). */
  clockid_t clk;
  struct timespec ts;
  if (!w->thread_started || pthread_getcpuclockid(w->thread, &clk) != 0 ||
      clock_gettime(clk, &ts) != 0)
    return false;
  *cpu = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  *delay = 0;
  return true;
}

/* CPU time + run-queue delay of stage i's threads since the last tick, and
 * the CPU time alone in *cpu_out. */
static int64_t stage_demand_ns(cv_pipeline *p, size_t i, int64_t *cpu_out) {
  cv__stage *st = p->stages[i];
  tune_slot *slots = p->tune->st[i].slots;
  int64_t sum = 0, cpu_sum = 0;
  for (unsigned j = 0; j < st->nworkers; j++) {
    cv_stage_ctx *w = &st->workers[j];
    int tid = atomic_load_explicit(&w->tid, memory_order_relaxed);
    int64_t cpu, delay;
    if (!w->thread_started || tid == 0 || !thread_times(w, tid, &cpu, &delay))
      continue;
    tune_slot *s = &slots[j];
    if (s->tid != tid) { /* a new thread in this slot: all of it is new */
      s->tid = tid;
      s->cpu_ns = s->delay_ns = 0;
    }
    if (cpu >= s->cpu_ns && delay >= s->delay_ns) {
      sum += (cpu - s->cpu_ns) + (delay - s->delay_ns);
      cpu_sum += cpu - s->cpu_ns;
    }
    s->cpu_ns = cpu;
    s->delay_ns = delay;
  }
  *cpu_out = cpu_sum;
  return sum;
}

/* Threads of stage i asked to stay (automatic), or its count (explicit). */
static unsigned staying(const cv__stage *st) {
  if (!st->auto_workers)
    return st->nworkers;
  unsigned n = 0;
  for (unsigned j = 0; j < st->nworkers; j++) {
    const cv_stage_ctx *w = &st->workers[j];
    n += w->thread_started && !atomic_load(&((cv_stage_ctx *)w)->retire);
  }
  return n;
}

static void measure(cv_pipeline *p, int64_t dt) {
  cv__tune *t = p->tune;
  /* The whole process: it also counts CPU time of threads that are not
   * workers, such as a library's own thread pool doing a stage's work while
   * the worker sleeps waiting for it (and so looks as if it waited on I/O). */
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0) {
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    t->proc = t->proc_ns ? (double)(now - t->proc_ns) / (double)dt : 0.0;
    t->proc_ns = now;
  }
  for (size_t i = 0; i < p->nstages; i++) {
    cv_stage_stats s;
    cv__stage_stats_fill(p, i, &s);
    tune_stage *ts = &t->st[i];
    meas *m = &t->m[i];
    int64_t busy = s.busy_ns - ts->busy_ns;
    ts->busy_ns = s.busy_ns;
    ts->starved_ns = s.starved_ns;
    ts->blocked_ns = s.blocked_ns;
    int64_t cpu = 0;
    int64_t demand = stage_demand_ns(p, i, &cpu);
    m->is_auto = p->stages[i]->auto_workers;
    m->n = staying(p->stages[i]);
    m->busy = busy > 0 ? (double)busy / (double)dt : 0.0;
    m->cpu = (double)cpu / (double)dt;
    /* Asleep = busy, neither on a CPU nor waiting for one.  (The run-queue
     * delay also holds the waits for a CPU after waking from a queue wait,
     * so a stage that is often starved looks less asleep than it is.) */
    m->io = busy > 0 && (double)(busy - demand) > IO_SHARE * (double)busy;
    m->load = m->io ? m->cpu : m->busy;
    size_t cap = s.queue_capacity;
    m->fill = cap ? (double)s.queue_depth / (double)cap
                  : (s.queue_depth >= m->n ? 1.0 : 0.0);
  }
}

/* ---- acting ----------------------------------------------------------- */

static void report(cv_pipeline *p, size_t i, unsigned from, unsigned to,
                   const char *reason) {
  if (!p->tune_cb)
    return;
  cv_tune_event e = {.stage = p->stages[i]->name,
                     .stage_index = i,
                     .from = from,
                     .to = to,
                     .reason = reason};
  p->tune_cb(p, &e, p->tune_arg);
}

/* Starts up to k workers in free slots of stage i; returns how many. */
static unsigned grow(cv_pipeline *p, size_t i, unsigned k) {
  cv__stage *st = p->stages[i];
  unsigned started = 0;
  for (unsigned j = 0; j < st->nworkers && started < k; j++) {
    cv_stage_ctx *w = &st->workers[j];
    if (w->thread_started)
      continue;
    if (cv__worker_spawn(w) != CV_OK)
      break;
    started++;
    unsigned a = atomic_fetch_add(&st->alive, 1) + 1;
    if (a > atomic_load(&st->peak))
      atomic_store(&st->peak, a);
  }
  return started;
}

/* Asks up to k workers of stage i to leave (the newest first). */
static unsigned park(cv_pipeline *p, size_t i, unsigned k) {
  cv__stage *st = p->stages[i];
  unsigned asked = 0;
  for (unsigned j = st->nworkers; j-- > 0 && asked < k;) {
    cv_stage_ctx *w = &st->workers[j];
    if (!w->thread_started || atomic_load(&w->retire))
      continue;
    atomic_store(&w->retire, true);
    asked++;
  }
  return asked;
}

/* Joins the workers that left. */
static void reap(cv_pipeline *p) {
  for (size_t i = 0; i < p->nstages; i++) {
    cv__stage *st = p->stages[i];
    if (!st->auto_workers)
      continue;
    for (unsigned j = 0; j < st->nworkers; j++) {
      cv_stage_ctx *w = &st->workers[j];
      if (!w->thread_started ||
          !atomic_load_explicit(&w->exited, memory_order_acquire))
        continue;
      pthread_join(w->thread, NULL);
      w->thread_started = false;
      if (w->init_failed)
        p->tune->st[i].no_grow = true;
      /* A worker that left because its stage finished stays counted: the
       * final statistics show the workers the stage ended with. */
      if (atomic_load(&w->retire) || w->init_failed)
        atomic_fetch_sub(&st->alive, 1);
    }
  }
}

/* ---- deciding --------------------------------------------------------- */

static void decide(cv_pipeline *p) {
  cv__tune *t = p->tune;
  meas *m = t->m;
  size_t ns = p->nstages;
  char why[200];
  unsigned threads = 0;
  double load = 0;
  for (size_t i = 0; i < ns; i++) {
    cv__stage *st = p->stages[i];
    threads += st->auto_workers ? atomic_load(&st->alive) : st->nworkers;
    load += m[i].load;
  }

  /* Park surplus workers, once seen at two intervals in a row (a worker
   * that leaves and comes back costs its init and finish). */
  for (size_t i = 0; i < ns; i++) {
    bool seen = t->st[i].surplus;
    t->st[i].surplus = false;
    if (!m[i].is_auto || t->st[i].hold > 0 || m[i].n <= 1)
      continue;
    double want = m[i].busy / BUSY_KEEP;
    unsigned keep = (unsigned)want + ((double)(unsigned)want < want);
    if (keep < 1)
      keep = 1;
    if (keep >= m[i].n)
      continue;
    t->st[i].surplus = true;
    if (!seen)
      continue;
    unsigned k = (m[i].n - keep + 1) / 2;
    k = park(p, i, k);
    if (k == 0)
      continue;
    snprintf(why, sizeof(why),
             "park: busy %.2f of %u workers (%s), input %.0f%% full",
             m[i].busy, m[i].n, m[i].io ? "waiting on I/O" : "computing",
             100 * m[i].fill);
    report(p, i, m[i].n, m[i].n - k, why);
    m[i].n -= k;
    t->st[i].hold = 2;
  }

  /* The bottleneck. */
  size_t b = ns;
  double best = 0;
  for (size_t i = 0; i < ns; i++) {
    if (!m[i].is_auto || t->st[i].hold > 0 || t->st[i].no_grow || m[i].n == 0)
      continue;
    double util = m[i].busy / m[i].n;
    if (util < BUSY_GROW || m[i].fill < FILL_GROW)
      continue;
    if (b == ns || util + m[i].fill > best) {
      b = i;
      best = util + m[i].fill;
    }
  }
  if (b == ns)
    return;
  meas *mb = &m[b];
  /* CPUs one more busy worker of b would keep busy. */
  double per = mb->io ? mb->cpu / mb->busy : 1.0;
  unsigned k = mb->io ? mb->n : 1;
  /* The load, or what the whole process used if more (work in threads
   * that are not workers).  A stage that sleeps grows only while the
   * process leaves half a CPU of the budget unused: if its sleep is in
   * fact a wait for another thread's computing, more workers only add
   * threads to a full machine. */
  double used = load > t->proc ? load : t->proc;
  double cpu_room = t->cpu_budget + 0.5 - used;
  if (mb->io && t->proc > t->cpu_budget - 0.5)
    cpu_room = 0;
  unsigned by_cpu = cpu_room <= 0 ? 0
                    : per < 0.01  ? k
                                  : (unsigned)(cpu_room / per);
  unsigned by_threads = threads < t->max_workers ? t->max_workers - threads : 0;
  if (by_cpu < k)
    k = by_cpu;
  if (by_threads < k)
    k = by_threads;
  if (k > 0) {
    unsigned got = grow(p, b, k);
    if (got > 0) {
      snprintf(why, sizeof(why),
               "grow: busy %.2f of %u workers (%s), input %.0f%% full; "
               "CPU load %.2f (process %.2f) of %u; threads %u of %u",
               mb->busy, mb->n, mb->io ? "waiting on I/O" : "computing",
               100 * mb->fill, load, t->proc, t->cpu_budget, threads,
               t->max_workers);
      report(p, b, mb->n, mb->n + got, why);
      t->st[b].hold = 1; /* a new worker counts from its first interval */
    }
    return;
  }
  if (by_threads > 0 || (mb->io && cpu_room <= 0))
    return; /* the CPUs are full: more threads would not help */
  /* Only the thread limit stops b: take a worker from the idlest stage. */
  size_t d = ns;
  double least = BUSY_GIVE;
  for (size_t i = 0; i < ns; i++) {
    if (i == b || !m[i].is_auto || t->st[i].hold > 0 || m[i].n <= 1)
      continue;
    double util = m[i].busy / m[i].n;
    if (util < least) {
      d = i;
      least = util;
    }
  }
  if (d == ns || park(p, d, 1) == 0)
    return;
  snprintf(why, sizeof(why),
           "give: busy %.2f of %u workers; stage %s is the bottleneck "
           "(busy %.2f of %u, input %.0f%% full) at %u of %u threads",
           m[d].busy, m[d].n, p->stages[b]->name, mb->busy, mb->n,
           100 * mb->fill, threads, t->max_workers);
  report(p, d, m[d].n, m[d].n - 1, why);
  t->st[d].hold = 2;
}

void cv__tune_tick(cv_pipeline *p) {
  cv__tune *t = p->tune;
  reap(p);
  int64_t now = cv__now_ns();
  if (now < t->next_ns)
    return;
  /* The first intervals are short (10, 20, 40 ms ...): a pipeline that
   * starts with one worker per stage reaches its layout within a fraction
   * of a second, while later decisions rest on full intervals. */
  int64_t step = t->ticks < 8 ? FIRST_INTERVAL_NS << t->ticks : INT64_MAX;
  t->next_ns = now + (step < p->tune_interval_ns ? step : p->tune_interval_ns);
  int64_t dt = now - t->prev_ns;
  t->prev_ns = now;
  measure(p, dt > 0 ? dt : 1);
  if (t->ticks++ == 0)
    return; /* the first measurement is only a baseline */
  for (size_t i = 0; i < p->nstages; i++)
    if (t->st[i].hold > 0)
      t->st[i].hold--;
  decide(p);
}
