# cython: freethreading_compatible = False
"""Kerberos message parser (ext/app/krb5.pxd) for Python: tests, the fuzz target, the EVE
formatter's tests. parse_krb5(bytes, full=None) -> dict; the packet path calls
krb5_parse() in C."""
from libc.stdint cimport uint8_t, uint32_t
from krb5 cimport *
from msgapi cimport msg_bytes, msg_full, fstr_put

cdef extern from "msg_names.h":
    ctypedef struct ws_msg_name:
        long value
        const char* name
    enum:
        WS_N_KRB5_MSG_TYPES
        WS_N_KRB5_ETYPES
        WS_N_KRB5_ERRORS
        WS_N_KRB5_PA_TYPES
    const ws_msg_name ws_krb5_msg_types[]
    const ws_msg_name ws_krb5_etypes[]
    const ws_msg_name ws_krb5_errors[]
    const ws_msg_name ws_krb5_pa_types[]
    const unsigned char ws_krb5_etype_weak[]

# Krb5Msg.present bits of the fields that are not strings, and their dict keys
_NUMBERS = ((K5_PVNO, "pvno"), (K5_TILL, "till"), (K5_NONCE, "nonce"),
            (K5_ENC_ETYPE, "enc_etype"), (K5_TICKET_ETYPE, "ticket_etype"),
            (K5_ERROR_CODE, "error_code"), (K5_KDC_OPTIONS, "kdc_options"))
_LISTS = ((K5_ETYPES, "etypes"), (K5_PADATA, "pa_types"))


cdef tuple _rows(const ws_msg_name* table, int n):
    return tuple((table[i].value, table[i].name.decode()) for i in range(n))


#: the compiled name tables, (value, name) rows in table order (msg_names.h)
TABLES = {
    "msg_types": _rows(ws_krb5_msg_types, WS_N_KRB5_MSG_TYPES),
    "etypes": _rows(ws_krb5_etypes, WS_N_KRB5_ETYPES),
    "errors": _rows(ws_krb5_errors, WS_N_KRB5_ERRORS),
    "pa_types": _rows(ws_krb5_pa_types, WS_N_KRB5_PA_TYPES),
}
#: the compiled weak flag of each etype row
ETYPE_WEAK = tuple(bool(ws_krb5_etype_weak[i]) for i in range(WS_N_KRB5_ETYPES))
#: the sizes of Krb5Msg's lists
MAX_ETYPES = K5_MAX_ETYPES
MAX_PA = K5_MAX_PA


def etype_weak(long value):
    """The core's weak flag of an etype (ws_krb5_weak: unknown etypes are weak)."""
    return bool(ws_krb5_weak(value))


def parse_krb5(data, full=None):
    """One Kerberos message (a UDP datagram, or a TCP record without its 4-byte length)
    -> dict. status: 0 whole, 1 prefix, -1 malformed, -2 not Kerberos. Keys of the
    fields present: msg_type, pvno, realm, crealm, cname (+cname_type), sname
    (+sname_type), etext, etypes (n_etypes when more than kept), pa_types (n_pa),
    enc_etype, ticket_etype, error_code, nonce, kdc_options, till (epoch seconds);
    pa_enc_timestamp, weak, ticket_weak (Suricata's weak_encryption); prefix (the bytes
    ended inside the message); cut / capped: the fields cut by the prefix or longer
    than their array (strings: key_len is the real length, as far as a cut string
    went)."""
    cdef const uint8_t[::1] buf = data
    cdef uint32_t whole = msg_full(buf, full)
    cdef const uint8_t* p = msg_bytes(buf)
    cdef Krb5Msg m
    cdef int rc
    with nogil:
        rc = krb5_parse(p, <uint32_t>buf.shape[0], whole, &m)
    out = {"status": rc}
    if rc < 0:
        return out
    if m.msg_type > 0:
        out["msg_type"] = m.msg_type
    numbers = (m.pvno, m.till, m.nonce, m.enc_etype, m.ticket_etype, m.error_code,
               m.kdc_options)                        # in _NUMBERS' order
    for (bit, key), value in zip(_NUMBERS, numbers):
        if m.present & bit:
            out[key] = value
    for bit, key in _LISTS:
        if m.present & bit:
            total = m.n_etypes if bit == K5_ETYPES else m.n_pa
            kept = [m.etypes[i] if bit == K5_ETYPES else m.pa_types[i]
                    for i in range(min(total, K5_MAX_ETYPES if bit == K5_ETYPES else K5_MAX_PA))]
            out[key] = kept
            if total > len(kept):
                out["n_" + key] = total
                out.setdefault("capped", []).append(key)
        if m.partial & bit:
            out.setdefault("cut", []).append(key)
    fstr_put(out, "realm", &m.realm)
    fstr_put(out, "crealm", &m.crealm)
    fstr_put(out, "cname", &m.cname)
    fstr_put(out, "sname", &m.sname)
    fstr_put(out, "etext", &m.etext)
    if m.flags & K5F_CNAME_TYPE:
        out["cname_type"] = m.cname_type
    if m.flags & K5F_SNAME_TYPE:
        out["sname_type"] = m.sname_type
    out["pa_enc_timestamp"] = bool(m.flags & K5F_PA_ENC_TS)
    if m.present & K5_ENC_ETYPE:
        out["weak"] = bool(m.flags & K5F_WEAK)
    if m.present & K5_TICKET_ETYPE:
        out["ticket_weak"] = bool(m.flags & K5F_TICKET_WEAK)
    out["prefix"] = bool(m.flags & K5F_CUT)
    return out


def tcp_frame(data):
    """Kerberos over TCP's record mark: (status, length): 0 and the message length, 1
    (fewer than 4 bytes), -1 (refused)."""
    cdef const uint8_t[::1] buf = data
    cdef uint32_t length = 0
    cdef int rc = krb5_tcp_frame(msg_bytes(buf), <uint32_t>buf.shape[0], &length)
    return rc, length


def probe(data):
    """1 Kerberos, 0 not, -1 too few bytes (krb5_probe)."""
    cdef const uint8_t[::1] buf = data
    return krb5_probe(msg_bytes(buf), <uint32_t>buf.shape[0])
