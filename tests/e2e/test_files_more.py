"""The file routes beyond read/write/stat/list: move (rename in the guest),
list with a depth, owner and group names, batch upload, watch (inotify
events as NDJSON while the client stays), and signed URLs that read or
write one file without a key until they expire. Every route's refusals
too; and the SDK's methods for each."""

import base64
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

import thawlib as T

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python"))
import thaw  # noqa: E402


@pytest.fixture(scope="module")
def sid(template):
    """One sandbox for the module: each test works in its own directory."""
    s = T.create(timeout_s=1800)["id"]
    yield s
    T.api("DELETE", f"/v1/sandboxes/{s}")


def _url(sid, route="", **q):
    return f"/v1/sandboxes/{sid}/files{route}?" + urllib.parse.urlencode(q)


def _put(sid, path, data):
    st, _, raw = T.request("PUT", _url(sid, path=path), data,
                           headers={"Content-Type": "application/octet-stream"})
    return st, T.decode_body(raw)


def _move(sid, **body):
    return T.api("POST", f"/v1/sandboxes/{sid}/files/move", body)


# ---- move ---------------------------------------------------------------

def test_move_renames_and_refuses_to_replace_unless_asked(sid):
    T.sh(sid, "rm -rf /root/mv && mkdir -p /root/mv/sub && printf one > /root/mv/a && "
              "printf two > /root/mv/b")
    st, info = _move(sid, **{"from": "/root/mv/a", "to": "/root/mv/sub/c"})
    assert st == 200 and info["path"] == "/root/mv/sub/c" and info["size"] == 3, info
    assert T.sh(sid, "cat /root/mv/sub/c; test ! -e /root/mv/a && echo gone") == "onegone\n"
    # b exists: refused (409) and nothing changes; with overwrite it is replaced.
    st, err = _move(sid, **{"from": "/root/mv/sub/c", "to": "/root/mv/b"})
    assert st == 409 and "exists" in err["error"], (st, err)
    assert T.sh(sid, "cat /root/mv/b /root/mv/sub/c") == "twoone"
    st, info = _move(sid, **{"from": "/root/mv/sub/c", "to": "/root/mv/b", "overwrite": True})
    assert st == 200 and info["size"] == 3, info
    assert T.sh(sid, "cat /root/mv/b; ls /root/mv/sub | wc -l") == "one0\n"
    # A directory moves whole.
    st, info = _move(sid, **{"from": "/root/mv/sub", "to": "/root/mv/sub2"})
    assert st == 200 and info["type"] == "dir", info
    T.check("move: rename, 409 on an existing target, overwrite replaces, directories move")


def test_move_across_file_systems_is_a_clear_conflict(sid):
    # /dev/shm is a tmpfs, /root the root disk: rename(2) cannot cross them.
    kinds = T.sh(sid, "stat -f -c %T /dev/shm /root").split()
    assert kinds[0] != kinds[1], f"the guest's /dev/shm and /root share a file system: {kinds}"
    T.sh(sid, "printf x > /dev/shm/xdev")
    st, err = _move(sid, **{"from": "/dev/shm/xdev", "to": "/root/xdev"})
    assert st == 409 and "different file systems" in err["error"], (st, err)
    assert T.sh(sid, "cat /dev/shm/xdev; test ! -e /root/xdev && echo not-moved") == "xnot-moved\n"
    T.check(f"move from {kinds[0]} to {kinds[1]}: 409 'different file systems', nothing moved")


@pytest.mark.parametrize("body,status,words", [
    ({"from": "/root/nope", "to": "/root/x"}, 404, "no such file"),
    ({"from": "root/a", "to": "/root/x"}, 400, "absolute"),
    ({"from": "/root/a", "to": "x"}, 400, "absolute"),
    ({"from": "/", "to": "/x"}, 400, "refusing"),
    ({"from": "/root/a"}, 400, "move wants"),
    ({"from": "/root/a", "to": "/x", "bogus": 1}, 400, "move wants"),
    ({"from": "/root/a", "to": "/x", "overwrite": "yes"}, 400, "move wants"),
])
def test_move_refusals(sid, body, status, words):
    st, err = _move(sid, **body)
    assert st == status and words in err["error"].lower(), (st, err)


