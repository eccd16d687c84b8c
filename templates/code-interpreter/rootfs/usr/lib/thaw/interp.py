"""thaw's code interpreter: the server of the run_code API inside a
sandbox. It starts in the template before the snapshot, so every sandbox
has it running and warm; the guest agent relays each request to it over a
unix socket (thaw:run-code relays stdin to the socket and the answer to
stdout).

Processes. This server is a zygote: it imports the heavy modules (numpy,
pandas, matplotlib, scipy) once, holds no user state and runs no user
code. Each context (an independent interpreter state) is a worker process
forked from it (interp_worker.py), so a new or restarted context starts
with everything imported, in the time of a fork, not of a python3 start.
One spare worker is forked ahead of need. The default context and the
spare are forked before the snapshot: they are warm in every sandbox.

Protocol: one request per connection, a JSON object then EOF.
  {"op": "run", "code", "context"?, "timeout_s"?, "env"?}
      The connection is handed to the context's worker (SCM_RIGHTS), which
      answers with NDJSON events as they happen (interp_worker.py); cells
      of one context run one at a time, contexts run side by side.
  {"op": "create_context", "cwd"?, "env"?}   -> {"context": {...}}
  {"op": "list_contexts"}                    -> {"contexts": [...]}
  {"op": "restart_context", "context"}       -> {"context": {...}}
  {"op": "remove_context", "context"}        -> {"removed": ID}
  {"op": "interrupt", "context"}             -> {"interrupted": bool}
A management answer is one JSON line; a refusal is {"error": {"name",
"value"}}. A request without "op" is "run" (the first protocol)."""

import contextlib
import gc
import json
import os
import signal
import socket
import sys
import time

# Before numpy: one BLAS thread. A sandbox has one or two vCPUs, and a
# process with threads cannot be forked safely.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import interp_worker  # noqa: E402

SOCKET = os.environ.get("THAW_INTERP_SOCKET", "/run/thaw/interp.sock")  # tests move it
MAX_REQUEST = 64 << 20
MAX_CONTEXTS = 64
DEFAULT_CONTEXT = "default"
# Modules every context gets already imported (when the template has them).
PRELOAD = ("json", "math", "random", "re", "subprocess", "uuid", "numpy", "pandas",
           "matplotlib", "matplotlib.pyplot", "scipy", "scipy.stats", "requests")


class RequestError(Exception):
    """A refused request; code tells thawd which HTTP status it is."""

    def __init__(self, message, code="invalid"):
        super().__init__(message)
        self.code = code


def preload():
    """Imports PRELOAD and runs the paths a rich result takes (a
    DataFrame's HTML, a figure's PNG), which import more modules on first
    use: done here, before any fork, every context has them."""
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    with contextlib.suppress(Exception):
        import interp_display
        pd = sys.modules.get("pandas")
        if pd is not None:
            interp_display.format_value(pd.DataFrame({"a": [1, 2], "b": [0.5, None]}))
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            fig = plt.figure()
            fig.gca().plot([1, 2, 3], [1, 4, 9])
            interp_display.format_value(fig)
            plt.close("all")


def default_cwd():
    return "/home/user" if os.path.isdir("/home/user") else "/root"


def check_env(env):
    if env is None:
        return {}
    if not isinstance(env, dict) or len(env) > 256:
        raise RequestError("env must be an object of at most 256 names")
    for k, v in env.items():
        if not k or "=" in k or "\0" in k or not isinstance(v, str) or "\0" in v:
            raise RequestError(f"env: invalid variable {k!r}")
    return env


class Context:
    def __init__(self, cid, cwd, env, worker):
        self.id, self.cwd, self.env, self.worker = cid, cwd, env, worker
        self.created = time.time()

    def describe(self):
        return {"id": self.id, "language": "python", "cwd": self.cwd, "env": self.env,
                "pid": self.worker.pid}


