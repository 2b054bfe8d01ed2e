/* main.c - photopipe: download -> resize -> upload, one pool of workers per
 * stage, bounded queues in between.  See docs/photopipe.md. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "corpus.h"
#include "fetch.h"
#include "manifest.h"
#include "options.h"
#include "broker.h"
#include "resize.h"
#include "run.h"

/* The summary, --json, --help: when standard output could not take them (a
 * full disk, /dev/full, a closed pipe) the user got nothing, and the exit
 * status must say so.  A write that failed before this flush (text longer
 * than stdio's buffer) may leave nothing for the flush to fail on:
 * `written_errno` is errno right after the output was written, when nothing
 * else ran since, else 0.  Returns the exit code to use. */
static int check_stdout(int rc, int written_errno) {
  int failed_before = ferror(stdout);
  errno = 0;
  int flushed = fflush(stdout) == 0;
  int err = errno;
  if (flushed && !ferror(stdout))
    return rc;
  if (!err && failed_before)
    err = written_errno;
  fprintf(stderr, "photopipe: cannot write to standard output%s%s\n", err ? ": " : "",
          err ? strerror(err) : "");
  return rc ? rc : 1;
}

int main(int argc, char **argv) {
  pp_options o;
  pp_options_defaults(&o, pp_cpu_count());
  int rc = pp_options_parse(&o, argc, argv);
  if (rc == 3)
    return check_stdout(0, errno); /* --help, --version: just written */
  if (rc != 0)
    return 2;
  if (o.command == PP_CMD_LS)
    return check_stdout(pp_manifest_ls(o.album, stdout), 0);

  /* Downloads are multi-megabyte buffers allocated and freed by different
   * threads.  glibc's dynamic mmap threshold would soon serve them from
   * per-thread heaps, where freed space stays resident; a fixed threshold
   * keeps them mmap'ed, so memory goes back to the system with each photo. */
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);

  if (o.command == PP_CMD_DEMO && !o.size_set)
    o.width = o.height = 800;

  /* A write past RLIMIT_FSIZE must fail with EFBIG (one photo's error),
   * not kill the process; a vanished HTTP peer is an error, not a SIGPIPE. */
  signal(SIGXFSZ, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);

  if (pp_vips_init(argv[0], o.vips_threads) != 0) {
    fprintf(stderr, "photopipe: cannot initialise libvips\n");
    return 1;
  }
  if (pp_net_global_init() != 0) {
    fprintf(stderr, "photopipe: cannot initialise libcurl\n");
    pp_vips_shutdown();
    return 1;
  }
  switch (o.command) {
  case PP_CMD_CORPUS:
    rc = pp_corpus_write(o.corpus_dir, o.count, o.corpus_w, o.corpus_h, o.seed, o.quiet) ? 1 : 0;
    break;
  case PP_CMD_DEMO:
    rc = pp_demo(&o);
    break;
  case PP_CMD_RUN:
    rc = pp_run(&o);
    break;
  case PP_CMD_WORKER:
    rc = pp_worker_run(&o);
    break;
  case PP_CMD_LS: /* handled above, before libvips and libcurl */
    break;
  }
  pp_net_global_cleanup();
  pp_vips_shutdown();
  return check_stdout(rc, 0);
}
