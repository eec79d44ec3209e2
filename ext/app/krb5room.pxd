# Kerberos V5 (RFC 4120) as a room of the application layer: messages over UDP (one a
# datagram) and TCP (each behind a 4-byte record mark, RFC 4120 7.2.2), read by the
# message parser krb5.pxd, each request, reply and error into one Krb5Event (Suricata's
# EVE krb5 event) and the flow's Krb5Summary (its app_krb5_* fields).
#
# Which messages make an event (Suricata's rust/src/krb/krb5.rs transactions): AS-REQ,
# TGS-REQ, AS-REP, TGS-REP and KRB-ERROR. AP-REQ and AP-REP only set what a following
# error answers (failed_request), as in Suricata; KRB-SAFE, -PRIV and -CRED are parsed
# and counted as transactions without an event.
#
# Three outcomes for a message: parsed (an event, the summary updated, app_layer.tx
# counted); malformed (krb5_parse's K5_MALFORMED or K5_NOT, or a datagram whose message
# claims more bytes than the datagram holds: app_layer.error.<krb5_udp|krb5_tcp>.parser,
# no event); cut (the snap length, a gap, or a TCP message longer than the hold ended
# it: what krb5_parse read before the cut becomes the event, flagged KE_CUT and counted
# in wirescore.app_truncated; a cut before the message type gives no event). A TCP
# message longer than APP_HOLD is read from its first APP_HOLD bytes: a TGS-REQ's
# PA-TGS-REQ (the TGT, often over 1 KiB) comes before its req-body, so a long one loses
# cname, realm and sname (they are after the cut), keeping its ticket etype.
#
# Inline, used without the GIL; registered in protocols.pxd.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from counters cimport A_TRUNCATED
from enums cimport EV_KRB5
from features cimport FlowRecord
from app.base cimport AppCtx, APP_ERROR, K_TX, K_PARSER, ctx_count, gap_rest, lincount64
from app.events cimport ev_begin, ev_commit, ev_head
from app.dns cimport dns_name_bit, sat16
from fstr cimport fstr_copy
from ber cimport BerTlv, ber_read, BER_DER, BER_ERR, BER_APPLICATION
from krb5 cimport (Krb5Msg, krb5_parse, krb5_probe, krb5_tcp_frame, K5_MAX_ETYPES,
                   K5_ETYPES, K5_ERROR_CODE, K5F_WEAK, K5F_TICKET_WEAK, ws_krb5_weak)

cdef enum:
    KRB5_PORT = 88
    K5E_TEXT = 128                 # bytes of cname, realm and sname kept in an event
    KRB5_MIN_RECORD = 16           # the smallest message a TCP record mark may announce
    # Krb5Event.status bits
    KE_CUT = 1                     # the message was cut: the fields after the cut are absent
    KE_CNAME_TRUNC = 2             # a name longer than K5E_TEXT (or cut): kept in part
    KE_REALM_TRUNC = 4
    KE_SNAME_TRUNC = 8
    KE_CNAME = 16                  # the field was in the message
    KE_REALM = 32
    KE_SNAME = 64
    # error codes the summary counts (RFC 4120 7.5.9)
    K5_ERR_C_PRINCIPAL_UNKNOWN = 6
    K5_ERR_PREAUTH_FAILED = 24
    K5_ERR_PREAUTH_REQUIRED = 25


cdef struct Krb5Summary:           # the flow's, in its app record (40 bytes at most)
    uint64_t cnames                # client names seen, a bit of 64 per name hash
    uint32_t tx                    # messages parsed: the next event's tx_id
    uint16_t requests              # AS-REQ and TGS-REQ
    uint16_t replies               # AS-REP and TGS-REP
    uint16_t errors                # KRB-ERROR
    uint16_t preauth_failed        # errors KDC_ERR_PREAUTH_FAILED (a wrong password)
    uint16_t preauth_required      # errors KDC_ERR_PREAUTH_REQUIRED
    uint16_t unknown_client        # errors KDC_ERR_C_PRINCIPAL_UNKNOWN (no such user)
    uint16_t weak_requests         # requests whose etype list holds only weak etypes
    uint16_t weak_replies          # replies with a weak enc-part or ticket etype
    uint8_t req_id                 # the last request's message type (10, 12, 14; 0 none)
    uint8_t pad[3]

