/* fetch.h - photopipe's HTTP(S)/file client on libcurl: GET a photo, PUT one
 * into a WebDAV album, HEAD to see whether one is already there.
 *
 * Each thread that calls in gets its own curl easy handle, created on first
 * use and kept for the thread's life (freed by a thread-exit destructor), so
 * a download or upload worker reuses its connections: keep-alive and the TLS
 * session survive from one photo to the next.  Handles are never shared
 * between threads.
 *
 * Every request has a connect timeout and a stall timeout: a transfer that
 * moves fewer than `min_speed` bytes per second for `timeout_ms` is aborted
 * (libcurl's low-speed limit), so a big photo on a slow but steady link
 * finishes, and a dead one does not hold a worker forever.  A download cut
 * off after some bytes is resumed on retry with a range request, when the
 * server named the version it sent (ETag or Last-Modified, sent back as
 * If-Range): a 206 must start exactly where we stopped, and a 200 (the
 * photo changed, or ranges are not supported) starts over.  A transient
 * failure is retried with exponential back-off and "equal jitter" (half the
 * delay fixed, half random, so workers that failed together do not retry in
 * lockstep); a permanent one is reported at once:
 *   transient: DNS, connect, send/receive errors, empty reply, timeouts,
 *              truncated transfers, TLS handshake errors, HTTP 408, 425, 429
 *              and 5xx except 501, 505 and 507;
 *   permanent: any other HTTP 4xx (404, 403, ...), 501, 505, 507, certificate
 *              verification failures, unsupported protocols, missing files,
 *              bodies over the size limit.
 * A 429 or 503 Retry-After is honoured up to the back-off cap.  Redirects are
 * followed (at most 5) to http/https only, never to file://.
 *
 * Credentials.  From the URL ("user:password@", never shown: redact.h), from
 * ~/.netrc (libcurl's lookup, per host), or, for the album only, from
 * `user`/`password` (upload.c takes them from the environment).  libcurl
 * sends them to the host they were given for and drops them on a redirect
 * to another host (CURLOPT_UNRESTRICTED_AUTH stays off).
 *
 * A file:// URL naming something other than a regular file (a FIFO that
 * would block the reader forever, a device) is refused before it is opened.
 */
#ifndef PP_FETCH_H
#define PP_FETCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct pp_net {
  long timeout_ms;         /* stall: below min_speed for this long */
  long min_speed;          /* bytes per second (0: 1) */
  unsigned protocols;      /* PP_PROTO_* allowed (0: http, https, file) */
  const char *user;        /* credentials for every request (NULL: none) */
  const char *password;
  long connect_timeout_ms; /* TCP + TLS handshake */
  int retries;             /* extra attempts for transient failures */
  long backoff_ms;         /* first retry delay; doubles each retry */
  long backoff_max_ms;     /* cap of one delay */
  int insecure;            /* 1: skip TLS verification */
  uint64_t max_bytes;      /* refuse downloads larger than this */
} pp_net;

/* Once per process, before any thread calls in; and once at the end, after
 * every thread that used the client has exited. */
int pp_net_global_init(void);
void pp_net_global_cleanup(void);

/* Aborts transfers in progress and back-off sleeps, in every thread, and
 * makes later requests fail at once with "canceled".  Async-signal-safe. */
void pp_net_cancel(void);
int pp_net_canceled(void);

/* Frees the calling thread's handle now (instead of at thread exit). */
void pp_net_thread_done(void);

/* GETs `url` into a malloc'd buffer (*data, *len; the caller frees it).
 * *attempts receives the number of attempts made.  Returns 0, or -1 with a
 * one-line reason in `reason`. */
int pp_fetch(const pp_net *net, const char *url, unsigned char **data,
             size_t *len, int *attempts, char *reason, size_t reason_size);

/* PUTs len bytes to `url`.  Returns 0 on 200/201/204, or -1 with a reason. */
int pp_http_put(const pp_net *net, const char *url, const void *data,
                size_t len, int *attempts, char *reason, size_t reason_size);

/* HEADs `url`: *exists = 1 on 2xx, 0 on 404/410.  Returns 0, or -1 with a
 * reason for anything else. */
int pp_http_exists(const pp_net *net, const char *url, int *exists,
                   char *reason, size_t reason_size);

/* A source's validator: its ETag, Last-Modified and Content-Length headers
 * as one string ("etag=...;modified=...;length=...;"), empty when the
 * response had neither an ETag nor a Last-Modified (file:// URLs, some
 * servers).  Equal validators mean an unchanged source, as for an HTTP
 * cache.  pp_net_last_validator() describes the calling thread's last
 * response (call it right after pp_fetch); pp_http_validator() HEADs `url`
 * and returns 0, or -1 with a reason (a non-2xx answer included). */
#define PP_VALIDATOR_MAX 256
void pp_net_last_validator(char *buf, size_t size);
int pp_http_validator(const pp_net *net, const char *url, char *buf, size_t size,
                      char *reason, size_t reason_size);

/* Classifies a finished attempt (exposed for tests).  `curl_code` is the
 * CURLcode, `http` the response code (0 for none).  Returns 1 transient,
 * 0 permanent. */
int pp_net_is_transient(int curl_code, long http);

/* Sleeps the back-off before retry number `retry` (1 = first), returning
 * early (-1) when canceled.  For local operations that failed for lack of
 * resources (EMFILE, ENOMEM): they get the same patience as the network. */
int pp_backoff_sleep(const pp_net *net, int retry);

/* True for an errno that says "not now" rather than "never": out of file
 * descriptors or memory, interrupted, would block. */
int pp_errno_transient(int err);

/* The delay before retry number `retry` (1 = first retry), in ms, given a
 * uniform random `r` in [0, 1): equal jitter over min(cap, base*2^(retry-1)).
 * (exposed for tests) */
long pp_backoff_ms(const pp_net *net, int retry, double r);

#endif /* PP_FETCH_H */
