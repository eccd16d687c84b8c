#!/usr/bin/env python3
"""Fleet I: templates streamed from object storage to hosts that never had
their files, against the same work done from local files, in one run.

Two thawd instances on this machine are two hosts sharing one bucket on a
real S3 server (npm's s3rver, tests/e2e/thawlib/s3.py), each reaching it
through its own fault proxy (thawlib/faultproxy.py) that adds 20 ms to
every request and checks every request's SigV4 signature. Host A bakes
the templates and publishes them; host B starts with an empty data dir.
Per template:

  1. cold-host create with the prefetch trace: --samples times a fresh B
     (torn down, data dir removed, started, templates listed), then one
     timed POST /v1/sandboxes; bytes fetched and GETs before it answered,
     and whether any GET named an all-zero window (none can: they are not
     in the store; every data GET is matched against the manifest);
  2. the same without the trace (THAW_LAZYFS_PREFETCH=off in B's env);
  3. download-then-restore: every data object of the manifest downloaded
     through the proxy (build/tests/it/objstore_it, 64 MiB ranged GETs, 4
     at a time) plus a local create on A without pools (p50);
  4. second create on the same (now warm) B: latency and GETs, against the
     local create on A without pools;
  5. resume on another host: create on A, write a file, pause, wait for
     the image in the store, then time POST /v1/sandboxes/ID/adopt on B;
  6. (first template only) host memory of --density idle sandboxes made on
     B from the streamed template against as many on A from its local one.

Every create is {"pools": false} on hosts started with --vmm-pool 0: what
is timed is the restore itself, streamed or local, never a warm VMM.

    bench/fleet.py [--samples 10] [--templates code-interpreter,code-interpreter-2g]
                   [--skip-2g] [--density 50] [--rebake] [--json FILE]

Needs root (thawd, /proc of the VMMs), node + npm (s3rver) and a built
tree (make). Standard library only, plus thawlib from tests/e2e for
S3rver and FaultProxy. Progress goes to stderr, the report to stdout.
"""

import argparse
import datetime
import glob
import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from density import Api, meminfo, rollup, vmm_pids  # noqa: E402  (bench/)
from thawlib.faultproxy import FaultProxy  # noqa: E402
from thawlib.s3 import S3rver  # noqa: E402
from thawlib.util import free_port, instance_prefix, wait_until  # noqa: E402

BIN = REPO / "build" / "bin"
OBJSTORE_IT = REPO / "build" / "tests" / "it" / "objstore_it"
LATENCY_MS = 20
TEMPLATE_2G = "code-interpreter-2g"
DEFAULT_TEMPLATES = ["code-interpreter", TEMPLATE_2G]
DATA_A = "/var/tmp/thaw-bf-a"
DATA_B = "/var/tmp/thaw-bf-b"
LOGS_B = "/var/tmp/thaw-bf-logs"  # each host B's logs, kept until the next run
# Slot ranges and VMM uid ranges of their own: the demo uses 10.200 and
# uid block 0, the e2e tests 10.201-10.214 and blocks 10-23.
SLOT_A, SLOT_B = "10.221.0.0/16", "10.222.0.0/16"
UID_A, UID_B = 1900000000 + 40 * 65536, 1900000000 + 41 * 65536
CACHE_SEEDS = ["/var/lib/thaw/store/cache", *sorted(glob.glob("/var/tmp/thaw-e2e*/store/cache"))]
DL_CHUNK = 64 << 20
DL_PARALLEL = 4

TARGETS = {
    "cold_p50_ms": 250, "cold_p99_ms": 600, "trace_speedup": 2.5, "download_speedup_2g": 5.0,
    "bytes_before_ready_pct": 10.0, "zero_window_gets": 0, "second_create_gets": 0,
    "second_vs_local": 1.10, "resume_p50_ms": 1000, "memory_ratio": 1.05,
}


def log(msg):
    print(f"fleet: {msg}", file=sys.stderr, flush=True)


def pctl(xs, q):
    """Nearest rank: the ceil(q*n)-th smallest sample (a measured value)."""
    if not xs:
        return None
    s = sorted(xs)
    return round(s[max(0, math.ceil(q * len(s)) - 1)], 2)


def dist(xs):
    return {"n": len(xs), "p50": pctl(xs, 0.5), "p90": pctl(xs, 0.9), "p99": pctl(xs, 0.99),
            "min": round(min(xs), 2) if xs else None, "max": round(max(xs), 2) if xs else None,
            "samples": [round(x, 2) for x in xs]}


def wait_for(what, fn, timeout, every=0.5):
    """thawlib's wait_until, failing the way the rest of this script does."""
    try:
        return wait_until(fn, timeout, interval=every, what=what)
    except AssertionError as e:
        raise RuntimeError(str(e)) from None


# ---- the store: s3rver behind one recording fault proxy per host -----------


class Proxy(FaultProxy):
    """A FaultProxy that also records every store request (time, method,
    key, query, Range), so GETs can be matched against a manifest."""

    def __init__(self, upstream, bucket):
        super().__init__(upstream)
        self.bucket = bucket
        self.requests = []
        self.data_gets = 0
        self._rec = threading.Lock()

    def _handle(self, client, up, req):
        method, target, _, headers, _, _ = req
        if not target.startswith("/__proxy/"):
            rng = next((v for k, v in headers if k.lower() == "range"), None)
            path, _, query = target.partition("?")
            path = urllib.parse.unquote(path)
            pre = f"/{self.bucket}/"
            key = path[len(pre):] if path.startswith(pre) else ""
            with self._rec:
                self.requests.append((time.monotonic(), method, key, query, rng))
                self.data_gets += method == "GET" and key.startswith("data/")
        return super()._handle(client, up, req)

    def mark(self):
        with self._rec:
            return len(self.requests)

    def since(self, start, end=None):
        with self._rec:
            return self.requests[start:end]


