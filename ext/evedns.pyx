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
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from evefmt cimport (TsCache, Out, room, o_put, o_u64, o_named, o_text, o_head, clamp,
                     lines_of, put_u64, hex_digit)
from enums cimport (DNS_ANSWERS, DNS_TEXT, N_DNS_RRTYPES, N_DNS_RCODES, ws_dns_rrtypes,
                    ws_dns_rcodes, ws_proto_name)
from app.dns cimport (DnsEvent, T_A, T_AAAA, T_CNAME, T_MX, T_NS, T_PTR, T_TXT, T_NULL,
                      DE_QUESTION, DE_QNAME_TRUNC, DA_DATA)

cdef enum:
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
                o.p[0] = hex_digit(s[j] >> 4)
                o.p[1] = hex_digit(s[j])
                o.p += 2
    o.p[0] = 34
    o.p += 1


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
        hexf[n] = hex_digit(f)
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


cdef void o_event(Out* o, const uint8_t* rec, uint16_t seed, TsCache* tc) noexcept nogil:
    """One record's line: the message's tuple (src: its sender), then the dns object."""
    cdef const DnsEvent* e = <const DnsEvent*>rec
    o_head(o, tc, seed, e.flow_id, e.ts_us, e.nvlan, e.vlan0, e.vlan1, e.ip_version,
           e.proto, e.src_addr, e.dest_addr, e.src_port, e.dest_port,
           ws_proto_name(e.proto), b"dns")
    o_header(o, e)
    o_answers(o, e)
    o_put(o, b"}}\n")


def format_dns(records, int seed=0, int fd=-1):
    """EVE dns lines, one per record, newline-terminated.

    records: a C-contiguous DNS_EVENT_DTYPE array; seed: Community ID seed, 0..65535.
    With fd >= 0 the lines are written to that file descriptor (a write() per
    BUF_FLUSH bytes, no copy into Python) and the byte count is returned; otherwise
    the bytes are. OSError when write() fails, MemoryError when the buffer cannot grow.
    """
    from wirescore._core.appcore import DNS_EVENT_DTYPE

    return lines_of(records, DNS_EVENT_DTYPE, o_event, seed, fd, "DNS")
