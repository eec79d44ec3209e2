# DCE-RPC connection-oriented PDUs (C706 12, [MS-RPCE] 2.2.2), over TCP (ncacn_ip_tcp)
# and inside SMB named pipes: dcerpc_parse(p, n, full, out) reads one PDU. p[0:n] are
# the bytes we have; full is the most the PDU can have (a TCP stream's or a pipe
# payload's real length); the PDU's own length is out.frag_len: the next PDU starts
# there. msgio.pxd has the contract; a PDU longer than full is a prefix (its rest is in
# the next SMB write, say).
#
# What it gives (DCE_HAVE_* bits): the common header (version, type, flags, data
# representation, frag_len, auth_len, call_id); BIND / ALTER_CONTEXT: each presentation
# context's id, abstract syntax (interface UUID, version, its wsw_ifaces row: iface) and
# first transfer syntax (its wsw_syntaxes row: NDR, NDR64, bind time feature
# negotiation); BIND_ACK / ALTER_CONTEXT_RESP: the secondary address and each context's
# result and reason; BIND_NAK: the reject reason; REQUEST: alloc hint, context id, opnum,
# object UUID; RESPONSE / FAULT: alloc hint, context id, cancel count, (FAULT) status;
# the stub span (stub_len counts the auth padding, when there is auth); the auth
# trailer (type, level, pad, context id) and the auth token parsed (NTLMSSP in a BIND,
# BIND_ACK, AUTH3; SPNEGO/Kerberos: spnego.pxd). A request's procedure name is
# wsw_procedure(iface of its context's BIND, opnum): the context ids of a connection
# are the wiring's to remember.
#
# UUIDs are 16 bytes in text order, whatever the data representation.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, int16_t, int8_t
from libc.string cimport memcpy, memset, memcmp
from msgio cimport (MsgStr, MSG_OK, MSG_PREFIX, MSG_NOT, MSG_BAD, span_in, le_guid,
                    str_clear, str_oem)
from spnego cimport GssAuth, gss_parse, gss_clear
from win_names cimport (wsw_iface_row, wsw_syntaxes, N_SYNTAXES, DCE_SYNTAX_BTFN,
                        DCE_REQUEST, DCE_RESPONSE, DCE_FAULT, DCE_BIND, DCE_BIND_ACK,
                        DCE_BIND_NAK, DCE_ALTER_CONTEXT, DCE_ALTER_CONTEXT_RESP,
                        DCE_AUTH3)

cdef enum:
    DCE_HDR = 16
    DCE_MAX_CTX = 8               # presentation contexts / results kept (counts: real)
    DCE_MAX_PTYPE = 20            # rts ([MS-RPCE] 2.2.2.1)
    PFC_FIRST_FRAG = 0x01
    PFC_LAST_FRAG = 0x02
    PFC_OBJECT_UUID = 0x80
    DCE_SEC_TRAILER = 8

    DCE_HAVE_HDR = 1 << 0         # ver .. call_id
    DCE_HAVE_BIND = 1 << 1        # max_xmit, max_recv, assoc_group
    DCE_HAVE_CTX = 1 << 2         # n_ctx, ctx (the whole list)
    DCE_HAVE_SEC_ADDR = 1 << 3    # sec_addr (BIND_ACK)
    DCE_HAVE_RESULTS = 1 << 4     # n_results, results (the whole list)
    DCE_HAVE_REJECT = 1 << 5      # reject_reason (BIND_NAK)
    DCE_HAVE_CALL = 1 << 6        # alloc_hint, ctx_id, opnum (REQUEST) / cancel_count
    DCE_HAVE_OBJECT = 1 << 7      # object (REQUEST with PFC_OBJECT_UUID)
    DCE_HAVE_STATUS = 1 << 8      # status (FAULT)
    DCE_HAVE_STUB = 1 << 9        # stub_off, stub_len
    DCE_HAVE_TRAILER = 1 << 10    # auth_type, auth_level, auth_pad, auth_ctx_id, auth_off
    DCE_HAVE_AUTH = 1 << 11       # auth (the token parsed; auth.have says how far)


cdef struct DceCtx:
    uint16_t ctx_id
    uint8_t n_transfer            # transfer syntaxes offered
    uint8_t uuid[16]              # abstract syntax: the interface
    uint16_t ver_major
    uint16_t ver_minor
    int16_t iface                 # wsw_ifaces row, -1: not in the table
    uint8_t transfer[16]          # the first transfer syntax
    uint32_t transfer_ver
    int8_t syntax                 # its wsw_syntaxes row, -1: another


cdef struct DceResult:
    uint16_t result               # win_names dcerpc_bind_results
    uint16_t reason               # win_names dcerpc_bind_reasons
    uint8_t transfer[16]
    uint32_t transfer_ver
    int8_t syntax


