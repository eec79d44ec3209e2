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
from wirescore.outputs.eve_head import EventHead, columns
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


#: the record's scalar fields a tls object needs, and its byte fields kept with a length
_SCALARS = ("status", "version", "not_before", "not_after", "n_calpn", "sni_len", "ja3_len",
            "ja3s_len", "subject_len", "issuer_len", "serial_len", "calpn_len", "salpn_len")
_BYTES = ("sni", "ja3", "ja3s", "subject", "issuer", "serial", "calpn", "salpn")
_FIXED = ("sha1", "ja3_md5", "ja3s_md5", "ja4")


def tls_object(row: dict) -> dict[str, Any]:
    """The "tls" object of one record: its _SCALARS as Python values, its _BYTES (as
    kept) and _FIXED fields as bytes."""
    st = row["status"]
    t: dict[str, Any] = {}
    if st & _B["TE_SUBJECT"]:
        t["subject"] = text_of(row["subject"])
    if st & _B["TE_ISSUER"]:
        t["issuerdn"] = text_of(row["issuer"])
    if st & _B["TE_SERIAL"]:
        t["serial"] = row["serial"].hex(":").upper()
    if st & _B["TE_SHA1"]:
        t["fingerprint"] = row["sha1"].hex(":")
    if st & _B["TE_SNI"]:
        t["sni"] = text_of(row["sni"])
    t["version"] = tls_version_text(row["version"])
    if st & _B["TE_VALIDITY"]:
        t["notbefore"] = tls_time(row["not_before"])
        t["notafter"] = tls_time(row["not_after"])
    if st & _B["TE_JA3"]:
        t["ja3"] = {"hash": row["ja3_md5"].decode("ascii"), "string": text_of(row["ja3"])}
    if st & _B["TE_JA3S"]:
        t["ja3s"] = {"hash": row["ja3s_md5"].decode("ascii"), "string": text_of(row["ja3s"])}
    if st & _B["TE_JA4"]:
        t["ja4"] = row["ja4"].decode("ascii")
    if row["n_calpn"]:
        t["client_alpns"] = alpn_list(row["calpn"])
    if row["salpn_len"]:
        t["server_alpns"] = [text_of(row["salpn"])]
    return t


class TlsEventFormatter:
    """TLS_EVENT_DTYPE records -> EVE tls event dicts (see the module docstring); a
    batch is read column by column."""

    kind = "tls"

    def __init__(self, community_id_seed: int = 0):
        self.head = EventHead(community_id_seed)

    def events(self, records: np.ndarray) -> Iterable[dict[str, Any]]:
        if not len(records):
            return
        arrays = {name: records[name] for name in _BYTES + _FIXED}
        src, dst = records["src_addr"], records["dest_addr"]
        for i, row in enumerate(columns(records, _SCALARS)):
            for name in _BYTES:
                row[name] = arrays[name][i, :row[name + "_len"]].tobytes()
            for name in _FIXED:
                row[name] = arrays[name][i].tobytes()
            ev = self.head(row, src[i], dst[i], "tls")
            ev["tls"] = tls_object(row)
            yield ev

    def event(self, rec) -> dict[str, Any]:
        """One record's event."""
        return next(iter(self.events(np.asarray(rec).reshape(1))))
