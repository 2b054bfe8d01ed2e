/* src/pipeline_stats.c - the pipeline's statistics: per-stage counters,
 * the summary and its accounting check, the bottleneck, and the table and
 * JSON reports (see include/conveyor/pipeline.h).
 *
 * Everything here only reads.  Counters are summed from the workers'
 * single-writer atomics (relaxed loads) and from the transports' own
 * snapshots, so a reader never slows the workers down and never blocks them
 * for longer than one queue's stats call.  Once the threads were joined
 * every value is final, which is when the summary must balance.
 *
 * Where each number comes from (stage i):
 *   in        = items that entered its input transport (transport puts) +
 *               items dropped at its entry by cancellation
 *   taken, succeeded, out, filtered, failed = its workers' counters
 *   cancelled = taken-then-dropped (workers) + discarded by its transport
 *               at shutdown + dropped at entry
 * and for the output: delivered = transport gets (get mode) or sink
 * successes.  A distributed run's transports report the whole run's
 * counts instead of the workers' (their items are counted on the server),
 * and the other processes' busy/starved/blocked times and worker counts,
 * which are added to this process's own.  These are counted at different places by different threads,
 * so the balance fed + split_extra == delivered + filtered + failed +
 * cancelled + pending is a real check, not an identity.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pipeline_internal.h"

typedef struct raw_stage {
  cv_stage_stats pub;
  uint64_t cancelled_taken; /* taken by a worker, then dropped */
} raw_stage;

/* Worker threads now and at most: a stage's count, or what the controller
 * of an automatic stage has running (autotune.c). */
static void fill_workers(const cv__stage *st, cv_stage_stats *s) {
  s->workers_auto = st->auto_workers;
  if (st->auto_workers) {
    s->workers = atomic_load(&((cv__stage *)st)->alive);
    s->workers_peak = atomic_load(&((cv__stage *)st)->peak);
  } else {
    s->workers = s->workers_peak = st->nworkers;
  }
}

/* The counters and times of this process's workers of stage i. */
static void local_fill(const cv_pipeline *p, size_t i, raw_stage *r) {
  cv__stage *st = p->stages[i];
  memset(r, 0, sizeof(*r));
  cv_stage_stats *s = &r->pub;
  s->name = st->name;
  s->index = i;
  fill_workers(st, s);
  s->queue_capacity = st->capacity;
  int64_t now = cv__now_ns();
  for (unsigned j = 0; j < st->nworkers; j++) {
    cv__counters *c = &st->workers[j].c;
    /* What became of the items before how many were taken: a worker counts
     * an item taken before it counts its outcome, so read in this order
     * taken - (succeeded + failed + cancelled) is never negative (the
     * summary's pending).  Read the other way round, an item taken and
     * settled in between would be counted settled but not taken. */
    s->succeeded += CV__LOAD(c->succeeded);
    s->out += CV__LOAD(c->out);
    s->filtered += CV__LOAD(c->filtered);
    s->failed += CV__LOAD(c->failed);
    r->cancelled_taken += CV__LOAD(c->cancelled);
    s->taken += CV__LOAD(c->taken);
    /* Busy = lifetime - waits, counting a wait still in progress.  The
     * ended runs' lifetimes first: a worker leaving stores start_ns = 0
     * before adding its run to life_ns, so this order never counts a run
     * twice. */
    int64_t life = atomic_load_explicit(&c->life_ns, memory_order_acquire);
    int64_t start = atomic_load_explicit(&c->start_ns, memory_order_acquire);
    int64_t starved = CV__LOAD(c->starved_ns);
    int64_t blocked = CV__LOAD(c->blocked_ns);
    if (start != 0) {
      life += now - start;
      int64_t since =
          atomic_load_explicit(&c->wait_since, memory_order_acquire);
      if (since != 0 && now > since) {
        if (CV__LOAD(c->wait_kind) == CV__WAIT_STARVED)
          starved += now - since;
        else
          blocked += now - since;
      }
    }
    if (life == 0)
      continue; /* has not run yet, or its init failed */
    int64_t busy = life - starved - blocked;
    s->busy_ns += busy > 0 ? busy : 0;
    s->starved_ns += starved;
    s->blocked_ns += blocked;
  }
}

void cv__stage_local_stats(const cv_pipeline *p, size_t i,
                           cv_stage_stats *out) {
  raw_stage r;
  local_fill(p, i, &r);
  *out = r.pub;
}

