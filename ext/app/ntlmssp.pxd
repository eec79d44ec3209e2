# NTLMSSP messages ([MS-NLMP] 2.2.1): NEGOTIATE, CHALLENGE, AUTHENTICATE, as SMB session
# setups, DCE-RPC auth verifiers (bind, AUTH3) and HTTP "Authorization: NTLM" carry them.
#
# ntlm_parse(p, n, full, out): p[0:n] of one NTLMSSP message of full bytes (msgio.pxd
# has the contract). What it gives (each field with its NTLM_HAVE_* bit):
#   type, flags (NegotiateFlags), version (major.minor build N rev R, when the message
#   carries one: NTLMSSP_NEGOTIATE_VERSION)
#   NEGOTIATE     domain, host (OEM strings, when the client supplied them)
#   CHALLENGE     target (TargetName), challenge (8 bytes), the target info AV pairs:
#                 nb_domain, nb_computer, dns_domain, dns_computer, dns_tree, timestamp
#   AUTHENTICATE  domain, user, host (UTF-16LE or OEM by NTLMSSP_NEGOTIATE_UNICODE),
#                 lm_len, nt_len, key_len (EncryptedRandomSessionKey), ntlm_version
#                 (1: a 24-byte NT response, NTLMv1; 2: NTLMv2; 0: none, anonymous),
#                 has_mic, and from an NTLMv2 response's AV pairs the same names as a
#                 CHALLENGE's, spn (MsvAvTargetName) and timestamp: the NTLMv2
#                 response's client time (its MsvAvTimestamp, the server's, not read)
# A field whose (length, offset) points outside the message makes the message MSG_BAD;
# a field inside the message but past n is kept as far as n reaches (STR_CUT).

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, UINT32_MAX
from libc.string cimport memcpy
from msgio cimport (MsgStr, MSG_OK, MSG_PREFIX, MSG_NOT, MSG_BAD, rd16, rd32, rd64,
                    span_in, str_clear, str_utf16, str_oem)
from win_names cimport NTLM_NEGOTIATE, NTLM_CHALLENGE, NTLM_AUTHENTICATE

cdef enum:
    NTLM_HAVE_TYPE = 1 << 0
    NTLM_HAVE_FLAGS = 1 << 1
    NTLM_HAVE_VERSION = 1 << 2
    NTLM_HAVE_DOMAIN = 1 << 3
    NTLM_HAVE_USER = 1 << 4
    NTLM_HAVE_HOST = 1 << 5
    NTLM_HAVE_TARGET = 1 << 6
    NTLM_HAVE_CHALLENGE = 1 << 7
    NTLM_HAVE_RESPONSES = 1 << 8      # lm_len, nt_len, key_len, ntlm_version
    NTLM_HAVE_MIC = 1 << 9            # has_mic
    NTLM_HAVE_AV = 1 << 10            # the AV pair list was walked to its end (av_count)
    NTLM_HAVE_NB_DOMAIN = 1 << 11
    NTLM_HAVE_NB_COMPUTER = 1 << 12
    NTLM_HAVE_DNS_DOMAIN = 1 << 13
    NTLM_HAVE_DNS_COMPUTER = 1 << 14
    NTLM_HAVE_DNS_TREE = 1 << 15
    NTLM_HAVE_TIMESTAMP = 1 << 16
    NTLM_HAVE_SPN = 1 << 17

    NTLMSSP_NEGOTIATE_UNICODE = 0x00000001
    NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED = 0x00001000
    NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED = 0x00002000
    NTLMSSP_NEGOTIATE_VERSION = 0x02000000
    NTLM_MAX_AV = 64                  # AV pairs walked at most (a real list has ~10)
    NTLM_V2_BLOB = 44                 # NTProofStr 16, then the blob's 28 fixed bytes


