# LDAP (RFC 4511) as a room of the application layer: LDAPMessages over TCP (BER
# SEQUENCEs back to back, each framed by its own length; after a SASL bind with a
# security layer, SASL buffers: a 4-byte length and a GSS-API token, RFC 4422 3.7) and
# over UDP (CLDAP: one message a datagram, as Active Directory's locator uses it), read
# by the message parser ldap.pxd, each message into one LdapEvent (Suricata's EVE ldap
# fields) and the flow's LdapSummary (its app_ldap_* fields).
#
# One event per message: a request's holds Suricata's "request", a response's its
# "responses" entry (Suricata gathers a request and its responses into one event; the
# message_id joins them here). A SASL buffer whose token is sealed (encrypted, as
# Active Directory's default) is counted and skipped; an integrity-only one has its
# LDAPMessage read. Outcomes as in the other rooms: parsed (an event, app_layer.tx),
# malformed (app_layer.error.<ldap_tcp|ldap_udp>.parser, no event), cut (the snap
# length, a gap, or a message longer than the hold: what was read before the cut,
# flagged LE_CUT, wirescore.app_truncated).
#
# Inline, used without the GIL; registered in protocols.pxd.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from counters cimport A_TRUNCATED
from enums cimport EV_LDAP
from features cimport FlowRecord
from app.base cimport AppCtx, APP_ERROR, K_TX, K_PARSER, ctx_count, gap_rest
from app.events cimport ev_begin, ev_commit, ev_head, ev_tx_commit
from app.dns cimport sat16
from fstr cimport fstr_copy
from ldap cimport (LdapMsg, LdapSasl, ldap_parse, ldap_frame, ldap_probe, ldap_sasl_parse,
                   SASL_CLEAR, SASL_SEALED, LD_SASL_MAX, LD_RESULT, LD_AUTH, LD_SCOPE)

cdef enum:
    LDAP_PORT = 389
    LDAP_GC_PORT = 3268            # Active Directory's global catalog
    LE_TEXT = 128                  # bytes of dn, matched_dn, message, attributes kept
    LE_MECH = 32                   # bytes of a SASL mechanism kept
    # LdapEvent.status bits
    LE_CUT = 1
    LE_DN = 2                      # the field was in the message
    LE_MECH_SET = 4
    LE_MATCHED = 8
    LE_MESSAGE = 16
    LE_ATTRS = 32
    LE_TRUNC = 64                  # a string longer than its field (or cut): kept in part
    LE_SASL = 128                  # read from inside an integrity-only SASL buffer


cdef struct LdapSummary:           # the flow's, in its app record (40 bytes at most)
    uint32_t tx                    # messages parsed: the next event's tx_id
    uint16_t requests
    uint16_t responses
    uint16_t simple_binds          # bind requests with simple authentication and a name
    uint16_t sasl_binds
    uint16_t bind_failures         # bind responses with a result other than success (0)
                                   # or saslBindInProgress (14)
    uint16_t searches
    uint16_t subtree_searches      # searches of scope subtree (2)
    uint16_t entries               # search_result_entry messages
    uint16_t result_errors         # responses with a result other than 0, 14 (in progress)
                                   # or 10 (referral)
    uint16_t sealed                # SASL buffers sealed (encrypted), skipped

cdef struct LdapEvent:             # one message; LDAP_EVENT_DTYPE (appcore.pyx)
    uint64_t flow_id               # flow_id .. direction: DnsEvent's identity prefix
    int64_t ts_us
    uint8_t src_addr[16]
    uint8_t dest_addr[16]
    uint16_t src_port
    uint16_t dest_port
    uint16_t vlan0
    uint16_t vlan1
    uint8_t nvlan
    uint8_t ip_version
    uint8_t proto
    uint8_t direction
    uint32_t tx_id
    uint32_t size                  # the message's bytes on the wire
    uint32_t message_id
    int32_t op                     # the protocolOp's APPLICATION tag (msg_names.LDAP_OPS)
    uint32_t present               # ldap.pxd LD_* bits
    int32_t version
    int32_t auth                   # bind_request: 0 simple, 3 SASL
    int32_t result_code
    int32_t scope
    int32_t deref
    int32_t size_limit
    int32_t time_limit
    uint32_t abandon_id            # abandon_request: the message ID abandoned
    uint16_t n_attributes
    uint16_t dn_len
    uint16_t mech_len
    uint16_t matched_len
    uint16_t message_len
    uint16_t attrs_len
    uint16_t oid_len
    uint8_t types_only
    uint8_t status                 # LE_* bits
    uint8_t dn[LE_TEXT]            # the operation's DN (ldap.pxd: bind name, search base,
                                   # the entry of a search result ...)
    uint8_t mechanism[LE_MECH]
    uint8_t oid[LE_MECH]           # extended request / response, intermediate response name
    uint8_t matched_dn[LE_TEXT]
    uint8_t message[LE_TEXT]       # diagnosticMessage
    uint8_t attributes[LE_TEXT]    # requested attributes, joined with ","


