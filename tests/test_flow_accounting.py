"""Flow accounting: wirescore's flow events against an independent reference.

For every capture in tests/data/pcaps and, when ../shared is present, every capture under
../shared/data/pcaps, `wirescore run -r X -l DIR --no-detect` must write flow events whose
packets and bytes, summed per canonical 5-tuple (vlan ids, IP protocol, endpoint pair),
equal those of tests/flowref.py, a dpkt-based reading of the decode and accounting rules of
the core contract. The core only starts a new flow for a key after the previous one ended,
so the sums do not depend on timeouts. Every flow event must also carry packets, the first
of them toserver, and the last stats event must count every frame read (decoder.pkts) and
the errors among them (decoder.invalid), as the reference does.

Captures the contract does not cover are skipped one by one with the reason (gzip'd traces,
link types outside the contract). A capture that libpcap cannot read to the end must make
wirescore exit with status 1 and a one-line error, after writing the flows of what it read.

Crafted captures (written here with dpkt) then take every decode rule once on every link
type of the contract, with the edge cases no shared capture holds.

The shared sweep runs about 570 captures; wirescore runs two at a time, one capture ahead of
the test asking for it (PrefetchRuns), so the sweep takes about a minute and a half on 2 cores
while every capture keeps its own test id.
"""
from __future__ import annotations

import ipaddress
import shutil
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import dpkt
import pytest

from conftest import FIXTURES, SHARED_DATA, fixture_captures, read_eve, shared_available
from flowref import (PORT_PROTOS, SUPPORTED_LINKTYPES, file_kind, flow_key, read_capture,
                     reference_flows)
from wirescore.core_names import PROTO_NUMBERS as CORE_PROTO_NUMBERS

PROTO_NUMBERS = CORE_PROTO_NUMBERS   # EVE proto names (Suricata spellings: test_proto_names.py)
LINKTYPE_NAMES = {9: "PPP", 104: "Cisco HDLC", 105: "IEEE 802.11", 127: "802.11 radiotap",
                  192: "PPI", 281: "Broadcom tag", 284: "DSA tag"}
MAX_LINES = 12          # mismatch lines shown per capture
GZIP_SUFFIXES = (".gz",)


# --------------------------------------------------------------------------------------
# Which captures, and which of them the contract covers
# --------------------------------------------------------------------------------------

def shared_root() -> Path:
    return SHARED_DATA / "pcaps"


def shared_capture_files() -> list[Path]:
    """Every capture file under ../shared/data/pcaps, gzip'd ones included (to skip)."""
    if not shared_available():
        return []
    names = (".pcap", ".pcapng", ".cap")
    return sorted(p for p in shared_root().rglob("*") if p.is_file() and
                  (p.suffix in names or p.name.endswith(tuple(n + ".gz" for n in names))))


def capture_params() -> list:
    """pytest params: fixtures first, then the shared captures, ids = relative paths."""
    params = [pytest.param(p, id=f"fixtures/{p.relative_to(FIXTURES)}")
              for p in fixture_captures()]
    params += [pytest.param(p, id=f"shared/{p.relative_to(shared_root())}",
                            marks=pytest.mark.shared)
               for p in shared_capture_files()]
    return params


def uncovered_reason(path: Path) -> str | None:
    """Why the contract does not cover this capture, or None when it does."""
    if path.name.endswith(GZIP_SUFFIXES) or file_kind(path) == "gzip":
        return "gzip'd trace: libpcap (so wirescore) reads no gzip"
    if file_kind(path) == "unknown":
        return "neither pcap nor pcapng (unknown magic number)"
    linktype = read_capture(path).linktype
    if linktype not in SUPPORTED_LINKTYPES:
        name = LINKTYPE_NAMES.get(linktype, "unnamed")
        return f"link type {linktype} ({name}) is outside the contract"
    return None


# --------------------------------------------------------------------------------------
# Running wirescore ahead of the tests
# --------------------------------------------------------------------------------------

