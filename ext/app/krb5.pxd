# Kerberos V5 messages (RFC 4120 5.4-5.9, DER) -> Krb5Msg: one message, pure nogil
# functions over its bytes, no allocation, every read inside p[0:n].
#
#   krb5_parse(p, n, full, &m)   p[0:n]: the bytes we have of one message (a UDP datagram,
#                                or a TCP record after its 4-byte length); full: its real
#                                length (>= n). Returns
#                                  0  parsed whole
#                                  1  parsed a prefix (m.flags has K5F_CUT; fields past
#                                     the cut are absent, a field cut in the middle is in
#                                     m.partial as far as it went)
#                                 -1  malformed (K5_MALFORMED)
#                                 -2  not Kerberos: not an APPLICATION message tag (K5_NOT)
#   krb5_tcp_frame(p, n, &len)   the record mark of Kerberos over TCP (RFC 4120 7.2.2):
#                                0 and the message length, 1 fewer than 4 bytes, -1 bad
#   krb5_probe(p, n)             1 Kerberos, 0 not, -1 too few bytes to say (Suricata's
#                                test: an APPLICATION message tag, a SEQUENCE, pvno 5)
#
# Which message carries which field (the ASN.1 names, RFC 4120):
#   AS-REQ/TGS-REQ (10/12)  padata types; req-body: kdc-options, cname, realm, sname,
#                           till, nonce, etype list; the ticket etype of a PA-TGS-REQ's
#                           AP-REQ (the TGT presented)
#   AS-REP/TGS-REP (11/13)  padata types, crealm, cname, the ticket's realm, sname and
#                           enc-part etype (ticket_etype), enc-part etype -> enc_etype
#   AP-REQ (14)             ticket realm, sname, ticket_etype; authenticator etype: enc_etype
#   AP-REP (15)             enc-part etype -> enc_etype
#   KRB-ERROR (30)          error-code, crealm, cname, realm, sname, e-text, the padata
#                           types of an e-data that is a METHOD-DATA (PREAUTH_REQUIRED)
#   KRB-SAFE/PRIV/CRED      pvno and msg-type only
# Suricata's EVE krb5 from it: msg_type = the message type's name; cname; realm = realm
# (requests), crealm (replies, errors); sname; encryption / weak_encryption = enc_etype,
# ticket_encryption / ticket_weak_encryption = ticket_etype; error_code = its name.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, int64_t
from libc.string cimport memset
from fstr cimport FStr, FS_PRESENT, FS_CUT, fstr_set, fstr_add, fstr_sep
from ber cimport *

cdef extern from "msg_names.h":
    int ws_krb5_weak(long v) noexcept nogil

cdef enum:
    K5_MALFORMED = -1
    K5_NOT = -2
    K5_MAX_ETYPES = 16          # etypes kept (n_etypes counts them all)
    K5_MAX_PA = 12              # padata types kept (n_pa counts them all)
    K5_TCP_MAX = 1 << 20        # record marks above this are refused (bytes)
    # Krb5Msg.present / partial bits
    K5_PVNO = 1 << 0
    K5_REALM = 1 << 1
    K5_CREALM = 1 << 2
    K5_CNAME = 1 << 3
    K5_SNAME = 1 << 4
    K5_ETYPES = 1 << 5
    K5_PADATA = 1 << 6
    K5_TILL = 1 << 7
    K5_NONCE = 1 << 8
    K5_ENC_ETYPE = 1 << 9
    K5_TICKET_ETYPE = 1 << 10
    K5_ERROR_CODE = 1 << 11
    K5_ETEXT = 1 << 12
    K5_KDC_OPTIONS = 1 << 13
    # Krb5Msg.flags
    K5F_CUT = 1                 # the bytes ended inside the message
    K5F_PA_ENC_TS = 2           # a PA-ENC-TIMESTAMP among the padata: pre-auth given
    K5F_WEAK = 4                # enc_etype is weak (EVE weak_encryption)
    K5F_TICKET_WEAK = 8         # ticket_etype is weak (EVE ticket_weak_encryption)
    K5F_CNAME_TYPE = 16         # cname_type was read (a prefix may end before it)
    K5F_SNAME_TYPE = 32         # sname_type was read
    # what a message's SEQUENCE holds (k5_field_of)
    K5K_REQ = 1
    K5K_REP = 2
    K5K_AP_REQ = 3
    K5K_AP_REP = 4
    K5K_ERROR = 5
    K5K_OTHER = 6
    K5K_TGS_AP_REQ = 7          # the AP-REQ inside a PA-TGS-REQ: its ticket etype only
    # fields, numbered so that KDC-REQ's tags 1..4 are K5D_PVNO..K5D_REQ_BODY, KDC-REP's
    # tags 3..6 are K5D_CREALM..K5D_ENC_PART - 2 and KRB-ERROR's 9..12 K5D_REALM..K5D_EDATA - 1
    K5D_SKIP = 0
    K5D_PVNO = 1
    K5D_MSG_TYPE = 2
    K5D_PADATA = 3
    K5D_REQ_BODY = 4
    K5D_CREALM = 5
    K5D_CNAME = 6
    K5D_TICKET = 7
    K5D_ENC_PART = 8
    K5D_ERROR_CODE = 9
    K5D_REALM = 10
    K5D_SNAME = 11
    K5D_ETEXT = 12
    K5D_EDATA = 13

