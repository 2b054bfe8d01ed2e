/* conveyor/version.h - library version and the export macro. */
#ifndef CONVEYOR_VERSION_H
#define CONVEYOR_VERSION_H

#define CV_VERSION_MAJOR 0
#define CV_VERSION_MINOR 1
#define CV_VERSION_PATCH 0
#define CV_VERSION_STRING "0.1.0"

/* The library is built with hidden visibility; only CV_EXTERN symbols are
 * exported from the shared object. */
#if defined(__GNUC__) || defined(__clang__)
#define CV_EXTERN __attribute__((visibility("default")))
#else
#define CV_EXTERN
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library actually linked, "MAJOR.MINOR.PATCH". */
CV_EXTERN const char *cv_version_string(void);

#ifdef __cplusplus
}
#endif
#endif /* CONVEYOR_VERSION_H */