def data_gets(reqs):
    return [r for r in reqs if r[1] == "GET" and r[2].startswith("data/")]


class Manifest:
    """The parts of a template manifest (docs/artifacts.md) the report needs."""

    def __init__(self, m):
        self.raw = m
        self.window = m["window_bytes"]
        files = m["files"]
        self.memory_size = files["memory"]["size"]
        self.windows = {}  # (object, offset) -> (file, index)
        self.zero = {}
        self.nwindows = {}
        self.objects = {}  # object -> bytes (its packed length)
        for fname in ("memory", "rootfs"):
            ws = files[fname]["windows"]
            self.zero[fname] = sum(1 for w in ws if w is None)
            for i, w in enumerate(ws):
                if w is None:
                    continue
                self.windows[(w["object"], w["offset"])] = (fname, i)
                n = min(self.window, files[fname]["size"] - i * self.window)
                self.objects[w["object"]] = max(self.objects.get(w["object"], 0), w["offset"] + n)
            self.nwindows[fname] = len(ws)
        self.blobs = {}
        for fname, f in files.items():
            if isinstance(f, dict) and "object" in f:
                self.blobs[f["object"]] = fname
                self.objects[f["object"]] = f["size"]
        self.prefetch = len((m.get("prefetch") or {}).get("memory") or [])

    def classify(self, reqs):
        """Data GETs by what they fetched: windows of memory / rootfs (and
        bytes), small files whole, and GETs that name no non-zero window of
        this manifest (an all-zero window, or something unknown)."""
        out = {"memory_windows": 0, "rootfs_windows": 0, "memory_bytes": 0, "rootfs_bytes": 0,
               "small_files": 0, "small_bytes": 0, "zero_or_unknown": 0, "other_gets": 0}
        for _, method, key, _, rng in reqs:
            if method != "GET":
                continue
            if not key.startswith("data/"):
                out["other_gets"] += 1  # listings, manifests
                continue
            start, length = parse_range(rng)
            if key in self.blobs:
                out["small_files"] += 1
                out["small_bytes"] += self.objects[key]
                continue
            hit = self.windows.get((key, start)) if start is not None else None
            if hit is None:
                out["zero_or_unknown"] += 1
                continue
            out[f"{hit[0]}_windows"] += 1
            out[f"{hit[0]}_bytes"] += length or 0
        return out


def parse_range(rng):
    """("bytes=A-B") -> (A, B - A + 1); (None, None) without one."""
    if not rng or not rng.startswith("bytes="):
        return None, None
    a, _, b = rng[len("bytes="):].partition("-")
    try:
        return int(a), (int(b) - int(a) + 1 if b else None)
    except ValueError:
        return None, None


class Store:
    def __init__(self):
        self.s3 = S3rver(bucket="thaw-bench-fleet")
        self.proxies = {}

    def start(self):
        self.s3.start()
        for role in ("a", "b", "dl"):
            p = Proxy((self.s3.host, self.s3.port), self.s3.bucket).start()
            p.set_sigv4(self.s3.access_key, self.s3.secret_key, self.s3.region)
            p.set_latency(LATENCY_MS)
            self.proxies[role] = p
        return self

    def stop(self):
        for p in self.proxies.values():
            p.stop()
        self.proxies = {}
        self.s3.stop()

    def thawd_args(self, role):
        return ["--s3-endpoint", self.proxies[role].endpoint, "--s3-bucket", self.s3.bucket,
                "--s3-region", self.s3.region]

    def env(self, role=None):
        """objstore_it's and thawd's environment: through the role's proxy,
        or (None) straight to s3rver."""
        return self.s3.env(self.proxies[role].endpoint if role else None)

    def objstore_it(self, role, *args, timeout=600):
        env = {**os.environ, **self.env(role)}
        r = subprocess.run([str(OBJSTORE_IT), "--deadline", "120000", *args], env=env,
                           capture_output=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"objstore_it {' '.join(args)}: {r.stderr.decode()[-500:]}")
        return r.stdout

    def manifest(self, name, build_id):
        key = f"templates/{name}/{build_id}/manifest.json"
        return Manifest(json.loads(self.objstore_it(None, "getall", key, str(64 << 20), "-")))


# ---- a host: one thawd instance -------------------------------------------


# The hosts' --stream-window-kib (None: thawd's default); set by main().
WINDOW_KIB = None


