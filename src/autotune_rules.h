/* src/autotune_rules.h - the worker controller's decision (autotune_rules.c)
 * as a pure function: measurements of one interval in, changes out.  The
 * controller (autotune.c) measures the pipeline, calls cv__tune_decide and
 * starts or parks the workers it names; tests feed it made-up measurements
 * (tests/pipeline_autotune_rules.c). */
#ifndef CONVEYOR_AUTOTUNE_RULES_H
#define CONVEYOR_AUTOTUNE_RULES_H

#include <stdbool.h>
#include <stddef.h>

/* One stage over one interval.  Times are worker-equivalents: 1.0 is one
 * worker busy (or one CPU used) for the whole interval. */
typedef struct cv__tune_meas {
  bool is_auto;     /* CV_WORKERS_AUTO: the rules may change it */
  unsigned n;       /* workers asked to stay */
  unsigned threads; /* its threads that count toward the thread limit
                       (parked ones not yet joined included) */
  unsigned room;    /* more workers its slots would allow */
  double busy;      /* busy time */
  double cpu;       /* CPU time of its threads */
  double load;      /* CPUs it keeps busy: busy (computing) or cpu (I/O) */
  double fill;      /* its input queue, 0..1 */
  double asleep;    /* busy time neither on a CPU nor waiting for one */
  bool io;          /* its busy time is mostly asleep: it waits on I/O */
} cv__tune_meas;

/* Sets io and load of each stage from busy, cpu and asleep, given the CPUs
 * the whole process used (proc).  CPU time the workers did not use was used
 * by threads that are not workers; a library's thread pool computing while
 * a worker sleeps for its result is the common case.  That time goes to the
 * stages whose workers sleep while busy, the one whose sleep is closest to
 * it first, as much as each one slept: a stage whose sleep it covers
 * computes rather than waits (its cpu grows by what it was given). */
void cv__tune_classify(cv__tune_meas *m, size_t nstages, double proc);

/* What the rules remember of a stage between intervals (zero at start). */
typedef struct cv__tune_memory {
  int hold;     /* intervals to wait before the stage changes again */
  bool surplus; /* it had idle workers at the last interval too */
  bool no_grow; /* a worker_init failed: start no more workers */
} cv__tune_memory;

typedef struct cv__tune_view {
  size_t nstages;
  const cv__tune_meas *m; /* nstages of them */
  cv__tune_memory *mem;   /* nstages of them; cv__tune_decide updates it */
  double proc;            /* CPUs the whole process used */
  unsigned cpu_budget;    /* CPUs the pipeline may keep busy */
  unsigned max_workers;   /* threads the pipeline may run */
  const char *const *names; /* stage names for the reasons (or NULL) */
} cv__tune_view;

enum { CV__TUNE_PARK = 1, CV__TUNE_GROW, CV__TUNE_GIVE };

/* A change: stage `stage` goes from `from` workers to `to`.  GIVE is a park
 * that makes room under the thread limit for the bottleneck. */
typedef struct cv__tune_action {
  int kind;
  size_t stage;
  unsigned from, to;
  char why[200];
} cv__tune_action;

/* Decides once per interval: counts the holds down, then parks surplus
 * workers, grows the bottleneck or has another stage give it a worker.
 * Writes at most nstages + 1 actions to `out` and returns their number.
 * The caller carries them out; one it cannot (no worker started or parked)
 * it undoes with cv__tune_undo. */
size_t cv__tune_decide(const cv__tune_view *v, cv__tune_action *out);
void cv__tune_undo(const cv__tune_view *v, const cv__tune_action *a);

#endif /* CONVEYOR_AUTOTUNE_RULES_H */
