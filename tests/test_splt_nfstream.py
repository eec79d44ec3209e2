"""The splt feature set against NFStream itself, on NFStream's own regression captures.

For every capture in ../shared/data/pcaps/peer-groundtruth/nfstream/ the test runs
NFStream (`NFStreamer(splt_analysis=20)`, the installed package) and the core
(FlowMeter(splt=20) under NFStream's flow definition: idle timeout 120 s for every
protocol, active timeout 1800 s, no end at a TCP close) and compares, per capture, the
multisets of (src, src port, dest, dest port, protocol, first packet ms, splt_direction,
splt_ps, splt_piat_ms): every flow, every value, exactly.

The captures where the two differ are listed in DIFFERENT with the reason, found by
reading them with tshark; the test checks that each of them still differs (so the list
cannot go stale) and, for the ones whose only difference is NFStream's clock, that the
sequences are equal once the start time is left out.
"""
from __future__ import annotations

import collections
import ipaddress
import json
from pathlib import Path

import pytest

from wirescore.featuresets.splt import column_names, splt_columns

nfstream = pytest.importorskip("nfstream", reason="NFStream is not installed "
                               "(pip install 'wirescore[test]')")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pcaps"
NFDIR = SHARED / "peer-groundtruth" / "nfstream"
PACKETS = 20

TUNNEL = "NFStream decodes the tunnel and keys the inner packets; the core keys the outer ones"
DIFFERENT = {
    "4in4tunnel.pcap": TUNNEL,
    "4in6tunnel.pcap": TUNNEL,
    "6in4tunnel.pcap": TUNNEL,
    "6in6tunnel.pcap": TUNNEL,
    "capwap.pcap": TUNNEL,
    "gtp-u.pcap": TUNNEL,
    "ipv6_in_gtp.pcap": TUNNEL,
    "ajp.pcap": "frames of 94 bytes carry an encapsulated copy that NFStream decodes as "
                "IP protocol 80 flows; the core counts the outer TCP packet",
    "badpackets.pcap": "the IP total length (1500) is larger than the frame (271 bytes): "
                       "the core's wire length is the larger of the two (pcapy-ng hands "
                       "it the captured length only), NFStream's the frame's",
    "fuzz-2021-06-07-c6c72a0a56.pcap": "a fuzzed frame: IP total length beyond the frame, "
                                       "as badpackets.pcap",
    "reasm_crash_anon.pcapng": "two frames whose IP total length exceeds the frame, as "
                               "badpackets.pcap",
    "avast_securedns.pcapng": "NFStream puts 4 UDP flows' first packet 3.3 s late and "
                              "their answer 0 ms after it; tshark and the core read "
                              "them 120 ms apart (frames 19-20)",
    "dns_fragmented.pcap": "the core adds an IP datagram's later fragments to its flow "
                           "(defrag.pxd keeps the ports); NFStream drops them",
}
#: captures whose sequences are equal but whose start times NFStream reads wrongly
#: (tshark and the core agree on the packet times)
CLOCK = {
    "dhcp_big_endian.pcapng": "NFStream's first_seen is 4.7e15 ms (year 150,000)",
    "dhcp_little_endian.pcapng": "NFStream's first_seen is 4.7e15 ms (year 150,000)",
}

pytestmark = pytest.mark.skipif(not NFDIR.is_dir(), reason=f"{NFDIR} not present "
                                "(../shared is not checked out)")


def captures() -> list[Path]:
    return sorted(p for p in NFDIR.iterdir()
                  if p.suffix in (".pcap", ".pcapng") and p.is_file())


