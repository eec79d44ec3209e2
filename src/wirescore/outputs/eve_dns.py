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
from wirescore.outputs.community_id import community_id
from wirescore.outputs.eve import Timestamps, ip_text, proto_name

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


def text_of(raw: bytes) -> str:
    """Bytes as Suricata's EVE writes them: as UTF-8 text when they are, else each byte
    above 0x7f as the four characters \\xNN."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(chr(b) if b < 128 else f"\\x{b:02x}" for b in raw)


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


class DnsEventFormatter:
    """DNS_EVENT_DTYPE records -> EVE dns event dicts (see the module docstring)."""

    kind = "dns"

    def __init__(self, community_id_seed: int = 0):
        self.seed = community_id_seed
        self.ts = Timestamps()

    def events(self, records: np.ndarray) -> Iterable[dict[str, Any]]:
        for rec in records:
            yield self.event(rec)

    def event(self, rec) -> dict[str, Any]:
        version = int(rec["ip_version"])
        alen = 4 if version == 4 else 16
        src, dst = bytes(rec["src_addr"][:alen]), bytes(rec["dest_addr"][:alen])
        proto, sport, dport = int(rec["proto"]), int(rec["src_port"]), int(rec["dest_port"])
        ev: dict[str, Any] = {"timestamp": self.ts(int(rec["ts_us"])),
                              "flow_id": int(rec["flow_id"])}
        if rec["nvlan"]:
            ev["vlan"] = [int(rec["vlan0"]), int(rec["vlan1"])][:int(rec["nvlan"])]
        ev.update(src_ip=ip_text(src, version), src_port=sport, dest_ip=ip_text(dst, version),
                  dest_port=dport, proto=proto_name(proto),
                  community_id=community_id(proto, src, dst, sport, dport, self.seed),
                  event_type="dns", dns=self._dns(rec))
        return ev

    def _dns(self, rec) -> dict[str, Any]:
        flags = int(rec["flags"])
        text = bytes(rec["text"][:int(rec["text_len"])])
        d: dict[str, Any] = {"version": 3, "type": "response" if flags & 0x8000 else "request",
                             "tx_id": int(rec["tx_id"]), "id": int(rec["id"]),
                             "flags": format(flags, "x")}
        for bit, name in HEADER_FLAGS:
            if flags & bit:
                d[name] = True
        d["opcode"] = (flags >> 11) & 15
        d["rcode"] = rcode_text(flags)
        status = int(rec["status"])
        if status & DNS_BITS["DE_QUESTION"]:
            q = {"rrname": text_of(text[:int(rec["qname_len"])]),
                 "rrtype": rrtype_text(int(rec["qtype"]))}
            if status & DNS_BITS["DE_QNAME_TRUNC"]:
                q["rrname_truncated"] = True
            d["queries"] = [q]
        answers, grouped = self._answers(rec, text)
        if answers:
            d["answers"] = answers
        if int(rec["n_answers"]):
            d["grouped"] = grouped
        return d

    @staticmethod
    def _answers(rec, text: bytes) -> tuple[list, dict]:
        answers: list[dict] = []
        grouped: dict[str, list] = {}
        for k in range(int(rec["n_answers"])):
            rrtype = int(rec["an_type"][k])
            off, n = int(rec["an_name_off"][k]), int(rec["an_name_len"][k])
            base = {"rrname": text_of(text[off:off + n]), "rrtype": rrtype_text(rrtype),
                    "ttl": int(rec["an_ttl"][k])}
            datas: list[str] = []
            if int(rec["an_flags"][k]) & DNS_BITS["DA_DATA"]:
                off, n = int(rec["an_data_off"][k]), int(rec["an_data_len"][k])
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
