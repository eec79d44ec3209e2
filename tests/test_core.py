"""The flow core on its own: accounting invariants, record layout, determinism,
expiry rules, and the C EVE formatter against the Python one."""
from __future__ import annotations

import filecmp
from collections import Counter

import flowref
import numpy as np
import pytest

from conftest import FIXTURES as FIXTURES_DIR
from conftest import fixture_captures, read_eve, run_wirescore, shared_captures
from flowref import crafted_flags
from meter_feed import drain_to_end, feed_capture
from wirescore import catalog
from wirescore._core import flowtable
from wirescore._core.eve import format_flows
from wirescore._core.flowtable import COUNTER_NAMES, RECORD_DTYPE, FlowMeter
from wirescore.outputs.eve import FlowEventFormatter, _dumps

DLT_EN10MB = 1


def meter_records(path, **kw):
    """Run a capture through a FlowMeter directly: (records, counters dict)."""
    out = []
    meter = feed_capture(path, lambda dlt: FlowMeter(dlt, **kw),
                         lambda m: out.append(m.drain()), stop_on_error=True)
    out += drain_to_end(meter)
    return np.concatenate(out), dict(zip(COUNTER_NAMES, meter.counters.tolist()))


CAPTURES = fixture_captures() + shared_captures("labeled", "varied/linktypes")


def _ids(paths):
    return [p.name for p in paths]


@pytest.mark.parametrize("pcap", CAPTURES, ids=_ids(CAPTURES))
def test_every_packet_lands_in_one_bucket(pcap):
    try:
        records, c = meter_records(pcap)
    except ValueError as exc:  # unsupported link type: refused up front
        pytest.skip(str(exc))
    assert c["decoder.pkts"] == c["wirescore.decoded_ip"] + c["wirescore.nonip"] + \
        c["decoder.invalid"]
    packets_in_flows = int(records["pkts_toserver"].sum() + records["pkts_toclient"].sum())
    assert packets_in_flows == c["wirescore.decoded_ip"]
    assert len(records) == c["flow.total"]
    assert (records["pkts_toserver"] >= 1).all()     # toserver = first packet's direction
    errors = sum(v for k, v in c.items() if ".event." in k or k == "capture.errors")
    assert errors == c["decoder.invalid"]


def test_counter_names_match_the_enum():
    assert len(COUNTER_NAMES) == flowtable.N_COUNTER_SLOTS
    assert len(set(COUNTER_NAMES)) == len(COUNTER_NAMES)


def test_catalog_matches_record_dtype():
    fields = set(RECORD_DTYPE.names)
    feature_fields = [f.field for f in catalog.ALL_FEATURES]
    assert len(set(feature_fields)) == len(feature_fields)
    groups = [set(feature_fields), set(catalog.IDENTITY_FIELDS),
              set(catalog.SEQUENCE_FIELDS), set(catalog.PACKET_STAT_FIELDS),
              set(catalog.QUIET_FIELDS.values())]
    assert set().union(*groups) == fields
    assert sum(len(g) for g in groups) == len(fields)        # no field in two groups
    for f in catalog.PACKET_STAT_FEATURES:
        assert f.name == f.field and f.unit and f.definition
    for f in catalog.FLOW_FEATURES:
        assert f.name == "flow." + f.field and f.unit and f.definition
    for f in catalog.CONTEXT_FEATURES:
        assert f.name == "ctx." + f.field[4:] and f.unit and f.definition


def test_entry_stays_small():
    # 1M concurrent flows must fit the 400 MB budget with the interpreter
    assert flowtable.ENTRY_BYTES <= 344


@pytest.mark.parametrize("pcap", CAPTURES[:40], ids=_ids(CAPTURES[:40]))
def test_c_formatter_equals_python_formatter(pcap):
    try:
        records, _ = meter_records(pcap)
    except ValueError as exc:
        pytest.skip(str(exc))
    c_lines = format_flows(records).decode("ascii").splitlines()
    py_lines = [_dumps(e) for e in FlowEventFormatter().events(records)]
    assert c_lines == py_lines


def test_replay_is_byte_identical(tmp_path):
    pcap = fixture_captures()[0]
    for name in ("a", "b"):
        run_wirescore("run", "-r", pcap, "-l", tmp_path / name, "--no-detect",
                      "--export", tmp_path / f"{name}.csv")
    assert filecmp.cmp(tmp_path / "a" / "eve.json", tmp_path / "b" / "eve.json", shallow=False)
    assert filecmp.cmp(tmp_path / "a.csv", tmp_path / "b.csv", shallow=False)


