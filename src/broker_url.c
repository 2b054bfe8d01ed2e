/* src/broker_url.c - parses a broker URL (see broker_url.h).  Only the
 * shapes redis-cli and the Redis clients agree on; anything else is
 * CV_EINVAL rather than a guess. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_url.h"
#include "conveyor/error.h"

static int copy(char *dst, size_t cap, const char *s, size_t n) {
  if (n >= cap)
    return CV_EINVAL;
  memcpy(dst, s, n);
  dst[n] = '\0';
  return CV_OK;
}

static int parse_unix(const char *path, cv__broker_addr *out) {
  if (path[0] != '/' || copy(out->path, sizeof(out->path), path,
                             strlen(path)) != CV_OK)
    return CV_EINVAL;
  snprintf(out->where, sizeof(out->where), "%s", out->path);
  return CV_OK;
}

int cv__broker_url_parse(const char *url, cv__broker_addr *out) {
  if (!url || !out)
    return CV_EINVAL;
  memset(out, 0, sizeof(*out));
  if (url[0] == '/')
    return parse_unix(url, out);
  if (strncmp(url, "unix:", 5) == 0)
    return parse_unix(url + 5, out);
  if (strncmp(url, "redis://", 8) != 0)
    return CV_EINVAL;
  const char *s = url + 8;
  const char *at = strrchr(s, '@');
  if (at) {
    /* [user]:password -- the user part (Redis 6 ACL) is not supported:
     * only the default user's password. */
    const char *colon = memchr(s, ':', (size_t)(at - s));
    if (!colon || colon != s)
      return CV_EINVAL;
    if (copy(out->password, sizeof(out->password), colon + 1,
             (size_t)(at - colon - 1)) != CV_OK)
      return CV_EINVAL;
    s = at + 1;
  }
  const char *slash = strchr(s, '/');
  const char *end = slash ? slash : s + strlen(s);
  const char *colon = memchr(s, ':', (size_t)(end - s));
  const char *hend = colon ? colon : end;
  if (hend == s || copy(out->host, sizeof(out->host), s,
                        (size_t)(hend - s)) != CV_OK)
    return CV_EINVAL;
  out->port = 6379;
  if (colon) {
    char *e;
    long port = strtol(colon + 1, &e, 10);
    if (e != end || port <= 0 || port > 65535)
      return CV_EINVAL;
    out->port = (int)port;
  }
  if (slash && slash[1]) {
    char *e;
    long db = strtol(slash + 1, &e, 10);
    if (*e || db < 0 || db > 65535)
      return CV_EINVAL;
    out->db = (int)db;
  }
  snprintf(out->where, sizeof(out->where), "%s:%d", out->host, out->port);
  return CV_OK;
}
