"""Helpers for thaw's end-to-end tests: a real thawd on a loopback port,
real QEMU guests, real network namespaces, a real SQLite database.

Only the standard library: the tests run with Debian's python3-pytest and
nothing from PyPI.

The module keeps one "current" thawd (set by conftest.py); the helpers
api(), create(), exec_(), delete() and restart_thawd() talk to it.
"""

import base64
import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = "code-interpreter"
NETNS_DIR = Path("/run/netns")
DATA_DIR_MAX = 70  # thawd's own limit (socket path lengths)

# Stages every create reports in timings_ms ("readiness_connect" is a
# part of "readiness", not a stage of its own).
TIMING_STAGES = ("template", "network", "disk", "vmm_start", "state_load", "resume",
                 "readiness")


# ---- where things are ----------------------------------------------------

def bin_dir():
    """THAW_BIN_DIR, else build-san/bin when it holds a thawd, else build/bin."""
    env = os.environ.get("THAW_BIN_DIR")
    if env:
        p = Path(env)
        return p if p.is_absolute() else REPO / p
    san = REPO / "build-san" / "bin"
    if (san / "thawd").exists():
        return san
    return REPO / "build" / "bin"


def agent_path():
    """The guest agent is always the static, unsanitized build."""
    return REPO / "build" / "bin" / "thaw-agent"


def default_data_dir():
    return Path(os.environ.get("THAW_E2E_DATA_DIR") or "/var/tmp/thaw-e2e")


def instance_prefix(data_dir):
    """thaw-<first 6 hex of sha256(realpath(data_dir))>-, as thawd computes it:
    the prefix of this instance's VMM names and network namespaces."""
    real = os.path.realpath(str(data_dir))
    return "thaw-" + hashlib.sha256(real.encode()).hexdigest()[:6] + "-"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A loopback port that nothing listens on (bound, then released)."""
    return free_port()


# ---- host-side observation ---------------------------------------------

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


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 22)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def template_inputs_digest():
    """One digest of what a bake puts into the template from this tree:
    the guest agent binary, the recipe directory, build-rootfs.sh."""
    h = hashlib.sha256(sha256_file(agent_path()).encode())
    templates = Path(__file__).resolve().parents[2] / "templates"
    files = [templates / "build-rootfs.sh"] + sorted(
        p for p in (templates / TEMPLATE).rglob("*") if p.is_file())
    for p in files:
        h.update(str(p.relative_to(templates)).encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def wait_until(fn, timeout, interval=0.1, what="condition"):
    """Polls fn() until it returns something true; returns that value.
    Raises AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# ---- the daemon ------------------------------------------------------------

class ThawdError(Exception):
    pass


