"""bench/seed_pipeline.py - the seed's program 6 (worker pools pipeline), timed.

The seed's design kept as it is: ClosableQueue (close puts a sentinel,
iteration calls task_done), StoppableWorker, start_threads / stop_threads,
unbounded queues, 3 download, 4 resize and 5 upload threads with functions
that return their item.  Changed only to be measured: the item count comes
from --items (default 1,000,000, the seed has 1000), the items are the
integers 1..N instead of object() so that what reaches done_queue can be
checked, and the time from starting the threads to the last stop_threads is
printed as the benchmark's result line.  Exits 1 if done_queue does not hold
exactly 1..N.
"""
import argparse
import os
import resource
import sys
import time
from queue import Queue
from threading import Thread


def download(item):
    return item


def resize(item):
    return item


def upload(item):
    return item


class ClosableQueue(Queue):
    SENTINEL = object()

    def close(self):
        self.put(self.SENTINEL)

    def __iter__(self):
        while True:
            item = self.get()
            try:
                if item is self.SENTINEL:
                    return  # Cause the thread to exit
                yield item
            finally:
                self.task_done()


class StoppableWorker(Thread):
    def __init__(self, func, in_queue, out_queue):
        super().__init__()
        self.func = func
        self.in_queue = in_queue
        self.out_queue = out_queue

    def run(self):
        for item in self.in_queue:
            result = self.func(item)
            self.out_queue.put(result)


def start_threads(count, *args):
    threads = [StoppableWorker(*args) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def stop_threads(closable_queue, threads):
    for _ in threads:
        closable_queue.close()

    closable_queue.join()

    for thread in threads:
        thread.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1000000)
    ap.add_argument("--label", default="W4")
    args = ap.parse_args()
    n = args.items

    download_queue = ClosableQueue()
    resize_queue = ClosableQueue()
    upload_queue = ClosableQueue()
    done_queue = ClosableQueue()

    cpu0, t0 = time.process_time(), time.perf_counter()
    download_threads = start_threads(
        3, download, download_queue, resize_queue)
    resize_threads = start_threads(
        4, resize, resize_queue, upload_queue)
    upload_threads = start_threads(
        5, upload, upload_queue, done_queue)

    for i in range(1, n + 1):
        download_queue.put(i)

    stop_threads(download_queue, download_threads)
    stop_threads(resize_queue, resize_threads)
    stop_threads(upload_queue, upload_threads)
    secs = time.perf_counter() - t0
    cpu = time.process_time() - cpu0

    print(done_queue.qsize(), 'items finished', file=sys.stderr)

    got = []
    while not done_queue.empty():
        got.append(done_queue.get_nowait())
    if len(got) != n or sorted(got) != list(range(1, n + 1)):
        print("bench: W4 (seed program): done_queue holds %d items, not 1..%d"
              % (len(got), n), file=sys.stderr)
        sys.exit(1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("result\tworkload=%s\timpl=python-seed\titems=%d\tsecs=%.6f\t"
          "rate=%.1f\tcpu_ns=%d\tcpu_ns_per_item=%.2f\tload1=%.2f\tpinned=0\t"
          "rss_kb=%d\tcapacity=0\tproducers=1\tconsumers=5\t"
          "notes=unbounded\tstages=3/4/5"
          % (args.label, n, secs, n / secs, cpu * 1e9, cpu * 1e9 / n,
             os.getloadavg()[0], rss))


if __name__ == "__main__":
    main()
