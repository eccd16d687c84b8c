"""Damaged template artifacts and a full data disk, on a thawd of its own
(data dir <session data dir>-art, slots from 10.206.0.0/16, an 8 GiB
store so that filling it is quick).

A template whose device state or memory file is truncated, corrupted or
missing: create answers a clear error naming the problem, makes no
sandbox, leaks nothing, does not make thawd hash the memory file over and
over, and thawd keeps serving another template. A full store: create,
fork, pause and disk writes in a running guest fail cleanly (nothing
half-made, no VM left hanging), and everything works once there is room
again."""

import os
import shutil
import subprocess
import time

import pytest

import thawlib as T

SNAP = "art-snap"

pytestmark = pytest.mark.own_thawd


@pytest.fixture(scope="module")
def art(thawd, template):
    d = T.own_thawd(thawd, "-art", "10.206.0.0/16",
                    ["--store-size", "8", "--vmm-pool", "1", "--slot-pool", "1"])
    st, _ = d.api("GET", f"/v1/templates/{SNAP}")
    if st != 200:
        sid = T.create(timeout_s=600)["id"]
        st, body = T.api("POST", f"/v1/sandboxes/{sid}/snapshot", {"template": SNAP})
        assert st == 201, f"snapshot template: {st} {body}"
        T.delete(sid)
    yield d
    for f in d.store.glob("fill*"):
        f.unlink()
    problems = T.close_own_thawd(d, thawd)
    assert not problems, "the artifacts thawd: " + "; ".join(problems) + "\n" + d.log_tail()


def _build_dir(d, name=T.TEMPLATE):
    info = T.template_info(name)
    return d.template_dir(name) / info["build_id"]


