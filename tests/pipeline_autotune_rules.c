/* pipeline_autotune_rules: the worker controller's rules on made-up
 * measurements (src/autotune_rules.c, no threads): the busiest stage with
 * the fullest input grows; a stage with an empty input does not; starved
 * stages park (after two intervals), never below one worker; explicit
 * stages are never touched; computing stages grow one worker at a time
 * within the CPU budget, stages that wait on I/O double within the thread
 * limit and stop when the process itself fills the CPUs; CPU time of
 * threads that are not workers makes the stage that sleeps about that long
 * a computing one; only the thread limit makes another stage give a worker
 * away; and in closed loops against a model pipeline the layout settles
 * instead of oscillating, and neither the CPU budget nor the thread limit
 * is ever exceeded. */
#include "autotune_rules.h"
#include "test.h"

#define MAXS 4

typedef struct sim {
  size_t ns;
  cv__tune_meas m[MAXS];
  cv__tune_memory mem[MAXS];
  cv__tune_action acts[MAXS + 1];
  unsigned slots[MAXS]; /* most workers per stage */
  double proc;
  unsigned budget, max_workers;
} sim;

static const char *const names[MAXS] = {"s0", "s1", "s2", "s3"};

static void sim_init(sim *s, size_t ns, unsigned budget, unsigned max_workers) {
  memset(s, 0, sizeof(*s));
  s->ns = ns;
  s->budget = budget;
  s->max_workers = max_workers;
  for (size_t i = 0; i < ns; i++) {
    s->m[i].is_auto = true;
    s->m[i].n = 1;
    s->slots[i] = max_workers;
  }
}

/* One stage's measurements: busy worker-equivalents, input fill, and
 * whether it waits on I/O (then it uses 5% of a CPU per busy worker). */
static void stage_set(sim *s, size_t i, double busy, double fill, bool io) {
  cv__tune_meas *m = &s->m[i];
  m->busy = busy;
  m->fill = fill;
  m->io = io;
  m->cpu = io ? 0.05 * busy : busy;
  m->load = io ? m->cpu : busy;
}

/* Decides once; returns the number of actions. */
static size_t tick(sim *s) {
  for (size_t i = 0; i < s->ns; i++) {
    s->m[i].threads = s->m[i].n;
    s->m[i].room = s->m[i].is_auto ? s->slots[i] - s->m[i].n : 0;
  }
  cv__tune_view v = {.nstages = s->ns, .m = s->m, .mem = s->mem,
                     .proc = s->proc, .cpu_budget = s->budget,
                     .max_workers = s->max_workers, .names = names};
  size_t n = cv__tune_decide(&v, s->acts);
  CHECK(n <= s->ns + 1);
  for (size_t j = 0; j < n; j++) {
    cv__tune_action *a = &s->acts[j];
    CHECK(a->stage < s->ns);
    CHECK(s->m[a->stage].is_auto); /* explicit stages are never touched */
    CHECK_EQ(a->from, s->m[a->stage].n);
    CHECK(a->to >= 1);             /* never below one worker */
    CHECK(a->why[0] != '\0');
    if (a->kind == CV__TUNE_GROW)
      CHECK(a->to > a->from);
    else
      CHECK(a->kind == CV__TUNE_PARK || a->kind == CV__TUNE_GIVE);
  }
  return n;
}

static void apply(sim *s, size_t n) {
  for (size_t j = 0; j < n; j++)
    s->m[s->acts[j].stage].n = s->acts[j].to;
}

static const cv__tune_action *find(const sim *s, size_t n, int kind,
                                   size_t stage) {
  for (size_t j = 0; j < n; j++)
    if (s->acts[j].kind == kind && s->acts[j].stage == stage)
      return &s->acts[j];
  return NULL;
}

/* The busiest stage with the fullest input grows, by one (computing). */
static void grows_bottleneck(void) {
  sim s;
  sim_init(&s, 3, 4, 16);
  stage_set(&s, 0, 0.30, 0.90, false);
  stage_set(&s, 1, 0.98, 0.90, false);
  stage_set(&s, 2, 0.80, 0.60, false);
  size_t n = tick(&s);
  CHECK_EQ(n, 1);
  const cv__tune_action *a = find(&s, n, CV__TUNE_GROW, 1);
  CHECK(a != NULL);
  CHECK_EQ(a->to, 2);
  /* Equally busy: the fuller input wins. */
  sim_init(&s, 3, 4, 16);
  stage_set(&s, 0, 0.95, 0.55, false);
  stage_set(&s, 1, 0.20, 0.00, false);
  stage_set(&s, 2, 0.95, 0.95, false);
  n = tick(&s);
  CHECK(find(&s, n, CV__TUNE_GROW, 2) != NULL);
  CHECK(find(&s, n, CV__TUNE_GROW, 0) == NULL);
}

