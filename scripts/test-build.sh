#!/usr/bin/env bash
# test-build.sh KIND - configure, build and run the whole CTest suite in one
# of the four builds: plain (gcc; unit tests also under valgrind), asan
# (clang, AddressSanitizer + UBSan), tsan (clang, ThreadSanitizer), portable
# (gcc, CV_LOCKFREE=OFF: C11 + pthreads only, no ring, no futex or
# membarrier; the ring's own tests report as skipped).
# Warnings are errors in all of them.  BUILD_ROOT (default build) picks where
# the build trees go; ONLY=regex runs a subset of the tests (ctest -R).
set -euo pipefail
kind=${1:?usage: test-build.sh plain|asan|tsan|portable}
jobs=${JOBS:-$(nproc)}
dir=${BUILD_ROOT:-build}/test-$kind
common=(-DCV_WERROR=ON -DCV_BUILD_TESTS=ON -DCV_BUILD_EXAMPLES=ON)
case "$kind" in
  plain) cfg=(-DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCV_VALGRIND=ON) ;;
  asan)  cfg=(-DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DCV_SANITIZE=address)
         export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
         export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ;;
  tsan)  cfg=(-DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCV_SANITIZE=thread)
         export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ;;
  portable) cfg=(-DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCV_LOCKFREE=OFF) ;;
  *) echo "test-build.sh: unknown build '$kind'" >&2; exit 2 ;;
esac
echo "=== $kind build"
cmake -S . -B "$dir" "${common[@]}" "${cfg[@]}" >/dev/null
cmake --build "$dir" -j"$jobs" >/dev/null || cmake --build "$dir" -j1
cd "$dir"
ctest -j"$jobs" --output-on-failure --timeout 600 ${ONLY:+-R "$ONLY"}
