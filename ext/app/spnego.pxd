# Security blobs: a GSS-API token (RFC 2743 3.1) holding SPNEGO (RFC 4178, [MS-SPNG])
# or Kerberos (RFC 4121), a bare SPNEGO NegTokenInit / NegTokenResp, or a bare NTLMSSP
# message, as SMB session setups and DCE-RPC auth verifiers carry them.
#
# gss_parse(p, n, full, out): p[0:n] of a blob of full bytes (msgio.pxd has the
# contract). It finds the mechanism token inside and says what it is (kind: GSS_NTLMSSP,
# GSS_KRB5, GSS_NEGOEX, GSS_OTHER; token_off/token_len: where it lies in the blob), reads
# SPNEGO's mechTypes (rows of wsw_gss_mechs), negState and supportedMech, parses an
# NTLMSSP token (out.ntlm, ntlmssp.pxd) and notes a Kerberos one (krb_msg_type: 14
# AP-REQ, 15 AP-REP, 30 KRB-ERROR; for an AP-REQ, the ticket's realm and service name).
#
# The BER reader here reads definite lengths only (DER, as these tokens are), tags of one
# byte, and walks a fixed structure (no recursion): every level is bounded by the code.

from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.string cimport memcmp
from msgio cimport (MsgStr, MSG_OK, MSG_PREFIX, MSG_NOT, MSG_BAD, span_in, str_clear,
                    str_oem, str_put)
from ntlmssp cimport NtlmMsg, ntlm_parse, ntlm_clear, ntlm_signature, NTLM_HAVE_TYPE
from win_names cimport (ws_oid, wsw_gss_mechs, N_GSS_MECHS, GSS_MECH_KRB5,
                        GSS_MECH_MSKRB5, GSS_MECH_KRB5_U2U, GSS_MECH_SPNEGO)

cdef enum:
    GSS_NONE = 0              # no mechanism token (a bare negTokenResp, say)
    GSS_NTLMSSP = 1
    GSS_KRB5 = 2
    GSS_NEGOEX = 3            # "NEGOEXTS" ([MS-NEGOEX] 2.2.6.2)
    GSS_OTHER = 4             # a token of a mechanism not read here

    GSS_MAX_MECHS = 8         # mechTypes kept (the count is the real one)
    GSS_UNKNOWN_MECH = 0xFF   # a mechanism OID not in wsw_gss_mechs
    GSS_NO_STATE = 0xFF

    GSS_HAVE_SPNEGO = 1 << 0  # the blob is SPNEGO (wrapped in a GSS token or bare)
    GSS_HAVE_MECHS = 1 << 1   # mechTypes (mech_count, mechs)
    GSS_HAVE_STATE = 1 << 2   # negState
    GSS_HAVE_SUPPORTED = 1 << 3
    GSS_HAVE_TOKEN = 1 << 4   # kind, token_off, token_len
    GSS_HAVE_KRB = 1 << 5     # krb_msg_type
    GSS_HAVE_REALM = 1 << 6   # krb_realm
    GSS_HAVE_SNAME = 1 << 7   # krb_sname


cdef struct GssAuth:
    uint32_t have             # GSS_HAVE_* bits
    uint8_t kind              # GSS_* of the mechanism token
    uint8_t neg_state         # NegTokenResp negState: 0 accept-completed,
    #                           1 accept-incomplete, 2 reject, 3 request-mic
    uint8_t supported_mech    # NegTokenResp supportedMech: a wsw_gss_mechs row
    uint8_t mech_count        # NegTokenInit mechTypes listed
    uint8_t mechs[GSS_MAX_MECHS]  # the first GSS_MAX_MECHS, as wsw_gss_mechs rows
    uint8_t krb_msg_type      # Kerberos: 14 AP-REQ, 15 AP-REP, 30 KRB-ERROR, ...
    uint32_t token_off        # the mechanism token in the blob: offset, real length
    uint32_t token_len
    MsgStr krb_realm          # AP-REQ ticket realm
    MsgStr krb_sname          # AP-REQ ticket sname, components joined with "/"
    NtlmMsg ntlm              # kind GSS_NTLMSSP: the message (ntlm.have)


