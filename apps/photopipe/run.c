/* run.c - wiring photopipe's stages through a conveyor pipeline.  The design
 * (ownership, Ctrl-C) is described in run.h. */
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conveyor.h"
#include "broker.h"
#include "corpus.h"
#include "fdlimit.h"
#include "fetch.h"
#include "manifest.h"
#include "names.h"
#include "overlap.h"
#include "redact.h"
#include "photo.h"
#include "report.h"
#include "resize.h"
#include "safetext.h"
#include "source.h"
#include "stale.h"
#include "steps.h"
#include "upload.h"
#include "watch.h"

typedef struct pp_run_ctx {
  const pp_options *o;
  pp_work w;         /* the album, its manifest, what the steps need */
  pp_broker *broker; /* --broker: this process coordinates a distributed run */
  int album_local;                /* a local album: its folder's identity */
  dev_t album_dev;
  ino_t album_ino;
  cv_pipeline *pl;

  /* The registry: every photo listed, in listing order.  Appended by the
   * source thread; read by the summary after the pipeline has finished. */
  pthread_mutex_t lock;
  pp_photo **photos;
  size_t nphotos, cap;
  atomic_size_t listed; /* for the progress line */

  int stop_pipe[2]; /* [0] polled by the watch loop; [1] written on SIGINT */
  int source_rc;    /* -1 when listing failed (reason below) */
  char source_reason[PP_REASON_MAX];

  pp_progress progress;
  int show_progress;
} pp_run_ctx;

/* ---- signals ---- */

static _Atomic(pp_run_ctx *) g_ctx;
static atomic_int g_sigints;
static atomic_int g_stop;
/* Handlers running now.  A handler counts itself before it reads g_ctx; the
 * run clears g_ctx and waits for this to drop to zero before it destroys
 * the pipeline, so no handler on another thread can still be using it. */
static atomic_int g_in_handler;

static void say(const char *msg) {
  ssize_t r = write(2, msg, strlen(msg));
  (void)r;
}

