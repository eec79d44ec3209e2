# DCE-RPC over TCP (ncacn_ip_tcp: the endpoint mapper on 135 and the dynamic ports it
# hands out), as a room of the application layer: the stream is cut into PDUs by their
# frag_length and each PDU read by the message parser (dcerpc.pxd dcerpc_parse).
#
# Per connection (the TCP state, DceState, 252 bytes): the presentation context map
# (context id -> interface UUID and version, and its BIND_ACK result), DCE_CTX_MAP
# contexts at most (more are counted, DceSummary.ctx_over, and their requests name no
# interface); the last BIND / ALTER_CONTEXT's contexts in order (a BIND_ACK's results
# answer them by position); and per direction the call in progress (call_id, fragments,
# stub bytes; a request's context id and opnum).
#
# Events (DceEvent, EVE `dcerpc`), one per PDU that ends a half of a transaction:
#   BIND / ALTER_CONTEXT (client): request, call_id, interfaces offered [{uuid, version}]
#   BIND_ACK / ALTER_CONTEXT_RESP / BIND_NAK (server): response, call_id, the interfaces
#     of the BIND it answers with ack_result
#   REQUEST, at its last fragment (client): request, call_id, req {opnum, frag_cnt,
#     stub_data_size}, the interface of its context (uuid, version: the service and
#     procedure names are the EVE writer's)
#   RESPONSE / FAULT, at its last fragment (server): response, res {frag_cnt,
#     stub_data_size}, FAULT status; and when it answers the request last seen (same
#     call_id) that request's req and interface too (Suricata's joined transaction)
# Other PDU types (AUTH3, shutdown, cancel) are parsed and write no event.
#
# A PDU longer than the hold is read from its first hold bytes (cut: a BIND's contexts
# past the cut are missing, a request's stub size is its frag_length's) and the rest
# skipped; a gap inside a PDU whose header was held is read the same way. A gap that
# runs past a PDU's end (or at a boundary, or inside the first 10 bytes) leaves no
# length to go by: the bytes after it must start with a header the probe accepts (as
# tshark resynchronises), else the direction ends.
#
# Inline, used without the GIL; registered in protocols.pxd.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy, memcmp, memset
from counters cimport A_TRUNCATED
from enums cimport EV_DCERPC
from features cimport FlowRecord
from app.base cimport AppCtx, APP_ERROR, K_TX, K_PARSER, ctx_count, gap_rest
from app.events cimport ev_begin, ev_commit, ev_head, ev_tx_commit
from msgio cimport MSG_OK, MSG_PREFIX
from dcerpc cimport (DcePdu, DCE_HDR, DCE_MAX_CTX, PFC_FIRST_FRAG, PFC_LAST_FRAG,
                     DCE_HAVE_CTX, DCE_HAVE_RESULTS, DCE_HAVE_CALL, DCE_HAVE_STUB,
                     DCE_HAVE_STATUS, dce_header_ok, dcerpc_frag_len, dcerpc_parse)
from win_names cimport (DCE_REQUEST, DCE_RESPONSE, DCE_FAULT, DCE_BIND, DCE_BIND_ACK,
                        DCE_BIND_NAK, DCE_ALTER_CONTEXT, DCE_ALTER_CONTEXT_RESP,
                        DCE_AUTH3)

cdef extern from "names.h":
    enum:                          # DceEvent bits (core_names.py DCERPC_EVENT_BITS)
        DV_RESPONSE "WS_DV_RESPONSE"
        DV_REQ "WS_DV_REQ"
        DV_RES "WS_DV_RES"
        DV_CUT "WS_DV_CUT"
        DV_STATUS "WS_DV_STATUS"
        DI_ACK "WS_DI_ACK"

cdef enum:
    DCE_PORT = 135
    DCE_CTX_MAP = 8                # presentation contexts a connection keeps
    DCE_NO_SLOT = 0xFF
    DCE_IF_UUIDS = 16 * DCE_MAX_CTX


