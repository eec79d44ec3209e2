# cython: freethreading_compatible = False
"""DCE-RPC connection-oriented PDUs parsed by the core's nogil parser (dcerpc.pxd), as
dicts, and the interface names as the core has them: for tests, the fuzz target and the
EVE formatter's tests. Never on the packet path.

    parse_dcerpc(data, full=None) -> dict    one PDU
    frag_len(data) -> int                    the stream splitter: the PDU's length, -1
                                             (need 10 bytes), -2 (not DCE-RPC)
    service(uuid) -> str | None              interface UUID (text) -> service name
    procedure(uuid, opnum) -> str | None     (UUID, opnum) -> procedure name

"rc" is the parser's return code (0 whole, 1 prefix, < 0 not this protocol /
malformed), the other keys the fields it read (UUIDs in text form; a context's "iface"
is its row in the interface table, -1 when unknown, and "service" its name).
"""
from libc.stdint cimport uint8_t, uint32_t
from libc.stdlib cimport malloc, free
from msgdict cimport exact_copy, full_len, put_str, uuid_text, gss_dict
from dcerpc cimport *
from win_names cimport *


cdef tuple _code_rows(const ws_code* t, int n):
    return tuple((t[i].value, t[i].name.decode()) for i in range(n))


#: the C tables the parsers were compiled with (tests/test_win_names.py)
TABLES = {
    "dcerpc_ptypes": _code_rows(wsw_dcerpc_ptypes, N_DCERPC_PTYPES),
    "dcerpc_bind_results": _code_rows(wsw_dcerpc_bind_results, N_DCERPC_BIND_RESULTS),
    "dcerpc_bind_reasons": _code_rows(wsw_dcerpc_bind_reasons, N_DCERPC_BIND_REASONS),
    "dcerpc_auth_types": _code_rows(wsw_dcerpc_auth_types, N_DCERPC_AUTH_TYPES),
    "interfaces": tuple(
        (uuid_text(wsw_ifaces[i].uuid), wsw_ifaces[i].name.decode(),
         tuple((wsw_procs[j].opnum, wsw_procs[j].name.decode())
               for j in range(wsw_ifaces[i].first, wsw_ifaces[i].first + wsw_ifaces[i].count)))
        for i in range(N_IFACES)),
    "syntaxes": tuple((uuid_text(wsw_syntaxes[i].uuid), wsw_syntaxes[i].version,
                       wsw_syntaxes[i].name.decode()) for i in range(N_SYNTAXES)),
}


def _uuid_bytes(str text) -> bytes:
    raw = bytes.fromhex(text.replace("-", ""))
    if len(raw) != 16:
        raise ValueError(f"not a UUID: {text!r}")
    return raw


def service(str uuid):
    """The service name of an interface UUID, as the C table has it, or None."""
    cdef bytes raw = _uuid_bytes(uuid)
    cdef int row = wsw_iface_row(<const unsigned char*>raw)
    return None if row < 0 else wsw_ifaces[row].name.decode()


def procedure(str uuid, unsigned int opnum):
    """The procedure name of opnum on an interface, as the C table has it, or None."""
    cdef bytes raw = _uuid_bytes(uuid)
    cdef const char* name = wsw_procedure(wsw_iface_row(<const unsigned char*>raw), opnum)
    return None if name == NULL else name.decode()


def frag_len(const uint8_t[::1] data) -> int:
    cdef uint8_t* buf = exact_copy(data)
    cdef int length = dcerpc_frag_len(buf, <uint32_t>data.shape[0])
    free(buf)
    return length


cdef str _iface_name(int row):
    return wsw_ifaces[row].name.decode() if row >= 0 else None


cdef list _contexts(const DcePdu* d):
    cdef list out = []
    cdef const DceCtx* c
    for k in range(min(d.n_ctx, DCE_MAX_CTX)):
        c = &d.ctx[k]
        item = {"ctx_id": c.ctx_id, "uuid": uuid_text(c.uuid),
                "version": f"{c.ver_major}.{c.ver_minor}", "iface": c.iface,
                "service": _iface_name(c.iface), "n_transfer": c.n_transfer}
        if c.n_transfer:
            item.update(transfer=uuid_text(c.transfer), transfer_ver=c.transfer_ver,
                        syntax=c.syntax)
        out.append(item)
    return out


cdef list _results(const DcePdu* d):
    return [{"result": d.results[k].result, "reason": d.results[k].reason,
             "transfer": uuid_text(d.results[k].transfer),
             "transfer_ver": d.results[k].transfer_ver, "syntax": d.results[k].syntax}
            for k in range(min(d.n_results, DCE_MAX_CTX))]


cdef dict _dce_dict(const DcePdu* d):
    cdef dict out = {}
    cdef uint32_t h = d.have
    if h & DCE_HAVE_HDR:
        out.update(ver=d.ver, ver_minor=d.ver_minor, ptype=d.ptype, pfc_flags=d.pfc_flags,
                   drep=bytes(d.drep[:4]).hex(), frag_len=d.frag_len, auth_len=d.auth_len,
                   call_id=d.call_id)
    if h & DCE_HAVE_BIND:
        out.update(max_xmit=d.max_xmit, max_recv=d.max_recv, assoc_group=d.assoc_group)
    if h & DCE_HAVE_CTX:
        out["n_ctx"] = d.n_ctx
        out["ctx"] = _contexts(d)
    if h & DCE_HAVE_SEC_ADDR:
        put_str(out, "sec_addr", &d.sec_addr)
    if h & DCE_HAVE_RESULTS:
        out["n_results"] = d.n_results
        out["results"] = _results(d)
    if h & DCE_HAVE_REJECT:
        out["reject_reason"] = d.reject_reason
    if h & DCE_HAVE_CALL:
        out.update(alloc_hint=d.alloc_hint, ctx_id=d.ctx_id)
        if d.ptype == DCE_REQUEST:
            out["opnum"] = d.opnum
        else:
            out["cancel_count"] = d.cancel_count
    if h & DCE_HAVE_OBJECT:
        out["object"] = uuid_text(d.object)
    if h & DCE_HAVE_STATUS:
        out["status"] = d.status
    if h & DCE_HAVE_STUB:
        out.update(stub_off=d.stub_off, stub_len=d.stub_len)
    if h & DCE_HAVE_TRAILER:
        out.update(auth_type=d.auth_type, auth_level=d.auth_level, auth_pad=d.auth_pad,
                   auth_ctx_id=d.auth_ctx_id, auth_off=d.auth_off)
    if h & DCE_HAVE_AUTH:
        out["auth"] = gss_dict(&d.auth)
    return out


def parse_dcerpc(const uint8_t[::1] data, full=None) -> dict:
    cdef uint32_t n = <uint32_t>data.shape[0], f = full_len(data.shape[0], full)
    cdef uint8_t* buf = exact_copy(data)
    cdef DcePdu* d = <DcePdu*>malloc(sizeof(DcePdu))
    cdef int rc
    if d == NULL:
        free(buf)
        raise MemoryError()
    with nogil:
        rc = dcerpc_parse(buf, n, f, d)
    out = _dce_dict(d)
    out["rc"] = rc
    free(d)
    free(buf)
    return out
