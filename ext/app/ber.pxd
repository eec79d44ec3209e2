# cython: language_level=3
"""ASN.1 BER/DER reader (X.690), bounds-checked, for the parsers of untrusted bytes:
X.509 (DER), Kerberos (DER) and LDAP (BER). Nothing is allocated; every read stays in
p[0:n].

Coordinates: offsets are from the start of the buffer p. `n` is how many bytes we have,
and an element's `end` is where its enclosing element ends by its declared length (which
may lie past n when the message is a prefix: a capture cut by the snap length). A header
or content that runs past `end` is malformed; one that runs past n but not past `end` is
cut (BER_CUT): the caller flags the fields from there on as absent.

Three outcomes of ber_read, as every parser here: BER_OK (header and content within n),
BER_CUT (within `end`, but not within n: a prefix; hdr_cut when the header itself ran
past n, and then only `start` is known), BER_ERR (malformed).

`der` (BER_DER, or 1) applies DER's rules: no indefinite length, a tag number in the
shortest form. Without it an indefinite length on a constructed element is read: its
content ends at an end-of-contents (00 00) found by walking it (ber_next), nested at most
BER_MAX_DEPTH deep. Long-form lengths with leading zeros (Active Directory writes
84 00 00 00 xx) are accepted in both modes, as the Kerberos and LDAP peers do. Walks are
bounded: BER_MAX_ITEMS children per constructed element.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from fstr cimport FStr, fstr_set

cdef enum:
    BER_OK = 0
    BER_CUT = 1
    BER_END = 2            # ber_next: no further child
    BER_ERR = -1
    BER_DER = 1            # ber_read's `der`: DER rules
    # classes (the identifier's top two bits)
    BER_UNIVERSAL = 0
    BER_APPLICATION = 1
    BER_CONTEXT = 2
    BER_PRIVATE = 3
    # universal tag numbers used by the parsers
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
    BER_NUMERIC_STRING = 18
    BER_PRINTABLE_STRING = 19
    BER_T61_STRING = 20
    BER_VIDEOTEX_STRING = 21
    BER_IA5_STRING = 22
    BER_UTC_TIME = 23
    BER_GENERALIZED_TIME = 24
    BER_GRAPHIC_STRING = 25
    BER_VISIBLE_STRING = 26
    BER_GENERAL_STRING = 27
    BER_UNIVERSAL_STRING = 28
    BER_BMP_STRING = 30
    # a tag number of more than 4 high-tag-number bytes (28 bits) is rejected
    BER_MAX_TAG_BYTES = 4
    # a length of more than 4 octets is rejected (no message here comes near 4 GiB)
    BER_MAX_LEN_BYTES = 4
    # nesting depth a parser may walk (recursion or loops over nested elements)
    BER_MAX_DEPTH = 16
    # children a walk reads of one constructed element
    BER_MAX_ITEMS = 4096


cdef struct BerTlv:
    uint8_t cls            # BER_UNIVERSAL .. BER_PRIVATE
    uint8_t constructed    # 1: constructed encoding
    uint8_t indefinite     # 1: indefinite length (BER only): content runs to its end-of-contents
    uint8_t hdr_cut        # 1: BER_CUT within the header (only `start` is known)
    uint32_t tag           # tag number
    uint32_t start         # offset of the identifier octet
    uint32_t off           # offset of the content
    uint32_t len           # content length as declared (indefinite: up to the enclosing end
                           # until ber_next found its end-of-contents)
    uint32_t end           # off + len
    uint32_t avail         # content bytes within n (== len unless BER_CUT)


cdef inline int ber_read(const uint8_t* p, uint32_t n, uint32_t at, uint32_t end, int der,
                         BerTlv* t) noexcept nogil:
    """The element at p[at]: identifier (high tag numbers too) and length (short, long,
    indefinite when not der). BER_OK, BER_CUT (t.off and what follows are only set when
    the header itself is within n: t.hdr_cut and t.off == 0 otherwise) or BER_ERR (runs
    past `end`, bad length, indefinite in DER, tag number over 28 bits or, in DER, not in
    its shortest form). An indefinite length is BER_OK once its header is read: its
    content runs up to `end` until a walk (ber_next) finds its end-of-contents."""
    cdef uint32_t i = at, k, nb
    cdef uint64_t length = 0
    cdef uint8_t b
    t.off = 0
    t.len = 0
    t.end = 0
    t.avail = 0
    t.indefinite = 0
    t.hdr_cut = 0
    t.start = at
    if at >= end:
        return BER_ERR
    if at >= n:
        t.hdr_cut = 1
        return BER_CUT
    b = p[i]
    i += 1
    t.cls = b >> 6
    t.constructed = (b >> 5) & 1
    t.tag = b & 0x1f
    if t.tag == 0x1f:                       # high-tag-number form: base-128 digits
        t.tag = 0
        k = 0
        while True:
            if i >= end or k == BER_MAX_TAG_BYTES:
                return BER_ERR
            if i >= n:
                t.hdr_cut = 1
                return BER_CUT
            b = p[i]
            i += 1
            k += 1
            if k == 1 and b == 0x80 and der:
                return BER_ERR               # DER: no leading zero group
            t.tag = (t.tag << 7) | (b & 0x7f)
            if not (b & 0x80):
                break
        if t.tag < 31 and der:
            return BER_ERR                   # DER: a low tag number in the short form
    if i >= end:
        return BER_ERR
    if i >= n:
        t.hdr_cut = 1
        return BER_CUT
    b = p[i]
    i += 1
    if b < 0x80:
        length = b
    elif b == 0x80:                          # indefinite: constructed, BER only
        if der or not t.constructed:
            return BER_ERR
        t.indefinite = 1
        t.off = i
        t.len = end - i
        t.end = end
        t.avail = n - i if n < end else t.len
        return BER_OK
    else:
        nb = b & 0x7f
        if nb > BER_MAX_LEN_BYTES or nb == 0x7f:
            return BER_ERR
        for k in range(nb):
            if i >= end:
                return BER_ERR
            if i >= n:
                t.hdr_cut = 1
                return BER_CUT
            length = (length << 8) | p[i]
            i += 1
    if length > <uint64_t>(end - i):
        return BER_ERR
    t.off = i
    t.len = <uint32_t>length
    t.end = i + t.len
    t.avail = t.len if t.end <= n else (n - i if n > i else 0)
    return BER_OK if t.end <= n else BER_CUT


cdef struct BerWalk:       # the children of one constructed element
    uint32_t at            # next child's offset
    uint32_t end           # the parent's content end
    uint32_t items         # children read
    uint8_t indefinite     # the parent has an indefinite length: stop at 00 00
    uint8_t der
    uint8_t depth          # the parent's nesting depth


cdef inline void ber_walk_init(BerWalk* w, const BerTlv* parent, int der,
                               uint8_t depth) noexcept nogil:
    """Walk the children of a constructed element (depth: its nesting, 0 at the top)."""
    w.at = parent.off
    w.end = parent.end
    w.items = 0
    w.indefinite = parent.indefinite
    w.der = <uint8_t>der
    w.depth = depth


cdef inline int ber_skip_indef(const uint8_t* p, uint32_t n, BerTlv* t, int der,
                               uint8_t depth) noexcept nogil:
    """Find the end-of-contents of an indefinite element t (its children walked, nested
    ones recursively): sets t.len, t.end (past the 00 00) and t.avail. BER_CUT when the
    bytes end first, BER_ERR past BER_MAX_DEPTH or when its container ends first."""
    cdef BerWalk w
    cdef BerTlv c
    cdef int rc
    if depth >= BER_MAX_DEPTH:
        return BER_ERR
    ber_walk_init(&w, t, der, depth)
    while True:
        rc = ber_next(&w, p, n, &c)
        if rc == BER_END:
            t.len = w.at - t.off - 2
            t.end = w.at
            t.avail = t.len
            return BER_OK
        if rc != BER_OK:
            return rc


cdef inline int ber_next(BerWalk* w, const uint8_t* p, uint32_t n,
                         BerTlv* t) noexcept nogil:
    """The next child into t: BER_OK (w moves past it), BER_CUT (t runs past n; the walk
    ends there), BER_END (no more children: past the end, or at the end-of-contents of an
    indefinite parent), BER_ERR."""
    cdef int rc
    if not w.indefinite and w.at >= w.end:
        return BER_END
    if w.items >= BER_MAX_ITEMS:
        return BER_ERR
    rc = ber_read(p, n, w.at, w.end, w.der, t)
    if rc == BER_ERR:
        return rc
    if rc == BER_OK and w.indefinite and t.cls == 0 and t.tag == 0 and not t.constructed:
        if t.len != 0:
            return BER_ERR
        w.at = t.end                        # past the end-of-contents
        w.indefinite = 0
        w.end = w.at
        return BER_END
    if rc == BER_OK and t.indefinite:
        rc = ber_skip_indef(p, n, t, w.der, <uint8_t>(w.depth + 1))
        if rc == BER_ERR:
            return rc
    w.items += 1
    if rc == BER_CUT:
        w.at = w.end
        w.indefinite = 0
        return BER_CUT
    w.at = t.end
    return BER_OK


cdef inline int ber_inner(const uint8_t* p, uint32_t n, const BerTlv* t, int der,
                          BerTlv* inner) noexcept nogil:
    """The first element inside constructed t (an EXPLICIT tag's content)."""
    if not t.constructed or t.hdr_cut:
        return BER_ERR
    return ber_read(p, n, t.off, t.end, der, inner)


cdef inline bint ber_is(const BerTlv* t, uint8_t cls, uint8_t constructed,
                        uint32_t tag) noexcept nogil:
    """Whether the element has this class, form and tag number."""
    return t.cls == cls and t.constructed == constructed and t.tag == tag


cdef inline int ber_uint64(const uint8_t* p, const BerTlv* t, uint64_t* v) noexcept nogil:
    """A non-negative INTEGER (or ENUMERATED) content of at most 8 significant bytes (a
    leading 0x00 allowed) into *v. BER_ERR when empty, negative, too large or cut."""
    cdef uint32_t i = t.off, e = t.off + t.len
    if t.len == 0 or t.avail < t.len or p[i] & 0x80:
        return BER_ERR
    if p[i] == 0 and t.len > 1:
        i += 1
    if e - i > 8:
        return BER_ERR
    v[0] = 0
    while i < e:
        v[0] = (v[0] << 8) | p[i]
        i += 1
    return BER_OK


cdef inline int ber_int64(const uint8_t* p, const BerTlv* t, int64_t* v) noexcept nogil:
    """A signed INTEGER content of 1..8 bytes (two's complement) into *v; BER_ERR else."""
    cdef uint32_t i
    cdef uint64_t u
    if t.len == 0 or t.len > 8 or t.avail < t.len:
        return BER_ERR
    u = 0xffffffffffffffff if p[t.off] & 0x80 else 0
    for i in range(t.off, t.off + t.len):
        u = (u << 8) | p[i]
    v[0] = <int64_t>u
    return BER_OK


cdef inline int ber_int(const uint8_t* p, const BerTlv* t, int64_t* v) noexcept nogil:
    """A primitive INTEGER / ENUMERATED of 1..8 bytes (ber_int64) that may be cut:
    BER_CUT when its content runs past the bytes we have, BER_ERR when malformed."""
    if t.hdr_cut or t.constructed or t.len == 0 or t.len > 8:
        return BER_ERR
    if t.avail < t.len:
        return BER_CUT
    return ber_int64(p, t, v)


cdef inline int ber_uint32(const uint8_t* p, const BerTlv* t, uint32_t* v) noexcept nogil:
    """An INTEGER that must lie in 0 .. 2**32-1 (Kerberos UInt32, LDAP message IDs)."""
    cdef int64_t x
    cdef int rc = ber_int(p, t, &x)
    if rc != BER_OK:
        return rc
    if x < 0 or x > <int64_t>0xFFFFFFFF:
        return BER_ERR
    v[0] = <uint32_t>x
    return BER_OK


cdef inline int ber_explicit(const uint8_t* p, uint32_t n, const BerTlv* t, int der,
                             uint32_t tag, BerTlv* i) noexcept nogil:
    """The element inside an EXPLICIT [k] tag t into i, which must be of the universal
    type `tag` (else BER_ERR); BER_CUT / BER_ERR from ber_inner as they come."""
    cdef int rc = ber_inner(p, n, t, der, i)
    if rc != BER_OK:
        return rc
    if i.cls != BER_UNIVERSAL or i.tag != tag:
        return BER_ERR
    return BER_OK


cdef inline int ber_explicit_int(const uint8_t* p, uint32_t n, const BerTlv* t, int der,
                                 int64_t* v) noexcept nogil:
    """The INTEGER inside an EXPLICIT [k] tag t."""
    cdef BerTlv i
    cdef int rc = ber_explicit(p, n, t, der, BER_INTEGER, &i)
    if rc != BER_OK:
        return rc
    return ber_int(p, &i, v)


cdef inline int ber_after(int rc, int r2) noexcept nogil:
    """A walk's outcome after a field read with outcome rc, the walk's next step having
    returned r2: the walk's error, else cut when the field or the element holding it ran
    past the bytes (nothing after it can be read), else BER_OK."""
    if r2 == BER_ERR:
        return BER_ERR
    return BER_CUT if rc == BER_CUT or r2 == BER_CUT else BER_OK


cdef inline void ber_mark(uint32_t* present, uint32_t* partial, uint32_t bit, int rc,
                          bint stored) noexcept nogil:
    """Record field `bit` of a message after its reader returned rc: present when read
    whole, or cut with something stored (a string's first bytes, the first items of a
    list); partial then."""
    if rc == BER_OK:
        present[0] |= bit
    elif rc == BER_CUT and stored:
        present[0] |= bit
        partial[0] |= bit


cdef inline int ber_string(const uint8_t* p, const BerTlv* t, FStr* f) noexcept nogil:
    """A primitive string's bytes into the fixed string f (the bytes we have of it when
    cut: BER_CUT)."""
    if t.hdr_cut or t.constructed:
        return BER_ERR
    fstr_set(f, p + t.off, t.avail, t.len)
    return BER_CUT if t.avail < t.len else BER_OK


cdef inline bint ber_oid_is(const uint8_t* p, const BerTlv* t, const uint8_t* oid,
                            uint32_t oid_len) noexcept nogil:
    """Whether an OID element's content octets (whole, within n) equal oid[0:oid_len]."""
    cdef uint32_t i
    if t.len != oid_len or t.avail < t.len:
        return False
    for i in range(oid_len):
        if p[t.off + i] != oid[i]:
            return False
    return True


cdef struct BerOut:
    char* buf              # the fixed-size destination
    uint32_t cap           # its size (the text kept is at most cap - 1 bytes + NUL)
    uint32_t len           # the real length of the text written to it (may exceed cap - 1)


cdef inline void ber_out_init(BerOut* o, char* buf, uint32_t cap) noexcept nogil:
    o.buf = buf
    o.cap = cap
    o.len = 0
    if cap:
        buf[0] = 0


cdef inline void ber_out_byte(BerOut* o, uint8_t c) noexcept nogil:
    """Append one byte: kept while it fits (NUL-terminated), counted always."""
    if o.len + 1 < o.cap:
        o.buf[o.len] = <char>c
        o.buf[o.len + 1] = 0
    o.len += 1


cdef inline void ber_out_bytes(BerOut* o, const uint8_t* s, uint32_t k) noexcept nogil:
    cdef uint32_t i
    for i in range(k):
        ber_out_byte(o, s[i])


cdef inline void ber_out_str(BerOut* o, const char* s) noexcept nogil:
    """Append a NUL-terminated constant (a name from a table)."""
    cdef uint32_t i = 0
    while s[i] != 0 and i < 256:
        ber_out_byte(o, <uint8_t>s[i])
        i += 1


cdef inline void ber_out_uint(BerOut* o, uint64_t v) noexcept nogil:
    """Append v in decimal."""
    cdef uint8_t digits[20]
    cdef int k = 0
    while True:
        digits[k] = <uint8_t>(48 + v % 10)
        k += 1
        v //= 10
        if v == 0 or k == 20:
            break
    while k > 0:
        k -= 1
        ber_out_byte(o, digits[k])


cdef inline void ber_out_hex(BerOut* o, uint8_t b, bint upper) noexcept nogil:
    """Append a byte as two hex digits (upper or lower case)."""
    cdef const char* digits = b"0123456789abcdef"
    if upper:
        digits = b"0123456789ABCDEF"
    ber_out_byte(o, <uint8_t>digits[b >> 4])
    ber_out_byte(o, <uint8_t>digits[b & 15])


cdef inline bint ber_truncated(const BerOut* o) noexcept nogil:
    """Whether the text written is longer than the destination keeps."""
    return o.cap == 0 or o.len > o.cap - 1


cdef inline int ber_oid_text(const uint8_t* p, const BerTlv* t, BerOut* o) noexcept nogil:
    """Append an OID's dotted decimal form ("1.2.840.113549"); BER_ERR when an arc is over
    64 bits, the last arc unfinished or the content cut."""
    cdef uint32_t i
    cdef uint64_t arc = 0
    cdef int first = 1, digits = 0          # digits: of the arc being read
    if t.len == 0 or t.avail < t.len:
        return BER_ERR
    for i in range(t.off, t.off + t.len):
        if arc >> 57:                          # another 7 bits would pass 64
            return BER_ERR
        arc = (arc << 7) | (p[i] & 0x7f)
        digits += 1
        if p[i] & 0x80:
            continue
        if first:
            first = 0
            ber_out_uint(o, 0 if arc < 40 else (1 if arc < 80 else 2))
            ber_out_byte(o, 46)
            ber_out_uint(o, arc if arc < 40 else (arc - 40 if arc < 80 else arc - 80))
        else:
            ber_out_byte(o, 46)
            ber_out_uint(o, arc)
        arc = 0
        digits = 0
    return BER_ERR if digits else BER_OK


cdef inline bint ber_is_string_tag(uint32_t tag) noexcept nogil:
    """Universal tags whose content is text copied as it is (ASCII/UTF-8/8-bit)."""
    return tag in (BER_UTF8_STRING, BER_NUMERIC_STRING, BER_PRINTABLE_STRING, BER_T61_STRING,
                   BER_VIDEOTEX_STRING, BER_IA5_STRING, BER_GRAPHIC_STRING,
                   BER_VISIBLE_STRING, BER_GENERAL_STRING, 7)    # 7: ObjectDescriptor


cdef inline void ber_out_utf8(BerOut* o, uint32_t cp) noexcept nogil:
    """Append a code point as UTF-8 (surrogates and values over U+10FFFF as U+FFFD)."""
    if (0xd800 <= cp <= 0xdfff) or cp > 0x10ffff:
        cp = 0xfffd
    if cp < 0x80:
        ber_out_byte(o, <uint8_t>cp)
    elif cp < 0x800:
        ber_out_byte(o, <uint8_t>(0xc0 | (cp >> 6)))
        ber_out_byte(o, <uint8_t>(0x80 | (cp & 0x3f)))
    elif cp < 0x10000:
        ber_out_byte(o, <uint8_t>(0xe0 | (cp >> 12)))
        ber_out_byte(o, <uint8_t>(0x80 | ((cp >> 6) & 0x3f)))
        ber_out_byte(o, <uint8_t>(0x80 | (cp & 0x3f)))
    else:
        ber_out_byte(o, <uint8_t>(0xf0 | (cp >> 18)))
        ber_out_byte(o, <uint8_t>(0x80 | ((cp >> 12) & 0x3f)))
        ber_out_byte(o, <uint8_t>(0x80 | ((cp >> 6) & 0x3f)))
        ber_out_byte(o, <uint8_t>(0x80 | (cp & 0x3f)))


cdef inline int ber_out_bmp(BerOut* o, const uint8_t* p, const BerTlv* t) noexcept nogil:
    """Append a BMPString (UCS-2 big-endian) as UTF-8; BER_ERR on an odd length."""
    cdef uint32_t i
    if t.len & 1 or t.avail < t.len:
        return BER_ERR
    i = t.off
    while i + 1 < t.off + t.len:
        ber_out_utf8(o, (<uint32_t>p[i] << 8) | p[i + 1])
        i += 2
    return BER_OK


cdef inline int64_t ber_days_from_civil(int64_t y, int64_t m, int64_t d) noexcept nogil:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    cdef int64_t era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline int ber_digits(const uint8_t* p, uint32_t at, int k, int* v) noexcept nogil:
    """k ASCII digits at p[at] into *v (the caller checked they are within the element)."""
    cdef int i
    v[0] = 0
    for i in range(k):
        if not (48 <= p[at + i] <= 57):
            return BER_ERR
        v[0] = v[0] * 10 + (p[at + i] - 48)
    return BER_OK


cdef inline int ber_time(const uint8_t* p, const BerTlv* t, int64_t* epoch) noexcept nogil:
    """UTCTime (YYMMDDhhmm[ss], years 50-99 = 19xx as RFC 5280 says) or GeneralizedTime
    (YYYYMMDDhh[mm[ss]][.fff]) followed by Z or +hhmm/-hhmm (none: taken as UTC) into
    Unix seconds (fractions dropped). KerberosTime is a GeneralizedTime. BER_ERR when the
    text is not such a time or the content is cut."""
    cdef uint32_t i = t.off, e = t.off + t.len
    cdef int y, mo, d, h, mi = 0, s = 0, oh, om, sign
    cdef int64_t v
    if t.avail < t.len or t.len < 10 or t.len > 32:
        return BER_ERR
    if t.tag == BER_UTC_TIME:
        if ber_digits(p, i, 2, &y):
            return BER_ERR
        y += 1900 if y >= 50 else 2000
        i += 2
    elif t.tag == BER_GENERALIZED_TIME:
        if ber_digits(p, i, 4, &y):
            return BER_ERR
        i += 4
    else:
        return BER_ERR
    if e - i < 6 or ber_digits(p, i, 2, &mo) or ber_digits(p, i + 2, 2, &d) or \
            ber_digits(p, i + 4, 2, &h):
        return BER_ERR
    i += 6
    if e - i >= 2 and 48 <= p[i] <= 57:
        if ber_digits(p, i, 2, &mi):
            return BER_ERR
        i += 2
        if e - i >= 2 and 48 <= p[i] <= 57:
            if ber_digits(p, i, 2, &s):
                return BER_ERR
            i += 2
    if i < e and (p[i] == 46 or p[i] == 44):          # fraction of a second: dropped
        i += 1
        while i < e and 48 <= p[i] <= 57:
            i += 1
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60):
        return BER_ERR
    v = ber_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
    if i < e and p[i] == 90:                           # Z
        i += 1
    elif i < e and (p[i] == 43 or p[i] == 45):         # +hhmm / -hhmm
        sign = 1 if p[i] == 43 else -1
        if e - i < 5 or ber_digits(p, i + 1, 2, &oh) or ber_digits(p, i + 3, 2, &om):
            return BER_ERR
        v -= sign * (oh * 3600 + om * 60)
        i += 5
    if i != e:
        return BER_ERR
    epoch[0] = v
    return BER_OK


cdef inline int ber_gentime(const uint8_t* p, const BerTlv* t, int64_t* epoch) noexcept nogil:
    """A GeneralizedTime in KerberosTime's one form, "YYYYMMDDHHMMSSZ" (RFC 4120 5.2.3:
    no fraction, UTC), as seconds since the epoch (ber_time); BER_CUT when its content
    runs past the bytes we have, BER_ERR for any other form or an impossible date."""
    cdef int ms
    if t.hdr_cut or t.constructed or t.tag != BER_GENERALIZED_TIME or t.len != 15:
        return BER_ERR
    if t.avail < t.len:
        return BER_CUT
    # minutes and seconds present, then Z: ber_time reads exactly that form
    if ber_digits(p, t.off + 10, 4, &ms) or p[t.off + 14] != 90:
        return BER_ERR
    return ber_time(p, t, epoch)
