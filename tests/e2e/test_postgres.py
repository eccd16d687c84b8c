"""The postgres template (issue 17, docs/postgres.md): a database that is
running and answering in the snapshot, each sandbox with its own
password before create returns, committed data kept across pause and
resume and shared by a fork child that then goes its own way.

One bake for the module on the session thawd (skipped when this tree's
template is baked already); one long-lived sandbox shared by the tests.
Clients run on the host, inside the sandbox's network namespace (psql to
the guest address over TCP, scram-sha-256), through `thaw port-forward`
(the API tunnel, docs/ports.md), through the SDK's tunnel and through a
published host port."""

import os
import signal
import subprocess
import sys
import time

import pytest

import thawlib as T
from thawlib.pg import pg_bin

sys.path.insert(0, str(T.REPO / "sdk" / "python"))
import thaw  # noqa: E402

NAME = "postgres"
GUEST = "172.16.0.2"
BAKED = "thaw-baked-password"  # templates/postgres/rootfs/usr/lib/thaw/start-postgres


@pytest.fixture(scope="module")
def pg_template(thawd):
    stamp = thawd.data_dir / "e2e-postgres.sha256"
    digest = T.template_inputs_digest(NAME)
    info = T.template_info(NAME)
    if info and info["status"] == "ready" and stamp.exists() and \
            stamp.read_text().strip() == digest:
        return info
    t0 = time.monotonic()
    st, events = thawd.bake(NAME, timeout=1200)
    assert st == 200, f"bake refused with {st}: {events}"
    assert events and events[-1]["event"] == "done", f"bake did not finish: {events[-3:]}"
    print(f"[e2e] baked {NAME} in {time.monotonic() - t0:.1f} s")
    stamp.write_text(digest + "\n")
    return T.template_info(NAME)


