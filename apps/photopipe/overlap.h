/* overlap.h - originals are never written over.
 *
 * photopipe refuses an album that is, or is inside, a local source folder
 * (or the --watch folder), and a source that is, or is inside, the album: a
 * run would otherwise replace the originals with thumbnails of themselves,
 * and a watch would feed on its own output forever.  The test is made on
 * the file system, not on spellings: each folder on the way up from one
 * path is compared with the other by device and inode, so "./a", "a/../a",
 * a symlink and a bind mount of the same folder are all caught.  An album
 * that does not exist yet is judged by the folders it would be made in.
 *
 * Sources listed later (a --urls file, --prefix names, file:// URLs) are
 * checked one by one as they are listed (pp_inside).
 */
#ifndef PP_OVERLAP_H
#define PP_OVERLAP_H

#include <stddef.h>
#include <sys/types.h>

#include "options.h"

/* Checks a local album against the command line's local sources and the
 * watch folder.  Returns 0, or -1 with a reason (a usage error). */
int pp_check_overlap(const pp_options *o, char *reason, size_t reason_size);

/* 1 when `path` (a file or folder, which may not exist) is the folder
 * (dev, ino) or lies inside it, else 0. */
int pp_inside(const char *path, dev_t dev, ino_t ino);

/* The local path a source reads from: `src` itself for a file, the path of
 * a file:// URL (percent-decoded) into buf; NULL for other URLs. */
const char *pp_local_path(const char *src, int is_file, char *buf, size_t size);

#endif /* PP_OVERLAP_H */
