"""The command line: settings precedence, --bpf, --export, help, errors."""
from __future__ import annotations

import csv
import json

import pytest
import yaml

from conftest import FIXTURES, read_eve, run_wirescore
from wirescore import catalog
from wirescore.config import SETTINGS, Config
from wirescore.errors import WirescoreError

MIXED = FIXTURES / "zeek-wikipedia.pcap"          # TCP, UDP, ICMPv6, ARP


def flows(events):
    return [e for e in events if e["event_type"] == "flow"]


def test_help_lists_every_setting():
    out = run_wirescore("run", "--help").stdout
    for s in SETTINGS:
        assert s.flag.split("/")[0] in out, s.flag


def test_config_roundtrip_and_precedence(tmp_path):
    conf = tmp_path / "w.yaml"
    conf.write_text("flow:\n  max_flows: 1234\n  timeouts:\n    udp: {new: 7}\n")
    printed = run_wirescore("config", "-c", conf, "--max-flows", "99").stdout
    doc = yaml.safe_load(printed)
    assert doc["flow"]["max_flows"] == 99                 # flag beats file
    assert doc["flow"]["timeouts"]["udp"]["new"] == 7.0   # file beats default
    assert doc["flow"]["timeouts"]["tcp"]["established"] == 600.0
    again = tmp_path / "again.yaml"
    again.write_text(printed)                              # the output is a valid config
    cfg = Config.load(again)
    assert cfg["flow.max_flows"] == 99 and cfg["flow.timeouts.udp.new"] == 7.0


@pytest.mark.parametrize("text, message", [
    ("flow: {max_flowz: 3}", "unknown setting 'flow.max_flowz' (did you mean flow.max_flows?)"),
    ("flow: {max_flows: lots}", "flow.max_flows must be int"),
    ("flow: {max_flows: 0}", "flow.max_flows must be >= 1"),
    ("flow: {context_hosts: 100000}", "flow.context_hosts must be a power of two"),
    ("flow: {window_max_keys: 8}", "flow.window_max_keys must be >= 16"),
    ("flow: [1, 2", "invalid YAML"),
    ("- a\n- b\n", "the top level must be a mapping"),
])
def test_bad_config_is_one_line_naming_the_file(tmp_path, text, message):
    conf = tmp_path / "bad.yaml"
    conf.write_text(text)
    with pytest.raises(WirescoreError, match="bad.yaml"):
        Config.load(conf)
    proc = run_wirescore("run", "-r", MIXED, "-l", tmp_path, "-c", conf, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wirescore: error:") and message in lines[0]


def test_bpf_filters_packets(run_capture):
    all_events, _ = run_capture(MIXED)
    tcp_events, _ = run_capture(MIXED, "--bpf", "tcp")
    want = [e for e in flows(all_events) if e["proto"] == "TCP"]
    got = flows(tcp_events)
    assert got and {e["flow_id"] for e in got} == {e["flow_id"] for e in want}
    assert {e["proto"] for e in flows(all_events)} > {"TCP"}
    stats = [e for e in tcp_events if e["event_type"] == "stats"][-1]["stats"]
    assert stats["decoder"]["pkts"] == sum(e["flow"]["pkts_toserver"] + e["flow"]["pkts_toclient"]
                                           for e in got)


def test_bad_bpf_is_a_one_line_error(tmp_path):
    proc = run_wirescore("run", "-r", MIXED, "-l", tmp_path, "--bpf", "tcp and and", check=False)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("wirescore: error: --bpf")


def test_export_csv_matches_eve(tmp_path):
    out = tmp_path / "flows.csv"
    run_wirescore("run", "-r", MIXED, "-l", tmp_path / "logs", "--no-detect", "--export", out)
    events = flows(read_eve(tmp_path / "logs"))
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0].keys())
    assert header[:9] == ["flow_id", "src_ip", "src_port", "dest_ip", "dest_port", "proto",
                          "community_id", "start", "end"]
    assert header[9:] == [f.name for f in catalog.ALL_FEATURES]
    # the same flows (eve.json orders each batch's lines by timestamp, the export keeps
    # the order flows ended), each row equal to its flow's event
    assert len(rows) == len(events)
    by_id = {ev["flow_id"]: ev for ev in events}
    assert len(by_id) == len(events) == len({int(r["flow_id"]) for r in rows})
    for row in rows:
        ev = by_id[int(row["flow_id"])]
        assert int(row["flow_id"]) == ev["flow_id"] and row["community_id"] == ev["community_id"]
        assert row["src_port"] == str(ev.get("src_port", ""))
        assert int(row["flow.pkts_toserver"]) == ev["flow"]["pkts_toserver"]
        assert int(row["flow.bytes_toclient"]) == ev["flow"]["bytes_toclient"]