/* Busy, but with an empty input: not a bottleneck (its upstream is). */
static void empty_input_does_not_grow(void) {
  sim s;
  sim_init(&s, 2, 4, 16);
  stage_set(&s, 0, 0.99, 0.10, false);
  stage_set(&s, 1, 0.99, 0.30, false);
  CHECK_EQ(tick(&s), 0);
  /* A failed worker_init, or no free slot, rules a stage out too. */
  stage_set(&s, 1, 0.99, 0.90, false);
  s.mem[1].no_grow = true;
  CHECK_EQ(tick(&s), 0);
  s.mem[1].no_grow = false;
  s.slots[1] = 1;
  CHECK_EQ(tick(&s), 0);
  /* ... and then the next busiest full stage is the bottleneck. */
  stage_set(&s, 0, 0.90, 0.80, false);
  size_t n = tick(&s);
  CHECK(find(&s, n, CV__TUNE_GROW, 0) != NULL);
}

/* A starved stage parks half its surplus, the second interval it is seen,
 * then waits; it ends at one worker and never goes below. */
static void parks_starved(void) {
  sim s;
  sim_init(&s, 2, 4, 16);
  s.m[0].n = 8;
  stage_set(&s, 0, 0.40, 0.00, false);
  stage_set(&s, 1, 0.50, 0.00, false);
  CHECK_EQ(tick(&s), 0); /* seen once: no change yet */
  size_t n = tick(&s);
  CHECK_EQ(n, 1);
  const cv__tune_action *a = find(&s, n, CV__TUNE_PARK, 0);
  CHECK(a != NULL);
  CHECK_EQ(a->to, 4); /* keep 1: half of the 7 surplus, rounded up */
  apply(&s, n);
  CHECK_EQ(tick(&s), 0); /* parked workers leave: two intervals' hold */
  CHECK_EQ(tick(&s), 0);
  int changes = 0;
  for (int i = 0; i < 20; i++) {
    n = tick(&s);
    changes += (int)n;
    apply(&s, n);
    CHECK(s.m[0].n >= 1 && s.m[1].n >= 1);
  }
  CHECK_EQ(s.m[0].n, 1);
  CHECK_EQ(s.m[1].n, 1);
  CHECK_EQ(changes, 2); /* 4 -> 2 -> 1 */
  /* Blocked workers are surplus too; an undone park is retried. */
  s.m[0].n = 3;
  stage_set(&s, 0, 0.10, 1.00, false);
  CHECK_EQ(tick(&s), 0);
  n = tick(&s);
  CHECK(find(&s, n, CV__TUNE_PARK, 0) != NULL);
  cv__tune_view v = {.nstages = s.ns, .m = s.m, .mem = s.mem};
  cv__tune_undo(&v, &s.acts[0]);
  n = tick(&s);
  CHECK(find(&s, n, CV__TUNE_PARK, 0) != NULL);
}

/* Explicit stages are measured but never changed. */
static void explicit_untouched(void) {
  sim s;
  sim_init(&s, 2, 8, 16);
  s.m[0].is_auto = false;
  s.m[0].n = 6;
  stage_set(&s, 0, 0.10, 0.00, false);
  s.m[1].is_auto = false;
  stage_set(&s, 1, 1.00, 1.00, false);
  for (int i = 0; i < 5; i++)
    CHECK_EQ(tick(&s), 0);
}

/* Computing stages: one worker at a time, the CPU budget caps the sum of
 * busy workers.  I/O stages: doubling, capped by the thread limit; and no
 * growth once the process itself uses the CPUs. */
static void cpu_and_io_budgets(void) {
  sim s;
  sim_init(&s, 2, 2, 16);
  stage_set(&s, 0, 1.00, 0.90, false);
  stage_set(&s, 1, 0.90, 0.00, false);
  CHECK_EQ(tick(&s), 0); /* load 1.9 of 2: no room for a whole CPU */
  s.budget = 4;
  s.mem[0] = (cv__tune_memory){0};
  size_t n = tick(&s);
  CHECK_EQ(n, 1);
  CHECK_EQ(s.acts[0].to, 2); /* by one, though 2 CPUs are free */

  sim_init(&s, 2, 2, 16);
  s.m[0].n = 3;
  stage_set(&s, 0, 3.00, 0.90, true);
  stage_set(&s, 1, 0.50, 0.00, false);
  s.proc = 0.8;
  n = tick(&s);
  const cv__tune_action *a = find(&s, n, CV__TUNE_GROW, 0);
  CHECK(a != NULL);
  CHECK_EQ(a->to, 6); /* doubles */
  s.m[0].n = 6;
  stage_set(&s, 0, 6.00, 0.90, true);
  s.mem[0].hold = 0;
  s.max_workers = 8; /* 6 + 1 threads: room for one more */
  n = tick(&s);
  a = find(&s, n, CV__TUNE_GROW, 0);
  CHECK(a != NULL);
  CHECK_EQ(a->to, 7);
  /* The process uses the CPUs (a library's own threads): no growth. */
  s.mem[0].hold = 0;
  s.max_workers = 16;
  s.proc = 1.7;
  CHECK(find(&s, tick(&s), CV__TUNE_GROW, 0) == NULL);
}

