"""Detection: profile validation, the order of decisions, EVE alerts, determinism."""
from __future__ import annotations

import filecmp
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, SHARED_DATA, read_eve, run_wirescore, shared_available
from wirescore.config import Config
from wirescore.detect import FlowProfileDetector
from wirescore.detect_chunk import CHUNK
from wirescore.engine import Engine
from wirescore.errors import WirescoreError
from wirescore.rules import load_file, load_paths, default_rules_dir

SCAN = FIXTURES / "ndpi-synscan.pcap"
MIXED = FIXTURES / "zeek-wikipedia.pcap"

GOOD = """\
id: 4200001
name: test profile
features: [flow.bytes_toserver, flow.duration, ctx.src_flows_60s]
model: {name: hst, params: {n_trees: 5, height: 4, window_size: 10, seed: 1}}
threshold: {fixed: 0.5}
warmup: 10
"""


def write(tmp_path, text, name="p.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_rules_load_and_check():
    profiles = load_paths([default_rules_dir()])
    assert {p.unit for p in profiles} == {"flow", "window", "app", "arp", "process"}
    out = run_wirescore("rules", "check").stdout
    assert out.startswith("ok ") and "9100001" in out


def test_shipped_profiles_open_with_what_they_detect_not_their_history():
    """Each shipped file opens with a comment that says what it detects and why its
    features and numbers are what they are; revisions are told in rules/README.md."""
    import re

    readme = (default_rules_dir() / "README.md").read_text()
    for path in sorted(default_rules_dir().glob("*.yaml")):
        text = path.read_text()
        header = text[:text.index("\nid: ")]
        assert header.startswith("# ") and len(header.splitlines()) >= 8, path.name
        assert not re.search(r"\b[Rr]ev \d+\b|\(rev \d+\)|went from", header), path.name
        assert f"### {path.name}" in readme or "rev: 1" in text, path.name


@pytest.mark.parametrize("change, line, message", [
    (("features: [flow.bytes_toserver, flow.duration, ctx.src_flows_60s]",
      "features: [flow.pktz]"), 3,
     "unknown feature column 'flow.pktz'"),
    (("threshold: {fixed: 0.5}", "threshold: {fixed: 0.5, quantile: 0.9}"), 5,
     "exactly one of quantile"),
    (("id: 4200001", "id: 0"), 1, "between 1 and"),
    (("warmup: 10", "warmup: -1"), 6, "warmup"),
    (("warmup: 10", "colour: red"), 6, "unknown field"),
    (("model: {name: hst,", "model: {name: magic,"), 4, "must be 'hst' or 'river:"),
    (("warmup: 10", "warmup: 10\nsuppress: {seconds: 9, per: {flow.pktz: [proto]}}"), 7,
     "suppress.per.flow.pktz: not one of the profile's features"),
    (("warmup: 10", "warmup: 10\nsuppress: {per: {flow.duration: [src_port]}}"), 7,
     "must be a list of proto, dest_port, dest_addr"),
    (("warmup: 10", "warmup: 10\nwhere: {src_port: [53]}"), 7,
     "where.src_port: unknown field (fields: proto, dest_port, icmp_type_ts)"),
    (("warmup: 10", "warmup: 10\nwhere: {proto: [tcp]}"), 7,
     "where.proto: must be a list of integers 0-65535"),
])
def test_bad_profile_points_at_the_line(tmp_path, change, line, message):
    assert change[0] in GOOD
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(WirescoreError) as err:
        load_file(path)
    assert str(err.value).startswith(f"{path}:{line}:") and message in str(err.value)
    proc = run_wirescore("rules", "check", path, check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"wirescore: error: {path}:{line}:")


@pytest.mark.parametrize("unit, feature, message", [
    ("flow", "window.packets", "'window.packets' is a window feature; flow profiles take "
                               "flow and ctx columns (flow.*, ctx.*); window.* columns "
                               "need unit: window"),
    ("window", "ctx.src_flows_60s", "'ctx.src_flows_60s' is a flow feature; window profiles "
                                    "take window columns (window.*); flow.* and ctx.* "
                                    "columns need unit: flow"),
])
def test_a_feature_of_the_other_unit_says_which_unit_takes_it(tmp_path, unit, feature,
                                                              message):
    path = write(tmp_path, GOOD.replace(
        "features: [flow.bytes_toserver, flow.duration, ctx.src_flows_60s]",
        f"unit: {unit}\nfeatures: [{feature}]"))
    with pytest.raises(WirescoreError) as err:
        load_file(path)
    assert str(err.value) == f"{path}:4: features.0: {message}"
    proc = run_wirescore("rules", "check", path, check=False)
    assert proc.returncode == 1 and proc.stderr == f"wirescore: error: {err.value}\n"


def test_the_model_checked_at_load_is_the_one_the_first_run_uses(tmp_path):
    """A profile's model is built once, when the profile is loaded; a later run of the
    same profile starts from a fresh model of its own (same parameters, same scores)."""
    from wirescore.detect import Detector

    (profile,) = load_file(write(tmp_path, GOOD))
    built = profile.model_object
    first = Detector([profile]).detectors[0]
    assert first.model.model is built
    second = Detector([profile]).detectors[0]
    assert second.model.model is not built
    rec = fake_records(300)
    rec["bytes_toserver"] = np.arange(300) % 17
    assert np.array_equal(first.process(rec)[0], second.process(rec)[0])


def test_a_field_left_out_takes_the_profile_default(tmp_path):
    """Defaults live in one place, the Profile dataclass: a minimal file gets them all."""
    from dataclasses import MISSING, fields

    from wirescore.rules import Profile

    (p,) = load_file(write(tmp_path, "id: 4200009\nname: minimal\n"
                                     "features: [flow.duration]\nmodel: {name: hst}\n"))
    for f in fields(Profile):
        if f.default is not MISSING and f.name not in ("source", "model_object", "warnings",
                                                       "_loaded", "_taken"):
            assert getattr(p, f.name) == f.default, f.name
    assert (p.threshold_quantile, p.warmup, p.suppress_seconds) == (0.995, 1000, 60.0)


def test_duplicate_ids_are_refused(tmp_path):
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(WirescoreError, match="id 4200001 is also used"):
        load_paths([tmp_path])


class ScriptedModel:
    """A user's model (River protocol): the score is the largest feature value."""

    def __init__(self):
        self.learned = []

    def score_one(self, x):
        return float(max(x.values()))

    def learn_one(self, x):
        self.learned.append(dict(x))


def fake_records(n, src_last_byte=1, start_s=1000.0):
    from wirescore._core.flowtable import RECORD_DTYPE

    rec = np.zeros(n, dtype=RECORD_DTYPE)
    rec["ip_version"] = 4
    rec["proto"] = 6
    rec["src_addr"][:, :4] = [10, 0, 0, src_last_byte]
    rec["dest_addr"][:, :4] = [10, 0, 0, 200]
    rec["src_port"] = 40000
    rec["dest_port"] = 80
    rec["start_us"] = (start_s + np.arange(n)) * 1e6
    rec["end_us"] = rec["start_us"] + 1
    return rec


def detector_for(tmp_path, extra=""):
    text = GOOD.replace("features: [flow.bytes_toserver, flow.duration, ctx.src_flows_60s]",
                        "features: [flow.pkts_toserver]").replace("warmup: 10", "warmup: 5")
    profile = load_file(write(tmp_path, text + extra))[0]
    profile.model_object = ScriptedModel()
    profile.transform = "none"
    return FlowProfileDetector(profile)


def test_warmup_threshold_and_learning(tmp_path):
    det = detector_for(tmp_path)
    rec = fake_records(10)
    rec["pkts_toserver"] = [0, 9, 0, 0, 0, 0, 9, 0, 0, 0]   # scaled to 0 / 1
    scores, alerts = det.process(rec)
    assert scores.tolist() == [0, 1, 0, 0, 0, 0, 1, 0, 0, 0]
    assert [a.index for a in alerts] == [6]          # row 1 is inside the warm-up
    assert len(det.profile.model_object.learned) == 10


def test_suppression_per_source_and_unalerted_learning(tmp_path):
    det = detector_for(tmp_path, "learn: unalerted\nsuppress: {seconds: 100}\n")
    rec = fake_records(CHUNK)
    rec["pkts_toserver"][:12] = [0] * 6 + [9, 9, 9, 0, 0, 9]
    rec["src_addr"][8, 3] = 7                        # another source
    scores, alerts = det.process(rec[:12])
    assert [a.index for a in alerts] == [6, 8]       # 7 and 11 suppressed (same source)
    assert det.suppressed == 2
    # the chunk is learned when its last row has come
    assert det.profile.model_object.learned == []
    _, later = det.process(rec[12:])
    assert later == []
    # neither the alerts nor the rows suppression kept quiet are learned: the rest of a
    # burst must not teach the model the burst
    learned = det.profile.model_object.learned
    assert len(learned) == CHUNK - 4 and all(x == {"flow.pkts_toserver": 0.0} for x in learned)


def _sweeps_capture(path: Path) -> None:
    """The labeled scanner 10.0.0.128's ICMP sweep, its TCP SYN sweep to port 80 60 s
    later, and the TCP sweep again 60 s after that (packet times shifted; one link
    type)."""
    import dpkt

    scans = SHARED_DATA / "pcaps/labeled/scans"
    parts = []
    for name in ("sgr-hs-icmpScan.pcap", "sgr-hs-tcp_synPingSweepRand.pcapng"):
        with open(scans / name, "rb") as f:
            head = f.read(4)
            f.seek(0)
            reader = dpkt.pcapng.Reader(f) if head == b"\x0a\x0d\x0d\x0a" \
                else dpkt.pcap.Reader(f)
            parts.append((reader.datalink(), list(reader)))
    assert parts[0][0] == parts[1][0] == 1
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=1)
        t = 0.0
        for _, frames in (parts[0], parts[1], parts[1]):
            shift = t + 60 - frames[0][0] if t else 0.0
            for ts, buf in frames:
                w.writepkt(buf, ts + shift)
            t = frames[-1][0] + shift


