"""The DCE-RPC PDU parser (ext/app/dcerpc.pxd) on every connection-oriented PDU over TCP
of the shared captures, field by field against tshark, and its prefixes.

tests/winref.py lays out each TCP stream and cuts it at each PDU's frag_length; each
PDU's bytes go to wirescore._core.msg_dcerpc.parse_dcerpc and what it reads is compared
with tshark's decode of the same PDU (in the frame carrying its last byte, in order).
Where the two differ by tshark's way of showing a field, the comparison says so:
- tshark shows a context's abstract syntax once per transfer syntax offered
  (dcerpc.cn_bind_to_uuid repeats); our context keeps the interface once and the first
  transfer syntax, so tshark's per-context lists are compared by their first item;
- tshark shows dcerpc.opnum on a RESPONSE too, from the REQUEST it matched (a
  response carries none): compared on requests only;
- the auth trailer's token: tshark nests its ntlmssp (auth type 10) or kerberos (9)
  fields in the dcerpc layer; NTLMSSP is compared by test_msg_ntlmssp.check_ntlm.
"""
from __future__ import annotations

import pytest

import winref
from conftest import need_shared
from test_msg_smb import Diff, hexint
from wirescore._core import msg_dcerpc

DCERPC_CAPTURES = (
    "labeled/windows-ad-attacks/LateralMovement__LM_psexec_smb_dcerpc_epm_svcctl.pcapng",
    "labeled/windows-ad-attacks/CredAccess__DCSync_krbtgt_dcerpc_smb.pcapng",
    "labeled/windows-ad-attacks/Discovery__discovery_scan_dcerpc_endpoint_mapper.pcapng",
    "labeled/windows-ad-attacks/Discovery__Discovery_impacket_rpcdump.pcapng",
    "labeled/windows-ad-attacks/LateralMovement__LM_WMI_ProcessCallCreate.pcapng",
)
PSEXEC = DCERPC_CAPTURES[0]


def dcerpc_units(pcap) -> list:
    """Every DCE-RPC PDU of every TCP stream of pcap (streams that start with one)."""
    out = []
    for st in winref.streams(pcap).values():
        out += winref.dcerpc_units(st)
    return out


def per_frame(units) -> dict:
    out = {}
    for unit in sorted(units, key=lambda u: (u.frame, u.offset)):
        out.setdefault(unit.frame, []).append(msg_dcerpc.parse_dcerpc(unit.data, unit.length))
    return out


def _ints(t: dict, name: str) -> list:
    return [hexint(v) for v in t.get(name, [])]


def check_header(d: Diff, m: dict, t: dict):
    for key, name in (("ver", "dcerpc.ver"), ("ver_minor", "dcerpc.ver_minor"),
                      ("ptype", "dcerpc.pkt_type"), ("pfc_flags", "dcerpc.cn_flags"),
                      ("frag_len", "dcerpc.cn_frag_len"), ("auth_len", "dcerpc.cn_auth_len"),
                      ("call_id", "dcerpc.cn_call_id")):
        d.eq(key, m.get(key), hexint(winref.one(t, name)))
    d.eq("drep", m.get("drep"), winref.one(t, "dcerpc.drep").replace(":", ""))


