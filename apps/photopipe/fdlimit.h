/* fdlimit.h - fitting the network workers to the file descriptor limit.
 *
 * Each download or upload worker keeps one connection open (keep-alive is
 * what makes a WebDAV album fast) and may hold a file or a resolver's
 * socket pair besides; under a low `ulimit -n` the workers then take every
 * descriptor and starve each other: each open() or connect() fails with
 * EMFILE.  So at start the soft limit is raised to the hard one, and if it
 * is still too low for the workers asked for, they are reduced, with a
 * warning, until they fit.  What is left of EMFILE (other processes'
 * descriptors, a limit lowered later) is a transient error, retried. */
#ifndef PP_FDLIMIT_H
#define PP_FDLIMIT_H

#include "options.h"

/* Descriptors a run needs besides its network workers: stdio, pipes,
 * the album, its manifest (SQLite: the database, its WAL and shared
 * memory), a watch's inotify, libraries' own. */
#define PP_FD_BASE 16
/* Per download or upload worker: a connection or file, and a resolve. */
#define PP_FD_PER_NET_WORKER 3

/* Raises RLIMIT_NOFILE's soft limit to the hard one and reduces
 * o->workers[0] and o->workers[2] (and their queues) to fit it.  Returns 1
 * when it reduced them (after printing a warning unless `quiet`), else 0. */
int pp_fit_fd_limit(pp_options *o, int quiet);

#endif /* PP_FDLIMIT_H */
