# cython: language_level=3
"""wirescore._core.msg_tls: the TLS message parsers of ext/app/ (tls.pxd, x509.pxd, ja.pxd)
as Python calls, for tests, the fuzz target and the EVE formatter's tests. The core calls
the .pxd functions directly; nothing here runs per packet.

Each parse_X(data, full=None) parses bytes of one message (full: its real length when
data is a prefix; default len(data)) and returns a dict: "rc" (0 whole, 1 prefix, < 0
malformed / not this message) and the fields, None where absent (past the cut, or not in
the message). Strings are decoded as UTF-8 with replacement.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int64_t

from datetime import datetime, timedelta, timezone

from app.tls cimport (TlsClientHello, TlsServerHello, TlsCertificates, TlsWalk, TlsMessage,
                      tls_client_hello, tls_server_hello, tls_certificate, tls_sslv2_hello,
                      tls_next_message, tls_skip_record, TLS_CT_CHANGE_CIPHER_SPEC,
                      TLS_F_VERSION, TLS_F_CIPHERS, TLS_F_COMPRESSION,
                      TLS_F_EXTS, TLS_F_SNI, TLS_F_ALPN, TLS_F_GROUPS, TLS_F_POINTFMTS,
                      TLS_F_SIGALGS, TLS_F_VERSIONS, TLS_F_PREFIX, TLS_F_BAD_EXT,
                      TLS_F_SSLV2, TLS_F_HRR, TLS_F_SNI_TRUNC, TLS_F_ALPN_TRUNC,
                      TLS_F_CERTS, TLS_F_CERTS_TRUNC, TLS_MAX_CIPHERS, TLS_MAX_EXTS,
                      TLS_MAX_GROUPS, TLS_MAX_POINTFMTS, TLS_MAX_SIGALGS, TLS_MAX_VERSIONS,
                      TLS_MAX_ALPN, TLS_MSG, TLS_MORE, TLS_END, TLS_SSLV2, TLS_ALPN_CAP)
from app.x509 cimport (X509Cert, x509_parse, X509_F_VERSION, X509_F_SERIAL, X509_F_ISSUER,
                       X509_F_VALIDITY, X509_F_SUBJECT, X509_F_SAN, X509_F_SHA1,
                       X509_F_SELF_SIGNED, X509_F_SERIAL_TRUNC, X509_F_ISSUER_TRUNC,
                       X509_F_SUBJECT_TRUNC, X509_F_SAN_TRUNC, X509_SERIAL_CAP, X509_SAN_MAX)
from app.ber cimport (BerTlv, BerOut, ber_read, ber_time, ber_oid_text, ber_out_init,
                      BER_OK, BER_OID)
from app.ja cimport ja3, ja3s, ja4, ja4s, JA_CAP, JA4_LEN, JA4S_LEN, JA_MD5_HEX

from hashes cimport ws_md5, ws_sha256
from tls_names cimport WS_N_TLS_VERSIONS, WS_N_X509_ATTRS, ws_tls_versions, ws_x509_attrs

#: the compiled tables: (value, EVE name, JA4 code) and (dotted OID, DER content, name)
VERSIONS = tuple((ws_tls_versions[i].value, ws_tls_versions[i].name.decode(),
                  ws_tls_versions[i].ja4.decode()) for i in range(WS_N_TLS_VERSIONS))
X509_ATTRS = tuple((ws_x509_attrs[i].dotted.decode(),
                    bytes([ws_x509_attrs[i].oid[k] for k in range(ws_x509_attrs[i].len)]),
                    ws_x509_attrs[i].name.decode()) for i in range(WS_N_X509_ATTRS))


def md5(const uint8_t[:] data not None) -> str:
    """includes/md5.h's digest, hex (for the hashlib comparison)."""
    cdef uint8_t out[16]
    ws_md5(&data[0] if data.shape[0] else NULL, data.shape[0], out)
    return bytes(out[:16]).hex()


def sha256(const uint8_t[:] data not None) -> str:
    """includes/sha256.h's digest, hex."""
    cdef uint8_t out[32]
    ws_sha256(&data[0] if data.shape[0] else NULL, data.shape[0], out)
    return bytes(out[:32]).hex()


