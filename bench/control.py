#!/usr/bin/env python3
"""The control plane's cost (docs/fleet.md): what a request pays for going
through thaw-control instead of straight to its host, measured in one run
on one machine.

It starts a private PostgreSQL (tests/e2e/thawlib/pg.py), one thaw-control
and one thawd host that joins it (the fleet benchmark's host A data dir,
/var/tmp/thaw-bf-a: the template is baked there once and kept), then
alternates, sample by sample:
- create: POST /v1/sandboxes straight to the host (its admin key) and
  through the control plane (a user key; the control plane places it,
  records it, relays the host's answer), each sandbox deleted at once;
  the control plane's own part is in its answer (control_timings_ms:
  placement, host, record);
- exec `true` on one sandbox, straight and through the control plane.
The host's warm pool is on (the default) and full before every create:
each is the few-ms path, where an overhead shows most.

Then a second host joins (data dir /var/tmp/thaw-bf-b, the fleet
benchmark's host B, wiped first) and the fork across hosts is timed: a
parent made through the control plane dirties 100 MiB of its memory
(/dev/shm), and --fork-samples times a fork of one child with "spread"
(so on the other host: the parent's host exports the image to the store,
the other starts the child from it); each child is checked and deleted.
Both hosts share one bucket on a real S3 server (s3rver) behind a proxy
that adds 20 ms to every request, a realistic store round trip.

    bench/control.py [--samples 30] [--fork-samples 8] [--json FILE]

Needs root, a built tree (make), PostgreSQL 15 and node + npm (s3rver).
Progress goes to stderr, the report to stdout. Everything started is
stopped at the end.
"""

import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from density import Api  # noqa: E402  (bench/)
from thawlib.faultproxy import FaultProxy  # noqa: E402
from thawlib.pg import Postgres  # noqa: E402
from thawlib.s3 import S3rver  # noqa: E402
from thawlib.util import free_port, wait_until  # noqa: E402

BIN = REPO / "build" / "bin"
# The fleet benchmark's host A (bench/fleet.py): its template is baked
# there and kept between runs; its slot and uid ranges.
DATA = Path("/var/tmp/thaw-bf-a")
SLOT = "10.221.0.0/16"
UID = 1900000000 + 40 * 65536
# The second host, for the fork across hosts: the fleet benchmark's B.
DATA_B = Path("/var/tmp/thaw-bf-b")
SLOT_B = "10.222.0.0/16"
UID_B = 1900000000 + 41 * 65536
STORE_RTT_MS = 20
DIRTY_MIB = 100
TEMPLATE = "code-interpreter"
USER_KEY = "bench-user-key-0123456789"
ADMIN_KEY = "bench-admin-key-0123456789"
SECRET = "bench-fleet-secret-0123456789"
TARGETS = {"placement_p50_ms": 5.0, "create_added_p50_ms": 3.0, "exec_added_p50_ms": 2.0,
           "cross_host_fork_p50_ms": 1500.0}


def log(msg):
    print(f"control: {msg}", file=sys.stderr, flush=True)


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


