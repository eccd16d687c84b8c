"""The host inventory: what of a thaw instance exists on this machine (VMMs,
namespaces, veths, cgroups, nftables, mounts, loop devices, database rows),
and whether it matches what thawd reports."""

import os
import sqlite3
import subprocess
import time

from .util import *  # noqa: F401,F403
from .session import *  # noqa: F401,F403
from .client import *  # noqa: F401,F403


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def vmm_processes(prefix):
    """{vmm name: pid} for every live process started with `-name <prefix>...`."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        args = proc_cmdline(int(entry))
        for i, a in enumerate(args[:-1]):
            if a == b"-name" and args[i + 1].startswith(prefix.encode()):
                found[args[i + 1].decode(errors="replace")] = int(entry)
                break
    return found


def netns_names(prefix):
    try:
        return {n for n in os.listdir(NETNS_DIR) if n.startswith(prefix)}
    except FileNotFoundError:
        return set()


def host_veths(prefix):
    """Root-namespace links of the instance with this prefix: the host ends
    of its slots' veth pairs (t<6 hex><index in 4 hex>)."""
    tag = "t" + prefix[len("thaw-"):-1]
    return {n for n in os.listdir("/sys/class/net") if n.startswith(tag)}


def nft_table_exists(prefix):
    table = "thaw_" + prefix[len("thaw-"):-1]
    r = subprocess.run(["nft", "list", "table", "inet", table], capture_output=True)
    return r.returncode == 0


def cgroup_instance_dirs(prefix):
    """The instance's cgroup directories (one on v2, one per controller on
    v1) that exist."""
    inst = prefix[:-1]
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        cands = [f"/sys/fs/cgroup/{inst}"]
    else:
        cands = [f"/sys/fs/cgroup/{c}/{inst}" for c in ("memory", "cpu", "pids")]
    return [d for d in cands if os.path.isdir(d)]


def vmm_cgroups(prefix):
    """Names (without the prefix) of the VMM cgroups of this instance."""
    names = set()
    for d in cgroup_instance_dirs(prefix):
        names |= {e[len(prefix):] for e in os.listdir(d)
                  if e.startswith(prefix) and os.path.isdir(os.path.join(d, e))}
    return names


def loop_devices_of(path):
    """Loop devices whose backing file is path."""
    r = subprocess.run(["losetup", "-j", str(path)], capture_output=True, text=True)
    return [line.split(":")[0] for line in r.stdout.splitlines() if line.strip()]


def mount_points():
    points = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            # Octal escapes (\040) only for odd characters, which our
            # data dir cannot hold.
            points.add(fields[4])
    return points


def sandbox_resources(sid, d=None):
    """What exists on the host for sandbox sid. Its network slot is not
    listed: after a delete the slot goes back to thawd's pool (reset) and
    may serve the next sandbox; host_inventory accounts for slots."""
    d = d or current()
    name = d.prefix + sid
    return {
        "vmm": vmm_processes(name).get(name),
        "clone_dir": (d.sandboxes_dir / sid).exists(),
        "run_dir": (d.run_dir / sid).exists(),
    }


def assert_gone(sid, d=None):
    r = sandbox_resources(sid, d)
    left = {k: v for k, v in r.items() if v}
    assert not left, f"sandbox {sid} left resources behind: {left}"


def assert_present(sid, d=None):
    r = sandbox_resources(sid, d)
    r["netns"] = (NETNS_DIR / sandbox_netns(sid)).exists()
    missing = [k for k, v in r.items() if not v]
    assert not missing, f"sandbox {sid} lacks {missing}: {r}"


def host_inventory(d=None):
    """The ids the host holds VMMs and directories for, and the network
    namespaces of this instance. Bake VMMs (bake-*) are not counted."""
    d = d or current()
    p = d.prefix
    vmms = {n[len(p):] for n in vmm_processes(p) if not n[len(p):].startswith("bake-")}
    nets = {n[len(p):] for n in netns_names(p)}

    def entries(path):
        try:
            return {e for e in os.listdir(path) if not e.startswith(".")}
        except FileNotFoundError:
            return set()
    groups = {n for n in vmm_cgroups(p) if not n.startswith("bake-")}
    return {"vmm": vmms, "netns": nets, "veth": host_veths(p), "cgroup": groups,
            "clone_dir": entries(d.sandboxes_dir),
            "run_dir": entries(d.run_dir) - {e for e in entries(d.run_dir) if e.startswith("bake-")}}


