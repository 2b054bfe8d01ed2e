/* watch.h - --watch DIR: feed photos as they appear, until told to stop.
 *
 * The watch is set up first (inotify: IN_CLOSE_WRITE, a file written and
 * closed; IN_MOVED_TO, a file renamed into the folder, which is how careful
 * writers publish), then the photos already in the folder are listed, so no
 * photo that arrives during start-up is missed.  A file is fed once per run
 * however many events it gets.  Hidden files and files without an image
 * extension are ignored, as in a directory listing.
 *
 * The loop sleeps in poll(2) on the inotify descriptor and on `stop_fd`;
 * anything readable on stop_fd (a byte written by the SIGINT handler) ends
 * it at once.
 */
#ifndef PP_WATCH_H
#define PP_WATCH_H

#include <stddef.h>

#include "source.h"

/* Runs until stop_fd becomes readable or emit asks to stop.  Returns 0, or
 * -1 with a reason when the folder cannot be watched. */
int pp_watch_run(const char *dir, int stop_fd, pp_emit_fn emit, void *arg,
                 char *reason, size_t reason_size);

#endif /* PP_WATCH_H */
