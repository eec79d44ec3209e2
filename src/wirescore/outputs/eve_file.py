"""EVE lines into a file: whole lines always, and on a live run a file that cannot be
written does not stop the run (EveWriter's docstring). StdoutWriter: the same to
standard output. Also used for the CSV export's rows (outputs/export.py).
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Callable, Iterable, Mapping, Optional

import numpy as np

from wirescore.outputs.paths import FILE_MODE
from wirescore.outputs.spill import Backoff, LineQueue

log = logging.getLogger(__name__)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


#: a live run's file output that cannot write: first retry after this many seconds,
#: doubling after each failure up to RETRY_MAX_S (SIGHUP retries at once)
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 8.0


class EveWriter:
    """Appends EVE lines to LOGDIR/<filename>; reopen() for logrotate.

    Unbuffered: each call is one or a few large write()s of whole lines to a file
    opened with O_APPEND, so a reader (or a crash) never sees half a line short of
    the disk filling up. Flow and app-layer event lines are formatted and written by the
    core in C.

    When a write fails (ENOSPC, EIO, ...) the part of a line it wrote is taken back
    (_whole). Then, by `live`:
    - False (a file read, -r): the error is raised and ends the run.
    - True (a live capture): capture and detection go on. The lines not written wait in
      a LineQueue of at most buffer_bytes (outputs/spill.py; the newest beyond that are
      dropped and counted), later lines queue behind them (order kept), and the file is
      tried again after RETRY_FIRST_S, doubling to RETRY_MAX_S, at every write or
      pump() (each batch); reopen() (SIGHUP) tries at once, and a file that cannot be
      opened (the log directory vanished) is an outage too; a file removed under it is
      created again by name. One warning names the cause when an episode starts, one
      line when writing resumes; counters() gives
      wirescore.output.<label>.{lines,dropped,reconnects} (reconnects: episodes
      survived). What is still queued at close() gets one last try, then is dropped and
      counted. Memory: at most buffer_bytes of waiting lines.
    """

    def __init__(self, path: str | os.PathLike, live: bool = False,
                 buffer_bytes: int = 64 << 20, label: str = "eve",
                 clock: Callable[[], float] = time.monotonic, name: Optional[str] = None):
        """path: the file (created 0640, appended to); live, buffer_bytes (the queue's
        bound, outputs.eve.buffer_mb), label (counter names), clock (seconds, for the
        retries): see the class docstring; name: what the log calls it (default
        "EVE file PATH")."""
        self.path = os.fspath(path)
        self._fd = -1
        self._setup(live, buffer_bytes, label, clock, name)
        self._open()

    def _setup(self, live: bool, buffer_bytes: int, label: str,
               clock: Callable[[], float], name: Optional[str] = None) -> None:
        """The state of a writer (a subclass that opens later calls this itself)."""
        self.live, self.label = live, label
        self.name = name or f"EVE file {self.path}"
        self.lines = 0                    # lines written (counted for a live run only)
        self.reconnects = 0
        self._waiting = LineQueue(self.name, buffer_bytes, "lines") if live else None
        self._retry = Backoff(RETRY_FIRST_S, RETRY_MAX_S, clock)
        self._outage: Optional[str] = None          # the cause, while writing fails

    def _open(self) -> None:
        """Open (create) the file for appending. A live run opens without waiting: a
        FIFO no one reads (a --workers relay pipe whose parent died) is ENXIO at once,
        a failed open like any other, where a plain open would wait for a reader for
        ever, and a stop (SIGTERM) could never end the run."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        if self.live:
            flags |= os.O_NONBLOCK
        fd = os.open(self.path, flags, FILE_MODE)
        if self.live:                                 # writes block as before
            os.set_blocking(fd, True)
        self._fd = fd

    def write_lines(self, lines: Iterable[str]) -> None:
        """Write whole lines (each one JSON object, no newline inside)."""
        self.write_bytes("".join(line + "\n" for line in lines).encode("ascii"))

    def write_bytes(self, data: bytes) -> None:
        """Write whole lines (bytes, or a memoryview of them)."""
        if isinstance(data, memoryview):
            data = bytes(data)
        self._whole(lambda: data, lambda: data.count(b"\n"), self._write_all, data)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def write_ordered(self, blocks: list[bytes], keys) -> None:
        """Write the newline-terminated lines of `blocks` stably sorted by `keys` (one
        int64 a line, e.g. µs), in C by writev() without copying them."""
        from wirescore._core.eve import write_ordered

        self._whole(lambda: ordered_lines(blocks, keys), lambda: len(keys), write_ordered,
                    self._fd, blocks, keys)

    def _whole(self, lines: Callable[[], bytes], count: Callable[[], int], write, *args
               ) -> None:
        """Run one write of the bytes lines() makes (made only when needed: a live run
        that queues them; count(): how many lines, counted on a live run); when it
        fails part-way (the disk filled up, an I/O error), keep the whole lines it wrote
        and take back the rest (truncate after the last newline), so that the file
        always ends with a whole line and the next run appends to a clean file; then
        raise, or on a live run queue what was not written (class docstring). A pipe or
        a device cannot be taken back: written as it is."""
        if self._waiting is not None and self._fd >= 0:
            self._reopen_if_removed()
        if self._waiting is not None and (self._waiting or self._fd < 0):
            self.pump()                              # the waiting lines first, when due
            if self._waiting or self._fd < 0:
                self._waiting.put(lines())           # behind them
                return
        try:
            start = os.lseek(self._fd, 0, os.SEEK_END)
        except OSError:                  # a pipe (a worker's), standard output
            start = None
        try:
            write(*args)
        except OSError as exc:
            if start is None or self._waiting is None:
                if start is not None:
                    self._cut_after_last_line(start)
                raise
            data = lines()
            written = self._cut_after_last_line(start) - start
            self.lines += data.count(b"\n", 0, written)
            self._waiting.put(data[written:])
            self._failed(exc)
            return
        if self._waiting is not None:
            self.lines += count()

    def _reopen_if_removed(self) -> None:
        """A live run: a file removed under it (rm, not logrotate's move) would swallow
        every later line; start a new one by name instead (one fstat a write)."""
        try:
            if os.fstat(self._fd).st_nlink > 0:
                return
        except OSError:
            return
        log.warning("%s: the file was removed; writing to a new one", self.name)
        self.reopen()

    def pump(self) -> None:
        """A live run: write the waiting lines when a try is due (nothing to do
        otherwise); never raises an OSError."""
        if (not self._waiting and self._fd >= 0) or not self._retry.due():
            return
        try:
            if self._fd < 0:
                self._open()
            while self._waiting:
                chunk = self._waiting.chunks[0]
                start = os.lseek(self._fd, 0, os.SEEK_END)
                try:
                    self._write_all(chunk)
                except OSError:
                    written = self._cut_after_last_line(start) - start
                    self.lines += chunk.count(b"\n", 0, written)
                    self._waiting.keep_rest(chunk[written:])
                    raise
                self._waiting.pop()
                self.lines += chunk.count(b"\n")
        except OSError as exc:
            self._failed(exc)
            return
        self._waiting.drained()
        self._retry.succeeded()
        if self._outage is not None:
            self.reconnects += 1
            log.warning("%s: writing again (%d lines dropped so far)", self.name,
                        self._waiting.dropped)
            self._outage = None

    def _failed(self, exc: OSError) -> None:
        """A live run's write or open failed: try again later; log the first failure of
        an episode (and a change of cause)."""
        self._retry.failed()
        why = failure_cause(exc)
        if self._outage != why:
            self._outage = why
            log.warning("%s: cannot write: %s; capture and detection go on, keeping up "
                        "to %d bytes of lines and trying again (up to every %g s; SIGHUP "
                        "tries at once)", self.name, why, self._waiting.limit, RETRY_MAX_S)

    def _cut_after_last_line(self, start: int) -> int:
        """Truncate what a failed write left after `start` to its whole lines (read back
        by path: the descriptor is write-only); to `start` when that cannot be read.
        Returns the file's new end."""
        keep = start
        try:
            end = os.lseek(self._fd, 0, os.SEEK_END)
            if end > start:
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    keep = start + os.pread(fd, end - start, start).rfind(b"\n") + 1
                finally:
                    os.close(fd)
            os.ftruncate(self._fd, keep)
        except OSError:                  # a device (/dev/full), a file moved away
            keep = start
            try:
                os.ftruncate(self._fd, start)
            except OSError:
                pass
        return keep

    def write_event(self, event: Mapping[str, Any]) -> None:
        self.write_lines([_dumps(event)])

    def write_event_bytes(self, event: Mapping[str, Any], data: bytes) -> None:
        """The line `data` made of `event` (its timestamp says which file, when files
        turn by time: outputs/rotation.py)."""
        self.write_bytes(data)

    def reopen(self) -> None:
        """Close and reopen the file by name (after logrotate moved it). A live run
        that cannot open it keeps its lines and tries again later (class docstring);
        one with lines waiting tries them at once."""
        self.close_fd()
        if self._waiting is None:
            self._open()
            return
        try:
            self._open()
        except OSError as exc:
            self._failed(exc)
            return
        self._retry.now()
        self.pump()

    def close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def close(self) -> None:
        """Close the file; a live run's waiting lines get one last try first, what is
        left is dropped and counted."""
        if self._waiting:
            self._retry.now()
            self.pump()
            if self._waiting.drop_all():
                log.warning("%s: %s at the end; %d lines dropped in all", self.name,
                            self._outage or "still failing", self._waiting.dropped)
        self.close_fd()

    @property
    def dropped(self) -> int:
        return self._waiting.dropped if self._waiting is not None else 0

    def counters(self) -> dict:
        """A live run's counters (wirescore.output.<label>.{lines,dropped,reconnects});
        none for a file read (a failed write ends the run)."""
        if self._waiting is None:
            return {}
        stem = f"wirescore.output.{self.label}"
        return {f"{stem}.lines": self.lines, f"{stem}.dropped": self._waiting.dropped,
                f"{stem}.reconnects": self.reconnects}

    def health(self) -> dict:
        """The output's state for the stats event's health object: writing or waiting,
        bytes queued, lines dropped (a live run; {} for a file read)."""
        if self._waiting is None:
            return {}
        return {"state": "waiting" if self._outage else "writing",
                "queued_bytes": self._waiting.size, "dropped": self._waiting.dropped}


