# LDAP messages (RFC 4511, BER) and the SASL security layer around them -> LdapMsg /
# LdapSasl: pure nogil functions over one message's bytes, no allocation, every read
# inside p[0:n]. LDAP over TCP and connectionless LDAP over UDP (CLDAP, as Active
# Directory's domain-controller locator uses it) carry the same LDAPMessage.
#
#   ldap_frame(p, n, &len)       the length of the LDAPMessage starting at p (its BER
#                                header): 0 and len, 1 (the header is cut), -1 not LDAP
#   ldap_parse(p, n, full, &m)   one LDAPMessage; p[0:n] the bytes we have, full its real
#                                length (>= n). 0 whole, 1 prefix (LDF_CUT; fields past
#                                the cut absent, a cut string in m.partial), -1 malformed
#                                (LD_MALFORMED), -2 not an LDAPMessage (LD_NOT)
#   ldap_sasl_parse(p, n, full, &s)  a SASL buffer (RFC 4422 3.7: a 4-byte length, then
#                                the security layer's token): which token, whether its
#                                payload is sealed (encrypted: nothing more to read,
#                                count it), else where the plaintext LDAPMessage starts
#   ldap_probe(p, n)             1 an LDAPMessage, 2 a SASL buffer, 0 neither, -1 too few
#                                bytes to say
#
# What each protocolOp (the APPLICATION tag, m.op; names in msg_names.LDAP_OPS) fills:
#   bind_request (0)       version, name -> dn, auth (0 simple, 3 SASL), mechanism
#   search_request (3)     base_object -> dn, scope, deref, size_limit, time_limit,
#                          types_only, filter (filter_kind: the top choice, filter_attrs:
#                          its attribute descriptions, distinct, joined with ","),
#                          attributes (requested, joined with ","; n_attributes)
#   search_result_entry (4)  object_name -> dn, n_attributes
#   modify (6) / add (8) / del (10) / mod_dn (12) / compare (14) requests: the entry's DN
#   abandon_request (16)   the message ID abandoned -> abandon_id
#   extended_request (23) / intermediate_response (25): request / response name -> oid
#   responses (1, 5, 7, 9, 11, 13, 15, 24): result_code, matched_dn, message
#                          (diagnosticMessage); extended_response's name -> oid
# Suricata's EVE ldap from it: request.operation / responses[].operation = the op's
# name; message_id; bind_request {version, name, sasl.mechanism}; search_request
# {base_object, scope, deref_alias, size_limit, time_limit, types_only, attributes};
# responses' result_code (name), matched_dn, message; search_result_entry.base_object.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, int64_t, uint64_t
from libc.string cimport memset
from fstr cimport FStr, FS_PRESENT, FS_CUT, fstr_set, fstr_add, fstr_sep
from ber cimport *

cdef extern from "msg_names.h":
    enum:
        SASL_NONE "WS_SASL_NONE"
        SASL_KRB5_CFX "WS_SASL_KRB5_CFX"
        SASL_KRB5_1964 "WS_SASL_KRB5_1964"
        SASL_NTLMSSP "WS_SASL_NTLMSSP"
        SASL_OTHER "WS_SASL_OTHER"

cdef enum:
    LD_MALFORMED = -1
    LD_NOT = -2
    LD_FILTER_DEPTH = 8         # nested and/or/not filters followed at most
    LD_SASL_MAX = 1 << 24       # SASL buffer lengths above this are refused (bytes)
    # LdapMsg.present / partial bits
    LD_MESSAGE_ID = 1 << 0
    LD_OP = 1 << 1
    LD_VERSION = 1 << 2
    LD_DN = 1 << 3
    LD_AUTH = 1 << 4
    LD_MECHANISM = 1 << 5
    LD_RESULT = 1 << 6
    LD_MATCHED_DN = 1 << 7
    LD_MESSAGE = 1 << 8
    LD_SCOPE = 1 << 9
    LD_DEREF = 1 << 10
    LD_SIZE_LIMIT = 1 << 11
    LD_TIME_LIMIT = 1 << 12
    LD_TYPES_ONLY = 1 << 13
    LD_FILTER = 1 << 14
    LD_ATTRIBUTES = 1 << 15
    LD_OID = 1 << 16
    LD_ABANDON_ID = 1 << 17
    # LdapMsg.flags
    LDF_CUT = 1                 # the bytes ended inside the message
    LDF_FILTER_DEEP = 2         # filters nested past LD_FILTER_DEPTH were not followed
    # LdapSasl.sealed
    SASL_CLEAR = 0              # integrity only: the LDAPMessage is readable at .inner
    SASL_SEALED = 1             # confidentiality: the payload is encrypted
    SASL_UNKNOWN = 2            # cannot tell (an unknown token, or the bytes are cut)

