/* source.h - where photos come from: listing sources and reading local files.
 *
 * Sources, in the order given:
 *   - a directory: its regular files with an image extension (.jpg, .jpeg,
 *     .png, .webp, .tif, .tiff, .gif, .heic, .heif, .avif; any case), and
 *     those of its subfolders unless --no-recursive (walk.h), sorted by
 *     name, hidden files skipped (a camera folder's sidecar files are not
 *     photos; a single file named explicitly is always tried); a folder with
 *     no photo is a warning on stderr;
 *   - a local file;
 *   - an http://, https:// or file:// URL;
 *   - with --prefix URL, each argument or --urls line is a name appended to
 *     URL (each path segment percent-encoded);
 *   - --urls FILE ("-" = stdin): one source per line; blank lines and lines
 *     starting with '#' are skipped, and so is a UTF-8 byte-order mark;
 *   - each is checked against the protocols allowed for where it came from
 *     (protocols.h) before it is looked at.
 * Listing streams: a huge --urls file is never held in memory, the source
 * waits on the pipeline's back-pressure instead.
 */
#ifndef PP_SOURCE_H
#define PP_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"

typedef enum pp_src_kind {
  PP_SRC_FILE = 0, /* local path, read directly */
  PP_SRC_URL,      /* URL, name from its last path segment */
  PP_SRC_PREFIXED, /* URL built from --prefix + name; name from the name */
  PP_SRC_REFUSED   /* a protocol not allowed (protocols.h): raw_name is the
                      reason, and nothing about the source was looked at */
} pp_src_kind;

/* Called once per listed photo with its source (the URL or path) and, for
 * PP_SRC_PREFIXED, the name as given.  Returns 0 to go on, non-zero to stop
 * listing (e.g. Ctrl-C). */
typedef int (*pp_emit_fn)(void *arg, pp_src_kind kind, const char *src,
                          const char *raw_name);

/* Lists every source of `o` in order.  Returns 0, 1 when `emit` asked to
 * stop, or -1 with a reason (an unreadable directory or --urls file). */
int pp_source_list(const pp_options *o, pp_emit_fn emit, void *arg,
                   char *reason, size_t reason_size);

/* True when `name` has one of the image extensions above. */
int pp_is_image_name(const char *name);

/* Reads a whole local file into a malloc'd buffer.  Refuses non-regular
 * files (a FIFO, a device: opened without blocking, so a FIFO nobody writes
 * to cannot hang the run) and files over max_bytes.  Returns 0, or -1 with
 * a reason and errno set (EMFILE, ENOMEM... say to try again later). */
int pp_read_file(const char *path, uint64_t max_bytes, unsigned char **data,
                 size_t *len, char *reason, size_t reason_size);

#endif /* PP_SOURCE_H */
