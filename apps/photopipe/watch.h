/* watch.h - --watch DIR: feed photos as they appear, until told to stop.
 *
 * The watch is set up first (inotify), then the photos already in the
 * folder are looked at, so no photo that arrives during start-up is missed.
 * Hidden files and files without an image extension are ignored, as in a
 * folder listing.  Subfolders are watched too (each gets its own inotify
 * watch, and a subfolder made later is watched from then on, its files
 * looked at), unless --no-recursive; hidden ones and symlinks to folders are
 * not, nor folders more than PP_WATCH_MAX_DEPTH down.  The inotify limit
 * on watches (fs.inotify.max_user_watches) bounds how many folders can be
 * watched; one over it is looked at once but not watched.
 *
 * A file is taken only once it is quiet: its last writer has closed it
 * (IN_CLOSE_WRITE, or it was renamed in: IN_MOVED_TO, which is how careful
 * writers publish), and neither an event nor its size or mtime changed for
 * `settle_ms` (--settle).  A copy written in several open/write/close steps,
 * or still being written when the watch starts, is therefore not taken half
 * done, as long as its writer does not pause for longer than the settle
 * time between steps.
 *
 * A file is fed again whenever it becomes quiet with other content than
 * when it was last fed: an overwritten photo is redone (the album's
 * manifest keeps its name), and one that failed is retried once it changes.
 * A file that becomes quiet unchanged (touched, or reopened and closed
 * without a write) is not fed again: another size means new content; the
 * same size with a new mtime is told apart by the content's SHA-256, taken
 * when the file was fed.
 *
 * The loop sleeps in poll(2) on the inotify descriptor and on `stop_fd`,
 * waking when the next file's settle time is up; anything readable on
 * stop_fd (a byte written by the signal handler) ends it at once.  The
 * watched folder being deleted, moved away or unmounted ends it with an
 * error.
 */
#ifndef PP_WATCH_H
#define PP_WATCH_H

#include <stddef.h>

#include "source.h"

#define PP_WATCH_MAX_DEPTH 64

/* Runs until stop_fd becomes readable or emit asks to stop.  Returns 0, or
 * -1 with a reason when the folder cannot be watched or went away. */
int pp_watch_run(const char *dir, long settle_ms, int recursive, int stop_fd, pp_emit_fn emit,
                 void *arg, char *reason, size_t reason_size);

#endif /* PP_WATCH_H */
