"""thawd dies (SIGKILL) or stops (SIGTERM) with sandboxes running, or in
the middle of a create; the next start adopts what is healthy, cleans up
what is broken, and leaves nothing orphaned. The session's thawd is
restarted in place: same port, same data dir, same key."""

import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

import thawlib as T


@pytest.fixture
def clean_start(thawd, template):
    """Each test starts with no sandboxes and the API key recorded; after
    it (passed or not) thawd runs and its sandboxes are deleted."""
    assert thawd.running()
    for sid in T.list_ids():
        T.delete(sid)
    key_file = (thawd.data_dir / "api-key").read_text()
    yield key_file
    if not thawd.running():
        thawd.start()
    for sid in T.list_ids():
        T.api("DELETE", f"/v1/sandboxes/{sid}")


def _vmm_pids(ids):
    return {sid: T.sandbox_resources(sid)["vmm"] for sid in ids}


def _assert_key_unchanged(thawd, key_file):
    assert (thawd.data_dir / "api-key").read_text() == key_file, "the API key file changed"
    assert thawd.key == key_file.strip()
    st, _ = T.api("GET", "/v1/sandboxes", key=key_file.strip())
    assert st == 200, f"the old key is refused after a restart: {st}"


def _assert_listed_exactly(ids):
    listed = T.list_sandboxes()
    got = [s["id"] for s in listed]
    assert len(got) == len(set(got)), f"duplicated sandboxes in the list: {got}"
    assert sorted(got) == sorted(ids), f"listed {sorted(got)}, expected {sorted(ids)}"
    for s in listed:
        assert s["state"] == "running", s
    return listed


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_running_sandboxes_are_adopted(thawd, clean_start, sig):
    ids = [T.create(timeout_s=1200, metadata={"i": i})["id"] for i in range(3)]
    for sid in ids:
        T.sh(sid, f"echo {sid} > /root/who")
    pids = _vmm_pids(ids)
    assert all(pids.values()), pids
    before = {s["id"]: s for s in T.list_sandboxes()}
    T.restart_thawd(sig)
    listed = _assert_listed_exactly(ids)
    for s in listed:
        b = before[s["id"]]
        for k in ("template", "build_id", "created_at", "timeout_at", "metadata", "timings_ms"):
            assert s[k] == b[k], f"{s['id']}: {k} was {b[k]!r}, now {s[k]!r}"
    assert _vmm_pids(ids) == pids, "VMM processes were replaced, not adopted"
    warm, _, _ = T.pools()
    vmms = {n for n in T.vmm_processes(thawd.prefix) if n[len(thawd.prefix):] not in warm}
    assert len(vmms) == 3, f"expected 3 sandbox VMMs besides the warm pool {warm}, found {vmms}"
    for sid in ids:
        assert T.sh(sid, ["cat", "/root/who"]) == f"{sid}\n", "the guest lost its state"
    T.assert_host_matches(ids)
    _assert_key_unchanged(thawd, clean_start)
    # Adopted sandboxes are fully managed: delete cleans them up.
    T.delete(ids[0])
    T.wait_until(lambda: not T.sandbox_resources(ids[0])["vmm"], 10, what="the VMM to exit")
    T.assert_gone(ids[0])
    T.check(f"{sig.name}: 3 running sandboxes adopted (same VMM pids {sorted(pids.values())}, "
            "same records, guest state kept, exec works, delete cleans up), key unchanged")


