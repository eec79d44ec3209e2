# Pending connection attempts: when an attempt becomes a confirmed failure.
#
# An attempt (scans.pxd's rule) cannot be known unanswered at its own packet: it is
# unanswered once `grace` of packet time has passed without an answer. A SYN/ACK comes
# within one round trip, well under 0.5 s on any terrestrial path, and TCP's first
# retransmission comes at 1 s (RFC 6298, 2.1), so an attempt unanswered 0.5 s later has
# failed its first try. Each attempt scan_first() marks is appended to a bounded FIFO
# (`cap` entries); whenever the packet clock passes an entry's time + grace (checked at
# the head at each packet: O(1) when nothing is due; also on a live clock's expiry and,
# for every entry left, at shutdown) the entry is confirmed: unless its item is set in
# a scan key's answered bits, it is set in that key's failed bits (scans.pxd
# scan_fail), and one AttemptRecord is written with the key's counts of confirmed
# unanswered items as of that packet (popcount(failed & ~answered) over both halves,
# linear counting: an answer that comes after the grace still takes the item back out).
# When the FIFO is full the oldest entry is confirmed early (before its grace), or,
# when the record buffer is full too, dropped; both counted
# (wirescore.scan_pending_early, wirescore.scan_pending_dropped).
#
# Records go to a buffer of out_cap records that the meter drains (drain_attempts());
# confirmation stops while it is full and resumes at a later packet, once drained.
#
# Inline, used by flowtable.pyx without the GIL. Memory: sizeof(PendingAttempt) (64
# bytes) per FIFO entry (4 MiB for the default 65,536) and sizeof(AttemptRecord) (120
# bytes) per buffered record; nothing when cap is 0 (off).

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

from counters cimport F_SCAN_PENDING_EARLY, F_SCAN_PENDING_DROPPED
from context cimport ctx_hash16
from flowtable cimport FlowEntry
from scans cimport (Scans, ScanCtx, scan_get, scan_service, scan_answered, scan_fail,
                    scan_failed, scan_since, SCAN_BY_SERVICE, SCAN_BY_SERVER,
                    SCAN_OF_SERVER)

cdef struct PendingAttempt:
    int64_t t                    # the attempt's packet time, µs
    uint64_t flow_id             # its flow's EVE flow_id
    uint8_t client[16]
    uint8_t server[16]
    uint16_t client_port         # as the flow record's src_port / dest_port
    uint16_t server_port
    uint16_t what                # the service: server port, or the ICMP request type
    uint8_t ipver
    uint8_t proto
    uint8_t icmp_type            # ICMP: the request's type and code, which the flow's
    uint8_t icmp_code            # Community ID takes as its ports; 0 for the others

cdef struct AttemptRecord:
    int64_t ts_us                # the confirmation's packet time (the alert's time)
    int64_t attempt_us           # the attempt's packet time
    uint64_t flow_id
    uint8_t src_addr[16]         # the client (IPv4 in the first 4 bytes, as flow records)
    uint8_t dest_addr[16]
    uint16_t src_port
    uint16_t dest_port
    uint8_t ip_version
    uint8_t proto
    uint8_t answered             # 1: an answer came before the confirmation
    uint8_t icmp_type            # ICMP: the request's type and code (the Community ID's
    uint8_t icmp_code            # ports, as the flow line hashes them); 0 otherwise
    uint8_t pad[7]
    # confirmed unanswered items of the three scan keys (scans.pxd), flow records' names
    double ctx_src_unanswered_hosts
    double ctx_src_unanswered_services
    double ctx_dst_unanswered_srcs
    # each key's first confirmed failure still counted (scans.pxd scan_since), µs
    int64_t since_hosts_us
    int64_t since_services_us
    int64_t since_srcs_us

cdef struct Pending:
    PendingAttempt* q            # ring of cap entries; NULL: off
    uint32_t cap, head, n
    int64_t grace                # µs
    AttemptRecord* out
    uint32_t out_n, out_cap


cdef inline int pending_init(Pending* p, uint32_t cap, int64_t grace_us,
                             uint32_t out_cap) noexcept nogil:
    """A FIFO of cap entries (0: off) confirmed grace_us after their attempt, and room
    for out_cap records; -1 when out of memory."""
    memset(p, 0, sizeof(Pending))
    if cap == 0:
        return 0
    p.q = <PendingAttempt*>calloc(cap, sizeof(PendingAttempt))
    p.out = <AttemptRecord*>calloc(out_cap, sizeof(AttemptRecord))
    if p.q == NULL or p.out == NULL:
        return -1
    p.cap = cap
    p.grace = grace_us
    p.out_cap = out_cap
    return 0


