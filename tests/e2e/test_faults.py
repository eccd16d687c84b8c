"""Fault injection: thawd SIGKILLed at a random moment of an operation
(create, exec, fork, pause, resume, delete), and a sandbox's VMM
SIGKILLed at a random moment (idle, during exec, fork or pause). After
each fault the state thawd reports must agree with the host: every listed
sandbox answers (a paused one after a resume), every VMM, namespace,
host veth, clone and run dir belongs to a listed sandbox or a warm pool,
and deleting everything leaves nothing.

These run on a thawd of their own (data dir <session data dir>-flt, slots
from 10.205.0.0/16), so its restarts do not disturb the session's.

Environment: THAW_FAULT_ROUNDS (default 20, about 30 s) rounds per test,
THAW_FAULT_SEED to replay a run (the seed is printed), THAW_FAULT_OPS
(comma-separated) to inject into some operations only."""

import os
import random
import signal
import threading
import time

import pytest

import thawlib as T

ROUNDS = int(os.environ.get("THAW_FAULT_ROUNDS", "20"))
ONLY = set(filter(None, os.environ.get("THAW_FAULT_OPS", "").split(",")))
# How long each operation takes here (TCG, warm pools), in seconds: the
# kill lands uniformly in [0, this]. Follows what the rounds measure.
TYPICAL = {"create": 1.5, "exec": 0.4, "fork": 2.5, "pause": 1.5, "resume": 2.0,
           "delete": 0.5}


@pytest.fixture(scope="module")
def flt(thawd, template):
    d = T.own_thawd(thawd, "-flt", "10.205.0.0/16", ["--vmm-pool", "1", "--slot-pool", "2"])
    yield d
    problems = T.close_own_thawd(d, thawd)
    assert not problems, "the fault thawd: " + "; ".join(problems) + "\n" + d.log_tail()


@pytest.fixture
def rng():
    seed = int(os.environ.get("THAW_FAULT_SEED") or random.randrange(1 << 32))
    print(f"\n[faults] seed {seed} (THAW_FAULT_SEED={seed} replays it), {ROUNDS} rounds")
    return random.Random(seed)


def _post(path, body=None, timeout=120):
    return T.api("POST", path, body if body is not None else {}, timeout=timeout)


def _op_call(op, sid):
    """The request of one operation on sid (create ignores it)."""
    return {
        "create": lambda: _post("/v1/sandboxes", {"timeout_s": 1200}),
        "exec": lambda: _post(f"/v1/sandboxes/{sid}/exec",
                              {"cmd": "head -c 3000000 /dev/urandom | sha256sum"}),
        "fork": lambda: _post(f"/v1/sandboxes/{sid}/fork", {"count": 2}),
        "pause": lambda: _post(f"/v1/sandboxes/{sid}/pause"),
        "resume": lambda: _post(f"/v1/sandboxes/{sid}/resume"),
        "delete": lambda: T.api("DELETE", f"/v1/sandboxes/{sid}", timeout=120),
    }[op]


