"""thaw: Python client for thaw microVM sandboxes (standard library only).

    from thaw import Sandbox
    with Sandbox.create(template="code-interpreter") as sbx:
        print(sbx.exec("python3 -c 'print(2 ** 10)'").stdout)   # 1024

Configuration: $THAW_API_URL and $THAW_API_KEY, or api_url=/api_key=
arguments (or a Client passed as client=).
"""

from .client import Client
from .errors import (AuthError, Conflict, ConnectionError, Forbidden, InvalidRequest, LimitReached,
                     NotFound, SandboxError, SandboxNotFound, TemplateNotFound, ThawError,
                     TimeoutError)
from .metrics import MetricsPoint
from .code import Context, Execution, ExecutionError, Logs, Result
from .processes import ProcessEvent, Processes
from .sandbox import Command, ExecResult, Sandbox
from .templates import delete_template, get_template, list_templates
from .tunnel import Tunnel

__version__ = "0.1.0"
__all__ = ["Sandbox", "ExecResult", "Execution", "ExecutionError", "Result", "Logs", "Context",
           "Command", "Processes", "ProcessEvent", "Client", "ThawError", "AuthError", "Forbidden", "NotFound",
           "SandboxNotFound", "TemplateNotFound", "Conflict", "InvalidRequest", "LimitReached",
           "TimeoutError", "ConnectionError", "SandboxError", "list_templates",
           "get_template", "delete_template", "Tunnel", "MetricsPoint"]
