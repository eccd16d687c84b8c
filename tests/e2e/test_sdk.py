"""The Python SDK (sdk/python, package `thaw`) against the real thawd and
real guests: the README example, errors as typed exceptions, exec with
env/cwd/stdin/timeout, streaming callbacks, background commands, the
lifecycle calls, and an offline `pip install` of the package."""

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import thawlib as T

SDK_DIR = Path(__file__).resolve().parents[2] / "sdk" / "python"
sys.path.insert(0, str(SDK_DIR))
import thaw  # noqa: E402
from thaw import Sandbox  # noqa: E402


@pytest.fixture
def client(template):
    d = T.current()
    return thaw.Client(d.url, d.key)


@pytest.fixture
def sbx(client):
    s = Sandbox.create(client=client, timeout=600)
    yield s
    s.delete()


def test_readme_example(client):
    with Sandbox.create(template="code-interpreter", client=client) as sbx:
        result = sbx.exec("python3 -c 'print(2 ** 10)'")
        assert result.stdout == "1024\n" and result.exit_code == 0 and result.ok, result
        assert sbx.state == "running" and sbx.template == "code-interpreter"
        sid = sbx.id
    with pytest.raises(thaw.SandboxNotFound):
        Sandbox.connect(sid, client=client)
    T.check("with Sandbox.create(): exec printed 1024; the sandbox is gone after the block")


def test_environment_configuration(template, monkeypatch):
    d = T.current()
    monkeypatch.setenv("THAW_API_URL", d.url)
    monkeypatch.setenv("THAW_API_KEY", d.key)
    sbx = Sandbox.create()
    try:
        assert sbx.id in {s.id for s in Sandbox.list()}
        again = Sandbox.connect(sbx.id)
        assert again == sbx and again.run("echo", "hi").stdout == "hi\n"
    finally:
        sbx.delete()
    sbx.delete()  # a second delete is fine


def test_typed_errors(client):
    d = T.current()
    with pytest.raises(thaw.TemplateNotFound) as e:
        Sandbox.create(template="no-such-template", client=client)
    assert e.value.status == 404 and "no-such-template" in e.value.message
    with pytest.raises(thaw.AuthError):
        Sandbox.list(api_url=d.url, api_key="wrong")
    with pytest.raises(thaw.ConnectionError):
        Sandbox.list(api_url=f"http://127.0.0.1:{T.closed_port()}", api_key="x")
    with pytest.raises(thaw.InvalidRequest):
        Sandbox.connect("../etc", client=client)
    with pytest.raises(thaw.InvalidRequest):
        thaw.Client("ftp://x")
    with pytest.raises(thaw.InvalidRequest) as e:
        Sandbox.create(timeout=-5, client=client)
    assert "timeout_s" in str(e.value)
    assert isinstance(thaw.TimeoutError("x"), TimeoutError)
    T.check("TemplateNotFound, AuthError, ConnectionError, InvalidRequest as typed exceptions")


def test_exec_options(sbx):
    r = sbx.exec(["sh", "-c", "echo $FOO; pwd; cat; echo err >&2; exit 4"],
                 env={"FOO": "bar"}, cwd="/tmp", stdin="in put")
    assert (r.exit_code, r.stdout, r.stderr) == (4, "bar\n/tmp\nin put", "err\n"), r
    r = sbx.exec("printf '\\377\\000x'")
    assert r.stdout_bytes == b"\xff\x00x"
    r = sbx.exec("sleep 30", timeout=1)
    assert r.timed_out and not r.ok, r
    assert sbx.exec(f"echo {Sandbox.quote('a b', '$x')}").stdout == "a b $x\n"


def test_streaming_callbacks(sbx):
    seen = []
    t0 = time.monotonic()
    r = sbx.exec("for i in 1 2 3; do echo $i; sleep 0.5; done; echo e >&2",
                 on_stdout=lambda s: seen.append((time.monotonic() - t0, s)),
                 on_stderr=lambda s: seen.append((time.monotonic() - t0, "ERR" + s)))
    assert r.exit_code == 0 and r.stdout == "1\n2\n3\n" and r.stderr == "e\n", r
    text = "".join(s for _, s in seen)
    assert text == "1\n2\n3\nERRe\n", seen
    assert seen[0][0] < seen[-1][0] - 0.8, f"callbacks came all at the end: {seen}"
    T.check(f"on_stdout got {len(seen)} chunks while the command ran")


def test_background_command(sbx, client):
    cmd = sbx.exec("sleep 1; echo done; echo warn >&2; exit 5", background=True)
    assert cmd.running and cmd.pid > 1
    r = cmd.wait(timeout=30)
    assert (r.exit_code, r.stdout, r.stderr) == (5, "done\n", "warn\n") and not cmd.running
    long = sbx.exec("exec sleep 300", background=True)
    # The pid is the shell's until it has exec'd sleep: a moment later.
    T.wait_until(lambda: sbx.exec(f"cat /proc/{long.pid}/comm").stdout.strip() == "sleep", 10,
                 interval=0.2, what=f"pid {long.pid} to become sleep")
    # It outlives the client that started it: a new client finds it running.
    other = Sandbox.connect(sbx.id, client=thaw.Client(client.api_url, client.api_key))
    again = thaw.Command(other, {"pid": long.pid, "stdout_path": long.stdout_path,
                                 "stderr_path": long.stderr_path})
    assert again.running
    again.kill()
    r = long.wait(timeout=10)
    assert r.signal == 9 and r.exit_code == 137, r
    assert sbx.exec(f"test -e /proc/{long.pid}").exit_code != 0
    with pytest.raises(thaw.InvalidRequest):
        sbx.exec("true", background=True, on_stdout=print)
    with pytest.raises(thaw.NotFound):
        thaw.Command(sbx, {"pid": 999999}).status()
    T.check(f"background command: wait() gave exit 5 and its output; pid {long.pid} ran on "
            "for another client, whose kill() ended it (signal 9)")


