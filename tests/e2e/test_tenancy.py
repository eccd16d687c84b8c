"""Several API keys, each a tenant: a keys file with two users and an
admin, ownership (a user key sees and acts on its own sandboxes only;
another key's sandbox is a 404), admin-only routes (403), and sandbox
caps per key and per host that concurrent creates cannot overshoot.

These need their own thawd (own data dir <session data dir>-ten, own slot
range, a keys file, --max-sandboxes 3), started here. Its data dir is kept
between runs so the template is baked once; its sandboxes are not."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import thawlib as T

sys.path.insert(0, str(T.REPO / "sdk" / "python"))
import thaw  # noqa: E402

pytestmark = pytest.mark.own_thawd

SECRETS = {"ops": "ops-secret-0123456789abcdef", "alice": "alice-secret-0123456789abcdef",
           "bob": "bob-secret-0123456789abcdef", "carol": "carol-secret-0123456789abcdef"}
CAROL_RATE = 3
HOST_CAP = 3
ALICE_CAP = 2
SLOT_CIDR = "10.204.0.0/16"


def sha(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def keys_doc():
    return {"keys": [
        {"name": "ops", "sha256": sha(SECRETS["ops"]), "role": "admin"},
        {"name": "alice", "sha256": sha(SECRETS["alice"]), "role": "user",
         "max_sandboxes": ALICE_CAP},
        {"name": "bob", "sha256": sha(SECRETS["bob"]), "role": "user", "rate_limit": 0},
        {"name": "carol", "sha256": sha(SECRETS["carol"]), "role": "user",
         "rate_limit": CAROL_RATE},
    ]}


class Tenant:
    """One key's view of the tenancy thawd."""

    def __init__(self, d, name):
        self.d, self.name, self.key = d, name, SECRETS[name]

    def api(self, method, path, body=None, **kw):
        return self.d.api(method, path, body, key=self.key, **kw)

    def create(self, expect=201, **body):
        st, sb = self.api("POST", "/v1/sandboxes", {"timeout_s": 600, **body})
        assert st == expect, f"{self.name}: create answered {st}: {sb}"
        return sb

    def ids(self):
        st, body = self.api("GET", "/v1/sandboxes")
        assert st == 200, body
        return {s["id"]: s["owner"] for s in body["sandboxes"]}


@pytest.fixture(scope="module")
def ten(thawd):
    data = Path(str(thawd.data_dir) + "-ten")
    data.mkdir(parents=True, exist_ok=True)
    keys = data / "keys.json"
    keys.write_text(json.dumps(keys_doc(), indent=1))
    d = T.Thawd(data, bins=thawd.bins)
    d.extra_args = ["--keys-file", str(keys), "--max-sandboxes", str(HOST_CAP),
                    *T.instance_args(SLOT_CIDR), "--vmm-pool", "0", "--slot-pool", "0",
                    "--max-timeout", "3600"]
    saved = {k: os.environ.get(k) for k in ("THAW_API_URL", "THAW_API_KEY")}
    d.start()
    for k, v in saved.items():  # the session's CLI tests keep their thawd
        if v is not None:
            os.environ[k] = v
    d.key = SECRETS["ops"]
    try:
        _ensure_template(thawd, d)
        for sid in _all_ids(d):  # adopted from a run that did not finish
            d.api("DELETE", f"/v1/sandboxes/{sid}")
        yield {n: Tenant(d, n) for n in SECRETS}
    finally:
        for sid in _all_ids(d) if d.running() else []:
            d.api("DELETE", f"/v1/sandboxes/{sid}")
        assert d.stop(signal.SIGTERM) == 0, d.log_tail()
        assert d.teardown() == 0, d.log_tail()
        assert str(d.store) not in T.mount_points(), "the tenancy thawd's store is still mounted"
        assert not T.vmm_processes(d.prefix), "VMMs of the tenancy thawd are left"
        assert not T.netns_names(d.prefix), "namespaces of the tenancy thawd are left"
        T.discard_own_data_dir(d)


def _all_ids(d):
    st, body = d.api("GET", "/v1/sandboxes", key=SECRETS["ops"])
    assert st == 200, body
    return [s["id"] for s in body["sandboxes"]]


