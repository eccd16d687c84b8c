#!/usr/bin/env python3
"""Density: how many idle sandboxes one host holds, and what each costs.

Creates idle sandboxes of one template in steps (50, 100, 200, ... up to
--max or the first refusal) and at each step reports:
  - host memory per sandbox: the drop of MemAvailable since the start,
    and the VMMs' PSS split into anonymous (their own) and shared
    (template pages, QEMU's binary: PSS counts them once over all);
  - idle CPU per sandbox over --idle seconds (the VMMs' scheduler time)
    and the host's CPU left idle in the same window;
  - thawd's descriptors, threads and resident memory;
  - create (paced: the pools are full) and exec `true` p50, and the p50
    of listing every sandbox, against the same measured on the empty
    host at the start of the run;
then the time to delete them all, and whether anything was left.

    bench/density.py [--steps 50,100,200,300,400,500] [--max 500]
                     [--idle 20] [--samples 20] [--json FILE]

THAW_API_URL and THAW_API_KEY name the thawd (bench/density.sh starts
one when none answers); reading other processes' /proc needs root.
Standard library only; tests/e2e/test_scale.py drives the same code.
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

from load import cmdlines, thawd_pid

PACE_S = 0.5  # between paced creates: the warm pools refill in this time


def log(msg):
    print(f"density: {msg}", file=sys.stderr, flush=True)


class Api:
    """One keep-alive connection per thread, as a real client keeps."""

    def __init__(self, url, key):
        self.url = urllib.parse.urlsplit(url)
        self.key = key
        self.local = threading.local()

    def _conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=300)
            self.local.conn = c
        return c

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        for attempt in (1, 2):
            c = self._conn()
            try:
                c.request(method, path, body=data, headers=headers)
                resp = c.getresponse()
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
            except (ConnectionError, http.client.HTTPException):
                c.close()
                self.local.conn = None
                if attempt == 2:
                    raise

    def timed(self, method, path, body=None):
        t0 = time.monotonic()
        st, out = self.call(method, path, body)
        return st, out, (time.monotonic() - t0) * 1000


# ---- what the host says -----------------------------------------------

def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_times():
    """(busy, total) jiffies of the whole host."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def vmm_pids(prefix):
    """{vmm name: pid} of every QEMU named prefix*."""
    out = {}
    want = prefix.encode()
    for pid, args in cmdlines():
        for i, a in enumerate(args[:-1]):
            if a == b"-name" and args[i + 1].startswith(want):
                out[args[i + 1].decode()] = pid
                break
    return out


def rollup(pid):
    fields = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                    fields[parts[0][:-1]] = int(parts[1]) * 1024
    except OSError:
        pass
    return fields


def tcg_code_bytes(pid):
    """Resident bytes of TCG's translation cache (QEMU's one anonymous
    rwx mapping); 0 under KVM."""
    total, in_code = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                first = line.split(" ", 1)[0]
                if "-" in first and ":" not in first:
                    parts = line.split()
                    in_code = parts[1] == "rwxp" and len(parts) < 6
                elif in_code and line.startswith("Rss:"):
                    total += int(line.split()[1]) * 1024
    except OSError:
        pass
    return total


def sched_ns(pid):
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except OSError:
        pass
    return total


def process_figures(pid):
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    threads = rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return {"fds": fds, "threads": threads, "rss_mib": round(rss / 2**20, 1)}


def p50(xs):
    return round(statistics.median(xs), 2) if xs else None


def pct(xs, q):
    if not xs:
        return None
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * len(s)))], 2)


# ---- the run ------------------------------------------------------------

