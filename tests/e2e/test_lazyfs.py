"""thaw-lazyfs on its own (no thawd, no VMs): a file:// object store made
here, manifests written by hand (docs/artifacts.md, format 1), the file
system mounted for real.

Each test mounts its own lazyfs on a temp dir. Reads that must touch one
window only use POSIX_FADV_RANDOM (no kernel readahead into the next
window). Needs root and /dev/fuse."""

import errno
import hashlib
import json
import mmap
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import thawlib as T

WB = 64 * 1024  # the smallest window: tests stay small


def lazyfs_bin():
    env = os.environ.get("THAW_BIN_DIR")
    if env:
        return Path(env) / "thaw-lazyfs"
    san = T.REPO / "build-san" / "bin" / "thaw-lazyfs"
    return san if san.exists() else T.REPO / "build" / "bin" / "thaw-lazyfs"


pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse") or not lazyfs_bin().exists(),
    reason="needs root, /dev/fuse and thaw-lazyfs (make)")


# ---- a store and its manifests ---------------------------------------------


def windows_of(data, key, base=0, bad=()):
    """Manifest windows of data stored at key from offset base; indices in
    bad get a wrong sha256."""
    out = []
    for i in range(0, len(data), WB):
        chunk = data[i:i + WB]
        if chunk.count(0) == len(chunk):
            out.append(None)
            continue
        sha = hashlib.sha256(chunk).hexdigest()
        if i // WB in bad:
            sha = hashlib.sha256(b"not " + chunk).hexdigest()
        out.append({"object": key, "offset": base + i, "sha256": sha})
    return out


def manifest(memory, rootfs, prefetch=()):
    return {
        "format": 1, "kind": "template", "name": "t", "build_id": "b-1", "parent": None,
        "created_at": 1765000000, "meta": {"name": "t"}, "window_bytes": WB,
        "files": {
            "memory": memory, "rootfs": rootfs,
            "state": {"size": 3, "object": "data/t/b-1/state",
                      "sha256": hashlib.sha256(b"abc").hexdigest()},
        },
        "prefetch": {"memory": list(prefetch)},
    }


def make_data(seed, nwin, zero=(), tail=0):
    rng = random.Random(seed)
    data = bytearray(rng.randbytes(nwin * WB + tail))
    for z in zero:
        data[z * WB:(z + 1) * WB] = bytes(WB)
    return bytes(data)


class Env:
    def __init__(self, tmp):
        self.store = tmp / "store"
        self.cache = tmp / "cache"
        self.mnt = tmp / "mnt"
        for d in (self.store, self.cache / "manifests", self.mnt):
            d.mkdir(parents=True)
        self.proc = None
        self.log = tmp / "lazyfs.log"

    def put(self, key, data):
        p = self.store / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    def artifact(self, aid, memory, rootfs=None, bad=(), prefetch=()):
        """Uploads memory (and rootfs) and writes the manifest of aid."""
        rootfs = rootfs if rootfs is not None else make_data(hash(aid) & 0xffff, 2)
        self.put(f"data/{aid}/memory", memory)
        self.put(f"data/{aid}/rootfs", rootfs)
        m = manifest({"size": len(memory), "windows": windows_of(memory, f"data/{aid}/memory",
                                                                  bad=bad)},
                     {"size": len(rootfs), "windows": windows_of(rootfs, f"data/{aid}/rootfs")},
                     prefetch)
        self.write_manifest(aid, json.dumps(m))

    def write_manifest(self, aid, text):
        tmp = self.cache / "manifests" / f".{aid}.tmp"
        tmp.write_text(text)
        tmp.rename(self.cache / "manifests" / f"{aid}.json")

    def start(self, *extra):
        env = dict(os.environ, THAW_S3_ENDPOINT=f"file://{self.store}")
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [str(lazyfs_bin()), "--mount", str(self.mnt), "--cache", str(self.cache),
             "--foreground", *extra], env=env, stdout=self.logf, stderr=self.logf)
        deadline = time.monotonic() + 20
        while not os.path.ismount(self.mnt):
            assert self.proc.poll() is None, f"lazyfs exited: {self.log.read_text()}"
            assert time.monotonic() < deadline, "lazyfs did not mount"
            time.sleep(0.02)

    def stop(self):
        """SIGTERM: a clean unmount and exit 0 (no sanitizer report)."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self.logf.close()
        log = self.log.read_text()
        assert rc == 0, f"lazyfs exited {rc}: {log[-3000:]}"
        assert "Sanitizer" not in log, log[-3000:]
        assert not os.path.ismount(self.mnt)
        self.proc = None

    def stats(self, aid=None):
        p = self.mnt / aid / ".stats" if aid else self.mnt / ".stats"
        return json.loads(p.read_text())

    def trace(self, aid):
        return json.loads((self.mnt / aid / ".trace").read_text())

    def path(self, aid, f="memory"):
        return self.mnt / aid / f


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    if e.proc is not None:
        if e.proc.poll() is None:
            e.proc.kill()
            e.proc.wait()
        e.logf.close()
    # A dead instance's mount answers ENOTCONN (os.path.ismount says no).
    if mounted(e.mnt):
        subprocess.run(["umount", "-l", str(e.mnt)], check=False)


def mounted(path):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == str(path) for line in f)


def pread(path, off, n):
    """Reads without readahead (touches only the windows of [off, off+n))."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        return os.pread(fd, n, off)
    finally:
        os.close(fd)


