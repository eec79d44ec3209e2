"""EVE lines of app-layer event kinds other than dns, in C (as evedns.pyx writes dns).

format_tls(records), format_ssh(records), format_http(records) and
format_fileinfo(records) turn an array of TLS_EVENT_DTYPE, SSH_EVENT_DTYPE,
HTTP_EVENT_DTYPE or FILE_EVENT_DTYPE (appcore.pyx, from TlsEvent in app/tlsroom.pxd,
SshEvent in app/sshroom.pxd, HttpEvent and FileEvent in app/http.pxd) into the bytes of
one EVE-JSON event per record, newline-terminated: the same bytes as json.dumps
(separators ",", ":", ensure_ascii) of the event the kind's Python writer builds
(outputs/eve_tls.py, eve_ssh.py, eve_http.py: the references, whose docstrings say what
is written); tests/test_eve_app_c.py holds them
byte-identical. Strings are escaped as evefmt.pxd o_text() says.

Every read of a record's text is clamped to the kept length and its field's size. A line
is at most a few KiB; every write is still checked against the buffer's end
(evefmt.pxd lines_of()).
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t

from evefmt cimport (TsCache, Out, o_put, o_u64, o_i64, o_bool, o_text, o_head, clamp,
                     lines_of, hex_digit, room, floor_div, civil_from_days)
from enums cimport ws_proto_name
from tls_names cimport WS_N_TLS_VERSIONS, ws_tls_versions
from app.ja cimport JA4_LEN
from app.x509 cimport X509_SERIAL_CAP
from app.tlsroom cimport (TlsEvent, TLS_EV_SNI, TLS_EV_JA3, TLS_EV_JA3S, TLS_EV_NAME,
                          TLS_EV_ALPN, TLS_EV_SALPN, TE_SUBJECT, TE_ISSUER, TE_SERIAL,
                          TE_SHA1, TE_SNI, TE_VALIDITY, TE_JA3, TE_JA3S, TE_JA4)
from app.sshroom cimport SshEvent, SSH_EV_PROTO, SSH_EV_SOFT, SE_CLIENT, SE_SERVER
from app.http cimport (HttpEvent, FileEvent, HTTP_TEXT, HTTP_FNAME, HTTP_CTYPE, HF_METHOD,
                       HF_URI, HF_HOST, HF_UA, HF_REFERER, HF_CTYPE, HF_LOCATION, HF_N,
                       HE_RESPONSE, HE_HTTP10, HE_LENGTH, FE_CLOSED, FE_GAPS, FE_SIZE)

from wirescore.msg_names import MAGIC_NAMES
from wirescore.outputs.eve_http import MAGIC_TEXT

cdef extern from "<limits.h>" nogil:
    int INT_MAX
    int INT_MIN

# fileinfo.magic of each FileEvent.magic value (NULL: none written), from eve_http's
# MAGIC_TEXT; _MAGIC_KEEP holds the bytes the pointers point into
_MAGIC_KEEP = [MAGIC_TEXT.get(name, "").encode("ascii") for name in MAGIC_NAMES]
cdef const char* MAGIC_C[256]
cdef int _i
cdef bytes _text
for _i in range(256):
    MAGIC_C[_i] = NULL
for _i in range(min(len(_MAGIC_KEEP), 256)):
    _text = _MAGIC_KEEP[_i]
    if _text:
        MAGIC_C[_i] = _text


# ---- shared pieces ----

cdef inline void o_2(Out* o, int64_t v) noexcept nogil:
    """0 <= v < 100 as two digits."""
    if room(o, 2):
        o.p[0] = <char>(48 + v // 10)
        o.p[1] = <char>(48 + v % 10)
        o.p += 2


cdef void o_time(Out* o, int64_t sec) noexcept nogil:
    """Unix seconds as eve_tls.tls_time writes them: "Y-MM-DDTHH:MM:SS" (UTC), the year
    unpadded and signed as glibc's %Y, "1970-01-01T00:00:00" where Python's gmtime()
    or strftime() fail (the year, or the year - 1900, does not fit a C int)."""
    cdef int64_t days = floor_div(sec, 86400), rem, y, mo, d
    civil_from_days(days, &y, &mo, &d)
    if y > INT_MAX or y - 1900 < INT_MIN:
        o_put(o, b"\"1970-01-01T00:00:00\"")
        return
    rem = sec - days * 86400               # no overflow: |sec| < 2^56 here
    o_put(o, b"\"")
    o_i64(o, y)
    o_put(o, b"-")
    o_2(o, mo)
    o_put(o, b"-")
    o_2(o, d)
    o_put(o, b"T")
    o_2(o, rem // 3600)
    o_put(o, b":")
    o_2(o, (rem % 3600) // 60)
    o_put(o, b":")
    o_2(o, rem % 60)
    o_put(o, b"\"")


cdef void o_hex_colons(Out* o, const uint8_t* s, size_t n, bint upper) noexcept nogil:
    """s[0:n] quoted as hex pairs joined by ":" (bytes.hex(":"), upper-cased when upper)."""
    cdef size_t i
    cdef int c
    if not room(o, 3 * n + 2):
        return
    o.p[0] = 34
    o.p += 1
    for i in range(n):
        if i:
            o.p[0] = 58
            o.p += 1
        o.p[0] = hex_digit(s[i] >> 4)
        o.p[1] = hex_digit(s[i])
        if upper:
            for c in range(2):
                if o.p[c] >= 97:
                    o.p[c] = <char>(o.p[c] - 32)
        o.p += 2
    o.p[0] = 34
    o.p += 1


# ---- tls ----

cdef const char* tls_version_name(uint16_t v) noexcept nogil:
    cdef int i
    for i in range(WS_N_TLS_VERSIONS):
        if ws_tls_versions[i].value == v:
            return ws_tls_versions[i].name
    return b"UNDETERMINED"


cdef void o_alpns(Out* o, const uint8_t* s, size_t n) noexcept nogil:
    """The client's ALPNs as kept (each a length byte and its bytes, the last one as far
    as it was kept) as a JSON list (eve_tls.alpn_list)."""
    cdef size_t i = 0
    o_put(o, b"[")
    while i < n:
        if i:
            o_put(o, b",")
        o_text(o, s + i + 1, clamp(i + 1 + s[i], n) - clamp(i + 1, n))
        i += 1 + s[i]
    o_put(o, b"]")


cdef void o_ja3(Out* o, const char* key, const uint8_t* md5, const uint8_t* s,
                size_t n) noexcept nogil:
    """key (up to the hash's value), then {hash: the 32 hex digits, string: s[0:n]}."""
    o_put(o, key)
    o_text(o, md5, 32)
    o_put(o, b",\"string\":")
    o_text(o, s, n)
    o_put(o, b"}")


cdef void o_tls(Out* o, const uint8_t* rec, uint16_t seed, TsCache* tc) noexcept nogil:
    """One TlsEvent's line (eve_tls.tls_object: the fields before "version" each end in
    a comma, those after it start with one)."""
    cdef const TlsEvent* e = <const TlsEvent*>rec
    cdef uint32_t st = e.status
    o_head(o, tc, seed, e.flow_id, e.ts_us, e.nvlan, e.vlan0, e.vlan1, e.ip_version,
           e.proto, e.src_addr, e.dest_addr, e.src_port, e.dest_port,
           ws_proto_name(e.proto), b"tls")
    o_put(o, b",\"tls\":{")
    if st & TE_SUBJECT:
        o_put(o, b"\"subject\":")
        o_text(o, e.subject, clamp(e.subject_len, TLS_EV_NAME))
        o_put(o, b",")
    if st & TE_ISSUER:
        o_put(o, b"\"issuerdn\":")
        o_text(o, e.issuer, clamp(e.issuer_len, TLS_EV_NAME))
        o_put(o, b",")
    if st & TE_SERIAL:
        o_put(o, b"\"serial\":")
        o_hex_colons(o, e.serial, clamp(e.serial_len, X509_SERIAL_CAP), True)
        o_put(o, b",")
    if st & TE_SHA1:
        o_put(o, b"\"fingerprint\":")
        o_hex_colons(o, e.sha1, 20, False)
        o_put(o, b",")
    if st & TE_SNI:
        o_put(o, b"\"sni\":")
        o_text(o, e.sni, clamp(e.sni_len, TLS_EV_SNI))
        o_put(o, b",")
    o_put(o, b"\"version\":\"")
    o_put(o, tls_version_name(e.version))
    o_put(o, b"\"")
    if st & TE_VALIDITY:
        o_put(o, b",\"notbefore\":")
        o_time(o, e.not_before)
        o_put(o, b",\"notafter\":")
        o_time(o, e.not_after)
    if st & TE_JA3:
        o_ja3(o, b",\"ja3\":{\"hash\":", e.ja3_md5, e.ja3, clamp(e.ja3_len, TLS_EV_JA3))
    if st & TE_JA3S:
        o_ja3(o, b",\"ja3s\":{\"hash\":", e.ja3s_md5, e.ja3s,
              clamp(e.ja3s_len, TLS_EV_JA3S))
    if st & TE_JA4:
        o_put(o, b",\"ja4\":")
        o_text(o, e.ja4, JA4_LEN)
    if e.n_calpn:
        o_put(o, b",\"client_alpns\":")
        o_alpns(o, e.calpn, clamp(e.calpn_len, TLS_EV_ALPN))
    if e.salpn_len:
        o_put(o, b",\"server_alpns\":[")
        o_text(o, e.salpn, clamp(e.salpn_len, TLS_EV_SALPN))
        o_put(o, b"]")
    o_put(o, b"}}\n")


# ---- ssh ----

cdef void o_ssh(Out* o, const uint8_t* rec, uint16_t seed, TsCache* tc) noexcept nogil:
    """One SshEvent's line (eve_ssh.ssh_object: a side whose banner was read)."""
    cdef const SshEvent* e = <const SshEvent*>rec
    cdef int d
    cdef bint comma = False
    o_head(o, tc, seed, e.flow_id, e.ts_us, e.nvlan, e.vlan0, e.vlan1, e.ip_version,
           e.proto, e.src_addr, e.dest_addr, e.src_port, e.dest_port,
           ws_proto_name(e.proto), b"ssh")
    o_put(o, b",\"ssh\":{")
    for d in range(2):
        if not e.status & (SE_CLIENT if d == 0 else SE_SERVER):
            continue
        if comma:
            o_put(o, b",")
        comma = True
        o_put(o, b"\"client\":{\"proto_version\":" if d == 0 else
              b"\"server\":{\"proto_version\":")
        o_text(o, e.proto_version[d], clamp(e.proto_len[d], SSH_EV_PROTO))
        o_put(o, b",\"software_version\":")
        o_text(o, e.software[d], clamp(e.soft_len[d], SSH_EV_SOFT))
        o_put(o, b"}")
    o_put(o, b"}}\n")


# ---- http, fileinfo ----

# the http object's text fields after "hostname" and before "protocol", in
# HttpEventFormatter._http's order, and each HF_* field's key
cdef enum:
    N_BEFORE = 5
cdef int BEFORE[N_BEFORE]
BEFORE[:] = [HF_URI, HF_UA, HF_CTYPE, HF_REFERER, HF_METHOD]
cdef const char* HTTP_KEY[HF_N]
for _i in range(HF_N):
    HTTP_KEY[_i] = NULL
HTTP_KEY[HF_URI] = b"\"url\":"
HTTP_KEY[HF_UA] = b"\"http_user_agent\":"
HTTP_KEY[HF_CTYPE] = b"\"http_content_type\":"
HTTP_KEY[HF_REFERER] = b"\"http_refer\":"
HTTP_KEY[HF_METHOD] = b"\"http_method\":"

cdef inline void o_tx_head(Out* o, const uint8_t* sa, const uint8_t* da, uint64_t flow_id,
                           int64_t ts_us, uint8_t nvlan, uint16_t vlan0, uint16_t vlan1,
                           uint8_t ip_version, uint8_t proto, uint16_t sp, uint16_t dp,
                           uint32_t tx_id, uint16_t seed, TsCache* tc,
                           const char* event_type) noexcept nogil:
    """o_head() and "tx_id" (eve_http._Head)."""
    o_head(o, tc, seed, flow_id, ts_us, nvlan, vlan0, vlan1, ip_version, proto, sa, da,
           sp, dp, ws_proto_name(proto), event_type)
    o_put(o, b",\"tx_id\":")
    o_u64(o, tx_id)


cdef inline bint is_digits(const uint8_t* s, size_t n) noexcept nogil:
    """n > 0 bytes, all ASCII digits."""
    cdef size_t i
    if n == 0:
        return False
    for i in range(n):
        if not 48 <= s[i] <= 57:
            return False
    return True


cdef inline void strip_brackets(const uint8_t** s, size_t* n) noexcept nogil:
    """str.strip("[]") over s[0:n]."""
    while n[0] and (s[0][0] == 91 or s[0][0] == 93):
        s[0] += 1
        n[0] -= 1
    while n[0] and (s[0][n[0] - 1] == 91 or s[0][n[0] - 1] == 93):
        n[0] -= 1


cdef void o_host(Out* o, const uint8_t* h, size_t n) noexcept nogil:
    """"hostname" (and "http_port") of a Host header, each ending in a comma, as
    eve_http.host_port splits it; bytes at this level split as its text does (text_of
    keeps ASCII as it is and makes no ASCII ":", "[", "]" or digit of other bytes)."""
    cdef size_t c = n, k
    cdef size_t nn
    cdef const uint8_t* port
    cdef size_t pn
    cdef bint colon_in_name = False
    while c > 0 and h[c - 1] != 58:
        c -= 1
    if c > 0:                               # h[c - 1] is the last ":"
        nn = c - 1
        port = h + c
        pn = n - c
        for k in range(nn):
            if h[k] == 58:
                colon_in_name = True
        if (is_digits(port, pn) and not (nn and h[nn - 1] == 58)
                and ((nn and h[nn - 1] == 93) or not colon_in_name)):
            strip_brackets(&h, &nn)
            o_put(o, b"\"hostname\":")
            o_text(o, h, nn)
            o_put(o, b",\"http_port\":")
            while pn > 1 and port[0] == 48:        # int(): no leading zeros
                port += 1
                pn -= 1
            if room(o, pn):
                for k in range(pn):
                    o.p[k] = <char>port[k]
                o.p += pn
            o_put(o, b",")
            return
    if n and h[0] == 91:
        strip_brackets(&h, &n)
    o_put(o, b"\"hostname\":")
    o_text(o, h, n)
    o_put(o, b",")


cdef void o_http(Out* o, const uint8_t* rec, uint16_t seed, TsCache* tc) noexcept nogil:
    """One HttpEvent's line (eve_http.HttpEventFormatter: the fields before "protocol"
    each end in a comma, those after it start with one)."""
    cdef const HttpEvent* e = <const HttpEvent*>rec
    cdef bint response = e.flags & HE_RESPONSE != 0
    cdef size_t top = 0, start[HF_N], n[HF_N]
    cdef bint has[HF_N]
    cdef int k, j
    for k in range(HF_N):
        top += e.field_len[k]
    top = clamp(top, HTTP_TEXT)
    for k in range(HF_N):
        start[k] = clamp(e.field_off[k], top)
        n[k] = clamp(<size_t>e.field_off[k] + e.field_len[k], top) - start[k]
        has[k] = e.field_len[k] != 0 or (not response and (k == HF_METHOD or k == HF_URI))
    o_tx_head(o, e.src_addr, e.dest_addr, e.flow_id, e.ts_us, e.nvlan, e.vlan0, e.vlan1,
              e.ip_version, e.proto, e.src_port, e.dest_port, e.tx_id, seed, tc, b"http")
    o_put(o, b",\"http\":{")
    if has[HF_HOST]:
        o_host(o, e.text + start[HF_HOST], n[HF_HOST])
    for j in range(N_BEFORE):
        k = BEFORE[j]
        if has[k]:
            o_put(o, HTTP_KEY[k])
            o_text(o, e.text + start[k], n[k])
            o_put(o, b",")
    o_put(o, b"\"protocol\":\"HTTP/1.0\"" if e.flags & HE_HTTP10 else
          b"\"protocol\":\"HTTP/1.1\"")
    if response and e.status:
        o_put(o, b",\"status\":")
        o_u64(o, e.status)
    if has[HF_LOCATION]:
        o_put(o, b",\"redirect\":")
        o_text(o, e.text + start[HF_LOCATION], n[HF_LOCATION])
    if e.flags & HE_LENGTH:
        o_put(o, b",\"length\":")
        o_i64(o, e.content_length)
    o_put(o, b"}}\n")


cdef void o_fileinfo(Out* o, const uint8_t* rec, uint16_t seed, TsCache* tc) noexcept nogil:
    """One FileEvent's line (eve_http.FileEventFormatter)."""
    cdef const FileEvent* e = <const FileEvent*>rec
    o_tx_head(o, e.src_addr, e.dest_addr, e.flow_id, e.ts_us, e.nvlan, e.vlan0, e.vlan1,
              e.ip_version, e.proto, e.src_port, e.dest_port, e.tx_id, seed, tc,
              b"fileinfo")
    if e.ctype_len:
        o_put(o, b",\"http\":{\"http_content_type\":")
        o_text(o, e.ctype, clamp(e.ctype_len, HTTP_CTYPE))
        o_put(o, b"}")
    o_put(o, b",\"fileinfo\":{\"filename\":")
    o_text(o, e.fname, clamp(e.fname_len, HTTP_FNAME))
    if MAGIC_C[e.magic] != NULL:
        o_put(o, b",\"magic\":\"")
        o_put(o, MAGIC_C[e.magic])
        o_put(o, b"\"")
    o_put(o, b",\"gaps\":")
    o_bool(o, e.flags & FE_GAPS)
    o_put(o, b",\"state\":\"CLOSED\"" if e.flags & FE_CLOSED else b",\"state\":\"TRUNCATED\"")
    o_put(o, b",\"stored\":false")
    if e.flags & FE_SIZE:
        o_put(o, b",\"size\":")
        o_i64(o, e.size)
    o_put(o, b",\"tx_id\":")
    o_u64(o, e.tx_id)
    o_put(o, b"}}\n")


def format_tls(records, int seed=0, int fd=-1):
    """EVE tls lines, one per TLS_EVENT_DTYPE record (evefmt.pxd lines_of() says the
    arguments, the result and the errors)."""
    from wirescore._core.appcore import TLS_EVENT_DTYPE

    return lines_of(records, TLS_EVENT_DTYPE, o_tls, seed, fd, "TLS")


def format_ssh(records, int seed=0, int fd=-1):
    """EVE ssh lines, one per SSH_EVENT_DTYPE record (as format_tls)."""
    from wirescore._core.appcore import SSH_EVENT_DTYPE

    return lines_of(records, SSH_EVENT_DTYPE, o_ssh, seed, fd, "SSH")


def format_http(records, int seed=0, int fd=-1):
    """EVE http lines, one per HTTP_EVENT_DTYPE record (as format_tls)."""
    from wirescore._core.appcore import HTTP_EVENT_DTYPE

    return lines_of(records, HTTP_EVENT_DTYPE, o_http, seed, fd, "HTTP")


def format_fileinfo(records, int seed=0, int fd=-1):
    """EVE fileinfo lines, one per FILE_EVENT_DTYPE record (as format_tls)."""
    from wirescore._core.appcore import FILE_EVENT_DTYPE

    return lines_of(records, FILE_EVENT_DTYPE, o_fileinfo, seed, fd, "file")
