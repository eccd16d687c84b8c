"""Templates and paused sandboxes in object storage, restored on hosts that
never had their files (docs/artifacts.md).

Two thawd instances are two hosts: their own data dirs, caches, slot
ranges, ports and VMM uids, one bucket on a real S3 server (s3rver)
reached through a fault proxy that checks every request's SigV4
signature and injects latency, errors, resets and stalls. Host A bakes;
host B starts with an empty data dir and streams what A published."""

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

import thawlib as T
from thawlib import *  # noqa: F401,F403
from thawlib.faultproxy import FaultProxy

pytestmark = [pytest.mark.vm, pytest.mark.own_thawd, pytest.mark.slow]

MEMORY_BYTES = 512 << 20


@pytest.fixture(scope="module")
def store(s3):
    """The fault proxy in front of s3rver, checking signatures."""
    p = FaultProxy(upstream=(s3.host, s3.port)).start()
    p.set_sigv4(s3.access_key, s3.secret_key, s3.region)
    yield p
    p.stop()


def store_args(store, s3):
    return ["--s3-endpoint", store.endpoint, "--s3-bucket", s3.bucket, "--s3-region", s3.region,
            # Creates here measure streaming, not the warm pool.
            "--vmm-pool", "0"]


def fresh_data_dir(session, suffix, extra, env):
    """A host that has never seen anything: what an earlier run left in its
    data dir is torn down and removed."""
    data = Path(str(session.data_dir) + suffix)
    if data.exists():
        old = Thawd(data, bins=session.bins)
        old.extra_args = list(extra)
        old.extra_env = dict(env)
        old.teardown()
        shutil.rmtree(data)


@pytest.fixture(scope="module")
def host_a(thawd, s3, store):
    extra = store_args(store, s3)
    d = own_thawd(thawd, "-fleet-a", "10.213.0.0/16", extra=extra, env=s3.env())
    yield d
    problems = close_own_thawd(d, thawd)
    assert not problems, problems


@pytest.fixture(scope="module")
def host_b(thawd, s3, store, host_a):
    extra = store_args(store, s3)
    fresh_data_dir(thawd, "-fleet-b", instance_args("10.214.0.0/16") + extra, s3.env())
    d = own_thawd(thawd, "-fleet-b", "10.214.0.0/16", extra=extra, template=False,
                  env=s3.env())
    set_current(thawd)
    yield d
    problems = close_own_thawd(d, thawd)
    assert not problems, problems


def wait_for(what, fn, timeout=240):
    return wait_until(fn, timeout, interval=0.5, what=what)


def template_of(d, name):
    st, body = d.api("GET", f"/v1/templates/{name}")
    return body if st == 200 else None


def published(d, name):
    t = template_of(d, name)
    return t if t and t.get("artifacts", {}).get("location") == "local+remote" else None


def info(d):
    st, body = d.api("GET", "/v1/info")
    assert st == 200, body
    return body


def make(d, template=TEMPLATE, timeout=180, **kw):
    st, body = d.api("POST", "/v1/sandboxes", {"template": template, **kw}, timeout=timeout)
    return st, body


def exec_out(d, sid, script, timeout=90):
    st, body = d.api("POST", f"/v1/sandboxes/{sid}/exec", {"cmd": script}, timeout=timeout)
    assert st == 200, body
    return body


def drop(d, sid):
    st, body = d.api("DELETE", f"/v1/sandboxes/{sid}")
    assert st in (200, 204, 404), body


def snapshot_on_a(host_a, sid=None):
    """A fresh snapshot template on A (a new artifact no host has
    cached), published to the store before this returns."""
    own = sid is None
    if own:
        st, sb = make(host_a)
        assert st == 201, sb
        sid = sb["id"]
    name = "fleet-" + uuid.uuid4().hex[:8]
    exec_out(host_a, sid, f"echo {name} > /root/snapshot-marker")
    st, body = host_a.api("POST", f"/v1/sandboxes/{sid}/snapshot", {"template": name}, timeout=300)
    assert st in (200, 201), body
    if own:
        drop(host_a, sid)
    wait_for(f"{name} in the store", lambda: published(host_a, name), timeout=120)
    return name


