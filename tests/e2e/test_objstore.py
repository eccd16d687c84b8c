"""The object store client (src/objstore) against a real S3 server.

tests/it/objstore_it drives the library; s3rver stores the objects; the
fault proxy (thawlib.faultproxy) sits between them, checks every request's
SigV4 signature (s3rver itself does not) and injects errors, resets and
stalls. No thawd, no root, no VMs."""

import hashlib
import json
import os
import subprocess
import time

import pytest

import thawlib as T
from thawlib.faultproxy import FaultProxy

MiB = 1 << 20


def _it_program():
    """objstore_it of the build the other tests use (build-san when it
    holds a thawd: THAW_BIN_DIR's tree)."""
    exe = T.bin_dir().parent / "tests" / "it" / "objstore_it"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: run `make` (and `make SAN=1`) first")
    return exe


@pytest.fixture(scope="module")
def proxy(s3):
    p = FaultProxy(("127.0.0.1", s3.port)).start()
    p.set_sigv4(s3.access_key, s3.secret_key, s3.region)
    yield p
    p.stop()


@pytest.fixture
def store(s3, proxy, tmp_path):
    """run(*args, deadline=, attempt=, env=) -> (rc, stdout bytes, stderr,
    stats dict); faults and counters start clean for every test."""
    exe = _it_program()
    proxy.clear()
    proxy.set_sigv4(s3.access_key, s3.secret_key, s3.region)

    def run(*args, deadline=10000, attempt=2000, env=None, timeout=120):
        stats = tmp_path / "stats.json"
        e = dict(os.environ)
        e.update(s3.env(proxy.endpoint))
        e.update(env or {})
        r = subprocess.run([str(exe), "--deadline", str(deadline), "--attempt", str(attempt),
                            "--stats", str(stats), *map(str, args)],
                           env=e, capture_output=True, timeout=timeout)
        st = json.loads(stats.read_text()) if stats.exists() else {}
        return r.returncode, r.stdout, r.stderr.decode(errors="replace"), st
    yield run
    proxy.clear()


def ok(res):
    rc, out, err, _ = res
    assert rc == 0, f"objstore_it failed ({rc}): {err}"
    return out


def test_signed_requests_are_accepted_and_a_wrong_secret_is_refused(store, proxy):
    ok(store("putstr", "sig/a", "signed"))
    assert ok(store("getall", "sig/a", 100, "-")) == b"signed"
    rc, _, err, st = store("putstr", "sig/b", "x", env={"AWS_SECRET_ACCESS_KEY": "wrong"})
    assert rc == 1
    assert "forbidden" in err and "403 SignatureDoesNotMatch" in err and "PUT sig/b" in err, err
    assert st["retries"] == 0 and st["errors"] == 1
    rc, _, err, _ = store("head", "sig/a", env={"AWS_ACCESS_KEY_ID": "NOBODY"})
    assert rc == 1 and "forbidden" in err and "403" in err, err


def test_put_get_range_head_list_delete(store, tmp_path):
    data = os.urandom(3 * MiB + 17)
    src = tmp_path / "obj"
    src.write_bytes(data)
    ok(store("put", "basic/dir/obj", src))
    assert ok(store("head", "basic/dir/obj")).strip() == str(len(data)).encode()
    assert ok(store("get", "basic/dir/obj", 1000, 4096, "-")) == data[1000:5096]
    assert ok(store("get", "basic/dir/obj", len(data) - 10, 10, "-")) == data[-10:]
    assert ok(store("getall", "basic/dir/obj", len(data), "-")) == data
    rc, _, err, _ = store("getall", "basic/dir/obj", len(data) - 1, "-")
    assert rc == 1 and "too_large" in err, err
    ok(store("putstr", "basic/other", "o"))
    out = ok(store("list", "basic/")).decode().splitlines()
    assert out == ["basic/dir/obj %d" % len(data), "basic/other 1", "count 2"]
    assert ok(store("list", "basic/d")).decode().splitlines()[-1] == "count 1"
    ok(store("delete", "basic/dir/obj"))
    ok(store("delete", "basic/dir/obj"))  # a missing object: still fine
    rc, _, err, _ = store("head", "basic/dir/obj")
    assert rc == 1 and "not_found" in err, err


def test_short_range_is_corrupt(store):
    ok(store("putstr", "short/a", "0123456789"))
    rc, _, err, _ = store("get", "short/a", 5, 10, "-")
    assert rc == 1 and "corrupt" in err and "short object" in err, err
    rc, _, err, _ = store("get", "short/a", 50, 10, "-")
    assert rc == 1 and "corrupt" in err, err


def test_invalid_keys_send_nothing(store, proxy):
    for key in ("/abs", "a//b", "a/../b", "a/./b", "sp ace", "a/", "x" * 1025):
        rc, _, err, _ = store("putstr", key, "x")
        assert rc == 1 and "invalid" in err, (key, err)
    assert proxy.counts()["total"] == 0


def test_listing_pages_past_1000_keys(store, proxy):
    """s3rver answers at most 1000 keys a page, as S3 does."""
    ok(store("putmany", "many/k", 1100, timeout=300))
    proxy.clear()
    out = ok(store("list", "many/")).decode().splitlines()
    assert out[-1] == "count 1100"
    keys = [line.split()[0] for line in out[:-1]]
    assert keys == sorted(keys) and len(set(keys)) == 1100
    assert keys[0] == "many/k00000" and keys[-1] == "many/k01099"
    assert proxy.counts().get("GET") == 2, proxy.counts()


