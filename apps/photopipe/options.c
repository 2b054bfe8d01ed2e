/* options.c - command-line parsing and defaults (see options.h). */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conveyor.h"
#include "protocols.h"
#include "safetext.h"

#define PP_VERSION "0.1.0"

int pp_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (n > 1024 ? 1024 : (int)n);
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void pp_options_defaults(pp_options *o, int cpus) {
  memset(o, 0, sizeof *o);
  o->command = PP_CMD_RUN;
  o->width = 1600;
  o->height = 1600;
  o->quality = 85;
  o->format = PP_FORMAT_JPEG;
  o->strip = 1;
  o->max_pixels = 100000000; /* 100 megapixels: above any camera we know */
  o->vips_threads = 1;       /* the pipeline owns the parallelism */
  o->max_bytes = (uint64_t)256 << 20;
  o->timeout_ms = 30000;
  o->min_speed = 1024;
  o->connect_timeout_ms = 10000;
  o->retries = 3;
  o->backoff_ms = 200;
  o->backoff_max_ms = 5000;
  /* Downloads and uploads mostly wait on the network: twice the cores, so a
   * 2-core laptop still keeps 4 requests in flight, capped so a 64-core
   * server does not open 128 connections to one camera.  Resizing is CPU
   * work: one worker per core, each with a single libvips thread. */
  o->workers[0] = clampi(2 * cpus, 2, 16);
  o->workers[1] = clampi(cpus, 1, 64);
  o->workers[2] = clampi(2 * cpus, 2, 16);
  /* Queue in front of each stage.  Download: twice its workers (items are
   * just names).  Resize: one waiting photo per worker, because each holds a
   * whole multi-megabyte download and that is what bounds memory.  Upload:
   * twice its workers (resized photos are small). */
  o->capacity[0] = 2 * o->workers[0];
  o->capacity[1] = o->workers[1];
  o->capacity[2] = 2 * o->workers[2];
  o->auto_workers[0] = o->auto_workers[1] = o->auto_workers[2] = 1;
  o->progress = -1;
  o->recursive = 1;
  /* Long enough for a copy over USB or SMB to stall for a moment without
   * the file being taken half-written; short enough not to feel slow. */
  o->settle_ms = 2000;
  o->count = 24;
  o->corpus_w = 1600;
  o->corpus_h = 1200;
  o->seed = 1;
  o->run = "photopipe";
  o->lease_ms = 30000;
  /* A worker thread of a distributed run does a whole photo: it waits on
   * the network or the disk part of the time, so twice the cores keep the
   * CPUs busy, one photo in memory per thread. */
  o->broker_workers = clampi(2 * cpus, 2, 16);
  o->broker_capacity = 64;
}

int pp_parse_size(const char *s, int *w, int *h) {
  char *end;
  errno = 0;
  long a = strtol(s, &end, 10);
  if (errno || end == s || a < 1 || a > 65535)
    return -1;
  long b = a;
  if (*end == 'x' || *end == 'X') {
    const char *t = end + 1;
    b = strtol(t, &end, 10);
    if (errno || end == t || b < 1 || b > 65535)
      return -1;
  }
  if (*end)
    return -1;
  *w = (int)a;
  *h = (int)b;
  return 0;
}

static int parse_int(const char *s, int min, int max, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max)
    return -1;
  *out = (int)v;
  return 0;
}

int pp_parse_triple(const char *s, int out[3], int min, int max) {
  int v[3];
  const char *p = s;
  int n = 0;
  for (;;) {
    char *end;
    errno = 0;
    long x = strtol(p, &end, 10);
    if (errno || end == p || x < min || x > max || n == 3)
      return -1;
    v[n++] = (int)x;
    if (*end == '\0')
      break;
    if (*end != ',' && *end != '/')
      return -1;
    p = end + 1;
  }
  if (n == 1)
    v[1] = v[2] = v[0];
  else if (n != 3)
    return -1;
  memcpy(out, v, sizeof v);
  return 0;
}