def _frame(src, dst, sport, dport, flags, proto=6):
    """An Ethernet frame of one TCP segment with `flags` (proto 17: a UDP datagram)."""
    import dpkt

    if proto == 6:
        l4 = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, seq=1, win=512)
    else:
        l4 = dpkt.udp.UDP(sport=sport, dport=dport)
        l4.ulen = len(l4)
    ip = dpkt.ip.IP(src=bytes(src), dst=bytes(dst), p=proto, data=l4)
    ip.len = len(ip)
    eth = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=ip)
    return bytes(eth)


def _feed(meter, frames, windows=None, shutdown=True):
    """frames: [(t_seconds, bytes)] -> records ended during feeding + at shutdown (none
    with shutdown False); with a list `windows`, the window records are added to it."""
    data = b"".join(f for _, f in frames)
    meta, off = [], 0
    for t, f in frames:
        meta.append((int(t), int(round((t % 1) * 1e6)), off, len(f)))
        off += len(f)
    rows = np.array(meta, dtype=np.uint32).reshape(-1, 4)
    out, i = [], 0
    while i < len(rows):
        i = meter.feed(data, rows, i)
        out.append(meter.drain())
        if windows is not None:
            windows.extend(meter.drain_windows())
    if windows is not None:
        meter.close_window()
        windows.extend(meter.drain_windows())
    while shutdown and meter.shutdown():
        out.append(meter.drain())
    out.append(meter.drain())
    return np.concatenate(out)


A, B = (10, 0, 0, 1), (10, 0, 0, 2)
SYN, SYNACK, ACK, FIN, RST = 0x02, 0x12, 0x10, 0x11, 0x04


def test_teardown_linger_keeps_final_ack_in_the_flow():
    m = FlowMeter(DLT_EN10MB)
    recs = _feed(m, [(100.0, _frame(A, B, 1000, 80, SYN)), (100.1, _frame(B, A, 80, 1000, SYNACK)),
                     (100.2, _frame(A, B, 1000, 80, ACK)), (101.0, _frame(A, B, 1000, 80, FIN)),
                     (101.1, _frame(B, A, 80, 1000, FIN)), (101.2, _frame(A, B, 1000, 80, ACK))])
    assert len(recs) == 1
    r = recs[0]
    assert (r["pkts_toserver"], r["pkts_toclient"]) == (4, 2)
    assert r["reason"] == 3 and r["state"] == 2          # tcp_fin, closed
    assert r["tcp_syn_synack_delay"] == pytest.approx(100000, abs=1)
    assert r["tcp_synack_ack_delay"] == pytest.approx(100000, abs=1)


def test_syn_after_close_starts_a_new_flow_and_idle_timeout_splits():
    m = FlowMeter(DLT_EN10MB, timeouts=(60, 600, 60, 30, 300, 30, 300, 30, 300))
    recs = _feed(m, [(0.0, _frame(A, B, 1000, 80, SYN)), (0.1, _frame(B, A, 80, 1000, RST)),
                     (1.0, _frame(A, B, 1000, 80, SYN)),          # port reuse after RST
                     (200.0, _frame(A, B, 1000, 80, ACK))])       # > 60 s idle (tcp new)
    assert [int(x) for x in recs["pkts_toserver"] + recs["pkts_toclient"]] == [2, 1, 1]
    assert [int(x) for x in recs["reason"]] == [4, 1, 6]       # tcp_rst, timeout, shutdown
    c = dict(zip(COUNTER_NAMES, m.counters.tolist()))
    assert c["flow.tcp_reuse"] == 1


def test_eviction_when_full_is_counted_and_loses_no_packet():
    m = FlowMeter(DLT_EN10MB, max_flows=4)
    frames = [(1.0 + i * 0.001, _frame(A, B, 2000 + i, 80, SYN)) for i in range(50)]
    recs = _feed(m, frames)
    c = dict(zip(COUNTER_NAMES, m.counters.tolist()))
    assert len(recs) == 50 and c["flow.wrk.flows_evicted"] == 46
    assert (recs["reason"] == 5).sum() == 46                  # forced
    assert int(recs["pkts_toserver"].sum()) == 50


def test_active_timeout_splits_a_busy_flow():
    m = FlowMeter(DLT_EN10MB, active_timeout=10.0)
    frames = [(float(t), _frame(A, B, 1000, 80, ACK)) for t in range(0, 25)]
    recs = _feed(m, frames)
    assert [int(x) for x in recs["pkts_toserver"]] == [11, 11, 3]


def test_time_going_backwards_is_counted_not_trusted():
    m = FlowMeter(DLT_EN10MB)
    recs = _feed(m, [(100.0, _frame(A, B, 1000, 80, ACK)), (50.0, _frame(A, B, 1000, 80, ACK))])
    c = dict(zip(COUNTER_NAMES, m.counters.tolist()))
    assert c["wirescore.ts_backwards"] == 1
    assert len(recs) == 1 and recs[0]["iat_min_toserver"] == 0


