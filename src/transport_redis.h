/* src/transport_redis.h - a process's membership in a distributed run on a
 * Redis server, the transports of its boundaries, and the sessions its
 * workers take and commit items through.  See transport_redis.c for the
 * design and redis_scripts.c for the server side. */
#ifndef CONVEYOR_TRANSPORT_REDIS_H
#define CONVEYOR_TRANSPORT_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_url.h"
#include "conveyor/distributed.h"
#include "transport.h"

typedef struct cv__redis cv__redis;
typedef struct cv__redis_session cv__redis_session;

typedef struct cv__redis_config {
  cv__broker_addr addr;
  const char *run;
  bool coordinator;
  size_t nstages;
  const size_t *caps; /* nstages + 1 capacities, 0 = unbounded */
  int64_t lease_ns, timeout_ns;
  unsigned max_deliveries;
  size_t max_item_bytes;
  /* Called on the control thread when another process cancelled the run
   * (failed: it failed fast), or on any thread when the server stayed
   * unreachable past the timeout (code CV_EIO, msg names host:port). */
  void (*on_abort)(void *arg, bool failed, int code, size_t stage,
                   const char *msg);
  /* Workers of each stage in this process (nstages counts), and their
   * summed busy/starved/blocked times now (t[0..2]), published with each
   * heartbeat for the other processes' statistics. */
  const unsigned *nworkers;
  void (*local_times)(void *arg, size_t stage, int64_t t[3]);
  /* The first error this process recorded, for a cancellation that is a
   * failure: returns false if there is none. */
  bool (*first_error)(void *arg, int *code, size_t *stage, char *msg,
                      size_t len);
  void *cb_arg;
} cv__redis_config;

/* Connects (within the timeout), creates the run (coordinator) and starts
 * the heartbeat and control threads.  On failure writes a one-line message
 * (never the password) into err.  Returns CV_OK, CV_EIO (unreachable,
 * refused AUTH), CV_ESTATE (a coordinator found the run already there),
 * CV_ENOMEM, CV_ESYS. */
int cv__redis_open(cv__redis **out, const cv__redis_config *cfg, char *err,
                   size_t errlen);

/* Leaves the run: the coordinator deletes the run's keys, a worker its
 * heartbeat; then stops the heartbeat and control threads (so that no
 * callback runs any more).  Idempotent. */
void cv__redis_stop(cv__redis *r);
/* Stops (if not yet) and frees. */
void cv__redis_free(cv__redis *r);

/* The transport of boundary j (0..nstages).  Puts (boundary 0) and gets
 * (the output) are the coordinator's; close of boundary 0 closes the run's
 * input, of others does nothing (the server closes them); shutdown cancels
 * the run.  Stats are the whole run's (remote), with the other processes'
 * times and workers of stage j as they last published them. */
int cv__redis_transport(cv__redis *r, size_t j, const cv_codec *codec,
                        cv_destroy_fn drop, void *drop_arg,
                        cv__transport **out);

/* Blocks until the output is closed (every stage drained), the run was
 * cancelled or is gone, or the server was lost.  For the coordinator's
 * "the run is finished" reference. */
void cv__redis_wait_done(cv__redis *r);

/* Publishes this process's final statistics (its workers are done); the
 * heartbeat keeps them final.  Idempotent; nothing if the run was
 * cancelled. */
void cv__redis_publish_final(cv__redis *r);

/* After the run finished: waits (at most a lease) until every other live
 * process of the run has published its final statistics, so that the
 * summary holds all of their work. */
void cv__redis_wait_finals(cv__redis *r);

/* Copies the run's first error (a dead letter, a failure in another
 * process).  Returns false if there is none. */
bool cv__redis_first_error(cv__redis *r, int *code, size_t *stage, char *msg,
                           size_t len);

/* One entry taken by a session, and its items (an entry holds one item
 * or a packed batch: redis_scripts.c).  Valid until the next take. */
typedef struct cv__redis_entry {
  const char *id;
  size_t first, n; /* its items: items[first .. first + n) */
} cv__redis_entry;

typedef struct cv__redis_item {
  const char *data;
  size_t len;
} cv__redis_item;

/* What became of one taken entry's items, for the commit. */
typedef struct cv__redis_fate {
  const char *id;
  size_t ok, filtered, failed; /* its items: succeeded (filtered: of those,
                                  without outputs), failed */
  int code;          /* the first failure's code */
  const char *msg;   /* and message */
  size_t nout;       /* outputs, in order, in the commit's output list */
  size_t put_before; /* outputs already put in pieces (cv__redis_commit) */
  bool lost;         /* set by the commit: no longer ours, outputs dropped */
} cv__redis_fate;

/* A worker's connection to the stream of stage i.  Open on the controlling
 * thread (connect errors fail start), used by one worker thread. */
int cv__redis_session_open(cv__redis *r, size_t stage, unsigned worker,
                           cv__redis_session **out, char *err, size_t errlen);
void cv__redis_session_free(cv__redis_session *s);

/* Takes entries holding about `max` items (more if the entries are larger),
 * in stream order: timeout CV_NOWAIT (CV_EEMPTY if none) or CV_FOREVER.
 * `max` is also this stage's wish for items per entry, which the next
 * commit tells the run.  Returns CV_OK, CV_EEMPTY, CV_ECLOSED (the stage
 * drained, or the run is over), CV_ECANCELED, CV_ENOMEM, CV_EIO (server
 * lost: see the message). */
int cv__redis_take(cv__redis_session *s, size_t max,
                   const cv__redis_entry **e, size_t *n,
                   const cv__redis_item **items, int64_t timeout_ns);

/* Hands on the outputs and acknowledges the entries in one fenced step;
 * the outputs are packed into entries of the size the next stage asks for.
 * f[] in the order take gave them.  Waits for room downstream: timeout
 * CV_NOWAIT (CV_EFULL, nothing done) or CV_FOREVER.  Entries whose lease
 * was lost get `lost` set and their outputs are not written; *lost counts
 * them.  Returns CV_OK, CV_EFULL, CV_ECANCELED, CV_ENOMEM, CV_EIO. */
int cv__redis_commit(cv__redis_session *s, cv__redis_fate *f, size_t n,
                     char *const *outs, const size_t *lens, size_t nouts,
                     int64_t timeout_ns, size_t *lost);

/* Copies the message of the last CV_EIO. */
void cv__redis_error(cv__redis *r, char *buf, size_t len);

#endif /* CONVEYOR_TRANSPORT_REDIS_H */
