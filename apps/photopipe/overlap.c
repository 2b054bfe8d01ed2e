/* overlap.c - album and sources must not overlap (see overlap.h). */
#include "overlap.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

/* An absolute spelling of `path` (which may not exist) into buf: the
 * cwd is prepended to a relative path; symlinks are left for stat. */
static int absolute(const char *path, char *buf, size_t size) {
  if (path[0] == '/')
    return snprintf(buf, size, "%s", path) < (int)size ? 0 : -1;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd))
    return -1;
  return snprintf(buf, size, "%s/%s", cwd, path) < (int)size ? 0 : -1;
}

int pp_inside(const char *path, dev_t dev, ino_t ino) {
  char buf[PATH_MAX + 1];
  if (absolute(path, buf, sizeof buf) != 0)
    return 0;
  /* Walk up by spelling; stat resolves every symlink on the way, and a
   * ".." is resolved by the kernel, so this finds the real ancestors
   * except across a ".." after a symlink, which realpath settles first. */
  char real[PATH_MAX];
  if (realpath(buf, real))
    snprintf(buf, sizeof buf, "%s", real);
  for (;;) {
    struct stat st;
    if (stat(buf, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
      return 1;
    char *s = strrchr(buf, '/');
    if (!s)
      return 0;
    if (s == buf) {
      if (buf[1] == '\0')
        return 0;
      buf[1] = '\0';
    } else {
      *s = '\0';
    }
  }
}

static int is_url(const char *s) { return strstr(s, "://") != NULL; }

/* libcurl's URL parser decodes the path exactly as the download will, so
 * the folder checked here is the file libcurl would open. */
const char *pp_local_path(const char *src, int is_file, char *buf, size_t size) {
  if (is_file)
    return src;
  if (strncasecmp(src, "file://", 7) != 0)
    return NULL;
  CURLU *u = curl_url();
  char *path = NULL;
  const char *out = NULL;
  if (u && curl_url_set(u, CURLUPART_URL, src, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) == CURLUE_OK &&
      path[0] == '/' && strlen(path) < size) {
    memcpy(buf, path, strlen(path) + 1);
    out = buf;
  }
  curl_free(path);
  curl_url_cleanup(u);
  return out;
}

/* Refuses when `a` lies in `b` (b a folder that exists). */
static int refuse_if_inside(const char *a, const char *what_a, const char *b,
                            const char *what_b, char *reason, size_t rsz) {
  struct stat st;
  if (stat(b, &st) != 0 || !S_ISDIR(st.st_mode))
    return 0;
  if (!pp_inside(a, st.st_dev, st.st_ino))
    return 0;
  snprintf(reason, rsz,
           "%s '%s' is %s %s '%s': photopipe never writes where originals are; "
           "choose an album outside the sources",
           what_a, a, "inside (or the same as)", what_b, b);
  return -1;
}

static int check_one(const char *album, const char *src, const char *what, char *reason,
                     size_t rsz) {
  char buf[PATH_MAX];
  const char *path = pp_local_path(src, !is_url(src), buf, sizeof buf);
  if (!path)
    return 0;
  if (refuse_if_inside(album, "album", path, what, reason, rsz) != 0)
    return -1;
  return refuse_if_inside(path, what, album, "the album", reason, rsz);
}

int pp_check_overlap(const pp_options *o, char *reason, size_t rsz) {
  if (!o->album || is_url(o->album))
    return 0;
  if (!o->prefix)
    for (size_t i = 0; i < o->nsources; i++)
      if (check_one(o->album, o->sources[i], "source", reason, rsz) != 0)
        return -1;
  if (o->prefix && check_one(o->album, o->prefix, "--prefix", reason, rsz) != 0)
    return -1;
  if (o->watch_dir && check_one(o->album, o->watch_dir, "watched folder", reason, rsz) != 0)
    return -1;
  return 0;
}
