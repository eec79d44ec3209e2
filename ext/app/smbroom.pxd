# SMB over TCP (445 direct, 139 behind a NetBIOS session request) as a room of the
# application layer: the stream is cut into NBSS units (nbss.pxd, 4 + length bytes) and
# each SMB2/3 message read by smb2.pxd (a compound: each message of it), SMB1 by
# smb1.pxd (NEGOTIATE's dialects; other SMB1 commands by their header only).
#
# Per connection (the TCP state, SmbState, in the stream slot):
#   pending  SMB_PENDING requests awaiting their response, by message id: command,
#            tree, the request's name (TREE_CONNECT path, CREATE name), disposition,
#            the NEGOTIATE's dialects; a full table takes the oldest (counted: over)
#   trees    SMB_TREES tree ids from TREE_CONNECT responses with their path (kept to
#            SMB_TREE_NAME bytes) and whether it is IPC$
#   files    SMB_FILES file ids a CREATE on IPC$ opened (named pipes), each with its
#            DCE-RPC state (pipes: SMB_PIPES at once): a WRITE request, a READ
#            response or an IOCTL FSCTL_PIPE_TRANSCEIVE on it carries DCE-RPC PDUs, read
#            by the DCE-RPC room's dce_pdu (dcerpc_room.pxd) as over TCP and written as
#            `dcerpc` events; a PDU longer than its write is read from its prefix (cut)
#            and the rest of it skipped in the writes that follow
#   auth     the NTLMSSP AUTHENTICATE of the last SESSION_SETUP request (user, domain,
#            host), written with that request's response
#   dialect  the NEGOTIATE response's dialect
#   comp     what the NEGOTIATE response agreed on compression: not seen, none, or the
#            algorithms ([MS-SMB2] 3.3.5.4: the server answers the client's
#            SMB2_COMPRESSION_CAPABILITIES with the common algorithms, NONE alone when
#            there are none; no context at all when it does not compress)
# Tables full: counted (SmbSummary.over), the entry not kept.
#
# Events (SmbEvent, EVE `smb`): one per response (SMB2: its request's fields joined by
# message id, as Suricata writes a transaction), and one per SMB1 NEGOTIATE request
# (client_dialects). A request never answered writes none.
#
# Bodies: a unit longer than the hold (a large READ response or WRITE request) is read
# from its first SMB_EARLY bytes or more (cut) and its rest skipped unread (the stream's
# skip). A gap inside a unit whose NBSS header was held: the held prefix is read as cut
# and the rest of the unit skipped; a gap past a unit's end (or at a boundary) leaves
# no length to go by: the next bytes must start an NBSS header with an SMB magic, else
# the direction ends. An encrypted (0xFD) or compressed (0xFC) message is counted and
# the rest of the direction skipped. A compressed one's transform header is read first
# (smb_compressed): what it has wrong by [MS-SMB2] 2.2.42, or against the connection's
# NEGOTIATE, is counted (wirescore.smb_compressed_*) and written as an event with
# SB_COMPRESSED (comp_* fields; the EVE writer leaves it out: Suricata writes no smb
# transaction for it), which the smb.comp observation reads (appkeys.py).
#
# Inline, used without the GIL; registered in protocols.pxd.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy, memcmp, memset
from counters cimport (A_TRUNCATED, A_SMB_COMPRESSED, A_SMB_COMP_UNNEGOTIATED,
                      A_SMB_COMP_ALG_UNNEGOTIATED, A_SMB_COMP_OVERFLOW, A_SMB_COMP_TOO_BIG,
                      A_SMB_COMP_OFFSET, A_SMB_COMP_ALGORITHM, A_SMB_COMP_FLAGS,
                      A_SMB_COMP_CHAIN)
from enums cimport EV_SMB
from features cimport FlowRecord
from app.base cimport AppCtx, APP_ERROR, K_TX, K_PARSER, ctx_count, gap_rest
from app.events cimport ev_begin, ev_commit, ev_head, ev_tx_commit
from msgio cimport MSG_OK, MSG_PREFIX, MsgStr
from nbss cimport (NbssHdr, nbss_header, smb_magic, NBSS_HDR, SMB_NONE, SMB_V1, SMB_V2,
                   SMB_ENCRYPTED, SMB_COMPRESSED)
from smb2msg cimport (Smb2Msg, SMB2_HDR, SMB2_FLAGS_RESPONSE, SMB2_HAVE_HDR,
                      SMB2_HAVE_DIALECTS, SMB2_HAVE_NEGOTIATE, SMB2_HAVE_AUTH,
                      SMB2_HAVE_PATH, SMB2_HAVE_SHARE, SMB2_HAVE_CREATE, SMB2_HAVE_NAME,
                      SMB2_HAVE_FILE_ID, SMB2_HAVE_DATA, SMB2_HAVE_IOCTL,
                      SMB2_HAVE_CONTEXTS, SMB2_HAVE_COMPRESSION, SMB2_MAX_ALGS,
                      SMB2_COMP_OVERFLOW, SMB2_COMP_TOO_BIG, SMB2_COMP_OFFSET,
                      SMB2_COMP_ALGORITHM, SMB2_COMP_FLAGS, SMB2_COMP_CHAIN)
from smb2 cimport smb2_parse
from smb1 cimport (Smb1Msg, smb1_parse, SMB1_HAVE_HDR, SMB1_HAVE_DIALECTS, SMB1_FLAGS_REPLY,
                  SMB1_MAX_DIALECTS)
