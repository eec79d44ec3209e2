"""Deterministic, cached workloads for the throughput and memory benchmarks.

Two captures, each built once and kept under ``benchmarks/.cache/`` (ignored by git):

``bench-<N>.pcap``
    Real traffic: ``../shared/tools/make-bench-pcap.sh`` replays the 20 captures of
    ``../shared/data/bench-sources`` (the shared folder as shared_data.py finds it) with
    rewritten addresses and shifted times until the file holds exactly N packets
    (2,000,000 by default, about 1 GB and 173k flows; 200,000 in short mode). Same
    sources and tool versions give the same bytes. Needs editcap/mergecap/capinfos
    (Debian ``wireshark-common``, which ``tshark`` pulls in) and tcprewrite (Debian
    ``tcpreplay``); building 2M packets takes about 25 s on 2 cores.

``udp-flows-<N>-s<SEED>-v<V>.pcap``
    Synthetic: N distinct UDP/IPv4 flows of one 60-byte Ethernet frame each, 10 us
    apart (1M flows span 10 s of packet time), written with numpy in about a second.
    Source 10.0.0.0/8 (each address used once, so every 5-tuple is distinct), destination
    in 198.18.0.0/15 (RFC 2544 benchmarking range), random ports; IPv4 header checksums
    valid, UDP checksum 0 (allowed over IPv4, RFC 768). Used to measure peak memory with
    N concurrent flows.

Both are written to a temporary name and renamed, so an interrupted build leaves no
half file behind. Run ``python benchmarks/workloads.py --help`` to build them by hand.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from shared_data import SharedNotFound, find_shared

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CACHE_DIR = BENCH_DIR / ".cache"
MAKE_BENCH = Path("tools") / "make-bench-pcap.sh"        # in the shared folder
BENCH_SOURCES = Path("data") / "bench-sources"            # in the shared folder
BENCH_TOOLS = {"editcap": "wireshark-common", "mergecap": "wireshark-common",
               "capinfos": "wireshark-common",
               "tcprewrite": "tcpreplay"}   # tool -> Debian package that ships it

FULL_PACKETS = 2_000_000      # packets in the full-mode bench capture
SHORT_PACKETS = 200_000       # packets in the short-mode (CI) bench capture
FULL_FLOWS = 1_000_000        # concurrent flows for the full-mode memory benchmark
SHORT_FLOWS = 100_000         # concurrent flows in short mode
FLOW_SEED = 20240101          # numpy seed of the flows capture
FLOW_GEN_VERSION = 1          # bump when write_udp_flows_pcap changes its output
FLOW_T0 = 1704067200          # 2024-01-01T00:00:00Z, first packet of the flows capture
FLOW_GAP_US = 10              # microseconds between two packets of the flows capture
BATCH = 4096                  # packets per pcapy next_batch call (as in the core)


class WorkloadError(RuntimeError):
    """A workload cannot be built here; the message says what is missing."""


# --------------------------------------------------------------------------- bench capture

def core_records(pcap: str, detector) -> tuple:
    """(flow records, window records) the core makes of a capture, configured as the
    engine does for this detector (default settings): what the detection stage gets."""
    import numpy as np
    import pcapy

    from wirescore._core.flowtable import FlowMeter
    from wirescore.config import Config

    cfg = Config.load()
    reader = pcapy.open_offline(pcap)
    meter = FlowMeter(reader.datalink(), max_flows=cfg["flow.max_flows"],
                      timeouts=cfg.timeouts(), active_timeout=cfg["flow.active_timeout"],
                      tcp_close=cfg["flow.tcp_close"], out_capacity=8192,
                      context=cfg["flow.context"], window_seconds=detector.window_seconds,
                      window_keys=detector.window_keys, ring_bytes=0)
    flows, windows = [], []
    while True:
        data, meta = reader.next_batch(4096)
        if not meta:
            break
        rows = np.frombuffer(meta, dtype=np.uint32).reshape(-1, 4)
        i = 0
        while i < len(rows):
            i = meter.feed(data, rows, i)
            windows.append(meter.drain_windows())
            flows.append(meter.drain())
    meter.close_window()
    windows.append(meter.drain_windows())
    while meter.shutdown():
        flows.append(meter.drain())
    flows.append(meter.drain())
    return np.concatenate(flows), np.concatenate(windows)


def bench_pcap_path(packets: int) -> Path:
    """Cache path of the make-bench-pcap.sh capture of `packets` packets."""
    return CACHE_DIR / f"bench-{packets}.pcap"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_bench_pcap(out: Path, packets: int, *, force: bool = False) -> Path:
    """Build (once) the real-traffic capture of exactly `packets` packets at `out`.

    A sidecar ``out.json`` records the packet count and the sha256 of the script that
    built it; the file is rebuilt when either differs (a capture given by path that has
    no sidecar is used as it is). Raises WorkloadError naming what is missing.
    Cost: about 12 us per packet (25 s for 2M) and the output's size on disk.
    """
    out = Path(out)
    meta = out.with_name(out.name + ".json")
    try:
        shared = find_shared()
    except SharedNotFound as exc:
        if out.is_file():
            return out
        raise WorkloadError(str(exc)) from None
    make_bench, sources = shared / MAKE_BENCH, shared / BENCH_SOURCES
    if not make_bench.is_file():
        if out.is_file():
            return out
        raise WorkloadError(f"{make_bench} not found (set WIRESCORE_SHARED to the shared "
                            "folder)")
    want = {"packets": int(packets), "script_sha256": _sha256(make_bench)}
    if out.is_file() and not force:
        if not meta.is_file():
            return out
        try:
            if json.loads(meta.read_text()) == want:
                return out
        except ValueError:
            pass
    missing = [f"{tool} (apt-get install {pkg})" for tool, pkg in BENCH_TOOLS.items()
               if shutil.which(tool) is None]
    if missing:
        raise WorkloadError("cannot build the bench capture, missing: " + ", ".join(missing))
    if not sources.is_dir():
        raise WorkloadError(f"bench sources not found at {sources} (set WIRESCORE_SHARED)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", str(make_bench), str(sources), str(tmp), str(packets)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        tail = "\n".join(line for line in proc.stderr.splitlines()
                         if "checksum ICMP" not in line and "tcpedit.c" not in line)[-2000:]
        raise WorkloadError(f"make-bench-pcap.sh exited {proc.returncode}:\n{tail}")
    got = count_packets(tmp)
    if got != packets:
        tmp.unlink(missing_ok=True)
        raise WorkloadError(f"make-bench-pcap.sh wrote {got} packets, expected {packets}")
    os.replace(tmp, out)
    meta.write_text(json.dumps(want) + "\n")
    print(f"built {out} ({packets} packets) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return out


# --------------------------------------------------------------------------- bare loop

def bare_loop(path: str | os.PathLike) -> int:
    """Read every packet of `path` with pcapy-ng next_batch and only count them.

    The floor under the full run: libpcap's reading plus one Python call per batch of
    4096 packets, nothing per packet. Returns the number of packets.
    """
    import pcapy

    reader = pcapy.open_offline(str(path))
    n = 0
    while True:
        _data, meta = reader.next_batch(BATCH)
        if not meta:
            break
        n += len(meta) // 16
    return n


count_packets = bare_loop


# --------------------------------------------------------------------------- flows capture

PCAP_GLOBAL = np.dtype([("magic", "<u4"), ("vmaj", "<u2"), ("vmin", "<u2"), ("zone", "<i4"),
                        ("sigfigs", "<u4"), ("snaplen", "<u4"), ("linktype", "<u4")])
PAYLOAD = 18                  # UDP payload bytes: makes a 60-byte (minimum) Ethernet frame
UDP_FRAME = np.dtype([
    # pcap record header (little endian, microseconds)
    ("ts_sec", "<u4"), ("ts_usec", "<u4"), ("incl_len", "<u4"), ("orig_len", "<u4"),
    # Ethernet II
    ("eth_dst", "u1", 6), ("eth_src", "u1", 6), ("eth_type", ">u2"),
    # IPv4 (RFC 791), no options
    ("ver_ihl", "u1"), ("tos", "u1"), ("total_len", ">u2"), ("ip_id", ">u2"),
    ("frag", ">u2"), ("ttl", "u1"), ("proto", "u1"), ("ip_csum", ">u2"),
    ("src", ">u4"), ("dst", ">u4"),
    # UDP (RFC 768)
    ("sport", ">u2"), ("dport", ">u2"), ("udp_len", ">u2"), ("udp_csum", ">u2"),
    ("payload", "u1", PAYLOAD),
])
FRAME_LEN = UDP_FRAME.itemsize - 16    # 60 bytes on the wire
# well-known UDP services the destination ports are drawn from, half the time
SERVICE_PORTS = np.array([53, 123, 161, 443, 500, 514, 1900, 4500, 5353, 51820], dtype=np.uint16)


def flows_pcap_path(n_flows: int, seed: int = FLOW_SEED) -> Path:
    """Cache path of the synthetic capture of `n_flows` one-packet UDP flows."""
    return CACHE_DIR / f"udp-flows-{n_flows}-s{seed}-v{FLOW_GEN_VERSION}.pcap"


def udp_flow_frames(n_flows: int, seed: int = FLOW_SEED) -> np.ndarray:
    """The records (pcap header + frame) of `n_flows` distinct one-packet UDP flows.

    Deterministic for a given (n_flows, seed). Memory: 76 bytes per flow (76 MB for 1M).
    """
    if not 0 < n_flows < (1 << 24) - 2:
        raise ValueError(f"n_flows must be in 1..{(1 << 24) - 3}, got {n_flows}")
    rng = np.random.default_rng(seed)
    rec = np.zeros(n_flows, dtype=UDP_FRAME)
    t_us = np.arange(n_flows, dtype=np.uint64) * FLOW_GAP_US
    rec["ts_sec"] = FLOW_T0 + t_us // 1_000_000
    rec["ts_usec"] = t_us % 1_000_000
    rec["incl_len"] = FRAME_LEN
    rec["orig_len"] = FRAME_LEN
    rec["eth_dst"] = (0x02, 0, 0, 0, 0, 0x02)      # locally administered unicast MACs
    rec["eth_src"] = (0x02, 0, 0, 0, 0, 0x01)
    rec["eth_type"] = 0x0800
    rec["ver_ihl"] = 0x45
    rec["total_len"] = 20 + 8 + PAYLOAD
    rec["ip_id"] = rng.integers(0, 1 << 16, n_flows, dtype=np.uint16)
    rec["frag"] = 0x4000                             # DF, offset 0
    rec["ttl"] = 64
    rec["proto"] = 17
    # 10.0.0.1 .. 10.0.0.0+n in shuffled order: each source address once
    rec["src"] = 0x0A000001 + rng.permutation(n_flows).astype(np.uint32)
    rec["dst"] = 0xC6120000 + rng.integers(0, 1 << 17, n_flows, dtype=np.uint32)
    rec["sport"] = rng.integers(1024, 65536, n_flows, dtype=np.uint32)
    high = rng.integers(1024, 65536, n_flows, dtype=np.uint32)
    service = SERVICE_PORTS[rng.integers(0, len(SERVICE_PORTS), n_flows)]
    rec["dport"] = np.where(rng.random(n_flows) < 0.5, service, high)
    rec["udp_len"] = 8 + PAYLOAD
    rec["payload"] = np.frombuffer(b"wirescore-bench-01", dtype=np.uint8)
    # IPv4 header checksum: one's complement sum of the ten 16-bit words (csum word = 0)
    s = (np.uint64(0x4500) + rec["total_len"].astype(np.uint64) + rec["ip_id"]
         + rec["frag"].astype(np.uint64) + np.uint64((64 << 8) | 17))
    for addr in ("src", "dst"):
        a = rec[addr].astype(np.uint64)
        s = s + (a >> np.uint64(16)) + (a & np.uint64(0xFFFF))
    s = (s & np.uint64(0xFFFF)) + (s >> np.uint64(16))
    s = (s & np.uint64(0xFFFF)) + (s >> np.uint64(16))
    rec["ip_csum"] = (~s) & np.uint64(0xFFFF)
    return rec


def write_udp_flows_pcap(out: Path, n_flows: int, seed: int = FLOW_SEED) -> Path:
    """Write (once) the capture of `n_flows` distinct one-packet UDP flows at `out`.

    Cost: about 1 s and 76 bytes per flow on disk for 1M flows.
    """
    out = Path(out)
    if out.is_file():
        return out
    header = np.zeros(1, dtype=PCAP_GLOBAL)
    header[0] = (0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)   # classic pcap, microseconds, Ethernet
    rec = udp_flow_frames(n_flows, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(header.tobytes())
        fh.write(rec.tobytes())
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the cached benchmark captures.")
    sub = ap.add_subparsers(dest="what", required=True)
    b = sub.add_parser("bench", help="real-traffic capture via make-bench-pcap.sh")
    b.add_argument("--packets", type=int, default=FULL_PACKETS)
    b.add_argument("--out", type=Path)
    b.add_argument("--force", action="store_true", help="rebuild even when cached")
    f = sub.add_parser("flows", help="synthetic capture of N one-packet UDP flows")
    f.add_argument("--flows", type=int, default=FULL_FLOWS)
    f.add_argument("--seed", type=int, default=FLOW_SEED)
    f.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    try:
        if args.what == "bench":
            path = build_bench_pcap(args.out or bench_pcap_path(args.packets), args.packets,
                                    force=args.force)
        else:
            path = write_udp_flows_pcap(args.out or flows_pcap_path(args.flows, args.seed),
                                        args.flows, args.seed)
    except WorkloadError as exc:
        print(f"workloads: error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
