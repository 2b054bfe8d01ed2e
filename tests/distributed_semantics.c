/* distributed_semantics: a distributed run's guarantees, one scenario per
 * ctest entry (argv[1]), each on a private redis-server with worker
 * processes (this binary, run as `worker <scenario> <url> <run> <dir>`):
 *   fairness   two processes share 10,000 1 ms items, each >= 1/4
 *   kill9      the process holding an item is SIGKILLed: another finishes
 *              it within lease + 2 s
 *   stop       the holder is SIGSTOPped past its lease, then resumed: its
 *              late commit is refused, the item is downstream once
 *   long_item  an item running 3 leases is never taken from its live owner
 *   poison     an item that kills every process taking it is dead-lettered
 *              after 3 deliveries and counted failed; the run finishes
 *   capacity   a full stage: CV_EFULL, CV_ETIMEDOUT, never more than the
 *              capacity in the stream, all puts complete later
 *   close      idle workers send few commands; after the last item every
 *              worker process exits by itself
 *   cancel     cancelling wakes remote workers blocked in a read within
 *              200 ms; the queued items are counted cancelled
 *   restart    the server restarts mid-run (AOF): nothing is lost,
 *              duplicates at most the in-flight count
 *   noserver   no server: start fails naming host:port; a server that goes
 *              away fails the run with a clear error
 *   password   the password never shows in any output
 *   codec      string items through a codec; an output over max_item_bytes
 *              fails its input with a message; queue depth is XLEN
 * and with batches packed into entries (fast items fed 64 at a time):
 *   batch_kill9    the process that holds a packed entry dies in the middle
 *                  of it: the entry is split, every item comes out once
 *   batch_poison   an item that kills its workers, in a packed entry: it is
 *                  dead-lettered alone, its neighbours all come out
 *   batch_capacity bulk puts into a stage of capacity 8: never more than 8
 *                  items in the stream, CV_EFULL puts exactly the room
 *   batch_stop     the process holding a packed entry is SIGSTOPped past
 *                  its lease: the entry is split and done elsewhere, the
 *                  late commit of the whole batch is refused
 *   batch_restart  the server restarts (AOF) while packed entries move:
 *                  nothing lost, duplicates at most the items in flight
 * Every scenario ends with the ids delivered exactly once (or as stated),
 * a balanced summary and no key left on the server. */
#include <pthread.h>
#include <stdatomic.h>

#include "pipeline_util.h"
#include "redis_util.h"

#define LEASE_MS 1000
#define X 7 /* the item the scenarios single out */
#define XB 200 /* the same in the batch scenarios: in a packed entry */
#define BATCH_CAP 4096 /* their capacities, above their item counts */

static const char *scenario;
static const char *dir;
static atomic_long processed;

/* ---- stage functions, shared by coordinator and workers ----------------- */

static void path_of(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", dir, name);
}

/* Creates dir/name exclusively, writing our pid: true for the first. */
static bool claim_file(const char *name) {
  char p[256];
  path_of(p, sizeof(p), name);
  int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0)
    return false;
  char b[32];
  int n = snprintf(b, sizeof(b), "%ld\n", (long)getpid());
  CHECK(write(fd, b, (size_t)n) == n);
  close(fd);
  return true;
}

static void append_file(const char *name, long v) {
  char p[256];
  path_of(p, sizeof(p), name);
  FILE *f = fopen(p, "a");
  CHECK(f != NULL);
  fprintf(f, "%ld\n", v);
  fclose(f);
}

static long read_long(const char *name) {
  char p[256];
  path_of(p, sizeof(p), name);
  FILE *f = fopen(p, "r");
  if (!f)
    return -1;
  long v = -1;
  if (fscanf(f, "%ld", &v) != 1)
    v = -1;
  fclose(f);
  return v;
}

static long count_lines(const char *name) {
  char p[256];
  path_of(p, sizeof(p), name);
  FILE *f = fopen(p, "r");
  if (!f)
    return 0;
  long n = 0;
  int c;
  while ((c = fgetc(f)) != EOF)
    n += c == '\n';
  fclose(f);
  return n;
}

static bool is(const char *s) { return strcmp(scenario, s) == 0; }

static bool batched(void) { return strncmp(scenario, "batch_", 6) == 0; }

/* ---- the codec scenario: items are strings -------------------------- */

static int str_encode(const void *item, void *arg, void **buf, size_t *len) {
  (void)arg;
  *len = strlen(item);
  *buf = malloc(*len ? *len : 1);
  if (!*buf)
    return CV_ENOMEM;
  memcpy(*buf, item, *len);
  return CV_OK;
}

static int str_decode(const void *buf, size_t len, void *arg, void **item) {
  (void)arg;
  char *s = malloc(len + 1);
  if (!s)
    return CV_ENOMEM;
  memcpy(s, buf, len);
  s[len] = '\0';
  *item = s;
  return CV_OK;
}

static void str_free(void *item, void *arg) {
  (void)arg;
  free(item);
}

#define NSPLIT 300 /* more than the output's capacity (256): put in pieces */

/* "item-N" becomes "ITEM-N"; "big" becomes 2000 bytes (over the limit);
 * "split" becomes NSPLIT outputs "SPLIT-0".. . */
static int shout(cv_stage_ctx *ctx, void *item) {
  const char *in = item;
  if (strcmp(in, "split") == 0) {
    for (int i = 0; i < NSPLIT; i++) {
      char *out = malloc(16);
      CHECK(out != NULL);
      snprintf(out, 16, "SPLIT-%d", i);
      int rc = cv_emit(ctx, out);
      if (rc != CV_OK)
        return rc;
    }
    return CV_OK;
  }
  size_t n = strcmp(in, "big") == 0 ? 2000 : strlen(in);
  char *out = malloc(n + 1);
  CHECK(out != NULL);
  for (size_t i = 0; i < n; i++)
    out[i] = n == 2000 ? 'x' : (char)(in[i] >= 'a' && in[i] <= 'z' ? in[i] - 32 : in[i]);
  out[n] = '\0';
  return cv_emit(ctx, out);
}