def _cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _truncate(p):
    with open(p, "r+b") as f:
        f.truncate(os.path.getsize(p) // 2)


def _corrupt(p):
    with open(p, "r+b") as f:
        f.seek(os.path.getsize(p) // 3)
        f.write(os.urandom(4096))


DAMAGE = {
    "state-truncated": ("state.bin", _truncate, "state file has"),
    "state-corrupted": ("state.bin", _corrupt, "state file does not match its checksum"),
    "state-missing": ("state.bin", os.unlink, "state file is missing"),
    "memory-truncated": ("memory.bin", _truncate, "memory file has"),
    "memory-corrupted": ("memory.bin", _corrupt, "memory file does not match its checksum"),
    "memory-missing": ("memory.bin", os.unlink, "memory file is missing"),
    "rootfs-missing": ("rootfs.img", os.unlink, "rootfs file is missing"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_template(art, case):
    name, damage, says = DAMAGE[case]
    build = _build_dir(art)
    path = build / name
    backup = build / f".e2e-{name}"
    subprocess.run(["cp", "--reflink=always", "-p", str(path), str(backup)], check=True)
    try:
        damage(path)
        st, body = T.api("POST", "/v1/sandboxes", {"timeout_s": 600})
        assert st == 409 and body["code"] == "corrupt", (st, body)
        assert says in body["error"] and T.TEMPLATE in body["error"], body
        assert T.list_ids() == [], "a create from a damaged template left a sandbox"
        T.assert_host_matches([])
        info = T.template_info()
        assert info["status"] == "corrupt" and says in info.get("detail", ""), info
        # Found corrupt once is enough: thawd must not hash the memory
        # file again and again while nothing changes (the pool looks at
        # the templates every 2 s; so does every create and listing).
        cpu0 = _cpu_s(art.proc.pid)
        for _ in range(3):
            assert T.api("POST", "/v1/sandboxes", {"timeout_s": 600})[0] == 409
            T.template_info()
        time.sleep(4.5)
        burnt = _cpu_s(art.proc.pid) - cpu0
        assert burnt < 1.5, f"thawd used {burnt:.1f} s of CPU in 5 s with a corrupt template"
        # Other templates are served.
        sid = T.create(template=SNAP, timeout_s=600)["id"]
        assert T.sh(sid, ["echo", "ok"]) == "ok\n"
        T.delete(sid)
    finally:
        os.replace(backup, path)
    sid = T.create(timeout_s=600)["id"]
    assert T.sh(sid, ["echo", "ok"]) == "ok\n"
    T.delete(sid)
    T.assert_host_matches([])
    T.check(f"{case}: create answered 409 {body['error']!r}; nothing made or leaked; "
            f"{burnt:.2f} s CPU over 5 s; {SNAP} served; repaired, creates work")


def _fill(store):
    """Fills the store's file system: fallocate (no data written, so the
    sparse image behind it barely grows), then a few MB of writes."""
    avail = shutil.disk_usage(store).free
    subprocess.run(["fallocate", "-l", str(max(avail - (8 << 20), 0)), str(store / "fill")],
                   check=True)
    subprocess.run(["dd", "if=/dev/zero", f"of={store / 'fill2'}", "bs=1M", "count=64"],
                   capture_output=True)
    return shutil.disk_usage(store).free


def _refused_full(st, body, what):
    assert st == 503 and isinstance(body, dict) and "store is full" in body.get("error", ""), \
        f"{what} on a full store: {st} {body}"


def test_full_data_disk(art):
    """Something else fills the store (the test: a big file beside
    thawd's). New sandboxes, forks and pauses are refused with 503 and a
    message, and leave nothing; a running guest that writes does not
    freeze (a write that needs a block gets an I/O error, and its own
    kernel may then make its root read-only) and its agent keeps
    answering; once there is room, everything works again."""
    a = T.create(timeout_s=600)["id"]
    free = _fill(art.store)
    try:
        st, body = T.api("POST", "/v1/sandboxes", {"timeout_s": 600}, timeout=120)
        _refused_full(st, body, "create")
        st, body = T.api("POST", f"/v1/sandboxes/{a}/fork", {"count": 1}, timeout=120)
        _refused_full(st, body, "fork")
        st, body = T.api("POST", f"/v1/sandboxes/{a}/pause", {}, timeout=120)
        _refused_full(st, body, "pause")
        assert [(s["id"], s["state"]) for s in T.list_sandboxes()] == [(a, "running")]
        T.assert_host_matches([a])
        refused = body["error"]
        # The guest writes to its disk: it must get an error, not freeze.
        st, body = T.api("POST", f"/v1/sandboxes/{a}/exec",
                         {"cmd": "dd if=/dev/urandom of=/root/big bs=1M count=200 conv=fsync "
                                 "2>&1 | tail -2; echo done", "timeout_s": 60}, timeout=120)
        assert st == 200 and "done" in body["stdout"], \
            f"a guest writing to a full store: {st} {body}"
        # Whether this write needed a new block in the store depends on
        # where the guest's file system puts it (blocks already unshared
        # take it in place); when one did, the guest got an I/O error.
        guest_saw = body["stdout"].strip().splitlines()[0]
        assert T.sh(a, ["echo", "alive"]) == "alive\n"
    finally:
        for f in art.store.glob("fill*"):
            f.unlink()
    # Room again: a still answers; new sandboxes, forks and pauses work.
    assert T.sh(a, ["echo", "ok"]) == "ok\n"
    r = T.exec_(a, "echo ok > /root/after && cat /root/after")
    a_disk = "writable" if r["stdout"] == "ok\n" else f"not writable ({r['stderr'].strip()[:60]})"
    b = T.create(timeout_s=600)["id"]
    T.sh(b, "head -c 50M /dev/urandom > /root/data; sync")
    st, fork = T.api("POST", f"/v1/sandboxes/{b}/fork", {"count": 1})
    assert st == 201, fork
    st, body = T.api("POST", f"/v1/sandboxes/{b}/pause", {})
    assert st == 200, body
    assert T.api("POST", f"/v1/sandboxes/{b}/resume", {})[0] == 200
    for sid in [a, b] + [c["id"] for c in fork["sandboxes"]]:
        assert T.sh(sid, ["echo", "ok"]) == "ok\n"
        T.delete(sid)
    T.assert_host_matches([])
    T.check(f"full store ({free >> 20} MiB left): create, fork and pause refused with 503 "
            f"({refused[:90]!r}); the guest's write ended ({guest_saw[:70]!r}) and its agent "
            f"answered; after freeing the space its disk was {a_disk}, and create, fork, "
            "pause and resume work")