class PrefetchRuns:
    """Runs `wirescore run -r X -l DIR --no-detect [extra]` two at a time, ahead of the tests.

    get(path) returns (events, CompletedProcess) like conftest's run_capture fixture (the
    command of conftest.run_wirescore), after starting the run of the next capture in test
    order, so that one runs while the test compares the other. Processes are started from
    the calling thread only (no thread pool: concurrent vfork+exec from threads sometimes
    failed with EFAULT); their output goes to files, so no pipe can fill up."""

    def __init__(self, order: list[Path], workdir: Path, extra: tuple = (), workers: int = 2,
                 wanted=lambda path: True):
        self._order = list(order)
        self._index = {p: i for i, p in enumerate(self._order)}
        self._workdir = Path(workdir)
        self._extra = tuple(map(str, extra))
        self._workers = workers
        self._wanted = wanted
        self._running = {}                    # path -> (Popen, logdir, cmd)
        self._serial = 0

    def _start(self, path: Path):
        if path in self._running:
            return
        self._serial += 1
        logdir = self._workdir / f"run{self._serial}"
        logdir.mkdir(parents=True)
        cmd = [sys.executable, "-m", "wirescore", "run", "-r", str(path), "-l", str(logdir),
               "--no-detect", *self._extra]
        with open(logdir / "stdout", "w") as out, open(logdir / "stderr", "w") as err:
            child = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self._running[path] = (child, logdir, cmd)

    def _finish(self, path: Path, timeout: float = 600):
        child, logdir, cmd = self._running.pop(path)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        proc = subprocess.CompletedProcess(cmd, child.returncode,
                                           (logdir / "stdout").read_text(errors="replace"),
                                           (logdir / "stderr").read_text(errors="replace"))
        events = read_eve(logdir) if (logdir / "eve.json").exists() else []
        shutil.rmtree(logdir, ignore_errors=True)
        return events, proc

    def get(self, path: Path):
        self._start(path)
        start = self._index.get(path, len(self._order))
        for nxt in self._order[start + 1:]:
            if len(self._running) >= self._workers:
                break
            if nxt not in self._running and self._wanted(nxt):
                self._start(nxt)
        return self._finish(path)

    def close(self):
        for path in list(self._running):
            self._finish(path)


@pytest.fixture(scope="module")
def prefetch(tmp_path_factory):
    paths = [p.values[0] for p in capture_params()]
    runs = PrefetchRuns(paths, tmp_path_factory.mktemp("flow_accounting"),
                        wanted=lambda path: uncovered_reason(path) is None)
    yield runs
    runs.close()


# --------------------------------------------------------------------------------------
# Reading the flow events
# --------------------------------------------------------------------------------------

def eve_flow_key(event: dict):
    """The canonical key of one EVE flow event (same shape as flowref.flow_key)."""
    proto_name = event["proto"]
    proto = PROTO_NUMBERS.get(proto_name)
    if proto is None:
        proto = int(proto_name)
    src = str(ipaddress.ip_address(event["src_ip"]))
    dst = str(ipaddress.ip_address(event["dest_ip"]))
    return flow_key(tuple(event.get("vlan", ())), proto, src, event.get("src_port", 0),
                    dst, event.get("dest_port", 0))


def flow_event_problems(event: dict) -> list[str]:
    """Contract rules one flow event breaks on its own (packets, ports)."""
    flow = event["flow"]
    where = f"flow {event.get('src_ip')}:{event.get('src_port', '')} -> " \
            f"{event.get('dest_ip')}:{event.get('dest_port', '')} {event.get('proto')}"
    problems = []
    if flow["pkts_toserver"] + flow["pkts_toclient"] <= 0:
        problems.append(f"{where}: no packets")
    elif flow["pkts_toserver"] < 1:
        problems.append(f"{where}: the first packet is not toserver (pkts_toserver 0)")
    has_ports = "src_port" in event and "dest_port" in event
    proto = PROTO_NUMBERS.get(event["proto"], None)
    if proto in PORT_PROTOS and not has_ports:
        problems.append(f"{where}: {event['proto']} flow without ports")
    if proto not in PORT_PROTOS and ("src_port" in event or "dest_port" in event):
        problems.append(f"{where}: {event['proto']} flow with ports")
    return problems


