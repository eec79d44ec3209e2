# SMB1 messages ([MS-CIFS] 2.2.3, [MS-SMB] 2.2.3): smb1_parse(p, n, full, out) reads the
# 32-byte header of any command (the command is named by number: win_names
# smb1_commands) and the parameter/data block sizes, and the bodies that say who
# connects with what: NEGOTIATE (the request's dialect strings; the response's chosen
# dialect index, security mode, capabilities and, with extended security, server GUID
# and security blob) and SESSION_SETUP_ANDX with extended security (the security blob:
# NTLMSSP or Kerberos, spnego.pxd). msgio.pxd has the contract; full is the NBSS length.

from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.string cimport memset
from msgio cimport MSG_OK, MSG_PREFIX, MSG_NOT, MSG_BAD, rd16, rd32, span_in, le_guid
from spnego cimport GssAuth, gss_parse, gss_clear
from win_names cimport SMB1_NEGOTIATE, SMB1_SESSION_SETUP_ANDX

cdef enum:
    SMB1_HDR = 32
    SMB1_MAX_DIALECTS = 16       # dialect strings kept (dialect_count is the real count)
    SMB1_DIALECT_CAP = 32        # bytes of a dialect string, its NUL included
    SMB1_FLAGS_REPLY = 0x80
    SMB1_FLAGS2_UNICODE = 0x8000
    SMB1_CAP_EXTENDED_SECURITY = 0x80000000

    SMB1_HAVE_HDR = 1 << 0       # command, status, flags, flags2, tid, pid, uid, mid
    SMB1_HAVE_WORDS = 1 << 1     # word_count, byte_count, andx_command
    SMB1_HAVE_DIALECTS = 1 << 2  # NEGOTIATE request: dialect_count, dialects (whole list)
    SMB1_HAVE_NEGOTIATE = 1 << 3  # NEGOTIATE response: dialect_index (and with 17 words:
    #                               security_mode, max_buffer, capabilities)
    SMB1_HAVE_GUID = 1 << 4      # NEGOTIATE response, extended security: guid
    SMB1_HAVE_BLOB = 1 << 5      # blob_off, blob_len
    SMB1_HAVE_AUTH = 1 << 6      # auth (the blob parsed)


cdef struct Smb1Dialect:
    char s[SMB1_DIALECT_CAP]     # ASCII, NUL-terminated (a byte >= 0x80 as '?')
    uint8_t len
    uint8_t cut                  # longer than the array, or past the bytes we have


cdef struct Smb1Msg:
    uint32_t have                # SMB1_HAVE_* bits
    uint8_t command              # win_names smb1_commands
    uint32_t status              # NTSTATUS (or DOS error class/code when flags2 says so)
    uint8_t flags
    uint16_t flags2
    uint16_t tid
    uint32_t pid                 # PIDHigh << 16 | PIDLow
    uint16_t uid
    uint16_t mid
    uint8_t word_count
    uint16_t byte_count
    uint8_t andx_command         # an AndX command's next command (0xFF: none)
    uint16_t dialect_count
    Smb1Dialect dialects[SMB1_MAX_DIALECTS]
    uint16_t dialect_index       # response: the request's dialect chosen (0xFFFF: none)
    uint8_t security_mode
    uint32_t max_buffer
    uint32_t capabilities
    uint8_t guid[16]             # ServerGUID, text order
    uint32_t blob_off            # security blob, from the message start
    uint32_t blob_len
    GssAuth auth


cdef inline bint smb1_is_andx(uint8_t cmd) noexcept nogil:
    """Commands whose parameter block starts with AndXCommand ([MS-CIFS] 2.2.4)."""
    return cmd in (0x24, 0x2D, 0x2E, 0x2F, 0x73, 0x74, 0x75, 0xA2)


cdef inline int _smb1_dialects(Smb1Msg* m, const uint8_t* p, uint32_t n, uint32_t at,
                               uint32_t end) noexcept nogil:
    """NEGOTIATE request bytes p[at:end]: BufferFormat 0x02, then a NUL-terminated
    dialect string, repeated ([MS-CIFS] 2.2.4.52.1)."""
    cdef Smb1Dialect* d
    cdef uint8_t c
    while at < end:
        if at >= n:
            return MSG_PREFIX
        if p[at] != 0x02:
            return MSG_BAD
        at += 1
        d = &m.dialects[m.dialect_count] if m.dialect_count < SMB1_MAX_DIALECTS else NULL
        while True:
            if at >= end:
                return MSG_BAD                    # no NUL before the end
            if at >= n:
                if d != NULL:
                    d.cut = 1
                    m.dialect_count += 1
                return MSG_PREFIX
            c = p[at]
            at += 1
            if c == 0:
                break
            if d != NULL:
                if d.len < SMB1_DIALECT_CAP - 1:
                    d.s[d.len] = <char>(c if c < 0x80 else 0x3F)
                    d.len += 1
                else:
                    d.cut = 1
        if m.dialect_count < 0xFFFF:
            m.dialect_count += 1
    m.have |= SMB1_HAVE_DIALECTS
    return MSG_OK


