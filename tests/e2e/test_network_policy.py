"""Per-sandbox network policy with real packets: a guest's egress is
decided by its own allow list, then its deny list, then "internet"; the
host-wide rules still apply underneath; the policy changes on a running
sandbox (PATCH and POST .../network), survives pause and resume and a
thawd restart, goes to fork children, and leaves a slot that goes back to
the pool.

Every "blocked" comes with a control: the same listener answers from the
root namespace, and the same guest reaches another target in the same
probe, so a dead listener or a broken guest cannot pass for a policy. A
blocked connection must time out (the packet was dropped).

Test network (its own names, removed at the end, also on failure):
  thawnp-out   OUT.1, OUT.2, OUT.3 with HTTP servers on :8000 and :8001;
               root side OUT.254 (the first free of OUT_CANDIDATES)
  thawnp-priv  a private destination 10.x.0.1:8000, which the host-wide
               rules forbid
"""

import os
import signal

import pytest

import test_network as N
import thawlib as T

OUT_NS = "thawnp-out"
PRIV_NS = "thawnp-priv"
OUT_VETH = "thawnp-o0"
PRIV_VETH = "thawnp-p0"
OUT_CANDIDATES = ("192.0.2.0/24", "198.18.7.0/24", "198.51.100.0/24", "203.0.113.0/24")
PRIV_CANDIDATES = ("10.93.0.0/24", "10.92.0.0/24", "10.91.0.0/24")
PORTS = (8000, 8001)
PROBE_TIMEOUT = 1.5  # seconds a probe waits for a TCP connect


def _cleanup_leftovers():
    for link in (OUT_VETH, PRIV_VETH):
        if os.path.exists(f"/sys/class/net/{link}"):
            N.run("ip", "link", "del", link, check=False)
    for ns in (OUT_NS, PRIV_NS):
        if (T.NETNS_DIR / ns).exists():
            N.run("ip", "netns", "del", ns, check=False)


def _veth_ns(ns, veth, gw_cidr, addrs, gw):
    N.run("ip", "netns", "add", ns)
    N.run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    N.run("ip", "addr", "add", gw_cidr, "dev", veth)
    N.run("ip", "link", "set", veth, "up")
    N.ns_run(ns, "ip", "link", "set", "lo", "up")
    for a in addrs:
        N.ns_run(ns, "ip", "addr", "add", a, "dev", "eth0")
    N.ns_run(ns, "ip", "link", "set", "eth0", "up")
    N.ns_run(ns, "ip", "route", "add", "default", "via", gw)


@pytest.fixture(scope="module")
def net(template):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    _cleanup_leftovers()
    slot_cidr = N.slot_info()["slot_cidr"]
    out_net, _ = N.pick_network(OUT_CANDIDATES, also=[slot_cidr])
    priv_net, _ = N.pick_network(PRIV_CANDIDATES, also=[slot_cidr])
    n = {"a": N.addr_in(out_net, 1), "b": N.addr_in(out_net, 2), "c": N.addr_in(out_net, 3),
         "out_net": str(out_net), "gw": N.addr_in(out_net, 254),
         "priv": N.addr_in(priv_net, 1), "priv_gw": N.addr_in(priv_net, 254)}
    c = N.Cleanup()
    procs = []
    try:
        c.add(f"netns {OUT_NS}", lambda: N.run("ip", "netns", "del", OUT_NS, check=False))
        c.add(f"link {OUT_VETH}", lambda: N.run("ip", "link", "del", OUT_VETH, check=False))
        _veth_ns(OUT_NS, OUT_VETH, f"{n['gw']}/24",
                 [f"{n[x]}/24" for x in ("a", "b", "c")], n["gw"])
        c.add(f"netns {PRIV_NS}", lambda: N.run("ip", "netns", "del", PRIV_NS, check=False))
        c.add(f"link {PRIV_VETH}", lambda: N.run("ip", "link", "del", PRIV_VETH, check=False))
        _veth_ns(PRIV_NS, PRIV_VETH, f"{n['priv_gw']}/24", [f"{n['priv']}/24"], n["priv_gw"])
        c.add("servers", lambda: [N.stop_process(p) for p in procs])
        for port in PORTS:
            procs.append(N.start_server(f"out{port}", "0.0.0.0", port, netns=OUT_NS)[0])
        procs.append(N.start_server("private", "0.0.0.0", 8000, netns=PRIV_NS)[0])
        # Controls: every listener answers from the root namespace.
        targets = [(n[x], p) for x in ("a", "b", "c") for p in PORTS] + [(n["priv"], 8000)]
        N.results_are(N.probe_root(targets), "ok", "from the root namespace")
        print(f"\n[net] outside {n['a']}, {n['b']}, {n['c']} (:8000, :8001), "
              f"private {n['priv']}:8000")
        yield n
    finally:
        problems = c.run()
        assert not problems, f"test network cleanup: {problems}"


