"""A restored sandbox is a machine of its own: fresh entropy, the host's
clock, its own hostname and disk, and a template that nothing writes.
Restore and cold boot must agree on what the guest is."""

import os
import time

import thawlib as T


def test_sandboxes_get_different_entropy(sandboxes):
    a, b = sandboxes(timeout_s=600)["id"], sandboxes(timeout_s=600)["id"]
    cmd = "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'"
    ra, rb = T.sh(a, cmd), T.sh(b, cmd)
    assert len(ra) == 64 and len(rb) == 64, (ra, rb)
    assert ra != rb, f"two sandboxes from one snapshot read the same /dev/urandom bytes: {ra}"
    # And the pool keeps moving within one sandbox.
    assert T.sh(a, cmd) != ra
    T.check(f"/dev/urandom differs between two restored sandboxes ({ra[:16]}.. vs {rb[:16]}..)")


def test_clock_matches_host(sandboxes):
    sid = sandboxes(timeout_s=600)["id"]
    for _ in range(3):
        before = time.time()
        guest = float(T.sh(sid, ["date", "+%s.%N"]).strip())
        after = time.time()
        assert before - 2 <= guest <= after + 2, \
            f"guest clock {guest:.3f} is off: host {before:.3f}..{after:.3f}"
    T.check(f"guest date is within 2 s of the host (off by {guest - (before + after) / 2:+.3f} s)")


def test_hostname_is_the_sandbox_id(sandboxes):
    sid = sandboxes(timeout_s=600)["id"]
    assert T.sh(sid, ["cat", "/proc/sys/kernel/hostname"]).strip() == sid
    assert T.sh(sid, ["uname", "-n"]).strip() == sid
    T.check(f"hostname inside is {sid}")


def _memory_file(d, build_id):
    return d.template_dir() / build_id / "memory.bin"


def _fingerprint(path):
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": T.sha256_file(path)}


def test_template_memory_is_never_written(thawd, sandboxes):
    info = T.template_info()
    path = _memory_file(thawd, info["build_id"])
    assert path.exists(), f"{path} does not exist"
    before = _fingerprint(path)
    sb = sandboxes(timeout_s=600)
    sid = sb["id"]
    assert sb["build_id"] == info["build_id"], sb
    # Dirty a lot of guest memory: page cache, tmpfs, anonymous memory.
    T.sh(sid, "dd if=/dev/urandom of=/dev/shm/fill bs=1M count=64 2>/dev/null; "
              "python3 -c \"b = bytearray(b'\\xa5') * (96 << 20); print(len(b))\"; "
              "dd if=/dev/zero of=/root/fill bs=1M count=32 2>/dev/null; sync")
    during = _fingerprint(path)
    assert during == before, f"memory.bin changed while a sandbox ran: {before} -> {during}"
    T.delete(sid)
    after = _fingerprint(path)
    assert after == before, f"memory.bin changed: {before} -> {after}"
    T.check(f"{path.name} ({before['size']} bytes) has the same size, mtime and sha256 "
            "before, during and after a sandbox wrote ~190 MiB of memory")


def test_disks_are_private(sandboxes):
    a, b = sandboxes(timeout_s=600)["id"], sandboxes(timeout_s=600)["id"]
    T.sh(a, "echo secret-of-a > /root/e2e-private; echo tmp > /tmp/e2e-private; sync")
    assert T.sh(a, ["cat", "/root/e2e-private"]) == "secret-of-a\n"
    r = T.exec_(b, "ls /root/e2e-private /tmp/e2e-private")
    assert r["exit_code"] != 0 and r["stdout"] == "", f"b sees a's files: {r}"
    c = sandboxes(timeout_s=600)["id"]  # created after a wrote: still the template's disk
    r = T.exec_(c, "ls /root/e2e-private")
    assert r["exit_code"] != 0, f"a sandbox created later sees a's file: {r}"
    T.check("a file written in one sandbox is invisible to another and to a later one")


def test_restore_and_cold_boot_agree(sandboxes):
    t0 = time.monotonic()
    cold = sandboxes(timeout_s=600, cold_boot=True)
    cold_s = time.monotonic() - t0
    warm = sandboxes(timeout_s=600)
    probes = [["uname", "-r"], ["python3", "--version"], ["cat", "/etc/os-release"],
              ["uname", "-m"], ["nproc"]]
    for cmd in probes:
        rc, rw = T.exec_(cold["id"], cmd), T.exec_(warm["id"], cmd)
        assert rc["exit_code"] == 0 and rw["exit_code"] == 0, (rc, rw)
        assert (rc["stdout"], rc["stderr"]) == (rw["stdout"], rw["stderr"]), \
            f"{cmd}: cold boot {rc} vs restore {rw}"
    assert T.sh(cold["id"], ["cat", "/proc/sys/kernel/hostname"]).strip() == cold["id"]
    T.check(f"cold boot ({cold_s:.1f} s, timings {cold['timings_ms']['total']} ms) and restore "
            f"({warm['timings_ms']['total']} ms) agree on {len(probes)} probes")


def test_create_timings(sandboxes):
    for _ in range(3):
        sb = sandboxes(timeout_s=600)
        t = sb["timings_ms"]
        for k in T.TIMING_STAGES + ("total",):
            assert k in t, f"timings_ms lacks {k}: {t}"
            assert isinstance(t[k], (int, float)) and t[k] >= 0, f"{k}: {t[k]!r}"
        parts = sum(t[k] for k in T.TIMING_STAGES)
        # The numbers carry 4 significant digits: allow for rounding.
        assert t["total"] >= parts - 0.01 * t["total"] - 0.5, \
            f"total {t['total']} < sum of stages {parts}: {t}"
        assert t["total"] > 0, t
        st, again = T.get(sb["id"])
        assert st == 200 and again["timings_ms"] == t, again
    T.check(f"timings_ms has {', '.join(T.TIMING_STAGES)}, total; all >= 0; "
            f"total {t['total']} >= stages {parts:.2f}; GET repeats them")