@pytest.mark.skipif(not shared_available(), reason="needs ../shared/data (the labeled scans)")
def test_scan_alerts_are_suppressed_per_service_for_an_address_scan(tmp_path):
    """9100003 keys its suppression as Zeek keys scan notices: one scanner's ICMP sweep
    and its TCP sweep of port 80 are two alerts; the same TCP sweep again within the 5
    minutes is not a third."""
    pcap = tmp_path / "sweeps.pcap"
    _sweeps_capture(pcap)
    rules = default_rules_dir() / "flow-scan.yaml"
    alerts = [e for e in read_eve(run_detect(tmp_path, pcap, rules, "s"))
              if e["event_type"] == "alert"]
    assert [(a["src_ip"], a["proto"], a.get("dest_port")) for a in alerts] == [
        ("10.0.0.128", "ICMP", None), ("10.0.0.128", "TCP", 80)]


def test_suppression_per_feature_scope(tmp_path):
    """With suppress.per, the feature that made the score and its fields join the
    source in the key: a second destination port of the same source is a new scope."""
    det = detector_for(tmp_path, "learn: unalerted\nsuppress: {seconds: 100, per: "
                                 "{flow.pkts_toserver: [dest_port]}}\n")
    rec = fake_records(10)
    rec["pkts_toserver"] = [0] * 6 + [9, 9, 9, 9]
    rec["dest_port"] = [80] * 8 + [443, 443]
    scores, alerts = det.process(rec)
    assert [a.index for a in alerts] == [6, 8]       # 7 and 9 suppressed (same port)


