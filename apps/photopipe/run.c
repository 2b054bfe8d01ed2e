/* run.c - wiring photopipe's stages through a conveyor pipeline.  The design
 * (ownership, Ctrl-C) is described in run.h. */
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "conveyor.h"
#include "corpus.h"
#include "fetch.h"
#include "names.h"
#include "photo.h"
#include "report.h"
#include "resize.h"
#include "source.h"
#include "upload.h"
#include "watch.h"

typedef struct pp_run_ctx {
  const pp_options *o;
  pp_net net;
  pp_resize_opts ropts;
  pp_album *album;
  pp_names *names;
  cv_pipeline *pl;

  /* The registry: every photo listed, in listing order.  Appended by the
   * source thread; read by the summary after the pipeline has finished. */
  pthread_mutex_t lock;
  pp_photo **photos;
  size_t nphotos, cap;
  atomic_size_t listed; /* for the progress line */
  atomic_ullong bytes_in, bytes_out;

  int stop_pipe[2]; /* [0] polled by the watch loop; [1] written on SIGINT */
  int source_rc;    /* -1 when listing failed (reason below) */
  char source_reason[PP_REASON_MAX];

  pp_progress progress;
  int show_progress;
} pp_run_ctx;

/* ---- signals ---- */

static pp_run_ctx *volatile g_ctx;
static atomic_int g_sigints;
static atomic_int g_stop;

static void say(const char *msg) {
  ssize_t r = write(2, msg, strlen(msg));
  (void)r;
}

static void on_sigint(int sig) {
  (void)sig;
  int saved = errno;
  int n = atomic_fetch_add(&g_sigints, 1) + 1;
  pp_run_ctx *c = g_ctx;
  if (n == 1) {
    atomic_store(&g_stop, 1);
    if (c) {
      ssize_t r = write(c->stop_pipe[1], "x", 1);
      (void)r;
    }
    say("\nphotopipe: stopping: finishing the photos in flight (Ctrl-C again to cancel them)\n");
  } else if (n == 2) {
    pp_net_cancel();
    if (c && c->pl)
      cv_pipeline_cancel_async(c->pl);
    say("\nphotopipe: canceling (Ctrl-C again to quit at once)\n");
  } else {
    pp_album_emergency_cleanup();
    _exit(130);
  }
  errno = saved;
}

/* ---- the registry ---- */

static pp_photo *register_photo(pp_run_ctx *c, const char *src, int local) {
  pp_photo *p = calloc(1, sizeof *p);
  if (!p || !(p->src = strdup(src))) {
    free(p);
    return NULL;
  }
  p->local = local;
  pthread_mutex_lock(&c->lock);
  if (c->nphotos == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 256;
    pp_photo **np = realloc(c->photos, cap * sizeof *np);
    if (!np) {
      pthread_mutex_unlock(&c->lock);
      free(p->src);
      free(p);
      return NULL;
    }
    c->photos = np;
    c->cap = cap;
  }
  p->index = c->nphotos;
  c->photos[c->nphotos++] = p;
  pthread_mutex_unlock(&c->lock);
  atomic_fetch_add(&c->listed, 1);
  return p;
}

/* Gives the photo its album name, or fails it in the list stage. */
static int name_photo(pp_run_ctx *c, pp_photo *p, pp_src_kind kind, const char *raw) {
  char name[PP_NAME_MAX + 1];
  const char *why = NULL;
  int rc;
  if (kind == PP_SRC_URL)
    rc = pp_name_from_url(p->src, name, &why);
  else if (kind == PP_SRC_PREFIXED)
    rc = pp_name_from_path(raw, name, &why);
  else {
    const char *base = strrchr(p->src, '/');
    base = base ? base + 1 : p->src;
    rc = pp_name_sanitize(base, strlen(base), name, &why);
  }
  if (rc < 0)
    return pp_fail(p, PP_STAGE_LIST, "%s", why);
  if (c->o->format == PP_FORMAT_JPEG)
    pp_name_set_ext(name, ".jpg");
  int renamed = 0;
  p->name = pp_names_claim(c->names, name, &renamed);
  if (!p->name)
    return pp_fail(p, PP_STAGE_LIST, "out of memory");
  p->renamed = renamed || rc == 1;
  return 0;
}