def wait_for(cond, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# ---- tests ------------------------------------------------------------------


def test_sizes_listing_and_contents(env):
    mem = make_data(1, 9, zero=(2, 6), tail=1234)
    env.artifact("a1", mem)
    env.start()
    assert sorted(os.listdir(env.mnt)) == [".stats", "a1"]
    assert sorted(os.listdir(env.mnt / "a1")) == [".stats", ".trace", "memory", "rootfs"]
    st = os.stat(env.path("a1"))
    # memory is 0666 (a jailed VMM reopens it read-write to map it
    # MAP_PRIVATE; writes are refused all the same), rootfs 0444.
    assert st.st_size == len(mem) and st.st_mode & 0o777 == 0o666 and st.st_uid == 0
    st = os.stat(env.path("a1", "rootfs"))
    assert st.st_size == 2 * WB and st.st_mode & 0o777 == 0o444
    rng = random.Random(5)
    with open(env.path("a1"), "rb") as f:
        for _ in range(200):
            off = rng.randrange(len(mem))
            n = rng.choice([1, 100, 4096, WB, WB + 17, 3 * WB])
            f.seek(off)
            assert f.read(n) == mem[off:off + n], f"{n} bytes at {off}"
        f.seek(len(mem) - 10)
        assert f.read(100) == mem[-10:]  # short read at the end
    assert env.path("a1").read_bytes() == mem
    s = env.stats("a1")["memory"]
    assert (s["windows"], s["zero"], s["present"]) == (10, 2, 8)
    assert s["cached_percent"] == 100.0
    env.stop()


def test_zero_windows_read_without_fetch(env):
    env.artifact("z", make_data(2, 4, zero=(1, 2)))
    env.start()
    before = env.stats()
    assert pread(env.path("z"), WB, 2 * WB) == bytes(2 * WB)
    after = env.stats()
    assert after["gets"] == before["gets"]
    assert after["zero_windows_skipped"] >= before["zero_windows_skipped"] + 2
    env.stop()


def test_zero_windows_are_holes_to_lseek(env):
    """SEEK_DATA/SEEK_HOLE follow the manifest (thawd copies a streamed
    template's memory by its data only), without fetching anything."""
    env.artifact("h", make_data(9, 6, zero=(0, 2, 3), tail=0))
    env.start()
    fd = os.open(env.path("h"), os.O_RDONLY)
    try:
        assert os.lseek(fd, 0, os.SEEK_DATA) == 1 * WB
        assert os.lseek(fd, WB, os.SEEK_HOLE) == 2 * WB
        assert os.lseek(fd, 2 * WB + 5, os.SEEK_DATA) == 4 * WB
        assert os.lseek(fd, 4 * WB, os.SEEK_HOLE) == 6 * WB  # the end
        assert os.lseek(fd, 4 * WB + 7, os.SEEK_DATA) == 4 * WB + 7
        with pytest.raises(OSError) as e:
            os.lseek(fd, 6 * WB, os.SEEK_DATA)
        assert e.value.errno == errno.ENXIO
    finally:
        os.close(fd)
    assert env.stats()["gets"] == 0
    env.stop()


def test_wrong_sha256_is_eio_and_never_cached(env):
    mem = make_data(3, 4)
    env.artifact("bad", mem, bad=(2,))
    env.start()
    for attempt in range(2):
        before = env.stats()
        with pytest.raises(OSError) as e:
            pread(env.path("bad"), 2 * WB + 100, 10)
        assert e.value.errno == errno.EIO
        after = env.stats()
        # Fetched again each time (the kernel may retry a failed read
        # once): the bad bytes were not kept.
        assert after["gets"] >= before["gets"] + 1, attempt
        assert after["fetch_errors"] == before["fetch_errors"] + \
            (after["gets"] - before["gets"])
    assert env.stats("bad")["memory"]["present"] == 0
    assert pread(env.path("bad"), 3 * WB, 10) == mem[3 * WB:3 * WB + 10]  # the others work
    env.stop()


def test_mmap_private_and_no_writes(env):
    mem = make_data(4, 6, zero=(3,))
    env.artifact("mm", mem)
    env.start()
    fd = os.open(env.path("mm"), os.O_RDWR)  # as a VMM gets it: O_RDWR, MAP_PRIVATE
    try:
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"x", 0)
        assert e.value.errno == errno.EROFS
        m = mmap.mmap(fd, len(mem), flags=mmap.MAP_PRIVATE,
                      prot=mmap.PROT_READ | mmap.PROT_WRITE)
        assert m[:] == mem
        m[0:5] = b"HELLO"  # copy on write: the file does not change
        m[3 * WB:3 * WB + 2] = b"zz"
        assert m[0:5] == b"HELLO"
        m.close()
    finally:
        os.close(fd)
    assert env.path("mm").read_bytes() == mem
    with pytest.raises(OSError) as e:
        os.open(env.path("mm"), os.O_WRONLY)
    assert e.value.errno in (errno.EROFS, errno.EACCES)
    env.stop()


