"""The SMB message parsers (ext/app/nbss.pxd, smb2.pxd, smb1.pxd) on every SMB message of
the shared captures, field by field against tshark.

tshark cuts the TCP streams (tests/winref.py lays out its segments), the NetBIOS
session headers split them, and an SMB2 compound is split by its own NextCommand; each
message's bytes go to wirescore._core.msg_smb.parse_smb2 (parse_smb1), and what it
reads is compared with tshark's decode of the same message (the frame that carried its
last byte, in order). Differences that are tshark's way and not the message's are
named where they are skipped:
- smb2.nt_status: tshark shows it for responses only (a request's 4 bytes are
  ChannelSequence/Reserved from SMB 3.x on, which tshark decodes instead);
- smb2.tree and smb2.share_type appear on most messages as tshark's own memory of the
  session (generated fields); the message carries them only in TREE_CONNECT;
- smb2.fid is a GUID in tshark's text, our file_id the 16 bytes as sent;
- smb.server_guid (SMB1 NEGOTIATE response): tshark reads the 16 bytes in wire order, not
  as the little-endian GUID (MS-DTYP 2.3.4.2) that MS-SMB 2.2.4.5.2.1 and SMB2 use and
  our guid gives: compared after the same byte swap (wire_order_guid).
"""
from __future__ import annotations

import struct
import uuid

import pytest

import winref
from conftest import SHARED_DATA, need_shared
from wirescore._core import msg_smb

SMB_CAPTURES = (
    "labeled/windows-ad-attacks/LateralMovement__LM_psexec_smb_dcerpc_epm_svcctl.pcapng",
    "labeled/windows-ad-attacks/PrivEsc__CVE-2020-0796_SMBGhost_PrivEsc_Loopback_traffic.pcapng",
    "labeled/windows-ad-attacks/CredAccess__DCSync_krbtgt_dcerpc_smb.pcapng",
    "labeled/windows-ad-attacks/LateralMovement__LM_WMI_ProcessCallCreate.pcapng",
    "peer-groundtruth/nfstream/smb_deletefile.pcap",
    "peer-groundtruth/nfstream/smbv1.pcap",
    "peer-groundtruth/ndpi/smb_frags.pcap",
)


def smb_units(pcap):
    """Every NetBIOS unit of every TCP stream of pcap that carries SMB."""
    out = []
    for st in winref.streams(pcap).values():
        for unit in winref.nbss_units(st):
            if len(unit.data) >= 8 and unit.data[5:8] == b"SMB":
                out.append(unit)
    return out


def smb2_messages(unit):
    """(bytes we have, real length) of each SMB2 message of a unit's compound."""
    data, full, at, out = unit.data[4:], unit.length - 4, 0, []
    while True:
        out.append((data[at:], full - at))
        if len(data) < at + 24 or data[at] != 0xFE:
            return out
        nxt = struct.unpack_from("<I", data, at + 20)[0]
        if nxt == 0 or nxt > full - at:
            return out
        at += nxt


def per_frame(units, parse):
    """{frame: [our parse of each message that ends in it]}, in stream order."""
    out = {}
    for unit in sorted(units, key=lambda u: (u.frame, u.offset)):
        if unit.data[4] == 0xFF:
            out.setdefault(unit.frame, []).append(msg_smb.parse_smb1(unit.data[4:],
                                                                      unit.length - 4))
            continue
        for data, full in smb2_messages(unit):
            out.setdefault(unit.frame, []).append(parse(data, full))
    return out


def hexint(text: str) -> int:
    return int(text, 16) if text.startswith("0x") else int(text)


def wire_order_guid(text: str) -> str:
    """A GUID's text as tshark shows it when it reads the 16 bytes in wire order."""
    return str(uuid.UUID(bytes=uuid.UUID(text).bytes_le))


def fid_text(file_id_hex: str) -> str:
    return str(uuid.UUID(bytes_le=bytes.fromhex(file_id_hex)))


class Diff:
    """Collects (what, ours, tshark's) for the fields that differ."""

    def __init__(self, where):
        self.where, self.items = where, []

    def eq(self, what, ours, theirs):
        if ours != theirs:
            self.items.append((self.where, what, ours, theirs))