def ours(path: Path) -> collections.Counter:
    from wirescore._core.flowtable import FlowMeter
    from wirescore.capture import open_source

    source = open_source(str(path))
    meter = FlowMeter(source.linktype, splt=PACKETS, context=False, app=False,
                      timeouts=[120.0] * 9, active_timeout=1800.0, tcp_close=False)
    names = column_names(PACKETS)
    out: collections.Counter = collections.Counter()

    def drain():
        recs = meter.drain()
        cols = splt_columns(recs, PACKETS)
        for i in range(len(recs)):
            v = int(recs["ip_version"][i])

            def addr(b):
                return str(ipaddress.ip_address(bytes(b[:4]) if v == 4 else bytes(b)))
            key = (addr(recs["src_addr"][i]), int(recs["src_port"][i]),
                   addr(recs["dest_addr"][i]), int(recs["dest_port"][i]),
                   int(recs["proto"][i]), int(recs["start_us"][i]) // 1000)
            out[(key, tuple(int(cols[c][i]) for c in names))] += 1

    for data, meta, linktype in source.batches(prefetch=0):
        i = 0
        while i < len(meta):
            i = meter.feed(data, meta, i, linktype)
            drain()
    while meter.shutdown():
        drain()
    drain()
    return out


def theirs(path: Path) -> collections.Counter:
    frame = nfstream.NFStreamer(source=str(path), splt_analysis=PACKETS,
                                n_dissections=0).to_pandas()
    out: collections.Counter = collections.Counter()
    for x in frame.itertuples():
        key = (x.src_ip, int(x.src_port), x.dst_ip, int(x.dst_port), int(x.protocol),
               int(x.bidirectional_first_seen_ms))
        arrays = [json.loads(a) if isinstance(a, str) else list(a)
                  for a in (x.splt_direction, x.splt_ps, x.splt_piat_ms)]
        out[(key, tuple(int(v) for a in arrays for v in a))] += 1
    return out


def without_start(c: collections.Counter) -> collections.Counter:
    return collections.Counter({(k[:5], s): n for (k, s), n in c.items()})


def test_the_lists_name_captures_that_exist():
    names = {p.name for p in captures()}
    assert len(names) > 150
    assert set(DIFFERENT) <= names and set(CLOCK) <= names


@pytest.mark.parametrize("path", captures(), ids=lambda p: p.name)
def test_splt_equals_nfstream(path: Path):
    a, b = ours(path), theirs(path)
    if path.name in DIFFERENT:
        assert a != b, f"{path.name} now agrees with NFStream: take it off DIFFERENT"
        return
    if path.name in CLOCK:
        assert a != b, f"{path.name} now agrees with NFStream: take it off CLOCK"
        assert without_start(a) == without_start(b)
        return
    assert sum(b.values()) > 0 or path.stat().st_size < 200
    only_ours, only_theirs = a - b, b - a
    assert a == b, (f"{path.name}: {sum(only_ours.values())} flows only here, "
                    f"{sum(only_theirs.values())} only in NFStream; first: "
                    f"{next(iter(only_ours), None)} / {next(iter(only_theirs), None)}")


NFSTREAM_FLOWS = [f"--flow-timeout-{c}" for c in (
    "tcp-new", "tcp-established", "tcp-closed", "udp-new", "udp-established", "icmp-new",
    "icmp-established", "other-new", "other-established")]


@pytest.mark.parametrize("name", ["iphone.pcap", "youtubeupload.pcap", "teamspeak3.pcap"])
def test_export_of_the_splt_set_equals_nfstream(tmp_path, name):
    """`wirescore run --export F.csv --feature-set splt` with NFStream's flow definition
    given as flags: every exported row's 60 columns are NFStream's, flow for flow."""
    import csv
    import subprocess
    import sys

    path = NFDIR / name
    out = tmp_path / "splt.csv"
    flags = [x for c in NFSTREAM_FLOWS for x in (c, "120")]
    subprocess.run([sys.executable, "-m", "wirescore", "-q", "run", "-r", str(path), "-l",
                    str(tmp_path / "logs"), "--no-detect", "--no-tcp-close", *flags,
                    "--export", str(out), "--feature-set", "splt"], check=True)
    names = column_names(PACKETS)
    got: collections.Counter = collections.Counter()
    with open(out, newline="") as fh:
        for row in csv.DictReader(fh):
            key = (row["src_ip"], int(row["src_port"] or 0), row["dest_ip"],
                   int(row["dest_port"] or 0))
            got[(key, tuple(int(row[c]) for c in names))] += 1
    want = collections.Counter({(k[:4], s): n for (k, s), n in theirs(path).items()})
    assert sum(got.values()) > 0 and got == want


def test_piat_truncates_times_not_gaps():
    """Two packets 0.6 ms apart across a millisecond boundary are 1 ms apart, as
    NFStream counts (times truncated to ms, then subtracted); -1 past the end."""
    import numpy as np

    from wirescore.featuresets.splt import piat_ms

    got = piat_ms(np.array([1_000_700, 5_000_000]),
                  np.array([[0, 600, 100, -1], [0, 999, 1, 2_000_000]]))
    assert got.tolist() == [[0, 1, 0, -1], [0, 0, 1, 2000]]
