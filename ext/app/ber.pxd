# ASN.1 BER/DER reader (X.690), bounds-checked, for parsers of untrusted bytes (Kerberos
# in DER, LDAP in BER). Nothing is allocated; every read stays inside p[0:n].
#
# Offsets are from p. `n` is how many bytes we have; an element must end by its
# container's end (`limit`), which may lie past n when the bytes are a prefix of the
# message (a capture cut by the snap length). Three outcomes, as every parser here:
#   BER_OK   the element's header and content lie within n
#   BER_CUT  the element is well-formed as far as the bytes go but runs past n (its
#            content, or its header: then hdr_cut is set and only `start` is known)
#   BER_ERR  malformed: a header or length running past its container, a length of more
#            than 4 bytes, a tag above 2**28, an indefinite length in DER or on a
#            primitive element, an integer of the wrong size
# BER (flags without BER_DER) also accepts an indefinite length on a constructed
# element: its content ends at an end-of-contents (00 00) found by walking it, nested
# at most BER_MAX_DEPTH deep. Long-form lengths with leading zeros (Active Directory
# writes 84 00 00 00 xx) are accepted in both modes, as the Kerberos and LDAP peers do.
# Walks are bounded: BER_MAX_ITEMS children per constructed element.

from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from fstr cimport FStr, fstr_set

cdef enum:
    BER_OK = 0
    BER_CUT = 1
    BER_END = 2               # ber_next: no further child
    BER_ERR = -1
    BER_DER = 1               # flags: DER rules (no indefinite length)
    BER_MAX_DEPTH = 16
    BER_MAX_ITEMS = 4096
    # classes (the identifier's top two bits)
    BER_UNIVERSAL = 0
    BER_APPLICATION = 1
    BER_CONTEXT = 2
    BER_PRIVATE = 3
    # universal tag numbers
    BER_BOOLEAN = 1
    BER_INTEGER = 2
    BER_BIT_STRING = 3
    BER_OCTET_STRING = 4
    BER_NULL = 5
    BER_OID = 6
    BER_ENUMERATED = 10
    BER_UTF8_STRING = 12
    BER_SEQUENCE = 16
    BER_SET = 17
    BER_IA5_STRING = 22
    BER_GENERALIZED_TIME = 24
    BER_GENERAL_STRING = 27

cdef struct BerTlv:
    uint32_t start        # offset of the identifier octet
    uint32_t off          # offset of the content
    uint32_t len          # content length (indefinite: up to the container's end until
                          # ber_next found its end-of-contents)
    uint32_t end          # off + len (may lie past n)
    uint32_t tag
    uint8_t cls
    uint8_t cons          # constructed
    uint8_t indef         # indefinite length (BER)
    uint8_t hdr_cut       # the header itself ran past n

cdef struct BerWalk:      # the children of one constructed element
    uint32_t at           # next child's offset
    uint32_t end          # the parent's content end
    uint32_t items        # children read
    uint8_t indef         # the parent has an indefinite length: stop at 00 00
    uint8_t flags
    uint8_t depth         # the parent's nesting depth


