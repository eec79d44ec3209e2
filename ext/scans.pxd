# Scan bookkeeping: connection attempts that got no answer, per client and per server.
#
# The scan tables (Zeek's policy/misc/scan.zeek, in bounded memory): per client, its
# connection attempts that got no answer, over the last one to two SCAN_HALF_US (two
# halves; the older is dropped as a new one starts), by two keys: (client, service),
# whose items are servers (an address scan: one service tried on many hosts), and
# (client, server), whose items are services (a port scan); and per server, the clients
# whose attempts it left unanswered (key (server, zeros): a flood of spoofed SYNs, a
# distributed scan, backscatter's victim, a dead service). An attempt: the client's
# first packet of a flow to a unicast server: for TCP one without ACK or RST (a SYN, or
# a FIN, NULL or Xmas probe of a stealth scan), any UDP datagram, an ICMP request (echo,
# timestamp, information, address mask). Its item is set in `tried` when the flow starts
# and in `answered` when the server answers (a SYN/ACK; for UDP and ICMP any packet
# back; an RST or an ICMP error is no answer). Unanswered items = tried and not
# answered, counted by linear counting over SCAN_BITS (128) bits (exact for a few,
# within ~10 % up to 200, saturating at 621): the count is read when a flow is reported,
# so it includes the attempts made after the flow's own, up to its report (a timeout
# later). Keys only come from attempts, in context_hosts / 2 rows of 160 bytes (5.2 MB
# by default) indexed as clock.pxd says: a new key replaces one with an attempt in the
# last two halves only when the table is (nearly) full of them, counted
# (wirescore.ctx_scan_replaced).
#
# scan_first() is what the meter calls at the first packet of each direction of a flow
# (an attempt, or its answer), scan_flow_end() when a flow is reported.
#
# Confirmed failures (pending.pxd): an attempt still unanswered a grace after it sets
# its item in the `failed` bits too (scan_fail), rotated with the halves like the
# others; scan_failed() counts failed and not answered items, what an attempt record
# reads at its confirmation (the flow record's counts stay tried and not answered).
#
# Inline, used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy, memset
from libc.math cimport log

from counters cimport F_CTX_SCAN_REPLACED
from enums cimport (TH_SYN, TH_ACK, TH_RST, IPP_ICMP, IPP_TCP, IPP_UDP, IPP_ICMPV6, IPP_SCTP,
                    SCAN_BITS, SCAN_WORDS)   # the item maps' bits (core_names.py SIZES)
from decode cimport PacketView
from features cimport FlowRecord
from flowtable cimport FlowEntry
from context cimport Context, ctx_hash16, ctx_mix, ctx_unanswered, CB_ATTEMPT
from clock cimport (Clock, clock_init, clock_free, clock_head, clock_after, clock_pick,
                    clock_reuse)

cdef enum:
    SCAN_HALF_US = 150000000 # 2 x 150 s: Zeek's 5-minute scan interval
    SCAN_BY_SERVICE = 1      # key (client, service) -> servers
    SCAN_BY_SERVER = 2       # key (client, server)  -> services
    SCAN_OF_SERVER = 3       # key (server, zeros)   -> clients (a target's view)

cdef struct ScanCtx:
    uint8_t a[16]            # client (SCAN_OF_SERVER: the server)
    uint8_t b[16]            # the server's address, or the service (proto, port/type)
                             # (SCAN_OF_SERVER: zeros)
    int64_t t                # last attempt, packet time in µs (at least 1)
    int64_t since            # attempt time of the first confirmed failure that set a
                             # failed bit when none was set (scan_fail)
    int32_t half             # 1 + packet time // SCAN_HALF_US of the *_cur bits
    int32_t hnext            # hash chain: next row + 1 (clock.pxd)
    uint8_t ipver
    uint8_t kind
    uint8_t pad[6]
    uint64_t tried_cur[SCAN_WORDS]       # item hashes (SCAN_BITS bits), this half
    uint64_t tried_prev[SCAN_WORDS]      # ... the half before
    uint64_t answered_cur[SCAN_WORDS]
    uint64_t answered_prev[SCAN_WORDS]
    uint64_t failed_cur[SCAN_WORDS]      # confirmed unanswered (pending.pxd), this half
    uint64_t failed_prev[SCAN_WORDS]

cdef struct Scans:
    ScanCtx* table
    Clock ix


cdef inline int scans_init(Scans* s, uint32_t hosts) noexcept nogil:
    """The tables for FlowMeter(context_hosts=hosts): hosts / 2 rows; -1 when out of
    memory."""
    s.table = <ScanCtx*>calloc(hosts >> 1, sizeof(ScanCtx))
    if s.table == NULL or clock_init(&s.ix, hosts >> 1) < 0:
        return -1
    return 0


