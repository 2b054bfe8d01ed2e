/* watch.c - inotify-driven source (see watch.h). */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "names.h"

typedef struct watcher {
  const char *dir;
  pp_names *seen; /* file names already fed (the set also dedups case) */
  pp_emit_fn emit;
  void *arg;
} watcher;

/* Feeds dir/name once.  Returns emit's answer. */
static int feed(watcher *w, const char *name) {
  if (name[0] == '.' || !pp_is_image_name(name))
    return 0;
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", w->dir, name) >= (int)sizeof path)
    return 0;
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
    return 0;
  int renamed = 0;
  char *claimed = pp_names_claim(w->seen, name, &renamed);
  free(claimed);
  if (renamed || !claimed)
    return 0; /* seen before (or out of memory: skip rather than duplicate) */
  return w->emit(w->arg, PP_SRC_FILE, path, NULL);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feeds what is in the folder already, sorted by name. */
static int feed_existing(watcher *w) {
  DIR *d = opendir(w->dir);
  if (!d)
    return 0;
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      char **nn = realloc(names, cap * sizeof *nn);
      if (!nn)
        break;
      names = nn;
    }
    if (!(names[n] = strdup(e->d_name)))
      break;
    n++;
  }
  closedir(d);
  if (n)
    qsort(names, n, sizeof *names, cmp_str);
  int stop = 0;
  for (size_t i = 0; i < n; i++) {
    if (!stop)
      stop = feed(w, names[i]);
    free(names[i]);
  }
  free(names);
  return stop;
}

int pp_watch_run(const char *dir, int stop_fd, pp_emit_fn emit, void *arg,
                 char *reason, size_t rsz) {
  int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) {
    snprintf(reason, rsz, "inotify: %s", strerror(errno));
    return -1;
  }
  if (inotify_add_watch(fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
    snprintf(reason, rsz, "cannot watch '%s': %s", dir, strerror(errno));
    close(fd);
    return -1;
  }
  watcher w = {dir, pp_names_new(), emit, arg};
  if (!w.seen) {
    snprintf(reason, rsz, "out of memory");
    close(fd);
    return -1;
  }
  int stop = feed_existing(&w);
  /* Aligned for struct inotify_event. */
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  while (!stop) {
    struct pollfd pfd[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int n = poll(pfd, 2, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (pfd[1].revents)
      break;
    if (!(pfd[0].revents & POLLIN))
      continue;
    ssize_t len = read(fd, buf, sizeof buf);
    if (len <= 0)
      continue;
    for (char *p = buf; p < buf + len && !stop;) {
      const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
      if (ev->mask & IN_Q_OVERFLOW)
        stop = feed_existing(&w); /* events were lost: rescan */
      else if (ev->len > 0)
        stop = feed(&w, ev->name);
      p += sizeof *ev + ev->len;
    }
  }
  pp_names_free(w.seen);
  close(fd);
  return 0;
}
