/* resize.c - libvips thumbnailing (see resize.h). */
#include "resize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#define PP_VIPS_MSG_MAX 512

/* libvips logs decoder warnings on stderr; every failure we care about
 * already becomes that photo's one-line reason, so they are dropped. */
static void quiet_log(const gchar *domain, GLogLevelFlags level, const gchar *msg,
                      gpointer arg) {
  (void)domain, (void)level, (void)msg, (void)arg;
}

int pp_vips_init(const char *argv0, int vips_threads) {
  if (VIPS_INIT(argv0))
    return -1;
  g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING, quiet_log, NULL);
  vips_concurrency_set(vips_threads);
  vips_cache_set_max(0);
  vips_block_untrusted_set(TRUE);
  return 0;
}

void pp_vips_shutdown(void) { vips_shutdown(); }
void pp_vips_thread_done(void) { vips_thread_shutdown(); }

/* The libvips error message, lines joined with "; ", then cleared.  The
 * buffer is process-wide: with several failing workers a message may mix
 * with another worker's, which is why every reason starts with our words. */
static void vips_reason(char *reason, size_t rsz, const char *what) {
  char *msg = vips_error_buffer_copy();
  size_t l = strlen(msg);
  while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
    msg[--l] = '\0';
  char joined[PP_VIPS_MSG_MAX];
  size_t j = 0;
  for (const char *c = msg; *c && j + 3 < sizeof joined; c++) {
    if (*c == '\n') {
      joined[j++] = ';';
      joined[j++] = ' ';
    } else {
      joined[j++] = *c;
    }
  }
  joined[j] = '\0';
  snprintf(reason, rsz, "%s%s%s", what, j ? ": " : "", joined);
  g_free(msg);
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

int pp_resize(const pp_resize_opts *o, const unsigned char *in, size_t len,
              pp_resized *out, char *reason, size_t rsz) {
  memset(out, 0, sizeof *out);
  if (len == 0) {
    snprintf(reason, rsz, "empty file (0 bytes)");
    return -1;
  }
  const char *loader = vips_foreign_find_load_buffer(in, len);
  if (!loader) {
    vips_error_clear();
    snprintf(reason, rsz, "not an image (no decoder recognises the data)");
    return -1;
  }

  /* Header only: nothing is decoded until pixels are asked for. */
  VipsImage *hdr = vips_image_new_from_buffer(in, len, "", "access",
                                              VIPS_ACCESS_SEQUENTIAL, NULL);
  if (!hdr) {
    vips_reason(reason, rsz, "corrupt image header");
    return -1;
  }
  out->in_w = vips_image_get_width(hdr);
  out->in_h = vips_image_get_height(hdr);
  g_object_unref(hdr);
  uint64_t pixels = (uint64_t)out->in_w * (uint64_t)out->in_h;
  if (pixels > o->max_pixels) {
    snprintf(reason, rsz,
             "image header claims %dx%d = %llu pixels, over the limit of %llu "
             "(--max-pixels)",
             out->in_w, out->in_h, (unsigned long long)pixels,
             (unsigned long long)o->max_pixels);
    return -1;
  }

  /* fail_on goes through the loader's option string: libvips 8.14's
   * thumbnail_buffer ignores its own fail_on argument, and a truncated JPEG
   * would then come out grey-filled instead of failing. */
  VipsImage *img = NULL;
  if (vips_thumbnail_buffer((void *)in, len, &img, o->width, "height", o->height,
                            "size", o->enlarge ? VIPS_SIZE_BOTH : VIPS_SIZE_DOWN,
                            "option_string", "fail_on=error", NULL)) {
    vips_reason(reason, rsz, "cannot decode");
    return -1;
  }

  const char *ext = o->keep_format ? keep_ext(loader) : NULL;
  int jpeg = ext == NULL || strcmp(ext, ".jpg") == 0;
  if (ext == NULL)
    ext = ".jpg";

  /* JPEG wants 8-bit sRGB or grey without alpha. */
  if (jpeg) {
    VipsInterpretation interp = vips_image_guess_interpretation(img);
    VipsImage *t = NULL;
    if (interp != VIPS_INTERPRETATION_sRGB && interp != VIPS_INTERPRETATION_B_W) {
      VipsInterpretation want = (interp == VIPS_INTERPRETATION_GREY16)
                                    ? VIPS_INTERPRETATION_B_W
                                    : VIPS_INTERPRETATION_sRGB;
      if (vips_colourspace(img, &t, want, NULL)) {
        g_object_unref(img);
        vips_reason(reason, rsz, "cannot convert colours");
        return -1;
      }
      g_object_unref(img);
      img = t;
    }
    if (vips_image_hasalpha(img)) {
      VipsArrayDouble *white = vips_array_double_newv(1, 255.0);
      int r = vips_flatten(img, &t, "background", white, NULL);
      vips_area_unref(VIPS_AREA(white));
      g_object_unref(img);
      if (r) {
        vips_reason(reason, rsz, "cannot flatten alpha");
        return -1;
      }
      img = t;
    }
    if (vips_image_get_format(img) != VIPS_FORMAT_UCHAR) {
      if (vips_cast_uchar(img, &t, NULL)) {
        g_object_unref(img);
        vips_reason(reason, rsz, "cannot convert to 8 bits");
        return -1;
      }
      g_object_unref(img);
      img = t;
    }
  }

  void *buf = NULL;
  size_t blen = 0;
  int r;
  if (jpeg)
    r = vips_jpegsave_buffer(img, &buf, &blen, "Q", o->quality, "strip", o->strip,
                             "optimize_coding", TRUE, NULL);
  else {
    char fmt[64];
    snprintf(fmt, sizeof fmt, "%s[strip=%s]", ext, o->strip ? "true" : "false");
    if (strcmp(ext, ".webp") == 0)
      snprintf(fmt, sizeof fmt, ".webp[Q=%d,strip=%s]", o->quality,
               o->strip ? "true" : "false");
    r = vips_image_write_to_buffer(img, fmt, &buf, &blen, NULL);
  }
  if (r) {
    g_object_unref(img);
    /* With sequential access, truncation and corruption surface here, when
     * the pixels are finally decoded. */
    vips_reason(reason, rsz, "cannot decode");
    return -1;
  }
  out->out_w = vips_image_get_width(img);
  out->out_h = vips_image_get_height(img);
  g_object_unref(img);
  /* g_malloc is the system malloc (GLib >= 2.46), so the caller's free()
   * matches. */
  out->data = buf;
  out->len = blen;
  out->ext = ext;
  return 0;
}
