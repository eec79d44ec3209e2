"""What an output keeps while it cannot write: a bounded queue of whole lines, and when
to try again.

LineQueue: chunks of whole lines (each ending with a newline), oldest first, at most
`limit` bytes. A chunk that does not fit whole is split into lines; the lines that fit
are kept, the rest (the newest) dropped and counted, and the first drop of an episode
is logged (one warning until the queue empties again). Used by the peer outputs
(outputs/eve_sockets.py: a socket, syslog or Redis that is away) and by the file
outputs of a live run (outputs/eve.py EveWriter: a disk that is full, an I/O error, a
log directory that vanished).

Backoff: after a failure the next try waits first_s, then twice as long after each
further failure, at most max_s; a success starts over; now() makes the next try
immediate (SIGHUP).
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Callable

log = logging.getLogger(__name__)


class LineQueue:
    """Whole lines waiting for an output (module docstring). chunks: the deque itself
    (its first chunk may be replaced by its unsent rest); size: bytes held; dropped:
    lines dropped so far (the owner may add its own, e.g. at close)."""

    def __init__(self, name: str, limit: int, what: str = "EVE lines"):
        """name: how the log names the output; limit: bytes at most (>= 0);
        what: how the log names what is queued."""
        self.name, self.limit, self.what = name, int(limit), what
        self.chunks: deque = deque()
        self.size = 0
        self.dropped = 0
        self._dropping = False

    def __bool__(self) -> bool:
        return bool(self.chunks)

    def put(self, data: bytes, split_lines: bool = False) -> None:
        """Queue whole lines (data ends with a newline; b"" does nothing); one chunk
        per line when split_lines (a datagram-like output), else one for all."""
        if not data:
            return
        chunks = data.splitlines(keepends=True) if split_lines else [data]
        for chunk in chunks:
            if self.size + len(chunk) <= self.limit:
                self.chunks.append(chunk)
                self.size += len(chunk)
                continue
            # does not fit whole: keep the lines that do, drop the rest (newest)
            lines = [chunk] if split_lines else chunk.splitlines(keepends=True)
            for line in lines:
                if self.size + len(line) <= self.limit:
                    self.chunks.append(line)
                    self.size += len(line)
                else:
                    self.dropped += 1
                    if not self._dropping:
                        self._dropping = True
                        log.warning("%s: buffer full (%d bytes): dropping new %s until "
                                    "the output takes some (counted)", self.name,
                                    self.limit, self.what)

    def pop(self) -> bytes:
        """Take the first chunk off."""
        chunk = self.chunks.popleft()
        self.size -= len(chunk)
        return chunk

    def keep_rest(self, rest: bytes) -> None:
        """The first chunk went out in part: `rest` (its tail) stays first."""
        self.size -= len(self.chunks[0]) - len(rest)
        if rest:
            self.chunks[0] = rest
        else:
            self.chunks.popleft()

    def drained(self) -> None:
        """The output took everything: the next drop starts a new episode (logged)."""
        self._dropping = False

    def drop_all(self) -> int:
        """Count every waiting line as dropped and empty the queue; returns how many."""
        left = sum(chunk.count(b"\n") or 1 for chunk in self.chunks)
        self.dropped += left
        self.chunks.clear()
        self.size = 0
        return left


class Backoff:
    """When the next try is due (module docstring); times in seconds of `clock`."""

    def __init__(self, first_s: float, max_s: float, clock: Callable[[], float]):
        self.first_s, self.max_s, self.clock = float(first_s), float(max_s), clock
        self.delay = self.first_s
        self.next_try = 0.0

    def due(self) -> bool:
        return self.clock() >= self.next_try

    def failed(self) -> None:
        """A try failed: the next one after the current delay, which then doubles."""
        self.next_try = self.clock() + self.delay
        self.delay = min(self.max_s, self.delay * 2)

    def succeeded(self) -> None:
        self.delay = self.first_s
        self.next_try = 0.0

    def now(self) -> None:
        """Try at the next chance, whatever the delay (SIGHUP)."""
        self.next_try = 0.0
