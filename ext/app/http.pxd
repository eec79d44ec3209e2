# HTTP/1.x (RFC 9112) over TCP: each request and response header block into one
# HttpEvent (EVE http), the first bytes of each message body into one FileEvent (EVE
# fileinfo: the kind of file they start, bytes.pxd, beside the declared Content-Type),
# and the flow's HttpSummary (its app_http_* fields).
#
# Transactions: requests and responses are numbered in their direction's order (keep-
# alive and pipelined messages alike); the n-th response answers the n-th request
# (RFC 9112 9.3.2), so both events of a transaction carry tx_id n. Interim responses
# (100, 102, 103) are read over, no event (Suricata's one transaction); after a 101
# (an upgrade) both directions are skipped to the end. Whether a block is a request or a
# response is read from its start line, not from the direction that carries it; a
# block that starts neither is malformed (the direction ends, counted).
#
# What is read: the start line (method, URI, version; version, status, reason) and the
# header fields Host, User-Agent, Referer, Content-Type, Content-Length,
# Transfer-Encoding and Location (names case-insensitive, values trimmed); each value is
# kept up to its field's room (HTTP_URI, HTTP_VALUE, ...) with a truncation bit.
# Bodies (RFC 9112 6.3): chunked when Transfer-Encoding says so (chunk sizes followed,
# chunk data skipped, trailers walked over), else Content-Length bytes; a response to
# HEAD, a 1xx, 204 or 304 has none; a response without either runs to the connection's
# end; a request without either has none. Of each body its first HTTP_PEEK bytes (the
# first chunk's in a chunked one) are examined, the rest skipped unread.
#
# Cuts: a header block longer than the hold is read from its prefix (HE_CUT; its lines
# as far as whole, the last one's prefix flagged) and the rest walked to its blank line;
# a block a gap or the snap length cut is read the same way, then the direction ends
# (no length to resynchronise by). A body prefix cut by a gap is examined as far as held
# (FE_GAPS) and its rest skipped when its length is known.
#
# Pending requests (for the response's HEAD rule and its file's name) are kept for the
# last HTTP_PENDING requests: a pipeline deeper than that names no file for the later
# responses and reads a response to HEAD past it as having a body.
#
# Inline, used without the GIL; registered in protocols.pxd.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdint cimport UINT32_MAX, UINT64_MAX as TO_END   # TO_END: a body to the end
from libc.string cimport memcpy
from counters cimport A_TRUNCATED
from enums cimport EV_HTTP, EV_FILEINFO
from features cimport FlowRecord
from app.base cimport AppCtx, APP_ERROR, K_TX, K_PARSER, ctx_count
from app.events cimport ev_begin, ev_commit, ev_head
from app.bytes cimport (BytesStats, bytes_parse, MAGIC_NONE, MAGIC_PE, MAGIC_MZ, MAGIC_ELF,
                        MAGIC_MACHO, MAGIC_MACHO_FAT, MAGIC_SHEBANG, MAGIC_POWERSHELL,
                        MAGIC_VBSCRIPT, MAGIC_JSCRIPT)

cdef enum:
    HTTP_PORT = 80
    HTTP_ALT_PORT = 8080
    HTTP_METHOD_MAX = 24           # a method token longer than this is not HTTP
    HTTP_TEXT = 1536               # bytes of an event's kept fields
    HTTP_URI = 768                 # kept bytes of the URI
    HTTP_VALUE = 256               # of Host, User-Agent, Referer, Location
    HTTP_SHORT = 64                # of the method, reason, Content-Type
    HTTP_PEEK = 512                # body bytes examined (bytes.pxd SCRIPT_WINDOW)
    HTTP_FNAME = 48                # bytes of a file name kept (the URI's last segment)
    HTTP_CTYPE = 32                # bytes of a declared Content-Type kept for its file
    HTTP_PENDING = 2               # requests kept for their responses
    HTTP_CHUNK_LINE = 1024         # a chunk-size line longer than this is malformed

cdef enum:                         # HttpEvent fields (field_off / field_len / field_trunc)
    HF_METHOD = 0
    HF_URI = 1
    HF_HOST = 2
    HF_UA = 3
    HF_REFERER = 4
    HF_CTYPE = 5
    HF_LOCATION = 6
    HF_REASON = 7
    HF_N = 8

