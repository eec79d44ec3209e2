"""Output sinks: where a run's flows, alerts and stats go.

A sink takes batches, never single packets or flows:

    flows(batch: FlowBatch)      finished flows, their scores and alerts
    windows(batch: WindowBatch)  the alerts of a batch of traffic windows
    app(batch: AppBatch)         app-layer events of one kind (outputs/app_events.py)
    app_alerts(batch: AppAlertBatch)  the app profiles' alerts over such a batch
    attempt_alerts(batch: AttemptAlertBatch)  alerts at connection attempts
    update_alerts(batch: UpdateAlertBatch)    alerts at updates of open flows
    stats(event: dict)           an EVE stats event
    end_batch()                  a batch is over (the meter's feed and everything it
                                 drained, or the shutdown's last flows), before its stats
    close()                      once, at the end of the run

and has a name that says what it writes, for the one line that reports its failure
("export flows.csv: No space left on device"). Every method may be left as the base
class has it (nothing to do).

Order: the engine calls its sinks in the order SnippetSink, EveSink, the alert logs
(AlertLogSink, outputs/alert_logs.py: CEF, notice), ExportSink, CallbackSink for every
batch. The snippet sink comes first because it names the file an
alert event cites (capture_file); the callbacks come last, so what they do with an event
cannot change what was written. A sink that raises is left out from then on; the others
go on (wirescore.engine says what the run does then).

EVE lines and snippet files are written on the run's BackgroundWriter thread, in
submission order (each job owned by its sink); the export and the callbacks run in the
engine's thread. The EVE sink formats a batch's lines as they come and writes them at
end_batch(), ordered by their timestamp (outputs/eve_order.py).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from wirescore.errors import StageFailure
from wirescore.outputs.app_events import EVE_TYPES, line_writer
from wirescore.outputs.eve import _dumps
from wirescore.outputs.eve_order import BatchLines

log = logging.getLogger(__name__)


@dataclass
class AlertEvent:
    """One alert on its way out: its EVE event (capture_file is added by the snippet
    sink), the profile's signature id, the flow or window record it is about, and the
    packet time of its timestamp (µs since the epoch: the EVE lines' sort key)."""

    event: dict
    signature_id: int
    record: np.void
    ts_us: int


class FlowBatch:
    """Finished flows (RECORD_DTYPE records, in the order they ended), with the scores
    of every flow profile (score.<id> -> one float per record, NaN where the profile's
    allowlist kept a flow from alerting; {} without detection), the alerts, and which
    records alerted (None when none did). events: the records as EVE flow event dicts,
    made on first use and shared by every sink that reads them."""

    def __init__(self, records: np.ndarray, formatter, scores: Optional[dict] = None,
                 alerts: Optional[list] = None, alerted: Optional[np.ndarray] = None):
        self.records = records
        self.scores = scores or {}
        self.alerts: list[AlertEvent] = alerts or []
        self.alerted = alerted
        self._formatter = formatter
        self._events: Optional[list] = None

    def __len__(self) -> int:
        return len(self.records)

    @property
    def events(self) -> list[dict]:
        if self._events is None:
            self._events = list(self._formatter.events(self.records, self.alerted))
        return self._events


@dataclass
class WindowBatch:
    """The alerts of the window profiles over one batch of traffic windows."""

    alerts: list


@dataclass
class AppAlertBatch:
    """The alerts of the app profiles over one batch of app-layer events."""

    alerts: list


@dataclass
class AttemptAlertBatch:
    """The alerts of the flow profiles with evidence: attempt over attempt records."""

    alerts: list


@dataclass
class UpdateAlertBatch:
    """The alerts of the flow profiles with evidence: update over flow update records."""

    alerts: list


#: an attempt alert's snippet: the client's packets from this long before the attempt
#: up to the alert (µs of packet time)
ATTEMPT_SNIPPET_BEFORE_US = 10_000_000


class Sink:
    """The sink interface (see the module docstring); every method does nothing here."""

    name = "sink"

    def flows(self, batch: FlowBatch) -> None:
        """Finished flows."""

    def windows(self, batch: WindowBatch) -> None:
        """Window alerts."""

    def app(self, batch) -> None:
        """App-layer events of one kind (an AppBatch)."""

    def app_alerts(self, batch: AppAlertBatch) -> None:
        """App profiles' alerts."""

    def attempt_alerts(self, batch: AttemptAlertBatch) -> None:
        """Alerts at connection attempts."""

    def update_alerts(self, batch: UpdateAlertBatch) -> None:
        """Alerts at updates of open flows."""

    def anomalies(self, records) -> None:
        """Decoder faults (ANOMALY_DTYPE records, outputs.eve.decode_anomalies)."""

    def stats(self, event: dict) -> None:
        """An EVE stats event."""

    def engine(self, events: list) -> None:
        """EVE engine events (what happened to the capture: a link lost, back), each a
        dict with its timestamp_us."""

    def end_batch(self) -> None:
        """The batch is over: write what was held back for it."""

    def close(self) -> None:
        """The run is over (after the writer thread has written everything)."""

    def counters(self) -> dict:
        """Counters of the sink's own for the run's summary (dotted names); read after
        close()."""
        return {}


class EveSink(Sink):
    """LOGDIR/<eve file>: a batch's alert, flow and app-layer event lines (flow and
    most app lines formatted in C), written at end_batch() in the order of their
    timestamps (equal ones in the order they came: alerts of a stage before its
    events); stats events after the batch unless with_stats is False (a worker whose
    parent writes the summed stats); only the event types in `types`
    (outputs.eve.types, default all); the lines formatted here (flows, app-layer
    events) hash their community_id with community_id_seed (0..65535; alert lines come
    made, by the run's FlowEventFormatter of the same seed); every line, stats too, gets
    the run's `common` fields (in_iface, host, pcap_filename: outputs/eve.py
    common_fields), stats lines `stats_common` (default: the same).
    reopen() starts a new file by name (SIGHUP, after logrotate)."""

    def __init__(self, eve, name: str, writer, with_stats: bool = True, types=EVE_TYPES,
                 community_id_seed: int = 0, common: bytes = b"",
                 stats_common: Optional[bytes] = None, ether: bool = False):
        """eve: where the lines go (outputs/eve_targets.py open_output: an EveWriter or
        a buffered peer output); name: what messages call it."""
        self.name = name
        self.writer = writer
        self.types = frozenset(types)
        self.with_stats = with_stats and "stats" in self.types
        self.eve = eve
        # touched on the writer thread only
        self.lines = BatchLines(self.eve, community_id_seed, common, stats_common, ether)

    def flows(self, batch: FlowBatch) -> None:
        if batch.alerts:
            self._alert_lines(batch.alerts)
        if "flow" in self.types:
            self.writer.submit(self.lines.add_flows, batch.records, batch.alerted,
                               owner=self)

    def windows(self, batch: WindowBatch) -> None:
        self._alert_lines(batch.alerts)

    def app_alerts(self, batch: AppAlertBatch) -> None:
        self._alert_lines(batch.alerts)

    def attempt_alerts(self, batch: AttemptAlertBatch) -> None:
        self._alert_lines(batch.alerts)

    def update_alerts(self, batch: UpdateAlertBatch) -> None:
        self._alert_lines(batch.alerts)

    def anomalies(self, records) -> None:
        if "anomaly" in self.types:
            self.writer.submit(self.lines.add_anomalies, records, owner=self)

    def app(self, batch) -> None:
        if batch.kind in self.types:
            self.writer.submit(self.lines.add_app, batch.kind, batch.records, owner=self)

    def _alert_lines(self, alerts: list) -> None:
        if "alert" not in self.types:
            return
        lines = [_dumps(a.event) for a in alerts]     # now: later changes are not written
        stamps = np.fromiter((a.ts_us for a in alerts), np.int64, len(alerts))
        self.writer.submit(self.lines.add_lines, stamps, lines, owner=self)

    def engine(self, events: list) -> None:
        if "engine" not in self.types:
            return
        stamps = np.fromiter((e["timestamp_us"] for e in events), np.int64, len(events))
        lines = [_dumps(e["event"]) for e in events]
        self.writer.submit(self.lines.add_lines, stamps, lines, owner=self)

    def end_batch(self) -> None:
        self.writer.submit(self.lines.write, owner=self)

    def stats(self, event: dict) -> None:
        if self.with_stats:
            self.writer.submit(self.lines.write_stats, event, owner=self)

    def reopen(self) -> None:
        self.writer.submit(self.eve.reopen, owner=self)

    def close(self) -> None:
        """Lines of a batch not ended yet are written (a run that stopped early), then
        the file closed."""
        try:
            self.lines.write()
        finally:
            self.eve.close()

    def counters(self) -> dict:
        """The output's own counters (a peer output's lines sent, dropped, reconnects),
        read after close()."""
        return self.eve.counters()


class ExportSink(Sink):
    """--export: one row per finished flow (wirescore.outputs.export); live, buffer_bytes:
    FlowExporter's (a live run's failed write is counted, not fatal)."""

    label = "export"

    def __init__(self, path: str | os.PathLike, score_columns=(), live: bool = False,
                 buffer_bytes: int = 64 << 20, feature_set: str | None = None,
                 linktype: int = 1):
        from wirescore.outputs.export import FlowExporter

        self.name = f"export {path}"
        self.exporter = FlowExporter(path, score_columns, live=live,
                                     buffer_bytes=buffer_bytes, feature_set=feature_set,
                                     linktype=linktype)

    def flows(self, batch: FlowBatch) -> None:
        self.exporter.write(batch.records, batch.events, batch.scores)

    def close(self) -> None:
        self.exporter.close()

    def counters(self) -> dict:
        return self.exporter.counters()

    def health(self) -> dict:
        return self.exporter.health()


class SnippetSink(Sink):
    """The packets behind each alert, still in the core's ring (ring: the run's
    MeterStage), as a pcap in LOGDIR/pcaps/ (wirescore.outputs.snippets); the alert
    event names it in capture_file, relative to the log directory."""

    label = "snippets"

    def __init__(self, store, ring, writer, log_dir: Path):
        self.name = f"snippets {store.folder}"
        self.store, self.ring, self.writer, self.log_dir = store, ring, writer, log_dir

    def flows(self, batch: FlowBatch) -> None:
        for a in batch.alerts:
            flow_id = int(a.record["flow_id"])
            self._keep(a, flow_id, *self.ring.flow_packets(flow_id))

    def windows(self, batch: WindowBatch) -> None:
        for a in batch.alerts:
            self._keep(a, int(a.record["start_us"]), *self.ring.window_packets(a.record))

    def app_alerts(self, batch: AppAlertBatch) -> None:
        for a in batch.alerts:
            flow_id = int(a.record["flow_id"])
            self._keep(a, flow_id, *self.ring.flow_packets(flow_id))

    def attempt_alerts(self, batch: AttemptAlertBatch) -> None:
        """The client's packets in the ring from ATTEMPT_SNIPPET_BEFORE_US before the
        attempt up to the alert (its probes, not one flow's packets)."""
        for a in batch.alerts:
            r = a.record
            start = int(r["attempt_us"]) - ATTEMPT_SNIPPET_BEFORE_US
            self._keep(a, int(r["flow_id"]),
                       *self.ring.host_packets(r, start, int(r["ts_us"]) + 1))

    def update_alerts(self, batch: UpdateAlertBatch) -> None:
        """The flow's packets in the ring up to the update's packet (end_us)."""
        for a in batch.alerts:
            flow_id = int(a.record["flow_id"])
            self._keep(a, flow_id,
                       *self.ring.flow_packets_until(flow_id, int(a.record["end_us"])))

    def _keep(self, alert: AlertEvent, tag: int, data, meta) -> None:
        path = self.store.name_for(alert.signature_id, tag)
        self.writer.submit(self.store.write, path, data, meta, owner=self)
        alert.event["capture_file"] = str(path.relative_to(self.log_dir))

    def counters(self) -> dict:
        return self.store.counters()

    def health(self) -> dict:
        return self.store.health()

    def close(self) -> None:
        store = self.store
        if store.written:
            log.info("%s: %d snippet files written%s", store.folder, store.written,
                     f", {store.deleted} older ones deleted to stay within "
                     "--snippet-max-files and --snippet-max-bytes" if store.deleted else "")


class CallbackSink(Sink):
    """The embedding API's callbacks (each optional): on_flow(records, events),
    on_alert(event) for every alert, flow alerts of a batch before its on_flow,
    on_app(kind, records, events) for app-layer events, on_stats(event). A callback that
    raises is named: "callback on_flow: ..."."""

    name = "callbacks"

    def __init__(self, on_flow: Callable | None = None, on_alert: Callable | None = None,
                 on_stats: Callable | None = None, on_app: Callable | None = None):
        self.on_flow, self.on_alert, self.on_stats = on_flow, on_alert, on_stats
        self.on_app = on_app

    def flows(self, batch: FlowBatch) -> None:
        self._alerts(batch.alerts)
        if self.on_flow is not None:
            self._call("on_flow", batch.records, batch.events)

    def windows(self, batch: WindowBatch) -> None:
        self._alerts(batch.alerts)

    def app_alerts(self, batch: AppAlertBatch) -> None:
        self._alerts(batch.alerts)

    def attempt_alerts(self, batch: AttemptAlertBatch) -> None:
        self._alerts(batch.alerts)

    def update_alerts(self, batch: UpdateAlertBatch) -> None:
        self._alerts(batch.alerts)

    def app(self, batch) -> None:
        if self.on_app is not None:
            self._call("on_app", batch.kind, batch.records, batch.events)

    def _alerts(self, alerts: list) -> None:
        if self.on_alert is not None:
            for a in alerts:
                self._call("on_alert", a.event)

    def stats(self, event: dict) -> None:
        if self.on_stats is not None:
            self._call("on_stats", event)

    def _call(self, name: str, *args) -> None:
        try:
            getattr(self, name)(*args)
        except Exception as exc:
            raise StageFailure(f"callback {name}", exc) from exc
