"""LDAP as a room of the application layer (ext/app/ldaproom.pxd): LDAPMessages over TCP
in any segmentation, SASL buffers (integrity-only ones read, sealed ones counted),
messages longer than the hold read from their prefix, gaps, CLDAP datagrams, detection
by content, the flow summary (app_ldap_* columns) and EVE ldap events (Suricata's
fields, valid against its schema).

The messages are real, read with tshark from shared captures: Zeek's
ldap/modify-request (a rootDSE search and its 2.8 kB entry, a 2 kB Kerberos SASL bind,
then a modify request inside integrity-only Kerberos CFX wrap tokens) and the CICIDS2017
demo (CLDAP "Netlogon" searches over UDP).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SHARED_DATA, need_shared
from msgref import payloads
from wirescore._core import msg_ldap
from wirescore._core.appcore import AppDriver
from wirescore._core.flowtable import COUNTER_NAMES
from wirescore.config import Config
from wirescore.core_names import APP_HOLD, APP_PROTO_NAMES
from wirescore.engine import Engine
from wirescore.outputs.eve_ldap import LdapEventFormatter

LDAP = APP_PROTO_NAMES.index("ldap")
MODIFY = "varied/linktypes/zeek-ldap__modify-request.pcapng"
DEMO = "labeled/netml-cicids2017-demo/demo.pcap"


def _units(rel: str, transport: str) -> list[tuple[int, bytes]]:
    """(unit, transport) of every LDAP frame (CLDAP over UDP)."""
    pcap = need_shared() / "pcaps" / rel
    out = []
    proto = "cldap" if transport == "udp" else "ldap && tcp"
    for _, t, data in payloads(pcap, proto):
        out.append((data, t))
    return [(d, t) for d, t in out]


@pytest.fixture(scope="module")
def modify():
    units = [d for d, _ in _units(MODIFY, "tcp")]
    assert len(units) == 7
    # directions: search, entry, bind, bind response, then three SASL-wrapped messages
    return units


def arr(b: bytes) -> np.ndarray:
    return np.frombuffer(b, np.uint8).copy()


def counter(drv, name: str) -> int:
    return int(drv.counters[COUNTER_NAMES.index(name)])


def ldap_events(drv) -> list[dict]:
    return [e["ldap"] for e in LdapEventFormatter().events(drv.events()["ldap"])]


def send(drv, stream: bytes, cuts, d=0, isn=1000, flow=0) -> None:
    drv.packet(flow, d, arr(b""), seq=isn, flags=0x02)
    start = 0
    for end in list(cuts) + [len(stream)]:
        if end > start:
            drv.packet(flow, d, arr(stream[start:end]), seq=isn + 1 + start)
        start = end


def _op(e: dict) -> tuple[str, int]:
    m = e["request"] if "request" in e else e["responses"][0]
    return m["operation"], m["message_id"]


@pytest.mark.parametrize("step", [1, 7, 300, 1460, 1 << 16])
def test_tcp_messages_in_any_segmentation(modify, step):
    client = [modify[0], modify[2]]                 # the search, the 2 kB SASL bind
    stream = b"".join(client)
    drv = AppDriver(port=389)
    send(drv, stream, range(step, len(stream), step))
    evs = ldap_events(drv)
    assert [_op(e) for e in evs] == [("search_request", 5), ("bind_request", 7)]
    search = evs[0]["request"]["search_request"]
    want = msg_ldap.parse_ldap(modify[0])
    assert search["base_object"] == "" and search["time_limit"] == want["time_limit"]
    assert search["attributes"][0] == "subschemaSubentry"
    bind = evs[1]["request"]["bind_request"]
    assert bind["version"] == 3 and bind["sasl"]["mechanism"] == \
        msg_ldap.parse_ldap(modify[2])["mechanism"]
    rec = drv.end(0)
    assert rec["app_proto"] == LDAP
    assert (rec["app_ldap_requests"], rec["app_ldap_searches"], rec["app_ldap_sasl_binds"]) \
        == (2, 1, 1)
    assert counter(drv, "app_layer.tx.ldap_tcp") == 2


def test_a_message_longer_than_the_hold_is_read_from_its_prefix(modify):
    entry = modify[1]
    assert len(entry) > APP_HOLD
    drv = AppDriver(port=389)
    send(drv, modify[0], [])                              # the search opens the flow
    send(drv, entry + modify[3], [1000, 2500], d=1, isn=7000)
    recs = drv.events()["ldap"]
    evs = [e["ldap"] for e in LdapEventFormatter().events(recs)]
    assert [_op(e) for e in evs] == [("search_request", 5), ("search_result_entry", 5),
                                     ("bind_response", 7)]
    assert [bool(s & 1) for s in recs["status"]] == [False, True, False]   # LE_CUT
    assert evs[2]["responses"][0]["bind_response"]["result_code"] == "success"
    assert counter(drv, "wirescore.app_truncated") == 1
    assert drv.end(0)["app_ldap_entries"] == 1


def test_integrity_only_sasl_buffers_are_read(modify):
    sasl = modify[4:]
    drv = AppDriver(port=389)
    send(drv, b"".join(sasl[:1]), [])
    send(drv, b"".join(sasl[1:]), [], d=1, isn=9000)
    evs = ldap_events(drv)
    ops = [_op(e)[0] for e in evs]
    assert ops[0] == "modify_request" and "modify_response" in ops
    assert counter(drv, "app_layer.tx.ldap_tcp") == len(ops)


def test_sealed_sasl_buffers_are_counted_not_read(modify):
    sealed = bytearray(modify[4])
    sealed[6] |= 2                                  # CFX flags: Sealed
    drv = AppDriver(port=389)
    send(drv, modify[0] + bytes(sealed), [])
    assert [_op(e)[0] for e in ldap_events(drv)] == ["search_request"]
    assert drv.end(0)["app_ldap_sealed"] == 1


def test_a_gap_inside_a_message_resynchronises_on_the_next(modify):
    stream = modify[0] + modify[2]
    drv = AppDriver(port=389)
    drv.packet(0, 0, arr(b""), seq=0, flags=0x02)
    drv.packet(0, 0, arr(stream[:200]), seq=1)
    drv.packet(0, 0, arr(stream[250:]), seq=251)
    recs = drv.events()["ldap"]
    assert len(recs) == 2 and recs["status"][0] & 1 and not recs["status"][1] & 1
    assert counter(drv, "wirescore.app_gaps") == 1
    assert counter(drv, "wirescore.app_gap_abort") == 0


def test_cldap_datagrams_and_detection_by_content():
    udp = [d for d, t in _units(DEMO, "udp")]
    assert udp
    drv = AppDriver(udp=True, port=5000)                  # not an LDAP port: content
    drv.packet(0, 0, arr(udp[0]))
    evs = ldap_events(drv)
    assert evs[0]["request"]["search_request"]["attributes"] == ["Netlogon"]
    assert drv.end(0)["app_proto"] == LDAP
    # DNS on port 389 is not LDAP
    other = AppDriver(udp=True, port=389)
    other.packet(0, 0, arr(bytes.fromhex("123401000001000000000000") + b"\x03www\x00\x00\x01\x00\x01"))
    assert other.end(0)["app_proto"] != LDAP


def test_the_engine_writes_ldap_events_valid_against_suricatas_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    pcap = need_shared() / "pcaps" / MODIFY
    got = []
    Engine(Config.load(overrides={"detect.enabled": False}), log_dir=tmp_path,
           on_app=lambda kind, recs, evs: got.append((kind, recs, evs))).run(str(pcap))
    lines = [json.loads(line) for line in (tmp_path / "eve.json").read_text().splitlines()]
    ldap = [e for e in lines if e["event_type"] == "ldap"]
    assert [e for kind, _, evs in got if kind == "ldap" for e in evs] == ldap
    assert len(ldap) == 8
    recs = np.concatenate([r for kind, r, _ in got if kind == "ldap"])
    assert sum(bool(s & 128) for s in recs["status"]) == 3        # LE_SASL: inside wraps
    validator = jsonschema.Draft202012Validator(
        json.loads((SHARED_DATA / "suricata-eve-schema.json").read_text()))
    for e in ldap:
        validator.validate(e)
    flows = {e["flow_id"]: e for e in lines if e["event_type"] == "flow"}
    assert all(flows[e["flow_id"]]["app_proto"] == "ldap" for e in ldap)
