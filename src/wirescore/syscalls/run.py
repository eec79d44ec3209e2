"""A syscall run: event lines -> process windows -> process profiles -> EVE outputs.

    from wirescore.syscalls.run import SyscallEngine
    from wirescore.syscalls.source import open_syscalls
    summary = SyscallEngine(cfg, "logs", on_alert=print).run_source(
        open_syscalls(cfg, recording="tests/data/syscalls-burst.txt"))

The same outputs as a packet run: the main EVE output (outputs.eve.*: a file, socket,
Redis, syslog, stdout), lines ordered by their timestamps per window; the callbacks
on_alert(event), on_stats(event), on_status(StatusEvent), on_error(ErrorEvent)
(wirescore.status: source_opened, start, link_lost / link_back of a remote trace,
stopping, stop). Profiles: those with unit: process of the run's rules (the others
are packet profiles and are not run here). A line that does not parse is counted
(wirescore.syscalls.bad_lines), the first BAD_LINES_LOGGED logged with their line
number, and the run goes on. Stats events every outputs.stats.interval seconds of
trace time and at the end: uptime, detect.alert, and under
metadata.flowints.wirescore_syscalls the run's counters (events, bad_lines, windows,
names_replaced, gaps, gap_ms). stop() (thread- and signal-safe) ends the run after
the line at hand.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from wirescore.errors import StageFailure, WirescoreError
from wirescore.outputs.app_events import eve_types
from wirescore.outputs.background import BackgroundWriter
from wirescore.outputs.eve import Timestamps, common_fields, stats_event
from wirescore.outputs.eve_targets import main_output, open_output
from wirescore.outputs.paths import eve_filename, make_log_dir
from wirescore.outputs.sinks import CallbackSink, EveSink, WindowBatch
from wirescore.status import Reporter
from wirescore.syscalls.alerts import ProcessProfileDetector, alert_events
from wirescore.syscalls.parse import BadLine, parse_line
from wirescore.syscalls.windows import ProcessWindows

log = logging.getLogger(__name__)

BAD_LINES_LOGGED = 5


@dataclass
class SyscallSummary:
    """What one syscall run did."""

    source: str
    events: int
    bad_lines: int
    windows: int
    alerts: int
    elapsed: float
    counters: dict = field(default_factory=dict)
    eve_path: Optional[str] = None

    def line(self) -> str:
        return (f"{self.source}: {self.events} syscall events, {self.bad_lines} bad lines, "
                f"{self.windows} windows, {self.alerts} alerts, {self.elapsed:.2f} s")


class SyscallEngine:
    """Run a syscall source (wirescore.syscalls.source) through the process profiles."""

    def __init__(self, config, log_dir=".", *, profiles=None,
                 on_alert: Callable | None = None, on_stats: Callable | None = None,
                 on_status: Callable | None = None, on_error: Callable | None = None):
        """profiles: wirescore.rules.Profile list (default: detect.rules' or the shipped
        ones); only unit: process ones run."""
        self.config, self.log_dir = config, Path(log_dir)
        self.profiles = profiles
        self.on_alert, self.on_stats = on_alert, on_stats
        self.on_status, self.on_error = on_status, on_error
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def reopen_outputs(self) -> None:
        """SIGHUP: nothing to do between lines (the next run's file is reopened)."""

    def _detectors(self) -> list:
        from wirescore.alerts import load_profiles

        if not self.config["detect.enabled"]:
            return []
        profiles = self.profiles if self.profiles is not None else load_profiles(self.config)
        return [ProcessProfileDetector(p) for p in profiles or []
                if p.unit == "process" and p.enabled]

    def run_source(self, source) -> SyscallSummary:
        """Read source to its end (or stop()); the source is closed after. A source
        that fails (a trace that ends without --reconnect) raises its WirescoreError
        after the final stats and the stop event."""
        reporter = Reporter(source, self.on_status, self.on_error)
        run = None
        try:
            reporter.status("source_opened", f"{source.name}: opened ({reporter.mode})")
            run = _Run(self, source, reporter)
            run.loop()
        except BaseException as exc:
            if isinstance(exc, Exception):
                try:
                    reporter.failure(exc)
                except StageFailure as also:
                    log.error("also: %s", also)
            if run is not None:
                run.ended = exc
            raise
        finally:
            if run is not None:
                run.finish()
            else:
                source.close()
        return run.summary()


class _Run:
    """One run of SyscallEngine.run_source: its windows, detectors and sinks."""

    def __init__(self, engine: SyscallEngine, source, reporter: Reporter):
        cfg = engine.config
        self.engine, self.source, self.reporter = engine, source, reporter
        self.host = cfg["outputs.eve.sensor_name"] or socket.gethostname()
        if getattr(source, "mode", "") == "remote":
            self.host = source.name.rpartition("@")[2].removeprefix("ssh://")
        self.windows = ProcessWindows(self.host, cfg["syscalls.learn_seconds"],
                                      cfg["syscalls.max_names"])
        self.detectors = engine._detectors()
        self.ts = Timestamps()
        self.started = time.monotonic()
        self.events = self.bad = self.alerts = 0
        self.ended: Optional[BaseException] = None
        self.interval_us = int(cfg["outputs.stats.interval"] * 1e6)
        self.first_us: Optional[int] = None
        self.next_stats: Optional[int] = None
        out = main_output(cfg)
        make_log_dir(engine.log_dir)
        self.eve_path = (engine.log_dir / eve_filename(cfg) if out.filetype == "regular"
                         else out.describe())
        self.writer = BackgroundWriter()
        common = common_fields(cfg["outputs.eve.sensor_name"])
        try:
            self.eve = EveSink(open_output(out, engine.log_dir, source.mode != "file"),
                               out.describe(engine.log_dir), self.writer, True,
                               eve_types(out.types), common=common, stats_common=common)
        except BaseException:
            self.writer.close()
            raise
        self.sinks = [self.eve]
        if engine.on_alert or engine.on_stats:
            self.sinks.append(CallbackSink(on_alert=engine.on_alert,
                                           on_stats=engine.on_stats))
        reporter.status("start", f"{source.name}: running ({reporter.mode}), EVE to "
                        f"{self.eve_path}", log_dir=str(engine.log_dir),
                        eve=str(self.eve_path), detection=bool(self.detectors))

    def _send(self, kind: str, *items) -> None:
        for sink in self.sinks:
            try:
                getattr(sink, kind)(*items)
            except StageFailure:
                raise
            except Exception as exc:
                raise StageFailure(sink.name, exc) from exc
        for _, exc in self.writer.failures():
            raise StageFailure(self.eve.name, exc)

    def loop(self) -> None:
        number = 0
        for line in self.source.lines():
            if line is not None:
                number += 1
                self._line(number, line)
            for event in self.source.take_events():
                self.reporter.source_event(event)
            if self.engine._stop.is_set():
                self.reporter.status("stopping", f"{self.source.name}: stop requested")
                return

    def _line(self, number: int, line: str) -> None:
        try:
            event = parse_line(line)
        except BadLine as exc:
            self.bad += 1
            if self.bad <= BAD_LINES_LOGGED:
                log.warning("%s: line %d does not parse (%s): %r%s", self.source.name,
                            number, exc, line[:120],
                            "; further bad lines are only counted"
                            if self.bad == BAD_LINES_LOGGED else "")
            return
        if event is None:
            return
        self.events += 1
        closed = self.windows.add(event)
        if closed is not None:
            self._window(closed)

    def _window(self, records) -> None:
        end_us = int(records["end_us"][0])
        if self.first_us is None:
            self.first_us = int(records["start_us"][0])
            self.next_stats = self.first_us + self.interval_us if self.interval_us else None
        try:
            found = alert_events(self.detectors, records, self.ts, self.host)
        except Exception as exc:
            raise StageFailure("process profiles", exc) from exc
        if found:
            self.alerts += len(found)
            self._send("windows", WindowBatch(found))
        self._send("end_batch")
        if self.next_stats is not None and end_us >= self.next_stats:
            while self.next_stats <= end_us:
                self.next_stats += self.interval_us
            self.stats(end_us)

    def counters(self) -> dict:
        return {"wirescore.syscalls.events": self.events,
                "wirescore.syscalls.bad_lines": self.bad,
                **self.windows.counters(), **self.source.counters(),
                "detect.alert": self.alerts}

    def stats(self, now_us: int) -> None:
        event = stats_event({"uptime": int((now_us - (self.first_us or now_us)) / 1e6),
                             "detect.alert": self.alerts}, now_us, self.ts)
        figures = {k.rpartition(".")[2]: v for k, v in self.counters().items()
                   if k.startswith("wirescore.syscalls.")}
        event["metadata"] = {"flowints": {"wirescore_syscalls": figures}}
        self._send("stats", event)

    def finish(self) -> None:
        try:
            if self.ended is None or isinstance(self.ended, WirescoreError):
                end = self.windows.end_us
                self.stats(end if end is not None else int(time.time() * 1e6))
            self._send("end_batch")
        except StageFailure as exc:      # an output that failed: the run's error first
            if self.ended is None:
                raise
            log.error("also: %s", exc)
        finally:
            self.writer.wait()
            self.writer.close()
            for sink in self.sinks:
                sink.close()
            self.source.close()
            fault = str(self.ended) if self.ended else None
            self.reporter.status(
                "stop", f"{self.source.name}: stopped after {self.events} syscall events, "
                f"{self.alerts} alerts" + (f"; {fault}" if fault else ""),
                events=self.events, alerts=self.alerts, fault=fault,
                elapsed_s=round(time.monotonic() - self.started, 3))

    def summary(self) -> SyscallSummary:
        return SyscallSummary(self.source.name, self.events, self.bad,
                              self.windows.windows, self.alerts,
                              time.monotonic() - self.started, self.counters(),
                              str(self.eve_path))
