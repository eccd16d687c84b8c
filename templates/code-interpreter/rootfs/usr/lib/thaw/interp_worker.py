"""One context of thaw's code interpreter: a worker process forked from
the server (interp.py) that keeps one interpreter state (names, imports,
working directory, environment) and runs its cells one at a time.

The server hands each request over with two descriptors (SCM_RIGHTS on
the worker's socketpair, one byte per message so the server never blocks
on a busy worker): a memfd holding the request's JSON and, for a cell,
the caller's connection. The worker answers on that connection with
NDJSON events as they happen:
  {"type": "stdout"|"stderr", "text"}          coalesced for 50 ms
  {"type": "result", "is_main_result", "text", "html", "png", ...}
  {"type": "error", "name", "value", "traceback"}
  {"type": "end", "duration_ms"}
A caller that goes away does not stop the cell; its output is dropped.

Signals: SIGINT (the interrupt operation) raises KeyboardInterrupt in a
running cell and is ignored between cells; SIGALRM is the cell's
timeout (TimeoutError). Either way the context's state stays."""

import ast
import builtins
import contextlib
import json
import os
import random
import signal
import socket
import sys
import threading
import time
import traceback

import interp_display

FLUSH_S = 0.05
FLUSH_BYTES = 64 << 10
MAX_CELL_OUTPUT = 32 << 20  # stdout + stderr + results of one cell
MAX_REQUEST = 64 << 20
HIDDEN = "/usr/lib/thaw/"  # frames of these files are noise in a traceback


class Handle:
    """The server's end of a worker."""

    def __init__(self, pid, sock):
        self.pid, self.sock, self.dead = pid, sock, False

    def _send(self, kind, payload, conn=None):
        fd = os.memfd_create("thaw-request", os.MFD_CLOEXEC)
        try:
            os.write(fd, json.dumps(payload).encode())
            fds = [fd] if conn is None else [fd, conn.fileno()]
            socket.send_fds(self.sock, [kind], fds)
        finally:
            os.close(fd)

    def init(self, cid, cwd, env):
        self._send(b"I", {"id": cid, "cwd": cwd, "env": env})

    def hand_over(self, req, conn):
        self._send(b"R", req, conn)

    def interrupt(self):
        try:
            os.kill(self.pid, signal.SIGINT)
            return True
        except ProcessLookupError:
            return False

    def stop(self):
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self.sock.close()


class Emitter:
    """Events to one caller, in order. Text is coalesced (adjacent chunks
    of one stream) and sent when FLUSH_S has passed or FLUSH_BYTES are
    waiting; the flusher thread sends what a quiet cell left waiting."""

    def __init__(self, conn, wake):
        self.conn, self.wake = conn, wake
        self.lock = threading.Lock()
        self.pending = []  # [name, [chunks], size]
        self.pending_size = 0
        self.last = time.monotonic()
        self.sent = 0
        self.dropped = 0
        self.gone = False

    def _send(self, event):
        if self.gone:
            return
        line = (json.dumps(event) + "\n").encode()
        if self.sent + len(line) > MAX_CELL_OUTPUT and event["type"] not in ("end", "error"):
            self.dropped += len(line)
            return
        self.sent += len(line)
        try:
            self.conn.sendall(line)
        except OSError:
            self.gone = True  # the caller left; the cell goes on

    def _flush_locked(self):
        for name, chunks, _ in self.pending:
            self._send({"type": name, "text": "".join(chunks)})
        self.pending, self.pending_size = [], 0
        self.last = time.monotonic()

    def text(self, name, s):
        with self.lock:
            if self.pending and self.pending[-1][0] == name:
                self.pending[-1][1].append(s)
            else:
                self.pending.append([name, [s], 0])
            self.pending_size += len(s)
            # A whole line goes now when the last send is FLUSH_S old; a
            # partial one (print writes the text, then its newline) waits
            # for the flusher.
            if self.pending_size >= FLUSH_BYTES or (
                    s.endswith("\n") and time.monotonic() - self.last >= FLUSH_S):
                self._flush_locked()
            else:
                self.wake.set()

    def tick(self):
        with self.lock:
            if self.pending and time.monotonic() - self.last >= FLUSH_S:
                self._flush_locked()

    def event(self, event):
        with self.lock:
            self._flush_locked()
            self._send(event)

    def finish(self, duration_ms):
        with self.lock:
            self._flush_locked()
            if self.dropped:
                self._send({"type": "stderr", "text": f"[thaw: {self.dropped} bytes of output "
                            f"past {MAX_CELL_OUTPUT >> 20} MiB were dropped]\n"})
            self._send({"type": "end", "duration_ms": duration_ms})


class EventStream:
    """sys.stdout / sys.stderr of a running cell."""

    def __init__(self, worker, name):
        self.worker, self.name = worker, name

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        em = self.worker.emitter
        if em is not None and s:
            em.text(self.name, s)
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("a cell's output is not a file descriptor")

    @property
    def encoding(self):
        return "utf-8"

    def writable(self):
        return True


