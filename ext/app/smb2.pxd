# SMB2/3 messages ([MS-SMB2] 2.2): smb2_parse(p, n, full, out) reads one message: the
# 64-byte header and the body of its command into an Smb2Msg (smb2msg.pxd lists the
# fields), or an encrypted / compressed transform header (smb2neg.pxd). p[0:n] are the
# bytes we have of it; full is the real length of what starts at p (the NBSS length, or
# what is left of it in a compound); msgio.pxd has the contract.
#
# Commands read: NEGOTIATE, SESSION_SETUP (the security buffer through spnego.pxd and
# ntlmssp.pxd), TREE_CONNECT, CREATE, CLOSE, READ, WRITE, IOCTL, error responses; the
# other commands (LOGOFF, TREE_DISCONNECT, FLUSH, LOCK, ECHO, QUERY_*, SET_INFO, ...)
# are recognised by their header only. A body whose StructureSize is not the command's
# is MSG_BAD (the header stays in out).
#
# A compound: out.next_command (out.length = the message's bytes) says where the next
# message starts; call smb2_parse again at p + next_command with full - next_command.
# A named pipe's data (a READ response, a WRITE request, an IOCTL request or response:
# FSCTL_PIPE_TRANSCEIVE) is out.data_off / data_len: hand it to dcerpc_parse.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy
from msgio cimport (MSG_OK, MSG_PREFIX, MSG_NOT, MSG_BAD, rd16, rd32, rd64, span_in,
                    str_utf16)
from nbss cimport smb_magic, SMB_V2, SMB_ENCRYPTED, SMB_COMPRESSED
from smb2msg cimport *
from smb2neg cimport (smb2_fixed, smb2_negotiate, smb2_session_setup, smb2_encrypted,
                      smb2_compressed)
from win_names cimport (SMB2_NEGOTIATE, SMB2_SESSION_SETUP, SMB2_LOGOFF,
                        SMB2_TREE_CONNECT, SMB2_TREE_DISCONNECT, SMB2_CREATE, SMB2_CLOSE,
                        SMB2_FLUSH, SMB2_READ, SMB2_WRITE, SMB2_LOCK, SMB2_IOCTL,
                        SMB2_CANCEL, SMB2_ECHO, SMB2_QUERY_DIRECTORY, SMB2_CHANGE_NOTIFY,
                        SMB2_QUERY_INFO, SMB2_SET_INFO)


cdef inline uint16_t smb2_structure_size(uint16_t cmd, bint resp) noexcept nogil:
    """The body's StructureSize of a command ([MS-SMB2] 2.2.3-2.2.40), 0: not checked."""
    if cmd == SMB2_NEGOTIATE:
        return 65 if resp else 36
    if cmd == SMB2_SESSION_SETUP:
        return 9 if resp else 25
    if cmd == SMB2_LOGOFF or cmd == SMB2_TREE_DISCONNECT or cmd == SMB2_ECHO or \
            cmd == SMB2_CANCEL:
        return 4
    if cmd == SMB2_TREE_CONNECT:
        return 16 if resp else 9
    if cmd == SMB2_CREATE:
        return 89 if resp else 57
    if cmd == SMB2_CLOSE:
        return 60 if resp else 24
    if cmd == SMB2_FLUSH:
        return 4 if resp else 24
    if cmd == SMB2_READ or cmd == SMB2_WRITE:
        return 17 if resp else 49
    if cmd == SMB2_LOCK:
        return 4 if resp else 48
    if cmd == SMB2_IOCTL:
        return 49 if resp else 57
    if cmd == SMB2_QUERY_DIRECTORY:
        return 9 if resp else 33
    if cmd == SMB2_CHANGE_NOTIFY:
        return 9 if resp else 32
    if cmd == SMB2_QUERY_INFO:
        return 9 if resp else 41
    if cmd == SMB2_SET_INFO:
        return 2 if resp else 33
    return 0


cdef inline int _smb2_tree_connect(Smb2Msg* m, const uint8_t* p, uint32_t n,
                                   uint32_t mlen, bint resp) noexcept nogil:
    """TREE_CONNECT request (2.2.9: the share's path) or response (2.2.10)."""
    cdef uint32_t off, length
    cdef int rc = smb2_fixed(n, mlen, 80 if resp else 72)
    if rc != MSG_OK:
        return rc
    if resp:
        m.share_type = p[66]
        m.share_flags = rd32(p + 68)
        m.share_caps = rd32(p + 72)
        m.maximal_access = rd32(p + 76)
        m.have |= SMB2_HAVE_SHARE
        return MSG_OK
    off = rd16(p + 68)
    length = rd16(p + 70)
    if length and not span_in(off, length, mlen):
        return MSG_BAD
    str_utf16(&m.path, p, n, off, length)
    m.have |= SMB2_HAVE_PATH
    return MSG_OK


