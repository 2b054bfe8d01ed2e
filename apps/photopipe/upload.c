/* upload.c - atomic local writes and WebDAV PUTs (see upload.h). */
#include "upload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "names.h"
#include "protocols.h"

struct pp_album {
  int remote;
  char *base;  /* remote: base URL up to its path, without a trailing '/' */
  char *query; /* remote: "?..." and/or "#..." that followed the path, or "" */
  int dirfd;   /* local: the album directory */
  pp_net net;  /* the run's settings, with the album's own credentials */
};

/* ---- registry of temporary files being written, for the signal path ----
 * A slot is free (0), claimed (1: name being set up) or live (2: the name is
 * complete and the file may exist).  Only state 2 slots are unlinked. */
#define TMP_SLOTS 512
#define TMP_NAME_MAX (PP_NAME_MAX + 64)
static struct {
  atomic_int state;
  int dirfd;
  char name[TMP_NAME_MAX];
} g_tmp[TMP_SLOTS];
static atomic_uint g_tmp_seq;
static char g_tmp_tag[24]; /* between ".pp" and the PID (pp_album_temp_tag) */

void pp_album_temp_tag(const char *tag) { snprintf(g_tmp_tag, sizeof g_tmp_tag, "%s", tag); }

static int tmp_claim(void) {
  for (int i = 0; i < TMP_SLOTS; i++) {
    int expect = 0;
    if (atomic_compare_exchange_strong(&g_tmp[i].state, &expect, 1))
      return i;
  }
  return -1;
}

void pp_album_emergency_cleanup(void) {
  for (int i = 0; i < TMP_SLOTS; i++)
    if (atomic_load(&g_tmp[i].state) == 2)
      unlinkat(g_tmp[i].dirfd, g_tmp[i].name, 0);
}

int pp_mkdir_p(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST)
    return -1;
  return 0;
}