def test_host_a_publishes_its_template(host_a):
    t = wait_for("A's template in the store", lambda: published(host_a, TEMPLATE))
    assert t["status"] == "ready"
    i = info(host_a)["object_store"]
    assert i["endpoint"].startswith("http://127.0.0.1:") and i["bucket"]
    assert i["lazy_layer_alive"] is True


def test_host_b_lists_the_template_as_remote(host_a, host_b):
    wait_for("A's template in the store", lambda: published(host_a, TEMPLATE))
    t = wait_for("B lists A's template", lambda: template_of(host_b, TEMPLATE), timeout=60)
    assert t["status"] == "ready", t
    assert t["artifacts"]["location"] == "remote", t["artifacts"]
    # Nothing of its memory or disk was fetched to list it.
    assert t["artifacts"].get("cached_percent", 0) == 0, t["artifacts"]
    # The CLI says where the files are.
    r = subprocess.run([str(host_b.cli_bin), "templates"], capture_output=True, text=True,
                       env={**os.environ, "THAW_API_URL": host_b.url,
                            "THAW_API_KEY": host_b.key}, timeout=60)
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith(TEMPLATE + " "))
    assert "remote (0% cached)" in line, r.stdout


def test_create_on_a_host_without_the_files(host_a, host_b, store):
    wait_for("B lists A's template", lambda: template_of(host_b, TEMPLATE), timeout=60)
    before = info(host_b)["object_store"]
    st, sb = make(host_b)
    assert st == 201, sb
    sid = sb["id"]
    # Measured at once: within 10 s of a create the janitor makes the
    # template's sealed copy, which fetches the rest of its memory.
    after = info(host_b)["object_store"]
    t = template_of(host_b, TEMPLATE)
    try:
        fetched = after["bytes_fetched"] - before["bytes_fetched"]
        assert after["gets"] > before["gets"], (before, after)
        # Only what the guest touched came over, and no all-zero window.
        assert 0 < fetched < MEMORY_BYTES // 2, (before, after)
        assert after["zero_windows_skipped"] >= before["zero_windows_skipped"]
        assert 0 < t["artifacts"]["cached_percent"] < 100, t["artifacts"]
        out = exec_out(host_b, sid, "echo streamed; python3 -c 'print(6*7)'")
        assert out["exit_code"] == 0 and out["stdout"] == "streamed\n42\n", out
        # A write lands in the sandbox's own overlay and reads back.
        st, _ = host_b.api("PUT", f"/v1/sandboxes/{sid}/files?path=/root/w.txt",
                           b"written on B")
        assert st in (200, 204)
        st, _, raw = host_b.request("GET", f"/v1/sandboxes/{sid}/files?path=/root/w.txt")
        assert st == 200 and raw == b"written on B"
        st, rc = host_b.api("POST", f"/v1/sandboxes/{sid}/run_code",
                            {"code": "sum(range(10))", "language": "python"})
        assert st == 200 and "45" in str(rc), rc
    finally:
        drop(host_b, sid)

    # The second create on the same host needs nothing from the store
    # (the lazy layer's GETs: both hosts also list the bucket now and then).
    # The janitor's sealed copy of the memory, made in the background after
    # the first create, fetches the windows the guest did not touch: wait
    # for it to finish first.
    wait_for("the memory cached (the sealed copy)",
             lambda: template_of(host_b, TEMPLATE)["artifacts"]["cached_percent"] == 100,
             timeout=120)
    gets = None
    while gets != info(host_b)["object_store"]["lazy_layer"]["gets"]:
        gets = info(host_b)["object_store"]["lazy_layer"]["gets"]
        time.sleep(1)
    st, sb = make(host_b)
    assert st == 201, sb
    try:
        assert info(host_b)["object_store"]["lazy_layer"]["gets"] == gets, \
            "the second create fetched from the store"
        # (A command the first sandbox never ran may read disk windows
        # nobody fetched yet: that is the disk streaming, not the create.)
        out = exec_out(host_b, sb["id"], "hostname")
        assert out["stdout"].strip() == sb["id"]
    finally:
        drop(host_b, sb["id"])


