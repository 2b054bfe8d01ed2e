/* photo.h - one photo's journey through photopipe, and its final outcome.
 *
 * A pp_photo is created when the source lists a photo and lives until the end
 * of the run in the run's registry (run.c), whatever happens to it: the
 * pipeline only ever carries pointers to it.  Exactly one stage worker touches
 * a photo at a time; the queue between two stages hands it over (and provides
 * the happens-before edge), so its fields need no lock of their own.  The
 * summary reads them after every worker has been joined.
 */
#ifndef PP_PHOTO_H
#define PP_PHOTO_H

#include <stddef.h>
#include <stdint.h>

/* Where a photo ended up.  PP_PENDING at the end of a run means "not done":
 * it was listed but never finished (stopped by Ctrl-C). */
typedef enum pp_status {
  PP_PENDING = 0, /* listed, not finished (yet) */
  PP_DONE,        /* resized and stored in the album */
  PP_SKIPPED,     /* already in the album (--skip-existing) */
  PP_FAILED,      /* a stage refused it; `reason` says why */
  PP_CANCELED     /* was in flight when the run was canceled */
} pp_status;

/* The stage a photo failed in (or reached). */
typedef enum pp_stage {
  PP_STAGE_LIST = 0,
  PP_STAGE_DOWNLOAD,
  PP_STAGE_RESIZE,
  PP_STAGE_UPLOAD
} pp_stage;

#define PP_REASON_MAX 240

typedef struct pp_photo {
  size_t index;   /* position in the order the source listed photos */
  char *src;      /* URL, or path of a local file (owned) */
  char *name;     /* album file name, sanitised and unique in the run (owned);
                     NULL when the source's name was refused */
  int local;      /* 1: src is a local path read directly, 0: a URL (curl) */
  int renamed;    /* 1: name got a -N suffix to avoid a collision */

  unsigned char *data; /* downloaded bytes (owned; freed after resize) */
  size_t len;
  unsigned char *out; /* resized, encoded bytes (owned; freed after upload) */
  size_t out_len;

  int in_w, in_h;   /* source dimensions from the header, before rotation */
  int out_w, out_h; /* stored dimensions */
  int attempts;     /* network attempts used by download + upload */

  const char *warning; /* static text: stored despite a flaw (resize.h) */

  pp_status status;
  pp_stage stage; /* where it failed, or the last stage it completed */
  char reason[PP_REASON_MAX]; /* one line, for PP_FAILED / PP_CANCELED */

  /* ---- the album's manifest (manifest.h) ---- */
  char *key;       /* the source as the manifest knows it (owned) */
  int had_row;     /* the manifest knew the source before this run */
  int fresh;       /* the name is not one this source stored before: a file
                      found under it is someone else's, never replaced */
  int prev_stored; /* stored before from this source with these settings */
  int64_t prev_size, prev_mtime_ns; /* the source then (-1: unknown) */
  char prev_sha256[65];
  char prev_validator[256]; /* a URL's ETag/Last-Modified then (fetch.h) */
  int64_t src_size, src_mtime_ns; /* the source as read now (-1: unknown) */
  char src_sha256[65];
  char src_validator[256];
  int touched;        /* --skip-existing found the same bytes under a new
                         mtime or validator: the manifest's row is updated */
  int64_t stored_len; /* bytes stored in the album */
  char out_sha256[65];
  uint64_t bytes_in;  /* bytes read or downloaded for it */

  /* ---- a distributed run (broker.h) ---- */
  int sent;           /* handed to the broker: its result is awaited */
  int64_t step_ns[3]; /* time in download, resize, upload, on its worker */
  char *warning_owned; /* a warning that came back from a worker (owned) */
} pp_photo;

/* Marks the photo failed in `stage` with a printf-style one-line reason and
 * frees its buffers.  Returns -1, so stages can `return pp_fail(...)`. */
int pp_fail(pp_photo *p, pp_stage stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Frees the byte buffers (not the names). */
void pp_photo_drop_buffers(pp_photo *p);

const char *pp_stage_name(pp_stage s);
const char *pp_status_name(pp_status s);

#endif /* PP_PHOTO_H */
