/* photopipe_manifest_rows.c - the album manifest: a source keeps its name, a
 * different source wanting a held name gets "stem-N.ext" (ASCII case does
 * not matter), renames skip held names, pending rows can be forgotten and
 * stored ones cannot; threads on one handle and a second handle (as a
 * second run would) claim names concurrently, each name exactly once; the
 * WebDAV manifest's file name never carries a password; temporary file
 * names of dead runs parse. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"
#include "stale.h"
#include "test.h"

static char dir[256];

static char *claim(pp_manifest *m, const char *src, const char *want, pp_entry *e) {
  char reason[256];
  char *n = pp_manifest_claim(m, src, want, e, reason, sizeof reason);
  if (!n) {
    fprintf(stderr, "claim %s: %s\n", src, reason);
    exit(1);
  }
  return n;
}

static void check_name(pp_manifest *m, const char *src, const char *want, const char *expect,
                       int found) {
  pp_entry e;
  char *n = claim(m, src, want, &e);
  if (strcmp(n, expect) != 0 || e.found != found) {
    fprintf(stderr, "claim %s (%s): got %s found %d, want %s found %d\n", src, want, n,
            e.found, expect, found);
    exit(1);
  }
  free(n);
}

#define THREADS 4
#define PER_THREAD 50

typedef struct worker {
  pp_manifest *m;
  int id;
  char *names[PER_THREAD];
} worker;

static void *claimer(void *arg) {
  worker *w = arg;
  for (int j = 0; j < PER_THREAD; j++) {
    char src[64];
    snprintf(src, sizeof src, "/cam%d/%d/x.jpg", w->id, j);
    pp_entry e;
    w->names[j] = claim(w->m, src, "x.jpg", &e);
  }
  return NULL;
}

int main(void) {
  snprintf(dir, sizeof dir, "%s/pp-manifest-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  CHECK(mkdtemp(dir) != NULL);
  char reason[512];
  pp_manifest *m = pp_manifest_open(dir, 1, reason, sizeof reason);
  if (!m) {
    fprintf(stderr, "open: %s\n", reason);
    return 1;
  }

  /* Names: first come keeps it; case-insensitive clash; the source keeps
   * its name on the next claim. */
  check_name(m, "/camA/IMG_0001.jpg", "IMG_0001.jpg", "IMG_0001.jpg", 0);
  check_name(m, "/camB/IMG_0001.jpg", "img_0001.JPG", "img_0001-2.JPG", 0);
  check_name(m, "/camA/IMG_0001.jpg", "IMG_0001.jpg", "IMG_0001.jpg", 1);

  /* Stored: the row comes back with what was recorded. */
  char h[PP_SHA256_HEX];
  pp_sha256_hex("abc", 3, h);
  CHECK(strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
  CHECK_EQ(pp_manifest_stored(m, "/camA/IMG_0001.jpg", 3, 42, h, "etag=\"1\";", 10, h,
                              "fit=1x1", reason, sizeof reason),
           0);
  pp_entry e;
  char *n = claim(m, "/camA/IMG_0001.jpg", "IMG_0001.jpg", &e);
  CHECK(e.found && e.stored && e.source_size == 3 && e.source_mtime_ns == 42 &&
        e.output_size == 10 && strcmp(e.source_sha256, h) == 0 &&
        strcmp(e.settings, "fit=1x1") == 0 && strcmp(e.source_validator, "etag=\"1\";") == 0);
  free(n);
  CHECK_EQ(pp_manifest_touch(m, "/camA/IMG_0001.jpg", 4, 43, "etag=\"2\";"), 0);
  n = claim(m, "/camA/IMG_0001.jpg", "IMG_0001.jpg", &e);
  CHECK(e.source_size == 4 && e.source_mtime_ns == 43 && e.stored &&
        strcmp(e.source_validator, "etag=\"2\";") == 0);
  free(n);
  /* Storing a source with no row is an error, not a silent no-op. */
  CHECK_EQ(pp_manifest_stored(m, "/nowhere.jpg", 1, 1, h, "", 1, h, "", reason, sizeof reason),
           -1);

  /* Rename: from number k on, skipping held names (its own included). */
  unsigned k = 1;
  n = pp_manifest_rename(m, "/camB/IMG_0001.jpg", "IMG_0001.jpg", &k, reason, sizeof reason);
  CHECK(n && strcmp(n, "IMG_0001-3.jpg") == 0 && k == 3);
  free(n);
  k = 2;
  n = pp_manifest_rename(m, "/camB/IMG_0001.jpg", "IMG_0001.jpg", &k, reason, sizeof reason);
  CHECK(n && strcmp(n, "IMG_0001-2.jpg") == 0 && k == 2);
  free(n);

  /* Forget: only pending rows go, and their names come free. */
  CHECK_EQ(pp_manifest_forget(m, "/camB/IMG_0001.jpg"), 0);
  CHECK_EQ(pp_manifest_forget(m, "/camA/IMG_0001.jpg"), 0);
  check_name(m, "/camC/IMG_0001.jpg", "IMG_0001.jpg", "IMG_0001-2.jpg", 0);
  check_name(m, "/camA/IMG_0001.jpg", "IMG_0001.jpg", "IMG_0001.jpg", 1);

  /* Concurrent claims: THREADS threads on this handle plus the same number
   * on a second handle (another run): every name once. */
  pp_manifest *m2 = pp_manifest_open(dir, 1, reason, sizeof reason);
  CHECK(m2 != NULL);
  worker w[2 * THREADS];
  pthread_t t[2 * THREADS];
  for (int i = 0; i < 2 * THREADS; i++) {
    w[i].m = i < THREADS ? m : m2;
    w[i].id = i;
    CHECK_EQ(pthread_create(&t[i], NULL, claimer, &w[i]), 0);
  }
  for (int i = 0; i < 2 * THREADS; i++)
    CHECK_EQ(pthread_join(t[i], NULL), 0);
  int total = 2 * THREADS * PER_THREAD;
  char *seen = calloc((size_t)total + 2, 1);
  CHECK(seen != NULL);
  long sum = 0;
  for (int i = 0; i < 2 * THREADS; i++)
    for (int j = 0; j < PER_THREAD; j++) {
      unsigned num = 1;
      if (strcmp(w[i].names[j], "x.jpg") != 0)
        CHECK_EQ(sscanf(w[i].names[j], "x-%u.jpg", &num), 1);
      CHECK(num >= 1 && num <= (unsigned)total);
      CHECK_EQ(seen[num], 0); /* no name twice */
      seen[num] = 1;
      sum += num;
      free(w[i].names[j]);
    }
  CHECK_EQ(sum, (long)total * (total + 1) / 2); /* x.jpg, x-2.jpg ... x-total.jpg */
  free(seen);
  pp_manifest_close(m2);
  pp_manifest_close(m);

  /* ls prints the rows. */
  FILE *f = tmpfile();
  CHECK(f != NULL);
  CHECK_EQ(pp_manifest_ls(dir, f), 0);
  CHECK_EQ(ftell(f) > 0, 1);
  fclose(f);

  /* The WebDAV manifest's place: under XDG_STATE_HOME, the same with or
   * without a password in the URL, which never reaches the file name. */
  setenv("XDG_STATE_HOME", "/state", 1);
  char p1[4200], p2[4200], p3[4200];
  CHECK_EQ(pp_manifest_locate("https://u:secret@dav.example:8443/a/b/", p1, sizeof p1, reason,
                              sizeof reason),
           0);
  CHECK_EQ(pp_manifest_locate("https://dav.example:8443/a/b", p2, sizeof p2, reason,
                              sizeof reason),
           0);
  CHECK_EQ(pp_manifest_locate("https://dav.example:8443/a/c", p3, sizeof p3, reason,
                              sizeof reason),
           0);
  CHECK(strcmp(p1, p2) == 0 && strcmp(p2, p3) != 0);
  CHECK(strncmp(p1, "/state/photopipe/albums/dav.example_8443_a_b-", 45) == 0);
  CHECK(strstr(p1, "secret") == NULL);
  char *key = pp_source_key("http://me:pw@host/x.jpg", 0);
  CHECK(key && strcmp(key, "http://host/x.jpg") == 0);
  free(key);

  /* Temporary file names. */
  pid_t pid = 0;
  CHECK_EQ(pp_stale_parse(".IMG_0001.jpg.pp1234-7.tmp", &pid), 1);
  CHECK_EQ(pid, 1234);
  CHECK_EQ(pp_stale_parse(".a.b.pp1-0.tmp", &pid), 1);
  CHECK_EQ(pp_stale_parse("IMG.jpg.pp12-1.tmp", &pid), 0); /* not hidden */
  CHECK_EQ(pp_stale_parse(".IMG.jpg.pp-1.tmp", &pid), 0);
  CHECK_EQ(pp_stale_parse(".IMG.jpg.pp12.tmp", &pid), 0);
  CHECK_EQ(pp_stale_parse(".IMG.jpg.xx12-1.tmp", &pid), 0);
  CHECK_EQ(pp_stale_parse(".photopipe", &pid), 0);

  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK_EQ(system(cmd), 0);
  puts("photopipe_manifest_rows: ok");
  return 0;
}
