/* resize.c - libvips thumbnailing (see resize.h for colour, errors,
 * truncation and animation). */
#include "resize.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#define PP_VIPS_MSG_MAX 512

/* Shared by every resize; held alone by a failed resize's second run, so
 * that libvips' process-wide error buffer then holds that photo's text only.
 * Writers are preferred: a failure waits for the resizes in progress, never
 * for an endless stream of new ones. */
static pthread_rwlock_t g_vips_lock;

/* libvips logs decoder warnings on stderr; every failure we care about
 * already becomes that photo's one-line reason, so they are dropped. */
static void quiet_log(const gchar *domain, GLogLevelFlags level, const gchar *msg,
                      gpointer arg) {
  (void)domain, (void)level, (void)msg, (void)arg;
}

int pp_vips_init(const char *argv0, int vips_threads) {
  pthread_rwlockattr_t attr;
  if (pthread_rwlockattr_init(&attr) != 0)
    return -1;
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  int rc = pthread_rwlock_init(&g_vips_lock, &attr);
  pthread_rwlockattr_destroy(&attr);
  if (rc != 0)
    return -1;
  if (VIPS_INIT(argv0))
    return -1;
  g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING, quiet_log, NULL);
  vips_concurrency_set(vips_threads);
  vips_cache_set_max(0);
  vips_block_untrusted_set(TRUE);
  return 0;
}

void pp_vips_shutdown(void) {
  vips_shutdown();
  pthread_rwlock_destroy(&g_vips_lock);
}

void pp_vips_thread_done(void) { vips_thread_shutdown(); }

/* "what: libvips' text", its lines joined with "; ", each line once (libjpeg
 * reports the same problem at several levels), then the buffer cleared.
 * Only called with the lock held alone. */
static void vips_reason(char *reason, size_t rsz, const char *what) {
  char *msg = vips_error_buffer_copy();
  char joined[PP_VIPS_MSG_MAX];
  size_t j = 0;
  joined[0] = '\0';
  for (char *line = strtok(msg, "\n"); line; line = strtok(NULL, "\n")) {
    size_t l = strlen(line);
    while (l > 0 && line[l - 1] == ' ')
      line[--l] = '\0';
    if (l == 0)
      continue;
    /* Seen already?  Compare with each line joined so far. */
    int dup = 0;
    for (const char *p = joined; *p && !dup;) {
      const char *e = strstr(p, "; ");
      size_t pl = e ? (size_t)(e - p) : strlen(p);
      dup = pl == l && memcmp(p, line, l) == 0;
      p = e ? e + 2 : p + pl;
    }
    if (dup)
      continue;
    int n = snprintf(joined + j, sizeof joined - j, "%s%s", j ? "; " : "", line);
    if (n < 0 || (size_t)n >= sizeof joined - j) {
      j = strlen(joined);
      break;
    }
    j += (size_t)n;
  }
  snprintf(reason, rsz, "%s%s%s", what, j ? ": " : "", joined);
  g_free(msg);
  vips_error_clear();
}

/* A libvips call failed with `what`.  Alone, the reason gets libvips' text
 * and is final (-1); shared, the text may be another photo's, so the caller
 * runs again alone (-2). */
static int vips_failed(char *reason, size_t rsz, const char *what, int alone) {
  if (!alone) {
    snprintf(reason, rsz, "%s", what);
    return -2;
  }
  vips_reason(reason, rsz, what);
  return -1;
}

/* Output format for keep-format mode, from the loader's class name
 * ("VipsForeignLoadPngBuffer"). */
static const char *keep_ext(const char *loader) {
  if (strcasestr(loader, "jpeg"))
    return ".jpg";
  if (strcasestr(loader, "png"))
    return ".png";
  if (strcasestr(loader, "webp"))
    return ".webp";
  if (strcasestr(loader, "tiff"))
    return ".tif";
  if (strcasestr(loader, "gif"))
    return ".gif";
  return NULL;
}

/* With `strip` and keep_profile: every metadata item but the ICC profile is
 * removed from `img` (a private copy), which is then saved without strip. */
static void strip_all_but_profile(VipsImage *img) {
  gchar **fields = vips_image_get_fields(img);
  for (int i = 0; fields[i]; i++)
    if (strcmp(fields[i], VIPS_META_ICC_NAME) != 0)
      vips_image_remove(img, fields[i]); /* header fields cannot be removed */
  g_strfreev(fields);
}

/* Replaces *img by `t` (a new reference), dropping the old one. */
static void replace(VipsImage **img, VipsImage *t) {
  g_object_unref(*img);
  *img = t;
}

