"""Typed errors. Every error the server reports carries its message, its
code ("not_found", "conflict", ...), the HTTP status and the request id
(the answer's X-Request-Id: an operator finds the request's log lines
by it)."""

import builtins


class ThawError(Exception):
    """Base of every error this SDK raises."""

    def __init__(self, message, code=None, status=None, request_id=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id

    def __str__(self):
        parts = [str(x) for x in (self.code, self.status) if x]
        if self.request_id:
            parts.append(f"request {self.request_id}")
        return f"{self.message} ({', '.join(parts)})" if parts else self.message


class AuthError(ThawError):
    """The API key is missing or wrong (401)."""


class Forbidden(ThawError):
    """The key is valid but its role may not do this (403): baking, or
    deleting a shared template, needs an admin key."""


class NotFound(ThawError):
    """The named thing does not exist (404), or is another key's sandbox
    (a user key sees its own only)."""


class SandboxNotFound(NotFound):
    pass


class TemplateNotFound(NotFound):
    pass


class Conflict(ThawError):
    """The thing exists but its state forbids the operation (409), e.g. an
    exec on a paused sandbox without auto_resume."""


class InvalidRequest(ThawError):
    """The request was refused as malformed (400, 413)."""


class TimeoutError(ThawError, builtins.TimeoutError):  # noqa: A001 - the SDK's own
    """A deadline passed (the server's, or the client's socket timeout)."""


class ConnectionError(ThawError, builtins.ConnectionError):  # noqa: A001
    """thawd could not be reached."""


class LimitReached(ThawError):
    """Too many requests with this key, or too many sandboxes for this key
    (its max_sandboxes) or on the host (429): try again later."""


class SandboxError(ThawError):
    """Anything else the server reported (5xx, a guest that misbehaved)."""


def from_response(status, body, what=None, request_id=None):
    """The error for a server answer: body is its parsed JSON (or None);
    request_id: the answer's X-Request-Id, for a body that names none."""
    message = "the server answered %d" % status
    code = None
    if isinstance(body, dict):
        message = body.get("error") or message
        code = body.get("code")
        request_id = body.get("request_id") or request_id
    err = _typed(status, message, code, what)
    err.request_id = request_id
    return err


def _typed(status, message, code, what):
    if status == 401:
        return AuthError(message, code, status)
    if status == 403:
        return Forbidden(message, code, status)
    if status == 404:
        if what == "template" or "template" in message and "sandbox" not in message:
            return TemplateNotFound(message, code, status)
        return SandboxNotFound(message, code, status)
    if status == 409:
        return Conflict(message, code, status)
    if status == 429:
        return LimitReached(message, code, status)
    if status in (400, 405, 413):
        return InvalidRequest(message, code, status)
    if status == 504 or code == "timeout":
        return TimeoutError(message, code, status)
    return SandboxError(message, code, status)
