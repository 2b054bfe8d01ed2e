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
 * JPEG output is always 8-bit sRGB (or grey): CMYK and 16-bit inputs are
 * converted, an alpha channel is flattened onto white.
 */
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
} pp_resized;

/* Decodes, fits, encodes.  Returns 0, or -1 with a one-line reason. */
int pp_resize(const pp_resize_opts *o, const unsigned char *in, size_t len,
              pp_resized *out, char *reason, size_t reason_size);

#endif /* PP_RESIZE_H */
