"""DCE-RPC over TCP as a room of the application layer (ext/app/dcerpc_room.pxd): probe
by content, PDUs cut from the stream by frag_length, the context map (context id ->
interface) per connection, events with Suricata's dcerpc fields, the flow record's
app_dcerpc_* columns; segmented, with gaps inside PDUs and snap-length cuts.

The PDUs are real: every DCE-RPC PDU of the shared psexec capture's TCP connections
(epm on 135, svcctl on a dynamic port), cut out by tests/winref.py (tshark's segments)
and fed through AppDriver in the order the capture carried them.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import winref
from conftest import need_shared
from wirescore._core.appcore import AppDriver
from wirescore._core.flowtable import COUNTER_NAMES
from wirescore.core_names import APP_HOLD, APP_PROTO_NAMES, DCERPC_BITS
from wirescore.outputs.eve_dcerpc import DcerpcEventFormatter

DCERPC = APP_PROTO_NAMES.index("dcerpc")
PSEXEC = "labeled/windows-ad-attacks/LateralMovement__LM_psexec_smb_dcerpc_epm_svcctl.pcapng"
DCSYNC = "labeled/windows-ad-attacks/CredAccess__DCSync_krbtgt_dcerpc_smb.pcapng"
SVCCTL = "367abb81-9844-35f1-ad32-98f038001003"


def connections(name: str) -> list[tuple[int, list]]:
    """[(server port, [(direction, pdu bytes), ...] in capture order)] of each TCP
    connection of the capture whose streams are DCE-RPC from their first byte."""
    pcap = need_shared() / "pcaps" / name
    by_conn: dict = {}
    for key, st in winref.streams(pcap).items():
        units = winref.dcerpc_units(st)
        if units:
            by_conn.setdefault(key[0], []).append((key, units))
    out = []
    for sides in by_conn.values():
        if len(sides) != 2:
            continue
        # the client's first PDU is a BIND, ALTER_CONTEXT or REQUEST (the capture may
        # start after the bind)
        client = next((key for key, units in sides if units[0].data[2] in (0, 11, 14)), None)
        if client is None:
            continue
        server_port = next(key[2] for key, _ in sides if key != client)
        pdus = sorted(((u.frame, u.offset, 0 if key == client else 1, u.data)
                       for key, units in sides for u in units if u.whole))
        out.append((server_port, [(d, data) for _, _, d, data in pdus]))
    return out


def arr(b: bytes) -> np.ndarray:
    return np.frombuffer(b, np.uint8).copy()


def counter(drv, name: str) -> int:
    return int(drv.counters[COUNTER_NAMES.index(name)])


def feed(drv, pdus, flow=0, piece=None, cut_at=None, lose=None):
    """The PDUs as TCP segments (each PDU one segment, or pieces of `piece` bytes);
    cut_at: a snap length (the captured bytes of each segment; the wire length kept);
    lose: (direction, pdu index, start, end) bytes of a PDU never delivered."""
    seq = [1000, 5000]
    for k, (d, pdu) in enumerate(pdus):
        size = piece or len(pdu)
        for at in range(0, len(pdu), size):
            chunk = pdu[at:at + size]
            if lose and lose[0] == d and lose[1] == k and lose[2] <= at < lose[3]:
                seq[d] += len(chunk)
                continue
            cap = chunk[:cut_at] if cut_at else chunk
            drv.packet(flow, d, arr(cap), seq=seq[d], wire_len=len(chunk))
            seq[d] += len(chunk)


def eve(drv) -> list[dict]:
    return [e["dcerpc"] for e in DcerpcEventFormatter().events(drv.events()["dcerpc"])]


@pytest.fixture(scope="module")
def psexec():
    conns = connections(PSEXEC)
    assert len(conns) >= 2, "the psexec capture has an epm and an svcctl connection"
    return conns


def svcctl_of(conns):
    for port, pdus in conns:
        if any(SVCCTL.replace("-", "") in bytes(p).hex() for _, p in pdus[:1]) or port != 135:
            return port, pdus
    raise AssertionError("no svcctl connection")


@pytest.mark.shared
def test_psexec_requests_name_interface_and_procedure(psexec):
    port, pdus = svcctl_of(psexec)
    drv = AppDriver(port=port)
    feed(drv, pdus)
    events = eve(drv)
    requests = [e for e in events if e.get("request") == "REQUEST" and "response" not in e]
    assert requests, "requests written"
    procs = {(i["service"], i.get("procedure")) for e in requests for i in e["interfaces"]}
    # PsExec: svcctl OpenSCManagerW, a CreateService (this capture's tool uses opnum 45,
    # CreateServiceWOW64W, as tshark reads it too), StartServiceW
    assert ("svcctl", "CreateServiceWOW64W") in procs
    assert ("svcctl", "StartServiceW") in procs
    assert ("svcctl", "OpenSCManagerW") in procs
    assert all(e["req"]["frag_cnt"] >= 1 for e in requests)
    bind_ack = next(e for e in events if e.get("response") == "BINDACK")
    assert [i["ack_result"] for i in bind_ack["interfaces"]][0] == 0
    n_req = sum(1 for d, p in pdus if d == 0 and p[2] == 0)
    rec = drv.end(0)
    assert rec["app_proto"] == DCERPC
    assert rec["app_dcerpc_requests"] == n_req == len(requests)
    assert rec["app_dcerpc_responses"] == sum(1 for d, p in pdus if d == 1 and p[2] in (2, 3))
    assert rec["app_dcerpc_binds"] == sum(1 for d, p in pdus if d == 0 and p[2] in (11, 14))
    assert rec["app_dcerpc_interfaces"] == 1          # svcctl (offered twice: NDR, BTFN)
    assert rec["app_dcerpc_req_stub_bytes"] == sum(e["req"]["stub_data_size"] for e in requests)


@pytest.mark.shared
def test_responses_join_their_request(psexec):
    port, pdus = svcctl_of(psexec)
    drv = AppDriver(port=port)
    feed(drv, pdus)
    events = eve(drv)
    answers = [e for e in events if e.get("response") == "RESPONSE"]
    assert answers
    for e in answers:
        assert e["request"] == "REQUEST" and "opnum" in e["req"] and "res" in e


@pytest.mark.shared
@pytest.mark.parametrize("piece", [1, 7, 100])
def test_segmented_streams_give_the_same_events(psexec, piece):
    for port, pdus in psexec:
        whole = AppDriver(port=port)
        feed(whole, pdus)
        split = AppDriver(port=port)
        feed(split, pdus, piece=piece)
        assert eve(split) == eve(whole)
        assert split.end(0) == whole.end(0)


@pytest.mark.shared
def test_probe_by_content_on_any_port(psexec):
    port, pdus = psexec[0]
    drv = AppDriver(port=40999)
    feed(drv, pdus)
    assert drv.link(0)[0] == DCERPC
    assert eve(drv)


def test_probe_rejects_other_bytes():
    drv = AppDriver(port=135)
    drv.packet(0, 0, arr(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), seq=1)
    drv.packet(0, 1, arr(b"HTTP/1.1 200 OK\r\n\r\n"), seq=1)
    assert drv.link(0)[0] != DCERPC
    assert drv.end(0)["app_dcerpc_requests"] == 0


@pytest.mark.shared
def test_gap_inside_a_long_pdu_resynchronises():
    """DCSync's GetNCChanges response (drsuapi opnum 3, 4.8 kB: longer than the hold)
    loses bytes in its middle: it is read as cut, its rest skipped by its frag_length,
    and the calls after it are parsed as without the loss."""
    port, pdus = connections(DCSYNC)[0]
    long = [k for k, (d, p) in enumerate(pdus) if len(p) > APP_HOLD]
    assert long, "the DCSync capture has a response longer than the hold"
    k = long[0]
    d = pdus[k][0]
    whole = AppDriver(port=port)
    feed(whole, pdus, piece=100)
    lossy = AppDriver(port=port)
    feed(lossy, pdus, piece=100, lose=(d, k, 300, 500))
    assert counter(lossy, "wirescore.app_gaps") >= 1
    assert counter(lossy, "wirescore.app_gap_abort") == 0
    after = eve(whole)
    got = eve(lossy)
    assert len(got) == len(after)
    assert [e.get("req", {}).get("opnum") for e in got] == \
        [e.get("req", {}).get("opnum") for e in after]
    assert 3 in [e.get("req", {}).get("opnum") for e in got]      # DsGetNCChanges
    assert counter(lossy, "wirescore.app_truncated") == 1


@pytest.mark.shared
@pytest.mark.parametrize("name", [PSEXEC, DCSYNC])
def test_snap_length_cut_keeps_headers(name):
    """Every segment cut at 256 bytes (the public evaluation mix): PDUs up to 256 bytes
    are whole, longer ones read as cut (their frag_length skips the rest): every
    request's opnum and interface survive (request headers are 24 bytes)."""
    port, pdus = svcctl_of(connections(name))
    whole = AppDriver(port=port)
    feed(whole, pdus)
    cut = AppDriver(port=port)
    feed(cut, pdus, cut_at=256)
    full_events, cut_events = eve(whole), eve(cut)
    assert len(cut_events) == len(full_events)
    for a, b in zip(full_events, cut_events):
        assert a.get("req", {}).get("opnum") == b.get("req", {}).get("opnum")
        assert [i["uuid"] for i in a.get("interfaces", [])] == \
            [i["uuid"] for i in b.get("interfaces", [])]
    assert counter(cut, "wirescore.app_truncated") == sum(1 for _, p in pdus if len(p) > 256)


