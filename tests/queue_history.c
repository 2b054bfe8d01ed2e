/* queue_history: the answers of join, task_done, size and stats, checked
 * against a model of the queue over recorded histories.
 *
 * Each round, six threads share one queue and record every call they make:
 * its kind, arguments, result, and the CLOCK_MONOTONIC time just before the
 * call and just after it returns (one clock for all threads).  Streaming
 * rounds: four writers put (blocking, timed, try, batch) and two readers
 * get and task_done at once, until one writer, after 0-400 calls, closes,
 * shuts down (drain) or shuts down immediately (two times in three).
 * Looping rounds: three threads put, get and task_done in turn, a keeper
 * holds one item for long stretches, and two observers poll join
 * (CV_NOWAIT and timed), size and stats, until the main thread ends the
 * round after 1-5 ms.  Then every thread task_dones what it holds, the main
 * thread drains the queue, and join must return.
 *
 * The check.  A call took effect at some instant between its two
 * timestamps.  An item is certainly unfinished at time t if its put had
 * returned before t and its task_done had not yet been called (nor an
 * immediate shutdown that discarded it); it is possibly unfinished if its
 * put had been called and its task_done had not returned (nor the
 * shutdown that discarded it).  Every task_done in these histories follows
 * the get of an item by the same thread, so the queue's count of unfinished
 * items at t lies between the number of certainly and of possibly
 * unfinished items.  Likewise for the size, with get in place of
 * task_done.  From those two step functions:
 *   - join returned CV_OK: at some t in its interval, no item was certainly
 *     unfinished;
 *   - join timed out: at some t in its interval, an item was possibly
 *     unfinished;
 *   - task_done was refused: at some t in its interval, no item was
 *     certainly unfinished (one for an item really taken never is);
 *   - stats.unfinished, size and stats.size lie between the minimum of the
 *     lower bound and the maximum of the upper bound over the interval;
 *     stats balance (puts = gets + discarded + size); size <= capacity;
 *   - every item put is got or discarded exactly once, no item whose put
 *     failed appears, puts fail only after the close began and succeed only
 *     if called before it ended, a drained queue (CV_ECLOSED) had no item
 *     certainly queued.
 * This is weaker than full linearizability (it checks each answer against
 * bounds, not one order for all of them) but sound: a correct queue never
 * fails it, whatever the timing.  It caught both accounting races of the
 * ring when they were put back (see docs/testing.md, mutants).
 *
 * Not checked: CV_EEMPTY / CV_EFULL from try calls.  A FIFO ring may answer
 * CV_EEMPTY while a later item is published behind one still being written
 * (positions are taken in order), which no sequential queue would do.
 *
 * Every kind of queue: ring (both pairings) and mutex FIFO, unbounded FIFO,
 * LIFO, priority.  CV_HISTORY_MS (default 2000) is each ring kind's share
 * of time, a sixth of it each other kind's; CV_HISTORY_ROUNDS (default 0 =
 * as many as fit) fixes the round count instead; CV_HISTORY_CAST (0
 * streaming, 1 looping) runs one cast only. */
#include <stdarg.h>
#include <stdatomic.h>

#include "queue_util.h"

enum { THREADS = 6, MAX_OPS = 4096, PER_THREAD = MAX_OPS * 3, MAXB = 3 };
enum { MAIN = THREADS }; /* the main thread's log */
#define NOBODY INT64_MAX

enum opk {
  O_PUT, O_PUT_MANY, O_GET, O_GET_MANY, O_TASK_DONE, O_JOIN, O_SIZE,
  O_STATS, O_END
};
static const char *const op_names[] = {"put", "put_many", "get", "get_many",
                                       "task_done", "join", "size", "stats",
                                       "close/shutdown"};

typedef struct rec {
  int64_t call, ret;
  int64_t timeout;
  uint8_t kind;
  uint8_t n;  /* items in items[] (asked for, for puts; got, for gets) */
  int rc;
  uint32_t items[MAXB];
  uint64_t v1, v2, v3, v4; /* size; or stats size/unfinished/puts/gets */
  uint64_t v5;             /* stats discarded */
} rec;