static int work(cv_stage_ctx *ctx, void *item) {
  long id = (long)PI(item);
  if (id == X && is("kill9") && claim_file("holder"))
    test_sleep_ms(600000); /* until killed */
  if (id == X && is("stop") && claim_file("holder"))
    test_sleep_ms(1500); /* stopped meanwhile; commits late */
  if (id == X && is("long_item")) {
    append_file("starts", (long)getpid());
    test_sleep_ms(3 * LEASE_MS);
  }
  if (id == X && is("poison"))
    kill(getpid(), SIGKILL);
  if (id == XB && is("batch_kill9") && claim_file("holder"))
    kill(getpid(), SIGKILL); /* its entry's earlier items are done */
  if (id == XB && is("batch_poison"))
    kill(getpid(), SIGKILL);
  if (id == XB && is("batch_stop") && claim_file("holder"))
    test_sleep_ms(1500); /* stopped meanwhile; commits its batch late */
  if (is("cancel") && strcmp(cv_stage_name(ctx), "a") == 0) {
    claim_file("holder");
    while (!cv_stage_cancelled(ctx))
      test_sleep_ms(1);
    return CV_ECANCELED;
  }
  if (!is("close") && !is("capacity") && !is("password") && !batched())
    test_sleep_ms(1);
  atomic_fetch_add(&processed, 1);
  return cv_emit(ctx, item);
}

/* The scenario's pipeline, the same in every process. */
static cv_pipeline *build(void) {
  cv_pipeline *p;
  if (is("codec")) {
    CHECK_OK(cv_pipeline_create(
        &p, &(cv_pipeline_options){.name = scenario, .item_destroy = str_free,
                                   .output_capacity = 256}));
    CHECK_OK(cv_pipeline_add_stage(
        p, &(cv_stage_options){.name = "a", .fn = shout, .capacity = 128}));
    return p;
  }
  if (batched()) {
    /* Batches of 64, whatever a sanitizer does to the cost per item; room
     * for every item (so that XB's entry is packed whole), or for one
     * entry of 8 at most. */
    size_t cap = is("batch_capacity") ? 8 : BATCH_CAP;
    CHECK_OK(cv_pipeline_create(
        &p, &(cv_pipeline_options){.name = scenario, .output_capacity = cap}));
    CHECK_OK(cv_pipeline_add_stage(
        p, &(cv_stage_options){.name = "a", .fn = work,
                               .workers = is("batch_kill9") ? 2 : 1,
                               .capacity = cap, .batch = 64}));
    return p;
  }
  CHECK_OK(cv_pipeline_create(&p, &(cv_pipeline_options){.name = scenario}));
  bool two = is("capacity") || is("close") || is("cancel");
  size_t cap = is("capacity") ? 8 : 0;
  CHECK_OK(cv_pipeline_add_stage(
      p, &(cv_stage_options){.name = "a", .fn = work,
                             /* poison: one thread per process, so that
                              * nothing else dies with the poisoned item */
                             .workers = is("poison") ? 1 : 2,
                             .capacity = cap}));
  if (two)
    CHECK_OK(cv_pipeline_add_stage(
        p, &(cv_stage_options){.name = "b", .fn = work, .workers = 1,
                               .capacity = cap}));
  return p;
}

static cv_broker_options broker(const char *url, const char *run, bool coord,
                                const char *stages) {
  return (cv_broker_options){.url = url,
                             .run = run,
                             .coordinator = coord,
                             .stages = stages,
                             .lease_ns = CV_MSEC(LEASE_MS),
                             .timeout_ns = CV_SEC(10),
                             .max_deliveries = 3,
                             .codec = is("codec")
                                          ? (cv_codec){str_encode, str_decode,
                                                       NULL}
                                          : (cv_codec){0},
                             .max_item_bytes = is("codec") ? 1024 : 0};
}

/* ---- worker processes ---------------------------------------------------- */

static int worker_main(const char *url, const char *run) {
  cv_pipeline *p = build();
  const char *stages = is("capacity") ? "b" : NULL;
  cv_broker_options bo = broker(url, run, false, stages);
  CHECK_OK(cv_pipeline_set_broker(p, &bo));
  CHECK_OK(cv_pipeline_start(p));
  append_file("started", (long)getpid());
  int rc = cv_pipeline_wait(p, CV_FOREVER);
  append_file("woke", (long)(test_now_ns() / 1000000));
  char name[32];
  snprintf(name, sizeof(name), "count.%ld", (long)getpid());
  append_file(name, atomic_load(&processed));
  CHECK_OK(cv_pipeline_destroy(p));
  if (is("cancel"))
    return rc == CV_ECANCELED ? 0 : 1;
  return rc == CV_OK ? 0 : 1;
}

/* ---- the coordinator's side ---------------------------------------------- */

static rs_server srv;
static const char *self;
static char run_name[64];

static pid_t spawn_worker(void) {
  return rs_spawn(self, "worker", scenario, srv.url, run_name, dir, NULL);
}

typedef struct feeder {
  cv_pipeline *p;
  long from, n;
  bool keep_open;
} feeder;

static void *feed(void *arg) {
  feeder *f = arg;
  for (long i = f->from; i < f->n; i++)
    CHECK_OK(cv_pipeline_put(f->p, IP(i), CV_FOREVER));
  if (!f->keep_open)
    CHECK_OK(cv_pipeline_close_input(f->p));
  return NULL;
}

static long meta(const char *field);

/* Puts f->from .. f->n 64 at a time; after the first 64, waits until stage
 * a's workers said how many items they take at once, so that the rest go
 * in packed entries. */