def eve_totals(events: list[dict]):
    """(key -> [packets, bytes], key -> number of flow events, problems)."""
    totals, counts, problems = {}, Counter(), []
    for event in events:
        if event.get("event_type") != "flow":
            continue
        problems += flow_event_problems(event)
        flow = event["flow"]
        key = eve_flow_key(event)
        sums = totals.setdefault(key, [0, 0])
        sums[0] += flow["pkts_toserver"] + flow["pkts_toclient"]
        sums[1] += flow["bytes_toserver"] + flow["bytes_toclient"]
        counts[key] += 1
    return totals, counts, problems


def compare_totals(expected: dict, got: dict, counts: Counter) -> list[str]:
    """One line per key whose totals differ (missing, extra, packets or bytes)."""
    lines = []
    for key in sorted(set(expected) | set(got), key=repr):
        want, have = expected.get(key), got.get(key)
        if want == have:
            continue
        if have is None:
            lines.append(f"missing {key}: reference {want[0]} pkts {want[1]} bytes")
        elif want is None:
            lines.append(f"extra   {key}: wirescore {have[0]} pkts {have[1]} bytes "
                         f"in {counts[key]} flow(s)")
        else:
            lines.append(f"differs {key}: reference {want[0]} pkts {want[1]} bytes, "
                         f"wirescore {have[0]} pkts {have[1]} bytes in {counts[key]} flow(s)")
    return lines


def exit_problems(ref, proc) -> list[str]:
    """Exit status and stderr against the reference's reading of the capture."""
    if ref.read_error is None:
        if proc.returncode != 0:
            return [f"exit status {proc.returncode} on a readable capture:\n{proc.stderr[-2000:]}"]
        return []
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("wirescore: error:")]
    if proc.returncode != 1 or len(errors) != 1 or "Traceback" in proc.stderr:
        return [f"libpcap stops early ({ref.read_error}): expected exit 1 and one "
                f"'wirescore: error:' line, got exit {proc.returncode}:\n{proc.stderr[-2000:]}"]
    return []


def stats_problems(ref, events: list[dict]) -> list[str]:
    """The last stats event counts every frame read, and the errors among them.

    Errors and non-IP frames both make no flow, so this is what tells them apart."""
    stats = [e for e in events if e.get("event_type") == "stats"]
    if not stats:
        return ["no stats event (one is written at the end of every run)"]
    decoder = stats[-1]["stats"].get("decoder", {})
    got = (decoder.get("pkts"), decoder.get("invalid"))
    if got != (ref.frames, ref.error_count):
        reasons = ", ".join(f"{n} x {r}" for r, n in sorted(ref.errors.items())) or "none"
        return [f"stats decoder pkts/invalid {got[0]}/{got[1]}, reference "
                f"{ref.frames}/{ref.error_count} (errors: {reasons})"]
    return []


def accounting_report(path: Path, events: list[dict], proc) -> list[str]:
    """Everything wrong with wirescore's flows for one capture ([] when right)."""
    ref = reference_flows(path)
    problems = exit_problems(ref, proc) + stats_problems(ref, events)
    totals, counts, event_problems = eve_totals(events)
    problems += event_problems
    problems += compare_totals(ref.flows, totals, counts)
    if len(problems) > MAX_LINES:
        problems = problems[:MAX_LINES] + [f"... and {len(problems) - MAX_LINES} more"]
    return problems


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", capture_params())
def test_flow_totals_match_reference(path, prefetch):
    """Per canonical 5-tuple, packets and bytes summed over flow events = the reference."""
    reason = uncovered_reason(path)
    if reason:
        pytest.skip(reason)
    events, proc = prefetch.get(path)
    problems = accounting_report(path, events, proc)
    assert not problems, f"{path}:\n  " + "\n  ".join(problems)