typedef struct decoded {
  const char *loader; /* libvips loader class name */
  int cmyk;           /* the source is CMYK */
  int grey;           /* the source is grey (1 band, or 2 with alpha) */
  int frames;         /* frames of an animation to keep (1: a still) */
} decoded;

/* Thumbnails `in` with libvips' `fail_on` level and encodes the result.
 * Returns 0, -1 (final reason) or -2 (see vips_failed). */
static int encode(const pp_resize_opts *o, const unsigned char *in, size_t len,
                  const decoded *d, const char *fail_on, pp_resized *out, char *reason,
                  size_t rsz, int alone) {
  const char *ext = o->keep_format ? keep_ext(d->loader) : NULL;
  int jpeg = ext == NULL || strcmp(ext, ".jpg") == 0;
  if (ext == NULL)
    ext = ".jpg";
  /* fail_on goes through the loader's option string: libvips 8.14's
   * thumbnail_buffer ignores its own fail_on argument, and a truncated JPEG
   * would then come out grey-filled instead of failing.  n=-1 loads every
   * frame of an animation. */
  char load_opts[64];
  snprintf(load_opts, sizeof load_opts, "fail_on=%s%s", fail_on, d->frames > 1 ? ",n=-1" : "");
  /* A CMYK profile cannot describe the RGB pixels of a JPEG we write.  Grey
   * stays grey: sRGB would only triple it. */
  int to_srgb = (!o->keep_profile && !d->grey) || (d->cmyk && jpeg);
  VipsImage *img = NULL;
  if (vips_thumbnail_buffer((void *)in, len, &img, o->width, "height", o->height, "size",
                            o->enlarge ? VIPS_SIZE_BOTH : VIPS_SIZE_DOWN, "option_string",
                            load_opts, to_srgb ? "export_profile" : NULL, "srgb", NULL))
    return vips_failed(reason, rsz, "cannot decode", alone);

  VipsImage *t = NULL;
  /* JPEG wants 8-bit sRGB or grey without alpha. */
  if (jpeg) {
    VipsInterpretation interp = vips_image_guess_interpretation(img);
    if (interp != VIPS_INTERPRETATION_sRGB && interp != VIPS_INTERPRETATION_B_W &&
        interp != VIPS_INTERPRETATION_RGB) {
      VipsInterpretation want = (interp == VIPS_INTERPRETATION_GREY16)
                                    ? VIPS_INTERPRETATION_B_W
                                    : VIPS_INTERPRETATION_sRGB;
      if (vips_colourspace(img, &t, want, NULL)) {
        g_object_unref(img);
        return vips_failed(reason, rsz, "cannot convert colours", alone);
      }
      replace(&img, t);
    }
    if (vips_image_hasalpha(img)) {
      VipsArrayDouble *white = vips_array_double_newv(1, 255.0);
      int r = vips_flatten(img, &t, "background", white, NULL);
      vips_area_unref(VIPS_AREA(white));
      if (r) {
        g_object_unref(img);
        return vips_failed(reason, rsz, "cannot flatten alpha", alone);
      }
      replace(&img, t);
    }
    if (vips_image_get_format(img) != VIPS_FORMAT_UCHAR) {
      if (vips_cast_uchar(img, &t, NULL)) {
        g_object_unref(img);
        return vips_failed(reason, rsz, "cannot convert to 8 bits", alone);
      }
      replace(&img, t);
    }
  }
  int strip = o->strip;
  if (strip && o->keep_profile && vips_image_get_typeof(img, VIPS_META_ICC_NAME)) {
    if (vips_copy(img, &t, NULL)) {
      g_object_unref(img);
      return vips_failed(reason, rsz, "cannot copy", alone);
    }
    replace(&img, t);
    strip_all_but_profile(img);
    strip = 0;
  }

  void *buf = NULL;
  size_t blen = 0;
  int r;
  if (jpeg) {
    r = vips_jpegsave_buffer(img, &buf, &blen, "Q", o->quality, "strip", strip,
                             "optimize_coding", TRUE, NULL);
  } else {
    char fmt[64];
    snprintf(fmt, sizeof fmt, "%s[strip=%s]", ext, strip ? "true" : "false");
    if (strcmp(ext, ".webp") == 0)
      snprintf(fmt, sizeof fmt, ".webp[Q=%d,strip=%s]", o->quality, strip ? "true" : "false");
    r = vips_image_write_to_buffer(img, fmt, &buf, &blen, NULL);
  }
  if (r) {
    g_object_unref(img);
    /* With sequential access, truncation and corruption surface here, when
     * the pixels are finally decoded. */
    return vips_failed(reason, rsz, "cannot decode", alone);
  }
  out->out_w = vips_image_get_width(img);
  out->out_h = vips_image_get_page_height(img);
  out->frames = out->out_h > 0 ? vips_image_get_height(img) / out->out_h : 1;
  g_object_unref(img);
  /* g_malloc is the system malloc (GLib >= 2.46), so the caller's free()
   * matches. */
  out->data = buf;
  out->len = blen;
  out->ext = ext;
  return 0;
}

