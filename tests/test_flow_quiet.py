"""Quiet flows (FlowMeter quiet_after, setting flow.quiet_after): a flow with no packet for
quiet_after is scored once more as it stands (its quiet update), and the quiet list keeps
the idle timeouts exact.

- a quiet update is the flow as it stood after the last packet before its silence (its
  first n packets, found independently from the capture with dpkt: tests/flowref.py),
  written after quiet_after and before the next packet of the flow, by the sweep;
- every silence of a flow long enough (with packets elsewhere in the capture to drive
  the sweep) gives exactly one; a silence shorter than quiet_after gives none;
- a flow ends on idle timeout no later than its timeout + quiet_after + 1 s (the sweep,
  which needs a packet);
- the finished records and the regular updates are the same with the quiet list as
  without, but for when a flow ends idle (so its context) and the fields that follow;
- with updates of open flows, the quiet updates come on top of the regular ones, which
  stay as they were.
"""
from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

import numpy as np
import pytest

from conftest import need_shared
from flowref import read_capture
from meter_feed import drain_to_end, feed_capture
from test_flow_updates import CAPTURES, _key_of, flow_rows, reference_packets
from wirescore._core.flowtable import FlowMeter
from wirescore.core_names import STATE_NAMES, TIMEOUT_CLASSES, TIMEOUT_DEFAULTS

QUIET_US = 2_000_000
SWEEP_US = 1_000_000
IDLE = 1                       # FlowRecord.reason: idle timeout (REASON_NAMES)


def run_quiet(path, quiet: float = QUIET_US / 1e6, interval: float = 5.0):
    """(update records, finished records) of the capture through a FlowMeter with
    context, updates every `interval` s (0: off) and quiet_after `quiet` s (0: off)."""
    updates, flows = [], []

    def after(m):
        if interval:
            updates.append(m.drain_updates())
        flows.append(m.drain())

    meter = feed_capture(path, lambda dlt: FlowMeter(dlt, context=True,
                                                     update_interval=interval,
                                                     quiet_after=quiet), after)
    flows += drain_to_end(meter)
    if interval:
        updates.append(meter.drain_updates())
    return (np.concatenate(updates) if updates else None), np.concatenate(flows)


def _quiet_ones(updates):
    """The quiet updates: written more than quiet_after after the flow's last packet
    (a regular update is written at its packet)."""
    return updates[updates["report_us"] - updates["end_us"] > QUIET_US]


def _timeout_us(rec) -> int:
    """The idle timeout of a finished record's class (its protocol and state)."""
    proto = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}.get(int(rec["proto"]), "other")
    state = STATE_NAMES[int(rec["state"])]
    name = f"{proto}.{'new' if state == 'new' else state}"
    return int(TIMEOUT_DEFAULTS[TIMEOUT_CLASSES.index(name)] * 1e6)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_a_quiet_update_is_the_flow_before_its_silence_and_comes_once_a_silence(path):
    updates, flows = run_quiet(path)
    packets = reference_packets(path)
    clock = read_capture(path).times_us          # sweeps happen at packets only
    quiet = _quiet_ones(updates)
    by_flow: dict = defaultdict(list)
    for u in quiet:
        by_flow[int(u["flow_id"])].append(u)
    checked = silences = 0
    for rec in flows:
        rows = flow_rows(packets[_key_of(rec)], rec)
        if rows is None:
            continue
        times = [r[0] for r in rows]
        mine = by_flow.pop(int(rec["flow_id"]), [])
        for u in mine:
            n = int(u["pkts_toserver"]) + int(u["pkts_toclient"])
            head = rows[:n]
            assert int(u["pkts_toserver"]) == sum(1 for r in head if r[1] == 0)
            assert int(u["bytes_toclient"]) == sum(r[2] for r in head if r[1] == 1)
            assert int(u["end_us"]) == times[n - 1]
            # written in the silence after its n-th packet, within the sweep's reach
            nxt = times[n] if n < len(times) else int(rec["report_us"])
            assert times[n - 1] + QUIET_US < int(u["report_us"]) <= nxt
            # at the latest at the first packet (a sweep) well past quiet_after
            late = clock[bisect_left(clock, times[n - 1] + 2 * QUIET_US + 2 * SWEEP_US):]
            if late:
                assert int(u["report_us"]) <= late[0]
            checked += 1
        got = sorted(int(u["pkts_toserver"]) + int(u["pkts_toclient"]) for u in mine)
        assert len(got) == len(set(got)), "two quiet updates in one silence"
        # every silence with a sweep well past quiet_after before it ends has one; a
        # silence shorter than quiet_after has none
        gaps = list(zip(times, times[1:] + [int(rec["report_us"])]))
        for n, (last, nxt) in enumerate(gaps, 1):
            late = clock[bisect_left(clock, last + 2 * QUIET_US + 2 * SWEEP_US):]
            surely = (nxt - last <= _timeout_us(rec) - SWEEP_US
                      and bool(late) and late[0] < nxt)
            if surely:
                assert n in got, (rec["flow_id"], n, last, nxt)
                silences += 1
            if nxt - last <= QUIET_US:
                assert n not in got
    assert not by_flow, "quiet updates of no finished flow"
    assert checked > 0 or silences == 0


