"""faultsrv.py - a small HTTP server on 127.0.0.1 that misbehaves on purpose,
for photopipe's end-to-end tests.  Standard library only.

  GET /ok/NAME          serves ROOT/NAME
  GET /flaky/N/NAME     answers 503 to the first N requests for NAME, then serves it
  PUT /flaky/N/NAME     answers 503 to the first N requests, then 201 Created
  GET /status/CODE/NAME always answers CODE
  GET /hang/NAME        accepts the request and never answers (until --lifetime)
  GET /slow/MS/NAME     waits MS milliseconds, then serves ROOT/NAME
  PUT /status/CODE/NAME answers CODE (e.g. 507 Insufficient Storage)
  GET /cut/BYTES/NAME   serves ROOT/NAME with an ETag and byte ranges
                        (If-Range honoured); a request without a Range gets
                        the headers and only BYTES bytes of the body, then
                        the connection is closed
  GET /trickle/MS/NAME  serves ROOT/NAME in 16 KiB pieces, MS ms apart
  GET /redirect/HOST/PORT/NAME  302 to http://HOST:PORT/ok/NAME
  GET /auth/NAME        401 unless HTTP Basic "user:secret", then as /ok/
  PUT /auth/NAME        401 unless HTTP Basic "user:secret", then 201
  /auth/album/NAME      as /auth/NAME, but an album holding nothing: GET and
                        HEAD answer 404 (with the credentials), PUT 201
  HEAD as GET without a body, except:
  HEAD /flaky/.., /status/..  404 (an album holding nothing), counted as "HEAD PATH"
  GET /stats            JSON: request count per path
  GET /log              JSON: one record per request (method, path, query,
                        host, authorization, range, if-range)

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
log = []
lock = threading.Lock()
AUTH = "Basic " + __import__("base64").b64encode(b"user:secret").decode()
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

    def read_file(self, name):
        path = os.path.join(args.root, os.path.basename(name))
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            return None

    def serve_file(self, name):
        data = self.read_file(name)
        if data is None:
            return self.send_body(404, b"not found\n", "text/plain")
        self.send_body(200, data, "image/jpeg")

    def serve_cut(self, cut, name):
        data = self.read_file(name)
        if data is None:
            return self.send_body(404, b"not found\n", "text/plain")
        etag = '"v1-%d"' % len(data)
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and self.headers.get("If-Range") == etag:
            start = int(rng[6:].split("-")[0])
            self.send_response(206)
            self.send_header("ETag", etag)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])
            return
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        self.wfile.write(data[:cut])
        self.wfile.flush()
        self.close_connection = True

    def serve_trickle(self, ms, name):
        data = self.read_file(name)
        if data is None:
            return self.send_body(404, b"not found\n", "text/plain")
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for i in range(0, len(data), 16384):
            self.wfile.write(data[i:i + 16384])
            self.wfile.flush()
            time.sleep(ms / 1000.0)

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
            log.append({"method": self.command, "path": path,
                        "host": self.headers.get("Host"),
                        "query": self.path.split("?", 1)[1] if "?" in self.path else None,
                        "authorization": self.headers.get("Authorization"),
                        "range": self.headers.get("Range"),
                        "if_range": self.headers.get("If-Range")})
        if self.command == "PUT":
            length = int(self.headers.get("Content-Length", "0"))
            self.rfile.read(length)
        if path == "/stats":
            with lock:
                body = json.dumps(counts).encode()
            return self.send_body(200, body, "application/json")
        if path == "/log":
            with lock:
                body = json.dumps(log[:-1]).encode()  # not this request
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
        if kind == "cut" and len(parts) == 3:
            return self.serve_cut(int(parts[1]), parts[2])
        if kind == "trickle" and len(parts) == 3:
            return self.serve_trickle(int(parts[1]), parts[2])
        if kind == "redirect" and len(parts) == 4:
            self.send_response(302)
            self.send_header("Location", "http://%s:%s/ok/%s" % (parts[1], parts[2], parts[3]))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if kind == "auth" and len(parts) in (2, 3):
            if self.headers.get("Authorization") != AUTH:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="album"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.command == "PUT":
                return self.send_body(201, b"created\n", "text/plain")
            if len(parts) == 3:
                return self.send_body(404, b"", "text/plain")  # an album holding nothing
            return self.serve_file(parts[1])
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