int pp_parse_count(const char *s, uint64_t *out, int si) {
  char *end;
  errno = 0;
  if (*s == '-')
    return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s)
    return -1;
  uint64_t mul = 1, k = si ? 1000 : 1024;
  switch (*end) {
  case '\0': break;
  case 'k': case 'K': mul = k; end++; break;
  case 'm': case 'M': mul = k * k; end++; break;
  case 'g': case 'G': mul = k * k * k; end++; break;
  default: return -1;
  }
  if (*end || v > UINT64_MAX / mul)
    return -1;
  *out = v * mul;
  return 0;
}

/* Seconds (possibly fractional) to milliseconds. */
static int parse_seconds(const char *s, long *ms) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v > 0) || v > 86400)
    return -1;
  *ms = (long)(v * 1000 + 0.5);
  if (*ms < 1)
    *ms = 1;
  return 0;
}

int pp_parse_duration(const char *s, long *ms) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !(v >= 0))
    return -1;
  double scale = 1000;
  if (strcmp(end, "ms") == 0)
    scale = 1;
  else if (*end && strcmp(end, "s") != 0)
    return -1;
  if (v * scale > 86400000.0)
    return -1;
  *ms = (long)(v * scale + 0.5);
  return 0;
}

void pp_usage(FILE *f) {
  fputs(
      "usage: photopipe [options] SOURCE... --to ALBUM\n"
      "       photopipe [options] --urls FILE|- [--prefix URL] --to ALBUM\n"
      "       photopipe [options] --watch DIR --to ALBUM\n"
      "       photopipe demo [--count N] [--photo-size WxH] [--keep] [options]\n"
      "       photopipe corpus DIR [--count N] [--photo-size WxH] [--seed N]\n"
      "       photopipe ls ALBUM      (what the album holds: name, source, time)\n"
      "       photopipe [options] SOURCE... --to ALBUM --broker URL [--run NAME]\n"
      "       photopipe worker --broker URL [--run NAME] [-w N] [--lease SEC]\n"
      "\n"
      "Downloads photos, resizes them to fit a box and stores them in an album,\n"
      "with a pool of workers per stage connected by bounded queues.\n"
      "\n"
      "Sources: a directory (its image files, subfolders included), a local file,\n"
      "or an http://, https:// or file:// URL; --urls reads one per line; with\n"
      "--prefix URL the sources are names appended to URL.  From folders, files\n"
      "named .jpg .jpeg .png .webp .tif .tiff .gif .heic .heif .avif (any case)\n"
      "are taken; hidden files and folders are not.\n"
      "Album (--to): a local directory (atomic writes) or an http(s):// base URL\n"
      "accepting PUT (WebDAV).\n"
      "\n"
      "The album may not be, or be inside, a source folder (originals are never\n"
      "written over).  It keeps a manifest of what it holds (see 'ls'), and\n"
      "with it no file is silently replaced: a photo stored before from the same\n"
      "source keeps its name and is redone (skipped with --skip-existing when its\n"
      "content and settings are unchanged); a different photo whose name is\n"
      "taken gets a new one (IMG_0001-2.jpg), shown as 'renamed: SRC -> NAME'.\n"
      "\n"
      "Folders:\n"
      "      --no-recursive      take only the files directly in a source folder\n"
      "                          (or the watched one), not in its subfolders\n"
      "      --settle DUR        --watch takes a file once it has been closed and\n"
      "                          unchanged for DUR (default 2s; e.g. 500ms, 0)\n",
      f);
  /* Two strings: C99 promises only 4095 characters in one literal. */
  fputs(
      "Resize:\n"
      "  -s, --size WxH          box to fit inside (default 1600x1600)\n"
      "  -q, --quality N         JPEG/WebP quality 1-100 (default 85)\n"
      "      --format jpeg|keep  jpeg (default): every photo becomes a .jpg; keep:\n"
      "                          JPEG, PNG, WebP, TIFF and GIF stay in their format\n"
      "                          (an animated GIF or WebP stays animated, every\n"
      "                          frame resized), other formats become JPEG\n"
      "      --strip/--no-strip  drop metadata (EXIF, GPS, ...) (default strip)\n"
      "      --enlarge           also scale up photos smaller than the box\n"
      "      --max-pixels N      refuse images whose header claims more pixels\n"
      "                          (default 100M; k/M/G suffixes)\n"
      "      --vips-threads N    libvips threads per resize (default 1)\n"
      "      --keep-profile      keep the source's colour space and ICC profile\n"
      "                          (default: convert to sRGB, as browsers expect)\n"
      "Network:\n"
      "      --timeout SEC       a transfer that moves less than --min-speed for\n"
      "                          SEC seconds is stalled: aborted and retried,\n"
      "                          resuming where it stopped (default 30)\n"
      "      --min-speed N       bytes per second (default 1k; k/M suffixes)\n"
      "      --protocols LIST    what sources may use, e.g. https,file (http,\n"
      "                          https, file, ftp, ftps); default: http,https,\n"
      "                          file and paths for arguments, http,https for\n"
      "                          --urls lines\n"
      "      --connect-timeout SEC (default 10)\n"
      "      --retries N         extra attempts for transient failures: connection\n"
      "                          errors, timeouts, HTTP 408/429/5xx (default 3)\n"
      "      --backoff MS        first retry delay, doubled each time, with jitter\n"
      "                          (default 200, capped at 5000)\n"
      "      --max-bytes N       refuse larger downloads (default 256M)\n"
      "  -k, --insecure          do not verify TLS certificates\n"
      "      --skip-existing     skip photos the album's manifest holds from the same\n"
      "                          source, content and settings (a changed photo is\n"
      "                          redone)\n"
      "Pipeline:\n"
      "  -w, --workers D,R,U     workers for download, resize, upload; or 'auto'\n"
      "                          (default): moved at run time to the slowest\n"
      "                          stage, at most 2xcores max 16, cores, 2xcores max 16\n"
      "  -c, --capacity D,R,U    queue in front of each stage (default 2x, 1x, 2x\n"
      "                          the stage's workers)\n"
      "Album:\n"
      "  -o, --to ALBUM          where photos go: a directory (created if missing)\n"
      "                          or an http(s):// URL taking PUT; credentials from\n"
      "                          ~/.netrc or PHOTOPIPE_ALBUM_USER/_PASSWORD\n"
      "Across machines (a Redis server between a coordinator and workers):\n"
      "      --broker URL        redis://[:PASSWORD@]HOST[:PORT][/DB] or a socket\n"
      "                          path; the password may instead be in\n"
      "                          PHOTOPIPE_BROKER_PASSWORD.  Without 'worker':\n"
      "                          coordinate (list, name, report); photos are\n"
      "                          downloaded, resized and stored by workers, so\n"
      "                          sources and album must be reachable by them\n"
      "      --run NAME          the run both sides join (default photopipe)\n"
      "      --lease SEC         a process silent this long has died: its\n"
      "                          photos go to other workers (default 30)\n"
      "  -w N (worker)           threads per worker (default auto: 2 x cores,\n"
      "                          2..16)\n"
      "  -c N (coordinator)      photos queued or with a worker (default 64)\n"
      "Output:\n"
      "      --json              print the summary as JSON on stdout\n"
      "      --quiet             print only failures\n"
      "      --progress/--no-progress  live progress line (default: on a TTY)\n"
      "  -h, --help, --version\n"
      "\n"
      "Exit status: 0 every photo made it, 1 some failed (each is listed with its\n"
      "reason), none was found, or the run was interrupted (a --watch ends only\n"
      "that way), 2 usage error.  Ctrl-C (or SIGTERM, SIGHUP) once: stop taking\n"
      "new photos, finish those in flight; twice: cancel at once.\n",
      f);
}