def probe(sid, targets):
    """{"host:port": ok|timeout|...} from inside the guest, all at once."""
    r = N.probe_guest(sid, targets, PROBE_TIMEOUT)
    return {k: v["result"] for k, v in r.items()}


def expect(sid, net, want, what):
    """want: {(name, port): "ok" | "timeout"}, name a key of net."""
    got = probe(sid, [(net[h], p) for h, p in want])
    wanted = {N.key(net[h], p): w for (h, p), w in want.items()}
    bad = {k: (got.get(k), w) for k, w in wanted.items() if got.get(k) != w}
    assert not bad, f"{what}: (got, wanted) {bad}; all: {got}"
    T.check(f"{what}: " + ", ".join(f"{h}:{p} {w}" for (h, p), w in sorted(want.items())))


def policy(sb):
    n = sb["network"]
    return {"internet": n["internet"], "allow": n["allow"], "deny": n["deny"]}


def patch(sid, network, expect_status=200):
    st, body = T.api("PATCH", f"/v1/sandboxes/{sid}", {"network": network})
    assert st == expect_status, f"PATCH {network} answered {st}: {body}"
    return body


def post_network(sid, network, expect_status=200):
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/network", network)
    assert st == expect_status, f"POST network {network} answered {st}: {body}"
    return body


OK, BLOCKED = "ok", "timeout"


def test_default_policy_is_shown_and_reaches_out(net, sandboxes):
    sb = sandboxes()
    assert policy(sb) == {"internet": True, "allow": [], "deny": []}, sb["network"]
    assert sb["network"]["netns"] and "slot" in sb["network"], sb["network"]
    expect(sb["id"], net, {("a", 8000): OK, ("b", 8001): OK}, "default policy")


def test_internet_false_blocks_egress(net, sandboxes):
    sb = sandboxes(network={"internet": False})
    assert policy(sb) == {"internet": False, "allow": [], "deny": []}
    expect(sb["id"], net, {("a", 8000): BLOCKED, ("b", 8001): BLOCKED},
           "internet:false")
    # The guest itself is fine: its own loopback answers.
    r = N.probe_guest(sb["id"], [("127.0.0.1", 9)], PROBE_TIMEOUT)
    assert r[N.key("127.0.0.1", 9)]["result"] == "refused", r


def test_allow_list_with_and_without_port(net, sandboxes):
    sb = sandboxes(network={"internet": False,
                            "allow": [f"{net['a']}:8000", net["b"]]})
    assert policy(sb)["allow"] == [f"{net['a']}/32:8000", f"{net['b']}/32"], sb["network"]
    expect(sb["id"], net, {("a", 8000): OK, ("a", 8001): BLOCKED, ("b", 8000): OK,
                           ("b", 8001): OK, ("c", 8000): BLOCKED},
           "internet:false, allow A:8000 and B")


