/* upload.h - the album: a local directory or a WebDAV base URL.
 *
 * Local albums are written atomically: the bytes go to a temporary file in
 * the album directory itself (".NAME.ppPID-SEQ.tmp", so the rename never
 * crosses a file system), which is fsync'ed and then renamed over NAME.  A
 * reader of the album sees the old photo or the new one, never half of one.
 * On any failure the temporary file is removed.  Temporary files being
 * written are registered, so pp_album_emergency_cleanup() can remove them
 * from a signal handler when the user insists on quitting at once.  The
 * directory itself is fsync'ed once when the album is closed, making the
 * renames durable.
 *
 * Remote albums get one PUT per photo to BASE/NAME (NAME percent-encoded);
 * the server is expected to store it atomically (nginx's dav module writes a
 * temporary file and renames it).  Retries follow fetch.h.  A query string
 * or fragment in the album URL ("https://h/dav/?token=abc") stays at the
 * end: BASE/NAME?token=abc.  The album's credentials may come from the
 * environment, PHOTOPIPE_ALBUM_USER and PHOTOPIPE_ALBUM_PASSWORD, so they
 * appear neither on the command line (visible in ps) nor in shell history;
 * they are sent to the album's host only.
 *
 * A local write that fails for lack of resources (out of file descriptors or
 * memory: EMFILE, ENFILE, ENOMEM) is retried with the network's back-off.
 */
#ifndef PP_UPLOAD_H
#define PP_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "fetch.h"

typedef struct pp_album pp_album;

/* Opens `spec` (a directory, created if missing, or an http(s):// URL).
 * Returns NULL with a reason when the directory cannot be used. */
pp_album *pp_album_open(const char *spec, const pp_net *net, char *reason,
                        size_t reason_size);

/* Fsyncs a local album's directory and frees everything.  Returns 0, or -1
 * when the final fsync failed. */
int pp_album_close(pp_album *a);

int pp_album_is_remote(const pp_album *a);

/* Sets *exists.  Returns 0, or -1 with a reason. */
int pp_album_exists(pp_album *a, const char *name, int *exists, char *reason,
                    size_t reason_size);

/* Stores len bytes as NAME, replacing what is there unless `no_replace`.
 * With `no_replace` a NAME that exists is left alone and 1 is returned
 * (locally atomic: RENAME_NOREPLACE; remotely a HEAD before the PUT).
 * Returns 0, 1 (taken), or -1 with a reason (nothing is left behind then).
 * *attempts receives network attempts (1 for local). */
int pp_album_store(pp_album *a, const char *name, const void *data, size_t len,
                   int no_replace, int *attempts, char *reason, size_t reason_size);

/* Reads the album's NAME (a local file, or a GET) into a malloc'd buffer,
 * at most max_bytes.  Returns 0, or -1 with a reason. */
int pp_album_read(pp_album *a, const char *name, uint64_t max_bytes, unsigned char **data,
                  size_t *len, char *reason, size_t reason_size);

/* Puts `tag` (at most 23 bytes) between ".pp" and the PID in the names of
 * the temporary files this process writes from now on (broker.h: a worker
 * of a distributed run).  Once, before any store. */
void pp_album_temp_tag(const char *tag);

/* Removes every temporary file being written right now.  Async-signal-safe;
 * for the last-resort exit path only. */
void pp_album_emergency_cleanup(void);

/* mkdir -p: creates `path` and its missing parents (mode 0755).  Returns 0,
 * or -1 with errno set. */
int pp_mkdir_p(const char *path);

#endif /* PP_UPLOAD_H */
