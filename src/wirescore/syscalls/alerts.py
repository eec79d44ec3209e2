"""Process profiles (unit: process) over process windows, and their EVE alerts.

ProcessProfileDetector is wirescore.detect's ProfileDetector over PROC_DTYPE records of
its key (window.key: process or host): the same transform, model, threshold, warm-up,
learning, severity, explanation and suppression (per window key: a process (host,
comm, pid, uid), or the host) as a packet window profile. A record has no address, so
an allowlist rule (cidr, port, proto) never matches one.

An alert is an EVE `alert` event with no network tuple (Suricata's schema requires only
timestamp and event_type): alert.metadata as every wirescore alert has it (score,
threshold, model, unit "process", the window's bounds, the features that made the
score), and the host side under alert.context.wirescore_process: host, key, comm, pid,
uid and the window's counts (every proc.* column). alert.context is the schema's open
object for an alert's JSON (top level and alert accept no new keys).
"""
from __future__ import annotations

import numpy as np

from wirescore.catalog import PROCESS_BY_NAME
from wirescore.detect import ProfileDetector
from wirescore.outputs.eve import Timestamps, _alert_object, _features
from wirescore.outputs.sinks import AlertEvent
from wirescore.syscalls.windows import COLUMNS, KEY_NAMES


class ProcessProfileDetector(ProfileDetector):
    """A process profile over the window records of its key (module docstring)."""

    catalog = PROCESS_BY_NAME
    key_field = "key"

    def __init__(self, profile):
        super().__init__(profile)
        self.kind = KEY_NAMES.index(profile.window_key)

    def _allowlisted(self, recs: np.ndarray) -> np.ndarray:
        return np.zeros(len(recs), dtype=bool)

    def decide(self, records: np.ndarray) -> list[tuple[np.void, object]]:
        """(record, alert) of the records of this profile's key in one closed window."""
        mine = records[records["kind"] == self.kind]
        if len(mine) == 0:
            return []
        _, alerts = self.process(mine)
        return [(mine[a.index], a) for a in alerts]


def process_alert_event(record, alert, ts: Timestamps, host: str) -> dict:
    """The EVE alert of one process window (module docstring); timestamp: its end."""
    p = alert.profile
    kind = KEY_NAMES[int(record["kind"])]
    extra = {"wirescore_window": [f"{kind} {ts(int(record['start_us']))} "
                                  f"{ts(int(record['end_us']))}"]}
    who = {"host": host, "key": kind}
    if kind == "process":
        comm = bytes(record["comm"]).rstrip(b"\0").decode("utf-8", "replace")
        who.update(comm=comm, pid=int(record["pid"]), uid=int(record["uid"]))
        extra["wirescore_process"] = [f"comm={comm} pid={who['pid']} uid={who['uid']}"]
    if alert.explanation:
        extra["wirescore_features"] = _features(alert)
    obj = _alert_object(alert, "process", extra)
    who["counts"] = {c: int(record[c]) for c in COLUMNS}
    obj["context"]["wirescore_process"] = who
    return {"timestamp": ts(int(record["end_us"])), "event_type": "alert", "alert": obj}


def alert_events(detectors, records: np.ndarray, ts: Timestamps,
                 host: str) -> list[AlertEvent]:
    """Every process profile's alerts over one closed window, as AlertEvents (what the
    EVE and callback sinks take), in profile order."""
    out = []
    for d in detectors:
        for record, alert in d.decide(records):
            out.append(AlertEvent(process_alert_event(record, alert, ts, host),
                                  alert.profile.id, record, int(record["end_us"])))
    return out
