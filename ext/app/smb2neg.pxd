# SMB2 NEGOTIATE (with SMB 3.1.1's negotiate contexts) and SESSION_SETUP bodies, and
# the encrypted and compressed transform headers ([MS-SMB2] 2.2.3-2.2.6, 2.2.41,
# 2.2.42), into an Smb2Msg (smb2msg.pxd). smb2.pxd calls these after the header;
# each returns MSG_OK / MSG_PREFIX / MSG_BAD for the part it reads (msgio.pxd).

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, UINT32_MAX
from msgio cimport (MSG_OK, MSG_PREFIX, MSG_NOT, MSG_BAD, rd16, rd32, rd64, span_in,
                    le_guid, str_utf16)
from spnego cimport gss_parse
from smb2msg cimport *
from win_names cimport (SMB2_CTX_PREAUTH, SMB2_CTX_ENCRYPTION, SMB2_CTX_COMPRESSION,
                        SMB2_CTX_NETNAME, SMB2_CTX_SIGNING, SMB2_COMP_NONE, SMB2_COMP_LZ4)


cdef inline int smb2_fixed(uint32_t n, uint32_t mlen, uint32_t end) noexcept nogil:
    """A body's fixed part ends at end: MSG_BAD past the message, MSG_PREFIX past n."""
    if end > mlen:
        return MSG_BAD
    if end > n:
        return MSG_PREFIX
    return MSG_OK


cdef inline int _alg_list(const uint8_t* p, uint32_t n, uint32_t at, uint32_t end,
                          uint16_t count, uint16_t* out) noexcept nogil:
    """count 16-bit algorithm ids at p[at:] (within the context's data, ending by end):
    the first SMB2_MAX_ALGS into out."""
    cdef uint16_t k
    if not span_in(at, 2 * <uint32_t>count, end):
        return MSG_BAD
    if not span_in(at, 2 * <uint32_t>count, n):
        return MSG_PREFIX
    for k in range(count if count < SMB2_MAX_ALGS else SMB2_MAX_ALGS):
        out[k] = rd16(p + at + 2 * k)
    return MSG_OK


cdef inline int _neg_context(Smb2Msg* m, const uint8_t* p, uint32_t n, uint16_t ctype,
                             uint32_t at, uint32_t dlen) noexcept nogil:
    """One negotiate context's data p[at:at + dlen] (inside the message)."""
    cdef uint32_t end = at + dlen
    if ctype == SMB2_CTX_NETNAME:
        str_utf16(&m.netname, p, n, at, dlen)
        return MSG_OK
    if ctype != SMB2_CTX_PREAUTH and ctype != SMB2_CTX_ENCRYPTION and \
            ctype != SMB2_CTX_COMPRESSION and ctype != SMB2_CTX_SIGNING:
        return MSG_OK
    if not span_in(at, 2, end):
        return MSG_BAD
    if not span_in(at, 2, n):
        return MSG_PREFIX
    cdef uint16_t count = rd16(p + at)
    if ctype == SMB2_CTX_PREAUTH:
        m.hash_count = count
        return _alg_list(p, n, at + 4, end, count, m.hashes)
    if ctype == SMB2_CTX_ENCRYPTION:
        m.cipher_count = count
        return _alg_list(p, n, at + 2, end, count, m.ciphers)
    if ctype == SMB2_CTX_SIGNING:
        m.sign_count = count
        return _alg_list(p, n, at + 2, end, count, m.signs)
    if not span_in(at, 8, end):
        return MSG_BAD
    if not span_in(at, 8, n):
        return MSG_PREFIX
    m.comp_count = count
    m.comp_caps_flags = rd32(p + at + 4)
    return _alg_list(p, n, at + 8, end, count, m.comps)


cdef inline int smb2_contexts(Smb2Msg* m, const uint8_t* p, uint32_t n, uint32_t mlen,
                              uint32_t off, uint16_t count) noexcept nogil:
    """The negotiate context list at off (count contexts, each 8-byte aligned from the
    message start: [MS-SMB2] 2.2.3.1); SMB2_HAVE_CONTEXTS once all are read."""
    cdef uint32_t at = off, dlen
    cdef uint16_t k, ctype
    cdef int rc
    m.ctx_count = count
    for k in range(count):
        at = (at + 7) & ~(<uint32_t>7)
        if not span_in(at, 8, mlen):
            return MSG_BAD
        if not span_in(at, 8, n):
            return MSG_PREFIX
        ctype = rd16(p + at)
        dlen = rd16(p + at + 2)
        if k < SMB2_MAX_CTX:
            m.ctx_types[k] = ctype
        if not span_in(at + 8, dlen, mlen):
            return MSG_BAD
        rc = _neg_context(m, p, n, ctype, at + 8, dlen)
        if rc != MSG_OK:
            return rc
        at += 8 + dlen
    m.have |= SMB2_HAVE_CONTEXTS
    return MSG_OK


