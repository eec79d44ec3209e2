# cython: language_level=3
"""X.509 certificate (RFC 5280, DER) -> the fields of Suricata's EVE tls object: subject
and issuerdn as Suricata writes them ("C=US, O=Let's Encrypt, CN=R3"), serial (the raw
serial's bytes as upper-case hex joined by ":"), notbefore / notafter (Unix seconds; EVE
writes them as "2024-01-01T00:00:00", UTC), self-signed, the SHA-1 fingerprint of the whole
DER (EVE: lower-case hex joined by ":") and the subject alternative names of type dNSName.

x509_parse(p, n, full, out): p[0:n] the bytes we have of one DER certificate whose real
length is full (>= n). Returns X509_WHOLE (0), X509_PREFIX (1: fields past the cut are
absent, their X509_F_* bit clear) or X509_ERR (-1: not a certificate / malformed).
Nothing allocated; every read within p[0:n] (ber.pxd); loops capped (X509_MAX_*).

Names: each RDN's attributes "TYPE=value" joined by " + ", RDNs joined by ", ", in the
certificate's order, as the x509-parser crate (Suricata's) does; TYPE from the table of
src/wirescore/tls_names.py (generated ext/includes/tls_names.h), else "OID(dotted)".
Values: the string types copied as they are, BMPString as UTF-8, any other type as the
upper-case hex of its content. (Where the bytes of a string type are not UTF-8, Suricata
writes no name at all; here they are copied: the EVE formatter decides.)
Self-signed: the issuer's and the subject's DER are equal, or their texts are (whole), as
nDPI compares the rendered DNs.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcmp

from app.ber cimport (BerTlv, BerOut, ber_read, ber_is, ber_out_init, ber_out_byte,
                      ber_out_bytes, ber_out_str, ber_out_hex, ber_truncated, ber_oid_text,
                      ber_is_string_tag, ber_out_bmp, ber_time, ber_oid_is, BER_OK, BER_CUT,
                      BER_ERR, BER_UNIVERSAL, BER_CONTEXT, BER_SEQUENCE, BER_SET,
                      BER_INTEGER, BER_OID, BER_OCTET_STRING, BER_BMP_STRING, BER_BOOLEAN)

cdef extern from "sha1.h" nogil:
    void ws_sha1(const uint8_t* data, size_t length, uint8_t* out)

from tls_names cimport (WS_N_X509_ATTRS, ws_x509_attrs, ws_x509_unknown_attr_open,
                        ws_x509_unknown_attr_close)

cdef enum:
    X509_WHOLE = 0
    X509_PREFIX = 1
    X509_ERR = -1
    X509_NAME_CAP = 384        # bytes kept of a rendered name (NUL included)
    X509_SERIAL_CAP = 32       # serial bytes kept (RFC 5280: at most 20)
    X509_SAN_MAX = 8           # dNSNames kept
    X509_SAN_CAP = 128         # bytes kept of each (NUL included)
    X509_MAX_RDNS = 64         # RDNs rendered of a name
    X509_MAX_ATVS = 16         # attributes rendered of one RDN
    X509_MAX_EXTS = 64         # extensions looked at
    X509_MAX_NAMES = 256       # GeneralNames looked at in the SAN
    X509_MAX_TBS_TAIL = 8      # elements looked at after subjectPublicKeyInfo
    # out.flags: a field's bit is set when it was parsed whole
    X509_F_VERSION = 1 << 0
    X509_F_SERIAL = 1 << 1
    X509_F_ISSUER = 1 << 2
    X509_F_VALIDITY = 1 << 3
    X509_F_SUBJECT = 1 << 4
    X509_F_SAN = 1 << 5        # the extensions were walked whole: the SAN list is final
    X509_F_SHA1 = 1 << 6       # the whole DER was there: sha1 holds the fingerprint
    X509_F_SELF_SIGNED = 1 << 7
    X509_F_SERIAL_TRUNC = 1 << 8    # serial longer than X509_SERIAL_CAP (serial_len is real)
    X509_F_ISSUER_TRUNC = 1 << 9    # rendered issuer longer than kept (issuer_len is real)
    X509_F_SUBJECT_TRUNC = 1 << 10
    X509_F_SAN_TRUNC = 1 << 11      # more dNSNames than kept, one longer than kept, or
                                    # names / extensions past the caps left unread
    X509_F_PREFIX = 1 << 12         # the certificate was cut (fields past the cut absent)


cdef struct X509Cert:
    uint32_t flags                  # X509_F_*
    uint8_t version                 # 1..3 (1 when the field is absent)
    uint32_t serial_len             # real length of the serial's content octets
    uint8_t serial[X509_SERIAL_CAP]
    uint32_t issuer_len             # real length of the rendered issuer
    char issuer[X509_NAME_CAP]      # NUL-terminated, at most X509_NAME_CAP - 1 bytes
    uint32_t subject_len
    char subject[X509_NAME_CAP]
    int64_t not_before              # Unix seconds (UTC)
    int64_t not_after
    uint8_t sha1[20]
    uint32_t n_san                  # real number of dNSNames
    uint16_t san_len[X509_SAN_MAX]  # real length of each kept
    char san[X509_SAN_MAX][X509_SAN_CAP]


cdef inline void x509_attr_type(const uint8_t* p, const BerTlv* oid, BerOut* o) noexcept nogil:
    """The name of an attribute type: the table's, else "OID(dotted)"."""
    cdef int i
    for i in range(WS_N_X509_ATTRS):
        if ber_oid_is(p, oid, ws_x509_attrs[i].oid, ws_x509_attrs[i].len):
            ber_out_str(o, ws_x509_attrs[i].name)
            return
    ber_out_str(o, ws_x509_unknown_attr_open)
    if ber_oid_text(p, oid, o) != BER_OK:
        ber_out_str(o, b"?")
    ber_out_str(o, ws_x509_unknown_attr_close)


