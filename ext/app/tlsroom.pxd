# TLS as a room of the stream (RFC 5246, RFC 8446): each direction's records are walked
# until the handshake in clear ends (ChangeCipherSpec, application data, an alert); the
# handshake messages, joined across records (tls.pxd tls_next_message), go to the
# message parsers: the ClientHello (version, SNI, ALPN, cipher and extension lists,
# JA3 + MD5, JA4: ja.pxd), the ServerHello (version, supported_versions' choice for 1.3,
# JA3S, ALPN) and, for TLS <= 1.2, the server's Certificate message: its first
# certificate (x509.pxd: subject, issuer, serial, validity, self-signed, SHA-1).
#
# One TlsEvent a flow (Suricata's EVE tls), built in the stream slot's state as the
# messages come and written once: at the server's ServerHelloDone or the end of its
# handshake in clear, else when the stream ends (both directions done, or the flow ends)
# with part of a handshake read (tls_finish).
#
# A handshake message longer than the hold (a Certificate message: a chain is 3-6 KB)
# is read from its first APP_HOLD bytes (the first certificate's fields lie in its
# first ~1 KB), and its remaining bytes are passed through here (not skipped: they
# cross record headers), the first certificate's bytes hashed on the way (incremental
# SHA-1): the fingerprint costs no hold. A gap: the held prefix is read as cut and the
# walk resumes at the next record header when the lost bytes end within the current
# record; else the direction ends (counted). A snap-length cut ClientHello gives what
# its captured prefix holds (SNI when it lies within; JA3 and JA4 need the whole lists).
#
# Inline, used without the GIL; registered in protocols.pxd.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy, memset
from counters cimport A_TRUNCATED
from enums cimport EV_TLS, APP_HOLD
from features cimport FlowRecord
from app.base cimport AppCtx, APP_ERROR, K_TX, K_PARSER, ctx_count
from app.events cimport ev_begin, ev_commit, ev_ident
from app.tls cimport (TlsClientHello, TlsServerHello, TlsCertificates, TlsWalk, TlsMessage,
                      tls_client_hello, tls_sslv2_hello, tls_server_hello, tls_certificate,
                      tls_next_message, tls_record_header, tls_skip_record, TLS_MSG, TLS_MORE, TLS_END,
                      TLS_SSLV2, TLS_ERR, TLS_PREFIX, TLS_HS_CLIENT_HELLO,
                      TLS_HS_SERVER_HELLO, TLS_HS_CERTIFICATE, TLS_CT_HANDSHAKE,
                      TLS_CT_ALERT, TLS_CT_HEARTBEAT,
                      TLS_F_SNI, TLS_F_SNI_TRUNC, TLS_F_ALPN, TLS_F_HRR, TLS_F_CIPHERS,
                      TLS_F_EXTS, TLS_F_CERTS, TLS_MAX_ALPN, TLS_ALPN_CAP)
from app.ja cimport ja3, ja3s, ja4, JA_CAP, JA4_LEN, JA_MD5_HEX
from app.x509 cimport (X509Cert, x509_parse, X509_ERR, X509_F_SERIAL, X509_F_ISSUER,
                       X509_F_SUBJECT, X509_F_VALIDITY, X509_F_SHA1, X509_F_SELF_SIGNED,
                       X509_F_ISSUER_TRUNC, X509_F_SUBJECT_TRUNC, X509_F_SERIAL_TRUNC,
                       X509_SERIAL_CAP)

cdef extern from "sha1.h" nogil:
    ctypedef struct ws_sha1_ctx:
        pass
    void ws_sha1_init(ws_sha1_ctx* c)
    void ws_sha1_update(ws_sha1_ctx* c, const uint8_t* p, size_t k)
    void ws_sha1_final(ws_sha1_ctx* c, uint8_t* out)