def test_context_map_is_bounded_and_counts_the_rest():
    """A BIND offering more contexts than the map keeps: the first DCE_CTX_MAP (8) are
    kept, the others counted; a request on a kept context names its interface."""
    def bind(call_id, ctxs):
        body = bytearray(b"\xb8\x10\xb8\x10\x00\x00\x00\x00")
        body += bytes((len(ctxs), 0, 0, 0))
        for ctx_id, uuid in ctxs:
            body += ctx_id.to_bytes(2, "little") + b"\x01\x00" + uuid + b"\x01\x00\x00\x00"
            body += bytes.fromhex("045d888aeb1cc9119fe808002b104860") + b"\x02\x00\x00\x00"
        hdr = bytes((5, 0, 11, 3, 0x10, 0, 0, 0)) + (16 + len(body)).to_bytes(2, "little")
        return hdr + b"\x00\x00" + call_id.to_bytes(4, "little") + bytes(body)

    def request(call_id, ctx_id, opnum):
        stub = b"\x00" * 8
        hdr = bytes((5, 0, 0, 3, 0x10, 0, 0, 0)) + (24 + len(stub)).to_bytes(2, "little")
        return (hdr + b"\x00\x00" + call_id.to_bytes(4, "little") + len(stub).to_bytes(4, "little")
                + ctx_id.to_bytes(2, "little") + opnum.to_bytes(2, "little") + stub)

    uuids = [bytes([k + 1]) * 16 for k in range(8)]
    drv = AppDriver(port=135)
    feed(drv, [(0, bind(1, [(k, uuids[k]) for k in range(8)])),
               (0, bind(2, [(8, bytes([9]) * 16)])),
               (0, request(3, 2, 7)), (0, request(4, 8, 1))])
    events = eve(drv)
    rec = drv.end(0)
    assert rec["app_dcerpc_ctx_over"] == 1
    assert rec["app_dcerpc_interfaces"] == 9
    assert len(events[0]["interfaces"]) == 8
    req3, req4 = events[2], events[3]
    assert req3["req"]["opnum"] == 7 and req3["interfaces"][0]["uuid"] == str(
        __import__("uuid").UUID(bytes_le=uuids[2]))
    assert "interfaces" not in req4 and req4["req"]["opnum"] == 1