static void *feed_many(void *arg) {
  feeder *f = arg;
  void *buf[64];
  for (long i = f->from; i < f->n;) {
    size_t k = 0;
    while (k < 64 && i < f->n)
      buf[k++] = IP(i++);
    size_t nput;
    CHECK_OK(cv_pipeline_put_many(f->p, buf, k, &nput, CV_FOREVER));
    CHECK_EQ(nput, k);
    for (int t = 0; i == f->from + 64 && t < 1000 && meta("pk:0") <= 1; t++)
      test_sleep_ms(10);
  }
  if (!f->keep_open)
    CHECK_OK(cv_pipeline_close_input(f->p));
  return NULL;
}

static cv_pipeline *coordinator(const char *stages) {
  cv_pipeline *p = build();
  cv_broker_options bo = broker(srv.url, run_name, true, stages);
  CHECK_OK(cv_pipeline_set_broker(p, &bo));
  CHECK_OK(cv_pipeline_start(p));
  return p;
}

/* Reads outputs until closed; per id counts in seen[]; calls tick (may be
 * NULL) between reads. */
typedef void (*tick_fn)(cv_pipeline *p, long got);
static long drain(cv_pipeline *p, unsigned char *seen, long n, tick_fn tick,
                  int64_t *t_x) {
  long got = 0;
  for (;;) {
    void *it;
    int rc = cv_pipeline_get(p, &it, CV_MSEC(100));
    if (rc == CV_ETIMEDOUT) {
      if (tick)
        tick(p, got);
      continue;
    }
    if (rc == CV_ECLOSED)
      break;
    CHECK_OK(rc);
    long id = (long)PI(it);
    CHECK(id >= 0 && id < n);
    if (id == X && t_x && *t_x == 0)
      *t_x = test_now_ns();
    if (seen[id] < 255)
      seen[id]++;
    got++;
    if (tick)
      tick(p, got);
  }
  return got;
}

static void check_once(const unsigned char *seen, long n, long except) {
  for (long i = 0; i < n; i++) {
    if (i == except)
      continue;
    if (seen[i] != 1) {
      fprintf(stderr, "id %ld delivered %d times\n", i, seen[i]);
      exit(1);
    }
  }
}

static void finish(cv_pipeline *p, int want) {
  CHECK_RC(cv_pipeline_wait(p, CV_SEC(120)), want);
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK(s.finished);
  CHECK(cv_pipeline_summary_balanced(&s));
}

static long meta(const char *field) {
  return rs_int(&srv, "HGET cv:{%s}:m %s", run_name, field);
}

/* A worker process failed: show what it said. */
static void show_worker(pid_t pid) {
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "cat '%s/worker-output.%ld' >&2", dir, (long)pid);
  if (system(cmd) != 0)
    fprintf(stderr, "(no output from worker %ld)\n", (long)pid);
}

static void check_worker(pid_t pid, long ms, int want) {
  int rc = rs_wait(pid, ms);
  if (rc != want)
    show_worker(pid);
  CHECK_EQ(rc, want);
}

/* Every slot is back in its free list (none held by a dead process, none
 * lost): LLEN r:j = capacity, with every stream empty. */
static void check_slots(size_t nboundaries, long cap) {
  for (size_t j = 0; j < nboundaries; j++) {
    CHECK_EQ(rs_int(&srv, "XLEN cv:{%s}:s:%d", run_name, (int)j), 0);
    CHECK_EQ(rs_int(&srv, "LLEN cv:{%s}:r:%d", run_name, (int)j), cap);
  }
}

static void end_scenario(cv_pipeline *p, pid_t *kids, int nkids) {
  CHECK_OK(cv_pipeline_destroy(p));
  for (int i = 0; i < nkids; i++)
    if (kids[i] > 0)
      check_worker(kids[i], 30000, 0);
  rs_check_empty(&srv, 3 * LEASE_MS);
}

/* The pid of the process that claimed the singled-out item (up to 15 s). */
static long wait_holder(void) {
  long holder = -1;
  for (int i = 0; i < 3000 && holder <= 0; i++) {
    test_sleep_ms(5);
    holder = read_long("holder");
  }
  CHECK(holder > 0);
  return holder;
}

static long scaled(long plain, long min) { return pl_size("DIST_ITEMS", plain, min); }

/* Items of a batch scenario: fewer than the capacities. */
static long batch_items(void) {
  long n = scaled(1280, 640);
  return n < BATCH_CAP - 64 ? n : BATCH_CAP - 64;
}

/* ---- scenarios ------------------------------------------------------------ */

/* Stage a's busy time as the coordinator (which runs no worker) sees it
 * halfway through: the worker processes' published times. */
static int64_t busy_half = -1, t_half, t_fair;
static long fair_n;

static void busy_tick(cv_pipeline *p, long got) {
  if (busy_half < 0 && got >= fair_n / 2) {
    t_half = test_now_ns() - t_fair;
    cv_stage_stats st;
    CHECK_OK(cv_pipeline_stage_stats(p, 0, &st));
    busy_half = st.busy_ns;
    printf("halfway: stage a busy %.0f ms over %u workers\n",
           (double)st.busy_ns / 1e6, st.workers);
  }
}

