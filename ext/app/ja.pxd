# cython: language_level=3
"""TLS fingerprints from parsed hellos (tls.pxd): JA3 and JA3S (Salesforce's, MD5 of a
decimal string) and JA4 and JA4S (FoxIO's, technical_details/JA4.md of FoxIO-LLC/ja4).

JA3  = "version,ciphers,extensions,groups,point_formats": decimal values joined by "-",
       GREASE values (RFC 8701: 0x?a?a with equal bytes) left out of every list.
JA3S = "version,cipher,extensions" of the ServerHello (GREASE left out too).
JA4  = a_b_c: a = t (TCP), version (the highest non-GREASE supported_versions, else
       legacy_version; tls_names.py's JA4 code, "00" unknown), d/i (SNI extension there or
       not), cipher and extension counts (GREASE out, at most 99), the first ALPN's first
       and last characters ("00" without); b = first 12 hex of SHA-256 of the sorted
       cipher list (4 lower-case hex digits each, "," between; "000000000000" when empty);
       c = the same of the sorted extension list without SNI (0000) and ALPN (0010),
       then "_" and the signature algorithms in their order when there are any.
       ja4_r: the lists themselves instead of hashes; ja4_o / ja4_ro: the lists in the
       hello's order (SNI and ALPN kept).
JA4S = t, version, extension count, the chosen ALPN by JA4's rule ("00" without)
       _ cipher (4 hex) _ first 12 hex of SHA-256 of the extensions in order.
       JA4S (unlike JA4, BSD-3-Clause) is under the FoxIO License 1.1: free for
       non-commercial use only; whoever ships it decides whether it is emitted.

Each returns the string's length, or -1 when the hello does not allow it (a part cut by
a prefix, or a list longer than the parser's array: the fingerprint needs all values).
Nothing allocated; the outputs are fixed-size arrays of the caller (JA_CAP bytes,
JA4_LEN + 1 for a hashed JA4).
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t

from app.ber cimport (BerOut, ber_out_init, ber_out_byte, ber_out_bytes, ber_out_uint,
                      ber_out_hex, ber_truncated)
from app.tls cimport (TlsClientHello, TlsServerHello, TLS_F_CIPHERS, TLS_F_EXTS,
                      TLS_F_CIPHERS_TRUNC, TLS_F_EXTS_TRUNC, TLS_F_GROUPS_TRUNC,
                      TLS_F_POINTFMTS_TRUNC, TLS_F_SIGALGS_TRUNC, TLS_F_VERSIONS_TRUNC,
                      TLS_F_ALPN, TLS_F_SIGALGS, TLS_F_VERSIONS, TLS_F_GROUPS,
                      TLS_F_POINTFMTS, TLS_MAX_CIPHERS, TLS_MAX_EXTS, TLS_EXT_SERVER_NAME,
                      TLS_ALPN_CAP,
                      TLS_EXT_ALPN)

from hashes cimport ws_md5, ws_sha256
from tls_names cimport WS_N_TLS_VERSIONS, ws_tls_versions, ws_ja4_unknown_version

cdef enum:
    JA_CAP = 8192          # bytes of a JA3 / JA3S / raw JA4 string (NUL included)
    JA4_LEN = 36           # a hashed JA4: 10 + 1 + 12 + 1 + 12
    JA4S_LEN = 25          # a hashed JA4S: 7 + 1 + 4 + 1 + 12
    JA_MD5_HEX = 33        # 32 hex digits + NUL


cdef inline bint ja_grease(uint16_t v) noexcept nogil:
    """GREASE (RFC 8701): 0x0a0a, 0x1a1a, ..., 0xfafa."""
    return (v & 0x0f0f) == 0x0a0a and (v >> 8) == (v & 0xff)


cdef inline void ja_dec_list(BerOut* o, const uint16_t* v, uint32_t k) noexcept nogil:
    """Decimal values without GREASE, joined by "-"."""
    cdef uint32_t i
    cdef bint first = True
    for i in range(k):
        if ja_grease(v[i]):
            continue
        if not first:
            ber_out_byte(o, 45)
        ber_out_uint(o, v[i])
        first = False


cdef inline int ja_finish(BerOut* o, char* md5_hex) noexcept nogil:
    """The MD5 of the string written (lower-case hex); its length, -1 when it overflowed."""
    cdef uint8_t digest[16]
    cdef BerOut h
    cdef int i
    if ber_truncated(o):
        return -1
    ws_md5(<const uint8_t*>o.buf, o.len, digest)
    ber_out_init(&h, md5_hex, JA_MD5_HEX)
    for i in range(16):
        ber_out_hex(&h, digest[i], False)
    return o.len


cdef inline int ja3(const TlsClientHello* ch, char* out, char* md5_hex) noexcept nogil:
    """JA3 string into out[0:JA_CAP] and its MD5 into md5_hex[0:JA_MD5_HEX]."""
    cdef BerOut o
    cdef uint16_t pf[16]
    cdef uint32_t i
    if (ch.flags & (TLS_F_CIPHERS | TLS_F_EXTS)) != (TLS_F_CIPHERS | TLS_F_EXTS) or \
            ch.flags & (TLS_F_CIPHERS_TRUNC | TLS_F_EXTS_TRUNC | TLS_F_GROUPS_TRUNC |
                        TLS_F_POINTFMTS_TRUNC):
        return -1
    ber_out_init(&o, out, JA_CAP)
    ber_out_uint(&o, ch.version)
    ber_out_byte(&o, 44)
    ja_dec_list(&o, ch.ciphers, ch.n_ciphers)
    ber_out_byte(&o, 44)
    ja_dec_list(&o, ch.exts, ch.n_exts)
    ber_out_byte(&o, 44)
    if ch.flags & TLS_F_GROUPS:
        ja_dec_list(&o, ch.groups, ch.n_groups)
    ber_out_byte(&o, 44)
    if ch.flags & TLS_F_POINTFMTS:
        for i in range(ch.n_pointfmts):
            pf[i] = ch.pointfmts[i]
        ja_dec_list(&o, pf, ch.n_pointfmts)
    return ja_finish(&o, md5_hex)


cdef inline int ja3s(const TlsServerHello* sh, char* out, char* md5_hex) noexcept nogil:
    """JA3S string into out[0:JA_CAP] and its MD5 into md5_hex[0:JA_MD5_HEX]."""
    cdef BerOut o
    if (sh.flags & (TLS_F_CIPHERS | TLS_F_EXTS)) != (TLS_F_CIPHERS | TLS_F_EXTS) or \
            sh.flags & TLS_F_EXTS_TRUNC:
        return -1
    ber_out_init(&o, out, JA_CAP)
    ber_out_uint(&o, sh.version)
    ber_out_byte(&o, 44)
    ber_out_uint(&o, sh.cipher)
    ber_out_byte(&o, 44)
    ja_dec_list(&o, sh.exts, sh.n_exts)
    return ja_finish(&o, md5_hex)


cdef inline const char* ja4_version_code(uint16_t v) noexcept nogil:
    cdef int i
    for i in range(WS_N_TLS_VERSIONS):
        if ws_tls_versions[i].value == v:
            return ws_tls_versions[i].ja4
    return ws_ja4_unknown_version


cdef inline void ja_two(BerOut* o, uint32_t k) noexcept nogil:
    """A count as two decimal digits, at most 99."""
    if k > 99:
        k = 99
    ber_out_byte(o, <uint8_t>(48 + k // 10))
    ber_out_byte(o, <uint8_t>(48 + k % 10))


cdef inline bint ja_alnum(uint8_t c) noexcept nogil:
    return (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)


cdef inline void ja4_alpn(BerOut* o, bint present, uint8_t a, uint8_t b) noexcept nogil:
    """The first ALPN's first (a) and last (b) characters; when either is not ASCII
    alphanumeric, the first hex digit of a and the last of b; "00" without ALPN."""
    cdef const char* hexd = b"0123456789abcdef"
    if not present:
        ber_out_byte(o, 48)
        ber_out_byte(o, 48)
    elif ja_alnum(a) and ja_alnum(b):
        ber_out_byte(o, a)
        ber_out_byte(o, b)
    else:
        ber_out_byte(o, <uint8_t>hexd[a >> 4])
        ber_out_byte(o, <uint8_t>hexd[b & 15])


cdef inline uint32_t ja_filtered(const uint16_t* v, uint32_t k, uint16_t* out, bint sort,
                                 bint drop_sni_alpn) noexcept nogil:
    """v without GREASE (and SNI / ALPN when asked) into out, sorted when asked
    (insertion sort: at most TLS_MAX_CIPHERS values); returns how many."""
    cdef uint32_t i, j, m = 0
    cdef uint16_t x
    for i in range(k):
        if ja_grease(v[i]) or (drop_sni_alpn and (v[i] == TLS_EXT_SERVER_NAME or
                                                  v[i] == TLS_EXT_ALPN)):
            continue
        x = v[i]
        j = m
        if sort:
            while j > 0 and out[j - 1] > x:
                out[j] = out[j - 1]
                j -= 1
        out[j] = x
        m += 1
    return m


cdef inline void ja_hex_list(BerOut* o, const uint16_t* v, uint32_t k) noexcept nogil:
    """4 lower-case hex digits each, joined by ","."""
    cdef uint32_t i
    for i in range(k):
        if i:
            ber_out_byte(o, 44)
        ber_out_hex(o, <uint8_t>(v[i] >> 8), False)
        ber_out_hex(o, <uint8_t>(v[i] & 0xff), False)


cdef inline void ja_hash12(BerOut* o, const char* s, uint32_t k) noexcept nogil:
    """First 12 lower-case hex digits of SHA-256(s[0:k]), "000000000000" when k == 0."""
    cdef uint8_t digest[32]
    cdef int i
    if k == 0:
        for i in range(12):
            ber_out_byte(o, 48)
        return
    ws_sha256(<const uint8_t*>s, k, digest)
    for i in range(6):
        ber_out_hex(o, digest[i], False)


cdef inline uint16_t ja4_version(const TlsClientHello* ch) noexcept nogil:
    """The highest non-GREASE supported_versions value, else legacy_version."""
    cdef uint16_t best = 0
    cdef uint32_t i
    if ch.flags & TLS_F_VERSIONS:
        for i in range(ch.n_versions):
            if not ja_grease(ch.versions[i]) and ch.versions[i] > best:
                best = ch.versions[i]
    return best if best else ch.version


cdef inline int ja4_parts(const TlsClientHello* ch, uint8_t transport, bint original,
                          BerOut* a, BerOut* b, BerOut* c) noexcept nogil:
    """JA4's a part and the lists behind b and c (sorted, or in the hello's order)."""
    cdef uint16_t cs[TLS_MAX_CIPHERS]
    cdef uint16_t es[TLS_MAX_EXTS]
    cdef uint16_t sa[64]
    cdef uint32_t nc, ne, ns = 0, ne_all, i
    cdef const char* code
    cdef bint sni = False
    if (ch.flags & (TLS_F_CIPHERS | TLS_F_EXTS)) != (TLS_F_CIPHERS | TLS_F_EXTS) or \
            ch.flags & (TLS_F_CIPHERS_TRUNC | TLS_F_EXTS_TRUNC | TLS_F_SIGALGS_TRUNC |
                        TLS_F_VERSIONS_TRUNC):
        return -1
    nc = ja_filtered(ch.ciphers, ch.n_ciphers, cs, not original, False)
    ne_all = ja_filtered(ch.exts, ch.n_exts, es, False, False)
    ne = ja_filtered(ch.exts, ch.n_exts, es, not original, not original)
    if ch.flags & TLS_F_SIGALGS:
        ns = ja_filtered(ch.sigalgs, ch.n_sigalgs, sa, False, False)
    for i in range(ch.n_exts):
        if ch.exts[i] == TLS_EXT_SERVER_NAME:
            sni = True
    code = ja4_version_code(ja4_version(ch))
    ber_out_byte(a, transport)
    ber_out_byte(a, <uint8_t>code[0])
    ber_out_byte(a, <uint8_t>code[1])
    ber_out_byte(a, 100 if sni else 105)               # d / i
    ja_two(a, nc)
    ja_two(a, ne_all)
    ja4_alpn(a, ch.flags & TLS_F_ALPN and ch.n_alpn > 0, ch.alpn0_first, ch.alpn0_last)
    ja_hex_list(b, cs, nc)
    ja_hex_list(c, es, ne)
    if ns:
        ber_out_byte(c, 95)
        ja_hex_list(c, sa, ns)
    return 0


cdef inline int ja4(const TlsClientHello* ch, uint8_t transport, bint original,
                    char* hashed, char* raw) noexcept nogil:
    """JA4 (original=False) or JA4_o (True) into hashed[0:JA4_LEN + 1] and its raw form
    (JA4_r / JA4_ro) into raw[0:JA_CAP]; transport: "t" (TCP), "q" (QUIC), "d" (DTLS).
    Returns the raw form's length, or -1."""
    cdef char bl[JA_CAP]
    cdef char cl[JA_CAP]
    cdef BerOut a, b, c, h
    cdef uint32_t i
    ber_out_init(&a, raw, JA_CAP)
    ber_out_init(&b, bl, JA_CAP)
    ber_out_init(&c, cl, JA_CAP)
    if ja4_parts(ch, transport, original, &a, &b, &c) or ber_truncated(&b) or \
            ber_truncated(&c):
        return -1
    ber_out_init(&h, hashed, JA4_LEN + 1)
    ber_out_bytes(&h, <const uint8_t*>raw, a.len)
    ber_out_byte(&h, 95)
    ja_hash12(&h, bl, b.len)
    ber_out_byte(&h, 95)
    ja_hash12(&h, cl, c.len)
    ber_out_byte(&a, 95)
    ber_out_bytes(&a, <const uint8_t*>bl, b.len)
    ber_out_byte(&a, 95)
    ber_out_bytes(&a, <const uint8_t*>cl, c.len)
    return -1 if ber_truncated(&a) else <int>a.len


