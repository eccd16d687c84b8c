"""The fleet's control plane (thaw-control, docs/fleet.md) on a real
PostgreSQL: two control-plane instances on one database, two thawd hosts
that join it (one through each instance), and what happens when a host,
a control-plane instance or PostgreSQL goes away."""

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

pytestmark = [pytest.mark.own_thawd]

ADMIN = "fleet-admin-key-0123456789"
USER = "fleet-user-key-0123456789"
SECRET = "fleet-secret-0123456789abcdef"


class Control:
    """One thaw-control process."""

    def __init__(self, url, workdir, name):
        self.db = url
        self.dir = Path(workdir)
        self.name = name
        self.port = T.free_port()
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self):
        return self.dir / f"{self.name}.log"

    def start(self, wait=True):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(T.bin_dir() / "thaw-control"), "--listen", f"127.0.0.1:{self.port}",
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

    def hosts(self):
        st, body = self.call("GET", "/v1/hosts")
        assert st == 200, body
        return {h["name"]: h for h in body["hosts"]}


@pytest.fixture(scope="module")
def fleet(postgres):
    work = tempfile.mkdtemp(prefix="thaw-fleet-")
    Path(work, "secret").write_text(SECRET + "\n")
    Path(work, "keys.json").write_text(json.dumps({"keys": [
        {"name": "ops", "sha256": hashlib.sha256(ADMIN.encode()).hexdigest(), "role": "admin"},
        {"name": "alice", "sha256": hashlib.sha256(USER.encode()).hexdigest(), "role": "user"},
    ]}))
    db = postgres.create_db("fleet_" + os.urandom(4).hex())
    controls = [Control(db, work, "control-1").start(), Control(db, work, "control-2").start()]
    yield controls, work
    for c in controls:
        c.stop()
    import shutil
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def hosts(thawd, fleet):
    controls, work = fleet
    made = []
    for i, (c, cidr) in enumerate(zip(controls, ("10.231.0.0/16", "10.232.0.0/16"))):
        extra = ["--join", c.url, "--host-name", f"fleet-h{i + 1}",
                 "--fleet-secret-file", str(Path(work, "secret")), "--vmm-pool", "0"]
        made.append(own_thawd(thawd, f"-fleet-h{i + 1}", cidr, extra=extra, template=False))
    set_current(thawd)
    yield made
    problems = [p for d in made for p in close_own_thawd(d, thawd)]
    assert not problems, problems


def both_up(controls):
    def check():
        for c in controls:
            h = c.hosts()
            if not all(h.get(n, {}).get("state") == "up" for n in ("fleet-h1", "fleet-h2")):
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
        assert h["address"] == f"127.0.0.1:{d.port}", h
        assert h["accel"] in ("tcg", "kvm") and h["qemu_version"], h
        assert h["capacity"]["memory_mb"] > 1000 and h["capacity"]["vcpus"] >= 1, h
        assert h["capacity"]["max_sandboxes"] > 0 and h["capacity"]["disk_mb"] > 0, h
        assert h["used"]["sandboxes"] == 0 and h["used"]["memory_available_mb"] > 0, h
        assert h["heartbeat_age_ms"] < 5000, h
        assert h["last_heartbeat"].endswith("Z") and h["incarnation"] >= 1, h
    T.check("two hosts joined, one through each control-plane instance; both list both")


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
    st, body = controls[0].call("POST", "/v1/fleet/hosts", report(**bad), key=SECRET)
    assert st == 400 and body["code"] == "invalid_request", (bad, st, body)
    assert "fleet-fake" not in controls[0].hosts() or bad.get("name") != "fleet-fake"


def test_keys_and_the_fleet_secret_are_kept_apart(fleet):
    controls, _ = fleet
    c = controls[1]
    assert c.call("GET", "/healthz", key=None)[0] == 200
    assert c.call("GET", "/v1/hosts", key=None)[0] == 401
    st, body = c.call("GET", "/v1/hosts", key=USER)
    assert st == 403 and body["code"] == "forbidden", body
    # A host's secret is no API key, an admin key is no host's secret.
    assert c.call("GET", "/v1/hosts", key=SECRET)[0] == 401
    assert c.call("POST", "/v1/fleet/hosts", report(), key=ADMIN)[0] == 401
    assert c.call("POST", "/v1/fleet/hosts", report(), key=None)[0] == 401
    st, body = c.call("POST", "/v1/fleet/hosts/fleet-nobody/heartbeat", {}, key=SECRET)
    assert st == 404, body
    assert c.call("POST", "/v1/hosts/fleet-nobody/drain", {})[0] == 404
    assert c.call("POST", "/v1/hosts/Bad_Name/drain", {})[0] == 400


def test_a_drained_host_stays_draining(fleet):
    controls, _ = fleet
    a, b = controls
    assert a.call("POST", "/v1/fleet/hosts", report("fleet-drained"), key=SECRET)[0] == 200
    st, body = b.call("POST", "/v1/hosts/fleet-drained/drain", {})
    assert st == 200 and body["state"] == "draining", body
    # Its heartbeats and a new registration (a restart) keep it draining.
    assert a.call("POST", "/v1/fleet/hosts/fleet-drained/heartbeat",
                  {"used": {"sandboxes": 1}}, key=SECRET)[0] == 204
    assert a.call("POST", "/v1/fleet/hosts", report("fleet-drained"), key=SECRET)[0] == 200
    h = a.hosts()["fleet-drained"]
    assert h["state"] == "draining" and h["incarnation"] == 2, h


def test_a_killed_host_is_down_within_10_s_and_back_when_it_returns(thawd, fleet, hosts):
    controls, _ = fleet
    wait_until(both_up(controls), 20, what="both hosts up")
    d = hosts[1]
    before = controls[0].hosts()["fleet-h2"]["incarnation"]
    d.stop(signal.SIGKILL)
    t0 = time.monotonic()
    wait_until(lambda: controls[0].hosts()["fleet-h2"]["state"] == "down", 15,
               interval=0.2, what="fleet-h2 down")
    took = time.monotonic() - t0
    assert took <= 10.5, f"down after {took:.1f} s"
    assert controls[1].hosts()["fleet-h1"]["state"] == "up"
    d.start()
    set_current(thawd)
    wait_until(lambda: controls[1].hosts()["fleet-h2"]["state"] == "up", 15,
               what="fleet-h2 up again")
    assert controls[1].hosts()["fleet-h2"]["incarnation"] == before + 1
    T.check(f"a SIGKILLed host was down after {took:.1f} s; up again when it came back")


def test_a_control_plane_instance_killed_and_postgres_restarted(fleet, hosts, postgres):
    controls, _ = fleet
    wait_until(both_up(controls), 20, what="both hosts up")
    # The other instance serves while one is gone, and the state is the
    # database's: the killed one comes back with all of it.
    controls[0].stop(signal.SIGKILL)
    assert set(controls[1].hosts()) >= {"fleet-h1", "fleet-h2"}
    controls[0].start()
    assert set(controls[0].hosts()) >= {"fleet-h1", "fleet-h2"}
    # PostgreSQL restarted under both instances: they reconnect, nothing is
    # lost, and no host was marked down for the hiccup.
    postgres.restart()
    for c in controls:
        wait_until(lambda: c.call("GET", "/v1/hosts")[0] == 200, 15, what=f"{c.name} again")
    time.sleep(3)  # a heartbeat or two through the new connections
    for c in controls:
        h = c.hosts()
        assert h["fleet-h1"]["state"] == "up" and h["fleet-h2"]["state"] == "up", h
        assert h["fleet-h1"]["heartbeat_age_ms"] < 5000, h
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
