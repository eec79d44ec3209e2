"""Reference side of the TLS message tests: the bytes of each TCP direction of a capture
(dpkt, in sequence order, up to the first hole) and the handshake messages in them, cut
out independently of the parser under test (the record and handshake headers read here
in Python), and tshark's view of the same capture.

Nothing here imports the compiled core: the parsers get the raw message bytes from here.
"""
from __future__ import annotations

import ipaddress
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import dpkt

TSHARK = shutil.which("tshark")


@dataclass
class Direction:
    """One direction of a TCP connection: its bytes from the first data segment on, in
    sequence order, cut at the first hole (a lost or snapped segment)."""
    src: str
    sport: int
    dst: str
    dport: int
    data: bytes = b""
    hole: bool = False                       # bytes went missing after `data`
    segments: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return (self.src, self.sport, self.dst, self.dport)


def _reader(fh):
    try:
        return dpkt.pcap.Reader(fh)
    except ValueError:
        fh.seek(0)
        return dpkt.pcapng.Reader(fh)


def _ip(linktype: int, buf: bytes):
    if linktype == dpkt.pcap.DLT_EN10MB:
        return dpkt.ethernet.Ethernet(buf).data
    if linktype == dpkt.pcap.DLT_LINUX_SLL:
        return dpkt.sll.SLL(buf).data
    if linktype in (dpkt.pcap.DLT_RAW, 12, 14, 101):
        return dpkt.ip.IP(buf) if buf and buf[0] >> 4 == 4 else dpkt.ip6.IP6(buf)
    if linktype in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
        return dpkt.loopback.Loopback(buf).data
    return None


def directions(path: Path) -> list[Direction]:
    """Every TCP direction with payload, in order of first appearance."""
    dirs: dict[tuple, Direction] = {}
    with open(path, "rb") as fh:
        reader = _reader(fh)
        linktype = reader.datalink()
        for _, buf in reader:
            try:
                ip = _ip(linktype, buf)
            except (dpkt.UnpackError, IndexError, ValueError):
                continue
            if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                continue
            tcp = ip.data
            if not isinstance(tcp, dpkt.tcp.TCP) or not tcp.data:
                continue
            key = (str(ipaddress.ip_address(ip.src)), tcp.sport,
                   str(ipaddress.ip_address(ip.dst)), tcp.dport)
            d = dirs.setdefault(key, Direction(*key))
            d.segments.setdefault(tcp.seq, bytes(tcp.data))
    for d in dirs.values():
        nxt = None
        parts = []
        for seq in sorted(d.segments, key=lambda s: (s - min(d.segments)) % 2**32):
            seg = d.segments[seq]
            if nxt is None:
                nxt = seq
            skip = (nxt - seq) % 2**32
            if skip > len(seg) and skip < 2**31:        # a full retransmission
                continue
            if skip >= 2**31:                           # a hole before this segment
                d.hole = True
                break
            parts.append(seg[skip:])
            nxt = (seq + len(seg)) % 2**32
        d.data = b"".join(parts)
        d.segments = {}
    return list(dirs.values())


def handshake_messages(data: bytes) -> tuple[list[bytes], bool]:
    """The handshake messages in a direction's bytes that start with a TLS record, joined
    across records, until a record that is not a handshake; (messages, whether the last
    one is whole)."""
    body = bytearray()
    at = 0
    while at + 5 <= len(data) and data[at] == 22 and data[at + 1] == 3:
        length = int.from_bytes(data[at + 3:at + 5], "big")
        body += data[at + 5:at + 5 + length]
        at += 5 + length
    out = []
    pos = 0
    while pos + 4 <= len(body):
        full = 4 + int.from_bytes(body[pos + 1:pos + 4], "big")
        out.append(bytes(body[pos:pos + full]))
        if pos + full > len(body):
            return out, False
        pos += full
    return out, pos == len(body)


def tshark_fields(path: Path, display: str, fields: list[str]) -> list[list[str]]:
    """tshark -T fields rows (one per packet matching the display filter), each field
    split on ",", the separator tshark puts between repeated values."""
    cmd = [TSHARK, "-r", str(path), "-Y", display, "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    return [line.split("\t") for line in out.splitlines()]
