"""benchmarks/time_to_alert.py measures what it says: on a real labeled scan played after
the mix's training period, its first attack packet is the scanner's first packet read back
from the stream with dpkt, its first alert (timestamp clock) is the earliest alert naming
the scan's hosts in the eve.json of the same run, no alert is handed out before its own
timestamp, and an instance no profile can alert on is reported as not detected.
Needs ../shared/data (captures and the evaluation mix): skipped, saying why, without it."""
from __future__ import annotations

import csv
import json
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, need_shared

sys.path.insert(0, str(REPO / "benchmarks"))

import time_to_alert as tta  # noqa: E402

SCAN = "scans/ndpi-synscan.pcap"          # LABELS.csv: scanner 172.16.0.8 -> 64.13.134.52
SCANNER, TARGET = "172.16.0.8", "64.13.134.52"


def _stream(tmp_path: Path):
    """The scan's Case and stream, built as the benchmark builds it."""
    need_shared()
    summary = json.loads((tta.eval_mix.EVAL / "mix-public.summary.json").read_text())
    (case, stream), = tta.shared_cases(tmp_path, tta.eval_mix.EVAL / "mix-public.pcap",
                                       summary["train_end_ts"], only=SCAN)[0]
    return case, stream, summary["train_end_ts"]


def _first_from(stream: Path, address: str, after: float) -> float:
    """The first IPv4 packet from address at or after `after`, read with dpkt (s)."""
    import dpkt

    want = socket.inet_aton(address)
    with open(stream, "rb") as fh:
        for ts, buf in dpkt.pcap.Reader(fh):
            ip = dpkt.ethernet.Ethernet(buf).data
            if ts >= after and isinstance(ip, dpkt.ip.IP) and ip.src == want:
                return float(ts)
    raise AssertionError(f"no packet from {address} in {stream}")


def test_first_packet_and_first_alert_of_a_scan(tmp_path):
    case, stream, train_end = _stream(tmp_path)
    assert case.hosts == [SCANNER, TARGET] and case.attack == "scan"
    assert case.start == pytest.approx(_first_from(stream, SCANNER, train_end), abs=1e-6)
    assert train_end + 1 - 1e-6 <= case.start <= train_end + 1 + 1e-6

    logs = tmp_path / "logs"
    alerts = tta.run_cases([case], stream, logs, None)
    r = case.result
    assert r["detected"], "the shipped profiles alert on this scan (scan_detect.py)"
    eve = [json.loads(line) for line in open(logs / "eve.json")]
    naming = [e for e in eve if e["event_type"] == "alert"
              and {e.get("src_ip"), e.get("dest_ip")} & {SCANNER, TARGET}]
    assert naming, "eve.json holds the alerts the benchmark counted"
    first = min(naming, key=lambda e: tta.eval_mix.eve_time(e["timestamp"]))
    assert r["alert_timestamp"] == first["timestamp"]
    assert r["delta_ts"] == pytest.approx(tta.eval_mix.eve_time(first["timestamp"])
                                          - case.start, abs=1e-6)
    # every alert handed out via on_alert is in eve.json, in the same order
    assert [e for e in eve if e["event_type"] == "alert"] == [ev for ev, _, _ in alerts]
    # clock (b): an alert is handed out at or after its own timestamp, at the latest when
    # the batch after the last packet times out
    last = max(tta.eval_mix.eve_time(e["timestamp"]) for e in eve)
    for ev, emitted, _ in alerts:
        assert tta.eval_mix.eve_time(ev["timestamp"]) <= emitted + 1e-6 <= last + 0.1 + 2e-6
    assert r["alert_emitted"] >= r["alert_ts"] - 1e-6
    assert r["delta_emitted"] == pytest.approx(r["alert_emitted"] - case.start, abs=1e-6)


def test_batches_are_cut_as_a_live_capture_cuts_them(tmp_path):
    """LiveCut on the scan's stream (training traffic, then the scan): every packet once,
    in order; a batch ends at batch_size packets or before the first packet at or past
    its first packet's time + timeout; its handover is its last packet's time when it
    filled up, else that deadline; between two batches, one empty batch per timeout of
    quiet time (handed over a timeout after the one before, before the next packet), and
    expiry_clock() is the latest handover, as a live source's clock."""
    from wirescore.capture import open_source

    _, stream, _ = _stream(tmp_path)
    size, timeout_ms = 64, 100
    whole = np.concatenate([m for _, m, _ in open_source(str(stream)).batches()])
    cut = tta.LiveCut(open_source(str(stream), batch_size=1_000_000), size, timeout_ms)
    batches, handovers = [], []
    for _, meta, _ in cut.batches():
        batches.append(meta.copy())
        handovers.append(cut.handover)
        assert cut.expiry_clock() == cut.handover
    # the same packets in the same order (offsets count from each read's start: left out)
    assert np.array_equal(np.concatenate(batches)[:, [0, 1, 3]], whole[:, [0, 1, 3]])
    quiet = [len(m) == 0 for m in batches]
    assert sum(quiet) > 10, "the stream has quiet times"
    for i, m in enumerate(batches):
        if quiet[i]:
            assert i > 0 and handovers[i] == pytest.approx(handovers[i - 1] + 0.1, abs=1e-6)
            nxt = next(b for b in batches[i + 1:] if len(b))
            assert handovers[i] < nxt[0, 0] + nxt[0, 1] / 1e6
    packets = [m for m in batches if len(m)]
    hand = [h for h, m in zip(handovers, batches) if len(m)]
    ts = [m[:, 0] + m[:, 1] / 1e6 for m in packets]
    full = [len(m) == size for m in packets]
    assert 10 < sum(full) < len(packets) - 10, "both rules cut somewhere"
    for i, (t, filled) in enumerate(zip(ts, full)):
        assert len(t) <= size and (t[1:] < t[0] + 0.1).all()
        if filled:
            assert hand[i] == pytest.approx(t[-1], abs=1e-6)
        else:
            assert hand[i] == pytest.approx(t[0] + 0.1, abs=1e-6)
            if i + 1 < len(ts):
                assert ts[i + 1][0] >= t[0] + 0.1 - 1e-6
    for k in range(1, len(batches)):
        # no quiet batch is missing: a batch's first packet comes within a timeout of
        # the handover before it
        if len(batches[k]):
            first = batches[k][0, 0] + batches[k][0, 1] / 1e6
            assert first - handovers[k - 1] <= 0.1 + 1e-6


