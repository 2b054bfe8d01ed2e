/* names.h - turning a source (URL or path) into a safe, unique album name.
 *
 * The album name is the only part of a source that reaches the album's file
 * system (or URL space), so it is where hostile input is stopped:
 *   - a name that would leave the album is refused: "." and "..", a ".."
 *     path segment or an absolute path in a --prefix name, a '/' or '\'
 *     smuggled in through percent-encoding (%2F, %5C);
 *   - a NUL byte (raw or %00, the "evil.php%00.jpg" truncation trick) is
 *     refused;
 *   - control characters become '_', leading dots are dropped (no hidden
 *     files, no clash with photopipe's own ".*.tmp" files);
 *   - a name longer than PP_NAME_MAX bytes is shortened at a UTF-8 boundary,
 *     keeping its extension;
 *   - two sources that would get the same name (compared case-insensitively,
 *     for case-insensitive albums) are told apart with a "-2", "-3", ...
 *     suffix by the album's manifest (manifest.h), which remembers which
 *     source holds which name across runs.
 */
#ifndef PP_NAMES_H
#define PP_NAMES_H

#include <stddef.h>

/* Longest album name we produce, in bytes.  NAME_MAX is 255; the rest leaves
 * room for the temporary file's prefix and suffix and a collision suffix. */
#define PP_NAME_MAX 200

/* Sanitises `raw` (exactly `len` bytes, which may include NUL) into `out`
 * (at least PP_NAME_MAX + 1 bytes).  Returns 0, 1 when the name had to be
 * shortened, or -1 with a static one-line reason in *why. */
int pp_name_sanitize(const char *raw, size_t len, char *out, const char **why);

/* The album name for a URL: its last path segment (query and fragment
 * dropped), percent-decoded, then sanitised.  Returns as pp_name_sanitize. */
int pp_name_from_url(const char *url, char *out, const char **why);

/* The album name for a --prefix name or a local path: refuses an absolute
 * path or any ".." segment, then takes the last segment.  Returns as
 * pp_name_sanitize. */
int pp_name_from_path(const char *path, char *out, const char **why);

/* Replaces the extension of `name` (in place, PP_NAME_MAX + 1 bytes of
 * room) with `ext` (".jpg"), or appends it when there is none. */
void pp_name_set_ext(char *name, const char *ext);

/* Percent-encodes `name` for use as one URL path segment.  Returns a
 * malloc'd string or NULL. */
char *pp_url_escape_segment(const char *name);

#endif /* PP_NAMES_H */