cdef inline int _smb1_blob(Smb1Msg* m, const uint8_t* p, uint32_t n, uint32_t full,
                           uint32_t off, uint32_t length) noexcept nogil:
    cdef int rc
    if length == 0:
        return MSG_OK
    if not span_in(off, length, full):
        return MSG_BAD
    m.blob_off = off
    m.blob_len = length
    m.have |= SMB1_HAVE_BLOB
    if off >= n:
        return MSG_PREFIX
    rc = gss_parse(p + off, n - off, length, &m.auth)
    if rc == MSG_NOT:
        return MSG_OK
    if m.auth.have:                 # a prefix too short to tell the token sets none
        m.have |= SMB1_HAVE_AUTH
    return rc


cdef inline int _smb1_negotiate(Smb1Msg* m, const uint8_t* p, uint32_t n, uint32_t full,
                                uint32_t words, uint32_t data) noexcept nogil:
    """NEGOTIATE: the request's dialects; the response's DialectIndex and, for NT LM 0.12
    (17 words, [MS-SMB] 2.2.4.5.2), its security mode, sizes, capabilities, and with
    extended security the ServerGUID and the security blob."""
    if not (m.flags & SMB1_FLAGS_REPLY):
        return _smb1_dialects(m, p, n, data, data + m.byte_count)
    if m.word_count == 0:
        return MSG_BAD
    m.dialect_index = rd16(p + words)
    m.have |= SMB1_HAVE_NEGOTIATE
    if m.word_count != 17:
        return MSG_OK
    m.security_mode = p[words + 2]
    m.max_buffer = rd32(p + words + 7)
    m.capabilities = rd32(p + words + 19)
    if not (m.capabilities & SMB1_CAP_EXTENDED_SECURITY):
        return MSG_OK
    if m.byte_count < 16:
        return MSG_BAD
    if not span_in(data, 16, n):
        return MSG_PREFIX
    le_guid(p + data, m.guid)
    m.have |= SMB1_HAVE_GUID
    return _smb1_blob(m, p, n, full, data + 16, m.byte_count - 16)


cdef inline int smb1_parse(const uint8_t* p, uint32_t n, uint32_t full,
                           Smb1Msg* out) noexcept nogil:
    cdef uint32_t words, data
    cdef int rc = MSG_OK
    memset(out, 0, sizeof(Smb1Msg))
    gss_clear(&out.auth)
    out.dialect_index = 0xFFFF
    out.andx_command = 0xFF
    if n > full:
        n = full
    if (n >= 1 and p[0] != 0xFF) or (n >= 2 and p[1] != 0x53) or \
            (n >= 3 and p[2] != 0x4D) or (n >= 4 and p[3] != 0x42):
        return MSG_NOT                                        # 0xFF 'SMB'
    if full < SMB1_HDR + 3:
        return MSG_NOT if full < 4 else MSG_BAD
    if n < SMB1_HDR:
        return MSG_PREFIX
    out.command = p[4]
    out.status = rd32(p + 5)
    out.flags = p[9]
    out.flags2 = rd16(p + 10)
    out.pid = (<uint32_t>rd16(p + 12) << 16) | rd16(p + 26)
    out.tid = rd16(p + 24)
    out.uid = rd16(p + 28)
    out.mid = rd16(p + 30)
    out.have |= SMB1_HAVE_HDR
    if n == SMB1_HDR:
        return MSG_PREFIX
    out.word_count = p[SMB1_HDR]
    words = SMB1_HDR + 1
    data = words + 2 * <uint32_t>out.word_count + 2
    if data > full:
        return MSG_BAD
    if data > n:
        return MSG_PREFIX
    out.byte_count = rd16(p + data - 2)
    if not span_in(data, out.byte_count, full):
        return MSG_BAD
    if smb1_is_andx(out.command) and out.word_count >= 2:
        out.andx_command = p[words]
    out.have |= SMB1_HAVE_WORDS
    if out.command == SMB1_NEGOTIATE:
        rc = _smb1_negotiate(out, p, n, full, words, data)
    elif out.command == SMB1_SESSION_SETUP_ANDX:
        if (out.flags & SMB1_FLAGS_REPLY) and out.word_count == 4:   # [MS-SMB] 2.2.4.6.2
            rc = _smb1_blob(out, p, n, full, data, rd16(p + words + 6))
        elif not (out.flags & SMB1_FLAGS_REPLY) and out.word_count == 12:   # 2.2.4.6.1
            rc = _smb1_blob(out, p, n, full, data, rd16(p + words + 14))
        if out.blob_len > out.byte_count:
            rc = MSG_BAD
    if rc == MSG_OK and n < full:
        return MSG_PREFIX
    return rc
