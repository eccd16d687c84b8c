"""The fleet's control plane (thaw-control, docs/fleet.md) on a real
PostgreSQL: two control-plane instances on one database, three thawd
hosts that join it (through either instance) and share one bucket on a
real S3 server (host 1 bakes the template, the others stream it), sandboxes
placed and every request routed through either instance, and what
happens when a host, a control-plane instance or PostgreSQL goes away.

Each host runs in a network namespace of its own with its own address on
a bridge (thawlib.fleetnet): the control plane and the store's proxy
listen on the bridge, and a host can be cut off from them."""

import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import thawlib as T
from thawlib import close_own_thawd, own_thawd, set_current, wait_until
from thawlib.faultproxy import FaultProxy
from thawlib.fleetnet import FleetNet
from test_console import console_driver  # noqa: F401 - a fixture, used by name

pytestmark = [pytest.mark.own_thawd]

ADMIN = "fleet-admin-key-0123456789"
USER = "fleet-user-key-0123456789"  # alice, at most ALICE_CAP sandboxes
BOB = "fleet-bob-key-0123456789"
ALICE_CAP = 3
HOSTS = ("fleet-h1", "fleet-h2", "fleet-h3")
CAROL = "fleet-carol-key-0123456789"  # at most CAROL_CAP, for the 500 creates
CAROL_CAP = 24
SECRET = "fleet-secret-0123456789abcdef"


def host_key(name):
    """A host's own key (src/common/hostkey.h): HMAC-SHA256 of its name
    under the fleet secret."""
    import hmac
    return "thk1-" + hmac.new(SECRET.encode(), b"thaw host key v1:" + name.encode(),
                              hashlib.sha256).hexdigest()


