# run_example.cmake - runs one example program as a test and checks what it
# prints.  Used by cv_add_example() in examples/CMakeLists.txt:
#   cmake -DEXE=path [-DARGS=a;b] [-DEXPECT=file.expect] -P run_example.cmake
# Fails if the program exits non-zero (77 is passed on as a skip) or if its
# standard output does not match EXPECT.  An .expect file holds one regular
# expression per line, in blocks separated by a line "--"; the lines of a block
# must match the output in that order (each after the previous match), blocks
# are checked independently.  Lines starting with "#" are comments.  Blocks
# express a partial order: what one thread prints in sequence, or what one
# thread can only print after another thread acted.
if(NOT EXE)
  message(FATAL_ERROR "run_example.cmake: EXE is required")
endif()
execute_process(COMMAND ${EXE} ${ARGS}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}")
if(err)
  message("stderr:\n${err}")
endif()
if(rc EQUAL 77)
  # ctest sees the skip through SKIP_REGULAR_EXPRESSION on this marker.
  message("run_example: SKIP")
  return()
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "run_example: ${EXE} exited with '${rc}'")
endif()
if(NOT EXPECT)
  return()
endif()

file(STRINGS ${EXPECT} lines)
set(block 1)
set(rest "${out}")
foreach(line IN LISTS lines)
  if(line MATCHES "^#")
    continue()
  endif()
  if(line STREQUAL "--")
    math(EXPR block "${block} + 1")
    set(rest "${out}")
    continue()
  endif()
  string(REGEX MATCH "${line}" hit "${rest}")
  if(hit STREQUAL "")
    message(FATAL_ERROR "run_example: block ${block}: no match for '${line}' "
                        "(in order) in the output above")
  endif()
  # Continue the search after this match.
  string(FIND "${rest}" "${hit}" at)
  string(LENGTH "${hit}" len)
  math(EXPR at "${at} + ${len}")
  string(SUBSTRING "${rest}" ${at} -1 rest)
endforeach()
