"""run_code as a Jupyter kernel answers: rich results (matplotlib figures
as PNG, DataFrames as HTML, _repr_*_ objects, display()), streamed events,
independent contexts (create, list, restart, remove, interrupt), per-call
env and timeout; and the data-science template around it (python, pip,
numpy, pandas, matplotlib, scipy, requests, curl, git, jq; the heavy
modules imported before the snapshot). SDK and CLI included."""

import base64
import http.client
import json
import sys
import threading
import time
from pathlib import Path

import thawlib as T

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python"))
import thaw  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHART = ("import matplotlib.pyplot as plt\n"
         "fig, ax = plt.subplots()\n"
         "ax.plot([1, 2, 3], [1, 4, 9])\n"
         "ax.set_title('squares')\n"
         "plt.show()\n"
         "'done'")


def _run(sid, code, expect=200, **kw):
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/run_code", dict(code=code, **kw))
    assert st == expect, (st, body)
    return body


def _stream(sid, body):
    """Every event of a streamed run_code with its arrival time (s)."""
    d = T.current()
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=120)
    t0 = time.monotonic()
    try:
        conn.request("POST", f"/v1/sandboxes/{sid}/run_code",
                     body=json.dumps(dict(body, stream=True)),
                     headers={"Authorization": f"Bearer {d.key}",
                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200, (resp.status, resp.read())
        assert resp.headers["Content-Type"] == "application/x-ndjson"
        return [(time.monotonic() - t0, json.loads(line)) for line in resp]
    finally:
        conn.close()


def test_a_chart_comes_back_as_png(sandboxes):
    sid = sandboxes()["id"]
    r = _run(sid, CHART)
    assert r["error"] is None, r
    figs = [x for x in r["results"] if "png" in x]
    assert len(figs) == 1 and not figs[0]["is_main_result"], r["results"]
    png = base64.b64decode(figs[0]["png"])
    assert png.startswith(PNG_MAGIC) and len(png) > 5000, len(png)
    main = [x for x in r["results"] if x["is_main_result"]]
    assert [m["text"] for m in main] == ["'done'"] and r["result"] == "'done'", r
    assert r["results"].index(figs[0]) < r["results"].index(main[0]), "not in order"
    # A figure left open (no show()) comes after the cell, then it is closed.
    r = _run(sid, "plt.plot([3, 1])\nx = 1")
    assert [bool(x.get("png")) for x in r["results"]] == [True], r["results"]
    assert _run(sid, "len(plt.get_fignums())")["result"] == "0"
    T.check(f"plt.show() -> a {len(png)}-byte PNG result before the main result; open figures "
            "flushed and closed after the cell")


def test_dataframes_json_and_display(sandboxes):
    sid = sandboxes()["id"]
    r = _run(sid, "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})\ndf")
    (res,) = r["results"]
    assert res["is_main_result"] and "<table" in res["html"] and "a" in res["text"], res
    code = ("class J:\n"
            "    def _repr_json_(self): return {'k': [1, 2]}\n"
            "    def _repr_html_(self): return '<b>j</b>'\n"
            "    def _repr_svg_(self): return '<svg></svg>'\n"
            "class Bad:\n"
            "    def _repr_html_(self): raise RuntimeError('no')\n"
            "    def _repr_markdown_(self): return 42\n"
            "print('before')\n"
            "display(J())\n"
            "print('after')\n"
            "Bad()")
    r = _run(sid, code)
    assert r["error"] is None and r["stdout"] == "before\nafter\n", r
    shown, main = r["results"]
    assert shown == {"is_main_result": False, "json": {"k": [1, 2]}, "html": "<b>j</b>",
                     "svg": "<svg></svg>", "text": shown["text"]}, shown
    assert main["is_main_result"] and set(main) == {"is_main_result", "text"}, main
    T.check("DataFrame -> html + text; _repr_json_/html/svg via display(); broken "
            "formatters skipped, the cell still succeeds")


def test_streamed_events_arrive_as_the_cell_runs(sandboxes):
    sid = sandboxes()["id"]
    code = ("import time, sys\n"
            "for i in range(3):\n"
            "    print('tick', i)\n"
            "    time.sleep(0.4)\n"
            "print('warn', file=sys.stderr)\n"
            "display(7)\n"
            "1/0")
    ev = _stream(sid, {"code": code})
    kinds = [e["type"] for _, e in ev]
    assert kinds[-2:] == ["error", "end"] and "result" in kinds, kinds
    out = "".join(e["text"] for _, e in ev if e["type"] == "stdout")
    assert out == "tick 0\ntick 1\ntick 2\n", out
    first = next(t for t, e in ev if e["type"] == "stdout")
    assert first < ev[-1][0] - 0.6, f"first output at {first:.2f} s, end at {ev[-1][0]:.2f} s"
    err = ev[-2][1]
    assert err["name"] == "ZeroDivisionError" and "code" not in err, err
    # A sandbox-side failure is an error event with a code, then end.
    ev = _stream(sid, {"code": "1", "context": "nope"})
    assert [e["type"] for _, e in ev] == ["error", "end"] and ev[0][1]["code"] == "not_found", ev
    T.check(f"NDJSON: first stdout at {first:.2f} s of {ev[-1][0]:.2f}; error then end; "
            "an unknown context is an error event with code not_found")


def test_contexts_are_independent_and_restart_fast(sandboxes):
    sid = sandboxes()["id"]
    base = f"/v1/sandboxes/{sid}/contexts"
    st, ctx = T.api("POST", base, {"cwd": "/tmp", "env": {"GREETING": "hi"}})
    assert st == 201 and ctx["cwd"] == "/tmp" and ctx["env"] == {"GREETING": "hi"}, (st, ctx)
    cid = ctx["id"]
    _run(sid, "x = 'default'")
    _run(sid, "x = 'mine'", context=cid)
    r = _run(sid, "import os\n(x, os.getcwd(), os.environ.get('GREETING'))", context=cid)
    assert r["result"] == "('mine', '/tmp', 'hi')", r
    r = _run(sid, "import os\n(x, os.environ.get('GREETING'))")
    assert r["result"] == "('default', None)", r
    st, lst = T.api("GET", base)
    assert st == 200 and {c["id"] for c in lst["contexts"]} == {"default", cid}, lst
    st, rs = T.api("POST", f"{base}/{cid}/restart", {})
    assert st == 200 and rs["id"] == cid and rs["cwd"] == "/tmp", rs
    r = _run(sid, "import sys\n('x' in globals(), 'pandas' in sys.modules)", context=cid)
    assert r["result"] == "(False, True)", r
    assert T.api("DELETE", f"{base}/{cid}")[0] == 204
    assert _run(sid, "1", context=cid, expect=404)
    assert T.api("DELETE", f"{base}/default")[0] == 409
    assert T.api("POST", f"{base}/nope/restart", {})[0] == 404
    assert T.api("POST", f"{base}/bad%20id/restart", {})[0] == 404
    for body in ({"cwd": "relative"}, {"env": {"1X": "a"}}, {"language": "ruby"},
                 {"other": 1}, {"cwd": "/no/such/dir"}):
        st, resp = T.api("POST", base, body)
        assert st == 400, (body, st, resp)
    assert _run(sid, "x")["result"] == "'default'"
    T.check(f"a context has its own names, cwd and env; restart {rs['duration_ms']:.0f} ms "
            "gives a fresh state with the heavy modules imported; remove, 404/409/400")


def test_interrupt_stops_a_runaway_cell_and_keeps_state(sandboxes):
    sid = sandboxes()["id"]
    _run(sid, "kept = 41")
    out = {}

    def run():
        out["r"] = _run(sid, "import time\nwhile True:\n    time.sleep(0.05)")

    t = threading.Thread(target=run)
    t.start()
    time.sleep(2)
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/contexts/default/interrupt", {})
    assert st == 200 and body["interrupted"], body
    t.join(30)
    assert not t.is_alive(), "the interrupted cell did not end"
    assert out["r"]["error"]["name"] == "KeyboardInterrupt", out["r"]
    assert _run(sid, "kept + 1")["result"] == "42"
    r = _run(sid, "while True:\n    pass", timeout_s=1)
    assert r["error"]["name"] == "TimeoutError", r
    r = _run(sid, "import os\nos.environ.get('ONLY_HERE')", env={"ONLY_HERE": "yes"})
    assert r["result"] == "'yes'", r
    assert _run(sid, "os.environ.get('ONLY_HERE')")["result"] is None
    T.check("interrupt -> KeyboardInterrupt, state kept; timeout_s; env for one call only")


def test_a_context_whose_process_died_comes_back(sandboxes):
    sid = sandboxes()["id"]
    _run(sid, "y = 1")
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/run_code", {"code": "import os\nos._exit(3)"})
    assert st in (200, 502, 500), (st, body)
    r = _run(sid, "'y' in globals()")
    assert r["result"] == "False" and "started again" in r["stderr"], r
    T.check(f"os._exit in a cell -> {st}; the next call gets a fresh context and says so")


def test_contexts_survive_pause_and_fork(sandboxes):
    sid = sandboxes()["id"]
    st, ctx = T.api("POST", f"/v1/sandboxes/{sid}/contexts", {})
    cid = ctx["id"]
    _run(sid, "z = 'before pause'", context=cid)
    assert T.api("POST", f"/v1/sandboxes/{sid}/pause", {})[0] == 200
    assert T.api("POST", f"/v1/sandboxes/{sid}/resume", {})[0] == 200
    assert _run(sid, "z", context=cid)["result"] == "'before pause'"
    st, fork = T.api("POST", f"/v1/sandboxes/{sid}/fork", {"count": 1})
    assert st == 201, fork
    kid = fork["sandboxes"][0]["id"]
    try:
        assert _run(kid, "z", context=cid)["result"] == "'before pause'"
        _run(kid, "z = 'child'", context=cid)
        assert _run(sid, "z", context=cid)["result"] == "'before pause'"
    finally:
        T.delete(kid)
    T.check("a context's state survives pause/resume; a fork child has its own copy")


def test_the_template_is_ready_for_data_science(sandboxes):
    sid = sandboxes()["id"]
    out = T.sh(sid, "python --version && pip --version && "
               "python -c 'import numpy, pandas, matplotlib, scipy, requests; "
               "print(numpy.__version__, pandas.__version__)' && "
               "curl --version | head -1 && git --version && jq --version && ps -p 1 -o comm=")
    assert "Python 3" in out and "pip" in out and "git version" in out, out
    # pip installs into the system Python (no PEP 668 refusal); nothing
    # to install offline, so it fails for want of the package instead.
    r = T.exec_(sid, "pip install --no-index no-such-package-thaw")
    assert r["exit_code"] != 0 and "externally-managed" not in r["stderr"] + r["stdout"] \
        and "no-such-package-thaw" in r["stderr"] + r["stdout"], r
    r = _run(sid, "import sys\nsorted(m for m in ('numpy', 'pandas', 'matplotlib.pyplot', "
             "'scipy') if m in sys.modules)")
    assert r["result"] == "['matplotlib.pyplot', 'numpy', 'pandas', 'scipy']", r
    t = _run(sid, "import time\nt = time.perf_counter()\nimport pandas, numpy, matplotlib.pyplot\n"
             "round((time.perf_counter() - t) * 1000, 3)")
    assert float(t["result"]) < 100, f"import pandas took {t['result']} ms: not preloaded"
    r = _run(sid, "import numpy as np\nfloat(np.linalg.det(np.array([[2.0, 0], [0, 3.0]])))")
    assert r["result"] == "6.0", r
    a, b = (_run(s, "import numpy as np\nnp.random.rand()")["result"]
            for s in (sid, sandboxes()["id"]))
    assert a != b, f"numpy drew the same random number in two sandboxes: {a}"
    T.check(f"python/pip/numpy/pandas/matplotlib/scipy/requests/curl/git/jq present; "
            f"heavy modules preloaded (import in {t['result']} ms); numpy reseeded per clone")


def test_sdk_rich_results_streaming_and_contexts(template):
    d = T.current()
    with thaw.Sandbox.create(api_url=d.url, api_key=d.key) as sbx:
        ex = sbx.run_code(CHART)
        pngs = [r for r in ex.results if r.png]
        assert ex.text == "'done'" and ex.result == "'done'" and len(pngs) == 1, ex
        assert pngs[0].png_bytes().startswith(PNG_MAGIC) and "png" in pngs[0].formats()
        seen = {"out": [], "res": [], "err": []}
        ex = sbx.run_code("print('a')\ndisplay({'k': 1})\nraise KeyError('z')",
                          on_stdout=seen["out"].append, on_result=seen["res"].append,
                          on_error=seen["err"].append)
        assert seen["out"] == ["a\n"] and ex.logs.stdout == ["a\n"], (seen, ex.logs)
        assert len(seen["res"]) == 1 and seen["res"][0].text == "{'k': 1}"
        assert ex.error.name == "KeyError" and seen["err"][0].name == "KeyError"
        ctx = sbx.create_code_context(cwd="/tmp")
        sbx.run_code("v = 5", context=ctx)
        assert sbx.run_code("v", context=ctx).text == "5"
        assert sbx.run_code("'v' in globals()").text == "False"
        assert ctx.id in {c.id for c in sbx.list_code_contexts()}
        sbx.restart_code_context(ctx)
        assert sbx.run_code("'v' in globals()", context=ctx).text == "False"
        sbx.remove_code_context(ctx)
        try:
            sbx.run_code("1", context=ctx)
            raise AssertionError("a removed context ran code")
        except thaw.NotFound:
            pass
    T.check("SDK: Execution.results with png, logs, callbacks while streaming, contexts")


def test_cli_run_code_writes_images(sandboxes, tmp_path):
    sid = sandboxes()["id"]
    p = T.run_cli("run-code", "--out-dir", str(tmp_path), sid, "-c", CHART)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == "'done'\n", p.stdout
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["result-1.png"], files
    assert files[0].read_bytes().startswith(PNG_MAGIC)
    assert b"wrote" in p.stderr
    p = T.run_cli("run-code", sid, "-c", "print('x')\n1/0")
    assert p.returncode == 1 and p.stdout == b"x\n" and b"ZeroDivisionError" in p.stderr, p
    p = T.run_cli("run-code", sid)
    assert p.returncode == 2, p
    T.check("thaw run-code prints text, writes result-1.png, exits 1 with the traceback")


def test_sandbox_env_reaches_the_interpreter(sandboxes):
    sid = sandboxes(env={"SB_TOKEN": "from-create", "SHARED": "sandbox"})["id"]
    code = "import os\n(os.environ.get('SB_TOKEN'), os.environ.get('SHARED'))"
    assert _run(sid, code)["result"] == "('from-create', 'sandbox')"
    r = _run(sid, code, env={"SHARED": "call"})
    assert r["result"] == "('from-create', 'call')", r
    st, ctx = T.api("POST", f"/v1/sandboxes/{sid}/contexts", {})
    assert _run(sid, code, context=ctx["id"])["result"] == "('from-create', 'sandbox')"
    out = _run(sid, "import subprocess\nsubprocess.run(['sh', '-c', 'echo $SB_TOKEN'], "
               "capture_output=True, text=True).stdout")
    assert out["result"] == "'from-create\\n'", out
    T.check("env given at create is seen by every context and by what a cell starts; "
            "a call's env wins")
