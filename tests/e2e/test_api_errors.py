"""The API refuses bad requests with the right 4xx and a JSON error body
{"error": "...", "code": "..."}, and keeps serving afterwards."""

import os
import random
import socket
import threading
import time

import pytest

import thawlib as T

BAD_ID = "sb-aaaaaaaaaaaa"  # well formed, never issued in these tests


def assert_error(status, body, want_status, want_code=None, what=""):
    assert status == want_status, f"{what}: expected {want_status}, got {status}: {body!r}"
    assert isinstance(body, dict), f"{what}: error body is not a JSON object: {body!r}"
    assert isinstance(body.get("error"), str) and body["error"], f"{what}: no error text: {body}"
    assert isinstance(body.get("code"), str) and body["code"], f"{what}: no code: {body}"
    if want_code:
        assert body["code"] == want_code, f"{what}: code {body['code']!r}, want {want_code!r}"
    assert T.healthy(), f"thawd stopped serving after: {what}"


@pytest.fixture(scope="module")
def sb(template):
    """One sandbox the exec validation cases are sent to, so that a 400
    cannot be a 404 in disguise."""
    s = T.create(timeout_s=3600)
    yield s["id"]
    T.api("DELETE", f"/v1/sandboxes/{s['id']}")


# ---- authentication ----------------------------------------------------------

AUTHED = [("GET", "/v1/sandboxes", None), ("POST", "/v1/sandboxes", {}),
          ("GET", "/v1/templates", None), ("GET", "/v1/info", None),
          ("GET", f"/v1/sandboxes/{BAD_ID}", None), ("DELETE", f"/v1/sandboxes/{BAD_ID}", None),
          ("POST", f"/v1/sandboxes/{BAD_ID}/exec", {"cmd": "true"}),
          ("POST", "/v1/templates", {"name": T.TEMPLATE})]


@pytest.mark.parametrize("method,path,body", AUTHED, ids=[f"{m} {p}" for m, p, _ in AUTHED])
def test_missing_or_wrong_key_is_401(thawd, method, path, body):
    real = thawd.key
    for key, why in [(None, "no key"), ("wrong", "wrong key"), ("", "empty key"),
                     (real[:-1], "key minus its last character"), (real + "x", "key plus one"),
                     (real.upper(), "key in upper case")]:
        st, resp = T.api(method, path, body, key=key)
        assert_error(st, resp, 401, "unauthorized", f"{method} {path} with {why}")
    # Not Bearer at all.
    st, resp = T.api(method, path, body, key=None, headers={"Authorization": f"Basic {real}"})
    assert_error(st, resp, 401, "unauthorized", f"{method} {path} with Basic auth")
    T.check(f"{method} {path}: 401 for 7 kinds of bad key")


def test_healthz_needs_no_key(thawd):
    st, body = T.api("GET", "/healthz", key=None)
    assert st == 200 and body == {"status": "ok"}, (st, body)
    st, body = T.api("GET", "/healthz", key="wrong")
    assert st == 200, (st, body)
    st, body = T.api("GET", "/v1/info")
    assert st == 200 and body["data_dir"] == str(thawd.data_dir), body
    T.check("/healthz answers without or with a wrong key; /v1/info with the key")


# ---- bodies --------------------------------------------------------------------

CREATE_BAD = [
    (b"{", 400, "malformed JSON"),
    (b'{"template": "code-interpreter",}', 400, "trailing comma"),
    (b"[1, 2]", 400, "an array"),
    (b'"code-interpreter"', 400, "a string"),
    (b"42", 400, "a number"),
    (b"null", 400, "null"),
    (b'{"a": 1, "a": 2}', 400, "duplicate keys"),
    (b"\xff\xfe{}", 400, "not UTF-8"),
    ({"template": 5}, 400, "template: 5"),
    ({"template": None}, 400, "template: null"),
    ({"template": ""}, 400, "template: empty"),
    ({"template": "../etc"}, 400, "template: ../etc"),
    ({"template": "a/b"}, 400, "template: a/b"),
    ({"template": "Code-Interpreter"}, 400, "template: capitals"),
    ({"template": "x" * 64}, 400, "template: 64 characters"),
    ({"template": "code-interpreter\u0000"}, 400, "template: NUL"),
    ({"timeout_s": "x"}, 400, "timeout_s: string"),
    ({"timeout_s": 1.5}, 400, "timeout_s: fraction"),
    ({"timeout_s": -1}, 400, "timeout_s: negative"),
    ({"timeout_s": 10 ** 12}, 400, "timeout_s: huge"),
    ({"timeout_s": 2 ** 63 - 1}, 400, "timeout_s: int64 max"),
    ({"timeout_s": True}, 400, "timeout_s: true"),
    ({"metadata": []}, 400, "metadata: array"),
    ({"metadata": "x"}, 400, "metadata: string"),
    ({"metadata": {"big": "x" * 20000}}, 400, "metadata: too large"),
    ({"cold_boot": "yes"}, 400, "cold_boot: string"),
    ({"bogus": 1}, 400, "unknown field"),
    ({"template": "no-such-template"}, 404, "unknown template"),
]


