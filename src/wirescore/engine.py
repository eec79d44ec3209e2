"""The engine: batches from a packet source through the core to the outputs.

    source.batches() -> MeterStage (the core) -> AlertStage (detection) -> sinks:
    snippets (LOGDIR/pcaps/), eve.json, --export, callbacks

eve.json follows packet time: the lines of one batch (a feed of the core and everything
it drains, expiry included; each drain of the shutdown) are written at the batch's end,
ordered by timestamp (outputs/eve_order.py). Stats events every outputs.stats.interval
seconds of packet time, after their batch, and at the end. This is also the embedding
API, and the command line is a thin layer over it:

    from wirescore.config import Config
    from wirescore.engine import Engine
    summary = Engine(Config.load(overrides={"detect.enabled": False}),
                     log_dir="logs").run("capture.pcap")

Callbacks (each optional) receive batches, never single packets:
    on_flow(records: ndarray[RECORD_DTYPE], events: list[dict])   finished flows
    on_alert(event: dict)          each EVE alert event, as its stage decides it (stage
                                   order; eve.json writes a batch's lines by timestamp)
    on_app(kind: str, records: ndarray, events: list[dict])   app-layer events of one
                                   kind ("dns": DNS_EVENT_DTYPE records and their EVE
                                   dns events), a flow's before its on_flow
    on_stats(event: dict)          each EVE stats event
    on_progress(progress: Progress) after every batch
    on_status(event: StatusEvent)  the run's state: source opened, start, link lost and
                                   back (a live interface, a remote source's ssh
                                   session), stopping, stop (wirescore.status)
    on_error(event: ErrorEvent)    what failed, where, and whether the run goes on
stop() may be called from another thread or a signal handler: the engine finishes the
batch at hand, ends every flow (reason shutdown), writes stats and returns.

Every output is opened before the first packet (one-line WirescoreError naming the path
when it cannot be). A damaged capture, or a failure in a detection profile's model, a
sink or a callback, stops the run the same way: the flows of the batch at hand and every
flow still open (reason shutdown) are written to every sink that still works (after a
profile failed, without detection: an alert decided by a broken model is worth nothing),
then the final stats event; run_source() then raises RunFault, whose message names what
failed ("profile 9100002 (model tail): ValueError: ...") and whose .summary tells what
was written. The rule is to keep the evidence and stop loudly: a run never goes on
quietly with a profile, a sink or a callback missing.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from wirescore import health
from wirescore.alerts import AlertStage, load_profiles
from wirescore.capture import CaptureFault
from wirescore.config import Config
from wirescore.errors import StageFailure, WirescoreError
from wirescore.meter import MeterStage
from wirescore.outputs.alert_logs import open_alert_logs
from wirescore.outputs.app_events import FORMATTERS, AppBatch, eve_types
from wirescore.outputs.background import BackgroundWriter
from wirescore.outputs.eve import (FlowEventFormatter, Timestamps, common_fields, engine_event,
                                   stats_event)
from wirescore.outputs.eve_targets import also_outputs, main_output, open_output
from wirescore.outputs.paths import SNIPPETS_DIR, eve_filename, make_log_dir
from wirescore.outputs.sinks import (CallbackSink, EveSink, ExportSink, FlowBatch,
                                     SnippetSink)
from wirescore.status import Reporter

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Running totals handed to on_progress after each batch."""

    source: str
    packets: int = 0
    flows: int = 0
    bytes_read: int = 0          # input bytes consumed (a live source: frame bytes)
    size_bytes: Optional[int] = None
    packet_clock: Optional[float] = None   # latest packet time (s), None before the first
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


class RunFault(WirescoreError):
    """The run stopped early (the capture broke part-way, or a profile, sink or callback
    failed); .summary tells what was processed and written."""

    def __init__(self, message: str, summary: Summary):
        super().__init__(message)
        self.summary = summary


