/* src/ring.h - the lock-free bounded FIFO behind cv_queue (see ring.c).
 *
 * cv_queue uses it for every bounded FIFO queue on Linux; queue.c checks the
 * arguments and these functions implement the same contract as queue.h. */
#ifndef CONVEYOR_RING_H
#define CONVEYOR_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conveyor/queue.h"

typedef struct cv__ring cv__ring;

/* `asymmetric`: see cv__event_init. */
int cv__ring_create(cv__ring **out, size_t capacity, bool asymmetric);
/* Destroys the items still queued and frees the ring.  No thread may use it. */
void cv__ring_free(cv__ring *r, cv_destroy_fn destroy, void *arg);
/* True while a thread sleeps in a call on r. */
bool cv__ring_busy(cv__ring *r);

int cv__ring_put(cv__ring *r, void *const *items, size_t n, size_t *done,
                 int64_t timeout_ns);
int cv__ring_get(cv__ring *r, void **items, size_t max, size_t *got,
                 int64_t timeout_ns);
int cv__ring_task_done(cv__ring *r, size_t n);
int cv__ring_join(cv__ring *r, int64_t timeout_ns);
/* close (shutdown false) or shutdown(DRAIN) (shutdown true). */
void cv__ring_close(cv__ring *r, bool shutdown);
/* shutdown(IMMEDIATE): every queued item goes to destroy (mutex-free: the
 * callback runs in the calling thread with no lock held). */
void cv__ring_discard(cv__ring *r, cv_destroy_fn destroy, void *arg);

size_t cv__ring_size(cv__ring *r);
bool cv__ring_is_closed(cv__ring *r);
void cv__ring_stats(cv__ring *r, cv_queue_stats *out);

/* cv_queue_create with flags.  CV__QUEUE_ASYMMETRIC (what cv_queue_create
 * uses) makes a ring's sleepers pay for the barrier that pairs with every
 * put and get (membarrier); without it each put and get pays a full barrier
 * and sleeping stays cheap: the better trade for queues served by many more
 * threads than cores, such as a pipeline's. */
#define CV__QUEUE_ASYMMETRIC 1u
int cv__queue_create_ex(cv_queue **out, const cv_queue_options *opts,
                        unsigned flags);

/* 1 when the library was built with the ring (Linux, CV_LOCKFREE=ON), 0 in
 * the portable build: there every queue is the mutex implementation, and
 * the functions above are not compiled.  Tests read it to skip what is
 * about the ring only. */
extern const int cv__queue_have_ring;

/* Tests set this to 1 before creating queues to exercise the mutex
 * implementation on bounded FIFO queues too. */
extern int cv__queue_force_locked;
/* Tests set this to 1 to make cv_queue_create build rings with the
 * symmetric barrier pairing that pipelines use. */
extern int cv__queue_force_symmetric;

#ifdef CV_RING_TEST_HOOKS
/* Test builds only (tests/queue_ring_wake.c): called between a claim and the
 * publication (the freeing) of the claimed slots. */
extern void (*cv__ring_test_after_claim)(void);
/* Called between the two reads that count unfinished items (in task_done,
 * join and stats), where another thread's put, task_done or discard could
 * fall (tests/queue_ring_accounting.c). */
extern void (*cv__ring_test_mid_count)(void);
#endif

#endif /* CONVEYOR_RING_H */