from spnego cimport GSS_NTLMSSP
from ntlmssp cimport NTLM_HAVE_USER, NTLM_HAVE_DOMAIN, NTLM_HAVE_HOST
from dcerpc cimport dcerpc_frag_len, DCE_HDR
from app.dcerpc_room cimport DceState, DceSummary, dce_pdu
from win_names cimport (SMB2_NEGOTIATE, SMB2_SESSION_SETUP, SMB2_TREE_CONNECT,
                        SMB2_TREE_DISCONNECT, SMB2_CREATE, SMB2_CLOSE, SMB2_READ,
                        SMB2_WRITE, SMB2_IOCTL, SMB1_NEGOTIATE, NBSS_MESSAGE,
                        FSCTL_PIPE_TRANSCEIVE, SMB2_COMP_NONE, SMB2_COMP_LZ4)

cdef extern from "names.h":
    enum:                          # SmbEvent.flags (core_names.py SMB_EVENT_BITS)
        SB_RESPONSE "WS_SB_RESPONSE"
        SB_REQUEST "WS_SB_REQUEST"
        SB_SHARE "WS_SB_SHARE"
        SB_FILENAME "WS_SB_FILENAME"
        SB_PIPE "WS_SB_PIPE"
        SB_NTLM "WS_SB_NTLM"
        SB_DISPOSITION "WS_SB_DISPOSITION"
        SB_DIALECT "WS_SB_DIALECT"
        SB_CUT "WS_SB_CUT"
        SB_TRUNC "WS_SB_TRUNC"
        SB_SMB1 "WS_SB_SMB1"
        SB_DIALECTS "WS_SB_DIALECTS"
        SB_SHARE_TYPE "WS_SB_SHARE_TYPE"
        SB_COMPRESSED "WS_SB_COMPRESSED"
    enum:                          # SmbEvent.comp_bad (core_names.py SMB_COMP_VIOLATIONS)
        SC_OVERFLOW "WS_SC_OVERFLOW"
        SC_TOO_BIG "WS_SC_TOO_BIG"
        SC_OFFSET "WS_SC_OFFSET"
        SC_ALGORITHM "WS_SC_ALGORITHM"
        SC_FLAGS "WS_SC_FLAGS"
        SC_CHAIN "WS_SC_CHAIN"
        SC_UNNEGOTIATED "WS_SC_UNNEGOTIATED"
        SC_ALG_UNNEGOTIATED "WS_SC_ALG_UNNEGOTIATED"

cdef enum:
    SMB_PORT = 445
    SMB_NB_PORT = 139
    SMB_PENDING = 4                # requests awaiting their response
    SMB_TREES = 8                  # tree ids kept
    SMB_FILES = 8                  # pipe file ids kept
    SMB_PIPES = 3                  # pipes with a DCE-RPC state at once
    SMB_NAME = 160                 # event bytes of a name (filename, share path, SMB1
                                   # client dialects NUL-separated)
    SMB_PEND_NAME = 80             # bytes of a request's name kept until its response
    SMB_TREE_NAME = 48             # bytes of a tree's path kept
    SMB_NTLM_KEEP = 48             # bytes of each NTLMSSP name
    SMB_DIALECTS = 8               # SMB2 client dialects kept
    SMB_EARLY = 512                # a unit longer than the hold is read from this many
                                   # bytes on (or the hold's worth, when fewer arrived)
    SMB_NO_PIPE = 0xFF
    SMB_SKIP_ALL = 0xFFFFFFFF      # the rest of a direction (after an encrypted message)
    SMB_COMP_UNSEEN = 0            # SmbState.comp: no NEGOTIATE response read
    SMB_COMP_NONE = 1              # read; it agreed on no compression algorithm
    SMB_COMP_AGREED = 2            # read; comp_algs has the algorithms agreed


cdef struct SmbSummary:            # the flow's, in its app record (40 bytes at most)
    uint32_t tx                    # events written: the next event's id
    uint32_t commands              # SMB2 messages and SMB1 messages read
    uint16_t dialect               # the NEGOTIATE response's (SMB2 revision, 0x0311...)
    uint16_t trees                 # TREE_CONNECT requests
    uint16_t admin_trees           # of them to an administrative share (ADMIN$, C$...)
    uint16_t creates               # CREATE requests
    uint16_t pipes                 # named pipes opened (CREATE answered on IPC$)
    uint16_t auths                 # SESSION_SETUP requests carrying an NTLMSSP AUTHENTICATE
    uint16_t errors                # responses with an error status (not PENDING,
                                   # MORE_PROCESSING_REQUIRED, BUFFER_OVERFLOW)
    uint16_t encrypted             # encrypted or compressed messages (the rest unread)
    uint16_t rpc                   # DCE-RPC requests over named pipes
    uint16_t cut                   # messages read cut (snap length, gap, longer than hold)
    uint16_t over                  # requests, trees or pipes the tables had no room for
    uint8_t smb1                   # an SMB1 message was seen

cdef struct SmbPending:            # a request awaiting its response
    uint64_t message_id
    uint32_t tree_id
    uint16_t command
    uint16_t flags                 # SB_* of the request's fields
    uint8_t used
    uint8_t pipe                   # READ / IOCTL on a pipe: its files[] row + 1
    uint8_t disposition
    uint8_t n_dialects
    uint8_t name_len
    uint8_t age                    # order taken (the oldest goes when full)
    uint16_t dialects[SMB_DIALECTS]
    uint8_t name[SMB_PEND_NAME]

