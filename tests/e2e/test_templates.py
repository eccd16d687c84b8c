"""Templates: the catalog, corruption caught before any VM starts, bake
refusals, and a re-bake that keeps the old build for the sandboxes using
it until the last one goes."""

import os
import time
from contextlib import contextmanager

import pytest

import thawlib as T


def test_catalog_lists_ready_template(template):
    info = T.template_info()
    assert info["status"] == "ready", info
    assert info["memory_mb"] == 512 and info["vcpus"] >= 1, info
    assert info["build_id"] and info["accel"] in ("tcg", "kvm"), info
    assert info["bytes"]["memory"] == 512 << 20 and info["bytes"]["state"] > 0, info
    assert info["source"] == {"kind": "bake"}, info
    st, one = T.api("GET", f"/v1/templates/{T.TEMPLATE}")
    assert st == 200, one
    # Disk usage is live: a warm VMM's disk clone may come or go between
    # the two requests and change which blocks are the template's alone.
    for d in (one, info):
        disk = d.pop("disk")
        assert disk["apparent_bytes"] >= disk["allocated_bytes"] >= disk["exclusive_bytes"]
    assert one == info, (one, info)
    T.check(f"{T.TEMPLATE}: ready, build {info['build_id']}, {info['memory_mb']} MiB, "
            f"{info['accel']}")


def _build_dir(thawd):
    return thawd.template_dir() / T.template_info()["build_id"]


@contextmanager
def preserved(path):
    """Yields the file's bytes; afterwards puts them back into the same
    inode (mode, owner and the path the catalog knows stay as they were)."""
    st = os.stat(path)
    orig = path.read_bytes()
    try:
        yield orig
    finally:
        with open(path, "r+b") as f:
            f.write(orig)
            f.truncate(len(orig))
        os.chown(path, st.st_uid, st.st_gid)
        os.chmod(path, st.st_mode & 0o7777)
        after = os.stat(path)
        assert (after.st_ino, after.st_mode, after.st_uid, after.st_gid) == \
            (st.st_ino, st.st_mode, st.st_uid, st.st_gid)
        assert path.read_bytes() == orig


def _assert_refused_as_corrupt(thawd, what, live_ids):
    st, body = T.api("POST", "/v1/sandboxes", {"timeout_s": 60})
    assert st == 409, f"create with {what} answered {st}: {body}"
    assert body["code"] == "corrupt" and "corrupt" in body["error"], body
    assert thawd.running(), f"thawd died on {what}"
    assert T.healthy()
    info = T.template_info()
    assert info["status"] == "corrupt" and info.get("detail"), info
    st, one = T.api("GET", f"/v1/templates/{T.TEMPLATE}")
    assert st == 200 and one["status"] == "corrupt", one
    assert sorted(T.list_ids()) == sorted(live_ids), "a refused create left a sandbox"
    T.assert_host_matches(live_ids)
    return body["error"]


def _assert_usable_again(live_id):
    info = T.template_info()
    assert info["status"] == "ready", f"not ready after restoring the file: {info}"
    sb = T.create(timeout_s=60)
    try:
        assert T.sh(sb["id"], ["echo", "ok"]) == "ok\n"
    finally:
        T.delete(sb["id"])
    assert T.sh(live_id, ["echo", "still"]) == "still\n"


def _corruptions(orig):
    mid = len(orig) // 2
    return [("truncated to half", lambda f: f.truncate(mid)),
            ("one byte flipped in the middle",
             lambda f: (f.seek(mid), f.write(bytes([orig[mid] ^ 0x01]))))]


