"""A fault-injecting HTTP/1.1 proxy for object store tests and benchmarks.

It sits between a client and an S3 server (s3rver) and, per request, can
add latency, answer an error itself (fail), cut the connection with a TCP
reset (reset) or take the request and answer nothing (stall). Faults are
armed for the next n requests, optionally only those whose method and path
match. Requests are parsed one by one (Content-Length and chunked bodies),
so faults hit single requests on kept-alive connections. With SigV4
checking on, every request's AWS Signature Version 4 is verified here,
independently of the server (s3rver 3.7.1 checks only the access key);
a bad signature is answered 403 SignatureDoesNotMatch.

In the test process:

    p = FaultProxy(upstream=("127.0.0.1", 4568)).start()
    p.fail_next(2, status=503, method="GET")
    ... p.counts() ... p.stop()

From another process (bench/), run it as a program:

    python3 -m thawlib.faultproxy --listen PORT --upstream HOST:PORT

and drive it with ProxyControl("http://127.0.0.1:PORT"), which has the
same methods; it talks to the proxy's own endpoints under /__proxy/
(POST /__proxy/fault, /latency, /clear, /sigv4; GET /__proxy/counts).

Standard library only.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import socket
import struct
import threading
import time
import urllib.parse

__all__ = ["FaultProxy", "ProxyControl", "sigv4_problem"]

CONTROL_PREFIX = "/__proxy/"
HEAD_MAX = 64 << 10
BODY_MAX = 256 << 20
RELAY_CHUNK = 256 << 10


class _Closed(Exception):
    """The peer closed the connection (between or inside a message)."""


# ---- HTTP/1.1 message framing -------------------------------------------


def _read_head(rf):
    """Start line and headers; raises _Closed on EOF before any byte."""
    lines = []
    total = 0
    while True:
        line = rf.readline(HEAD_MAX)
        if not line:
            if not lines:
                raise _Closed()
            raise ConnectionError("connection closed inside a message head")
        total += len(line)
        if total > HEAD_MAX:
            raise ConnectionError("message head too large")
        if line in (b"\r\n", b"\n"):
            if not lines:
                continue  # stray empty line between messages
            break
        lines.append(line)
    start = lines[0].decode("latin-1").rstrip("\r\n")
    headers = []
    for raw in lines[1:]:
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    return start, headers, b"".join(lines) + b"\r\n"


def _header(headers, name):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def _read_exact(rf, n):
    data = rf.read(n)
    if len(data) != n:
        raise ConnectionError("connection closed inside a body")
    return data


def _read_chunked(rf):
    """A chunked body, raw (as received, so it can be forwarded as is)."""
    out = bytearray()
    while True:
        line = rf.readline(1024)
        if not line:
            raise ConnectionError("connection closed inside a chunked body")
        out += line
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:  # trailers up to the empty line
                t = rf.readline(HEAD_MAX)
                out += t
                if t in (b"\r\n", b"\n", b""):
                    return bytes(out)
        out += _read_exact(rf, size + 2)
        if len(out) > BODY_MAX:
            raise ConnectionError("chunked body too large")


def _read_request(rf, sock):
    start, headers, raw_head = _read_head(rf)
    parts = start.split(" ")
    if len(parts) != 3:
        raise ConnectionError(f"bad request line {start!r}")
    method, target, version = parts
    if (_header(headers, "expect") or "").lower() == "100-continue":
        # The client waits for this before it sends the body; the
        # server's own 100 is dropped on the way back (_Upstream).
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = b""
    if (_header(headers, "transfer-encoding") or "").lower() == "chunked":
        body = _read_chunked(rf)
    else:
        n = int(_header(headers, "content-length") or 0)
        if n < 0 or n > BODY_MAX:
            raise ConnectionError("bad Content-Length")
        body = _read_exact(rf, n) if n else b""
    return method, target, version, headers, raw_head, body


def _send_response(sock, status, body=b"", ctype="application/xml", close=False):
    reason = http.client.responses.get(status, "Status")
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n")
    sock.sendall(head.encode() + body)


def _s3_error(code, message):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>").encode()


# ---- SigV4 ------------------------------------------------------------------


def _uri_encode(s, keep_slash):
    return urllib.parse.quote(s, safe="-_.~" + ("/" if keep_slash else ""))


def _canonical_query(query):
    pairs = []
    for item in query.split("&") if query else []:
        k, _, v = item.partition("=")
        pairs.append((_uri_encode(urllib.parse.unquote(k), False),
                      _uri_encode(urllib.parse.unquote(v), False)))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_problem(method, target, headers, body, access_key, secret_key, region):
    """None when the request carries a valid AWS SigV4 Authorization
    header for these credentials, else what is wrong."""
    auth = _header(headers, "authorization") or ""
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "no AWS4-HMAC-SHA256 Authorization header"
    fields = {}
    for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    cred = fields.get("Credential", "").split("/")
    if len(cred) != 5 or cred[0] != access_key or cred[2] != region or \
            cred[3] != "s3" or cred[4] != "aws4_request":
        return f"bad credential scope {fields.get('Credential')!r}"
    signed = fields.get("SignedHeaders", "").split(";")
    for need in ("host", "x-amz-date", "x-amz-content-sha256"):
        if need not in signed:
            return f"{need} is not signed"
    payload = _header(headers, "x-amz-content-sha256")
    if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
        return f"x-amz-content-sha256 {payload!r} is not the body's hash"
    path, _, query = target.partition("?")
    canon_headers = ""
    for name in signed:
        value = _header(headers, name)
        if value is None:
            return f"signed header {name} is missing"
        canon_headers += f"{name}:{' '.join(value.split())}\n"
    creq = "\n".join([method, _uri_encode(urllib.parse.unquote(path), True),
                      _canonical_query(query), canon_headers, ";".join(signed), payload])
    amz_date = _header(headers, "x-amz-date")
    scope = "/".join(cred[1:])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (cred[1], region, "s3", "aws4_request"):
        key = _hmac(key, part)
    want = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, fields.get("Signature", "")):
        return "signature does not match"
    return None


# ---- the proxy --------------------------------------------------------------


class _Rule:
    def __init__(self, kind, n, status=503, method=None, path=None, seconds=600.0):
        self.kind, self.n, self.status = kind, n, status
        self.method, self.path, self.seconds = method, path, seconds

    def matches(self, method, target):
        return (self.method is None or self.method.upper() == method) and \
            (self.path is None or self.path in target)


class FaultProxy:
    def __init__(self, upstream, port=0, host="127.0.0.1"):
        if isinstance(upstream, str):
            h, _, p = upstream.rpartition(":")
            upstream = (h, int(p))
        self.upstream = upstream
        self.host = host
        self._lock = threading.Lock()
        self._rules = []
        self._latency_ms = 0
        self._counts = {}
        self._faults = 0
        self._sigv4 = None
        self._stop = threading.Event()
        self._conns = set()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        self._thread = None

    @property
    def endpoint(self):
        return f"http://{self.host}:{self.port}"

    # -- control (the same names on ProxyControl) --

    def set_latency(self, ms):
        with self._lock:
            self._latency_ms = ms

    def fail_next(self, n, status=503, method=None, path=None):
        self._arm(_Rule("fail", n, status=status, method=method, path=path))

    def reset_next(self, n, method=None, path=None):
        self._arm(_Rule("reset", n, method=method, path=path))

    def stall_next(self, n, method=None, path=None, seconds=600.0):
        self._arm(_Rule("stall", n, method=method, path=path, seconds=seconds))

    def set_sigv4(self, access_key=None, secret_key=None, region="us-east-1"):
        """Checks every request's signature against these credentials
        (None: no check)."""
        with self._lock:
            self._sigv4 = (access_key, secret_key, region) if access_key else None

    def clear(self):
        """Drops armed faults and latency and zeroes the counters."""
        with self._lock:
            self._rules.clear()
            self._latency_ms = 0
            self._counts = {}
            self._faults = 0

    def counts(self):
        """{"GET": n, ...} of requests seen (faulted ones too), plus
        "total" and "faults"."""
        with self._lock:
            c = dict(self._counts)
            c["total"] = sum(self._counts.values())
            c["faults"] = self._faults
            return c

    def _arm(self, rule):
        with self._lock:
            self._rules.append(rule)

    def _take_fault(self, method, target):
        with self._lock:
            self._counts[method] = self._counts.get(method, 0) + 1
            for r in self._rules:
                if r.n > 0 and r.matches(method, target):
                    r.n -= 1
                    self._faults += 1
                    self._rules = [x for x in self._rules if x.n > 0]
                    return r, self._latency_ms, self._sigv4
            return None, self._latency_ms, self._sigv4

    # -- life --

    def start(self):
        self._sock.listen(128)
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name="faultproxy-accept")
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                c, _ = self._sock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.add(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True,
                             name="faultproxy-conn").start()

    # -- one client connection --

    def _serve(self, client):
        up = _Upstream(self.upstream)
        rf = client.makefile("rb", buffering=1 << 16)
        try:
            while not self._stop.is_set():
                try:
                    req = _read_request(rf, client)
                except _Closed:
                    return
                if not self._handle(client, up, req):
                    return
        except (OSError, ConnectionError, ValueError):
            return
        finally:
            up.close()
            rf.close()
            with self._lock:
                self._conns.discard(client)
            try:
                client.close()
            except OSError:
                pass

    def _handle(self, client, up, req):
        """Answers one request; False when the connection is done."""
        method, target, _, headers, raw_head, body = req
        if target.startswith(CONTROL_PREFIX):
            return self._control(client, method, target, body)
        rule, latency, sigv4 = self._take_fault(method, target)
        if latency:
            time.sleep(latency / 1000)
        if rule is not None and rule.kind == "fail":
            _send_response(client, rule.status, _s3_error(
                "InjectedFault", f"fault proxy: injected {rule.status}"))
            return True
        if rule is not None and rule.kind == "reset":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if rule is not None and rule.kind == "stall":
            self._stall(client, rule.seconds)
            return False
        if sigv4 is not None:
            problem = sigv4_problem(method, target, headers, body, *sigv4)
            if problem:
                _send_response(client, 403, _s3_error(
                    "SignatureDoesNotMatch", f"fault proxy: SigV4 check: {problem}"))
                return True
        keep = up.forward(client, method, raw_head, body)
        conn_hdr = (_header(headers, "connection") or "").lower()
        return keep and conn_hdr != "close"

    def _stall(self, client, seconds):
        """Says nothing until the client gives up, the proxy stops or the
        time is over."""
        end = time.monotonic() + seconds
        client.settimeout(0.2)
        while not self._stop.is_set() and time.monotonic() < end:
            try:
                if client.recv(65536) == b"":
                    return
            except socket.timeout:
                continue
            except OSError:
                return

    def _control(self, client, method, target, body):
        path = target[len(CONTROL_PREFIX):].split("?")[0]
        try:
            args = json.loads(body) if body else {}
            if method == "GET" and path == "counts":
                out = self.counts()
            elif method == "POST" and path == "fault":
                kind = args.pop("kind")
                {"fail": self.fail_next, "reset": self.reset_next,
                 "stall": self.stall_next}[kind](**args)
                out = {"ok": True}
            elif method == "POST" and path == "latency":
                self.set_latency(args["ms"])
                out = {"ok": True}
            elif method == "POST" and path == "clear":
                self.clear()
                out = {"ok": True}
            elif method == "POST" and path == "sigv4":
                self.set_sigv4(**args)
                out = {"ok": True}
            else:
                _send_response(client, 404, b'{"error": "no such control"}',
                                "application/json")
                return True
        except (KeyError, TypeError, ValueError) as e:
            _send_response(client, 400, json.dumps({"error": str(e)}).encode(),
                           "application/json")
            return True
        _send_response(client, 200, json.dumps(out).encode(), "application/json")
        return True


class _Upstream:
    """One kept-alive connection to the server per client connection."""

    def __init__(self, addr):
        self.addr = addr
        self.sock = None
        self.rf = None

    def close(self):
        if self.sock:
            self.rf.close()
            self.sock.close()
        self.sock = self.rf = None

    def _connect(self):
        self.sock = socket.create_connection(self.addr, timeout=600)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rf = self.sock.makefile("rb", buffering=1 << 16)

    def forward(self, client, method, raw_head, body):
        """Sends the request and relays the answer; False when the
        connection must close afterwards."""
        for attempt in (1, 2):
            fresh = self.sock is None
            if fresh:
                self._connect()
            try:
                self.sock.sendall(raw_head + body)
                start, headers, head = _read_head(self.rf)
                while start.split(" ")[1].startswith("1"):  # 100 Continue: ours
                    start, headers, head = _read_head(self.rf)
                break
            except (_Closed, OSError, ConnectionError):
                # A kept-alive connection the server closed meanwhile.
                self.close()
                if fresh or attempt == 2:
                    raise ConnectionError("upstream closed the connection")
        client.sendall(head)
        status = int(start.split(" ")[1])
        te = (_header(headers, "transfer-encoding") or "").lower()
        cl = _header(headers, "content-length")
        keep = (_header(headers, "connection") or "").lower() != "close"
        if method == "HEAD" or status in (204, 304):
            pass
        elif te == "chunked":
            client.sendall(_read_chunked(self.rf))
        elif cl is not None:
            left = int(cl)
            while left > 0:
                chunk = self.rf.read(min(left, RELAY_CHUNK))
                if not chunk:
                    raise ConnectionError("upstream closed inside a body")
                client.sendall(chunk)
                left -= len(chunk)
        else:  # until the server closes
            while True:
                chunk = self.rf.read1(RELAY_CHUNK)
                if not chunk:
                    break
                client.sendall(chunk)
            keep = False
        if not keep:
            self.close()
        return keep


class ProxyControl:
    """Drives a FaultProxy in another process through /__proxy/."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port

    def _call(self, method, path, body=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            data = json.dumps(body).encode() if body is not None else None
            c.request(method, CONTROL_PREFIX + path, body=data,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            out = r.read()
            if r.status != 200:
                raise RuntimeError(f"fault proxy control {path}: {r.status} {out!r}")
            return json.loads(out)
        finally:
            c.close()

    def set_latency(self, ms):
        self._call("POST", "latency", {"ms": ms})

    def fail_next(self, n, status=503, method=None, path=None):
        self._call("POST", "fault", {"kind": "fail", "n": n, "status": status,
                                     "method": method, "path": path})

    def reset_next(self, n, method=None, path=None):
        self._call("POST", "fault", {"kind": "reset", "n": n, "method": method, "path": path})

    def stall_next(self, n, method=None, path=None, seconds=600.0):
        self._call("POST", "fault", {"kind": "stall", "n": n, "method": method,
                                     "path": path, "seconds": seconds})

    def set_sigv4(self, access_key=None, secret_key=None, region="us-east-1"):
        self._call("POST", "sigv4", {"access_key": access_key, "secret_key": secret_key,
                                     "region": region})

    def clear(self):
        self._call("POST", "clear", {})

    def counts(self):
        return self._call("GET", "counts")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m thawlib.faultproxy",
                                 description="fault-injecting HTTP proxy (see the module doc)")
    ap.add_argument("--listen", type=int, required=True, help="loopback port (0: any)")
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the server")
    ap.add_argument("--sigv4", metavar="ACCESS:SECRET[:REGION]",
                    help="check every request's SigV4 signature")
    a = ap.parse_args(argv)
    p = FaultProxy(a.upstream, port=a.listen)
    if a.sigv4:
        parts = a.sigv4.split(":")
        p.set_sigv4(parts[0], parts[1], parts[2] if len(parts) > 2 else "us-east-1")
    p.start()
    print(f"faultproxy listening on {p.endpoint} -> {a.upstream}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        p.stop()


if __name__ == "__main__":
    main()
