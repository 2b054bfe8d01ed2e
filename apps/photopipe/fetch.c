/* fetch.c - libcurl client with per-thread handles, timeouts and retries.
 * See fetch.h for the contract and the transient/permanent split. */
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "protocols.h"

static atomic_int g_canceled;
static pthread_key_t g_handle_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

static void handle_destroy(void *h) { curl_easy_cleanup(h); }
static void make_key(void) { pthread_key_create(&g_handle_key, handle_destroy); }

int pp_net_global_init(void) {
  pthread_once(&g_key_once, make_key);
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void pp_net_global_cleanup(void) {
  pp_net_thread_done();
  curl_global_cleanup();
}

void pp_net_cancel(void) { atomic_store(&g_canceled, 1); }
int pp_net_canceled(void) { return atomic_load(&g_canceled); }

void pp_net_thread_done(void) {
  pthread_once(&g_key_once, make_key);
  CURL *h = pthread_getspecific(g_handle_key);
  if (h) {
    curl_easy_cleanup(h);
    pthread_setspecific(g_handle_key, NULL);
  }
}

static CURL *thread_handle(void) {
  pthread_once(&g_key_once, make_key);
  CURL *h = pthread_getspecific(g_handle_key);
  if (!h) {
    h = curl_easy_init();
    if (h && pthread_setspecific(g_handle_key, h) != 0) {
      curl_easy_cleanup(h);
      h = NULL;
    }
  } else {
    /* Reset options, keep the connection cache, DNS cache, TLS sessions. */
    curl_easy_reset(h);
  }
  return h;
}

/* A per-thread xorshift64* generator for jitter; seeded from the clock and
 * the stack address so threads differ. */
static double rand_unit(void) {
  static _Thread_local uint64_t s;
  if (!s) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)&ts;
    if (!s)
      s = 88172645463325252ULL;
  }
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return (double)((s * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

long pp_backoff_ms(const pp_net *net, int retry, double r) {
  long d = net->backoff_ms;
  for (int i = 1; i < retry && d < net->backoff_max_ms; i++)
    d *= 2;
  if (d > net->backoff_max_ms)
    d = net->backoff_max_ms;
  return d / 2 + (long)(r * (double)(d - d / 2));
}

/* Sleeps `ms` in short slices, returning early (-1) once canceled. */
static int sleep_cancelable(long ms);

int pp_backoff_sleep(const pp_net *net, int retry) {
  return sleep_cancelable(pp_backoff_ms(net, retry, rand_unit()));
}

int pp_errno_transient(int err) {
  return err == EMFILE || err == ENFILE || err == ENOMEM || err == EAGAIN || err == EINTR ||
         err == ENOBUFS;
}

static int sleep_cancelable(long ms) {
  while (ms > 0) {
    if (atomic_load(&g_canceled))
      return -1;
    long step = ms < 20 ? ms : 20;
    struct timespec ts = {0, step * 1000000L};
    nanosleep(&ts, NULL);
    ms -= step;
  }
  return atomic_load(&g_canceled) ? -1 : 0;
}

int pp_net_is_transient(int curl_code, long http) {
  switch ((CURLcode)curl_code) {
  case CURLE_OK:
    break;
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_OUT_OF_MEMORY: /* short of memory or descriptors: not for ever */
    return 1;
  default:
    return 0;
  }
  if (http == 408 || http == 425 || http == 429)
    return 1;
  if (http >= 500 && http <= 599 && http != 501 && http != 505 && http != 507)
    return 1;
  return 0;
}

/* ---- one request, with retries ---- */

typedef struct body {
  CURL *h;            /* GET: to size the buffer from Content-Length */
  unsigned char *buf; /* GET: received bytes */
  size_t len, cap;
  uint64_t max;
  int too_big;
  const unsigned char *src; /* PUT: bytes to send */
  size_t src_len, src_pos;

  /* GET resume.  The last response's validator and Content-Range start, as
   * read from its headers; `resume_at` is the offset asked for (0: whole). */
  char validator[200];
  long long range_start;
  size_t resume_at;
  int first_write; /* no body byte of this attempt seen yet */
  int bad_range;   /* a 206 that does not start where we asked */
} body;

/* Headers of the response being received: a new status line (a redirect,
 * a 100 Continue) forgets the previous response's. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg) {
  body *b = arg;
  size_t n = size * nmemb;
  char line[400];
  size_t l = n < sizeof line - 1 ? n : sizeof line - 1;
  memcpy(line, ptr, l);
  line[l] = '\0';
  while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == '\n'))
    line[--l] = '\0';
  if (strncmp(line, "HTTP/", 5) == 0) {
    b->validator[0] = '\0';
    b->range_start = -1;
  } else if (strncasecmp(line, "ETag:", 5) == 0) {
    const char *v = line + 5 + strspn(line + 5, " \t");
    /* A weak ETag cannot be used with If-Range (RFC 9110 13.1.5). */
    if (strncmp(v, "W/", 2) != 0)
      snprintf(b->validator, sizeof b->validator, "%s", v);
  } else if (strncasecmp(line, "Last-Modified:", 14) == 0 && !b->validator[0]) {
    snprintf(b->validator, sizeof b->validator, "%s", line + 14 + strspn(line + 14, " \t"));
  } else if (strncasecmp(line, "Content-Range:", 14) == 0) {
    long long a;
    if (sscanf(line + 14, " bytes %lld-", &a) == 1)
      b->range_start = a;
  }
  return n;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *arg) {
  body *b = arg;
  size_t n = size * nmemb;
  if (b->first_write && b->resume_at > 0) {
    /* Resuming: a 206 goes on exactly where we stopped; anything else is
     * the whole photo again (changed since, or no ranges). */
    long code = 0;
    curl_easy_getinfo(b->h, CURLINFO_RESPONSE_CODE, &code);
    if (code == 206 && b->range_start != (long long)b->resume_at) {
      b->bad_range = 1;
      return 0;
    }
    if (code != 206)
      b->len = 0;
  }
  b->first_write = 0;
  if (b->len + n > b->max) {
    b->too_big = 1;
    return 0; /* CURLE_WRITE_ERROR */
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256 * 1024;
    curl_off_t cl = -1;
    /* First chunk: one allocation of the announced size, not a doubling
     * series that ends up to twice the photo's size. */
    if (!b->cap && b->h &&
        curl_easy_getinfo(b->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
        cl > 0 && (uint64_t)cl <= b->max)
      cap = (size_t)cl;
    while (cap < b->len + n)
      cap *= 2;
    unsigned char *nb = realloc(b->buf, cap);
    if (!nb)
      return 0;
    b->buf = nb;
    b->cap = cap;
  }
  memcpy(b->buf + b->len, ptr, n);
  b->len += n;
  return n;
}

static size_t on_read(char *ptr, size_t size, size_t nmemb, void *arg) {
  body *b = arg;
  size_t n = size * nmemb;
  size_t left = b->src_len - b->src_pos;
  if (n > left)
    n = left;
  memcpy(ptr, b->src + b->src_pos, n);
  b->src_pos += n;
  return n;
}

static int on_seek(void *arg, curl_off_t offset, int origin) {
  body *b = arg;
  if (origin != SEEK_SET || offset < 0 || (size_t)offset > b->src_len)
    return CURL_SEEKFUNC_CANTSEEK;
  b->src_pos = (size_t)offset;
  return CURL_SEEKFUNC_OK;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                       curl_off_t un) {
  (void)arg, (void)dt, (void)dn, (void)ut, (void)un;
  return atomic_load(&g_canceled) ? 1 : 0; /* non-zero aborts the transfer */
}

typedef enum { REQ_GET, REQ_PUT, REQ_HEAD } req_kind;

static void setup(CURL *h, const pp_net *net, req_kind kind, const char *url,
                  body *b, char *errbuf, struct curl_slist *hdrs) {
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, net->connect_timeout_ms);
  /* A stall limit, not a whole-request one: see fetch.h. */
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, net->min_speed > 0 ? net->min_speed : 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (net->timeout_ms + 999) / 1000);
  char protos[64], redir[64];
  unsigned mask = net->protocols ? net->protocols : PP_PROTO_ARGS_DEFAULT;
  pp_protocols_curl(mask, 0, protos, sizeof protos);
  pp_protocols_curl(mask, 1, redir, sizeof redir);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protos);
  if (redir[0])
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, redir);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, kind == REQ_PUT || !redir[0] ? 0L : 1L);
  /* Credentials go to the host they are for, never on to a redirect's. */
  curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(h, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
  if (net->user)
    curl_easy_setopt(h, CURLOPT_USERNAME, net->user);
  if (net->password)
    curl_easy_setopt(h, CURLOPT_PASSWORD, net->password);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "photopipe/0.1");
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, net->insecure ? 0L : 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, net->insecure ? 0L : 2L);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  if (hdrs)
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  switch (kind) {
  case REQ_GET:
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, b);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b->max);
    if (b->resume_at > 0) {
      char range[32];
      snprintf(range, sizeof range, "%zu-", b->resume_at);
      curl_easy_setopt(h, CURLOPT_RANGE, range); /* copied by libcurl */
    }
    break;
  case REQ_PUT:
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, b);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, b);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->src_len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write); /* discard body */
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    break;
  case REQ_HEAD:
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    break;
  }
}