cdef inline int x509_attr_value(const uint8_t* p, const BerTlv* v, BerOut* o) noexcept nogil:
    """An attribute value: string types as they are, BMPString as UTF-8, else upper hex."""
    cdef uint32_t i
    if v.cls == BER_UNIVERSAL and not v.constructed and ber_is_string_tag(v.tag):
        ber_out_bytes(o, p + v.off, v.len)
    elif v.cls == BER_UNIVERSAL and not v.constructed and v.tag == BER_BMP_STRING:
        return ber_out_bmp(o, p, v)
    else:
        for i in range(v.off, v.off + v.len):
            ber_out_hex(o, p[i], True)
    return BER_OK


cdef inline int x509_name(const uint8_t* p, const BerTlv* name, BerOut* o) noexcept nogil:
    """Render a Name (SEQUENCE OF SET OF SEQUENCE {type OID, value}) that lies whole within
    the buffer. BER_ERR when malformed; past the caps the rest is left out (truncated)."""
    cdef BerTlv rdn, atv, oid, val
    cdef uint32_t at = name.off, at2, k = 0, j
    if not ber_is(name, BER_UNIVERSAL, 1, BER_SEQUENCE):
        return BER_ERR
    while at < name.end:
        if k == X509_MAX_RDNS:
            o.len = o.cap                      # marks it truncated
            return BER_OK
        if ber_read(p, name.end, at, name.end, 1, &rdn) != BER_OK or \
                not ber_is(&rdn, BER_UNIVERSAL, 1, BER_SET):
            return BER_ERR
        at2 = rdn.off
        j = 0
        while at2 < rdn.end:
            if j == X509_MAX_ATVS:
                o.len = o.cap
                return BER_OK
            if ber_read(p, rdn.end, at2, rdn.end, 1, &atv) != BER_OK or \
                    not ber_is(&atv, BER_UNIVERSAL, 1, BER_SEQUENCE):
                return BER_ERR
            if ber_read(p, atv.end, atv.off, atv.end, 1, &oid) != BER_OK or \
                    not ber_is(&oid, BER_UNIVERSAL, 0, BER_OID):
                return BER_ERR
            if ber_read(p, atv.end, oid.end, atv.end, 1, &val) != BER_OK:
                return BER_ERR
            if j:
                ber_out_str(o, b" + ")
            elif k:
                ber_out_str(o, b", ")
            x509_attr_type(p, &oid, o)
            ber_out_byte(o, 61)                # "="
            if x509_attr_value(p, &val, o) != BER_OK:
                return BER_ERR
            at2 = atv.end
            j += 1
        at = rdn.end
        k += 1
    return BER_OK