def test_the_shared_long_flows_go_quiet():
    """The SSH brute force (67 flows, pauses between attempts inside a connection) and
    the ICMP tunnel (one flow of 11 minutes, silent for seconds at a time): quiet
    updates inside the flows, not only after them."""
    paths = [p for p in CAPTURES if "ssh" in p.name or "icmp" in p.name]
    if not paths:
        pytest.skip("needs ../shared")
    for path in paths:
        updates, flows = run_quiet(path)
        quiet = _quiet_ones(updates)
        ended = {int(f["flow_id"]): int(f["pkts_toserver"]) + int(f["pkts_toclient"])
                 for f in flows}
        inside = [u for u in quiet
                  if int(u["pkts_toserver"]) + int(u["pkts_toclient"])
                  < ended[int(u["flow_id"])]]
        assert len(inside) >= 20, (path.name, len(inside))


@pytest.mark.parametrize("quiet", [2.0, 10.0])
def test_idle_flows_end_within_quiet_of_their_timeout(quiet):
    """The evaluation mix (152,674 packets, flows of every class): every flow that ends on
    idle timeout ends at least its timeout and at most its timeout + quiet_after + 1 s
    (plus the capture's longest silence: no packet, no sweep) after its last packet. The regular updates and every finished record's packets,
    bytes and times are those of a run without the quiet list."""
    mix = need_shared() / "eval" / "mix-public.pcap"
    updates, flows = run_quiet(mix, quiet)
    idle = flows[flows["reason"] == IDLE]
    assert len(idle) > 1000
    late = idle["report_us"] - idle["end_us"]
    limit = np.array([_timeout_us(r) for r in idle])
    assert (late > limit).all()
    # the sweep runs at the first packet of each second: the capture's longest silence
    # (1.4 s) can delay it that much more
    gap = int(np.diff(np.array(read_capture(mix).times_us)).max())
    assert (late <= limit + int(quiet * 1e6) + SWEEP_US + gap).all(), (late - limit).max()
    base_updates, base = run_quiet(mix, 0.0)
    regular = updates[updates["report_us"] - updates["end_us"] <= int(quiet * 1e6)]
    assert len(regular) == len(base_updates)
    for name in ("flow_id", "pkts_toserver", "bytes_toclient", "end_us"):
        assert np.array_equal(regular[name], base_updates[name]), name
    mine = {int(f["flow_id"]): f for f in flows}
    theirs = {int(f["flow_id"]): f for f in base}
    same = [k for k in mine if k in theirs]
    assert len(same) > 0.95 * len(theirs)
    for k in same:
        for name in ("start_us", "end_us", "pkts_toserver", "pkts_toclient",
                     "bytes_toserver", "bytes_toclient"):
            assert mine[k][name] == theirs[k][name], name


def test_quiet_is_bounded_by_the_table_and_checked():
    """The quiet list lives in the flow entries (no memory of its own); a negative or
    sub-microsecond quiet_after is refused."""
    from wirescore._core import flowtable

    assert flowtable.ENTRY_BYTES <= 344
    for bad in (-1.0, 1e-9):
        with pytest.raises(ValueError, match="quiet_after"):
            FlowMeter(1, quiet_after=bad)
    FlowMeter(1, quiet_after=10.0)               # without updates: the list only


@pytest.mark.parametrize("batch", [7, 64, 4096])
def test_a_sweep_writes_a_bounded_number_whatever_the_batches(batch):
    """ndpi-synscan (thousands of one-packet flows going quiet together) through a
    FlowMeter whose update buffer holds 64 records, so a sweep writes 16 quiet updates
    at most: the rest wait for later sweeps (counted), none is skipped, and the updates
    are the same, in the same order, whatever the batch size (one packet at a time is
    the reference)."""
    from conftest import shared_captures
    from wirescore._core.flowtable import COUNTER_NAMES

    path = next((p for p in shared_captures("labeled/scans") if p.name == "ndpi-synscan.pcap"),
                None) or pytest.skip("needs ../shared")

    def run(size):
        got = []

        def after(m):
            got.append(m.drain_updates())
            m.drain()

        meter = feed_capture(path, lambda dlt: FlowMeter(dlt, context=True, update_interval=5.0,
                                                         quiet_after=QUIET_US / 1e6,
                                                         out_capacity=64), after, batch=size)
        drain_to_end(meter)
        got.append(meter.drain_updates())
        counters = dict(zip(COUNTER_NAMES, meter.counters.tolist()))
        return np.concatenate(got), counters

    ref, ref_counters = run(1)
    updates, counters = run(batch)
    assert counters["wirescore.flow_quiet_deferred"] > 0
    assert counters["wirescore.flow_updates_skipped"] == 0
    assert counters["wirescore.flow_quiet_deferred"] == ref_counters["wirescore.flow_quiet_deferred"]
    assert len(_quiet_ones(updates)) > 100
    for name in ("flow_id", "report_us", "end_us", "pkts_toserver", "pkts_toclient"):
        assert np.array_equal(updates[name], ref[name]), name