def _reference_decide(det, records, X, rows, allowed, mean, std, last: dict) -> tuple:
    """The rule of detect.py's docstring, row by row in row order, with tuple keys:
    (alerted rows, suppressed count); last: key -> time of its last alert, updated."""
    p, window_us = det.profile, det.profile.suppress_seconds * 1e6
    alerted, suppressed = [], 0
    tops = det._tops(X[rows], mean, std)
    scopes = dict(p.suppress_per)
    for i, top in zip(rows.tolist(), tops):
        if allowed[i]:
            continue
        key = (bytes(records["src_addr"][i]),)
        if top in scopes:
            key += (top,) + tuple(bytes(records[f][i]) if f.endswith("addr")
                                  else int(records[f][i]) for f in scopes[top])
        when = int(records["end_us"][i])
        if key in last and abs(when - last[key]) < window_us:
            suppressed += 1
            continue
        last[key] = when
        alerted.append(i)
    return alerted, suppressed


def test_suppression_decides_as_a_row_by_row_loop(tmp_path):
    """Random candidates of a few sources, ports and servers, out of time order and
    over several calls, two features each with its own scope: the alerts and the count
    suppressed are those of the row-by-row rule (_reference_decide), call after call
    (keys decided group by group must not change what a loop in row order decides)."""
    text = GOOD.replace("features: [flow.bytes_toserver, flow.duration, ctx.src_flows_60s]",
                        "features: [flow.pkts_toserver, flow.pkts_toclient]")
    det = FlowProfileDetector(load_file(write(tmp_path, text + (
        "suppress: {seconds: 60, per: {flow.pkts_toserver: [dest_port], "
        "flow.pkts_toclient: [dest_addr, proto]}}\n")))[0])
    rng = np.random.default_rng(7)
    last: dict = {}
    mean, std = np.zeros(2), np.ones(2)
    total_alerts = total_suppressed = 0
    for call in range(20):
        n = int(rng.integers(1, 400))
        rec = fake_records(n, start_s=1000.0 + 40 * call)
        rec["src_addr"][:, 3] = rng.integers(1, 5, n)
        rec["dest_addr"][:, 3] = rng.integers(1, 4, n)
        rec["dest_port"] = rng.choice([22, 80, 443], n)
        rec["proto"] = rng.choice([6, 17], n)
        rec["end_us"] = rec["start_us"] + rng.integers(-60, 60, n) * 1_000_000
        X = rng.random((n, 2))
        rows = np.flatnonzero(rng.random(n) < 0.7)
        allowed = rng.random(n) < 0.05
        before = det.suppressed
        alerts, decided = det._decide(rec, X, rows, np.ones(len(rows)), 0.5, allowed,
                                      mean, std, "end_us")
        want, suppressed = _reference_decide(det, rec, X, rows, allowed, mean, std, last)
        assert [a.index for a in alerts] == want
        assert det.suppressed - before == suppressed
        assert decided.tolist() == (~allowed[rows]).tolist()
        total_alerts += len(want)
        total_suppressed += suppressed
    assert total_alerts > 500 and total_suppressed > 500