class Thawd:
    """One thawd instance: fixed port and data dir across restarts, so
    a restart is "the same daemon coming back"."""

    def __init__(self, data_dir, port=None, bins=None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.bins = Path(bins or bin_dir())
        self.thawd_bin = self.bins / "thawd"
        self.cli_bin = self.bins / "thaw"
        self.log_path = self.data_dir / "thawd-e2e.log"
        self.proc = None
        self.extra_args = []  # more thawd options (tests that need their own thawd)
        self.extra_env = {}  # more environment (ASAN_OPTIONS, say)
        self.key = None
        self.starts = 0
        self.exit_codes = []  # (signal sent, exit code) per stop

    # paths ----------------------------------------------------------------
    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def prefix(self):
        return instance_prefix(self.data_dir)

    @property
    def store(self):
        return self.data_dir / "store"

    @property
    def sandboxes_dir(self):
        return self.store / "sandboxes"

    @property
    def run_dir(self):
        return self.data_dir / "run"

    def template_dir(self, name=TEMPLATE):
        return self.store / "templates" / name

    def argv(self, *extra):
        return [str(self.thawd_bin), "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(self.data_dir), "--recipes", str(REPO / "templates"),
                "--agent", str(agent_path()), "--log-level", "info", *extra]

    # process --------------------------------------------------------------
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=50):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 256 * 1024))
                lines = f.read().decode(errors="replace").splitlines()
        except OSError as e:
            return f"(no log: {e})"
        return "\n".join(lines[-n:])

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _log_note(self, text):
        with open(self.log_path, "a") as f:
            f.write(f"==== e2e {time.strftime('%H:%M:%S')}: {text}\n")

    def start(self, timeout=180):
        assert not self.running(), "thawd is already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_note(f"starting {' '.join(self.argv(*self.extra_args))}")
        env = dict(os.environ)
        # ASan: report into the log; keep the exit code meaningful.
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(self.extra_env)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv(*self.extra_args), stdin=subprocess.DEVNULL,
                                         stdout=log,
                                         stderr=log, env=env, start_new_session=True)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ThawdError(f"thawd exited with {self.proc.returncode} while starting;"
                                 f" log:\n{self.log_tail()}")
            try:
                st, _ = self.api("GET", "/healthz", key=None, timeout=5)
                if st == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ThawdError(f"thawd did not answer /healthz in {timeout} s; log:\n"
                                 f"{self.log_tail()}")
            time.sleep(0.05)
        # With --keys-file DATA/api-key is not a key (a file left by an
        # earlier run without one may be there): the test sets .key.
        key_file = self.data_dir / "api-key"
        if key_file.exists() and "--keys-file" not in self.extra_args:
            self.key = key_file.read_text().strip()
            os.environ["THAW_API_URL"] = self.url
            os.environ["THAW_API_KEY"] = self.key
        return self

    def stop(self, sig=signal.SIGTERM, timeout=120):
        """Sends sig and waits for the exit; returns the exit code."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self._log_note(f"sending {signal.Signals(sig).name}")
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
            raise ThawdError(f"thawd did not exit within {timeout} s of "
                             f"{signal.Signals(sig).name}; killed it")
        self.exit_codes.append((signal.Signals(sig).name, rc))
        return rc

    def restart(self, sig=signal.SIGKILL):
        self.stop(sig)
        return self.start()

    def teardown(self, timeout=300):
        """thawd --teardown: kills this instance's VMMs, removes its
        namespaces and unmounts its store."""
        self._log_note("running thawd --teardown")
        with open(self.log_path, "ab") as log:
            # The same options as the instance: its slot range above all
            # (with the default one it would be another instance's).
            r = subprocess.run([str(self.thawd_bin), "--teardown", "--data-dir",
                                str(self.data_dir), "--log-level", "info", *self.extra_args],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                               timeout=timeout)
        return r.returncode

    # HTTP -----------------------------------------------------------------
    def request(self, method, path, body=None, key=..., headers=None, timeout=300):
        """One HTTP request on a fresh connection. body: dict/list (sent as
        JSON), str/bytes (sent raw) or None. key=... uses the current key;
        key=None sends no Authorization header. Returns (status, headers,
        raw bytes)."""
        if key is ...:
            key = self.key
        hdrs = {"Connection": "close"}
        if key is not None:
            hdrs["Authorization"] = f"Bearer {key}"
        data = None
        if body is not None:
            if isinstance(body, (dict, list)):
                data = json.dumps(body).encode()
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = body
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, resp.headers, raw
        finally:
            conn.close()

    def api(self, method, path, body=None, key=..., headers=None, timeout=300):
        """Returns (status, parsed JSON or text; None for an empty body)."""
        status, _, raw = self.request(method, path, body, key, headers, timeout)
        return status, decode_body(raw)

    def bake(self, name, on_event=None, timeout=900):
        """POST /v1/templates and follow the NDJSON stream. Returns
        (status, events) on a stream or (status, json) on a refusal."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", "/v1/templates", body=json.dumps({"name": name}).encode(),
                         headers={"Authorization": f"Bearer {self.key}",
                                  "Content-Type": "application/json"})
            resp = conn.getresponse()
            if resp.status != 200:
                return resp.status, decode_body(resp.read())
            ctype = resp.headers.get("Content-Type", "")
            assert "ndjson" in ctype, f"bake answered 200 with Content-Type {ctype!r}"
            events = []
            while True:
                line = resp.readline()
                if not line:
                    break
                if not line.strip():
                    continue
                ev = json.loads(line)
                events.append(ev)
                if on_event:
                    on_event(ev)
            return resp.status, events
        finally:
            conn.close()


def decode_body(raw):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


# ---- the current instance and the helpers the tests use ----------------

_current = None


def set_current(d):
    global _current
    _current = d


def current():
    assert _current is not None, "no thawd started (use the thawd fixture)"
    return _current


def api(method, path, body=None, key=..., headers=None, timeout=300):
    return current().api(method, path, body, key=key, headers=headers, timeout=timeout)


def request(method, path, body=None, key=..., headers=None, timeout=300):
    return current().request(method, path, body, key=key, headers=headers, timeout=timeout)


