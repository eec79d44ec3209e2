# cython: freethreading_compatible = False
"""SMB messages parsed by the core's nogil parsers (nbss.pxd, smb2.pxd, smb1.pxd), as
dicts: for tests, the fuzz target and the EVE formatter's tests. Never on the packet path.

    parse_nbss(data) -> dict                 a NetBIOS session header (the unit splitter)
    parse_smb2(data, full=None) -> dict      one SMB2/3 message (or transform header)
    parse_smb1(data, full=None) -> dict      one SMB1 message

data are the bytes we have, full the message's real length (default len(data)); "rc" is
the parser's return code (0 whole, 1 prefix, < 0 not this protocol / malformed), the
other keys the fields it read (msgdict.pxd; GUIDs in text form, FileIds and times as
numbers, the security blob's parse under "auth").
"""
from libc.stdint cimport uint8_t, uint32_t
from libc.stdlib cimport malloc, free
from msgdict cimport exact_copy, full_len, put_str, opt_str, uuid_text, gss_dict
from nbss cimport NbssHdr, nbss_header
from smb1 cimport *
from smb2msg cimport *
from smb2 cimport smb2_parse
from win_names cimport *


cdef tuple _code_rows(const ws_code* t, int n):
    return tuple((t[i].value, t[i].name.decode()) for i in range(n))


#: the C tables the parsers were compiled with (tests/test_win_names.py)
TABLES = {
    "smb2_commands": _code_rows(wsw_smb2_commands, N_SMB2_COMMANDS),
    "smb1_commands": _code_rows(wsw_smb1_commands, N_SMB1_COMMANDS),
    "smb2_dialects": _code_rows(wsw_smb2_dialects, N_SMB2_DIALECTS),
    "smb2_neg_contexts": _code_rows(wsw_smb2_neg_contexts, N_SMB2_NEG_CONTEXTS),
    "smb2_compression": _code_rows(wsw_smb2_compression, N_SMB2_COMPRESSION),
    "smb2_ciphers": _code_rows(wsw_smb2_ciphers, N_SMB2_CIPHERS),
    "smb2_signing": _code_rows(wsw_smb2_signing, N_SMB2_SIGNING),
    "smb2_hashes": _code_rows(wsw_smb2_hashes, N_SMB2_HASHES),
    "smb2_share_types": _code_rows(wsw_smb2_share_types, N_SMB2_SHARE_TYPES),
    "smb2_dispositions": _code_rows(wsw_smb2_dispositions, N_SMB2_DISPOSITIONS),
    "smb2_create_actions": _code_rows(wsw_smb2_create_actions, N_SMB2_CREATE_ACTIONS),
    "nbss_types": _code_rows(wsw_nbss_types, N_NBSS_TYPES),
    "nt_status": _code_rows(wsw_nt_status, N_NT_STATUS),
    "fsctl": _code_rows(wsw_fsctl, N_FSCTL),
}
#: the FSCTL whose payload is a named pipe's DCE-RPC
PIPE_TRANSCEIVE = FSCTL_PIPE_TRANSCEIVE


def nt_status_name(uint32_t code):
    """The C table's name of an NTSTATUS code, or None."""
    cdef const char* name = wsw_code_name(wsw_nt_status, N_NT_STATUS, code)
    return None if name == NULL else name.decode()



def parse_nbss(const uint8_t[::1] data) -> dict:
    cdef uint8_t* buf = exact_copy(data)
    cdef NbssHdr h
    cdef int rc
    with nogil:
        rc = nbss_header(buf, <uint32_t>data.shape[0], &h)
    free(buf)
    out = {"rc": rc}
    if rc == 0:
        out.update(type=h.type, length=h.length, smb=h.smb)
    return out


cdef list _ids(const uint16_t* v, uint32_t count, uint32_t cap):
    return [v[k] for k in range(min(count, cap))]


