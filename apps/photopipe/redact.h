/* redact.h - passwords in URLs never reach the terminal, a log or --json.
 *
 * A URL may carry credentials ("https://user:secret@host/dav/").  Every
 * message that shows a URL, or text that might quote one (libcurl's error
 * messages), goes through pp_redact first: in each "scheme://user:password@"
 * the password becomes "***".  A user name alone ("https://user@host/") is
 * kept: it is what tells two accounts apart.  The real URL is only ever
 * handed to libcurl. */
#ifndef PP_REDACT_H
#define PP_REDACT_H

#include <stddef.h>

/* Copies `s` to `out` (n bytes, always NUL-terminated, cut if too small)
 * with every URL password replaced by "***".  Returns 1 when something was
 * redacted, 0 when not. */
int pp_redact(const char *s, char *out, size_t n);

/* The same into a malloc'd string (the caller frees), or NULL when out of
 * memory. */
char *pp_redact_dup(const char *s);

#endif /* PP_REDACT_H */