/* ---- the source ---- */

typedef struct feed_state {
  pp_run_ctx *c;
  cv_stage_ctx *ctx;
  int feeding; /* 0 once stopped: the rest is only recorded */
} feed_state;

static int on_listed(void *arg, pp_src_kind kind, const char *src, const char *raw) {
  feed_state *f = arg;
  /* Once stopped, a finite listing is still recorded (as "not started") so
   * the summary can say what was not done; a watch just ends. */
  if (f->feeding && (atomic_load(&g_stop) || atomic_load(&g_sigints) >= 2))
    f->feeding = 0;
  /* A watch, or a list on stdin (which may never end), just stops. */
  if (!f->feeding && (f->c->o->watch_dir ||
                      (f->c->o->urls_file && strcmp(f->c->o->urls_file, "-") == 0)))
    return 1;
  pp_photo *p = register_photo(f->c, src, kind == PP_SRC_FILE);
  if (!p)
    return 1;
  if (name_photo(f->c, p, kind, raw) != 0 || !f->feeding)
    return 0;
  if (cv_emit(f->ctx, p) == CV_ECANCELED)
    f->feeding = 0; /* the pipeline dropped it (destroy marked it) */
  return 0;
}

static int source_fn(cv_stage_ctx *ctx, void *arg) {
  pp_run_ctx *c = arg;
  feed_state f = {c, ctx, 1};
  int rc = 0;
  if (c->o->nsources || c->o->urls_file)
    rc = pp_source_list(c->o, on_listed, &f, c->source_reason, sizeof c->source_reason);
  if (rc >= 0 && c->o->watch_dir && f.feeding && !atomic_load(&g_stop))
    rc = pp_watch_run(c->o->watch_dir, c->stop_pipe[0], on_listed, &f, c->source_reason,
                      sizeof c->source_reason);
  if (rc < 0) {
    c->source_rc = -1;
    return cv_stage_fail(ctx, CV_EIO, "%s", c->source_reason);
  }
  return CV_OK;
}

/* ---- the stages ---- */

/* Fails the item, or records that it was canceled when that is why. */
static int stage_error(cv_stage_ctx *ctx, pp_photo *p, pp_stage st, const char *reason) {
  if (pp_net_canceled() || cv_stage_cancelled(ctx)) {
    p->status = PP_CANCELED;
    p->stage = st;
    snprintf(p->reason, sizeof p->reason, "canceled during %s", pp_stage_name(st));
    pp_photo_drop_buffers(p);
    return CV_ECANCELED;
  }
  pp_fail(p, st, "%s", reason);
  return cv_stage_fail(ctx, CV_EIO, "%s: %s", p->name, reason);
}

static int download_fn(cv_stage_ctx *ctx, void *item) {
  pp_run_ctx *c = cv_stage_arg(ctx);
  pp_photo *p = item;
  char reason[PP_REASON_MAX];
  if (cv_stage_cancelled(ctx))
    return CV_ECANCELED;
  if (c->o->skip_existing) {
    int exists = 0;
    if (pp_album_exists(c->album, p->name, &exists, reason, sizeof reason) != 0)
      return stage_error(ctx, p, PP_STAGE_DOWNLOAD, reason);
    if (exists) {
      p->status = PP_SKIPPED;
      p->stage = PP_STAGE_DOWNLOAD;
      return CV_OK; /* filtered: not emitted */
    }
  }
  int rc;
  if (p->local) {
    rc = pp_read_file(p->src, c->o->max_bytes, &p->data, &p->len, reason, sizeof reason);
  } else {
    int attempts = 0;
    rc = pp_fetch(&c->net, p->src, &p->data, &p->len, &attempts, reason, sizeof reason);
    p->attempts += attempts;
  }
  if (rc != 0)
    return stage_error(ctx, p, PP_STAGE_DOWNLOAD, reason);
  atomic_fetch_add(&c->bytes_in, p->len);
  p->stage = PP_STAGE_DOWNLOAD;
  return cv_emit(ctx, p);
}