class Host:
    def __init__(self, name, data_dir, slot_cidr, uid_base, recipes, store, role, env=None):
        self.name = name
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.opts = ["--slot-cidr", slot_cidr, "--vmm-uid-base", str(uid_base),
                     *store.thawd_args(role)]
        if WINDOW_KIB:
            self.opts += ["--stream-window-kib", str(WINDOW_KIB)]
        self.recipes = recipes
        self.env = env or {}
        self.proxy = store.proxies[role]
        self.store_env = store.env(role)
        self.proc = None
        self.api = None
        self.key = None
        self.prefix = instance_prefix(self.data_dir)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self):
        return self.data_dir / "logs" / "thawd-fleet.log"

    def start(self, timeout=180):
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        argv = [str(BIN / "thawd"), "--data-dir", str(self.data_dir),
                "--listen", f"127.0.0.1:{self.port}", "--recipes", str(self.recipes),
                "--agent", str(BIN / "thaw-agent"), "--vmm-pool", "0", "--log-level", "info",
                *self.opts]
        env = {k: v for k, v in os.environ.items() if k != "THAW_LAZYFS_PREFETCH"}
        env.update(self.store_env)
        env.update(self.env)
        with open(self.log_path, "ab") as f:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                         env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"host {self.name}: thawd exited with {self.proc.returncode}"
                                   f" while starting:\n{self.log_tail()}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    c.close()
                    break
                c.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"host {self.name}: thawd did not answer in {timeout} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.05)
        self.key = (self.data_dir / "api-key").read_text().strip()
        self.api = Api(self.url, self.key)
        return self

    def log_tail(self, n=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError as e:
            return f"(no log: {e})"

    def call(self, method, path, body=None):
        return self.api.call(method, path, body)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Deletes what is left, SIGTERM, then thawd --teardown. Returns the
        problems met (strings)."""
        problems = []
        if self.running():
            try:
                st, body = self.call("GET", "/v1/sandboxes")
                for sb in (body or {}).get("sandboxes", []):
                    st, out = self.call("DELETE", f"/v1/sandboxes/{sb['id']}")
                    if st not in (200, 204, 404):
                        problems.append(f"{self.name}: delete {sb['id']}: {st} {out}")
            except Exception as e:  # noqa: BLE001 - reported
                problems.append(f"{self.name}: deleting leftovers: {e!r}")
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(120)
                if rc != 0:
                    problems.append(f"{self.name}: thawd exited with {rc} after SIGTERM")
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
                problems.append(f"{self.name}: thawd ignored SIGTERM for 120 s; killed")
        self.proc = None
        self.api = None
        if self.data_dir.exists() and self.teardown() != 0:
            problems.append(f"{self.name}: thawd --teardown failed (see {self.log_path})")
        return problems

    def teardown(self):
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        # With its store options (and so the store's credentials): the
        # lazy layer, which outlives a stopped thawd, is stopped by these.
        with open(self.log_path, "ab") as f:
            return subprocess.run([str(BIN / "thawd"), "--teardown", "--data-dir",
                                   str(self.data_dir), "--log-level", "info", *self.opts],
                                  stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                  env={**os.environ, **self.store_env},
                                  timeout=300).returncode

    def wipe(self, keep_logs=None):
        """Tears down whatever an instance left in the data dir and removes
        it (its logs copied to keep_logs first): the next start is a host
        that has never seen anything."""
        problems = self.stop()
        if keep_logs and (self.data_dir / "logs").is_dir():
            shutil.copytree(self.data_dir / "logs", keep_logs, dirs_exist_ok=True)
        if self.data_dir.exists():
            real = os.path.realpath(self.data_dir)
            with open("/proc/mounts") as f:
                mounted = [ln.split()[1] for ln in f
                           if ln.split()[1] == real or ln.split()[1].startswith(real + "/")]
            if mounted:
                raise RuntimeError(f"{self.name}: still mounted after teardown: {mounted}")
            shutil.rmtree(self.data_dir)
        return problems

    def info(self):
        st, body = self.call("GET", "/v1/info")
        if st != 200:
            raise RuntimeError(f"{self.name}: GET /v1/info: {st} {body}")
        return body

    def template(self, name):
        st, body = self.call("GET", f"/v1/templates/{name}")
        return body if st == 200 else None

    def create(self, template):
        """(ms, sandbox) of one create without pools; raises on failure."""
        st, body, ms = self.api.timed("POST", "/v1/sandboxes",
                                      {"template": template, "pools": False, "timeout_s": 1800})
        if st != 201:
            raise RuntimeError(f"{self.name}: create {template}: {st} {body}\n{self.log_tail(15)}")
        return ms, body

    def delete(self, sid):
        st, body = self.call("DELETE", f"/v1/sandboxes/{sid}")
        if st not in (200, 204, 404):
            raise RuntimeError(f"{self.name}: delete {sid}: {st} {body}")

    def exec_ok(self, sid, cmd):
        st, body = self.call("POST", f"/v1/sandboxes/{sid}/exec", {"cmd": cmd})
        if st != 200 or body.get("exit_code") != 0:
            raise RuntimeError(f"{self.name}: exec {cmd} in {sid}: {st} {body}")
        return body

    def object_store(self):
        return self.info()["object_store"]

    def settle(self, timeout=180):
        """Waits until this host has sent no data GET for 1.5 s (the
        prefetcher runs on after a create answers)."""
        last, since = None, time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = self.proxy.data_gets
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= 1.5:
                return
            time.sleep(0.25)
        log(f"{self.name}: store traffic did not settle within {timeout} s")

    def bake(self, name, timeout=3600):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("POST", "/v1/templates", body=json.dumps({"name": name}).encode(),
                      headers={"Authorization": f"Bearer {self.key}",
                               "Content-Type": "application/json"})
            r = c.getresponse()
            if r.status != 200:
                raise RuntimeError(f"bake {name}: {r.status} {r.read()[:500]!r}")
            last = None
            while True:
                line = r.readline()
                if not line:
                    break
                if line.strip():
                    last = json.loads(line)
                    if last.get("event") not in ("done", "error"):
                        log(f"bake {name}: {last.get('message') or last.get('stage') or last}")
            if not last or last.get("event") != "done":
                raise RuntimeError(f"bake {name} failed: {last}")
        finally:
            c.close()


# ---- the run ---------------------------------------------------------------


def make_recipes(templates):
    """A recipes dir with templates/build-rootfs.sh and the recipes asked
    for; code-interpreter-2g is code-interpreter with memory_mb=2048."""
    d = Path(tempfile.mkdtemp(prefix="thaw-bf-recipes-"))
    src = REPO / "templates"
    shutil.copy2(src / "build-rootfs.sh", d / "build-rootfs.sh")
    for t in templates:
        base = "code-interpreter" if t == TEMPLATE_2G else t
        if not (src / base / "recipe.conf").exists():
            raise RuntimeError(f"no recipe {src / base}")
        shutil.copytree(src / base, d / t, symlinks=True)
        if t == TEMPLATE_2G:
            conf = d / t / "recipe.conf"
            lines = [ln for ln in conf.read_text().splitlines()
                     if not ln.startswith("memory_mb=")]
            lines.append("memory_mb=2048")
            conf.write_text("\n".join(lines) + "\n")
    return d


def seed_build_cache(host):
    """Copies a debootstrap/kernel cache of another instance into A's store,
    so its first bake downloads nothing (as thawlib's own_thawd does)."""
    dst = host.data_dir / "store" / "cache"
    if any(dst.glob("rootfs-*")):
        return
    for src in CACHE_SEEDS:
        if glob.glob(f"{src}/rootfs-*"):
            log(f"seeding A's build cache from {src}")
            dst.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-a", "--reflink=auto", f"{src}/.", str(dst)], check=True)
            return
    log("no build cache to seed from: the bake runs debootstrap")


class Fleet:
    def __init__(self, templates, samples, density, rebake):
        self.templates = templates
        self.samples = samples
        self.density = density
        self.rebake = rebake
        self.store = None
        self.a = None
        self.b = None
        self.recipes = None
        self.errors = []
        self.problems = []
        self.nb = 0  # hosts B started

    # hosts

    def host_b(self, trace):
        env = {} if trace else {"THAW_LAZYFS_PREFETCH": "off"}
        return Host("B", DATA_B, SLOT_B, UID_B, self.recipes, self.store, "b", env)

    def wipe_b(self):
        if self.b:
            tag = "trace" if not self.b.env else "no-trace"
            self.problems += self.b.wipe(f"{LOGS_B}/{self.nb:02d}-{tag}")
            self.b = None

    def fresh_b(self, trace, templates):
        """A new host B with an empty data dir that has listed the templates
        (imported them: manifests and small files)."""
        self.wipe_b()
        self.nb += 1
        self.b = self.host_b(trace)
        self.problems += self.b.wipe()  # what an earlier run left
        self.b.start()
        st, body = self.b.call("GET", "/v1/templates")
        if st != 200:
            raise RuntimeError(f"B: GET /v1/templates: {st} {body}")
        for t in templates:
            tb = wait_for(f"B lists {t}", lambda t=t: self.b.template(t), timeout=60)
            if tb["status"] != "ready" or tb["artifacts"]["location"] != "remote":
                raise RuntimeError(f"B: {t} is {tb['status']} / {tb['artifacts']}")
        self.b.settle(30)
        return self.b

    def prepare_a(self):
        self.a = Host("A", DATA_A, SLOT_A, UID_A, self.recipes, self.store, "a")
        self.problems += self.a.stop()  # an instance an earlier run left running
        self.a.start()
        st, body = self.a.call("GET", "/v1/sandboxes")
        for sb in (body or {}).get("sandboxes", []):
            self.a.delete(sb["id"])
        for t in self.templates:
            tb = self.a.template(t)
            if tb and tb.get("status") == "ready" and not self.rebake:
                log(f"A: {t} is baked ({tb['build_id']}): reusing it")
                continue
            seed_build_cache(self.a)
            log(f"A: baking {t}")
            t0 = time.monotonic()
            self.a.bake(t)
            log(f"A: {t} baked in {time.monotonic() - t0:.0f} s")
        # A bucket is new in every run: A publishes what it has (its
        # janitor, or this listing) with a prefetch trace recorded once.
        self.a.call("GET", "/v1/templates")
        for t in self.templates:
            t0 = time.monotonic()
            wait_for(f"A publishing {t}", lambda t=t: (self.a.template(t) or {}).get(
                "artifacts", {}).get("location") == "local+remote", timeout=1800, every=1)
            log(f"A: {t} in the store (+{time.monotonic() - t0:.0f} s)")

    # measurements

    def local_creates(self, t):
        out, stages = [], []
        for _ in range(self.samples):
            ms, sb = self.a.create(t)
            out.append(ms)
            stages.append(sb.get("timings_ms") or {})
            self.a.delete(sb["id"])
        return dist(out), stage_p50(stages)

    def download(self, man, runs):
        """Seconds to download every data object of the manifest through a
        proxy like the hosts': 64 MiB ranged GETs, 4 at a time, to disk."""
        jobs = []
        for obj, size in sorted(man.objects.items()):
            for off in range(0, size, DL_CHUNK):
                jobs.append((obj, off, min(DL_CHUNK, size - off)))
        total = sum(man.objects.values())
        times = []
        for r in range(runs):
            d = tempfile.mkdtemp(prefix="thaw-bf-dl-", dir="/var/tmp")
            try:
                queue, lock, errors = list(jobs), threading.Lock(), []

                def worker():
                    while True:
                        with lock:
                            if not queue or errors:
                                return
                            obj, off, n = queue.pop(0)
                        out = os.path.join(d, f"{obj.replace('/', '_')}.{off}")
                        try:
                            self.store.objstore_it("dl", "get", obj, str(off), str(n), out)
                        except Exception as e:  # noqa: BLE001 - reported
                            with lock:
                                errors.append(str(e))
                t0 = time.monotonic()
                ts = [threading.Thread(target=worker) for _ in range(DL_PARALLEL)]
                for th in ts:
                    th.start()
                for th in ts:
                    th.join()
                times.append((time.monotonic() - t0) * 1000)
                if errors:
                    raise RuntimeError(f"download: {errors[0]}")
                got = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
                if got != total:
                    raise RuntimeError(f"download: {got} bytes of {total}")
            finally:
                shutil.rmtree(d, ignore_errors=True)
            log(f"download {r + 1}/{runs}: {total / 2**20:.0f} MiB in {times[-1]:.0f} ms")
        return {"bytes": total, "objects": len(man.objects), "requests": len(jobs),
                "ms": dist(times)}

    def cold_sample(self, t, man, trace):
        b = self.fresh_b(trace, [t])
        before = b.object_store()
        mark = b.proxy.mark()
        ms, sb = b.create(t)
        end = b.proxy.mark()
        after = b.object_store()
        ready = man.classify(b.proxy.since(mark, end))
        b.exec_ok(sb["id"], ["true"])
        b.settle()
        total = man.classify(b.proxy.since(mark))
        done = b.object_store()
        b.delete(sb["id"])
        s = {
            "ms": ms, "stages": sb.get("timings_ms") or {},
            "bytes_before_ready": after["bytes_fetched"] - before["bytes_fetched"],
            "gets_before_ready": after["gets"] - before["gets"],
            "proxy_data_gets_before_ready": len(data_gets(b.proxy.since(mark, end))),
            "before_ready": ready,
            "after_settle": total,
            "bytes_after_settle": done["bytes_fetched"] - before["bytes_fetched"],
            "zero_windows_skipped": after["zero_windows_skipped"] - before["zero_windows_skipped"],
            "prefetched": done["lazy_layer"].get("prefetched", 0)
            - before["lazy_layer"].get("prefetched", 0),
        }
        log(f"cold {t} {'with' if trace else 'without'} trace: {ms:.0f} ms, "
            f"{s['bytes_before_ready'] / 2**20:.1f} MiB / {s['proxy_data_gets_before_ready']} "
            f"GETs before ready ({s['bytes_after_settle'] / 2**20:.1f} MiB after)")
        return s

    def cold(self, t, man):
        """Alternates fresh hosts with and without the trace; the last
        host (with it) stays up, warm, for what follows."""
        res = {True: [], False: []}
        for i in range(self.samples):
            for trace in (False, True):
                log(f"{t}: cold sample {i + 1}/{self.samples} {'with' if trace else 'without'}"
                    " the trace")
                res[trace].append(self.cold_sample(t, man, trace))
        return summarize_cold(res[True], man), summarize_cold(res[False], man)

    def second_creates(self, t):
        b = self.b
        b.settle()
        ms_l, gets, proxy_gets, stages = [], [], [], []
        for _ in range(self.samples):
            before = b.object_store()["gets"]
            mark = b.proxy.mark()
            ms, sb = b.create(t)
            proxy_gets.append(len(data_gets(b.proxy.since(mark))))
            gets.append(b.object_store()["gets"] - before)
            ms_l.append(ms)
            stages.append(sb.get("timings_ms") or {})
            b.delete(sb["id"])
        return {"ms": dist(ms_l), "gets": sum(gets), "proxy_data_gets": sum(proxy_gets),
                "stages_p50": stage_p50(stages)}

    def resumes(self, t):
        ms_l, gets, errors = [], [], []
        for i in range(self.samples):
            _, sb = self.a.create(t)
            sid = sb["id"]
            mark_text = f"fleet-{sid}-{i}"
            try:
                self.a.exec_ok(sid, ["sh", "-c", f"echo {mark_text} > /root/fleet.txt"])
                st, paused = self.a.call("POST", f"/v1/sandboxes/{sid}/pause", {})
                if st != 200 or paused.get("state") != "paused":
                    raise RuntimeError(f"A: pause {sid}: {st} {paused}")
                image = paused["image"]["id"]
                wait_for(f"{sid}'s image in the store", lambda: (self.a.call(
                    "GET", f"/v1/sandboxes/{sid}")[1] or {}).get("image", {}).get(
                    "in_object_store"), timeout=600, every=0.2)
                self.b.settle(30)
                before = self.b.object_store()["gets"]
                st, body, ms = self.b.api.timed("POST", f"/v1/sandboxes/{sid}/adopt",
                                                {"image": image})
                if st != 201:
                    raise RuntimeError(f"B: adopt {sid}: {st} {body}\n{self.b.log_tail(15)}")
                gets.append(self.b.object_store()["gets"] - before)
                out = self.b.exec_ok(sid, ["cat", "/root/fleet.txt"])
                if out["stdout"].strip() != mark_text:
                    errors.append(f"resumed {sid} reads {out['stdout']!r}")
                ms_l.append(ms)
                log(f"{t}: resume {i + 1}/{self.samples} on B: {ms:.0f} ms, "
                    f"{gets[-1]} GETs before it answered")
            finally:
                self.b.delete(sid)
                self.a.delete(sid)
        self.errors += errors
        return {"ms": dist(ms_l), "gets_p50": pctl(gets, 0.5), "errors": errors}

    def memory(self, host, t, n):
        """MemAvailable drop and VMM PSS per sandbox of n idle sandboxes."""
        time.sleep(3)
        base = meminfo("MemAvailable")
        ids = []
        try:
            for _ in range(n):
                _, sb = host.create(t)
                ids.append(sb["id"])
            time.sleep(5)  # what the creates left running settles
            drop = base - meminfo("MemAvailable")
            pids = vmm_pids(host.prefix)
            mine = [pids[host.prefix + i] for i in ids if host.prefix + i in pids]
            tot = {"Pss": 0, "Pss_Anon": 0, "Pss_File": 0, "Pss_Shmem": 0}
            for pid in mine:
                r = rollup(pid)
                for k in tot:
                    tot[k] += r.get(k, 0)
            k = max(1, len(mine))
            mib = 2**20
            return {"sandboxes": len(ids), "vmms_found": len(mine),
                    "available_drop_mib": round(drop / mib / max(1, len(ids)), 2),
                    "pss_mib": round(tot["Pss"] / mib / k, 2),
                    "pss_anon_mib": round(tot["Pss_Anon"] / mib / k, 2),
                    "pss_shared_mib": round((tot["Pss_File"] + tot["Pss_Shmem"]) / mib / k, 2)}
        finally:
            for sid in ids:
                host.delete(sid)

    def per_template(self, t):
        res = {"template": t}
        tb = self.a.template(t)
        man = self.store.manifest(t, tb["build_id"])
        res["build_id"] = tb["build_id"]
        res["memory_bytes"] = man.memory_size
        res["manifest"] = {"window_bytes": man.window, "windows": man.nwindows,
                           "zero_windows": man.zero, "prefetch_windows": man.prefetch,
                           "data_objects": len(man.objects),
                           "data_bytes": sum(man.objects.values())}
        log(f"{t}: {man.memory_size >> 20} MiB memory, {man.nwindows['memory']} windows "
            f"({man.zero['memory']} zero), trace of {man.prefetch}; local creates on A")
        res["local"], res["local_stages_p50"] = self.local_creates(t)
        log(f"{t}: local create on A p50 {res['local']['p50']} ms; downloading the objects")
        res["download"] = self.download(man, max(1, min(3, self.samples)))
        res["download_then_restore_ms"] = round(res["download"]["ms"]["p50"]
                                                + res["local"]["p50"], 2)
        res["cold_trace"], res["cold_no_trace"] = self.cold(t, man)
        log(f"{t}: second creates on the warm host B")
        res["second"] = self.second_creates(t)
        log(f"{t}: resume on another host ({self.samples} times)")
        res["resume"] = self.resumes(t)
        if self.density and t == self.templates[0]:
            log(f"{t}: {self.density} idle sandboxes on B (streamed), then on A (local)")
            res["memory_streamed"] = self.memory(self.b, t, self.density)
            res["memory_local"] = self.memory(self.a, t, self.density)
        self.wipe_b()
        return res

    def cleanup(self):
        """Every host stopped and torn down (B's data dir removed), the
        store and its proxies stopped, the recipes dir removed; each step
        runs whatever the one before it did."""
        _step(self.problems, "removing host B", self.wipe_b)
        if self.a:
            _step(self.problems, "stopping host A", self.a.stop)
        if self.store:
            _step(self.problems, "stopping the store", self.store.stop)
        if self.recipes:
            shutil.rmtree(self.recipes, ignore_errors=True)

    def run(self):
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        results = []
        counts = {}
        shutil.rmtree(LOGS_B, ignore_errors=True)
        try:
            self.recipes = make_recipes(self.templates)
            self.store = Store()
            self.store.start()
            log(f"s3rver on {self.store.s3.endpoint}; proxies (+{LATENCY_MS} ms per request, "
                f"SigV4 checked): " + ", ".join(f"{r} {p.endpoint}"
                                                for r, p in self.store.proxies.items()))
            self.prepare_a()
            info = self.a.info()
            for t in self.templates:
                results.append(self.per_template(t))
        finally:
            if self.store:
                counts = {r: p.counts() for r, p in self.store.proxies.items()}
            self.cleanup()
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
        return {"started": started, "samples": self.samples, "latency_ms": LATENCY_MS,
                "host": {"cpus": os.cpu_count(), "mem_total_mib": meminfo("MemTotal") >> 20,
                         "loadavg": load, "accel": info["vmm"]["accel"],
                         "vmm": info["vmm"]["version"], "disk": info["disk"]["mode"]},
                "proxy_counts": counts, "templates": results,
                "targets": targets(results), "errors": self.errors, "problems": self.problems}


def _step(problems, what, fn):
    """Runs one cleanup step; what fails is noted and the next one runs."""
    try:
        problems += fn() or []
    except Exception as e:  # noqa: BLE001 - reported
        problems.append(f"{what}: {e!r}")


def stage_p50(stages):
    keys = sorted({k for s in stages for k in s})
    return {k: pctl([s[k] for s in stages if isinstance(s.get(k), (int, float))], 0.5)
            for k in keys}


def summarize_cold(samples, man):
    return {
        "ms": dist([s["ms"] for s in samples]),
        "bytes_before_ready": dist([s["bytes_before_ready"] for s in samples]),
        "bytes_before_ready_pct_p50": round(100 * pctl([s["bytes_before_ready"]
                                                         for s in samples], 0.5)
                                            / man.memory_size, 2) if samples else None,
        "bytes_before_ready_pct_max": round(100 * max(s["bytes_before_ready"] for s in samples)
                                            / man.memory_size, 2) if samples else None,
        "gets_before_ready_p50": pctl([s["gets_before_ready"] for s in samples], 0.5),
        "proxy_data_gets_before_ready_p50":
            pctl([s["proxy_data_gets_before_ready"] for s in samples], 0.5),
        "memory_windows_before_ready_p50":
            pctl([s["before_ready"]["memory_windows"] for s in samples], 0.5),
        "rootfs_windows_before_ready_p50":
            pctl([s["before_ready"]["rootfs_windows"] for s in samples], 0.5),
        "small_files_before_ready_p50":
            pctl([s["before_ready"]["small_files"] for s in samples], 0.5),
        "bytes_after_settle_p50": pctl([s["bytes_after_settle"] for s in samples], 0.5),
        "zero_window_gets": sum(s["after_settle"]["zero_or_unknown"] for s in samples),
        "zero_windows_skipped_p50": pctl([s["zero_windows_skipped"] for s in samples], 0.5),
        "prefetched_p50": pctl([s["prefetched"] for s in samples], 0.5),
        "stages_p50": stage_p50([s["stages"] for s in samples]),
        "samples": samples,
    }


def targets(results):
    out = []

    def add(t, name, value, limit, ok):
        out.append({"template": t, "name": name, "value": value, "limit": limit,
                    "pass": bool(ok) if value is not None else False})

    mem_done = False
    for r in results:
        t = r["template"]
        ct, cn = r["cold_trace"], r["cold_no_trace"]
        p50, p99 = ct["ms"]["p50"], ct["ms"]["p99"]
        add(t, "cold create p50 with the trace, ms", p50, f"<= {TARGETS['cold_p50_ms']}",
            p50 is not None and p50 <= TARGETS["cold_p50_ms"])
        add(t, "cold create p99 with the trace, ms", p99, f"<= {TARGETS['cold_p99_ms']}",
            p99 is not None and p99 <= TARGETS["cold_p99_ms"])
        sp = round(cn["ms"]["p50"] / p50, 2) if p50 and cn["ms"]["p50"] else None
        add(t, "without / with the trace, p50", sp, f">= {TARGETS['trace_speedup']}x",
            sp is not None and sp >= TARGETS["trace_speedup"])
        dl = round(r["download_then_restore_ms"] / p50, 2) if p50 else None
        if t == TEMPLATE_2G:
            add(t, "download-then-restore / cold with the trace, p50", dl,
                f">= {TARGETS['download_speedup_2g']}x",
                dl is not None and dl >= TARGETS["download_speedup_2g"])
        r["download_speedup"] = dl
        pct = ct["bytes_before_ready_pct_p50"]
        add(t, "bytes before ready, % of memory (p50)", pct,
            f"<= {TARGETS['bytes_before_ready_pct']}",
            pct is not None and pct <= TARGETS["bytes_before_ready_pct"])
        z = ct["zero_window_gets"] + cn["zero_window_gets"]
        add(t, "GETs for all-zero windows (all cold samples)", z, "0", z == 0)
        s = r["second"]
        add(t, "second create on the same host: GETs", s["gets"], "0", s["gets"] == 0)
        ratio = round(s["ms"]["p50"] / r["local"]["p50"], 2) \
            if s["ms"]["p50"] and r["local"]["p50"] else None
        r["second_vs_local"] = ratio
        add(t, "second create / local create, p50", ratio, f"<= {TARGETS['second_vs_local']}x",
            ratio is not None and ratio <= TARGETS["second_vs_local"])
        rp = r["resume"]["ms"]["p50"]
        add(t, "resume on another host p50, ms", rp, f"<= {TARGETS['resume_p50_ms']}",
            rp is not None and rp <= TARGETS["resume_p50_ms"])
        if "memory_streamed" in r and not mem_done:
            mem_done = True
            ms_, ml = r["memory_streamed"], r["memory_local"]
            for key, label in (("pss_mib", "PSS"), ("available_drop_mib", "MemAvailable drop")):
                v = round(ms_[key] / ml[key], 3) if ml[key] else None
                r.setdefault("memory_ratio", {})[key] = v
                add(t, f"memory per sandbox, streamed / local ({label})", v,
                    f"<= {TARGETS['memory_ratio']}x",
                    v is not None and v <= TARGETS["memory_ratio"])
    return out


# ---- the report ----------------------------------------------------------------


def mib(b):
    return f"{b / 2**20:.1f}" if b is not None else "-"


def fmt(v):
    return "-" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))


