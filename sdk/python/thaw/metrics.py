"""A sandbox's usage over time: Sandbox.metrics() returns MetricsPoint
objects, oldest first (GET /v1/sandboxes/{id}/metrics)."""

import datetime
import urllib.parse
from dataclasses import dataclass

from . import errors


@dataclass(frozen=True)
class MetricsPoint:
    """One sample. cpu_used_pct is 0..100 of the sandbox's cpu_count vCPUs
    over the interval before the sample; the network counters are
    cumulative since the sandbox started (the difference of two points
    is the traffic between them)."""

    timestamp: datetime.datetime  # UTC, aware
    cpu_used_pct: float
    cpu_count: int
    mem_used_bytes: int
    mem_total_bytes: int
    disk_used_bytes: int
    disk_total_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int

    @classmethod
    def from_json(cls, o):
        return cls(timestamp=datetime.datetime.fromtimestamp(int(o["t"]), datetime.timezone.utc),
                   cpu_used_pct=float(o["cpu_used_pct"]), cpu_count=int(o["cpu_count"]),
                   mem_used_bytes=int(o["mem_used_bytes"]),
                   mem_total_bytes=int(o["mem_total_bytes"]),
                   disk_used_bytes=int(o["disk_used_bytes"]),
                   disk_total_bytes=int(o["disk_total_bytes"]),
                   net_rx_bytes=int(o["net_rx_bytes"]), net_tx_bytes=int(o["net_tx_bytes"]))


def time_param(name, value):
    """start/end as the API takes them: a datetime (naive ones are UTC),
    unix seconds (int or float), or an RFC 3339 string passed through."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return str(int(value.timestamp()))
    if isinstance(value, bool):
        raise errors.InvalidRequest(f"{name} must be a datetime, unix seconds or RFC 3339")
    if isinstance(value, (int, float)):
        return str(int(value))
    if isinstance(value, str):
        return value
    raise errors.InvalidRequest(f"{name} must be a datetime, unix seconds or RFC 3339")


def metrics_path(sid, start=None, end=None):
    q = {k: time_param(k, v) for k, v in (("start", start), ("end", end)) if v is not None}
    path = f"/v1/sandboxes/{sid}/metrics"
    return path + ("?" + urllib.parse.urlencode(q) if q else "")