def _in_thread(fn):
    result = {}

    def run():
        t0 = time.monotonic()
        try:
            result["answer"] = fn()
            result["took"] = time.monotonic() - t0
        except (ConnectionError, OSError) as e:
            result["error"] = repr(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def _learn(op, result):
    """Moves TYPICAL[op] towards the duration of an operation that
    finished (and succeeded) before its fault."""
    if "took" in result and result["answer"][0] < 300:
        TYPICAL[op] = 0.4 * TYPICAL[op] + 0.6 * result["took"]


def _pick(rng, ops):
    ops = sorted(o for o in ops if not ONLY or o in ONLY) or sorted(ops)
    return rng.choice(ops)


def _answers(sid):
    r = T.exec_(sid, ["echo", "alive"], timeout=60)
    assert r["stdout"] == "alive\n", f"{sid}: {r}"


def _check_agreement(what):
    """Every listed sandbox answers (paused ones are resumed first) and
    the host holds exactly what thawd accounts for."""
    listed = T.list_sandboxes()
    for s in listed:
        assert s["state"] in ("running", "paused"), f"after {what}: {s['id']} is {s['state']}"
        if s["state"] == "paused":
            st, body = _post(f"/v1/sandboxes/{s['id']}/resume")
            assert st == 200, f"after {what}: resuming {s['id']}: {st} {body}"
        _answers(s["id"])
    ids = [s["id"] for s in listed]
    T.assert_host_matches(ids, timeout=30)
    return ids



def _assert_empty(d):
    for sid in T.list_ids():
        T.delete(sid)
    T.assert_host_matches([], timeout=30)
    rows = T.db_sandbox_ids(d)
    assert rows == [], f"sandbox rows left in the database: {rows}"
    left = [p.name for p in (d.store / "images").iterdir() if not p.name.startswith(".")] \
        if (d.store / "images").exists() else []
    assert not left, f"images left with no sandbox: {left}"


def _target_for(op, ids, rng):
    """A sandbox the operation can act on (made ready for it)."""
    if op == "create":
        return None
    if not ids:
        ids.append(T.create(timeout_s=1200)["id"])
    sid = rng.choice(ids)
    st, body = T.get(sid)
    assert st == 200, body
    if op == "resume" and body["state"] != "paused":
        st, body = _post(f"/v1/sandboxes/{sid}/pause")
        assert st == 200, body
    if op != "resume" and body["state"] == "paused":
        st, body = _post(f"/v1/sandboxes/{sid}/resume")
        assert st == 200, body
    return sid


def test_sigkill_thawd_during_operations(flt, rng):
    ids, tally = [], {}
    for rnd in range(ROUNDS):
        op = _pick(rng, TYPICAL)
        sid = _target_for(op, ids, rng)
        delay = rng.uniform(0, TYPICAL[op])
        th, result = _in_thread(_op_call(op, sid))
        time.sleep(delay)
        flt.stop(signal.SIGKILL)
        th.join(120)
        assert not th.is_alive(), f"round {rnd}: the {op} request hung after thawd died"
        _learn(op, result)
        flt.start()
        what = f"round {rnd}: SIGKILL {delay * 1000:.0f} ms into {op} {sid or ''}"
        ids = _check_agreement(what)
        if "answer" in result and result["answer"][0] == 201 and op == "create":
            new = result["answer"][1]["id"]
            assert new in ids, f"{what}: a create answered 201 ({new}) but is not listed"
        if op == "delete" and "answer" in result and result["answer"][0] == 204:
            assert sid not in ids, f"{what}: a delete answered 204 but {sid} is listed"
        outcome = f"HTTP {result['answer'][0]}" if "answer" in result else "no answer"
        tally[f"{op}/{outcome}"] = tally.get(f"{op}/{outcome}", 0) + 1
        while len(ids) > 3:
            T.delete(ids.pop())
    _assert_empty(flt)
    T.check(f"{ROUNDS} SIGKILLs of thawd during operations, each followed by a restart that "
            f"agreed with the host; outcomes {dict(sorted(tally.items()))}; finally empty")


def _vmm_pid(d, sid):
    return T.vmm_processes(d.prefix + sid).get(d.prefix + sid)


def _settled_state(sid, timeout=20):
    """The sandbox's state once thawd has noticed its VMM died: failed,
    gone (None) or paused (the pause won the race)."""
    def state():
        st, body = T.get(sid)
        if st == 404:
            return "gone"
        assert st == 200, body
        return body["state"] if body["state"] in ("failed", "paused") else None
    return T.wait_until(state, timeout, interval=0.1, what=f"{sid} to leave 'running'")


def test_sigkill_vmm(flt, rng):
    tally, kinds = {}, ["idle", "exec", "fork", "pause"]
    for rnd in range(ROUNDS):
        kind = _pick(rng, kinds)
        sid = T.create(timeout_s=1200)["id"]
        if kind in ("fork", "pause"):
            # Guest memory to capture: a window wide enough to land in.
            T.sh(sid, "head -c 120M /dev/zero > /dev/shm/dirty")
        pid = _vmm_pid(flt, sid)
        assert pid, f"no VMM process for {sid}"
        th = None
        if kind != "idle":
            th, result = _in_thread(_op_call(kind, sid))
        # A fork's capture, where the parent's VMM matters, is its first third.
        delay = rng.uniform(0, TYPICAL.get(kind, 0.2) / (3 if kind == "fork" else 1))
        time.sleep(delay)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if th:
            th.join(120)
            assert not th.is_alive(), f"round {rnd}: {kind} hung after its VMM died"
            assert "answer" in result, f"round {rnd}: {kind}: {result}"
            _learn(kind, result)
        state = _settled_state(sid)
        what = f"round {rnd}: VMM of {sid} killed {delay * 1000:.0f} ms into {kind}"
        if kind in ("fork", "pause") and result["answer"][0] >= 400:
            st, body = result["answer"]
            assert st == 409 and "exited" in body["error"], f"{what}: {kind} answered {st} {body}"
        if state == "failed":
            st, body = _post(f"/v1/sandboxes/{sid}/exec", {"cmd": "true"})
            assert st == 409 and "failed" in body["error"], f"{what}: exec on failed: {st} {body}"
        elif state == "paused":
            assert kind == "pause" and result["answer"][0] == 200, f"{what}: paused"
            st, body = _post(f"/v1/sandboxes/{sid}/resume")
            assert st == 200, f"{what}: resume after a pause that won: {st} {body}"
            _answers(sid)
        if kind == "fork" and result["answer"][0] == 201:
            for child in result["answer"][1]["sandboxes"]:
                _answers(child["id"])
        ids = T.list_ids()
        for s in T.list_sandboxes():
            if s["state"] == "running":
                _answers(s["id"])
        for other in ids:
            T.delete(other)
        T.assert_host_matches([], timeout=30)
        key = f"{kind}/{state}" + (f"/HTTP {result['answer'][0]}" if th else "")
        tally[key] = tally.get(key, 0) + 1
    _assert_empty(flt)
    T.check(f"{ROUNDS} VMMs SIGKILLed: each sandbox ended failed (exec 409), gone or "
            f"paused, delete worked, nothing leaked; {dict(sorted(tally.items()))}")
