"""EVE dns lines from DNS event records, in C (as eve.pyx writes flow lines).

format_dns(records) turns an array of DNS_EVENT_DTYPE (appcore.pyx, from DnsEvent in
app/dns.pxd) into the bytes of one EVE-JSON "dns" event per record, newline-terminated:
the same bytes as json.dumps (separators ",", ":", ensure_ascii) of the event
wirescore/outputs/eve_dns.py builds (DnsEventFormatter, the reference, whose docstring
says what is written); a test holds the two byte-identical.

Strings are JSON-escaped as json.dumps does with ensure_ascii: \\" \\\\ \\n \\r \\t \\b \\f,
\\u00XX for the other control bytes and DEL, \\uXXXX (a surrogate pair above U+FFFF) for
every other character outside ASCII. Bytes that are not (strict) UTF-8 are written as
eve_dns.text_of makes them: each byte above 0x7f as the text \\xNN (escaped: \\\\xNN).

Every read of a record's text is clamped to text_len and DNS_TEXT, and the answers to
DNS_ANSWERS. A line has no fixed bound (a TXT record's strings each repeat the answer's
name), so every write is checked against the buffer's end: a record that does not fit
is written again after the buffer was flushed (fd) or doubled, up to BUF_LIMIT bytes.
"""
import numpy as np
cimport numpy as cnp

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, strlen
from cpython.bytes cimport PyBytes_FromStringAndSize

from evefmt cimport (TsCache, put_u64, put_ts, put_ip, put_cid, write_all, PUT_U64_MAX,
                     PUT_TS_LEN, PUT_IP_MAX, PUT_CID_LEN)
from enums cimport (DNS_ANSWERS, DNS_TEXT, N_DNS_RRTYPES, N_DNS_RCODES, ws_dns_rrtypes,
                    ws_dns_rcodes, ws_proto_name)
from app.dns cimport (DnsEvent, T_A, T_AAAA, T_CNAME, T_MX, T_NS, T_PTR, T_TXT, T_NULL,
                      DE_QUESTION, DE_QNAME_TRUNC, DA_DATA)

cnp.import_array()

cdef extern from "<errno.h>" nogil:
    int ENOMEM

cdef enum:
    BUF_START = 1 << 18        # the buffer's first size, bytes
    BUF_FLUSH = 1 << 18        # with fd: write() once this much is buffered
    BUF_LIMIT = 1 << 26        # the most one record may need (the worst needs ~7 MB)
    RRTYPE_TOP = 257           # rrtypes below this are looked up in RRTYPE_NAME

# the EVE name of each RR type below RRTYPE_TOP and RCODE below 16 (NULL: its number)
cdef const char* RRTYPE_NAME[RRTYPE_TOP]
cdef const char* RCODE_NAME[16]
cdef int _i
for _i in range(RRTYPE_TOP):
    RRTYPE_NAME[_i] = NULL
for _i in range(16):
    RCODE_NAME[_i] = NULL
for _i in range(N_DNS_RRTYPES):
    if ws_dns_rrtypes[_i].value < RRTYPE_TOP:
        RRTYPE_NAME[ws_dns_rrtypes[_i].value] = ws_dns_rrtypes[_i].name
for _i in range(N_DNS_RCODES):
    if ws_dns_rcodes[_i].value < 16:
        RCODE_NAME[ws_dns_rcodes[_i].value] = ws_dns_rcodes[_i].name

cdef const char* HEX = b"0123456789abcdef"


cdef struct Out:                # a checked writer: [p, end) is free
    char* p
    char* end
    bint full                   # a write did not fit (nothing written from then on)


cdef inline bint room(Out* o, size_t n) noexcept nogil:
    if o.full or <size_t>(o.end - o.p) < n:
        o.full = True
        return False
    return True


cdef inline void o_put(Out* o, const char* s) noexcept nogil:
    cdef size_t n = strlen(s)
    if room(o, n):
        memcpy(o.p, s, n)
        o.p += n


cdef inline void o_u64(Out* o, uint64_t v) noexcept nogil:
    if room(o, PUT_U64_MAX):
        o.p = put_u64(o.p, v)


cdef inline void o_named(Out* o, const char* name, uint64_t v) noexcept nogil:
    """A quoted name, or the number v quoted when name is NULL."""
    o_put(o, b"\"")
    if name != NULL:
        o_put(o, name)
    else:
        o_u64(o, v)
    o_put(o, b"\"")