cdef struct SmbTree:
    uint32_t tree_id
    uint8_t used
    uint8_t ipc                    # the path ends in \IPC$
    uint8_t name_len
    uint8_t name[SMB_TREE_NAME]

cdef struct SmbFile:               # a named pipe opened on IPC$
    uint8_t file_id[16]
    uint8_t used
    uint8_t pipe                   # its pipes[] row, or SMB_NO_PIPE

cdef struct SmbPipe:               # DCE-RPC over one named pipe
    DceState dce
    uint32_t skip[2]               # per direction: bytes of a PDU still to come in later
                                   # writes / reads (its prefix was read cut)
    uint8_t used

cdef struct SmbAuth:
    uint64_t message_id
    uint8_t used
    uint8_t user_len
    uint8_t domain_len
    uint8_t host_len
    uint8_t user[SMB_NTLM_KEEP]
    uint8_t domain[SMB_NTLM_KEEP]
    uint8_t host[SMB_NTLM_KEEP]

cdef struct SmbState:              # the connection's, in its stream slot
    SmbPending pend[SMB_PENDING]
    SmbTree trees[SMB_TREES]
    SmbFile files[SMB_FILES]
    SmbPipe pipes[SMB_PIPES]
    SmbAuth auth
    DceSummary dce                 # the pipes' DCE-RPC summary (its tx: dcerpc event ids)
    uint16_t dialect
    uint8_t age
    uint8_t resync[2]              # per direction: the next bytes must start a unit
    uint8_t comp                   # SMB_COMP_*: what the NEGOTIATE agreed on compression
    uint8_t comp_algs              # SMB_COMP_AGREED: bit k set for algorithm id k agreed

cdef struct SmbEvent:              # SMB_EVENT_DTYPE (appcore.pyx)
    uint64_t flow_id
    int64_t ts_us                  # the packet that completed the response (request)
    uint8_t src_addr[16]           # the message's sender
    uint8_t dest_addr[16]
    uint16_t src_port
    uint16_t dest_port
    uint16_t vlan0
    uint16_t vlan1
    uint8_t nvlan
    uint8_t ip_version
    uint8_t proto                  # 6 TCP
    uint8_t direction              # 0 toserver, 1 toclient (the flow's)
    uint64_t session_id
    uint32_t tx_id                 # the flow's smb events before this one (EVE id)
    uint32_t status                # SB_RESPONSE: NTSTATUS
    uint32_t tree_id
    uint16_t command               # SMB2 command (SB_SMB1: SMB1's)
    uint16_t dialect               # SB_DIALECT: SMB2 revision
    uint16_t flags                 # SB_*
    uint8_t disposition            # SB_DISPOSITION: CreateDisposition
    uint8_t share_type             # SB_SHARE_TYPE: TREE_CONNECT response ShareType
    uint8_t n_dialects             # SB_DIALECTS: SMB2 dialects kept (SMB1: strings in name)
    uint8_t name_len               # bytes in name
    uint8_t share_len
    uint8_t user_len
    uint8_t domain_len
    uint8_t host_len
    uint16_t dialects[SMB_DIALECTS]
    uint8_t name[SMB_NAME]         # CREATE: the file or pipe name; SMB1 NEGOTIATE: the
                                   # client's dialect strings, each ended by a NUL
    uint8_t share[SMB_NAME]        # SB_SHARE: the tree's path
    uint8_t user[SMB_NTLM_KEEP]    # SB_NTLM
    uint8_t domain[SMB_NTLM_KEEP]
    uint8_t host[SMB_NTLM_KEEP]
    uint32_t comp_size             # SB_COMPRESSED: OriginalCompressedSegmentSize
    uint32_t comp_offset           # SB_COMPRESSED: Offset (chained: the first Length)
    uint16_t comp_alg              # SB_COMPRESSED: CompressionAlgorithm
    uint16_t comp_flags            # SB_COMPRESSED: Flags
    uint16_t comp_bad              # SB_COMPRESSED: SC_* bits (at least one)


cdef inline int smb_probe(const uint8_t* p, uint32_t n, uint8_t udp, uint16_t sport,
                          uint16_t dport) noexcept nogil:
    """Whether p[0:n], a direction's first payload, is SMB over TCP: an NBSS session
    message whose payload starts with an SMB magic (SMB1, SMB2, encrypted, compressed),
    or port 139's first unit: a session request (RFC 1002 4.3.2: two encoded names, the
    first 32 bytes long) or its positive / negative response (0 / 1 byte): 1 yes, 0 no,
    -1 more bytes needed."""
    cdef NbssHdr h
    cdef int rc
    if udp:
        return 0
    rc = nbss_header(p, n, &h)
    if rc < 0:
        return 0
    if rc == MSG_PREFIX:
        return -1
    if h.type == 0x82:
        return 1 if h.length == 0 else 0
    if h.type == 0x83:
        return 1 if h.length == 1 else 0
    if h.type == 0x81:
        if h.length < 68:
            return 0
        if n < NBSS_HDR + 1:
            return -1
        return 1 if p[NBSS_HDR] == 0x20 else 0
    if h.type != NBSS_MESSAGE:
        return 0
    if n < NBSS_HDR + 4:
        return -1
    if h.length < 32 or h.smb == SMB_NONE:
        return 0
    return 1