/* Runs the request with retries.  Returns 0 when the last attempt got a
 * transfer-level success (the caller judges *http), -1 with a reason. */
static int perform(const pp_net *net, req_kind kind, const char *url, body *b,
                   long *http, int *attempts, char *reason, size_t rsz) {
  CURL *h = thread_handle();
  *attempts = 0;
  if (!h) {
    snprintf(reason, rsz, "cannot create a curl handle");
    return -1;
  }
  /* Expect: 100-continue costs a round trip (or a 1 s wait on servers that
   * ignore it) for every upload; WebDAV servers do not need it. */
  struct curl_slist *hdrs = NULL;
  if (kind == REQ_PUT)
    hdrs = curl_slist_append(NULL, "Expect:");
  int rc = -1;
  struct curl_slist *if_range = NULL;
  for (int attempt = 0;; attempt++) {
    if (atomic_load(&g_canceled)) {
      snprintf(reason, rsz, "canceled");
      break;
    }
    if (attempt > 0)
      curl_easy_reset(h);
    char errbuf[CURL_ERROR_SIZE] = "";
    /* Resume what an earlier attempt got, if the server said which version
     * it was sending: If-Range makes a changed photo come back whole. */
    curl_slist_free_all(if_range);
    if_range = NULL;
    b->resume_at = 0;
    if (kind == REQ_GET && b->len > 0 && b->validator[0]) {
      char hdr[256];
      snprintf(hdr, sizeof hdr, "If-Range: %s", b->validator);
      if ((if_range = curl_slist_append(NULL, hdr)) != NULL)
        b->resume_at = b->len;
    }
    if (!b->resume_at)
      b->len = 0;
    b->too_big = 0;
    b->bad_range = 0;
    b->first_write = 1;
    b->range_start = -1;
    b->src_pos = 0;
    b->h = h;
    setup(h, net, kind, url, b, errbuf, if_range ? if_range : hdrs);
    CURLcode cc = curl_easy_perform(h);
    ++*attempts;
    *http = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, http);
    /* A resumed request answered 200 without a body byte: what we had is
     * not the photo any more. */
    if (b->resume_at > 0 && b->first_write && *http != 206)
      b->len = 0;
    if (cc == CURLE_OK && (*http == 0 || (*http >= 200 && *http < 300) ||
                           (kind == REQ_HEAD && (*http == 404 || *http == 410)))) {
      rc = 0;
      break;
    }
    /* Describe this attempt; the last description is the one reported. */
    if (atomic_load(&g_canceled) && cc == CURLE_ABORTED_BY_CALLBACK)
      snprintf(reason, rsz, "canceled");
    else if (b->bad_range)
      snprintf(reason, rsz, "the server resumed at the wrong offset");
    else if (b->too_big || cc == CURLE_FILESIZE_EXCEEDED)
      snprintf(reason, rsz, "larger than --max-bytes (%llu bytes)",
               (unsigned long long)b->max);
    else if (cc == CURLE_OPERATION_TIMEDOUT && strncmp(errbuf, "Operation too slow", 18) == 0)
      snprintf(reason, rsz, "timed out: stalled, under %ld bytes/s for %ld s (--timeout)",
               net->min_speed > 0 ? net->min_speed : 1L, (net->timeout_ms + 999) / 1000);
    else if (cc != CURLE_OK)
      snprintf(reason, rsz, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    else
      snprintf(reason, rsz, "HTTP %ld", *http);
    int transient = !b->too_big && !b->bad_range && pp_net_is_transient(cc, *http);
    /* A connection refused by our own descriptor or memory limit, not by
     * the server: "not now", whatever libcurl calls it. */
    long os_errno = 0;
    if (cc != CURLE_OK && curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
        (os_errno == EMFILE || os_errno == ENFILE || os_errno == ENOMEM))
      transient = 1;
    /* Only a cut-off body of a good response is worth resuming. */
    if (kind == REQ_GET && !(cc != CURLE_OK && (*http == 200 || *http == 206)))
      b->validator[0] = '\0';
    if (!transient || attempt >= net->retries || atomic_load(&g_canceled))
      break;
    long delay = pp_backoff_ms(net, attempt + 1, rand_unit());
    curl_off_t retry_after = 0;
    if ((*http == 429 || *http == 503) &&
        curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
        retry_after > 0) {
      long ra = (long)retry_after * 1000;
      delay = ra < net->backoff_max_ms ? ra : net->backoff_max_ms;
    }
    if (sleep_cancelable(delay) != 0) {
      snprintf(reason, rsz, "canceled");
      break;
    }
  }
  if (rc != 0 && *attempts > 1) {
    size_t l = strlen(reason);
    snprintf(reason + l, rsz - l, " (after %d attempts)", *attempts);
  }
  curl_slist_free_all(hdrs);
  curl_slist_free_all(if_range);
  /* Drop our pointers into this call's stack before the handle idles. */
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
  return rc;
}