cdef inline char* put_u4(char* p, uint32_t v) noexcept nogil:
    """\\uXXXX (v < 0x10000), lower-case hex as json.dumps writes it."""
    p[0] = 92
    p[1] = 117
    p[2] = HEX[(v >> 12) & 15]
    p[3] = HEX[(v >> 8) & 15]
    p[4] = HEX[(v >> 4) & 15]
    p[5] = HEX[v & 15]
    return p + 6


cdef inline char* put_ascii(char* p, uint8_t c) noexcept nogil:
    """One ASCII character as json.dumps (ensure_ascii) writes it: at most 6 bytes."""
    if 0x20 <= c <= 0x7e and c != 34 and c != 92:
        p[0] = <char>c
        return p + 1
    p[0] = 92
    if c == 34 or c == 92:
        p[1] = <char>c
    elif c == 10:
        p[1] = 110          # n
    elif c == 13:
        p[1] = 114          # r
    elif c == 9:
        p[1] = 116          # t
    elif c == 8:
        p[1] = 98           # b
    elif c == 12:
        p[1] = 102          # f
    else:
        return put_u4(p, c)
    return p + 2


cdef inline int utf8_seq(const uint8_t* s, size_t n, size_t i, uint32_t* cp) noexcept nogil:
    """The length of the UTF-8 sequence at s[i] (n > i) and its code point, or 0 when it
    is not one Python's strict decoder takes (overlong forms, surrogates, above
    U+10FFFF, cut)."""
    cdef uint8_t c = s[i], lo, hi
    cdef int k, length
    if c < 0x80:
        cp[0] = c
        return 1
    if c < 0xC2 or c >= 0xF5:
        return 0
    lo = 0xA0 if c == 0xE0 else (0x90 if c == 0xF0 else 0x80)
    hi = 0x9F if c == 0xED else (0x8F if c == 0xF4 else 0xBF)
    length = 2 if c < 0xE0 else (3 if c < 0xF0 else 4)
    cp[0] = c & (0x1F if length == 2 else (0x0F if length == 3 else 0x07))
    if n - i < <size_t>length or not lo <= s[i + 1] <= hi:
        return 0
    for k in range(1, length):
        if k > 1 and not 0x80 <= s[i + k] <= 0xBF:
            return 0
        cp[0] = (cp[0] << 6) | (s[i + k] & 0x3F)
    return length


cdef void o_text(Out* o, const uint8_t* s, size_t n) noexcept nogil:
    """s[0:n] as a JSON string, as json.dumps(eve_dns.text_of(s)) writes it: at most
    6 bytes a byte and the quotes."""
    cdef char* p
    cdef size_t i = 0
    cdef uint32_t cp
    cdef int k
    if not room(o, 6 * n + 2):
        return
    p = o.p
    p[0] = 34
    p += 1
    while i < n:
        if 0x20 <= s[i] <= 0x7e and s[i] != 34 and s[i] != 92:     # as it is
            p[0] = <char>s[i]
            p += 1
            i += 1
            continue
        k = utf8_seq(s, n, i, &cp)
        if k == 0:
            break
        i += k
        if cp < 0x80:
            p = put_ascii(p, <uint8_t>cp)
        elif cp < 0x10000:
            p = put_u4(p, cp)
        else:
            cp -= 0x10000
            p = put_u4(p, 0xD800 + (cp >> 10))
            p = put_u4(p, 0xDC00 + (cp & 0x3FF))
    if i < n:                       # not UTF-8: each byte above 0x7f as \xNN
        p = o.p + 1
        for i in range(n):
            if s[i] < 0x80:
                p = put_ascii(p, s[i])
            else:
                p[0] = 92
                p[1] = 92
                p[2] = 120          # x
                p[3] = HEX[s[i] >> 4]
                p[4] = HEX[s[i] & 15]
                p += 5
    p[0] = 34
    o.p = p + 1


