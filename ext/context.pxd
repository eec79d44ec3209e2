# Endpoint context: what a flow's endpoints have been doing lately.
#
# A flow that is one SYN and one RST says little on its own; the same flow from a
# host that opened 300 connections to 200 ports in the last minute, most of them
# refused, says a lot (UNSW-NB15's ct_* features, Kitsune's decayed host statistics).
# Bounded tables, updated when a flow starts and when it ends (not per packet):
#   hosts   per IP address: flows opened / received, new destinations and new
#           (protocol, port) services contacted, ended and failed flows, packets,
#           ICMP errors received; exponentially decayed with time constants
#           TAU_SHORT and TAU_LONG, all fields of a host sharing one clock;
#   pairs   per (client, server): flows, and whether the pair is new;
#   ports   per (client, protocol, server port): flows, and whether it is new; the
#           same table, its entries marked by the high bit of ipver, holds per
#           (server, protocol, port) whether a service is new to the server;
#   hist    per IP address: the last 128 s in 4-second buckets of flows opened, new
#           destinations, new services, flows received and new sources, and of the
#           connection attempts (the scan tables' rule, scans.pxd) to a new destination
#           or service, or received on a service new to this server, those not
#           answered (saturating bytes), so that a flow can be given what its
#           endpoints did around it, from 10 s before its first packet to 10 s after
#           its last (ctx.*_around): a decayed counter read at report time (up to a
#           timeout after the flow's last packet) has already forgotten a burst that
#           ended with the flow.
# Each table is a fixed array of rows with a hash index and a clock hand (clock.pxd): a
# new key takes a row never used, then one whose key is no longer live (hosts, pairs,
# ports: untouched for KNOWN_US; histories: nothing in their last HIST_BUCKETS buckets),
# and replaces a live one only when the table is (nearly) full of live keys, counted
# (wirescore.ctx_*_replaced). Sizes are fixed at creation: FlowMeter(context_hosts=N)
# gives N host rows, twice as many pair and port rows and a quarter as many histories;
# the default (CTX_HOSTS, 65,536 hosts) is about 28 MB (32 MB with the scan tables),
# touched lazily. ctx_flow_start() and ctx_flow_end() are what the meter calls: a flow
# starts, a flow is reported; ctx_flow_peek() reads an open flow's context for an update.
#
# Everything here is inline and used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy, memset
from libc.math cimport exp

from counters cimport (F_CTX_HOST_REPLACED, F_CTX_PAIR_REPLACED, F_CTX_PORT_REPLACED,
                       F_CTX_HIST_REPLACED)
from enums cimport IPP_ICMP, IPP_TCP, IPP_UDP, IPP_ICMPV6, IPP_SCTP
from features cimport FlowRecord
from clock cimport (Clock, clock_init, clock_free, clock_head, clock_after, clock_pick,
                    clock_reuse)

cdef enum:
    CTX_HOSTS = 65536        # the default hosts (rows); pairs and ports get twice as many
    CTX_MIN_HOSTS = 16

# time constants (microseconds) and how long a pair/service stays "known"; enums, as
# module-level variables in a .pxd would make it a module to import at run time
cdef enum:
    TAU_SHORT_US = 60000000
    TAU_LONG_US = 600000000
    KNOWN_US = 600000000

# the bucket history: HIST_BUCKETS buckets of HIST_BUCKET_US each (128 s), per host
cdef enum:
    HIST_SHIFT = 2           # histories = hosts >> this
    HIST_BUCKETS = 32
    HIST_BUCKET_US = 4000000
    AROUND_US = 10000000     # ctx.*_around: from AROUND_US before a flow to AROUND_US after
    H_OUT = 0                # fields of a bucket: flows opened as client
    H_NEW_DST = 1            # ... of them, to a server new to this client
    H_NEW_PORT = 2           # ... of them, to a (protocol, port) new to this client
    H_IN = 3                 # flows received as server
    H_NEW_SRC = 4            # ... of them, from a client new to this server
    H_UNANS_NEW_DST = 5      # attempts (scan tables' rule) to a server new to the client,
                             # not (yet) answered: +1 at the attempt, -1 at its answer
    H_UNANS_NEW_PORT = 6     # ... to a (protocol, port) new to the client
    H_UNANS_NEW_SVC = 7      # attempts received on a (protocol, port) new to this server
    H_FIELDS = 8

