/* bench/distributed_redis.c - items/s through Redis on this machine, in one
 * run, on a private redis-server:
 *   raw-1      XADD one at a time; 2 consumer threads XREADGROUP COUNT 1 +
 *              XACK each item (one round trip per command)
 *   raw-64     the same, pipelined 64 commands per round trip, takes of 64
 *              acknowledged with one XACK
 *   conveyor   a 2-stage no-op distributed pipeline: this process feeds and
 *              reads (coordinator), 2 worker processes run both stages
 *              (CV_BATCH_AUTO, capacity 1024 per stage)
 * Every row checks that each item came out exactly once.  Each row reports
 * the median items/s of the interleaved repetitions, the CPU time per item
 * of every process involved (this one, the worker processes, and the
 * redis-server), and the 1-minute load average.
 * Usage: bench_distributed [items]  (default 200000; BENCH_REPS=3;
 * BENCH_PROFILE=1 adds the server's commands per item). */
#define _DEFAULT_SOURCE /* getloadavg */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include "../tests/redis_util.h"

static rs_server srv;

/* CPU time so far of this process, its waited-for children and the
 * server, in ns. */
static int64_t cpu_ns(void) {
  struct rusage a, b;
  getrusage(RUSAGE_SELF, &a);
  getrusage(RUSAGE_CHILDREN, &b);
  int64_t ns = 0;
  struct timeval tv[4] = {a.ru_utime, a.ru_stime, b.ru_utime, b.ru_stime};
  for (int i = 0; i < 4; i++)
    ns += (int64_t)tv[i].tv_sec * 1000000000 + (int64_t)tv[i].tv_usec * 1000;
  char path[64];
  snprintf(path, sizeof(path), "/proc/%ld/stat", (long)srv.pid);
  FILE *f = fopen(path, "r");
  if (f) {
    unsigned long ut = 0, st = 0;
    /* Fields 14 and 15, after the command in parentheses. */
    if (fscanf(f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &ut, &st) == 2)
      ns += (int64_t)(ut + st) * (1000000000 / sysconf(_SC_CLK_TCK));
    fclose(f);
  }
  return ns;
}

static double load1(void) {
  double l[1] = {0};
  return getloadavg(l, 1) == 1 ? l[0] : -1;
}

/* One measurement: items/s and CPU ns per item. */
typedef struct meas {
  double rate, cpu, load;
  double lat50, lat99; /* conveyor: one item through, light traffic, µs */
} meas;

/* ---- raw ------------------------------------------------------------------ */

typedef struct raw_arg {
  long n, batch;
  atomic_long *taken;
  unsigned char *seen;
  pthread_mutex_t *mu;
} raw_arg;

static void *raw_consumer(void *p) {
  raw_arg *a = p;
  redisContext *c = rs_connect(&srv);
  char me[32];
  snprintf(me, sizeof(me), "c%lx", (unsigned long)pthread_self());
  for (;;) {
    if (atomic_load(a->taken) >= a->n)
      break;
    redisReply *r = redisCommand(c, "XREADGROUP GROUP g %s COUNT %ld BLOCK 100 STREAMS s >",
                                 me, a->batch);
    CHECK(r != NULL);
    if (r->type != REDIS_REPLY_ARRAY) {
      freeReplyObject(r);
      continue;
    }
    redisReply *list = r->element[0]->element[1];
    size_t k = list->elements;
    if (a->batch == 1) {
      redisReply *ack = redisCommand(c, "XACK s g %s", list->element[0]->element[0]->str);
      freeReplyObject(ack);
    } else {
      const char **argv = malloc((k + 3) * sizeof(*argv));
      argv[0] = "XACK";
      argv[1] = "s";
      argv[2] = "g";
      for (size_t i = 0; i < k; i++)
        argv[3 + i] = list->element[i]->element[0]->str;
      redisReply *ack = redisCommandArgv(c, (int)(k + 3), argv, NULL);
      freeReplyObject(ack);
      free(argv);
    }
    pthread_mutex_lock(a->mu);
    for (size_t i = 0; i < k; i++) {
      redisReply *f = list->element[i]->element[1];
      long id = strtol(f->element[1]->str, NULL, 10);
      a->seen[id]++;
    }
    pthread_mutex_unlock(a->mu);
    atomic_fetch_add(a->taken, (long)k);
    freeReplyObject(r);
  }
  redisFree(c);
  return NULL;
}