def report(r):
    h = r["host"]
    out = [f"fleet: {h['cpus']} CPUs, {h['mem_total_mib']} MiB, accel {h['accel']}, "
           f"QEMU {h['vmm']}, disk {h['disk']}, load {' '.join(h['loadavg'])} at the end; "
           f"store: s3rver behind a proxy with +{r['latency_ms']} ms per request, SigV4 "
           f"checked; {r['samples']} samples per row; started {r['started']}", ""]
    for t in r["templates"]:
        ct, cn, mf = t["cold_trace"], t["cold_no_trace"], t["manifest"]
        out.append(f"template {t['template']} (build {t['build_id']}): memory "
                   f"{mib(t['memory_bytes'])} MiB in {mf['windows']['memory']} windows of "
                   f"{mf['window_bytes'] >> 20} MiB, {mf['zero_windows']['memory']} all zero; "
                   f"rootfs {mf['windows']['rootfs']} windows, {mf['zero_windows']['rootfs']} "
                   f"all zero; trace of {mf['prefetch_windows']} windows; "
                   f"{mf['data_objects']} data objects, {mib(mf['data_bytes'])} MiB")
        out.append("")
        out.append("| ms (client wall time) | n | p50 | p90 | p99 | MiB before ready (% of memory) "
                   "| GETs before ready (store / proxy: mem + rootfs + small) | zero-window GETs |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

        def cold_row(label, c):
            d = c["ms"]
            return (f"| {label} | {d['n']} | {fmt(d['p50'])} | {fmt(d['p90'])} | "
                    f"{fmt(d['p99'])} | {mib(c['bytes_before_ready']['p50'])} "
                    f"({fmt(c['bytes_before_ready_pct_p50'])} %, max "
                    f"{fmt(c['bytes_before_ready_pct_max'])} %) | "
                    f"{fmt(c['gets_before_ready_p50'])} / "
                    f"{fmt(c['memory_windows_before_ready_p50'])} + "
                    f"{fmt(c['rootfs_windows_before_ready_p50'])} + "
                    f"{fmt(c['small_files_before_ready_p50'])} | {c['zero_window_gets']} |")

        def plain(label, d, extra=""):
            return (f"| {label} | {d['n']} | {fmt(d['p50'])} | {fmt(d['p90'])} | "
                    f"{fmt(d['p99'])} | {extra} |  |  |")
        out.append(cold_row("**cold host, with the trace**", ct))
        out.append(cold_row("cold host, without the trace", cn))
        s = t["second"]
        out.append(f"| second create, same host | {s['ms']['n']} | {fmt(s['ms']['p50'])} | "
                   f"{fmt(s['ms']['p90'])} | {fmt(s['ms']['p99'])} | | "
                   f"{s['gets']} / {s['proxy_data_gets']} (all samples) | |")
        out.append(plain("local create on A (no pools)", t["local"]))
        dl = t["download"]
        out.append(plain(f"download {mib(dl['bytes'])} MiB ({dl['requests']} GETs)", dl["ms"]))
        out.append(f"| download-then-restore (download p50 + local p50) | | "
                   f"{fmt(t['download_then_restore_ms'])} | | | | | |")
        rs = t["resume"]
        out.append(plain("resume on another host (adopt)", rs["ms"],
                         f"GETs p50 {fmt(rs['gets_p50'])}"))
        out.append("")
        out.append(f"stages p50, ms (server): cold with trace {short_stages(ct['stages_p50'])}; "
                   f"without {short_stages(cn['stages_p50'])}; second create "
                   f"{short_stages(t['second']['stages_p50'])}; local "
                   f"{short_stages(t['local_stages_p50'])}")
        out.append(f"after the prefetcher settled: {mib(ct['bytes_after_settle_p50'])} MiB fetched "
                   f"with the trace ({fmt(ct['prefetched_p50'])} windows prefetched), "
                   f"{mib(cn['bytes_after_settle_p50'])} MiB without; lazyfs zero-window reads "
                   f"answered without a fetch, p50 per create: "
                   f"{fmt(ct['zero_windows_skipped_p50'])} / {fmt(cn['zero_windows_skipped_p50'])}")
        p50 = ct["ms"]["p50"]
        if p50:
            out.append(f"ratios (p50): without / with the trace "
                       f"{fmt(round(cn['ms']['p50'] / p50, 2))}x; download-then-restore / cold "
                       f"{fmt(t.get('download_speedup'))}x; second / local "
                       f"{fmt(t.get('second_vs_local'))}x")
        if "memory_streamed" in t:
            ms_, ml = t["memory_streamed"], t["memory_local"]
            out.append("")
            out.append("| idle sandboxes | n | MemAvailable drop / sb, MiB | "
                       "PSS / sb (own + shared), MiB |")
            out.append("| --- | ---: | ---: | ---: |")
            for label, m in (("streamed template, on B", ms_), ("local template, on A", ml)):
                out.append(f"| {label} | {m['sandboxes']} | {m['available_drop_mib']} | "
                           f"{m['pss_mib']} ({m['pss_anon_mib']} + {m['pss_shared_mib']}) |")
        out.append("")
    out.append("targets:")
    for g in r["targets"]:
        out.append(f"  {'PASS' if g['pass'] else 'FAIL'}  {g['template']}: {g['name']}: "
                   f"{fmt(g['value'])} (target {g['limit']})")
    c = r["proxy_counts"]
    out.append("")
    out.append("store requests through the proxies: " + "; ".join(
        f"{k}: {v.get('total', 0)} ({v.get('GET', 0)} GET, {v.get('PUT', 0)} PUT)"
        for k, v in c.items()))
    out.append(f"errors: {len(r['errors'])}; cleanup problems: {len(r['problems'])}")
    for e in (r["errors"] + r["problems"])[:10]:
        out.append(f"  {e}")
    return "\n".join(out)


def short_stages(s):
    keys = ("network", "disk", "vmm_start", "state_load", "readiness", "total")
    return " ".join(f"{k} {fmt(s.get(k))}" for k in keys if k in s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--templates", default=",".join(DEFAULT_TEMPLATES))
    ap.add_argument("--skip-2g", action="store_true", help=f"leave {TEMPLATE_2G} out")
    ap.add_argument("--density", type=int, default=50,
                    help="idle sandboxes per host for the memory comparison (0: skip)")
    ap.add_argument("--rebake", action="store_true", help="bake on A even when baked")
    ap.add_argument("--window-kib", type=int,
                    help="the hosts' --stream-window-kib (default: thawd's)")
    ap.add_argument("--json")
    a = ap.parse_args()
    global WINDOW_KIB
    WINDOW_KIB = a.window_kib
    templates = [t for t in a.templates.split(",") if t]
    if a.skip_2g:
        templates = [t for t in templates if t != TEMPLATE_2G]
    if not templates or a.samples < 1:
        ap.error("nothing to measure")
    for p in (BIN / "thawd", BIN / "thaw-lazyfs", BIN / "thaw-agent", OBJSTORE_IT):
        if not p.exists():
            log(f"{p} is missing: run make first")
            return 1
    if os.geteuid() != 0:
        log("needs root (thawd, the VMMs' /proc)")
        return 1
    def on_term(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    f = Fleet(templates, a.samples, a.density, a.rebake)
    try:
        r = f.run()
    except KeyboardInterrupt:
        log("interrupted; hosts stopped and torn down")
        return 130
    except RuntimeError as e:
        log(f"failed: {e}")
        for p in f.problems:
            log(f"cleanup: {p}")
        return 1
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(r, fh, indent=2)
    print(report(r))
    return 1 if r["errors"] or r["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
