"""Sandbox networking with real packets: a guest reaches an "outside"
network through two NATs (guest -> slot address inside the slot, slot
address -> host address in the root namespace), and the isolation rules
keep it away from the host's own services, link-local metadata, private
ranges and other sandboxes; --allow opens one private range; a reused
slot carries nothing of its last sandbox; the slot pool survives a burst.

Every "cannot reach" comes with a control: the same listener answers
from the root namespace (or the outside namespace); a listener in a
slot, which nothing outside the slot can reach (the host drops all that
comes in from slot veths, replies included), answers inside its slot and
the host has a route to it. So a missing route or a dead listener cannot
pass for isolation. A blocked connection must time out (the packet was
dropped): "refused" would mean the packet reached a network stack.

The module needs the session thawd's slot range (THAW_SLOT_CIDR, default
10.201.0.0/16) to itself: another thaw instance on the host with the same
range makes the slot fixture fail (see slot_range).

Test networks (all removed at the end, also on failure):
  thawtest-out   the "outside": OUT.1/24 with an HTTP server on :8000,
                 root side OUT.254 (198.51.100.0/24 unless something on
                 the host routes it already, then 203.0.113.0/24)
  thawtest-priv  private destinations 10.99.0.1 and 192.168.77.1 (:8000)
  thawtest0      a dummy interface (a veth pair without the dummy driver)
                 with 169.254.169.254 in the root namespace (:80 if free)
"""

import ipaddress
import json
import os
import re
import select
import signal
import subprocess
import time

import pytest

import thawlib as T

PY = "/usr/bin/python3"

OUT_NS = "thawtest-out"
PRIV_NS = "thawtest-priv"
OUT_VETH = "thawtest-o0"     # root side of the outside veth pair
PRIV_VETH = "thawtest-p0"    # root side of the private veth pair
META_DUMMY = "thawtest0"
META_IP = "169.254.169.254"
SERVER_PORT = 8000

OUT_CANDIDATES = ("198.51.100.0/24", "203.0.113.0/24")
PRIV10_CANDIDATES = ("10.99.0.0/24", "10.98.0.0/24", "10.97.0.0/24")
PRIV192_CANDIDATES = ("192.168.77.0/24", "192.168.78.0/24", "192.168.79.0/24")

SLOT_VETH_RE = re.compile(r"t[0-9a-f]{6}[0-9a-f]{4}$")  # t<tag><index hex4>

CONNECT_TIMEOUT = 3.0  # seconds a probe waits for a TCP connect

# An HTTP server answering "NAME CLIENT_IP CLIENT_PORT"; prints
# "listening PORT" once it accepts connections.
SERVER_SRC = r'''
import http.server, socketserver, sys
name, bind, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s %s %d\n" % (name, self.client_address[0], self.client_address[1])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    def server_bind(self):
        # Not HTTPServer's: its getfqdn() may wait for a DNS server.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
s = S((bind, port), H)
print("listening %d" % s.server_address[1], flush=True)
s.serve_forever()
'''

# TCP connects to several targets at once. argv: JSON [[host, port], ...],
# timeout, optional source port. Prints JSON {"host:port": result}, result
# {"result": ok|refused|timeout|unreachable|error, "local": "ip:port",
# "body": the HTTP answer, "ms": connect time}.
PROBE_SRC = r'''
import errno, json, socket, sys, threading, time

def probe(host, port, timeout, sport=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        if sport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", sport))
        try:
            s.connect((host, port))
        except socket.timeout:
            return {"result": "timeout"}
        except ConnectionRefusedError:
            return {"result": "refused"}
        except OSError as e:
            if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return {"result": "unreachable", "error": str(e)}
            return {"result": "error", "error": str(e)}
        ms = (time.monotonic() - t0) * 1000
        local = "%s:%d" % s.getsockname()
        body = ""
        try:
            s.sendall(b"GET / HTTP/1.0\r\nHost: probe\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            body = data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")
        except OSError as e:
            body = "(no answer: %s)" % e
        return {"result": "ok", "local": local, "body": body, "ms": round(ms, 1)}
    finally:
        s.close()

def probe_all(targets, timeout, sport=0):
    results = {}
    def one(h, p):
        results["%s:%d" % (h, p)] = probe(h, p, timeout, sport)
    threads = [threading.Thread(target=one, args=(h, int(p))) for h, p in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results

if __name__ == "__main__":
    targets = json.loads(sys.argv[1])
    timeout = float(sys.argv[2])
    sport = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    print(json.dumps(probe_all(targets, timeout, sport)))
'''

_probe_mod = {"__name__": "thaw_e2e_probe"}
exec(compile(PROBE_SRC, "<probe>", "exec"), _probe_mod)


# ---- host-side helpers -------------------------------------------------------

def run(*cmd, check=True, timeout=30):
    r = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {r.returncode}: "
                             f"{r.stderr.strip() or r.stdout.strip()}")
    return r


def ns_run(ns, *cmd, check=True, timeout=30):
    return run("ip", "netns", "exec", ns, *cmd, check=check, timeout=timeout)


