"""Raw TCP to a sandbox's port (issue 17, docs/ports.md): the API tunnel
(GET /v1/sandboxes/ID/tunnel/PORT upgraded to thaw-tunnel) against a real
echo service in a real guest: bytes both ways, half-close passed on, the
refusals before the upgrade, 200 tunnels at once to one sandbox,
open_tunnels on the sandbox, and delete and pause cutting live tunnels
(a new tunnel after resume, or with auto_resume, works again)."""

import socket
import time

import pytest

import thawlib as T

pytestmark = pytest.mark.vm

PORT = 7000
# A threaded echo server: each connection gets its bytes back, and after
# the client's half-close a final b"BYE" (so the test sees that the end
# of stream crossed the tunnel and the way back stayed open).
ECHO = r"""
import socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", %d))
s.listen(512)
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


def start_echo(sid):
    T.sh(sid, "cat > /tmp/echo.py && (python3 /tmp/echo.py >/dev/null 2>&1 &)", stdin=ECHO)
    T.wait_until(lambda: T.exec_(sid, f"grep -q ':{PORT:04X} ' /proc/net/tcp")["exit_code"] == 0,
                 30, 0.2, what="the echo service to listen")


def open_tunnel(sid, port, query="", headers=None, timeout=60):
    """Sends the upgrade on a raw socket; returns (socket, status, head,
    bytes after the head)."""
    d = T.current()
    s = socket.create_connection((d.addr, d.port), timeout=timeout)
    hdrs = headers if headers is not None else {"Connection": "Upgrade",
                                                "Upgrade": "thaw-tunnel"}
    lines = [f"GET /v1/sandboxes/{sid}/tunnel/{port}{query} HTTP/1.1", "Host: thaw",
             f"Authorization: Bearer {d.key}"] + [f"{k}: {v}" for k, v in hdrs.items()]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    head, _, rest = got.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return s, status, head.decode(errors="replace"), rest


def tunnel(sid, port=PORT, query=""):
    s, status, head, rest = open_tunnel(sid, port, query)
    assert status == 101, head + rest.decode(errors="replace")
    assert rest == b"", rest
    return s


def recv_exactly(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(min(65536, n - len(out)))
        assert chunk, f"the tunnel ended after {len(out)} of {n} bytes"
        out += chunk
    return out


def recv_all(s):
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


def ended(s, timeout=30):
    """Whether the peer closed s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def open_tunnels(sid):
    st, body = T.get(sid)
    assert st == 200, body
    return body["open_tunnels"]


@pytest.fixture(scope="module")
def svc(template):
    s = T.create(timeout_s=3600)
    start_echo(s["id"])
    yield s["id"]
    T.api("DELETE", f"/v1/sandboxes/{s['id']}")


def test_tunnel_carries_bytes_both_ways_and_half_close(svc):
    s = tunnel(svc)
    s.sendall(b"hello")
    assert recv_exactly(s, 5) == b"hello"
    assert open_tunnels(svc) == 1
    blob = bytes(range(256)) * 4096  # 1 MiB, every byte value
    s.sendall(blob)
    assert recv_exactly(s, len(blob)) == blob
    s.shutdown(socket.SHUT_WR)  # our end of stream reaches the service...
    assert recv_all(s) == b"BYE"  # ...which still answers, then closes
    s.close()
    T.wait_until(lambda: open_tunnels(svc) == 0, 10, 0.1, what="open_tunnels to drop to 0")
    T.check("tunnel: 5 B and 1 MiB echoed, half-close crossed (BYE after it), open_tunnels 1 then 0")