cdef struct Tlv:
    uint8_t tag
    uint32_t start            # offset of the tag byte
    uint32_t body             # offset of the contents
    uint32_t length           # contents length
    uint32_t end              # body + length


cdef inline int ber_tlv(const uint8_t* p, uint32_t n, uint32_t at, uint32_t limit,
                        Tlv* t) noexcept nogil:
    """The TLV at p[at:] whose contents must end by limit (its parent's end, <= the
    blob's full length): MSG_OK, MSG_PREFIX (header past n), MSG_BAD (no TLV fits)."""
    cdef uint32_t k, nlen
    t.start = at
    if at >= limit:
        return MSG_BAD
    if at >= n:
        return MSG_PREFIX
    t.tag = p[at]
    if (t.tag & 0x1F) == 0x1F:
        return MSG_BAD                       # multi-byte tags: none in these tokens
    if at + 1 >= limit:
        return MSG_BAD
    if at + 1 >= n:
        return MSG_PREFIX
    if p[at + 1] < 0x80:
        t.length = p[at + 1]
        t.body = at + 2
    else:
        nlen = p[at + 1] & 0x7F
        if nlen == 0 or nlen > 4:
            return MSG_BAD                   # indefinite or absurd length
        if not span_in(at + 2, nlen, limit):
            return MSG_BAD
        if not span_in(at + 2, nlen, n):
            return MSG_PREFIX
        t.length = 0
        for k in range(nlen):
            t.length = (t.length << 8) | p[at + 2 + k]
        t.body = at + 2 + nlen
    if not span_in(t.body, t.length, limit):
        return MSG_BAD
    t.end = t.body + t.length
    return MSG_OK


cdef inline uint8_t gss_mech_row(const uint8_t* p, uint32_t n, Tlv* oid) noexcept nogil:
    """The wsw_gss_mechs row of the OID whose contents are p[oid.body:oid.end] (within n),
    or GSS_UNKNOWN_MECH."""
    cdef int i
    if oid.tag != 0x06 or oid.end > n:
        return GSS_UNKNOWN_MECH
    for i in range(N_GSS_MECHS):
        if <uint32_t>wsw_gss_mechs[i].len == oid.length and \
                memcmp(wsw_gss_mechs[i].der, p + oid.body, oid.length) == 0:
            return <uint8_t>i
    return GSS_UNKNOWN_MECH


cdef inline void gss_clear(GssAuth* a) noexcept nogil:
    a.have = 0
    a.kind = GSS_NONE
    a.neg_state = GSS_NO_STATE
    a.supported_mech = GSS_UNKNOWN_MECH
    a.mech_count = 0
    a.krb_msg_type = 0
    a.token_off = 0
    a.token_len = 0
    str_clear(&a.krb_realm)
    str_clear(&a.krb_sname)
    ntlm_clear(&a.ntlm)


cdef inline int _krb_string(MsgStr* d, const uint8_t* p, uint32_t n, uint32_t at,
                            uint32_t limit, bint append, uint32_t* end) noexcept nogil:
    """The GeneralString TLV at p[at:] (ending by limit) into d, after a "/" when append;
    end: where the TLV ends."""
    cdef Tlv s
    cdef MsgStr part
    cdef uint16_t i
    cdef int rc = ber_tlv(p, n, at, limit, &s)
    if rc != MSG_OK:
        return rc
    if s.tag != 0x1B:
        return MSG_BAD
    end[0] = s.end
    if not append:
        str_oem(d, p, n, s.body, s.length)
        return MSG_OK
    str_oem(&part, p, n, s.body, s.length)
    str_put(d, 0x2F)
    for i in range(part.len):
        str_put(d, <uint8_t>part.s[i])
    d.wire_len += 1 + part.wire_len
    d.flags |= part.flags
    return MSG_OK


