/* src/redis_session.c - a worker's session in a distributed run: how one
 * worker thread takes entries of its stage's stream and commits what
 * became of them, on the run of redis_run.c.
 *
 * DESIGN
 *
 * Batches.  A worker's take is one XREADGROUP of entries holding about as
 * many items as its stage takes at once (a plain read while busy; the take
 * script when that finds nothing, or to look for dead processes' entries);
 * its commit is one script call for the whole batch, whose outputs it packs
 * into entries of the size the next stage asked for (redis_scripts.c says
 * how entries hold items).  Nothing waits for a batch to fill.
 *
 * A commit is fenced: the script refuses entries whose lease was lost (the
 * process was thought dead and they were taken over), and the commit runs
 * again without them, their outputs dropped.  A taker whose commit needs k
 * slots downstream holds them before its commit script runs, waiting for
 * room with the run's BLMOVE; outputs of one entry that could never fit
 * the next stage go in pieces, then the entry is committed alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conveyor/queue.h"
#include "internal.h"
#include "redis_args.h"
#include "redis_run.h"
#include "redis_session.h"

struct cv__redis_session {
  cv__redis *r;
  size_t i;
  char consumer[CV__CONSUMER_MAX];
  char stream[CV__RUN_MAX + 48];
  cv__rconn k;
  bool own;       /* read own pending entries first (after a reconnect) */
  bool seen_run;  /* the run existed once: its absence now means it ended */
  int64_t next_reclaim;
  redisReply *last; /* holds the data of the last take */
  /* The last take: its entries and their items (pointing into `last`). */
  cv__redis_entry *ents;
  size_t nents, ents_cap;
  cv__redis_item *items;
  size_t nitems, items_cap;
  double per_entry; /* items per entry lately, to size XREADGROUP COUNT */
  size_t want;      /* the last take's max: the stage's items per entry */
  size_t pk_out;    /* items per entry the next stage asks for */
};

int cv__redis_session_open(cv__redis *r, size_t stage, unsigned worker,
                           cv__redis_session **out, char *err,
                           size_t errlen) {
  cv__redis_session *s = calloc(1, sizeof(*s));
  if (!s)
    return CV_ENOMEM;
  s->r = r;
  s->i = stage;
  snprintf(s->consumer, sizeof(s->consumer), "%s.%zu.%u", r->proc, stage,
           worker);
  snprintf(s->stream, sizeof(s->stream), "%ss:%zu", r->prefix, stage);
  s->own = true; /* a restarted process never has any, but it is cheap */
  s->per_entry = 1;
  s->want = 1;
  s->pk_out = 1;
  int rc = cv__rconn_open(&s->k, &r->sh, true, err, errlen);
  if (rc != CV_OK) {
    free(s);
    return rc;
  }
  *out = s;
  return CV_OK;
}

void cv__redis_session_free(cv__redis_session *s) {
  if (!s)
    return;
  freeReplyObject(s->last);
  cv__rconn_close(&s->k);
  free(s->ents);
  free(s->items);
  free(s);
}

static bool add_item(void *arg, const char *d, size_t len) {
  cv__redis_session *s = arg;
  if (!cv__rgrow(&s->items, &s->items_cap, s->nitems, sizeof(*s->items), 64))
    return false;
  s->items[s->nitems++] = (cv__redis_item){d, len};
  return true;
}

/* Adds an entry and its items (kind 'd' one, 'b' packed).  A malformed
 * packed entry keeps the items before the fault. */
static bool add_entry(cv__redis_session *s, const char *id, char kind,
                      const char *d, size_t len) {
  if (!cv__rgrow(&s->ents, &s->ents_cap, s->nents, sizeof(*s->ents), 16))
    return false;
  size_t first = s->nitems;
  if (kind == 'b') {
    if (!cv__runpack_items(d, len, add_item, s) && s->nitems == s->items_cap)
      return false; /* out of memory, not malformed */
  } else if (!add_item(s, d, len)) {
    return false;
  }
  s->ents[s->nents++] = (cv__redis_entry){id, first, s->nitems - first};
  return true;
}