cdef struct Krb5Msg:
    int32_t msg_type            # the APPLICATION tag: 10 AS-REQ .. 30 KRB-ERROR
    int32_t pvno                # protocol version number (5)
    uint32_t present            # K5_* fields found (whole, or in part: see partial)
    uint32_t partial            # K5_* fields the cut ended inside
    uint32_t flags              # K5F_*
    int32_t cname_type          # PrincipalName name-type of cname / sname
    int32_t sname_type
    FStr realm                  # the service realm (requests, AP-REQ, errors; the
                                # ticket's realm in replies)
    FStr crealm                 # the client realm (replies, errors)
    FStr cname                  # name-string components joined with "/"
    FStr sname
    FStr etext                  # KRB-ERROR e-text
    int32_t etypes[K5_MAX_ETYPES]   # requested etypes, client preference order
    uint16_t n_etypes           # etypes listed (may exceed K5_MAX_ETYPES)
    uint16_t n_pa               # padata entries (may exceed K5_MAX_PA)
    int32_t pa_types[K5_MAX_PA]
    int32_t enc_etype           # enc-part etype (replies, AP-REP) / authenticator etype
    int32_t ticket_etype        # the ticket's enc-part etype
    int32_t error_code
    uint32_t nonce
    uint32_t kdc_options        # KDCOptions, the first 32 bits (bit 0 the highest)
    int64_t till                # seconds since the epoch


cdef inline int k5_int32(const uint8_t* p, uint32_t n, const BerTlv* t,
                         int32_t* v) noexcept nogil:
    """The Int32 inside EXPLICIT tag t."""
    cdef int64_t x
    cdef int rc = ber_explicit_int(p, n, t, BER_DER, &x)
    if rc != BER_OK:
        return rc
    if x < -2147483648 or x > 2147483647:
        return BER_ERR
    v[0] = <int32_t>x
    return BER_OK


cdef inline bint k5_in_order(const BerTlv* c, int64_t* last) noexcept nogil:
    """DER: a SEQUENCE's context tags rise, each once (False: repeated or out of order)."""
    if <int64_t>c.tag <= last[0]:
        return False
    last[0] = c.tag
    return True


cdef inline int k5_open(const uint8_t* p, uint32_t n, const BerTlv* t, uint8_t cls,
                        uint32_t tag, uint8_t depth, BerWalk* w) noexcept nogil:
    """Walk the constructed element (cls, tag) inside EXPLICIT tag t (t itself when cls is
    BER_CONTEXT and tag is t's: an implicit SEQUENCE is never used by Kerberos)."""
    cdef BerTlv i
    cdef int rc
    memset(w, 0, sizeof(BerWalk))            # w is read by no caller unless rc is OK
    rc = ber_inner(p, n, t, BER_DER, &i)
    if rc == BER_ERR or i.hdr_cut:
        return rc
    if i.cls != cls or i.tag != tag or not i.constructed:
        return BER_ERR
    ber_walk_init(w, &i, BER_DER, depth)
    return BER_OK