cdef extern from "names.h":
    enum:                          # HttpEvent.flags, FileEvent.flags (core_names.py
        HE_RESPONSE "WS_HE_RESPONSE"           # HTTP_EVENT_BITS)
        HE_CUT "WS_HE_CUT"
        HE_CHUNKED "WS_HE_CHUNKED"
        HE_LENGTH "WS_HE_LENGTH"
        HE_HTTP10 "WS_HE_HTTP10"
        FE_CLOSED "WS_FE_CLOSED"
        FE_GAPS "WS_FE_GAPS"
        FE_SIZE "WS_FE_SIZE"
        FE_MISMATCH "WS_FE_MISMATCH"
        FE_FNAME_TRUNC "WS_FE_FNAME_TRUNC"

cdef enum:                         # HttpDir.phase
    PH_HDR = 0                     # a header block (or blank lines before one)
    PH_HDR_REST = 1                # the rest of a header block longer than the hold
    PH_PEEK = 2                    # a body's first bytes
    PH_BODY = 3                    # the rest of a body (or chunk): skipped
    PH_CHUNK_SIZE = 4              # a chunk-size line
    PH_TRAILER = 5                 # trailer lines after the last chunk

cdef enum:                         # HttpDir.flags: the message being read
    DF_CHUNKED = 1
    DF_TO_END = 2
    DF_PEEKED = 4                  # its body's first bytes were examined
    DF_NOBODY = 8                  # a response without body (HEAD, 1xx, 204, 304)
    DF_LENGTH = 16                 # Content-Length given (clen)
    DF_ENCODED = 32                # a Content-Encoding other than identity (gzip, ...)
    DF_RESPONSE = 64               # a response


cdef struct HttpSummary:           # the flow's, in its app record (40 bytes at most)
    uint32_t requests
    uint32_t responses             # final (non-1xx) responses
    uint32_t bodies                # bodies whose first bytes were examined
    uint32_t ua_requests           # requests with a User-Agent
    uint16_t first_status          # the first response's status (0: none)
    uint16_t uri_len_max           # the longest URI, bytes (saturating)
    uint16_t errors                # responses with status 400..599 (saturating)
    uint16_t mismatch              # bodies whose declared type does not fit their kind
    uint16_t exe                   # bodies that start an executable (PE, MZ, ELF, Mach-O)
    uint8_t first_magic            # the first response body's MAGIC_* kind
    uint8_t first_body             # a response body was examined

cdef struct HttpEvent:             # one header block; HTTP_EVENT_DTYPE (appcore.pyx)
    uint64_t flow_id
    int64_t ts_us                  # the packet that completed (or cut) the block
    uint8_t src_addr[16]           # the message's sender
    uint8_t dest_addr[16]
    uint16_t src_port
    uint16_t dest_port
    uint16_t vlan0
    uint16_t vlan1
    uint8_t nvlan
    uint8_t ip_version
    uint8_t proto
    uint8_t direction              # 0 toserver (a request), 1 toclient
    uint32_t tx_id                 # the transaction (module comment)
    int64_t content_length         # bytes, when HE_LENGTH
    uint16_t status                # a response's status code
    uint8_t flags                  # HE_*
    uint8_t field_trunc            # bit HF_*: the field is longer than kept
    uint16_t field_off[HF_N]       # field HF_*: text[off:off+len]
    uint16_t field_len[HF_N]
    uint8_t text[HTTP_TEXT]

cdef struct FileEvent:             # one body's first bytes; FILE_EVENT_DTYPE (appcore.pyx)
    uint64_t flow_id
    int64_t ts_us
    uint8_t src_addr[16]           # the body's sender
    uint8_t dest_addr[16]
    uint16_t src_port
    uint16_t dest_port
    uint16_t vlan0
    uint16_t vlan1
    uint8_t nvlan
    uint8_t ip_version
    uint8_t proto
    uint8_t direction
    uint32_t tx_id
    int64_t size                   # the body's bytes, when FE_SIZE (Content-Length)
    uint32_t examined              # bytes examined (<= HTTP_PEEK)
    float entropy                  # of them, bits per byte
    float printable                # their printable share (0..1)
    uint8_t magic                  # MAGIC_* (bytes.pxd)
    uint8_t flags                  # FE_*
    uint8_t fname_len
    uint8_t ctype_len
    uint8_t fname[HTTP_FNAME]      # the request URI's last path segment
    uint8_t ctype[HTTP_CTYPE]      # the declared Content-Type (its media type)