@pytest.mark.shared
def test_eve_lines_are_valid_json_with_flags(psexec):
    port, pdus = psexec[0]
    drv = AppDriver(port=port)
    feed(drv, pdus)
    recs = drv.events()["dcerpc"]
    assert len(recs)
    for ev in DcerpcEventFormatter().events(recs):
        json.dumps(ev)
        assert ev["event_type"] == "dcerpc" and ev["dcerpc"]["rpc_version"] == "5.0"
    assert not any(recs["flags"] & DCERPC_BITS["DV_CUT"])
    assert APP_HOLD == 2048


@pytest.mark.shared
def test_fuzz_target_runs_its_dcerpc_seeds():
    """The app fuzz target's DCE-RPC inputs (port 135 through the first operation's
    high bits) reach the room and write its events, with the target's checks."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent / "fuzz"))
    import fuzz_app
    seeds = fuzz_app.dcerpc_seeds()
    assert len(seeds) == 8
    for name, data in seeds.items():
        assert fuzz_app.port_of(data[0], data[1]) == 135
        assert fuzz_app.run_one(data)["events"] >= 4, name


@pytest.mark.shared
def test_flood_of_half_open_binds_stays_in_the_pools(psexec):
    """300 connections each send the first half of a real BIND and nothing more (a
    flood of half-open RPC sessions): the records and stream slots handed out never
    exceed their pools, the ones taken back are counted, and a connection after the
    flood is parsed whole."""
    port, pdus = psexec[0]
    bind = pdus[0][1]
    drv = AppDriver(nflows=301, port=port, app_flows=16, app_streams=4)
    for flow in range(300):
        drv.packet(flow, 0, arr(bind[:len(bind) // 2]), seq=1)
        assert drv.pools[0] <= 16 and drv.pools[1] <= 4
    assert counter(drv, "wirescore.app_streams_reclaimed") >= 296
    drv.events()
    feed(drv, pdus, flow=300)
    events = eve(drv)
    assert [e.get("request") for e in events][:1] == ["BIND"]
    assert drv.end(300)["app_dcerpc_requests"] == sum(1 for d, p in pdus if d == 0 and p[2] == 0)