cdef inline int k5_str(const uint8_t* p, uint32_t n, const BerTlv* t,
                       FStr* f) noexcept nogil:
    """The KerberosString / Realm (GeneralString; other string types accepted) inside
    EXPLICIT tag t."""
    cdef BerTlv i
    cdef int rc = ber_inner(p, n, t, BER_DER, &i)
    if rc == BER_ERR or i.hdr_cut:
        return rc
    if i.cls != BER_UNIVERSAL or i.tag not in (BER_GENERAL_STRING, BER_IA5_STRING,
                                                BER_UTF8_STRING, 19):
        return BER_ERR
    return ber_string(p, &i, f)


cdef inline int k5_names(const uint8_t* p, uint32_t n, const BerTlv* t,
                         FStr* f) noexcept nogil:
    """The SEQUENCE OF KerberosString inside EXPLICIT tag t, appended to f joined by "/"."""
    cdef BerWalk w
    cdef BerTlv s
    cdef int rc = k5_open(p, n, t, BER_UNIVERSAL, BER_SEQUENCE, 4, &w)
    while rc == BER_OK:
        rc = ber_next(&w, p, n, &s)
        if rc == BER_END:
            return BER_OK
        if rc == BER_ERR or s.hdr_cut:
            break
        if s.cls != BER_UNIVERSAL or s.constructed:
            return BER_ERR
        if w.items > 1:
            fstr_sep(f, 47)                  # "/"
        fstr_add(f, p + s.off, (n - s.off) if s.end > n else s.len, s.len)
    if rc == BER_CUT:
        f.flags |= FS_CUT
    return rc


cdef inline int k5_principal(const uint8_t* p, uint32_t n, const BerTlv* t, FStr* f,
                             int32_t* ntype, uint32_t* flags,
                             uint32_t typebit) noexcept nogil:
    """PrincipalName inside EXPLICIT tag t: name-type into ntype (typebit set in flags),
    the name-string components joined with "/" into f (as Suricata writes it)."""
    cdef BerWalk w
    cdef BerTlv c
    cdef int rs
    cdef int64_t last = -1
    cdef int rc = k5_open(p, n, t, BER_UNIVERSAL, BER_SEQUENCE, 3, &w)
    if rc != BER_OK:
        return rc
    fstr_set(f, p, 0, 0)
    while rc == BER_OK:
        rc = ber_next(&w, p, n, &c)
        if rc == BER_END:
            return BER_OK
        if rc == BER_ERR or c.hdr_cut:
            break
        if c.cls != BER_CONTEXT or not k5_in_order(&c, &last):
            return BER_ERR
        if c.cls == BER_CONTEXT and c.tag == 0 and rc == BER_OK:
            if k5_int32(p, n, &c, ntype) != BER_OK:
                return BER_ERR
            flags[0] |= typebit
        elif c.cls == BER_CONTEXT and c.tag == 1:
            rs = k5_names(p, n, &c, f)
            if rs != BER_OK:
                rc = rs
    if rc == BER_CUT:
        f.flags |= FS_CUT
    return rc


cdef inline int k5_encdata(const uint8_t* p, uint32_t n, const BerTlv* t,
                           int32_t* etype) noexcept nogil:
    """The etype of the EncryptedData inside EXPLICIT tag t (its first field, [0])."""
    cdef BerWalk w
    cdef BerTlv c
    cdef int rc = k5_open(p, n, t, BER_UNIVERSAL, BER_SEQUENCE, 3, &w)
    if rc != BER_OK:
        return rc
    rc = ber_next(&w, p, n, &c)
    if rc == BER_END:
        return BER_ERR
    if rc == BER_ERR or c.hdr_cut:
        return rc
    if c.cls != BER_CONTEXT or c.tag != 0:
        return BER_ERR
    return k5_int32(p, n, &c, etype)


cdef inline void k5_mark(Krb5Msg* m, uint32_t bit, int rc, bint stored) noexcept nogil:
    """Record field `bit` after its reader returned rc (ber_mark)."""
    ber_mark(&m.present, &m.partial, bit, rc, stored)


