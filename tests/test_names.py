"""The core's name lists, slot by slot: each list once in wirescore/core_names.py, the C
tables the core was compiled with (names.h, generated from it: wirescore._core.ctables),
what the rest of Python imports, and what the core does with each value (the counter a
decode error increments, the reason a teardown records, the timeout class a setting
sets, the window key a record carries, the bits the catalog quotes)."""
from __future__ import annotations

import json
import math

import dpkt
import numpy as np
import pytest

from test_core import _feed, _frame
from wirescore import catalog
from wirescore import core_names as names
from wirescore._core import ctables, flowtable
from wirescore._core.decode import decode_one
from wirescore._core.eve import format_flows
from wirescore._core.flowtable import FlowMeter
from wirescore.config import Config
from wirescore.outputs import eve

DLT_EN10MB = 1
ENUM_LISTS = ("counters", "reasons", "states", "tcp_states", "timeout_classes",
              "window_kinds")


@pytest.mark.parametrize("which", ENUM_LISTS)
def test_each_value_is_its_slot(which):
    rows = names.ROWS[which]
    assert [value for _, value, _ in rows] == list(range(len(rows)))
    ids = [ident for ident, _, _ in rows]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("which", sorted(names.ROWS))
def test_the_compiled_tables_are_the_list(which):
    """Row by row, the (C enum name, C value, name) the core was built with."""
    assert ctables.ROWS[which] == names.ROWS[which]


def test_the_compiled_defaults_and_sizes_are_the_list():
    assert ctables.TIMEOUT_DEFAULTS == names.TIMEOUT_DEFAULTS
    assert ctables.PORT_PROTOS == names.PORT_PROTOS
    assert (ctables.SCAN_BITS, ctables.WINDOW_BITS, ctables.CLOCK_REACH) == (
        names.SCAN_BITS, names.WINDOW_BITS, names.CLOCK_REACH)


def test_python_lists_are_the_rows_in_slot_order():
    col = {k: tuple(name for _, _, name in rows) for k, rows in names.ROWS.items()}
    assert names.COUNTER_NAMES == col["counters"]
    assert names.REASON_NAMES == col["reasons"]
    assert names.STATE_NAMES == col["states"]
    assert names.TCP_STATE_NAMES == col["tcp_states"]
    assert names.TIMEOUT_CLASSES == col["timeout_classes"]
    assert names.WINDOW_KINDS == col["window_kinds"]
    for k, (ident, bit, name) in enumerate(names.ROWS["tcp_flags"]):
        assert bit == 1 << k and names.TCP_FLAG_NAMES[k] == (bit, name)
    for _, number, name in names.ROWS["protos"]:
        assert names.PROTO_NAMES[number] == name
    for listed in ("counters", "states", "tcp_states", "timeout_classes", "window_kinds"):
        assert len(set(col[listed])) == len(col[listed]), listed


def test_the_others_import_the_core_lists():
    assert flowtable.COUNTER_NAMES is names.COUNTER_NAMES
    assert flowtable.TIMEOUT_CLASSES is names.TIMEOUT_CLASSES
    assert flowtable.WINDOW_KINDS is names.WINDOW_KINDS
    assert flowtable.N_COUNTER_SLOTS == len(names.COUNTER_NAMES)
    assert len(FlowMeter(DLT_EN10MB, context=False).counters) == len(names.COUNTER_NAMES)
    assert eve.REASONS is names.REASON_NAMES and eve.STATES is names.STATE_NAMES
    assert eve.TCP_STATES is names.TCP_STATE_NAMES and eve.PROTO_NAMES is names.PROTO_NAMES
    cfg = Config.load()
    assert cfg.timeouts() == names.TIMEOUT_DEFAULTS
    assert [key for key, _ in cfg.items() if key.startswith("flow.timeouts.")] == [
        f"flow.timeouts.{name}" for name in names.TIMEOUT_CLASSES]


def _slot(name):
    ident = {n: i for i, _, n in names.ROWS["counters"]}[name]
    return ident, names.COUNTER_NAMES.index(name)


@pytest.mark.parametrize("frame, counted", [
    (_frame((10, 0, 0, 1), (10, 0, 0, 2), 1000, 80, 0x02)[:30],
     {"C_PKTS": "decoder.pkts", "C_INVALID": "decoder.invalid",
      "E_IPV4_SMALL": "decoder.event.ipv4.pkt_too_small", "C_ETHERNET": "decoder.ethernet"}),
    (_frame((10, 0, 0, 1), (10, 0, 0, 2), 1000, 80, 0x02),
     {"C_DECODED_IP": "wirescore.decoded_ip", "C_IPV4": "decoder.ipv4",
      "C_TCP": "decoder.tcp"}),
    (_frame((10, 0, 0, 1), (10, 0, 0, 2), 1000, 53, None, proto=17),
     {"C_UDP": "decoder.udp"}),
    (bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\xff" * 6, type=0x0806,
                                  data=b"\x00" * 28)),
     {"C_NONIP": "wirescore.nonip", "C_ARP": "decoder.arp"}),
])
def test_the_decoder_counts_in_the_named_slot(frame, counted):
    _, _, counters = decode_one(np.frombuffer(frame, dtype=np.uint8).copy(), DLT_EN10MB)
    for ident, name in counted.items():
        assert _slot(name)[0] == ident
        assert counters[_slot(name)[1]] == 1, name


