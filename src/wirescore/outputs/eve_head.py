"""The part every app-layer EVE event of a flow shares: timestamp, flow_id, vlan, the
endpoints' text, proto and Community ID, from an event record's identity fields
(flow_id, ts_us, nvlan, vlan0, vlan1, src_addr, dest_addr, src_port, dest_port,
ip_version, proto), as Suricata writes them.
"""
from __future__ import annotations

from typing import Any

from wirescore.outputs.community_id import community_id
from wirescore.outputs.eve import Timestamps, ip_text, proto_name

#: tuples whose text (addresses, protocol) and Community ID are kept between batches
_IDENTITY_CACHE = 4096


class EventHead:
    """Makes an event's shared fields; a tuple's text and Community ID are made once."""

    def __init__(self, community_id_seed: int = 0):
        self.seed = community_id_seed
        self.ts = Timestamps()
        self._identity: dict = {}

    def _identity_of(self, rec) -> tuple:
        version = int(rec["ip_version"])
        alen = 4 if version == 4 else 16
        src, dst = bytes(rec["src_addr"][:alen]), bytes(rec["dest_addr"][:alen])
        proto, sport, dport = int(rec["proto"]), int(rec["src_port"]), int(rec["dest_port"])
        key = (version, proto, src, dst, sport, dport)
        got = self._identity.get(key)
        if got is None:
            got = (ip_text(src, version), ip_text(dst, version), proto_name(proto),
                   community_id(proto, src, dst, sport, dport, self.seed))
            if len(self._identity) >= _IDENTITY_CACHE:
                self._identity.clear()
            self._identity[key] = got
        return got

    def __call__(self, rec, event_type: str) -> dict[str, Any]:
        """The event's dict up to event_type (one record of an event dtype)."""
        src, dst, proto, cid = self._identity_of(rec)
        ev: dict[str, Any] = {"timestamp": self.ts(int(rec["ts_us"])),
                              "flow_id": int(rec["flow_id"])}
        nvlan = int(rec["nvlan"])
        if nvlan:
            ev["vlan"] = [int(rec["vlan0"]), int(rec["vlan1"])][:nvlan]
        ev.update(src_ip=src, src_port=int(rec["src_port"]), dest_ip=dst,
                  dest_port=int(rec["dest_port"]), proto=proto, community_id=cid,
                  event_type=event_type)
        return ev
