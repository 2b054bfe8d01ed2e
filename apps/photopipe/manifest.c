/* manifest.c - the album's SQLite manifest (see manifest.h). */
#include "manifest.h"

#include <errno.h>
#include <glib.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "names.h"
#include "safetext.h"
#include "upload.h"

/* How long a run waits for another run holding the album's write lock.
 * Transactions are a few statements long, so this is only reached when the
 * other run is stuck (say, its file system hangs). */
#define BUSY_TIMEOUT_MS 60000

/* The most "-N" names tried for one want; far beyond any real clash. */
#define MAX_SUFFIX 100000

struct pp_manifest {
  pthread_mutex_t lock; /* one operation (one transaction) at a time */
  sqlite3 *db;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS photos ("
    " name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " source TEXT NOT NULL UNIQUE,"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'stored')),"
    " source_size INTEGER, source_mtime_ns INTEGER, source_sha256 TEXT,"
    " source_validator TEXT,"
    " output_size INTEGER, output_sha256 TEXT,"
    " settings TEXT,"
    " updated TEXT NOT NULL);"
    "PRAGMA user_version = 1;";

#define NOW "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"

/* ---- hashing and keys ---- */

void pp_sha256_hex(const void *data, size_t len, char out[PP_SHA256_HEX]) {
  GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
  /* g_checksum_update takes a gssize: feed huge buffers in pieces. */
  const unsigned char *p = data;
  while (len > 0) {
    size_t n = len > (1u << 30) ? (1u << 30) : len;
    g_checksum_update(c, p, (gssize)n);
    p += n;
    len -= n;
  }
  snprintf(out, PP_SHA256_HEX, "%s", g_checksum_get_string(c));
  g_checksum_free(c);
}

/* `url` without a "user:password@" part (malloc'd). */
static char *strip_userinfo(const char *url) {
  char *s = strdup(url);
  if (!s)
    return NULL;
  char *auth = strstr(s, "://");
  if (!auth)
    return s;
  auth += 3;
  size_t host_len = strcspn(auth, "/?#");
  char *at = memchr(auth, '@', host_len);
  if (at) {
    /* The last '@' of the authority ends the user info. */
    char *last = at;
    while ((at = memchr(last + 1, '@', host_len - (size_t)(last + 1 - auth))) != NULL)
      last = at;
    memmove(auth, last + 1, strlen(last + 1) + 1);
  }
  return s;
}

char *pp_source_key(const char *src, int local) {
  if (!local)
    return strip_userinfo(src);
  char real[PATH_MAX];
  if (realpath(src, real))
    return strdup(real);
  if (src[0] == '/')
    return strdup(src);
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd))
    return strdup(src);
  size_t n = strlen(cwd) + strlen(src) + 2;
  char *k = malloc(n);
  if (k)
    snprintf(k, n, "%s/%s", cwd, src);
  return k;
}

void pp_settings_string(const pp_options *o, char *buf, size_t size) {
  snprintf(buf, size, "fit=%dx%d quality=%d format=%s strip=%d enlarge=%d profile=%s",
           o->width, o->height, o->quality, o->format == PP_FORMAT_JPEG ? "jpeg" : "keep",
           o->strip, o->enlarge, o->keep_profile ? "keep" : "srgb");
}

static int is_remote(const char *album) {
  return strncasecmp(album, "http://", 7) == 0 || strncasecmp(album, "https://", 8) == 0;
}

int pp_manifest_locate(const char *album, char *buf, size_t size, char *reason,
                       size_t rsz) {
  if (!is_remote(album)) {
    size_t l = strlen(album);
    while (l > 1 && album[l - 1] == '/')
      l--;
    if (snprintf(buf, size, "%.*s/.photopipe/manifest.db", (int)l, album) >= (int)size) {
      snprintf(reason, rsz, "album path too long");
      return -1;
    }
    return 0;
  }
  char *url = strip_userinfo(album);
  if (!url) {
    snprintf(reason, rsz, "out of memory");
    return -1;
  }
  size_t ul = strlen(url);
  while (ul > 0 && url[ul - 1] == '/')
    url[--ul] = '\0';
  char hash[PP_SHA256_HEX];
  pp_sha256_hex(url, ul, hash);
  /* Host and path, file-name safe and bounded; the hash tells apart URLs
   * that differ only in what was dropped or cut. */
  char readable[81];
  size_t n = 0;
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  for (; *p && *p != '?' && *p != '#' && n + 1 < sizeof readable; p++) {
    unsigned char c = (unsigned char)*p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '-';
    if (ok || (n > 0 && readable[n - 1] != '_'))
      readable[n++] = ok ? (char)c : '_';
  }
  while (n > 0 && readable[n - 1] == '_')
    n--;
  readable[n] = '\0';
  free(url);
  const char *state = getenv("XDG_STATE_HOME");
  const char *home = getenv("HOME");
  int w;
  if (state && state[0] == '/')
    w = snprintf(buf, size, "%s/photopipe/albums/%s-%.16s.db", state, readable, hash);
  else if (home && home[0] == '/')
    w = snprintf(buf, size, "%s/.local/state/photopipe/albums/%s-%.16s.db", home, readable,
                 hash);
  else {
    snprintf(reason, rsz, "neither XDG_STATE_HOME nor HOME is set: nowhere to keep the "
                          "album's manifest");
    return -1;
  }
  if (w >= (int)size) {
    snprintf(reason, rsz, "manifest path too long");
    return -1;
  }
  return 0;
}

