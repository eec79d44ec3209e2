"""The engine: batches from a source through the core to the outputs.

    source.batches() -> FlowMeter.feed() -> drain() -> EVE flow lines, export rows,
    on_flow callbacks; stats events every outputs.stats.interval seconds of packet
    time and at the end.

This is also the embedding API, and the CLI is a thin layer over it:

    from wirescore.config import Config
    from wirescore.engine import Engine
    summary = Engine(Config.load(overrides={"detect.enabled": False}),
                     log_dir="logs").run("capture.pcap")

Callbacks (each optional) receive batches, never single packets:
    on_flow(records: ndarray[RECORD_DTYPE], events: list[dict])
    on_alert(event: dict)          each EVE alert event, before it is written
    on_stats(event: dict)          the EVE stats event just written
    on_progress(progress: Progress) after every batch
stop() may be called from another thread or a signal handler: the engine finishes the
batch at hand, ends every flow (reason shutdown), writes stats and returns.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from wirescore.capture import CaptureFault, open_source
from wirescore.config import Config
from wirescore.errors import WirescoreError
from wirescore.outputs.background import BackgroundWriter

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Running totals handed to on_progress after each batch."""

    source: str
    packets: int = 0
    flows: int = 0
    bytes_read: int = 0          # capture-file bytes consumed (estimate for pcapng)
    size_bytes: Optional[int] = None
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Summary:
    """What one run did. counters holds every core counter by dotted name."""

    source: str
    packets: int
    flows: int
    alerts: int
    decode_errors: int
    nonip: int
    elapsed: float
    counters: dict
    nonip_ethertypes: dict
    fault: Optional[str] = None
    eve_path: Optional[str] = None

    @property
    def packets_per_second(self) -> float:
        return self.packets / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        text = (f"{self.source}: {self.packets} packets, {self.flows} flows, "
                f"{self.alerts} alerts, {self.decode_errors} decode errors, "
                f"{self.nonip} non-IP, {self.elapsed:.2f} s "
                f"({self.packets_per_second:,.0f} packets/s)")
        return text + (f"; stopped early: {self.fault}" if self.fault else "")


def stats_counters(names, values, meter, source_stats, uptime_s, packets_in) -> dict:
    """Counters for the EVE stats event: only names Suricata's schema knows.

    packets_in: packets handed to the core so far (capture.kernel_packets)."""
    out = {"uptime": int(uptime_s), "capture.kernel_packets": int(packets_in)}
    out.update({f"capture.{k}": int(v) for k, v in source_stats.items()})
    for name, value in zip(names, values.tolist()):
        if not name.startswith("wirescore."):
            out[name] = int(value)
    out["flow.active"] = int(meter.active_flows)
    out["flow.memuse"] = int(meter.memuse)
    return out