/* For a file:// URL: refuses what is not a regular file before libcurl opens
 * it (opening a FIFO would wait for a writer forever).  Returns 0 to go on. */
static int file_url_check(const char *url, char *reason, size_t rsz) {
  if (strncasecmp(url, "file:", 5) != 0)
    return 0;
  CURLU *u = curl_url();
  char *path = NULL;
  int rc = 0;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) == CURLUE_OK) {
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
      snprintf(reason, rsz, "not a regular file%s",
               S_ISFIFO(st.st_mode) ? " (a FIFO)" : S_ISDIR(st.st_mode) ? " (a directory)" : "");
      rc = -1;
    }
  }
  curl_free(path);
  curl_url_cleanup(u);
  return rc;
}

int pp_fetch(const pp_net *net, const char *url, unsigned char **data,
             size_t *len, int *attempts, char *reason, size_t rsz) {
  *attempts = 0;
  if (file_url_check(url, reason, rsz) != 0)
    return -1;
  body b = {0};
  b.max = net->max_bytes;
  long http = 0;
  int rc = perform(net, REQ_GET, url, &b, &http, attempts, reason, rsz);
  if (rc != 0) {
    free(b.buf);
    return -1;
  }
  *data = b.buf;
  *len = b.len;
  return 0;
}

int pp_http_put(const pp_net *net, const char *url, const void *data,
                size_t len, int *attempts, char *reason, size_t rsz) {
  body b = {0};
  b.max = 1 << 20; /* the server's reply body, discarded */
  b.src = data;
  b.src_len = len;
  long http = 0;
  int rc = perform(net, REQ_PUT, url, &b, &http, attempts, reason, rsz);
  free(b.buf);
  return rc;
}

