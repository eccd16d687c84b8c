"""Files inside a sandbox through the API: write (atomic, mode and owner
kept or set), read (streamed, byte-exact, 100 MB), stat, list, mkdir,
remove; errors keep their meaning; paths with odd characters; the CLI's
`thaw cp` both ways; the SDK's files API."""

import hashlib
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

import thawlib as T

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python"))
import thaw  # noqa: E402


@pytest.fixture(scope="module")
def one_sandbox(template):
    """One sandbox shared by the error cases (they change nothing)."""
    sid = T.create(timeout_s=900)["id"]
    yield sid
    T.api("DELETE", f"/v1/sandboxes/{sid}")


def _url(sid, route="", **q):
    return f"/v1/sandboxes/{sid}/files{route}?" + urllib.parse.urlencode(q)


def _put(sid, path, data, **q):
    st, _, raw = T.request("PUT", _url(sid, path=path, **q), data,
                           headers={"Content-Type": "application/octet-stream"})
    return st, T.decode_body(raw)


def _get(sid, path, **q):
    st, headers, raw = T.request("GET", _url(sid, path=path, **q))
    return st, headers, raw


def test_write_then_read_back_exactly(sandboxes):
    sid = sandboxes()["id"]
    data = bytes(range(256)) * 1000 + b"\x00end"
    st, info = _put(sid, "/root/blob.bin", data)
    assert st == 200, info
    assert info["size"] == len(data) and info["type"] == "file" and info["mode"] == "0644", info
    st, headers, raw = _get(sid, "/root/blob.bin")
    assert st == 200 and raw == data
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["X-Thaw-File-Size"] == str(len(data)) and headers["X-Thaw-File-Mode"] == "0644"
    assert T.sh(sid, "sha256sum /root/blob.bin").split()[0] == hashlib.sha256(data).hexdigest()
    T.check(f"PUT then GET of {len(data)} binary bytes: equal, and equal inside the guest")


def test_mode_and_owner_are_set_and_kept(sandboxes):
    sid = sandboxes()["id"]
    st, info = _put(sid, "/tmp/script.sh", b"#!/bin/sh\necho run\n", mode="0750", uid="1000",
                    gid="100")
    assert st == 200 and (info["mode"], info["uid"], info["gid"]) == ("0750", 1000, 100), info
    assert T.sh(sid, "stat -c '%a %u %g' /tmp/script.sh").split() == ["750", "1000", "100"]
    # Rewriting without mode/owner keeps the file's own.
    st, info = _put(sid, "/tmp/script.sh", b"#!/bin/sh\necho again\n")
    assert (info["mode"], info["uid"], info["gid"]) == ("0750", 1000, 100), info
    assert T.sh(sid, "/tmp/script.sh") == "again\n"
    # A new file with no mode is 0644 root.
    st, info = _put(sid, "/tmp/new.txt", b"x")
    assert (info["mode"], info["uid"], info["gid"]) == ("0644", 0, 0), info
    T.check("mode/uid/gid set on write, kept on rewrite, 0644 root by default")


def test_write_is_atomic_and_leaves_no_temp_files(sandboxes):
    sid = sandboxes()["id"]
    _put(sid, "/root/a.txt", b"old")
    # A writer that never finishes: the body is cut short by a closed
    # connection before it is complete.
    d = T.current()
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    conn.putrequest("PUT", _url(sid, path="/root/a.txt"))
    conn.putheader("Authorization", f"Bearer {d.key}")
    conn.putheader("Content-Length", "1000000")
    conn.endheaders()
    conn.send(b"new" * 1000)
    conn.close()
    time.sleep(0.5)
    assert T.sh(sid, "cat /root/a.txt") == "old"
    assert T.sh(sid, "ls -a /root | grep -c thaw-write || true").strip() == "0"
    T.check("an interrupted upload left the old file and no temp file")


