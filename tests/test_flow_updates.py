"""Open flows scored as they grow (FlowMeter update_interval, drain_updates(), profiles
with `evidence: update`).

- an update record of a real capture is the flow as it stood at the packet that wrote
  it: the identity of the flow's finished record, and its packet and byte counts per
  direction and its times those of the flow's first n packets, n found independently
  from the capture (tests/flowref.py, dpkt);
- the schedule: an update at the first and the 4th packet, at the packet completing a
  TCP handshake (or a TCP flow picked up mid-stream seeing its second direction), and at
  the first packet of each further update_interval since the flow's start; nowhere else;
- the bound: updates beyond the buffer are skipped and counted, none lost unaccounted;
- the finished flow records are byte for byte the same with updates on as off (their
  context is read, never changed);
- the alerts of the flow profiles with update evidence come once per key as without it,
  each decided no later (packet clock), stamped at the update's packet.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, fixture_captures, need_shared, shared_captures
from engine_clock import decided_alerts
from flowref import Packet, decode_packets, read_capture
from meter_feed import drain_to_end, feed_capture
from wirescore._core.flowtable import COUNTER_NAMES, FlowMeter

INTERVAL_US = 5_000_000
SYN, RST, ACK = 0x02, 0x04, 0x10
TCP = 6


def _by_name(name: str, captures) -> Path | None:
    return next((p for p in captures if p.name == name), None)


SSH = _by_name("slips-ssh-bruteforce.pcap", shared_captures("labeled/bruteforce"))
ICMP_TUNNEL = _by_name("ndpi-icmp-tunnel.pcap", shared_captures("labeled/tunnels-exfil"))
# the fixture captures that libpcap reads to the end, and two shared ones with long flows
CAPTURES = [p for p in [*fixture_captures(), SSH, ICMP_TUNNEL]
            if p is not None and "broken" not in p.name]
RULES = {9100002: REPO / "rules" / "flow-around-tail.yaml",
         9100004: REPO / "rules" / "flow-icmp-tunnel.yaml"}


def run_core(path, interval: float = INTERVAL_US / 1e6, out_capacity: int = 65536,
             drain_updates: bool = True):
    """(update records, finished records, counters) of the capture through a FlowMeter
    with updates every `interval` seconds (0: off)."""
    updates, flows = [], []

    def make(linktype):
        return FlowMeter(linktype, context=True, update_interval=interval,
                         out_capacity=out_capacity)

    def after(m):
        if drain_updates:
            updates.append(m.drain_updates())
        flows.append(m.drain())

    meter = feed_capture(path, make, after)
    flows += drain_to_end(meter)
    updates.append(meter.drain_updates())
    counters = dict(zip(COUNTER_NAMES, meter.counters.tolist()))
    return np.concatenate(updates), np.concatenate(flows), counters


def reference_packets(path) -> dict:
    """Per canonical key, its packets from the capture (dpkt): a list of (time µs,
    sender (address, port), wire length, TCP flags or None)."""
    cap = read_capture(path)
    out: dict = defaultdict(list)
    for index, pkt in decode_packets(cap):
        if isinstance(pkt, Packet):
            src = (pkt.src, pkt.sport if pkt.proto in (6, 17, 132) else 0)
            out[pkt.key].append((cap.times_us[index], src, pkt.wire_len, pkt.tcp_flags))
    return out


def flow_rows(packets: list, rec) -> list | None:
    """The packets of the finished flow record `rec` among its key's (those from its
    first to its last packet's time), as (time moved up to the flow's last, direction
    0 toserver / 1 toclient, wire length, TCP flags); None when they are not exactly
    the record's packets (another flow of the key overlaps in time)."""
    start, end = int(rec["start_us"]), int(rec["end_us"])
    mine = [p for p in packets if start <= p[0] <= end]
    if not mine or len(mine) != int(rec["pkts_toserver"]) + int(rec["pkts_toclient"]):
        return None
    rows, last = [], mine[0][0]
    for t, src, wire, flags in mine:
        last = max(last, t)
        rows.append((last, 0 if src == mine[0][1] else 1, wire, flags))
    return rows


