"""faultsrv.py - a small HTTP server on 127.0.0.1 that misbehaves on purpose,
for photopipe's end-to-end tests.  Standard library only.

  GET /ok/NAME          serves ROOT/NAME
  GET /flaky/N/NAME     answers 503 to the first N requests for NAME, then serves it
  PUT /flaky/N/NAME     answers 503 to the first N requests, then 201 Created
  GET /status/CODE/NAME always answers CODE
  GET /hang/NAME        accepts the request and never answers (until --lifetime)
  GET /slow/MS/NAME     waits MS milliseconds, then serves ROOT/NAME
  PUT /status/CODE/NAME answers CODE (e.g. 507 Insufficient Storage)
  HEAD as GET without a body, except:
  HEAD /flaky/.., /status/..  404 (an album holding nothing), counted as "HEAD PATH"
  GET /stats            JSON: request count per path

The server binds port 0 and writes the port to --port-file; it exits by
itself after --lifetime seconds so a failed test can never leave it behind.
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {}
lock = threading.Lock()
args = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        sys.stderr.write("faultsrv: " + (fmt % a) + "\n")

    def send_body(self, code, body, ctype="application/octet-stream"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def serve_file(self, name):
        path = os.path.join(args.root, os.path.basename(name))
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return self.send_body(404, b"not found\n", "text/plain")
        self.send_body(200, data, "image/jpeg")

    def handle_any(self):
        path = self.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        if self.command == "HEAD" and parts[0] in ("flaky", "status"):
            # An album asked whether it holds a photo before a PUT: these
            # albums hold nothing.  Counted apart, so the PUT routes' counts
            # stay the PUTs'.
            with lock:
                counts["HEAD " + path] = counts.get("HEAD " + path, 0) + 1
            return self.send_body(404, b"", "text/plain")
        with lock:
            counts[path] = counts.get(path, 0) + 1
            seen = counts[path]
        if self.command == "PUT":
            length = int(self.headers.get("Content-Length", "0"))
            self.rfile.read(length)
        if path == "/stats":
            with lock:
                body = json.dumps(counts).encode()
            return self.send_body(200, body, "application/json")
        kind = parts[0] if parts else ""
        if kind == "ok" and len(parts) == 2:
            return self.serve_file(parts[1])
        if kind == "flaky" and len(parts) == 3:
            if seen <= int(parts[1]):
                return self.send_body(503, b"try again\n", "text/plain")
            if self.command == "PUT":
                return self.send_body(201, b"created\n", "text/plain")
            return self.serve_file(parts[2])
        if kind == "status" and len(parts) == 3:
            return self.send_body(int(parts[1]), b"status\n", "text/plain")
        if kind == "slow" and len(parts) == 3:
            time.sleep(int(parts[1]) / 1000.0)
            return self.serve_file(parts[2])
        if kind == "hang":
            time.sleep(args.lifetime)
            return
        self.send_body(404, b"no such route\n", "text/plain")

    do_GET = handle_any
    do_HEAD = handle_any
    do_PUT = handle_any


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--lifetime", type=float, default=100)
    args = ap.parse_args()
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
