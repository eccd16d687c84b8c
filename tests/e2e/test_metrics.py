"""GET /metrics (Prometheus text 0.0.4) on the session thawd: an admin
route on the API listener, and keyless on --metrics-listen (the session
thawd has one, conftest.py). What a create, an exec and a 404 do to the
figures, and that every scrape parses: TYPE before samples, label values
escaped, histograms cumulative with _count equal to the +Inf bucket.
(A user key's 403 is checked in test_tenancy.py, which has user keys.)"""

import http.client
import math
import re
import threading
import time

import thawlib as T

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def parse_value(text):
    v = {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(text)
    return float(text) if v is None else v


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, f"bad label set at {pos}: {text!r}"
        value = re.sub(r'\\[\\"n]', lambda e: UNESCAPE[e.group(0)], m.group(2))
        assert m.group(1) not in labels, f"label {m.group(1)} twice: {text!r}"
        labels[m.group(1)] = value
        pos = m.end()
    return labels


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) == "histogram":
            return base
    return name


class Scrape:
    """A parsed scrape: types {family: type}, samples [(name, labels, value)]."""

    def __init__(self, text):
        self.text, self.types, self.samples = text, {}, []
        for line in text.split("\n")[:-1]:
            if line.startswith("# HELP "):
                continue
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                assert re.fullmatch(NAME, name) and name not in self.types, line
                assert kind in ("counter", "gauge", "histogram"), line
                self.types[name] = kind
                continue
            m = SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            name = m.group(1)
            assert family_of(name, self.types) in self.types, f"sample before its TYPE: {line}"
            self.samples.append((name, parse_labels(m.group(2) or ""), parse_value(m.group(3))))
        assert text.endswith("\n") and self.samples, "empty or unterminated scrape"
        self.check_histograms()

    def check_histograms(self):
        for fam in [f for f, k in self.types.items() if k == "histogram"]:
            series = {}
            for name, labels, v in self.samples:
                if name == fam + "_bucket":
                    key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
                    series.setdefault(key, []).append((parse_value(labels["le"]), v))
            for key, buckets in series.items():
                les = [le for le, _ in buckets]
                counts = [c for _, c in buckets]
                assert les == sorted(les) and les[-1] == math.inf, (fam, key, les)
                assert counts == sorted(counts), f"{fam}{key} not cumulative: {counts}"
                assert self.value(fam + "_count", **dict(key)) == counts[-1], (fam, key)

    def value(self, name, **labels):
        """The sample's value; 0 for a series not there yet."""
        for n, ls, v in self.samples:
            if n == name and ls == labels:
                return v
        return 0

    def total(self, name, **match):
        """Sum over the series whose labels include match."""
        return sum(v for n, ls, v in self.samples
                   if n == name and all(ls.get(k) == x for k, x in match.items()))


def scrape(key=...):
    st, headers, raw = T.request("GET", "/metrics", key=key)
    assert st == 200, (st, raw[:300])
    assert headers["Content-Type"] == CONTENT_TYPE, headers
    return Scrape(raw.decode())


def scrape_until(done, timeout=10):
    """A scrape once done(scrape) holds (or the last one, after timeout s):
    a request is counted when its connection finishes, which may be just
    after its client has read the answer."""
    deadline = time.monotonic() + timeout
    while True:
        s = scrape()
        if done(s) or time.monotonic() > deadline:
            return s
        time.sleep(0.05)


