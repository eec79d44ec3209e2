"""Damaged, odd and wrong inputs: wirescore either refuses them in one clear line or reads them.

For every capture in ../shared/data/pcaps/varied/robustness (plus an unsupported link type and
the shipped broken fixture):
- exit 0, or exit 1 with exactly one stderr line "wirescore: error: <file>: ..." naming the file;
  never a traceback;
- eve.json, when written, holds only whole JSON lines;
- the packets libpcap can read before the fault are all accounted for: the flows that a small
  independent decoder (below, written from the contract's decode rules) finds in them are in
  eve.json, with the same packet counts per flow key, and there is no flow that they do not
  explain.
Plus: an empty capture, a missing path, a text file, and a capture piped on standard input.

The reference reader follows libpcap's rules for classic pcap (it is what the core reads
through): a record longer than 262144 bytes or cut short ends the readable part; a record longer
than the header's snaplen is cut to snaplen; old files (version < 2.3) with caplen > len have the
two swapped. pcapng goes through dpkt.
"""
from __future__ import annotations

import ipaddress
import json
import struct
from collections import Counter
from pathlib import Path

import dpkt
import pytest

from conftest import FIXTURES, SHARED_DATA, run_wirescore, shared_available, shared_captures
from wirescore.core_names import PROTO_NUMBERS as CORE_PROTO_NUMBERS

MAX_CAPLEN = 262144
PORT_PROTOS = (6, 17, 132)
PROTO_NUM = CORE_PROTO_NUMBERS   # EVE proto names (Suricata spellings: test_proto_names.py)


class DecodeError(Exception):
    """The contract counts this packet as an error: it makes no flow."""


class NonIP(Exception):
    """A frame that is not IP (ARP, LLDP, ...): no flow, not an error."""


class Unsure(Exception):
    """The contract does not pin this case down; the packet's flow is left out of comparisons."""


# ---- reading: the packets libpcap returns before a fault ----------------------------------------

def read_capture(path: Path) -> tuple[int | None, list[bytes], str | None, bool]:
    """(link type, packets readable before a fault, fault text or None, swapped byte order)."""
    data = path.read_bytes()
    if len(data) < 4:
        return None, [], "too short for a capture header", False
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        return _read_pcapng(path)
    order = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",
             b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if order is None or len(data) < 24:
        return None, [], "not a pcap file", False
    major, minor, _zone, _sig, snaplen, linktype = struct.unpack(order + "HHiIII", data[4:24])
    linktype &= 0x03FFFFFF
    snapshot = snaplen if 0 < snaplen <= MAX_CAPLEN else MAX_CAPLEN
    swap_lengths = major < 2 or (major == 2 and minor < 3)
    packets, off = [], 24
    while off < len(data):
        if off + 16 > len(data):
            return linktype, packets, "record header cut short", order == ">"
        _s, _u, caplen, wirelen = struct.unpack(order + "IIII", data[off:off + 16])
        if swap_lengths and caplen > wirelen:
            caplen, wirelen = wirelen, caplen
        if caplen > MAX_CAPLEN:
            return linktype, packets, f"record of {caplen} bytes", order == ">"
        if off + 16 + caplen > len(data):
            return linktype, packets, "record cut short", order == ">"
        # a record longer than the file's snaplen is cut to it (libpcap reads and drops the rest)
        packets.append(data[off + 16:off + 16 + min(caplen, snapshot)])
        off += 16 + caplen
    return linktype, packets, None, order == ">"


def _read_pcapng(path: Path):
    packets, fault = [], None
    with open(path, "rb") as fh:
        try:
            reader = dpkt.pcapng.Reader(fh)
            linktype = reader.datalink()
            for _ts, buf in reader:
                packets.append(bytes(buf))
        except (dpkt.dpkt.UnpackError, dpkt.dpkt.NeedData, ValueError, struct.error) as exc:
            return None, packets, f"pcapng: {exc}", False
    return linktype, packets, fault, False


# ---- decoding, following the contract's rules ---------------------------------------------------

def u16(b, o):
    return (b[o] << 8) | b[o + 1]