cdef void o_address(Out* o, const uint8_t* s, size_t n) noexcept nogil:
    """An A or AAAA record's address as eve_dns.address_text writes it: 4 bytes dotted,
    else 8 groups of (up to) 2 bytes in hex, IPv6 written out in full."""
    cdef size_t i, j
    if not room(o, 48):
        return
    o.p[0] = 34
    o.p += 1
    if n == 4:
        for i in range(4):
            o.p = put_u64(o.p, s[i])
            o.p[0] = 46
            o.p += 1
        o.p -= 1
    else:
        for i in range(0, 16, 2):
            if i:
                o.p[0] = 58
                o.p += 1
            for j in range(i, i + 2 if i + 2 < n else n):
                o.p[0] = HEX[s[j] >> 4]
                o.p[1] = HEX[s[j] & 15]
                o.p += 2
    o.p[0] = 34
    o.p += 1


cdef inline size_t clamp(size_t v, size_t top) noexcept nogil:
    return v if v < top else top


cdef inline bint answer_data(const DnsEvent* e, int k, size_t* start,
                             size_t* n) noexcept nogil:
    """Answer k's data as kept, text[start:start+n] clamped to what the text holds;
    False when none was kept."""
    cdef size_t top = clamp(e.text_len, DNS_TEXT)
    start[0] = clamp(e.an_data_off[k], top)
    n[0] = clamp(<size_t>e.an_data_off[k] + e.an_data_len[k], top) - start[0]
    return e.an_flags[k] & DA_DATA != 0


cdef inline void o_rrtype(Out* o, uint16_t t) noexcept nogil:
    o_named(o, RRTYPE_NAME[t] if t < RRTYPE_TOP else NULL, t)


cdef inline size_t txt_next(const uint8_t* s, size_t n, size_t i, size_t* sn) noexcept nogil:
    """The character-string at s[i] (i < n) of a TXT record cut at n: its bytes are
    s[i+1:i+1+sn]; returns where the next one starts (eve_dns.txt_strings)."""
    cdef size_t end = i + 1 + s[i]
    sn[0] = clamp(end, n) - (i + 1)
    return end


cdef void o_answer(Out* o, const DnsEvent* e, int k, bint comma) noexcept nogil:
    """Answer k's objects (a TXT record's: one per character-string, none without
    data), each after a comma when comma."""
    cdef size_t top = clamp(e.text_len, DNS_TEXT), start, n, i = 0, sn
    cdef size_t noff = clamp(e.an_name_off[k], top)
    cdef size_t nn = clamp(<size_t>e.an_name_off[k] + e.an_name_len[k], top) - noff
    cdef uint16_t t = e.an_type[k]
    cdef bint has = answer_data(e, k, &start, &n)
    cdef bint more = True
    cdef size_t more_at = 0
    while more:
        if t == T_TXT:
            if not has or i >= n:
                return
            more_at = txt_next(e.text + start, n, i, &sn)
        if comma:
            o_put(o, b",")
        comma = True
        o_put(o, b"{\"rrname\":")
        o_text(o, e.text + noff, nn)
        o_put(o, b",\"rrtype\":")
        o_rrtype(o, t)
        o_put(o, b",\"ttl\":")
        o_u64(o, e.an_ttl[k])
        if t == T_TXT:
            o_put(o, b",\"rdata\":")
            o_text(o, e.text + start + i + 1, sn)
            i = more_at
        else:
            more = False
            if has:
                o_put(o, b",\"rdata\":")
                if t == T_A or t == T_AAAA:
                    o_address(o, e.text + start, n)
                else:
                    o_text(o, e.text + start, n)
        o_put(o, b"}")


cdef inline bint grouped_type(uint16_t t) noexcept nogil:
    return (t == T_A or t == T_AAAA or t == T_CNAME or t == T_MX or t == T_NS
            or t == T_PTR or t == T_TXT or t == T_NULL)


cdef inline bint has_datas(const DnsEvent* e, int k) noexcept nogil:
    """Whether answer k gives "grouped" anything (a TXT record: a character-string)."""
    cdef size_t start, n
    return answer_data(e, k, &start, &n) and (e.an_type[k] != T_TXT or n > 0)


cdef void o_group(Out* o, const DnsEvent* e, int first, int na) noexcept nogil:
    """"TYPE":[...]: the data of answers first.. of answer first's type, in order."""
    cdef uint16_t t = e.an_type[first]
    cdef size_t start, n, i, sn, i_next
    cdef bint comma = False
    cdef int k
    o_rrtype(o, t)
    o_put(o, b":[")
    for k in range(first, na):
        if e.an_type[k] != t or not has_datas(e, k):
            continue
        answer_data(e, k, &start, &n)
        if t == T_TXT:
            i = 0
            while i < n:
                if comma:
                    o_put(o, b",")
                i_next = txt_next(e.text + start, n, i, &sn)
                o_text(o, e.text + start + i + 1, sn)
                i = i_next
                comma = True
            continue
        if comma:
            o_put(o, b",")
        comma = True
        if t == T_A or t == T_AAAA:
            o_address(o, e.text + start, n)
        else:
            o_text(o, e.text + start, n)
    o_put(o, b"]")