def check_header(d: Diff, m: dict, t: dict):
    d.eq("cmd", m.get("command"), hexint(winref.one(t, "smb2.cmd")))
    resp = int(winref.one(t, "smb2.flags.response"))
    d.eq("response", m["flags"] & 1, resp)
    d.eq("msg_id", m["message_id"], int(winref.one(t, "smb2.msg_id")))
    d.eq("sesid", m["session_id"], hexint(winref.one(t, "smb2.sesid")))
    d.eq("chain_offset", m["next_command"], hexint(winref.one(t, "smb2.chain_offset")))
    d.eq("credit_charge", m["credit_charge"], int(winref.one(t, "smb2.credit.charge")))
    credits = winref.one(t, "smb2.credits.granted" if resp else "smb2.credits.requested")
    d.eq("credits", m["credits"], int(credits))
    if "smb2.aid" in t:
        d.eq("aid", m.get("async_id"), hexint(winref.one(t, "smb2.aid")))
    else:
        d.eq("tid", m.get("tree_id"), hexint(winref.one(t, "smb2.tid")))
    if resp:
        d.eq("nt_status", m["status"], hexint(winref.one(t, "smb2.nt_status")))
    if "smb2.error.byte_count" in t:
        d.eq("error.byte_count", m.get("error_len"), int(winref.one(t, "smb2.error.byte_count")))


def _ids(t: dict, name: str) -> list:
    return [hexint(v) for v in t.get(name, [])]


def check_negotiate(d: Diff, m: dict, t: dict):
    if "smb2.dialect_count" in t:
        d.eq("dialects", m.get("dialects"), _ids(t, "smb2.dialect"))
        d.eq("client_guid", m.get("guid"), winref.one(t, "smb2.client_guid"))
    elif "smb2.server_guid" in t:
        d.eq("dialect", m.get("dialect"), hexint(winref.one(t, "smb2.dialect")))
        d.eq("server_guid", m.get("guid"), winref.one(t, "smb2.server_guid"))
        for key, name in (("max_transact", "smb2.max_trans_size"),
                          ("max_read", "smb2.max_read_size"),
                          ("max_write", "smb2.max_write_size")):
            d.eq(key, m.get(key), int(winref.one(t, name)))
    if "smb2.negotiate_context.type" in t:
        d.eq("ctx_types", m.get("ctx_types"), _ids(t, "smb2.negotiate_context.type"))
        d.eq("hashes", m.get("hashes"), _ids(t, "smb2.negotiate_context.hash_algorithm"))
        d.eq("ciphers", m.get("ciphers"), _ids(t, "smb2.negotiate_context.cipher_id"))
        d.eq("comps", m.get("comps"), _ids(t, "smb2.negotiate_context.comp_alg_id"))


def check_auth(d: Diff, m: dict, t: dict):
    """The security buffer: its span, SPNEGO's mechanisms, the NTLMSSP or Kerberos token
    (the NTLMSSP fields are checked in depth by test_msg_ntlmssp.py)."""
    if "smb2.olb.offset" in t and "smb2.security_blob" in t:
        d.eq("blob", (m.get("blob_off"), m.get("blob_len")),
             (hexint(winref.one(t, "smb2.olb.offset")), int(winref.one(t, "smb2.olb.length"))))
    auth = m.get("auth", {})
    if "spnego.MechType" in t:
        d.eq("mechs", auth.get("mechs"), [MECH_NAMES.get(o, "unknown")
                                          for o in t["spnego.MechType"]])
    if "ntlmssp.messagetype" in t:
        from test_msg_ntlmssp import check_ntlm
        check_ntlm(d, auth.get("ntlm", {}), t)
    if "kerberos.msg_type" in t:
        d.eq("krb_msg_type", auth.get("krb_msg_type"), int(winref.one(t, "kerberos.msg_type")))
    if "kerberos.msg_type" in t and winref.one(t, "kerberos.msg_type") == "14":
        d.eq("krb_realm", auth.get("krb_realm"), winref.one(t, "kerberos.realm"))
        d.eq("krb_sname", auth.get("krb_sname"), "/".join(t["kerberos.SNameString"]))


