# SPLT: the first n packets of every flow (NFStream's early-flow "sequence of packet
# lengths and times"), kept only when asked for (FlowMeter(splt=n), n = 1..255).
#
# Per flow table entry: how many packets are kept so far, and for each of the first n
# packets its direction (0 = toserver, the direction of the flow's first packet; 1 =
# toclient), its wire length in bytes (saturating at 65535) and its gap in microseconds
# since the flow's previous packet in either direction (0 for the first packet;
# saturating at 2**32 - 1; a packet older than the flow's last is taken at the last, as
# features.pxd does, so gaps are never negative). When a flow ends its rows are copied
# to the output slot of its record (the same index as FlowMeter.out), so drain() can
# hand them out beside the records.
#
# Memory: (1 + 7 n) bytes per flow table entry and per output slot, allocated when the
# table is made (calloc: pages are touched only as entries are used).
#
# Inline, used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy

cdef enum:
    SPLT_MAX = 255           # NFStream's splt_analysis bound

cdef struct SpltRows:
    uint8_t* count           # per slot: packets kept (0 .. n)
    uint8_t* dirs            # per slot x n
    uint16_t* sizes          # per slot x n, bytes
    uint32_t* gaps           # per slot x n, microseconds

cdef struct Splt:
    uint32_t n               # packets kept per flow; 0: off
    SpltRows live            # one slot per flow table entry
    SpltRows out             # one slot per output record


cdef inline int splt_rows_init(SpltRows* r, size_t slots, uint32_t n) noexcept nogil:
    r.count = <uint8_t*>calloc(slots, 1)
    r.dirs = <uint8_t*>calloc(slots * n, 1)
    r.sizes = <uint16_t*>calloc(slots * n, sizeof(uint16_t))
    r.gaps = <uint32_t*>calloc(slots * n, sizeof(uint32_t))
    if r.count == NULL or r.dirs == NULL or r.sizes == NULL or r.gaps == NULL:
        return -1
    return 0


cdef inline void splt_rows_free(SpltRows* r) noexcept nogil:
    free(r.count)
    free(r.dirs)
    free(r.sizes)
    free(r.gaps)
    r.count = NULL
    r.dirs = NULL
    r.sizes = NULL
    r.gaps = NULL


cdef inline int splt_init(Splt* s, uint32_t n, size_t entries, size_t out_slots) noexcept nogil:
    """Keep the first n (1..SPLT_MAX) packets of each of `entries` flows; -1 when out of
    memory (the caller frees with splt_free)."""
    s.n = n
    if splt_rows_init(&s.live, entries, n) < 0 or splt_rows_init(&s.out, out_slots, n) < 0:
        return -1
    return 0


cdef inline void splt_free(Splt* s) noexcept nogil:
    splt_rows_free(&s.live)
    splt_rows_free(&s.out)
    s.n = 0


cdef inline void splt_start(Splt* s, size_t idx) noexcept nogil:
    """Entry idx holds a new flow: nothing kept yet."""
    s.live.count[idx] = 0


cdef inline void splt_packet(Splt* s, size_t idx, int direction, uint32_t wire_len,
                             int64_t gap_us) noexcept nogil:
    """One more packet of the flow in entry idx (ignored past the first n)."""
    cdef size_t k = s.live.count[idx]
    if k >= s.n:
        return
    k += idx * s.n
    s.live.dirs[k] = <uint8_t>direction
    s.live.sizes[k] = <uint16_t>(wire_len if wire_len < 65535 else 65535)
    if gap_us < 0:
        gap_us = 0
    s.live.gaps[k] = <uint32_t>(gap_us if gap_us < <int64_t>0xFFFFFFFFU else 0xFFFFFFFFU)
    s.live.count[idx] += 1


cdef inline void splt_end(Splt* s, size_t idx, size_t slot) noexcept nogil:
    """The flow in entry idx ends as output record `slot`: its rows go with it."""
    cdef size_t n = s.n
    s.out.count[slot] = s.live.count[idx]
    memcpy(&s.out.dirs[slot * n], &s.live.dirs[idx * n], n)
    memcpy(&s.out.sizes[slot * n], &s.live.sizes[idx * n], n * sizeof(uint16_t))
    memcpy(&s.out.gaps[slot * n], &s.live.gaps[idx * n], n * sizeof(uint32_t))