def test_lifecycle_calls(client):
    parent = Sandbox.create(client=client, timeout=600)
    made = [parent]
    name = "sdk-snap-" + parent.id[3:]
    try:
        parent.exec("echo 5 > /root/n")
        assert parent.pause().state == "paused"
        with pytest.raises(thaw.Conflict):
            parent.exec("true")
        assert parent.exec("cat /root/n", auto_resume=True).stdout == "5\n"
        assert parent.refresh().state == "running"
        assert parent.resume().state == "running"
        assert parent.keepalive(0).info["timeout_at"] is None
        kids = parent.fork(count=2)
        made += kids
        assert len(kids) == 2 and all(k.info["parent"] == parent.id for k in kids)
        assert [k.exec("cat /root/n").stdout for k in kids] == ["5\n", "5\n"]
        build = parent.snapshot(name)
        assert thaw.get_template(name, client=client)["build_id"] == build
        copy = Sandbox.create(template=name, client=client)
        made.append(copy)
        assert copy.exec("cat /root/n").stdout == "5\n"
        with pytest.raises(thaw.Conflict):
            thaw.delete_template(name, client=client)
        copy.delete()
        thaw.delete_template(name, client=client)
        with pytest.raises(thaw.TemplateNotFound):
            thaw.get_template(name, client=client)
    finally:
        for s in made:
            s.delete()
    T.check("pause/exec auto_resume/resume/keepalive/fork/snapshot/delete_template via the SDK")


def test_env_and_network(client):
    with Sandbox.create(client=client, env={"GREETING": "hi"},
                        network={"internet": False, "allow": ["1.2.3.4:443"]}) as sbx:
        assert sbx.env == {"GREETING": "hi"}
        assert sbx.network == {"internet": False, "allow": ["1.2.3.4/32:443"], "deny": []}
        assert sbx.exec("echo $GREETING").stdout == "hi\n"
        assert sbx.exec("echo $GREETING", env={"GREETING": "mine"}).stdout == "mine\n"
        sbx.set_network(deny=["5.6.7.0/24"])
        assert sbx.network == {"internet": True, "allow": [], "deny": ["5.6.7.0/24"]}
        assert sbx.refresh().network == sbx.network
        with pytest.raises(thaw.ThawError) as e:
            sbx.set_network(allow=["1.2.3.4:0"])
        assert e.value.status == 400 and "port" in str(e.value), e.value
    with pytest.raises(thaw.ThawError) as e:
        Sandbox.create(client=client, env={"1BAD": "x"})
    assert e.value.status == 400, e.value


def test_threads_share_a_client(client, sbx):
    results = []

    def work(i):
        results.append(sbx.exec(f"echo {i}").stdout)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [f"{i}\n" for i in range(4)], results


def test_pip_installs_offline(tmp_path):
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--quiet",
                        "--target", str(target), str(SDK_DIR)],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0 and "No module named pip" in r.stderr:
        pytest.skip("pip is not installed for this Python")
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-c", "import thaw, sys; print(thaw.__file__)"],
                       capture_output=True, text=True, cwd=str(tmp_path),
                       env={"PYTHONPATH": str(target)})
    assert r.returncode == 0 and str(target) in r.stdout, r
    T.check("pip install --no-index ./sdk/python installed an importable package")


def test_processes_and_user(sbx):
    pid = sbx.start("read line; echo got-$line; sleep 300", stdin_open=True, tag="sdk",
                    timeout=600)
    assert sbx.processes.get(tag="sdk")["pid"] == pid
    sbx.processes.send_stdin(pid, "abc\n")
    seen = []
    for ev in sbx.processes.attach(pid, from_start=True):
        seen.append(ev)
        if ev.kind == "stdout" and b"got-abc" in ev.data:
            break
    assert seen[0].kind == "start" and seen[-1].text == "got-abc\n", seen
    assert sbx.processes.wait(pid, timeout=1) is None
    sbx.processes.signal(pid, "TERM")
    assert sbx.processes.wait(pid, timeout=30)["signal"] == 15
    chunks = []
    ev = sbx.processes.attach(pid, on_stdout=chunks.append)
    assert ev.kind == "exit" and ev.signal == 15 and chunks == ["got-abc\n"], (ev, chunks)
    tty = sbx.start("read x; stty size", pty=True, rows=24, cols=80)
    sbx.processes.resize(tty, 33, 99)
    sbx.processes.send_stdin(tty, "\r")
    assert sbx.processes.wait(tty)["exit_code"] == 0
    assert "33 99" in "".join(e.text for e in sbx.processes.attach(tty))
    r = sbx.exec("id -un; pwd", user="user", tag="who")
    assert r.stdout == "user\n/home/user\n" and r.pid > 1, r
    assert sbx.processes.get(pid=r.pid)["tag"] == "who"
    with pytest.raises(thaw.NotFound):
        sbx.processes.signal(999999, "TERM")
    with pytest.raises(thaw.InvalidRequest):
        sbx.exec("id", user="nosuchuser")
    T.check("SDK: start (stdin_open, pty), processes.get/send_stdin/attach/wait/signal/"
            "resize; exec user= and tag=; NotFound and InvalidRequest")