def test_where_keeps_other_flows_unscored_and_unlearned(tmp_path):
    det = detector_for(tmp_path, "learn: all\nwhere: {proto: [1], icmp_type_ts: [8]}\n")
    rec = fake_records(10)
    rec["proto"][[2, 4, 6, 7]] = 1
    rec["icmp_type_ts"][[2, 4, 6]] = 8                # 7: ICMP, not an echo request
    rec["pkts_toserver"] = [9] * 6 + [20, 9, 9, 9]
    scores, alerts = det.process(rec)
    assert np.isnan(scores[[0, 1, 3, 5, 7, 8, 9]]).all()
    assert not np.isnan(scores[[2, 4, 6]]).any()
    assert len(det.profile.model_object.learned) == 3
    assert all(a.index in (2, 4, 6) for a in alerts)


@pytest.mark.skipif(not shared_available(), reason="needs ../shared/data (the labeled tunnel)")
def test_an_icmp_tunnel_alerts(tmp_path):
    """9100004 on the labeled ptunnel capture (echo requests of 74 to 1075 bytes, one
    flow); its ICMP replies and the capture's other flows are outside `where`."""
    rules = default_rules_dir() / "flow-icmp-tunnel.yaml"
    tunnel = SHARED_DATA / "pcaps/labeled/tunnels-exfil/ndpi-icmp-tunnel.pcap"
    alerts = [e for e in read_eve(run_detect(tmp_path, tunnel, rules, "t"))
              if e["event_type"] == "alert"]
    assert [(a["alert"]["signature_id"], a["src_ip"], a["proto"]) for a in alerts] == [
        (9100004, "192.168.154.131", "ICMP")]


@pytest.mark.parametrize("seconds, expected", [(0, [6, 7, 8]), (100, [6]), (3, [6, 8])])
def test_suppression_measures_the_distance_between_ends_either_way(tmp_path, seconds,
                                                                   expected):
    """Flows of one source alerted out of end order: suppress {seconds: 0} suppresses
    nothing, and T > 0 suppresses an alert whose flow ended within T of the last alert's
    (before or after it)."""
    det = detector_for(tmp_path, f"learn: unalerted\nsuppress: {{seconds: {seconds}}}\n")
    rec = fake_records(9)
    rec["pkts_toserver"] = [0] * 6 + [9, 9, 9]
    rec["end_us"][6:] = np.array([1020.0, 1018.0, 1025.0]) * 1e6   # 7 ends before 6
    scores, alerts = det.process(rec)
    assert [a.index for a in alerts] == expected
    assert det.suppressed == 3 - len(expected)


@pytest.mark.parametrize("learn", ["all", "unalerted"])
def test_allowlist_still_learns(tmp_path, learn):
    det = detector_for(tmp_path, f"learn: {learn}\nallowlist:\n  - {{cidr: 10.0.0.200/32}}\n")
    rec = fake_records(CHUNK)                # a whole chunk: learned once it is complete
    rec["pkts_toserver"][7] = 9
    _, alerts = det.process(rec)
    assert alerts == [] and det.allowlisted == 1
    assert len(det.profile.model_object.learned) == CHUNK


def test_export_scores_are_empty_where_the_allowlist_keeps_a_flow_quiet(tmp_path):
    """Detector.process (what --export writes): NaN exactly for the allowlisted flows (a
    port rule here), the model's score for the others, and the model learns them all."""
    from wirescore.detect import Detector

    det = detector_for(tmp_path, "allowlist:\n  - {port: 53}\n")
    rec = fake_records(8)
    rec["pkts_toserver"] = [1, 2, 3, 4, 5, 6, 7, 8]
    rec["dest_port"][[2, 5]] = 53
    rec["src_port"][6] = 53
    both = Detector([det.profile])
    scores, _ = both.process(rec)
    s = scores[f"score.{det.profile.id}"]
    assert np.isnan(s).tolist() == [False, False, True, False, False, True, True, False]
    assert len(det.profile.model_object.learned) == 8
    (tmp_path / "plain").mkdir()
    plain = detector_for(tmp_path / "plain")          # the same profile, no allowlist
    expected, _ = plain.process(rec)
    np.testing.assert_array_equal(s[~np.isnan(s)], expected[~np.isnan(s)])