def test_bad_record_offsets_are_counted():
    m = FlowMeter(DLT_EN10MB)
    frame = _frame(A, B, 1000, 80, SYN)
    rows = np.array([(1, 0, 0, len(frame)), (1, 1, 10, len(frame)), (1, 2, 9999, 4)],
                    dtype=np.uint32)
    m.feed(frame, rows, 0)
    c = dict(zip(COUNTER_NAMES, m.counters.tolist()))
    assert c["decoder.pkts"] == 3 and c["capture.errors"] == 2 and c["decoder.invalid"] == 2


def test_crafted_flags_reference_names_the_probes():
    nmap = {"null -sN": 0x00, "fin -sF": 0x01, "xmas -sX": 0x29, "OS T3": 0x2B,
            "syn+rst": 0x06, "all eight": 0xFF, "ece+cwr alone": 0xC0}
    stacks = {"syn": 0x02, "ecn syn": 0xC2, "syn/ack": 0x12, "ecn syn/ack": 0x52,
              "ack": 0x10, "psh/ack": 0x18, "fin/ack": 0x11, "rst": 0x04, "rst/ack": 0x14,
              "urg/psh/ack": 0x38, "maimon fin/ack": 0x11}
    assert all(crafted_flags(f) for f in nmap.values())
    assert not any(crafted_flags(f) for f in stacks.values())


@pytest.mark.parametrize("direction", ["toserver", "toclient"])
def test_bad_flags_count_every_flag_byte_in_its_direction(direction):
    """All 256 flag bytes, each in its own flow: as the client's first packet (the
    server answers RST/ACK) or as the server's answer to a SYN."""
    m = FlowMeter(DLT_EN10MB)
    frames = []
    for f in range(256):
        t, port = 10.0 + f * 0.01, 1000 + f
        if direction == "toserver":
            frames += [(t, _frame(A, B, port, 80, f)), (t + 0.001, _frame(B, A, 80, port, 0x14))]
        else:
            frames += [(t, _frame(A, B, port, 80, SYN)), (t + 0.001, _frame(B, A, 80, port, f))]
    recs = _feed(m, frames)
    other = "toclient" if direction == "toserver" else "toserver"
    by_port = {int(r["src_port"]): r for r in recs}
    assert sorted(by_port) == list(range(1000, 1256))
    got = [int(by_port[1000 + f]["bad_flags_" + direction]) for f in range(256)]
    assert got == [int(crafted_flags(f)) for f in range(256)]
    assert int(recs["bad_flags_" + other].sum()) == 0
    # by hand: (1 NULL + 24 SYN with FIN or RST + 7 FIN/PSH/URG without SYN, ACK, RST
    # + 3 SYN with PSH or URG without ACK, RST) x 4 ECE/CWR settings
    assert sum(got) == 140


BAD_FLAG_CAPTURES = CAPTURES + shared_captures("peer-groundtruth")


@pytest.mark.parametrize("pcap", BAD_FLAG_CAPTURES, ids=_ids(BAD_FLAG_CAPTURES))
def test_bad_flags_match_the_dpkt_reference(pcap):
    """Per capture, the crafted-flag packets the core counts equal those the dpkt
    reference (tests/flowref.py) decodes; none of the shipped benign fixtures has one."""
    try:
        records, _ = meter_records(pcap)
    except ValueError as exc:
        pytest.skip(str(exc))
    expected = sum(1 for _ in flowref.crafted_packets(flowref.read_capture(pcap)))
    got = int(records["bad_flags_toserver"].sum() + records["bad_flags_toclient"].sum())
    assert got == expected
    if pcap.parent == FIXTURES_DIR:
        assert got == 0


def test_stealth_scan_probes_are_counted_on_the_scanners_flows():
    """ndpi-tcp_scan: nmap's FIN, NULL and Xmas probes (one each) from 192.168.1.178,
    each answered by an RST/ACK from the closed port."""
    pcap = shared_captures("labeled/scans")
    pcap = [p for p in pcap if p.name == "ndpi-tcp_scan.pcapng"]
    if not pcap:
        pytest.skip("needs ../shared (labeled/scans/ndpi-tcp_scan.pcapng)")
    records, _ = meter_records(pcap[0])
    hit = records[records["bad_flags_toserver"] > 0]
    assert sorted(int(p) for p in hit["dest_port"]) == [3390, 3391, 3392]
    assert (hit["bad_flags_toserver"] == 1).all() and (hit["pkts_toclient"] == 1).all()
    assert sorted(hit["tcp_flags_ts"].tolist()) == [0x00, 0x01, 0x29]
    assert int(records["bad_flags_toclient"].sum()) == 0


