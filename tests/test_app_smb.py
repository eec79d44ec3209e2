"""SMB as a room of the application layer (ext/app/smbroom.pxd): probe by content, NBSS
units cut from the stream, SMB2 messages (compounds too) through smb2.pxd, the tree and
pipe tables per connection, DCE-RPC over named pipes through the DCE-RPC room, events
with Suricata's smb fields, the flow record's app_smb_* columns; segmented, with a gap
inside a long message, snap-length cuts, and a flood of half-open sessions.

The units are real: every NBSS unit of the shared SMB captures' TCP connections, cut out
by tests/winref.py (tshark's segments) and fed through AppDriver in the order the
capture carried them.
"""
from __future__ import annotations

import numpy as np
import pytest

import winref
from conftest import need_shared
from wirescore._core.appcore import AppDriver
from wirescore._core.flowtable import COUNTER_NAMES
from wirescore.core_names import APP_HOLD, APP_PROTO_NAMES
from wirescore.outputs.eve_dcerpc import DcerpcEventFormatter
from wirescore.outputs.eve_smb import SmbEventFormatter

SMB = APP_PROTO_NAMES.index("smb")
PSEXEC = "labeled/windows-ad-attacks/LateralMovement__LM_psexec_smb_dcerpc_epm_svcctl.pcapng"
DCSYNC = "labeled/windows-ad-attacks/CredAccess__DCSync_krbtgt_dcerpc_smb.pcapng"
SMBGHOST = ("labeled/windows-ad-attacks/"
            "PrivEsc__CVE-2020-0796_SMBGhost_PrivEsc_Loopback_traffic.pcapng")
SMBV1 = "peer-groundtruth/nfstream/smbv1.pcap"


def connections(name: str) -> list[tuple[int, list]]:
    """[(server port, [(direction, unit bytes, whole), ...] in capture order)] of each
    TCP connection of the capture whose client stream starts with an NBSS unit."""
    pcap = need_shared() / "pcaps" / name
    by_conn: dict = {}
    for key, st in winref.streams(pcap).items():
        units = winref.nbss_units(st)
        if units:
            by_conn.setdefault(key[0], []).append((key, units))
    out = []
    for sides in by_conn.values():
        ports = {key[2] for key, _ in sides}
        server = next((p for p in ports if p in (445, 139)), None)
        if server is None:
            continue
        units = sorted((u.frame, u.offset, 0 if key[2] != server else 1, u)
                       for key, us in sides for u in us)
        out.append((server, [(d, u.data, u.whole) for _, _, d, u in units]))
    return out


def arr(b: bytes) -> np.ndarray:
    return np.frombuffer(bytes(b), np.uint8).copy()


def counter(drv, name: str) -> int:
    return int(drv.counters[COUNTER_NAMES.index(name)])


def feed(drv, units, flow=0, piece=None, cut_at=None, lose=None):
    """The units as TCP segments (each unit one segment, or pieces of `piece` bytes);
    cut_at: a snap length (the captured bytes of each segment; the wire length kept);
    lose: (direction, unit index, start, end) bytes of a unit never delivered. Units
    the capture had cut are sent as far as they were captured, the rest as a gap."""
    seq = [1000, 50000]
    for k, (d, unit, whole) in enumerate(units):
        real = len(unit) if whole else 4 + int.from_bytes(unit[1:4], "big")
        size = piece or real
        for at in range(0, real, size):
            chunk = unit[at:at + size]
            wire = min(size, real - at)
            if lose and lose[0] == d and lose[1] == k and lose[2] <= at < lose[3]:
                seq[d] += wire
                continue
            cap = chunk[:cut_at] if cut_at else chunk
            if len(cap):
                drv.packet(flow, d, arr(cap), seq=seq[d], wire_len=wire)
            seq[d] += wire


def smb_events(drv) -> list[dict]:
    return [e["smb"] for e in SmbEventFormatter().events(drv.events()["smb"])]


def rpc_events(drv) -> list[dict]:
    return [e["dcerpc"] for e in DcerpcEventFormatter().events(drv.events()["dcerpc"])]