def link_layer(linktype: int, buf: bytes, big_endian_file: bool):
    """(offset of the IP header, 4/6/None for 'by nibble', vlan ids)."""
    if linktype == 1:                                   # Ethernet
        if len(buf) < 14:
            raise DecodeError("short ethernet")
        et, off, vlans = u16(buf, 12), 14, []
        while et in (0x8100, 0x88A8, 0x9100):
            if len(buf) < off + 4:
                raise DecodeError("short vlan")
            vlans.append(u16(buf, off) & 0x0FFF)
            et = u16(buf, off + 2)
            off += 4
            if len(vlans) > 2:
                raise DecodeError("3 vlan tags")
        if et in (0x8847, 0x8848):                      # MPLS: to the bottom of stack
            while True:
                if len(buf) < off + 4:
                    raise DecodeError("short mpls")
                bottom = buf[off + 2] & 1
                off += 4
                if bottom:
                    return off, None, tuple(vlans)
        if et == 0x8864:                                # PPPoE session
            if len(buf) < off + 8:
                raise DecodeError("short pppoe")
            ppp = u16(buf, off + 6)
            off += 8
            if ppp == 0x0021:
                return off, 4, tuple(vlans)
            if ppp == 0x0057:
                return off, 6, tuple(vlans)
            raise NonIP("ppp")
        if et == 0x0800:
            return off, 4, tuple(vlans)
        if et == 0x86DD:
            return off, 6, tuple(vlans)
        raise NonIP(hex(et))
    if linktype == 113:                                 # Linux SLL
        if len(buf) < 16:
            raise DecodeError("short sll")
        return _by_ethertype(u16(buf, 14), 16)
    if linktype == 276:                                 # Linux SLL2
        if len(buf) < 20:
            raise DecodeError("short sll2")
        return _by_ethertype(u16(buf, 0), 20)
    if linktype in (12, 14, 101):
        return 0, None, ()
    if linktype == 228:
        return 0, 4, ()
    if linktype == 229:
        return 0, 6, ()
    if linktype in (0, 108):                            # NULL (writer's order) / LOOP (network)
        if len(buf) < 4:
            raise DecodeError("short null")
        order = ">" if (linktype == 108 or big_endian_file) else "<"
        af = struct.unpack(order + "I", buf[:4])[0]
        if af not in (2, 10, 24, 28, 30) and linktype == 0:
            other = struct.unpack(("<" if order == ">" else ">") + "I", buf[:4])[0]
            if other in (2, 10, 24, 28, 30):    # written on a host of the other byte order
                raise Unsure(f"NULL AF {other} in the other byte order")
        if af == 2:
            return 4, 4, ()
        if af in (10, 24, 28, 30):
            return 4, 6, ()
        raise NonIP(f"AF {af}")
    if linktype == 239:                                 # NFLOG: the NFULA_PAYLOAD TLV
        if len(buf) < 4:
            raise DecodeError("short nflog")
        off = 4
        while off + 4 <= len(buf):
            tlv_len, tlv_type = struct.unpack("<HH", buf[off:off + 4])
            if tlv_len < 4 or off + tlv_len > len(buf):
                raise DecodeError("bad nflog tlv length")
            if tlv_type & 0x7FFF == 9:
                return off + 4, None, ()
            off += (tlv_len + 3) & ~3
        raise NonIP("nflog without payload")
    raise NonIP(f"unsupported link type {linktype}")


def _by_ethertype(et, off):
    if et == 0x0800:
        return off, 4, ()
    if et == 0x86DD:
        return off, 6, ()
    raise NonIP(hex(et))


V6_EXT = (0, 43, 44, 60, 51, 135)