typedef struct tlog {
  rec *ops; /* MAX_OPS + 64; the main thread's room for a whole drain */
  int nops;
  uint32_t held[8]; /* got, not yet task_done: oldest first */
  int nheld;
  uint32_t next_seq;
  uint64_t rng;
  int role;
  pthread_t th;
} tlog;

/* Two casts.  Streaming: four writers keep the queue full, two readers
 * empty it; the ending meets many calls in flight.  Looping: each looper puts, gets
 * and task_dones in turn, and a keeper holds one item for long stretches,
 * so that very few items are unfinished and one missed put or task_done
 * shows (join must never say "all done" while the keeper holds its item). */
enum role { WRITER, READER, OBSERVER, LOOPER, KEEPER };
static const int casts[2][THREADS] = {
    {WRITER, WRITER, WRITER, WRITER, READER, READER},
    {LOOPER, LOOPER, LOOPER, KEEPER, OBSERVER, OBSERVER}};

static tlog logs[THREADS + 1];
static cv_queue *q;
static size_t capacity; /* 0: unbounded */
static atomic_int stop;
static int end_mode; /* 0 close, 1 drain, 2 immediate */

/* Items are numbered thread * PER_THREAD + seq; the pointer is that + 1. */
#define NITEMS ((THREADS + 1) * PER_THREAD)
typedef struct item {
  int64_t put_call, put_ret; /* NOBODY: never put successfully */
  int64_t get_call, get_ret; /* NOBODY: never got */
  int64_t td_call, td_ret;   /* NOBODY: never task_done */
  int got, discarded;
  bool put_failed;
} item;
static item items[NITEMS];
static const item fresh_item = {NOBODY, NOBODY, NOBODY, NOBODY, NOBODY,
                                NOBODY, 0, 0, false};

static void on_discard(void *it, void *arg) {
  (void)arg;
  uint32_t id = (uint32_t)((uintptr_t)it - 1);
  items[id].discarded++; /* only the main thread shuts down */
}

static int cmp_items(const void *a, const void *b, void *arg) {
  (void)arg;
  uintptr_t x = (uintptr_t)a % 97, y = (uintptr_t)b % 97;
  return (x > y) - (x < y);
}

/* ---- recording -------------------------------------------------------- */

static rec *begin(tlog *l, enum opk k) {
  rec *r = &l->ops[l->nops++];
  memset(r, 0, sizeof(*r));
  r->kind = (uint8_t)k;
  return r;
}

static int64_t pick_timeout(tlog *l) {
  switch (test_rand(&l->rng) % 4) {
  case 0: return CV_NOWAIT;
  case 1: return CV_USEC(50);
  case 2: return CV_USEC(300);
  default: return CV_FOREVER; /* woken by the ending at the latest */
  }
}

static void do_put(tlog *l, int id) {
  bool many = test_rand(&l->rng) % 4 == 0;
  rec *r = begin(l, many ? O_PUT_MANY : O_PUT);
  r->timeout = pick_timeout(l);
  r->n = many ? 1 + test_rand(&l->rng) % MAXB : 1;
  void *p[MAXB];
  for (int i = 0; i < r->n; i++) {
    r->items[i] = (uint32_t)id * PER_THREAD + l->next_seq++;
    p[i] = (void *)(uintptr_t)(r->items[i] + 1);
  }
  size_t nput = 0;
  r->call = test_now_ns();
  if (many) {
    r->rc = cv_queue_put_many(q, p, r->n, &nput, r->timeout);
  } else {
    r->rc = cv_queue_put(q, p[0], r->timeout);
    nput = r->rc == CV_OK;
  }
  r->ret = test_now_ns();
  r->v1 = nput;
}

static void task_done_one(tlog *l) {
  rec *r = begin(l, O_TASK_DONE);
  r->n = 1;
  r->items[0] = l->held[0];
  r->call = test_now_ns();
  r->rc = cv_queue_task_done(q);
  r->ret = test_now_ns();
  /* Refused or not, the item leaves the list: the check judges it. */
  memmove(l->held, l->held + 1, (size_t)(l->nheld - 1) * sizeof(uint32_t));
  l->nheld--;
}

