/* testkit.c - helpers for photopipe's end-to-end tests: writes the bad
 * inputs and checks an album against its source corpus.
 *
 *   pp_testkit bad DIR            write one file per bad/awkward input
 *   pp_testkit check SRC ALBUM W H N
 *       every corpus photo SRC/IMG_*.jpg must be in ALBUM as a JPEG that
 *       decodes completely, fits inside WxH, has the upright dimensions of
 *       the EXIF-rotated source (+-1 px), shows the red/green/blue markers
 *       at the top-left/top-right/bottom-left corners (so it is the right way
 *       up and not mirrored), and carries no orientation tag other than 1;
 *       ALBUM must hold exactly N visible files and no temporary files.
 *   pp_testkit decode DIR W H     every visible file in DIR decodes completely
 *       and fits inside WxH; no hidden (temporary) files; prints the count
 *   pp_testkit info FILE          prints "W H BANDS FORMAT MEAN"
 *   pp_testkit anim FILE          writes a 3-frame 320x240 animated GIF
 * Exit 0 when everything holds, 1 with a message per problem otherwise. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

static int problems;

static void problem(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "pp_testkit: ");
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  problems++;
}

static int save(VipsImage *img, const char *dir, const char *name, const char *opts) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s%s", dir, name, opts);
  if (vips_image_write_to_file(img, path, NULL)) {
    fprintf(stderr, "pp_testkit: cannot write %s: %s\n", path, vips_error_buffer());
    return -1;
  }
  return 0;
}

static int write_bytes(const char *dir, const char *name, const void *p, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "pp_testkit: cannot write %s\n", path);
    return -1;
  }
  return 0;
}

/* A textured 3-band test image. */
static VipsImage *texture(int w, int h) {
  VipsImage *n = NULL, *x = NULL, *j = NULL, *u = NULL;
  if (vips_gaussnoise(&n, w, h, "sigma", 40.0, "mean", 120.0, "seed", 7, NULL))
    return NULL;
  VipsImage *b[3] = {n, n, n};
  if (vips_xyz(&x, w, h, NULL)) {
    g_object_unref(n);
    return NULL;
  }
  VipsImage *xb = NULL;
  vips_extract_band(x, &xb, 0, NULL);
  b[1] = xb;
  vips_bandjoin(b, &j, 3, NULL);
  vips_cast_uchar(j, &u, NULL);
  VipsImage *out = NULL;
  vips_copy(u, &out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL);
  g_object_unref(n);
  g_object_unref(x);
  g_object_unref(xb);
  g_object_unref(j);
  g_object_unref(u);
  return out;
}

static int cmd_bad(const char *dir) {
  VipsImage *img = texture(800, 600);
  if (!img)
    return 1;
  void *jpg = NULL;
  size_t jlen = 0;
  if (vips_jpegsave_buffer(img, &jpg, &jlen, "Q", 90, NULL))
    return 1;
  unsigned char *b = jpg;
  int rc = 0;
  /* Truncated: the scan stops at 40%. */
  rc |= write_bytes(dir, "truncated.jpg", b, jlen * 2 / 5);
  /* Corrupt: a JPEG start followed by garbage. */
  unsigned char junk[20000];
  memcpy(junk, b, 20);
  uint32_t s = 12345;
  for (size_t i = 20; i < sizeof junk; i++) {
    s = s * 1103515245u + 12345u;
    junk[i] = (unsigned char)(s >> 16);
  }
  rc |= write_bytes(dir, "corrupt.jpg", junk, sizeof junk);
  /* Not an image, and an empty file, both named like photos. */
  const char *text = "These are my holiday notes, not a photo.\n";
  rc |= write_bytes(dir, "not-an-image.jpg", text, strlen(text));
  rc |= write_bytes(dir, "empty.jpg", "", 0);
  /* Decompression bomb: a small JPEG whose SOF claims 60000x60000. */
  unsigned char *bomb = malloc(jlen);
  memcpy(bomb, b, jlen);
  for (size_t i = 0; i + 9 < jlen; i++)
    if (bomb[i] == 0xFF && (bomb[i + 1] == 0xC0 || bomb[i + 1] == 0xC2)) {
      bomb[i + 5] = 0xEA, bomb[i + 6] = 0x60; /* height 60000 */
      bomb[i + 7] = 0xEA, bomb[i + 8] = 0x60; /* width 60000 */
      break;
    }
  rc |= write_bytes(dir, "bomb.jpg", bomb, jlen);
  free(bomb);
  g_free(jpg);
  /* Awkward but valid: PNG with alpha, CMYK JPEG, 16-bit PNG. */
  VipsImage *alpha = NULL, *a = NULL;
  vips_xyz(&a, 800, 600, NULL);
  VipsImage *ab = NULL, *ac = NULL;
  vips_extract_band(a, &ab, 0, NULL);
  vips_linear1(ab, &ac, 255.0 / 800, 0, NULL);
  VipsImage *acu = NULL;
  vips_cast_uchar(ac, &acu, NULL);
  vips_bandjoin2(img, acu, &alpha, NULL);
  rc |= save(alpha, dir, "alpha.png", "");
  VipsImage *cmyk = NULL;
  if (vips_colourspace(img, &cmyk, VIPS_INTERPRETATION_CMYK, NULL) == 0) {
    rc |= save(cmyk, dir, "cmyk.jpg", "[Q=90]");
    g_object_unref(cmyk);
  } else {
    fprintf(stderr, "pp_testkit: cannot make CMYK: %s\n", vips_error_buffer());
    rc = 1;
  }
  VipsImage *deep = NULL;
  if (vips_colourspace(img, &deep, VIPS_INTERPRETATION_RGB16, NULL) == 0) {
    rc |= save(deep, dir, "deep16.png", "");
    g_object_unref(deep);
  } else {
    rc = 1;
  }
  g_object_unref(a);
  g_object_unref(ab);
  g_object_unref(ac);
  g_object_unref(acu);
  g_object_unref(alpha);
  g_object_unref(img);
  return rc ? 1 : 0;
}