def _ensure_template(session, d):
    st, info = d.api("GET", f"/v1/templates/{T.TEMPLATE}")
    stamp = d.data_dir / "e2e-agent.sha256"
    digest = T.template_inputs_digest()
    if st == 200 and info.get("status") == "ready" and stamp.exists() and \
            stamp.read_text().strip() == digest:
        return
    print(f"[e2e] baking {T.TEMPLATE} into the tenancy data dir {d.data_dir}")
    T.seed_build_cache(session, d)  # no second debootstrap (~90 s of CI)
    st, events = d.bake(T.TEMPLATE, timeout=1200)
    assert st == 200 and events and events[-1]["event"] == "done", f"bake: {st} {events[-3:]}"
    stamp.write_text(digest + "\n")


@pytest.fixture
def clean(ten):
    """Every test starts and ends with no sandbox on the tenancy thawd."""
    d = ten["ops"].d
    for sid in _all_ids(d):
        d.api("DELETE", f"/v1/sandboxes/{sid}")
    yield ten
    for sid in _all_ids(d):
        st, _ = d.api("DELETE", f"/v1/sandboxes/{sid}")
        assert st in (204, 404), f"cleanup delete of {sid} answered {st}"


def assert_limit(st, body, names, what):
    assert st == 429, f"{what}: expected 429, got {st}: {body}"
    assert body["code"] == "limit_reached", f"{what}: {body}"
    assert names in body["error"], f"{what}: message does not name {names!r}: {body['error']}"


# ---- a bad keys file ----------------------------------------------------------

BAD_FILES = [
    ("not json", "{", "malformed JSON"),
    ("unknown field", {"keys": [{"name": "a", "sha256": sha("x" * 20), "role": "user",
                                 "secret": "x" * 20}]}, 'unknown field "secret"'),
    ("duplicate name", {"keys": [{"name": "a", "sha256": sha("x" * 20), "role": "user"},
                                 {"name": "a", "sha256": sha("y" * 20), "role": "user"}]},
     "used twice"),
    ("duplicate secret", {"keys": [{"name": "a", "sha256": sha("x" * 20), "role": "user"},
                                   {"name": "b", "sha256": sha("x" * 20), "role": "admin"}]},
     "same secret"),
    ("bad role", {"keys": [{"name": "a", "sha256": sha("x" * 20), "role": "root"}]},
     "role must be"),
    ("bad cap", {"keys": [{"name": "a", "sha256": sha("x" * 20), "role": "user",
                           "max_sandboxes": -1}]}, "max_sandboxes must be"),
    ("clear secret", {"keys": [{"name": "a", "sha256": "x" * 20, "role": "user"}]},
     "sha256 must be"),
    ("no keys", {"keys": []}, "array of 1 to"),
]


