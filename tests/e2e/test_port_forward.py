"""The clients of the API tunnel against a real service in a real guest:
`thaw port-forward` (libthaw's thaw_sandbox_tunnel) and the Python SDK's
Sandbox.tunnel, each with connections at once, half-close passed on and
the refusals reported."""

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import thawlib as T

SDK_DIR = Path(__file__).resolve().parents[2] / "sdk" / "python"
sys.path.insert(0, str(SDK_DIR))
import thaw  # noqa: E402

pytestmark = pytest.mark.vm

PORT = 7001
# Echoes each connection's bytes; after the client's half-close, "BYE"
# (so the test sees the end of stream cross and the way back stay open).
ECHO = r"""
import socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", %d))
s.listen(64)
def serve(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.sendall(b"BYE")
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
""" % PORT


@pytest.fixture(scope="module")
def svc(template):
    sb = T.create(timeout_s=1800)
    sid = sb["id"]
    T.sh(sid, "cat > /tmp/echo.py && (python3 /tmp/echo.py >/dev/null 2>&1 &)", stdin=ECHO)
    T.wait_until(lambda: T.exec_(sid, f"grep -q ':{PORT:04X} ' /proc/net/tcp")["exit_code"] == 0,
                 30, 0.2, what="the echo service to listen")
    yield sid
    T.api("DELETE", f"/v1/sandboxes/{sid}")


def echo_round(addr, payload, results, i):
    """Sends payload, half-closes, expects payload + BYE back."""
    try:
        s = socket.create_connection(addr, timeout=60)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
        s.close()
        results[i] = got
    except OSError as e:
        results[i] = e


def concurrent_echoes(addr, n=2, size=256 << 10):
    payloads = [os.urandom(size) for _ in range(n)]
    results = [None] * n
    threads = [threading.Thread(target=echo_round, args=(addr, p, results, i))
               for i, p in enumerate(payloads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for p, r in zip(payloads, results):
        assert r == p + b"BYE", f"echo through {addr}: {r if isinstance(r, Exception) else len(r)}"


def test_cli_port_forward(svc):
    d = T.current()
    env = dict(os.environ, THAW_API_URL=d.url, THAW_API_KEY=d.key or "")
    p = subprocess.Popen([str(d.cli_bin), "port-forward", svc, f"0:{PORT}"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("Forwarding 127.0.0.1:") and line.rstrip().endswith(
            f"-> {svc}:{PORT}"), (line, p.poll())
        local = int(line.split()[1].rsplit(":", 1)[1])
        concurrent_echoes(("127.0.0.1", local), n=3)
        p.send_signal(signal.SIGINT)
        assert p.wait(30) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    # A port nothing listens on: the connection ends and the reason is printed.
    p = subprocess.Popen([str(d.cli_bin), "port-forward", svc, f"0:{PORT + 1}"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        local = int(p.stdout.readline().split()[1].rsplit(":", 1)[1])
        s = socket.create_connection(("127.0.0.1", local), timeout=60)
        assert s.recv(10) == b"", "a refused tunnel must close the local connection"
        s.close()
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
        err = p.stderr.read()
        assert f"nothing listens on port {PORT + 1}" in err, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    r = T.run_cli("port-forward", svc, "70000")
    assert r.returncode == 2, r
    T.check("thaw port-forward: 3 concurrent 256 KiB echoes with half-close, SIGINT/SIGTERM exit "
            "0, a refused port reported, a bad spec is a usage error")


def test_sdk_tunnel_two_connections(svc):
    d = T.current()
    sbx = thaw.Sandbox.connect(svc, client=thaw.Client(d.url, d.key))
    with sbx.tunnel(PORT) as tun:
        assert tun.host == "127.0.0.1" and tun.address == f"127.0.0.1:{tun.port}", tun
        concurrent_echoes((tun.host, tun.port), n=2)
    # Closed: nothing listens there any more.
    with pytest.raises(OSError):
        socket.create_connection((tun.host, tun.port), timeout=5)
    # One socket of its own, and the refusals as the SDK's errors.
    s = sbx.connect_port(PORT)
    s.sendall(b"one")
    s.shutdown(socket.SHUT_WR)
    got = b""
    while len(got) < 6:
        b = s.recv(100)
        if not b:
            break
        got += b
    s.close()
    assert got == b"oneBYE", got
    with pytest.raises(thaw.ThawError) as e:
        sbx.connect_port(PORT + 1)
    assert e.value.status == 502 and "nothing listens" in str(e.value), e.value
    T.check("SDK tunnel: two concurrent echoes over 127.0.0.1:PORT, closed after the with; "
            "connect_port echo; 502 as ThawError")


def test_sdk_publish(svc):
    d = T.current()
    sbx = thaw.Sandbox.connect(svc, client=thaw.Client(d.url, d.key))
    p = sbx.publish(PORT)
    addr, lo, hi = T.publish_range(T.SESSION_SLOT_CIDR)
    assert p["port"] == PORT and p["host_address"] == addr and lo <= p["host_port"] <= hi, p
    assert sbx.published_ports == [p], sbx.published_ports
    try:
        concurrent_echoes((p["host_address"], p["host_port"]), n=2, size=64 << 10)
    finally:
        sbx.unpublish(PORT)
    assert sbx.published_ports == [], sbx.published_ports
    with pytest.raises(OSError):
        socket.create_connection((p["host_address"], p["host_port"]), timeout=5).recv(1)
    T.check(f"SDK publish -> {p}, two echoes through it, unpublish empties published_ports")
