"""The cicflowmeter set: the 79 columns of CIC-IDS2017's MachineLearningCSV files
(CICFlowMeter-V3 output: 78 features and Label), from the core's flow records.

Names are the CSV's, stripped of the leading space the files carry (csvtrain strips
header names). Units as CICFlowMeter: times and durations in microseconds, "packet
length" and "segment size" the TCP/UDP payload bytes of a packet (not its wire length),
rates per second; "forward" is the direction of the flow's first packet (the core's
toserver).

Values are the fixed ones (Engelen, Rimmer, Joosen: "Troubleshooting an Intrusion
Detection Dataset: the CICIDS2017 Case Study", IEEE SPW 2021), and each column's
definition says where CICFlowMeter's own (flaw-compatible) value differs:

- flows: the core's (idle timeouts, TCP close after FIN both ways or RST); CICFlowMeter
  ends a TCP flow at the first FIN and starts a new flow with the packets after it
  (Engelen's main fix: the "TCP appendix" flows it produced are not made here);
- a rate over a zero duration is 0 (CICFlowMeter wrote Infinity / NaN);
- Bwd PSH Flags and Bwd URG Flags: counted (CICFlowMeter never incremented them: 0 in
  the dataset); Fwd/Bwd Avg Bytes/Bulk and the other bulk columns: 0 as in every row of
  the dataset (CICFlowMeter-V3 never filled them), not a bulk measure;
- Subflow columns: the flow totals, as the dataset's (CICFlowMeter's subflow split
  never triggered);
- Packet Length Std / Variance: over the flow's packets once each (CICFlowMeter counts
  the first packet's payload twice in them; Engelen et al.'s tool no longer does);
- act_data_pkt_fwd: every forward packet with payload (CICFlowMeter skips the first);
- Label: ground truth, empty.

The per-packet columns (payload lengths' min, max and std, merged gaps, header lengths,
act_data_pkt_fwd, min_seg_size_forward, Active/Idle) come from the records' per-packet
statistics (ext/pktstats.pxd, FlowMeter(pktstats=True)), which the core keeps when this
set is in use (FeatureSet.packet_stats); records without them (pkt_stats 0) give NaN
there. Standard deviations and the variance are the sample ones (n - 1: Apache Commons'
SummaryStatistics, CICFlowMeter's), 0 under two values. "Header" is the L4 header as
CICFlowMeter's jnetpcap reads it: TCP's data offset (options included), UDP's 8 bytes
(ICMP 8, SCTP 12, other protocols 0: CICFlowMeter reads only TCP and UDP). Activity
periods use CICFlowMeter's activity timeout, 5 s (FlowGenerator's activityTimeout,
5,000,000 µs; flow.activity_timeout): a gap longer than it is an idle period and ends
the active period before it (from the packet after the previous such gap, or the
flow's first, to the packet before this gap; counted when longer than 0); the period
still open when the flow ends is not counted (CICFlowMeter never calls its
endActiveIdleTime, nor does Engelen et al.'s tool).
"""
from __future__ import annotations

import numpy as np

from wirescore.featuresets.base import Column, FeatureSet

NAN = float("nan")


def _c(name, unit, text, computed=True, kind="numeric", nonfinite=None):
    return Column(name, unit, text, kind, computed, csv_nonfinite=nonfinite)


def _dir_columns(side: str, who: str) -> list[Column]:
    return [
        _c(f"{side} Packet Length Max", "bytes", f"largest payload {who}; 0 without packets"),
        _c(f"{side} Packet Length Min", "bytes", f"smallest payload {who}; 0 without "
           "packets"),
        _c(f"{side} Packet Length Mean", "bytes", f"mean payload {who}: payload bytes over "
           "packets; 0 without packets"),
        _c(f"{side} Packet Length Std", "bytes", f"sample standard deviation of the "
           f"payloads {who}; 0 under 2 packets"),
    ]


def _iat_columns(side: str, who: str) -> list[Column]:
    return [
        _c(f"{side} IAT Total", "us", f"first to last packet {who}: mean gap x gaps"),
        _c(f"{side} IAT Mean", "us", f"mean gap between packets {who}; 0 under 2 packets"),
        _c(f"{side} IAT Std", "us", f"sample standard deviation of the gaps {who} (as "
           "CICFlowMeter's); 0 under 3 packets"),
        _c(f"{side} IAT Max", "us", f"largest gap {who}; 0 under 2 packets"),
        _c(f"{side} IAT Min", "us", f"smallest gap {who}; 0 under 2 packets"),
    ]


