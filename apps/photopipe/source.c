/* source.c - listing photos and reading local files (see source.h). */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protocols.h"
#include "safetext.h"
#include "walk.h"

int pp_is_image_name(const char *name) {
  static const char *const exts[] = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff",
                                     ".gif", ".heic", ".heif", ".avif", NULL};
  const char *dot = strrchr(name, '.');
  if (!dot || dot == name)
    return 0;
  for (int i = 0; exts[i]; i++)
    if (strcasecmp(dot, exts[i]) == 0)
      return 1;
  return 0;
}

static int is_url(const char *s) { return strstr(s, "://") != NULL; }

/* Builds prefix + name with each path segment of name percent-encoded
 * (keeping '/' so "sub/x.jpg" works).  The name itself is judged later. */
static char *prefixed_url(const char *prefix, const char *name) {
  static const char hex[] = "0123456789ABCDEF";
  size_t pl = strlen(prefix);
  char *u = malloc(pl + 3 * strlen(name) + 2);
  if (!u)
    return NULL;
  memcpy(u, prefix, pl);
  char *o = u + pl;
  if (pl > 0 && prefix[pl - 1] != '/')
    *o++ = '/';
  for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
    unsigned char c = *s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      *o++ = (char)c;
    } else {
      *o++ = '%';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 15];
    }
  }
  *o = '\0';
  return u;
}

/* Refuses `src` unless its protocol is in `allowed`: listed as failed with
 * words that depend on the text only, never on what exists. */
static int allowed(const char *src, unsigned allowed, int from_list, pp_emit_fn emit,
                   void *arg, int *stop) {
  char scheme[40], why[160];
  unsigned proto = pp_protocol_of(src, scheme, sizeof scheme);
  if (proto && (proto & allowed))
    return 1;
  const char *where = from_list ? "in a --urls list" : "here";
  if (!strstr(src, "://"))
    snprintf(why, sizeof why, "local paths are not allowed %s (see --protocols)", where);
  else
    snprintf(why, sizeof why, "protocol '%s' is not allowed %s (see --protocols)", scheme,
             where);
  *stop = emit(arg, PP_SRC_REFUSED, src, why) ? 1 : 0;
  return 0;
}

static int one(const pp_options *o, const char *s, int from_list, pp_emit_fn emit, void *arg,
               char *reason, size_t rsz) {
  unsigned mask = o->protocols ? o->protocols
                  : from_list  ? PP_PROTO_LIST_DEFAULT
                               : PP_PROTO_ARGS_DEFAULT;
  int stop = 0;
  if (o->prefix) {
    char *url = prefixed_url(o->prefix, s);
    if (!url) {
      snprintf(reason, rsz, "out of memory");
      return -1;
    }
    /* --prefix is typed by the user: the URL is judged as an argument. */
    if (allowed(url, o->protocols ? o->protocols : PP_PROTO_ARGS_DEFAULT, 0, emit, arg, &stop))
      stop = emit(arg, PP_SRC_PREFIXED, url, s) ? 1 : 0;
    free(url);
    return stop;
  }
  if (!allowed(s, mask, from_list, emit, arg, &stop))
    return stop;
  if (is_url(s))
    return emit(arg, PP_SRC_URL, s, NULL) ? 1 : 0;
  struct stat st;
  if (stat(s, &st) == 0 && S_ISDIR(st.st_mode)) {
    size_t found = 0;
    pp_shown_buf shown;
    int rc = pp_walk(s, o->recursive, o->quiet, emit, arg, &found, reason, rsz);
    if (rc == 0 && found == 0 && !o->quiet)
      fprintf(stderr, "photopipe: warning: no photos in '%s'%s\n", pp_shown(&shown, s),
              o->recursive ? "" : " (not searching its subfolders: --no-recursive)");
    return rc;
  }
  /* A missing or odd file is that photo's failure, reported by the reader. */
  return emit(arg, PP_SRC_FILE, s, NULL) ? 1 : 0;
}

int pp_source_list(const pp_options *o, pp_emit_fn emit, void *arg, char *reason,
                   size_t rsz) {
  for (size_t i = 0; i < o->nsources; i++) {
    int rc = one(o, o->sources[i], 0, emit, arg, reason, rsz);
    if (rc != 0)
      return rc;
  }
  if (!o->urls_file)
    return 0;
  FILE *f = strcmp(o->urls_file, "-") == 0 ? stdin : fopen(o->urls_file, "r");
  if (!f) {
    snprintf(reason, rsz, "cannot open '%s': %s", o->urls_file, strerror(errno));
    return -1;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0, first = 1;
  while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
    /* Editors on some systems start a UTF-8 file with a byte-order mark. */
    if (first && n >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
      memmove(line, line + 3, (size_t)n - 2);
      n -= 3;
    }
    first = 0;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
                     line[n - 1] == ' ' || line[n - 1] == '\t'))
      line[--n] = '\0';
    char *s = line;
    while (*s == ' ' || *s == '\t')
      s++;
    if (*s == '\0' || *s == '#')
      continue;
    rc = one(o, s, 1, emit, arg, reason, rsz);
  }
  if (rc == 0 && ferror(f)) {
    snprintf(reason, rsz, "cannot read '%s'", o->urls_file);
    rc = -1;
  }
  free(line);
  if (f != stdin)
    fclose(f);
  return rc;
}

int pp_read_file(const char *path, uint64_t max_bytes, unsigned char **data,
                 size_t *len, char *reason, size_t rsz) {
  /* O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer,
   * forever; for a regular file it changes nothing. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int e = errno;
    snprintf(reason, rsz, "cannot open: %s", strerror(e));
    errno = e;
    return -1;
  }
  struct stat st = {0};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const char *what = S_ISFIFO(st.st_mode)  ? " (a FIFO)"
                       : S_ISCHR(st.st_mode) ? " (a character device)"
                       : S_ISBLK(st.st_mode) ? " (a block device)"
                       : S_ISSOCK(st.st_mode) ? " (a socket)"
                       : S_ISDIR(st.st_mode)  ? " (a directory)"
                                              : "";
    snprintf(reason, rsz, "not a regular file%s", what);
    close(fd);
    errno = EINVAL;
    return -1;
  }
  if ((uint64_t)st.st_size > max_bytes) {
    snprintf(reason, rsz, "larger than --max-bytes (%llu bytes)",
             (unsigned long long)max_bytes);
    close(fd);
    errno = EFBIG;
    return -1;
  }
  size_t size = (size_t)st.st_size;
  unsigned char *buf = malloc(size ? size : 1);
  if (!buf) {
    snprintf(reason, rsz, "out of memory");
    close(fd);
    errno = ENOMEM;
    return -1;
  }
  size_t got = 0;
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      int e = r < 0 ? errno : EIO;
      snprintf(reason, rsz, "cannot read: %s", r < 0 ? strerror(e) : "file shrank");
      free(buf);
      close(fd);
      errno = e;
      return -1;
    }
    got += (size_t)r;
  }
  close(fd);
  *data = buf;
  *len = size;
  return 0;
}
