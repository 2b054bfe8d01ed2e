/* src/autotune_rules.c - what the worker controller decides from one
 * interval's measurements (see autotune.c for how it measures and acts).
 *
 * Rules (a stage that grew waits one interval, one that parked workers two
 * (they leave after their current batch), so that the next decision
 * measures the new layout):
 *   - park: a stage with more workers than ceil(busy / BUSY_KEEP) at two
 *     intervals in a row parks half the surplus (rounded up).  Starved and
 *     blocked workers are surplus alike: neither uses a CPU, but each is a
 *     thread of the budget.
 *   - grow: the bottleneck is the stage whose workers are at least
 *     BUSY_GROW busy and whose input is at least FILL_GROW full, the
 *     busiest and fullest first (a stage whose slots are all in use cannot
 *     be it).  It grows by one worker (computing) or doubles (waiting on
 *     I/O), as long as the pipeline's CPU load stays within cpu_budget (+
 *     half a CPU: a worker is a whole unit) and its threads within
 *     max_workers.  The load is at least the process's CPU use, which
 *     counts work done in threads that are not workers (a library's thread
 *     pool: the worker sleeps while it computes, so its stage looks as if
 *     it waited on I/O); and a stage that sleeps grows only while the
 *     process leaves half a CPU of the budget unused.  Run-queue delay is
 *     not load: on a machine shared with other programs every thread waits
 *     for a CPU, and the budget is ours.
 *   - give: when only the thread limit stops the bottleneck, the least busy
 *     other automatic stage with more than one worker (under BUSY_GIVE
 *     busy) parks as many as the bottleneck would start (one when it
 *     computes, as many as it has when it waits on I/O), at most its
 *     surplus and at least one; the bottleneck grows at a later interval.
 *   - never below one worker per stage; explicit counts are never touched.
 *
 * Hysteresis.  BUSY_KEEP is below BUSY_GROW: a stage that grew at busy >=
 * BUSY_GROW * n keeps ceil(busy / BUSY_KEEP) >= n + 1 workers, so a worker
 * that did not raise its stage's busy time is not parked at once only to be
 * started again (and the surplus must be seen twice besides).
 */
#include <stdio.h>

#include "autotune_rules.h"

#define BUSY_GROW 0.70 /* a bottleneck's workers are at least this busy */
#define FILL_GROW 0.50 /* and its input at least this full */
#define BUSY_KEEP 0.65 /* park down to busy / BUSY_KEEP workers */
#define BUSY_GIVE 0.60 /* a stage this idle gives a worker away */
#define IO_SHARE 0.50  /* busy time more than half asleep: I/O */
#define OTHER_MIN 0.05 /* CPUs of other threads too few to hand out */

void cv__tune_classify(cv__tune_meas *m, size_t ns, double proc) {
  double other = proc;
  for (size_t i = 0; i < ns; i++)
    other -= m[i].cpu;
  /* Best fit: the stage whose sleep is closest to the time left over (a
   * pool computes for the stage that waits for it, about as long as it
   * waits), until less than OTHER_MIN is left. */
  while (other >= OTHER_MIN) {
    size_t k = ns;
    double gap = 0;
    for (size_t i = 0; i < ns; i++) {
      double g = m[i].asleep > other ? m[i].asleep - other : other - m[i].asleep;
      if (m[i].asleep > 0 && (k == ns || g < gap)) {
        k = i;
        gap = g;
      }
    }
    if (k == ns)
      break;
    double give = other < m[k].asleep ? other : m[k].asleep;
    m[k].cpu += give;
    m[k].asleep -= give;
    other -= give;
  }
  for (size_t i = 0; i < ns; i++) {
    m[i].io = m[i].busy > 0 && m[i].asleep > IO_SHARE * m[i].busy;
    m[i].load = m[i].io ? m[i].cpu : m[i].busy;
  }
}

/* Workers that `busy` worker-equivalents keep BUSY_KEEP busy (at least 1). */
static unsigned keep_for(double busy) {
  double want = busy / BUSY_KEEP;
  unsigned keep = (unsigned)want + ((double)(unsigned)want < want);
  return keep < 1 ? 1 : keep;
}

static void set_action(cv__tune_action *a, int kind, size_t stage,
                       unsigned from, unsigned to) {
  a->kind = kind;
  a->stage = stage;
  a->from = from;
  a->to = to;
}

