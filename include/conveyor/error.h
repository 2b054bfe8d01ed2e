/* conveyor/error.h - result codes shared by every conveyor call.
 *
 * Every function that can fail returns an int: CV_OK (0) on success, or one
 * of the negative CV_E* constants below.  The table is defined once, as an
 * X-macro, so that cv_strerror() and cv_err_name() can never fall out of step
 * with the constants.
 */
#ifndef CONVEYOR_ERROR_H
#define CONVEYOR_ERROR_H

#include "conveyor/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* XX(name, value, message) */
#define CV_ERRNO_MAP(XX)                                                      \
  XX(EFULL,      -1, "queue is full")                                         \
  XX(EEMPTY,     -2, "queue is empty")                                        \
  XX(ETIMEDOUT,  -3, "timed out")                                             \
  XX(ECLOSED,    -4, "queue is closed (and drained, for a get)")              \
  XX(ESHUTDOWN,  -5, "queue is shut down")                                    \
  XX(ECANCELED,  -6, "operation canceled")                                    \
  XX(EINVAL,     -7, "invalid argument")                                      \
  XX(ENOMEM,     -8, "out of memory")                                         \
  XX(ETASKDONE,  -9, "task_done called more times than items were put")       \
  XX(EBUSY,     -10, "threads are still waiting on the object")               \
  XX(ESTATE,    -11, "operation not valid in the object's current state")     \
  XX(EFAILED,   -12, "an item failed in a stage function")                    \
  XX(ESYS,      -13, "a system call failed (thread creation, clock)")         \
  XX(EIO,       -14, "input/output error")                                    \
  XX(ENOTFOUND, -15, "not found")

enum {
  CV_OK = 0,
#define CV__ERR_ENUM(name, value, msg) CV_##name = (value),
  CV_ERRNO_MAP(CV__ERR_ENUM)
#undef CV__ERR_ENUM
  CV__ERR_MIN = -15 /* lowest code; _Static_assert'ed in src/error.c */
};

/* A one-line English description of `code`: "queue is full".  Unknown codes
 * give "unknown error".  The string is static; never free it. */
CV_EXTERN const char *cv_strerror(int code);

/* The constant's name without its prefix: "EFULL", "OK"; "UNKNOWN" for a code
 * outside the table.  Static storage. */
CV_EXTERN const char *cv_err_name(int code);

#ifdef __cplusplus
}
#endif
#endif /* CONVEYOR_ERROR_H */