static int do_get(tlog *l, bool done_at_once, int64_t timeout) {
  bool many = test_rand(&l->rng) % 4 == 0;
  rec *r = begin(l, many ? O_GET_MANY : O_GET);
  r->timeout = timeout;
  void *p[MAXB];
  size_t got = 0;
  r->call = test_now_ns();
  if (many) {
    r->rc = cv_queue_get_many(q, p, MAXB, &got, r->timeout);
  } else {
    r->rc = cv_queue_get(q, p, r->timeout);
    got = r->rc == CV_OK;
  }
  r->ret = test_now_ns();
  r->n = (uint8_t)got;
  for (size_t i = 0; i < got; i++) {
    r->items[i] = (uint32_t)((uintptr_t)p[i] - 1);
    l->held[l->nheld++] = r->items[i];
  }
  while (l->nheld > (done_at_once ? 0 : 3))
    task_done_one(l);
  return r->rc;
}

static void do_join(tlog *l) {
  rec *r = begin(l, O_JOIN);
  r->timeout = test_rand(&l->rng) % 4 == 0 ? CV_USEC(200) : CV_NOWAIT;
  r->call = test_now_ns();
  r->rc = cv_queue_join(q, r->timeout);
  r->ret = test_now_ns();
  r->v1 = 1;
}

/* `polls` join(CV_NOWAIT) calls in a row, as fast as they go: a join that
 * returns early does so when its thread is preempted between two of its own
 * loads, so the polls must be many and little else.  The clock is read
 * before the first, after every CV_OK, and after the last; a poll's
 * interval runs from the last reading before it to the first after it,
 * which holds its real one (wider only makes the check accept more).  A
 * poll that returns CV_OK gets a record of its own; polls that time out in
 * a row share one (v1 counts them). */
static void do_join_polls(tlog *l, int polls) {
  rec *run = NULL;
  int64_t before = test_now_ns();
  for (int i = 0; i < polls; i++) {
    int rc = cv_queue_join(q, CV_NOWAIT);
    if (rc == CV_ETIMEDOUT && run) {
      run->v1++;
      if ((i & 31) == 0) /* keeps the next OK's interval short */
        before = run->ret = test_now_ns();
      continue;
    }
    int64_t after = test_now_ns();
    if (run)
      run->ret = after;
    rec *r = begin(l, O_JOIN);
    r->call = before;
    r->ret = after;
    r->rc = rc;
    r->v1 = 1;
    before = after;
    run = rc == CV_ETIMEDOUT ? r : NULL;
    if (l->nops >= MAX_OPS)
      return;
  }
  if (run)
    run->ret = test_now_ns();
}

static void do_size(tlog *l) {
  rec *r = begin(l, O_SIZE);
  r->call = test_now_ns();
  r->v1 = cv_queue_size(q);
  r->ret = test_now_ns();
}

static void do_stats(tlog *l) {
  rec *r = begin(l, O_STATS);
  cv_queue_stats st;
  r->call = test_now_ns();
  r->rc = cv_queue_stats_get(q, &st);
  r->ret = test_now_ns();
  r->v1 = st.size;
  r->v2 = st.unfinished;
  r->v3 = st.puts;
  r->v4 = st.gets;
  r->v5 = st.discarded;
}

static rec end_op; /* the round's close or shutdown */
static int end_after; /* streaming: thread 0 ends the round after so many
                         calls; -1: the main thread ends it */

static atomic_int ended;

static void do_end(tlog *l) {
  if (atomic_exchange(&ended, 1))
    return; /* the other one came first */
  rec *r = begin(l, O_END);
  r->call = test_now_ns();
  if (end_mode == 0)
    r->rc = cv_queue_close(q);
  else
    r->rc = cv_queue_shutdown(q, end_mode == 1 ? CV_SHUTDOWN_DRAIN
                                               : CV_SHUTDOWN_IMMEDIATE);
  r->ret = test_now_ns();
  end_op = *r;
  atomic_store(&stop, 1);
}

