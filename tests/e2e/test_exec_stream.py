"""Streaming exec ("stream": true): output arrives while the command runs,
whole and in order, characters split across chunks stay whole, the exit
status comes last, refusals keep their HTTP status, and a client that
goes away stops the command in the guest when the exec asked for it
(kill_on_disconnect; test_processes.py: without it the command runs on).
The CLI streams too."""

import base64
import hashlib
import http.client
import json
import subprocess
import time

import thawlib as T


def _open_stream(sid, body):
    """Starts a streaming exec; returns (connection, response)."""
    d = T.current()
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=120)
    conn.request("POST", f"/v1/sandboxes/{sid}/exec", body=json.dumps(dict(body, stream=True)),
                 headers={"Authorization": f"Bearer {d.key}",
                          "Content-Type": "application/json"})
    return conn, conn.getresponse()


def _events(sid, body):
    """All events of one streaming exec, each with its arrival time."""
    t0 = time.monotonic()
    conn, resp = _open_stream(sid, body)
    try:
        assert resp.status == 200, (resp.status, resp.read())
        assert resp.headers["Content-Type"] == "application/x-ndjson"
        out = []
        for line in resp:
            out.append((time.monotonic() - t0, json.loads(line)))
        return out
    finally:
        conn.close()


def _joined(events, stream, b64=False):
    parts = [e["data"] for _, e in events if e["type"] == stream]
    if b64:
        return b"".join(base64.b64decode(p) for p in parts)
    return "".join(parts)


def test_output_arrives_while_the_command_runs(sandboxes):
    sid = sandboxes()["id"]
    ev = _events(sid, {"cmd": "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 1; done; "
                              "exit 3"})
    kinds = [e["type"] for _, e in ev]
    assert kinds[0] == "start" and ev[0][1]["pid"] > 1, ev[0]
    assert kinds[-1] == "exit" and kinds.count("exit") == 1, kinds
    last = ev[-1][1]
    assert last["exit_code"] == 3 and last["timed_out"] is False, last
    assert _joined(ev, "stdout") == "out1\nout2\nout3\n"
    assert _joined(ev, "stderr") == "err1\nerr2\nerr3\n"
    first_out = next(t for t, e in ev if e["type"] == "stdout")
    assert first_out < ev[-1][0] - 1.5, \
        f"first output at {first_out:.2f} s, end at {ev[-1][0]:.2f} s: not streamed"
    T.check(f"first output after {first_out * 1000:.0f} ms, exit after {ev[-1][0]:.1f} s")


def test_large_and_binary_output_is_whole(sandboxes):
    sid = sandboxes()["id"]
    want = "".join(f"{i}\n" for i in range(1, 400001))
    ev = _events(sid, {"cmd": ["seq", "1", "400000"]})
    assert _joined(ev, "stdout") == want, "streamed seq output differs"
    ev = _events(sid, {"cmd": "head -c 3000000 /dev/urandom | tee /tmp/r | sha256sum >&2; "
                              "cat /tmp/r", "encoding": "base64"})
    data = _joined(ev, "stdout", b64=True)
    digest = _joined(ev, "stderr", b64=True).split()[0].decode()
    assert len(data) == 3000000 and hashlib.sha256(data).hexdigest() == digest
    T.check(f"{len(want)} bytes of text and 3 MB of binary arrived whole "
            f"({sum(1 for _, e in ev if e['type'] == 'stdout')} chunks)")


def test_a_character_split_between_chunks_stays_whole(sandboxes):
    sid = sandboxes()["id"]
    ev = _events(sid, {"cmd": r"printf 'a\342'; sleep 0.5; printf '\202\254b\n'; "
                              r"printf '\377\n'"})
    assert _joined(ev, "stdout") == "a\u20acb\n\ufffd\n", _joined(ev, "stdout")
    T.check("a euro sign written in two parts arrived whole; an invalid byte became U+FFFD")


def test_refusals_keep_their_status(sandboxes):
    for sid, want in (("sb-aaaaaaaaaaaa", 404), ("bad", 400)):
        conn, resp = _open_stream(sid, {"cmd": "true"})
        body = resp.read()
        conn.close()
        assert resp.status == want, (sid, resp.status, body)
        assert json.loads(body)["error"]
    sid = sandboxes()["id"]
    assert T.api("POST", f"/v1/sandboxes/{sid}/pause", {})[0] == 200
    conn, resp = _open_stream(sid, {"cmd": "true"})
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 409 and "paused" in body["error"], (resp.status, body)
    ev = _events(sid, {"cmd": "echo back", "auto_resume": True})
    assert _joined(ev, "stdout") == "back\n" and ev[-1][1]["type"] == "exit"
    T.check("streaming exec: unknown 404, bad id 400, paused 409, auto_resume streams")