cdef extern from "names.h":
    enum:                          # TlsEvent.status (core_names.py TLS_EVENT_BITS)
        TE_CLIENT "WS_TE_CLIENT"
        TE_SERVER "WS_TE_SERVER"
        TE_CERT "WS_TE_CERT"
        TE_SNI "WS_TE_SNI"
        TE_JA3 "WS_TE_JA3"
        TE_JA3S "WS_TE_JA3S"
        TE_JA4 "WS_TE_JA4"
        TE_SUBJECT "WS_TE_SUBJECT"
        TE_ISSUER "WS_TE_ISSUER"
        TE_SERIAL "WS_TE_SERIAL"
        TE_VALIDITY "WS_TE_VALIDITY"
        TE_SHA1 "WS_TE_SHA1"
        TE_SELF_SIGNED "WS_TE_SELF_SIGNED"
        TE_CLIENT_CUT "WS_TE_CLIENT_CUT"
        TE_CERT_CUT "WS_TE_CERT_CUT"
        TE_TEXT_CUT "WS_TE_TEXT_CUT"
        TE_DONE "WS_TE_DONE"
        TE_CHAIN "WS_TE_CHAIN"
        TE_SSLV2 "WS_TE_SSLV2"

cdef enum:
    TLS_PORT = 443
    TLS_ALT_PORT = 8443
    TLS_HS_SERVER_HELLO_DONE = 14
    TLS_12 = 0x0303
    TLS_EV_SNI = 256               # bytes kept of each string field (real lengths beside)
    TLS_EV_JA3 = 512
    TLS_EV_JA3S = 128
    TLS_EV_NAME = 256              # subject, issuerdn
    TLS_EV_ALPN = 64               # client ALPNs: each a length byte and its bytes
    TLS_EV_SALPN = 32
    TS_SNI = 1                     # TlsSummary.flags
    TS_SELF_SIGNED = 2
    TS_CERT = 4
    TS_VALIDITY = 8


cdef struct TlsEvent:              # one flow's handshake; TLS_EVENT_DTYPE (appcore.pyx)
    uint64_t flow_id
    int64_t ts_us                  # the packet that completed the handshake (or the
                                   # flow's last, when it ended with a partial one)
    uint8_t src_addr[16]           # the client
    uint8_t dest_addr[16]
    uint16_t src_port
    uint16_t dest_port
    uint16_t vlan0
    uint16_t vlan1
    uint8_t nvlan
    uint8_t ip_version
    uint8_t proto
    uint8_t direction              # 0: the event goes client to server (src is the client)
    uint8_t n_calpn                # client ALPNs kept in calpn
    int64_t not_before             # the certificate's validity, Unix seconds
    int64_t not_after
    uint32_t status                # TE_* bits
    uint16_t client_version        # the ClientHello's legacy_version
    uint16_t version               # negotiated: supported_versions' choice, else the
                                   # ServerHello's version, else the client's
    uint16_t n_ciphers             # offered by the client
    uint16_t n_exts
    uint16_t n_certs               # certificates in the server's chain
    uint16_t sni_len               # bytes kept of each string below
    uint16_t ja3_len
    uint16_t ja3s_len
    uint16_t subject_len
    uint16_t issuer_len
    uint8_t serial_len
    uint8_t calpn_len
    uint8_t salpn_len
    uint8_t pad
    uint8_t serial[X509_SERIAL_CAP]
    uint8_t sha1[20]
    uint8_t ja3_md5[32]
    uint8_t ja3s_md5[32]
    uint8_t ja4[JA4_LEN]
    uint8_t sni[TLS_EV_SNI]
    uint8_t ja3[TLS_EV_JA3]
    uint8_t ja3s[TLS_EV_JA3S]
    uint8_t subject[TLS_EV_NAME]
    uint8_t issuer[TLS_EV_NAME]
    uint8_t calpn[TLS_EV_ALPN]
    uint8_t salpn[TLS_EV_SALPN]

cdef struct TlsDir:                # one direction's walk
    uint32_t rec_left              # bytes of the current handshake record unread (0: a
                                   # record header comes next)
    uint32_t msg_left              # bytes of a message longer than the hold still to pass
    uint32_t msg_pos               # bytes of that message passed
    uint32_t records               # records read (0: SSLv2's hello may start the stream)
    uint8_t end                    # the handshake in clear is over: bytes consumed unread

