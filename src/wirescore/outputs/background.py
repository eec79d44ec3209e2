"""A single background thread that runs output work in submission order.

The engine hands it the formatting and writing of EVE lines, so that on two CPUs the
core (nogil) and the output (format_flows is nogil, file writes release the GIL) run
side by side. One thread keeps the lines in exactly the order they were submitted.
A failure (disk full, ...) is raised in the submitting thread at the next submit()
or at close(), naming what failed.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable


def _FLUSHED(event: threading.Event) -> None:
    """Marker job of flush(): sets its event (the writer thread does, whatever failed)."""


class BackgroundWriter:
    """Run fn(*args) calls in order on one thread; at most `depth` waiting."""

    def __init__(self, depth: int = 4, name: str = "wirescore-writer"):
        self._q: "queue.Queue" = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._q.get()
            if job is None:
                return
            fn, args = job
            if fn is _FLUSHED:
                args[0].set()            # even after a failure: flush() must return
                continue
            if self._error is not None:
                continue                 # drain without running after a failure
            try:
                fn(*args)
            except BaseException as exc:  # raised in the engine's thread
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            exc, self._error = self._error, None
            raise exc

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._raise()
        self._q.put((fn, args))

    def flush(self) -> None:
        """Wait until everything submitted so far has run; raise a pending failure."""
        done = threading.Event()
        self._q.put((_FLUSHED, (done,)))
        done.wait()
        self._raise()

    def close(self) -> None:
        """Run everything submitted, stop the thread, raise a pending failure."""
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()
        self._raise()