# FlowEntry.ctx_bits: what the flow was to its endpoints' context
cdef enum:
    CB_ATTEMPT = 1           # its first packet was a connection attempt (scans.pxd's rule)
    CB_NEW_DST = 2           # its server was new to its client (no flow between them in 600 s)
    CB_NEW_PORT = 4          # its (protocol, port) was new to its client
    CB_NEW_SVC = 8           # its (protocol, port) was new to its server

cdef struct HostHist:
    uint8_t addr[16]
    int64_t last             # newest bucket written (packet time // HIST_BUCKET_US)
    uint8_t ipver
    uint8_t pad[3]
    int32_t hnext            # hash chain: next row + 1 (clock.pxd)
    uint8_t c[HIST_BUCKETS * H_FIELDS]   # counts, saturating at 255 per bucket

cdef struct HostCtx:
    uint8_t addr[16]
    int64_t t                # last decay update, µs (at least 1)
    uint8_t ipver
    uint8_t pad[3]
    int32_t hnext            # hash chain: next row + 1 (clock.pxd)
    double out_flows[2]      # flows opened as client   [short, long]
    double in_flows[2]       # flows received as server [short, long]
    double new_dsts[2]       # first flow to a server not contacted in KNOWN_US
    double new_ports[2]      # first flow to a (protocol, port) not used in KNOWN_US
    double out_ended         # long scale from here on
    double out_failed
    double out_pkts
    double in_ended
    double in_failed
    double unreach_in        # ICMP errors (unreachable, time exceeded) received

cdef struct PairCtx:
    uint8_t a[16]            # client
    uint8_t b[16]            # server
    int64_t t                # last touched, µs (at least 1)
    double flows             # long scale
    uint8_t ipver
    uint8_t pad[3]
    int32_t hnext

cdef struct PortCtx:
    uint8_t a[16]            # client
    int64_t t
    double flows             # long scale
    uint16_t port
    uint8_t proto
    uint8_t ipver
    int32_t hnext

cdef struct Context:
    HostCtx* hosts
    PairCtx* pairs
    PortCtx* ports           # (client, service) and (server, service)
    HostHist* hist
    Clock host_ix
    Clock pair_ix
    Clock port_ix
    Clock hist_ix


cdef inline uint64_t ctx_mix(uint64_t h) noexcept nogil:
    h ^= h >> 33
    h *= 0xff51afd7ed558ccdULL
    h ^= h >> 33
    h *= 0xc4ceb9fe1a85ec53ULL
    h ^= h >> 33
    return h


cdef inline uint64_t ctx_hash16(const uint8_t* a, uint64_t salt) noexcept nogil:
    cdef uint64_t w[2]
    memcpy(w, a, 16)
    return ctx_mix(ctx_mix(w[0] ^ salt) ^ w[1])


cdef inline void host_decay(HostCtx* h, int64_t now) noexcept nogil:
    """Bring every decayed field of h to time now (never backwards)."""
    cdef double dt, fs, fl
    if now <= h.t:
        return
    dt = <double>(now - h.t)
    fs = exp(-dt / <double>TAU_SHORT_US)
    fl = exp(-dt / <double>TAU_LONG_US)
    h.out_flows[0] *= fs
    h.in_flows[0] *= fs
    h.new_dsts[0] *= fs
    h.new_ports[0] *= fs
    h.out_flows[1] *= fl
    h.in_flows[1] *= fl
    h.new_dsts[1] *= fl
    h.new_ports[1] *= fl
    h.out_ended *= fl
    h.out_failed *= fl
    h.out_pkts *= fl
    h.in_ended *= fl
    h.in_failed *= fl
    h.unreach_in *= fl
    h.t = now


cdef inline HostCtx* host_find(Context* c, const uint8_t* addr, uint8_t ipver) noexcept nogil:
    """The host's context as it stands (not decayed), or NULL."""
    cdef int32_t i = clock_head(&c.host_ix, ctx_hash16(addr, ipver))
    cdef HostCtx* e
    while i >= 0:
        e = &c.hosts[i]
        if e.ipver == ipver and memcmp(e.addr, addr, 16) == 0:
            return e
        i = clock_after(e.hnext)
    return NULL


