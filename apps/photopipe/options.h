/* options.h - photopipe's command line: what the user asked for, with the
 * defaults filled in.  Parsing never touches the network or the file system
 * beyond reading a --urls file later (source.c); it only validates syntax and
 * ranges, so every usage error is reported before any work starts (exit 2). */
#ifndef PP_OPTIONS_H
#define PP_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum pp_command {
  PP_CMD_RUN = 0, /* photopipe [options] SOURCE... --to ALBUM */
  PP_CMD_DEMO,    /* photopipe demo: sample photos -> resize -> local album */
  PP_CMD_CORPUS,  /* photopipe corpus DIR: write sample photos to DIR */
  PP_CMD_LS,      /* photopipe ls ALBUM: what the album's manifest holds */
  PP_CMD_WORKER   /* photopipe worker --broker URL --run NAME */
} pp_command;

typedef enum pp_format {
  PP_FORMAT_JPEG = 0, /* re-encode everything as JPEG (default) */
  PP_FORMAT_KEEP      /* keep the input's format when libvips can save it */
} pp_format;

typedef struct pp_options {
  pp_command command;

  /* ---- sources (at least one unless --watch) ---- */
  char **sources;      /* positional: directories, files or URLs (borrowed
                          from argv) */
  size_t nsources;
  const char *urls_file;   /* --urls FILE: one URL (or, with --prefix, one
                              name) per line; "-" is stdin */
  const char *prefix;      /* --prefix URL: sources are names under it */
  const char *watch_dir;   /* --watch DIR: keep feeding new files */
  int recursive;           /* folders: also their subfolders (default; off
                              with --no-recursive) */
  long settle_ms;          /* --settle: a watched file is taken once it has
                              been closed and unchanged this long */

  /* ---- destination ---- */
  const char *album; /* --to DIR | http(s)://... */

  /* ---- resize ---- */
  int width, height;   /* --size WxH, box to fit inside */
  int size_set;        /* --size was given (demo picks 800x800 if not) */
  int quality;         /* --quality 1..100 (JPEG, WebP) */
  pp_format format;    /* --format jpeg|keep */
  int strip;           /* --strip (default) / --no-strip */
  int keep_profile;    /* --keep-profile: no conversion to sRGB */
  int enlarge;         /* --enlarge: also scale small photos up */
  uint64_t max_pixels; /* --max-pixels: refuse bigger headers (bombs) */
  int vips_threads;    /* --vips-threads: libvips' own pool per operation */

  /* ---- network ---- */
  uint64_t max_bytes;     /* --max-bytes: refuse bigger downloads */
  long timeout_ms;        /* --timeout SEC: a transfer slower than
                             min_speed for this long is stalled */
  long min_speed;         /* --min-speed N: bytes per second */
  unsigned protocols;     /* --protocols LIST (protocols.h), 0 = defaults */
  long connect_timeout_ms;/* --connect-timeout SEC */
  int retries;            /* --retries N: extra attempts for transient errors */
  long backoff_ms;        /* --backoff MS: first retry delay (doubles) */
  long backoff_max_ms;    /* cap of the delay */
  int insecure;           /* --insecure: do not verify TLS certificates */
  int skip_existing;      /* --skip-existing: stat / HEAD before downloading */

  /* ---- pipeline shape ---- */
  int workers[3];  /* --workers D,R,U: download, resize, upload workers */
  int auto_workers[3]; /* per stage: the pipeline picks its workers at run
                          time (default; --workers auto), at most the
                          workers[] above */
  int capacity[3]; /* --capacity D,R,U: queue in front of each stage */

  /* ---- across machines (broker.h) ---- */
  const char *broker; /* --broker URL: run on a Redis server's workers */
  const char *run;    /* --run NAME (default "photopipe") */
  long lease_ms;      /* --lease SEC: a silent process keeps its photos
                         this long (default 30 s) */
  int broker_workers; /* worker: threads per process (-w N; auto: 2 x
                         cores, 2..16) */
  int broker_capacity; /* coordinator: photos queued or in flight,
                          run-wide (-c N; default 64) */

  /* ---- output ---- */
  int json;     /* --json: machine-readable summary on stdout */
  int quiet;    /* --quiet: only errors */
  int progress; /* -1 auto (on when stderr is a TTY), 0 off, 1 on */

  /* ---- demo / corpus ---- */
  const char *corpus_dir; /* corpus DIR */
  int count;              /* --count N photos */
  int corpus_w, corpus_h; /* --photo-size WxH of generated photos */
  uint64_t seed;          /* --seed for generated content */
  int keep;               /* demo --keep: leave the temp dir */
} pp_options;

/* Number of online CPUs, at least 1. */
int pp_cpu_count(void);

/* Fills `o` with the defaults for a machine with `cpus` cores. */
void pp_options_defaults(pp_options *o, int cpus);

/* Parses argv into `o` (which must hold the defaults).  Returns 0 to go on,
 * 2 after printing a usage error to stderr, or 3 after printing help or the
 * version (the caller exits 0).  Strings in `o` point into argv. */
int pp_options_parse(pp_options *o, int argc, char **argv);

/* Parses "800x600" or "800" (square).  Returns 0 or -1. */
int pp_parse_size(const char *s, int *w, int *h);

/* Parses "3,4,5" or "3/4/5" into three positive ints; a single "n" sets all
 * three.  Returns 0 or -1. */
int pp_parse_triple(const char *s, int out[3], int min, int max);

/* Parses a duration: "2" or "2s" (seconds, fractions allowed), "500ms";
 * 0 is allowed.  Returns 0 or -1. */
int pp_parse_duration(const char *s, long *ms);

/* Parses a count with an optional k/M/G suffix (powers of 1000 when
 * `si`, of 1024 otherwise).  Returns 0 or -1. */
int pp_parse_count(const char *s, uint64_t *out, int si);

void pp_usage(FILE *f);

#endif /* PP_OPTIONS_H */
