"""The health object of every stats event (wirescore/health.py): where it sits, what it
says on a file read, after a failure, and merged over workers; stats lines stay valid
Suricata EVE."""
from __future__ import annotations

import json

import pytest
from conftest import FIXTURES, SHARED_DATA, run_wirescore

from wirescore import health

SYNSCAN = FIXTURES / "ndpi-synscan.pcap"


def stats_events(logdir) -> list[dict]:
    lines = (logdir / "eve.json").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event_type"] == "stats"]


def test_every_stats_event_of_a_file_read_has_its_health(tmp_path):
    run_wirescore("run", "-r", SYNSCAN, "-l", tmp_path, "--no-detect",
                  "--stats-interval", "1", "--batch-size", "64")
    events = stats_events(tmp_path)
    assert len(events) > 2
    for e in events[:-1]:
        h = health.get(e)
        assert h["capture_state"] == "running" and h["uptime"] == e["stats"]["uptime"]
        assert h["kernel_drops"] == 0 and "outputs" not in h      # a file read: none
        assert h["last_packet"] <= e["timestamp"]
    last = health.get(events[-1])
    assert last == {"uptime": events[-1]["stats"]["uptime"], "capture_state": "finished",
                    "last_packet": "2010-07-04T20:24:39.360213+0000", "kernel_drops": 0}
    assert list(events[-1]) == ["timestamp", "event_type", "stats", "metadata"]


def test_a_run_that_failed_says_so(tmp_path):
    export = tmp_path / "flows.csv"
    export.symlink_to("/dev/full")
    proc = run_wirescore("run", "-r", SYNSCAN, "-l", tmp_path / "logs", "--no-detect",
                         "--export", export, check=False)
    assert proc.returncode == 1
    assert health.get(stats_events(tmp_path / "logs")[-1])["capture_state"] == "failed"


def test_stats_lines_with_health_are_valid_eve(tmp_path):
    schema_path = SHARED_DATA / "suricata-eve-schema.json"
    if not schema_path.is_file():
        pytest.skip(f"no Suricata EVE schema at {schema_path}")
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(schema_path.read_text()))
    run_wirescore("run", "-r", SYNSCAN, "-l", tmp_path, "--stats-interval", "1")
    for e in stats_events(tmp_path):
        errors = list(validator.iter_errors(e))
        assert not errors, errors[0].message


def test_merge_over_workers():
    a = {"uptime": 10, "capture_state": "running", "last_packet": "2026-01-01T00:00:01.000000+0000",
         "kernel_drops": 3, "outputs": {"eve": {"state": "writing", "queued_bytes": 0,
                                                "dropped": 1}}}
    b = {"uptime": 12, "capture_state": "link_down", "last_packet": "2026-01-01T00:00:00.000000+0000",
         "kernel_drops": 4, "outputs": {"eve": {"state": "waiting", "queued_bytes": 100,
                                                "dropped": 2}}}
    assert health.merge([a, None, b]) == {
        "uptime": 12, "capture_state": "link_down",
        "last_packet": "2026-01-01T00:00:01.000000+0000", "kernel_drops": 7,
        "outputs": {"eve": {"state": "waiting", "queued_bytes": 100, "dropped": 3}}}
    assert health.merge([None, {}]) is None
    assert health.merge([{"capture_state": "stopped"}, {"capture_state": "finished"}]
                        )["capture_state"] == "stopped"


def test_the_workers_summed_event_carries_the_merged_health():
    from wirescore.workers.stats import StatsMerge

    merge = StatsMerge("ws-a", 60)
    for index, drops in ((1, 2), (2, 5)):
        event = {"timestamp": "t", "event_type": "stats",
                 "stats": {"uptime": 5, "capture": {"kernel_drops": drops}}}
        merge.report(index, health.put(event, health.build(5, "running", None, drops, {})))
    summed = merge.summed()
    assert summed["stats"]["capture"]["kernel_drops"] == 7
    assert health.get(summed) == {"uptime": 5, "capture_state": "running",
                                  "kernel_drops": 7}


def test_the_parent_puts_its_own_eve_file_in():
    event = health.put({"event_type": "stats"}, health.build(1, "running", None, 0, {}))
    health.put_output(event, "eve", {"state": "waiting", "queued_bytes": 5, "dropped": 0})
    assert health.get(event)["outputs"] == {"eve": {"state": "waiting", "queued_bytes": 5,
                                                    "dropped": 0}}
    bare = {"event_type": "stats"}
    health.put_output(bare, "eve", {"state": "writing"})
    assert bare == {"event_type": "stats"}
