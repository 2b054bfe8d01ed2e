/* wire.c - a distributed run's records as bytes (see wire.h). */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "names.h"

/* ---- bytes on the wire ----------------------------------------------------
 * Little-endian integers and length-prefixed strings after a 4-byte tag
 * that names the record and its version.  Every read is bounds-checked: a
 * record that is short, long, or has a bad tag is refused whole. */

typedef struct wbuf {
  unsigned char *b;
  size_t n, cap;
  int oom;
} wbuf;

static void w_bytes(wbuf *w, const void *p, size_t n) {
  if (w->oom)
    return;
  if (w->n + n > w->cap) {
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->n + n)
      cap *= 2;
    unsigned char *b = realloc(w->b, cap);
    if (!b) {
      w->oom = 1;
      return;
    }
    w->b = b;
    w->cap = cap;
  }
  if (n)
    memcpy(w->b + w->n, p, n);
  w->n += n;
}

static void w_u64(wbuf *w, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (unsigned char)(v >> (8 * i));
  w_bytes(w, b, 8);
}

static void w_i64(wbuf *w, int64_t v) { w_u64(w, (uint64_t)v); }

static void w_blob(wbuf *w, const void *p, size_t n) {
  w_u64(w, n);
  w_bytes(w, p, n);
}

static void w_str(wbuf *w, const char *s) { w_blob(w, s ? s : "", s ? strlen(s) : 0); }

static int w_done(wbuf *w, unsigned char **buf, size_t *len) {
  if (w->oom) {
    free(w->b);
    return -1;
  }
  *buf = w->b;
  *len = w->n;
  return 0;
}

typedef struct rbuf {
  const unsigned char *b;
  size_t n, off;
  int bad;
} rbuf;

static uint64_t r_u64(rbuf *r) {
  if (r->bad || r->n - r->off < 8) {
    r->bad = 1;
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)r->b[r->off + (size_t)i] << (8 * i);
  r->off += 8;
  return v;
}

static int64_t r_i64(rbuf *r) { return (int64_t)r_u64(r); }

/* An int field within [lo, hi]. */
static int r_int(rbuf *r, int lo, int hi) {
  int64_t v = r_i64(r);
  if (v < lo || v > hi) {
    r->bad = 1;
    return lo;
  }
  return (int)v;
}

/* A blob: a pointer into the record and its length. */
static const unsigned char *r_blob(rbuf *r, size_t *len) {
  uint64_t n = r_u64(r);
  if (r->bad || n > r->n - r->off) {
    r->bad = 1;
    *len = 0;
    return NULL;
  }
  const unsigned char *p = r->b + r->off;
  r->off += (size_t)n;
  *len = (size_t)n;
  return p;
}

/* A string into a fixed buffer: refused if it does not fit or holds a NUL. */
static void r_strn(rbuf *r, char *out, size_t size) {
  size_t n;
  const unsigned char *p = r_blob(r, &n);
  if (r->bad || n >= size || memchr(p, 0, n)) {
    r->bad = 1;
    out[0] = '\0';
    return;
  }
  memcpy(out, p, n);
  out[n] = '\0';
}

