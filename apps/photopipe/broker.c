/* broker.c - photopipe's coordinator and workers of a distributed run (the
 * design is in broker.h). */
#include "broker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "names.h"
#include "redact.h"
#include "resize.h"
#include "safetext.h"
#include "stale.h"
#include "upload.h"
#include "wire.h"

#ifdef PP_HAVE_BROKER
#include "conveyor/distributed.h"
#endif

/* ---- the broker's address ------------------------------------------------ */

char *pp_broker_url(const char *url) {
  const char *pw = getenv("PHOTOPIPE_BROKER_PASSWORD");
  size_t n = strlen(url);
  if (!pw || !*pw || strncmp(url, "redis://", 8) != 0 || strchr(url + 8, '@'))
    return strdup(url);
  char *s = malloc(n + strlen(pw) + 3);
  if (s)
    sprintf(s, "redis://:%s@%s", pw, url + 8);
  return s;
}

void pp_broker_shown(const char *url, char *buf, size_t size) {
  pp_shown_buf b;
  snprintf(buf, size, "%s", pp_shown(&b, url));
}

/* FNV-1a, for the short tags of temporary file names. */
static uint32_t hash32(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* "+RRRRRRRR+": what every temporary file of the run has after ".pp". */
static void run_tag(const char *run, char out[16]) {
  snprintf(out, 16, "+%08x+", hash32(run));
}

#ifdef PP_HAVE_BROKER

/* ---- the stage ----------------------------------------------------------- */

/* What a worker process shares between its threads: the run's settings,
 * set up once from the first job, and its own name for the results. */
typedef struct pp_worker {
  pthread_mutex_t mu;
  unsigned char *settings; /* the bytes the set-up came from */
  size_t slen;
  int ready;               /* 1 set up, -1 could not be (`why`) */
  char why[PP_REASON_MAX];
  pp_options o;
  char *strs;
  pp_work w;
  char name[96]; /* host-pid */
  atomic_ullong done, failed, skipped;
} pp_worker;

/* Opens the run's album on this machine.  A local album must be the
 * coordinator's folder, mounted here at the same path: it must exist and
 * hold the coordinator's manifest, or photos would silently land on this
 * machine's own disk. */
static pp_album *shared_album(const pp_options *o, const pp_net *net, char *why, size_t wsz) {
  if (strncasecmp(o->album, "http://", 7) != 0 && strncasecmp(o->album, "https://", 8) != 0) {
    char db[4096];
    struct stat st;
    snprintf(db, sizeof db, "%s/.photopipe/manifest.db", o->album);
    if (stat(db, &st) != 0) {
      pp_shown_buf a;
      snprintf(why, wsz, "the album '%s' is not here (no manifest): mount the coordinator's "
                         "album folder at the same path", pp_shown(&a, o->album));
      return NULL;
    }
  }
  return pp_album_open(o->album, net, why, wsz);
}

/* The set-up for a job's settings, or NULL with a reason. */
static pp_work *worker_work(pp_worker *k, const unsigned char *s, size_t slen, char *reason,
                            size_t rsz) {
  pthread_mutex_lock(&k->mu);
  if (k->ready == 0) {
    pp_options_defaults(&k->o, 1);
    char settings[PP_SETTINGS_MAX];
    if (pp_wire_settings_decode(s, slen, &k->o, settings, &k->strs) != 0) {
      k->ready = -1;
      snprintf(k->why, sizeof k->why, "the run's settings cannot be read");
    } else {
      pp_work_init(&k->w, &k->o);
      snprintf(k->w.settings, sizeof k->w.settings, "%s", settings);
      char why[PP_REASON_MAX];
      k->w.album = shared_album(&k->o, &k->w.net, why, sizeof why);
      if (!k->w.album) {
        k->ready = -1;
        snprintf(k->why, sizeof k->why, "%s", why);
      } else {
        k->ready = 1;
      }
    }
    k->settings = malloc(slen ? slen : 1);
    if (k->settings)
      memcpy(k->settings, s, slen);
    k->slen = slen;
    if (k->ready < 0) {
      pp_shown_buf b;
      fprintf(stderr, "photopipe worker: %s\n", pp_shown(&b, k->why));
    }
  }
  pp_work *w = NULL;
  if (k->ready < 0)
    snprintf(reason, rsz, "%s", k->why);
  else if (!k->settings || k->slen != slen || memcmp(k->settings, s, slen) != 0)
    snprintf(reason, rsz, "a job with other settings than the run's first");
  else
    w = &k->w;
  pthread_mutex_unlock(&k->mu);
  return w;
}

/* A job as the worker holds it: the photo and its run's settings. */
typedef struct pp_job {
  pp_photo p; /* first: the pipeline's item is the job, also a pp_photo */
  unsigned char *settings;
  size_t slen;
} pp_job;

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The stage function: download, resize and upload one photo here, and emit
 * its result whatever became of it (failures included: the coordinator
 * learns every photo's fate from its result). */
static int photos_fn(cv_stage_ctx *ctx, void *item) {
  pp_worker *k = cv_stage_arg(ctx);
  pp_job *j = item;
  pp_photo *p = &j->p;
  char reason[PP_REASON_MAX];
  if (cv_stage_cancelled(ctx))
    return CV_ECANCELED;
  pp_work *w = worker_work(k, j->settings, j->slen, reason, sizeof reason);
  pp_stage st = PP_STAGE_DOWNLOAD;
  int rc = -1;
  if (w) {
    int64_t t0 = mono_ns();
    rc = pp_step_download(w, p, reason, sizeof reason);
    int64_t t1 = mono_ns();
    p->step_ns[0] = t1 - t0;
    if (rc == PP_STEP_OK) {
      st = PP_STAGE_RESIZE;
      rc = pp_step_resize(w, p, reason, sizeof reason);
      int64_t t2 = mono_ns();
      p->step_ns[1] = t2 - t1;
      if (rc == 0) {
        st = PP_STAGE_UPLOAD;
        rc = pp_step_upload(w, p, reason, sizeof reason);
        p->step_ns[2] = mono_ns() - t2;
      }
    }
  }
  if (rc < 0) {
    /* A cancelled run: no result (the run counts what was left). */
    if (pp_net_canceled() || cv_stage_cancelled(ctx)) {
      pp_photo_drop_buffers(p);
      return CV_ECANCELED;
    }
    pp_fail(p, st, "%s", reason);
    atomic_fetch_add(&k->failed, 1);
  } else if (rc == PP_STEP_SKIPPED) {
    atomic_fetch_add(&k->skipped, 1);
  } else {
    atomic_fetch_add(&k->done, 1);
  }
  return cv_emit(ctx, p);
}

static void photos_finish(void *arg, unsigned worker, void *state) {
  (void)arg, (void)worker, (void)state;
  pp_net_thread_done();
  pp_vips_thread_done();
}

static int add_stage(cv_pipeline *pl, unsigned workers, size_t capacity, pp_worker *k) {
  cv_stage_options st = {.name = "photos",
                         .fn = photos_fn,
                         .arg = k,
                         .worker_finish = photos_finish,
                         .workers = workers,
                         .capacity = capacity};
  return cv_pipeline_add_stage(pl, &st);
}

int pp_broker_add_stage(cv_pipeline *pl, unsigned workers, size_t capacity) {
  return add_stage(pl, workers, capacity, NULL);
}

/* ---- codecs -------------------------------------------------------------- */

/* Both processes of a run give the pipeline the same codecs; each calls
 * only its half: the coordinator encodes jobs and decodes results, a
 * worker decodes jobs and encodes results. */
typedef struct pp_codec_arg {
  pp_broker *b;  /* the coordinator's, or NULL */
  pp_worker *k;  /* a worker's, or NULL */
} pp_codec_arg;

struct pp_broker {
  pp_codec_arg ca;
  pp_work *w;
  pp_lookup_fn lookup;
  void *lookup_arg;
  unsigned char *settings;
  size_t slen;
  char *url; /* with the password, if any: given to the library only */
  char where[256];
  char run[80];
  const char *album;
  int local_album;
  /* The report, from the results (the sink's thread only). */
  uint64_t step_n[3];
  int64_t step_ns[3];
  struct {
    char *name;
    uint64_t n;
  } who[64];
  size_t nwho;
  uint64_t who_other;
  size_t removed_tmp;
};

static int job_encode(const void *item, void *arg, void **buf, size_t *len) {
  pp_codec_arg *a = arg;
  if (!a->b)
    return CV_EINVAL;
  unsigned char *b;
  if (pp_wire_job(item, a->b->settings, a->b->slen, &b, len) != 0)
    return CV_ENOMEM;
  *buf = b;
  return CV_OK;
}

static int job_decode(const void *buf, size_t len, void *arg, void **item) {
  (void)arg;
  pp_photo *p;
  unsigned char *s;
  size_t slen;
  if (pp_wire_job_decode(buf, len, &p, &s, &slen) != 0)
    return CV_EINVAL;
  pp_job *j = realloc(p, sizeof *j);
  if (!j) {
    pp_wire_photo_free(p);
    free(s);
    return CV_ENOMEM;
  }
  j->settings = s;
  j->slen = slen;
  *item = j;
  return CV_OK;
}

static int result_encode(const void *item, void *arg, void **buf, size_t *len) {
  pp_codec_arg *a = arg;
  if (!a->k)
    return CV_EINVAL;
  unsigned char *b;
  if (pp_wire_result(item, a->k->name, &b, len) != 0)
    return CV_ENOMEM;
  *buf = b;
  return CV_OK;
}

/* Applies a result to the registry's photo, which becomes the output
 * item, and counts it for the worker that did it. */
static int result_decode(const void *buf, size_t len, void *arg, void **item) {
  pp_codec_arg *a = arg;
  if (!a->b)
    return CV_EINVAL;
  char *who = NULL;
  pp_photo *p = pp_wire_result_apply(buf, len, a->b->lookup, a->b->lookup_arg, &who);
  if (!p)
    return CV_EINVAL;
  /* Counted here, on the one thread that reads the run's output. */
  pp_broker *b = a->b;
  size_t i = 0;
  while (i < b->nwho && strcmp(b->who[i].name, who) != 0)
    i++;
  if (i == b->nwho && b->nwho < sizeof b->who / sizeof b->who[0] && who) {
    b->who[b->nwho].name = who;
    b->who[b->nwho++].n = 0;
    who = NULL;
  }
  if (i < b->nwho)
    b->who[i].n++;
  else
    b->who_other++;
  free(who);
  *item = p;
  return CV_OK;
}

static void job_destroy(void *item, void *arg) {
  (void)arg;
  pp_job *j = item;
  free(j->settings);
  pp_wire_photo_free(&j->p);
}

/* Attaches pl to the run: coordinator (b) or worker (k). */
static int attach(cv_pipeline *pl, const pp_options *o, const char *url, pp_codec_arg *ca,
                  int coordinator) {
  cv_broker_options bo = {.url = url,
                          .run = o->run,
                          .coordinator = coordinator,
                          .stages = coordinator ? "" : NULL,
                          .codec = {job_encode, job_decode, ca},
                          .lease_ns = CV_MSEC(o->lease_ms),
                          .timeout_ns = CV_MSEC(o->connect_timeout_ms)};
  int rc = cv_pipeline_set_broker(pl, &bo);
  if (rc == CV_OK)
    rc = cv_pipeline_set_codec(pl, 1, &(cv_codec){result_encode, result_decode, ca});
  return rc;
}

/* ---- the coordinator ----------------------------------------------------- */

pp_broker *pp_broker_coordinator(cv_pipeline *pl, const pp_options *o, pp_work *w,
                                 pp_lookup_fn lookup, void *lookup_arg) {
  pp_broker *b = calloc(1, sizeof *b);
  if (!b) {
    fprintf(stderr, "photopipe: out of memory\n");
    return NULL;
  }
  b->ca.b = b;
  b->w = w;
  b->lookup = lookup;
  b->lookup_arg = lookup_arg;
  b->album = o->album;
  b->local_album = !pp_album_is_remote(w->album);
  snprintf(b->run, sizeof b->run, "%s", o->run);
  pp_broker_shown(o->broker, b->where, sizeof b->where);
  if (!(b->url = pp_broker_url(o->broker)) ||
      pp_wire_settings(o, w->settings, &b->settings, &b->slen) != 0) {
    fprintf(stderr, "photopipe: out of memory\n");
    pp_broker_free(b);
    return NULL;
  }
  int rc = attach(pl, o, b->url, &b->ca, 1);
  if (rc != CV_OK) {
    fprintf(stderr, "photopipe: bad --broker '%s' (want redis://[:PASSWORD@]HOST[:PORT][/DB] "
            "or a socket path): %s\n", b->where, cv_strerror(rc));
    pp_broker_free(b);
    return NULL;
  }
  return b;
}

void pp_broker_result(pp_broker *b, pp_photo *p) {
  if (p->status == PP_DONE && b->w->manifest)
    pp_step_record(b->w, p);
  else if (p->status == PP_SKIPPED && p->touched && b->w->manifest)
    pp_manifest_touch(b->w->manifest, p->key, p->src_size, p->src_mtime_ns, p->src_validator);
  atomic_fetch_add(&b->w->bytes_in, p->bytes_in);
  if (p->status == PP_DONE)
    atomic_fetch_add(&b->w->bytes_out, (unsigned long long)p->stored_len);
  int last = p->status == PP_DONE ? 3 : p->status == PP_SKIPPED ? 1 : (int)p->stage;
  for (int i = 0; i < last && i < 3; i++) {
    b->step_n[i]++;
    b->step_ns[i] += p->step_ns[i];
  }
}

void pp_broker_finish(pp_broker *b, pp_photo *const *photos, size_t n, int canceled,
                      const char *why) {
  for (size_t i = 0; i < n; i++) {
    pp_photo *p = photos[i];
    if (!p->sent || p->status != PP_PENDING)
      continue;
    if (canceled) {
      p->status = PP_CANCELED;
      snprintf(p->reason, sizeof p->reason, "canceled while with the workers");
    } else {
      pp_fail(p, PP_STAGE_DOWNLOAD, "no worker finished it (%s)",
              why && *why ? why : "its result never came");
    }
  }
  if (b->local_album) {
    char tag[16], pat[24];
    run_tag(b->run, tag);
    snprintf(pat, sizeof pat, ".pp%s", tag);
    b->removed_tmp = pp_stale_clean_tagged(b->album, pat);
  }
}

const char *pp_broker_where(const pp_broker *b) { return b->where; }

void pp_broker_report(FILE *f, const pp_broker *b, cv_pipeline *pl) {
  static const char *names[3] = {"download", "resize", "upload"};
  fprintf(f, "%-9s %7s %12s   (on the workers, run '%s' on %s)\n", "step", "photos",
          "ms/photo", b->run, b->where);
  for (int i = 0; i < 3; i++)
    fprintf(f, "%-9s %7llu %12.1f\n", names[i], (unsigned long long)b->step_n[i],
            b->step_n[i] ? (double)b->step_ns[i] / 1e6 / (double)b->step_n[i] : 0.0);
  for (size_t i = 0; i < b->nwho; i++) {
    pp_shown_buf s;
    fprintf(f, "worker %s: %llu photos\n", pp_shown(&s, b->who[i].name),
            (unsigned long long)b->who[i].n);
  }
  if (b->who_other)
    fprintf(f, "other workers: %llu photos\n", (unsigned long long)b->who_other);
  cv_stage_stats st;
  if (cv_pipeline_stage_stats(pl, 0, &st) == CV_OK)
    fprintf(f, "queue max %zu/%zu (photos queued or with a worker, run-wide)\n",
            st.queue_high_water, st.queue_capacity);
  if (b->removed_tmp)
    fprintf(f, "removed %zu temporary file%s left by workers that died\n", b->removed_tmp,
            b->removed_tmp == 1 ? "" : "s");
}

void pp_broker_json(FILE *f, void *arg) {
  const pp_broker *b = arg;
  static const char *names[3] = {"download", "resize", "upload"};
  fputs(",\"broker\":{\"run\":", f);
  pp_json_str(f, b->run);
  fputs(",\"where\":", f);
  pp_json_str(f, b->where);
  fputs(",\"steps\":{", f);
  for (int i = 0; i < 3; i++)
    fprintf(f, "%s\"%s\":{\"photos\":%llu,\"ms_per_photo\":%.1f}", i ? "," : "", names[i],
            (unsigned long long)b->step_n[i],
            b->step_n[i] ? (double)b->step_ns[i] / 1e6 / (double)b->step_n[i] : 0.0);
  fputs("},\"workers\":[", f);
  for (size_t i = 0; i < b->nwho; i++) {
    fputs(i ? ",{\"name\":" : "{\"name\":", f);
    pp_json_str(f, b->who[i].name);
    fprintf(f, ",\"photos\":%llu}", (unsigned long long)b->who[i].n);
  }
  fprintf(f, "],\"other_workers_photos\":%llu,\"removed_temporary\":%zu}",
          (unsigned long long)b->who_other, b->removed_tmp);
}

void pp_broker_free(pp_broker *b) {
  if (!b)
    return;
  free(b->settings);
  if (b->url) {
    memset(b->url, 0, strlen(b->url));
    free(b->url);
  }
  for (size_t i = 0; i < b->nwho; i++)
    free(b->who[i].name);
  free(b);
}

/* ---- the worker ---------------------------------------------------------- */

/* The run was cancelled (from any of its processes): transfers and local
 * writes in progress here stop too, as they do on a Ctrl-C in one process,
 * rather than store photos whose results nobody will take. */
static void worker_progress(cv_pipeline *pl, const cv_pipeline_summary *s, void *arg) {
  (void)pl, (void)arg;
  if (s->status == CV_ECANCELED || s->status == CV_EFAILED)
    pp_net_cancel();
}

static void worker_signal(int sig) {
  (void)sig;
  /* Leaving mid-run is a crash as far as the run is concerned (its photos
   * go to other workers after the lease); only the half-written files go. */
  static const char msg[] = "\nphotopipe worker: leaving; the photos in hand go to other "
                            "workers after the lease\n";
  ssize_t r = write(2, msg, sizeof msg - 1);
  (void)r;
  pp_album_emergency_cleanup();
  _exit(130);
}

int pp_worker_run(const pp_options *o) {
  pp_worker *k = calloc(1, sizeof *k);
  if (!k) {
    fprintf(stderr, "photopipe worker: out of memory\n");
    return 1;
  }
  pthread_mutex_init(&k->mu, NULL);
  char host[64] = "host";
  gethostname(host, sizeof host - 1);
  snprintf(k->name, sizeof k->name, "%s-%ld", host, (long)getpid());
  char tag[48], rt[16];
  run_tag(o->run, rt);
  snprintf(tag, sizeof tag, "%s%08x+", rt, hash32(host));
  pp_album_temp_tag(tag);
  pp_codec_arg ca = {NULL, k};
  char where[256];
  pp_broker_shown(o->broker, where, sizeof where);
  char *url = pp_broker_url(o->broker);
  cv_pipeline *pl = NULL;
  int code = 1;
  int rc = url ? cv_pipeline_create(&pl, &(cv_pipeline_options){.name = "photopipe-worker",
                                                               .on_error = CV_ON_ERROR_SKIP,
                                                               .item_destroy = job_destroy,
                                                               .progress = worker_progress,
                                                               .progress_interval_ns =
                                                                   CV_MSEC(100)})
               : CV_ENOMEM;
  if (rc == CV_OK)
    rc = add_stage(pl, (unsigned)o->broker_workers, 64, k);
  if (rc == CV_OK && (rc = attach(pl, o, url, &ca, 0)) != CV_OK) {
    fprintf(stderr, "photopipe worker: bad --broker '%s' (want "
            "redis://[:PASSWORD@]HOST[:PORT][/DB] or a socket path): %s\n", where,
            cv_strerror(rc));
    code = 2;
    goto out;
  }
  if (rc != CV_OK) {
    fprintf(stderr, "photopipe worker: %s\n", cv_strerror(rc));
    goto out;
  }
  struct sigaction sa = {0};
  sa.sa_handler = worker_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  rc = cv_pipeline_start(pl);
  cv_pipeline_summary sum;
  if (rc != CV_OK) {
    cv_pipeline_summary_get(pl, &sum);
    pp_shown_buf m;
    fprintf(stderr, "photopipe worker: cannot join the run: %s\n",
            pp_shown(&m, sum.error_message && *sum.error_message ? sum.error_message
                                                                 : cv_strerror(rc)));
    goto out;
  }
  if (!o->quiet) {
    pp_shown_buf r;
    fprintf(stderr, "photopipe worker %s: joined run '%s' on %s, %d threads\n", k->name,
            pp_shown(&r, o->run), where, o->broker_workers);
  }
  rc = cv_pipeline_wait(pl, CV_FOREVER);
  cv_pipeline_summary_get(pl, &sum);
  if (rc != CV_OK && rc != CV_ECANCELED) {
    pp_shown_buf m;
    fprintf(stderr, "photopipe worker: %s%s%s\n", cv_strerror(rc),
            sum.error_message ? ": " : "", pp_shown(&m, sum.error_message));
  } else if (rc == CV_ECANCELED) {
    fprintf(stderr, "photopipe worker: the run was canceled\n");
  }
  if (!o->quiet)
    fprintf(stderr, "photopipe worker %s: %llu stored, %llu skipped, %llu failed\n", k->name,
            (unsigned long long)atomic_load(&k->done),
            (unsigned long long)atomic_load(&k->skipped),
            (unsigned long long)atomic_load(&k->failed));
  code = rc == CV_OK ? 0 : 1;
out:
  if (pl)
    cv_pipeline_destroy(pl);
  if (k->w.album && pp_album_close(k->w.album) != 0)
    fprintf(stderr, "photopipe worker: warning: cannot flush the album directory\n");
  if (url) {
    memset(url, 0, strlen(url));
    free(url);
  }
  free(k->settings);
  free(k->strs);
  pthread_mutex_destroy(&k->mu);
  free(k);
  return code;
}

#else /* !PP_HAVE_BROKER */

static const char no_broker[] = "photopipe: this photopipe was built without Redis "
                                "support (hiredis): --broker is not available\n";

int pp_broker_add_stage(cv_pipeline *pl, unsigned workers, size_t capacity) {
  (void)pl, (void)workers, (void)capacity;
  return CV_EINVAL;
}

pp_broker *pp_broker_coordinator(cv_pipeline *pl, const pp_options *o, pp_work *w,
                                 pp_lookup_fn lookup, void *lookup_arg) {
  (void)pl, (void)o, (void)w, (void)lookup, (void)lookup_arg;
  fputs(no_broker, stderr);
  return NULL;
}

void pp_broker_result(pp_broker *b, pp_photo *p) { (void)b, (void)p; }

void pp_broker_finish(pp_broker *b, pp_photo *const *photos, size_t n, int canceled,
                      const char *why) {
  (void)b, (void)photos, (void)n, (void)canceled, (void)why;
}

void pp_broker_report(FILE *f, const pp_broker *b, cv_pipeline *pl) {
  (void)f, (void)b, (void)pl;
}

void pp_broker_json(FILE *f, void *b) { (void)f, (void)b; }

const char *pp_broker_where(const pp_broker *b) {
  (void)b;
  return "";
}

void pp_broker_free(pp_broker *b) { (void)b; }

int pp_worker_run(const pp_options *o) {
  (void)o;
  (void)run_tag;
  fputs(no_broker, stderr);
  return 2;
}

#endif /* PP_HAVE_BROKER */
