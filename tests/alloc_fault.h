/* tests/alloc_fault.h - counts, and can fail, the allocations the library
 * makes (SQLite's malloc fault tests do the same).
 *
 * A test that includes this is linked with -Wl,--wrap= for malloc, calloc,
 * realloc and aligned_alloc (see tests/CMakeLists.txt), so every allocation
 * goes through the wrappers below.  arm(n) starts counting and makes the
 * allocation numbered n fail (n = 0: none fails); disarm() stops.  The
 * counters are atomic, so threads may allocate while armed.  Include it in
 * one translation unit only: it defines the wrappers. */
#ifndef CV_ALLOC_FAULT_H
#define CV_ALLOC_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);

static atomic_bool fault_armed;  /* count (and maybe fail) allocations */
static atomic_long fault_at;     /* fail the allocation with this number */
static atomic_long fault_allocs_; /* allocations seen since arming */
static atomic_long fault_failures_; /* allocations failed since arming */

static bool fail_this_one(void) {
  if (!atomic_load(&fault_armed))
    return false;
  long n = atomic_fetch_add(&fault_allocs_, 1) + 1;
  if (n == atomic_load(&fault_at)) {
    atomic_fetch_add(&fault_failures_, 1);
    return true;
  }
  return false;
}

void *__wrap_malloc(size_t n) { return fail_this_one() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) {
  return fail_this_one() ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
  return fail_this_one() ? NULL : __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t align, size_t n) {
  return fail_this_one() ? NULL : __real_aligned_alloc(align, n);
}

static inline void arm(long n) {
  atomic_store(&fault_at, n);
  atomic_store(&fault_allocs_, 0);
  atomic_store(&fault_failures_, 0);
  atomic_store(&fault_armed, true);
}

static inline void disarm(void) { atomic_store(&fault_armed, false); }

/* Allocations seen, and failed, since the last arm(). */
static inline long fault_allocs(void) { return atomic_load(&fault_allocs_); }
static inline long fault_failures(void) { return atomic_load(&fault_failures_); }

#endif /* CV_ALLOC_FAULT_H */