def test_quantile_threshold_follows_recent_scores(tmp_path):
    det = detector_for(tmp_path)
    # 0.8: 33 of the first chunk's 256 scores are 1 (the rows that hold the range's top)
    det.profile.threshold_fixed, det.profile.threshold_quantile = None, 0.8
    rec = fake_records(300)
    rec["pkts_toserver"] = np.arange(300) % 10
    scores, first = det.process(rec[:256])
    assert first == []                                  # no history before the first chunk
    # each row scaled by the range of the rows up to itself (the model scores the largest
    # feature): 0, then 1 for each new maximum, then v / 9
    v = (np.arange(256) % 10).astype(float)
    lo, hi = np.minimum.accumulate(v), np.maximum.accumulate(v)
    want = (v - lo) / np.where(hi > lo, hi - lo, 1.0)
    np.testing.assert_array_equal(scores, want)
    assert want[:10].tolist() == [0] + [1] * 9 and want[10:20].tolist() == (v[10:20] / 9).tolist()
    assert det.threshold() == pytest.approx(np.quantile(want, 0.8)) == pytest.approx(8 / 9)
    rec2 = fake_records(20, start_s=5000)
    rec2["pkts_toserver"] = [0] * 19 + [9]
    _, alerts = det.process(rec2)
    assert [a.index for a in alerts] == [19] and alerts[0].threshold == det.threshold()


def test_explanation_names_the_outlying_feature(tmp_path):
    text = GOOD.replace("features: [flow.bytes_toserver, flow.duration, ctx.src_flows_60s]",
                        "features: [flow.bytes_toserver, flow.pkts_toserver]")
    text += "suppress: {seconds: 0}\n"
    profile = load_file(write(tmp_path, text))[0]
    profile.model_object = ScriptedModel()
    det = FlowProfileDetector(profile)
    n = CHUNK + 10                     # explanations use the statistics of whole chunks
    rec = fake_records(n)
    rec["bytes_toserver"] = 100 + (np.arange(n) % 3)
    rec["pkts_toserver"] = 3
    det.process(rec[:CHUNK])
    rec["pkts_toserver"][CHUNK + 5] = 500
    rec["bytes_toserver"][CHUNK + 5] = 101
    _, alerts = det.process(rec[CHUNK:])
    alerted = {a.index: a for a in alerts}
    assert 5 in alerted
    assert alerted[5].explanation[0][0] == "flow.pkts_toserver"
    assert alerted[5].explanation[0][2] > 3


def test_tail_explanation_is_each_scored_features_own_tail_score(tmp_path):
    """A tail profile explains an alert by its scored features' own tail scores (the
    first is the alert's score), never by a weight-only column, and the EVE metadata
    says so ("tail=")."""
    from wirescore.outputs.eve import _features

    text = (GOOD.replace("features: [flow.bytes_toserver, flow.duration, ctx.src_flows_60s]",
                         "features: [flow.pkts_toserver, flow.bytes_toserver, "
                         "flow.pkts_toclient]")
            .replace("model: {name: hst, params: {n_trees: 5, height: 4, window_size: 10, "
                     "seed: 1}}",
                     "transform: none\nmodel: {name: tail, params: {window: 50, weight_by: "
                     "{flow.pkts_toserver: flow.pkts_toclient}, unscored: "
                     "[flow.pkts_toclient]}}"))
    text += "suppress: {seconds: 0}\nlearn: unalerted\n"
    det = FlowProfileDetector(load_file(write(tmp_path, text))[0])
    n = CHUNK + 20                     # the reference holds whole chunks
    rec = fake_records(n)
    rec["pkts_toserver"] = 2 + np.arange(n) % 4
    rec["bytes_toserver"] = 100 + np.arange(n) % 7
    rec["pkts_toclient"] = 1
    det.process(rec[:CHUNK])
    rec["pkts_toserver"][CHUNK + 10] = 400
    rec["pkts_toclient"][CHUNK + 10] = 10_000       # a weight: never an explanation
    scores, alerts = det.process(rec[CHUNK:])
    alerted = {a.index: a for a in alerts}
    assert set(alerted) == {10}
    names = [name for name, _, _ in alerted[10].explanation]
    assert names[0] == "flow.pkts_toserver" and "flow.pkts_toclient" not in names
    assert alerted[10].explanation[0][2] == pytest.approx(scores[10])
    assert _features(alerted[10])[0] == f"flow.pkts_toserver=400 (tail={scores[10]:+.2f})"


def run_detect(tmp_path, pcap, rules, name):
    logdir = tmp_path / name
    run_wirescore("run", "-r", pcap, "-l", logdir, "--rules", rules, "--export",
                  tmp_path / f"{name}.csv")
    return logdir