cdef inline int ber_read(const uint8_t* p, uint32_t n, uint32_t at, uint32_t limit,
                         int flags, BerTlv* t) noexcept nogil:
    """The element at p[at:], which must end by `limit`, into t (header only)."""
    cdef uint32_t i = at, k, v
    cdef uint8_t b
    t.start = at
    t.hdr_cut = 0
    t.indef = 0
    if at >= limit:
        return BER_ERR
    if at >= n:
        t.hdr_cut = 1
        return BER_CUT
    b = p[i]
    i += 1
    t.cls = b >> 6
    t.cons = (b >> 5) & 1
    t.tag = b & 0x1F
    if t.tag == 0x1F:                        # high-tag-number form: 7 bits a byte
        t.tag = 0
        k = 0
        while True:
            if i >= limit or k == 4:
                return BER_ERR
            if i >= n:
                t.hdr_cut = 1
                return BER_CUT
            b = p[i]
            i += 1
            k += 1
            if k == 1 and b == 0x80 and flags & BER_DER:
                return BER_ERR               # DER: no leading zero group
            t.tag = (t.tag << 7) | (b & 0x7F)
            if not (b & 0x80):
                break
        if t.tag < 31 and flags & BER_DER:
            return BER_ERR
    if i >= limit:
        return BER_ERR
    if i >= n:
        t.hdr_cut = 1
        return BER_CUT
    b = p[i]
    i += 1
    if b < 0x80:
        v = b
    elif b == 0x80:                          # indefinite: constructed BER only
        if flags & BER_DER or not t.cons:
            return BER_ERR
        t.indef = 1
        t.off = i
        t.len = limit - i
        t.end = limit
        return BER_OK
    else:
        k = b & 0x7F
        if k > 4:
            return BER_ERR
        if i + k > limit:
            return BER_ERR
        if i + k > n:
            t.hdr_cut = 1
            return BER_CUT
        v = 0
        while k:
            v = (v << 8) | p[i]
            i += 1
            k -= 1
    t.off = i
    if v > limit - i:
        return BER_ERR                       # longer than its container
    t.len = v
    t.end = i + v
    return BER_CUT if t.end > n else BER_OK


cdef inline void ber_walk_init(BerWalk* w, const BerTlv* parent, int flags,
                               uint8_t depth) noexcept nogil:
    """Walk the children of a constructed element (depth: its nesting, 0 at the top)."""
    w.at = parent.off
    w.end = parent.end
    w.items = 0
    w.indef = parent.indef
    w.flags = <uint8_t>flags
    w.depth = depth


cdef inline int ber_skip_indef(const uint8_t* p, uint32_t n, BerTlv* t, int flags,
                               uint8_t depth) noexcept nogil:
    """Find the end-of-contents of an indefinite element t (its children walked, nested
    ones recursively): sets t.len and t.end (past the 00 00). BER_CUT when the bytes end
    first, BER_ERR past BER_MAX_DEPTH or when its container ends first."""
    cdef BerWalk w
    cdef BerTlv c
    cdef int rc
    if depth >= BER_MAX_DEPTH:
        return BER_ERR
    ber_walk_init(&w, t, flags, depth)
    while True:
        rc = ber_next(&w, p, n, &c)
        if rc == BER_END:
            t.len = w.at - t.off - 2
            t.end = w.at
            return BER_OK
        if rc != BER_OK:
            return rc


cdef inline int ber_next(BerWalk* w, const uint8_t* p, uint32_t n,
                         BerTlv* t) noexcept nogil:
    """The next child into t: BER_OK (w moves past it), BER_CUT (t runs past n; the walk
    ends there), BER_END (no more children: past the end, or at the end-of-contents of an
    indefinite parent), BER_ERR."""
    cdef int rc
    if not w.indef and w.at >= w.end:
        return BER_END
    if w.items >= BER_MAX_ITEMS:
        return BER_ERR
    rc = ber_read(p, n, w.at, w.end, w.flags, t)
    if rc == BER_ERR:
        return rc
    if rc == BER_OK and w.indef and t.cls == 0 and t.tag == 0 and not t.cons:
        if t.len != 0:
            return BER_ERR
        w.at = t.end                        # past the end-of-contents
        w.indef = 0
        w.end = w.at
        return BER_END
    if rc == BER_OK and t.indef:
        rc = ber_skip_indef(p, n, t, w.flags, <uint8_t>(w.depth + 1))
        if rc == BER_ERR:
            return rc
    w.items += 1
    if rc == BER_CUT:
        w.at = w.end
        w.indef = 0
        return BER_CUT
    w.at = t.end
    return BER_OK


cdef inline int ber_inner(const uint8_t* p, uint32_t n, const BerTlv* t, int flags,
                          BerTlv* inner) noexcept nogil:
    """The first element inside constructed t (an EXPLICIT tag's content)."""
    if not t.cons or t.hdr_cut:
        return BER_ERR
    return ber_read(p, n, t.off, t.end, flags, inner)


