"""--eve-ethernet (Suricata's eve-log `ethernet: yes`): flow lines carry
ether{src_macs, dest_macs}, the MACs of the flow's first frame, and alerts about a flow
ether{src_mac, dest_mac}. Checked against tshark's eth.src/eth.dst of the same frames,
the Python formatter (callbacks) against the C lines, and Suricata's schema.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict

import pytest
from conftest import FIXTURES, SHARED_DATA, run_wirescore

from wirescore.config import Config
from wirescore.engine import Engine

ETHERNET = [FIXTURES / name for name in ("zeek-wikipedia.pcap", "ndpi-synscan.pcap",
                                         "nfstream-dns-fragmented.pcap",
                                         "zeek-vlan-pcp-dei.pcapng")]


def eve(logdir) -> list[dict]:
    return [json.loads(line) for line in (logdir / "eve.json").read_text().splitlines()]


def tshark_macs(pcap) -> dict:
    """(ip src, ip dst) -> {(eth.src, eth.dst)} of every IP frame, as tshark reads it."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "eth.src",
                          "-e", "eth.dst", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src",
                          "-e", "ipv6.dst"], capture_output=True, text=True, check=True).stdout
    pairs = defaultdict(set)
    for line in out.splitlines():
        esrc, edst, src4, dst4, src6, dst6 = (line.split("\t") + [""] * 6)[:6]
        src, dst = (src4 or src6).split(",")[0], (dst4 or dst6).split(",")[0]
        if esrc and src:
            pairs[(src, dst)].add((esrc, edst))
    return pairs


@pytest.mark.parametrize("pcap", ETHERNET, ids=lambda p: p.name)
def test_flow_macs_are_those_of_its_frames(tmp_path, pcap):
    run_wirescore("run", "-r", pcap, "-l", tmp_path, "--eve-ethernet")
    events = eve(tmp_path)
    flows = [e for e in events if e["event_type"] == "flow"]
    assert flows and all("ether" in e for e in flows)
    pairs = tshark_macs(pcap)
    for e in flows:
        macs = (e["ether"]["src_macs"][0], e["ether"]["dest_macs"][0])
        assert macs in pairs[(e["src_ip"], e["dest_ip"])], (e["flow_id"], macs)
    check_alerts(events)


def check_alerts(events: list[dict]) -> int:
    """Every alert with ether names its flow's MACs; alerts at a flow's end or update
    always have them (Ethernet). Returns how many alerts carry ether."""
    flows = {e["flow_id"]: e for e in events if e["event_type"] == "flow"}
    n = 0
    for a in (e for e in events if e["event_type"] == "alert"):
        flow_alert = "flow" in a                  # decided at the flow's end
        if "ether" not in a:
            assert not flow_alert, a
            continue
        flow = flows[a["flow_id"]]
        assert a["ether"] == {"src_mac": flow["ether"]["src_macs"][0],
                              "dest_mac": flow["ether"]["dest_macs"][0]}
        n += 1
    return n


def test_alerts_at_flow_ends_and_updates_carry_the_flows_macs(tmp_path):
    mix = SHARED_DATA / "eval" / "mix-public.pcap"
    if not mix.is_file():
        pytest.skip(f"the public evaluation mix not found at {mix}")
    run_wirescore("run", "-r", mix, "-l", tmp_path, "--eve-ethernet")
    assert check_alerts(eve(tmp_path)) > 50


def test_off_by_default_and_absent_without_ethernet(tmp_path):
    run_wirescore("run", "-r", FIXTURES / "zeek-wikipedia.pcap", "-l", tmp_path / "a")
    assert not [e for e in eve(tmp_path / "a") if "ether" in e]
    run_wirescore("run", "-r", FIXTURES / "zeek-tls-irc-starttls-sll.pcap", "-l",
                  tmp_path / "b", "--eve-ethernet")
    flows = [e for e in eve(tmp_path / "b") if e["event_type"] == "flow"]
    assert flows and not [e for e in flows if "ether" in e]


def test_callbacks_get_the_lines_ether(tmp_path):
    got = []
    Engine(Config({"outputs.eve.ethernet": True}), tmp_path,
           on_flow=lambda records, events: got.extend(events)).run(
        str(FIXTURES / "zeek-wikipedia.pcap"))
    lines = {e["flow_id"]: e for e in eve(tmp_path) if e["event_type"] == "flow"}
    assert got and all(e["ether"] == lines[e["flow_id"]]["ether"] for e in got)


def test_ether_lines_validate(tmp_path):
    path = SHARED_DATA / "suricata-eve-schema.json"
    if not path.is_file():
        pytest.skip(f"Suricata's EVE schema not found at {path}")
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(path.read_text()))
    run_wirescore("run", "-r", FIXTURES / "ndpi-synscan.pcap", "-l", tmp_path, "--eve-ethernet")
    events = eve(tmp_path)
    assert any("ether" in e for e in events if e["event_type"] == "flow")
    for e in events:
        validator.validate(e)
