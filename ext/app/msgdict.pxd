# The message parsers' outputs as Python dicts, for the test modules (msg_smb,
# msg_ntlmssp, msg_dcerpc): tests, the fuzz target, the EVE formatter's tests. Never
# on the packet path. A dict holds the fields whose have bit is set; a string field is
# its text, with "<name>_flags" (msgio STR_* bits) beside it when a flag is set.

from libc.stdint cimport uint8_t, uint32_t
from libc.stdlib cimport malloc
from libc.string cimport memcpy
from msgio cimport MsgStr
from ntlmssp cimport *
from spnego cimport *
from win_names cimport wsw_gss_mechs, N_GSS_MECHS


cdef inline uint8_t* exact_copy(const uint8_t[::1] data) except NULL:
    """data in a malloc'd block of exactly its length (a read one byte past it is a heap
    overflow under ASAN, where a bytes object would have its NUL there); free() it."""
    cdef size_t n = data.shape[0]
    cdef uint8_t* buf = <uint8_t*>malloc(n if n else 1)
    if buf == NULL:
        raise MemoryError()
    if n:
        memcpy(buf, &data[0], n)
    return buf


cdef inline uint32_t full_len(Py_ssize_t n, full) except? 0:
    """A test module's full argument: the message's real length, default n."""
    if full is None:
        return <uint32_t>n
    if full < n or full >= 2 ** 32:
        raise ValueError(f"full={full} must be in [len(data)={n}, 2**32)")
    return <uint32_t>full


cdef inline void put_str(dict out, str key, const MsgStr* s):
    out[key] = s.s[:s.len].decode("utf-8")
    if s.flags:
        out[key + "_flags"] = s.flags


cdef inline void opt_str(dict out, uint32_t have, str key, const MsgStr* s):
    if have:
        put_str(out, key, s)


cdef inline str uuid_text(const uint8_t* u):
    """16 bytes in text order as 8-4-4-4-12 lowercase hex."""
    h = (<bytes>u[:16]).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


cdef inline str mech_name(uint8_t row):
    return wsw_gss_mechs[row].name.decode() if row < N_GSS_MECHS else "unknown"


cdef inline dict ntlm_dict(const NtlmMsg* m):
    cdef dict out = {}
    cdef uint32_t h = m.have
    if h & NTLM_HAVE_TYPE:
        out["type"] = m.type
    if h & NTLM_HAVE_FLAGS:
        out["flags"] = m.flags
    if h & NTLM_HAVE_VERSION:
        out["version"] = f"{m.ver_major}.{m.ver_minor} build {m.ver_build} rev {m.ver_rev}"
    opt_str(out, h & NTLM_HAVE_DOMAIN, "domain", &m.domain)
    opt_str(out, h & NTLM_HAVE_USER, "user", &m.user)
    opt_str(out, h & NTLM_HAVE_HOST, "host", &m.host)
    opt_str(out, h & NTLM_HAVE_TARGET, "target", &m.target)
    opt_str(out, h & NTLM_HAVE_NB_DOMAIN, "nb_domain", &m.nb_domain)
    opt_str(out, h & NTLM_HAVE_NB_COMPUTER, "nb_computer", &m.nb_computer)
    opt_str(out, h & NTLM_HAVE_DNS_DOMAIN, "dns_domain", &m.dns_domain)
    opt_str(out, h & NTLM_HAVE_DNS_COMPUTER, "dns_computer", &m.dns_computer)
    opt_str(out, h & NTLM_HAVE_DNS_TREE, "dns_tree", &m.dns_tree)
    opt_str(out, h & NTLM_HAVE_SPN, "spn", &m.spn)
    if h & NTLM_HAVE_CHALLENGE:
        out["challenge"] = (<bytes>m.challenge[:8]).hex()
    if h & NTLM_HAVE_RESPONSES:
        out.update(lm_len=m.lm_len, nt_len=m.nt_len, key_len=m.key_len,
                   ntlm_version=m.ntlm_version)
    if h & NTLM_HAVE_MIC:
        out["has_mic"] = bool(m.has_mic)
    if h & NTLM_HAVE_AV:
        out["av_count"] = m.av_count
    if h & NTLM_HAVE_TIMESTAMP:
        out["timestamp"] = m.timestamp
    return out


cdef inline dict gss_dict(const GssAuth* a):
    cdef dict out = {}
    cdef uint32_t h = a.have
    if h & GSS_HAVE_SPNEGO:
        out["spnego"] = True
    if h & GSS_HAVE_MECHS:
        out["mech_count"] = a.mech_count
        out["mechs"] = [mech_name(a.mechs[k]) for k in range(min(a.mech_count, GSS_MAX_MECHS))]
    if h & GSS_HAVE_STATE:
        out["neg_state"] = a.neg_state
    if h & GSS_HAVE_SUPPORTED:
        out["supported_mech"] = mech_name(a.supported_mech)
    if h & GSS_HAVE_TOKEN:
        out["kind"] = ("none", "ntlmssp", "krb5", "negoex", "other")[a.kind]
        out["token_off"] = a.token_off
        out["token_len"] = a.token_len
    if h & GSS_HAVE_KRB:
        out["krb_msg_type"] = a.krb_msg_type
    if h & GSS_HAVE_REALM:
        put_str(out, "krb_realm", &a.krb_realm)
    if h & GSS_HAVE_SNAME:
        put_str(out, "krb_sname", &a.krb_sname)
    if a.kind == GSS_NTLMSSP and a.ntlm.have:
        out["ntlm"] = ntlm_dict(&a.ntlm)
    return out
