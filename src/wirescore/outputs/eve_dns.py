"""EVE dns events, as Suricata 8 writes them (dns version 3: one event per message),
from the core's DNS event records (DNS_EVENT_DTYPE, ext/app/dns.pxd).

    {"timestamp", "flow_id", "vlan", "src_ip", "src_port", "dest_ip", "dest_port",
     "proto", "community_id", "event_type": "dns",
     "dns": {"version": 3, "type": "request" | "response", "tx_id", "id", "flags",
             "qr", "aa", "tc", "rd", "ra", "z" (each only when set), "opcode", "rcode",
             "queries": [{"rrname", "rrtype", "rrname_truncated"}],
             "answers": [{"rrname", "rrtype", "ttl", "rdata"}],
             "grouped": {"A": [...], "CNAME": [...], ...}}}

Suricata's rules, followed: the timestamp is the packet's that completed the message and
src is its sender; `flags` is the header's flags word in hex; rrtype and rcode are
names where Suricata has one, else the number; rdata is an address for A and AAAA (IPv6
written out in full, "2001:0db8:0000:..."), the name for CNAME, NS, PTR and MX, one
answer per character-string of a TXT record, the bytes of a NULL record; names and bytes
are text when they are UTF-8, else each byte above 0x7f as "\\xNN"; both "answers"
(Suricata's detailed format) and "grouped" are written, as Suricata's default. What this
writer leaves out: the authority and additional sections, SOA, SRV and SSHFP objects
(their records are listed with rrname, rrtype and ttl), and answers beyond the
DNS_ANSWERS the core keeps. The schema has no truncation flag for answers: a cut name or
datum is written as kept (the record's an_flags say so).
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from wirescore.core_names import DNS_BITS, DNS_RCODE_NAMES, DNS_RRTYPE_NAMES
from wirescore.outputs.eve_head import EventHead

_RRTYPE = {name: number for number, name in DNS_RRTYPE_NAMES.items()}
ADDRESS_TYPES = {_RRTYPE["A"], _RRTYPE["AAAA"]}
TXT = _RRTYPE["TXT"]
#: the record types "grouped" may hold (Suricata's schema)
GROUPED = {_RRTYPE[t] for t in ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "TXT", "NULL")}
HEADER_FLAGS = ((0x8000, "qr"), (0x0400, "aa"), (0x0200, "tc"), (0x0100, "rd"),
                (0x0080, "ra"), (0x0040, "z"))


def rrtype_text(rrtype: int) -> str:
    return DNS_RRTYPE_NAMES.get(rrtype, str(rrtype))


def rcode_text(flags: int) -> str:
    return DNS_RCODE_NAMES.get(flags & 15, str(flags & 15))


#: each byte above 0x7f (as a latin-1 character) to the four characters \\xNN
_ESCAPE_HIGH = {b: f"\\x{b:02x}" for b in range(128, 256)}


def text_of(raw: bytes) -> str:
    """Bytes as Suricata's EVE writes them: as UTF-8 text when they are, else each byte
    above 0x7f as the four characters \\xNN."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1").translate(_ESCAPE_HIGH)


def address_text(raw: bytes) -> str:
    """An A or AAAA record's address as Suricata writes it (IPv6 in full, lower case)."""
    if len(raw) == 4:
        return ".".join(str(b) for b in raw)
    return ":".join(raw[i:i + 2].hex() for i in range(0, 16, 2))


def txt_strings(raw: bytes) -> list[bytes]:
    """A TXT record's character-strings (RFC 1035 3.3.14), the last one as far as it
    was kept."""
    out, i = [], 0
    while i < len(raw):
        out.append(raw[i + 1:i + 1 + raw[i]])
        i += 1 + raw[i]
    return out


#: the scalar fields of a DNS event record an EVE event needs (read per batch as lists)
_SCALARS = ("flow_id", "ts_us", "nvlan", "vlan0", "vlan1", "ip_version", "proto",
            "src_port", "dest_port", "flags", "tx_id", "id", "status", "qname_len",
            "qtype", "text_len", "n_answers")
