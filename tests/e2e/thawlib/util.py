"""Paths, ports, waiting and printing: what every other part uses."""

import base64
import hashlib
import os
import socket
import threading
import time
from pathlib import Path



REPO = Path(__file__).resolve().parents[3]


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


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 22)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def template_inputs_digest(name=None):
    """One digest of what a bake puts into a template (default: the
    session's) from this tree: the guest agent binary, the recipe
    directory, build-rootfs.sh, and thaw's kernel (its configuration
    fragment and build-kernel.sh)."""
    h = hashlib.sha256(sha256_file(agent_path()).encode())
    templates = REPO / "templates"
    files = [templates / "build-rootfs.sh", templates / "build-kernel.sh"] + sorted(
        p for p in (templates / "kernel").rglob("*") if p.is_file()) + sorted(
        p for p in (templates / (name or TEMPLATE)).rglob("*") if p.is_file())
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
