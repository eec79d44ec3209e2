"""The details a Suricata user expects in eve.json (issue 19, part 4): stats.detect.alert,
the Community ID seed, each alert's score and threshold as numbers (alert.context.wirescore),
host and pcap_filename on every line;
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
    ("labeled/scans/sgr-hs-icmpScan.pcap", {"attempt", "window"}),        # ICMP attempts
    ("labeled/cicids2017-web-sqli/WebattackSQLinj.pcap", {"app"}),
    ("labeled/ddos/stopddos-amp.TCP.reflection.SYNACK.pcap", {"flow", "window"}),
    ("labeled/scans/sgr-hs-arpScan.pcap", {"arp"}),
    ("labeled/tunnels-exfil/ndpi-icmp-tunnel.pcap", {"update"}),
)


@pytest.mark.parametrize("rel,units", ALERT_KINDS, ids=[u for u, _ in ALERT_KINDS])
def test_every_alert_kind_has_its_score_as_a_number_and_its_flows_id(rel, units, tmp_path, validator):
    """alert.context.wirescore.score and .threshold are numbers, the values metadata
    writes as strings (6 decimals), the score above the threshold; the line validates."""
    pcap = SHARED_DATA / "pcaps" / rel
    logdir = tmp_path / "logs"
    run_wirescore("run", "-r", pcap, "-l", logdir, "--no-snippets", "--community-id-seed", "3")
    events = read_eve(logdir)
    flows = {e["flow_id"]: e for e in events if e["event_type"] == "flow"}
    alerts = [e for e in events if e["event_type"] == "alert"]
    seen, icmp_units = set(), set()
    for ev in alerts:
        # an alert about a flow carries its flow's Community ID (seeded alike), an ICMP
        # attempt's too (its record carries the request's type and code)
        unit = ev["alert"]["metadata"]["wirescore_unit"][0]
        if ev.get("flow_id") in flows:
            assert ev["community_id"] == flows[ev["flow_id"]]["community_id"], (unit, ev)
            icmp_units.update([unit] if "ICMP" in ev["proto"] else [])
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
    if "icmpScan" in rel:
        assert "attempt" in icmp_units, "the ICMP sweep's attempt alert names its flow"


def _without(ev: dict, *keys) -> dict:
    return {k: v for k, v in ev.items() if k not in keys}


def test_host_and_pcap_filename_on_every_line(tmp_path, validator):
    """--sensor-name and --pcap-filename put host and pcap_filename into every line
    (alert, flow, dns, http, stats), which are otherwise the lines of a run without
    them, field for field; they validate; a run without them writes neither."""
    name = 'tap "east" \u00e9'                # a quote and a non-ASCII letter to escape
    plain = _run(tmp_path, "plain")
    tagged = _run(tmp_path, "tagged", "--sensor-name", name, "--pcap-filename")
    assert not any("host" in e or "pcap_filename" in e for e in plain)
    assert len(tagged) == len(plain)
    kinds = set()
    for a, b in zip(plain, tagged):
        assert b["host"] == name and b["pcap_filename"] == str(MIXED), b
        assert _without(b, "host", "pcap_filename") == a
        kinds.add(b["event_type"])
        errors = list(validator.iter_errors(b))
        assert not errors, errors[0].message
    assert kinds >= {"alert", "flow", "dns", "http", "stats"}, kinds
    raw = (tmp_path / "tagged" / "eve.json").read_bytes()
    assert raw.isascii() and raw.count(b'"host":') == len(tagged)


def test_pcap_filename_alone_and_not_for_standard_input(tmp_path):
    logdir = tmp_path / "file"
    run_wirescore("run", "-r", MIXED, "-l", logdir, "--no-detect", "--pcap-filename")
    events = read_eve(logdir)
    assert all(e["pcap_filename"] == str(MIXED) and "host" not in e for e in events)
    logdir = tmp_path / "stdin"
    with open(MIXED, "rb") as fh:
        run_wirescore("run", "-r", "-", "-l", logdir, "--no-detect", "--pcap-filename",
                      stdin=fh)
    events = read_eve(logdir)
    assert events and not any("pcap_filename" in e for e in events)


def test_splice_fields_puts_the_fragment_before_each_closing_brace():
    from wirescore._core.eve import splice_fields
    from wirescore.outputs.eve import common_fields

    frag = common_fields("s1", None)
    assert frag == b',"host":"s1"' and common_fields(None, "") == b""
    block = b'{"a":1}\n{"b":{"c":[1,{}]}}\n'
    out = splice_fields(block, frag)
    assert [json.loads(line) for line in out.splitlines()] == [
        {"a": 1, "host": "s1"}, {"b": {"c": [1, {}]}, "host": "s1"}]
    assert splice_fields(block, b"") is block and splice_fields(b"", frag) == b""
    for bad in (b'{"a":1}', b'{"a":1}\n\n', b'{"a":1}\n[1]\n', b"{}\n", b"}\n"):
        with pytest.raises(ValueError):
            splice_fields(bad, frag)