def memory_mapping(d, sid):
    """What the sandbox's VMM maps its guest RAM from."""
    pid = vmm_processes(d.prefix)[d.prefix + sid]
    for line in open(f"/proc/{pid}/maps"):
        if "thaw-mem:" in line or "/memory" in line:
            return line.split(None, 5)[-1].strip()
    return None


def test_streamed_template_gets_its_sealed_memory(host_a, host_b):
    """After a create, the janitor copies the streamed template's memory
    (its non-zero windows, through the lazy layer) into the sealed memfd a
    local template has: later VMMs map that, and share its pages like
    local ones."""
    wait_for("B lists A's template", lambda: template_of(host_b, TEMPLATE), timeout=60)
    st, first = make(host_b)
    assert st == 201, first
    try:
        wait_for("every memory window cached",
                 lambda: template_of(host_b, TEMPLATE)["artifacts"]["cached_percent"] == 100,
                 timeout=120)
        time.sleep(1)  # the copy is sealed right after its last window
        st, sb = make(host_b)
        assert st == 201, sb
        try:
            where = memory_mapping(host_b, sb["id"])
            assert where and "thaw-mem:" in where, where
            out = exec_out(host_b, sb["id"], "echo sealed")
            assert out["stdout"] == "sealed\n"
        finally:
            drop(host_b, sb["id"])
    finally:
        drop(host_b, first["id"])


def test_snapshot_on_a_creates_on_b(host_a, host_b):
    name = snapshot_on_a(host_a)
    st, sb = make(host_b, template=name)
    assert st == 201, sb
    try:
        out = exec_out(host_b, sb["id"], "cat /root/snapshot-marker")
        assert out["stdout"].strip() == name
    finally:
        drop(host_b, sb["id"])


def test_pause_on_a_resumes_on_b(host_a, host_b):
    st, sb = make(host_a)
    assert st == 201, sb
    sid = sb["id"]
    exec_out(host_a, sid, "echo kept > /root/paused.txt; "
             "nohup sleep 86400 >/dev/null 2>&1 & echo $! > /root/sleep.pid")
    image, _ = pause_and_upload(host_a, sid)
    t0 = time.monotonic()
    st, body = host_b.api("POST", f"/v1/sandboxes/{sid}/adopt", {"image": image}, timeout=300)
    took = time.monotonic() - t0
    assert st == 201, body
    assert body["state"] == "running" and body["id"] == sid, body
    try:
        out = exec_out(host_b, sid, "cat /root/paused.txt; kill -0 $(cat /root/sleep.pid) "
                       "&& echo alive")
        assert out["stdout"] == "kept\nalive\n", out
        # Adopting twice is refused.
        st, again = host_b.api("POST", f"/v1/sandboxes/{sid}/adopt", {"image": image})
        assert st == 409, again
        print(f"\nresume on the other host: {took * 1000:.0f} ms")
    finally:
        drop(host_b, sid)
        drop(host_a, sid)


def pause_and_upload(d, sid):
    """Pauses sid on d and waits for its image in the store: (image id,
    bytes this host uploaded meanwhile)."""
    before = info(d)["object_store"]["bytes_uploaded"]
    st, paused = d.api("POST", f"/v1/sandboxes/{sid}/pause", {}, timeout=300)
    assert st == 200 and paused["state"] == "paused", paused

    def uploaded():
        st, body = d.api("GET", f"/v1/sandboxes/{sid}")
        return st == 200 and body.get("image", {}).get("in_object_store")

    wait_for("the paused image in the store", uploaded, timeout=180)
    return paused["image"]["id"], info(d)["object_store"]["bytes_uploaded"] - before


def move(sid, image, to, away_from):
    """The sandbox adopted (and running) on host to from its image; the
    host it left forgets it."""
    st, body = to.api("POST", f"/v1/sandboxes/{sid}/adopt", {"image": image}, timeout=300)
    assert st == 201 and body["state"] == "running", body
    drop(away_from, sid)


CHECK = ("cat /root/one.txt /root/two.txt 2>/dev/null; sha256sum /root/blob | cut -c1-16; "
         "kill -0 $(cat /root/sleep.pid) && echo alive")