cdef inline int x509_san(const uint8_t* p, const BerTlv* value, X509Cert* out) noexcept nogil:
    """The dNSNames ([2] IA5String) of a subjectAltName extension's OCTET STRING."""
    cdef BerTlv seq, gn
    cdef uint32_t at, k = 0, i, keep, k2
    if ber_read(p, value.end, value.off, value.end, 1, &seq) != BER_OK or \
            not ber_is(&seq, BER_UNIVERSAL, 1, BER_SEQUENCE):
        return BER_ERR
    at = seq.off
    while at < seq.end and k < X509_MAX_NAMES:
        if ber_read(p, seq.end, at, seq.end, 1, &gn) != BER_OK:
            return BER_ERR
        if gn.cls == BER_CONTEXT and gn.tag == 2 and not gn.constructed:
            if out.n_san < X509_SAN_MAX:
                i = out.n_san
                keep = gn.len if gn.len < X509_SAN_CAP - 1 else X509_SAN_CAP - 1
                if keep < gn.len:
                    out.flags |= X509_F_SAN_TRUNC
                for k2 in range(keep):
                    out.san[i][k2] = <char>p[gn.off + k2]
                out.san[i][keep] = 0
                out.san_len[i] = <uint16_t>(gn.len if gn.len < 65535 else 65535)
            else:
                out.flags |= X509_F_SAN_TRUNC
            out.n_san += 1
        at = gn.end
        k += 1
    if at < seq.end:                               # past X509_MAX_NAMES: the rest unread
        out.flags |= X509_F_SAN_TRUNC
    return BER_OK


cdef inline int x509_extensions(const uint8_t* p, uint32_t n, const BerTlv* wrap,
                                X509Cert* out) noexcept nogil:
    """[3] EXPLICIT SEQUENCE OF Extension: the SAN's dNSNames. BER_CUT when the list runs
    past n (the names seen so far are kept, X509_F_SAN stays clear)."""
    cdef BerTlv seq, ext, oid, v
    cdef uint32_t at, k = 0
    cdef int rc
    cdef const uint8_t* SAN_OID = <const uint8_t*>b"\x55\x1d\x11"   # 2.5.29.17 subjectAltName
    rc = ber_read(p, n, wrap.off, wrap.end, 1, &seq)
    if rc == BER_ERR or (seq.off and not ber_is(&seq, BER_UNIVERSAL, 1, BER_SEQUENCE)):
        return BER_ERR
    if rc == BER_CUT and not seq.off:
        return BER_CUT
    at = seq.off
    while at < seq.end and k < X509_MAX_EXTS:
        rc = ber_read(p, n, at, seq.end, 1, &ext)
        if rc != BER_OK:
            return rc
        if not ber_is(&ext, BER_UNIVERSAL, 1, BER_SEQUENCE) or \
                ber_read(p, n, ext.off, ext.end, 1, &oid) != BER_OK or \
                not ber_is(&oid, BER_UNIVERSAL, 0, BER_OID):
            return BER_ERR
        if ber_read(p, n, oid.end, ext.end, 1, &v) != BER_OK:
            return BER_ERR
        if ber_is(&v, BER_UNIVERSAL, 0, BER_BOOLEAN):          # critical
            if ber_read(p, n, v.end, ext.end, 1, &v) != BER_OK:
                return BER_ERR
        if not ber_is(&v, BER_UNIVERSAL, 0, BER_OCTET_STRING):
            return BER_ERR
        if ber_oid_is(p, &oid, SAN_OID, 3) and x509_san(p, &v, out) != BER_OK:
            return BER_ERR
        at = ext.end
        k += 1
    if at < seq.end:                               # past X509_MAX_EXTS: the rest unread
        out.flags |= X509_F_SAN_TRUNC
    return BER_OK


