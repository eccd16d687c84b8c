"""The real `thaw` binary against the real thawd (THAW_API_URL and
THAW_API_KEY come from the harness)."""

import re

import pytest

import thawlib as T

ID_RE = re.compile(rb"^sb-[a-z0-9]{12}\n$")


@pytest.fixture
def cli_sandbox(template):
    r = T.run_cli("create", "--timeout", "600")
    assert r.returncode == 0, r
    sid = r.stdout.decode().strip()
    yield sid
    T.api("DELETE", f"/v1/sandboxes/{sid}")


def test_create_prints_only_an_id(template):
    r = T.run_cli("create", "--timeout", "600", "--metadata", '{"via": "cli"}')
    assert r.returncode == 0, r
    assert ID_RE.match(r.stdout), f"create printed {r.stdout!r}"
    sid = r.stdout.decode().strip()
    try:
        st, body = T.get(sid)
        assert st == 200 and body["metadata"] == {"via": "cli"}, body
        assert r.stderr == b"", r.stderr
    finally:
        T.delete(sid)
    T.check(f"thaw create printed just {sid!r} and the sandbox exists with its metadata")


def test_create_env_and_network_options_then_network(template):
    r = T.run_cli("create", "--timeout", "600", "-e", "GREETING=hi there", "--env", "B=2",
                  "--no-internet", "--allow", "1.2.3.4:80", "--allow", "9.9.9.0/24",
                  "--deny", "5.6.7.8")
    assert r.returncode == 0 and ID_RE.match(r.stdout), r
    sid = r.stdout.decode().strip()
    try:
        st, body = T.get(sid)
        assert body["env"] == {"GREETING": "hi there", "B": "2"}, body
        n = body["network"]
        assert (n["internet"], n["allow"], n["deny"]) == \
            (False, ["1.2.3.4/32:80", "9.9.9.0/24"], ["5.6.7.8/32"]), n
        assert _cli("exec", sid, "--", "sh", "-c", 'echo "$GREETING/$B"') == "hi there/2\n"
        out = _cli("network", "--deny", "1.1.1.1:53", sid)
        assert out == f"{sid} internet=yes deny 1.1.1.1:53\n", out
        n = T.get(sid)[1]["network"]
        assert (n["internet"], n["allow"], n["deny"]) == (True, [], ["1.1.1.1/32:53"]), n
        r = T.run_cli("network", "--allow", "1.2.3.4/33", sid)
        assert r.returncode == 1 and b"prefix" in r.stderr, r
    finally:
        T.delete(sid)
    T.check("thaw create --env/--no-internet/--allow/--deny and thaw network reach the API")


def test_exec_argv(cli_sandbox):
    r = T.run_cli("exec", cli_sandbox, "--", "python3", "-c", "print(2 ** 10)")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"1024\n", b""), r
    T.check("thaw exec ID -- python3 -c 'print(2 ** 10)' prints 1024, exits 0")


def test_exec_streams_and_exit_code(cli_sandbox):
    r = T.run_cli("exec", cli_sandbox, "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert r.returncode == 7, r
    assert r.stdout == b"out\n" and r.stderr == b"err\n", r
    # The CLI promises the command's bytes unchanged, even invalid UTF-8.
    r = T.run_cli("exec", cli_sandbox, "-c", "printf 'a\\377b\\000c'; printf '\\376' >&2")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"a\xffb\x00c", b"\xfe"), r
    T.check("stdout/stderr separated, exit code 7 passed through; -c SHELL passes "
            "bytes (0xff, NUL) unchanged")


def test_exec_stdin_env_cwd(cli_sandbox):
    r = T.run_cli("exec", "-i", "-e", "FOO=bar", "--cwd", "/tmp", cli_sandbox, "--",
                  "sh", "-c", 'cat; echo "$FOO"; pwd', input=b"from stdin\n")
    assert r.returncode == 0 and r.stdout == b"from stdin\nbar\n/tmp\n", r
    T.check("--stdin, --env and --cwd reach the command")


def test_exec_timeout_exits_124(cli_sandbox):
    r = T.run_cli("exec", "--timeout", "1", cli_sandbox, "--", "sleep", "30")
    assert r.returncode == 124 and b"timed out" in r.stderr, r
    T.check("a command that runs out of time exits 124 with a message")