static void *worker(void *arg) {
  tlog *l = arg;
  int id = (int)(l - logs);
  while (!atomic_load_explicit(&stop, memory_order_relaxed) &&
         l->nops < MAX_OPS) {
    /* A writer in full flow ends a streaming round, so that the ending
     * meets the others' calls in flight (a thread woken from a sleep to do
     * it would come late on a busy machine). */
    if (id == 0 && end_after >= 0 && l->nops >= end_after) {
      do_end(l);
      continue;
    }
    uint64_t x = test_rand(&l->rng) % 100;
    int rc = CV_OK;
    switch (l->role) {
    case WRITER:
      if (x < 95) {
        do_put(l, id);
        rc = l->ops[l->nops - 1].rc;
      } else if (x < 97) {
        do_join(l);
      } else {
        do_size(l);
      }
      break;
    case READER:
      rc = x < 90 ? do_get(l, true, pick_timeout(l)) : (do_join(l), CV_OK);
      break;
    case LOOPER:
      do_put(l, id);
      rc = l->ops[l->nops - 1].rc;
      if (rc == CV_OK || rc == CV_EFULL || rc == CV_ETIMEDOUT)
        rc = do_get(l, true, CV_FOREVER);
      break;
    case KEEPER:
      if (l->nheld == 0)
        rc = do_get(l, false, CV_FOREVER);
      else if (x < 2)
        task_done_one(l);
      else
        do_join_polls(l, 100);
      break;
    default:
      if (x < 80)
        do_join_polls(l, 1000);
      else if (x < 88)
        do_join(l);
      else if (x < 94)
        do_size(l);
      else
        do_stats(l);
    }
    if (rc == CV_ECLOSED || rc == CV_ESHUTDOWN)
      break; /* the ending has begun */
  }
  while (l->nheld > 0)
    task_done_one(l);
  return NULL;
}

/* ---- the model -------------------------------------------------------- */

/* A step function of time: intervals, each counting 1 from `a` to `b`.
 * lower(): an interval counts at t when a < t < b; min over [c, r].
 * upper(): when a <= t <= b; max over [c, r]. */
typedef struct ev {
  int64_t t;
  int d;
} ev;
typedef struct stepfn {
  ev *e;
  long n, cap;
  long *prefix;
  int ties; /* which delta sorts first at equal times: -1 (lower) or +1 */
} stepfn;

static int tie_order;
static int ev_cmp(const void *a, const void *b) {
  const ev *x = a, *y = b;
  if (x->t != y->t)
    return x->t < y->t ? -1 : 1;
  if (x->d == y->d)
    return 0;
  return x->d == tie_order ? -1 : 1;
}

static void fn_add(stepfn *f, int64_t a, int64_t b) {
  if (a >= b)
    return;
  if (f->n + 2 > f->cap) {
    f->cap = f->cap ? 2 * f->cap : 1024;
    f->e = realloc(f->e, (size_t)f->cap * sizeof(ev));
    CHECK(f->e != NULL);
  }
  f->e[f->n++] = (ev){a, +1};
  if (b != NOBODY)
    f->e[f->n++] = (ev){b, -1};
}

static void fn_seal(stepfn *f, int ties) {
  f->ties = ties;
  tie_order = ties;
  qsort(f->e, (size_t)f->n, sizeof(ev), ev_cmp);
  f->prefix = realloc(f->prefix, (size_t)(f->n + 1) * sizeof(long));
  CHECK(f->prefix != NULL);
  f->prefix[0] = 0;
  for (long k = 0; k < f->n; k++)
    f->prefix[k + 1] = f->prefix[k] + f->e[k].d;
}

