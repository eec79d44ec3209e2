"""Scan alerts at the attempt (ext/pending.pxd, rules/flow-scan.yaml `evidence: attempt`).

- the 9100003 alert of a real scan capture is stamped within the grace and a few probes
  of the attempt that made the scanner's count of unanswered items cross the profile's
  floor, that attempt found independently from the capture (tests/flowref.py, dpkt);
- an attempt whose SYN/ACK comes within the grace never gives a record with answered 0;
  with a grace shorter than the round trip it does, and the answer, when it comes, takes
  the item back out of the counts;
- the FIFO's bound, when it bites, is counted (early confirmations, drops) and nothing
  is lost unaccounted;
- the flow records are the same with the FIFO on as off (their ctx_* columns still read
  tried and not answered at the report);
- suppression: the same number of 9100003 alerts, per the same keys, as the profile
  without attempt evidence gives, none later than that profile's.
"""
from __future__ import annotations

import ipaddress
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, fixture_captures, need_shared, shared_captures
from engine_clock import decided_alerts
from flowref import decode_packets, read_capture
from meter_feed import drain_to_end, feed_capture
from wirescore._core.flowtable import COUNTER_NAMES, FlowMeter

SCAN_RULE = REPO / "rules" / "flow-scan.yaml"
GRACE_US = 500_000
SYN, RST, ACK = 0x02, 0x04, 0x10
SCAN_BITS = 128


def _by_name(name: str, captures) -> Path | None:
    return next((p for p in captures if p.name == name), None)


SYNSCAN = _by_name("ndpi-synscan.pcap", fixture_captures())
SCANS = [p for p in shared_captures("labeled/scans")
         if "arp" not in p.name.lower() and p.name != "ndpi-synscan.pcap"]
WEB = _by_name("skype.pcap", shared_captures("peer-groundtruth/nfstream"))


def linear_count(ones: int) -> float:
    """The scan tables' estimator (scans.pxd: linear counting over 128 bits)."""
    if ones >= SCAN_BITS:
        return SCAN_BITS * math.log(SCAN_BITS)
    return -SCAN_BITS * math.log((SCAN_BITS - ones) / SCAN_BITS)


def _meter(pending: int = 1 << 16, grace: float = 0.5):
    def make(linktype):
        return FlowMeter(linktype, context=True, scan_pending=pending, scan_grace=grace)
    return make


def run_core(path, pending: int = 1 << 16, grace: float = 0.5):
    """(flow records, attempt records, counters) of the capture through a FlowMeter."""
    flows, attempts = [], []

    def after(m):
        flows.append(m.drain())
        attempts.append(m.drain_attempts())

    meter = feed_capture(path, _meter(pending, grace), after)
    while meter.shutdown():
        attempts.append(meter.drain_attempts())
        flows.append(meter.drain())
    attempts.append(meter.drain_attempts())
    flows.append(meter.drain())
    counters = dict(zip(COUNTER_NAMES, meter.counters.tolist()))
    return np.concatenate(flows), np.concatenate(attempts), counters


# ---- the reference: attempts and answers from the packets (dpkt) -----------------------

def reference_attempts(path):
    """Per TCP flow key (client, client port, server, server port), the first SYN without
    ACK/RST from the client and the first SYN/ACK back: {(c, cport, s, port): [syn_us,
    synack_us or None]}; and every packet time, in order."""
    cap = read_capture(path)
    tcp: dict = {}
    times = []
    for index, pkt in decode_packets(cap):
        t = cap.times_us[index]
        times.append(t)
        if isinstance(pkt, Exception) or pkt.proto != 6 or pkt.tcp_flags is None:
            continue
        f = pkt.tcp_flags
        if f & SYN and not f & (ACK | RST):
            tcp.setdefault((pkt.src, pkt.sport, pkt.dst, pkt.dport), [t, None])
        elif f & SYN and f & ACK:
            entry = tcp.get((pkt.dst, pkt.dport, pkt.src, pkt.sport))
            if entry is not None and entry[1] is None:
                entry[1] = t
    return tcp, times