cdef struct DceSummary:            # the flow's, in its app record (40 bytes at most)
    uint64_t req_stub_bytes        # stub bytes of the requests (their fragments summed)
    uint32_t tx                    # events written: the next event's tx_id
    uint32_t requests              # REQUEST calls (last fragments)
    uint32_t responses             # RESPONSE and FAULT calls
    uint16_t faults
    uint16_t binds                 # BIND and ALTER_CONTEXT PDUs
    uint16_t rejects               # BIND_NAKs and contexts acked with a rejection
    uint16_t interfaces            # contexts offered for a UUID not in the map then
    uint16_t ctx_over              # contexts offered while the map was full
    uint16_t cut                   # PDUs read cut (snap length, gap, longer than the hold)

cdef struct DceCtxSlot:            # one presentation context of the connection
    uint8_t uuid[16]               # the interface, text order
    uint16_t ctx_id
    uint16_t ver_major
    uint16_t ver_minor
    uint16_t result                # its BIND_ACK result (valid with acked)
    uint8_t used
    uint8_t acked

cdef struct DceCall:               # a direction's call in progress
    uint32_t call_id
    uint32_t stub                  # stub bytes of its fragments so far
    uint16_t frags
    uint16_t ctx_id                # REQUEST: its context; opnum
    uint16_t opnum
    uint8_t ptype
    uint8_t have_call              # ctx_id and opnum were read

cdef struct DceState:              # the connection's, in its stream slot
    DceCtxSlot ctx[DCE_CTX_MAP]
    DceCall call[2]                # [0] the client's (requests), [1] the server's
    uint8_t bind_slot[DCE_MAX_CTX] # the map slot of the last BIND's k-th context
    uint8_t n_bind
    uint8_t resync[2]              # per direction: bytes were lost past a PDU's end, the
                                   # next must start with a header dce_probe accepts

cdef struct DceEvent:              # DCERPC_EVENT_DTYPE (appcore.pyx)
    uint64_t flow_id
    int64_t ts_us                  # the packet that completed (or cut) the PDU
    uint8_t src_addr[16]           # the PDU's sender
    uint8_t dest_addr[16]
    uint16_t src_port
    uint16_t dest_port
    uint16_t vlan0
    uint16_t vlan1
    uint8_t nvlan
    uint8_t ip_version
    uint8_t proto                  # 6 TCP
    uint8_t direction              # 0 toserver, 1 toclient (the flow's)
    uint32_t tx_id                 # the flow's dcerpc events before this one
    uint32_t call_id
    uint32_t req_stub              # DV_REQ: the request's stub bytes, all fragments
    uint32_t res_stub              # DV_RES: the response's
    uint32_t status                # DV_STATUS: the FAULT's status
    uint16_t req_frags
    uint16_t res_frags
    uint16_t opnum                 # DV_REQ
    uint8_t req_ptype              # the request side's PDU type (0xFF: none)
    uint8_t res_ptype              # the response side's (0xFF: none)
    uint8_t ver
    uint8_t ver_minor
    uint8_t flags                  # DV_*
    uint8_t n_ifaces               # interfaces kept below (DCE_MAX_CTX at most), each:
    uint16_t if_ver_major[DCE_MAX_CTX]
    uint16_t if_ver_minor[DCE_MAX_CTX]
    uint16_t if_ack[DCE_MAX_CTX]   # its ack_result, valid with DI_ACK
    uint8_t if_flags[DCE_MAX_CTX]  # DI_*
    uint8_t if_uuid[DCE_IF_UUIDS]  # its UUID (text order): if_uuid[16 k:16 k + 16]


cdef inline int dce_probe(const uint8_t* p, uint32_t n, uint8_t udp, uint16_t sport,
                          uint16_t dport) noexcept nogil:
    """Whether p[0:n], a direction's first payload, is connection-oriented DCE-RPC: 1 yes,
    0 no, -1 more bytes needed. The header must be version 5.0 / 5.1 with a data
    representation C706 defines (dce_header_ok), a type a connection starts or carries
    (BIND, ALTER_CONTEXT, their answers, REQUEST, RESPONSE, FAULT, AUTH3), and a
    frag_length that holds the type's fixed part and the auth trailer it declares."""
    cdef int fl
    cdef uint32_t auth, least
    cdef uint8_t t
    if udp:
        return 0
    if not dce_header_ok(p, n):
        return 0
    if n < DCE_HDR:
        return -1
    t = p[2]
    if t == DCE_BIND or t == DCE_ALTER_CONTEXT:
        least = 28
    elif t == DCE_BIND_ACK or t == DCE_ALTER_CONTEXT_RESP:
        least = 26
    elif t == DCE_REQUEST or t == DCE_RESPONSE or t == DCE_FAULT:
        least = 24
    elif t == DCE_BIND_NAK:
        least = 18
    elif t == DCE_AUTH3:
        least = 20
    else:
        return 0
    fl = dcerpc_frag_len(p, n)
    if fl < <int>least:
        return 0
    auth = (p[10] | (<uint32_t>p[11] << 8)) if p[4] & 0x10 else ((<uint32_t>p[10] << 8) | p[11])
    if auth and auth + 8 + DCE_HDR > <uint32_t>fl:
        return 0
    return 1