@pytest.mark.parametrize("seconds", [0, 951782400, 951868799, 1709164800, 2147483647,
                                     2147483648, 4102444800, 4294967295])
def test_c_timestamps_equal_python_across_calendar_edges(seconds):
    """Leap days (2000-02-29, 2024-02-29), 2038, 2100 (not a leap year), 2106."""
    rec = np.zeros(1, dtype=RECORD_DTYPE)
    rec["start_us"] = seconds * 1_000_000 + 123
    rec["end_us"] = seconds * 1_000_000 + 86_399_999_999
    rec["ip_version"], rec["proto"], rec["pkts_toserver"] = 4, 17, 1
    c_line = format_flows(rec).decode("ascii").strip()
    assert c_line == _dumps(next(iter(FlowEventFormatter().events(rec))))


def test_format_flows_writes_to_a_file_descriptor(tmp_path):
    records, _ = meter_records(fixture_captures()[0])
    path = tmp_path / "out.json"
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        written = format_flows(records, fd=fd)
    finally:
        os.close(fd)
    assert path.read_bytes() == format_flows(records) and written == path.stat().st_size


def window_records(path, seconds=1.0, keys=("all", "src", "dst"), **kw):
    from wirescore._core.flowtable import WINDOW_DTYPE

    out = []

    def after_feed(meter):
        meter.drain()
        out.append(meter.drain_windows())

    meter = feed_capture(path, lambda dlt: FlowMeter(dlt, window_seconds=seconds,
                                                     window_keys=keys, **kw), after_feed)
    meter.close_window()
    out.append(meter.drain_windows())
    return np.concatenate(out) if out else np.empty(0, WINDOW_DTYPE), meter


def test_windows_sum_every_ip_packet_once_per_kind():
    pcap = FIXTURES_DIR / "zeek-wikipedia.pcap"
    wins, meter = window_records(pcap)
    counters = dict(zip(COUNTER_NAMES, meter.counters.tolist()))
    for kind in range(3):
        assert wins[wins["kind"] == kind]["packets"].sum() == counters["wirescore.decoded_ip"]
    # windows are aligned to whole seconds of packet time and do not overlap per key
    assert ((wins["end_us"] - wins["start_us"]) == 1_000_000).all()
    assert (wins["start_us"] % 1_000_000 == 0).all()


SCANS = shared_captures("labeled/scans")


@pytest.mark.parametrize("pcap", SCANS, ids=[p.name for p in SCANS])
def test_a_small_window_table_drops_whole_keys_and_counts_them(pcap):
    """window_max_keys=16: a key either gets a slot for the whole window (then its
    record equals the one a 16,384-key table gives) or all of its packets in that
    window are counted in wirescore.window_keys_dropped; never more than 16 keys of a
    kind per window."""
    big, mb = window_records(pcap)
    small, ms = window_records(pcap, window_max_keys=16)
    cs = dict(zip(COUNTER_NAMES, ms.counters.tolist()))
    cb = dict(zip(COUNTER_NAMES, mb.counters.tolist()))
    assert cb["wirescore.window_keys_dropped"] == 0
    ip = cs["wirescore.decoded_ip"]
    summed = sum(int(small[small["kind"] == k]["packets"].sum()) for k in range(3))
    assert summed + cs["wirescore.window_keys_dropped"] == 3 * ip
    per_window = Counter(zip(small["kind"].tolist(), small["start_us"].tolist()))
    assert max(per_window.values(), default=0) <= 16
    whole = {r.tobytes() for r in big}
    assert all(r.tobytes() in whole for r in small)
    if max(Counter(zip(big["kind"].tolist(), big["start_us"].tolist())).values(), default=0) > 16:
        assert cs["wirescore.window_keys_dropped"] > 0


def test_window_max_keys_must_be_a_power_of_two():
    for bad in (0, 8, 24, 1 << 25):
        with pytest.raises(ValueError, match="window_max_keys"):
            FlowMeter(1, window_max_keys=bad, window_seconds=1.0, window_keys=("src",))


def test_windows_show_the_scanner():
    wins, _ = window_records(FIXTURES_DIR / "ndpi-synscan.pcap")
    src = wins[wins["kind"] == 1]
    scanner = bytes([172, 16, 0, 8])
    mine = src[[bytes(a[:4]) == scanner for a in src["addr"]]]
    others = src[[bytes(a[:4]) != scanner for a in src["addr"]]]
    assert len(mine) and mine["distinct_dports"].max() > 40 and mine["syn_ratio"].min() > 0.9
    assert others["distinct_dports"].max() < 3     # linear counting: 2 ports read as 2.008