/* Mean of one band over a square region. */
static double region_mean(VipsImage *img, int band, int left, int top, int size) {
  VipsImage *r = NULL, *e = NULL;
  double m = -1;
  if (vips_extract_area(img, &r, left, top, size, size, NULL) == 0 &&
      vips_extract_band(r, &e, band, NULL) == 0)
    vips_avg(e, &m, NULL);
  if (r)
    g_object_unref(r);
  if (e)
    g_object_unref(e);
  return m;
}

static int is_colour(VipsImage *img, int left, int top, int size, int want) {
  double c[3];
  for (int b = 0; b < 3; b++)
    c[b] = region_mean(img, b, left, top, size);
  for (int b = 0; b < 3; b++)
    if ((b == want && c[b] < 180) || (b != want && c[b] > 90))
      return 0;
  return 1;
}

static int check_one(const char *src, const char *album, const char *name, int bw, int bh) {
  char sp[4096], ap[4096];
  snprintf(sp, sizeof sp, "%s/%s", src, name);
  snprintf(ap, sizeof ap, "%s/%s", album, name);
  VipsImage *s = vips_image_new_from_file(sp, NULL);
  if (!s) {
    problem("cannot read source %s%s", sp, "");
    return -1;
  }
  int o = vips_image_get_orientation(s);
  int uw = vips_image_get_width(s), uh = vips_image_get_height(s);
  if (o == 6 || o == 8 || o == 5 || o == 7) {
    int t = uw;
    uw = uh;
    uh = t;
  }
  g_object_unref(s);
  double scale = (double)bw / uw < (double)bh / uh ? (double)bw / uw : (double)bh / uh;
  if (scale > 1)
    scale = 1;
  int ew = (int)(uw * scale + 0.5), eh = (int)(uh * scale + 0.5);

  VipsImage *a = vips_image_new_from_file(ap, "fail_on", VIPS_FAIL_ON_WARNING, NULL);
  if (!a) {
    problem("%s: does not decode (%s)", ap, vips_error_buffer());
    vips_error_clear();
    return -1;
  }
  double avg;
  int rc = 0;
  if (vips_avg(a, &avg, NULL)) {
    problem("%s: pixels do not decode (%s)", ap, vips_error_buffer());
    vips_error_clear();
    rc = -1;
  }
  int w = vips_image_get_width(a), h = vips_image_get_height(a);
  char dims[128];
  snprintf(dims, sizeof dims, "%dx%d, expected %dx%d in box %dx%d", w, h, ew, eh, bw, bh);
  if (w > bw || h > bh || abs(w - ew) > 1 || abs(h - eh) > 1) {
    problem("%s: wrong size %s", ap, dims);
    rc = -1;
  }
  if (vips_image_get_typeof(a, VIPS_META_ORIENTATION) && vips_image_get_orientation(a) != 1) {
    problem("%s: still has an orientation tag%s", ap, "");
    rc = -1;
  }
  if (rc == 0 && vips_image_get_bands(a) >= 3) {
    int m = (w < h ? w : h) / 8;
    int probe = m / 2, pad = m / 4;
    if (probe < 2 || !is_colour(a, pad, pad, probe, 0) ||
        !is_colour(a, w - pad - probe, pad, probe, 1) ||
        !is_colour(a, pad, h - pad - probe, probe, 2)) {
      problem("%s: markers not at top-left red, top-right green, bottom-left blue (%s)", ap,
              "wrong orientation?");
      rc = -1;
    }
  } else if (rc == 0) {
    problem("%s: not a colour image%s", ap, "");
    rc = -1;
  }
  g_object_unref(a);
  return rc;
}

