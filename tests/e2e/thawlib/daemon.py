"""The daemon's lifecycle: a thawd process on a loopback port (start, stop,
restart, teardown), and thawds of a test's own beside the session's."""

import contextlib
import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from .util import *  # noqa: F401,F403
from .session import *  # noqa: F401,F403
from .client import *  # noqa: F401,F403
from .host import *  # noqa: F401,F403


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
        # A host in a network namespace of its own (thawlib.fleetnet): it
        # runs there (nsenter --net: the mounts stay the machine's) and
        # listens on its address there.
        self.netns = None
        self.addr = "127.0.0.1"
        self.key = None
        self.e2b_port = None  # --e2b-listen's port, where the session thawd has one
        self.metrics_port = None  # --metrics-listen's port, where the session thawd has one
        self.starts = 0
        self.exit_codes = []  # (signal sent, exit code) per stop

    # paths ----------------------------------------------------------------
    @property
    def url(self):
        return f"http://{self.addr}:{self.port}"

    @property
    def e2b_url(self):
        """The E2B front's origin (docs/e2b.md), or None."""
        return f"http://{self.addr}:{self.e2b_port}" if self.e2b_port else None

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
        return [*self._in_netns(), str(self.thawd_bin), "--listen", f"{self.addr}:{self.port}",
                "--data-dir", str(self.data_dir), "--recipes", str(REPO / "templates"),
                "--agent", str(agent_path()), "--log-level", "info", *extra]

    def _in_netns(self):
        return ["nsenter", f"--net=/run/netns/{self.netns}", "--"] if self.netns else []

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
            r = subprocess.run([*self._in_netns(), str(self.thawd_bin), "--teardown", "--data-dir",
                                str(self.data_dir), "--log-level", "info", *self.extra_args],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                               timeout=timeout, env={**os.environ, **self.extra_env})
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
        conn = http.client.HTTPConnection(self.addr, self.port, timeout=timeout)
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
        conn = http.client.HTTPConnection(self.addr, self.port, timeout=timeout)
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


def restart_thawd(signal=signal.SIGKILL):  # noqa: A002 - the name the tests use
    """Stops the current thawd with `signal` and starts it again in place
    (same port, data dir and key); returns when /healthz answers."""
    return current().restart(signal)


# The session thawd's slot range: not thawd's default (10.200.0.0/16), so
# that `make test` runs beside the thawd `make demo` left running.
SESSION_SLOT_CIDR = os.environ.get("THAW_SLOT_CIDR", "10.201.0.0/16")


def publish_range(slot_cidr):
    """A --publish-range of 100 loopback ports per slot range (issue 17,
    docs/ports.md): instances of different slot ranges never share one
    (each guards its whole range with nftables)."""
    lo = 20000 + int(slot_cidr.split(".")[1]) % 64 * 100
    return ("127.0.0.1", lo, lo + 99)


def instance_args(slot_cidr):
    """Options that keep one thaw instance off another's on this host: its
    slot range, and a VMM uid range of its own (from the range's second
    octet; never thawd's default of 1900000000, the demo's)."""
    octet = int(slot_cidr.split(".")[1])
    return ["--slot-cidr", slot_cidr, "--vmm-uid-base", str(1900000000 + (octet % 64 + 1) * 65536)]


# A sanitized thawd keeps freed memory in quarantine (256 MB by default):
# a small one keeps its RSS meaningful where a test measures it.
SMALL_QUARANTINE = {"ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1:quarantine_size_mb=16"}


def own_thawd(session, suffix, slot_cidr, extra=(), template=True, env=None, netns=None):
    """Starts a thawd of a test's own (data dir <session data dir>-suffix,
    its own slot range) and makes it current; with template, code-interpreter
    is baked there unless it is ready and baked from this tree's inputs. The
    first bake is seeded with the session's debootstrap cache (the session
    thawd runs, so its store is mounted), so it downloads nothing. Returns
    the Thawd; the caller ends it with close_own_thawd(). netns: a
    fleetnet.Host to run it in (its namespace and address)."""
    data = Path(str(session.data_dir) + suffix)
    d = Thawd(data, bins=session.bins)
    if netns:
        d.netns, d.addr = netns.name, netns.addr
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


def seed_build_cache(session, d):
    """d's rootfs build cache from the session thawd's (its store is
    mounted while it runs): a bake on d then downloads nothing (the tests
    have no internet)."""
    src, dst = session.store / "cache", d.store / "cache"
    if src.is_dir() and not any(dst.glob("rootfs-*")):
        dst.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", "--reflink=auto", f"{src}/.", str(dst)], check=True)