size_t cv__tune_decide(const cv__tune_view *v, cv__tune_action *out) {
  const cv__tune_meas *m = v->m;
  cv__tune_memory *mem = v->mem;
  size_t ns = v->nstages, na = 0;
  unsigned threads = 0;
  double load = 0;
  for (size_t i = 0; i < ns; i++) {
    if (mem[i].hold > 0)
      mem[i].hold--;
    threads += m[i].threads;
    load += m[i].load;
  }

  /* Park surplus workers, once seen at two intervals in a row (a worker
   * that leaves and comes back costs its init and finish). */
  for (size_t i = 0; i < ns; i++) {
    bool seen = mem[i].surplus;
    mem[i].surplus = false;
    if (!m[i].is_auto || mem[i].hold > 0 || m[i].n <= 1)
      continue;
    unsigned keep = keep_for(m[i].busy);
    if (keep >= m[i].n)
      continue;
    mem[i].surplus = true;
    if (!seen)
      continue;
    unsigned k = (m[i].n - keep + 1) / 2;
    cv__tune_action *a = &out[na++];
    set_action(a, CV__TUNE_PARK, i, m[i].n, m[i].n - k);
    snprintf(a->why, sizeof(a->why),
             "park: busy %.2f of %u workers (%s), input %.0f%% full",
             m[i].busy, m[i].n, m[i].io ? "waiting on I/O" : "computing",
             100 * m[i].fill);
    mem[i].hold = 2;
  }

  /* The bottleneck. */
  size_t b = ns;
  double best = 0;
  for (size_t i = 0; i < ns; i++) {
    if (!m[i].is_auto || mem[i].hold > 0 || mem[i].no_grow || m[i].n == 0 ||
        m[i].room == 0)
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
    return na;
  const cv__tune_meas *mb = &m[b];
  /* CPUs one more busy worker of b would keep busy. */
  double per = mb->io ? mb->cpu / mb->busy : 1.0;
  unsigned k = mb->io ? mb->n : 1;
  /* The load, or what the whole process used if more (work in threads
   * that are not workers).  A stage that sleeps grows only while the
   * process leaves half a CPU of the budget unused: if its sleep is in
   * fact a wait for another thread's computing, more workers only add
   * threads to a full machine. */
  double used = load > v->proc ? load : v->proc;
  double cpu_room = v->cpu_budget + 0.5 - used;
  if (mb->io && v->proc > v->cpu_budget - 0.5)
    cpu_room = 0;
  unsigned by_cpu = cpu_room <= 0 ? 0
                    : per < 0.01  ? k
                                  : (unsigned)(cpu_room / per);
  unsigned by_threads =
      threads < v->max_workers ? v->max_workers - threads : 0;
  unsigned wanted = k; /* before the limits: what a giver may make room for */
  if (by_cpu < k)
    k = by_cpu;
  if (by_threads < k)
    k = by_threads;
  if (mb->room < k)
    k = mb->room;
  if (k > 0) {
    cv__tune_action *a = &out[na++];
    set_action(a, CV__TUNE_GROW, b, mb->n, mb->n + k);
    snprintf(a->why, sizeof(a->why),
             "grow: busy %.2f of %u workers (%s), input %.0f%% full; "
             "CPU load %.2f (process %.2f) of %u; threads %u of %u",
             mb->busy, mb->n, mb->io ? "waiting on I/O" : "computing",
             100 * mb->fill, load, v->proc, v->cpu_budget, threads,
             v->max_workers);
    mem[b].hold = 1; /* a new worker counts from its first interval */
    return na;
  }
  if (by_threads > 0 || by_cpu == 0)
    return na; /* the CPUs are full: more threads would not help */
  /* Only the thread limit stops b: take a worker from the idlest stage. */
  size_t d = ns;
  double least = BUSY_GIVE;
  for (size_t i = 0; i < ns; i++) {
    if (i == b || !m[i].is_auto || mem[i].hold > 0 || m[i].n <= 1)
      continue;
    double util = m[i].busy / m[i].n;
    if (util < least) {
      d = i;
      least = util;
    }
  }
  if (d == ns)
    return na;
  /* As many as b could use now, of the giver's surplus (it keeps what
   * would leave its workers BUSY_KEEP busy), and at least one. */
  unsigned give = m[d].n - keep_for(m[d].busy);
  if (give > wanted)
    give = wanted;
  if (by_cpu < give)
    give = by_cpu;
  if (give < 1)
    give = 1;
  if (give > m[d].n - 1)
    give = m[d].n - 1;
  cv__tune_action *a = &out[na++];
  set_action(a, CV__TUNE_GIVE, d, m[d].n, m[d].n - give);
  snprintf(a->why, sizeof(a->why),
           "give: busy %.2f of %u workers; stage %s is the bottleneck "
           "(busy %.2f of %u, input %.0f%% full) at %u of %u threads",
           m[d].busy, m[d].n, v->names ? v->names[b] : "?", mb->busy, mb->n,
           100 * mb->fill, threads, v->max_workers);
  mem[d].hold = 2;
  return na;
}

void cv__tune_undo(const cv__tune_view *v, const cv__tune_action *a) {
  v->mem[a->stage].hold = 0;
}
