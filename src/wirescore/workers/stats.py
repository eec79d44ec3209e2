"""The counters of --workers N, merged as data.

Stats events: with one eve.json, each worker sends its stats event (a dict, over its
status pipe) instead of writing it; the parent writes one stats event with the counters
summed over the workers (uptime: the largest; timestamp: the latest) each time every
running worker has reported since the last one (each reports every
outputs.stats.interval seconds), or half an interval after the first did (a quiet worker
does not hold the others back), and a final one; it logs each worker's kernel
received/dropped counts with it.

Summaries: each worker's outcome (packets, flows, alerts, counters, non-IP ethertypes,
sent when its run ends) is summed into the run's engine.Summary.
"""
from __future__ import annotations

import logging
import time
from typing import Iterable, Optional

from wirescore import health
from wirescore.engine import Summary

log = logging.getLogger("wirescore.workers")


def is_gauge(key: str) -> bool:
    """Whether a stats leaf is a level (uptime, flow.active, *.memuse), not a count:
    a dead worker's levels are not carried over to its successor."""
    return key in ("uptime", "active") or key.endswith("memuse")


def counts_only(event_stats: dict) -> dict:
    """A stats mapping (nested) without its gauges."""
    out = {}
    for key, value in event_stats.items():
        if isinstance(value, dict):
            out[key] = counts_only(value)
        elif not is_gauge(key):
            out[key] = value
    return out


def leaf(event_stats: dict, dotted: str, default: int = 0) -> int:
    """The value at a dotted path of a nested stats mapping."""
    node = event_stats
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node if isinstance(node, int) else default


def sum_stats(a: dict, b: dict) -> dict:
    """Add two stats mappings (nested or flat) leaf by leaf (uptime: the larger)."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict):
            out[key] = sum_stats(out.get(key, {}), value)
        elif key == "uptime":
            out[key] = max(out.get(key, 0), value)
        else:
            out[key] = out.get(key, 0) + value
    return out


class StatsMerge:
    """The workers' latest stats events, and when their sum is due (module docstring)."""

    def __init__(self, iface: str, interval_s: float):
        self.iface, self.interval_s = iface, float(interval_s)
        self.latest: dict[int, dict] = {}       # worker index -> its last stats event
        self.retired: dict = {}                 # counts of dead workers, summed
        self.retired_health: dict = {}          # their kernel drops, link losses, gaps
        self.retired_dropped: dict = {}         # their outputs' dropped lines, by label
        self.fresh: set[int] = set()            # reported since the last sum
        self.round_start: Optional[float] = None
        self.written = 0

    def report(self, index: int, event: dict) -> None:
        """Worker index's stats event."""
        self.latest[index] = event
        if index not in self.fresh and self.round_start is None:
            self.round_start = time.monotonic()
        self.fresh.add(index)

    def retire(self, index: int) -> dict:
        """Worker index died: keep its counts (not its gauges) in every later sum, so
        the summed counters never go back when its successor starts from zero; returns
        its last stats mapping ({} if it never reported)."""
        event = self.latest.pop(index, None)
        self.fresh.discard(index)
        if event is None:
            return {}
        self.retired = sum_stats(self.retired, counts_only(event.get("stats", {})))
        dead = health.get(event) or {}
        for key in ("kernel_drops", "link_losses", "seconds_without_capture"):
            if key in dead:
                self.retired_health[key] = self.retired_health.get(key, 0) + dead[key]
        for label, figures in dead.get("outputs", {}).items():
            if figures.get("dropped"):
                self.retired_dropped[label] = (self.retired_dropped.get(label, 0)
                                               + figures["dropped"])
        return event.get("stats", {})

    def due(self, running: Iterable[int]) -> bool:
        """Whether the summed event is due, given the indexes of the running workers."""
        if self.round_start is None:
            return False
        waited = time.monotonic() - self.round_start
        return (all(i in self.fresh for i in running)
                or bool(self.interval_s and waited > self.interval_s / 2))

    def summed(self) -> Optional[dict]:
        """The stats event summed over every worker that reported (None if none has);
        starts a new round and logs each worker's kernel counters."""
        if not self.latest:
            return None
        reports = sorted(self.latest.items())
        total: dict = dict(self.retired)
        for _, event in reports:
            total = sum_stats(total, event.get("stats", {}))
        stamp = max(event.get("timestamp", "") for _, event in reports)
        parts = []
        for index, event in reports:
            cap = event.get("stats", {}).get("capture", {})
            parts.append(f"worker {index} {cap.get('kernel_packets', 0)} packets "
                         f"{cap.get('kernel_drops', 0)} dropped")
        self.fresh.clear()
        self.round_start = None
        self.written += 1
        log.info("%s kernel counters: %s", self.iface, "; ".join(parts))
        event = {"timestamp": stamp, "event_type": "stats", "stats": total}
        merged = health.merge(health.get(e) for _, e in reports)
        if merged and self.retired_health:           # what dead workers counted counts
            merged["kernel_drops"] = (merged.get("kernel_drops", 0)
                                      + self.retired_health.get("kernel_drops", 0))
        if merged and "link_losses" in self.retired_health:
            health.put_link(merged, merged.get("link_losses", 0)
                            + self.retired_health.get("link_losses", 0),
                            merged.get("seconds_without_capture", 0.0)
                            + self.retired_health.get("seconds_without_capture", 0.0))
        if merged:
            for label, dropped in self.retired_dropped.items():
                into = merged.setdefault("outputs", {}).setdefault(
                    label, {"state": "writing", "queued_bytes": 0, "dropped": 0})
                into["dropped"] = into.get("dropped", 0) + dropped
        return health.put(event, merged) if merged else event

    def final(self, lines_since_last: bool = False) -> Optional[dict]:
        """The closing summed event: None when no worker reported, or when the latest
        reports were summed already and no line was written after that event
        (lines_since_last: a worker's last flows were relayed after it, so the file
        would not end with stats)."""
        if self.latest and (self.fresh or not self.written or lines_since_last):
            return self.summed()
        return None


def summary(iface: str, workers: int, done: list[dict], elapsed: float,
            fault: Optional[str], eve_path: str) -> Summary:
    """The run's engine.Summary from each worker's done report (a dict of packets,
    flows, alerts, counters, nonip_ethertypes; {} for a worker that never reported)."""
    counters = ethertypes = {}
    for d in done:
        counters = sum_stats(counters, d.get("counters", {}))
        ethertypes = sum_stats(ethertypes, d.get("nonip_ethertypes", {}))
    return Summary(
        source=f"{iface} ({workers} workers)", packets=sum(d.get("packets", 0) for d in done),
        flows=sum(d.get("flows", 0) for d in done), alerts=sum(d.get("alerts", 0) for d in done),
        decode_errors=counters.get("decoder.invalid", 0),
        nonip=counters.get("wirescore.nonip", 0), elapsed=elapsed, counters=counters,
        nonip_ethertypes=ethertypes, fault=fault, eve_path=eve_path)
