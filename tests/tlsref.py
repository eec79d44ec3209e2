"""Reference side of the TLS message tests: the bytes of each TCP direction of a capture
(dpkt, in sequence order, up to the first hole) and the handshake messages in them, cut
out independently of the parser under test (the record and handshake headers read here
in Python), and tshark's view of the same capture.

Nothing here imports the compiled core: the parsers get the raw message bytes from here.
"""
from __future__ import annotations

import hashlib
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


def client_hello_defect(data: bytes) -> str | None:
    """Why a direction's first handshake message, a whole ClientHello, breaks the vector
    lengths RFC 5246 7.4.1.2 / RFC 8446 4.1.2 give it, or None (well formed, not a whole
    ClientHello). Offsets count from the message's type byte. Only the vectors' lengths are
    read: session_id<0..32>, cipher_suites<2..2^16-2> (2-byte entries),
    compression_methods<1..2^8-1>, then nothing or extensions<0..2^16-1> ending the
    message, each extension's length inside it."""
    msgs, whole = handshake_messages(data)
    if not msgs or msgs[0][0] != 1 or (len(msgs) == 1 and not whole):
        return None
    m = msgs[0]
    end = len(m)
    pos = 4 + 34
    if pos >= end or m[pos] > 32 or pos + 1 + m[pos] > end:
        return f"session_id length at offset {pos}"
    pos += 1 + m[pos]
    cs = int.from_bytes(m[pos:pos + 2], "big")
    if pos + 2 > end or cs < 2 or cs % 2 or pos + 2 + cs > end:
        return f"cipher_suites length {cs} at offset {pos} ({end - pos - 2} bytes follow)"
    pos += 2 + cs
    if pos >= end or m[pos] < 1 or pos + 1 + m[pos] > end:
        n = m[pos] if pos < end else None
        return f"compression_methods length {n} at offset {pos} ({end - pos - 1} bytes follow)"
    pos += 1 + m[pos]
    if pos == end:
        return None
    if end - pos < 2:
        return f"{end - pos} byte(s) at offset {pos} where the extensions' 2-byte length goes"
    ext_end = pos + 2 + int.from_bytes(m[pos:pos + 2], "big")
    if ext_end != end:
        return f"extensions length at offset {pos} ends at {ext_end}, the message at {end}"
    pos += 2
    while pos < end:
        if end - pos < 4 or pos + 4 + int.from_bytes(m[pos + 2:pos + 4], "big") > end:
            return f"extension length at offset {pos + 2} past the message's end"
        pos += 4 + int.from_bytes(m[pos + 2:pos + 4], "big")
    return None


def tshark_fields(path: Path, display: str, fields: list[str]) -> list[list[str]]:
    """tshark -T fields rows (one per packet matching the display filter), each field
    split on ",", the separator tshark puts between repeated values."""
    cmd = [TSHARK, "-r", str(path), "-Y", display, "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    return [line.split("\t") for line in out.splitlines()]


# ---- JA4 / JA4S from tshark's fields (FoxIO's technical_details/JA4.md, JA4S.md) ------
# The version codes are written here from JA4.md, apart from src/wirescore/tls_names.py on
# purpose: this is the tests' independent reading of the spec.
JA4_VERSION_CODES = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
                     0x0002: "s2", 0xfeff: "d1", 0xfefd: "d2", 0xfefc: "d3"}
SIG_EXTS = (13, 34, 50)       # extensions whose algorithms tshark lists as sig_hash_alg


def grease(v: int) -> bool:
    """RFC 8701's reserved values: 0x?a?a with both bytes equal."""
    return (v & 0x0f0f) == 0x0a0a and v >> 8 == v & 0xff


def ja4_alpn(alpn: bytes) -> str:
    """JA4.md's ALPN rule: first and last characters when both are ASCII alphanumeric,
    else the first hex digit of the first byte and the last of the last byte."""
    if not alpn:
        return "00"
    a, b = alpn[0], alpn[-1]
    if chr(a).isascii() and chr(a).isalnum() and chr(b).isascii() and chr(b).isalnum():
        return chr(a) + chr(b)
    return f"{a:02x}"[0] + f"{b:02x}"[1]


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else "0" * 12


def ja4(version: int, supported: list[int], ciphers: list[int], exts: list[int],
        sigalgs: list[int], alpn: bytes) -> str:
    """JA4 of a ClientHello over TCP from its lists (GREASE values included, as sent)."""
    vs = [v for v in supported if not grease(v)]
    cs = [c for c in ciphers if not grease(c)]
    es = [e for e in exts if not grease(e)]
    a = (f"t{JA4_VERSION_CODES.get(max(vs) if vs else version, '00')}"
         f"{'d' if 0 in es else 'i'}{min(len(cs), 99):02d}{min(len(es), 99):02d}{ja4_alpn(alpn)}")
    b = ",".join(f"{c:04x}" for c in sorted(cs))
    c = ",".join(f"{e:04x}" for e in sorted(e for e in es if e not in (0, 16)))
    sg = [f"{s:04x}" for s in sigalgs if not grease(s)]
    if sg:
        c += "_" + ",".join(sg)
    return f"{a}_{_sha12(b)}_{_sha12(c)}"


def ja4s(version: int, selected: int | None, cipher: int, exts: list[int], alpn: bytes) -> str:
    """JA4S of a ServerHello over TCP: the selected version (supported_versions) or the
    legacy one, extensions in their order."""
    code = JA4_VERSION_CODES.get(selected or version, "00")
    a = f"t{code}{min(len(exts), 99):02d}{ja4_alpn(alpn)}"
    return f"{a}_{cipher:04x}_{_sha12(','.join(f'{e:04x}' for e in exts))}"


JA4_FIELDS = ["tls.handshake.version", "tls.handshake.extensions.supported_version",
              "tls.handshake.ciphersuite", "tls.handshake.extension.type",
              "tls.handshake.sig_hash_alg_len", "tls.handshake.sig_hash_alg"]


def ja4_from_fields(hs_type: int, cols: list[str], alpn_col: str) -> str | None:
    """JA4 (hs_type 1) or JA4S (2) from the JA4_FIELDS values and the
    extensions_alpn_str value of a packet holding one hello; None when tshark's values
    cannot give it: an ALPN that is not printable ASCII (tshark shows it escaped) or
    signature algorithm blocks that do not match the signature-bearing extensions one
    to one."""
    def ints(v):
        return [int(x, 0) for x in v.split("|")] if v else []
    version, supported, ciphers, exts = (ints(c) for c in cols[:4])
    alpn_str = alpn_col.split("|")[0] if alpn_col else ""
    if not alpn_str.isascii() or not alpn_str.isprintable() or "\\" in alpn_str:
        return None
    alpn = alpn_str.encode()
    if hs_type == 2:
        return ja4s(version[0], supported[0] if supported else None, ciphers[0], exts, alpn)
    lens, algs = ints(cols[4]), ints(cols[5])
    sig_exts = [e for e in exts if e in SIG_EXTS]
    if len(lens) != len(sig_exts) or sum(lens) != 2 * len(algs):
        return None
    sigalgs, at = [], 0
    for e, n in zip(sig_exts, lens):
        if e == 13:
            sigalgs = algs[at:at + n // 2]
        at += n // 2
    return ja4(version[0], supported, ciphers, exts, sigalgs, alpn)