cdef inline HostCtx* host_get(Context* c, const uint8_t* addr, uint8_t ipver, int64_t now,
                              uint64_t* replaced) noexcept nogil:
    """The host's context, brought to time now; created (in the row clock.pxd picks,
    counted in replaced when it held a host touched in the last KNOWN_US) if absent."""
    cdef uint64_t h = ctx_hash16(addr, ipver)
    cdef int32_t i
    cdef int took
    cdef HostCtx* e = host_find(c, addr, ipver)
    if e != NULL:
        host_decay(e, now)
        return e
    i = clock_pick(&c.host_ix, <char*>&c.hosts[0].t, sizeof(HostCtx), now - KNOWN_US, &took)
    e = &c.hosts[i]
    clock_reuse(&c.host_ix, took, ctx_hash16(e.addr, e.ipver), h, i, <char*>c.hosts,
                <char*>&c.hosts[0].hnext, sizeof(HostCtx), replaced)
    memcpy(e.addr, addr, 16)
    e.ipver = ipver
    e.t = now if now > 0 else 1
    return e


cdef inline uint64_t pair_hash(const uint8_t* a, const uint8_t* b, uint8_t ipver) noexcept nogil:
    return ctx_mix(ctx_hash16(a, ipver) ^ ctx_hash16(b, 0x9E37))


cdef inline PairCtx* pair_find(Context* c, const uint8_t* a, const uint8_t* b,
                               uint8_t ipver) noexcept nogil:
    """The pair's row as it stands (not decayed), or NULL."""
    cdef int32_t i = clock_head(&c.pair_ix, pair_hash(a, b, ipver))
    cdef PairCtx* p
    while i >= 0:
        p = &c.pairs[i]
        if p.ipver == ipver and memcmp(p.a, a, 16) == 0 and memcmp(p.b, b, 16) == 0:
            return p
        i = clock_after(p.hnext)
    return NULL


cdef inline bint pair_touch(Context* c, const uint8_t* a, const uint8_t* b, uint8_t ipver,
                            int64_t now, double add, double* flows,
                            uint64_t* replaced) noexcept nogil:
    """Count `add` flows from a to b (0: only look); True when the pair was not known.
    flows: the pair's decayed flow count afterwards (0 for an unknown pair looked at).
    A new pair takes the row clock.pxd picks (counted in replaced when it held a pair
    touched in the last KNOWN_US)."""
    cdef uint64_t h = pair_hash(a, b, ipver)
    cdef int32_t i
    cdef int took
    cdef PairCtx* p = pair_find(c, a, b, ipver)
    cdef bint new
    if p != NULL:
        new = now - p.t > KNOWN_US
        if now > p.t:
            p.flows = p.flows * exp(-(now - p.t) / <double>TAU_LONG_US)
            p.t = now
        p.flows += add
        flows[0] = p.flows
        return new
    flows[0] = 0
    if add == 0:
        return True
    i = clock_pick(&c.pair_ix, <char*>&c.pairs[0].t, sizeof(PairCtx), now - KNOWN_US, &took)
    p = &c.pairs[i]
    clock_reuse(&c.pair_ix, took, pair_hash(p.a, p.b, p.ipver), h, i, <char*>c.pairs,
                <char*>&c.pairs[0].hnext, sizeof(PairCtx), replaced)
    memcpy(p.a, a, 16)
    memcpy(p.b, b, 16)
    p.ipver = ipver
    p.t = now if now > 0 else 1
    p.flows = 1
    flows[0] = 1
    return True


cdef inline uint64_t port_hash(const uint8_t* a, uint8_t ipver, uint8_t proto,
                               uint16_t port) noexcept nogil:
    return ctx_mix(ctx_hash16(a, ipver) ^ ((<uint64_t>proto << 16) | port))


cdef inline PortCtx* port_find(Context* c, const uint8_t* a, uint8_t ipver, uint8_t proto,
                               uint16_t port) noexcept nogil:
    """The (client, protocol, port) row as it stands (not decayed), or NULL."""
    cdef int32_t i = clock_head(&c.port_ix, port_hash(a, ipver, proto, port))
    cdef PortCtx* p
    while i >= 0:
        p = &c.ports[i]
        if (p.ipver == ipver and p.proto == proto and p.port == port
                and memcmp(p.a, a, 16) == 0):
            return p
        i = clock_after(p.hnext)
    return NULL


