# Packet statistics: what CICFlowMeter's columns need beyond features.pxd's, kept only
# when asked for (FlowMeter(pktstats=True); the cicflowmeter feature set turns it on).
#
# Per flow table entry, in an array of its own (the entries stay small), updated per
# packet in constant time and memory:
# - per direction: the smallest and largest L4 payload (PacketView.payload_len, the
#   bytes features.pxd sums as payload_bytes), the exact sum of their squares (uint64:
#   a payload is at most 65,535 bytes, so 2**32 of them fit), the sum and the smallest
#   of the L4 header lengths (PacketView.l4_hdr), and the packets with a payload;
# - both directions merged: the gaps between consecutive packets of the flow (smallest,
#   largest, Welford running mean and squared deviations; the gap is the one
#   features.pxd and splt.pxd take: a packet older than the flow's last is at the last);
# - activity periods as CICFlowMeter's (BasicFlow.updateActiveIdleTime, called with
#   every packet after the first, activity timeout 5 s by default): a gap longer than
#   the activity timeout ends the active period (its first packet to the last before
#   the gap; added only when longer than 0) and is an idle period; the next packet
#   starts a new active period. The period still open when the flow ends is not added
#   (CICFlowMeter never calls its endActiveIdleTime; Engelen et al.'s fixed tool
#   neither). Each kind: count, Welford mean and squared deviations, min, max.
# Sums and counts of one direction (packets, payload bytes) are features.pxd's; the
# record takes them from the flow's FlowAcc (pks_record), so they are not kept twice.
#
# The record's fields (features.pxd FlowRecord, pkt_* fields) hold population
# standard deviations, as the record's other std fields; pkt_stats is 1 when kept.
#
# Memory: sizeof(PktStats) (176 bytes) per flow table entry, allocated when the table is
# made (calloc: pages are touched only as entries are used).
#
# Inline, used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset
from libc.math cimport sqrt

from decode cimport PacketView
from features cimport FlowAcc, FlowRecord, UNSEEN32, sat32

cdef extern from *:
    """
    /* population variance of n values from their exact sum s1 and sum of squares s2
       (n * s2 - s1 * s1 in 128 bits: exact for 2**32 values under 2**16) */
    static inline double ws_exact_var(uint64_t n, uint64_t s1, uint64_t s2) {
        if (n < 2) return 0.0;
    #ifdef __SIZEOF_INT128__
        unsigned __int128 a = (unsigned __int128)n * s2, b = (unsigned __int128)s1 * s1;
        if (a <= b) return 0.0;
        return (double)(a - b) / ((double)n * (double)n);
    #else
        long double m = (long double)s1 / n, v = (long double)s2 / n - m * m;
        return v > 0 ? (double)v : 0.0;
    #endif
    }
    """
    double ws_exact_var(uint64_t n, uint64_t s1, uint64_t s2) nogil

cdef struct Periods:
    double mean              # microseconds; Welford
    double m2
    double min
    double max
    uint32_t n
    uint32_t pad

cdef struct PktStats:
    # touched by every packet (the first 64 bytes, then 32)
    uint64_t pl_sq[2]        # per direction: sum of squared payload lengths
    uint64_t hdr_sum[2]      # per direction: L4 header bytes
    double iat_mean          # merged gaps, microseconds; Welford
    double iat_m2
    int64_t active_start     # the open active period's first packet time
    uint32_t pl_min[2]       # UNSEEN32 until a packet that way
    uint32_t pl_max[2]
    uint32_t data_pkts[2]    # packets with payload_len >= 1
    uint32_t iat_min         # UNSEEN32 until a second packet; saturating at 2**32-2
    uint32_t iat_max
    uint16_t hdr_min[2]      # 0xFFFF until a packet that way
    uint8_t pad[4]
    # touched at a gap over the activity timeout
    Periods active
    Periods idle

cdef struct PktStatsTable:
    PktStats* s              # one per flow table entry; NULL: off
    int64_t activity_us      # the activity timeout


cdef inline int pks_init(PktStatsTable* t, size_t entries, int64_t activity_us) noexcept nogil:
    """Statistics for `entries` flows; -1 when out of memory."""
    t.activity_us = activity_us
    t.s = <PktStats*>calloc(entries, sizeof(PktStats))
    return -1 if t.s == NULL else 0


cdef inline void pks_free(PktStatsTable* t) noexcept nogil:
    free(t.s)
    t.s = NULL


cdef inline void pks_start(PktStatsTable* t, size_t idx, int64_t ts) noexcept nogil:
    """Entry idx holds a new flow whose first packet is at ts (not yet added)."""
    cdef PktStats* s = &t.s[idx]
    memset(s, 0, sizeof(PktStats))
    s.pl_min[0] = UNSEEN32
    s.pl_min[1] = UNSEEN32
    s.hdr_min[0] = 0xFFFF
    s.hdr_min[1] = 0xFFFF
    s.iat_min = UNSEEN32
    s.active_start = ts


