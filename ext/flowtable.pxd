# Flow table: bidirectional flows keyed by (VLAN ids, IP protocol, the two endpoints
# in canonical order), bounded by max_flows, with per-class idle-timeout lists, active
# timeout, TCP teardown with a linger, and eviction when full.
#
# FlowEntry is a live flow: its key, the table's links (bucket chain, idle list) and the
# flow's accumulators (features.pxd FlowAcc). It is kept small: it is what 1M concurrent
# flows cost (344 bytes). Buckets: a power of two >= max_flows, chained through hnext;
# a free entry is linked through hnext too. Idle lists, one per timeout class (enums.h
# TC_*), are lazy: a packet does not move its flow (that would cost two cache misses
# on the neighbours); ft_expired_head() requeues a head touched since it was queued,
# so each touch costs at most one requeue. FlowMeter (flowtable.pyx) owns the table and
# ends the flows these functions pick.
#
# The quiet list (list LQ, after the N_TC class lists; on when quiet_us > 0): a flow
# whose class timeout is longer than quiet_us sits there first, lazily ordered as the
# others, so the sweep finds the flows that have had no packet for quiet_us (an open
# flow's "quiet" update: flowtable.pyx) without looking at any other. Once reported it
# moves to its class list (quiet_done) until its next packet, which brings it back
# (ft_touch: two neighbours touched, once per quiet period of a flow, not per packet).
#
# Inline, used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy, memset

from counters cimport *
from enums cimport (R_NONE, R_TIMEOUT, R_ACTIVE, S_NEW, S_CLOSED, TH_SYN, TH_ACK, N_TC,
                    TC_TCP_NEW, TC_TCP_EST, TC_TCP_CLOSED, TC_UDP_NEW, TC_UDP_EST,
                    TC_ICMP_NEW, TC_ICMP_EST, TC_OTHER_NEW, TC_OTHER_EST,
                    IPP_ICMP, IPP_TCP, IPP_UDP, IPP_ICMPV6)
from decode cimport PacketView
from features cimport FlowAcc, FlowRecord, acc_init, acc_last_seen
from app.base cimport AppLink

cdef enum:
    LQ = N_TC                # the quiet list's index in heads, tails, timeout_us
    NL = N_TC + 1            # lists


cdef struct FlowKey:
    uint8_t addr_a[16]       # the lower (address, port) endpoint
    uint8_t addr_b[16]
    uint16_t port_a
    uint16_t port_b
    uint16_t vlan0
    uint16_t vlan1
    uint8_t proto
    uint8_t ipver
    uint8_t nvlan
    uint8_t pad[5]           # zero: keys are compared and hashed as 48 bytes

cdef struct FlowEntry:
    FlowKey key
    int64_t queued_ts        # last seen when (re)queued on its idle list
    int32_t hnext            # bucket chain, or free-list link
    int32_t lprev            # idle list links
    int32_t lnext
    uint8_t tclass           # the idle list it is on (TC_*)
    uint8_t ctx_bits         # CB_* (context.pxd): what the flow was to its endpoints
    uint8_t quiet_done       # reported quiet since its last packet (off the quiet list)
    uint8_t pad[1]
    FlowAcc f
    AppLink app              # the application layer's link (app/base.pxd): 8 bytes

cdef struct FlowTable:
    FlowEntry* entries       # max_flows, touched lazily (high_water: never used beyond)
    int32_t* buckets         # nbuckets chain heads, -1 empty
    uint32_t max_flows
    uint32_t nbuckets
    uint32_t high_water
    uint32_t n_active
    int32_t free_head
    int32_t heads[NL]        # idle lists (the N_TC classes, then LQ), oldest first
    int32_t tails[NL]
    int64_t timeout_us[NL]   # LQ's: quiet_us (0: off)
    int64_t active_us


cdef inline uint64_t mix64(uint64_t h) noexcept nogil:
    # splitmix64 finaliser
    h ^= h >> 30
    h *= 0xbf58476d1ce4e5b9ULL
    h ^= h >> 27
    h *= 0x94d049bb133111ebULL
    h ^= h >> 31
    return h


cdef inline uint64_t hash_key(const FlowKey* k) noexcept nogil:
    # copy out as words with memcpy: reading the struct through a uint64_t pointer
    # breaks C's aliasing rules, and after inlining gcc then hashes stale fields
    cdef uint64_t w[6]          # sizeof(FlowKey) == 48, checked at import (flowtable.pyx)
    cdef uint64_t h = 0x9E3779B97F4A7C15ULL
    cdef int i
    memcpy(w, k, sizeof(FlowKey))
    for i in range(6):
        h = mix64(h ^ w[i])
    return h


