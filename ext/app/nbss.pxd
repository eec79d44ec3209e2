# NetBIOS session service framing (RFC 1002 4.3; [MS-SMB2] 2.1 "Direct TCP" on port 445
# uses the same 4 bytes: a zero type byte and a 24-bit length): the unit splitter in
# front of SMB on TCP 139 and 445.
#
# nbss_header(p, n, out): the 4-byte header at p. MSG_OK: out.length is the payload's
# length, the unit is 4 + out.length bytes; out.smb says what the payload starts with
# when its first 4 bytes are within n (SMB1 0xFF 'SMB', SMB2 0xFE 'SMB', encrypted SMB3
# 0xFD 'SMB', compressed SMB3 0xFC 'SMB'). MSG_PREFIX: fewer than 4 bytes, all of them
# possible. MSG_NOT: a type RFC 1002 does not define, or a non-message type whose length
# is not the few bytes its RFC 1002 packet has.

from libc.stdint cimport uint8_t, uint16_t, uint32_t
from msgio cimport MSG_OK, MSG_PREFIX, MSG_NOT
from win_names cimport NBSS_MESSAGE, NBSS_KEEPALIVE

cdef enum:
    NBSS_HDR = 4
    NBSS_MAX_CONTROL = 1024   # length cap of a non-message packet (a session request
    #                           carries two 34-byte encoded names; RFC 1002 4.3.2)
    SMB_NONE = 0              # payload start unknown (not within n) or none of these
    SMB_V1 = 1                # 0xFF 'SMB'
    SMB_V2 = 2                # 0xFE 'SMB'
    SMB_ENCRYPTED = 3         # 0xFD 'SMB' ([MS-SMB2] 2.2.41 transform header)
    SMB_COMPRESSED = 4        # 0xFC 'SMB' ([MS-SMB2] 2.2.42 compression transform header)


cdef struct NbssHdr:
    uint8_t type              # RFC 1002 packet type (NBSS_TYPES)
    uint32_t length           # payload bytes after the 4-byte header
    uint8_t smb               # SMB_* of the payload's first 4 bytes


cdef inline uint8_t smb_magic(const uint8_t* p, uint32_t n) noexcept nogil:
    """SMB_* of the 4 bytes at p (SMB_NONE when n < 4 or none matches)."""
    if n < 4 or p[1] != 0x53 or p[2] != 0x4D or p[3] != 0x42:
        return SMB_NONE
    if p[0] == 0xFF:
        return SMB_V1
    if p[0] == 0xFE:
        return SMB_V2
    if p[0] == 0xFD:
        return SMB_ENCRYPTED
    if p[0] == 0xFC:
        return SMB_COMPRESSED
    return SMB_NONE


cdef inline bint nbss_type_ok(uint8_t t) noexcept nogil:
    return t == NBSS_MESSAGE or (0x81 <= t <= NBSS_KEEPALIVE)


cdef inline int nbss_header(const uint8_t* p, uint32_t n, NbssHdr* out) noexcept nogil:
    out.type = 0
    out.length = 0
    out.smb = SMB_NONE
    if n == 0:
        return MSG_PREFIX
    if not nbss_type_ok(p[0]):
        return MSG_NOT
    out.type = p[0]
    if n < NBSS_HDR:
        return MSG_PREFIX
    out.length = (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]
    if out.type != NBSS_MESSAGE:
        # RFC 1002: only the E (length extension) bit of the flags byte may be set
        if (p[1] & 0xFE) or out.length > NBSS_MAX_CONTROL:
            return MSG_NOT
    elif n > NBSS_HDR:
        out.smb = smb_magic(p + NBSS_HDR, n - NBSS_HDR)
    return MSG_OK
