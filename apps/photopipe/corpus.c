/* corpus.c - generated sample photos (see corpus.h). */
#include "corpus.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#include "conveyor.h"
#include "safetext.h"
#include "upload.h"

int pp_corpus_orientation(int i) {
  if (i % 4 == 0)
    return 6;
  if (i % 8 == 3)
    return 8;
  if (i % 8 == 5)
    return 3;
  return 1;
}

static uint32_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(*s >> 33);
}

static int fill(VipsImage *img, double r, double g, double b, int left, int top,
                int w, int h) {
  double ink[3] = {r, g, b};
  return vips_draw_rect(img, ink, 3, left, top, w, h, "fill", TRUE, NULL);
}

/* Builds the upright view of photo i, dw x dh, 8-bit sRGB, in memory. */
static VipsImage *upright(int dw, int dh, uint64_t seed) {
  VipsImage *ctx = vips_image_new();
  VipsImage **t = (VipsImage **)vips_object_local_array(VIPS_OBJECT(ctx), 16);
  int s = (int)(seed & 0x3fffffff);
  VipsImage *result = NULL;
  /* Colour clouds: three bands of 12x9 noise, scaled up smoothly. */
  if (vips_gaussnoise(&t[0], 12, 9, "sigma", 50.0, "mean", 128.0, "seed", s, NULL) ||
      vips_gaussnoise(&t[1], 12, 9, "sigma", 50.0, "mean", 118.0, "seed", s + 1, NULL) ||
      vips_gaussnoise(&t[2], 12, 9, "sigma", 50.0, "mean", 108.0, "seed", s + 2, NULL))
    goto out;
  VipsImage *bands[3] = {t[0], t[1], t[2]};
  if (vips_bandjoin(bands, &t[4], 3, NULL) ||
      vips_resize(t[4], &t[5], dw / 12.0, "vscale", dh / 9.0, "kernel",
                  VIPS_KERNEL_CUBIC, NULL))
    goto out;
  /* A diagonal light gradient and fine grain. */
  if (vips_xyz(&t[6], dw, dh, NULL) || vips_extract_band(t[6], &t[7], 0, NULL) ||
      vips_linear1(t[7], &t[8], 70.0 / dw, -35.0, NULL) ||
      vips_add(t[5], t[8], &t[9], NULL) ||
      vips_gaussnoise(&t[10], dw, dh, "sigma", 9.0, "mean", 0.0, "seed", s + 3, NULL) ||
      vips_add(t[9], t[10], &t[11], NULL) || vips_cast_uchar(t[11], &t[12], NULL) ||
      vips_copy(t[12], &t[13], "interpretation", VIPS_INTERPRETATION_sRGB, NULL))
    goto out;
  result = vips_image_copy_memory(t[13]);
  if (!result)
    goto out;
  /* Discs and bars: edges for the resampler, like objects in a scene. */
  uint64_t r = seed * 2654435761ULL + 7;
  int big = dw > dh ? dw : dh;
  for (int k = 0; k < 7; k++) {
    double ink[3] = {lcg(&r) % 200 + 30, lcg(&r) % 200 + 30, lcg(&r) % 200 + 30};
    int cx = (int)(lcg(&r) % (unsigned)dw), cy = (int)(lcg(&r) % (unsigned)dh);
    int rad = big / 40 + (int)(lcg(&r) % (unsigned)(big / 10 + 1));
    if (vips_draw_circle(result, ink, 3, cx, cy, rad, "fill", TRUE, NULL))
      goto fail;
  }
  for (int k = 0; k < 4; k++) {
    int x = (int)(lcg(&r) % (unsigned)dw), y = (int)(lcg(&r) % (unsigned)dh);
    if (fill(result, lcg(&r) % 256, lcg(&r) % 256, lcg(&r) % 256, x, y, big / 6,
             big / 60 + 2))
      goto fail;
  }
  /* The orientation markers, in the upright view. */
  int m = (dw < dh ? dw : dh) / 8;
  if (fill(result, 255, 0, 0, 0, 0, m, m) || fill(result, 0, 255, 0, dw - m, 0, m, m) ||
      fill(result, 0, 0, 255, 0, dh - m, m, m))
    goto fail;
  goto out;
fail:
  g_object_unref(result);
  result = NULL;
out:
  g_object_unref(ctx);
  return result;
}

