/* protocols.c - the --protocols set (see protocols.h). */
#include "protocols.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
  const char *name;
  unsigned bit;
} g_protos[] = {
    {"http", PP_PROTO_HTTP}, {"https", PP_PROTO_HTTPS}, {"file", PP_PROTO_FILE},
    {"ftp", PP_PROTO_FTP},   {"ftps", PP_PROTO_FTPS},
};
#define NPROTOS (sizeof g_protos / sizeof g_protos[0])

static unsigned bit_of(const char *name, size_t len) {
  for (size_t i = 0; i < NPROTOS; i++)
    if (strlen(g_protos[i].name) == len && strncasecmp(g_protos[i].name, name, len) == 0)
      return g_protos[i].bit;
  return 0;
}

int pp_protocols_parse(const char *list, unsigned *mask) {
  unsigned m = 0;
  const char *p = list;
  for (;;) {
    size_t len = strcspn(p, ",");
    unsigned b = bit_of(p, len);
    if (!b)
      return -1;
    m |= b;
    if (p[len] == '\0')
      break;
    p += len + 1;
  }
  *mask = m;
  return 0;
}

unsigned pp_protocol_of(const char *src, char *scheme, size_t n) {
  const char *sep = strstr(src, "://");
  /* A scheme is letters, digits, '+', '-', '.' before "://"; anything else
   * (a path holding "://" further on) is a path. */
  size_t len = sep ? (size_t)(sep - src) : 0;
  int is_scheme = len > 0;
  for (size_t i = 0; i < len && is_scheme; i++) {
    char c = src[i];
    is_scheme = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '+' || c == '-' || c == '.';
  }
  if (!is_scheme) {
    snprintf(scheme, n, "file");
    return PP_PROTO_FILE;
  }
  snprintf(scheme, n, "%.*s", (int)(len < 32 ? len : 32), src);
  return bit_of(src, len);
}

void pp_protocols_curl(unsigned mask, int only_web, char *out, size_t n) {
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < NPROTOS; i++) {
    if (!(mask & g_protos[i].bit))
      continue;
    if (only_web && g_protos[i].bit != PP_PROTO_HTTP && g_protos[i].bit != PP_PROTO_HTTPS)
      continue;
    int k = snprintf(out + o, n - o, "%s%s", o ? "," : "", g_protos[i].name);
    if (k < 0 || (size_t)k >= n - o)
      break;
    o += (size_t)k;
  }
}