int pp_http_exists(const pp_net *net, const char *url, int *exists,
                   char *reason, size_t rsz) {
  body b = {0};
  long http = 0;
  int attempts;
  int rc = perform(net, REQ_HEAD, url, &b, &http, &attempts, reason, rsz);
  if (rc == 0)
    *exists = http >= 200 && http < 300;
  return rc;
}

/* ---- validators: whether a source changed, without downloading it ---- */

/* Appends "key=value;" for response header `name` of the last request. */
static size_t add_header(CURL *h, const char *name, const char *key, char *buf, size_t size,
                         size_t n) {
  struct curl_header *hd;
  if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK || !hd->value[0])
    return n;
  int w = snprintf(buf + n, size - n, "%s=%s;", key, hd->value);
  return w < 0 || (size_t)w >= size - n ? size : n + (size_t)w;
}

static void validator_of(CURL *h, char *buf, size_t size) {
  buf[0] = '\0';
  size_t n = add_header(h, "ETag", "etag", buf, size, 0);
  n = add_header(h, "Last-Modified", "modified", buf, size, n);
  /* A length alone says too little: only with a date or an ETag.  A
   * resumed download ended with a 206, whose Content-Length is the part
   * sent: the whole length is the Content-Range's total, as a HEAD gives. */
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  struct curl_header *cr;
  long long first, last, total;
  if (n > 0 && code == 206) {
    if (curl_easy_header(h, "Content-Range", 0, CURLH_HEADER, -1, &cr) == CURLHE_OK &&
        sscanf(cr->value, "bytes %lld-%lld/%lld", &first, &last, &total) == 3) {
      int w = snprintf(buf + n, size - n, "length=%lld;", total);
      n = w < 0 || (size_t)w >= size - n ? size : n + (size_t)w;
    }
  } else if (n > 0) {
    n = add_header(h, "Content-Length", "length", buf, size, n);
  }
  if (n >= size)
    buf[0] = '\0'; /* cut: useless for comparing */
}

void pp_net_last_validator(char *buf, size_t size) {
  pthread_once(&g_key_once, make_key);
  CURL *h = pthread_getspecific(g_handle_key);
  if (h)
    validator_of(h, buf, size);
  else
    buf[0] = '\0';
}

int pp_http_validator(const pp_net *net, const char *url, char *buf, size_t size,
                      char *reason, size_t rsz) {
  body b = {0};
  long http = 0;
  int attempts;
  buf[0] = '\0';
  if (perform(net, REQ_HEAD, url, &b, &http, &attempts, reason, rsz) != 0)
    return -1;
  if (http != 0 && (http < 200 || http >= 300)) {
    snprintf(reason, rsz, "HTTP %ld", http);
    return -1;
  }
  pp_net_last_validator(buf, size);
  return 0;
}
