# Endpoint context: what a flow's endpoints have been doing lately.
#
# A flow that is one SYN and one RST says little on its own; the same flow from a
# host that opened 300 connections to 200 ports in the last minute, most of them
# refused, says a lot (UNSW-NB15's ct_* features, Kitsune's decayed host statistics).
# Three bounded tables, updated when a flow starts and when it ends (not per packet):
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
#           connection attempts (the scan tables' rule, below) to a new destination
#           or service, or received on a service new to this server, those not
#           answered (saturating bytes), so that a flow can be given what its
#           endpoints did around it, from 10 s before its first packet to 10 s after
#           its last (ctx.*_around): a decayed counter read at report time (up to a
#           timeout after the flow's last packet) has already forgotten a burst that
#           ended with the flow.
# Each table is 4-way set-associative; a full set replaces its least recently used
# way, counted (wirescore.ctx_*_replaced) when the one replaced was still live.
# Sizes are fixed at creation: FlowMeter(context_hosts=N) gives N // CTX_WAYS host sets,
# twice that many pair and port sets and a quarter as many history sets; the default
# (CTX_HOST_SETS sets, 65,536 hosts) is about 27 MB, touched lazily.
#
# Everything here is inline and used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.string cimport memcmp, memcpy, memset
from libc.math cimport exp, log

cdef enum:
    CTX_WAYS = 4
    CTX_HOST_SETS = 16384    # the default host sets; pairs and ports get twice as many

# time constants (microseconds) and how long a pair/service stays "known"; enums, as
# module-level variables in a .pxd would make it a module to import at run time
cdef enum:
    TAU_SHORT_US = 60000000
    TAU_LONG_US = 600000000
    KNOWN_US = 600000000

# the bucket history: HIST_BUCKETS buckets of HIST_BUCKET_US each (128 s), per host
cdef enum:
    HIST_SETS_SHIFT = 2      # history sets = host sets >> this (at least one)
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

# the scan tables (Zeek's policy/misc/scan.zeek, in bounded memory): per client, its
# connection attempts that got no answer, over the last one to two SCAN_HALF_US (two
# halves; the older is dropped as a new one starts), by two keys: (client, service),
# whose items are servers (an address scan: one service tried on many hosts), and
# (client, server), whose items are services (a port scan); and per server, the
# clients whose attempts it left unanswered (key (server, zeros): a flood of spoofed
# SYNs, a distributed scan, backscatter's victim, a dead service). An attempt: the client's
# first packet of a flow to a unicast server: for TCP one without ACK or RST (a SYN,
# or a FIN, NULL or Xmas probe of a stealth scan), any UDP datagram, an ICMP request
# (echo, timestamp, information, address mask). Its item is set in
# `tried` when the flow starts and in `answered` when the server answers (a SYN/ACK;
# for UDP and ICMP any packet back; an RST or an ICMP error is no answer). Unanswered
# items = tried and not answered, counted by linear counting over 128 bits (exact for
# a few, within ~10 % up to 200, saturating at 621): the count is read when a flow is
# reported, so it includes the attempts made after the flow's own, up to its report
# (a timeout later). Keys only come from attempts; sets = host sets / 2 (4 ways of 112
# bytes: 3.7 MB by default), least recently touched way replaced.
cdef enum:
    SCAN_HALF_US = 150000000 # 2 x 150 s: Zeek's 5-minute scan interval
    SCAN_BY_SERVICE = 1      # key (client, service) -> servers
    SCAN_BY_SERVER = 2       # key (client, server)  -> services
    SCAN_OF_SERVER = 3       # key (server, zeros)   -> clients (a target's view)

cdef struct ScanCtx:
    uint8_t a[16]            # client (SCAN_OF_SERVER: the server)
    uint8_t b[16]            # the server's address, or the service (proto, port/type)
                             # (SCAN_OF_SERVER: zeros)
    int64_t t                # last touched, packet time in µs (0: unused way)
    int32_t half             # 1 + packet time // SCAN_HALF_US of the *_cur bits
    uint8_t ipver
    uint8_t kind
    uint8_t pad[2]
    uint64_t tried_cur[2]    # item hashes (128 bits), this half
    uint64_t tried_prev[2]   # ... the half before
    uint64_t answered_cur[2]
    uint64_t answered_prev[2]

cdef struct HostHist:
    uint8_t addr[16]
    int64_t last             # newest bucket written (packet time // HIST_BUCKET_US)
    uint8_t ipver
    uint8_t used
    uint8_t pad[6]
    uint8_t c[HIST_BUCKETS * H_FIELDS]   # counts, saturating at 255 per bucket

