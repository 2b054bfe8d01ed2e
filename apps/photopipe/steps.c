/* steps.c - download, resize and upload of one photo (see steps.h). */
#include "steps.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "names.h"
#include "safetext.h"
#include "source.h"

void pp_work_init(pp_work *w, const pp_options *o) {
  w->o = o;
  w->net = (pp_net){.timeout_ms = o->timeout_ms,
                    .min_speed = o->min_speed,
                    .protocols = o->protocols,
                    .connect_timeout_ms = o->connect_timeout_ms,
                    .retries = o->retries,
                    .backoff_ms = o->backoff_ms,
                    .backoff_max_ms = o->backoff_max_ms,
                    .insecure = o->insecure,
                    .max_bytes = o->max_bytes};
  w->ropts = (pp_resize_opts){.width = o->width,
                              .height = o->height,
                              .quality = o->quality,
                              .strip = o->strip,
                              .enlarge = o->enlarge,
                              .keep_format = o->format == PP_FORMAT_KEEP,
                              .keep_profile = o->keep_profile,
                              .max_pixels = o->max_pixels};
  atomic_init(&w->bytes_in, 0);
  atomic_init(&w->bytes_out, 0);
}

int pp_same_ext(const char *name, const char *ext) {
  const char *dot = strrchr(name, '.');
  if (!dot)
    return 0;
  if (strcasecmp(dot, ext) == 0)
    return 1;
  if (strcmp(ext, ".jpg") == 0)
    return strcasecmp(dot, ".jpeg") == 0;
  if (strcmp(ext, ".tif") == 0)
    return strcasecmp(dot, ".tiff") == 0;
  return 0;
}

/* Reads (or downloads) the photo's source into p->data, with its SHA-256
 * and, for a URL, its size and validator.  Returns 0, or -1 with a reason. */
static int read_source(pp_work *w, pp_photo *p, char *reason, size_t rsz) {
  int rc;
  if (p->local) {
    /* Out of descriptors or memory (EMFILE under a low ulimit -n, with the
     * uploads' connections open) is "not now": back off and try again. */
    for (int retry = 0;; retry++) {
      rc = pp_read_file(p->src, w->o->max_bytes, &p->data, &p->len, reason, rsz);
      if (rc == 0 || !pp_errno_transient(errno) || retry >= w->o->retries ||
          pp_backoff_sleep(&w->net, retry + 1) != 0)
        break;
    }
  } else {
    int attempts = 0;
    rc = pp_fetch(&w->net, p->src, &p->data, &p->len, &attempts, reason, rsz);
    p->attempts += attempts;
    if (rc == 0) {
      pp_net_last_validator(p->src_validator, sizeof p->src_validator);
      p->src_size = (int64_t)p->len;
    }
  }
  if (rc != 0)
    return -1;
  atomic_fetch_add(&w->bytes_in, p->len);
  p->bytes_in += p->len;
  pp_sha256_hex(p->data, p->len, p->src_sha256);
  return 0;
}

int pp_step_download(pp_work *w, pp_photo *p, char *reason, size_t rsz) {
  /* --skip-existing: the same source, content and settings as a photo the
   * manifest has stored.  A local file whose size and mtime are unchanged
   * is taken as unchanged without reading it (as make and rsync do), a URL
   * whose validator (ETag, Last-Modified, length) is unchanged likewise,
   * after a HEAD (as an HTTP cache does); any other source is read and its
   * SHA-256 compared. */
  int same = 0;
  struct stat st;
  if (p->local && stat(p->src, &st) == 0) {
    /* Taken before reading: a write after this makes the next run's
     * comparison fail, never a false match. */
    p->src_size = (int64_t)st.st_size;
    p->src_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  }
  int check = w->o->skip_existing && p->prev_stored;
  if (check && p->local && p->src_size >= 0 && p->src_size == p->prev_size &&
      p->src_mtime_ns == p->prev_mtime_ns)
    same = 1;
  if (check && !p->local && p->prev_validator[0] &&
      pp_http_validator(&w->net, p->src, p->src_validator, sizeof p->src_validator, reason,
                        rsz) == 0 &&
      strcmp(p->src_validator, p->prev_validator) == 0)
    same = 1; /* a failed HEAD just means: download and compare */
  if (!same) {
    if (read_source(w, p, reason, rsz) != 0)
      return -1;
    same = check && strcmp(p->src_sha256, p->prev_sha256) == 0;
    if (same) { /* the same bytes under a new mtime or validator */
      if (w->manifest)
        pp_manifest_touch(w->manifest, p->key, p->src_size, p->src_mtime_ns,
                          p->src_validator);
      else
        p->touched = 1;
    }
  }
  if (same) {
    /* ... and only while the album still has it (someone may have deleted
     * it from the album: then it is made again). */
    int exists = 0;
    if (pp_album_exists(w->album, p->name, &exists, reason, rsz) != 0)
      return -1;
    if (exists) {
      pp_photo_drop_buffers(p);
      p->status = PP_SKIPPED;
      p->stage = PP_STAGE_DOWNLOAD;
      return PP_STEP_SKIPPED;
    }
    if (!p->data && read_source(w, p, reason, rsz) != 0)
      return -1;
  }
  p->stage = PP_STAGE_DOWNLOAD;
  return PP_STEP_OK;
}