def root_addrs():
    """[(ifname, IPv4Interface)] of the root namespace."""
    out = json.loads(run("ip", "-j", "-4", "addr", "show").stdout or "[]")
    found = []
    for link in out:
        for a in link.get("addr_info", []):
            if a.get("family") == "inet":
                found.append((link["ifname"],
                              ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")))
    return found


def root_routes():
    """[(destination network, device)] of the root namespace's main table."""
    out = json.loads(run("ip", "-j", "-4", "route", "show").stdout or "[]")
    found = []
    for r in out:
        dst = r.get("dst")
        if not dst or dst == "default":
            continue
        found.append((ipaddress.ip_network(dst if "/" in dst else dst + "/32", strict=False),
                      r.get("dev")))
    return found


def network_in_use(net, also=()):
    """Why net cannot be used for a test network (an overlapping route or
    address in the root namespace, or one of `also`), or None."""
    net = ipaddress.ip_network(net)
    for dst, dev in root_routes():
        if dst.overlaps(net):
            return f"route {dst} dev {dev}"
    for ifname, iface in root_addrs():
        if iface.ip in net:
            return f"address {iface} on {ifname}"
    for other in also:
        if ipaddress.ip_network(other).overlaps(net):
            return f"overlaps {other}"
    return None


def pick_network(candidates, also=()):
    taken = {}
    for c in candidates:
        why = network_in_use(c, also)
        if why is None:
            return ipaddress.ip_network(c), taken
        taken[c] = why
    pytest.fail(f"no free test network among {candidates}: {taken}")


def addr_in(net, host):
    return str(ipaddress.ip_network(net).network_address + host)


def start_server(name, bind, port, netns=None, timeout=10):
    """Starts SERVER_SRC (in netns when given); returns (Popen, port) once
    it listens."""
    cmd = [PY, "-c", SERVER_SRC, name, bind, str(port)]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    line = p.stdout.readline() if ready else ""
    m = re.match(r"listening (\d+)", line)
    if not m:
        stop_process(p)
        err = p.stderr.read() if p.stderr else ""
        raise AssertionError(f"server {name} on {bind}:{port} (netns {netns}) did not "
                             f"start (exit {p.returncode}): {line!r} {err.strip()!r}")
    return p, int(m.group(1))


def stop_process(p):
    """Stops a process this module started (by its own pid only)."""
    if p is None or p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)


def target_list(targets):
    return [[h, int(p)] for h, p in targets]


def probe_root(targets, timeout=CONNECT_TIMEOUT, sport=0):
    return _probe_mod["probe_all"](target_list(targets), timeout, sport)


def probe_ns(ns, targets, timeout=CONNECT_TIMEOUT):
    r = ns_run(ns, PY, "-c", PROBE_SRC, json.dumps(target_list(targets)), str(timeout),
               timeout=timeout + 30)
    return json.loads(r.stdout)


def probe_guest(sid, targets, timeout=CONNECT_TIMEOUT, sport=0):
    r = T.exec_(sid, ["python3", "-c", PROBE_SRC, json.dumps(target_list(targets)),
                      str(timeout), str(sport)], timeout_s=int(timeout) + 30)
    assert r["exit_code"] == 0 and not r["timed_out"], f"probe in {sid} failed: {r}"
    return json.loads(r["stdout"])


def key(host, port):
    return f"{host}:{port}"


def results_are(results, want, what):
    """Asserts every result is `want` (ok, timeout, ...)."""
    bad = {k: v for k, v in results.items() if v["result"] != want}
    assert not bad, f"{what}: expected {want!r} for every target, got {bad}"


def conntrack(netns=None):
    """The lines of /proc/net/nf_conntrack (of netns when given)."""
    path = "/proc/net/nf_conntrack"
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: these checks read the kernel's conntrack table "
                    "(CONFIG_NF_CONNTRACK_PROCFS)")
    if netns:
        return ns_run(netns, "cat", path).stdout.splitlines()
    with open(path) as f:
        return f.read().splitlines()


def ct_entries(lines, **match):
    """Conntrack lines whose tuples contain all of match (e.g. dst=...,
    dport=...) in their original direction."""
    found = []
    for line in lines:
        fields = line.split()
        # The original tuple is the first src/dst/sport/dport group.
        orig = {}
        for f in fields:
            if "=" in f:
                k, v = f.split("=", 1)
                if k in orig:
                    break
                orig[k] = v
        if all(orig.get(k) == str(v) for k, v in match.items()):
            found.append(line)
    return found


def reply_tuple(line):
    """The reply direction of a conntrack line: {src, dst, sport, dport}."""
    seen, reply = {}, {}
    for f in line.split():
        if "=" not in f:
            continue
        k, v = f.split("=", 1)
        if k in ("src", "dst", "sport", "dport"):
            if k in seen:
                reply.setdefault(k, v)
            else:
                seen[k] = v
    return reply


# ---- the thawd side ------------------------------------------------------------

def slot_info():
    _, _, info = T.pools()
    return info["network"]


def slot_addrs(slot_cidr, index):
    """(host end, slot end) of slot index: .4i+1 in the root namespace,
    .4i+2 inside the slot."""
    base = ipaddress.ip_network(slot_cidr).network_address
    return str(base + 4 * index + 1), str(base + 4 * index + 2)


def if_prefix(d):
    return "t" + d.prefix[len("thaw-"):-1]


def nft_table(d):
    return "thaw_" + d.prefix[len("thaw-"):-1]


def sandbox_net(sb):
    """(slot index, netns, host end, slot end) of a create/GET answer."""
    n = sb["network"]
    host_end, slot_end = slot_addrs(slot_info()["slot_cidr"], n["slot"])
    return n["slot"], n["netns"], host_end, slot_end


# ---- fixtures ----------------------------------------------------------------

