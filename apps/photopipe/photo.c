/* photo.c - small helpers on pp_photo (see photo.h). */
#include "photo.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void pp_photo_drop_buffers(pp_photo *p) {
  free(p->data);
  p->data = NULL;
  p->len = 0;
  free(p->out);
  p->out = NULL;
  p->out_len = 0;
}

int pp_fail(pp_photo *p, pp_stage stage, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->reason, sizeof p->reason, fmt, ap);
  va_end(ap);
  /* One line, whatever libraries put in their messages. */
  for (char *c = p->reason; *c; c++)
    if (*c == '\n' || *c == '\r')
      *c = ' ';
  p->status = PP_FAILED;
  p->stage = stage;
  pp_photo_drop_buffers(p);
  return -1;
}

const char *pp_stage_name(pp_stage s) {
  switch (s) {
  case PP_STAGE_LIST: return "list";
  case PP_STAGE_DOWNLOAD: return "download";
  case PP_STAGE_RESIZE: return "resize";
  case PP_STAGE_UPLOAD: return "upload";
  }
  return "?";
}

const char *pp_status_name(pp_status s) {
  switch (s) {
  case PP_PENDING: return "not-started";
  case PP_DONE: return "done";
  case PP_SKIPPED: return "skipped";
  case PP_FAILED: return "failed";
  case PP_CANCELED: return "canceled";
  }
  return "?";
}
