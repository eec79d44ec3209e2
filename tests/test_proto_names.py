"""EVE's proto names as Suricata writes them: the IANA keyword of each IP protocol it has
a name for, spelled as in Suricata's src/util-proto-name.c (known_proto[]), the number
("253") for the others. Checked three ways: our table against spellings copied by hand
from Suricata's source (not from core_names), the compiled core's table against ours,
and the flow lines of real captures against the protocol tshark decodes for the same
addresses."""
from __future__ import annotations

import subprocess
from collections import defaultdict

import pytest

from conftest import SHARED_DATA, fixture_captures, need_shared, read_eve, run_wirescore
from wirescore import core_names as names
from wirescore._core import ctables
from wirescore.outputs.eve import proto_name

# Suricata 7.0 / 8.0 known_proto[] entries, by number, as its flow and alert lines write
# them (SCProtoNameValid: a name for 0..143, the number above); "Any" is IANA's keyword
# for five "any ... protocol" numbers and Suricata writes it as is
SURICATA = {0: "HOPOPT", 1: "ICMP", 2: "IGMP", 4: "IP-in-IP", 6: "TCP", 17: "UDP",
            41: "IPv6", 43: "IPv6-Route", 44: "IPv6-Frag", 46: "RSVP", 47: "GRE", 50: "ESP",
            51: "AH", 58: "IPv6-ICMP", 59: "IPv6-NoNxt", 60: "IPv6-Opts", 61: "Any",
            63: "Any", 68: "Any", 88: "EIGRP", 89: "OSPF", 93: "AX.25", 97: "ETHERIP",
            99: "Any", 103: "PIM", 107: "A/N", 108: "IPComp", 112: "VRRP", 114: "Any",
            115: "L2TP", 124: "IS-IS", 132: "SCTP", 136: "UDPLite", 137: "MPLS-in-IP",
            138: "manet", 143: "Ethernet"}
UNNAMED = (144, 170, 200, 253, 254, 255)

# captures whose flows include protocols other than TCP and UDP (tshark: ip.proto)
SHARED_CASES = (
    "peer-groundtruth/suricata-verify/eve-flow-esp/input.pcap",   # ESP
    "peer-groundtruth/ndpi/ospfv2_add_new_prefix.pcap",           # OSPF
    "peer-groundtruth/ndpi/fuzz-2006-09-29-28586.pcap",           # L2TP, 170
    "peer-groundtruth/nfstream/skype.pcap",                       # IGMP, ICMP
    "peer-groundtruth/nfstream/iphone.pcap",                      # IPv6-ICMP, IGMP
    "peer-groundtruth/nfstream/4in4tunnel.pcap",                  # IP-in-IP
    "peer-groundtruth/zeek/communityid__sctp.pcap",               # SCTP
    "varied/robustness/zeek-unknown-ip-short-payload.pcap",       # 253
)
# what the shared cases must show between them, so that the check cannot pass on nothing
EXPECTED_NAMES = {"ESP", "OSPF", "L2TP", "170", "IGMP", "ICMP", "IPv6-ICMP", "IP-in-IP",
                  "SCTP", "253"}
# tshark fields naming an IP protocol: IPv4's, IPv6's, and each IPv6 extension header's
TSHARK_PROTO_FIELDS = ("ip.proto", "ipv6.nxt", "ipv6.hopopts.nxt", "ipv6.routing.nxt",
                       "ipv6.fraghdr.nxt", "ipv6.dstopts.nxt")


def test_names_are_suricatas():
    for number, name in SURICATA.items():
        assert names.PROTO_NAMES[number] == name, number
        assert proto_name(number) == name
    for number in UNNAMED:
        assert number not in names.PROTO_NAMES
        assert proto_name(number) == str(number)
    assert len(names.IP_PROTO_NAMES) == 144


def test_the_core_writes_the_same_names():
    assert ctables.PROTO_NAMES == names.PROTO_NAMES
    for _, number, name, _ in names.PROTOS:
        assert names.PROTO_NAMES[number] == name


def test_names_read_back_only_when_one_number_has_them():
    assert names.PROTO_NUMBERS["GRE"] == 47 and names.PROTO_NUMBERS["IPv6-ICMP"] == 58
    assert "Any" not in names.PROTO_NUMBERS


def _tshark_protos(pcap) -> dict:
    """{frozenset of the two addresses: IP protocol numbers tshark decodes between them}
    (every IP header of the packet, tunnels included)."""
    cmd = ["tshark", "-n", "-r", str(pcap), "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=,", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src",
           "-e", "ipv6.dst", *[a for f in TSHARK_PROTO_FIELDS for a in ("-e", f)]]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    seen = defaultdict(set)
    for line in out.splitlines():
        cols = [c.split(",") if c else [] for c in line.split("\t")]
        addrs = cols[0] + cols[1] + cols[2] + cols[3]
        protos = {int(p) for col in cols[4:] for p in col}
        for a in addrs:
            for b in addrs:
                seen[frozenset((a, b))] |= protos
    return seen


def _check_flows(pcap, tmp_path) -> set:
    """Each flow line's proto is Suricata's name of a protocol tshark decodes between its
    two addresses; returns the names seen."""
    logdir = tmp_path / pcap.stem
    # (a capture damaged part way, as one fixture is, still has its flows written)
    run_wirescore("run", "-r", pcap, "-l", logdir, "--no-detect", check=False)
    seen = _tshark_protos(pcap)
    numbers = {name: number for number, name in SURICATA.items()}
    got = set()
    for ev in read_eve(logdir):
        if ev["event_type"] != "flow":
            continue
        name = ev["proto"]
        number = int(name) if name.isdigit() else numbers[name]
        if name.isdigit():
            assert number > 143, f"{pcap.name}: {name} has a Suricata name"
        assert number in seen[frozenset((ev["src_ip"], ev["dest_ip"]))], (pcap.name, ev)
        got.add(name)
    return got


def test_fixture_flows_name_the_protocol_tshark_sees(tmp_path):
    got = set()
    for pcap in fixture_captures():
        got |= _check_flows(pcap, tmp_path)
    assert got >= {"TCP", "UDP"}


def test_shared_flows_name_the_protocol_tshark_sees(tmp_path):
    need_shared()
    got = set()
    for rel in SHARED_CASES:
        pcap = SHARED_DATA / "pcaps" / rel
        if not pcap.exists():
            pytest.fail(f"{rel} is listed here but missing from the shared captures")
        got |= _check_flows(pcap, tmp_path)
    assert got >= EXPECTED_NAMES, EXPECTED_NAMES - got