def crossing_attempts(path, floors):
    """The unanswered TCP attempts in time order that make a client's count of distinct
    unanswered servers on one port, or ports on one server, cross its floor (the least
    n whose linear count exceeds it): [(syn_us, client)], earliest first."""
    tcp, _ = reference_attempts(path)
    need = {q: next(n for n in range(1, SCAN_BITS) if linear_count(n) > floor)
            for q, floor in floors.items()}
    seen = {"hosts": defaultdict(set), "services": defaultdict(set)}
    out = []
    for (c, _, s, port), (t, answer) in sorted(tcp.items(), key=lambda kv: kv[1][0]):
        if answer is not None:
            continue
        for q, key, item in (("hosts", (c, port), s), ("services", (c, s), port)):
            seen[q][key].add(item)
            if len(seen[q][key]) == need[q]:
                out.append((t, c, q))
    return out


def _alerts(path, rules, tmp_path):
    """The 9100003 alert events of a run, each with "decided_us" (engine_clock), read
    after each batch of one packet."""
    events = decided_alerts(path, [rules], tmp_path, ("flows", "attempts"),
                            {"outputs.snippets.enabled": True, "capture.batch_size": 1})
    return [e for e in events if e["alert"]["signature_id"] == 9100003]


def _us(stamp: str) -> int:
    from datetime import datetime

    return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1e6)


def test_the_alert_comes_at_the_attempt_that_crosses_the_floor(tmp_path):
    """ndpi-synscan: one scanner probes hundreds of ports of one host in a few seconds.
    The 9100003 alert is stamped at the confirmation of the attempt that made the
    scanner's count of unanswered ports reach the floor (14): no earlier than that
    attempt three probes before, no later than the first packet after its grace three
    probes after; it names the scanner, the quantity that crossed and since when."""
    crossings = crossing_attempts(SYNSCAN, {"hosts": 24, "services": 14})
    assert crossings, "the capture holds a scan"
    t_cross, scanner, _ = crossings[0]
    tcp, times = reference_attempts(SYNSCAN)
    mine = sorted(t for (c, _, _, _), (t, answer) in tcp.items()
                  if c == scanner and answer is None)
    k = mine.index(t_cross)
    earliest = mine[max(0, k - 3)] + GRACE_US
    due = mine[min(len(mine) - 1, k + 3)] + GRACE_US
    latest = next((t for t in times if t >= due), times[-1])
    alerts = _alerts(SYNSCAN, SCAN_RULE, tmp_path)
    assert len(alerts) == 1
    a = alerts[0]
    assert a["src_ip"] == scanner
    assert earliest <= _us(a["timestamp"]) <= latest
    crossed = a["alert"]["metadata"]["wirescore_crossed"][0]
    assert crossed.startswith("ctx.src_unanswered_services=") and "> 14 since" in crossed
    # since: the scan key's first confirmed failure, the scanner's first unanswered probe
    assert mine[0] <= _us(crossed.rsplit(" since ", 1)[1]) <= t_cross
    assert a["alert"]["metadata"]["wirescore_unit"] == ["attempt"]
    assert a["capture_file"].startswith("pcaps/")
    # the snippet holds the scanner's probes, not one flow's packets
    from wirescore.capture import open_source

    src = open_source(str(tmp_path / a["capture_file"]))
    packets = sum(len(meta) for _, meta, _ in src.batches())
    src.close()
    assert packets > 10


