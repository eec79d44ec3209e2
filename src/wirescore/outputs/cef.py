r"""CEF (ArcSight Common Event Format, as ArcSight, QRadar and most SIEMs read it): one
line per alert, for a SIEM that does not read EVE-JSON.

    CEF:0|wirescore|wirescore|<version>|<signature_id>|<signature>|<severity>|<extension>

Header: Device Vendor and Product are "wirescore", Device Version the package's
version, Signature ID the profile's id (alert.signature_id), Name its signature
(alert.signature). Severity, CEF's 0 (lowest) to 10 (highest), from Suricata's
alert.severity, where 1 is the most severe:

    alert.severity   1    2    3    anything else
    CEF severity     10   7    4    5

Extension (keys from the CEF standard dictionary, in this order; a key whose field the
alert lacks is left out, e.g. a window alert has one address and no ports):

    key        label (<key>Label=...)     value
    rt                                    the alert's timestamp, ms since the epoch
    cat                                   alert.category
    src / dst                             src_ip / dest_ip when IPv4
    c6a2       Source IPv6 Address        src_ip when IPv6
    c6a3       Destination IPv6 Address   dest_ip when IPv6
    spt / dpt                             src_port / dest_port
    proto                                 proto, the transport's name (TCP, UDP, ...)
    msg                                   what made the alert (what crossed, what was
                                          new, or the features: outputs/alert_text.py)
    cs1        community_id               community_id (joins Zeek's conn.log)
    cs2        flow_id                    flow_id (joins eve.json's flow events)
    cfp1       score                      alert.metadata.wirescore_score
    cs3        capture_file               the alert's pcap snippet, relative to LOGDIR

The score is in cfp1 (deviceCustomFloatingPoint1), not cn1: CEF's cnN keys are Longs
and a score is a fraction. flow_id (a 64-bit number) is a string, cs2, so no SIEM
rounds it.

Escaping (CEF spec, "Character Encoding"): in the header a backslash becomes \\ and a
pipe \|; a header field cannot hold a line break, so CR and LF become a space. In
extension values a backslash becomes \\, an equals sign \=, LF the two characters \n
and CR \r (pipes stay as they are). Lines are UTF-8; each ends in LF.
"""
from __future__ import annotations

from typing import Any, Mapping

from wirescore import __version__
from wirescore.outputs.alert_text import alert_score, alert_summary, event_us

#: CEF severity (0-10, 10 most severe) by Suricata alert.severity (1 most severe)
SEVERITY = {1: 10, 2: 7, 3: 4}
#: CEF severity of any other alert.severity
DEFAULT_SEVERITY = 5


def cef_severity(severity: Any) -> int:
    """CEF's 0-10 severity of a Suricata alert.severity (see SEVERITY)."""
    return SEVERITY.get(severity, DEFAULT_SEVERITY) if isinstance(severity, int) \
        else DEFAULT_SEVERITY


def escape_header(value: Any) -> str:
    """A header field: backslash and pipe escaped, line breaks made spaces."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def escape_value(value: Any) -> str:
    """An extension value: backslash, equals sign, LF and CR escaped."""
    text = str(value).replace("\\", "\\\\").replace("=", "\\=")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _address(ext: list, ip: str | None, v4_key: str, v6_key: str, v6_label: str) -> None:
    """IPv4 addresses in src/dst; IPv6 in the c6aN key with its label."""
    if ip is None:
        return
    if ":" in ip:
        ext += [(f"{v6_key}Label", v6_label), (v6_key, ip)]
    else:
        ext.append((v4_key, ip))


def _extension(event: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The (key, value) pairs of the extension, in the documented order."""
    alert = event.get("alert", {})
    ext: list[tuple[str, Any]] = [("rt", event_us(event) // 1000)]
    if alert.get("category"):
        ext.append(("cat", alert["category"]))
    _address(ext, event.get("src_ip"), "src", "c6a2", "Source IPv6 Address")
    _address(ext, event.get("dest_ip"), "dst", "c6a3", "Destination IPv6 Address")
    for key, field in (("spt", "src_port"), ("dpt", "dest_port"), ("proto", "proto")):
        if event.get(field) is not None:
            ext.append((key, event[field]))
    summary = alert_summary(event)
    if summary:
        ext.append(("msg", summary))
    custom = (("cs1", "community_id", event.get("community_id")),
              ("cs2", "flow_id", event.get("flow_id")),
              ("cfp1", "score", alert_score(event)),
              ("cs3", "capture_file", event.get("capture_file")))
    for key, label, value in custom:
        if value is not None:
            ext += [(f"{key}Label", label), (key, value)]
    return ext


def cef_line(event: Mapping[str, Any], version: str = __version__) -> str:
    """The CEF line (no line break at its end) of one EVE alert event."""
    alert = event.get("alert", {})
    header = ["CEF:0", "wirescore", "wirescore", version, alert.get("signature_id", ""),
              alert.get("signature", ""), cef_severity(alert.get("severity"))]
    extension = " ".join(f"{key}={escape_value(value)}" for key, value in _extension(event))
    return "|".join([header[0]] + [escape_header(v) for v in header[1:]] + [extension])