class Engine:
    """Run captures through the flow core and write EVE output into log_dir."""

    def __init__(self, config: Config, log_dir: str | Path = ".", *,
                 profiles=None, on_flow: Callable | None = None,
                 on_alert: Callable | None = None, on_stats: Callable | None = None,
                 on_progress: Callable | None = None, eve_stats: bool = True,
                 on_app: Callable | None = None, on_status: Callable | None = None,
                 on_error: Callable | None = None, worker: int = 0):
        """profiles: a list of wirescore.rules.Profile (default: the rules that the
        detect.rules setting names, or the shipped ones). eve_stats=False leaves stats
        events out of eve.json (on_stats still gets them: a worker's parent writes
        the stats summed over its workers). on_status, on_error: wirescore.status.
        worker: the --workers process number this engine runs in (1..N; 0: the run's
        only process), which its snippet names carry."""
        self.config = config
        self.log_dir = Path(log_dir)
        self.profiles = profiles
        self.callbacks = {"on_flow": on_flow, "on_alert": on_alert, "on_stats": on_stats,
                          "on_app": on_app}
        self.on_progress = on_progress
        self.on_status, self.on_error = on_status, on_error
        self.eve_stats = eve_stats
        self.worker = worker
        self._stop = threading.Event()
        self._reopen = threading.Event()

    def stop(self) -> None:
        """Ask a running engine to finish (thread- and signal-safe)."""
        self._stop.set()

    def reopen_outputs(self) -> None:
        """Reopen eve.json and the alert logs after the batch at hand (SIGHUP, after
        logrotate); thread- and signal-safe."""
        self._reopen.set()

    def run(self, path: str) -> Summary:
        """Process one capture file ("-" for standard input, ssh://host/IFACE for a
        remote interface: wirescore.sources) to the end."""
        from wirescore.sources import open_input

        return self.run_source(open_input(path, self.config))

    def run_source(self, source) -> Summary:
        """Process any packet source to its end (or until stop()); the source is closed
        after. The source protocol (name, size_bytes, linktype, batches() yielding (data,
        meta, linktype), expiry_clock(), stats(), close()) is wirescore.capture's."""
        reporter = Reporter(source, self.on_status, self.on_error)
        try:
            reporter.status("source_opened", f"{source.name}: opened ({reporter.mode})",
                            linktype=source.linktype, size_bytes=source.size_bytes,
                            iface=getattr(source, "iface", None))
            run = _Run(self, source, reporter)
        except BaseException as exc:
            source.close()
            _report_quietly(reporter, exc)
            raise
        try:
            run.started()
            for data, meta, linktype in source.batches():
                run.took(meta)
                run.meter.feed(data, meta, linktype, run.windows, run.flows, run.app, run.arp,
                               run.attempts, run.updates, run.anomalies)
                clock = source.expiry_clock()
                if clock is not None:            # a quiet source still ages its flows
                    run.meter.expire(clock, run.flows, run.app, run.attempts, run.windows,
                                     run.updates)
                run.after_batch(len(data))
                if self._stop.is_set():
                    log.info("stop requested: ending flows and writing stats")
                    run.report("status", "stopping", f"{source.name}: stop requested: "
                               "ending flows and writing stats")
                    break
        except (CaptureFault, StageFailure) as exc:
            run.fail(exc)
        except BaseException as exc:         # a bug, or KeyboardInterrupt: reported, raised
            _report_quietly(reporter, exc)
            raise
        finally:
            run.finish()
        return run.summary()


def _report_quietly(reporter: Reporter, exc: BaseException) -> None:
    """An error that ends run_source by an exception, to on_error (whose own failure is
    only logged: the exception at hand is the one to raise)."""
    if isinstance(exc, Exception):
        try:
            reporter.failure(exc)
        except StageFailure as also:
            log.error("also: %s", also)