class World:
    def __init__(self):
        self.work = Path(tempfile.mkdtemp(prefix="thaw-bench-control-"))
        self.pg = None
        self.control = None
        self.host = None
        self.host_b = None
        self.s3 = None
        self.proxy = None
        self.host_port = free_port()
        self.control_port = free_port()

    def _store(self):
        self.s3 = S3rver(bucket="thaw-bench-control").start()
        self.proxy = FaultProxy((self.s3.host, self.s3.port)).start()
        self.proxy.set_latency(STORE_RTT_MS)
        return ["--s3-endpoint", self.proxy.endpoint, "--s3-bucket", self.s3.bucket,
                "--s3-region", self.s3.region]

    def _thawd(self, data, port, slot, uid, name, store):
        env = {**os.environ, **self.s3.env(self.proxy.endpoint)}
        return subprocess.Popen(
            [str(BIN / "thawd"), "--data-dir", str(data), "--listen", f"127.0.0.1:{port}",
             "--recipes", str(REPO / "templates"), "--agent", str(BIN / "thaw-agent"),
             "--slot-cidr", slot, "--vmm-uid-base", str(uid), "--join",
             f"http://127.0.0.1:{self.control_port}", "--host-name", name,
             "--fleet-secret-file", str(self.work / "secret"), *store],
            stdout=open(Path(data) / "thawd-bench.log", "ab"), stderr=subprocess.STDOUT,
            env=env, start_new_session=True)

    def start(self):
        store = self._store()
        self.store_args = store
        self.pg = Postgres().start()
        db = self.pg.create_db("bench")
        (self.work / "secret").write_text(SECRET + "\n")
        (self.work / "keys.json").write_text(json.dumps({"keys": [
            {"name": "ops", "role": "admin",
             "sha256": hashlib.sha256(ADMIN_KEY.encode()).hexdigest()},
            {"name": "bench", "role": "user",
             "sha256": hashlib.sha256(USER_KEY.encode()).hexdigest()}]}))
        self.control = subprocess.Popen(
            [str(BIN / "thaw-control"), "--listen", f"127.0.0.1:{self.control_port}",
             "--database", db, "--keys-file", str(self.work / "keys.json"),
             "--fleet-secret-file", str(self.work / "secret")],
            stdout=open(self.work / "control.log", "wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        DATA.mkdir(parents=True, exist_ok=True)
        self.host = self._thawd(DATA, self.host_port, SLOT, UID, "bench-a", store)
        host_url = f"http://127.0.0.1:{self.host_port}"
        self.direct = Api(host_url, None)
        wait_until(lambda: self._up(), 120, interval=0.2, what="thawd answers")
        self.direct = Api(host_url, (DATA / "api-key").read_text().strip())
        self.via = Api(f"http://127.0.0.1:{self.control_port}", USER_KEY)
        self.ops = Api(f"http://127.0.0.1:{self.control_port}", ADMIN_KEY)
        wait_until(lambda: self._joined(), 60, interval=0.2, what="the host joined")

    def _up(self):
        try:
            return self.direct.call("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def _joined(self, name="bench-a"):
        st, body = self.ops.call("GET", "/v1/hosts")
        return st == 200 and any(h["name"] == name and h["state"] == "up"
                                 for h in body["hosts"])

    def published(self):
        """Waits until host A's template build is in the store: its upload
        must not run beside the measurements."""
        def done():
            st, t = self.direct.call("GET", f"/v1/templates/{TEMPLATE}")
            return st == 200 and t.get("artifacts", {}).get("location") == "local+remote"
        wait_until(done, 900, interval=1, what="the template in the object store")

    def start_b(self):
        """The second host: a fresh data dir; it imports the template from
        the store (its memory and disk streamed)."""
        self._teardown(DATA_B, SLOT_B, UID_B)
        shutil.rmtree(DATA_B, ignore_errors=True)
        DATA_B.mkdir(parents=True)
        self.host_b = self._thawd(DATA_B, free_port(), SLOT_B, UID_B, "bench-b",
                                  self.store_args)
        wait_until(lambda: self._joined("bench-b"), 120, interval=0.2, what="host B joined")

        def cached():
            st, body = self.ops.call("GET", "/v1/hosts")
            return st == 200 and all(TEMPLATE in h["templates_cached"] for h in body["hosts"])
        wait_until(cached, 120, interval=0.5, what="the template listed on host B")

    @staticmethod
    def _teardown(data, slot, uid):
        subprocess.run([str(BIN / "thawd"), "--data-dir", str(data), "--slot-cidr", slot,
                        "--vmm-uid-base", str(uid), "--teardown"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def template(self):
        st, body = self.direct.call("GET", f"/v1/templates/{TEMPLATE}")
        if st == 200 and body.get("status") == "ready":
            return
        log(f"baking {TEMPLATE} in {DATA} (once; kept for later runs; minutes)")
        c = http.client.HTTPConnection("127.0.0.1", self.host_port, timeout=3600)
        c.request("POST", "/v1/templates", body=json.dumps({"name": TEMPLATE}),
                  headers={"Authorization": f"Bearer {self.direct.key}",
                           "Content-Type": "application/json"})
        resp = c.getresponse()
        events = [json.loads(x) for x in resp.read().decode().splitlines() if x.strip()]
        if resp.status != 200 or not events or events[-1].get("event") != "done":
            raise RuntimeError(f"bake: {resp.status} {events[-3:]}")

    def stop(self):
        for p in (self.host, self.host_b, self.control):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
        if self.host:
            self._teardown(DATA, SLOT, UID)
        if self.host_b:
            self._teardown(DATA_B, SLOT_B, UID_B)
            shutil.rmtree(DATA_B, ignore_errors=True)  # ~1 GiB; wiped at every run
        if self.pg:
            self.pg.stop()
        if self.proxy:
            self.proxy.stop()
        if self.s3:
            self.s3.stop()
        shutil.rmtree(self.work, ignore_errors=True)


def pool_full(w, timeout=10):
    """Waits until the host's warm pool is full again: every create is
    then the warm path, straight or through the control plane alike."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, info = w.direct.call("GET", "/v1/info")
        pool = (info or {}).get("warm_vmms", {})
        # This template's: "ready" counts every template's warm VMMs.
        if st == 200 and pool.get("ready_by_template", {}).get(TEMPLATE, 0) >= \
                pool.get("per_template", 1):
            return
        time.sleep(0.05)


def measure(w, samples):
    r = {"create_direct": [], "create_via": [], "placement": [], "host_part": [],
         "exec_direct": [], "exec_via": [], "server_direct": [], "server_via": [],
         "warm_direct": 0, "warm_via": 0}
    for i in range(samples):
        for via in (i % 2 == 0, i % 2 == 1):
            api = w.via if via else w.direct
            pool_full(w)
            ms, (st, sb) = timed(lambda: api.call("POST", "/v1/sandboxes", {}))
            if st != 201:
                raise RuntimeError(f"create ({'via' if via else 'direct'}): {st} {sb}")
            r["create_via" if via else "create_direct"].append(ms)
            tm = sb.get("timings_ms", {})
            r["server_via" if via else "server_direct"].append(tm.get("total", 0))
            r["warm_via" if via else "warm_direct"] += bool(tm.get("warm_vmm"))
            if via:
                r["placement"].append(sb["control_timings_ms"]["placement"])
                r["host_part"].append(sb["control_timings_ms"]["host"])
            api.call("DELETE", f"/v1/sandboxes/{sb['id']}")
        log(f"create sample {i + 1}/{samples}")
    st, sb = w.via.call("POST", "/v1/sandboxes", {})
    sid = sb["id"]
    for i in range(samples * 2):
        for via in (i % 2 == 0, i % 2 == 1):
            api = w.via if via else w.direct
            ms, (st, out) = timed(lambda: api.call("POST", f"/v1/sandboxes/{sid}/exec",
                                                   {"cmd": ["true"]}))
            if st != 200 or out["exit_code"] != 0:
                raise RuntimeError(f"exec: {st} {out}")
            r["exec_via" if via else "exec_direct"].append(ms)
    w.via.call("DELETE", f"/v1/sandboxes/{sid}")
    return r


def measure_fork(w, samples):
    """Forks of one child onto the other host, from a parent that dirtied
    DIRTY_MIB of its memory."""
    r = {"fork_wall": [], "fork_export": [], "fork_children": [], "fork_stopped": [],
         "fork_capture": [], "fork_upload": []}
    st, parent = w.via.call("POST", "/v1/sandboxes", {"timeout_s": 3600})
    if st != 201:
        raise RuntimeError(f"parent: {st} {parent}")
    pid = parent["id"]
    st, out = w.via.call("POST", f"/v1/sandboxes/{pid}/exec",
                         {"cmd": f"head -c {DIRTY_MIB}M /dev/urandom > /dev/shm/dirty",
                          "timeout_s": 120})
    if st != 200 or out["exit_code"] != 0:
        raise RuntimeError(f"dirtying the parent: {st} {out}")
    for i in range(samples):
        ms, (st, fk) = timed(lambda: w.via.call("POST", f"/v1/sandboxes/{pid}/fork",
                                                {"count": 1, "spread": True}))
        if st != 201:
            raise RuntimeError(f"fork: {st} {fk}")
        child = fk["sandboxes"][0]
        if child["host"] == parent["host"]:
            raise RuntimeError(f"the child stayed on {child['host']}: {fk}")
        st, out = w.via.call("POST", f"/v1/sandboxes/{child['id']}/exec",
                             {"cmd": "stat -c %s /dev/shm/dirty"})
        if st != 200 or out["stdout"].strip() != str(DIRTY_MIB << 20):
            raise RuntimeError(f"the child's memory: {st} {out}")
        r["fork_wall"].append(ms)
        r["fork_export"].append(fk["timings_ms"]["export"])
        r["fork_children"].append(fk["timings_ms"]["remote_children"])
        parts = fk["timings_ms"].get("export_parts", {})
        r["fork_stopped"].append(parts.get("parent_stopped", 0))
        r["fork_capture"].append(parts.get("capture", 0))
        r["fork_upload"].append(parts.get("upload", 0))
        w.via.call("DELETE", f"/v1/sandboxes/{child['id']}")
        log(f"fork sample {i + 1}/{samples}: {ms:.0f} ms (export "
            f"{fk['timings_ms']['export']:.0f} ms) {parent['host']} -> {child['host']}")
    w.via.call("DELETE", f"/v1/sandboxes/{pid}")
    return r


def report(r, samples):
    lines = [f"Control plane overhead, {time.strftime('%Y-%m-%d')}, this machine; "
             f"{samples} samples per row, direct and through alternating", "",
             "| ms | p50 | p99 |", "| --- | ---: | ---: |"]
    for k, label in (("create_direct", "create, straight to the host"),
                     ("create_via", "create through thaw-control"),
                     ("placement", "  its placement (PostgreSQL transaction)"),
                     ("host_part", "  its call to the host"),
                     ("exec_direct", "exec true, straight to the host"),
                     ("exec_via", "exec true through thaw-control")):
        lines.append(f"| {label} | {pct(r[k], 50):.2f} | {pct(r[k], 99):.2f} |")
    if r.get("fork_wall"):
        for k, label in (("fork_wall", f"fork across hosts, parent dirtied {DIRTY_MIB} MiB "
                                       f"(store +{STORE_RTT_MS} ms per request)"),
                         ("fork_export", "  its export (capture + upload of what differs)"),
                         ("fork_stopped", "    the parent stopped"),
                         ("fork_capture", "    the capture"),
                         ("fork_upload", "    the upload (hashing windows, putting the new)"),
                         ("fork_children", "  the child started on the other host")):
            lines.append(f"| {label} | {pct(r[k], 50):.0f} | {pct(r[k], 99):.0f} |")
    added_create = pct(r["create_via"], 50) - pct(r["create_direct"], 50)
    added_exec = pct(r["exec_via"], 50) - pct(r["exec_direct"], 50)
    got = {"placement_p50_ms": pct(r["placement"], 50), "create_added_p50_ms": added_create,
           "exec_added_p50_ms": added_exec}
    if r.get("fork_wall"):
        got["cross_host_fork_p50_ms"] = pct(r["fork_wall"], 50)
    lines.append("")
    for k, v in got.items():
        ok = "PASS" if v <= TARGETS[k] else "FAIL"
        lines.append(f"  {ok}  {k}: {v:.2f} (target <= {TARGETS[k]})")
    return "\n".join(lines), got


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--fork-samples", type=int, default=8,
                    help="forks across hosts (0: no second host)")
    ap.add_argument("--json")
    a = ap.parse_args()
    if os.geteuid() != 0:
        log("needs root")
        return 1
    for p in (BIN / "thawd", BIN / "thaw-control", BIN / "thaw-agent"):
        if not p.exists():
            log(f"{p} is missing: run make first")
            return 1
    # A SIGTERM (timeout, ^C of a wrapper) still stops what was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    w = World()
    try:
        w.start()
        w.template()
        w.published()
        time.sleep(3)  # the warm pool refills after the bake
        r = measure(w, a.samples)
        if a.fork_samples:
            w.start_b()
            r.update(measure_fork(w, a.fork_samples))
        text, got = report(r, a.samples)
        print(text)
        if a.json:
            Path(a.json).write_text(json.dumps({"samples": r, "figures": got}, indent=1))
        return 0
    finally:
        w.stop()


if __name__ == "__main__":
    sys.exit(main())