def decode(linktype: int, buf: bytes, big_endian_file: bool, frag_ports: dict):
    """Flow key (vlans, proto, unordered endpoints) of one frame, or an exception."""
    off, version, vlans = link_layer(linktype, buf, big_endian_file)
    ip = buf[off:]
    if version is None:
        if not ip:
            raise DecodeError("empty ip")
        version = ip[0] >> 4
        if version not in (4, 6):
            raise DecodeError(f"ip version {version}")
    if version == 4:
        if len(ip) < 20:
            raise DecodeError("ipv4 < 20 bytes")
        if ip[0] >> 4 != 4:
            raise DecodeError("version != 4")
        ihl = (ip[0] & 0x0F) * 4
        total = u16(ip, 2)
        if ihl < 20 or total < ihl or len(ip) < ihl:
            raise DecodeError("bad ipv4 header")
        proto, src, dst = ip[9], ip[12:16], ip[16:20]
        frag = u16(ip, 6) & 0x1FFF
        ipid = u16(ip, 4)
        l4 = ip[ihl:total]                 # captured bytes of the IP payload
        l4_len = total - ihl               # IP payload length
    else:
        if len(ip) < 40:
            raise DecodeError("ipv6 < 40 bytes")
        if ip[0] >> 4 != 6:
            raise DecodeError("version != 6")
        plen, nh, src, dst = u16(ip, 4), ip[6], ip[8:24], ip[24:40]
        p, frag, ipid = 40, 0, None
        while nh in V6_EXT:
            if len(ip) < p + 8:
                raise DecodeError("ipv6 extension header truncated")
            if nh == 44:
                frag, ipid = u16(ip, p + 2) >> 3, ip[p + 4:p + 8]
                hlen = 8
            elif nh == 51:
                hlen = (ip[p + 1] + 2) * 4
            else:
                hlen = (ip[p + 1] + 1) * 8
            if len(ip) < p + hlen:
                raise DecodeError("ipv6 extension header truncated")
            nh = ip[p]
            p += hlen
            if frag:
                break
        proto = nh
        l4 = ip[p:40 + plen]
        l4_len = 40 + plen - p
    saddr = ipaddress.ip_address(bytes(src)).compressed
    daddr = ipaddress.ip_address(bytes(dst)).compressed
    if frag:                                            # a later fragment
        sp, dp = frag_ports.get((src, dst, proto, ipid), (0, 0))
        if proto not in PORT_PROTOS:
            sp = dp = None
        return key(vlans, proto, saddr, sp, daddr, dp)
    if proto == 6:
        if len(l4) < 20 or l4_len < 20:
            raise DecodeError("tcp < 20 bytes")
        doff = (l4[12] >> 4) * 4
        if doff < 20 or doff > l4_len:
            raise DecodeError("bad tcp data offset")
    elif proto == 17:
        if len(l4) < 8:
            raise DecodeError("udp < 8 bytes")
    elif proto in (1, 58):
        if len(l4) < 4:
            raise DecodeError("icmp < 4 bytes")
        return key(vlans, proto, saddr, None, daddr, None)
    elif proto == 132:
        if len(l4) < 12:
            raise Unsure("sctp header not captured")
    else:
        return key(vlans, proto, saddr, None, daddr, None)
    sp, dp = u16(l4, 0), u16(l4, 2)
    frag_ports[(src, dst, proto, ipid)] = (sp, dp)
    return key(vlans, proto, saddr, sp, daddr, dp)


def key(vlans, proto, a, ap, b, bp):
    return tuple(vlans), proto, frozenset({(a, ap), (b, bp)})


def reference_flows(path: Path):
    """(Counter of packets per flow key, keys left out as unsure, readable count, fault)."""
    linktype, packets, fault, big = read_capture(path)
    counts, unsure, frag_ports = Counter(), set(), {}
    for buf in packets:
        try:
            counts[decode(linktype, buf, big, frag_ports)] += 1
        except (DecodeError, NonIP):
            pass
        except Unsure as why:
            unsure.add(str(why))
    return counts, unsure, len(packets), fault, linktype


def eve_flow_counts(events) -> Counter:
    out = Counter()
    for e in events:
        if e.get("event_type") != "flow":
            continue
        proto = PROTO_NUM.get(e["proto"]) or int(e["proto"])
        if proto in PORT_PROTOS:
            sp, dp = e.get("src_port", 0), e.get("dest_port", 0)
        else:
            sp = dp = None
        k = key(e.get("vlan", ()), proto, ipaddress.ip_address(e["src_ip"]).compressed, sp,
                ipaddress.ip_address(e["dest_ip"]).compressed, dp)
        out[k] += e["flow"]["pkts_toserver"] + e["flow"]["pkts_toclient"]
    return out