/* Only the thread limit stops the bottleneck: the idlest stage with more
 * than one worker gives one away, and none is given for a full CPU. */
static void gives_at_thread_limit(void) {
  sim s;
  sim_init(&s, 3, 8, 6);
  s.m[0].n = 1;
  s.m[1].n = 3;
  s.m[2].n = 2;
  stage_set(&s, 0, 1.00, 1.00, false);
  stage_set(&s, 1, 0.60, 0.00, false); /* 20% busy each */
  stage_set(&s, 2, 1.00, 0.00, false); /* 50% busy each */
  size_t n = tick(&s);
  CHECK_EQ(n, 1);
  const cv__tune_action *a = find(&s, n, CV__TUNE_GIVE, 1);
  CHECK(a != NULL);
  CHECK_EQ(a->to, 2);
  CHECK(strstr(a->why, "stage s0 is the bottleneck") != NULL);
  /* A bottleneck that waits on I/O would double: an idle giver makes room
   * for that many at once, keeping what its own busy time needs. */
  sim_init(&s, 2, 2, 8);
  s.m[0].n = 6;
  s.m[1].n = 2;
  stage_set(&s, 0, 0.70, 0.00, true); /* keeps ceil(0.70 / 0.65) = 2 */
  stage_set(&s, 1, 2.00, 1.00, true);
  s.proc = 0.2;
  n = tick(&s);
  CHECK_EQ(n, 1);
  a = find(&s, n, CV__TUNE_GIVE, 0);
  CHECK(a != NULL);
  CHECK_EQ(a->to, 4); /* room for the bottleneck's 2 more */
  s.m[0].n = 4;
  s.mem[0] = (cv__tune_memory){0}; /* (seen idle once more, it would park) */
  s.m[1].n = 4;
  stage_set(&s, 1, 4.00, 1.00, true);
  n = tick(&s);
  a = find(&s, n, CV__TUNE_GIVE, 0);
  CHECK(a != NULL);
  CHECK_EQ(a->to, 2); /* wanted 4, the surplus is 2 */
  /* The same with the CPUs full: nothing to gain. */
  sim_init(&s, 3, 2, 6);
  s.m[1].n = 3;
  s.m[2].n = 2;
  stage_set(&s, 0, 1.00, 1.00, false);
  stage_set(&s, 1, 0.60, 0.00, false);
  stage_set(&s, 2, 1.00, 0.00, false);
  CHECK_EQ(tick(&s), 0);
}

/* A model pipeline: stage i needs need[i] workers' worth of work, a stage
 * with n workers is busy min(n, need) and its input is full while it has
 * fewer workers than it needs (always, with `stuck`: more workers do not
 * make it faster, as behind a lock).  The layout must settle (no stage
 * grows after it parked, or parks after it grew, once the demand is
 * steady) within the budget and the thread limit. */
static void closed_loop(const double *need, size_t ns, unsigned budget,
                        unsigned max_workers, bool io, bool stuck) {
  sim s;
  sim_init(&s, ns, budget, max_workers);
  int last_dir[MAXS] = {0}, reversals = 0;
  double floor_load = 0;
  for (size_t i = 0; i < ns; i++)
    floor_load += (io ? 0.05 : 1.0) * (need[i] < 1 ? need[i] : 1.0);
  for (int t = 0; t < 60; t++) {
    double total = 0;
    for (size_t i = 0; i < ns; i++) {
      double busy = need[i] < s.m[i].n ? need[i] : (double)s.m[i].n;
      stage_set(&s, i, busy, stuck || need[i] > s.m[i].n ? 0.95 : 0.05, io);
      total += s.m[i].load;
    }
    s.proc = total;
    size_t n = tick(&s);
    for (size_t j = 0; j < n; j++) {
      int dir = s.acts[j].to > s.acts[j].from ? 1 : -1;
      size_t i = s.acts[j].stage;
      if (last_dir[i] && dir != last_dir[i])
        reversals++;
      last_dir[i] = dir;
    }
    apply(&s, n);
    unsigned threads = 0;
    double load = 0;
    for (size_t i = 0; i < ns; i++) {
      threads += s.m[i].n;
      CHECK(s.m[i].n >= 1);
      double busy = need[i] < s.m[i].n ? need[i] : (double)s.m[i].n;
      load += io ? 0.05 * busy : busy;
    }
    CHECK(threads <= max_workers);
    /* One worker per stage may be more than the budget; growth never is. */
    CHECK(load <= (budget + 0.5 > floor_load ? budget + 0.5 : floor_load) + 1e-9);
  }
  CHECK_EQ(reversals, 0);
}