cdef struct HostCtx:
    uint8_t addr[16]
    int64_t t                # last decay update, µs (0: unused way)
    uint8_t ipver
    uint8_t pad[7]
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
    int64_t t
    double flows             # long scale
    uint8_t ipver
    uint8_t pad[7]

cdef struct PortCtx:
    uint8_t a[16]            # client
    int64_t t
    double flows             # long scale
    uint16_t port
    uint8_t proto
    uint8_t ipver
    uint8_t pad[4]


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


cdef inline HostCtx* host_get(HostCtx* table, uint64_t sets, const uint8_t* addr,
                              uint8_t ipver, int64_t now, uint64_t* replaced) noexcept nogil:
    """The host's context, created (replacing the least recently used way) if absent.
    sets: the table's number of sets (a power of two; CTX_WAYS entries each)."""
    cdef uint64_t s = (ctx_hash16(addr, ipver) & (sets - 1)) * CTX_WAYS
    cdef int i, victim = 0
    cdef HostCtx* h
    for i in range(CTX_WAYS):
        h = &table[s + i]
        if h.t != 0 and h.ipver == ipver and memcmp(h.addr, addr, 16) == 0:
            host_decay(h, now)
            return h
        if h.t < table[s + victim].t:
            victim = i
    h = &table[s + victim]
    if h.t != 0 and now - h.t < KNOWN_US:
        replaced[0] += 1
    memset(h, 0, sizeof(HostCtx))
    memcpy(h.addr, addr, 16)
    h.ipver = ipver
    h.t = now if now > 0 else 1
    return h


cdef inline bint pair_touch(PairCtx* table, uint64_t sets, const uint8_t* a, const uint8_t* b,
                            uint8_t ipver, int64_t now, double add, double* flows,
                            uint64_t* replaced) noexcept nogil:
    """Count `add` flows from a to b (0: only look); True when the pair was not known.
    flows: the pair's decayed flow count afterwards (0 for an unknown pair looked at)."""
    cdef uint64_t s = (ctx_mix(ctx_hash16(a, ipver) ^ ctx_hash16(b, 0x9E37))
                       & (sets - 1)) * CTX_WAYS
    cdef int i, victim = 0
    cdef PairCtx* p
    cdef bint new
    for i in range(CTX_WAYS):
        p = &table[s + i]
        if (p.t != 0 and p.ipver == ipver and memcmp(p.a, a, 16) == 0
                and memcmp(p.b, b, 16) == 0):
            new = now - p.t > KNOWN_US
            if now > p.t:
                p.flows = p.flows * exp(-(now - p.t) / <double>TAU_LONG_US)
                p.t = now
            p.flows += add
            flows[0] = p.flows
            return new
        if p.t < table[s + victim].t:
            victim = i
    flows[0] = 0
    if add == 0:
        return True
    p = &table[s + victim]
    if p.t != 0 and now - p.t < KNOWN_US:
        replaced[0] += 1
    memset(p, 0, sizeof(PairCtx))
    memcpy(p.a, a, 16)
    memcpy(p.b, b, 16)
    p.ipver = ipver
    p.t = now if now > 0 else 1
    p.flows = 1
    flows[0] = 1
    return True


cdef inline bint port_touch(PortCtx* table, uint64_t sets, const uint8_t* a, uint8_t ipver,
                            uint8_t proto, uint16_t port, int64_t now, double add,
                            double* flows, uint64_t* replaced) noexcept nogil:
    """Count `add` flows from a to (proto, port) on any server (0: only look); True
    when it was not known."""
    cdef uint64_t s = (ctx_mix(ctx_hash16(a, ipver) ^ ((<uint64_t>proto << 16) | port))
                       & (sets - 1)) * CTX_WAYS
    cdef int i, victim = 0
    cdef PortCtx* p
    cdef bint new
    for i in range(CTX_WAYS):
        p = &table[s + i]
        if (p.t != 0 and p.ipver == ipver and p.proto == proto and p.port == port
                and memcmp(p.a, a, 16) == 0):
            new = now - p.t > KNOWN_US
            if now > p.t:
                p.flows = p.flows * exp(-(now - p.t) / <double>TAU_LONG_US)
                p.t = now
            p.flows += add
            flows[0] = p.flows
            return new
        if p.t < table[s + victim].t:
            victim = i
    flows[0] = 0
    if add == 0:
        return True
    p = &table[s + victim]
    if p.t != 0 and now - p.t < KNOWN_US:
        replaced[0] += 1
    memset(p, 0, sizeof(PortCtx))
    memcpy(p.a, a, 16)
    p.ipver = ipver
    p.proto = proto
    p.port = port
    p.t = now if now > 0 else 1
    p.flows = 1
    flows[0] = 1
    return True