/* ---- open / close ---- */

static int exec(sqlite3 *db, const char *sql) {
  return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

pp_manifest *pp_manifest_open(const char *album, int create, char *reason, size_t rsz) {
  char path[PATH_MAX + 64];
  if (pp_manifest_locate(album, path, sizeof path, reason, rsz) != 0)
    return NULL;
  if (create) {
    char dir[sizeof path];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    if (pp_mkdir_p(dir) != 0) {
      snprintf(reason, rsz, "cannot create the album's manifest folder '%s': %s", dir,
               strerror(errno));
      return NULL;
    }
  }
  pp_manifest *m = calloc(1, sizeof *m);
  if (!m) {
    snprintf(reason, rsz, "out of memory");
    return NULL;
  }
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path, &m->db, flags, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(m->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(m->db, 1);
    rc = exec(m->db, "PRAGMA journal_mode = WAL");
  }
  if (rc == SQLITE_OK)
    rc = exec(m->db, "PRAGMA synchronous = NORMAL");
  if (rc == SQLITE_OK && create) {
    rc = exec(m->db, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) {
      rc = exec(m->db, schema);
      rc = rc == SQLITE_OK ? exec(m->db, "COMMIT") : (exec(m->db, "ROLLBACK"), rc);
    }
  }
  if (rc != SQLITE_OK) {
    snprintf(reason, rsz, "album manifest '%s': %s", path,
             m->db ? sqlite3_errmsg(m->db) : sqlite3_errstr(rc));
    sqlite3_close(m->db);
    free(m);
    return NULL;
  }
  pthread_mutex_init(&m->lock, NULL);
  return m;
}

void pp_manifest_close(pp_manifest *m) {
  if (!m)
    return;
  sqlite3_close(m->db);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

/* ---- statements ---- */

static int fail(pp_manifest *m, char *reason, size_t rsz, const char *what) {
  snprintf(reason, rsz, "album manifest: %s: %s", what, sqlite3_errmsg(m->db));
  return -1;
}

static sqlite3_stmt *prep(pp_manifest *m, const char *sql) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
    return NULL;
  return st;
}

static void col_text(sqlite3_stmt *st, int i, char *out, size_t size) {
  const unsigned char *t = sqlite3_column_text(st, i);
  snprintf(out, size, "%s", t ? (const char *)t : "");
}

static int64_t col_int(sqlite3_stmt *st, int i) {
  return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

/* The row of `source` into *e (and its name, malloc'd, into *name when
 * asked).  Returns 1 found, 0 not, -1 error. */
static int get_row(pp_manifest *m, const char *source, pp_entry *e, char **name) {
  memset(e, 0, sizeof *e);
  e->source_size = e->source_mtime_ns = e->output_size = -1;
  sqlite3_stmt *st = prep(m,
                          "SELECT name, state, source_size, source_mtime_ns, source_sha256,"
                          " output_size, output_sha256, settings, source_validator"
                          " FROM photos WHERE source = ?");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  int found = 0;
  if (rc == SQLITE_ROW) {
    found = 1;
    e->found = 1;
    e->stored = strcmp((const char *)sqlite3_column_text(st, 1), "stored") == 0;
    e->source_size = col_int(st, 2);
    e->source_mtime_ns = col_int(st, 3);
    col_text(st, 4, e->source_sha256, sizeof e->source_sha256);
    e->output_size = col_int(st, 5);
    col_text(st, 6, e->output_sha256, sizeof e->output_sha256);
    col_text(st, 7, e->settings, sizeof e->settings);
    col_text(st, 8, e->source_validator, sizeof e->source_validator);
    if (name && !(*name = strdup((const char *)sqlite3_column_text(st, 0))))
      found = -1;
  } else if (rc != SQLITE_DONE) {
    found = -1;
  }
  sqlite3_finalize(st);
  return found;
}

/* Length of the extension of `s` (as names.c counts it), 0 if none. */
static size_t ext_len(const char *s) {
  size_t len = strlen(s);
  for (size_t i = len; i > 0 && len - i < 10; i--)
    if (s[i - 1] == '.')
      return i - 1 > 0 ? len - (i - 1) : 0;
  return 0;
}

/* Candidate k for `want`: want itself for k = 1, else "stem-k.ext", cut to
 * PP_NAME_MAX bytes at a character boundary. */
static void candidate(const char *want, unsigned k, char *out, size_t size) {
  if (k == 1) {
    snprintf(out, size, "%s", want);
    return;
  }
  size_t len = strlen(want), el = ext_len(want), stem = len - el;
  char suffix[16];
  int sl = snprintf(suffix, sizeof suffix, "-%u", k);
  if (stem + (size_t)sl + el > PP_NAME_MAX) {
    stem = PP_NAME_MAX - (size_t)sl - el;
    while (stem > 0 && ((unsigned char)want[stem] & 0xC0) == 0x80)
      stem--;
  }
  snprintf(out, size, "%.*s%s%s", (int)stem, want, suffix, want + len - el);
}

/* 1 when some row holds `name` (case-insensitively), 0 not, -1 error. */
static int name_held(pp_manifest *m, const char *name) {
  sqlite3_stmt *st = prep(m, "SELECT 1 FROM photos WHERE name = ?");
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The first free candidate for `want` from number *k on, malloc'd (*k
 * set to its number), or NULL on error. */
static char *free_name(pp_manifest *m, const char *want, unsigned *k) {
  char cand[PP_NAME_MAX + 32];
  for (unsigned i = *k ? *k : 1; i <= MAX_SUFFIX; i++) {
    candidate(want, i, cand, sizeof cand);
    int held = name_held(m, cand);
    if (held < 0)
      return NULL;
    if (!held) {
      *k = i;
      return strdup(cand);
    }
  }
  return NULL;
}

static int step_done(pp_manifest *m, const char *sql, const char *a, const char *b) {
  sqlite3_stmt *st = prep(m, sql);
  if (!st)
    return -1;
  sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
  if (b)
    sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

char *pp_manifest_claim(pp_manifest *m, const char *source, const char *want, pp_entry *prev,
                        char *reason, size_t rsz) {
  char *name = NULL;
  pthread_mutex_lock(&m->lock);
  if (exec(m->db, "BEGIN IMMEDIATE") != SQLITE_OK) {
    fail(m, reason, rsz, "cannot lock");
    goto out;
  }
  int found = get_row(m, source, prev, &name);
  if (found < 0) {
    fail(m, reason, rsz, "cannot read");
  } else if (found == 0) {
    unsigned k = 1;
    name = free_name(m, want, &k);
    if (!name)
      fail(m, reason, rsz, "cannot find a free name");
    else if (step_done(m,
                       "INSERT INTO photos (name, source, state, updated)"
                       " VALUES (?, ?, 'pending', " NOW ")",
                       name, source) != 0) {
      fail(m, reason, rsz, "cannot record");
      free(name);
      name = NULL;
    }
  }
  if (name && exec(m->db, "COMMIT") != SQLITE_OK) {
    fail(m, reason, rsz, "cannot commit");
    free(name);
    name = NULL;
  }
  if (!name)
    exec(m->db, "ROLLBACK");
out:
  pthread_mutex_unlock(&m->lock);
  return name;
}

char *pp_manifest_rename(pp_manifest *m, const char *source, const char *want, unsigned *k,
                         char *reason, size_t rsz) {
  char *name = NULL;
  pthread_mutex_lock(&m->lock);
  if (exec(m->db, "BEGIN IMMEDIATE") != SQLITE_OK) {
    fail(m, reason, rsz, "cannot lock");
    goto out;
  }
  name = free_name(m, want, k);
  if (!name)
    fail(m, reason, rsz, "cannot find a free name");
  else if (step_done(m,
                     "UPDATE photos SET name = ?, state = 'pending', updated = " NOW
                     " WHERE source = ?",
                     name, source) != 0 ||
           sqlite3_changes(m->db) != 1 || exec(m->db, "COMMIT") != SQLITE_OK) {
    fail(m, reason, rsz, "cannot rename");
    free(name);
    name = NULL;
  }
  if (!name)
    exec(m->db, "ROLLBACK");
out:
  pthread_mutex_unlock(&m->lock);
  return name;
}

static void bind_size(sqlite3_stmt *st, int i, int64_t v) {
  if (v < 0)
    sqlite3_bind_null(st, i);
  else
    sqlite3_bind_int64(st, i, v);
}

int pp_manifest_stored(pp_manifest *m, const char *source, int64_t source_size,
                       int64_t source_mtime_ns, const char *source_sha256,
                       const char *source_validator, int64_t output_size,
                       const char *output_sha256, const char *settings, char *reason,
                       size_t rsz) {
  int rc = -1;
  pthread_mutex_lock(&m->lock);
  sqlite3_stmt *st = prep(m, "UPDATE photos SET state = 'stored', source_size = ?,"
                             " source_mtime_ns = ?, source_sha256 = ?, output_size = ?,"
                             " output_sha256 = ?, settings = ?, source_validator = ?,"
                             " updated = " NOW " WHERE source = ?");
  if (st) {
    bind_size(st, 1, source_size);
    bind_size(st, 2, source_mtime_ns);
    sqlite3_bind_text(st, 3, source_sha256, -1, SQLITE_STATIC);
    bind_size(st, 4, output_size);
    sqlite3_bind_text(st, 5, output_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, settings, -1, SQLITE_STATIC);
    if (source_validator && source_validator[0])
      sqlite3_bind_text(st, 7, source_validator, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(st, 7);
    sqlite3_bind_text(st, 8, source, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(m->db) == 1)
      rc = 0;
    sqlite3_finalize(st);
  }
  if (rc != 0)
    fail(m, reason, rsz, "cannot record the photo");
  pthread_mutex_unlock(&m->lock);
  return rc;
}

int pp_manifest_touch(pp_manifest *m, const char *source, int64_t source_size,
                      int64_t source_mtime_ns, const char *source_validator) {
  int rc = -1;
  pthread_mutex_lock(&m->lock);
  sqlite3_stmt *st = prep(m, "UPDATE photos SET source_size = ?, source_mtime_ns = ?,"
                             " source_validator = ? WHERE source = ?");
  if (st) {
    bind_size(st, 1, source_size);
    bind_size(st, 2, source_mtime_ns);
    if (source_validator && source_validator[0])
      sqlite3_bind_text(st, 3, source_validator, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(st, 3);
    sqlite3_bind_text(st, 4, source, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
  }
  pthread_mutex_unlock(&m->lock);
  return rc;
}

int pp_manifest_forget(pp_manifest *m, const char *source) {
  pthread_mutex_lock(&m->lock);
  int rc = step_done(m, "DELETE FROM photos WHERE source = ? AND state = 'pending'", source,
                     NULL);
  pthread_mutex_unlock(&m->lock);
  return rc;
}

/* ---- ls ---- */

int pp_manifest_ls(const char *album, FILE *out) {
  /* Names and sources are other people's text: shown escaped (safetext.h),
   * so a tab or a line break in one cannot fake a column or a row. */
  char reason[PATH_MAX + 128], path[PATH_MAX + 64];
  pp_shown_buf a, b, c, d, e;
  if (pp_manifest_locate(album, path, sizeof path, reason, sizeof reason) != 0) {
    fprintf(stderr, "photopipe: %s\n", pp_shown(&a, reason));
    return 1;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "photopipe: album '%s' has no manifest (%s: %s): photopipe has stored "
                    "nothing there\n", pp_shown(&a, album), pp_shown(&b, path), strerror(errno));
    return 1;
  }
  pp_manifest *m = pp_manifest_open(album, 0, reason, sizeof reason);
  if (!m) {
    fprintf(stderr, "photopipe: %s\n", pp_shown(&a, reason));
    return 1;
  }
  sqlite3_stmt *q = prep(m, "SELECT name, state, updated, source, settings FROM photos"
                            " ORDER BY name COLLATE NOCASE");
  int rc = 1;
  if (q) {
    int s;
    while ((s = sqlite3_step(q)) == SQLITE_ROW)
      fprintf(out, "%s\t%s\t%s\t%s\t%s\n", pp_shown(&a, (const char *)sqlite3_column_text(q, 0)),
              pp_shown(&b, (const char *)sqlite3_column_text(q, 1)),
              pp_shown(&c, (const char *)sqlite3_column_text(q, 2)),
              pp_shown(&d, (const char *)sqlite3_column_text(q, 3)),
              sqlite3_column_text(q, 4) ? pp_shown(&e, (const char *)sqlite3_column_text(q, 4))
                                        : "-");
    rc = s == SQLITE_DONE ? 0 : 1;
    sqlite3_finalize(q);
  }
  if (rc != 0)
    fprintf(stderr, "photopipe: album manifest '%s': %s\n", pp_shown(&a, path),
            sqlite3_errmsg(m->db));
  pp_manifest_close(m);
  return rc;
}