def test_streamed_sandbox_pauses_forks_snapshots_and_moves_on(host_a, host_b):
    """A sandbox of a template host B streams (its memory and disk are not
    on B) is forked, snapshot, paused and resumed like any other; paused
    again, it uploads only what changed since its last pause; it moves to
    A and back, paused on each host, with its processes and files."""
    wait_for("B lists A's template", lambda: template_of(host_b, TEMPLATE), timeout=60)
    st, sb = make(host_b)
    assert st == 201, sb
    sid = sb["id"]
    snap = "fleet-" + uuid.uuid4().hex[:8]
    try:
        out = exec_out(host_b, sid, "echo one > /root/one.txt; "
                       "head -c 16M /dev/urandom > /root/blob; sync; "
                       "nohup sleep 86400 >/dev/null 2>&1 & echo $! > /root/sleep.pid; "
                       "sha256sum /root/blob | cut -c1-16")
        blob = out["stdout"].strip()
        want = f"one\n{blob}\nalive\n"

        # Fork: the children are local images' sandboxes.
        st, fk = host_b.api("POST", f"/v1/sandboxes/{sid}/fork", {"count": 1}, timeout=300)
        assert st == 201, fk
        child = fk["sandboxes"][0]["id"]
        try:
            assert exec_out(host_b, child, CHECK)["stdout"] == want
        finally:
            drop(host_b, child)

        # Pause and resume on B; then pause again: only the change goes up.
        image1, up1 = pause_and_upload(host_b, sid)
        st, body = host_b.api("POST", f"/v1/sandboxes/{sid}/resume", {}, timeout=300)
        assert st == 200 and body["state"] == "running", body
        assert exec_out(host_b, sid, CHECK)["stdout"] == want
        exec_out(host_b, sid, "echo two > /root/two.txt; sync")
        want = f"one\ntwo\n{blob}\nalive\n"
        image2, up2 = pause_and_upload(host_b, sid)
        assert image2 != image1
        # The 16 MiB of disk (and its page cache) went up with the first
        # image only.
        assert up1 > 16 << 20, (up1, up2)
        assert up2 < up1 - (12 << 20), (up1, up2)

        # To A, paused there (A streams the image), and back to B.
        move(sid, image2, to=host_a, away_from=host_b)
        assert exec_out(host_a, sid, CHECK)["stdout"] == want
        exec_out(host_a, sid, "echo three >> /root/two.txt; sync")
        want = f"one\ntwo\nthree\n{blob}\nalive\n"
        image3, up3 = pause_and_upload(host_a, sid)
        assert up3 < up1 - (12 << 20), (up1, up3)
        move(sid, image3, to=host_b, away_from=host_a)
        assert exec_out(host_b, sid, CHECK)["stdout"] == want

        # Snapshot of the adopted (streamed) sandbox: a template here.
        st, body = host_b.api("POST", f"/v1/sandboxes/{sid}/snapshot", {"template": snap},
                              timeout=300)
        assert st in (200, 201), body
        st, made = make(host_b, template=snap)
        assert st == 201, made
        try:
            out = exec_out(host_b, made["id"], "cat /root/one.txt /root/two.txt")
            assert out["stdout"] == "one\ntwo\nthree\n", out
        finally:
            drop(host_b, made["id"])
        wait_for(f"{snap} in the store", lambda: published(host_b, snap), timeout=120)
        print(f"\nuploaded: first pause {up1 >> 20} MiB, second {up2 >> 20} MiB, "
              f"on the other host {up3 >> 20} MiB")
    finally:
        drop(host_b, sid)
        drop(host_a, sid)
        host_b.api("DELETE", f"/v1/templates/{snap}")


def test_adopt_needs_an_admin_and_a_real_image(host_b):
    st, body = host_b.api("POST", "/v1/sandboxes/sb-aaaaaaaaaaaa/adopt",
                          {"image": "20990101T000000-zzzz"})
    assert st in (400, 404), body
    st, body = host_b.api("POST", "/v1/sandboxes/sb-x/adopt", {"images": 1})
    assert st == 400, body


