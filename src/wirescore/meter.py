"""The flow core of a run: a FlowMeter built from the settings, fed batch by batch.

    meter = MeterStage(cfg, detector, source.linktype)
    meter.feed(data, meta, linktype, windows=on_windows, flows=on_flows, app=on_app,
               attempts=on_attempts, updates=on_updates)
    meter.expire(clock, flows=on_flows, attempts=on_attempts,   # a source's expiry clock
                 windows=on_windows, updates=on_updates)
    meter.shutdown(on_windows, on_flows, flush, attempts=on_attempts)   # end of input

Each drained batch of window records (closed windows, then the early records of open
ones), of ARP records, of app-layer events (per kind), of
attempt records, of flow update records and of finished flow records goes to the
callables given (the engine's stages), in that order (an attempt's or an update's alert
comes before the alert its flow's end would give, and suppresses it); FlowMeter.feed
stops early when a record or event buffer is full, so a batch of packets can give several
drains.

meter_options() is the builder: what the settings and the detector ask of the core.
Endpoint context (about 32 MB by default, and a share of the core's time) is kept only when
something reads ctx.* columns (a profile, --export, or an on_flow callback, which is
handed the records: train and eval read them); the packet ring only when alerts
can ask for snippets; traffic windows only for window profiles; the ARP tables only for
ARP profiles; pending attempts (scans.pxd, pending.pxd) only for a
flow profile with evidence: attempt; flow updates only for one with evidence: update;
early window records only for a window profile with evidence: early; app-layer events only
when something writes or reads them (the application layer itself runs whenever
app.enabled: the flow records' app_* fields need it).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

#: FlowMeter's output buffer: finished flows per drain at most
OUT_CAPACITY = 8192


def meter_options(cfg, detector, records_read: bool = False, app_events: bool = True) -> dict:
    """FlowMeter keyword arguments for these settings and detector (None: no detection);
    records_read: a caller is handed the flow records (their ctx.* columns too);
    app_events: something writes or reads app-layer events."""
    snippets = detector is not None and cfg["outputs.snippets.enabled"]
    return dict(
        app=cfg["app.enabled"], app_flows=cfg["app.max_flows"], app_streams=cfg["app.streams"],
        app_budgets=cfg.app_budgets(), app_events=app_events,
        app_first_bytes=cfg["app.first_bytes"],
        max_flows=cfg["flow.max_flows"], timeouts=cfg.timeouts(),
        active_timeout=cfg["flow.active_timeout"], tcp_close=cfg["flow.tcp_close"],
        out_capacity=OUT_CAPACITY,
        context=cfg["flow.context"] and bool(
            cfg["outputs.export"] or records_read
            or (detector is not None and detector.uses_context)),
        context_hosts=cfg["flow.context_hosts"],
        window_max_keys=cfg["flow.window_max_keys"],
        window_seconds=detector.window_seconds if detector is not None else 0.0,
        window_keys=detector.window_keys if detector is not None else (),
        arp_hosts=cfg["flow.arp_hosts"] if detector is not None and detector.arp_detectors
        else 0,
        scan_pending=cfg["flow.scan_pending"] if attempts_wanted(cfg, detector) else 0,
        scan_grace=cfg["flow.scan_grace"],
        update_interval=cfg["flow.update_interval"] if updates_wanted(detector) else 0.0,
        quiet_after=cfg["flow.quiet_after"],
        window_early=cfg["window.early_packets"] if early_wanted(detector) else 0,
        ring_bytes=cfg["outputs.snippets.ring_bytes"] if snippets else 0,
        anomalies=cfg["outputs.eve.decode_anomalies"], macs=cfg["outputs.eve.ethernet"],
        splt=splt_wanted(cfg, detector), pktstats=pktstats_wanted(cfg, detector),
        activity_timeout=cfg["flow.activity_timeout"])


def splt_wanted(cfg, detector) -> int:
    """First packets per flow the records keep: flow.splt_packets, or more when the
    exported feature set or a profile's reads more (wirescore.featuresets)."""
    from wirescore.featuresets import splt_packets

    sets = [cfg["outputs.export_feature_set"]]
    if detector is not None:
        sets += detector.feature_sets
    return max(cfg["flow.splt_packets"], splt_packets(sets))