MECH_NAMES = {"1.2.840.113554.1.2.2": "krb5", "1.2.840.48018.1.2.2": "mskrb5",
              "1.2.840.113554.1.2.2.3": "krb5-u2u", "1.3.6.1.4.1.311.2.2.10": "ntlmssp",
              "1.3.6.1.4.1.311.2.2.30": "negoex", "1.3.6.1.5.5.2": "spnego"}


def check_files(d: Diff, m: dict, t: dict):
    cmd, resp = m["command"], m["flags"] & 1
    if cmd == 3 and not resp:
        d.eq("tree", m.get("path"), winref.one(t, "smb2.tree"))
    if cmd == 3 and resp and "structure_size" in m and m["structure_size"] == 16:
        d.eq("share_type", m.get("share_type"), hexint(winref.one(t, "smb2.share_type")))
    if cmd == 5 and not resp:
        d.eq("filename", m.get("name"), winref.one(t, "smb2.filename", ""))
        d.eq("disposition", m.get("disposition"), int(winref.one(t, "smb2.create.disposition")))
        d.eq("create_options", m.get("create_options"), hexint(winref.one(t, "smb.create_options")))
        d.eq("access", m.get("desired_access"), hexint(winref.one(t, "smb.access_mask")))
        d.eq("share_access", m.get("share_access"), hexint(winref.one(t, "smb.share_access")))
    if cmd == 5 and resp and "smb2.create.action" in t:
        d.eq("create.action", m.get("create_action"), int(winref.one(t, "smb2.create.action")))
        d.eq("eof", m.get("end_of_file"), int(winref.one(t, "smb2.eof")))
        d.eq("allocation_size", m.get("allocation_size"),
             int(winref.one(t, "smb2.allocation_size")))
    if "file_id" in m and "smb2.fid" in t:
        d.eq("fid", fid_text(m["file_id"]), winref.one(t, "smb2.fid"))
    if cmd == 6 and resp and "smb2.eof" in t:
        d.eq("close.eof", m.get("end_of_file"), int(winref.one(t, "smb2.eof")))
    check_io(d, m, t, cmd, resp)


def check_io(d: Diff, m: dict, t: dict, cmd: int, resp: int):
    if cmd == 8 and not resp:
        d.eq("read_length", m.get("rw_length"), int(winref.one(t, "smb2.read_length")))
        d.eq("file_offset", m.get("rw_offset"), int(winref.one(t, "smb2.file_offset")))
    if cmd == 8 and resp and "smb2.read_remaining" in t:
        d.eq("read data", (m.get("data_off"), m.get("data_len")),
             (hexint(winref.one(t, "smb2.olb.offset")), int(winref.one(t, "smb2.olb.length"))))
    if cmd == 9 and not resp:
        d.eq("write_length", m.get("rw_length"), int(winref.one(t, "smb2.write_length")))
        d.eq("file_offset", m.get("rw_offset"), int(winref.one(t, "smb2.file_offset")))
        d.eq("data_offset", m.get("data_off") if m.get("data_len") else None,
             hexint(winref.one(t, "smb2.data_offset")) if m.get("data_len") else None)
    if cmd == 9 and resp and "smb2.write.count" in t:
        d.eq("write.count", m.get("rw_length"), int(winref.one(t, "smb2.write.count")))
    if cmd == 11 and "smb2.ioctl.function" in t:
        d.eq("ioctl.function", m.get("ctl_code"), hexint(winref.one(t, "smb2.ioctl.function")))


def check_transform(d: Diff, m: dict, t: dict):
    if "smb2.header.comp_transform.original_size" in t:
        prefix = "smb2.header.comp_transform."
        d.eq("comp.original_size", m.get("orig_size"), int(winref.one(t, prefix + "original_size")))
        d.eq("comp.alg", m.get("comp_alg"), hexint(winref.one(t, prefix + "comp_alg")))
        d.eq("comp.flags", m.get("comp_flags"), hexint(winref.one(t, prefix + "flags")))
        d.eq("comp.offset", m.get("comp_offset"), hexint(winref.one(t, prefix + "offset")))


