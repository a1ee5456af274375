"""Helpers for samples_smoke.sh (standard library only, loopback only).

  helpers.py pattern-sha N SEED     SHA-256 of the first N bytes of the
                                    gateway's /bytes pattern (xorshift64*,
                                    sdk/base/byte_pattern.h), computed here
                                    independently of any transport.
  helpers.py echo HOST PORT N       sends N random bytes to a TCP echo
                                    service, reads them back, checks them.
  helpers.py serve                  an HTTP server on 127.0.0.1:0 serving
                                    /chunked?n=N&seed=S (chunked coding) and
                                    /close?n=N&seed=S (no length, ends by
                                    closing); prints "READY PORT"; stops at
                                    the end of standard input.
"""
import array
import hashlib
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MASK = (1 << 64) - 1


def pattern(n, seed):
    state = (seed | 1) & MASK
    words = array.array("Q")
    for _ in range((n + 7) // 8):
        state ^= state >> 12
        state ^= (state << 25) & MASK
        state ^= state >> 27
        words.append((state * 2685821657736338717) & MASK)
    if sys.byteorder != "little":
        words.byteswap()
    return words.tobytes()[:n]


def echo(host, port, n):
    data = os.urandom(n)
    start = time.monotonic()
    sock = socket.create_connection((host, port), timeout=60)
    sock.settimeout(60)

    def send():
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send)
    sender.start()
    got = hashlib.sha256()
    received = 0
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        got.update(chunk)
        received += len(chunk)
    sender.join()
    sock.close()
    secs = time.monotonic() - start
    want = hashlib.sha256(data).hexdigest()
    ok = received == n and got.hexdigest() == want
    print("%s %d bytes in %.3f s (%.1f MiB/s) sha256 %s" %
          ("intact" if ok else "CORRUPT", received, secs,
           received / secs / 1048576, got.hexdigest()))
    return 0 if ok else 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        n = int(q.get("n", ["1000"])[0])
        seed = int(q.get("seed", ["0"])[0])
        body = pattern(n, seed)
        if url.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Done")
            self.end_headers()
            pos, size = 0, 1
            while pos < len(body):
                piece = body[pos:pos + size]
                # Varied sizes, hex in both cases, one chunk extension.
                head = ("%x" % len(piece)) if size % 2 else ("%X;ext=1" % len(piece))
                self.wfile.write(head.encode() + b"\r\n" + piece + b"\r\n")
                pos += len(piece)
                size = size * 3 + 7 if size < 100000 else 1
            self.wfile.write(b"0\r\nX-Done: yes\r\n\r\n")
        elif url.path == "/close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
        else:
            self.send_error(404)


def serve():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("READY %d" % server.server_address[1], flush=True)
    sys.stdin.read()
    server.shutdown()
    return 0


def main(argv):
    if argv[1] == "pattern-sha":
        print(hashlib.sha256(pattern(int(argv[2]), int(argv[3]))).hexdigest())
        return 0
    if argv[1] == "echo":
        return echo(argv[2], int(argv[3]), int(argv[4]))
    if argv[1] == "serve":
        return serve()
    print("unknown command", argv[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
