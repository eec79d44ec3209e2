"""netml's feature families over its subflows (netml 0.7.1, parser.py _flow2features).

A family gives every subflow a vector of one length d, fixed per capture from `dim`
(netml's floor of the q_interval quantile of subflow packet counts): a longer vector
is cut, a shorter one padded with 0.

- IAT (d = dim - 1, s): times between consecutive packets (np.diff of the times);
- SIZE (d = dim, bytes): each packet's captured frame length (scapy's len(pkt));
- IAT_SIZE (d = 2 dim - 1): iat_1, size_1, iat_2, size_2, ..., size_n (the last size
  closes it);
- STATS (d = 12): duration (s), packets/s, bytes/s (both 0 when the duration is 0),
  mean, population std, 25/50/75 % quantiles (numpy's linear), min, max of the sizes
  (bytes), packets, bytes (netml's order, not its docstring's);
- SAMP_NUM / SAMP_SIZE (d = dim - 1): packets / bytes in each sampling window of
  sampling_rate s (netml: the 0.3 quantile of subflow durations) along the subflow,
  at most 500 windows (_core.netmlseq.samp_fill: netml's clock, bit for bit);
- FFT-<family> (not STATS): the real part of the discrete Fourier transform (numpy's
  fft, n = d) of the family's cut or padded vector: k-th column = frequency k - 1;
- header (any family, netml's header=True): before the family's columns, 8 + d more:
  counts of the TCP flags FIN, SYN, RST, PSH, ACK, URG, ECE, CWR over the subflow's
  packets (0 for UDP) then each packet's IP TTL (hop limit), cut or padded to 8 + d;
  with FFT, the real DFT (n = 8 + d) of that vector instead.

Vectorised over subflows (rows gathered in chunks of CHUNK values, so temporaries stay
bounded whatever the capture); the sampling windows in C. Cost O(rows x d).
"""
from __future__ import annotations

import numpy as np

from wirescore.errors import WirescoreError
from wirescore.featuresets.netml_flows import Subflows

BASE = ("IAT", "SIZE", "IAT_SIZE", "STATS", "SAMP_NUM", "SAMP_SIZE")
#: netml's feat_type names: the base families and their FFT variants
FEAT_TYPES = BASE + tuple(f"FFT-{b}" for b in BASE if b != "STATS")
STATS = ("duration", "pkts_rate", "bytes_rate", "mean", "std", "q1", "q2", "q3", "min",
         "max", "num_pkts", "num_bytes")
FLAGS = ("fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr")   # bits 0x01 .. 0x80
CHUNK = 1 << 22


def split_type(feat_type: str) -> tuple[str, bool]:
    """("FFT-IAT" ->) ("IAT", True); an error naming the types for an unknown one."""
    if feat_type not in FEAT_TYPES:
        raise WirescoreError(f"netml: no feature type {feat_type!r} (types: "
                             f"{', '.join(FEAT_TYPES)})")
    return feat_type.removeprefix("FFT-"), feat_type.startswith("FFT-")


def width(base: str, dim: int) -> int:
    """The family's vector length d for netml's dim."""
    return {"IAT": dim - 1, "SIZE": dim, "IAT_SIZE": 2 * dim - 1, "STATS": len(STATS),
            "SAMP_NUM": dim - 1, "SAMP_SIZE": dim - 1}[base]


def prefix(feat_type: str) -> str:
    """Column prefix: "FFT-SAMP_NUM" -> "fft_samp_num"."""
    return feat_type.lower().replace("-", "_")


def column_names(feat_type: str, dim: int, header: bool = False) -> list[str]:
    """The columns of one feature type for netml's dim, in netml's order."""
    base, _fft = split_type(feat_type)
    pre, d = prefix(feat_type), width(base, dim)
    hdr = [f"{pre}_hdr_{k}" for k in range(1, 9 + d)] if header else []
    if base == "STATS":
        return hdr + [f"stats_{s}" for s in STATS]
    return hdr + [f"{pre}_{k}" for k in range(1, d + 1)]


