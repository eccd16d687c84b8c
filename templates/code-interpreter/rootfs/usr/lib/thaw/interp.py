"""thaw's code interpreter: a Python process that runs in the template
before the snapshot, so every sandbox starts with it running and warm
(no interpreter start-up on the hot path). The guest agent relays
run_code requests to it over a unix socket (thaw:run-code).

One request per connection: a JSON object {"code": "...", "timeout_s": N}
then EOF (code running longer than timeout_s raises TimeoutError in it,
so the interpreter is free for the next request); the
answer is one JSON object {"stdout", "stderr", "result", "error"}, where
result is the repr of the value of a final expression (like a REPL) and
error {"name", "value", "traceback"} when the code raised. State (names,
imports) persists between requests, one at a time.

Every clone of a snapshot gets its own hostname (its sandbox id) from
the guest agent; the first request that sees a new one reseeds `random`,
whose state would otherwise be the same in every sandbox created from
one snapshot or forked from one parent (os.urandom, secrets and uuid4
read the kernel, which the agent reseeds). A resume keeps the hostname
and the sequence: it is the same sandbox going on."""

import ast
import contextlib
import io
import json
import os
import random
import signal
import socket
import sys
import traceback

SOCKET = "/run/thaw/interp.sock"
MAX_REQUEST = 64 << 20
MAX_OUTPUT = 16 << 20


class Interpreter:
    def __init__(self):
        self.globals = {"__name__": "__main__", "__builtins__": __builtins__}
        self.generation = self._generation()

    @staticmethod
    def _generation():
        return os.uname().nodename

    def _reseed_if_cloned(self):
        g = self._generation()
        if g != self.generation:
            self.generation = g
            random.seed()  # from os.urandom: fresh in this clone

    def run(self, code, timeout_s=0):
        self._reseed_if_cloned()
        if timeout_s:
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
        out, err = io.StringIO(), io.StringIO()
        result, error = None, None
        try:
            tree = ast.parse(code, "<code>", "exec")
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                exec(compile(tree, "<code>", "exec"), self.globals)
                if last is not None:
                    value = eval(compile(last, "<code>", "eval"), self.globals)
                    if value is not None:
                        result = repr(value)
                        self.globals["_"] = value
        except BaseException as e:  # noqa: BLE001 - reported to the caller
            if isinstance(e, SystemExit):
                error = {"name": "SystemExit", "value": str(e.code), "traceback": ""}
            else:
                tb = (traceback.format_exception_only(type(e), e) if isinstance(e, SyntaxError)
                      else traceback.format_exception(type(e), e, e.__traceback__))
                # Frames of this file are noise to the user.
                tb = [line for line in tb if __file__ not in line]
                error = {"name": type(e).__name__, "value": str(e), "traceback": "".join(tb)}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return {"stdout": out.getvalue()[:MAX_OUTPUT], "stderr": err.getvalue()[:MAX_OUTPUT],
                "result": result, "error": error}


def _timed_out(signum, frame):
    raise TimeoutError("the code ran past its timeout")


def serve():
    signal.signal(signal.SIGALRM, _timed_out)
    os.makedirs(os.path.dirname(SOCKET), exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(SOCKET)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(SOCKET + ".tmp")
    os.chmod(SOCKET + ".tmp", 0o600)
    srv.listen(16)
    os.rename(SOCKET + ".tmp", SOCKET)  # appears only once it accepts
    interp = Interpreter()
    while True:
        conn, _ = srv.accept()
        with conn:
            try:
                chunks, size = [], 0
                while True:
                    b = conn.recv(65536)
                    if not b:
                        break
                    size += len(b)
                    if size > MAX_REQUEST:
                        raise ValueError("the request is too large")
                    chunks.append(b)
                req = json.loads(b"".join(chunks) or b"{}")
                code = req.get("code")
                if not isinstance(code, str):
                    raise ValueError("code must be a string")
                timeout = req.get("timeout_s") or 0
                if not isinstance(timeout, (int, float)) or timeout < 0:
                    raise ValueError("timeout_s must be a non-negative number")
                answer = interp.run(code, timeout)
            except Exception as e:  # noqa: BLE001 - a bad request, not a crash
                answer = {"stdout": "", "stderr": "", "result": None,
                          "error": {"name": "RequestError", "value": str(e), "traceback": ""}}
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps(answer).encode())


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    serve()