cdef inline void smb_head(SmbEvent* e, const AppCtx* c) noexcept nogil:
    """The event's identity (the flow, the time, the packet's endpoints) and its cut
    flag."""
    ev_head(<uint8_t*>e, c)
    if c.cut:
        e.flags |= SB_CUT


cdef inline uint8_t smb_copy(uint8_t* out, uint32_t cap, const uint8_t* s, uint32_t n,
                             uint16_t* flags) noexcept nogil:
    """n bytes of s into out (cap bytes at most, no NUL): the bytes copied; SB_TRUNC
    when cut."""
    if n > cap:
        n = cap
        flags[0] |= SB_TRUNC
    memcpy(out, s, n)
    return <uint8_t>n


cdef inline uint8_t smb_str(uint8_t* out, uint32_t cap, const MsgStr* m,
                            uint16_t* flags) noexcept nogil:
    """A parsed string into out; SB_TRUNC when it was longer than its field, or cut."""
    if m.flags:
        flags[0] |= SB_TRUNC
    return smb_copy(out, cap, <const uint8_t*>m.s, m.len, flags)


cdef inline bint smb_share_is(const uint8_t* s, uint32_t n, const char* tail,
                              uint32_t k) noexcept nogil:
    """The path s[0:n] ends in "\\" + tail (k bytes, upper case ASCII), case-insensitive."""
    cdef uint32_t i
    cdef uint8_t ch
    if n < k + 1 or s[n - k - 1] != 92:
        return False
    for i in range(k):
        ch = s[n - k + i]
        if 97 <= ch <= 122:
            ch -= 32
        if ch != <uint8_t>tail[i]:
            return False
    return True


cdef inline bint smb_admin_share(const uint8_t* s, uint32_t n) noexcept nogil:
    """An administrative share: the path's last component ends in '$' and is not IPC$
    (ADMIN$, C$, D$, PRINT$ ...)."""
    return n >= 2 and s[n - 1] == 36 and not smb_share_is(s, n, "IPC$", 4)


cdef inline SmbPending* smb_pend_take(SmbState* st, SmbSummary* s,
                                      uint64_t message_id) noexcept nogil:
    """A pending row for a request (a free one, else the oldest: counted)."""
    cdef int k, best = 0
    cdef uint8_t oldest = 0
    for k in range(SMB_PENDING):
        if not st.pend[k].used:
            best = k
            break
        if k == 0 or <uint8_t>(st.age - st.pend[k].age) > oldest:
            oldest = <uint8_t>(st.age - st.pend[k].age)
            best = k
    else:
        if s.over < 65535:
            s.over += 1
    memset(&st.pend[best], 0, sizeof(SmbPending))
    st.pend[best].used = 1
    st.pend[best].message_id = message_id
    st.pend[best].age = st.age
    st.age += 1
    return &st.pend[best]


cdef inline SmbPending* smb_pend_find(SmbState* st, uint64_t message_id,
                                      uint16_t command) noexcept nogil:
    cdef int k
    for k in range(SMB_PENDING):
        if (st.pend[k].used and st.pend[k].message_id == message_id
                and st.pend[k].command == command):
            return &st.pend[k]
    return NULL


cdef inline SmbTree* smb_tree(SmbState* st, uint32_t tree_id) noexcept nogil:
    cdef int k
    for k in range(SMB_TREES):
        if st.trees[k].used and st.trees[k].tree_id == tree_id:
            return &st.trees[k]
    return NULL


cdef inline int smb_file(const SmbState* st, const uint8_t* file_id) noexcept nogil:
    """The files[] row of a pipe's file id, or -1."""
    cdef int k
    for k in range(SMB_FILES):
        if st.files[k].used and memcmp(st.files[k].file_id, file_id, 16) == 0:
            return k
    return -1


cdef inline void smb_pipe_open(SmbState* st, SmbSummary* s, const uint8_t* file_id) noexcept nogil:
    """A named pipe opened: a files[] row, and a DCE-RPC state when one is free."""
    cdef int k, j
    for k in range(SMB_FILES):
        if not st.files[k].used:
            break
    else:
        if s.over < 65535:
            s.over += 1
        return
    memcpy(st.files[k].file_id, file_id, 16)
    st.files[k].used = 1
    st.files[k].pipe = SMB_NO_PIPE
    for j in range(SMB_PIPES):
        if not st.pipes[j].used:
            memset(&st.pipes[j], 0, sizeof(SmbPipe))
            st.pipes[j].used = 1
            st.files[k].pipe = <uint8_t>j
            return
    if s.over < 65535:
        s.over += 1


cdef inline void smb_file_close(SmbState* st, const uint8_t* file_id) noexcept nogil:
    cdef int k = smb_file(st, file_id)
    if k < 0:
        return
    if st.files[k].pipe != SMB_NO_PIPE:
        st.pipes[st.files[k].pipe].used = 0
    st.files[k].used = 0