def test_a_teardown_has_the_named_reason_and_states():
    a, b = (10, 0, 0, 1), (10, 0, 0, 2)
    recs = _feed(FlowMeter(DLT_EN10MB, context=False), [
        (100.0, _frame(a, b, 1000, 80, 0x02)), (100.1, _frame(b, a, 80, 1000, 0x12)),
        (100.2, _frame(a, b, 1000, 80, 0x10)), (101.0, _frame(a, b, 1000, 80, 0x11)),
        (101.1, _frame(b, a, 80, 1000, 0x11))])
    (r,) = recs
    assert names.REASON_NAMES[r["reason"]] == "tcp_fin"
    assert names.STATE_NAMES[r["state"]] == "closed"
    assert names.TCP_STATE_NAMES[r["tcp_state"]] == "closed"
    line = json.loads(format_flows(recs))
    assert (line["flow"]["reason"], line["flow"]["state"], line["tcp"]["state"]) == (
        "tcp_fin", "closed", "closed")
    assert line["proto"] == names.PROTO_NAMES[6]
    assert {name for bit, name in names.TCP_FLAG_NAMES if bit & 0x13} <= set(line["tcp"])


@pytest.mark.parametrize("name", names.TIMEOUT_CLASSES)
def test_each_timeout_setting_reaches_its_class(name):
    """Every class at 1000 s but `name` at 1 s: only the flow of that class ends idle
    before the capture's end (flows: UDP and TCP one way (new) and both ways
    (established), a closed TCP flow; ICMP and other-protocol flows are not made)."""
    a, b = (10, 0, 0, 1), (10, 0, 0, 2)
    timeouts = [1000.0] * len(names.TIMEOUT_CLASSES)
    timeouts[names.TIMEOUT_CLASSES.index(name)] = 1.0
    frames = [(10.0, _frame(a, b, 1, 53, None, 17)),                     # udp.new
              (10.0, _frame(a, b, 2, 53, None, 17)), (10.1, _frame(b, a, 53, 2, None, 17)),
              (10.0, _frame(a, b, 3, 80, 0x02)),                         # tcp.new
              (10.0, _frame(a, b, 4, 80, 0x02)), (10.1, _frame(b, a, 80, 4, 0x12)),
              (10.0, _frame(a, b, 5, 80, 0x02)), (10.1, _frame(b, a, 80, 5, 0x04)),
              (20.0, _frame(b, (10, 0, 0, 3), 9, 9, None, 17))]          # the clock moves
    frames.sort(key=lambda f: f[0])
    recs = _feed(FlowMeter(DLT_EN10MB, context=False, timeouts=timeouts), frames,
                 shutdown=False)
    idle = {int(r["src_port"]) for r in recs}
    expected = {"udp.new": {1}, "udp.established": {2}, "tcp.new": {3},
                "tcp.established": {4}, "tcp.closed": {5}}.get(name, set())
    assert idle == expected


def test_window_records_carry_the_named_kind():
    a = (10, 0, 0, 1)
    frames = [(1.0 + i / 100, _frame(a, (10, 1, 0, i), 1000, 80, 0x02)) for i in range(5)]
    for key in names.WINDOW_KINDS:
        windows = []
        _feed(FlowMeter(DLT_EN10MB, context=False, window_seconds=10.0, window_keys=(key,)),
              frames, windows)
        assert windows and {names.WINDOW_KINDS[w["kind"]] for w in windows} == {key}


def test_the_catalog_quotes_the_bits_the_core_counts_with():
    """A client trying 1,000 silent servers: its unanswered hosts saturate where linear
    counting over SCAN_BITS bits does, as the catalog says; one window key seeing 3,000
    destinations saturates where WINDOW_BITS bits do."""
    a = (10, 0, 0, 1)
    frames = [(1.0 + i / 1000, _frame(a, (10, 1, i // 250, 1 + i % 250), 1000 + i, 53, None,
                                      17)) for i in range(1000)]
    recs = _feed(FlowMeter(DLT_EN10MB), frames)
    bits = names.SCAN_BITS
    assert recs["ctx_src_unanswered_hosts"].max() == pytest.approx(bits * math.log(bits))
    assert f"over {bits} bits" in catalog.BY_NAME["ctx.src_unanswered_hosts"].definition
    frames = [(1.0 + i / 10000, _frame(a, (10, 2 + i // 62500, i // 250 % 250, 1 + i % 250),
                                       1000, 80, 0x02)) for i in range(3000)]
    windows = []
    _feed(FlowMeter(DLT_EN10MB, context=False, window_seconds=10.0, window_keys=("src",)),
          frames, windows)
    bits = names.WINDOW_BITS
    assert max(w["distinct_dsts"] for w in windows) == pytest.approx(bits * math.log(bits))
    assert f"over {bits} bits" in catalog.WINDOW_BY_NAME["window.distinct_dsts"].definition