cdef struct HttpDir:               # one direction's message being read
    uint64_t body_left             # bytes of the body (or chunk) still to come; TO_END
    int64_t clen                   # Content-Length (DF_LENGTH)
    uint32_t tx                    # messages of this direction (final responses)
    uint32_t tail                  # PH_HDR_REST: the last bytes walked over
    uint16_t status
    uint8_t phase                  # PH_*
    uint8_t flags                  # DF_*
    uint8_t ctype_len
    uint8_t pad[3]
    uint8_t ctype[HTTP_CTYPE]

cdef struct HttpPend:              # a request, for its response
    uint32_t tx1                   # its tx_id + 1 (0: none)
    uint8_t head                   # it was HEAD
    uint8_t fname_len
    uint8_t fname_trunc
    uint8_t pad
    uint8_t fname[HTTP_FNAME]

cdef struct HttpState:             # the TCP state (in the stream slot, zeroed when taken)
    HttpDir d[2]
    HttpPend pend[HTTP_PENDING]


cdef inline uint8_t lower(uint8_t b) noexcept nogil:
    return b | 0x20 if 65 <= b <= 90 else b


cdef inline bint is_tchar(uint8_t b) noexcept nogil:
    """A method token's byte as methods are written: upper case letters, '-', '_'."""
    return 65 <= b <= 90 or b == 45 or b == 95


cdef inline bint ieq(const uint8_t* p, uint32_t n, const char* w) noexcept nogil:
    """Whether p[0:n] is the lower-case ASCII word w, case ignored."""
    cdef uint32_t i = 0
    while i < n:
        if w[i] == 0 or lower(p[i]) != <uint8_t>w[i]:
            return False
        i += 1
    return w[n] == 0


cdef inline bint agrees(const uint8_t* p, uint32_t n, const char* w, uint32_t k) noexcept nogil:
    """Whether p[0:n] agrees with the k bytes w as far as both go."""
    cdef uint32_t i
    for i in range(n if n < k else k):
        if p[i] != <uint8_t>w[i]:
            return False
    return True


cdef inline int http_probe(const uint8_t* p, uint32_t n, uint8_t udp, uint16_t sport,
                           uint16_t dport) noexcept nogil:
    """Whether p[0:n], a TCP direction's first bytes, is HTTP/1.x: a response's status
    line ("HTTP/1.x NNN"), or a request line: a method token (upper case, at most
    HTTP_METHOD_MAX), one space, a URI without spaces and " HTTP/1." before the line's
    end. -1 while the bytes so far could still be either."""
    cdef uint32_t i, k
    if udp or n == 0:
        return 0
    if agrees(p, n, b"HTTP/1.", 7) and n < 12:
        return -1
    if n >= 12 and agrees(p, n, b"HTTP/1.", 7):
        return 1 if (48 <= p[7] <= 57 and p[8] == 32 and 48 <= p[9] <= 57
                     and 48 <= p[10] <= 57 and 48 <= p[11] <= 57) else 0
    i = 0
    while i < n and is_tchar(p[i]):
        i += 1
    if i == 0 or i > HTTP_METHOD_MAX:
        return 0
    if i == n:
        return -1
    if p[i] != 32:
        return 0
    i += 1
    k = i
    while i < n and p[i] != 32 and p[i] != 13 and p[i] != 10:
        i += 1
    if i == n:
        return -1
    if i == k or p[i] != 32:
        return 0
    if not agrees(p + i, n - i, b" HTTP/1.", 8):
        return 0
    return 1 if n - i >= 8 else -1