def test_admin_route_and_keyless_listener(thawd):
    st, _, raw = T.request("GET", "/metrics", key=None)
    assert st == 401, (st, raw)
    st, _, _ = T.request("GET", "/metrics", key="not-a-key")
    assert st == 401
    s = scrape_until(lambda s: s.value("thaw_api_requests_total", route="/metrics",
                                       method="GET", status="401") >= 2)
    for fam in ("thaw_api_requests_total", "thaw_api_request_duration_seconds",
                "thaw_create_duration_seconds", "thaw_sandboxes", "thaw_host_memory_total_bytes",
                "thaw_host_slots_total", "thaw_vmm_pool_depth", "thaw_errors_total"):
        assert fam in s.types, f"{fam} missing: {sorted(s.types)}"
    assert s.value("thaw_host_memory_total_bytes") > 0
    assert s.value("thaw_host_slots_total") > 0 and s.value("thaw_host_cpus") >= 1
    # The earlier 401s were counted, under the route's pattern.
    assert s.value("thaw_api_requests_total", route="/metrics", method="GET",
                   status="401") >= 2
    assert s.value("thaw_errors_total", code="unauthorized") >= 2

    assert thawd.metrics_port, "the session thawd has no --metrics-listen"
    conn = http.client.HTTPConnection("127.0.0.1", thawd.metrics_port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        body = resp.read().decode()
        assert resp.status == 200 and resp.headers["Content-Type"] == CONTENT_TYPE
        keyless = Scrape(body)
        assert keyless.types == s.types
        # Only /metrics there: the API is not reachable through it.
        conn.request("GET", "/v1/sandboxes")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 404, resp.status
    finally:
        conn.close()
    T.check(f"/metrics: 401 without a key, 200 with the admin key ({len(s.types)} families, "
            f"{len(s.samples)} samples, all parse); keyless on :{thawd.metrics_port} "
            "(its /v1/sandboxes is 404)")


def test_unknown_ids_and_routes_count_by_pattern(thawd):
    before = scrape()
    for _ in range(3):
        st, _ = T.api("GET", "/v1/sandboxes/sb-aaaaaaaaaaaa")
        assert st == 404
    st, _ = T.api("GET", "/no/such/route/sb-bbbbbbbbbbbb")
    assert st == 404
    st, _ = T.api("BREW", "/v1/sandboxes")
    assert st in (400, 405, 501)
    route = dict(route="/v1/sandboxes/{}", method="GET", status="404")
    unmatched = dict(route="unmatched", method="GET", status="404")
    after = scrape_until(lambda s: s.value("thaw_api_requests_total", **unmatched) - before.value(
        "thaw_api_requests_total", **unmatched) >= 1 and s.value(
        "thaw_api_requests_total", **route) - before.value("thaw_api_requests_total", **route) >= 3)
    assert after.value("thaw_api_requests_total", **route) - \
        before.value("thaw_api_requests_total", **route) == 3
    assert after.value("thaw_api_requests_total", **unmatched) - \
        before.value("thaw_api_requests_total", **unmatched) == 1
    assert after.value("thaw_errors_total", code="not_found") - \
        before.value("thaw_errors_total", code="not_found") >= 4
    # Ids never become label values; made-up methods become "other".
    assert "sb-aaaaaaaaaaaa" not in after.text and "sb-bbbbbbbbbbbb" not in after.text
    assert "BREW" not in after.text
    assert after.total("thaw_api_request_duration_seconds_count", route="/v1/sandboxes/{}",
                       method="GET") >= 3
    T.check("3 GETs of an unknown sandbox: +3 on route=/v1/sandboxes/{} status=404; an "
            "unknown path: +1 on route=unmatched; no id or made-up method in the output")


def test_create_and_exec_move_their_figures(sandboxes):
    before = scrape()
    sb = sandboxes(timeout_s=600)
    created = dict(route="/v1/sandboxes", method="POST", status="201")
    mid = scrape_until(lambda s: s.value("thaw_api_requests_total", **created) >
                       before.value("thaw_api_requests_total", **created))
    assert mid.total("thaw_create_duration_seconds_count") - \
        before.total("thaw_create_duration_seconds_count") == 1
    took = mid.total("thaw_create_duration_seconds_sum") - \
        before.total("thaw_create_duration_seconds_sum")
    total_ms = sb["timings_ms"]["total"]
    # The whole create includes what follows the start (the clone hook).
    assert total_ms * 0.9 - 5 <= took * 1000 and took < 60, (took, total_ms)
    for stage in ("network", "disk", "vmm_start", "state_load", "readiness"):
        grew = mid.value("thaw_create_stage_duration_seconds_count", stage=stage) - \
            before.value("thaw_create_stage_duration_seconds_count", stage=stage)
        assert grew == 1, f"stage {stage}: +{grew}"
    running = [s for s in T.list_sandboxes()
               if s["state"] == "running" and s["template"] == T.TEMPLATE]
    assert mid.value("thaw_sandboxes", state="running", template=T.TEMPLATE) == len(running) >= 1

    r = T.exec_(sb["id"], "sleep 0.3; echo done")
    assert r["stdout"] == "done\n"
    ran = dict(route="/v1/sandboxes/{}/exec", method="POST", status="200")
    after = scrape_until(lambda s: s.value("thaw_api_requests_total", **ran) >
                         mid.value("thaw_api_requests_total", **ran))
    execs = after.value("thaw_operation_duration_seconds_count", op="exec") - \
        mid.value("thaw_operation_duration_seconds_count", op="exec")
    assert execs == 1, execs
    spent = after.value("thaw_operation_duration_seconds_sum", op="exec") - \
        mid.value("thaw_operation_duration_seconds_sum", op="exec")
    assert 0.3 <= spent < 30, spent
    assert after.value("thaw_operations_total", op="exec", result="ok") - \
        mid.value("thaw_operations_total", op="exec", result="ok") == 1
    assert sb["id"] not in after.text
    T.check(f"a create: +1 create ({took * 1000:.0f} ms, the answer says {total_ms:.0f}), +1 "
            f"in each of 5 stages; thaw_sandboxes running = {len(running)}; an exec of "
            f"sleep 0.3: +1 exec, {spent:.2f} s")


def test_concurrent_scrapes_parse(thawd):
    """Scrapes while requests run: every one still parses (histograms
    stay consistent while observations arrive)."""
    errors = []

    def load():
        for _ in range(40):
            T.api("GET", "/v1/sandboxes/sb-cccccccccccc")

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(10):
            st, _, raw = T.request("GET", "/metrics")
            assert st == 200
            try:
                Scrape(raw.decode())
            except AssertionError as e:
                errors.append(str(e))
    finally:
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    T.check("10 scrapes during 120 concurrent requests: all parse")