def test_concurrent_readers_share_one_fetch(env):
    mem = make_data(5, 4)
    env.artifact("cc", mem)
    env.start()
    before = env.stats()["gets"]
    barrier = threading.Barrier(8)
    results = {}

    def reader(k):
        barrier.wait()
        off = WB + k * 4096  # eight pages of window 1
        results[k] = pread(env.path("cc"), off, 4096) == mem[off:off + 4096]

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results.values()) and len(results) == 8
    assert env.stats()["gets"] == before + 1
    env.stop()


def test_restart_keeps_the_cache(env):
    mem = make_data(6, 5, zero=(1,))
    env.artifact("rs", mem)
    env.start()
    assert env.path("rs").read_bytes() == mem
    assert env.stats()["gets"] == 4
    env.stop()
    env.start()
    assert env.stats()["cache_bytes"] == 4 * WB  # recovered from the bitmaps
    assert env.path("rs").read_bytes() == mem
    s = env.stats()
    assert s["gets"] == 0 and s["cache_hits"] > 0 and s["verify_failures"] == 0
    env.stop()


def test_corrupt_cache_files_are_refetched(env):
    mem = make_data(7, 3)
    env.artifact("cf", mem)
    env.start()
    assert env.path("cf").read_bytes() == mem
    env.stop()
    objs = env.cache / "objects"
    data = objs / (hashlib.sha256(b"data/cf/memory").hexdigest() + ".data")
    bitmap = data.with_suffix(".bitmap")
    with open(data, "r+b") as f:  # one window's bytes damaged
        f.seek(WB + 5)
        f.write(b"\xff\xfe")
    rbitmap = objs / (hashlib.sha256(b"data/cf/rootfs").hexdigest() + ".bitmap")
    rbitmap.write_bytes(b"garbage")  # a bitmap that does not check out
    env.start()
    assert env.path("cf").read_bytes() == mem
    assert env.path("cf", "rootfs").read_bytes() == (env.store / "data/cf/rootfs").read_bytes()
    s = env.stats()
    assert s["verify_failures"] == 1
    assert s["gets"] == 1 + 2  # the damaged window, the rootfs whose bitmap was bad
    assert bitmap.exists()
    env.stop()


def test_eviction_keeps_open_files(env):
    pinned = make_data(8, 12)
    loose = make_data(9, 12)
    env.artifact("pin", pinned, rootfs=make_data(10, 1))
    env.artifact("loose", loose, rootfs=make_data(11, 1))
    more = make_data(18, 12)
    env.artifact("more", more, rootfs=make_data(19, 1))
    env.start("--cache-high-mib", "1", "--cache-low-mib", "0")
    f = open(env.path("pin"), "rb")
    try:
        assert f.read() == pinned
        assert env.path("loose").read_bytes() == loose  # opened and closed
        wait_for(lambda: env.stats()["evicted_bytes"] >= 12 * WB, what="eviction")
        s = env.stats()
        assert s["pinned_bytes"] == 12 * WB
        assert s["cache_bytes"] == 12 * WB  # what is left: the open file's windows
        assert env.stats("pin")["memory"]["present"] == 12
        assert env.stats("loose")["memory"]["present"] == 0
        before = env.stats()["gets"]
        f.seek(0)
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        assert f.read() == pinned
        assert env.stats()["gets"] == before  # the pinned windows were kept
    finally:
        f.close()
    # Closed, the file's windows may go too (the next store passes the mark).
    assert env.path("more").read_bytes() == more
    wait_for(lambda: env.stats("pin")["memory"]["present"] == 0, what="unpinned eviction")
    env.stop()


