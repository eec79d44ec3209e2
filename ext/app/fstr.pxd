# Fixed-size string fields of the message parsers' output structs.
#
# A string from the wire is copied into a char array of fixed size, NUL-terminated,
# beside its real length, so that a long or cut string never overruns and is never
# mistaken for a whole one:
#   len     the string's length in the message (bytes; all parts for a joined name)
#   n       bytes copied into s (at most the array's size - 1); s[n] == 0
#   flags   FS_PRESENT  the field was in the message (whole or in part)
#           FS_CAPPED   longer than the array: s holds its first n bytes
#           FS_CUT      the bytes we have of the message ended inside it (a prefix: a
#                       capture cut by the snap length): s holds what was there
# The copy functions take the array and its size, so the larger arrays of a room (SSH's
# HASSH strings) use them too. Bytes are copied as they are (no decoding): a NUL inside a
# string stays in s[0:n], so n, not strlen(s), is the copied length.

from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy

cdef enum:
    FSTR_CAP = 128          # FStr.s: bytes, the NUL included
    FS_PRESENT = 1
    FS_CAPPED = 2
    FS_CUT = 4

cdef struct FStr:
    uint32_t len
    uint16_t n
    uint8_t flags
    char s[FSTR_CAP]


cdef inline void fs_append(char* s, uint32_t cap, uint16_t* n, uint32_t* length,
                           uint8_t* flags, const uint8_t* src, uint32_t have,
                           uint32_t real) noexcept nogil:
    """Append `real` bytes of which `have` (<= real) are at src to s (cap bytes with the
    NUL): copies what fits, adds `real` to the length, flags CAPPED / CUT."""
    cdef uint32_t room = cap - 1 - n[0] if cap > n[0] + 1u else 0
    cdef uint32_t k
    if have > real:
        have = real
    k = have if have < room else room
    if k:
        memcpy(s + n[0], src, k)
        n[0] = <uint16_t>(n[0] + k)
    s[n[0]] = 0
    length[0] += real
    flags[0] |= FS_PRESENT
    if k < have:
        flags[0] |= FS_CAPPED
    if have < real:
        flags[0] |= FS_CUT


cdef inline void fstr_add(FStr* f, const uint8_t* src, uint32_t have,
                          uint32_t real) noexcept nogil:
    """Append a piece of `real` bytes, `have` of them at src (a prefix when fewer)."""
    fs_append(f.s, FSTR_CAP, &f.n, &f.len, &f.flags, src, have, real)


cdef inline void fstr_set(FStr* f, const uint8_t* src, uint32_t have,
                          uint32_t real) noexcept nogil:
    """The field is these bytes (replacing anything set before)."""
    f.n = 0
    f.len = 0
    f.flags = 0
    fstr_add(f, src, have, real)


cdef inline void fstr_sep(FStr* f, char c) noexcept nogil:
    """Append one separator byte (counted in len like the parts)."""
    cdef uint8_t b = <uint8_t>c
    fstr_add(f, &b, 1, 1)


cdef inline uint16_t fstr_copy(uint8_t* out, uint32_t cap, const FStr* f, uint8_t* status,
                               uint8_t have, uint8_t trunc) noexcept nogil:
    """Copy a parsed string into a fixed event field of cap bytes (no NUL kept): `have`
    set in status when the field was in the message, `trunc` too when it is longer than
    cap, longer than the FStr kept or cut. Returns the bytes copied."""
    cdef uint32_t k = f.n if f.n < cap else cap
    if not (f.flags & FS_PRESENT):
        return 0
    status[0] |= have
    memcpy(out, f.s, k)
    if k < f.len or f.flags & (FS_CAPPED | FS_CUT):
        status[0] |= trunc
    return <uint16_t>k
