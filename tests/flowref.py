"""Independent reference for flow accounting, built on dpkt (never imports wirescore).

It reads a capture the way libpcap hands it to the core and applies the decode and
accounting rules of the core contract to the packet bytes, summing packets and wire
bytes per canonical 5-tuple:

    key = (vlan ids tuple, IP protocol number, sorted(((addr, port), (addr, port))))

with port 0 for port-less protocols (ICMP, GRE, ESP, later fragments never joined ...).
Since the core starts a new flow for a key only after the previous one ended, the sums
over its flow records for a key must equal these totals whatever the timeouts.

Reading (libpcap 1.10 semantics, because the core reads through pcapy/libpcap):
- pcap: dpkt's file and record headers; the record caplen and len are swapped for
  format versions < 2.3 (or 2.3 when caplen > len); snaplen 0 or > 262144 means 262144;
  a record with caplen > 262144 or cut short ends the file with a read error; a record
  with snaplen < caplen <= 262144 is cut to snaplen.
- pcapng: libpcap's block and interface-option checks (a block length below 12, not a
  multiple of 4, above 16 MiB or not repeated in the trailer; a bad if_tsresol or
  if_tsoffset; a packet on an undescribed interface, or longer than its interface's
  snap length, or than its block) end the file with a read error; sections in either
  byte order. Unlike libpcap, interfaces of one file may differ in snap length and link
  type, as wirescore reads them: each packet is decoded by its interface's link type.
Checked: on all shared captures that libpcap reads, the frames (bytes, count, read error
or not) are those pcapy-ng returns; libpcap refuses zeek-ldap__modify-request.pcapng
(interfaces with two snap lengths), whose 17 frames are those tshark reads.

Contract gaps, filled as the core (and Suricata) does, each marked CONTRACT GAP below:
an SCTP header shorter than 12 bytes is an error; a non-IP payload after an MPLS label
stack is an error; NFLOG takes the IP version from its header's address family; a
first fragment's ports are forgotten after 60 s.

Run as a script (python tests/flowref.py FILE...) it prints the table of each file.
"""
from __future__ import annotations

import ipaddress
import struct
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dpkt
from dpkt import pcap as dpcap
from dpkt import pcapng as dpcapng

# --- link types (LINKTYPE_* as written in files, DLT_* as libpcap reports them) ---
DLT_NULL, DLT_EN10MB, DLT_RAW, DLT_RAW_BSD = 0, 1, 12, 14
LINKTYPE_RAW, DLT_LOOP, DLT_LINUX_SLL = 101, 108, 113
DLT_IPV4, DLT_IPV6, DLT_NFLOG, DLT_LINUX_SLL2 = 228, 229, 239, 276
DLT_PPP, DLT_PPP_SERIAL, DLT_C_HDLC = 9, 50, 104
RAW_LINKTYPES = frozenset({DLT_RAW, DLT_RAW_BSD, LINKTYPE_RAW})
SUPPORTED_LINKTYPES = frozenset({DLT_NULL, DLT_EN10MB, DLT_LOOP, DLT_LINUX_SLL, DLT_IPV4,
                                 DLT_IPV6, DLT_NFLOG, DLT_LINUX_SLL2, DLT_PPP,
                                 DLT_PPP_SERIAL, DLT_C_HDLC}) | RAW_LINKTYPES

# --- ethertypes (IEEE registry) ---
ETH_IPV4 = dpkt.ethernet.ETH_TYPE_IP            # 0x0800
ETH_IPV6 = dpkt.ethernet.ETH_TYPE_IP6           # 0x86dd
ETH_VLAN = frozenset({0x8100, 0x88A8, 0x9100})  # 802.1Q, 802.1ad, legacy QinQ
ETH_MPLS = frozenset({0x8847, 0x8848})          # RFC 3032 unicast / multicast
ETH_PPPOE_SESSION = 0x8864                      # RFC 2516
PPP_IPV4, PPP_IPV6 = 0x0021, 0x0057             # RFC 1332 / RFC 5072
MAX_VLAN_TAGS = 2

# --- address families of the NULL/LOOP header ---
AF_INET = 2
AF_INET6 = frozenset({10, 24, 28, 30})          # Linux, NetBSD/OpenBSD, FreeBSD, Darwin