def run(units, port=445, **kw):
    drv = AppDriver(port=port)
    feed(drv, units, **kw)
    return drv


@pytest.fixture(scope="module")
def psexec():
    conns = connections(PSEXEC)
    assert conns, "the psexec capture has SMB connections"
    return conns


@pytest.mark.shared
def test_psexec_shares_pipes_and_account(psexec):
    """PsExec: a session (NTLMSSP user, domain, host), a tree connect to ADMIN$ (the
    service binary written) and to IPC$, the svcctl pipe opened; events joined by
    message id; the record's columns count them."""
    shares, pipes, files, users, events, recs = set(), set(), set(), set(), [], []
    for port, units in psexec:
        drv = run(units, port)
        assert drv.link(0)[0] == SMB
        ev = smb_events(drv)
        events += ev
        recs.append(drv.end(0))
        for e in ev:
            if e["command"] == "SMB2_COMMAND_TREE_CONNECT" and e.get("status") == "STATUS_SUCCESS":
                shares.add(e["share"].upper().rsplit("\\", 1)[-1])
            if "named_pipe" in e:
                pipes.add(e["named_pipe"].lower())
            if "filename" in e:
                files.add(e["filename"].lower())
            if "ntlmssp" in e:
                users.add(e["ntlmssp"]["user"])
    assert {"ADMIN$", "IPC$"} <= shares
    assert "psexesvc" in pipes                     # PsExec's own pipe (svcctl: over TCP here)
    assert any(f.endswith(".exe") for f in files)
    assert users and all(users)
    assert all(e["dialect"] for e in events if e["command"] != "SMB2_COMMAND_NEGOTIATE")
    assert sum(r["app_smb_admin_shares"] for r in recs) >= 1
    assert sum(r["app_smb_pipes"] for r in recs) >= 1
    assert sum(r["app_smb_auths"] for r in recs) >= 1
    assert sum(r["app_smb_tree_connects"] for r in recs) == sum(
        1 for e in events if e["command"] == "SMB2_COMMAND_TREE_CONNECT")
    assert all(r["app_smb_commands"] > 0 for r in recs)


def smb2_message(command: int, message_id: int, tree_id: int, session_id: int,
                 body: bytes, response: bool = False) -> bytes:
    """One SMB2 message ([MS-SMB2] 2.2.1.2 sync header + body) in its NBSS unit."""
    head = (b"\xfeSMB" + (64).to_bytes(2, "little") + bytes(2) + bytes(4)
            + command.to_bytes(2, "little") + (1).to_bytes(2, "little")
            + (1 if response else 0).to_bytes(4, "little") + bytes(4)
            + message_id.to_bytes(8, "little") + bytes(4) + tree_id.to_bytes(4, "little")
            + session_id.to_bytes(8, "little") + bytes(16))
    msg = head + body
    return len(msg).to_bytes(4, "big") + msg


def pipe_write(file_id: bytes, data: bytes) -> bytes:
    """WRITE request body (2.2.21): the data at offset 112 of the message."""
    return ((49).to_bytes(2, "little") + (112).to_bytes(2, "little")
            + len(data).to_bytes(4, "little") + bytes(8) + file_id + bytes(16) + data)


def pipe_read(file_id: bytes, length: int) -> bytes:
    """READ request body (2.2.19)."""
    return ((49).to_bytes(2, "little") + bytes(2) + length.to_bytes(4, "little") + bytes(8)
            + file_id + bytes(16) + bytes(1))


def read_answer(data: bytes) -> bytes:
    """READ response body (2.2.20): the data at offset 80."""
    return ((17).to_bytes(2, "little") + bytes([80, 0]) + len(data).to_bytes(4, "little")
            + bytes(8) + data)


def write_answer(count: int) -> bytes:
    return (17).to_bytes(2, "little") + bytes(2) + count.to_bytes(4, "little") + bytes(8)