def test_answered_attempts_are_answered_and_a_late_answer_takes_the_item_back():
    """nfstream's skype capture: a client's handshakes. Every attempt whose SYN/ACK came within
    the grace gives a record with answered 1; with a grace of 1 µs (shorter than any
    round trip) the same attempts are confirmed unanswered, and their answers, when they
    come, take them back out: a client's count of unanswered servers on a port never
    exceeds the attempts it had in flight (sent, not yet answered: an answer in the
    confirming packet itself comes after the confirmation) at that moment."""
    need_shared()
    tcp, _ = reference_attempts(WEB)
    in_time = {k: v for k, v in tcp.items() if v[1] is not None and v[1] - v[0] < GRACE_US}
    assert len(in_time) >= 5
    _, att, _ = run_core(WEB)
    syns = {(int(r["attempt_us"]), int(r["src_port"]), int(r["dest_port"])): int(r["answered"])
            for r in att if r["proto"] == 6}
    for (c, cport, s, port), (t, _) in in_time.items():
        assert syns[(t, cport, port)] == 1, (c, s, port)
    _, early, _ = run_core(WEB, grace=1e-6)
    # a client's first attempt on a port (a later one may find an earlier answer in the
    # key: answered bits are per server, hashed into 128 bits, not per flow)
    first = {}
    for (c, cport, s, port), (t, ans) in sorted(tcp.items(), key=lambda kv: kv[1][0]):
        first.setdefault((c, port), (t, cport, ans))
    fresh = {(t, cport, port) for (c, port), (t, cport, ans) in first.items()
             if ans is not None and ans - t < GRACE_US}
    assert len(fresh) >= 3
    late = {(int(r["attempt_us"]), int(r["src_port"]), int(r["dest_port"])): int(r["answered"])
            for r in early if r["proto"] == 6}
    assert all(late[k] == 0 for k in fresh)
    for r in early[early["proto"] == 6]:
        now = int(r["ts_us"])
        client = str(ipaddress.ip_address(bytes(r["src_addr"][:4 if r["ip_version"] == 4
                                                              else 16])))
        in_flight = {s for (c, _, s, port), (t, ans) in tcp.items()
                     if c == client and port == int(r["dest_port"]) and t <= now
                     and (ans is None or ans >= now)}
        assert r["ctx_src_unanswered_hosts"] <= linear_count(len(in_flight)) + 1e-9


def test_a_full_fifo_is_counted_and_loses_nothing_unaccounted():
    """A FIFO of 16 attempts against a burst of hundreds of SYNs: the oldest are
    confirmed before their grace, each counted; every attempt gives a record or a drop."""
    _, full, _ = run_core(SYNSCAN)
    _, small, c = run_core(SYNSCAN, pending=16)
    assert c["wirescore.scan_pending_early"] > 0
    assert len(small) + c["wirescore.scan_pending_dropped"] == len(full)
    assert len(small) - c["wirescore.scan_pending_early"] > 0


@pytest.mark.parametrize("path", [SYNSCAN] + ([WEB] if WEB else []) + SCANS[:3],
                         ids=lambda p: p.name)
def test_flow_records_are_the_same_with_the_fifo_on(path):
    """The flow records (every field, ctx_* included) do not depend on the FIFO."""
    def make(linktype):
        return FlowMeter(linktype, context=True)

    flows = []
    meter = feed_capture(path, make, lambda m: flows.append(m.drain()))
    flows += drain_to_end(meter)
    off = np.concatenate(flows)
    on, att, _ = run_core(path)
    assert len(att) > 0
    assert off.tobytes() == on.tobytes()


@pytest.mark.parametrize("path", [SYNSCAN] + SCANS, ids=lambda p: p.name)
def test_one_alert_per_scan_key_as_before_and_never_later(path, tmp_path):
    """The scan profile with attempt evidence alerts as often as without it, about the
    same scanners and scopes, and each alert is decided no later (packet clock) than the
    flow-end one; it is stamped at that decision."""
    plain = tmp_path / "flow-scan-at-end.yaml"
    plain.write_text(SCAN_RULE.read_text().replace("evidence: attempt\n", ""))
    before = _alerts(path, plain, tmp_path / "before")
    after = _alerts(path, SCAN_RULE, tmp_path / "after")

    def keyed(alerts):
        return sorted((a["src_ip"], a["alert"]["metadata"]["wirescore_features"][0]
                       .split("=")[0], a["decided_us"]) for a in alerts)

    b, a = keyed(before), keyed(after)
    assert [k[:2] for k in a] == [k[:2] for k in b]
    assert all(x[2] <= y[2] for x, y in zip(a, b))
    assert all(_us(e["timestamp"]) == e["decided_us"] for e in after)