def inventory_problems(ids, d=None):
    """Differences between what the host holds and what thawd says exists:
    every VMM, clone dir and run dir belongs to a sandbox or a warm VMM;
    the namespaces are exactly the allocated slots (s<index>)."""
    warm, allocated, info = pools()
    # A paused sandbox holds no VMM, clone or run dir: only its image.
    paused = {s["id"] for s in list_sandboxes() if s["state"] == "paused"}
    expected = (set(ids) - paused) | warm
    inv = host_inventory(d)
    problems = {}
    for k in ("vmm", "clone_dir", "run_dir"):
        if inv[k] != expected:
            problems[k] = {"extra": sorted(inv[k] - expected), "missing": sorted(expected - inv[k])}
    # A VMM's cgroup goes with it; one of a VMM that died on its own may
    # wait for the janitor's sweep (10 s) while its sandbox is listed.
    extra_groups = inv["cgroup"] - expected - set(ids)
    if extra_groups:
        problems["cgroup"] = {"extra": sorted(extra_groups)}
    bad_names = sorted(n for n in inv["netns"] if not (n.startswith("s") and n[1:].isdigit()))
    if bad_names or len(inv["netns"]) != allocated:
        problems["netns"] = {"names": sorted(inv["netns"]), "allocated": allocated,
                             "not_slots": bad_names}
    # Every slot has exactly one host-side veth, named after its index.
    want_veths = {f"t{(d or current()).prefix[len('thaw-'):-1]}{int(n[1:]):04x}"
                  for n in inv["netns"] if n[1:].isdigit()}
    if inv["veth"] != want_veths:
        problems["veth"] = {"extra": sorted(inv["veth"] - want_veths),
                            "missing": sorted(want_veths - inv["veth"])}
    # Slots in use or waiting: sandboxes, warm VMMs, and at most twice the
    # slot pool's depth kept ready. More would be a leak.
    bound = len(ids) + len(warm) + 2 * info["network"]["pool_depth"]
    if allocated > bound:
        problems["slots"] = {"allocated": allocated, "bound": bound}
    return problems


def assert_host_matches(ids, d=None, timeout=20):
    """The host holds exactly what thawd accounts for: the sandboxes ids
    plus its warm pools (checked until the pools settle)."""
    last = {}

    def settled():
        last["p"] = inventory_problems(ids, d)
        return not last["p"]
    try:
        wait_until(settled, timeout, interval=0.25, what="the host to match thawd's account")
    except AssertionError:
        raise AssertionError(f"host resources do not match sandboxes {sorted(ids)} "
                             f"and the warm pools: {last['p']}") from None


def db_sandbox_ids(d):
    """The sandbox rows of d's database, read directly (read-only)."""
    db = sqlite3.connect(f"file:{d.data_dir / 'thaw.db'}?mode=ro", uri=True, timeout=10)
    try:
        return [r[0] for r in db.execute("SELECT id FROM sandboxes")]
    finally:
        db.close()


def lazyfs_processes(mount):
    """Pids of thaw-lazyfs processes serving mount."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            argv = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"thaw-lazyfs") and str(mount).encode() in argv:
            pids.append(int(p.name))
    return pids


def leftovers(d):
    """What of instance d is still on the host once it stopped and ran
    --teardown: VMMs, namespaces, slot veths, cgroups, its nftables table,
    the store mount and its loop device, and sanitizer reports in its log.
    One list of problems (strings); every teardown checks the same things."""
    problems, prefix = [], d.prefix
    # The kernel may need a moment to finish a SIGKILLed VMM.
    deadline = time.monotonic() + 15
    while vmm_processes(prefix) and time.monotonic() < deadline:
        time.sleep(0.2)
    for what, left in (("VMM processes", vmm_processes(prefix)),
                       ("network namespaces", sorted(netns_names(prefix))),
                       ("slot veths in the root namespace", sorted(host_veths(prefix)))):
        if left:
            problems.append(f"{what} left: {left}")
    groups = cgroup_instance_dirs(prefix)
    if groups:
        problems.append(f"cgroups left: {groups} holding {sorted(vmm_cgroups(prefix))}")
    if nft_table_exists(prefix):
        problems.append("the instance's nftables table is still loaded")
    if str(d.store) in mount_points():
        problems.append(f"store still mounted at {d.store}")
    # The lazy layer (with an object store): its process and its mount.
    lazy = d.data_dir / "lazy"
    if str(lazy) in mount_points():
        problems.append(f"the lazy layer is still mounted at {lazy}")
    lazyfs = lazyfs_processes(lazy)
    if lazyfs:
        problems.append(f"thaw-lazyfs processes left: {lazyfs}")
    # The kernel detaches an autoclear loop device a moment after the
    # unmount, later still on a busy host.
    image = d.data_dir / "store.img"
    deadline = time.monotonic() + 30
    while loop_devices_of(image) and time.monotonic() < deadline:
        time.sleep(0.2)
    if loop_devices_of(image):
        problems.append(f"loop devices still back {image}: {loop_devices_of(image)}")
    log = d.log_text()
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        if marker in log:
            problems.append(f"sanitizer report in {d.log_path}: {marker!r}")
    return problems