cdef inline void put(HttpEvent* e, int f, const uint8_t* s, uint32_t n, uint32_t room,
                     bint cut) noexcept nogil:
    """Field f's value s[0:n], kept up to room bytes (and what the text has left); cut:
    the value's end was not seen. A field given twice keeps its first value (as tshark
    shows it)."""
    cdef uint32_t used = 0, k
    cdef int i
    if e.field_len[f] or (e.field_trunc >> f) & 1:
        return
    for i in range(HF_N):
        used += e.field_len[i]
    k = HTTP_TEXT - used
    if room < k:
        k = room
    if n < k:
        k = n
    memcpy(e.text + used, s, k)
    e.field_off[f] = <uint16_t>used
    e.field_len[f] = <uint16_t>k
    if k < n or cut:
        e.field_trunc |= <uint8_t>(1 << f)


cdef inline uint32_t trim(const uint8_t* p, uint32_t* a, uint32_t b) noexcept nogil:
    """p[a:b] without its leading and trailing spaces and tabs: a moved, the end
    returned."""
    while a[0] < b and (p[a[0]] == 32 or p[a[0]] == 9):
        a[0] += 1
    while b > a[0] and (p[b - 1] == 32 or p[b - 1] == 9 or p[b - 1] == 13):
        b -= 1
    return b


cdef inline bint contains_chunked(const uint8_t* p, uint32_t n) noexcept nogil:
    cdef uint32_t i
    if n < 7:
        return False
    for i in range(n - 6):
        if ieq(p + i, 7, b"chunked"):
            return True
    return False


cdef inline int64_t decimal(const uint8_t* p, uint32_t n) noexcept nogil:
    """p[0:n] as a decimal number; -1 when empty, not all digits or beyond 2**62."""
    cdef int64_t v = 0
    cdef uint32_t i
    if n == 0:
        return -1
    for i in range(n):
        if not 48 <= p[i] <= 57 or v > (<int64_t>1 << 58):
            return -1
        v = v * 10 + (p[i] - 48)
    return v


cdef inline void start_line(HttpEvent* e, HttpDir* D, const uint8_t* p, uint32_t n,
                            bint cut) noexcept nogil:
    """The request or status line p[0:n] (without its line end); cut: its end was not
    seen."""
    cdef uint32_t a = 0, b
    if e.flags & HE_RESPONSE:
        if n >= 8 and p[7] == 48:
            e.flags |= HE_HTTP10
        if n >= 12:                    # digits: start_kind()
            e.status = <uint16_t>((p[9] - 48) * 100 + (p[10] - 48) * 10 + (p[11] - 48))
            D.status = e.status
        if n > 13:
            a = 13
            b = trim(p, &a, n)
            put(e, HF_REASON, p + a, b - a, HTTP_SHORT, cut)
        return
    while a < n and p[a] != 32:
        a += 1
    put(e, HF_METHOD, p, a, HTTP_SHORT, cut and a == n)
    if a == n:
        return
    a += 1
    b = a
    while b < n and p[b] != 32:
        b += 1
    put(e, HF_URI, p + a, b - a, HTTP_URI, cut and b == n)
    if n - b >= 9 and p[b + 8] == 48:
        e.flags |= HE_HTTP10


cdef inline void header_line(HttpEvent* e, HttpDir* D, const uint8_t* p, uint32_t n,
                             bint cut) noexcept nogil:
    """One header field line p[0:n] (without its line end); cut: its end was not seen."""
    cdef uint32_t c = 0, a, b
    cdef int64_t v
    while c < n and p[c] != 58:
        c += 1
    if c == n:
        return
    a = c + 1
    b = trim(p, &a, n)
    if ieq(p, c, b"host"):
        put(e, HF_HOST, p + a, b - a, HTTP_VALUE, cut)
    elif ieq(p, c, b"user-agent"):
        put(e, HF_UA, p + a, b - a, HTTP_VALUE, cut)
    elif ieq(p, c, b"referer"):
        put(e, HF_REFERER, p + a, b - a, HTTP_VALUE, cut)
    elif ieq(p, c, b"location"):
        put(e, HF_LOCATION, p + a, b - a, HTTP_VALUE, cut)
    elif ieq(p, c, b"content-type") and not e.field_len[HF_CTYPE]:
        put(e, HF_CTYPE, p + a, b - a, HTTP_SHORT, cut)
        c = a
        while c < b and p[c] != 59 and p[c] != 32:
            c += 1
        D.ctype_len = <uint8_t>(c - a if c - a < HTTP_CTYPE else HTTP_CTYPE)
        memcpy(D.ctype, p + a, D.ctype_len)
    elif ieq(p, c, b"content-length") and not cut and not (D.flags & DF_LENGTH):
        v = decimal(p + a, b - a)
        if v >= 0:
            e.content_length = v
            e.flags |= HE_LENGTH
            D.clen = v
            D.flags |= DF_LENGTH
    elif ieq(p, c, b"content-encoding") and not ieq(p + a, b - a, b"identity"):
        D.flags |= DF_ENCODED
    elif ieq(p, c, b"transfer-encoding") and contains_chunked(p + a, b - a):
        e.flags |= HE_CHUNKED
        D.flags |= DF_CHUNKED