cdef struct LdapMsg:
    uint32_t message_id
    int32_t op                  # the protocolOp's APPLICATION tag, -1 when none was read
    uint32_t present            # LD_* fields found (whole, or in part: see partial)
    uint32_t partial            # LD_* fields the cut ended inside
    uint32_t flags              # LDF_*
    int32_t version             # bind_request
    int32_t auth                # bind_request: the AuthenticationChoice tag (0 simple, 3 sasl)
    int32_t result_code         # responses (LDAP_RESULTS)
    int32_t scope               # search_request: 0 base, 1 one level, 2 subtree
    int32_t deref
    int32_t size_limit
    int32_t time_limit
    uint8_t types_only
    uint8_t filter_kind         # the filter's top choice: 0 and, 1 or, 2 not, 3 equality,
                                # 4 substrings, 5 >=, 6 <=, 7 present, 8 approx, 9 extensible
    uint16_t n_filter_attrs     # attribute descriptions in the filter (repeats included)
    uint16_t n_attributes       # search_request / search_result_entry attributes
    uint32_t abandon_id
    FStr dn                     # the operation's DN (see above)
    FStr mechanism              # the SASL mechanism of a bind_request
    FStr matched_dn
    FStr message                # diagnosticMessage
    FStr filter_attrs
    FStr attributes
    FStr oid                    # extended / intermediate request or response name

cdef struct LdapSasl:
    uint32_t length             # the SASL buffer's length (bytes after the 4-byte field)
    uint8_t kind                # SASL_KRB5_CFX .. SASL_OTHER (msg_names.SASL_KINDS)
    uint8_t sealed              # SASL_CLEAR, SASL_SEALED, SASL_UNKNOWN
    uint32_t inner              # offset from p of the plaintext LDAPMessage (SASL_CLEAR)


cdef inline void ld_mark(LdapMsg* m, uint32_t bit, int rc, bint stored) noexcept nogil:
    """Record field `bit` after its reader returned rc (ber_mark)."""
    ber_mark(&m.present, &m.partial, bit, rc, stored)


cdef inline int ld_string(const uint8_t* p, uint32_t n, const BerTlv* t, FStr* f,
                          LdapMsg* m, uint32_t bit) noexcept nogil:
    """A primitive OCTET STRING (LDAPDN, LDAPString: RFC 4511 5.1, primitive only) or
    an implicitly tagged one into f."""
    cdef int rc
    if t.hdr_cut:
        return BER_CUT
    if t.constructed:
        return BER_ERR
    rc = ber_string(p, t, f)
    ld_mark(m, bit, rc, f.flags & FS_PRESENT)
    return rc


cdef inline int ld_int(const uint8_t* p, uint32_t n, const BerTlv* t, int tag,
                       int32_t* v, LdapMsg* m, uint32_t bit) noexcept nogil:
    """A universal INTEGER / ENUMERATED / BOOLEAN (tag) of at most 32 bits into v."""
    cdef int64_t x
    cdef int rc
    if t.hdr_cut:
        return BER_CUT
    if t.cls != BER_UNIVERSAL or t.tag != <uint32_t>tag:
        return BER_ERR
    rc = ber_int(p, t, &x)
    if rc == BER_OK and (x < -2147483648 or x > 2147483647):
        rc = BER_ERR
    if rc == BER_OK:
        v[0] = <int32_t>x
    ld_mark(m, bit, rc, False)
    return rc