def test_shared_sweep_present():
    """The shared sweep is not silently empty: skip with the reason, or hundreds of files."""
    if not shared_available():
        pytest.skip(f"shared captures not found at {SHARED_DATA} (set WIRESCORE_SHARED)")
    files = shared_capture_files()
    covered = [p for p in files if uncovered_reason(p) is None]
    assert len(files) > 500 and len(covered) > 500, (len(files), len(covered))


def test_reference_sees_flows():
    """The reference itself finds flows in the shipped captures (guards an empty compare)."""
    captures = fixture_captures()
    if not captures:
        pytest.skip(f"no fixture captures in {FIXTURES} yet")
    assert all(reference_flows(p).flows for p in captures)


# --------------------------------------------------------------------------------------
# Crafted captures: each decode rule of the contract once, on every link type
# --------------------------------------------------------------------------------------

A4, B4 = "10.0.0.1", "10.0.0.2"
A6, B6 = "2001:db8::1", "2001:db8::2"
MAC = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"


def ipv4(proto: int, l4: bytes, src=A4, dst=B4, ident=1, offset=0, more=False, ihl=5,
         total=None, options=b"") -> bytes:
    """An IPv4 header (+ options) and payload; total defaults to the real length."""
    hlen = 20 + len(options)
    total = hlen + len(l4) if total is None else total
    flags = (0x2000 if more else 0) | (offset & 0x1FFF)
    return (struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, total, ident, flags, 64, proto, 0,
                        ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
            + options + l4)


def ipv6(next_header: int, payload: bytes, src=A6, dst=B6, plen=None) -> bytes:
    plen = len(payload) if plen is None else plen
    return (struct.pack(">IHBB", 0x60000000, plen, next_header, 64)
            + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + payload)


def tcp(sport=1234, dport=80, flags=0x18, doff=5, data=b"") -> bytes:
    return struct.pack(">HHIIBBHHH", sport, dport, 1, 0, doff << 4, flags, 1024, 0, 0) + \
        b"\0" * max(0, doff * 4 - 20) + data


def udp(sport=5353, dport=53, data=b"q") -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(data), 0) + data


def ether(ethertype: int, payload: bytes, tags=()) -> bytes:
    """Ethernet II with VLAN tags given as (tpid, vlan id) pairs, outermost first."""
    head = MAC
    for tpid, vid in tags:
        head += struct.pack(">HH", tpid, vid)
    return head + struct.pack(">H", ethertype) + payload


def ext6(next_header: int, body_len8: int = 0) -> bytes:
    """A hop-by-hop/routing/destination-options header of (body_len8 + 1) * 8 bytes."""
    return bytes([next_header, body_len8]) + b"\0" * (6 + 8 * body_len8)


def frag6(next_header: int, offset8: int, more: bool, ident: int) -> bytes:
    return struct.pack(">BBHI", next_header, 0, (offset8 << 3) | int(more), ident)