cdef struct TlsState:              # in the stream slot (APP_STATE_BYTES)
    TlsDir d[2]
    uint32_t cert_off              # the first certificate in the message being passed:
    uint32_t cert_end              # its bytes [cert_off, cert_end) are hashed
    uint8_t hashing
    uint8_t emitted
    uint8_t client                 # 1 + the client's direction (who sent the ClientHello,
                                   # or did not send the ServerHello); 0: not known yet
    ws_sha1_ctx sha
    TlsEvent ev

cdef struct TlsSummary:            # the flow's, in its app record (40 bytes at most)
    int64_t hello_ts               # the ClientHello's time, microseconds
    int64_t not_before             # the server certificate's validity, Unix seconds
    int64_t not_after
    uint16_t version               # as TlsEvent.version
    uint16_t n_ciphers
    uint16_t n_exts
    uint16_t n_certs
    uint8_t flags                  # TS_*
    uint8_t alpns                  # ALPNs the client offered


cdef inline int tls_probe(const uint8_t* p, uint32_t n, uint8_t udp, uint16_t sport,
                          uint16_t dport) noexcept nogil:
    """A handshake record header (0x16 0x03 0x00-0x04, a length of 4 to 2^14 + 2048)
    whose first message is a ClientHello or ServerHello; or an SSLv2-compatible
    ClientHello (top bit of the length set, type 1, version 3.x or 2.0). 1, 0 or -1
    (fewer than 6 bytes that could be)."""
    cdef uint32_t length
    if udp:
        return 0
    if n >= 1 and p[0] & 0x80:
        if n < 5:
            return -1
        if p[2] == 1 and ((p[3] == 3 and p[4] <= 4) or (p[3] == 0 and p[4] == 2)):
            return 1
        return 0
    if n >= 1 and p[0] != TLS_CT_HANDSHAKE:
        return 0
    if n >= 2 and p[1] != 3:
        return 0
    if n >= 3 and p[2] > 4:
        return 0
    if n < 6:
        return -1
    length = (<uint32_t>p[3] << 8) | p[4]
    if length < 4 or length > 16384 + 2048:
        return 0
    return 1 if p[5] == TLS_HS_CLIENT_HELLO or p[5] == TLS_HS_SERVER_HELLO else 0


cdef inline bint tls_from_client(AppCtx* c, TlsState* s, bint client) noexcept nogil:
    """Whether the packet at hand comes from the TLS client; client: the message read
    says it does (a ClientHello) or not, when the roles are not known yet (the flow's
    first packet may be the server's)."""
    if s.client == 0:
        s.client = <uint8_t>(1 + (c.dir if client else 1 - c.dir))
    return c.dir == s.client - 1


cdef inline void tls_head(AppCtx* c, TlsState* s) noexcept nogil:
    """The event's identity, from the first message read: the flow, its TLS client
    first."""
    if not s.ev.flow_id:
        ev_ident(<uint8_t*>&s.ev, c, c.dir == s.client - 1)


cdef inline uint16_t tls_keep(uint8_t* dst, uint32_t cap, const char* src, uint32_t k,
                              uint32_t* status) noexcept nogil:
    """Copy k bytes of src into dst[0:cap]; a longer string is kept cut (TE_TEXT_CUT)."""
    if k > cap:
        k = cap
        status[0] |= TE_TEXT_CUT
    memcpy(dst, src, k)
    return <uint16_t>k


