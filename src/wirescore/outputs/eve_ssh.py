"""EVE ssh events, as Suricata writes them (one per flow, once both identification
strings are read, or when the flow ends with one), from the core's SSH event records
(SSH_EVENT_DTYPE, ext/app/sshroom.pxd).

    {"timestamp", "flow_id", ..., "event_type": "ssh",
     "ssh": {"client": {"proto_version", "software_version"},
             "server": {"proto_version", "software_version"}}}

src is the client. software_version is the banner's text after the protocol version up
to the first space (the comments are not written, as Suricata); a side whose banner was
not read is left out; one cut by the snap length or a gap is written as far as it was
captured. HASSH is not read.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from wirescore.core_names import SSH_BITS
from wirescore.outputs.eve_dns import text_of
from wirescore.outputs.eve_head import EventHead, columns

_SIDES = ((0, "client", SSH_BITS["SE_CLIENT"]), (1, "server", SSH_BITS["SE_SERVER"]))


def ssh_object(row: dict) -> dict[str, Any]:
    """The "ssh" object of one record: status, and per side d the kept bytes of
    proto_version and software (lists of two, Python values)."""
    out: dict[str, Any] = {}
    for d, side, bit in _SIDES:
        if row["status"] & bit:
            out[side] = {"proto_version": text_of(row["proto_version"][d]),
                         "software_version": text_of(row["software"][d])}
    return out


class SshEventFormatter:
    """SSH_EVENT_DTYPE records -> EVE ssh event dicts (see the module docstring)."""

    kind = "ssh"

    def __init__(self, community_id_seed: int = 0):
        self.head = EventHead(community_id_seed)

    def events(self, records: np.ndarray) -> Iterable[dict[str, Any]]:
        if not len(records):
            return
        proto, soft = records["proto_version"], records["software"]
        src, dst = records["src_addr"], records["dest_addr"]
        for i, row in enumerate(columns(records, ("status", "proto_len", "soft_len"))):
            row["proto_version"] = [proto[i, d, :row["proto_len"][d]].tobytes() for d in (0, 1)]
            row["software"] = [soft[i, d, :row["soft_len"][d]].tobytes() for d in (0, 1)]
            ev = self.head(row, src[i], dst[i], "ssh")
            ev["ssh"] = ssh_object(row)
            yield ev

    def event(self, rec) -> dict[str, Any]:
        """One record's event."""
        return next(iter(self.events(np.asarray(rec).reshape(1))))