cdef const uint8_t* _ptr(const uint8_t[:] data):
    return &data[0] if data.shape[0] else <const uint8_t*>b""


cdef uint32_t _full(const uint8_t[:] data, full) except? 0:
    if full is None:
        return data.shape[0]
    if full < data.shape[0] or full > 0xffffffff:
        raise ValueError(f"full ({full}) must be >= len(data) ({data.shape[0]})")
    return full


cdef _text(const char* s, uint32_t real, uint32_t cap):
    return s[:min(real, cap - 1)].decode("utf-8", "replace")


cdef _u16s(const uint16_t* v, uint32_t k, uint32_t cap):
    return [v[i] for i in range(min(k, cap))]


def _flags(uint32_t flags, uint32_t bit):
    return bool(flags & bit)


cdef dict _client_dict(int rc, const TlsClientHello* ch):
    cdef uint32_t f = ch.flags
    cdef char s[JA_CAP]
    cdef char h[JA4_LEN + 1]
    cdef char m[JA_MD5_HEX]
    cdef int k
    d = {"rc": rc, "flags": f, "prefix": bool(f & TLS_F_PREFIX), "sslv2": bool(f & TLS_F_SSLV2),
         "bad_extension": bool(f & TLS_F_BAD_EXT),
         "version": ch.version if f & TLS_F_VERSION else None,
         "ciphers": _u16s(ch.ciphers, ch.n_ciphers, TLS_MAX_CIPHERS) if f & TLS_F_CIPHERS else None,
         "n_ciphers": ch.n_ciphers if f & TLS_F_CIPHERS else None,
         "extensions": _u16s(ch.exts, ch.n_exts, TLS_MAX_EXTS) if f & TLS_F_EXTS else None,
         "n_extensions": ch.n_exts if f & TLS_F_EXTS else None,
         "sni": _text(ch.sni, ch.sni_len, 256) if f & TLS_F_SNI else None,
         "sni_len": ch.sni_len if f & TLS_F_SNI else None,
         "sni_truncated": bool(f & TLS_F_SNI_TRUNC),
         "alpn": [_text(ch.alpn[i], ch.alpn_len[i], TLS_ALPN_CAP)
                  for i in range(min(ch.n_alpn, TLS_MAX_ALPN))] if f & TLS_F_ALPN else None,
         "alpn_truncated": bool(f & TLS_F_ALPN_TRUNC),
         "groups": _u16s(ch.groups, ch.n_groups, TLS_MAX_GROUPS) if f & TLS_F_GROUPS else None,
         "point_formats": [ch.pointfmts[i] for i in range(min(ch.n_pointfmts, TLS_MAX_POINTFMTS))]
                          if f & TLS_F_POINTFMTS else None,
         "sig_algs": _u16s(ch.sigalgs, ch.n_sigalgs, TLS_MAX_SIGALGS) if f & TLS_F_SIGALGS else None,
         "supported_versions": _u16s(ch.versions, ch.n_versions, TLS_MAX_VERSIONS)
                               if f & TLS_F_VERSIONS else None}
    k = ja3(ch, s, m)
    d["ja3"], d["ja3_hash"] = (s[:k].decode(), m[:32].decode()) if k >= 0 else (None, None)
    for key, original in (("ja4", False), ("ja4_o", True)):
        k = ja4(ch, b"t"[0], original, h, s)
        d[key], d[key.replace("ja4", "ja4_r", 1) if not original else "ja4_ro"] = \
            (h[:JA4_LEN].decode(), s[:k].decode()) if k >= 0 else (None, None)
    return d


def parse_client_hello(const uint8_t[:] data not None, full=None) -> dict:
    """A ClientHello handshake message (from its type byte), or an SSLv2-compatible one
    (first byte with the top bit set): its fields, JA3 (+ MD5), JA4, JA4_r, JA4_o, JA4_ro."""
    cdef TlsClientHello ch
    cdef uint32_t f = _full(data, full)
    cdef int rc
    if data.shape[0] and data[0] & 0x80:
        rc = tls_sslv2_hello(_ptr(data), data.shape[0], f, &ch)
    else:
        rc = tls_client_hello(_ptr(data), data.shape[0], f, &ch)
    return _client_dict(rc, &ch)