cdef inline void tls_on_client_hello(AppCtx* c, TlsState* s, const uint8_t* m, uint32_t n,
                                     uint32_t full, bint sslv2) noexcept nogil:
    """The ClientHello (whole, or its prefix when c.cut): the client's fields. A whole
    one the parser refuses (vector lengths that contradict the message) gives no
    fields and is counted (app_layer.error.tls.parser); the walk goes on."""
    cdef TlsClientHello ch
    cdef TlsEvent* e = &s.ev
    cdef TlsSummary* sm = <TlsSummary*>c.summary
    cdef char text[JA_CAP]
    cdef char md5[JA_MD5_HEX]
    cdef char hashed[JA4_LEN + 1]
    cdef int rc, k
    cdef uint32_t i, a, at
    if e.status & TE_CLIENT:
        return
    rc = tls_sslv2_hello(m, n, full, &ch) if sslv2 else tls_client_hello(m, n, full, &ch)
    if rc < 0:
        if not c.cut:
            ctx_count(c, K_PARSER)
        return
    tls_head(c, s)
    e.status |= TE_CLIENT | (TE_SSLV2 if sslv2 else 0)
    if rc == TLS_PREFIX:
        e.status |= TE_CLIENT_CUT
        c.cnt[A_TRUNCATED] += 1
    e.client_version = ch.version
    if not (e.status & TE_SERVER):
        e.version = ch.version
        sm.version = ch.version
    e.n_ciphers = ch.n_ciphers
    e.n_exts = ch.n_exts
    sm.n_ciphers = ch.n_ciphers
    sm.n_exts = ch.n_exts
    sm.hello_ts = c.ts
    if ch.flags & TLS_F_SNI:
        e.sni_len = tls_keep(e.sni, TLS_EV_SNI, ch.sni, ch.sni_len if ch.sni_len < 255 else 255,
                             &e.status)
        if ch.flags & TLS_F_SNI_TRUNC:
            e.status |= TE_TEXT_CUT
        e.status |= TE_SNI
        sm.flags |= TS_SNI
    if ch.flags & TLS_F_ALPN:
        at = 0
        for i in range(ch.n_alpn if ch.n_alpn < TLS_MAX_ALPN else TLS_MAX_ALPN):
            a = ch.alpn_len[i] if ch.alpn_len[i] < TLS_ALPN_CAP - 1 else TLS_ALPN_CAP - 1
            if at + 1 + a > TLS_EV_ALPN:
                e.status |= TE_TEXT_CUT
                break
            e.calpn[at] = <uint8_t>a
            memcpy(e.calpn + at + 1, ch.alpn[i], a)
            at += 1 + a
            e.n_calpn += 1
        e.calpn_len = <uint8_t>at
        sm.alpns = <uint8_t>(ch.n_alpn if ch.n_alpn < 255 else 255)
    k = ja3(&ch, text, md5)
    if k >= 0:
        e.ja3_len = tls_keep(e.ja3, TLS_EV_JA3, text, <uint32_t>k, &e.status)
        memcpy(e.ja3_md5, md5, 32)
        e.status |= TE_JA3
    if ja4(&ch, 116, False, hashed, text) >= 0:      # "t": over TCP
        memcpy(e.ja4, hashed, JA4_LEN)
        e.status |= TE_JA4
    ctx_count(c, K_TX)


cdef inline void tls_on_server_hello(AppCtx* c, TlsState* s, const uint8_t* m, uint32_t n,
                                     uint32_t full) noexcept nogil:
    """The ServerHello: the negotiated version, JA3S, the chosen ALPN. A
    HelloRetryRequest is passed over (the real ServerHello follows); a whole one the
    parser refuses is counted (app_layer.error.tls.parser)."""
    cdef TlsServerHello sh
    cdef TlsEvent* e = &s.ev
    cdef char text[JA_CAP]
    cdef char md5[JA_MD5_HEX]
    cdef int rc, k
    if e.status & TE_SERVER:
        return
    rc = tls_server_hello(m, n, full, &sh)
    if rc < 0 and not c.cut:
        ctx_count(c, K_PARSER)
    if rc < 0 or sh.flags & TLS_F_HRR:
        return
    tls_head(c, s)
    e.status |= TE_SERVER
    e.version = sh.selected_version if sh.selected_version else sh.version
    (<TlsSummary*>c.summary).version = e.version
    if sh.alpn_len:
        e.salpn_len = <uint8_t>tls_keep(e.salpn, TLS_EV_SALPN, sh.alpn,
                                        sh.alpn_len if sh.alpn_len < TLS_ALPN_CAP - 1
                                        else TLS_ALPN_CAP - 1, &e.status)
    k = ja3s(&sh, text, md5)
    if k >= 0:
        e.ja3s_len = tls_keep(e.ja3s, TLS_EV_JA3S, text, <uint32_t>k, &e.status)
        memcpy(e.ja3s_md5, md5, 32)
        e.status |= TE_JA3S
    ctx_count(c, K_TX)


