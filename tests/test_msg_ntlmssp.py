"""The NTLMSSP parser (ext/app/ntlmssp.pxd) on the real NTLMSSP messages of the shared
captures (in DCE-RPC auth trailers and SMB session setups), field by field against
tshark's ntlmssp fields, and every prefix of each.

check_ntlm() is the comparison; test_msg_smb.py and test_msg_dcerpc.py call it on the
token parsed inside each security blob / auth trailer. tshark's way of showing a field,
where it is not the message's:
- the AV pairs of an AUTHENTICATE message are inside its NTLMv2 response: tshark shows
  them as ntlmssp.ntlmv2_response.*, a CHALLENGE's as ntlmssp.challenge.target_info.*;
  our fields are named once (nb_domain, ..., spn: MsvAvTargetName);
- tshark's ntlmssp.blob.length lists LM, NT and session key lengths in that order.
"""
from __future__ import annotations

import pytest

import winref
from conftest import need_shared
from test_msg_dcerpc import DCERPC_CAPTURES, dcerpc_units, same_fields
from test_msg_smb import Diff, hexint
from wirescore._core import msg_dcerpc, msg_ntlmssp

AV_NAMES = ("nb_domain", "nb_computer", "dns_domain", "dns_computer", "dns_tree")


def check_ntlm(d: Diff, ours: dict, t: dict):
    """ours (an ntlm dict) against tshark's flattened fields t of the same message."""
    kind = hexint(winref.one(t, "ntlmssp.messagetype"))
    d.eq("ntlm.type", ours.get("type"), kind)
    if "ntlmssp.negotiateflags" in t:
        d.eq("ntlm.flags", ours.get("flags"), hexint(winref.one(t, "ntlmssp.negotiateflags")))
    if "ntlmssp.version.major" in t:
        d.eq("ntlm.version", ours.get("version"),
             "{}.{} build {} rev {}".format(*(winref.one(t, f"ntlmssp.version.{k}") for k in (
                 "major", "minor", "build_number", "ntlm_current_revision"))))
    for key, name in (("user", "ntlmssp.auth.username"), ("domain", "ntlmssp.auth.domain"),
                      ("host", "ntlmssp.auth.hostname"),
                      ("target", "ntlmssp.challenge.target_name")):
        if name in t and winref.one(t, name) != "NULL":
            d.eq(f"ntlm.{key}", ours.get(key), winref.one(t, name))
    if "ntlmssp.ntlmserverchallenge" in t:
        d.eq("ntlm.challenge", ours.get("challenge"),
             winref.one(t, "ntlmssp.ntlmserverchallenge").replace(":", ""))
    av = "ntlmssp.challenge.target_info." if kind == 2 else "ntlmssp.ntlmv2_response."
    for key in AV_NAMES:
        if av + key + "_name" in t:
            d.eq(f"ntlm.{key}", ours.get(key), winref.one(t, av + key + "_name"))
    if av + "target_name" in t:
        d.eq("ntlm.spn", ours.get("spn"), winref.one(t, av + "target_name"))
    if av + "item.type" in t:
        d.eq("ntlm.av_count", ours.get("av_count"), len(t[av + "item.type"]))
    if kind == 3 and "ntlmssp.blob.length" in t:
        d.eq("ntlm.lengths", [ours.get(k) for k in ("lm_len", "nt_len", "key_len")],
             [int(v) for v in t["ntlmssp.blob.length"]][:3])
        d.eq("ntlm.has_mic", ours.get("has_mic"), "ntlmssp.authenticate.mic" in t)


def dcerpc_tokens(pcap) -> list[tuple[bytes, int]]:
    """(token bytes, frame) of every NTLMSSP token in a DCE-RPC auth trailer of pcap."""
    out = []
    for unit in dcerpc_units(pcap):
        m = msg_dcerpc.parse_dcerpc(unit.data)
        if m.get("auth", {}).get("kind") == "ntlmssp":
            start = m["auth_off"] + m["auth"]["token_off"]
            out.append((unit.data[start:start + m["auth"]["token_len"]], unit.frame))
    return out


@pytest.mark.shared
@pytest.mark.parametrize("name", (DCERPC_CAPTURES[0], DCERPC_CAPTURES[4]))
def test_ntlmssp_tokens_equal_tsharks(name):
    """Each NTLMSSP token parsed on its own (parse_ntlmssp) equals tshark's decode."""
    pcap = need_shared() / "pcaps" / name
    theirs = winref.tshark_layers(pcap, "dcerpc", "ntlmssp")
    tokens = dcerpc_tokens(pcap)
    assert tokens
    types = set()
    for token, frame in tokens:
        ours = msg_ntlmssp.parse_ntlmssp(token)
        assert ours["rc"] == 0
        t = [x for x in theirs[frame] if "ntlmssp.messagetype" in x]
        assert len(t) == 1, frame
        d = Diff((pcap.name, frame))
        check_ntlm(d, ours, t[0])
        assert not d.items
        types.add(ours["type"])
    assert types == {1, 2, 3}


@pytest.mark.shared
def test_every_prefix_of_real_ntlmssp():
    """NEGOTIATE, CHALLENGE, AUTHENTICATE cut at every length: a prefix (rc 1) at every
    cut, whole (rc 0) only at its full length; fields before the cut as the whole's,
    strings cut at the end flagged STR_CUT."""
    pcap = need_shared() / "pcaps" / DCERPC_CAPTURES[0]
    for token, _ in dcerpc_tokens(pcap)[:3]:
        whole = msg_ntlmssp.parse_ntlmssp(token)
        assert whole["rc"] == 0
        for cut in range(len(token)):
            part = msg_ntlmssp.parse_ntlmssp(token[:cut], len(token))
            assert part["rc"] == 1, (cut, part)
            same_fields(whole, part, cut)


def test_not_ntlmssp():
    assert msg_ntlmssp.parse_ntlmssp(b"NTLMSSX\x00\x01\x00\x00\x00")["rc"] == -1
    assert msg_ntlmssp.parse_ntlmssp(b"NTLMSSP\x00\x07\x00\x00\x00")["rc"] < 0