@pytest.mark.parametrize("body,status,what", CREATE_BAD, ids=[c[2] for c in CREATE_BAD])
def test_create_rejects(thawd, body, status, what):
    before = set(T.list_ids())
    st, resp = T.api("POST", "/v1/sandboxes", body)
    assert_error(st, resp, status, None, f"create with {what}")
    assert set(T.list_ids()) == before, "a refused create left a sandbox behind"
    T.check(f"create with {what} -> {status} {resp['code']}: {resp['error']}")


EXEC_BAD = [
    (b"", "empty body"),
    (b"{", "malformed JSON"),
    (b"[]", "an array"),
    ({}, "cmd missing"),
    ({"cmd": 5}, "cmd: 5"),
    ({"cmd": []}, "cmd: []"),
    ({"cmd": ""}, "cmd: empty string"),
    ({"cmd": None}, "cmd: null"),
    ({"cmd": ["echo", 5]}, "cmd: array with a number"),
    ({"cmd": [""]}, "cmd: empty program"),
    ({"cmd": ["echo", "a\u0000b"]}, "cmd: NUL in argument"),
    ({"cmd": {"a": 1}}, "cmd: object"),
    ({"cmd": ["x"] * 5000}, "cmd: 5000 arguments"),
    ({"cmd": "true", "env": {"A": 1}}, "env value number"),
    ({"cmd": "true", "env": {"1A": "x"}}, "env name 1A"),
    ({"cmd": "true", "env": {"A=B": "x"}}, "env name with ="),
    ({"cmd": "true", "env": {"": "x"}}, "env name empty"),
    ({"cmd": "true", "env": ["A=1"]}, "env: array"),
    ({"cmd": "true", "env": "A=1"}, "env: string"),
    ({"cmd": "true", "cwd": "tmp"}, "cwd relative"),
    ({"cmd": "true", "cwd": ""}, "cwd empty"),
    ({"cmd": "true", "cwd": 5}, "cwd number"),
    ({"cmd": "true", "timeout_s": 0}, "timeout_s 0"),
    ({"cmd": "true", "timeout_s": -5}, "timeout_s negative"),
    ({"cmd": "true", "timeout_s": 10 ** 9}, "timeout_s huge"),
    ({"cmd": "true", "timeout_s": "x"}, "timeout_s string"),
    ({"cmd": "true", "stdin": 5}, "stdin number"),
    ({"cmd": "true", "stdin_b64": "!!!"}, "stdin_b64 not base64"),
    ({"cmd": "true", "stdin": "a", "stdin_b64": "YQ=="}, "stdin and stdin_b64"),
    ({"cmd": "true", "encoding": "hex"}, "encoding hex"),
    ({"cmd": "true", "encoding": 1}, "encoding number"),
    ({"cmd": "true", "bogus": 1}, "unknown field"),
]


@pytest.mark.parametrize("body,what", EXEC_BAD, ids=[c[1] for c in EXEC_BAD])
def test_exec_rejects(sb, body, what):
    st, resp = T.api("POST", f"/v1/sandboxes/{sb}/exec", body)
    assert_error(st, resp, 400, "invalid_request", f"exec with {what}")
    T.check(f"exec with {what} -> 400: {resp['error']}")


def test_exec_validation_does_not_break_the_sandbox(sb):
    r = T.exec_(sb, ["echo", "still here"])
    assert r["exit_code"] == 0 and r["stdout"] == "still here\n", r
    T.check("the sandbox that got every bad exec still runs commands")


def test_bake_rejects(thawd):
    cases = [({"name": "Bad/Name"}, 400, "name with / and capitals"),
             ({"name": "../etc"}, 400, "name ../etc"), ({}, 400, "no name"),
             ({"name": 5}, 400, "name 5"), ({"name": T.TEMPLATE, "x": 1}, 400, "unknown field"),
             (b"nope", 400, "malformed JSON"),
             ({"name": "no-such-recipe"}, 404, "unknown recipe")]
    for body, status, what in cases:
        st, resp = T.api("POST", "/v1/templates", body)
        assert_error(st, resp, status, None, f"bake with {what}")
        T.check(f"bake with {what} -> {status}")


# ---- URLs ------------------------------------------------------------------------

