# cython: freethreading_compatible = False
"""The two sequential loops of netml's pparser (noise-lab/netml 0.7.1, parser.py), in C.

Both carry a float through the packets of a flow (a window start, a sampling clock) that
later tests compare against, so they cannot be vectorised without changing the result at
window edges; here they repeat netml's arithmetic operation for operation (float64
subtraction, addition and Python's floor division: netmlseq.pxd), so every split and
every bin is netml's. Inputs are the packets of all flows, flow after flow, each flow's
packets in time order; times are float64 seconds since the epoch, as netml's
float(pkt.time). Work is O(packets), no allocation, no GIL.

- subflow_ids: netml's _flows2subflows (one flow into subflows by `interval`);
- samp_fill: netml's _get_SAMP (packets or bytes a sampling window of a subflow).
"""
import numpy as np

from libc.stdint cimport int64_t
from netmlseq cimport py_floordiv

cdef enum:
    SAMP_WINDOWS = 500
#: netml's _get_SAMP keeps at most this many windows a subflow
SAMP_MAX = SAMP_WINDOWS


def subflow_ids(const double[::1] t, const int64_t[::1] starts, double interval):
    """netml's _flows2subflows over flows [starts[k], starts[k+1]) of t: int64 ids, one a
    packet, numbering subflows 0, 1, ... in order; -1 for the packets netml drops.

    A flow's first packet opens a subflow whose reference time is the window start (the
    flow's first time). A packet more than `interval` seconds after the reference (the
    previous packet, or the window start for a subflow's first packet) opens a new
    subflow, whose window start moves on by whole intervals: start += (t - start) //
    interval * interval. When a flow was split, its last subflow is dropped (netml's
    "discard the last subflow_tmp"). interval > 0 (netml divides by it)."""
    cdef Py_ssize_t nflows = starts.shape[0] - 1, k, i, a, b
    cdef int64_t sid = 0, cur
    cdef double start, ref
    cdef bint split
    if interval <= 0.0 or interval != interval:
        raise ValueError(f"interval must be > 0 s (got {interval})")
    if nflows < 0 or (nflows > 0 and starts[nflows] > t.shape[0]):
        raise ValueError("starts does not fit t")
    out = np.full(t.shape[0], -1, dtype=np.int64)
    cdef int64_t[::1] ids = out
    with nogil:
        for k in range(nflows):
            a, b = starts[k], starts[k + 1]
            if b <= a:
                continue
            cur = sid
            sid += 1
            start = t[a]
            ref = start
            split = False
            ids[a] = cur
            for i in range(a + 1, b):
                if t[i] - ref > interval:
                    cur = sid
                    sid += 1
                    start = start + py_floordiv(t[i] - start, interval) * interval
                    ref = start
                    split = True
                else:
                    ref = t[i]
                ids[i] = cur
            if split:
                i = b - 1
                while i >= a and ids[i] == cur:
                    ids[i] = -1
                    i -= 1
    return out


def samp_fill(const double[::1] t, const double[::1] weight, const int64_t[::1] starts,
              double rate, double[:, ::1] out):
    """netml's _get_SAMP over subflows [starts[r], starts[r+1]) into out[r, :] (zeros on
    entry): the sum of `weight` (1 a packet: SAMP_NUM; its length: SAMP_SIZE) in each
    sampling window of `rate` seconds, windows that no packet falls in 0, at most
    SAMP_MAX windows a subflow (netml cuts the list to SAMP_MAX where a packet's window
    passes it; a last window appended after the loop may make it SAMP_MAX + 1); values
    past out's width are not kept (netml cuts the vector to its dimension after).
    rate > 0.

    netml's clock: `current` starts at the subflow's first time; a packet at most `rate`
    after it adds to the window; one later closes the window, moves `current` on by one
    rate and by as many more whole rates (at most 500) as fit before the packet, each an
    empty window, and opens the next window with the packet."""
    cdef Py_ssize_t rows = starts.shape[0] - 1, r, i, a, b, j
    cdef Py_ssize_t width = out.shape[1], n
    cdef double current, sub, skip
    cdef bint cut
    if rate <= 0.0 or rate != rate:
        raise ValueError(f"rate must be > 0 s (got {rate})")
    if out.shape[0] != max(rows, 0) or weight.shape[0] != t.shape[0]:
        raise ValueError("out, weight and starts do not fit t")
    if rows > 0 and starts[rows] > t.shape[0]:
        raise ValueError("starts does not fit t")
    with nogil:
        for r in range(rows):
            a, b = starts[r], starts[r + 1]
            if b <= a:
                continue
            n = 0                        # windows so far (netml's len(each_flow_features))
            cut = False
            current = t[a]
            sub = weight[a]
            for i in range(a + 1, b):
                if t[i] - current <= rate:
                    sub = sub + weight[i]
                    continue
                current = current + rate
                if n < width:
                    out[r, n] = sub
                n += 1
                skip = py_floordiv(t[i] - current, rate)
                if skip > 0.0:
                    if skip > SAMP_WINDOWS:
                        skip = SAMP_WINDOWS
                    n += <Py_ssize_t>skip    # empty windows: out is 0 there already
                    current = current + skip * rate
                if n > SAMP_WINDOWS:
                    cut = True
                    break
                sub = weight[i]
            if not cut and sub > 0.0:
                if n < width:
                    out[r, n] = sub
                n += 1
            if cut:                      # netml cut the list to its first SAMP_WINDOWS
                for j in range(SAMP_WINDOWS, width):
                    out[r, j] = 0.0