cdef inline int ber_int(const uint8_t* p, uint32_t n, const BerTlv* t,
                        int64_t* v) noexcept nogil:
    """A primitive INTEGER / ENUMERATED of 1..8 bytes (two's complement) whose bytes we
    have; a longer one is BER_ERR (no field read here needs more)."""
    cdef uint32_t i
    cdef uint64_t u
    if t.hdr_cut or t.cons or t.len == 0 or t.len > 8:
        return BER_ERR
    if t.end > n:
        return BER_CUT
    u = <uint64_t>0xFFFFFFFFFFFFFFFFu if p[t.off] & 0x80 else 0
    for i in range(t.off, t.end):
        u = (u << 8) | p[i]
    v[0] = <int64_t>u
    return BER_OK


cdef inline int ber_uint32(const uint8_t* p, uint32_t n, const BerTlv* t,
                           uint32_t* v) noexcept nogil:
    """An INTEGER that must lie in 0 .. 2**32-1 (Kerberos UInt32, LDAP message IDs)."""
    cdef int64_t x
    cdef int rc = ber_int(p, n, t, &x)
    if rc != BER_OK:
        return rc
    if x < 0 or x > <int64_t>0xFFFFFFFF:
        return BER_ERR
    v[0] = <uint32_t>x
    return BER_OK


cdef inline int ber_explicit_int(const uint8_t* p, uint32_t n, const BerTlv* t, int flags,
                                 int64_t* v) noexcept nogil:
    """The INTEGER inside an EXPLICIT [k] tag t."""
    cdef BerTlv i
    cdef int rc = ber_inner(p, n, t, flags, &i)
    if rc != BER_OK:
        return rc
    if i.cls != BER_UNIVERSAL or i.tag != BER_INTEGER:
        return BER_ERR
    return ber_int(p, n, &i, v)


cdef inline int ber_string(const uint8_t* p, uint32_t n, const BerTlv* t,
                           FStr* f) noexcept nogil:
    """A primitive string's bytes into f (the bytes we have of it when cut: BER_CUT)."""
    cdef uint32_t have
    if t.hdr_cut or t.cons:
        return BER_ERR
    have = (n - t.off if n > t.off else 0) if t.end > n else t.len
    fstr_set(f, p + t.off, have, t.len)
    return BER_CUT if t.end > n else BER_OK


cdef inline int ber_digits(const uint8_t* p, uint32_t at, uint32_t k,
                           int64_t* v) noexcept nogil:
    """k decimal digits at p[at:] (the caller checked they lie within the element)."""
    cdef uint32_t i
    v[0] = 0
    for i in range(at, at + k):
        if p[i] < 48 or p[i] > 57:
            return BER_ERR
        v[0] = v[0] * 10 + (p[i] - 48)
    return BER_OK


cdef inline int64_t ber_days(int64_t y, int64_t m, int64_t d) noexcept nogil:
    """Days from 1970-01-01 to y-m-d (proleptic Gregorian; Hinnant's days_from_civil)."""
    cdef int64_t era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline int ber_gentime(const uint8_t* p, uint32_t n, const BerTlv* t,
                            int64_t* epoch) noexcept nogil:
    """A GeneralizedTime "YYYYMMDDHHMMSSZ" (KerberosTime, RFC 4120 5.2.3: no fraction)
    as seconds since the epoch; BER_ERR for any other form or an impossible date."""
    cdef int64_t f[6]
    cdef uint32_t k
    cdef uint32_t at
    if t.hdr_cut or t.cons or t.len != 15:
        return BER_ERR
    if t.end > n:
        return BER_CUT
    if ber_digits(p, t.off, 4, &f[0]) != BER_OK:
        return BER_ERR
    at = t.off + 4
    for k in range(1, 6):                    # month, day, hour, minute, second
        if ber_digits(p, at, 2, &f[k]) != BER_OK:
            return BER_ERR
        at += 2
    if p[at] != 90:                          # 'Z'
        return BER_ERR
    if not (1 <= f[1] <= 12 and 1 <= f[2] <= 31 and f[3] <= 23 and f[4] <= 59 and
            f[5] <= 60):
        return BER_ERR
    epoch[0] = ber_days(f[0], f[1], f[2]) * 86400 + f[3] * 3600 + f[4] * 60 + f[5]
    return BER_OK