static void fairness(void) {
  long n = fair_n = scaled(10000, 1000);
  t_fair = test_now_ns();
  cv_pipeline *p = coordinator("");
  pid_t kids[2] = {spawn_worker(), spawn_worker()};
  unsigned char *seen = calloc((size_t)n, 1);
  pthread_t th;
  feeder f = {p, 0, n, false};
  CHECK(pthread_create(&th, NULL, feed, &f) == 0);
  CHECK_EQ(drain(p, seen, n, busy_tick, NULL), n);
  pthread_join(th, NULL);
  check_once(seen, n, -1);
  finish(p, CV_OK);
  cv_pipeline_summary s;
  cv_pipeline_summary_get(p, &s);
  CHECK_EQ(s.fed, n);
  CHECK_EQ(s.delivered, n);
  /* Whole-run statistics: 2 processes x 2 workers, each item 1 ms in the
   * stage function, all of it in the worker processes. */
  cv_stage_stats st;
  CHECK_OK(cv_pipeline_stage_stats(p, 0, &st));
  cv_pipeline_stats_print(p, stdout);
  CHECK_EQ(st.workers, 4);
  CHECK(st.busy_ns >= n * CV_MSEC(1));
  CHECK(st.starved_ns > 0);
  /* Halfway, if the run was long enough for heartbeats to publish. */
  CHECK(busy_half < st.busy_ns);
  CHECK(t_half < CV_MSEC(LEASE_MS) || busy_half > 0);
  char json[4096];
  CHECK_OK(cv_pipeline_stats_json(p, json, sizeof(json), NULL));
  CHECK(strstr(json, "\"workers\":4,") != NULL);
  end_scenario(p, kids, 2);
  for (int i = 0; i < 2; i++) {
    char name[32];
    snprintf(name, sizeof(name), "count.%ld", (long)kids[i]);
    long c = read_long(name);
    printf("worker %d processed %ld of %ld\n", i, c, n);
    CHECK(c >= n / 4);
  }
  free(seen);
}

static void kill9(void) {
  long n = scaled(400, 100);
  cv_pipeline *p = coordinator("");
  pid_t kids[3] = {spawn_worker(), spawn_worker(), 0};
  unsigned char *seen = calloc((size_t)n, 1);
  pthread_t th;
  feeder f = {p, 0, n, false};
  CHECK(pthread_create(&th, NULL, feed, &f) == 0);
  long holder = wait_holder();
  test_sleep_ms(200); /* let it heartbeat once more: a fresh lease */
  int64_t t_kill = test_now_ns();
  CHECK(kill((pid_t)holder, SIGKILL) == 0);
  for (int i = 0; i < 2; i++)
    if (kids[i] == holder) {
      check_worker(kids[i], 5000, 128 + SIGKILL);
      kids[i] = 0;
    }
  int64_t t_x = 0;
  CHECK_EQ(drain(p, seen, n, NULL, &t_x), n);
  pthread_join(th, NULL);
  check_once(seen, n, -1);
  double late = (double)(t_x - t_kill) / 1e6;
  printf("item %d finished %.0f ms after the kill (lease %d ms)\n", X, late,
         LEASE_MS);
  CHECK(t_x > t_kill && late <= LEASE_MS + 2000);
  finish(p, CV_OK);
  check_slots(2, CV_PIPELINE_DEFAULT_CAPACITY); /* input, output */
  end_scenario(p, kids, 2);
  free(seen);
}

/* Also batch_stop (the item in a packed entry). */
static void stop(void) {
  bool b = batched();
  long n = b ? batch_items() : scaled(400, 100);
  cv_pipeline *p = coordinator("");
  pid_t kids[2] = {spawn_worker(), spawn_worker()};
  unsigned char *seen = calloc((size_t)n, 1);
  pthread_t th;
  feeder f = {p, 0, n, true};
  CHECK(pthread_create(&th, NULL, b ? feed_many : feed, &f) == 0);
  long holder = wait_holder();
  CHECK(kill((pid_t)holder, SIGSTOP) == 0);
  /* Everything arrives, item X from the other process. */
  long got = 0;
  while (got < n) {
    void *it;
    CHECK_OK(cv_pipeline_get(p, &it, CV_SEC(60)));
    seen[PI(it)]++;
    got++;
  }
  pthread_join(th, NULL);
  CHECK(kill((pid_t)holder, SIGCONT) == 0);
  /* Its late commit is refused: counted lost, nothing written. */
  long lost = 0;
  for (int i = 0; i < 1000 && lost < 1; i++) { /* up to 10 s */
    test_sleep_ms(10);
    lost = meta("lost:0");
  }
  /* X, and whatever else the stopped process held. */
  printf("late commits refused: %ld\n", lost);
  CHECK(lost >= 1);
  CHECK_OK(cv_pipeline_close_input(p));
  CHECK_EQ(drain(p, seen, n, NULL, NULL), 0);
  check_once(seen, n, -1);
  CHECK(!b || meta("split:0") >= 1);
  finish(p, CV_OK);
  check_slots(2, b ? BATCH_CAP : CV_PIPELINE_DEFAULT_CAPACITY); /* input, output */
  end_scenario(p, kids, 2);
  free(seen);
}

static void long_item(void) {
  long n = scaled(400, 100);
  cv_pipeline *p = coordinator("");
  pid_t kids[2] = {spawn_worker(), spawn_worker()};
  unsigned char *seen = calloc((size_t)n, 1);
  pthread_t th;
  feeder f = {p, 0, n, false};
  CHECK(pthread_create(&th, NULL, feed, &f) == 0);
  CHECK_EQ(drain(p, seen, n, NULL, NULL), n);
  pthread_join(th, NULL);
  check_once(seen, n, -1);
  CHECK_EQ(count_lines("starts"), 1);
  CHECK_EQ(meta("lost:0"), 0);
  finish(p, CV_OK);
  end_scenario(p, kids, 2);
  free(seen);
}

static pid_t pkids[16];
static int npkids;

static void respawn(cv_pipeline *p, long got) {
  (void)p;
  (void)got;
  for (int i = 0; i < npkids; i++) {
    int st;
    if (pkids[i] > 0 && waitpid(pkids[i], &st, WNOHANG) == pkids[i]) {
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        /* Done: its stage drained while we read the last outputs. */
        pkids[i] = 0;
        continue;
      }
      if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
        show_worker(pkids[i]);
      CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
      pkids[i] = 0;
      CHECK(npkids < 16);
      pkids[npkids++] = spawn_worker();
    }
  }
}

/* Also batch_poison: the item is in a packed entry (once in it, then 3
 * times alone: one death more). */