cdef inline uint64_t flow_id(uint64_t h, int64_t first_ts) noexcept nogil:
    """The EVE flow_id of the flow whose key hashes to h and that started at first_ts
    (51 bits: exact in a JSON double)."""
    return mix64(h ^ <uint64_t>first_ts) & ((1ULL << 51) - 1)


cdef inline uint64_t make_key(const PacketView* v, FlowKey* key) noexcept nogil:
    """Canonical key of a decoded packet; returns its hash. key.pad[0] is set to 1 when
    the packet's source is endpoint a (it is zeroed in the stored key)."""
    cdef int c = memcmp(v.src, v.dst, 16)
    cdef bint src_is_a = c < 0 or (c == 0 and v.sport <= v.dport)
    cdef uint64_t h
    memset(key, 0, sizeof(FlowKey))
    if src_is_a:
        memcpy(key.addr_a, v.src, 16)
        memcpy(key.addr_b, v.dst, 16)
        key.port_a = v.sport
        key.port_b = v.dport
    else:
        memcpy(key.addr_a, v.dst, 16)
        memcpy(key.addr_b, v.src, 16)
        key.port_a = v.dport
        key.port_b = v.sport
    key.vlan0 = v.vlan0
    key.vlan1 = v.vlan1
    key.nvlan = v.nvlan
    key.proto = v.proto
    key.ipver = v.ipver
    h = hash_key(key)
    key.pad[0] = src_is_a
    return h


cdef inline int ft_init(FlowTable* t, uint32_t max_flows, const double* timeouts_s,
                        double active_s, int64_t quiet_us) noexcept nogil:
    """Allocate a table of max_flows entries (timeouts in seconds, capped at 1e12 s:
    never; quiet_us: the quiet list's, 0 off); -1 when out of memory (ft_free()
    releases what was allocated)."""
    cdef int c
    cdef uint32_t b
    t.max_flows = max_flows
    t.nbuckets = 1
    while t.nbuckets < max_flows:
        t.nbuckets <<= 1
    for c in range(N_TC):
        t.timeout_us[c] = <int64_t>((timeouts_s[c] if timeouts_s[c] < 1e12 else 1e12) * 1e6)
        t.heads[c] = -1
        t.tails[c] = -1
    t.timeout_us[LQ] = quiet_us
    t.heads[LQ] = -1
    t.tails[LQ] = -1
    t.active_us = <int64_t>((active_s if active_s < 1e12 else 1e12) * 1e6)
    t.free_head = -1
    t.entries = <FlowEntry*>calloc(max_flows, sizeof(FlowEntry))
    t.buckets = <int32_t*>calloc(t.nbuckets, sizeof(int32_t))
    if t.entries == NULL or t.buckets == NULL:
        return -1
    for b in range(t.nbuckets):
        t.buckets[b] = -1
    return 0


cdef inline void ft_free(FlowTable* t) noexcept nogil:
    free(t.entries)
    free(t.buckets)
    t.entries = NULL
    t.buckets = NULL


cdef inline int32_t ft_find(const FlowTable* t, const FlowKey* key, uint64_t h) noexcept nogil:
    """The entry of key (hash h), or -1."""
    cdef int32_t idx = t.buckets[h & (t.nbuckets - 1)]
    while idx >= 0:
        if memcmp(&t.entries[idx].key, key, sizeof(FlowKey)) == 0:
            return idx
        idx = t.entries[idx].hnext
    return -1


cdef inline int ft_class_of(const FlowEntry* e) noexcept nogil:
    """The flow's idle-timeout class: protocol x state."""
    cdef uint8_t p = e.key.proto
    cdef bint est = e.f.state != S_NEW
    if p == IPP_TCP:
        if e.f.state == S_CLOSED:
            return TC_TCP_CLOSED
        return TC_TCP_EST if est else TC_TCP_NEW
    if p == IPP_UDP:
        return TC_UDP_EST if est else TC_UDP_NEW
    if (p == IPP_ICMP and e.key.ipver == 4) or (p == IPP_ICMPV6 and e.key.ipver == 6):
        return TC_ICMP_EST if est else TC_ICMP_NEW
    return TC_OTHER_EST if est else TC_OTHER_NEW


