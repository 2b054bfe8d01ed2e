/* photopipe_retry_policy.c - which failures are retried and how long the
 * back-off waits: transient network errors and 408/429/5xx retry, 404/403
 * and certificate errors do not; delays double, stay within [d/2, d] and
 * never exceed the cap. */
#include <curl/curl.h>

#include "fetch.h"
#include "test.h"

int main(void) {
  CHECK_EQ(pp_net_is_transient(CURLE_COULDNT_CONNECT, 0), 1);
  CHECK_EQ(pp_net_is_transient(CURLE_OPERATION_TIMEDOUT, 0), 1);
  CHECK_EQ(pp_net_is_transient(CURLE_GOT_NOTHING, 0), 1);
  CHECK_EQ(pp_net_is_transient(CURLE_RECV_ERROR, 0), 1);
  CHECK_EQ(pp_net_is_transient(CURLE_PARTIAL_FILE, 0), 1);
  CHECK_EQ(pp_net_is_transient(CURLE_OK, 500), 1);
  CHECK_EQ(pp_net_is_transient(CURLE_OK, 503), 1);
  CHECK_EQ(pp_net_is_transient(CURLE_OK, 429), 1);
  CHECK_EQ(pp_net_is_transient(CURLE_OK, 408), 1);
  CHECK_EQ(pp_net_is_transient(CURLE_OK, 404), 0);
  CHECK_EQ(pp_net_is_transient(CURLE_OK, 403), 0);
  CHECK_EQ(pp_net_is_transient(CURLE_OK, 400), 0);
  CHECK_EQ(pp_net_is_transient(CURLE_OK, 501), 0);
  CHECK_EQ(pp_net_is_transient(CURLE_OK, 507), 0);
  CHECK_EQ(pp_net_is_transient(CURLE_PEER_FAILED_VERIFICATION, 0), 0);
  CHECK_EQ(pp_net_is_transient(CURLE_FILE_COULDNT_READ_FILE, 0), 0);
  CHECK_EQ(pp_net_is_transient(CURLE_UNSUPPORTED_PROTOCOL, 0), 0);
  CHECK_EQ(pp_net_is_transient(CURLE_FILESIZE_EXCEEDED, 0), 0);

  pp_net net = {.backoff_ms = 200, .backoff_max_ms = 5000};
  long want[] = {200, 400, 800, 1600, 3200, 5000, 5000, 5000};
  for (int retry = 1; retry <= 8; retry++) {
    long d = want[retry - 1];
    long lo = pp_backoff_ms(&net, retry, 0.0);
    long hi = pp_backoff_ms(&net, retry, 0.999999);
    CHECK_EQ(lo, d / 2);
    CHECK(hi <= d && hi >= d - 1);
    for (double r = 0; r < 1; r += 0.01) {
      long x = pp_backoff_ms(&net, retry, r);
      CHECK(x >= d / 2 && x <= d);
    }
  }
  /* A huge retry number must not overflow. */
  CHECK(pp_backoff_ms(&net, 100, 0.5) <= 5000);
  printf("retry policy: ok\n");
  return 0;
}
