"""netml's flows from a capture: every TCP/UDP packet, keyed and split as netml 0.7.1 does.

netml (noise-lab/netml, netml/pparser/parser.py) reads a capture with scapy and
- keys each packet that has a TCP or UDP header by its unidirectional 5-tuple (src,
  dst, sport, dport, proto) when it is IPv4; every IPv6 TCP/UDP packet goes into one
  flow, ('', '', -1, -1, -1) (its _get_fid knows IPv4 only); flows keep the order in
  which their first packet came;
- drops flows of fewer than flow_pkts_thres (2) packets, sorts each flow's packets by
  time, and splits a flow where two packets are more than tcp_timeout / udp_timeout
  (600 s) apart; when a flow was split, its last piece is dropped, and pieces of fewer
  than flow_pkts_thres packets too;
- takes the split interval as the q_interval (0.9) quantile of those flows' durations
  (last packet time minus first) unless one is given, and splits every flow again into
  subflows by it (netmlseq.subflow_ids: window starts move by whole intervals; the last
  subflow of a split flow dropped, subflows under flow_pkts_thres packets dropped).

Here the packets come from wirescore's own reader and decoder (capture.open_source,
_core.pktrows: the flow meter's decode, no Python object per packet); keys, sorting and
the timeout split are numpy over the packet arrays; the interval split runs in C
(_core.netmlseq) because it carries a float window start from packet to packet.

Times are float64 seconds, microseconds / 1e6 (correctly rounded, as netml's
float(pkt.time) of a microsecond capture); a nanosecond capture is read at microseconds
(libpcap's rule, pcapfile.pyx), netml's scapy keeps the nanoseconds. Lengths are the
captured frame's bytes (scapy's len(pkt): link header and Ethernet padding included).

Memory: 26 bytes a kept packet (flow, time, length, TCP flags, TTL, protocol) until the
features are made; past max_packets, packets are dropped and counted (dropped_packets),
with a warning.
"""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field

import numpy as np

from wirescore.errors import WirescoreError

log = logging.getLogger(__name__)

#: netml's fid of every IPv6 TCP/UDP packet
IPV6_FID = ("", "", -1, -1, -1)
IPV6_MODES = ("netml", "flows")
_KEY_BYTES = 38                 # ipver, proto, src 16, dst 16, sport 2, dport 2


