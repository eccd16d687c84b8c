"""Sandbox: create, connect, list; exec (whole or streamed); fork, pause,
resume, snapshot, keepalive; delete (also as a context manager)."""

import base64
import shlex
import time
import urllib.parse

from . import errors
from .tunnel import Tunnel, open_tunnel
from .client import Client
from .code import Context, Execution, context_id, read_stream
from .files import Files
from .metrics import MetricsPoint, metrics_path
from .processes import Processes

_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


def _check_id(sid):
    if not isinstance(sid, str) or not sid or not set(sid) <= _ID_CHARS or len(sid) > 64:
        raise errors.InvalidRequest(f"{sid!r} is not a sandbox id")
    return sid


class ExecResult:
    """What a command did. stdout and stderr are str (UTF-8, invalid bytes
    replaced); stdout_bytes and stderr_bytes are exact."""

    def __init__(self, exit_code, stdout_bytes, stderr_bytes, timed_out=False,
                 duration_ms=0.0, signal=0):
        self.exit_code = exit_code
        self.stdout_bytes = stdout_bytes
        self.stderr_bytes = stderr_bytes
        self.timed_out = timed_out
        self.duration_ms = duration_ms
        self.signal = signal
        self.pid = None  # its pid in the guest (sandbox.processes), when known

    @property
    def stdout(self):
        return self.stdout_bytes.decode("utf-8", "replace")

    @property
    def stderr(self):
        return self.stderr_bytes.decode("utf-8", "replace")

    @property
    def ok(self):
        return self.exit_code == 0 and not self.timed_out

    def __repr__(self):
        return (f"ExecResult(exit_code={self.exit_code}, timed_out={self.timed_out}, "
                f"stdout={self.stdout[:60]!r}, stderr={self.stderr[:60]!r})")


class Command:
    """A command started with exec(..., background=True). It runs in the
    sandbox on its own: it outlives this object, the connection and the
    client. pid is its process id in the guest; wait() returns its
    ExecResult once it ends; kill() SIGKILLs its process group."""

    POLL_S = 0.1

    def __init__(self, sandbox, answer):
        self._sbx = sandbox
        self.pid = answer["pid"]
        self.stdout_path = answer.get("stdout_path")
        self.stderr_path = answer.get("stderr_path")

    def status(self):
        """{"pid", "running", "exit_code"?, "signal"?} as the guest says now."""
        return self._sbx._client.request(
            "GET", f"/v1/sandboxes/{self._sbx.id}/commands/{self.pid}")

    @property
    def running(self):
        return self.status()["running"]

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            st = self.status()
            if not st["running"]:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise errors.TimeoutError(f"command {self.pid} still runs after {timeout} s")
            time.sleep(self.POLL_S)
        files = self._sbx.files
        return ExecResult(st["exit_code"], files.read(self.stdout_path),
                          files.read(self.stderr_path), False, 0.0, st.get("signal", 0))

    def kill(self):
        self._sbx._client.request(
            "POST", f"/v1/sandboxes/{self._sbx.id}/commands/{self.pid}/kill", {},
            expect=(204,))

    def __repr__(self):
        return f"Command(pid={self.pid}, sandbox={self._sbx.id!r})"


def _consume(stream, on_stdout, on_stderr, on_start=None):
    """Reads a streamed exec to its end; returns the ExecResult. The
    stream is closed however this ends (a callback that raises stops
    following the command, which runs on in sandbox.processes unless the
    exec asked for kill_on_disconnect)."""
    try:
        return _read_events(stream.events(), on_stdout, on_stderr, on_start)
    finally:
        stream.close()


def _read_events(events, on_stdout, on_stderr, on_start):
    out, err = [], []
    for ev in events:
        kind = ev.get("type")
        if kind == "start":
            if on_start:
                on_start(ev.get("pid"))
        elif kind in ("stdout", "stderr"):
            data = base64.b64decode(ev.get("data", ""))
            (out if kind == "stdout" else err).append(data)
            cb = on_stdout if kind == "stdout" else on_stderr
            if cb:
                cb(data.decode("utf-8", "replace"))
        elif kind == "exit":
            return ExecResult(ev["exit_code"], b"".join(out), b"".join(err),
                              ev.get("timed_out", False), ev.get("duration_ms", 0.0),
                              ev.get("signal", 0))
        elif kind == "error":
            raise errors.from_response(_status_of(ev.get("code")), ev)
    raise errors.SandboxError("the exec stream ended before the command")