SCAN_COUNTS = ("src_unanswered_hosts", "src_unanswered_services", "dst_unanswered_srcs")


def _scan_counts(rec, prefix: str) -> tuple:
    return tuple(float(rec[prefix + name]) for name in SCAN_COUNTS)


@pytest.mark.parametrize("interval", [5.0, 0.0])
def test_a_finished_flow_keeps_its_scan_counts_as_read_when_it_went_quiet(interval):
    """ndpi-synscan (in the repo: a scanner trying hundreds of ports of one host for
    several seconds) and, with ../shared, the StopDDoS SYN amplification (a victim whose
    unanswered clients grow for 13 minutes): a finished flow's quiet_* fields are the
    three scan counts (ctx_src_unanswered_hosts, ..._services, ctx_dst_unanswered_srcs)
    of its last quiet update when no packet came after it, and its own ctx_* otherwise;
    an update's are its own. The end reads more than the quiet update did for some
    flows (the scan or the flood went on), so the two differ there. Without updates
    there is no quiet update: quiet_* equal ctx_* everywhere."""
    from conftest import shared_captures

    paths = [p for p in CAPTURES if p.name == "ndpi-synscan.pcap"]
    paths += [p for p in shared_captures("labeled/ddos") if "syn.optionallyACK" in p.name]
    moved = 0
    for path in paths:
        updates, flows = run_quiet(path, interval=interval)
        last_quiet = {}
        if interval:
            for u in updates:
                assert _scan_counts(u, "quiet_") == _scan_counts(u, "ctx_")
            for u in _quiet_ones(updates):
                last_quiet[int(u["flow_id"])] = u
        for f in flows:
            q = last_quiet.get(int(f["flow_id"]))
            if q is not None and int(q["end_us"]) == int(f["end_us"]):
                assert _scan_counts(f, "quiet_") == _scan_counts(q, "ctx_")
                moved += _scan_counts(f, "quiet_") != _scan_counts(f, "ctx_")
            else:
                assert _scan_counts(f, "quiet_") == _scan_counts(f, "ctx_")
    if interval:
        assert moved >= 50


@pytest.mark.parametrize("evidence", ["update", "flow"])
def test_an_end_that_crosses_only_on_counts_read_after_quiet_does_not_alert(tmp_path,
                                                                            evidence):
    """A profile with evidence: update over ctx.dst_unanswered_srcs (a River-protocol
    model whose score is the scaled count, threshold 0.5), sixteen finished flows from
    sixteen sources (no suppression between them): three read 9 at their end; one of
    them read 0 when it went quiet (quiet_dst_unanswered_srcs), the other two 9. All
    three score alike (a flow's score is its end's); the one whose crossing came after
    it went quiet does not alert and is not learned (as a suppressed one), the others
    alert. Without update evidence (no quiet judgement) all three alert."""
    from test_detect import ScriptedModel, fake_records, write
    from wirescore.detect import FlowProfileDetector
    from wirescore.detect_chunk import CHUNK
    from wirescore.rules import load_file

    text = ("id: 4200031\nname: quiet reads\nfeatures: [ctx.dst_unanswered_srcs]\n"
            "model: {name: hst}\nthreshold: {fixed: 0.5}\nwarmup: 5\nlearn: unalerted\n"
            "transform: none\nsuppress: {seconds: 100}\n"
            + ("evidence: update\n" if evidence == "update" else ""))
    profile = load_file(write(tmp_path, text))[0]
    profile.model_object = ScriptedModel()
    det = FlowProfileDetector(profile)
    rec = fake_records(CHUNK)
    rec["src_addr"][:, 3] = np.arange(CHUNK) + 1
    rec["ctx_dst_unanswered_srcs"][6:9] = 9
    rec["quiet_dst_unanswered_srcs"] = rec["ctx_dst_unanswered_srcs"]
    rec["quiet_dst_unanswered_srcs"][7] = 0
    scores, alerts = det.process(rec)
    assert scores[6] == scores[7] == scores[8] > 0.5
    learned = [x["ctx.dst_unanswered_srcs"] for x in profile.model_object.learned]
    if evidence == "update":
        assert [a.index for a in alerts] == [6, 8]
        assert det.late == 1
    else:
        assert [a.index for a in alerts] == [6, 7, 8]
        assert det.late == 0
    assert len(learned) == CHUNK - 3 and max(learned) < 0.5