static void raw_fill(const cv_pipeline *p, size_t i, raw_stage *r) {
  cv__stage *st = p->stages[i];
  local_fill(p, i, r);
  cv_stage_stats *s = &r->pub;
  uint64_t dropped = atomic_load_explicit(
      &st->in.entry_dropped, memory_order_relaxed);
  s->in = dropped;
  s->cancelled = r->cancelled_taken + dropped;
  /* The transport exists from start until destroy; read_state() below
   * makes sure start created it before we look. */
  if (st->in.t) {
    cv__transport_stats ts = {0};
    if (st->in.t->ops->stats(st->in.t, &ts) == CV_OK) {
      s->in += ts.puts;
      s->cancelled += ts.discarded;
      s->queue_depth = ts.size;
      s->queue_high_water = ts.high_water;
      if (ts.remote) {
        /* The whole run's counts; items in a worker's hands are still in
         * the stream (queue_depth), so none count as taken-unsettled. */
        s->taken = ts.taken;
        s->succeeded = ts.succeeded;
        s->out = ts.out;
        s->filtered = ts.filtered;
        s->failed = ts.failed;
        s->cancelled = dropped + ts.discarded;
        r->cancelled_taken = 0;
        /* And the other processes' workers, with ours. */
        s->busy_ns += ts.busy_ns;
        s->starved_ns += ts.starved_ns;
        s->blocked_ns += ts.blocked_ns;
        s->workers += ts.workers;
        s->workers_peak += ts.workers;
      }
    }
  }
}

/* Whether the transports exist yet (taken under the mutex, which also
 * orders our reads of st->in.t after start's writes). */
static bool have_transports(const cv_pipeline *p) {
  cv_pipeline *mp = (cv_pipeline *)p;
  pthread_mutex_lock(&mp->mu);
  bool h = mp->have_transports;
  pthread_mutex_unlock(&mp->mu);
  return h;
}

void cv__stage_stats_fill(const cv_pipeline *p, size_t i, cv_stage_stats *out) {
  raw_stage r;
  if (have_transports(p)) {
    raw_fill(p, i, &r);
  } else {
    memset(&r, 0, sizeof(r));
    r.pub.name = p->stages[i]->name;
    r.pub.index = i;
    fill_workers(p->stages[i], &r.pub);
    r.pub.queue_capacity = p->stages[i]->capacity;
  }
  *out = r.pub;
}

size_t cv_pipeline_stage_count(const cv_pipeline *p) {
  return p ? p->nstages : 0;
}

int cv_pipeline_stage_stats(const cv_pipeline *p, size_t index,
                            cv_stage_stats *out) {
  if (!p || !out || index >= p->nstages)
    return CV_EINVAL;
  cv__stage_stats_fill(p, index, out);
  return CV_OK;
}

int cv_pipeline_summary_get(const cv_pipeline *p, cv_pipeline_summary *s) {
  if (!p || !s)
    return CV_EINVAL;
  cv_pipeline *mp = (cv_pipeline *)p;
  memset(s, 0, sizeof(*s));
  pthread_mutex_lock(&mp->mu);
  bool have = mp->have_transports;
  bool started = mp->start_called;
  s->finished = mp->finished;
  s->status = mp->status;
  s->error_code = mp->err_code;
  s->error_stage = mp->err_stage;
  s->error_message = mp->err_code ? mp->err_msg : NULL;
  int64_t start = mp->start_ns, end = mp->end_ns;
  pthread_mutex_unlock(&mp->mu);
  if (started)
    s->elapsed_ns = (s->finished ? end : cv__now_ns()) - start;
  if (!have)
    return CV_OK;

  /* Outputs emitted but not yet in the next queue (a worker's emit buffer,
   * an ordered stage's reorder window, outputs kept for the sink) are
   * pending too: emitted by stage i, not yet counted in by what follows. */
  int64_t extra = 0;
  uint64_t emitted = 0;
  for (size_t i = 0; i < p->nstages; i++) {
    raw_stage r;
    raw_fill(p, i, &r);
    if (i == 0)
      s->fed = r.pub.in;
    else
      s->pending += emitted > r.pub.in ? emitted - r.pub.in : 0;
    emitted = r.pub.out;
    s->filtered += r.pub.filtered;
    s->failed += r.pub.failed;
    s->cancelled += r.pub.cancelled;
    extra += (int64_t)r.pub.out -
             ((int64_t)r.pub.succeeded - (int64_t)r.pub.filtered);
    uint64_t settled = r.pub.succeeded + r.pub.failed + r.cancelled_taken;
    s->pending += r.pub.queue_depth +
                  (r.pub.taken > settled ? r.pub.taken - settled : 0);
  }
  s->split_extra = extra > 0 ? (uint64_t)extra : 0;

  cv__transport_stats ts = {0};
  p->output.t->ops->stats(p->output.t, &ts);
  s->cancelled += ts.discarded + atomic_load_explicit(
                                     &mp->output.entry_dropped,
                                     memory_order_relaxed);
  s->pending += ts.size;
  uint64_t entered = ts.puts + atomic_load_explicit(&mp->output.entry_dropped,
                                                    memory_order_relaxed) +
                     (p->sink && !p->dist ? CV__LOAD(mp->sink_taken) : 0);
  s->pending += emitted > entered ? emitted - entered : 0;
  if (p->sink) {
    /* Outcomes before taken, as in raw_fill. */
    uint64_t ok = CV__LOAD(mp->sink_ok), failed = CV__LOAD(mp->sink_failed),
             dropped = CV__LOAD(mp->sink_dropped),
             taken = CV__LOAD(mp->sink_taken);
    s->delivered = ok;
    s->failed += failed;
    s->cancelled += dropped;
    uint64_t settled = ok + failed + dropped;
    s->pending += taken > settled ? taken - settled : 0;
  } else {
    s->delivered = ts.gets;
  }
  return CV_OK;
}

