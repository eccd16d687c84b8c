"""sbx.files: files inside a sandbox. Bytes move as raw HTTP bodies,
streamed both ways (upload/download never hold a file in memory)."""

import base64
import contextlib
import io
import json
import os
import urllib.parse

from . import errors


class Files:
    def __init__(self, sandbox):
        self._sbx = sandbox

    def _url(self, route="", **q):
        q = {k: v for k, v in q.items() if v is not None}
        return (f"/v1/sandboxes/{self._sbx.id}/files{route}?" + urllib.parse.urlencode(q))

    def _put(self, path, body, size, mode=None, uid=None, gid=None, parents=False):
        c = self._sbx._client
        url = self._url(path=path, mode=None if mode is None else format(mode, "o"),
                        uid=uid, gid=gid, parents="true" if parents else None)
        conn, resp = c._send_raw("PUT", url, body, size)
        try:
            raw = resp.read()
        finally:
            conn.close()
        parsed = json.loads(raw) if raw else None
        if resp.status != 200:
            raise errors.from_response(resp.status, parsed)
        return parsed

    def write(self, path, data, mode=None, uid=None, gid=None, parents=False):
        """Replaces path (atomically) with data (bytes or str). mode, uid
        and gid default to the existing file's, or 0644 root. Returns the
        new file's stat."""
        if isinstance(data, str):
            data = data.encode()
        return self._put(path, io.BytesIO(data), len(data), mode, uid, gid, parents)

    def upload(self, local_path, path, mode=None, parents=False):
        """Streams a local file to path; its mode goes with it unless given."""
        st = os.stat(local_path)
        with open(local_path, "rb") as f:
            return self._put(path, f, st.st_size, mode if mode is not None else st.st_mode & 0o7777,
                             None, None, parents)

    def _get_stream(self, path):
        c = self._sbx._client
        conn, resp = c._send_raw("GET", self._url(path=path), None, None)
        if resp.status != 200:
            raw = resp.read()
            conn.close()
            raise errors.from_response(resp.status, json.loads(raw) if raw else None)
        return conn, resp

    def read(self, path):
        """The file's bytes."""
        conn, resp = self._get_stream(path)
        try:
            return resp.read()
        finally:
            conn.close()

    def read_text(self, path, encoding="utf-8"):
        return self.read(path).decode(encoding, "replace")

    def download(self, path, local_path):
        """Streams path into local_path (written to a temp file, then
        renamed: a failure leaves nothing)."""
        conn, resp = self._get_stream(path)
        tmp = f"{local_path}.thaw-part"
        try:
            with open(tmp, "wb") as f:
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    f.write(chunk)
            expected = resp.getheader("X-Thaw-File-Size")
            if expected is not None and os.path.getsize(tmp) < int(expected):
                raise errors.SandboxError(f"the download of {path} was cut short")
            os.replace(tmp, local_path)
        finally:
            conn.close()
            if os.path.exists(tmp):
                os.unlink(tmp)

    def stat(self, path):
        return self._sbx._client.request("GET", self._url("/stat", path=path))

    def exists(self, path):
        try:
            self.stat(path)
            return True
        except errors.NotFound:
            return False

    def list(self, path, depth=1):
        """The entries of a directory (dicts: name, path, type, size, mode,
        uid, gid, owner, group, mtime, link_target), sorted by path. depth
        (1-10) lists the tree that deep: 2 adds the subdirectories'
        entries, and so on; symlinks are never followed."""
        return self._sbx._client.request(
            "GET", self._url("/list", path=path, depth=None if depth == 1 else depth))["entries"]

    def move(self, src, dst, overwrite=False):
        """Renames src to dst in the guest (rename(2)); an existing dst is
        replaced only with overwrite (else Conflict). A move across file
        systems is a Conflict too (nothing moved). Returns dst's stat."""
        return self._sbx._client.request(
            "POST", f"/v1/sandboxes/{self._sbx.id}/files/move",
            {"from": src, "to": dst, "overwrite": bool(overwrite)})

    def write_many(self, files, parents=False):
        """Writes several files in one request: files maps a path to its
        data (bytes or str), or to (data, mode). Each is written as write()
        writes one; one failing does not stop the others. Returns one dict
        per file, in order: its stat and "ok": True, or "ok": False with
        "error" and "code". The request body is at most 16 MiB (base64)."""
        body = []
        for path, v in files.items():
            data, mode = v if isinstance(v, tuple) else (v, None)
            if isinstance(data, str):
                data = data.encode()
            f = {"path": path, "data": base64.b64encode(data).decode()}
            if mode is not None:
                f["mode"] = format(mode, "04o")
            body.append(f)
        return self._sbx._client.request(
            "POST", f"/v1/sandboxes/{self._sbx.id}/files/batch",
            {"files": body, "parents": bool(parents)})["files"]

    @contextlib.contextmanager
    def watch(self, path, recursive=False):
        """Watches a directory: a context manager giving an iterator of
        events (dicts: "type" ready/create/write/remove/rename/overflow/
        gone, "path" absolute, "from" on a rename), as they happen. The
        first is "ready": changes after it are reported. Leaving the block
        ends the watch in the guest."""
        stream = self._sbx._client.stream(
            "GET", self._url("/watch", path=path, recursive="true" if recursive else "false"),
            None)
        try:
            yield stream.events()
        finally:
            stream.close()

    def sign_url(self, path, operation="read", expires_in_s=3600):
        """A URL (path and query, on this client's server) that reads
        (GET) or writes (PUT) this one file without an API key until it
        expires; anyone holding it can. Returns the URL."""
        return self._sbx._client.request(
            "POST", f"/v1/sandboxes/{self._sbx.id}/files/sign",
            {"path": path, "operation": operation, "expires_in_s": int(expires_in_s)})["url"]

    def remove(self, path, recursive=False):
        self._sbx._client.request("DELETE",
                                  self._url(path=path, recursive="true" if recursive else None),
                                  expect=(204,))

    def make_dir(self, path, mode=None, parents=False):
        body = {"path": path, "parents": bool(parents)}
        if mode is not None:
            body["mode"] = format(mode, "04o")
        return self._sbx._client.request("POST", f"/v1/sandboxes/{self._sbx.id}/files/mkdir",
                                         body, expect=(201,))
