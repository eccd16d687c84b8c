#!/usr/bin/env python3
"""Load: N concurrent clients, each creating a sandbox, running a few
commands in it and deleting it, over and over for a fixed time, through
the HTTP API on loopback. Reports every error, create and exec latency
percentiles, and thawd's resident memory after a warm-up and at the end.

    bench/load.py [--clients 16] [--seconds 75] [--warmup 15] [--execs 3]

THAW_API_URL and THAW_API_KEY name the thawd (bench/load.sh starts one
when none answers). Standard library only; tests/e2e/test_load.py runs
the same function against a thawd of its own and asserts on the result.
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def _request(url, key, method, path, body=None, timeout=120):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json",
            "Connection": "close"})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def cmdlines():
    """(pid, argv as bytes) of every process that can be read."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                yield int(entry), f.read().split(b"\0")
        except OSError:
            continue


def thawd_pid(url):
    """The pid of the thawd listening on url's address (from /proc)."""
    u = urllib.parse.urlsplit(url)
    want = f"{u.hostname}:{u.port}".encode()
    for pid, args in cmdlines():
        if args and args[0].endswith(b"thawd") and want in args:
            return pid
    return None


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


class Load:
    def __init__(self, url, key, clients, seconds, warmup, execs, template=None):
        self.url, self.key = url, key
        self.clients, self.seconds, self.warmup, self.execs = clients, seconds, warmup, execs
        self.body = {"timeout_s": 600}
        if template:
            self.body["template"] = template
        self.lock = threading.Lock()
        self.create_ms, self.exec_ms, self.delete_ms, self.errors = [], [], [], []
        self.cycles = 0

    def _timed(self, what, sink, method, path, body=None, want=200):
        t0 = time.monotonic()
        try:
            st, reply = _request(self.url, self.key, method, path, body)
        except (OSError, http.client.HTTPException) as e:
            st, reply = None, repr(e)
        ms = (time.monotonic() - t0) * 1000
        if st != want:
            with self.lock:
                self.errors.append(f"{what}: {st} {str(reply)[:200]}")
            return None
        with self.lock:
            sink.append(ms)
        return reply

    def _client(self, n, stop_at):
        while time.monotonic() < stop_at:
            sb = self._timed("create", self.create_ms, "POST", "/v1/sandboxes", self.body, 201)
            if not sb:
                time.sleep(0.5)
                continue
            sid = sb["id"]
            for i in range(self.execs):
                r = self._timed("exec", self.exec_ms, "POST", f"/v1/sandboxes/{sid}/exec",
                                {"cmd": ["sh", "-c", f"echo {n}-{i}"]})
                if r and r.get("stdout") != f"{n}-{i}\n":
                    with self.lock:
                        self.errors.append(f"exec in {sid}: wrong output {r!r:.200}")
            self._timed("delete", self.delete_ms, "DELETE", f"/v1/sandboxes/{sid}", want=204)
            with self.lock:
                self.cycles += 1

    def run(self, pid=None, log=print):
        t0 = time.monotonic()
        stop_at = t0 + self.seconds
        threads = [threading.Thread(target=self._client, args=(n, stop_at), daemon=True)
                   for n in range(self.clients)]
        for t in threads:
            t.start()
        rss = {}
        time.sleep(min(self.warmup, self.seconds))
        if pid:
            rss["warm"] = rss_kib(pid)
        for t in threads:
            t.join(self.seconds + 300)
        alive = sum(t.is_alive() for t in threads)
        if alive:
            self.errors.append(f"{alive} client(s) still running 300 s after the end")
        if pid:
            rss["end"] = rss_kib(pid)
        elapsed = time.monotonic() - t0
        return self.summary(elapsed, rss)

    def summary(self, elapsed, rss):
        def stats(v):
            return {"n": len(v), "p50_ms": round(percentile(v, 50), 1),
                    "p99_ms": round(percentile(v, 99), 1),
                    "max_ms": round(max(v), 1) if v else None}
        return {"clients": self.clients, "seconds": round(elapsed, 1), "cycles": self.cycles,
                "create": stats(self.create_ms), "exec": stats(self.exec_ms),
                "delete": stats(self.delete_ms), "errors": self.errors,
                "rss_kib": rss}


def report(s):
    lines = [f"load: {s['clients']} clients for {s['seconds']} s: {s['cycles']} create/"
             f"exec/delete cycles, {len(s['errors'])} errors"]
    for k in ("create", "exec", "delete"):
        v = s[k]
        lines.append(f"  {k:7s} n={v['n']:5d}  p50 {v['p50_ms']:8.1f} ms  p99 {v['p99_ms']:8.1f}"
                     f" ms  max {v['max_ms']} ms")
    if s["rss_kib"]:
        lines.append(f"  thawd RSS after warm-up {s['rss_kib'].get('warm')} KiB, at the end "
                     f"{s['rss_kib'].get('end')} KiB")
    for e in s["errors"][:20]:
        lines.append(f"  error: {e}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=75)
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--execs", type=int, default=3)
    ap.add_argument("--template")
    ap.add_argument("--json", help="also write the summary here")
    a = ap.parse_args()
    url = os.environ.get("THAW_API_URL", "http://127.0.0.1:7420")
    key = os.environ.get("THAW_API_KEY", "")
    s = Load(url, key, a.clients, a.seconds, a.warmup, a.execs, a.template).run(thawd_pid(url))
    print(report(s))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(s, f, indent=2)
    return 1 if s["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
