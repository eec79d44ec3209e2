"""Kerberos as a room of the application layer (ext/app/krb5room.pxd): UDP datagrams, TCP
records behind their 4-byte record mark in any segmentation, gaps and snap-length cuts,
detection by content, the flow summary (app_krb5_* columns), EVE krb5 events (Suricata's
fields) and the engine's wiring.

The messages are real, read with tshark from shared captures: a kerbrute password spray
(AS-REQs over UDP answered by PREAUTH_REQUIRED, PREAUTH_FAILED, C_PRINCIPAL_UNKNOWN and
RESPONSE_TOO_BIG errors, then an AS-REQ/AS-REP over TCP) and nfstream's kerberos.pcap
(AS-REQ, errors, TGS-REQ/TGS-REP over TCP).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import need_shared, SHARED_DATA
from msgref import payloads
from wirescore._core import msg_krb5
from wirescore._core.appcore import AppDriver
from wirescore._core.flowtable import COUNTER_NAMES
from wirescore.config import Config
from wirescore.core_names import APP_PROTO_NAMES
from wirescore.engine import Engine
from wirescore.msg_names import krb5_error_name, krb5_msg_type_name
from wirescore.outputs.eve_krb5 import Krb5EventFormatter

KRB5 = APP_PROTO_NAMES.index("krb5")
SPRAY = "labeled/windows-ad-attacks/CredAccess__CA_kerbrute_passwordspray_kerberos_AS-REQ.pcapng"
NFSTREAM = "peer-groundtruth/nfstream/kerberos.pcap"
KRB_FILTER = "kerberos && (udp.port == 88 || tcp.port == 88)"


def _messages(rel: str) -> list[tuple[str, bytes]]:
    """(transport, message without its TCP record mark) of every Kerberos frame."""
    out = []
    for _, transport, data in payloads(need_shared() / "pcaps" / rel, KRB_FILTER):
        out.append((transport, data[4:] if transport == "tcp" else data))
    return out


@pytest.fixture(scope="module")
def spray():
    return _messages(SPRAY)


@pytest.fixture(scope="module")
def tcp_msgs():
    return [m for t, m in _messages(NFSTREAM)]


def arr(b: bytes) -> np.ndarray:
    return np.frombuffer(b, np.uint8).copy()


def framed(msgs) -> bytes:
    return b"".join(len(m).to_bytes(4, "big") + m for m in msgs)


def counter(drv, name: str) -> int:
    return int(drv.counters[COUNTER_NAMES.index(name)])


def krb5_events(drv) -> list[dict]:
    return [e["krb5"] for e in Krb5EventFormatter().events(drv.events()["krb5"])]


def expected(msgs) -> list[dict]:
    """What Suricata's krb5 events of these messages (one flow, in order) hold, from the
    message parser's dict: requests, replies and errors make an event; an error names
    the flow's last request."""
    out, last_req = [], 0
    for m in msgs:
        got = msg_krb5.parse_krb5(m)
        t = got["msg_type"]
        if t in (10, 12, 14):
            last_req = t
        if t not in (10, 11, 12, 13, 30):
            continue
        e = {"msg_type": krb5_msg_type_name(t)}
        if t == 30:
            e["failed_request"] = krb5_msg_type_name(last_req)
            e["error_code"] = krb5_error_name(got["error_code"])
        e["cname"] = got.get("cname", "<empty>")
        e["realm"] = got.get("crealm" if t in (11, 13) else "realm", "<empty>")
        e["sname"] = got.get("sname", "<empty>")
        out.append(e)
        if t in (11, 13, 15, 30):
            last_req = 0
    return out


def _strip(evs) -> list[dict]:
    keys = ("msg_type", "failed_request", "error_code", "cname", "realm", "sname")
    return [{k: e[k] for k in keys if k in e} for e in evs]


def send(drv, stream: bytes, cuts, d=0, isn=1000, flow=0) -> None:
    """stream's bytes as segments ending at cuts (sorted offsets), after a SYN."""
    drv.packet(flow, d, arr(b""), seq=isn, flags=0x02)
    start = 0
    for end in list(cuts) + [len(stream)]:
        if end > start:
            drv.packet(flow, d, arr(stream[start:end]), seq=isn + 1 + start)
        start = end


