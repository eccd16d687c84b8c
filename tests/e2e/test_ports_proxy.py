"""The HTTP port proxy (ANY /v1/sandboxes/ID/ports/PORT/...): bodies stream
both ways through thawd without being held whole, upgrades (WebSocket)
pass through to a real server in the guest, and a paused sandbox with
auto_resume is resumed by a proxied request."""

import base64
import hashlib
import http.client
import os
import socket
import threading
import time

import pytest

import thawlib as T

pytestmark = pytest.mark.vm

PORT = 8765
BIG = 64 << 20  # bytes each way: four times the old 16 MiB buffer
BLOCK = bytes(range(256)) * 256  # 64 KiB, what both sides repeat

# The guest's service, stdlib only: GET /big?n=N streams N bytes of BLOCK;
# POST /sink answers the sha256 and length of what it read (Content-Length
# or chunked); GET /ws takes a WebSocket handshake and echoes text frames.
SERVER_SRC = r'''
import base64, hashlib, http.server, socketserver, sys
BLOCK = bytes(range(256)) * 256
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        if self.path.startswith("/ws"):
            return self.websocket()
        n = int(self.path.split("n=")[1]) if "n=" in self.path else 5
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.send_header("X-Guest", "yes")
        self.send_header("X-Saw-Cookie", self.headers.get("Cookie", "-"))
        self.end_headers()
        while n:
            k = min(n, len(BLOCK))
            self.wfile.write(BLOCK[:k])
            n -= k
    def read_chunked(self, h):
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return total
            left = size
            while left:
                b = self.rfile.read(min(left, 1 << 16))
                h.update(b)
                left -= len(b)
            total += size
            self.rfile.readline()
    def do_POST(self):
        h = hashlib.sha256()
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            total = self.read_chunked(h)
        else:
            total = left = int(self.headers.get("Content-Length", "0"))
            while left:
                b = self.rfile.read(min(left, 1 << 16))
                if not b:
                    break
                h.update(b)
                left -= len(b)
        body = ("%s %d" % (h.hexdigest(), total)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            op, n = head[0] & 0x0F, head[1] & 0x7F
            if n == 126:
                n = int.from_bytes(self.rfile.read(2), "big")
            mask = self.rfile.read(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
            if op == 8:
                return
            reply = b"echo:" + data
            self.wfile.write(bytes([0x81, len(reply)]) + reply)
            self.wfile.flush()
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
S(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
'''


def start_server(sid):
    T.exec_(sid, ["sh", "-c", "cat > /tmp/proxy_server.py"], stdin=SERVER_SRC)
    T.sh(sid, f"nohup python3 /tmp/proxy_server.py {PORT} >/dev/null 2>&1 &")
    T.wait_until(lambda: T.api("GET", f"/v1/sandboxes/{sid}/ports/{PORT}/big?n=3")[0] == 200,
                 60, interval=0.3, what=f"the service on :{PORT} in {sid}")


@pytest.fixture(scope="module")
def served(template):
    """One sandbox (auto_resume set) running the service, for the module."""
    sb = T.create(auto_resume=True, timeout_s=1800)
    start_server(sb["id"])
    yield sb["id"]
    T.api("DELETE", f"/v1/sandboxes/{sb['id']}")


def conn():
    d = T.current()
    return http.client.HTTPConnection(d.addr, d.port, timeout=600)


def auth():
    return {"Authorization": f"Bearer {T.current().key}"}


def rss_kib():
    with open(f"/proc/{T.current().proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class PeakRss:
    """thawd's largest resident size while the block runs."""

    def __enter__(self):
        self.base = self.peak = rss_kib()
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.poll, daemon=True)
        self.t.start()
        return self

    def poll(self):
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, rss_kib())

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join()

    @property
    def growth_mib(self):
        return (self.peak - self.base) / 1024