def compare_smb2(where, m: dict, t: dict) -> list:
    d = Diff(where)
    if m.get("kind") == 2:
        check_header(d, m, t)
        check_negotiate(d, m, t)
        check_auth(d, m, t)
        check_files(d, m, t)
    else:
        check_transform(d, m, t)
    return d.items


def compare_smb1(where, m: dict, t: dict) -> list:
    d = Diff(where)
    d.eq("cmd", m.get("command"), hexint(t["smb.cmd"][0]))
    d.eq("nt_status", m.get("status"), hexint(winref.one(t, "smb.nt_status")))
    for key, name in (("tid", "smb.tid"), ("uid", "smb.uid"), ("mid", "smb.mid"),
                      ("word_count", "smb.wct"), ("byte_count", "smb.bcc")):
        d.eq(key, m.get(key), int(winref.one(t, name)))
    d.eq("pid", m.get("pid"), int(winref.one(t, "smb.pid.high")) << 16 | int(winref.one(t, "smb.pid")))
    if "smb.dialect.name" in t:
        d.eq("dialects", m.get("dialects"), t["smb.dialect.name"])
    if "smb.dialect.index" in t:
        d.eq("dialect_index", m.get("dialect_index"), int(winref.one(t, "smb.dialect.index")))
    if "smb.server_guid" in t:
        d.eq("server_guid", m.get("guid") and wire_order_guid(m["guid"]),
             winref.one(t, "smb.server_guid"))
    if "smb.security_blob" in t:
        d.eq("blob_len", m.get("blob_len"), len(winref.one(t, "smb.security_blob").split(":")))
        check_auth(d, m, t)
    return d.items


def compare_capture(pcap, ours: dict, theirs: dict) -> tuple[list, int]:
    """Differences, and how many messages were compared."""
    diffs, count = [], 0
    for frame in sorted(set(ours) | set(theirs)):
        mine, ts = ours.get(frame, []), theirs.get(frame, [])
        if len(mine) != len(ts):
            diffs.append((frame, "messages", len(mine), len(ts)))
            continue
        for k, (m, t) in enumerate(zip(mine, ts)):
            count += 1
            where = (pcap.name, frame, k)
            if m["rc"] != 0:
                diffs.append((where, "rc", m["rc"], 0))
            elif "smb.cmd" in t:
                diffs += compare_smb1(where, m, t)
            else:
                diffs += compare_smb2(where, m, t)
    return diffs, count


@pytest.mark.shared
@pytest.mark.parametrize("name", SMB_CAPTURES)
def test_smb_messages_equal_tsharks(name):
    pcap = need_shared() / "pcaps" / name
    units = smb_units(pcap)
    assert units and all(u.whole for u in units), "these captures hold every byte"
    ours = per_frame(units, msg_smb.parse_smb2)
    theirs = {}
    for layer in ("smb2", "smb"):
        for frame, pdus in winref.tshark_layers(pcap, layer, layer).items():
            theirs.setdefault(frame, []).extend(p for p in pdus if p.get("smb2.protocol_id")
                                                or p.get("smb.cmd"))
    # tshark's "smb" layer inside NetBIOS datagrams (the browser on UDP 138) is no
    # session message: only frames with a TCP unit are compared
    theirs = {f: v for f, v in theirs.items() if f in ours or any("smb2.cmd" in p for p in v)}
    diffs, count = compare_capture(pcap, ours, theirs)
    assert count > 0
    assert not diffs, diffs[:20]


def first_of_each_command(units) -> list[bytes]:
    """The first whole SMB2 message of each (command, response) pair, and each SMB1
    message kind, among units: each message's own bytes (a compound member ends at its
    NextCommand)."""
    seen, out = set(), []
    for unit in units:
        if unit.data[4] == 0xFF:
            key = ("smb1", unit.data[8], unit.data[13] >> 7)
            msgs = [unit.data[4:]]
        else:
            msgs = []
            for data, _ in smb2_messages(unit):
                m = msg_smb.parse_smb2(data)
                own = m.get("next_command") or len(data)
                key = (m.get("kind"), m.get("command"), m.get("flags", 0) & 1)
                if key not in seen:
                    seen.add(key)
                    out.append(data[:own])
            continue
        if key not in seen:
            seen.add(key)
            out += msgs
    return out