class Server:
    def __init__(self):
        self.contexts = {}
        self.spare = None
        self.ids = 0
        self._conn = None  # the connection being answered

    # Workers ---------------------------------------------------------

    def _fork_worker(self):
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            try:
                # A worker keeps none of the server's sockets: holding the
                # connection being answered would keep its caller waiting
                # for an EOF.
                parent_end.close()
                self._listener.close()
                if self._conn is not None:
                    self._conn.close()
                for c in self.contexts.values():
                    c.worker.sock.close()
                if self.spare:
                    self.spare.sock.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                interp_worker.serve(child_end)
            finally:
                os._exit(0)
        child_end.close()
        return interp_worker.Handle(pid, parent_end)

    def _take_spare(self, cid, cwd, env):
        w = self.spare or self._fork_worker()
        self.spare = None
        w.init(cid, cwd, env)
        return w

    def refill_spare(self):
        if self.spare is None:
            self.spare = self._fork_worker()

    def _reap(self):
        """Collects exited workers; a context whose worker died keeps its
        id and is given a fresh worker at its next request."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for c in self.contexts.values():
                if c.worker.pid == pid:
                    c.worker.dead = True
            if self.spare and self.spare.pid == pid:
                self.spare.sock.close()
                self.spare = None

    def _context(self, req):
        cid = req.get("context") or DEFAULT_CONTEXT
        if not isinstance(cid, str) or cid not in self.contexts:
            raise RequestError(f"no context {cid!r} in this sandbox", "not_found")
        return self.contexts[cid]

    def _restart(self, c):
        c.worker.stop()
        c.worker = self._take_spare(c.id, c.cwd, c.env)

    # Operations ------------------------------------------------------

    def create_context(self, req, cid=None):
        if len(self.contexts) >= MAX_CONTEXTS:
            raise RequestError(f"a sandbox has at most {MAX_CONTEXTS} contexts", "limit")
        cwd = req.get("cwd") or default_cwd()
        if not isinstance(cwd, str) or not cwd.startswith("/") or not os.path.isdir(cwd):
            raise RequestError(f"cwd {cwd!r} is not a directory")
        env = check_env(req.get("env"))
        if cid is None:
            self.ids += 1
            cid = f"ctx-{os.urandom(4).hex()}{self.ids}"
        c = Context(cid, cwd, env, self._take_spare(cid, cwd, env))
        self.contexts[cid] = c
        return {"context": c.describe()}

    def run(self, req, conn):
        c = self._context(req)
        if c.worker.dead:
            self._restart(c)
            req["died"] = True  # the worker tells the caller its state was lost
        try:
            c.worker.hand_over(req, conn)
        except OSError:
            # Died since the last reap: restart it and try once more.
            self._restart(c)
            req["died"] = True
            c.worker.hand_over(req, conn)

    def handle(self, req, conn):
        op = req.get("op", "run")
        if op == "run":
            self.run(req, conn)
            return None
        if op == "create_context":
            return self.create_context(req)
        if op == "list_contexts":
            return {"contexts": [c.describe() for c in self.contexts.values()]}
        if op == "restart_context":
            c = self._context(req)
            self._restart(c)
            return {"context": c.describe()}
        if op == "remove_context":
            c = self._context(req)
            if c.id == DEFAULT_CONTEXT:
                raise RequestError("the default context cannot be removed (restart it)",
                                   "conflict")
            c.worker.stop()
            del self.contexts[c.id]
            return {"removed": c.id}
        if op == "interrupt":
            c = self._context(req)
            return {"interrupted": c.worker.interrupt()}
        raise RequestError(f"unknown op {op!r}")

    def serve(self):
        os.makedirs(os.path.dirname(SOCKET), exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(SOCKET + ".tmp")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(SOCKET + ".tmp")
        os.chmod(SOCKET + ".tmp", 0o600)
        self._listener.listen(64)
        self.create_context({}, DEFAULT_CONTEXT)
        self.refill_spare()
        os.rename(SOCKET + ".tmp", SOCKET)  # appears only once it accepts
        while True:
            conn, _ = self._listener.accept()
            self._reap()
            self._conn = conn
            with conn:
                try:
                    answer = self.handle(read_request(conn), conn)
                except (RequestError, ValueError, OSError) as e:
                    answer = {"error": {"name": "RequestError", "value": str(e),
                                        "code": getattr(e, "code", "invalid")}}
                if answer is not None:
                    with contextlib.suppress(OSError):
                        conn.sendall(json.dumps(answer).encode() + b"\n")
            self._conn = None
            # After answering: the caller does not wait for the next spare.
            self.refill_spare()


def read_request(conn):
    chunks, size = [], 0
    while True:
        b = conn.recv(65536)
        if not b:
            break
        size += len(b)
        if size > MAX_REQUEST:
            raise RequestError("the request is too large")
        chunks.append(b)
    req = json.loads(b"".join(chunks) or b"{}")
    if not isinstance(req, dict):
        raise RequestError("the request must be a JSON object")
    return req


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    preload()
    # Everything imported so far lives as long as the process: out of the
    # collector's sight, a collection in a context does not walk (and so
    # fault in, in a fresh clone) the pages of numpy's, pandas' and
    # matplotlib's objects. Forked workers inherit the frozen generation.
    gc.collect()
    gc.freeze()
    Server().serve()