# ---- list with depth; owner and group names ------------------------------

def test_list_depth(sid):
    T.sh(sid, "rm -rf /root/tree && mkdir -p /root/tree/a/b/c && touch /root/tree/top "
              "/root/tree/a/one /root/tree/a/b/two /root/tree/a/b/c/three && "
              "ln -s / /root/tree/a/loop")

    def paths(depth=None):
        q = {"path": "/root/tree"}
        if depth is not None:
            q["depth"] = depth
        st, body = T.api("GET", _url(sid, "/list", **q))
        assert st == 200 and body["truncated"] is False, body
        return {e["path"]: e for e in body["entries"]}, body

    one, body = paths()
    assert set(one) == {"/root/tree/a", "/root/tree/top"} and body["depth"] == 1, one
    assert one["/root/tree/a"]["name"] == "a"
    two, _ = paths(2)
    assert set(two) == set(one) | {"/root/tree/a/b", "/root/tree/a/one", "/root/tree/a/loop"}
    assert two["/root/tree/a/one"]["name"] == "one" and two["/root/tree/a/loop"]["type"] == "symlink"
    four, _ = paths(4)
    assert "/root/tree/a/b/c/three" in four and len(four) == 8, sorted(four)
    # The symlink to / is listed, never followed: depth 10 finds nothing more.
    ten, _ = paths(10)
    assert set(ten) == set(four)
    T.check("depth 1, 2, 4, 10: the tree that deep, names and absolute paths, symlinks not followed")


@pytest.mark.parametrize("depth", ["0", "11", "-1", "two", ""])
def test_list_bad_depth(sid, depth):
    st, err = T.api("GET", _url(sid, "/list", path="/root", depth=depth))
    assert st == 400 and "depth" in err["error"], (st, err)


def test_list_depth_of_a_missing_or_plain_path(sid):
    assert T.api("GET", _url(sid, "/list", path="/root/nope", depth=3))[0] == 404
    st, err = T.api("GET", _url(sid, "/list", path="/etc/hostname", depth=3))
    assert st == 400 and "not a directory" in err["error"].lower(), (st, err)


def test_list_depth_is_bounded_by_entry_count(sid):
    # More entries than one listing holds is flagged, not an error: with the
    # limit of 100000 that takes a large tree, so only check the flag's
    # presence and a big tree's completeness below the limit.
    T.sh(sid, "rm -rf /root/many && mkdir -p /root/many && cd /root/many && "
              "for d in $(seq 1 20); do mkdir d$d; for f in $(seq 1 25); do : > d$d/f$f; done; done")
    st, body = T.api("GET", _url(sid, "/list", path="/root/many", depth=2))
    assert st == 200 and len(body["entries"]) == 20 + 20 * 25 and body["truncated"] is False
    T.check("a 520-entry tree at depth 2: all of it, truncated false")


def test_owner_and_group_names(sid):
    T.sh(sid, "mkdir -p /root/own && : > /root/own/r && : > /root/own/n && "
              "chown 65534:65534 /root/own/n && : > /root/own/u && chown 4242:4343 /root/own/u")
    want = {"r": ("root", "root", 0, 0), "u": (None, None, 4242, 4343)}
    # nobody's group is "nogroup" on Debian; read what the guest says.
    ng = T.sh(sid, "getent group 65534 | cut -d: -f1").strip()
    want["n"] = ("nobody", ng, 65534, 65534)
    st, body = T.api("GET", _url(sid, "/list", path="/root/own"))
    assert st == 200
    got = {e["name"]: (e["owner"], e["group"], e["uid"], e["gid"]) for e in body["entries"]}
    assert got == want, got
    st, info = T.api("GET", _url(sid, "/stat", path="/etc/passwd"))
    assert (info["owner"], info["group"], info["uid"]) == ("root", "root", 0), info
    T.check(f"owner/group names from the guest's files, null for unknown ids: {got}")


