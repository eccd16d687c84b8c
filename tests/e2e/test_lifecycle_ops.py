"""Fork, pause/resume, snapshot-to-template, keepalive and the timeout
that pauses, against real guests: what a process holds in memory and
what the disk holds survive each of them, copies diverge afterwards,
clones get their own identity, clock and entropy, and nothing is left on
the host once the sandboxes and templates are gone."""

import os
import secrets
import signal
import subprocess
import threading
import time

import pytest

import thawlib as T

# A process whose whole state is in guest memory: a random value made
# after the sandbox started, kept in a variable and in tmpfs, and served
# to whoever asks through a FIFO. It survives only if RAM does.
HOLDER = r"""
mkfifo /run/ask /run/answer
nohup python3 -c '
import os, secrets
value = secrets.token_hex(16)
open("/dev/shm/value", "w").write(value)
open("/run/holder.pid", "w").write(str(os.getpid()))
while True:
    with open("/run/ask") as q:
        q.read()
    with open("/run/answer", "w") as a:
        a.write(value)
' >/dev/null 2>&1 &
for i in $(seq 100); do [ -s /dev/shm/value ] && break; sleep 0.05; done
cat /dev/shm/value
"""

ASK = "echo x > /run/ask; cat /run/answer"
ENTROPY = "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'"


def _start_holder(sid):
    value = T.sh(sid, HOLDER).strip()
    assert len(value) == 32, value
    return value


def _assert_holder(sid, value, what, tmpfs=True):
    got = T.sh(sid, ASK, timeout_s=10).strip()
    assert got == value, f"{what}: the process in memory answers {got!r}, expected {value!r}"
    if tmpfs:
        assert T.sh(sid, "cat /dev/shm/value").strip() == value, f"{what}: tmpfs lost its value"


def _guest_time(sid):
    return int(T.sh(sid, "date +%s").strip())


def _images():
    d = T.current().store / "images"
    return sorted(e for e in os.listdir(d) if not e.startswith(".")) if d.exists() else []


def _state(sid):
    st, body = T.get(sid)
    assert st == 200, body
    return body


def _post(sid, op, body=None, expect=200):
    st, resp = T.api("POST", f"/v1/sandboxes/{sid}/{op}", body)
    assert st == expect, f"{op} {sid} answered {st}: {resp}"
    return resp


@pytest.fixture
def forks(sandboxes):
    """Deletes whatever fork children a test made (by the parent's id)."""
    children = []
    yield children
    for sid in children:
        T.api("DELETE", f"/v1/sandboxes/{sid}")


def test_pause_resume_keeps_memory_disk_and_gets_a_fresh_clock(sandboxes):
    sid = sandboxes(timeout_s=600)["id"]
    value = _start_holder(sid)
    T.sh(sid, "echo on-disk > /root/kept && sync")
    before = T.sandbox_resources(sid)["vmm"]
    assert before
    p = _post(sid, "pause", {})
    assert p["state"] == "paused" and p["paused_at"], p
    assert "slot" not in p["network"] and "netns" not in p["network"], p  # no slot
    assert p["duration_ms"] > 0
    assert T.sandbox_resources(sid)["vmm"] is None, "a paused sandbox still has its VMM"
    assert not T.sandbox_resources(sid)["clone_dir"], "a paused sandbox still has its disk clone"
    got = _state(sid)
    assert got["state"] == "paused" and got["disk"]["allocated_bytes"] > 0, got
    assert sid in T.list_ids()
    # Paused: commands are refused (409) unless they ask for a resume.
    st, resp = T.api("POST", f"/v1/sandboxes/{sid}/exec", {"cmd": "true"})
    assert st == 409 and "paused" in resp["error"], (st, resp)
    time.sleep(3)  # the guest clock must not come back 3 s late
    r = _post(sid, "resume", {})
    assert r["state"] == "running" and r["paused_at"] is None, r
    assert abs(_guest_time(sid) - time.time()) <= 2, "guest clock is off after resume"
    _assert_holder(sid, value, "after resume")
    assert T.sh(sid, "cat /root/kept").strip() == "on-disk"
    assert T.sandbox_resources(sid)["vmm"] != before, "resume reused the old VMM"
    T.check(f"pause {p['duration_ms']:.0f} ms, resume {r['duration_ms']:.0f} ms: "
            "process, tmpfs, disk kept; clock right")
    # A second round works from the first round's image.
    _post(sid, "pause", {})
    _post(sid, "resume", {})
    _assert_holder(sid, value, "after a second pause")