/* A string, malloc'd (NULL when bad or out of memory). */
static char *r_strdup(rbuf *r) {
  size_t n;
  const unsigned char *p = r_blob(r, &n);
  if (r->bad || memchr(p, 0, n)) {
    r->bad = 1;
    return NULL;
  }
  char *s = malloc(n + 1);
  if (!s) {
    r->bad = 1;
    return NULL;
  }
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

static int r_tag(rbuf *r, const char *tag) {
  if (r->n < 4 || memcmp(r->b, tag, 4) != 0)
    return -1;
  r->off = 4;
  return 0;
}

/* ---- settings ------------------------------------------------------------ */

int pp_wire_settings(const pp_options *o, const char *settings, unsigned char **buf,
                     size_t *len) {
  wbuf w = {0};
  w_bytes(&w, "PPS1", 4);
  w_str(&w, o->album);
  w_i64(&w, o->width);
  w_i64(&w, o->height);
  w_i64(&w, o->quality);
  w_i64(&w, o->format);
  w_i64(&w, o->strip);
  w_i64(&w, o->keep_profile);
  w_i64(&w, o->enlarge);
  w_u64(&w, o->max_pixels);
  w_u64(&w, o->max_bytes);
  w_i64(&w, o->timeout_ms);
  w_i64(&w, o->min_speed);
  w_u64(&w, o->protocols);
  w_i64(&w, o->connect_timeout_ms);
  w_i64(&w, o->retries);
  w_i64(&w, o->backoff_ms);
  w_i64(&w, o->backoff_max_ms);
  w_i64(&w, o->insecure);
  w_i64(&w, o->skip_existing);
  w_str(&w, settings);
  return w_done(&w, buf, len);
}

int pp_wire_settings_decode(const unsigned char *buf, size_t len, pp_options *o,
                            char settings[PP_SETTINGS_MAX], char **strs) {
  rbuf r = {buf, len, 0, 0};
  *strs = NULL;
  if (r_tag(&r, "PPS1") != 0)
    return -1;
  char *album = r_strdup(&r);
  o->width = r_int(&r, 1, 65535);
  o->height = r_int(&r, 1, 65535);
  o->quality = r_int(&r, 1, 100);
  o->format = r_int(&r, PP_FORMAT_JPEG, PP_FORMAT_KEEP) == PP_FORMAT_KEEP ? PP_FORMAT_KEEP
                                                                         : PP_FORMAT_JPEG;
  o->strip = r_int(&r, 0, 1);
  o->keep_profile = r_int(&r, 0, 1);
  o->enlarge = r_int(&r, 0, 1);
  o->max_pixels = r_u64(&r);
  o->max_bytes = r_u64(&r);
  o->timeout_ms = r_int(&r, 1, 86400000);
  o->min_speed = (long)r_i64(&r);
  o->protocols = (unsigned)r_u64(&r);
  o->connect_timeout_ms = r_int(&r, 1, 86400000);
  o->retries = r_int(&r, 0, 100);
  o->backoff_ms = r_int(&r, 0, 600000);
  o->backoff_max_ms = r_int(&r, 0, 600000);
  o->insecure = r_int(&r, 0, 1);
  o->skip_existing = r_int(&r, 0, 1);
  r_strn(&r, settings, PP_SETTINGS_MAX);
  if (r.bad || r.off != r.n || !album || !*album || o->max_pixels == 0 ||
      o->max_bytes == 0 || o->min_speed <= 0) {
    free(album);
    return -1;
  }
  o->album = album;
  *strs = album;
  return 0;
}

/* ---- jobs and results ---------------------------------------------------- */

int pp_wire_job(const pp_photo *p, const unsigned char *settings, size_t slen,
                unsigned char **buf, size_t *len) {
  wbuf w = {0};
  w_bytes(&w, "PPJ1", 4);
  w_blob(&w, settings, slen);
  w_u64(&w, p->index);
  w_str(&w, p->src);
  w_str(&w, p->name);
  w_i64(&w, p->local);
  w_i64(&w, p->fresh);
  w_i64(&w, p->prev_stored);
  w_i64(&w, p->prev_size);
  w_i64(&w, p->prev_mtime_ns);
  w_str(&w, p->prev_sha256);
  w_str(&w, p->prev_validator);
  return w_done(&w, buf, len);
}

void pp_wire_photo_free(pp_photo *p) {
  if (!p)
    return;
  pp_photo_drop_buffers(p);
  free(p->src);
  free(p->name);
  free(p->key);
  free(p->warning_owned);
  free(p);
}

int pp_wire_job_decode(const unsigned char *buf, size_t len, pp_photo **out,
                       unsigned char **settings, size_t *slen) {
  rbuf r = {buf, len, 0, 0};
  *out = NULL;
  *settings = NULL;
  if (r_tag(&r, "PPJ1") != 0)
    return -1;
  size_t sl;
  const unsigned char *s = r_blob(&r, &sl);
  pp_photo *p = calloc(1, sizeof *p);
  if (!p)
    return -1;
  p->index = (size_t)r_u64(&r);
  p->src = r_strdup(&r);
  p->name = r_strdup(&r);
  p->local = r_int(&r, 0, 1);
  p->fresh = r_int(&r, 0, 1);
  p->prev_stored = r_int(&r, 0, 1);
  p->prev_size = r_i64(&r);
  p->prev_mtime_ns = r_i64(&r);
  r_strn(&r, p->prev_sha256, sizeof p->prev_sha256);
  r_strn(&r, p->prev_validator, sizeof p->prev_validator);
  p->src_size = p->src_mtime_ns = -1;
  /* A name is a file name the coordinator made (names.h): one path
   * segment, never "." or "..", never hidden. */
  int name_ok = p->name && p->name[0] && p->name[0] != '.' && !strchr(p->name, '/') &&
                strlen(p->name) <= PP_NAME_MAX;
  unsigned char *copy = !r.bad ? malloc(sl ? sl : 1) : NULL;
  if (r.bad || r.off != r.n || !p->src || !*p->src || !name_ok || !copy) {
    free(copy);
    pp_wire_photo_free(p);
    return -1;
  }
  memcpy(copy, s, sl);
  *settings = copy;
  *slen = sl;
  *out = p;
  return 0;
}

int pp_wire_result(const pp_photo *p, const char *worker, unsigned char **buf, size_t *len) {
  wbuf w = {0};
  w_bytes(&w, "PPR1", 4);
  w_u64(&w, p->index);
  w_i64(&w, p->status);
  w_i64(&w, p->stage);
  w_str(&w, p->reason);
  w_i64(&w, p->in_w);
  w_i64(&w, p->in_h);
  w_i64(&w, p->out_w);
  w_i64(&w, p->out_h);
  w_i64(&w, p->attempts);
  w_str(&w, p->warning);
  w_i64(&w, p->src_size);
  w_i64(&w, p->src_mtime_ns);
  w_str(&w, p->src_sha256);
  w_str(&w, p->src_validator);
  w_i64(&w, p->stored_len);
  w_str(&w, p->out_sha256);
  w_i64(&w, p->touched);
  w_u64(&w, p->bytes_in);
  for (int i = 0; i < 3; i++)
    w_i64(&w, p->step_ns[i]);
  w_str(&w, worker);
  return w_done(&w, buf, len);
}

pp_photo *pp_wire_result_apply(const unsigned char *buf, size_t len, pp_lookup_fn lookup,
                               void *arg, char **worker) {
  rbuf r = {buf, len, 0, 0};
  *worker = NULL;
  if (r_tag(&r, "PPR1") != 0)
    return NULL;
  /* Read whole into a scratch photo first: a bad record changes nothing. */
  pp_photo t;
  memset(&t, 0, sizeof t);
  t.index = (size_t)r_u64(&r);
  t.status = (pp_status)r_int(&r, PP_DONE, PP_CANCELED);
  t.stage = (pp_stage)r_int(&r, PP_STAGE_LIST, PP_STAGE_UPLOAD);
  r_strn(&r, t.reason, sizeof t.reason);
  t.in_w = r_int(&r, 0, 1 << 30);
  t.in_h = r_int(&r, 0, 1 << 30);
  t.out_w = r_int(&r, 0, 1 << 30);
  t.out_h = r_int(&r, 0, 1 << 30);
  t.attempts = r_int(&r, 0, 1 << 20);
  char *warning = r_strdup(&r);
  t.src_size = r_i64(&r);
  t.src_mtime_ns = r_i64(&r);
  r_strn(&r, t.src_sha256, sizeof t.src_sha256);
  r_strn(&r, t.src_validator, sizeof t.src_validator);
  t.stored_len = r_i64(&r);
  r_strn(&r, t.out_sha256, sizeof t.out_sha256);
  t.touched = r_int(&r, 0, 1);
  t.bytes_in = r_u64(&r);
  for (int i = 0; i < 3; i++)
    t.step_ns[i] = r_i64(&r);
  char *who = r_strdup(&r);
  pp_photo *p = !r.bad && r.off == r.n ? lookup(arg, t.index) : NULL;
  if (!p || p->status != PP_PENDING) { /* unknown, or settled already */
    free(warning);
    free(who);
    return NULL;
  }
  p->status = t.status;
  p->stage = t.stage;
  memcpy(p->reason, t.reason, sizeof p->reason);
  p->in_w = t.in_w;
  p->in_h = t.in_h;
  p->out_w = t.out_w;
  p->out_h = t.out_h;
  p->attempts = t.attempts;
  if (warning && *warning) {
    p->warning_owned = warning;
    p->warning = warning;
  } else {
    free(warning);
  }
  p->src_size = t.src_size;
  p->src_mtime_ns = t.src_mtime_ns;
  memcpy(p->src_sha256, t.src_sha256, sizeof p->src_sha256);
  memcpy(p->src_validator, t.src_validator, sizeof p->src_validator);
  p->stored_len = t.stored_len;
  memcpy(p->out_sha256, t.out_sha256, sizeof p->out_sha256);
  p->touched = t.touched;
  p->bytes_in = t.bytes_in;
  memcpy(p->step_ns, t.step_ns, sizeof p->step_ns);
  *worker = who;
  return p;
}

