# SSH (RFC 4253): the identification string each side sends first, and the KEXINIT
# packet that follows (its algorithm lists -> HASSH / HASSH-server, Salesforce's MD5
# fingerprints as Suricata and Zeek write them). Pure nogil functions, no allocation,
# every read inside p[0:n].
#
#   ssh_banner_parse(p, n, full, &b)  the first bytes of one direction: lines before the
#                                 identification string (a server may send some: RFC
#                                 4253 4.2) are skipped, at most SSH_PRE_LINES of them;
#                                 "SSH-protoversion-softwareversion SP comments CR LF".
#                                 0 read to its line end (b.line_end: where the binary
#                                 packets start), 1 prefix (the line goes on past n, or
#                                 no identification line yet while full > n: fields so
#                                 far, flagged; a stream's first bytes with more to come
#                                 are passed with full = 0xFFFFFFFF), -1 malformed
#                                 (SSH_MALFORMED: no "-" after the protocol version, a
#                                 line longer than SSH_LINE_MAX, a control byte in a
#                                 line before it), -2 (SSH_NOT) not SSH (binary first
#                                 bytes, or all `full` bytes read and no "SSH-" line)
#   ssh_packet_frame(p, n, &len)  a binary packet's length (4 + packet_length): 0, 1 (fewer
#                                 than 4 bytes), -1 (below 5 or above SSH_PACKET_MAX)
#   ssh_kex_parse(p, n, full, &k) one binary packet (from its packet_length field): the
#                                 message code; for KEXINIT (20) the 10 name-lists'
#                                 lengths, the HASSH strings and their MD5 when the four
#                                 lists each uses are whole. 0 whole, 1 prefix, -1
#                                 malformed (a list running past the payload)
#   ssh_probe(p, n)               1 "SSH-" starts the bytes, 0 not, -1 too few to say
#
# Suricata's EVE ssh from it: client / server .proto_version, .software_version (the
# banner of each direction); client.hassh {hash, string} = hassh / hassh_string of the
# client's KEXINIT, server.hassh = hassh_server / hassh_server_string of the server's.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset
from fstr cimport FStr, FS_PRESENT, FS_CUT, fstr_set, fstr_add, fs_append
from hashes cimport ws_md5_ctx, ws_md5_init, ws_md5_update, ws_md5_final, ws_md5_hex

cdef extern from *:
    """
    static const unsigned char ws_ssh_prefix[4] = {'S', 'S', 'H', '-'};
    """
    const uint8_t ws_ssh_prefix[4]

cdef enum:
    SSH_MALFORMED = -1
    SSH_NOT = -2
    SSH_LINE_MAX = 1024         # bytes of one line before it is malformed (RFC: 255)
    SSH_PRE_LINES = 32          # lines before the identification string, at most
    SSH_PACKET_MAX = 1 << 18    # packet_length above this is refused (RFC 4253 6.1: 35000)
    SSH_HASSH_CAP = 1024        # SshKex.hassh_string / hassh_server_string bytes (NUL too)
    SSH_LISTS = 10              # name-lists in a KEXINIT
    SSH_MSG_KEXINIT = 20
    # SshBanner.flags / SshKex.flags
    SSHF_CUT = 1                # the bytes ended inside the line / packet
    SSHF_NO_CR = 2              # the line ended with a bare LF
    SSHF_HASSH = 4              # hassh and hassh_server computed (the lists were whole)

cdef struct SshBanner:
    uint32_t line_end           # offset just past the identification line's LF
    uint32_t skipped            # bytes of the lines before it
    uint16_t pre_lines          # how many lines before it
    uint8_t flags
    FStr proto_version          # "2.0", "1.99"
    FStr software_version       # up to the first space
    FStr comments               # after the first space

