"""Session harness for thaw's end-to-end tests.

One thawd for the whole session (on a free loopback port, data dir
$THAW_E2E_DATA_DIR or /var/tmp/thaw-e2e), the code-interpreter template
baked once, and at the end: every sandbox deleted, thawd stopped,
`thawd --teardown`, and an assertion that nothing of this instance is
left (VMM processes, network namespaces, the store mount).

Environment:
  THAW_BIN_DIR        thawd and thaw (default build-san/bin if it exists,
                      else build/bin); the guest agent is build/bin/thaw-agent
  THAW_E2E_DATA_DIR   data dir (<= 70 characters); the debootstrap cache
                      in DATA/store/cache survives between runs (a data dir
                      a newer thawd wrote is removed and started afresh)
  THAW_E2E_REBAKE=1   bake code-interpreter even when it is ready
  THAW_E2E_CLEAN=1    remove the data dir at the end
  THAW_E2E_KEEP_HOSTS=1  keep the data dirs of tests' own thawds (removed
                      after their module by default: ~1 GiB each)
"""

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import thawlib as T  # noqa: E402


def _other_thawd_on(data_dir):
    """pids of thawd processes already serving this data dir."""
    want = os.path.realpath(str(data_dir)).encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        args = T.proc_cmdline(int(entry))
        if not args or not args[0].endswith(b"thawd"):
            continue
        for i, a in enumerate(args[:-1]):
            if a == b"--data-dir" and os.path.realpath(args[i + 1]) == want:
                pids.append(int(entry))
    return pids


def _teardown_checks(d):
    """Deletes what is left, stops thawd, runs --teardown and returns what
    of this instance remains (thawlib.stop_and_teardown)."""
    problems = T.stop_and_teardown(d)
    print(f"\n[e2e] teardown: thawd started {d.starts} time(s), stops {d.exit_codes}; "
          f"leak check {'FAILED' if problems else 'clean'} (prefix {d.prefix})")
    return problems


def pytest_collection_modifyitems(config, items):
    """Every test that uses the template (directly or through a fixture
    that does) runs real guests."""
    for item in items:
        if "template" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.vm)


@pytest.fixture(scope="session")
def thawd():
    data_dir = T.default_data_dir()
    assert data_dir.is_absolute(), f"THAW_E2E_DATA_DIR must be absolute: {data_dir}"
    assert len(str(data_dir)) <= T.DATA_DIR_MAX, \
        f"data dir {data_dir} is longer than {T.DATA_DIR_MAX} characters"
    bins = T.bin_dir()
    for exe in (bins / "thawd", bins / "thaw", T.agent_path()):
        if not exe.exists():
            pytest.fail(f"{exe} is missing: run `make` (and `make SAN=1`) first")
    if os.geteuid() != 0:
        pytest.skip("thawd needs root (network namespaces, taps, loop mounts)")
    others = _other_thawd_on(data_dir)
    assert not others, f"thawd already runs on {data_dir} (pids {others}); stop it first"
    d = T.Thawd(data_dir, bins=bins)
    # The E2B front listens too (tests/e2e/test_e2b.py): no second thawd,
    # whose template would need a bake of its own.
    d.e2b_port = T.free_port()
    # And the keyless metrics listener (tests/e2e/test_metrics.py).
    d.metrics_port = T.free_port()
    addr, lo, hi = T.publish_range(T.SESSION_SLOT_CIDR)
    d.extra_args = [*T.instance_args(T.SESSION_SLOT_CIDR), "--e2b-listen",
                    f"127.0.0.1:{d.e2b_port}", "--publish-range", f"{addr}:{lo}-{hi}",
                    "--metrics-listen", f"127.0.0.1:{d.metrics_port}",
                    # Usage samples every second (test_usage.py), not every 5 s.
                    "--usage-interval", "1"]
    if d.log_path.exists():
        # One session per log: the sanitizer check below reads all of it.
        d.log_path.replace(d.log_path.with_name(d.log_path.name + ".prev"))
    print(f"\n[e2e] thawd {d.thawd_bin} on {d.url}, data dir {data_dir} "
          f"(prefix {d.prefix}), log {d.log_path}")
    try:
        d.start()
    except T.ThawdError as e:
        # A data dir written by a newer thawd (another checkout's run), or
        # by a development tree whose schema never landed, is refused,
        # rightly; a test data dir is only a cache: start afresh.
        if "schema version" not in str(e) and "migrating the database" not in str(e):
            raise
        print(f"[e2e] {data_dir} holds a newer thawd's state; removing it and starting afresh")
        T.remove_data_dir(d)
        d.start()
    T.set_current(d)
    left = T.list_ids()
    if left:
        # Adopted from an earlier run that did not finish: start clean.
        print(f"[e2e] deleting {len(left)} sandbox(es) adopted from an earlier run")
        for sid in left:
            T.delete(sid)
    yield d
    problems = _teardown_checks(d)
    if os.environ.get("THAW_E2E_CLEAN") == "1" and not problems:
        shutil.rmtree(data_dir, ignore_errors=True)
        print(f"[e2e] removed {data_dir}")
    assert not problems, "end of session: " + "; ".join(problems) + \
        f"\nthawd log (last 50 lines):\n{d.log_tail()}"