static void poison(void) {
  bool b = batched();
  long n = b ? batch_items() : scaled(200, 50), x = b ? XB : X;
  cv_pipeline *p = coordinator("");
  pkids[npkids++] = spawn_worker();
  pkids[npkids++] = spawn_worker();
  unsigned char *seen = calloc((size_t)n, 1);
  pthread_t th;
  feeder f = {p, 0, n, false};
  CHECK(pthread_create(&th, NULL, b ? feed_many : feed, &f) == 0);
  CHECK_EQ(drain(p, seen, n, respawn, NULL), n - 1);
  pthread_join(th, NULL);
  check_once(seen, n, x);
  CHECK_EQ(seen[x], 0);
  CHECK(!b || meta("split:0") >= 1);
  finish(p, CV_OK);
  CHECK_EQ(rs_int(&srv, "XLEN cv:{%s}:dlq", run_name), 1);
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK_EQ(s.failed, 1);
  CHECK_EQ(s.delivered, n - 1);
  CHECK(s.error_message && strstr(s.error_message, "taken 3 times"));
  printf("dead letter: stage %s: %s (%d deaths, %d processes)\n",
         s.error_stage, s.error_message, npkids - 2, npkids);
  CHECK_EQ(npkids, 2 + (b ? 4 : 3));
  check_slots(2, b ? BATCH_CAP : CV_PIPELINE_DEFAULT_CAPACITY); /* input, output */
  end_scenario(p, pkids, npkids);
  free(seen);
}

static void capacity(void) {
  long n = scaled(300, 100);
  cv_pipeline *p = coordinator("a"); /* "b" runs elsewhere, later */
  long fed = 0;
  int rc;
  /* Fill until full and settled: stage a's worker moves items on to b
   * (until b is full too) at its own pace. */
  for (;;) {
    long before = fed;
    while ((rc = cv_pipeline_put(p, IP(fed), CV_NOWAIT)) == CV_OK)
      fed++;
    CHECK_RC(rc, CV_EFULL);
    if (fed == before && fed > 0)
      break;
    test_sleep_ms(300);
  }
  printf("%ld puts before CV_EFULL\n", fed);
  CHECK(fed >= 8 && fed <= 8 + 8 + 2);
  int64_t t0 = test_now_ns();
  CHECK_RC(cv_pipeline_put(p, IP(fed), CV_MSEC(200)), CV_ETIMEDOUT);
  CHECK(test_now_ns() - t0 >= CV_MSEC(190));
  CHECK(rs_int(&srv, "XLEN cv:{%s}:s:0", run_name) <= 8);
  CHECK(rs_int(&srv, "XLEN cv:{%s}:s:1", run_name) <= 8);
  pid_t kid = spawn_worker();
  unsigned char *seen = calloc((size_t)n, 1);
  pthread_t th;
  feeder f = {p, fed, n, false};
  CHECK(pthread_create(&th, NULL, feed, &f) == 0);
  long max0 = 0, max1 = 0, got = 0;
  for (;;) {
    void *it;
    rc = cv_pipeline_get(p, &it, CV_FOREVER);
    if (rc == CV_ECLOSED)
      break;
    CHECK_OK(rc);
    seen[PI(it)]++;
    if (++got % 16 == 0) {
      long a = rs_int(&srv, "XLEN cv:{%s}:s:0", run_name);
      long b = rs_int(&srv, "XLEN cv:{%s}:s:1", run_name);
      max0 = a > max0 ? a : max0;
      max1 = b > max1 ? b : max1;
    }
  }
  pthread_join(th, NULL);
  CHECK_EQ(got, n);
  check_once(seen, n, -1);
  CHECK(max0 <= 8 && max1 <= 8);
  /* In items, too (an entry may hold several). */
  CHECK(meta("hw:0") <= 8 && meta("hw:1") <= 8);
  finish(p, CV_OK);
  cv_stage_stats st;
  CHECK_OK(cv_pipeline_stage_stats(p, 0, &st));
  printf("stage a blocked %.0f ms; high water %zu / %zu\n",
         (double)st.blocked_ns / 1e6, st.queue_high_water, st.queue_capacity);
  CHECK(st.blocked_ns > 0);
  CHECK(st.queue_high_water <= 8);
  end_scenario(p, &kid, 1);
  free(seen);
}

static void batch_kill9(void) {
  long n = batch_items();
  cv_pipeline *p = coordinator("");
  pid_t kids[2] = {spawn_worker(), spawn_worker()};
  unsigned char *seen = calloc((size_t)n, 1);
  pthread_t th;
  feeder f = {p, 0, n, false};
  CHECK(pthread_create(&th, NULL, feed_many, &f) == 0);
  long holder = wait_holder();
  int64_t t_kill = test_now_ns();
  CHECK_EQ(drain(p, seen, n, NULL, NULL), n);
  pthread_join(th, NULL);
  check_once(seen, n, -1);
  printf("run over %.0f ms after the kill (lease %d ms)\n",
         (double)(test_now_ns() - t_kill) / 1e6, LEASE_MS);
  /* The dead process's entry held more than one item: it was split. */
  long pk = meta("pk:0"), split = meta("split:0");
  printf("entries of up to %ld items; packed entries split: %ld\n", pk,
         split);
  CHECK(pk > 1);
  CHECK(split >= 1);
  finish(p, CV_OK);
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK_EQ(s.fed, n);
  CHECK_EQ(s.delivered, n);
  check_slots(2, BATCH_CAP);
  for (int i = 0; i < 2; i++)
    if (kids[i] == holder) {
      check_worker(kids[i], 5000, 128 + SIGKILL);
      kids[i] = 0;
    }
  end_scenario(p, kids, 2);
  free(seen);
}


