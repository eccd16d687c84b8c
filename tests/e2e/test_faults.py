"""Fault injection: thawd crashed, or a sandbox's VMM killed, in the
middle of an operation (create, exec, fork, pause, resume, delete).
After each fault the state thawd reports must agree with the host: every
listed sandbox answers (a paused one after a resume), every VMM,
namespace, host veth, clone and run dir belongs to a listed sandbox or a
warm pool, and deleting everything leaves nothing.

The faults land on failpoints (src/thawd/failpoint.c): named moments of
each operation, armed through thawd's --failpoints debug route. Every
point is cut once per run, each with the outcome that its place in the
operation implies (a create cut before its row said "running" leaves
nothing; a pause cut after its image was recorded comes back paused...),
so a failure is the same failure every time the run is replayed: the
seed (THAW_FAULT_SEED, fixed by default, "random" for a new one) only
orders the rounds and picks their targets.

THAW_FAULT_RANDOM=1 adds the older tests that SIGKILL at a random moment
of wall-clock time (exploration: a failure there may need several runs
to reproduce), THAW_FAULT_ROUNDS rounds each (default 20).

These run on a thawd of their own (data dir <session data dir>-flt, slots
from 10.205.0.0/16), so its restarts do not disturb the session's."""

import os
import random
import signal
import threading
import time

import pytest

import thawlib as T

ROUNDS = int(os.environ.get("THAW_FAULT_ROUNDS", "20"))
RANDOM_TIMING = os.environ.get("THAW_FAULT_RANDOM") == "1"
DEFAULT_SEED = 20261206
ONLY = set(filter(None, os.environ.get("THAW_FAULT_OPS", "").split(",")))
# How long each operation takes here (TCG, warm pools), in seconds: the
# kill lands uniformly in [0, this]. Follows what the rounds measure.
TYPICAL = {"create": 1.5, "exec": 0.4, "fork": 2.5, "pause": 1.5, "resume": 2.0,
           "delete": 0.5}

pytestmark = [pytest.mark.own_thawd, pytest.mark.slow]


@pytest.fixture(scope="module")
def flt(thawd, template):
    with T.running_own_thawd(thawd, "-flt", "10.205.0.0/16",
                             ["--vmm-pool", "1", "--slot-pool", "2", "--failpoints", "on"]) as d:
        yield d


@pytest.fixture
def rng():
    given = os.environ.get("THAW_FAULT_SEED", "")
    seed = random.randrange(1 << 32) if given == "random" else int(given or DEFAULT_SEED)
    print(f"\n[faults] seed {seed} (THAW_FAULT_SEED={seed} replays it)")
    return random.Random(seed)


random_timing = pytest.mark.skipif(not RANDOM_TIMING,
                                   reason="wall-clock fault injection: THAW_FAULT_RANDOM=1")


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
        "network": lambda: _post(f"/v1/sandboxes/{sid}/network", {"internet": False}),
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


@random_timing
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


@random_timing
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


# ---- faults on failpoints: every point, the outcome its place implies ----

def _arm(d, name, action):
    st, body = d.api("POST", "/v1/debug/failpoint", {"name": name, "action": action})
    assert st == 200 and body["armed"] == name, f"arming {name}: {st} {body}"


def _points(d):
    st, body = d.api("GET", "/v1/debug/failpoint")
    assert st == 200, body
    return body


def _fault_call(point, sid):
    """The request that passes `point` (creates build everything on the
    spot, forks make one child: the path is the same every time)."""
    op = point.split(".")[0]
    if op == "create":
        return lambda: _post("/v1/sandboxes", {"timeout_s": 1200, "pools": False})
    if op == "fork":
        return lambda: _post(f"/v1/sandboxes/{sid}/fork", {"count": 1})
    return _op_call(op, sid)


def _ready_target(point, ids, rng):
    op = point.split(".")[0]
    return None if op == "create" else _target_for(op, ids, rng)


# Where each crash leaves the operation's sandbox once thawd is back,
# from the order of its writes (docs/architecture.md, "Fork, pause/resume, snapshot" and "Restart safety"): a create's row
# says "creating" until create.running; "pausing" comes back running,
# "paused" stays, "resuming" comes back paused; "deleting" is finished.
AFTER_CRASH = {
    "create.recorded": "gone", "create.restored": "gone", "create.ready": "gone",
    "create.running": "running", "exec.connected": "running",
    "fork.stopped": "running", "fork.captured": "running", "fork.child": "running",
    "pause.stopped": "running", "pause.captured": "running", "pause.recorded": "paused",
    "resume.recorded": "paused", "resume.restored": "paused",
    "delete.recorded": "gone", "delete.released": "gone",
    # The row has the policy: the restart's reconcile puts it on the slot.
    "network.recorded": "running",
}


def _state_of(sid, listed):
    for s in listed:
        if s["id"] == sid:
            return s["state"]
    return "gone"


