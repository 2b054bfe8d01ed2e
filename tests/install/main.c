/* A program outside the project that uses an installed conveyor. */
#include <conveyor.h>
#include <stdio.h>

int main(void) {
  cv_queue *q;
  if (cv_queue_create(&q, &(cv_queue_options){.capacity = 4}) != CV_OK)
    return 1;
  void *item = NULL;
  if (cv_queue_put(q, (void *)1, CV_NOWAIT) != CV_OK ||
      cv_queue_get(q, &item, CV_NOWAIT) != CV_OK || item != (void *)1)
    return 1;
  printf("conveyor %s: installed and usable\n", cv_version_string());
  return cv_queue_destroy(q) == CV_OK ? 0 : 1;
}