static void batch_capacity(void) {
  long n = scaled(2000, 640);
  cv_pipeline *p = coordinator("");
  /* No worker yet: a bulk put without waiting takes exactly the room. */
  void *buf[20];
  for (long i = 0; i < 20; i++)
    buf[i] = IP(i);
  size_t nput = 0;
  CHECK_RC(cv_pipeline_put_many(p, buf, 20, &nput, CV_NOWAIT), CV_EFULL);
  CHECK_EQ(nput, 8);
  CHECK_EQ(meta("q:0"), 8);
  size_t more = 0;
  CHECK_RC(cv_pipeline_put_many(p, buf + 8, 12, &more, CV_MSEC(100)),
           CV_ETIMEDOUT);
  CHECK_EQ(more, 0);
  pid_t kid = spawn_worker();
  unsigned char *seen = calloc((size_t)n, 1);
  pthread_t th;
  feeder f = {p, 8, n, false};
  CHECK(pthread_create(&th, NULL, feed_many, &f) == 0);
  long maxq0 = 0, maxq1 = 0, maxx = 0, got = 0;
  for (;;) {
    void *it;
    int rc = cv_pipeline_get(p, &it, CV_FOREVER);
    if (rc == CV_ECLOSED)
      break;
    CHECK_OK(rc);
    seen[PI(it)]++;
    if (++got % 8 == 0) {
      long q0 = meta("q:0"), q1 = meta("q:1");
      long x = rs_int(&srv, "XLEN cv:{%s}:s:0", run_name);
      maxq0 = q0 > maxq0 ? q0 : maxq0;
      maxq1 = q1 > maxq1 ? q1 : maxq1;
      maxx = x > maxx ? x : maxx;
    }
  }
  pthread_join(th, NULL);
  CHECK_EQ(got, n);
  check_once(seen, n, -1);
  long pk = meta("pk:0");
  printf("items in the streams at most %ld and %ld, entries %ld; stage a "
         "takes %ld at once\n", maxq0, maxq1, maxx, pk);
  CHECK(maxq0 <= 8 && maxq1 <= 8 && maxx <= 8);
  CHECK(pk > 1);
  finish(p, CV_OK);
  cv_stage_stats st;
  CHECK_OK(cv_pipeline_stage_stats(p, 0, &st));
  CHECK_EQ(st.queue_high_water, 8); /* the first bulk put filled it */
  check_slots(2, 8);
  end_scenario(p, &kid, 1);
  free(seen);
}

/* Commands the processes send over `ms` (MONITOR shows each, and the calls
 * scripts make inside marked "lua", which cost no round trip). */
static long monitored_commands(long ms) {
  redisContext *c = rs_connect(&srv);
  CHECK(c != NULL);
  redisReply *r = redisCommand(c, "MONITOR");
  CHECK(r != NULL);
  freeReplyObject(r);
  redisSetTimeout(c, (struct timeval){0, 50000});
  long n = 0;
  int64_t end = test_now_ns() + CV_MSEC(ms);
  while (test_now_ns() < end) {
    void *rep = NULL;
    if (redisGetReply(c, &rep) != REDIS_OK) {
      if (c->err == REDIS_ERR_IO || c->err == REDIS_ERR_EOF) {
        /* The 50 ms read timeout: nothing said meanwhile. */
        redisFree(c);
        c = rs_connect(&srv);
        CHECK(c != NULL);
        r = redisCommand(c, "MONITOR");
        freeReplyObject(r);
        redisSetTimeout(c, (struct timeval){0, 50000});
      }
      continue;
    }
    r = rep;
    if (r->type == REDIS_REPLY_STATUS && !strstr(r->str, " lua] "))
      n++;
    freeReplyObject(r);
  }
  redisFree(c);
  return n;
}

static void close_drain(void) {
  long n = scaled(500, 100);
  cv_pipeline *p = coordinator("");
  pid_t kids[2] = {spawn_worker(), spawn_worker()};
  /* They start (slowly under a sanitizer) and settle. */
  for (int i = 0; i < 3000 && count_lines("started") < 2; i++)
    test_sleep_ms(10);
  CHECK_EQ(count_lines("started"), 2);
  test_sleep_ms(LEASE_MS);
  /* 2 processes x 3 worker threads (a: 2, b: 1) over 2 leases; the
   * coordinator's and the heartbeats' commands count against them too. */
  double per = (double)monitored_commands(2 * LEASE_MS) / (6 * 2);
  printf("idle: %.1f commands per worker thread per lease\n", per);
  CHECK(per <= 8); /* about 5 by design; busy polling would be hundreds */
  unsigned char *seen = calloc((size_t)n, 1);
  pthread_t th;
  feeder f = {p, 0, n, false};
  CHECK(pthread_create(&th, NULL, feed, &f) == 0);
  CHECK_EQ(drain(p, seen, n, NULL, NULL), n);
  int64_t t_last = test_now_ns();
  pthread_join(th, NULL);
  check_once(seen, n, -1);
  for (int i = 0; i < 2; i++)
    check_worker(kids[i], 5000, 0);
  double exit_ms = (double)(test_now_ns() - t_last) / 1e6;
  printf("both worker processes exited %.0f ms after the last item\n",
         exit_ms);
  finish(p, CV_OK);
  kids[0] = kids[1] = 0;
  end_scenario(p, kids, 2);
  free(seen);
}

static void cancel(void) {
  cv_pipeline *p = coordinator("");
  pid_t kid = spawn_worker();
  for (long i = 0; i < 10; i++)
    CHECK_OK(cv_pipeline_put(p, IP(i), CV_FOREVER));
  for (int i = 0; i < 3000 && read_long("holder") <= 0; i++)
    test_sleep_ms(5);
  CHECK(read_long("holder") > 0);
  test_sleep_ms(300); /* stage b's worker is blocked in its read */
  int64_t t0 = test_now_ns();
  CHECK_OK(cv_pipeline_cancel(p));
  check_worker(kid, 10000, 0);
  long woke_ms = read_long("woke");
  double d = (double)woke_ms - (double)(t0 / 1000000);
  printf("remote workers woke %.0f ms after the cancel\n", d);
  CHECK(d <= 200);
  finish(p, CV_ECANCELED);
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK_EQ(s.fed, 10);
  CHECK_EQ(s.cancelled, 10);
  CHECK_EQ(s.pending, 0);
  kid = 0;
  end_scenario(p, &kid, 1);
}