def test_ls_shows_the_id(cli_sandbox):
    r = T.run_cli("ls")
    assert r.returncode == 0, r
    assert cli_sandbox.encode() in r.stdout and b"running" in r.stdout, r.stdout
    r = T.run_cli("ls", "--json")
    assert r.returncode == 0 and cli_sandbox.encode() in r.stdout, r
    T.check("thaw ls (table and --json) shows the sandbox as running")


def test_ls_filters(template):
    tag = f"cli-ls-{id(template)}"
    made = [T.create(timeout_s=600, metadata={"tag": tag, "n": str(i)})["id"] for i in range(3)]
    try:
        st, body = T.api("POST", f"/v1/sandboxes/{made[2]}/pause", {})
        assert st == 200, body
        r = T.run_cli("ls", "--metadata", f"tag={tag}", "--json")
        assert r.returncode == 0, r
        assert sorted(s["id"] for s in __import__("json").loads(r.stdout)) == sorted(made)
        r = T.run_cli("ls", "--metadata", f"tag={tag}", "--metadata", "n=1", "--json")
        assert [s["id"] for s in __import__("json").loads(r.stdout)] == [made[1]], r
        r = T.run_cli("ls", "--metadata", f"tag={tag}", "--state", "paused",
                      "--template", T.TEMPLATE)
        assert r.returncode == 0 and made[2].encode() in r.stdout, r
        assert made[0].encode() not in r.stdout and made[1].encode() not in r.stdout, r
        r = T.run_cli("ls", "--state", "sleeping")
        assert r.returncode != 0 and b"state" in r.stderr, r
        r = T.run_cli("ls", "--metadata", "novalue")
        assert r.returncode != 0 and b"KEY=VALUE" in r.stderr, r
    finally:
        for sid in made:
            T.api("DELETE", f"/v1/sandboxes/{sid}")
    T.check("thaw ls --metadata K=V (twice: AND), --state, --template; bad filters fail")


def test_rm_then_exec_fails(template):
    sid = T.run_cli("create").stdout.decode().strip()
    r = T.run_cli("rm", sid)
    assert r.returncode == 0 and r.stdout.decode().strip() == sid, r
    st, _ = T.get(sid)
    assert st == 404
    r = T.run_cli("exec", sid, "--", "true")
    assert r.returncode not in (0, 2), r
    assert r.stderr.strip() and (b"does not exist" in r.stderr or b"404" in r.stderr), r
    r = T.run_cli("rm", sid)
    assert r.returncode != 0 and r.stderr.strip(), r
    T.check(f"thaw rm {sid} printed it; exec afterwards exits {r.returncode} with "
            f"{r.stderr.decode().strip()!r}")


def test_templates_shows_ready(template):
    r = T.run_cli("templates")
    assert r.returncode == 0, r
    line = [ln for ln in r.stdout.decode().splitlines() if ln.startswith(T.TEMPLATE)]
    assert line and "ready" in line[0] and template["build_id"] in line[0], r.stdout
    T.check(f"thaw templates: {line[0].split()[:3]}")


@pytest.mark.parametrize("args", [["exec"], ["exec", "sb-aaaaaaaaaaaa"],
                                  ["exec", "sb-aaaaaaaaaaaa", "true"],
                                  ["create", "--timeout", "x"], ["create", "--bogus"],
                                  ["frobnicate"], [], ["rm"], ["ls", "extra"],
                                  ["exec", "--cwd", "tmp", "sb-aaaaaaaaaaaa", "--", "true"],
                                  ["fork"], ["fork", "-n", "0", "sb-aaaaaaaaaaaa"],
                                  ["fork", "-n", "17", "sb-aaaaaaaaaaaa"], ["pause"],
                                  ["resume"], ["snapshot", "sb-aaaaaaaaaaaa"],
                                  ["keepalive", "sb-aaaaaaaaaaaa"],
                                  ["keepalive", "sb-aaaaaaaaaaaa", "-5"],
                                  ["templates", "rm"], ["templates", "frob"],
                                  ["create", "--on-timeout", "stop"],
                                  ["create", "--env", "NOEQUALS"], ["create", "--allow"],
                                  ["network"], ["network", "--bogus", "sb-aaaaaaaaaaaa"]],
                         ids=lambda a: " ".join(a) or "(none)")