FLAGS = (("FIN", "fin"), ("SYN", "syn"), ("RST", "rst"), ("PSH", "psh"), ("ACK", "ack"),
         ("URG", "urg"), ("CWE", "cwr"), ("ECE", "ece"))
BULK = ("Fwd Avg Bytes/Bulk", "Fwd Avg Packets/Bulk", "Fwd Avg Bulk Rate",
        "Bwd Avg Bytes/Bulk", "Bwd Avg Packets/Bulk", "Bwd Avg Bulk Rate")

COLUMNS: tuple[Column, ...] = (
    _c("Destination Port", "port", "the server's port (0 for port-less protocols)"),
    _c("Flow Duration", "us", "last packet time minus first"),
    _c("Total Fwd Packets", "packets", "packets forward"),
    _c("Total Backward Packets", "packets", "packets backward"),
    _c("Total Length of Fwd Packets", "bytes", "payload bytes forward (TCP/UDP payload "
       "per the headers)"),
    _c("Total Length of Bwd Packets", "bytes", "payload bytes backward"),
    *_dir_columns("Fwd", "forward"), *_dir_columns("Bwd", "backward"),
    _c("Flow Bytes/s", "bytes/s", "payload bytes both ways over the duration; 0 for a "
       "zero duration (CICFlowMeter: Infinity / NaN, read as 0 from a CSV)", nonfinite=0.0),
    _c("Flow Packets/s", "packets/s", "packets both ways over the duration; 0 for a zero "
       "duration (CICFlowMeter: Infinity, read as 0 from a CSV)", nonfinite=0.0),
    _c("Flow IAT Mean", "us", "duration over (packets - 1): the mean gap of both "
       "directions merged; 0 under 2 packets"),
    _c("Flow IAT Std", "us", "sample standard deviation of the gaps between consecutive "
       "packets, both directions merged; 0 under 3 packets"),
    _c("Flow IAT Max", "us", "largest merged gap; 0 under 2 packets"),
    _c("Flow IAT Min", "us", "smallest merged gap; 0 under 2 packets"),
    *_iat_columns("Fwd", "forward"), *_iat_columns("Bwd", "backward"),
    _c("Fwd PSH Flags", "packets", "forward packets with PSH"),
    _c("Bwd PSH Flags", "packets", "backward packets with PSH (CICFlowMeter: always 0)"),
    _c("Fwd URG Flags", "packets", "forward packets with URG"),
    _c("Bwd URG Flags", "packets", "backward packets with URG (CICFlowMeter: always 0)"),
    _c("Fwd Header Length", "bytes", "L4 header bytes forward (TCP with options, UDP 8), "
       "summed over the packets; not the IP header"),
    _c("Bwd Header Length", "bytes", "the same backward"),
    _c("Fwd Packets/s", "packets/s", "forward packets over the duration; 0 for zero"),
    _c("Bwd Packets/s", "packets/s", "backward packets over the duration; 0 for zero"),
    _c("Min Packet Length", "bytes", "smallest payload either way"),
    _c("Max Packet Length", "bytes", "largest payload either way"),
    _c("Packet Length Mean", "bytes", "payload bytes both ways over packets (CICFlowMeter: "
       "the first packet's payload counted twice, over packets + 1)"),
    _c("Packet Length Std", "bytes", "sample standard deviation of the payloads both ways; "
       "0 under 2 packets (CICFlowMeter: the first packet's counted twice)"),
    _c("Packet Length Variance", "bytes^2", "its square, the sample variance (CICFlowMeter: "
       "the first packet's counted twice)"),
    *(_c(f"{name} Flag Count", "packets", f"packets with {flag.upper()} both ways"
         + (" (the dataset's CWE is CWR)" if name == "CWE" else "")) for name, flag in FLAGS),
    _c("Down/Up Ratio", "ratio", "backward over forward packets, rounded down as "
       "CICFlowMeter's integer division; 0 without forward packets"),
    _c("Average Packet Size", "bytes", "payload bytes both ways over packets"),
    _c("Avg Fwd Segment Size", "bytes", "payload bytes forward over forward packets"),
    _c("Avg Bwd Segment Size", "bytes", "payload bytes backward over backward packets"),
    _c("Fwd Header Length.1", "bytes", "CICFlowMeter's repeat of Fwd Header Length"),
    *(_c(name, "bytes" if "Bytes" in name else "packets" if "Packets" in name
         else "bytes/s", "0, as every row of the dataset (CICFlowMeter-V3 never fills the "
         "bulk columns)") for name in BULK),
    _c("Subflow Fwd Packets", "packets", "forward packets (the dataset's subflows are the "
       "whole flow)"),
    _c("Subflow Fwd Bytes", "bytes", "forward payload bytes, as above"),
    _c("Subflow Bwd Packets", "packets", "backward packets, as above"),
    _c("Subflow Bwd Bytes", "bytes", "backward payload bytes, as above"),
    _c("Init_Win_bytes_forward", "bytes", "TCP window (unscaled) of the first forward "
       "packet; -1 without a TCP packet that way (as CICFlowMeter)"),
    _c("Init_Win_bytes_backward", "bytes", "the same backward"),
    _c("act_data_pkt_fwd", "packets", "forward packets with at least 1 payload byte "
       "(CICFlowMeter's firstPacket() does not count the flow's first packet: 1 less when "
       "it carries payload)"),
    _c("min_seg_size_forward", "bytes", "smallest L4 header of a forward packet (TCP with "
       "options, UDP 8): what CICFlowMeter and Engelen et al.'s tool write under this name "
       "(a header length, not a segment's payload size); 0 without forward packets"),
    *(_c(f"{kind} {stat}", "us", f"{kind.lower()} periods' {stat.lower()}"
         + (" (sample)" if stat == "Std" else "") + ", activity timeout 5 s (see the "
         "module); 0 without a period" + (" (CICFlowMeter's later releases add one idle "
         "period of the first packet's absolute time, which Engelen et al. fixed)"
                                          if kind == "Idle" and stat == "Max" else ""))
      for kind in ("Active", "Idle") for stat in ("Mean", "Std", "Max", "Min")),
    _c("Label", "name", "BENIGN or the attack: ground truth, empty", computed=False,
       kind="label"),
)


