"""Flows for training and evaluation: the FlowSet a capture gives through the engine's
on_flow callback equals the FlowSet of the same run's --export, column for column, so
`wirescore train` and `wirescore eval` read exactly what an export holds without
writing and parsing one."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import FIXTURES, run_wirescore, shared_captures
from wirescore.flowset import flows_from_capture, read_export
from wirescore.rules import default_rules_dir, load_paths

CAPTURES = [FIXTURES / "zeek-wikipedia.pcap", FIXTURES / "ndpi-synscan.pcap",
            FIXTURES / "nfstream-dns-fragmented.pcap", FIXTURES / "zeek-vlan-pcp-dei.pcapng"]
# ICMP and IPv6 flows (port-less, other address forms), when ../shared is present
CAPTURES += [p for p in shared_captures() if "icmp" in p.name.lower()][:2]


def same_flowset(got, want) -> None:
    assert len(got) == len(want) > 0
    for name in ("flow_id", "proto", "src_port", "dest_port", "start", "end"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    for name in ("src_ip", "dest_ip", "community_id"):
        assert getattr(got, name) == getattr(want, name), name
    assert sorted(got.columns) == sorted(want.columns)
    for name, values in want.columns.items():
        assert np.array_equal(got.columns[name], values, equal_nan=True), name


@pytest.mark.parametrize("pcap", CAPTURES, ids=lambda p: p.name)
def test_capture_flows_equal_the_export_of_the_same_run(tmp_path, pcap):
    export = tmp_path / "flows.csv"
    run_wirescore("run", "-r", pcap, "-l", tmp_path / "logs", "--export", export)
    got, summary = flows_from_capture(pcap, profiles=load_paths([default_rules_dir()]))
    assert summary.flows == len(got)
    same_flowset(got, read_export(export))


def test_without_profiles_the_features_are_the_no_detect_export(tmp_path):
    """No profile: the flow core alone; endpoint context is still kept (the collector
    reads ctx.* columns), as --export keeps it."""
    pcap = FIXTURES / "ndpi-synscan.pcap"
    export = tmp_path / "flows.csv"
    run_wirescore("run", "-r", pcap, "-l", tmp_path / "logs", "--no-detect",
                  "--export", export)
    got, _ = flows_from_capture(pcap)
    want = read_export(export)
    same_flowset(got, want)
    assert want.columns["ctx.src_new_ports_60s"].max() > 0
    some, _ = flows_from_capture(pcap, columns=["ctx.src_new_ports_60s", "flow.duration"])
    assert sorted(some.columns) == ["ctx.src_new_ports_60s", "flow.duration"]
    assert np.array_equal(some.columns["ctx.src_new_ports_60s"],
                          want.columns["ctx.src_new_ports_60s"])