cdef inline void _smb2_file_info(Smb2Msg* m, const uint8_t* p) noexcept nogil:
    """The times, sizes and attributes at p[72:124] of a CREATE or CLOSE response."""
    m.creation_time = rd64(p + 72)
    m.last_access_time = rd64(p + 80)
    m.last_write_time = rd64(p + 88)
    m.change_time = rd64(p + 96)
    m.allocation_size = rd64(p + 104)
    m.end_of_file = rd64(p + 112)
    m.file_attributes = rd32(p + 120)
    m.have |= SMB2_HAVE_FILE


cdef inline int _smb2_create(Smb2Msg* m, const uint8_t* p, uint32_t n, uint32_t mlen,
                             bint resp) noexcept nogil:
    """CREATE request (2.2.13: the name, access, disposition, options) or response
    (2.2.14: action, times, sizes, FileId)."""
    cdef uint32_t off, length
    cdef int rc = smb2_fixed(n, mlen, 152 if resp else 120)
    if rc != MSG_OK:
        return rc
    if resp:
        m.oplock = p[66]
        m.create_action = rd32(p + 68)
        _smb2_file_info(m, p)
        memcpy(m.file_id, p + 128, 16)
        m.have |= SMB2_HAVE_FILE_ID
        return MSG_OK
    m.oplock = p[67]
    m.impersonation = rd32(p + 68)
    m.desired_access = rd32(p + 88)
    m.file_attributes = rd32(p + 92)
    m.share_access = rd32(p + 96)
    m.disposition = rd32(p + 100)
    m.create_options = rd32(p + 104)
    m.have |= SMB2_HAVE_CREATE
    off = rd16(p + 108)
    length = rd16(p + 110)
    if length and not span_in(off, length, mlen):
        return MSG_BAD
    str_utf16(&m.name, p, n, off, length)
    m.have |= SMB2_HAVE_NAME
    return MSG_OK


cdef inline int _smb2_close(Smb2Msg* m, const uint8_t* p, uint32_t n, uint32_t mlen,
                            bint resp) noexcept nogil:
    """CLOSE request (2.2.15: FileId) or response (2.2.16: times and sizes)."""
    cdef int rc = smb2_fixed(n, mlen, 124 if resp else 88)
    if rc != MSG_OK:
        return rc
    if resp:
        _smb2_file_info(m, p)
    else:
        memcpy(m.file_id, p + 72, 16)
        m.have |= SMB2_HAVE_FILE_ID
    return MSG_OK


cdef inline int _smb2_data(Smb2Msg* m, uint32_t mlen, uint32_t off,
                           uint32_t length) noexcept nogil:
    """The payload span of a READ response, WRITE request or IOCTL (inside the message;
    a zero length may carry any offset)."""
    if length and (off < SMB2_HDR or not span_in(off, length, mlen)):
        return MSG_BAD
    m.data_off = off if length else 0
    m.data_len = length
    m.have |= SMB2_HAVE_DATA
    return MSG_OK


cdef inline int _smb2_read_write(Smb2Msg* m, const uint8_t* p, uint32_t n, uint32_t mlen,
                                 bint resp, bint write) noexcept nogil:
    """READ (2.2.19-20) and WRITE (2.2.21-22): lengths, offsets, FileId; the data span
    of a READ response and a WRITE request."""
    cdef int rc = smb2_fixed(n, mlen, 80 if resp else 112)
    if rc != MSG_OK:
        return rc
    m.have |= SMB2_HAVE_RW
    if resp:
        m.rw_length = rd32(p + 68)
        m.rw_remaining = rd32(p + 72)
        if write:
            return MSG_OK
        return _smb2_data(m, mlen, p[66], m.rw_length)
    m.rw_length = rd32(p + 68)
    m.rw_offset = rd64(p + 72)
    memcpy(m.file_id, p + 80, 16)
    m.have |= SMB2_HAVE_FILE_ID
    if not write:
        m.rw_remaining = rd32(p + 104)
        return MSG_OK
    m.rw_remaining = rd32(p + 100)
    return _smb2_data(m, mlen, rd16(p + 66), m.rw_length)


cdef inline int _smb2_ioctl(Smb2Msg* m, const uint8_t* p, uint32_t n, uint32_t mlen,
                            bint resp) noexcept nogil:
    """IOCTL request (2.2.31: the input is the payload) or response (2.2.32: the
    output is)."""
    cdef int rc = smb2_fixed(n, mlen, 112 if resp else 120)
    if rc != MSG_OK:
        return rc
    m.ctl_code = rd32(p + 68)
    memcpy(m.file_id, p + 72, 16)
    m.ioctl_flags = rd32(p + (104 if resp else 112))
    m.have |= SMB2_HAVE_IOCTL | SMB2_HAVE_FILE_ID
    if resp:
        return _smb2_data(m, mlen, rd32(p + 96), rd32(p + 100))
    return _smb2_data(m, mlen, rd32(p + 88), rd32(p + 92))


