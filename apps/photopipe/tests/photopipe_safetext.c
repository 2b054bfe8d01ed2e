/* photopipe_safetext.c - names are shown escaped (controls, invalid UTF-8,
 * bidi overrides, backslashes) and URL passwords redacted, on the terminal
 * and in JSON, which stays valid UTF-8. */
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "safetext.h"
#include "test.h"

static void shows(const char *in, const char *want) {
  pp_shown_buf b;
  const char *got = pp_shown(&b, in);
  if (strcmp(got, want) != 0) {
    fprintf(stderr, "shown: got '%s', want '%s'\n", got, want);
    exit(1);
  }
}

static void redacts(const char *in, const char *want) {
  char out[256];
  pp_redact(in, out, sizeof out);
  if (strcmp(out, want) != 0) {
    fprintf(stderr, "redact: got '%s', want '%s'\n", out, want);
    exit(1);
  }
  char *d = pp_redact_dup(in);
  CHECK(d && strcmp(d, want) == 0);
  free(d);
}

static void json_is(const char *in, const char *want) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(f);
  pp_json_str(f, in);
  CHECK(fclose(f) == 0);
  if (strcmp(buf, want) != 0) {
    fprintf(stderr, "json: got '%s', want '%s'\n", buf, want);
    exit(1);
  }
  /* Valid UTF-8 throughout, no raw control byte. */
  for (size_t i = 0; i < len;) {
    unsigned cp;
    size_t l = pp_utf8_len((const unsigned char *)buf + i, len - i, &cp);
    CHECK(l > 0 && cp >= 0x20);
    i += l;
  }
  free(buf);
}

int main(void) {
  /* Printable UTF-8 is kept. */
  shows("IMG_0001.jpg", "IMG_0001.jpg");
  shows("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.jpg", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.jpg");
  shows(NULL, "");
  /* Terminal escapes, line breaks, DEL, C1 controls. */
  shows("a\x1b]0;pwned\x07.jpg", "a\\x1b]0;pwned\\x07.jpg");
  shows("x\nphotopipe: FAILED y", "x\\x0aphotopipe: FAILED y");
  shows("del\x7f", "del\\x7f");
  shows("c1\xc2\x9b" "31m", "c1\\xc2\\x9b31m");
  /* Invalid UTF-8: stray continuation, overlong, surrogate, truncated. */
  shows("bad\xff\xfe.jpg", "bad\\xff\\xfe.jpg");
  shows("\xc0\xaf", "\\xc0\\xaf");
  shows("\xed\xa0\x80", "\\xed\\xa0\\x80");
  shows("cut\xe6\x97", "cut\\xe6\\x97");
  /* Bidi override (a "gpj.exe" trick), BOM; backslashes doubled. */
  shows("photo\xe2\x80\xaegpj.exe", "photo\\u{202e}gpj.exe");
  shows("\xef\xbb\xbfname", "\\u{feff}name");
  shows("a\\x41", "a\\\\x41");

  /* Long text is cut at a character boundary and says so. */
  char big[PP_SHOWN_MAX * 2];
  memset(big, '\x01', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  pp_shown_buf b;
  const char *s = pp_shown(&b, big);
  size_t l = strlen(s);
  CHECK(l < PP_SHOWN_MAX && l > PP_SHOWN_MAX - 8);
  CHECK(strcmp(s + l - 3, "...") == 0);
  CHECK(strncmp(s, "\\x01\\x01", 8) == 0);
  char small[10];
  pp_escape("\x01\x02\x03", small, sizeof small);
  CHECK(strcmp(small, "\\x01...") == 0);

  /* Passwords in URLs, wherever they sit in a message. */
  redacts("https://user:secret@host/dav/", "https://user:***@host/dav/");
  redacts("http://u:p@h:8080/x.jpg?a=b", "http://u:***@h:8080/x.jpg?a=b");
  redacts("cannot get 'ftp://a:b@c/' from http://d:e@f", "cannot get 'ftp://a:***@c/' from http://d:***@f");
  redacts("https://user@host/", "https://user@host/");
  redacts("https://user:p@ss:w@rd@host/", "https://user:***@host/");
  redacts("https://host/x.jpg?u=a:b@c", "https://host/x.jpg?u=a:b@c");
  redacts("no url: a:b@c", "no url: a:b@c");
  redacts("s://:@h", "s://:***@h");
  redacts("://a:b@c", "://a:b@c");
  shows("https://me:hunter2@cam\x1b[2J/x.jpg", "https://me:***@cam\\x1b[2J/x.jpg");

  /* JSON: redacted, escaped the same way, JSON-quoted. */
  json_is("plain", "\"plain\"");
  json_is("q\"uote\\", "\"q\\\"uote\\\\\\\\\"");
  json_is("bad\xff\n", "\"bad\\\\xff\\\\x0a\"");
  json_is("https://u:pw@h/a.jpg", "\"https://u:***@h/a.jpg\"");
  json_is("caf\xc3\xa9", "\"caf\xc3\xa9\"");
  puts("ok");
  return 0;
}
