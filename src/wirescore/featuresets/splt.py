"""The SPLT set: NFStream's early-flow sequence, the first N packets of each flow.

NFStream (`NFStreamer(splt_analysis=N)`) gives each flow three arrays of N values:
`splt_direction` (0: the direction of the flow's first packet, src -> dst; 1: the
other), `splt_ps` (the packet's size: with NFStream's default accounting_mode 0 its
length on the wire, link header included) and `splt_piat_ms` (milliseconds since the
flow's previous packet in either direction, 0 for the first), each -1 past the flow's
last packet. Here they are the columns splt_direction_1 .. _N, splt_ps_1 .. _N,
splt_piat_ms_1 .. _N, in that order: a model takes fixed columns, not arrays.

The packets are kept by the core (ext/splt.pxd, FlowMeter(splt=N), N up to 32: each
flow record's splt_count, splt_direction, splt_size and splt_gap_us) and turned into
NFStream's values here:
- piat_ms: NFStream keeps packet times in whole milliseconds (truncated) and subtracts
  them, so a gap is the difference of the two packets' truncated times, not the gap
  truncated (two packets 0.6 ms apart across a millisecond boundary are 1 ms apart);
- ps: wire lengths of 65,535 bytes and more are 65,535 (the core keeps 16 bits;
  NFStream's own limit is the snapshot length);
- flows are the core's (tests/test_splt_nfstream.py compares with NFStream under its
  flow definition: idle timeout 120 s for every protocol, no end at a TCP close,
  flow.tcp_close false). With wirescore's defaults a TCP flow ends at its close and UDP
  or ICMP flows idle out sooner, so a long-lived UDP "flow" may be two rows here;
- tunnels: NFStream keys a tunnelled packet on its inner headers (decode_tunnels),
  the core on the outer ones (6in4, GTP-U, CAPWAP: one flow of the tunnel here).
"""
from __future__ import annotations

import numpy as np

from wirescore.featuresets.base import Column, FeatureSet

#: packets a flow the set's columns describe (NFStream's splt_analysis); the core keeps
#: up to 32 (FlowMeter(splt=n))
DEFAULT_PACKETS = 20
#: the column families, in order: (prefix, unit, definition)
FAMILIES = (
    ("splt_direction", "0/1", "direction of the flow's k-th packet: 0 the first "
                              "packet's (src -> dest), 1 the other; -1 past the flow's end"),
    ("splt_ps", "bytes", "wire length of the flow's k-th packet (link header "
                         "included, at most 65535); -1 past the flow's end"),
    ("splt_piat_ms", "ms", "whole milliseconds from the flow's (k-1)-th packet to its "
                           "k-th (times truncated to ms first, as NFStream); 0 for the "
                           "first; -1 past the flow's end"),
)


def column_names(packets: int = DEFAULT_PACKETS) -> list[str]:
    """The set's columns for `packets` packets a flow, in order."""
    return [f"{prefix}_{k}" for prefix, _u, _d in FAMILIES for k in range(1, packets + 1)]


def piat_ms(start_us: np.ndarray, gap_us: np.ndarray) -> np.ndarray:
    """NFStream's inter-arrival times (int64 [m, n], ms) from the flows' first packet
    times (µs, [m]) and the core's gaps (µs, [m, n], -1 past a flow's end): each
    packet's time truncated to milliseconds, minus the previous packet's."""
    gap = np.asarray(gap_us, dtype=np.int64)
    past = gap < 0
    times = np.asarray(start_us, dtype=np.int64)[:, None] + np.cumsum(
        np.where(past, 0, gap), axis=1)
    ms = times // 1000
    out = np.empty_like(ms)
    if out.shape[1]:
        out[:, 0] = 0
        out[:, 1:] = ms[:, 1:] - ms[:, :-1]
    out[past] = -1
    return out


def splt_columns(records: np.ndarray, packets: int = DEFAULT_PACKETS) -> dict[str, np.ndarray]:
    """The set's columns for `packets` packets a flow (name -> int64 array, one value a
    record) from flow records (RECORD_DTYPE) of a FlowMeter(splt=packets or more)."""
    count = records["splt_count"].astype(np.int64)
    past = np.arange(packets)[None, :] >= count[:, None]
    direction = np.where(past, -1, records["splt_direction"][:, :packets].astype(np.int64))
    size = np.where(past, -1, records["splt_size"][:, :packets].astype(np.int64))
    gap = np.where(past, -1, records["splt_gap_us"][:, :packets].astype(np.int64))
    piat = piat_ms(records["start_us"], gap)
    out: dict[str, np.ndarray] = {}
    for (prefix, _u, _d), values in zip(FAMILIES, (direction, size, piat)):
        for k in range(packets):
            out[f"{prefix}_{k + 1}"] = values[:, k]
    return out


def _columns(packets: int = DEFAULT_PACKETS) -> tuple[Column, ...]:
    return tuple(Column(f"{prefix}_{k}", unit, f"{definition} (k = {k})")
                 for prefix, unit, definition in FAMILIES for k in range(1, packets + 1))


class SpltComputer:
    """The set's columns of each batch of flow records (stateless: a flow's sequence is
    in its own record); link_bytes is not used (sizes are wire lengths, as NFStream's)."""

    def __init__(self, link_bytes: int = 14):
        self.link_bytes = link_bytes

    def __call__(self, records: np.ndarray) -> dict[str, np.ndarray]:
        return splt_columns(records, DEFAULT_PACKETS)


SET = FeatureSet("splt", f"NFStream's early-flow sequence (splt_analysis={DEFAULT_PACKETS}): "
                 "direction, size and gap of each flow's first packets", _columns(),
                 SpltComputer, splt_packets=DEFAULT_PACKETS)
