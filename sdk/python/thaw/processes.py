"""The sandbox's process table: every command it ran lately (exec,
streamed or not, PTY or not), by its pid in the guest. A command outlives
the request that started it: list it, follow its output again, write to
its stdin, signal it, resize its terminal, wait for it."""

import base64

from . import errors


class ProcessEvent:
    """One event of attach(): kind is "start", "stdout", "stderr" or
    "exit"; data (bytes) for output; exit_code, signal, timed_out for
    exit."""

    def __init__(self, d):
        self.kind = d.get("type")
        self.pid = d.get("pid")
        self.data = base64.b64decode(d["data"]) if "data" in d else b""
        self.exit_code = d.get("exit_code")
        self.signal = d.get("signal", 0)
        self.timed_out = d.get("timed_out", False)

    @property
    def text(self):
        return self.data.decode("utf-8", "replace")

    def __repr__(self):
        if self.kind == "exit":
            return f"ProcessEvent(exit, exit_code={self.exit_code})"
        return f"ProcessEvent({self.kind}, {self.data[:40]!r})"


def _status_of(code):
    return {"not_found": 404, "conflict": 409, "invalid_request": 400,
            "timeout": 504, "limit_reached": 429}.get(code, 500)


class Processes:
    """sandbox.processes: the guest's process table."""

    def __init__(self, sandbox):
        self._sbx = sandbox

    def _url(self, pid=None, route=""):
        base = f"/v1/sandboxes/{self._sbx.id}/processes"
        if pid is None:
            return base
        if not isinstance(pid, int) or pid < 2:
            raise errors.InvalidRequest(f"{pid!r} is not a pid")
        return f"{base}/{pid}{route}"

    def list(self):
        """Every entry: dicts with pid, tag, cmd, pty, running, started_at,
        buffered_bytes, dropped_bytes, stdin_open, and exit_code, signal,
        timed_out once it ended."""
        return self._sbx._client.request("GET", self._url())["processes"]

    def get(self, pid=None, tag=None):
        """The entry of pid, or the newest one with tag; None if none."""
        found = [p for p in self.list()
                 if (pid is None or p["pid"] == pid) and (tag is None or p.get("tag") == tag)]
        return max(found, key=lambda p: p["started_at"]) if found else None

    def attach(self, pid, from_start=True, on_stdout=None, on_stderr=None):
        """Follows pid's output: from what the guest buffered (up to 1 MiB)
        when from_start, else from now. Without callbacks, returns an
        iterator of ProcessEvent ending with its exit; with them, calls
        them with str chunks and returns the exit ProcessEvent. Leaving
        the iterator early leaves the process running."""
        url = self._url(pid, "/stream") + \
            f"?from={'start' if from_start else 'now'}&encoding=base64"
        stream = self._sbx._client.stream("GET", url, None)
        if on_stdout is None and on_stderr is None:
            return self._events(stream)
        for ev in self._events(stream):
            cb = on_stdout if ev.kind == "stdout" else on_stderr if ev.kind == "stderr" else None
            if cb:
                cb(ev.text)
            if ev.kind == "exit":
                return ev
        raise errors.SandboxError("the stream ended before the process")

    @staticmethod
    def _events(stream):
        try:
            for d in stream.events():
                if d.get("type") == "error":
                    raise errors.from_response(_status_of(d.get("code")), d)
                ev = ProcessEvent(d)
                yield ev
                if ev.kind == "exit":
                    return
        finally:
            stream.close()

    def send_stdin(self, pid, data):
        """Writes data (str or bytes) to pid's stdin (exec with
        stdin_open=True or pty=True)."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        self._sbx._client.request("POST", self._url(pid, "/stdin"),
                                  {"data_b64": base64.b64encode(raw).decode()})

    def close_stdin(self, pid):
        """Closes pid's stdin: it reads EOF once it read what was sent."""
        self._sbx._client.request("POST", self._url(pid, "/stdin"), {"eof": True})

    def signal(self, pid, sig="TERM"):
        """Sends sig (a name such as "TERM", "INT", "KILL" or a number) to
        pid's process group."""
        self._sbx._client.request("POST", self._url(pid, "/signal"), {"signal": sig})

    def resize(self, pid, rows, cols):
        """A PTY process's new terminal size."""
        self._sbx._client.request("POST", self._url(pid, "/resize"),
                                  {"rows": int(rows), "cols": int(cols)})

    def wait(self, pid, timeout=30):
        """Waits up to timeout seconds for pid to exit: returns the answer
        (exit_code, signal, timed_out) or None when it still runs."""
        r = self._sbx._client.request("POST", self._url(pid, "/wait"),
                                      {"timeout_s": timeout},
                                      timeout=timeout + self._sbx._client.timeout)
        return None if r.get("running") else r
