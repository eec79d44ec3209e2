"""DCE-RPC parity with tshark, the independent reference, on every shared capture and
the public evaluation mix.

For each capture tshark decodes its DCE-RPC PDUs (`-T json -Y dcerpc`: per PDU its
type, flags, call_id, opnum and the interface UUIDs a BIND offers,
dcerpc.cn_bind_to_uuid) and wirescore's engine hands over its dcerpc event records
(on_app). Compared: each BIND / ALTER_CONTEXT's interface UUIDs, and each REQUEST's
opnum at its last fragment (where wirescore writes the request's event), joined by
(sender, its port, receiver, its port, call_id, PDU type). Every difference is one of
the explained classes below, or the test fails naming the capture and the PDU:

- smb-pipe: DCE-RPC carried in SMB named pipes (tshark: a frame with an smb or smb2
  layer; wirescore: an event of a connection to port 445 or 139) is compared in
  tests/test_app_smb_tshark.py; here only DCE-RPC straight over TCP.
- cut: a PDU wirescore read from a prefix (the snap length, a lost segment, longer
  than the hold; its event flagged cut), or one tshark flags malformed or short (the
  public evaluation mix is cut at 256 bytes a packet): what both read agrees (one
  list of interfaces a prefix of the other, or a field only one side reached).
- ctx-max: a BIND offering more than the 8 contexts an event keeps (the count is in
  app.dcerpc_ctx_over): the first 8 agree.
- midstream: the capture starts inside the connection and the direction's first captured
  bytes are the middle of a PDU: wirescore's probe sees no DCE-RPC header there and the
  direction is not parsed (the other direction may be); tshark decodes the direction's
  later PDUs knowing the conversation from the other side.
- port: wirescore finds DCE-RPC by content on any port; tshark only on 135, on the
  ports the endpoint mapper handed out in the same capture, and where its heuristic
  agrees: PDUs that are wirescore's only.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import uuid as _uuid
from collections import Counter, defaultdict
from functools import lru_cache

import pytest

import winref
from conftest import SHARED_DATA, shared_available, shared_captures
from tshark_join import compare_all, unexplained_message
from wirescore.config import Config
from wirescore.core_names import DCERPC_BITS
from wirescore.engine import Engine
from wirescore.errors import WirescoreError
from wirescore.outputs.eve import ip_text

REQUEST, BIND, ALTER_CONTEXT = 0, 11, 14
LAST_FRAG = 0x02
MAX_IFACES = 8
PI_ERROR = 0x00800000


def tshark_pdus(path) -> list[dict]:
    """tshark's DCE-RPC PDUs of a capture: the BINDs / ALTER_CONTEXTs and the last
    fragments of REQUESTs, each with its frame's facts."""
    proc = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", "dcerpc", "-T", "json",
                           "-J", "frame ip ipv6 tcp smb smb2 dcerpc _ws.malformed "
                           "_ws.expert _ws.short"], capture_output=True, text=True,
                          errors="surrogateescape", timeout=900)
    out = []
    for packet in json.loads(proc.stdout or "[]", object_pairs_hook=winref._pairs) or []:
        layers = packet["_source"][0]["layers"][0]
        frame = winref.flatten(layers.get("frame", []))
        ip = winref.flatten(layers.get("ip", []) or layers.get("ipv6", []))
        tcp = winref.flatten(layers.get("tcp", []))
        flat_all = winref.flatten(layers)
        smb = "smb" in layers or "smb2" in layers
        short = "_ws.short" in layers
        malformed = "_ws.malformed" in layers or any(
            int(v) >= PI_ERROR for v in flat_all.get("_ws.expert.severity", []))
        src = winref.one(ip, "ip.src") or winref.one(ip, "ipv6.src")
        dst = winref.one(ip, "ip.dst") or winref.one(ip, "ipv6.dst")
        for pdu in layers.get("dcerpc", []):
            for item in (pdu if isinstance(pdu, list) else [pdu]):
                f = winref.flatten(item)
                ptype = int(winref.one(f, "dcerpc.pkt_type", -1))
                flags = int(winref.one(f, "dcerpc.cn_flags", "0"), 16)
                if ptype not in (REQUEST, BIND, ALTER_CONTEXT) or "dcerpc.cn_call_id" not in f:
                    continue
                if ptype == REQUEST and not flags & LAST_FRAG:
                    continue
                key = (src, int(winref.one(tcp, "tcp.srcport", 0)), dst,
                       int(winref.one(tcp, "tcp.dstport", 0)),
                       int(winref.one(f, "dcerpc.cn_call_id")), ptype)
                value = (int(winref.one(f, "dcerpc.opnum")) if ptype == REQUEST
                         and "dcerpc.opnum" in f else
                         tuple(f.get("dcerpc.cn_bind_to_uuid", [])) if ptype != REQUEST
                         else None)
                out.append(dict(key=key, value=value, smb=smb, malformed=malformed, short=short,
                                frame=winref.one(frame, "frame.number")))
    return out


