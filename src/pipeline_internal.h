/* src/pipeline_internal.h - the pipeline's private structures, shared by
 * pipeline.c (lifecycle), pipeline_worker.c (the threads' loops),
 * pipeline_stats.c (counters, summary, reports) and autotune.c.  See the
 * design notes at the top of pipeline.c. */
#ifndef CONVEYOR_PIPELINE_INTERNAL_H
#define CONVEYOR_PIPELINE_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "conveyor/pipeline.h"
#include "internal.h"
#include "transport.h"

#define CV__MSG_MAX 256
#define CV__CACHE_LINE 64

/* Where items go: a stage's input, or the pipeline's output.  Emitters hand
 * items to `t`; an item that cannot enter (the pipeline was cancelled) is
 * destroyed here and counted in `entry_dropped`.  The same destroy callback
 * serves the transport for items it discards. */
typedef struct cv__dest {
  cv__transport *t;
  cv_destroy_fn destroy;
  void *destroy_arg;
  _Atomic uint64_t entry_dropped;
} cv__dest;

/* Counters of one worker (or of the source).  Each has a single writer, the
 * worker itself, which updates them with relaxed load+store (no locked
 * instruction); readers on other threads sum them over the workers. */
typedef struct cv__counters {
  _Atomic uint64_t taken;     /* items taken from the input */
  _Atomic uint64_t succeeded; /* function returned CV_OK */
  _Atomic uint64_t out;       /* items emitted */
  _Atomic uint64_t filtered;  /* succeeded without emitting */
  _Atomic uint64_t failed;    /* function failed */
  _Atomic uint64_t cancelled; /* taken, then dropped by cancellation */
  _Atomic int64_t starved_ns; /* finished waits for input */
  _Atomic int64_t blocked_ns; /* finished waits to hand output on */
  _Atomic int64_t start_ns;   /* after worker_init; 0 = not running now */
  _Atomic int64_t life_ns;    /* summed lifetimes of the runs that ended (a
                                 worker of an automatic stage may run, leave
                                 and run again) */
  _Atomic int64_t wait_since; /* start of the wait in progress, 0 = none */
  _Atomic int wait_kind;      /* what that wait is (CV__WAIT_*) */
} cv__counters;

/* What a worker waits for (cv__counters.wait_kind). */
enum { CV__WAIT_STARVED = 1, CV__WAIT_BLOCKED = 2 };

/* Adds to a single-writer counter.  Release and acquire (plain moves on
 * x86) keep a worker's counters in the order it bumped them for a reader:
 * one that loads `succeeded` before `taken` never sees more items settled
 * than taken (pipeline_stats.c). */
#define CV__BUMP(field, n)                                                     \
  atomic_store_explicit(                                                       \
      &(field), atomic_load_explicit(&(field), memory_order_relaxed) + (n),    \
      memory_order_release)
#define CV__LOAD(field) atomic_load_explicit(&(field), memory_order_acquire)

typedef struct cv__stage cv__stage;

/* A worker thread of a stage, or the source thread (st == NULL).  It is
 * also the cv_stage_ctx handed to the functions it runs. */
struct cv_stage_ctx {
  cv__counters c; /* first, on its own cache line */
  char pad_[CV__CACHE_LINE]; /* keeps the counters off the fields below */

  cv_pipeline *p;
  cv__stage *st; /* NULL for the source */
  unsigned index;
  void *state; /* from worker_init */
  void *arg;   /* stage arg / source arg */
  cv__dest *dest; /* where emits go */
  pthread_t thread;
  bool thread_started; /* not yet joined */

  /* Automatic stages (autotune.c).  `retire` is set by the controller and
   * read by the worker between batches; `exited` is set by the worker as it
   * leaves, so that the controller joins it without waiting. */
  atomic_bool retire;
  atomic_bool exited;
  atomic_int tid;   /* kernel thread id, for its CPU time (0 = unknown) */
  bool late;        /* started by the controller after cv_pipeline_start */
  bool init_failed; /* its worker_init failed */

  /* The item being processed. */
  void *item;
  bool emitted_input; /* the function emitted `item` itself */
  uint64_t nemit;     /* emits during this call */
  uint64_t seq;       /* its sequence number (ordered stages) */
  bool has_msg;
  char msg[CV__MSG_MAX];

