# SSH as a room of the stream (RFC 4253 4.2): each direction's identification string
# ("SSH-protoversion-softwareversion SP comments CR LF", after at most SSH_PRE_LINES
# lines a server may send first) read by ssh.pxd's ssh_banner_parse; what follows (the
# binary packets) is consumed unread until the budget ends the direction.
#
# One SshEvent a flow (Suricata's EVE ssh: client and server proto_version and
# software_version), built in the stream slot's state and written once both banners
# are read, or when the stream ends with one (ssh_finish). A banner cut by the snap
# length or a gap gives the fields its captured prefix holds, flagged.
#
# Inline, used without the GIL; registered in protocols.pxd.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy
from counters cimport A_TRUNCATED
from enums cimport EV_SSH
from features cimport FlowRecord
from app.base cimport AppCtx, APP_ERROR, K_TX, ctx_count
from app.events cimport ev_begin, ev_commit, ev_ident
from app.ssh cimport SshBanner, ssh_banner_parse, ssh_probe, SSH_NOT
from fstr cimport FStr, FS_PRESENT, FS_CAPPED, FS_CUT

cdef extern from "names.h":
    enum:                          # SshEvent.status (core_names.py SSH_EVENT_BITS)
        SE_CLIENT "WS_SE_CLIENT"
        SE_SERVER "WS_SE_SERVER"
        SE_CLIENT_CUT "WS_SE_CLIENT_CUT"
        SE_SERVER_CUT "WS_SE_SERVER_CUT"

cdef enum:
    SSH_PORT = 22
    SSH_EV_PROTO = 16              # bytes kept of proto_version
    SSH_EV_SOFT = 128              # bytes kept of software_version


cdef struct SshEvent:              # one flow's banners; SSH_EVENT_DTYPE (appcore.pyx)
    uint64_t flow_id
    int64_t ts_us                  # the packet that completed the second banner (or the
                                   # flow's last, when it ended with one)
    uint8_t src_addr[16]           # the client
    uint8_t dest_addr[16]
    uint16_t src_port
    uint16_t dest_port
    uint16_t vlan0
    uint16_t vlan1
    uint8_t nvlan
    uint8_t ip_version
    uint8_t proto
    uint8_t direction              # 0: the event goes client to server (src is the client)
    uint8_t status                 # SE_* bits
    uint8_t proto_len[2]           # bytes kept: [0] client, [1] server
    uint8_t soft_len[2]
    uint8_t proto_version[2][SSH_EV_PROTO]
    uint8_t software[2][SSH_EV_SOFT]

cdef struct SshState:              # in the stream slot (APP_STATE_BYTES)
    uint8_t done[2]                # the direction's banner was read
    uint8_t emitted
    SshEvent ev

cdef struct SshSummary:            # the flow's, in its app record
    uint16_t version[2]            # protocol version x 100 (200: "2.0", 199: "1.99"),
                                   # [0] client, [1] server; 0: no banner
    uint8_t banners                # bit 0 the client's, bit 1 the server's


cdef inline int sshr_probe(const uint8_t* p, uint32_t n, uint8_t udp, uint16_t sport,
                           uint16_t dport) noexcept nogil:
    """The bytes start with "SSH-" (TCP): 1, 0 or -1 (fewer than 4 that could)."""
    if udp:
        return 0
    return ssh_probe(p, n)


cdef inline uint16_t ssh_version_code(const FStr* f) noexcept nogil:
    """"2.0" -> 200, "1.99" -> 199, "1.5" -> 150; 0 when not digits "." digits."""
    cdef uint32_t i = 0, major = 0, minor = 0, scale = 100
    cdef uint32_t n = f.n
    while i < n and 48 <= <uint8_t>f.s[i] <= 57 and major < 100:
        major = major * 10 + (<uint8_t>f.s[i] - 48)
        i += 1
    if i == 0 or i >= n or f.s[i] != 46:
        return 0
    i += 1
    while i < n and 48 <= <uint8_t>f.s[i] <= 57 and scale > 1:
        scale //= 10
        minor += (<uint8_t>f.s[i] - 48) * scale
        i += 1
    return <uint16_t>(major * 100 + minor)