cdef inline bint ld_listed(const FStr* f, const uint8_t* s, uint32_t k) noexcept nogil:
    """Whether s[0:k] is already an item of the ","-joined list f (ASCII case ignored,
    as attribute descriptions compare)."""
    cdef uint32_t at = 0, i, end
    while at <= f.n:
        end = at
        while end < f.n and f.s[end] != 44:
            end += 1
        if end - at == k:
            i = 0
            while i < k and (<uint8_t>f.s[at + i] | 0x20) == (s[i] | 0x20):
                i += 1
            if i == k:
                return True
        at = end + 1
    return False


cdef inline int ld_attr(const uint8_t* p, uint32_t n, const BerTlv* t, LdapMsg* m,
                        bint distinct, FStr* f, uint16_t* count) noexcept nogil:
    """An attribute description (a primitive string t) appended to the list f."""
    cdef uint32_t have
    if t.hdr_cut:
        return BER_CUT
    if t.constructed:
        return BER_ERR
    have = (n - t.off) if t.end > n else t.len
    if count[0] < 0xFFFF:
        count[0] += 1
    if distinct and t.end <= n and ld_listed(f, p + t.off, t.len):
        return BER_OK
    if f.flags & FS_PRESENT:
        fstr_sep(f, 44)                      # ","
    fstr_add(f, p + t.off, have, t.len)
    if t.end > n:
        f.flags |= FS_CUT
        return BER_CUT
    return BER_OK


cdef inline int ld_rest(BerWalk* w, const uint8_t* p, uint32_t n) noexcept nogil:
    """Walk the remaining children unread: BER_OK at their end, BER_CUT, BER_ERR."""
    cdef BerTlv c
    cdef int rc
    while True:
        rc = ber_next(w, p, n, &c)
        if rc == BER_END:
            return BER_OK
        if rc != BER_OK:
            return rc


cdef inline int ld_filter(const uint8_t* p, uint32_t n, const BerTlv* t, LdapMsg* m,
                          uint8_t depth) noexcept nogil:
    """One Filter (RFC 4511 4.5.1): the attribute descriptions it names, distinct, into
    m.filter_attrs; and / or / not followed down to LD_FILTER_DEPTH."""
    cdef BerWalk w
    cdef BerTlv c
    cdef int rc, r2
    if t.hdr_cut:
        return BER_CUT
    if t.cls != BER_CONTEXT or t.tag > 9:
        return BER_ERR
    if t.tag == 7:                           # present: an AttributeDescription
        return ld_attr(p, n, t, m, True, &m.filter_attrs, &m.n_filter_attrs)
    if not t.constructed:
        return BER_ERR
    if t.tag <= 2 and depth >= LD_FILTER_DEPTH:
        m.flags |= LDF_FILTER_DEEP
        ber_walk_init(&w, t, 0, depth)
        return ld_rest(&w, p, n)
    ber_walk_init(&w, t, 0, depth)
    while True:
        rc = ber_next(&w, p, n, &c)
        if rc == BER_END:
            return BER_OK
        if rc == BER_ERR or c.hdr_cut:
            return rc
        r2 = rc
        if t.tag <= 2:                       # and, or: SET OF Filter; not: Filter
            r2 = ld_filter(p, n, &c, m, depth + 1)
        elif t.tag == 9:                     # MatchingRuleAssertion: type [2]
            if c.cls == BER_CONTEXT and c.tag == 2:
                r2 = ld_attr(p, n, &c, m, True, &m.filter_attrs, &m.n_filter_attrs)
        elif w.items == 1:                   # AttributeValueAssertion, SubstringFilter
            if c.cls != BER_UNIVERSAL or c.tag != BER_OCTET_STRING:
                return BER_ERR
            r2 = ld_attr(p, n, &c, m, True, &m.filter_attrs, &m.n_filter_attrs)
        rc = ber_after(rc, r2)
        if rc != BER_OK:
            return rc


