# cython: language_level=3
"""TLS handshake messages (RFC 5246, RFC 8446): the record walker and the ClientHello,
ServerHello and Certificate parsers, for ja.pxd (JA3/JA3S/JA4/JA4S) and x509.pxd.

Message parsers: tls_client_hello / tls_server_hello / tls_certificate(p, n, full, out):
p[0:n] the bytes we have of one handshake message (from its 4-byte header: type, 24-bit
length) whose real length is full (>= n; full must be 4 + the declared length). Returns
TLS_WHOLE (0), TLS_PREFIX (1: p ended first; what lies past the cut is absent, its
TLS_F_* bit clear) or a negative code: TLS_ERR (malformed), TLS_NOT (not this message).
A list cut by the prefix keeps the items read so far with its bit clear. An extension
whose inner structure is malformed is listed, its content ignored and TLS_F_BAD_EXT set.
Lists longer than their array keep the first TLS_MAX_* items, count all (n_*) and set
the list's _TRUNC bit. Strings are copied, NUL-terminated, beside their real length.

The record walker (tls_next_message) walks TLS records in a buffer that starts at a record
header and hands out handshake messages, joined across records, copied into the caller's
buffer (no allocation). SSLv2-compatible ClientHellos are recognised (tls_sslv2_hello).
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t

cdef enum:
    TLS_WHOLE = 0
    TLS_PREFIX = 1
    TLS_ERR = -1
    TLS_NOT = -2
    # handshake types (RFC 8446 4)
    TLS_HS_CLIENT_HELLO = 1
    TLS_HS_SERVER_HELLO = 2
    TLS_HS_CERTIFICATE = 11
    # record content types (RFC 8446 5.1; 24 heartbeat, RFC 6520)
    TLS_CT_CHANGE_CIPHER_SPEC = 20
    TLS_CT_ALERT = 21
    TLS_CT_HANDSHAKE = 22
    TLS_CT_APPLICATION_DATA = 23
    TLS_CT_HEARTBEAT = 24
    TLS_MAX_RECORD = 16384 + 2048     # TLSCiphertext.length limit (RFC 5246 6.2.3)
    # extension types (IANA TLS ExtensionType Values)
    TLS_EXT_SERVER_NAME = 0
    TLS_EXT_SUPPORTED_GROUPS = 10
    TLS_EXT_EC_POINT_FORMATS = 11
    TLS_EXT_SIGNATURE_ALGORITHMS = 13
    TLS_EXT_ALPN = 16
    TLS_EXT_SUPPORTED_VERSIONS = 43
    # array sizes (real counts are kept beside them)
    TLS_MAX_CIPHERS = 512
    TLS_MAX_EXTS = 64
    TLS_MAX_GROUPS = 32
    TLS_MAX_POINTFMTS = 16
    TLS_MAX_SIGALGS = 64
    TLS_MAX_VERSIONS = 16
    TLS_MAX_ALPN = 8
    TLS_ALPN_CAP = 32                 # bytes kept of each ALPN protocol (NUL included)
    TLS_SNI_CAP = 256                 # bytes kept of the server name (NUL included)
    TLS_MAX_CERTS = 64                # certificates counted in a Certificate message
    # flags: a part's bit is set when it was parsed whole
    TLS_F_VERSION = 1 << 0            # legacy_version (and, ServerHello, random, session id)
    TLS_F_CIPHERS = 1 << 1            # ClientHello: the cipher list; ServerHello: the cipher
    TLS_F_COMPRESSION = 1 << 2
    TLS_F_EXTS = 1 << 3               # the whole extension block (or its absence)
    TLS_F_SNI = 1 << 4                # each extension's bit: present and parsed whole
    TLS_F_ALPN = 1 << 5
    TLS_F_GROUPS = 1 << 6
    TLS_F_POINTFMTS = 1 << 7
    TLS_F_SIGALGS = 1 << 8
    TLS_F_VERSIONS = 1 << 9
    TLS_F_PREFIX = 1 << 10            # the message was cut
    TLS_F_BAD_EXT = 1 << 11           # an extension's content was malformed (ignored)
    TLS_F_SSLV2 = 1 << 12             # an SSLv2-compatible ClientHello
    TLS_F_HRR = 1 << 13               # ServerHello is a HelloRetryRequest (RFC 8446 4.1.3)
    TLS_F_CIPHERS_TRUNC = 1 << 16     # list longer than its array (n_* is the real count)
    TLS_F_EXTS_TRUNC = 1 << 17
    TLS_F_GROUPS_TRUNC = 1 << 18
    TLS_F_POINTFMTS_TRUNC = 1 << 19
    TLS_F_SIGALGS_TRUNC = 1 << 20
    TLS_F_VERSIONS_TRUNC = 1 << 21
    TLS_F_ALPN_TRUNC = 1 << 22        # more protocols than kept, or one longer than kept
    TLS_F_SNI_TRUNC = 1 << 23
    TLS_F_CERTS = 1 << 24             # Certificate: the whole list walked (n_certs final)
    TLS_F_CERTS_TRUNC = 1 << 25       # more than TLS_MAX_CERTS certificates
    # tls_next_message results
    TLS_MSG = 0
    TLS_MORE = 1
    TLS_END = 2
    TLS_SSLV2 = 3


cdef struct TlsClientHello:
    uint32_t flags
    uint16_t version                  # legacy_version (SSLv2 hello: its version field)
    uint8_t sid_len
    uint16_t n_ciphers                # real counts; the arrays keep the first TLS_MAX_*
    uint16_t ciphers[TLS_MAX_CIPHERS]
    uint16_t n_exts
    uint16_t exts[TLS_MAX_EXTS]       # extension types in order (GREASE included)
    uint16_t n_groups
    uint16_t groups[TLS_MAX_GROUPS]
    uint16_t n_pointfmts
    uint8_t pointfmts[TLS_MAX_POINTFMTS]
    uint16_t n_sigalgs
    uint16_t sigalgs[TLS_MAX_SIGALGS]
    uint16_t n_versions
    uint16_t versions[TLS_MAX_VERSIONS]   # supported_versions (RFC 8446 4.2.1)
    uint16_t sni_len                  # real length of the first host_name
    char sni[TLS_SNI_CAP]
    uint16_t n_alpn
    uint8_t alpn_len[TLS_MAX_ALPN]    # real length of each kept
    char alpn[TLS_MAX_ALPN][TLS_ALPN_CAP]
    uint8_t alpn0_first               # first and last byte of the first protocol (JA4),
    uint8_t alpn0_last                # whatever its length


cdef struct TlsServerHello:
    uint32_t flags
    uint16_t version                  # legacy_version
    uint16_t cipher
    uint8_t compression
    uint16_t selected_version         # supported_versions' choice (0: none)
    uint16_t n_exts
    uint16_t exts[TLS_MAX_EXTS]
    uint8_t alpn_len                  # real length of the chosen protocol (0: none)
    char alpn[TLS_ALPN_CAP]


cdef struct TlsCertificates:
    uint32_t flags                    # TLS_F_CERTS, TLS_F_CERTS_TRUNC, TLS_F_PREFIX
    uint32_t n_certs                  # certificates seen (the chain length once TLS_F_CERTS)
    uint32_t first_off                # the first certificate's DER: offset in p,
    uint32_t first_len                # its real length,
    uint32_t first_n                  # its bytes within p[0:n] (0: no certificate seen)


cdef struct TlsWalk:
    uint32_t off                      # next unread byte (a record header when rec_left == 0)
    uint32_t rec_left                 # bytes of the current handshake record still unread
    uint32_t records                  # records read
    uint16_t version                  # record-layer version of the first record
    uint8_t stop_type                 # the content type that ended the handshake (TLS_END)


cdef struct TlsMessage:
    uint8_t type                      # handshake type
    uint32_t full                     # its real length (4 + declared length)
    uint32_t n                        # bytes of it copied into the caller's buffer
    uint32_t start                    # offset in the walked buffer of its first byte


cdef struct TlsCur:
    const uint8_t* p
    uint32_t n                        # bytes we have (<= end of the message)
    uint32_t end                      # the message's real end
    uint32_t at


cdef inline int tls_need(TlsCur* c, uint32_t k, uint32_t limit) noexcept nogil:
    """k more bytes at c.at before `limit` (an enclosing end): 0 within n, 1 cut, -1
    past `limit` (malformed)."""
    if k > limit or c.at > limit - k:
        return -1
    if c.at + k > c.n:
        return 1
    return 0


cdef inline uint16_t tls_u16(const uint8_t* p) noexcept nogil:
    return (<uint16_t>p[0] << 8) | p[1]


cdef inline uint32_t tls_u24(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 16) | (<uint32_t>p[1] << 8) | p[2]


cdef inline int tls_start(const uint8_t* p, uint32_t n, uint32_t full, uint8_t hs_type,
                          TlsCur* c) noexcept nogil:
    """Check the handshake header: TLS_WHOLE (c ready after it), TLS_PREFIX (cut inside
    it), TLS_NOT (another type) or TLS_ERR (declared length != full - 4)."""
    c.p = p
    c.end = full
    c.n = n if n < full else full
    c.at = 0
    if c.n >= 1 and p[0] != hs_type:
        return TLS_NOT
    if full < 4:
        return TLS_ERR
    if c.n < 4:
        return TLS_PREFIX
    if tls_u24(p + 1) != full - 4:
        return TLS_ERR
    c.at = 4
    return TLS_WHOLE


cdef inline uint32_t tls_u16_list(const uint8_t* p, uint32_t k, uint16_t* arr,
                                  uint32_t cap, uint16_t* count) noexcept nogil:
    """k/2 big-endian uint16 values at p into arr (the first cap); *count += all of them;
    returns 1 when some did not fit."""
    cdef uint32_t i, c0 = count[0]
    for i in range(k // 2):
        if c0 + i < cap:
            arr[c0 + i] = tls_u16(p + 2 * i)
    count[0] = <uint16_t>(c0 + k // 2)
    return 1 if c0 + k // 2 > cap else 0


cdef inline int tls_ext_sni(const uint8_t* p, uint32_t k, TlsClientHello* out) noexcept nogil:
    """server_name (RFC 6066 3): the first host_name; -1 when malformed."""
    cdef uint32_t i = 2, nl, keep, j
    if k < 2 or tls_u16(p) != k - 2:
        return -1
    while i + 3 <= k:
        nl = tls_u16(p + i + 1)
        if i + 3 + nl > k:
            return -1
        if p[i] == 0 and not (out.flags & TLS_F_SNI):
            keep = nl if nl < TLS_SNI_CAP - 1 else TLS_SNI_CAP - 1
            for j in range(keep):
                out.sni[j] = <char>p[i + 3 + j]
            out.sni[keep] = 0
            out.sni_len = <uint16_t>nl
            out.flags |= TLS_F_SNI | (TLS_F_SNI_TRUNC if keep < nl else 0)
        i += 3 + nl
    return 0 if i == k else -1


cdef inline int tls_alpn_list(const uint8_t* p, uint32_t k, char* alpn, uint8_t* lens,
                              uint32_t cap, uint16_t* count, uint32_t* flags) noexcept nogil:
    """ALPN ProtocolNameList (RFC 7301 3.1) into cap rows of TLS_ALPN_CAP bytes at alpn;
    -1 when malformed or empty."""
    cdef uint32_t i = 2, pl, keep, j
    if k < 2 or tls_u16(p) != k - 2:
        return -1
    while i < k:
        pl = p[i]
        if pl == 0 or i + 1 + pl > k:
            return -1
        if count[0] < cap:
            keep = pl if pl < TLS_ALPN_CAP - 1 else TLS_ALPN_CAP - 1
            for j in range(keep):
                alpn[count[0] * TLS_ALPN_CAP + j] = <char>p[i + 1 + j]
            alpn[count[0] * TLS_ALPN_CAP + keep] = 0
            lens[count[0]] = <uint8_t>pl
            if keep < pl:
                flags[0] |= TLS_F_ALPN_TRUNC
        else:
            flags[0] |= TLS_F_ALPN_TRUNC
        count[0] += 1
        i += 1 + pl
    return 0 if count[0] else -1


cdef inline int tls_ch_ext(uint16_t etype, const uint8_t* p, uint32_t k,
                           TlsClientHello* out) noexcept nogil:
    """The content of one ClientHello extension whose bytes are all here; -1 malformed."""
    cdef uint32_t i
    if etype == TLS_EXT_SERVER_NAME:
        return tls_ext_sni(p, k, out)
    if etype == TLS_EXT_ALPN:
        if out.flags & TLS_F_ALPN or tls_alpn_list(p, k, &out.alpn[0][0], out.alpn_len,
                                                   TLS_MAX_ALPN, &out.n_alpn, &out.flags):
            return -1
        out.alpn0_first = p[3]
        out.alpn0_last = p[2 + p[2]]
        out.flags |= TLS_F_ALPN
    elif etype == TLS_EXT_SUPPORTED_GROUPS or etype == TLS_EXT_SIGNATURE_ALGORITHMS:
        if k < 2 or tls_u16(p) != k - 2 or k & 1:
            return -1
        if etype == TLS_EXT_SUPPORTED_GROUPS:
            if out.flags & TLS_F_GROUPS:
                return -1
            if tls_u16_list(p + 2, k - 2, out.groups, TLS_MAX_GROUPS, &out.n_groups):
                out.flags |= TLS_F_GROUPS_TRUNC
            out.flags |= TLS_F_GROUPS
        else:
            if out.flags & TLS_F_SIGALGS:
                return -1
            if tls_u16_list(p + 2, k - 2, out.sigalgs, TLS_MAX_SIGALGS, &out.n_sigalgs):
                out.flags |= TLS_F_SIGALGS_TRUNC
            out.flags |= TLS_F_SIGALGS
    elif etype == TLS_EXT_EC_POINT_FORMATS:
        if k < 1 or p[0] != k - 1 or out.flags & TLS_F_POINTFMTS:
            return -1
        for i in range(k - 1):
            if i < TLS_MAX_POINTFMTS:
                out.pointfmts[i] = p[1 + i]
        out.n_pointfmts = <uint16_t>(k - 1)
        out.flags |= TLS_F_POINTFMTS | (TLS_F_POINTFMTS_TRUNC if k - 1 > TLS_MAX_POINTFMTS else 0)
    elif etype == TLS_EXT_SUPPORTED_VERSIONS:
        if k < 1 or p[0] != k - 1 or not (k & 1) or out.flags & TLS_F_VERSIONS:
            return -1
        if tls_u16_list(p + 1, k - 1, out.versions, TLS_MAX_VERSIONS, &out.n_versions):
            out.flags |= TLS_F_VERSIONS_TRUNC
        out.flags |= TLS_F_VERSIONS
    return 0


cdef inline int tls_sh_ext(uint16_t etype, const uint8_t* p, uint32_t k,
                           TlsServerHello* out) noexcept nogil:
    """The content of one ServerHello extension: supported_versions, ALPN; -1 malformed."""
    cdef uint16_t count = 0
    if etype == TLS_EXT_SUPPORTED_VERSIONS:
        if k != 2:
            return -1
        out.selected_version = tls_u16(p)
    elif etype == TLS_EXT_ALPN:
        if tls_alpn_list(p, k, out.alpn, &out.alpn_len, 1, &count, &out.flags) or count != 1:
            out.alpn_len = 0
            out.alpn[0] = 0
            return -1
    return 0


cdef inline int tls_extensions(TlsCur* c, uint32_t* flags, uint16_t* types, uint16_t* count,
                               void* hello, int client) noexcept nogil:
    """The extension block at c.at, which runs to the message's end: each type listed
    (types[0:TLS_MAX_EXTS], *count all) and, when all its bytes are here, its content
    parsed (tls_ch_ext / tls_sh_ext). TLS_WHOLE, TLS_PREFIX or TLS_ERR."""
    cdef uint32_t total, e, k
    cdef uint16_t etype
    cdef int rc
    if c.at == c.end:                          # no extensions (RFC 5246 7.4.1.2)
        flags[0] |= TLS_F_EXTS
        return TLS_WHOLE
    rc = tls_need(c, 2, c.end)
    if rc:
        return TLS_ERR if rc < 0 else TLS_PREFIX
    total = tls_u16(c.p + c.at)
    c.at += 2
    if total != c.end - c.at:
        return TLS_ERR
    e = c.end
    while c.at < e:
        rc = tls_need(c, 4, e)
        if rc:
            return TLS_ERR if rc < 0 else TLS_PREFIX
        etype = tls_u16(c.p + c.at)
        k = tls_u16(c.p + c.at + 2)
        c.at += 4
        if tls_need(c, k, e) < 0:
            return TLS_ERR
        if count[0] < TLS_MAX_EXTS:
            types[count[0]] = etype
        else:
            flags[0] |= TLS_F_EXTS_TRUNC
        count[0] += 1
        if c.at + k > c.n:
            return TLS_PREFIX
        if client:
            rc = tls_ch_ext(etype, c.p + c.at, k, <TlsClientHello*>hello)
        else:
            rc = tls_sh_ext(etype, c.p + c.at, k, <TlsServerHello*>hello)
        if rc:
            flags[0] |= TLS_F_BAD_EXT
        c.at += k
    flags[0] |= TLS_F_EXTS
    return TLS_WHOLE


cdef inline int tls_cut(uint32_t* flags) noexcept nogil:
    flags[0] |= TLS_F_PREFIX
    return TLS_PREFIX


cdef inline int tls_hello_head(TlsCur* c, uint16_t* version, uint8_t* sid_len,
                               const uint8_t** random) noexcept nogil:
    """legacy_version, random and legacy_session_id: TLS_WHOLE, TLS_PREFIX or TLS_ERR."""
    cdef int rc = tls_need(c, 35, c.end)
    if rc:
        return TLS_ERR if rc < 0 else TLS_PREFIX
    version[0] = tls_u16(c.p + c.at)
    random[0] = c.p + c.at + 2
    sid_len[0] = c.p[c.at + 34]
    if sid_len[0] > 32:
        return TLS_ERR
    c.at += 35
    rc = tls_need(c, sid_len[0], c.end)
    if rc:
        return TLS_ERR if rc < 0 else TLS_PREFIX
    c.at += sid_len[0]
    return TLS_WHOLE


cdef inline void tls_client_hello_clear(TlsClientHello* out) noexcept nogil:
    out.flags = 0
    out.version = 0
    out.sid_len = 0
    out.n_ciphers = out.n_exts = out.n_groups = out.n_pointfmts = 0
    out.n_sigalgs = out.n_versions = out.sni_len = out.n_alpn = 0
    out.sni[0] = 0
    out.alpn0_first = out.alpn0_last = 0


cdef inline int tls_client_hello(const uint8_t* p, uint32_t n, uint32_t full,
                                 TlsClientHello* out) noexcept nogil:
    """A ClientHello handshake message (RFC 8446 4.1.2): see the module docstring."""
    cdef TlsCur c
    cdef uint32_t k, have
    cdef const uint8_t* random
    cdef int rc
    tls_client_hello_clear(out)
    rc = tls_start(p, n, full, TLS_HS_CLIENT_HELLO, &c)
    if rc != TLS_WHOLE:
        return tls_cut(&out.flags) if rc == TLS_PREFIX else rc
    rc = tls_hello_head(&c, &out.version, &out.sid_len, &random)
    if rc != TLS_WHOLE:
        return tls_cut(&out.flags) if rc == TLS_PREFIX else rc
    out.flags |= TLS_F_VERSION
    rc = tls_need(&c, 2, c.end)
    if rc:
        return TLS_ERR if rc < 0 else tls_cut(&out.flags)
    k = tls_u16(p + c.at)
    c.at += 2
    if k & 1 or k == 0 or tls_need(&c, k, c.end) < 0:
        return TLS_ERR
    have = k if c.at + k <= c.n else (c.n - c.at) & ~(<uint32_t>1)
    if tls_u16_list(p + c.at, have, out.ciphers, TLS_MAX_CIPHERS, &out.n_ciphers):
        out.flags |= TLS_F_CIPHERS_TRUNC
    if have < k:
        return tls_cut(&out.flags)
    c.at += k
    out.flags |= TLS_F_CIPHERS
    rc = tls_need(&c, 1, c.end)
    if rc:
        return TLS_ERR if rc < 0 else tls_cut(&out.flags)
    k = p[c.at]
    c.at += 1
    rc = tls_need(&c, k, c.end)
    if rc or k == 0:
        return TLS_ERR if rc < 0 or k == 0 else tls_cut(&out.flags)
    c.at += k
    out.flags |= TLS_F_COMPRESSION
    rc = tls_extensions(&c, &out.flags, out.exts, &out.n_exts, out, 1)
    return tls_cut(&out.flags) if rc == TLS_PREFIX else rc


cdef inline int tls_server_hello(const uint8_t* p, uint32_t n, uint32_t full,
                                 TlsServerHello* out) noexcept nogil:
    """A ServerHello (RFC 8446 4.1.3; a HelloRetryRequest is flagged TLS_F_HRR)."""
    cdef TlsCur c
    cdef uint8_t sid_len
    cdef const uint8_t* random
    cdef const uint8_t* HRR = <const uint8_t*>(
        b"\xcf\x21\xad\x74\xe5\x9a\x61\x11\xbe\x1d\x8c\x02\x1e\x65\xb8\x91"
        b"\xc2\xa2\x11\x16\x7a\xbb\x8c\x5e\x07\x9e\x09\xe2\xc8\xa8\x33\x9c")
    cdef int rc, i
    out.flags = 0
    out.version = out.cipher = out.selected_version = out.n_exts = 0
    out.compression = out.alpn_len = 0
    out.alpn[0] = 0
    rc = tls_start(p, n, full, TLS_HS_SERVER_HELLO, &c)
    if rc != TLS_WHOLE:
        return tls_cut(&out.flags) if rc == TLS_PREFIX else rc
    rc = tls_hello_head(&c, &out.version, &sid_len, &random)
    if rc != TLS_WHOLE:
        return tls_cut(&out.flags) if rc == TLS_PREFIX else rc
    out.flags |= TLS_F_VERSION
    for i in range(32):
        if random[i] != HRR[i]:
            break
    else:
        out.flags |= TLS_F_HRR
    rc = tls_need(&c, 3, c.end)
    if rc:
        return TLS_ERR if rc < 0 else tls_cut(&out.flags)
    out.cipher = tls_u16(p + c.at)
    out.compression = p[c.at + 2]
    c.at += 3
    out.flags |= TLS_F_CIPHERS | TLS_F_COMPRESSION
    rc = tls_extensions(&c, &out.flags, out.exts, &out.n_exts, out, 0)
    return tls_cut(&out.flags) if rc == TLS_PREFIX else rc


cdef inline int tls_certificate(const uint8_t* p, uint32_t n, uint32_t full,
                                TlsCertificates* out) noexcept nogil:
    """A TLS <= 1.2 Certificate message (RFC 5246 7.4.2): the chain length and where the
    first (the server's) certificate lies. (TLS 1.3's is encrypted.)"""
    cdef TlsCur c
    cdef uint32_t k
    cdef int rc
    out.flags = out.n_certs = out.first_off = out.first_len = out.first_n = 0
    rc = tls_start(p, n, full, TLS_HS_CERTIFICATE, &c)
    if rc != TLS_WHOLE:
        return tls_cut(&out.flags) if rc == TLS_PREFIX else rc
    rc = tls_need(&c, 3, c.end)
    if rc:
        return TLS_ERR if rc < 0 else tls_cut(&out.flags)
    if tls_u24(p + c.at) != c.end - c.at - 3:
        return TLS_ERR
    c.at += 3
    while c.at < c.end:
        if out.n_certs == TLS_MAX_CERTS:
            out.flags |= TLS_F_CERTS_TRUNC
            return TLS_WHOLE
        rc = tls_need(&c, 3, c.end)
        if rc:
            return TLS_ERR if rc < 0 else tls_cut(&out.flags)
        k = tls_u24(p + c.at)
        c.at += 3
        if k == 0 or tls_need(&c, k, c.end) < 0:
            return TLS_ERR
        if out.n_certs == 0:
            out.first_off = c.at
            out.first_len = k
            out.first_n = k if c.at + k <= c.n else c.n - c.at
        out.n_certs += 1
        c.at += k
    if c.at > c.n:
        return tls_cut(&out.flags)
    out.flags |= TLS_F_CERTS
    return TLS_WHOLE


cdef inline int tls_sslv2_hello(const uint8_t* p, uint32_t n, uint32_t full,
                                TlsClientHello* out) noexcept nogil:
    """An SSLv2-compatible ClientHello (RFC 6101 E.1, RFC 5246 E.2): 2-byte length with
    the top bit set, msg_type 1, version, then cipher specs of 3 bytes; the specs whose
    first byte is 0 are TLS cipher suites and are listed in ciphers (TLS_F_SSLV2 set)."""
    cdef uint32_t k, i, at
    tls_client_hello_clear(out)
    out.flags = TLS_F_SSLV2
    if n > full:
        n = full
    if n >= 1 and not (p[0] & 0x80):
        return TLS_NOT
    if n >= 3 and p[2] != 1:
        return TLS_NOT
    if full < 11:
        return TLS_ERR
    if n < 11:
        return tls_cut(&out.flags)
    if (((<uint32_t>p[0] & 0x7f) << 8) | p[1]) != full - 2:
        return TLS_ERR
    out.version = tls_u16(p + 3)
    out.flags |= TLS_F_VERSION
    k = tls_u16(p + 5)
    if k % 3 or 11 + k + tls_u16(p + 7) + tls_u16(p + 9) != full:
        return TLS_ERR
    at = 11
    for i in range(k // 3):
        if at + 3 > n:
            return tls_cut(&out.flags)
        if p[at] == 0:
            if out.n_ciphers < TLS_MAX_CIPHERS:
                out.ciphers[out.n_ciphers] = tls_u16(p + at + 1)
            else:
                out.flags |= TLS_F_CIPHERS_TRUNC
            out.n_ciphers += 1
        at += 3
    out.flags |= TLS_F_CIPHERS
    return TLS_WHOLE if full <= n else tls_cut(&out.flags)


cdef inline int tls_record_header(const uint8_t* p, uint32_t n, uint32_t at,
                                  uint8_t* ctype, uint16_t* version,
                                  uint32_t* length) noexcept nogil:
    """The 5-byte record header at p[at]: 0, 1 (not all here) or TLS_ERR (an unknown
    content type, a version not 3.x, an empty or oversized record)."""
    if at + 5 > n:
        return 1
    ctype[0] = p[at]
    version[0] = tls_u16(p + at + 1)
    length[0] = tls_u16(p + at + 3)
    if not (TLS_CT_CHANGE_CIPHER_SPEC <= ctype[0] <= TLS_CT_HEARTBEAT):
        return TLS_ERR
    if (version[0] >> 8) != 3 or (version[0] & 0xff) > 4:
        return TLS_ERR
    if length[0] == 0 or length[0] > TLS_MAX_RECORD:
        return TLS_ERR
    return 0


cdef inline int tls_sslv2_start(const uint8_t* p, uint32_t n, TlsWalk* w, TlsMessage* m,
                                uint8_t* buf, uint32_t cap) noexcept nogil:
    """The stream starts with an SSLv2 ClientHello: copy it whole or as far as it goes."""
    cdef uint32_t i, k
    m.type = TLS_HS_CLIENT_HELLO
    m.start = 0
    m.full = 2 + (((<uint32_t>p[0] & 0x7f) << 8) | p[1])
    k = m.full if m.full < n else n
    if k > cap:
        k = cap
    for i in range(k):
        buf[i] = p[i]
    m.n = k
    w.off = m.full if m.full < n else n
    w.records = 1
    w.stop_type = 0x80
    return TLS_SSLV2


cdef inline int tls_next_message(const uint8_t* p, uint32_t n, TlsWalk* w, TlsMessage* m,
                                 uint8_t* buf, uint32_t cap) noexcept nogil:
    """The next handshake message of the records in p[w.off:n], copied (joined across
    records) into buf[0:cap]. Start with a zeroed TlsWalk at a record header.
    TLS_MSG: m holds it (m.n = min(full, cap) bytes copied; w moves past it);
    TLS_MORE: p ends inside it (m.n bytes so far; w unchanged: call again with more);
    TLS_END: the next record is not a handshake record (w.stop_type: nothing more in
    clear after ChangeCipherSpec / application data / alert); TLS_SSLV2: the stream starts
    with an SSLv2 ClientHello (m as for TLS_MSG, parse with tls_sslv2_hello);
    TLS_ERR: a bad record header, or a message broken off by another content type."""
    cdef uint32_t off = w.off, left = w.rec_left, records = w.records, got = 0, full = 0
    cdef uint32_t take, i, length
    cdef uint8_t hdr[4]
    cdef uint8_t ctype
    cdef uint16_t version
    cdef int rc
    m.type = 0
    m.full = m.n = 0
    m.start = off
    if off == 0 and records == 0 and n >= 3 and p[0] & 0x80 and p[2] == 1:
        return tls_sslv2_start(p, n, w, m, buf, cap)
    while not (got >= 4 and got == full):
        if left == 0:
            rc = tls_record_header(p, n, off, &ctype, &version, &length)
            if rc == 1:
                return TLS_MORE
            if rc < 0 or (ctype != TLS_CT_HANDSHAKE and got):
                return TLS_ERR
            if ctype != TLS_CT_HANDSHAKE:
                w.off = off
                w.stop_type = ctype
                return TLS_END
            if records == 0:
                w.version = version
            records += 1
            off += 5
            left = length
            continue
        if off >= n:
            return TLS_MORE
        if got == 0:
            m.start = off
        take = 1 if got < 4 else full - got
        if take > left:
            take = left
        if take > n - off:
            take = n - off
        for i in range(take):
            if got + i < 4:
                hdr[got + i] = p[off + i]
            if got + i < cap:
                buf[got + i] = p[off + i]
        got += take
        off += take
        left -= take
        m.n = got if got < cap else cap
        if got == 4:
            full = 4 + tls_u24(hdr + 1)
            m.type = hdr[0]
            m.full = full
    w.off = off
    w.rec_left = left
    w.records = records
    return TLS_MSG


cdef inline int tls_skip_record(const uint8_t* p, uint32_t n, TlsWalk* w) noexcept nogil:
    """Step over the record that ended the walk (TLS_END, w.off at its header) to walk
    on: TLS 1.3's compatibility ChangeCipherSpec before a second ClientHello (RFC 8446
    D.4). Only the caller knows when that is right (the other direction's ServerHello
    was a HelloRetryRequest, TLS_F_HRR): after TLS 1.2's ChangeCipherSpec the handshake
    records are encrypted. TLS_MSG: done (w at the next record); TLS_MORE: the record is
    not all in p[0:n] (w unchanged); TLS_ERR: a bad record header."""
    cdef uint8_t ctype
    cdef uint16_t version
    cdef uint32_t length
    cdef int rc = tls_record_header(p, n, w.off, &ctype, &version, &length)
    if rc == 1 or (rc == 0 and length > n - w.off - 5):
        return TLS_MORE
    if rc < 0 or w.rec_left:
        return TLS_ERR
    w.off += 5 + length
    w.stop_type = 0
    return TLS_MSG
