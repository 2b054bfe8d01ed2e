/* src/spsc.h - the single-producer single-consumer bounded FIFO behind a
 * cv_queue created with the hints producers = 1 and consumers = 1 (see
 * spsc.c).  queue.c checks the arguments; these functions keep the same
 * contract as queue.h and as ring.h's. */
#ifndef CONVEYOR_SPSC_H
#define CONVEYOR_SPSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conveyor/queue.h"

typedef struct cv__spsc cv__spsc;

/* `asymmetric`: see cv__event_init. */
int cv__spsc_create(cv__spsc **out, size_t capacity, bool asymmetric);
/* Destroys the items still queued and frees the ring.  No thread may use it. */
void cv__spsc_free(cv__spsc *s, cv_destroy_fn destroy, void *arg);
/* True while a thread sleeps in (or is on its way out of) a call on s. */
bool cv__spsc_busy(cv__spsc *s);

int cv__spsc_put(cv__spsc *s, void *const *items, size_t n, size_t *done,
                 int64_t timeout_ns);
int cv__spsc_get(cv__spsc *s, void **items, size_t max, size_t *got,
                 int64_t timeout_ns);
int cv__spsc_task_done(cv__spsc *s, size_t n);
int cv__spsc_join(cv__spsc *s, int64_t timeout_ns);
/* close (shutdown false) or shutdown(DRAIN) (shutdown true). */
void cv__spsc_close(cv__spsc *s, bool shutdown);
/* shutdown(IMMEDIATE): every queued item goes to destroy, called with no
 * lock held. */
void cv__spsc_discard(cv__spsc *s, cv_destroy_fn destroy, void *arg);

size_t cv__spsc_size(cv__spsc *s);
bool cv__spsc_is_closed(cv__spsc *s);
void cv__spsc_stats(cv__spsc *s, cv_queue_stats *out);

/* True when this build checks the single-producer single-consumer promise
 * (debug builds: NDEBUG undefined, or CV_SPSC_CHECK defined): overlapping
 * calls on one side abort with a message. */
extern const bool cv__spsc_checked;

#ifdef CV_SPSC_TEST_HOOKS
/* Test builds only: called between the two counter reads of unfinished(). */
extern void (*cv__spsc_test_between_reads)(void);
#endif

#endif /* CONVEYOR_SPSC_H */