@pytest.mark.parametrize("what,content,mentions", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_keys_file_stops_thawd(thawd, tmp_path, what, content, mentions):
    keys = tmp_path / "keys.json"
    keys.write_text(content if isinstance(content, str) else json.dumps(content))
    data = tmp_path / "data"
    r = subprocess.run([str(thawd.thawd_bin), "--data-dir", str(data), "--keys-file", str(keys),
                        "--listen", f"127.0.0.1:{T.free_port()}", "--slot-cidr", SLOT_CIDR],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, f"{what}: thawd started with a bad keys file: {r.stderr}"
    assert mentions in r.stderr and str(keys) in r.stderr, f"{what}: unclear: {r.stderr}"
    assert not data.exists(), f"{what}: thawd touched its data dir before refusing"
    T.check(f"keys file with {what}: exit {r.returncode}, {r.stderr.strip().splitlines()[-1]}")


def test_missing_keys_file_stops_thawd(thawd, tmp_path):
    r = subprocess.run([str(thawd.thawd_bin), "--data-dir", str(tmp_path / "d"),
                        "--keys-file", str(tmp_path / "none.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "none.json" in r.stderr, r.stderr


def test_default_key_owns_as_before(sandboxes):
    """Without a keys file, DATA/api-key is the admin key "default"."""
    sb = sandboxes()
    assert sb["owner"] == "default", sb
    st, got = T.get(sb["id"])
    assert st == 200 and got["owner"] == "default", got
    T.check("the session thawd (no keys file): sandboxes belong to \"default\"")


# ---- ownership ------------------------------------------------------------------

def test_user_keys_see_and_touch_only_their_own(clean):
    alice, bob, ops = clean["alice"], clean["bob"], clean["ops"]
    a = alice.create()["id"]
    b = bob.create()["id"]
    assert alice.ids() == {a: "alice"}
    assert bob.ids() == {b: "bob"}
    assert ops.ids() == {a: "alice", b: "bob"}
    st, info = alice.api("GET", "/v1/info")
    assert st == 200 and info["key"] == {"name": "alice", "role": "user", "sandboxes": 1,
                                         "max_sandboxes": ALICE_CAP}, info
    assert "ids" not in info["warm_vmms"] and "data_dir" not in info, \
        "a user key sees warm VMM ids (future sandbox ids) or host paths"
    st, info = ops.api("GET", "/v1/info")
    assert info["key"]["role"] == "admin" and info["key"]["max_sandboxes"] is None, info
    assert "ids" in info["warm_vmms"] and "data_dir" in info, info
    # Every route on bob's sandbox answers alice exactly as for no sandbox.
    ghost = "sb-zzzzzzzzzzzz"
    routes = [("GET", "", None), ("DELETE", "", None), ("POST", "/exec", {"cmd": "true"}),
              ("POST", "/run_code", {"code": "1"}), ("POST", "/fork", {}),
              ("POST", "/pause", {}), ("POST", "/resume", {}),
              ("POST", "/keepalive", {"timeout_s": 60}),
              ("GET", "/files?path=/etc/hostname", None),
              ("PUT", "/files?path=/tmp/x", b"x"), ("DELETE", "/files?path=/tmp/x", None),
              ("GET", "/files/stat?path=/", None), ("GET", "/files/list?path=/", None),
              ("POST", "/files/mkdir", {"path": "/tmp/d"}), ("GET", "/commands/1", None),
              ("POST", "/commands/1/kill", {}), ("GET", "/shell", None),
              ("GET", "/ports/8080/", None), ("POST", "/ports/8080/x", b"y"),
              ("GET", "/metrics?start=0", None)]
    for method, tail, body in routes:
        st, resp = alice.api(method, f"/v1/sandboxes/{b}{tail}", body)
        st0, resp0 = alice.api(method, f"/v1/sandboxes/{ghost}{tail}", body)
        assert st == 404 and resp["code"] == "not_found", f"alice {method} {tail}: {st} {resp}"
        assert (st0, resp0["error"].replace(ghost, b)) == (st, resp["error"]), \
            f"alice {method} {tail}: differs from a missing sandbox: {resp} vs {resp0}"
    assert bob.ids() == {b: "bob"}, "bob's sandbox changed"
    st, out = bob.api("POST", f"/v1/sandboxes/{b}/exec", {"cmd": "echo mine"})
    assert st == 200 and out["stdout"] == "mine\n", out
    # An admin sees and acts on both; a fork belongs to the forking key.
    st, got = ops.api("GET", f"/v1/sandboxes/{a}")
    assert st == 200 and got["owner"] == "alice", got
    st, out = ops.api("POST", f"/v1/sandboxes/{b}/exec", {"cmd": "hostname"})
    assert st == 200 and out["stdout"].strip() == b, out
    st, fk = ops.api("POST", f"/v1/sandboxes/{b}/fork", {"count": 1})
    assert st == 201 and fk["sandboxes"][0]["owner"] == "ops", fk
    child = fk["sandboxes"][0]["id"]
    assert child not in bob.ids(), "bob sees the admin's fork of his sandbox"
    st, _ = bob.api("DELETE", f"/v1/sandboxes/{child}")
    assert st == 404
    st, _ = ops.api("DELETE", f"/v1/sandboxes/{child}")  # room under the host cap
    assert st == 204
    # A user's own fork is its own.
    st, mine = alice.api("POST", f"/v1/sandboxes/{a}/fork", {"count": 1})
    assert st == 201 and mine["sandboxes"][0]["owner"] == "alice", mine
    st, _ = ops.api("DELETE", f"/v1/sandboxes/{b}")
    assert st == 204, "the admin could not delete bob's sandbox"
    T.check(f"alice: 404 on {len(routes)} routes of bob's sandbox, the same answer as for "
            "none; lists show own sandboxes only; the admin sees, execs, forks, deletes all")


def test_list_owner_filter_is_the_admins(clean):
    alice, bob, ops = clean["alice"], clean["bob"], clean["ops"]
    a = alice.create()["id"]
    b = bob.create()["id"]
    st, err = alice.api("GET", "/v1/sandboxes?owner=bob")
    assert st == 403 and "admin" in err["error"], (st, err)
    st, body = alice.api("GET", "/v1/sandboxes?owner=alice")
    assert st == 200 and [s["id"] for s in body["sandboxes"]] == [a], body
    for who, sid in (("alice", a), ("bob", b)):
        st, body = ops.api("GET", f"/v1/sandboxes?owner={who}")
        assert st == 200 and [s["id"] for s in body["sandboxes"]] == [sid], body
    T.check("owner=: 403 for a user naming another, its own for itself, any for the admin")


def test_admin_only_routes_are_403_for_users(clean):
    alice, ops = clean["alice"], clean["ops"]
    for method, path, body in [("POST", "/v1/templates", {"name": T.TEMPLATE}),
                               ("DELETE", f"/v1/templates/{T.TEMPLATE}", None),
                               ("GET", "/metrics", None)]:
        st, resp = alice.api(method, path, body)
        assert st == 403 and resp["code"] == "forbidden", f"{method} {path}: {st} {resp}"
        assert "admin" in resp["error"], resp
    st, ts = alice.api("GET", "/v1/templates")
    assert st == 200 and any(t["name"] == T.TEMPLATE and t["owner"] is None
                             for t in ts["templates"]), ts
    st, _, raw = ops.d.request("GET", "/metrics", key=ops.key)
    assert st == 200 and b"# TYPE thaw_api_requests_total counter" in raw, (st, raw[:200])
    st, resp = ops.api("POST", "/v1/templates", {"name": "no-such-recipe"})
    assert st != 403, f"an admin key got 403 on bake: {resp}"
    st, resp = ops.d.api("GET", "/v1/sandboxes", key="not-a-key-0123456789")
    assert st == 401, resp
    T.check("users: bake, deleting a shared template and /metrics -> 403 forbidden; shared "
            "templates listed with owner null; admins pass; wrong key 401")


def test_a_user_snapshot_is_private_to_its_key(clean):
    alice, bob, ops = clean["alice"], clean["bob"], clean["ops"]
    name = "ten-alice-snap"
    ops.api("DELETE", f"/v1/templates/{name}")  # a leftover of an interrupted run
    a = alice.create()["id"]
    st, out = alice.api("POST", f"/v1/sandboxes/{a}/exec",
                        {"cmd": "echo alice-secret > /root/secret"})
    assert st == 200 and out["exit_code"] == 0, out
    st, snap = alice.api("POST", f"/v1/sandboxes/{a}/snapshot", {"template": name})
    assert st == 201, snap
    try:
        st, t = alice.api("GET", f"/v1/templates/{name}")
        assert st == 200 and t["owner"] == "alice", t
        # Bob neither sees it nor creates from it nor deletes it: as if absent.
        st, ts = bob.api("GET", "/v1/templates")
        assert name not in [x["name"] for x in ts["templates"]], ts
        for method, path, body in [("GET", f"/v1/templates/{name}", None),
                                   ("POST", "/v1/sandboxes", {"template": name}),
                                   ("DELETE", f"/v1/templates/{name}", None)]:
            st, resp = bob.api(method, path, body)
            st0, resp0 = bob.api(method, path.replace(name, "ten-no-such"),
                                 {"template": "ten-no-such"} if body else None)
            assert st == 404 and resp["code"] == "not_found", f"bob {method} {path}: {resp}"
            assert (st0, resp0["error"].replace("ten-no-such", name)) == (st, resp["error"]), \
                f"bob {method} {path}: differs from a missing template: {resp} vs {resp0}"
        # Alice creates from it (her file is there); an admin sees it.
        st, b = alice.api("POST", "/v1/sandboxes", {"template": name, "timeout_s": 600})
        assert st == 201 and b["owner"] == "alice", b
        st, out = alice.api("POST", f"/v1/sandboxes/{b['id']}/exec", {"cmd": "cat /root/secret"})
        assert st == 200 and out["stdout"] == "alice-secret\n", out
        st, ts = ops.api("GET", "/v1/templates")
        assert name in [x["name"] for x in ts["templates"]], ts
        st, _ = alice.api("DELETE", f"/v1/sandboxes/{b['id']}")
        assert st == 204
        st, resp = alice.api("DELETE", f"/v1/templates/{name}")
        assert st == 204, resp
    finally:
        ops.api("DELETE", f"/v1/templates/{name}")
    T.check("alice's snapshot is hers: bob gets the answers for a missing template on get, "
            "create and delete and does not list it; alice creates from it and deletes it")


# ---- caps -----------------------------------------------------------------------

def test_per_key_cap_counts_paused_sandboxes(clean):
    alice = clean["alice"]
    first = alice.create()["id"]
    alice.create()
    st, body = alice.api("POST", "/v1/sandboxes", {})
    assert_limit(st, body, f"max_sandboxes of {ALICE_CAP}", "alice's third create")
    st, body = alice.api("POST", f"/v1/sandboxes/{first}/fork", {"count": 1})
    assert_limit(st, body, f"max_sandboxes of {ALICE_CAP}", "alice's fork at her cap")
    st, _ = alice.api("POST", f"/v1/sandboxes/{first}/pause")
    assert st == 200
    st, body = alice.api("POST", "/v1/sandboxes", {})
    assert_limit(st, body, "paused ones", "a create while one of two is paused")
    st, _ = alice.api("DELETE", f"/v1/sandboxes/{first}")
    assert st == 204
    alice.create()
    T.check(f"alice's cap {ALICE_CAP}: the third create and a fork -> 429 naming the cap; "
            "a paused sandbox still counts; a delete frees a place")


def test_host_cap_counts_vms_and_resume_needs_room(clean):
    bob = clean["bob"]
    ids = [bob.create()["id"] for _ in range(HOST_CAP)]
    st, body = bob.api("POST", "/v1/sandboxes", {})
    assert_limit(st, body, f"--max-sandboxes of {HOST_CAP}", "bob's create on a full host")
    st, _ = bob.api("POST", f"/v1/sandboxes/{ids[0]}/pause")
    assert st == 200
    extra = bob.create()["id"]  # a paused sandbox holds no VM
    st, body = bob.api("POST", f"/v1/sandboxes/{ids[0]}/resume")
    assert_limit(st, body, f"--max-sandboxes of {HOST_CAP}", "a resume on a full host")
    assert bob.api("GET", f"/v1/sandboxes/{ids[0]}")[1]["state"] == "paused"
    st, _ = bob.api("DELETE", f"/v1/sandboxes/{extra}")
    assert st == 204
    st, body = bob.api("POST", f"/v1/sandboxes/{ids[0]}/resume")
    assert st == 200 and body["state"] == "running", body
    # A fork of N reserves N: all or nothing.
    st, _ = bob.api("DELETE", f"/v1/sandboxes/{ids[1]}")
    st, _ = bob.api("DELETE", f"/v1/sandboxes/{ids[2]}")
    st, body = bob.api("POST", f"/v1/sandboxes/{ids[0]}/fork", {"count": HOST_CAP})
    assert_limit(st, body, f"{HOST_CAP} more would pass", "a fork past the host cap")
    assert len(bob.ids()) == 1, "a refused fork left children"
    st, body = bob.api("POST", f"/v1/sandboxes/{ids[0]}/fork", {"count": HOST_CAP - 1})
    assert st == 201 and len(body["sandboxes"]) == HOST_CAP - 1, body
    T.check(f"host cap {HOST_CAP}: create and resume -> 429 when full, a paused sandbox "
            "frees its VM's place, a fork of N needs N places")


def concurrent_creates(tenant, n):
    """n creates at once, released together; returns their (status, body)."""
    gate = threading.Barrier(n)

    def one():
        gate.wait()
        return tenant.api("POST", "/v1/sandboxes", {"timeout_s": 600})
    return T.in_threads([one] * n, timeout=600)


@pytest.mark.parametrize("who,cap,names", [("alice", ALICE_CAP, f"max_sandboxes of {ALICE_CAP}"),
                                           ("bob", HOST_CAP, f"--max-sandboxes of {HOST_CAP}")],
                         ids=["per-key cap", "host cap"])
def test_concurrent_creates_never_overshoot(clean, who, cap, names):
    tenant = clean[who]
    results = concurrent_creates(tenant, 8)
    codes = sorted(st for st, _ in results)
    assert codes == [201] * cap + [429] * (8 - cap), f"8 concurrent creates: {codes}"
    for st, body in results:
        if st == 429:
            assert_limit(st, body, names, "a concurrent create")
    assert len(tenant.ids()) == cap
    assert len(clean["ops"].ids()) == cap
    T.check(f"8 concurrent creates by {who} against {names}: {codes.count(201)} x 201, "
            f"{codes.count(429)} x 429")


# ---- the Python SDK with a user key ---------------------------------------------

def test_sdk_with_user_keys(clean):
    url = clean["ops"].d.url
    alice = thaw.Client(url, SECRETS["alice"])
    bob = thaw.Client(url, SECRETS["bob"])
    with thaw.Sandbox.create(client=alice, timeout=600) as sbx:
        assert sbx.owner == "alice", sbx.info
        assert [s.id for s in thaw.Sandbox.list(client=alice)] == [sbx.id]
        assert thaw.Sandbox.list(client=bob) == []
        with pytest.raises(thaw.SandboxNotFound):
            thaw.Sandbox.connect(sbx.id, client=bob)
        with pytest.raises(thaw.Forbidden) as e:
            thaw.delete_template(T.TEMPLATE, client=alice)
        assert e.value.status == 403 and e.value.code == "forbidden", e.value
    with pytest.raises(thaw.LimitReached) as e:
        with thaw.Sandbox.create(client=alice, timeout=600), \
                thaw.Sandbox.create(client=alice, timeout=600), \
                thaw.Sandbox.create(client=alice, timeout=600):
            pass
    assert "max_sandboxes" in e.value.message, e.value
    T.check("SDK: owner shown, another key's sandbox is SandboxNotFound, template delete "
            "is Forbidden (403), alice's third sandbox LimitReached")


def test_caps_hold_across_a_restart(clean):
    """Counts are rebuilt from what thawd adopts: a SIGKILLed thawd comes
    back knowing alice's sandboxes (a paused one too) and the host's."""
    alice, bob = clean["alice"], clean["bob"]
    a1 = alice.create()["id"]
    alice.create()
    st, _ = alice.api("POST", f"/v1/sandboxes/{a1}/pause")
    assert st == 200
    bob.create()
    bob.create()
    d = alice.d
    d.restart(signal.SIGKILL)
    assert alice.ids() == {i: "alice" for i in alice.ids()} and len(alice.ids()) == 2
    st, body = alice.api("POST", "/v1/sandboxes", {})
    assert_limit(st, body, f"max_sandboxes of {ALICE_CAP}", "alice after the restart")
    st, body = bob.api("POST", "/v1/sandboxes", {})
    assert_limit(st, body, f"--max-sandboxes of {HOST_CAP}", "bob after the restart")
    st, info = alice.api("GET", "/v1/info")
    assert info["key"]["sandboxes"] == 2, info
    T.check("after SIGKILL and restart: alice's 2 (1 paused) and the host's 3 VMs are "
            "counted again; both caps answer 429")


def test_rate_limit_per_key(ten):
    """carol's own rate_limit applies to her alone; bob's 0 is none."""
    carol, bob = ten["carol"], ten["bob"]
    codes = [carol.api("GET", "/v1/sandboxes")[0] for _ in range(20)]
    assert codes[:2 * CAROL_RATE] == [200] * (2 * CAROL_RATE), codes  # a 2 s burst
    assert 429 in codes, codes
    st, body = carol.api("GET", "/v1/sandboxes")
    if st == 429:
        assert_limit(st, body, f"more than {CAROL_RATE} requests a second with key carol",
                     "carol over her rate")
    assert all(bob.api("GET", "/v1/sandboxes")[0] == 200 for _ in range(30)), \
        "bob was limited by carol's rate"
    T.check(f"carol (rate_limit {CAROL_RATE}): {codes.count(200)} of 20 passed, "
            f"{codes.count(429)} got 429; bob (rate_limit 0): 30 of 30 passed")
