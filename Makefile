# Convenience wrapper around CMake.  `make demo` runs the main job, `make test`
# runs every test in four builds; both install missing Debian packages first.
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps demo test test-plain test-asan test-tsan test-portable bench install clean

all: build/plain/.built

deps:
	@scripts/deps.sh core app

build/plain/.built: deps
	cmake -S . -B build/plain -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCV_WERROR=ON \
	      -DCV_VALGRIND=ON $(CMAKE_FLAGS)
	cmake --build build/plain -j$(JOBS)
	@touch $@

demo: build/plain/.built
	@scripts/demo.sh build/plain

# Plain build (gcc, plus valgrind memcheck of the unit tests), then
# AddressSanitizer+UBSan and ThreadSanitizer builds (clang), then the
# portable build (gcc, CV_LOCKFREE=OFF: C11 + pthreads, no lock-free ring).
test: test-plain test-asan test-tsan test-portable
	@echo "make test: all four builds passed"

test-plain: deps
	scripts/test-build.sh plain

test-asan: deps
	scripts/test-build.sh asan

test-tsan: deps
	scripts/test-build.sh tsan

test-portable: deps
	scripts/test-build.sh portable

bench:
	@scripts/deps.sh core app bench
	@bench/run.sh

install: build/plain/.built
	cmake --install build/plain

clean:
	rm -rf build