cdef inline int ld_list(const uint8_t* p, uint32_t n, const BerTlv* t, LdapMsg* m,
                        bint names) noexcept nogil:
    """search_request attributes (SEQUENCE OF LDAPString: names joined into
    m.attributes) or search_result_entry attributes (counted only)."""
    cdef BerWalk w
    cdef BerTlv c
    cdef int rc, r2
    if t.cls != BER_UNIVERSAL or t.tag != BER_SEQUENCE or not t.constructed:
        return BER_ERR
    ber_walk_init(&w, t, 0, 2)
    while True:
        rc = ber_next(&w, p, n, &c)
        if rc == BER_END:
            rc = BER_OK
            break
        if rc == BER_ERR or c.hdr_cut:
            break
        if names:
            r2 = ld_attr(p, n, &c, m, False, &m.attributes, &m.n_attributes)
        else:
            r2 = rc
            if m.n_attributes < 0xFFFF:
                m.n_attributes += 1
        rc = ber_after(rc, r2)
        if rc != BER_OK:
            break
    ld_mark(m, LD_ATTRIBUTES, rc, m.n_attributes > 0)
    return rc


cdef inline int ld_search(const uint8_t* p, uint32_t n, const BerTlv* t,
                          LdapMsg* m) noexcept nogil:
    """SearchRequest: baseObject, scope, derefAliases, sizeLimit, timeLimit, typesOnly,
    filter, attributes, in this order."""
    cdef BerWalk w
    cdef BerTlv c
    cdef int32_t only
    cdef int rc, r2
    ber_walk_init(&w, t, 0, 1)
    while True:
        rc = ber_next(&w, p, n, &c)
        if rc == BER_END:
            return BER_OK
        if rc == BER_ERR or c.hdr_cut:
            return rc
        r2 = rc
        if w.items == 1:
            r2 = ld_string(p, n, &c, &m.dn, m, LD_DN)
        elif w.items == 2:
            r2 = ld_int(p, n, &c, BER_ENUMERATED, &m.scope, m, LD_SCOPE)
        elif w.items == 3:
            r2 = ld_int(p, n, &c, BER_ENUMERATED, &m.deref, m, LD_DEREF)
        elif w.items == 4:
            r2 = ld_int(p, n, &c, BER_INTEGER, &m.size_limit, m, LD_SIZE_LIMIT)
        elif w.items == 5:
            r2 = ld_int(p, n, &c, BER_INTEGER, &m.time_limit, m, LD_TIME_LIMIT)
        elif w.items == 6:
            r2 = ld_int(p, n, &c, BER_BOOLEAN, &only, m, LD_TYPES_ONLY)
            m.types_only = r2 == BER_OK and only != 0
        elif w.items == 7:
            m.filter_kind = <uint8_t>c.tag
            r2 = ld_filter(p, n, &c, m, 2)
            ld_mark(m, LD_FILTER, r2, True)
        elif w.items == 8:
            r2 = ld_list(p, n, &c, m, True)
        rc = ber_after(rc, r2)
        if rc != BER_OK:
            return rc


cdef inline int ld_bind(const uint8_t* p, uint32_t n, const BerTlv* t,
                        LdapMsg* m) noexcept nogil:
    """BindRequest: version, name, the authentication choice and a SASL mechanism (a
    simple bind's password is never copied)."""
    cdef BerWalk w
    cdef BerTlv c, mech
    cdef int rc, r2
    ber_walk_init(&w, t, 0, 1)
    while True:
        rc = ber_next(&w, p, n, &c)
        if rc == BER_END:
            return BER_OK
        if rc == BER_ERR or c.hdr_cut:
            return rc
        r2 = rc
        if w.items == 1:
            r2 = ld_int(p, n, &c, BER_INTEGER, &m.version, m, LD_VERSION)
        elif w.items == 2:
            r2 = ld_string(p, n, &c, &m.dn, m, LD_DN)
        elif w.items == 3:
            if c.cls != BER_CONTEXT:
                return BER_ERR
            m.auth = <int32_t>c.tag
            m.present |= LD_AUTH
            if c.tag == 3:                   # SaslCredentials: mechanism first
                r2 = ber_inner(p, n, &c, 0, &mech)
                if r2 != BER_ERR:
                    r2 = ld_string(p, n, &mech, &m.mechanism, m, LD_MECHANISM)
        rc = ber_after(rc, r2)
        if rc != BER_OK:
            return rc