cdef inline int smb2_blob(Smb2Msg* m, const uint8_t* p, uint32_t n, uint32_t mlen,
                          uint32_t off, uint32_t length) noexcept nogil:
    """The security buffer at off (length bytes, inside the message): its span, then its
    token parsed into m.auth (a blob that is no GSS/NTLMSSP token we know is left
    unparsed: SMB2_HAVE_AUTH stays clear)."""
    cdef int rc
    if length == 0:
        return MSG_OK
    if not span_in(off, length, mlen) or off < SMB2_HDR:
        return MSG_BAD
    m.blob_off = off
    m.blob_len = length
    m.have |= SMB2_HAVE_BLOB
    if off >= n:
        return MSG_PREFIX
    rc = gss_parse(p + off, n - off, length, &m.auth)
    if rc == MSG_NOT:
        return MSG_OK
    if m.auth.have:                 # a prefix too short to tell the token sets none
        m.have |= SMB2_HAVE_AUTH
    return rc


cdef inline int smb2_negotiate(Smb2Msg* m, const uint8_t* p, uint32_t n, uint32_t mlen,
                               bint resp) noexcept nogil:
    """NEGOTIATE request (2.2.3: dialects, client GUID, contexts when 3.1.1 is offered)
    or response (2.2.4: the chosen dialect, server GUID, sizes, security buffer,
    contexts when 3.1.1 was chosen)."""
    cdef uint16_t k, count, ctx_count
    cdef uint32_t ctx_off
    cdef bint offers_311 = False
    cdef int rc
    if resp:
        rc = smb2_fixed(n, mlen, 128)
        if rc != MSG_OK:
            return rc
        m.security_mode = rd16(p + 66)
        m.dialect = rd16(p + 68)
        ctx_count = rd16(p + 70)
        le_guid(p + 72, m.guid)
        m.capabilities = rd32(p + 88)
        m.max_transact = rd32(p + 92)
        m.max_read = rd32(p + 96)
        m.max_write = rd32(p + 100)
        m.system_time = rd64(p + 104)
        m.have |= SMB2_HAVE_NEGOTIATE
        rc = smb2_blob(m, p, n, mlen, rd16(p + 120), rd16(p + 122))
        if rc != MSG_OK or m.dialect != 0x0311:
            return rc
        return smb2_contexts(m, p, n, mlen, rd32(p + 124), ctx_count)
    rc = smb2_fixed(n, mlen, 100)
    if rc != MSG_OK:
        return rc
    count = rd16(p + 66)
    m.security_mode = rd16(p + 68)
    m.capabilities = rd32(p + 72)
    le_guid(p + 76, m.guid)
    ctx_off = rd32(p + 92)
    ctx_count = rd16(p + 96)
    m.have |= SMB2_HAVE_NEGOTIATE
    m.dialect_count = count
    rc = smb2_fixed(n, mlen, 100 + 2 * <uint32_t>count)
    if rc != MSG_OK:
        return rc
    for k in range(count):
        if k < SMB2_MAX_DIALECTS:
            m.dialects[k] = rd16(p + 100 + 2 * k)
        offers_311 = offers_311 or rd16(p + 100 + 2 * k) == 0x0311
    m.have |= SMB2_HAVE_DIALECTS
    if not offers_311 or ctx_count == 0:
        return MSG_OK
    return smb2_contexts(m, p, n, mlen, ctx_off, ctx_count)