def expected_updates(rows, interval_us: int = INTERVAL_US) -> list[int]:
    """The packet counts n at which the core writes an update of a flow of `rows`
    (reference_flows): the first and the 4th packet; the packet at which the TCP state
    becomes established (SYN toserver, SYN/ACK toclient, then an ACK toserver; or,
    without a SYN, a packet of each direction: picked up mid-stream), before any RST or
    second FIN; the first packet in each further interval since the first packet."""
    out = []
    state = "none"              # none, syn_sent, syn_recv, established, closed
    fins = set()
    seen = set()
    start = rows[0][0]
    for n, (t, d, _, flags) in enumerate(rows, 1):
        seen.add(d)
        prev = state
        if flags is not None and state != "closed":
            if flags & (SYN | ACK) == SYN and d == 0 and state == "none":
                state = "syn_sent"
            elif flags & (SYN | ACK) == SYN | ACK and d == 1 and state == "syn_sent":
                state = "syn_recv"
            elif flags & (SYN | ACK) == ACK and d == 0 and state == "syn_recv":
                state = "established"
            if state == "none" and seen == {0, 1}:
                state = "established"
            if flags & RST:
                state = "closed"
            elif flags & 0x01:
                fins.add(d)
                if fins == {0, 1}:
                    state = "closed"
        due = (n in (1, 4) or (state == "established" and prev != "established" and n > 1)
               or (n > 1 and (t - start) // interval_us > (rows[n - 2][0] - start) // interval_us))
        if due:
            out.append(n)
    return out


def _key_of(rec) -> tuple:
    """The canonical key (flowref.flow_key) of a core record with no VLAN."""
    from flowref import flow_key
    import ipaddress

    alen = 4 if int(rec["ip_version"]) == 4 else 16
    src = str(ipaddress.ip_address(bytes(rec["src_addr"][:alen])))
    dst = str(ipaddress.ip_address(bytes(rec["dest_addr"][:alen])))
    vlan = tuple(int(rec[f"vlan{i}"]) for i in range(int(rec["nvlan"])))
    return flow_key(vlan, int(rec["proto"]), src, int(rec["src_port"]), dst,
                    int(rec["dest_port"]))


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_updates_are_the_flow_as_it_stood_and_come_on_schedule(path):
    """Every update agrees with its flow's finished record on identity, and with the
    flow's first n packets (dpkt) on counts, bytes and times; the updates of each
    flow are exactly those of the schedule."""
    updates, flows, _ = run_core(path)
    packets = reference_packets(path)
    assert set(updates["reason"].tolist()) <= {0}
    finished, ref = {}, {}
    for rec in flows:
        finished[int(rec["flow_id"])] = rec
        ref[int(rec["flow_id"])] = flow_rows(packets[_key_of(rec)], rec)
    got: dict = defaultdict(list)
    checked = 0
    for u in updates:
        fin = finished[int(u["flow_id"])]
        for name in ("src_addr", "dest_addr", "src_port", "dest_port", "proto",
                     "ip_version", "vlan0", "start_us"):
            assert np.array_equal(u[name], fin[name]), name
        n = int(u["pkts_toserver"]) + int(u["pkts_toclient"])
        assert n <= int(fin["pkts_toserver"]) + int(fin["pkts_toclient"])
        got[int(u["flow_id"])].append(n)
        rows = ref[int(u["flow_id"])]
        if rows is None:
            continue
        head = rows[:n]
        assert int(u["pkts_toserver"]) == sum(1 for r in head if r[1] == 0)
        assert int(u["pkts_toclient"]) == sum(1 for r in head if r[1] == 1)
        assert int(u["bytes_toserver"]) == sum(r[2] for r in head if r[1] == 0)
        assert int(u["bytes_toclient"]) == sum(r[2] for r in head if r[1] == 1)
        assert int(u["start_us"]) == head[0][0] and int(u["end_us"]) == head[-1][0]
        checked += 1
    schedules = 0
    for flow_id, rows in ref.items():
        if rows is None:
            continue
        assert got.get(flow_id, []) == expected_updates(rows), flow_id
        schedules += 1
    assert checked > 0 and schedules > 0


def test_a_tcp_flow_gets_its_handshake_update():
    """The SSH brute force's connections: each completed handshake writes an update at
    its third packet (the client's ACK), and a flow of 4 packets or more one at its 4th."""
    path = SSH or pytest.skip("needs ../shared")
    updates, _, _ = run_core(path)
    n = updates["pkts_toserver"] + updates["pkts_toclient"]
    at3 = updates[n == 3]
    assert len(at3) > 10
    assert (at3["tcp_state"] == 3).all()          # T_ESTABLISHED
    assert (n == 4).sum() > 10


def test_a_full_update_buffer_is_counted_and_loses_nothing_unaccounted():
    """The public evaluation mix with a small buffer never drained: the buffer fills and
    every further update is counted as skipped: kept + skipped = what the schedule
    writes, and the kept ones are the first."""
    path = need_shared() / "eval" / "mix-public.pcap"
    everything, _, counters = run_core(path)
    assert counters["wirescore.flow_updates_skipped"] == 0
    cap = 1024
    kept, _, counters = run_core(path, out_capacity=cap, drain_updates=False)
    assert len(kept) == cap < len(everything)
    assert counters["wirescore.flow_updates_skipped"] == len(everything) - cap
    assert kept.tobytes() == everything[:cap].tobytes()


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_flow_records_are_the_same_with_updates_on(path):
    """The finished records (every field, context included) do not depend on updates."""
    updates, on, _ = run_core(path)
    _, off, _ = run_core(path, interval=0.0)
    assert off.tobytes() == on.tobytes()
    assert len(updates) > 0


def test_updates_are_off_unless_a_profile_asks():
    """meter_options: update_interval 0 unless a profile asks for updates (none: no
    detection; flow-around-tail.yaml set to evidence flow), the setting's value when one
    does (flow-icmp-tunnel.yaml, flow-around-tail.yaml as shipped)."""
    from wirescore.config import Config
    from wirescore.detect import Detector
    from wirescore.meter import meter_options
    from wirescore.rules import load_paths

    cfg = Config.load()
    assert meter_options(cfg, Detector(load_paths([str(RULES[9100004])])))[
        "update_interval"] == 5.0
    plain = load_paths([str(RULES[9100002])])
    assert meter_options(cfg, Detector(plain))["update_interval"] == 5.0
    for p in plain:
        p.evidence = "flow"
    assert meter_options(cfg, Detector(plain))["update_interval"] == 0.0
    assert meter_options(cfg, None)["update_interval"] == 0.0
    for p in plain:
        p.evidence = "update"
    assert meter_options(cfg, Detector(plain))["update_interval"] == 5.0
    fast = Config.load(overrides={"flow.update_interval": 0.5})
    assert meter_options(fast, Detector(plain))["update_interval"] == 0.5


def _alerts(path, rules: list[Path], tmp_path):
    """The alert events of a run, each with "decided_us" (engine_clock: a flow-end
    alert's comes when its flow ends)."""
    return decided_alerts(path, rules, tmp_path, ("flows", "updates"),
                          {"outputs.snippets.enabled": True})


def _us(stamp: str) -> int:
    from datetime import datetime

    return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1e6)


def _with_evidence(tmp_path, evidence: bool) -> list[Path]:
    """Copies of the two flow profiles, with or without `evidence: update`."""
    out = []
    for sid, path in RULES.items():
        text = path.read_text().replace("evidence: update\n", "")
        dest = tmp_path / ("upd" if evidence else "end") / path.name
        dest.parent.mkdir(exist_ok=True)
        dest.write_text(text + ("evidence: update\n" if evidence else ""))
        out.append(dest)
    return out


HOST_COUNTS = ("ctx.src_unanswered_hosts", "ctx.src_unanswered_services",
               "ctx.dst_unanswered_srcs")


def test_update_alerts_come_once_per_key_and_never_later(tmp_path):
    """The public evaluation mix (its SYN floods, SSH brute force and ICMP tunnel are
    long flows): the two profiles with update evidence alert about the same keys
    (signature, source) as often as without it, each decided no later; an update
    alert is stamped at its update's packet and its flow's event says alerted. The
    exception: with update evidence a flow's end does not alert when it crosses only
    on host counts read after the flow went quiet (test_flow_quiet.py); the keys
    missing are those of such ends (SYN flood sources whose victim's unanswered
    clients grew after their flows went quiet), and there are some."""
    from collections import Counter

    mix = need_shared() / "eval" / "mix-public.pcap"
    before = _alerts(mix, _with_evidence(tmp_path, False), tmp_path / "before")
    after = _alerts(mix, _with_evidence(tmp_path, True), tmp_path / "after")

    def keyed(alerts):
        return sorted((a["alert"]["signature_id"], a["src_ip"], a["decided_us"])
                      for a in alerts)

    def key(e):
        return e["alert"]["signature_id"], e["src_ip"]

    missing = Counter(map(key, before)) - Counter(map(key, after))
    assert not Counter(map(key, after)) - Counter(map(key, before))
    assert sum(missing.values()) > 0
    late = []
    for e in sorted(before, key=lambda e: -e["decided_us"]):
        meta = e["alert"]["metadata"]
        if (missing[key(e)] and meta["wirescore_unit"] == ["flow"]
                and meta["wirescore_features"][0].startswith(HOST_COUNTS)):
            missing[key(e)] -= 1
            late.append(e)
    assert not +missing
    before = [e for e in before if not any(e is x for x in late)]
    b, a = keyed(before), keyed(after)
    assert [k[:2] for k in a] == [k[:2] for k in b]
    assert all(x[2] <= y[2] for x, y in zip(a, b))
    at_update = [e for e in after if e["alert"]["metadata"]["wirescore_unit"] == ["update"]]
    assert len(at_update) > 0
    assert any(x[2] < y[2] for x, y in zip(a, b))
    for e in at_update:
        assert _us(e["timestamp"]) <= e["decided_us"]
        assert e["alert"]["metadata"]["wirescore_crossed"][0].count(" since ") == 1
        assert (tmp_path / "after" / e["capture_file"]).exists()
    import json

    flows = {}
    for line in (tmp_path / "after" / "eve.json").read_text().splitlines():
        ev = json.loads(line)
        if ev["event_type"] == "flow":
            flows[ev["flow_id"]] = ev
    assert all(flows[e["flow_id"]]["flow"]["alerted"] for e in at_update)


def test_a_long_tunnel_alerts_once_at_its_first_crossing(tmp_path):
    """The ICMP tunnel capture: one echo flow of 19 minutes, all in one batch of
    updates. With update evidence it alerts once (not once per suppression window),
    at an update (decided when its packet is read, stamped at it) long before the flow
    ends; without it, once, at the end."""
    path = ICMP_TUNNEL or pytest.skip("needs ../shared")
    rule = [RULES[9100004]]
    end = [p for p in _with_evidence(tmp_path, False) if p.name == rule[0].name]
    before = _alerts(path, end, tmp_path / "before")
    after = _alerts(path, rule, tmp_path / "after")
    assert len(before) == 1 and len(after) == 1
    b, a = before[0], after[0]
    assert b["alert"]["metadata"]["wirescore_unit"] == ["flow"]
    assert a["alert"]["metadata"]["wirescore_unit"] == ["update"]
    assert a["flow_id"] == b["flow_id"]
    assert _us(a["timestamp"]) < b["decided_us"] - 300_000_000
    assert a["decided_us"] <= b["decided_us"]


def _instance_flows(attack: str) -> tuple[set, int]:
    """The public mix's flows of one attack type (mix-public.labels.csv): their
    (client, client port, server, server port) both ways round, and the first packet's
    time (µs)."""
    import csv

    labels = need_shared() / "eval" / "mix-public.labels.csv"
    tuples, first = set(), None
    with open(labels, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["attack"] != attack:
                continue
            a, b = row["endpoint_a"].rsplit(":", 1), row["endpoint_b"].rsplit(":", 1)
            tuples.add((a[0], int(a[1]), b[0], int(b[1])))
            tuples.add((b[0], int(b[1]), a[0], int(a[1])))
            t = int(round(float(row["first_ts"]) * 1e6))
            first = t if first is None else min(first, t)
    return tuples, first


def test_a_flood_of_one_packet_flows_is_alerted_at_its_packets(tmp_path):
    """The public mix's SYN-ACK reflection: 50 flows to one victim within a millisecond,
    49 of them of one packet, which end only at their timeout (60 s). An update at each flow's first
    packet lets flow-around-tail alert one of them at an update, decided within a second
    of the reflection's first packet (without first-packet updates: 61 s, when the
    flows time out), stamped at that flow's only packet."""
    mix = need_shared() / "eval" / "mix-public.pcap"
    tuples, start_us = _instance_flows("ddos-tcp-synack-reflection")
    assert len(tuples) == 2 * 50
    # batches of 64 packets: an alert is decided at most 64 packets after its update
    alerts = decided_alerts(mix, [RULES[9100002]], tmp_path, ("flows", "updates"),
                            {"capture.batch_size": 64})
    mine = [a for a in alerts
            if (a.get("src_ip"), a.get("src_port"), a.get("dest_ip"), a.get("dest_port"))
            in tuples]
    assert mine, "the reflection was not alerted"
    first = min(mine, key=lambda a: a["decided_us"])
    assert first["alert"]["metadata"]["wirescore_unit"] == ["update"]
    assert first["decided_us"] - start_us < 1_000_000
    assert start_us <= _us(first["timestamp"]) <= first["decided_us"]
