# Reading one message of an application protocol from a byte buffer: the three outcomes,
# little-endian fields, and strings copied into fixed-size arrays.
#
# A message parser is `NAME_parse(p, n, full, out)`: p[0:n] are the bytes we have of one
# message whose real length is full (>= n; a snap length or a parse budget cut it). It
# returns MSG_OK (parsed whole), MSG_PREFIX (every byte we have is consistent with the
# protocol; the fields past the cut are absent: their `have` bits are clear, a string
# cut in the middle is flagged STR_CUT) or a negative code (MSG_NOT: not this protocol;
# MSG_BAD: a length or offset that no valid message has). Whatever the outcome, `out`
# holds every field decided before it (its `have` bits say which).
#
# Nothing here allocates or touches Python; every read is checked against n, every
# length or offset from the wire against full (in 64-bit arithmetic, so no sum wraps).

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef enum:
    MSG_OK = 0
    MSG_PREFIX = 1
    MSG_NOT = -1          # not this protocol (magic, version, structure size)
    MSG_BAD = -2          # malformed: a length, offset or count no valid message has

    STR_CAP = 256         # bytes of a string array, its NUL included
    STR_CUT = 1           # the field runs past the bytes we have: the part we have is kept
    STR_LONG = 2          # the field is longer than the array: cut at a character boundary
    STR_BADCHAR = 4       # an unpaired UTF-16 surrogate, an odd byte or a non-ASCII OEM
    #                       byte: written as U+FFFD (as Wireshark shows it)


cdef struct MsgStr:
    char s[STR_CAP]       # UTF-8, NUL-terminated
    uint16_t len          # bytes in s, NUL not counted (< STR_CAP)
    uint32_t wire_len     # bytes of the field on the wire (its length field)
    uint8_t flags         # STR_* bits


cdef inline uint16_t rd16(const uint8_t* p) noexcept nogil:
    """Little-endian 16 bits at p (the caller checked 2 bytes)."""
    return p[0] | (<uint16_t>p[1] << 8)


cdef inline uint32_t rd32(const uint8_t* p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline uint64_t rd64(const uint8_t* p) noexcept nogil:
    return rd32(p) | (<uint64_t>rd32(p + 4) << 32)


cdef inline bint span_in(uint64_t off, uint64_t length, uint64_t limit) noexcept nogil:
    """off + length <= limit (offsets and lengths from the wire are 32 bits: no wrap)."""
    return off + length <= limit


cdef inline void le_guid(const uint8_t* p, uint8_t* out) noexcept nogil:
    """A GUID stored little-endian (MS-DTYP 2.3.4.2, as SMB2 and NDR with a little-endian
    data representation send it) into its 16 bytes in text order."""
    out[0] = p[3]; out[1] = p[2]; out[2] = p[1]; out[3] = p[0]
    out[4] = p[5]; out[5] = p[4]; out[6] = p[7]; out[7] = p[6]
    cdef int i
    for i in range(8, 16):
        out[i] = p[i]


cdef inline void str_clear(MsgStr* d) noexcept nogil:
    d.s[0] = 0
    d.len = 0
    d.wire_len = 0
    d.flags = 0


cdef inline void str_put(MsgStr* d, uint32_t cp) noexcept nogil:
    """Append code point cp as UTF-8 if it fits whole (else STR_LONG, and nothing more is
    appended)."""
    cdef uint32_t need = 1 if cp < 0x80 else (2 if cp < 0x800 else (3 if cp < 0x10000 else 4))
    if d.flags & STR_LONG:
        return
    if d.len + need > STR_CAP - 1:
        d.flags |= STR_LONG
        return
    cdef char* o = d.s + d.len
    if need == 1:
        o[0] = <char>cp
    elif need == 2:
        o[0] = <char>(0xC0 | (cp >> 6))
        o[1] = <char>(0x80 | (cp & 0x3F))
    elif need == 3:
        o[0] = <char>(0xE0 | (cp >> 12))
        o[1] = <char>(0x80 | ((cp >> 6) & 0x3F))
        o[2] = <char>(0x80 | (cp & 0x3F))
    else:
        o[0] = <char>(0xF0 | (cp >> 18))
        o[1] = <char>(0x80 | ((cp >> 12) & 0x3F))
        o[2] = <char>(0x80 | ((cp >> 6) & 0x3F))
        o[3] = <char>(0x80 | (cp & 0x3F))
    d.len += need
    d.s[d.len] = 0


cdef inline uint32_t _str_have(MsgStr* d, uint32_t n, uint32_t off, uint32_t length) noexcept nogil:
    """Bytes of the field p[off:off + length] that lie within p[0:n]; flags STR_CUT when
    that is fewer than length."""
    str_clear(d)
    d.wire_len = length
    if off >= n:
        if length:
            d.flags |= STR_CUT
        return 0
    if length > n - off:
        d.flags |= STR_CUT
        return n - off
    return length


cdef inline void str_utf16(MsgStr* d, const uint8_t* p, uint32_t n, uint32_t off,
                           uint32_t length) noexcept nogil:
    """The UTF-16LE field p[off:off + length] as UTF-8 in d (the caller checked that the
    field lies within the message's real length; only the bytes within n are read). A
    NUL ends the string (Windows pads some names with one)."""
    cdef uint32_t have = _str_have(d, n, off, length)
    cdef uint32_t i = 0, u, w
    cdef const uint8_t* q = p + off
    while i + 1 < have:
        u = rd16(q + i)
        i += 2
        if u == 0:
            return
        if 0xD800 <= u < 0xDC00:
            if i + 1 < have and 0xDC00 <= rd16(q + i) < 0xE000:
                w = rd16(q + i)
                i += 2
                u = 0x10000 + ((u - 0xD800) << 10) + (w - 0xDC00)
            elif i + 1 >= have and (d.flags & STR_CUT):
                return                       # the pair's second half is past the cut
            else:
                d.flags |= STR_BADCHAR
                u = 0xFFFD
        elif 0xDC00 <= u < 0xE000:
            d.flags |= STR_BADCHAR
            u = 0xFFFD
        str_put(d, u)
    if i < have and not (d.flags & STR_CUT):
        d.flags |= STR_BADCHAR               # an odd byte at the end
        str_put(d, 0xFFFD)


cdef inline void str_oem(MsgStr* d, const uint8_t* p, uint32_t n, uint32_t off,
                         uint32_t length) noexcept nogil:
    """The 8-bit (OEM/ASCII) field p[off:off + length] in d: ASCII as is, a byte >= 0x80
    as U+FFFD (flagged STR_BADCHAR); a NUL ends it."""
    cdef uint32_t have = _str_have(d, n, off, length)
    cdef uint32_t i
    for i in range(have):
        if p[off + i] == 0:
            return
        if p[off + i] >= 0x80:
            d.flags |= STR_BADCHAR
            str_put(d, 0xFFFD)
        else:
            str_put(d, p[off + i])