cdef inline bint port_touch(Context* c, const uint8_t* a, uint8_t ipver, uint8_t proto,
                            uint16_t port, int64_t now, double add, double* flows,
                            uint64_t* replaced) noexcept nogil:
    """Count `add` flows from a to (proto, port) on any server (0: only look); True
    when it was not known (a new one as pair_touch)."""
    cdef uint64_t h = port_hash(a, ipver, proto, port)
    cdef int32_t i
    cdef int took
    cdef PortCtx* p = port_find(c, a, ipver, proto, port)
    cdef bint new
    if p != NULL:
        new = now - p.t > KNOWN_US
        if now > p.t:
            p.flows = p.flows * exp(-(now - p.t) / <double>TAU_LONG_US)
            p.t = now
        p.flows += add
        flows[0] = p.flows
        return new
    flows[0] = 0
    if add == 0:
        return True
    i = clock_pick(&c.port_ix, <char*>&c.ports[0].t, sizeof(PortCtx), now - KNOWN_US, &took)
    p = &c.ports[i]
    clock_reuse(&c.port_ix, took, port_hash(p.a, p.ipver, p.proto, p.port), h, i,
                <char*>c.ports, <char*>&c.ports[0].hnext, sizeof(PortCtx), replaced)
    memcpy(p.a, a, 16)
    p.ipver = ipver
    p.proto = proto
    p.port = port
    p.t = now if now > 0 else 1
    p.flows = 1
    flows[0] = 1
    return True


cdef inline HostHist* hist_get(Context* c, const uint8_t* addr, uint8_t ipver, int64_t now,
                               bint create, uint64_t* replaced) noexcept nogil:
    """The host's bucket history; created when absent and create is set (in the row
    clock.pxd picks, counted in replaced when it still held any of the last HIST_BUCKETS
    buckets), else NULL."""
    cdef uint64_t h = ctx_hash16(addr, ipver ^ 0x51ED)
    cdef int32_t i = clock_head(&c.hist_ix, h)
    cdef int took
    cdef HostHist* e
    cdef int64_t b = (now if now > 0 else 0) // HIST_BUCKET_US
    while i >= 0:
        e = &c.hist[i]
        if e.ipver == ipver and memcmp(e.addr, addr, 16) == 0:
            return e
        i = clock_after(e.hnext)
    if not create:
        return NULL
    i = clock_pick(&c.hist_ix, <char*>&c.hist[0].last, sizeof(HostHist), b - HIST_BUCKETS,
                   &took)
    e = &c.hist[i]
    clock_reuse(&c.hist_ix, took, ctx_hash16(e.addr, e.ipver ^ 0x51ED), h, i, <char*>c.hist,
                <char*>&c.hist[0].hnext, sizeof(HostHist), replaced)
    memcpy(e.addr, addr, 16)
    e.ipver = ipver
    e.last = b
    return e


cdef inline void hist_add(HostHist* h, int64_t now, int field) noexcept nogil:
    """Count one event of `field` at packet time now (µs). Buckets the history moves past
    are cleared; an event older than the history (time went back by more than 128 s) is
    not counted."""
    cdef int64_t b = (now if now > 0 else 0) // HIST_BUCKET_US
    cdef int64_t x
    cdef uint8_t* v
    if b > h.last:
        if b - h.last >= HIST_BUCKETS:
            memset(h.c, 0, HIST_BUCKETS * H_FIELDS)
        else:
            for x in range(h.last + 1, b + 1):
                memset(&h.c[(x % HIST_BUCKETS) * H_FIELDS], 0, H_FIELDS)
        h.last = b
    elif h.last - b >= HIST_BUCKETS:
        return
    v = &h.c[(b % HIST_BUCKETS) * H_FIELDS + field]
    if v[0] < 255:
        v[0] += 1


cdef inline void hist_sub(HostHist* h, int64_t when, int field) noexcept nogil:
    """Take back one event of `field` counted at packet time `when` (an attempt that got
    its answer), if the history still holds that bucket; a bucket at 0 stays 0 and one
    saturated at 255 stays saturated (its true count is unknown)."""
    cdef int64_t b = (when if when > 0 else 0) // HIST_BUCKET_US
    cdef uint8_t* v
    if h == NULL or b > h.last or h.last - b >= HIST_BUCKETS:
        return
    v = &h.c[(b % HIST_BUCKETS) * H_FIELDS + field]
    if 0 < v[0] < 255:
        v[0] -= 1


