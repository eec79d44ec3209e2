"""A Zeek-style notice log: one JSON object per alert with the field names of Zeek's
notice.log as Zeek's JSON writer spells them (dotted keys such as "id.orig_h"), so a
Zeek shop reads wirescore's alerts beside its own notices and joins them to conn.log on
community_id (Zeek's community-id package adds that column to conn.log and notice.log).

    field                   from the EVE alert
    ts                      timestamp, seconds since the epoch (float, µs precision)
    uid                     "C" + flow_id in base62 (0-9, A-Z, a-z): a stable,
                            Zeek-looking id of the flow; the same flow_id always gives
                            the same uid. Not Zeek's own uid (Zeek's are random): join
                            on community_id, not uid
    id.orig_h / id.resp_h   src_ip / dest_ip (the client and the server)
    id.orig_p / id.resp_p   src_port / dest_port; for ICMP, as Zeek's conn.log has it,
                            icmp_type and its counterpart's type (echo request 8:
                            0) or, for a one-way message, icmp_code
    proto                   Zeek's transport name: tcp, udp, icmp (ICMPv6 too), else
                            unknown_transport
    note                    "Wirescore::" + up to three words of the signature (its
                            leading "WIRESCORE" dropped), CamelCase, + "_" + the
                            signature id: "Wirescore::ScanUnansweredAttempts_9100003".
                            Stable while the profile's id and name are
    msg                     alert.signature
    sub                     what made the alert (outputs/alert_text.py alert_summary)
    src / dst               src_ip / dest_ip (notice.log's own src and dst)
    community_id            community_id
    actions                 ["Notice::ACTION_LOG"]
    wirescore_signature_id  alert.signature_id
    wirescore_severity      alert.severity (Suricata's: 1 high, 3 low)
    wirescore_score         the anomaly score (alert.metadata.wirescore_score)
    capture_file            the alert's pcap snippet, relative to the log directory

A field the alert lacks is left out, as Zeek's JSON writer leaves out unset fields (a
window alert has one address and no ports, uid, proto or community_id). Zeek's TSV
writer would print "-" there; a reader of this log gets the key missing instead.
"""
from __future__ import annotations

import json
import re
from typing import Any, Mapping

from wirescore.outputs.alert_text import alert_score, alert_summary, event_us
from wirescore.outputs.community_id import icmp_port_equivalents

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode

#: Zeek's conn.log proto (its transport_proto enum) by EVE proto
ZEEK_PROTO = {"TCP": "tcp", "UDP": "udp", "ICMP": "icmp", "IPv6-ICMP": "icmp"}
#: Zeek's name for any other transport
UNKNOWN_PROTO = "unknown_transport"
NOTE_PREFIX = "Wirescore::"
#: words of the signature that go into the note
NOTE_WORDS = 3
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(number: int) -> str:
    """A non-negative int in base62 (digits BASE62); "0" for 0."""
    if number < 0:
        raise ValueError(f"base62 of a negative number: {number}")
    digits = []
    while True:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
        if not number:
            return "".join(reversed(digits))


def uid_of(flow_id: int) -> str:
    """The notice's uid for a flow_id: "C" + its base62."""
    return "C" + base62(int(flow_id))


def note_of(signature_id: Any, signature: str) -> str:
    """"Wirescore::" + the first NOTE_WORDS words of the signature, CamelCase (only
    letters and digits; a leading "WIRESCORE" dropped) + "_" + the signature id;
    "Wirescore::Alert_<id>" when the signature has no word."""
    words = re.findall(r"[A-Za-z0-9]+", signature or "")
    if words and words[0].upper() == "WIRESCORE":
        words = words[1:]
    name = "".join(w[:1].upper() + w[1:] for w in words[:NOTE_WORDS]) or "Alert"
    return f"{NOTE_PREFIX}{name}_{signature_id}"


#: IP protocol number of the EVE proto names of ICMP (for Zeek's ICMP "ports")
ICMP_PROTOS = {"ICMP": 1, "IPv6-ICMP": 58}


def _ports(event: Mapping[str, Any]) -> tuple:
    """(orig_p, resp_p): the ports; for ICMP what Zeek's conn.log puts there, the type
    and, for a request or reply, the type of its counterpart (echo request 8 -> 0),
    else the code (community_id.icmp_port_equivalents: the same mapping); (None, None)
    when the alert has neither."""
    if event.get("src_port") is not None or event.get("dest_port") is not None:
        return event.get("src_port"), event.get("dest_port")
    proto = ICMP_PROTOS.get(event.get("proto"))
    if proto is None or event.get("icmp_type") is None:
        return None, None
    sport, dport, _ = icmp_port_equivalents(proto, event["icmp_type"],
                                            event.get("icmp_code", 0))
    return sport, dport


def notice_record(event: Mapping[str, Any]) -> dict[str, Any]:
    """The notice of one EVE alert event, its fields in the documented order, the ones
    the alert lacks left out."""
    alert = event.get("alert", {})
    orig_p, resp_p = _ports(event)
    proto = event.get("proto")
    fields: list[tuple[str, Any]] = [
        ("ts", event_us(event) / 1e6),
        ("uid", uid_of(event["flow_id"]) if event.get("flow_id") is not None else None),
        ("id.orig_h", event.get("src_ip")), ("id.orig_p", orig_p),
        ("id.resp_h", event.get("dest_ip")), ("id.resp_p", resp_p),
        ("proto", None if proto is None else ZEEK_PROTO.get(proto, UNKNOWN_PROTO)),
        ("note", note_of(alert.get("signature_id"), alert.get("signature", ""))),
        ("msg", alert.get("signature")), ("sub", alert_summary(event) or None),
        ("src", event.get("src_ip")), ("dst", event.get("dest_ip")),
        ("community_id", event.get("community_id")),
        ("actions", ["Notice::ACTION_LOG"]),
        ("wirescore_signature_id", alert.get("signature_id")),
        ("wirescore_severity", alert.get("severity")),
        ("wirescore_score", alert_score(event)),
        ("capture_file", event.get("capture_file")),
    ]
    return {key: value for key, value in fields if value is not None}


def notice_line(event: Mapping[str, Any]) -> str:
    """The notice of one EVE alert event as one line of JSON (ASCII, no line break)."""
    return _dumps(notice_record(event))
