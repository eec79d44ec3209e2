"""Decoder faults as EVE anomaly events (--eve-decode-anomalies; ext/anomaly.pxd): one per
refused frame, type decode, Suricata's event name (the stats counter decoder.event.X is
the event decoder.X), the frame's addresses once its IP header was read. Their count per
name is the stats event's counter, on every damaged capture of the shared collection and
on the shipped ones; each line validates against Suricata's schema; off by default.
"""
from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import FIXTURES, SHARED_DATA, run_wirescore, shared_captures

CAPTURES = sorted(set(shared_captures("varied/robustness", "varied/linktypes"))
                  | set(FIXTURES.glob("*.pcap*")))


def events_of(logdir) -> list[dict]:
    return [json.loads(line) for line in (logdir / "eve.json").read_text().splitlines()]


@pytest.fixture(scope="module")
def validator():
    path = SHARED_DATA / "suricata-eve-schema.json"
    if not path.is_file():
        return None
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(path.read_text()))


@pytest.mark.parametrize("pcap", CAPTURES, ids=lambda p: p.name)
def test_one_anomaly_event_per_refused_frame(tmp_path, pcap, validator):
    proc = run_wirescore("run", "-r", pcap, "-l", tmp_path, "--no-detect",
                         "--eve-decode-anomalies", check=False)
    if not (tmp_path / "eve.json").exists():
        pytest.skip(f"{pcap.name}: {proc.stderr.strip().splitlines()[-1]}")
    events = events_of(tmp_path)
    stats = [e for e in events if e["event_type"] == "stats"][-1]["stats"]
    counted = Counter({f"decoder.{kind}.{name}": n
                       for kind, names in stats["decoder"].get("event", {}).items()
                       for name, n in names.items() if n})
    anomalies = [e for e in events if e["event_type"] == "anomaly"]
    # faults Suricata has no event for keep wirescore's counter name (wirescore.*, not
    # in the stats event): e.g. wirescore.nflog_bad_tlv
    assert Counter(e["anomaly"]["event"] for e in anomalies
                   if e["anomaly"]["event"].startswith("decoder.")) == counted
    assert all(e["anomaly"]["type"] == "decode" for e in anomalies)
    for e in anomalies:
        # the addresses come from an IP header, so only an L4 fault has them
        event = e["anomaly"]["event"]
        read_ip = (event.split(".")[1] in ("tcp", "udp", "sctp", "icmpv4", "icmpv6")
                   or event == "decoder.ipv6.trunc_exthdr")
        assert ("src_ip" in e) == read_ip, e
        if validator is not None:
            validator.validate(e)


def test_anomaly_events_are_off_by_default(tmp_path):
    pcaps = [p for p in shared_captures("varied/robustness") if "heap-overflow-1" in p.name]
    if not pcaps:
        pytest.skip("shared captures not found (../shared/data/pcaps/varied/robustness)")
    run_wirescore("run", "-r", pcaps[0], "-l", tmp_path, "--no-detect")
    events = events_of(tmp_path)
    stats = [e for e in events if e["event_type"] == "stats"][-1]["stats"]
    assert stats["decoder"]["invalid"] > 0
    assert not [e for e in events if e["event_type"] == "anomaly"]