def test_pause_and_resume_are_idempotent(sandboxes):
    sid = sandboxes()["id"]
    assert _post(sid, "resume", {})["state"] == "running"
    _post(sid, "pause", {})
    assert _post(sid, "pause")["state"] == "paused"  # an empty body is {}
    assert _post(sid, "resume", {})["state"] == "running"
    T.check("resume of a running and pause of a paused sandbox answer 200 unchanged")


def test_delete_of_a_paused_sandbox_frees_its_image(sandboxes):
    sid = sandboxes()["id"]
    _post(sid, "pause", {})
    assert _images(), "no image for a paused sandbox"
    T.delete(sid)
    T.delete(sid, expect=404)
    T.wait_until(lambda: not _images(), 10, what="the paused image to be removed")
    T.assert_gone(sid)
    T.check("deleting a paused sandbox removes its image")


def test_exec_with_auto_resume_resumes_a_paused_sandbox(sandboxes):
    sid = sandboxes()["id"]
    T.sh(sid, "echo 41 > /root/n")
    _post(sid, "pause", {})
    r = T.exec_(sid, "echo $(( $(cat /root/n) + 1 ))", auto_resume=True)
    assert r["exit_code"] == 0 and r["stdout"].strip() == "42", r
    assert _state(sid)["state"] == "running"
    T.check("exec with auto_resume on a paused sandbox resumed it and ran")


def test_timeout_pauses_instead_of_deleting(sandboxes):
    sb = sandboxes(timeout_s=2, on_timeout="pause", auto_resume=True)
    sid = sb["id"]
    assert sb["on_timeout"] == "pause" and sb["auto_resume"] is True, sb
    value = _start_holder(sid)
    T.wait_until(lambda: _state(sid)["state"] == "paused", 30, what="the timeout to pause it")
    # auto_resume set at create: a plain exec brings it back.
    _assert_holder(sid, value, "after a timeout pause and an auto-resume")
    again = _state(sid)
    assert again["state"] == "running" and again["timeout_s"] == 2, again
    T.check("a timeout with on_timeout=pause paused it; a plain exec resumed it")


def test_keepalive_moves_the_deadline(sandboxes):
    sid = sandboxes(timeout_s=3)["id"]
    r = _post(sid, "keepalive", {"timeout_s": 600})
    assert r["timeout_s"] == 600, r
    time.sleep(4)
    assert _state(sid)["state"] == "running", "expired despite the keepalive"
    r = _post(sid, "keepalive", {"timeout_s": 0})
    assert r["timeout_at"] is None, r
    T.check("keepalive extended the timeout; 0 means never")


def test_fork_children_share_the_past_and_diverge(sandboxes, forks):
    parent = sandboxes(timeout_s=600)["id"]
    value = _start_holder(parent)
    T.sh(parent, "echo parent-disk > /root/shared && sync")
    r = _post(parent, "fork", {"count": 2}, expect=201)
    kids = [c["id"] for c in r["sandboxes"]]
    forks.extend(kids)
    assert len(kids) == 2 and r["parent"] == parent, r
    assert r["timings_ms"]["parent_stopped"] < r["timings_ms"]["total"], r
    for c in r["sandboxes"]:
        assert c["state"] == "running" and c["parent"] == parent, c
    for sid in [parent] + kids:
        _assert_holder(sid, value, f"fork member {sid}")
        assert T.sh(sid, "cat /root/shared").strip() == "parent-disk"
        assert T.sh(sid, ["cat", "/proc/sys/kernel/hostname"]).strip() == sid
        assert abs(_guest_time(sid) - time.time()) <= 2, f"{sid}: clock is off"
    noise = {sid: T.sh(sid, ENTROPY) for sid in [parent] + kids}
    assert len(set(noise.values())) == 3, f"fork members read the same entropy: {noise}"
    # Diverge: each writes its own file and memory; nobody sees the others'.
    for sid in [parent] + kids:
        T.sh(sid, f"echo {sid} > /root/shared && echo {sid} > /dev/shm/value && sync")
    for sid in [parent] + kids:
        assert T.sh(sid, "cat /root/shared /dev/shm/value").split() == [sid, sid]
    T.check(f"fork of 2 in {r['timings_ms']['total']:.0f} ms (parent stopped "
            f"{r['timings_ms']['parent_stopped']:.0f} ms): memory, disk, process inherited; "
            "hostname, entropy, clock own; writes diverge")
    # The children outlive the parent; their image goes with the last one.
    T.delete(parent)
    for sid in kids:
        _assert_holder(sid, value, "child after the parent's delete", tmpfs=False)
    assert _images(), "the children's image is gone while they run"
    for sid in kids:
        T.delete(sid)
    T.wait_until(lambda: not _images(), 10, what="the fork image to be removed")
    T.assert_host_matches(T.list_ids())