def test_thawd_crash_at_every_failpoint(flt, rng):
    names = _points(flt)["names"]
    assert sorted(names) == sorted(AFTER_CRASH), f"failpoints without an expectation: {names}"
    order = sorted(names)
    rng.shuffle(order)
    ids, seen = [], []
    for rnd, point in enumerate(order):
        sid = _ready_target(point, ids, rng)
        before = set(T.list_ids())
        _arm(flt, point, "crash")
        th, result = _in_thread(_fault_call(point, sid))
        try:
            rc = flt.proc.wait(90)
        except Exception:  # noqa: BLE001 - any timeout: the point was never passed
            rc = None
        th.join(120)
        assert rc == -signal.SIGKILL, \
            f"round {rnd}: thawd did not crash at {point} (exit {rc}; the request: {result})"
        assert not th.is_alive(), f"round {rnd}: the request hung after thawd died at {point}"
        flt.start()
        what = f"round {rnd}: thawd crashed at {point} ({sid or 'new sandbox'})"
        listed = T.list_sandboxes()  # as the restart left them
        new = {s["id"] for s in listed} - before
        if point.split(".")[0] == "create":
            got = _state_of(new.pop(), listed) if new else "gone"
        else:
            assert not new, f"{what}: sandboxes appeared: {new}"
            got = _state_of(sid, listed)
        assert got == AFTER_CRASH[point], f"{what}: {got}, expected {AFTER_CRASH[point]}"
        if point == "network.recorded":
            net = T.get(sid)[1]["network"]
            assert net["internet"] is False, f"{what}: the recorded policy is gone: {net}"
        ids = _check_agreement(what)
        seen.append(f"{point}={got}")
        while len(ids) > 3:
            T.delete(ids.pop())
    _assert_empty(flt)
    T.check(f"thawd crashed at each of {len(order)} failpoints and came back agreeing with "
            f"the host: {', '.join(seen)}")


# Where a VMM killed at each point leaves things: the operation's answer
# (an HTTP status class, or None for "any": the request only races the
# supervisor) and the sandbox's state once settled. Points where no VMM
# exists yet (create.recorded on this path, resume.recorded,
# delete.released) are not for this test.
AFTER_VMM_KILL = {
    "create.restored": (5, "gone"),     # the probe finds the VMM dead: no sandbox
    "create.ready": (2, "failed"),      # created, then the supervisor sees it die
    "exec.connected": (None, "failed"),
    # Past these two the capture is complete: the child restores from it
    # while its parent is found dead.
    "fork.stopped": (2, "failed"),
    "fork.captured": (2, "failed"),
    "fork.child": (5, "running"),       # the child died: no child, the parent runs on
    # The capture was complete: the pause stands without the VMM.
    "pause.stopped": (2, "paused"),
    "pause.captured": (2, "paused"),
    "pause.recorded": (2, "paused"),
    "resume.restored": (None, "failed"),
    "delete.recorded": (2, "gone"),
}


def _settle(sid, timeout=30):
    def state():
        st, body = T.get(sid)
        if st == 404:
            return "gone"
        assert st == 200, body
        return body["state"] if body["state"] in ("failed", "paused", "running") else None
    return T.wait_until(state, timeout, interval=0.1, what=f"{sid} to settle")


def test_vmm_killed_at_every_failpoint(flt, rng):
    order = sorted(AFTER_VMM_KILL)
    rng.shuffle(order)
    seen = []
    for rnd, point in enumerate(order):
        op = point.split(".")[0]
        sid = None if op == "create" else T.create(timeout_s=1200)["id"]
        if op == "resume":
            assert _post(f"/v1/sandboxes/{sid}/pause")[0] == 200
        before = set(T.list_ids())
        _arm(flt, point, "kill-vmm")
        fired = _points(flt)["fired"]
        st, body = _fault_call(point, sid)()
        after = _points(flt)
        what = f"round {rnd}: VMM killed at {point}: {op} answered {st}"
        assert after["fired"] == fired + 1 and after["armed"] is None, \
            f"{what}: the failpoint did not fire ({after}); {body}"
        assert flt.running(), f"{what}: thawd died\n{flt.log_tail()}"
        want_class, want_state = AFTER_VMM_KILL[point]
        assert want_class is None or st // 100 == want_class, f"{what}: {body}"
        if op == "create":
            new = set(T.list_ids()) - before
            got = _settle(new.pop()) if new else "gone"
        else:
            got = _settle(sid)
        assert got == want_state, f"{what}: {got}, expected {want_state}; {body}"
        if got == "failed":
            target = sid or body["id"]
            st2, b2 = _post(f"/v1/sandboxes/{target}/exec", {"cmd": "true"})
            assert st2 == 409 and "failed" in b2["error"], f"{what}: exec on failed: {st2} {b2}"
        if op == "fork" and st == 201:
            for child in body["sandboxes"]:
                _answers(child["id"])
        if got == "paused":
            assert _post(f"/v1/sandboxes/{sid}/resume")[0] == 200, f"{what}: resume"
            _answers(sid)
        seen.append(f"{point}={got}/HTTP {st}")
        for other in T.list_ids():
            T.delete(other)
        T.assert_host_matches([], timeout=30)
    _assert_empty(flt)
    T.check(f"a VMM killed at each of {len(order)} failpoints: {', '.join(seen)}; "
            "nothing leaked")


def test_exec_output_of_a_killed_vmm_is_freed(flt):
    """A command has written output (held by thawd for its answer) when
    its VMM dies: the exec fails, and what it gathered is freed (the leak
    check of the fault thawd's sanitizer run, at close, would see it)."""
    sid = T.create(timeout_s=600)["id"]
    pid = _vmm_pid(flt, sid)
    th, result = _in_thread(lambda: _post(f"/v1/sandboxes/{sid}/exec",
                                          {"cmd": "head -c 300000 /dev/zero | tr '\\0' x; "
                                                  "echo; sleep 60"}))
    time.sleep(3)  # the output is written at once, and reaches thawd; then it sleeps
    os.kill(pid, signal.SIGKILL)
    th.join(60)
    assert not th.is_alive(), "the exec hung after its VMM died"
    st, body = result["answer"]
    assert st >= 400, f"the exec of a dead VMM answered {st}"
    assert _settled_state(sid) == "failed"
    T.delete(sid)
    T.check(f"exec with 300 kB of output gathered, VMM killed: {st} {body['error'][:80]}")