def check_bind(d: Diff, m: dict, t: dict):
    if "dcerpc.cn_max_xmit" in t:
        d.eq("max_xmit", m.get("max_xmit"), int(winref.one(t, "dcerpc.cn_max_xmit")))
        d.eq("max_recv", m.get("max_recv"), int(winref.one(t, "dcerpc.cn_max_recv")))
        d.eq("assoc_group", m.get("assoc_group"), hexint(winref.one(t, "dcerpc.cn_assoc_group")))
    if "dcerpc.cn_num_ctx_items" in t:
        d.eq("n_ctx", m.get("n_ctx"), int(winref.one(t, "dcerpc.cn_num_ctx_items")))
    if "dcerpc.cn_ctx_item" in t:
        ctx = m.get("ctx", [])
        d.eq("ctx uuids", [c["uuid"] for c in ctx],
             list(dict.fromkeys(t["dcerpc.cn_bind_to_uuid"]))
             if len(ctx) == 1 else [c["uuid"] for c in ctx])
        d.eq("ctx versions", [c["version"] for c in ctx][:1],
             [f"{winref.one(t, 'dcerpc.cn_bind_if_ver')}."
              f"{winref.one(t, 'dcerpc.cn_bind_if_ver_minor')}"])
        d.eq("transfer", [c.get("transfer") for c in ctx][:1],
             [winref.one(t, "dcerpc.cn_bind_trans_id")])
        d.eq("n_transfer", [c["n_transfer"] for c in ctx],
             [int(v) for v in t["dcerpc.cn_num_trans_items"]])
        d.eq("ctx_ids", [c["ctx_id"] for c in ctx][:1], _ints(t, "dcerpc.cn_ctx_id")[:1])
    if "dcerpc.cn_num_results" in t:
        d.eq("n_results", m.get("n_results"), int(winref.one(t, "dcerpc.cn_num_results")))
        d.eq("results", [r["result"] for r in m.get("results", [])],
             _ints(t, "dcerpc.cn_ack_result"))
        d.eq("ack transfer", [r["transfer"] for r in m.get("results", [])],
             t.get("dcerpc.cn_ack_trans_id", []))
    if "dcerpc.cn_sec_addr" in t:
        d.eq("sec_addr", m.get("sec_addr"), winref.one(t, "dcerpc.cn_sec_addr"))


def check_call(d: Diff, m: dict, t: dict):
    if "dcerpc.cn_alloc_hint" in t:
        d.eq("alloc_hint", m.get("alloc_hint"), int(winref.one(t, "dcerpc.cn_alloc_hint")))
    if "dcerpc.opnum" in t and m.get("ptype") == 0:
        d.eq("opnum", m.get("opnum"), int(winref.one(t, "dcerpc.opnum")))
    if "dcerpc.cn_ctx_id" in t and m.get("ptype") in (0, 2, 3):
        d.eq("ctx_id", m.get("ctx_id"), int(winref.one(t, "dcerpc.cn_ctx_id")))
    if "dcerpc.cn_cancel_count" in t:
        d.eq("cancel_count", m.get("cancel_count"), int(winref.one(t, "dcerpc.cn_cancel_count")))
    if "dcerpc.cn_status" in t:
        d.eq("status", m.get("status"), hexint(winref.one(t, "dcerpc.cn_status")))
    if "dcerpc.object" in t:
        d.eq("object", m.get("object"), winref.one(t, "dcerpc.object"))
    if "stub_off" in m:
        trailer = m["auth_len"] + 8 if m["auth_len"] else 0
        d.eq("stub span", m["stub_off"] + m["stub_len"] + trailer, m["frag_len"])


def check_auth(d: Diff, m: dict, t: dict):
    if "dcerpc.auth_type" not in t:
        d.eq("auth_type", m.get("auth_type"), None)
        return
    for key, name in (("auth_type", "dcerpc.auth_type"), ("auth_level", "dcerpc.auth_level"),
                      ("auth_pad", "dcerpc.auth_pad_len"), ("auth_ctx_id", "dcerpc.auth_ctx_id")):
        d.eq(key, m.get(key), int(winref.one(t, name)))
    auth = m.get("auth", {})
    if "ntlmssp.messagetype" in t:
        from test_msg_ntlmssp import check_ntlm
        check_ntlm(d, auth.get("ntlm", {}), t)
    elif "kerberos.msg_type" in t:
        d.eq("krb_msg_type", auth.get("krb_msg_type"), int(winref.one(t, "kerberos.msg_type")))


def compare_capture(pcap, ours: dict, theirs: dict) -> tuple[list, int]:
    diffs, count = [], 0
    for frame in sorted(set(ours) | set(theirs)):
        mine, ts = ours.get(frame, []), theirs.get(frame, [])
        if len(mine) != len(ts):
            diffs.append((frame, "pdus", len(mine), len(ts)))
            continue
        for k, (m, t) in enumerate(zip(mine, ts)):
            count += 1
            d = Diff((pcap.name, frame, k))
            if m["rc"] != 0:
                d.eq("rc", m["rc"], 0)
                diffs += d.items
                continue
            check_header(d, m, t)
            check_bind(d, m, t)
            check_call(d, m, t)
            check_auth(d, m, t)
            diffs += d.items
    return diffs, count


