"""A run reporting itself: the status and error events of the embedding API.

    def on_status(event):                 # a StatusEvent
        print(event.kind, event.message)
    def on_error(event):                  # an ErrorEvent
        print("fatal" if event.fatal else "survived", event.where, event.message)
    Engine(cfg, "logs", on_status=on_status, on_error=on_error).run("capture.pcap")

Status events (StatusEvent.kind, in the order a run gives them; details per kind):
- "source_opened": the packet source is open (before any output). details: linktype
  (libpcap DLT), size_bytes (None for a pipe, a live or remote source), iface (live,
  remote) or None.
- "start": every output is open, the first batch is next. details: log_dir, eve (the
  main EVE output), detection (bool).
- "link_lost": a live interface went away, or a remote source's ssh session ended, and
  the run goes on waiting for it (the same moment is an ErrorEvent with fatal False).
  details: packets (read so far).
- "link_back": capturing again. details: seconds (without capture, this time), and for
  a remote source reconnect (its count) and attempts (sessions opened to get back).
- "stopping": engine.stop() was seen (a signal, a callback, another thread); the flows
  are being ended and written.
- "stop": the run is over, everything written and closed. details: packets, flows,
  alerts, elapsed_s (seconds), fault (the message that ended the run early, or None).

Error events (ErrorEvent): kind is "capture" (the input broke: a damaged capture, a live
interface lost with --exit-on-link-loss), "connection" (a remote source's session or a
reconnection attempt failed), "profile" (a detection model raised), "output" (a sink
could not write), "callback" (an API callback raised) or "internal" (a bug); where names
the part (the source, "profile 9100002 (model tail)", "eve.json", "callback on_flow");
fatal tells whether the run stops (True: after writing what it has, as the README's
Failures section says; False: it goes on, e.g. while a remote source reconnects).

Every event also has message (one line, as the log says it), time (wall clock, seconds
since the epoch), source (the source's name) and mode ("file", "pipe", "live",
"remote", or what a custom source's mode attribute says; "source" when it has none).

A callback that raises is a failure of the run, as on_flow's is: the run stops and
names it ("callback on_status: ValueError: ..."); an on_error that raises while a
failure is being reported is logged, and the run ends with the first failure.
Callbacks run in the engine's thread, between batches.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from wirescore.errors import StageFailure, WirescoreError

log = logging.getLogger(__name__)

STATUS_KINDS = ("source_opened", "start", "link_lost", "link_back", "stopping", "stop")
ERROR_KINDS = ("capture", "connection", "profile", "output", "callback", "internal")


@dataclass(frozen=True)
class StatusEvent:
    """A change in a run's state (module docstring): kind, message, source, mode, time
    (epoch seconds), details (per kind)."""

    kind: str
    message: str
    source: str
    mode: str
    time: float = field(default_factory=time.time)
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorEvent:
    """A failure (module docstring): kind, where (the part), message, fatal (the run
    stops), source, mode, time (epoch seconds), details."""

    kind: str
    where: str
    message: str
    fatal: bool
    source: str
    mode: str
    time: float = field(default_factory=time.time)
    details: dict = field(default_factory=dict)


def source_mode(source) -> str:
    """The source's mode attribute ("file", "pipe", "live", "remote"), else "source"."""
    return str(getattr(source, "mode", "source"))


def failure_kind(exc: BaseException) -> tuple[str, Optional[str]]:
    """(kind, where) of what ended a run: a StageFailure by its stage's name, a
    CaptureFault as the capture; where None means the source."""
    if isinstance(exc, StageFailure):
        stage = exc.stage
        if stage.startswith("callback "):
            return "callback", stage
        if stage.startswith("profile "):
            return "profile", stage
        return "output", stage
    if isinstance(exc, WirescoreError):
        return "capture", None
    return "internal", None


class Reporter:
    """Hands a run's status and error events to on_status and on_error (each optional).

    status() and error() raise StageFailure("callback on_status" / "callback on_error")
    when the callback raises, for the engine to treat as any failed callback."""

    def __init__(self, source, on_status: Optional[Callable] = None,
                 on_error: Optional[Callable] = None):
        self.source_name = str(getattr(source, "name", source))
        self.mode = source_mode(source)
        self.on_status, self.on_error = on_status, on_error

    def status(self, kind: str, message: str, when: Optional[float] = None,
               **details) -> None:
        if self.on_status is None:
            return
        event = StatusEvent(kind, message, self.source_name, self.mode,
                            time.time() if when is None else when, details)
        try:
            self.on_status(event)
        except Exception as exc:
            raise StageFailure("callback on_status", exc) from exc

    def error(self, kind: str, where: Optional[str], message: str, fatal: bool,
              when: Optional[float] = None, **details) -> None:
        if self.on_error is None:
            return
        event = ErrorEvent(kind, where or self.source_name, message, fatal,
                           self.source_name, self.mode,
                           time.time() if when is None else when, details)
        try:
            self.on_error(event)
        except Exception as exc:
            raise StageFailure("callback on_error", exc) from exc

    def failure(self, exc: BaseException) -> None:
        """A failure that stops the run, as an ErrorEvent with fatal True."""
        kind, where = failure_kind(exc)
        self.error(kind, where, str(exc) if isinstance(exc, WirescoreError)
                   else f"internal error: {type(exc).__name__}: {exc}", True)

    def source_event(self, event: dict) -> None:
        """A source's take_events() entry (live.py, remote.py): kind "link_lost" is an
        ErrorEvent (fatal False) then a StatusEvent; "link_back" a StatusEvent;
        "reconnect_failed" an ErrorEvent (fatal False); anything else a StatusEvent of
        its kind ("source" without one)."""
        kind = event.get("kind", "source")
        when = event["timestamp_us"] / 1e6
        details = dict(event.get("details", {}))
        if kind in ("link_lost", "reconnect_failed"):
            self.error("connection" if self.mode == "remote" else "capture", None,
                       event["message"], False, when, **details)
        if kind != "reconnect_failed":
            self.status(kind, event["message"], when, **details)


def log_status(event: StatusEvent) -> None:
    """An on_status that logs (the command line's): lifecycle events at debug (-v),
    since the sources log what they see themselves as it happens."""
    log.debug("%s: %s (%s)", event.kind, event.message, event.mode)


def log_error(event: ErrorEvent) -> None:
    """An on_error that logs (the command line's) at debug: a fatal error is the
    command's one-line error, a survived one the source's own warning."""
    log.debug("error%s: %s: %s", "" if event.fatal else " (run goes on)", event.where,
              event.message)