cdef inline void hist_sums(const HostHist* h, int64_t lo, int64_t hi, double* out) noexcept nogil:
    """out[0:H_FIELDS] = the events of each field in the buckets that overlap [lo, hi]
    (µs of packet time), as far as the history still holds them (the last
    HIST_BUCKETS buckets); zeros for h NULL."""
    cdef int64_t bl, bh, x
    cdef int f
    cdef uint32_t acc[H_FIELDS]
    memset(acc, 0, sizeof(acc))
    if h != NULL:
        bl = (lo if lo > 0 else 0) // HIST_BUCKET_US
        bh = (hi if hi > 0 else 0) // HIST_BUCKET_US
        if bh > h.last:
            bh = h.last
        if bl < h.last - HIST_BUCKETS + 1:
            bl = h.last - HIST_BUCKETS + 1
        for x in range(bl, bh + 1):
            for f in range(H_FIELDS):
                acc[f] += h.c[(x % HIST_BUCKETS) * H_FIELDS + f]
    for f in range(H_FIELDS):
        out[f] = acc[f]


cdef inline int ctx_init(Context* c, uint32_t hosts) noexcept nogil:
    """Tables for `hosts` hosts (a power of two >= CTX_MIN_HOSTS, checked by the caller):
    twice as many pair and port rows, hosts >> HIST_SHIFT histories. -1 when out of
    memory (ctx_free() releases what was allocated)."""
    c.hosts = <HostCtx*>calloc(hosts, sizeof(HostCtx))
    c.pairs = <PairCtx*>calloc(2 * hosts, sizeof(PairCtx))
    c.ports = <PortCtx*>calloc(2 * hosts, sizeof(PortCtx))
    c.hist = <HostHist*>calloc(hosts >> HIST_SHIFT, sizeof(HostHist))
    if (c.hosts == NULL or c.pairs == NULL or c.ports == NULL or c.hist == NULL
            or clock_init(&c.host_ix, hosts) < 0 or clock_init(&c.pair_ix, 2 * hosts) < 0
            or clock_init(&c.port_ix, 2 * hosts) < 0
            or clock_init(&c.hist_ix, hosts >> HIST_SHIFT) < 0):
        return -1
    return 0


cdef inline void ctx_free(Context* c) noexcept nogil:
    free(c.hosts)
    free(c.pairs)
    free(c.ports)
    free(c.hist)
    c.hosts = NULL
    c.pairs = NULL
    c.ports = NULL
    c.hist = NULL
    clock_free(&c.host_ix)
    clock_free(&c.pair_ix)
    clock_free(&c.port_ix)
    clock_free(&c.hist_ix)


cdef inline bint has_ports(uint8_t proto) noexcept nogil:
    return proto == IPP_TCP or proto == IPP_UDP or proto == IPP_SCTP


cdef inline uint8_t ctx_flow_start(Context* c, const uint8_t* client, const uint8_t* server,
                                   uint16_t dport, uint8_t ipver, uint8_t proto, int64_t ts,
                                   uint64_t* cnt) noexcept nogil:
    """A flow starts at ts: the client opened one, the server received one. Returns what
    was new about it (CB_NEW_DST / CB_NEW_PORT / CB_NEW_SVC), for FlowEntry.ctx_bits:
    the scan tables then count its attempt and answer (scans.pxd)."""
    cdef HostCtx* h
    cdef HostHist* hh
    cdef double flows
    cdef bint new_pair, new_port = False, new_svc = False
    new_pair = pair_touch(c, client, server, ipver, ts, 1, &flows, &cnt[F_CTX_PAIR_REPLACED])
    if has_ports(proto):
        new_port = port_touch(c, client, ipver, proto, dport, ts, 1, &flows,
                              &cnt[F_CTX_PORT_REPLACED])
        # the server's side of the same table: ipver's high bit marks its entries
        new_svc = port_touch(c, server, ipver | 0x80, proto, dport, ts, 1, &flows,
                             &cnt[F_CTX_PORT_REPLACED])
    h = host_get(c, client, ipver, ts, &cnt[F_CTX_HOST_REPLACED])
    h.out_flows[0] += 1
    h.out_flows[1] += 1
    if new_pair:
        h.new_dsts[0] += 1
        h.new_dsts[1] += 1
    if new_port:
        h.new_ports[0] += 1
        h.new_ports[1] += 1
    h = host_get(c, server, ipver, ts, &cnt[F_CTX_HOST_REPLACED])
    h.in_flows[0] += 1
    h.in_flows[1] += 1
    hh = hist_get(c, client, ipver, ts, True, &cnt[F_CTX_HIST_REPLACED])
    hist_add(hh, ts, H_OUT)
    if new_pair:
        hist_add(hh, ts, H_NEW_DST)
    if new_port:
        hist_add(hh, ts, H_NEW_PORT)
    hh = hist_get(c, server, ipver, ts, True, &cnt[F_CTX_HIST_REPLACED])
    hist_add(hh, ts, H_IN)
    if new_pair:
        hist_add(hh, ts, H_NEW_SRC)
    return ((CB_NEW_DST if new_pair else 0) | (CB_NEW_PORT if new_port else 0)
            | (CB_NEW_SVC if new_svc else 0))


