#!/usr/bin/env python3
"""Guest kernel benchmark: the same recipe on thaw's kernel
(code-interpreter) and on Debian's cloud kernel (code-interpreter-cloud),
in one run against one thawd, side by side.

Per template: bake time; cold boot to ready; create with and without
warm pools; exec `true` and the first exec after a create; run_code;
fork (100 MB dirtied) and resume; the restore working set (pages of the
memory file the VMM has faulted in once a create is ready, and after its
first exec); idle CPU per sandbox; device state size; kernel image size;
and the kernel's build time (from the machine-wide cache).

Drives thaw-bench-create, thaw-bench-lifecycle and the Python SDK against
$THAW_API_URL / $THAW_API_KEY (bench/kernel.sh finds or starts thawd).
Usage: bench/kernel.py [--json FILE] [--quick] [--strict]"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "sdk", "python"))
from thaw import Sandbox  # noqa: E402
from thaw.client import Client  # noqa: E402

BIN = os.path.join(ROOT, "build", "bin")
KERNELS = [("thaw", "code-interpreter"), ("debian-cloud", "code-interpreter-cloud")]
DATA_DIR = os.environ.get("THAW_DATA_DIR", "/var/lib/thaw")
KERNEL_CACHE = os.environ.get("THAW_KERNEL_CACHE", "/var/cache/thaw/kernel")


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def pct(v, p):
    s = sorted(v)
    return s[max(0, -(-p * len(s) // 100) - 1)] if s else float("nan")


def bake(template):
    t0 = time.monotonic()
    subprocess.run([f"{BIN}/thaw", "bake", template], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def template_info(template):
    for t in Client().request("GET", "/v1/templates")["templates"]:
        if t["name"] == template:
            return t
    raise SystemExit(f"template {template} is not listed")


def build_files(template, build_id):
    d = os.path.join(DATA_DIR, "store", "templates", template, build_id)
    size = {}
    for name in ("vmlinuz", "initrd.img", "state.bin"):
        p = os.path.join(d, name)
        size[name] = os.path.getsize(p) if os.path.exists(p) else 0
    return size


def create_bench(template, quick):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        args = [f"{BIN}/thaw-bench-create", "--template", template, "--json", f.name,
                "--n", "10" if quick else "30", "--cold", "2" if quick else "3",
                "--exec", "20" if quick else "50", "--paced", "5" if quick else "10"]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        r = json.load(open(f.name))["results"]

    def wall(k):
        v = r[k]
        return v["wall"] if "wall" in v else v
    return {"cold_boot": wall("cold_boot"), "create_no_pools": wall("create_no_pools"),
            "create_pools": wall("create_paced"), "exec_true": wall("exec_true"),
            "first_exec": wall("first_exec")}


def lifecycle_bench(template, quick):
    out = subprocess.run([f"{BIN}/thaw-bench-lifecycle", "--template", template,
                          "--rounds", "5" if quick else "10", "--creates", "5"],
                         check=True, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(\S.*?)\s{2,}(\d+)\s+([\d.]+)\s+([\d.]+)$", line)
        if m:
            rows[m.group(1)] = {"n": int(m.group(2)), "p50": float(m.group(3)),
                                "p99": float(m.group(4))}
    return {"fork": rows.get("fork count=1 (100 MB touched)"),
            "resume": rows.get("resume (100 MB touched)"),
            "resume_fresh": rows.get("resume (fresh sandbox)")}


def vmm_pid(sandbox_id):
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            argv = open(p, "rb").read().split(b"\0")
        except OSError:
            continue
        if b"-name" in argv:
            name = argv[argv.index(b"-name") + 1].decode(errors="replace")
            if name.endswith(sandbox_id):
                return int(p.split("/")[2])
    raise RuntimeError(f"no VMM for {sandbox_id}")


def memory_rss_kib(pid, memory_mb):
    """Resident KiB of the guest-RAM mapping: the memory file's pages the
    VMM has faulted in (read or copied on write)."""
    want = memory_mb * 1024
    size, best = None, 0
    for line in open(f"/proc/{pid}/smaps"):
        if line.startswith("Size:"):
            size = int(line.split()[1])
        elif line.startswith("Rss:") and size == want:
            best = max(best, int(line.split()[1]))
    return best


def working_set(template, memory_mb, n):
    ready, after_exec = [], []
    for _ in range(n):
        with Sandbox.create(template=template, timeout=120,
                            metadata={"thaw_bench": "kernel"}) as sbx:
            pid = vmm_pid(sbx.id)
            ready.append(memory_rss_kib(pid, memory_mb) / 1024)
            assert sbx.exec("true").exit_code == 0
            after_exec.append(memory_rss_kib(pid, memory_mb) / 1024)
    return {"ready_mib": pct(ready, 50), "after_first_exec_mib": pct(after_exec, 50)}


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime + stime


def idle_cpu(template, n, seconds):
    """CPU time an idle sandbox's VMM burns, in ms per second."""
    hz = os.sysconf("SC_CLK_TCK")
    boxes = [Sandbox.create(template=template, timeout=300,
                            metadata={"thaw_bench": "kernel"}) for _ in range(n)]
    try:
        time.sleep(2)
        pids = [vmm_pid(b.id) for b in boxes]
        t0 = [cpu_ticks(p) for p in pids]
        time.sleep(seconds)
        used = [(cpu_ticks(p) - a) * 1000 / hz / seconds for p, a in zip(pids, t0)]
    finally:
        for b in boxes:
            b.delete()
    return {"ms_per_s_p50": pct(used, 50), "ms_per_s_max": max(used)}