static void settles(void) {
  /* Busy 2.9 workers' worth in stage 1: stuck at 4 workers (72% busy
   * each) it grows to 5, which must not look like surplus (58% busy each)
   * and be parked, only to grow again. */
  static const double a[] = {0.3, 2.9, 0.4};
  closed_loop(a, 3, 8, 16, false, false);
  closed_loop(a, 3, 8, 16, false, true);
  static const double b[] = {1.0, 1.0, 1.0, 1.0};
  closed_loop(b, 4, 2, 16, false, false); /* more work than CPUs */
  static const double c[] = {0.5, 12.0, 0.5};
  closed_loop(c, 3, 2, 10, true, false); /* I/O: up to the thread limit */
  closed_loop(c, 3, 2, 10, true, true);
}

/* The bottleneck moves: stage 0 needs 3 CPUs, then stage 2 does; the
 * workers follow within a few intervals. */
static void follows_moving_bottleneck(void) {
  sim s;
  sim_init(&s, 3, 4, 16);
  double need[2][3] = {{3.0, 0.3, 0.3}, {0.3, 0.3, 3.0}};
  for (int phase = 0; phase < 2; phase++) {
    for (int t = 0; t < 30; t++) {
      double total = 0;
      for (size_t i = 0; i < 3; i++) {
        double nd = need[phase][i];
        double busy = nd < s.m[i].n ? nd : (double)s.m[i].n;
        stage_set(&s, i, busy, nd > s.m[i].n ? 0.95 : 0.05, false);
        total += busy;
      }
      s.proc = total;
      apply(&s, tick(&s));
    }
    size_t hot = phase == 0 ? 0 : 2, cold = phase == 0 ? 2 : 0;
    CHECK(s.m[hot].n >= 3);
    CHECK_EQ(s.m[cold].n, 1);
  }
}

/* A stage's measurements before classification: busy, own CPU, asleep. */
static cv__tune_meas raw(double busy, double cpu, double asleep) {
  return (cv__tune_meas){.is_auto = true, .n = 2, .busy = busy, .cpu = cpu,
                         .asleep = asleep};
}

/* CPU time of threads that are not workers goes to the stage that sleeps
 * about that long (a library's pool computing for it): that stage computes;
 * a stage that really waits on I/O keeps waiting, also when it sleeps more. */
static void classifies_hidden_cpu(void) {
  /* Downloads wait 3.5 worker-equivalents; the resize workers sleep 1.96
   * while a pool computes 1.9 CPUs for them. */
  cv__tune_meas m[3] = {raw(3.6, 0.10, 3.50), raw(2.0, 0.04, 1.96),
                        raw(0.5, 0.05, 0.45)};
  cv__tune_classify(m, 3, 0.10 + 0.04 + 0.05 + 1.90);
  CHECK(m[0].io);
  CHECK(m[0].load < 0.2);
  CHECK(!m[1].io);
  CHECK(m[1].load > 1.99 && m[1].load < 2.01);
  CHECK(m[1].cpu > 1.9);
  CHECK(m[2].io);
  /* No pool, nothing else computing: sleeping stages wait on I/O. */
  cv__tune_meas q[2] = {raw(3.6, 0.10, 3.50), raw(2.0, 0.04, 1.96)};
  cv__tune_classify(q, 2, 0.10 + 0.04 + 0.03);
  CHECK(q[0].io && q[1].io);
  CHECK(q[1].load < 0.05);
  /* Computing stages: load is their busy time, with or without others. */
  cv__tune_meas c[2] = {raw(1.0, 0.98, 0.0), raw(0.4, 0.38, 0.0)};
  cv__tune_classify(c, 2, 2.0);
  CHECK(!c[0].io && !c[1].io);
  CHECK(c[0].load == 1.0);
  CHECK(c[1].load == 0.4);
  /* Half of a sleep covered is not enough to call it computing. */
  cv__tune_meas h[1] = {raw(2.0, 0.0, 2.0)};
  cv__tune_classify(h, 1, 0.6);
  CHECK(h[0].io);
}

int main(void) {
  classifies_hidden_cpu();
  grows_bottleneck();
  empty_input_does_not_grow();
  parks_starved();
  explicit_untouched();
  cpu_and_io_budgets();
  gives_at_thread_limit();
  settles();
  follows_moving_bottleneck();
  printf("pipeline_autotune_rules: ok\n");
  return 0;
}
