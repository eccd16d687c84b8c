"""Exec semantics inside a real guest: argv and shell forms, streams,
exit codes, environment, cwd, stdin, timeouts, big and binary output,
background processes, concurrency."""

import base64
import hashlib
import time

import pytest

import thawlib as T


@pytest.fixture(scope="module")
def sb(template):
    s = T.create(timeout_s=3600)
    yield s["id"]
    T.api("DELETE", f"/v1/sandboxes/{s['id']}")


def test_argv_form(sb):
    r = T.exec_(sb, ["python3", "-c", "print(2 ** 10)"])
    assert r["stdout"] == "1024\n", r
    assert r["stderr"] == "" and r["exit_code"] == 0 and r["timed_out"] is False, r
    assert r["encoding"] == "text" and r["duration_ms"] >= 0, r
    assert "signal" not in r, r
    # argv is not re-split by a shell: one argument with spaces and quotes.
    r = T.exec_(sb, ["printf", "%s|", "a b", "'c'", "$HOME", "*"])
    assert r["stdout"] == "a b|'c'|$HOME|*|", r
    T.check("argv form: python3 prints 1024, exit 0; arguments reach the program verbatim")


def test_shell_string_form(sb):
    r = T.exec_(sb, "echo hello; echo $((6 * 7)) | tr 4 x; echo \"$HOME\"")
    assert r["stdout"] == "hello\nx2\n/root\n" and r["exit_code"] == 0, r
    T.check("shell form runs through /bin/sh -c (pipes, expansion)")


def test_stdout_and_stderr_are_separate(sb):
    r = T.exec_(sb, "echo out1; echo err1 >&2; echo out2; echo err2 >&2")
    assert r["stdout"] == "out1\nout2\n", r
    assert r["stderr"] == "err1\nerr2\n", r
    T.check("stdout and stderr come back separately, each in order")


@pytest.mark.parametrize("cmd,code", [("exit 42", 42), ("exit 0", 0), ("exit 255", 255),
                                      (["false"], 1), (["sh", "-c", "exit 3"], 3)])
def test_exit_codes(sb, cmd, code):
    r = T.exec_(sb, cmd)
    assert r["exit_code"] == code and not r["timed_out"], r
    T.check(f"{cmd!r} exits {code}")


def test_killed_by_signal(sb):
    r = T.exec_(sb, "kill -9 $$")
    assert r["exit_code"] == 137 and r.get("signal") == 9, r
    T.check("a command killed by SIGKILL: exit_code 137, signal 9")


def test_command_not_found(sb):
    r = T.exec_(sb, ["no-such-command-e2e", "arg"])
    assert r["exit_code"] == 127, r
    assert "not found" in r["stderr"] and "no-such-command-e2e" in r["stderr"], r
    assert r["stdout"] == "", r
    r = T.exec_(sb, ["/no/such/path"])
    assert r["exit_code"] == 127 and "/no/such/path" in r["stderr"], r
    r = T.exec_(sb, ["/etc/hostname"])  # exists, not executable
    assert r["exit_code"] == 126, r
    r = T.exec_(sb, "no-such-command-e2e")
    assert r["exit_code"] == 127 and "not found" in r["stderr"], r
    T.check("unknown program -> 127 with 'not found' on stderr (argv and shell); "
            "not executable -> 126")


def test_env(sb):
    r = T.exec_(sb, ["sh", "-c", 'echo "$FOO|$HOME|$LANG"; env | grep -c "^PATH="; echo $PATH'],
                env={"FOO": "bar baz", "PATH": "/opt/e2e:/usr/bin:/bin"})
    lines = r["stdout"].splitlines()
    assert lines[0] == "bar baz|/root|C.UTF-8", r
    assert lines[1] == "1", f"PATH appears {lines[1]} times in the environment: {r}"
    assert lines[2] == "/opt/e2e:/usr/bin:/bin", r
    r = T.exec_(sb, ["sh", "-c", 'echo "$HOME"'], env={"HOME": "/tmp"})
    assert r["stdout"] == "/tmp\n", r
    # Program lookup uses the command's PATH, not the agent's.
    T.sh(sb, "mkdir -p /opt/e2e-bin && printf '#!/bin/sh\\necho hi from $0\\n' "
             "> /opt/e2e-bin/e2e-hello && chmod +x /opt/e2e-bin/e2e-hello")
    r = T.exec_(sb, ["e2e-hello"], env={"PATH": "/opt/e2e-bin:/usr/bin:/bin"})
    assert r["exit_code"] == 0 and r["stdout"] == "hi from /opt/e2e-bin/e2e-hello\n", r
    r = T.exec_(sb, ["e2e-hello"])
    assert r["exit_code"] == 127, r
    T.check("env: new variables visible, PATH/HOME overridden (PATH once), "
            "program lookup uses the request's PATH")


def test_cwd(sb):
    r = T.exec_(sb, ["pwd"], cwd="/tmp")
    assert r["stdout"] == "/tmp\n", r
    r = T.exec_(sb, ["pwd"])
    assert r["exit_code"] == 0 and r["stdout"].startswith("/"), r
    for bad in ("/no/such/dir", "/etc/hostname"):
        st, body = T.api("POST", f"/v1/sandboxes/{sb}/exec", {"cmd": ["pwd"], "cwd": bad})
        assert st == 400, f"cwd {bad} answered {st}: {body}"
        assert isinstance(body, dict) and body.get("code") and "cwd" in body["error"], body
    T.sh(sb, "true")
    T.check("cwd /tmp is used; a missing directory or a file as cwd -> 400")


