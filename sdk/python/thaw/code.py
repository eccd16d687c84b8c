"""run_code's answer (Execution, Result, Logs) and the code interpreter's
contexts, shaped like E2B's code interpreter SDK so that code written for
it reads the same here."""

import base64

from . import errors

# Result fields, in the order formats() lists them.
FORMATS = ("text", "html", "markdown", "svg", "png", "jpeg", "pdf", "latex", "json",
           "javascript")


class Result:
    """One display result of a cell: the value of its last expression
    (is_main_result), a matplotlib figure, or what display() showed. Each
    format is None when the object did not offer it; png, jpeg and pdf
    are base64 strings (decode with .png_bytes() etc.)."""

    def __init__(self, d):
        for f in FORMATS:
            setattr(self, f, d.get(f))
        self.is_main_result = bool(d.get("is_main_result"))

    def formats(self):
        """The formats this result has, text first."""
        return [f for f in FORMATS if getattr(self, f) is not None]

    def png_bytes(self):
        return base64.b64decode(self.png) if self.png else None

    def jpeg_bytes(self):
        return base64.b64decode(self.jpeg) if self.jpeg else None

    def __repr__(self):
        kind = "main result" if self.is_main_result else "display"
        return f"Result({kind}: {', '.join(self.formats())})"


class Logs:
    """What the cell printed: lists of chunks as they came."""

    def __init__(self, stdout=None, stderr=None):
        self.stdout = stdout or []
        self.stderr = stderr or []

    def __repr__(self):
        return f"Logs(stdout={self.stdout!r}, stderr={self.stderr!r})"


class ExecutionError:
    """The exception a cell raised: name, value and traceback (frames of
    the interpreter itself left out)."""

    def __init__(self, d):
        self.name = d.get("name", "")
        self.value = d.get("value", "")
        self.traceback = d.get("traceback", "")

    def __repr__(self):
        return f"{self.name}: {self.value}"


class Execution:
    """What run_code did. results: every Result in order; logs: stdout and
    stderr chunks; error: None or an ExecutionError. text (and result, its
    older name) is the main result's text; stdout and stderr are the logs
    joined."""

    def __init__(self, results=None, logs=None, error=None, duration_ms=0.0):
        self.results = results or []
        self.logs = logs or Logs()
        self.error = error
        self.duration_ms = duration_ms

    @classmethod
    def from_answer(cls, d):
        logs = Logs([d["stdout"]] if d.get("stdout") else [],
                    [d["stderr"]] if d.get("stderr") else [])
        return cls([Result(r) for r in d.get("results", [])], logs,
                   ExecutionError(d["error"]) if d.get("error") else None,
                   d.get("duration_ms", 0.0))

    @property
    def text(self):
        for r in self.results:
            if r.is_main_result:
                return r.text
        return None

    result = text  # the field's name before rich results

    @property
    def stdout(self):
        return "".join(self.logs.stdout)

    @property
    def stderr(self):
        return "".join(self.logs.stderr)

    def __repr__(self):
        return (f"Execution(text={self.text!r}, results={self.results!r}, "
                f"error={self.error!r}, stdout={self.stdout[:60]!r})")


def read_stream(events, on_stdout=None, on_stderr=None, on_result=None, on_error=None):
    """An Execution from a streamed run_code, calling the callbacks as the
    events come (str chunks, Result, ExecutionError)."""
    ex = Execution()
    for ev in events:
        kind = ev.get("type")
        if kind in ("stdout", "stderr"):
            text = ev.get("text", "")
            (ex.logs.stdout if kind == "stdout" else ex.logs.stderr).append(text)
            cb = on_stdout if kind == "stdout" else on_stderr
            if cb:
                cb(text)
        elif kind == "result":
            r = Result(ev)
            ex.results.append(r)
            if on_result:
                on_result(r)
        elif kind == "error":
            if "code" in ev:  # the sandbox failed, not the code
                from .sandbox import _status_of
                raise errors.from_response(_status_of(ev["code"]), {"error": ev.get("value")})
            ex.error = ExecutionError(ev)
            if on_error:
                on_error(ex.error)
        elif kind == "end":
            ex.duration_ms = ev.get("duration_ms", 0.0)
            return ex
    raise errors.SandboxError("the run_code stream ended before the cell")


class Context:
    """An independent interpreter state in a sandbox: its own names,
    working directory and environment. run_code(..., context=ctx)."""

    def __init__(self, d):
        self.id = d["id"]
        self.language = d.get("language", "python")
        self.cwd = d.get("cwd")
        self.env = d.get("env", {})

    def __repr__(self):
        return f"Context({self.id!r}, cwd={self.cwd!r})"


def context_id(context):
    if context is None:
        return None
    return context.id if isinstance(context, Context) else str(context)