def test_deny_list(net, sandboxes):
    sb = sandboxes(network={"deny": [net["a"], f"{net['b']}/32:8001"]})
    assert policy(sb) == {"internet": True, "allow": [],
                          "deny": [f"{net['a']}/32", f"{net['b']}/32:8001"]}
    expect(sb["id"], net, {("a", 8000): BLOCKED, ("a", 8001): BLOCKED, ("b", 8000): OK,
                           ("b", 8001): BLOCKED, ("c", 8000): OK},
           "deny A and B:8001")


def test_allow_wins_over_deny(net, sandboxes):
    sb = sandboxes(network={"deny": [net["out_net"]], "allow": [f"{net['a']}:8000"]})
    expect(sb["id"], net, {("a", 8000): OK, ("a", 8001): BLOCKED, ("b", 8000): BLOCKED},
           f"deny {net['out_net']}, allow A:8000")


def test_host_rules_still_apply_under_an_allow(net, sandboxes):
    sb = sandboxes(network={"internet": False, "allow": ["10.0.0.0/8", f"{net['a']}:8000"]})
    expect(sb["id"], net, {("priv", 8000): BLOCKED, ("a", 8000): OK},
           "allow 10.0.0.0/8 (host-forbidden) and A:8000")
    # Control: the private listener answers from the root namespace.
    N.results_are(N.probe_root([(net["priv"], 8000)]), "ok", "private from the root")


def test_patch_and_post_change_a_running_sandbox(net, sandboxes):
    sb = sandboxes()
    sid = sb["id"]
    expect(sid, net, {("a", 8000): OK, ("b", 8000): OK}, "before")
    got = patch(sid, {"internet": False})
    assert got["id"] == sid and got["state"] == "running", got
    assert policy(got) == {"internet": False, "allow": [], "deny": []}, got["network"]
    expect(sid, net, {("a", 8000): BLOCKED, ("b", 8000): BLOCKED}, "after PATCH internet:false")
    got = post_network(sid, {"internet": False, "allow": [net["a"] + "/32"]})
    assert got == {"internet": False, "allow": [f"{net['a']}/32"], "deny": []}, got
    expect(sid, net, {("a", 8000): OK, ("b", 8000): BLOCKED}, "after POST allow A")
    st, body = T.get(sid)
    assert st == 200 and policy(body) == got, body
    # Back to the default: everything again.
    post_network(sid, {})
    expect(sid, net, {("a", 8000): OK, ("b", 8000): OK}, "after POST {}")


def test_policy_survives_pause_resume_and_goes_to_fork_children(net, sandboxes):
    want = {"internet": False, "allow": [f"{net['a']}/32"], "deny": []}
    sb = sandboxes(network={"internet": False, "allow": [net["a"]]}, timeout_s=600)
    sid = sb["id"]
    st, fk = T.api("POST", f"/v1/sandboxes/{sid}/fork", {})
    assert st == 201, fk
    child = fk["sandboxes"][0]["id"]
    try:
        assert policy(fk["sandboxes"][0]) == want, fk
        expect(child, net, {("a", 8000): OK, ("b", 8000): BLOCKED}, "fork child")
    finally:
        T.api("DELETE", f"/v1/sandboxes/{child}")
    st, p = T.api("POST", f"/v1/sandboxes/{sid}/pause", {})
    assert st == 200 and p["state"] == "paused", p
    assert policy(p) == want and "slot" not in p["network"], p["network"]
    # Changed while paused: the resume brings the new one.
    want = {"internet": False, "allow": [f"{net['b']}/32"], "deny": []}
    assert post_network(sid, {"internet": False, "allow": [net["b"]]}) == want
    st, r = T.api("POST", f"/v1/sandboxes/{sid}/resume", {})
    assert st == 200 and r["state"] == "running", r
    assert policy(r) == want, r["network"]
    expect(sid, net, {("a", 8000): BLOCKED, ("b", 8000): OK}, "after pause, change, resume")