def test_large_file_streams_both_ways(sandboxes, tmp_path):
    sid = sandboxes()["id"]
    size = 100 << 20
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        f.write(os.urandom(size))
    want = T.sha256_file(src)
    d = T.current()
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=600)
    with open(src, "rb") as f:
        conn.request("PUT", _url(sid, path="/root/big.bin"), body=f,
                     headers={"Authorization": f"Bearer {d.key}",
                              "Content-Length": str(size)})
        resp = conn.getresponse()
        info = json.loads(resp.read())
    conn.close()
    up = time.monotonic() - t0
    assert resp.status == 200 and info["size"] == size, info
    assert T.sh(sid, "sha256sum /root/big.bin", timeout_s=120).split()[0] == want
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=600)
    conn.request("GET", _url(sid, path="/root/big.bin"),
                 headers={"Authorization": f"Bearer {d.key}"})
    resp = conn.getresponse()
    h = hashlib.sha256()
    got = 0
    while True:
        chunk = resp.read(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        got += len(chunk)
    conn.close()
    down = time.monotonic() - t0
    assert resp.status == 200 and got == size and h.hexdigest() == want
    T.check(f"100 MiB up in {up:.1f} s, down in {down:.1f} s, checksums equal")


def test_stat_list_mkdir_remove(sandboxes):
    sid = sandboxes()["id"]
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/files/mkdir",
                     {"path": "/srv/a/b", "parents": True, "mode": "0700"})
    assert st == 201 and body["type"] == "dir" and body["mode"] == "0700", (st, body)
    for name in ("z.txt", "a b.txt", "ünï.txt"):
        assert _put(sid, f"/srv/a/{name}", name.encode())[0] == 200
    T.sh(sid, "ln -s /etc/hostname /srv/a/link")
    T.sh(sid, "touch \"/srv/a/bad-$(printf '\\377')\"")
    st, body = T.api("GET", _url(sid, "/list", path="/srv/a"))
    assert st == 200 and body["truncated"] is False, body
    names = [e["name"] for e in body["entries"]]
    assert names == sorted(["a b.txt", "b", "bad-\ufffd", "link", "z.txt", "ünï.txt"]), names
    link = next(e for e in body["entries"] if e["name"] == "link")
    assert link["type"] == "symlink" and link["link_target"] == "/etc/hostname", link
    st, one = T.api("GET", _url(sid, "/stat", path="/srv/a/ünï.txt"))
    assert st == 200 and one["size"] == len("ünï.txt".encode()) and one["path"] == "/srv/a/ünï.txt"
    assert abs(one["mtime"] - time.time()) < 60, one
    # A non-empty directory needs recursive=true.
    st, err = T.api("DELETE", _url(sid, path="/srv/a"))
    assert st == 409 and "not empty" in err["error"].lower(), (st, err)
    st, _ = T.api("DELETE", _url(sid, path="/srv/a", recursive="true"))
    assert st == 204
    assert T.api("GET", _url(sid, "/stat", path="/srv/a"))[0] == 404
    T.check("mkdir -p with mode, list (sorted, symlink target), stat, rm -r")


@pytest.mark.parametrize("method,route,q,body,status,words", [
    ("GET", "", {"path": "/nope"}, None, 404, "no such file"),
    ("GET", "", {"path": "/etc"}, None, 400, "directory"),
    ("GET", "", {}, None, 400, "path is required"),
    ("GET", "", {"path": "etc/passwd"}, None, 400, "absolute"),
    ("GET", "/stat", {"path": "/" + "x" * 5000}, None, 400, "too long"),
    ("GET", "/list", {"path": "/etc/hostname"}, None, 400, "not a directory"),
    ("PUT", "", {"path": "/etc"}, b"x", 400, "directory"),
    ("PUT", "", {"path": "/nodir/x"}, b"x", 404, "no such file"),
    ("PUT", "", {"path": "/tmp/x", "mode": "999"}, b"x", 400, "mode"),
    ("PUT", "", {"path": "/tmp/x", "parents": "maybe"}, b"x", 400, "parents"),
    ("DELETE", "", {"path": "/"}, None, 400, "refusing"),
    ("DELETE", "", {"path": "/nope"}, None, 404, "no such file"),
    ("POST", "/mkdir", None, {"path": "/tmp"}, 409, "exists"),
    ("POST", "/mkdir", None, {"path": "/tmp/q", "bogus": 1}, 400, "mkdir"),
    ("POST", "/mkdir", None, {"path": "/tmp/q", "mode": "9"}, 400, "octal"),
])
def test_errors(one_sandbox, method, route, q, body, status, words):
    path = f"/v1/sandboxes/{one_sandbox}/files{route}" + \
        ("?" + urllib.parse.urlencode(q) if q else "")
    st, _, raw = T.request(method, path, body)
    resp = T.decode_body(raw)
    assert st == status and words in resp["error"].lower(), (st, resp)


