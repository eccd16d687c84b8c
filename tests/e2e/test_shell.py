"""thaw shell: the real CLI on a real pseudo-terminal here, talking to a
shell on a pseudo-terminal in the guest: typed commands run, ^C reaches
the guest as SIGINT, a window resize is seen inside, and the exit status
comes back. Also the upgrade's refusals."""

import fcntl
import os
import pty
import select
import struct
import termios
import time

import thawlib as T


class Term:
    """thaw shell under a local pseudo-terminal."""

    def __init__(self, sid, rows=30, cols=100, cmd=None):
        d = T.current()
        pid, fd = pty.fork()
        if pid == 0:
            os.environ["THAW_API_URL"] = d.url
            os.environ["THAW_API_KEY"] = d.key
            args = [str(d.cli_bin), "shell"] + (["-c", cmd] if cmd else []) + [sid]
            os.execv(args[0], args)
        self.pid, self.fd, self.seen = pid, fd, b""
        self.resize(rows, cols)

    def resize(self, rows, cols):
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.kill(self.pid, 28)  # SIGWINCH, as a terminal emulator would

    def send(self, text):
        os.write(self.fd, text.encode() if isinstance(text, str) else text)

    def expect(self, needle, timeout=20):
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} did not appear; the screen ends with {self.seen[-300:]!r}"
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    self.seen += os.read(self.fd, 65536)
                except OSError:
                    break
        assert needle.encode() in self.seen, f"{needle!r} not in {self.seen[-300:]!r}"

    def wait(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                r, _, _ = select.select([self.fd], [], [], 0.1)
                if r:
                    self.seen += os.read(self.fd, 65536)
            except OSError:
                time.sleep(0.05)
        raise AssertionError("thaw shell did not exit")


def test_interactive_shell(sandboxes):
    sid = sandboxes()["id"]
    t = Term(sid, rows=30, cols=100)
    t.send("echo hello-$((6*7))\r")
    t.expect("hello-42")
    t.send("stty size\r")
    t.expect("30 100")
    t.resize(40, 120)
    time.sleep(0.3)
    t.send("stty size\r")
    t.expect("40 120")
    t.send("sleep 300; echo after-sleep\r")
    time.sleep(1)
    t.send(b"\x03")  # ^C: SIGINT to the foreground job in the guest
    t.send("echo interrupted-$?\r")
    t.expect("interrupted-130")
    assert "sleep" not in T.sh(sid, "ps -eo comm")
    t.send("exit 7\r")
    assert t.wait() == 7
    T.check("thaw shell: typed command ran, stty saw 30x100 then 40x120, ^C interrupted "
            "sleep (130), exit 7 came back")


def test_shell_command_and_exit_status(sandboxes):
    sid = sandboxes()["id"]
    t = Term(sid, cmd="tty; test -t 0 && echo is-a-tty; exit 3")
    t.expect("is-a-tty")
    assert t.wait() == 3


def test_closing_the_client_ends_the_guest_side(sandboxes):
    sid = sandboxes()["id"]
    t = Term(sid, cmd="exec sleep 600")
    deadline = time.monotonic() + 15
    while "sleep" not in T.sh(sid, "ps -eo comm"):
        assert time.monotonic() < deadline, "the shell command did not start"
        time.sleep(0.2)
    os.kill(t.pid, 9)
    t.wait()
    T.wait_until(lambda: "sleep" not in T.sh(sid, "ps -eo comm"), 10, 0.2,
                 what="the guest side of a killed client to end")


def test_upgrade_refusals(sandboxes):
    sid = sandboxes()["id"]
    st, resp = T.api("GET", f"/v1/sandboxes/{sid}/shell")
    assert st == 400 and "Upgrade" in resp["error"], (st, resp)
    up = {"Connection": "Upgrade", "Upgrade": "thaw-shell"}
    st, _, raw = T.request("GET", "/v1/sandboxes/sb-aaaaaaaaaaaa/shell", headers=up)
    assert st == 404, raw
    st, _, raw = T.request("GET", f"/v1/sandboxes/{sid}/shell?rows=0", headers=up)
    assert st == 400, raw
    st, _, raw = T.request("GET", f"/v1/sandboxes/{sid}/shell?auto_resume=maybe", headers=up)
    assert st == 400 and b"auto_resume" in raw, raw
    st, _, raw = T.request("GET", f"/v1/sandboxes/{sid}/shell", headers=up, key="wrong")
    assert st == 401, raw
