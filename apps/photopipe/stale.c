/* stale.c - removing temporary files of dead runs (see stale.h). */
#include "stale.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

int pp_stale_parse(const char *name, pid_t *pid) {
  size_t len = strlen(name);
  if (name[0] != '.' || len < 12 || strcmp(name + len - 4, ".tmp") != 0)
    return 0;
  /* Back from ".tmp": SEQ digits, '-', PID digits, ".pp". */
  const char *end = name + len - 4, *p = end;
  while (p > name && p[-1] >= '0' && p[-1] <= '9')
    p--;
  if (p == end || p <= name || p[-1] != '-')
    return 0;
  const char *pid_end = --p;
  while (p > name && p[-1] >= '0' && p[-1] <= '9')
    p--;
  if (p == pid_end || pid_end - p > 9 || p - name < 4 || strncmp(p - 3, ".pp", 3) != 0)
    return 0;
  long v = 0;
  for (const char *c = p; c < pid_end; c++)
    v = v * 10 + (*c - '0');
  if (v <= 0)
    return 0;
  *pid = (pid_t)v;
  return 1;
}

size_t pp_stale_clean(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return 0;
  size_t removed = 0;
  struct dirent *e;
  pid_t self = getpid();
  while ((e = readdir(d)) != NULL) {
    pid_t pid;
    if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
      continue;
    if (!pp_stale_parse(e->d_name, &pid) || pid == self)
      continue;
    if (kill(pid, 0) == 0 || errno != ESRCH)
      continue; /* alive (or not ours to judge): leave it */
    if (unlinkat(dirfd(d), e->d_name, 0) == 0)
      removed++;
  }
  closedir(d);
  return removed;
}

size_t pp_stale_clean_tagged(const char *dir, const char *tag) {
  DIR *d = opendir(dir);
  if (!d)
    return 0;
  size_t removed = 0, tl = strlen(tag);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (e->d_name[0] != '.' || len < tl + 5 || strcmp(e->d_name + len - 4, ".tmp") != 0 ||
        !strstr(e->d_name, tag))
      continue;
    if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
      continue;
    if (unlinkat(dirfd(d), e->d_name, 0) == 0)
      removed++;
  }
  closedir(d);
  return removed;
}