def pipe_units(psexec, pdus) -> list:
    """The psexec connection's real units up to the CREATE response that opened its
    PSEXESVC pipe (a real file id on IPC$), then the DCE-RPC PDUs (real: the capture's
    svcctl connection over TCP) carried in that pipe as SMB2 WRITEs (the client's) and
    READ responses (the server's), each answered."""
    port, units = next((p, u) for p, u in psexec if any(
        "PSEXESVC".encode("utf-16-le") in bytes(x) for _, x, _ in u))
    out, create_mid = [], None
    for d, unit, whole in units:
        out.append((d, unit, whole))
        msg = bytes(unit[4:])
        if len(msg) < 64 or msg[:4] != b"\xfeSMB" or int.from_bytes(msg[12:14], "little") != 5:
            continue
        mid = int.from_bytes(msg[24:32], "little")
        if d == 0 and msg.endswith("PSEXESVC".encode("utf-16-le")):
            create_mid = mid
        elif d == 1 and mid == create_mid and int.from_bytes(msg[8:12], "little") == 0:
            file_id, tree_id = msg[128:144], int.from_bytes(msg[36:40], "little")
            session_id = int.from_bytes(msg[40:48], "little")
            break
    else:
        pytest.fail("no PSEXESVC pipe opened in the psexec capture")
    mid = 1 << 20
    for d, pdu in pdus:
        pdu = bytes(pdu)
        if d == 0:
            out.append((0, smb2_message(9, mid, tree_id, session_id,
                                        pipe_write(file_id, pdu)), True))
            out.append((1, smb2_message(9, mid, tree_id, session_id, write_answer(len(pdu)),
                                        response=True), True))
        else:
            out.append((0, smb2_message(8, mid, tree_id, session_id,
                                        pipe_read(file_id, 4280)), True))
            out.append((1, smb2_message(8, mid, tree_id, session_id, read_answer(pdu),
                                        response=True), True))
        mid += 1
    return port, out


@pytest.fixture(scope="module")
def svcctl_pdus():
    import test_app_dcerpc
    return test_app_dcerpc.svcctl_of(test_app_dcerpc.connections(PSEXEC))


@pytest.mark.shared
def test_dcerpc_over_named_pipes(psexec, svcctl_pdus):
    """DCE-RPC in a pipe's WRITEs and READ responses gives the same dcerpc events as
    over TCP (PsExec's svcctl calls: OpenSCManagerW, CreateService..., StartServiceW),
    and the record counts the calls (app_smb_rpc_requests)."""
    tcp_port, pdus = svcctl_pdus
    over_tcp = AppDriver(port=tcp_port)
    feed(over_tcp, [(d, p, True) for d, p in pdus])
    want = rpc_events(over_tcp)
    port, units = pipe_units(psexec, pdus)
    drv = run(units, port)
    got = rpc_events(drv)
    assert got == want
    procs = {i.get("procedure") for e in got for i in e.get("interfaces", [])}
    assert {"OpenSCManagerW", "StartServiceW"} <= procs
    rec = drv.end(0)
    assert rec["app_smb_rpc_requests"] == sum(1 for d, p in pdus if d == 0 and p[2] == 0)
    # the same over pieces of 7 bytes, and with every segment cut at 256 bytes: request
    # headers (and so opnums) survive
    split = run(units, port, piece=7)
    assert rpc_events(split) == want
    cut = rpc_events(run(units, port, cut_at=256))
    assert [e.get("req", {}).get("opnum") for e in cut] == \
        [e.get("req", {}).get("opnum") for e in want]


@pytest.mark.shared
@pytest.mark.parametrize("piece", [1, 13, 500])
def test_segmented_streams_give_the_same_events(psexec, piece):
    for port, units in psexec:
        whole = run(units, port)
        split = run(units, port, piece=piece)
        assert smb_events(split) == smb_events(whole)
        assert rpc_events(split) == rpc_events(whole)
        assert split.end(0) == whole.end(0)


