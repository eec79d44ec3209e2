# EVE writing primitives in C, shared by the flow lines (eve.pyx) and the app-layer
# event lines (evedns.pyx): numbers, timestamps, addresses, the Community ID, write().
#
# Each put_*() writes at p and returns the end of what it wrote; the caller has made
# room (the most each can write is given in its docstring).

from libc.stdint cimport uint8_t, uint16_t, uint64_t, int64_t
from libc.string cimport memcpy, memcmp, strlen

cdef extern from "sha1.h" nogil:
    void ws_sha1(const uint8_t* data, size_t length, uint8_t* out)
    void ws_base64_20(const uint8_t* inp, char* out)

cdef extern from "<arpa/inet.h>" nogil:
    const char* inet_ntop(int af, const void* src, char* dst, unsigned int size)

cdef extern from "<unistd.h>" nogil:
    ssize_t write(int fd, const void* buf, size_t count)

cdef extern from "<errno.h>" nogil:
    int errno
    int EINTR

cdef enum:
    AF_INET6_ = 10
    PUT_U64_MAX = 20       # bytes put_u64() writes at most
    PUT_TS_LEN = 31        # put_ts()
    PUT_IP_MAX = 48        # put_ip(), quotes included
    PUT_CID_LEN = 33       # put_cid(), quotes included


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


cdef inline void civil_prefix(int64_t sec, char* out) noexcept nogil:
    """UTC date and time of sec >= 0 as YYYY-MM-DDTHH:MM:SS (H. Hinnant's
    civil_from_days, exact for the proleptic Gregorian calendar)."""
    cdef int64_t days = sec // 86400, rem = sec % 86400
    cdef int64_t z = days + 719468
    cdef int64_t era = z // 146097
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t y = yoe + era * 400
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    cdef int64_t d = doy - (153 * mp + 2) // 5 + 1
    cdef int64_t mo = mp + 3 if mp < 10 else mp - 9
    if mo <= 2:
        y += 1
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


cdef inline int write_all(int fd, const char* p, size_t n) noexcept nogil:
    """write() until done; 0, or the errno of the failure."""
    cdef ssize_t w
    while n > 0:
        w = write(fd, p, n)
        if w < 0:
            if errno == EINTR:
                continue
            return errno
        p += w
        n -= w
    return 0