cdef inline int x509_cut(X509Cert* out) noexcept nogil:
    out.flags |= X509_F_PREFIX
    return X509_PREFIX


cdef inline int x509_open(const uint8_t* p, uint32_t n, uint32_t at, uint32_t end,
                          BerTlv* t) noexcept nogil:
    """A SEQUENCE at p[at]: BER_OK when its header is within n (its content may run past
    n: the caller walks what is there), BER_CUT when the header is not, BER_ERR when it
    is malformed or not a SEQUENCE."""
    cdef int rc = ber_read(p, n, at, end, 1, t)
    if rc == BER_ERR or (t.off and not ber_is(t, BER_UNIVERSAL, 1, BER_SEQUENCE)):
        return BER_ERR
    return BER_OK if t.off else BER_CUT


cdef inline bint x509_same_names(const uint8_t* p, const BerTlv* issuer,
                                 const BerTlv* subject, const X509Cert* out) noexcept nogil:
    """Self-signed as nDPI decides it: the rendered names are equal (whole), or the DER."""
    if issuer.len == subject.len and memcmp(p + issuer.off, p + subject.off, issuer.len) == 0:
        return True
    return (out.issuer_len == out.subject_len and
            not (out.flags & (X509_F_ISSUER_TRUNC | X509_F_SUBJECT_TRUNC)) and
            memcmp(out.issuer, out.subject, out.issuer_len) == 0)


cdef inline int x509_stop(int rc, X509Cert* out) noexcept nogil:
    """The result when a step ended other than BER_OK: malformed, or cut (a prefix)."""
    return X509_ERR if rc == BER_ERR else x509_cut(out)


cdef inline int x509_read_name(const uint8_t* p, uint32_t n, uint32_t at, uint32_t end,
                               BerTlv* t, char* buf, uint32_t* real_len,
                               uint32_t have, uint32_t trunc, X509Cert* out) noexcept nogil:
    """Read the Name at p[at] and render it into buf: BER_OK (out.flags |= have, and trunc
    when it did not fit), BER_CUT (not all within n) or BER_ERR."""
    cdef BerOut o
    cdef int rc = ber_read(p, n, at, end, 1, t)
    if rc != BER_OK:
        return rc
    ber_out_init(&o, buf, X509_NAME_CAP)
    if x509_name(p, t, &o) != BER_OK:
        return BER_ERR
    real_len[0] = o.len
    out.flags |= have
    if ber_truncated(&o):
        out.flags |= trunc
    return BER_OK


cdef inline int x509_validity(const uint8_t* p, uint32_t n, const BerTlv* val,
                              X509Cert* out) noexcept nogil:
    cdef BerTlv t
    if not ber_is(val, BER_UNIVERSAL, 1, BER_SEQUENCE):
        return BER_ERR
    if ber_read(p, n, val.off, val.end, 1, &t) != BER_OK or ber_time(p, &t, &out.not_before):
        return BER_ERR
    if ber_read(p, n, t.end, val.end, 1, &t) != BER_OK or ber_time(p, &t, &out.not_after):
        return BER_ERR
    out.flags |= X509_F_VALIDITY
    return BER_OK