@pytest.mark.parametrize("name", ["state.bin", "meta.json"])
def test_corrupt_file_refuses_create(thawd, sandboxes, name):
    running = sandboxes(timeout_s=600)["id"]  # must survive all of this
    path = _build_dir(thawd) / name
    seen = []
    with preserved(path) as orig:
        for what, damage in _corruptions(orig):
            with open(path, "r+b") as f:
                damage(f)
            msg = _assert_refused_as_corrupt(thawd, f"{name} {what}", [running])
            seen.append(f"{what}: {msg}")
            # Put it back: the catalog notices the change and verifies again.
            with open(path, "r+b") as f:
                f.write(orig)
                f.truncate(len(orig))
            _assert_usable_again(running)
    T.check(f"{name}: " + " | ".join(seen) + " -> 409 corrupt each time, status corrupt, "
            "thawd serving; restored -> ready and create works; a running sandbox unaffected")


def test_missing_state_file_refuses_create(thawd, sandboxes):
    running = sandboxes(timeout_s=600)["id"]
    path = _build_dir(thawd) / "state.bin"
    aside = path.with_name("state.bin.e2e-aside")
    os.rename(path, aside)
    try:
        _assert_refused_as_corrupt(thawd, "state.bin missing", [running])
    finally:
        os.rename(aside, path)
    _assert_usable_again(running)
    T.check("state.bin missing -> 409 corrupt; put back -> ready")


def test_bake_refusals(thawd):
    st, body = thawd.bake("no-such-recipe")
    assert st == 404 and isinstance(body, dict) and body["code"] == "not_found", (st, body)
    st, body = thawd.bake("Bad/Name")
    assert st == 400 and isinstance(body, dict) and body["code"] == "invalid_request", (st, body)
    assert T.template_info("no-such-recipe") is None
    assert T.healthy()
    T.check("bake of an unknown recipe -> 404 JSON before any stream; Bad/Name -> 400")


def test_default_template_boots_thaws_kernel_without_initramfs(thawd, template):
    info = T.template_info()
    assert info["kernel"].startswith("thaw 6."), info
    assert info["machine_rev"] == 3, info
    build = _build_dir(thawd)
    assert (build / "vmlinuz").stat().st_size > 1 << 20 and not (build / "initrd.img").exists()
    sid = T.create(timeout_s=120)["id"]
    out = T.sh(sid, "uname -r; cat /proc/cmdline; ls /sys/fs/cgroup/cgroup.controllers; "
                    "test -e /proc/modules && echo modules || echo no-modules")
    release, cmdline, controllers, modules = out.split("\n")[:4]
    assert release.startswith(info["kernel"].split()[1]), (release, info)
    assert "root=/dev/vda" in cmdline and "virtio_mmio.device=" in cmdline, cmdline
    assert controllers == "/sys/fs/cgroup/cgroup.controllers" and modules == "no-modules", out
    T.delete(sid)
    T.check(f"{info['kernel']}: no initramfs, no modules, devices from the command line, "
            "cgroup v2 mounted")


@pytest.mark.slow
def test_the_cloud_kernel_stays_a_recipe_option(thawd, template):
    """kernel=debian-cloud: Debian's kernel, its virtio drivers loaded from
    an initramfs, found through ACPI (machine_rev 2). Baked, restored,
    used, and deleted again (its files are a second template's worth)."""
    name = "code-interpreter-cloud"
    st, events = thawd.bake(name)
    assert st == 200 and events[-1]["event"] == "done", events[-3:]
    try:
        info = T.template_info(name)
        assert info["kernel"].startswith("debian-cloud "), info
        assert info["machine_rev"] == 2, info
        build = thawd.template_dir(name) / info["build_id"]
        assert (build / "initrd.img").stat().st_size > 0
        st, sb = T.api("POST", "/v1/sandboxes", {"template": name, "timeout_s": 120})
        assert st == 201, sb
        assert T.sh(sb["id"], "uname -r").strip().endswith("-cloud-amd64")
        assert T.sh(sb["id"], ["python3", "-c", "print(6 * 7)"]) == "42\n"
        T.delete(sb["id"])
    finally:
        st, body = T.api("DELETE", f"/v1/templates/{name}")
        assert st in (200, 204), (st, body)
    T.check(f"{name}: {info['kernel']} (machine_rev 2, initramfs) baked, ran python3, "
            "deleted")