class Engine:
    """Run captures through the flow core and write EVE output into log_dir."""

    def __init__(self, config: Config, log_dir: str | Path = ".", *,
                 profiles=None, on_flow: Callable | None = None,
                 on_alert: Callable | None = None, on_stats: Callable | None = None,
                 on_progress: Callable | None = None):
        """profiles: a list of wirescore.rules.Profile (default: the rules that the
        detect.rules setting names, or the shipped ones)."""
        self.config = config
        self.profiles = profiles
        self.on_alert = on_alert
        self.log_dir = Path(log_dir)
        self.on_flow = on_flow
        self.on_stats = on_stats
        self.on_progress = on_progress
        self._stop = threading.Event()
        self._eve = None
        self._writer = None

    def stop(self) -> None:
        """Ask a running engine to finish (thread- and signal-safe)."""
        self._stop.set()

    def reopen_outputs(self) -> None:
        """Reopen eve.json (SIGHUP, after logrotate), between two writes."""
        eve, writer = self._eve, self._writer
        if eve is not None and writer is not None:
            writer.submit(eve.reopen)

    def run(self, path: str) -> Summary:
        """Process one capture file (or "-" for standard input) to the end."""
        cfg = self.config
        source = open_source(path, bpf=cfg["capture.bpf"], batch_size=cfg["capture.batch_size"])
        return self.run_source(source)

    def run_source(self, source) -> Summary:
        """Process any packet source to its end (or until stop()).

        A source has: name (str), linktype (libpcap DLT), size_bytes (int or None),
        batches() yielding (data: bytes, meta: (n, 4) uint32 array of sec, usec, offset,
        caplen) and raising wirescore.capture.CaptureFault after the last good batch
        when the input breaks, stats() -> {"kernel_drops": N, ...} (capture.* counters),
        and close(). A source with live = True may yield empty batches (read
        timeouts): the engine then also ages flows against the wall clock."""
        from wirescore._core.flowtable import COUNTER_NAMES, FlowMeter
        from wirescore.outputs.eve import (EveWriter, FlowEventFormatter, Timestamps, _dumps,
                                           alert_event, stats_event, window_alert_event)
        from wirescore.outputs.export import FlowExporter

        cfg = self.config
        name = cfg["outputs.eve.filename"]
        if (not name or name in (".", "..") or "/" in name or "\0" in name
                or os.sep in name):
            raise WirescoreError(f"outputs.eve.filename {name!r}: must be a plain file name "
                                 "inside the log directory (no /, no NUL, not . or ..)")
        try:
            if not self.log_dir.exists():
                self.log_dir.mkdir(parents=True, mode=0o750)
                os.chmod(self.log_dir, 0o750)      # whatever the umask
        except OSError as exc:
            raise WirescoreError(f"{self.log_dir}: cannot create log directory: "
                                 f"{exc.strerror}") from None
        detector = None
        if cfg["detect.enabled"]:
            from wirescore.detect import Detector
            from wirescore.rules import default_rules_dir, load_paths

            rules = self.profiles
            if rules is None:
                paths = cfg["detect.rules"].split(",") if cfg["detect.rules"] else \
                    [default_rules_dir()]
                rules = load_paths(paths)
            detector = Detector(rules)
        meter = FlowMeter(source.linktype, max_flows=cfg["flow.max_flows"],
                          timeouts=cfg.timeouts(), active_timeout=cfg["flow.active_timeout"],
                          tcp_close=cfg["flow.tcp_close"], out_capacity=8192,
                          # the context tables (about 27 MB, and a share of the
                          # core's time) only when something reads ctx.* columns: the
                          # export, a profile, or on_flow (it is handed the records)
                          context=cfg["flow.context"] and bool(
                              cfg["outputs.export"] or self.on_flow is not None
                              or (detector and detector.uses_context)),
                          context_hosts=cfg["flow.context_hosts"],
                          window_max_keys=cfg["flow.window_max_keys"],
                          window_seconds=detector.window_seconds if detector else 0.0,
                          window_keys=detector.window_keys if detector else (),
                          ring_bytes=cfg["outputs.snippets.ring_bytes"]
                          if detector is not None and cfg["outputs.snippets.enabled"] else 0)
        eve_path = self.log_dir / cfg["outputs.eve.filename"]
        try:
            self._eve = eve = EveWriter(eve_path)
        except OSError as exc:
            raise WirescoreError(f"{eve_path}: cannot open for writing: {exc.strerror}") from None
        snippets = None
        if detector is not None and cfg["outputs.snippets.enabled"]:
            from wirescore.outputs.snippets import SnippetStore

            snippets = SnippetStore(self.log_dir / "pcaps", source.linktype,
                                    cfg["outputs.snippets.max_files"],
                                    cfg["outputs.snippets.max_bytes"])
        exporter = FlowExporter(cfg["outputs.export"],
                                detector.score_columns if detector else ()) \
            if cfg["outputs.export"] else None
        self._writer = writer = BackgroundWriter()
        formatter = FlowEventFormatter()
        ts_fmt = Timestamps()
        interval_us = int(cfg["outputs.stats.interval"] * 1e6)
        progress = Progress(source.name, size_bytes=source.size_bytes)
        flows = 0
        alerts_written = 0
        packets_in = 0
        first_us = None
        next_stats = None
        fault = None

        def emit(records: np.ndarray) -> None:
            nonlocal flows, alerts_written
            if len(records) == 0:
                return
            scores, alerts, alerted = {}, [], None
            if detector is not None:
                scores, alerts = detector.process(records)
            if alerts:
                alerted = np.zeros(len(records), dtype=bool)
                alerted[[a.index for a in alerts]] = True
                lines = []
                for a in alerts:
                    flow_ev = next(iter(formatter.events(records[a.index:a.index + 1],
                                                         [True])))
                    event = alert_event(flow_ev, a, flow_ev["flow"]["end"])
                    if snippets is not None:
                        flow_id = int(records[a.index]["flow_id"])
                        path = snippets.name_for(a.profile.id, flow_id)
                        data, meta = meter.ring_flow(flow_id)
                        writer.submit(snippets.write, path, data, meta)
                        event["capture_file"] = str(path.relative_to(self.log_dir))
                    lines.append(_dumps(event))
                    if self.on_alert is not None:
                        self.on_alert(event)
                writer.submit(eve.write_lines, lines)
                alerts_written += len(alerts)
            writer.submit(_write_flows, eve, records, alerted)
            if exporter is not None or self.on_flow is not None:
                events = list(formatter.events(records, alerted))
                if exporter is not None:
                    exporter.write(records, events, scores)
                if self.on_flow is not None:
                    self.on_flow(records, events)
            flows += len(records)

        def emit_windows(windows: np.ndarray) -> None:
            nonlocal alerts_written
            if detector is None or len(windows) == 0:
                return
            found = detector.process_windows(windows)
            if not found:
                return
            lines = []
            for window, a in found:
                event = window_alert_event(window, a, ts_fmt)
                if snippets is not None:
                    path = snippets.name_for(a.profile.id, int(window["start_us"]))
                    data, meta = _key_packets(meter, window)
                    writer.submit(snippets.write, path, data, meta)
                    event["capture_file"] = str(path.relative_to(self.log_dir))
                lines.append(_dumps(event))
                if self.on_alert is not None:
                    self.on_alert(event)
            writer.submit(eve.write_lines, lines)
            alerts_written += len(found)

        def write_stats(now_us: int) -> None:
            event = stats_event(stats_counters(COUNTER_NAMES, meter.counters, meter,
                                               source.stats(),
                                               (now_us - (first_us or now_us)) / 1e6,
                                               packets_in),
                                now_us, ts_fmt)
            writer.submit(eve.write_event, event)
            if self.on_stats is not None:
                self.on_stats(event)

        try:
            live = bool(getattr(source, "live", False))
            for data, meta in source.batches():
                i, n = 0, meta.shape[0]
                if n and first_us is None:
                    first_us = int(meta[0, 0]) * 1_000_000 + int(meta[0, 1])
                    next_stats = first_us + interval_us if interval_us else None
                packets_in += n
                while i < n:
                    i = meter.feed(data, meta, i)
                    emit_windows(meter.drain_windows())
                    emit(meter.drain())
                if live:
                    # a quiet interface still ages its flows (and gets its stats)
                    while not meter.expire(time.time()):
                        emit(meter.drain())
                    emit(meter.drain())
                clock = meter.packet_clock
                if next_stats is not None and clock is not None and clock * 1e6 >= next_stats:
                    write_stats(int(clock * 1e6))
                    next_stats += interval_us * max(1, int((clock * 1e6 - next_stats)
                                                          // interval_us) + 1)
                progress.packets = packets_in
                progress.flows = flows
                progress.bytes_read += len(data) + 16 * n
                if self.on_progress is not None:
                    self.on_progress(progress)
                if self._stop.is_set():
                    log.info("stop requested: ending flows and writing stats")
                    break
        except CaptureFault as exc:
            fault = exc
        finally:
            meter.close_window()
            emit_windows(meter.drain_windows())
            while meter.shutdown():
                emit(meter.drain())
                # one batch in flight at a time: a million flows ending at once would
                # otherwise queue several 8192-record batches and their lines (~50 MB)
                writer.flush()
            emit(meter.drain())
            clock = meter.packet_clock
            # no packet at all: stamp the stats with the wall clock (nothing to replay)
            end_us = int(clock * 1e6) if clock is not None else int(time.time() * 1e6)
            write_stats(end_us)
            self._writer = None
            try:
                writer.close()
            except OSError as exc:
                raise WirescoreError(f"{eve_path}: cannot write: {exc.strerror}") from None
            finally:
                eve.close()
                self._eve = None
            if exporter is not None:
                exporter.close()
            source.close()

        counters = dict(zip(COUNTER_NAMES, (int(v) for v in meter.counters)))
        summary = Summary(
            source=source.name, packets=counters["decoder.pkts"], flows=flows,
            alerts=alerts_written,
            decode_errors=counters["decoder.invalid"], nonip=counters["wirescore.nonip"],
            elapsed=progress.elapsed, counters=counters,
            nonip_ethertypes=meter.nonip_ethertypes,
            fault=str(fault) if fault else None, eve_path=str(eve_path))
        if fault is not None:
            raise RunFault(str(fault), summary)
        return summary


class RunFault(WirescoreError):
    """The capture broke part-way; .summary tells what was processed and written."""

    def __init__(self, message: str, summary: Summary):
        super().__init__(message)
        self.summary = summary


def _write_flows(eve, records, alerted=None) -> None:
    """Writer-thread job: format flow records as EVE lines (nogil) and append them."""
    eve.write_records(records, alerted)


def _key_packets(meter, window):
    """The window's packets of its key (source or destination) still in the ring,
    selected in the core (FlowMeter.ring_key: no Python object per packet)."""
    start, end = window["start_us"] / 1e6, window["end_us"] / 1e6
    kind = int(window["kind"])
    if kind == 0:
        return meter.ring_between(start, end)
    version = int(window["ip_version"])
    key = bytes(window["addr"][:4 if version == 4 else 16])
    return meter.ring_key(kind, key, version, start, end)