enum {
  OPT_FORMAT = 256, OPT_STRIP, OPT_NO_STRIP, OPT_ENLARGE, OPT_MAX_PIXELS,
  OPT_VIPS_THREADS, OPT_TIMEOUT, OPT_CONNECT_TIMEOUT, OPT_RETRIES,
  OPT_BACKOFF, OPT_MAX_BYTES, OPT_SKIP_EXISTING, OPT_JSON, OPT_QUIET,
  OPT_PROGRESS, OPT_NO_PROGRESS, OPT_VERSION, OPT_URLS, OPT_PREFIX,
  OPT_WATCH, OPT_COUNT, OPT_PHOTO_SIZE, OPT_SEED, OPT_KEEP,
  OPT_DW, OPT_RW, OPT_UW, OPT_DC, OPT_RC, OPT_UC,
  OPT_RECURSIVE, OPT_NO_RECURSIVE, OPT_SETTLE,
  OPT_KEEP_PROFILE, OPT_MIN_SPEED, OPT_PROTOCOLS, OPT_BROKER, OPT_RUN, OPT_LEASE
};

static const struct option long_opts[] = {
    {"to", required_argument, 0, 'o'},
    {"size", required_argument, 0, 's'},
    {"quality", required_argument, 0, 'q'},
    {"format", required_argument, 0, OPT_FORMAT},
    {"strip", no_argument, 0, OPT_STRIP},
    {"no-strip", no_argument, 0, OPT_NO_STRIP},
    {"enlarge", no_argument, 0, OPT_ENLARGE},
    {"max-pixels", required_argument, 0, OPT_MAX_PIXELS},
    {"vips-threads", required_argument, 0, OPT_VIPS_THREADS},
    {"timeout", required_argument, 0, OPT_TIMEOUT},
    {"connect-timeout", required_argument, 0, OPT_CONNECT_TIMEOUT},
    {"retries", required_argument, 0, OPT_RETRIES},
    {"backoff", required_argument, 0, OPT_BACKOFF},
    {"max-bytes", required_argument, 0, OPT_MAX_BYTES},
    {"insecure", no_argument, 0, 'k'},
    {"skip-existing", no_argument, 0, OPT_SKIP_EXISTING},
    {"workers", required_argument, 0, 'w'},
    {"capacity", required_argument, 0, 'c'},
    {"download-workers", required_argument, 0, OPT_DW},
    {"resize-workers", required_argument, 0, OPT_RW},
    {"upload-workers", required_argument, 0, OPT_UW},
    {"download-capacity", required_argument, 0, OPT_DC},
    {"resize-capacity", required_argument, 0, OPT_RC},
    {"upload-capacity", required_argument, 0, OPT_UC},
    {"json", no_argument, 0, OPT_JSON},
    {"quiet", no_argument, 0, OPT_QUIET},
    {"progress", no_argument, 0, OPT_PROGRESS},
    {"no-progress", no_argument, 0, OPT_NO_PROGRESS},
    {"urls", required_argument, 0, OPT_URLS},
    {"prefix", required_argument, 0, OPT_PREFIX},
    {"watch", required_argument, 0, OPT_WATCH},
    {"recursive", no_argument, 0, OPT_RECURSIVE},
    {"no-recursive", no_argument, 0, OPT_NO_RECURSIVE},
    {"settle", required_argument, 0, OPT_SETTLE},
    {"count", required_argument, 0, OPT_COUNT},
    {"photo-size", required_argument, 0, OPT_PHOTO_SIZE},
    {"seed", required_argument, 0, OPT_SEED},
    {"keep", no_argument, 0, OPT_KEEP},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, OPT_VERSION},
    {"keep-profile", no_argument, 0, OPT_KEEP_PROFILE},
    {"min-speed", required_argument, 0, OPT_MIN_SPEED},
    {"protocols", required_argument, 0, OPT_PROTOCOLS},
    {"broker", required_argument, 0, OPT_BROKER},
    {"run", required_argument, 0, OPT_RUN},
    {"lease", required_argument, 0, OPT_LEASE},
    {0, 0, 0, 0}};

