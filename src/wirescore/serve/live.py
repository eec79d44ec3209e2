"""The live side: one task follows the file into the index and hands new alerts to every
WebSocket client, without ever waiting for one.

Each client has a bounded queue (settings.client_queue messages). A client that cannot
keep up (its queue is full) or that a burst would flood (more than BURST alerts of one
read match its filter) gets one {"type": "lagged"} message instead, and reloads from the
REST API; the follower goes on at its own pace. Messages, as JSON:

    {"type": "hello", "status": {...}}                  on connecting
    {"type": "alerts", "alerts": [summary, ...]}        new alerts matching the filter
    {"type": "tick", "status": {...}, "top": {...}, "stats": {...}}  at most once a second,
                                                        when something was read
    {"type": "lagged"}                                  reload from GET /api/alerts
A client sends {"filter": {"severity": "1,2", "signature": "...", "address": "..."}} to
change what it is sent (the parameters of wirescore.serve.query); a bad filter gets
{"type": "error", "error": "..."}.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Optional

from wirescore.serve.follow import EveFileSet, EveFollower
from wirescore.serve.index import Alert, EventIndex
from wirescore.serve.query import AlertQuery, QueryError
from wirescore.serve.settings import ServeSettings

log = logging.getLogger(__name__)

#: the most alerts sent in one message; more from one read: the client reloads instead
BURST = 200
#: the shortest time between two ticks [s]
TICK_S = 1.0


class Client:
    """One WebSocket client: its filter and its bounded queue of messages."""

    def __init__(self, maxsize: int):
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=maxsize)
        self.query = AlertQuery()
        self.lagged = 0

    def send(self, message: dict) -> None:
        """Queue a message without waiting; when the queue is full, empty it and queue
        {"type": "lagged"} (the client reloads what it missed)."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.lagged += 1
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait({"type": "lagged"})

    def set_filter(self, params: dict) -> None:
        """Raises QueryError for a bad filter (the old one stays)."""
        if not isinstance(params, dict):
            raise QueryError("filter: not an object")
        clean = {k: str(v) for k, v in params.items()
                 if k in ("severity", "signature", "address") and v is not None}
        self.query = AlertQuery.parse(clean)


class LiveFeed:
    """Follows `follower` into `index` and fans new alerts out to the clients."""

    def __init__(self, follower: EveFollower | EveFileSet, index: EventIndex,
                 settings: ServeSettings = ServeSettings()):
        self.follower, self.index, self.settings = follower, index, settings
        self.clients: set[Client] = set()
        self.lines_read = 0
        self._dirty = False
        self._last_tick = 0.0
        self.last_read: Optional[float] = None     # time.time() of the last line read

    def connect(self) -> Client:
        client = Client(self.settings.client_queue)
        self.clients.add(client)
        return client

    def disconnect(self, client: Client) -> None:
        self.clients.discard(client)

    def step(self) -> bool:
        """One read of the file into the index, and the messages it makes; True when
        more is waiting (read again at once)."""
        lines = self.follower.poll()
        if lines:
            self.lines_read += len(lines)
            self.last_read = time.time()
            self._dirty = True
            alerts = self.index.add_lines(lines)
            if alerts:
                self._fan_out(alerts)
        now = time.monotonic()
        if self._dirty and now - self._last_tick >= TICK_S:
            self._last_tick, self._dirty = now, False
            self._broadcast(self.tick())
        return bool(lines) and self.follower.behind

    def tick(self) -> dict:
        return {"type": "tick", "status": self.index.status(), "top": self.index.top(10),
                "stats": self.index.last_stats}

    async def run(self) -> None:
        """Follow until cancelled; never raises for a bad line or a missing file."""
        try:
            while True:
                try:
                    more = self.step()
                except OSError as exc:
                    log.warning("%s: %s", self.follower.path, exc)
                    more = False
                await asyncio.sleep(0 if more else self.settings.poll_s)
        finally:
            self.follower.close()

    def _fan_out(self, alerts: list[Alert]) -> None:
        for client in list(self.clients):
            match = [a for a in alerts if client.query.matches(a)]
            if len(match) > BURST:
                client.send({"type": "lagged"})
            elif match:
                client.send({"type": "alerts", "alerts": [a.summary() for a in match]})

    def _broadcast(self, message: dict) -> None:
        for client in list(self.clients):
            client.send(message)
