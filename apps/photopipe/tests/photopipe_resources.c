/* photopipe_resources.c - out of file descriptors is "not now": a local
 * read fails with EMFILE (which pp_errno_transient calls transient, unlike
 * ENOENT), and a local album store retries with back-off until a descriptor
 * is free again, then stores the photo whole. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch.h"
#include "source.h"
#include "test.h"
#include "upload.h"

static int spare[65536];
static int nspare;

/* Takes every free descriptor. */
static void exhaust(void) {
  int fd;
  while (nspare < (int)(sizeof spare / sizeof spare[0]) && (fd = dup(2)) >= 0)
    spare[nspare++] = fd;
  CHECK(errno == EMFILE);
}

static void *release_later(void *arg) {
  (void)arg;
  test_sleep_ms(150);
  close(spare[--nspare]);
  close(spare[--nspare]);
  return NULL;
}

int main(void) {
  char dir[] = "/tmp/pp-resources-XXXXXX";
  CHECK(mkdtemp(dir));
  char photo[4200];
  snprintf(photo, sizeof photo, "%s/in.jpg", dir);
  FILE *f = fopen(photo, "w");
  CHECK(f && fputs("bytes", f) >= 0 && fclose(f) == 0);

  /* Up to 100 retries of 25-50 ms: seconds of patience, whatever the load. */
  pp_net net = {.retries = 100, .backoff_ms = 50, .backoff_max_ms = 50};
  char reason[256];
  pp_album *a = pp_album_open(dir, &net, reason, sizeof reason);
  CHECK(a);

  CHECK(pp_errno_transient(EMFILE) && pp_errno_transient(ENFILE) && pp_errno_transient(ENOMEM));
  CHECK(!pp_errno_transient(ENOENT) && !pp_errno_transient(EACCES) && !pp_errno_transient(ENOSPC));

  exhaust();
  unsigned char *data = NULL;
  size_t len = 0;
  CHECK(pp_read_file(photo, 1000, &data, &len, reason, sizeof reason) == -1);
  CHECK_EQ(errno, EMFILE);
  CHECK(strstr(reason, "Too many open files"));

  /* The store waits out the shortage: a helper frees descriptors later. */
  pthread_t t;
  CHECK(pthread_create(&t, NULL, release_later, NULL) == 0);
  int attempts = 0;
  int rc = pp_album_store(a, "out.jpg", "photo", 5, 1, &attempts, reason, sizeof reason);
  CHECK(pthread_join(t, NULL) == 0);
  if (rc != 0) {
    fprintf(stderr, "store: %s\n", reason);
    return 1;
  }
  CHECK(attempts > 1);
  while (nspare > 0)
    close(spare[--nspare]);

  char out[4200];
  snprintf(out, sizeof out, "%s/out.jpg", dir);
  struct stat st;
  CHECK(stat(out, &st) == 0 && st.st_size == 5);
  CHECK(pp_read_file(photo, 1000, &data, &len, reason, sizeof reason) == 0 && len == 5);
  free(data);
  CHECK(pp_album_close(a) == 0);
  unlink(out);
  unlink(photo);
  rmdir(dir);
  printf("resources: ok (%d attempts)\n", attempts);
  return 0;
}