def test_fork_of_a_paused_sandbox_and_bad_forks(sandboxes, forks):
    sid = sandboxes()["id"]
    _post(sid, "pause", {})
    st, resp = T.api("POST", f"/v1/sandboxes/{sid}/fork", {"count": 1})
    assert st == 409 and "paused" in resp["error"], (st, resp)
    _post(sid, "resume", {})
    for body, code in [({"count": 0}, 400), ({"count": 17}, 400), ({"count": "2"}, 400),
                       ({"cnt": 1}, 400), ([1], 400)]:
        st, resp = T.api("POST", f"/v1/sandboxes/{sid}/fork", body)
        assert st == code and resp.get("error"), (body, st, resp)
    st, resp = T.api("POST", "/v1/sandboxes/sb-aaaaaaaaaaaa/fork", {})
    assert st == 404, (st, resp)
    st, resp = T.api("POST", f"/v1/sandboxes/{sid}/pause", {"now": True})
    assert st == 400 and "now" in resp["error"], (st, resp)
    st, resp = T.api("POST", f"/v1/sandboxes/{sid}/keepalive", {})
    assert st == 400 and "timeout_s" in resp["error"], (st, resp)
    assert _state(sid)["state"] == "running"
    T.sh(sid, "true")
    T.check("fork of a paused sandbox 409; bad fork/pause/keepalive bodies 400; unknown 404")


def _template(name):
    return T.api("GET", f"/v1/templates/{name}")


def test_snapshot_makes_a_template_that_creates_copies(sandboxes):
    name = "snap-" + secrets.token_hex(4)
    src = sandboxes()["id"]
    value = _start_holder(src)
    T.sh(src, "echo installed > /root/marker && sync")
    r = _post(src, "snapshot", {"template": name}, expect=201)
    assert r["name"] == name and r["source_sandbox"] == src, r
    _assert_holder(src, value, "the source after its snapshot")
    st, t = _template(name)
    assert st == 200 and t["status"] == "ready", t
    assert t["source"] == {"kind": "snapshot", "sandbox": src}, t
    st, again = T.api("POST", f"/v1/sandboxes/{src}/snapshot", {"template": name})
    assert st == 409, (st, again)
    st, bad = T.api("POST", f"/v1/sandboxes/{src}/snapshot", {"template": "Bad Name"})
    assert st == 400, (st, bad)
    copy = sandboxes(template=name)
    cid = copy["id"]
    assert copy["template"] == name
    _assert_holder(cid, value, "a sandbox created from the snapshot template")
    assert T.sh(cid, "cat /root/marker").strip() == "installed"
    assert T.sh(cid, ["cat", "/proc/sys/kernel/hostname"]).strip() == cid
    assert T.sh(cid, ENTROPY) != T.sh(src, ENTROPY)
    T.check(f"snapshot {name} in {r['timings_ms']['total']:.0f} ms (stopped "
            f"{r['timings_ms']['sandbox_stopped']:.0f} ms); create from it "
            f"{copy['timings_ms']['total']:.0f} ms with process and disk")
    # In use: 409; once unused: 204, gone from the list and the disk.
    st, resp = T.api("DELETE", f"/v1/templates/{name}")
    assert st == 409 and "used by 1 sandbox" in resp["error"], (st, resp)
    T.delete(cid)
    st, _ = T.api("DELETE", f"/v1/templates/{name}")
    assert st == 204
    assert _template(name)[0] == 404
    assert T.template_info(name) is None
    T.wait_until(lambda: not T.current().template_dir(name).exists(), 10,
                 what="the template's directory to be removed")
    assert T.api("DELETE", f"/v1/templates/{name}")[0] == 404
    st, resp = T.api("POST", "/v1/sandboxes", {"template": name})
    assert st == 404, (st, resp)
    T.check("template delete: 409 while used, 204 after, files gone, create 404")


