/* wire.h - what crosses the broker in a distributed run (broker.h): the
 * run's settings, a job (a photo's source and album name, with the
 * settings) and its result.
 *
 * Records are a 4-byte tag naming the record and its version, then
 * little-endian 64-bit integers and length-prefixed strings.  Every read is
 * bounds-checked and every field range-checked: a record that is short,
 * long, has a bad tag or a value out of range is refused whole, and a
 * refused result changes nothing.  A job's album name must be one file
 * name (no '/', not hidden), as the coordinator's manifest gives them. */
#ifndef PP_WIRE_H
#define PP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "manifest.h"
#include "options.h"
#include "photo.h"

/* Finds the registry's photo number `index` (NULL when there is none). */
typedef pp_photo *(*pp_lookup_fn)(void *arg, size_t index);

/* The run's settings as bytes (malloc'd), and back into `o` (its other
 * fields keep their defaults; strings point into the malloc'd *strs).
 * Decode returns 0 or -1 for bytes that are not a settings record. */
int pp_wire_settings(const pp_options *o, const char *settings, unsigned char **buf,
                     size_t *len);
int pp_wire_settings_decode(const unsigned char *buf, size_t len, pp_options *o,
                            char settings[PP_SETTINGS_MAX], char **strs);

/* A job: the photo's source and name, with the settings bytes. */
int pp_wire_job(const pp_photo *p, const unsigned char *settings, size_t slen,
                unsigned char **buf, size_t *len);
/* Decodes a job into a new photo (owned by the caller: pp_wire_photo_free)
 * and a copy of its settings bytes.  Returns 0, or -1 for bad bytes. */
int pp_wire_job_decode(const unsigned char *buf, size_t len, pp_photo **p,
                       unsigned char **settings, size_t *slen);
/* A result: what became of the photo, and which worker (`worker`) did it. */
int pp_wire_result(const pp_photo *p, const char *worker, unsigned char **buf,
                   size_t *len);
/* Applies a result to the photo `lookup` finds by its index; *worker gets
 * the worker's name (malloc'd).  Returns the photo, or NULL for bad bytes or
 * an unknown index. */
pp_photo *pp_wire_result_apply(const unsigned char *buf, size_t len, pp_lookup_fn lookup,
                               void *arg, char **worker);
void pp_wire_photo_free(pp_photo *p);

#endif /* PP_WIRE_H */