def test_bad_usage_exits_2(thawd, args):
    r = T.run_cli(*args)
    assert r.returncode == 2, r
    assert r.stderr.strip(), "no message on stderr"
    assert r.stdout == b"", r.stdout
    T.check(f"thaw {' '.join(args)} -> exit 2: {r.stderr.decode().splitlines()[0]}")


def test_wrong_key(template):
    r = T.run_cli("ls", env={"THAW_API_KEY": "bad"})
    assert r.returncode not in (0, 2), r
    err = r.stderr.decode().lower()
    assert "401" in err or "unauthorized" in err, err
    r = T.run_cli("create", env={"THAW_API_KEY": "bad"})
    assert r.returncode not in (0, 2) and r.stdout == b"", r
    T.check(f"a wrong key -> exit {r.returncode}: {r.stderr.decode().strip()}")


def test_server_down(thawd):
    url = f"http://127.0.0.1:{T.closed_port()}"
    for args in (["ls"], ["create"], ["exec", "sb-aaaaaaaaaaaa", "--", "true"]):
        r = T.run_cli(*args, env={"THAW_API_URL": url}, timeout=60)
        assert r.returncode not in (0, 2), r
        err = r.stderr.decode()
        assert "cannot talk to thawd" in err and url in err, err
    T.check(f"thawd not listening -> exit {r.returncode}: {err.strip()}")


def _cli(*args):
    r = T.run_cli(*args)
    assert r.returncode == 0, r
    return r.stdout.decode()


def test_lifecycle_commands(template):
    sid = _cli("create", "--timeout", "600", "--on-timeout", "pause", "--auto-resume").strip()
    try:
        _cli("exec", sid, "--", "sh", "-c", "echo 7 > /root/n")
        assert _cli("pause", sid).strip() == sid
        ls = _cli("ls")
        row = [ln for ln in ls.splitlines() if ln.startswith(sid)]
        assert row and "paused" in row[0] and "(pause)" in row[0], ls
        # --auto-resume on exec (the sandbox also has it from create).
        assert _cli("exec", "--auto-resume", sid, "--", "cat", "/root/n") == "7\n"
        _cli("pause", sid)
        assert _cli("resume", sid).strip() == sid
        out = _cli("keepalive", sid, "0").split()
        assert out == [sid, "never"], out
        kids = _cli("fork", "-n", "2", sid).split()
        assert len(kids) == 2 and all(ID_RE.match((k + "\n").encode()) for k in kids), kids
        ls = _cli("ls")
        for k in kids:
            row = [ln for ln in ls.splitlines() if ln.startswith(k)]
            assert row and row[0].split()[-1] == sid, ls  # PARENT column
            assert _cli("exec", k, "--", "cat", "/root/n") == "7\n"
        assert _cli("rm", *kids).split() == kids
        name = "cli-snap-" + sid[3:]
        out = _cli("snapshot", sid, name).split()
        assert out[0] == name and len(out) == 2, out
        tl = _cli("templates")
        assert any(ln.startswith(name) and f"snapshot:{sid}" in ln for ln in tl.splitlines()), tl
        r = T.run_cli("templates", "rm", name + "-missing")
        assert r.returncode == 1 and b"404" in r.stderr and r.stdout == b"", r
        assert _cli("templates", "rm", name).strip() == name
        assert name not in _cli("templates")
    finally:
        T.api("DELETE", f"/v1/sandboxes/{sid}")
    T.check("thaw pause/resume/keepalive/fork/snapshot/templates rm and exec --auto-resume")


def test_files_ls_mkdir_rm(cli_sandbox):
    """thaw files, through libthaw's thaw_file_list, _mkdir and _remove."""
    r = T.run_cli("files", "mkdir", "-p", cli_sandbox, "/root/cli/a/b")
    assert r.returncode == 0 and r.stdout == b"/root/cli/a/b\n", r
    T.sh(cli_sandbox, "printf 12345 > /root/cli/f; ln -s f /root/cli/l")
    r = T.run_cli("files", "ls", cli_sandbox, "/root/cli")
    assert r.returncode == 0, r
    rows = [line.split() for line in r.stdout.decode().splitlines()]
    assert rows[0] == ["TYPE", "MODE", "OWNER", "SIZE", "NAME", "TARGET"], rows
    assert [(x[0], x[4]) for x in rows[1:]] == [("dir", "a"), ("file", "f"), ("symlink", "l")]
    assert rows[2][3] == "5" and rows[3][5] == "f", rows
    r = T.run_cli("files", "rm", cli_sandbox, "/root/cli/a")
    assert r.returncode == 1 and b"not empty" in r.stderr and b"409" in r.stderr, r
    r = T.run_cli("files", "rm", "-r", cli_sandbox, "/root/cli/a")
    assert r.returncode == 0, r
    assert T.sh(cli_sandbox, "ls /root/cli") == "f\nl\n"
    r = T.run_cli("files", "ls", cli_sandbox, "relative/path")
    assert r.returncode == 1 and b"absolute" in r.stderr, r
    r = T.run_cli("files", "mkdir", "-r", cli_sandbox, "/x")
    assert r.returncode == 2, r
    T.check("thaw files mkdir -p / ls / rm (409 when not empty, -r) / refusals")


