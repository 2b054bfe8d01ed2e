/* pipeline_example_errors: runs examples/pipeline_errors in its two modes
 * that exit non-zero on purpose.  --fail-fast: exit status 1, the first
 * error reported, the summary balanced.  --slow, interrupted by SIGINT
 * mid-stream: the handler's cv_pipeline_cancel_async stops the pipeline
 * promptly, exit status 130, the results printed before were in input
 * order, the summary balanced (and, under ASan, nothing leaked).
 * argv[1] is the example's path. */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

typedef struct run {
  pid_t pid;
  int fd;
  char out[1 << 20];
  size_t len;
} run;

static void start(run *r, const char *exe, const char *mode) {
  int pfd[2];
  CHECK(pipe(pfd) == 0);
  r->pid = fork();
  CHECK(r->pid >= 0);
  if (r->pid == 0) {
    dup2(pfd[1], 1);
    close(pfd[0]);
    close(pfd[1]);
    execl(exe, exe, mode, (char *)NULL);
    _exit(127);
  }
  close(pfd[1]);
  r->fd = pfd[0];
  r->len = 0;
  r->out[0] = '\0';
}

/* Reads what is there (waiting up to ms); false at end of output. */
static bool pump(run *r, int ms) {
  struct pollfd p = {.fd = r->fd, .events = POLLIN};
  if (poll(&p, 1, ms) <= 0)
    return true;
  ssize_t k = read(r->fd, r->out + r->len, sizeof(r->out) - 1 - r->len);
  if (k <= 0)
    return false;
  r->len += (size_t)k;
  r->out[r->len] = '\0';
  return true;
}

static int finish(run *r, int64_t limit_ns) {
  int64_t give_up = test_now_ns() + limit_ns;
  while (pump(r, 50))
    CHECK(test_now_ns() < give_up);
  close(r->fd);
  int status;
  CHECK(waitpid(r->pid, &status, 0) == r->pid);
  CHECK(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static long count_lines(const char *s, const char *prefix) {
  long n = 0;
  for (const char *p = s; (p = strstr(p, prefix)); p++)
    n++;
  return n;
}

/* Results appear in input order, skipping the multiples of 7. */
static void check_order(const char *s) {
  long want = 1, n, v;
  for (const char *p = s; (p = strstr(p, "result ")); p++) {
    CHECK(sscanf(p, "result %ld = %ld", &n, &v) == 2);
    while (want % 7 == 0)
      want++;
    CHECK_EQ(n, want);
    CHECK_EQ(v, n * n);
    want++;
  }
}

int main(int argc, char **argv) {
  CHECK(argc == 2);
  static run r;

  start(&r, argv[1], "--fail-fast");
  int st = finish(&r, CV_SEC(60));
  fputs(r.out, stdout);
  CHECK_EQ(st, 1);
  CHECK(strstr(r.out, "failed fast: fed ") != NULL);
  CHECK(strstr(r.out, "(balanced)") != NULL);
  CHECK(strstr(r.out, "first error: stage fetch: item ") != NULL);
  CHECK(count_lines(r.out, "error in stage fetch") >= 1);
  check_order(r.out);

  start(&r, argv[1], "--slow");
  int64_t give_up = test_now_ns() + CV_SEC(60);
  while (count_lines(r.out, "result ") < 3) {
    CHECK(pump(&r, 50));
    CHECK(test_now_ns() < give_up);
  }
  int64_t t0 = test_now_ns();
  CHECK(kill(r.pid, SIGINT) == 0);
  st = finish(&r, CV_SEC(30));
  int64_t took = test_now_ns() - t0;
  fputs(r.out, stdout);
  printf("exited %.1f ms after SIGINT\n", (double)took / 1e6);
  CHECK_EQ(st, 130);
  CHECK(took < CV_SEC(5));
  CHECK(strstr(r.out, "running 100000 items; press Ctrl-C") != NULL);
  CHECK(strstr(r.out, "cancelled: fed ") != NULL);
  CHECK(strstr(r.out, "(balanced)") != NULL);
  CHECK(count_lines(r.out, "result ") < 100000);
  check_order(r.out);
  return 0;
}