static void restart_tick(cv_pipeline *p, long got) {
  (void)p;
  static bool done;
  if (!done && got >= 300) {
    done = true;
    rs_kill(&srv, SIGTERM);
    test_sleep_ms(300);
    for (int i = 0; i < 20 && srv.pid <= 0; i++) {
      rs_launch(&srv); /* the port may take a moment to be free again */
      if (srv.pid <= 0)
        test_sleep_ms(100);
    }
    CHECK(srv.pid > 0);
    printf("server restarted after %ld items\n", got);
  }
}

static void restart(void) {
  long n = batched() ? batch_items() : scaled(1500, 500);
  cv_pipeline *p = coordinator("");
  pid_t kids[2] = {spawn_worker(), spawn_worker()};
  unsigned char *seen = calloc((size_t)n, 1);
  pthread_t th;
  feeder f = {p, 0, n, false};
  CHECK(pthread_create(&th, NULL, batched() ? feed_many : feed, &f) == 0);
  long got = drain(p, seen, n, restart_tick, NULL);
  pthread_join(th, NULL);
  long dup = 0;
  for (long i = 0; i < n; i++) {
    CHECK(seen[i] >= 1);
    dup += seen[i] - 1;
  }
  printf("%ld items, %ld duplicates\n", got, dup);
  /* In flight: a stage's capacity; with batches, the output's too. */
  CHECK(dup <= (batched() ? 2 * BATCH_CAP : CV_PIPELINE_DEFAULT_CAPACITY));
  CHECK_RC(cv_pipeline_wait(p, CV_SEC(120)), CV_OK);
  end_scenario(p, kids, 2);
  free(seen);
}

static void noserver(void) {
  int port = rs_free_port();
  char url[64], where[64];
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
  snprintf(where, sizeof(where), "127.0.0.1:%d", port);
  cv_broker_options bo = broker(url, "nobody", true, NULL);

  /* Refused before anything connects: a stage with automatic workers or an
   * ordered one, and a stage added once the broker is set. */
  const cv_stage_options bad[] = {
      {.name = "auto", .fn = work, .workers = CV_WORKERS_AUTO},
      {.name = "ordered", .fn = work, .workers = 2, .ordered = true}};
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    cv_pipeline *q = build();
    CHECK_OK(cv_pipeline_add_stage(q, &bad[k]));
    CHECK_RC(cv_pipeline_set_broker(q, &bo), CV_EINVAL);
    CHECK_OK(cv_pipeline_destroy(q));
  }
  cv_pipeline *p = build();
  CHECK_OK(cv_pipeline_set_broker(p, &bo));
  CHECK_RC(cv_pipeline_add_stage(
               p, &(cv_stage_options){.name = "late", .fn = work}),
           CV_ESTATE);
  CHECK_OK(cv_pipeline_destroy(p));

  p = build();
  bo.timeout_ns = CV_SEC(1);
  CHECK_OK(cv_pipeline_set_broker(p, &bo));
  int64_t t0 = test_now_ns();
  CHECK_RC(cv_pipeline_start(p), CV_EIO);
  CHECK(test_now_ns() - t0 < CV_SEC(3));
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  printf("no server: %s\n", s.error_message);
  CHECK(s.error_message && strstr(s.error_message, where));
  CHECK_OK(cv_pipeline_destroy(p));

  /* The same for a worker process: it has joined nothing, so it leaves
   * without saying goodbye to a server it never reached. */
  p = build();
  bo = broker(url, "nobody", false, NULL);
  bo.timeout_ns = CV_SEC(1);
  CHECK_OK(cv_pipeline_set_broker(p, &bo));
  t0 = test_now_ns();
  CHECK_RC(cv_pipeline_start(p), CV_EIO);
  CHECK(test_now_ns() - t0 < CV_SEC(3));
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  printf("no server, worker: %s\n", s.error_message);
  CHECK(s.error_message && strstr(s.error_message, where));
  CHECK_OK(cv_pipeline_destroy(p));

  /* A server that goes away for longer than the timeout. */
  p = build();
  bo = broker(srv.url, run_name, true, NULL);
  bo.timeout_ns = CV_SEC(1);
  CHECK_OK(cv_pipeline_set_broker(p, &bo));
  CHECK_OK(cv_pipeline_start(p));
  for (long i = 0; i < 20; i++)
    CHECK_OK(cv_pipeline_put(p, IP(i), CV_FOREVER));
  rs_kill(&srv, SIGKILL);
  t0 = test_now_ns();
  CHECK_RC(cv_pipeline_wait(p, CV_SEC(30)), CV_EFAILED);
  double d = (double)(test_now_ns() - t0) / 1e6;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  printf("server gone: failed after %.0f ms: %s\n", d, s.error_message);
  CHECK(s.error_message && strstr(s.error_message, srv.url + 8));
  CHECK(d < 15000);
  CHECK_OK(cv_pipeline_destroy(p));
}

