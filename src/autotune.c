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
 * it could ever run; slot threads start with the worker loop's spawn (which
 * the pipeline hands the controller in a cv__tune_workers: the worker loop
 * calls this file's hooks, this file never calls the worker loop) and are
 * asked to leave with their `retire` flag, which the worker reads between
 * batches (a starved one wakes from its queue wait once per interval to
 * look).  A leaving worker runs worker_finish, sets `exited` and wakes the
 * monitor, which joins it.  The thread count is bounded because a slot's
 * count (`alive`) drops only when its thread was joined, and a new thread
 * starts only while the sum over all stages is below max_workers.  Close
 * propagation is untouched: a worker that leaves is one fewer `live`, and
 * spawn never revives a stage whose last worker closed its output.
 *
 * Measurements, per stage over the interval (as worker-equivalents: 1.0 is
 * one worker for the whole interval): busy, starved and blocked time from
 * the statistics; CPU time and run-queue delay of its threads from the
 * kernel (/proc/self/task/TID/schedstat; else the thread's CPU clock and no
 * delay); the input queue's fill.  Busy time off the CPU and off the run
 * queue is sleep: a stage whose busy time is mostly sleep waits on I/O,
 * unless threads that are not workers computed for it meanwhile (see
 * cv__tune_classify).  A stage's CPU `load`: the busy workers of a stage
 * that computes (on a CPU or waiting for one: either way a CPU's worth of
 * work), the CPU time of a stage that waits on I/O.
 *
 * Deciding.  The rules are a pure function of one interval's measurements
 * and what they remember between intervals (autotune_rules.c): this file
 * measures, hands them the snapshot, and carries out what they decide.
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
#include "autotune_rules.h"
#include "pipeline_internal.h"

#define FIRST_INTERVAL_NS 10000000 /* 10 ms, doubling up to the interval */

/* What the controller remembers of one worker slot between ticks. */
typedef struct tune_slot {
  int tid;
  int64_t cpu_ns, delay_ns;
} tune_slot;

typedef struct tune_stage {
  int64_t busy_ns, starved_ns, blocked_ns; /* at the last tick */
  tune_slot *slots;                        /* nworkers of them */
} tune_stage;

typedef struct cv__tune {
  unsigned max_workers, cpu_budget;
  int64_t next_ns, prev_ns;
  unsigned ticks; /* measurements so far */
  int64_t proc_ns; /* the process's CPU time at the last tick */
  double proc;     /* CPUs the whole process used over the interval */
  tune_stage *st;
  cv__tune_meas *m;     /* the last interval, per stage */
  cv__tune_memory *mem; /* the rules' memory, per stage */
  const char **names;   /* the stages' names, for the reasons */
  cv__tune_action *acts; /* nstages + 1 */
  cv__tune_workers workers; /* how to start a worker (from pipeline.c) */
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

int cv__tune_create(cv_pipeline *p, const cv__tune_workers *workers) {
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
  t->mem = calloc(p->nstages, sizeof(*t->mem));
  t->names = calloc(p->nstages, sizeof(*t->names));
  t->acts = calloc(p->nstages + 1, sizeof(*t->acts));
  bool ok = t->st && t->m && t->mem && t->names && t->acts;
  for (size_t i = 0; ok && i < p->nstages; i++)
    t->names[i] = p->stages[i]->name;
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
  t->workers = *workers;
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
  free(t->mem);
  free(t->names);
  free(t->acts);
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

/* Threads of stage i asked to stay (automatic), or its count (explicit);
 * *room: its slots without a thread (automatic). */
static unsigned staying(const cv__stage *st, unsigned *room) {
  *room = 0;
  if (!st->auto_workers)
    return st->nworkers;
  unsigned n = 0;
  for (unsigned j = 0; j < st->nworkers; j++) {
    const cv_stage_ctx *w = &st->workers[j];
    n += w->thread_started && !atomic_load(&((cv_stage_ctx *)w)->retire);
    *room += !w->thread_started;
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
    cv__tune_meas *m = &t->m[i];
    int64_t busy = s.busy_ns - ts->busy_ns;
    ts->busy_ns = s.busy_ns;
    ts->starved_ns = s.starved_ns;
    ts->blocked_ns = s.blocked_ns;
    int64_t cpu = 0;
    int64_t demand = stage_demand_ns(p, i, &cpu);
    cv__stage *st = p->stages[i];
    m->is_auto = st->auto_workers;
    m->n = staying(st, &m->room);
    m->threads = st->auto_workers ? atomic_load(&st->alive) : st->nworkers;
    m->busy = busy > 0 ? (double)busy / (double)dt : 0.0;
    m->cpu = (double)cpu / (double)dt;
    /* Asleep = busy, neither on a CPU nor waiting for one.  (The run-queue
     * delay also holds the waits for a CPU after waking from a queue wait,
     * so a stage that is often starved looks less asleep than it is.) */
    m->asleep = busy > demand ? (double)(busy - demand) / (double)dt : 0.0;
    size_t cap = s.queue_capacity;
    m->fill = cap ? (double)s.queue_depth / (double)cap
                  : (s.queue_depth >= m->n ? 1.0 : 0.0);
  }
  cv__tune_classify(t->m, p->nstages, t->proc);
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
    if (p->tune->workers.spawn(w) != CV_OK)
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
        p->tune->mem[i].no_grow = true;
      /* A worker that left because its stage finished stays counted: the
       * final statistics show the workers the stage ended with. */
      if (atomic_load(&w->retire) || w->init_failed)
        atomic_fetch_sub(&st->alive, 1);
    }
  }
}

/* ---- deciding --------------------------------------------------------- */

/* Decides (autotune_rules.c) and carries it out. */
static void decide(cv_pipeline *p) {
  cv__tune *t = p->tune;
  cv__tune_view v = {.nstages = p->nstages,
                     .m = t->m,
                     .mem = t->mem,
                     .proc = t->proc,
                     .cpu_budget = t->cpu_budget,
                     .max_workers = t->max_workers,
                     .names = t->names};
  size_t n = cv__tune_decide(&v, t->acts);
  for (size_t j = 0; j < n; j++) {
    cv__tune_action *a = &t->acts[j];
    unsigned done = a->kind == CV__TUNE_GROW ? grow(p, a->stage, a->to - a->from)
                                             : park(p, a->stage, a->from - a->to);
    if (done == 0) {
      cv__tune_undo(&v, a);
      continue;
    }
    report(p, a->stage, a->from,
           a->kind == CV__TUNE_GROW ? a->from + done : a->from - done, a->why);
  }
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
  decide(p);
}