class Control:
    """One thaw-control process."""

    def __init__(self, url, workdir, name, addr="127.0.0.1"):
        self.db = url
        self.dir = Path(workdir)
        self.name = name
        self.addr = addr
        self.port = T.free_port()
        self.proc = None

    @property
    def url(self):
        return f"http://{self.addr}:{self.port}"

    @property
    def log_path(self):
        return self.dir / f"{self.name}.log"

    def start(self, wait=True):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(T.bin_dir() / "thaw-control"), "--listen", f"{self.addr}:{self.port}",
                 "--database", self.db, "--keys-file", str(self.dir / "keys.json"),
                 "--fleet-secret-file", str(self.dir / "secret"), "--log-level", "info"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        if wait:
            wait_until(lambda: self.call("GET", "/healthz", key=None)[0] == 200, 30,
                       what=f"{self.name} answers")
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            rc = self.proc.wait(timeout=30)
            assert sig != signal.SIGTERM or rc == 0, f"{self.name} exited {rc}: {self.log()}"
        self.proc = None

    def log(self):
        return self.log_path.read_text()[-3000:] if self.log_path.exists() else ""

    def call(self, method, path, body=None, key=ADMIN, timeout=10):
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, json.loads(raw) if raw else None
        except OSError as e:
            return 0, str(e)

    def call_h(self, method, path, body=None, key=ADMIN, headers=None, timeout=180):
        h = {"Content-Type": "application/json", "Authorization": f"Bearer {key}",
             **(headers or {})}
        req = urllib.request.Request(self.url + path, data=json.dumps(body or {}).encode(),
                                     method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")
        except OSError as e:
            return 0, str(e)

    def hosts(self):
        st, body = self.call("GET", "/v1/hosts")
        assert st == 200, body
        return {h["name"]: h for h in body["hosts"]}


@pytest.fixture(scope="module")
def net():
    """The hosts' network: a bridge here, a namespace per host."""
    n = FleetNet(len(HOSTS)).create()
    yield n
    n.remove()


@pytest.fixture(scope="module")
def fleet(postgres, net):
    work = tempfile.mkdtemp(prefix="thaw-fleet-")
    Path(work, "secret").write_text(SECRET + "\n")
    Path(work, "keys.json").write_text(json.dumps({"keys": [
        {"name": "ops", "sha256": hashlib.sha256(ADMIN.encode()).hexdigest(), "role": "admin"},
        {"name": "alice", "sha256": hashlib.sha256(USER.encode()).hexdigest(), "role": "user",
         "max_sandboxes": ALICE_CAP},
        {"name": "bob", "sha256": hashlib.sha256(BOB.encode()).hexdigest(), "role": "user"},
        {"name": "carol", "sha256": hashlib.sha256(CAROL.encode()).hexdigest(), "role": "user",
         "max_sandboxes": CAROL_CAP},
    ]}))
    db = postgres.create_db("fleet_" + os.urandom(4).hex())
    controls = [Control(db, work, "control-1", net.gateway).start(),
                Control(db, work, "control-2", net.gateway).start()]
    yield controls, work
    for c in controls:
        c.stop()
    import shutil
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def hosts(thawd, fleet, s3, net):
    """Host 1 bakes the template, hosts 2 and 3 stream it from the store.
    Hosts 1 and 3 are given the fleet secret (they derive their keys), host
    2 only its own key (thaw-control --print-host-key)."""
    controls, work = fleet
    Path(work, "h2.key").write_text(host_key("fleet-h2") + "\n")
    made = []
    # The store as the hosts see it: a proxy on the bridge.
    proxy = FaultProxy((s3.host, s3.port), host=net.gateway).start()
    store = ["--s3-endpoint", proxy.endpoint, "--s3-bucket", s3.bucket, "--s3-region",
             s3.region]
    try:
        for i, (suffix, cidr) in enumerate(zip(("-fleet-a", "-fleet-h2", "-fleet-h3"),
                                               ("10.213.0.0/16", "10.232.0.0/16",
                                                "10.234.0.0/16"))):
            extra = ["--join", controls[i % 2].url, "--host-name", f"fleet-h{i + 1}",
                     "--fleet-secret-file", str(Path(work, "h2.key" if i == 1 else "secret")),
                     "--vmm-pool", "0", *store]
            made.append(own_thawd(thawd, suffix, cidr, extra=extra, template=i == 0,
                                  env=s3.env(proxy.endpoint), netns=net.hosts[i]))
            T.seed_build_cache(thawd, made[-1])  # any host may be asked to bake
        set_current(thawd)
        yield made
    finally:
        problems = [p for d in made for p in close_own_thawd(d, thawd)]
        proxy.stop()
    assert not problems, problems


def both_up(controls):
    def check():
        for c in controls:
            h = c.hosts()
            if not all(h.get(n, {}).get("state") == "up" for n in HOSTS):
                return False
        return True
    return check


def test_hosts_join_through_either_instance(fleet, hosts):
    controls, _ = fleet
    wait_until(both_up(controls), 20, what="both hosts up on both instances")
    listed = controls[0].hosts()
    assert set(listed) == set(controls[1].hosts()), (listed, controls[1].hosts())
    for i, d in enumerate(hosts):
        h = listed[f"fleet-h{i + 1}"]
        assert h["address"] == f"{d.addr}:{d.port}" and d.addr.startswith("10.239."), h
        assert h["accel"] in ("tcg", "kvm") and h["qemu_version"], h
        assert h["capacity"]["memory_mb"] > 1000 and h["capacity"]["vcpus"] >= 1, h
        assert h["capacity"]["max_sandboxes"] > 0 and h["capacity"]["disk_mb"] > 0, h
        assert h["used"]["sandboxes"] == 0 and h["used"]["memory_available_mb"] > 0, h
        assert h["heartbeat_age_ms"] < 5000, h
        assert h["last_heartbeat"].endswith("Z") and h["incarnation"] >= 1, h
    # A host's API takes its own key (the control plane's), not the fleet
    # secret, not another host's key; a fleet host takes no tenants' keys.
    h1, h2 = hosts[0], hosts[1]
    assert h1.api("GET", "/v1/info", key=host_key("fleet-h1"))[0] == 200
    assert h2.api("GET", "/v1/info", key=host_key("fleet-h2"))[0] == 200
    assert h1.api("GET", "/v1/info", key=SECRET)[0] == 401
    assert h2.api("GET", "/v1/info", key=host_key("fleet-h1"))[0] == 401
    out = subprocess.run([str(h1.thawd_bin), "--data-dir", "/nonexistent",
                          "--join", controls[0].url, "--fleet-secret-file", "/dev/null",
                          "--keys-file", "/dev/null"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0 and "no --keys-file" in out.stderr, out
    T.check("three hosts joined through either control-plane instance (one holding only "
            "its own key, the others the fleet secret); both list all; each host's API takes "
            "only its own key")


def report(name="fleet-fake", **over):
    r = {"name": name, "address": "10.9.9.9:7420", "cpu_model": "Test CPU",
         "qemu_version": "7.2.22", "accel": "tcg",
         "capacity": {"memory_mb": 1024, "vcpus": 2, "slots": 10, "disk_mb": 1,
                      "max_sandboxes": 5},
         "used": {"sandboxes": 0}, "templates": ["code-interpreter"]}
    r.update(over)
    return r


@pytest.mark.parametrize("bad", [
    {"name": "Bad_Name"}, {"address": "no-port"}, {"address": "h:70000"},
    {"accel": "hvf"}, {"capacity": {"memory_mb": -1}}, {"capacity": {"cores": 2}},
    {"templates": ["ok", "Not OK"]}, {"templates": ["t"] * 5000}, {"cpu_model": "x\u0001"},
    {"extra": 1}, {"used": {"sandboxes": "3"}},
])
def test_bad_host_reports_are_refused(fleet, bad):
    controls, _ = fleet
    st, body = controls[0].call("POST", "/v1/fleet/hosts", report(**bad),
                                key=host_key(bad.get("name", "fleet-fake")))
    assert st == 400 and body["code"] == "invalid_request", (bad, st, body)
    assert "fleet-fake" not in controls[0].hosts() or bad.get("name") != "fleet-fake"


def test_keys_and_the_fleet_secret_are_kept_apart(fleet):
    controls, _ = fleet
    c = controls[1]
    assert c.call("GET", "/healthz", key=None)[0] == 200
    assert c.call("GET", "/v1/hosts", key=None)[0] == 401
    st, body = c.call("GET", "/v1/hosts", key=USER)
    assert st == 403 and body["code"] == "forbidden", body
    # A host's key is no API key, an admin key is no host's key; each host
    # presents its own (the fleet secret itself opens nothing).
    assert c.call("GET", "/v1/hosts", key=host_key("fleet-fake"))[0] == 401
    assert c.call("GET", "/v1/hosts", key=SECRET)[0] == 401
    assert c.call("POST", "/v1/fleet/hosts", report(), key=ADMIN)[0] == 401
    assert c.call("POST", "/v1/fleet/hosts", report(), key=None)[0] == 401
    assert c.call("POST", "/v1/fleet/hosts", report(), key=SECRET)[0] == 401
    assert c.call("POST", "/v1/fleet/hosts", report(), key=host_key("fleet-other"))[0] == 401
    st, body = c.call("POST", "/v1/fleet/hosts/fleet-nobody/heartbeat", {},
                      key=host_key("fleet-nobody"))
    assert st == 404, body
    assert c.call("POST", "/v1/fleet/hosts/fleet-nobody/heartbeat", {},
                  key=host_key("fleet-fake"))[0] == 401
    # thaw-control prints a host's key for its own file.
    out = subprocess.run([str(T.bin_dir() / "thaw-control"), "--fleet-secret-file",
                          str(c.dir / "secret"), "--print-host-key", "fleet-h2"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stdout.strip() == host_key("fleet-h2"), out
    assert c.call("POST", "/v1/hosts/fleet-nobody/drain", {})[0] == 404
    assert c.call("POST", "/v1/hosts/Bad_Name/drain", {})[0] == 400
    # Its own metrics (docs/metrics.md): admin keys only; requests by route
    # pattern, the user's 403 above among them.
    assert c.call("GET", "/metrics", key=USER)[0] == 403
    req = urllib.request.Request(c.url + "/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert 'thaw_api_requests_total{route="/v1/hosts",method="GET",status="403"}' in text, text


def test_a_drained_host_stays_draining(fleet):
    controls, _ = fleet
    a, b = controls
    assert a.call("POST", "/v1/fleet/hosts", report("fleet-drained"),
                  key=host_key("fleet-drained"))[0] == 200
    st, body = b.call("POST", "/v1/hosts/fleet-drained/drain", {})
    assert st == 200 and body["state"] == "draining", body
    # Its heartbeats and a new registration (a restart) keep it draining.
    assert a.call("POST", "/v1/fleet/hosts/fleet-drained/heartbeat",
                  {"used": {"sandboxes": 1}}, key=host_key("fleet-drained"))[0] == 200
    assert a.call("POST", "/v1/fleet/hosts", report("fleet-drained"),
                  key=host_key("fleet-drained"))[0] == 200
    h = a.hosts()["fleet-drained"]
    assert h["state"] == "draining" and h["incarnation"] == 2, h


def test_a_killed_host_is_down_within_10_s_and_back_when_it_returns(thawd, fleet, hosts,
                                                                    net):
    controls, _ = fleet
    wait_until(both_up(controls), 20, what="both hosts up")
    d = hosts[1]
    before = controls[0].hosts()["fleet-h2"]["incarnation"]
    d.stop(signal.SIGKILL)
    net.hosts[1].cut()
    try:
        took = host_becomes(controls[0], "fleet-h2", "down")
        assert took <= 10.5, f"down after {took:.1f} s"
        assert controls[1].hosts()["fleet-h1"]["state"] == "up"
    finally:
        net.hosts[1].mend()
        d.start()
        set_current(thawd)
    host_becomes(controls[1], "fleet-h2", "up")
    assert controls[1].hosts()["fleet-h2"]["incarnation"] == before + 1
    T.check(f"a SIGKILLed host, its link cut, was down after {took:.1f} s; up again when it "
            "came back")


def test_a_host_cut_off_the_network_is_down_and_back(fleet, hosts, net):
    """A partition, not a crash: host 2's thawd and its sandbox run on,
    but its link is down. The control plane marks it down within 10 s and
    its sandbox lost; when the link comes back, the host's next heartbeat
    makes it up again (no new registration) with its sandbox running."""
    controls, _ = fleet
    template_everywhere(controls)
    drop_all(controls[0])
    sid = one_on_host_2(controls[0], ADMIN)
    before = controls[0].hosts()["fleet-h2"]["incarnation"]
    net.hosts[1].cut()
    try:
        took = host_becomes(controls[1], "fleet-h2", "down")
        assert took <= 10.5, f"down after {took:.1f} s"
        wait_until(lambda: controls[0].call("GET", f"/v1/sandboxes/{sid}")[1]
                   .get("state") == "lost", 5, interval=0.2, what="its sandbox lost")
        # What the control plane cannot reach answers at once, not after
        # a hang: the request is refused as lost.
        st, body = controls[0].call("POST", f"/v1/sandboxes/{sid}/exec", {"cmd": "true"})
        assert st == 409, body
    finally:
        net.hosts[1].mend()
    host_becomes(controls[0], "fleet-h2", "up")
    assert controls[0].hosts()["fleet-h2"]["incarnation"] == before
    wait_until(lambda: controls[1].call("GET", f"/v1/sandboxes/{sid}")[1].get("state")
               == "running", 15, interval=0.2, what="its sandbox running again")
    assert exec_through(controls[1], sid, "echo reachable", key=ADMIN)["stdout"] == \
        "reachable\n"
    drop_all(controls[0])
    T.check(f"a host cut off the network (thawd running) was down after {took:.1f} s, its "
            "sandbox lost; once the link was back it was up with its sandbox running")


def test_a_control_plane_instance_killed_and_postgres_restarted(fleet, hosts, postgres):
    controls, _ = fleet
    wait_until(both_up(controls), 20, what="both hosts up")
    # The other instance serves while one is gone, and the state is the
    # database's: the killed one comes back with all of it.
    controls[0].stop(signal.SIGKILL)
    assert set(controls[1].hosts()) >= set(HOSTS)
    controls[0].start()
    assert set(controls[0].hosts()) >= set(HOSTS)
    # PostgreSQL restarted under both instances: they reconnect, nothing is
    # lost, and no host was marked down for the hiccup.
    postgres.restart()
    for c in controls:
        wait_until(lambda: c.call("GET", "/v1/hosts")[0] == 200, 15, what=f"{c.name} again")
    time.sleep(3)  # a heartbeat or two through the new connections
    for c in controls:
        h = c.hosts()
        assert all(h[n]["state"] == "up" for n in HOSTS), h
        assert h["fleet-h1"]["heartbeat_age_ms"] < 5000, h
    # Every pooled connection was cut: creates (a transaction each) work
    # through both instances all the same.
    template_everywhere(controls)
    for c in controls:
        for _ in range(2):
            st, sb = c.call("POST", "/v1/sandboxes", {}, key=ADMIN, timeout=180)
            assert st == 201, sb
            assert c.call("DELETE", f"/v1/sandboxes/{sb['id']}", timeout=120)[0] == 204
    T.check("one control-plane instance SIGKILLed, PostgreSQL restarted: served throughout")


def test_a_newer_schema_is_refused(postgres, fleet):
    _, work = fleet
    db = postgres.create_db("fleet_newer_" + os.urandom(4).hex())
    c = Control(db, work, "control-newer").start()
    c.stop()
    postgres.sql("UPDATE schema_version SET version = 99", db=db.rsplit("/", 1)[1])
    c.start(wait=False)
    rc = c.proc.wait(timeout=30)
    assert rc == 1 and "version 99" in c.log(), (rc, c.log())


# ---- sandboxes through the control plane -----------------------------------


def exec_through(c, sid, cmd, key=USER, **kw):
    st, body = c.call("POST", f"/v1/sandboxes/{sid}/exec", {"cmd": cmd, **kw}, key=key,
                      timeout=120)
    assert st == 200, body
    return body


def raw(c, method, path, data=None, key=USER, headers=None, timeout=120):
    h = {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    req = urllib.request.Request(c.url + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def template_everywhere(controls):
    """Both hosts hold the template (host 2 imported it from the store)."""
    def check():
        h = controls[0].hosts()
        return all("code-interpreter" in h.get(n, {}).get("templates_cached", ())
                   and h[n]["state"] == "up" for n in HOSTS)
    wait_until(check, 60, interval=0.5, what="the template on both hosts")


def drop_all(c, key=ADMIN):
    st, body = c.call("GET", "/v1/sandboxes", key=key)
    for sb in body["sandboxes"]:
        c.call("DELETE", f"/v1/sandboxes/{sb['id']}", key=ADMIN, timeout=120)


def one_on_host_2(c, key, body=None):
    """From an empty fleet, one sandbox per host (the emptiest host gets
    each next one), each created with body: the id of the one on fleet-h2."""
    made = [c.call("POST", "/v1/sandboxes", body or {}, key=key, timeout=180)[1]
            for _ in HOSTS]
    return [s for s in made if s["host"] == "fleet-h2"][0]["id"]


def host_becomes(c, name, state):
    """Waits (15 s at most) until c lists host name in state; the seconds
    that took."""
    t0 = time.monotonic()
    wait_until(lambda: c.hosts()[name]["state"] == state, 15, interval=0.2,
               what=f"{name} {state}")
    return time.monotonic() - t0


def test_a_sandbox_through_either_instance(fleet, hosts):
    controls, _ = fleet
    a, b = controls
    template_everywhere(controls)
    # The client's X-Request-Id goes on to the host: one id finds the
    # create in thaw-control's log and in the host's.
    rid = "fleet-create-" + os.urandom(6).hex()
    st, sb = a.call_h("POST", "/v1/sandboxes", {"template": "code-interpreter"}, key=USER,
                      headers={"X-Request-Id": rid})
    assert st == 201 and sb["host"] in HOSTS and sb["owner"] == "alice", sb
    sid = sb["id"]
    home = hosts[HOSTS.index(sb["host"])]
    wait_until(lambda: any(f"id={sid}" in line and f"req={rid}" in line
                           for line in home.log_text().splitlines()), 10,
               what=f"the host's log line of {sid} with req={rid}")
    try:
        st, got = b.call("GET", f"/v1/sandboxes/{sid}", key=USER)
        assert st == 200 and got["id"] == sid and got["host"] == sb["host"], got
        assert exec_through(b, sid, "echo routed")["stdout"] == "routed\n"
        # A streamed exec comes through as it is written (NDJSON).
        st, body = raw(b, "POST", f"/v1/sandboxes/{sid}/exec",
                       json.dumps({"cmd": "echo one; sleep 1; echo two", "stream": True}).encode(),
                       headers={"Content-Type": "application/json"})
        events = [json.loads(line) for line in body.decode().splitlines() if line]
        assert st == 200 and events[-1]["type"] == "exit", events
        assert "".join(e.get("data", "") for e in events if e["type"] == "stdout") == \
            "one\ntwo\n", events
        # The process table through the relay: a tagged command is listed,
        # re-attached (NDJSON, its output replayed), waited for and refused.
        r = exec_through(a, sid, "echo relayed-out", tag="relayed")
        pid = r["pid"]
        st, procs = b.call("GET", f"/v1/sandboxes/{sid}/processes", key=USER)
        assert st == 200 and any(p["pid"] == pid and p["tag"] == "relayed"
                                 for p in procs["processes"]), procs
        st, body = raw(a, "GET", f"/v1/sandboxes/{sid}/processes/{pid}/stream?from=start")
        events = [json.loads(line) for line in body.decode().splitlines() if line]
        assert st == 200 and events[0] == {"type": "start", "pid": pid}, events
        assert events[1] == {"type": "stdout", "data": "relayed-out\n"}, events
        assert events[-1]["type"] == "exit", events
        st, w = b.call("POST", f"/v1/sandboxes/{sid}/processes/{pid}/wait", {"timeout_s": 5},
                       key=USER)
        assert st == 200 and w["running"] is False, w
        assert b.call("POST", f"/v1/sandboxes/{sid}/processes/{pid}/signal",
                      {"signal": "TERM"}, key=USER)[0] == 409
        assert a.call("POST", f"/v1/sandboxes/{sid}/processes/999999/stdin", {"eof": True},
                      key=USER)[0] == 404
        # Its usage history through the relay, query string and all.
        st, m = b.call("GET", f"/v1/sandboxes/{sid}/metrics?start=0", key=USER)
        assert st == 200 and m["sandbox_id"] == sid and isinstance(m["points"], list), m
        st, m = a.call("GET", f"/v1/sandboxes/{sid}/metrics?start=later", key=USER)
        assert st == 400 and "start" in m["error"], m
        # Files both ways (the upload goes through a temp file, the
        # download streams), byte for byte.
        blob = os.urandom(5 << 20)
        st, _ = raw(a, "PUT", f"/v1/sandboxes/{sid}/files?path=/root/blob.bin", blob)
        assert st in (200, 204), st
        st, back = raw(b, "GET", f"/v1/sandboxes/{sid}/files?path=/root/blob.bin")
        assert st == 200 and back == blob, (st, len(back))
        st, rc = a.call("POST", f"/v1/sandboxes/{sid}/run_code",
                        {"code": "6 * 7", "language": "python"}, key=USER, timeout=120)
        assert st == 200 and "42" in json.dumps(rc), rc
        # Pause and resume; the list follows.
        st, p = a.call("POST", f"/v1/sandboxes/{sid}/pause", {}, key=USER, timeout=120)
        assert st == 200 and p["state"] == "paused", p
        listed = {x["id"]: x for x in b.call("GET", "/v1/sandboxes", key=USER)[1]["sandboxes"]}
        assert listed[sid]["state"] == "paused", listed
        st, p = b.call("POST", f"/v1/sandboxes/{sid}/resume", {}, key=USER, timeout=120)
        assert st == 200 and p["state"] == "running", p
        assert exec_through(a, sid, "cat /root/blob.bin | wc -c")["stdout"].strip() == \
            str(5 << 20)
        # Another user sees nothing of it, through either instance.
        assert b.call("GET", f"/v1/sandboxes/{sid}", key=BOB)[0] == 404
        assert a.call("POST", f"/v1/sandboxes/{sid}/exec", {"cmd": "true"}, key=BOB)[0] == 404
        assert sid not in [x["id"] for x in a.call("GET", "/v1/sandboxes", key=BOB)[1]
                           ["sandboxes"]]
        # Admin-only routes stay admin-only through the control plane.
        assert a.call("POST", f"/v1/sandboxes/{sid}/adopt", {"image": "x"}, key=USER)[0] in \
            (403, 404, 405)
        st, t = a.call("GET", "/v1/templates", key=USER)
        assert st == 200 and any(x["name"] == "code-interpreter" for x in t["templates"]), t
    finally:
        st, _ = b.call("DELETE", f"/v1/sandboxes/{sid}", key=USER, timeout=120)
    assert st == 204
    assert a.call("GET", f"/v1/sandboxes/{sid}", key=USER)[0] == 404
    T.check("create, get, exec (plain and streamed), files both ways, run_code, pause, "
            "resume, delete through two control-plane instances; other keys see nothing")


def test_lists_and_new_file_routes_through_the_control_plane(fleet, hosts):
    """The list's filters and pages from PostgreSQL; move, batch, watch and
    signed URLs relayed to the sandbox's host (a signed URL without a key)."""
    import base64
    import http.client
    import urllib.parse
    controls, _ = fleet
    a, b = controls
    template_everywhere(controls)
    drop_all(a)
    made = [a.call("POST", "/v1/sandboxes", {}, key=USER, timeout=180)[1]["id"] for _ in range(3)]
    try:
        seen, q = [], {"limit": 2}
        while True:
            st, page = b.call("GET", "/v1/sandboxes?" + urllib.parse.urlencode(q), key=USER)
            assert st == 200 and len(page["sandboxes"]) <= 2, page
            seen += [x["id"] for x in page["sandboxes"]]
            if not page["next"]:
                break
            q["next"] = page["next"]
        assert sorted(seen) == sorted(made) and len(seen) == 3, seen
        st, p = a.call("POST", f"/v1/sandboxes/{made[0]}/pause", {}, key=USER, timeout=120)
        assert st == 200, p
        st, page = a.call("GET", "/v1/sandboxes?state=paused", key=USER)
        assert [x["id"] for x in page["sandboxes"]] == [made[0]], page
        assert a.call("GET", "/v1/sandboxes?owner=bob", key=USER)[0] == 403
        st, page = a.call("GET", "/v1/sandboxes?owner=alice&template=code-interpreter", key=ADMIN)
        assert st == 200 and len(page["sandboxes"]) == 3, page
        for bad in ("metadata.x=1", "next=zz", "limit=0", "sort=id", "state=sleeping"):
            st, err = a.call("GET", f"/v1/sandboxes?{bad}", key=USER)
            assert st == 400, (bad, st, err)
        sid = made[1]
        st, res = a.call("POST", f"/v1/sandboxes/{sid}/files/batch",
                         {"files": [{"path": "/root/f1", "data": base64.b64encode(b"one").decode()}]},
                         key=USER, timeout=60)
        assert st == 200 and res["written"] == 1, res
        st, mv = b.call("POST", f"/v1/sandboxes/{sid}/files/move",
                        {"from": "/root/f1", "to": "/root/f2"}, key=USER, timeout=60)
        assert st == 200 and mv["path"] == "/root/f2", mv
        st, sig = a.call("POST", f"/v1/sandboxes/{sid}/files/sign",
                         {"path": "/root/f2", "operation": "read"}, key=USER, timeout=60)
        assert st == 200, sig
        st, body = raw(b, "GET", sig["url"], key=None)
        assert st == 200 and body == b"one", (st, body)
        # Only the path parameter is altered: a bare replace("f2", "f1") also
        # hit sandbox ids holding "f2" (1 is not in the id alphabet: a 400).
        altered = sig["url"].replace("path=/root/f2&", "path=/root/f1&")
        assert altered != sig["url"], sig["url"]
        st, _ = raw(b, "GET", altered, key=None)
        assert st == 403
        assert b.call("POST", f"/v1/sandboxes/{sid}/files/sign",
                      {"path": "/root/f2", "operation": "read"}, key=BOB)[0] == 404
        # A watch streams through the relay.
        u = urllib.parse.urlsplit(a.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        conn.request("GET", f"/v1/sandboxes/{sid}/files/watch?path=/root",
                     headers={"Authorization": f"Bearer {USER}"})
        resp = conn.getresponse()
        assert resp.status == 200
        assert json.loads(resp.readline())["type"] == "ready"
        exec_through(b, sid, "touch /root/through")
        ev = json.loads(resp.readline())
        assert ev == {"type": "create", "path": "/root/through"}, ev
        conn.close()
    finally:
        drop_all(a)
    T.check("control plane: list pages and filters (metadata refused), batch, move, "
            "sign, a signed GET without a key (403 when altered), watch relayed")


def test_creates_spread_and_caps_are_exact(fleet, hosts):
    controls, _ = fleet
    template_everywhere(controls)
    drop_all(controls[0])
    # The emptiest host gets the next sandbox: six creates, two each.
    made = []
    for i in range(6):
        st, sb = controls[i % 2].call("POST", "/v1/sandboxes", {}, key=ADMIN, timeout=180)
        assert st == 201, sb
        made.append(sb)
    per_host = {h: sum(1 for s in made if s["host"] == h) for h in HOSTS}
    assert per_host == {h: 2 for h in HOSTS}, per_host
    drop_all(controls[0])
    # Alice's cap of 3 holds with 6 creates at once through both instances.
    import concurrent.futures as cf
    with cf.ThreadPoolExecutor(6) as ex:
        res = list(ex.map(lambda i: controls[i % 2].call("POST", "/v1/sandboxes", {}, key=USER,
                                                         timeout=300), range(6)))
    codes = sorted(st for st, _ in res)
    assert codes == [201] * ALICE_CAP + [429] * (6 - ALICE_CAP), res
    listed = controls[1].call("GET", "/v1/sandboxes", key=USER)[1]["sandboxes"]
    assert len(listed) == ALICE_CAP, listed
    drop_all(controls[0])
    T.check("6 creates spread 2/2/2 over three hosts; 6 concurrent creates against a cap of "
            f"{ALICE_CAP}: "
            f"exactly {ALICE_CAP} made")


def test_sandboxes_of_a_dead_host_are_lost(thawd, fleet, hosts):
    controls, _ = fleet
    template_everywhere(controls)
    drop_all(controls[0])
    # Alice at her cap, one of them on the host that dies.
    made = [controls[0].call("POST", "/v1/sandboxes", {}, key=USER, timeout=180)[1]
            for _ in range(ALICE_CAP)]
    on2 = [s for s in made if s["host"] == "fleet-h2"]
    assert len(on2) == 1 and all("id" in s for s in made), made
    assert controls[0].call("POST", "/v1/sandboxes", {}, key=USER)[0] == 429
    hosts[1].stop(signal.SIGKILL)
    try:
        t0 = time.monotonic()
        wait_until(lambda: controls[1].call("GET", f"/v1/sandboxes/{on2[0]['id']}",
                                            key=USER)[1].get("state") == "lost",
                   15, interval=0.2, what="the sandbox lost")
        took = time.monotonic() - t0
        st, lost = controls[0].call("GET", f"/v1/sandboxes/{on2[0]['id']}", key=USER)
        assert lost["reason"].startswith("its host fleet-h2 stopped answering"), lost
        st, body = controls[0].call("POST", f"/v1/sandboxes/{on2[0]['id']}/exec",
                                    {"cmd": "true"}, key=USER)
        assert st == 409 and "lost" in body["error"], body
        # Lost sandboxes do not count against the cap: there is room again.
        st, extra = controls[0].call("POST", "/v1/sandboxes", {}, key=USER, timeout=180)
        assert st == 201 and extra["host"] in ("fleet-h1", "fleet-h3"), extra
    finally:
        hosts[1].start()
        set_current(thawd)
    # The host came back with its sandbox (its VMM outlived thawd, and the
    # new thawd adopted it): no longer lost.
    wait_until(lambda: controls[1].call("GET", f"/v1/sandboxes/{on2[0]['id']}",
                                        key=USER)[1].get("state") == "running",
               30, interval=0.5, what="the sandbox back")
    assert exec_through(controls[1], on2[0]["id"], "echo back")["stdout"] == "back\n"
    assert controls[1].call("DELETE", f"/v1/sandboxes/{on2[0]['id']}", key=USER,
                            timeout=120)[0] == 204
    drop_all(controls[0])
    T.check(f"the sandbox of a SIGKILLed host was lost after {took:.1f} s, with the reason; "
            "running again when the host came back")


def test_thaw_hosts_in_the_cli(fleet, hosts):
    controls, _ = fleet
    wait_until(both_up(controls), 20, what="both hosts up")
    env = dict(os.environ, THAW_API_URL=controls[1].url, THAW_API_KEY=ADMIN)
    r = subprocess.run([str(T.bin_dir() / "thaw"), "hosts"], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:] if line}
    assert rows["fleet-h1"][1] == "up" and rows["fleet-h2"][1] == "up", r.stdout
    r = subprocess.run([str(T.bin_dir() / "thaw"), "hosts"],
                       env=dict(env, THAW_API_KEY=USER), capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0 and "admin" in r.stderr, (r.stdout, r.stderr)


def tunnel_through(control, sid):
    """A raw TCP tunnel (GET .../tunnel/PORT, thaw-tunnel) through the
    control plane to a line-echo service in the guest: bytes both ways, the
    client's half-close crossing both relays (the service answers it with
    its last line), a port nothing listens on refused with the host's 502
    passed on, and the upgrade headers required here."""
    import socket
    port = 7100
    server = ("import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,"
              "socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',%d));s.listen(4)\n"
              "c,_=s.accept();f=c.makefile('rb')\nfor l in f: c.sendall(b'echo:'+l)\n"
              "c.sendall(b'end\\n');c.close()\n" % port)
    st, r = control.call("POST", f"/v1/sandboxes/{sid}/exec",
                         {"cmd": f"cat > /tmp/srv.py <<'EOF'\n{server}EOF\n"
                                 "(python3 /tmp/srv.py >/dev/null 2>&1 &); "
                                 f"for i in $(seq 100); do grep -q ':{port:04X} ' /proc/net/tcp "
                                 "&& exit 0; sleep 0.2; done; exit 1"},
                         key=USER, timeout=120)
    assert st == 200 and r["exit_code"] == 0, r

    def upgrade(p, proto="thaw-tunnel"):
        s = socket.create_connection((control.addr, control.port), timeout=60)
        s.sendall((f"GET /v1/sandboxes/{sid}/tunnel/{p} HTTP/1.1\r\nHost: c\r\n"
                   f"Authorization: Bearer {USER}\r\nConnection: Upgrade\r\n"
                   f"Upgrade: {proto}\r\n\r\n").encode())
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        head, _, rest = got.partition(b"\r\n\r\n")
        return s, int(head.split(b" ")[1]), rest

    s, st, rest = upgrade(port)
    assert st == 101, rest
    s.sendall(b"one\ntwo\n")
    s.shutdown(socket.SHUT_WR)
    got = rest
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    assert got == b"echo:one\necho:two\nend\n", got
    s, st, rest = upgrade(port + 1)
    s.close()
    assert st == 502, (st, rest)
    s, st, rest = upgrade(port, proto="thaw-shell")
    s.close()
    assert st == 426, (st, rest)  # as the host answers it
    T.check("a tunnel through the control plane carries bytes both ways and the half-close; "
            "the host's 502 is passed on")


def websocket_through(control, sid):
    """A WebSocket through the control plane's port proxy: the client's
    handshake headers reach the guest's server, its Sec-WebSocket-Accept
    comes back on the 101, frames are echoed; a plain GET on the same
    route is still relayed."""
    import base64
    import hashlib
    import socket
    from test_ports_proxy import PORT, SERVER_SRC, ws_frame
    st, r = control.call("POST", f"/v1/sandboxes/{sid}/exec",
                         {"cmd": ["sh", "-c", "cat > /tmp/ws.py"], "stdin": SERVER_SRC},
                         key=USER, timeout=120)
    assert st == 200 and r["exit_code"] == 0, r
    st, r = control.call("POST", f"/v1/sandboxes/{sid}/exec",
                         {"cmd": f"nohup python3 /tmp/ws.py {PORT} >/dev/null 2>&1 & "
                                 f"for i in $(seq 150); do grep -q ':{PORT:04X} ' /proc/net/tcp "
                                 "&& exit 0; sleep 0.2; done; exit 1"},
                         key=USER, timeout=120)
    assert st == 200 and r["exit_code"] == 0, r
    req = urllib.request.Request(f"{control.url}/v1/sandboxes/{sid}/ports/{PORT}/big?n=3",
                                 headers={"Authorization": f"Bearer {USER}",
                                          "Cookie": "session=abc"})
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200 and r.read() == b"\x00\x01\x02", r.status
        # The client's own headers reach the service; its answer's come back.
        assert r.headers["X-Saw-Cookie"] == "session=abc" and r.headers["X-Guest"] == "yes"
    # Bodies larger than the old 16 MiB buffer, both ways, streamed.
    import http.client
    big = 24 << 20
    block = bytes(range(256)) * 256
    c = http.client.HTTPConnection(control.addr, control.port, timeout=600)
    c.request("POST", f"/v1/sandboxes/{sid}/ports/{PORT}/sink",
              body=(block for _ in range(big // len(block))),
              headers={"Authorization": f"Bearer {USER}", "Transfer-Encoding": "chunked"},
              encode_chunked=True)
    r = c.getresponse()
    want = hashlib.sha256(block * (big // len(block))).hexdigest()
    assert r.status == 200 and r.read().decode() == f"{want} {big}", r.status
    c.request("GET", f"/v1/sandboxes/{sid}/ports/{PORT}/big?n={big}",
              headers={"Authorization": f"Bearer {USER}"})
    r = c.getresponse()
    h = hashlib.sha256()
    n = 0
    while True:
        b = r.read(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.close()
    assert r.status == 200 and n == big and h.hexdigest() == want, (r.status, n)
    key = base64.b64encode(os.urandom(16)).decode()
    s = socket.create_connection((control.addr, control.port), timeout=60)
    s.sendall(f"GET /v1/sandboxes/{sid}/ports/{PORT}/ws HTTP/1.1\r\nHost: x\r\n"
              f"Authorization: Bearer {USER}\r\nConnection: Upgrade\r\n"
              f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
              f"Sec-WebSocket-Key: {key}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        assert b, f"closed during the head: {head!r}"
        head += b
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/1.1 101"), head
    hdrs = {ln.split(":", 1)[0].lower(): ln.split(":", 1)[1].strip() for ln in lines[1:] if ln}
    want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                         .encode()).digest()).decode()
    assert hdrs.get("sec-websocket-accept") == want, hdrs
    s.sendall(ws_frame("via control"))
    got = b""
    while len(got) < 2 or len(got) < 2 + got[1]:
        b = s.recv(4096)
        assert b, "closed before the echo"
        got += b
    s.close()
    assert got == bytes([0x81, 16]) + b"echo:via control", got
    T.check("the control plane's port proxy: the client's headers reach the service, 24 MiB "
            "streamed each way, a WebSocket's handshake and an echoed frame")


def websocket_shell_through(control, sid):
    """The console's terminal through the control plane: the WebSocket
    shell with the user's key as a subprotocol, relayed to the host (which
    gets the control plane's key, not the user's); and the console's files
    served by thaw-control too."""
    from test_console import WS
    ws = WS(sid, protocols=["thaw-shell", f"thaw-key.{USER}"],
            query="cmd=echo%20ws-%24((6*7))%3B%20exit%204", at=(control.addr, control.port))
    assert ws.status == 101 and ws.headers["sec-websocket-protocol"] == "thaw-shell", ws.headers
    seen, texts = ws.expect_output("ws-42")
    while not texts:
        op, data = ws.recv()
        if op == 1:
            texts.append(json.loads(data))
    ws.close()
    assert texts == [{"exit": 4}], texts
    ws = WS(sid, protocols=["thaw-shell", "thaw-key.thaw_wrong"], at=(control.addr, control.port))
    assert ws.status == 401, ws.status
    ws.close()
    with urllib.request.urlopen(f"{control.url}/console/", timeout=30) as r:
        assert r.status == 200 and "default-src 'self'" in r.headers["Content-Security-Policy"]
    T.check("the WebSocket shell through the control plane (key as a subprotocol, exit 4 "
            "came back; a wrong key 401), and /console/ served by thaw-control")


def console_hosts_in_chromium(control, suite):
    """The console's hosts page, shown only behind a control plane, in
    Debian's Chromium (tests/console/console.test.mjs with THAW_HOSTS)."""
    from test_console import ARTIFACTS, CHROMIUM
    names = sorted(control.hosts())
    env = {**os.environ, "THAW_URL": control.url, "THAW_KEY": ADMIN,
           "THAW_HOSTS": ",".join(names), "THAW_ARTIFACTS": str(ARTIFACTS),
           "THAW_CHROMIUM": CHROMIUM}
    r = subprocess.run(["node", str(suite / "console.test.mjs")], cwd=T.REPO, env=env,
                       capture_output=True, text=True, timeout=300)
    print(r.stdout)
    assert r.returncode == 0, f"console.test.mjs (hosts) failed:\n{r.stdout}\n{r.stderr}"
    T.check(f"the console's hosts page through thaw-control in Chromium lists {names}")


def test_the_shell_through_the_control_plane(fleet, hosts, console_driver):  # noqa: F811
    """thaw shell (the CLI on a local pseudo-terminal) through the control
    plane: the upgrade is made on the host and the bytes joined."""
    import pty
    import select
    controls, _ = fleet
    template_everywhere(controls)
    st, sb = controls[0].call("POST", "/v1/sandboxes", {}, key=USER, timeout=180)
    assert st == 201, sb
    try:
        pid, fd = pty.fork()
        if pid == 0:
            os.environ.update(THAW_API_URL=controls[1].url, THAW_API_KEY=USER)
            os.execv(str(T.bin_dir() / "thaw"),
                     ["thaw", "shell", "-c", "echo via-$((6*7)); exit 3", sb["id"]])
        seen, code = b"", None
        deadline = time.monotonic() + 60
        while code is None and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    pass
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
        assert code == 3 and b"via-42" in seen, (code, seen[-500:])
        # Without the upgrade headers: refused here, not relayed.
        assert controls[0].call("GET", f"/v1/sandboxes/{sb['id']}/shell", key=USER)[0] == 400
        assert controls[0].call("GET", f"/v1/sandboxes/{sb['id']}/shell", key=BOB)[0] == 404
        tunnel_through(controls[1], sb["id"])
        websocket_through(controls[0], sb["id"])
        websocket_shell_through(controls[1], sb["id"])
        console_hosts_in_chromium(controls[0], console_driver)
    finally:
        controls[0].call("DELETE", f"/v1/sandboxes/{sb['id']}", key=USER, timeout=120)


def test_idempotent_creates(fleet, hosts):
    """A create retried with its Idempotency-Key gets the sandbox the first
    one made, whichever instance it reaches, however many at once; a
    control-plane instance SIGKILLed mid-create leaves the retry one
    sandbox. The host honours the key too (its own clients retry)."""
    import concurrent.futures as cf
    controls, _ = fleet
    template_everywhere(controls)
    drop_all(controls[0])
    key = "retry-" + os.urandom(6).hex()

    def create(c, k, body=None):
        return c.call_h("POST", "/v1/sandboxes", body or {}, key=ADMIN,
                        headers={"Idempotency-Key": k})

    st, first = create(controls[0], key)
    assert st == 201, first
    st, again = create(controls[1], key)
    assert st == 201 and again["id"] == first["id"], (first, again)
    # Several rounds: requests that share a placement record the same row
    # at the same moment (a unique violation on the key once made one of
    # them 409 and delete the sandbox the others were given).
    rounds = 4
    with cf.ThreadPoolExecutor(6) as ex:
        for n in range(rounds):
            k = f"{key}-b{n}"
            res = list(ex.map(lambda i: create(controls[i % 2], k), range(6)))
            assert {st for st, _ in res} == {201} and len({b["id"] for _, b in res}) == 1, res
            assert controls[0].call("GET", f"/v1/sandboxes/{res[0][1]['id']}")[0] == 200
    assert create(controls[0], "bad key!")[0] == 400
    listed = controls[0].call("GET", "/v1/sandboxes")[1]["sandboxes"]
    assert len(listed) == 1 + rounds, listed
    drop_all(controls[0])

    # An instance killed while the host is creating: the retry through the
    # other instance goes to the same host with the same key.
    slow = {"pools": False}
    k2 = "crash-" + os.urandom(6).hex()
    with cf.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(create, controls[0], k2, slow)
        time.sleep(0.05)
        controls[0].stop(signal.SIGKILL)
        fut.result()
    st, sb = create(controls[1], k2, slow)
    assert st == 201, sb
    on_hosts = [s["id"] for d in hosts for s in d.api("GET", "/v1/sandboxes")[1]["sandboxes"]]
    assert on_hosts == [sb["id"]], (on_hosts, sb)
    controls[0].start()
    drop_all(controls[1])
    # The host itself: the key's sandbox, once.
    d = hosts[0]
    st, a = d.api("POST", "/v1/sandboxes", {}, headers={"Idempotency-Key": k2 + "-h"})
    st2, b = d.api("POST", "/v1/sandboxes", {}, headers={"Idempotency-Key": k2 + "-h"})
    assert st == st2 == 201 and a["id"] == b["id"], (a, b)
    assert d.api("POST", "/v1/sandboxes", {}, headers={"Idempotency-Key": "x y"})[0] == 400
    d.api("DELETE", f"/v1/sandboxes/{a['id']}")
    T.check("Idempotency-Key: one sandbox per key through both instances, 4 at once, and "
            "after an instance was SIGKILLed mid-create; on a host alone too")


def test_a_paused_sandbox_of_a_dead_host_resumes_elsewhere(thawd, fleet, hosts):
    """Paused on host 2, which then dies: the resume (through the control
    plane) is an adopt on host 1 from the image in the object store, with
    the sandbox's processes and files, its env and its network policy (as
    changed while paused); host 2, back, drops its copy."""
    controls, _ = fleet
    template_everywhere(controls)
    drop_all(controls[0])
    sid = one_on_host_2(controls[0], USER, {"env": {"MOVED": "yes"},
                                            "network": {"deny": ["1.2.3.4"]}})
    exec_through(controls[0], sid, "echo kept > /root/moved.txt; "
                 "nohup sleep 86400 >/dev/null 2>&1 & echo $! > /root/sleep.pid")
    st, p = controls[1].call("POST", f"/v1/sandboxes/{sid}/pause", {}, key=USER, timeout=180)
    assert st == 200 and p["state"] == "paused", p
    policy = {"internet": False, "allow": ["5.6.7.8/32:443"], "deny": []}
    st, got = controls[0].call("POST", f"/v1/sandboxes/{sid}/network", policy, key=USER)
    assert st == 200 and {f: got[f] for f in policy} == policy, (st, got)
    wait_until(lambda: controls[0].call("GET", f"/v1/sandboxes/{sid}", key=USER)[1]
               .get("image", {}).get("in_object_store"), 120, interval=0.5,
               what="the image in the store")
    hosts[1].stop(signal.SIGKILL)
    try:
        host_becomes(controls[0], "fleet-h2", "down")
        t0 = time.monotonic()
        st, r = controls[1].call("POST", f"/v1/sandboxes/{sid}/resume", {}, key=USER,
                                 timeout=300)
        took = time.monotonic() - t0
        assert st == 200 and r["state"] == "running" and r["host"] in ("fleet-h1", "fleet-h3"), r
        moved_to = r["host"]
        out = exec_through(controls[0], sid, "cat /root/moved.txt; "
                           "kill -0 $(cat /root/sleep.pid) && echo alive")
        assert out["stdout"] == "kept\nalive\n", out
        assert r["env"] == {"MOVED": "yes"}, r
        assert {f: r["network"][f] for f in policy} == policy, r["network"]
        assert exec_through(controls[0], sid, "echo $MOVED")["stdout"] == "yes\n"
    finally:
        hosts[1].start()
        set_current(thawd)
    # Back, host 2 is told that the sandbox lives elsewhere and drops it.
    wait_until(lambda: hosts[1].api("GET", f"/v1/sandboxes/{sid}")[0] == 404, 30,
               interval=0.5, what="host 2's copy gone")
    st, got = controls[1].call("GET", f"/v1/sandboxes/{sid}", key=USER)
    assert st == 200 and got["host"] == moved_to and got["state"] == "running", got
    drop_all(controls[0])
    T.check(f"a sandbox paused on a host that died resumed on the other in {took:.2f} s, "
            "processes and files intact; the returning host dropped its copy")


def test_fork_across_hosts(fleet, hosts):
    """A fork whose children are placed on other hosts ("spread"): the
    parent's host exports its image to the object store once, the other
    hosts start the children from it (one import each). The children have the
    parent's files and processes, are routed through either instance and
    count against the forking key's cap; a fork without spread stays on
    the parent's host."""
    controls, _ = fleet
    a, b = controls
    template_everywhere(controls)
    drop_all(a)
    policy = {"internet": False, "allow": ["1.2.3.4/32:443"], "deny": []}
    st, parent = a.call("POST", "/v1/sandboxes", {"metadata": {"job": "fork-e2e"},
                                                   "env": {"JOB": "fork-e2e"}}, key=USER,
                        timeout=180)
    assert st == 201, parent
    pid, home = parent["id"], parent["host"]
    # The policy, changed through the control plane (relayed to the host).
    st, got = b.call("PATCH", f"/v1/sandboxes/{pid}", {"network": policy}, key=USER)
    assert st == 200 and got["network"]["internet"] is False, (st, got)
    token = os.urandom(8).hex()
    exec_through(a, pid, f"echo {token} > /root/state.txt; "
                 "nohup sleep 86400 >/dev/null 2>&1 & echo $! > /root/sleep.pid")
    home_d = hosts[int(home[-1]) - 1]

    def same_blocks():
        st, info = home_d.api("GET", "/v1/info", key=host_key(home))
        return info["object_store"]["windows_same_blocks"]
    same_before = same_blocks()
    t0 = time.monotonic()
    st, fk = b.call("POST", f"/v1/sandboxes/{pid}/fork", {"count": 2, "spread": True},
                    key=USER, timeout=300)
    took = time.monotonic() - t0
    assert st == 201 and len(fk["sandboxes"]) == 2, fk
    kids = fk["sandboxes"]
    # The export read only what the parent changed: every other window of
    # its memory and disk was found in the blocks it was cloned from.
    reused = same_blocks() - same_before
    assert reused > 100, reused
    for k in kids:
        assert k["host"] != home and k["parent"] == pid and k["owner"] == "alice", k
        assert k["state"] == "running" and k["metadata"] == {"job": "fork-e2e"}, k
        # Env and network policy go with the child to its host.
        assert k["env"] == {"JOB": "fork-e2e"}, k
        assert {f: k["network"][f] for f in policy} == policy, k["network"]
        out = exec_through(a if kids.index(k) else b, k["id"],
                           "cat /root/state.txt; kill -0 $(cat /root/sleep.pid) && echo alive")
        assert out["stdout"] == f"{token}\nalive\n", out
        for c in controls:
            st, got = c.call("GET", f"/v1/sandboxes/{k['id']}", key=USER)
            assert st == 200 and got["host"] == k["host"], got
    # The children diverge from each other and from the parent.
    exec_through(a, kids[0]["id"], "echo child0 > /root/state.txt")
    assert exec_through(b, kids[1]["id"], "cat /root/state.txt")["stdout"] == f"{token}\n"
    assert exec_through(b, pid, "cat /root/state.txt")["stdout"] == f"{token}\n"
    # Alice is at her cap of 3: another child is refused, nothing is made.
    st, body = a.call("POST", f"/v1/sandboxes/{pid}/fork", {"count": 1}, key=USER, timeout=120)
    assert st == 429, body
    assert len(a.call("GET", "/v1/sandboxes", key=USER)[1]["sandboxes"]) == ALICE_CAP
    # Without spread, a child stays on its parent's host.
    assert a.call("DELETE", f"/v1/sandboxes/{kids[0]['id']}", key=USER, timeout=120)[0] == 204
    st, fk2 = a.call("POST", f"/v1/sandboxes/{pid}/fork", {"count": 1}, key=USER, timeout=300)
    assert st == 201 and fk2["sandboxes"][0]["host"] == home, fk2
    assert fk2["timings_ms"]["export"] == 0, fk2
    # Bad bodies are refused before anything happens.
    for bad in ({"count": 0}, {"count": 17}, {"spread": "yes"}, {"other": 1}):
        assert a.call("POST", f"/v1/sandboxes/{pid}/fork", bad, key=USER)[0] == 400, bad
    drop_all(a)
    assert a.call("GET", "/v1/sandboxes", key=USER)[1]["sandboxes"] == []
    T.check(f"a fork of 2 children onto other hosts took {took:.2f} s "
            f"(export {fk['timings_ms']['export']:.0f} ms, children "
            f"{fk['timings_ms']['remote_children']:.0f} ms; {reused} windows taken from the "
            "blocks the image shares with its template, unread): files and processes there, "
            "routed through both instances, cap exact; without spread the child stayed home")


def test_500_concurrent_creates_keep_caps_exact(fleet, hosts):
    """500 creates at once (100 client threads, alternating instances) by
    a key whose cap is CAROL_CAP: exactly that many are made and the rest
    answered 429; no sandbox is on two hosts or unknown to PostgreSQL, and
    each host has exactly the sandboxes its rows say."""
    import concurrent.futures as cf
    controls, _ = fleet
    template_everywhere(controls)
    drop_all(controls[0])
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(100) as ex:
        res = list(ex.map(lambda i: controls[i % 2].call("POST", "/v1/sandboxes", {},
                                                         key=CAROL, timeout=600),
                          range(500)))
    took = time.monotonic() - t0
    made = [sb for st, sb in res if st == 201]
    codes = {}
    for st, _ in res:
        codes[st] = codes.get(st, 0) + 1
    assert codes == {201: CAROL_CAP, 429: 500 - CAROL_CAP}, codes
    ids = [sb["id"] for sb in made]
    assert len(set(ids)) == CAROL_CAP, ids
    rows = {s["id"]: s for s in controls[1].call("GET", "/v1/sandboxes", key=CAROL)[1]
            ["sandboxes"]}
    assert set(rows) == set(ids), (sorted(rows), sorted(ids))
    for i, d in enumerate(hosts):
        name = f"fleet-h{i + 1}"
        on_host = {s["id"] for s in d.api("GET", "/v1/sandboxes", key=host_key(name))[1]
                   ["sandboxes"]}
        assert on_host == {sid for sid, s in rows.items() if s["host"] == name}, \
            (name, on_host, rows)
    per_host = {h: sum(1 for s in rows.values() if s["host"] == h)
                for h in HOSTS}
    # Carol at her cap, another create through either instance: 429.
    assert controls[0].call("POST", "/v1/sandboxes", {}, key=CAROL)[0] == 429
    drop_all(controls[0])
    assert controls[0].call("GET", "/v1/sandboxes", key=CAROL)[1]["sandboxes"] == []
    T.check(f"500 concurrent creates against a cap of {CAROL_CAP} in {took:.1f} s: exactly "
            f"{CAROL_CAP} made ({per_host}), {500 - CAROL_CAP} refused with 429; each host "
            "has exactly the sandboxes PostgreSQL places there")


def test_a_sandbox_deleted_while_lost_goes_when_its_host_returns(thawd, fleet, hosts):
    """Its host died; the user deleted the lost sandbox; the host comes
    back with it (its VMM outlived thawd): the heartbeat's answer has the
    host delete it, instead of it running on unseen and uncounted."""
    controls, _ = fleet
    template_everywhere(controls)
    drop_all(controls[0])
    sid = one_on_host_2(controls[0], ADMIN)
    hosts[1].stop(signal.SIGKILL)
    try:
        wait_until(lambda: controls[0].call("GET", f"/v1/sandboxes/{sid}")[1].get("state")
                   == "lost", 15, interval=0.2, what="the sandbox lost")
        assert controls[1].call("DELETE", f"/v1/sandboxes/{sid}", timeout=60)[0] == 204
        assert controls[0].call("GET", f"/v1/sandboxes/{sid}")[0] == 404
    finally:
        hosts[1].start()
        set_current(thawd)
    wait_until(lambda: hosts[1].api("GET", f"/v1/sandboxes/{sid}",
                                    key=host_key("fleet-h2"))[0] == 404,
               30, interval=0.5, what="the returning host's copy deleted")
    assert controls[0].call("GET", f"/v1/sandboxes/{sid}")[0] == 404
    T.assert_gone(sid, hosts[1])
    drop_all(controls[0])
    T.check("a sandbox deleted while its host was down was deleted on the host when it "
            "came back")


def test_a_host_that_is_down_and_empty_is_removed(fleet):
    """Removal is for a decommissioned machine: refused while the host
    is up (it would only join again) or holds sandboxes; once it is down
    and empty, `thaw hosts remove` takes it out of the fleet."""
    controls, _ = fleet
    a, b = controls
    assert a.call("POST", "/v1/fleet/hosts", report("fleet-gone"),
                  key=host_key("fleet-gone"))[0] == 200
    st, body = b.call("DELETE", "/v1/hosts/fleet-gone")
    assert st == 409 and "not down" in body["error"], body
    assert b.call("DELETE", "/v1/hosts/fleet-gone", key=USER)[0] == 403
    assert b.call("DELETE", "/v1/hosts/fleet-nobody")[0] == 404
    assert b.call("DELETE", "/v1/hosts/Bad_Name")[0] == 400
    host_becomes(a, "fleet-gone", "down")
    env = dict(os.environ, THAW_API_URL=b.url, THAW_API_KEY=ADMIN)
    r = subprocess.run([str(T.bin_dir() / "thaw"), "hosts", "remove", "fleet-gone"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "fleet-gone", (r.stdout, r.stderr)
    assert "fleet-gone" not in a.hosts()
    # Should the machine come back, it simply joins again.
    assert a.call("POST", "/v1/fleet/hosts", report("fleet-gone"),
                  key=host_key("fleet-gone"))[0] == 200
    assert a.hosts()["fleet-gone"]["incarnation"] == 1
    assert b.call("POST", "/v1/hosts/fleet-gone/drain", {})[0] == 200  # no placements on it
    T.check("a host is removed only once down and empty (409 while up); thaw hosts remove")


def test_a_create_a_host_refuses_goes_to_another(fleet, hosts, net):
    """A host that cannot take a create it was given (another CPU model or
    accelerator, its store or memory full: 409, 503, 429) made nothing; the
    control plane tries another host. The refusing host here is a real HTTP
    peer on the bridge that joined with its key and answers every create
    409, and has the most room, so it is chosen whenever it is drawn."""
    import http.server
    import threading
    controls, _ = fleet
    template_everywhere(controls)
    drop_all(controls[0])
    seen = []

    class Refuser(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            seen.append((self.path, self.headers.get("Authorization")))
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.dumps({"error": "template code-interpreter was baked with kvm; this "
                                        "host runs tcg", "code": "conflict"}).encode()
            self.send_response(409)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer((net.gateway, 0), Refuser)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        big = report("fleet-refuser", address=f"{net.gateway}:{srv.server_port}",
                     capacity={"memory_mb": 1 << 20, "vcpus": 64, "slots": 10000,
                               "disk_mb": 1 << 20, "max_sandboxes": 100000})
        assert controls[0].call("POST", "/v1/fleet/hosts", big,
                                key=host_key("fleet-refuser"))[0] == 200
        # Placement draws three of the up hosts at random (four here), so
        # the refuser is in a given draw three times in four: create until
        # it was chosen; each create calls it at most once, and all succeed.
        for _ in range(12):
            before = len(seen)
            st, sb = controls[1].call("POST", "/v1/sandboxes", {}, key=USER, timeout=180)
            assert st == 201 and sb["host"] in HOSTS, sb
            assert len(seen) - before in (0, 1), seen
            if seen:
                break
        assert seen == [("/v1/sandboxes", f"Bearer {host_key('fleet-refuser')}")], seen
    finally:
        controls[0].call("POST", "/v1/hosts/fleet-refuser/drain", {})
        srv.shutdown()
    drop_all(controls[0])
    T.check(f"a create the chosen host refused (409) was made on {sb['host']} instead; the "
            "refusing host was called once, with its own key")


def test_a_bake_through_the_control_plane(fleet, hosts):
    """POST /v1/templates through thaw-control: an admin's bake runs on
    the emptiest host, its progress streamed back as it happens; the build
    goes to the store and the other host imports it. Last in the module:
    every host's template changes."""
    controls, _ = fleet
    template_everywhere(controls)
    drop_all(controls[0])
    st, _ = raw(controls[1], "POST", "/v1/templates", json.dumps({"name": "code-interpreter"})
                .encode(), headers={"Content-Type": "application/json"})
    assert st == 403, st
    t0 = time.monotonic()
    st, body = raw(controls[1], "POST", "/v1/templates",
                   json.dumps({"name": "code-interpreter"}).encode(), key=ADMIN,
                   headers={"Content-Type": "application/json"}, timeout=900)
    took = time.monotonic() - t0
    events = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    assert st == 200 and events[-1]["event"] == "done", events[-3:]
    assert any(e["event"] == "progress" for e in events), events[:3]
    build = events[-1]["template"]["build_id"]

    def everywhere():
        for i, d in enumerate(hosts):
            st, t = d.api("GET", "/v1/templates/code-interpreter", key=host_key(f"fleet-h{i + 1}"))
            if st != 200 or t.get("build_id") != build:
                return False
        return True
    wait_until(everywhere, 120, interval=1, what="the new build on every host")
    st, sb = controls[0].call("POST", "/v1/sandboxes", {}, key=USER, timeout=180)
    assert st == 201 and sb["build_id"] == build, sb
    drop_all(controls[0])
    T.check(f"a bake through the control plane ({len(events)} events streamed, {took:.0f} s): "
            "the new build reached every host and the next create used it")