def parse_server_hello(const uint8_t[:] data not None, full=None) -> dict:
    """A ServerHello handshake message: its fields, JA3S (+ MD5), JA4S and JA4S_r."""
    cdef TlsServerHello sh
    cdef char s[JA_CAP]
    cdef char h[JA4S_LEN + 1]
    cdef char m[JA_MD5_HEX]
    cdef int rc = tls_server_hello(_ptr(data), data.shape[0], _full(data, full), &sh), k
    cdef uint32_t f = sh.flags
    d = {"rc": rc, "flags": f, "prefix": bool(f & TLS_F_PREFIX),
         "bad_extension": bool(f & TLS_F_BAD_EXT), "hello_retry": bool(f & TLS_F_HRR),
         "version": sh.version if f & TLS_F_VERSION else None,
         "cipher": sh.cipher if f & TLS_F_CIPHERS else None,
         "compression": sh.compression if f & TLS_F_COMPRESSION else None,
         "extensions": _u16s(sh.exts, sh.n_exts, TLS_MAX_EXTS) if f & TLS_F_EXTS else None,
         "selected_version": (sh.selected_version or None) if f & TLS_F_EXTS else None,
         "alpn": (_text(sh.alpn, sh.alpn_len, TLS_ALPN_CAP) if sh.alpn_len else None)
                 if f & TLS_F_EXTS else None}
    k = ja3s(&sh, s, m)
    d["ja3s"], d["ja3s_hash"] = (s[:k].decode(), m[:32].decode()) if k >= 0 else (None, None)
    k = ja4s(&sh, b"t"[0], h, s)
    d["ja4s"], d["ja4s_r"] = (h[:JA4S_LEN].decode(), s[:k].decode()) if k >= 0 else (None, None)
    return d


def parse_certificates(const uint8_t[:] data not None, full=None) -> dict:
    """A Certificate handshake message (TLS <= 1.2): the chain length and the first
    certificate's bytes (those within data) and real length. n_certs: the chain length,
    once the whole list was walked; n_certs_seen: how many began within data."""
    cdef TlsCertificates c
    cdef int rc = tls_certificate(_ptr(data), data.shape[0], _full(data, full), &c)
    return {"rc": rc, "prefix": bool(c.flags & TLS_F_PREFIX),
            "n_certs": c.n_certs if c.flags & TLS_F_CERTS else None,
            "n_certs_seen": c.n_certs, "chain_complete": bool(c.flags & TLS_F_CERTS),
            "chain_truncated": bool(c.flags & TLS_F_CERTS_TRUNC),
            "first": bytes(data[c.first_off:c.first_off + c.first_n]) if c.n_certs else None,
            "first_len": c.first_len if c.n_certs else None}