def test_an_instance_no_profile_can_alert_on_is_not_detected(tmp_path):
    case, stream, _ = _stream(tmp_path)
    rules = tmp_path / "rules"
    rules.mkdir()
    text = (REPO / "rules" / "flow-around-tail.yaml").read_text()
    assert "fixed: 0.85" in text
    # tail scores lie in [0, 1]: a threshold above 1 never fires
    (rules / "never.yaml").write_text(text.replace("fixed: 0.85", "fixed: 2.0"))
    tta.run_cases([case], stream, tmp_path / "logs", str(rules))
    assert case.result == {"detected": False}
    assert tta.stats([case], "delta_emitted") == {"detected": 0, "of": 1, "median": None,
                                                   "max": None}


def test_mix_instances_and_labels():
    need_shared()
    cases = {c.instance: c for c in tta.mix_cases(tta.eval_mix.EVAL, "mix")}
    with open(tta.eval_mix.EVAL / "mix-public.instances.csv", newline="") as fh:
        attacks = [r for r in csv.DictReader(fh) if r["role"] == "attack"]
    assert set(cases) == {r["instance"] for r in attacks}
    brute = cases["1371"]                    # slips-ssh-bruteforce, not remapped
    assert brute.attack == "bruteforce-ssh" and tta.category(brute.attack) == "bruteforce"
    assert {"147.32.80.40", "147.32.80.37"} <= set(brute.hosts)
    assert brute.start == pytest.approx(1704068118.608454, abs=1e-6)


def test_categories_and_hosts_of_labels():
    assert tta.category("attack: TCP SYN ping sweep (port 80)") == "sweep"
    assert tta.category("attack: ICMP echo sweep (host scan)") == "sweep"
    assert tta.category("attack: DDoS - TCP SYN-ACK reflection flood") == "flood"
    assert tta.category("attack: credential access: Kerberos password spray") == "bruteforce"
    assert tta.category("attack: web SQL injection") == "other"
    assert tta.label_hosts("attacker 147.32.80.40 -> victim 147.32.80.37:902") == (
        ["147.32.80.40"], ["147.32.80.37"])
    assert tta.label_hosts("many sources -> victim 10.10.10.10 (anonymised)") == (
        [], ["10.10.10.10"])
    assert tta.label_hosts("scanner 10.0.0.128 -> 10.0.0.0/24") == (["10.0.0.128"], [])
    assert tta.label_hosts("172.16.66.1 <-> DC 172.16.66.36") == (
        ["172.16.66.1"], ["172.16.66.36"])


def test_flow_profile_alerts_are_told_by_how_they_were_decided(tmp_path):
    """The scan played after training, run as the benchmark runs it: every alert of a
    flow profile is counted once under how it was decided (its wirescore_unit), and a
    flow-end alert's wait is its handover time minus its timestamp (never negative)."""
    case, stream, _ = _stream(tmp_path)
    alerts = tta.run_cases([case], stream, tmp_path / "logs", None)
    units = [ev["alert"]["metadata"].get("wirescore_unit", [""])[0] for ev, _, _ in alerts]
    got = tta.flow_profile_alerts([alerts, alerts])
    assert got["at_flow_end"] == 2 * units.count("flow")
    assert got["at_update"] == 2 * units.count("update")
    assert got["at_attempt"] == 2 * units.count("attempt")
    assert got["at_attempt"] > 0                     # the scan is alerted at its attempts
    waits = [emitted - tta.eval_mix.eve_time(ev["timestamp"])
             for (ev, emitted, at_end), unit in zip(alerts, units)
             if unit == "flow" and not at_end]
    want = {"median": None, "max": None} if not waits else {
        "median": round(float(np.median(waits)), 3), "max": round(max(waits), 3)}
    assert got["flow_end_wait"] == want
    assert all(w >= 0 for w in waits)
