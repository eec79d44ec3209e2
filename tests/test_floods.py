"""Floods of unique flows through a pipe: memory stays bounded, evictions are counted,
no packet is lost.

A generated pcap stream (Ethernet/IPv4; every packet a new flow) is written to
`wirescore run -r - -l DIR --no-detect --max-flows 10000` through its standard input:
- a SYN flood: random sources (a bijective scramble of the packet number, so every
  source address and port pair is unique) to one server port;
- a UDP spray: one source to random destination addresses and ports;
- half-open DNS-over-TCP sessions: random sources, each one data segment that the
  application layer takes for DNS and that never completes (a summary record and a
  stream slot per flow: the pools' take-back keeps them bounded).
Packets are 1 us apart, so the whole stream spans a few seconds of packet time: no flow
reaches an idle timeout and every flow beyond the table's size is an eviction. Checked:
- exit 0, and the last stats event counts every packet (decoder.pkts);
- flow.total = flows sent; flow.wrk.flows_evicted = flows - max_flows (each new flow
  past a full table evicts exactly one); flows ended by timeout = 0; the max_flows
  flows still live at the end end with reason "shutdown";
- no packet is lost: the packets of the flow events in eve.json add up to the packets fed,
  and there is one flow event per flow;
- the child's peak resident memory (wait4's ru_maxrss) stays under RSS_LIMIT_MB, and grows
  by less than RSS_GROWTH_MB from a stream of 1/4 the size (memory must not follow the
  number of flows once the table is full).
Throughput (packets/s, from wirescore's own summary line and from the wall clock) is printed,
never asserted.

CI size: FLOOD_PACKETS (1,000,000 a flood). WIRESCORE_FLOOD_PACKETS=N runs N instead
(e.g. 10000000: eve.json then takes about 6 GB in the pytest temporary directory).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import peak_rss_mb, with_peak_rss

FLOOD_PACKETS = int(os.environ.get("WIRESCORE_FLOOD_PACKETS", "1000000"))
MAX_FLOWS = 10_000
RSS_LIMIT_MB = 256          # measured 95-115 MB (interpreter, numpy, pcapy, the core with its
                            # ~22 MB context tables and a 10,000-flow table, queued batches);
                            # a default 1M-flow table alone would take ~340 MB
RSS_GROWTH_MB = 48          # allowed growth from 1/4 of the flood to all of it: peaks vary by
                            # ~20 MB run to run (how far the writer thread's queue of record
                            # batches fills); a leak of 72 bytes a flow would add 51 MB
CHUNK = 65536               # packets generated per numpy block
T0 = 1_700_000_000          # first packet's second

ETH = bytes.fromhex("020000000002" "020000000001" "0800")
SERVER = bytes([192, 0, 2, 1])
CLIENT = bytes([198, 51, 100, 7])


# a half-open DNS-over-TCP session's first segment: a length (256) and the start of a
# query header (id, flags 0x0100, one question): the probe takes it for DNS, and the
# message never completes, so every such flow holds a summary and a stream slot
DNS_TCP_START = bytes.fromhex("0100" "1234" "0100" "0001" "0000" "0000" "0000")


def _template(kind: str) -> bytes:
    """Ethernet + IPv4 (+ TCP SYN, TCP data to port 53, or UDP, 8 payload bytes) with
    fixed fields."""
    proto = 17 if kind == "udp" else 6
    if kind == "syn":
        l4 = bytes.fromhex("04d2" "0050" "00000001" "00000000" "5002" "faf0" "0000" "0000")
    elif kind == "tcpdata":
        l4 = bytes.fromhex("04d2" "0035" "00000001" "00000000" "5018" "faf0" "0000" "0000") \
            + DNS_TCP_START
    else:
        l4 = bytes.fromhex("04d2" "0035" "0010" "0000") + b"payload!"
    ip = bytes([0x45, 0, 0, 20 + len(l4), 0, 1, 0, 0, 64, proto, 0, 0]) + SERVER + SERVER
    return ETH + ip + l4


def _scramble(i: np.ndarray, mult: int, bits: int) -> np.ndarray:
    """A bijection of [0, 2**bits): unique, random-looking values for unique inputs."""
    return (i.astype(np.uint64) * np.uint64(mult)) & np.uint64((1 << bits) - 1)


def flood_chunks(kind: str, packets: int):
    """Blocks of pcap records (bytes) for `packets` packets, each a new flow."""
    frame = np.frombuffer(_template(kind), dtype=np.uint8)
    rec_len = 16 + len(frame)
    for start in range(0, packets, CHUNK):
        n = min(CHUNK, packets - start)
        i = np.arange(start, start + n, dtype=np.uint64)
        block = np.empty((n, rec_len), dtype=np.uint8)
        us = i                                            # 1 us apart
        hdr = block[:, :16].view("<u4")                   # ts_sec, ts_usec, caplen, len
        hdr[:, 0] = (T0 + us // 1_000_000).astype(np.uint32)
        hdr[:, 1] = (us % 1_000_000).astype(np.uint32)
        hdr[:, 2] = len(frame)
        hdr[:, 3] = len(frame)
        block[:, 16:] = frame
        ip = 16 + 14
        if kind != "udp":                                 # random source address and port
            addr = _scramble(i, 2654435761, 32).astype(">u4")
            block[:, ip + 12:ip + 16] = addr.view(np.uint8).reshape(n, 4)
            port = (1024 + (_scramble(i, 40503, 16) % np.uint64(60000))).astype(">u2")
            block[:, ip + 20:ip + 22] = port.view(np.uint8).reshape(n, 2)
        else:                                             # random destination and port
            block[:, ip + 12:ip + 16] = np.frombuffer(CLIENT, dtype=np.uint8)
            addr = _scramble(i, 2246822519, 32).astype(">u4")
            block[:, ip + 16:ip + 20] = addr.view(np.uint8).reshape(n, 4)
            port = (_scramble(i, 52711, 16)).astype(">u2")
            block[:, ip + 22:ip + 24] = port.view(np.uint8).reshape(n, 2)
        yield block.tobytes()


PCAP_HEADER = bytes.fromhex("d4c3b2a1" "0200" "0400" "00000000" "00000000" "ffff0000" "01000000")


def run_flood(kind: str, packets: int, logdir: Path) -> dict:
    """Pipe the flood into wirescore; returns exit status, stderr, peak RSS (MB), wall time."""
    cmd = with_peak_rss([sys.executable, "-m", "wirescore", "run", "-r", "-", "-l", str(logdir),
                         "--no-detect", "--max-flows", str(MAX_FLOWS)])
    err_path = logdir.parent / f"{logdir.name}.stderr"
    with open(err_path, "w") as err:
        child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=err)
    written = {"bytes": 0, "error": None}

    def feed() -> None:
        try:
            child.stdin.write(PCAP_HEADER)
            for block in flood_chunks(kind, packets):
                child.stdin.write(block)
                written["bytes"] += len(block)
        except (BrokenPipeError, OSError) as exc:
            written["error"] = exc
        finally:
            try:
                child.stdin.close()
            except OSError:
                pass

    started = time.monotonic()
    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    report = child.stdout.read()
    child.wait()
    wall = time.monotonic() - started
    writer.join(timeout=60)
    return {"rc": child.returncode, "stderr": err_path.read_text(errors="replace"),
            "rss_mb": peak_rss_mb(report), "wall": wall,
            "write_error": written["error"]}


FLOW_RE = re.compile(rb'"pkts_toserver":(\d+),"pkts_toclient":(\d+)')
REASON_RE = re.compile(rb'"reason":"([a-z_]+)"')


def scan_eve(eve: Path) -> dict:
    """Flow events, their packets and reasons, and the last stats event, streaming."""
    flows = packets = 0
    reasons: dict = {}
    last_stats = None
    with open(eve, "rb") as fh:
        for line in fh:
            if not line.endswith(b"\n"):
                raise AssertionError(f"partial last line in {eve}: {line[-200:]!r}")
            if b'"event_type":"flow"' in line:
                m = FLOW_RE.search(line)
                flows += 1
                packets += int(m.group(1)) + int(m.group(2))
                r = REASON_RE.search(line).group(1).decode()
                reasons[r] = reasons.get(r, 0) + 1
            elif b'"event_type":"stats"' in line:
                last_stats = json.loads(line)["stats"]
    return {"flows": flows, "packets": packets, "reasons": reasons, "stats": last_stats}


def _summary_rate(stderr: str) -> str:
    m = re.search(r"\(([\d,]+) packets/s\)", stderr)
    return m.group(1) if m else "?"


@pytest.mark.parametrize("kind", ["syn", "udp", "tcpdata"])
def test_flood_of_unique_flows(kind, tmp_path, capsys):
    small = run_flood(kind, FLOOD_PACKETS // 4, tmp_path / "small")
    big = run_flood(kind, FLOOD_PACKETS, tmp_path / "big")
    for run in (small, big):
        assert run["rc"] == 0 and "Traceback" not in run["stderr"], run["stderr"][-3000:]
        assert run["write_error"] is None, run["write_error"]
    got = scan_eve(tmp_path / "big" / "eve.json")
    stats = got["stats"]
    assert stats is not None, "no stats event"
    flow, decoder = stats["flow"], stats["decoder"]
    with capsys.disabled():
        print(f"\n  {kind} flood: {FLOOD_PACKETS:,} packets/flows, --max-flows {MAX_FLOWS:,}: "
              f"peak RSS {big['rss_mb']:.0f} MB (1/4 of it: {small['rss_mb']:.0f} MB); "
              f"{_summary_rate(big['stderr'])} packets/s by wirescore's summary, "
              f"{FLOOD_PACKETS / big['wall']:,.0f} packets/s wall clock incl. start-up "
              f"({big['wall']:.1f} s)")
    assert decoder["pkts"] == FLOOD_PACKETS and decoder["invalid"] == 0
    assert flow["total"] == FLOOD_PACKETS, f"flow.total {flow['total']}"
    assert flow["wrk"]["flows_evicted"] == FLOOD_PACKETS - MAX_FLOWS, \
        f"flows_evicted {flow['wrk']['flows_evicted']}, expected {FLOOD_PACKETS - MAX_FLOWS}"
    assert flow["mgr"]["flows_timeout"] == 0
    assert got["flows"] == FLOOD_PACKETS, f"{got['flows']} flow events for {FLOOD_PACKETS} flows"
    assert got["packets"] == FLOOD_PACKETS, \
        f"flow events hold {got['packets']} packets, {FLOOD_PACKETS} were fed"
    assert got["reasons"] == {"forced": FLOOD_PACKETS - MAX_FLOWS, "shutdown": MAX_FLOWS}, \
        got["reasons"]
    if kind == "tcpdata":            # every flow parsed as DNS, the stream pool bounded
        ports = 1024 + _scramble(np.arange(FLOOD_PACKETS), 40503, 16) % np.uint64(60000)
        other = int(np.isin(ports, (5353, 5355)).sum())      # mDNS's, LLMNR's: not DNS
        assert stats["app_layer"]["flow"] == {"failed_tcp": other, "failed_udp": 0,
                                              "dns_tcp": FLOOD_PACKETS - other,
                                              "dns_udp": 0, "http": 0}, stats["app_layer"]
    assert big["rss_mb"] < RSS_LIMIT_MB, f"peak RSS {big['rss_mb']:.0f} MB >= {RSS_LIMIT_MB} MB"
    assert big["rss_mb"] - small["rss_mb"] < RSS_GROWTH_MB, \
        (f"peak RSS grew from {small['rss_mb']:.0f} MB ({FLOOD_PACKETS // 4:,} flows) to "
         f"{big['rss_mb']:.0f} MB ({FLOOD_PACKETS:,} flows) with a {MAX_FLOWS:,}-flow table")


def test_generator_makes_unique_flows():
    """The flood generator itself: valid records, every packet a distinct flow key."""
    import io

    import dpkt

    for kind in ("syn", "udp", "tcpdata"):
        blob = PCAP_HEADER + b"".join(flood_chunks(kind, 3000))
        keys = set()
        for ts, buf in dpkt.pcap.Reader(io.BytesIO(blob)):
            ip = dpkt.ethernet.Ethernet(buf).data
            keys.add((ip.src, ip.dst, ip.data.sport, ip.data.dport, ip.p))
        assert len(keys) == 3000 and ts < T0 + 1
