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

    bench/control.py [--samples 30] [--json FILE]

Needs root, a built tree (make) and PostgreSQL 15. Progress goes to
stderr, the report to stdout. Everything started is stopped at the end.
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
from thawlib.pg import Postgres  # noqa: E402
from thawlib.util import free_port, wait_until  # noqa: E402

BIN = REPO / "build" / "bin"
# The fleet benchmark's host A (bench/fleet.py): its template is baked
# there and kept between runs; its slot and uid ranges.
DATA = Path("/var/tmp/thaw-bf-a")
SLOT = "10.221.0.0/16"
UID = 1900000000 + 40 * 65536
TEMPLATE = "code-interpreter"
USER_KEY = "bench-user-key-0123456789"
ADMIN_KEY = "bench-admin-key-0123456789"
SECRET = "bench-fleet-secret-0123456789"
TARGETS = {"placement_p50_ms": 5.0, "create_added_p50_ms": 3.0, "exec_added_p50_ms": 2.0}


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
        self.host_port = free_port()
        self.control_port = free_port()

    def start(self):
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
        self.host = subprocess.Popen(
            [str(BIN / "thawd"), "--data-dir", str(DATA), "--listen",
             f"127.0.0.1:{self.host_port}", "--recipes", str(REPO / "templates"),
             "--agent", str(BIN / "thaw-agent"), "--slot-cidr", SLOT, "--vmm-uid-base",
             str(UID), "--join", f"http://127.0.0.1:{self.control_port}",
             "--host-name", "bench-a", "--fleet-secret-file", str(self.work / "secret")],
            stdout=open(DATA / "thawd-bench.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
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

    def _joined(self):
        st, body = self.ops.call("GET", "/v1/hosts")
        return st == 200 and any(h["state"] == "up" for h in body["hosts"])

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
        for p in (self.host, self.control):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
        if self.host:
            subprocess.run([str(BIN / "thawd"), "--data-dir", str(DATA), "--slot-cidr", SLOT,
                            "--vmm-uid-base", str(UID), "--teardown"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.pg:
            self.pg.stop()
        shutil.rmtree(self.work, ignore_errors=True)


def pool_full(w, timeout=10):
    """Waits until the host's warm pool is full again: every create is
    then the warm path, straight or through the control plane alike."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, info = w.direct.call("GET", "/v1/info")
        pool = (info or {}).get("warm_vmms", {})
        if st == 200 and pool.get("ready", 0) >= pool.get("per_template", 1):
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
    added_create = pct(r["create_via"], 50) - pct(r["create_direct"], 50)
    added_exec = pct(r["exec_via"], 50) - pct(r["exec_direct"], 50)
    got = {"placement_p50_ms": pct(r["placement"], 50), "create_added_p50_ms": added_create,
           "exec_added_p50_ms": added_exec}
    lines.append("")
    for k, v in got.items():
        ok = "PASS" if v <= TARGETS[k] else "FAIL"
        lines.append(f"  {ok}  {k}: {v:.2f} (target <= {TARGETS[k]})")
    return "\n".join(lines), got


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--json")
    a = ap.parse_args()
    if os.geteuid() != 0:
        log("needs root")
        return 1
    for p in (BIN / "thawd", BIN / "thaw-control", BIN / "thaw-agent"):
        if not p.exists():
            log(f"{p} is missing: run make first")
            return 1
    w = World()
    try:
        w.start()
        w.template()
        time.sleep(3)  # the warm pool refills after the bake
        r = measure(w, a.samples)
        text, got = report(r, a.samples)
        print(text)
        if a.json:
            Path(a.json).write_text(json.dumps({"samples": r, "figures": got}, indent=1))
        return 0
    finally:
        w.stop()


if __name__ == "__main__":
    sys.exit(main())
