# Traffic windows: per time window (of packet time), the packets of each key summed
# into one vector, so that a scan or a flood that no single flow shows stands out.
#
# Keys: the whole stream ("all"), each source address ("src"), each destination
# address ("dst"). Per key and window: packets, bytes, TCP SYN (without ACK), SYN/ACK,
# RST and FIN packets, TCP packets with flags no stack sends (decode.pxd
# tcp_flags_bad: NULL, FIN and Xmas probes), ICMP unreachables, TCP / UDP / ICMP
# packets, and three distinct counts (destinations, destination ports, sources) by
# linear counting over bit maps of WIN_BITS (256) bits (exact for a few, within a few
# percent up to several hundred, saturating near 1400), plus a 32-bucket histogram of
# destination ports for their entropy. A key table holds FlowMeter(window_max_keys=N)
# keys per kind and window (default WIN_KEYS); packets of further keys are counted
# (wirescore.window_keys_dropped) but not summed.
#
# Windows drives them: windows follow each other on a grid of window_seconds of packet
# time (a window starts at a multiple of its length); the first packet at or past a
# window's end closes it, writing one WindowRecord per key and kind seen, and starts the
# window it falls in (windows without a packet write nothing). FlowMeter feeds it the
# packets and hands the records to Python (drain_windows()).
#
# Early records (off unless win_early_init is called with m > 0): while a window is
# open, the packet that brings a key's count to a checkpoint m, 2m, 4m, 8m, ... writes a
# snapshot of that key (a WindowRecord with early 1, end_us the packet's time: what the
# window holds up to and including it) to a separate buffer, at most log2 records per
# key and window. When that buffer is full the snapshot is skipped and counted
# (wirescore.window_early_skipped) until the caller drains it.
#
# Inline, used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy, memset
from libc.math cimport log

from counters cimport W_WINDOWS, W_KEYS_DROPPED, W_EARLY_SKIPPED
from enums cimport WIN_KIND_ALL, WIN_KIND_SRC, WIN_KIND_DST, WIN_KINDS
from enums cimport WIN_BITS, WIN_WORDS    # the distinct-count maps' bits (core_names.py SIZES)
from decode cimport PacketView, tcp_flags_bad

cdef enum:
    WIN_KEYS = 16384          # the default keys per kind and window (a power of two)
    WIN_PROBE = 16            # slots tried before a key is dropped

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
    uint64_t bm_dst[WIN_WORDS]
    uint64_t bm_dport[WIN_WORDS]
    uint64_t bm_src[WIN_WORDS]
    uint16_t dport_hist[32]
    # the key's latest packet (its representative): its flow and tuple as it was sent
    uint64_t rep_flow
    uint8_t rep_src[16]
    uint8_t rep_dst[16]
    uint16_t rep_sport        # ports; an ICMP packet's type and code (the Community
    uint16_t rep_dport        # ID's ports for ICMP)
    uint8_t rep_proto
    uint8_t rep_ports         # 1: the packet had ports (TCP, UDP, SCTP)
    uint8_t rep_ipver
    uint8_t pad2[1]

cdef struct WindowRecord:
    int64_t start_us
    int64_t end_us
    uint8_t addr[16]          # the key (zero for "all")
    uint8_t kind              # WIN_KIND_* (enums.h): all, src, dst
    uint8_t ip_version        # 0 for "all"
    uint8_t early             # 1: a snapshot of an open window at a checkpoint packet
    uint8_t pad[5]
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
    uint64_t flow_id          # the representative flow: of the key's latest packet in the
    uint8_t src[16]           # window (an early record: the checkpoint packet), with that
    uint8_t dst[16]           # packet's addresses, ports and protocol as it was sent (so
    uint16_t src_port         # a src key is its src, a dst key its dst; an ICMP
    uint16_t dest_port        # packet's type and code in the ports, has_ports 0)
    uint8_t proto
    uint8_t has_ports
    uint8_t rep_version       # 4 or 6: of src and dst (a window of key "all" has none)
    uint8_t pad2[1]

