"""The server's memory of an EVE stream: a bounded alert index plus counters over all.

Every alert read is counted (total, by severity, by signature, top sources and
destinations, per minute by severity); only the newest `max_alerts` are kept to be listed
and opened. Flow events are kept (newest `max_flows`) so that an alert opens to its flow,
whichever of the two came first; a flow an indexed alert names is attached to the alert.
Stats events give packets/s, decode errors and drops; flow events give flows/s.

Alert ids are 1, 2, 3... in the order alerts were read (a cursor for `since=`); an id
older than the index holds is 'evicted', not unknown. Time in charts is the events' own
timestamp (packet time: a replayed 2010 capture charts 2010), in whole seconds (UTC).
"""
from __future__ import annotations

import json
import logging
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Optional

from wirescore.serve.settings import ServeSettings

log = logging.getLogger(__name__)

SEVERITIES = (1, 2, 3, 4)


@dataclass
class Alert:
    """One indexed alert: a summary for lists and the EVE line it came from."""

    id: int
    timestamp: str
    epoch: Optional[float]                 # timestamp in s since the epoch (None: none)
    severity: int
    signature_id: int
    signature: str
    src_ip: str
    dest_ip: str
    src_port: Optional[int]
    dest_port: Optional[int]
    proto: str
    score: Optional[float]
    features: list
    capture_file: Optional[str]
    flow_id: Optional[int]
    line: bytes
    flow_line: Optional[bytes] = field(default=None, repr=False)

    def summary(self) -> dict:
        """What the feed shows (JSON-ready)."""
        return {"id": self.id, "timestamp": self.timestamp, "severity": self.severity,
                "signature_id": self.signature_id, "signature": self.signature,
                "src_ip": self.src_ip, "src_port": self.src_port, "dest_ip": self.dest_ip,
                "dest_port": self.dest_port, "proto": self.proto, "score": self.score,
                "features": self.features, "flow_id": self.flow_id,
                "has_pcap": bool(self.capture_file)}

    def detail(self) -> dict:
        """The summary, the whole EVE event and its flow event (None until read)."""
        out = self.summary()
        out["event"] = json.loads(self.line)
        out["flow"] = json.loads(self.flow_line) if self.flow_line else None
        out["explanation"] = explanation(out["event"])
        return out