def test_export_needs_a_known_extension(tmp_path):
    proc = run_wirescore("run", "-r", MIXED, "-l", tmp_path, "--export", tmp_path / "x.txt",
                         check=False)
    assert proc.returncode == 1 and "needs a .csv or .parquet" in proc.stderr


def test_parquet_export_or_clear_error(tmp_path):
    out = tmp_path / "flows.parquet"
    proc = run_wirescore("run", "-r", MIXED, "-l", tmp_path / "l", "--export", out, check=False)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        assert proc.returncode == 1 and "needs pyarrow" in proc.stderr
        return
    assert proc.returncode == 0
    table = pq.read_table(out)
    assert table.num_rows == len(flows(read_eve(tmp_path / "l")))


def test_stats_interval_uses_packet_time(run_capture):
    events, _ = run_capture(FIXTURES / "ndpi-synscan.pcap", "--stats-interval", "1")
    stats = [e for e in events if e["event_type"] == "stats"]
    assert len(stats) >= 2
    pkts = [s["stats"]["decoder"]["pkts"] for s in stats]
    assert pkts == sorted(pkts) and pkts[-1] == 2011


def test_summary_line(run_capture):
    _, proc = run_capture(MIXED)
    summary = [l for l in proc.stderr.splitlines() if "packets/s" in l]
    assert len(summary) == 1 and " packets, " in summary[0] and " decode errors" in summary[0]


def test_limits_that_bite_are_reported_at_the_end(tmp_path):
    """200 sources in one second, one UDP datagram each, with tables of 16 hosts and 16
    window keys: the state dropped is counted and the end-of-run report names the
    counters (the EVE stats event carries only Suricata's names) and the settings that
    raise them; with the default tables, no such line."""
    import dpkt

    pcap = tmp_path / "many-sources.pcap"
    with open(pcap, "wb") as fh:
        writer = dpkt.pcap.Writer(fh, linktype=1)
        for i in range(200):
            udp = dpkt.udp.UDP(sport=40000 + i, dport=53, data=b"q")
            udp.ulen = len(udp)
            ip = dpkt.ip.IP(src=bytes([10, 1, i // 250, 1 + i % 250]), dst=bytes([10, 0, 0, 53]),
                            p=17, data=udp)
            ip.len = len(ip)
            eth = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800,
                                         data=ip)
            writer.writepkt(bytes(eth), ts=1_700_000_000 + i / 1000)
    small = run_wirescore("run", "-r", pcap, "-l", tmp_path / "small", "--context-hosts", "16",
                          "--window-max-keys", "16")
    line = [l for l in small.stderr.splitlines() if "limits reached" in l]
    assert len(line) == 1, small.stderr
    assert "wirescore.ctx_host_replaced=" in line[0]
    assert "wirescore.window_keys_dropped=" in line[0]
    assert line[0].endswith("raise them with --context-hosts, --window-max-keys")
    dropped = int(line[0].split("wirescore.window_keys_dropped=")[1].split(",")[0].split(";")[0])
    assert dropped == 200 - 16            # source keys beyond 16 in the one window
    default = run_wirescore("run", "-r", pcap, "-l", tmp_path / "default")
    assert "limits reached" not in default.stderr