cdef inline void smb_rpc(AppCtx* c, SmbState* st, SmbSummary* s, int row,
                         const uint8_t* p, uint32_t have, uint32_t length) noexcept nogil:
    """DCE-RPC bytes of a pipe (files[] row): length bytes of which p[0:have] were
    captured; each PDU in them to dce_pdu (the DCE-RPC room), with the pipes' summary."""
    cdef SmbPipe* pp
    cdef uint32_t used = 0, k
    cdef int fl
    cdef void* saved = c.summary
    cdef uint8_t saved_cut = c.cut
    if row < 0 or st.files[row].pipe == SMB_NO_PIPE:
        return
    pp = &st.pipes[st.files[row].pipe]
    if have > length:
        have = length
    k = pp.skip[c.dir]
    if k:
        k = k if k < length else length
        pp.skip[c.dir] -= k
        used = k
    c.summary = &st.dce
    while used < have:
        fl = dcerpc_frag_len(p + used, have - used)
        if fl < DCE_HDR:
            break                          # not a PDU header (or fewer than 10 bytes)
        if <uint32_t>fl <= have - used:
            c.cut = saved_cut
            dce_pdu(c, &pp.dce, p + used, <uint32_t>fl, <uint32_t>fl)
            used += <uint32_t>fl
            continue
        c.cut = 1                          # the PDU runs past the bytes we have
        dce_pdu(c, &pp.dce, p + used, have - used, <uint32_t>fl)
        if <uint32_t>fl > length - used:
            pp.skip[c.dir] = <uint32_t>fl - (length - used)
        break
    c.summary = saved
    c.cut = saved_cut
    s.rpc = <uint16_t>(st.dce.requests if st.dce.requests < 65535 else 65535)


cdef inline void smb2_request(AppCtx* c, SmbState* st, SmbSummary* s, const Smb2Msg* m,
                              const uint8_t* p, uint32_t n) noexcept nogil:
    """An SMB2 request: what its response's event needs, kept by message id; the
    tables; a pipe's DCE-RPC (WRITE, IOCTL)."""
    cdef SmbPending* q
    cdef int k, row
    cdef uint32_t have
    cdef uint16_t cmd = m.command
    cdef const MsgStr* ntlm
    if cmd == SMB2_WRITE or (cmd == SMB2_IOCTL and m.ctl_code == FSCTL_PIPE_TRANSCEIVE):
        if m.have & SMB2_HAVE_FILE_ID and m.have & SMB2_HAVE_DATA and m.data_len:
            row = smb_file(st, m.file_id)
            if row >= 0:
                have = n - m.data_off if n > m.data_off else 0
                smb_rpc(c, st, s, row, p + m.data_off, have, m.data_len)
    q = smb_pend_take(st, s, m.message_id)
    q.command = cmd
    q.tree_id = m.tree_id
    q.flags = SB_REQUEST | (SB_CUT if c.cut else 0)
    if cmd == SMB2_NEGOTIATE and m.have & SMB2_HAVE_DIALECTS:
        q.n_dialects = <uint8_t>(m.dialect_count if m.dialect_count < SMB_DIALECTS
                                 else SMB_DIALECTS)
        for k in range(q.n_dialects):
            q.dialects[k] = m.dialects[k]
        q.flags |= SB_DIALECTS
    elif cmd == SMB2_SESSION_SETUP and m.have & SMB2_HAVE_AUTH:
        if m.auth.kind == GSS_NTLMSSP and m.auth.ntlm.type == 3:
            if s.auths < 65535:
                s.auths += 1
            st.auth.used = 1
            st.auth.message_id = m.message_id
            st.auth.user_len = smb_str(st.auth.user, SMB_NTLM_KEEP, &m.auth.ntlm.user, &q.flags)
            st.auth.domain_len = smb_str(st.auth.domain, SMB_NTLM_KEEP, &m.auth.ntlm.domain,
                                         &q.flags)
            st.auth.host_len = smb_str(st.auth.host, SMB_NTLM_KEEP, &m.auth.ntlm.host, &q.flags)
    elif cmd == SMB2_TREE_CONNECT and m.have & SMB2_HAVE_PATH:
        q.name_len = smb_str(q.name, SMB_PEND_NAME, &m.path, &q.flags)
        q.flags |= SB_SHARE
        if s.trees < 65535:
            s.trees += 1
        if smb_admin_share(<const uint8_t*>m.path.s, m.path.len) and s.admin_trees < 65535:
            s.admin_trees += 1
    elif cmd == SMB2_CREATE and m.have & SMB2_HAVE_NAME:
        q.name_len = smb_str(q.name, SMB_PEND_NAME, &m.name, &q.flags)
        q.flags |= SB_FILENAME
        if m.have & SMB2_HAVE_CREATE:
            q.disposition = <uint8_t>m.disposition
            q.flags |= SB_DISPOSITION
        if s.creates < 65535:
            s.creates += 1
    elif cmd == SMB2_CLOSE and m.have & SMB2_HAVE_FILE_ID:
        smb_file_close(st, m.file_id)
    elif cmd == SMB2_READ and m.have & SMB2_HAVE_FILE_ID:
        row = smb_file(st, m.file_id)
        if row >= 0:
            q.pipe = <uint8_t>(row + 1)
    elif cmd == SMB2_TREE_DISCONNECT:
        for k in range(SMB_TREES):
            if st.trees[k].used and st.trees[k].tree_id == m.tree_id:
                st.trees[k].used = 0


