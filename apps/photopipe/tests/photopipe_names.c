/* photopipe_names.c - album names: escapes refused, NUL refused, long names
 * shortened at a UTF-8 boundary keeping the extension, extensions replaced,
 * URL segments escaped.  (Collisions: photopipe_manifest_rows.) */
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "test.h"

static void refused(const char *url) {
  char out[PP_NAME_MAX + 1];
  const char *why = NULL;
  int rc = pp_name_from_url(url, out, &why);
  if (rc != -1) {
    fprintf(stderr, "%s: accepted as '%s'\n", url, out);
    exit(1);
  }
  CHECK(why && *why);
}

static void url_gives(const char *url, const char *want) {
  char out[PP_NAME_MAX + 1];
  const char *why = NULL;
  int rc = pp_name_from_url(url, out, &why);
  if (rc < 0 || strcmp(out, want) != 0) {
    fprintf(stderr, "%s: got rc %d '%s' (%s), want '%s'\n", url, rc, rc < 0 ? "" : out,
            why ? why : "", want);
    exit(1);
  }
}

int main(void) {
  /* Plain names, query and fragment dropped, percent-decoding. */
  url_gives("http://cam/DCIM/IMG_0001.JPG", "IMG_0001.JPG");
  url_gives("https://cam/a/b/c.jpg?sig=1&x=/y#frag", "c.jpg");
  url_gives("file:///tmp/photos/my%20photo.jpg", "my photo.jpg");
  url_gives("http://cam/.hidden.jpg", "hidden.jpg");
  url_gives("http://cam/tab%09name.jpg", "tab_name.jpg");

  /* Escapes through encoding, dot names, NUL, nothing usable. */
  refused("http://cam/..%2F..%2Fetc%2Fpasswd");
  refused("http://cam/a%5C..%5Cwin.ini");
  refused("http://cam/..");
  refused("http://cam/%2e%2e");
  refused("http://cam/evil.php%00.jpg");
  refused("http://cam/dir/");
  refused("http://cam");
  refused("http://cam/...");

  /* --prefix names and paths. */
  char out[PP_NAME_MAX + 1];
  const char *why;
  CHECK_EQ(pp_name_from_path("../x.jpg", out, &why), -1);
  CHECK_EQ(pp_name_from_path("a/../../x.jpg", out, &why), -1);
  CHECK_EQ(pp_name_from_path("/etc/passwd", out, &why), -1);
  CHECK_EQ(pp_name_from_path("sub/x.jpg", out, &why), 0);
  CHECK(strcmp(out, "x.jpg") == 0);
  CHECK_EQ(pp_name_sanitize("a\0b.jpg", 7, out, &why), -1);

  /* Very long names: shortened, extension kept, UTF-8 not cut in half. */
  char longname[1200];
  size_t n = 0;
  for (int i = 0; i < 300; i++) {
    memcpy(longname + n, "\xc3\xa9", 2); /* e-acute, 2 bytes */
    n += 2;
  }
  memcpy(longname + n, ".jpeg", 6);
  CHECK_EQ(pp_name_sanitize(longname, strlen(longname), out, &why), 1);
  CHECK(strlen(out) <= PP_NAME_MAX);
  CHECK(strcmp(out + strlen(out) - 5, ".jpeg") == 0);
  size_t stem = strlen(out) - 5;
  CHECK_EQ(stem % 2, 0); /* whole 2-byte characters only */
  for (size_t i = 0; i < stem; i += 2)
    CHECK(memcmp(out + i, "\xc3\xa9", 2) == 0);

  /* Extension replacement. */
  char e[PP_NAME_MAX + 1] = "photo.PNG";
  pp_name_set_ext(e, ".jpg");
  CHECK(strcmp(e, "photo.jpg") == 0);
  strcpy(e, "noext");
  pp_name_set_ext(e, ".jpg");
  CHECK(strcmp(e, "noext.jpg") == 0);

  char *esc = pp_url_escape_segment("a b/c%.jpg");
  CHECK(esc && strcmp(esc, "a%20b%2Fc%25.jpg") == 0);
  free(esc);
  printf("names: ok\n");
  return 0;
}