def test_files_mv_and_ls_depth(cli_sandbox):
    """thaw files mv (thaw_file_move) and ls -d (thaw_file_list_depth), with
    owner names."""
    T.sh(cli_sandbox, "mkdir -p /root/mv/d/e && printf x > /root/mv/a && printf y > /root/mv/b "
                      "&& : > /root/mv/d/e/deep && chown 65534:0 /root/mv/b")
    r = T.run_cli("files", "mv", cli_sandbox, "/root/mv/a", "/root/mv/c")
    assert (r.returncode, r.stdout) == (0, b"/root/mv/c\n"), r
    r = T.run_cli("files", "mv", cli_sandbox, "/root/mv/c", "/root/mv/b")
    assert r.returncode == 1 and b"409" in r.stderr and b"exists" in r.stderr, r
    r = T.run_cli("files", "mv", "-f", cli_sandbox, "/root/mv/c", "/root/mv/b")
    assert r.returncode == 0, r
    assert T.sh(cli_sandbox, "cat /root/mv/b; ls /root/mv") == "xb\nd\n"
    r = T.run_cli("files", "ls", "-d", "3", cli_sandbox, "/root/mv")
    assert r.returncode == 0, r
    rows = [line.split() for line in r.stdout.decode().splitlines()[1:]]
    assert [(x[0], x[2], x[4]) for x in rows] == [
        ("file", "root:root", "b"), ("dir", "root:root", "d"), ("dir", "root:root", "d/e"),
        ("file", "root:root", "d/e/deep")], rows
    for bad in (["files", "ls", "-d", "11", cli_sandbox, "/root"],
                ["files", "mv", cli_sandbox, "/root/mv/b"],
                ["files", "mv", "-r", cli_sandbox, "/a", "/b"]):
        assert T.run_cli(*bad).returncode == 2, bad
    T.check("thaw files mv (409 without -f, replaces with -f), ls -d 3 by path with owner names")


def test_ps_attach_and_user(cli_sandbox):
    r = T.run_cli("exec", "--user", "user", "--tag", "whoami", cli_sandbox, "--", "id", "-un")
    assert (r.returncode, r.stdout) == (0, b"user\n"), r
    # A command started elsewhere (a dropped stream), listed and followed.
    st, body = T.api("POST", f"/v1/sandboxes/{cli_sandbox}/exec",
                     {"cmd": "echo one; sleep 2; echo two >&2; exit 5", "tag": "bg"})
    assert st == 200 and body["exit_code"] == 5, body
    pid = body["pid"]
    r = T.run_cli("ps", cli_sandbox)
    assert r.returncode == 0, r
    rows = {line.split()[0]: line for line in r.stdout.decode().splitlines()[1:]}
    assert "whoami" in rows[next(p for p, l in rows.items() if "id -un" in l)], rows
    assert "bg" in rows[str(pid)] and "exited 5" in rows[str(pid)], rows
    r = T.run_cli("ps", "--json", cli_sandbox)
    assert any(p["pid"] == pid and p["tag"] == "bg" for p in __import__("json").loads(r.stdout))
    r = T.run_cli("attach", cli_sandbox, str(pid))
    assert (r.returncode, r.stdout, r.stderr) == (5, b"one\n", b"two\n"), r
    r = T.run_cli("attach", cli_sandbox, "999999")
    assert r.returncode == 1 and b"999999" in r.stderr, r
    r = T.run_cli("attach", cli_sandbox, "x")
    assert r.returncode == 2, r
    T.check("thaw exec --user/--tag; thaw ps lists tags and exit statuses; thaw attach "
            "replays stdout and stderr and exits 5; unknown pid fails, bad pid is usage")
