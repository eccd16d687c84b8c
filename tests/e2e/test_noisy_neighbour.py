"""A guest that spins every CPU it has, forks without end and fills its
disk slows only itself: other sandboxes keep their create and exec
latency within 2x of what they had before it started (the issue's bound),
measured here against a baseline taken in the same test."""

import os
import statistics
import time

import pytest

import thawlib as T

ROUNDS = 8
PACE_S = 1.0  # between creates: the warm pool refills in between, as in service

pytestmark = pytest.mark.slow


def cpu_seconds(pid):
    """User + system CPU time of a process and all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(quiet):
    """p50 of exec `true` in the quiet sandbox and of a create (+ delete)."""
    execs, creates = [], []
    for _ in range(ROUNDS):
        t0 = time.monotonic()
        T.sh(quiet, "true")
        execs.append((time.monotonic() - t0) * 1000)
        t0 = time.monotonic()
        sid = T.create(timeout_s=300)["id"]
        creates.append((time.monotonic() - t0) * 1000)
        T.delete(sid)
        time.sleep(PACE_S)
    return statistics.median(execs), statistics.median(creates)


NOISE = r"""
# every vCPU busy, forever
for i in 1 2 3 4; do (while :; do :; done) & done
# the disk filled to the last block, then again
(while :; do dd if=/dev/zero of=/fill bs=1M 2>/dev/null; sync; rm -f /fill; done) &
# processes without end (the guest's own limits stop it, not ours)
(f() { f | f & }; f) 2>/dev/null &
sleep 1000
"""


def test_a_noisy_guest_slows_only_itself(sandboxes):
    quiet = sandboxes(timeout_s=900)["id"]
    T.sh(quiet, "true")  # its first exec is slow (cold guest paths): not measured
    T.delete(T.create()["id"])
    base_exec, base_create = measure(quiet)

    noisy = sandboxes(timeout_s=900)["id"]
    st, body = T.api("POST", f"/v1/sandboxes/{noisy}/exec",
                     {"cmd": ["/bin/sh", "-c", NOISE], "background": True})
    assert st == 202, body
    time.sleep(5)  # let it get going: the disk filler and the fork bomb ramp up
    vmm = T.sandbox_resources(noisy)["vmm"]
    cpu0, t0 = cpu_seconds(vmm), time.monotonic()
    noisy_exec, noisy_create = measure(quiet)
    # The noise was real, and its cgroup held it to its one vCPU's worth.
    busy = (cpu_seconds(vmm) - cpu0) / (time.monotonic() - t0)
    assert busy > 0.5, f"the noisy guest used only {busy:.2f} of a core: no noise"
    assert busy < 1.15, f"the noisy guest used {busy:.2f} cores, past its 1 vCPU quota"

    print(f"\n  exec p50: {base_exec:.1f} ms quiet, {noisy_exec:.1f} ms beside the noisy guest; "
          f"create p50: {base_create:.1f} ms quiet, {noisy_create:.1f} ms beside it; the noisy "
          f"VMM used {busy:.2f} cores")
    # A few milliseconds of scheduling are noise on any machine, not the
    # neighbour's doing: the bound is 2x or +5 ms, whichever is larger.
    assert noisy_exec <= max(2 * base_exec, base_exec + 5), (base_exec, noisy_exec)
    assert noisy_create <= max(2 * base_create, base_create + 5), (base_create, noisy_create)
    # The quiet sandbox is intact, and the noisy one can still be deleted.
    assert T.sh(quiet, "echo ok").strip() == "ok"
    T.delete(noisy)
    T.check(f"exec {base_exec:.1f} -> {noisy_exec:.1f} ms, create {base_create:.1f} -> "
            f"{noisy_create:.1f} ms beside a guest spinning 4 loops, filling its disk and "
            f"fork-bombing ({busy:.2f} cores, its quota 1)")