/* Fills the take from a flat {id, kind, data...} list from `from`. */
static bool fill_flat(cv__redis_session *s, const redisReply *rep,
                      size_t from) {
  for (size_t x = from; x + 2 < rep->elements; x += 3)
    if (!add_entry(s, rep->element[x]->str, rep->element[x + 1]->str[0],
                   rep->element[x + 2]->str, rep->element[x + 2]->len))
      return false;
  return true;
}

/* Fills the take from an XREADGROUP reply. */
static bool fill_stream(cv__redis_session *s, const redisReply *rep) {
  const redisReply *list = rep->element[0]->element[1];
  for (size_t x = 0; x < list->elements; x++) {
    const redisReply *en = list->element[x];
    const char *d;
    size_t len;
    char kind = cv__rentry_data(en->element[1], &d, &len);
    if (!add_entry(s, en->element[0]->str, kind, d, len))
      return false;
  }
  return true;
}

/* Stream order of two entries ("ms-seq" ids, compared as numbers). */
static int id_cmp(const void *a, const void *b) {
  const char *x = ((const cv__redis_entry *)a)->id;
  const char *y = ((const cv__redis_entry *)b)->id;
  char *ex, *ey;
  unsigned long long mx = strtoull(x, &ex, 10), my = strtoull(y, &ey, 10);
  if (mx != my)
    return mx < my ? -1 : 1;
  unsigned long long sx = *ex == '-' ? strtoull(ex + 1, NULL, 10) : 0;
  unsigned long long sy = *ey == '-' ? strtoull(ey + 1, NULL, 10) : 0;
  return (sx > sy) - (sx < sy);
}

/* Keeps `rep` as the data of the take just filled, puts its entries in
 * stream order (the commit acknowledges them in that order, which lets
 * its script find the ones to delete by bisection) and learns the entry
 * size.  CV_OK, or CV_ENOMEM (the entries stay pending: not lost). */
static int took(cv__redis_session *s, redisReply *rep, bool filled,
                const cv__redis_entry **e, size_t *n,
                const cv__redis_item **items) {
  s->last = rep;
  if (!filled) {
    s->own = true; /* look at them again on the next take */
    return CV_ENOMEM;
  }
  qsort(s->ents, s->nents, sizeof(*s->ents), id_cmp);
  if (s->nents)
    s->per_entry = (3 * s->per_entry +
                    (double)s->nitems / (double)s->nents) / 4;
  *e = s->ents;
  *n = s->nents;
  *items = s->items;
  return CV_OK;
}

