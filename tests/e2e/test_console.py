"""The web console (issue 18): its files served by thawd at /console/
without a key and with a strict policy; the shell route's WebSocket
variant driven by a small client here (handshake, masked and fragmented
frames, ping, resize, the exit message, refusals); and the console in
Debian's Chromium (tests/console/console.test.mjs, playwright-core): a
sandbox made here is listed, its terminal runs a command, its files are
browsed, templates listed, a wrong key refused, with screenshots under
build/test-artifacts/console/."""

import base64
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

import thawlib as T

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "tests" / "console"
ARTIFACTS = REPO / "build" / "test-artifacts" / "console"
CHROMIUM = os.environ.get("THAW_CHROMIUM", "/usr/bin/chromium")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# -- a small WebSocket client (RFC 6455), standard library only ------------

class WS:
    """The shell route's WebSocket; at (addr, port), default the session's
    thawd (test_fleet_control.py uses it through the control plane)."""

    def __init__(self, sid, protocols=None, headers=None, query="rows=24&cols=80", key=...,
                 at=None):
        d = T.current()
        addr, port = at or (d.addr, d.port)
        self.sock = socket.create_connection((addr, port), timeout=30)
        self.pongs = []
        self.nonce = base64.b64encode(os.urandom(16)).decode()
        hdrs = {"Host": addr, "Connection": "Upgrade", "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": self.nonce}
        if protocols is not None:
            hdrs["Sec-WebSocket-Protocol"] = ", ".join(protocols)
        if key is not ...:
            hdrs["Authorization"] = f"Bearer {key}"
        hdrs.update(headers or {})
        lines = [f"GET /v1/sandboxes/{sid}/shell?{query} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in hdrs.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            assert chunk, f"closed before the answer's headers: {head!r}"
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        first, *rest = head.decode().split("\r\n")
        self.status = int(first.split()[1])
        self.headers = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in rest)}
        if self.status != 101:  # the error body follows
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                self.buf += self.sock.recv(4096)
            self.body = json.loads(self.buf[:n] or b"null")

    def send(self, opcode, data, fin=True):
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self, timeout=30):
        """(opcode, payload) of the next frame; the server never masks."""
        self.sock.settimeout(timeout)

        def need(n):
            while len(self.buf) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("the server closed the connection")
                self.buf += chunk
        need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "a server frame was masked"
        n, at = b1 & 0x7F, 2
        if n == 126:
            need(4)
            n, at = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            need(10)
            n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
        need(at + n)
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        assert b0 & 0x80, "the server fragments nothing"
        return b0 & 0x0F, payload

    def expect_output(self, needle, timeout=30):
        """Binary output until needle shows; text messages seen on the way."""
        seen, texts = b"", []
        deadline = time.monotonic() + timeout
        while needle.encode() not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} did not appear: {seen[-300:]!r}"
            op, data = self.recv(left)
            if op == 2:
                seen += data
            elif op == 1:
                texts.append(json.loads(data))
            elif op == 10:
                self.pongs.append(data)
            else:
                raise AssertionError(f"frame {op} before {needle!r}: {data!r}; saw {seen!r}")
        return seen, texts

    def close(self):
        self.sock.close()


def shell_ws(sid, **kw):
    key = T.current().key
    return WS(sid, protocols=["thaw-shell", f"thaw-key.{key}"], **kw)


def test_console_files_are_served_without_a_key(thawd):
    st, headers, _ = T.request("GET", "/console", key=None)
    assert st == 301 and headers["Location"] == "/console/", (st, headers)
    st, headers, raw = T.request("GET", "/console/", key=None)
    assert st == 200 and headers["Content-Type"].startswith("text/html"), (st, headers)
    assert raw == (REPO / "console" / "index.html").read_bytes()
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and \
        "'unsafe-inline'" not in csp, csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-cache"
    served = []
    for f in sorted((REPO / "console").iterdir()):
        st, headers, raw = T.request("GET", f"/console/{f.name}", key=None)
        assert st == 200 and raw == f.read_bytes(), (f.name, st)
        want = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}[f.suffix]
        assert headers["Content-Type"].startswith(want), (f.name, headers["Content-Type"])
        served.append(f.name)
    for bad in ("/console/nope.js", "/console/../api-key", "/console/app.js/x"):
        st, _, _ = T.request("GET", bad, key=None)
        assert st == 404, (bad, st)
    T.check(f"/console/ without a key: {len(served)} files equal to console/, with CSP, "
            "nosniff, no-cache; /console redirects; unknown files 404")