def pktstats_wanted(cfg, detector) -> bool:
    """Whether the records keep per-packet statistics (ext/pktstats.pxd): when the
    exported feature set or a profile's reads them (the cicflowmeter set), or
    flow.packet_stats."""
    from wirescore.featuresets import packet_stats

    sets = [cfg["outputs.export_feature_set"]]
    if detector is not None:
        sets += detector.feature_sets
    return cfg["flow.packet_stats"] or packet_stats(sets)


def attempts_wanted(cfg, detector) -> bool:
    """Whether a profile scores attempt records (and the scan tables are kept)."""
    return bool(cfg["flow.context"] and detector is not None
                and detector.evidence_detectors)


def updates_wanted(detector) -> bool:
    """Whether a profile scores flow update records (and the core writes them)."""
    return detector is not None and bool(detector.update_detectors)


def early_wanted(detector) -> bool:
    """Whether a window profile scores early window records (and the core writes them)."""
    return detector is not None and bool(detector.early_detectors)


class MeterStage:
    """The run's FlowMeter (see the module docstring). linktype: the source's first
    link type, the meter's default."""

    def __init__(self, cfg, detector, linktype: int, records_read: bool = False,
                 app_events: bool = True):
        from wirescore._core.flowtable import COUNTER_NAMES, FlowMeter

        self.core = FlowMeter(linktype, **meter_options(cfg, detector, records_read,
                                                        app_events))
        self.linktype = linktype
        self._names = COUNTER_NAMES

    def feed(self, data, meta: np.ndarray, linktype: int, windows: Callable,
             flows: Callable, app: Callable | None = None,
             arp: Callable | None = None, attempts: Callable | None = None,
             updates: Callable | None = None, anomalies: Callable | None = None) -> None:
        """Every packet of one batch (all of link type `linktype`) into the core;
        app(kind, records) gets each kind's app-layer events, arp(records) the ARP
        records, attempts(records) the attempt records, updates(records) the flow update
        records, anomalies(records) the decoder faults (None: dropped)."""
        core, i, n = self.core, 0, meta.shape[0]
        while i < n:
            # FlowMeter.feed's link type defaults to the one it was built with
            i = (core.feed(data, meta, i) if linktype == self.linktype
                 else core.feed(data, meta, i, linktype))
            records = core.drain_anomalies()
            if anomalies is not None and len(records):
                anomalies(records)
            windows(self._windows())
            records = core.drain_arp()
            if arp is not None and len(records):
                arp(records)
            self._app(app)
            self._attempts(attempts)
            records = core.drain_updates()
            if updates is not None and len(records):
                updates(records)
            flows(core.drain())

    def _windows(self) -> np.ndarray:
        """The window records closed since the last drain, then the early records
        (early 1) written since then, in one array."""
        records = self.core.drain_windows()
        early = self.core.drain_window_updates()
        return np.concatenate([records, early]) if len(early) else records

    def _attempts(self, attempts: Callable | None) -> None:
        """Hand over the attempt records confirmed since the last drain (None: dropped)."""
        records = self.core.drain_attempts()
        if attempts is not None and len(records):
            attempts(records)

    def _app(self, app: Callable | None) -> None:
        """Hand over each kind's app-layer events (None: dropped)."""
        for kind, records in self.core.drain_app().items():
            if app is not None and len(records):
                app(kind, records)

    def expire(self, clock: float, flows: Callable, app: Callable | None = None,
               attempts: Callable | None = None, windows: Callable | None = None,
               updates: Callable | None = None) -> None:
        """End the flows idle at `clock` (seconds since the epoch, packet clock), write
        the quiet updates due, confirm the attempts due and close the traffic window
        when `clock` is past its end; the app-layer events the flows' ends write (a TLS
        handshake cut short) go to app, the attempt records to attempts, the window's
        records to windows, the update records to updates (None: they wait for the
        next feed's drain)."""
        done = False
        while not done:
            done = self.core.expire(clock)
            if windows is not None:
                records = self._windows()
                if len(records):
                    windows(records)
            self._app(app)
            self._attempts(attempts)
            if updates is not None:
                records = self.core.drain_updates()
                if len(records):
                    updates(records)
            flows(self.core.drain())

    def shutdown(self, windows: Callable, flows: Callable, flush: Callable,
                 app: Callable | None = None, attempts: Callable | None = None) -> None:
        """End the open window, confirm every pending attempt (attempts gets their
        records), end every flow (reason shutdown; a closed TCP flow still
        lingering keeps its reason). flush() is called after each drain: one batch in
        flight at a time, since a million flows ending at once would otherwise queue
        several batches and their lines (~50 MB)."""
        self.core.close_window()
        windows(self.core.drain_windows())
        while self.core.shutdown():
            self._app(app)
            self._attempts(attempts)
            flows(self.core.drain())
            flush()
        self._app(app)
        self._attempts(attempts)
        flows(self.core.drain())

    @property
    def packet_clock(self):
        """The latest packet time seen (seconds), None before the first packet."""
        return self.core.packet_clock

    def counters(self) -> dict:
        """Every core counter by dotted name."""
        return dict(zip(self._names, (int(v) for v in self.core.counters)))

    @property
    def nonip_ethertypes(self) -> dict:
        return self.core.nonip_ethertypes

    def stats_counters(self, source_stats: dict, uptime_s: float, packets_in: int) -> dict:
        """Counters for the EVE stats event: only names Suricata's schema knows.
        packets_in: packets handed to the core so far (capture.kernel_packets);
        capture.errors: records the core could not read plus the source's own errors
        (a live link lost)."""
        out = {"uptime": int(uptime_s), "capture.kernel_packets": int(packets_in)}
        source = {k: int(v) for k, v in source_stats.items()}
        source_errors = source.pop("errors", 0)
        out.update({f"capture.{k}": v for k, v in source.items()})
        for name, value in zip(self._names, self.core.counters.tolist()):
            if not name.startswith("wirescore."):
                out[name] = int(value)
        out["capture.errors"] = out.get("capture.errors", 0) + source_errors
        out["flow.active"] = int(self.core.active_flows)
        out["flow.memuse"] = int(self.core.memuse)
        return out

    def flow_packets(self, flow_id: int):
        """(data, meta) of the flow's packets still in the ring."""
        return self.core.ring_flow(flow_id)

    def flow_packets_until(self, flow_id: int, end_us: int):
        """(data, meta) of the flow's packets still in the ring up to end_us (µs of
        packet time, inclusive): an update alert's evidence, without the packets the
        core took after the update."""
        data, meta = self.core.ring_flow(flow_id)
        keep = meta[:, 0].astype(np.int64) * 1_000_000 + meta[:, 1] <= end_us
        if keep.all():
            return data, meta
        ends = np.cumsum(meta[:, 2], dtype=np.int64)
        starts = ends - meta[:, 2]
        return (b"".join(data[a:b] for a, b in zip(starts[keep].tolist(), ends[keep].tolist())),
                meta[keep])

    def host_packets(self, record, start_us: int, end_us: int):
        """The packets whose source is the record's src_addr (of its ip_version) with
        start_us <= time < end_us still in the ring (an attempt alert's evidence: the
        client's packets before it)."""
        version = int(record["ip_version"])
        key = bytes(record["src_addr"][:4 if version == 4 else 16])
        return self.core.ring_key(1, key, version, start_us / 1e6, end_us / 1e6)

    def window_packets(self, window):
        """The window's packets of its key (source or destination) still in the ring,
        selected in the core (no Python object per packet); every packet of the window
        for a window without a key."""
        # an early record's end is its checkpoint packet, which belongs to it
        end_us = int(window["end_us"]) + (1 if window["early"] else 0)
        start, end = window["start_us"] / 1e6, end_us / 1e6
        kind = int(window["kind"])
        if kind == 0:
            return self.core.ring_between(start, end)
        version = int(window["ip_version"])
        key = bytes(window["addr"][:4 if version == 4 else 16])
        return self.core.ring_key(kind, key, version, start, end)