cdef struct Krb5Event:             # one message; KRB5_EVENT_DTYPE (appcore.pyx)
    uint64_t flow_id               # flow_id .. direction: DnsEvent's identity prefix
    int64_t ts_us                  # the packet that completed (or cut) the message
    uint8_t src_addr[16]           # the message's sender
    uint8_t dest_addr[16]
    uint16_t src_port
    uint16_t dest_port
    uint16_t vlan0
    uint16_t vlan1
    uint8_t nvlan
    uint8_t ip_version
    uint8_t proto                  # 17 UDP, 6 TCP
    uint8_t direction              # 0 toserver, 1 toclient (the flow's)
    uint32_t tx_id                 # the flow's messages before this one
    uint32_t size                  # the message's bytes on the wire (TCP: without the
                                   # record mark)
    int32_t msg_type               # the APPLICATION tag: 10 AS-REQ .. 30 KRB-ERROR
    int32_t failed_request         # KRB-ERROR: the message type of the flow's last
                                   # request (0: none seen)
    int32_t error_code             # KRB-ERROR's error-code
    int32_t enc_etype              # replies: the enc-part's etype (Suricata's encryption)
    int32_t ticket_etype           # replies: the ticket's; TGS-REQ: the TGT presented
    uint32_t present               # krb5.pxd K5_* bits of the fields read
    uint32_t flags                 # krb5.pxd K5F_* bits
    uint16_t n_etypes              # requests: etypes listed (may exceed K5_MAX_ETYPES)
    uint16_t cname_len             # bytes kept of each name (<= K5E_TEXT)
    uint16_t realm_len
    uint16_t sname_len
    uint8_t status                 # KE_* bits
    uint8_t pad[3]
    int32_t etypes[K5_MAX_ETYPES]  # requests: the etypes listed, client preference order
    uint8_t cname[K5E_TEXT]        # components joined with "/"
    uint8_t realm[K5E_TEXT]        # requests and errors: the realm; replies: crealm
    uint8_t sname[K5E_TEXT]


cdef inline int krb5_room_probe(const uint8_t* p, uint32_t n, uint8_t udp, uint16_t sport,
                                uint16_t dport) noexcept nogil:
    """Whether p[0:n], a flow's first payload in one direction, is Kerberos: 1 yes, 0 no,
    -1 more bytes needed (TCP). The message must start like one (krb5_probe: a message's
    APPLICATION tag, a SEQUENCE, pvno 5) and its length must fit: over TCP the record
    mark (KRB5_MIN_RECORD .. K5_TCP_MAX bytes) equals the message element's size; over
    UDP the element ends at the datagram's end (or past it on port 88, where a snap
    length may have cut it)."""
    cdef uint32_t length = 0
    cdef BerTlv app
    cdef int r
    cdef bint hint = sport == KRB5_PORT or dport == KRB5_PORT
    if not udp:
        r = krb5_tcp_frame(p, n, &length)
        if r == 1:
            return -1
        if r < 0 or length < KRB5_MIN_RECORD:
            return 0
        p += 4
        n -= 4
        if n > length:
            n = length
    r = krb5_probe(p, n)
    if r != 1:
        return r
    if ber_read(p, n, 0, 0xFFFFFFFFu, BER_DER, &app) == BER_ERR or app.hdr_cut:
        return 0
    if not udp:
        return 1 if app.end == length else 0
    return 1 if app.end == n or (hint and app.end > n) else 0


cdef inline bint krb5_weak_only(const Krb5Msg* m) noexcept nogil:
    """A request listing etypes, every one weak (RC4, DES: what a downgrade or a
    Kerberoasting tool asks for)."""
    cdef uint32_t i, k
    if not (m.present & K5_ETYPES) or m.n_etypes == 0 or m.n_etypes > K5_MAX_ETYPES:
        return False
    k = m.n_etypes
    for i in range(k):
        if not ws_krb5_weak(m.etypes[i]):
            return False
    return True


cdef inline void krb5_sum(Krb5Summary* s, const Krb5Msg* m, const Krb5Event* e) noexcept nogil:
    """Add a parsed message to the flow's summary."""
    cdef int32_t t = m.msg_type
    if t == 10 or t == 12:
        s.requests = sat16(s.requests + 1)
        if krb5_weak_only(m):
            s.weak_requests = sat16(s.weak_requests + 1)
    elif t == 11 or t == 13:
        s.replies = sat16(s.replies + 1)
        if m.flags & (K5F_WEAK | K5F_TICKET_WEAK):
            s.weak_replies = sat16(s.weak_replies + 1)
    elif t == 30:
        s.errors = sat16(s.errors + 1)
        if m.present & K5_ERROR_CODE:
            if m.error_code == K5_ERR_PREAUTH_FAILED:
                s.preauth_failed = sat16(s.preauth_failed + 1)
            elif m.error_code == K5_ERR_PREAUTH_REQUIRED:
                s.preauth_required = sat16(s.preauth_required + 1)
            elif m.error_code == K5_ERR_C_PRINCIPAL_UNKNOWN:
                s.unknown_client = sat16(s.unknown_client + 1)
    if e.status & KE_CNAME and e.cname_len:
        s.cnames |= dns_name_bit(e.cname, e.cname_len)
    if t == 10 or t == 12 or t == 14:
        s.req_id = <uint8_t>t
    elif t == 11 or t == 13 or t == 15 or t == 30:
        s.req_id = 0