cdef inline void fname_of(HttpPend* q, const HttpEvent* e) noexcept nogil:
    """The request URI's last non-empty path segment (the query left out) as its
    file's name; cut when longer than HTTP_FNAME or when the URI kept ends inside it."""
    cdef const uint8_t* u = e.text + e.field_off[HF_URI]
    cdef uint32_t n = e.field_len[HF_URI], i = 0, a
    cdef bint cut
    while i < n and u[i] != 63 and u[i] != 35:
        i += 1
    cut = i == n and (e.field_trunc >> HF_URI) & 1
    while i > 0 and u[i - 1] == 47:
        i -= 1
    a = i
    while a > 0 and u[a - 1] != 47:
        a -= 1
    n = i - a
    q.fname_trunc = 1 if n > HTTP_FNAME or cut else 0
    q.fname_len = <uint8_t>(n if n < HTTP_FNAME else HTTP_FNAME)
    memcpy(q.fname, u + a, q.fname_len)


cdef inline uint16_t sat16(uint32_t x) noexcept nogil:
    return <uint16_t>(x if x < 65535 else 65535)


cdef inline int start_kind(const uint8_t* p, uint32_t n) noexcept nogil:
    """What a header block's first bytes start: 1 a status line ("HTTP/1.x NNN"), 0 a
    request line (a method token and a space), -1 neither (malformed; a cut block may
    lack the bytes to tell)."""
    cdef uint32_t i = 0
    if n >= 12 and agrees(p, n, b"HTTP/1.", 7):
        return 1 if (48 <= p[9] <= 57 and 48 <= p[10] <= 57 and 48 <= p[11] <= 57) else -1
    while i < n and is_tchar(p[i]):
        i += 1
    return 0 if 0 < i <= HTTP_METHOD_MAX and i < n and p[i] == 32 else -1


