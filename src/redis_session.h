/* src/redis_session.h - the sessions through which a process's workers
 * take and commit the items of a distributed run (redis_session.c), on the
 * run of redis_run.h. */
#ifndef CONVEYOR_REDIS_SESSION_H
#define CONVEYOR_REDIS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_run.h"

typedef struct cv__redis_session cv__redis_session;

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

#endif /* CONVEYOR_REDIS_SESSION_H */