cdef inline int ja4s(const TlsServerHello* sh, uint8_t transport, char* hashed,
                     char* raw) noexcept nogil:
    """JA4S into hashed[0:JA4S_LEN + 1] and JA4S_r into raw[0:JA_CAP]. The chosen ALPN
    is written by JA4's rule (ja4_alpn). FoxIO's python/ja4.py differs in two corners
    no vector holds: "99" when the first byte is over 127, and one character for a
    one-character protocol."""
    cdef char cl[JA_CAP]
    cdef BerOut a, c, h
    cdef uint16_t v = sh.selected_version if sh.selected_version else sh.version
    cdef const char* code = ja4_version_code(v)
    cdef uint32_t i
    if (sh.flags & (TLS_F_CIPHERS | TLS_F_EXTS)) != (TLS_F_CIPHERS | TLS_F_EXTS) or \
            sh.flags & TLS_F_EXTS_TRUNC or sh.alpn_len >= TLS_ALPN_CAP:
        return -1
    ber_out_init(&a, raw, JA_CAP)
    ber_out_init(&c, cl, JA_CAP)
    ber_out_byte(&a, transport)
    ber_out_byte(&a, <uint8_t>code[0])
    ber_out_byte(&a, <uint8_t>code[1])
    ja_two(&a, sh.n_exts)
    ja4_alpn(&a, sh.alpn_len > 0, <uint8_t>sh.alpn[0],
             <uint8_t>sh.alpn[sh.alpn_len - 1 if sh.alpn_len else 0])
    ber_out_byte(&a, 95)
    ber_out_hex(&a, <uint8_t>(sh.cipher >> 8), False)
    ber_out_hex(&a, <uint8_t>(sh.cipher & 0xff), False)
    ja_hex_list(&c, sh.exts, sh.n_exts)
    ber_out_init(&h, hashed, JA4S_LEN + 1)
    ber_out_bytes(&h, <const uint8_t*>raw, a.len)
    ber_out_byte(&h, 95)
    ja_hash12(&h, cl, c.len)
    ber_out_byte(&a, 95)
    ber_out_bytes(&a, <const uint8_t*>cl, c.len)
    return -1 if ber_truncated(&a) or ber_truncated(&c) else <int>a.len