def test_websocket_shell(sandboxes):
    sid = sandboxes()["id"]
    ws = shell_ws(sid, query="rows=30&cols=100")
    assert ws.status == 101, (ws.status, getattr(ws, "body", None))
    assert ws.headers["upgrade"].lower() == "websocket"
    want = base64.b64encode(hashlib.sha1(ws.nonce.encode() + GUID).digest()).decode()
    assert ws.headers["sec-websocket-accept"] == want
    assert ws.headers["sec-websocket-protocol"] == "thaw-shell"
    ws.send(2, b"echo ws-$((6*7))-marker\r")
    ws.expect_output("ws-42-marker")
    ws.send(2, b"stty size\r")
    ws.expect_output("30 100")
    ws.send(1, json.dumps({"resize": {"rows": 33, "cols": 111}}).encode())
    time.sleep(0.3)
    # One message in three fragments, a ping between them.
    ws.send(2, b"stty ", fin=False)
    ws.send(9, b"are-you-there")
    ws.send(0, b"si", fin=False)
    ws.send(0, b"ze\r")
    ws.expect_output("33 111")
    ws.send(2, b"exit 5\r")
    texts = []
    while True:
        op, data = ws.recv()
        if op == 10:
            ws.pongs.append(data)
        elif op == 1:
            texts.append(json.loads(data))
        elif op == 8:
            code = struct.unpack(">H", data[:2])[0]
            break
    assert {"exit": 5} in texts, texts
    assert code == 1000, code
    assert ws.pongs == [b"are-you-there"], ws.pongs
    ws.close()
    T.check("WebSocket shell: 101 with the right accept and protocol, typed command echoed, "
            "stty 30x100 then 33x111 after a resize message (a fragmented message with a ping "
            "inside), pong, {\"exit\": 5} then close 1000")


def test_websocket_close_ends_the_command(sandboxes):
    sid = sandboxes()["id"]
    ws = shell_ws(sid, query="cmd=exec%20sleep%20600")
    assert ws.status == 101
    T.wait_until(lambda: "sleep" in T.sh(sid, "ps -eo comm"), 15, 0.2,
                 what="the shell command to start")
    ws.send(8, struct.pack(">H", 1000))
    op, _ = ws.recv()
    assert op == 8, op  # the server answers the close
    ws.close()
    T.wait_until(lambda: "sleep" not in T.sh(sid, "ps -eo comm"), 10, 0.2,
                 what="the command of a closed WebSocket to end")
    # A text message that is not a resize closes with 1007.
    ws = shell_ws(sid)
    ws.send(1, b'{"hello": 1}')
    while True:
        op, data = ws.recv()
        if op == 8:
            break
    assert struct.unpack(">H", data[:2])[0] == 1007
    ws.close()
    T.check("closing the WebSocket ends its command; a stray text message closes with 1007")


def test_websocket_shell_refusals(sandboxes):
    sid = sandboxes()["id"]
    key = T.current().key
    ws = WS(sid, protocols=["thaw-shell", "thaw-key.thaw_wrong"])
    assert ws.status == 401, ws.status
    ws.close()
    ws = WS(sid, protocols=["thaw-shell"])
    assert ws.status == 401, ws.status
    ws.close()
    ws = WS(sid)
    assert ws.status == 401, ws.status
    ws.close()
    # The key as a header works as well (a non-browser client).
    ws = WS(sid, key=key)
    assert ws.status == 101 and "sec-websocket-protocol" not in ws.headers, ws.headers
    ws.close()
    ws = WS(sid, protocols=["thaw-shell", f"thaw-key.{key}"],
            headers={"Sec-WebSocket-Version": "8"})
    assert ws.status == 400 and "Version" in ws.body["error"], (ws.status, ws.body)
    ws.close()
    ws = WS(sid, protocols=["thaw-shell", f"thaw-key.{key}"],
            headers={"Sec-WebSocket-Key": "c2hvcnQ="})
    assert ws.status == 400 and "Key" in ws.body["error"], (ws.status, ws.body)
    ws.close()
    # Only on upgrades: a plain request cannot carry its key that way.
    st, _, _ = T.request("GET", "/v1/info", key=None,
                         headers={"Sec-WebSocket-Protocol": f"thaw-key.{key}"})
    assert st == 401, st
    ws = WS("sb-aaaaaaaaaaaa", protocols=["thaw-shell", f"thaw-key.{key}"])
    assert ws.status == 404, ws.status
    ws.close()
    T.check("WebSocket shell refusals: wrong key 401, no key 401, version 8 and a short "
            "Sec-WebSocket-Key 400, the key in Sec-WebSocket-Protocol ignored on a plain "
            "request (401), unknown sandbox 404")


@pytest.fixture(scope="session")
def console_driver():
    """playwright-core, installed once per session from the lockfile."""
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing (scripts/install-deps.sh installs nodejs and npm)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing (scripts/install-deps.sh installs Debian's chromium)")
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=SUITE,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"npm ci in {SUITE} failed:\n{r.stdout}\n{r.stderr}"
    return SUITE


def test_console_in_chromium(sandboxes, console_driver):
    d = T.current()
    sid = sandboxes()["id"]
    name = f"console-test-{os.getpid()}.txt"
    T.sh(sid, f"echo console-test-content > /root/{name}")
    env = {**os.environ, "THAW_URL": d.url, "THAW_KEY": d.key, "THAW_SANDBOX": sid,
           "THAW_FILE": f"/root/{name}", "THAW_ARTIFACTS": str(ARTIFACTS),
           "THAW_CHROMIUM": CHROMIUM}
    known = set(T.list_ids())
    t0 = time.monotonic()
    try:
        r = subprocess.run(["node", str(SUITE / "console.test.mjs")], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=300)
    finally:
        for other in set(T.list_ids()) - known:  # what the page's Create made
            d.api("DELETE", f"/v1/sandboxes/{other}")
    took = time.monotonic() - t0
    print(r.stdout)
    assert r.returncode == 0, f"console.test.mjs failed:\n{r.stdout}\n{r.stderr}"
    T.check(f"the console in Chromium in {took:.1f} s: list, create and delete, terminal, "
            f"files (open, upload), templates, wrong key; screenshots in {ARTIFACTS}")
