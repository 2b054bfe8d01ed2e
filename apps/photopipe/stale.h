/* stale.h - temporary files left in a local album by runs that died.
 *
 * A photo is written to ".NAME.ppPID-SEQ.tmp" and renamed into place
 * (upload.h).  A run killed with SIGKILL (or by a power cut) never gets to
 * remove its temporary file.  At the start of a run, a file of exactly that
 * shape whose PID is not a live process (kill(PID, 0) fails with ESRCH) is
 * removed.  A file whose PID is alive is left alone, whoever owns that PID:
 * it may be a concurrent run writing into the same album, and a leftover
 * kept too long is harmless, while a file removed under a live writer would
 * fail its photo.
 */
#ifndef PP_STALE_H
#define PP_STALE_H

#include <stddef.h>
#include <sys/types.h>

/* Parses a temporary file name.  Returns 1 and sets *pid when `name` has
 * the shape above, else 0. */
int pp_stale_parse(const char *name, pid_t *pid);

/* Removes the stale temporary files in folder `dir`.  Returns how many were
 * removed (0 when the folder cannot be read). */
size_t pp_stale_clean(const char *dir);

/* Removes every temporary file in folder `dir` whose name holds `tag`
 * (".pp+RRRRRRRR+": a distributed run's, broker.h), whatever its PID: for
 * the coordinator, once every photo of its run has been committed.
 * Returns how many were removed. */
size_t pp_stale_clean_tagged(const char *dir, const char *tag);

#endif /* PP_STALE_H */