int cv__redis_take(cv__redis_session *s, size_t max,
                   const cv__redis_entry **e, size_t *n,
                   const cv__redis_item **items, int64_t timeout_ns) {
  cv__redis *r = s->r;
  *n = 0;
  *e = NULL;
  *items = NULL;
  freeReplyObject(s->last);
  s->last = NULL;
  s->nents = s->nitems = 0;
  if (max < 1)
    max = 1;
  s->want = max;
  /* Entries to ask for: about max items, at the entry size seen lately. */
  size_t count = (size_t)((double)max / s->per_entry + 0.5);
  if (count < 1)
    count = 1;
  if (count > max)
    count = max;
  char ib[24], kb[24], db[24];
  cv__rfmt_u(ib, sizeof(ib), s->i);
  cv__rfmt_u(kb, sizeof(kb), count);
  cv__rfmt_u(db, sizeof(db), r->cfg.max_deliveries);
  if (timeout_ns == CV_NOWAIT && s->seen_run && !s->own &&
      cv__now_ns() < s->next_reclaim) {
    /* The busy path: a plain read of new entries, no script.  Nothing
     * there, or no stream (cancelled, over): the script looks closer. */
    if (atomic_load(&r->cancelled))
      return CV_ECANCELED;
    const char *rd[] = {"XREADGROUP", "GROUP",   "g",       s->consumer, "COUNT",
                        kb,           "STREAMS", s->stream, ">"};
    redisReply *rep;
    s->k.reconnected = false;
    int rc = cv__rconn_cmd(&s->k, &rep, 9, rd, NULL);
    if (rc != CV_OK)
      return rc;
    s->own = s->k.reconnected;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0)
      return took(s, rep, fill_stream(s, rep), e, n, items);
    bool none = rep->type == REDIS_REPLY_NIL;
    freeReplyObject(rep);
    if (none && !s->own)
      return CV_EEMPTY;
  }
  for (;;) {
    if (atomic_load(&r->cancelled))
      return CV_ECANCELED;
    uint64_t seen = atomic_load(&r->gen);
    int64_t now = cv__now_ns();
    bool reclaim = now >= s->next_reclaim;
    if (reclaim)
      s->next_reclaim = now + r->cfg.lease_ns / 2;
    const char *argv[] = {r->prefix, ib,  s->consumer,       kb,
                          db,        reclaim ? "1" : "0", s->own ? "1" : "0"};
    redisReply *rep;
    s->k.reconnected = false;
    int rc = cv__rconn_eval(&s->k, CV__LUA_TAKE, &rep, 7, argv, NULL);
    if (rc != CV_OK)
      return rc;
    s->own = s->k.reconnected;
    char tag = rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
                       rep->element[0]->type == REDIS_REPLY_STRING
                   ? rep->element[0]->str[0]
                   : '?';
    if (tag == 'R')
      s->next_reclaim = 0; /* more of a dead process's entries: next take */
    if (tag == 'E' || tag == 'R') {
      s->seen_run = true;
      return took(s, rep, fill_flat(s, rep, 1), e, n, items);
    }
    long long drained = tag == 'N' && rep->elements > 1
                            ? rep->element[1]->integer
                            : 0;
    freeReplyObject(rep);
    if (tag == 'C')
      return CV_ECANCELED;
    if (tag == 'O')
      return CV_ECLOSED; /* the run just ended */
    if (tag == 'G') {
      if (s->seen_run)
        return CV_ECLOSED;
      if (timeout_ns == CV_NOWAIT)
        return CV_EEMPTY;
      /* The coordinator has not created the run yet: its INIT publishes. */
      cv__redis_wait_gen(r, seen, r->cfg.lease_ns / 2);
      continue;
    }
    s->seen_run = true;
    if (drained)
      return CV_ECLOSED;
    if (timeout_ns == CV_NOWAIT)
      return CV_EEMPTY;
    int64_t slice = r->cfg.lease_ns / 2;
    char ms[24];
    cv__rfmt_u(ms, sizeof(ms), (uint64_t)(slice / 1000000) + 1);
    const char *bl[] = {"XREADGROUP", "GROUP", "g", s->consumer, "COUNT", kb,
                        "BLOCK", ms, "STREAMS", s->stream, ">"};
    atomic_store(&s->k.blocking, 1);
    if (atomic_load(&r->gen) != seen || atomic_load(&r->cancelled)) {
      atomic_store(&s->k.blocking, 0);
      continue;
    }
    rc = cv__rconn_block(&s->k, &rep, 11, bl, NULL, slice);
    if (rc != CV_OK)
      return rc;
    if (s->k.reconnected)
      s->own = true;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0)
      return took(s, rep, fill_stream(s, rep), e, n, items);
    bool error = rep->type == REDIS_REPLY_ERROR;
    freeReplyObject(rep);
    if (error) /* the stream went away (cancel, end): look again soon */
      cv__redis_wait_gen(r, seen, CV_MSEC(100));
  }
}

