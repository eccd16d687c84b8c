"""The API client: HTTP requests to the current thawd and the calls tests make
most (create, exec, delete, ...), and the CLI."""

import json
import os
import subprocess

from .util import *  # noqa: F401,F403
from .session import *  # noqa: F401,F403


def decode_body(raw):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


# ---- the current instance and the helpers the tests use ----------------



def api(method, path, body=None, key=..., headers=None, timeout=300):
    return current().api(method, path, body, key=key, headers=headers, timeout=timeout)


def request(method, path, body=None, key=..., headers=None, timeout=300):
    return current().request(method, path, body, key=key, headers=headers, timeout=timeout)


def healthy():
    """GET /healthz answers 200 {"status":"ok"} without a key."""
    st, body = api("GET", "/healthz", key=None, timeout=30)
    return st == 200 and isinstance(body, dict) and body.get("status") == "ok"


def create(expect=201, timeout=300, **kw):
    """POST /v1/sandboxes with kw as the body; asserts the status and
    returns the JSON answer."""
    st, body = api("POST", "/v1/sandboxes", kw, timeout=timeout)
    assert st == expect, f"create {kw} answered {st}: {body}"
    if expect == 201:
        assert isinstance(body, dict) and body.get("state") == "running", body
    return body


def exec_(sid, cmd, expect=200, timeout=300, **kw):
    """POST /v1/sandboxes/ID/exec; asserts the status, returns the JSON."""
    kw["cmd"] = cmd
    st, body = api("POST", f"/v1/sandboxes/{sid}/exec", kw, timeout=timeout)
    assert st == expect, f"exec {cmd!r} in {sid} answered {st}: {body}"
    return body


def sh(sid, script, **kw):
    """Runs a shell script, asserts exit 0, returns stdout."""
    r = exec_(sid, script, **kw)
    assert r["exit_code"] == 0 and not r["timed_out"], f"{script!r} failed: {r}"
    return r["stdout"]


def delete(sid, expect=204):
    st, body = api("DELETE", f"/v1/sandboxes/{sid}")
    assert st == expect, f"delete {sid} answered {st}: {body}"
    return st


def get(sid):
    return api("GET", f"/v1/sandboxes/{sid}")


def list_ids():
    st, body = api("GET", "/v1/sandboxes")
    assert st == 200, body
    return [s["id"] for s in body["sandboxes"]]


def list_sandboxes():
    st, body = api("GET", "/v1/sandboxes")
    assert st == 200, body
    return body["sandboxes"]


def template_info(name=TEMPLATE):
    st, body = api("GET", "/v1/templates")
    assert st == 200, body
    for t in body["templates"]:
        if t["name"] == name:
            return t
    return None


def run_cli(*args, env=None, input=None, timeout=300):
    """Runs the real thaw binary against the current thawd (whatever
    another thawd started by a test left in the environment); returns
    CompletedProcess (bytes)."""
    e = dict(os.environ)
    d = current()
    e["THAW_API_URL"] = d.url
    if d.key:
        e["THAW_API_KEY"] = d.key
    e.update(env or {})
    return subprocess.run([str(current().cli_bin), *args], env=e, input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


# ---- resources of one sandbox ---------------------------------------------


def sandbox_netns(sid):
    """The network namespace a live sandbox runs in (from the API)."""
    st, body = get(sid)
    assert st == 200, f"GET {sid}: {st} {body}"
    return body["network"]["netns"]


def pools():
    """thawd's own account of its warm pools: the ids waiting VMMs carry
    and the number of network slots allocated."""
    st, info = api("GET", "/v1/info")
    assert st == 200, info
    return set(info["warm_vmms"]["ids"]), info["network"]["allocated"], info
