# ARP in the host context (RFC 826): who asks for which addresses, and which MAC holds
# which IPv4 address, per sensor, below IP.
#
# Two bounded tables (clock.pxd: a fixed array of rows, a hash index, a clock hand that
# replaces live state only when the table is (nearly) full of it, counted):
# - senders, keyed by (sender MAC, sender IP) of requests (a probe's sender IP 0.0.0.0
#   too: a DHCP client probes one address or a few, a sweep of probes is a scan): the
#   distinct target addresses asked for over the last one to two ARP_HALF_US (two halves, the older dropped as a
#   new one starts, as the scan tables do), linear counting over SCAN_BITS (128) bits
#   (exact for a few, within ~10 % up to 200, saturating at 621); a row is live for two
#   halves after its last request (wirescore.arp_senders_replaced);
# - bindings, keyed by IPv4 address: the MAC that last claimed it and when; a binding is
#   fresh for ARP_FRESH_US after it was last claimed or seen (wirescore.arp_bindings_
#   replaced counts fresh bindings pushed out).
# A frame's sender fields (when its sender IP is not 0.0.0.0, a probe of RFC 5227, and
# its sender MAC is a unicast one) claim the sender IP: a claim by another MAC while
# the binding is fresh is a binding change (wirescore.arp_binding_changes), unless
# either MAC is a virtual router MAC (VRRP 00:00:5e:00:01:xx, HSRP 00:00:0c:07:ac:xx
# and HSRPv2 00:00:0c:9f:fx:xx): the master of a router group answers with the virtual
# MAC and takes it over when another fails, so such a move is the protocol working. A
# reply's target fields (the requester, which sent its own MAC) teach the binding of the
# target IP too, without a change being counted: a capture that holds only an
# attacker's replies still shows whom the claimed address belonged to.
#
# arp_frame() writes one ArpRecord per well-formed ARP frame (the detection profiles of
# unit arp read them); the caller keeps room for it in the output buffer.
#
# Inline, used by flowtable.pyx without the GIL. Memory: ARP_SENDER_BYTES (64) + ARP_
# BINDING_BYTES (24) + 8 index bytes per row, in each of `rows` rows.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy, memset

from counters cimport F_ARP_BINDING_CHANGES, F_ARP_SENDERS_REPLACED, F_ARP_BINDINGS_REPLACED
from enums cimport SCAN_WORDS
from decode cimport be16
from context cimport ctx_hash16
from scans cimport scan_set, linear_count
from clock cimport (Clock, clock_init, clock_free, clock_head, clock_after, clock_pick,
                    clock_reuse)

cdef enum:
    ARP_HALF_US = 30000000       # 2 x 30 s: a sender's targets over the last 30-60 s
    ARP_FRESH_US = 120000000     # a binding claimed or seen in the last 120 s is fresh
    ARP_OP_REQUEST = 1
    ARP_OP_REPLY = 2

cdef struct ArpSender:
    int64_t t                    # last request, packet time in µs (at least 1)
    int32_t hnext                # hash chain: next row + 1 (clock.pxd)
    int32_t half                 # 1 + packet time // ARP_HALF_US of `cur`
    uint8_t mac[6]
    uint8_t ip[4]
    uint8_t pad[6]
    uint64_t cur[SCAN_WORDS]     # target address hashes (SCAN_BITS bits), this half
    uint64_t prev[SCAN_WORDS]    # ... the half before

cdef struct ArpBinding:
    int64_t t                    # last claimed or seen, packet time in µs (at least 1)
    int32_t hnext
    uint8_t ip[4]
    uint8_t mac[6]
    uint8_t pad[6]

cdef struct ArpRecord:
    int64_t ts_us                # the frame's packet time
    uint64_t flow_id             # the sender's ARP id: its frames in the packet ring
    uint8_t sender_ip[16]        # IPv4 in the first 4 bytes, rest zero (as flow records)
    uint8_t target_ip[16]
    uint8_t sender_mac[6]
    uint8_t target_mac[6]
    uint8_t prior_mac[6]         # binding_change: the MAC the sender IP was bound to
    uint8_t ip_version           # 4
    uint8_t op                   # 1 request, 2 reply
    uint16_t vlan0
    uint8_t binding_change       # 1: the sender claims an IP a fresh binding gives to
                                 # another MAC (neither a virtual router MAC)
    uint8_t pad
    double sender_targets        # distinct targets the sender asked for in 30-60 s
    double prior_age_s           # binding_change: seconds since the prior binding was
                                 # last claimed or seen (else 0)

cdef struct ArpTable:
    ArpSender* senders
    ArpBinding* bindings
    Clock sender_ix
    Clock binding_ix
    ArpRecord* out
    uint32_t out_n
    uint32_t out_cap


