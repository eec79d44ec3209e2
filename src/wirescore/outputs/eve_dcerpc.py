"""EVE dcerpc events, with Suricata's field names, from the core's DCE-RPC event records
(DCERPC_EVENT_DTYPE, ext/app/dcerpc_room.pxd).

    {"timestamp", "flow_id", "vlan", "src_ip", "src_port", "dest_ip", "dest_port",
     "proto", "community_id", "event_type": "dcerpc",
     "dcerpc": {"request": "BIND" | "ALTER_CONTEXT" | "REQUEST",
                "response": "BINDACK" | "BINDNAK" | "ALTER_CONTEXT_RESP" | "RESPONSE"
                            | "FAULT",
                "call_id", "rpc_version": "5.0",
                "interfaces": [{"uuid", "version": "3.0", "service", "procedure",
                                "ack_result"}],
                "req": {"opnum", "frag_cnt", "stub_data_size"},
                "res": {"frag_cnt", "stub_data_size"}}}

One event per PDU that ends a half of a transaction (the room's docstring): a BIND
lists the interfaces offered, its BIND_ACK the same with ack_result; a REQUEST its
opnum and its context's interface (with service and procedure names where Suricata's
dcerpc_interfaces.json has them: win_names.DCERPC_SERVICES); a RESPONSE or FAULT its
fragments and stub size, and the request it answers (the same call_id, last seen) as
Suricata's joined transaction writes it. So every request has one event naming client,
server, interface and opnum whatever came back. Names of PDU types are Suricata's
(win_names DCERPC_PTYPES). A FAULT's status has no field in the schema: it is not
written (the record keeps it).
"""
from __future__ import annotations

import uuid as _uuid
from typing import Any, Iterable

import numpy as np

from wirescore.core_names import DCERPC_BITS
from wirescore.outputs.eve_head import EventHead
from wirescore.win_names import DCERPC_SERVICES, name_of

_SCALARS = ("flow_id", "ts_us", "nvlan", "vlan0", "vlan1", "ip_version", "proto",
            "src_port", "dest_port", "call_id", "req_stub", "res_stub", "req_frags",
            "res_frags", "opnum", "req_ptype", "res_ptype", "ver", "ver_minor", "flags",
            "n_ifaces")
_ARRAYS = ("if_ver_major", "if_ver_minor", "if_ack", "if_flags")
NONE = 0xFF


def uuid_text(raw: bytes) -> str:
    """16 bytes in text order as Suricata writes a UUID (lower case, dashed)."""
    return str(_uuid.UUID(bytes=bytes(raw)))


def ptype_text(ptype: int) -> str:
    return name_of("dcerpc_ptypes", ptype)


class DcerpcEventFormatter:
    """DCERPC_EVENT_DTYPE records -> EVE dcerpc event dicts (see the module docstring)."""

    kind = "dcerpc"

    def __init__(self, community_id_seed: int = 0):
        self._head = EventHead(community_id_seed)

    def events(self, records: np.ndarray) -> Iterable[dict[str, Any]]:
        if not len(records):
            return
        cols = {name: records[name].tolist() for name in _SCALARS}
        arrays = {name: records[name].tolist() for name in _ARRAYS}
        src, dst, uuids = records["src_addr"], records["dest_addr"], records["if_uuid"]
        for i in range(len(records)):
            row = {name: col[i] for name, col in cols.items()}
            row.update((name, col[i]) for name, col in arrays.items())
            row["if_uuid"] = uuids[i].tobytes()
            yield self._event(row, src[i], dst[i])

    def event(self, rec) -> dict[str, Any]:
        """One record's event (a row of DCERPC_EVENT_DTYPE)."""
        return next(iter(self.events(np.asarray(rec).reshape(1))))

    def _event(self, row, src_addr, dst_addr) -> dict[str, Any]:
        ev = self._head(row, src_addr, dst_addr, self.kind)
        ev["dcerpc"] = self._dcerpc(row)
        return ev

    def _dcerpc(self, row) -> dict[str, Any]:
        flags = row["flags"]
        d: dict[str, Any] = {}
        if row["req_ptype"] != NONE:
            d["request"] = ptype_text(row["req_ptype"])
        if row["res_ptype"] != NONE:
            d["response"] = ptype_text(row["res_ptype"])
        d["call_id"] = row["call_id"]
        d["rpc_version"] = f"{row['ver']}.{row['ver_minor']}"
        ifaces = self._interfaces(row, flags)
        if ifaces:
            d["interfaces"] = ifaces
        if flags & DCERPC_BITS["DV_REQ"]:
            d["req"] = {"opnum": row["opnum"], "frag_cnt": row["req_frags"],
                        "stub_data_size": row["req_stub"]}
        if flags & DCERPC_BITS["DV_RES"]:
            d["res"] = {"frag_cnt": row["res_frags"], "stub_data_size": row["res_stub"]}
        return d

    @staticmethod
    def _interfaces(row, flags: int) -> list[dict]:
        out = []
        for k in range(row["n_ifaces"]):
            text = uuid_text(row["if_uuid"][16 * k:16 * k + 16])
            f: dict[str, Any] = {"uuid": text,
                                 "version": f"{row['if_ver_major'][k]}.{row['if_ver_minor'][k]}"}
            known = DCERPC_SERVICES.get(text)
            if known:
                f["service"] = known[0]
                if flags & DCERPC_BITS["DV_REQ"] and row["opnum"] in known[1]:
                    f["procedure"] = known[1][row["opnum"]]
            if row["if_flags"][k] & DCERPC_BITS["DI_ACK"]:
                f["ack_result"] = row["if_ack"][k]
            out.append(f)
        return out
