# EVE writing primitives in C, shared by the flow lines (eve.pyx) and the app-layer
# event lines (evedns.pyx, eveapp.pyx): numbers, timestamps, addresses, the Community
# ID, JSON strings, write().
#
# Each put_*() writes at p and returns the end of what it wrote; the caller has made
# room (the most each can write is given in its docstring). Each o_*() writes through
# an Out, a checked writer: a write that does not fit sets Out.full and writes nothing,
# and lines_of() then writes the record again into a flushed or larger buffer.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memcmp, strlen
from cpython.bytes cimport PyBytes_FromStringAndSize

cdef extern from "sha1.h" nogil:
    void ws_sha1(const uint8_t* data, size_t length, uint8_t* out)
    void ws_base64_20(const uint8_t* inp, char* out)

cdef extern from "<arpa/inet.h>" nogil:
    const char* inet_ntop(int af, const void* src, char* dst, unsigned int size)

cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void* iov_base
        size_t iov_len
    ssize_t writev(int fd, const iovec* iov, int iovcnt)

cdef extern from "<errno.h>" nogil:
    int errno
    int EINTR
    int ENOMEM

cdef enum:
    AF_INET6_ = 10
    PUT_U64_MAX = 20       # bytes put_u64() writes at most
    PUT_TS_LEN = 31        # put_ts()
    PUT_IP_MAX = 48        # put_ip(), quotes included
    PUT_CID_LEN = 33       # put_cid(), quotes included
    BUF_START = 1 << 18    # lines_of(): the buffer's first size, bytes
    BUF_FLUSH = 1 << 18    # lines_of() with fd: write() once this much is buffered
    BUF_LIMIT = 1 << 26    # lines_of(): the most one record may need


cdef struct TsCache:
    int64_t sec
    char prefix[20]           # "YYYY-MM-DDTHH:MM:SS"


cdef inline char* put(char* p, const char* s) noexcept nogil:
    cdef size_t n = strlen(s)
    memcpy(p, s, n)
    return p + n


cdef inline char* put_u64(char* p, uint64_t v) noexcept nogil:
    cdef char tmp[24]
    cdef int n = 0, i
    if v == 0:
        p[0] = 48
        return p + 1
    while v:
        tmp[n] = <char>(48 + v % 10)
        v //= 10
        n += 1
    for i in range(n):
        p[i] = tmp[n - 1 - i]
    return p + n


