/* walk.c - recursive, sorted folder listing (see walk.h). */
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "safetext.h"

typedef struct walk {
  int recursive, quiet;
  pp_emit_fn emit;
  void *arg;
  size_t *found;
  char *reason;
  size_t rsz;
} walk;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The visible entries of `dir`, sorted; NULL with *n = 0 when empty, and
 * -1 when the folder cannot be read (errno set). */
static int read_sorted(const char *dir, char ***out, size_t *n) {
  DIR *d = opendir(dir);
  *out = NULL;
  *n = 0;
  if (!d)
    return -1;
  char **names = NULL;
  size_t cap = 0;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue; /* ".", "..", hidden files and folders */
    if (*n == cap) {
      cap = cap ? 2 * cap : 64;
      char **nn = realloc(names, cap * sizeof *nn);
      if (!nn) {
        rc = -1;
        errno = ENOMEM;
        break;
      }
      names = nn;
    }
    if (!(names[*n] = strdup(e->d_name))) {
      rc = -1;
      errno = ENOMEM;
      break;
    }
    (*n)++;
  }
  int saved = errno;
  closedir(d);
  if (rc != 0) {
    for (size_t i = 0; i < *n; i++)
      free(names[i]);
    free(names);
    *n = 0;
    errno = saved;
    return -1;
  }
  if (*n)
    qsort(names, *n, sizeof *names, cmp_str);
  *out = names;
  return 0;
}

static int walk_dir(walk *w, const char *dir, int depth) {
  char **names;
  size_t n;
  if (read_sorted(dir, &names, &n) != 0) {
    if (depth == 0) {
      snprintf(w->reason, w->rsz, "cannot list '%s': %s", dir, strerror(errno));
      return -1;
    }
    if (!w->quiet) {
      int e = errno;
      pp_shown_buf shown;
      fprintf(stderr, "photopipe: warning: cannot list '%s': %s\n", pp_shown(&shown, dir),
              strerror(e));
    }
    return 0;
  }
  size_t dl = strlen(dir);
  int slash = dl > 0 && dir[dl - 1] == '/';
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    if (rc == 0) {
      char *path = malloc(dl + strlen(names[i]) + 2);
      if (!path) {
        snprintf(w->reason, w->rsz, "out of memory listing '%s'", dir);
        rc = -1;
      } else {
        sprintf(path, "%s%s%s", dir, slash ? "" : "/", names[i]);
        struct stat lst, st;
        if (lstat(path, &lst) == 0) {
          if (S_ISDIR(lst.st_mode)) {
            /* A real folder (a symlink to one is not followed). */
            if (w->recursive && depth + 1 < PP_WALK_MAX_DEPTH)
              rc = walk_dir(w, path, depth + 1);
            else if (w->recursive && !w->quiet) {
              pp_shown_buf shown;
              fprintf(stderr, "photopipe: warning: '%s' is more than %d folders deep: skipped\n",
                      pp_shown(&shown, path), PP_WALK_MAX_DEPTH);
            }
          } else if (pp_is_image_name(names[i]) && stat(path, &st) == 0 &&
                     S_ISREG(st.st_mode)) {
            (*w->found)++;
            if (w->emit(w->arg, PP_SRC_FILE, path, NULL) != 0)
              rc = 1;
          }
        }
        free(path);
      }
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int pp_walk(const char *dir, int recursive, int quiet, pp_emit_fn emit, void *arg,
            size_t *found, char *reason, size_t rsz) {
  walk w = {recursive, quiet, emit, arg, found, reason, rsz};
  return walk_dir(&w, dir, 0);
}