cdef inline void pending_free(Pending* p) noexcept nogil:
    free(p.q)
    free(p.out)
    p.q = NULL
    p.out = NULL
    p.cap = p.n = p.out_n = 0


cdef inline void pending_confirm(Pending* p, Scans* s, int64_t now) noexcept nogil:
    """Confirm the head entry at packet time now (the record buffer has room): its item
    into the failed bits of each scan key that has not seen it answered, and its record."""
    cdef PendingAttempt* a = &p.q[p.head]
    cdef AttemptRecord* r = &p.out[p.out_n]
    cdef uint8_t svc[16]
    cdef uint8_t no_addr[16]
    cdef ScanCtx* by_service
    cdef ScanCtx* by_server
    cdef ScanCtx* of_server
    cdef uint64_t h_server = ctx_hash16(a.server, a.ipver)
    cdef uint64_t h_svc
    cdef uint64_t h_client = ctx_hash16(a.client, 0xC1)
    scan_service(svc, a.proto, a.what)
    h_svc = ctx_hash16(svc, 0x5E)
    memset(no_addr, 0, 16)
    by_service = scan_get(s, a.client, svc, a.ipver, SCAN_BY_SERVICE, now, False, NULL)
    by_server = scan_get(s, a.client, a.server, a.ipver, SCAN_BY_SERVER, now, False, NULL)
    of_server = scan_get(s, a.server, no_addr, a.ipver, SCAN_OF_SERVER, now, False, NULL)
    memset(r, 0, sizeof(AttemptRecord))
    r.ts_us = now
    r.attempt_us = a.t
    r.flow_id = a.flow_id
    memcpy(r.src_addr, a.client, 16)
    memcpy(r.dest_addr, a.server, 16)
    r.src_port = a.client_port
    r.dest_port = a.server_port
    r.ip_version = a.ipver
    r.proto = a.proto
    r.icmp_type = a.icmp_type
    r.icmp_code = a.icmp_code
    r.answered = scan_answered(by_service, h_server)
    scan_fail(by_service, h_server, a.t)
    scan_fail(by_server, h_svc, a.t)
    scan_fail(of_server, h_client, a.t)
    r.ctx_src_unanswered_hosts = scan_failed(by_service)
    r.ctx_src_unanswered_services = scan_failed(by_server)
    r.ctx_dst_unanswered_srcs = scan_failed(of_server)
    r.since_hosts_us = scan_since(by_service)
    r.since_services_us = scan_since(by_server)
    r.since_srcs_us = scan_since(of_server)
    p.out_n += 1
    p.head = (p.head + 1) % p.cap
    p.n -= 1


cdef inline void pending_due(Pending* p, Scans* s, int64_t now, bint every) noexcept nogil:
    """Confirm, at packet time now, the entries whose grace has passed (every: all of
    them, at shutdown) while the record buffer has room."""
    while (p.n and p.out_n < p.out_cap
           and (every or p.q[p.head].t + p.grace <= now)):
        pending_confirm(p, s, now)


cdef inline void pending_add(Pending* p, Scans* s, const FlowEntry* e, uint64_t fid,
                             int64_t ts, uint16_t what, uint8_t icmp_type,
                             uint8_t icmp_code, uint64_t* cnt) noexcept nogil:
    """Append the attempt that starts flow e (flow id fid, at packet time ts, service
    `what` as scans.pxd keys it; an ICMP request's type and code, else 0); a full FIFO
    first confirms its oldest entry early, or drops it when the record buffer is full
    too (counted)."""
    cdef PendingAttempt* a
    cdef bint ac = e.f.a_is_client
    if p.n == p.cap:
        if p.out_n < p.out_cap:
            cnt[F_SCAN_PENDING_EARLY] += 1
            # never before the attempt it confirms (a capture's time can step back)
            pending_confirm(p, s, ts if ts > p.q[p.head].t else p.q[p.head].t)
        else:
            cnt[F_SCAN_PENDING_DROPPED] += 1
            p.head = (p.head + 1) % p.cap
            p.n -= 1
    a = &p.q[(p.head + p.n) % p.cap]
    p.n += 1
    a.t = ts
    a.flow_id = fid
    a.ipver = e.key.ipver
    a.proto = e.key.proto
    a.what = what
    a.icmp_type = icmp_type
    a.icmp_code = icmp_code
    memcpy(a.client, &e.key.addr_a[0] if ac else &e.key.addr_b[0], 16)
    memcpy(a.server, &e.key.addr_b[0] if ac else &e.key.addr_a[0], 16)
    a.client_port = e.key.port_a if ac else e.key.port_b
    a.server_port = e.key.port_b if ac else e.key.port_a