cdef inline void dce_head(DceEvent* e, const AppCtx* c, const DcePdu* d) noexcept nogil:
    """The event's head (ev_head) and the PDU's header fields."""
    ev_head(<uint8_t*>e, c)
    e.call_id = d.call_id
    e.ver = d.ver
    e.ver_minor = d.ver_minor
    e.req_ptype = 0xFF
    e.res_ptype = 0xFF
    if c.cut:
        e.flags |= DV_CUT


cdef inline void dce_iface(DceEvent* e, const DceCtxSlot* s) noexcept nogil:
    """Append the context's interface to the event (DCE_MAX_CTX at most)."""
    cdef int k = e.n_ifaces
    if k >= DCE_MAX_CTX:
        return
    memcpy(e.if_uuid + 16 * k, s.uuid, 16)
    e.if_ver_major[k] = s.ver_major
    e.if_ver_minor[k] = s.ver_minor
    if s.acked:
        e.if_ack[k] = s.result
        e.if_flags[k] |= DI_ACK
    e.n_ifaces += 1


cdef inline int dce_slot_of(const DceState* st, uint16_t ctx_id) noexcept nogil:
    """The map slot of context ctx_id, or -1."""
    cdef int k
    for k in range(DCE_CTX_MAP):
        if st.ctx[k].used and st.ctx[k].ctx_id == ctx_id:
            return k
    return -1


cdef inline bint dce_uuid_known(const DceState* st, const uint8_t* uuid) noexcept nogil:
    cdef int k
    for k in range(DCE_CTX_MAP):
        if st.ctx[k].used and memcmp(st.ctx[k].uuid, uuid, 16) == 0:
            return True
    return False


cdef inline bint dce_ctx_read(const DcePdu* d, int k) noexcept nogil:
    """Context k of a BIND was read: all of them when the list was read whole; of a cut
    list, those whose abstract syntax was reached (a nil UUID is never an interface)."""
    cdef int i
    if d.have & DCE_HAVE_CTX:
        return True
    for i in range(16):
        if d.ctx[k].uuid[i]:
            return True
    return False


cdef inline void dce_bind(AppCtx* c, DceState* st, DceSummary* s, const DcePdu* d,
                          DceEvent* e) noexcept nogil:
    """BIND / ALTER_CONTEXT: its contexts into the map (an id already there is replaced;
    no free slot: counted) and the event's interfaces."""
    cdef int k, slot, j
    cdef int count = d.n_ctx if d.n_ctx < DCE_MAX_CTX else DCE_MAX_CTX
    cdef DceCtxSlot* m
    s.binds = <uint16_t>(s.binds + 1) if s.binds < 65535 else 65535
    st.n_bind = 0
    for k in range(count):
        if not dce_ctx_read(d, k):
            break
        slot = dce_slot_of(st, d.ctx[k].ctx_id)
        if slot < 0:
            for j in range(DCE_CTX_MAP):
                if not st.ctx[j].used:
                    slot = j
                    break
        if not dce_uuid_known(st, d.ctx[k].uuid) and s.interfaces < 65535:
            s.interfaces += 1
        if slot < 0:
            if s.ctx_over < 65535:
                s.ctx_over += 1
            st.bind_slot[st.n_bind] = DCE_NO_SLOT
        else:
            m = &st.ctx[slot]
            memcpy(m.uuid, d.ctx[k].uuid, 16)
            m.ctx_id = d.ctx[k].ctx_id
            m.ver_major = d.ctx[k].ver_major
            m.ver_minor = d.ctx[k].ver_minor
            m.used = 1
            m.acked = 0
            m.result = 0
            st.bind_slot[st.n_bind] = <uint8_t>slot
            dce_iface(e, m)
        st.n_bind += 1
    e.req_ptype = d.ptype


