"""Sandbox-level environment: "env" at create reaches every command
thawd starts in the sandbox (exec, streaming exec, background commands,
shells) between the base defaults and the command's own env; it is shown
by GET, kept across pause and resume, and inherited by fork children."""

import test_exec_stream as S
import test_shell as SH
import thawlib as T

ENV = {"GREETING": "hello from the sandbox", "SHARED": "sandbox", "HOME": "/tmp"}
SHOW = 'printf "%s|%s|%s|%s" "$GREETING" "$SHARED" "$HOME" "${PATH%%:*}"'


def show(sid, **kw):
    return T.sh(sid, SHOW, **kw)


def test_create_env_reaches_commands_and_the_command_env_wins(sandboxes):
    sb = sandboxes(env=ENV)
    sid = sb["id"]
    assert sb["env"] == ENV, sb
    st, got = T.get(sid)
    assert st == 200 and got["env"] == ENV, got
    # The sandbox's HOME replaces the base default; PATH stays the base's.
    assert show(sid) == "hello from the sandbox|sandbox|/tmp|/usr/local/sbin"
    # The command's env goes on top, name by name.
    assert show(sid, env={"SHARED": "command", "PATH": "/opt/bin:/usr/bin:/bin"}) == \
        "hello from the sandbox|command|/tmp|/opt/bin"
    # Each name once in the environment the command gets.
    names = T.sh(sid, "env | cut -d= -f1 | sort | uniq -d", env={"SHARED": "x"})
    assert names == "", f"duplicate names: {names!r}"
    # A sandbox without env: the base environment only.
    plain = sandboxes()
    assert plain["env"] == {}, plain
    assert show(plain["id"]) == "||/root|/usr/local/sbin"
    T.check("env: sandbox's under the command's, base defaults under both, each name once")


def test_streaming_background_and_shell_commands_see_it(sandboxes):
    sid = sandboxes(env=ENV)["id"]
    events = S._events(sid, {"cmd": SHOW, "env": {"SHARED": "stream"}})
    assert S._joined(events, "stdout") == "hello from the sandbox|stream|/tmp|/usr/local/sbin", \
        events
    st, started = T.api("POST", f"/v1/sandboxes/{sid}/exec",
                        {"cmd": SHOW, "background": True})
    assert st == 202, started
    T.wait_until(lambda: not T.api("GET", f"/v1/sandboxes/{sid}/commands/{started['pid']}")[1]
                 ["running"], 20, 0.1, what="the background command to end")
    out = T.request("GET", f"/v1/sandboxes/{sid}/files?path={started['stdout_path']}")[2]
    assert out == b"hello from the sandbox|sandbox|/tmp|/usr/local/sbin", out
    t = SH.Term(sid, cmd="echo \"[$GREETING][$HOME]\"")
    t.expect("[hello from the sandbox][/tmp]")
    assert t.wait() == 0
    T.check("streaming exec, background command and shell see the sandbox's env")


def test_fork_children_and_a_resumed_sandbox_keep_it(sandboxes):
    sid = sandboxes(env=ENV, timeout_s=600)["id"]
    st, fk = T.api("POST", f"/v1/sandboxes/{sid}/fork", {})
    assert st == 201, fk
    child = fk["sandboxes"][0]
    try:
        assert child["env"] == ENV, child
        assert show(child["id"]).startswith("hello from the sandbox|sandbox|/tmp|"), child
    finally:
        T.api("DELETE", f"/v1/sandboxes/{child['id']}")
    st, p = T.api("POST", f"/v1/sandboxes/{sid}/pause", {})
    assert st == 200 and p["state"] == "paused" and p["env"] == ENV, p
    st, r = T.api("POST", f"/v1/sandboxes/{sid}/resume", {})
    assert st == 200 and r["state"] == "running" and r["env"] == ENV, r
    assert show(sid).startswith("hello from the sandbox|sandbox|/tmp|")
    T.check("env: inherited by a fork child, kept across pause and resume")


def test_bad_env_is_refused(template):
    for env, mentions in (([], "env must be an object"),
                          ({"1X": "v"}, 'env name "1X" is not valid'),
                          ({"A=B": "v"}, "is not valid"),
                          ({"": "v"}, "is not valid"),
                          ({"A": 5}, "every env value must be a string"),
                          ({"A": "a\u0000b"}, "NUL"),
                          ({f"V{i}": "x" for i in range(257)}, "more than 256"),
                          ({"BIG": "x" * 40000}, "at most 32768 bytes")):
        st, body = T.api("POST", "/v1/sandboxes", {"env": env})
        assert st == 400 and mentions in body["error"], (env if len(str(env)) < 80 else
                                                          "(large)", st, body)