def test_alerts_are_deterministic_and_mark_their_flows(tmp_path):
    rules = write(tmp_path, GOOD.replace("threshold: {fixed: 0.5}", "threshold: {fixed: 0.6}"))
    a = run_detect(tmp_path, MIXED, rules, "a")
    b = run_detect(tmp_path, MIXED, rules, "b")
    assert filecmp.cmp(a / "eve.json", b / "eve.json", shallow=False)
    assert filecmp.cmp(tmp_path / "a.csv", tmp_path / "b.csv", shallow=False)
    events = read_eve(a)
    alerts = [e for e in events if e["event_type"] == "alert"]
    assert alerts, "HST scores above 0.6 after its first window on this capture"
    flows = {e["flow_id"]: e for e in events if e["event_type"] == "flow"}
    for al in alerts:
        assert al["alert"]["signature_id"] == 4200001
        assert flows[al["flow_id"]]["flow"]["alerted"] is True
        meta = al["alert"]["metadata"]
        assert float(meta["wirescore_score"][0]) > float(meta["wirescore_threshold"][0])
        assert all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                   for v in meta.values())
    assert sum(f["flow"]["alerted"] for f in flows.values()) == len(alerts)
    header = (tmp_path / "a.csv").read_text().splitlines()[0].split(",")
    assert header[-1] == "score.4200001"


