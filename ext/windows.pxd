# Traffic windows: per time window (of packet time), the packets of each key summed
# into one vector, so that a scan or a flood that no single flow shows stands out.
#
# Keys: the whole stream ("all"), each source address ("src"), each destination
# address ("dst"). Per key and window: packets, bytes, TCP SYN (without ACK), SYN/ACK,
# RST and FIN packets, TCP packets with flags no stack sends (decode.pxd
# tcp_flags_bad: NULL, FIN and Xmas probes), ICMP unreachables, TCP / UDP / ICMP
# packets, and three distinct counts (destinations, destination ports, sources) by
# linear counting over 256-bit bitmaps (exact for a few, within a few percent up to
# several hundred, saturating near 1400), plus a 32-bucket histogram of destination
# ports for their entropy. A key table holds FlowMeter(window_max_keys=N) keys per kind
# and window (default WIN_KEYS); packets of further keys are counted
# (wirescore.window_keys_dropped) but not summed.
#
# Inline, used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcmp, memcpy, memset
from libc.math cimport log

from decode cimport tcp_flags_bad

cdef enum:
    WIN_KEYS = 16384          # the default keys per kind and window (a power of two)
    WIN_PROBE = 16            # slots tried before a key is dropped
    WIN_KIND_ALL = 0
    WIN_KIND_SRC = 1
    WIN_KIND_DST = 2
    WIN_KINDS = 3

cdef struct WinAcc:
    uint8_t addr[16]
    uint64_t bytes
    uint32_t packets
    uint32_t syn
    uint32_t synack
    uint32_t rst
    uint32_t fin
    uint32_t unreach
    uint32_t tcp
    uint32_t udp
    uint32_t icmp
    uint32_t bad_flags
    uint8_t ipver
    uint8_t used
    uint8_t pad[2]
    uint64_t bm_dst[4]
    uint64_t bm_dport[4]
    uint64_t bm_src[4]
    uint16_t dport_hist[32]

cdef struct WindowRecord:
    int64_t start_us
    int64_t end_us
    uint8_t addr[16]          # the key (zero for "all")
    uint8_t kind              # 0 all, 1 src, 2 dst
    uint8_t ip_version        # 0 for "all"
    uint8_t pad[6]
    double packets
    double bytes
    double mean_size
    double syn_ratio
    double synack_ratio
    double rst_ratio
    double fin_ratio
    double unreach_ratio
    double tcp_ratio
    double udp_ratio
    double icmp_ratio
    double distinct_dsts
    double distinct_dports
    double distinct_srcs
    double dport_entropy
    double bad_flags


cdef inline uint64_t win_mix(uint64_t h) noexcept nogil:
    h ^= h >> 31
    h *= 0x7fb5d329728ea185ULL
    h ^= h >> 27
    h *= 0x81dadef4bc2dd44dULL
    h ^= h >> 33
    return h


cdef inline uint64_t win_hash_addr(const uint8_t* a, uint8_t ipver) noexcept nogil:
    cdef uint64_t w[2]
    memcpy(w, a, 16)
    return win_mix(win_mix(w[0] ^ ipver) ^ w[1])


cdef inline void bm_set(uint64_t* bm, uint64_t h) noexcept nogil:
    cdef uint32_t bit = <uint32_t>(h & 255)
    bm[bit >> 6] |= (<uint64_t>1) << (bit & 63)


cdef inline int popcount64(uint64_t x) noexcept nogil:
    cdef int n = 0
    while x:
        x &= x - 1
        n += 1
    return n


cdef inline double bm_estimate(const uint64_t* bm) noexcept nogil:
    """Linear counting (Whang et al. 1990) over 256 bits."""
    cdef int ones = popcount64(bm[0]) + popcount64(bm[1]) + popcount64(bm[2]) + popcount64(bm[3])
    if ones == 0:
        return 0.0
    if ones >= 256:
        return 256.0 * log(256.0)
    return -256.0 * log((256.0 - ones) / 256.0)


