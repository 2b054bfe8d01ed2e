/* safetext.c - escaped names for terminals, logs and JSON (see safetext.h). */
#include "safetext.h"

#include <stdlib.h>
#include <string.h>

#include "redact.h"

size_t pp_utf8_len(const unsigned char *s, size_t left, unsigned *cp) {
  unsigned c = s[0];
  size_t len;
  unsigned v, min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2, v = c & 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3, v = c & 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (left < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    v = (v << 6) | (s[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
    return 0;
  *cp = v;
  return len;
}

/* Code points that change how the text around them is shown. */
static int is_format_char(unsigned cp) {
  return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
         cp == 0x200e || cp == 0x200f || cp == 0x061c || cp == 0x2028 || cp == 0x2029 ||
         cp == 0xfeff;
}

/* The escaped form of the character at s (which has `left` bytes): writes it
 * to `tmp` (at least 12 bytes) and returns its length; *used is the number of
 * input bytes it stands for. */
static size_t escape_one(const unsigned char *s, size_t left, char *tmp, size_t *used) {
  static const char hex[] = "0123456789abcdef";
  unsigned cp;
  size_t len = pp_utf8_len(s, left, &cp);
  if (len == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
    /* One byte at a time: an invalid byte, a control, or the first byte of
     * a C1 control (the second follows the same way). */
    tmp[0] = '\\', tmp[1] = 'x', tmp[2] = hex[s[0] >> 4], tmp[3] = hex[s[0] & 15];
    *used = 1;
    return 4;
  }
  *used = len;
  if (cp == '\\') {
    tmp[0] = tmp[1] = '\\';
    return 2;
  }
  if (is_format_char(cp)) {
    int k = 0;
    tmp[k++] = '\\', tmp[k++] = 'u', tmp[k++] = '{';
    for (int sh = 12; sh >= 0; sh -= 4)
      tmp[k++] = hex[(cp >> sh) & 15];
    tmp[k++] = '}';
    return (size_t)k;
  }
  memcpy(tmp, s, len);
  return len;
}

char *pp_escape(const char *s, char *out, size_t n) {
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  size_t left = strlen((const char *)p), o = 0;
  while (left > 0) {
    char tmp[16];
    size_t used;
    size_t k = escape_one(p, left, tmp, &used);
    /* Keep room for "..." and the NUL when more follows. */
    if (o + k + (left > used ? 4 : 1) > n) {
      /* Room for "..." was kept by the previous character. */
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    memcpy(out + o, tmp, k);
    o += k;
    p += used;
    left -= used;
  }
  out[o] = '\0';
  return out;
}

const char *pp_shown(pp_shown_buf *b, const char *s) {
  char red[PP_SHOWN_MAX];
  pp_redact(s, red, sizeof red);
  return pp_escape(red, b->s, sizeof b->s);
}

void pp_json_str(FILE *f, const char *s) {
  char *red = pp_redact_dup(s);
  const unsigned char *p = (const unsigned char *)(red ? red : "(out of memory)");
  size_t left = strlen((const char *)p);
  fputc('"', f);
  while (left > 0) {
    char tmp[16];
    size_t used;
    size_t k = escape_one(p, left, tmp, &used);
    for (size_t i = 0; i < k; i++) {
      /* Escaped text is printable UTF-8; only '"' and '\' need JSON's
       * escapes. */
      if (tmp[i] == '"' || tmp[i] == '\\')
        fputc('\\', f);
      fputc(tmp[i], f);
    }
    p += used;
    left -= used;
  }
  fputc('"', f);
  free(red);
}
