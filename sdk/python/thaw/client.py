"""The HTTP transport: one keep-alive connection per client (not shared
between threads), JSON in and out, NDJSON streams read line by line."""

import http.client
import json
import os
import socket
import threading
import urllib.parse

from . import errors

DEFAULT_URL = "http://127.0.0.1:7420"
DEFAULT_KEY_FILE = "/var/lib/thaw/api-key"


def _find_key(api_key):
    if api_key:
        return api_key
    if os.environ.get("THAW_API_KEY"):
        return os.environ["THAW_API_KEY"]
    try:
        with open(DEFAULT_KEY_FILE) as f:
            return f.read().strip() or None
    except OSError:
        return None


class Client:
    """Where thawd is and how to talk to it. api_url and api_key default
    to $THAW_API_URL / $THAW_API_KEY, then http://127.0.0.1:7420 and the
    key file /var/lib/thaw/api-key. timeout is the socket timeout in
    seconds for ordinary calls (streams wait as long as the command)."""

    def __init__(self, api_url=None, api_key=None, timeout=300):
        url = api_url or os.environ.get("THAW_API_URL") or DEFAULT_URL
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise errors.InvalidRequest(f"api_url must be http://HOST[:PORT], not {url!r}")
        self.api_url = url.rstrip("/")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self.api_key = _find_key(api_key)
        self.timeout = timeout
        self._local = threading.local()

    def _conn(self, timeout):
        c = getattr(self._local, "conn", None)
        if c is None:
            c = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._local.conn = c
        c.timeout = timeout
        if c.sock is not None:
            c.sock.settimeout(timeout)
        return c

    def _drop(self):
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    def _headers(self, has_body):
        h = {"Accept": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        if has_body:
            h["Content-Type"] = "application/json"
        return h

    def _send(self, method, path, body, timeout, fresh=False):
        data = None if body is None else json.dumps(body).encode()
        url = self._prefix + path
        # A kept-alive connection the server closed meanwhile fails on
        # first use: retry once on a fresh one (only when nothing was
        # answered, so no request runs twice).
        for attempt in (0, 1):
            conn = (http.client.HTTPConnection(self._host, self._port, timeout=timeout)
                    if fresh else self._conn(timeout))
            try:
                conn.request(method, url, body=data, headers=self._headers(data is not None))
                return conn, conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                conn.close()
                if not fresh:
                    self._drop()
                if attempt == 1:
                    raise errors.ConnectionError(f"thawd at {self.api_url} closed the "
                                                 f"connection: {e}") from None
            except socket.timeout:
                conn.close()
                if not fresh:
                    self._drop()
                raise errors.TimeoutError(f"no answer from thawd within {timeout} s") from None
            except OSError as e:
                conn.close()
                if not fresh:
                    self._drop()
                raise errors.ConnectionError(f"cannot talk to thawd at {self.api_url}: {e}") \
                    from None

    def _send_raw(self, method, path, body, size):
        """A request with a raw body (a file object, size bytes) or none,
        on a fresh connection the caller closes; returns (conn, response)."""
        conn = http.client.HTTPConnection(self._host, self._port, timeout=None)
        headers = {"Accept": "application/json, application/octet-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
            headers["Content-Length"] = str(size)
        try:
            conn.request(method, self._prefix + path, body=body, headers=headers)
            return conn, conn.getresponse()
        except OSError as e:
            conn.close()
            raise errors.ConnectionError(f"cannot talk to thawd at {self.api_url}: {e}") \
                from None

    def request(self, method, path, body=None, expect=(200,), what=None, timeout=None):
        """One call; returns the parsed JSON answer (None when empty)."""
        _, resp = self._send(method, path, body, timeout or self.timeout)
        try:
            raw = resp.read()
        except socket.timeout:
            self._drop()
            raise errors.TimeoutError(f"thawd did not finish answering within "
                                      f"{timeout or self.timeout} s") from None
        if resp.getheader("Connection", "").lower() == "close":
            self._drop()
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = {"error": raw.decode("utf-8", "replace")[:500]}
        if resp.status not in expect:
            raise errors.from_response(resp.status, parsed, what,
                                       resp.getheader("X-Request-Id"))
        return parsed

    def stream(self, method, path, body, what=None):
        """Opens an NDJSON answer: returns a Stream whose events() yields
        the events as they arrive (raising the server's error first if it
        refused the request)."""
        conn, resp = self._send(method, path, body, None, fresh=True)
        if resp.status != 200:
            raw = resp.read()
            conn.close()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            raise errors.from_response(resp.status, parsed, what,
                                       resp.getheader("X-Request-Id"))
        return Stream(conn, resp)

    def health(self):
        return self.request("GET", "/healthz")

    def info(self):
        return self.request("GET", "/v1/info")


class Stream:
    """An open NDJSON answer. close() may be called from another thread
    while events() is being read: it shuts the socket down, the server
    sees the client go and stops (an exec's command is killed only when it
    asked for kill_on_disconnect)."""

    def __init__(self, conn, resp):
        self._conn = conn
        self._resp = resp
        self.closed = False

    def events(self):
        try:
            for line in self._resp:
                if line.strip():
                    yield json.loads(line)
        finally:
            self.close()

    def close(self):
        if self.closed:
            return
        self.closed = True
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._conn.close()