cdef inline void smb2_response(AppCtx* c, SmbState* st, SmbSummary* s, const Smb2Msg* m,
                               const uint8_t* p, uint32_t n) noexcept nogil:
    """An SMB2 response: its event (its request's fields joined); the tables; a
    pipe's DCE-RPC (READ, IOCTL). An interim STATUS_PENDING waits for the final one."""
    cdef SmbPending* q
    cdef SmbEvent* e
    cdef SmbTree* t
    cdef int k, row = -1
    cdef uint32_t have
    cdef uint16_t cmd = m.command
    if m.status == 0x00000103U and m.flags & 2:
        return                             # STATUS_PENDING (async interim): not the answer
    q = smb_pend_find(st, m.message_id, cmd)
    if m.status and m.status != 0xC0000016U and m.status != 0x80000005U and s.errors < 65535:
        s.errors += 1
    if cmd == SMB2_READ and q != NULL and q.pipe:
        row = q.pipe - 1
    elif cmd == SMB2_IOCTL and m.ctl_code == FSCTL_PIPE_TRANSCEIVE and m.have & SMB2_HAVE_FILE_ID:
        row = smb_file(st, m.file_id)
    if row >= 0 and m.have & SMB2_HAVE_DATA and m.data_len:
        have = n - m.data_off if n > m.data_off else 0
        smb_rpc(c, st, s, row, p + m.data_off, have, m.data_len)
    e = <SmbEvent*>ev_begin(c, EV_SMB)
    smb_head(e, c)
    e.flags |= SB_RESPONSE
    e.command = cmd
    e.status = m.status
    e.session_id = m.session_id
    e.tree_id = m.tree_id
    if q != NULL:
        e.flags |= q.flags
        if q.flags & SB_DIALECTS:
            e.n_dialects = q.n_dialects
            memcpy(e.dialects, q.dialects, sizeof(e.dialects))
        if q.flags & SB_DISPOSITION:
            e.disposition = q.disposition
        if cmd == SMB2_TREE_CONNECT and q.flags & SB_SHARE:
            e.share_len = smb_copy(e.share, SMB_NAME, q.name, q.name_len, &e.flags)
        elif q.flags & SB_FILENAME:
            e.name_len = smb_copy(e.name, SMB_NAME, q.name, q.name_len, &e.flags)
        if cmd == SMB2_CREATE:
            t = smb_tree(st, q.tree_id)
            e.tree_id = q.tree_id
            if t != NULL:
                e.share_len = smb_copy(e.share, SMB_NAME, t.name, t.name_len, &e.flags)
                e.flags |= SB_SHARE
                if t.ipc:
                    e.flags |= SB_PIPE
        q.used = 0
    if cmd == SMB2_NEGOTIATE and m.have & SMB2_HAVE_NEGOTIATE:
        e.dialect = m.dialect
        e.flags |= SB_DIALECT
        st.dialect = m.dialect
        s.dialect = m.dialect
        smb_comp_agreed(st, m)
    elif cmd == SMB2_SESSION_SETUP and st.auth.used and st.auth.message_id == m.message_id:
        e.flags |= SB_NTLM
        e.user_len = smb_copy(e.user, SMB_NTLM_KEEP, st.auth.user, st.auth.user_len, &e.flags)
        e.domain_len = smb_copy(e.domain, SMB_NTLM_KEEP, st.auth.domain, st.auth.domain_len,
                                &e.flags)
        e.host_len = smb_copy(e.host, SMB_NTLM_KEEP, st.auth.host, st.auth.host_len, &e.flags)
        st.auth.used = 0
    elif cmd == SMB2_TREE_CONNECT and m.have & SMB2_HAVE_SHARE:
        e.share_type = m.share_type
        e.flags |= SB_SHARE_TYPE
        if m.status == 0 and q != NULL and q.flags & SB_SHARE:
            t = smb_tree(st, m.tree_id)
            if t == NULL:
                for k in range(SMB_TREES):
                    if not st.trees[k].used:
                        t = &st.trees[k]
                        break
            if t == NULL:
                if s.over < 65535:
                    s.over += 1
            else:
                t.used = 1
                t.tree_id = m.tree_id
                t.name_len = smb_copy(t.name, SMB_TREE_NAME, q.name, q.name_len, &e.flags)
                t.ipc = smb_share_is(q.name, q.name_len, "IPC$", 4) or m.share_type == 2
    elif cmd == SMB2_CREATE and m.status == 0 and m.have & SMB2_HAVE_FILE_ID:
        if e.flags & SB_PIPE:
            if s.pipes < 65535:
                s.pipes += 1
            smb_pipe_open(st, s, m.file_id)
    if st.dialect:
        e.dialect = st.dialect
        e.flags |= SB_DIALECT
    ev_tx_commit(c, EV_SMB, <uint8_t*>e, &e.tx_id, &s.tx)


cdef inline void smb1_message(AppCtx* c, SmbState* st, SmbSummary* s, const uint8_t* p,
                              uint32_t n, uint32_t full) noexcept nogil:
    """An SMB1 message: a NEGOTIATE request writes an event with the client's dialect
    strings; its response one with the status; other commands are counted only."""
    cdef Smb1Msg m
    cdef SmbEvent* e
    cdef int rc = smb1_parse(p, n, full, &m)
    cdef int k
    cdef uint32_t len_, at
    s.smb1 = 1
    if rc < 0 and not (m.have & SMB1_HAVE_HDR):
        ctx_count(c, K_PARSER)
        return
    if s.commands < 0xFFFFFFFFU:
        s.commands += 1
    if m.command != SMB1_NEGOTIATE:
        return
    e = <SmbEvent*>ev_begin(c, EV_SMB)
    smb_head(e, c)
    e.flags |= SB_SMB1
    e.command = m.command
    e.session_id = m.uid
    e.tree_id = m.tid
    if m.flags & SMB1_FLAGS_REPLY:
        e.flags |= SB_RESPONSE
        e.status = m.status
    else:
        e.flags |= SB_REQUEST
        if m.have & SMB1_HAVE_DIALECTS:
            e.flags |= SB_DIALECTS
        at = 0
        for k in range(m.dialect_count if m.dialect_count < SMB1_MAX_DIALECTS else SMB1_MAX_DIALECTS):
            len_ = m.dialects[k].len
            if at + len_ + 1 > SMB_NAME:
                e.flags |= SB_TRUNC
                break
            memcpy(e.name + at, m.dialects[k].s, len_)
            e.name[at + len_] = 0
            at += len_ + 1
            e.n_dialects += 1
        e.name_len = <uint8_t>at
    ev_tx_commit(c, EV_SMB, <uint8_t*>e, &e.tx_id, &s.tx)