cdef inline bint ldap_port(uint16_t sport, uint16_t dport) noexcept nogil:
    return (sport == LDAP_PORT or dport == LDAP_PORT or sport == LDAP_GC_PORT
            or dport == LDAP_GC_PORT)


cdef inline int ldap_room_probe(const uint8_t* p, uint32_t n, uint8_t udp, uint16_t sport,
                                uint16_t dport) noexcept nogil:
    """Whether p[0:n], a flow's first payload in one direction, is LDAP: 1 yes, 0 no, -1
    more bytes needed (TCP). An LDAPMessage (ldap_probe: a SEQUENCE, a message ID, an
    APPLICATION op) that parses, whose length is the datagram's (UDP; or more on the LDAP
    ports, where the snap length may have cut it) or, over TCP, whose prefix reads as
    LDAP. On the LDAP ports a SASL
    buffer with a known token is LDAP too (a capture starting mid-session)."""
    cdef int r = ldap_probe(p, n)
    cdef uint32_t length = 0
    cdef LdapMsg m
    if r == 2:
        return 1 if ldap_port(sport, dport) else 0
    if r != 1:
        return r
    r = ldap_frame(p, n, &length)
    if r != 0:
        return -1 if r == 1 and not udp else 0
    if udp and length != n and not (length > n and ldap_port(sport, dport)):
        return 0                         # on the LDAP ports a snap length may cut it
    r = ldap_parse(p, n if n < length else length, length, &m)
    return 1 if r >= 0 and m.op >= 0 else 0


cdef inline bint ldap_is_response(int32_t op) noexcept nogil:
    return op == 1 or op == 4 or op == 5 or op == 7 or op == 9 or op == 11 or op == 13 \
        or op == 15 or op == 19 or op == 24 or op == 25


cdef inline void ldap_sum(LdapSummary* s, const LdapMsg* m) noexcept nogil:
    """Add a parsed message to the flow's summary."""
    cdef int32_t op = m.op
    cdef bint result = (m.present & LD_RESULT) != 0
    if ldap_is_response(op):
        s.responses = sat16(s.responses + 1)
        if op == 4:
            s.entries = sat16(s.entries + 1)
        if result and m.result_code != 0 and m.result_code != 14 and m.result_code != 10:
            s.result_errors = sat16(s.result_errors + 1)
        if op == 1 and result and m.result_code != 0 and m.result_code != 14:
            s.bind_failures = sat16(s.bind_failures + 1)
    else:
        s.requests = sat16(s.requests + 1)
        if op == 0 and m.present & LD_AUTH:
            if m.auth == 3:
                s.sasl_binds = sat16(s.sasl_binds + 1)
            elif m.auth == 0 and m.dn.n:
                s.simple_binds = sat16(s.simple_binds + 1)
        elif op == 3:
            s.searches = sat16(s.searches + 1)
            if m.present & LD_SCOPE and m.scope == 2:
                s.subtree_searches = sat16(s.subtree_searches + 1)


cdef inline int ldap_message(AppCtx* c, const uint8_t* p, uint32_t n, uint32_t size,
                             uint8_t extra) noexcept nogil:
    """One LDAPMessage, p[0:n] of its size bytes (n < size: cut, c.cut says so). 0 parsed
    or cut; APP_ERROR malformed. extra: status bits to add (LE_SASL)."""
    cdef LdapMsg m
    cdef LdapEvent* e
    cdef LdapSummary* s = <LdapSummary*>c.summary
    cdef int rc = ldap_parse(p, n, size, &m)
    if rc < 0 or (rc == 1 and not c.cut):
        return APP_ERROR
    if rc == 1:
        c.cnt[A_TRUNCATED] += 1
        if m.op < 0:
            return 0
    e = <LdapEvent*>ev_begin(c, EV_LDAP)
    ev_head(<uint8_t*>e, c)
    e.size = size
    e.message_id = m.message_id
    e.op = m.op
    e.present = m.present
    e.version = m.version
    e.auth = m.auth
    e.result_code = m.result_code
    e.scope = m.scope
    e.deref = m.deref
    e.size_limit = m.size_limit
    e.time_limit = m.time_limit
    e.abandon_id = m.abandon_id
    e.types_only = m.types_only
    e.n_attributes = m.n_attributes
    e.status = extra | (LE_CUT if rc == 1 else 0)
    e.dn_len = fstr_copy(e.dn, LE_TEXT, &m.dn, &e.status, LE_DN, LE_TRUNC)
    e.mech_len = fstr_copy(e.mechanism, LE_MECH, &m.mechanism, &e.status, LE_MECH_SET,
                           LE_TRUNC)
    e.matched_len = fstr_copy(e.matched_dn, LE_TEXT, &m.matched_dn, &e.status, LE_MATCHED,
                              LE_TRUNC)
    e.message_len = fstr_copy(e.message, LE_TEXT, &m.message, &e.status, LE_MESSAGE,
                              LE_TRUNC)
    e.attrs_len = fstr_copy(e.attributes, LE_TEXT, &m.attributes, &e.status, LE_ATTRS,
                            LE_TRUNC)
    e.oid_len = fstr_copy(e.oid, LE_MECH, &m.oid, &e.status, 0, LE_TRUNC)
    ldap_sum(s, &m)
    ev_tx_commit(c, EV_LDAP, <uint8_t*>e, &e.tx_id, &s.tx)
    return 0