cdef inline WinAcc* win_slot(WinAcc* table, uint32_t keys, const uint8_t* addr, uint8_t ipver,
                             uint32_t* used_list, uint32_t* n_used) noexcept nogil:
    """The key's accumulator (created), or NULL when the probe sequence is full.
    keys: the table's size (a power of two >= WIN_PROBE)."""
    cdef uint64_t h = win_hash_addr(addr, ipver)
    cdef uint32_t i, s
    cdef WinAcc* a
    for i in range(WIN_PROBE):
        s = <uint32_t>((h + i) & (keys - 1))
        a = &table[s]
        if not a.used:
            a.used = 1
            a.ipver = ipver
            memcpy(a.addr, addr, 16)
            used_list[n_used[0]] = s
            n_used[0] += 1
            return a
        if a.ipver == ipver and memcmp(a.addr, addr, 16) == 0:
            return a
    return NULL


cdef inline void win_add(WinAcc* a, const uint8_t* src, const uint8_t* dst, uint8_t ipver,
                         uint8_t proto, uint16_t dport, bint has_ports, uint8_t flags,
                         uint8_t icmp_type, uint32_t wire_len) noexcept nogil:
    a.packets += 1
    a.bytes += wire_len
    bm_set(a.bm_dst, win_hash_addr(dst, ipver))
    bm_set(a.bm_src, win_hash_addr(src, ipver))
    if proto == 6:
        a.tcp += 1
        if (flags & 0x12) == 0x02:
            a.syn += 1
        elif (flags & 0x12) == 0x12:
            a.synack += 1
        if flags & 0x04:
            a.rst += 1
        if flags & 0x01:
            a.fin += 1
        if has_ports and tcp_flags_bad(flags):
            a.bad_flags += 1
    elif proto == 17:
        a.udp += 1
    elif (proto == 1 and ipver == 4) or (proto == 58 and ipver == 6):
        a.icmp += 1
        if (proto == 1 and icmp_type == 3) or (proto == 58 and icmp_type == 1):
            a.unreach += 1
    if has_ports:
        bm_set(a.bm_dport, win_mix(dport ^ (<uint64_t>proto << 16)))
        if a.dport_hist[win_mix(dport) & 31] < 65535:
            a.dport_hist[win_mix(dport) & 31] += 1


cdef inline void win_record(const WinAcc* a, WindowRecord* r, uint8_t kind,
                            int64_t start, int64_t end) noexcept nogil:
    cdef double n = a.packets
    cdef double tcp = a.tcp if a.tcp > 0 else 1
    cdef double total = 0, p, ent = 0
    cdef int i
    memset(r, 0, sizeof(WindowRecord))
    r.start_us = start
    r.end_us = end
    memcpy(r.addr, a.addr, 16)
    r.kind = kind
    r.ip_version = a.ipver if kind != WIN_KIND_ALL else 0
    r.packets = n
    r.bytes = a.bytes
    r.mean_size = a.bytes / n if n > 0 else 0
    r.syn_ratio = a.syn / tcp
    r.synack_ratio = a.synack / tcp
    r.rst_ratio = a.rst / tcp
    r.fin_ratio = a.fin / tcp
    r.unreach_ratio = a.unreach / n if n > 0 else 0
    r.tcp_ratio = a.tcp / n if n > 0 else 0
    r.udp_ratio = a.udp / n if n > 0 else 0
    r.icmp_ratio = a.icmp / n if n > 0 else 0
    r.distinct_dsts = bm_estimate(a.bm_dst)
    r.distinct_dports = bm_estimate(a.bm_dport)
    r.distinct_srcs = bm_estimate(a.bm_src)
    for i in range(32):
        total += a.dport_hist[i]
    if total > 0:
        for i in range(32):
            if a.dport_hist[i]:
                p = a.dport_hist[i] / total
                ent -= p * log(p) / log(2.0)
    r.dport_entropy = ent
    r.bad_flags = a.bad_flags