cdef struct NtlmMsg:
    uint32_t have                     # NTLM_HAVE_* bits
    uint32_t type                     # 1 NEGOTIATE, 2 CHALLENGE, 3 AUTHENTICATE
    uint32_t flags                    # NegotiateFlags ([MS-NLMP] 2.2.2.5)
    uint8_t ver_major
    uint8_t ver_minor
    uint16_t ver_build
    uint8_t ver_rev                   # NTLMRevisionCurrent
    uint8_t challenge[8]              # CHALLENGE ServerChallenge
    uint16_t lm_len                   # AUTHENTICATE LmChallengeResponse bytes
    uint16_t nt_len                   # AUTHENTICATE NtChallengeResponse bytes
    uint16_t key_len                  # AUTHENTICATE EncryptedRandomSessionKey bytes
    uint8_t ntlm_version              # 0 none (anonymous), 1 NTLMv1, 2 NTLMv2
    uint8_t has_mic                   # AUTHENTICATE carries a MIC (its payload starts
    #                                   at 88 or later)
    uint16_t av_count                 # AV pairs read (the first NTLM_MAX_AV)
    uint64_t timestamp                # CHALLENGE: MsvAvTimestamp; AUTHENTICATE: the NTLMv2
    #                                   client time (FILETIME: 100 ns since 1601)
    #                                   (100 ns since 1601-01-01 UTC)
    MsgStr domain                     # NEGOTIATE / AUTHENTICATE DomainName
    MsgStr user                       # AUTHENTICATE UserName
    MsgStr host                       # NEGOTIATE / AUTHENTICATE Workstation
    MsgStr target                     # CHALLENGE TargetName
    MsgStr nb_domain                  # AV pairs (MsvAvNbDomainName ...)
    MsgStr nb_computer
    MsgStr dns_domain
    MsgStr dns_computer
    MsgStr dns_tree
    MsgStr spn                        # MsvAvTargetName (the service the client names)


cdef inline void ntlm_clear(NtlmMsg* m) noexcept nogil:
    m.have = 0
    m.type = 0
    m.flags = 0
    m.ver_major = 0
    m.ver_minor = 0
    m.ver_build = 0
    m.ver_rev = 0
    m.lm_len = 0
    m.nt_len = 0
    m.key_len = 0
    m.ntlm_version = 0
    m.has_mic = 0
    m.av_count = 0
    m.timestamp = 0
    cdef int i
    for i in range(8):
        m.challenge[i] = 0
    str_clear(&m.domain)
    str_clear(&m.user)
    str_clear(&m.host)
    str_clear(&m.target)
    str_clear(&m.nb_domain)
    str_clear(&m.nb_computer)
    str_clear(&m.dns_domain)
    str_clear(&m.dns_computer)
    str_clear(&m.dns_tree)
    str_clear(&m.spn)


cdef inline int _ntlm_field(const uint8_t* p, uint32_t n, uint32_t full, uint32_t at,
                            uint32_t* off, uint32_t* length) noexcept nogil:
    """The (Len, MaxLen, BufferOffset) field descriptor at p[at:at + 8]: MSG_OK with the
    field's offset and length (inside the message), MSG_PREFIX when the descriptor is
    past n, MSG_BAD when the field runs outside the message."""
    if not span_in(at, 8, n):
        return MSG_PREFIX
    length[0] = rd16(p + at)
    off[0] = rd32(p + at + 4)
    if length[0] and not span_in(off[0], length[0], full):
        return MSG_BAD
    return MSG_OK


cdef inline int _ntlm_string(NtlmMsg* m, MsgStr* d, uint32_t bit, bint unicode,
                             const uint8_t* p, uint32_t n, uint32_t full,
                             uint32_t at) noexcept nogil:
    cdef uint32_t off = 0, length = 0
    cdef int rc = _ntlm_field(p, n, full, at, &off, &length)
    if rc != MSG_OK:
        return rc
    if unicode:
        str_utf16(d, p, n, off, length)
    else:
        str_oem(d, p, n, off, length)
    m.have |= bit
    return MSG_OK


cdef inline int _ntlm_version(NtlmMsg* m, const uint8_t* p, uint32_t n,
                              uint32_t at) noexcept nogil:
    if not (m.flags & NTLMSSP_NEGOTIATE_VERSION):
        return MSG_OK
    if not span_in(at, 8, n):
        return MSG_PREFIX
    m.ver_major = p[at]
    m.ver_minor = p[at + 1]
    m.ver_build = rd16(p + at + 2)
    m.ver_rev = p[at + 7]
    m.have |= NTLM_HAVE_VERSION
    return MSG_OK