WEIRD_IDS = ["..%2F..%2Fetc", "sb-!!!", "sb-AAAAAAAAAAAA", "sb-aaaaaaaaaaa", "sb-aaaaaaaaaaaaa",
             "sb-aaaaaaaaaaa0", "%2e%2e", "..", ".", "sb-aaaa%2Faaaaaaa",
             "x" * 127, "x" * 200, "sb-aaaaaaaaaaa%20", "sb-aaaaaaaaaaaa%0a"]


@pytest.mark.parametrize("sid", WEIRD_IDS, ids=[w[:24] for w in WEIRD_IDS])
def test_bad_sandbox_ids_in_url(thawd, sid):
    for method, suffix, body in [("GET", "", None), ("DELETE", "", None),
                                 ("POST", "/exec", {"cmd": "true"})]:
        path = f"/v1/sandboxes/{sid}{suffix}"
        st, resp = T.api(method, path, body)
        assert st in (400, 404), f"{method} {path} answered {st}: {resp!r}"
        assert_error(st, resp, st, None, f"{method} {path}")
    T.check(f"{sid[:40]!r}: GET/DELETE/exec answer 400 or 404 with a JSON error")


def test_encoded_nul_does_not_cut_the_path(sandboxes):
    """%00 in the path must not make the server act on the part before it:
    DELETE /v1/sandboxes/<id>%00/x names no sandbox."""
    sid = sandboxes(timeout_s=600)["id"]
    results = []
    for method, path in [("POST", f"/v1/sandboxes/{sid}%00/exec"),
                         ("GET", f"/v1/sandboxes/{sid}%00"),
                         ("DELETE", f"/v1/sandboxes/{sid}%00/exec")]:
        st, resp = T.api(method, path, {"cmd": "true"} if method == "POST" else None)
        results.append((method, path, st))
        assert T.healthy()
    st, _ = T.get(sid)
    assert st == 200, f"the sandbox is gone after {results}"
    # DELETE on .../exec is a method the route does not allow: 405 is the
    # honest answer; what matters is that nothing acted on the id.
    allowed = {"POST": (400, 404), "GET": (400, 404), "DELETE": (400, 404, 405)}
    bad = [r for r in results if r[2] not in allowed[r[0]]]
    assert not bad, f"requests with %00 in the path were not refused: {bad}"
    T.check(f"%00 in the path: {results}")


@pytest.mark.parametrize("path", ["/v1/sandboxes/%ff%fe", "/v1/sandboxes/sb-aaaaaaaaaa%c3%28",
                                  "/v1/templates/%ff", "/v1/%ff"])
def test_invalid_utf8_in_url_gets_an_answer(thawd, path):
    """Bytes that are not UTF-8 in the path still get a 4xx with a JSON
    error, not a connection closed without a response."""
    try:
        st, resp = T.api("GET", path)
    except ConnectionError as e:
        st, resp = None, repr(e)
    assert T.healthy()
    assert st in (400, 404), f"GET {path} answered {st}: {resp!r}"
    assert_error(st, resp, st, None, f"GET {path}")
    T.check(f"GET {path} -> {st}")


def test_unknown_sandbox_is_404(thawd):
    for method, suffix, body in [("GET", "", None), ("DELETE", "", None),
                                 ("POST", "/exec", {"cmd": "true"})]:
        st, resp = T.api(method, f"/v1/sandboxes/{BAD_ID}{suffix}", body)
        assert_error(st, resp, 404, "not_found", f"{method} unknown sandbox")
    T.check(f"GET, DELETE and exec of {BAD_ID} -> 404 not_found")


def test_unknown_template_get(thawd):
    st, resp = T.api("GET", "/v1/templates/no-such-template")
    assert_error(st, resp, 404, "not_found", "GET unknown template")
    st, resp = T.api("GET", "/v1/templates/Bad..Name")
    assert_error(st, resp, 400, None, "GET template with a bad name")
    T.check("GET /v1/templates/<unknown> -> 404, <bad name> -> 400")


@pytest.mark.parametrize("path", ["/", "/v1", "/v1/", "/v1/nope", "/v2/sandboxes",
                                  "/v1/sandboxes/", f"/v1/sandboxes/{BAD_ID}/exec/more",
                                  "/v1/sandboxesx", "/healthz/x", "//v1/sandboxes"])
def test_unknown_route_is_404(thawd, path):
    st, resp = T.api("GET", path)
    assert_error(st, resp, 404, "not_found", f"GET {path}")
    T.check(f"GET {path} -> 404")