cdef inline int k5_str_field(const uint8_t* p, uint32_t n, const BerTlv* t, FStr* f,
                             Krb5Msg* m, uint32_t bit) noexcept nogil:
    cdef int rc = k5_str(p, n, t, f)
    k5_mark(m, bit, rc, f.flags & FS_PRESENT)
    return rc


cdef inline int k5_name_field(const uint8_t* p, uint32_t n, const BerTlv* t, FStr* f,
                              int32_t* ntype, Krb5Msg* m, uint32_t bit) noexcept nogil:
    cdef int rc = k5_principal(p, n, t, f, ntype, &m.flags,
                               K5F_CNAME_TYPE if bit == K5_CNAME else K5F_SNAME_TYPE)
    k5_mark(m, bit, rc, f.flags & FS_PRESENT)
    return rc


cdef inline int k5_etypes(const uint8_t* p, uint32_t n, const BerTlv* t,
                          Krb5Msg* m) noexcept nogil:
    """req-body etype: SEQUENCE OF Int32 inside EXPLICIT tag t."""
    cdef BerWalk w
    cdef BerTlv c
    cdef int64_t v
    cdef int rc = k5_open(p, n, t, BER_UNIVERSAL, BER_SEQUENCE, 4, &w)
    while rc == BER_OK:
        rc = ber_next(&w, p, n, &c)
        if rc == BER_END:
            rc = BER_OK
            break
        if rc != BER_OK:
            break
        if c.cls != BER_UNIVERSAL or c.tag != BER_INTEGER or \
                ber_int(p, &c, &v) != BER_OK or v < -2147483648 or v > 2147483647:
            return BER_ERR
        if m.n_etypes < K5_MAX_ETYPES:
            m.etypes[m.n_etypes] = <int32_t>v
        if m.n_etypes < 0xFFFF:
            m.n_etypes += 1
    k5_mark(m, K5_ETYPES, rc, m.n_etypes > 0)
    return rc


cdef inline int k5_bits32(const uint8_t* p, uint32_t n, const BerTlv* t,
                          uint32_t* v) noexcept nogil:
    """The first 32 bits of the BIT STRING inside EXPLICIT tag t (KDCOptions)."""
    cdef BerTlv i
    cdef uint32_t k
    cdef int rc = ber_inner(p, n, t, BER_DER, &i)
    if rc != BER_OK:
        return rc
    if i.cls != BER_UNIVERSAL or i.tag != BER_BIT_STRING or i.constructed or i.len == 0:
        return BER_ERR
    v[0] = 0
    for k in range(4):
        v[0] = (v[0] << 8) | (p[i.off + 1 + k] if k + 1 < i.len else 0)
    return BER_OK


cdef inline int k5_uint32(const uint8_t* p, uint32_t n, const BerTlv* t,
                          uint32_t* v) noexcept nogil:
    """The UInt32 inside EXPLICIT tag t."""
    cdef BerTlv i
    cdef int rc = ber_explicit(p, n, t, BER_DER, BER_INTEGER, &i)
    if rc != BER_OK:
        return rc
    return ber_uint32(p, &i, v)


cdef inline int k5_time(const uint8_t* p, uint32_t n, const BerTlv* t,
                        int64_t* v) noexcept nogil:
    """The KerberosTime inside EXPLICIT tag t, seconds since the epoch."""
    cdef BerTlv i
    cdef int rc = ber_explicit(p, n, t, BER_DER, BER_GENERALIZED_TIME, &i)
    if rc != BER_OK:
        return rc
    return ber_gentime(p, &i, v)