cdef inline int ldap_datagram(AppCtx* c, const uint8_t* p, uint32_t n) noexcept nogil:
    """CLDAP: one LDAPMessage a datagram (n bytes captured of c.wire_len)."""
    if ldap_message(c, p, n, c.wire_len, 0) == APP_ERROR:
        ctx_count(c, K_PARSER)
    return 0


cdef inline int ldap_sasl_buffer(AppCtx* c, const uint8_t* p, uint32_t n) noexcept nogil:
    """A whole SASL buffer p[0:n]: a sealed one counted, an integrity-only one's
    LDAPMessage read (malformed ones counted)."""
    cdef LdapSasl sb
    cdef uint32_t length = 0
    ldap_sasl_parse(p, n, n, &sb)
    if sb.sealed == SASL_SEALED:
        (<LdapSummary*>c.summary).sealed = sat16((<LdapSummary*>c.summary).sealed + 1)
    elif sb.sealed == SASL_CLEAR and sb.inner and sb.inner < n and \
            ldap_frame(p + sb.inner, n - sb.inner, &length) == 0 and length <= n - sb.inner:
        if ldap_message(c, p + sb.inner, length, length, LE_SASL) == APP_ERROR:
            ctx_count(c, K_PARSER)
    return 0


cdef inline int ldap_unit(const uint8_t* p, uint32_t n, uint32_t* size) noexcept nogil:
    """The unit at p: 0 and its size (a message, or a SASL buffer with its 4-byte
    length), 1 more bytes needed, -1 neither."""
    cdef int r
    if n == 0:
        return 1
    if p[0] == 0x30:
        return ldap_frame(p, n, size)
    if n < 4:
        return 1
    size[0] = (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]
    if size[0] == 0 or size[0] > LD_SASL_MAX:
        return -1
    size[0] += 4
    return 0


cdef inline int ldap_parse_tcp(AppCtx* c, void* st, const uint8_t* p,
                               uint32_t n) noexcept nogil:
    """TCP: the whole units (messages, SASL buffers) in p[0:n]; returns the bytes
    consumed, or APP_ERROR for bytes that are neither. A message longer than the hold is
    read from its first c.hold_max bytes (cut), a SASL buffer longer than it skipped
    unread; the rest of either is skipped."""
    cdef uint32_t used = 0, size = 0
    cdef int r
    while used < n:
        r = ldap_unit(p + used, n - used, &size)
        if r < 0:
            return APP_ERROR
        if r == 1:
            if n - used >= c.hold_max:
                return APP_ERROR             # a header longer than the hold: not LDAP
            break
        if n - used >= size:
            if p[used] == 0x30:
                if ldap_message(c, p + used, size, size, 0) == APP_ERROR:
                    ctx_count(c, K_PARSER)
            else:
                ldap_sasl_buffer(c, p + used, size)
            used += size
            continue
        if n - used >= c.hold_max:
            if p[used] == 0x30:
                c.cut = 1
                if ldap_message(c, p + used, n - used, size, 0) == APP_ERROR:
                    ctx_count(c, K_PARSER)
                c.cut = 0
            c.skip = size - (n - used)
            return n
        break
    return used


cdef inline int ldap_gap(AppCtx* c, void* st, const uint8_t* held, uint32_t n,
                         uint32_t missing) noexcept nogil:
    """TCP: `missing` bytes lost after the n held. A held message is read as cut and the
    rest of its unit skipped; a loss at a unit boundary, or running past its end:
    APP_ERROR."""
    cdef uint32_t size = 0
    if ldap_unit(held, n, &size) != 0:
        return APP_ERROR
    if held[0] == 0x30:
        c.cut = 1
        if ldap_message(c, held, n, size, 0) == APP_ERROR:
            ctx_count(c, K_PARSER)
        c.cut = 0
    return gap_rest(c, n, missing, size)


cdef inline void ldap_record(const void* summary, FlowRecord* r) noexcept nogil:
    """The flow record's app_ldap_* fields from the summary."""
    cdef const LdapSummary* s = <const LdapSummary*>summary
    r.app_ldap_requests = s.requests
    r.app_ldap_responses = s.responses
    r.app_ldap_simple_binds = s.simple_binds
    r.app_ldap_sasl_binds = s.sasl_binds
    r.app_ldap_bind_failures = s.bind_failures
    r.app_ldap_searches = s.searches
    r.app_ldap_subtree_searches = s.subtree_searches
    r.app_ldap_entries = s.entries
    r.app_ldap_result_errors = s.result_errors
    r.app_ldap_sealed = s.sealed
