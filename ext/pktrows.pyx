# cython: freethreading_compatible = False
"""One row per captured frame: what the decoder (decode.pxd) sees of it, as numpy rows.

The flow meter folds packets into flow records and keeps no packet; a research path that
needs every packet of a flow (the netml feature set: wirescore.featuresets.netml) reads a
capture's batches (wirescore.capture: data, meta, linktype) through a PacketRows, which
decodes each frame exactly as the meter does, without the GIL and without a Python object
per packet, into a PKTROW_DTYPE array (ext/pktrows.pxd: time, captured length, wire
length, addresses, ports, protocol, TCP flags, TTL, decode result).

Cost: one decode per frame (the meter's), 64 bytes of output per frame; the decoder's
counters (core_names.COUNTER_NAMES slots) add up over the batches in `counters`.
"""
import numpy as np

from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy
from counters cimport N_COUNTERS
from decode cimport PacketView, RES_IP, decode_frame, linktype_supported
from pktrows cimport PacketRow

cdef PacketRow _dummy_row
#: the rows' numpy dtype, derived from the C struct (ext/pktrows.pxd)
PKTROW_DTYPE = np.asarray(<PacketRow[:1]>(&_dummy_row)).dtype
cdef uint8_t _EMPTY[1]


cdef class PacketRows:
    """Decoder of whole batches into rows; keeps the decoder's counters between batches."""
    cdef uint64_t[::1] _cnt
    cdef uint64_t[::1] _ethertypes
    cdef object _counters

    # __init__, not a no-argument __cinit__: Cython's vectorcall wrapper of the latter
    # offsets a NULL argument array (undefined behaviour UBSan reports; found by the core
    # fuzz target); the buffers here are Python objects, so __init__ is soon enough
    def __init__(self):
        self._counters = np.zeros(N_COUNTERS, dtype=np.uint64)
        self._cnt = self._counters
        self._ethertypes = np.zeros(65536, dtype=np.uint64)

    @property
    def counters(self):
        """The decoder's counters so far (uint64, one slot a core_names.COUNTER_NAMES
        name); a copy."""
        return self._counters.copy()

    def rows(self, const uint8_t[::1] data, const uint32_t[:, ::1] meta, int linktype):
        """PKTROW_DTYPE rows of a batch: data the buffer, meta its (n, 4) uint32 rows
        (sec, usec, offset, caplen), linktype the libpcap DLT of every frame. ValueError
        for a link type the decoder lacks, or a meta row whose frame lies outside data."""
        cdef Py_ssize_t n = meta.shape[0], i, bad = -1
        cdef uint64_t size = <uint64_t>data.shape[0]
        cdef const uint8_t* base = &data[0] if data.shape[0] > 0 else &_EMPTY[0]
        cdef PacketView v
        cdef PacketRow* r
        cdef int res
        if meta.shape[1] != 4:
            raise ValueError("meta must have 4 columns (sec, usec, offset, caplen)")
        if not linktype_supported(linktype):
            raise ValueError(f"link type {linktype}: not one the decoder reads")
        out = np.zeros(n, dtype=PKTROW_DTYPE)
        cdef PacketRow[::1] rows = out
        with nogil:
            for i in range(n):
                if <uint64_t>meta[i, 2] + meta[i, 3] > size:
                    bad = i
                    break
                r = &rows[i]
                r.ts_us = <int64_t>meta[i, 0] * 1000000 + meta[i, 1]
                r.caplen = meta[i, 3]
                res = decode_frame(base + meta[i, 2], meta[i, 3], linktype, &v,
                                   &self._cnt[0], &self._ethertypes[0])
                r.result = <uint8_t>res
                if res != RES_IP:       # only an IP packet's view has these fields
                    continue
                r.wire_len = v.wire_len
                memcpy(r.src, v.src, 16)
                memcpy(r.dst, v.dst, 16)
                r.sport = v.sport
                r.dport = v.dport
                r.ipver = v.ipver
                r.proto = v.proto
                r.has_ports = v.has_ports
                r.frag = v.frag
                r.tcp_flags = v.tcp_flags
                r.ttl = v.ttl
        if bad >= 0:
            raise ValueError(f"meta row {bad}: frame at {meta[bad, 2]} + {meta[bad, 3]} "
                             f"bytes lies outside the {size}-byte buffer")
        return out