cdef inline void tls_on_certificate(AppCtx* c, TlsState* s, const uint8_t* m, uint32_t n,
                                    uint32_t full, bint passing) noexcept nogil:
    """The server's Certificate message (TLS <= 1.2), m[0:n] of its full bytes: the
    chain's length and the first certificate's fields. passing: the rest of the message
    is passed through tls_pass, which hashes the first certificate's missing bytes."""
    cdef TlsCertificates tc
    cdef X509Cert x
    cdef TlsEvent* e = &s.ev
    cdef TlsSummary* sm = <TlsSummary*>c.summary
    cdef int rc
    if e.status & TE_CERT or (e.status & TE_SERVER and e.version > TLS_12):
        return
    rc = tls_certificate(m, n, full, &tc)
    if rc < 0 or tc.n_certs == 0:
        return
    e.n_certs = <uint16_t>(tc.n_certs if tc.n_certs < 65535 else 65535)
    if tc.flags & TLS_F_CERTS:
        e.status |= TE_CHAIN
    sm.n_certs = e.n_certs
    rc = x509_parse(m + tc.first_off, tc.first_n, tc.first_len, &x)
    if rc == X509_ERR:
        return
    tls_head(c, s)
    e.status |= TE_CERT
    sm.flags |= TS_CERT
    if x.flags & X509_F_SUBJECT:
        e.subject_len = tls_keep(e.subject, TLS_EV_NAME, x.subject, x.subject_len
                                 if x.subject_len < 383 else 383, &e.status)
        e.status |= TE_SUBJECT | (TE_TEXT_CUT if x.flags & X509_F_SUBJECT_TRUNC else 0)
    if x.flags & X509_F_ISSUER:
        e.issuer_len = tls_keep(e.issuer, TLS_EV_NAME, x.issuer, x.issuer_len
                                if x.issuer_len < 383 else 383, &e.status)
        e.status |= TE_ISSUER | (TE_TEXT_CUT if x.flags & X509_F_ISSUER_TRUNC else 0)
    if x.flags & X509_F_SERIAL:
        e.serial_len = <uint8_t>(x.serial_len if x.serial_len < X509_SERIAL_CAP
                                 else X509_SERIAL_CAP)
        memcpy(e.serial, x.serial, e.serial_len)
        e.status |= TE_SERIAL | (TE_TEXT_CUT if x.flags & X509_F_SERIAL_TRUNC else 0)
    if x.flags & X509_F_VALIDITY:
        e.not_before = x.not_before
        e.not_after = x.not_after
        e.status |= TE_VALIDITY
        sm.not_before = x.not_before
        sm.not_after = x.not_after
        sm.flags |= TS_VALIDITY
    if x.flags & X509_F_SELF_SIGNED:
        e.status |= TE_SELF_SIGNED
        sm.flags |= TS_SELF_SIGNED
    if x.flags & X509_F_SHA1:
        memcpy(e.sha1, x.sha1, 20)
        e.status |= TE_SHA1
    elif passing and tc.first_off + tc.first_len > n:
        s.hashing = 1
        s.cert_off = tc.first_off
        s.cert_end = tc.first_off + tc.first_len
        ws_sha1_init(&s.sha)
    else:
        e.status |= TE_CERT_CUT
        c.cnt[A_TRUNCATED] += 1
    ctx_count(c, K_TX)


cdef inline void tls_emit(AppCtx* c, TlsState* s) noexcept nogil:
    """Write the flow's event (once), if a hello or certificate was read."""
    cdef uint8_t* rec
    if s.emitted or not (s.ev.status & (TE_CLIENT | TE_SERVER | TE_CERT)):
        return
    s.emitted = 1
    if s.hashing:                  # the certificate's end never came
        s.hashing = 0
        s.ev.status |= TE_CERT_CUT
    rec = ev_begin(c, EV_TLS)
    memcpy(rec, &s.ev, sizeof(TlsEvent))
    (<TlsEvent*>rec).ts_us = c.ts
    ev_commit(c, EV_TLS, rec)