# ---- batch ---------------------------------------------------------------

def _b64(data):
    return base64.b64encode(data).decode()


def test_batch_writes_each_file_and_says_what_happened(sid):
    T.sh(sid, "rm -rf /root/batch && mkdir /root/batch")
    blob = bytes(range(256)) * 40
    files = [{"path": "/root/batch/a.bin", "data": _b64(blob)},
             {"path": "/root/batch/run.sh", "data": _b64(b"#!/bin/sh\necho hi\n"), "mode": "0755"},
             {"path": "/root/batch/missing/dir/x", "data": _b64(b"x")},
             {"path": "/root/batch/empty", "data": ""}]
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/files/batch", {"files": files})
    assert st == 200 and (body["written"], body["failed"]) == (3, 1), body
    res = body["files"]
    assert [r["ok"] for r in res] == [True, True, False, True], res
    assert res[0]["size"] == len(blob) and res[1]["mode"] == "0755"
    assert res[2]["code"] == "not_found" and res[2]["path"] == "/root/batch/missing/dir/x", res[2]
    assert T.sh(sid, "sha256sum < /root/batch/a.bin | cut -c1-16; /root/batch/run.sh; "
                     "stat -c %s /root/batch/empty") == \
        __import__("hashlib").sha256(blob).hexdigest()[:16] + "\nhi\n0\n"
    # With parents the missing directories are made.
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/files/batch",
                     {"files": [files[2]], "parents": True})
    assert st == 200 and body["written"] == 1, body
    T.check("batch: 3 of 4 written byte-exact, the 4th's 404 in its own entry; parents makes dirs")


@pytest.mark.parametrize("body,words", [
    ({"files": []}, "1 to 1000"),
    ({"files": {}}, "array"),
    ({}, "batch wants"),
    ({"files": [{"path": "/root/x", "data": "!!!"}]}, "base64"),
    ({"files": [{"path": "root/x", "data": ""}]}, "absolute"),
    ({"files": [{"path": "/root/x"}]}, "files[0]"),
    ({"files": [{"path": "/root/ok", "data": ""}, {"path": "/root/y", "data": "", "mode": "9"}]},
     "files[1].mode"),
])
def test_batch_refusals_write_nothing(sid, body, words):
    T.sh(sid, "rm -f /root/ok")
    st, err = T.api("POST", f"/v1/sandboxes/{sid}/files/batch", body)
    assert st == 400 and words in err["error"].lower(), (st, err)
    assert T.sh(sid, "test -e /root/ok && echo there || echo none") == "none\n"


def test_batch_is_bounded(sid):
    big = _b64(b"\0" * (13 << 20))  # 17+ MiB of base64: over the 16 MiB body limit
    st, err = T.api("POST", f"/v1/sandboxes/{sid}/files/batch",
                    {"files": [{"path": "/root/big", "data": big}]})
    assert st == 413, (st, err)


# ---- watch ---------------------------------------------------------------

class Watch:
    """A watch's NDJSON stream read in a thread; events in .events."""

    def __init__(self, sid, path, recursive=False):
        d = T.current()
        self.conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=300)
        self.conn.request("GET", _url(sid, "/watch", path=path,
                                      recursive="true" if recursive else "false"),
                          headers={"Authorization": f"Bearer {d.key}"})
        self.sock = self.conn.sock  # to cut from this thread while another reads
        self.resp = self.conn.getresponse()
        self.events = []
        self.status = self.resp.status
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for line in self.resp:
                self.events.append(json.loads(line))
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # close() cut the connection under the reader

    def wait_for(self, pred, what, timeout=60):
        return T.wait_until(lambda: next((e for e in self.events if pred(e)), None),
                            timeout, what=what)

    def close(self):
        self.sock.shutdown(2)
        self.conn.close()


