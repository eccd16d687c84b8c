"""Scale on one host: hundreds of live sandboxes, and admission by memory.

- 300 idle sandboxes at once (THAW_SCALE_SANDBOXES), more than 1024
  descriptors can hold under thaw's design (a few per sandbox): thawd
  must keep serving (libmicrohttpd once waited with select(), whose
  fd_set aborts thawd past descriptor 1023), create, exec, list and
  delete must work throughout, thawd's descriptors stay within their
  budget and come back after the deletes, and nothing is left on the
  host. Driven by bench/density.py, the density benchmark's code.
- Admission: a thawd whose --memory-reserve leaves no room answers 503
  before anything starts; the default --max-sandboxes follows the
  per-sandbox memory cost.
- A VMM the kernel's OOM killer ends makes its sandbox failed, and the
  reason says so.

These run on a thawd of their own (data dir <session data dir>-scale,
slots from 10.209.0.0/16)."""

import os
import sys
import time

import pytest

import thawlib as T

sys.path.insert(0, str(T.REPO / "bench"))
import density  # noqa: E402

pytestmark = [pytest.mark.own_thawd, pytest.mark.slow]

SANDBOXES = int(os.environ.get("THAW_SCALE_SANDBOXES", "300"))
# thawd's descriptor budget (src/thawd/fdlimit.h): 64 of its own plus 5
# per VMM (pidfd, the supervisor's copy, the slot's namespace, QMP, the
# parked agent connection).
FD_BASE, FD_PER_VMM = 64, 5


@pytest.fixture(scope="module")
def scale(thawd, template):
    # Usage sampled every second: the history is checked at the peak.
    with T.running_own_thawd(thawd, "-scale", "10.209.0.0/16",
                             ["--vmm-pool", "2", "--usage-interval", "1"],
                             env=T.SMALL_QUARANTINE) as d:
        yield d


def _fds(pid):
    names = [int(n) for n in os.listdir(f"/proc/{pid}/fd")]
    return len(names), max(names)


def _info(d):
    st, info = d.api("GET", "/v1/info")
    assert st == 200, info
    return info