cdef inline void scans_free(Scans* s) noexcept nogil:
    free(s.table)
    s.table = NULL
    clock_free(&s.ix)


cdef inline bint scan_is_icmp(uint8_t proto, uint8_t ipver) noexcept nogil:
    """ICMP of the packet's own IP version (ICMPv4 over IPv4, ICMPv6 over IPv6)."""
    return (proto == 1 and ipver == 4) or (proto == 58 and ipver == 6)


cdef inline void scan_service(uint8_t* svc, uint8_t proto, uint16_t what) noexcept nogil:
    """The 16-byte key b of a SCAN_BY_SERVICE entry: the protocol, then the server
    port (the ICMP request type for ICMP), the rest zero."""
    memset(svc, 0, 16)
    svc[0] = proto
    svc[1] = <uint8_t>(what >> 8)
    svc[2] = <uint8_t>(what & 0xFF)


cdef inline uint64_t scan_hash(const uint8_t* a, const uint8_t* b, uint8_t ipver,
                               uint8_t kind) noexcept nogil:
    return ctx_mix(ctx_hash16(a, ipver ^ (<uint64_t>kind << 8)) ^ ctx_hash16(b, 0x5CA9))


cdef inline ScanCtx* scan_get(Scans* s, const uint8_t* a, const uint8_t* b, uint8_t ipver,
                              uint8_t kind, int64_t now, bint create,
                              uint64_t* replaced) noexcept nogil:
    """The entry of key (a, b, kind), its halves turned to `now`; created when absent
    and `create` (in the row clock.pxd picks, counted in `replaced` when that one held
    an attempt of the last two halves), else NULL."""
    cdef uint64_t h = scan_hash(a, b, ipver, kind)
    cdef int64_t t = now if now > 0 else 1
    cdef int32_t half = <int32_t>(t // SCAN_HALF_US) + 1
    cdef int32_t i = clock_head(&s.ix, h)
    cdef int took
    cdef ScanCtx* e = NULL
    while i >= 0:
        if (s.table[i].kind == kind and s.table[i].ipver == ipver
                and memcmp(s.table[i].a, a, 16) == 0 and memcmp(s.table[i].b, b, 16) == 0):
            e = &s.table[i]
            break
        i = clock_after(s.table[i].hnext)
    if e == NULL:
        if not create:
            return NULL
        i = clock_pick(&s.ix, <char*>&s.table[0].t, sizeof(ScanCtx),
                       t - 2 * <int64_t>SCAN_HALF_US, &took)
        e = &s.table[i]
        clock_reuse(&s.ix, took, scan_hash(e.a, e.b, e.ipver, e.kind), h, i, <char*>s.table,
                    <char*>&s.table[0].hnext, sizeof(ScanCtx), replaced)
        memcpy(e.a, a, 16)
        memcpy(e.b, b, 16)
        e.ipver = ipver
        e.kind = kind
        e.half = half
    if half > e.half:                    # a new half: the current one becomes the old
        if half == e.half + 1:
            memcpy(e.tried_prev, e.tried_cur, sizeof(e.tried_cur))
            memcpy(e.answered_prev, e.answered_cur, sizeof(e.answered_cur))
            memcpy(e.failed_prev, e.failed_cur, sizeof(e.failed_cur))
        else:
            memset(e.tried_prev, 0, sizeof(e.tried_prev))
            memset(e.answered_prev, 0, sizeof(e.answered_prev))
            memset(e.failed_prev, 0, sizeof(e.failed_prev))
        memset(e.tried_cur, 0, sizeof(e.tried_cur))
        memset(e.answered_cur, 0, sizeof(e.answered_cur))
        memset(e.failed_cur, 0, sizeof(e.failed_cur))
        e.half = half
    if create and t > e.t:
        e.t = t
    return e


cdef inline void scan_set(uint64_t* bits, uint64_t h) noexcept nogil:
    """Set the bit of hash h in a SCAN_BITS-bit map."""
    bits[(h >> 6) & (SCAN_WORDS - 1)] |= (<uint64_t>1) << (h & 63)


cdef inline double linear_count(int ones) noexcept nogil:
    """Distinct items that set `ones` of SCAN_BITS bits: linear counting (Whang et al.
    1990), saturating at SCAN_BITS ln SCAN_BITS (621) when every bit is set."""
    if ones <= 0:
        return 0.0
    if ones >= SCAN_BITS:
        return <double>SCAN_BITS * log(<double>SCAN_BITS)
    return -<double>SCAN_BITS * log((<double>SCAN_BITS - ones) / <double>SCAN_BITS)


cdef inline double _unanswered_of(const uint64_t* cur, const uint64_t* prev,
                                  const ScanCtx* e) noexcept nogil:
    """Distinct items of the bit maps cur | prev that e never saw answered."""
    cdef uint64_t x
    cdef int i, ones = 0
    for i in range(SCAN_WORDS):
        x = (cur[i] | prev[i]) & ~(e.answered_cur[i] | e.answered_prev[i])
        while x:
            x &= x - 1
            ones += 1
    return linear_count(ones)


cdef inline double scan_unanswered(const ScanCtx* e) noexcept nogil:
    """Distinct items tried and never answered over both halves (0 for NULL)."""
    if e == NULL:
        return 0.0
    return _unanswered_of(&e.tried_cur[0], &e.tried_prev[0], e)


cdef inline double scan_failed(const ScanCtx* e) noexcept nogil:
    """Distinct items confirmed unanswered (pending.pxd) and never answered since, over
    both halves (0 for NULL)."""
    if e == NULL:
        return 0.0
    return _unanswered_of(&e.failed_cur[0], &e.failed_prev[0], e)


cdef inline bint scan_answered(const ScanCtx* e, uint64_t h) noexcept nogil:
    """The item of hash h is answered in e over both halves (False for NULL)."""
    cdef int w = (h >> 6) & (SCAN_WORDS - 1)
    cdef uint64_t bit = (<uint64_t>1) << (h & 63)
    if e == NULL:
        return False
    return ((e.answered_cur[w] | e.answered_prev[w]) & bit) != 0


cdef inline void scan_fail(ScanCtx* e, uint64_t h, int64_t attempt) noexcept nogil:
    """A confirmed failure of the item of hash h, attempted at packet time `attempt`:
    into e's failed bits, unless e saw it answered (nothing for NULL: the key was
    replaced); the first failure since no failed bit was set starts `since`."""
    cdef int i
    cdef uint64_t any_failed = 0
    if e == NULL or scan_answered(e, h):
        return
    for i in range(SCAN_WORDS):
        any_failed |= e.failed_cur[i] | e.failed_prev[i]
    if not any_failed:
        e.since = attempt
    scan_set(&e.failed_cur[0], h)


cdef inline int64_t scan_since(const ScanCtx* e) noexcept nogil:
    """Packet time (µs) of the key's first confirmed failure still in its two halves:
    `since`, or the older half's start when that failure has been rotated out (0 for
    NULL)."""
    cdef int64_t older = (<int64_t>e.half - 2) * SCAN_HALF_US if e != NULL else 0
    if e == NULL:
        return 0
    return e.since if e.since > older else older


cdef inline bint unicast(const uint8_t* a, uint8_t ipver) noexcept nogil:
    """Not multicast (224.0.0.0/4, ff00::/8) nor the IPv4 limited broadcast."""
    if ipver == 4:
        return (a[0] & 0xF0) != 0xE0 and not (a[0] == 255 and a[1] == 255 and a[2] == 255
                                              and a[3] == 255)
    return a[0] != 0xFF


cdef inline bint unspecified(const uint8_t* a, uint8_t ipver) noexcept nogil:
    """0.0.0.0 or :: (a DHCP client without an address)."""
    cdef int i
    for i in range(4 if ipver == 4 else 16):
        if a[i]:
            return False
    return True


cdef inline bint is_attempt(const PacketView* v, bint icmp, const uint8_t* client,
                            const uint8_t* server, uint8_t ipver) noexcept nogil:
    """A flow's first packet v (client to server) is a connection attempt: for TCP one
    without ACK or RST (a bare SYN, or a stealth scan's FIN, NULL or Xmas packet, which
    a closed port answers with an RST and an open one not at all; a flow picked up
    mid-stream starts with an ACK), any UDP or SCTP datagram, an ICMP request; to a
    unicast server, from a client with an address."""
    cdef uint8_t t
    if v.proto == IPP_TCP:
        if v.tcp_flags & (TH_ACK | TH_RST):
            return False
    elif icmp:
        t = v.icmp_type
        if not ((ipver == 4 and (t == 8 or t == 13 or t == 15 or t == 17))
                or (ipver == 6 and t == 128)):
            return False
    elif v.proto != IPP_UDP and v.proto != IPP_SCTP:
        return False
    return unicast(server, ipver) and not unspecified(client, ipver)


cdef inline bint is_answer(const PacketView* v, bint icmp, uint8_t ipver) noexcept nogil:
    """The server's first packet v answers an attempt: a SYN/ACK for TCP, an ICMP reply
    for ICMP, any packet back for UDP and SCTP."""
    cdef uint8_t t
    if v.proto == IPP_TCP:
        return (v.tcp_flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK)
    if icmp:
        t = v.icmp_type
        return ((ipver == 4 and (t == 0 or t == 14 or t == 16 or t == 18))
                or (ipver == 6 and t == 129))
    return True


cdef inline void scan_mark(Scans* s, const uint8_t* a, const uint8_t* b, uint8_t ipver,
                           uint8_t kind, int64_t ts, bint answer, uint64_t item,
                           uint64_t* cnt) noexcept nogil:
    """Set `item` in the tried bits of key (a, b, kind), created if absent, or in its
    answered bits when `answer` (only if the key exists)."""
    cdef ScanCtx* e = scan_get(s, a, b, ipver, kind, ts, not answer, &cnt[F_CTX_SCAN_REPLACED])
    if e != NULL:
        scan_set(&e.answered_cur[0] if answer else &e.tried_cur[0], item)


cdef inline int32_t scan_first(Scans* s, Context* c, FlowEntry* e, const PacketView* v,
                               int direction, int64_t ts, uint64_t* cnt) noexcept nogil:
    """The first packet of a flow (direction 0) may be a connection attempt, the
    server's first packet (direction 1) its answer: mark it in the three scan keys and
    in the endpoints' history of unanswered attempts (context.pxd ctx_unanswered).
    Returns the service of an attempt marked (the server port, or the ICMP request
    type: what its keys hold), else -1."""
    cdef const uint8_t* client = &e.key.addr_a[0]
    cdef const uint8_t* server = &e.key.addr_b[0]
    cdef uint16_t what = e.key.port_b if e.f.a_is_client else e.key.port_a
    cdef uint8_t proto = e.key.proto, ipver = e.key.ipver
    cdef bint icmp = scan_is_icmp(proto, ipver)
    cdef bint answer = direction == 1
    cdef uint8_t svc[16]
    cdef uint8_t no_addr[16]
    if not e.f.a_is_client:
        client = &e.key.addr_b[0]
        server = &e.key.addr_a[0]
    if not answer:
        if not is_attempt(v, icmp, client, server, ipver):
            return -1
        e.ctx_bits |= CB_ATTEMPT
    elif not (e.ctx_bits & CB_ATTEMPT) or not is_answer(v, icmp, ipver):
        return -1
    ctx_unanswered(c, client, server, ipver, e.ctx_bits, e.f.first_ts, answer)
    if icmp:
        what = e.f.icmp_type[0] if answer else v.icmp_type
    scan_service(svc, proto, what)
    memset(no_addr, 0, 16)
    scan_mark(s, client, svc, ipver, SCAN_BY_SERVICE, ts, answer, ctx_hash16(server, ipver),
              cnt)
    scan_mark(s, client, server, ipver, SCAN_BY_SERVER, ts, answer, ctx_hash16(svc, 0x5E),
              cnt)
    scan_mark(s, server, no_addr, ipver, SCAN_OF_SERVER, ts, answer,
              ctx_hash16(client, 0xC1), cnt)
    return -1 if answer else what


cdef inline void scan_flow_end(Scans* s, FlowRecord* r, int64_t now) noexcept nogil:
    """A flow is reported at packet time now: the client's unanswered attempts on the
    flow's service and to its server, and the clients whose attempts the server left
    unanswered (0 for protocols without attempts)."""
    cdef uint8_t svc[16]
    cdef uint8_t no_addr[16]
    cdef bint icmp = scan_is_icmp(r.proto, r.ip_version)
    r.ctx_src_unanswered_hosts = 0
    r.ctx_src_unanswered_services = 0
    r.ctx_dst_unanswered_srcs = 0
    if not icmp and r.proto != IPP_TCP and r.proto != IPP_UDP and r.proto != IPP_SCTP:
        return
    scan_service(svc, r.proto, r.icmp_type_ts if icmp else r.dest_port)
    memset(no_addr, 0, 16)
    r.ctx_src_unanswered_hosts = scan_unanswered(scan_get(
        s, r.src_addr, svc, r.ip_version, SCAN_BY_SERVICE, now, False, NULL))
    r.ctx_src_unanswered_services = scan_unanswered(scan_get(
        s, r.src_addr, r.dest_addr, r.ip_version, SCAN_BY_SERVER, now, False, NULL))
    r.ctx_dst_unanswered_srcs = scan_unanswered(scan_get(
        s, r.dest_addr, no_addr, r.ip_version, SCAN_OF_SERVER, now, False, NULL))