cdef inline int _krb_sname(GssAuth* a, const uint8_t* p, uint32_t n,
                           Tlv* f) noexcept nogil:
    """sname [2] PrincipalName ::= SEQUENCE { name-type [0], name-string [1] SEQUENCE OF
    KerberosString } (RFC 4120 5.2.2): the components joined with "/" into krb_sname.
    A walk cut by n leaves what it read, flagged STR_CUT."""
    cdef Tlv pn, x, seq
    cdef uint32_t at, k = 0, end = 0
    cdef int rc = ber_tlv(p, n, f.body, f.end, &pn)
    if rc == MSG_OK and pn.tag != 0x30:
        rc = MSG_BAD
    at = pn.body
    while rc == MSG_OK and at < pn.end:
        rc = ber_tlv(p, n, at, pn.end, &x)
        if rc == MSG_OK and x.tag == 0xA1:
            rc = ber_tlv(p, n, x.body, x.end, &seq)
            if rc == MSG_OK and seq.tag != 0x30:
                rc = MSG_BAD
            a.have |= GSS_HAVE_SNAME
            at = seq.body
            while rc == MSG_OK and at < seq.end and k < 16:
                rc = _krb_string(&a.krb_sname, p, n, at, seq.end, k > 0, &end)
                at = end
                k += 1
            if rc == MSG_PREFIX:
                a.krb_sname.flags |= 1       # STR_CUT: the name goes on past the cut
            return rc
        at = x.end
    return rc


cdef inline int _krb_ticket(GssAuth* a, const uint8_t* p, uint32_t n,
                            Tlv* tkt) noexcept nogil:
    """ticket [3] Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0], realm [1], sname [2],
    enc-part [3] } (RFC 4120 5.3): realm and sname into a."""
    cdef Tlv app, seq, f
    cdef uint32_t at, end = 0
    cdef int rc = ber_tlv(p, n, tkt.body, tkt.end, &app)
    if rc == MSG_OK and app.tag == 0x61:
        rc = ber_tlv(p, n, app.body, app.end, &seq)
    elif rc == MSG_OK:
        return MSG_BAD
    if rc != MSG_OK:
        return rc
    if seq.tag != 0x30:
        return MSG_BAD
    at = seq.body
    while at < seq.end:
        rc = ber_tlv(p, n, at, seq.end, &f)
        if rc != MSG_OK:
            return rc
        if f.tag == 0xA1:
            rc = _krb_string(&a.krb_realm, p, n, f.body, f.end, False, &end)
            if rc != MSG_OK:
                return rc
            a.have |= GSS_HAVE_REALM
        elif f.tag == 0xA2:
            return _krb_sname(a, p, n, &f)
        at = f.end
    return MSG_OK


cdef inline int _krb_message(GssAuth* a, const uint8_t* p, uint32_t n, uint32_t at,
                             uint32_t limit) noexcept nogil:
    """The Kerberos message at p[at:] (an [APPLICATION n] tag): krb_msg_type; for an
    AP-REQ ::= [APPLICATION 14] SEQUENCE { pvno [0], msg-type [1], ap-options [2],
    ticket [3], ... } (RFC 4120 5.5.1) the ticket's names."""
    cdef Tlv m, seq, f
    cdef uint32_t k
    cdef int rc = ber_tlv(p, n, at, limit, &m)
    if rc != MSG_OK:
        return rc
    if (m.tag & 0xE0) != 0x60:
        return MSG_BAD
    a.kind = GSS_KRB5
    a.krb_msg_type = m.tag & 0x1F
    a.token_off = m.start
    a.token_len = m.end - m.start
    a.have |= GSS_HAVE_TOKEN | GSS_HAVE_KRB
    if a.krb_msg_type != 14:
        return MSG_OK
    rc = ber_tlv(p, n, m.body, m.end, &seq)
    if rc != MSG_OK or seq.tag != 0x30:
        return MSG_BAD if rc == MSG_OK else rc
    at = seq.body
    for k in range(8):
        if at >= seq.end:
            break
        rc = ber_tlv(p, n, at, seq.end, &f)
        if rc != MSG_OK:
            return rc
        if f.tag == 0xA3:
            return _krb_ticket(a, p, n, &f)
        at = f.end
    return MSG_OK