def our_pdus(path) -> tuple[list[dict], str | None]:
    """wirescore's dcerpc events of a capture keyed like tshark's PDUs; the error that
    refused the capture, if any."""
    got = []
    error = None
    cfg = Config.load(overrides={"detect.enabled": False})
    with tempfile.TemporaryDirectory(prefix="ws-dcerpc-parity-") as logs:
        try:
            Engine(cfg, log_dir=logs,
                   on_app=lambda kind, recs, evs: got.extend(recs) if kind == "dcerpc" else None
                   ).run(str(path))
        except WirescoreError as exc:
            error = str(exc)
    out = []
    for r in got:
        flags = int(r["flags"])
        if flags & DCERPC_BITS["DV_RESPONSE"]:
            continue                              # answers: not in tshark's columns here
        v = int(r["ip_version"])
        alen = 4 if v == 4 else 16
        ptype = int(r["req_ptype"])
        n = int(r["n_ifaces"])
        uuids = tuple(str(_uuid.UUID(bytes=bytes(r["if_uuid"][16 * k:16 * k + 16])))
                      for k in range(n))
        value = (int(r["opnum"]) if flags & DCERPC_BITS["DV_REQ"] else None) \
            if ptype == REQUEST else uuids
        out.append(dict(key=(ip_text(bytes(r["src_addr"][:alen]), v), int(r["src_port"]),
                             ip_text(bytes(r["dest_addr"][:alen]), v), int(r["dest_port"]),
                             int(r["call_id"]), ptype),
                        value=value, cut=bool(flags & DCERPC_BITS["DV_CUT"])))
    return out, error


@lru_cache(maxsize=4)
def midstream(path) -> set:
    """(src, sport) of the TCP directions whose first captured payload byte is no
    DCE-RPC header's (a capture started inside the connection)."""
    rows = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", "tcp.len > 0", "-T",
                           "fields", "-E", "occurrence=f", "-e", "ip.src", "-e", "ipv6.src",
                           "-e", "tcp.srcport", "-e", "tcp.payload"], capture_output=True,
                          text=True, errors="surrogateescape", timeout=900).stdout
    first: dict = {}
    for line in rows.splitlines():
        src4, src6, sport, payload = (line.split("\t") + ["", "", "", ""])[:4]
        if sport and payload:
            first.setdefault((src4 or src6, int(sport)), payload[:2])
    return {key for key, byte in first.items() if byte != "05"}


def _explain_pair(t: dict, m: dict) -> str | None:
    if t["value"] == m["value"]:
        return "equal"
    tv, mv = t["value"], m["value"]
    if m["cut"] or t["malformed"] or t["short"]:
        if (mv is None or tv is None
                or (isinstance(tv, tuple) and (tv[:len(mv)] == mv or mv[:len(tv)] == tv))):
            return "cut"
    if isinstance(tv, tuple) and len(tv) > MAX_IFACES and tv[:MAX_IFACES] == mv:
        return "ctx-max"
    return None


def compare(path) -> tuple[Counter, list[str]]:
    """(count of each class of difference and of equal PDUs, unexplained ones)."""
    theirs = tshark_pdus(path)
    ours, error = our_pdus(path)
    classes: Counter = Counter()
    unexplained: list[str] = []
    by_key = defaultdict(list)
    for m in ours:
        by_key[m["key"]].append(m)
    for t in theirs:
        if t["smb"]:
            classes["smb-pipe"] += 1
            continue
        mine = by_key.get(t["key"])
        m = mine.pop(0) if mine else None
        if m is None:
            verdict = ("midstream" if t["key"][:2] in midstream(path)
                       else "cut" if t["malformed"] else None)
        else:
            verdict = _explain_pair(t, m)
        if verdict is None:
            unexplained.append(f"frame {t['frame']} {t['key']}: tshark {t['value']}, "
                               f"wirescore {m and m['value']}")
        else:
            classes[verdict] += 1
    for key, rest in by_key.items():
        classes["smb-pipe" if {key[1], key[3]} & {445, 139} else "port"] += len(rest)
    return classes, unexplained


@pytest.mark.skipif(not shared_available(), reason=f"shared captures not found at {SHARED_DATA}")
def test_dcerpc_binds_and_opnums_equal_tshark_on_every_capture():
    mix = SHARED_DATA / "eval" / "mix-public.pcap"          # cut at 256 bytes a packet
    captures = shared_captures() + ([mix] if mix.is_file() else [])
    total, problems = compare_all(compare, captures)
    print("DCE-RPC parity with tshark:", dict(total))
    assert total["equal"] > 800, dict(total)
    assert not problems, unexplained_message(problems)
