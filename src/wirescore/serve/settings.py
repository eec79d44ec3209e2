"""Every setting of `wirescore serve` once: the bounds of its in-memory index, how often
it looks at the file, the page sizes, where it listens. The command's flags and the
docs read them from here.

Memory: an indexed alert costs its EVE line plus a small summary, about 2.5 KB for
wirescore's alerts (measured by tests/test_serve_load.py); a kept flow event its line,
about 0.7 KB. At the defaults the index holds at most 10,000 alerts (~25 MB) and 20,000
flow events (~15 MB); the counters, top talkers and charts count every alert read.
"""
from __future__ import annotations

from dataclasses import dataclass

#: loopback addresses: the only ones served without a token
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ServeSettings:
    """Bounds and timings of one server (defaults: the values documented above).

    max_alerts: newest alerts kept with their line (older ones: counted, not kept).
    max_flows: newest flow events kept (to open an alert's flow; a flow an indexed alert
        names is kept with the alert whatever its age).
    max_talkers: distinct addresses counted per side for top talkers (past it the
        least-counted half is dropped and counted as `talkers_dropped`).
    series_seconds: per-second points kept for packets/s and flows/s [s].
    series_minutes: per-minute points kept for alerts per minute [min].
    poll_s: how often the file is looked at when nothing new came [s].
    read_bytes: the most read and indexed in one go before the server answers
        requests again [bytes].
    page_default / page_max: alerts per REST page.
    client_queue: messages buffered per WebSocket client; a client that falls this far
        behind is told it lagged (the page then reloads from the REST API), never waited
        for.
    """

    max_alerts: int = 10_000
    max_flows: int = 20_000
    max_talkers: int = 10_000
    series_seconds: int = 3_600
    series_minutes: int = 1_440
    poll_s: float = 0.1
    read_bytes: int = 1 << 20
    page_default: int = 50
    page_max: int = 1_000
    client_queue: int = 256


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_EVE = "eve.json"

