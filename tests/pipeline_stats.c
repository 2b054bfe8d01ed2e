/* pipeline_stats: the statistics add up and mean what they say.  A pipeline
 * with one deliberately slow stage names that stage as the bottleneck; the
 * slow stage's busy time covers its sleeps (tight lower bound), the stage in
 * front of it shows blocked time and the one after it starved time.  The
 * counters of every stage add up (in == taken + cancelled, taken ==
 * succeeded + failed, out of one stage == in of the next).  Another thread
 * reads stats, summary, bottleneck, table and JSON all through the run
 * (counters never go backwards, depths stay within capacity); the progress
 * callback fires at its interval and once more at the end, before wait
 * returns; the JSON and table outputs have the promised content. */
#include "pipeline_util.h"

#define SLOW_US 1000

static int pass(cv_stage_ctx *ctx, void *item) { return cv_emit(ctx, item); }

static int slow(cv_stage_ctx *ctx, void *item) {
  struct timespec ts = {0, SLOW_US * 1000};
  nanosleep(&ts, NULL);
  return cv_emit(ctx, item);
}

/* Fails ids 4 mod 50; filters ids 9 mod 50. */
static int mixed(cv_stage_ctx *ctx, void *item) {
  intptr_t v = PI(item);
  if (v % 50 == 4)
    return cv_stage_fail(ctx, CV_EIO, "bad %ld", (long)v);
  if (v % 50 == 9)
    return CV_OK;
  return cv_emit(ctx, item);
}

typedef struct live {
  cv_pipeline *p;
  atomic_bool stop;
  long reads, regressions, overfull;
} live;

static void *reader(void *arg) {
  live *l = arg;
  size_t n = cv_pipeline_stage_count(l->p);
  uint64_t last_in[8] = {0}, last_out[8] = {0};
  FILE *devnull = fopen("/dev/null", "w");
  CHECK(devnull != NULL);
  char json[8192];
  while (!atomic_load(&l->stop)) {
    for (size_t i = 0; i < n; i++) {
      cv_stage_stats st;
      CHECK_OK(cv_pipeline_stage_stats(l->p, i, &st));
      if (st.in < last_in[i] || st.out < last_out[i])
        l->regressions++;
      if (st.queue_depth > st.queue_capacity)
        l->overfull++;
      last_in[i] = st.in;
      last_out[i] = st.out;
    }
    cv_pipeline_summary s;
    CHECK_OK(cv_pipeline_summary_get(l->p, &s));
    cv_pipeline_bottleneck(l->p, NULL);
    CHECK_OK(cv_pipeline_stats_print(l->p, devnull));
    size_t need;
    CHECK_OK(cv_pipeline_stats_json(l->p, json, sizeof(json), &need));
    l->reads++;
    test_sleep_ms(2);
  }
  fclose(devnull);
  return NULL;
}

typedef struct prog {
  atomic_int calls, finished_calls;
  atomic_long last_delivered;
} prog;

static void on_progress(cv_pipeline *p, const cv_pipeline_summary *s,
                        void *arg) {
  (void)p;
  prog *pr = arg;
  atomic_fetch_add(&pr->calls, 1);
  if (s->finished)
    atomic_fetch_add(&pr->finished_calls, 1);
  /* At the end, items may still wait in the output queue for our get:
   * they count as pending. */
  atomic_store(&pr->last_delivered, (long)(s->delivered + s->pending));
}

static void *feed(void *arg) {
  cv_pipeline *p = arg;
  long n = test_env_long("PL_STATS_N", 0);
  for (long i = 0; i < n; i++)
    CHECK_OK(cv_pipeline_put(p, IP(i), CV_FOREVER));
  CHECK_OK(cv_pipeline_close_input(p));
  return NULL;
}

static bool contains(const char *hay, const char *needle) {
  return strstr(hay, needle) != NULL;
}

/* A run that carried nothing has no bottleneck (it used to name whichever
 * stage's idle workers had been timed as busy for a moment). */
