"""Every VMM runs jailed: its own uid, no capabilities, seccomp, a root
file system with nothing of the host's data, every file it uses passed in
as a descriptor, a template memory no VMM can write, and cgroup limits.
Observed from the host on the real QEMU processes of real sandboxes."""

import errno
import os
import subprocess

import pytest

import thawlib as T

UID_BASE = 1900000000  # thawd's default --vmm-uid-base
JAIL_ENTRIES = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "usr"}
JAIL_DEVICES = {"null", "zero", "urandom", "kvm"}
OVERHEAD_MB = 512  # --vmm-memory-overhead default
MAX_THREADS = 128  # --vmm-max-threads default


def vmm_pid(sid):
    pid = T.sandbox_resources(sid)["vmm"]
    assert pid, f"no VMM process for {sid}"
    return pid


def status_fields(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def cgroup_paths(pid):
    """{controller: path} from /proc/PID/cgroup (v1 lines, or the v2 one
    as controller "")."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(","):
                out[c] = path
    return out


def cgroup_dir(controller, path):
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # v2
        return f"/sys/fs/cgroup{path}"
    return f"/sys/fs/cgroup/{controller}{path}"


def read(path):
    with open(path) as f:
        return f.read().strip()


def test_vmm_runs_as_its_own_unprivileged_user(sandboxes):
    a, b = sandboxes()["id"], sandboxes()["id"]
    uids = set()
    for sid in (a, b):
        st = status_fields(vmm_pid(sid))
        uid = {int(x) for x in st["Uid"].split()}
        gid = {int(x) for x in st["Gid"].split()}
        assert len(uid) == 1 and len(gid) == 1, f"{sid}: mixed ids {st['Uid']} / {st['Gid']}"
        (u,), (g,) = uid, gid
        assert u >= UID_BASE and g == u, f"{sid}: runs as {u}:{g}"
        assert st["Groups"] == "", f"{sid}: supplementary groups {st['Groups']}"
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(st[cap], 16) == 0, f"{sid}: {cap} = {st[cap]}"
        assert st["NoNewPrivs"] == "1", st["NoNewPrivs"]
        assert st["Seccomp"] == "2", f"{sid}: QEMU's seccomp filter is not on ({st['Seccomp']})"
        uids.add(u)
    assert len(uids) == 2, f"two sandboxes share a uid: {uids}"
    with open(f"/proc/{vmm_pid(a)}/limits") as f:
        core = [line for line in f if line.startswith("Max core file size")][0].split()
    assert core[4:6] == ["0", "0"], f"the VMM may dump core (guest memory): {core}"
    T.check(f"VMMs of two sandboxes run as uids {sorted(uids)}: no capabilities, "
            "no_new_privs, seccomp mode 2, no core dumps")


def test_vmm_sees_a_root_of_its_own(thawd, sandboxes):
    sid = sandboxes()["id"]
    pid = vmm_pid(sid)
    root = f"/proc/{pid}/root"
    assert set(os.listdir(root)) <= JAIL_ENTRIES, os.listdir(root)
    assert set(os.listdir(f"{root}/dev")) <= JAIL_DEVICES, os.listdir(f"{root}/dev")
    assert not os.path.exists(f"{root}{thawd.data_dir}"), "the data dir is visible in the jail"
    assert not os.path.exists(f"{root}/etc/shadow")
    # Read-only: not even root can write into it through the VMM's root.
    with pytest.raises(OSError) as e:
        open(f"{root}/usr/evil", "w")
    assert e.value.errno == errno.EROFS
    # What it sees from inside, as itself: its own processes only, none of
    # the host's data.
    uid = int(status_fields(pid)["Uid"].split()[0])
    r = subprocess.run(["nsenter", "-t", str(pid), "-m", "-r", "-S", str(uid), "-G", str(uid),
                        "/bin/sh", "-c",
                        "cd /; ls /proc; echo ---; ls /; echo ---; test -e /etc/passwd && "
                        f"echo passwd; test -e {thawd.data_dir} && echo data; "
                        "cat /proc/1/cmdline 2>/dev/null && echo host-init; true"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    procs, top, rest = r.stdout.split("---\n")
    pids = {int(p) for p in procs.split() if p.isdigit()}
    assert pid in pids, f"the VMM does not see itself: {pids}"
    assert os.getpid() not in pids and thawd.proc.pid not in pids and 1 not in pids, \
        f"the VMM sees processes that are not its own: {sorted(pids)}"
    assert set(top.split()) <= JAIL_ENTRIES, top
    assert "passwd" not in rest and "data" not in rest and "host-init" not in rest, rest
    T.check(f"VMM {pid} sees {sorted(set(top.split()))} and {len(pids)} process(es), all its own")


def test_every_file_of_the_vmm_is_its_own_or_sealed(thawd, sandboxes):
    sid = sandboxes()["id"]
    pid = vmm_pid(sid)
    uid = int(status_fields(pid)["Uid"].split()[0])
    own = (str(thawd.sandboxes_dir / sid) + "/", str(thawd.run_dir / sid) + "/")
    seen = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        seen.append(target)
        if target.startswith("/memfd:thaw-mem:"):
            continue  # the template's memory: checked below
        if target.startswith("/"):
            assert target.startswith(own) or target.startswith("/dev/"), \
                f"fd {fd} of the VMM is {target}: not a file of its own"
            if target.startswith(own) and not target.endswith("vmm.log"):
                assert os.stat(f"/proc/{pid}/fd/{fd}").st_uid == uid, target
    # The memory every clone of the template maps: sealed, so nobody, not
    # even root, can write it, though the VMM holds it open read-write.
    mem = os.readlink(f"/proc/{pid}/fd/5")
    assert mem.startswith("/memfd:thaw-mem:code-interpreter/"), mem
    fd = os.open(f"/proc/{pid}/fd/5", os.O_RDWR)
    try:
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"\0" * 4096, 0)
        assert e.value.errno == errno.EPERM
        with pytest.raises(OSError):
            os.ftruncate(fd, 4096)
    finally:
        os.close(fd)
    # The template's files on disk are not among them at all.
    tdir = str(thawd.template_dir())
    assert not [t for t in seen if t.startswith(tdir)], seen
    T.check(f"VMM of {sid} holds {len(seen)} descriptors: its own files, devices, sockets and "
            "the sealed template memory (writes refused: EPERM)")


def test_vmm_limits_and_their_cgroup_goes_with_the_sandbox(sandboxes, template):
    sid = sandboxes()["id"]
    pid = vmm_pid(sid)
    paths = cgroup_paths(pid)
    name = T.current().prefix + sid
    mem_mb = template["memory_mb"]
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    if v2:
        d = cgroup_dir("", paths[""])
        assert d.endswith("/" + name), d
        assert int(read(f"{d}/memory.max")) == (mem_mb + OVERHEAD_MB) << 20
        quota, period = read(f"{d}/cpu.max").split()
        assert int(quota) == template["vcpus"] * int(period)
        assert int(read(f"{d}/pids.max")) == MAX_THREADS
        dirs = [d]
    else:
        dirs = []
        for ctrl in ("memory", "cpu", "pids"):
            assert paths[ctrl].endswith("/" + name), paths
            dirs.append(cgroup_dir(ctrl, paths[ctrl]))
        assert int(read(f"{dirs[0]}/memory.limit_in_bytes")) == (mem_mb + OVERHEAD_MB) << 20
        assert int(read(f"{dirs[1]}/cpu.cfs_quota_us")) == \
            template["vcpus"] * int(read(f"{dirs[1]}/cpu.cfs_period_us"))
        assert int(read(f"{dirs[2]}/pids.max")) == MAX_THREADS
    T.sh(sid, "true")
    T.delete(sid)
    T.wait_until(lambda: not any(os.path.exists(d) for d in dirs), 10,
                 what="the deleted sandbox's cgroup to go")
    T.check(f"cgroup {'v2' if v2 else 'v1'}: memory {mem_mb + OVERHEAD_MB} MiB, "
            f"CPU {template['vcpus']} core(s), {MAX_THREADS} threads; removed with the sandbox")


def test_vmm_mount_namespace_holds_only_its_root(thawd, sandboxes):
    """The jail's namespace lets go of the host's mounts (pivot_root):
    copies of the store or of other slots' namespaces would otherwise
    live as long as the VMM."""
    pid = vmm_pid(sandboxes()["id"])
    with open(f"/proc/{pid}/mountinfo") as f:
        points = [line.split()[4] for line in f]
    assert len(points) <= 16, points
    assert not [p for p in points if str(thawd.data_dir) in p or "netns" in p], points
    assert "/" in points and "/usr" in points and "/proc" in points, points
    T.check(f"the VMM's mount namespace has {len(points)} mounts: {sorted(points)}")


def cpu_quota_cores(pid):
    paths = cgroup_paths(pid)
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        quota, period = read(cgroup_dir("", paths[""]) + "/cpu.max").split()
        return int(quota) / int(period)
    d = cgroup_dir("cpu", paths["cpu"])
    return int(read(f"{d}/cpu.cfs_quota_us")) / int(read(f"{d}/cpu.cfs_period_us"))


def test_a_create_may_ask_for_less_cpu_and_keeps_it(sandboxes, template):
    sb = sandboxes(limits={"cpus": 0.25}, timeout_s=600)
    sid = sb["id"]
    assert sb["limits"] == {"cpus": 0.25}, sb
    assert cpu_quota_cores(vmm_pid(sid)) == 0.25
    st, info = T.get(sid)
    assert st == 200 and info["resources"]["cpus"] == 0.25, info
    res = info["resources"]
    assert res["memory_limit_bytes"] == (template["memory_mb"] + OVERHEAD_MB) << 20, res
    assert 0 < res["memory_used_bytes"] < res["memory_limit_bytes"], res
    assert T.sh(sid, "echo ok").strip() == "ok"
    # Its fork children and its next incarnation after a pause keep it.
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/fork", {"count": 1})
    assert st == 201, body
    child = body["sandboxes"][0]["id"]
    try:
        assert cpu_quota_cores(vmm_pid(child)) == 0.25
    finally:
        T.delete(child)
    assert T.api("POST", f"/v1/sandboxes/{sid}/pause")[0] == 200
    assert T.api("POST", f"/v1/sandboxes/{sid}/resume")[0] == 200
    assert cpu_quota_cores(vmm_pid(sid)) == 0.25
    # A sandbox that asked nothing has its template's vCPUs.
    other = sandboxes()["id"]
    assert cpu_quota_cores(vmm_pid(other)) == template["vcpus"]
    assert T.get(other)[1]["limits"] == {"cpus": None}
    T.check("limits.cpus 0.25: quota 0.25 core, kept by a fork child and across pause/resume")


@pytest.mark.parametrize("limits,why", [
    ({"cpus": 0}, "0.01 to 1024"),
    ({"cpus": "1"}, "0.01 to 1024"),
    ({"cpus": 2000}, "0.01 to 1024"),
    ({"memory_mb": 64}, "memory_mb"),
    ([1], "must be an object"),
    ({"cpus": 4}, "more than the 1 vCPU"),
])
def test_bad_limits_are_refused(template, limits, why):
    if template["vcpus"] != 1 and why.startswith("more than"):
        pytest.skip("the template has more than one vCPU")
    st, body = T.api("POST", "/v1/sandboxes", {"limits": limits})
    assert st == 400 and body["code"] == "invalid_request" and why in body["error"], (st, body)


def test_cli_and_sdk_pass_the_cpu_limit(template):
    r = T.run_cli("create", "--cpus", "0.5", "--timeout", "300")
    assert r.returncode == 0, r.stderr
    sid = r.stdout.decode().strip()
    try:
        assert cpu_quota_cores(vmm_pid(sid)) == 0.5
    finally:
        T.delete(sid)
    bad = T.run_cli("create", "--cpus", "lots")
    assert bad.returncode == 2 and b"--cpus" in bad.stderr, bad
    import sys
    sys.path.insert(0, str(T.REPO / "sdk" / "python"))
    from thaw import Sandbox
    d = T.current()
    with Sandbox.create(cpus=0.3, timeout=300, api_url=d.url, api_key=d.key) as sbx:
        assert cpu_quota_cores(vmm_pid(sbx.id)) == 0.3
    T.check("thaw create --cpus 0.5 and Sandbox.create(cpus=0.3) set the VMM's CPU quota")