def healthy():
    """GET /healthz answers 200 {"status":"ok"} without a key."""
    st, body = api("GET", "/healthz", key=None, timeout=30)
    return st == 200 and isinstance(body, dict) and body.get("status") == "ok"


def create(expect=201, timeout=300, **kw):
    """POST /v1/sandboxes with kw as the body; asserts the status and
    returns the JSON answer."""
    st, body = api("POST", "/v1/sandboxes", kw, timeout=timeout)
    assert st == expect, f"create {kw} answered {st}: {body}"
    if expect == 201:
        assert isinstance(body, dict) and body.get("state") == "running", body
    return body


def exec_(sid, cmd, expect=200, timeout=300, **kw):
    """POST /v1/sandboxes/ID/exec; asserts the status, returns the JSON."""
    kw["cmd"] = cmd
    st, body = api("POST", f"/v1/sandboxes/{sid}/exec", kw, timeout=timeout)
    assert st == expect, f"exec {cmd!r} in {sid} answered {st}: {body}"
    return body


def sh(sid, script, **kw):
    """Runs a shell script, asserts exit 0, returns stdout."""
    r = exec_(sid, script, **kw)
    assert r["exit_code"] == 0 and not r["timed_out"], f"{script!r} failed: {r}"
    return r["stdout"]


def delete(sid, expect=204):
    st, body = api("DELETE", f"/v1/sandboxes/{sid}")
    assert st == expect, f"delete {sid} answered {st}: {body}"
    return st


def get(sid):
    return api("GET", f"/v1/sandboxes/{sid}")


def list_ids():
    st, body = api("GET", "/v1/sandboxes")
    assert st == 200, body
    return [s["id"] for s in body["sandboxes"]]


def list_sandboxes():
    st, body = api("GET", "/v1/sandboxes")
    assert st == 200, body
    return body["sandboxes"]


def template_info(name=TEMPLATE):
    st, body = api("GET", "/v1/templates")
    assert st == 200, body
    for t in body["templates"]:
        if t["name"] == name:
            return t
    return None


def restart_thawd(signal=signal.SIGKILL):  # noqa: A002 - the name the tests use
    """Stops the current thawd with `signal` and starts it again in place
    (same port, data dir and key); returns when /healthz answers."""
    return current().restart(signal)


