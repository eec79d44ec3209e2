# cython: freethreading_compatible = False
"""LDAP message parser (ext/app/ldap.pxd) for Python: tests, the fuzz target, the EVE
formatter's tests. parse_ldap(bytes, full=None) -> dict, parse_sasl(...) -> dict; the
packet path calls ldap_parse() / ldap_sasl_parse() in C."""
from libc.stdint cimport uint8_t, uint32_t
from ldap cimport *
from msgapi cimport msg_bytes, msg_full, fstr_put

cdef extern from "msg_names.h":
    ctypedef struct ws_msg_name:
        long value
        const char* name
    enum:
        WS_N_LDAP_OPS
        WS_N_LDAP_RESULTS
        WS_N_SASL_KINDS
    const ws_msg_name ws_ldap_ops[]
    const ws_msg_name ws_ldap_results[]
    const char* const ws_sasl_kinds[]

#: the compiled name tables, (value, name) rows in table order (msg_names.h)
TABLES = {
    "ops": tuple((ws_ldap_ops[i].value, ws_ldap_ops[i].name.decode())
                 for i in range(WS_N_LDAP_OPS)),
    "results": tuple((ws_ldap_results[i].value, ws_ldap_results[i].name.decode())
                     for i in range(WS_N_LDAP_RESULTS)),
}
#: SASL token kinds by LdapSasl.kind, as compiled
SASL_KIND_NAMES = tuple(ws_sasl_kinds[i].decode() for i in range(WS_N_SASL_KINDS))
SASL_SEALED_NAMES = ("clear", "sealed", "unknown")      # LdapSasl.sealed
FILTER_DEPTH = LD_FILTER_DEPTH

# LdapMsg.present bits of the fields that are not strings, and their dict keys
_NUMBERS = ((LD_MESSAGE_ID, "message_id"), (LD_VERSION, "version"), (LD_AUTH, "auth"),
            (LD_RESULT, "result_code"), (LD_SCOPE, "scope"), (LD_DEREF, "deref"),
            (LD_SIZE_LIMIT, "size_limit"), (LD_TIME_LIMIT, "time_limit"),
            (LD_TYPES_ONLY, "types_only"), (LD_ABANDON_ID, "abandon_id"))


def parse_ldap(data, full=None):
    """One LDAPMessage -> dict. status: 0 whole, 1 prefix, -1 malformed, -2 not LDAP.
    Keys of the fields present: message_id, op, version, auth, dn, mechanism,
    result_code, matched_dn, message, scope, deref, size_limit, time_limit, types_only,
    filter_kind + filter_attrs (a list, distinct) + n_filter_attrs, attributes (a list)
    + n_attributes, oid, abandon_id; filter_deep; prefix; cut / capped (ldap.pxd)."""
    cdef const uint8_t[::1] buf = data
    cdef uint32_t whole = msg_full(buf, full)
    cdef const uint8_t* p = msg_bytes(buf)
    cdef LdapMsg m
    cdef int rc
    with nogil:
        rc = ldap_parse(p, <uint32_t>buf.shape[0], whole, &m)
    out = {"status": rc}
    if rc < 0:
        return out
    if m.op >= 0:
        out["op"] = m.op
    numbers = (m.message_id, m.version, m.auth, m.result_code, m.scope, m.deref,
               m.size_limit, m.time_limit, bool(m.types_only), m.abandon_id)
    for (bit, key), value in zip(_NUMBERS, numbers):       # in _NUMBERS' order
        if m.present & bit:
            out[key] = value
    fstr_put(out, "dn", &m.dn)
    fstr_put(out, "mechanism", &m.mechanism)
    fstr_put(out, "matched_dn", &m.matched_dn)
    fstr_put(out, "message", &m.message)
    fstr_put(out, "oid", &m.oid)
    if m.present & LD_FILTER:
        out["filter_kind"] = m.filter_kind
        out["n_filter_attrs"] = m.n_filter_attrs
        fstr_put(out, "filter_attrs", &m.filter_attrs)
        out["filter_attrs"] = out["filter_attrs"].split(",") if m.n_filter_attrs else []
        if m.partial & LD_FILTER and "filter_attrs" not in out.get("cut", ()):
            out.setdefault("cut", []).append("filter_attrs")
    if m.present & LD_ATTRIBUTES:
        out["n_attributes"] = m.n_attributes
        if m.op == 3:
            fstr_put(out, "attributes", &m.attributes)
            out["attributes"] = out.get("attributes", "").split(",") if m.n_attributes else []
        if m.partial & LD_ATTRIBUTES and "attributes" not in out.get("cut", ()):
            out.setdefault("cut", []).append("attributes")
    out["filter_deep"] = bool(m.flags & LDF_FILTER_DEEP)
    out["prefix"] = bool(m.flags & LDF_CUT)
    return out


def parse_sasl(data, full=None):
    """One SASL buffer (4-byte length, token) -> dict: status (0 whole, 1 prefix, -2 not
    a SASL buffer), length, kind and sealed (names), inner (the offset of the plaintext
    LDAPMessage, when clear)."""
    cdef const uint8_t[::1] buf = data
    cdef uint32_t whole = msg_full(buf, full)
    cdef LdapSasl s
    cdef int rc = ldap_sasl_parse(msg_bytes(buf), <uint32_t>buf.shape[0], whole, &s)
    if rc < 0:
        return {"status": rc}
    return {"status": rc, "length": s.length, "kind": SASL_KIND_NAMES[s.kind],
            "sealed": SASL_SEALED_NAMES[s.sealed], "inner": s.inner}


def frame(data):
    """(status, length) of the LDAPMessage at data[0:] (ldap_frame)."""
    cdef const uint8_t[::1] buf = data
    cdef uint32_t length = 0
    cdef int rc = ldap_frame(msg_bytes(buf), <uint32_t>buf.shape[0], &length)
    return rc, length


def probe(data):
    """1 LDAPMessage, 2 SASL buffer, 0 neither, -1 too few bytes (ldap_probe)."""
    cdef const uint8_t[::1] buf = data
    return ldap_probe(msg_bytes(buf), <uint32_t>buf.shape[0])