def _inotify_fds(sid):
    return int(T.sh(sid, "ls -l /proc/[0-9]*/fd 2>/dev/null | grep -c inotify || true").strip())


def test_watch_reports_changes_and_ends_with_the_client(sid):
    T.sh(sid, "rm -rf /root/w && mkdir -p /root/w/sub")
    before = _inotify_fds(sid)
    w = Watch(sid, "/root/w")
    assert w.status == 200 and w.resp.headers["Content-Type"] == "application/x-ndjson"
    w.wait_for(lambda e: e["type"] == "ready", "ready")
    assert w.events[0] == {"type": "ready", "path": "/root/w"}, w.events
    T.sh(sid, "printf a > /root/w/f")
    w.wait_for(lambda e: e == {"type": "write", "path": "/root/w/f"}, "write")
    T.sh(sid, "mv /root/w/f /root/w/g && rm /root/w/g && touch /root/w/sub/deep")
    w.wait_for(lambda e: e == {"type": "remove", "path": "/root/w/g"}, "remove")
    kinds = [(e["type"], e.get("path"), e.get("from")) for e in w.events]
    assert ("create", "/root/w/f", None) in kinds, kinds
    assert ("rename", "/root/w/g", "/root/w/f") in kinds, kinds
    assert not any(p == "/root/w/sub/deep" for _, p, _ in kinds), \
        f"a non-recursive watch reported a change below a subdirectory: {kinds}"
    assert _inotify_fds(sid) == before + 1
    w.close()
    T.wait_until(lambda: _inotify_fds(sid) == before, 30, interval=0.5,
                 what="the guest's watch to end after the client left")
    T.check(f"watch events {kinds}; the guest's inotify watch is gone after disconnect")


def test_watch_recursive_follows_new_directories(sid):
    T.sh(sid, "rm -rf /root/rw && mkdir -p /root/rw/old")
    w = Watch(sid, "/root/rw", recursive=True)
    try:
        w.wait_for(lambda e: e["type"] == "ready", "ready")
        T.sh(sid, "touch /root/rw/old/x && mkdir /root/rw/new")
        w.wait_for(lambda e: e == {"type": "create", "path": "/root/rw/new"}, "mkdir")
        time.sleep(1)  # the agent adds the new directory's watch as it reads the event
        T.sh(sid, "touch /root/rw/new/y")
        w.wait_for(lambda e: e == {"type": "create", "path": "/root/rw/new/y"}, "deep create")
        assert {"type": "create", "path": "/root/rw/old/x"} in w.events, w.events
        # The watched directory going away ends the stream.
        T.sh(sid, "mv /root/rw /root/rw-moved")
        w.wait_for(lambda e: e["type"] == "gone", "gone")
    finally:
        w.close()
    T.check(f"recursive watch: existing and new subdirectories, then gone: {w.events}")


@pytest.mark.parametrize("q,status,words", [
    ({"path": "/root/nope"}, 404, "no such file"),
    ({"path": "/etc/hostname"}, 400, "directory"),
    ({"path": "etc"}, 400, "absolute"),
    ({"path": "/root", "recursive": "maybe"}, 400, "recursive"),
])
def test_watch_refusals(sid, q, status, words):
    st, err = T.api("GET", _url(sid, "/watch", **q))
    assert st == status and words in err["error"].lower(), (st, err)


# ---- signed URLs ---------------------------------------------------------

def _sign(sid, path, op, expires_in_s=600):
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/files/sign",
                     {"path": path, "operation": op, "expires_in_s": expires_in_s})
    assert st == 200, body
    return body


def _swap(url, **changes):
    """The URL with some query parameters changed (None drops one)."""
    u = urllib.parse.urlsplit(url)
    q = dict(urllib.parse.parse_qsl(u.query))
    for k, v in changes.items():
        if v is None:
            q.pop(k, None)
        else:
            q[k] = v
    return u.path + "?" + urllib.parse.urlencode(q)