cdef inline int k5_pa_entry(const uint8_t* p, uint32_t n, const BerTlv* e,
                            Krb5Msg* m) noexcept nogil:
    """One PA-DATA: its padata-type recorded; the AP-REQ of a TGS-REQ's PA-TGS-REQ read
    for the etype of the ticket it presents (errors inside that value are ignored)."""
    cdef BerWalk w
    cdef BerTlv c
    cdef int32_t ptype = -1
    cdef int64_t last = -1
    cdef int rc, r2
    if e.cls != BER_UNIVERSAL or e.tag != BER_SEQUENCE or not e.constructed:
        return BER_ERR
    ber_walk_init(&w, e, BER_DER, 5)
    while True:
        rc = ber_next(&w, p, n, &c)
        if rc == BER_END:
            return BER_OK
        if rc == BER_ERR or c.hdr_cut:
            return rc
        if c.cls != BER_CONTEXT or not k5_in_order(&c, &last):
            return BER_ERR
        r2 = rc
        if c.cls == BER_CONTEXT and c.tag == 1:
            r2 = k5_int32(p, n, &c, &ptype)
            if r2 == BER_OK:
                if m.n_pa < K5_MAX_PA:
                    m.pa_types[m.n_pa] = ptype
                if m.n_pa < 0xFFFF:
                    m.n_pa += 1
                if ptype == 2:
                    m.flags |= K5F_PA_ENC_TS
        elif c.cls == BER_CONTEXT and c.tag == 2 and ptype == 1 and m.msg_type == 12:
            r2 = k5_tgs_ap_req(p, n, &c, m)
            if r2 == BER_ERR:
                r2 = rc
        rc = ber_after(rc, r2)
        if rc != BER_OK:
            return rc


cdef inline int k5_padata(const uint8_t* p, uint32_t n, const BerTlv* seq,
                          Krb5Msg* m) noexcept nogil:
    """A SEQUENCE OF PA-DATA (padata, METHOD-DATA)."""
    cdef BerWalk w
    cdef BerTlv e
    cdef int rc
    if seq.cls != BER_UNIVERSAL or seq.tag != BER_SEQUENCE or not seq.constructed:
        return BER_ERR
    ber_walk_init(&w, seq, BER_DER, 4)
    while True:
        rc = ber_next(&w, p, n, &e)
        if rc == BER_END:
            rc = BER_OK
            break
        if rc == BER_ERR or e.hdr_cut:
            break
        rc = ber_after(rc, k5_pa_entry(p, n, &e, m))
        if rc != BER_OK:
            break
    k5_mark(m, K5_PADATA, rc, m.n_pa > 0)
    return rc


cdef inline int k5_tgs_ap_req(const uint8_t* p, uint32_t n, const BerTlv* t,
                              Krb5Msg* m) noexcept nogil:
    """The AP-REQ in the OCTET STRING inside EXPLICIT tag t (a PA-TGS-REQ's value)."""
    cdef BerTlv o, a
    cdef int rc = ber_inner(p, n, t, BER_DER, &o)
    if rc == BER_ERR or o.hdr_cut:
        return rc
    if o.cls != BER_UNIVERSAL or o.tag != BER_OCTET_STRING or o.constructed or o.len == 0:
        return BER_ERR
    rc = ber_read(p, n, o.off, o.end, BER_DER, &a)
    if rc == BER_ERR or a.hdr_cut:
        return rc
    if a.cls != BER_APPLICATION or a.tag != 14 or not a.constructed:
        return BER_ERR
    return k5_message(p, n, &a, K5K_TGS_AP_REQ, m)


cdef inline int k5_ticket(const uint8_t* p, uint32_t n, const BerTlv* t, Krb5Msg* m,
                          bint names) noexcept nogil:
    """The Ticket inside EXPLICIT tag t: its enc-part etype, and (names) its realm and
    sname."""
    cdef BerTlv a, s, c
    cdef BerWalk w
    cdef int64_t last = -1
    cdef int rc = ber_inner(p, n, t, BER_DER, &a)
    cdef int r2
    if rc == BER_ERR or a.hdr_cut:
        return rc
    if a.cls != BER_APPLICATION or a.tag != 1 or not a.constructed:
        return BER_ERR
    rc = ber_inner(p, n, &a, BER_DER, &s)
    if rc == BER_ERR or s.hdr_cut:
        return rc
    if s.cls != BER_UNIVERSAL or s.tag != BER_SEQUENCE or not s.constructed:
        return BER_ERR
    ber_walk_init(&w, &s, BER_DER, 4)
    while True:
        rc = ber_next(&w, p, n, &c)
        if rc == BER_END:
            return BER_OK
        if rc == BER_ERR or c.hdr_cut:
            return rc
        if c.cls != BER_CONTEXT or not k5_in_order(&c, &last):
            return BER_ERR
        r2 = rc
        if c.tag == 1 and names:
            r2 = k5_str_field(p, n, &c, &m.realm, m, K5_REALM)
        elif c.tag == 2 and names:
            r2 = k5_name_field(p, n, &c, &m.sname, &m.sname_type, m, K5_SNAME)
        elif c.tag == 3:
            r2 = k5_encdata(p, n, &c, &m.ticket_etype)
            k5_mark(m, K5_TICKET_ETYPE, r2, False)
        rc = ber_after(rc, r2)
        if rc != BER_OK:
            return rc