@pytest.mark.shared
def test_gap_inside_a_write_body_resynchronises(psexec):
    """Bytes lost inside a long unit (the service binary's WRITE to ADMIN$, longer than
    the hold): the unit is read from its prefix, the rest skipped by its NBSS length,
    and every later message is read as without the loss."""
    for port, units in psexec:
        long = [k for k, (d, u, w) in enumerate(units) if w and len(u) > 4 * APP_HOLD]
        if long:
            break
    else:
        pytest.fail("no unit longer than the hold in the psexec capture")
    k = long[0]
    d = units[k][0]
    whole = run(units, port, piece=1000)
    lossy = run(units, port, piece=1000, lose=(d, k, 3000, 5000))
    assert counter(lossy, "wirescore.app_gaps") >= 1
    assert counter(lossy, "wirescore.app_gap_abort") == 0
    strip = lambda evs: [{k: v for k, v in e.items()} for e in evs]
    assert strip(smb_events(lossy)) == strip(smb_events(whole))
    assert rpc_events(lossy) == rpc_events(whole)


@pytest.mark.shared
def test_snap_length_cut_keeps_names(psexec):
    """Every segment cut at 256 bytes (the public evaluation mix): each message's header
    survives (an event per response), and names within the first 256 bytes (tree
    paths, pipe names: CREATE names start at byte 124 of the message) are kept."""
    for port, units in psexec:
        whole = smb_events(run(units, port))
        drv = run(units, port, cut_at=256)
        cut = smb_events(drv)
        assert counter(drv, "wirescore.app_gap_abort") == 0
        assert [e["command"] for e in cut] == [e["command"] for e in whole]
        assert [e.get("status") for e in cut] == [e.get("status") for e in whole]
        shares = [e.get("share") for e in whole if e["command"] == "SMB2_COMMAND_TREE_CONNECT"]
        assert [e.get("share") for e in cut
                if e["command"] == "SMB2_COMMAND_TREE_CONNECT"] == shares
        assert [e.get("named_pipe") for e in cut] == [e.get("named_pipe") for e in whole]


@pytest.mark.shared
def test_smb1_negotiate_dialects():
    port, units = connections(SMBV1)[0]
    drv = run(units, port)
    assert drv.link(0)[0] == SMB
    ev = smb_events(drv)
    neg = [e for e in ev if e["command"] == "SMB1_COMMAND_NEGOTIATE_PROTOCOL"]
    assert neg and "NT LM 0.12" in neg[0]["client_dialects"]


@pytest.mark.shared
def test_compressed_transform_is_counted_and_stops():
    """SMBGhost (CVE-2020-0796): a compression transform header: counted, the rest of
    the direction skipped unread."""
    recs = []
    for port, units in connections(SMBGHOST):
        drv = run(units, port)
        recs.append(drv.end(0))
    assert sum(r["app_smb_encrypted"] for r in recs) >= 1


def test_probe_by_content_not_port():
    neg = bytes.fromhex("000000" "6c") + b"\xfeSMB" + bytes(60) + bytes.fromhex("2400") + bytes(34)
    drv = AppDriver(port=40999)
    drv.packet(0, 0, arr(neg), seq=1)
    assert drv.link(0)[0] == SMB
    other = AppDriver(port=445)
    other.packet(0, 0, arr(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), seq=1)
    assert other.link(0)[0] != SMB


def test_half_open_flood_stays_in_the_pools():
    """Many connections that send one NEGOTIATE request and nothing more: stream slots
    and records stay within their pools; the oldest are taken back and counted."""
    neg = bytes.fromhex("00000068") + b"\xfeSMB" + bytes.fromhex("4000") + bytes(58) + \
        bytes.fromhex("2400 0100 0100 0000 00000000") + bytes(16) + bytes(8) + \
        bytes.fromhex("0202")
    neg = neg[:4] + neg[4:] + bytes(4 + 0x68 - len(neg))
    drv = AppDriver(nflows=500, port=445, app_flows=64, app_streams=8)
    for f in range(500):
        drv.packet(f, 0, arr(neg), seq=1)
    records, slots = drv.pools
    assert slots <= 8 and records <= 64
    assert counter(drv, "wirescore.app_streams_reclaimed") > 0
    assert counter(drv, "app_layer.flow.smb") == 500