cdef inline int ld_result(const uint8_t* p, uint32_t n, const BerTlv* t,
                          LdapMsg* m) noexcept nogil:
    """LDAPResult (and what bind / extended responses add): resultCode, matchedDN,
    diagnosticMessage; an extended response's responseName [10]."""
    cdef BerWalk w
    cdef BerTlv c
    cdef int rc, r2
    if not t.constructed:
        return BER_ERR
    ber_walk_init(&w, t, 0, 1)
    while True:
        rc = ber_next(&w, p, n, &c)
        if rc == BER_END:
            return BER_OK
        if rc == BER_ERR or c.hdr_cut:
            return rc
        r2 = rc
        if w.items == 1:
            r2 = ld_int(p, n, &c, BER_ENUMERATED, &m.result_code, m, LD_RESULT)
        elif w.items == 2:
            r2 = ld_string(p, n, &c, &m.matched_dn, m, LD_MATCHED_DN)
        elif w.items == 3:
            r2 = ld_string(p, n, &c, &m.message, m, LD_MESSAGE)
        elif c.cls == BER_CONTEXT and c.tag == 10:
            r2 = ld_string(p, n, &c, &m.oid, m, LD_OID)
        rc = ber_after(rc, r2)
        if rc != BER_OK:
            return rc


cdef inline int ld_first(const uint8_t* p, uint32_t n, const BerTlv* t, LdapMsg* m,
                         int what) noexcept nogil:
    """The first child of a constructed op: a DN (what 0: modify, add, mod_dn, compare
    requests, search_result_entry, with its attributes counted), or the [0] name of an
    extended request / intermediate response (what 1)."""
    cdef BerWalk w
    cdef BerTlv c
    cdef int rc, r2
    if not t.constructed:
        return BER_ERR
    ber_walk_init(&w, t, 0, 1)
    rc = ber_next(&w, p, n, &c)
    if rc == BER_END or rc == BER_ERR or c.hdr_cut:
        return BER_OK if rc == BER_END else rc
    if what == 1:
        if c.cls != BER_CONTEXT or c.tag != 0:
            return rc
        return ld_string(p, n, &c, &m.oid, m, LD_OID)
    r2 = ld_string(p, n, &c, &m.dn, m, LD_DN)
    rc = ber_after(rc, r2)
    if rc != BER_OK or m.op != 4:
        return rc
    rc = ber_next(&w, p, n, &c)
    if rc == BER_END or rc == BER_ERR or c.hdr_cut:
        return BER_OK if rc == BER_END else rc
    return ber_after(rc, ld_list(p, n, &c, m, False))


cdef inline int ld_op(const uint8_t* p, uint32_t n, const BerTlv* t,
                      LdapMsg* m) noexcept nogil:
    """The protocolOp t (an APPLICATION element, implicitly tagged)."""
    cdef uint32_t op = t.tag
    cdef int rc
    if op == 0:
        return ld_bind(p, n, t, m) if t.constructed else BER_ERR
    if op == 3:
        return ld_search(p, n, t, m) if t.constructed else BER_ERR
    if op == 1 or op == 5 or op == 7 or op == 9 or op == 11 or op == 13 or op == 15 or \
            op == 24:
        return ld_result(p, n, t, m)
    if op == 4 or op == 6 or op == 8 or op == 12 or op == 14:
        return ld_first(p, n, t, m, 0)
    if op == 23 or op == 25:
        return ld_first(p, n, t, m, 1)
    if op == 10:                             # DelRequest: an LDAPDN itself
        return ld_string(p, n, t, &m.dn, m, LD_DN)
    if op == 16:                             # AbandonRequest: a MessageID itself
        if t.constructed:
            return BER_ERR
        rc = ber_uint32(p, t, &m.abandon_id)
        ld_mark(m, LD_ABANDON_ID, rc, False)
        return rc
    return BER_OK                            # unbind, search_result_reference, others


