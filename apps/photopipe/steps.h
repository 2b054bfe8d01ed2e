/* steps.h - what happens to one photo: download (or read), resize, upload.
 *
 * These are the bodies of photopipe's three stages, written once and used
 * two ways: in one process each is a stage of its own (run.c), and in a
 * worker process of a distributed run one thread does all three for a photo
 * in turn (broker.c), so that the photo's bytes never leave the process.
 * They know nothing of the pipeline: each returns what became of the photo
 * and the stage around it decides what to emit.
 *
 * The album's manifest.  In one process the steps update it as they go (a
 * rename for --format keep or a name clash, "stored", "touched").  A worker
 * process has no manifest (it lives with the coordinator): `manifest` is
 * NULL, and the steps leave what the coordinator must record in the photo
 * (status, hashes, `touched`) for the result it sends back.
 */
#ifndef PP_STEPS_H
#define PP_STEPS_H

#include <stdatomic.h>

#include "fetch.h"
#include "manifest.h"
#include "options.h"
#include "photo.h"
#include "resize.h"
#include "upload.h"

typedef struct pp_work {
  const pp_options *o; /* format, skip_existing, max_bytes, retries, quiet */
  pp_net net;
  pp_resize_opts ropts;
  pp_album *album;
  pp_manifest *manifest; /* NULL in a worker process */
  char settings[PP_SETTINGS_MAX]; /* as the manifest records them */
  atomic_ullong bytes_in, bytes_out;
} pp_work;

/* Fills w's network and resize options from o (album and manifest are the
 * caller's). */
void pp_work_init(pp_work *w, const pp_options *o);

enum {
  PP_STEP_OK = 0,     /* go on to the next step */
  PP_STEP_SKIPPED = 1 /* --skip-existing: the album has it (status set) */
};

/* Reads or downloads the photo (unless --skip-existing finds it unchanged
 * in the album).  Returns PP_STEP_OK (p->data holds the bytes),
 * PP_STEP_SKIPPED, or -1 with a reason. */
int pp_step_download(pp_work *w, pp_photo *p, char *reason, size_t rsz);

/* Fits p->data into the box: p->out holds the result.  Returns 0, or -1
 * with a reason. */
int pp_step_resize(pp_work *w, pp_photo *p, char *reason, size_t rsz);

/* Stores p->out in the album under p->name (replacing a file there unless
 * p->fresh), fills p->out_sha256 and p->stored_len, and records the photo
 * as stored when there is a manifest.  Returns 0 (status PP_DONE), or -1
 * with a reason. */
int pp_step_upload(pp_work *w, pp_photo *p, char *reason, size_t rsz);

/* True when `name` ends in `ext`, taking .jpg/.jpeg and .tif/.tiff alike. */
int pp_same_ext(const char *name, const char *ext);

/* Records a stored photo in the manifest (the coordinator of a distributed
 * run does this when the photo's result arrives); a failure is a warning
 * on stderr unless --quiet. */
void pp_step_record(pp_work *w, pp_photo *p);

#endif /* PP_STEPS_H */
