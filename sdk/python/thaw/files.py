"""sbx.files: files inside a sandbox. Bytes move as raw HTTP bodies,
streamed both ways (upload/download never hold a file in memory)."""

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

    def list(self, path):
        """The entries of a directory (dicts: name, type, size, mode, uid,
        gid, mtime, link_target), sorted by name."""
        return self._sbx._client.request("GET", self._url("/list", path=path))["entries"]

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
