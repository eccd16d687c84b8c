"""Limits answered with 429 and a message: the per-key request rate
(--rate-limit) and the sandboxes a host runs (--max-sandboxes). These
need their own thawd (own data dir, own slot range), started here."""

import shutil
import time
from pathlib import Path

import pytest

import thawlib as T


pytestmark = pytest.mark.own_thawd

def own(thawd, suffix, slot_cidr, extra):
    """A thawd of the test's own, without pools or a template, from an
    empty data dir; ended (and its data dir removed) by done()."""
    shutil.rmtree(Path(str(thawd.data_dir) + suffix), ignore_errors=True)
    return T.own_thawd(thawd, suffix, slot_cidr,
                       ["--vmm-pool", "0", "--slot-pool", "0", *extra], template=False)


def done(d, thawd):
    problems = T.close_own_thawd(d, thawd)
    assert not problems, "; ".join(problems) + "\n" + d.log_tail()
    shutil.rmtree(d.data_dir, ignore_errors=True)


@pytest.fixture
def limited(thawd):
    d = own(thawd, "-lim", "10.203.0.0/16", ["--rate-limit", "5"])
    # Starting it took requests from the key's bucket: a full one for the
    # test, and again for the teardown's.
    time.sleep(2.1)
    yield d
    time.sleep(2.1)
    done(d, thawd)


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
    d = own(thawd, "-max", "10.208.0.0/16", ["--max-memory", "256"])
    yield d
    done(d, thawd)


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