def test_refusals_before_the_upgrade(svc):
    for bad in ("0", "65536", "abc", "-1"):
        s, st, head, rest = open_tunnel(svc, bad)
        assert st == 400, head
        s.close()
    s, st, head, rest = open_tunnel(svc, PORT, headers={})
    assert st == 426 and b"Upgrade" in rest, head
    s.close()
    s, st, head, rest = open_tunnel("sb-aaaaaaaaaaaa", PORT)
    assert st == 404, head
    s.close()
    s, st, head, rest = open_tunnel(svc, 7001)
    assert st == 502 and f"nothing listens on port 7001 in sandbox {svc}".encode() in rest, \
        head + rest.decode(errors="replace")
    s.close()
    st, _, raw = T.request("GET", f"/v1/sandboxes/{svc}/tunnel/{PORT}",
                           headers={"Connection": "Upgrade", "Upgrade": "thaw-tunnel"},
                           key="wrong")
    assert st == 401, raw
    T.check("tunnel refusals: bad ports 400, no Upgrade 426, unknown sandbox 404, "
            "no listener 502 (named), wrong key 401")


def test_two_hundred_tunnels_at_once(svc):
    t0 = time.monotonic()
    socks = [tunnel(svc) for _ in range(200)]
    assert open_tunnels(svc) == 200
    for i, s in enumerate(socks):
        s.sendall(f"tunnel-{i:03d};".encode())
    for i, s in enumerate(socks):
        assert recv_exactly(s, 11) == f"tunnel-{i:03d};".encode()
    for s in socks:
        s.close()
    T.wait_until(lambda: open_tunnels(svc) == 0, 30, 0.2, what="200 tunnels to close")
    T.check(f"200 concurrent tunnels to one sandbox all carried their own bytes "
            f"({time.monotonic() - t0:.1f} s)")


def test_pause_cuts_tunnels_and_resume_reconnects(svc):
    s = tunnel(svc)
    s.sendall(b"before")
    assert recv_exactly(s, 6) == b"before"
    st, body = T.api("POST", f"/v1/sandboxes/{svc}/pause")
    assert st == 200, body
    assert ended(s), "pause left the tunnel open"
    s.close()
    s, st, head, rest = open_tunnel(svc, PORT)
    assert st == 409, head
    s.close()
    st, body = T.api("POST", f"/v1/sandboxes/{svc}/resume")
    assert st == 200, body
    s = tunnel(svc)
    s.sendall(b"after-resume")
    assert recv_exactly(s, 12) == b"after-resume"
    s.close()
    # auto_resume=true in the query resumes a paused sandbox first.
    st, body = T.api("POST", f"/v1/sandboxes/{svc}/pause")
    assert st == 200, body
    s = tunnel(svc, query="?auto_resume=true")
    s.sendall(b"auto")
    assert recv_exactly(s, 4) == b"auto"
    s.close()
    assert T.get(svc)[1]["state"] == "running"
    T.check("pause cut a live tunnel; 409 while paused; after resume and with "
            "auto_resume=true new tunnels reach the (restored) echo service")


def host_connect(host_port, timeout=30):
    addr, _, _ = T.publish_range(T.SESSION_SLOT_CIDR)
    return socket.create_connection((addr, host_port), timeout=timeout)


def refused_by_guard(host_port):
    """Whether a connection to host_port of the range goes nowhere: the
    nftables guard drops it (a time-out, not a reset by a listener)."""
    try:
        socket.create_connection(("127.0.0.1", host_port), timeout=1.5).close()
        return False
    except socket.timeout:
        return True


def echo_through(host_port, payload):
    s = host_connect(host_port)
    s.sendall(payload)
    got = recv_exactly(s, len(payload))
    s.shutdown(socket.SHUT_WR)
    tail = recv_all(s)
    s.close()
    return got + tail


