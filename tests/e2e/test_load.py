"""Load: 16 concurrent clients create, exec in and delete sandboxes for a
bounded time (bench/load.py, the same code as bench/load.sh) on a thawd of
its own (data dir <session data dir>-load, slots from 10.207.0.0/16).
No request may fail; at the end nothing is left (VMMs, namespaces,
veths, clone and run dirs, database rows) and thawd's resident memory
is flat: the end within a margin of what it was after a warm-up.

Environment: THAW_LOAD_SECONDS (default 75), THAW_LOAD_CLIENTS (16)."""

import os
import sys

import pytest

import thawlib as T

sys.path.insert(0, str(T.REPO / "bench"))
import load  # noqa: E402

pytestmark = [pytest.mark.own_thawd, pytest.mark.slow]

SECONDS = float(os.environ.get("THAW_LOAD_SECONDS", "75"))
CLIENTS = int(os.environ.get("THAW_LOAD_CLIENTS", "16"))
# RSS may grow this much from the warm-up to the end (allocator caches,
# SQLite's page cache filling up) before it counts as a leak.
RSS_MARGIN_KIB = 24 * 1024
RSS_MARGIN_RATIO = 0.25


@pytest.fixture(scope="module")
def loaded(thawd, template):
    with T.running_own_thawd(thawd, "-load", "10.207.0.0/16", ["--vmm-pool", "2"],
                             env=T.SMALL_QUARANTINE) as d:
        yield d



def test_concurrent_clients(loaded):
    s = load.Load(loaded.url, loaded.key, CLIENTS, SECONDS, warmup=min(20, SECONDS / 3),
                  execs=3).run(pid=loaded.proc.pid)
    print("\n" + load.report(s))
    assert not s["errors"], f"{len(s['errors'])} errors under load: {s['errors'][:10]}"
    assert s["cycles"] >= CLIENTS, f"only {s['cycles']} cycles in {s['seconds']} s"
    assert T.list_ids() == [], f"sandboxes left: {T.list_ids()}"
    T.assert_host_matches([], timeout=30)
    assert T.db_sandbox_ids(loaded) == [], f"database rows left: {T.db_sandbox_ids(loaded)}"
    warm, end = s["rss_kib"]["warm"], s["rss_kib"]["end"]
    allowed = warm + max(RSS_MARGIN_KIB, int(warm * RSS_MARGIN_RATIO))
    assert end <= allowed, f"thawd RSS grew from {warm} KiB after the warm-up to {end} KiB"
    T.check(f"{CLIENTS} clients, {s['seconds']} s: {s['cycles']} cycles, no errors; create "
            f"p50 {s['create']['p50_ms']} ms p99 {s['create']['p99_ms']} ms, exec p50 "
            f"{s['exec']['p50_ms']} ms p99 {s['exec']['p99_ms']} ms; RSS {warm} -> {end} KiB; "
            "nothing left")