def ethernet_frames() -> list[bytes]:
    """Ethernet frames covering VLAN/QinQ, MPLS, PPPoE, IPv6 headers, fragments, errors."""
    ip = 0x0800
    frames = [
        ether(ip, ipv4(6, tcp(flags=0x02))),                                  # TCP SYN
        ether(ip, ipv4(6, tcp(sport=80, dport=1234, flags=0x12), src=B4, dst=A4)),
        ether(ip, ipv4(17, udp()), tags=((0x88A8, 100), (0x8100, 200))),     # QinQ
        ether(ip, ipv4(17, udp()), tags=((0x9100, 7),)),                      # legacy tag
        ether(ip, ipv4(17, udp()), tags=((0x8100, 1), (0x8100, 2), (0x8100, 3))),  # error
        MAC + b"\x81\x00\x00",                                                # tag cut: error
        ether(0x8847, b"\x00\x01\x00\x40" + b"\x00\x02\x01\x40" + ipv4(17, udp())),  # MPLS
        ether(0x8847, b"\x00\x01\x01\x40" + b"\x00\x00\x00\x00" + b"\0" * 40),  # PW: error
        ether(0x8864, b"\x11\x00\x00\x01\x00\x40\x00\x57" + ipv6(17, udp())),  # PPPoE v6
        ether(0x8864, b"\x11\x00\x00\x01\x00\x40\xc0\x21" + b"\0" * 20),      # LCP: non-IP
        ether(0x0806, b"\0" * 28),                                            # ARP
        MAC + struct.pack(">H", 46) + b"\xaa" * 46,                           # 802.3 length
        b"\0" * 10,                                                           # runt: error
        ether(ip, ipv4(47, b"\x00\x00\x08\x00" + ipv4(17, udp()))),           # GRE, no inner
        ether(ip, ipv4(132, struct.pack(">HHII", 2905, 2905, 0, 0) + b"\0" * 16)),  # SCTP
        ether(ip, ipv4(132, struct.pack(">HH", 1, 2) + b"\0" * 4)),           # 8-byte SCTP
        ether(ip, ipv4(1, b"\x08\x00\x00\x00\x00\x01\x00\x01")),              # ICMP echo
        ether(ip, ipv4(1, b"\x00\x00\x00\x00\x00\x01\x00\x01", src=B4, dst=A4)),
        ether(0x86DD, ipv6(58, b"\x80\x00\x00\x00\x00\x01\x00\x01")),         # ICMPv6
        ether(0x86DD, ipv6(0, ext6(60) + ext6(17) + udp(7, 7))),              # HBH, DO, UDP
        ether(0x86DD, ipv6(51, bytes([17, 1]) + b"\0" * 10 + udp(9, 9))),     # AH (12 bytes)
        ether(0x86DD, ipv6(0, bytes([60, 4]) + b"\0" * 6)),                   # ext cut: error
        ether(0x86DD, ipv6(44, frag6(17, 0, True, 77) + udp(4000, 53, b"x" * 16))),
        ether(0x86DD, ipv6(44, frag6(17, 3, False, 77) + b"y" * 16)),         # joins 4000/53
        ether(ip, ipv4(17, b"z" * 16, ident=9, offset=3)),                    # later, alone
        ether(ip, ipv4(17, udp(6000, 53, b"x" * 16), ident=10, more=True)),   # first fragment
        ether(ip, ipv4(17, b"z" * 16, ident=10, offset=3)),                   # joins 6000/53
        ether(ip, ipv4(6, b"z" * 16, ident=11, offset=3)),                    # TCP later frag
        ether(ip, ipv4(17, udp(), ihl=4)),                                    # IHL < 5: error
        ether(ip, ipv4(17, udp(), total=19)),                                 # total < hlen
        ether(ip, ipv4(17, udp(), ihl=15, total=60)[:34]),                    # header cut
        ether(ip, ipv4(6, tcp(doff=4))),                                      # doff < 5
        ether(ip, ipv4(6, tcp(doff=6)[:20])),                                 # doff past payload
        ether(ip, ipv4(6, tcp()[:19])),                                       # 19-byte TCP
        ether(ip, ipv4(17, udp()[:7])),                                       # 7-byte UDP
        ether(ip, ipv4(1, b"\x08\x00\x00")),                                  # 3-byte ICMP
        ether(ip, ipv4(6, tcp(sport=2222, data=b"d" * 100), total=1500)),     # snaplen cut
        ether(ip, ipv4(6, tcp(sport=2223, flags=0x02), options=b"\x01" * 4, ihl=6)),
        ether(ip, ipv4(17, udp(1, 2)) + b"\0" * 30),                          # padded frame
    ]
    return frames


def l3_frames() -> list[bytes]:
    """IP packets without a link header (raw, SLL/NULL/NFLOG payloads)."""
    return [ipv4(17, udp()), ipv4(6, tcp()), ipv6(17, udp(1, 2)), ipv6(58, b"\x80\0\0\0")]