cdef inline void tls_message(AppCtx* c, TlsState* s, const uint8_t* m, uint32_t n,
                             uint32_t full, bint sslv2, bint passing) noexcept nogil:
    """One handshake message, m[0:n] of its full bytes (n < full: a prefix)."""
    if sslv2:
        if tls_from_client(c, s, True):
            tls_on_client_hello(c, s, m, n, full, True)
        return
    if n < 1:
        return
    if m[0] == TLS_HS_CLIENT_HELLO and tls_from_client(c, s, True):
        tls_on_client_hello(c, s, m, n, full, False)
    elif m[0] == TLS_HS_SERVER_HELLO and not tls_from_client(c, s, False):
        tls_on_server_hello(c, s, m, n, full)
    elif m[0] == TLS_HS_CERTIFICATE and not tls_from_client(c, s, False):
        tls_on_certificate(c, s, m, n, full, passing)
    elif m[0] == TLS_HS_SERVER_HELLO_DONE and not tls_from_client(c, s, False):
        s.ev.status |= TE_DONE
        tls_emit(c, s)


cdef inline void tls_hash(TlsState* s, const uint8_t* p, uint32_t pos,
                          uint32_t k) noexcept nogil:
    """The message's bytes [pos, pos + k) at p: those of the first certificate hashed;
    its last one gives the fingerprint."""
    cdef uint32_t lo = pos if pos > s.cert_off else s.cert_off
    cdef uint32_t hi = pos + k if pos + k < s.cert_end else s.cert_end
    if hi > lo:
        ws_sha1_update(&s.sha, p + (lo - pos), hi - lo)
    if pos + k >= s.cert_end:
        ws_sha1_final(&s.sha, s.ev.sha1)
        s.ev.status |= TE_SHA1
        s.hashing = 0


cdef inline int tls_pass(TlsState* s, TlsDir* d, const uint8_t* p, uint32_t n,
                         uint32_t* used) noexcept nogil:
    """Pass the bytes of a message longer than the hold (d.msg_left of them), record
    headers crossed; stops at the message's end or before a record header not all
    here. 0, or APP_ERROR (a bad header, a record of another type inside the message)."""
    cdef uint8_t ctype
    cdef uint16_t version
    cdef uint32_t length, take
    while d.msg_left and used[0] < n:
        if d.rec_left == 0:
            if n - used[0] < 5:
                return 0
            if tls_record_header(p, n, used[0], &ctype, &version, &length) < 0 or \
                    ctype != TLS_CT_HANDSHAKE:
                return APP_ERROR
            d.rec_left = length
            d.records += 1
            used[0] += 5
            continue
        take = d.rec_left if d.rec_left < d.msg_left else d.msg_left
        if take > n - used[0]:
            take = n - used[0]
        if s.hashing:
            tls_hash(s, p + used[0], d.msg_pos, take)
        used[0] += take
        d.rec_left -= take
        d.msg_left -= take
        d.msg_pos += take
    return 0


cdef inline int tls_parse(AppCtx* c, void* st, const uint8_t* p, uint32_t n) noexcept nogil:
    """TCP: the handshake messages in p[0:n] (the walk's position: d.rec_left); returns
    the bytes consumed. Once the handshake in clear ends, every byte is consumed unread
    (the budget ends the direction)."""
    cdef TlsState* s = <TlsState*>st
    cdef TlsDir* d = &s.d[c.dir]
    cdef TlsWalk w
    cdef TlsMessage m
    cdef uint8_t buf[APP_HOLD]
    cdef uint32_t used = 0
    cdef int r
    while True:
        if d.end:
            return n
        if d.msg_left:
            if tls_pass(s, d, p, n, &used) < 0:
                return APP_ERROR
            if d.msg_left or used == n:
                return <int>used
            continue
        memset(&w, 0, sizeof(TlsWalk))
        w.off = used
        w.rec_left = d.rec_left
        w.records = d.records
        r = tls_next_message(p, n, &w, &m, buf, APP_HOLD)
        if r == TLS_END and (w.stop_type == TLS_CT_ALERT or w.stop_type == TLS_CT_HEARTBEAT):
            r = tls_skip_record(p, n, &w)   # a warning before the hello (a server's
            if r == TLS_MSG:                # unrecognized_name): the handshake goes on
                used = w.off
                d.rec_left = 0
                continue
            if r == TLS_MORE and n - used < c.hold_max:
                return <int>used
            return APP_ERROR
        if r == TLS_END:
            d.end = 1
            if s.client and c.dir != s.client - 1:
                s.ev.status |= TE_DONE
                tls_emit(c, s)
            return n
        if r == TLS_ERR:
            return APP_ERROR
        if (r == TLS_MSG or r == TLS_SSLV2) and m.n == m.full:
            tls_message(c, s, buf, m.n, m.full, r == TLS_SSLV2, False)
            d.rec_left = w.rec_left
            d.records = w.records
            used = w.off
            continue
        if r == TLS_MORE and n - used < c.hold_max:
            return <int>used                # the message's end is still to come
        if r == TLS_SSLV2 or m.full < 4:
            return APP_ERROR                # an SSLv2 hello longer than the hold
        c.cut = 1                           # longer than the hold: its prefix, then
        tls_message(c, s, buf, m.n, m.full, False, True)    # its bytes passed
        c.cut = 0
        d.msg_left = m.full
        d.msg_pos = 0
        if d.records == 0:
            d.records = 1


