/* watch.c - inotify-driven source with a settle time (see watch.h). */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* What the watch knows of one file. */
typedef struct entry {
  int64_t due_ns;  /* look at it then (0: nothing pending) */
  int writing;     /* written to since its last close: not quiet */
  int seen;        /* size and mtime below are from a stat */
  off_t size;      /* at the last look */
  struct timespec mtime;
  int fed;         /* fed once at least, with the size and mtime below */
  off_t fed_size;
  struct timespec fed_mtime;
  char fed_sha256[65]; /* its content then ("" unknown) */
} entry;

typedef struct watcher {
  const char *dir;
  int64_t settle_ns;
  int recursive;
  int fd;            /* inotify */
  int root_wd;       /* the watch on `dir` itself */
  GHashTable *dirs;  /* watch descriptor -> folder relative to dir ("" for dir) */
  GHashTable *files; /* path relative to dir -> entry */
  pp_emit_fn emit;
  void *arg;
} watcher;

#define WATCH_MASK (IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | \
                    IN_MOVE_SELF | IN_ONLYDIR)

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int same_time(struct timespec a, struct timespec b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static int stat_file(watcher *w, const char *name, struct stat *st) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", w->dir, name) >= (int)sizeof path)
    return -1;
  return stat(path, st) == 0 && S_ISREG(st->st_mode) ? 0 : -1;
}

/* SHA-256 of the file at `path` as hex into out (65 bytes); "" when it
 * cannot be read. */
static void file_sha256(const char *path, char out[65]) {
  out[0] = '\0';
  FILE *f = fopen(path, "rb");
  if (!f)
    return;
  GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
  unsigned char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    g_checksum_update(c, buf, (gssize)n);
  if (!ferror(f))
    snprintf(out, 65, "%s", g_checksum_get_string(c));
  g_checksum_free(c);
  fclose(f);
}

/* Notes activity on `name` (relative to the watched folder): it is looked
 * at again one settle time from now.  `writing`: 1 written to, 0 closed or
 * renamed in, -1 unknown (unchanged). */
static void touch(watcher *w, const char *name, int writing) {
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  if (base[0] == '.' || !pp_is_image_name(base))
    return;
  entry *e = g_hash_table_lookup(w->files, name);
  if (!e) {
    e = g_new0(entry, 1);
    g_hash_table_insert(w->files, g_strdup(name), e);
  }
  if (writing >= 0)
    e->writing = writing;
  e->due_ns = now_ns() + w->settle_ns;
  /* Its size and mtime now, to compare with when the settle time is up. */
  struct stat st;
  e->seen = stat_file(w, name, &st) == 0;
  e->size = e->seen ? st.st_size : 0;
  e->mtime = e->seen ? st.st_mtim : (struct timespec){0, 0};
}

/* Looks at a file whose settle time is up.  Returns emit's answer. */
static int settle(watcher *w, const char *name, entry *e, int64_t now) {
  struct stat st;
  if (stat_file(w, name, &st) != 0) {
    e->due_ns = 0; /* gone (or not a file): nothing to take */
    return 0;
  }
  if (e->writing) {
    e->due_ns = 0; /* its close (IN_CLOSE_WRITE) brings it back */
    return 0;
  }
  if (!e->seen || st.st_size != e->size || !same_time(st.st_mtim, e->mtime)) {
    /* It changed without telling us (say, through mmap or over NFS): quiet
     * only if it holds still for one more settle time. */
    e->seen = 1;
    e->size = st.st_size;
    e->mtime = st.st_mtim;
    e->due_ns = now + w->settle_ns;
    if (w->settle_ns > 0)
      return 0;
  }
  e->due_ns = 0;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", w->dir, name);
  char sha[65] = "";
  if (e->fed && e->fed_size == st.st_size) {
    if (same_time(e->fed_mtime, st.st_mtim))
      return 0; /* quiet, and as it was fed last time */
    /* Same size, new mtime: touched (touch(1) opens, closes and sets the
     * time), or rewritten with the same length.  Only new bytes are a new
     * photo. */
    file_sha256(path, sha);
    if (sha[0] && strcmp(sha, e->fed_sha256) == 0) {
      e->fed_mtime = st.st_mtim;
      return 0;
    }
  }
  if (!sha[0])
    file_sha256(path, sha);
  e->fed = 1;
  e->fed_size = st.st_size;
  e->fed_mtime = st.st_mtim;
  memcpy(e->fed_sha256, sha, sizeof sha);
  return w->emit(w->arg, PP_SRC_FILE, path, NULL);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feeds the files whose settle time is up, in name order (so photos that
 * arrived together are listed the way a folder listing would list them).
 * Returns emit's answer; *next_ns gets the earliest time still pending. */
static int settle_due(watcher *w, int64_t *next_ns) {
  int64_t now = now_ns();
  GPtrArray *due = g_ptr_array_new();
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, w->files);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    entry *e = v;
    if (e->due_ns && e->due_ns <= now)
      g_ptr_array_add(due, k);
  }
  if (due->len)
    qsort(due->pdata, due->len, sizeof(gpointer), cmp_str);
  int stop = 0;
  for (guint i = 0; i < due->len && !stop; i++)
    stop = settle(w, due->pdata[i], g_hash_table_lookup(w->files, due->pdata[i]), now);
  g_ptr_array_free(due, TRUE);
  *next_ns = 0;
  g_hash_table_iter_init(&it, w->files);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    entry *e = v;
    if (e->due_ns && (*next_ns == 0 || e->due_ns < *next_ns))
      *next_ns = e->due_ns;
  }
  return stop;
}

