# cython: freethreading_compatible = False
"""Python face of the decoder, for tests and fuzzing (the hot path inlines decode.pxd).

decode_one(frame, linktype) decodes a single frame exactly as the flow table does and
returns what it saw; it allocates per call and is not meant for bulk work.
"""
import numpy as np

from libc.stdint cimport uint8_t, uint64_t
from decode cimport (PacketView, decode_frame, linktype_supported,
                     RES_IP, RES_NONIP, RES_ERROR, RES_ARP)
from counters cimport N_COUNTERS

RESULT_NAMES = {RES_IP: "ip", RES_NONIP: "nonip", RES_ERROR: "error", RES_ARP: "nonip"}


def is_supported_linktype(int linktype):
    """True when the decoder handles this libpcap DLT value."""
    return bool(linktype_supported(linktype))


def decode_one(const uint8_t[::1] frame, int linktype):
    """Decode one frame; returns (result, fields dict, counters ndarray[uint64]).

    result is "ip", "nonip" or "error"; fields holds the PacketView (addresses as
    bytes of 4 or 16); counters has one slot per COUNTER_NAMES entry.
    """
    cdef PacketView v
    cdef uint64_t[::1] cnt
    cdef uint64_t[::1] et
    counters = np.zeros(N_COUNTERS, dtype=np.uint64)
    ethertypes = np.zeros(65536, dtype=np.uint64)
    cnt = counters
    et = ethertypes
    cdef const uint8_t* data = &frame[0] if frame.shape[0] > 0 else <const uint8_t*>b""
    cdef int res
    with nogil:
        res = decode_frame(data, <unsigned int>frame.shape[0], linktype, &v, &cnt[0], &et[0])
    alen = 4 if v.ipver == 4 else 16
    fields = dict(
        ipver=v.ipver, proto=v.proto, src=bytes(v.src[:alen]), dst=bytes(v.dst[:alen]),
        sport=v.sport, dport=v.dport, has_ports=v.has_ports, wire_len=v.wire_len,
        payload_len=v.payload_len, payload_off=v.payload_off, payload_cap=v.payload_cap,
        tcp_seq=v.tcp_seq, tcp_flags=v.tcp_flags, tcp_win=v.tcp_win, ttl=v.ttl,
        icmp_type=v.icmp_type, icmp_code=v.icmp_code, frag=v.frag, ip_id=v.ip_id,
        vlan=[v.vlan0, v.vlan1][:v.nvlan],
    )
    return RESULT_NAMES[res], fields, counters
