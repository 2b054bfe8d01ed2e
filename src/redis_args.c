/* src/redis_args.c - the arguments of a distributed run's script calls and
 * the entries of its streams, as the run, its transports and its worker
 * sessions build and read them.
 *
 * A script call takes its arguments as (pointer, length) pairs, most of
 * them pointing into memory the caller already has (items, names); what
 * the call needs made (numbers, packed entries) lives in blocks the
 * argument list owns until cv__rargs_free.  An entry of a stream holds one
 * item (field "d") or several packed (field "b", each item after its length
 * in 4 big-endian bytes); redis_scripts.c says when each is used.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conveyor/error.h"
#include "redis_args.h"

char *cv__rfmt_u(char *buf, size_t len, uint64_t v) {
  snprintf(buf, len, "%" PRIu64, v);
  return buf;
}

bool cv__rgrow(void *vp, size_t *cap, size_t n, size_t elem, size_t first) {
  if (n < *cap)
    return true;
  size_t c = *cap ? *cap * 2 : first;
  void *m = realloc(*(void **)vp, c * elem);
  if (!m)
    return false;
  *(void **)vp = m;
  *cap = c;
  return true;
}

void cv__rargs_add(cv__rargs *a, const char *p, size_t len) {
  if (a->oom)
    return;
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 64;
    const char **v = realloc(a->v, cap * sizeof(*v));
    if (v)
      a->v = v;
    size_t *l = realloc(a->len, cap * sizeof(*l));
    if (l)
      a->len = l;
    if (!v || !l) {
      a->oom = true;
      return;
    }
    a->cap = cap;
  }
  a->v[a->n] = p;
  a->len[a->n++] = len;
}

void cv__rargs_str(cv__rargs *a, const char *s) {
  cv__rargs_add(a, s, strlen(s));
}

char *cv__rargs_own(cv__rargs *a, size_t size) {
  if (a->oom)
    return NULL;
  if (!cv__rgrow(&a->own, &a->owncap, a->nown, sizeof(*a->own), 8)) {
    a->oom = true;
    return NULL;
  }
  char *b = malloc(size ? size : 1);
  if (!b) {
    a->oom = true;
    return NULL;
  }
  a->own[a->nown++] = b;
  return b;
}

void cv__rargs_num(cv__rargs *a, uint64_t v) {
  if (a->numsleft < 24) {
    a->nums = cv__rargs_own(a, 2048);
    a->numsleft = a->nums ? 2048 : 0;
    if (!a->nums)
      return;
  }
  int k = snprintf(a->nums, 24, "%" PRIu64, v);
  cv__rargs_add(a, a->nums, (size_t)k);
  a->nums += k + 1;
  a->numsleft -= (size_t)k + 1;
}

void cv__rargs_set_num(cv__rargs *a, size_t idx, uint64_t v) {
  char *b = cv__rargs_own(a, 24);
  if (b) {
    a->len[idx] = (size_t)snprintf(b, 24, "%" PRIu64, v);
    a->v[idx] = b;
  }
}

void cv__rargs_free(cv__rargs *a) {
  for (size_t i = 0; i < a->nown; i++)
    free(a->own[i]);
  free(a->own);
  free(a->v);
  free(a->len);
  memset(a, 0, sizeof(*a));
}

int cv__rargs_eval(cv__rconn *k, int which, cv__rargs *a, redisReply **out) {
  if (a->oom)
    return CV_ENOMEM;
  return cv__rconn_eval(k, which, out, (int)a->n, a->v, a->len);
}

size_t cv__rargs_groups(cv__rargs *a, const char *const *data,
                        const size_t *lens, size_t n, size_t pk) {
  size_t ng = 0;
  if (pk < 1)
    pk = 1;
  for (size_t x = 0; x < n; ng++) {
    size_t k = n - x < pk ? n - x : pk;
    cv__rargs_num(a, k);
    if (k == 1) {
      cv__rargs_add(a, data[x], lens[x]);
    } else {
      size_t tot = 0;
      for (size_t y = 0; y < k; y++)
        tot += 4 + lens[x + y];
      unsigned char *b = (unsigned char *)cv__rargs_own(a, tot);
      if (!b)
        return ng;
      size_t o = 0;
      for (size_t y = 0; y < k; y++) {
        uint32_t l = (uint32_t)lens[x + y];
        b[o] = (unsigned char)(l >> 24);
        b[o + 1] = (unsigned char)(l >> 16);
        b[o + 2] = (unsigned char)(l >> 8);
        b[o + 3] = (unsigned char)l;
        memcpy(b + o + 4, data[x + y], lens[x + y]);
        o += 4 + lens[x + y];
      }
      cv__rargs_add(a, (const char *)b, tot);
    }
    x += k;
  }
  return ng;
}

bool cv__runpack_items(const char *b, size_t len,
                       bool (*fn)(void *arg, const char *d, size_t l),
                       void *arg) {
  const unsigned char *u = (const unsigned char *)b;
  size_t o = 0;
  while (o < len) {
    if (len - o < 4)
      return false;
    size_t l = (size_t)u[o] << 24 | (size_t)u[o + 1] << 16 |
               (size_t)u[o + 2] << 8 | (size_t)u[o + 3];
    if (len - o - 4 < l)
      return false;
    if (!fn(arg, b + o + 4, l))
      return false;
    o += 4 + l;
  }
  return true;
}

char cv__rentry_data(const redisReply *f, const char **d, size_t *len) {
  *d = "";
  *len = 0;
  for (size_t y = 0; f && f->type == REDIS_REPLY_ARRAY && y + 1 < f->elements;
       y += 2) {
    const char *name = f->element[y]->str;
    if (name && (name[0] == 'd' || name[0] == 'b') && name[1] == '\0') {
      *d = f->element[y + 1]->str;
      *len = f->element[y + 1]->len;
      return name[0];
    }
  }
  return 'd';
}
