"""A single background thread that runs output work in submission order.

The engine hands it the formatting and writing of EVE lines and snippet files, so that on
two CPUs the core (nogil) and the output (format_flows is nogil, file writes release the
GIL) run side by side. One thread keeps the lines in exactly the order they were
submitted (a snippet file is written before the alert line that names it).

Failures: each job has an owner (the sink that submitted it). A job that raises marks its
owner failed: that owner's later jobs are skipped (its output would have a gap), the other
owners' jobs still run. failures() hands the failures over (the engine asks after every
batch and names the sink); flush() and close() raise the first one not yet handed over.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable


def _FLUSHED(event: threading.Event) -> None:
    """Marker job of wait(): sets its event (the writer thread does, whatever failed)."""


class BackgroundWriter:
    """Run fn(*args) calls in order on one thread; at most `depth` waiting."""

    def __init__(self, depth: int = 4, name: str = "wirescore-writer"):
        self._q: "queue.Queue" = queue.Queue(maxsize=depth)
        self._failed: set = set()                 # owners whose jobs are skipped
        self._failures: list = []                 # (owner, exception) not handed over yet
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._q.get()
            if job is None:
                return
            owner, fn, args = job
            if fn is _FLUSHED:
                args[0].set()            # even after a failure: wait() must return
                continue
            if owner in self._failed:
                continue
            try:
                fn(*args)
            except BaseException as exc:  # handed to the engine's thread
                with self._lock:
                    self._failed.add(owner)
                    self._failures.append((owner, exc))

    def submit(self, fn: Callable[..., Any], *args: Any, owner: Any = None) -> None:
        """Queue fn(*args) (blocks while `depth` jobs wait). Never raises a job's failure:
        see failures()."""
        self._q.put((owner, fn, args))

    def failures(self) -> list[tuple[Any, BaseException]]:
        """(owner, exception) of the jobs that failed since the last call."""
        with self._lock:
            out, self._failures = self._failures, []
        return out

    def wait(self) -> None:
        """Return once everything submitted so far has run (or been skipped)."""
        if not self._thread.is_alive():
            return
        done = threading.Event()
        self._q.put((None, _FLUSHED, (done,)))
        done.wait()

    def flush(self) -> None:
        """wait(), then raise the first failure not handed over yet."""
        self.wait()
        self._raise()

    def close(self) -> None:
        """Run everything submitted, stop the thread, raise the first failure not handed
        over yet."""
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        with self._lock:
            if not self._failures:
                return
            _, exc = self._failures.pop(0)
        raise exc
