"""Request ids (docs/api.md#request-ids): every answer of the session thawd
carries X-Request-Id (the client's own when it is valid, else a new
req_<16 hex>), error bodies name the same id, and the log lines written
while a request is served end with req=<id>."""

import http.client
import json
import os
import re
import socket
import sys
from pathlib import Path

import thawlib as T

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python"))
import thaw  # noqa: E402

MADE = re.compile(r"^req_[0-9a-f]{16}$")


def rid(headers):
    ids = headers.get_all("X-Request-Id") or []
    assert len(ids) == 1, f"X-Request-Id {ids!r}: want exactly one"
    return ids[0]


def made(headers):
    got = rid(headers)
    assert MADE.match(got), f"X-Request-Id {got!r} is not req_ + 16 hex"
    return got


def error_names(status, headers, raw, want_status):
    """An error answer: its status, and its body's request_id is the header's."""
    assert status == want_status, (status, raw)
    body = json.loads(raw)
    assert body.get("request_id") == rid(headers), (dict(headers), body)
    return body


def upgrade_head(path, req_id):
    """Sends a shell upgrade; returns the answer's head (through the blank line)."""
    d = T.current()
    with socket.create_connection((d.addr, d.port), timeout=30) as s:
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {d.key}\r\n"
                   f"Connection: Upgrade\r\nUpgrade: thaw-shell\r\nX-Request-Id: {req_id}\r\n"
                   "\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, f"connection closed after {head!r}"
            head += chunk
    return head.split(b"\r\n\r\n")[0].decode(errors="replace")


def test_every_answer_names_its_request(template):
    d = T.current()
    mine = "e2e-create." + os.urandom(6).hex()
    st, h, raw = d.request("POST", "/v1/sandboxes", {"template": T.TEMPLATE},
                           headers={"X-Request-Id": mine})
    assert st == 201, raw
    assert rid(h) == mine
    sid = json.loads(raw)["id"]
    try:
        # The create's own log line (info, the session thawd's level) ends
        # with the id the client chose; no other request's line has it.
        T.wait_until(lambda: any(f"id={sid}" in ln and ln.endswith(f" req={mine}")
                                 for ln in d.log_text().splitlines()), 10,
                     what=f"sandbox.created of {sid} with req={mine}")
        st, h, _ = d.request("GET", f"/v1/sandboxes/{sid}")
        assert st == 200
        first = made(h)
        st, h, _ = d.request("GET", f"/v1/sandboxes/{sid}")
        assert made(h) != first, "two requests got one id"
        # A streamed answer (NDJSON exec) has it in its head.
        st, h, raw = d.request("POST", f"/v1/sandboxes/{sid}/exec",
                               {"cmd": "echo streamed", "stream": True})
        assert st == 200 and b'"exit"' in raw, raw
        made(h)
        # An upgrade's 101 too.
        head = upgrade_head(f"/v1/sandboxes/{sid}/shell", "e2e-shell-1")
        assert head.startswith("HTTP/1.1 101"), head
        assert re.search(r"(?im)^x-request-id: e2e-shell-1$", head), head
    finally:
        st, h, _ = d.request("DELETE", f"/v1/sandboxes/{sid}")
    assert st == 204
    made(h)
    T.check("X-Request-Id on 201, 200, a streamed 200, a 101 and a 204; a client's id "
            "echoed and found in the create's log line")


def test_errors_name_the_request_in_header_and_body():
    d = T.current()
    st, h, raw = d.request("GET", "/v1/sandboxes/sb-aaaaaaaaaaaa")
    error_names(st, h, raw, 404)
    made(h)
    st, h, raw = d.request("GET", "/v1/no-such-route")
    error_names(st, h, raw, 404)
    st, h, raw = d.request("GET", "/v1/sandboxes", key=None)
    error_names(st, h, raw, 401)
    st, h, raw = d.request("PUT", "/v1/sandboxes", headers={"X-Request-Id": "e2e-405"})
    assert error_names(st, h, raw, 405)["request_id"] == "e2e-405"
    assert h.get("Allow"), dict(h)
    st, h, raw = d.request("POST", "/v1/sandboxes", b"{" + b" " * (80 << 10) + b"}")
    error_names(st, h, raw, 413)
    T.check("404 (handler and unknown route), 401, 405, 413: header and body name one id")


def test_client_ids_kept_or_replaced():
    d = T.current()
    longest = "a" * 64
    for sent, kept in (("Trace.1:2_3-x", True), (longest, True), ("a" * 65, False),
                       ("bad id", False), ("x=y", False), ("é", False)):
        st, h, raw = d.request("GET", "/v1/sandboxes/sb-aaaaaaaaaaaa",
                               headers={"X-Request-Id": sent.encode().decode("latin-1")})
        assert st == 404, raw
        body = error_names(st, h, raw, 404)
        if kept:
            assert rid(h) == sent, (sent, dict(h))
        else:
            assert made(h) == body["request_id"], (sent, body)
    # Two requests on one kept-alive connection: each its own id.
    conn = http.client.HTTPConnection(d.addr, d.port, timeout=30)
    try:
        seen = []
        for _ in range(2):
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            seen.append(made(resp.headers))
        assert seen[0] != seen[1], seen
    finally:
        conn.close()
    T.check("valid client ids kept (up to 64 characters), others replaced, never refused; "
            "a kept-alive connection's requests each get their own")


def test_the_e2b_listener_names_its_requests():
    d = T.current()
    assert d.e2b_url, "the session thawd has no --e2b-listen"
    conn = http.client.HTTPConnection(d.addr, d.e2b_port, timeout=30)
    try:
        conn.request("GET", "/sandboxes", headers={"X-API-Key": d.key,
                                                   "X-Request-Id": "e2e-e2b-1"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200 and rid(resp.headers) == "e2e-e2b-1"
        conn.request("GET", "/sandboxes")  # no key: E2B's error shape, with the id
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 401 and body.get("request_id") == made(resp.headers), body
    finally:
        conn.close()
    T.check("the E2B front: X-Request-Id on a 200 and a 401, whose body names it")


def test_the_cli_and_the_sdk_show_the_id_of_a_failed_call():
    d = T.current()
    p = T.run_cli("get", "sb-aaaaaaaaaaaa")
    err = p.stderr.decode()
    assert p.returncode != 0, err
    assert re.search(r"^thaw: .*\(not_found, HTTP 404, request req_[0-9a-f]{16}\)$", err,
                     re.M), err
    try:
        thaw.Sandbox.connect("sb-aaaaaaaaaaaa", client=thaw.Client(d.url, d.key))
        raise AssertionError("connect to a missing sandbox succeeded")
    except thaw.errors.NotFound as e:
        assert MADE.match(e.request_id or ""), vars(e)
        assert f"request {e.request_id}" in str(e), str(e)
    T.check("thaw get and Sandbox.connect of a missing sandbox name the request id")