/* A JPEG whose last two bytes are not the end marker (FF D9). */
static int jpeg_without_end(const decoded *d, const unsigned char *in, size_t len) {
  return strcasestr(d->loader, "jpeg") && len >= 4 &&
         !(in[len - 2] == 0xff && in[len - 1] == 0xd9);
}

/* One resize.  `alone`: the caller holds the lock alone and wants libvips'
 * text in the reason.  Returns 0, -1 or -2 (see vips_failed). */
static int resize_once(const pp_resize_opts *o, const unsigned char *in, size_t len,
                       pp_resized *out, char *reason, size_t rsz, int alone) {
  memset(out, 0, sizeof *out);
  if (len == 0) {
    snprintf(reason, rsz, "empty file (0 bytes)");
    return -1;
  }
  decoded d = {0};
  d.loader = vips_foreign_find_load_buffer(in, len);
  if (!d.loader) {
    vips_error_clear();
    snprintf(reason, rsz, "not an image (no decoder recognises the data)");
    return -1;
  }

  /* Header only: nothing is decoded until pixels are asked for. */
  VipsImage *hdr = vips_image_new_from_buffer(in, len, "", "access",
                                              VIPS_ACCESS_SEQUENTIAL, NULL);
  if (!hdr)
    return vips_failed(reason, rsz, "corrupt image header", alone);
  out->in_w = vips_image_get_width(hdr);
  out->in_h = vips_image_get_height(hdr);
  d.cmyk = vips_image_guess_interpretation(hdr) == VIPS_INTERPRETATION_CMYK;
  d.grey = vips_image_get_bands(hdr) <= 2;
  int pages = vips_image_get_n_pages(hdr);
  g_object_unref(hdr);
  d.frames = 1;
  if (o->keep_format && pages > 1 && (strcasestr(d.loader, "gif") || strcasestr(d.loader, "webp")))
    d.frames = pages;
  uint64_t pixels = (uint64_t)out->in_w * (uint64_t)out->in_h;
  if (pixels > o->max_pixels || pixels * (uint64_t)d.frames > o->max_pixels) {
    if (d.frames > 1)
      snprintf(reason, rsz,
               "animation of %d frames of %dx%d = %llu pixels, over the limit of %llu "
               "(--max-pixels)",
               d.frames, out->in_w, out->in_h,
               (unsigned long long)(pixels * (uint64_t)d.frames),
               (unsigned long long)o->max_pixels);
    else
      snprintf(reason, rsz,
               "image header claims %dx%d = %llu pixels, over the limit of %llu "
               "(--max-pixels)",
               out->in_w, out->in_h, (unsigned long long)pixels,
               (unsigned long long)o->max_pixels);
    return -1;
  }

  if (jpeg_without_end(&d, in, len)) {
    /* Put the marker back and decode strictly: if the scan data was whole,
     * there is no warning at all; if it was cut, libjpeg warns of a
     * premature end of the data segment, and the photo fails below. */
    unsigned char *fixed = malloc(len + 2);
    if (!fixed) {
      snprintf(reason, rsz, "out of memory");
      return -1;
    }
    memcpy(fixed, in, len);
    fixed[len] = 0xff;
    fixed[len + 1] = 0xd9;
    int rc = encode(o, fixed, len + 2, &d, "warning", out, reason, rsz, 0);
    free(fixed);
    if (rc == 0) {
      out->warning = "JPEG end marker missing; every pixel was there, stored";
      return 0;
    }
    if (alone)
      vips_error_clear(); /* only the real attempt's text is reported */
  }
  int w = out->in_w, h = out->in_h;
  int rc = encode(o, in, len, &d, "error", out, reason, rsz, alone);
  out->in_w = w, out->in_h = h;
  return rc;
}

int pp_resize(const pp_resize_opts *o, const unsigned char *in, size_t len,
              pp_resized *out, char *reason, size_t rsz) {
  pthread_rwlock_rdlock(&g_vips_lock);
  int rc = resize_once(o, in, len, out, reason, rsz, 0);
  pthread_rwlock_unlock(&g_vips_lock);
  if (rc == -2) {
    pthread_rwlock_wrlock(&g_vips_lock);
    vips_error_clear();
    rc = resize_once(o, in, len, out, reason, rsz, 1);
    pthread_rwlock_unlock(&g_vips_lock);
  }
  return rc == 0 ? 0 : -1;
}
