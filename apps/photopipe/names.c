/* names.c - album name sanitising and collision handling (see names.h). */
#include "names.h"

#include <pthread.h>
#include <stdint.h>
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

/* ---- the set of claimed names: an open-addressing hash set of lowercase
 * copies, grown at 50% load.  Claims happen once per listed photo, so a
 * mutex is plenty. */

struct pp_names {
  pthread_mutex_t lock;
  char **slots;
  size_t cap, count;
};

static uint64_t hash_lower(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 'A' && c <= 'Z')
      c = (unsigned char)(c - 'A' + 'a');
    h = (h ^ c) * 1099511628211ULL;
  }
  return h;
}

static int eq_lower(const char *a, const char *b) {
  for (;; a++, b++) {
    unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
    if (x >= 'A' && x <= 'Z')
      x = (unsigned char)(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z')
      y = (unsigned char)(y - 'A' + 'a');
    if (x != y)
      return 0;
    if (!x)
      return 1;
  }
}

pp_names *pp_names_new(void) {
  pp_names *n = calloc(1, sizeof *n);
  if (!n)
    return NULL;
  n->cap = 64;
  n->slots = calloc(n->cap, sizeof *n->slots);
  if (!n->slots) {
    free(n);
    return NULL;
  }
  pthread_mutex_init(&n->lock, NULL);
  return n;
}

void pp_names_free(pp_names *n) {
  if (!n)
    return;
  for (size_t i = 0; i < n->cap; i++)
    free(n->slots[i]);
  free(n->slots);
  pthread_mutex_destroy(&n->lock);
  free(n);
}

static char **find_slot(char **slots, size_t cap, const char *s) {
  size_t i = (size_t)hash_lower(s) & (cap - 1);
  while (slots[i] && !eq_lower(slots[i], s))
    i = (i + 1) & (cap - 1);
  return &slots[i];
}

static int grow(pp_names *n) {
  size_t cap = n->cap * 2;
  char **slots = calloc(cap, sizeof *slots);
  if (!slots)
    return -1;
  for (size_t i = 0; i < n->cap; i++)
    if (n->slots[i])
      *find_slot(slots, cap, n->slots[i]) = n->slots[i];
  free(n->slots);
  n->slots = slots;
  n->cap = cap;
  return 0;
}

char *pp_names_claim(pp_names *n, const char *want, int *renamed) {
  char cand[PP_NAME_MAX + 32];
  size_t len = strlen(want);
  size_t el = ext_len(want, len);
  char *result = NULL;
  pthread_mutex_lock(&n->lock);
  if (2 * (n->count + 1) > n->cap && grow(n) != 0)
    goto out;
  snprintf(cand, sizeof cand, "%s", want);
  *renamed = 0;
  for (unsigned k = 2;; k++) {
    char **slot = find_slot(n->slots, n->cap, cand);
    if (!*slot) {
      char *keep = strdup(cand);
      result = strdup(cand);
      if (!keep || !result) {
        free(keep);
        free(result);
        result = NULL;
        goto out;
      }
      *slot = keep;
      n->count++;
      break;
    }
    *renamed = 1;
    char suffix[16];
    int sl = snprintf(suffix, sizeof suffix, "-%u", k);
    size_t stem = len - el;
    if (stem + (size_t)sl + el > PP_NAME_MAX)
      stem = utf8_cut(want, PP_NAME_MAX - (size_t)sl - el);
    snprintf(cand, sizeof cand, "%.*s%s%s", (int)stem, want, suffix, want + len - el);
  }
out:
  pthread_mutex_unlock(&n->lock);
  return result;
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
