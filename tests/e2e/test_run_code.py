"""run_code: the code-interpreter template's Python interpreter, running
in the snapshot before any request (warm), keeping state between calls,
reporting results and errors structurally, reseeded per clone, and
enforcing its own timeout so that a runaway call does not block the next."""

import sys
from pathlib import Path

import thawlib as T

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python"))
import thaw  # noqa: E402


def _run(sid, code, expect=200, **kw):
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/run_code", dict(code=code, **kw))
    assert st == expect, (st, body)
    return body


def test_state_persists_and_results_are_structured(sandboxes):
    sid = sandboxes()["id"]
    r = _run(sid, "x = 1")
    assert r["result"] is None and r["error"] is None, r
    r = _run(sid, "x + 1")
    assert r["result"] == "2", r
    r = _run(sid, "import sys\nprint('out')\nprint('err', file=sys.stderr)\n[x, 'a']")
    assert (r["stdout"], r["stderr"], r["result"]) == ("out\n", "err\n", "[1, 'a']"), r
    r = _run(sid, "def f():\n    return 1 / 0\nf()")
    e = r["error"]
    assert e["name"] == "ZeroDivisionError" and "division by zero" in e["value"], r
    assert 'line 2, in f' in e["traceback"] and "interp.py" not in e["traceback"], e
    r = _run(sid, "def broken(:")
    assert r["error"]["name"] == "SyntaxError", r
    assert _run(sid, "x")["result"] == "1", "state was lost after errors"
    T.check("x = 1 then x + 1 -> '2'; stdout/stderr/result; tracebacks without our frames")


def test_interpreter_is_in_the_snapshot(sandboxes):
    a, b = sandboxes()["id"], sandboxes()["id"]
    # The zygote, the default context and a spare: the same pids in both,
    # all from the snapshot.
    pids = [sorted(T.sh(s, "pgrep -f 'thaw/[i]nterp.py'").split()) for s in (a, b)]
    assert len(pids[0]) >= 3 and pids[0] == pids[1], \
        f"interpreter pids {pids}: not the snapshot's zygote, default context and spare"
    T.check(f"the interpreter runs before any request, same pids {pids[0]} in two sandboxes")


def test_clones_get_their_own_random_state(sandboxes):
    code = "import random, uuid\n(random.random(), str(uuid.uuid4()))"
    a, b = sandboxes()["id"], sandboxes()["id"]
    ra, rb = _run(a, code)["result"], _run(b, code)["result"]
    assert ra != rb, f"two sandboxes from one snapshot drew the same random values: {ra}"
    st, fork = T.api("POST", f"/v1/sandboxes/{a}/fork", {"count": 2})
    assert st == 201, fork
    kids = [c["id"] for c in fork["sandboxes"]]
    try:
        rk = [_run(k, "random.random()")["result"] for k in kids]
        rp = _run(a, "random.random()")["result"]
        assert len({rk[0], rk[1], rp}) == 3, f"fork members drew the same: {rk} {rp}"
    finally:
        for k in kids:
            T.delete(k)
    T.check("random.random() and uuid4() differ between sandboxes and between fork children")


def test_timeout_frees_the_interpreter(sandboxes):
    sid = sandboxes()["id"]
    r = _run(sid, "while True:\n    pass", timeout_s=1)
    assert r["error"]["name"] == "TimeoutError", r
    assert _run(sid, "2 + 2")["result"] == "4"
    T.check("a runaway call ends with TimeoutError after 1 s; the next call runs")


def test_refusals(sandboxes):
    sid = sandboxes()["id"]
    for body in ({"code": 1}, {}, {"code": "1", "language": "ruby"},
                 {"code": "1", "timeout_s": 0}, {"code": "1", "extra": True}):
        st, resp = T.api("POST", f"/v1/sandboxes/{sid}/run_code", body)
        assert st == 400 and resp["error"], (body, st, resp)
    assert T.api("POST", "/v1/sandboxes/sb-aaaaaaaaaaaa/run_code", {"code": "1"})[0] == 404
    assert T.api("POST", f"/v1/sandboxes/{sid}/pause", {})[0] == 200
    st, resp = T.api("POST", f"/v1/sandboxes/{sid}/run_code", {"code": "1"})
    assert st == 409 and "paused" in resp["error"], resp
    assert _run(sid, "3", auto_resume=True)["result"] == "3"
    T.sh(sid, "pkill -f 'thaw/[i]nterp.py'; sleep 0.2; rm -f /run/thaw/interp.sock")
    st, resp = T.api("POST", f"/v1/sandboxes/{sid}/run_code", {"code": "1"})
    assert st == 409 and "no code interpreter" in resp["error"], (st, resp)
    T.check("bad bodies 400, unknown 404, paused 409 (auto_resume works), no interpreter 409")


def test_sdk_run_code(template):
    d = T.current()
    with thaw.Sandbox.create(api_url=d.url, api_key=d.key) as sbx:
        sbx.run_code("x = 41")
        ex = sbx.run_code("x + 1")
        assert ex.result == "42" and ex.error is None, ex
        ex = sbx.run_code("raise ValueError('no')")
        assert ex.error.name == "ValueError" and ex.error.value == "no", ex
        assert "Traceback" in ex.error.traceback
