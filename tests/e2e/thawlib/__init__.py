"""Helpers for thaw's end-to-end tests: a real thawd on a loopback port,
real QEMU guests, real network namespaces, a real SQLite database.

Only the standard library: the tests run with Debian's python3-pytest and
nothing from PyPI.

The module keeps one "current" thawd (set by conftest.py); the helpers
api(), create(), exec_(), delete() and restart_thawd() talk to it.
"""

from .util import *  # noqa: F401,F403
from .session import *  # noqa: F401,F403
from .client import *  # noqa: F401,F403
from .host import *  # noqa: F401,F403
from .daemon import *  # noqa: F401,F403
from .daemon import _own_template  # noqa: F401