cdef inline void hist_count(HostHist* h, int64_t when, int field, bint take_back) noexcept nogil:
    """Count one event of `field` at `when` in h, or take one back (nothing for h NULL:
    the host's history was replaced)."""
    if h == NULL:
        return
    if take_back:
        hist_sub(h, when, field)
    else:
        hist_add(h, when, field)


cdef inline void ctx_unanswered(Context* c, const uint8_t* client, const uint8_t* server,
                                uint8_t ipver, uint8_t bits, int64_t start,
                                bint answer) noexcept nogil:
    """A connection attempt (a flow that started at `start`, ctx_bits `bits`) to a new
    destination or service counts as unanswered in the endpoints' history (at the flow's
    start) until its answer takes it back. A history replaced in between (table full)
    loses the attempt: the take-back then finds 0 or another flow's attempt, an
    undercount, never an overcount."""
    cdef HostHist* hh
    if bits & (CB_NEW_DST | CB_NEW_PORT):
        hh = hist_get(c, client, ipver, start, False, NULL)
        if bits & CB_NEW_DST:
            hist_count(hh, start, H_UNANS_NEW_DST, answer)
        if bits & CB_NEW_PORT:
            hist_count(hh, start, H_UNANS_NEW_PORT, answer)
    if bits & CB_NEW_SVC:
        hh = hist_get(c, server, ipver, start, False, NULL)
        hist_count(hh, start, H_UNANS_NEW_SVC, answer)


cdef inline void ctx_read_src(const HostCtx* h, FlowRecord* r) noexcept nogil:
    """The client's decayed counts into the record's ctx_src_* fields."""
    r.ctx_src_flows_60s = h.out_flows[0]
    r.ctx_src_flows_600s = h.out_flows[1]
    r.ctx_src_new_dsts_60s = h.new_dsts[0]
    r.ctx_src_new_dsts_600s = h.new_dsts[1]
    r.ctx_src_new_ports_60s = h.new_ports[0]
    r.ctx_src_new_ports_600s = h.new_ports[1]
    r.ctx_src_fail_ratio = h.out_failed / h.out_ended if h.out_ended > 0 else 0.0
    r.ctx_src_mean_pkts = h.out_pkts / h.out_ended if h.out_ended > 0 else 0.0
    r.ctx_src_unreach = h.unreach_in


cdef inline void ctx_read_dst(const HostCtx* h, FlowRecord* r) noexcept nogil:
    """The server's decayed counts into the record's ctx_dst_* fields."""
    r.ctx_dst_flows_60s = h.in_flows[0]
    r.ctx_dst_flows_600s = h.in_flows[1]
    r.ctx_dst_fail_ratio = h.in_failed / h.in_ended if h.in_ended > 0 else 0.0


cdef inline void ctx_read_around(Context* c, FlowRecord* r, int64_t lo, int64_t hi) noexcept nogil:
    """The endpoints' bucket history over [lo, hi] (µs of packet time) into the
    record's ctx_*_around fields (zeros for a host without a history)."""
    cdef double around[H_FIELDS]
    hist_sums(hist_get(c, r.src_addr, r.ip_version, hi, False, NULL), lo, hi, around)
    r.ctx_src_flows_around = around[H_OUT]
    r.ctx_src_new_dsts_around = around[H_NEW_DST]
    r.ctx_src_new_ports_around = around[H_NEW_PORT]
    r.ctx_src_unanswered_new_dsts_around = around[H_UNANS_NEW_DST]
    r.ctx_src_unanswered_new_ports_around = around[H_UNANS_NEW_PORT]
    hist_sums(hist_get(c, r.dest_addr, r.ip_version, hi, False, NULL), lo, hi, around)
    r.ctx_dst_flows_around = around[H_IN]
    r.ctx_dst_new_srcs_around = around[H_NEW_SRC]
    r.ctx_dst_unanswered_new_ports_around = around[H_UNANS_NEW_SVC]


