/* tests/redis_util.h - a private redis-server for a test: started on a free
 * 127.0.0.1 port in a temporary directory, stopped by its PID; helpers to
 * look at the keys a run left behind, and to start worker processes (the
 * test binary itself, exec'd with arguments). */
#ifndef CV_REDIS_UTIL_H
#define CV_REDIS_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conveyor/distributed.h"
#include "test.h"

typedef struct rs_server {
  pid_t pid;
  int port;
  char dir[128];
  char url[192];     /* redis://127.0.0.1:port (with the password if any) */
  char password[64];
  bool aof;
} rs_server;

static inline int rs_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
  socklen_t len = sizeof(a);
  CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

static inline redisContext *rs_connect(const rs_server *s) {
  struct timeval tv = {2, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
  if (!c || c->err) {
    if (c)
      redisFree(c);
    return NULL;
  }
  if (s->password[0]) {
    redisReply *r = redisCommand(c, "AUTH %s", s->password);
    freeReplyObject(r);
  }
  return c;
}

/* Starts the server (same port and directory again after rs_kill: a
 * restart).  Exits 77 (skip) when redis-server is not installed. */
static inline void rs_launch(rs_server *s) {
  char port[16], dir[160];
  snprintf(port, sizeof(port), "%d", s->port);
  snprintf(dir, sizeof(dir), "%s", s->dir);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    /* Never outlive the test, however it ends. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    const char *argv[24];
    int n = 0;
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--dir";
    argv[n++] = dir;
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = s->aof ? "yes" : "no";
    argv[n++] = "--maxmemory-policy";
    argv[n++] = "noeviction";
    if (s->password[0]) {
      argv[n++] = "--requirepass";
      argv[n++] = s->password;
    }
    argv[n] = NULL;
    execvp("redis-server", (char *const *)argv);
    _exit(127);
  }
  s->pid = pid;
  for (int i = 0; i < 500; i++) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        printf("redis-server not installed: skipped\n");
        exit(CV_TEST_SKIP);
      }
      s->pid = 0;
      return; /* port taken: the caller retries */
    }
    redisContext *c = rs_connect(s);
    if (c) {
      redisReply *r = redisCommand(c, "PING");
      bool ok = r && r->type == REDIS_REPLY_STATUS;
      freeReplyObject(r);
      redisFree(c);
      if (ok)
        return;
    }
    test_sleep_ms(10);
  }
  fprintf(stderr, "redis-server did not come up on port %d\n", s->port);
  exit(1);
}

/* A failing CHECK exits: the server's directory goes too (the server
 * itself dies with the test, PR_SET_PDEATHSIG). */
static rs_server *rs_current;
static inline void rs_atexit(void) {
  if (rs_current && rs_current->dir[0]) {
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rs_current->dir);
    if (system(cmd) != 0) {
    }
  }
}

static inline void rs_start(rs_server *s, const char *password, bool aof) {
  memset(s, 0, sizeof(*s));
  if (!rs_current)
    atexit(rs_atexit);
  rs_current = s;
  snprintf(s->dir, sizeof(s->dir), "/tmp/cv-redis-XXXXXX");
  CHECK(mkdtemp(s->dir) != NULL);
  if (password)
    snprintf(s->password, sizeof(s->password), "%s", password);
  s->aof = aof;
  for (int attempt = 0; attempt < 5; attempt++) {
    s->port = rs_free_port();
    rs_launch(s);
    if (s->pid)
      break;
  }
  CHECK(s->pid > 0);
  if (password)
    snprintf(s->url, sizeof(s->url), "redis://:%s@127.0.0.1:%d", password,
             s->port);
  else
    snprintf(s->url, sizeof(s->url), "redis://127.0.0.1:%d", s->port);
}

/* Stops the server by PID (SIGTERM: with AOF on it writes everything). */
static inline void rs_kill(rs_server *s, int sig) {
  if (s->pid <= 0)
    return;
  kill(s->pid, sig);
  int st;
  waitpid(s->pid, &st, 0);
  s->pid = 0;
}

static inline void rs_stop(rs_server *s) {
  rs_kill(s, SIGTERM);
  char cmd[200];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
  CHECK(system(cmd) == 0);
}

static inline long long rs_int(const rs_server *s, const char *fmt, ...) {
  redisContext *c = rs_connect(s);
  CHECK(c != NULL);
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  CHECK(r != NULL);
  long long v = r->type == REDIS_REPLY_NIL       ? 0
              : r->type == REDIS_REPLY_INTEGER ? r->integer
                : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10)
                                                : -1;
  freeReplyObject(r);
  redisFree(c);
  return v;
}

/* No key is left on the server (heartbeats of processes that just exited
 * expire with their lease: wait up to `ms` for them). */
static inline void rs_check_empty(const rs_server *s, long ms) {
  long long n = -1;
  for (long t = 0; t <= ms; t += 20) {
    n = rs_int(s, "DBSIZE");
    if (n == 0)
      return;
    test_sleep_ms(20);
  }
  redisContext *c = rs_connect(s);
  redisReply *r = redisCommand(c, "KEYS *");
  for (size_t i = 0; r && i < r->elements; i++)
    fprintf(stderr, "left behind: %s\n", r->element[i]->str);
  freeReplyObject(r);
  redisFree(c);
  CHECK_EQ(n, 0);
}

/* Starts `self` with the given arguments (NULL-terminated). */
static inline pid_t rs_spawn(const char *self, ...) {
  const char *argv[32];
  int n = 0;
  argv[n++] = self;
  va_list ap;
  va_start(ap, self);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < 31)
    argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execv("/proc/self/exe", (char *const *)argv);
    _exit(127);
  }
  return pid;
}

/* Waits for pid up to ms; returns its exit status, or -1 on timeout. */
static inline int rs_wait(pid_t pid, long ms) {
  for (long t = 0; t <= ms; t += 5) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    test_sleep_ms(5);
  }
  return -1;
}

#endif /* CV_REDIS_UTIL_H */