cdef inline int ft_idle_reason(const FlowEntry* e) noexcept nogil:
    """Why an idle flow ends: its teardown when closed, else a timeout."""
    if e.f.state == S_CLOSED:
        return e.f.close_reason
    return R_TIMEOUT


cdef inline int ft_list_of(const FlowTable* t, const FlowEntry* e) noexcept nogil:
    """The list the flow belongs on: the quiet list until it is reported quiet, when
    that comes before its class timeout; else its class's."""
    cdef int c = ft_class_of(e)
    if t.timeout_us[LQ] and not e.quiet_done and t.timeout_us[c] > t.timeout_us[LQ]:
        return LQ
    return c


cdef inline bint ft_quiet(const FlowTable* t, const FlowEntry* e, int64_t now) noexcept nogil:
    """No packet for longer than quiet_us."""
    return now - acc_last_seen(&e.f) > t.timeout_us[LQ]


cdef inline bint ft_idle(const FlowTable* t, const FlowEntry* e, int64_t now) noexcept nogil:
    """No packet for longer than the timeout of the flow's class."""
    return now - acc_last_seen(&e.f) > t.timeout_us[ft_class_of(e)]


cdef inline int ft_expiry(const FlowTable* t, const FlowEntry* e, const PacketView* v,
                          int64_t ts, uint64_t* cnt) noexcept nogil:
    """Whether the flow ends when packet v arrives at ts (which then starts a new flow
    with the same key): the reason, or R_NONE. Idle or active timeout, or TCP reuse (a
    SYN without ACK on a closed flow, counted in flow.tcp_reuse)."""
    if ft_idle(t, e, ts):
        return ft_idle_reason(e)
    if ts - e.f.first_ts > t.active_us:
        return R_ACTIVE
    if e.f.state == S_CLOSED and v.proto == IPP_TCP and (v.tcp_flags & (TH_SYN | TH_ACK)) == TH_SYN:
        cnt[F_TCP_REUSE] += 1
        return e.f.close_reason
    return R_NONE


cdef inline void ft_list_append(FlowTable* t, int c, int32_t idx) noexcept nogil:
    cdef FlowEntry* e = &t.entries[idx]
    e.lprev = t.tails[c]
    e.lnext = -1
    if t.tails[c] >= 0:
        t.entries[t.tails[c]].lnext = idx
    else:
        t.heads[c] = idx
    t.tails[c] = idx


cdef inline void ft_list_remove(FlowTable* t, int c, int32_t idx) noexcept nogil:
    cdef FlowEntry* e = &t.entries[idx]
    if e.lprev >= 0:
        t.entries[e.lprev].lnext = e.lnext
    else:
        t.heads[c] = e.lnext
    if e.lnext >= 0:
        t.entries[e.lnext].lprev = e.lprev
    else:
        t.tails[c] = e.lprev
    e.lprev = -1
    e.lnext = -1


cdef inline bint ft_requeue(FlowTable* t, int32_t idx) noexcept nogil:
    """Move a head touched since it was queued (or of another list: ft_list_of) to the
    tail of the list it belongs on; False when it is where it belongs."""
    cdef FlowEntry* e = &t.entries[idx]
    cdef int c = ft_list_of(t, e)
    cdef int64_t last = acc_last_seen(&e.f)
    if c == e.tclass and e.queued_ts >= last:
        return False
    ft_list_remove(t, e.tclass, idx)
    e.tclass = <uint8_t>c
    e.queued_ts = last
    ft_list_append(t, c, idx)
    return True


cdef inline void ft_touch(FlowTable* t, int32_t idx) noexcept nogil:
    """After a packet: move the flow only when the list it belongs on has a shorter
    timeout than the one it sits on (e.g. TCP teardown), or back to the quiet list when
    it was reported quiet; see ft_expired_head."""
    cdef FlowEntry* e = &t.entries[idx]
    cdef int c
    if e.quiet_done:
        e.quiet_done = 0
        c = ft_list_of(t, e)
        if c == e.tclass:
            return
    else:
        c = ft_list_of(t, e)
        if c == e.tclass or t.timeout_us[c] >= t.timeout_us[e.tclass]:
            return
    ft_list_remove(t, e.tclass, idx)
    e.tclass = <uint8_t>c
    e.queued_ts = acc_last_seen(&e.f)
    ft_list_append(t, c, idx)


