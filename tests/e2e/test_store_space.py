"""The store's room is the disk's room, on a thawd of its own whose data
dir is a small tmpfs (data dir <session data dir>-tiny, slots from
10.233.0.0/16, no template, no VMs).

A loop-mounted store is a sparse image: its XFS believes it has the
image's full size while the disk below may have far less, and a write the
disk cannot take becomes an I/O error inside the image. Here the image
(8 GiB) is larger than the tmpfs that holds it (1.5 GiB), as on a host
whose disk is nearly full. thawd must count the disk's free space, refuse
work it has no room for, and give the disk back the blocks of what it
deletes (without that the image only grows: a CI run once ran out of disk
because of it)."""

import os
import subprocess
import time
from pathlib import Path

import pytest

import thawlib as T

pytestmark = pytest.mark.own_thawd

TMPFS_MB = 1536


def _mounted(path):
    return subprocess.run(["mountpoint", "-q", str(path)]).returncode == 0


def _disk_free_mb(path):
    v = os.statvfs(path)
    return v.f_bavail * v.f_frsize >> 20


def _disk_used_mb(path):
    v = os.statvfs(path)
    return (v.f_blocks - v.f_bfree) * v.f_frsize >> 20


@pytest.fixture(scope="module")
def tiny(thawd):
    data = Path(str(thawd.data_dir) + "-tiny")
    if _mounted(data):  # an earlier run that did not finish
        old = T.Thawd(data, bins=thawd.bins)
        old.teardown()
        subprocess.run(["umount", str(data)], check=True)
    data.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m,mode=0755",
                    "thaw-e2e-tiny", str(data)], check=True)
    problems = None
    try:
        d = T.own_thawd(thawd, "-tiny", "10.233.0.0/16",
                        ["--store-size", "8", "--vmm-pool", "0"], template=False)
        yield d
        problems = T.close_own_thawd(d, thawd)
    finally:
        subprocess.run(["umount", str(data)])
        data.rmdir()
    assert not problems, "the tiny thawd: " + "; ".join(problems)


def _info_disk():
    st, info = T.api("GET", "/v1/info")
    assert st == 200, info
    return info["disk"]


def test_free_space_is_the_disks(tiny):
    disk = _info_disk()
    below = _disk_free_mb(tiny.data_dir)
    assert disk["mode"] == "xfs-loop", disk
    # The image's XFS alone would say ~8 GiB.
    assert disk["size_mb"] <= TMPFS_MB and disk["free_mb"] <= below + 16, (disk, below)
    assert disk["free_mb"] >= below - 64, (disk, below)
    T.check(f"an 8 GiB store image on a {TMPFS_MB} MiB disk: /v1/info says "
            f"{disk['size_mb']} MiB, {disk['free_mb']} MiB free (the disk: {below} MiB free)")


def test_deleted_files_give_their_blocks_back(tiny):
    before = _disk_used_mb(tiny.data_dir)
    fill = tiny.store / "tmp" / "e2e-fill"
    fill.parent.mkdir(exist_ok=True)
    chunk = os.urandom(1 << 20)
    with open(fill, "wb") as f:
        for _ in range(400):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    grown = _disk_used_mb(tiny.data_dir) - before
    assert grown >= 380, f"400 MiB written into the store took {grown} MiB of the disk"
    fill.unlink()
    # Nothing forces it: thawd's janitor notices the XFS's free space
    # grew and trims (XFS alone would keep the blocks in the image).
    t0 = time.monotonic()
    T.wait_until(lambda: _disk_used_mb(tiny.data_dir) - before < 40, 15, interval=0.1,
                 what="the deleted file's blocks given back to the disk below")
    T.check(f"400 MiB written into the store took {grown} MiB of the disk below; once "
            f"deleted they were given back within {time.monotonic() - t0:.1f} s "
            "(thawd's janitor trims the store)")


def test_work_is_refused_when_the_disk_is_short(tiny):
    """Ballast beside the image (not in it) leaves the disk ~600 MiB: a
    bake needs its memory file and the 512 MiB kept for running guests,
    so it is refused at once with 503, not after minutes of building."""
    ballast = tiny.data_dir / "ballast"
    want_free = 600
    try:
        with open(ballast, "wb") as f:
            chunk = b"\1" * (1 << 20)
            while _disk_free_mb(tiny.data_dir) > want_free:
                f.write(chunk)
                f.flush()
        disk = _info_disk()
        assert disk["free_mb"] <= want_free + 16, disk
        t0 = time.monotonic()
        st, body = tiny.bake(T.TEMPLATE, timeout=60)
        took = time.monotonic() - t0
        if st == 200:  # refused inside the stream, as its first error event
            errors = [e for e in body if e.get("event") == "error"]
            assert errors and "store is full" in errors[0].get("error", ""), body[-3:]
            why = errors[0]["error"]
        else:
            assert st == 503 and "store is full" in body.get("error", ""), (st, body)
            why = body["error"]
        assert "needed" in why and took < 10, (why, took)
        st, t = T.api("GET", f"/v1/templates/{T.TEMPLATE}")
        assert st == 404 or t.get("status") != "ready", t
        assert not list((tiny.store / "templates").glob(f"{T.TEMPLATE}/.tmp-*"))
    finally:
        ballast.unlink(missing_ok=True)
    T.check(f"with {disk['free_mb']} MiB left on the disk below, a bake was refused in "
            f"{took:.1f} s: {why[:100]!r}")