@dataclass(frozen=True)
class NetmlParams:
    """netml's parameters (PCAP(flow_ptks_thres), pcap2flows(interval, q_interval,
    tcp_timeout, udp_timeout)), plus what netml fixes or derives and one may give here.

    q_interval: quantile (0, 1] of flow durations -> split interval, and of subflow
    packet counts -> dim; interval (s, > 0) / dim (>= 2) / sampling_rate (s, > 0): None
    derives them as netml does (sampling_rate: the q_sampling = 0.3 quantile of subflow
    durations); flow_pkts_thres >= 2 packets; tcp_timeout, udp_timeout (s); ipv6: "netml"
    (one flow of every IPv6 packet, as netml) or "flows" (IPv6 keyed like IPv4; not
    netml); max_packets: packets kept at most (memory, 26 bytes each)."""
    q_interval: float = 0.9
    interval: float | None = None
    dim: int | None = None
    sampling_rate: float | None = None
    q_sampling: float = 0.3
    flow_pkts_thres: int = 2
    tcp_timeout: float = 600.0
    udp_timeout: float = 600.0
    ipv6: str = "netml"
    max_packets: int = 50_000_000

    def __post_init__(self):
        if not 0 < self.q_interval <= 1 or not 0 < self.q_sampling <= 1:
            raise WirescoreError(f"netml: q_interval and q_sampling must be in (0, 1] "
                                 f"(got {self.q_interval}, {self.q_sampling})")
        for name in ("interval", "sampling_rate"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise WirescoreError(f"netml: {name} must be > 0 s (got {v})")
        if self.dim is not None and self.dim < 2:
            raise WirescoreError(f"netml: dim must be >= 2 packets (got {self.dim})")
        if self.flow_pkts_thres < 2:
            raise WirescoreError(f"netml: flow_pkts_thres must be >= 2 (got "
                                 f"{self.flow_pkts_thres})")
        if self.ipv6 not in IPV6_MODES:
            raise WirescoreError(f"netml: ipv6 must be one of {IPV6_MODES} (got "
                                 f"{self.ipv6!r})")
        if self.max_packets < 1:
            raise WirescoreError("netml: max_packets must be >= 1")


@dataclass
class CapturePackets:
    """The TCP/UDP packets of a capture in capture order: flow index (flows numbered in
    order of their first packet), time (µs), captured length (bytes), TCP flags, TTL,
    IP protocol; fids[k] is flow k's netml fid; dropped: packets left out, by reason."""
    flow: np.ndarray
    ts_us: np.ndarray
    length: np.ndarray
    tcp_flags: np.ndarray
    ttl: np.ndarray
    proto: np.ndarray
    fids: list
    frames: int = 0
    dropped: dict = field(default_factory=dict)


@dataclass
class Subflows:
    """netml's subflows: packets ordered subflow after subflow (each in time order),
    subflow r being [starts[r], starts[r+1]); t (s, float64), length (bytes), tcp_flags,
    ttl, proto a packet; flow[r] the index of its flow in packets.fids; and the
    parameters that made them (interval, dim, sampling_rate), given or derived."""
    packets: CapturePackets
    starts: np.ndarray
    flow: np.ndarray
    t: np.ndarray
    length: np.ndarray
    tcp_flags: np.ndarray
    ttl: np.ndarray
    interval: float
    dim: int
    sampling_rate: float

    @property
    def count(self) -> np.ndarray:
        """Packets a subflow."""
        return np.diff(self.starts)

    @property
    def duration(self) -> np.ndarray:
        """Last packet time minus first, s, a subflow (netml's _get_flow_duration)."""
        return self.t[self.starts[1:] - 1] - self.t[self.starts[:-1]]

    @property
    def fids(self) -> list:
        return [self.packets.fids[int(k)] for k in self.flow]


def _fid(key: bytes) -> tuple:
    ipver, proto = key[0], key[1]
    if proto == 0:
        return IPV6_FID
    n = 4 if ipver == 4 else 16
    make = ipaddress.IPv4Address if ipver == 4 else ipaddress.IPv6Address
    return (str(make(key[2:2 + n])), str(make(key[18:18 + n])),
            int.from_bytes(key[34:36], "big"), int.from_bytes(key[36:38], "big"), proto)


class PacketKeeper:
    """Batches of packet rows (_core.pktrows.PKTROW_DTYPE) -> CapturePackets: keeps the
    TCP/UDP packets netml keeps, numbers their flows, counts what it leaves out."""

    def __init__(self, params: NetmlParams):
        self.params = params
        self._ids: dict[bytes, int] = {}
        self._fids: list = []
        self._parts: list[tuple] = []
        self._kept = 0
        self.frames = 0
        self.dropped = {"not_tcp_udp": 0, "over_max_packets": 0}

    def add(self, rows: np.ndarray) -> None:
        self.frames += len(rows)
        sel = ((rows["result"] == 0) & (rows["has_ports"] == 1)
               & ((rows["proto"] == 6) | (rows["proto"] == 17)))
        self.dropped["not_tcp_udp"] += int(len(rows) - np.count_nonzero(sel))
        r = rows[sel]
        room = self.params.max_packets - self._kept
        if len(r) > room:
            if self.dropped["over_max_packets"] == 0:
                log.warning("netml: more than %d TCP/UDP packets; the rest are dropped "
                            "and counted (max_packets)", self.params.max_packets)
            self.dropped["over_max_packets"] += len(r) - room
            r = r[:room]
        if len(r) == 0:
            return
        self._kept += len(r)
        self._parts.append((self._flows(r), r["ts_us"].copy(),
                            r["caplen"].astype(np.uint32), r["tcp_flags"].copy(),
                            r["ttl"].copy(), r["proto"].copy()))

    def _flows(self, r: np.ndarray) -> np.ndarray:
        """Flow indices of rows r, new flows numbered in order of their first packet."""
        m = len(r)
        key = np.zeros((m, _KEY_BYTES), dtype=np.uint8)
        key[:, 0] = r["ipver"]
        key[:, 1] = r["proto"]
        key[:, 2:18] = r["src"]
        key[:, 18:34] = r["dst"]
        key[:, 34:36] = r["sport"].astype(">u2").view(np.uint8).reshape(m, 2)
        key[:, 36:38] = r["dport"].astype(">u2").view(np.uint8).reshape(m, 2)
        if self.params.ipv6 == "netml":
            six = r["ipver"] == 6
            key[six] = 0
            key[six, 0] = 6                  # proto 0: netml's one IPv6 flow
        flat = key.view(np.dtype((np.void, _KEY_BYTES))).ravel()
        uniq, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
        lookup = np.empty(len(uniq), dtype=np.int64)
        for u in np.argsort(first, kind="stable"):
            b = uniq[u].tobytes()
            idx = self._ids.get(b)
            if idx is None:
                idx = self._ids[b] = len(self._fids)
                self._fids.append(_fid(b))
            lookup[u] = idx
        return lookup[inverse.ravel()]

    def result(self) -> CapturePackets:
        cols = list(zip(*self._parts)) if self._parts else [[]] * 6
        dtypes = (np.int64, np.int64, np.uint32, np.uint8, np.uint8, np.uint8)
        arrays = [np.concatenate(c) if len(c) else np.empty(0, d)
                  for c, d in zip(cols, dtypes)]
        return CapturePackets(*arrays, fids=self._fids, frames=self.frames,
                              dropped=dict(self.dropped))


def read_packets(path: str, params: NetmlParams, bpf: str | None = None) -> CapturePackets:
    """The TCP/UDP packets of a capture file (pcap, pcapng; "-" is standard input) as
    netml keys them; bpf: a pcap-filter expression applied first."""
    from wirescore._core.pktrows import PacketRows
    from wirescore.capture import open_source

    source = open_source(str(path), bpf=bpf)
    decoder = PacketRows()
    keeper = PacketKeeper(params)
    try:
        for data, meta, linktype in source.batches():
            if len(meta):
                keeper.add(decoder.rows(data, np.ascontiguousarray(meta), linktype))
    finally:
        source.close()
    return keeper.result()


def _starts(new: np.ndarray) -> np.ndarray:
    """[start of each run, ..., n] from a mask that is True at each run's first item."""
    return np.append(np.flatnonzero(new), len(new)).astype(np.int64)


def _quantile(values: np.ndarray, q: float, what: str) -> float:
    if len(values) == 0:
        raise WirescoreError(f"netml: no flow of 2 or more TCP/UDP packets to take the "
                             f"{what} from")
    return float(np.quantile(values, q))


def make_subflows(p: CapturePackets, params: NetmlParams) -> Subflows:
    """netml's pcap2flows(q_interval or interval) over the packets, and the dimension
    and sampling rate its flow2features derives (see the module docstring)."""
    from wirescore._core.netmlseq import subflow_ids

    thres = params.flow_pkts_thres
    n = len(p.flow)
    order = np.lexsort((np.arange(n), p.ts_us, p.flow))      # stable: flow, then time
    flow = p.flow[order]
    counts = np.bincount(flow, minlength=len(p.fids))
    order = order[counts[flow] >= thres]                     # flows under thres: out
    flow, t = p.flow[order], p.ts_us[order] / 1e6
    new = np.ones(len(flow), dtype=bool)
    new[1:] = flow[1:] != flow[:-1]
    timeout = np.where(p.proto[order] == 6, params.tcp_timeout, params.udp_timeout)
    brk = np.zeros(len(flow), dtype=bool)
    brk[1:] = ~new[1:] & (t[1:] - t[:-1] > timeout[1:])
    seg = np.cumsum(new | brk) - 1
    # a flow split by the timeout loses its last piece (netml: "discard the last")
    split = np.zeros(len(p.fids), dtype=bool)
    split[flow[brk]] = True
    last = np.zeros(len(p.fids), dtype=np.int64)
    ends = np.append(new[1:], True) if len(new) else new     # each flow's last packet
    last[flow[ends]] = seg[ends]
    keep = ~(split[flow] & (seg == last[flow]))
    keep &= np.bincount(seg, minlength=seg[-1] + 1 if len(seg) else 0)[seg] >= thres
    order, t, seg = order[keep], t[keep], seg[keep]
    seg_new = np.ones(len(seg), dtype=bool)
    seg_new[1:] = seg[1:] != seg[:-1]
    seg_starts = _starts(seg_new)
    if params.interval is not None:
        interval = float(params.interval)
    else:
        durations = t[seg_starts[1:] - 1] - t[seg_starts[:-1]]
        interval = _quantile(durations, params.q_interval, "split interval")
        if not interval > 0:
            raise WirescoreError(
                f"netml: the split interval (the {params.q_interval} quantile of flow "
                f"durations) is {interval} s, and netml divides by it: give an interval")
    ids = subflow_ids(t, seg_starts, interval)
    sizes = np.bincount(ids[ids >= 0]) if np.any(ids >= 0) else np.zeros(0, np.int64)
    keep = ids >= 0
    keep[keep] = sizes[ids[keep]] >= thres
    order, t, ids = order[keep], t[keep], ids[keep]
    sub_new = np.ones(len(ids), dtype=bool)
    sub_new[1:] = ids[1:] != ids[:-1]
    starts = _starts(sub_new)
    count = np.diff(starts)
    dim = (params.dim if params.dim is not None else
           int(np.floor(_quantile(count, params.q_interval, "dimension"))))
    if params.sampling_rate is not None:
        rate = float(params.sampling_rate)
    else:
        rate = _quantile(t[starts[1:] - 1] - t[starts[:-1]], params.q_sampling,
                         "sampling rate")
    return Subflows(packets=p, starts=starts, flow=p.flow[order][starts[:-1]], t=t,
                    length=p.length[order].astype(np.int64), tcp_flags=p.tcp_flags[order],
                    ttl=p.ttl[order], interval=interval, dim=dim, sampling_rate=rate)