static void on_sigint(int sig) {
  (void)sig;
  int saved = errno;
  atomic_fetch_add(&g_in_handler, 1);
  int n = atomic_fetch_add(&g_sigints, 1) + 1;
  pp_run_ctx *c = atomic_load(&g_ctx);
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
  atomic_fetch_sub(&g_in_handler, 1);
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

/* True when a and b have the same extension (or neither has one). */
static int same_ext_as(const char *a, const char *b) {
  const char *x = strrchr(a, '.'), *y = strrchr(b, '.');
  if (!x || !y)
    return !x && !y;
  return pp_same_ext(a, y);
}

/* A distributed run settles the photo's name before it leaves: workers store
 * by replacing, so that a photo run twice overwrites itself (broker.h).  A
 * file already under a name this run claimed anew is someone else's: the
 * name moves on as the upload stage would move it.  A name the manifest
 * gave this source before (`known`) is the source's own.  The photo's
 * source must mean the same on every machine: a local path is made
 * absolute, and a password in a URL, which would be stored on the broker,
 * is refused. */
static int name_for_workers(pp_run_ctx *c, pp_photo *p, pp_src_kind kind, const char *want,
                            int known) {
  char reason[PP_REASON_MAX];
  if (kind != PP_SRC_FILE && pp_redact(p->src, reason, sizeof reason) == 1)
    return pp_fail(p, PP_STAGE_LIST, "with --broker, a password in a source URL would be "
                                     "stored on the broker: put it in ~/.netrc on every worker");
  if (kind == PP_SRC_FILE && p->src[0] != '/') {
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
      return pp_fail(p, PP_STAGE_LIST, "cannot tell the current folder: %s", strerror(errno));
    char *abs = malloc(strlen(cwd) + strlen(p->src) + 2);
    if (!abs)
      return pp_fail(p, PP_STAGE_LIST, "out of memory");
    sprintf(abs, "%s/%s", cwd, p->src);
    free(p->src);
    p->src = abs;
  }
  unsigned k = 1;
  for (int tries = 0; p->fresh && !known; tries++) {
    int exists = 0;
    if (pp_album_exists(c->w.album, p->name, &exists, reason, sizeof reason) != 0)
      return pp_fail(p, PP_STAGE_LIST, "%s", reason);
    if (!exists)
      break;
    k++;
    char *n = tries < 100 ? pp_manifest_rename(c->w.manifest, p->key, want, &k, reason,
                                               sizeof reason)
                          : NULL;
    if (!n)
      return pp_fail(p, PP_STAGE_LIST, "%s", tries < 100 ? reason : "no free name");
    free(p->name);
    p->name = n;
    p->renamed = 1;
  }
  p->fresh = 0; /* settled: a worker replaces what is under it */
  return 0;
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
  /* Originals are untouchable: a source inside the album (named in a list,
   * or by a file:// URL) is refused before anything is read. */
  char buf[4096];
  const char *local = pp_local_path(p->src, kind == PP_SRC_FILE, buf, sizeof buf);
  if (c->album_local && local && pp_inside(local, c->album_dev, c->album_ino))
    return pp_fail(p, PP_STAGE_LIST, "the source is inside the album (photopipe never "
                                     "writes where originals are)");
  if (!(p->key = pp_source_key(p->src, kind == PP_SRC_FILE)))
    return pp_fail(p, PP_STAGE_LIST, "out of memory");
  pp_entry prev;
  char reason[PP_REASON_MAX];
  p->name = pp_manifest_claim(c->w.manifest, p->key, name, &prev, reason, sizeof reason);
  if (!p->name)
    return pp_fail(p, PP_STAGE_LIST, "%s", reason);
  int known = prev.found; /* the source's own name, from an earlier run */
  p->had_row = prev.found;
  p->fresh = !prev.stored;
  if (c->o->format == PP_FORMAT_JPEG && prev.found && !same_ext_as(p->name, name)) {
    /* Stored in another format before (--format keep): the name follows
     * the JPEG.  (With keep, the resize stage knows the format.) */
    unsigned k = 1;
    char *n = pp_manifest_rename(c->w.manifest, p->key, name, &k, reason, sizeof reason);
    if (!n)
      return pp_fail(p, PP_STAGE_LIST, "%s", reason);
    free(p->name);
    p->name = n;
    p->fresh = 1;
    known = 0;
  }
  p->prev_stored = prev.stored && strcmp(prev.settings, c->w.settings) == 0;
  p->prev_size = prev.source_size;
  p->prev_mtime_ns = prev.source_mtime_ns;
  memcpy(p->prev_sha256, prev.source_sha256, sizeof p->prev_sha256);
  snprintf(p->prev_validator, sizeof p->prev_validator, "%s", prev.source_validator);
  p->src_size = p->src_mtime_ns = -1;
  p->renamed = rc == 1 || strcmp(p->name, name) != 0;
  if (c->broker)
    return name_for_workers(c, p, kind, name, known);
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
  if (kind == PP_SRC_REFUSED) {
    pp_fail(p, PP_STAGE_LIST, "%s", raw);
    return 0;
  }
  if (name_photo(f->c, p, kind, raw) != 0 || !f->feeding)
    return 0;
  if (f->c->broker) {
    /* Its result will come back, applied on the sink's thread to the photo
     * it finds through lookup_photo(), under the lock taken here after
     * every write the listing made to it. */
    pthread_mutex_lock(&f->c->lock);
    p->sent = 1;
    pthread_mutex_unlock(&f->c->lock);
  }
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
    rc = pp_watch_run(c->o->watch_dir, c->o->settle_ms, c->o->recursive, c->stop_pipe[0],
                      on_listed, &f, c->source_reason, sizeof c->source_reason);
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
  pp_shown_buf a, b;
  return cv_stage_fail(ctx, CV_EIO, "%s: %s", pp_shown(&a, p->name), pp_shown(&b, reason));
}

static int download_fn(cv_stage_ctx *ctx, void *item) {
  pp_run_ctx *c = cv_stage_arg(ctx);
  pp_photo *p = item;
  char reason[PP_REASON_MAX];
  if (cv_stage_cancelled(ctx))
    return CV_ECANCELED;
  int rc = pp_step_download(&c->w, p, reason, sizeof reason);
  if (rc < 0)
    return stage_error(ctx, p, PP_STAGE_DOWNLOAD, reason);
  if (rc == PP_STEP_SKIPPED)
    return CV_OK; /* filtered: not emitted */
  return cv_emit(ctx, p);
}

static int resize_fn(cv_stage_ctx *ctx, void *item) {
  pp_run_ctx *c = cv_stage_arg(ctx);
  pp_photo *p = item;
  char reason[PP_REASON_MAX];
  if (cv_stage_cancelled(ctx))
    return CV_ECANCELED;
  if (pp_step_resize(&c->w, p, reason, sizeof reason) != 0)
    return stage_error(ctx, p, PP_STAGE_RESIZE, reason);
  return cv_emit(ctx, p);
}

static int upload_fn(cv_stage_ctx *ctx, void *item) {
  pp_run_ctx *c = cv_stage_arg(ctx);
  pp_photo *p = item;
  char reason[PP_REASON_MAX];
  if (cv_stage_cancelled(ctx))
    return CV_ECANCELED;
  if (pp_step_upload(&c->w, p, reason, sizeof reason) != 0)
    return stage_error(ctx, p, PP_STAGE_UPLOAD, reason);
  return cv_emit(ctx, p);
}

static int sink_fn(void *item, void *arg) {
  pp_run_ctx *c = arg;
  if (c->broker) /* a result from a worker, applied to the registry's photo */
    pp_broker_result(c->broker, item);
  return CV_OK; /* the photo stays in the registry */
}

/* The registry's photo number `index`, for a result from a worker. */
static pp_photo *lookup_photo(void *arg, size_t index) {
  pp_run_ctx *c = arg;
  pthread_mutex_lock(&c->lock);
  pp_photo *p = index < c->nphotos ? c->photos[index] : NULL;
  pthread_mutex_unlock(&c->lock);
  return p;
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

/* Why the pipeline did not start (a thread that could not be created under
 * a low ulimit -v or -u, say): the pipeline's own message, or the code. */
static void report_start_error(cv_pipeline *pl, int rc, int broker) {
  cv_pipeline_summary sum;
  const char *msg = NULL;
  if (cv_pipeline_summary_get(pl, &sum) == CV_OK && sum.error_message && *sum.error_message &&
      strcmp(sum.error_message, cv_strerror(rc)) != 0)
    msg = sum.error_message;
  pp_shown_buf m;
  if (broker && (rc == CV_EIO || rc == CV_ESTATE))
    fprintf(stderr, "photopipe: cannot start the run on the broker: %s\n",
            pp_shown(&m, msg ? msg : cv_strerror(rc)));
  else
    fprintf(stderr, "photopipe: cannot start the pipeline: %s%s%s\n", cv_strerror(rc),
            msg ? ": " : "", msg ? pp_shown(&m, msg) : "");
}

/* --watch DIR must be a folder before anything is created for the run. */
static int check_watch_dir(const char *dir) {
  struct stat st;
  pp_shown_buf shown;
  if (stat(dir, &st) != 0) {
    fprintf(stderr, "photopipe: cannot watch '%s': %s\n", pp_shown(&shown, dir),
            strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    fprintf(stderr, "photopipe: cannot watch '%s': not a directory\n", pp_shown(&shown, dir));
    return -1;
  }
  return 0;
}

static void describe(const pp_options *o, const pp_broker *b) {
  if (o->quiet || o->json)
    return;
  if (b) {
    pp_shown_buf album, run;
    fprintf(stderr,
            "photopipe: fit %dx%d, %s, run '%s' on %s (at most %d photos queued or with a "
            "worker) -> %s\n"
            "photopipe: workers join with: photopipe worker --broker %s --run %s\n",
            o->width, o->height, o->format == PP_FORMAT_JPEG ? "JPEG" : "keep format",
            pp_shown(&run, o->run), pp_broker_where(b), o->broker_capacity,
            pp_shown(&album, o->album), pp_broker_where(b), run.s);
    return;
  }
  char w[48];
  int len = 0;
  for (int i = 0; i < 3; i++)
    len += snprintf(w + len, sizeof w - (size_t)len, i ? "/%d%s" : "%d%s", o->workers[i],
                    o->auto_workers[i] ? "(auto)" : "");
  pp_shown_buf album;
  fprintf(stderr, "photopipe: fit %dx%d, %s, workers %s, queues %d/%d/%d -> %s\n",
          o->width, o->height,
          o->format == PP_FORMAT_JPEG ? "JPEG" : "keep format",
          w, o->capacity[0], o->capacity[1],
          o->capacity[2], pp_shown(&album, o->album));
}

int pp_run(const pp_options *asked) {
  pp_options fitted = *asked;
  pp_fit_fd_limit(&fitted, asked->quiet);
  const pp_options *o = &fitted;
  pp_run_ctx *c = calloc(1, sizeof *c);
  if (!c) {
    fprintf(stderr, "photopipe: out of memory\n");
    return 1;
  }
  int exit_code = 1;
  char *album_abs = NULL;
  c->o = o;
  pp_work_init(&c->w, o);
  pthread_mutex_init(&c->lock, NULL);
  c->stop_pipe[0] = c->stop_pipe[1] = -1;
  c->show_progress = o->progress == 1 || (o->progress == -1 && !o->quiet && !o->json &&
                                          isatty(2));
  char reason[PP_REASON_MAX];
  if (o->watch_dir && check_watch_dir(o->watch_dir) != 0) {
    exit_code = 2;
    goto done;
  }
  if (pipe(c->stop_pipe) != 0) {
    fprintf(stderr, "photopipe: pipe: %s\n", strerror(errno));
    goto done;
  }
  fcntl(c->stop_pipe[1], F_SETFL, O_NONBLOCK);
  /* Before the album folder is made: it must not be made inside a source. */
  if (pp_check_overlap(o, reason, sizeof reason) != 0) {
    pp_shown_buf why;
    fprintf(stderr, "photopipe: %s\n", pp_shown(&why, reason));
    exit_code = 2;
    goto done;
  }
  if (!(c->w.album = pp_album_open(o->album, &c->w.net, reason, sizeof reason))) {
    pp_shown_buf why;
    fprintf(stderr, "photopipe: %s\n", pp_shown(&why, reason));
    goto done;
  }
  if (o->broker && !pp_album_is_remote(c->w.album) && o->album[0] != '/') {
    /* Workers find the album by its absolute path (a folder every machine
     * mounts at the same place). */
    if (!(album_abs = realpath(o->album, NULL))) {
      fprintf(stderr, "photopipe: cannot resolve the album's path: %s\n", strerror(errno));
      goto done;
    }
    fitted.album = album_abs;
  }
  pp_settings_string(o, c->w.settings, sizeof c->w.settings);
  if (!(c->w.manifest = pp_manifest_open(o->album, 1, reason, sizeof reason))) {
    pp_shown_buf why;
    fprintf(stderr, "photopipe: %s\n", pp_shown(&why, reason));
    goto done;
  }
  struct stat ast;
  if (!pp_album_is_remote(c->w.album) && stat(o->album, &ast) == 0) {
    c->album_local = 1;
    c->album_dev = ast.st_dev;
    c->album_ino = ast.st_ino;
    size_t stale = pp_stale_clean(o->album);
    if (stale && !o->quiet)
      fprintf(stderr, "photopipe: removed %zu temporary file%s left by runs that died\n",
              stale, stale == 1 ? "" : "s");
  }

  cv_pipeline_options po = {
      .name = "photopipe",
      .on_error = CV_ON_ERROR_SKIP,
      /* A coordinator's photos leave as jobs: nothing of them to release. */
      .item_destroy = o->broker ? NULL : photo_release,
      .source = source_fn,
      .source_arg = c,
      .sink = sink_fn,
      .sink_arg = c,
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
  if (o->broker) {
    /* One stage, worked on by the worker processes; this one coordinates. */
    if ((rc = pp_broker_add_stage(c->pl, 1, (size_t)o->broker_capacity)) != CV_OK) {
      fprintf(stderr, "photopipe: cannot add a stage: %s\n", cv_strerror(rc));
      goto done;
    }
    if (!(c->broker = pp_broker_coordinator(c->pl, o, &c->w, lookup_photo, c))) {
      exit_code = 2;
      goto done;
    }
  }
  cv_stage_options st[3] = {
      {.name = "download", .fn = download_fn, .worker_finish = net_worker_finish},
      {.name = "resize", .fn = resize_fn, .worker_finish = vips_worker_finish},
      {.name = "upload", .fn = upload_fn, .worker_finish = net_worker_finish},
  };
  for (int i = 0; i < 3 && !o->broker; i++) {
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

  if (!c->broker)
    describe(o, NULL);
  atomic_store(&g_ctx, c);
  /* SIGTERM (a service manager, kill) and SIGHUP (the terminal or ssh
   * session going away) end a run the way Ctrl-C does: a summary, and no
   * temporary file left behind. */
  struct sigaction sa = {0}, old_int, old_term, old_hup;
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGHUP, &sa, &old_hup);

  rc = cv_pipeline_start(c->pl);
  int start_failed = rc != CV_OK;
  if (c->broker && !start_failed)
    describe(o, c->broker); /* once the run is on the broker */
  if (rc == CV_OK)
    rc = cv_pipeline_wait(c->pl, CV_FOREVER);
  else
    report_start_error(c->pl, rc, c->broker != NULL);

  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGHUP, &old_hup, NULL);
  atomic_store(&g_ctx, NULL);
  while (atomic_load(&g_in_handler) != 0)
    sched_yield();
  /* No run on the broker: the one line above says why; nothing was listed. */
  if (start_failed && c->broker)
    goto done;

  cv_pipeline_summary sum;
  cv_pipeline_summary_get(c->pl, &sum);
  if (c->broker)
    pp_broker_finish(c->broker, c->photos, c->nphotos,
                     rc == CV_ECANCELED || sum.status == CV_ECANCELED, sum.error_message);
  if (pp_album_close(c->w.album) != 0)
    fprintf(stderr, "photopipe: warning: cannot flush the album directory: %s\n",
            strerror(errno));
  c->w.album = NULL;

  pp_totals t = {0};
  pp_totals_count(&t, c->photos, c->nphotos);
  t.bytes_in = atomic_load(&c->w.bytes_in);
  t.bytes_out = atomic_load(&c->w.bytes_out);
  t.elapsed_ns = sum.elapsed_ns;
  int sig = atomic_load(&g_sigints);
  t.interrupt = sig >= 2 ? 2 : sig;

  /* A name that did not come free stays reserved only while its photo is
   * stored (or being stored) under it. */
  for (size_t i = 0; i < c->nphotos; i++)
    if (c->photos[i]->key && !c->photos[i]->had_row && c->photos[i]->status != PP_DONE)
      pp_manifest_forget(c->w.manifest, c->photos[i]->key);

  pp_report_failures(stderr, c->photos, c->nphotos);
  if (c->source_rc < 0) {
    pp_shown_buf why;
    fprintf(stderr, "photopipe: %s\n", pp_shown(&why, c->source_reason));
  }
  int none_found = t.listed == 0 && c->source_rc == 0 && !o->watch_dir && !t.interrupt;
  if (none_found)
    fprintf(stderr, "photopipe: no photos found in the sources\n");
  if (!o->json && !o->quiet)
    pp_report_names(stdout, c->photos, c->nphotos);
  if (o->json)
    pp_report_json(stdout, o, c->pl, &t, c->photos, c->nphotos,
                   c->broker ? pp_broker_json : NULL, c->broker);
  else if (!o->quiet && c->broker)
    pp_broker_report(stdout, c->broker, c->pl);
  if (!o->json && !o->quiet)
    pp_report_text(stdout, o, c->broker ? NULL : c->pl, &t);
  /* stdout is flushed (and its errors reported) once, by main(). */

  /* The pipeline's own books must balance too. */
  if (!cv_pipeline_summary_balanced(&sum))
    fprintf(stderr, "photopipe: internal error: pipeline summary does not balance\n");
  /* An interrupted run exits 1, as --help says, a watch included: it
   * did not end because its work was done. */
  int all_ok = t.failed == 0 && t.canceled == 0 && t.not_started == 0 && c->source_rc == 0 &&
               !none_found && t.interrupt == 0 &&
               cv_pipeline_summary_balanced(&sum) &&
               (rc == CV_OK || (rc == CV_ECANCELED && t.listed == t.done + t.skipped));
  exit_code = all_ok ? 0 : 1;

done:
  if (c->pl)
    cv_pipeline_destroy(c->pl);
  pp_broker_free(c->broker);
  pp_album_close(c->w.album);
  pp_manifest_close(c->w.manifest);
  free(album_abs);
  for (size_t i = 0; i < c->nphotos; i++) {
    pp_photo_drop_buffers(c->photos[i]);
    free(c->photos[i]->warning_owned);
    free(c->photos[i]->key);
    free(c->photos[i]->src);
    free(c->photos[i]->name);
    free(c->photos[i]);
  }
  free(c->photos);
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
  snprintf(path, sizeof path, "%s/album/.photopipe", dir);
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
