# The SMB2/3 message parser's output (smb2.pxd parses, smb2neg.pxd reads NEGOTIATE,
# SESSION_SETUP and the transform headers into it). One Smb2Msg is one SMB2 message:
# the 64-byte header ([MS-SMB2] 2.2.1) and the body of its command, or an encrypted
# (2.2.41) or compressed (2.2.42) transform header. Each group of fields has its
# SMB2_HAVE_* bit; fields of other commands stay zero.
#
# Offsets (blob_off, data_off, ...) count from the start of the message (its header),
# as SMB2's own offsets do; lengths are the real ones from the message (the bytes we
# have of them may be fewer). Times are FILETIME (100 ns since 1601-01-01 UTC).

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset
from msgio cimport MsgStr, str_clear
from spnego cimport GssAuth, gss_clear

cdef enum:
    SMB2_HDR = 64
    SMB2_MAX_DIALECTS = 16        # dialects kept (dialect_count is the real count)
    SMB2_MAX_CTX = 8              # negotiate contexts kept (ctx_count: real)
    SMB2_MAX_ALGS = 4             # algorithms kept per context list (counts: real)
    SMB2_MAX_CHAIN = 16           # chained compression payload headers walked
    SMB2_NBSS_MAX = 0xFFFFFF      # the longest message NBSS can carry

    SMB2_FLAGS_RESPONSE = 0x00000001
    SMB2_FLAGS_ASYNC = 0x00000002
    SMB2_FLAGS_RELATED = 0x00000004
    SMB2_FLAGS_SIGNED = 0x00000008
    SMB2_TREE_EXTENSION_PRESENT = 0x0004   # TREE_CONNECT request Flags (3.1.1)

    SMB2_HAVE_HDR = 1 << 0        # the header: every hdr field below
    SMB2_HAVE_BODY = 1 << 1       # structure_size
    SMB2_HAVE_ERROR = 1 << 2      # an error response body (error_ctx_count, error_len)
    SMB2_HAVE_DIALECTS = 1 << 3   # NEGOTIATE request: dialect_count, dialects
    SMB2_HAVE_NEGOTIATE = 1 << 4  # NEGOTIATE: security_mode, capabilities, guid; response:
    #                               dialect, max_transact/read/write, system_time
    SMB2_HAVE_CONTEXTS = 1 << 5   # 3.1.1 negotiate contexts walked to the last (ctx_*,
    #                               hashes, ciphers, comps, signs, netname)
    SMB2_HAVE_BLOB = 1 << 6       # blob_off, blob_len (security buffer)
    SMB2_HAVE_AUTH = 1 << 7       # auth: the blob parsed (auth.have says how far)
    SMB2_HAVE_SESSION = 1 << 8    # SESSION_SETUP: setup_flags, security_mode,
    #                               capabilities, previous_session_id; response: session_flags
    SMB2_HAVE_PATH = 1 << 9       # TREE_CONNECT request path
    SMB2_HAVE_SHARE = 1 << 10     # TREE_CONNECT response share_type, share_flags,
    #                               share_caps, maximal_access
    SMB2_HAVE_CREATE = 1 << 11    # CREATE request: oplock, impersonation, desired_access,
    #                               file_attributes, share_access, disposition, create_options
    SMB2_HAVE_NAME = 1 << 12      # CREATE request name
    SMB2_HAVE_FILE = 1 << 13      # CREATE / CLOSE response: create_action (CREATE), times,
    #                               allocation_size, end_of_file, file_attributes
    SMB2_HAVE_FILE_ID = 1 << 14   # file_id (CREATE response, CLOSE, READ, WRITE, IOCTL)
    SMB2_HAVE_RW = 1 << 15        # READ/WRITE: rw_length (requested / data / written),
    #                               rw_offset (requests), rw_remaining
    SMB2_HAVE_DATA = 1 << 16      # data_off, data_len: the payload a READ response, WRITE
    #                               request or IOCTL request (input) / response (output)
    #                               carries (a named pipe's: DCE-RPC)
    SMB2_HAVE_IOCTL = 1 << 17     # ctl_code, ioctl_flags
    SMB2_HAVE_TRANSFORM = 1 << 18  # encrypted: orig_size, comp_alg (the cipher), session_id
    SMB2_HAVE_COMPRESSION = 1 << 19  # compression transform: orig_size, comp_alg,
    #                                  comp_flags, comp_offset, malformed (its header bits)
    SMB2_HAVE_CHAIN = 1 << 20     # chained compression (comp_flags 1): the payload headers
    #                               walked to the end or to a flaw: chain_count, malformed
    #                               final (without this bit a prefix may lack chain bits)

    # what a compression transform header has wrong (malformed), as CVE-2020-0796
    # (SMBGhost) sends it: Windows allocated orig_size + offset, in 32 bits
    SMB2_COMP_OVERFLOW = 1 << 0   # orig_size + comp_offset wraps 32 bits
    SMB2_COMP_TOO_BIG = 1 << 1    # orig_size + comp_offset > SMB2_NBSS_MAX (no message is)
    SMB2_COMP_OFFSET = 1 << 2     # the uncompressed part (comp_offset) runs past the message
    SMB2_COMP_ALGORITHM = 1 << 3  # an algorithm [MS-SMB2] does not define, or NONE unchained
    SMB2_COMP_FLAGS = 1 << 4      # Flags neither NONE (0) nor CHAINED (1)
    SMB2_COMP_CHAIN = 1 << 5      # a chained payload header runs past the message


