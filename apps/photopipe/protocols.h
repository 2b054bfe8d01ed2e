/* protocols.h - which kinds of source photopipe may read (--protocols).
 *
 * A URL list (--urls) often comes from somewhere else: a web page, a
 * colleague, a script.  Left unchecked, a line "file:///etc/shadow" or
 * "/home/me/.ssh/id_rsa" would be read and uploaded to the album.  So each
 * source is checked against a set of protocols before anything is opened:
 *   - command-line arguments (and --prefix, which the user typed) may be
 *     http, https, file URLs or local paths (a path counts as "file");
 *   - --urls lines may be http and https only;
 *   - --protocols LIST (as curl's --proto) replaces both with LIST.
 * A refused source fails in the list stage with the same words whether or
 * not such a file exists: nothing about it is looked at.  libcurl is given
 * the same set (and redirects stay within http and https of it), so the
 * check holds even past the first request. */
#ifndef PP_PROTOCOLS_H
#define PP_PROTOCOLS_H

#include <stddef.h>

enum {
  PP_PROTO_HTTP = 1u << 0,
  PP_PROTO_HTTPS = 1u << 1,
  PP_PROTO_FILE = 1u << 2,
  PP_PROTO_FTP = 1u << 3,
  PP_PROTO_FTPS = 1u << 4
};

#define PP_PROTO_ARGS_DEFAULT (PP_PROTO_HTTP | PP_PROTO_HTTPS | PP_PROTO_FILE)
#define PP_PROTO_LIST_DEFAULT (PP_PROTO_HTTP | PP_PROTO_HTTPS)

/* Parses "http,https,file" into a mask.  Returns 0, or -1 on an unknown or
 * empty name. */
int pp_protocols_parse(const char *list, unsigned *mask);

/* The protocol bit of a source: its URL scheme (case-insensitive), or
 * PP_PROTO_FILE for a path.  0 for a scheme photopipe does not know;
 * `scheme` (n bytes) receives the scheme's text for messages. */
unsigned pp_protocol_of(const char *src, char *scheme, size_t n);

/* The mask as libcurl's CURLOPT_PROTOCOLS_STR wants it ("http,https"), in
 * `out` (n bytes).  `only_web` keeps http and https only (redirects). */
void pp_protocols_curl(unsigned mask, int only_web, char *out, size_t n);

#endif /* PP_PROTOCOLS_H */