class Cleanup:
    """Undo steps run in reverse order; each one runs even if another fails."""

    def __init__(self):
        self.steps = []

    def add(self, what, fn):
        self.steps.append((what, fn))

    def run(self):
        problems = []
        while self.steps:
            what, fn = self.steps.pop()
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - reported below
                problems.append(f"{what}: {e!r}")
        return problems


def _del_link(name):
    run("ip", "link", "del", name, check=False)


def _del_ns(name):
    run("ip", "netns", "del", name, check=False)


def _remove_leftovers():
    """What a crashed earlier run of this module may have left (names of
    our own prefix only)."""
    for name in (OUT_VETH, PRIV_VETH, META_DUMMY, META_DUMMY + "p"):
        if os.path.exists(f"/sys/class/net/{name}"):
            _del_link(name)
    for name in (OUT_NS, PRIV_NS):
        if (T.NETNS_DIR / name).exists():
            _del_ns(name)


@pytest.fixture(scope="module")
def slot_range(template):
    """The session thawd's slot range, and the precondition every test
    here relies on: no interface of something else (another thaw instance
    on this host, say) holds addresses in it. Two instances with the same
    range would put the same /30s on two interfaces of the root namespace
    and replies would go to whichever route came first; thawd refuses to
    start on a range in use (test_range_in_use_is_refused), and this
    check catches one taken after the session thawd started."""
    d = T.current()
    cidr = slot_info()["slot_cidr"]
    net = ipaddress.ip_network(cidr)
    mine = if_prefix(d)
    foreign = sorted(f"{iface} on {ifname}" for ifname, iface in root_addrs()
                     if iface.ip in net and not ifname.startswith(mine))
    if foreign:
        pytest.fail(f"the slot range {cidr} of this thawd (interfaces {mine}*) is also "
                    f"used by other interfaces of the root namespace: {foreign[:6]}"
                    f"{' ...' if len(foreign) > 6 else ''} ({len(foreign)} in all); its "
                    "slots would not get their replies. "
                    "Stop the other instance or run with THAW_SLOT_CIDR=<another /16>.")
    return cidr