  /* Emits not yet handed on (unordered stages): flushed when full and after
   * each batch of inputs. */
  void **buf;
  size_t nbuf, bufcap;

  /* Last stage with a sink: outputs not yet given to the sink, kept while
   * another worker was in the sink or while fewer than sink_hold wait (see
   * sink_deliver in pipeline_worker.c). */
  void **sink_buf;
  size_t sink_n;
  size_t sink_hold; /* outputs a worker may keep before it calls the sink */

  /* The smoothed cost of one item in ns.  CV_BATCH_AUTO: time from take to
   * the end of its batch, per item, which also sizes the next take
   * (auto_take).  Other stages: wall time per item over every
   * CV__COST_SAMPLE items taken (cost_n items since cost_t0), waits
   * included. */
  size_t auto_take;
  int64_t auto_cost_ns;
  uint64_t cost_n;
  int64_t cost_t0;
  char pad2_[CV__CACHE_LINE]; /* keeps the next worker's counters apart */
};

/* A slot of the reorder window: the outputs of one input. */
typedef struct cv__slot {
  void **items;
  size_t n, cap;
  bool done; /* the input's function has returned */
} cv__slot;

struct cv__stage {
  cv_pipeline *p;
  size_t index;
  char *name;
  cv_stage_fn fn;
  void *arg;
  unsigned nworkers; /* worker slots; for an automatic stage, the most
                        workers it may ever run at once */
  bool auto_workers; /* CV_WORKERS_AUTO: the controller runs 1..nworkers */
  atomic_uint alive; /* automatic: slots with a thread not yet joined */
  atomic_uint peak;  /* automatic: most alive at once */
  size_t capacity; /* 0 = unbounded (queue convention) */
  bool ordered;
  size_t window;
  size_t batch;    /* most items per take; CV_BATCH_AUTO_MAX when auto */
  bool batch_auto; /* takes sized from the measured cost per item */
  cv_worker_init_fn init;
  cv_worker_finish_fn finish;

  cv__dest in;   /* this stage's input */
  cv__dest *out; /* the next stage's input, or the pipeline's output */
  cv_stage_ctx *workers;
  atomic_uint live; /* workers not yet finished: the last one closes out */

  /* Ordered stages.  take_mu serialises "take items + number them";
   * ord_mu guards the window.  Lock order: take_mu, then ord_mu. */
  pthread_mutex_t take_mu;
  pthread_mutex_t ord_mu;
  pthread_cond_t ord_cond; /* the window moved, or cancellation */
  unsigned ord_waiters;
  uint64_t next_seq; /* next number to give (under take_mu) */
  uint64_t base;     /* oldest number not yet released (under ord_mu) */
  bool flushing;     /* a worker is releasing slots (under ord_mu) */
  cv__slot *slots;   /* `window` slots, number % window */
};

struct cv_pipeline {
  char *name;
  cv_error_policy policy;
  cv_error_fn error_cb;
  void *error_arg;
  cv_destroy_fn item_destroy;
  void *item_destroy_arg;
  bool ordered;
  size_t output_capacity;
  bool output_capacity_auto; /* sized at start (output_capacity_for) */
  cv_source_fn source;
  void *source_arg;
  cv_sink_fn sink;
  void *sink_arg;
  bool sink_concurrent; /* calls may overlap: no sink_mu */
  cv_progress_fn progress;
  void *progress_arg;
  int64_t progress_interval_ns;
  unsigned max_workers; /* 0 = default (autotune.c) */
  unsigned cpu_budget;  /* 0 = online CPUs */
  cv_tune_fn tune_cb;
  void *tune_arg;
  int64_t tune_interval_ns;
  struct cv__tune *tune; /* the controller; NULL without automatic stages */

  cv__stage **stages;
  size_t nstages, stages_cap;
  cv__dest output;

  /* Lifecycle, under mu unless atomic. */
  pthread_mutex_t mu;
  pthread_cond_t cond; /* inits done, finished */
  bool start_called;
  bool have_transports; /* the queues exist (cancel shuts them down) */
  int init_rc;          /* first failing worker_init's code */
  atomic_bool ready;     /* queues exist; put/get allowed */
  atomic_bool cancelled; /* cancel requested: the workers' fast check */
  atomic_int async_cancel; /* set by cv_pipeline_cancel_async */
  atomic_bool closing;     /* destroy has begun: async cancels are refused */
  atomic_int async_users;  /* cv_pipeline_cancel_async calls in progress */
  int wake_fd[2];          /* the monitor sleeps on [0] */
  unsigned threads_running; /* workers + source + sink, + 1 during start */
  unsigned inits_pending;
  bool finished;
  int status; /* CV_OK, CV_ECANCELED, CV_EFAILED */
  int spawn_err; /* pthread_create's error when start could not make a thread */
  int64_t start_ns, end_ns;

