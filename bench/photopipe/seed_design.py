"""seed_design.py - the seed's own pipeline design doing the real job:
ClosableQueue + StoppableWorker threads, 3 download / 4 resize / 5 upload
workers (as in the seed's program 6), urllib for HTTP GET and PUT, Pillow
for the resize (EXIF orientation honoured, fit inside WxH, JPEG quality Q).
Pillow's draft mode gives it JPEG shrink-on-load like libvips (--no-draft
decodes at full size, as code that calls exif_transpose before thumbnail
does).  Run with Debian's /usr/bin/python3 (it has Pillow).

  seed_design.py --base URL --album URL --size 800 --quality 85 NAME...

Prints one line: "<stored> stored, <failed> failed".
"""
import argparse
import io
import sys
import urllib.request
from queue import Queue
from threading import Thread

from PIL import Image, ImageOps


class ClosableQueue(Queue):
    SENTINEL = object()

    def close(self):
        self.put(self.SENTINEL)

    def __iter__(self):
        while True:
            item = self.get()
            try:
                if item is self.SENTINEL:
                    return
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
            if result is not None:
                self.out_queue.put(result)


def start_threads(count, *args):
    threads = [StoppableWorker(*args) for _ in range(count)]
    for t in threads:
        t.start()
    return threads


def stop_threads(closable_queue, threads):
    for _ in threads:
        closable_queue.close()
    closable_queue.join()
    for t in threads:
        t.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--album", required=True)
    ap.add_argument("--size", type=int, default=800)
    ap.add_argument("--quality", type=int, default=85)
    ap.add_argument("--workers", default="3,4,5")
    ap.add_argument("--no-draft", action="store_true",
                    help="decode at full size (no JPEG shrink-on-load)")
    ap.add_argument("names", nargs="+")
    a = ap.parse_args()
    nd, nr, nu = (int(x) for x in a.workers.split(","))
    failed = []

    def download(name):
        try:
            with urllib.request.urlopen(a.base + name, timeout=30) as r:
                return name, r.read()
        except Exception as e:  # one photo's failure, the rest go on
            failed.append((name, str(e)))
            return None

    def resize(item):
        name, data = item
        try:
            img = Image.open(io.BytesIO(data))
            if not a.no_draft:
                img.draft("RGB", (a.size, a.size))  # JPEG shrink-on-load
            img = ImageOps.exif_transpose(img)
            img.thumbnail((a.size, a.size))
            out = io.BytesIO()
            img.convert("RGB").save(out, "JPEG", quality=a.quality)
            return name, out.getvalue()
        except Exception as e:
            failed.append((name, str(e)))
            return None

    def upload(item):
        name, data = item
        req = urllib.request.Request(a.album + name, data=data, method="PUT")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                r.read()
            return name
        except Exception as e:
            failed.append((name, str(e)))
            return None

    download_queue = ClosableQueue()
    resize_queue = ClosableQueue()
    upload_queue = ClosableQueue()
    done_queue = ClosableQueue()
    download_threads = start_threads(nd, download, download_queue, resize_queue)
    resize_threads = start_threads(nr, resize, resize_queue, upload_queue)
    upload_threads = start_threads(nu, upload, upload_queue, done_queue)
    for name in a.names:
        download_queue.put(name)
    stop_threads(download_queue, download_threads)
    stop_threads(resize_queue, resize_threads)
    stop_threads(upload_queue, upload_threads)
    print(done_queue.qsize(), "stored,", len(failed), "failed")
    for name, why in failed[:5]:
        print("  ", name, why, file=sys.stderr)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
