/* redact.c - URL passwords out of everything shown (see redact.h). */
#include "redact.h"

#include <stdlib.h>
#include <string.h>

/* Where the authority ("user:pw@host:port") of a URL ends: at the path,
 * query or fragment, or at anything that cannot be in a URL (the URL is
 * quoted inside a longer message). */
static size_t authority_end(const char *s, size_t i) {
  while (s[i] && !strchr("/?#\\ \t\r\n\"'<>", s[i]))
    i++;
  return i;
}

/* Appends `len` bytes of `src` to out (n bytes) at *o, keeping room for the
 * NUL. */
static void put(char *out, size_t n, size_t *o, const char *src, size_t len) {
  if (*o + 1 >= n)
    return;
  if (len > n - 1 - *o)
    len = n - 1 - *o;
  memcpy(out + *o, src, len);
  *o += len;
}

int pp_redact(const char *s, char *out, size_t n) {
  size_t o = 0, i = 0, copied = 0;
  int redacted = 0;
  if (n == 0)
    return 0;
  if (!s)
    s = "";
  while (s[i]) {
    if (s[i] != ':' || s[i + 1] != '/' || s[i + 2] != '/' || i == 0) {
      i++;
      continue;
    }
    size_t a = i + 3, end = authority_end(s, a);
    const char *at = NULL;
    for (size_t k = a; k < end; k++)
      if (s[k] == '@')
        at = s + k; /* the last '@': a password may contain one, a host not */
    const char *colon = at ? memchr(s + a, ':', (size_t)(at - (s + a))) : NULL;
    if (colon) {
      put(out, n, &o, s + copied, (size_t)(colon + 1 - (s + copied)));
      put(out, n, &o, "***", 3);
      copied = (size_t)(at - s);
      redacted = 1;
    }
    i = end;
  }
  put(out, n, &o, s + copied, strlen(s + copied));
  out[o] = '\0';
  return redacted;
}

char *pp_redact_dup(const char *s) {
  /* "***" is longer than a one- or two-character password: at most one
   * redaction per 5 input bytes ("a://:@"), so 2x is always enough. */
  size_t n = 2 * strlen(s ? s : "") + 8;
  char *out = malloc(n);
  if (out)
    pp_redact(s, out, n);
  return out;
}