cdef inline int krb5_message(AppCtx* c, const uint8_t* p, uint32_t n,
                             uint32_t size) noexcept nogil:
    """One message, p[0:n] of its size bytes (n < size: cut, and c.cut says so). 0:
    parsed or cut; APP_ERROR: malformed (no event; the caller counts it)."""
    cdef Krb5Msg m
    cdef Krb5Event* e
    cdef Krb5Summary* s = <Krb5Summary*>c.summary
    cdef int rc = krb5_parse(p, n, size, &m)
    cdef int32_t t
    cdef uint32_t i, k
    cdef bint event
    if rc < 0 or (rc == 1 and not c.cut):
        return APP_ERROR
    if rc == 1:
        c.cnt[A_TRUNCATED] += 1
        if m.msg_type == 0:
            return 0
    t = m.msg_type
    event = t == 10 or t == 11 or t == 12 or t == 13 or t == 30
    e = <Krb5Event*>ev_begin(c, EV_KRB5)
    ev_head(<uint8_t*>e, c)
    e.size = size
    e.msg_type = t
    e.present = m.present
    e.flags = m.flags
    e.status = KE_CUT if rc == 1 else 0
    if t == 30:
        e.failed_request = s.req_id
        e.error_code = m.error_code
    e.enc_etype = m.enc_etype
    e.ticket_etype = m.ticket_etype
    e.n_etypes = m.n_etypes
    k = m.n_etypes if m.n_etypes < K5_MAX_ETYPES else K5_MAX_ETYPES
    for i in range(k):
        e.etypes[i] = m.etypes[i]
    e.cname_len = fstr_copy(e.cname, K5E_TEXT, &m.cname, &e.status, KE_CNAME, KE_CNAME_TRUNC)
    e.realm_len = fstr_copy(e.realm, K5E_TEXT, &m.crealm if t == 11 or t == 13 else &m.realm,
                            &e.status, KE_REALM, KE_REALM_TRUNC)
    e.sname_len = fstr_copy(e.sname, K5E_TEXT, &m.sname, &e.status, KE_SNAME, KE_SNAME_TRUNC)
    krb5_sum(s, &m, e)
    e.tx_id = s.tx
    s.tx += 1
    if event:
        ev_commit(c, EV_KRB5, <uint8_t*>e)
    ctx_count(c, K_TX)
    return 0


cdef inline int krb5_datagram(AppCtx* c, const uint8_t* p, uint32_t n) noexcept nogil:
    """A UDP datagram's payload (n bytes captured of c.wire_len): one message. A
    malformed one is counted and the next datagram read all the same."""
    if krb5_message(c, p, n, c.wire_len) == APP_ERROR:
        ctx_count(c, K_PARSER)
    return 0


cdef inline int krb5_parse_tcp(AppCtx* c, void* st, const uint8_t* p,
                               uint32_t n) noexcept nogil:
    """TCP: the whole records in p[0:n] (each a 4-byte record mark and a message);
    returns the bytes consumed, or APP_ERROR for a refused record mark. A message longer
    than the hold is read from its first c.hold_max bytes (cut) and the rest skipped."""
    cdef uint32_t used = 0, size = 0
    cdef int r
    while n - used >= 4:
        r = krb5_tcp_frame(p + used, n - used, &size)
        if r < 0:
            return APP_ERROR
        if n - used - 4 >= size:
            if krb5_message(c, p + used + 4, size, size) == APP_ERROR:
                ctx_count(c, K_PARSER)
            used += 4 + size
            continue
        if n - used >= c.hold_max:
            c.cut = 1
            if krb5_message(c, p + used + 4, n - used - 4, size) == APP_ERROR:
                ctx_count(c, K_PARSER)
            c.cut = 0
            c.skip = 4 + size - (n - used)
            return n
        break
    return used


cdef inline int krb5_gap(AppCtx* c, void* st, const uint8_t* held, uint32_t n,
                         uint32_t missing) noexcept nogil:
    """TCP: `missing` bytes lost after the n bytes held (an unfinished record, or none).
    The held message is read as cut and the rest of it skipped: the next record starts
    where its mark says. A loss at a record boundary, or one running past the record's
    end, leaves no length to go by: APP_ERROR."""
    cdef uint32_t size = 0
    if krb5_tcp_frame(held, n, &size) != 0:
        return APP_ERROR
    c.cut = 1
    if krb5_message(c, held + 4, n - 4, size) == APP_ERROR:
        ctx_count(c, K_PARSER)
    c.cut = 0
    return gap_rest(c, n, missing, 4 + <uint64_t>size)


cdef inline void krb5_record(const void* summary, FlowRecord* r) noexcept nogil:
    """The flow record's app_krb5_* fields from the summary."""
    cdef const Krb5Summary* s = <const Krb5Summary*>summary
    r.app_krb5_requests = s.requests
    r.app_krb5_replies = s.replies
    r.app_krb5_errors = s.errors
    r.app_krb5_preauth_failed = s.preauth_failed
    r.app_krb5_preauth_required = s.preauth_required
    r.app_krb5_unknown_client = s.unknown_client
    r.app_krb5_weak_requests = s.weak_requests
    r.app_krb5_weak_replies = s.weak_replies
    r.app_krb5_cnames = lincount64(s.cnames)
