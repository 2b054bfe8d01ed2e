/* walk.h - the photos in a folder, and in its subfolders.
 *
 * A camera card keeps its photos a few folders down (DCIM/100CANON/...), so
 * a folder source is searched recursively unless told otherwise
 * (--no-recursive).  What is taken: regular files (or symlinks to them) with
 * an image extension (pp_is_image_name).  What is not: hidden files and
 * hidden folders (".thumbnails", an album's ".photopipe"), symlinks to
 * folders (never followed, so a link cannot make a loop or lead out of the
 * tree), anything that is not a regular file, and folders deeper than
 * PP_WALK_MAX_DEPTH.
 *
 * The order is stable: each folder's entries sorted by name (byte order),
 * a subfolder walked where its name sorts.  A rerun therefore lists the same
 * photos in the same order.  A subfolder that cannot be read is a warning on
 * stderr and the walk goes on; only the top folder being unreadable is an
 * error.
 */
#ifndef PP_WALK_H
#define PP_WALK_H

#include <stddef.h>

#include "source.h"

#define PP_WALK_MAX_DEPTH 64

/* Calls emit(arg, PP_SRC_FILE, path, NULL) for each photo under `dir`
 * (only directly in it unless `recursive`), adding to *found.  Returns 0,
 * 1 when emit asked to stop, or -1 with a reason. */
int pp_walk(const char *dir, int recursive, int quiet, pp_emit_fn emit, void *arg,
            size_t *found, char *reason, size_t reason_size);

#endif /* PP_WALK_H */
