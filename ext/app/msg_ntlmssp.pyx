# cython: freethreading_compatible = False
"""NTLMSSP messages and security blobs (SPNEGO / GSS-API), parsed by the core's nogil
parsers (ntlmssp.pxd, spnego.pxd), as dicts: for tests, the fuzz target and the EVE
formatter's tests. Never on the packet path.

    parse_ntlmssp(data, full=None) -> dict   one NTLMSSP message
    parse_gss(data, full=None) -> dict       a security blob (SPNEGO, Kerberos, NTLMSSP)

data are the bytes we have of the message, full its real length (default len(data));
the dict's "rc" is the parser's return code (0 whole, 1 prefix, < 0 not this protocol /
malformed), the other keys the fields it read (msgdict.pxd).
"""
from libc.stdint cimport uint8_t, uint32_t
from libc.stdlib cimport malloc, free
from msgdict cimport exact_copy, full_len, ntlm_dict, gss_dict
from ntlmssp cimport NtlmMsg, ntlm_parse
from spnego cimport GssAuth, gss_parse
from win_names cimport (wsw_gss_mechs, N_GSS_MECHS, wsw_ntlmssp_types, N_NTLMSSP_TYPES,
                        ws_code)


cdef tuple _code_rows(const ws_code* t, int n):
    return tuple((t[i].value, t[i].name.decode()) for i in range(n))


#: the C tables the parsers were compiled with (tests/test_win_names.py)
TABLES = {
    "ntlmssp_types": _code_rows(wsw_ntlmssp_types, N_NTLMSSP_TYPES),
    "gss_mechs": tuple((bytes(wsw_gss_mechs[i].der[:wsw_gss_mechs[i].len]),
                        wsw_gss_mechs[i].name.decode()) for i in range(N_GSS_MECHS)),
}



def parse_ntlmssp(const uint8_t[::1] data, full=None) -> dict:
    cdef uint32_t n = <uint32_t>data.shape[0], f = full_len(data.shape[0], full)
    cdef uint8_t* buf = exact_copy(data)
    cdef NtlmMsg* m = <NtlmMsg*>malloc(sizeof(NtlmMsg))
    cdef int rc
    if m == NULL:
        free(buf)
        raise MemoryError()
    with nogil:
        rc = ntlm_parse(buf, n, f, m)
    out = ntlm_dict(m)
    out["rc"] = rc
    free(m)
    free(buf)
    return out


def parse_gss(const uint8_t[::1] data, full=None) -> dict:
    cdef uint32_t n = <uint32_t>data.shape[0], f = full_len(data.shape[0], full)
    cdef uint8_t* buf = exact_copy(data)
    cdef GssAuth* a = <GssAuth*>malloc(sizeof(GssAuth))
    cdef int rc
    if a == NULL:
        free(buf)
        raise MemoryError()
    with nogil:
        rc = gss_parse(buf, n, f, a)
    out = gss_dict(a)
    out["rc"] = rc
    free(a)
    free(buf)
    return out