def _observed_at_scale(d, ids):
    """What an operator and a user see with every sandbox live: a scrape of
    /metrics (its time; the running sandboxes it counts) and the usage
    history of sandboxes across the range (issue 18)."""
    t0 = time.monotonic()
    st, _, raw = d.request("GET", "/metrics")
    scrape_ms = (time.monotonic() - t0) * 1000
    assert st == 200, raw[:300]
    running = sum(float(line.rsplit(" ", 1)[1]) for line in raw.decode().splitlines()
                  if line.startswith("thaw_sandboxes{") and 'state="running"' in line)
    assert running >= len(ids), f"/metrics counts {running} running of {len(ids)}"
    deadline = time.monotonic() + 30
    for sid in ids[::max(1, len(ids) // 10)]:
        while True:
            st, body = d.api("GET", f"/v1/sandboxes/{sid}/metrics")
            assert st == 200, body
            if body["points"]:
                break
            assert time.monotonic() < deadline, f"no usage sampled for {sid} in 30 s"
            time.sleep(0.5)
        last = body["points"][-1]
        assert last["mem_used_bytes"] > 0 and last["disk_total_bytes"] > 0, (sid, last)
    return scrape_ms, int(running)


def test_hundreds_of_live_sandboxes(scale):
    pid = scale.proc.pid
    info = _info(scale)
    assert info["thawd"]["fds_limit"] >= 4096, \
        f"thawd did not raise its descriptor limit: {info['thawd']}"
    need_mb = SANDBOXES * info["memory"]["per_sandbox_mb"] + info["memory"]["reserve_mb"]
    assert info["memory"]["available_mb"] > need_mb, \
        f"this host cannot hold {SANDBOXES} sandboxes: {info['memory']}"
    start_fds, _ = _fds(pid)
    run = density.Density(scale.url, scale.key, steps=[SANDBOXES], idle_s=5, samples=5,
                          progress=lambda m: print(f"[scale] {m}", flush=True))
    peak = {}

    def at_peak(base_avail, p):
        row = density.Density.measure(run, base_avail, p)
        if len(run.ids) == SANDBOXES:
            peak["fds"], peak["max_fd"] = _fds(pid)
            peak["info"] = _info(scale)
            peak["scrape_ms"], peak["running"] = _observed_at_scale(scale, run.ids)
            # exec in sandboxes across the whole range, not only one
            for sid in run.ids[::max(1, SANDBOXES // 10)]:
                r = T.exec_(sid, ["echo", "alive"])
                assert r["stdout"] == "alive\n", f"{sid}: {r}"
        return row
    run.measure = at_peak
    r = run.run(pid=pid)
    print("\n" + density.report(r))
    assert not r["errors"], f"errors at scale: {r['errors'][:10]}"
    assert r["refused"] is None and r["peak"] == SANDBOXES, \
        f"only {r['peak']} sandboxes: refused {r['refused']}"
    assert scale.running(), "thawd died at scale:\n" + scale.log_tail()
    # The case that aborted thawd: more than 1024 descriptors held while
    # it served requests and built slots (libmicrohttpd and libnftables
    # both select()ed on descriptors once there were that many).
    assert peak["fds"] > 1024, f"the test never held more than 1024 descriptors: {peak}"
    warm = peak["info"]["warm_vmms"]["ready"] + 1  # one may be starting
    budget = FD_BASE + FD_PER_VMM * (SANDBOXES + warm)
    assert peak["fds"] <= budget, \
        f"thawd held {peak['fds']} descriptors for {SANDBOXES} sandboxes (budget {budget})"
    assert peak["info"]["thawd"]["threads"] <= 32, \
        f"thawd's threads grow with sandboxes: {peak['info']['thawd']}"
    assert r["listed_after"] == 0 and not r["vmms_left"], r
    T.assert_host_matches([], timeout=60)
    assert T.db_sandbox_ids(scale) == [], "database rows left"
    end_fds, _ = _fds(pid)
    assert end_fds <= start_fds + 16, f"descriptors leaked: {start_fds} -> {end_fds}"
    row = r["rows"][-1]
    T.check(f"{SANDBOXES} live sandboxes: thawd held {peak['fds']} descriptors (highest "
            f"{peak['max_fd']}, budget {budget}), {peak['info']['thawd']['threads']} threads; "
            f"per sandbox {row['pss_mib_per_sandbox']} MiB PSS, "
            f"{row.get('cpu_pct_of_core_per_sandbox')}% of a core idle; create p50 "
            f"{row['create_p50_ms']} ms, exec p50 {row['exec_p50_ms']} ms, list p50 "
            f"{row['list_p50_ms']} ms; deleting all took {r['delete_all_s']} s; "
            f"descriptors {start_fds} -> {end_fds}; /metrics counted {peak['running']} "
            f"running in a {peak['scrape_ms']:.0f} ms scrape, usage sampled across the range")


def _restart_with(d, *args):
    d.stop()
    d.extra_args = list(d.base_args) + list(args)
    d.start()
    return _info(d)


def test_creates_are_admitted_by_memory(scale):
    """Refused before anything starts: 503 with the figures while the
    reserve would not hold; a default cap that follows the cost."""
    total = _info(scale)["memory"]["total_mb"]
    scale.base_args = list(scale.extra_args)
    try:
        info = _restart_with(scale, "--memory-reserve", str(total))
        assert info["memory"]["reserve_mb"] == total, info["memory"]
        st, body = scale.api("POST", "/v1/sandboxes", {"timeout_s": 60})
        assert st == 503 and body["code"] == "unavailable", (st, body)
        assert "not enough memory" in body["error"] and "--memory-reserve" in body["error"], body
        refused_msg = body["error"]
        assert T.list_ids() == [], "a refused create left a sandbox"
        T.assert_host_matches([], timeout=30)
        assert _info(scale)["memory"]["refused"] >= 1, _info(scale)["memory"]
        info = _restart_with(scale, "--sandbox-memory", str(total // 3))
        assert info["memory"]["per_sandbox_source"] == "option", info["memory"]
        assert info["sandboxes"]["max"] in (2, 3), info["sandboxes"]
        cap = info["sandboxes"]["max"]
    finally:
        _restart_with(scale)
    T.check(f"--memory-reserve {total}: a create answered 503 ({refused_msg}); "
            f"--sandbox-memory {total // 3}: the default --max-sandboxes became {cap}")


def _cgroup_memory_dir(d, sid):
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    inst = d.prefix[:-1]
    base = f"/sys/fs/cgroup/{inst}" if v2 else f"/sys/fs/cgroup/memory/{inst}"
    return v2, os.path.join(base, d.prefix + sid)


def test_oom_killed_vmm_is_reported(scale):
    """The kernel's OOM killer ends a VMM whose guest writes past its
    cgroup's limit (lowered here): the sandbox is failed and says why."""
    sid = T.create(timeout_s=300)["id"]
    v2, group = _cgroup_memory_dir(scale, sid)
    if not os.path.isdir(group):
        pytest.skip("no memory cgroup for VMMs on this host")
    used_file = "memory.current" if v2 else "memory.usage_in_bytes"
    limit_file = "memory.max" if v2 else "memory.limit_in_bytes"
    with open(os.path.join(group, used_file)) as f:
        used = int(f.read())
    limit = used + (48 << 20)
    with open(os.path.join(group, limit_file), "w") as f:
        f.write(str(limit))
    # The guest writes 200 MB of its RAM: each page a new private page of
    # its VMM, past the limit.
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/exec",
                     {"cmd": "head -c 200M /dev/zero > /dev/shm/fill", "timeout_s": 60},
                     timeout=120)
    state = T.wait_until(lambda: T.get(sid)[1]["state"] == "failed" and T.get(sid)[1],
                         60, what=f"{sid} to fail")
    assert "OOM killer" in state["reason"] and f"{limit >> 20} MiB" in state["reason"], state
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/exec", {"cmd": "true"})
    assert st == 409 and "failed" in body["error"], (st, body)
    T.delete(sid)
    T.assert_host_matches([], timeout=30)
    T.check(f"a VMM over its lowered memory limit ({limit >> 20} MiB) was OOM-killed; the "
            f"sandbox reads: {state['reason']}")


def _wakeups(pid):
    """Voluntary context switches of every thread of a process: how many
    times it went to sleep, so how many times something woke it."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


def test_an_idle_sandbox_does_not_wake_its_vmm(scale):
    """What makes idle sandboxes nearly free, checked where it shows: the
    template runs thaw's kernel on its device model (machine_rev 3: the
    PIT Linux calibrates against is stopped once the APIC timer runs; the
    console is the serial port, whose driver does not poll), kcompactd
    does not poll (thaw's kernel has no compaction at all; the cloud
    kernel's is turned off), and under TCG the guest has no ASLR (each
    exec would translate its libraries again); then an idle VMM hardly
    wakes at all."""
    info = T.template_info()
    assert info["machine_rev"] == 3, f"template not on thaw's device model: {info}"
    assert info["kernel"].startswith("thaw "), info
    sid = T.create(timeout_s=300)["id"]
    sysctls = T.sh(sid, "cat /proc/sys/vm/compaction_proactiveness 2>/dev/null || echo none; "
                        "cat /proc/sys/kernel/randomize_va_space").split()
    assert sysctls[0] in ("0", "none"), f"kcompactd still polls: {sysctls}"
    tcg = _info(scale)["vmm"]["accel"] == "tcg"
    assert sysctls[1] == ("0" if tcg else "2"), f"randomize_va_space: {sysctls}"
    pid = T.vmm_processes(scale.prefix + sid)[scale.prefix + sid]
    time.sleep(3)
    before = _wakeups(pid)
    time.sleep(10)
    woke = _wakeups(pid) - before
    # With the PIT: ~385 in 10 s. Without: the guest's few kernel timers,
    # ~20 in 10 s once settled (more right after a create).
    assert woke < 100, f"an idle VMM woke {woke} times in 10 s"
    T.delete(sid)
    T.check(f"template machine_rev 3 ({info['kernel']}), kcompactd quiet, guest ASLR "
            f"{'off (TCG)' if tcg else 'on'}; an idle VMM woke {woke} times in 10 s")