def copy_session_template(session, d):
    """Gives d the session thawd's build of code-interpreter instead of a
    bake of its own (under TCG a bake takes 50-120 s, and half a dozen
    test modules start a thawd of their own): the build directory, which
    is immutable once published and names its files relatively, copied
    into d's store, and its catalog row into d's database; then d is
    restarted so that its catalog and VMM pool start from it. Only a
    build made from this tree's inputs (the session's stamp) is copied.
    False when there is none, or when d shares an object store (a bake
    there is also a publish, which its tests look at): d bakes."""
    if "--s3-endpoint" in d.extra_args or "THAW_S3_ENDPOINT" in d.extra_env:
        return False
    stamp = session.data_dir / "e2e-agent.sha256"
    if not stamp.exists() or stamp.read_text().strip() != template_inputs_digest():
        return False
    with contextlib.closing(sqlite3.connect(f"file:{session.data_dir}/thaw.db?mode=ro",
                                            uri=True, timeout=30)) as db:
        row = db.execute("SELECT name, build_id, meta_sha256, created_at FROM templates"
                         " WHERE name=? AND owner IS NULL", (TEMPLATE,)).fetchone()
    if not row or not (session.template_dir() / row[1] / "meta.json").is_file():
        return False
    dst = d.template_dir() / row[1]
    shutil.rmtree(dst, ignore_errors=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    subprocess.run(["cp", "-a", "--reflink=auto", str(session.template_dir() / row[1]),
                    str(dst)], check=True)
    rc = d.stop(signal.SIGTERM)
    assert rc == 0, f"thawd{d.data_dir} exited with {rc} before the template copy"
    with contextlib.closing(sqlite3.connect(d.data_dir / "thaw.db", timeout=30)) as db, db:
        db.execute("INSERT OR REPLACE INTO templates (name, build_id, meta_sha256, created_at)"
                   " VALUES (?, ?, ?, ?)", row)
    d.start()
    print(f"\n[e2e] {TEMPLATE} build {row[1]} copied from the session thawd in "
          f"{time.monotonic() - t0:.1f} s (no bake)")
    return True


def _own_template(session, d):
    info = template_info()
    stamp = d.data_dir / "e2e-agent.sha256"
    digest = template_inputs_digest()
    if info and info["status"] == "ready" and stamp.exists() and \
            stamp.read_text().strip() == digest:
        return info
    if copy_session_template(session, d):
        stamp.write_text(digest + "\n")
        return template_info()
    seed_build_cache(session, d)
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


def stop_and_teardown(d):
    """Deletes what is left, stops d (SIGTERM), runs --teardown with its
    own options; returns the problems found, leftovers(d) included."""
    problems = []
    if d.running():
        try:
            left = [s["id"] for s in d.api("GET", "/v1/sandboxes")[1]["sandboxes"]]
            for sid in left:
                st, body = d.api("DELETE", f"/v1/sandboxes/{sid}")
                if st not in (204, 404):
                    problems.append(f"deleting leftover {sid} answered {st}: {body}")
            if left:
                print(f"\n[e2e] deleted {len(left)} sandbox(es) left by tests: {left}")
        except Exception as e:  # noqa: BLE001 - reported with the rest
            problems.append(f"listing/deleting leftovers failed: {e!r}")
        rc = d.stop(signal.SIGTERM)
        if rc != 0:
            problems.append(f"thawd exited with {rc} after SIGTERM")
    if d.teardown() != 0:
        problems.append("thawd --teardown failed")
    return problems + leftovers(d)


def discard_own_data_dir(d):
    """Removes a stopped, torn-down own thawd's data dir: each holds a
    template of its own (~1 GiB), and a whole run of them once filled a CI
    machine's disk. A rerun bakes again from the session's debootstrap
    cache (~15 s). THAW_E2E_KEEP_HOSTS=1 keeps them (to look inside)."""
    if os.environ.get("THAW_E2E_KEEP_HOSTS") != "1":
        remove_data_dir(d)


def remove_data_dir(d):
    """Unmounts d's store, frees its loop device and removes the dir."""
    subprocess.run(["umount", str(d.store)], capture_output=True)
    for dev in loop_devices_of(d.data_dir / "store.img"):
        subprocess.run(["losetup", "-d", dev], capture_output=True)
    shutil.rmtree(d.data_dir, ignore_errors=True)


def close_own_thawd(d, session):
    """stop_and_teardown(d), then makes the session thawd current again;
    the data dir is removed unless something was found wrong (then it is
    kept as evidence). Returns the problems found (a list of strings)."""
    problems = stop_and_teardown(d)
    set_current(session)
    os.environ["THAW_API_URL"] = session.url
    os.environ["THAW_API_KEY"] = session.key
    if not problems:
        discard_own_data_dir(d)
    return problems