bool cv_pipeline_summary_balanced(const cv_pipeline_summary *s) {
  if (!s)
    return false;
  return s->fed + s->split_extra ==
         s->delivered + s->filtered + s->failed + s->cancelled + s->pending;
}

/* Share of worker time spent in the stage function. */
static double busy_share(const cv_stage_stats *s) {
  int64_t total = s->busy_ns + s->starved_ns + s->blocked_ns;
  return total > 0 ? (double)s->busy_ns / (double)total : 0.0;
}

const char *cv_pipeline_bottleneck(const cv_pipeline *p, size_t *index) {
  if (!p || !have_transports(p))
    return NULL;
  const char *best = NULL;
  double best_share = -1.0;
  size_t best_depth = 0, best_i = 0;
  for (size_t i = 0; i < p->nstages; i++) {
    raw_stage r;
    raw_fill(p, i, &r);
    /* A stage that took no item did no work, whatever its clock says (a
     * worker's first wait is timed from its start). */
    if (r.pub.busy_ns <= 0 || r.pub.taken == 0)
      continue;
    double share = busy_share(&r.pub);
    if (share > best_share + 1e-9 ||
        (share > best_share - 1e-9 && r.pub.queue_depth > best_depth)) {
      best = p->stages[i]->name;
      best_share = share;
      best_depth = r.pub.queue_depth;
      best_i = i;
    }
  }
  if (best && index)
    *index = best_i;
  return best;
}

static const char *status_name(const cv_pipeline_summary *s) {
  if (s->status == CV_OK)
    return s->finished ? "finished" : "running";
  return s->status == CV_EFAILED ? "failed" : "cancelled";
}

static double ms(int64_t ns) { return (double)ns / 1e6; }

static double pct(int64_t part, int64_t total) {
  return total > 0 ? 100.0 * (double)part / (double)total : 0.0;
}

int cv_pipeline_stats_print(const cv_pipeline *p, FILE *f) {
  if (!p || !f)
    return CV_EINVAL;
  cv_pipeline_summary s;
  cv_pipeline_summary_get(p, &s);
  int w = 5; /* "stage" */
  for (size_t i = 0; i < p->nstages; i++) {
    int n = (int)strlen(p->stages[i]->name);
    if (n > w)
      w = n;
  }
  int err = 0;
  err |= fprintf(f, "pipeline %s: %s after %.1f ms\n", p->name,
                 status_name(&s), ms(s.elapsed_ns)) < 0;
  err |= fprintf(f,
                 "%-*s %7s %9s %9s %9s %8s %9s %6s %8s %8s %6s %6s %6s\n", w,
                 "stage", "workers", "in", "out", "filtered", "failed",
                 "cancelled", "busy%", "starved%", "blocked%", "queue", "high",
                 "cap") < 0;
  for (size_t i = 0; i < p->nstages; i++) {
    cv_stage_stats st;
    cv__stage_stats_fill(p, i, &st);
    int64_t total = st.busy_ns + st.starved_ns + st.blocked_ns;
    char cap[24], workers[24];
    /* Automatic stages: workers now / the most they had at once. */
    if (st.workers_auto)
      snprintf(workers, sizeof(workers), "%u/%u", st.workers, st.workers_peak);
    else
      snprintf(workers, sizeof(workers), "%u", st.workers);
    if (st.queue_capacity)
      snprintf(cap, sizeof(cap), "%zu", st.queue_capacity);
    else
      snprintf(cap, sizeof(cap), "-");
    err |= fprintf(f,
                   "%-*s %7s %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %8" PRIu64
                   " %9" PRIu64 " %6.1f %8.1f %8.1f %6zu %6zu %6s\n",
                   w, st.name, workers, st.in, st.out, st.filtered,
                   st.failed, st.cancelled, pct(st.busy_ns, total),
                   pct(st.starved_ns, total), pct(st.blocked_ns, total),
                   st.queue_depth, st.queue_high_water, cap) < 0;
  }
  err |= fprintf(f,
                 "items: fed %" PRIu64 ", delivered %" PRIu64
                 ", filtered %" PRIu64 ", failed %" PRIu64
                 ", cancelled %" PRIu64 ", split extra %" PRIu64
                 ", pending %" PRIu64 " (%s)\n",
                 s.fed, s.delivered, s.filtered, s.failed, s.cancelled,
                 s.split_extra, s.pending,
                 cv_pipeline_summary_balanced(&s) ? "balanced"
                                                  : "NOT balanced") < 0;
  if (s.error_code)
    err |= fprintf(f, "first error: %s in stage %s: %s\n",
                   cv_err_name(s.error_code), s.error_stage,
                   s.error_message) < 0;
  const char *b = cv_pipeline_bottleneck(p, NULL);
  err |= fprintf(f, "bottleneck: %s\n", b ? b : "-") < 0;
  return err ? CV_EIO : CV_OK;
}