static int cmd_check(const char *src, const char *album, int bw, int bh, int expect) {
  DIR *d = opendir(src);
  if (!d) {
    problem("cannot list %s%s", src, "");
    return 1;
  }
  int checked = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "IMG_", 4) != 0)
      continue;
    check_one(src, album, e->d_name, bw, bh);
    checked++;
  }
  closedir(d);
  d = opendir(album);
  if (!d) {
    problem("cannot list %s%s", album, "");
    return 1;
  }
  int files = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') {
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
          strcmp(e->d_name, ".photopipe") != 0) /* the album's manifest */
        problem("%s: leftover hidden/temporary file %s", album, e->d_name);
      continue;
    }
    files++;
  }
  closedir(d);
  if (files != expect) {
    char n[64];
    snprintf(n, sizeof n, "%d files, expected %d", files, expect);
    problem("%s: %s", album, n);
  }
  printf("pp_testkit: checked %d corpus photos, album has %d files, %d problems\n", checked,
         files, problems);
  return problems ? 1 : 0;
}

static int cmd_decode(const char *dir, int bw, int bh) {
  DIR *d = opendir(dir);
  if (!d) {
    problem("cannot list %s%s", dir, "");
    return 1;
  }
  int files = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
        strcmp(e->d_name, ".photopipe") == 0) /* the album's manifest */
      continue;
    if (e->d_name[0] == '.') {
      problem("%s: leftover hidden/temporary file %s", dir, e->d_name);
      continue;
    }
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    VipsImage *a = vips_image_new_from_file(p, "fail_on", VIPS_FAIL_ON_WARNING, NULL);
    double avg;
    if (!a || vips_avg(a, &avg, NULL)) {
      problem("%s: does not decode (%s)", p, vips_error_buffer());
      vips_error_clear();
    } else if (vips_image_get_width(a) > bw || vips_image_get_height(a) > bh) {
      problem("%s: does not fit the box%s", p, "");
    }
    if (a)
      g_object_unref(a);
    files++;
  }
  closedir(d);
  printf("%d\n", files);
  return problems ? 1 : 0;
}

static int cmd_info(const char *path) {
  VipsImage *a = vips_image_new_from_file(path, "fail_on", VIPS_FAIL_ON_WARNING, NULL);
  double avg;
  if (!a || vips_avg(a, &avg, NULL)) {
    fprintf(stderr, "pp_testkit: %s: %s\n", path, vips_error_buffer());
    return 1;
  }
  printf("%d %d %d %s %.1f\n", vips_image_get_width(a), vips_image_get_height(a),
         vips_image_get_bands(a),
         vips_enum_nick(VIPS_TYPE_BAND_FORMAT, vips_image_get_format(a)), avg);
  g_object_unref(a);
  return 0;
}

/* Three frames (red, green, blue) stacked as libvips animations are. */
static int cmd_anim(const char *path) {
  VipsImage *frames[3] = {NULL, NULL, NULL}, *all = NULL, *out = NULL;
  int rc = 1;
  for (int i = 0; i < 3; i++) {
    VipsImage *black = NULL;
    double a[3] = {1, 1, 1}, b[3] = {i == 0 ? 250 : 5, i == 1 ? 250 : 5, i == 2 ? 250 : 5};
    if (vips_black(&black, 320, 240, "bands", 3, NULL) ||
        vips_linear(black, &frames[i], a, b, 3, "uchar", TRUE, NULL)) {
      if (black)
        g_object_unref(black);
      goto done;
    }
    g_object_unref(black);
  }
  if (vips_arrayjoin(frames, &all, 3, "across", 1, NULL) ||
      vips_copy(all, &out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL))
    goto done;
  vips_image_set_int(out, "page-height", 240);
  int delay[3] = {100, 100, 100};
  vips_image_set_array_int(out, "delay", delay, 3);
  vips_image_set_int(out, "loop", 0);
  rc = vips_image_write_to_file(out, path, NULL) ? 1 : 0;
done:
  if (rc)
    fprintf(stderr, "pp_testkit: cannot write %s: %s\n", path, vips_error_buffer());
  for (int i = 0; i < 3; i++)
    if (frames[i])
      g_object_unref(frames[i]);
  if (all)
    g_object_unref(all);
  if (out)
    g_object_unref(out);
  return rc;
}

int main(int argc, char **argv) {
  if (VIPS_INIT(argv[0]))
    return 1;
  int rc = 2;
  if (argc == 3 && strcmp(argv[1], "bad") == 0)
    rc = cmd_bad(argv[2]);
  else if (argc == 7 && strcmp(argv[1], "check") == 0)
    rc = cmd_check(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
  else if (argc == 5 && strcmp(argv[1], "decode") == 0)
    rc = cmd_decode(argv[2], atoi(argv[3]), atoi(argv[4]));
  else if (argc == 3 && strcmp(argv[1], "info") == 0)
    rc = cmd_info(argv[2]);
  else if (argc == 3 && strcmp(argv[1], "anim") == 0)
    rc = cmd_anim(argv[2]);
  else
    fprintf(stderr, "usage: pp_testkit bad DIR | check SRC ALBUM W H N | decode DIR W H | "
                    "info FILE | anim FILE\n");
  vips_shutdown();
  return rc;
}
