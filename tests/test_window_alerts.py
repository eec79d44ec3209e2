"""Window alerts name a representative flow (ext/windows.pxd: the flow of the key's latest
packet in the window, or of the checkpoint packet of an early record), so that a query on
src_ip/dest_ip/flow_id finds them and they join their flow event: flow_id, the tuple as
that packet was sent (the key in src_ip for key src, dest_ip for key dst) and, with
ports, community_id equal to the flow's.

Checked on the shipped synscan capture and, where ../shared is present, on the shared
scan and flood captures, which alert on source and destination windows.
"""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from conftest import FIXTURES, run_wirescore, shared_captures

CAPTURES = [FIXTURES / "ndpi-synscan.pcap"] + [
    p for p in shared_captures("labeled/scans", "labeled/ddos")
    if p.suffix in (".pcap", ".pcapng") and "arp" not in p.name.lower()]
#: the scanning source of the scan captures (labeled/LABELS.csv)
SCANNERS = {"ndpi-synscan.pcap": "172.16.0.8",
            "esnet-masscan-tcp_0_1000_20190821.pcap": "172.31.15.102",
            "esnet-nmap_80_all.pcap": "10.87.1.10", "esnet-nmap_80_vanilla.pcap": "10.87.1.10",
            "esnet-nmap_80_w_service_detection.pcap": "10.87.1.10"}


def seconds(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


@pytest.mark.parametrize("pcap", CAPTURES, ids=lambda p: p.name)
def test_a_window_alert_joins_the_flow_of_its_key(tmp_path, pcap):
    run_wirescore("run", "-r", pcap, "-l", tmp_path)
    events = [json.loads(line) for line in (tmp_path / "eve.json").read_text().splitlines()]
    flows = {e["flow_id"]: e for e in events if e["event_type"] == "flow"}
    windows = [e for e in events if e["event_type"] == "alert"
               and "wirescore_window" in e["alert"]["metadata"]]
    if not windows:
        pytest.skip(f"{pcap.name}: no window alert with the shipped profiles")
    for alert in windows:
        key, start, end = alert["alert"]["metadata"]["wirescore_window"][0].split()
        flow = flows[alert["flow_id"]]                     # joins a flow event
        ends = {(flow["src_ip"], flow.get("src_port"), flow["dest_ip"], flow.get("dest_port")),
                (flow["dest_ip"], flow.get("dest_port"), flow["src_ip"], flow.get("src_port"))}
        assert (alert["src_ip"], alert.get("src_port"), alert["dest_ip"],
                alert.get("dest_port")) in ends
        assert alert["proto"] == flow["proto"]
        assert alert.get("community_id") == flow.get("community_id") or "src_port" not in alert
        # the flow had a packet in the window: it started before the window's end and
        # ended after its start
        assert seconds(flow["flow"]["start"]) <= seconds(end)
        assert seconds(flow["flow"]["end"]) >= seconds(start)
        if "wirescore_crossed" in alert["alert"]["metadata"]:
            # an early record: the representative is the checkpoint packet's flow
            assert seconds(flow["flow"]["start"]) <= seconds(alert["timestamp"]) \
                <= seconds(flow["flow"]["end"])
        # the key stays where it was: the packet's source (the scanner) or destination
        # (the flood's victim), as LABELS.csv names them
        if key == "src" and pcap.name in SCANNERS:
            assert alert["src_ip"] == SCANNERS[pcap.name]
        if key == "dst" and pcap.name.startswith("stopddos-"):
            assert alert["dest_ip"] == "10.10.10.10"
