/* manifest.h - the record of what an album holds.
 *
 * Every album has a manifest, an SQLite database with one row per photo
 * photopipe stored there (or is storing):
 *
 *   name             the album name (unique, case-insensitively for ASCII,
 *                    like names.h)
 *   source           where it came from (unique): a local file's canonical
 *                    path, or the URL with any user:password@ removed
 *   state            'pending' (named, not yet stored) or 'stored'
 *   source_size, source_mtime_ns, source_sha256, source_validator
 *                    the source as it was read (mtime: local files only;
 *                    validator: a URL's ETag/Last-Modified, fetch.h)
 *   output_size, output_sha256    the bytes stored
 *   settings         what shaped the output (pp_settings_string)
 *   updated          when the row last changed, UTC ("2026-11-30T04:50:00Z")
 *
 * Where it lives: a local album keeps it inside itself, in
 * ALBUM/.photopipe/manifest.db (a hidden folder, so it moves with the album
 * and is never taken for a photo).  A WebDAV album's lives on this machine,
 * in $XDG_STATE_HOME/photopipe/albums/ (default ~/.local/state/...), named
 * after the album URL: its host and path made file-name safe, plus the first
 * 16 hex digits of the URL's SHA-256 (the URL without user:password@), e.g.
 * "127.0.0.1_8080_dav_album-3f2a9c0b1d4e5f60.db".  `photopipe ls ALBUM`
 * prints either.
 *
 * What it drives:
 *   - names: a source keeps the name it was given the first time; a new
 *     source wanting a name another source holds gets "stem-2.ext", ...
 *     (a later camB/IMG_0001.jpg never replaces camA/IMG_0001.jpg);
 *   - --skip-existing: a photo is skipped when the manifest has it stored
 *     from the same source with the same content and settings (and the
 *     album still has the file); a changed source is redone under its name;
 *   - resume: rows are written as photos are named and stored, so a run
 *     killed at any point leaves a manifest that a rerun can trust.
 *
 * Concurrency.  One connection per run, used by every thread under one
 * mutex (each operation is one transaction, so statements of two threads
 * never interleave inside one).  Between processes, SQLite's own locking:
 * WAL journal, write transactions started with BEGIN IMMEDIATE, and a busy
 * timeout, so two runs on one album wait for each other instead of failing;
 * the UNIQUE constraints make two runs that want one name end up with two
 * names.  synchronous=NORMAL: a row survives the process being killed; a
 * power cut may lose the last rows, which costs a redo, never a photo.
 */
#ifndef PP_MANIFEST_H
#define PP_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "options.h"

#define PP_SETTINGS_MAX 128
#define PP_SHA256_HEX 65 /* 64 hex digits and a NUL */

typedef struct pp_manifest pp_manifest;

/* What the manifest knew of a source before this run touched it. */
typedef struct pp_entry {
  int found;  /* a row existed */
  int stored; /* ... in state 'stored' */
  int64_t source_size, source_mtime_ns; /* -1 when unknown */
  char source_sha256[PP_SHA256_HEX];
  char source_validator[256];
  int64_t output_size;
  char output_sha256[PP_SHA256_HEX];
  char settings[PP_SETTINGS_MAX];
} pp_entry;

/* Where album `album`'s manifest is (or would be), into buf.  Returns 0,
 * or -1 with a reason. */
int pp_manifest_locate(const char *album, char *buf, size_t size, char *reason,
                       size_t reason_size);

/* Opens (creating when `create`, with its folder) the manifest of a local
 * folder or WebDAV URL album.  Returns NULL with a reason. */
pp_manifest *pp_manifest_open(const char *album, int create, char *reason,
                              size_t reason_size);
void pp_manifest_close(pp_manifest *m);

/* The name of `source` in the album: the one its row has, else `want`, else
 * the first "stem-N.ext" (N = 2, 3, ...) no row holds; a new row is written
 * 'pending'.  *prev receives the row as it was.  Returns a malloc'd name,
 * or NULL with a reason.  Thread-safe. */
char *pp_manifest_claim(pp_manifest *m, const char *source, const char *want,
                        pp_entry *prev, char *reason, size_t reason_size);

/* Gives the row of `source` another name: the first candidate for `want`
 * from number *k on (1: `want` itself, N: "stem-N.ext") that no row holds,
 * and sets *k to its number; the caller passes *k + 1 next time, so names
 * found taken in the album are not tried again.  For a name found taken by
 * a file photopipe did not write, and for --format keep changing the
 * extension.  Returns a malloc'd name, or NULL with a reason. */
char *pp_manifest_rename(pp_manifest *m, const char *source, const char *want,
                         unsigned *k, char *reason, size_t reason_size);

/* Records `source` as stored: its size, mtime (-1: none), hash, validator
 * ("" none), the output's size and hash, the settings.  Returns 0, or -1
 * with a reason. */
int pp_manifest_stored(pp_manifest *m, const char *source, int64_t source_size,
                       int64_t source_mtime_ns, const char *source_sha256,
                       const char *source_validator, int64_t output_size,
                       const char *output_sha256, const char *settings, char *reason,
                       size_t reason_size);

/* Updates the source's size, mtime and validator ("" none) after a skip
 * found the same content under a new mtime or validator, so the next run
 * needs no hash.  Returns 0 or -1. */
int pp_manifest_touch(pp_manifest *m, const char *source, int64_t source_size,
                      int64_t source_mtime_ns, const char *source_validator);

/* Removes the row of `source` if it is still 'pending' (its name was never
 * used), freeing the name.  Returns 0 or -1. */
int pp_manifest_forget(pp_manifest *m, const char *source);

/* `photopipe ls ALBUM`: one line per row on `out` (name, state, updated,
 * source), sorted by name.  Returns the exit code: 0, or 1 after printing a
 * reason (no manifest, unreadable). */
int pp_manifest_ls(const char *album, FILE *out);

/* The manifest's key for a source: a local file's canonical path (absolute
 * when it does not exist), or the URL without user:password@.  Malloc'd. */
char *pp_source_key(const char *src, int local);

/* What shaped the output, as stored in the manifest's `settings`. */
void pp_settings_string(const pp_options *o, char *buf, size_t size);

/* SHA-256 of len bytes, as 64 lowercase hex digits and a NUL. */
void pp_sha256_hex(const void *data, size_t len, char out[PP_SHA256_HEX]);

#endif /* PP_MANIFEST_H */