cdef inline int header_block(AppCtx* c, HttpState* S, const uint8_t* p, uint32_t n,
                             bint cut) noexcept nogil:
    """The header block p[0:n] (its lines; cut: the block's end was not seen, the last
    line may be a prefix): its event, the summary, and the message's body rules in the
    direction's state. A request or a response by its start line, whichever direction
    carries it (a capture that began with the server's bytes). APP_ERROR when it starts
    neither (no event)."""
    cdef HttpDir* D = &S.d[c.dir]
    cdef HttpSummary* s = <HttpSummary*>c.summary
    cdef HttpEvent* e
    cdef HttpPend* q
    cdef uint32_t a = 0, b, end
    cdef bint first = True, lcut
    cdef int kind = start_kind(p, n)
    if kind < 0:
        return APP_ERROR
    e = <HttpEvent*>ev_begin(c, EV_HTTP)
    ev_head(<uint8_t*>e, c)
    D.flags = 0
    D.status = 0
    D.clen = 0
    D.ctype_len = 0
    if kind == 1:
        e.flags |= HE_RESPONSE
        D.flags |= DF_RESPONSE
    if cut:
        e.flags |= HE_CUT
        c.cnt[A_TRUNCATED] += 1
    while a < n:
        b = a
        while b < n and p[b] != 10:
            b += 1
        lcut = b == n
        end = b
        if end > a and p[end - 1] == 13:
            end -= 1
        if first:
            start_line(e, D, p + a, end - a, lcut)
            first = False
        elif end > a and p[a] != 32 and p[a] != 9:
            header_line(e, D, p + a, end - a, lcut)
        a = b + 1
    if kind == 0:
        e.tx_id = D.tx
        q = &S.pend[D.tx % HTTP_PENDING]
        q.tx1 = D.tx + 1
        q.head = ieq(e.text + e.field_off[HF_METHOD], e.field_len[HF_METHOD], b"head")
        fname_of(q, e)
        D.tx += 1
        s.requests += 1
        if e.field_len[HF_UA]:
            s.ua_requests += 1
        if e.field_len[HF_URI] > s.uri_len_max:
            s.uri_len_max = e.field_len[HF_URI]
    else:
        e.tx_id = D.tx
        q = &S.pend[D.tx % HTTP_PENDING]
        if 100 <= D.status < 200 or D.status == 204 or D.status == 304 or \
                (q.tx1 == D.tx + 1 and q.head):
            D.flags |= DF_NOBODY
        if D.status == 101:                    # an upgrade: no more HTTP either way
            D.flags |= DF_TO_END
            S.d[1 - c.dir].phase = PH_BODY
            S.d[1 - c.dir].body_left = TO_END
            S.d[1 - c.dir].flags |= DF_TO_END
        elif 100 <= D.status < 200:            # interim: no event, no transaction
            return 0
        D.tx += 1
        s.responses += 1
        if s.first_status == 0:
            s.first_status = D.status
        if 400 <= D.status < 600:
            s.errors = sat16(s.errors + 1)
    ev_commit(c, EV_HTTP, <uint8_t*>e)
    ctx_count(c, K_TX)
    return 0


cdef inline void body_rules(HttpDir* D) noexcept nogil:
    """After a header block: the phase its body starts in (RFC 9112 6.3); after a 101
    the rest of the direction is skipped."""
    if D.flags & DF_TO_END and D.status == 101:
        D.body_left = TO_END
        D.phase = PH_BODY
    elif D.flags & DF_NOBODY:
        D.phase = PH_HDR
    elif D.flags & DF_CHUNKED:
        D.phase = PH_CHUNK_SIZE
    elif D.flags & DF_LENGTH:
        D.body_left = <uint64_t>D.clen
        D.phase = PH_PEEK if D.clen > 0 else PH_HDR
    elif D.flags & DF_RESPONSE:
        D.body_left = TO_END
        D.flags |= DF_TO_END
        D.phase = PH_PEEK
    else:
        D.phase = PH_HDR


cdef inline bint mismatch(uint8_t magic, const uint8_t* t, uint32_t n) noexcept nogil:
    """Whether a declared media type t[0:n] does not fit the kind found: a file kind
    (executable, archive, document) declared as text/ or image/ or not declared; a
    script declared as image/. (Not asked for a body with a Content-Encoding: its first
    bytes are the encoding's.)"""
    cdef bint text = n >= 5 and ieq(t, 5, b"text/")
    cdef bint image = n >= 6 and ieq(t, 6, b"image/")
    if magic == MAGIC_NONE:
        return False
    if magic == MAGIC_SHEBANG or magic == MAGIC_POWERSHELL or magic == MAGIC_VBSCRIPT or \
            magic == MAGIC_JSCRIPT:
        return image
    return n == 0 or text or image