cdef inline void ctx_record_hosts(Context* c, FlowRecord* r, int64_t now,
                                  uint64_t* cnt) noexcept nogil:
    """Count how the reported flow went in both endpoints' decayed counts (an ICMP
    error it carried counts against its server: unreachable), then read them."""
    cdef HostCtx* h
    cdef uint8_t t = r.icmp_type_ts
    cdef bint icmp_error = ((r.proto == IPP_ICMP and r.ip_version == 4 and (t == 3 or t == 11))
                            or (r.proto == IPP_ICMPV6 and r.ip_version == 6
                                and (t == 1 or t == 3)))
    cdef bint failed = (r.pkts_toclient == 0 or r.rst_toclient > 0
                        or (r.syn_toserver > 0 and r.syn_toclient == 0))
    h = host_get(c, r.src_addr, r.ip_version, now, &cnt[F_CTX_HOST_REPLACED])
    if not icmp_error:
        h.out_ended += 1
        h.out_failed += failed
        h.out_pkts += <double>(r.pkts_toserver + r.pkts_toclient)
    ctx_read_src(h, r)
    h = host_get(c, r.dest_addr, r.ip_version, now, &cnt[F_CTX_HOST_REPLACED])
    if icmp_error:
        h.unreach_in += 1
    else:
        h.in_ended += 1
        h.in_failed += failed
    ctx_read_dst(h, r)


cdef inline void ctx_flow_end(Context* c, FlowRecord* r, int64_t now, uint64_t* cnt) noexcept nogil:
    """A flow is reported at packet time now: count how it went, then read both
    endpoints' context (as of now) into the record's ctx_* fields (the scan tables'
    three: scans.pxd)."""
    cdef double flows
    ctx_record_hosts(c, r, now, cnt)
    pair_touch(c, r.src_addr, r.dest_addr, r.ip_version, now, 0, &flows,
               &cnt[F_CTX_PAIR_REPLACED])
    r.ctx_pair_flows = flows
    flows = 0
    if has_ports(r.proto):
        port_touch(c, r.src_addr, r.ip_version, r.proto, r.dest_port, now, 0, &flows,
                   &cnt[F_CTX_PORT_REPLACED])
    r.ctx_src_service_flows = flows
    # around the flow: from its packets' time, not the report's (which comes a
    # timeout later, when a burst the flow was part of has long ended)
    ctx_read_around(c, r, r.start_us - AROUND_US, r.end_us + AROUND_US)


cdef inline double ctx_decayed(double flows, int64_t t, int64_t now) noexcept nogil:
    """A pair's or service's flow count last touched at t, decayed to now."""
    return flows * exp(-(now - t) / <double>TAU_LONG_US) if now > t else flows


cdef inline void ctx_flow_peek(Context* c, FlowRecord* r, int64_t now) noexcept nogil:
    """An open flow's update at packet time now: both endpoints' context as of now into
    the record's ctx_* fields, changing nothing (the rows are read, decayed in a copy,
    never created): the flow itself is not yet counted in the ended / failed / packet
    means (its end will count it), and the around window is [start - AROUND_US, now]
    (what is known at the update), at most [start - AROUND_US, end + AROUND_US] (its
    end's: a quiet flow's update, AROUND_US after its last packet, reads the around
    counts its end will). A host, pair or service without a row reads 0."""
    cdef HostCtx h
    cdef const HostCtx* row
    cdef PairCtx* p
    cdef PortCtx* q
    row = host_find(c, r.src_addr, r.ip_version)
    if row != NULL:
        h = row[0]
        host_decay(&h, now)
        ctx_read_src(&h, r)
    row = host_find(c, r.dest_addr, r.ip_version)
    if row != NULL:
        h = row[0]
        host_decay(&h, now)
        ctx_read_dst(&h, r)
    p = pair_find(c, r.src_addr, r.dest_addr, r.ip_version)
    r.ctx_pair_flows = ctx_decayed(p.flows, p.t, now) if p != NULL else 0.0
    r.ctx_src_service_flows = 0.0
    if has_ports(r.proto):
        q = port_find(c, r.src_addr, r.ip_version, r.proto, r.dest_port)
        if q != NULL:
            r.ctx_src_service_flows = ctx_decayed(q.flows, q.t, now)
    ctx_read_around(c, r, r.start_us - AROUND_US,
                    now if now < r.end_us + AROUND_US else r.end_us + AROUND_US)