cdef inline int arp_init(ArpTable* t, uint32_t rows, uint32_t out_cap) noexcept nogil:
    """Tables of `rows` rows each (a power of two) and room for out_cap records; -1 when
    out of memory (arp_free() releases what was allocated)."""
    t.senders = <ArpSender*>calloc(rows, sizeof(ArpSender))
    t.bindings = <ArpBinding*>calloc(rows, sizeof(ArpBinding))
    t.out = <ArpRecord*>calloc(out_cap, sizeof(ArpRecord))
    t.out_n = 0
    t.out_cap = out_cap
    if (t.senders == NULL or t.bindings == NULL or t.out == NULL
            or clock_init(&t.sender_ix, rows) < 0 or clock_init(&t.binding_ix, rows) < 0):
        return -1
    return 0


cdef inline void arp_free(ArpTable* t) noexcept nogil:
    free(t.senders)
    free(t.bindings)
    free(t.out)
    t.senders = NULL
    t.bindings = NULL
    t.out = NULL
    clock_free(&t.sender_ix)
    clock_free(&t.binding_ix)


cdef inline bint mac_unicast(const uint8_t* m) noexcept nogil:
    """Not all zeros, not a group address (the I/G bit: broadcast and multicast)."""
    return (m[0] & 1) == 0 and (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) != 0


cdef inline bint mac_virtual_router(const uint8_t* m) noexcept nogil:
    """A router group's virtual MAC: VRRP for IPv4 00:00:5e:00:01:xx (RFC 5798 7.3),
    HSRP 00:00:0c:07:ac:xx, HSRPv2 00:00:0c:9f:f0:00 to 00:00:0c:9f:ff:ff."""
    if m[0] != 0 or m[1] != 0:
        return False
    if m[2] == 0x5E:
        return m[3] == 0 and m[4] == 1
    if m[2] == 0x0C:
        return (m[3] == 0x07 and m[4] == 0xAC) or (m[3] == 0x9F and (m[4] & 0xF0) == 0xF0)
    return False


cdef inline uint64_t arp_key_hash(const uint8_t* mac, const uint8_t* ip) noexcept nogil:
    """Hash of a (MAC, IPv4 address) pair (mac NULL: of the address alone)."""
    cdef uint8_t k[16]
    memset(k, 0, 16)
    memcpy(k, ip, 4)
    if mac != NULL:
        memcpy(k + 4, mac, 6)
    return ctx_hash16(k, 0xA4B0)


