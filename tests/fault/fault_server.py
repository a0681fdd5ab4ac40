#!/usr/bin/env python3
"""fault_server.py — an HTTP server on 127.0.0.1 that misbehaves in every way `ovseg fetch` must
survive (Python standard library only).

    python3 tests/fault/fault_server.py [--port 0] [--dir IMAGES]   # prints "PORT <n>" when ready

Paths (IMAGES/NAME is a real image used by the paths that serve one):
    /stall/NAME         headers and 2 KB of the image, then silence           -> timeout
    /truncated/NAME     Content-Length of the whole image, half of it, close  -> connect
    /endless            an image header, then bytes forever (no length)       -> too_large
    /drip/NAME          one byte every 0.2 s                                  -> timeout
    /loop               302 to itself                                         -> redirect
    /chain/N/NAME       N redirects, then the image (N > 5 is too many)       -> ok | redirect
    /file               302 to file:///etc/passwd                             -> redirect
    /html               an HTML page with Content-Type text/html              -> not_image
    /wrongtype/NAME     the image with Content-Type text/plain                -> ok
    /noai/NAME          the image with X-Robots-Tag: noai                     -> noai
    /noai-other/NAME    X-Robots-Tag: otherbot: noai (not for us)             -> ok
    /bomb               a JPEG header claiming 30000x30000 pixels             -> too_large
    /biglen             Content-Length: 1000000000 (then a little)            -> too_large
    /status/CODE        that HTTP status                                      -> http_4xx | http_5xx
    /corrupt            a JPEG header for 200x200, then garbage               -> decode_error
    /img/NAME           the image, plainly                                    -> ok
    /slow/NAME          the image after 0.3 s; /stats gives the most /slow requests served at once
"""
import argparse
import os
import json
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def jpeg_header(w, h):
    """SOI, a quantisation table and a baseline SOF0 for w x h, 3 components."""
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([1] * 64)
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, h, w, 3) + b"\x01\x22\x00\x02\x11\x00\x03\x11\x00"
    return b"\xff\xd8" + dqt + sof


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    images = "."
    lock = threading.Lock()
    slow_now = 0
    slow_max = 0

    def log_message(self, fmt, *args):  # quiet
        pass

    def image(self, name):
        path = os.path.join(self.images, os.path.basename(name))
        with open(path, "rb") as f:
            return f.read()

    def send(self, code, body, ctype="image/jpeg", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, where, code=302):
        self.send_response(code)
        self.send_header("Location", where)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):  # noqa: C901 — one branch per fault
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        kind, rest = parts[0], parts[1:]
        try:
            if kind == "img":
                self.send(200, self.image(rest[0]))
            elif kind == "slow":
                with Handler.lock:
                    Handler.slow_now += 1
                    Handler.slow_max = max(Handler.slow_max, Handler.slow_now)
                time.sleep(0.3)
                with Handler.lock:
                    Handler.slow_now -= 1
                self.send(200, self.image(rest[0]))
            elif kind == "stats":
                self.send(200, json.dumps({"slow_max": Handler.slow_max}).encode(), "application/json")
            elif kind == "stall":
                body = self.image(rest[0])
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:2048])
                self.wfile.flush()
                time.sleep(60)
            elif kind == "truncated":
                body = self.image(rest[0])
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
            elif kind == "endless":
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                self.wfile.write(jpeg_header(640, 480))
                chunk = b"\x00" * 65536
                while True:
                    self.wfile.write(chunk)
            elif kind == "drip":
                body = self.image(rest[0])
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for b in body:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(0.2)
            elif kind == "loop":
                self.redirect("/loop")
            elif kind == "chain":
                n = int(rest[0])
                if n <= 0:
                    self.send(200, self.image(rest[1]))
                else:
                    self.redirect(f"/chain/{n - 1}/{rest[1]}", 301 if n % 2 else 302)
            elif kind == "file":
                self.redirect("file:///etc/passwd")
            elif kind == "html":
                self.send(200, b"<!doctype html><html><body>no image here</body></html>", "text/html")
            elif kind == "wrongtype":
                self.send(200, self.image(rest[0]), "text/plain")
            elif kind == "noai":
                self.send(200, self.image(rest[0]), extra=[("X-Robots-Tag", "noai, noimageai")])
            elif kind == "noai-other":
                self.send(200, self.image(rest[0]), extra=[("X-Robots-Tag", "otherbot: noai")])
            elif kind == "biglen":
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", "1000000000")
                self.end_headers()
                self.wfile.write(jpeg_header(640, 480))
                time.sleep(30)
            elif kind == "bomb":
                self.send(200, jpeg_header(30000, 30000) + b"\x00" * 4096)
            elif kind == "status":
                code = int(rest[0])
                self.send(code, b"status %d" % code, "text/plain")
            elif kind == "corrupt":
                self.send(200, jpeg_header(200, 200) + bytes(range(256)) * 40)
            else:
                self.send(404, b"unknown fault", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many transfers connect at once; a short backlog drops SYNs

    def handle_error(self, request, client_address):  # clients hang up on purpose: stay quiet
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir", default=".")
    a = ap.parse_args()
    Handler.images = a.dir
    srv = Server(("127.0.0.1", a.port), Handler)
    print(f"PORT {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