cdef struct SshKex:
    uint32_t packet_len         # the packet_length field
    uint8_t padding_len
    uint8_t msg_code            # the payload's first byte (20: KEXINIT)
    uint8_t flags
    uint8_t n_lists             # name-lists read (whole, or the last one cut)
    uint8_t first_kex_follows
    uint32_t list_len[SSH_LISTS]   # their lengths: kex, host key, enc c2s, enc s2c, mac
                                # c2s, mac s2c, comp c2s, comp s2c, lang c2s, lang s2c
    char hassh[33]              # MD5 hex of hassh_string ("" unless SSHF_HASSH)
    char hassh_server[33]
    uint32_t hassh_len          # the strings' real lengths and bytes copied (capped at
    uint16_t hassh_n            # SSH_HASSH_CAP - 1), as FStr (fstr.pxd)
    uint8_t hassh_flags
    uint32_t hassh_server_len
    uint16_t hassh_server_n
    uint8_t hassh_server_flags
    char hassh_string[SSH_HASSH_CAP]           # kex;enc c2s;mac c2s;comp c2s
    char hassh_server_string[SSH_HASSH_CAP]    # kex;enc s2c;mac s2c;comp s2c


cdef inline uint32_t ssh_eol(const uint8_t* p, uint32_t at, uint32_t end) noexcept nogil:
    """The offset of the first LF in p[at:end], or end."""
    while at < end and p[at] != 10:
        at += 1
    return at


cdef inline int ssh_ident(const uint8_t* p, uint32_t at, uint32_t eol, uint32_t n,
                          SshBanner* b) noexcept nogil:
    """The identification line p[at:eol] ("SSH-" checked by the caller; eol == n when
    the bytes end before its LF): its three fields."""
    cdef uint32_t i = at + 4, j, stop = eol
    cdef bint cut = eol >= n
    if stop > at and p[stop - 1] == 13:      # a CR the bytes end on may start the CR LF
        stop -= 1
    elif not cut:
        b.flags |= SSHF_NO_CR
    j = i
    while j < stop and p[j] != 45:           # "-"
        j += 1
    if j == stop and not cut:
        return SSH_MALFORMED
    fstr_set(&b.proto_version, p + i, j - i, j - i)
    if j == stop:                            # cut inside the protocol version
        b.proto_version.flags |= FS_CUT
        return 1
    i = j + 1
    j = i
    while j < stop and p[j] != 32:           # " "
        j += 1
    fstr_set(&b.software_version, p + i, j - i, j - i)
    if j == stop and cut:
        b.software_version.flags |= FS_CUT
        return 1
    if j < stop:
        fstr_set(&b.comments, p + j + 1, stop - j - 1, stop - j - 1)
        if cut:
            b.comments.flags |= FS_CUT
    return 1 if cut else 0


cdef inline int ssh_banner_parse(const uint8_t* p, uint32_t n, uint32_t full,
                                 SshBanner* b) noexcept nogil:
    """The identification string of one direction (module comment)."""
    cdef uint32_t at = 0, eol, k
    cdef int rc
    memset(b, 0, sizeof(SshBanner))
    if n > full:
        n = full
    while b.pre_lines <= SSH_PRE_LINES:
        if at >= n:                          # no identification line (yet, when full > n)
            if n == full:
                return SSH_NOT
            b.flags |= SSHF_CUT
            return 1
        k = 0
        while k < 4 and at + k < n and p[at + k] == ws_ssh_prefix[k]:
            k += 1
        eol = ssh_eol(p, at, n if n - at < SSH_LINE_MAX else at + SSH_LINE_MAX)
        if eol - at >= SSH_LINE_MAX:
            return SSH_MALFORMED
        if k == 4:
            rc = ssh_ident(p, at, eol, n, b)
            if rc == 0:
                b.line_end = eol + 1
            elif rc == 1:
                b.flags |= SSHF_CUT
            return rc
        if at + k == n:                      # the bytes end inside a possible "SSH-"
            b.flags |= SSHF_CUT
            return 1
        if at == 0 and k == 0 and (p[0] < 9 or (13 < p[0] < 32)):
            return SSH_NOT
        for k in range(at, eol):             # a line before: text (UTF-8), not binary
            if p[k] < 9 or (13 < p[k] < 32) or p[k] == 127:
                return SSH_NOT if at == 0 else SSH_MALFORMED
        if eol >= n:
            if n == full:
                return SSH_NOT
            b.flags |= SSHF_CUT
            return 1
        b.pre_lines += 1
        b.skipped = eol + 1
        at = eol + 1
    return SSH_MALFORMED


cdef inline uint32_t ssh_be32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline int ssh_packet_frame(const uint8_t* p, uint32_t n,
                                 uint32_t* length) noexcept nogil:
    """The byte length of the binary packet at p, its length field included (module
    comment)."""
    cdef uint32_t v
    if n < 4:
        return 1
    v = ssh_be32(p)
    if v < 5 or v > SSH_PACKET_MAX:
        return -1
    length[0] = v + 4
    return 0


