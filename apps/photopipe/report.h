/* report.h - what photopipe prints: the live progress line, the final
 * per-stage table with totals and failures, and the JSON summary. */
#ifndef PP_REPORT_H
#define PP_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "conveyor.h"
#include "options.h"
#include "photo.h"

typedef struct pp_totals {
  size_t listed, done, skipped, failed, canceled, not_started, renamed;
  uint64_t bytes_in, bytes_out;
  int64_t elapsed_ns;
  int interrupt; /* 0, 1 (stopped: finished what was in flight), 2 canceled */
} pp_totals;

/* Progress-line state, owned by the monitor thread. */
typedef struct pp_progress {
  int64_t last_ns;
  uint64_t last_done[3];
  double rate[3];
  int drawn; /* a line is on screen */
} pp_progress;

/* Redraws the progress line on `f` (a TTY): per-stage rates and queue
 * depths.  With `final`, clears it instead. */
void pp_progress_draw(pp_progress *pr, FILE *f, cv_pipeline *p,
                      const cv_pipeline_summary *s, size_t listed, int final);

/* Tallies the registry into *t (leaves elapsed_ns and interrupt alone). */
void pp_totals_count(pp_totals *t, pp_photo *const *photos, size_t n);

/* One line per photo that did not make it, on `f`. */
void pp_report_failures(FILE *f, pp_photo *const *photos, size_t n);

/* "renamed: SOURCE -> NAME" on `f` for each stored or skipped photo whose
 * album name is not the one its source asked for (a clash, or the name an
 * earlier run gave it).  `photopipe ls` lists every name. */
void pp_report_names(FILE *f, pp_photo *const *photos, size_t n);

/* The per-stage table, bottleneck and totals, for people (only the totals
 * when p is NULL). */
void pp_report_text(FILE *f, const pp_options *o, cv_pipeline *p,
                    const pp_totals *t);

/* Everything as one JSON object and a newline; "photos" maps each listed
 * source to its album name and status.  `more`, when not NULL, writes
 * further members (",\"name\":value...") before the closing brace. */
void pp_report_json(FILE *f, const pp_options *o, cv_pipeline *p,
                    const pp_totals *t, pp_photo *const *photos, size_t n,
                    void (*more)(FILE *f, void *arg), void *more_arg);

#endif /* PP_REPORT_H */
