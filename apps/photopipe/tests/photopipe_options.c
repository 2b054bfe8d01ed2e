/* photopipe_options.c - command-line parsing: defaults scale with the cores,
 * the seed's 3/4/5 is reproducible, every malformed value is a usage error
 * (2), and help/version stop early (3). */
#include <string.h>

#include "options.h"
#include "protocols.h"
#include "test.h"

static int parse(pp_options *o, int cpus, const char *const *args) {
  static char *argv[32]; /* o->sources points into it after return */
  int argc = 0;
  argv[argc++] = (char *)"photopipe";
  for (; *args; args++)
    argv[argc++] = (char *)*args;
  argv[argc] = NULL;
  pp_options_defaults(o, cpus);
  FILE *saved = stderr;
  stderr = fopen("/dev/null", "w"); /* usage errors are expected here */
  int rc = pp_options_parse(o, argc, argv);
  fclose(stderr);
  stderr = saved;
  return rc;
}

int main(void) {
  pp_options o;
  /* Defaults on 2 and on 64 cores. */
  CHECK_EQ(parse(&o, 2, (const char *[]){"in", "--to", "out", NULL}), 0);
  CHECK_EQ(o.workers[0], 4);
  CHECK_EQ(o.workers[1], 2);
  CHECK_EQ(o.workers[2], 4);
  CHECK_EQ(o.capacity[0], 8);
  CHECK_EQ(o.capacity[1], 2);
  CHECK_EQ(o.capacity[2], 8);
  CHECK_EQ(o.width, 1600);
  CHECK_EQ(o.quality, 85);
  CHECK_EQ(o.vips_threads, 1);
  CHECK_EQ(o.nsources, 1);
  CHECK(strcmp(o.sources[0], "in") == 0 && strcmp(o.album, "out") == 0);
  CHECK_EQ(parse(&o, 64, (const char *[]){"in", "--to", "out", NULL}), 0);
  CHECK_EQ(o.workers[0], 16);
  CHECK_EQ(o.workers[1], 64);
  CHECK_EQ(o.workers[2], 16);
  CHECK_EQ(parse(&o, 1, (const char *[]){"in", "--to", "out", NULL}), 0);
  CHECK_EQ(o.workers[0], 2);
  CHECK_EQ(o.workers[1], 1);

  /* The seed's 3/4/5, capacities following unless given. */
  CHECK_EQ(parse(&o, 2, (const char *[]){"-w", "3/4/5", "in", "--to", "x", NULL}), 0);
  CHECK(o.workers[0] == 3 && o.workers[1] == 4 && o.workers[2] == 5);
  CHECK(o.capacity[0] == 6 && o.capacity[1] == 4 && o.capacity[2] == 10);
  CHECK_EQ(parse(&o, 2, (const char *[]){"--workers=3,4,5", "--capacity", "1", "in", "--to",
                                         "x", NULL}),
           0);
  CHECK(o.capacity[0] == 1 && o.capacity[1] == 1 && o.capacity[2] == 1);
  CHECK_EQ(parse(&o, 2, (const char *[]){"--resize-workers", "7", "in", "--to", "x", NULL}), 0);
  CHECK(o.workers[1] == 7 && o.capacity[1] == 7 && o.workers[0] == 4);
  CHECK(o.auto_workers[0] && !o.auto_workers[1] && o.auto_workers[2]);

  /* Automatic workers by default and with -w auto; numbers pin them. */
  CHECK_EQ(parse(&o, 2, (const char *[]){"in", "--to", "x", NULL}), 0);
  CHECK(o.auto_workers[0] && o.auto_workers[1] && o.auto_workers[2]);
  CHECK_EQ(parse(&o, 2, (const char *[]){"-w", "3,4,5", "in", "--to", "x", NULL}), 0);
  CHECK(!o.auto_workers[0] && !o.auto_workers[1] && !o.auto_workers[2]);
  CHECK_EQ(parse(&o, 2, (const char *[]){"-w", "3,4,5", "-w", "auto", "in", "--to", "x", NULL}),
           0);
  CHECK(o.auto_workers[0] && o.auto_workers[1] && o.auto_workers[2]);
  CHECK(o.workers[0] == 3 && o.capacity[0] == 6); /* the budget and queues of 3/4/5 */
  CHECK(parse(&o, 2, (const char *[]){"-w", "automatic", "in", "--to", "x", NULL}) != 0);

  /* Values. */
  CHECK_EQ(parse(&o, 2, (const char *[]){"-s", "800x600", "-q", "70", "--max-pixels", "50M",
                                         "--timeout", "0.5", "--format", "keep",
                                         "--no-strip", "in", "--to", "x", NULL}),
           0);
  CHECK(o.width == 800 && o.height == 600 && o.quality == 70);
  CHECK_EQ(o.max_pixels, 50000000);
  CHECK_EQ(o.timeout_ms, 500);
  CHECK(o.format == PP_FORMAT_KEEP && o.strip == 0);
  CHECK_EQ(parse(&o, 2, (const char *[]){"-s", "640", "in", "--to", "x", NULL}), 0);
  CHECK(o.width == 640 && o.height == 640);
  CHECK(o.min_speed == 1024 && o.protocols == 0 && !o.keep_profile);
  CHECK_EQ(parse(&o, 2, (const char *[]){"--min-speed", "10k", "--protocols", "https,FILE",
                                         "--keep-profile", "in", "--to",
                                         "https://u:p@h/dav/?t=1", NULL}),
           0);
  CHECK(o.min_speed == 10240 && o.protocols == (PP_PROTO_HTTPS | PP_PROTO_FILE) &&
        o.keep_profile);

  /* Usage errors. */
  const char *const bad[][8] = {
      {"in", NULL},                                   /* no album */
      {"--to", "x", NULL},                            /* no sources */
      {"-s", "0x10", "in", "--to", "x", NULL},
      {"-s", "10y10", "in", "--to", "x", NULL},
      {"-q", "101", "in", "--to", "x", NULL},
      {"-q", "abc", "in", "--to", "x", NULL},
      {"-w", "3,4", "in", "--to", "x", NULL},
      {"-w", "3,0,5", "in", "--to", "x", NULL},
      {"-w", "3,4,5,6", "in", "--to", "x", NULL},
      {"--timeout", "-1", "in", "--to", "x", NULL},
      {"--format", "gif", "in", "--to", "x", NULL},
      {"--max-pixels", "12Q", "in", "--to", "x", NULL},
      {"--bogus", "in", "--to", "x", NULL},
      {"in", "--to", NULL},                           /* missing value */
      {"--json", "--quiet", "in", "--to", "x", NULL},
      {"--prefix", "http://cam/", "--to", "x", NULL}, /* prefix without names */
      {NULL},                                         /* nothing: the usage */
      {"in", "--to", "ftp://host/album", NULL},       /* album scheme */
      {"in", "--to", "file:///album", NULL},
      {"--protocols", "http,gopher", "in", "--to", "x", NULL},
      {"--protocols", "", "in", "--to", "x", NULL},
      {"--min-speed", "0", "in", "--to", "x", NULL},
      {"-lq", "in", "--to", "x", NULL},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = parse(&o, 2, bad[i]);
    if (rc != 2) {
      fprintf(stderr, "case %zu (%s %s) returned %d, want 2\n", i,
              bad[i][0] ? bad[i][0] : "", bad[i][0] && bad[i][1] ? bad[i][1] : "", rc);
      return 1;
    }
  }

  /* Subcommands. */
  CHECK_EQ(parse(&o, 2, (const char *[]){"demo", "--count", "5", NULL}), 0);
  CHECK(o.command == PP_CMD_DEMO && o.count == 5 && !o.size_set);
  CHECK_EQ(parse(&o, 2, (const char *[]){"demo", "extra", NULL}), 2);
  CHECK_EQ(parse(&o, 2, (const char *[]){"corpus", "dir", "--photo-size", "320x240", NULL}), 0);
  CHECK(o.command == PP_CMD_CORPUS && strcmp(o.corpus_dir, "dir") == 0 && o.corpus_w == 320);
  CHECK_EQ(parse(&o, 2, (const char *[]){"corpus", NULL}), 2);
  CHECK_EQ(parse(&o, 2, (const char *[]){"ls", "album", NULL}), 0);
  CHECK(o.command == PP_CMD_LS && strcmp(o.album, "album") == 0 && o.nsources == 0);
  CHECK_EQ(parse(&o, 2, (const char *[]){"ls", "--to", "album", NULL}), 0);
  CHECK(o.command == PP_CMD_LS && strcmp(o.album, "album") == 0);
  CHECK_EQ(parse(&o, 2, (const char *[]){"ls", NULL}), 2);
  CHECK_EQ(parse(&o, 2, (const char *[]){"ls", "a", "b", NULL}), 2);

  /* Folders are recursive unless told; the watch's settle time. */
  CHECK_EQ(parse(&o, 2, (const char *[]){"in", "--to", "x", NULL}), 0);
  CHECK(o.recursive == 1 && o.settle_ms == 2000);
  CHECK_EQ(parse(&o, 2, (const char *[]){"--no-recursive", "--settle", "500ms", "in", "--to",
                                         "x", NULL}),
           0);
  CHECK(o.recursive == 0 && o.settle_ms == 500);
  CHECK_EQ(parse(&o, 2, (const char *[]){"--settle", "1.5", "in", "--to", "x", NULL}), 0);
  CHECK_EQ(o.settle_ms, 1500);
  CHECK_EQ(parse(&o, 2, (const char *[]){"--settle", "3s", "in", "--to", "x", NULL}), 0);
  CHECK_EQ(o.settle_ms, 3000);
  CHECK_EQ(parse(&o, 2, (const char *[]){"--settle", "0", "in", "--to", "x", NULL}), 0);
  CHECK_EQ(o.settle_ms, 0);
  CHECK_EQ(parse(&o, 2, (const char *[]){"--settle", "-1", "in", "--to", "x", NULL}), 2);
  CHECK_EQ(parse(&o, 2, (const char *[]){"--settle", "2h", "in", "--to", "x", NULL}), 2);
  CHECK_EQ(parse(&o, 2, (const char *[]){"--settle", "", "in", "--to", "x", NULL}), 2);
  printf("options: ok\n");
  /* Across machines: a worker's threads (auto: 2 x cores, 2..16), the
   * coordinator's capacity, the lease, and what does not go together. */
  CHECK_EQ(parse(&o, 2, (const char *[]){"worker", "--broker", "redis://h", NULL}), 0);
  CHECK_EQ(o.command, PP_CMD_WORKER);
  CHECK_EQ(o.broker_workers, 4);
  CHECK(strcmp(o.run, "photopipe") == 0);
  CHECK_EQ(o.lease_ms, 30000);
  CHECK_EQ(parse(&o, 64, (const char *[]){"worker", "--broker", "redis://h", NULL}), 0);
  CHECK_EQ(o.broker_workers, 16);
  CHECK_EQ(parse(&o, 2, (const char *[]){"worker", "--broker", "redis://h", "-w", "3",
                                         "--run", "r.1", "--lease", "2.5", NULL}), 0);
  CHECK_EQ(o.broker_workers, 3);
  CHECK(strcmp(o.run, "r.1") == 0);
  CHECK_EQ(o.lease_ms, 2500);
  CHECK_EQ(parse(&o, 2, (const char *[]){"in", "--to", "out", "--broker", "redis://h", "-c",
                                         "10", NULL}), 0);
  CHECK_EQ(o.broker_capacity, 10);
  const char *const *broker_bad[] = {
      (const char *[]){"worker", NULL},
      (const char *[]){"worker", "--broker", "redis://h", "in", NULL},
      (const char *[]){"worker", "--broker", "redis://h", "--to", "out", NULL},
      (const char *[]){"worker", "--broker", "redis://h", "-w", "3,4,5", NULL},
      (const char *[]){"worker", "--broker", "redis://h", "-c", "8", NULL},
      (const char *[]){"worker", "--broker", "redis://h", "--run", "a/b", NULL},
      (const char *[]){"worker", "--broker", "redis://h", "--lease", "0.05", NULL},
      (const char *[]){"in", "--to", "out", "--broker", "redis://h", "-w", "3,4,5", NULL},
      (const char *[]){"in", "--to", "out", "--broker", "redis://h", "-c", "8,4,8", NULL},
      (const char *[]){"--watch", "in", "--to", "out", "--broker", "redis://h", NULL},
      (const char *[]){"in", "--to", "https://u:pw@h/a/", "--broker", "redis://h", NULL},
  };
  for (size_t i = 0; i < sizeof broker_bad / sizeof broker_bad[0]; i++)
    CHECK_EQ(parse(&o, 2, broker_bad[i]), 2);
  /* A user name alone is no secret. */
  CHECK_EQ(parse(&o, 2, (const char *[]){"in", "--to", "https://u@h/a/", "--broker",
                                         "redis://h", NULL}), 0);
  return 0;
}