def test_store_errors_during_a_cold_create_are_retried(host_a, host_b, store):
    name = snapshot_on_a(host_a)
    template_of(host_b, name)  # imported (small files only)
    store.fail_next(3, status=503, method="GET", path="/data/")
    store.reset_next(1, method="GET", path="/data/")
    try:
        st, sb = make(host_b, template=name)
        assert st == 201, sb
        out = exec_out(host_b, sb["id"], "cat /root/snapshot-marker")
        assert out["stdout"].strip() == name
        drop(host_b, sb["id"])
    finally:
        store.clear()


def test_a_stalled_store_fails_the_create_in_bounded_time(host_a, host_b, store):
    name = snapshot_on_a(host_a)
    assert template_of(host_b, name), f"B does not list {name}:\n{host_b.log_tail(30)}"
    before = set(live_ids(host_b))
    store.stall_next(1000, method="GET", path="/data/", seconds=120)
    try:
        t0 = time.monotonic()
        st, body = make(host_b, template=name, timeout=120)
        took = time.monotonic() - t0
        assert st >= 500, body
        assert took < 30, f"the create took {took:.1f} s to fail"
        assert "error" in body, body
    finally:
        store.clear()
    # Nothing of it is left, and the same create works once the store answers.
    wait_for("the failed sandbox to go", lambda: set(live_ids(host_b)) <= before,
             timeout=60)
    st, sb = make(host_b, template=name)
    assert st == 201, sb
    drop(host_b, sb["id"])


def live_ids(d):
    st, body = d.api("GET", "/v1/sandboxes")
    assert st == 200, body
    return [s["id"] for s in body["sandboxes"] if s["state"] != "failed"]


def test_lazy_layer_killed_mid_restore(host_a, host_b, store):
    name = snapshot_on_a(host_a)
    assert template_of(host_b, name), f"B does not list {name}:\n{host_b.log_tail(30)}"
    pid_file = host_b.data_dir / "logs" / "lazyfs.log.pid"
    starts = info(host_b)["object_store"]["lazy_layer_starts"]
    store.set_latency(200)  # a slow store keeps the restore in flight
    result = {}

    def run():
        result["r"] = make(host_b, template=name, timeout=120)

    t = threading.Thread(target=run)
    t0 = time.monotonic()
    t.start()
    try:
        time.sleep(1.0)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        t.join(60)
        assert not t.is_alive(), "the create hung after the lazy layer died"
    finally:
        store.set_latency(0)
    took = time.monotonic() - t0
    assert took < 40, took
    st, body = result["r"]
    if st == 201:  # it had every page it needed before the kill
        drop(host_b, body["id"])
    wait_for("a new lazy layer",
             lambda: info(host_b)["object_store"]["lazy_layer_starts"] > starts, timeout=30)
    assert info(host_b)["object_store"]["lazy_layer_alive"]
    st, sb = make(host_b, template=name)
    assert st == 201, sb
    out = exec_out(host_b, sb["id"], "cat /root/snapshot-marker")
    assert out["stdout"].strip() == name
    drop(host_b, sb["id"])


def test_upload_failure_publishes_nothing_then_retries(host_a, host_b, store):
    st, sb = make(host_a)
    assert st == 201, sb
    name = "fleet-up-" + uuid.uuid4().hex[:6]
    store.fail_next(10000, status=500, method="PUT")
    try:
        st, body = host_a.api("POST", f"/v1/sandboxes/{sb['id']}/snapshot", {"template": name},
                              timeout=300)
        # The snapshot itself is made here; only its upload failed.
        assert st in (200, 201), body
        assert template_of(host_a, name)["artifacts"]["location"] == "local"
        assert template_of(host_b, name) is None, "a half-published template was listed"
    finally:
        store.clear()
        drop(host_a, sb["id"])
    # The janitor's sync publishes it once the store takes writes.
    wait_for(f"{name} published after the store recovered", lambda: published(host_a, name),
             timeout=120)
    assert wait_for(f"B lists {name}", lambda: template_of(host_b, name), timeout=60)


