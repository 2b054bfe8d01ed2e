/* corpus.h - sample photos for the demo, the tests and the benchmark.
 *
 * Photo-like content, generated with libvips: smooth colour clouds (blurred,
 * upscaled noise), a gradient, a few discs and bars, and fine sensor-like
 * grain, so JPEG sizes and decode costs resemble camera photos rather than
 * flat colour.  Each photo carries three orientation markers in its upright
 * (display) view: a red square at the top-left, a green one at the
 * top-right, a blue one at the bottom-left.  Photo i is stored as a camera
 * would: every 4th with EXIF orientation 6 (portrait, sensor turned 90
 * degrees), every 8th+3 with 8, every 8th+5 with 3, the rest 1; the stored
 * pixels are the upright view rotated back, so only a reader that honours
 * the tag sees the markers where they belong.
 */
#ifndef PP_CORPUS_H
#define PP_CORPUS_H

#include <stdint.h>

/* EXIF orientation given to photo `i`. */
int pp_corpus_orientation(int i);

/* Writes photos "IMG_0001.jpg" ... into `dir` (created if missing), each
 * stored as w x h (landscape sensor) JPEG quality 90.  Progress goes to
 * stderr unless quiet.  Returns 0, or -1 after printing an error. */
int pp_corpus_write(const char *dir, int count, int w, int h, uint64_t seed,
                    int quiet);

#endif /* PP_CORPUS_H */