cdef struct Windows:
    int kinds                 # bit k: key kind k is on (0: no windows)
    int64_t len_us
    int64_t start             # the current window, [start, end); end -1: none yet
    int64_t end
    uint32_t keys             # table size per kind (a power of two)
    WinAcc* acc[WIN_KINDS]
    uint32_t* used[WIN_KINDS] # the slots used in the current window, in order
    uint32_t n[WIN_KINDS]
    WindowRecord* out         # records of closed windows, until drained
    uint32_t out_n
    uint32_t out_cap
    uint32_t room             # keys of one full set of tables (every kind on)
    uint32_t early_m          # early records' first checkpoint (packets; 0: off)
    WindowRecord* early       # early records, until drained
    uint32_t early_n
    uint32_t early_cap


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
    cdef uint32_t bit = <uint32_t>(h & (WIN_BITS - 1))
    bm[bit >> 6] |= (<uint64_t>1) << (bit & 63)


cdef inline int popcount64(uint64_t x) noexcept nogil:
    cdef int n = 0
    while x:
        x &= x - 1
        n += 1
    return n


cdef inline double bm_estimate(const uint64_t* bm) noexcept nogil:
    """Linear counting (Whang et al. 1990) over WIN_BITS bits."""
    cdef int ones = 0
    cdef int i
    for i in range(WIN_WORDS):
        ones += popcount64(bm[i])
    if ones == 0:
        return 0.0
    if ones >= WIN_BITS:
        return <double>WIN_BITS * log(<double>WIN_BITS)
    return -<double>WIN_BITS * log((<double>WIN_BITS - ones) / <double>WIN_BITS)


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


cdef inline void win_add(WinAcc* a, const PacketView* v, uint64_t flow) noexcept nogil:
    """Count packet v, of the flow whose EVE flow_id is flow, in the key's vector."""
    cdef const uint8_t* src = v.src
    cdef const uint8_t* dst = v.dst
    cdef uint8_t ipver = v.ipver, proto = v.proto, flags = v.tcp_flags
    cdef uint16_t dport = v.dport
    cdef bint has_ports = v.has_ports
    a.packets += 1
    a.rep_flow = flow
    memcpy(a.rep_src, src, 16)
    memcpy(a.rep_dst, dst, 16)
    a.rep_sport = v.sport if has_ports else v.icmp_type      # 0 but for ICMP
    a.rep_dport = dport if has_ports else v.icmp_code
    a.rep_proto = proto
    a.rep_ports = has_ports
    a.rep_ipver = ipver
    a.bytes += v.wire_len
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
        if (proto == 1 and v.icmp_type == 3) or (proto == 58 and v.icmp_type == 1):
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
    r.flow_id = a.rep_flow
    memcpy(r.src, a.rep_src, 16)
    memcpy(r.dst, a.rep_dst, 16)
    r.src_port = a.rep_sport
    r.dest_port = a.rep_dport
    r.proto = a.rep_proto
    r.has_ports = a.rep_ports
    r.rep_version = a.rep_ipver


cdef inline int win_init(Windows* w, int kinds, double seconds, uint32_t keys,
                         uint32_t extra) noexcept nogil:
    """Tables of `keys` keys for each kind in the bit set `kinds` (0: no windows), of
    `seconds` each; room for two windows' records plus `extra` (keys a caller can add
    before it drains). -1 when out of memory (win_free() releases what was allocated)."""
    cdef int i
    w.kinds = kinds
    w.len_us = <int64_t>(seconds * 1e6) if kinds else 0
    w.start = 0
    w.end = -1
    w.keys = keys
    if not kinds:
        return 0
    for i in range(WIN_KINDS):
        if kinds & (1 << i):
            w.acc[i] = <WinAcc*>calloc(keys, sizeof(WinAcc))
            w.used[i] = <uint32_t*>calloc(keys, sizeof(uint32_t))
            if w.acc[i] == NULL or w.used[i] == NULL:
                return -1
            w.room += keys
    w.out_cap = 2 * w.room + extra
    w.out = <WindowRecord*>calloc(w.out_cap, sizeof(WindowRecord))
    return -1 if w.out == NULL else 0