def _status_of(code):
    return {"not_found": 404, "conflict": 409, "invalid_request": 400,
            "timeout": 504, "unauthorized": 401, "forbidden": 403,
            "limit_reached": 429, "too_large": 413}.get(code, 500)


class Sandbox:
    """One sandbox. Make one with Sandbox.create() or Sandbox.connect(id)."""

    def __init__(self, info, client):
        self._client = client
        self._info = info
        # A database's password is in the create (or fork) answer only:
        # kept here, since refresh() answers without it.
        self._db_password = (info.get("database") or {}).get("password")
        self.files = Files(self)
        self.processes = Processes(self)

    # ---- construction -------------------------------------------------

    @classmethod
    def create(cls, template=None, timeout=None, metadata=None, on_timeout=None,
               auto_resume=None, cpus=None, env=None, network=None, publish=None,
               database_password=None, api_url=None, api_key=None, client=None):
        """Creates a sandbox and returns once its guest answers. timeout is
        its lifetime in seconds (0: none; default: the server's);
        on_timeout "delete" or "pause"; auto_resume lets an exec resume it
        when paused; cpus limits its CPU time (in cores, at most the
        template's vCPUs); env ({"NAME": "value"}) is the environment of
        every command in it (a command's own env wins); network is its
        egress policy, {"internet": bool, "allow": [...], "deny": [...]}
        with IPv4 "CIDR[:port]" entries (allow, then deny, then internet;
        see set_network); publish lists guest ports to publish on host
        ports (thawd's --publish-range; [] turns off a template's default);
        database_password sets the password of a database template's
        superuser instead of a generated one (see .database)."""
        client = client or Client(api_url, api_key)
        body = {}
        if cpus is not None:
            body["limits"] = {"cpus": cpus}
        for k, v in (("template", template), ("timeout_s", timeout), ("metadata", metadata),
                     ("on_timeout", on_timeout), ("auto_resume", auto_resume),
                     ("env", env), ("network", network), ("publish", publish)):
            if v is not None:
                body[k] = v
        if database_password is not None:
            body["database"] = {"password": database_password}
        info = client.request("POST", "/v1/sandboxes", body, expect=(201,), what="template")
        return cls(info, client)

    @classmethod
    def connect(cls, sandbox_id, api_url=None, api_key=None, client=None):
        """A sandbox that exists already (SandboxNotFound otherwise)."""
        client = client or Client(api_url, api_key)
        info = client.request("GET", f"/v1/sandboxes/{_check_id(sandbox_id)}")
        return cls(info, client)

    @classmethod
    def list(cls, state=None, template=None, metadata=None, owner=None, limit=None,
             api_url=None, api_key=None, client=None):
        """Every sandbox the key sees that matches the filters (state,
        template, owner: admin keys only, metadata: a dict of KEY: VALUE,
        all of which must match), in creation order, as a list. The server
        answers in pages of limit (1-1000; default 1000); this follows
        them all."""
        client = client or Client(api_url, api_key)
        q = {"state": state, "template": template, "owner": owner, "limit": limit}
        q = {k: v for k, v in q.items() if v is not None}
        for k, v in (metadata or {}).items():
            q[f"metadata.{k}"] = v
        out = []
        while True:
            page = client.request("GET", "/v1/sandboxes?" + urllib.parse.urlencode(q))
            out.extend(cls(i, client) for i in page["sandboxes"])
            if not page.get("next"):
                return out
            q["next"] = page["next"]

    # ---- state --------------------------------------------------------

    @property
    def id(self):
        return self._info["id"]

    @property
    def template(self):
        return self._info["template"]

    @property
    def state(self):
        return self._info["state"]

    @property
    def owner(self):
        """The name of the API key that created it (forks: the forking key)."""
        return self._info.get("owner")

    @property
    def info(self):
        """The server's description as of the last call that returned it."""
        return dict(self._info)

    def refresh(self):
        self._info = self._client.request("GET", f"/v1/sandboxes/{self.id}")
        return self

    def __repr__(self):
        return f"Sandbox({self.id!r}, template={self.template!r}, state={self.state!r})"

    def __eq__(self, other):
        return isinstance(other, Sandbox) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    # ---- commands -----------------------------------------------------

    def exec(self, cmd, env=None, cwd=None, timeout=None, stdin=None, on_stdout=None,
             on_stderr=None, background=False, auto_resume=None, user=None, tag=None,
             on_start=None, kill_on_disconnect=None):
        """Runs cmd: a shell string (run with /bin/sh -c) or an argv list.
        Returns an ExecResult; a command that fails is not an exception,
        look at exit_code. With on_stdout/on_stderr the output is streamed
        to them (str chunks) as it is produced (on_start gets its pid
        first). background=True returns a Command at once; the command
        then runs on its own, whatever happens to this client. user: run
        as that user of the guest; tag: its name in sandbox.processes.
        Every command is in sandbox.processes and outlives this client,
        unless kill_on_disconnect."""
        body = {"cmd": list(cmd) if isinstance(cmd, (list, tuple)) else cmd,
                "encoding": "base64"}
        if user is not None:
            body["user"] = user
        if tag is not None:
            body["tag"] = tag
        if kill_on_disconnect is not None:
            body["kill_on_disconnect"] = bool(kill_on_disconnect)
        if env:
            body["env"] = {str(k): str(v) for k, v in env.items()}
        if cwd:
            body["cwd"] = cwd
        if timeout is not None:
            body["timeout_s"] = int(timeout)
        if stdin is not None:
            raw = stdin.encode() if isinstance(stdin, str) else bytes(stdin)
            body["stdin_b64"] = base64.b64encode(raw).decode()
        if auto_resume is not None:
            body["auto_resume"] = bool(auto_resume)
        if background:
            if on_stdout or on_stderr or stdin is not None:
                raise errors.InvalidRequest("a background command takes no output callbacks "
                                            "and no stdin (read its output files)")
            body["background"] = True
            body.pop("encoding")
            return Command(self, self._client.request(
                "POST", f"/v1/sandboxes/{self.id}/exec", body, expect=(202,)))
        if on_stdout or on_stderr or on_start:
            body["stream"] = True
            stream = self._client.stream("POST", f"/v1/sandboxes/{self.id}/exec", body)
            return _consume(stream, on_stdout, on_stderr, on_start)
        r = self._client.request("POST", f"/v1/sandboxes/{self.id}/exec", body,
                                 timeout=(timeout or 0) + self._client.timeout)
        res = ExecResult(r["exit_code"], base64.b64decode(r["stdout"]),
                         base64.b64decode(r["stderr"]), r.get("timed_out", False),
                         r.get("duration_ms", 0.0), r.get("signal", 0))
        res.pid = r.get("pid")
        return res

    def start(self, cmd, env=None, cwd=None, timeout=None, stdin=None, user=None, tag=None,
              stdin_open=False, pty=False, rows=None, cols=None):
        """Starts cmd and returns its pid at once (the command runs on in
        the process table: follow it with sandbox.processes). stdin_open
        keeps its stdin open for processes.send_stdin; pty runs it on a
        terminal of rows x cols."""
        body = {"cmd": list(cmd) if isinstance(cmd, (list, tuple)) else cmd, "stream": True}
        for k, v in (("env", env and {str(a): str(b) for a, b in env.items()}), ("cwd", cwd),
                     ("timeout_s", timeout and int(timeout)), ("user", user), ("tag", tag),
                     ("rows", rows), ("cols", cols)):
            if v:
                body[k] = v
        if stdin is not None:
            raw = stdin.encode() if isinstance(stdin, str) else bytes(stdin)
            body["stdin_b64"] = base64.b64encode(raw).decode()
        if stdin_open:
            body["stdin_open"] = True
        if pty:
            body["pty"] = True
        stream = self._client.stream("POST", f"/v1/sandboxes/{self.id}/exec", body)
        try:
            for ev in stream.events():
                if ev.get("type") == "start":
                    return ev["pid"]
                if ev.get("type") == "error":
                    raise errors.from_response(_status_of(ev.get("code")), ev)
        finally:
            stream.close()
        raise errors.SandboxError("the command ended before it started")

    def run_code(self, code, language="python", context=None, env=None, timeout=None,
                 on_stdout=None, on_stderr=None, on_result=None, on_error=None,
                 auto_resume=None):
        """Runs code in the template's code interpreter: already running
        and warm in the snapshot, its state kept between calls (x = 1, then
        x + 1 gives "2"). Returns an Execution: results (rich: text, html,
        png of matplotlib figures, ...), logs, error; an exception in the
        code is Execution.error, not a Python exception here. context: a
        Context (or its id) from create_code_context; env: variables for
        this call only. With any on_* callback the cell is streamed: they
        are called as output and results come."""
        body = {"code": code, "language": language}
        if context is not None:
            body["context"] = context_id(context)
        if env:
            body["env"] = {str(k): str(v) for k, v in env.items()}
        if timeout is not None:
            body["timeout_s"] = int(timeout)
        if auto_resume is not None:
            body["auto_resume"] = bool(auto_resume)
        path = f"/v1/sandboxes/{self.id}/run_code"
        if on_stdout or on_stderr or on_result or on_error:
            body["stream"] = True
            stream = self._client.stream("POST", path, body)
            try:
                return read_stream(stream.events(), on_stdout, on_stderr, on_result, on_error)
            finally:
                stream.close()
        return Execution.from_answer(self._client.request(
            "POST", path, body, timeout=(timeout or 60) + self._client.timeout))

    def create_code_context(self, cwd=None, env=None, language="python"):
        """A new, independent interpreter state (forked from the warm,
        clean interpreter: milliseconds)."""
        body = {"language": language}
        if cwd:
            body["cwd"] = cwd
        if env:
            body["env"] = {str(k): str(v) for k, v in env.items()}
        return Context(self._client.request("POST", f"/v1/sandboxes/{self.id}/contexts", body,
                                            expect=(201,)))

    def list_code_contexts(self):
        r = self._client.request("GET", f"/v1/sandboxes/{self.id}/contexts")
        return [Context(c) for c in r["contexts"]]

    def restart_code_context(self, context="default"):
        """The context's state thrown away and started fresh (same id)."""
        return Context(self._client.request(
            "POST", f"/v1/sandboxes/{self.id}/contexts/{context_id(context)}/restart", {}))

    def remove_code_context(self, context):
        self._client.request("DELETE",
                             f"/v1/sandboxes/{self.id}/contexts/{context_id(context)}",
                             expect=(204,))

    def interrupt_code_context(self, context="default"):
        """KeyboardInterrupt in the context's running cell; its state stays."""
        return self._client.request(
            "POST", f"/v1/sandboxes/{self.id}/contexts/{context_id(context)}/interrupt",
            {})["interrupted"]

    def run(self, *argv, **kw):
        """exec of an argv given as arguments: sbx.run("ls", "-l", "/")."""
        return self.exec(list(argv), **kw)

    @staticmethod
    def quote(*args):
        """A shell-safe string of args, for building shell commands."""
        return " ".join(shlex.quote(str(a)) for a in args)

    # ---- lifecycle ----------------------------------------------------

    def fork(self, count=1):
        """count copies of this running sandbox as it is now (memory,
        processes, disk). Returns them; this one runs on."""
        r = self._client.request("POST", f"/v1/sandboxes/{self.id}/fork", {"count": count},
                                 expect=(201,))
        return [Sandbox(i, self._client) for i in r["sandboxes"]]

    def pause(self):
        """Saves the sandbox to disk and ends its VM; resume() brings it back."""
        self._info = self._client.request("POST", f"/v1/sandboxes/{self.id}/pause", {})
        return self

    def resume(self):
        self._info = self._client.request("POST", f"/v1/sandboxes/{self.id}/resume", {})
        return self

    def recover(self):
        """A failed sandbox whose template can recover (postgres) and whose
        disk was kept when its VMM died: booted on that disk again (the
        database replays its WAL); running afterwards, same password."""
        self._info = self._client.request("POST", f"/v1/sandboxes/{self.id}/recover", {})
        return self

    def snapshot(self, template):
        """Makes a new template from this sandbox as it is now; returns its
        build id. Sandbox.create(template=...) then starts from there."""
        r = self._client.request("POST", f"/v1/sandboxes/{self.id}/snapshot",
                                 {"template": template}, expect=(201,))
        return r["build_id"]

    def keepalive(self, timeout):
        """Restarts the timeout at timeout seconds from now (0: never)."""
        self._info = self._client.request("POST", f"/v1/sandboxes/{self.id}/keepalive",
                                          {"timeout_s": int(timeout)})
        return self

    def metrics(self, start=None, end=None):
        """Its usage over time, a list of MetricsPoint, oldest first: what
        thawd sampled (every 5 s by default, the last hour, in memory; no
        samples while paused). start and end (inclusive) may be datetimes
        (naive ones are UTC), unix seconds or RFC 3339 strings."""
        r = self._client.request("GET", metrics_path(self.id, start, end))
        return [MetricsPoint.from_json(p) for p in r.get("points") or []]

    @property
    def env(self):
        """The environment it was created with ({} for none)."""
        return dict(self._info.get("env") or {})

    @property
    def network(self):
        """Its egress policy, normalized: {"internet", "allow", "deny"}."""
        n = self._info.get("network") or {}
        return {k: n[k] for k in ("internet", "allow", "deny") if k in n}

    def set_network(self, internet=True, allow=(), deny=()):
        """Replaces its egress policy while it runs or is paused: a packet
        its guest sends is accepted when an allow entry matches, else
        dropped when a deny entry matches, else accepted if internet.
        Entries are IPv4 "CIDR[:port]" strings (a port: TCP and UDP to it).
        The host's own rules (private ranges, metadata) still apply."""
        body = {"network": {"internet": bool(internet), "allow": list(allow),
                            "deny": list(deny)}}
        self._info = self._client.request("PATCH", f"/v1/sandboxes/{self.id}", body)
        return self

    # ---- TCP to its ports (issue 17) ----------------------------------

    def tunnel(self, remote_port, local_port=0, auto_resume=False):
        """A listener on 127.0.0.1:local_port (0: a free one) whose every
        connection reaches remote_port inside the sandbox over an API
        tunnel of its own. Returns a Tunnel (.host, .port, .address,
        .close(); a context manager)."""
        return Tunnel(self._client, self.id, remote_port, local_port, auto_resume)

    def connect_port(self, remote_port, auto_resume=False):
        """One socket connected to remote_port inside the sandbox."""
        return open_tunnel(self._client, self.id, remote_port, auto_resume)

    def publish(self, port):
        """Publishes port on a host port of thawd's --publish-range;
        returns {"port", "host_address", "host_port"}."""
        r = self._client.request("POST", f"/v1/sandboxes/{self.id}/published",
                                 {"port": int(port)}, expect=(200, 201))
        self.refresh()
        return r

    def unpublish(self, port):
        self._client.request("DELETE", f"/v1/sandboxes/{self.id}/published/{int(port)}",
                             expect=(204,))
        self.refresh()

    @property
    def published_ports(self):
        """[{"port", "host_address", "host_port"}] as of the last answer
        (refresh() to see changes made elsewhere)."""
        return [dict(p) for p in self._info.get("published_ports") or []]

    # ---- a database template (postgres) ----------------------------------

    @property
    def database(self):
        """{"user", "dbname", "port", "password"} for a sandbox of a
        database template, None otherwise. The password is known only to
        the Sandbox object that created (or forked) it: thawd never shows
        it again."""
        db = self._info.get("database")
        if not db:
            return None
        out = dict(db)
        if self._db_password is not None:
            out["password"] = self._db_password
        return out

    def connection_string(self, host=None, port=None):
        """A postgresql:// URL for the database: through its published
        port when it has one, else host/port you give (a tunnel's
        .host/.port, e.g. sandbox.tunnel(5432))."""
        db = self.database
        if not db:
            raise ValueError(f"sandbox {self.id} has no database")
        if host is None or port is None:
            pub = [p for p in self.published_ports if p["port"] == db["port"]]
            if not pub:
                raise ValueError(f"port {db['port']} of {self.id} is not published: "
                                 f"pass host and port (of a tunnel)")
            host, port = pub[0]["host_address"], pub[0]["host_port"]
        from urllib.parse import quote
        cred = quote(db["user"], safe="")
        if db.get("password") is not None:
            cred += ":" + quote(db["password"], safe="")
        return f"postgresql://{cred}@{host}:{port}/{quote(db['dbname'], safe='')}"

    def delete(self):
        """Deletes the sandbox; deleting one that is gone already is fine."""
        try:
            self._client.request("DELETE", f"/v1/sandboxes/{self.id}", expect=(204,))
        except errors.SandboxNotFound:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.delete()
        return False
