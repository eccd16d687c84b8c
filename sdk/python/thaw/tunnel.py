"""TCP to a port inside a sandbox: the API tunnel (GET .../tunnel/PORT, an
upgraded HTTP connection carrying raw bytes) and a local listener that
opens one tunnel per accepted connection (Sandbox.tunnel)."""

import json
import socket
import threading

from . import errors

_MAX_HEAD = 16384
_BUF = 65536


def _read_head(sock):
    """The answer's head, a byte at a time: whatever follows it is the
    service's and stays in the socket."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        b = sock.recv(1)
        if not b:
            raise errors.ConnectionError("thawd closed the connection")
        head += b
        if len(head) > _MAX_HEAD:
            raise errors.ThawError("the answer's head is too long", code="protocol")
    return head.decode("latin-1")


def _refusal(sock, head, status):
    length = 65536
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            length = min(int(value), length)
    body = b""
    while len(body) < length:
        b = sock.recv(length - len(body))
        if not b:
            break
        body += b
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = body.decode(errors="replace")
    return errors.from_response(status, parsed, "tunnel")


def open_tunnel(client, sandbox_id, port, auto_resume=False, timeout=30):
    """A socket connected to port in the sandbox, through thawd. Raises
    the SDK's errors: Conflict (paused, no auto_resume), ThawError with
    status 502 (nothing listens there), SandboxNotFound, ..."""
    port = int(port)
    if not 1 <= port <= 65535:
        raise errors.InvalidRequest(f"port must be from 1 to 65535, not {port}")
    sock = socket.create_connection((client._host, client._port), timeout=timeout)
    try:
        query = "?auto_resume=true" if auto_resume else ""
        lines = [f"GET {client._prefix}/v1/sandboxes/{sandbox_id}/tunnel/{port}{query} HTTP/1.1",
                 f"Host: {client._host}:{client._port}", "Connection: Upgrade",
                 "Upgrade: thaw-tunnel"]
        if client.api_key:
            lines.append(f"Authorization: Bearer {client.api_key}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = _read_head(sock)
        parts = head.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if status != 101:
            raise _refusal(sock, head, status)
        sock.settimeout(None)
        return sock
    except BaseException:
        sock.close()
        raise


def _pump(src, dst):
    """One direction until its end, which is passed on as a half-close."""
    try:
        while True:
            b = src.recv(_BUF)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class Tunnel:
    """A listener on 127.0.0.1 whose connections reach remote_port in the
    sandbox, each over a tunnel of its own, pumped by background threads.
    .host, .port, .address ("127.0.0.1:PORT"); close() stops listening
    and ends the connections it relays; usable as a context manager."""

    def __init__(self, client, sandbox_id, remote_port, local_port=0, auto_resume=False):
        self._client = client
        self._sid = sandbox_id
        self.remote_port = int(remote_port)
        if not 1 <= self.remote_port <= 65535:
            raise errors.InvalidRequest(f"port must be from 1 to 65535, not {remote_port}")
        self._auto_resume = auto_resume
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", int(local_port)))
        self._listener.listen(64)
        self.host, self.port = self._listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._open = set()
        self._closed = False
        self.errors = []  # why connections could not be tunnelled (ThawError), newest last
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def _accept(self):
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            remote = open_tunnel(self._client, self._sid, self.remote_port, self._auto_resume)
        except (errors.ThawError, OSError) as e:
            self.errors.append(e)
            conn.close()
            return
        with self._lock:
            if self._closed:
                conn.close()
                remote.close()
                return
            self._open.update((conn, remote))
        back = threading.Thread(target=_pump, args=(remote, conn), daemon=True)
        back.start()
        _pump(conn, remote)
        back.join()
        with self._lock:
            self._open.difference_update((conn, remote))
        conn.close()
        remote.close()

    def close(self):
        with self._lock:
            self._closed = True
            live = list(self._open)
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for s in live:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return f"<Tunnel {self.address} -> {self._sid}:{self.remote_port}>"
