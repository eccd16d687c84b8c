"""The "current" thawd, which the client helpers talk to (set by conftest.py
and by tests that start a thawd of their own)."""



_current = None


def set_current(d):
    global _current
    _current = d


def current():
    assert _current is not None, "no thawd started (use the thawd fixture)"
    return _current


def current_or_none():
    return _current