def test_multipart_upload_of_150_mib(store, proxy, tmp_path):
    src = tmp_path / "big"
    h = hashlib.sha256()
    with open(src, "wb") as f:
        for _ in range(150):
            chunk = os.urandom(MiB)
            h.update(chunk)
            f.write(chunk)
    ok(store("put", "mp/big", src, deadline=60000, attempt=20000, timeout=300))
    c = proxy.counts()
    # 150 MiB in 16 MiB parts: 10 PUTs, an initiate and a complete.
    assert c.get("PUT") == 10 and c.get("POST") == 2, c
    out = tmp_path / "back"
    ok(store("getall", "mp/big", 200 * MiB, out, deadline=60000, timeout=300))
    assert T.sha256_file(out) == h.hexdigest()
    assert ok(store("head", "mp/big")).strip() == str(150 * MiB).encode()


def test_multipart_part_failures_are_retried(store, proxy, tmp_path):
    src = tmp_path / "big"
    data = os.urandom(70 * MiB)
    src.write_bytes(data)
    proxy.fail_next(2, status=503, method="PUT", path="partNumber=2")
    proxy.reset_next(1, method="PUT", path="partNumber=4")
    rc, _, err, st = store("put", "mp/retried", src, deadline=60000, attempt=20000)
    assert rc == 0, err
    assert st["retries"] == 3 and st["puts"] == 1, st
    assert ok(store("get", "mp/retried", 50 * MiB, 1000, "-")) == data[50 * MiB:50 * MiB + 1000]


def test_retries_through_503s_and_a_reset(store, proxy):
    ok(store("putstr", "retry/a", "again"))
    # The reset first: on a fresh connection curl cannot hide it by
    # reconnecting on its own (it does for a kept-alive one).
    proxy.reset_next(1, method="GET")
    proxy.fail_next(2, status=503, method="GET")
    rc, out, err, st = store("getall", "retry/a", 100, "-")
    assert rc == 0, err
    assert out == b"again"
    assert st["retries"] == 3 and st["gets"] == 1 and st["errors"] == 0, st
    assert proxy.counts()["GET"] == 4


def test_one_stall_is_retried(store, proxy):
    ok(store("putstr", "stall/a", "late"))
    proxy.stall_next(1, method="GET")
    t0 = time.monotonic()
    rc, out, err, st = store("getall", "stall/a", 100, "-", deadline=10000, attempt=1000)
    took = time.monotonic() - t0
    assert rc == 0 and out == b"late", err
    assert st["retries"] == 1
    assert 0.9 < took < 5, took


def test_a_store_that_stalls_fails_within_the_deadline(store, proxy):
    ok(store("putstr", "stall/b", "never"))
    proxy.stall_next(1000, method="GET")
    t0 = time.monotonic()
    rc, _, err, st = store("get", "stall/b", 0, 5, "-", deadline=3000, attempt=1000)
    took = time.monotonic() - t0
    assert rc == 1 and "timeout" in err and "no answer within 3000 ms" in err, err
    assert "GET stall/b" in err
    assert 2.5 < took < 4.5, took
    assert st["errors"] == 1 and st["retries"] >= 1


def test_a_persistent_500_fails_with_a_clear_message(store, proxy):
    ok(store("putstr", "err/a", "x"))
    proxy.fail_next(1000, status=500, method="GET")
    t0 = time.monotonic()
    rc, _, err, st = store("getall", "err/a", 100, "-", deadline=4000)
    took = time.monotonic() - t0
    assert rc == 1 and "unavailable" in err, err
    assert "store answered 500 InjectedFault" in err and "GET err/a" in err, err
    assert took < 5.5, took
    assert st["retries"] >= 2 and st["errors"] == 1


def test_no_retries_on_404(store, proxy):
    rc, _, err, st = store("getall", "nothing/here", 100, "-")
    assert rc == 1 and "not_found" in err, err
    rc, _, err, _ = store("get", "nothing/here", 0, 10, "-")
    assert rc == 1 and "not_found" in err, err
    rc, _, err, _ = store("head", "nothing/here")
    assert rc == 1 and "not_found" in err, err
    assert st["retries"] == 0
    c = proxy.counts()
    assert c["GET"] == 2 and c["HEAD"] == 1, c


def test_proxy_control_from_another_process(s3, proxy):
    """bench/ runs the proxy as a program and drives it over HTTP."""
    from thawlib.faultproxy import ProxyControl
    port = T.free_port()
    env = dict(os.environ, PYTHONPATH=str(T.REPO / "tests" / "e2e"))
    p = subprocess.Popen(["python3", "-m", "thawlib.faultproxy", "--listen", str(port),
                          "--upstream", f"127.0.0.1:{s3.port}"], env=env,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert "listening" in p.stdout.readline()
        ctl = ProxyControl(f"http://127.0.0.1:{port}")
        ctl.fail_next(1, status=503, method="GET")
        exe = _it_program()
        e = dict(os.environ, **s3.env(f"http://127.0.0.1:{port}"))
        r = subprocess.run([str(exe), "head", "nothing/x"], env=e, capture_output=True)
        assert r.returncode == 1 and b"not_found" in r.stderr
        r = subprocess.run([str(exe), "getall", "nothing/x", "10", "-"], env=e,
                           capture_output=True)
        assert r.returncode == 1 and b"not_found" in r.stderr
        c = ctl.counts()
        assert c["HEAD"] == 1 and c["GET"] == 2 and c["faults"] == 1, c
    finally:
        p.terminate()
        p.wait(timeout=10)
