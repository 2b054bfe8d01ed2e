/* skip: stands in for a test that does not apply to this build (one about
 * the lock-free ring, in the portable build): prints why and exits 77, which
 * CTest reports as skipped. */
#include <stdio.h>

int main(int argc, char **argv) {
  printf("skipped: %s\n", argc > 1 ? argv[1] : "not part of this build");
  return 77;
}