def test_disconnect_kills_the_command_when_asked(sandboxes):
    sid = sandboxes()["id"]
    conn, resp = _open_stream(sid, {"cmd": "echo started; exec sleep 300",
                                    "kill_on_disconnect": True})
    assert resp.status == 200
    start = json.loads(resp.readline())
    assert start["type"] == "start" and start["pid"] > 1, start
    first = json.loads(resp.readline())
    assert first == {"type": "stdout", "data": "started\n"}, first
    assert "sleep" in T.sh(sid, "ps -eo comm")
    conn.close()

    def gone():
        return "sleep" not in T.sh(sid, "ps -eo comm")
    T.wait_until(gone, 10, 0.2, what="the command of a closed stream to be killed")
    T.check("closing the stream killed `sleep 300` (kill_on_disconnect) in the guest")


def test_timeout_in_a_stream(sandboxes):
    sid = sandboxes()["id"]
    ev = _events(sid, {"cmd": "echo x; sleep 30", "timeout_s": 1})
    last = ev[-1][1]
    assert last["type"] == "exit" and last["timed_out"] is True, last
    assert _joined(ev, "stdout") == "x\n"


def test_cli_exec_streams(sandboxes):
    sid = sandboxes()["id"]
    d = T.current()
    p = subprocess.Popen([str(d.cli_bin), "exec", sid, "--", "sh", "-c",
                          "echo first; sleep 3; echo second"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    t0 = time.monotonic()
    line = p.stdout.readline()
    t_first = time.monotonic() - t0
    rest, err = p.communicate(timeout=60)
    assert line == b"first\n" and rest == b"second\n" and p.returncode == 0, (line, rest, err)
    assert t_first < 2.5, f"the CLI printed the first line after {t_first:.1f} s"
    T.check(f"thaw exec printed its first line after {t_first * 1000:.0f} ms of a 3 s command")


def test_background_command_outlives_its_request(sandboxes):
    sid = sandboxes()["id"]
    st, started = T.api("POST", f"/v1/sandboxes/{sid}/exec",
                        {"cmd": "echo $FOO; pwd; sleep 1; echo bye >&2; exit 4",
                         "background": True, "env": {"FOO": "bar"}, "cwd": "/tmp"})
    assert st == 202 and started["running"] is True and started["pid"] > 1, (st, started)
    pid = started["pid"]
    st, now = T.api("GET", f"/v1/sandboxes/{sid}/commands/{pid}")
    assert st == 200 and now == {"pid": pid, "running": True}, now

    def ended():
        return not T.api("GET", f"/v1/sandboxes/{sid}/commands/{pid}")[1]["running"]
    T.wait_until(ended, 20, 0.1, what="the background command to end")
    st, done = T.api("GET", f"/v1/sandboxes/{sid}/commands/{pid}")
    assert done == {"pid": pid, "running": False, "exit_code": 4}, done
    out = T.request("GET", f"/v1/sandboxes/{sid}/files?path={started['stdout_path']}")[2]
    err = T.request("GET", f"/v1/sandboxes/{sid}/files?path={started['stderr_path']}")[2]
    assert (out, err) == (b"bar\n/tmp\n", b"bye\n"), (out, err)
    st, long = T.api("POST", f"/v1/sandboxes/{sid}/exec",
                     {"cmd": ["sleep", "300"], "background": True})
    assert T.api("POST", f"/v1/sandboxes/{sid}/commands/{long['pid']}/kill", {})[0] == 204
    T.wait_until(lambda: T.api("GET", f"/v1/sandboxes/{sid}/commands/{long['pid']}")[1].get(
        "signal") == 9, 10, 0.1, what="the killed command to be reported")
    T.check("background: 202 with pid, running, exit 4 with its output files, kill -> signal 9")


def test_background_refusals(sandboxes):
    sid = sandboxes()["id"]
    for body in ({"cmd": "true", "background": True, "stream": True},
                 {"cmd": "true", "background": True, "stdin": "x"},
                 {"cmd": "true", "background": "yes"}):
        st, resp = T.api("POST", f"/v1/sandboxes/{sid}/exec", body)
        assert st == 400, (body, st, resp)
    assert T.api("GET", f"/v1/sandboxes/{sid}/commands/abc")[0] == 400
    assert T.api("GET", f"/v1/sandboxes/{sid}/commands/1")[0] == 400
    assert T.api("GET", f"/v1/sandboxes/{sid}/commands/999999")[0] == 404
    assert T.api("POST", f"/v1/sandboxes/{sid}/commands/999999/kill", {})[0] == 404