static int usage_error(const char *fmt, const char *arg) {
  pp_shown_buf shown;
  fputs("photopipe: ", stderr);
  fprintf(stderr, fmt, pp_shown(&shown, arg));
  fputs("\nTry 'photopipe --help'.\n", stderr);
  return 2;
}

/* A run's name as the broker takes it (conveyor/distributed.h). */
static int run_name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
      return 0;
  return 1;
}

/* The option getopt_long just refused.  A short option may sit inside a
 * cluster ("-lq": optind has not moved past it yet), so it is named from
 * optopt; a long one has no optopt of its own and is the word just read. */
static const char *option_name(char **argv, int opt) {
  static char buf[64];
  const char *w = optind > 0 ? argv[optind - 1] : "";
  if (strncmp(w, "--", 2) == 0)
    snprintf(buf, sizeof buf, "%.*s", (int)strcspn(w, "="), w);
  else if (opt > 0 && opt < 256)
    snprintf(buf, sizeof buf, "-%c", opt);
  else
    snprintf(buf, sizeof buf, "%s", w);
  return buf;
}

int pp_options_parse(pp_options *o, int argc, char **argv) {
  if (argc <= 1) {
    /* Nothing asked: how to ask is the useful answer. */
    pp_usage(stderr);
    return 2;
  }
  int first = 1;
  if (argc > 1 && strcmp(argv[1], "demo") == 0) {
    o->command = PP_CMD_DEMO;
    first = 2;
  } else if (argc > 1 && strcmp(argv[1], "corpus") == 0) {
    o->command = PP_CMD_CORPUS;
    first = 2;
  } else if (argc > 1 && strcmp(argv[1], "ls") == 0) {
    o->command = PP_CMD_LS;
    first = 2;
  } else if (argc > 1 && strcmp(argv[1], "worker") == 0) {
    o->command = PP_CMD_WORKER;
    first = 2;
  }
  const char *wraw = NULL, *craw = NULL; /* -w and -c as given */
  int wset[3] = {0, 0, 0}, cset[3] = {0, 0, 0};
  /* getopt_long sees the arguments after the subcommand, with the
   * subcommand (or the program) in the program's place; optind = 0 resets
   * all of getopt's state, including a half-read "-lq" from an earlier
   * call. */
  argv += first - 1;
  argc -= first - 1;
  optind = 0;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:s:q:kw:c:h", long_opts, NULL)) != -1) {
    uint64_t u;
    switch (c) {
    case 'o': o->album = optarg; break;
    case 's':
      if (pp_parse_size(optarg, &o->width, &o->height))
        return usage_error("bad --size '%s' (want WxH, e.g. 800x600)", optarg);
      o->size_set = 1;
      break;
    case 'q':
      if (parse_int(optarg, 1, 100, &o->quality))
        return usage_error("bad --quality '%s' (1-100)", optarg);
      break;
    case OPT_FORMAT:
      if (strcmp(optarg, "jpeg") == 0 || strcmp(optarg, "jpg") == 0)
        o->format = PP_FORMAT_JPEG;
      else if (strcmp(optarg, "keep") == 0)
        o->format = PP_FORMAT_KEEP;
      else
        return usage_error("bad --format '%s' (jpeg or keep)", optarg);
      break;
    case OPT_STRIP: o->strip = 1; break;
    case OPT_NO_STRIP: o->strip = 0; break;
    case OPT_ENLARGE: o->enlarge = 1; break;
    case OPT_MAX_PIXELS:
      if (pp_parse_count(optarg, &o->max_pixels, 1) || o->max_pixels == 0)
        return usage_error("bad --max-pixels '%s'", optarg);
      break;
    case OPT_VIPS_THREADS:
      if (parse_int(optarg, 1, 256, &o->vips_threads))
        return usage_error("bad --vips-threads '%s' (1-256)", optarg);
      break;
    case OPT_TIMEOUT:
      if (parse_seconds(optarg, &o->timeout_ms))
        return usage_error("bad --timeout '%s' (seconds > 0)", optarg);
      break;
    case OPT_CONNECT_TIMEOUT:
      if (parse_seconds(optarg, &o->connect_timeout_ms))
        return usage_error("bad --connect-timeout '%s' (seconds > 0)", optarg);
      break;
    case OPT_RETRIES:
      if (parse_int(optarg, 0, 100, &o->retries))
        return usage_error("bad --retries '%s' (0-100)", optarg);
      break;
    case OPT_BACKOFF: {
      int ms;
      if (parse_int(optarg, 0, 600000, &ms))
        return usage_error("bad --backoff '%s' (milliseconds)", optarg);
      o->backoff_ms = ms;
      if (o->backoff_max_ms < ms)
        o->backoff_max_ms = ms;
      break;
    }
    case OPT_MAX_BYTES:
      if (pp_parse_count(optarg, &o->max_bytes, 0) || o->max_bytes == 0)
        return usage_error("bad --max-bytes '%s'", optarg);
      break;
    case 'k': o->insecure = 1; break;
    case OPT_SKIP_EXISTING: o->skip_existing = 1; break;
    case 'w':
      wraw = optarg;
      if (strcmp(optarg, "auto") == 0) {
        o->auto_workers[0] = o->auto_workers[1] = o->auto_workers[2] = 1;
        break;
      }
      o->auto_workers[0] = o->auto_workers[1] = o->auto_workers[2] = 0;
      if (pp_parse_triple(optarg, o->workers, 1, 256))
        return usage_error("bad --workers '%s' (D,R,U, e.g. 3,4,5)", optarg);
      wset[0] = wset[1] = wset[2] = 1;
      break;
    case 'c':
      craw = optarg;
      if (pp_parse_triple(optarg, o->capacity, 1, 100000))
        return usage_error("bad --capacity '%s' (D,R,U, e.g. 8,4,8)", optarg);
      cset[0] = cset[1] = cset[2] = 1;
      break;
    case OPT_DW: case OPT_RW: case OPT_UW: {
      int i = c - OPT_DW;
      if (parse_int(optarg, 1, 256, &o->workers[i]))
        return usage_error("bad worker count '%s' (1-256)", optarg);
      o->auto_workers[i] = 0;
      wset[i] = 1;
      break;
    }
    case OPT_DC: case OPT_RC: case OPT_UC: {
      int i = c - OPT_DC;
      if (parse_int(optarg, 1, 100000, &o->capacity[i]))
        return usage_error("bad queue capacity '%s'", optarg);
      cset[i] = 1;
      break;
    }
    case OPT_JSON: o->json = 1; break;
    case OPT_QUIET: o->quiet = 1; break;
    case OPT_PROGRESS: o->progress = 1; break;
    case OPT_NO_PROGRESS: o->progress = 0; break;
    case OPT_URLS: o->urls_file = optarg; break;
    case OPT_PREFIX: o->prefix = optarg; break;
    case OPT_WATCH: o->watch_dir = optarg; break;
    case OPT_RECURSIVE: o->recursive = 1; break;
    case OPT_NO_RECURSIVE: o->recursive = 0; break;
    case OPT_SETTLE:
      if (pp_parse_duration(optarg, &o->settle_ms))
        return usage_error("bad --settle '%s' (e.g. 2s, 500ms, 0)", optarg);
      break;
    case OPT_COUNT:
      if (parse_int(optarg, 1, 100000, &o->count))
        return usage_error("bad --count '%s'", optarg);
      break;
    case OPT_PHOTO_SIZE:
      if (pp_parse_size(optarg, &o->corpus_w, &o->corpus_h) ||
          o->corpus_w < 64 || o->corpus_h < 64)
        return usage_error("bad --photo-size '%s' (WxH, at least 64x64)", optarg);
      break;
    case OPT_SEED:
      if (pp_parse_count(optarg, &u, 1))
        return usage_error("bad --seed '%s'", optarg);
      o->seed = u;
      break;
    case OPT_KEEP: o->keep = 1; break;
    case OPT_KEEP_PROFILE: o->keep_profile = 1; break;
    case OPT_MIN_SPEED:
      if (pp_parse_count(optarg, &u, 0) || u == 0 || u > LONG_MAX)
        return usage_error("bad --min-speed '%s' (bytes per second)", optarg);
      o->min_speed = (long)u;
      break;
    case OPT_PROTOCOLS:
      if (pp_protocols_parse(optarg, &o->protocols))
        return usage_error("bad --protocols '%s' (a list of http, https, file, ftp, ftps)",
                           optarg);
      break;
    case OPT_BROKER: o->broker = optarg; break;
    case OPT_RUN: o->run = optarg; break;
    case OPT_LEASE:
      if (parse_seconds(optarg, &o->lease_ms) || o->lease_ms < 100)
        return usage_error("bad --lease '%s' (seconds, at least 0.1)", optarg);
      break;
    case 'h': pp_usage(stdout); return 3;
    case OPT_VERSION:
      printf("photopipe %s (conveyor %s)\n", PP_VERSION, cv_version_string());
      return 3;
    case ':':
      return usage_error("option '%s' needs a value", option_name(argv, optopt));
    default:
      return usage_error("unknown option '%s'", option_name(argv, optopt));
    }
  }
  /* A capacity follows its workers unless set explicitly. */
  for (int i = 0; i < 3; i++)
    if (wset[i] && !cset[i])
      o->capacity[i] = (i == 1 ? 1 : 2) * o->workers[i];
  o->sources = argv + optind;
  o->nsources = (size_t)(argc - optind);

  switch (o->command) {
  case PP_CMD_CORPUS:
    if (o->nsources != 1)
      return usage_error("%s", "corpus needs exactly one DIR");
    o->corpus_dir = o->sources[0];
    o->nsources = 0;
    return 0;
  case PP_CMD_DEMO:
    if (o->nsources)
      return usage_error("demo takes no sources ('%s')", o->sources[0]);
    return 0;
  case PP_CMD_LS:
    if (o->nsources == 1 && !o->album)
      o->album = o->sources[0];
    else if (o->nsources > 0 || !o->album)
      return usage_error("%s", "ls needs exactly one ALBUM");
    o->nsources = 0;
    return 0;
  case PP_CMD_WORKER:
    if (!run_name_ok(o->run))
      return usage_error("bad --run '%s' (letters, digits, '_', '-', '.'; at most 64)", o->run);
    if (o->nsources)
      return usage_error("worker takes no sources ('%s'): the coordinator lists them",
                         o->sources[0]);
    if (!o->broker)
      return usage_error("%s", "worker needs --broker URL");
    if (o->album)
      return usage_error("%s", "worker takes no --to: the album is the run's, from the "
                               "coordinator");
    if (craw)
      return usage_error("%s", "-c is the coordinator's with --broker");
    if (wraw && strcmp(wraw, "auto") != 0 && parse_int(wraw, 1, 256, &o->broker_workers))
      return usage_error("bad -w '%s' for a worker (threads: 1-256, or auto)", wraw);
    return 0;
  case PP_CMD_RUN:
    break;
  }
  if (o->broker) {
    if (!run_name_ok(o->run))
      return usage_error("bad --run '%s' (letters, digits, '_', '-', '.'; at most 64)", o->run);
    if (o->watch_dir)
      return usage_error("%s", "--watch does not go with --broker");
    if (wraw && strcmp(wraw, "auto") != 0)
      return usage_error("%s", "with --broker, workers are the worker processes' "
                               "(photopipe worker -w N)");
    if (craw && parse_int(craw, 1, 100000, &o->broker_capacity))
      return usage_error("bad -c '%s' with --broker (photos queued or in flight)", craw);
    if (o->album && (strncasecmp(o->album, "http://", 7) == 0 ||
                     strncasecmp(o->album, "https://", 8) == 0)) {
      const char *auth = o->album + strcspn(o->album, ":") + 3;
      size_t alen = strcspn(auth, "/?#");
      const char *at = memchr(auth, '@', alen);
      if (at && memchr(auth, ':', (size_t)(at - auth)))
        return usage_error("%s", "with --broker, give the album's password to every worker "
                                 "in PHOTOPIPE_ALBUM_PASSWORD, not in the URL (it would be "
                                 "stored on the broker)");
    }
  }
  if (!o->album)
    return usage_error("%s", "no album: say where to store photos with --to");
  if (strstr(o->album, "://") && strncasecmp(o->album, "http://", 7) != 0 &&
      strncasecmp(o->album, "https://", 8) != 0)
    return usage_error("album '%s': only a directory or an http(s):// URL", o->album);
  if (!o->nsources && !o->urls_file && !o->watch_dir)
    return usage_error("%s", "no photos: give SOURCE..., --urls FILE or --watch DIR");
  if (o->prefix && !o->nsources && !o->urls_file)
    return usage_error("%s", "--prefix needs names (arguments or --urls)");
  if (o->json && o->quiet)
    return usage_error("%s", "--json and --quiet do not go together");
  return 0;
}