cdef inline int _gss_token(GssAuth* a, const uint8_t* p, uint32_t n, uint32_t off,
                           uint32_t length) noexcept nogil:
    """The mechanism token p[off:off + length] (inside the blob): its kind, the NTLMSSP
    message parsed, a Kerberos message noted. MSG_PREFIX when the bytes we have cannot
    tell the kind yet."""
    cdef uint32_t avail = 0 if off >= n else (n - off if n - off < length else length)
    cdef const uint8_t* q = p + off
    cdef Tlv g, oid
    cdef uint8_t row
    cdef int rc
    if length == 0:
        return MSG_OK
    if avail < 2 and avail < length:
        return MSG_PREFIX
    a.token_off = off
    a.token_len = length
    if length < 2:
        a.kind = GSS_OTHER
    elif q[0] == 0x4E and q[1] == 0x54:                                # "NT"
        rc = ntlm_parse(q, avail, length, &a.ntlm)
        if rc == MSG_PREFIX and not a.ntlm.have & NTLM_HAVE_TYPE:
            return rc                        # signature and type (12 bytes) tell it
        if rc != MSG_NOT:
            a.kind = GSS_NTLMSSP
            a.have |= GSS_HAVE_TOKEN
            return rc
        a.kind = GSS_OTHER
    elif q[0] == 0x4E and q[1] == 0x45:                                # "NE"
        a.kind = GSS_NEGOEX
    elif q[0] == 0x60:
        rc = ber_tlv(p, n, off, off + length, &g)
        if rc == MSG_OK:
            rc = ber_tlv(p, n, g.body, g.end, &oid)
        if rc == MSG_OK and oid.end > n:
            rc = MSG_PREFIX
        if rc != MSG_OK:
            return rc
        row = gss_mech_row(p, n, &oid)
        if row == GSS_MECH_KRB5 or row == GSS_MECH_MSKRB5 or row == GSS_MECH_KRB5_U2U:
            if not span_in(oid.end, 2, g.end):                         # TOK_ID
                return MSG_BAD
            return _krb_message(a, p, n, oid.end + 2, g.end)
        a.kind = GSS_OTHER
    elif (q[0] & 0xE0) == 0x60:
        return _krb_message(a, p, n, off, off + length)
    else:
        a.kind = GSS_OTHER
    a.have |= GSS_HAVE_TOKEN
    return MSG_OK


cdef inline int _spnego_mechs(GssAuth* a, const uint8_t* p, uint32_t n,
                              Tlv* seq) noexcept nogil:
    """mechTypes: SEQUENCE OF MechType (OID) into mech_count, mechs."""
    cdef Tlv o
    cdef uint32_t at = seq.body
    cdef int rc
    while at < seq.end:
        rc = ber_tlv(p, n, at, seq.end, &o)
        if rc == MSG_OK and o.end > n:
            rc = MSG_PREFIX
        if rc != MSG_OK:
            return rc
        if a.mech_count < GSS_MAX_MECHS:
            a.mechs[a.mech_count] = gss_mech_row(p, n, &o)
        if a.mech_count < 0xFF:
            a.mech_count += 1
        at = o.end
    a.have |= GSS_HAVE_MECHS
    return MSG_OK


