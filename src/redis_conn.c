/* src/redis_conn.c - hiredis connections that ride out a server restart.
 *
 * A hiredis context is not thread-safe, so every thread of a run that talks
 * to the server owns one cv__rconn (or takes a mutex around a shared one).
 * A command that fails on the socket (connection reset, refused, timed out)
 * drops the context and reconnects with exponential back-off (50 ms to 1 s)
 * until `timeout_ns` has passed since the first failure; then the run has
 * lost its server and the caller gets CV_EIO with a message that names
 * host:port.  Retried commands are safe because every script is fenced or
 * idempotent (redis_scripts.c): a commit whose reply was lost is refused the
 * second time, not applied twice.
 *
 * Blocking commands (XREADGROUP BLOCK, BLMOVE) mark their connection, so
 * that the control thread can end them with CLIENT UNBLOCK when the run is
 * closed or cancelled; a command marked but not yet on the server is
 * unblocked again a few times, 2 ms apart.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conveyor/queue.h"
#include "internal.h"
#include "redis_conn.h"

static struct timeval tv_of(int64_t ns) {
  struct timeval tv = {.tv_sec = (time_t)(ns / 1000000000),
                       .tv_usec = (suseconds_t)(ns % 1000000000 / 1000)};
  return tv;
}

int cv__rshared_init(cv__rshared *sh, const cv__broker_addr *addr,
                     int64_t timeout_ns) {
  memset(sh, 0, sizeof(*sh));
  sh->addr = addr;
  sh->timeout_ns = timeout_ns;
  atomic_init(&sh->stopping, false);
  atomic_init(&sh->lost, false);
  if (pthread_mutex_init(&sh->mu, NULL) != 0)
    return CV_ESYS;
  if (cv__cond_init(&sh->cond) != CV_OK) {
    pthread_mutex_destroy(&sh->mu);
    return CV_ESYS;
  }
  return CV_OK;
}

void cv__rshared_destroy(cv__rshared *sh) {
  pthread_cond_destroy(&sh->cond);
  pthread_mutex_destroy(&sh->mu);
}

void cv__rshared_sleep(cv__rshared *sh, int64_t ns) {
  int64_t deadline = cv__deadline(ns);
  pthread_mutex_lock(&sh->mu);
  while (!atomic_load(&sh->stopping) && !atomic_load(&sh->lost))
    if (cv__cond_wait(&sh->cond, &sh->mu, deadline) == CV_ETIMEDOUT)
      break;
  pthread_mutex_unlock(&sh->mu);
}

static void set_err(cv__rshared *sh, const char *fmt, ...) {
  pthread_mutex_lock(&sh->mu);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sh->err, sizeof(sh->err), fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&sh->mu);
}

/* Connects k->c; on failure leaves it NULL and writes err. */
static int connect_once(cv__rconn *k, char *err, size_t errlen) {
  const cv__broker_addr *a = k->sh->addr;
  struct timeval tv = tv_of(k->sh->timeout_ns);
  redisContext *c = a->path[0] ? redisConnectUnixWithTimeout(a->path, tv)
                               : redisConnectWithTimeout(a->host, a->port, tv);
  if (!c) {
    snprintf(err, errlen, "redis at %s: out of memory", a->where);
    return CV_ENOMEM;
  }
  if (c->err) {
    snprintf(err, errlen, "cannot connect to redis at %s: %s", a->where,
             c->errstr);
    redisFree(c);
    return CV_EIO;
  }
  redisSetTimeout(c, tv);
  redisReply *r;
  if (a->password[0]) {
    const char *argv[] = {"AUTH", a->password};
    r = redisCommandArgv(c, 2, argv, NULL);
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (!ok) {
      /* Never the password, nor the server's echo of anything. */
      snprintf(err, errlen, "redis at %s refused the password", a->where);
      redisFree(c);
      return CV_EIO;
    }
  }
  if (a->db) {
    r = redisCommand(c, "SELECT %d", a->db);
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (!ok) {
      snprintf(err, errlen, "redis at %s: cannot select database %d",
               a->where, a->db);
      redisFree(c);
      return CV_EIO;
    }
  }
  r = redisCommand(c, "CLIENT ID");
  if (!r || r->type != REDIS_REPLY_INTEGER) {
    snprintf(err, errlen, "redis at %s: %s", a->where,
             r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
    freeReplyObject(r);
    redisFree(c);
    return CV_EIO;
  }
  k->id = r->integer;
  freeReplyObject(r);
  pthread_mutex_lock(&k->sh->mu);
  k->c = c;
  pthread_mutex_unlock(&k->sh->mu);
  return CV_OK;
}

int cv__rconn_open(cv__rconn *k, cv__rshared *sh, bool blocker, char *err,
                   size_t errlen) {
  memset(k, 0, sizeof(*k));
  k->sh = sh;
  atomic_init(&k->blocking, 0);
  int rc = connect_once(k, err, errlen);
  if (rc != CV_OK)
    return rc;
  if (blocker) {
    pthread_mutex_lock(&sh->mu);
    k->next = sh->blockers;
    sh->blockers = k;
    k->registered = true;
    pthread_mutex_unlock(&sh->mu);
  }
  return CV_OK;
}

void cv__rconn_close(cv__rconn *k) {
  if (!k->sh)
    return;
  pthread_mutex_lock(&k->sh->mu);
  if (k->registered) {
    for (cv__rconn **pp = &k->sh->blockers; *pp; pp = &(*pp)->next)
      if (*pp == k) {
        *pp = k->next;
        break;
      }
    k->registered = false;
  }
  redisContext *c = k->c;
  k->c = NULL;
  pthread_mutex_unlock(&k->sh->mu);
  if (c)
    redisFree(c);
}

/* Drops a broken context (under the registry lock, which unblock_all
 * reads it under). */
static void drop(cv__rconn *k) {
  pthread_mutex_lock(&k->sh->mu);
  redisContext *c = k->c;
  k->c = NULL;
  pthread_mutex_unlock(&k->sh->mu);
  if (c)
    redisFree(c);
}

static int run(cv__rconn *k, redisReply **out, int argc, const char **argv,
               const size_t *lens, int64_t extra_ns) {
  cv__rshared *sh = k->sh;
  int64_t first = 0, backoff = CV_MSEC(50);
  char why[CV__ERR_MAX] = "connection lost";
  *out = NULL;
  for (;;) {
    if (k->c) {
      if (extra_ns)
        redisSetTimeout(k->c, tv_of(sh->timeout_ns + extra_ns));
      redisReply *r = redisCommandArgv(k->c, argc, argv, lens);
      if (extra_ns && k->c->err == 0)
        redisSetTimeout(k->c, tv_of(sh->timeout_ns));
      if (r && r->type == REDIS_REPLY_ERROR &&
          strncmp(r->str, "LOADING", 7) == 0) {
        /* A restarted server reading its append-only file: wait. */
        snprintf(why, sizeof(why), "%.120s", r->str);
        freeReplyObject(r);
      } else if (r) {
        *out = r;
        return CV_OK;
      } else {
        snprintf(why, sizeof(why), "%s", k->c->errstr);
        drop(k);
      }
    }
    if (atomic_load(&sh->stopping))
      return CV_ECANCELED;
    if (atomic_load(&sh->lost))
      return CV_EIO;
    int64_t now = cv__now_ns();
    if (!first)
      first = now;
    if (now - first > sh->timeout_ns) {
      set_err(sh, "lost the connection to redis at %s for over %lld ms: %s",
              sh->addr->where, (long long)(sh->timeout_ns / 1000000), why);
      atomic_store(&sh->lost, true);
      pthread_mutex_lock(&sh->mu);
      pthread_cond_broadcast(&sh->cond);
      pthread_mutex_unlock(&sh->mu);
      return CV_EIO;
    }
    cv__rshared_sleep(sh, backoff);
    backoff = backoff * 2 > CV_SEC(1) ? CV_SEC(1) : backoff * 2;
    char err[CV__ERR_MAX];
    if (k->c)
      continue; /* still connected: the server was loading */
    if (connect_once(k, err, sizeof(err)) == CV_OK)
      k->reconnected = true;
    else
      snprintf(why, sizeof(why), "%s", err);
  }
}

int cv__rconn_cmd(cv__rconn *k, redisReply **out, int argc, const char **argv,
                  const size_t *lens) {
  return run(k, out, argc, argv, lens, 0);
}

int cv__rconn_cmdf(cv__rconn *k, redisReply **out, const char *fmt, ...) {
  /* Split on spaces: the formatted commands carry no binary data. */
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  const char *argv[16];
  int argc = 0;
  for (char *s = strtok(buf, " "); s && argc < 16; s = strtok(NULL, " "))
    argv[argc++] = s;
  return run(k, out, argc, argv, NULL, 0);
}

static bool is_noscript(const redisReply *r) {
  return r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

int cv__rconn_eval(cv__rconn *k, int which, redisReply **out, int argc,
                   const char **argv, const size_t *lens) {
  cv__rshared *sh = k->sh;
  const char **av = malloc((size_t)(argc + 3) * sizeof(*av));
  size_t *al = malloc((size_t)(argc + 3) * sizeof(*al));
  if (!av || !al) {
    free(av);
    free(al);
    return CV_ENOMEM;
  }
  av[0] = "EVALSHA";
  av[1] = sh->sha[which];
  av[2] = "0";
  for (int i = 0; i < 3; i++)
    al[i] = strlen(av[i]);
  for (int i = 0; i < argc; i++) {
    av[i + 3] = argv[i];
    al[i + 3] = lens ? lens[i] : strlen(argv[i]);
  }
  int rc;
  for (int attempt = 0;; attempt++) {
    rc = run(k, out, argc + 3, av, al, 0);
    if (rc != CV_OK || !is_noscript(*out) || attempt > 0)
      break;
    /* The server restarted without its script cache: load it again (the
     * SHA1 of the same text does not change). */
    freeReplyObject(*out);
    *out = NULL;
    /* Loaded at open, so its text exists. */
    const char *load[] = {"SCRIPT", "LOAD", cv__lua_script(which)};
    redisReply *r;
    rc = run(k, &r, 3, load, NULL, 0);
    if (rc != CV_OK)
      break;
    freeReplyObject(r);
  }
  free(av);
  free(al);
  if (rc == CV_OK && (*out)->type == REDIS_REPLY_ERROR) {
    set_err(sh, "redis at %s: script error: %.160s", sh->addr->where,
            (*out)->str);
    freeReplyObject(*out);
    *out = NULL;
    return CV_EIO;
  }
  return rc;
}

int cv__rconn_block(cv__rconn *k, redisReply **out, int argc,
                    const char **argv, const size_t *lens, int64_t block_ns) {
  atomic_store(&k->blocking, 1);
  int rc = run(k, out, argc, argv, lens, block_ns);
  atomic_store(&k->blocking, 0);
  return rc;
}

void cv__rconn_unblock_all(cv__rshared *sh, cv__rconn *via) {
  for (int pass = 0; pass < 25; pass++) {
    bool again = false;
    pthread_mutex_lock(&sh->mu);
    for (cv__rconn *k = sh->blockers; k; k = k->next) {
      if (!atomic_load(&k->blocking) || !k->c)
        continue;
      redisReply *r = via->c ? redisCommand(via->c, "CLIENT UNBLOCK %lld",
                                            k->id)
                             : NULL;
      if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0)
        again = true; /* marked, but not yet blocked on the server */
      freeReplyObject(r);
    }
    pthread_mutex_unlock(&sh->mu);
    if (!again)
      return;
    cv__rshared_sleep(sh, CV_MSEC(2));
  }
}