/* Holds `need` slots of boundary j for the consumer. */
static int hold_slots(cv__redis_session *s, size_t j, size_t need,
                      int64_t timeout_ns) {
  cv__redis *r = s->r;
  char jb[24], kb[24];
  cv__rfmt_u(jb, sizeof(jb), j);
  cv__rfmt_u(kb, sizeof(kb), need);
  for (;;) {
    uint64_t seen = atomic_load(&r->gen);
    const char *argv[] = {r->prefix, jb, s->consumer, kb};
    redisReply *rep;
    int rc = cv__rconn_eval(&s->k, CV__LUA_TOKENS, &rep, 4, argv, NULL);
    if (rc != CV_OK)
      return rc;
    long long held = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -3;
    freeReplyObject(rep);
    if (held < 0)
      return CV_ECANCELED;
    if ((size_t)held >= need)
      return CV_OK;
    if (timeout_ns == CV_NOWAIT)
      return CV_EFULL;
    rc = cv__redis_wait_slot(r, &s->k, j, s->consumer, seen, -1);
    if (rc != CV_OK)
      return rc;
  }
}

/* One try of the commit script.  Entries already known lost go as such;
 * if the script finds more, they are marked and it runs again.  The
 * outputs of the committed entries are packed in their order. */
static int commit_once(cv__redis_session *s, cv__redis_fate *f, size_t n,
                       char *const *outs, const size_t *lens, size_t nouts,
                       size_t *lost) {
  cv__redis *r = s->r;
  size_t cap = r->caps[s->i + 1];
  const char **od = malloc((nouts ? nouts : 1) * sizeof(*od));
  size_t *ol = malloc((nouts ? nouts : 1) * sizeof(*ol));
  if (!od || !ol) {
    free(od);
    free(ol);
    return CV_ENOMEM;
  }
  int rc;
  for (;;) {
    cv__rargs a = {0};
    cv__rargs_str(&a, r->prefix);
    cv__rargs_num(&a, s->i);
    cv__rargs_str(&a, s->consumer);
    cv__rargs_num(&a, n);
    cv__rargs_num(&a, 0); /* the group count, below */
    cv__rargs_num(&a, s->want);
    size_t no = 0, off = 0;
    for (size_t x = 0; x < n; x++) {
      const cv__redis_fate *fx = &f[x];
      cv__rargs_str(&a, fx->id);
      cv__rargs_str(&a, fx->lost ? "x" : "c");
      cv__rargs_num(&a, fx->ok);
      cv__rargs_num(&a, fx->filtered);
      cv__rargs_num(&a, fx->failed);
      cv__rargs_num(&a, fx->put_before);
      cv__rargs_num(&a, fx->lost ? 0 : fx->nout);
      if (fx->failed && !fx->lost) {
        char *m = cv__rargs_own(&a, CV__ERR_MAX + 24);
        if (m) {
          int k = snprintf(m, CV__ERR_MAX + 24, "%d %s", fx->code,
                           fx->msg ? fx->msg : "");
          cv__rargs_add(&a, m,
                        (size_t)k < CV__ERR_MAX + 24 ? (size_t)k
                                                     : CV__ERR_MAX + 23);
        }
      } else {
        cv__rargs_str(&a, "");
      }
      for (size_t y = 0; y < fx->nout; y++, off++)
        if (!fx->lost) {
          od[no] = outs[off];
          ol[no++] = lens[off];
        }
    }
    size_t pk = s->pk_out;
    if (cap && pk > cap)
      pk = cap;
    size_t ng = cv__rargs_groups(&a, od, ol, no, pk);
    cv__rargs_set_num(&a, 4, ng);
    redisReply *rep;
    rc = cv__rargs_eval(&s->k, CV__LUA_COMMIT, &a, &rep);
    cv__rargs_free(&a);
    if (rc != CV_OK)
      break;
    long long code = rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
                             rep->element[0]->type == REDIS_REPLY_INTEGER
                         ? rep->element[0]->integer
                         : -3;
    if (code == -5) {
      /* Taken over while we ran them: commit the rest without them. */
      for (size_t y = 1; y < rep->elements; y++)
        for (size_t x = 0; x < n; x++)
          if (!f[x].lost && strcmp(f[x].id, rep->element[y]->str) == 0)
            f[x].lost = true;
      freeReplyObject(rep);
      continue;
    }
    if (code >= 0 && rep->elements >= 3) {
      *lost += (size_t)rep->element[1]->integer;
      if (rep->element[2]->integer > 0)
        s->pk_out = (size_t)rep->element[2]->integer;
    }
    freeReplyObject(rep);
    rc = code == -4 ? CV_EFULL : code < 0 ? CV_ECANCELED : CV_OK;
    break;
  }
  free(od);
  free(ol);
  return rc;
}