def test_sigkill_fails_reads_and_a_new_instance_mounts(env):
    mem = make_data(12, 3)
    env.artifact("k", mem)
    env.start()
    fd = os.open(env.path("k"), os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        assert os.pread(fd, 10, 0) == mem[:10]
        env.proc.kill()
        env.proc.wait()
        env.logf.close()
        env.proc = None
        outcome = {}

        def read_after():
            try:
                os.pread(fd, 10, 2 * WB)
                outcome["r"] = "data"
            except OSError as e:
                outcome["r"] = e.errno

        t = threading.Thread(target=read_after, daemon=True)
        t.start()
        t.join(10)
        assert not t.is_alive(), "a read on a dead lazyfs hung"
        assert outcome["r"] in (errno.ENOTCONN, errno.EIO, errno.ECONNABORTED), outcome
    finally:
        try:
            os.close(fd)  # the flush fails on a dead connection
        except OSError as e:
            assert e.errno == errno.ENOTCONN
    with pytest.raises(OSError) as e:
        os.stat(env.path("k"))
    assert e.value.errno == errno.ENOTCONN
    subprocess.run(["umount", "-l", str(env.mnt)], check=True)
    env.start()
    assert env.path("k").read_bytes() == mem
    env.stop()


def test_a_stale_mount_is_detached_by_the_next_instance(env):
    mem = make_data(13, 2)
    env.artifact("st", mem)
    env.start()
    env.proc.kill()
    env.proc.wait()
    env.logf.close()
    env.proc = None
    env.start()  # no umount -l first
    assert env.path("st").read_bytes() == mem
    env.stop()


def test_trace_is_first_touch_order(env):
    env.artifact("tr", make_data(14, 8, zero=(3,)))
    env.start()
    assert env.trace("tr") == []
    for w in (4, 1, 3, 4, 7, 1):
        pread(env.path("tr"), w * WB + 8192, 100)
    assert env.trace("tr") == [4, 1, 3, 7]
    pread(env.path("tr", "rootfs"), 0, 100)  # rootfs reads are not traced
    assert env.trace("tr") == [4, 1, 3, 7]
    env.stop()


def test_prefetch_on_first_open(env):
    mem = make_data(15, 8, zero=(2,))
    env.artifact("pf", mem, prefetch=[5, 2, 0, 6])
    env.start()
    assert env.stats()["gets"] == 0
    with open(env.path("pf"), "rb"):
        wait_for(lambda: env.stats()["prefetched"] == 3, what="prefetch")
    # 5 and 6 lie next to each other in the object: one ranged GET for
    # both, unless another prefetch worker took 6 first.
    gets = env.stats()["gets"]
    assert gets in (2, 3)
    for w in (5, 0, 6):
        assert pread(env.path("pf"), w * WB, WB) == mem[w * WB:(w + 1) * WB]
    s = env.stats()
    assert s["gets"] == gets and s["cache_hits"] >= 3
    assert env.trace("pf") == [5, 0, 6]  # prefetching touches nothing
    env.stop()


def test_invalid_and_removed_manifests(env):
    mem = make_data(16, 2)
    env.artifact("ok", mem)
    good = json.loads((env.cache / "manifests" / "ok.json").read_text())
    bad = dict(good, window_bytes=WB * 3)
    env.write_manifest("bad", json.dumps(bad))
    env.write_manifest("junk", "{not json")
    (env.cache / "manifests" / "no spaces.json").write_text(json.dumps(good))
    env.start()
    for aid in ("bad", "junk", "no spaces", "missing"):
        assert not os.path.exists(env.mnt / aid), aid
    assert sorted(os.listdir(env.mnt)) == [".stats", "ok"]
    f = open(env.path("ok"), "rb")
    try:
        os.unlink(env.cache / "manifests" / "ok.json")
        assert not os.path.exists(env.mnt / "ok")
        assert f.read() == mem  # an open file keeps working
    finally:
        f.close()
    env.write_manifest("ok", json.dumps(good))  # published again
    assert env.path("ok").read_bytes() == mem
    assert "lazyfs.manifest_refused" in env.log.read_text()
    env.stop()


def test_store_failure_is_eio(env):
    mem = make_data(17, 3)
    env.artifact("gone", mem)
    (env.store / "data/gone/memory").unlink()
    env.start()
    with pytest.raises(OSError) as e:
        pread(env.path("gone"), 0, 10)
    assert e.value.errno == errno.EIO
    assert env.stats()["fetch_errors"] >= 1
    env.stop()