def _gather(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, d: int,
            out: np.ndarray, col: int = 0) -> None:
    """out[r, col:col+d] = values[starts[r]:starts[r]+lengths[r]] cut / padded with 0."""
    if d <= 0 or len(starts) == 0:
        return
    j = np.arange(d)
    step = max(1, CHUNK // d)
    last = max(len(values) - 1, 0)
    for a in range(0, len(starts), step):
        s, n = starts[a:a + step, None], lengths[a:a + step, None]
        idx = np.minimum(s + j, last)
        out[a:a + step, col:col + d] = np.where(j < n, values[idx] if len(values) else 0, 0)


def _iat_size(sub: Subflows, iat: np.ndarray, d: int, out: np.ndarray, col: int) -> None:
    starts, n = sub.starts[:-1], sub.count
    j = np.arange(d)
    k = j // 2
    step = max(1, CHUNK // max(d, 1))
    last = len(sub.t) - 1
    for a in range(0, len(starts), step):
        s, c = starts[a:a + step, None], n[a:a + step, None]
        idx = np.minimum(s + k, last)
        even = np.where(k < c - 1, iat[idx], sub.length[idx])
        v = np.where(j % 2 == 0, even, sub.length[idx])
        out[a:a + step, col:col + d] = np.where(j < 2 * c - 1, v, 0)


def _lerp_quantile(srt: np.ndarray, starts: np.ndarray, n: np.ndarray, q: float):
    """numpy's quantile(method="linear") of each run of sorted values (exactly its
    arithmetic: index (n-1) q, a + (b-a) g below g = 0.5, b - (b-a)(1-g) from it)."""
    v = (n - 1) * q
    prev = np.floor(v)
    above = v >= n - 1
    lo = np.where(above, n - 1, prev).astype(np.int64)
    hi = np.where(above, n - 1, prev + 1).astype(np.int64)
    a, b = srt[starts + lo], srt[starts + hi]
    g = v - np.where(above, -1.0, prev)
    diff = b - a
    return np.where(g >= 0.5, b - diff * (1 - g), a + diff * g)


def stats(sub: Subflows) -> np.ndarray:
    """The STATS block (rows x 12), netml's _get_STATS."""
    starts, n = sub.starts[:-1], sub.count
    rows = np.repeat(np.arange(len(n)), n)
    size = sub.length
    dur = sub.duration
    total = np.add.reduceat(size, starts) if len(n) else np.zeros(0, np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pkts_rate = np.where(dur == 0, 0.0, n / np.where(dur == 0, 1.0, dur))
        bytes_rate = np.where(dur == 0, 0.0, total / np.where(dur == 0, 1.0, dur))
    mean = total.astype(np.float64) / n
    dev = size - mean[rows]
    std = np.sqrt(np.add.reduceat(dev * dev, starts) / n) if len(n) else mean
    srt = size[np.lexsort((size, rows))]
    q1, q2, q3 = (_lerp_quantile(srt, starts, n, q) for q in (0.25, 0.5, 0.75))
    lo = srt[starts].astype(np.float64)
    hi = srt[starts + n - 1].astype(np.float64)
    return np.column_stack([dur, pkts_rate, bytes_rate, mean, std, q1, q2, q3, lo, hi,
                            n.astype(np.float64), total.astype(np.float64)])


def _header(sub: Subflows, d: int, fft: bool) -> np.ndarray:
    """netml's header block for a family of length d: 8 flag counts, then TTLs."""
    h = np.zeros((len(sub.count), 8 + d))
    starts = sub.starts[:-1]
    if len(starts):
        for bit in range(8):
            on = ((sub.tcp_flags >> bit) & 1).astype(np.int64)
            h[:, bit] = np.add.reduceat(on, starts)
    _gather(sub.ttl.astype(np.float64), starts, sub.count, d, h, 8)
    return np.fft.fft(h, axis=1).real if fft else h


def family(sub: Subflows, feat_type: str, header: bool = False) -> np.ndarray:
    """One feature type's matrix (subflows x column_names(feat_type, dim, header))."""
    base, fft = split_type(feat_type)
    d = width(base, sub.dim)
    rows = len(sub.count)
    if base == "STATS":
        body = stats(sub)
    else:
        body = np.zeros((rows, d))
        starts, n = sub.starts[:-1], sub.count
        iat = np.diff(sub.t, append=sub.t[-1:] if len(sub.t) else sub.t)
        if base == "IAT":
            _gather(iat, starts, n - 1, d, body)
        elif base == "SIZE":
            _gather(sub.length.astype(np.float64), starts, n, d, body)
        elif base == "IAT_SIZE":
            _iat_size(sub, iat, d, body, 0)
        else:
            from wirescore._core.netmlseq import samp_fill

            if not sub.sampling_rate > 0:
                raise WirescoreError(
                    f"netml: the sampling rate (a quantile of subflow durations) is "
                    f"{sub.sampling_rate} s, and netml divides by it: give a sampling_rate")
            weight = (np.ones(len(sub.t)) if base == "SAMP_NUM"
                      else sub.length.astype(np.float64))
            samp_fill(sub.t, weight, sub.starts, sub.sampling_rate, body)
    if fft:
        body = np.fft.fft(body, axis=1).real
    if not header:
        return body
    return np.hstack([_header(sub, d, fft), body])