cdef inline void put_2(char* p, int64_t v) noexcept nogil:
    p[0] = <char>(48 + v // 10)
    p[1] = <char>(48 + v % 10)


cdef inline int64_t floor_div(int64_t a, int64_t b) noexcept nogil:
    """a // b rounded down (b > 0), as Python divides (the module's cdivision truncates)."""
    cdef int64_t q = a / b
    if q * b > a:
        q -= 1
    return q


cdef inline void civil_from_days(int64_t days, int64_t* y, int64_t* mo,
                                 int64_t* d) noexcept nogil:
    """The proleptic Gregorian year, month (1-12) and day of days since 1970-01-01,
    any sign (H. Hinnant's civil_from_days)."""
    cdef int64_t z = days + 719468
    cdef int64_t era = floor_div(z, 146097)
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    d[0] = doy - (153 * mp + 2) // 5 + 1
    mo[0] = mp + 3 if mp < 10 else mp - 9
    y[0] = yoe + era * 400 + (1 if mo[0] <= 2 else 0)


cdef inline void civil_prefix(int64_t sec, char* out) noexcept nogil:
    """UTC date and time of sec >= 0 as YYYY-MM-DDTHH:MM:SS."""
    cdef int64_t rem = sec % 86400, y, mo, d
    civil_from_days(sec // 86400, &y, &mo, &d)
    put_2(out, (y // 100) % 100)
    put_2(out + 2, y % 100)
    out[4] = 45
    put_2(out + 5, mo)
    out[7] = 45
    put_2(out + 8, d)
    out[10] = 84
    put_2(out + 11, rem // 3600)
    out[13] = 58
    put_2(out + 14, (rem % 3600) // 60)
    out[16] = 58
    put_2(out + 17, rem % 60)


cdef inline char* put_ts(char* p, int64_t us, TsCache* c) noexcept nogil:
    """YYYY-MM-DDTHH:MM:SS.uuuuuu+0000 (UTC); us >= 0."""
    cdef int64_t sec = us // 1000000
    cdef int64_t frac = us - sec * 1000000
    cdef int i
    if sec != c.sec:
        c.sec = sec
        civil_prefix(sec, c.prefix)
    memcpy(p, c.prefix, 19)
    p[19] = 46  # '.'
    for i in range(6):
        p[25 - i] = <char>(48 + frac % 10)
        frac //= 10
    memcpy(p + 26, b"+0000", 5)
    return p + 31


cdef inline char* put_mac(char* p, const uint8_t* mac) noexcept nogil:
    """The quoted MAC address, lower-case hex pairs joined by colons (as Suricata)."""
    cdef const char* hexd = b"0123456789abcdef"
    cdef int i
    p[0] = 34
    for i in range(6):
        p[1 + 3 * i] = hexd[mac[i] >> 4]
        p[2 + 3 * i] = hexd[mac[i] & 15]
        p[3 + 3 * i] = 58 if i < 5 else 34      # ':' between, '"' after the last
    return p + 19


cdef inline char* put_ip(char* p, const uint8_t* addr, int version) noexcept nogil:
    """The quoted address; IPv4 written here (glibc's inet_ntop formats each octet with
    sprintf, a tenth of the writer's time), IPv6 by inet_ntop (zero-run compression)."""
    cdef char tmp[64]
    cdef int i
    cdef uint8_t v
    p[0] = 34
    p += 1
    if version == 4:
        for i in range(4):
            v = addr[i]
            if v >= 100:
                p[0] = <char>(48 + v // 100)
                p += 1
            if v >= 10:
                p[0] = <char>(48 + (v // 10) % 10)
                p += 1
            p[0] = <char>(48 + v % 10)
            p[1] = 46
            p += 2
        p -= 1                       # no dot after the last octet
    else:
        if inet_ntop(AF_INET6_, addr, tmp, 64) == NULL:
            tmp[0] = 0
        p = put(p, tmp)
    p[0] = 34
    return p + 1


cdef inline char* put_hex2(char* p, uint8_t v) noexcept nogil:
    cdef const char* digits = b"0123456789abcdef"
    p[0] = 34
    p[1] = digits[v >> 4]
    p[2] = digits[v & 15]
    p[3] = 34
    return p + 4


cdef inline char* put_cid(char* p, uint16_t seed, uint8_t proto, int alen,
                          const uint8_t* sa, const uint8_t* da, int sp, int dp,
                          bint one_way) noexcept nogil:
    """The quoted Community ID "1:<base64 sha1>" of seed . saddr . daddr . proto . 0
    [. sport . dport] (sp < 0: no ports), the endpoints ordered as the spec says (a
    one-way ICMP type keeps its order); alen: 4 or 16."""
    cdef uint8_t buf[64]
    cdef uint8_t digest[20]
    cdef char b64[29]
    cdef bint swap
    cdef size_t n
    cdef int c = memcmp(sa, da, alen)
    if sp < 0:
        swap = c > 0
    else:
        swap = not one_way and (c > 0 or (c == 0 and dp < sp))
    if swap:
        sa, da = da, sa
        sp, dp = dp, sp
    buf[0] = <uint8_t>(seed >> 8)
    buf[1] = <uint8_t>(seed & 0xFF)
    memcpy(buf + 2, sa, alen)
    memcpy(buf + 2 + alen, da, alen)
    n = 2 + 2 * alen
    buf[n] = proto
    buf[n + 1] = 0
    n += 2
    if sp >= 0:
        buf[n] = <uint8_t>(sp >> 8)
        buf[n + 1] = <uint8_t>(sp & 0xFF)
        buf[n + 2] = <uint8_t>(dp >> 8)
        buf[n + 3] = <uint8_t>(dp & 0xFF)
        n += 4
    ws_sha1(buf, n, digest)
    ws_base64_20(digest, b64)
    p = put(p, b"\"1:")
    p = put(p, b64)
    p[0] = 34
    return p + 1


cdef inline int writev_all(int fd, iovec* iov, int cnt) noexcept nogil:
    """writev() until every byte of iov[0:cnt] is written (iov is consumed: a partial
    write moves its bases on); 0, or the errno of the failure."""
    cdef ssize_t w
    while cnt > 0:
        w = writev(fd, iov, cnt)
        if w < 0:
            if errno == EINTR:
                continue
            return errno
        while cnt > 0 and <size_t>w >= iov[0].iov_len:
            w -= iov[0].iov_len
            iov += 1
            cnt -= 1
        if cnt > 0:
            iov[0].iov_base = <char*>iov[0].iov_base + w
            iov[0].iov_len -= w
    return 0


cdef inline int write_all(int fd, const char* p, size_t n) noexcept nogil:
    """write() until done; 0, or the errno of the failure."""
    cdef iovec one
    one.iov_base = <void*>p
    one.iov_len = n
    return writev_all(fd, &one, 1)


cdef inline char hex_digit(unsigned int v) noexcept nogil:
    """The lower-case hex digit of v & 15."""
    return (<const char*>b"0123456789abcdef")[v & 15]


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


cdef inline void o_i64(Out* o, int64_t v) noexcept nogil:
    """v in decimal, a minus sign before a negative one."""
    if v < 0:
        o_put(o, b"-")
        o_u64(o, <uint64_t>0 - <uint64_t>v)
    else:
        o_u64(o, <uint64_t>v)


cdef inline void o_bool(Out* o, bint v) noexcept nogil:
    o_put(o, b"true" if v else b"false")


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
    p[2] = hex_digit(v >> 12)
    p[3] = hex_digit(v >> 8)
    p[4] = hex_digit(v >> 4)
    p[5] = hex_digit(v)
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


cdef inline void o_text(Out* o, const uint8_t* s, size_t n) noexcept nogil:
    """s[0:n] as a JSON string, as json.dumps(eve_dns.text_of(s)) writes it (UTF-8 as
    text, else each byte above 0x7f as the text \\xNN): at most 6 bytes a byte and the
    quotes."""
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
                p[3] = hex_digit(s[i] >> 4)
                p[4] = hex_digit(s[i])
                p += 5
    p[0] = 34
    o.p = p + 1


cdef inline size_t clamp(size_t v, size_t top) noexcept nogil:
    return v if v < top else top


cdef inline void o_head(Out* o, TsCache* tc, uint16_t seed, uint64_t flow_id, int64_t ts_us,
                        uint8_t nvlan, uint16_t vlan0, uint16_t vlan1, uint8_t ip_version,
                        uint8_t proto, const uint8_t* sa, const uint8_t* da, uint16_t sp,
                        uint16_t dp, const char* proto_name,
                        const char* event_type) noexcept nogil:
    """An app-layer event's line up to its event_type, as outputs/eve_head.py makes it:
    {"timestamp", "flow_id", "vlan" (nvlan > 0), "src_ip", "src_port", "dest_ip",
    "dest_port", "proto" (proto_name, its number when NULL), "community_id",
    "event_type"; the object is left open."""
    o_put(o, b"{\"timestamp\":\"")
    if room(o, PUT_TS_LEN):
        o.p = put_ts(o.p, ts_us, tc)
    o_put(o, b"\",\"flow_id\":")
    o_u64(o, flow_id)
    if nvlan:
        o_put(o, b",\"vlan\":[")
        o_u64(o, vlan0)
        if nvlan > 1:
            o_put(o, b",")
            o_u64(o, vlan1)
        o_put(o, b"]")
    o_put(o, b",\"src_ip\":")
    if room(o, PUT_IP_MAX):
        o.p = put_ip(o.p, sa, ip_version)
    o_put(o, b",\"src_port\":")
    o_u64(o, sp)
    o_put(o, b",\"dest_ip\":")
    if room(o, PUT_IP_MAX):
        o.p = put_ip(o.p, da, ip_version)
    o_put(o, b",\"dest_port\":")
    o_u64(o, dp)
    o_put(o, b",\"proto\":")
    o_named(o, proto_name, proto)
    o_put(o, b",\"community_id\":")
    if room(o, PUT_CID_LEN):
        o.p = put_cid(o.p, seed, proto, 4 if ip_version == 4 else 16, sa, da, sp, dp, False)
    o_put(o, b",\"event_type\":\"")
    o_put(o, event_type)
    o_put(o, b"\"")


# writes one record's line (its bytes at rec) through o
ctypedef void (*event_writer)(Out* o, const uint8_t* rec, uint16_t seed,
                              TsCache* tc) noexcept nogil


cdef inline int grow(char** buf, size_t* cap) noexcept nogil:
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


cdef inline int format_records(const uint8_t* recs, size_t stride, Py_ssize_t n,
                               event_writer fn, uint16_t seed, int fd, char** buf,
                               size_t* cap, size_t* used, size_t* total) noexcept nogil:
    """Every record's line into buf (grown as needed); with fd >= 0 written out as it
    fills (total: bytes written). 0, or the errno of the failure."""
    cdef Out o
    cdef TsCache tc
    cdef Py_ssize_t i = 0
    cdef int err = 0
    tc.sec = -1
    while i < n and err == 0:
        o.p = buf[0] + used[0]
        o.end = buf[0] + cap[0]
        o.full = False
        fn(&o, recs + <size_t>i * stride, seed, &tc)
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


cdef inline object lines_of(object records, object dtype, event_writer fn, int seed,
                            int fd, str kind):
    """The EVE lines fn writes, one per record, newline-terminated.

    records: a 1-d C-contiguous array of dtype; seed: Community ID seed, 0..65535.
    With fd >= 0 the lines are written to that file descriptor (a write() per
    BUF_FLUSH bytes, no copy into Python) and the byte count is returned; otherwise
    the bytes are. ValueError for another array, OSError when write() fails,
    MemoryError when the buffer cannot grow (a record needing more than BUF_LIMIT).
    """
    if records.dtype != dtype or not records.flags.c_contiguous or records.ndim != 1:
        raise ValueError(f"records must be a 1-d C-contiguous {kind} event array")
    if not 0 <= seed <= 0xFFFF:
        raise ValueError("seed must be in 0..65535")
    cdef Py_ssize_t n = records.shape[0]
    cdef size_t stride = dtype.itemsize
    cdef const uint8_t[::1] raw = records.view("u1")
    cdef const uint8_t* recs = &raw[0] if n else NULL
    cdef size_t cap = BUF_START, used = 0, total = 0
    cdef char* buf = <char*>malloc(cap)
    cdef int err
    if buf == NULL:
        raise MemoryError()
    try:
        with nogil:
            err = format_records(recs, stride, n, fn, <uint16_t>seed, fd, &buf, &cap,
                                 &used, &total)
        if err == ENOMEM:
            raise MemoryError(f"EVE {kind} lines: buffer cannot grow")
        if err:
            raise OSError(err, "cannot write EVE lines")
        if fd >= 0:
            return total
        return PyBytes_FromStringAndSize(buf, used)
    finally:
        free(buf)