def sll(proto: int, payload: bytes) -> bytes:
    return struct.pack(">HHH8sH", 0, 1, 6, b"\x02" * 8, proto) + payload


def sll2(proto: int, payload: bytes) -> bytes:
    return struct.pack(">HHIHBB8s", proto, 0, 2, 1, 0, 6, b"\x02" * 8) + payload


def nflog(payload: bytes | None, extra=b"", bad=False, family=2) -> bytes:
    """NFLOG: header, a prefix TLV, then the NFULA_PAYLOAD TLV (little-endian TLVs)."""
    head = bytes([family, 0, 0, 0]) + struct.pack("<HH", 8, 10) + b"pfx\0" + extra
    if bad:
        return head + struct.pack("<HH", 200, 9) + b"\0" * 8
    if payload is None:
        return head
    return head + struct.pack("<HH", 4 + len(payload), 9) + payload


def crafted_captures() -> dict:
    """link type -> frames; each frame list mixes IP, non-IP and error frames."""
    v4, tcp4, v6, icmp6 = l3_frames()
    return {
        1: ethernet_frames(),
        113: [sll(0x0800, v4), sll(0x86DD, v6), sll(0x0806, b"\0" * 28),
              sll(0x8100, struct.pack(">HH", 5, 0x0800) + tcp4), b"\0" * 12],
        276: [sll2(0x0800, v4), sll2(0x86DD, icmp6), sll2(0x0806, b"\0" * 28), b"\0" * 15],
        101: [v4, v6, tcp4, b"\x50" + b"\0" * 30, b""],
        228: [v4, tcp4, v6],                                  # IPv6 under DLT_IPV4: error
        229: [v6, icmp6, v4],                                 # IPv4 under DLT_IPV6: error
        0: [struct.pack("<I", 2) + v4, struct.pack(">I", 2) + tcp4,
            struct.pack("<I", 30) + v6, struct.pack("<I", 28) + icmp6,
            struct.pack("<I", 24) + v6, struct.pack("<I", 7) + b"\0" * 20, b"\0\0"],
        108: [struct.pack(">I", 2) + v4, struct.pack(">I", 24) + v6,
              struct.pack(">I", 17) + b"\0" * 20],
        239: [nflog(v4), nflog(tcp4, extra=struct.pack("<HH", 8, 1) + b"\0" * 4),
              nflog(v6, family=10), nflog(None), nflog(v4, bad=True), nflog(v4, family=0)],
    }


def write_pcap(path: Path, linktype: int, frames: list[bytes], snaplen: int = 65535,
               offsets: list[float] | None = None):
    """A little-endian microsecond pcap, frames 1 ms apart unless offsets (s) are given."""
    offsets = offsets or [i * 0.001 for i in range(len(frames))]
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, snaplen=snaplen, linktype=linktype)
        for frame, offset in zip(frames, offsets):
            writer.writepkt(frame, ts=1_600_000_000 + offset)


@pytest.mark.parametrize("linktype", sorted(crafted_captures()))
def test_crafted_link_type(linktype, tmp_path, run_capture):
    """Crafted frames of one link type: flows, errors and non-IP as the reference says."""
    pcap = tmp_path / f"crafted-{linktype}.pcap"
    write_pcap(pcap, linktype, crafted_captures()[linktype])
    ref = reference_flows(pcap)
    assert ref.flows and ref.frames == len(crafted_captures()[linktype])
    events, proc = run_capture(pcap)
    problems = accounting_report(pcap, events, proc)
    assert not problems, f"link type {linktype}:\n  " + "\n  ".join(problems)


