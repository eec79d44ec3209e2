"""EVE tls events, as Suricata writes them (one per flow, at the end of the handshake
in clear, or when the flow ends with part of one), from the core's TLS event records
(TLS_EVENT_DTYPE, ext/app/tlsroom.pxd).

    {"timestamp", "flow_id", "vlan", "src_ip", "src_port", "dest_ip", "dest_port",
     "proto", "community_id", "event_type": "tls",
     "tls": {"subject", "issuerdn", "serial", "fingerprint", "sni", "version",
             "notbefore", "notafter", "ja3": {"hash", "string"},
             "ja3s": {"hash", "string"}, "ja4", "client_alpns", "server_alpns"}}

Suricata's forms, followed: src is the client; version as Suricata names it ("TLS 1.2",
"TLSv1", "SSLv3"; tls_names.py), "UNDETERMINED" for another value; serial as upper-case
hex bytes joined by ":", fingerprint (SHA-1 of the certificate's DER) lower-case;
notbefore / notafter "YYYY-MM-DDTHH:MM:SS" (UTC); strings as UTF-8 text, other bytes as
"\\xNN". A field the core did not read (a cut, TLS 1.3's encrypted certificate) is left
out. JA4S is not written (its licence, FoxIO 1.1, is non-commercial).
"""
from __future__ import annotations

import time
from typing import Any, Iterable

import numpy as np

from wirescore.core_names import TLS_BITS
from wirescore.outputs.eve_dns import text_of
from wirescore.outputs.eve_head import EventHead
from wirescore.tls_names import VERSION_NAMES

_B = TLS_BITS


def tls_version_text(value: int) -> str:
    """Suricata's name of a TLS version ("UNDETERMINED" when it has none)."""
    return VERSION_NAMES.get(value, "UNDETERMINED")


def tls_time(seconds: int) -> str:
    """Unix seconds as Suricata's notbefore / notafter ("2024-01-01T00:00:00", UTC)."""
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    except (OverflowError, OSError, ValueError):
        return "1970-01-01T00:00:00"


def alpn_list(raw: bytes) -> list[str]:
    """The client's ALPNs as kept: each a length byte and its bytes."""
    out, i = [], 0
    while i < len(raw):
        out.append(text_of(raw[i + 1:i + 1 + raw[i]]))
        i += 1 + raw[i]
    return out


def _text(rec, field: str) -> str:
    return text_of(bytes(rec[field][:int(rec[field + "_len"])]))


def tls_object(rec) -> dict[str, Any]:
    """The "tls" object of one TLS_EVENT_DTYPE record."""
    st = int(rec["status"])
    t: dict[str, Any] = {}
    if st & _B["TE_SUBJECT"]:
        t["subject"] = _text(rec, "subject")
    if st & _B["TE_ISSUER"]:
        t["issuerdn"] = _text(rec, "issuer")
    if st & _B["TE_SERIAL"]:
        t["serial"] = ":".join(f"{b:02X}" for b in bytes(rec["serial"][:int(rec["serial_len"])]))
    if st & _B["TE_SHA1"]:
        t["fingerprint"] = ":".join(f"{b:02x}" for b in bytes(rec["sha1"]))
    if st & _B["TE_SNI"]:
        t["sni"] = _text(rec, "sni")
    t["version"] = tls_version_text(int(rec["version"]))
    if st & _B["TE_VALIDITY"]:
        t["notbefore"] = tls_time(int(rec["not_before"]))
        t["notafter"] = tls_time(int(rec["not_after"]))
    if st & _B["TE_JA3"]:
        t["ja3"] = {"hash": bytes(rec["ja3_md5"]).decode("ascii"), "string": _text(rec, "ja3")}
    if st & _B["TE_JA3S"]:
        t["ja3s"] = {"hash": bytes(rec["ja3s_md5"]).decode("ascii"),
                     "string": _text(rec, "ja3s")}
    if st & _B["TE_JA4"]:
        t["ja4"] = bytes(rec["ja4"]).decode("ascii")
    if int(rec["n_calpn"]):
        t["client_alpns"] = alpn_list(bytes(rec["calpn"][:int(rec["calpn_len"])]))
    if int(rec["salpn_len"]):
        t["server_alpns"] = [_text(rec, "salpn")]
    return t


class TlsEventFormatter:
    """TLS_EVENT_DTYPE records -> EVE tls event dicts (see the module docstring)."""

    kind = "tls"

    def __init__(self, community_id_seed: int = 0):
        self.head = EventHead(community_id_seed)

    def events(self, records: np.ndarray) -> Iterable[dict[str, Any]]:
        for rec in records:
            ev = self.head(rec, "tls")
            ev["tls"] = tls_object(rec)
            yield ev

    def event(self, rec) -> dict[str, Any]:
        """One record's event."""
        return next(iter(self.events(np.asarray(rec).reshape(1))))