cdef void o_answers(Out* o, const DnsEvent* e) noexcept nogil:
    """"answers" (when any object) and "grouped" (when the message had answers)."""
    cdef int na = e.n_answers if e.n_answers < DNS_ANSWERS else DNS_ANSWERS
    cdef int k, j
    cdef char* before
    cdef bint seen, comma = False
    o_put(o, b",\"answers\":[")
    before = o.p
    for k in range(na):
        o_answer(o, e, k, o.p != before)
    if o.p == before and not o.full:
        o.p -= 12                   # no object: no "answers"
    else:
        o_put(o, b"]")
    if not e.n_answers:
        return
    o_put(o, b",\"grouped\":{")
    for k in range(na):
        if not grouped_type(e.an_type[k]) or not has_datas(e, k):
            continue
        seen = False
        for j in range(k):
            if e.an_type[j] == e.an_type[k] and has_datas(e, j):
                seen = True
        if seen:
            continue
        if comma:
            o_put(o, b",")
        comma = True
        o_group(o, e, k, na)
    o_put(o, b"}")


cdef void o_header(Out* o, const DnsEvent* e) noexcept nogil:
    """The dns object's header fields and "queries" (the first question, when read)."""
    cdef uint16_t f = e.flags
    cdef size_t top = clamp(e.text_len, DNS_TEXT)
    cdef char hexf[8]
    cdef int n = 0, i
    o_put(o, b",\"dns\":{\"version\":3,\"type\":")
    o_put(o, b"\"response\"" if f & 0x8000 else b"\"request\"")
    o_put(o, b",\"tx_id\":")
    o_u64(o, e.tx_id)
    o_put(o, b",\"id\":")
    o_u64(o, e.id)
    o_put(o, b",\"flags\":\"")
    while True:                     # format(flags, "x")
        hexf[n] = HEX[f & 15]
        n += 1
        f >>= 4
        if not f:
            break
    if room(o, n):
        for i in range(n):
            o.p[i] = hexf[n - 1 - i]
        o.p += n
    f = e.flags
    o_put(o, b"\"")
    if f & 0x8000:
        o_put(o, b",\"qr\":true")
    if f & 0x0400:
        o_put(o, b",\"aa\":true")
    if f & 0x0200:
        o_put(o, b",\"tc\":true")
    if f & 0x0100:
        o_put(o, b",\"rd\":true")
    if f & 0x0080:
        o_put(o, b",\"ra\":true")
    if f & 0x0040:
        o_put(o, b",\"z\":true")
    o_put(o, b",\"opcode\":")
    o_u64(o, (f >> 11) & 15)
    o_put(o, b",\"rcode\":")
    o_named(o, RCODE_NAME[f & 15], f & 15)
    if e.status & DE_QUESTION:
        o_put(o, b",\"queries\":[{\"rrname\":")
        o_text(o, e.text, clamp(e.qname_len, top))
        o_put(o, b",\"rrtype\":")
        o_rrtype(o, e.qtype)
        if e.status & DE_QNAME_TRUNC:
            o_put(o, b",\"rrname_truncated\":true")
        o_put(o, b"}]")