class Worker:
    def __init__(self):
        self.id = None
        self.globals = None
        self.emitter = None
        self.running = False
        self.generation = os.uname().nodename
        # Set when text waits to be sent: the flusher sleeps on it, so an
        # idle context never wakes (an idle guest's wake-ups cost CPU).
        self.wake = threading.Event()

    def init(self, spec):
        self.id = spec["id"]
        os.chdir(spec["cwd"])
        os.environ.update(spec.get("env") or {})
        self.globals = {"__name__": "__main__", "__builtins__": builtins}
        self._reseed()
        interp_display.install(self)

    def _reseed(self):
        """Forked from one zygote in one snapshot: every context of every
        sandbox would otherwise draw the same numbers (os.urandom reads
        the kernel, which the guest agent reseeds per clone)."""
        random.seed()
        np = sys.modules.get("numpy")
        if np is not None:
            np.random.seed()

    def _reseed_if_cloned(self):
        g = os.uname().nodename  # each clone gets its own (its sandbox id)
        if g != self.generation:
            self.generation = g
            self._reseed()

    def result(self, data, main=False):
        if self.emitter is not None and data:
            self.emitter.event(dict(data, type="result", is_main_result=main))

    def _on_sigint(self, signum, frame):
        if self.running:
            raise KeyboardInterrupt("interrupted")

    def run(self, req, conn):
        t0 = time.monotonic()
        self._reseed_if_cloned()
        self.emitter = Emitter(conn, self.wake)
        saved_env = {}
        try:
            code, timeout, env = check_cell(req)
            if req.get("died"):
                self.emitter.text("stderr", "[thaw: this context's interpreter had exited; "
                                  "it was started again with a fresh state]\n")
            for k, v in env.items():
                saved_env[k] = os.environ.get(k)
                os.environ[k] = v
            self._run_cell(code, timeout)
        except ValueError as e:
            self.emitter.event({"type": "error", "name": "RequestError", "value": str(e),
                                "traceback": ""})
        finally:
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            self.emitter.finish(round((time.monotonic() - t0) * 1000, 3))
            self.emitter = None
            with contextlib.suppress(OSError):
                conn.close()

    def _run_cell(self, code, timeout):
        out, err = EventStream(self, "stdout"), EventStream(self, "stderr")
        try:
            tree = ast.parse(code, "<cell>", "exec")
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    self.running = True
                    if timeout:
                        signal.setitimer(signal.ITIMER_REAL, timeout)
                    exec(compile(tree, "<cell>", "exec"), self.globals)
                    value = None
                    if last is not None:
                        value = eval(compile(last, "<cell>", "eval"), self.globals)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    self.running = False
                if value is not None:
                    self.globals["_"] = value
                    self.result(interp_display.format_value(value), main=True)
                interp_display.flush_figures(self, skip=value)
        except BaseException as e:  # noqa: BLE001 - reported to the caller
            self.running = False
            with contextlib.suppress(Exception):
                interp_display.flush_figures(self)
            self.emitter.event(error_event(e))


def check_cell(req):
    code = req.get("code")
    if not isinstance(code, str):
        raise ValueError("code must be a string")
    timeout = req.get("timeout_s") or 0
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise ValueError("timeout_s must be a non-negative number")
    env = req.get("env") or {}
    if not isinstance(env, dict) or not all(
            isinstance(k, str) and k and "=" not in k and "\0" not in k and
            isinstance(v, str) and "\0" not in v for k, v in env.items()):
        raise ValueError("env must map names to strings")
    return code, timeout, env


def error_event(e):
    if isinstance(e, SystemExit):
        return {"type": "error", "name": "SystemExit", "value": str(e.code), "traceback": ""}
    if isinstance(e, SyntaxError):
        tb = traceback.format_exception_only(type(e), e)
    else:
        tb = traceback.format_exception(type(e), e, e.__traceback__)
    tb = [line for line in tb if HIDDEN not in line]
    value = str(e)
    if isinstance(e, KeyboardInterrupt):
        value = value or "interrupted"
    return {"type": "error", "name": type(e).__name__, "value": value, "traceback": "".join(tb)}


def _timed_out(signum, frame):
    raise TimeoutError("the code ran past its timeout")


def _read_memfd(fd):
    chunks, size = [], 0
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        size += len(b)
        if size > MAX_REQUEST:
            raise ValueError("the request is too large")
        chunks.append(b)
    return json.loads(b"".join(chunks))


def _flusher(worker):
    while True:
        worker.wake.wait()
        worker.wake.clear()
        time.sleep(FLUSH_S)
        em = worker.emitter
        if em is not None:
            em.tick()


def serve(sock):
    """The worker's loop: requests from the server until it goes away."""
    w = Worker()
    signal.signal(signal.SIGINT, w._on_sigint)
    signal.signal(signal.SIGALRM, _timed_out)
    threading.Thread(target=_flusher, args=(w,), daemon=True).start()
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 1, 2)
        except KeyboardInterrupt:
            continue  # an interrupt that arrived between cells
        except OSError:
            return
        if not msg:
            return
        try:
            req = _read_memfd(fds[0])
        except (ValueError, OSError):
            req = None
        finally:
            os.close(fds[0])
        if msg == b"I" and isinstance(req, dict):
            w.init(req)
        elif msg == b"R" and len(fds) == 2:
            conn = socket.socket(fileno=fds[1])
            if isinstance(req, dict):
                w.run(req, conn)
            else:
                conn.close()
        else:
            for fd in fds[1:]:
                os.close(fd)
