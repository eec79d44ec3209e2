"""EVE krb5 events, as Suricata 8 writes them (rust/src/krb/log.rs), from the core's
Kerberos event records (KRB5_EVENT_DTYPE, ext/app/krb5room.pxd).

    {"timestamp", "flow_id", "vlan", "src_ip", "src_port", "dest_ip", "dest_port",
     "proto", "community_id", "event_type": "krb5",
     "krb5": {"msg_type", "failed_request", "error_code", "cname", "realm", "sname",
              "encryption", "weak_encryption", "ticket_encryption",
              "ticket_weak_encryption"}}

Suricata's rules, followed: one event per AS-REQ, TGS-REQ, AS-REP, TGS-REP and
KRB-ERROR; msg_type, error_code, encryption and ticket_encryption are the names of
msg_names.py (Suricata's Debug strings; an unknown value as KRB5_UNKNOWN says); an
error's failed_request is the type of the flow's last request ("MessageType(0)" when
none was seen, as Suricata writes it); cname, realm and sname are "<empty>" when the
message has none (a request's realm is its req-body realm, a reply's its crealm, an
error's the service realm) and encryption "<none>" (requests, errors); weak_encryption
is always written, ticket_encryption and ticket_weak_encryption only when the message
carries a ticket etype (replies; a TGS-REQ's presented TGT). Names are components
joined with "/", as text when UTF-8, else each byte above 0x7f as "\\xNN". The
requested etypes have no EVE field (the schema has none): they are in the record
(etypes, n_etypes) and the flow's app.krb5_weak_requests.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from wirescore.msg_names import (krb5_error_name, krb5_etype_name, krb5_etype_weak,
                                 krb5_msg_type_name)
from wirescore.outputs.eve_dns import DnsEventFormatter, text_of

#: Krb5Msg.present bits the writer reads (ext/app/krb5.pxd)
K5_ENC_ETYPE = 1 << 9
K5_TICKET_ETYPE = 1 << 10
#: Krb5Event.status bits (ext/app/krb5room.pxd)
KE_CNAME, KE_REALM, KE_SNAME = 16, 32, 64
KRB_ERROR = 30

_SCALARS = ("flow_id", "ts_us", "nvlan", "vlan0", "vlan1", "ip_version", "proto",
            "src_port", "dest_port", "msg_type", "failed_request", "error_code",
            "enc_etype", "ticket_etype", "present", "status", "cname_len", "realm_len",
            "sname_len")


class Krb5EventFormatter(DnsEventFormatter):
    """KRB5_EVENT_DTYPE records -> EVE krb5 event dicts (see the module docstring). The
    event's identity (time, addresses, Community ID) is made as for dns events."""

    kind = "krb5"

    def events(self, records: np.ndarray) -> Iterable[dict[str, Any]]:
        if not len(records):
            return
        cols = {name: records[name].tolist() for name in _SCALARS}
        src, dst = records["src_addr"], records["dest_addr"]
        texts = {name: records[name] for name in ("cname", "realm", "sname")}
        for i in range(len(records)):
            row = {name: col[i] for name, col in cols.items()}
            for name, arr in texts.items():
                row[name] = arr[i, :row[name + "_len"]].tobytes()
            yield self._event(row, src[i], dst[i])

    def _event(self, row, src_addr, dst_addr) -> dict[str, Any]:
        ev = self._envelope(row, src_addr, dst_addr)
        ev["krb5"] = krb5_fields(row)
        return ev


def krb5_fields(row) -> dict[str, Any]:
    """The "krb5" object of one record's row (a dict of its fields, names as bytes)."""
    d: dict[str, Any] = {}
    if row["msg_type"] == KRB_ERROR:
        d["msg_type"] = krb5_msg_type_name(KRB_ERROR)
        d["failed_request"] = krb5_msg_type_name(row["failed_request"])
        d["error_code"] = krb5_error_name(row["error_code"])
    else:
        d["msg_type"] = krb5_msg_type_name(row["msg_type"])
    status = row["status"]
    for name, bit in (("cname", KE_CNAME), ("realm", KE_REALM), ("sname", KE_SNAME)):
        d[name] = text_of(row[name]) if status & bit else "<empty>"
    present = row["present"]
    enc = row["enc_etype"] if present & K5_ENC_ETYPE else None
    d["encryption"] = "<none>" if enc is None else krb5_etype_name(enc)
    d["weak_encryption"] = enc is not None and krb5_etype_weak(enc)
    if present & K5_TICKET_ETYPE:
        d["ticket_encryption"] = krb5_etype_name(row["ticket_etype"])
        d["ticket_weak_encryption"] = krb5_etype_weak(row["ticket_etype"])
    return d
