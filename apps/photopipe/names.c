/* names.c - album name sanitising (see names.h). */
#include "names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Length of the extension (including the dot) of name[0..len), 0 if none.
 * Only short, dot-led suffixes count, so "a.b.c-long-tail" has none. */
static size_t ext_len(const char *name, size_t len) {
  for (size_t i = len; i > 0 && len - i < 10; i--)
    if (name[i - 1] == '.')
      return i - 1 > 0 ? len - (i - 1) : 0;
  return 0;
}

/* Largest n <= max such that s[0..n) ends on a UTF-8 character boundary. */
static size_t utf8_cut(const char *s, size_t max) {
  while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
    max--;
  return max;
}

int pp_name_sanitize(const char *raw, size_t len, char *out, const char **why) {
  if (memchr(raw, '\0', len)) {
    *why = "name contains a NUL byte";
    return -1;
  }
  if (memchr(raw, '/', len) || memchr(raw, '\\', len)) {
    *why = "name contains a path separator (it would leave the album)";
    return -1;
  }
  if ((len == 1 && raw[0] == '.') || (len == 2 && raw[0] == '.' && raw[1] == '.')) {
    *why = "name is '.' or '..' (it would leave the album)";
    return -1;
  }
  /* Leading dots: no hidden files, no clash with our temporary files. */
  while (len > 0 && raw[0] == '.') {
    raw++;
    len--;
  }
  /* Trailing spaces and dots are trouble on some servers: drop them. */
  while (len > 0 && (raw[len - 1] == ' ' || raw[len - 1] == '.'))
    len--;
  if (len == 0) {
    *why = "no usable file name";
    return -1;
  }
  int shortened = 0;
  size_t n = len;
  char tmp[PP_NAME_MAX + 1];
  if (len > PP_NAME_MAX) {
    size_t el = ext_len(raw, len);
    size_t keep = utf8_cut(raw, PP_NAME_MAX - el);
    memcpy(tmp, raw, keep);
    memcpy(tmp + keep, raw + len - el, el);
    n = keep + el;
    raw = tmp;
    shortened = 1;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)raw[i];
    out[i] = (c < 0x20 || c == 0x7F) ? '_' : (char)c;
  }
  out[n] = '\0';
  return shortened;
}

int pp_name_from_url(const char *url, char *out, const char **why) {
  /* Skip "scheme://authority" so a URL without a path has no name. */
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  size_t end = strcspn(p, "?#");
  const char *path = memchr(p, '/', end);
  if (!path) {
    *why = "URL has no file name";
    return -1;
  }
  const char *path_end = p + end;
  const char *seg = path_end;
  while (seg > path && seg[-1] != '/')
    seg--;
  size_t seglen = (size_t)(path_end - seg);
  if (seglen == 0) {
    *why = "URL has no file name (ends with '/')";
    return -1;
  }
  /* Percent-decode into a bounded buffer: a decoded name is never longer
   * than the encoded one, and anything past 4 KiB is cut by the sanitiser
   * anyway. */
  char buf[4096];
  size_t n = 0;
  for (size_t i = 0; i < seglen && n < sizeof buf; i++) {
    int hi, lo;
    if (seg[i] == '%' && i + 2 < seglen &&
        (hi = hexval((unsigned char)seg[i + 1])) >= 0 &&
        (lo = hexval((unsigned char)seg[i + 2])) >= 0) {
      buf[n++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      buf[n++] = seg[i];
    }
  }
  return pp_name_sanitize(buf, n, out, why);
}

int pp_name_from_path(const char *path, char *out, const char **why) {
  if (path[0] == '/') {
    *why = "absolute path (it would leave the album)";
    return -1;
  }
  /* Refuse any ".." segment, wherever it is. */
  for (const char *s = path; *s;) {
    size_t l = strcspn(s, "/");
    if (l == 2 && s[0] == '.' && s[1] == '.') {
      *why = "name has a '..' segment (it would leave the album)";
      return -1;
    }
    s += l;
    if (*s == '/')
      s++;
  }
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  return pp_name_sanitize(base, strlen(base), out, why);
}

void pp_name_set_ext(char *name, const char *ext) {
  size_t len = strlen(name);
  size_t el = ext_len(name, len);
  size_t stem = len - el;
  size_t xl = strlen(ext);
  if (stem + xl > PP_NAME_MAX)
    stem = utf8_cut(name, PP_NAME_MAX - xl);
  memcpy(name + stem, ext, xl + 1);
}

char *pp_url_escape_segment(const char *name) {
  static const char hex[] = "0123456789ABCDEF";
  size_t len = strlen(name);
  char *out = malloc(3 * len + 1);
  if (!out)
    return NULL;
  char *o = out;
  for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
    unsigned char c = *s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '_' || c == '.' || c == '~') {
      *o++ = (char)c;
    } else {
      *o++ = '%';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 15];
    }
  }
  *o = '\0';
  return out;
}