cdef inline void period_add(Periods* p, double x) noexcept nogil:
    cdef double delta
    p.n += 1
    if p.n == 1 or x < p.min:
        p.min = x
    if p.n == 1 or x > p.max:
        p.max = x
    delta = x - p.mean
    p.mean += delta / p.n
    p.m2 += delta * (x - p.mean)


cdef inline void pks_packet(PktStatsTable* t, size_t idx, const PacketView* v, int direction,
                            int64_t ts, int64_t prev_last, uint64_t pkts) noexcept nogil:
    """One more packet of the flow in entry idx, at ts (already moved up to the flow's
    last packet prev_last if older); pkts: the flow's packets with this one."""
    cdef PktStats* s = &t.s[idx]
    cdef uint32_t x = v.payload_len
    cdef uint16_t h = v.l4_hdr
    cdef int64_t gap
    cdef uint32_t g
    cdef double dx, delta
    if x < s.pl_min[direction]:
        s.pl_min[direction] = x
    if x > s.pl_max[direction]:
        s.pl_max[direction] = x
    s.pl_sq[direction] += <uint64_t>x * x
    s.hdr_sum[direction] += h
    if h < s.hdr_min[direction]:
        s.hdr_min[direction] = h
    if x:
        s.data_pkts[direction] += 1
    if pkts < 2:
        return
    gap = ts - prev_last
    g = sat32(gap)
    if g < s.iat_min:
        s.iat_min = g
    if g > s.iat_max:
        s.iat_max = g
    dx = <double>gap
    delta = dx - s.iat_mean
    s.iat_mean += delta / <double>(pkts - 1)
    s.iat_m2 += delta * (dx - s.iat_mean)
    if gap > t.activity_us:
        if prev_last > s.active_start:
            period_add(&s.active, <double>(prev_last - s.active_start))
        period_add(&s.idle, dx)
        s.active_start = ts


cdef inline void periods_record(const Periods* p, double* out) noexcept nogil:
    """count, mean, std (population), min, max; zeros without a period."""
    out[0] = p.n
    if p.n == 0:
        return
    out[1] = p.mean
    out[2] = sqrt(p.m2 / p.n) if p.m2 > 0 else 0.0
    out[3] = p.min
    out[4] = p.max


cdef inline void pks_record(const PktStatsTable* t, size_t idx, const FlowAcc* f,
                            FlowRecord* r) noexcept nogil:
    """The statistics of the flow in entry idx (its accumulators f) into its record
    (zeroed by the caller: a direction without packets stays zero)."""
    cdef const PktStats* s = &t.s[idx]
    cdef uint64_t n0 = f.d[0].pkts, n1 = f.d[1].pkts
    cdef uint64_t n = n0 + n1
    r.pkt_stats = 1
    if n0:
        r.pkt_payload_min_toserver = s.pl_min[0]
        r.pkt_payload_max_toserver = s.pl_max[0]
        r.pkt_payload_std_toserver = sqrt(ws_exact_var(n0, f.d[0].payload, s.pl_sq[0]))
        r.pkt_header_min_toserver = s.hdr_min[0]
    if n1:
        r.pkt_payload_min_toclient = s.pl_min[1]
        r.pkt_payload_max_toclient = s.pl_max[1]
        r.pkt_payload_std_toclient = sqrt(ws_exact_var(n1, f.d[1].payload, s.pl_sq[1]))
        r.pkt_header_min_toclient = s.hdr_min[1]
    r.pkt_header_bytes_toserver = s.hdr_sum[0]
    r.pkt_header_bytes_toclient = s.hdr_sum[1]
    r.pkt_data_toserver = s.data_pkts[0]
    r.pkt_data_toclient = s.data_pkts[1]
    if n:
        r.pkt_payload_min = s.pl_min[0] if s.pl_min[0] < s.pl_min[1] else s.pl_min[1]
        r.pkt_payload_max = s.pl_max[0] if s.pl_max[0] > s.pl_max[1] else s.pl_max[1]
        r.pkt_payload_std = sqrt(ws_exact_var(n, f.d[0].payload + f.d[1].payload,
                                               s.pl_sq[0] + s.pl_sq[1]))
    if n >= 2:
        r.pkt_iat_min = s.iat_min
        r.pkt_iat_max = s.iat_max
        r.pkt_iat_std = sqrt(s.iat_m2 / (n - 1)) if s.iat_m2 > 0 else 0.0
    periods_record(&s.active, &r.pkt_active_count)
    periods_record(&s.idle, &r.pkt_idle_count)