pp_album *pp_album_open(const char *spec, const pp_net *net, char *reason,
                        size_t rsz) {
  pp_album *a = calloc(1, sizeof *a);
  if (!a) {
    snprintf(reason, rsz, "out of memory");
    return NULL;
  }
  a->net = *net;
  a->dirfd = -1;
  if (strncasecmp(spec, "http://", 7) == 0 || strncasecmp(spec, "https://", 8) == 0) {
    a->remote = 1;
    /* --protocols is about where sources may come from; the album is an
     * http(s) URL the user typed, and stays one. */
    a->net.protocols = PP_PROTO_HTTP | PP_PROTO_HTTPS;
    const char *user = getenv("PHOTOPIPE_ALBUM_USER");
    const char *password = getenv("PHOTOPIPE_ALBUM_PASSWORD");
    if (user && *user) {
      a->net.user = user;
      a->net.password = password ? password : "";
    }
    /* The query and fragment stay after the photo's name. */
    size_t path_end = strcspn(spec + strcspn(spec, ":") + 3, "?#") + strcspn(spec, ":") + 3;
    a->base = strndup(spec, path_end);
    a->query = strdup(spec + path_end);
    if (!a->base || !a->query) {
      free(a->base);
      free(a->query);
      free(a);
      snprintf(reason, rsz, "out of memory");
      return NULL;
    }
    size_t l = strlen(a->base);
    while (l > 0 && a->base[l - 1] == '/')
      a->base[--l] = '\0';
    return a;
  }
  if (strstr(spec, "://")) {
    snprintf(reason, rsz, "album '%s': only directories and http(s) URLs", spec);
    free(a);
    return NULL;
  }
  if (pp_mkdir_p(spec) != 0 ||
      (a->dirfd = open(spec, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    snprintf(reason, rsz, "album '%s': %s", spec, strerror(errno));
    free(a);
    return NULL;
  }
  return a;
}

int pp_album_close(pp_album *a) {
  if (!a)
    return 0;
  int rc = 0;
  if (a->dirfd >= 0) {
    if (fsync(a->dirfd) != 0 && errno != EINVAL)
      rc = -1;
    close(a->dirfd);
  }
  free(a->base);
  free(a->query);
  free(a);
  return rc;
}

int pp_album_is_remote(const pp_album *a) { return a->remote; }

static char *remote_url(const pp_album *a, const char *name) {
  char *seg = pp_url_escape_segment(name);
  if (!seg)
    return NULL;
  size_t n = strlen(a->base) + strlen(seg) + strlen(a->query) + 2;
  char *url = malloc(n);
  if (url)
    snprintf(url, n, "%s/%s%s", a->base, seg, a->query);
  free(seg);
  return url;
}

int pp_album_exists(pp_album *a, const char *name, int *exists, char *reason,
                    size_t rsz) {
  if (a->remote) {
    char *url = remote_url(a, name);
    if (!url) {
      snprintf(reason, rsz, "out of memory");
      return -1;
    }
    int rc = pp_http_exists(&a->net, url, exists, reason, rsz);
    free(url);
    return rc;
  }
  struct stat st;
  if (fstatat(a->dirfd, name, &st, 0) == 0) {
    *exists = 1;
    return 0;
  }
  if (errno == ENOENT) {
    *exists = 0;
    return 0;
  }
  snprintf(reason, rsz, "cannot check the album: %s", strerror(errno));
  return -1;
}

static int write_all(int fd, const unsigned char *p, size_t len) {
  while (len > 0) {
    if (pp_net_canceled()) {
      errno = ECANCELED;
      return -1;
    }
    size_t chunk = len < (1u << 20) ? len : (1u << 20);
    ssize_t w = write(fd, p, chunk);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Renames tmp to name unless name exists.  Returns 0, or -1 with errno
 * (EEXIST: taken).  RENAME_NOREPLACE is atomic; file systems without it
 * get link(2), also atomic; the last resort (neither: vfat) checks first,
 * which a concurrent writer could race, but only another photopipe run
 * writes names here and the manifest keeps runs' names apart. */
static int rename_noreplace(int dirfd, const char *tmp, const char *name) {
  if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS)
    return -1;
  if (linkat(dirfd, tmp, dirfd, name, 0) == 0) {
    unlinkat(dirfd, tmp, 0);
    return 0;
  }
  if (errno == EEXIST)
    return -1;
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    errno = EEXIST;
    return -1;
  }
  return renameat(dirfd, tmp, dirfd, name);
}

static int store_local(pp_album *a, const char *name, const void *data,
                       size_t len, int no_replace, char *reason, size_t rsz) {
  int slot = tmp_claim();
  char local_name[TMP_NAME_MAX];
  char *tmp = slot >= 0 ? g_tmp[slot].name : local_name;
  snprintf(tmp, TMP_NAME_MAX, ".%s.pp%s%ld-%u.tmp", name, g_tmp_tag, (long)getpid(),
           atomic_fetch_add(&g_tmp_seq, 1));
  if (slot >= 0) {
    g_tmp[slot].dirfd = a->dirfd;
    atomic_store(&g_tmp[slot].state, 2);
  }
  const char *what = NULL;
  int saved = 0;
  int fd = openat(a->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    what = "cannot create a file in the album";
  else if (write_all(fd, data, len) != 0)
    what = "cannot write to the album";
  else if (fsync(fd) != 0)
    what = "cannot flush to disk";
  if (what)
    saved = errno;
  if (fd >= 0 && close(fd) != 0 && !what) {
    saved = errno;
    what = "cannot close the file";
  }
  int taken = 0;
  if (!what && (no_replace ? rename_noreplace(a->dirfd, tmp, name)
                           : renameat(a->dirfd, tmp, a->dirfd, name)) != 0) {
    saved = errno;
    taken = no_replace && saved == EEXIST;
    what = "cannot rename into place";
  }
  int ok = what == NULL;
  if (!ok) {
    if (fd >= 0)
      unlinkat(a->dirfd, tmp, 0);
    if (taken)
      snprintf(reason, rsz, "name taken in the album");
    else if (saved == ECANCELED)
      snprintf(reason, rsz, "canceled");
    else
      snprintf(reason, rsz, "%s: %s", what, strerror(saved));
  }
  if (slot >= 0)
    atomic_store(&g_tmp[slot].state, 0);
  errno = saved; /* says whether to try again (pp_album_store) */
  return ok ? 0 : taken ? 1 : -1;
}

int pp_album_store(pp_album *a, const char *name, const void *data, size_t len,
                   int no_replace, int *attempts, char *reason, size_t rsz) {
  if (!a->remote) {
    int rc;
    *attempts = 0;
    /* Out of descriptors or memory is "not now": back off and try again. */
    for (int retry = 0;; retry++) {
      ++*attempts;
      rc = store_local(a, name, data, len, no_replace, reason, rsz);
      if (rc >= 0 || !pp_errno_transient(errno) || retry >= a->net.retries ||
          pp_backoff_sleep(&a->net, retry + 1) != 0)
        break;
    }
    return rc;
  }
  if (no_replace) {
    int exists = 0;
    if (pp_album_exists(a, name, &exists, reason, rsz) != 0)
      return -1;
    if (exists) {
      snprintf(reason, rsz, "name taken in the album");
      return 1;
    }
  }
  char *url = remote_url(a, name);
  if (!url) {
    snprintf(reason, rsz, "out of memory");
    return -1;
  }
  int rc = pp_http_put(&a->net, url, data, len, attempts, reason, rsz);
  free(url);
  return rc;
}

int pp_album_read(pp_album *a, const char *name, uint64_t max_bytes, unsigned char **data,
                  size_t *len, char *reason, size_t rsz) {
  if (a->remote) {
    char *url = remote_url(a, name);
    if (!url) {
      snprintf(reason, rsz, "out of memory");
      return -1;
    }
    int attempts;
    int rc = pp_fetch(&a->net, url, data, len, &attempts, reason, rsz);
    free(url);
    return rc;
  }
  int fd = openat(a->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    snprintf(reason, rsz, "cannot open: %s", strerror(errno));
    return -1;
  }
  struct stat st;
  unsigned char *buf = NULL;
  size_t got = 0;
  int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= max_bytes &&
           (buf = malloc((size_t)st.st_size + 1)) != NULL;
  while (ok && got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      ok = 0;
    else
      got += (size_t)r;
  }
  close(fd);
  if (!ok) {
    free(buf);
    snprintf(reason, rsz, "cannot read the album's '%s'", name);
    return -1;
  }
  *data = buf;
  *len = got;
  return 0;
}
