"""What an EVE alert event says, read back for the alert logs that are not EVE (CEF,
outputs/cef.py; the Zeek-style notice log, outputs/notice.py): its time, its anomaly
score, and one line saying what crossed.

Every reader takes the event dict as outputs/eve.py builds it (alert_event,
window_alert_event, attempt_alert_event, ...), and copes with the fields some alert
kinds lack (a window alert has no ports, flow_id or community_id; an ARP alert no
proto): a missing field gives None, never an exception.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Optional

#: alert.metadata keys that say what made the alert, in the order they are preferred:
#: the crossing (attempt, update and early window alerts), what was new (app
#: profiles), the ARP binding change, the explanation of the score (features)
SUMMARY_KEYS = ("wirescore_crossed", "wirescore_firstseen", "wirescore_arp",
                "wirescore_features")


def event_us(event: Mapping[str, Any]) -> int:
    """The alert's timestamp ("2010-07-04T20:24:16.466459+0000", as EVE writes it) in
    µs since the epoch, exactly (integer arithmetic, no float rounding)."""
    t = datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
    seconds = int(t.replace(microsecond=0).timestamp())
    return seconds * 1_000_000 + t.microsecond


def alert_score(event: Mapping[str, Any]) -> Optional[float]:
    """The anomaly score (alert.metadata.wirescore_score, written with 6 decimals), or
    None when the event has none (an alert not made by wirescore's profiles)."""
    values = event.get("alert", {}).get("metadata", {}).get("wirescore_score")
    try:
        return float(values[0]) if values else None
    except (TypeError, ValueError):
        return None


def alert_summary(event: Mapping[str, Any]) -> str:
    """One line saying what made the alert: the values of the first SUMMARY_KEYS entry
    the alert's metadata holds, joined by "; " (e.g. "ctx.src_unanswered_services=
    14.8265 > 14 since 2010-07-04T20:24:16.274870+0000"); without any, "score=S >
    threshold T"; "" when the metadata says nothing at all. Newlines are kept (each
    log escapes them its own way)."""
    metadata = event.get("alert", {}).get("metadata", {})
    for key in SUMMARY_KEYS:
        values = metadata.get(key)
        if values:
            return "; ".join(str(v) for v in values)
    score, threshold = metadata.get("wirescore_score"), metadata.get("wirescore_threshold")
    if score and threshold:
        return f"score={score[0]} > threshold {threshold[0]}"
    return ""