cdef inline void dce_bind_ack(AppCtx* c, DceState* st, DceSummary* s, const DcePdu* d,
                              DceEvent* e) noexcept nogil:
    """BIND_ACK / ALTER_CONTEXT_RESP (results by position) or BIND_NAK (every context of
    the BIND rejected): the map's results and the event's interfaces."""
    cdef int k, count
    cdef DceCtxSlot* m
    e.res_ptype = d.ptype
    e.flags |= DV_RESPONSE
    if d.ptype == DCE_BIND_NAK:
        if s.rejects < 65535:
            s.rejects += 1
        for k in range(st.n_bind):
            if st.bind_slot[k] != DCE_NO_SLOT:
                st.ctx[st.bind_slot[k]].used = 0
        st.n_bind = 0
        return
    count = d.n_results if d.n_results < st.n_bind else st.n_bind
    if not (d.have & DCE_HAVE_RESULTS):
        count = 0                              # cut before the results were read whole
    for k in range(count):
        if st.bind_slot[k] == DCE_NO_SLOT:
            continue
        m = &st.ctx[st.bind_slot[k]]
        m.result = d.results[k].result
        m.acked = 1
        if (m.result == 1 or m.result == 2) and s.rejects < 65535:
            s.rejects += 1
        dce_iface(e, m)


cdef inline bint dce_fragment(DceCall* call, const DcePdu* d) noexcept nogil:
    """Add a REQUEST / RESPONSE / FAULT fragment to the direction's call (a first
    fragment, or another call_id, starts a new one); True at its last fragment."""
    if (d.pfc_flags & PFC_FIRST_FRAG) or call.call_id != d.call_id or call.frags == 0:
        memset(call, 0, sizeof(DceCall))
        call.call_id = d.call_id
        call.ptype = d.ptype
    if d.have & DCE_HAVE_CALL and not call.have_call:
        call.ctx_id = d.ctx_id
        call.opnum = d.opnum
        call.have_call = d.ptype == DCE_REQUEST
    if d.have & DCE_HAVE_STUB:
        call.stub += d.stub_len
    if call.frags < 65535:
        call.frags += 1
    return (d.pfc_flags & PFC_LAST_FRAG) != 0 or d.ptype == DCE_FAULT


cdef inline void dce_req_fields(DceEvent* e, const DceState* st,
                                const DceCall* req) noexcept nogil:
    """A request's fields and its context's interface in the event."""
    cdef int slot
    e.req_ptype = DCE_REQUEST
    e.req_stub = req.stub
    e.req_frags = req.frags
    if req.have_call:
        e.flags |= DV_REQ
        e.opnum = req.opnum
        slot = dce_slot_of(st, req.ctx_id)
        if slot >= 0:
            dce_iface(e, &st.ctx[slot])


