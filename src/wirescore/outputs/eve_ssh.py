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
from wirescore.outputs.eve_head import EventHead

_SIDES = ((0, "client", SSH_BITS["SE_CLIENT"]), (1, "server", SSH_BITS["SE_SERVER"]))


def ssh_object(rec) -> dict[str, Any]:
    """The "ssh" object of one SSH_EVENT_DTYPE record."""
    st = int(rec["status"])
    out: dict[str, Any] = {}
    for d, side, bit in _SIDES:
        if st & bit:
            out[side] = {
                "proto_version": text_of(bytes(rec["proto_version"][d][:int(rec["proto_len"][d])])),
                "software_version": text_of(bytes(rec["software"][d][:int(rec["soft_len"][d])]))}
    return out


class SshEventFormatter:
    """SSH_EVENT_DTYPE records -> EVE ssh event dicts (see the module docstring)."""

    kind = "ssh"

    def __init__(self, community_id_seed: int = 0):
        self.head = EventHead(community_id_seed)

    def events(self, records: np.ndarray) -> Iterable[dict[str, Any]]:
        for rec in records:
            ev = self.head(rec, "ssh")
            ev["ssh"] = ssh_object(rec)
            yield ev

    def event(self, rec) -> dict[str, Any]:
        """One record's event."""
        return next(iter(self.events(np.asarray(rec).reshape(1))))