@pytest.mark.skipif(not shared_available(), reason="needs ../shared for the EVE schema")
def test_alert_lines_validate_against_suricata_schema(tmp_path):
    import jsonschema

    schema = json.loads((SHARED_DATA / "suricata-eve-schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    rules = write(tmp_path, GOOD.replace("threshold: {fixed: 0.5}", "threshold: {fixed: 0.0}"))
    events = read_eve(run_detect(tmp_path, MIXED, rules, "s"))
    assert any(e["event_type"] == "alert" for e in events)
    for ev in events:
        errors = list(validator.iter_errors(ev))
        assert not errors, (ev, errors[0].message)


def test_api_callbacks_and_summary(tmp_path):
    profile = load_file(write(tmp_path, GOOD.replace("threshold: {fixed: 0.5}",
                                                     "threshold: {fixed: 0.0}")))[0]
    got_alerts, got_flows, got_stats, cuts = [], [], [], []
    engine = Engine(Config.load(), tmp_path / "logs", profiles=[profile],
                    on_alert=got_alerts.append,
                    on_flow=lambda recs, evs: got_flows.extend(evs),
                    on_stats=got_stats.append,
                    on_progress=lambda progress: cuts.append(len(got_alerts)))
    summary = engine.run(str(MIXED))
    assert summary.alerts == len(got_alerts) > 0
    assert summary.flows == len(got_flows)
    assert got_stats and got_stats[-1]["event_type"] == "stats"
    written = [e for e in read_eve(tmp_path / "logs") if e["event_type"] == "alert"]
    # on_alert as each stage decides; eve.json by timestamp within each batch
    bounds = [0, *cuts, len(got_alerts)]
    assert written == [e for a, b in zip(bounds, bounds[1:])
                       for e in sorted(got_alerts[a:b], key=lambda e: e["timestamp"])]


def test_no_detect_means_no_scores(tmp_path):
    run_wirescore("run", "-r", MIXED, "-l", tmp_path, "--no-detect", "--export",
                  tmp_path / "x.csv")
    header = (tmp_path / "x.csv").read_text().splitlines()[0]
    assert "score." not in header
    assert not [e for e in read_eve(tmp_path) if e["event_type"] == "alert"]


@pytest.mark.skipif(not shared_available(), reason="needs ../shared for the EVE schema")
def test_window_alerts_name_the_key_and_validate(tmp_path):
    import jsonschema

    schema = json.loads((SHARED_DATA / "suricata-eve-schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    rules = write(tmp_path, """\
id: 4200101
name: window test
unit: window
window: {seconds: 1, key: src}
features: [window.distinct_dports, window.syn_ratio, window.packets]
model: {name: hst, params: {n_trees: 5, height: 4, window_size: 2, seed: 1}}
threshold: {fixed: 0.0}
warmup: 0
suppress: {seconds: 0}
""")
    events = read_eve(run_detect(tmp_path, SCAN, rules, "w"))
    alerts = [e for e in events if e["event_type"] == "alert"]
    assert alerts and all(e["alert"]["signature_id"] == 4200101 for e in alerts)
    for ev in alerts:
        assert "src_ip" in ev and "flow" not in ev
        assert ev["alert"]["metadata"]["wirescore_window"][0].startswith("src ")
        errors = list(validator.iter_errors(ev))
        assert not errors, (ev, errors[0].message)


def _frames_of(path):
    """[(ts_us, frame bytes)] of a pcap/pcapng via dpkt (independent of pcapy)."""
    import dpkt

    with open(path, "rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        reader = dpkt.pcapng.Reader(fh) if magic == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(fh)
        return [(round(ts * 1e6), bytes(buf)) for ts, buf in reader]


def test_snippets_hold_exactly_the_alerted_flows_packets(tmp_path):
    """Every capture_file exists, reads back (dpkt, and tshark when installed), and holds
    exactly the alerted flow's packets, byte for byte, as in the original capture (the
    ring is far larger than this capture, so nothing has left it)."""
    import shutil
    import subprocess

    from wirescore._core.decode import decode_one

    rules = write(tmp_path, GOOD.replace("threshold: {fixed: 0.5}", "threshold: {fixed: 0.0}")
                  + "suppress: {seconds: 0}\n")
    logdir = run_detect(tmp_path, MIXED, rules, "snip")
    alerts = [e for e in read_eve(logdir) if e["event_type"] == "alert"]
    assert alerts
    original = _frames_of(MIXED)

    def five_tuple(frame):
        result, f, _ = decode_one(frame, 1)
        if result != "ip":
            return None
        ends = sorted([(f["src"], f["sport"]), (f["dst"], f["dport"])])
        return f["proto"], tuple(ends)

    for n_alert, al in enumerate(alerts):
        assert al["capture_file"].startswith("pcaps/")      # relative to the log dir
        path = logdir / al["capture_file"]
        assert path.exists()
        got = _frames_of(path)
        if shutil.which("tshark") and n_alert < 3:
            out = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True)
            assert out.returncode == 0 and len(out.stdout.splitlines()) == len(got)
        start = al["flow"]["start"]
        key = five_tuple(got[0][1]) if got else None
        expect = [(t, b) for t, b in original if five_tuple(b) == key]
        # the same flow key may hold several flows: keep the alerted one's time span
        import calendar
        import time as _time

        def us(text):
            return (calendar.timegm(_time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) * 10**6
                    + int(text[20:26]))

        lo, hi = us(start), us(al["flow"]["end"])
        expect = [(t, b) for t, b in expect if lo <= t <= hi]
        assert got == expect
        n = al["flow"]["pkts_toserver"] + al["flow"]["pkts_toclient"]
        assert len(got) == n


@pytest.mark.parametrize("key", ["src", "dst"])
def test_window_snippets_hold_exactly_the_keys_packets_of_the_window(tmp_path, key):
    """A window alert's capture_file holds every packet of the window whose source (or
    destination) is the alert's address, byte for byte and in order, as dpkt reads the
    original capture, and nothing else (the ring is far larger than the capture)."""
    import calendar
    import ipaddress
    import time as _time

    import dpkt

    rules = write(tmp_path, f"""\
id: 4200102
name: window snippets
unit: window
window: {{seconds: 1, key: {key}}}
features: [window.packets, window.distinct_dports]
model: {{name: hst, params: {{n_trees: 5, height: 4, window_size: 2, seed: 1}}}}
threshold: {{fixed: 0.0}}
warmup: 0
suppress: {{seconds: 0}}
""")
    logdir = run_detect(tmp_path, SCAN, rules, f"w{key}")
    alerts = [e for e in read_eve(logdir) if e["event_type"] == "alert"]
    assert alerts
    original = _frames_of(SCAN)

    def us(text):
        return (calendar.timegm(_time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) * 10**6
                + int(text[20:26]))

    def address(frame, side):
        ip = dpkt.ethernet.Ethernet(frame).data
        if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
            return None
        return ipaddress.ip_address(ip.src if side == "src" else ip.dst)

    checked = 0
    for al in alerts:
        kind, start, end = al["alert"]["metadata"]["wirescore_window"][0].split()
        assert kind == key
        addr = ipaddress.ip_address(al["src_ip" if key == "src" else "dest_ip"])
        lo, hi = us(start), us(end)
        expect = [(t, b) for t, b in original if lo <= t < hi and address(b, key) == addr]
        got = _frames_of(logdir / al["capture_file"])
        assert got == expect, (al["capture_file"], len(got), len(expect))
        checked += len(got)
    assert checked > 0


def test_snippet_disk_bound_deletes_oldest(tmp_path):
    from wirescore.outputs.snippets import SnippetStore

    store = SnippetStore(tmp_path / "pcaps", 1, max_files=2, max_bytes=10**9)
    meta = np.array([[1, 2, 4, 60]], dtype=np.uint32)
    paths = [store.name_for(7, i) for i in range(5)]
    for p in paths:
        store.write(p, b"abcd", meta)
    assert sorted(x.name for x in (tmp_path / "pcaps").iterdir()) == sorted(p.name for p in paths[-2:])
    assert store.deleted == 3 and store.written == 5
    assert ((tmp_path / "pcaps" / paths[-1].name).stat().st_mode & 0o777) == 0o640


def test_snippet_names_never_reuse_an_earlier_runs_or_another_workers(tmp_path):
    """A second run into the same log directory numbers on after the snippets it finds
    (the first run's alert lines still name theirs); each --workers process names its
    own (w<n>-), so two workers alerting on one flow write two files; a fresh folder
    starts at 1, so a replay writes the same names every time."""
    from wirescore.outputs.snippets import SnippetStore

    meta = np.array([[1, 2, 4, 60]], dtype=np.uint32)
    folder = tmp_path / "pcaps"
    first = SnippetStore(folder, 1)
    names = [first.name_for(9100102, 77) for _ in range(3)]
    for p in names:
        first.write(p, b"abcd", meta)
    assert [p.name for p in names] == [f"9100102-77-{n}.pcap" for n in (1, 2, 3)]
    again = SnippetStore(folder, 1)
    assert again.name_for(9100102, 77).name == "9100102-77-4.pcap"
    w1, w2 = SnippetStore(folder, 1, worker=1), SnippetStore(folder, 1, worker=2)
    a, b = w1.name_for(9100102, 77), w2.name_for(9100102, 77)
    assert (a.name, b.name) == ("w1-9100102-77-1.pcap", "w2-9100102-77-1.pcap")
    w1.write(a, b"abcd", meta)
    assert SnippetStore(folder, 1, worker=1).name_for(5, 6).name == "w1-5-6-2.pcap"
    assert SnippetStore(folder, 1).name_for(5, 6).name == "5-6-4.pcap"
    assert SnippetStore(tmp_path / "fresh", 1).name_for(5, 6).name == "5-6-1.pcap"


def test_ring_keeps_only_the_newest_packets():
    import pcapy

    from wirescore._core.flowtable import FlowMeter

    reader = pcapy.open_offline(str(SCAN))
    meter = FlowMeter(reader.datalink(), ring_bytes=65536)
    sizes = []
    while True:
        data, meta = reader.next_batch(256)
        if not meta:
            break
        rows = np.frombuffer(meta, dtype=np.uint32).reshape(-1, 4)
        sizes += rows[:, 3].tolist()
        i = 0
        while i < len(rows):
            i = meter.feed(data, rows, i)
            meter.drain()
    data, meta = meter.ring_between(0, 2**32)
    assert len(data) <= 65536 and meta[:, 2].tolist() == sizes[-len(meta):]
    # full: either the index (one entry per 64 ring bytes) or the bytes are used up
    assert len(meta) == 65536 // 64 or sum(sizes[-len(meta) - 1:]) > 65536 - max(sizes)


def test_allowlist_matches_an_ipaddress_reference(tmp_path):
    """The vectorised allowlist against ipaddress on random IPv4/IPv6 flows near the
    rules' networks: cidr on either address (prefixes of 0, 4, 31, 32, 8, 64, 65 and
    128 bits), port on either port, proto, and a rule with all three."""
    import ipaddress

    rules = ("allowlist:\n  - {cidr: 224.0.0.0/4}\n  - {cidr: 10.1.2.2/31, port: 53}\n"
             "  - {cidr: 192.0.2.7/32}\n  - {cidr: 2001:db8::/64, proto: udp}\n"
             "  - {cidr: fe80::1:8000:0:0/65}\n  - {cidr: 2001:db8:1::9/128}\n"
             "  - {port: 5353, proto: udp}\n  - {cidr: 10.0.0.0/8, port: 22, proto: tcp}\n")
    det = detector_for(tmp_path, rules)
    rng = np.random.default_rng(7)
    n = 4000
    rec = fake_records(n)
    v4 = [ipaddress.ip_address(a) for a in ("224.0.0.251", "239.255.255.250", "223.255.255.255",
                                            "10.1.2.2", "10.1.2.3", "10.1.2.4", "192.0.2.7",
                                            "192.0.2.6", "10.9.9.9", "8.8.8.8")]
    v6 = [ipaddress.ip_address(a) for a in ("2001:db8::1", "2001:db8:0:1::1", "fe80::1:8000:0:5",
                                            "fe80::1:0:0:5", "2001:db8:1::9", "2001:db8:1::8",
                                            "ff02::fb")]
    want = []
    for i in range(n):
        six = rng.random() < 0.4
        pool = v6 if six else v4
        a, b = pool[rng.integers(len(pool))], pool[rng.integers(len(pool))]
        rec["ip_version"][i] = a.version
        rec["src_addr"][i] = np.frombuffer(a.packed.ljust(16, b"\0"), dtype=np.uint8)
        rec["dest_addr"][i] = np.frombuffer(b.packed.ljust(16, b"\0"), dtype=np.uint8)
        rec["src_port"][i], rec["dest_port"][i] = rng.choice([53, 22, 5353, 80, 40000], 2)
        rec["proto"][i] = rng.choice([6, 17])
        hit = False
        for rule in det.profile.allowlist:
            ok = rule.cidr is None or any(x in rule.cidr for x in (a, b)
                                          if x.version == rule.cidr.version)
            ok &= rule.port is None or rule.port in (rec["src_port"][i], rec["dest_port"][i])
            ok &= rule.proto is None or rule.proto == rec["proto"][i]
            hit |= bool(ok)
        want.append(hit)
    got = det._allowlisted(rec)
    assert got.tolist() == want
    assert 0.1 < np.mean(want) < 0.9                 # both outcomes well represented