def test_udp_spray_becomes_events_and_the_flow_summary(spray):
    udp = [m for t, m in spray if t == "udp"]
    assert len(udp) == 26
    drv = AppDriver(udp=True, port=88)
    for m in udp:                              # one flow: requests and errors both ways
        drv.packet(0, 0 if msg_krb5.parse_krb5(m)["msg_type"] == 10 else 1, arr(m))
    evs = krb5_events(drv)
    assert _strip(evs) == expected(udp)
    assert evs[0] == {"msg_type": "KRB_AS_REQ", "cname": "admin", "realm": "THREEBEESCO.COM",
                      "sname": "krbtgt/THREEBEESCO.COM", "encryption": "<none>",
                      "weak_encryption": False}
    errors = [e for e in evs if e["msg_type"] == "KRB_ERROR"]
    assert {e["error_code"] for e in errors} == {
        "KDC_ERR_PREAUTH_REQUIRED", "KDC_ERR_PREAUTH_FAILED", "KDC_ERR_C_PRINCIPAL_UNKNOWN",
        "KRB_ERR_RESPONSE_TOO_BIG"}
    # an error right after a request names it; one after another error has none to name
    # (all go through one flow here), written as Suricata writes MessageType(0)
    assert errors[0]["failed_request"] == "KRB_AS_REQ"
    assert {e["failed_request"] for e in errors} == {"KRB_AS_REQ", "MessageType(0)"}
    codes = [msg_krb5.parse_krb5(m).get("error_code") for m in udp]
    rec = drv.end(0)
    assert rec["app_proto"] == KRB5
    assert rec["app_krb5_requests"] == sum(e["msg_type"] == "KRB_AS_REQ" for e in evs) == 13
    assert rec["app_krb5_errors"] == len(errors) == 13
    assert rec["app_krb5_replies"] == 0
    assert rec["app_krb5_preauth_failed"] == codes.count(24) == 2
    assert rec["app_krb5_preauth_required"] == codes.count(25) == 3
    assert rec["app_krb5_unknown_client"] == codes.count(6) == 7
    names = {msg_krb5.parse_krb5(m)["cname"] for m in udp if "cname" in msg_krb5.parse_krb5(m)}
    assert len(names) == 10
    assert abs(rec["app_krb5_cnames"] - len(names)) <= 2.5     # linear counting over 64 bits
    assert counter(drv, "app_layer.flow.krb5_udp") == 1
    assert counter(drv, "app_layer.tx.krb5_udp") == 26
    assert counter(drv, "app_layer.error.krb5_udp.parser") == 0


def test_replies_carry_their_encryption_and_ticket_encryption(tcp_msgs):
    drv = AppDriver(port=88)
    send(drv, framed(tcp_msgs[3:4]), [])
    send(drv, framed(tcp_msgs[4:5]), [], d=1, isn=9000)
    req, rep = krb5_events(drv)
    assert req["msg_type"] == "KRB_TGS_REQ" and rep["msg_type"] == "KRB_TGS_REP"
    whole = msg_krb5.parse_krb5(tcp_msgs[4])
    assert rep["encryption"] == dict(msg_krb5.TABLES["etypes"])[whole["enc_etype"]]
    assert rep["ticket_encryption"] == dict(msg_krb5.TABLES["etypes"])[whole["ticket_etype"]]
    assert rep["weak_encryption"] is whole["weak"]
    assert rep["ticket_weak_encryption"] is whole["ticket_weak"]
    # a TGS-REQ names the etype of the TGT it presents (Suricata's ticket_encryption)
    assert req["ticket_encryption"] == dict(msg_krb5.TABLES["etypes"])[
        msg_krb5.parse_krb5(tcp_msgs[3])["ticket_etype"]]
    rec = drv.end(0)
    assert (rec["app_krb5_requests"], rec["app_krb5_replies"]) == (1, 1)


@pytest.mark.parametrize("step", [1, 5, 97, 1460, 1 << 16])
def test_tcp_records_in_any_segmentation(tcp_msgs, step):
    client = [m for m in tcp_msgs if msg_krb5.parse_krb5(m)["msg_type"] in (10, 12)]
    stream = framed(client)
    drv = AppDriver(port=88)
    send(drv, stream, range(step, len(stream), step))
    assert _strip(krb5_events(drv)) == expected(client)
    assert counter(drv, "app_layer.flow.krb5_tcp") == 1
    assert counter(drv, "app_layer.tx.krb5_tcp") == len(client)
    assert counter(drv, "wirescore.app_gaps") == 0