cdef struct DcePdu:
    uint32_t have                 # DCE_HAVE_* bits
    uint8_t ver                   # 5
    uint8_t ver_minor             # 0 or 1
    uint8_t ptype                 # win_names dcerpc_ptypes
    uint8_t pfc_flags             # PFC_*
    uint8_t drep[4]               # data representation: drep[0] & 0x10 little-endian
    uint16_t frag_len
    uint16_t auth_len
    uint32_t call_id
    uint16_t max_xmit
    uint16_t max_recv
    uint32_t assoc_group
    uint8_t n_ctx
    DceCtx ctx[DCE_MAX_CTX]
    MsgStr sec_addr               # BIND_ACK secondary address ("\PIPE\lsass", "49155")
    uint8_t n_results
    DceResult results[DCE_MAX_CTX]
    uint16_t reject_reason
    uint32_t alloc_hint
    uint16_t ctx_id
    uint16_t opnum
    uint8_t cancel_count
    uint8_t object[16]
    uint32_t status               # FAULT status (nca_s_* or a Win32/NTSTATUS code)
    uint32_t stub_off             # from the PDU start
    uint32_t stub_len
    uint8_t auth_type             # win_names dcerpc_auth_types
    uint8_t auth_level
    uint8_t auth_pad
    uint32_t auth_ctx_id
    uint32_t auth_off             # the auth token: auth_off, auth_len bytes
    GssAuth auth


cdef inline uint16_t _u16(const DcePdu* d, const uint8_t* p) noexcept nogil:
    """16 bits in the PDU's data representation (the caller checked 2 bytes)."""
    if d.drep[0] & 0x10:
        return p[0] | (<uint16_t>p[1] << 8)
    return (<uint16_t>p[0] << 8) | p[1]


cdef inline uint32_t _u32(const DcePdu* d, const uint8_t* p) noexcept nogil:
    if d.drep[0] & 0x10:
        return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline void _uuid(const DcePdu* d, const uint8_t* p, uint8_t* out) noexcept nogil:
    """An NDR uuid_t at p into text order."""
    if d.drep[0] & 0x10:
        le_guid(p, out)
    else:
        memcpy(out, p, 16)


cdef inline int8_t dce_syntax_row(const uint8_t* uuid) noexcept nogil:
    """The wsw_syntaxes row of a transfer syntax UUID (text order), or -1; bind time
    feature negotiation matches on its first 8 bytes ([MS-RPCE] 3.3.1.5.3)."""
    cdef int i
    for i in range(N_SYNTAXES):
        if memcmp(wsw_syntaxes[i].uuid, uuid, 8 if i == DCE_SYNTAX_BTFN else 16) == 0:
            return <int8_t>i
    return -1


cdef inline bint dce_header_ok(const uint8_t* p, uint32_t n) noexcept nogil:
    """The bytes we have of the first 8 are a connection-oriented header's: version 5.0
    or 5.1, a known type, a data representation C706 14.1 defines."""
    if n >= 1 and p[0] != 5:
        return False
    if n >= 2 and p[1] > 1:
        return False
    if n >= 3 and p[2] > DCE_MAX_PTYPE:
        return False
    if n >= 5 and ((p[4] >> 4) > 1 or (p[4] & 0x0F) > 1):
        return False
    return not (n >= 6 and p[5] > 3)


cdef inline int dcerpc_frag_len(const uint8_t* p, uint32_t n) noexcept nogil:
    """A stream splitter: the PDU length at p (>= 16), -1 when fewer than 10 bytes are
    there, -2 when p holds no connection-oriented DCE-RPC header."""
    cdef uint16_t length
    if not dce_header_ok(p, n):
        return -2
    if n < 10:
        return -1
    length = (p[8] | (<uint16_t>p[9] << 8)) if p[4] & 0x10 else ((<uint16_t>p[8] << 8) | p[9])
    return length if length >= DCE_HDR else -2