# ---- running -----------------------------------------------------------------------------------

def run_raw(tmp_path: Path, pcap, *extra, stdin=None):
    logdir = tmp_path / "logs"
    proc = run_wirescore("run", "-r", pcap, "-l", logdir, "--no-detect", *extra, check=False, stdin=stdin)
    return proc, logdir / "eve.json"


def whole_lines(eve: Path) -> list[dict]:
    raw = eve.read_text()
    assert raw == "" or raw.endswith("\n"), f"{eve}: last line is partial: {raw[-200:]!r}"
    events = []
    for n, line in enumerate(raw.splitlines(), 1):
        try:
            events.append(json.loads(line))
        except ValueError:
            pytest.fail(f"{eve}: line {n} is not whole JSON: {line[:200]!r}")
    return events


def assert_clean_exit(proc, pcap) -> None:
    assert "Traceback" not in proc.stderr, f"{pcap}: traceback:\n{proc.stderr[-3000:]}"
    if proc.returncode == 0:
        return
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, f"{pcap}: exit {proc.returncode} (1 expected for bad input):\n{proc.stderr}"
    assert len(lines) == 1, f"{pcap}: expected exactly one stderr line, got {len(lines)}:\n{proc.stderr}"
    assert lines[0].startswith("wirescore: error:"), f"{pcap}: {lines[0]!r}"
    assert str(pcap) in lines[0] or Path(pcap).name in lines[0], f"{pcap}: error does not name the file: {lines[0]!r}"


ROBUSTNESS = shared_captures("varied/robustness")
if shared_available():
    ROBUSTNESS += [SHARED_DATA / "pcaps" / "varied" / "linktypes" / "tcpdump-dsa.pcap"]
BROKEN_FIXTURE = FIXTURES / "sv-tls-der-incomplete-header-broken.pcap"
CASES = [BROKEN_FIXTURE] + ROBUSTNESS


@pytest.fixture(scope="module")
def damaged_runs(tmp_path_factory):
    """One wirescore run per damaged capture, shared by the exit and the content checks."""
    cache = {}

    def get(pcap: Path):
        if pcap not in cache:
            cache[pcap] = run_raw(tmp_path_factory.mktemp("damaged"), pcap)
        return cache[pcap]

    return get


@pytest.mark.parametrize("pcap", CASES, ids=[p.name for p in CASES])
def test_damaged_capture_exit(pcap, damaged_runs):
    """Exit 0, or exit 1 with exactly one 'wirescore: error: <file>: ...' line; no traceback."""
    proc, _eve = damaged_runs(pcap)
    assert_clean_exit(proc, pcap)


@pytest.mark.parametrize("pcap", CASES, ids=[p.name for p in CASES])
def test_damaged_capture_flows(pcap, damaged_runs):
    """Whole lines only, and every readable packet's flow is there (same packets per key)."""
    proc, eve = damaged_runs(pcap)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    events = whole_lines(eve) if eve.exists() else []
    expected, unsure, readable, fault, _lt = reference_flows(pcap)
    got = eve_flow_counts(events)
    if expected:
        assert eve.exists(), f"{pcap.name}: {readable} readable packets but no eve.json (exit {proc.returncode})"
    if not unsure:
        assert got == expected, (
            f"{pcap.name} (exit {proc.returncode}, {readable} readable packets, fault: {fault}):\n"
            f"  missing or wrong: { {k: v for k, v in expected.items() if got.get(k) != v} }\n"
            f"  got for those:    { {k: got.get(k) for k, v in expected.items() if got.get(k) != v} }\n"
            f"  unexplained:      { {k: v for k, v in got.items() if k not in expected} }")
    else:
        for k, v in expected.items():
            assert got.get(k) == v, f"{pcap.name}: flow {k}: {got.get(k)} packets, expected {v}"
    if proc.returncode == 0:
        stats = [e for e in events if e.get("event_type") == "stats"]
        assert stats, f"{pcap.name}: exit 0 without a stats event"
        assert stats[-1]["stats"]["decoder"]["pkts"] == readable, \
            f"{pcap.name}: stats.decoder.pkts {stats[-1]['stats']['decoder']['pkts']}, {readable} readable"