# --- NFLOG (netfilter nfnetlink_log) ---
NFULA_PAYLOAD = 9
# CONTRACT GAP: the contract names the payload TLV only; the IP version comes from the
# nflog header's family (AF_INET 2, AF_INET6 10) as in the core; other families: non-IP.
NFLOG_FAMILIES = {2: 4, 10: 6}

# --- IP protocols ---
PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROTO_ICMPV6, PROTO_SCTP = 1, 6, 17, 58, 132
PORT_PROTOS = frozenset({PROTO_TCP, PROTO_UDP, PROTO_SCTP})
IPV6_FRAGMENT = 44
IPV6_AH = 51
IPV6_EXT_HEADERS = frozenset({0, 43, IPV6_FRAGMENT, 60, IPV6_AH, 135})
# Bytes an L4 header must have (captured and within the IP payload) to be decoded.
# TCP/UDP/ICMP/ICMPv6 are in the contract. CONTRACT GAP: the contract lists no SCTP
# error; the core, like Suricata (decoder.event.sctp.pkt_too_small), counts an SCTP
# packet shorter than its 12-byte common header as an error, and so do we.
L4_MIN_HEADER = {PROTO_TCP: 20, PROTO_UDP: 8, PROTO_ICMP: 4, PROTO_ICMPV6: 4, PROTO_SCTP: 12}

# --- fragments ---
FRAGMENT_TTL_US = 60_000_000                    # see FragmentPorts

# --- libpcap reading limits ---
MAX_SNAPLEN = 262144                            # libpcap MAXIMUM_SNAPLEN
MAX_BLOCK = 16 << 20                            # libpcap's largest pcapng block
PCAPNG_SHB = dpcapng.PCAPNG_BT_SHB
PCAPNG_IDB, PCAPNG_PB = dpcapng.PCAPNG_BT_IDB, dpcapng.PCAPNG_BT_PB
PCAPNG_SPB, PCAPNG_EPB = dpcapng.PCAPNG_BT_SPB, dpcapng.PCAPNG_BT_EPB
PCAP_MAGICS = {  # magic as read big-endian -> (byte order, record header class)
    0xA1B2C3D4: ('>', dpcap.PktHdr), 0xA1B23C4D: ('>', dpcap.PktHdr),
    0xA1B2CD34: ('>', dpcap.PktModHdr), 0xD4C3B2A1: ('<', dpcap.LEPktHdr),
    0x4D3CB2A1: ('<', dpcap.LEPktHdr), 0x34CDB2A1: ('<', dpcap.LEPktModHdr),
}
NANO_MAGICS = frozenset({0xA1B23C4D, 0x4D3CB2A1})
PCAPNG_MAGIC = 0x0A0D0D0A
BOM_LE = b'\x4d\x3c\x2b\x1a'                    # pcapng byte-order magic, little-endian


# ----------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------

@dataclass
class Capture:
    """The frames of one capture as libpcap returns them."""
    linktype: int                 # DLT as libpcap reports it (LINKTYPE_RAW stays 101)
    byteorder: str                # '<' or '>': byte order of the file (NFLOG TLVs)
    frames: list = field(default_factory=list)   # list of bytes
    times_us: list = field(default_factory=list)  # timestamps, integer microseconds
    orig_lens: list = field(default_factory=list)  # the record's original length field
    read_error: str | None = None  # why reading stopped early, if it did
    fmt: str = 'pcap'
    linktypes: list = field(default_factory=list)  # pcapng: each frame's interface's
    #                                                link type (linktype: the first's)

    def linktype_of(self, index: int) -> int:
        return self.linktypes[index] if self.linktypes else self.linktype


def adjust_snaplen(snaplen: int) -> int:
    """libpcap's pcap_adjust_snapshot(): 0 or too big means the maximum."""
    return MAX_SNAPLEN if snaplen == 0 or snaplen > MAX_SNAPLEN else snaplen


def file_kind(path: Path) -> str:
    """'pcap', 'pcapng', 'gzip' or 'unknown', from the magic number."""
    with Path(path).open('rb') as handle:
        head = handle.read(4)
    if head[:2] == b'\x1f\x8b':
        return 'gzip'
    if len(head) == 4 and struct.unpack('>I', head)[0] == PCAPNG_MAGIC:
        return 'pcapng'
    if len(head) == 4 and struct.unpack('>I', head)[0] in PCAP_MAGICS:
        return 'pcap'
    return 'unknown'