def run_code(template, n):
    with Sandbox.create(template=template, timeout=300,
                        metadata={"thaw_bench": "kernel"}) as sbx:
        sbx.run_code("1+1")
        v = []
        for _ in range(n):
            t0 = time.monotonic()
            assert sbx.run_code("1+1").result == "2"
            v.append((time.monotonic() - t0) * 1000)
    return {"p50": pct(v, 50), "p99": pct(v, 99), "n": n}


def kernel_build():
    best = None
    for d in glob.glob(os.path.join(KERNEL_CACHE, "thaw-*")):
        try:
            secs = int(open(os.path.join(d, "build-seconds")).read())
            ident = open(os.path.join(d, "id")).read().strip()
        except OSError:
            continue
        mtime = os.path.getmtime(d)
        if best is None or mtime > best[0]:
            best = (mtime, {"seconds": secs, "id": ident})
    return best[1] if best else None


def measure(template, quick):
    log(f"{template}: baking")
    res = {"bake_s": bake(template)}
    info = template_info(template)
    res["kernel"] = info.get("kernel", "")
    res["machine_rev"] = info.get("machine_rev")
    res["files"] = build_files(template, info["build_id"])
    res["state_bytes"] = info.get("bytes", {}).get("state")
    log(f"{template}: creates, execs, cold boots")
    res.update(create_bench(template, quick))
    log(f"{template}: run_code")
    res["run_code"] = run_code(template, 10 if quick else 30)
    log(f"{template}: fork and resume")
    res.update(lifecycle_bench(template, quick))
    log(f"{template}: restore working set")
    res["working_set"] = working_set(template, info["memory_mb"], 3 if quick else 5)
    log(f"{template}: idle CPU")
    res["idle_cpu"] = idle_cpu(template, 4 if quick else 8, 5 if quick else 15)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    a = ap.parse_args()
    r = {kernel: measure(template, a.quick) for kernel, template in KERNELS}
    build = kernel_build()
    t, c = r["thaw"], r["debian-cloud"]

    rows = [
        ("bake (s; rootfs and kernel cached)", lambda x: x["bake_s"], "{:.1f}"),
        ("cold boot to ready, p50 (ms)", lambda x: x["cold_boot"]["p50"], "{:.0f}"),
        ("create without pools, p50 (ms)", lambda x: x["create_no_pools"]["p50"], "{:.1f}"),
        ("create without pools, p99 (ms)", lambda x: x["create_no_pools"]["p99"], "{:.1f}"),
        ("create with pools (paced), p50 (ms)", lambda x: x["create_pools"]["p50"], "{:.1f}"),
        ("exec true, p50 (ms)", lambda x: x["exec_true"]["p50"], "{:.1f}"),
        ("exec true, p99 (ms)", lambda x: x["exec_true"]["p99"], "{:.1f}"),
        ("first exec after create, p50 (ms)", lambda x: x["first_exec"]["p50"], "{:.1f}"),
        ("first exec after create, p90 (ms)", lambda x: x["first_exec"]["p90"], "{:.1f}"),
        ("run_code(\"1+1\"), p50 (ms)", lambda x: x["run_code"]["p50"], "{:.1f}"),
        ("fork, 100 MB dirtied, p50 (ms)", lambda x: x["fork"]["p50"], "{:.1f}"),
        ("resume, 100 MB dirtied, p50 (ms)", lambda x: x["resume"]["p50"], "{:.1f}"),
        ("resume, fresh sandbox, p50 (ms)", lambda x: x["resume_fresh"]["p50"], "{:.1f}"),
        ("working set at ready (MiB)", lambda x: x["working_set"]["ready_mib"], "{:.1f}"),
        ("working set after 1st exec (MiB)",
         lambda x: x["working_set"]["after_first_exec_mib"], "{:.1f}"),
        ("idle CPU per sandbox (ms/s)", lambda x: x["idle_cpu"]["ms_per_s_p50"], "{:.2f}"),
        ("device state (KiB)", lambda x: (x["state_bytes"] or 0) / 1024, "{:.1f}"),
        ("kernel image (KiB)", lambda x: x["files"]["vmlinuz"] / 1024, "{:.0f}"),
        ("initramfs (KiB)", lambda x: x["files"]["initrd.img"] / 1024, "{:.0f}"),
    ]
    print("guest kernel benchmark: same recipe, both kernels, one thawd, one run")
    print(f"thaw:         {t['kernel']} (machine_rev {t['machine_rev']})")
    print(f"debian-cloud: {c['kernel']} (machine_rev {c['machine_rev']})")
    if build:
        print(f"thaw kernel build: {build['seconds']} s on {os.cpu_count()} CPUs ({build['id']})")
    print()
    print(f"{'':40} {'thaw':>12} {'debian-cloud':>13} {'ratio':>7}")
    for label, fn, fmt in rows:
        x, y = fn(t), fn(c)
        ratio = f"{x / y:.2f}" if y else "-"
        print(f"{label:40} {fmt.format(x):>12} {fmt.format(y):>13} {ratio:>7}")
    ws_ratio = t["working_set"]["after_first_exec_mib"] / c["working_set"]["after_first_exec_mib"]
    targets = [
        ("exec true p50 <= 12 ms", t["exec_true"]["p50"] <= 12),
        ("first exec after create p90 <= 40 ms", t["first_exec"]["p90"] <= 40),
        ("create without pools p50 <= 60 ms", t["create_no_pools"]["p50"] <= 60),
        ("cold boot to ready <= 1 s", t["cold_boot"]["p50"] <= 1000),
        (f"restore working set <= half the cloud kernel's ({ws_ratio:.2f})", ws_ratio <= 0.5),
        ("fork (100 MB dirtied) p50 <= 150 ms", t["fork"]["p50"] <= 150),
        ("resume p50 <= 80 ms", t["resume"]["p50"] <= 80),
    ]
    print("\ntargets (thaw's kernel):")
    for label, ok in targets:
        print(f"  {label:62} {'PASS' if ok else 'MISS'}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"format": 1, "finished_at": time.time(), "kernel_build": build,
                       "results": r, "targets": dict(targets)}, f, indent=1, default=str)
    return 1 if a.strict and not all(ok for _, ok in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