static meas raw(long n, long batch) {
  redisContext *c = rs_connect(&srv);
  freeReplyObject(redisCommand(c, "DEL s"));
  freeReplyObject(redisCommand(c, "XGROUP CREATE s g 0 MKSTREAM"));
  atomic_long taken = 0;
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  unsigned char *seen = calloc((size_t)n, 1);
  raw_arg a = {n, batch, &taken, seen, &mu};
  int64_t c0 = cpu_ns();
  int64_t t0 = test_now_ns();
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    pthread_create(&th[i], NULL, raw_consumer, &a);
  for (long i = 0; i < n;) {
    long k = 0;
    for (; k < batch && i < n; k++, i++)
      redisAppendCommand(c, "XADD s * d %ld", i);
    for (long j = 0; j < k; j++) {
      void *r;
      CHECK(redisGetReply(c, &r) == REDIS_OK);
      freeReplyObject(r);
    }
  }
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  double s = (double)(test_now_ns() - t0) / 1e9;
  double cpu = (double)(cpu_ns() - c0) / (double)n;
  for (long i = 0; i < n; i++)
    CHECK_EQ(seen[i], 1);
  freeReplyObject(redisCommand(c, "DEL s"));
  redisFree(c);
  free(seen);
  return (meas){(double)n / s, cpu, load1(), 0, 0};
}

/* ---- conveyor ---------------------------------------------------------- */

static int cmp(const void *a, const void *b);

static int noop(cv_stage_ctx *ctx, void *item) { return cv_emit(ctx, item); }

static cv_pipeline *build(void) {
  cv_pipeline *p;
  /* Capacity 1024: room for several takes of 64 in flight per stage. */
  CHECK_OK(cv_pipeline_create(&p, &(cv_pipeline_options){.output_capacity = 1024}));
  CHECK_OK(cv_pipeline_add_stage(
      p, &(cv_stage_options){.name = "a", .fn = noop, .capacity = 1024}));
  CHECK_OK(cv_pipeline_add_stage(
      p, &(cv_stage_options){.name = "b", .fn = noop, .capacity = 1024}));
  return p;
}

static int worker(const char *url, const char *run) {
  cv_pipeline *p = build();
  cv_broker_options bo = {.url = url, .run = run};
  CHECK_OK(cv_pipeline_set_broker(p, &bo));
  CHECK_OK(cv_pipeline_start(p));
  int rc = cv_pipeline_wait(p, CV_FOREVER);
  cv_pipeline_destroy(p);
  return rc == CV_OK ? 0 : 1;
}

typedef struct feeder {
  cv_pipeline *p;
  long n;
} feeder;

static void *feed(void *arg) {
  feeder *f = arg;
  void *buf[64];
  for (long i = 0; i < f->n;) {
    size_t k = 0;
    while (k < 64 && i < f->n)
      buf[k++] = (void *)(intptr_t)i++;
    size_t nput;
    CHECK_OK(cv_pipeline_put_many(f->p, buf, k, &nput, CV_FOREVER));
    CHECK_EQ(nput, k);
  }
  CHECK_OK(cv_pipeline_close_input(f->p));
  return NULL;
}

static meas conveyor(const char *self, long n, int rep) {
  char run[32];
  snprintf(run, sizeof(run), "bench-%d", rep);
  cv_pipeline *p = build();
  cv_broker_options bo = {.url = srv.url, .run = run, .coordinator = true,
                          .stages = ""};
  CHECK_OK(cv_pipeline_set_broker(p, &bo));
  int64_t c0 = cpu_ns();
  CHECK_OK(cv_pipeline_start(p));
  pid_t kids[2] = {rs_spawn(self, "worker", srv.url, run, NULL),
                   rs_spawn(self, "worker", srv.url, run, NULL)};
  /* Light traffic first: one item at a time through both stages (also
   * waits for the workers to be there). */
  enum { NLAT = 200 };
  double lat[NLAT];
  for (int i = 0; i < NLAT; i++) {
    int64_t l0 = test_now_ns();
    CHECK_OK(cv_pipeline_put(p, (void *)(intptr_t)(n + i), CV_FOREVER));
    void *it;
    CHECK_OK(cv_pipeline_get(p, &it, CV_FOREVER));
    CHECK_EQ((intptr_t)it, n + i);
    lat[i] = (double)(test_now_ns() - l0) / 1e3;
  }
  qsort(lat, NLAT, sizeof(double), cmp);
  unsigned char *seen = calloc((size_t)n, 1);
  int64_t t0 = test_now_ns();
  pthread_t th;
  feeder f = {p, n};
  pthread_create(&th, NULL, feed, &f);
  void *items[64];
  long got = 0;
  for (;;) {
    size_t k;
    int rc = cv_pipeline_get_many(p, items, 64, &k, CV_FOREVER);
    if (rc == CV_ECLOSED)
      break;
    CHECK_OK(rc);
    for (size_t i = 0; i < k; i++)
      seen[(intptr_t)items[i]]++;
    got += (long)k;
  }
  double s = (double)(test_now_ns() - t0) / 1e9;
  pthread_join(th, NULL);
  CHECK_EQ(got, n);
  for (long i = 0; i < n; i++)
    CHECK_EQ(seen[i], 1);
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));
  CHECK_OK(cv_pipeline_destroy(p));
  for (int i = 0; i < 2; i++)
    CHECK_EQ(rs_wait(kids[i], 30000), 0);
  /* From start to the workers' exit, with the light-traffic items: a
   * little more than the timed part. */
  double cpu = (double)(cpu_ns() - c0) / (double)n;
  free(seen);
  return (meas){(double)n / s, cpu, load1(), lat[NLAT / 2],
                lat[NLAT * 99 / 100]};
}