cdef inline int k5_req_body(const uint8_t* p, uint32_t n, const BerTlv* t,
                            Krb5Msg* m) noexcept nogil:
    """KDC-REQ-BODY inside EXPLICIT tag t."""
    cdef BerWalk w
    cdef BerTlv c
    cdef int r2
    cdef int64_t last = -1
    cdef int rc = k5_open(p, n, t, BER_UNIVERSAL, BER_SEQUENCE, 3, &w)
    while rc == BER_OK:
        rc = ber_next(&w, p, n, &c)
        if rc == BER_END:
            return BER_OK
        if rc == BER_ERR or c.hdr_cut:
            return rc
        if c.cls != BER_CONTEXT or not k5_in_order(&c, &last):
            return BER_ERR
        r2 = rc
        if c.tag == 0:
            r2 = k5_bits32(p, n, &c, &m.kdc_options)
            k5_mark(m, K5_KDC_OPTIONS, r2, False)
        elif c.tag == 1:
            r2 = k5_name_field(p, n, &c, &m.cname, &m.cname_type, m, K5_CNAME)
        elif c.tag == 2:
            r2 = k5_str_field(p, n, &c, &m.realm, m, K5_REALM)
        elif c.tag == 3:
            r2 = k5_name_field(p, n, &c, &m.sname, &m.sname_type, m, K5_SNAME)
        elif c.tag == 5:
            r2 = k5_time(p, n, &c, &m.till)
            k5_mark(m, K5_TILL, r2, False)
        elif c.tag == 7:
            r2 = k5_uint32(p, n, &c, &m.nonce)
            k5_mark(m, K5_NONCE, r2, False)
        elif c.tag == 8:
            r2 = k5_etypes(p, n, &c, m)
        rc = ber_after(rc, r2)
    return rc


cdef inline int k5_edata(const uint8_t* p, uint32_t n, const BerTlv* t,
                         Krb5Msg* m) noexcept nogil:
    """KRB-ERROR e-data inside EXPLICIT tag t: when it holds a METHOD-DATA (a SEQUENCE OF
    PA-DATA, as with PREAUTH_REQUIRED), its padata types; other contents are skipped."""
    cdef BerTlv o, s, f
    cdef int rc = ber_inner(p, n, t, BER_DER, &o)
    if rc == BER_ERR or o.hdr_cut:
        return rc
    if o.cls != BER_UNIVERSAL or o.tag != BER_OCTET_STRING or o.constructed:
        return BER_ERR
    if o.len and ber_read(p, n, o.off, o.end, BER_DER, &s) == BER_OK and \
            s.cls == BER_UNIVERSAL and s.tag == BER_SEQUENCE and s.constructed and s.len and \
            ber_read(p, n, s.off, s.end, BER_DER, &f) != BER_ERR and not f.hdr_cut and \
            f.cls == BER_UNIVERSAL and f.tag == BER_SEQUENCE:
        k5_padata(p, n, &s, m)
    return rc


cdef inline int k5_kind(uint32_t tag) noexcept nogil:
    """What the message of APPLICATION tag `tag` holds (0: not a Kerberos message)."""
    if tag == 10 or tag == 12:
        return K5K_REQ
    if tag == 11 or tag == 13:
        return K5K_REP
    if tag == 14:
        return K5K_AP_REQ
    if tag == 15:
        return K5K_AP_REP
    if tag == 30:
        return K5K_ERROR
    if tag == 20 or tag == 21 or tag == 22:
        return K5K_OTHER
    return 0