/* Events that apply at time t (in the function's tie order). */
static long fn_first_after(const stepfn *f, int64_t t, bool include_t_ties) {
  long lo = 0, hi = f->n;
  while (lo < hi) {
    long mid = (lo + hi) / 2;
    const ev *e = &f->e[mid];
    bool before = e->t < t || (e->t == t && include_t_ties && e->d == f->ties);
    if (before)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* min over t in [c, r] of #{a < t < b} */
static long fn_min(const stepfn *f, int64_t c, int64_t r) {
  long k = fn_first_after(f, c, true); /* -1s at c applied, +1s not */
  long m = f->prefix[k];
  for (; k < f->n && f->e[k].t <= r; k++)
    if (f->e[k].d < 0 && f->prefix[k + 1] < m)
      m = f->prefix[k + 1];
  return m;
}

/* max over t in [c, r] of #{a <= t <= b} */
static long fn_max(const stepfn *f, int64_t c, int64_t r) {
  long k = fn_first_after(f, c, true); /* +1s at c applied, -1s not */
  long m = f->prefix[k];
  for (; k < f->n && f->e[k].t <= r; k++)
    if (f->e[k].d > 0 && f->prefix[k + 1] > m)
      m = f->prefix[k + 1];
  return m;
}

static stepfn unf_lo, unf_hi, size_lo, size_hi;
/* Two timestamps from different threads are compared only with this much
 * to spare (CV_HISTORY_SLACK_NS, default 2 us): the cores' clocks may
 * differ by a few ns (more in some VMs), and the instruction that reads the
 * clock is not ordered with the loads around it, so a call can act a little
 * before the time recorded for it.  With a 1 ns margin, this once made a
 * correct queue look wrong. */
static int64_t slack;
static int only_cast = -1; /* CV_HISTORY_CAST: 0 streaming, 1 looping */
static long violations;
static const char *kind_name;

static void violation(int t, const rec *r, const char *fmt, ...) {
  if (violations++ >= 5)
    return;
  fprintf(stderr, "%s: thread %d %s (rc CV_%s, %" PRId64 " ns): ", kind_name,
          t, op_names[r->kind], cv_err_name(r->rc), r->ret - r->call);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static int64_t shift(int64_t t, int64_t by) {
  return t == NOBODY ? NOBODY : t + by;
}

static void build_model(void) {
  for (int t = 0; t <= THREADS; t++) {
    tlog *l = &logs[t];
    for (int i = 0; i < l->nops; i++) {
      rec *r = &l->ops[i];
      switch (r->kind) {
      case O_PUT:
      case O_PUT_MANY:
        for (int j = 0; j < r->n; j++) {
          item *it = &items[r->items[j]];
          if ((uint64_t)j < r->v1) {
            it->put_call = r->call;
            it->put_ret = r->ret;
          } else {
            it->put_failed = true;
          }
        }
        break;
      case O_GET:
      case O_GET_MANY:
        for (int j = 0; j < r->n; j++) {
          item *it = &items[r->items[j]];
          it->got++;
          it->get_call = r->call;
          it->get_ret = r->ret;
        }
        break;
      case O_TASK_DONE:
        if (r->rc == CV_OK) {
          items[r->items[0]].td_call = r->call;
          items[r->items[0]].td_ret = r->ret;
        }
        break;
      }
    }
  }
  unf_lo.n = unf_hi.n = size_lo.n = size_hi.n = 0;
  for (int t = 0; t <= THREADS; t++) {
    for (uint32_t s = 0; s < logs[t].next_seq; s++) {
      item *it = &items[(uint32_t)t * PER_THREAD + s];
      if (it->put_ret == NOBODY)
        continue;
      int64_t gone_lo = it->discarded ? end_op.call : NOBODY;
      int64_t gone_hi = it->discarded ? end_op.ret : NOBODY;
      int64_t td_lo = it->td_call < gone_lo ? it->td_call : gone_lo;
      int64_t td_hi = it->td_ret < gone_hi ? it->td_ret : gone_hi;
      int64_t get_lo = it->get_call < gone_lo ? it->get_call : gone_lo;
      int64_t get_hi = it->get_ret < gone_hi ? it->get_ret : gone_hi;
      /* Lower bounds start later and end earlier by the slack, upper
       * bounds the other way round. */
      fn_add(&unf_lo, it->put_ret + slack, shift(td_lo, -slack));
      fn_add(&unf_hi, it->put_call - slack, shift(td_hi, slack));
      fn_add(&size_lo, it->put_ret + slack, shift(get_lo, -slack));
      fn_add(&size_hi, it->put_call - slack, shift(get_hi, slack));
    }
  }
  fn_seal(&unf_lo, -1);
  fn_seal(&size_lo, -1);
  fn_seal(&unf_hi, +1);
  fn_seal(&size_hi, +1);
}

static void check_items(void) {
  for (int t = 0; t <= THREADS; t++) {
    for (uint32_t s = 0; s < logs[t].next_seq; s++) {
      item *it = &items[(uint32_t)t * PER_THREAD + s];
      bool put = it->put_ret != NOBODY;
      if (put && it->got + it->discarded != 1) {
        if (violations++ < 5)
          fprintf(stderr, "%s: item %u put, then got %d and discarded %d "
                  "times\n", kind_name, s, it->got, it->discarded);
      }
      if (!put && (it->got || it->discarded)) {
        if (violations++ < 5)
          fprintf(stderr, "%s: item %u was never put but came out\n",
                  kind_name, s);
      }
      if (put && it->got && it->get_ret + slack < it->put_call) {
        if (violations++ < 5)
          fprintf(stderr, "%s: item %u got before its put was called\n",
                  kind_name, s);
      }
    }
  }
}

/* After a join that said "all done" too early: the items that were
 * certainly unfinished throughout it (times relative to its call). */
static void explain_unfinished(const rec *r) {
  int shown = 0;
  for (int u = 0; u <= THREADS && shown < 3; u++) {
    for (uint32_t x = 0; x < logs[u].next_seq && shown < 3; x++) {
      const item *it = &items[(uint32_t)u * PER_THREAD + x];
      if (it->put_ret != NOBODY && it->put_ret + slack < r->call &&
          it->td_call - slack > r->ret &&
          !(it->discarded && end_op.call < r->ret)) {
        fprintf(stderr, "  item %d/%u: put returned %" PRId64 " ns before, "
                "got %s, task_done %s\n", u, x, r->call - it->put_ret,
                it->got ? "yes" : "no",
                it->td_call == NOBODY ? "never" : "later");
        shown++;
      }
    }
  }
}

static void check_op(int t, const rec *r) {
  long lo, hi;
  switch (r->kind) {
  case O_JOIN:
    if (r->rc == CV_OK && (lo = fn_min(&unf_lo, r->call, r->ret)) >= 1) {
      violation(t, r, "said all done; at least %ld unfinished throughout",
                lo);
      if (violations <= 5)
        explain_unfinished(r);
    } else if (r->rc == CV_ETIMEDOUT && fn_max(&unf_hi, r->call, r->ret) == 0)
      violation(t, r, "timed out with nothing unfinished");
    else if (r->rc != CV_OK && r->rc != CV_ETIMEDOUT)
      violation(t, r, "unexpected code");
    break;
  case O_TASK_DONE:
    if (r->rc != CV_OK && (lo = fn_min(&unf_lo, r->call, r->ret)) >= 1)
      violation(t, r, "refused for a taken item; at least %ld unfinished "
                "throughout", lo);
    break;
  case O_SIZE:
  case O_STATS:
    lo = fn_min(&size_lo, r->call, r->ret);
    hi = fn_max(&size_hi, r->call, r->ret);
    if ((long)r->v1 < lo || (long)r->v1 > hi ||
        (capacity && r->v1 > capacity))
      violation(t, r, "size outside [%ld, %ld]", lo, hi);
    if (r->kind == O_STATS) {
      lo = fn_min(&unf_lo, r->call, r->ret);
      hi = fn_max(&unf_hi, r->call, r->ret);
      if ((long)r->v2 < lo || (long)r->v2 > hi)
        violation(t, r, "unfinished outside [%ld, %ld]", lo, hi);
      if (r->v3 != r->v4 + r->v5 + r->v1)
        violation(t, r, "puts %ld != gets + discarded + size (%ld)",
                  (long)r->v3, (long)(r->v4 + r->v5 + r->v1));
    }
    break;
  case O_PUT:
  case O_PUT_MANY:
    if (r->v1 > 0 && r->call > end_op.ret + slack)
      violation(t, r, "put after the close had returned");
    if ((r->rc == CV_ECLOSED || r->rc == CV_ESHUTDOWN) &&
        r->ret + slack < end_op.call)
      violation(t, r, "failed before the close");
    break;
  case O_GET:
  case O_GET_MANY:
    if ((r->rc == CV_ECLOSED || r->rc == CV_ESHUTDOWN) &&
        r->ret + slack < end_op.call)
      violation(t, r, "failed before the close");
    if (r->rc == CV_ECLOSED && (lo = fn_min(&size_lo, r->call, r->ret)) >= 1)
      violation(t, r, "drained with %ld items queued", lo);
    break;
  }
}

/* ---- a round ---------------------------------------------------------- */

static long total_ops, total_checks, total_polls;

static void one_round(const cv_queue_options *base, uint64_t seed) {
  for (int t = 0; t <= THREADS; t++)
    for (uint32_t s = 0; s < logs[t].next_seq; s++)
      items[(uint32_t)t * PER_THREAD + s] = fresh_item;
  uint64_t rng = seed;
  cv_queue_options o = *base;
  static const size_t caps[] = {2, 16, 256};
  if (o.capacity)
    o.capacity = caps[test_rand(&rng) % 3];
  capacity = o.capacity;
  o.destroy = on_discard;
  CHECK_OK(cv_queue_create(&q, &o));
  int cast = test_rand(&rng) % 4 == 0; /* looping, one round in four */
  if (only_cast >= 0)
    cast = only_cast;
  end_mode = (int)(test_rand(&rng) % 6);
  if (end_mode > 2)
    end_mode = 2; /* immediate two times in three: where the ring erred */
  atomic_store(&stop, 0);
  atomic_store(&ended, 0);
  for (int t = 0; t <= THREADS; t++) {
    logs[t].nops = logs[t].nheld = 0;
    logs[t].next_seq = 0;
    logs[t].rng = seed * 31 + (uint64_t)t + 1;
    logs[t].role = t < THREADS ? casts[cast][t] : OBSERVER;
  }
  /* Streaming rounds are short.  Half of them thread 0 ends in full flow
   * after 0-400 calls of its own; the other half the main thread ends
   * after 0-300 us asleep: its wake-up preempts a running thread, maybe
   * between two reads of a task_done, which is how an immediate shutdown
   * gets to fall between them.  Looping rounds are long (many polls of
   * join between the puts and task_dones): the main thread ends them after
   * 1-5 ms. */
  bool by_main = cast == 1 || test_rand(&rng) % 2;
  end_after = by_main ? -1 : (int)(test_rand(&rng) % 401);
  for (int t = 0; t < THREADS; t++)
    CHECK(pthread_create(&logs[t].th, NULL, worker, &logs[t]) == 0);
  tlog *m = &logs[MAIN];
  if (by_main) {
    long us = cast == 1 ? 1000 + (long)(test_rand(&rng) % 4000)
                        : (long)(test_rand(&rng) % 301);
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
  } else {
    /* Thread 0 may block, or the readers run out of calls, before it
     * gets there: then the main thread ends the round. */
    int64_t give_up = test_now_ns() + CV_MSEC(20);
    while (!atomic_load(&ended) && test_now_ns() < give_up)
      test_sleep_ms(1);
  }
  do_end(m);
  for (int t = 0; t < THREADS; t++)
    CHECK(pthread_join(logs[t].th, NULL) == 0);
  /* What is left: drained (and finished) by the main thread, then join. */
  while (do_get(m, true, CV_NOWAIT) == CV_OK) {
  }
  rec *r = begin(m, O_JOIN);
  r->timeout = CV_SEC(1);
  r->call = test_now_ns();
  r->rc = cv_queue_join(q, r->timeout);
  r->ret = test_now_ns();
  do_stats(m);

  build_model();
  check_items();
  for (int t = 0; t <= THREADS; t++) {
    total_ops += logs[t].nops;
    for (int i = 0; i < logs[t].nops; i++) {
      total_checks++;
      if (logs[t].ops[i].kind == O_JOIN)
        total_polls += (long)logs[t].ops[i].v1;
      check_op(t, &logs[t].ops[i]);
    }
  }
  /* After the drain and every task_done: nothing left, join returned. */
  if (m->ops[m->nops - 2].rc != CV_OK)
    violation(MAIN, &m->ops[m->nops - 2], "final join failed");
  CHECK_OK(cv_queue_destroy(q));
}

static void run_kind(const char *name, const cv_queue_options *o, bool locked,
                     bool symmetric, bool ring_kind) {
  long ms = test_env_long("CV_HISTORY_MS", 2000);
  if (!ring_kind)
    ms /= 6; /* the two accounting races were the ring's */
  long want = test_env_long("CV_HISTORY_ROUNDS", 0);
  cv__queue_force_locked = locked;
  cv__queue_force_symmetric = symmetric;
  kind_name = name;
  int64_t end = test_now_ns() + ms * 1000000;
  long rounds = 0;
  total_ops = total_checks = total_polls = 0;
  while (want ? rounds < want : (rounds == 0 || test_now_ns() < end)) {
    one_round(o, 0x9e3779b97f4a7c15ULL * (uint64_t)(rounds + 1));
    rounds++;
    if (violations) {
      fprintf(stderr, "%s: %ld violations in round %ld\n", name, violations,
              rounds);
      exit(1);
    }
  }
  printf("%-16s %5ld rounds, %8ld records checked (%ld joins)\n", name, rounds,
         total_checks, total_polls);
  cv__queue_force_locked = 0;
  cv__queue_force_symmetric = 0;
}

int main(void) {
  slack = test_env_long("CV_HISTORY_SLACK_NS", 2000);
  only_cast = (int)test_env_long("CV_HISTORY_CAST", -1);
  for (long i = 0; i < NITEMS; i++)
    items[i] = fresh_item; /* later rounds reset what they used */
  for (int t = 0; t <= THREADS; t++) {
    size_t n = t < THREADS ? MAX_OPS + 64 : 2 * NITEMS + 64;
    logs[t].ops = calloc(n, sizeof(rec));
    CHECK(logs[t].ops != NULL);
  }
  cv_queue_options fifo = {.order = CV_FIFO, .capacity = 16};
  cv_queue_options unbounded = {.order = CV_FIFO};
  cv_queue_options lifo = {.order = CV_LIFO, .capacity = 16};
  cv_queue_options prio = {.order = CV_PRIORITY, .capacity = 16,
                           .compare = cmp_items};
  const char *only = getenv("CV_TEST_IMPL");
  bool ring = cv__queue_have_ring && (!only || !*only ||
                                      strcmp(only, "ring") == 0);
  bool ring_sym = cv__queue_have_ring && (!only || !*only ||
                                          strcmp(only, "ring-symmetric") == 0);
  bool rest = !only || !*only || strcmp(only, "locked") == 0;
  if (ring)
    run_kind("ring", &fifo, false, false, true);
  if (ring_sym)
    run_kind("ring-symmetric", &fifo, false, true, true);
  if (rest) {
    run_kind("locked fifo", &fifo, true, false, false);
    run_kind("unbounded fifo", &unbounded, false, false, false);
    run_kind("lifo", &lifo, false, false, false);
    run_kind("priority", &prio, false, false, false);
  }
  for (int t = 0; t <= THREADS; t++)
    free(logs[t].ops);
  free(unf_lo.e);
  free(unf_hi.e);
  free(size_lo.e);
  free(size_hi.e);
  free(unf_lo.prefix);
  free(unf_hi.prefix);
  free(size_lo.prefix);
  free(size_hi.prefix);
  return 0;
}
