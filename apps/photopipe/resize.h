/* resize.h - fit a photo inside a box with libvips.
 *
 * pp_resize() is a pure function of its input bytes and options; it may run
 * in any number of threads at once.  It uses vips_thumbnail_buffer(), so a
 * JPEG is shrunk while it is decoded (shrink-on-load: a 4000x3000 photo fit
 * into 800x800 is decoded at 1/4 scale, never at full size), the EXIF
 * orientation is applied, and the orientation tag is removed from the result.
 *
 * Before anything is decoded the header alone is read, and an image whose
 * header claims more than `max_pixels` pixels is refused: a 30 KiB file can
 * claim 60000x60000 (a decompression bomb).  Loaders libvips marks untrusted
 * are blocked, and a truncated or corrupt image is an error rather than a
 * grey-filled picture.
 *
 * Colour.  Output is sRGB: an embedded ICC profile (Display P3 from a phone,
 * Adobe RGB from a camera, a CMYK press profile) is used to convert the
 * pixels, exactly as `vipsthumbnail --export-profile srgb` does; an image
 * without a profile is taken as sRGB (CMYK as libvips' default CMYK
 * profile).  Grey photos stay grey.  keep_profile instead keeps the pixels in the source's colour
 * space and its profile in the file, even with strip (a profile is not
 * private data, and without it the colours are wrong); CMYK is converted all
 * the same when the output is JPEG, which photopipe writes as RGB.
 * JPEG output is always 8-bit (sRGB or grey): 16-bit inputs are scaled, an
 * alpha channel is flattened onto white.
 *
 * Errors.  libvips keeps one error buffer for the whole process, so while
 * several photos are resized at once, one photo's failure text can land in
 * another's message.  Resizes therefore run under a shared lock; a resize
 * that fails is run once more holding the lock alone, with the buffer
 * cleared, and only that run's text is reported (deduplicated, one line).
 * Resizing is a pure function of the bytes, so the second run fails the same
 * way; the price is paid by failing photos only.
 *
 * Truncation.  A JPEG that lacks only its 2-byte end marker has every pixel:
 * it is decoded with the marker put back, strictly (any decoder warning
 * fails it), and stored with a warning.  A JPEG cut anywhere else fails.
 *
 * Animation.  With keep_format an animated GIF or WebP stays animated: every
 * frame is resized.  With JPEG output the first frame is taken. */
#ifndef PP_RESIZE_H
#define PP_RESIZE_H

#include <stddef.h>
#include <stdint.h>

typedef struct pp_resize_opts {
  int width, height;   /* box */
  int quality;         /* 1..100 */
  int strip;           /* drop metadata */
  int enlarge;         /* scale up smaller photos too */
  int keep_format;     /* save in the input's format when possible */
  int keep_profile;    /* keep the source's colour space and ICC profile */
  uint64_t max_pixels; /* header limit */
} pp_resize_opts;

/* Initialises libvips once per process: `vips_threads` is libvips' own
 * worker count per operation (vips_concurrency_set).  Also disables the
 * operation cache (every photo is new; caching only holds memory) and blocks
 * untrusted loaders.  Returns 0 or -1. */
int pp_vips_init(const char *argv0, int vips_threads);
void pp_vips_shutdown(void);

/* Call at the end of every thread that ran pp_resize(), to free libvips'
 * per-thread buffers. */
void pp_vips_thread_done(void);

typedef struct pp_resized {
  unsigned char *data; /* encoded bytes (malloc'd; the caller frees) */
  size_t len;
  const char *ext;     /* ".jpg", ".png", ... (static) */
  int in_w, in_h;      /* header dimensions, as stored (before rotation) */
  int out_w, out_h;    /* result */
  int frames;          /* frames stored (1 unless an animation was kept) */
  const char *warning; /* static text when stored despite a flaw, or NULL */
} pp_resized;

/* Decodes, fits, encodes.  Returns 0, or -1 with a one-line reason.
 * Thread-safe. */
int pp_resize(const pp_resize_opts *o, const unsigned char *in, size_t len,
              pp_resized *out, char *reason, size_t reason_size);

#endif /* PP_RESIZE_H */