/* True when `name` ends in `ext`, treating .jpg/.jpeg and .tif/.tiff alike. */
static int same_ext(const char *name, const char *ext) {
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

static int resize_fn(cv_stage_ctx *ctx, void *item) {
  pp_run_ctx *c = cv_stage_arg(ctx);
  pp_photo *p = item;
  char reason[PP_REASON_MAX];
  if (cv_stage_cancelled(ctx))
    return CV_ECANCELED;
  pp_resized r;
  if (pp_resize(&c->ropts, p->data, p->len, &r, reason, sizeof reason) != 0) {
    p->in_w = r.in_w;
    p->in_h = r.in_h;
    return stage_error(ctx, p, PP_STAGE_RESIZE, reason);
  }
  if (c->o->format == PP_FORMAT_KEEP && !same_ext(p->name, r.ext)) {
    /* Kept format differs from the name's extension (a PNG called .jpg,
     * or a format we re-encode as JPEG): the name follows the content. */
    char want[PP_NAME_MAX + 1];
    snprintf(want, sizeof want, "%s", p->name);
    pp_name_set_ext(want, r.ext);
    int renamed = 0;
    char *n = pp_names_claim(c->names, want, &renamed);
    if (!n) {
      free(r.data);
      return stage_error(ctx, p, PP_STAGE_RESIZE, "out of memory");
    }
    free(p->name);
    p->name = n;
    p->renamed = 1;
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
  p->stage = PP_STAGE_RESIZE;
  return cv_emit(ctx, p);
}

static int upload_fn(cv_stage_ctx *ctx, void *item) {
  pp_run_ctx *c = cv_stage_arg(ctx);
  pp_photo *p = item;
  char reason[PP_REASON_MAX];
  if (cv_stage_cancelled(ctx))
    return CV_ECANCELED;
  int attempts = 0;
  int rc = pp_album_store(c->album, p->name, p->out, p->out_len, &attempts, reason,
                          sizeof reason);
  if (!p->local || pp_album_is_remote(c->album))
    p->attempts += attempts;
  if (rc != 0)
    return stage_error(ctx, p, PP_STAGE_UPLOAD, reason);
  atomic_fetch_add(&c->bytes_out, p->out_len);
  free(p->out);
  p->out = NULL;
  p->out_len = 0;
  p->status = PP_DONE;
  p->stage = PP_STAGE_UPLOAD;
  return cv_emit(ctx, p);
}

static int sink_fn(void *item, void *arg) {
  (void)item, (void)arg;
  return CV_OK; /* the photo stays in the registry */
}

/* Whatever the pipeline drops: release the bytes, and if nobody decided the
 * photo's fate, it was canceled on its way. */
static void photo_release(void *item, void *arg) {
  (void)arg;
  pp_photo *p = item;
  pp_photo_drop_buffers(p);
  if (p->status == PP_PENDING) {
    p->status = PP_CANCELED;
    snprintf(p->reason, sizeof p->reason, "canceled after %s",
             p->stage == PP_STAGE_LIST ? "listing" : pp_stage_name(p->stage));
  }
}

static void net_worker_finish(void *arg, unsigned worker, void *state) {
  (void)arg, (void)worker, (void)state;
  pp_net_thread_done();
}

static void vips_worker_finish(void *arg, unsigned worker, void *state) {
  (void)arg, (void)worker, (void)state;
  pp_vips_thread_done();
}

static void on_progress(cv_pipeline *p, const cv_pipeline_summary *s, void *arg) {
  pp_run_ctx *c = arg;
  pp_progress_draw(&c->progress, stderr, p, s, atomic_load(&c->listed), s->finished);
}

/* ---- the run ---- */

static void describe(const pp_options *o) {
  if (o->quiet || o->json)
    return;
  char w[48];
  int len = 0;
  for (int i = 0; i < 3; i++)
    len += snprintf(w + len, sizeof w - (size_t)len, i ? "/%d%s" : "%d%s", o->workers[i],
                    o->auto_workers[i] ? "(auto)" : "");
  fprintf(stderr, "photopipe: fit %dx%d, %s, workers %s, queues %d/%d/%d -> %s\n",
          o->width, o->height,
          o->format == PP_FORMAT_JPEG ? "JPEG" : "keep format",
          w, o->capacity[0], o->capacity[1],
          o->capacity[2], o->album);
}

int pp_run(const pp_options *o) {
  pp_run_ctx *c = calloc(1, sizeof *c);
  if (!c) {
    fprintf(stderr, "photopipe: out of memory\n");
    return 1;
  }
  int exit_code = 1;
  c->o = o;
  c->net = (pp_net){.timeout_ms = o->timeout_ms,
                    .connect_timeout_ms = o->connect_timeout_ms,
                    .retries = o->retries,
                    .backoff_ms = o->backoff_ms,
                    .backoff_max_ms = o->backoff_max_ms,
                    .insecure = o->insecure,
                    .max_bytes = o->max_bytes};
  c->ropts = (pp_resize_opts){.width = o->width,
                              .height = o->height,
                              .quality = o->quality,
                              .strip = o->strip,
                              .enlarge = o->enlarge,
                              .keep_format = o->format == PP_FORMAT_KEEP,
                              .max_pixels = o->max_pixels};
  pthread_mutex_init(&c->lock, NULL);
  c->stop_pipe[0] = c->stop_pipe[1] = -1;
  c->show_progress = o->progress == 1 || (o->progress == -1 && !o->quiet && !o->json &&
                                          isatty(2));
  char reason[PP_REASON_MAX];
  if (pipe(c->stop_pipe) != 0) {
    fprintf(stderr, "photopipe: pipe: %s\n", strerror(errno));
    goto done;
  }
  fcntl(c->stop_pipe[1], F_SETFL, O_NONBLOCK);
  if (!(c->names = pp_names_new())) {
    fprintf(stderr, "photopipe: out of memory\n");
    goto done;
  }
  if (!(c->album = pp_album_open(o->album, &c->net, reason, sizeof reason))) {
    fprintf(stderr, "photopipe: %s\n", reason);
    goto done;
  }

  cv_pipeline_options po = {
      .name = "photopipe",
      .on_error = CV_ON_ERROR_SKIP,
      .item_destroy = photo_release,
      .source = source_fn,
      .source_arg = c,
      .sink = sink_fn,
      .progress = c->show_progress ? on_progress : NULL,
      .progress_arg = c,
      .progress_interval_ns = CV_MSEC(250),
      /* Automatic stages share the threads of the default layout. */
      .max_workers = (unsigned)(o->workers[0] + o->workers[1] + o->workers[2]),
  };
  int rc = cv_pipeline_create(&c->pl, &po);
  if (rc != CV_OK) {
    fprintf(stderr, "photopipe: cannot create the pipeline: %s\n", cv_strerror(rc));
    goto done;
  }
  cv_stage_options st[3] = {
      {.name = "download", .fn = download_fn, .worker_finish = net_worker_finish},
      {.name = "resize", .fn = resize_fn, .worker_finish = vips_worker_finish},
      {.name = "upload", .fn = upload_fn, .worker_finish = net_worker_finish},
  };
  for (int i = 0; i < 3; i++) {
    st[i].arg = c;
    st[i].workers = o->auto_workers[i] ? CV_WORKERS_AUTO : (unsigned)o->workers[i];
    /* Never more than the fixed layout would run: that bounds the photos held
     * at once, and resizing runs in libvips' threads, out of the pipeline's
     * sight. */
    st[i].max_workers = (unsigned)o->workers[i];
    st[i].capacity = (size_t)o->capacity[i];
    if ((rc = cv_pipeline_add_stage(c->pl, &st[i])) != CV_OK) {
      fprintf(stderr, "photopipe: cannot add a stage: %s\n", cv_strerror(rc));
      goto done;
    }
  }

  describe(o);
  g_ctx = c;
  struct sigaction sa = {0}, old_int, old_term;
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  rc = cv_pipeline_start(c->pl);
  if (rc == CV_OK)
    rc = cv_pipeline_wait(c->pl, CV_FOREVER);

  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  g_ctx = NULL;

  cv_pipeline_summary sum;
  cv_pipeline_summary_get(c->pl, &sum);
  if (pp_album_close(c->album) != 0)
    fprintf(stderr, "photopipe: warning: cannot flush the album directory: %s\n",
            strerror(errno));
  c->album = NULL;

  pp_totals t = {0};
  pp_totals_count(&t, c->photos, c->nphotos);
  t.bytes_in = atomic_load(&c->bytes_in);
  t.bytes_out = atomic_load(&c->bytes_out);
  t.elapsed_ns = sum.elapsed_ns;
  int sig = atomic_load(&g_sigints);
  t.interrupt = sig >= 2 ? 2 : sig;

  pp_report_failures(stderr, c->photos, c->nphotos);
  if (c->source_rc < 0)
    fprintf(stderr, "photopipe: %s\n", c->source_reason);
  if (o->json)
    pp_report_json(stdout, o, c->pl, &t, c->photos, c->nphotos);
  else if (!o->quiet)
    pp_report_text(stdout, o, c->pl, &t);
  fflush(stdout);

  /* The pipeline's own books must balance too. */
  if (!cv_pipeline_summary_balanced(&sum))
    fprintf(stderr, "photopipe: internal error: pipeline summary does not balance\n");
  int all_ok = t.failed == 0 && t.canceled == 0 && t.not_started == 0 && c->source_rc == 0 &&
               cv_pipeline_summary_balanced(&sum) &&
               (rc == CV_OK || (rc == CV_ECANCELED && t.listed == t.done + t.skipped));
  exit_code = all_ok ? 0 : 1;

done:
  if (c->pl)
    cv_pipeline_destroy(c->pl);
  pp_album_close(c->album);
  for (size_t i = 0; i < c->nphotos; i++) {
    pp_photo_drop_buffers(c->photos[i]);
    free(c->photos[i]->src);
    free(c->photos[i]->name);
    free(c->photos[i]);
  }
  free(c->photos);
  pp_names_free(c->names);
  if (c->stop_pipe[0] >= 0) {
    close(c->stop_pipe[0]);
    close(c->stop_pipe[1]);
  }
  pthread_mutex_destroy(&c->lock);
  free(c);
  return exit_code;
}

/* ---- demo ---- */

/* Removes the files of one flat folder, then the folder. */
static void rm_flat_dir(const char *path) {
  DIR *d = opendir(path);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      unlinkat(dirfd(d), e->d_name, 0);
  closedir(d);
  rmdir(path);
}

/* Removes the demo's temporary directory: only its two flat folders. */
static void rm_demo_dir(const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/camera", dir);
  rm_flat_dir(path);
  snprintf(path, sizeof path, "%s/album", dir);
  rm_flat_dir(path);
  rmdir(dir);
}

int pp_demo(pp_options *o) {
  const char *tmp = getenv("TMPDIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/photopipe-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    fprintf(stderr, "photopipe: cannot make a temporary folder: %s\n", strerror(errno));
    return 1;
  }
  char camera[4200], album[4200];
  snprintf(camera, sizeof camera, "%s/camera", dir);
  snprintf(album, sizeof album, "%s/album", dir);
  if (!o->quiet && !o->json)
    fprintf(stderr, "photopipe demo: generating %d sample photos (%dx%d) in %s\n", o->count,
            o->corpus_w, o->corpus_h, camera);
  if (pp_corpus_write(camera, o->count, o->corpus_w, o->corpus_h, o->seed,
                      o->quiet || o->json) != 0) {
    rm_demo_dir(dir);
    return 1;
  }
  char *srcs[1] = {camera};
  o->sources = srcs;
  o->nsources = 1;
  o->album = album;
  int rc = pp_run(o);
  o->sources = NULL;
  o->nsources = 0;
  if (o->keep) {
    if (!o->quiet && !o->json)
      fprintf(stderr, "photopipe demo: photos kept in %s (camera/ -> album/)\n", dir);
  } else {
    rm_demo_dir(dir);
    if (!o->quiet && !o->json)
      fprintf(stderr, "photopipe demo: removed %s (--keep keeps it)\n", dir);
  }
  return rc;
}