@pytest.fixture(scope="module")
def net(slot_range):
    """The outside and private test networks, their servers, a dummy
    169.254.169.254 with a listener and an "sshd" on 0.0.0.0 in the root
    namespace. Returns a dict of addresses and ports."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    _remove_leftovers()
    out_net, out_taken = pick_network(OUT_CANDIDATES, also=[slot_range])
    p10_net, _ = pick_network(PRIV10_CANDIDATES, also=[slot_range])
    p192_net, _ = pick_network(PRIV192_CANDIDATES, also=[slot_range])
    if out_taken:
        print(f"\n[net] outside network {out_net}: {out_taken} (not ours) is in use")
    meta_why = network_in_use(META_IP + "/32")
    if meta_why:
        pytest.fail(f"{META_IP} is already in use on this host ({meta_why})")

    n = {
        "out_net": str(out_net), "out_ip": addr_in(out_net, 1), "out_gw": addr_in(out_net, 254),
        "p10_net": str(p10_net), "p10_ip": addr_in(p10_net, 1), "p10_gw": addr_in(p10_net, 254),
        "p192_net": str(p192_net), "p192_ip": addr_in(p192_net, 1),
        "p192_gw": addr_in(p192_net, 254), "port": SERVER_PORT, "meta_ip": META_IP,
        "slot_cidr": slot_range,
    }
    c = Cleanup()
    procs = []

    def stop_all():
        for p in procs:
            stop_process(p)
    try:
        # The outside network.
        c.add(f"netns {OUT_NS}", lambda: _del_ns(OUT_NS))
        run("ip", "netns", "add", OUT_NS)
        c.add(f"link {OUT_VETH}", lambda: _del_link(OUT_VETH))
        run("ip", "link", "add", OUT_VETH, "type", "veth", "peer", "name", "eth0",
            "netns", OUT_NS)
        run("ip", "addr", "add", f"{n['out_gw']}/24", "dev", OUT_VETH)
        run("ip", "link", "set", OUT_VETH, "up")
        ns_run(OUT_NS, "ip", "link", "set", "lo", "up")
        ns_run(OUT_NS, "ip", "addr", "add", f"{n['out_ip']}/24", "dev", "eth0")
        ns_run(OUT_NS, "ip", "link", "set", "eth0", "up")
        ns_run(OUT_NS, "ip", "route", "add", "default", "via", n["out_gw"])
        # The private destinations: one namespace, both addresses.
        c.add(f"netns {PRIV_NS}", lambda: _del_ns(PRIV_NS))
        run("ip", "netns", "add", PRIV_NS)
        c.add(f"link {PRIV_VETH}", lambda: _del_link(PRIV_VETH))
        run("ip", "link", "add", PRIV_VETH, "type", "veth", "peer", "name", "eth0",
            "netns", PRIV_NS)
        run("ip", "addr", "add", f"{n['p10_gw']}/24", "dev", PRIV_VETH)
        run("ip", "addr", "add", f"{n['p192_gw']}/24", "dev", PRIV_VETH)
        run("ip", "link", "set", PRIV_VETH, "up")
        ns_run(PRIV_NS, "ip", "link", "set", "lo", "up")
        ns_run(PRIV_NS, "ip", "addr", "add", f"{n['p10_ip']}/24", "dev", "eth0")
        ns_run(PRIV_NS, "ip", "addr", "add", f"{n['p192_ip']}/24", "dev", "eth0")
        ns_run(PRIV_NS, "ip", "link", "set", "eth0", "up")
        ns_run(PRIV_NS, "ip", "route", "add", "default", "via", n["p10_gw"])
        # Link-local "metadata" on an interface of the root namespace: a
        # dummy one, or a veth pair where the kernel has no dummy driver.
        c.add(f"link {META_DUMMY}", lambda: _del_link(META_DUMMY))
        if run("ip", "link", "add", META_DUMMY, "type", "dummy", check=False).returncode:
            run("ip", "link", "add", META_DUMMY, "type", "veth", "peer", "name",
                META_DUMMY + "p")
            run("ip", "link", "set", META_DUMMY + "p", "up")
        run("ip", "addr", "add", f"{META_IP}/32", "dev", META_DUMMY)
        run("ip", "link", "set", META_DUMMY, "up")

        c.add("servers", stop_all)
        p, _ = start_server("outside", n["out_ip"], SERVER_PORT, netns=OUT_NS)
        procs.append(p)
        p, _ = start_server("private", "0.0.0.0", SERVER_PORT, netns=PRIV_NS)
        procs.append(p)
        try:
            p, n["meta_port"] = start_server("metadata", META_IP, 80)
        except AssertionError:
            p, n["meta_port"] = start_server("metadata", META_IP, 0)
        procs.append(p)
        p, n["sshd_port"] = start_server("sshd", "0.0.0.0", 0)
        procs.append(p)
        # Host addresses, less slot veths (of any thaw instance: they come
        # and go with the pools; the tests add the ones of their slots).
        n["host_ips"] = sorted({str(i.ip) for ifname, i in root_addrs()
                                if not i.ip.is_loopback and not SLOT_VETH_RE.match(ifname)})
        print(f"[net] outside {n['out_ip']} (root side {n['out_gw']}), private "
              f"{n['p10_ip']} and {n['p192_ip']}, metadata {META_IP}:{n['meta_port']}, "
              f"sshd 0.0.0.0:{n['sshd_port']}")
        yield n
    finally:
        problems = c.run()
        left = [x for x in (OUT_VETH, PRIV_VETH, META_DUMMY, META_DUMMY + "p")
                if os.path.exists(f"/sys/class/net/{x}")]
        left += [x for x in (OUT_NS, PRIV_NS) if (T.NETNS_DIR / x).exists()]
        assert not problems and not left, f"test network cleanup: {problems}, left {left}"


@pytest.fixture
def procs():
    """Processes a test starts (listeners in slot namespaces); stopped
    before the sandboxes fixture deletes the sandboxes when requested
    after it."""
    started = []
    yield started
    for p in started:
        stop_process(p)


@pytest.fixture
def out_routes():
    """Routes added to the outside namespace by a test; removed after it."""
    added = []
    yield added
    for dst in added:
        ns_run(OUT_NS, "ip", "route", "del", dst, check=False)


def guest_listener(sid, port):
    """Starts the test server in the guest, in the background, and waits
    until it answers there. (Not `python3 -m http.server`: its getfqdn()
    waits seconds for a DNS server the guest cannot reach.)"""
    T.exec_(sid, ["sh", "-c", "cat > /tmp/thawtest_server.py"], stdin=SERVER_SRC)
    T.sh(sid, f"nohup python3 /tmp/thawtest_server.py guest 0.0.0.0 {port} "
              ">/dev/null 2>&1 &")
    T.wait_until(lambda: probe_guest(sid, [("127.0.0.1", port)], 2)
                 [key("127.0.0.1", port)]["result"] == "ok",
                 30, interval=0.3, what=f"the http.server on :{port} in {sid}")


# ---- 1. NAT to the outside ---------------------------------------------------

def test_guest_reaches_outside_through_nat(net, sandboxes):
    sb = sandboxes(template=T.TEMPLATE)
    sid = sb["id"]
    index, netns, host_end, slot_end = sandbox_net(sb)
    out = key(net["out_ip"], SERVER_PORT)
    # Control: the server answers from the root namespace.
    r = probe_root([(net["out_ip"], SERVER_PORT)])[out]
    assert r["result"] == "ok" and r["body"].split()[:2] == ["outside", net["out_gw"]], r

    r = probe_guest(sid, [(net["out_ip"], SERVER_PORT)])[out]
    assert r["result"] == "ok", f"the guest cannot reach the outside server: {r}"
    name, seen_ip, seen_port = r["body"].split()
    local_ip, local_port = r["local"].split(":")
    assert name == "outside", r
    assert local_ip == "172.16.0.2", f"the guest's own address is {local_ip}: {r}"
    assert seen_ip == net["out_gw"], \
        f"the outside server saw {seen_ip}, not the host address {net['out_gw']} (no NAT?)"
    assert seen_ip not in ("172.16.0.2", slot_end), r
    T.check(f"guest {local_ip}:{local_port} GET {out} -> {r['body'].strip()!r}: the server "
            f"saw the host's address {seen_ip}, not 172.16.0.2 or the slot's {slot_end}")

    # Both NAT stages, from the kernels' own records of that connection.
    inner = ct_entries(conntrack(netns), src="172.16.0.2", dst=net["out_ip"],
                       sport=local_port, dport=SERVER_PORT)
    assert len(inner) == 1, f"slot {netns} conntrack for the connection: {inner}"
    assert reply_tuple(inner[0])["dst"] == slot_end, \
        f"inside the slot the guest is not masqueraded to {slot_end}: {inner[0]}"
    outer = ct_entries(conntrack(), src=slot_end, dst=net["out_ip"], dport=SERVER_PORT)
    outer = [x for x in outer if reply_tuple(x)["dport"] == seen_port]
    assert len(outer) == 1, f"root conntrack for {slot_end} -> {out}: {outer}"
    assert reply_tuple(outer[0])["dst"] == net["out_gw"], outer[0]
    T.check(f"conntrack: inside {netns} 172.16.0.2:{local_port} -> {slot_end}; in the root "
            f"namespace {slot_end} -> {net['out_gw']}:{seen_port} (slot {index})")


# ---- 2. what a guest must not reach ---------------------------------------------

# The root namespace drops everything that comes in from a slot veth,
# replies included, so nothing in the root namespace can talk to a slot's
# own stack; the controls for slot addresses are a listener that answers
# inside its slot, and the host's route from one slot veth to the other.

def route_dev(dst, src, iif):
    """The device the root namespace forwards dst to, for a packet from
    src arriving on iif (`ip route get`)."""
    r = run("ip", "-j", "route", "get", dst, "from", src, "iif", iif, check=False)
    if r.returncode != 0:
        return f"(no route: {r.stderr.strip()})"
    return json.loads(r.stdout)[0].get("dev")


def slot_veth(d, index):
    return f"{if_prefix(d)}{index:04x}"


def test_guest_cannot_reach_host_private_or_other_sandboxes(net, sandboxes, procs):
    d = T.current()
    a = sandboxes(template=T.TEMPLATE)
    b = sandboxes(template=T.TEMPLATE)
    a_index, _, a_host, a_slot = sandbox_net(a)
    b_index, b_ns, b_host, b_slot = sandbox_net(b)
    assert a_index != b_index, (a["network"], b["network"])
    # A listener in B's slot namespace (on B's slot address) and one in
    # B's guest.
    p, slot_port = start_server("slot-b", "0.0.0.0", 9001, netns=b_ns)
    procs.append(p)
    guest_listener(b["id"], 9000)

    sshd = net["sshd_port"]
    host_ips = sorted(set(net["host_ips"]) | {a_host, b_host, net["out_gw"]})
    host_targets = [(ip, port) for ip in host_ips for port in (d.port, sshd)]
    others = [(META_IP, net["meta_port"]), (net["p10_ip"], SERVER_PORT),
              (net["p192_ip"], SERVER_PORT)]
    b_targets = [(b_slot, slot_port), (b_slot, 9000)]
    ctl = (net["out_ip"], SERVER_PORT)

    # Controls: every host listener answers from the root namespace ...
    root = probe_root([("127.0.0.1", d.port)] + [(ip, sshd) for ip in host_ips] + others)
    results_are(root, "ok", "from the root namespace")
    # ... the "sshd" also from the outside namespace, through a veth ...
    r = probe_ns(OUT_NS, [(net["out_gw"], sshd)])
    results_are(r, "ok", "from the outside namespace")
    # ... the API port is not open on the other host addresses (so a guest
    # would see "refused", not a timeout, if its packets reached the host's
    # stack) ...
    r = probe_root([(ip, d.port) for ip in host_ips], timeout=2)
    results_are(r, "refused", "thawd's API on host addresses other than 127.0.0.1")
    # ... B's slot listener answers inside B's slot, B's guest listener
    # answers B's slot, and the host routes A's slot to B's.
    r = probe_ns(b_ns, [(b_slot, slot_port), ("172.16.0.2", 9000)])
    results_are(r, "ok", f"inside B's slot {b_ns}")
    dev = route_dev(b_slot, a_slot, slot_veth(d, a_index))
    assert dev == slot_veth(d, b_index), \
        f"the host does not route {a_slot} -> {b_slot} to B's veth: {dev}"
    T.check(f"controls: from the root namespace thawd's API 127.0.0.1:{d.port}, the sshd "
            f"on {len(host_ips)} host addresses, {META_IP}:{net['meta_port']}, "
            f"{net['p10_ip']} and {net['p192_ip']} answer (the sshd the outside namespace "
            f"too); thawd's port is refused on the other addresses; B's listeners answer in "
            f"its slot and the host routes {a_slot} -> {b_slot} via {dev}")

    g = probe_guest(a["id"], host_targets + others + b_targets + [ctl])
    assert g.pop(key(*ctl))["result"] == "ok", \
        "the guest cannot reach the outside server (its network is broken, not isolated)"
    results_are(g, "timeout", f"from guest {a['id']} (slot {a_index})")
    T.check(f"guest A (slot {a_index}) reaches {key(*ctl)} but every one of {len(g)} "
            f"targets times out (dropped): thawd :{d.port} and sshd :{sshd} on {host_ips}, "
            f"{META_IP}:{net['meta_port']}, {net['p10_ip']}:{SERVER_PORT}, "
            f"{net['p192_ip']}:{SERVER_PORT}, B's slot {b_slot}:{slot_port} and :9000")


# ---- 3. nothing new into a slot ----------------------------------------------------

def test_nothing_new_enters_a_slot(net, sandboxes, procs, out_routes):
    d = T.current()
    a = sandboxes(template=T.TEMPLATE)
    b = sandboxes(template=T.TEMPLATE)
    a_index, a_ns, _, a_slot = sandbox_net(a)
    b_index, _, _, b_slot = sandbox_net(b)
    guest_listener(a["id"], 9000)
    p, slot_port = start_server("slot-a", "0.0.0.0", 9001, netns=a_ns)
    procs.append(p)
    ctl = (net["out_ip"], SERVER_PORT)
    targets = [(a_slot, slot_port), (a_slot, 9000)]

    inside = probe_ns(a_ns, targets + [("172.16.0.2", 9000)])
    assert inside[key(a_slot, slot_port)]["result"] == "ok", inside
    assert inside[key("172.16.0.2", 9000)]["result"] == "ok", inside
    # Nothing forwards the slot address into the guest: the slot's own
    # stack answers (RST).
    assert inside[key(a_slot, 9000)]["result"] == "refused", inside
    dev = route_dev(a_slot, b_slot, slot_veth(d, b_index))
    assert dev == slot_veth(d, a_index), f"no route {b_slot} -> {a_slot}: {dev}"
    T.check(f"controls: in A's slot {a_ns} {a_slot}:{slot_port} and the guest's "
            f"172.16.0.2:9000 answer, {a_slot}:9000 is refused (no port forwarding to the "
            f"guest); the host routes {b_slot} -> {a_slot} via {dev}")

    g = probe_guest(b["id"], targets + [ctl])
    assert g.pop(key(*ctl))["result"] == "ok", g
    results_are(g, "timeout", f"from guest B (slot {b_index}) to A's slot")
    T.check(f"guest B (slot {b_index}) times out on A's slot {a_slot}:{slot_port} and :9000")

    # The outside, with routes through the host to the slots and to the
    # private network: the private one answers (the host forwards a new
    # connection from there), the slot does not.
    out_routes.append(net["slot_cidr"])
    ns_run(OUT_NS, "ip", "route", "add", net["slot_cidr"], "via", net["out_gw"])
    out_routes.append(net["p10_net"])
    ns_run(OUT_NS, "ip", "route", "add", net["p10_net"], "via", net["out_gw"])
    dev = route_dev(a_slot, net["out_ip"], OUT_VETH)
    assert dev == slot_veth(d, a_index), f"no route {net['out_ip']} -> {a_slot}: {dev}"
    o = probe_ns(OUT_NS, targets + [(net["p10_ip"], SERVER_PORT)])
    r = o.pop(key(net["p10_ip"], SERVER_PORT))
    assert r["result"] == "ok" and r["body"].split()[:2] == ["private", net["out_ip"]], \
        f"control: the outside namespace cannot reach {net['p10_ip']} through the host: {r}"
    results_are(o, "timeout", f"from the outside namespace to A's slot {a_slot}")
    T.check(f"outside namespace, routed via {net['out_gw']}: reaches {net['p10_ip']} "
            f"through the host (source {net['out_ip']}), times out on {a_slot}:{slot_port} "
            f"and :9000 (the host routes it to {dev})")


# ---- 4. --allow ----------------------------------------------------------------------

def _restart_with(d, extra):
    """Stops thawd (SIGTERM) and starts it with extra arguments."""
    rc = d.stop(signal.SIGTERM)
    assert rc == 0, f"thawd exited {rc} after SIGTERM"
    if extra:
        d.argv = lambda *more: T.Thawd.argv(d, *extra, *more)
    else:
        d.__dict__.pop("argv", None)
    d.start()


def _allowed_set(d):
    text = run("nft", "list", "set", "inet", nft_table(d), "allowed").stdout
    m = re.search(r"elements = \{([^}]*)\}", text)
    return sorted(x.strip() for x in m.group(1).split(",")) if m else []


def test_allow_option_opens_only_the_given_range(net, template):
    d = T.current()
    allow = net["p192_net"]
    p10, p192 = (net["p10_ip"], SERVER_PORT), (net["p192_ip"], SERVER_PORT)
    ctl = (net["out_ip"], SERVER_PORT)
    assert _allowed_set(d) == [], "the session thawd already allows something"
    made = []
    try:
        _restart_with(d, ["--allow", allow])
        assert _allowed_set(d) == [allow], _allowed_set(d)
        sb = T.create(template=T.TEMPLATE)
        made.append(sb["id"])
        g = probe_guest(sb["id"], [p10, p192, ctl, (META_IP, net["meta_port"])])
        assert g[key(*ctl)]["result"] == "ok", g
        r = g[key(*p192)]
        assert r["result"] == "ok", f"--allow {allow}: the guest still cannot reach {p192}: {r}"
        assert r["body"].split()[:2] == ["private", net["p192_gw"]], \
            f"the allowed destination saw {r['body']!r}, not the host's {net['p192_gw']}"
        assert g[key(*p10)]["result"] == "timeout", f"--allow {allow} opened {p10}: {g}"
        assert g[key(META_IP, net["meta_port"])]["result"] == "timeout", g
        T.check(f"thawd --allow {allow}: nft set allowed = {{{allow}}}; the guest reaches "
                f"{key(*p192)} (seen as {net['p192_gw']}), {key(*p10)} and "
                f"{META_IP} still time out")
        T.delete(sb["id"])
        made.remove(sb["id"])
    finally:
        for sid in made:
            T.api("DELETE", f"/v1/sandboxes/{sid}")
        if "argv" in d.__dict__ or not d.running():
            if d.running():
                _restart_with(d, None)
            else:
                d.__dict__.pop("argv", None)
                d.start()
    # Back without the option: the allowance is gone.
    assert _allowed_set(d) == [], _allowed_set(d)
    sb = T.create(template=T.TEMPLATE)
    try:
        g = probe_guest(sb["id"], [p192, ctl])
        assert g[key(*ctl)]["result"] == "ok", g
        assert g[key(*p192)]["result"] == "timeout", \
            f"after a restart without --allow the guest still reaches {p192}: {g}"
    finally:
        T.delete(sb["id"])
    T.check(f"restarted without --allow: the set is empty and {key(*p192)} times out again")


# ---- 5. slot reuse ------------------------------------------------------------------

def test_reused_slot_carries_nothing_over(net, sandboxes):
    out, port = net["out_ip"], SERVER_PORT
    a = sandboxes(template=T.TEMPLATE)
    a_index, a_ns, _, a_slot = sandbox_net(a)
    # A long-lived connection from A to the outside server.
    T.sh(a["id"], "nohup python3 -c \"import socket, time; "
                  f"s = socket.create_connection(('{out}', {port}), timeout=5); "
                  "open('/tmp/lc.tmp', 'w').write(str(s.getsockname()[1])); "
                  "__import__('os').rename('/tmp/lc.tmp', '/tmp/lc'); time.sleep(3600)\" "
                  ">/dev/null 2>&1 &")
    a_sport = int(T.wait_until(lambda: T.exec_(a["id"], "cat /tmp/lc 2>/dev/null")["stdout"],
                               30, interval=0.3, what="A's long-lived connection"))
    inner = ct_entries(conntrack(a_ns), src="172.16.0.2", dst=out, sport=a_sport, dport=port)
    outer = ct_entries(conntrack(), src=a_slot, dst=out, dport=port)
    assert inner and "ESTABLISHED" in inner[0], inner
    assert outer and any("ESTABLISHED" in x for x in outer), outer
    held = [x for x in ns_run(OUT_NS, "ss", "-Htn", "state", "established",
                              f"( sport = :{port} )").stdout.splitlines() if net["out_gw"] in x]
    assert held, "the outside server holds no connection from the host address"
    T.check(f"A (slot {a_index}) holds 172.16.0.2:{a_sport} -> {out}:{port}: established in "
            f"{a_ns}, in the root namespace ({len(outer)} entr(y/ies) from {a_slot}) and at "
            "the server")

    T.delete(a["id"])
    # New sandboxes until one gets A's slot back; the others stay until
    # the end so that they do not return slots in between.
    reused = None
    tries = 0
    for tries in range(1, 21):
        sb = sandboxes(template=T.TEMPLATE)
        if sb["network"]["slot"] == a_index:
            reused = sb
            break
    if reused is None:
        pytest.skip(f"no new sandbox got slot {a_index} back in {tries} creates (the pool "
                    "hands out other slots first); nothing to check")
    sid = reused["id"]
    assert reused["network"]["netns"] == a_ns, reused["network"]
    stale_inner = ct_entries(conntrack(a_ns), src="172.16.0.2", dst=out, sport=a_sport,
                             dport=port)
    assert not stale_inner, f"A's conntrack entry survived the slot reset: {stale_inner}"
    links = json.loads(ns_run(a_ns, "ip", "-j", "link", "show").stdout)
    names = sorted(link["ifname"] for link in links)
    assert names.count("tap0") == 1 and names == sorted(["lo", "tap0", "veth0"]), names
    addrs = json.loads(ns_run(a_ns, "ip", "-j", "-4", "addr", "show").stdout)
    have = {link["ifname"]: [f"{x['local']}/{x['prefixlen']}" for x in link["addr_info"]]
            for link in addrs}
    assert have.get("tap0") == ["172.16.0.1/30"] and have.get("veth0") == [f"{a_slot}/30"], have
    table = ns_run(a_ns, "nft", "list", "table", "ip", "thaw").stdout
    assert re.search(r'oifname "veth0" masquerade', table), table
    assert table.count("masquerade") == 1 and table.count("chain ") == 1, table
    T.check(f"after {tries} create(s) {sid} got slot {a_index} again: {a_ns} has lo, one "
            f"tap0 (172.16.0.1/30), veth0 ({a_slot}/30), one nft masquerade chain; A's "
            "conntrack entry in the slot is gone")

    # The root namespace forgets A's connection too: the slot's masquerade
    # gives the next guest the same source address, so an entry left there
    # could match the new guest's first packets.
    old_outer = ct_entries(conntrack(), src=a_slot, dst=out, sport=a_sport, dport=port)
    assert not old_outer, f"A's entry in the root namespace survived the slot reset: {old_outer}"
    # The new guest reaches the server: with its own source port and with
    # A's (the same 5-tuple as A's connection, still open at the server).
    g = probe_guest(sid, [(out, port)], timeout=5)[key(out, port)]
    assert g["result"] == "ok" and g["body"].startswith("outside "), \
        f"the guest in reused slot {a_index} cannot reach the outside server: {g}"
    g2 = probe_guest(sid, [(out, port)], timeout=5, sport=a_sport)[key(out, port)]
    assert g2["result"] == "ok" and g2["body"].startswith("outside "), \
        f"from A's old source port {a_sport}: {g2}"
    T.check(f"the root namespace had no entry of A's left; the new guest reaches "
            f"{out}:{port} from {g['local']} in {g['ms']} ms (server saw "
            f"{g['body'].split()[1]}:{g['body'].split()[2]}) and from A's source port "
            f"{a_sport} in {g2['ms']} ms")


# ---- 6. the slot pool under a burst ----------------------------------------------------

def test_slot_pool_burst_and_refill(net, sandboxes):
    before = slot_info()
    depth = before["pool_depth"]
    assert depth > 0, f"the session thawd runs without a slot pool: {before}"
    T.wait_until(lambda: slot_info()["pool_ready"] >= depth, 20, interval=0.2,
                 what=f"the slot pool to hold {depth} ready")
    # Larger than what is ready: the slot pool (up to twice its depth after
    # churn) and the waiting VMMs (which hold slots of their own). Two of
    # the creates ask for no pools: their slots are built on demand
    # whatever the timing (the pool's refill may keep up with the rest).
    _, _, info = T.pools()
    start = info["network"]
    n = start["pool_ready"] + info["warm_vmms"]["ready"] + 3
    unpooled = 2
    t0 = time.monotonic()
    results = T.in_threads([lambda: sandboxes(template=T.TEMPLATE) for _ in range(n)] +
                           [lambda: sandboxes(template=T.TEMPLATE, pools=False)
                            for _ in range(unpooled)], timeout=300)
    took = time.monotonic() - t0
    n += unpooled
    after = slot_info()
    slots = sorted(r["network"]["slot"] for r in results)
    nss = {r["network"]["netns"] for r in results}
    assert len(set(slots)) == n and len(nss) == n, f"slots handed out twice: {slots}"
    assert all(T.NETNS_DIR.joinpath(x).exists() for x in nss), nss
    on_demand = after["built_on_demand"] - start["built_on_demand"]
    from_pool = after["taken_from_pool"] - start["taken_from_pool"]
    assert on_demand >= unpooled, \
        f"built_on_demand grew by {on_demand} for {unpooled} creates without pools: {after}"
    T.check(f"{n} parallel creates ({start['pool_ready']} slots ready, depth {depth}, "
            f"{info['warm_vmms']['ready']} warm VMMs; {unpooled} without pools) all "
            f"succeeded in {took:.1f} s in distinct slots {slots}: the slot pool handed "
            f"out {from_pool} (refills for warm VMMs included), {on_demand} were built on "
            f"demand ({on_demand - unpooled} for pooled creates)")
    ctl = (net["out_ip"], SERVER_PORT)
    outs = T.in_threads([lambda sid=r["id"]: probe_guest(sid, [ctl])[key(*ctl)]
                         for r in results], timeout=300)
    bad = [(r["id"], r["network"]["slot"], o) for r, o in zip(results, outs)
           if o["result"] != "ok" or o["body"].split()[1] != net["out_gw"]]
    assert not bad, f"guests without a working network: {bad}"
    T.check(f"each of the {n} guests reaches {key(*ctl)} (seen as {net['out_gw']})")
    # With all of them still running the pool builds itself back up.
    t0 = time.monotonic()
    T.wait_until(lambda: slot_info()["pool_ready"] >= depth, 10, interval=0.1,
                 what=f"the pool to refill to {depth} while the burst's sandboxes run")
    refill = slot_info()
    T.check(f"while they run the pool is refilled to {refill['pool_ready']} in "
            f"{time.monotonic() - t0:.1f} s ({refill['allocated']} slots allocated)")

    T.in_threads([lambda sid=r["id"]: T.delete(sid) for r in results], timeout=300)
    gone = [x for x in nss if T.NETNS_DIR.joinpath(x).exists()]
    t0 = time.monotonic()
    T.wait_until(lambda: slot_info()["pool_ready"] >= depth, 10, interval=0.1,
                 what=f"pool_ready back to {depth}")
    took = time.monotonic() - t0
    ids = T.list_ids()
    assert not set(ids) & {r["id"] for r in results}, ids
    T.assert_host_matches(ids)
    final = slot_info()
    assert final["allocated"] <= len(ids) + len(T.pools()[0]) + 2 * depth, final
    T.check(f"after deleting them pool_ready is {final['pool_ready']} (>= {depth}) within "
            f"{took:.1f} s; {final['allocated']} slots allocated, one namespace each "
            f"({len(gone)} of the burst's kept for reuse), nothing leaked")


# ---- 7. a slot range already in use -----------------------------------------------------

def test_range_in_use_is_refused(slot_range, tmp_path):
    """A second thawd on the session thawd's range must refuse to start,
    before it creates anything: the kernel would accept the duplicate
    addresses and replies would go to the wrong instance's slots."""
    d = T.current()
    mine = if_prefix(d)
    net = ipaddress.ip_network(slot_range)
    T.wait_until(lambda: [a for n, a in root_addrs() if n.startswith(mine) and a.ip in net],
                 20, interval=0.2, what=f"a slot of the session thawd ({mine}*) in {slot_range}")
    data = tmp_path / "second"
    r = subprocess.run([str(d.thawd_bin), "--listen", "127.0.0.1:1", "--data-dir", str(data),
                        "--slot-cidr", slot_range, "--slot-pool", "0", "--vmm-pool", "0"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    out = r.stdout + r.stderr
    assert r.returncode != 0, f"a second thawd started on {slot_range}: {out}"
    assert re.search(rf"slot range {re.escape(slot_range)} overlaps address \S+ on "
                     rf"interface {mine}", out) and "--slot-cidr" in out, out
    assert not (data / "thaw.db").exists() and not (data / "store").exists(), \
        sorted(p.name for p in data.iterdir())
    T.check(f"a second thawd on {slot_range} exits {r.returncode}: "
            f"{out.strip().splitlines()[-1][:160]}")
