# library_imports.cmake - the portable library (CV_LOCKFREE=OFF) calls no
# Linux-only interface: it imports neither syscall(2), through which the
# ring's event count reaches futex and membarrier, nor anything named after
# them.  What it does import is C, POSIX threads and POSIX time.
#   cmake -DLIB=libconveyor.so -DNM=nm -P library_imports.cmake
cmake_minimum_required(VERSION 3.18)
foreach(v LIB NM)
  if(NOT ${v})
    message(FATAL_ERROR "library_imports: ${v} is required")
  endif()
endforeach()

execute_process(COMMAND ${NM} -D --undefined-only ${LIB}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "library_imports: ${NM} failed on ${LIB}")
endif()
string(REGEX MATCHALL "[^\n]+" lines "${out}")
set(bad "")
set(n 0)
foreach(line IN LISTS lines)
  if(line MATCHES "^ *[Uw] +([^ @]+)")
    math(EXPR n "${n} + 1")
    if(CMAKE_MATCH_1 MATCHES "^(syscall|futex|membarrier)")
      list(APPEND bad "${CMAKE_MATCH_1}")
    endif()
  endif()
endforeach()
if(n EQUAL 0)
  message(FATAL_ERROR "library_imports: no imports read from ${LIB}")
endif()
if(bad)
  message(FATAL_ERROR "library_imports: the portable library imports ${bad}")
endif()
message(STATUS "library_imports: ${n} imports, none Linux-only")