def test_escapes_in_the_query(sandboxes):
    sid = sandboxes()["id"]
    st, _, raw = T.request("GET", f"/v1/sandboxes/{sid}/files?path=/proc/sys/kernel/host%00name")
    assert st == 400 and b"escape" in raw
    st, _, raw = T.request("GET",
                           f"/v1/sandboxes/{sid}/files?path=%2Fproc%2Fsys%2Fkernel%2Fhostname")
    assert st == 200 and raw.decode().strip() == sid


def test_files_of_a_paused_sandbox(sandboxes):
    sid = sandboxes()["id"]
    assert T.api("POST", f"/v1/sandboxes/{sid}/pause", {})[0] == 200
    st, resp = T.api("GET", _url(sid, "/stat", path="/proc/sys/kernel/hostname"))
    assert st == 409 and "paused" in resp["error"], (st, resp)
    st, _, raw = _get(sid, "/proc/sys/kernel/hostname", auto_resume="true")
    assert st == 200 and raw.decode().strip() == sid


def test_cli_cp_both_ways(sandboxes, tmp_path):
    sid = sandboxes()["id"]
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(300000))
    os.chmod(src, 0o640)
    r = T.run_cli("cp", str(src), f"{sid}:/root/in.bin")
    assert r.returncode == 0, r
    assert T.sh(sid, "stat -c %a /root/in.bin").strip() == "640"
    out = tmp_path / "out.bin"
    r = T.run_cli("cp", f"{sid}:/root/in.bin", str(out))
    assert r.returncode == 0 and out.read_bytes() == src.read_bytes(), r
    r = T.run_cli("cp", "-", f"{sid}:/root/stdin.txt", input=b"from stdin\n")
    assert r.returncode == 0, r
    r = T.run_cli("cp", f"{sid}:/root/stdin.txt", "-")
    assert r.returncode == 0 and r.stdout == b"from stdin\n", r
    r = T.run_cli("cp", f"{sid}:/nope", str(tmp_path / "x"))
    assert r.returncode == 1 and b"no such file" in r.stderr.lower(), r
    assert not (tmp_path / "x").exists(), "a failed download left a file"
    r = T.run_cli("cp", "a", "b")
    assert r.returncode == 2 and b"ID:PATH" in r.stderr, r
    T.check("thaw cp local->sandbox (mode kept), sandbox->local, stdin/stdout, errors")


def test_sdk_files(template):
    d = T.current()
    with thaw.Sandbox.create(api_url=d.url, api_key=d.key) as sbx:
        info = sbx.files.write("/root/hello.txt", "hi there\n", mode=0o600)
        assert info["size"] == 9 and info["mode"] == "0600"
        assert sbx.files.read("/root/hello.txt") == b"hi there\n"
        assert sbx.files.read_text("/root/hello.txt") == "hi there\n"
        sbx.files.make_dir("/root/d/e", parents=True)
        sbx.files.write("/root/d/e/f", b"\x00\x01")
        assert [e["name"] for e in sbx.files.list("/root/d/e")] == ["f"]
        assert sbx.files.stat("/root/d/e/f")["size"] == 2
        assert sbx.files.exists("/root/d/e/f") and not sbx.files.exists("/root/nope")
        with pytest.raises(thaw.NotFound):
            sbx.files.read("/root/nope")
        sbx.files.remove("/root/d", recursive=True)
        assert not sbx.files.exists("/root/d")
        local = Path(d.data_dir) / "sdk-upload.bin"
        local.write_bytes(os.urandom(5 << 20))
        try:
            sbx.files.upload(str(local), "/root/up.bin")
            back = Path(d.data_dir) / "sdk-download.bin"
            sbx.files.download("/root/up.bin", str(back))
            assert back.read_bytes() == local.read_bytes()
            back.unlink()
        finally:
            local.unlink()
    T.check("SDK files: write/read/read_text/make_dir/list/stat/exists/remove/upload/download")
