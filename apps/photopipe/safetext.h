/* safetext.h - every name photopipe prints passes through here.
 *
 * File names and URLs come from cameras, other people's folders and URL
 * lists: they may hold ESC sequences (which a terminal obeys: colours, window
 * titles, a cleared screen), line breaks (a fake "FAILED" line), bidi
 * overrides (text shown in another order than it is) or bytes that are not
 * UTF-8 (a JSON reader refuses the whole document).  So text for people and
 * logs is shown escaped, and JSON strings are always valid UTF-8:
 *   - valid, printable UTF-8 is kept as it is;
 *   - a control byte (0x00-0x1f, 0x7f), an invalid UTF-8 byte and each byte of
 *     a C1 control (U+0080-U+009F) become \xNN;
 *   - bidi controls, line/paragraph separators and the BOM become \u{XXXX};
 *   - a backslash becomes \\, so every escape reads back one way.
 * The same escaped form is used in --json (JSON-quoted), so a name looks the
 * same on the terminal and in a log.  Passwords in URLs are redacted first
 * (redact.h). */
#ifndef PP_SAFETEXT_H
#define PP_SAFETEXT_H

#include <stddef.h>
#include <stdio.h>

/* Room for one shown string; longer text is cut at a character boundary and
 * ends in "...". */
#define PP_SHOWN_MAX 2048

typedef struct pp_shown_buf {
  char s[PP_SHOWN_MAX];
} pp_shown_buf;

/* Escapes `s` (NULL shows as "") into `out` (n bytes, n >= 8), always
 * NUL-terminated.  Returns out. */
char *pp_escape(const char *s, char *out, size_t n);

/* Redacts passwords in URLs, then escapes: what every message shows.
 * Returns b->s, so it can sit in a printf argument list. */
const char *pp_shown(pp_shown_buf *b, const char *s);

/* Writes `s` as a JSON string (quotes included): redacted, escaped as above,
 * then JSON-escaped; always valid UTF-8, never cut. */
void pp_json_str(FILE *f, const char *s);

/* Length of the valid UTF-8 sequence at `s` (1-4), or 0 when the byte there
 * does not start one (overlong forms, surrogates and code points past
 * U+10FFFF are invalid).  `left` is the number of bytes available. */
size_t pp_utf8_len(const unsigned char *s, size_t left, unsigned *cp);

#endif /* PP_SAFETEXT_H */