@pytest.mark.parametrize("method,path,allowed", [
    ("PUT", "/v1/sandboxes", {"GET", "POST"}),
    ("DELETE", "/v1/sandboxes", {"GET", "POST"}),
    ("PUT", f"/v1/sandboxes/{BAD_ID}", {"GET", "DELETE", "PATCH"}),
    ("GET", f"/v1/sandboxes/{BAD_ID}/exec", {"POST"}),
    ("DELETE", "/v1/templates", {"GET", "POST"}),
    ("PUT", "/v1/templates/code-interpreter", {"GET", "DELETE"}),
    ("GET", f"/v1/sandboxes/{BAD_ID}/fork", {"POST"}),
    ("DELETE", f"/v1/sandboxes/{BAD_ID}/pause", {"POST"}),
    ("POST", "/healthz", {"GET"}),
    ("POST", "/v1/info", {"GET"}),
])
def test_wrong_method_is_405_with_allow(thawd, method, path, allowed):
    st, headers, raw = T.request(method, path, {} if method in ("PUT", "PATCH", "POST") else None)
    body = T.decode_body(raw)
    assert st == 405, f"{method} {path} answered {st}: {body!r}"
    allow = headers.get("Allow")
    assert allow, f"405 without an Allow header: {dict(headers)}"
    assert {m.strip() for m in allow.split(",")} == allowed, f"Allow: {allow!r}"
    assert_error(st, body, 405, None, f"{method} {path}")
    T.check(f"{method} {path} -> 405, Allow: {allow}")


def test_body_over_16_mib_is_413(sb):
    big = b'{"cmd": "' + b"x" * (17 << 20) + b'"}'
    for path in ("/v1/sandboxes", f"/v1/sandboxes/{sb}/exec"):
        st, resp = T.api("POST", path, big)
        assert_error(st, resp, 413, "too_large", f"17 MiB body to {path}")
    # Just under the limit is read (and refused for what it says, not its size).
    almost = b'{"cmd": "true", "bogus": "' + b"x" * ((16 << 20) - 64) + b'"}'
    st, resp = T.api("POST", f"/v1/sandboxes/{sb}/exec", almost)
    assert_error(st, resp, 400, "invalid_request", "16 MiB - 30 bytes body")
    T.check("17 MiB bodies -> 413 on create and exec; a body just under 16 MiB is parsed")


def test_very_long_url(thawd):
    # Longer than a path parameter may be: no route.
    st, resp = T.api("GET", "/v1/sandboxes/" + "a" * 4000)
    assert_error(st, resp, 404, None, "GET with a 4000-character id")
    # Longer than the server's request buffer: refused by the HTTP layer.
    for n in (100_000, 1_000_000):
        try:
            st, _, raw = T.request("GET", "/v1/" + "a" * n, timeout=60)
        except (ConnectionError, OSError) as e:  # a reset is an acceptable refusal
            st, raw = None, repr(e).encode()
        assert st is None or 400 <= st < 500, f"{n}-character URL answered {st}: {raw[:200]!r}"
        assert T.healthy(), f"thawd stopped serving after a {n}-character URL"
        T.check(f"{n}-character URL -> {st or 'connection closed'}, server still serving")


def _garbage_worker(port, stop, errors, seed):
    rnd = random.Random(seed)
    payloads = [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /v1/sandboxes HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{",
        b"POST /v1/sandboxes HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/sandboxes HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /v1/sandboxes HTTP/1.1\r\nAuthorization: Bearer " + b"k" * 9000 + b"\r\n\r\n",
        b"\x00\x01\x02\xff" * 64,
        b"GET /v1/sandboxes/..%2F..%2Fetc HTTP/1.1\r\nHost: x\r\n\r\n",
        b"DELETE /v1/sandboxes/sb-!!! HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                data = rnd.choice(payloads) if rnd.random() < 0.7 else os.urandom(
                    rnd.randint(1, 4096))
                s.sendall(data)
                if rnd.random() < 0.5:
                    s.settimeout(2)
                    try:
                        s.recv(4096)
                    except OSError:
                        pass
        except OSError as e:
            if not stop.is_set() and isinstance(e, ConnectionRefusedError):
                errors.append(e)
                return


def test_concurrent_garbage_while_exec_works(thawd, sb):
    stop = threading.Event()
    errors = []
    workers = [threading.Thread(target=_garbage_worker, args=(thawd.port, stop, errors, i),
                                daemon=True) for i in range(6)]
    for w in workers:
        w.start()
    try:
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 8:
            r = T.exec_(sb, ["python3", "-c", f"print({n} * 3)"], timeout=60)
            assert r["exit_code"] == 0 and r["stdout"] == f"{n * 3}\n", r
            n += 1
        st, body = T.api("POST", "/v1/sandboxes", b"{not json")
        assert_error(st, body, 400, "invalid_request", "bad JSON amid garbage")
    finally:
        stop.set()
        for w in workers:
            w.join(30)
    assert not errors, f"thawd refused connections: {errors}"
    assert T.healthy()
    T.check(f"{n} valid execs succeeded while 6 threads sent garbage for 8 s")