cdef inline int x509_head(const uint8_t* p, uint32_t n, const BerTlv* tbs, BerTlv* t,
                          X509Cert* out) noexcept nogil:
    """version, serialNumber and the signature AlgorithmIdentifier; t ends on the latter.
    BER_OK, BER_CUT or BER_ERR."""
    cdef uint32_t i
    cdef BerTlv v
    cdef int rc = ber_read(p, n, tbs.off, tbs.end, 1, t)
    if rc != BER_OK:
        return rc
    out.version = 1
    if ber_is(t, BER_CONTEXT, 1, 0):                      # [0] EXPLICIT Version
        if ber_read(p, n, t.off, t.end, 1, &v) != BER_OK or \
                not ber_is(&v, BER_UNIVERSAL, 0, BER_INTEGER) or v.len != 1 or p[v.off] > 2:
            return BER_ERR
        out.version = p[v.off] + 1
        rc = ber_read(p, n, t.end, tbs.end, 1, t)
        if rc != BER_OK:
            return rc
    out.flags |= X509_F_VERSION
    if not ber_is(t, BER_UNIVERSAL, 0, BER_INTEGER) or t.len == 0:
        return BER_ERR
    out.serial_len = t.len
    for i in range(t.len if t.len < X509_SERIAL_CAP else X509_SERIAL_CAP):
        out.serial[i] = p[t.off + i]
    out.flags |= X509_F_SERIAL
    if t.len > X509_SERIAL_CAP:
        out.flags |= X509_F_SERIAL_TRUNC
    rc = ber_read(p, n, t.end, tbs.end, 1, t)               # signature AlgorithmIdentifier
    if rc == BER_OK and not ber_is(t, BER_UNIVERSAL, 1, BER_SEQUENCE):
        return BER_ERR
    return rc


cdef inline int x509_tail(const uint8_t* p, uint32_t n, const BerTlv* tbs, uint32_t at,
                          X509Cert* out) noexcept nogil:
    """The optional fields after subjectPublicKeyInfo: [1], [2] and [3] extensions."""
    cdef BerTlv t
    cdef int rc, k = 0
    while at < tbs.end and k < X509_MAX_TBS_TAIL:
        rc = ber_read(p, n, at, tbs.end, 1, &t)
        if rc == BER_ERR or (rc == BER_CUT and not t.off):
            return rc
        if ber_is(&t, BER_CONTEXT, 1, 3):
            rc = x509_extensions(p, n, &t, out)
            if rc != BER_OK:
                return rc
        elif rc == BER_CUT:
            return rc
        at = t.end
        k += 1
    out.flags |= X509_F_SAN
    return BER_OK


cdef inline int x509_parse(const uint8_t* p, uint32_t n, uint32_t full,
                           X509Cert* out) noexcept nogil:
    """One DER certificate, p[0:n] of its full bytes: X509_WHOLE, X509_PREFIX or X509_ERR
    (see the module docstring); out is cleared first."""
    cdef BerTlv cert, tbs, t, issuer, subject
    cdef int rc
    out.flags = 0
    out.version = 0
    out.serial_len = out.issuer_len = out.subject_len = out.n_san = 0
    out.issuer[0] = out.subject[0] = 0
    out.not_before = out.not_after = 0
    if n > full:
        n = full
    rc = x509_open(p, n, 0, full, &cert)
    if rc == BER_OK:
        rc = x509_open(p, n, cert.off, cert.end, &tbs)
    if rc == BER_OK:
        rc = x509_head(p, n, &tbs, &t, out)
    if rc != BER_OK:
        return x509_stop(rc, out)
    rc = x509_read_name(p, n, t.end, tbs.end, &issuer, out.issuer, &out.issuer_len,
                        X509_F_ISSUER, X509_F_ISSUER_TRUNC, out)
    if rc != BER_OK:
        return x509_stop(rc, out)
    rc = ber_read(p, n, issuer.end, tbs.end, 1, &t)
    if rc == BER_OK:
        rc = x509_validity(p, n, &t, out)
    if rc != BER_OK:
        return x509_stop(rc, out)
    rc = x509_read_name(p, n, t.end, tbs.end, &subject, out.subject, &out.subject_len,
                        X509_F_SUBJECT, X509_F_SUBJECT_TRUNC, out)
    if rc != BER_OK:
        return x509_stop(rc, out)
    if x509_same_names(p, &issuer, &subject, out):
        out.flags |= X509_F_SELF_SIGNED
    rc = x509_open(p, n, subject.end, tbs.end, &t)          # subjectPublicKeyInfo
    if rc == BER_OK:
        rc = x509_tail(p, n, &tbs, t.end, out)
    if rc != BER_OK:
        return x509_stop(rc, out)
    if cert.end > n:
        return x509_cut(out)
    ws_sha1(p, cert.end, out.sha1)
    out.flags |= X509_F_SHA1
    return X509_WHOLE
