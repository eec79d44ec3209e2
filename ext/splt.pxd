# SPLT: the first n packets of every flow (NFStream's early-flow "sequence of packet
# lengths and times"), kept only when asked for (FlowMeter(splt=n), n = 1..SPLT_MAX).
#
# Per flow table entry: how many packets are kept so far, and for each of the first n
# packets its direction (0 = toserver, the direction of the flow's first packet; 1 =
# toclient), its wire length in bytes (saturating at 65535) and its gap in microseconds
# since the flow's previous packet in either direction (0 for the first packet;
# saturating at 2**32 - 1; a packet older than the flow's last is taken at the last, as
# features.pxd does, so gaps are never negative). When the flow ends they go into its
# record's splt_* fields (features.pxd FlowRecord), so they travel with the record.
#
# Memory: 7 n + 1 bytes per flow table entry, in arrays of their own (the entries stay
# small), allocated when the table is made (calloc: pages are touched only as entries
# are used).
#
# Inline, used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy

from features cimport FlowRecord, SPLT_MAX

cdef struct Splt:
    uint32_t n               # packets kept per flow; 0: off
    uint8_t* count           # per entry: packets kept (0 .. n)
    uint8_t* dirs            # per entry x n
    uint16_t* sizes          # per entry x n, bytes
    uint32_t* gaps           # per entry x n, microseconds


cdef inline int splt_init(Splt* s, uint32_t n, size_t entries) noexcept nogil:
    """Keep the first n (1..SPLT_MAX) packets of each of `entries` flows; -1 when out of
    memory (the caller frees with splt_free)."""
    s.n = n
    s.count = <uint8_t*>calloc(entries, 1)
    s.dirs = <uint8_t*>calloc(entries * n, 1)
    s.sizes = <uint16_t*>calloc(entries * n, sizeof(uint16_t))
    s.gaps = <uint32_t*>calloc(entries * n, sizeof(uint32_t))
    if s.count == NULL or s.dirs == NULL or s.sizes == NULL or s.gaps == NULL:
        return -1
    return 0


cdef inline void splt_free(Splt* s) noexcept nogil:
    free(s.count)
    free(s.dirs)
    free(s.sizes)
    free(s.gaps)
    s.count = NULL
    s.dirs = NULL
    s.sizes = NULL
    s.gaps = NULL
    s.n = 0


cdef inline void splt_start(Splt* s, size_t idx) noexcept nogil:
    """Entry idx holds a new flow: nothing kept yet."""
    s.count[idx] = 0


cdef inline void splt_packet(Splt* s, size_t idx, int direction, uint32_t wire_len,
                             int64_t gap_us) noexcept nogil:
    """One more packet of the flow in entry idx (ignored past the first n)."""
    cdef size_t k = s.count[idx]
    if k >= s.n:
        return
    k += idx * s.n
    s.dirs[k] = <uint8_t>direction
    s.sizes[k] = <uint16_t>(wire_len if wire_len < 65535 else 65535)
    if gap_us < 0:
        gap_us = 0
    s.gaps[k] = <uint32_t>(gap_us if gap_us < <int64_t>0xFFFFFFFFU else 0xFFFFFFFFU)
    s.count[idx] += 1


cdef inline void splt_record(const Splt* s, size_t idx, FlowRecord* r) noexcept nogil:
    """The first packets of the flow in entry idx into its record (zeroed by the
    caller: the slots past the count stay zero)."""
    cdef size_t n = s.count[idx]
    r.splt_count = <uint8_t>n
    memcpy(r.splt_direction, &s.dirs[idx * s.n], n)
    memcpy(r.splt_size, &s.sizes[idx * s.n], n * sizeof(uint16_t))
    memcpy(r.splt_gap_us, &s.gaps[idx * s.n], n * sizeof(uint32_t))