/* Watches the folder `rel` (relative to the watched folder; "" for it)
 * and looks at everything in it now, its subfolders too when recursive.
 * Returns 0, or -1 when `rel` is the watched folder and cannot be watched. */
static int add_dir(watcher *w, const char *rel, int depth, char *reason, size_t rsz) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s%s%s", w->dir, *rel ? "/" : "", rel) >= (int)sizeof path)
    return 0;
  /* A subfolder reached through a symlink is not followed (IN_DONT_FOLLOW),
   * as in a folder listing. */
  int wd = inotify_add_watch(w->fd, path, WATCH_MASK | (*rel ? IN_DONT_FOLLOW : 0));
  if (wd < 0) {
    if (!*rel) {
      snprintf(reason, rsz, "cannot watch '%s': %s", w->dir, strerror(errno));
      return -1;
    }
    return 0; /* a subfolder that went away, or a symlink: nothing to watch */
  }
  if (!*rel)
    w->root_wd = wd;
  g_hash_table_replace(w->dirs, GINT_TO_POINTER(wd), g_strdup(rel));
  DIR *d = opendir(path);
  if (!d)
    return 0;
  GPtrArray *subs = g_ptr_array_new_with_free_func(g_free);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char *name = *rel ? g_strdup_printf("%s/%s", rel, e->d_name) : g_strdup(e->d_name);
    int is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      char full[4096];
      snprintf(full, sizeof full, "%s/%s", w->dir, name);
      is_dir = lstat(full, &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (is_dir && w->recursive && depth + 1 < PP_WATCH_MAX_DEPTH)
      g_ptr_array_add(subs, name);
    else {
      if (!is_dir)
        touch(w, name, -1);
      g_free(name);
    }
  }
  closedir(d);
  for (guint i = 0; i < subs->len; i++)
    add_dir(w, subs->pdata[i], depth + 1, reason, rsz);
  g_ptr_array_free(subs, TRUE);
  return 0;
}

static int depth_of(const char *rel) {
  int n = *rel ? 1 : 0;
  for (; *rel; rel++)
    n += *rel == '/';
  return n;
}

int pp_watch_run(const char *dir, long settle_ms, int recursive, int stop_fd, pp_emit_fn emit,
                 void *arg, char *reason, size_t rsz) {
  int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) {
    snprintf(reason, rsz, "inotify: %s", strerror(errno));
    return -1;
  }
  watcher w = {dir,
               (int64_t)settle_ms * 1000000,
               recursive,
               fd,
               -1,
               g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free),
               g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
               emit,
               arg};
  int rc = add_dir(&w, "", 0, reason, rsz), stop = 0;
  /* Aligned for struct inotify_event. */
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  while (!stop && rc == 0) {
    int64_t next;
    if ((stop = settle_due(&w, &next)) != 0)
      break;
    int timeout = -1;
    if (next) {
      int64_t ms = (next - now_ns() + 999999) / 1000000;
      timeout = ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
    }
    struct pollfd pfd[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int n = poll(pfd, 2, timeout);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      snprintf(reason, rsz, "watching '%s': poll: %s", dir, strerror(errno));
      rc = -1;
      break;
    }
    if (pfd[1].revents)
      break;
    if (!(pfd[0].revents & POLLIN))
      continue;
    ssize_t len = read(fd, buf, sizeof buf);
    if (len <= 0)
      continue;
    for (char *p = buf; p < buf + len && rc == 0;) {
      const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
      p += sizeof *ev + ev->len;
      const char *rel = g_hash_table_lookup(w.dirs, GINT_TO_POINTER(ev->wd));
      if (ev->mask & IN_Q_OVERFLOW) {
        add_dir(&w, "", 0, reason, rsz); /* events were lost: look again */
        continue;
      }
      if (ev->wd == w.root_wd &&
          (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED))) {
        snprintf(reason, rsz, "the watched folder '%s' was %s", dir,
                 ev->mask & IN_MOVE_SELF ? "moved away"
                 : ev->mask & IN_UNMOUNT ? "unmounted"
                                         : "deleted");
        rc = -1;
        continue;
      }
      if (!rel)
        continue; /* a subfolder's watch already dropped */
      if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        /* A subfolder went away (or moved: its files are now elsewhere; if
         * still under the watched folder, its IN_MOVED_TO brings it back). */
        if (!(ev->mask & IN_IGNORED))
          inotify_rm_watch(fd, ev->wd);
        g_hash_table_remove(w.dirs, GINT_TO_POINTER(ev->wd));
        continue;
      }
      if (ev->len == 0 || ev->name[0] == '.')
        continue;
      char *name = *rel ? g_strdup_printf("%s/%s", rel, ev->name) : g_strdup(ev->name);
      if (ev->mask & IN_ISDIR) {
        if (w.recursive && (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
            depth_of(name) < PP_WATCH_MAX_DEPTH)
          add_dir(&w, name, depth_of(name), reason, rsz);
      } else if (ev->mask & IN_MODIFY) {
        touch(&w, name, 1);
      } else if (ev->mask & IN_CREATE) {
        /* IN_CREATE alone says nothing of writing (a hard link makes one
         * too); a create by open(2) is followed by IN_CLOSE_WRITE. */
        touch(&w, name, -1);
      } else if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
        touch(&w, name, 0);
      }
      g_free(name);
    }
    if (rc != 0)
      break;
  }
  g_hash_table_destroy(w.files);
  g_hash_table_destroy(w.dirs);
  close(fd);
  return rc;
}