_ARRAYS = ("an_type", "an_ttl", "an_name_off", "an_name_len", "an_data_off", "an_data_len",
           "an_flags")


class DnsEventFormatter:
    """DNS_EVENT_DTYPE records -> EVE dns event dicts (see the module docstring). The
    records of a batch are read column by column, and a tuple's text and Community ID are
    made once for its events."""

    kind = "dns"

    def __init__(self, community_id_seed: int = 0):
        self._head = EventHead(community_id_seed)

    def events(self, records: np.ndarray) -> Iterable[dict[str, Any]]:
        if not len(records):
            return
        cols = {name: records[name].tolist() for name in _SCALARS}
        arrays = {name: records[name].tolist() for name in _ARRAYS}
        src, dst, text = records["src_addr"], records["dest_addr"], records["text"]
        for i in range(len(records)):
            row = {name: col[i] for name, col in cols.items()}
            row.update((name, col[i]) for name, col in arrays.items())
            row["text"] = text[i, :row["text_len"]].tobytes()
            yield self._event(row, src[i], dst[i])

    def event(self, rec) -> dict[str, Any]:
        """One record's event (a row of DNS_EVENT_DTYPE)."""
        return next(iter(self.events(np.asarray(rec).reshape(1))))

    def _envelope(self, row, src_addr, dst_addr) -> dict[str, Any]:
        """An app-layer event's identity, in EVE's key order (eve_head.EventHead), up to
        event_type (self.kind); its kind's object follows."""
        return self._head(row, src_addr, dst_addr, self.kind)

    def _event(self, row, src_addr, dst_addr) -> dict[str, Any]:
        ev = self._envelope(row, src_addr, dst_addr)
        ev["dns"] = self._dns(row)
        return ev

    def _dns(self, row) -> dict[str, Any]:
        flags = row["flags"]
        text = row["text"]
        d: dict[str, Any] = {"version": 3, "type": "response" if flags & 0x8000 else "request",
                             "tx_id": row["tx_id"], "id": row["id"],
                             "flags": format(flags, "x")}
        for bit, name in HEADER_FLAGS:
            if flags & bit:
                d[name] = True
        d["opcode"] = (flags >> 11) & 15
        d["rcode"] = rcode_text(flags)
        status = row["status"]
        if status & DNS_BITS["DE_QUESTION"]:
            q = {"rrname": text_of(text[:row["qname_len"]]), "rrtype": rrtype_text(row["qtype"])}
            if status & DNS_BITS["DE_QNAME_TRUNC"]:
                q["rrname_truncated"] = True
            d["queries"] = [q]
        answers, grouped = self._answers(row, text)
        if answers:
            d["answers"] = answers
        if row["n_answers"]:
            d["grouped"] = grouped
        return d

    @staticmethod
    def _answers(row, text: bytes) -> tuple[list, dict]:
        answers: list[dict] = []
        grouped: dict[str, list] = {}
        for k in range(row["n_answers"]):
            rrtype = row["an_type"][k]
            off, n = row["an_name_off"][k], row["an_name_len"][k]
            base = {"rrname": text_of(text[off:off + n]), "rrtype": rrtype_text(rrtype),
                    "ttl": row["an_ttl"][k]}
            datas: list[str] = []
            if row["an_flags"][k] & DNS_BITS["DA_DATA"]:
                off, n = row["an_data_off"][k], row["an_data_len"][k]
                raw = text[off:off + n]
                if rrtype in ADDRESS_TYPES:
                    datas = [address_text(raw)]
                elif rrtype == TXT:
                    datas = [text_of(s) for s in txt_strings(raw)]
                else:
                    datas = [text_of(raw)]
            if rrtype == TXT:
                answers += [dict(base, rdata=s) for s in datas]
            else:
                answers.append(dict(base, rdata=datas[0]) if datas else base)
            if rrtype in GROUPED and datas:
                grouped.setdefault(rrtype_text(rrtype), []).extend(datas)
        return answers, grouped