cdef inline void dce_pdu(AppCtx* c, DceState* st, const uint8_t* p, uint32_t n,
                         uint32_t full) noexcept nogil:
    """One PDU, p[0:n] of its full bytes (n < full: cut, and c.cut says so): the
    connection's state, the flow's summary, an event when it ends a half of a
    transaction. A malformed PDU is counted (app_layer.error.dcerpc_tcp.parser) and
    leaves no event."""
    cdef DcePdu d
    cdef DceEvent* e
    cdef DceSummary* s = <DceSummary*>c.summary
    cdef DceCall* call
    cdef int rc = dcerpc_parse(p, n, full, &d)
    cdef bint emit = False
    if rc < 0 or (rc == MSG_PREFIX and not c.cut):
        ctx_count(c, K_PARSER)
        return
    if c.cut:
        c.cnt[A_TRUNCATED] += 1
        if s.cut < 65535:
            s.cut += 1
    e = <DceEvent*>ev_begin(c, EV_DCERPC)
    dce_head(e, c, &d)
    if d.ptype == DCE_BIND or d.ptype == DCE_ALTER_CONTEXT:
        dce_bind(c, st, s, &d, e)
        emit = True
    elif (d.ptype == DCE_BIND_ACK or d.ptype == DCE_ALTER_CONTEXT_RESP
          or d.ptype == DCE_BIND_NAK):
        dce_bind_ack(c, st, s, &d, e)
        emit = True
    elif d.ptype == DCE_REQUEST:
        call = &st.call[0]
        if dce_fragment(call, &d):
            dce_req_fields(e, st, call)
            s.requests += 1
            s.req_stub_bytes += call.stub
            emit = True
    elif d.ptype == DCE_RESPONSE or d.ptype == DCE_FAULT:
        call = &st.call[1]
        if dce_fragment(call, &d):
            if st.call[0].frags and st.call[0].call_id == call.call_id:
                dce_req_fields(e, st, &st.call[0])
            e.res_ptype = d.ptype
            e.res_stub = call.stub
            e.res_frags = call.frags
            e.flags |= DV_RESPONSE | DV_RES
            if d.have & DCE_HAVE_STATUS:
                e.status = d.status
                e.flags |= DV_STATUS
            s.responses += 1
            if d.ptype == DCE_FAULT and s.faults < 65535:
                s.faults += 1
            emit = True
    if not emit:
        return
    ev_tx_commit(c, EV_DCERPC, <uint8_t*>e, &e.tx_id, &s.tx)


cdef inline int dce_parse(AppCtx* c, void* state, const uint8_t* p,
                          uint32_t n) noexcept nogil:
    """TCP: the whole PDUs in p[0:n]; returns the bytes consumed. A PDU longer than the
    hold is read from its first c.hold_max bytes (cut) and the rest skipped; bytes that
    are no PDU header end the direction (APP_ERROR)."""
    cdef DceState* st = <DceState*>state
    cdef uint32_t used = 0
    cdef int fl, r
    if st.resync[c.dir]:
        r = dce_probe(p, n, 0, 0, 0)
        if r == 0:
            return APP_ERROR
        if r < 0:
            return 0
        st.resync[c.dir] = 0
    while used < n:
        fl = dcerpc_frag_len(p + used, n - used)
        if fl == -2:
            return APP_ERROR
        if fl == -1:
            break
        if n - used >= <uint32_t>fl:
            dce_pdu(c, st, p + used, <uint32_t>fl, <uint32_t>fl)
            used += <uint32_t>fl
            continue
        if n - used >= c.hold_max:
            c.cut = 1
            dce_pdu(c, st, p + used, n - used, <uint32_t>fl)
            c.cut = 0
            c.skip = <uint32_t>fl - (n - used)
            return n
        break
    return used


cdef inline int dce_gap(AppCtx* c, void* state, const uint8_t* held, uint32_t n,
                        uint32_t missing) noexcept nogil:
    """TCP: `missing` bytes lost after the n held (an unfinished PDU, or none). A PDU
    whose frag_length was held is read as cut and its rest skipped; after a loss at a
    PDU boundary, inside the first 10 bytes or past the PDU's end the next bytes must
    start a PDU (DceState.resync; dce_parse checks). Held bytes that are no PDU
    header: APP_ERROR."""
    cdef DceState* st = <DceState*>state
    cdef int fl = dcerpc_frag_len(held, n)
    if fl == -2:
        return APP_ERROR
    if fl >= DCE_HDR:
        c.cut = 1
        dce_pdu(c, st, held, n, <uint32_t>fl)
        c.cut = 0
        if gap_rest(c, n, missing, <uint32_t>fl) == 0:
            return 0
    st.resync[c.dir] = 1
    return 0


cdef inline void dce_record(const void* summary, FlowRecord* r) noexcept nogil:
    """The flow record's app_dcerpc_* fields from the summary."""
    cdef const DceSummary* s = <const DceSummary*>summary
    r.app_dcerpc_requests = s.requests
    r.app_dcerpc_responses = s.responses
    r.app_dcerpc_faults = s.faults
    r.app_dcerpc_binds = s.binds
    r.app_dcerpc_rejects = s.rejects
    r.app_dcerpc_interfaces = s.interfaces
    r.app_dcerpc_ctx_over = s.ctx_over
    r.app_dcerpc_req_stub_bytes = <double>s.req_stub_bytes
