"""The packet ring's address queries (ring_key) against dpkt.

ring_key() passes over frames whose address tags differ without decoding them, and
decodes the frames it cannot rule out (IPv6 tags that match, fragments, frames without
tags); the frames it picks must be exactly those dpkt decodes to IP with that source or
destination address, in ring order, byte for byte, over the whole ring and over a
narrower time range, for IPv4, IPv6 and fragmented IPv4 captures.
"""
from __future__ import annotations

import socket

import dpkt
import numpy as np
import pytest

from conftest import FIXTURES, SHARED_DATA, need_shared

CAPTURES = [
    FIXTURES / "ndpi-synscan.pcap",                                   # IPv4, many hosts
    "peer-groundtruth/ndpi/lru_ipv6_caches.pcapng",                   # IPv6
    "peer-groundtruth/nfstream/dns_fragmented.pcap",                  # IPv4 fragments
    "peer-groundtruth/ndpi/smb_frags.pcap",
]


def _path(capture):
    if isinstance(capture, str):
        need_shared()
        return SHARED_DATA / "pcaps" / capture
    return capture


def _ring(path):
    """A FlowMeter that has read the whole capture into a ring large enough for all."""
    from wirescore._core.flowtable import FlowMeter
    from wirescore.capture import open_source

    src = open_source(str(path), bpf=None, batch_size=64, timeout_ms=100)
    meter = None
    for data, meta, linktype in src.batches(prefetch=0):
        if meter is None:
            meter = FlowMeter(linktype, ring_bytes=1 << 22)
        i = 0
        while i < len(meta):
            i = meter.feed(data, meta, i, linktype)
            meter.drain()
    src.close()
    return meter


def _frames(meter):
    """(frame bytes, time in µs, caplen) of every frame in the ring, oldest first."""
    data, meta = meter.ring_between(0.0, float(1 << 34))
    out, pos = [], 0
    for sec, usec, caplen, _wire, _lt in meta.tolist():
        out.append((data[pos:pos + caplen], sec * 1_000_000 + usec))
        pos += caplen
    return out


def _addresses(frame: bytes):
    """(version, source, destination) dpkt decodes from an Ethernet frame, or None."""
    eth = dpkt.ethernet.Ethernet(frame)
    ip = eth.data
    if isinstance(ip, dpkt.ip.IP):
        return 4, bytes(ip.src), bytes(ip.dst)
    if isinstance(ip, dpkt.ip6.IP6):
        return 6, bytes(ip.src), bytes(ip.dst)
    return None


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda c: str(c).rsplit("/", 1)[-1])
def test_ring_key_picks_what_dpkt_decodes(capture):
    meter = _ring(_path(capture))
    frames = _frames(meter)
    decoded = [_addresses(f) for f, _ in frames]
    assert any(d is not None for d in decoded)
    times = [t for _, t in frames]
    spans = [(0.0, float(1 << 34))]
    if len(times) > 4:                       # the middle half of the capture's time
        lo, hi = sorted(times)[len(times) // 4], sorted(times)[3 * len(times) // 4]
        spans.append((lo / 1e6, hi / 1e6))
    keys = {(d[0], side, d[side]) for d in decoded if d is not None for side in (1, 2)}
    checked = 0
    for version, side, addr in sorted(keys):
        for start, end in spans:
            s_us, e_us = int(start * 1e6), int(end * 1e6)
            want = [f for (f, t), d in zip(frames, decoded)
                    if d is not None and d[0] == version and d[side] == addr
                    and s_us <= t < e_us]
            data, meta = meter.ring_key(side, addr, version, start, end)
            assert len(meta) == len(want), (socket.inet_ntop(
                socket.AF_INET if version == 4 else socket.AF_INET6, addr), side, start)
            assert data == b"".join(want)
            checked += 1
    assert checked >= len(keys)


def test_an_ipv4_key_that_folds_like_an_ipv6_one_is_not_taken_for_it():
    """An IPv6 tag folds 16 bytes into 4; an IPv4 key with the same 4 bytes must not
    match an IPv6 frame (the tag holds the version too)."""
    meter = _ring(_path("peer-groundtruth/ndpi/lru_ipv6_caches.pcapng"))
    frames = _frames(meter)
    v6 = [a for a in (_addresses(f) for f, _ in frames) if a is not None and a[0] == 6]
    assert v6
    words = np.frombuffer(v6[0][1], dtype=np.uint32)
    folded = np.bitwise_xor.reduce(words).tobytes()
    data, meta = meter.ring_key(1, folded, 4, 0.0, float(1 << 34))
    assert len(meta) == 0 and data == b""