cdef void _smb2_negotiate(dict out, const Smb2Msg* m):
    cdef uint32_t h = m.have
    if h & SMB2_HAVE_DIALECTS:
        out["dialect_count"] = m.dialect_count
        out["dialects"] = _ids(m.dialects, m.dialect_count, SMB2_MAX_DIALECTS)
    if h & SMB2_HAVE_NEGOTIATE:
        out.update(security_mode=m.security_mode, capabilities=m.capabilities,
                   guid=uuid_text(m.guid))
        if m.flags & SMB2_FLAGS_RESPONSE:
            out.update(dialect=m.dialect, max_transact=m.max_transact, max_read=m.max_read,
                       max_write=m.max_write, system_time=m.system_time)
    if h & SMB2_HAVE_CONTEXTS:
        out["ctx_count"] = m.ctx_count
        out["ctx_types"] = _ids(m.ctx_types, m.ctx_count, SMB2_MAX_CTX)
        out["hashes"] = _ids(m.hashes, m.hash_count, SMB2_MAX_ALGS)
        out["ciphers"] = _ids(m.ciphers, m.cipher_count, SMB2_MAX_ALGS)
        out["comps"] = _ids(m.comps, m.comp_count, SMB2_MAX_ALGS)
        out["signs"] = _ids(m.signs, m.sign_count, SMB2_MAX_ALGS)
        out["comp_caps_flags"] = m.comp_caps_flags
        if m.netname.wire_len:
            put_str(out, "netname", &m.netname)


cdef void _smb2_files(dict out, const Smb2Msg* m):
    cdef uint32_t h = m.have
    opt_str(out, h & SMB2_HAVE_PATH, "path", &m.path)
    if h & SMB2_HAVE_SHARE:
        out.update(share_type=m.share_type, share_flags=m.share_flags,
                   share_caps=m.share_caps, maximal_access=m.maximal_access)
    if h & SMB2_HAVE_CREATE:
        out.update(oplock=m.oplock, impersonation=m.impersonation,
                   desired_access=m.desired_access, file_attributes=m.file_attributes,
                   share_access=m.share_access, disposition=m.disposition,
                   create_options=m.create_options)
    opt_str(out, h & SMB2_HAVE_NAME, "name", &m.name)
    if h & SMB2_HAVE_FILE:
        out.update(creation_time=m.creation_time, last_access_time=m.last_access_time,
                   last_write_time=m.last_write_time, change_time=m.change_time,
                   allocation_size=m.allocation_size, end_of_file=m.end_of_file,
                   file_attributes=m.file_attributes)
        if m.command == SMB2_CREATE:
            out["create_action"] = m.create_action
    if h & SMB2_HAVE_FILE_ID:
        out["file_id"] = (<bytes>m.file_id[:16]).hex()
    if h & SMB2_HAVE_RW:
        out.update(rw_length=m.rw_length, rw_offset=m.rw_offset,
                   rw_remaining=m.rw_remaining)
    if h & SMB2_HAVE_DATA:
        out.update(data_off=m.data_off, data_len=m.data_len)
    if h & SMB2_HAVE_IOCTL:
        out.update(ctl_code=m.ctl_code, ioctl_flags=m.ioctl_flags)