static void empty_run_has_no_bottleneck(void) {
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, &(cv_pipeline_options){.name = "empty"}));
  for (int i = 0; i < 3; i++)
    CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
        .name = "s", .fn = pass, .workers = 2, .capacity = 4}));
  CHECK_OK(cv_pipeline_start(p));
  CHECK_OK(cv_pipeline_close_input(p));
  void *item;
  CHECK_RC(cv_pipeline_get(p, &item, CV_FOREVER), CV_ECLOSED);
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));
  CHECK(cv_pipeline_bottleneck(p, NULL) == NULL);
  size_t need = 0;
  char small[1];
  cv_pipeline_stats_json(p, small, sizeof small, &need);
  char *json = malloc(need + 1);
  CHECK(json);
  CHECK_OK(cv_pipeline_stats_json(p, json, need + 1, NULL));
  CHECK(contains(json, "\"bottleneck\":null"));
  free(json);
  CHECK_OK(cv_pipeline_destroy(p));
}

int main(void) {
  empty_run_has_no_bottleneck();
  /* 4 slow workers x 1 ms: n items take at least n/4 ms. */
  long n = pl_size("PIPELINE_STATS_ITEMS", 800, 200);
  char nbuf[32];
  snprintf(nbuf, sizeof(nbuf), "%ld", n);
  setenv("PL_STATS_N", nbuf, 1);

  prog pr;
  atomic_init(&pr.calls, 0);
  atomic_init(&pr.finished_calls, 0);
  atomic_init(&pr.last_delivered, -1);
  cv_pipeline_options po = {.name = "stats",
                            .progress = on_progress,
                            .progress_arg = &pr,
                            .progress_interval_ns = CV_MSEC(20)};
  cv_pipeline *p;
  CHECK_OK(cv_pipeline_create(&p, &po));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "fast", .fn = pass, .workers = 2, .capacity = 8}));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "mixed", .fn = mixed, .workers = 2, .capacity = 8}));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "slow", .fn = slow, .workers = 4, .capacity = 8}));
  CHECK_OK(cv_pipeline_add_stage(p, &(cv_stage_options){
      .name = "after", .fn = pass, .workers = 2, .capacity = 8}));
  CHECK(cv_pipeline_bottleneck(p, NULL) == NULL); /* nothing ran yet */
  int64_t t0 = test_now_ns();
  CHECK_OK(cv_pipeline_start(p));

  live l = {.p = p};
  atomic_init(&l.stop, false);
  pthread_t rd, fd;
  CHECK(pthread_create(&rd, NULL, reader, &l) == 0);
  CHECK(pthread_create(&fd, NULL, feed, p) == 0);
  void *item;
  int rc;
  long got = 0;
  while ((rc = cv_pipeline_get(p, &item, CV_FOREVER)) == CV_OK)
    got++;
  CHECK_RC(rc, CV_ECLOSED);
  CHECK_OK(cv_pipeline_wait(p, CV_FOREVER));
  int64_t elapsed = test_now_ns() - t0;
  /* The final progress report happened before wait returned. */
  CHECK_EQ(atomic_load(&pr.finished_calls), 1);
  atomic_store(&l.stop, true);
  CHECK(pthread_join(rd, NULL) == 0);
  CHECK(pthread_join(fd, NULL) == 0);

  long bad = 0, filtered = 0;
  for (long i = 0; i < n; i++) {
    bad += i % 50 == 4;
    filtered += i % 50 == 9;
  }
  long passed = n - bad - filtered;
  CHECK_EQ(got, passed);

  /* Counters add up, stage by stage. */
  cv_stage_stats st[4];
  for (size_t i = 0; i < 4; i++) {
    CHECK_OK(cv_pipeline_stage_stats(p, i, &st[i]));
    CHECK_EQ(st[i].in, st[i].taken + st[i].cancelled);
    CHECK_EQ(st[i].taken, st[i].succeeded + st[i].failed);
    CHECK_EQ(st[i].cancelled, 0);
    CHECK_EQ(st[i].queue_depth, 0);
    CHECK(st[i].queue_high_water <= st[i].queue_capacity);
    CHECK_EQ(st[i].queue_capacity, 8);
    if (i > 0)
      CHECK_EQ(st[i].in, st[i - 1].out);
    int64_t total = st[i].busy_ns + st[i].starved_ns + st[i].blocked_ns;
    /* Each worker's time is accounted for: at most its lifetime. */
    CHECK(total <= (int64_t)st[i].workers * elapsed);
  }
  CHECK_EQ(st[0].in, n);
  CHECK_EQ(st[1].failed, bad);
  CHECK_EQ(st[1].filtered, filtered);
  CHECK_EQ(st[2].in, passed);
  CHECK_EQ(st[2].workers, 4);
  /* The slow stage slept SLOW_US per item: a tight lower bound. */
  CHECK(st[2].busy_ns >= (int64_t)passed * SLOW_US * 1000);
  /* The fast stage in front waited for it; the one after starved. */
  CHECK(st[1].blocked_ns > 0);
  CHECK(st[3].starved_ns > st[3].busy_ns);
  size_t bi = 99;
  const char *b = cv_pipeline_bottleneck(p, &bi);
  CHECK(b != NULL && strcmp(b, "slow") == 0);
  CHECK_EQ(bi, 2);

  cv_pipeline_summary s;
  CHECK_OK(cv_pipeline_summary_get(p, &s));
  CHECK(s.finished);
  CHECK_EQ(s.fed, n);
  CHECK_EQ(s.delivered, passed);
  CHECK_EQ(s.failed, bad);
  CHECK_EQ(s.filtered, filtered);
  CHECK(cv_pipeline_summary_balanced(&s));
  CHECK(s.elapsed_ns >= (int64_t)passed * SLOW_US * 1000 / 4);
  CHECK(s.elapsed_ns <= elapsed);
  /* An unbalanced summary is caught. */
  cv_pipeline_summary broken = s;
  broken.delivered--;
  CHECK(!cv_pipeline_summary_balanced(&broken));

  /* Progress: every 20 ms over a run of at least passed/4 ms.  A loaded
   * machine (or valgrind, which runs one thread at a time) may delay the
   * monitor, so the lower bound only asks for one periodic report in a run
   * of five intervals, plus the final one. */
  long min_calls = s.elapsed_ns >= CV_MSEC(100) ? 2 : 1;
  CHECK(atomic_load(&pr.calls) >= min_calls);
  CHECK(atomic_load(&pr.calls) <= (long)(s.elapsed_ns / CV_MSEC(20)) + 2);
  CHECK_EQ(atomic_load(&pr.last_delivered), passed);
  printf("progress calls %d, live reads %ld, elapsed %.0f ms\n",
         atomic_load(&pr.calls), l.reads, (double)elapsed / 1e6);
  CHECK_EQ(l.regressions, 0);
  CHECK_EQ(l.overfull, 0);
  CHECK(l.reads > 0);

  /* JSON: complete in a big buffer, truncated (and terminated) in a small
   * one, with the same length reported. */
  char json[8192];
  size_t need = 0, need_small = 0;
  CHECK_OK(cv_pipeline_stats_json(p, json, sizeof(json), &need));
  CHECK_EQ(need, strlen(json));
  CHECK(json[0] == '{' && json[need - 1] == '}');
  CHECK(contains(json, "\"pipeline\":\"stats\""));
  CHECK(contains(json, "\"bottleneck\":\"slow\""));
  CHECK(contains(json, "\"balanced\":true"));
  CHECK(contains(json, "\"error_stage\":\"mixed\""));
  CHECK(contains(json, "\"name\":\"slow\",\"index\":2,\"workers\":4"));
  char small[16];
  CHECK_RC(cv_pipeline_stats_json(p, small, sizeof(small), &need_small),
           CV_EFULL);
  CHECK_EQ(strlen(small), sizeof(small) - 1);
  CHECK_EQ(need_small, need);
  CHECK(strncmp(small, json, sizeof(small) - 1) == 0);

  /* The table. */
  FILE *f = tmpfile();
  CHECK(f != NULL);
  CHECK_OK(cv_pipeline_stats_print(p, f));
  rewind(f);
  char table[4096];
  size_t len = fread(table, 1, sizeof(table) - 1, f);
  table[len] = '\0';
  fclose(f);
  fputs(table, stdout);
  CHECK(contains(table, "pipeline stats: finished"));
  CHECK(contains(table, "bottleneck: slow\n"));
  CHECK(contains(table, "(balanced)"));
  CHECK(contains(table, "first error: EIO in stage mixed: bad 4"));
  CHECK_OK(cv_pipeline_destroy(p));
  return 0;
}