cdef inline int32_t ft_expired_head(FlowTable* t, int c, int64_t now) noexcept nogil:
    """The head of class c's idle list when it is idle at time now, else -1; heads
    touched since they were queued are requeued on the way."""
    cdef int32_t idx
    while True:
        idx = t.heads[c]
        if idx < 0:
            return -1
        if ft_idle(t, &t.entries[idx], now):
            return idx
        if not ft_requeue(t, idx):
            return -1


cdef inline int32_t ft_oldest(FlowTable* t) noexcept nogil:
    """The least recently seen flow (the one to evict), or -1 when none is live; the
    heads are first brought up to date."""
    cdef int c
    cdef int32_t best = -1
    cdef int64_t best_ts = 0, last
    for c in range(NL):
        while t.heads[c] >= 0 and ft_requeue(t, t.heads[c]):
            pass
        if t.heads[c] >= 0:
            last = acc_last_seen(&t.entries[t.heads[c]].f)
            if best < 0 or last < best_ts:
                best = t.heads[c]
                best_ts = last
    return best


cdef inline void ft_count_new(uint64_t* cnt, const FlowKey* key) noexcept nogil:
    cnt[F_TOTAL] += 1
    if key.proto == IPP_TCP:
        cnt[F_TCP] += 1
    elif key.proto == IPP_UDP:
        cnt[F_UDP] += 1
    elif key.proto == IPP_ICMP and key.ipver == 4:
        cnt[F_ICMPV4] += 1
    elif key.proto == IPP_ICMPV6 and key.ipver == 6:
        cnt[F_ICMPV6] += 1
    else:
        cnt[F_OTHER] += 1


cdef inline int32_t ft_insert(FlowTable* t, const FlowKey* key, uint64_t h, int64_t ts,
                              bint src_is_a, uint64_t* cnt) noexcept nogil:
    """A new flow of key (hash h) whose first packet, at ts, came from endpoint a when
    src_is_a; the caller made room (n_active < max_flows). Returns its entry."""
    cdef int32_t idx
    cdef FlowEntry* e
    cdef uint32_t b
    if t.free_head >= 0:
        idx = t.free_head
        t.free_head = t.entries[idx].hnext
    else:
        idx = <int32_t>t.high_water
        t.high_water += 1
    e = &t.entries[idx]
    memset(e, 0, sizeof(FlowEntry))
    memcpy(&e.key, key, sizeof(FlowKey))
    b = <uint32_t>(h & (t.nbuckets - 1))
    e.hnext = t.buckets[b]
    t.buckets[b] = idx
    acc_init(&e.f, ts, src_is_a)
    e.tclass = <uint8_t>ft_list_of(t, e)
    e.queued_ts = ts
    e.lprev = -1
    e.lnext = -1
    ft_list_append(t, e.tclass, idx)
    t.n_active += 1
    ft_count_new(cnt, key)
    return idx


cdef inline void ft_detach(FlowTable* t, int32_t idx, uint64_t h) noexcept nogil:
    """Take an ending flow (its key hashing to h) out of its bucket chain and idle list
    (its entry stays as it is until ft_release)."""
    cdef FlowEntry* e = &t.entries[idx]
    cdef int32_t* link = &t.buckets[h & (t.nbuckets - 1)]
    while link[0] != idx:
        link = &t.entries[link[0]].hnext
    link[0] = e.hnext
    ft_list_remove(t, e.tclass, idx)


cdef inline void ft_release(FlowTable* t, int32_t idx) noexcept nogil:
    """Put a detached entry on the free list."""
    t.entries[idx].hnext = t.free_head
    t.free_head = idx
    t.n_active -= 1


cdef inline void ft_identity(const FlowEntry* e, uint64_t h, FlowRecord* r) noexcept nogil:
    """The record's flow_id, endpoints (the client's as src), VLANs and protocol; h: the
    key's hash."""
    r.flow_id = flow_id(h, e.f.first_ts)
    if e.f.a_is_client:
        memcpy(r.src_addr, e.key.addr_a, 16)
        memcpy(r.dest_addr, e.key.addr_b, 16)
        r.src_port = e.key.port_a
        r.dest_port = e.key.port_b
    else:
        memcpy(r.src_addr, e.key.addr_b, 16)
        memcpy(r.dest_addr, e.key.addr_a, 16)
        r.src_port = e.key.port_b
        r.dest_port = e.key.port_a
    r.vlan0 = e.key.vlan0
    r.vlan1 = e.key.vlan1
    r.nvlan = e.key.nvlan
    r.ip_version = e.key.ipver
    r.proto = e.key.proto