cdef inline int k5_field_of(int kind, uint32_t tag) noexcept nogil:
    """The field at context tag `tag` of a message's SEQUENCE (RFC 4120 5.4.1-5.9.1)."""
    if kind == K5K_REQ:                       # KDC-REQ: pvno [1] .. req-body [4]
        return tag if 1 <= tag <= 4 else K5D_SKIP
    if kind == K5K_TGS_AP_REQ:
        return K5D_MSG_TYPE if tag == 1 else (K5D_TICKET if tag == 3 else K5D_SKIP)
    if tag <= 1:
        return K5D_PVNO if tag == 0 else K5D_MSG_TYPE
    if kind == K5K_REP:                       # padata [2], crealm, cname, ticket, enc-part
        if tag == 2:
            return K5D_PADATA
        return tag + 2 if 3 <= tag <= 6 else K5D_SKIP
    if kind == K5K_AP_REQ and (tag == 3 or tag == 4):
        return K5D_TICKET if tag == 3 else K5D_ENC_PART
    if kind == K5K_AP_REP and tag == 2:
        return K5D_ENC_PART
    if kind == K5K_ERROR:
        if tag == 6:
            return K5D_ERROR_CODE
        if tag == 7 or tag == 8:
            return K5D_CREALM if tag == 7 else K5D_CNAME
        return tag + 1 if 9 <= tag <= 12 else K5D_SKIP    # realm, sname, e-text, e-data
    return K5D_SKIP


cdef inline int k5_field(const uint8_t* p, uint32_t n, const BerTlv* c, int kind,
                         uint32_t msg_tag, Krb5Msg* m) noexcept nogil:
    """Read one field (context tag c) of a message of this kind into m."""
    cdef int fid = k5_field_of(kind, c.tag)
    cdef int32_t v
    cdef BerTlv i
    cdef int rc = BER_OK
    if fid == K5D_PVNO:
        rc = k5_int32(p, n, c, &m.pvno)
        k5_mark(m, K5_PVNO, rc, False)
    elif fid == K5D_MSG_TYPE:
        rc = k5_int32(p, n, c, &v)
        if rc == BER_OK and <uint32_t>v != msg_tag:
            return BER_ERR                   # msg-type must name the message
    elif fid == K5D_PADATA:
        rc = ber_inner(p, n, c, BER_DER, &i)
        if rc != BER_ERR and not i.hdr_cut:
            rc = k5_padata(p, n, &i, m)
    elif fid == K5D_REQ_BODY:
        rc = k5_req_body(p, n, c, m)
    elif fid == K5D_CREALM:
        rc = k5_str_field(p, n, c, &m.crealm, m, K5_CREALM)
    elif fid == K5D_CNAME:
        rc = k5_name_field(p, n, c, &m.cname, &m.cname_type, m, K5_CNAME)
    elif fid == K5D_TICKET:
        rc = k5_ticket(p, n, c, m, kind != K5K_TGS_AP_REQ)
    elif fid == K5D_ENC_PART:
        rc = k5_encdata(p, n, c, &m.enc_etype)
        k5_mark(m, K5_ENC_ETYPE, rc, False)
    elif fid == K5D_ERROR_CODE:
        rc = k5_int32(p, n, c, &m.error_code)
        k5_mark(m, K5_ERROR_CODE, rc, False)
    elif fid == K5D_REALM:
        rc = k5_str_field(p, n, c, &m.realm, m, K5_REALM)
    elif fid == K5D_SNAME:
        rc = k5_name_field(p, n, c, &m.sname, &m.sname_type, m, K5_SNAME)
    elif fid == K5D_ETEXT:
        rc = k5_str_field(p, n, c, &m.etext, m, K5_ETEXT)
    elif fid == K5D_EDATA:
        rc = k5_edata(p, n, c, m)
    return rc