cdef inline void ssh_take(AppCtx* c, SshState* s, const SshBanner* b, bint cut) noexcept nogil:
    """The direction's banner (whole, or its prefix when cut) into the event."""
    cdef SshEvent* e = &s.ev
    cdef SshSummary* sm = <SshSummary*>c.summary
    cdef int d = c.dir
    cdef uint32_t k
    if not e.flow_id:
        ev_ident(<uint8_t*>e, c, d == 0)
    s.done[d] = 1
    if not (b.proto_version.flags & FS_PRESENT):
        return
    k = b.proto_version.n if b.proto_version.n < SSH_EV_PROTO else SSH_EV_PROTO
    memcpy(e.proto_version[d], b.proto_version.s, k)
    e.proto_len[d] = <uint8_t>k
    if b.software_version.flags & FS_PRESENT:
        k = b.software_version.n if b.software_version.n < SSH_EV_SOFT else SSH_EV_SOFT
        memcpy(e.software[d], b.software_version.s, k)
        e.soft_len[d] = <uint8_t>k
    e.status |= SE_CLIENT if d == 0 else SE_SERVER
    if cut:
        e.status |= SE_CLIENT_CUT if d == 0 else SE_SERVER_CUT
        c.cnt[A_TRUNCATED] += 1
    if not (b.proto_version.flags & FS_CUT):
        sm.version[d] = ssh_version_code(&b.proto_version)
    sm.banners |= <uint8_t>(1 << d)
    ctx_count(c, K_TX)


cdef inline void ssh_emit(AppCtx* c, SshState* s) noexcept nogil:
    """Write the flow's event (once), if a banner was read."""
    cdef uint8_t* rec
    if s.emitted or not (s.ev.status & (SE_CLIENT | SE_SERVER)):
        return
    s.emitted = 1
    rec = ev_begin(c, EV_SSH)
    memcpy(rec, &s.ev, sizeof(SshEvent))
    (<SshEvent*>rec).ts_us = c.ts
    ev_commit(c, EV_SSH, rec)


cdef inline int sshr_parse(AppCtx* c, void* st, const uint8_t* p, uint32_t n) noexcept nogil:
    """TCP: the direction's identification string; returns the bytes consumed (all,
    once it is read: the binary packets are not read)."""
    cdef SshState* s = <SshState*>st
    cdef SshBanner b
    cdef int r
    if s.done[c.dir]:
        return n
    r = ssh_banner_parse(p, n, 0xFFFFFFFF, &b)
    if r < 0:
        return APP_ERROR
    if r == 1 and n < c.hold_max:
        return 0
    ssh_take(c, s, &b, r == 1)
    if s.done[0] and s.done[1]:
        ssh_emit(c, s)
    return n


cdef inline int sshr_gap(AppCtx* c, void* st, const uint8_t* held, uint32_t n,
                         uint32_t missing) noexcept nogil:
    """TCP: bytes lost; a banner still unfinished is read from the held prefix (cut);
    the direction's later bytes are consumed unread."""
    cdef SshState* s = <SshState*>st
    cdef SshBanner b
    if s.done[c.dir]:
        return 0
    if n and ssh_banner_parse(held, n, 0xFFFFFFFF, &b) >= 0:
        ssh_take(c, s, &b, True)
    s.done[c.dir] = 1
    if s.done[0] and s.done[1]:
        ssh_emit(c, s)
    return 0


cdef inline void sshr_finish(AppCtx* c, void* st) noexcept nogil:
    """The stream ends: the event of a flow with one banner."""
    ssh_emit(c, <SshState*>st)


cdef inline void sshr_record(const void* summary, FlowRecord* r) noexcept nogil:
    """The flow record's app_ssh_* fields from the summary."""
    cdef const SshSummary* s = <const SshSummary*>summary
    r.app_ssh_banners = (s.banners & 1) + ((s.banners >> 1) & 1)
    r.app_ssh_proto_version = (s.version[1] if s.version[1] else s.version[0]) / 100.0
