"""The netml set: netml's flow features (IAT, SIZE, IAT_SIZE, STATS, SAMP_NUM, SAMP_SIZE
and their FFT variants), as the netml package 0.7.1 computes them, from a capture file.

netml (noise-lab/netml; Yang, Kun et al., "Comparing Alternative Representations for
Network Traffic", 2020) turns a capture into unidirectional TCP/UDP subflows and each
subflow into one vector whose length is fixed per capture. Both the subflows (a split
interval: a quantile of the capture's flow durations) and the length (dim: a quantile
of its subflow packet counts) come from the whole capture, and every family reads every
packet of a subflow, which the core's flow records do not keep. So this set is computed
offline, per capture, from packets (`from_capture`, `wirescore features --set netml -r
CAPTURE --export F.csv`), not from flow records: `run --export --feature-set netml`,
profiles and `train --feature-set netml` refuse it with one line saying so. Give dim,
interval and sampling_rate explicitly to make vectors of two captures comparable (a
model trained on one capture's vectors needs the same dim on the next).

What the columns are: netml_flows (flows and subflows) and netml_families (each family,
units, header); what differs from netml itself (tests/test_featureset_netml.py runs
netml on shared captures and compares every subflow):
- timestamps: a nanosecond capture is read at microseconds (libpcap's rule), netml keeps
  nanoseconds: IATs differ below 1 µs, and a split or window edge may fall on the other
  side of a packet less than 1 µs from it;
- packets netml's scapy and the core's decoder read differently: tunnels (scapy keys a
  GTP/VXLAN/6in4 packet on the outer IPv4 addresses and the inner TCP/UDP ports, the
  decoder on the outer headers: a UDP tunnel is one UDP flow, IP-in-IP none), MPLS
  (scapy does not decode it: no flow; the decoder reads through the labels), malformed
  headers the decoder refuses (counted in its counters) that scapy parses anyway;
- header=True: netml reads the TCP flags and TTL at fixed layer positions (pkt.payload):
  right for untagged Ethernet IPv4; with a VLAN tag it counts the IP header's flag
  letters (DF, MF) as TCP flags, and on IPv6 or a link type without a link header it
  fails. Here they are always the TCP header's flags and the IP TTL / hop limit;
- ipv6="flows" (not the default) keys IPv6 flows by their 5-tuple; netml puts every
  IPv6 TCP/UDP packet in one flow ('', '', -1, -1, -1), as ipv6="netml" does;
- where netml fails, this set says why in one line: a split interval or sampling rate
  of 0 s (netml divides by it), no flow of 2 or more packets (netml's quantile of an
  empty list).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from wirescore.errors import WirescoreError
from wirescore.featuresets.base import Column, FeatureSet
from wirescore.featuresets.netml_families import (BASE, FEAT_TYPES, FLAGS, STATS,
                                                  column_names, family)
from wirescore.featuresets.netml_flows import NetmlParams, make_subflows, read_packets

log = logging.getLogger(__name__)

#: the identity columns of each row (netml's fid and the subflow's first packet time)
IDENTITY = ("src_ip", "dst_ip", "src_port", "dst_port", "proto", "start")
NEEDS_CAPTURE = ("computed per capture from every packet (netml's subflows and vector "
                 "length are quantiles over the whole capture), not from flow records: "
                 "write it with `wirescore features --set netml -r CAPTURE --export "
                 "FILE.csv` (or wirescore.featuresets.netml.from_capture)")

_SEQ = {
    "IAT": ("s", "dim - 1", "seconds from the subflow's packet k to packet k + 1"),
    "SIZE": ("bytes", "dim", "captured frame length of the subflow's packet k (link "
                             "header and padding included, as scapy's len(pkt))"),
    "IAT_SIZE": ("s|bytes", "2 dim - 1", "IAT and SIZE interleaved: iat_1, size_1, "
                                         "iat_2, ..., the last packet's size"),
    "SAMP_NUM": ("packets", "dim - 1", "packets in the subflow's k-th sampling window "
                                       "(sampling_rate s; at most 500 windows)"),
    "SAMP_SIZE": ("bytes", "dim - 1", "frame bytes in the subflow's k-th sampling "
                                      "window (as samp_num)"),
}
_STATS = {
    "duration": ("s", "last packet time minus first"),
    "pkts_rate": ("packets/s", "packets / duration; 0 when the duration is 0"),
    "bytes_rate": ("bytes/s", "frame bytes / duration; 0 when the duration is 0"),
    "mean": ("bytes", "mean frame length"),
    "std": ("bytes", "population standard deviation of the frame lengths"),
    "q1": ("bytes", "25 % quantile of the frame lengths (numpy linear)"),
    "q2": ("bytes", "median frame length (numpy linear)"),
    "q3": ("bytes", "75 % quantile of the frame lengths (numpy linear)"),
    "min": ("bytes", "smallest frame length"),
    "max": ("bytes", "largest frame length"),
    "num_pkts": ("packets", "packets in the subflow"),
    "num_bytes": ("bytes", "frame bytes in the subflow"),
}


def _columns() -> tuple[Column, ...]:
    """The set's columns as templates: k runs over a family's length, fixed per capture."""
    cols = []
    for base, (unit, d, text) in _SEQ.items():
        name = base.lower()
        cols.append(Column(f"{name}_k", unit, f"netml {base}: {text}; 0 past the "
                                              f"subflow's end (k = 1 .. {d})"))
    cols += [Column(f"stats_{s}", unit, f"netml STATS: {text}")
             for s, (unit, text) in _STATS.items()]
    for base, (unit, d, _t) in _SEQ.items():
        cols.append(Column(f"fft_{base.lower()}_k", unit, f"netml FFT-{base}: real part "
                           f"of the DFT (numpy fft, n = {d}) of the {base} vector, "
                           "frequency k - 1 (k = 1 .. n)"))
    cols.append(Column("<type>_hdr_k", "count|hops", "netml header=True, before a "
                       f"type's columns: counts of TCP {', '.join(FLAGS)} over the "
                       "subflow (k = 1 .. 8), then each packet's IP TTL (k = 9 .. 8 + "
                       "the type's length); with FFT the real DFT of that vector"))
    return tuple(cols)


class _RefuseRecords:
    """The set's computer: the set is not computed from flow records."""

    def __init__(self, link_bytes: int = 14):
        raise WirescoreError(f"feature set netml: {NEEDS_CAPTURE}")