static void password(void) {
  const char *secret = "s3cret-PW-9f2";
  long n = 50;
  cv_pipeline *p = coordinator("");
  pid_t kid = spawn_worker();
  unsigned char *seen = calloc((size_t)n, 1);
  pthread_t th;
  feeder f = {p, 0, n, false};
  CHECK(pthread_create(&th, NULL, feed, &f) == 0);
  CHECK_EQ(drain(p, seen, n, NULL, NULL), n);
  pthread_join(th, NULL);
  finish(p, CV_OK);
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  CHECK_OK(cv_pipeline_stats_print(p, m));
  fclose(m);
  char json[8192];
  CHECK_OK(cv_pipeline_stats_json(p, json, sizeof(json), NULL));
  CHECK(strstr(buf, secret) == NULL);
  CHECK(strstr(json, secret) == NULL);
  free(buf);
  end_scenario(p, &kid, 1);

  /* A wrong password: the error names the server, not the password. */
  char url[192];
  snprintf(url, sizeof(url), "redis://:wrong-%s@127.0.0.1:%d", secret,
           srv.port);
  p = build();
  cv_broker_options bo = broker(url, "wrong", true, NULL);
  CHECK_OK(cv_pipeline_set_broker(p, &bo));
  CHECK_RC(cv_pipeline_start(p), CV_EIO);
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  printf("wrong password: %s\n", s.error_message);
  CHECK(strstr(s.error_message, "refused the password"));
  CHECK(strstr(s.error_message, secret) == NULL);
  CHECK_OK(cv_pipeline_destroy(p));
  /* And nothing the worker printed shows it (its output went to a file). */
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "grep -rq -- '%s' '%s'", secret, dir);
  CHECK(system(cmd) != 0);
  free(seen);
}

static void codec(void) {
  long n = 100;
  cv_pipeline *p = coordinator("");
  char buf[32];
  for (long i = 0; i < n; i++) {
    snprintf(buf, sizeof(buf), "item-%ld", i);
    CHECK_OK(cv_pipeline_put(p, strdup(buf), CV_FOREVER));
  }
  CHECK_OK(cv_pipeline_put(p, strdup("big"), CV_FOREVER));
  CHECK_OK(cv_pipeline_put(p, strdup("split"), CV_FOREVER));
  /* No worker yet: everything is queued, and the depth is the stream's. */
  cv_stage_stats st;
  CHECK_OK(cv_pipeline_stage_stats(p, 0, &st));
  CHECK_EQ(st.queue_depth, n + 2);
  CHECK_EQ(rs_int(&srv, "XLEN cv:{%s}:s:0", run_name), n + 2);
  CHECK_EQ(st.in, n + 2);
  pid_t kids[2] = {spawn_worker(), spawn_worker()};
  /* Both join before the run can end (a worker that comes after the run
   * was removed waits for the next one of that name). */
  for (int i = 0; i < 3000 && count_lines("started") < 2; i++)
    test_sleep_ms(10);
  CHECK_EQ(count_lines("started"), 2);
  CHECK_OK(cv_pipeline_close_input(p));
  unsigned char *seen = calloc((size_t)n, 1);
  unsigned char split_seen[NSPLIT] = {0};
  long got = 0, split_got = 0;
  for (;;) {
    void *it;
    int rc = cv_pipeline_get(p, &it, CV_FOREVER);
    if (rc == CV_ECLOSED)
      break;
    CHECK_OK(rc);
    long id = -1;
    if (sscanf(it, "SPLIT-%ld", &id) == 1) {
      CHECK(id >= 0 && id < NSPLIT);
      split_seen[id]++;
      split_got++;
    } else {
      CHECK(sscanf(it, "ITEM-%ld", &id) == 1 && id >= 0 && id < n);
      seen[id]++;
      got++;
    }
    free(it);
  }
  CHECK_EQ(got, n);
  check_once(seen, n, -1);
  /* One input's outputs, more than the output can hold at once: all of
   * them arrive, each once. */
  CHECK_EQ(split_got, NSPLIT);
  check_once(split_seen, NSPLIT, -1);
  finish(p, CV_OK);
  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK_EQ(s.failed, 1);
  CHECK_EQ(s.delivered, n + NSPLIT);
  printf("oversized output: %s\n", s.error_message);
  CHECK(s.error_message && strstr(s.error_message, "max_item_bytes"));
  end_scenario(p, kids, 2);
  free(seen);
}

int main(int argc, char **argv) {
  if (argc >= 6 && strcmp(argv[1], "worker") == 0) {
    scenario = argv[2];
    dir = argv[5];
    char out[256];
    snprintf(out, sizeof(out), "%s/worker-output.%ld", dir, (long)getpid());
    CHECK(freopen(out, "a", stdout) != NULL);
    CHECK(freopen(out, "a", stderr) != NULL);
    return worker_main(argv[3], argv[4]);
  }
  CHECK(argc == 2);
  scenario = argv[1];
  self = argv[0];
  signal(SIGPIPE, SIG_IGN);
  rs_start(&srv, is("password") ? "s3cret-PW-9f2" : NULL,
           is("restart") || is("batch_restart"));
  static char d[200];
  snprintf(d, sizeof(d), "%s/files", srv.dir);
  CHECK(mkdir(d, 0755) == 0);
  dir = d;
  snprintf(run_name, sizeof(run_name), "t-%s", scenario);
  int64_t t0 = test_now_ns();
  if (is("fairness"))
    fairness();
  else if (is("kill9"))
    kill9();
  else if (is("stop"))
    stop();
  else if (is("long_item"))
    long_item();
  else if (is("poison"))
    poison();
  else if (is("capacity"))
    capacity();
  else if (is("close"))
    close_drain();
  else if (is("cancel"))
    cancel();
  else if (is("restart"))
    restart();
  else if (is("noserver"))
    noserver();
  else if (is("password"))
    password();
  else if (is("codec"))
    codec();
  else if (is("batch_kill9"))
    batch_kill9();
  else if (is("batch_poison"))
    poison();
  else if (is("batch_capacity"))
    batch_capacity();
  else if (is("batch_restart"))
    restart();
  else if (is("batch_stop"))
    stop();
  else
    CHECK(!"unknown scenario");
  rs_stop(&srv);
  printf("%s: ok in %.1f s\n", scenario, (double)(test_now_ns() - t0) / 1e9);
  return 0;
}