class Density:
    def __init__(self, url, key, template=None, steps=(50, 100, 200, 300, 400, 500),
                 idle_s=20.0, samples=20, progress=log):
        self.api = Api(url, key)
        self.template = template
        self.steps = sorted(steps)
        self.idle_s = idle_s
        self.samples = samples
        self.log = progress
        self.ids = []
        self.created = set()  # every id this run made (warm VMMs share the naming)
        self.prefix = None
        self.refused = None  # (count, status, message) of the first refusal
        self.errors = []

    def _create_body(self):
        body = {"timeout_s": 3600}
        if self.template:
            body["template"] = self.template
        return body

    def _learn_prefix(self, sb):
        # Slot namespaces are named <prefix>s<N>; VMMs <prefix><sandbox id>.
        ns = sb["network"]["netns"]
        self.prefix = ns[:ns.rindex("-") + 1]

    def create_one(self):
        st, body, ms = self.api.timed("POST", "/v1/sandboxes", self._create_body())
        if st == 201 and self.prefix is None:
            self._learn_prefix(body)
        return st, body, ms

    def grow_to(self, n):
        t0 = time.monotonic()
        while len(self.ids) < n and self.refused is None:
            st, body, _ = self.create_one()
            if st == 201:
                self.ids.append(body["id"])
                self.created.add(body["id"])
                if len(self.ids) % 25 == 0:
                    self.log(f"{len(self.ids)} sandboxes alive")
            elif st in (429, 503):
                self.refused = (len(self.ids), st, body.get("error") if body else "")
                self.log(f"refused at {len(self.ids)}: {st} {self.refused[2]}")
            else:
                self.errors.append(f"create at {len(self.ids)}: {st} {body}")
                if len(self.errors) > 10:
                    raise RuntimeError(f"too many errors: {self.errors}")
        return time.monotonic() - t0

    def latencies(self):
        """Paced creates (each deleted at once), exec `true` in a live
        sandbox (or in one made for it), and listing everything."""
        creates, execs, lists = [], [], []
        for _ in range(self.samples):
            time.sleep(PACE_S)
            st, body, ms = self.create_one()
            if st != 201:
                self.errors.append(f"paced create: {st} {body}")
                continue
            creates.append(ms)
            self.api.call("DELETE", f"/v1/sandboxes/{body['id']}")
        own = None
        target = self.ids[len(self.ids) // 2] if self.ids else None
        if target is None:
            st, body, _ = self.create_one()
            own = target = body["id"] if st == 201 else None
        for _ in range(self.samples if target else 0):
            st, body, ms = self.api.timed("POST", f"/v1/sandboxes/{target}/exec",
                                          {"cmd": ["true"]})
            if st == 200 and body["exit_code"] == 0:
                execs.append(ms)
            else:
                self.errors.append(f"exec: {st} {body}")
        if own:
            self.api.call("DELETE", f"/v1/sandboxes/{own}")
        for _ in range(5):
            st, body, ms = self.api.timed("GET", "/v1/sandboxes")
            if st == 200:
                lists.append(ms)
                if len(body["sandboxes"]) < len(self.ids):
                    self.errors.append(f"list shows {len(body['sandboxes'])} of "
                                       f"{len(self.ids)} sandboxes")
            else:
                self.errors.append(f"list: {st}")
        return {"create_p50_ms": p50(creates), "create_p90_ms": pct(creates, 0.9),
                "exec_p50_ms": p50(execs), "exec_p90_ms": pct(execs, 0.9),
                "list_p50_ms": p50(lists), "n": len(creates)}

    def memory(self, base_avail):
        pids = vmm_pids(self.prefix) if self.prefix else {}
        mine = [pids[self.prefix + i] for i in self.ids if self.prefix + i in pids]
        tot = {"Pss": 0, "Pss_Anon": 0, "Pss_File": 0, "Pss_Shmem": 0, "Anonymous": 0}
        tcg = 0
        for pid in mine:
            r = rollup(pid)
            for k in tot:
                tot[k] += r.get(k, 0)
            tcg += tcg_code_bytes(pid)
        n = max(1, len(mine))
        mib = 2**20
        return {
            "vmms_found": len(mine),
            "available_drop_mib_per_sandbox":
                round((base_avail - meminfo("MemAvailable")) / mib / n, 2) if self.ids else None,
            "pss_mib_per_sandbox": round(tot["Pss"] / mib / n, 2),
            "pss_anon_mib_per_sandbox": round(tot["Pss_Anon"] / mib / n, 2),
            "pss_shared_mib_per_sandbox":
                round((tot["Pss_File"] + tot["Pss_Shmem"]) / mib / n, 2),
            "anonymous_mib_per_sandbox": round(tot["Anonymous"] / mib / n, 2),
            "tcg_code_mib_per_sandbox": round(tcg / mib / n, 2),
        }, mine

    def idle_cpu(self, pids):
        ncpu = os.cpu_count() or 1
        a = {p: sched_ns(p) for p in pids}
        busy0, tot0 = cpu_times()
        time.sleep(self.idle_s)
        busy1, tot1 = cpu_times()
        used = sum(max(0, sched_ns(p) - a[p]) for p in pids)
        n = max(1, len(pids))
        host_busy = (busy1 - busy0) / max(1, tot1 - tot0)
        return {"cpu_pct_of_core_per_sandbox": round(used / 1e9 / self.idle_s / n * 100, 4),
                "vmms_cpu_cores": round(used / 1e9 / self.idle_s, 3),
                "host_idle_cores": round((1 - host_busy) * ncpu, 2)}

    def measure(self, base_avail, pid):
        self.log(f"measuring at {len(self.ids)} sandboxes (idle {self.idle_s:.0f} s, "
                 f"{self.samples} paced creates and execs)")
        time.sleep(3)  # the last creates' pool refills settle
        mem, pids = self.memory(base_avail)
        row = {"sandboxes": len(self.ids), **mem}
        if pids:
            row.update(self.idle_cpu(pids))
        row["thawd"] = process_figures(pid) if pid else None
        row.update(self.latencies())
        return row

    def delete_all(self, threads=4):
        ids, lock, errors = list(self.ids), threading.Lock(), []

        def worker():
            while True:
                with lock:
                    if not ids:
                        return
                    sid = ids.pop()
                st, body = self.api.call("DELETE", f"/v1/sandboxes/{sid}")
                if st not in (204, 404):
                    with lock:
                        errors.append(f"delete {sid}: {st} {body}")
        t0 = time.monotonic()
        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        took = time.monotonic() - t0
        self.errors.extend(errors)
        self.ids = []
        return took

    def run(self, pid=None):
        pid = pid or thawd_pid(f"http://{self.api.url.hostname}:{self.api.url.port}")
        st, info = self.api.call("GET", "/v1/info")
        if st != 200:
            raise RuntimeError(f"GET /v1/info: {st} {info}")
        base_avail = meminfo("MemAvailable")
        thawd_start = process_figures(pid) if pid else None
        self.log("baseline on the empty host")
        rows = [self.measure(base_avail, pid)]
        try:
            for step in self.steps:
                took = self.grow_to(step)
                self.log(f"{len(self.ids)} alive (+{took:.0f} s)")
                rows.append(self.measure(base_avail, pid))
                if self.refused:
                    break
        except BaseException:
            self.log(f"failed: deleting the {len(self.ids)} sandboxes made")
            self.delete_all()
            raise
        alive = len(self.ids)
        self.log(f"deleting {alive} sandboxes")
        delete_s = self.delete_all()
        time.sleep(2)
        vmms = vmm_pids(self.prefix) if self.prefix else {}
        left = sorted(n for n in vmms if n[len(self.prefix):] in self.created)
        st, listed = self.api.call("GET", "/v1/sandboxes")
        return {
            "template": self.template or "(default)",
            "info": {"max_sandboxes": info["sandboxes"]["max"], "memory": info.get("memory"),
                     "thawd": info.get("thawd")},
            "host": {"cpus": os.cpu_count(), "mem_total_mib": meminfo("MemTotal") >> 20},
            "rows": rows,
            "peak": alive,
            "refused": self.refused,
            "delete_all_s": round(delete_s, 2),
            "listed_after": len(listed["sandboxes"]) if st == 200 else None,
            "vmms_left": left,
            "thawd_start": thawd_start,
            "thawd_end": process_figures(pid) if pid else None,
            "errors": self.errors,
        }


def report(r):
    base, rows = r["rows"][0], r["rows"][1:]
    out = [f"density: template {r['template']}, {r['host']['cpus']} CPUs, "
           f"{r['host']['mem_total_mib']} MiB; thawd's --max-sandboxes {r['info']['max_sandboxes']}"]
    mem = r["info"].get("memory") or {}
    if mem:
        out.append(f"admission: {mem.get('per_sandbox_mb')} MiB per sandbox "
                   f"({mem.get('per_sandbox_source')}), {mem.get('reserve_mb')} MiB reserve")
    out.append("")
    out.append("| alive | MemAvailable drop / sb, MiB | PSS / sb (own + shared), MiB | "
               "of it TCG code, MiB | "
               "idle CPU / sb, % of a core | host idle, cores | thawd fds / threads / RSS MiB | "
               "create p50 (x empty) | exec `true` p50 (x empty) | list p50, ms |")
    out.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

    def ratio(v, b):
        return f"{v} ({v / b:.2f}x)" if v and b else f"{v}"
    for row in [base] + rows:
        t = row.get("thawd") or {}
        pss = (f"{row['pss_mib_per_sandbox']} ({row['pss_anon_mib_per_sandbox']} + "
               f"{row['pss_shared_mib_per_sandbox']})") if row["vmms_found"] else "-"
        out.append(
            f"| {row['sandboxes']} | {row['available_drop_mib_per_sandbox'] or '-'} | {pss} | "
            f"{row['tcg_code_mib_per_sandbox'] if row['vmms_found'] else '-'} | "
            f"{row.get('cpu_pct_of_core_per_sandbox', '-')} | {row.get('host_idle_cores', '-')} | "
            f"{t.get('fds')} / {t.get('threads')} / {t.get('rss_mib')} | "
            f"{ratio(row['create_p50_ms'], base['create_p50_ms'])} | "
            f"{ratio(row['exec_p50_ms'], base['exec_p50_ms'])} | {row['list_p50_ms']} |")
    out.append("")
    out.append(f"peak {r['peak']} alive; first refusal: "
               f"{'none' if not r['refused'] else r['refused']}; deleting all took "
               f"{r['delete_all_s']} s; listed after: {r['listed_after']}; VMMs left: "
               f"{len(r['vmms_left'])}; thawd fds "
               f"{(r['thawd_start'] or {}).get('fds')} at the start, "
               f"{(r['thawd_end'] or {}).get('fds')} at the end; errors: {len(r['errors'])}")
    for e in r["errors"][:10]:
        out.append(f"  error: {e}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", default="50,100,200,300,400,500")
    ap.add_argument("--max", type=int, default=500)
    ap.add_argument("--idle", type=float, default=20.0)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--template", default=os.environ.get("THAW_BENCH_TEMPLATE"))
    ap.add_argument("--json")
    a = ap.parse_args()
    url = os.environ.get("THAW_API_URL", "http://127.0.0.1:7420")
    key = os.environ.get("THAW_API_KEY")
    if not key:
        with open("/var/lib/thaw/api-key") as f:
            key = f.read().strip()
    steps = [int(s) for s in a.steps.split(",") if s and int(s) <= a.max]
    d = Density(url, key, a.template, steps, a.idle, a.samples)
    try:
        r = d.run()
    except KeyboardInterrupt:
        log("interrupted: deleting what was created")
        d.delete_all()
        raise
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=2)
    print(report(r))
    return 1 if r["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