def test_signed_read_and_write_need_no_key(sid):
    T.sh(sid, "mkdir -p /root/sig && printf 'signed bytes' > '/root/sig/a b.txt'")
    s = _sign(sid, "/root/sig/a b.txt", "read")
    assert s["method"] == "GET" and s["url"].startswith(f"/v1/sandboxes/{sid}/files/signed?"), s
    st, _, raw = T.request("GET", s["url"], key=None)
    assert st == 200 and raw == b"signed bytes", (st, raw)
    w = _sign(sid, "/root/sig/up.bin", "write")
    assert w["method"] == "PUT"
    st, _, raw = T.request("PUT", w["url"], b"\x00uploaded\xff", key=None,
                           headers={"Content-Type": "application/octet-stream"})
    assert st == 200 and json.loads(raw)["size"] == 10, raw
    assert T.sh(sid, "od -An -c /root/sig/up.bin | tr -s ' '; stat -c '%a %u' /root/sig/up.bin") \
        == " \\0 u p l o a d e d 377\n644 0\n"
    # The same URL again works until it expires (it is not single use).
    assert T.request("GET", s["url"], key=None)[0] == 200
    T.check("signed GET and PUT without a key: bytes exact, 0644 root")


def test_signed_urls_refuse_any_change(sid, template):
    T.sh(sid, "mkdir -p /root/sig && printf s > /root/sig/r.txt")
    r = _sign(sid, "/root/sig/r.txt", "read")
    w = _sign(sid, "/root/sig/r.txt", "write")
    other = T.create(timeout_s=600)["id"]
    try:
        T.sh(other, "mkdir -p /root/sig && printf s > /root/sig/r.txt")
        bad = {
            "another path": ("GET", _swap(r["url"], path="/etc/passwd")),
            "a traversal": ("GET", _swap(r["url"], path="/root/sig/../../etc/passwd")),
            "another sandbox": ("GET", r["url"].replace(sid, other)),
            "another op": ("GET", _swap(r["url"], op="write")),
            "a read URL used to write": ("PUT", r["url"].replace("op=read", "op=write")),
            "a write URL used to read": ("GET", w["url"]),
            "a later expiry": ("GET", _swap(r["url"], expires=str(int(r["expires"]) + 3600))),
            "a forged signature": ("GET", _swap(r["url"], signature="0" * 64)),
            "a garbled signature": ("GET", _swap(r["url"], signature="zz")),
            "no signature": ("GET", _swap(r["url"], signature=None)),
            "an extra parameter": ("GET", r["url"] + "&auto_resume=true"),
            "a mode on a write": ("PUT", w["url"] + "&mode=4755"),
        }
        for what, (method, url) in bad.items():
            st, _, raw = T.request(method, url, b"x" if method == "PUT" else None, key=None)
            assert st == 403, f"{what}: {method} {url} answered {st}: {raw[:200]}"
        assert T.sh(sid, "cat /root/sig/r.txt") == "s"
        # The signature is the only way in: the keyed routes still want a key.
        keyed = r["url"].replace("/files/signed?", "/files?")
        assert T.request("GET", keyed, key=None)[0] == 401
    finally:
        T.api("DELETE", f"/v1/sandboxes/{other}")
    T.check(f"403 for: {', '.join(bad)}; the keyed route still 401")


def test_signed_url_expires(sid):
    T.sh(sid, "mkdir -p /root/sig && printf e > /root/sig/e.txt")
    s = _sign(sid, "/root/sig/e.txt", "read", expires_in_s=1)
    assert T.request("GET", s["url"], key=None)[0] == 200
    time.sleep(2.2)
    st, _, raw = T.request("GET", s["url"], key=None)
    assert st == 403 and b"expired" in raw, (st, raw)
    T.check("a 1 s URL works at once and is 403 two seconds later")


def _spooled_uploads(d):
    """thawd's open upload temp files (O_TMPFILE in its data dir)."""
    fds = Path(f"/proc/{d.proc.pid}/fd")
    n = 0
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        n += target.startswith(str(d.data_dir) + "/#") and target.endswith("(deleted)")
    return n


