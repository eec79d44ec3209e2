"""The part every app-layer EVE event of a flow shares: timestamp, flow_id, vlan, the
endpoints' text, proto and Community ID, from an event record's identity fields
(flow_id, ts_us, nvlan, vlan0, vlan1, src_addr, dest_addr, src_port, dest_port,
ip_version, proto), as Suricata writes them. A batch is read column by column
(columns()), each row's fields then being plain Python values.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from wirescore.outputs.community_id import community_id
from wirescore.outputs.eve import Timestamps, ip_text, proto_name

#: the identity fields read as Python values (the addresses are read as bytes per row)
HEAD_FIELDS = ("flow_id", "ts_us", "nvlan", "vlan0", "vlan1", "src_port", "dest_port",
               "ip_version", "proto")
#: tuples whose text (addresses, protocol) and Community ID are kept between batches
_IDENTITY_CACHE = 4096


class EventHead:
    """Makes an event's shared fields; a tuple's text and Community ID are made once."""

    def __init__(self, community_id_seed: int = 0):
        self.seed = community_id_seed
        self.ts = Timestamps()
        self._identity: dict = {}

    def _identity_of(self, row, src_addr, dst_addr) -> tuple:
        version = row["ip_version"]
        alen = 4 if version == 4 else 16
        src, dst = src_addr[:alen].tobytes(), dst_addr[:alen].tobytes()
        proto, sport, dport = row["proto"], row["src_port"], row["dest_port"]
        key = (version, proto, src, dst, sport, dport)
        got = self._identity.get(key)
        if got is None:
            got = (ip_text(src, version), ip_text(dst, version), proto_name(proto),
                   community_id(proto, src, dst, sport, dport, self.seed))
            if len(self._identity) >= _IDENTITY_CACHE:
                self._identity.clear()
            self._identity[key] = got
        return got

    def __call__(self, row: dict, src_addr, dst_addr, event_type: str) -> dict[str, Any]:
        """The event's dict up to event_type: row holds HEAD_FIELDS as Python values
        (columns()), src_addr / dst_addr the record's address arrays."""
        src, dst, proto, cid = self._identity_of(row, src_addr, dst_addr)
        ev: dict[str, Any] = {"timestamp": self.ts(row["ts_us"]), "flow_id": row["flow_id"]}
        nvlan = row["nvlan"]
        if nvlan:
            ev["vlan"] = [row["vlan0"], row["vlan1"]][:nvlan]
        ev.update(src_ip=src, src_port=row["src_port"], dest_ip=dst,
                  dest_port=row["dest_port"], proto=proto, community_id=cid,
                  event_type=event_type)
        return ev


def columns(records: np.ndarray, names) -> list[dict]:
    """The records' fields `names` (and HEAD_FIELDS) as one dict of Python values per
    record, read column by column."""
    names = HEAD_FIELDS + tuple(names)
    cols = [records[name].tolist() for name in names]
    return [dict(zip(names, vals)) for vals in zip(*cols)]