cdef inline HostHist* hist_get(HostHist* table, uint64_t sets, const uint8_t* addr,
                               uint8_t ipver, int64_t now, bint create,
                               uint64_t* replaced) noexcept nogil:
    """The host's bucket history; created when absent and create is set (replacing the
    way with the oldest history, counted in replaced when it still held any of the last
    HIST_BUCKETS buckets), else NULL."""
    cdef uint64_t s = (ctx_hash16(addr, ipver ^ 0x51ED) & (sets - 1)) * CTX_WAYS
    cdef int i, victim = 0
    cdef HostHist* h
    cdef int64_t b = (now if now > 0 else 0) // HIST_BUCKET_US
    for i in range(CTX_WAYS):
        h = &table[s + i]
        if h.used and h.ipver == ipver and memcmp(h.addr, addr, 16) == 0:
            return h
        if not h.used or (table[s + victim].used and h.last < table[s + victim].last):
            victim = i
    if not create:
        return NULL
    h = &table[s + victim]
    if h.used and b - h.last < HIST_BUCKETS:
        replaced[0] += 1
    memset(h, 0, sizeof(HostHist))
    memcpy(h.addr, addr, 16)
    h.ipver = ipver
    h.used = 1
    h.last = b
    return h


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


cdef inline ScanCtx* scan_get(ScanCtx* table, uint64_t sets, const uint8_t* a,
                              const uint8_t* b, uint8_t ipver, uint8_t kind, int64_t now,
                              bint create, uint64_t* replaced) noexcept nogil:
    """The entry of key (a, b, kind), its halves turned to `now`; created when absent
    and `create` (replacing the least recently touched way, counted in `replaced` when
    that one was touched in the last two halves), else NULL."""
    cdef uint64_t s = (ctx_mix(ctx_hash16(a, ipver ^ (<uint64_t>kind << 8)) ^
                               ctx_hash16(b, 0x5CA9)) & (sets - 1)) * CTX_WAYS
    cdef int64_t t = now if now > 0 else 1
    cdef int32_t half = <int32_t>(t // SCAN_HALF_US) + 1
    cdef int i, victim = 0
    cdef ScanCtx* e = NULL
    for i in range(CTX_WAYS):
        if (table[s + i].t != 0 and table[s + i].kind == kind
                and table[s + i].ipver == ipver and memcmp(table[s + i].a, a, 16) == 0
                and memcmp(table[s + i].b, b, 16) == 0):
            e = &table[s + i]
            break
        if table[s + i].t < table[s + victim].t:
            victim = i
    if e == NULL:
        if not create:
            return NULL
        e = &table[s + victim]
        if e.t != 0 and t - e.t < 2 * <int64_t>SCAN_HALF_US:
            replaced[0] += 1
        memset(e, 0, sizeof(ScanCtx))
        memcpy(e.a, a, 16)
        memcpy(e.b, b, 16)
        e.ipver = ipver
        e.kind = kind
        e.half = half
    if half > e.half:                    # a new half: the current one becomes the old
        if half == e.half + 1:
            memcpy(e.tried_prev, e.tried_cur, sizeof(e.tried_cur))
            memcpy(e.answered_prev, e.answered_cur, sizeof(e.answered_cur))
        else:
            memset(e.tried_prev, 0, sizeof(e.tried_prev))
            memset(e.answered_prev, 0, sizeof(e.answered_prev))
        memset(e.tried_cur, 0, sizeof(e.tried_cur))
        memset(e.answered_cur, 0, sizeof(e.answered_cur))
        e.half = half
    if create and t > e.t:
        e.t = t
    return e


cdef inline void scan_set(uint64_t* bits, uint64_t h) noexcept nogil:
    """Set the bit of hash h in a 128-bit map."""
    bits[(h >> 6) & 1] |= (<uint64_t>1) << (h & 63)


cdef inline double scan_unanswered(const ScanCtx* e) noexcept nogil:
    """Distinct items tried and never answered over both halves (0 for NULL): linear
    counting (Whang et al. 1990) over 128 bits."""
    cdef uint64_t x
    cdef int i, ones = 0
    if e == NULL:
        return 0.0
    for i in range(2):
        x = (e.tried_cur[i] | e.tried_prev[i]) & ~(e.answered_cur[i] | e.answered_prev[i])
        while x:
            x &= x - 1
            ones += 1
    if ones == 0:
        return 0.0
    if ones >= 128:
        return 128.0 * log(128.0)
    return -128.0 * log((128.0 - ones) / 128.0)