cdef inline int ldap_parse(const uint8_t* p, uint32_t n, uint32_t full,
                           LdapMsg* m) noexcept nogil:
    """One LDAPMessage (module comment): 0 whole, 1 prefix, LD_MALFORMED, LD_NOT."""
    cdef BerTlv s, c
    cdef BerWalk w
    cdef int rc
    memset(m, 0, sizeof(LdapMsg))
    m.op = -1
    if n > full:
        n = full
    if full == 0:
        return LD_NOT
    rc = ber_read(p, n, 0, full, 0, &s)
    if s.hdr_cut:
        m.flags |= LDF_CUT
        return 1
    if rc == BER_ERR or s.cls != BER_UNIVERSAL or s.tag != BER_SEQUENCE or not s.constructed:
        return LD_MALFORMED if p[0] == 0x30 else LD_NOT
    ber_walk_init(&w, &s, 0, 0)
    rc = ber_next(&w, p, n, &c)              # messageID
    if rc == BER_OK or (rc == BER_CUT and not c.hdr_cut):
        if c.cls != BER_UNIVERSAL or c.tag != BER_INTEGER:
            return LD_NOT
        rc = ber_after(rc, ber_uint32(p, &c, &m.message_id))
        ld_mark(m, LD_MESSAGE_ID, rc, False)
    if rc == BER_OK:                         # protocolOp
        rc = ber_next(&w, p, n, &c)
        if rc == BER_OK or (rc == BER_CUT and not c.hdr_cut):
            if c.cls != BER_APPLICATION:
                return LD_MALFORMED
            m.op = <int32_t>c.tag
            m.present |= LD_OP
            rc = ber_after(rc, ld_op(p, n, &c, m))
    if rc == BER_OK:
        rc = ld_rest(&w, p, n)               # controls, unread
    if rc == BER_OK and not s.indefinite and s.end > n:
        rc = BER_CUT
    if rc == BER_CUT:
        m.flags |= LDF_CUT
        return 1
    return 0 if rc == BER_OK else LD_MALFORMED


cdef inline int ldap_frame(const uint8_t* p, uint32_t n, uint32_t* length) noexcept nogil:
    """The byte length of the LDAPMessage at p (a SEQUENCE; an indefinite length is found
    by walking it): 0 and length, 1 (more bytes needed to know it), -1 not LDAP."""
    cdef BerTlv s
    cdef int rc = ber_read(p, n, 0, 0xFFFFFFFFu, 0, &s)
    if s.hdr_cut:
        return 1
    if rc == BER_ERR or s.cls != BER_UNIVERSAL or s.tag != BER_SEQUENCE or not s.constructed:
        return -1
    if s.indefinite:
        rc = ber_skip_indef(p, n, &s, 0, 0)
        if rc != BER_OK:
            return 1 if rc == BER_CUT else -1
    length[0] = s.end
    return 0


cdef inline uint32_t ld_be(const uint8_t* p, int k) noexcept nogil:
    """k (<= 4) big-endian bytes at p (the caller checked they are there)."""
    cdef uint32_t v = 0
    cdef int i
    for i in range(k):
        v = (v << 8) | p[i]
    return v


cdef inline int ld_krb5_1964(const uint8_t* p, uint32_t n, LdapSasl* s) noexcept nogil:
    """An RFC 1964 Wrap token at p[4:] (GSS framing, the Kerberos mechanism OID, TOK_ID
    02 01): SEAL_ALG ff ff is integrity only; the plaintext follows SND_SEQ, SGN_CKSUM
    and the 8-byte confounder."""
    cdef BerTlv g, o
    cdef uint32_t at
    if ber_read(p, n, 4, 4 + s.length, 0, &g) == BER_ERR or g.hdr_cut or \
            g.cls != BER_APPLICATION or g.tag != 0 or not g.constructed:
        return 0
    if ber_read(p, n, g.off, g.end, 0, &o) != BER_OK or o.tag != BER_OID or o.len != 9 or \
            ld_be(p + o.off, 4) != 0x2A864886u or ld_be(p + o.off + 4, 4) != 0xF7120102u or \
            p[o.off + 8] != 0x02:
        return 0
    at = o.end                               # TOK_ID, SGN_ALG, SEAL_ALG, filler
    if at + 8 > n:
        return 1
    if ld_be(p + at, 2) != 0x0201:
        return 0
    s.kind = SASL_KRB5_1964
    s.sealed = SASL_CLEAR if ld_be(p + at + 4, 2) == 0xFFFF else SASL_SEALED
    if s.sealed == SASL_CLEAR:
        s.inner = at + 8 + 8 + 8 + 8         # SND_SEQ, SGN_CKSUM, confounder
    return 1