cdef inline int _dce_contexts(DcePdu* d, const uint8_t* p, uint32_t n,
                              uint32_t end) noexcept nogil:
    """BIND / ALTER_CONTEXT (C706 12.6.4.3): max_xmit_frag, max_recv_frag, assoc_group_id,
    then p_context_elem: n_context_elem, 3 reserved bytes, the contexts (each: id, the
    number of transfer syntaxes, a reserved byte, the abstract syntax (UUID, version),
    the transfer syntaxes, 20 bytes each)."""
    cdef uint32_t at = 28, k, count
    cdef uint8_t n_transfer
    cdef DceCtx* c
    if not span_in(DCE_HDR, 12, end):
        return MSG_BAD
    if not span_in(DCE_HDR, 12, n):
        return MSG_PREFIX
    d.max_xmit = _u16(d, p + 16)
    d.max_recv = _u16(d, p + 18)
    d.assoc_group = _u32(d, p + 20)
    d.have |= DCE_HAVE_BIND
    count = p[24]
    d.n_ctx = count
    for k in range(count):
        if not span_in(at, 24, end):
            return MSG_BAD
        if not span_in(at, 24, n):
            return MSG_PREFIX
        n_transfer = p[at + 2]
        if not span_in(at + 24, 20 * <uint32_t>n_transfer, end):
            return MSG_BAD
        if k < DCE_MAX_CTX:
            c = &d.ctx[k]
            c.ctx_id = _u16(d, p + at)
            c.n_transfer = n_transfer
            _uuid(d, p + at + 4, c.uuid)
            c.ver_major = _u16(d, p + at + 20)
            c.ver_minor = _u16(d, p + at + 22)
            c.iface = <int16_t>wsw_iface_row(c.uuid)
            c.syntax = -1
            if n_transfer:
                if not span_in(at + 24, 20, n):
                    return MSG_PREFIX
                _uuid(d, p + at + 24, c.transfer)
                c.transfer_ver = _u32(d, p + at + 40)
                c.syntax = dce_syntax_row(c.transfer)
        at += 24 + 20 * <uint32_t>n_transfer
    d.have |= DCE_HAVE_CTX
    return MSG_OK


cdef inline int _dce_results(DcePdu* d, const uint8_t* p, uint32_t n,
                             uint32_t end) noexcept nogil:
    """BIND_ACK / ALTER_CONTEXT_RESP (C706 12.6.4.4): max_xmit_frag, max_recv_frag,
    assoc_group_id, the secondary address (a 16-bit length, that many bytes with their
    NUL), padding to 4 bytes, then p_result_list: n_results, 3 reserved bytes, each
    result (result, reason, transfer syntax: 24 bytes)."""
    cdef uint32_t at, k, count, slen
    cdef DceResult* r
    if not span_in(DCE_HDR, 10, end):
        return MSG_BAD
    if not span_in(DCE_HDR, 10, n):
        return MSG_PREFIX
    d.max_xmit = _u16(d, p + 16)
    d.max_recv = _u16(d, p + 18)
    d.assoc_group = _u32(d, p + 20)
    d.have |= DCE_HAVE_BIND
    slen = _u16(d, p + 24)
    if not span_in(26, slen, end):
        return MSG_BAD
    str_oem(&d.sec_addr, p, n, 26, slen)
    d.have |= DCE_HAVE_SEC_ADDR
    at = (26 + slen + 3) & ~(<uint32_t>3)
    if not span_in(at, 4, end):
        return MSG_BAD
    if not span_in(at, 4, n):
        return MSG_PREFIX
    count = p[at]
    d.n_results = count
    at += 4
    for k in range(count):
        if not span_in(at, 24, end):
            return MSG_BAD
        if not span_in(at, 24, n):
            return MSG_PREFIX
        if k < DCE_MAX_CTX:
            r = &d.results[k]
            r.result = _u16(d, p + at)
            r.reason = _u16(d, p + at + 2)
            _uuid(d, p + at + 4, r.transfer)
            r.transfer_ver = _u32(d, p + at + 20)
            r.syntax = dce_syntax_row(r.transfer)
        at += 24
    d.have |= DCE_HAVE_RESULTS
    return MSG_OK


cdef inline int _dce_call(DcePdu* d, const uint8_t* p, uint32_t n, uint32_t end,
                          uint32_t body_end) noexcept nogil:
    """REQUEST (C706 12.6.4.9: alloc_hint, p_cont_id, opnum, an optional object UUID),
    RESPONSE (12.6.4.10: alloc_hint, p_cont_id, cancel_count) and FAULT (12.6.4.7: and
    status); then the stub up to body_end (where the auth trailer starts)."""
    cdef uint32_t stub = 24
    if not span_in(DCE_HDR, 8, end):
        return MSG_BAD
    if not span_in(DCE_HDR, 8, n):
        return MSG_PREFIX
    d.alloc_hint = _u32(d, p + 16)
    d.ctx_id = _u16(d, p + 20)
    if d.ptype == DCE_REQUEST:
        d.opnum = _u16(d, p + 22)
    else:
        d.cancel_count = p[22]
    d.have |= DCE_HAVE_CALL
    if d.ptype == DCE_REQUEST and (d.pfc_flags & PFC_OBJECT_UUID):
        if not span_in(24, 16, end):
            return MSG_BAD
        if not span_in(24, 16, n):
            return MSG_PREFIX
        _uuid(d, p + 24, d.object)
        d.have |= DCE_HAVE_OBJECT
        stub = 40
    elif d.ptype == DCE_FAULT:
        if not span_in(24, 8, end):
            return MSG_BAD
        if not span_in(24, 4, n):
            return MSG_PREFIX
        d.status = _u32(d, p + 24)
        d.have |= DCE_HAVE_STATUS
        stub = 32
    if stub > body_end:
        return MSG_BAD
    d.stub_off = stub
    d.stub_len = body_end - stub
    d.have |= DCE_HAVE_STUB
    return MSG_OK