def test_an_unsigned_upload_is_never_spooled(sid):
    """A PUT to the signed route stores its body (up to 8 GiB on disk) only
    when its signature holds, decided before the body arrives: without a
    key, nobody can fill the host's disk."""
    d = T.current()
    good = _sign(sid, "/root/sig/spool.bin", "write")["url"]
    forged = _swap(good, signature="1" * 64)
    counts = {}
    for what, url in (("forged", forged), ("signed", good)):
        s = socket.create_connection((d.addr, d.port), timeout=30)
        try:
            s.sendall(f"PUT {url} HTTP/1.1\r\nHost: x\r\nContent-Length: {1 << 30}\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n".encode())
            s.sendall(b"\0" * (4 << 20))
            time.sleep(1)
            counts[what] = _spooled_uploads(d)
        finally:
            s.close()
    assert counts == {"forged": 0, "signed": 1}, counts
    T.check(f"upload temp files open while 4 MiB were sent: {counts}")


@pytest.mark.parametrize("body,status,words", [
    ({"path": "/root/x", "operation": "delete"}, 400, "operation"),
    ({"path": "/root/x", "operation": "read", "expires_in_s": 0}, 400, "expires_in_s"),
    ({"path": "/root/x", "operation": "read", "expires_in_s": 8 * 86400}, 400, "expires_in_s"),
    ({"path": "root/x", "operation": "read"}, 400, "absolute"),
    ({"operation": "read"}, 400, "sign wants"),
])
def test_sign_refusals(sid, body, status, words):
    st, err = T.api("POST", f"/v1/sandboxes/{sid}/files/sign", body)
    assert st == status and words in err["error"].lower(), (st, err)


def test_sign_needs_a_key_and_a_live_sandbox(sid, template):
    st, _ = T.api("POST", f"/v1/sandboxes/{sid}/files/sign",
                  {"path": "/root/x", "operation": "read"}, key=None)
    assert st == 401
    gone = T.create(timeout_s=600)["id"]
    s = _sign(gone, "/etc/hostname", "read")
    T.delete(gone)
    st, _, raw = T.request("GET", s["url"], key=None)
    assert st == 404, (st, raw)


# ---- the SDK ---------------------------------------------------------------

def test_sdk_file_methods(sid):
    d = T.current()
    sb = thaw.Sandbox.connect(sid, api_url=d.url, api_key=d.key)
    T.sh(sid, "rm -rf /root/sdk && mkdir -p /root/sdk/d")
    res = sb.files.write_many({"/root/sdk/a": b"A", "/root/sdk/d/b": "B"})
    assert [r["ok"] for r in res] == [True, True], res
    info = sb.files.move("/root/sdk/a", "/root/sdk/c")
    assert info["path"] == "/root/sdk/c"
    with pytest.raises(thaw.Conflict):
        sb.files.move("/root/sdk/c", "/root/sdk/d/b")
    names = sorted(e["path"] for e in sb.files.list("/root/sdk", depth=2))
    assert names == ["/root/sdk/c", "/root/sdk/d", "/root/sdk/d/b"], names
    url = sb.files.sign_url("/root/sdk/c", "read", expires_in_s=60)
    st, _, raw = T.request("GET", url, key=None)
    assert st == 200 and raw == b"A"
    seen = []
    with sb.files.watch("/root/sdk") as events:
        for ev in events:
            seen.append(ev)
            if ev["type"] == "ready":
                sb.files.write("/root/sdk/new", b"n")
            if ev.get("path") == "/root/sdk/new":
                break
    # write() fills a temp file and renames it into place.
    assert seen[0]["type"] == "ready" and seen[-1]["type"] == "rename", seen
    assert seen[-1]["from"].startswith("/root/sdk/.thaw-write-"), seen
    T.check("SDK: write_many, move (and its Conflict), list(depth), sign_url, watch")