SET = FeatureSet("netml", "netml's flow features (IAT, SIZE, IAT_SIZE, STATS, SAMP_NUM, "
                 "SAMP_SIZE, FFT-*) per capture, from every packet: not from flow records",
                 _columns(), _RefuseRecords, needs_capture=NEEDS_CAPTURE)


@dataclass
class NetmlTable:
    """netml's features of one capture: one row a subflow, in netml's order (flows in
    order of their first packet, each flow's subflows in time order).

    ident: IDENTITY columns (netml's fid: addresses as text, "" and -1 for netml's one
    IPv6 flow; start: the subflow's first packet, epoch s); names / values: the feature
    columns (float64, rows x columns); interval, dim, sampling_rate: the parameters
    used (s, packets, s); frames read, packets dropped by reason."""
    ident: dict
    names: list
    values: np.ndarray
    interval: float
    dim: int
    sampling_rate: float
    frames: int
    dropped: dict

    def columns(self) -> dict:
        """Identity and feature columns by name."""
        out = dict(self.ident)
        out.update({n: self.values[:, j] for j, n in enumerate(self.names)})
        return out


def from_capture(path: str, feat_types=("IAT",), header: bool = False,
                 params: NetmlParams | None = None, bpf: str | None = None) -> NetmlTable:
    """netml's features of a capture file: feat_types (netml's names, FEAT_TYPES), each
    with netml's header block when header; params: NetmlParams (q_interval, dim, ...).
    Reads the capture once; cost O(packets) + O(rows x columns); memory: NetmlParams."""
    params = params or NetmlParams()
    feat_types = list(feat_types)
    for ft in feat_types:
        family_of(ft)
    packets = read_packets(path, params, bpf)
    sub = make_subflows(packets, params)
    log.info("netml %s: %d frames, %d TCP/UDP flows, %d subflows; interval %.6g s, "
             "dim %d, sampling rate %.6g s", path, packets.frames, len(packets.fids),
             len(sub.count), sub.interval, sub.dim, sub.sampling_rate)
    names, blocks = [], []
    for ft in feat_types:
        names += column_names(ft, sub.dim, header)
        blocks.append(family(sub, ft, header))
    fids = sub.fids
    ident = {"src_ip": [f[0] for f in fids], "dst_ip": [f[1] for f in fids],
             "src_port": np.array([f[2] for f in fids], dtype=np.int64),
             "dst_port": np.array([f[3] for f in fids], dtype=np.int64),
             "proto": np.array([f[4] for f in fids], dtype=np.int64),
             "start": sub.t[sub.starts[:-1]]}
    values = np.hstack(blocks) if blocks else np.zeros((len(fids), 0))
    return NetmlTable(ident, names, values, sub.interval, sub.dim, sub.sampling_rate,
                      packets.frames, packets.dropped)


def params_from(pairs: dict) -> NetmlParams:
    """NetmlParams from {name: value} (--param KEY=VALUE); an error naming the
    parameters for an unknown one."""
    import dataclasses

    known = [f.name for f in dataclasses.fields(NetmlParams)]
    unknown = sorted(set(pairs) - set(known))
    if unknown:
        raise WirescoreError(f"netml: no parameter {unknown[0]!r} (parameters: "
                             f"{', '.join(known)})")
    try:
        return NetmlParams(**pairs)
    except TypeError as exc:
        raise WirescoreError(f"netml: {exc}") from None


def write_csv(table: NetmlTable, path) -> int:
    """The table as CSV (identity columns, then the features; numbers as Python's repr,
    so they read back exactly); returns the rows written."""
    import csv

    cols = table.columns()
    names = list(cols)
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(names)
        values = [cols[n].tolist() if isinstance(cols[n], np.ndarray) else cols[n]
                  for n in names]
        out.writerows(zip(*values))
    return len(table.values)


def family_of(feat_type: str) -> str:
    """The base family of a feature type; an error naming the types for an unknown one."""
    from wirescore.featuresets.netml_families import split_type

    return split_type(feat_type)[0]


__all__ = ["SET", "from_capture", "params_from", "write_csv", "NetmlParams", "NetmlTable",
           "FEAT_TYPES", "BASE", "STATS", "IDENTITY"]