/* BENCH_PROFILE=1: the server's commands per item of the last conveyor
 * run (INFO commandstats; commands inside scripts count too). */
static void profile(long n) {
  redisContext *c = rs_connect(&srv);
  redisReply *r = redisCommand(c, "INFO commandstats");
  CHECK(r && r->type != REDIS_REPLY_ERROR);
  printf("server commands per item (calls, usec):\n");
  double calls_all = 0, usec_all = 0;
  for (char *line = strtok(r->str, "\r\n"); line; line = strtok(NULL, "\r\n")) {
    char name[64];
    double calls, usec;
    if (sscanf(line, "cmdstat_%63[^:]:calls=%lf,usec=%lf", name, &calls, &usec) != 3)
      continue;
    printf("  %-14s %8.3f %8.3f\n", name, calls / (double)n, usec / (double)n);
    if (strcmp(name, "evalsha") != 0) /* its time includes its commands' */
      calls_all += calls;
    usec_all += strcmp(name, "evalsha") == 0 ? usec : 0;
  }
  printf("  (scripts' usec per item %.3f)\n", usec_all / (double)n);
  freeReplyObject(r);
  redisFree(c);
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The medians of a row's repetitions; min and max items/s. */
typedef struct row {
  double rate, lo, hi, cpu, load;
} row;

static row summarize(const meas *m, int reps) {
  double r[15], c[15], l[15];
  for (int i = 0; i < reps; i++) {
    r[i] = m[i].rate;
    c[i] = m[i].cpu;
    l[i] = m[i].load;
  }
  qsort(r, (size_t)reps, sizeof(double), cmp);
  qsort(c, (size_t)reps, sizeof(double), cmp);
  qsort(l, (size_t)reps, sizeof(double), cmp);
  return (row){r[reps / 2], r[0], r[reps - 1], c[reps / 2], l[reps / 2]};
}

static void print_row(const char *name, row r, long n) {
  printf("%-44s %10.0f  [%.0f..%.0f]  %8.0f  %5.2f  (%ld items)\n", name,
         r.rate, r.lo, r.hi, r.cpu, r.load, n);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "worker") == 0)
    return worker(argv[2], argv[3]);
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
  int reps = (int)test_env_long("BENCH_REPS", 3);
  if (reps < 1 || reps > 15)
    reps = 3;
  rs_start(&srv, NULL, false);
  meas m1[15], m64[15], mc[15];
  long n1 = n / 10 > 1000 ? n / 10 : n; /* one at a time is slow */
  for (int i = 0; i < reps; i++) {
    m1[i] = raw(n1, 1);
    m64[i] = raw(n, 64);
    if (test_env_long("BENCH_PROFILE", 0)) {
      redisContext *c = rs_connect(&srv);
      freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
      redisFree(c);
    }
    mc[i] = conveyor(argv[0], n, i);
  }
  if (test_env_long("BENCH_PROFILE", 0))
    profile(n);
  row r1 = summarize(m1, reps), r64 = summarize(m64, reps),
      rc = summarize(mc, reps);
  printf("%-44s %10s  %s  %8s  %5s\n", "distributed (redis, 2 worker processes)",
         "items/s", "median [min..max]", "CPU ns/item", "load");
  print_row("raw XADD+XREADGROUP+XACK, one at a time", r1, n1);
  print_row("raw XADD+XREADGROUP+XACK, pipelined 64", r64, n);
  print_row("conveyor 2-stage no-op, auto batch, cap 1024", rc, n);
  double half = rc.rate / r64.rate, ten = rc.rate / r1.rate;
  printf("conveyor / raw-64 = %.2f (target >= 0.5: %s); conveyor / raw-1 = %.1f "
         "(target >= 10: %s)\n",
         half, half >= 0.5 ? "MET" : "MISSED", ten, ten >= 10 ? "MET" : "MISSED");
  printf("CPU per item: conveyor / raw-64 = %.2f, conveyor / raw-1 = %.2f "
         "(%d repetitions, interleaved)\n",
         rc.cpu / r64.cpu, rc.cpu / r1.cpu, reps);
  double l50[15], l99[15];
  for (int i = 0; i < reps; i++) {
    l50[i] = mc[i].lat50;
    l99[i] = mc[i].lat99;
  }
  qsort(l50, (size_t)reps, sizeof(double), cmp);
  qsort(l99, (size_t)reps, sizeof(double), cmp);
  printf("conveyor, one item at a time through both stages: median %.0f us, "
         "p99 %.0f us (medians over the repetitions)\n",
         l50[reps / 2], l99[reps / 2]);
  rs_stop(&srv);
  return 0;
}
