"""Every route has a body limit (413 too_large with a JSON message), and
hostile path parameters (.., escaped slashes, very long) on every route
family get a 400 or 404 with a JSON error before they reach a path, a
guest or SQL. Runs against the session thawd (no guest needed: the
checks happen before any sandbox is touched)."""

import pytest

import thawlib as T

BAD_ID = "sb-aaaaaaaaaaaa"  # well formed, never issued
NONE, CTRL, DATA = 4 << 10, 64 << 10, 16 << 20

# (method, path, limit): one per route, the sandbox routes on an id that
# does not exist (the size is judged before the id is looked up).
S = f"/v1/sandboxes/{BAD_ID}"
LIMITS = [
    ("GET", "/v1/info", NONE), ("GET", "/v1/sandboxes", NONE), ("POST", "/v1/sandboxes", CTRL),
    ("GET", S, NONE), ("DELETE", S, NONE), ("POST", f"{S}/exec", DATA),
    ("POST", f"{S}/run_code", DATA), ("GET", f"{S}/shell", NONE),
    ("GET", f"{S}/commands/2", NONE), ("POST", f"{S}/commands/2/kill", CTRL),
    ("POST", f"{S}/fork", CTRL), ("POST", f"{S}/pause", CTRL), ("POST", f"{S}/resume", CTRL),
    ("POST", f"{S}/snapshot", CTRL), ("POST", f"{S}/keepalive", CTRL),
    ("GET", f"{S}/files?path=/x", NONE), ("DELETE", f"{S}/files?path=/x", NONE),
    ("GET", f"{S}/files/stat?path=/", NONE), ("GET", f"{S}/files/list?path=/", NONE),
    ("POST", f"{S}/files/mkdir", CTRL), ("GET", "/v1/templates", NONE),
    ("POST", "/v1/templates", CTRL), ("GET", "/v1/templates/x", NONE),
    ("DELETE", "/v1/templates/x", NONE),
]


def assert_error(st, body, want, code, what):
    assert st == want, f"{what}: expected {want}, got {st}: {body!r}"
    assert isinstance(body, dict) and body.get("error") and body.get("code") == code, \
        f"{what}: not a JSON error with code {code}: {body!r}"


@pytest.mark.parametrize("method,path,limit", LIMITS, ids=[f"{m} {p}" for m, p, _ in LIMITS])
def test_every_route_has_a_body_limit(thawd, method, path, limit):
    st, resp = T.api(method, path, b"x" * (limit + 1))
    assert_error(st, resp, 413, "too_large", f"{method} {path} with {limit + 1} bytes")
    assert str(limit) in resp["error"], resp
    # A wrong key never gets that far (and its body is not kept).
    st, resp = T.api(method, path, b"x" * (limit + 1), key="wrong-key-0123456789")
    assert_error(st, resp, 401, "unauthorized", f"{method} {path} oversize, wrong key")
    # At the limit the body is read and judged for what it says.
    st, resp = T.api(method, path, b"x" * limit)
    assert st != 413, f"{method} {path}: {limit} bytes refused as too large: {resp!r}"
    assert T.healthy()
    T.check(f"{method} {path}: {limit + 1} bytes -> 413, {limit} bytes -> {st}")


HOSTILE = ["..", "%2e%2e", "%2f", "..%2f..%2fetc", "sb-%2f%2f%2f%2f%2f%2f", "sb-aaaaaaaaaa..",
           "sb-aaaaaaaaaaa%00", "x" * 127, "x" * 300]
SANDBOX_ROUTES = [("GET", ""), ("DELETE", ""), ("POST", "/exec"), ("POST", "/run_code"),
                  ("GET", "/shell"), ("GET", "/commands/2"), ("POST", "/commands/2/kill"),
                  ("POST", "/fork"), ("POST", "/pause"), ("POST", "/resume"),
                  ("POST", "/snapshot"), ("POST", "/keepalive"), ("GET", "/files?path=/"),
                  ("PUT", "/files?path=/tmp/x"), ("DELETE", "/files?path=/tmp/x"),
                  ("GET", "/files/stat?path=/"), ("GET", "/files/list?path=/"),
                  ("POST", "/files/mkdir"), ("GET", "/ports/80/x")]


@pytest.mark.parametrize("bad", HOSTILE, ids=[h[:20] for h in HOSTILE])
def test_hostile_ids_on_every_route_family(thawd, bad):
    seen = set()
    for method, tail in SANDBOX_ROUTES:
        body = {} if method in ("POST", "PUT") else None
        path = f"/v1/sandboxes/{bad}{tail}"
        st, resp = T.api(method, path, body)
        assert st in (400, 404), f"{method} {path} answered {st}: {resp!r}"
        assert isinstance(resp, dict) and resp.get("code"), f"{method} {path}: {resp!r}"
        seen.add(st)
    for method in ("GET", "DELETE"):
        st, resp = T.api(method, f"/v1/templates/{bad}")
        assert st in (400, 404) and isinstance(resp, dict), f"{method} template {bad}: {st}"
    for path in (f"/v1/sandboxes/{BAD_ID}/commands/{bad}", f"/v1/sandboxes/{BAD_ID}/ports/{bad}/x"):
        st, resp = T.api("GET", path)
        assert st in (400, 404) and isinstance(resp, dict), f"GET {path}: {st} {resp!r}"
    assert T.healthy()
    T.check(f"{bad[:30]!r}: {len(SANDBOX_ROUTES)} sandbox routes, templates, pids and ports "
            f"-> {sorted(seen)} with JSON errors")


@pytest.mark.parametrize("pid", ["+5", "%205", "0x10", "1", "99999999", "5%2f..", ".."])
def test_command_pids_are_digits(sandboxes, pid):
    sid = sandboxes(timeout_s=600)["id"]
    st, resp = T.api("GET", f"/v1/sandboxes/{sid}/commands/{pid}")
    assert st in (400, 404) and isinstance(resp, dict), f"pid {pid!r}: {st} {resp!r}"
    T.check(f"pid {pid!r} -> {st}")
