# install_check: installs the build tree into a scratch prefix, then builds a
# program outside the project against it three ways (find_package with the
# shared and the static library, and pkg-config) and runs each; with
# -DREDIS=ON the same for conveyor_redis.
# Run with -DBUILD=<build dir> -DSRC=<source dir> -DWORK=<scratch dir>.
file(REMOVE_RECURSE ${WORK})
set(prefix ${WORK}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_check: `${ARGN}` failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD} --prefix ${prefix})
run(${CMAKE_COMMAND} -S ${SRC}/tests/install -B ${WORK}/consumer
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK}/consumer)
run(${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${prefix}/lib ${WORK}/consumer/consumer_shared)
run(${WORK}/consumer/consumer_static)
if(REDIS)
  run(${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${prefix}/lib
      ${WORK}/consumer/consumer_redis_shared)
  run(${WORK}/consumer/consumer_redis_static)
endif()

# Builds and runs a program with the flags `pkg-config --cflags --libs pc`.
function(pc_consumer pc source exe)
  execute_process(COMMAND ${PKG_CONFIG} --cflags --libs ${pc}
                  OUTPUT_VARIABLE flags RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_check: pkg-config does not find ${pc}.pc in $ENV{PKG_CONFIG_PATH}")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(${CC} ${SRC}/tests/install/${source} ${flags} -o ${WORK}/${exe})
  run(${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${prefix}/lib ${WORK}/${exe})
endfunction()

find_program(PKG_CONFIG pkg-config)
find_program(CC NAMES cc gcc clang)
if(PKG_CONFIG AND CC)
  file(GLOB pcdir ${prefix}/lib*/pkgconfig ${prefix}/lib/*/pkgconfig)
  set(ENV{PKG_CONFIG_PATH} "${pcdir}")
  pc_consumer(conveyor main.c consumer_pc)
  # The core's .pc names no dependency beyond pthreads; conveyor-redis's
  # brings hiredis in.
  execute_process(COMMAND ${PKG_CONFIG} --print-requires --print-requires-private
                          conveyor OUTPUT_VARIABLE reqs)
  if(reqs MATCHES "hiredis")
    message(FATAL_ERROR "install_check: conveyor.pc requires hiredis")
  endif()
  if(REDIS)
    pc_consumer(conveyor-redis redis_main.c consumer_redis_pc)
  endif()
endif()