def test_bodies_stream_both_ways_without_being_held(served):
    sid = served
    path = f"/v1/sandboxes/{sid}/ports/{PORT}"
    expect = hashlib.sha256(BLOCK * (BIG // len(BLOCK))).hexdigest()
    t0 = time.monotonic()
    with PeakRss() as up:
        # Upload of unknown length (chunked) from a generator: never in memory here either.
        c = conn()
        c.request("POST", f"{path}/sink", body=(BLOCK for _ in range(BIG // len(BLOCK))),
                  headers=auth(), encode_chunked=True)
        r = c.getresponse()
        got = r.read().decode()
        c.close()
    assert r.status == 200, got
    assert got == f"{expect} {BIG}", f"the guest read {got!r}, not {BIG} bytes of {expect}"
    t1 = time.monotonic()
    with PeakRss() as down:
        c = conn()
        c.request("GET", f"{path}/big?n={BIG}", headers=auth())
        r = c.getresponse()
        assert r.status == 200 and r.getheader("X-Guest") == "yes", r.status
        assert r.getheader("Content-Length") == str(BIG), r.getheaders()
        h, n = hashlib.sha256(), 0
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
        c.close()
    assert n == BIG and h.hexdigest() == expect, f"downloaded {n} bytes"
    t2 = time.monotonic()
    # The whole body held once would be 64 MiB; streamed, thawd holds buffers.
    for what, m in (("upload", up), ("download", down)):
        assert m.growth_mib < 24, f"{what}: thawd's RSS grew {m.growth_mib:.1f} MiB for 64 MiB"
    # A body over the old 16 MiB limit with a Content-Length goes through too.
    st, out = T.api("POST", f"{path}/sink", BLOCK * 300)
    assert st == 200 and out.endswith(f" {len(BLOCK) * 300}"), (st, out)
    T.check(f"64 MiB up in {t1 - t0:.1f} s (RSS +{up.growth_mib:.1f} MiB), "
            f"64 MiB down in {t2 - t1:.1f} s (RSS +{down.growth_mib:.1f} MiB)")


def test_client_going_away_ends_the_download(served):
    sid = served
    s = socket.create_connection((T.current().addr, T.current().port))
    s.sendall(f"GET /v1/sandboxes/{sid}/ports/{PORT}/big?n={1 << 40} HTTP/1.1\r\n"
              f"Host: x\r\nAuthorization: Bearer {T.current().key}\r\n\r\n".encode())
    assert s.recv(4096).startswith(b"HTTP/1.1 200"), "no answer head"
    s.close()
    # The guest's sender sees its connection cut (the server thread ends):
    # counted as established connections to the service's port.
    T.wait_until(lambda: T.sh(sid, f"awk '$2 ~ /:{PORT:04X}$/ && $4 == \"01\"' /proc/net/tcp "
                              "| wc -l").strip() == "0", 60, interval=0.5,
                 what="the guest's side of the abandoned download to close")
    T.check("a client that goes away ends the guest's transfer")


def ws_frame(text):
    data = text.encode()
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in
                                                          enumerate(data))


def test_websocket_upgrade_passes_through(served):
    sid = served
    key = base64.b64encode(os.urandom(16)).decode()
    s = socket.create_connection((T.current().addr, T.current().port), timeout=60)
    s.sendall(f"GET /v1/sandboxes/{sid}/ports/{PORT}/ws HTTP/1.1\r\nHost: x\r\n"
              f"Authorization: Bearer {T.current().key}\r\nConnection: Upgrade\r\n"
              f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
              f"Sec-WebSocket-Key: {key}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        assert b, f"closed during the head: {head!r}"
        head += b
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/1.1 101"), head
    hdrs = {ln.split(":", 1)[0].lower(): ln.split(":", 1)[1].strip() for ln in lines[1:] if ln}
    want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                         .encode()).digest()).decode()
    assert hdrs.get("sec-websocket-accept") == want, hdrs
    assert hdrs.get("upgrade", "").lower() == "websocket", hdrs
    for msg in ("hello", "second frame"):
        s.sendall(ws_frame(msg))
        got = b""
        while len(got) < 2 or len(got) < 2 + got[1]:
            b = s.recv(4096)
            assert b, "closed before the echo"
            got += b
        assert got == bytes([0x81, len(msg) + 5]) + b"echo:" + msg.encode(), got
    s.close()
    # A refused upgrade (not 101) is passed on as the guest's answer.
    st, _ = T.api("GET", f"/v1/sandboxes/{sid}/ports/{PORT}/ws",
                  headers={"Connection": "Upgrade", "Upgrade": "other"})
    assert st == 400, st
    # Nothing listening: thaw's JSON error.
    st, body = T.api("GET", f"/v1/sandboxes/{sid}/ports/{PORT + 1}/ws",
                     headers={"Connection": "Upgrade", "Upgrade": "websocket"})
    assert st == 502 and "nothing listens" in body["error"], (st, body)
    T.check("WebSocket handshake (Sec-WebSocket-Accept from the guest) and two echoed frames")


def test_paused_sandbox_resumes_only_with_auto_resume(served, sandboxes):
    path = f"/v1/sandboxes/{{}}/ports/{PORT}/big?n=7"
    plain = sandboxes(timeout_s=600)["id"]
    start_server(plain)
    for sid in (plain, served):
        st, _ = T.api("POST", f"/v1/sandboxes/{sid}/pause", {})
        assert st == 200, st
    st, body = T.api("GET", path.format(plain))
    assert st == 409 and body["code"] == "conflict", (st, body)
    assert T.get(plain)[1]["state"] == "paused"
    st, body = T.api("GET", path.format(served))
    assert st == 200, (st, body)
    assert T.get(served)[1]["state"] == "running"
    # An upgrade resumes it too.
    st, _ = T.api("POST", f"/v1/sandboxes/{served}/pause", {})
    assert st == 200
    st, _ = T.api("GET", f"/v1/sandboxes/{served}/ports/{PORT}/ws",
                  headers={"Connection": "Upgrade", "Upgrade": "other"})
    assert st == 400 and T.get(served)[1]["state"] == "running", st
    T.check("paused: 409 without auto_resume; resumed by a proxied GET and an upgrade with it")
