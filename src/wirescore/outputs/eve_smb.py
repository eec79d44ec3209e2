"""EVE smb events, with Suricata's field names, from the core's SMB event records
(SMB_EVENT_DTYPE, ext/app/smbroom.pxd).

    {"timestamp", "flow_id", ..., "event_type": "smb",
     "smb": {"id", "dialect": "3.11", "command": "SMB2_COMMAND_TREE_CONNECT",
             "status": "STATUS_SUCCESS", "status_code": "0x0", "session_id", "tree_id",
             "share": "\\\\host\\ADMIN$", "share_type": "FILE",
             "filename": "x.exe" | "named_pipe": "svcctl", "disposition": "FILE_OPEN",
             "client_dialects": ["2.02", "2.10"],
             "ntlmssp": {"domain", "user", "host"}}}

One event per SMB2 response, with its request's fields (joined by message id, as
Suricata writes a transaction), and one per SMB1 NEGOTIATE request (its dialect strings
as client_dialects) and response. "share" is the tree's path: on a TREE_CONNECT the
path asked for, on a CREATE the path of the tree it names; a CREATE on IPC$ writes the
pipe's name as "named_pipe", any other its name as "filename". "dialect" is the
connection's negotiated SMB2 revision once its NEGOTIATE response was read. A response
without its request in the capture (or beyond the pending table) has only the header's
fields. Strings are the UTF-8 of the UTF-16 names, as far as kept. A record flagged
SB_COMPRESSED (a compression transform header that breaks [MS-SMB2], for the smb.comp
observation) has an event (the head its alert copies) but writes no line (written()):
Suricata writes no smb transaction for a compressed message.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from wirescore.core_names import SMB_BITS
from wirescore.outputs.eve_head import EventHead, columns
from wirescore.win_names import name_of

_FIELDS = ("session_id", "tx_id", "status", "tree_id", "command", "dialect", "flags",
           "disposition", "share_type", "n_dialects", "name_len", "share_len", "user_len",
           "domain_len", "host_len")
_B = SMB_BITS


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def smb_object(row: dict) -> dict[str, Any]:
    """The "smb" object of one record (row: Python values; name, share, user, domain,
    host and dialects already cut to their lengths)."""
    flags = row["flags"]
    smb1 = flags & _B["SB_SMB1"]
    out: dict[str, Any] = {"id": row["tx_id"]}
    if flags & _B["SB_DIALECT"]:
        out["dialect"] = name_of("smb2_dialects", row["dialect"])
    out["command"] = name_of("smb1_commands" if smb1 else "smb2_commands", row["command"])
    if flags & _B["SB_RESPONSE"]:
        out["status"] = name_of("nt_status", row["status"])
        out["status_code"] = f"0x{row['status']:x}"
    out["session_id"] = row["session_id"]
    out["tree_id"] = row["tree_id"]
    if flags & _B["SB_SHARE"] and row["share"]:
        out["share"] = _text(row["share"])
    if flags & _B["SB_SHARE_TYPE"]:
        out["share_type"] = name_of("smb2_share_types", row["share_type"])
    if flags & _B["SB_FILENAME"]:
        key = "named_pipe" if flags & _B["SB_PIPE"] else "filename"
        out[key] = _text(row["name"])
    if flags & _B["SB_DISPOSITION"]:
        out["disposition"] = name_of("smb2_dispositions", row["disposition"])
    if flags & _B["SB_DIALECTS"]:
        if smb1:
            names = [_text(s) for s in row["name"].split(b"\0")[:row["n_dialects"]]]
        else:
            names = [name_of("smb2_dialects", d) for d in row["dialects"]]
        if names:
            out["client_dialects"] = names
    if flags & _B["SB_NTLM"]:
        out["ntlmssp"] = {"domain": _text(row["domain"]), "user": _text(row["user"]),
                          "host": _text(row["host"])}
    return out


class SmbEventFormatter:
    """SMB_EVENT_DTYPE records -> EVE smb event dicts (see the module docstring)."""

    kind = "smb"

    def __init__(self, community_id_seed: int = 0):
        self.head = EventHead(community_id_seed)

    def events(self, records: np.ndarray) -> Iterable[dict[str, Any]]:
        if not len(records):
            return
        src, dst = records["src_addr"], records["dest_addr"]
        name, share, dialects = records["name"], records["share"], records["dialects"]
        user, domain, host = records["user"], records["domain"], records["host"]
        for i, row in enumerate(columns(records, _FIELDS)):
            row["name"] = name[i, :row["name_len"]].tobytes()
            row["share"] = share[i, :row["share_len"]].tobytes()
            row["user"] = user[i, :row["user_len"]].tobytes()
            row["domain"] = domain[i, :row["domain_len"]].tobytes()
            row["host"] = host[i, :row["host_len"]].tobytes()
            row["dialects"] = dialects[i, :row["n_dialects"]].tolist()
            ev = self.head(row, src[i], dst[i], "smb")
            ev["smb"] = smb_object(row)
            yield ev

    def written(self, records: np.ndarray) -> np.ndarray:
        """The records that write an EVE line: all but SB_COMPRESSED ones (their event
        serves the alert that names them)."""
        return records[(records["flags"] & _B["SB_COMPRESSED"]) == 0]

    def event(self, rec) -> dict[str, Any]:
        """One record's event."""
        return next(iter(self.events(np.asarray(rec).reshape(1))))