  /* The first error (any policy), under mu. */
  int err_code;
  const char *err_stage;
  char err_msg[CV__MSG_MAX];

  cv_stage_ctx *source_ctx;
  pthread_t source_thread, monitor_thread;
  bool source_started, monitor_started;

  /* The sink's lock and counters, which the last stage's workers write on
   * every turn at the sink: on cache lines of their own, away from the
   * fields every put and every worker reads (source, sink, cancelled...),
   * which would otherwise move between CPUs with each turn. */
  alignas(CV__CACHE_LINE) pthread_mutex_t sink_mu; /* one sink call at a time (see sink_deliver) */
  _Atomic uint64_t sink_taken, sink_ok, sink_failed, sink_dropped;
  alignas(CV__CACHE_LINE) char sink_end_; /* nothing else on their lines */

  pthread_mutex_t join_mu;
  bool joined;

  /* A distributed run (the conveyor_redis library, pipeline_dist.c):
   * cv_pipeline_set_broker sets both; the core calls the hooks if set. */
  const struct cv__dist_hooks *dist_hooks;
  struct cv__dist *dist;
  const struct cv__pipeline_core *core; /* always &the core's table */
};

/* The arrows between the core and the optional conveyor_redis library go
 * through two tables, so that libconveyor needs nothing but libc and
 * pthreads and exports nothing but its public API.  The core calls the
 * run's hooks (installed by cv_pipeline_set_broker); the run calls back
 * into the core through p->core (the core's internals, pipeline.c).  Both
 * libraries come from one source tree and one version: the run also reads
 * the structures declared here. */
typedef struct cv__dist_hooks {
  int (*open)(cv_pipeline *p); /* connect; before any transport */
  /* The transport of a boundary: stage i's input, or the output (i = n). */
  int (*transport)(cv_pipeline *p, size_t boundary, cv__transport **out);
  void (*run)(cv_stage_ctx *w); /* a worker's loop */
  void (*stop)(cv_pipeline *p); /* no callback from the run after this */
  void (*free)(cv_pipeline *p); /* after the transports are destroyed */
} cv__dist_hooks;

typedef struct cv__pipeline_core {
  /* Runs the stage function on one item (counts, error policy, ownership). */
  int (*stage_process)(cv_stage_ctx *w, void *item);
  void (*stage_report_failure)(cv_stage_ctx *w, int code, void *item);
  void (*stage_auto_adjust)(cv_stage_ctx *w, size_t n, int64_t ns);
  int64_t (*stage_wait_begin)(cv_stage_ctx *w, bool blocked);
  void (*stage_wait_end)(cv_stage_ctx *w, bool blocked, int64_t t0);
  void (*abort)(cv_pipeline *p, int status, const char *stage, int code,
                const char *msg);
  void (*record_error)(cv_pipeline *p, const char *stage, int code,
                       const char *msg);
  bool (*failure)(cv_pipeline *p, int *code, size_t *stage, char *msg,
                  size_t len);
  void (*hold)(cv_pipeline *p);    /* one more reference on "finished" */
  void (*release)(cv_pipeline *p); /* and its end */
  /* Reads the output into the sink until it is closed and drained. */
  void (*sink_drain)(cv_pipeline *p);
  /* This process's own workers' times and count for stage i (what a
   * distributed run publishes for the others to add up). */
  void (*stage_local_stats)(const cv_pipeline *p, size_t i,
                            cv_stage_stats *out);
} cv__pipeline_core;

/* pipeline_stats.c */
void cv__stage_stats_fill(const cv_pipeline *p, size_t i, cv_stage_stats *out);
/* Stage i's busy/starved/blocked times and worker counts, from this
 * process's workers only (no transport is asked). */
void cv__stage_local_stats(const cv_pipeline *p, size_t i,
                           cv_stage_stats *out);

#endif /* CONVEYOR_PIPELINE_INTERNAL_H */
