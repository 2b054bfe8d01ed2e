"""bench/py_queue.py - the stream workloads on Python's queue.Queue.

The same workloads as bench/workloads.c, for the table's Python column:
W1/W2/W3 (P producers put 1..N, C consumers take them; with several consumers
each producer ends with C sentinels and a consumer stops at its P-th), W5 (wake-up latency) and W6 (batches: Python
has no batch call, so put and get loop, and a consumer takes what is there up
to the batch size with get_nowait after one blocking get).  Prints the same
tab-separated result line as the C drivers; exits 1 if the count, sum or sum
of squares of what arrived is wrong.
"""
import argparse
import os
import queue
import resource
import sys
import threading
import time

SENTINEL = object()


def fail(msg):
    print("bench: " + msg, file=sys.stderr)
    sys.exit(1)


def expected(n):
    return n, n * (n + 1) // 2, n * (n + 1) * (2 * n + 1) // 6


def stream(o, q, totals, lock):
    n, np_, nc = o.items, o.producers, o.consumers
    start = threading.Barrier(np_ + nc + 1)

    def producer(p):
        lo, hi = n * p // np_, n * (p + 1) // np_
        put = q.put
        start.wait()
        for v in range(lo + 1, hi + 1):
            put(v)
        if nc > 1:
            for _ in range(nc):
                put(SENTINEL)

    def consumer():
        get = q.get
        count = s = sq = prev = 0
        start.wait()
        if nc == 1:
            for _ in range(n):
                v = get()
                if np_ == 1 and v != prev + 1:
                    fail("%s: ORDER: got %d after %d" % (o.workload, v, prev))
                prev = v
                count += 1
                s += v
                sq += v * v
        else:
            sentinels = 0
            while True:
                v = get()
                if v is SENTINEL:
                    sentinels += 1
                    if sentinels == np_:
                        break
                    continue
                count += 1
                s += v
                sq += v * v
        with lock:
            totals[0] += count
            totals[1] += s
            totals[2] += sq

    cs = [threading.Thread(target=consumer) for _ in range(nc)]
    ps = [threading.Thread(target=producer, args=(p,)) for p in range(np_)]
    for t in cs + ps:
        t.start()
    start.wait()
    t0 = start_clock()
    for t in ps + cs:
        t.join()
    return time.perf_counter() - t0


def start_clock():
    """Notes the process's CPU time (every thread) and returns the wall clock."""
    global cpu0
    cpu0 = time.process_time()
    return time.perf_counter()


cpu0 = 0.0


def batch(o, q, totals, lock):
    n, b = o.items, o.batch
    start = threading.Barrier(3)

    def producer():
        put = q.put
        start.wait()
        v = 1
        while v <= n:
            chunk = list(range(v, min(v + b, n + 1)))
            for x in chunk:  # no put_many in queue.Queue: loop
                put(x)
            v += len(chunk)

    def consumer():
        get, get_nowait = q.get, q.get_nowait
        count = s = sq = prev = 0
        start.wait()
        while count < n:
            want = min(b, n - count)
            got = [get()]
            try:
                while len(got) < want:
                    got.append(get_nowait())
            except queue.Empty:
                pass
            for v in got:
                if v != prev + 1:
                    fail("W6: ORDER: got %d after %d" % (v, prev))
                prev = v
                count += 1
                s += v
                sq += v * v
        with lock:
            totals[0] += count
            totals[1] += s
            totals[2] += sq

    ts = [threading.Thread(target=consumer), threading.Thread(target=producer)]
    for t in ts:
        t.start()
    start.wait()
    t0 = start_clock()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


def latency(o, q):
    n, period = o.items, o.period_us * 1000
    lat = [0] * n
    start = threading.Barrier(3)

    def producer():
        start.wait()
        nxt = time.monotonic_ns()
        for _ in range(n):
            nxt += period
            d = nxt - time.monotonic_ns()
            if d > 0:
                time.sleep(d / 1e9)
            q.put(time.monotonic_ns())

    def consumer():
        prev = 0
        start.wait()
        for i in range(n):
            sent = q.get()
            now = time.monotonic_ns()
            if sent <= prev or sent > now:
                fail("W5: timestamp out of order")
            prev = sent
            lat[i] = now - sent

    ts = [threading.Thread(target=consumer), threading.Thread(target=producer)]
    for t in ts:
        t.start()
    start.wait()
    t0 = start_clock()
    for t in ts:
        t.join()
    secs = time.perf_counter() - t0
    lat.sort()
    return secs, "p50_ns=%d\tp99_ns=%d\tmax_ns=%d" % (
        lat[n * 50 // 100], lat[n * 99 // 100], lat[n - 1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="W1")
    ap.add_argument("--label")
    ap.add_argument("--items", type=int, default=100000)
    ap.add_argument("--capacity", type=int, default=1024)
    ap.add_argument("--producers", type=int, default=1)
    ap.add_argument("--consumers", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--period-us", type=int, default=1000)
    o = ap.parse_args()
    q = queue.Queue(maxsize=o.capacity)
    totals, lock = [0, 0, 0], threading.Lock()
    extra, notes = "", "-"
    if o.workload in ("W1", "W2", "W3"):
        secs = stream(o, q, totals, lock)
    elif o.workload == "W6":
        secs, notes = batch(o, q, totals, lock), "batch=loop"
    elif o.workload == "W5":
        secs, extra = latency(o, q)
    else:
        fail("py_queue.py: unknown workload %s" % o.workload)
    if o.workload != "W5":
        want = expected(o.items)
        got = (totals[0], totals[1] % 2**64, totals[2] % 2**64)
        want = (want[0], want[1] % 2**64, want[2] % 2**64)
        if got != want:
            fail("%s: CHECKSUM MISMATCH: got %s, want %s" % (o.workload, got, want))
    cpu = (time.process_time() - cpu0) * 1e9
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("result\tworkload=%s\timpl=python\titems=%d\tsecs=%.6f\trate=%.1f\t"
          "cpu_ns=%d\tcpu_ns_per_item=%.2f\tload1=%.2f\tpinned=0\t"
          "rss_kb=%d\tcapacity=%d\tproducers=%d\tconsumers=%d\tnotes=%s%s"
          % (o.label or o.workload, o.items, secs, o.items / secs, cpu,
             cpu / o.items, os.getloadavg()[0], rss,
             o.capacity, o.producers, o.consumers, notes,
             "\t" + extra if extra else ""))


if __name__ == "__main__":
    main()