def run_cli(*args, env=None, input=None, timeout=300):
    """Runs the real thaw binary against the current thawd (whatever
    another thawd started by a test left in the environment); returns
    CompletedProcess (bytes)."""
    e = dict(os.environ)
    d = current()
    e["THAW_API_URL"] = d.url
    if d.key:
        e["THAW_API_KEY"] = d.key
    e.update(env or {})
    return subprocess.run([str(current().cli_bin), *args], env=e, input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


# ---- resources of one sandbox ---------------------------------------------

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


def sandbox_netns(sid):
    """The network namespace a live sandbox runs in (from the API)."""
    st, body = get(sid)
    assert st == 200, f"GET {sid}: {st} {body}"
    return body["network"]["netns"]


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


def pools():
    """thawd's own account of its warm pools: the ids waiting VMMs carry
    and the number of network slots allocated."""
    st, info = api("GET", "/v1/info")
    assert st == 200, info
    return set(info["warm_vmms"]["ids"]), info["network"]["allocated"], info


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


def b64(data):
    return base64.b64encode(data).decode()


def in_threads(fns, timeout=600):
    """Runs the callables in threads; returns their results in order,
    re-raising the first exception."""
    results = [None] * len(fns)
    errors = [None] * len(fns)

    def run(i, fn):
        try:
            results[i] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors[i] = e
    threads = [threading.Thread(target=run, args=(i, f), daemon=True)
               for i, f in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a worker thread did not finish"
    for e in errors:
        if e is not None:
            raise e
    return results


def check(msg):
    """Tests print what they checked (pytest -s shows it; a failure
    shows it with the captured output)."""
    print(f"  checked: {msg}")


# ---- a test's own thawd ------------------------------------------------------

def db_sandbox_ids(d):
    """The sandbox rows of d's database, read directly (read-only)."""
    db = sqlite3.connect(f"file:{d.data_dir / 'thaw.db'}?mode=ro", uri=True, timeout=10)
    try:
        return [r[0] for r in db.execute("SELECT id FROM sandboxes")]
    finally:
        db.close()


# The session thawd's slot range: not thawd's default (10.200.0.0/16), so
# that `make test` runs beside the thawd `make demo` left running.
SESSION_SLOT_CIDR = os.environ.get("THAW_SLOT_CIDR", "10.201.0.0/16")


def instance_args(slot_cidr):
    """Options that keep one thaw instance off another's on this host: its
    slot range, and a VMM uid range of its own (from the range's second
    octet; never thawd's default of 1900000000, the demo's)."""
    octet = int(slot_cidr.split(".")[1])
    return ["--slot-cidr", slot_cidr, "--vmm-uid-base", str(1900000000 + (octet % 64 + 1) * 65536)]


# A sanitized thawd keeps freed memory in quarantine (256 MB by default):
# a small one keeps its RSS meaningful where a test measures it.
SMALL_QUARANTINE = {"ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1:quarantine_size_mb=16"}


def own_thawd(session, suffix, slot_cidr, extra=(), template=True, env=None):
    """Starts a thawd of a test's own (data dir <session data dir>-suffix,
    its own slot range) and makes it current; with template, code-interpreter
    is baked there unless it is ready and baked from this tree's inputs. The
    first bake is seeded with the session's debootstrap cache (the session
    thawd runs, so its store is mounted), so it downloads nothing. Returns
    the Thawd; the caller ends it with close_own_thawd()."""
    data = Path(str(session.data_dir) + suffix)
    d = Thawd(data, bins=session.bins)
    d.extra_args = [*instance_args(slot_cidr), *extra]
    d.extra_env = dict(env or {})
    if d.log_path.exists():
        d.log_path.replace(d.log_path.with_name(d.log_path.name + ".prev"))
    d.start()
    set_current(d)
    for sid in list_ids():  # left by an earlier run that did not finish
        d.api("DELETE", f"/v1/sandboxes/{sid}")
    if template:
        _own_template(session, d)
    return d


def _own_template(session, d):
    info = template_info()
    stamp = d.data_dir / "e2e-agent.sha256"
    digest = template_inputs_digest()
    if info and info["status"] == "ready" and stamp.exists() and \
            stamp.read_text().strip() == digest:
        return info
    src, dst = session.store / "cache", d.store / "cache"
    if src.is_dir() and not any(dst.glob("rootfs-*")):
        dst.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", "--reflink=auto", f"{src}/.", str(dst)], check=True)
    st, events = d.bake(TEMPLATE, timeout=1200)
    assert st == 200 and events and events[-1]["event"] == "done", \
        f"baking {TEMPLATE} in {d.data_dir}: {st} {events[-3:] if events else events}"
    stamp.write_text(digest + "\n")
    return template_info()


@contextlib.contextmanager
def running_own_thawd(session, suffix, slot_cidr, extra=(), template=True, env=None):
    """own_thawd() for a with-block (a module fixture's body): at its end
    close_own_thawd(), and an assertion that it found nothing wrong."""
    d = own_thawd(session, suffix, slot_cidr, extra, template, env)
    yield d
    problems = close_own_thawd(d, session)
    assert not problems, f"the thawd{suffix}: " + "; ".join(problems) + "\n" + d.log_tail()


def close_own_thawd(d, session):
    """Deletes what is left, stops d (SIGTERM), tears it down with its own
    options and makes the session thawd current again. Returns the
    problems found (a list of strings)."""
    problems = []
    if d.running():
        for sid in list_ids():
            st, body = d.api("DELETE", f"/v1/sandboxes/{sid}")
            if st not in (204, 404):
                problems.append(f"deleting {sid}: {st} {body}")
        rc = d.stop(signal.SIGTERM)
        if rc != 0:
            problems.append(f"thawd exited with {rc} after SIGTERM")
    if d.teardown() != 0:
        problems.append("thawd --teardown failed")
    deadline = time.monotonic() + 15
    while vmm_processes(d.prefix) and time.monotonic() < deadline:
        time.sleep(0.2)
    for what, left in (("VMMs", vmm_processes(d.prefix)), ("netns", netns_names(d.prefix)),
                       ("veths", host_veths(d.prefix))):
        if left:
            problems.append(f"{what} left: {sorted(left)}")
    if str(d.store) in mount_points():
        problems.append(f"store still mounted at {d.store}")
    if cgroup_instance_dirs(d.prefix):
        problems.append(f"cgroups left: {cgroup_instance_dirs(d.prefix)}")
    log = d.log_text()
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        if marker in log:
            problems.append(f"sanitizer report in {d.log_path}: {marker!r}")
    set_current(session)
    os.environ["THAW_API_URL"] = session.url
    os.environ["THAW_API_KEY"] = session.key
    return problems