int pp_step_resize(pp_work *w, pp_photo *p, char *reason, size_t rsz) {
  pp_resized r;
  if (pp_resize(&w->ropts, p->data, p->len, &r, reason, rsz) != 0) {
    p->in_w = r.in_w;
    p->in_h = r.in_h;
    return -1;
  }
  if (w->o->format == PP_FORMAT_KEEP && !pp_same_ext(p->name, r.ext)) {
    /* Kept format differs from the name's extension (a PNG called .jpg,
     * or a format we re-encode as JPEG): the name follows the content.
     * Names are the manifest's to give, and a worker process has none. */
    if (!w->manifest) {
      free(r.data);
      snprintf(reason, rsz,
               "its content is %s, not what its name says; with --broker, "
               "--format keep keeps names as listed", r.ext + 1);
      return -1;
    }
    char want[PP_NAME_MAX + 1];
    snprintf(want, sizeof want, "%s", p->name);
    pp_name_set_ext(want, r.ext);
    unsigned k = 1;
    char *n = pp_manifest_rename(w->manifest, p->key, want, &k, reason, rsz);
    if (!n) {
      free(r.data);
      return -1;
    }
    free(p->name);
    p->name = n;
    p->renamed = 1;
    p->fresh = 1;
  }
  free(p->data);
  p->data = NULL;
  p->len = 0;
  p->out = r.data;
  p->out_len = r.len;
  p->in_w = r.in_w;
  p->in_h = r.in_h;
  p->out_w = r.out_w;
  p->out_h = r.out_h;
  p->warning = r.warning;
  p->stage = PP_STAGE_RESIZE;
  return 0;
}

/* True when the album's `name` holds exactly the bytes hashing to sha256. */
static int album_holds(pp_work *w, const char *name, const char *sha256) {
  unsigned char *data = NULL;
  size_t len = 0;
  char reason[PP_REASON_MAX], have[PP_SHA256_HEX];
  if (pp_album_read(w->album, name, w->o->max_bytes, &data, &len, reason, sizeof reason) != 0)
    return 0;
  pp_sha256_hex(data, len, have);
  free(data);
  return strcmp(have, sha256) == 0;
}

int pp_step_upload(pp_work *w, pp_photo *p, char *reason, size_t rsz) {
  pp_sha256_hex(p->out, p->out_len, p->out_sha256);
  int rc;
  char base[PP_NAME_MAX + 1]; /* the name wanted, before any "-N" for a clash */
  snprintf(base, sizeof base, "%s", p->name);
  unsigned k = 1;
  for (int tries = 0;; tries++) {
    int attempts = 0;
    rc = pp_album_store(w->album, p->name, p->out, p->out_len, p->fresh, &attempts, reason,
                        rsz);
    if (!p->local || pp_album_is_remote(w->album))
      p->attempts += attempts;
    if (rc != 1)
      break;
    /* The name is taken by a file this source never stored there: unless
     * it is byte for byte what we would store (a run killed between storing
     * it and recording it, or a concurrent run of the same source), it is
     * someone else's, and this photo gets another name (from the manifest:
     * a worker process has none, and fails the photo instead). */
    if (album_holds(w, p->name, p->out_sha256)) {
      rc = 0;
      break;
    }
    k++;
    char *n = tries < 100 && w->manifest
                  ? pp_manifest_rename(w->manifest, p->key, base, &k, reason, rsz)
                  : NULL;
    if (!n) {
      if (!w->manifest)
        snprintf(reason, rsz, "name taken in the album");
      rc = -1;
      break;
    }
    free(p->name);
    p->name = n;
    p->renamed = 1;
  }
  if (rc != 0)
    return -1;
  atomic_fetch_add(&w->bytes_out, p->out_len);
  p->stored_len = (int64_t)p->out_len;
  free(p->out);
  p->out = NULL;
  p->out_len = 0;
  p->status = PP_DONE;
  p->stage = PP_STAGE_UPLOAD;
  /* The photo is in the album whatever happens next. */
  if (w->manifest)
    pp_step_record(w, p);
  return 0;
}

void pp_step_record(pp_work *w, pp_photo *p) {
  /* A row that cannot be written stays 'pending' under this name, so a
   * rerun redoes the photo under the same name rather than losing or
   * duplicating it. */
  char reason[PP_REASON_MAX];
  if (pp_manifest_stored(w->manifest, p->key, p->src_size, p->src_mtime_ns, p->src_sha256,
                         p->src_validator, p->stored_len, p->out_sha256, w->settings,
                         reason, sizeof reason) != 0 &&
      !w->o->quiet) {
    pp_shown_buf a, b, why;
    fprintf(stderr, "photopipe: warning: %s stored as %s, but %s\n", pp_shown(&a, p->src),
            pp_shown(&b, p->name), pp_shown(&why, reason));
  }
}
