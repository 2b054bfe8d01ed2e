/* src/redis_conn.h - one hiredis connection of a distributed run that
 * survives server restarts (redis_conn.c). */
#ifndef CONVEYOR_REDIS_CONN_H
#define CONVEYOR_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker_url.h"
#include "redis_scripts.h"

#define CV__ERR_MAX 256

/* What every connection of a process shares. */
typedef struct cv__rshared {
  const cv__broker_addr *addr;
  int64_t timeout_ns; /* connect timeout, and how long to retry */
  char sha[CV__LUA_COUNT][41]; /* loaded scripts */
  atomic_bool stopping;        /* give up retrying: the process leaves */
  atomic_bool lost;            /* one caller gave up on the server: the
                                  others fail at once too */
  pthread_mutex_t mu;          /* guards the registry and err */
  pthread_cond_t cond;         /* sleeps between retries end on stop */
  struct cv__rconn *blockers;  /* connections that make blocking calls */
  char err[CV__ERR_MAX];       /* the last unrecoverable error */
} cv__rshared;

typedef struct cv__rconn {
  cv__rshared *sh;
  redisContext *c;
  long long id;          /* CLIENT ID, for CLIENT UNBLOCK */
  atomic_int blocking;   /* inside a blocking command */
  bool reconnected;      /* set on each reconnect; the owner clears it */
  bool registered;
  struct cv__rconn *next;
} cv__rconn;

int cv__rshared_init(cv__rshared *sh, const cv__broker_addr *addr,
                     int64_t timeout_ns);
void cv__rshared_destroy(cv__rshared *sh);

/* Connects once (AUTH, SELECT, CLIENT ID).  `blocker` registers it for
 * cv__rconn_unblock_all.  On failure writes a message into err. */
int cv__rconn_open(cv__rconn *k, cv__rshared *sh, bool blocker, char *err,
                   size_t errlen);
void cv__rconn_close(cv__rconn *k);

/* Runs a command, reconnecting with back-off while the server is away, up
 * to the timeout.  An error reply is a reply (the caller looks).  Returns
 * CV_OK, CV_EIO (sh->err says why), CV_ECANCELED (stopping). */
int cv__rconn_cmd(cv__rconn *k, redisReply **out, int argc, const char **argv,
                  const size_t *lens);
/* The same for a printf-style command without binary arguments. */
int cv__rconn_cmdf(cv__rconn *k, redisReply **out, const char *fmt, ...);

/* Runs script `which` with the given arguments (no keys: the scripts build
 * their key names from ARGV[1]).  An error reply becomes CV_EIO with the
 * message in sh->err. */
int cv__rconn_eval(cv__rconn *k, int which, redisReply **out, int argc,
                   const char **argv, const size_t *lens);

/* A command that may block on the server: marked so that
 * cv__rconn_unblock_all can end it. */
int cv__rconn_block(cv__rconn *k, redisReply **out, int argc,
                    const char **argv, const size_t *lens, int64_t block_ns);

/* Ends the blocking commands of every registered connection, using `via`.
 * A command still on its way to the server is retried for a few ms. */
void cv__rconn_unblock_all(cv__rshared *sh, cv__rconn *via);

/* Sleeps up to ns, or until stopping. */
void cv__rshared_sleep(cv__rshared *sh, int64_t ns);

#endif /* CONVEYOR_REDIS_CONN_H */