def eve_time(int64_t seconds) -> str:
    """Unix seconds as Suricata's tls notbefore / notafter ("2024-01-01T00:00:00", UTC)."""
    return (datetime(1970, 1, 1, tzinfo=timezone.utc)
            + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


def parse_x509(const uint8_t[:] data not None, full=None) -> dict:
    """A DER certificate: Suricata's tls fields (subject, issuerdn, serial, notbefore,
    notafter, fingerprint), self-signed, SAN dNSNames; None where absent."""
    cdef X509Cert x
    cdef int rc = x509_parse(_ptr(data), data.shape[0], _full(data, full), &x)
    cdef uint32_t f = x.flags
    serial = bytes(x.serial[:min(x.serial_len, X509_SERIAL_CAP)])
    return {"rc": rc, "flags": f, "prefix": rc == 1,
            "version": x.version if f & X509_F_VERSION else None,
            "serial": ":".join(f"{b:02X}" for b in serial) if f & X509_F_SERIAL else None,
            "serial_len": x.serial_len if f & X509_F_SERIAL else None,
            "serial_truncated": bool(f & X509_F_SERIAL_TRUNC),
            "issuerdn": _text(x.issuer, x.issuer_len, 384) if f & X509_F_ISSUER else None,
            "issuerdn_len": x.issuer_len if f & X509_F_ISSUER else None,
            "issuerdn_truncated": bool(f & X509_F_ISSUER_TRUNC),
            "subject": _text(x.subject, x.subject_len, 384) if f & X509_F_SUBJECT else None,
            "subject_len": x.subject_len if f & X509_F_SUBJECT else None,
            "subject_truncated": bool(f & X509_F_SUBJECT_TRUNC),
            "notbefore": eve_time(x.not_before) if f & X509_F_VALIDITY else None,
            "notafter": eve_time(x.not_after) if f & X509_F_VALIDITY else None,
            "notbefore_epoch": x.not_before if f & X509_F_VALIDITY else None,
            "notafter_epoch": x.not_after if f & X509_F_VALIDITY else None,
            "self_signed": bool(f & X509_F_SELF_SIGNED) if f & X509_F_SUBJECT else None,
            "fingerprint": ":".join(f"{b:02x}" for b in x.sha1[:20]) if f & X509_F_SHA1 else None,
            "san": [_text(x.san[i], x.san_len[i], 128) for i in range(min(x.n_san, X509_SAN_MAX))]
                   if f & X509_F_SAN else None,
            "n_san": x.n_san if f & X509_F_SAN else None,
            "san_truncated": bool(f & X509_F_SAN_TRUNC)}


def ber_header(const uint8_t[:] data not None, full=None, bint der=True):
    """ber_read at data[0] (the element must end by full, default len(data)):
    (rc, class, constructed, tag, content offset, content length, indefinite)."""
    cdef BerTlv t
    cdef int rc = ber_read(_ptr(data), data.shape[0], 0, _full(data, full), der, &t)
    return rc, t.cls, t.constructed, t.tag, t.off, t.len, t.indefinite


def ber_time_seconds(const uint8_t[:] data not None):
    """A whole UTCTime / GeneralizedTime element as Unix seconds, or None (malformed)."""
    cdef BerTlv t
    cdef int64_t v
    if ber_read(_ptr(data), data.shape[0], 0, data.shape[0], 1, &t) != BER_OK or \
            ber_time(_ptr(data), &t, &v) != BER_OK:
        return None
    return v


def ber_oid_dotted(const uint8_t[:] data not None):
    """A whole OID element as dotted decimal, or None (malformed)."""
    cdef BerTlv t
    cdef BerOut o
    cdef char buf[256]
    if ber_read(_ptr(data), data.shape[0], 0, data.shape[0], 1, &t) != BER_OK or \
            t.tag != BER_OID:
        return None
    ber_out_init(&o, buf, 256)
    if ber_oid_text(_ptr(data), &t, &o) != BER_OK or o.len > 255:
        return None
    return buf[:o.len].decode()


_END = {TLS_MSG: "message", TLS_MORE: "more", TLS_END: "end", TLS_SSLV2: "sslv2"}


def handshakes(const uint8_t[:] data not None, uint32_t cap=65536, int limit=64,
               int skip_ccs=0):
    """Walk the TLS records of one direction's bytes (from a record header, or an SSLv2
    ClientHello): ([{"type", "full", "start", "data"}...], how it ended: "more" (data
    ends inside a message: the last entry is that message's prefix), "end:<content
    type>" (a record that is not a handshake), "error", "sslv2", "limit"). The first
    skip_ccs ChangeCipherSpec records are stepped over (tls_skip_record)."""
    cdef TlsWalk w
    cdef TlsMessage m
    cdef uint8_t[:] buf = bytearray(max(cap, 1))
    cdef int rc
    w.off = w.rec_left = w.records = w.version = w.stop_type = 0
    out = []
    for _ in range(limit):
        rc = tls_next_message(_ptr(data), data.shape[0], &w, &m, &buf[0], cap)
        if rc in (TLS_MSG, TLS_SSLV2) or (rc == TLS_MORE and m.n):
            out.append({"type": m.type, "full": m.full, "start": m.start,
                        "data": bytes(buf[:m.n])})
        if rc == TLS_MSG:
            continue
        if rc == TLS_END and w.stop_type == TLS_CT_CHANGE_CIPHER_SPEC and skip_ccs > 0:
            skip_ccs -= 1
            rc = tls_skip_record(_ptr(data), data.shape[0], &w)
            if rc == TLS_MSG:
                continue
        if rc == TLS_END:
            return out, f"end:{w.stop_type}"
        return out, _END.get(rc, "error")
    return out, "limit"
