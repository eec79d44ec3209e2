"""EVE ldap events, from the core's LDAP event records (LDAP_EVENT_DTYPE,
ext/app/ldaproom.pxd), with Suricata 8's field names (rust/src/ldap/logger.rs).

    {"timestamp", "flow_id", "vlan", "src_ip", "src_port", "dest_ip", "dest_port",
     "proto", "community_id", "event_type": "ldap",
     "ldap": {"request": {"operation", "message_id", "<operation>": {...}}}
          or {"responses": [{"operation", "message_id", "<operation>": {...}}]}}

One event per message (Suricata gathers a request and its responses into one event:
join them here by message_id). Request objects: bind_request {version, name,
sasl.mechanism}; search_request {base_object, scope, deref_alias, size_limit,
time_limit, types_only, attributes}; del_request {dn}; modify_request {object};
add_request, mod_dn_request, compare_request {entry}; abandon_request {message_id};
extended_request {name}. Responses carrying an LDAPResult: {result_code (its name),
matched_dn, message}; search_result_entry {base_object}; extended_response and
intermediate_response add {name}. Strings as text when UTF-8, else each byte above 0x7f
as "\\xNN"; a string longer than the core keeps (ldaproom.pxd LE_TEXT) is written cut.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from wirescore.msg_names import ldap_op_name, ldap_result_name
from wirescore.outputs.eve_dns import DnsEventFormatter, text_of

#: ldap.pxd LdapMsg.present bits the writer reads
LD = {"version": 1 << 2, "dn": 1 << 3, "auth": 1 << 4, "mechanism": 1 << 5,
      "result": 1 << 6, "matched_dn": 1 << 7, "message": 1 << 8, "scope": 1 << 9,
      "deref": 1 << 10, "size_limit": 1 << 11, "time_limit": 1 << 12,
      "types_only": 1 << 13, "attributes": 1 << 15, "oid": 1 << 16, "abandon_id": 1 << 17}
#: protocolOp tags (msg_names.LDAP_OPS) by role
BIND, SEARCH, ENTRY, ABANDON = 0, 3, 4, 16
RESULT_OPS = {1, 5, 7, 9, 11, 13, 15, 24}
RESPONSE_OPS = RESULT_OPS | {4, 19, 25}
ENTRY_KEY = {6: "object", 8: "entry", 10: "dn", 12: "entry", 14: "entry"}
NAMED = {23, 24, 25}

_SCALARS = ("flow_id", "ts_us", "nvlan", "vlan0", "vlan1", "ip_version", "proto",
            "src_port", "dest_port", "message_id", "op", "present", "version", "auth",
            "result_code", "scope", "deref", "size_limit", "time_limit", "abandon_id",
            "types_only", "status", "dn_len", "mech_len", "matched_len", "message_len",
            "attrs_len", "oid_len")
_TEXTS = (("dn", "dn_len"), ("mechanism", "mech_len"), ("matched_dn", "matched_len"),
          ("message", "message_len"), ("attributes", "attrs_len"), ("oid", "oid_len"))


class LdapEventFormatter(DnsEventFormatter):
    """LDAP_EVENT_DTYPE records -> EVE ldap event dicts (the module docstring); the
    identity (time, addresses, Community ID) made as for dns events."""

    kind = "ldap"

    def events(self, records: np.ndarray) -> Iterable[dict[str, Any]]:
        if not len(records):
            return
        cols = {name: records[name].tolist() for name in _SCALARS}
        src, dst = records["src_addr"], records["dest_addr"]
        for i in range(len(records)):
            row = {name: col[i] for name, col in cols.items()}
            for name, length in _TEXTS:
                row[name] = text_of(records[name][i, :row[length]].tobytes())
            yield self._event(row, src[i], dst[i])

    def _event(self, row, src_addr, dst_addr) -> dict[str, Any]:
        ev = self._envelope(row, src_addr, dst_addr)
        ev["ldap"] = ldap_fields(row)
        return ev


def ldap_fields(row) -> dict[str, Any]:
    """The "ldap" object of one record's row (a dict of its fields, strings as text)."""
    op, present = row["op"], row["present"]
    name = ldap_op_name(op)
    body: dict[str, Any] = {}
    if op == BIND:
        body = {"version": row["version"], "name": row["dn"]}
        if present & LD["mechanism"]:
            body["sasl"] = {"mechanism": row["mechanism"]}
    elif op == SEARCH:
        body = {"base_object": row["dn"], "scope": row["scope"],
                "deref_alias": row["deref"], "size_limit": row["size_limit"],
                "time_limit": row["time_limit"], "types_only": bool(row["types_only"])}
        if present & LD["attributes"] and row["attributes"]:
            body["attributes"] = row["attributes"].split(",")
    elif op == ENTRY:
        body = {"base_object": row["dn"]}
    elif op == ABANDON and present & LD["abandon_id"]:
        body = {"message_id": row["abandon_id"]}
    elif op in ENTRY_KEY and present & LD["dn"]:
        body = {ENTRY_KEY[op]: row["dn"]}
    if op in RESULT_OPS and present & LD["result"]:
        body.update(result_code=ldap_result_name(row["result_code"]),
                    matched_dn=row["matched_dn"], message=row["message"])
    if op in NAMED and present & LD["oid"]:
        body["name"] = row["oid"]
    msg: dict[str, Any] = {"operation": name, "message_id": row["message_id"]}
    if body and name != "unknown":
        msg[name] = body
    if op in RESPONSE_OPS:
        return {"responses": [msg]}
    return {"request": msg}
