/* src/error.c - names and messages for the CV_E* codes (see error.h). */
#include "conveyor/error.h"
#include "conveyor/version.h"

#define CV__COUNT(name, value, msg) +1
_Static_assert(CV__ERR_MIN == -(0 CV_ERRNO_MAP(CV__COUNT)),
               "CV__ERR_MIN must be the lowest code and codes contiguous");
#undef CV__COUNT

const char *cv_strerror(int code) {
  switch (code) {
  case CV_OK:
    return "success";
#define CV__ERR_MSG(name, value, msg)                                          \
  case CV_##name:                                                              \
    return msg;
    CV_ERRNO_MAP(CV__ERR_MSG)
#undef CV__ERR_MSG
  default:
    return "unknown error";
  }
}

const char *cv_err_name(int code) {
  switch (code) {
  case CV_OK:
    return "OK";
#define CV__ERR_NAME(name, value, msg)                                         \
  case CV_##name:                                                              \
    return #name;
    CV_ERRNO_MAP(CV__ERR_NAME)
#undef CV__ERR_NAME
  default:
    return "UNKNOWN";
  }
}

const char *cv_version_string(void) { return CV_VERSION_STRING; }