@pytest.mark.slow
def test_rebake_new_build_old_sandboxes_keep_working(thawd, template):
    """ONE test for the whole re-bake (about 15-20 s with a warm cache)."""
    old = T.template_info()["build_id"]
    old_dir = thawd.template_dir() / old
    before = T.create(timeout_s=1200)
    T.sh(before["id"], "echo made-before > /root/mark")
    during = {}

    def on_event(ev):
        print(f"[rebake] {ev.get('stage') or ev.get('event')}: "
              f"{str(ev.get('message', ''))[:100]}", flush=True)
        # "agent": the bake's VMM has started (a create at the same time
        # as that spawn could trip the start-ticks race).
        if ev.get("stage") == "agent" and not during:
            # While the bake runs, the old build stays usable, and a
            # second bake of the same template is refused.
            during["info"] = T.template_info()
            during["create"] = T.api("POST", "/v1/sandboxes", {"timeout_s": 600})
            during["bake2"] = T.api("POST", "/v1/templates", {"name": T.TEMPLATE})
    t0 = time.monotonic()
    st, events = thawd.bake(T.TEMPLATE, on_event=on_event)
    took = time.monotonic() - t0
    try:
        assert st == 200 and events[-1]["event"] == "done", events[-3:]
        steps = [e["step"] for e in events if e["event"] == "progress"]
        assert steps == sorted(steps) and steps[-1] == events[0]["steps"], steps
        new = events[-1]["template"]["build_id"]
        assert new != old, "the re-bake kept the build id"

        assert during, "the bake never reported the agent stage"
        assert during["info"]["status"] == "ready" and "baking" in during["info"]["detail"], \
            during["info"]
        # The list's progress (the console's templates page): at "agent"
        # (step 4) or a later stage, of all the bake's steps.
        prog = during["info"]["progress"]
        assert prog["steps"] == events[0]["steps"] and 4 <= prog["step"] <= prog["steps"], prog
        st, mid = during["create"]
        assert st == 201 and mid["build_id"] == old, (st, mid)
        st, body = during["bake2"]
        assert st == 409 and body["code"] == "conflict", (st, body)

        info = T.template_info()
        assert info["status"] == "ready" and info["build_id"] == new, info
        st, got = T.get(before["id"])
        assert st == 200 and got["build_id"] == old, got
        assert T.sh(before["id"], ["cat", "/root/mark"]) == "made-before\n"
        after = T.create(timeout_s=600)
        assert after["build_id"] == new, after
        r = T.exec_(after["id"], ["cat", "/root/mark"])
        assert r["exit_code"] != 0, f"a sandbox of the new build sees an old disk: {r}"
        assert T.sh(after["id"], ["python3", "-c", "print(6 * 7)"]) == "42\n"
        assert old_dir.exists(), "the old build went while sandboxes still use it"

        T.delete(before["id"])
        assert old_dir.exists(), "the old build went while one sandbox still uses it"
        T.delete(mid["id"])
        T.wait_until(lambda: not old_dir.exists(), 30, what=f"{old_dir} to be removed")
        assert (thawd.template_dir() / new).is_dir()
        T.delete(after["id"])
        assert (thawd.template_dir() / new).is_dir(), "the current build was removed"
        left = sorted(p.name for p in thawd.template_dir().iterdir())
        assert left == [new], f"template dir holds {left}"
    finally:
        for sid in T.list_ids():
            T.api("DELETE", f"/v1/sandboxes/{sid}")
    T.check(f"re-bake in {took:.1f} s: build {old} -> {new}; old sandboxes kept working on "
            "the old build (also one created during the bake); a second bake was refused "
            "with 409; new sandboxes use the new build; the old build dir went with its "
            "last sandbox")
