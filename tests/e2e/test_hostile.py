"""A hostile guest: what a sandbox does to itself must not reach the host
or other sandboxes, and must not take the guest agent down. After each
attack the agent still answers exec, a bystander sandbox is untouched
(same VMM, its state intact, answering) and delete cleans up."""

import time

import pytest

import thawlib as T


@pytest.fixture(scope="module")
def bystander(template):
    sid = T.create(timeout_s=3600)["id"]
    T.sh(sid, "echo untouched > /root/mark")
    pid = T.sandbox_resources(sid)["vmm"]
    yield sid, pid
    T.api("DELETE", f"/v1/sandboxes/{sid}")


@pytest.fixture
def victim(sandboxes, bystander):
    """A fresh sandbox to attack; afterwards: the bystander is intact and
    the victim's delete leaves nothing behind."""
    sid = sandboxes(timeout_s=3600)["id"]
    yield sid
    by, pid = bystander
    assert T.sandbox_resources(by)["vmm"] == pid, "the bystander's VMM changed"
    assert T.sh(by, ["cat", "/root/mark"], timeout=120) == "untouched\n"
    T.delete(sid)
    T.assert_gone(sid)
    T.assert_host_matches([by])
    assert T.healthy()


def _answers(sid, within=120):
    """exec answers within `within` seconds (retried: a guest still
    busy with the attack's aftermath may be slow)."""
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        st, body = T.api("POST", f"/v1/sandboxes/{sid}/exec",
                         {"cmd": ["echo", "alive"], "timeout_s": 60}, timeout=90)
        if st == 200 and body["stdout"] == "alive\n":
            return time.monotonic() - (deadline - within)
        last = (st, body)
        print(f"  [{time.strftime('%H:%M:%S')}] exec in {sid} answered {st}: {str(body)[:120]}")
        time.sleep(1)
    raise AssertionError(f"the agent of {sid} no longer answers exec: {last}")


def test_kill_everything_but_init(victim):
    T.sh(victim, "sleep 600 >/dev/null 2>&1 & echo started")
    r = T.exec_(victim, "kill -9 -1; echo survived")
    # kill(-1) spares PID 1 (the agent) and the caller.
    assert r["stdout"] == "survived\n", r
    took = _answers(victim)
    left = T.sh(victim, "ps -e -o comm= 2>/dev/null | grep -c sleep || true")
    assert left.strip() == "0", f"sleep survived kill -9 -1: {left}"
    T.check(f"kill -9 -1 killed every guest process but the agent; exec answered after "
            f"{took:.1f} s")


def test_fork_bomb(victim):
    """Nothing in the guest confines a command's processes (see the
    notes at the end of this file): a fork bomb on a 1-vCPU TCG guest may
    keep it too busy to answer for minutes. What must hold: the host and
    the bystander are unharmed, and delete works (the fixture checks
    both). Whether exec answered again within 60 s is reported."""
    st, r = T.api("POST", f"/v1/sandboxes/{victim}/exec",
                  {"cmd": "bomb() { bomb | bomb & }; bomb; sleep 60", "timeout_s": 5},
                  timeout=300)
    # Timed out in the guest, or the guest too busy to say so in time
    # (the host's own deadline: 504).
    assert (st == 200 and r["timed_out"]) or (st == 504 and r["code"] == "timeout"), (st, r)
    try:
        took = f"answered after {_answers(victim, within=60):.1f} s"
        T.exec_(victim, "kill -9 -1; true", timeout=300)
    except AssertionError as e:
        took = f"did not answer within 60 s ({str(e)[:80]})"
    assert T.healthy()
    T.check(f"fork bomb (5 s timeout, HTTP {st}): exec {took}; thawd healthy")


def test_full_root_disk(victim):
    r = T.exec_(victim, "dd if=/dev/zero of=/root/fill bs=1M 2>&1; sync; df -k / | tail -1",
                timeout_s=600, timeout=700)
    assert "No space left on device" in r["stdout"], r
    _answers(victim)
    # The agent's own work on a full disk: a file upload fails cleanly.
    st, body = T.api("PUT", f"/v1/sandboxes/{victim}/files?path=/root/more",
                     b"x" * (1 << 20))
    assert st >= 400 and isinstance(body, dict) and body.get("error"), (st, body)
    r = T.exec_(victim, "echo written > /root/small; echo $?", timeout=120)
    T.sh(victim, "rm -f /root/fill; sync")
    assert T.sh(victim, "echo ok > /root/after && cat /root/after") == "ok\n"
    T.check(f"root disk filled to ENOSPC; exec answered, an upload failed with {st} "
            f"({body['error'][:60]!r}), and after rm the disk works again")


def test_spinning_cpus(victim):
    for _ in range(4):
        T.exec_(victim, ["sh", "-c", "while :; do :; done"], background=True, expect=202)
    took = _answers(victim)
    T.exec_(victim, "kill -9 -1; true")
    T.check(f"4 background CPU spinners: exec still answered in {took:.1f} s")


FLOOD = r"""
import socket, sys
held = []
for i in range(int(sys.argv[1])):
    s = socket.socket()
    s.connect(("127.0.0.1", 7070))
    held.append(s)
    try:
        if i % 4 == 0:
            s.sendall(b"\xff" * 64)  # garbage: the agent drops these
    except OSError:
        pass
open("/root/flood.out", "w").write(f"{len(held)}\n")
import time
time.sleep(600)
"""


def test_agent_connection_flood(victim):
    """Guest processes may connect to the agent's port too: 200 idle or
    garbage connections held open must not lock the host out."""
    T.sh(victim, "cat > /root/flood.py", stdin=FLOOD)
    T.exec_(victim, ["python3", "/root/flood.py", "200"], background=True, expect=202)
    T.wait_until(lambda: T.sh(victim, "cat /root/flood.out 2>/dev/null || true") == "200\n",
                 120, interval=1, what="the flood to connect")
    took = _answers(victim, within=60)
    for i in range(5):
        T.sh(victim, ["echo", str(i)])
    T.exec_(victim, "pkill -9 -f flood.py; true")
    T.check(f"200 guest connections held on the agent's port: the host's exec answered in "
            f"{took:.1f} s")


# Notes. The agent runs each command in its own session and kills its
# process group on a timeout or a closed connection; it sets no limit on
# the processes or memory a command may use. A fork bomb therefore runs
# until the guest's memory or pid space is exhausted, and on a 1-vCPU TCG
# guest the timeout's group kill does not always get the guest back (in
# runs here: once after 56 s, once not within 4 minutes). Confining each
# command in its own cgroup (pids.max, memory.max, cgroup.kill on
# timeout) would bound it; until then delete is the way out.
