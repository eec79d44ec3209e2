"""A run's alerts do not depend on where the capture was cut into batches.

The core hands a batch's attempt and update records before its finished flows. The
alert stage holds them until those flows come and decides each where the core wrote
it: scored with the model as of the chunks completed by the flows reported before it
(report_us), and suppressed after those flows' alerts (wirescore.detect_evidence);
early window records likewise between closed windows. So
runs of the same capture with other capture.batch_size values must write the same
alerts: signature, addresses, ports, timestamp, score and threshold, and the same
flows marked alerted.

Captures: ndpi-synscan.pcap (tests/data/pcaps: attempt alerts of the scan profile) and
the public evaluation mix (../shared/data/eval: attempt, update, early-window, window and
flow alerts; skipped without ../shared, saying so), with the shipped profiles; on the
mix also a copy of flow-around-tail.yaml that scores flows at their end only (the
shipped one alerts the mix's flows at updates, and their ends then stay quiet), so
alerts at a flow's end are decided among the others.
"""
from __future__ import annotations

import json

import numpy as np

import pytest

from conftest import FIXTURES, need_shared


def end_only_copy(folder) -> list:
    """The shipped profiles and a copy of flow-around-tail.yaml (id 4200102) without
    update evidence, written in folder (its paths)."""
    from wirescore.rules import default_rules_dir

    shipped = default_rules_dir()
    text = (shipped / "flow-around-tail.yaml").read_text()
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "flow-around-tail-end.yaml"
    copy.write_text(text.replace("id: 9100002", "id: 4200102")
                    .replace("evidence: update\n", ""))
    return [shipped, copy]


def run_alerts(path, log_dir, batch_size: int, rules=None) -> tuple[list, list, dict]:
    """(alerts as sorted comparable tuples, flow ids marked alerted, alerts per unit) of a
    run with the shipped profiles (or those in `rules`, paths) and batches of
    batch_size packets."""
    from wirescore import engine
    from wirescore.config import Config
    from wirescore.rules import load_paths

    cfg = Config.load(overrides={"capture.batch_size": batch_size,
                                 "outputs.snippets.enabled": False})
    run = (engine.Engine(cfg, log_dir) if rules is None
           else engine.Engine(cfg, log_dir, profiles=load_paths([str(r) for r in rules])))
    run.run(str(path))
    alerts, alerted = [], []
    kinds: dict = {}
    with open(log_dir / "eve.json") as f:
        for line in f:
            ev = json.loads(line)
            if ev["event_type"] == "alert":
                a = ev["alert"]
                num = a["context"]["wirescore"]
                alerts.append((a["signature_id"], ev["timestamp"], ev.get("src_ip"),
                               ev.get("dest_ip"), ev.get("src_port"), ev.get("dest_port"),
                               num.get("score"), num.get("threshold"),
                               a["metadata"].get("wirescore_crossed")))
                unit = a["metadata"]["wirescore_unit"][0]
                kinds[unit] = kinds.get(unit, 0) + 1
            elif ev["event_type"] == "flow" and ev["flow"].get("alerted"):
                alerted.append(ev["flow_id"])
    return sorted(alerts, key=repr), sorted(alerted), kinds


@pytest.mark.parametrize("which", ["synscan", "mix"])
def test_alerts_are_the_same_whatever_the_batch_size(which, tmp_path):
    path = (FIXTURES / "ndpi-synscan.pcap" if which == "synscan"
            else need_shared() / "eval" / "mix-public.pcap")
    rules = None if which == "synscan" else end_only_copy(tmp_path / "rules")
    base, base_alerted, kinds = run_alerts(path, tmp_path / "16384", 16384, rules)
    # the kinds of alert the order of evidence and flows decides are all there
    assert {"attempt"} <= set(kinds) if which == "synscan" else \
        {"attempt", "update", "window", "flow"} <= set(kinds), kinds
    for size in (4096, 1000, 257):
        alerts, alerted, _ = run_alerts(path, tmp_path / str(size), size, rules)
        assert alerts == base, f"{size}-packet batches gave other alerts"
        assert alerted == base_alerted, f"{size}-packet batches marked other flows"


@pytest.mark.parametrize("which", ["synscan", "mix"])
def test_report_us_is_the_order_the_core_writes_records_in(which):
    """report_us, what the order of evidence and flows is read from: the packet clock
    when the core wrote a record, so never before the flow's last packet and never back
    in time; a flow ended idle is written at least its idle timeout after its last
    packet (the shortest class's), one ended at shutdown at the last packet's time; an
    update at its packet's time or later. (synscan lasts less than any idle timeout.)"""
    from meter_feed import drain_to_end, feed_capture
    from wirescore._core.flowtable import FlowMeter
    from wirescore.core_names import TIMEOUT_DEFAULTS

    path = (FIXTURES / "ndpi-synscan.pcap" if which == "synscan"
            else need_shared() / "eval" / "mix-public.pcap")
    flows, updates, last = [], [], []

    def after_feed(meter):
        flows.append(meter.drain())
        updates.append(meter.drain_updates())
        last.append(meter.packet_clock)

    meter = feed_capture(path, lambda dlt: FlowMeter(dlt, context=True, update_interval=1.0),
                         after_feed)
    recs = np.concatenate(flows + drain_to_end(meter))
    upd = np.concatenate(updates)
    assert len(recs) and len(upd)
    assert (recs["report_us"] >= recs["end_us"]).all()
    assert (np.diff(recs["report_us"]) >= 0).all()
    idle = recs["reason"] == 1
    assert idle.any() or which == "synscan"      # a 20-minute mix has idle flows
    wait = recs["report_us"][idle] - recs["end_us"][idle]
    assert (wait >= min(TIMEOUT_DEFAULTS) * 1e6).all()
    at_end = recs["reason"] == 6
    assert at_end.any()
    assert (recs["report_us"][at_end] == round(last[-1] * 1e6)).all()
    assert (upd["report_us"] >= upd["end_us"]).all()
    assert (np.diff(upd["report_us"]) >= 0).all()