def test_restart_keeps_paused_sandboxes(thawd, sandboxes):
    sid = sandboxes()["id"]
    value = _start_holder(sid)
    _post(sid, "pause", {})
    T.restart_thawd(signal.SIGKILL)
    got = _state(sid)
    assert got["state"] == "paused", got
    _post(sid, "resume", {})
    _assert_holder(sid, value, "resumed after a SIGKILL of thawd")
    T.assert_host_matches(T.list_ids())
    T.check("a paused sandbox survives SIGKILL of thawd and resumes")


@pytest.mark.parametrize("op", ["fork", "pause"])
def test_sigkill_during_an_operation_leaves_a_consistent_host(thawd, sandboxes, op):
    sid = sandboxes()["id"]
    value = _start_holder(sid)
    body = {"count": 2} if op == "fork" else {}
    done = threading.Event()

    def call():
        try:
            T.api("POST", f"/v1/sandboxes/{sid}/{op}", body, timeout=60)
        except Exception:  # noqa: BLE001 - the server dies under it
            pass
        done.set()
    threading.Thread(target=call, daemon=True).start()
    time.sleep(0.15)
    T.restart_thawd(signal.SIGKILL)
    done.wait(60)
    listed = {s["id"]: s for s in T.list_sandboxes()}
    assert sid in listed, f"the {op} source vanished: {sorted(listed)}"
    assert listed[sid]["state"] in ("running", "paused"), listed[sid]
    if listed[sid]["state"] == "paused":
        _post(sid, "resume", {})
    _assert_holder(sid, value, f"the source after SIGKILL during {op}")
    for other, s in listed.items():
        if other != sid:
            assert s["parent"] == sid and s["state"] == "running", s
            _assert_holder(other, value, "a child that survived the crash")
    T.assert_host_matches(list(listed))
    for other in listed:
        if other != sid:
            T.delete(other)
    T.delete(sid)
    T.wait_until(lambda: not _images(), 20, what="images to be collected")
    T.check(f"SIGKILL during {op}: source {listed[sid]['state']}, "
            f"{len(listed) - 1} child(ren) whole, host matches, images collected")


# The agent's port, 7070, as /proc/net/tcp writes it; state 01 = established.
AGENT_CONNS = "awk '$2 ~ /:1B9E$/ && $4 == \"01\"' /proc/net/tcp | wc -l"


def _host_time_waits(sid):
    """The slot's closed connections to the guest agent (the host end
    closes first, so each one thawd opened and closed waits here)."""
    ns = _state(sid)["network"]["netns"]
    out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Htan", "state", "time-wait",
                          "dst", "172.16.0.2:7070"], capture_output=True, text=True, check=True)
    return len(out.stdout.splitlines())


def test_agent_connections_are_reused_and_a_restore_drops_stale_ones(sandboxes, forks):
    """thawd parks a finished call's connection for the next one (the
    readiness probe's serves the first exec), and a VM restored from a
    snapshot that held parked connections closes them at its first HELLO:
    the guest never keeps connections whose host end is gone."""
    sid = sandboxes(timeout_s=600)["id"]
    before = _host_time_waits(sid)
    for _ in range(20):
        # Only the connection this command came on is open to the agent.
        assert T.sh(sid, AGENT_CONNS).strip() == "1"
    assert _host_time_waits(sid) - before <= 1, "execs did not reuse a connection"
    # A command left running in the background keeps its connection
    # busy: the next exec must not be sent down it.
    st, r = T.api("POST", f"/v1/sandboxes/{sid}/exec",
                  {"cmd": "sleep 3; echo late", "background": True})
    assert st == 202, (st, r)
    assert T.sh(sid, "echo now").strip() == "now"
    # Pause, resume, fork: each restore starts from a snapshot holding a
    # parked connection; the guest drops it.
    _post(sid, "pause", {})
    _post(sid, "resume", {})
    assert T.sh(sid, AGENT_CONNS).strip() == "1", "a resumed guest kept a stale connection"
    r = _post(sid, "fork", {"count": 1}, expect=201)
    kid = r["sandboxes"][0]["id"]
    forks.append(kid)
    assert T.sh(kid, AGENT_CONNS).strip() == "1", "a fork child kept its parent's connection"
    assert T.sh(sid, AGENT_CONNS).strip() == "1"
    T.check("20 execs on one connection (host TIME_WAITs +<=1); a background command's "
            "connection not reused; after resume and in a fork child the guest holds only "
            "the current connection")
