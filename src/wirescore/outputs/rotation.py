"""Rotation of an EVE file: by time (outputs.eve.rotate_interval, with strftime fields in
the file name as Suricata's rotate-interval), by size (outputs.eve.rotate_bytes, keeping
outputs.eve.rotate_keep numbered files), and on SIGHUP (reopen by name, for logrotate).

Time is packet time, as for stats events (a replay rotates where the live run did): the
file of a batch is chosen by the newest line's timestamp, and a new file starts when that
enters a later interval (intervals are aligned to the epoch: 3600 turns at each full
hour). A file name with strftime fields (eve-%Y-%m-%d-%H%M.json, local time as Suricata)
is expanded at the start of each interval; a name without them is rotated like logrotate
does: eve.json -> eve.json.1 -> eve.json.2 ..., at most rotate_keep numbered files (the
oldest is deleted).

By size, a batch's lines are put in order in memory (one copy) and cut between lines:
no file passes rotate_bytes unless a single line is longer, and every line is whole in
one file.
"""
from __future__ import annotations

import os
import time
from typing import Optional

import numpy as np

from wirescore.outputs.eve_file import EveWriter, _dumps, ordered_bytes


class RotatingWriter(EveWriter):
    """An EveWriter whose file turns over by interval and/or size (module docstring).
    interval_s: 0 for none; max_bytes: 0 for none; keep: numbered files kept (>= 1).
    A name with strftime fields is opened at the first write (its time comes from the
    lines); before any line (a run without packets) the wall clock names it."""

    def __init__(self, template: str | os.PathLike, interval_s: float = 0.0,
                 max_bytes: int = 0, keep: int = 20, live: bool = False,
                 buffer_bytes: int = 64 << 20, label: str = "eve"):
        """live, buffer_bytes, label: as EveWriter's (a live run keeps what it cannot
        write and tries again; the waiting lines go to the file open when the disk has
        room again, which rotate_bytes may then overshoot by their size)."""
        self.template = os.fspath(template)
        self.timed_name = "%" in os.path.basename(self.template)
        self.interval_us = int(interval_s * 1e6)
        self.max_bytes, self.keep = int(max_bytes), max(1, int(keep))
        self._period: Optional[int] = None       # interval index of the open file
        self.rotations = 0
        self.path, self._fd = self.template, -1
        self._setup(live, buffer_bytes, label, time.monotonic)
        if not self.timed_name:
            self._open()

    def _name_at(self, us: Optional[int]) -> str:
        """The template expanded at µs of packet time (at the interval's start when
        rotating by time), or at the wall clock when no line has come yet."""
        if not self.timed_name:
            return self.template
        if us is None:
            seconds = time.time()
        elif self.interval_us:
            seconds = (us // self.interval_us) * self.interval_us / 1e6
        else:
            seconds = us / 1e6
        return time.strftime(self.template, time.localtime(seconds))

    def _before(self, us: Optional[int]) -> None:
        """Turn to the file of packet time us (None: keep the one open, or open one)."""
        if us is not None and self.interval_us:
            period = us // self.interval_us
            if self._period is None:
                self._period = period
            elif period > self._period:
                self._period = period
                self._turn(us)
        if self._fd < 0:
            self.path = self._name_at(us)
            try:
                self._open()
            except OSError as exc:
                if self._waiting is None:
                    raise
                self._failed(exc)              # a live run: lines wait (EveWriter)

    def _turn(self, us: int) -> None:
        """Start the next file: a timed name opens its next name; a plain one shifts."""
        self.rotations += 1
        if self.timed_name:
            self.close_fd()
            self.path = self._name_at(us)
            self._open()
        else:
            self._shift()

    def _shift(self) -> None:
        """eve.json -> eve.json.1 -> ... -> eve.json.<keep>, dropping the oldest, and a
        new empty eve.json."""
        self.close_fd()
        oldest = f"{self.path}.{self.keep}"
        if os.path.exists(oldest):
            os.unlink(oldest)
        for i in range(self.keep - 1, 0, -1):
            if os.path.exists(f"{self.path}.{i}"):
                os.rename(f"{self.path}.{i}", f"{self.path}.{i + 1}")
        if os.path.exists(self.path):
            os.rename(self.path, f"{self.path}.1")
        self._open()

    def _open(self) -> None:
        super()._open()
        self._size = os.fstat(self._fd).st_size        # appending to what is there

    def write_ordered(self, blocks: list[bytes], keys) -> None:
        keys = np.asarray(keys)
        self._before(int(keys.max()) if len(keys) else None)
        if self.max_bytes:
            self._write_sized(ordered_bytes(blocks, keys))
        else:
            super().write_ordered(blocks, keys)

    def write_bytes(self, data: bytes) -> None:
        self._before(None)
        if self.max_bytes:
            self._write_sized(data)
        else:
            super().write_bytes(data)

    def write_event(self, event) -> None:
        """One event (stats), in the file of its timestamp."""
        self.write_event_bytes(event, (_dumps(event) + "\n").encode("ascii"))

    def write_event_bytes(self, event, data: bytes) -> None:
        """The line `data` made of `event`, in the file of the event's timestamp."""
        self._before(_stamp_us(event.get("timestamp")))
        self.write_bytes(data)

    def _write_sized(self, data: bytes) -> None:
        """Write whole lines, turning to a new file where the next line would take this
        one past max_bytes (a line longer than max_bytes gets a file of its own)."""
        view = memoryview(data)
        while view:
            room = self.max_bytes - self._size
            if len(view) <= room:
                cut = len(view)
            else:
                cut = bytes(view[:room]).rfind(b"\n") + 1 if room > 0 else 0
                if cut == 0 and self._size == 0:      # one line longer than a file
                    cut = bytes(view).find(b"\n") + 1 or len(view)
            if cut:
                EveWriter.write_bytes(self, view[:cut])
                self._size += cut
                view = view[cut:]
            if view:
                self.rotations += 1
                self._shift()

    def reopen(self) -> None:
        """SIGHUP: close and reopen the file by its current name."""
        if self._fd >= 0:
            super().reopen()



def _stamp_us(text) -> Optional[int]:
    """µs since the epoch of an EVE timestamp ('2010-07-04T20:24:39.360213+0000'), None
    when there is none or it does not parse."""
    from datetime import datetime

    try:
        return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1e6)
    except (TypeError, ValueError):
        return None