def psql(sid, password, sql, expect_ok=True):
    """psql on the host, in the sandbox's namespace, over TCP with a
    password; returns (ok, stdout, stderr)."""
    p = subprocess.run(
        ["ip", "netns", "exec", T.sandbox_netns(sid), pg_bin("psql"), "-X", "-A", "-t",
         "-v", "ON_ERROR_STOP=1", "-c", sql,
         f"host={GUEST} port=5432 user=postgres dbname=postgres connect_timeout=20"],
        env={"PGPASSWORD": password, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True, text=True, timeout=60)
    if expect_ok:
        assert p.returncode == 0, f"psql in {sid}: {p.stderr}"
    return p.returncode == 0, p.stdout.strip(), p.stderr


@pytest.fixture(scope="module")
def db(pg_template):
    t0 = time.monotonic()
    body = T.create(template=NAME, timeout_s=0)
    created = time.monotonic() - t0
    ok, out, _ = psql(body["id"], body["database"]["password"], "SELECT 1")
    print(f"[e2e] postgres create {created * 1000:.0f} ms, first SELECT 1 from the host "
          f"after {(time.monotonic() - t0) * 1000:.0f} ms")
    assert out == "1"
    yield body
    T.delete(body["id"])


def test_create_answer_names_the_database_and_its_password_once(db):
    d = db["database"]
    assert d["user"] == "postgres" and d["dbname"] == "postgres" and d["port"] == 5432
    assert len(d["password"]) == 24 and d["password"].isalnum()
    st, again = T.get(db["id"])
    assert st == 200
    assert again["database"] == {"user": "postgres", "dbname": "postgres", "port": 5432}
    listed = [s for s in T.list_sandboxes() if s["id"] == db["id"]]
    assert listed and "password" not in listed[0]["database"]


def test_the_baked_password_and_other_clones_passwords_fail(db):
    other = T.create(template=NAME, timeout_s=0, database={"password": "mine.Secret-42"})
    try:
        assert other["database"]["password"] == "mine.Secret-42"
        assert psql(other["id"], "mine.Secret-42", "SELECT 2")[1] == "2"
        for sid, pw in ((other["id"], BAKED), (db["id"], BAKED),
                        (other["id"], db["database"]["password"])):
            ok, _, err = psql(sid, pw, "SELECT 1", expect_ok=False)
            assert not ok and "password authentication failed" in err, err
    finally:
        T.delete(other["id"])


def test_a_bad_requested_password_is_refused_before_anything_starts(pg_template):
    for bad in ("short", "has'quote-in-it", "x" * 129, 42):
        st, body = T.api("POST", "/v1/sandboxes", {"template": NAME, "database": {"password": bad}})
        assert st == 400 and "database.password" in body["error"], body
    st, body = T.api("POST", "/v1/sandboxes", {"template": NAME, "database": {"user": "x"}})
    assert st == 400, body


def test_pause_and_resume_keep_committed_data(db):
    sid, pw = db["id"], db["database"]["password"]
    psql(sid, pw, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before pause')")
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/pause", {}, timeout=300)
    assert st == 200 and body["state"] == "paused", body
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/resume", {}, timeout=300)
    assert st == 200 and body["state"] == "running", body
    assert "password" not in body.get("database", {})
    assert psql(sid, pw, "SELECT v FROM kept")[1] == "before pause"


def test_fork_child_sees_committed_data_then_diverges(db):
    sid, pw = db["id"], db["database"]["password"]
    psql(sid, pw, "CREATE TABLE shared (v text); INSERT INTO shared VALUES ('parent')")
    st, body = T.api("POST", f"/v1/sandboxes/{sid}/fork", {"count": 1}, timeout=300)
    assert st == 201, body
    child = body["sandboxes"][0]
    try:
        cpw = child["database"]["password"]
        assert cpw != pw
        assert not psql(child["id"], pw, "SELECT 1", expect_ok=False)[0]
        assert psql(child["id"], cpw, "SELECT v FROM shared")[1] == "parent"
        psql(child["id"], cpw, "INSERT INTO shared VALUES ('child')")
        psql(sid, pw, "INSERT INTO shared VALUES ('parent again')")
        assert psql(child["id"], cpw, "SELECT v FROM shared ORDER BY v")[1].split() == \
            ["child", "parent"]
        assert psql(sid, pw, "SELECT v FROM shared ORDER BY v")[1].splitlines() == \
            ["parent", "parent again"]
    finally:
        T.delete(child["id"])


def test_cli_create_prints_a_connection_string(pg_template):
    r = T.run_cli("create", "--template", NAME, "--timeout", "0")
    assert r.returncode == 0, r.stderr
    sid = r.stdout.decode().strip()
    try:
        assert sid.startswith("sb-") and "\n" not in sid  # stdout: the id alone
        err = r.stderr.decode()
        pw = err.split("password: ", 1)[1].split()[0]
        st, body = T.get(sid)
        assert st == 200, body
        pub = [p for p in body.get("published_ports", []) if p["port"] == 5432]
        if pub:
            # A host with --publish-range: the recipe's publish="5432" put
            # the database on a host port, and a plain host client uses it.
            addr, port = pub[0]["host_address"], pub[0]["host_port"]
            assert f"postgresql://postgres@{addr}:{port}/postgres" in err, err
            p = subprocess.run(
                [pg_bin("psql"), "-X", "-A", "-t", "-c", "SELECT 3",
                 f"host={addr} port={port} user=postgres dbname=postgres connect_timeout=20"],
                env={"PGPASSWORD": pw, "PATH": "/usr/bin:/bin"},
                capture_output=True, text=True, timeout=60)
            assert p.returncode == 0 and p.stdout.strip() == "3", p.stderr
        else:
            assert f"thaw port-forward {sid} 5432:5432" in err, err
            assert "postgresql://postgres@127.0.0.1:5432/postgres" in err, err
            assert psql(sid, pw, "SELECT 3")[1] == "3"
    finally:
        T.delete(sid)


def host_psql(host, port, password, sql):
    p = subprocess.run(
        [pg_bin("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql,
         f"host={host} port={port} user=postgres dbname=postgres connect_timeout=20"],
        env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_psql_from_the_host_through_thaw_port_forward(db):
    """The issue's own words: `thaw port-forward ID LOCAL:5432` stays in the
    foreground listening on 127.0.0.1:LOCAL, and psql from the host uses
    it (two connections, one tunnel each); SIGINT ends it with 0."""
    d = T.current()
    env = dict(os.environ, THAW_API_URL=d.url, THAW_API_KEY=d.key or "")
    p = subprocess.Popen([str(d.cli_bin), "port-forward", db["id"], "0:5432"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("Forwarding 127.0.0.1:"), (line, p.poll())
        local = int(line.split()[1].rsplit(":", 1)[1])
        pw = db["database"]["password"]
        assert host_psql("127.0.0.1", local, pw, "SELECT current_user, 40 + 2") == "postgres|42"
        assert host_psql("127.0.0.1", local, pw, "SELECT count(*) >= 0 FROM pg_stat_activity") \
            == "t"
        p.send_signal(signal.SIGINT)
        assert p.wait(30) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_sdk_database_password_tunnel_and_connection_string(pg_template):
    """The SDK: a chosen password, .database keeping it across refresh(),
    a tunnel's local address in connection_string(), and the published
    port's when the host publishes (the session thawd has a range)."""
    sb = thaw.Sandbox.create(template=NAME, timeout=600, database_password="Chosen.pw-4711")
    try:
        assert sb.database == {"user": "postgres", "dbname": "postgres", "port": 5432,
                               "password": "Chosen.pw-4711"}, sb.database
        sb.refresh()
        assert "password" not in sb.info["database"] and \
            sb.database["password"] == "Chosen.pw-4711"
        with sb.tunnel(5432) as t:
            url = sb.connection_string(t.host, t.port)
            assert url == f"postgresql://postgres:Chosen.pw-4711@127.0.0.1:{t.port}/postgres"
            r = subprocess.run([pg_bin("psql"), "-X", "-A", "-t", "-c", "SELECT 7", url],
                               env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 0 and r.stdout.strip() == "7", r.stderr
        if sb.published_ports:
            r = subprocess.run([pg_bin("psql"), "-X", "-A", "-t", "-c", "SELECT 8",
                                sb.connection_string()],
                               env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 0 and r.stdout.strip() == "8", r.stderr
    finally:
        sb.delete()


def backend_keys(sb, password, n):
    """n connections to the sandbox's PostgreSQL through an API tunnel,
    each authenticated with SCRAM-SHA-256 by this minimal client of the
    wire protocol; returns their BackendKeyData (pid, cancel secret)."""
    import base64
    import hashlib
    import hmac
    import struct

    def msg(sock):
        head = b""
        while len(head) < 5:
            chunk = sock.recv(5 - len(head))
            assert chunk, "the server closed the connection"
            head += chunk
        kind, size = head[:1], struct.unpack("!I", head[1:])[0]
        body = b""
        while len(body) < size - 4:
            chunk = sock.recv(size - 4 - len(body))
            assert chunk, "the server closed the connection"
            body += chunk
        assert kind != b"E", body
        return kind, body

    keys = []
    for _ in range(n):
        s = sb.connect_port(5432)
        params = b"user\0postgres\0database\0postgres\0\0"
        s.sendall(struct.pack("!II", 8 + len(params), 196608) + params)
        kind, body = msg(s)
        assert kind == b"R" and struct.unpack("!I", body[:4])[0] == 10, (kind, body)
        cnonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = f"n=,r={cnonce}"
        data = ("n,," + first_bare).encode()
        mech = b"SCRAM-SHA-256\0"
        s.sendall(b"p" + struct.pack("!I", 4 + len(mech) + 4 + len(data)) + mech +
                  struct.pack("!I", len(data)) + data)
        kind, body = msg(s)
        server_first = body[4:].decode()
        f = dict(kv.split("=", 1) for kv in server_first.split(","))
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(f["s"]),
                                     int(f["i"]))
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        final_bare = f"c=biws,r={f['r']}"
        auth = f"{first_bare},{server_first},{final_bare}".encode()
        sig = hmac.new(hashlib.sha256(client_key).digest(), auth, "sha256").digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig))).decode()
        final = f"{final_bare},p={proof}".encode()
        s.sendall(b"p" + struct.pack("!I", 4 + len(final)) + final)
        key = None
        while True:
            kind, body = msg(s)
            if kind == b"K":
                key = struct.unpack("!II", body)
            if kind == b"Z":
                break
        s.sendall(b"X" + struct.pack("!I", 4))
        s.close()
        assert key, "no BackendKeyData"
        keys.append(key)
    return keys


def test_clones_hand_out_different_cancel_keys(pg_template):
    """A cancel key (BackendKeyData) lets whoever holds it cancel that
    backend's queries: clones of one snapshot must not hand out the same
    ones (the postmaster's random state is in the snapshot)."""
    a = thaw.Sandbox.create(template=NAME, timeout=600)
    b = thaw.Sandbox.create(template=NAME, timeout=600)
    try:
        ka = backend_keys(a, a.database["password"], 3)
        kb = backend_keys(b, b.database["password"], 3)
        print(f"[e2e] backend keys: {ka} vs {kb}")
        assert len({k[1] for k in ka + kb}) == 6, f"cancel secrets repeat: {ka} {kb}"
    finally:
        a.delete()
        b.delete()


def _kill_vmm_and_wait_failed(sid):
    d = T.current()
    name = d.prefix + sid
    pid = T.vmm_processes(name).get(name)
    assert pid, f"no VMM process for {sid}"
    os.kill(pid, signal.SIGKILL)

    def failed():
        st, body = T.get(sid)
        assert st == 200, body
        return body if body["state"] == "failed" else None
    return T.wait_until(failed, 30, what=f"{sid} to become failed")


def test_recover_after_a_sigkilled_vmm_replays_the_wal(pg_template):
    """Issue 17, durability: the VMM of a database sandbox is SIGKILLed
    with rows committed and a transaction open; the sandbox is failed with
    its disk kept, and POST .../recover cold-boots that disk: PostgreSQL
    replays its WAL, the committed rows are there, the open transaction's
    are not, and the sandbox's own password still works."""
    body = T.create(template=NAME, timeout_s=0)
    sid, pw = body["id"], body["database"]["password"]
    try:
        st, r = T.api("POST", f"/v1/sandboxes/{sid}/recover", {})
        assert st == 409 and "running" in r["error"], (st, r)
        psql(sid, pw, "CREATE TABLE durable (v text); "
                      "INSERT INTO durable SELECT 'row ' || g FROM generate_series(1, 1000) g")
        # An open transaction with its rows written (not committed) when the VMM dies.
        open_tx = subprocess.Popen(
            ["ip", "netns", "exec", T.sandbox_netns(sid), pg_bin("psql"), "-X",
             f"host={GUEST} port=5432 user=postgres dbname=postgres connect_timeout=20"],
            env={"PGPASSWORD": pw, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        open_tx.stdin.write("BEGIN;\nINSERT INTO durable VALUES ('uncommitted');\n")
        open_tx.stdin.flush()
        for line in open_tx.stdout:
            if line.startswith("INSERT 0 1"):
                break
        disk = T.current().sandboxes_dir / sid / "rootfs.img"
        failed = _kill_vmm_and_wait_failed(sid)
        assert disk.exists(), "the failed sandbox's disk was not kept"
        open_tx.kill()
        open_tx.wait()
        assert "killed by signal 9" in failed["reason"], failed
        # Through the SDK (sandbox.recover()).
        sb = thaw.Sandbox.connect(sid)
        t0 = time.monotonic()
        r = sb.recover().info
        took = time.monotonic() - t0
        assert r["state"] == "running", r
        assert "password" not in r.get("database", {})
        print(f"[e2e] recover (cold boot + WAL replay + start) {took * 1000:.0f} ms")
        assert psql(sid, pw, "SELECT count(*) FROM durable")[1] == "1000"
        assert psql(sid, pw, "SELECT count(*) FROM durable WHERE v = 'uncommitted'")[1] == "0"
        log = T.sh(sid, "cat /var/log/postgresql/server.log")
        assert "database system was interrupted" in log and "redo done" in log, log[-2000:]
        # Through the host's ways in: the API tunnel, and the published
        # port when the host has a range (it follows the new incarnation).
        with sb.tunnel(5432) as t:
            assert host_psql(t.host, t.port, pw, "SELECT count(*) FROM durable") == "1000"
        pub = [p for p in r.get("published_ports", []) if p["port"] == 5432]
        if pub:
            assert host_psql(pub[0]["host_address"], pub[0]["host_port"], pw,
                              "SELECT max(v) FROM durable") == "row 999"
        # It writes again, and a second recover is refused while it runs.
        psql(sid, pw, "INSERT INTO durable VALUES ('after recover')")
        st, r = T.api("POST", f"/v1/sandboxes/{sid}/recover", {})
        assert st == 409, (st, r)
    finally:
        T.delete(sid)
    st, r = T.api("POST", f"/v1/sandboxes/{sid}/recover", {})
    assert st == 404, (st, r)


def test_a_template_without_recover_is_released_as_before(template):
    """A code-interpreter sandbox whose VMM dies is failed with its disk
    gone, as before issue 17: nothing to recover (409)."""
    sid = T.create(timeout_s=0)["id"]
    disk = T.current().sandboxes_dir / sid / "rootfs.img"
    try:
        assert disk.exists(), disk
        _kill_vmm_and_wait_failed(sid)
        st, r = T.api("POST", f"/v1/sandboxes/{sid}/recover", {})
        assert st == 409 and "no recover command" in r["error"], (st, r)
        assert not disk.exists()
    finally:
        T.delete(sid)


def test_recover_a_vmm_that_died_while_thawd_was_down(thawd, pg_template):
    """Issue 17: thawd is SIGKILLed, then the VMM; the restart finds the
    running row's VM gone and makes the sandbox failed with its disk kept
    (a template without recover would lose the row): `thaw recover`
    brings it back."""
    body = T.create(template=NAME, timeout_s=0)
    sid, pw = body["id"], body["database"]["password"]
    try:
        psql(sid, pw, "CREATE TABLE across (v int); INSERT INTO across VALUES (7)")
        name = thawd.prefix + sid
        pid = T.vmm_processes(name).get(name)
        assert pid, f"no VMM process for {sid}"
        thawd.stop(signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
        T.wait_until(lambda: name not in T.vmm_processes(name), 10, what="the VMM to exit")
        thawd.start()
        st, r = T.get(sid)
        assert st == 200 and r["state"] == "failed", (st, r)
        assert "restarted" in r["reason"], r
        assert (thawd.sandboxes_dir / sid / "rootfs.img").exists()
        # Through the CLI (libthaw's thaw_sandbox_recover) this time.
        cli = T.run_cli("recover", sid)
        assert cli.returncode == 0 and cli.stdout.decode().strip() == sid, cli.stderr
        assert T.get(sid)[1]["state"] == "running"
        assert psql(sid, pw, "SELECT v FROM across")[1] == "7"
    finally:
        T.delete(sid)
