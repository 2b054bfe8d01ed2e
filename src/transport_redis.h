/* src/transport_redis.h - the transports of a distributed run's boundaries
 * (transport_redis.c), on the run of redis_run.h. */
#ifndef CONVEYOR_TRANSPORT_REDIS_H
#define CONVEYOR_TRANSPORT_REDIS_H

#include <stddef.h>

#include "conveyor/distributed.h"
#include "redis_run.h"
#include "transport.h"

/* The transport of boundary j (0..nstages).  Puts (boundary 0) and gets
 * (the output) are the coordinator's; close of boundary 0 closes the run's
 * input, of others does nothing (the server closes them); shutdown cancels
 * the run.  Stats are the whole run's (remote), with the other processes'
 * times and workers of stage j as they last published them. */
int cv__redis_transport(cv__redis *r, size_t j, const cv_codec *codec,
                        cv_destroy_fn drop, void *drop_arg,
                        cv__transport **out);

#endif /* CONVEYOR_TRANSPORT_REDIS_H */