cdef inline int tls_gap(AppCtx* c, void* st, const uint8_t* held, uint32_t n,
                        uint32_t missing) noexcept nogil:
    """TCP: `missing` bytes lost after the n held (an unfinished message, or a record
    header's first bytes). The held message is read as cut; the walk resumes at the next
    record header when the loss ends within the current record, else APP_ERROR."""
    cdef TlsState* s = <TlsState*>st
    cdef TlsDir* d = &s.d[c.dir]
    cdef TlsWalk w
    cdef TlsMessage m
    cdef uint8_t buf[APP_HOLD]
    cdef uint8_t ctype
    cdef uint16_t version
    cdef uint32_t pos = 0, left = d.rec_left, length, take, rest = d.msg_left
    cdef int r
    if d.end:
        return 0
    if s.hashing:
        s.hashing = 0
        s.ev.status |= TE_CERT_CUT
    if n and not d.msg_left:
        memset(&w, 0, sizeof(TlsWalk))
        w.rec_left = d.rec_left
        w.records = d.records
        r = tls_next_message(held, n, &w, &m, buf, APP_HOLD)
        if (r == TLS_MORE or r == TLS_SSLV2) and m.full >= 4 and m.n:
            c.cut = 1
            tls_message(c, s, buf, m.n, m.full, r == TLS_SSLV2, False)
            c.cut = 0
            rest = m.full - m.n
    while pos < n:                          # the record's bytes left after those held
        if left == 0:
            if n - pos < 5 or tls_record_header(held, n, pos, &ctype, &version,
                                                &length) < 0:
                return APP_ERROR
            left = length
            pos += 5
            continue
        take = left if left < n - pos else n - pos
        pos += take
        left -= take
    if missing > left:
        return APP_ERROR
    c.skip = left - missing                 # to the next record header; the message
    d.rec_left = 0                          # that goes on past it is passed unread
    d.msg_left = rest - left if rest > left else 0
    d.msg_pos = 0
    d.records += 1
    return 0


cdef inline void tls_finish(AppCtx* c, void* st) noexcept nogil:
    """The stream ends (both directions done, or the flow ends): the event of a
    partial handshake."""
    tls_emit(c, <TlsState*>st)


cdef inline void tls_record(const void* summary, FlowRecord* r) noexcept nogil:
    """The flow record's app_tls_* fields from the summary."""
    cdef const TlsSummary* s = <const TlsSummary*>summary
    r.app_tls_version = s.version
    r.app_tls_ciphers = s.n_ciphers
    r.app_tls_extensions = s.n_exts
    r.app_tls_sni = 1.0 if s.flags & TS_SNI else 0.0
    r.app_tls_alpns = s.alpns
    r.app_tls_certs = s.n_certs
    r.app_tls_self_signed = 1.0 if s.flags & TS_SELF_SIGNED else 0.0
    if s.flags & TS_VALIDITY:
        r.app_tls_cert_days = (s.not_after - s.not_before) / 86400.0
        if s.hello_ts:
            r.app_tls_cert_age_days = (s.hello_ts / 1e6 - s.not_before) / 86400.0