cdef inline int _dce_trailer(DcePdu* d, const uint8_t* p, uint32_t n,
                             uint32_t end) noexcept nogil:
    """The sec_trailer ([MS-RPCE] 2.2.2.11) before the auth token that ends the PDU, and
    the token parsed into d.auth when it is NTLMSSP, SPNEGO or Kerberos."""
    cdef uint32_t at = end - d.auth_len - DCE_SEC_TRAILER
    cdef int rc
    if at >= n or not span_in(at, DCE_SEC_TRAILER, n):
        return MSG_PREFIX
    d.auth_type = p[at]
    d.auth_level = p[at + 1]
    d.auth_pad = p[at + 2]
    d.auth_ctx_id = _u32(d, p + at + 4)
    d.auth_off = at + DCE_SEC_TRAILER
    d.have |= DCE_HAVE_TRAILER
    if d.auth_off >= n:
        return MSG_PREFIX
    rc = gss_parse(p + d.auth_off, n - d.auth_off, d.auth_len, &d.auth)
    if rc == MSG_NOT:
        return MSG_OK                            # Schannel, Netlogon: not read here
    if d.auth.have:                 # a prefix too short to tell the token sets none
        d.have |= DCE_HAVE_AUTH
    return rc


cdef inline int _dce_header(DcePdu* d, const uint8_t* p, uint32_t n) noexcept nogil:
    if not dce_header_ok(p, n):
        return MSG_NOT
    if n < DCE_HDR:
        return MSG_PREFIX
    d.ver = p[0]
    d.ver_minor = p[1]
    d.ptype = p[2]
    d.pfc_flags = p[3]
    memcpy(d.drep, p + 4, 4)
    d.frag_len = _u16(d, p + 8)
    d.auth_len = _u16(d, p + 10)
    d.call_id = _u32(d, p + 12)
    d.have |= DCE_HAVE_HDR
    if d.frag_len < DCE_HDR:
        return MSG_NOT
    if d.auth_len and <uint32_t>d.auth_len + DCE_SEC_TRAILER + DCE_HDR > d.frag_len:
        return MSG_BAD
    return MSG_OK


cdef inline void dcerpc_clear(DcePdu* d) noexcept nogil:
    memset(d, 0, sizeof(DcePdu))
    str_clear(&d.sec_addr)
    gss_clear(&d.auth)


cdef inline int dcerpc_parse(const uint8_t* p, uint32_t n, uint32_t full,
                             DcePdu* out) noexcept nogil:
    cdef uint32_t end, body_end
    cdef int rc, trc = MSG_OK
    dcerpc_clear(out)
    if n > full:
        n = full
    if full == 0:
        return MSG_NOT
    rc = _dce_header(out, p, n)
    if rc != MSG_OK:
        return rc
    end = out.frag_len
    if n > end:
        n = end                                  # the next PDU's bytes are not ours
    body_end = end - (out.auth_len + DCE_SEC_TRAILER if out.auth_len else 0)
    if out.ptype == DCE_BIND or out.ptype == DCE_ALTER_CONTEXT:
        rc = _dce_contexts(out, p, n, body_end)
    elif out.ptype == DCE_BIND_ACK or out.ptype == DCE_ALTER_CONTEXT_RESP:
        rc = _dce_results(out, p, n, body_end)
    elif out.ptype == DCE_BIND_NAK:
        rc = MSG_BAD if body_end < 18 else (MSG_PREFIX if n < 18 else MSG_OK)
        if rc == MSG_OK:
            out.reject_reason = _u16(out, p + 16)
            out.have |= DCE_HAVE_REJECT
    elif out.ptype == DCE_REQUEST or out.ptype == DCE_RESPONSE or out.ptype == DCE_FAULT:
        rc = _dce_call(out, p, n, body_end, body_end)
    if rc == MSG_OK and out.auth_len:
        trc = _dce_trailer(out, p, n, end)
        if trc == MSG_BAD:
            return trc
    if rc == MSG_OK and (n < end or trc == MSG_PREFIX or end > full):
        return MSG_PREFIX
    return rc