cdef dict _smb2_dict(const Smb2Msg* m):
    cdef dict out = {"kind": m.kind} if m.kind else {}     # 0: too few bytes to tell
    cdef uint32_t h = m.have
    if h & SMB2_HAVE_HDR:
        out.update(length=m.length, credit_charge=m.credit_charge, status=m.status,
                   command=m.command, credits=m.credits, flags=m.flags,
                   next_command=m.next_command, message_id=m.message_id,
                   session_id=m.session_id)
        if m.flags & SMB2_FLAGS_ASYNC:
            out["async_id"] = m.async_id
        else:
            out["tree_id"] = m.tree_id
    if h & SMB2_HAVE_BODY:
        out["structure_size"] = m.structure_size
    if h & SMB2_HAVE_ERROR:
        out.update(error_ctx_count=m.error_ctx_count, error_len=m.error_len)
    _smb2_negotiate(out, m)
    if h & SMB2_HAVE_SESSION:
        if m.flags & SMB2_FLAGS_RESPONSE:
            out["session_flags"] = m.session_flags
        else:
            out.update(setup_flags=m.setup_flags, security_mode=m.security_mode,
                       capabilities=m.capabilities,
                       previous_session_id=m.previous_session_id)
    if h & SMB2_HAVE_BLOB:
        out.update(blob_off=m.blob_off, blob_len=m.blob_len)
    if h & SMB2_HAVE_AUTH:
        out["auth"] = gss_dict(&m.auth)
    _smb2_files(out, m)
    if h & SMB2_HAVE_TRANSFORM:
        out.update(orig_size=m.orig_size, cipher=m.comp_alg, session_id=m.session_id)
    if h & SMB2_HAVE_COMPRESSION:
        out.update(orig_size=m.orig_size, comp_alg=m.comp_alg, comp_flags=m.comp_flags,
                   comp_offset=m.comp_offset)
        if h & SMB2_HAVE_CHAIN or m.comp_flags != 1:   # else the chain walk was cut
            out.update(chain_count=m.chain_count, malformed=m.malformed)
    return out


def parse_smb2(const uint8_t[::1] data, full=None) -> dict:
    cdef uint32_t n = <uint32_t>data.shape[0], f = full_len(data.shape[0], full)
    cdef uint8_t* buf = exact_copy(data)
    cdef Smb2Msg* m = <Smb2Msg*>malloc(sizeof(Smb2Msg))
    cdef int rc
    if m == NULL:
        free(buf)
        raise MemoryError()
    with nogil:
        rc = smb2_parse(buf, n, f, m)
    out = _smb2_dict(m)
    out["rc"] = rc
    free(m)
    free(buf)
    return out


cdef dict _smb1_dict(const Smb1Msg* m):
    cdef dict out = {}
    cdef uint32_t h = m.have
    cdef uint32_t k
    if h & SMB1_HAVE_HDR:
        out.update(command=m.command, status=m.status, flags=m.flags, flags2=m.flags2,
                   tid=m.tid, pid=m.pid, uid=m.uid, mid=m.mid)
    if h & SMB1_HAVE_WORDS:
        out.update(word_count=m.word_count, byte_count=m.byte_count)
        if m.andx_command != 0xFF:
            out["andx_command"] = m.andx_command
    if h & SMB1_HAVE_DIALECTS:
        out["dialect_count"] = m.dialect_count
        out["dialects"] = [m.dialects[k].s[:m.dialects[k].len].decode("ascii")
                           for k in range(min(m.dialect_count, SMB1_MAX_DIALECTS))]
        out["dialects_cut"] = [bool(m.dialects[k].cut)
                               for k in range(min(m.dialect_count, SMB1_MAX_DIALECTS))]
    if h & SMB1_HAVE_NEGOTIATE:
        out["dialect_index"] = m.dialect_index
        if m.word_count == 17:
            out.update(security_mode=m.security_mode, max_buffer=m.max_buffer,
                       capabilities=m.capabilities)
    if h & SMB1_HAVE_GUID:
        out["guid"] = uuid_text(m.guid)
    if h & SMB1_HAVE_BLOB:
        out.update(blob_off=m.blob_off, blob_len=m.blob_len)
    if h & SMB1_HAVE_AUTH:
        out["auth"] = gss_dict(&m.auth)
    return out


def parse_smb1(const uint8_t[::1] data, full=None) -> dict:
    cdef uint32_t n = <uint32_t>data.shape[0], f = full_len(data.shape[0], full)
    cdef uint8_t* buf = exact_copy(data)
    cdef Smb1Msg* m = <Smb1Msg*>malloc(sizeof(Smb1Msg))
    cdef int rc
    if m == NULL:
        free(buf)
        raise MemoryError()
    with nogil:
        rc = smb1_parse(buf, n, f, m)
    out = _smb1_dict(m)
    out["rc"] = rc
    free(m)
    free(buf)
    return out
