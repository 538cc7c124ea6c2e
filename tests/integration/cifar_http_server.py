#!/usr/bin/env python3
"""A local HTTP server for tests/integration/download.sh: serves ROOT with byte ranges, plus
paths that misbehave the way real networks and servers do. Python 3 standard library only.

    cifar_http_server.py ROOT PORT_FILE LOG_FILE

Listens on 127.0.0.1 on a free port, which it writes to PORT_FILE (atomically) and prints.
Each request appends one line to LOG_FILE: "GET /path Range: bytes=N-" ("Range: -" if none).

    /FILE                  the file; a Range header gets 206 with Content-Range
    /drop/N/FILE           first request: promises the whole file, sends N bytes, drops the
                           connection; later requests: as /FILE
    /stall/N/FILE          first request: sends N bytes, then nothing for 30 s; later: as /FILE
    /norange/FILE          ignores Range: always 200 with the whole file
    anything missing       404
"""
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = ""
LOG_FILE = ""
_lock = threading.Lock()
_seen = set()  # paths already requested once (for the first-request-only modes)


def first_request(path):
    with _lock:
        if path in _seen:
            return False
        _seen.add(path)
        return True


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # the default logs every request to stderr
        pass

    def do_GET(self):
        range_header = self.headers.get("Range")
        with _lock, open(LOG_FILE, "a") as log:
            log.write(f"GET {self.path} Range: {range_header or '-'}\n")
        parts = self.path.split("?")[0].lstrip("/").split("/")
        mode, limit = "plain", None
        if len(parts) >= 3 and parts[0] in ("drop", "stall"):
            mode, limit, parts = parts[0], int(parts[1]), parts[2:]
        elif len(parts) >= 2 and parts[0] == "norange":
            mode, parts = "norange", parts[1:]
        file = os.path.join(ROOT, *parts)
        if ".." in parts or not os.path.isfile(file):
            self.send_error(404, "no such file")
            return
        with open(file, "rb") as f:
            body = f.read()
        try:
            if mode in ("drop", "stall") and first_request(self.path):
                self.send_whole(body, limit, stall=(mode == "stall"))
            elif range_header and mode != "norange":
                self.send_range(body, range_header)
            else:
                self.send_whole(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout under test)

    def send_whole(self, body, limit=None, stall=False):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body if limit is None else body[:limit])
        self.wfile.flush()
        if limit is None:
            return
        if stall:
            time.sleep(30)
        # Drop the connection with the body unfinished: the client sees a partial transfer.
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def send_range(self, body, header):
        # Only "bytes=START-" and "bytes=START-END", which is what download clients send.
        start_text, _, end_text = header.removeprefix("bytes=").partition("-")
        start = int(start_text)
        end = int(end_text) if end_text else len(body) - 1
        if start >= len(body):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        end = min(end, len(body) - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(body[start:end + 1])


def main():
    global ROOT, LOG_FILE
    ROOT, port_file, LOG_FILE = sys.argv[1], sys.argv[2], sys.argv[3]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    with open(port_file + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.replace(port_file + ".tmp", port_file)
    print(f"serving {ROOT} on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