cdef inline int k5_message(const uint8_t* p, uint32_t n, const BerTlv* app, int kind,
                           Krb5Msg* m) noexcept nogil:
    """The SEQUENCE inside APPLICATION element app, field by field."""
    cdef BerTlv s, c
    cdef BerWalk w
    cdef int64_t last = -1
    cdef int rc = ber_inner(p, n, app, BER_DER, &s)
    if rc == BER_ERR or s.hdr_cut:
        return rc
    if s.cls != BER_UNIVERSAL or s.tag != BER_SEQUENCE or not s.constructed:
        return BER_ERR
    ber_walk_init(&w, &s, BER_DER, 2)
    while True:
        rc = ber_next(&w, p, n, &c)
        if rc == BER_END:
            return BER_OK
        if rc == BER_ERR or c.hdr_cut:
            return rc
        if c.cls != BER_CONTEXT or not c.constructed or not k5_in_order(&c, &last):
            return BER_ERR
        rc = ber_after(rc, k5_field(p, n, &c, kind, app.tag, m))
        if rc != BER_OK:
            return rc


cdef inline int krb5_parse(const uint8_t* p, uint32_t n, uint32_t full,
                           Krb5Msg* m) noexcept nogil:
    """One Kerberos message (module comment): 0 whole, 1 prefix, K5_MALFORMED, K5_NOT."""
    cdef BerTlv app
    cdef int kind, rc
    memset(m, 0, sizeof(Krb5Msg))
    if n > full:
        n = full
    if full == 0:
        return K5_NOT
    rc = ber_read(p, n, 0, full, BER_DER, &app)
    if app.hdr_cut:
        m.flags |= K5F_CUT
        return 1
    if rc == BER_ERR:                        # malformed only when it starts like one
        return K5_MALFORMED if n and p[0] & 0xE0 == 0x60 and k5_kind(p[0] & 0x1F) \
            else K5_NOT
    kind = k5_kind(app.tag)
    if app.cls != BER_APPLICATION or not app.constructed or kind == 0:
        return K5_NOT
    m.msg_type = <int32_t>app.tag
    rc = k5_message(p, n, &app, kind, m)
    if m.present & K5_ENC_ETYPE and ws_krb5_weak(m.enc_etype):
        m.flags |= K5F_WEAK
    if m.present & K5_TICKET_ETYPE and ws_krb5_weak(m.ticket_etype):
        m.flags |= K5F_TICKET_WEAK
    if rc == BER_ERR:
        return K5_MALFORMED
    if rc == BER_CUT or app.end > n:
        m.flags |= K5F_CUT
        return 1
    return 0


cdef inline int krb5_tcp_frame(const uint8_t* p, uint32_t n,
                               uint32_t* length) noexcept nogil:
    """The 4-byte record mark before each message over TCP: 0 (length set), 1 (fewer
    than 4 bytes), -1 (the reserved high bit set, zero, or above K5_TCP_MAX)."""
    cdef uint32_t v
    if n < 4:
        return 1
    v = (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]
    if v == 0 or v & 0x80000000u or v > K5_TCP_MAX:
        return -1
    length[0] = v
    return 0


cdef inline int krb5_probe(const uint8_t* p, uint32_t n) noexcept nogil:
    """1: the bytes start a Kerberos message (an APPLICATION message tag holding a
    SEQUENCE whose first field is pvno 5); 0: they do not; -1: too few bytes to say."""
    cdef BerTlv a, s, c
    cdef int64_t v
    cdef int rc = ber_read(p, n, 0, 0xFFFFFFFFu, BER_DER, &a)
    if a.hdr_cut:
        return -1
    if rc == BER_ERR or a.cls != BER_APPLICATION or not a.constructed or k5_kind(a.tag) == 0:
        return 0
    rc = ber_inner(p, n, &a, BER_DER, &s)
    if s.hdr_cut:
        return -1
    if rc == BER_ERR or s.cls != BER_UNIVERSAL or s.tag != BER_SEQUENCE or not s.constructed:
        return 0
    rc = ber_read(p, n, s.off, s.end, BER_DER, &c)
    if c.hdr_cut:
        return -1
    if rc == BER_ERR or c.cls != BER_CONTEXT or c.tag != (1 if k5_kind(a.tag) == K5K_REQ
                                                          else 0):
        return 0
    rc = ber_explicit_int(p, n, &c, BER_DER, &v)
    if rc == BER_CUT:
        return -1
    return 1 if rc == BER_OK and v == 5 else 0