cdef void o_event(Out* o, const DnsEvent* e, uint16_t seed, TsCache* tc) noexcept nogil:
    """One record's line: the message's tuple (src: its sender), then the dns object."""
    cdef int alen = 4 if e.ip_version == 4 else 16
    o_put(o, b"{\"timestamp\":\"")
    if room(o, PUT_TS_LEN):
        o.p = put_ts(o.p, e.ts_us, tc)
    o_put(o, b"\",\"flow_id\":")
    o_u64(o, e.flow_id)
    if e.nvlan:
        o_put(o, b",\"vlan\":[")
        o_u64(o, e.vlan0)
        if e.nvlan > 1:
            o_put(o, b",")
            o_u64(o, e.vlan1)
        o_put(o, b"]")
    o_put(o, b",\"src_ip\":")
    if room(o, PUT_IP_MAX):
        o.p = put_ip(o.p, e.src_addr, e.ip_version)
    o_put(o, b",\"src_port\":")
    o_u64(o, e.src_port)
    o_put(o, b",\"dest_ip\":")
    if room(o, PUT_IP_MAX):
        o.p = put_ip(o.p, e.dest_addr, e.ip_version)
    o_put(o, b",\"dest_port\":")
    o_u64(o, e.dest_port)
    o_put(o, b",\"proto\":")
    o_named(o, ws_proto_name(e.proto), e.proto)
    o_put(o, b",\"community_id\":")
    if room(o, PUT_CID_LEN):
        o.p = put_cid(o.p, seed, e.proto, alen, e.src_addr, e.dest_addr, e.src_port,
                      e.dest_port, False)
    o_put(o, b",\"event_type\":\"dns\"")
    o_header(o, e)
    o_answers(o, e)
    o_put(o, b"}}\n")


cdef int grow(char** buf, size_t* cap) noexcept nogil:
    """Double the buffer; 0, or ENOMEM (also past BUF_LIMIT)."""
    cdef char* b
    if cap[0] >= BUF_LIMIT:
        return ENOMEM
    b = <char*>realloc(buf[0], cap[0] * 2)
    if b == NULL:
        return ENOMEM
    buf[0] = b
    cap[0] *= 2
    return 0


cdef int format_all(const DnsEvent* recs, Py_ssize_t n, uint16_t seed, int fd,
                    char** buf, size_t* cap, size_t* used, size_t* total) noexcept nogil:
    """Every record into buf (grown as needed); with fd >= 0 written out as it fills
    (total: bytes written). 0, or the errno of the failure."""
    cdef Out o
    cdef TsCache tc
    cdef Py_ssize_t i = 0
    cdef int err = 0
    tc.sec = -1
    while i < n and err == 0:
        o.p = buf[0] + used[0]
        o.end = buf[0] + cap[0]
        o.full = False
        o_event(&o, &recs[i], seed, &tc)
        if not o.full:
            used[0] = o.p - buf[0]
            i += 1
        elif fd >= 0 and used[0] > 0:
            err = write_all(fd, buf[0], used[0])
            total[0] += used[0]
            used[0] = 0
        else:
            err = grow(buf, cap)
        if fd >= 0 and used[0] >= BUF_FLUSH and err == 0:
            err = write_all(fd, buf[0], used[0])
            total[0] += used[0]
            used[0] = 0
    if fd >= 0 and used[0] > 0 and err == 0:
        err = write_all(fd, buf[0], used[0])
        total[0] += used[0]
        used[0] = 0
    return err


def format_dns(cnp.ndarray records, int seed=0, int fd=-1):
    """EVE dns lines, one per record, newline-terminated.

    records: a C-contiguous DNS_EVENT_DTYPE array; seed: Community ID seed, 0..65535.
    With fd >= 0 the lines are written to that file descriptor (a write() per
    BUF_FLUSH bytes, no copy into Python) and the byte count is returned; otherwise
    the bytes are. OSError when write() fails, MemoryError when the buffer cannot grow.
    """
    from wirescore._core.appcore import DNS_EVENT_DTYPE

    if (records.dtype != DNS_EVENT_DTYPE or not records.flags.c_contiguous
            or records.ndim != 1):
        raise ValueError("records must be a 1-d C-contiguous DNS_EVENT_DTYPE array")
    if not 0 <= seed <= 0xFFFF:
        raise ValueError("seed must be in 0..65535")
    cdef Py_ssize_t n = records.shape[0]
    cdef const DnsEvent* recs = <const DnsEvent*>cnp.PyArray_DATA(records)
    cdef size_t cap = BUF_START, used = 0, total = 0
    cdef char* buf = <char*>malloc(cap)
    cdef int err
    if buf == NULL:
        raise MemoryError()
    try:
        with nogil:
            err = format_all(recs, n, <uint16_t>seed, fd, &buf, &cap, &used, &total)
        if err == ENOMEM:
            raise MemoryError("EVE dns lines: buffer cannot grow")
        if err:
            raise OSError(err, "cannot write EVE lines")
        if fd >= 0:
            return total
        return PyBytes_FromStringAndSize(buf, used)
    finally:
        free(buf)
