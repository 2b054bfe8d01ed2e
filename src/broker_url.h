/* src/broker_url.h - where a distributed run's server is, parsed from its
 * URL.  The password is kept apart from everything that is ever printed:
 * `where` (host:port or the socket path) is what messages name. */
#ifndef CONVEYOR_BROKER_URL_H
#define CONVEYOR_BROKER_URL_H

#define CV__HOST_MAX 256
#define CV__SECRET_MAX 256

typedef struct cv__broker_addr {
  char host[CV__HOST_MAX]; /* empty for a unix socket */
  int port;
  char path[CV__HOST_MAX]; /* unix socket path, or empty */
  char password[CV__SECRET_MAX]; /* empty = no AUTH; never printed */
  int db;
  char where[CV__HOST_MAX + 8]; /* "host:port" or the path, for messages */
} cv__broker_addr;

/* Parses "redis://[[user]:password@]host[:port][/db]", "unix:/path", or
 * "/path".  Returns CV_OK or CV_EINVAL. */
int cv__broker_url_parse(const char *url, cv__broker_addr *out);

#endif /* CONVEYOR_BROKER_URL_H */