cdef inline void body_file(AppCtx* c, HttpState* S, const uint8_t* p, uint32_t n,
                           bint gaps) noexcept nogil:
    """The body's first bytes p[0:n] (of body_left still to come, n of them): its
    fileinfo event and the summary."""
    cdef HttpDir* D = &S.d[c.dir]
    cdef HttpSummary* s = <HttpSummary*>c.summary
    cdef FileEvent* f = <FileEvent*>ev_begin(c, EV_FILEINFO)
    cdef uint32_t tx = D.tx - 1 if D.tx else 0
    cdef HttpPend* q = &S.pend[tx % HTTP_PENDING]
    cdef BytesStats b
    cdef uint64_t full = D.body_left
    ev_head(<uint8_t*>f, c)
    if full > UINT32_MAX:
        full = UINT32_MAX
    bytes_parse(p, n, <uint32_t>(full if full > n else n), &b)
    f.tx_id = tx
    f.examined = b.n
    f.entropy = b.entropy
    f.printable = b.printable
    f.magic = b.magic
    if D.flags & DF_LENGTH and not (D.flags & DF_CHUNKED):
        f.size = D.clen
        f.flags |= FE_SIZE
        if not gaps and <uint64_t>n >= D.body_left:
            f.flags |= FE_CLOSED
    if gaps:
        f.flags |= FE_GAPS
    if q.tx1 == tx + 1:
        f.fname_len = q.fname_len
        memcpy(f.fname, q.fname, q.fname_len)
        if q.fname_trunc:
            f.flags |= FE_FNAME_TRUNC
    f.ctype_len = D.ctype_len
    memcpy(f.ctype, D.ctype, D.ctype_len)
    if not (D.flags & DF_ENCODED) and mismatch(b.magic, D.ctype, D.ctype_len):
        f.flags |= FE_MISMATCH
        s.mismatch = sat16(s.mismatch + 1)
    if b.magic == MAGIC_PE or b.magic == MAGIC_MZ or b.magic == MAGIC_ELF or \
            b.magic == MAGIC_MACHO or b.magic == MAGIC_MACHO_FAT:
        s.exe = sat16(s.exe + 1)
    s.bodies += 1
    if D.flags & DF_RESPONSE and not s.first_body:
        s.first_body = 1
        s.first_magic = b.magic
    D.flags |= DF_PEEKED
    ev_commit(c, EV_FILEINFO, <uint8_t*>f)


cdef inline void body_skip(AppCtx* c, HttpDir* D) noexcept nogil:
    """Skip the rest of the body (or chunk) unread: c.skip for what a call can name, the
    phase to come back to after it."""
    cdef uint64_t k = D.body_left
    if k > UINT32_MAX:
        k = UINT32_MAX
    c.skip = <uint32_t>k
    if D.body_left != TO_END:
        D.body_left -= k
    if D.body_left:
        D.phase = PH_BODY
    elif D.flags & DF_CHUNKED:
        D.phase = PH_CHUNK_SIZE
    else:
        D.phase = PH_HDR


cdef inline uint32_t line_end(const uint8_t* p, uint32_t n) noexcept nogil:
    """The offset after the first line feed in p[0:n], or 0."""
    cdef uint32_t i
    for i in range(n):
        if p[i] == 10:
            return i + 1
    return 0


cdef inline uint32_t block_end(const uint8_t* p, uint32_t n) noexcept nogil:
    """The offset after the blank line ending the header block p[0:n], or 0."""
    cdef uint32_t i
    for i in range(n):
        if p[i] == 10:
            if i + 1 < n and p[i + 1] == 10:
                return i + 2
            if i + 2 < n and p[i + 1] == 13 and p[i + 2] == 10:
                return i + 3
    return 0


cdef inline int64_t chunk_size(const uint8_t* p, uint32_t n) noexcept nogil:
    """A chunk-size line's size (hex digits, extensions after ';' ignored); -1 when
    malformed."""
    cdef int64_t v = 0
    cdef uint32_t i = 0, k = 0
    cdef uint8_t b
    while i < n and (p[i] == 32 or p[i] == 9):
        i += 1
    while i < n:
        b = lower(p[i])
        if 48 <= b <= 57:
            v = v * 16 + (b - 48)
        elif 97 <= b <= 102:
            v = v * 16 + (b - 87)
        else:
            break
        k += 1
        if k > 15:
            return -1
        i += 1
    if k == 0 or (i < n and p[i] != 59 and p[i] != 13 and p[i] != 10 and p[i] != 32
                  and p[i] != 9):
        return -1
    return v