def failure_cause(exc: OSError) -> str:
    """What a failed write says: the system's text for its errno ("No space left on
    device"; the core's OSError carries its own text), else the exception's."""
    if exc.errno:
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)


def ordered_lines(blocks: list[bytes], keys) -> bytes:
    """The newline-terminated lines of `blocks` stably sorted by `keys`, as one bytes
    object (what write_ordered writes)."""
    return ordered_bytes(blocks, np.asarray(keys))


def ordered_bytes(blocks: list[bytes], keys: np.ndarray) -> bytes:
    """The newline-terminated lines of `blocks`, stably sorted by `keys` (one int64 per
    line), as one bytes object. Blocks already in order are joined without splitting."""
    data = blocks[0] if len(blocks) == 1 else b"".join(blocks)
    if len(keys) < 2 or bool(np.all(keys[1:] >= keys[:-1])):
        return data
    lines = data.split(b"\n")
    lines.pop()                                  # after the last newline: empty
    order = np.argsort(keys, kind="stable").tolist()
    return b"\n".join([lines[i] for i in order]) + b"\n"


class StdoutWriter(EveWriter):
    """EVE lines to standard output (filetype stdout): a copy of descriptor 1, so that
    close() leaves the process's stdout open; reopen() does nothing."""

    def __init__(self):
        super().__init__("<stdout>")

    def _open(self) -> None:
        self._fd = os.dup(1)

    def reopen(self) -> None:
        pass