EDGE_CASES = {
    # IPv6 payload length 0 without a jumbo option: the TCP header is not in the IP
    # payload, an error by the contract (the core trusts the captured bytes instead).
    "ipv6-payload-length-0-tcp": [ether(0x86DD, ipv6(6, tcp(), plen=0))],
    # A 16-byte hop-by-hop header captured in full but longer than the 8-byte payload
    # length: the chain is not "truncated in the captured bytes", so no error; GRE flow.
    "ipv6-ext-header-past-payload-length": [ether(0x86DD, ipv6(0, ext6(47, 1), plen=8))],
    # 17 extension headers before UDP: the L4 protocol is the first other next header.
    "ipv6-17-extension-headers": [ether(0x86DD, ipv6(60, b"".join(ext6(60) for _ in range(16))
                                                     + ext6(17) + udp(3, 4)))],
    # A later fragment before its first fragment stays port-less; the next one joins.
    "fragment-before-first": [ether(0x0800, ipv4(17, b"z" * 16, ident=12, offset=3)),
                              ether(0x0800, ipv4(17, udp(7000, 53, b"x" * 16), ident=12,
                                                 more=True)),
                              ether(0x0800, ipv4(17, b"z" * 16, ident=12, offset=5))],
    # A first fragment's ports are kept 60 s (a contract gap, see flowref.FragmentPorts):
    # the later fragment 61 s on is port-less, the one 59 s on joins.
    "fragment-ports-kept-60s": [ether(0x0800, ipv4(17, udp(7100, 53, b"x" * 16), ident=13,
                                                   more=True)),
                                ether(0x0800, ipv4(17, b"z" * 16, ident=13, offset=3)),
                                ether(0x0800, ipv4(17, udp(7200, 53, b"x" * 16), ident=14,
                                                   more=True)),
                                ether(0x0800, ipv4(17, b"z" * 16, ident=14, offset=3))],
    # IPv4-in-MPLS under QinQ; a priority tag (VLAN id 0) is still a tag.
    "qinq-mpls": [ether(0x8847, b"\x00\x01\x01\x40" + ipv4(17, udp()),
                        tags=((0x88A8, 10), (0x8100, 20)))],
    "priority-tag": [ether(0x0800, ipv4(17, udp()), tags=((0x8100, 0),))],
}
EDGE_OFFSETS = {"fragment-ports-kept-60s": [0.0, 61.0, 62.0, 121.0]}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_crafted_edge_case(case, tmp_path, run_capture):
    """Single decode rules of the contract that the shared captures do not exercise."""
    pcap = tmp_path / f"{case}.pcap"
    write_pcap(pcap, 1, EDGE_CASES[case], offsets=EDGE_OFFSETS.get(case))
    events, proc = run_capture(pcap)
    problems = accounting_report(pcap, events, proc)
    assert not problems, f"{case}:\n  " + "\n  ".join(problems)


def test_crafted_reference_itself(tmp_path):
    """The reference applies the contract to the crafted Ethernet frames as intended."""
    pcap = tmp_path / "crafted-1.pcap"
    write_pcap(pcap, 1, ethernet_frames())
    ref = reference_flows(pcap)
    keys = set(ref.flows)
    assert ref.error_count == 14, ref.errors
    assert ref.non_ip == 3
    assert ((100, 200), 17, ((A4, 5353), (B4, 53))) in keys           # QinQ keeps both ids
    assert ref.flows[((), 17, ((A6, 4000), (B6, 53)))][0] == 2          # v6 fragment joined
    assert ref.flows[((), 17, ((A4, 6000), (B4, 53)))][0] == 2          # v4 fragment joined
    assert ((), 17, ((A4, 0), (B4, 0))) in keys                          # lone later fragment
    assert ((), 6, ((A4, 0), (B4, 0))) in keys                           # TCP later fragment
    assert ((), 47, ((A4, 0), (B4, 0))) in keys                          # GRE stays outer
    assert ref.flows[((), 6, ((A4, 2222), (B4, 80)))] == [1, 14 + 1500]  # wire length
    assert ref.flows[((), 17, ((A4, 1), (B4, 2)))] == [1, 14 + 20 + 8 + 1 + 30]  # padding
