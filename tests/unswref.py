"""Independent reference for the unsw-nb15 and cicflowmeter feature sets, built on dpkt
(never imports wirescore): the columns of each flow of an Ethernet/IPv4 capture, from
the packets, as the sets document them (featuresets/unsw_nb15.py, cicflowmeter.py), for
flows of one 5-tuple each.

Times: integer microseconds (as the core keeps them). Flows: canonical 5-tuple; the
client is the first packet's sender. Bytes: per packet max(frame length, 14 + IP total
length) - 14 (the set's IP bytes over the core's wire length); payload: dpkt's L4 data
(cut at the IP total length). Only IPv4 over Ethernet (no VLAN), TCP and UDP; other
frames are ignored (VLAN-tagged captures are not used here).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import dpkt

METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ")


@dataclass
class Side:
    times: list = field(default_factory=list)
    sizes: list = field(default_factory=list)
    ttl: int = 0
    win: int = 0
    syn: int = 0
    fin: int = 0
    rst: int = 0
    payload: int = 0
    requests: int = 0
    flags: dict = field(default_factory=dict)    # TCP flag name -> packets with it
    payloads: list = field(default_factory=list)  # per packet: L4 payload bytes
    headers: list = field(default_factory=list)   # per packet: L4 header bytes


@dataclass
class RefFlow:
    client: tuple
    server: tuple
    proto: int
    sides: tuple = field(default_factory=lambda: (Side(), Side()))
    syn_ts: float | None = None
    synack_ts: float | None = None
    ack_ts: float | None = None
    times: list = field(default_factory=list)    # both directions, in capture order

    def columns(self) -> dict:
        s, d = self.sides
        first = min(s.times[0], d.times[0] if d.times else math.inf)
        last = max(s.times[-1], d.times[-1] if d.times else -math.inf)
        dur = (last - first) / 1e6
        out = {"dur": dur, "spkts": len(s.times), "dpkts": len(d.times),
               "sbytes": sum(s.sizes), "dbytes": sum(d.sizes),
               "sttl": s.ttl, "dttl": d.ttl if d.times else 0,
               "swin": s.win if self.proto == 6 else 0,
               "dwin": d.win if self.proto == 6 and d.times else 0,
               "is_sm_ips_ports": int(self.client == self.server)}
        out["rate"] = (out["spkts"] + out["dpkts"] - 1) / dur if dur > 0 else 0.0
        for p, side in (("s", s), ("d", d)):
            gaps = [(b - a) / 1000 for a, b in zip(side.times, side.times[1:])]
            out[f"{p}inpkt"] = sum(gaps) / len(gaps) if gaps else 0.0
            out[f"{p}jit"] = statistics.stdev(gaps) if len(gaps) >= 2 else 0.0
            mean = sum(side.sizes) / len(side.sizes) if side.sizes else 0.0
            out[f"{p}mean"] = math.floor(mean + 0.5)
            out[f"{p}load"] = (sum(side.sizes) - mean) * 8 / dur if dur > 0 else 0.0
        out["synack"] = (self.synack_ts - self.syn_ts) / 1e6 if self.synack_ts else 0.0
        out["ackdat"] = (self.ack_ts - self.synack_ts) / 1e6 if self.ack_ts else 0.0
        out["tcprtt"] = out["synack"] + out["ackdat"]
        out["state"] = self.state()
        out["trans_depth"] = s.requests
        return out

    def state(self) -> str:
        s, d = self.sides
        if self.proto != 6:
            return "CON" if d.times else "INT"
        if s.rst or d.rst:
            return "RST"
        if s.fin or d.fin:
            return "FIN"
        if s.syn and not d.times:
            return "REQ"
        if d.syn and self.ack_ts is None:
            return "ACC"
        return "CON" if d.times else "INT"


def _packets(path: Path):
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        reader = dpkt.pcapng.Reader(fh) if head == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(fh)
        for ts, buf in reader:
            yield round(float(ts) * 1e6), buf   # integer microseconds, as the core keeps


def reference(path: Path) -> dict[tuple, RefFlow]:
    """{(proto, frozenset of the two endpoints): RefFlow} for every TCP/UDP IPv4 flow."""
    flows: dict[tuple, RefFlow] = {}
    for ts, buf in _packets(path):
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, (dpkt.tcp.TCP, dpkt.udp.UDP)):
            continue
        l4 = ip.data
        a, b = (ip.src, l4.sport), (ip.dst, l4.dport)
        key = (ip.p, frozenset((a, b)))
        flow = flows.setdefault(key, RefFlow(a, b, ip.p))
        toserver = a == flow.client
        side = flow.sides[0 if toserver else 1]
        if not side.times:
            side.ttl = ip.ttl
            side.win = l4.win if ip.p == 6 else 0
        side.times.append(ts)
        flow.times.append(ts)
        side.sizes.append(max(len(buf), 14 + ip.len) - 14)
        payload = bytes(l4.data)
        side.payload += len(payload)
        side.payloads.append(len(payload))
        side.headers.append(l4.off * 4 if ip.p == 6 else 8)
        if ip.p == 6:
            f = l4.flags
            for name, bit in (("fin", 1), ("syn", 2), ("rst", 4), ("psh", 8), ("ack", 16),
                              ("urg", 32), ("ece", 64), ("cwr", 128)):
                side.flags[name] = side.flags.get(name, 0) + bool(f & bit)
            side.syn += bool(f & dpkt.tcp.TH_SYN)
            side.fin += bool(f & dpkt.tcp.TH_FIN)
            side.rst += bool(f & dpkt.tcp.TH_RST)
            if toserver and f & dpkt.tcp.TH_SYN and not f & dpkt.tcp.TH_ACK and flow.syn_ts is None:
                flow.syn_ts = ts
            elif not toserver and f & dpkt.tcp.TH_SYN and f & dpkt.tcp.TH_ACK \
                    and flow.syn_ts is not None and flow.synack_ts is None:
                flow.synack_ts = ts
            elif toserver and f & dpkt.tcp.TH_ACK and flow.synack_ts is not None \
                    and flow.ack_ts is None:
                flow.ack_ts = ts
            if toserver and payload.startswith(METHODS):
                side.requests += 1
    return flows


def ct_counts(keys: list, window: int = 100) -> list[int]:
    """For each position, same keys among the window rows ending there (itself included)."""
    return [sum(1 for k in keys[max(0, i - window + 1):i + 1] if k == key)
            for i, key in enumerate(keys)]


def cic_columns(flow: RefFlow) -> dict:
    """The cicflowmeter set's computed columns of a reference flow (microseconds,
    payload bytes, forward = the first packet's direction)."""
    s, d = flow.sides
    times = sorted(s.times + d.times)
    dur_us = times[-1] - times[0]
    n = len(times)
    out = {"Destination Port": flow.server[1], "Flow Duration": dur_us,
           "Total Fwd Packets": len(s.times), "Total Backward Packets": len(d.times),
           "Total Length of Fwd Packets": s.payload, "Total Length of Bwd Packets": d.payload,
           "Flow IAT Mean": dur_us / (n - 1) if n > 1 else 0.0,
           "Packet Length Mean": (s.payload + d.payload) / n,
           "Down/Up Ratio": len(d.times) // len(s.times)}
    out.update({"Average Packet Size": out["Packet Length Mean"],
                "Subflow Fwd Packets": len(s.times), "Subflow Fwd Bytes": s.payload,
                "Subflow Bwd Packets": len(d.times), "Subflow Bwd Bytes": d.payload,
                "Avg Fwd Segment Size": s.payload / len(s.times),
                "Avg Bwd Segment Size": d.payload / len(d.times) if d.times else 0.0})
    rate = (lambda v: v / (dur_us / 1e6)) if dur_us > 0 else (lambda v: 0.0)
    out["Flow Bytes/s"] = rate(s.payload + d.payload)
    out["Flow Packets/s"] = rate(n)
    for name, side in (("Fwd", s), ("Bwd", d)):
        gaps = [b - a for a, b in zip(side.times, side.times[1:])]
        out[f"{name} Packet Length Mean"] = side.payload / len(side.times) if side.times else 0.0
        out[f"{name} Packets/s"] = rate(len(side.times))
        out[f"{name} IAT Total"] = sum(gaps)
        out[f"{name} IAT Mean"] = sum(gaps) / len(gaps) if gaps else 0.0
        out[f"{name} IAT Std"] = statistics.stdev(gaps) if len(gaps) >= 2 else 0.0
        out[f"{name} IAT Max"] = max(gaps) if gaps else 0
        out[f"{name} IAT Min"] = min(gaps) if gaps else 0
        out[f"{name} PSH Flags"] = side.flags.get("psh", 0)
        out[f"{name} URG Flags"] = side.flags.get("urg", 0)
    out["Init_Win_bytes_forward"] = s.win if flow.proto == 6 else -1
    out["Init_Win_bytes_backward"] = d.win if flow.proto == 6 and d.times else -1
    for name, flag in (("FIN", "fin"), ("SYN", "syn"), ("RST", "rst"), ("PSH", "psh"),
                       ("ACK", "ack"), ("URG", "urg"), ("CWE", "cwr"), ("ECE", "ece")):
        out[f"{name} Flag Count"] = s.flags.get(flag, 0) + d.flags.get(flag, 0)
    out.update(cic_packet_columns(flow))
    return out


def _stdev(values: list) -> float:
    return statistics.stdev(values) if len(values) >= 2 else 0.0


def cic_packet_columns(flow: RefFlow, activity_us: int = 5_000_000) -> dict:
    """The cicflowmeter set's per-packet columns of a reference flow: payload lengths,
    header lengths, merged gaps, activity periods (CICFlowMeter's updateActiveIdleTime
    with every packet after the first; the period open at the end not counted)."""
    s, d = flow.sides
    out = {}
    for name, side in (("Fwd", s), ("Bwd", d)):
        out[f"{name} Packet Length Max"] = max(side.payloads, default=0)
        out[f"{name} Packet Length Min"] = min(side.payloads, default=0)
        out[f"{name} Packet Length Std"] = _stdev(side.payloads)
        out[f"{name} Header Length"] = sum(side.headers)
    out["Fwd Header Length.1"] = out["Fwd Header Length"]
    every = s.payloads + d.payloads
    out["Min Packet Length"] = min(every)
    out["Max Packet Length"] = max(every)
    out["Packet Length Std"] = _stdev(every)
    out["Packet Length Variance"] = out["Packet Length Std"] ** 2
    out["act_data_pkt_fwd"] = sum(1 for p in s.payloads if p >= 1)
    out["min_seg_size_forward"] = min(s.headers, default=0)
    times, last = [], -math.inf          # a packet older than the flow's last is at the last
    for t in flow.times:
        last = max(last, t)
        times.append(last)
    gaps = [b - a for a, b in zip(times, times[1:])]
    out["Flow IAT Std"] = _stdev(gaps)
    out["Flow IAT Max"] = max(gaps, default=0)
    out["Flow IAT Min"] = min(gaps, default=0)
    active, idle = [], []
    start = end = times[0]
    for t in times[1:]:
        if t - end > activity_us:
            if end - start > 0:
                active.append(end - start)
            idle.append(t - end)
            start = t
        end = t
    for kind, periods in (("Active", active), ("Idle", idle)):
        out[f"{kind} Mean"] = statistics.fmean(periods) if periods else 0.0
        out[f"{kind} Std"] = _stdev(periods)
        out[f"{kind} Max"] = max(periods, default=0)
        out[f"{kind} Min"] = min(periods, default=0)
    return out
