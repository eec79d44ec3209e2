# Fragments: the ports of a fragmented datagram, for its later fragments.
#
# A later fragment (offset > 0) carries no L4 header, so on its own it would make a
# port-less flow. The first fragment's ports are kept, per (source, destination, IP id,
# protocol, version), in a direct-mapped table of FlowMeter(frag_slots=N) slots (a
# power of two) for FRAG_TTL_US, and given to the later fragments of the same datagram
# that arrive within that time (wirescore.frag_matched; else wirescore.frag_unmatched).
# A first fragment that takes a slot still held by another live datagram is counted
# (defrag.tracker_hard_reuse). No reassembly: each fragment is accounted as it comes.
#
# Inline, used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy

from counters cimport F_FRAG_TABLE_OVERWRITE, C_FRAG_MATCHED, C_FRAG_UNMATCHED
from enums cimport IPP_TCP, IPP_UDP, IPP_SCTP
from decode cimport PacketView, FRAG_FIRST, FRAG_LATER
from flowtable cimport mix64

cdef enum:
    FRAG_TTL_US = 60000000   # a first fragment's ports are kept 60 s

cdef struct FragSlot:
    uint8_t src[16]
    uint8_t dst[16]
    int64_t ts
    uint32_t ip_id
    uint16_t sport
    uint16_t dport
    uint8_t proto
    uint8_t ipver
    uint8_t used
    uint8_t pad

cdef struct Defrag:
    FragSlot* slots
    uint32_t n               # a power of two


cdef inline int defrag_init(Defrag* d, uint32_t slots) noexcept nogil:
    """At least `slots` slots (rounded up to a power of two); -1 when out of memory."""
    d.n = 1
    while d.n < slots:
        d.n <<= 1
    d.slots = <FragSlot*>calloc(d.n, sizeof(FragSlot))
    return -1 if d.slots == NULL else 0


cdef inline void defrag_free(Defrag* d) noexcept nogil:
    free(d.slots)
    d.slots = NULL


cdef inline FragSlot* frag_slot(const Defrag* d, const PacketView* v) noexcept nogil:
    cdef uint64_t h = mix64(v.ip_id ^ (<uint64_t>v.proto << 32) ^ (<uint64_t>v.ipver << 40))
    cdef uint64_t w[4]
    memcpy(w, v.src, 16)
    memcpy(&w[2], v.dst, 16)
    h = mix64(h ^ w[0]) ^ mix64(w[1] ^ 0x51ED27ULL)
    h = mix64(h ^ w[2]) ^ mix64(w[3] ^ 0xA24BAED4ULL)
    return &d.slots[h & (d.n - 1)]


cdef inline bint frag_same(const FragSlot* f, const PacketView* v) noexcept nogil:
    return (f.used and f.ip_id == v.ip_id and f.proto == v.proto and f.ipver == v.ipver
            and memcmp(f.src, v.src, 16) == 0 and memcmp(f.dst, v.dst, 16) == 0)


cdef inline void frag_remember(Defrag* d, const PacketView* v, int64_t ts,
                               uint64_t* cnt) noexcept nogil:
    cdef FragSlot* f = frag_slot(d, v)
    if f.used and not frag_same(f, v) and ts - f.ts <= FRAG_TTL_US:
        cnt[F_FRAG_TABLE_OVERWRITE] += 1
    memcpy(f.src, v.src, 16)
    memcpy(f.dst, v.dst, 16)
    f.ip_id = v.ip_id
    f.proto = v.proto
    f.ipver = v.ipver
    f.sport = v.sport
    f.dport = v.dport
    f.ts = ts
    f.used = 1


cdef inline void frag_join(const Defrag* d, PacketView* v, int64_t ts,
                           uint64_t* cnt) noexcept nogil:
    cdef const FragSlot* f = frag_slot(d, v)
    if frag_same(f, v) and ts - f.ts <= FRAG_TTL_US:
        v.sport = f.sport
        v.dport = f.dport
        v.has_ports = 1
        cnt[C_FRAG_MATCHED] += 1
    else:
        cnt[C_FRAG_UNMATCHED] += 1


cdef inline void defrag_packet(Defrag* d, PacketView* v, int64_t ts, uint64_t* cnt) noexcept nogil:
    """Remember a first fragment's ports; give them to its later fragments."""
    if v.frag == FRAG_FIRST and v.has_ports:
        frag_remember(d, v, ts, cnt)
    elif v.frag == FRAG_LATER and (v.proto == IPP_TCP or v.proto == IPP_UDP
                                   or v.proto == IPP_SCTP):
        frag_join(d, v, ts, cnt)