cdef inline int ldap_sasl_parse(const uint8_t* p, uint32_t n, uint32_t full,
                                LdapSasl* s) noexcept nogil:
    """A SASL buffer (module comment): 0 whole, 1 prefix, LD_NOT (a length of 0 or above
    LD_SASL_MAX). The token kinds: a Kerberos CFX Wrap (05 04: flags bit 2 sealed; the
    plaintext after the 16-byte header and RRC rotated checksum bytes when RRC is 0 or
    EC), an RFC 1964 Wrap (60 ..), an NTLMSSP signature (01 00 00 00: the plaintext, if
    any, follows its 16 bytes; it is taken as clear only when an LDAPMessage starts
    there), else SASL_OTHER."""
    cdef uint32_t ec, rrc
    memset(s, 0, sizeof(LdapSasl))
    s.sealed = SASL_UNKNOWN
    if n > full:
        n = full
    if n < 4:
        return 1 if full >= 4 else LD_NOT
    s.length = ld_be(p, 4)
    if s.length == 0 or s.length > LD_SASL_MAX:
        return LD_NOT
    s.kind = SASL_OTHER
    if n >= 6 and p[4] == 0x05 and p[5] == 0x04:
        s.kind = SASL_KRB5_CFX
        if n >= 20 and p[7] == 0xFF:
            s.sealed = SASL_SEALED if p[6] & 2 else SASL_CLEAR
            ec = ld_be(p + 8, 2)
            rrc = ld_be(p + 10, 2)
            if s.sealed == SASL_CLEAR and (rrc == 0 or rrc == ec):
                s.inner = 20 + rrc
    elif n >= 5 and p[4] == 0x60:
        ld_krb5_1964(p, n, s)
    elif n >= 8 and ld_be(p + 4, 4) == 0x01000000:
        s.kind = SASL_NTLMSSP
        if n > 20:
            s.sealed = SASL_CLEAR if ldap_probe(p + 20, n - 20) == 1 else SASL_SEALED
            s.inner = 20 if s.sealed == SASL_CLEAR else 0
    if s.inner >= 4 + s.length:
        s.inner = 0
        s.sealed = SASL_UNKNOWN
    return 0 if 4 + <uint64_t>s.length <= n else 1


cdef inline int ldap_probe(const uint8_t* p, uint32_t n) noexcept nogil:
    """1 an LDAPMessage starts at p (a SEQUENCE, a message ID, an APPLICATION op of at
    most 25), 2 a SASL buffer with a known token, 0 neither, -1 too few bytes."""
    cdef BerTlv s, c, o
    cdef uint32_t length
    cdef int rc
    if n == 0:
        return -1
    if p[0] == 0x30:
        if ber_read(p, n, 0, 0xFFFFFFFFu, 0, &s) == BER_ERR or s.hdr_cut:
            return 0 if not s.hdr_cut else -1
        rc = ber_read(p, n, s.off, s.end, 0, &c)
        if c.hdr_cut:
            return -1
        if rc == BER_ERR or c.cls != BER_UNIVERSAL or c.tag != BER_INTEGER or c.constructed:
            return 0
        if c.end > n:
            return -1
        if ber_read(p, n, c.end, s.end, 0, &o) == BER_ERR:
            return 0
        if o.hdr_cut:
            return -1
        return 1 if o.cls == BER_APPLICATION and o.tag <= 25 else 0
    if n < 8:
        return -1
    length = ld_be(p, 4)
    if length == 0 or length > LD_SASL_MAX:
        return 0
    if (p[4] == 0x05 and p[5] == 0x04) or p[4] == 0x60 or ld_be(p + 4, 4) == 0x01000000:
        return 2
    return 0
