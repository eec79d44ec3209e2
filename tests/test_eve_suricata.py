"""The details a Suricata user expects in eve.json (issue 19, part 4): stats.detect.alert;
each checked on real captures against Suricata's EVE schema and an independent count."""
from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, SHARED_DATA, read_eve, run_wirescore, shared_available
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