cdef inline int _spnego_fields(GssAuth* a, const uint8_t* p, uint32_t n, Tlv* choice,
                               bint init) noexcept nogil:
    """NegTokenInit ::= SEQUENCE { mechTypes [0], reqFlags [1], mechToken [2], ... };
    NegTokenResp ::= SEQUENCE { negState [0], supportedMech [1], responseToken [2], ... }
    (RFC 4178 4.2)."""
    cdef Tlv seq, f, x
    cdef uint32_t at
    cdef int rc = ber_tlv(p, n, choice.body, choice.end, &seq)
    if rc != MSG_OK or seq.tag != 0x30:
        return MSG_BAD if rc == MSG_OK else rc
    at = seq.body
    while at < seq.end:
        rc = ber_tlv(p, n, at, seq.end, &f)
        if rc != MSG_OK:
            return rc
        if f.tag == 0xA0 or f.tag == 0xA1:
            rc = ber_tlv(p, n, f.body, f.end, &x)
            if rc != MSG_OK:
                return rc
            if f.tag == 0xA0 and a.have & (GSS_HAVE_MECHS | GSS_HAVE_STATE) or \
                    f.tag == 0xA1 and a.have & GSS_HAVE_SUPPORTED:
                pass                                 # a repeated field: the first counts
            elif init and f.tag == 0xA0 and x.tag == 0x30:             # mechTypes
                rc = _spnego_mechs(a, p, n, &x)
                if rc != MSG_OK:
                    return rc
            elif not init and f.tag == 0xA0 and x.tag == 0x0A and x.length == 1:
                if x.body >= n:
                    return MSG_PREFIX
                a.neg_state = p[x.body]
                a.have |= GSS_HAVE_STATE
            elif not init and f.tag == 0xA1 and x.tag == 0x06:
                if x.end > n:
                    return MSG_PREFIX
                a.supported_mech = gss_mech_row(p, n, &x)
                a.have |= GSS_HAVE_SUPPORTED
        elif f.tag == 0xA2:
            rc = ber_tlv(p, n, f.body, f.end, &x)
            if rc != MSG_OK:
                return rc
            if x.tag != 0x04:
                return MSG_BAD
            return _gss_token(a, p, n, x.body, x.length)
        at = f.end
    return MSG_OK


cdef inline int gss_parse(const uint8_t* p, uint32_t n, uint32_t full,
                          GssAuth* out) noexcept nogil:
    cdef Tlv g, oid, choice
    cdef uint32_t at = 0
    cdef int rc
    gss_clear(out)
    if n > full:
        n = full
    if full == 0:
        return MSG_NOT
    if n == 0:
        return MSG_PREFIX
    if p[0] == 0x4E:                                           # bare NTLMSSP
        if not ntlm_signature(p, n):
            return MSG_NOT
        if n < 8 and n < full:
            # only the whole signature ("NTLMSSP\0") tells a bare token from a blob
            # that is none ("NT LM 0.12"): a prefix says nothing yet
            return MSG_PREFIX
        rc = _gss_token(out, p, n, 0, full)
    elif p[0] == 0x60 or p[0] == 0xA0 or p[0] == 0xA1:
        if p[0] == 0x60:
            rc = ber_tlv(p, n, 0, full, &g)
            if rc == MSG_OK:
                rc = ber_tlv(p, n, g.body, g.end, &oid)
            if rc == MSG_OK and oid.end > n:
                rc = MSG_PREFIX
            if rc != MSG_OK:
                return rc
            if gss_mech_row(p, n, &oid) != GSS_MECH_SPNEGO:
                return _gss_token(out, p, n, 0, full)          # a GSS Kerberos token
            at = oid.end
        rc = ber_tlv(p, n, at, full, &choice)
        if rc != MSG_OK:
            return rc
        if choice.tag != 0xA0 and choice.tag != 0xA1:
            return MSG_BAD
        out.have |= GSS_HAVE_SPNEGO
        rc = _spnego_fields(out, p, n, &choice, choice.tag == 0xA0)
    else:
        return MSG_NOT
    if rc == MSG_OK and n < full:
        return MSG_PREFIX
    return rc
