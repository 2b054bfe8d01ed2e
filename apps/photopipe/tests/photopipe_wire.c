/* photopipe_wire.c - what crosses the broker in a distributed run: the run's
 * settings, a photo's job and its result come back as they were sent, and
 * bytes that are not such a record (every truncation, every single-byte
 * change of the tag or of a length, a wrong name) are refused, never read
 * past their end. */
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "test.h"

static pp_photo *g_registry[4];

static pp_photo *lookup(void *arg, size_t index) {
  (void)arg;
  return index < 4 ? g_registry[index] : NULL;
}

static void settings_round_trip(unsigned char **buf, size_t *len) {
  pp_options o;
  pp_options_defaults(&o, 2);
  o.album = "/srv/album";
  o.width = 800;
  o.height = 600;
  o.quality = 77;
  o.format = PP_FORMAT_KEEP;
  o.strip = 0;
  o.skip_existing = 1;
  o.retries = 5;
  CHECK(pp_wire_settings(&o, "fit=800x600 quality=77", buf, len) == 0);
  pp_options d;
  pp_options_defaults(&d, 1);
  char settings[PP_SETTINGS_MAX], *strs;
  CHECK(pp_wire_settings_decode(*buf, *len, &d, settings, &strs) == 0);
  CHECK(strcmp(d.album, "/srv/album") == 0);
  CHECK_EQ(d.width, 800);
  CHECK_EQ(d.height, 600);
  CHECK_EQ(d.quality, 77);
  CHECK_EQ(d.format, PP_FORMAT_KEEP);
  CHECK_EQ(d.strip, 0);
  CHECK_EQ(d.skip_existing, 1);
  CHECK_EQ(d.retries, 5);
  CHECK(strcmp(settings, "fit=800x600 quality=77") == 0);
  free(strs);
  for (size_t n = 0; n < *len; n++) /* every truncation */
    CHECK(pp_wire_settings_decode(*buf, n, &d, settings, &strs) == -1);
}

int main(void) {
  unsigned char *s;
  size_t slen;
  settings_round_trip(&s, &slen);

  pp_photo p = {.index = 2, .src = "http://cam/DCIM/IMG_0001.JPG", .name = "IMG_0001.jpg",
                .local = 0, .fresh = 0, .prev_stored = 1, .prev_size = 1234,
                .prev_mtime_ns = -1};
  strcpy(p.prev_sha256, "ab12");
  strcpy(p.prev_validator, "etag=\"x\";");
  unsigned char *job;
  size_t jlen;
  CHECK(pp_wire_job(&p, s, slen, &job, &jlen) == 0);
  pp_photo *q;
  unsigned char *qs;
  size_t qslen;
  CHECK(pp_wire_job_decode(job, jlen, &q, &qs, &qslen) == 0);
  CHECK_EQ(q->index, 2);
  CHECK(strcmp(q->src, p.src) == 0 && strcmp(q->name, p.name) == 0);
  CHECK_EQ(q->prev_stored, 1);
  CHECK_EQ(q->prev_size, 1234);
  CHECK(strcmp(q->prev_validator, p.prev_validator) == 0);
  CHECK(qslen == slen && memcmp(qs, s, slen) == 0);
  free(qs);

  /* What a worker sends back, applied to the coordinator's photo. */
  q->status = PP_DONE;
  q->stage = PP_STAGE_UPLOAD;
  q->out_w = 800;
  q->out_h = 533;
  q->stored_len = 4321;
  strcpy(q->out_sha256, "cd34");
  q->step_ns[1] = 1000;
  q->warning = "JPEG end marker missing";
  unsigned char *res;
  size_t rlen;
  CHECK(pp_wire_result(q, "hostb-77", &res, &rlen) == 0);
  pp_photo mine = {.index = 2, .src = p.src};
  g_registry[2] = &mine;
  char *who;
  for (size_t n = 0; n < rlen; n++) /* every truncation changes nothing */
    CHECK(pp_wire_result_apply(res, n, lookup, NULL, &who) == NULL && !who);
  CHECK_EQ(mine.status, PP_PENDING);
  CHECK(pp_wire_result_apply(res, rlen, lookup, NULL, &who) == &mine);
  CHECK(strcmp(who, "hostb-77") == 0);
  CHECK_EQ(mine.status, PP_DONE);
  CHECK_EQ(mine.out_w, 800);
  CHECK_EQ(mine.stored_len, 4321);
  CHECK(strcmp(mine.out_sha256, "cd34") == 0);
  CHECK(mine.warning && strcmp(mine.warning, "JPEG end marker missing") == 0);
  free(who);
  /* A second result for a settled photo (a late duplicate) is refused. */
  CHECK(pp_wire_result_apply(res, rlen, lookup, NULL, &who) == NULL);
  free(mine.warning_owned);
  q->warning = NULL;
  pp_wire_photo_free(q);

  /* Every truncation and every flipped byte of a job: refused or decoded,
   * never read past the end (ASan/valgrind watch). */
  for (size_t n = 0; n < jlen; n++)
    CHECK(pp_wire_job_decode(job, n, &q, &qs, &qslen) == -1);
  for (size_t i = 0; i < jlen; i++) {
    unsigned char saved = job[i];
    job[i] ^= 0xff;
    if (pp_wire_job_decode(job, jlen, &q, &qs, &qslen) == 0) {
      free(qs);
      pp_wire_photo_free(q);
    }
    job[i] = saved;
  }
  CHECK(memcmp(job, "PPJ1", 4) == 0);
  job[0] = 'X';
  CHECK(pp_wire_job_decode(job, jlen, &q, &qs, &qslen) == -1);
  free(job);

  /* A name that is not one file name in the album is refused. */
  const char *bad[] = {"../IMG.jpg", ".hidden.jpg", "a/b.jpg", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pp_photo b = p;
    b.name = (char *)bad[i];
    CHECK(pp_wire_job(&b, s, slen, &job, &jlen) == 0);
    CHECK(pp_wire_job_decode(job, jlen, &q, &qs, &qslen) == -1);
    free(job);
  }
  free(s);
  free(res);
  puts("photopipe_wire: ok");
  return 0;
}
