/* src/redis_args.h - building the arguments of a distributed run's script
 * calls, and reading the entries its streams hold (redis_args.c).  Shared
 * by the run (redis_run.c), its transports (transport_redis.c) and its
 * worker sessions (redis_session.c). */
#ifndef CONVEYOR_REDIS_ARGS_H
#define CONVEYOR_REDIS_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_conn.h"

/* The arguments of one script call, and the memory they point into that
 * the call owns (numbers, packed entries).  Starts zeroed ({0}); an
 * allocation that fails sets `oom`, makes every later add a no-op and
 * cv__rargs_eval return CV_ENOMEM, so that callers check once. */
typedef struct cv__rargs {
  const char **v;
  size_t *len;
  size_t n, cap;
  char **own;     /* blocks to free */
  size_t nown, owncap;
  char *nums;     /* the current block for numbers */
  size_t numsleft;
  bool oom;
} cv__rargs;

/* Adds the argument p (len bytes, not copied: it must outlive the call). */
void cv__rargs_add(cv__rargs *a, const char *p, size_t len);
/* Adds the string s (not copied). */
void cv__rargs_str(cv__rargs *a, const char *s);
/* Adds the number v, in decimal. */
void cv__rargs_num(cv__rargs *a, uint64_t v);
/* Sets argument idx (added earlier as a placeholder) to the number v. */
void cv__rargs_set_num(cv__rargs *a, size_t idx, uint64_t v);
/* A block of `size` bytes that lives as long as the arguments. */
char *cv__rargs_own(cv__rargs *a, size_t size);

/* Adds the n items (data, lens) as groups of at most pk items: a count and
 * the data, which for a group of one is the item and for a larger group
 * the items packed, each after its length in 4 big-endian bytes.  Returns
 * the number of groups. */
size_t cv__rargs_groups(cv__rargs *a, const char *const *data,
                        const size_t *lens, size_t n, size_t pk);

/* Runs script `which` over k with the arguments.  CV_ENOMEM if building
 * them ran out of memory, else as cv__rconn_eval. */
int cv__rargs_eval(cv__rconn *k, int which, cv__rargs *a, redisReply **out);

/* Frees what the arguments own, and leaves them zeroed. */
void cv__rargs_free(cv__rargs *a);

/* The items of a packed entry: calls fn for each; false if malformed. */
bool cv__runpack_items(const char *b, size_t len,
                       bool (*fn)(void *arg, const char *d, size_t l),
                       void *arg);

/* The data of an entry's fields: kind 'd' (one item) or 'b' (packed). */
char cv__rentry_data(const redisReply *f, const char **d, size_t *len);

/* Makes room for element n of the array *vp (capacity *cap, elements of
 * `elem` bytes), doubling it from `first`.  False if out of memory. */
bool cv__rgrow(void *vp, size_t *cap, size_t n, size_t elem, size_t first);

/* Writes v in decimal into buf (len bytes) and returns buf. */
char *cv__rfmt_u(char *buf, size_t len, uint64_t v);

#endif /* CONVEYOR_REDIS_ARGS_H */