def _per(value: np.ndarray, divisor: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(divisor > 0, value / np.where(divisor > 0, divisor, 1), 0.0)


def _sample_std(pop_std: np.ndarray, n: np.ndarray) -> np.ndarray:
    """A sample standard deviation (n - 1) from a population one of n values; 0 under 2."""
    return np.where(n >= 2, pop_std * np.sqrt(_per(n, n - 1)), 0.0)


def _packet_stat_columns(r: np.ndarray, f) -> dict[str, np.ndarray]:
    """The columns of the records' per-packet statistics (pkt_* fields); NaN for a
    record without them (pkt_stats 0)."""
    fwd, bwd = f("pkts_toserver"), f("pkts_toclient")
    n = fwd + bwd
    cols: dict[str, np.ndarray] = {}
    for side, d, k in (("Fwd", "_toserver", fwd), ("Bwd", "_toclient", bwd)):
        cols[f"{side} Packet Length Max"] = f(f"pkt_payload_max{d}")
        cols[f"{side} Packet Length Min"] = f(f"pkt_payload_min{d}")
        cols[f"{side} Packet Length Std"] = _sample_std(f(f"pkt_payload_std{d}"), k)
        cols[f"{side} Header Length"] = f(f"pkt_header_bytes{d}")
    cols["Fwd Header Length.1"] = cols["Fwd Header Length"]
    cols["Min Packet Length"] = f("pkt_payload_min")
    cols["Max Packet Length"] = f("pkt_payload_max")
    cols["Packet Length Std"] = _sample_std(f("pkt_payload_std"), n)
    cols["Packet Length Variance"] = cols["Packet Length Std"] ** 2
    cols["Flow IAT Std"] = _sample_std(f("pkt_iat_std"), n - 1)
    cols["Flow IAT Max"] = f("pkt_iat_max")
    cols["Flow IAT Min"] = f("pkt_iat_min")
    cols["act_data_pkt_fwd"] = f("pkt_data_toserver")
    cols["min_seg_size_forward"] = f("pkt_header_min_toserver")
    for kind in ("Active", "Idle"):
        k = kind.lower()
        count = f(f"pkt_{k}_count")
        cols[f"{kind} Mean"] = f(f"pkt_{k}_mean")
        cols[f"{kind} Std"] = _sample_std(f(f"pkt_{k}_std"), count)
        cols[f"{kind} Max"] = f(f"pkt_{k}_max")
        cols[f"{kind} Min"] = f(f"pkt_{k}_min")
    off = r["pkt_stats"] == 0
    return {name: np.where(off, NAN, v) for name, v in cols.items()}


def compute(r: np.ndarray) -> dict[str, np.ndarray]:
    """The set's columns of a batch of flow records (no state between batches)."""
    n = len(r)
    f = lambda name: r[name].astype(np.float64)          # noqa: E731
    dur_s = f("duration")
    fwd, bwd = f("pkts_toserver"), f("pkts_toclient")
    fwd_b, bwd_b = f("payload_bytes_toserver"), f("payload_bytes_toclient")
    cols = {"Destination Port": f("dest_port"), "Flow Duration": np.round(dur_s * 1e6),
            "Total Fwd Packets": fwd, "Total Backward Packets": bwd,
            "Total Length of Fwd Packets": fwd_b, "Total Length of Bwd Packets": bwd_b,
            "Fwd Packet Length Mean": _per(fwd_b, fwd),
            "Bwd Packet Length Mean": _per(bwd_b, bwd),
            "Flow Bytes/s": _per(fwd_b + bwd_b, dur_s),
            "Flow Packets/s": _per(fwd + bwd, dur_s),
            "Flow IAT Mean": _per(dur_s * 1e6, fwd + bwd - 1),
            "Fwd Packets/s": _per(fwd, dur_s), "Bwd Packets/s": _per(bwd, dur_s),
            "Packet Length Mean": _per(fwd_b + bwd_b, fwd + bwd),
            "Average Packet Size": _per(fwd_b + bwd_b, fwd + bwd),
            "Avg Fwd Segment Size": _per(fwd_b, fwd), "Avg Bwd Segment Size": _per(bwd_b, bwd),
            "Down/Up Ratio": np.floor(_per(bwd, fwd)),
            "Subflow Fwd Packets": fwd, "Subflow Fwd Bytes": fwd_b,
            "Subflow Bwd Packets": bwd, "Subflow Bwd Bytes": bwd_b,
            "Fwd PSH Flags": f("psh_toserver"), "Bwd PSH Flags": f("psh_toclient"),
            "Fwd URG Flags": f("urg_toserver"), "Bwd URG Flags": f("urg_toclient")}
    tcp = r["proto"] == 6
    for side, d in (("Fwd", "toserver"), ("Bwd", "toclient")):
        pkts = f(f"pkts_{d}")
        gaps = np.maximum(pkts - 1, 0)
        two = pkts >= 2
        cols[f"{side} IAT Total"] = np.where(two, f(f"iat_mean_{d}") * gaps, 0.0)
        cols[f"{side} IAT Mean"] = np.where(two, f(f"iat_mean_{d}"), 0.0)
        bessel = np.sqrt(_per(gaps, gaps - 1))           # the core's std is over the gaps
        cols[f"{side} IAT Std"] = np.where(pkts >= 3, f(f"iat_std_{d}") * bessel, 0.0)
        cols[f"{side} IAT Max"] = np.where(two, f(f"iat_max_{d}"), 0.0)
        cols[f"{side} IAT Min"] = np.where(two, f(f"iat_min_{d}"), 0.0)
    cols["Init_Win_bytes_forward"] = np.where(tcp & (fwd > 0), f("win_first_toserver"), -1.0)
    cols["Init_Win_bytes_backward"] = np.where(tcp & (bwd > 0), f("win_first_toclient"),
                                               -1.0)
    for name, flag in FLAGS:
        cols[f"{name} Flag Count"] = f(f"{flag}_toserver") + f(f"{flag}_toclient")
    for name in BULK:
        cols[name] = np.zeros(n)
    cols.update(_packet_stat_columns(r, f))
    for c in COLUMNS:
        if not c.computed:
            cols[c.name] = np.full(n, "", dtype=object) if c.kind == "label" else np.full(n, NAN)
    return {c.name: cols[c.name] for c in COLUMNS}


def _computer(link_bytes: int = 14):
    """No state and no link header needed: payload bytes come from the headers."""
    return compute


SET = FeatureSet("cicflowmeter", "CIC-IDS2017 MachineLearningCSV columns (CICFlowMeter-"
                 "V3), from packets, Engelen et al.'s fixes", COLUMNS, _computer,
                 packet_stats=True)