/* ---- JSON ------------------------------------------------------------- */

typedef struct jbuf {
  char *buf;
  size_t len;  /* size of buf */
  size_t need; /* characters produced so far (may exceed len) */
} jbuf;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static void jprintf(jbuf *j, const char *fmt, ...) {
  size_t room = j->need < j->len ? j->len - j->need : 0;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(room ? j->buf + j->need : NULL, room, fmt, ap);
  va_end(ap);
  if (n > 0)
    j->need += (size_t)n;
}

static void jstr(jbuf *j, const char *s) {
  if (!s) {
    jprintf(j, "null");
    return;
  }
  jprintf(j, "\"");
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\')
      jprintf(j, "\\%c", *c);
    else if (*c < 0x20)
      jprintf(j, "\\u%04x", *c);
    else
      jprintf(j, "%c", *c);
  }
  jprintf(j, "\"");
}

int cv_pipeline_stats_json(const cv_pipeline *p, char *buf, size_t len,
                           size_t *needed) {
  if (needed)
    *needed = 0;
  if (!p || (!buf && len > 0))
    return CV_EINVAL;
  jbuf j = {.buf = buf, .len = len, .need = 0};
  cv_pipeline_summary s;
  cv_pipeline_summary_get(p, &s);
  jprintf(&j, "{\"pipeline\":");
  jstr(&j, p->name);
  jprintf(&j, ",\"elapsed_ns\":%" PRId64 ",\"status\":\"%s\",\"finished\":%s",
          s.elapsed_ns, status_name(&s), s.finished ? "true" : "false");
  jprintf(&j,
          ",\"summary\":{\"fed\":%" PRIu64 ",\"delivered\":%" PRIu64
          ",\"filtered\":%" PRIu64 ",\"failed\":%" PRIu64
          ",\"cancelled\":%" PRIu64 ",\"split_extra\":%" PRIu64
          ",\"pending\":%" PRIu64 ",\"balanced\":%s,\"error_code\":%d"
          ",\"error_stage\":",
          s.fed, s.delivered, s.filtered, s.failed, s.cancelled,
          s.split_extra, s.pending,
          cv_pipeline_summary_balanced(&s) ? "true" : "false", s.error_code);
  jstr(&j, s.error_stage);
  jprintf(&j, ",\"error_message\":");
  jstr(&j, s.error_message);
  jprintf(&j, "},\"bottleneck\":");
  jstr(&j, cv_pipeline_bottleneck(p, NULL));
  jprintf(&j, ",\"stages\":[");
  for (size_t i = 0; i < p->nstages; i++) {
    cv_stage_stats st;
    cv__stage_stats_fill(p, i, &st);
    jprintf(&j, "%s{\"name\":", i ? "," : "");
    jstr(&j, st.name);
    jprintf(&j,
            ",\"index\":%zu,\"workers\":%u,\"workers_peak\":%u"
            ",\"workers_auto\":%s,\"in\":%" PRIu64
            ",\"taken\":%" PRIu64 ",\"succeeded\":%" PRIu64
            ",\"out\":%" PRIu64 ",\"filtered\":%" PRIu64
            ",\"failed\":%" PRIu64 ",\"cancelled\":%" PRIu64
            ",\"busy_ns\":%" PRId64 ",\"starved_ns\":%" PRId64
            ",\"blocked_ns\":%" PRId64
            ",\"queue_depth\":%zu,\"queue_high_water\":%zu"
            ",\"queue_capacity\":%zu}",
            st.index, st.workers, st.workers_peak,
            st.workers_auto ? "true" : "false", st.in, st.taken, st.succeeded, st.out,
            st.filtered, st.failed, st.cancelled, st.busy_ns, st.starved_ns,
            st.blocked_ns, st.queue_depth, st.queue_high_water,
            st.queue_capacity);
  }
  jprintf(&j, "]}");
  if (needed)
    *needed = j.need;
  if (len > 0 && j.need >= len)
    buf[len - 1] = '\0';
  return j.need < len ? CV_OK : CV_EFULL;
}