cdef inline void ssh_hassh_add(SshKex* k, bint server, const uint8_t* s, uint32_t have,
                               uint32_t real) noexcept nogil:
    """Append to the client's (server False) or the server's HASSH string."""
    if server:
        fs_append(k.hassh_server_string, SSH_HASSH_CAP, &k.hassh_server_n,
                  &k.hassh_server_len, &k.hassh_server_flags, s, have, real)
    else:
        fs_append(k.hassh_string, SSH_HASSH_CAP, &k.hassh_n, &k.hassh_len,
                  &k.hassh_flags, s, have, real)


cdef inline void ssh_hassh_list(SshKex* k, int i, const uint8_t* s, uint32_t have,
                                uint32_t real, ws_md5_ctx* client,
                                ws_md5_ctx* server) noexcept nogil:
    """Name-list i into the HASSH strings and hashes: kex (0) into both, the c2s
    encryption, MAC and compression lists (2, 4, 6) into the client's, the s2c ones
    (3, 5, 7) into the server's, each after a ";"."""
    cdef uint8_t semi = 59
    if i == 0 or i in (2, 4, 6):
        if i:
            ssh_hassh_add(k, False, &semi, 1, 1)
            ws_md5_update(client, &semi, 1)
        ssh_hassh_add(k, False, s, have, real)
        ws_md5_update(client, s, have)
    if i == 0 or i in (3, 5, 7):
        if i:
            ssh_hassh_add(k, True, &semi, 1, 1)
            ws_md5_update(server, &semi, 1)
        ssh_hassh_add(k, True, s, have, real)
        ws_md5_update(server, s, have)


cdef inline int ssh_kex_parse(const uint8_t* p, uint32_t n, uint32_t full,
                              SshKex* k) noexcept nogil:
    """One binary packet; a KEXINIT's name-lists and HASSH (module comment)."""
    cdef ws_md5_ctx client, server
    cdef uint8_t digest[16]
    cdef uint32_t at, end, length, have
    cdef int i, whole = 0
    memset(k, 0, sizeof(SshKex))
    if n > full:
        n = full
    if n < 6:
        k.flags |= SSHF_CUT
        return 1 if full >= 6 else SSH_MALFORMED
    k.packet_len = ssh_be32(p)
    k.padding_len = p[4]
    k.msg_code = p[5]
    if k.packet_len < 5 or k.packet_len > SSH_PACKET_MAX or k.padding_len + 2u > k.packet_len:
        return SSH_MALFORMED
    end = 4 + k.packet_len - k.padding_len  # the payload's end
    if k.msg_code == SSH_MSG_KEXINIT:
        ws_md5_init(&client)
        ws_md5_init(&server)
        at = 6 + 16                          # the cookie
        for i in range(SSH_LISTS):
            if at + 4 > end:
                return SSH_MALFORMED
            if at + 4 > n:
                break
            length = ssh_be32(p + at)
            at += 4
            if length > end - at:
                return SSH_MALFORMED
            k.list_len[i] = length
            k.n_lists = i + 1
            have = length if at + length <= n else n - at
            ssh_hassh_list(k, i, p + at, have, length, &client, &server)
            at += have
            if have < length:
                break
            whole += 1
        if k.n_lists == SSH_LISTS and at < n and at < end:
            k.first_kex_follows = p[at]
        if whole >= 8:                       # the eight lists HASSH uses
            ws_md5_final(&client, digest)
            ws_md5_hex(digest, k.hassh)
            ws_md5_final(&server, digest)
            ws_md5_hex(digest, k.hassh_server)
            k.flags |= SSHF_HASSH
    if 4 + <uint64_t>k.packet_len > n:
        k.flags |= SSHF_CUT
        return 1
    return 0


cdef inline int ssh_probe(const uint8_t* p, uint32_t n) noexcept nogil:
    """1 the bytes start with "SSH-", 0 they do not, -1 fewer than 4 that could."""
    cdef uint32_t k = 0
    while k < 4 and k < n and p[k] == ws_ssh_prefix[k]:
        k += 1
    if k == 4:
        return 1
    return -1 if k == n else 0