def _slot_table(netns):
    r = N.run("ip", "netns", "exec", netns, "nft", "list", "table", "inet", "thaw_policy",
              check=False)
    return r.stdout if r.returncode == 0 else None


def test_restart_reapplies_the_recorded_policy(net, sandboxes, thawd):
    sb = sandboxes(network={"internet": False})
    sid, netns = sb["id"], sb["network"]["netns"]
    expect(sid, net, {("a", 8000): BLOCKED}, "internet:false")
    # The slot's table lost behind thawd's back (as if a crash came
    # between the row and nftables) ...
    N.run("ip", "netns", "exec", netns, "nft", "flush", "table", "inet", "thaw_policy")
    expect(sid, net, {("a", 8000): OK}, "table flushed by hand")
    # ... is put back from the row when a restarted thawd adopts it.
    T.restart_thawd(signal.SIGKILL)
    st, body = T.get(sid)
    assert st == 200 and body["state"] == "running", body
    assert policy(body) == {"internet": False, "allow": [], "deny": []}, body["network"]
    expect(sid, net, {("a", 8000): BLOCKED}, "after a thawd restart")


def test_a_slot_given_back_keeps_no_policy(net, sandboxes):
    sb = sandboxes(network={"internet": False, "deny": [net["a"]]})
    netns = sb["network"]["netns"]
    assert "drop" in (_slot_table(netns) or ""), _slot_table(netns)
    T.delete(sb["id"])
    # The pool resets the slot in the background (or destroys it).
    T.wait_until(lambda: not (T.NETNS_DIR / netns).exists() or _slot_table(netns) is None,
                 30, interval=0.2, what=f"slot {netns} to lose its policy")
    T.check(f"slot {netns}: no policy table once given back")


@pytest.mark.parametrize("network, mentions", [
    ({"internet": "no"}, "true or false"),
    ({"allow": "1.2.3.4"}, "array"),
    ({"allow": ["1.2.3.4/33"]}, "prefix"),
    ({"allow": ["300.1.2.3"]}, "not an IPv4"),
    ({"deny": ["1.2.3.4:0"]}, "port"),
    ({"deny": ["1.2.3.4:65536"]}, "port"),
    ({"deny": ["example.com"]}, "not an IPv4"),
    ({"allow": [f"10.0.{i // 256}.{i % 256}" for i in range(257)]}, "more than 256"),
    ({"internet": True, "proxy": "x"}, "unknown field"),
    ([], "object"),
])
def test_invalid_policies_are_refused(sandboxes, network, mentions):
    st, body = T.api("POST", "/v1/sandboxes", {"network": network})
    assert st == 400 and mentions in body["error"], (st, body)
    sb = sandboxes()
    for method, path, b in (("PATCH", f"/v1/sandboxes/{sb['id']}", {"network": network}),
                            ("POST", f"/v1/sandboxes/{sb['id']}/network", network)):
        st, body = T.api(method, path, b)
        if isinstance(network, list) and method == "POST":
            assert st == 400, (st, body)  # not an object at all
            continue
        assert st == 400 and mentions in body["error"], (method, st, body)
    # Nothing changed.
    st, body = T.get(sb["id"])
    assert policy(body) == {"internet": True, "allow": [], "deny": []}, body["network"]


def test_patch_refuses_other_fields_and_unknown_sandboxes(sandboxes):
    sb = sandboxes()
    st, body = T.api("PATCH", f"/v1/sandboxes/{sb['id']}", {"timeout_s": 5})
    assert st == 400 and "unknown field" in body["error"], body
    st, body = T.api("PATCH", f"/v1/sandboxes/{sb['id']}", {})
    assert st == 400 and "network is required" in body["error"], body
    st, body = T.api("PATCH", "/v1/sandboxes/sb-aaaaaaaaaaaa", {"network": {}})
    assert st == 404, body
    st, body = T.api("POST", "/v1/sandboxes/sb-aaaaaaaaaaaa/network", {})
    assert st == 404, body