def test_a_gap_inside_a_message_reads_its_prefix_and_resynchronises(tcp_msgs):
    msgs = [m for m in tcp_msgs if msg_krb5.parse_krb5(m)["msg_type"] in (10, 12)][:3]
    stream = framed(msgs)
    second = 4 + len(msgs[0])
    lost = (second + 200, second + 210)          # inside message 2, after its padata
    drv = AppDriver(port=88)
    drv.packet(0, 0, arr(b""), seq=0, flags=0x02)
    drv.packet(0, 0, arr(stream[:lost[0]]), seq=1)
    drv.packet(0, 0, arr(stream[lost[1]:]), seq=1 + lost[1])
    recs = drv.events()["krb5"]
    assert len(recs) == 3
    assert [bool(s & 1) for s in recs["status"]] == [False, True, False]    # KE_CUT
    evs = [e["krb5"] for e in Krb5EventFormatter().events(recs)]
    assert [e["msg_type"] for e in evs] == [e["msg_type"] for e in expected(msgs)]
    assert evs[2] == {**evs[2], **expected(msgs)[2]}
    assert counter(drv, "wirescore.app_gaps") == 1
    assert counter(drv, "wirescore.app_gap_abort") == 0
    assert counter(drv, "wirescore.app_truncated") == 1


def test_a_gap_at_a_record_boundary_ends_the_direction(tcp_msgs):
    msgs = tcp_msgs[:1] + tcp_msgs[2:3]
    stream = framed(msgs)
    first = 4 + len(msgs[0])
    drv = AppDriver(port=88)
    drv.packet(0, 0, arr(b""), seq=0, flags=0x02)
    drv.packet(0, 0, arr(stream[:first]), seq=1)
    drv.packet(0, 0, arr(stream[first + 10:]), seq=1 + first + 10)
    assert len(krb5_events(drv)) == 1
    assert counter(drv, "wirescore.app_gap_abort") == 1


def test_a_datagram_cut_by_the_snap_length_is_read_as_far_as_captured(spray):
    req = spray[0][1]
    drv = AppDriver(udp=True, port=88)
    drv.packet(0, 0, arr(req[:100]), wire_len=len(req))
    recs = drv.events()["krb5"]
    assert len(recs) == 1 and recs["status"][0] & 1
    ev = next(iter(Krb5EventFormatter().events(recs)))["krb5"]
    assert ev["msg_type"] == "KRB_AS_REQ"
    assert counter(drv, "wirescore.app_truncated") == 1
    # the same bytes as a whole datagram claim more than it holds: malformed, no event
    drv.packet(0, 0, arr(req[:100]))
    assert len(drv.events()["krb5"]) == 0
    assert counter(drv, "app_layer.error.krb5_udp.parser") == 1


def test_detection_is_by_content_with_the_port_a_hint(spray, tcp_msgs):
    udp = AppDriver(udp=True, port=5000)
    udp.packet(0, 0, arr(spray[0][1]))
    assert udp.end(0)["app_proto"] == KRB5
    tcp = AppDriver(port=5000)
    send(tcp, framed(tcp_msgs[:1]), [3])
    assert tcp.end(0)["app_proto"] == KRB5
    # a record mark that does not announce the message's length is not Kerberos
    bad = AppDriver(port=5000)
    send(bad, (len(tcp_msgs[0]) + 1).to_bytes(4, "big") + tcp_msgs[0] + b"\0", [])
    assert bad.end(0)["app_proto"] != KRB5
    # nor is a datagram of other bytes on port 88
    other = AppDriver(udp=True, port=88)
    other.packet(0, 0, arr(b"\x6a\x03\x02\x01\x05" + bytes(40)))
    assert other.end(0)["app_proto"] != KRB5


# ---- the engine ---------------------------------------------------------------------------

def test_the_engine_writes_krb5_events_valid_against_suricatas_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    pcap = need_shared() / "pcaps" / SPRAY
    cfg = Config.load(overrides={"detect.enabled": False})
    got = []
    Engine(cfg, log_dir=tmp_path, on_app=lambda kind, recs, evs: got.append((kind, evs))
           ).run(str(pcap))
    lines = [json.loads(line) for line in (tmp_path / "eve.json").read_text().splitlines()]
    krb = [e for e in lines if e["event_type"] == "krb5"]
    assert len(krb) == 28                      # 26 UDP + the AS-REQ and AS-REP over TCP
    assert [e for kind, evs in got if kind == "krb5" for e in evs] == krb
    flows = {e["flow_id"]: e for e in lines if e["event_type"] == "flow"}
    assert all(flows[e["flow_id"]]["app_proto"] == "krb5" for e in krb)
    rep = [e for e in krb if e["krb5"]["msg_type"] == "KRB_AS_REP"]
    assert len(rep) == 1 and rep[0]["proto"] == "TCP" and rep[0]["krb5"]["cname"] == "normal"
    schema = json.loads((SHARED_DATA / "suricata-eve-schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for e in krb:
        validator.validate(e)
    stats = [e for e in lines if e["event_type"] == "stats"][-1]["stats"]["app_layer"]
    assert stats["flow"]["krb5_udp"] == 13 and stats["flow"]["krb5_tcp"] == 1
