#!/usr/bin/env python3
"""PostgreSQL benchmark (issue 17, docs/postgres.md), in one run:

  1. Restore: time from the create request (template postgres) to the
     first successful `SELECT 1` from a client on the host, p50/p99 over
     --n creates (the client retries until it answers; the create answer
     already carries the sandbox's own password).
  2. Cold: the same template's packages booted without the snapshot
     (create with cold_boot: kernel boot, the agent), then initdb, start,
     the baked password set and a TCP `SELECT 1` in the guest
     (start-postgres with a fresh PGDATA), then the first `SELECT 1` from
     the host: the design's 30-90 s path, timed end to end the same way.
  3. A `SELECT 1` round trip (pgbench, one connection, --seconds each):
     in the guest over its Unix socket; from the host to the guest's
     address inside the sandbox's namespace (the tunnel's inner leg);
     through the API tunnel (GET /v1/sandboxes/ID/tunnel/5432, from a
     local listener in this script that opens one tunnel per connection,
     as `thaw port-forward` does); through a published host port when
     thawd has a --publish-range. And a --copy-mb MB COPY from the host
     through the tunnel (MB/s).

Host clients connect with scram-sha-256 and the create's password.
Needs root (ip netns exec) and Debian's postgresql-15 client on the host.
Usage: bench/postgres.py [--n 20] [--cold 1] [--copy-mb 100] [--json F]"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

GUEST = "172.16.0.2"
BAKED = "thaw-baked-password"
PGBIN = "/usr/lib/postgresql/15/bin"
URL = os.environ.get("THAW_API_URL", "http://127.0.0.1:7420").rstrip("/")
KEY = os.environ.get("THAW_API_KEY", "")


def api(method, path, body=None, timeout=600):
    req = urllib.request.Request(URL + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {KEY}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _pump(src, dst):
    try:
        while True:
            b = src.recv(262144)
            if not b:
                break
            dst.sendall(b)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def tunnel_listener(sid, port):
    """127.0.0.1:N whose every connection is relayed through its own API
    tunnel to the sandbox's port; returns N."""
    u = urllib.parse.urlparse(URL)
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)

    def one(c):
        t = socket.create_connection((u.hostname, u.port or 80))
        t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t.sendall((f"GET /v1/sandboxes/{sid}/tunnel/{port} HTTP/1.1\r\nHost: thaw\r\n"
                   f"Authorization: Bearer {KEY}\r\nConnection: Upgrade\r\n"
                   "Upgrade: thaw-tunnel\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = t.recv(1)
            if not b:
                c.close()
                return
            head += b
        if not head.startswith(b"HTTP/1.1 101"):
            c.close()
            return
        threading.Thread(target=_pump, args=(t, c), daemon=True).start()
        _pump(c, t)

    def serve():
        while True:
            c, _ = lst.accept()
            threading.Thread(target=one, args=(c,), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    return lst.getsockname()[1]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else float("nan")


def host_psql(netns, password, sql, timeout=60, stdin=None, published=None):
    """psql from the host: to a published port (a plain host client) when
    there is one, else inside the sandbox's namespace to its address."""
    if published:
        pre, where = [], f"host={published['host_address']} port={published['host_port']}"
    else:
        pre, where = ["ip", "netns", "exec", netns], f"host={GUEST} port=5432"
    return subprocess.run(
        pre + [f"{PGBIN}/psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql,
               f"{where} user=postgres dbname=postgres connect_timeout=5"],
        env={"PGPASSWORD": password, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        input=stdin, capture_output=True, timeout=timeout)


def first_select(sb, password, deadline_s=600):
    """Polls SELECT 1 from the host until it answers."""
    end = time.monotonic() + deadline_s
    pub = [p for p in sb.get("published_ports", []) if p["port"] == 5432]
    while time.monotonic() < end:
        r = host_psql(sb["network"]["netns"], password, "SELECT 1",
                      published=pub[0] if pub else None)
        if r.returncode == 0 and r.stdout.strip() == b"1":
            return
        time.sleep(0.01)
    raise SystemExit(f"no SELECT 1 from the host within {deadline_s} s: {r.stderr!r}")


def create(**kw):
    st, body = api("POST", "/v1/sandboxes", {"template": "postgres", "timeout_s": 0, **kw})
    if st != 201:
        raise SystemExit(f"create answered {st}: {body}")
    return body


def restore_once():
    t0 = time.monotonic()
    sb = create()
    t_create = time.monotonic() - t0
    first_select(sb, sb["database"]["password"])
    total = time.monotonic() - t0
    return sb, t_create * 1000, total * 1000


def cold_once():
    t0 = time.monotonic()
    sb = create(cold_boot=True)
    t_boot = time.monotonic() - t0
    st, r = api("POST", f"/v1/sandboxes/{sb['id']}/exec",
                {"cmd": "PGDATA=/var/lib/postgresql/cold /usr/lib/thaw/start-postgres",
                 "timeout_s": 900}, timeout=960)
    if st != 200 or r["exit_code"] != 0:
        raise SystemExit(f"cold initdb + start failed: {st} {r}")
    t_init = time.monotonic() - t0 - t_boot
    first_select(sb, BAKED)
    total = time.monotonic() - t0
    api("DELETE", f"/v1/sandboxes/{sb['id']}")
    return t_boot * 1000, t_init * 1000, total * 1000


def pgbench_latency(run, seconds):
    """Average latency (ms) of SELECT 1 over one connection for seconds."""
    out = run(seconds)
    for line in out.splitlines():
        if line.startswith("latency average"):
            return float(line.split("=")[1].split()[0])
    raise SystemExit(f"pgbench said: {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--cold", type=int, default=1)
    ap.add_argument("--copy-mb", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=5, help="per pgbench run")
    ap.add_argument("--json")
    a = ap.parse_args()
    res = {"n": a.n, "cold_n": a.cold}
    creates, totals = [], []
    keep = None
    for i in range(a.n):
        sb, c_ms, t_ms = restore_once()
        creates.append(c_ms)
        totals.append(t_ms)
        if keep is None:
            keep = sb
        else:
            api("DELETE", f"/v1/sandboxes/{sb['id']}")
        time.sleep(0.5)  # the pools refill between creates, as for a paced client
    res["restore_create_ms"] = {"p50": pct(creates, 50), "p99": pct(creates, 99)}
    res["restore_first_select_ms"] = {"p50": pct(totals, 50), "p99": pct(totals, 99)}
    print(f"restore: create p50 {pct(creates, 50):.0f} ms p99 {pct(creates, 99):.0f} ms; "
          f"request -> first host SELECT 1 p50 {pct(totals, 50):.0f} ms "
          f"p99 {pct(totals, 99):.0f} ms (n={a.n})", flush=True)
    colds = [cold_once() for _ in range(a.cold)]
    if colds:
        c50 = pct([c[2] for c in colds], 50)
        res["cold_ms"] = {"boot": pct([c[0] for c in colds], 50),
                          "initdb_start": pct([c[1] for c in colds], 50), "total": c50}
        res["speedup_p50"] = c50 / pct(totals, 50)
        print(f"cold: boot {res['cold_ms']['boot']:.0f} ms + initdb/start/SELECT 1 in the "
              f"guest {res['cold_ms']['initdb_start']:.0f} ms -> first host SELECT 1 "
              f"{c50:.0f} ms (n={a.cold}); restore is {res['speedup_p50']:.0f}x faster (p50)",
              flush=True)
    ns, pw, sid = keep["network"]["netns"], keep["database"]["password"], keep["id"]
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write("SELECT 1;\n")
    os.chmod(f.name, 0o644)

    def pgbench_host(netns, conn):
        def run(s):
            pre = ["ip", "netns", "exec", netns] if netns else []
            return subprocess.run(
                pre + [f"{PGBIN}/pgbench", "-n", "-c1", "-T", str(s), "-f", f.name, conn],
                env={"PGPASSWORD": pw, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
                capture_output=True, text=True).stdout
        return run

    def guest_run(s):
        st, r = api("POST", f"/v1/sandboxes/{sid}/exec",
                    {"cmd": f"echo 'SELECT 1;' >/tmp/s.sql && {PGBIN}/pgbench -n -c1 -T {s} "
                            "-f /tmp/s.sql -h /run/postgresql -U postgres postgres",
                     "timeout_s": s + 60})
        return r["stdout"] if st == 200 else str(r)
    tport = tunnel_listener(sid, 5432)
    lat = {"guest_socket": pgbench_latency(guest_run, a.seconds),
           "host_netns_tcp": pgbench_latency(
               pgbench_host(ns, f"host={GUEST} user=postgres dbname=postgres"), a.seconds),
           "api_tunnel": pgbench_latency(
               pgbench_host(None, f"host=127.0.0.1 port={tport} user=postgres dbname=postgres"),
               a.seconds)}
    pub = [p for p in keep.get("published_ports", []) if p["port"] == 5432]
    if pub:
        lat["published_port"] = pgbench_latency(pgbench_host(
            None, f"host={pub[0]['host_address']} port={pub[0]['host_port']} user=postgres "
                  "dbname=postgres"), a.seconds)
    os.unlink(f.name)
    res["select1_roundtrip_ms"] = lat
    print("SELECT 1 round trip (pgbench, one connection): " +
          ", ".join(f"{k} {v:.2f} ms" for k, v in lat.items()) +
          f"; the tunnel adds {lat['api_tunnel'] - lat['host_netns_tcp']:.2f} ms", flush=True)
    if a.copy_mb:
        row = b"1\t" + b"x" * 94 + b"\n"  # 100 bytes a row
        data = row * (a.copy_mb * 1000000 // len(row))
        conn = f"host=127.0.0.1 port={tport} user=postgres dbname=postgres"
        subprocess.run([f"{PGBIN}/psql", "-X", "-c", "CREATE TABLE copytest (a int, b text)",
                        conn], env={"PGPASSWORD": pw}, check=True, capture_output=True)
        t0 = time.monotonic()
        r = subprocess.run([f"{PGBIN}/psql", "-X", "-v", "ON_ERROR_STOP=1", "-c",
                            "\\copy copytest FROM STDIN", conn], env={"PGPASSWORD": pw},
                           input=data, capture_output=True, timeout=3600)
        dt = time.monotonic() - t0
        if r.returncode != 0:
            raise SystemExit(f"COPY failed: {r.stderr!r}")
        res["copy_through_tunnel"] = {"mb": len(data) / 1e6, "s": dt,
                                      "mb_per_s": len(data) / 1e6 / dt}
        print(f"COPY {len(data) / 1e6:.0f} MB from the host through the API tunnel: "
              f"{dt:.1f} s, {len(data) / 1e6 / dt:.1f} MB/s", flush=True)
    api("DELETE", f"/v1/sandboxes/{sid}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