def read_capture(path) -> Capture:
    """Read every frame of a pcap or pcapng file (chosen by magic number)."""
    data = Path(path).read_bytes()
    kind = file_kind(path)
    if kind == 'pcap':
        return _read_pcap(data)
    if kind == 'pcapng':
        return _read_pcapng(data)
    raise ValueError(f'{path}: not a pcap or pcapng file ({kind})')


def _read_pcap(data: bytes) -> Capture:
    """Classic pcap, with libpcap's record checks (see the module docstring)."""
    order, rec_cls = PCAP_MAGICS[struct.unpack('>I', data[:4])[0]]
    hdr_cls = dpcap.LEFileHdr if order == '<' else dpcap.FileHdr
    if len(data) < hdr_cls.__hdr_len__:
        return Capture(0, order, read_error='truncated file header')
    fh = hdr_cls(data[:hdr_cls.__hdr_len__])
    linktype = fh.linktype & 0xFFFF
    cap = Capture(linktype, order)
    snaplen = adjust_snaplen(fh.snaplen)
    if rec_cls in (dpcap.PktModHdr, dpcap.LEPktModHdr) and linktype == DLT_EN10MB:
        snaplen += 14                         # libpcap's allowance for "cooked" Kuznetzov
    per_usec = 1000 if struct.unpack('>I', data[:4])[0] in NANO_MAGICS else 1
    swap = 'always' if fh.v_minor < 3 else ('maybe' if fh.v_minor == 3 else 'never')
    off, rec_len = hdr_cls.__hdr_len__, rec_cls.__hdr_len__
    while off < len(data):
        if off + rec_len > len(data):
            cap.read_error = 'truncated record header'
            break
        rec = rec_cls(data[off:off + rec_len])
        caplen, wirelen = rec.caplen, rec.len
        if swap == 'always' or (swap == 'maybe' and caplen > wirelen):
            caplen, wirelen = wirelen, caplen
        if caplen > MAX_SNAPLEN:
            cap.read_error = f'invalid packet capture length {caplen}'
            break
        off += rec_len
        if off + caplen > len(data):
            cap.read_error = 'truncated record data'
            break
        cap.frames.append(data[off:off + min(caplen, snaplen)])
        cap.times_us.append(rec.tv_sec * 1_000_000 + rec.tv_usec // per_usec)
        cap.orig_lens.append(wirelen)
        off += caplen
    return cap


def _read_pcapng(data: bytes) -> Capture:
    """pcapng, one or more sections (module docstring: libpcap's checks, interfaces of
    their own link type and snap length)."""
    order = '<' if data[8:12] == BOM_LE else '>'
    cap = Capture(-1, order, fmt='pcapng')
    ifaces = []                                # (link type, snaplen, ticks/s, offset s)
    off = 0
    while off < len(data):
        first = off == 0
        if off + 8 > len(data):
            cap.read_error = 'truncated block header'
            break
        btype = struct.unpack(order + 'I', data[off:off + 4])[0]
        if btype == PCAPNG_SHB:
            bom = data[off + 8:off + 12]
            if bom not in (BOM_LE, BOM_LE[::-1]):
                cap.read_error = 'section with a bad byte order magic'
                break
            order = '<' if bom == BOM_LE else '>'
        blen = struct.unpack(order + 'I', data[off + 4:off + 8])[0]
        if blen < 12 or blen % 4 or blen > MAX_BLOCK or (first and not 28 <= blen <= 1 << 20):
            cap.read_error = f'bad block length {blen}'
            break
        if off + blen > len(data):
            cap.read_error = 'truncated block'
            break
        # libpcap checks every trailer but the first section header's
        if not first and struct.unpack(order + 'I', data[off + blen - 4:off + blen])[0] != blen:
            cap.read_error = 'block lengths in header and trailer differ'
            break
        body = data[off + 8:off + blen - 4]
        off += blen
        if btype == PCAPNG_SHB:
            cap.read_error = _pcapng_section(body, order, first)
            ifaces = []
        elif btype == PCAPNG_IDB:
            iface, cap.read_error = _pcapng_interface(body, order)
            if iface is not None:
                ifaces.append(iface)
                cap.linktype = iface[0] if cap.linktype < 0 else cap.linktype
        elif btype in (PCAPNG_EPB, PCAPNG_PB, PCAPNG_SPB):
            if cap.linktype < 0:
                cap.read_error = 'packet block before any interface'
                break
            record, cap.read_error = _pcapng_packet(btype, body, order, ifaces)
            if record is not None:
                frame, ts, orig_len, linktype = record
                cap.frames.append(frame)
                cap.times_us.append(ts)
                cap.orig_lens.append(orig_len)
                cap.linktypes.append(linktype)
        if cap.read_error:
            break
    if cap.linktype < 0 and cap.read_error is None:
        cap.read_error = 'no interface description block'
    return cap


def _pcapng_section(body, order, first):
    """None, or why libpcap stops at this section header block."""
    if len(body) < 16:
        return 'section header block too short'
    major, minor = struct.unpack(order + 'HH', body[4:8])
    if major != 1 or (first and minor not in (0, 2)):
        return f'pcapng version {major}.{minor}'
    return None


def _pcapng_interface(body, order):
    """((link type, adjusted snaplen, ticks per second, offset in seconds), None), or
    (None, why libpcap refuses this interface description block)."""
    if len(body) < 8:
        return None, 'interface description block too short'
    linktype, _reserved, snaplen = struct.unpack(order + 'HHI', body[:8])
    ticks, offset, seen, pos = 1_000_000, 0, set(), 8
    while pos != len(body):
        if len(body) - pos < 4:
            return None, 'option header cut short'
        code, length = struct.unpack(order + 'HH', body[pos:pos + 4])
        value = body[pos + 4:pos + 4 + length]
        pos += 4 + (length + 3) // 4 * 4
        if pos > len(body):
            return None, 'option value cut short'
        if code == dpcapng.PCAPNG_OPT_ENDOFOPT:
            if length:
                return None, 'opt_endofopt with a length'
            break
        if code in (dpcapng.PCAPNG_OPT_IF_TSRESOL, dpcapng.PCAPNG_OPT_IF_TSOFFSET):
            if code in seen or length != (1 if code == dpcapng.PCAPNG_OPT_IF_TSRESOL else 8):
                return None, f'option {code} twice or of length {length}'
            seen.add(code)
            if code == dpcapng.PCAPNG_OPT_IF_TSOFFSET:
                offset = struct.unpack(order + 'q', value)[0]
            elif value[0] & 0x80:
                if value[0] & 0x7F > 63:
                    return None, 'if_tsresol above 2^-63'
                ticks = 2 ** (value[0] & 0x7F)
            elif value[0] > 19:
                return None, 'if_tsresol above 10^-19'
            else:
                ticks = 10 ** value[0]
    return (linktype, adjust_snaplen(snaplen), ticks, offset), None


def _pcapng_packet(btype, body, order, ifaces):
    """((frame, timestamp, original length, link type), None) or (None, read error)."""
    if btype == PCAPNG_SPB:
        if len(body) < 4:
            return None, 'simple packet block too short'
        if not ifaces:
            return None, 'packet on interface 0 with no IDB'
        linktype, snaplen, _ticks, offset = ifaces[0]
        (orig_len,) = struct.unpack(order + 'I', body[:4])
        caplen = min(orig_len, snaplen)
        if caplen > len(body) - 4:
            return None, 'simple packet block too short for its length'
        return (body[4:4 + caplen], offset * 1_000_000, orig_len, linktype), None
    if len(body) < 20:
        return None, 'packet block too short'
    if btype == PCAPNG_EPB:
        iface, high, low, caplen, orig_len = struct.unpack(order + 'IIIII', body[:20])
    else:
        iface, _drops, high, low, caplen, orig_len = struct.unpack(order + 'HHIIII', body[:20])
    if iface >= len(ifaces):
        return None, f'packet on interface {iface} with no IDB'
    linktype, snaplen, ticks, offset = ifaces[iface]
    if caplen > snaplen:
        return None, f'invalid packet capture length {caplen}'
    if caplen > len(body) - 20:
        return None, 'packet block too short for its caplen'
    ts = offset * 1_000_000 + ((high << 32) | low) * 1_000_000 // ticks
    return (body[20:20 + caplen], ts, orig_len, linktype), None


# ----------------------------------------------------------------------------------
# Decoding one frame
# ----------------------------------------------------------------------------------

class DecodeError(Exception):
    """The frame is an error (counted by reason, makes no flow)."""


class L4Error(DecodeError):
    """An error in the TCP/UDP/ICMP header of an otherwise valid IP packet."""


class NotIP(Exception):
    """The frame carries no IP packet (ARP, LLDP, ...).

    ethertype/offset: the ethertype that was not IP and where its payload starts, when
    an ethertype decided it (for peers that decode more than the contract)."""

    def __init__(self, reason, ethertype=None, offset=None):
        super().__init__(reason)
        self.ethertype, self.offset = ethertype, offset


@dataclass
class Packet:
    """What the accounting needs from one IP packet."""
    vlan: tuple
    version: int
    proto: int
    src: str
    dst: str
    sport: int
    dport: int
    wire_len: int
    frag_id: int | None = None      # IP id when the packet is a fragment
    frag_offset: int = 0
    more_fragments: bool = False
    tcp_flags: int | None = None    # the TCP header's flags byte (first fragments too)
    icmp_type: int | None = None    # ICMP / ICMPv6 type (first fragments too)

    @property
    def key(self):
        return flow_key(self.vlan, self.proto, self.src, self.sport, self.dst, self.dport)


def _u16(buf, off):
    return struct.unpack_from('>H', buf, off)[0]


def link_payload(linktype: int, buf: bytes, byteorder: str):
    """(offset of the IP header, IP version 4/6 or 0 for 'by nibble', vlan ids)."""
    if linktype == DLT_EN10MB:
        if len(buf) < 14:
            raise DecodeError('ethernet: frame shorter than 14 bytes')
        return _ether_dispatch(buf, 12, _u16(buf, 12), 14)
    if linktype == DLT_LINUX_SLL:
        if len(buf) < 16:
            raise DecodeError('sll: frame shorter than 16 bytes')
        return _ether_dispatch(buf, 14, _u16(buf, 14), 16)
    if linktype == DLT_LINUX_SLL2:
        if len(buf) < 20:
            raise DecodeError('sll2: frame shorter than 20 bytes')
        return _ether_dispatch(buf, 0, _u16(buf, 0), 20)
    if linktype in RAW_LINKTYPES:
        return 0, 0, ()
    if linktype == DLT_IPV4:
        return 0, 4, ()
    if linktype == DLT_IPV6:
        return 0, 6, ()
    if linktype in (DLT_NULL, DLT_LOOP):
        return _null_payload(linktype, buf)
    if linktype == DLT_NFLOG:
        return _nflog_payload(buf, byteorder), _nflog_version(buf), ()
    if linktype in (DLT_PPP, DLT_PPP_SERIAL):
        return _ppp_payload(buf)
    if linktype == DLT_C_HDLC:
        # address, control, then an ethertype (Cisco HDLC)
        if len(buf) < 4:
            raise DecodeError('chdlc: frame shorter than 4 bytes')
        return _ether_dispatch(buf, 2, _u16(buf, 2), 4)
    raise NotIP(f'link type {linktype} outside the contract')


def _ppp_payload(buf):
    """PPP (RFC 1661): optional 0xFF 0x03 (RFC 1662), a 1- or 2-byte protocol field
    (an odd first byte is a compressed 1-byte field); 0x0021 IPv4, 0x0057 IPv6.
    A frame starting 0x0F/0x8F is Cisco HDLC mislabelled as PPP (Wireshark does the same)."""
    if len(buf) >= 4 and buf[0] in (0x0F, 0x8F):
        return _ether_dispatch(buf, 2, _u16(buf, 2), 4)
    off = 2 if buf[:2] == b'\xff\x03' else 0
    if len(buf) < off + 1:
        raise DecodeError('ppp: no protocol field')
    if buf[off] & 1:
        proto, off = buf[off], off + 1
    else:
        if len(buf) < off + 2:
            raise DecodeError('ppp: protocol field cut short')
        proto, off = _u16(buf, off), off + 2
    if proto == 0x0021:
        return off, 4, ()
    if proto == 0x0057:
        return off, 6, ()
    raise NotIP(f'ppp: protocol {proto:#06x}')


def _null_payload(linktype, buf):
    """NULL (AF in the capturing host's order) and LOOP (AF in network order)."""
    if len(buf) < 4:
        raise DecodeError('null: frame shorter than 4 bytes')
    if linktype == DLT_LOOP:
        family = struct.unpack_from('>I', buf, 0)[0]
    else:
        family = struct.unpack_from('<I', buf, 0)[0]
        if family & 0xFFFF0000:            # written by a big-endian host
            family = struct.unpack_from('>I', buf, 0)[0]
    if family == AF_INET:
        return 4, 4, ()
    if family in AF_INET6:
        return 4, 6, ()
    raise NotIP(f'null: address family {family}')


def _nflog_payload(buf, byteorder):
    """Offset of the NFULA_PAYLOAD TLV's value (TLV fields in the file's byte order)."""
    if len(buf) < 4:
        raise DecodeError('nflog: frame shorter than its 4-byte header')
    off = 4
    while off + 4 <= len(buf):
        tlv_len, tlv_type = struct.unpack_from(byteorder + 'HH', buf, off)
        if tlv_len < 4 or off + tlv_len > len(buf):
            raise DecodeError(f'nflog: bad TLV length {tlv_len}')
        if tlv_type == NFULA_PAYLOAD:
            return off + 4
        off += (tlv_len + 3) & ~3
    raise NotIP('nflog: no payload TLV')


def _nflog_version(buf):
    if buf[0] not in NFLOG_FAMILIES:
        raise NotIP(f'nflog: address family {buf[0]}')
    return NFLOG_FAMILIES[buf[0]]


def _ether_dispatch(buf, type_off, ethertype, off):
    """Walk VLAN tags, MPLS labels and PPPoE after an ethertype field."""
    vlans = []
    while ethertype in ETH_VLAN:
        if len(vlans) == MAX_VLAN_TAGS:
            raise DecodeError('vlan: more than two tags')
        if len(buf) < off + 4:
            raise DecodeError('vlan: tag truncated')
        vlans.append(_u16(buf, off) & 0x0FFF)
        ethertype = _u16(buf, off + 2)
        off += 4
    vlan = tuple(vlans)
    if ethertype == ETH_IPV4:
        return off, 4, vlan
    if ethertype == ETH_IPV6:
        return off, 6, vlan
    if ethertype in ETH_MPLS:
        return _mpls_bottom(buf, off), 0, vlan
    if ethertype == ETH_PPPOE_SESSION:
        if len(buf) < off + 8:
            raise DecodeError('pppoe: header truncated')
        ppp = _u16(buf, off + 6)
        if ppp == PPP_IPV4:
            return off + 8, 4, vlan
        if ppp == PPP_IPV6:
            return off + 8, 6, vlan
        raise NotIP(f'pppoe: PPP protocol {ppp:#06x}')
    raise NotIP(f'ethertype {ethertype:#06x}', ethertype, off)


def _mpls_bottom(buf, off):
    """Offset after the bottom-of-stack label; the payload must start with 4 or 6."""
    while True:
        if len(buf) < off + 4:
            raise DecodeError('mpls: label stack truncated')
        bottom = buf[off + 2] & 0x01
        off += 4
        if bottom:
            break
    if len(buf) <= off:
        raise DecodeError('mpls: nothing after the label stack')
    if buf[off] >> 4 not in (4, 6):
        # CONTRACT GAP: the contract does not say what a non-IP MPLS payload (e.g. an
        # Ethernet pseudowire) is; the core, like Suricata (mpls.unknown_payload_type),
        # counts it as an error, and so do we.
        raise DecodeError(f'mpls: payload starts with nibble {buf[off] >> 4}')
    return off


def decode_frame(linktype: int, buf: bytes, byteorder: str = '<') -> Packet:
    """Decode one frame; raises DecodeError (an error) or NotIP (a non-IP frame)."""
    off, version, vlan = link_payload(linktype, buf, byteorder)
    if version == 0:
        if len(buf) <= off:
            raise DecodeError('raw: no IP header')
        version = buf[off] >> 4
        if version not in (4, 6):
            raise DecodeError(f'raw: IP version {version}')
    if version == 4:
        return _decode_ipv4(buf, off, vlan)
    return _decode_ipv6(buf, off, vlan)


def _decode_ipv4(buf, off, vlan):
    ip = buf[off:]
    if len(ip) < 20:
        raise DecodeError('ipv4: fewer than 20 bytes')
    if ip[0] >> 4 != 4:
        raise DecodeError('ipv4: version is not 4')
    hlen = (ip[0] & 0x0F) * 4
    if hlen < 20:
        raise DecodeError('ipv4: IHL < 5')
    total = _u16(ip, 2)
    if total < hlen:
        raise DecodeError('ipv4: total length < header length')
    if len(ip) < hlen:
        raise DecodeError('ipv4: header not fully captured')
    flags_frag = _u16(ip, 6)
    frag_offset, more = flags_frag & 0x1FFF, bool(flags_frag & 0x2000)
    pkt = Packet(vlan, 4, ip[9], str(ipaddress.IPv4Address(ip[12:16])),
                 str(ipaddress.IPv4Address(ip[16:20])), 0, 0,
                 max(len(buf), off + total))
    if frag_offset or more:
        pkt.frag_id, pkt.frag_offset, pkt.more_fragments = _u16(ip, 4), frag_offset, more
    if frag_offset == 0:
        _decode_l4(pkt, ip[hlen:total], total - hlen)
    return pkt


def _decode_ipv6(buf, off, vlan):
    ip = buf[off:]
    if len(ip) < 40:
        raise DecodeError('ipv6: fewer than 40 bytes')
    if ip[0] >> 4 != 6:
        raise DecodeError('ipv6: version is not 6')
    end = 40 + _u16(ip, 4)
    pkt = Packet(vlan, 6, ip[6], str(ipaddress.IPv6Address(ip[8:24])),
                 str(ipaddress.IPv6Address(ip[24:40])), 0, 0, max(len(buf), off + end))
    nh, pos = ip[6], 40
    while nh in IPV6_EXT_HEADERS:
        if nh == IPV6_FRAGMENT:
            if len(ip) < pos + 8:
                raise DecodeError('ipv6: fragment header truncated')
            offset_flags = _u16(ip, pos + 2)
            pkt.frag_id = struct.unpack_from('>I', ip, pos + 4)[0]
            pkt.frag_offset, pkt.more_fragments = offset_flags >> 3, bool(offset_flags & 1)
            nh, pos = ip[pos], pos + 8
            if pkt.frag_offset:
                break
            continue
        if len(ip) < pos + 2:
            raise DecodeError('ipv6: extension header truncated')
        hdr_len = (ip[pos + 1] + 2) * 4 if nh == IPV6_AH else (ip[pos + 1] + 1) * 8
        if len(ip) < pos + hdr_len:
            raise DecodeError('ipv6: extension header truncated')
        nh, pos = ip[pos], pos + hdr_len
    pkt.proto = nh
    if pkt.frag_offset == 0:
        _decode_l4(pkt, ip[pos:end], end - pos)
    return pkt


def _decode_l4(pkt: Packet, l4: bytes, ip_payload_len: int):
    """Ports and L4 error rules for a first fragment or an unfragmented packet.

    l4 is the captured part of the IP payload (never past the IP length)."""
    need = L4_MIN_HEADER.get(pkt.proto)
    if need is not None and (len(l4) < need or ip_payload_len < need):
        raise L4Error(f'proto {pkt.proto}: header shorter than {need} bytes')
    if pkt.proto == PROTO_TCP:
        data_offset = l4[12] >> 4
        if data_offset < 5:
            raise L4Error('tcp: data offset < 5')
        if data_offset * 4 > ip_payload_len:
            raise L4Error('tcp: data offset beyond the IP payload')
        pkt.tcp_flags = l4[13]
    if pkt.proto in PORT_PROTOS:
        pkt.sport, pkt.dport = struct.unpack_from('>HH', l4, 0)
    elif pkt.proto == (PROTO_ICMP if pkt.version == 4 else PROTO_ICMPV6) and l4:
        pkt.icmp_type = l4[0]


def crafted_flags(flags: int) -> bool:
    """A TCP flag byte no stack sends (RFC 9293: every segment after the first SYN
    carries ACK; a SYN never carries FIN or RST): NULL (none of the six classic flags),
    SYN with FIN or RST, or FIN, PSH or URG without ACK and RST."""
    fin, syn, rst, psh, ack, urg = (bool(flags & bit) for bit in (1, 2, 4, 8, 16, 32))
    if not (fin or syn or rst or psh or ack or urg):
        return True
    if syn and (fin or rst):
        return True
    return not ack and not rst and (fin or psh or urg)


def crafted_packets(capture: Capture):
    """Yield the decoded packets of a capture whose TCP flags are crafted_flags."""
    for _, pkt in decode_packets(capture):
        if isinstance(pkt, Packet) and pkt.tcp_flags is not None \
                and crafted_flags(pkt.tcp_flags):
            yield pkt


def crafted_senders(capture: Capture) -> set:
    """Source addresses of the packets with crafted_flags in a capture."""
    return {pkt.src for pkt in crafted_packets(capture)}


# ----------------------------------------------------------------------------------
# Accounting
# ----------------------------------------------------------------------------------

@dataclass
class Reference:
    """Per-5-tuple totals for one capture plus the frames that made no flow."""
    flows: dict = field(default_factory=dict)      # key -> [packets, bytes]
    errors: Counter = field(default_factory=Counter)  # reason -> frames
    non_ip: int = 0
    frames: int = 0
    linktype: int = -1
    read_error: str | None = None

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def flow_key(vlan, proto, src, sport, dst, dport):
    """The canonical key: (vlan tuple, proto, sorted endpoint pair)."""
    if proto not in PORT_PROTOS:
        sport = dport = 0
    return (tuple(vlan), proto, tuple(sorted(((src, sport), (dst, dport)))))


class FragmentPorts:
    """Ports of first fragments, so later fragments join their flow.

    A first fragment is offset 0 with more-fragments set (an IPv6 atomic fragment, offset
    0 without it, is a whole packet). CONTRACT GAP: the contract sets no lifetime; the
    core, like Suricata's 60 s defrag timeout, forgets a first fragment's ports after
    FRAGMENT_TTL_US, and so do we (a later fragment after that is port-less)."""

    def __init__(self):
        self._ports = {}

    @staticmethod
    def key(pkt: Packet):
        return (pkt.version, pkt.src, pkt.dst, pkt.proto, pkt.frag_id)

    def apply(self, pkt: Packet, ts_us: int):
        if pkt.frag_id is None:
            return
        if pkt.frag_offset == 0:
            if pkt.more_fragments and pkt.proto in PORT_PROTOS:
                self._ports[self.key(pkt)] = (pkt.sport, pkt.dport, ts_us)
        elif pkt.proto in PORT_PROTOS:
            sport, dport, seen = self._ports.get(self.key(pkt), (0, 0, None))
            if seen is not None and ts_us - seen <= FRAGMENT_TTL_US:
                pkt.sport, pkt.dport = sport, dport


def decode_packets(capture: Capture):
    """Yield (frame index, Packet | DecodeError | NotIP) for every frame, in order.

    Packets of later fragments already carry the ports of their first fragment."""
    frags = FragmentPorts()
    for index, buf in enumerate(capture.frames):
        try:
            pkt = decode_frame(capture.linktype_of(index), buf, capture.byteorder)
        except (DecodeError, NotIP) as exc:
            yield index, exc
            continue
        frags.apply(pkt, capture.times_us[index])
        yield index, pkt


def account(capture: Capture) -> Reference:
    """Sum packets and wire bytes per canonical key over every frame of a capture."""
    ref = Reference(linktype=capture.linktype, read_error=capture.read_error)
    for _, outcome in decode_packets(capture):
        ref.frames += 1
        if isinstance(outcome, DecodeError):
            ref.errors[str(outcome)] += 1
        elif isinstance(outcome, NotIP):
            ref.non_ip += 1
        else:
            totals = ref.flows.setdefault(outcome.key, [0, 0])
            totals[0] += 1
            totals[1] += outcome.wire_len
    return ref


def reference_flows(path) -> Reference:
    """Read and account one capture file."""
    return account(read_capture(path))


def main(argv):
    for path in argv:
        ref = reference_flows(path)
        print(f'# {path}: linktype {ref.linktype}, {ref.frames} frames, '
              f'{len(ref.flows)} keys, {ref.non_ip} non-IP, {ref.error_count} errors'
              + (f', read error: {ref.read_error}' if ref.read_error else ''))
        for reason, n in sorted(ref.errors.items()):
            print(f'#   error {n} x {reason}')
        for key, (pkts, nbytes) in sorted(ref.flows.items(), key=repr):
            print(key, pkts, nbytes)


if __name__ == '__main__':
    main(sys.argv[1:])
