/* report.c - progress line, summary table, JSON (see report.h). */
#include "report.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "safetext.h"

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void pp_progress_draw(pp_progress *pr, FILE *f, cv_pipeline *p,
                      const cv_pipeline_summary *s, size_t listed, int final) {
  if (final) {
    if (pr->drawn)
      fputs("\r\033[K", f);
    pr->drawn = 0;
    fflush(f);
    return;
  }
  int64_t t = now_ns();
  double dt = pr->last_ns ? (double)(t - pr->last_ns) / 1e9 : 0;
  char line[512];
  int n = 0;
  size_t stages = cv_pipeline_stage_count(p);
  for (size_t i = 0; i < stages && i < 3; i++) {
    cv_stage_stats st;
    if (cv_pipeline_stage_stats(p, i, &st) != CV_OK)
      continue;
    uint64_t handled = st.succeeded + st.failed;
    if (dt > 0) {
      double r = (double)(handled - pr->last_done[i]) / dt;
      /* Smooth over about a second so the line does not flicker. */
      pr->rate[i] = pr->last_ns ? 0.7 * pr->rate[i] + 0.3 * r : r;
    }
    pr->last_done[i] = handled;
    n += snprintf(line + n, sizeof line - (size_t)n, "%s%s %5.1f/s q%zu/%zu",
                  i ? " | " : "", st.name, pr->rate[i], st.queue_depth, st.queue_capacity);
    if (n >= (int)sizeof line)
      n = (int)sizeof line - 1;
  }
  pr->last_ns = t;
  fprintf(f, "\r\033[K%s | stored %llu/%zu failed %llu %.1fs", line,
          (unsigned long long)s->delivered, listed, (unsigned long long)s->failed,
          (double)s->elapsed_ns / 1e9);
  pr->drawn = 1;
  fflush(f);
}

void pp_totals_count(pp_totals *t, pp_photo *const *photos, size_t n) {
  t->listed = n;
  for (size_t i = 0; i < n; i++) {
    switch (photos[i]->status) {
    case PP_DONE: t->done++; break;
    case PP_SKIPPED: t->skipped++; break;
    case PP_FAILED: t->failed++; break;
    case PP_CANCELED: t->canceled++; break;
    case PP_PENDING: t->not_started++; break;
    }
    if (photos[i]->renamed)
      t->renamed++;
  }
}

void pp_report_failures(FILE *f, pp_photo *const *photos, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const pp_photo *p = photos[i];
    pp_shown_buf a, b;
    if (p->status == PP_FAILED)
      fprintf(f, "photopipe: FAILED %s (%s): %s\n", pp_shown(&a, p->src),
              pp_stage_name(p->stage), pp_shown(&b, p->reason));
    else if (p->status == PP_CANCELED)
      fprintf(f, "photopipe: canceled %s: %s\n", pp_shown(&a, p->src),
              pp_shown(&b, p->reason));
    else if (p->warning)
      fprintf(f, "photopipe: warning: %s: %s\n", pp_shown(&a, p->src), p->warning);
  }
}

void pp_report_names(FILE *f, pp_photo *const *photos, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const pp_photo *p = photos[i];
    pp_shown_buf a, b;
    if (p->renamed && p->name && (p->status == PP_DONE || p->status == PP_SKIPPED))
      fprintf(f, "renamed: %s -> %s\n", pp_shown(&a, p->src), pp_shown(&b, p->name));
  }
}

static double pct(int64_t part, int64_t whole) {
  return whole > 0 ? 100.0 * (double)part / (double)whole : 0.0;
}

