/* fdlimit.c - network workers within the descriptor limit (see fdlimit.h). */
#include "fdlimit.h"

#include <stdio.h>
#include <sys/resource.h>

int pp_fit_fd_limit(pp_options *o, int quiet) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit up = {rl.rlim_max, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0)
      rl = up;
  }
  if (rl.rlim_cur == RLIM_INFINITY)
    return 0;
  long room = ((long)rl.rlim_cur - PP_FD_BASE) / PP_FD_PER_NET_WORKER;
  if (room < 2)
    room = 2; /* one of each: slow, but the EMFILE retries may still carry it */
  int d = o->workers[0], u = o->workers[2];
  if (d + u <= room)
    return 0;
  /* Shrink the larger share first, keeping at least one of each. */
  while (d + u > room && (d > 1 || u > 1)) {
    if (d >= u && d > 1)
      d--;
    else
      u--;
  }
  if (!quiet)
    fprintf(stderr,
            "photopipe: warning: only %ld file descriptors (ulimit -n): %d download and %d "
            "upload workers instead of %d and %d\n",
            (long)rl.rlim_cur, d, u, o->workers[0], o->workers[2]);
  o->workers[0] = d;
  o->workers[2] = u;
  if (o->capacity[0] > 2 * d)
    o->capacity[0] = 2 * d;
  if (o->capacity[2] > 2 * u)
    o->capacity[2] = 2 * u;
  return 1;
}
