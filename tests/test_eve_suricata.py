"""The details a Suricata user expects in eve.json (issue 19, part 4): stats.detect.alert,
the Community ID seed, each alert's score and threshold as numbers (alert.context.wirescore);
each checked on real captures against Suricata's EVE schema and an independent count or
reference (the Community ID spec's hash of the line's tuple, the metadata's strings)."""
from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, SHARED_DATA, read_eve, run_wirescore, shared_available
from wirescore.config import Config
from wirescore.outputs.community_id import community_id
from wirescore.workers.stats import StatsMerge

MIXED = FIXTURES / "zeek-wikipedia.pcap"
# alerts on every scored flow after a warm-up of 10: many alerts, spread over the capture
ALWAYS = """\
id: 4200001
name: test profile
features: [flow.bytes_toserver, flow.duration, ctx.src_flows_60s]
model: {name: hst, params: {n_trees: 5, height: 4, window_size: 10, seed: 1}}
threshold: {fixed: 0.0}
warmup: 10
"""


@pytest.fixture(scope="module")
def validator():
    if not shared_available():
        pytest.skip(f"Suricata's EVE schema not found under {SHARED_DATA} (set WIRESCORE_SHARED)")
    import jsonschema

    schema = json.loads((SHARED_DATA / "suricata-eve-schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def _run(tmp_path, name, *extra, rules=ALWAYS, pcap=MIXED):
    path = tmp_path / f"{name}.yaml"
    path.write_text(rules)
    logdir = tmp_path / name
    run_wirescore("run", "-r", pcap, "-l", logdir, "--rules", path, "--stats-interval", "1",
                  *extra)
    return read_eve(logdir)


def test_detect_alert_counts_the_alert_lines_before_each_stats_line(tmp_path, validator):
    events = _run(tmp_path, "a")
    seen, counts = 0, []
    for ev in events:
        if ev["event_type"] == "alert":
            seen += 1
        elif ev["event_type"] == "stats":
            assert ev["stats"]["detect"]["alert"] == seen, ev["stats"]["detect"]
            counts.append(seen)
            errors = list(validator.iter_errors(ev))
            assert not errors, errors[0].message
    # more than one stats line, and alerts between them: a final count alone would fail
    assert len(counts) >= 2 and counts[0] < counts[-1] and counts[-1] > 0, counts


def test_detect_alert_is_zero_without_detection(tmp_path):
    logdir = tmp_path / "n"
    run_wirescore("run", "-r", MIXED, "-l", logdir, "--no-detect")
    stats = [e for e in read_eve(logdir) if e["event_type"] == "stats"]
    assert stats and all(e["stats"]["detect"] == {"alert": 0} for e in stats)


def test_workers_detect_alert_is_summed():
    merge = StatsMerge("eth0", 10)
    for index, alerts in ((0, 3), (1, 4)):
        merge.report(index, {"timestamp": f"t{index}", "event_type": "stats",
                             "stats": {"uptime": 5, "detect": {"alert": alerts}}})
    assert merge.summed()["stats"]["detect"] == {"alert": 7}


def _tuple_cid(ev: dict, seed: int) -> str:
    """The Community ID of a flow line's own tuple (the spec's, hashed with seed)."""
    import ipaddress

    proto = {"TCP": 6, "UDP": 17, "ICMP": 1, "IPv6-ICMP": 58}[ev["proto"]]
    sp, dp = ev.get("src_port"), ev.get("dest_port")
    if proto in (1, 58):
        sp, dp = ev["icmp_type"], ev["icmp_code"]
    return community_id(proto, ipaddress.ip_address(ev["src_ip"]).packed,
                        ipaddress.ip_address(ev["dest_ip"]).packed, sp, dp, seed=seed)


def test_community_id_seed_reaches_every_line(tmp_path, validator):
    """With a seed, flow lines hash their tuple with it, and every alert and app-layer
    line (dns, http: formatted in C) carries its flow's ID."""
    seed = 4242
    events = _run(tmp_path, "s", "--community-id-seed", str(seed))
    flows = {e["flow_id"]: e for e in events if e["event_type"] == "flow"}
    for ev in flows.values():
        assert ev["community_id"] == _tuple_cid(ev, seed) != _tuple_cid(ev, 0), ev
    kinds = set()
    for ev in events:
        if ev["event_type"] not in ("flow", "stats"):
            assert ev["community_id"] == flows[ev["flow_id"]]["community_id"], ev
            kinds.add(ev["event_type"])
            errors = list(validator.iter_errors(ev))
            assert not errors, errors[0].message
    assert kinds >= {"alert", "dns", "http"}, kinds


@pytest.mark.parametrize("value", ["-1", "65536"])
def test_community_id_seed_is_a_16_bit_number(tmp_path, value):
    proc = run_wirescore("run", "-r", MIXED, "-l", tmp_path, "--no-detect",
                         "--community-id-seed", value, check=False)
    assert proc.returncode != 0 and "community" in proc.stderr.lower(), proc.stderr
    assert Config.load()["outputs.eve.community_id_seed"] == 0


def test_attempt_alerts_hash_with_the_seed(tmp_path):
    """An attempt alert (made in Python from the open flow's record) carries the seeded
    ID its flow's line (made in C) carries."""
    seed = 7
    logdir = tmp_path / "scan"
    run_wirescore("run", "-r", FIXTURES / "ndpi-synscan.pcap", "-l", logdir, "--rules",
                  FIXTURES.parent.parent.parent / "rules" / "flow-scan.yaml",
                  "--community-id-seed", str(seed))
    events = read_eve(logdir)
    flows = {e["flow_id"]: e for e in events if e["event_type"] == "flow"}
    attempts = [e for e in events if e["event_type"] == "alert"
                and e["alert"]["metadata"]["wirescore_unit"] == ["attempt"]]
    assert attempts, "the scan profile alerts at an attempt on this capture"
    for ev in attempts:
        flow = flows[ev["flow_id"]]
        assert ev["community_id"] == flow["community_id"] == _tuple_cid(flow, seed)


# shipped profiles' alerts of every kind: (capture, the alert units it gives)
ALERT_KINDS = (
    ("labeled/scans/ndpi-synscan.pcap", {"attempt", "window"}),
    ("labeled/cicids2017-web-sqli/WebattackSQLinj.pcap", {"app"}),
    ("labeled/ddos/stopddos-amp.TCP.reflection.SYNACK.pcap", {"flow", "window"}),
    ("labeled/scans/sgr-hs-arpScan.pcap", {"arp"}),
    ("labeled/tunnels-exfil/ndpi-icmp-tunnel.pcap", {"update"}),
)


@pytest.mark.parametrize("rel,units", ALERT_KINDS, ids=[u for u, _ in ALERT_KINDS])
def test_every_alert_kind_has_its_score_as_a_number(rel, units, tmp_path, validator):
    """alert.context.wirescore.score and .threshold are numbers, the values metadata
    writes as strings (6 decimals), the score above the threshold; the line validates."""
    pcap = SHARED_DATA / "pcaps" / rel
    logdir = tmp_path / "logs"
    run_wirescore("run", "-r", pcap, "-l", logdir, "--no-snippets")
    alerts = [e for e in read_eve(logdir) if e["event_type"] == "alert"]
    seen = set()
    for ev in alerts:
        meta, nums = ev["alert"]["metadata"], ev["alert"]["context"]["wirescore"]
        assert set(nums) == {"score", "threshold"}, nums
        assert all(type(v) is float for v in nums.values()), nums
        assert f"{nums['score']:.6f}" == meta["wirescore_score"][0]
        assert f"{nums['threshold']:.6f}" == meta["wirescore_threshold"][0]
        assert nums["score"] >= nums["threshold"], nums
        errors = list(validator.iter_errors(ev))
        assert not errors, errors[0].message
        seen.add(meta["wirescore_unit"][0])
    assert seen == units, seen
