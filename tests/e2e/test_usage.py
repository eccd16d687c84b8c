"""Per-sandbox usage over time (GET /v1/sandboxes/{id}/metrics, core/usage.c):
the session thawd samples every second (--usage-interval 1). A guest that
spins shows its CPU, one that allocates its memory, one that writes its
disk, one that sends its network bytes; start/end select; bad times are
400s; a paused sandbox gets no samples and keeps its history; a fork
starts empty; the SDK's Sandbox.metrics() and the CLI read the same."""

import datetime
import json
import sys
import time

import pytest

import thawlib as T

sys.path.insert(0, str(T.REPO / "sdk" / "python"))
import thaw  # noqa: E402

MIB = 1 << 20
FIELDS = {"timestamp", "t", "cpu_used_pct", "cpu_count", "mem_used_bytes", "mem_total_bytes",
          "disk_used_bytes", "disk_total_bytes", "net_rx_bytes", "net_tx_bytes"}


def metrics(sid, query=""):
    st, body = T.api("GET", f"/v1/sandboxes/{sid}/metrics{query}")
    assert st == 200, f"metrics {sid}{query}: {st} {body}"
    return body


def points_after(sid, t0, n=1, timeout=30):
    """Waits for n points stamped after t0 (unix seconds); returns them."""
    def got():
        pts = metrics(sid, f"?start={t0 + 1}")["points"]
        return pts if len(pts) >= n else None
    return T.wait_until(got, timeout, interval=0.3, what=f"{n} usage point(s) of {sid} after {t0}")