static int write_one(const char *dir, int i, int w, int h, uint64_t seed) {
  int o = pp_corpus_orientation(i);
  int portrait = (o == 6 || o == 8);
  VipsImage *up = upright(portrait ? h : w, portrait ? w : h, seed * 1000003 + (uint64_t)i);
  if (!up)
    return -1;
  VipsImage *stored = NULL;
  int rc;
  if (o == 1)
    rc = vips_copy(up, &stored, NULL);
  else
    rc = vips_rot(up, &stored, o == 6 ? VIPS_ANGLE_D270 : o == 8 ? VIPS_ANGLE_D90 : VIPS_ANGLE_D180,
                  NULL);
  g_object_unref(up);
  if (rc)
    return -1;
  /* A fresh copy so that setting metadata never touches a shared image. */
  VipsImage *tagged = NULL;
  rc = vips_copy(stored, &tagged, NULL);
  g_object_unref(stored);
  if (rc)
    return -1;
  vips_image_set_int(tagged, VIPS_META_ORIENTATION, o);
  char path[4096];
  snprintf(path, sizeof path, "%s/IMG_%04d.jpg", dir, i + 1);
  rc = vips_jpegsave(tagged, path, "Q", 90, NULL);
  g_object_unref(tagged);
  return rc ? -1 : 0;
}

typedef struct gen_job {
  const char *dir;
  int count, w, h, quiet;
  uint64_t seed;
  atomic_int done;
} gen_job;

static int gen_source(cv_stage_ctx *ctx, void *arg) {
  gen_job *j = arg;
  for (intptr_t i = 0; i < j->count; i++)
    if (cv_emit(ctx, (void *)(i + 1)) != CV_OK) /* +1: keep NULL out of it */
      break;
  return CV_OK;
}

static int gen_stage(cv_stage_ctx *ctx, void *item) {
  gen_job *j = cv_stage_arg(ctx);
  int i = (int)((intptr_t)item - 1);
  if (write_one(j->dir, i, j->w, j->h, j->seed) != 0) {
    int rc = cv_stage_fail(ctx, CV_EIO, "photo %d: %s", i + 1, vips_error_buffer());
    vips_error_clear();
    return rc;
  }
  int n = atomic_fetch_add(&j->done, 1) + 1;
  if (!j->quiet && isatty(2))
    fprintf(stderr, "\rgenerating sample photos: %d/%d", n, j->count);
  return CV_OK;
}

static void gen_finish(void *arg, unsigned worker, void *state) {
  (void)arg, (void)worker, (void)state;
  vips_thread_shutdown();
}

int pp_corpus_write(const char *dir, int count, int w, int h, uint64_t seed, int quiet) {
  if (pp_mkdir_p(dir) != 0) {
    pp_shown_buf shown;
    fprintf(stderr, "photopipe: cannot create '%s': %s\n", pp_shown(&shown, dir),
            strerror(errno));
    return -1;
  }
  /* One photo per core at a time, through a one-stage pipeline. */
  gen_job j = {dir, count, w, h, quiet, seed, 0};
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  cv_pipeline *p = NULL;
  cv_pipeline_options po = {.name = "corpus", .on_error = CV_ON_ERROR_FAIL_FAST,
                            .source = gen_source, .source_arg = &j};
  int rc = cv_pipeline_create(&p, &po);
  if (rc == CV_OK)
    rc = cv_pipeline_add_stage(p, &(cv_stage_options){.name = "generate", .fn = gen_stage,
                                                     .arg = &j,
                                                     .workers = cores < 1 ? 1 : (unsigned)cores,
                                                     .worker_finish = gen_finish});
  if (rc == CV_OK)
    rc = cv_pipeline_start(p);
  if (rc == CV_OK)
    rc = cv_pipeline_wait(p, CV_FOREVER);
  if (!quiet && isatty(2) && atomic_load(&j.done))
    fputc('\n', stderr);
  if (rc != CV_OK) {
    cv_pipeline_summary s;
    const char *msg = cv_strerror(rc);
    if (p && cv_pipeline_summary_get(p, &s) == CV_OK && s.error_message)
      msg = s.error_message;
    fprintf(stderr, "photopipe: cannot generate sample photos: %s\n", msg);
  }
  cv_pipeline_destroy(p);
  return rc == CV_OK ? 0 : -1;
}