cdef inline int http_parse(AppCtx* c, void* st, const uint8_t* p, uint32_t n) noexcept nogil:
    """TCP: the header blocks, chunk lines and body prefixes in p[0:n]; returns the bytes
    consumed (c.skip set to drop a body's rest). A header block longer than the hold is
    read from its prefix, then walked to its end."""
    cdef HttpState* S = <HttpState*>st
    cdef HttpDir* D = &S.d[c.dir]
    cdef uint32_t used = 0, k, want
    cdef int64_t size
    while used < n:
        if D.phase == PH_HDR:
            if p[used] == 13 or p[used] == 10:     # blank lines between messages
                used += 1
                continue
            k = block_end(p + used, n - used)
            if k == 0:
                if n - used < c.hold_max:
                    return used
                if header_block(c, S, p + used, n - used, True) < 0:
                    return APP_ERROR
                D.phase = PH_HDR_REST
                D.tail = 0
                return n
            if header_block(c, S, p + used, k, False) < 0:
                return APP_ERROR
            used += k
            body_rules(D)
        elif D.phase == PH_HDR_REST:
            while used < n:
                D.tail = (D.tail << 8) | p[used]
                used += 1
                if D.tail == 0x0D0A0D0A or (D.tail & 0xFFFF) == 0x0A0A:
                    body_rules(D)
                    break
        elif D.phase == PH_PEEK:
            want = HTTP_PEEK
            if D.body_left < want:
                want = <uint32_t>D.body_left
            if n - used < want:
                if not (D.flags & DF_TO_END):
                    return used
                want = n - used
            body_file(c, S, p + used, want, False)
            used += want
            if D.body_left != TO_END:
                D.body_left -= want
            body_skip(c, D)
            if c.skip:
                return used
        elif D.phase == PH_BODY:
            body_skip(c, D)
            if c.skip:
                return used
        elif D.phase == PH_CHUNK_SIZE:
            if p[used] == 13 or p[used] == 10:     # the line end after a chunk's data
                used += 1
                continue
            k = line_end(p + used, n - used)
            if k == 0:
                if n - used >= HTTP_CHUNK_LINE:
                    return APP_ERROR
                return used
            size = chunk_size(p + used, k)
            if size < 0:
                return APP_ERROR
            used += k
            D.body_left = <uint64_t>size
            if size == 0:
                D.phase = PH_TRAILER
            elif D.flags & DF_PEEKED:
                body_skip(c, D)
                if c.skip:
                    return used
            else:
                D.phase = PH_PEEK
        else:                                      # PH_TRAILER
            k = line_end(p + used, n - used)
            if k == 0:
                if n - used >= HTTP_CHUNK_LINE:
                    return APP_ERROR
                return used
            used += k
            if k == 1 or (k == 2 and p[used - 2] == 13):
                D.phase = PH_HDR
    return used


cdef inline int http_gap(AppCtx* c, void* st, const uint8_t* held, uint32_t n,
                         uint32_t missing) noexcept nogil:
    """TCP: `missing` bytes lost after the n held. A held header block is read as cut
    and the direction ends (the block's end, and so the next message's start, is lost);
    a held body prefix is examined (gaps) and the body's rest skipped when its length is
    known; a loss inside a body is skipped the same way."""
    cdef HttpState* S = <HttpState*>st
    cdef HttpDir* D = &S.d[c.dir]
    cdef uint64_t lost = <uint64_t>n + missing
    if D.phase == PH_HDR:
        if n and header_block(c, S, held, n, True) < 0:
            ctx_count(c, K_PARSER)
        return APP_ERROR
    if D.phase == PH_PEEK and n:
        body_file(c, S, held, n, True)
    elif D.phase == PH_PEEK:
        D.flags |= DF_PEEKED
    elif D.phase != PH_BODY:
        return APP_ERROR
    if D.body_left != TO_END:
        if lost > D.body_left:
            return APP_ERROR
        D.body_left -= lost
    body_skip(c, D)
    return 0


cdef inline void http_record(const void* summary, FlowRecord* r) noexcept nogil:
    """The flow record's app_http_* fields from the summary."""
    cdef const HttpSummary* s = <const HttpSummary*>summary
    r.app_http_requests = s.requests
    r.app_http_responses = s.responses
    r.app_http_status_first = s.first_status
    r.app_http_status_errors = s.errors
    r.app_http_uri_len_max = s.uri_len_max
    r.app_http_ua_share = (<double>s.ua_requests / s.requests) if s.requests else 0.0
    r.app_http_bodies = s.bodies
    r.app_http_body_magic = s.first_magic
    r.app_http_type_mismatch = s.mismatch
    r.app_http_exe_bodies = s.exe