def test_usage_follows_cpu_memory_disk_and_network(sandboxes):
    sid = sandboxes(template=T.TEMPLATE)["id"]
    t0 = int(time.time()) - 1
    first = points_after(sid, t0 - 60)[-1]
    body = metrics(sid)
    assert body["sandbox_id"] == sid and body["interval_s"] == 1 and body["window_s"] == 3600
    assert set(first) == FIELDS, first
    assert first["cpu_count"] >= 1 and first["mem_total_bytes"] > 0, first
    assert first["disk_total_bytes"] > 0 and first["mem_used_bytes"] > 0, first
    assert first["timestamp"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(first["t"]))
    ts = [p["t"] for p in body["points"]]
    assert ts == sorted(ts) and len(set(ts)) == len(ts), f"points out of order: {ts}"

    # CPU: one spinning shell per vCPU for 4 s.
    t = int(time.time())
    T.sh(sid, "for i in $(seq $(nproc)); do timeout 4 sh -c 'while :; do :; done' & done; wait",
         timeout=60)
    pts = points_after(sid, t, n=3)
    top = max(p["cpu_used_pct"] for p in pts)
    assert top > 50, f"a guest spinning on every vCPU shows at most {top} % CPU: {pts}"
    T.check(f"spinning guest: cpu_used_pct up to {top:.1f} % of {pts[0]['cpu_count']} vCPU(s)")

    # Memory: 64 MiB touched (and held for 3 s) in the guest.
    base = metrics(sid)["points"][-1]["mem_used_bytes"]
    t = int(time.time())
    T.sh(sid, "python3 -c 'import time; b = b\"\\1\" * (64 << 20); time.sleep(3)'", timeout=60)
    pts = points_after(sid, t, n=2)
    grown = max(p["mem_used_bytes"] for p in pts) - base
    assert grown >= 32 * MIB, f"memory grew by {grown >> 20} MiB after allocating 64 MiB: {pts}"
    T.check(f"64 MiB allocated in the guest: mem_used_bytes +{grown >> 20} MiB")

    # Disk: a 32 MiB file, synced.
    base = metrics(sid)["points"][-1]["disk_used_bytes"]
    t = int(time.time())
    T.sh(sid, "dd if=/dev/urandom of=/root/usage-test.bin bs=1M count=32 2>/dev/null && sync",
         timeout=120)
    pts = points_after(sid, t, n=2)
    grown = pts[-1]["disk_used_bytes"] - base
    assert grown >= 24 * MIB, f"disk grew by {grown >> 20} MiB after writing 32 MiB: {pts}"
    T.check(f"32 MiB written in the guest: disk_used_bytes +{grown >> 20} MiB")

    # Network: 2 MiB of UDP out of the slot (nobody needs to answer: the
    # host end of the slot counts them on the way out).
    before = metrics(sid)["points"][-1]
    t = int(time.time())
    T.sh(sid, "python3 -c 'import socket\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              "for _ in range(1500): s.sendto(b\"x\" * 1400, (\"1.1.1.1\", 9))'", timeout=60)
    pts = points_after(sid, t, n=2)
    sent = pts[-1]["net_tx_bytes"] - before["net_tx_bytes"]
    assert sent >= 1 * MIB, f"net_tx_bytes grew by {sent} after sending 2 MiB: {pts}"
    assert pts[-1]["net_rx_bytes"] >= before["net_rx_bytes"], "net_rx_bytes went back"
    T.check(f"2 MiB of UDP sent: net_tx_bytes +{sent >> 10} KiB (cumulative counters)")

    # start/end select, inclusive, in either form of time.
    all_pts = metrics(sid)["points"]
    mid = all_pts[len(all_pts) // 2]
    one = metrics(sid, f"?start={mid['t']}&end={mid['t']}")["points"]
    assert one == [mid], (mid, one)
    same = metrics(sid, f"?start={mid['timestamp']}&end={mid['timestamp']}")["points"]
    assert same == one, (same, one)
    assert metrics(sid, f"?start={int(time.time()) + 3600}")["points"] == []
    later = metrics(sid, f"?start={mid['t']}")["points"]
    assert later and all(p["t"] >= mid["t"] for p in later) and later[0] == mid

    # The SDK: MetricsPoint objects; datetimes (aware or naive UTC) accepted.
    sbx = thaw.Sandbox.connect(sid, client=thaw.Client(T.current().url, T.current().key))
    sdk_all = sbx.metrics()
    assert len(sdk_all) >= len(all_pts) and isinstance(sdk_all[0], thaw.MetricsPoint)
    at = datetime.datetime.fromtimestamp(mid["t"], datetime.timezone.utc)
    sdk_one = sbx.metrics(start=at, end=at.replace(tzinfo=None))
    assert len(sdk_one) == 1 and sdk_one[0].timestamp == at, sdk_one
    assert sdk_one[0].mem_used_bytes == mid["mem_used_bytes"], (sdk_one, mid)
    assert sdk_one[0].cpu_used_pct == pytest.approx(mid["cpu_used_pct"])

    # The CLI: a table, and JSON lines.
    r = T.run_cli("metrics", "--since", "10m", sid)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert out.splitlines()[0].split()[:3] == ["TIME", "(UTC)", "CPU"], out
    assert len(out.splitlines()) >= len(all_pts), out
    r = T.run_cli("metrics", "--json", "--since", "10m", sid)
    lines = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert r.returncode == 0 and lines and lines[0]["t"] <= mid["t"], r
    r = T.run_cli("metrics", "--since", "ages", sid)
    assert r.returncode == 2 and b"--since" in r.stderr, r
    T.check("start/end (unix and RFC 3339) select inclusively; SDK and CLI read the same")


def test_metrics_refuses_bad_times(sandboxes):
    sid = sandboxes(template=T.TEMPLATE)["id"]
    for query, name in (("?start=yesterday", "start"), ("?end=12x", "end"),
                        ("?start=2026-12-07", "start"), ("?end=-5", "end")):
        st, body = T.api("GET", f"/v1/sandboxes/{sid}/metrics{query}")
        assert st == 400 and body["code"] == "invalid_request", (query, st, body)
        assert body["error"].startswith(name), (query, body)
    st, body = T.api("GET", f"/v1/sandboxes/{sid}/metrics?start=200&end=100")
    assert st == 400 and "before" in body["error"], body
    future = int(time.time()) + 86400
    st, body = T.api("GET", f"/v1/sandboxes/{sid}/metrics?start={future}&end={future + 60}")
    assert st == 200 and body["points"] == [], body
    st, body = T.api("GET", "/v1/sandboxes/sb-zzzzzzzzzzzz/metrics")
    assert st == 404 and body["code"] == "not_found", body
    T.check("bad start/end: 400 naming it; end before start: 400; the future: no points; "
            "an unknown sandbox: 404")


def test_paused_sandbox_gets_no_points_and_a_fork_starts_empty(sandboxes):
    sid = sandboxes(template=T.TEMPLATE)["id"]
    points_after(sid, int(time.time()) - 60, n=2)
    t_fork = int(time.time())
    st, fk = T.api("POST", f"/v1/sandboxes/{sid}/fork", {"count": 1})
    assert st == 201, fk
    child = fk["sandboxes"][0]["id"]
    try:
        pts = metrics(child)["points"]
        assert all(p["t"] >= t_fork for p in pts), \
            f"the fork {child} carries points from before it existed: {pts}"
    finally:
        T.delete(child)

    st, body = T.api("POST", f"/v1/sandboxes/{sid}/pause", {})
    assert st == 200, body
    t_paused = int(time.time())
    kept = metrics(sid)["points"]
    assert kept, "pausing lost the history"
    time.sleep(3)
    again = metrics(sid)["points"]
    assert again == kept, f"a paused sandbox got points: {again[len(kept):]}"
    assert all(p["t"] <= t_paused for p in again)

    st, body = T.api("POST", f"/v1/sandboxes/{sid}/resume", {})
    assert st == 200, body
    t_resumed = int(time.time())
    pts = points_after(sid, t_resumed, n=2)
    whole = metrics(sid)["points"]
    assert whole[:len(kept)] == kept, "resuming lost the history before the pause"
    assert not [p for p in whole if t_paused < p["t"] < t_resumed - 3], whole
    assert pts[-1]["cpu_used_pct"] >= 0 and pts[-1]["mem_used_bytes"] > 0, pts
    T.check(f"no points while paused ({len(kept)} kept through pause and resume, new ones "
            f"after); the fork {child} started with no history")
