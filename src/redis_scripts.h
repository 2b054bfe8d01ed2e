/* src/redis_scripts.h - the Lua scripts a distributed run executes on the
 * Redis server (redis_scripts.c). */
#ifndef CONVEYOR_REDIS_SCRIPTS_H
#define CONVEYOR_REDIS_SCRIPTS_H

enum {
  CV__LUA_INIT,    /* P n cap0..capn pkn: create the run (0 if it exists) */
  CV__LUA_PUT,     /* P j consumer k ng (count data)... -> {n, pk, free}
                      or {-1
                      closed, -2 cancelled, -3 gone} */
  CV__LUA_CLOSE,   /* P consumer: close stage 0 */
  CV__LUA_TOKENS,  /* P j consumer k: hold up to k slots of stage j */
  CV__LUA_TAKE,    /* P i consumer k maxdeliv reclaim own -> entries */
  CV__LUA_COMMIT,  /* P i consumer ni ng pk (entry: 8 fields)... groups */
  CV__LUA_ACKOUT,  /* P n consumer k (id count)... (the coordinator read
                      the output) */
  CV__LUA_STATE,   /* P -> {exists, meta..., xlens...} */
  CV__LUA_CANCEL,  /* P kind code stage msg */
  CV__LUA_CLEANUP, /* P lease_ms: delete the run's keys, leave "over" */
  CV__LUA_BEAT,    /* P proc lease_ms final (i busy starved blocked
                      workers)...: heartbeat + this process's stats */
  CV__LUA_COUNT
};

/* The text of script `which` (the enum above), or NULL if it could not be
 * built (out of memory).  Built once, kept for the life of the process. */
const char *cv__lua_script(int which);

#endif /* CONVEYOR_REDIS_SCRIPTS_H */
