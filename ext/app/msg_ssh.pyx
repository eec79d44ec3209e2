# cython: freethreading_compatible = False
"""SSH parsers (ext/app/ssh.pxd) for Python: tests, the fuzz target, the EVE formatter's
tests. parse_banner(bytes, full=None) -> dict, parse_kex(bytes, full=None) -> dict."""
from libc.stdint cimport uint8_t, uint16_t, uint32_t
from fstr cimport FS_CAPPED, FS_CUT
from ssh cimport *
from msgapi cimport msg_bytes, msg_full, fstr_put

#: the name-lists of a KEXINIT, in order (RFC 4253 7.1)
LISTS = ("kex_algorithms", "server_host_key_algorithms",
         "encryption_algorithms_client_to_server", "encryption_algorithms_server_to_client",
         "mac_algorithms_client_to_server", "mac_algorithms_server_to_client",
         "compression_algorithms_client_to_server",
         "compression_algorithms_server_to_client",
         "languages_client_to_server", "languages_server_to_client")
HASSH_CAP = SSH_HASSH_CAP


def parse_banner(data, full=None):
    """The first bytes of one direction -> dict: status (0 line complete, 1 prefix, -1
    malformed, -2 not SSH), proto_version, software_version, comments (as present),
    line_end, skipped / pre_lines (lines before the identification string), no_cr,
    prefix; cut / capped as parse_krb5."""
    cdef const uint8_t[::1] buf = data
    cdef uint32_t whole = msg_full(buf, full)
    cdef const uint8_t* p = msg_bytes(buf)
    cdef SshBanner b
    cdef int rc
    with nogil:
        rc = ssh_banner_parse(p, <uint32_t>buf.shape[0], whole, &b)
    out = {"status": rc}
    if rc < 0:
        return out
    fstr_put(out, "proto_version", &b.proto_version)
    fstr_put(out, "software_version", &b.software_version)
    fstr_put(out, "comments", &b.comments)
    out.update(line_end=b.line_end, skipped=b.skipped, pre_lines=b.pre_lines,
               no_cr=bool(b.flags & SSHF_NO_CR), prefix=bool(b.flags & SSHF_CUT))
    return out


cdef void _hassh(dict out, str key, const char* s, uint16_t n, uint32_t length,
                 uint8_t flags):
    out[key] = s[:n].decode("ascii", "replace")
    if flags & (FS_CAPPED | FS_CUT):
        out[key + "_len"] = length
        if flags & FS_CAPPED:
            out.setdefault("capped", []).append(key)
        if flags & FS_CUT:
            out.setdefault("cut", []).append(key)


def parse_kex(data, full=None):
    """One binary packet from its packet_length field -> dict: status (0 whole, 1 prefix,
    -1 malformed), packet_len, padding_len, msg_code; for a KEXINIT: list_len (the lists
    read, LISTS order), hassh_string / hassh_server_string, hassh / hassh_server (when
    the lists were whole), first_kex_follows; prefix; cut / capped."""
    cdef const uint8_t[::1] buf = data
    cdef uint32_t whole = msg_full(buf, full)
    cdef const uint8_t* p = msg_bytes(buf)
    cdef SshKex k
    cdef int rc
    with nogil:
        rc = ssh_kex_parse(p, <uint32_t>buf.shape[0], whole, &k)
    out = {"status": rc}
    if rc < 0 or (rc == 1 and buf.shape[0] < 6):
        return out
    out.update(packet_len=k.packet_len, padding_len=k.padding_len, msg_code=k.msg_code)
    if k.msg_code == SSH_MSG_KEXINIT:
        out["list_len"] = [k.list_len[i] for i in range(k.n_lists)]
        if k.n_lists:
            # lists the cut left unread make the strings a prefix too
            unread = FS_CUT if k.n_lists < SSH_LISTS else 0
            _hassh(out, "hassh_string", k.hassh_string, k.hassh_n, k.hassh_len,
                   k.hassh_flags | unread)
            _hassh(out, "hassh_server_string", k.hassh_server_string, k.hassh_server_n,
                   k.hassh_server_len, k.hassh_server_flags | unread)
        if k.flags & SSHF_HASSH:
            out.update(hassh=k.hassh.decode(), hassh_server=k.hassh_server.decode())
        if k.n_lists == SSH_LISTS:
            out["first_kex_follows"] = k.first_kex_follows
    out["prefix"] = bool(k.flags & SSHF_CUT)
    return out


def packet_frame(data):
    """(status, length) of the binary packet at data[0:] (ssh_packet_frame)."""
    cdef const uint8_t[::1] buf = data
    cdef uint32_t length = 0
    cdef int rc = ssh_packet_frame(msg_bytes(buf), <uint32_t>buf.shape[0], &length)
    return rc, length


def probe(data):
    """1 "SSH-" starts the bytes, 0 not, -1 too few to say (ssh_probe)."""
    cdef const uint8_t[::1] buf = data
    return ssh_probe(msg_bytes(buf), <uint32_t>buf.shape[0])