def epoch_of(text) -> Optional[float]:
    """s since the epoch of an EVE timestamp ('2010-07-04T20:24:39.360213+0000'); None
    when there is none or it does not parse."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            return None


def explanation(event: dict) -> list[str]:
    """Why the alert fired, as lines: wirescore's metadata (what crossed, the features
    that stood out, the score against its threshold, the window); for another engine's
    alert (Suricata) its category and signature."""
    alert = event.get("alert") or {}
    meta = alert.get("metadata") or {}
    lines = [f"crossed: {c}" for c in meta.get("wirescore_crossed", [])]
    lines += [f"stood out: {f}" for f in meta.get("wirescore_features", [])]
    for key, label in (("wirescore_score", "score"), ("wirescore_threshold", "threshold"),
                       ("wirescore_model", "model"), ("wirescore_unit", "unit"),
                       ("wirescore_window", "window")):
        if meta.get(key):
            lines.append(f"{label}: {', '.join(map(str, meta[key]))}")
    if not lines:
        lines = [f"category: {alert.get('category', '-')}",
                 f"signature: {alert.get('signature', '-')}"]
    return lines


def _score(event: dict, alert: dict) -> Optional[float]:
    ctx = ((alert.get("context") or event.get("context") or {}).get("wirescore")
           or {}).get("score")
    if isinstance(ctx, (int, float)):
        return float(ctx)
    try:
        return float(alert.get("metadata", {}).get("wirescore_score", [None])[0])
    except (TypeError, ValueError, IndexError, AttributeError):
        return None


def _int_or_none(value) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class TalkerCount:
    """Alerts per address, for at most `limit` addresses: past 2*limit the least-counted
    half is dropped (`dropped` counts the addresses dropped). The top ones are exact as
    long as they stay above the dropped ones."""

    def __init__(self, limit: int):
        self.limit, self.counts, self.dropped = max(1, limit), Counter(), 0

    def add(self, key: str) -> None:
        self.counts[key] += 1
        if len(self.counts) > 2 * self.limit:
            keep = dict(self.counts.most_common(self.limit))
            self.dropped += len(self.counts) - len(keep)
            self.counts = Counter(keep)

    def top(self, n: int) -> list:
        return [{"address": k, "alerts": v} for k, v in self.counts.most_common(n)]


class EventIndex:
    """What the server knows of the stream (module docstring). Not thread-safe: one
    owner (the server's event loop) calls add_line() and the queries."""

    def __init__(self, settings: ServeSettings = ServeSettings()):
        self.settings = settings
        self.alerts: "OrderedDict[int, Alert]" = OrderedDict()
        self.flows: "OrderedDict[int, bytes]" = OrderedDict()
        self._waiting: dict[int, list[int]] = {}          # flow_id -> alert ids
        self.next_id = 1
        self.counts = Counter()          # events by type, plus 'bad_lines', 'evicted'
        self.by_severity = Counter()
        self.by_signature: Counter = Counter()
        self.signatures: dict[int, str] = {}
        self.sources = TalkerCount(settings.max_talkers)
        self.destinations = TalkerCount(settings.max_talkers)
        self.flows_per_s: "OrderedDict[int, int]" = OrderedDict()
        self.alerts_per_min: "OrderedDict[int, list]" = OrderedDict()
        self.stats_points: deque = deque(maxlen=settings.series_seconds)
        self.last_stats: Optional[dict] = None
        self._prev_stats: Optional[tuple] = None
        self.newest_epoch: Optional[float] = None

    # -- reading ---------------------------------------------------------------------
    def add_lines(self, lines: Iterable[bytes]) -> list[Alert]:
        """Index EVE lines; returns the alerts among them (in order)."""
        out = []
        for line in lines:
            alert = self.add_line(line)
            if alert is not None:
                out.append(alert)
        return out

    def add_line(self, line: bytes) -> Optional[Alert]:
        """Index one EVE line (bytes without the newline). A line that is not a JSON
        object is counted as 'bad_lines' and skipped. Returns the Alert when it is one."""
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            self.counts["bad_lines"] += 1
            return None
        kind = event.get("event_type")
        self.counts[str(kind)] += 1
        epoch = epoch_of(event.get("timestamp"))
        if epoch is not None and (self.newest_epoch is None or epoch > self.newest_epoch):
            self.newest_epoch = epoch
        if kind == "alert" and isinstance(event.get("alert"), dict):
            return self._add_alert(event, epoch, line)
        if kind == "flow":
            self._add_flow(event, epoch, line)
        elif kind == "stats" and isinstance(event.get("stats"), dict):
            self._add_stats(event, epoch)
        return None

    def _add_alert(self, event: dict, epoch: Optional[float], line: bytes) -> Alert:
        a = event["alert"]
        severity = a.get("severity") if a.get("severity") in SEVERITIES else 3
        sid = _int_or_none(a.get("signature_id")) or 0
        features = (a.get("metadata") or {}).get("wirescore_features") or []
        flow_id = _int_or_none(event.get("flow_id"))
        capture = event.get("capture_file")
        alert = Alert(self.next_id, str(event.get("timestamp", "")), epoch, severity, sid,
                      str(a.get("signature", "")), str(event.get("src_ip", "")),
                      str(event.get("dest_ip", "")), _int_or_none(event.get("src_port")),
                      _int_or_none(event.get("dest_port")), str(event.get("proto", "")),
                      _score(event, a), [str(f) for f in features][:20],
                      capture if isinstance(capture, str) else None, flow_id, bytes(line))
        self.next_id += 1
        self.alerts[alert.id] = alert
        if flow_id is not None:
            if flow_id in self.flows:
                alert.flow_line = self.flows[flow_id]
            self._waiting.setdefault(flow_id, []).append(alert.id)
        while len(self.alerts) > self.settings.max_alerts:
            self._evict()
        self.by_severity[severity] += 1
        self.by_signature[sid] += 1
        self.signatures[sid] = alert.signature
        if alert.src_ip:
            self.sources.add(alert.src_ip)
        if alert.dest_ip:
            self.destinations.add(alert.dest_ip)
        if epoch is not None:
            minute = int(epoch // 60)
            row = self.alerts_per_min.get(minute)
            if row is None:
                row = self.alerts_per_min[minute] = [0, 0, 0, 0]
                self._trim(self.alerts_per_min, self.settings.series_minutes)
            row[severity - 1] += 1
        return alert

    def _evict(self) -> None:
        _, old = self.alerts.popitem(last=False)
        self.counts["evicted"] += 1
        if old.flow_id is not None:
            ids = self._waiting.get(old.flow_id)
            if ids:
                ids.remove(old.id)
                if not ids:
                    del self._waiting[old.flow_id]

    def _add_flow(self, event: dict, epoch: Optional[float], line: bytes) -> None:
        flow_id = _int_or_none(event.get("flow_id"))
        if flow_id is not None:
            line = bytes(line)
            self.flows[flow_id] = line
            self.flows.move_to_end(flow_id)
            while len(self.flows) > self.settings.max_flows:
                self.flows.popitem(last=False)
            for alert_id in self._waiting.get(flow_id, ()):
                self.alerts[alert_id].flow_line = line
        if epoch is not None:
            second = int(epoch)
            if second not in self.flows_per_s:
                self.flows_per_s[second] = 0
                self._trim(self.flows_per_s, self.settings.series_seconds)
            self.flows_per_s[second] += 1

    def _add_stats(self, event: dict, epoch: Optional[float]) -> None:
        stats = event["stats"]
        self.last_stats = {"timestamp": event.get("timestamp"), **health(stats)}
        uptime = stats.get("uptime")
        pkts = (stats.get("decoder") or {}).get("pkts")
        if not isinstance(uptime, (int, float)) or not isinstance(pkts, int):
            return
        prev = self._prev_stats
        if prev is not None and uptime > prev[0] and pkts >= prev[1]:
            rate = (pkts - prev[1]) / (uptime - prev[0])
        else:                                # the first, or the engine restarted
            rate = pkts / uptime if uptime > 0 else 0.0
        self._prev_stats = (uptime, pkts)
        self.stats_points.append({"timestamp": event.get("timestamp"),
                                  "packets_per_s": round(rate, 3), **health(stats)})

    @staticmethod
    def _trim(series: OrderedDict, keep: int) -> None:
        """Keep the `keep` latest keys (keys are times; out-of-order ones are sorted
        in when the series is read)."""
        while len(series) > keep:
            series.pop(min(series))

    # -- queries ---------------------------------------------------------------------
    def alert(self, alert_id: int) -> Optional[Alert]:
        return self.alerts.get(alert_id)

    def status(self) -> dict:
        oldest = next(iter(self.alerts), None)
        return {
            "events": dict(self.counts), "alerts_total": self.next_id - 1,
            "alerts_indexed": len(self.alerts), "oldest_indexed_id": oldest,
            "newest_id": self.next_id - 1, "max_alerts": self.settings.max_alerts,
            "flows_indexed": len(self.flows), "max_flows": self.settings.max_flows,
            "alerts_by_severity": {str(k): self.by_severity[k] for k in SEVERITIES},
            "newest_event_time": self.newest_epoch,
        }

    def signature_counts(self) -> list:
        return [{"signature_id": sid, "signature": self.signatures.get(sid, ""),
                 "alerts": n} for sid, n in self.by_signature.most_common()]

    def top(self, n: int) -> dict:
        return {"sources": self.sources.top(n), "destinations": self.destinations.top(n),
                "addresses_dropped": self.sources.dropped + self.destinations.dropped}

    def series(self) -> dict:
        """Chart data: flows per second, alerts per minute by severity (times as epoch
        seconds, sorted), and the stats points (packets/s, decode errors, drops)."""
        flows = sorted(self.flows_per_s.items())
        minutes = sorted(self.alerts_per_min.items())
        return {
            "flows_per_s": {"t": [t for t, _ in flows], "v": [v for _, v in flows]},
            "alerts_per_min": {"t": [m * 60 for m, _ in minutes],
                               **{str(s): [row[s - 1] for _, row in minutes]
                                  for s in SEVERITIES}},
            "stats": list(self.stats_points),
        }


def health(stats: dict) -> dict:
    """Decode errors and drops of one stats event: decoder.invalid, the sum of every
    decoder.event.* counter, capture.kernel_drops and capture.errors (0 when absent)."""
    decoder = stats.get("decoder") or {}
    capture = stats.get("capture") or {}

    def total(node) -> int:
        if isinstance(node, dict):
            return sum(total(v) for v in node.values())
        return node if isinstance(node, int) else 0

    return {"packets": decoder.get("pkts", 0) if isinstance(decoder.get("pkts"), int) else 0,
            "decode_invalid": total(decoder.get("invalid", 0)),
            "decode_events": total(decoder.get("event", {})),
            "kernel_drops": total(capture.get("kernel_drops", 0)),
            "capture_errors": total(capture.get("errors", 0))}