def test_thawd_killed_mid_streamed_create_recovers(host_a, host_b, store):
    """SIGKILL of thawd while a create streams from a slow store: the
    restart adopts the lazy layer (same process, same mount) and its
    cache, removes the half-made sandbox, and creates again."""
    name = snapshot_on_a(host_a)
    assert template_of(host_b, name), f"B does not list {name}:\n{host_b.log_tail(30)}"
    lazy_pid = int((host_b.data_dir / "logs" / "lazyfs.log.pid").read_text())
    store.set_latency(150)
    result = {}

    def run():
        try:
            result["r"] = make(host_b, template=name, timeout=60)
        except OSError as e:  # the connection dies with thawd
            result["r"] = (None, str(e))

    t = threading.Thread(target=run)
    t.start()
    try:
        time.sleep(0.8)
        host_b.restart(signal.SIGKILL)
        t.join(60)
        assert not t.is_alive()
    finally:
        store.set_latency(0)
    # The lazy layer outlived thawd and was adopted, not replaced.
    assert int((host_b.data_dir / "logs" / "lazyfs.log.pid").read_text()) == lazy_pid
    i = info(host_b)["object_store"]
    assert i["lazy_layer_alive"] and i["lazy_layer_starts"] == 1, i
    st, body = result["r"]
    if st == 201:  # it finished before the kill
        drop(host_b, body["id"])
    wait_for("no half-made sandbox", lambda: not live_ids(host_b), timeout=60)
    st, sb = make(host_b, template=name)
    assert st == 201, sb
    out = exec_out(host_b, sb["id"], "cat /root/snapshot-marker")
    assert out["stdout"].strip() == name
    drop(host_b, sb["id"])


def bucket(s3, *args):
    """tests/it/objstore_it straight on the bucket (no proxy): stdout."""
    exe = T.bin_dir().parent / "tests" / "it" / "objstore_it"
    env = dict(os.environ)
    env.update(s3.env())
    r = subprocess.run([str(exe), *map(str, args)], env=env, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout.decode()


def bucket_keys(s3, prefix):
    return [line.split()[0] for line in bucket(s3, "list", prefix).splitlines()
            if not line.startswith("count ")]


def test_bucket_collector_deletes_only_what_no_manifest_names(host_a, host_b, s3):
    """The collector deletes an object no manifest names once it is older
    than the grace period, and nothing any manifest names."""
    orphan = f"data/gc-{uuid.uuid4().hex[:8]}/memory"
    bucket(s3, "putstr", orphan, "left by an upload that never finished")
    gc = "/v1/object-store/gc"
    st, r = host_b.api("POST", gc, {})  # the configured grace: a day
    assert st == 200, r
    assert r["deleted"] == 0 and r["young"] >= 1 and r["live"] > 0 and r["manifests"] >= 2, r
    st, r = host_b.api("POST", gc, {"grace_s": 0, "dry_run": True})
    assert st == 200 and r["deleted"] >= 1 and r["dry_run"], r
    assert orphan in bucket_keys(s3, "data/gc-")
    st, r = host_b.api("POST", gc, {"grace_s": 0})
    assert st == 200 and r["deleted"] >= 1, r
    assert orphan not in bucket_keys(s3, "data/gc-")
    assert info(host_b)["object_store"]["gc"]["deleted"] >= r["deleted"]
    # Every object a manifest names is still there.
    data = set(bucket_keys(s3, "data/"))
    manifests = [k for p in ("templates/", "images/") for k in bucket_keys(s3, p)
                 if k.endswith("/manifest.json")]
    assert len(manifests) == r["manifests"], (manifests, r)
    for key in manifests:
        m = json.loads(bucket(s3, "getall", key, 256 << 20, "-"))
        named = {w["object"] for f in ("memory", "rootfs")
                 for w in m["files"][f]["windows"] if w}
        named |= {m["files"][b]["object"] for b in ("state", "kernel", "initrd")
                  if b in m["files"]}
        assert named <= data, (key, named - data)
    # And a host still creates from them.
    st, sb = make(host_b)
    assert st == 201, sb
    drop(host_b, sb["id"])
    for body in ({"grace_s": -1}, {"grace": 1}, {"dry_run": "yes"}):
        st, r = host_b.api("POST", gc, body)
        assert st == 400, (body, r)