cdef struct Smb2Msg:
    uint32_t have                 # SMB2_HAVE_* bits
    uint8_t kind                  # nbss.pxd SMB_V2 / SMB_ENCRYPTED / SMB_COMPRESSED
    uint32_t length               # this message's bytes: next_command, else full
    # header
    uint16_t credit_charge
    uint32_t status               # NTSTATUS (win_names: nt_status)
    uint16_t command              # win_names: smb2_commands
    uint16_t credits              # requested / granted
    uint32_t flags                # SMB2_FLAGS_*
    uint32_t next_command         # offset of the next message of a compound, 0: none
    uint64_t message_id
    uint64_t async_id             # SMB2_FLAGS_ASYNC
    uint32_t tree_id              # synchronous messages
    uint64_t session_id
    uint16_t structure_size       # the body's StructureSize
    # error response
    uint8_t error_ctx_count
    uint32_t error_len            # ByteCount
    # NEGOTIATE
    uint16_t dialect_count
    uint16_t dialects[SMB2_MAX_DIALECTS]
    uint16_t dialect              # response: DialectRevision
    uint16_t security_mode
    uint32_t capabilities
    uint8_t guid[16]              # ClientGuid / ServerGuid, text order
    uint32_t max_transact
    uint32_t max_read
    uint32_t max_write
    uint64_t system_time
    uint16_t ctx_count
    uint16_t ctx_types[SMB2_MAX_CTX]
    uint16_t hash_count
    uint16_t hashes[SMB2_MAX_ALGS]
    uint16_t cipher_count
    uint16_t ciphers[SMB2_MAX_ALGS]
    uint16_t comp_count
    uint16_t comps[SMB2_MAX_ALGS]
    uint32_t comp_caps_flags      # COMPRESSION_CAPABILITIES Flags (1: chained)
    uint16_t sign_count
    uint16_t signs[SMB2_MAX_ALGS]
    MsgStr netname                # NETNAME_NEGOTIATE_CONTEXT_ID
    # SESSION_SETUP
    uint8_t setup_flags           # request Flags (1: binding)
    uint16_t session_flags        # response SessionFlags (1: guest, 2: null, 4: encrypt)
    uint64_t previous_session_id
    uint32_t blob_off             # the security buffer
    uint32_t blob_len
    GssAuth auth                  # the security buffer's token (NTLMSSP, Kerberos)
    # TREE_CONNECT
    MsgStr path                   # request: \\server\share
    uint8_t share_type            # response: win_names smb2_share_types
    uint32_t share_flags
    uint32_t share_caps
    uint32_t maximal_access
    # CREATE / CLOSE
    MsgStr name                   # CREATE request: file or pipe name ("svcctl")
    uint8_t oplock
    uint32_t impersonation
    uint32_t desired_access
    uint32_t file_attributes
    uint32_t share_access
    uint32_t disposition          # win_names smb2_dispositions
    uint32_t create_options
    uint32_t create_action        # win_names smb2_create_actions
    uint64_t creation_time
    uint64_t last_access_time
    uint64_t last_write_time
    uint64_t change_time
    uint64_t allocation_size
    uint64_t end_of_file
    uint8_t file_id[16]           # persistent (8) + volatile (8), as sent
    # READ / WRITE / IOCTL
    uint32_t rw_length
    uint64_t rw_offset
    uint32_t rw_remaining
    uint32_t data_off
    uint32_t data_len
    uint32_t ctl_code             # win_names fsctl
    uint32_t ioctl_flags          # 1: SMB2_0_IOCTL_IS_FSCTL
    # transform headers
    uint32_t orig_size            # OriginalMessageSize / OriginalCompressedSegmentSize
    uint16_t comp_alg             # compression algorithm / encryption cipher
    uint16_t comp_flags
    uint32_t comp_offset          # Offset (unchained) / Length (chained)
    uint16_t chain_count          # chained payload headers walked
    uint32_t malformed            # SMB2_COMP_* bits


cdef inline bint smb2_error_body(uint32_t status, uint16_t command) noexcept nogil:
    """A response of StructureSize 9 with this status has an ERROR body ([MS-SMB2] 2.2.2):
    any status but success, an interim STATUS_PENDING included, except the two with
    which the four commands whose own response is 9 bytes answer normally:
    STATUS_MORE_PROCESSING_REQUIRED (0xC0000016) of a SESSION_SETUP and
    STATUS_BUFFER_OVERFLOW (0x80000005, more output than room) of the others."""
    if status == 0:
        return False
    if status == 0xC0000016U and command == 0x01:
        return False
    return not (status == 0x80000005U and command in (0x0E, 0x0F, 0x10))


cdef inline void smb2_clear(Smb2Msg* m) noexcept nogil:
    """Every field zero (strings empty, auth cleared)."""
    memset(m, 0, sizeof(Smb2Msg))
    str_clear(&m.netname)
    str_clear(&m.path)
    str_clear(&m.name)
    gss_clear(&m.auth)