def test_published_host_ports(svc, sandboxes):
    addr, lo, hi = T.publish_range(T.SESSION_SLOT_CIDR)
    t0 = time.monotonic()
    st, p = T.api("POST", f"/v1/sandboxes/{svc}/published", {"port": PORT})
    assert st == 201, p
    assert p["port"] == PORT and p["host_address"] == addr and lo <= p["host_port"] <= hi, p
    hp = p["host_port"]
    st, again = T.api("POST", f"/v1/sandboxes/{svc}/published", {"port": PORT})
    assert st == 200 and again == p, again  # idempotent
    for bad in ({}, {"port": 0}, {"port": "80"}, {"port": 80, "x": 1}):
        st, body = T.api("POST", f"/v1/sandboxes/{svc}/published", bad)
        assert st == 400, (bad, body)
    st, listed = T.api("GET", f"/v1/sandboxes/{svc}/published")
    assert st == 200 and listed == {"published": [p]}, listed
    assert T.get(svc)[1]["published_ports"] == [p]
    assert echo_through(hp, b"via-host-port") == b"via-host-portBYE"

    # A second sandbox, published at create: its port reaches it, not svc.
    other = sandboxes(publish=[PORT])
    assert len(other["published_ports"]) == 1, other
    hp2 = other["published_ports"][0]["host_port"]
    assert hp2 != hp and lo <= hp2 <= hi, other
    T.sh(other["id"], "(python3 -c 'import socket\n"
         "s=socket.socket();s.setsockopt(1,2,1);s.bind((\"0.0.0.0\",%d));s.listen(8)\n"
         "while True:\n c,_=s.accept();c.sendall(b\"other\");c.close()' "
         ">/dev/null 2>&1 &)" % PORT)
    T.wait_until(lambda: T.exec_(other["id"], f"grep -q ':{PORT:04X} ' /proc/net/tcp")
                 ["exit_code"] == 0, 30, 0.2, what="the second service to listen")
    s = host_connect(hp2)
    assert recv_all(s) == b"other"
    s.close()
    assert echo_through(hp, b"svc") == b"svcBYE"

    # Every other port of the range is dropped, even with a listener on it.
    free = next(x for x in range(lo, hi + 1) if x not in (hp, hp2))
    trap = socket.socket()
    trap.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    trap.bind(("127.0.0.1", free))
    trap.listen(8)
    assert refused_by_guard(free), f"port {free} of the range was reachable unpublished"
    trap.close()

    # Kept across pause/resume: closed while paused (no auto_resume), back after.
    st, body = T.api("POST", f"/v1/sandboxes/{svc}/pause")
    assert st == 200 and body["published_ports"] == [p], body
    s = host_connect(hp)
    assert ended(s, 30), "a connection to a paused sandbox's port stayed open"
    s.close()
    st, body = T.api("POST", f"/v1/sandboxes/{svc}/resume")
    assert st == 200, body
    assert echo_through(hp, b"resumed") == b"resumedBYE"

    # Re-opened by a restarted thawd (its rows and the sandboxes are kept).
    T.restart_thawd()
    assert T.get(svc)[1]["published_ports"] == [p]
    assert echo_through(hp, b"restarted") == b"restartedBYE"

    # Unpublished: the port goes back behind the guard.
    assert T.api("DELETE", f"/v1/sandboxes/{svc}/published/{PORT}")[0] == 204
    st, body = T.api("DELETE", f"/v1/sandboxes/{svc}/published/{PORT}")
    assert st == 404, body
    assert refused_by_guard(hp)
    assert T.get(svc)[1]["published_ports"] == []
    # Deleting a sandbox closes its published ports.
    T.delete(other["id"])
    assert refused_by_guard(hp2)
    T.check(f"published: {addr}:{hp} echoed, idempotent publish, bad bodies 400, create's "
            f"publish gave {hp2} reaching only its sandbox, unpublished range port dropped by "
            f"nft, closed while paused and back after resume and a thawd restart, unpublish "
            f"and delete closed them ({time.monotonic() - t0:.1f} s)")


def test_delete_cuts_a_live_tunnel(svc):
    s = tunnel(svc)
    s.sendall(b"x")
    assert recv_exactly(s, 1) == b"x"
    T.delete(svc)
    assert ended(s), "delete left the tunnel open"
    s.close()
    T.check("delete cut a live tunnel")