cdef inline void smb_comp_agreed(SmbState* st, const Smb2Msg* m) noexcept nogil:
    """What a NEGOTIATE response agreed on compression ([MS-SMB2] 2.2.4, 3.3.5.4): only
    dialect 3.1.1 compresses, through an SMB2_COMPRESSION_CAPABILITIES context listing
    the algorithms (NONE alone: none in common). A context list not read to its end
    (cut) leaves it unseen."""
    cdef int k
    cdef uint16_t alg
    st.comp = SMB_COMP_NONE
    st.comp_algs = 0
    if m.dialect != 0x0311:
        return
    if not (m.have & SMB2_HAVE_CONTEXTS):
        st.comp = SMB_COMP_UNSEEN
        return
    for k in range(m.comp_count if m.comp_count < SMB2_MAX_ALGS else SMB2_MAX_ALGS):
        alg = m.comps[k]
        if alg != SMB2_COMP_NONE and alg <= SMB2_COMP_LZ4:
            st.comp_algs |= <uint8_t>(1 << alg)
    if st.comp_algs:
        st.comp = SMB_COMP_AGREED


cdef inline void smb_comp_count(AppCtx* c, uint16_t bad) noexcept nogil:
    """The counters of a compression header's SC_* bits."""
    if bad & SC_UNNEGOTIATED:
        c.cnt[A_SMB_COMP_UNNEGOTIATED] += 1
    if bad & SC_ALG_UNNEGOTIATED:
        c.cnt[A_SMB_COMP_ALG_UNNEGOTIATED] += 1
    if bad & SC_OVERFLOW:
        c.cnt[A_SMB_COMP_OVERFLOW] += 1
    if bad & SC_TOO_BIG:
        c.cnt[A_SMB_COMP_TOO_BIG] += 1
    if bad & SC_OFFSET:
        c.cnt[A_SMB_COMP_OFFSET] += 1
    if bad & SC_ALGORITHM:
        c.cnt[A_SMB_COMP_ALGORITHM] += 1
    if bad & SC_FLAGS:
        c.cnt[A_SMB_COMP_FLAGS] += 1
    if bad & SC_CHAIN:
        c.cnt[A_SMB_COMP_CHAIN] += 1


cdef inline void smb_compressed(AppCtx* c, SmbState* st, const uint8_t* p, uint32_t n,
                                uint32_t full) noexcept nogil:
    """A compression transform header (the unit p[0:n] of full bytes): counted, and
    when it breaks [MS-SMB2] (the message parser's SMB2_COMP_* bits, or a compressed
    message the connection's NEGOTIATE did not allow: no algorithm agreed, or not this
    one) an SB_COMPRESSED event. A header cut before its 16 bytes is counted only."""
    cdef Smb2Msg m
    cdef SmbEvent* e
    cdef uint16_t bad = 0
    c.cnt[A_SMB_COMPRESSED] += 1
    smb2_parse(p, n, full, &m)
    if not (m.have & SMB2_HAVE_COMPRESSION):
        return
    if m.malformed & SMB2_COMP_OVERFLOW:
        bad |= SC_OVERFLOW
    if m.malformed & SMB2_COMP_TOO_BIG:
        bad |= SC_TOO_BIG
    if m.malformed & SMB2_COMP_OFFSET:
        bad |= SC_OFFSET
    if m.malformed & SMB2_COMP_ALGORITHM:
        bad |= SC_ALGORITHM
    if m.malformed & SMB2_COMP_FLAGS:
        bad |= SC_FLAGS
    if m.malformed & SMB2_COMP_CHAIN:
        bad |= SC_CHAIN
    if st.comp == SMB_COMP_NONE:
        bad |= SC_UNNEGOTIATED
    elif (st.comp == SMB_COMP_AGREED and SMB2_COMP_NONE < m.comp_alg <= SMB2_COMP_LZ4
          and not (st.comp_algs & (1 << m.comp_alg))):
        bad |= SC_ALG_UNNEGOTIATED
    if not bad:
        return
    smb_comp_count(c, bad)
    e = <SmbEvent*>ev_begin(c, EV_SMB)
    smb_head(e, c)
    e.flags |= SB_COMPRESSED | SB_REQUEST
    if st.dialect:
        e.dialect = st.dialect
        e.flags |= SB_DIALECT
    e.comp_size = m.orig_size
    e.comp_offset = m.comp_offset
    e.comp_alg = m.comp_alg
    e.comp_flags = m.comp_flags
    e.comp_bad = bad
    e.tx_id = (<SmbSummary*>c.summary).tx
    ev_commit(c, EV_SMB, <uint8_t*>e)


