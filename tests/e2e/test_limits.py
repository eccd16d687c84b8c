"""Limits answered with 429 and a message: the per-key request rate
(--rate-limit) and the sandboxes a host runs (--max-sandboxes). These
need their own thawd (own data dir, own slot range), started here."""

import shutil
import signal
import time
from pathlib import Path

import pytest

import thawlib as T


@pytest.fixture
def limited(thawd):
    data = Path(str(thawd.data_dir) + "-lim")
    shutil.rmtree(data, ignore_errors=True)
    d = T.Thawd(data, bins=thawd.bins if hasattr(thawd, "bins") else None)
    d.extra_args = ["--rate-limit", "5", "--slot-cidr", "10.203.0.0/16", "--vmm-pool", "0",
                    "--slot-pool", "0"]
    d.start()
    yield d
    assert d.stop(signal.SIGTERM) == 0, d.log_tail()
    assert d.teardown() == 0, d.log_tail()
    assert str(d.store) not in T.mount_points(), "the limited thawd's store is still mounted"
    shutil.rmtree(data, ignore_errors=True)


def test_request_rate_is_limited_per_key(limited):
    codes = [limited.api("GET", "/v1/sandboxes")[0] for _ in range(30)]
    assert codes[:10] == [200] * 10, codes  # a 2 s burst: 10 requests
    assert 429 in codes, codes
    st, body = limited.api("GET", "/v1/sandboxes")
    if st == 429:
        assert body["code"] == "limit_reached" and "requests a second" in body["error"], body
    # Public routes and wrong keys are not counted against the key.
    assert limited.api("GET", "/healthz", key=None)[0] == 200
    time.sleep(1.2)
    assert limited.api("GET", "/v1/sandboxes")[0] == 200, "the bucket did not refill"
    T.check(f"--rate-limit 5: {codes.count(200)} of 30 back-to-back requests passed, "
            f"{codes.count(429)} got 429; refilled after a second")


@pytest.fixture
def small_host(thawd):
    data = Path(str(thawd.data_dir) + "-max")
    shutil.rmtree(data, ignore_errors=True)
    d = T.Thawd(data, bins=thawd.bins if hasattr(thawd, "bins") else None)
    d.extra_args = ["--max-memory", "256", "--slot-cidr", "10.208.0.0/16", "--vmm-pool", "0",
                    "--slot-pool", "0"]
    d.start()
    yield d
    assert d.stop(signal.SIGTERM) == 0, d.log_tail()
    assert d.teardown() == 0, d.log_tail()
    shutil.rmtree(data, ignore_errors=True)


def test_templates_larger_than_the_host_allows_are_refused(small_host):
    """--max-memory and --max-vcpus bound what a template may ask: the
    bake stops at its recipe, before anything is built."""
    t0 = time.monotonic()
    st, events = small_host.bake(T.TEMPLATE, timeout=120)
    assert events and events[-1]["event"] == "error", events[-3:]
    last = events[-1]
    assert last["code"] == "invalid_request" and "--max-memory" in last["error"] \
        and "512 MiB" in last["error"], last
    assert time.monotonic() - t0 < 30, "the refusal came after building things"
    st, body = small_host.api("GET", "/v1/templates")
    assert st == 200 and not [t for t in body["templates"] if t["status"] == "ready"], body
    T.check(f"bake of a 512 MiB template on a --max-memory 256 host: {last['error']}")
