/* src/redis_run.h - a process's membership in a distributed run on a Redis
 * server (redis_run.c).  The first part is for the pipeline
 * (pipeline_dist.c); the second is what the run's boundary transports
 * (transport_redis.c) and worker sessions (redis_session.c) build on. */
#ifndef CONVEYOR_REDIS_RUN_H
#define CONVEYOR_REDIS_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_url.h"
#include "redis_conn.h"
#include "transport.h"

typedef struct cv__redis cv__redis;

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

/* Copies the message of the last CV_EIO. */
void cv__redis_error(cv__redis *r, char *buf, size_t len);

/* ---- for the run's transports and sessions ------------------------------ */

#define CV__RUN_MAX 64       /* longest run name */
#define CV__CONSUMER_MAX 160 /* a consumer name: proc and where it takes */
#define CV__KEY_MAX 512      /* a key name */

/* A process's membership in a run.  Its transports and sessions read the
 * names (prefix, proc), cfg, caps, sh, gen and cancelled, and use misc
 * under misc_mu; the rest is redis_run.c's. */
struct cv__redis {
  cv__redis_config cfg;
  cv__broker_addr addr;
  size_t *caps;
  char prefix[CV__RUN_MAX + 16]; /* "cv:{run}:" */
  char proc[96];  /* host-pid-random */
  char hbkey[CV__KEY_MAX];
  cv__rshared sh;
  atomic_uint_fast64_t gen;  /* bumped by every control message */
  atomic_bool cancelled;     /* the run was cancelled */
  atomic_bool cancel_sent;   /* this process asked for it already */
  atomic_bool aborted;       /* on_abort was called */

  unsigned *nworkers;        /* per stage, in this process */
  pthread_mutex_t beat_mu;   /* one beat at a time, on hb */
  bool final_sent;           /* under beat_mu */

  pthread_mutex_t misc_mu;
  cv__rconn misc;
  cv__rconn hb, sub, ctl;
  pthread_t hb_thread, ctl_thread;
  bool hb_started, ctl_started;
  bool stopped; /* cv__redis_stop ran */
};

/* The run's state as the server has it now. */
typedef struct cv__rstate {
  bool exists;
  redisReply *rep; /* {1, {k, v, ...}, {xlen...}} */
} cv__rstate;

/* Reads the state over the misc connection.  CV_OK (then free it with
 * cv__rstate_free), or the connection's error. */
int cv__rstate_get(cv__redis *r, cv__rstate *st);
/* A field of the run's hash, or NULL if there is none (or no run). */
const char *cv__rstate_str(const cv__rstate *st, const char *name);
/* The number in field "name:j" (name alone if j is SIZE_MAX); 0 if none. */
int64_t cv__rstate_num(const cv__rstate *st, const char *name,
                            size_t j);
/* The length of stream j; 0 if none. */
uint64_t cv__rstate_xlen(const cv__rstate *st, size_t j);
void cv__rstate_free(cv__rstate *st);

/* Adds the other processes' published times and workers of stage j. */
void cv__redis_sum_others(const cv__redis *r, const cv__rstate *st,
                          size_t j, cv__transport_stats *out);

/* Waits until gen moves past `seen`, or ns pass, or stop. */
void cv__redis_wait_gen(cv__redis *r, uint64_t seen, int64_t ns);

/* The server stayed unreachable past the timeout: aborts the run here
 * (on_abort with CV_EIO and the connection's message), once. */
void cv__redis_server_lost(cv__redis *r);

/* Cancels the run for every process, as a failure if cfg.first_error has
 * one; the first call sends it, later ones only mark the run cancelled. */
void cv__redis_cancel(cv__redis *r);

/* Waits (BLMOVE) for one free slot of boundary j into consumer's held
 * list, up to `ns` (or lease/2 at most).  Returns CV_OK (a slot, or a
 * wake-up: the caller looks again), CV_EIO, CV_ECANCELED. */
int cv__redis_wait_slot(cv__redis *r, cv__rconn *k, size_t j,
                        const char *consumer, uint64_t seen, int64_t ns);

/* Runs the put script over `conn` for the k encoded items `data` into
 * boundary j, packed `pack` to an entry.  *got is how many the stage took
 * (whole entries, as many as there were slots for), or the script's -1
 * closed, -2 cancelled, -3 gone; *wish becomes the items per entry the
 * boundary asks for, *left the slots still free.  CV_ENOMEM, or the
 * connection's error. */
int cv__redis_eval_put(cv__rconn *conn, const cv__redis *r, size_t j,
                       const char *consumer, char *const *data,
                       const size_t *lens, size_t k, size_t pack,
                       size_t *wish, long long *got, size_t *left);

#endif /* CONVEYOR_REDIS_RUN_H */