cdef inline ArpSender* arp_sender(ArpTable* t, const uint8_t* mac, const uint8_t* ip,
                                  int64_t now, bint create, uint64_t* cnt) noexcept nogil:
    """The sender row of (mac, ip), its halves turned to now; created when absent and
    `create` (counted when it pushes out a sender that asked in the last two halves),
    else NULL."""
    cdef uint64_t h = arp_key_hash(mac, ip)
    cdef int64_t ts = now if now > 0 else 1
    cdef int32_t half = <int32_t>(ts // ARP_HALF_US) + 1
    cdef int32_t i = clock_head(&t.sender_ix, h)
    cdef int took
    cdef ArpSender* e = NULL
    while i >= 0:
        if memcmp(t.senders[i].mac, mac, 6) == 0 and memcmp(t.senders[i].ip, ip, 4) == 0:
            e = &t.senders[i]
            break
        i = clock_after(t.senders[i].hnext)
    if e == NULL:
        if not create:
            return NULL
        i = clock_pick(&t.sender_ix, <char*>&t.senders[0].t, sizeof(ArpSender),
                       ts - 2 * <int64_t>ARP_HALF_US, &took)
        e = &t.senders[i]
        clock_reuse(&t.sender_ix, took, arp_key_hash(e.mac, e.ip), h, i, <char*>t.senders,
                    <char*>&t.senders[0].hnext, sizeof(ArpSender),
                    &cnt[F_ARP_SENDERS_REPLACED])
        memcpy(e.mac, mac, 6)
        memcpy(e.ip, ip, 4)
        e.half = half
    if half > e.half:
        if half == e.half + 1:
            memcpy(e.prev, e.cur, sizeof(e.cur))
        else:
            memset(e.prev, 0, sizeof(e.prev))
        memset(e.cur, 0, sizeof(e.cur))
        e.half = half
    if create and ts > e.t:
        e.t = ts
    return e


cdef inline double arp_targets(const ArpSender* e) noexcept nogil:
    """Distinct targets of a sender over both halves (0 for NULL)."""
    cdef int i, ones = 0
    cdef uint64_t x
    if e == NULL:
        return 0.0
    for i in range(SCAN_WORDS):
        x = e.cur[i] | e.prev[i]
        while x:
            x &= x - 1
            ones += 1
    return linear_count(ones)


cdef inline ArpBinding* arp_binding(ArpTable* t, const uint8_t* ip, int64_t now,
                                    bint* found, uint64_t* cnt) noexcept nogil:
    """The binding row of ip; *found says whether it existed (else it was just taken,
    its MAC zero, counted when it pushes out a fresh binding)."""
    cdef uint64_t h = arp_key_hash(NULL, ip)
    cdef int32_t i = clock_head(&t.binding_ix, h)
    cdef int took
    cdef ArpBinding* e
    while i >= 0:
        if memcmp(t.bindings[i].ip, ip, 4) == 0:
            found[0] = True
            return &t.bindings[i]
        i = clock_after(t.bindings[i].hnext)
    found[0] = False
    i = clock_pick(&t.binding_ix, <char*>&t.bindings[0].t, sizeof(ArpBinding),
                   now - <int64_t>ARP_FRESH_US, &took)
    e = &t.bindings[i]
    clock_reuse(&t.binding_ix, took, arp_key_hash(NULL, e.ip), h, i, <char*>t.bindings,
                <char*>&t.bindings[0].hnext, sizeof(ArpBinding), &cnt[F_ARP_BINDINGS_REPLACED])
    memcpy(e.ip, ip, 4)
    return e


cdef inline void arp_claim(ArpTable* t, ArpRecord* r, int64_t now, uint64_t* cnt) noexcept nogil:
    """The record's sender claims its sender IP: a binding change when a fresh binding
    gives it to another MAC (neither a virtual router MAC); the binding is the
    sender's from now on."""
    cdef bint found
    cdef ArpBinding* b = arp_binding(t, r.sender_ip, now, &found, cnt)
    if (found and memcmp(b.mac, r.sender_mac, 6) != 0 and now - b.t <= ARP_FRESH_US
            and not mac_virtual_router(b.mac) and not mac_virtual_router(r.sender_mac)):
        r.binding_change = 1
        memcpy(r.prior_mac, b.mac, 6)
        r.prior_age_s = (now - b.t) / 1e6
        cnt[F_ARP_BINDING_CHANGES] += 1
    memcpy(b.mac, r.sender_mac, 6)
    if now > b.t:
        b.t = now


cdef inline void arp_learn(ArpTable* t, const uint8_t* ip, const uint8_t* mac, int64_t now,
                           uint64_t* cnt) noexcept nogil:
    """A reply's target fields: ip is at mac (no change is counted)."""
    cdef bint found
    cdef ArpBinding* b = arp_binding(t, ip, now, &found, cnt)
    memcpy(b.mac, mac, 6)
    if now > b.t:
        b.t = now


cdef inline bint ip_zero(const uint8_t* ip) noexcept nogil:
    return (ip[0] | ip[1] | ip[2] | ip[3]) == 0


cdef inline ArpRecord* arp_frame(ArpTable* t, const uint8_t* a, uint16_t vlan0, int64_t ts,
                                 uint64_t* cnt) noexcept nogil:
    """One ARP frame whose 28 header bytes decode_arp() checked start at a: the
    sender's claim, its request (not a gratuitous one) counted among its targets, a
    reply's target learnt;
    its record is the next in t.out (the caller made room)."""
    cdef ArpRecord* r = &t.out[t.out_n]
    cdef ArpSender* s
    cdef int64_t now = ts if ts > 0 else 1
    cdef bint claims
    t.out_n += 1
    memset(r, 0, sizeof(ArpRecord))
    r.ts_us = ts
    r.op = <uint8_t>be16(a + 6)
    r.ip_version = 4
    r.vlan0 = vlan0
    memcpy(r.sender_mac, a + 8, 6)
    memcpy(r.sender_ip, a + 14, 4)
    memcpy(r.target_mac, a + 18, 6)
    memcpy(r.target_ip, a + 24, 4)
    r.flow_id = arp_key_hash(r.sender_mac, r.sender_ip) & ((1ULL << 51) - 1)
    claims = not ip_zero(r.sender_ip) and mac_unicast(r.sender_mac)
    if claims:
        arp_claim(t, r, now, cnt)
    if (r.op == ARP_OP_REQUEST and mac_unicast(r.sender_mac)
            and memcmp(r.sender_ip, r.target_ip, 4) != 0):
        s = arp_sender(t, r.sender_mac, r.sender_ip, now, True, cnt)
        scan_set(&s.cur[0], arp_key_hash(NULL, r.target_ip))
    else:
        s = arp_sender(t, r.sender_mac, r.sender_ip, now, False, cnt)
    r.sender_targets = arp_targets(s)
    if (r.op == ARP_OP_REPLY and not ip_zero(r.target_ip) and mac_unicast(r.target_mac)
            and memcmp(r.target_ip, r.sender_ip, 4) != 0):
        arp_learn(t, r.target_ip, r.target_mac, now, cnt)
    return r