/* Commits, waiting for slots downstream while there are too few. */
static int commit_wait(cv__redis_session *s, cv__redis_fate *f, size_t n,
                       char *const *outs, const size_t *lens, size_t nouts,
                       int64_t timeout_ns, size_t *lost) {
  for (;;) {
    uint64_t seen = atomic_load(&s->r->gen);
    int rc = commit_once(s, f, n, outs, lens, nouts, lost);
    if (rc != CV_EFULL || timeout_ns == CV_NOWAIT)
      return rc;
    rc = cv__redis_wait_slot(s->r, &s->k, s->i + 1, s->consumer, seen, -1);
    if (rc != CV_OK)
      return rc;
  }
}

/* Outputs of one entry that do not fit the next stage at all: put in
 * pieces (not atomic with the entry's acknowledgement: documented). */
static int put_pieces(cv__redis_session *s, char *const *outs,
                      const size_t *lens, size_t nouts) {
  cv__redis *r = s->r;
  size_t j = s->i + 1, cap = r->caps[j];
  for (size_t done = 0; done < nouts;) {
    size_t k = nouts - done < cap ? nouts - done : cap;
    int rc = hold_slots(s, j, k, CV_FOREVER);
    if (rc != CV_OK)
      return rc;
    long long got;
    size_t pack = s->pk_out < k ? s->pk_out : k, left;
    rc = cv__redis_eval_put(&s->k, r, j, s->consumer, outs + done, lens + done,
                            k, pack, &s->pk_out, &got, &left);
    if (rc != CV_OK)
      return rc;
    if (got < 0)
      return CV_ECANCELED;
    done += (size_t)got;
  }
  return CV_OK;
}

int cv__redis_commit(cv__redis_session *s, cv__redis_fate *f, size_t n,
                     char *const *outs, const size_t *lens, size_t nouts,
                     int64_t timeout_ns, size_t *lost) {
  cv__redis *r = s->r;
  size_t j = s->i + 1, cap = r->caps[j];
  if (atomic_load(&r->cancelled))
    return CV_ECANCELED;
  if (cap == 0 || nouts <= cap)
    return commit_wait(s, f, n, outs, lens, nouts, timeout_ns, lost);
  /* More outputs than the next stage can ever hold: entry by entry. */
  if (timeout_ns == CV_NOWAIT)
    return CV_EFULL;
  size_t off = 0;
  for (size_t x = 0; x < n; x++) {
    cv__redis_fate *one = &f[x];
    size_t nout = one->nout;
    int rc;
    if (nout > cap) {
      rc = put_pieces(s, outs + off, lens + off, nout);
      one->nout = 0;
      one->put_before = nout; /* counted as its outputs, not filtered */
      if (rc == CV_OK)
        rc = commit_wait(s, one, 1, NULL, NULL, 0, CV_FOREVER, lost);
      one->nout = nout;
      one->put_before = 0;
    } else {
      rc = commit_wait(s, one, 1, outs + off, lens + off, nout, CV_FOREVER,
                       lost);
    }
    off += nout;
    if (rc != CV_OK)
      return rc;
  }
  return CV_OK;
}