@pytest.mark.shared
@pytest.mark.parametrize("name", DCERPC_CAPTURES)
def test_dcerpc_pdus_equal_tsharks(name):
    pcap = need_shared() / "pcaps" / name
    units = dcerpc_units(pcap)
    assert units and all(u.whole for u in units), "these captures hold every byte"
    ours = per_frame(units)
    theirs = winref.tshark_layers(pcap, "dcerpc", "dcerpc")
    diffs, count = compare_capture(pcap, ours, theirs)
    assert count == sum(len(v) for v in theirs.values()) > 0
    assert not diffs, diffs[:20]


@pytest.mark.shared
def test_psexec_names_its_interfaces_and_procedures():
    """The names the EVE side writes: epm and svcctl bound, svcctl's CreateServiceW (12)
    and StartServiceW (19) called (Suricata's table, MS-SCMR 3.1.4)."""
    pcap = need_shared() / "pcaps" / PSEXEC
    pdus = [msg_dcerpc.parse_dcerpc(u.data, u.length) for u in dcerpc_units(pcap)]
    bound = {c["uuid"]: c["service"] for p in pdus for c in p.get("ctx", [])}
    assert bound == {"e1af8308-5d1f-11c9-91a4-08002b14a0fa": "epmapper",
                     "367abb81-9844-35f1-ad32-98f038001003": "svcctl"}
    svcctl = "367abb81-9844-35f1-ad32-98f038001003"
    called = {msg_dcerpc.procedure(svcctl, p["opnum"]) for p in pdus if "opnum" in p
              and p["ctx_id"] == 0 and p["call_id"] > 1 and p.get("auth_type") == 10}
    assert {"OpenSCManagerW", "CreateServiceWOW64W", "StartServiceW"} <= called


def test_frag_len_splits_streams():
    pdu = bytes.fromhex("05000b031000000048000000010000000000")
    assert msg_dcerpc.frag_len(pdu[:9]) == -1
    assert msg_dcerpc.frag_len(pdu) == 0x48
    assert msg_dcerpc.frag_len(b"\x04" + pdu[1:]) == -2


def first_of_each_type(units, most=8) -> list:
    """The first PDU of each packet type among units (at most `most`)."""
    out = {}
    for unit in units:
        out.setdefault(unit.data[2], unit)
    return list(out.values())[:most]


def check_prefix(whole: dict, part: dict, cut: int):
    """A prefix parse: rc 1; every field it has equals the whole parse's, but a string
    cut at the end (flagged STR_CUT, its text a prefix of the whole's) and the spans that
    run to the cut (the stub's, the auth token's)."""
    assert part["rc"] == 1, (cut, part)
    same_fields(whole, part, cut)


def same_fields(whole: dict, part: dict, cut: int):
    for key, value in part.items():
        if key in ("rc", "stub_len", "token_len") or key.endswith("_flags"):
            continue
        if part.get(key + "_flags", 0) & 1:              # STR_CUT
            assert part[key + "_flags"] & 1 and whole[key].startswith(value), (cut, key)
        elif isinstance(value, dict):
            same_fields(whole[key], value, cut)
        else:
            assert whole[key] == value, (cut, key, value, whole[key])


@pytest.mark.shared
@pytest.mark.parametrize("name", (PSEXEC, DCERPC_CAPTURES[4]))
def test_every_prefix_of_real_pdus(name):
    """The first PDU of each type, cut at every length: never a crash, a prefix (rc 1)
    at every cut, whole (rc 0) only at its full length."""
    pcap = need_shared() / "pcaps" / name
    units = first_of_each_type(dcerpc_units(pcap))
    assert len(units) >= 4
    for unit in units:
        whole = msg_dcerpc.parse_dcerpc(unit.data)
        assert whole["rc"] == 0
        for cut in range(len(unit.data)):
            check_prefix(whole, msg_dcerpc.parse_dcerpc(unit.data[:cut], unit.length), cut)