def _manifest_readable() -> dict:
    """Readable packets per shared capture as tcpdump counted them (MANIFEST.csv)."""
    import csv
    out = {}
    with open(SHARED_DATA / "pcaps" / "MANIFEST.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            n = row["tcpdump_packets"] or row["packets"]
            if n:
                out[row["file"]] = int(n)
    return out


@pytest.mark.parametrize("pcap", CASES, ids=[p.name for p in CASES])
def test_reference_reader_matches_tcpdump(pcap):
    """The reference reader returns as many packets as tcpdump read (MANIFEST.csv)."""
    _lt, packets, _fault, _big = read_capture(pcap)
    if pcap == BROKEN_FIXTURE:
        assert len(packets) == 6    # tests/data/SOURCES.md
        return
    expected = _manifest_readable()[str(pcap.relative_to(SHARED_DATA / "pcaps"))]
    assert len(packets) == expected


def test_empty_capture(tmp_path):
    pcap = SHARED_DATA / "pcaps" / "varied" / "robustness" / "zeek-empty.pcap"
    if not pcap.exists():
        # a valid pcap header (Ethernet, snaplen 65535) and no records
        pcap = tmp_path / "empty.pcap"
        pcap.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    proc, eve = run_raw(tmp_path, pcap)
    assert proc.returncode == 0, proc.stderr
    events = whole_lines(eve)
    assert not [e for e in events if e.get("event_type") == "flow"]
    stats = [e for e in events if e.get("event_type") == "stats"]
    assert stats, "no stats event for an empty capture"
    assert stats[-1]["stats"]["decoder"]["pkts"] == 0


def _one_line_error(proc, name: str):
    assert proc.returncode == 1, f"exit {proc.returncode}, expected 1:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line:\n{proc.stderr}"
    assert lines[0].startswith("wirescore: error:") and name in lines[0], lines[0]


def test_missing_path(tmp_path):
    missing = tmp_path / "no-such-capture.pcap"
    proc, _ = run_raw(tmp_path, missing)
    _one_line_error(proc, "no-such-capture.pcap")


def test_text_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a capture\n" * 20)
    proc, eve = run_raw(tmp_path, text)
    _one_line_error(proc, "notes.txt")
    if eve.exists():
        assert not [e for e in whole_lines(eve) if e.get("event_type") == "flow"]


def _flow_signature(events):
    sig = Counter()
    for e in events:
        if e.get("event_type") == "flow":
            f = e["flow"]
            sig[(e["src_ip"], e.get("src_port"), e["dest_ip"], e.get("dest_port"), e["proto"],
                 tuple(e.get("vlan", ())), e.get("community_id"), f["pkts_toserver"], f["pkts_toclient"],
                 f["bytes_toserver"], f["bytes_toclient"], f["start"], f["end"], f["reason"])] += 1
    return sig


@pytest.mark.parametrize("name", [
    "nfstream-dns-fragmented.pcap", "zeek-vlan-pcp-dei.pcapng",
    # a damaged record: the packets before it are delivered, from a file and from
    # standard input alike (one reader reads both; tests/test_capture_stdin.py)
    "sv-tls-der-incomplete-header-broken.pcap",
])
def test_stdin_gives_same_flows(name, tmp_path):
    """`-r -` with the capture piped in: same flows (and same exit status) as the file path."""
    pcap = FIXTURES / name
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    proc_a, eve_a = run_raw(a_dir, pcap)
    with open(pcap, "rb") as fh:
        proc_b, eve_b = run_raw(b_dir, "-", stdin=fh)
    assert "Traceback" not in proc_a.stderr + proc_b.stderr
    assert proc_b.returncode == proc_a.returncode, (proc_a.stderr, proc_b.stderr)
    if name != BROKEN_FIXTURE.name:
        assert proc_a.returncode == 0, proc_a.stderr
    sig_a, sig_b = _flow_signature(whole_lines(eve_a)), _flow_signature(whole_lines(eve_b))
    assert sig_a and sig_a == sig_b