void pp_report_text(FILE *f, const pp_options *o, cv_pipeline *p, const pp_totals *t) {
  double secs = (double)t->elapsed_ns / 1e9;
  if (p)
    fprintf(f, "%-9s %7s %6s %6s %6s %8s %8s %11s %8s\n", "stage", "workers", "done", "failed",
            "busy", "starved", "blocked", "queue max", "items/s");
  size_t stages = p ? cv_pipeline_stage_count(p) : 0;
  for (size_t i = 0; i < stages; i++) {
    cv_stage_stats st;
    if (cv_pipeline_stage_stats(p, i, &st) != CV_OK)
      continue;
    int64_t total = st.busy_ns + st.starved_ns + st.blocked_ns;
    char q[32], w[24];
    snprintf(q, sizeof q, "%zu/%zu", st.queue_high_water, st.queue_capacity);
    if (st.workers_auto) /* now / the most it had */
      snprintf(w, sizeof w, "%u/%u", st.workers, st.workers_peak);
    else
      snprintf(w, sizeof w, "%u", st.workers);
    fprintf(f, "%-9s %7s %6llu %6llu %5.0f%% %7.0f%% %7.0f%% %11s %8.1f\n", st.name, w,
            (unsigned long long)st.succeeded, (unsigned long long)st.failed,
            pct(st.busy_ns, total), pct(st.starved_ns, total), pct(st.blocked_ns, total), q,
            secs > 0 ? (double)st.succeeded / secs : 0.0);
  }
  size_t bi;
  const char *b = p ? cv_pipeline_bottleneck(p, &bi) : NULL;
  if (b)
    fprintf(f, "bottleneck: %s (its workers were busy the largest share of their time)\n", b);
  fprintf(f,
          "photos: %zu listed, %zu stored, %zu skipped, %zu failed, %zu canceled, "
          "%zu not started",
          t->listed, t->done, t->skipped, t->failed, t->canceled, t->not_started);
  if (t->renamed)
    fprintf(f, " (%zu renamed to avoid a name clash)", t->renamed);
  fprintf(f, "\ntime: %.2f s, %.1f photos/s; %.1f MB in, %.1f MB out; fit %dx%d\n", secs,
          secs > 0 ? (double)t->done / secs : 0.0, (double)t->bytes_in / 1e6,
          (double)t->bytes_out / 1e6, o->width, o->height);
  if (t->interrupt == 1)
    fputs("interrupted: stopped taking new photos; those in flight were finished\n", f);
  else if (t->interrupt == 2)
    fputs("interrupted: canceled; photos in flight were dropped, nothing partial was kept\n", f);
}

/* Redacted, escaped, valid UTF-8 (safetext.h). */
static void json_str(FILE *f, const char *s) { pp_json_str(f, s); }

void pp_report_json(FILE *f, const pp_options *o, cv_pipeline *p, const pp_totals *t,
                    pp_photo *const *photos, size_t n, void (*more)(FILE *f, void *arg),
                    void *more_arg) {
  fprintf(f, "{\"album\":");
  json_str(f, o->album);
  fprintf(f,
          ",\"fit\":[%d,%d],\"listed\":%zu,\"stored\":%zu,\"skipped\":%zu,\"failed\":%zu,"
          "\"canceled\":%zu,\"not_started\":%zu,\"renamed\":%zu,\"bytes_in\":%llu,"
          "\"bytes_out\":%llu,\"elapsed_s\":%.3f,\"interrupted\":%d,\"problems\":[",
          o->width, o->height, t->listed, t->done, t->skipped, t->failed, t->canceled,
          t->not_started, t->renamed, (unsigned long long)t->bytes_in,
          (unsigned long long)t->bytes_out, (double)t->elapsed_ns / 1e9, t->interrupt);
  int first = 1;
  for (size_t i = 0; i < n; i++) {
    const pp_photo *ph = photos[i];
    if (ph->status != PP_FAILED && ph->status != PP_CANCELED)
      continue;
    fprintf(f, "%s{\"source\":", first ? "" : ",");
    json_str(f, ph->src);
    fputs(",\"name\":", f);
    json_str(f, ph->name);
    fprintf(f, ",\"status\":\"%s\",\"stage\":\"%s\",\"reason\":", pp_status_name(ph->status),
            pp_stage_name(ph->stage));
    json_str(f, ph->reason);
    fputc('}', f);
    first = 0;
  }
  fputs("],\"warnings\":[", f);
  first = 1;
  for (size_t i = 0; i < n; i++) {
    const pp_photo *ph = photos[i];
    if (!ph->warning || ph->status == PP_FAILED || ph->status == PP_CANCELED)
      continue;
    fprintf(f, "%s{\"source\":", first ? "" : ",");
    json_str(f, ph->src);
    fputs(",\"name\":", f);
    json_str(f, ph->name);
    fputs(",\"warning\":", f);
    json_str(f, ph->warning);
    fputc('}', f);
    first = 0;
  }
  /* Which source became which album name, every photo listed. */
  fputs("],\"photos\":[", f);
  for (size_t i = 0; i < n; i++) {
    const pp_photo *ph = photos[i];
    fprintf(f, "%s{\"source\":", i ? "," : "");
    json_str(f, ph->src);
    fputs(",\"name\":", f);
    if (ph->name)
      json_str(f, ph->name);
    else
      fputs("null", f);
    fprintf(f, ",\"status\":\"%s\",\"renamed\":%s}", pp_status_name(ph->status),
            ph->renamed ? "true" : "false");
  }
  fputs("],\"pipeline\":", f);
  size_t need = 0;
  char small[1];
  cv_pipeline_stats_json(p, small, sizeof small, &need);
  char *buf = malloc(need + 1);
  if (buf && cv_pipeline_stats_json(p, buf, need + 1, NULL) == CV_OK)
    fputs(buf, f);
  else
    fputs("null", f);
  free(buf);
  if (more)
    more(f, more_arg);
  fputs("}\n", f);
}