class _StatsClock:
    """When stats events are due: every interval_s seconds of packet time from the
    first packet (0: only at the end)."""

    def __init__(self, interval_s: float):
        self.interval_us = int(interval_s * 1e6)
        self.first_us: Optional[int] = None
        self.next_us: Optional[int] = None

    def start(self, meta) -> None:
        if meta.shape[0] and self.first_us is None:
            self.first_us = int(meta[0, 0]) * 1_000_000 + int(meta[0, 1])
            self.next_us = self.first_us + self.interval_us if self.interval_us else None

    def due(self, clock: Optional[float]) -> Optional[int]:
        """The stats time (µs) when an event is due at packet time clock, else None."""
        if self.next_us is None or clock is None or clock * 1e6 < self.next_us:
            return None
        self.next_us += self.interval_us * max(1, int((clock * 1e6 - self.next_us)
                                                      // self.interval_us) + 1)
        return int(clock * 1e6)

    def uptime(self, now_us: int) -> float:
        return (now_us - (self.first_us or now_us)) / 1e6


def is_live(source) -> bool:
    """Whether `source` captures live (-i: it has an interface): then a file output that
    cannot be written keeps its lines and retries instead of ending the run, and a
    snippet or export write that fails is counted, not fatal. A file or standard input
    (-r) is not live: a write failure ends the run, with whole lines."""
    return getattr(source, "iface", None) is not None


def eve_common(cfg, source, stats: bool = False) -> bytes:
    """The fields of every EVE line of a run over `source` (outputs/eve.py
    common_fields): host from outputs.eve.sensor_name; pcap_filename, with
    outputs.eve.pcap_filename on, the path of a capture file as given (a live source
    or standard input, "-", has none); in_iface, a live source's interface (not on
    stats lines: stats=True)."""
    path = getattr(source, "path", None)
    keep = cfg["outputs.eve.pcap_filename"] and path not in (None, "-")
    iface = None if stats else getattr(source, "iface", None)
    return common_fields(cfg["outputs.eve.sensor_name"], path if keep else None, iface)


def _output_health(eve) -> dict:
    """An EVE output's health() ({} for one that has none: a peer output, standard
    output)."""
    figures = getattr(eve, "health", None)
    return figures() if callable(figures) else {}


class _Run:
    """One run of Engine.run_source: its stages, sinks and running totals. Everything
    is opened here, before the first packet."""

    def __init__(self, engine: Engine, source, reporter: Reporter):
        cfg = engine.config
        self.engine, self.source, self.reporter = engine, source, reporter
        self.live = is_live(source)
        self.started_at = time.monotonic()   # for the health object's uptime
        self.last_packet_us: Optional[int] = None
        self.outputs = [main_output(cfg), *also_outputs(cfg)]
        eve_path = (engine.log_dir / eve_filename(cfg) if self.outputs[0].filetype == "regular"
                    else self.outputs[0].describe())
        make_log_dir(engine.log_dir)
        detector = None
        if cfg["detect.enabled"]:
            from wirescore.detect import Detector

            profiles = engine.profiles
            detector = Detector(load_profiles(cfg) if profiles is None else profiles,
                                app_rows=cfg["detect.firstseen_rows"])
        self.detector = detector
        self.eve_types = frozenset().union(*(eve_types(o.types) for o in self.outputs))
        self.meter = MeterStage(cfg, detector, source.linktype,
                                records_read=engine.callbacks["on_flow"] is not None,
                                app_events=engine.callbacks["on_app"] is not None
                                or bool(self.eve_types & set(FORMATTERS))
                                or bool(detector is not None and detector.app_detectors))
        seed = cfg["outputs.eve.community_id_seed"]
        self.formatter = FlowEventFormatter(seed, cfg["outputs.eve.ethernet"])
        self.ts = Timestamps()
        self.app_formatters = {kind: f(seed) for kind, f in FORMATTERS.items()}
        self.alerts = AlertStage(detector, self.formatter, self.ts) if detector else None
        self.writer = BackgroundWriter()
        try:
            self.sinks = self._open_sinks(cfg, detector)
        except BaseException:
            self.writer.close()
            raise
        self.all_sinks = list(self.sinks)        # self.sinks loses those that fail
        self.eve_path = eve_path
        self.clock = _StatsClock(cfg["outputs.stats.interval"])
        self.progress = Progress(source.name, size_bytes=source.size_bytes)
        self.packets_in = self.flows_out = self.alerts_out = 0
        self.ended: Optional[WirescoreError] = None      # what stopped the run early
        self.finishing = False
        self._reporting_failure = False

    def _open_eves(self, cfg) -> list:
        """One EveSink per EVE output (the main one first); one that cannot open closes
        those opened before it."""
        common, stats_common = eve_common(cfg, self.source), eve_common(cfg, self.source, True)
        eves: list = []
        try:
            for out in self.outputs:
                eves.append(EveSink(open_output(out, self.engine.log_dir, self.live),
                                    out.describe(self.engine.log_dir),
                                    self.writer, self.engine.eve_stats, eve_types(out.types),
                                    cfg["outputs.eve.community_id_seed"], common,
                                    stats_common, cfg["outputs.eve.ethernet"]))
        except BaseException:
            for sink in eves:
                sink.close()
            raise
        return eves

    def _open_sinks(self, cfg, detector) -> list:
        engine = self.engine
        self.eves = self._open_eves(cfg)
        self.eve = self.eves[0]
        sinks = list(self.eves)
        try:
            if detector is not None and cfg["outputs.snippets.enabled"]:
                from wirescore.outputs.snippets import SnippetStore

                store = SnippetStore(engine.log_dir / SNIPPETS_DIR, self.source.linktype,
                                     cfg["outputs.snippets.max_files"],
                                     cfg["outputs.snippets.max_bytes"], live=self.live,
                                     worker=engine.worker)
                sinks.insert(0, SnippetSink(store, self.meter, self.writer, engine.log_dir))
            # the alert logs right after the EVE sink: the snippet sink (first) has
            # named each alert's capture_file by then, and the callbacks (last) cannot
            # change what they write
            after_eve = sinks.index(self.eve) + 1
            sinks[after_eve:after_eve] = open_alert_logs(cfg, engine.log_dir, self.live)
            if cfg["outputs.export"]:
                sinks.append(ExportSink(cfg["outputs.export"],
                                        detector.score_columns if detector else (),
                                        live=self.live,
                                        buffer_bytes=cfg["outputs.eve.buffer_mb"] << 20,
                                        feature_set=cfg["outputs.export_feature_set"],
                                        linktype=self.source.linktype))
        except BaseException:
            for sink in sinks:
                sink.close()
            raise
        if any(engine.callbacks.values()):
            sinks.append(CallbackSink(**engine.callbacks))
        return sinks

    # ------------------------------------------------------------------ the stages

    def took(self, meta) -> None:
        self.clock.start(meta)
        self.packets_in += meta.shape[0]
        if meta.shape[0]:
            self.last_packet_us = int(meta[-1, 0]) * 1_000_000 + int(meta[-1, 1])

    def flows(self, records) -> None:
        """Finished flows, with the attempt and update records held since the last
        call: detection, then the alerts at attempts and updates and the flows to
        every sink."""
        if len(records) == 0 and not (self.alerts is not None and self.alerts.holding):
            return
        out = None
        if self.alerts is not None:
            try:
                out = self.alerts.flows(records)
            except StageFailure as exc:
                self.alerts = None               # this batch and the rest undecided
                self.fail(exc)
        batch = out.flows if out is not None else FlowBatch(records, self.formatter)
        if out is not None:
            for sink_method, found in (("attempt_alerts", out.attempts),
                                       ("update_alerts", out.updates)):
                if found is not None:
                    self._send(sink_method, found)
                    self.alerts_out += len(found.alerts)
        if len(records):
            self._send("flows", batch)
        self.flows_out += len(records)
        self.alerts_out += len(batch.alerts)
        self._stop_if_failed()

    def app(self, kind: str, records) -> None:
        """App-layer events of one kind: the app profiles' alerts, then the events, to
        every sink."""
        if len(records):
            batch = AppBatch(kind, records, self.app_formatters[kind])
            if self.alerts is not None:
                try:
                    found = self.alerts.app(batch)
                except StageFailure as exc:
                    self.alerts, found = None, None
                    self.fail(exc)
                if found is not None:
                    self._send("app_alerts", found)
                    self.alerts_out += len(found.alerts)
            self._send("app", batch)
            self._stop_if_failed()

    def windows(self, windows) -> None:
        """Window records: the window profiles' alerts to every sink."""
        if self.alerts is None:
            return
        try:
            batch = self.alerts.windows(windows)
        except StageFailure as exc:
            self.alerts, batch = None, None
            self.fail(exc)
        if batch is not None:
            self._send("windows", batch)
            self.alerts_out += len(batch.alerts)
        self._stop_if_failed()

    def arp(self, records) -> None:
        """ARP records: the ARP profiles' alerts to every sink (as alerts about the
        sender's ARP frames in the ring: AppAlertBatch)."""
        if self.alerts is None:
            return
        try:
            batch = self.alerts.arp(records)
        except StageFailure as exc:
            self.alerts, batch = None, None
            self.fail(exc)
        if batch is not None:
            self._send("app_alerts", batch)
            self.alerts_out += len(batch.alerts)
        self._stop_if_failed()

    def anomalies(self, records) -> None:
        """Decoder faults (outputs.eve.decode_anomalies): anomaly events to every sink."""
        self._send("anomalies", records)
        self._stop_if_failed()

    def attempts(self, records) -> None:
        """Attempt records: held by the alert stage until the flows of the same drain
        (flows()), which decides them with those flows (the records are not written)."""
        if self.alerts is not None:
            self.alerts.hold_attempts(records)

    def updates(self, records) -> None:
        """Flow update records: held like attempts()."""
        if self.alerts is not None:
            self.alerts.hold_updates(records)

    def stats(self, now_us: int, final: bool = False) -> None:
        """A stats event at packet time now_us: the meter's counters, and detect.alert,
        Suricata's count of alerts raised so far (every alert sent to the sinks, whether
        or not outputs.eve.types writes alert lines; 0 without detection), with the
        run's health object (wirescore/health.py; final: the run's last event)."""
        source_stats = self.source.stats()
        counters = self.meter.stats_counters(source_stats, self.clock.uptime(now_us),
                                             self.packets_in)
        counters["detect.alert"] = self.alerts_out
        event = stats_event(counters, now_us, self.ts)
        health.put(event, self.health(now_us, source_stats, final))
        self._send("stats", event)

    def health(self, now_us: int, source_stats: dict, final: bool) -> dict:
        """The health object of a stats event (wirescore/health.py)."""
        if final:
            state = ("failed" if self.ended is not None else
                     "stopped" if self.engine._stop.is_set() else "finished")
        else:
            state = getattr(self.source, "capture_state", None) or "running"
        uptime = (time.monotonic() - self.started_at if self.live
                  else self.clock.uptime(now_us))
        last = None if self.last_packet_us is None else self.ts(self.last_packet_us)
        outputs = {getattr(sink.eve, "label", sink.name): _output_health(sink.eve)
                   for sink in self.eves}
        for sink in self.sinks:
            if sink not in self.eves and callable(getattr(sink, "health", None)):
                outputs[sink.label] = sink.health()
        out = health.build(uptime, state, last, source_stats.get("kernel_drops", 0),
                           outputs)
        if hasattr(self.source, "link_downs"):         # a live interface
            health.put_link(out, self.source.link_downs,
                            self.source.seconds_without_capture())
        return out

    def after_batch(self, nbytes: int) -> None:
        """The batch's EVE lines (in packet-time order), stats when due, a requested
        reopen, progress."""
        self._capture_events()
        self._send("end_batch")
        now_us = self.clock.due(self.meter.packet_clock)
        if now_us is not None:
            self.stats(now_us)
        if self.engine._reopen.is_set():
            self.engine._reopen.clear()
            self._reopen()
        p = self.progress
        p.packets, p.flows = self.packets_in, self.flows_out
        p.bytes_read += nbytes
        p.packet_clock = self.meter.packet_clock
        if self.engine.on_progress is not None:
            try:
                self.engine.on_progress(p)
            except Exception as exc:
                raise StageFailure("callback on_progress", exc) from exc

    def _capture_events(self) -> None:
        """What the source reported about itself (a live link lost, back) as EVE engine
        events of this batch."""
        take = getattr(self.source, "take_events", None)
        events = take() if take is not None else None
        if events:
            self._send("engine", [{"timestamp_us": e["timestamp_us"],
                                   "event": engine_event(e["timestamp_us"], e["log_level"],
                                                         e["module"], e["message"], self.ts)}
                                  for e in events])
            for e in events:
                self.report("source_event", e)
            self._stop_if_failed()

    def _reopen(self) -> None:
        """Every sink with a file by name (eve.json, the alert logs) starts a new one
        (SIGHUP, after logrotate); one that cannot is lost as a failed write would be."""
        for sink in list(self.sinks):
            if hasattr(sink, "reopen"):
                try:
                    sink.reopen()
                except Exception as exc:
                    self._lose(sink, exc)

    # ------------------------------------------------------------------ failures

    def _send(self, kind: str, *items) -> None:
        for sink in list(self.sinks):
            try:
                getattr(sink, kind)(*items)
            except Exception as exc:
                self._lose(sink, exc)
        self._writer_failures()

    def _writer_failures(self) -> None:
        for sink, exc in self.writer.failures():
            self._lose(sink, exc)

    def _lose(self, sink, exc: Exception) -> None:
        """Leave a failed sink out from now on; its failure ends the run."""
        if sink in self.sinks:
            self.sinks.remove(sink)
        self.fail(exc if isinstance(exc, StageFailure) else StageFailure(sink.name, exc))

    def fail(self, exc: WirescoreError) -> None:
        """Record what stops the run: the first failure is the run's; later ones are
        logged. Each goes to on_error (fatal); an on_error that raises then is logged."""
        if self.ended is None:
            self.ended = exc
        elif exc is self.ended:          # raised again to leave the loop: known already
            return
        else:
            log.error("also: %s", exc)
        if self._reporting_failure:
            return
        self._reporting_failure = True
        try:
            self.reporter.failure(exc)
        except StageFailure as also:
            log.error("also: %s", also)
        finally:
            self._reporting_failure = False

    def report(self, method: str, *args, **details) -> None:
        """A status or error event through the Reporter; a callback that raises fails
        the run as any callback does."""
        try:
            getattr(self.reporter, method)(*args, **details)
        except StageFailure as exc:
            self.fail(exc)

    def started(self) -> None:
        """The start event: outputs open, the first batch next."""
        self.report("status", "start", f"{self.source.name}: running ({self.reporter.mode}), "
                    f"EVE to {self.eve_path}", log_dir=str(self.engine.log_dir),
                    eve=str(self.eve_path), detection=self.detector is not None)
        self._stop_if_failed()

    def _stop_if_failed(self) -> None:
        if self.ended is not None and not self.finishing:
            raise self.ended

    # ------------------------------------------------------------------ the end

    def finish(self) -> None:
        """End every flow, write the final stats, close the sinks and the source. Each
        drain of the shutdown is a batch (the first one also holds what the batch at hand
        of a run that stopped early decided)."""
        self.finishing = True
        try:
            self.meter.shutdown(self.windows, self.flows, self._end_batch, self.app,
                                self.attempts)
            self._send("end_batch")
            clock = self.meter.packet_clock
            # no packet at all: stamp the stats with the wall clock (nothing to replay)
            self.stats(int(clock * 1e6) if clock is not None else int(time.time() * 1e6),
                       final=True)
        finally:
            self._send("end_batch")
            self._flush()
            self.writer.close()
            for sink in list(self.sinks):
                try:
                    sink.close()
                except Exception as exc:
                    self._lose(sink, exc)
            self.source.close()
            self._report_stop()

    def _report_stop(self) -> None:
        self.report("status", "stop", f"{self.source.name}: stopped after "
                    f"{self.packets_in} packets, {self.flows_out} flows, {self.alerts_out} "
                    "alerts" + (f"; {self.ended}" if self.ended else ""),
                    packets=self.packets_in, flows=self.flows_out, alerts=self.alerts_out,
                    elapsed_s=round(self.progress.elapsed, 3),
                    fault=str(self.ended) if self.ended else None)

    def _flush(self) -> None:
        self.writer.wait()
        self._writer_failures()

    def _end_batch(self) -> None:
        """A batch of the shutdown is over: its lines out, written before the next."""
        self._send("end_batch")
        self._flush()

    def summary(self) -> Summary:
        """The run's Summary; raises RunFault (carrying it) when the run stopped early."""
        counters = self.meter.counters()
        if self.detector is not None:
            counters.update(self.detector.counters())
        for sink in self.all_sinks:
            counters.update(sink.counters())
        link_downs = getattr(self.source, "link_downs", 0)
        if link_downs:
            counters["wirescore.capture.link_down"] = link_downs
            counters["wirescore.capture.link_down_ms"] = int(
                self.source.seconds_without_capture() * 1000)
        more = getattr(self.source, "summary_counters", None)
        if more is not None:
            counters.update(more())
        summary = Summary(
            source=self.source.name, packets=counters["decoder.pkts"], flows=self.flows_out,
            alerts=self.alerts_out, decode_errors=counters["decoder.invalid"],
            nonip=counters["wirescore.nonip"], elapsed=self.progress.elapsed,
            counters=counters, nonip_ethertypes=self.meter.nonip_ethertypes,
            fault=str(self.ended) if self.ended else None, eve_path=str(self.eve_path))
        if self.ended is not None:
            raise RunFault(str(self.ended), summary) from self.ended
        return summary
