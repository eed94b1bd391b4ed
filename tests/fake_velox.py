#!/usr/bin/env python3
"""A tiny Velox-compatible build server for the C host tests (stdlib only).

Speaks Connect's unary JSON on POST /api.service.v1.BuildService/Build, like `vx server`.
What it answers depends on the first plugin's tag in the request:

    ...-hang     never answers; writes "dropped <tag>" to the events file when the
                 client hangs up
    ...-reject   400 {"code": "invalid_argument", ...}
    ...-fail     500 {"code": "internal", ...}
    anything     200 {"path": <a fresh binary under --dir>, "logs": ...}

It binds 127.0.0.1 on a free port and writes the port to --port-file once listening.
Every call is appended to the events file as "call <tag>".
"""

import argparse
import json
import os
import select
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUILD_PATH = "/api.service.v1.BuildService/Build"
BINARY = b"\x7fELF fake roadrunner binary\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, help="where built binaries are written")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--events", required=True)
    ap.add_argument("--max-seconds", type=float, default=120.0,
                    help="exit after this long whatever happens")
    args = ap.parse_args()
    lock = threading.Lock()
    counter = [0]

    def event(line):
        with lock:
            with open(args.events, "a") as f:
                f.write(line + "\n")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if self.path != BUILD_PATH:
                return self.answer(404, {"code": "unimplemented", "message": self.path})
            try:
                req = json.loads(raw)
                tag = req["plugins"][0]["tag"]
            except (ValueError, KeyError, IndexError, TypeError) as e:
                return self.answer(400, {"code": "invalid_argument", "message": str(e)})
            event("call " + tag)
            if tag.endswith("-hang"):
                # Wait for the client to go away (EOF or reset), bounded.
                self.connection.setblocking(True)
                ready, _, _ = select.select([self.connection], [], [], 60)
                if ready:
                    try:
                        self.connection.recv(1)
                    except OSError:
                        pass
                event("dropped " + tag)
                self.close_connection = True
                return
            if tag.endswith("-reject"):
                return self.answer(400, {"code": "invalid_argument",
                                         "message": "validating request: plugins[0].tag: rejected"})
            if tag.endswith("-fail"):
                return self.answer(500, {"code": "internal",
                                         "message": "building plugins: exit status 1"})
            with lock:
                counter[0] += 1
                n = counter[0]
            out = os.path.join(args.dir, "build-%d" % n)
            os.makedirs(out, exist_ok=True)
            path = os.path.join(out, "rr")
            with open(path, "wb") as f:
                f.write(BINARY)
            return self.answer(200, {"path": path, "logs": "fake build of " + tag})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    timer = threading.Timer(args.max_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