def test_stdin_text(sb):
    text = "hello\nwörld ✓\n" * 1000
    r = T.exec_(sb, ["cat"], stdin=text)
    assert r["stdout"] == text, "text stdin did not round-trip through cat"
    r = T.exec_(sb, ["wc", "-c"], stdin="")
    assert r["stdout"].strip() == "0", r
    # Without stdin the command sees EOF at once instead of hanging.
    t0 = time.monotonic()
    r = T.exec_(sb, ["cat"], timeout_s=20)
    assert r["stdout"] == "" and not r["timed_out"] and time.monotonic() - t0 < 10, r
    T.check("text stdin round-trips through cat; no stdin means EOF")


def test_stdin_b64_binary(sb):
    data = bytes(range(256)) * 257 + b"\0\0\xff"
    r = T.exec_(sb, ["cat"], stdin_b64=T.b64(data), encoding="base64")
    assert r["encoding"] == "base64", r
    assert base64.b64decode(r["stdout"]) == data, "binary stdin did not round-trip"
    r = T.exec_(sb, ["sha256sum"], stdin_b64=T.b64(data))
    assert r["stdout"].split()[0] == hashlib.sha256(data).hexdigest(), r
    T.check(f"{len(data)} binary bytes via stdin_b64 -> cat -> base64 output, exact; "
            "guest sha256 matches")


def test_timeout_kills_the_process_group(sandboxes):
    sid = sandboxes(timeout_s=600)["id"]
    t0 = time.monotonic()
    r = T.exec_(sid, "sleep 30 & sleep 30; echo never", timeout_s=1)
    took = time.monotonic() - t0
    assert r["timed_out"] is True, r
    assert "never" not in r["stdout"], r
    assert took < 15, f"a 1 s timeout took {took:.1f} s"
    r = T.exec_(sid, ["echo", "alive"])
    assert r["stdout"] == "alive\n", r
    r = T.exec_(sid, ["pgrep", "-l", "sleep"])
    assert r["exit_code"] == 1 and r["stdout"] == "", \
        f"processes of the timed-out command survive: {r}"
    T.check(f"sleep 30 with timeout_s 1: timed_out after {took:.1f} s; "
            "the sandbox works; pgrep finds no sleep")


def test_large_output_is_whole(sb):
    n = 8_000_000
    t0 = time.monotonic()
    r = T.exec_(sb, f"head -c {n} /dev/urandom | base64 | tee /tmp/big.b64; "
                    "sha256sum /tmp/big.b64 >&2; wc -c < /tmp/big.b64 >&2", timeout_s=300)
    took = time.monotonic() - t0
    assert r["exit_code"] == 0 and not r.get("stdout_truncated"), {
        k: v for k, v in r.items() if k != "stdout"}
    want_sum, want_len = r["stderr"].split()[0], int(r["stderr"].split()[-1])
    out = r["stdout"].encode()
    assert len(out) == want_len, f"got {len(out)} bytes, the guest wrote {want_len}"
    assert len(out) > n * 4 // 3, len(out)
    assert hashlib.sha256(out).hexdigest() == want_sum, "output differs from what the guest wrote"
    T.check(f"{len(out)} bytes of output came back whole (sha256 matches) in {took:.1f} s")


def test_binary_output_base64(sb):
    r = T.exec_(sb, "head -c 300000 /dev/urandom > /tmp/bin; cat /tmp/bin; "
                    "sha256sum /tmp/bin >&2", encoding="base64")
    assert r["encoding"] == "base64", r
    out = base64.b64decode(r["stdout"], validate=True)
    err = base64.b64decode(r["stderr"], validate=True).decode()
    assert len(out) == 300000, len(out)
    assert hashlib.sha256(out).hexdigest() == err.split()[0], "binary output changed in transit"
    r = T.exec_(sb, ["printf", "\\000\\001\\377\\n"], encoding="base64")
    assert base64.b64decode(r["stdout"]) == b"\0\1\xff\n", r
    T.check("300000 random bytes and NUL/0xff come back exactly with encoding base64")


def test_invalid_utf8_is_replaced(sb):
    r = T.exec_(sb, "printf 'a\\377b\\300\\n'; printf '\\355\\240\\200z' >&2")
    assert r["exit_code"] == 0, r
    assert r["stdout"] == "a\ufffdb\ufffd\n", repr(r["stdout"])
    assert r["stderr"].endswith("z") and "\ufffd" in r["stderr"], repr(r["stderr"])
    r = T.exec_(sb, ["printf", "ok \\342\\234\\223\\n"])
    assert r["stdout"] == "ok \u2713\n", repr(r["stdout"])
    T.check("invalid UTF-8 in text mode becomes U+FFFD; valid UTF-8 passes unchanged")


def test_background_process_does_not_hang_exec(sb):
    for cmd in ("sleep 100 & echo started", "sleep 100 >/dev/null 2>&1 & echo detached",
                "(sleep 100 &) ; echo subshell"):
        t0 = time.monotonic()
        r = T.exec_(sb, cmd, timeout_s=60)
        took = time.monotonic() - t0
        assert r["exit_code"] == 0 and not r["timed_out"], r
        assert took < 10, f"{cmd!r} took {took:.1f} s"
        T.check(f"{cmd!r} returned in {took:.2f} s")
    T.exec_(sb, "pkill sleep; true")


def test_concurrent_execs(sb):
    def one(i):
        return lambda: T.exec_(sb, ["python3", "-c", f"import time; time.sleep(0.5); print({i} ** 2)"],
                               timeout=120)
    t0 = time.monotonic()
    results = T.in_threads([one(i) for i in range(8)])
    for i, r in enumerate(results):
        assert r["exit_code"] == 0 and r["stdout"] == f"{i * i}\n", (i, r)
    T.check(f"8 concurrent execs on one sandbox all answered correctly "
            f"in {time.monotonic() - t0:.1f} s")