cdef inline int smb2_session_setup(Smb2Msg* m, const uint8_t* p, uint32_t n,
                                   uint32_t mlen, bint resp) noexcept nogil:
    """SESSION_SETUP request (2.2.5) or response (2.2.6): flags and the security buffer
    (NTLMSSP or Kerberos inside SPNEGO) parsed into m.auth."""
    cdef int rc
    if resp:
        rc = smb2_fixed(n, mlen, 72)
        if rc != MSG_OK:
            return rc
        m.session_flags = rd16(p + 66)
        m.have |= SMB2_HAVE_SESSION
        return smb2_blob(m, p, n, mlen, rd16(p + 68), rd16(p + 70))
    rc = smb2_fixed(n, mlen, 88)
    if rc != MSG_OK:
        return rc
    m.setup_flags = p[66]
    m.security_mode = p[67]
    m.capabilities = rd32(p + 68)
    m.previous_session_id = rd64(p + 80)
    m.have |= SMB2_HAVE_SESSION
    return smb2_blob(m, p, n, mlen, rd16(p + 76), rd16(p + 78))


cdef inline int smb2_encrypted(Smb2Msg* m, const uint8_t* p, uint32_t n,
                               uint32_t full) noexcept nogil:
    """SMB2 TRANSFORM_HEADER (2.2.41): 52 bytes, then the encrypted message."""
    cdef int rc = smb2_fixed(n, full, 52)
    if rc != MSG_OK:
        return rc
    m.orig_size = rd32(p + 36)
    m.comp_alg = rd16(p + 42)
    m.session_id = rd64(p + 44)
    m.have |= SMB2_HAVE_TRANSFORM
    return MSG_OK


cdef inline uint32_t _comp_alg_bad(uint16_t alg, bint chained) noexcept nogil:
    if alg > SMB2_COMP_LZ4 or (alg == SMB2_COMP_NONE and not chained):
        return SMB2_COMP_ALGORITHM
    return 0


cdef inline int _comp_chain(Smb2Msg* m, const uint8_t* p, uint32_t n,
                            uint32_t full) noexcept nogil:
    """The chained payload headers after the first (2.2.42.2: algorithm, flags, length,
    then OriginalPayloadSize unless the algorithm is NONE), at most SMB2_MAX_CHAIN:
    each must lie in the message (else SMB2_COMP_CHAIN). chain_count and the chain's
    malformed bits are written when the walk ends (SMB2_HAVE_CHAIN), not at a cut."""
    cdef uint32_t at = 16 + m.comp_offset, length, bad = 0
    cdef uint16_t alg, count = 0
    while at < full and count < SMB2_MAX_CHAIN:
        if not span_in(at, 8, full):
            bad |= SMB2_COMP_CHAIN
            break
        if not span_in(at, 8, n):
            return MSG_PREFIX
        alg = rd16(p + at)
        length = rd32(p + at + 4)
        bad |= _comp_alg_bad(alg, True)
        count += 1
        if not span_in(at + 8, length, full) or (alg != SMB2_COMP_NONE and length < 4):
            bad |= SMB2_COMP_CHAIN
            break
        at += 8 + length
    m.chain_count = count
    m.malformed |= bad
    m.have |= SMB2_HAVE_CHAIN
    return MSG_OK


cdef inline int smb2_compressed(Smb2Msg* m, const uint8_t* p, uint32_t n,
                                uint32_t full) noexcept nogil:
    """SMB2 COMPRESSION_TRANSFORM_HEADER (2.2.42): 16 bytes, then (unchained) Offset
    bytes as they are and the compressed rest, or (chained) the first payload's data
    of Length bytes and more payload headers. What no valid header has is flagged in
    m.malformed (CVE-2020-0796: an orig_size + offset that wraps); the message is still
    MSG_OK, as it is one."""
    cdef int rc = smb2_fixed(n, full, 16)
    cdef bint chained
    if rc != MSG_OK:
        return rc
    m.orig_size = rd32(p + 4)
    m.comp_alg = rd16(p + 8)
    m.comp_flags = rd16(p + 10)
    m.comp_offset = rd32(p + 12)
    m.have |= SMB2_HAVE_COMPRESSION
    chained = m.comp_flags == 1
    if m.comp_flags > 1:
        m.malformed |= SMB2_COMP_FLAGS
    m.malformed |= _comp_alg_bad(m.comp_alg, chained)
    if <uint64_t>m.orig_size + m.comp_offset > UINT32_MAX:
        m.malformed |= SMB2_COMP_OVERFLOW
    if <uint64_t>m.orig_size + m.comp_offset > SMB2_NBSS_MAX:
        m.malformed |= SMB2_COMP_TOO_BIG
    if not span_in(16, m.comp_offset, full):
        m.malformed |= SMB2_COMP_OFFSET
    elif chained:
        return _comp_chain(m, p, n, full)
    return MSG_OK