@pytest.fixture(scope="module")
def s3():
    """A real S3 server (s3rver, thawlib.s3) with one bucket, for a test
    module; needs no thawd, no root and no VMs. Per module, not per
    session: a fleet module's bakes and images leave gigabytes in it."""
    from thawlib.s3 import S3rver
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("s3rver needs node and npm (apt-get install nodejs npm)")
    server = S3rver().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL (Debian's postgresql-15, thawlib.pg): a private
    cluster for the session, on its own port; needs no thawd and no VMs."""
    from thawlib.pg import Postgres
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def template(thawd):
    """code-interpreter, ready: baked now unless it already is (or
    THAW_E2E_REBAKE is set)."""
    info = T.template_info()
    # The guest agent and the recipe's files live in the template: one
    # baked from other ones than this tree's would test the old ones.
    stamp = thawd.data_dir / "e2e-agent.sha256"
    agent = T.template_inputs_digest()
    same_agent = stamp.exists() and stamp.read_text().strip() == agent
    if info and info["status"] == "ready" and same_agent and \
            not os.environ.get("THAW_E2E_REBAKE"):
        print(f"[e2e] template {T.TEMPLATE} is ready (build {info['build_id']}); "
              "not baking (set THAW_E2E_REBAKE=1 to bake)")
        return info
    why = "the guest agent or the recipe changed" if info and info["status"] == "ready" and not same_agent \
        else f"status now: {info and info['status']}"
    print(f"[e2e] baking {T.TEMPLATE} ({why})")
    t0 = time.monotonic()

    def show(ev):
        if ev.get("event") == "progress":
            print(f"[bake {ev.get('step')}/{ev.get('steps')}] {ev.get('stage')}: "
                  f"{ev.get('message')}", flush=True)
        else:
            print(f"[bake] {ev}", flush=True)
    st, events = thawd.bake(T.TEMPLATE, on_event=show, timeout=1200)
    assert st == 200, f"bake refused with {st}: {events}"
    assert events and events[-1]["event"] == "done", f"bake did not finish: {events[-3:]}"
    print(f"[e2e] baked in {time.monotonic() - t0:.1f} s: "
          f"build {events[-1]['template']['build_id']}")
    info = T.template_info()
    assert info and info["status"] == "ready", info
    stamp.write_text(agent + "\n")
    return info


@pytest.fixture
def sandboxes(template):
    """A factory: sandboxes(**create_body) -> create answer; whatever it
    made and is still there is deleted after the test."""
    made = []

    def make(**kw):
        sb = T.create(**kw)
        made.append(sb["id"])
        return sb
    yield make
    d = T.current()
    if not d.running():
        return
    for sid in made:
        st, _ = d.api("DELETE", f"/v1/sandboxes/{sid}")
        assert st in (204, 404), f"cleanup delete of {sid} answered {st}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    d = T.current_or_none()
    if rep.failed and d is not None:
        rep.sections.append(("thawd log (last 50 lines)", d.log_tail(50)))


# What a whole run takes on its disk at its peak (the fleet modules:
# two or three hosts' stores and an S3 server's objects at once): measured
# 7.7 GiB on a clean clone, 2026-12-06.
DISK_PEAK_GIB = 8


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes tens of seconds (the re-bake)")
    # Said up front: a full disk fails a run late and far from its cause.
    probe = T.default_data_dir().parent
    try:
        v = os.statvfs(probe if probe.is_dir() else "/")
        free_gib = v.f_bavail * v.f_frsize / (1 << 30)
    except OSError:
        return
    if free_gib < DISK_PEAK_GIB + 1:
        print(f"\n[e2e] WARNING: {free_gib:.1f} GiB free on {probe}; a whole run needs about "
              f"{DISK_PEAK_GIB} GiB at its peak", file=sys.stderr)