cdef inline int smb_unit(AppCtx* c, SmbState* st, const uint8_t* p, uint32_t n,
                         uint32_t full) noexcept nogil:
    """One NBSS session message's payload, p[0:n] of its full bytes: each SMB2 message
    of a compound, or an SMB1 message. 1 when the rest of the direction is to be
    skipped (an encrypted or compressed message), else 0."""
    cdef SmbSummary* s = <SmbSummary*>c.summary
    cdef Smb2Msg m
    cdef uint8_t kind = smb_magic(p, n)
    cdef uint32_t at = 0, left
    cdef int rc, guard
    if c.cut:
        c.cnt[A_TRUNCATED] += 1
        if s.cut < 65535:
            s.cut += 1
    if kind == SMB_V1:
        smb1_message(c, st, s, p, n, full)
        return 0
    if kind == SMB_ENCRYPTED or kind == SMB_COMPRESSED:
        if s.encrypted < 65535:
            s.encrypted += 1
        if kind == SMB_COMPRESSED:
            smb_compressed(c, st, p, n, full)
        return 1
    if kind != SMB_V2:
        ctx_count(c, K_PARSER)
        return 0
    for guard in range(64):                # a compound's messages (8-byte aligned)
        left = n - at if n > at else 0
        rc = smb2_parse(p + at, left, full - at, &m)
        if not (m.have & SMB2_HAVE_HDR):
            ctx_count(c, K_PARSER)
            return 0
        if rc < 0 or (rc == MSG_PREFIX and not c.cut):
            ctx_count(c, K_PARSER)
        if s.commands < 0xFFFFFFFFU:
            s.commands += 1
        if m.flags & SMB2_FLAGS_RESPONSE:
            smb2_response(c, st, s, &m, p + at, left)
        else:
            smb2_request(c, st, s, &m, p + at, left)
        if m.next_command == 0 or rc < 0 or m.next_command >= full - at:
            return 0
        at += m.next_command
        if at >= n:
            return 0
    return 0


cdef inline int smb_resync_ok(const uint8_t* p, uint32_t n) noexcept nogil:
    """After lost bytes: 1 when p starts an NBSS unit holding SMB, 0 not, -1 more."""
    return smb_probe(p, n, 0, 0, 0)


cdef inline int smb_parse(AppCtx* c, void* state, const uint8_t* p,
                          uint32_t n) noexcept nogil:
    """TCP: the whole NBSS units in p[0:n]; returns the bytes consumed. A unit longer
    than the hold is read from the bytes at hand once SMB_EARLY of them (or the hold's
    worth) are there, cut, and its rest skipped; bytes that are no NBSS header end the
    direction (APP_ERROR)."""
    cdef SmbState* st = <SmbState*>state
    cdef NbssHdr h
    cdef uint32_t used = 0, unit, have
    cdef int r
    if st.resync[c.dir]:
        r = smb_resync_ok(p, n)
        if r == 0:
            return APP_ERROR
        if r < 0:
            return 0
        st.resync[c.dir] = 0
    while used < n:
        r = nbss_header(p + used, n - used, &h)
        if r < 0:
            return APP_ERROR
        if r == MSG_PREFIX:
            break
        unit = NBSS_HDR + h.length
        have = n - used
        if h.type != NBSS_MESSAGE:
            if have < unit:
                break
            used += unit                   # a session request, response or keep-alive
            continue
        if have >= unit:
            if smb_unit(c, st, p + used + NBSS_HDR, h.length, h.length):
                c.skip = SMB_SKIP_ALL
                return used + unit
            used += unit
            continue
        if unit > c.hold_max and (have >= SMB_EARLY or have >= c.hold_max):
            c.cut = 1
            r = smb_unit(c, st, p + used + NBSS_HDR, have - NBSS_HDR, h.length)
            c.cut = 0
            c.skip = SMB_SKIP_ALL if r else unit - have
            return n
        break
    return used


cdef inline int smb_gap(AppCtx* c, void* state, const uint8_t* held, uint32_t n,
                        uint32_t missing) noexcept nogil:
    """TCP: `missing` bytes lost after the n held (an unfinished unit, or none). A unit
    whose NBSS header was held is read as cut and its rest skipped; after a loss at a
    unit boundary, or past the unit's end, the next bytes must start a unit
    (SmbState.resync; smb_parse checks)."""
    cdef SmbState* st = <SmbState*>state
    cdef NbssHdr h
    cdef uint32_t unit
    cdef int r = nbss_header(held, n, &h)
    if r < 0:
        return APP_ERROR
    if r == MSG_OK and h.type == NBSS_MESSAGE and n > NBSS_HDR:
        unit = NBSS_HDR + h.length
        c.cut = 1
        r = smb_unit(c, st, held + NBSS_HDR, n - NBSS_HDR, h.length)
        c.cut = 0
        if r:
            c.skip = SMB_SKIP_ALL
            return 0
        if gap_rest(c, n, missing, unit) == 0:
            return 0
    st.resync[c.dir] = 1
    return 0


cdef inline void smb_record(const void* summary, FlowRecord* r) noexcept nogil:
    """The flow record's app_smb_* fields from the summary."""
    cdef const SmbSummary* s = <const SmbSummary*>summary
    r.app_smb_commands = s.commands
    r.app_smb_dialect = s.dialect
    r.app_smb_tree_connects = s.trees
    r.app_smb_admin_shares = s.admin_trees
    r.app_smb_creates = s.creates
    r.app_smb_pipes = s.pipes
    r.app_smb_auths = s.auths
    r.app_smb_errors = s.errors
    r.app_smb_encrypted = s.encrypted
    r.app_smb_rpc_requests = s.rpc