cdef inline int ntlm_av_pairs(NtlmMsg* m, const uint8_t* p, uint32_t n, uint32_t off,
                              uint32_t length) noexcept nogil:
    """Walk the AV_PAIR list p[off:off + length] ([MS-NLMP] 2.2.2.1), which lies inside
    the message: the names and timestamp (unless m has one) into m; NTLM_HAVE_AV once
    MsvAvEOL is reached.
    MSG_PREFIX when the list runs past n, MSG_BAD when a pair runs past the list."""
    cdef uint32_t at = off, end = off + length, av_id, av_len
    cdef MsgStr* d
    cdef uint32_t bit = 0
    while m.av_count < NTLM_MAX_AV:
        if not span_in(at, 4, end):
            return MSG_BAD                   # the list ends without MsvAvEOL
        if not span_in(at, 4, n):
            return MSG_PREFIX
        av_id = rd16(p + at)
        av_len = rd16(p + at + 2)
        at += 4
        if not span_in(at, av_len, end):
            return MSG_BAD
        m.av_count += 1
        if av_id == 0:
            m.have |= NTLM_HAVE_AV
            return MSG_OK
        d = NULL
        if av_id == 1:
            d = &m.nb_computer
            bit = NTLM_HAVE_NB_COMPUTER
        elif av_id == 2:
            d = &m.nb_domain
            bit = NTLM_HAVE_NB_DOMAIN
        elif av_id == 3:
            d = &m.dns_computer
            bit = NTLM_HAVE_DNS_COMPUTER
        elif av_id == 4:
            d = &m.dns_domain
            bit = NTLM_HAVE_DNS_DOMAIN
        elif av_id == 5:
            d = &m.dns_tree
            bit = NTLM_HAVE_DNS_TREE
        elif av_id == 9:
            d = &m.spn
            bit = NTLM_HAVE_SPN
        elif av_id == 7 and av_len == 8 and span_in(at, 8, n) and \
                not m.have & NTLM_HAVE_TIMESTAMP:
            m.timestamp = rd64(p + at)
            m.have |= NTLM_HAVE_TIMESTAMP
        if d != NULL and not m.have & bit:  # the first of a repeated pair
            str_utf16(d, p, n, at, av_len)
            m.have |= bit
        at += av_len
        if at > n:
            return MSG_PREFIX
    return MSG_OK                            # the cap bit: the rest is not walked


cdef inline int _ntlm_negotiate(NtlmMsg* m, const uint8_t* p, uint32_t n,
                                uint32_t full) noexcept nogil:
    cdef int rc
    cdef bint oem_dom = (m.flags & NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED) != 0
    cdef bint oem_ws = (m.flags & NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED) != 0
    if full < 32:                      # a short NEGOTIATE: signature, type, flags only
        return MSG_OK if n == full else MSG_PREFIX
    if oem_dom:
        rc = _ntlm_string(m, &m.domain, NTLM_HAVE_DOMAIN, False, p, n, full, 16)
        if rc != MSG_OK:
            return rc
    if oem_ws:
        rc = _ntlm_string(m, &m.host, NTLM_HAVE_HOST, False, p, n, full, 24)
        if rc != MSG_OK:
            return rc
    if full >= 40:
        rc = _ntlm_version(m, p, n, 32)
        if rc != MSG_OK:
            return rc
    return MSG_OK


cdef inline int _ntlm_challenge(NtlmMsg* m, const uint8_t* p, uint32_t n,
                                uint32_t full) noexcept nogil:
    cdef uint32_t off = 0, length = 0
    cdef int rc
    if full < 48:
        return MSG_BAD
    if not span_in(24, 8, n):
        return MSG_PREFIX
    memcpy(m.challenge, p + 24, 8)
    m.have |= NTLM_HAVE_CHALLENGE
    rc = _ntlm_string(m, &m.target, NTLM_HAVE_TARGET,
                      (m.flags & NTLMSSP_NEGOTIATE_UNICODE) != 0, p, n, full, 12)
    if rc != MSG_OK:
        return rc
    if full >= 56:
        rc = _ntlm_version(m, p, n, 48)
        if rc != MSG_OK:
            return rc
    rc = _ntlm_field(p, n, full, 40, &off, &length)
    if rc != MSG_OK or length == 0:
        return rc
    return ntlm_av_pairs(m, p, n, off, length)