cdef inline int _smb2_body(Smb2Msg* m, const uint8_t* p, uint32_t n,
                           uint32_t mlen) noexcept nogil:
    """The body after the header (its StructureSize checked)."""
    cdef bint resp = (m.flags & SMB2_FLAGS_RESPONSE) != 0
    cdef uint16_t cmd = m.command, want
    cdef int rc = smb2_fixed(n, mlen, SMB2_HDR + 2)
    if rc != MSG_OK:
        return rc
    m.structure_size = rd16(p + SMB2_HDR)
    m.have |= SMB2_HAVE_BODY
    if resp and m.structure_size == 9 and smb2_error_body(m.status, cmd):
        rc = smb2_fixed(n, mlen, 72)                  # ERROR response (2.2.2)
        if rc != MSG_OK:
            return rc
        m.error_ctx_count = p[66]
        m.error_len = rd32(p + 68)
        m.have |= SMB2_HAVE_ERROR
        return MSG_OK
    want = smb2_structure_size(cmd, resp)
    if want and (m.structure_size & 0xFFFE) != (want & 0xFFFE):
        return MSG_BAD
    if cmd == SMB2_NEGOTIATE:
        return smb2_negotiate(m, p, n, mlen, resp)
    if cmd == SMB2_SESSION_SETUP:
        return smb2_session_setup(m, p, n, mlen, resp)
    if cmd == SMB2_TREE_CONNECT:
        return _smb2_tree_connect(m, p, n, mlen, resp)
    if cmd == SMB2_CREATE:
        return _smb2_create(m, p, n, mlen, resp)
    if cmd == SMB2_CLOSE:
        return _smb2_close(m, p, n, mlen, resp)
    if cmd == SMB2_READ or cmd == SMB2_WRITE:
        return _smb2_read_write(m, p, n, mlen, resp, cmd == SMB2_WRITE)
    if cmd == SMB2_IOCTL:
        return _smb2_ioctl(m, p, n, mlen, resp)
    return MSG_OK


cdef inline int _smb2_header(Smb2Msg* m, const uint8_t* p, uint32_t n,
                             uint32_t full) noexcept nogil:
    """The 64-byte header (2.2.1.1 async, 2.2.1.2 sync); m.length set from NextCommand."""
    if full < SMB2_HDR:
        return MSG_BAD
    if n < SMB2_HDR:
        return MSG_PREFIX
    if rd16(p + 4) != SMB2_HDR:
        return MSG_NOT
    m.credit_charge = rd16(p + 6)
    m.status = rd32(p + 8)
    m.command = rd16(p + 12)
    m.credits = rd16(p + 14)
    m.flags = rd32(p + 16)
    m.next_command = rd32(p + 20)
    m.message_id = rd64(p + 24)
    if m.flags & SMB2_FLAGS_ASYNC:
        m.async_id = rd64(p + 32)
    else:
        m.tree_id = rd32(p + 36)
    m.session_id = rd64(p + 40)
    m.have |= SMB2_HAVE_HDR
    if m.next_command:
        if m.next_command < SMB2_HDR + 2 or m.next_command > full or (m.next_command & 7):
            return MSG_BAD
        m.length = m.next_command
    else:
        m.length = full
    return MSG_OK


cdef inline int smb2_parse(const uint8_t* p, uint32_t n, uint32_t full,
                           Smb2Msg* out) noexcept nogil:
    cdef int rc
    smb2_clear(out)
    if n > full:
        n = full
    if (n >= 1 and (p[0] < 0xFC or p[0] > 0xFE)) or (n >= 2 and p[1] != 0x53) or \
            (n >= 3 and p[2] != 0x4D) or (n >= 4 and p[3] != 0x42):
        return MSG_NOT                              # 0xFC..0xFE 'SMB'
    if full < 4:
        return MSG_NOT
    if n < 4:
        return MSG_PREFIX
    out.kind = smb_magic(p, n)
    if out.kind == SMB_ENCRYPTED:
        rc = smb2_encrypted(out, p, n, full)
    elif out.kind == SMB_COMPRESSED:
        rc = smb2_compressed(out, p, n, full)
    else:
        rc = _smb2_header(out, p, n, full)
        if rc != MSG_OK:
            return rc
        if n > out.length:
            n = out.length                          # the next message's bytes are not ours
        rc = _smb2_body(out, p, n, out.length)
        full = out.length
    if rc == MSG_OK and n < full:
        return MSG_PREFIX
    return rc