@pytest.mark.shared
@pytest.mark.parametrize("name", SMB_CAPTURES[:2] + SMB_CAPTURES[5:6])
def test_every_prefix_of_real_smb_messages(name):
    """The first message of each command and direction (SMB1, SMB2, the compression
    transform), cut at every length: a prefix (rc 1) at every cut, whole only at its
    full length; the fields read before the cut equal the whole parse's, a string cut
    at the end flagged STR_CUT."""
    from test_msg_dcerpc import same_fields

    pcap = need_shared() / "pcaps" / name
    msgs = first_of_each_command(smb_units(pcap))
    assert len(msgs) >= 3
    for msg in msgs:
        parse = msg_smb.parse_smb1 if msg[0] == 0xFF else msg_smb.parse_smb2
        whole = parse(msg)
        assert whole["rc"] == 0
        for cut in range(1, len(msg)):
            part = parse(msg[:cut], len(msg))
            assert part["rc"] == 1, (cut, part)
            same_fields(whole, part, cut)


@pytest.mark.shared
def test_smbghost_compression_transform_is_flagged():
    """CVE-2020-0796: the compression transform header claims 0xFFFFFFFF bytes
    uncompressed (OriginalCompressedSegmentSize) beside an offset of 16, which wraps
    the 32-bit sum Windows' srv2.sys computed: flagged SMB2_COMP_OVERFLOW (1) and
    SMB2_COMP_TOO_BIG (2); the capture's other messages carry no such flag."""
    pcap = need_shared() / "pcaps" / SMB_CAPTURES[1]
    parsed = [msg_smb.parse_smb2(data, full) for unit in smb_units(pcap)
              for data, full in smb2_messages(unit)]
    transforms = [m for m in parsed if m.get("kind") == 4]
    assert [(m["orig_size"], m["comp_offset"], m["malformed"]) for m in transforms] == \
        [(0xFFFFFFFF, 16, 3)]
    assert all(m.get("malformed", 0) == 0 for m in parsed if m.get("kind") != 4)
    assert any(m.get("dialect") == 0x311 and "ctx_types" in m for m in parsed)


def test_nbss_header():
    assert msg_smb.parse_nbss(bytes.fromhex("000000a4fe534d42")) == \
        {"rc": 0, "type": 0, "length": 0xA4, "smb": 2}
    assert msg_smb.parse_nbss(bytes.fromhex("0000"))["rc"] == 1
    assert msg_smb.parse_nbss(bytes.fromhex("4500003c"))["rc"] < 0


@pytest.mark.shared
def test_a_capture_cut_at_256_bytes_gives_prefixes_of_the_whole(tmp_path):
    """The evaluation mix keeps 256 bytes of each packet: the same capture cut so
    (editcap -s 256) gives, for each SMB message tshark can still frame, a parse whose
    fields are those of the uncut message's, strings cut at the hole flagged. (psexec:
    the captures' other SMB messages are shorter than 256 bytes.)"""
    import subprocess

    from test_msg_dcerpc import same_fields

    pcap = need_shared() / "pcaps" / SMB_CAPTURES[0]
    cut = tmp_path / "cut256.pcapng"
    subprocess.run(["editcap", "-s", "256", str(pcap), str(cut)], check=True,
                   capture_output=True)
    whole = {(u.stream, u.offset): u for u in smb_units(pcap)}
    prefixes = 0
    for unit in smb_units(cut):
        assert unit.length == whole[(unit.stream, unit.offset)].length
        if unit.whole or unit.data[4] != 0xFE:
            continue
        for (data, full), (wdata, wfull) in zip(smb2_messages(unit), smb2_messages(
                whole[(unit.stream, unit.offset)])):
            part = msg_smb.parse_smb2(data, full)
            ref = msg_smb.parse_smb2(wdata, wfull)
            assert ref["rc"] == 0 and part["rc"] == (1 if len(data) < full else 0)
            same_fields(ref, part, len(data))
            prefixes += part["rc"] == 1
    assert prefixes >= 5