cdef inline uint32_t _ntlm_payload_start(const uint8_t* p, uint32_t n) noexcept nogil:
    """The lowest BufferOffset of the six AUTHENTICATE fields that have a length (all six
    descriptors are within n): where the payload, so the fixed part, begins."""
    cdef uint32_t low = UINT32_MAX, at
    for at in range(12, 60, 8):
        if rd16(p + at) and rd32(p + at + 4) < low:
            low = rd32(p + at + 4)
    return low


cdef inline int _ntlm_authenticate(NtlmMsg* m, const uint8_t* p, uint32_t n,
                                   uint32_t full) noexcept nogil:
    cdef uint32_t off = 0, length = 0, low
    cdef int rc
    cdef bint uni = (m.flags & NTLMSSP_NEGOTIATE_UNICODE) != 0
    rc = _ntlm_string(m, &m.domain, NTLM_HAVE_DOMAIN, uni, p, n, full, 28)
    if rc == MSG_OK:
        rc = _ntlm_string(m, &m.user, NTLM_HAVE_USER, uni, p, n, full, 36)
    if rc == MSG_OK:
        rc = _ntlm_string(m, &m.host, NTLM_HAVE_HOST, uni, p, n, full, 44)
    if rc == MSG_OK:
        rc = _ntlm_field(p, n, full, 52, &off, &length)
    if rc != MSG_OK:
        return rc
    m.key_len = length
    rc = _ntlm_field(p, n, full, 12, &off, &length)
    if rc != MSG_OK:
        return rc
    m.lm_len = length
    rc = _ntlm_field(p, n, full, 20, &off, &length)
    if rc != MSG_OK:
        return rc
    m.nt_len = length
    m.ntlm_version = 0 if length == 0 else (1 if length == 24 else 2)
    m.have |= NTLM_HAVE_RESPONSES
    low = _ntlm_payload_start(p, n)
    m.has_mic = 1 if (low >= 88 and low != UINT32_MAX and full >= 88) else 0
    m.have |= NTLM_HAVE_MIC
    if low >= 72:
        rc = _ntlm_version(m, p, n, 64)
        if rc != MSG_OK:
            return rc
    if m.ntlm_version == 2 and length > NTLM_V2_BLOB:
        if not span_in(off, NTLM_V2_BLOB, n):
            return MSG_PREFIX
        m.timestamp = rd64(p + off + 24)
        m.have |= NTLM_HAVE_TIMESTAMP
        return ntlm_av_pairs(m, p, n, off + NTLM_V2_BLOB, length - NTLM_V2_BLOB)
    return MSG_OK


cdef inline bint ntlm_signature(const uint8_t* p, uint32_t n) noexcept nogil:
    """The bytes we have of p[0:8] are "NTLMSSP\\0" (as far as n reaches)."""
    cdef const char* sig = "NTLMSSP"          # and its NUL
    cdef uint32_t i
    for i in range(8 if n > 8 else n):
        if p[i] != <uint8_t>sig[i]:
            return False
    return True


cdef inline int ntlm_parse(const uint8_t* p, uint32_t n, uint32_t full,
                           NtlmMsg* out) noexcept nogil:
    cdef int rc
    ntlm_clear(out)
    if n > full:
        n = full
    if not ntlm_signature(p, n) or full < 12:
        return MSG_NOT
    if n < 12:
        return MSG_PREFIX
    out.type = rd32(p + 8)
    if out.type < NTLM_NEGOTIATE or out.type > NTLM_AUTHENTICATE:
        return MSG_NOT
    out.have |= NTLM_HAVE_TYPE
    cdef uint32_t flags_at = 12 if out.type == NTLM_NEGOTIATE else (
        20 if out.type == NTLM_CHALLENGE else 60)
    if full < flags_at + 4:
        return MSG_BAD
    if n < flags_at + 4:
        return MSG_PREFIX
    out.flags = rd32(p + flags_at)
    out.have |= NTLM_HAVE_FLAGS
    if out.type == NTLM_NEGOTIATE:
        rc = _ntlm_negotiate(out, p, n, full)
    elif out.type == NTLM_CHALLENGE:
        rc = _ntlm_challenge(out, p, n, full)
    else:
        rc = _ntlm_authenticate(out, p, n, full)
    if rc == MSG_OK and n < full:
        return MSG_PREFIX
    return rc