cdef inline int win_early_init(Windows* w, uint32_t m, uint32_t cap) noexcept nogil:
    """Early records at checkpoints m, 2m, 4m, ... packets of a key (m > 0), `cap` of
    them buffered; -1 when out of memory (win_free() releases it)."""
    w.early_m = m
    w.early_cap = cap
    w.early = <WindowRecord*>calloc(cap if cap else 1, sizeof(WindowRecord))
    return -1 if w.early == NULL else 0


cdef inline bint win_checkpoint(uint32_t packets, uint32_t m) noexcept nogil:
    """Whether a count of `packets` is a checkpoint m * 2**k (k >= 0; m > 0)."""
    cdef uint32_t q
    if packets < m or packets % m:
        return False
    q = packets // m
    return (q & (q - 1)) == 0


cdef inline void win_early(Windows* w, const WinAcc* a, int kind, int64_t now,
                           uint64_t* cnt) noexcept nogil:
    """The key's early record at packet time now, or a skip counted when the early
    buffer is full."""
    cdef WindowRecord* r
    if w.early_n >= w.early_cap:
        cnt[W_EARLY_SKIPPED] += 1
        return
    r = &w.early[w.early_n]
    w.early_n += 1
    win_record(a, r, <uint8_t>kind, w.start, now)
    r.early = 1


cdef inline void win_free(Windows* w) noexcept nogil:
    cdef int i
    for i in range(WIN_KINDS):
        free(w.acc[i])
        free(w.used[i])
        w.acc[i] = NULL
        w.used[i] = NULL
    free(w.out)
    w.out = NULL
    free(w.early)
    w.early = NULL


cdef inline void win_close(Windows* w, uint64_t* cnt) noexcept nogil:
    """Emit one record per key of the current window and empty the tables."""
    cdef int k
    cdef uint32_t j
    cdef WinAcc* a
    for k in range(WIN_KINDS):
        if not (w.kinds & (1 << k)):
            continue
        for j in range(w.n[k]):
            a = &w.acc[k][w.used[k][j]]
            win_record(a, &w.out[w.out_n], <uint8_t>k, w.start, w.end)
            w.out_n += 1
            memset(a, 0, sizeof(WinAcc))
        w.n[k] = 0
    cnt[W_WINDOWS] += 1


cdef inline void win_packet(Windows* w, const PacketView* v, uint64_t flow, int64_t now,
                            uint64_t* cnt) noexcept nogil:
    """Add a packet of the flow whose EVE flow_id is flow at packet time now (the
    meter's clock) to the current window of every key kind, closing the window first
    when now is past its end."""
    cdef uint8_t zero[16]
    cdef WinAcc* a
    cdef int k
    cdef const uint8_t* key
    if now >= w.end:
        if w.end >= 0:
            win_close(w, cnt)
        w.start = now - now % w.len_us
        w.end = w.start + w.len_us
    memset(zero, 0, 16)
    for k in range(WIN_KINDS):
        if not (w.kinds & (1 << k)):
            continue
        if k == WIN_KIND_ALL:
            key = &zero[0]
        elif k == WIN_KIND_SRC:
            key = &v.src[0]
        else:
            key = &v.dst[0]
        a = win_slot(w.acc[k], w.keys, key, 0 if k == WIN_KIND_ALL else v.ipver, w.used[k],
                     &w.n[k])
        if a == NULL:
            cnt[W_KEYS_DROPPED] += 1
            continue
        win_add(a, v, flow)
        if w.early_m and win_checkpoint(a.packets, w.early_m):
            win_early(w, a, k, now, cnt)