def _delete_netns_by_hand(name):
    """What `ip netns delete` does: detach the bind mount, remove the file."""
    path = T.NETNS_DIR / name
    if shutil.which("ip"):
        r = subprocess.run(["ip", "netns", "delete", name], capture_output=True, text=True)
        assert r.returncode == 0, f"ip netns delete {name}: {r.stderr}"
    else:
        r = subprocess.run(["umount", "-l", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, f"umount -l {path}: {r.stderr}"
        path.unlink()
    assert not path.exists()


def test_broken_sandboxes_are_cleaned_up(thawd, clean_start):
    dead_vmm, dead_net, healthy = (T.create(timeout_s=1200)["id"] for _ in range(3))
    pids = _vmm_pids([dead_vmm, dead_net, healthy])
    dead_netns = T.sandbox_netns(dead_net)
    thawd.stop(signal.SIGKILL)
    os.kill(pids[dead_vmm], signal.SIGKILL)
    T.wait_until(lambda: not T.sandbox_resources(dead_vmm)["vmm"], 10,
                 what="the killed VMM to exit")
    _delete_netns_by_hand(dead_netns)
    thawd.start()
    _assert_listed_exactly([healthy])
    for sid in (dead_vmm, dead_net):
        st, body = T.get(sid)
        assert st == 404, f"broken sandbox {sid} answered {st}: {body}"
    T.wait_until(lambda: not T.sandbox_resources(dead_net)["vmm"], 10,
                 what="the VMM without a network namespace to be killed")
    T.assert_gone(dead_vmm)
    T.assert_gone(dead_net)
    assert T.sandbox_resources(healthy)["vmm"] == pids[healthy], "healthy VMM replaced"
    assert T.sh(healthy, ["echo", "ok"]) == "ok\n"
    T.assert_host_matches([healthy])
    _assert_key_unchanged(thawd, clean_start)
    T.check("after SIGKILL + a VMM killed by hand + a netns deleted by hand: both broken "
            "sandboxes gone without leftovers, the healthy one adopted and answering")


def test_sigkill_during_create_leaves_no_orphans(thawd, clean_start):
    """A create in flight, thawd SIGKILLed after a delay that lands in
    different stages (row written, netns, clone, VMM start, readiness).
    One create at a time: concurrent ones trip the start-ticks race
    (see test_concurrent_creates_record_their_vmm)."""
    outcomes = []
    for delay_ms in (0, 2, 5, 10, 20, 30, 45, 60, 80, 110, 160):
        result = {}

        def create():
            try:
                result["status"], result["body"] = T.api(
                    "POST", "/v1/sandboxes", {"timeout_s": 1200}, timeout=120)
            except (ConnectionError, OSError) as e:
                result["error"] = repr(e)
        t = threading.Thread(target=create, daemon=True)
        t.start()
        time.sleep(delay_ms / 1000)
        thawd.stop(signal.SIGKILL)
        t.join(120)
        assert not t.is_alive(), "the create request hung after thawd died"
        thawd.start()
        listed = T.list_sandboxes()
        ids = [s["id"] for s in listed]
        for s in listed:
            assert s["state"] == "running", f"after a kill at {delay_ms} ms: {s}"
            r = T.exec_(s["id"], ["echo", "alive"], timeout=60)
            assert r["stdout"] == "alive\n", r
        if result.get("status") == 201:
            assert ids == [result["body"]["id"]], \
                f"a create that answered 201 before the kill: {result['body']['id']}, " \
                f"listed after the restart: {ids}"
        assert len(ids) <= 1, f"one create made {ids}"
        T.assert_host_matches(ids)
        outcomes.append(f"{delay_ms} ms: " + (f"HTTP {result['status']}" if "status" in result
                                               else "no answer") + f", {len(ids)} adopted")
        for sid in ids:
            T.delete(sid)
        T.assert_host_matches([])
    _assert_key_unchanged(thawd, clean_start)
    T.check("SIGKILL during create, then restart: no orphan VMM/netns/clone/run dir; every "
            "listed sandbox answers. " + "; ".join(outcomes))


def test_key_survives_restarts(thawd, clean_start):
    T.restart_thawd(signal.SIGKILL)
    T.restart_thawd(signal.SIGTERM)
    _assert_key_unchanged(thawd, clean_start)
    st, body = T.api("GET", "/v1/sandboxes", key="thaw_" + "0" * 48)
    assert st == 401, (st, body)
    T.check(f"after {thawd.starts} starts the API key file is unchanged and still accepted")


def test_idempotency_keys_survive_restarts(thawd, clean_start):
    """A create answered just before thawd died: the client, which never
    saw the answer, retries with its Idempotency-Key after the restart and
    gets that sandbox, not a second one. A deleted sandbox's key creates
    anew; a key whose row is damaged in the database is ignored, not a
    crash."""
    def create(key):
        return T.api("POST", "/v1/sandboxes", {}, headers={"Idempotency-Key": key})

    key = "restart-" + os.urandom(6).hex()
    st, first = create(key)
    assert st == 201, first
    st, gone = create(key + "-gone")
    assert st == 201, gone
    T.restart_thawd(signal.SIGKILL)
    st, again = create(key)
    assert st == 201 and again["id"] == first["id"], (first, again)
    assert T.list_ids().count(first["id"]) == 1
    T.delete(gone["id"])
    T.restart_thawd(signal.SIGTERM)
    st, again = create(key)
    assert st == 201 and again["id"] == first["id"], (first, again)
    st, fresh = create(key + "-gone")
    assert st == 201 and fresh["id"] != gone["id"], (gone, fresh)
    # A damaged key in a row (written by hand while thawd is down) is
    # left out; the sandbox itself is adopted as before.
    thawd.stop(signal.SIGTERM)
    db = sqlite3.connect(str(thawd.data_dir / "thaw.db"), timeout=10)
    try:
        db.execute("UPDATE sandboxes SET idem = ? WHERE id = ?", ("bad key\n", fresh["id"]))
        db.commit()
    finally:
        db.close()
    thawd.start()
    assert sorted(T.list_ids()) == sorted([first["id"], fresh["id"]])
    st, third = create(key + "-gone")
    assert st == 201 and third["id"] not in (first["id"], fresh["id"]), third
    assert create(key)[1]["id"] == first["id"]
    T.check("Idempotency-Key after SIGKILL and SIGTERM restarts: the retry gets the sandbox "
            "the first create made; a deleted sandbox's key creates anew; a damaged key in "
            "the database is ignored")


def _recorded_vmm(thawd, sid):
    """(vmm_pid, vmm_start_ticks) as thawd recorded them in its SQLite
    database (opened read-only)."""
    db = sqlite3.connect(f"file:{thawd.data_dir / 'thaw.db'}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT vmm_pid, vmm_start_ticks FROM sandboxes WHERE id = ?",
                          (sid,)).fetchone()
    finally:
        db.close()


def _start_ticks(pid):
    """Field 22 of /proc/PID/stat (counted after the command name)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


# Not strict: a data race cannot be forced from outside. In runs here it
# showed within 2-30 rounds in about 2 of 3 sessions and not at all in the
# others, so a fixed thawd passes (XPASS) and a broken one usually fails.
def test_concurrent_creates_record_their_vmm(thawd, clean_start):
    """Each round: SIGKILL + restart, then 3 creates at once (the first
    creates of a fresh thawd: the race shows most there). Every create must
    succeed and record its own VMM's pid and start time, which is what a
    restart uses to adopt it (a wrong record: the next start kills the
    healthy VMM as an orphan). Up to 60 rounds (15-20 s); stops at the
    first failure."""
    t0 = time.monotonic()
    rounds = 0
    while rounds < 60 and time.monotonic() - t0 < 120:
        rounds += 1
        _create_round(thawd, rounds)
    T.check(f"{rounds} rounds of SIGKILL restart + 3 concurrent creates: all created, each "
            "recorded its own VMM pid and start time")


def _create_round(thawd, rounds):
    T.restart_thawd(signal.SIGKILL)
    results = T.in_threads([lambda: T.api("POST", "/v1/sandboxes", {"timeout_s": 1200},
                                          timeout=120)] * 3)
    ids = [body["id"] for st, body in results if st == 201]
    try:
        bad = [(st, body) for st, body in results if st != 201]
        assert not bad, f"round {rounds}: concurrent creates failed: {bad}"
        for sid in ids:
            pid = T.sandbox_resources(sid)["vmm"]
            want = (pid, _start_ticks(pid))
            got = _recorded_vmm(thawd, sid)
            assert got == want, f"round {rounds}: {sid} recorded VMM (pid, start ticks) " \
                f"{got}, the VMM is {want}"
    finally:
        for sid in ids:
            T.delete(sid)


def test_a_second_thawd_on_the_data_dir_is_refused(thawd, clean_start):
    """The data dir's lock: a second thawd waits a moment (a killed one's
    last VMM child may still hold the lock on its way to exec), then
    refuses, and the running one is untouched."""
    t0 = time.monotonic()
    r = subprocess.run([str(thawd.thawd_bin), "--listen", "127.0.0.1:1", "--data-dir",
                        str(thawd.data_dir), "--slot-pool", "0", "--vmm-pool", "0"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "another thawd already runs with data dir" in out, out
    assert took >= 1.9, f"refused after {took:.2f} s, without waiting for a dying one"
    assert thawd.running() and T.api("GET", "/v1/info")[0] == 200
    T.check(f"a second thawd on the data dir: refused after {took:.1f} s; the first runs on")


def test_sigterm_is_prompt_with_a_long_exec_running(thawd, clean_start):
    sid = T.create(timeout_s=1200)["id"]
    result = {}

    def long_exec():
        try:
            result["answer"] = T.api("POST", f"/v1/sandboxes/{sid}/exec",
                                     {"cmd": "sleep 120", "timeout_s": 300}, timeout=200)
        except (ConnectionError, OSError) as e:
            result["answer"] = repr(e)
    th = threading.Thread(target=long_exec, daemon=True)
    th.start()
    time.sleep(1.0)
    t0 = time.monotonic()
    try:
        rc = thawd.stop(signal.SIGTERM, timeout=15)
    except T.ThawdError as e:
        raise AssertionError(f"thawd still ran 15 s after SIGTERM with one exec in flight "
                             f"({e})") from None
    took = time.monotonic() - t0
    th.join(30)
    thawd.start()
    assert rc == 0, rc
    assert T.list_ids() == [sid], "the sandbox was not adopted after the SIGTERM restart"
    T.check(f"SIGTERM with a 120 s exec in flight: thawd exited {rc} after {took:.1f} s; "
            f"the exec got {result.get('answer')!r:.80}")
