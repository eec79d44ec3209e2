# App-layer events: one bounded buffer per kind (EV_*), records of the kind's C struct
# (its protocol room's), drained by the meter as numpy arrays whose dtype is derived from
# that struct (appcore.pyx). The meter starts a chunk of packets only when every buffer
# has room for APP_EVENTS_PER_PACKET events a packet (flowtable.pyx _feed); a packet
# that completes more (a TCP segment carrying many small messages) may fill a buffer:
# the events that do not fit are counted (wirescore.app_events_dropped), never written
# past the end.
#
# A room writes an event in two steps: ev_begin() gives a zeroed record (the buffer's
# next, or a scratch record when events are not kept or the buffer is full), the room
# fills it while it parses, and ev_commit() keeps it once the message proved whole
# (a malformed message leaves no event).
#
# Every event struct begins with the fields of EvHead, in its order (appcore.pyx checks
# the offsets against EVENT_HEAD_DTYPE): ev_head() fills them for the packet at hand,
# ev_ident() for a flow's event written client first (TLS, SSH); ev_tx_commit() numbers
# a transaction's event and keeps it. The fields stay flat in each struct (not an
# embedded EvHead, which sizeof-pads to 64 bytes and would nest the numpy dtype the EVE
# writers read by field name).

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset, memcpy
from counters cimport A_EVENTS_DROPPED
from decode cimport PacketView
from app.base cimport AppCtx, EventBuf, K_TX, ctx_count

cdef enum:
    APP_EVENTS_PER_PACKET = 4   # room a chunk needs per packet (see above)

cdef struct EvHead:             # every event's first fields; EVENT_HEAD_DTYPE (appcore.pyx)
    uint64_t flow_id
    int64_t ts_us               # the packet that completed (or cut) the event
    uint8_t src_addr[16]        # the event's sender (TLS, SSH: the client)
    uint8_t dest_addr[16]
    uint16_t src_port
    uint16_t dest_port
    uint16_t vlan0
    uint16_t vlan1
    uint8_t nvlan
    uint8_t ip_version
    uint8_t proto               # 17 UDP, 6 TCP
    uint8_t direction           # 0 toserver, 1 toclient (the flow's; TLS, SSH: 0)


cdef inline int evbuf_init(EventBuf* b, uint32_t cap, uint32_t size) noexcept nogil:
    """cap (>= 1) records of size bytes; -1 when out of memory."""
    b.cap = cap
    b.size = size
    b.n = 0
    b.data = <uint8_t*>calloc(cap, size)
    return -1 if b.data == NULL else 0


cdef inline void evbuf_free(EventBuf* b) noexcept nogil:
    free(b.data)
    b.data = NULL
    b.n = 0


cdef inline bint evbuf_room(const EventBuf* b, uint32_t k) noexcept nogil:
    """Room for k more records."""
    return b.cap - b.n >= k


cdef inline uint8_t* ev_begin(AppCtx* c, int kind) noexcept nogil:
    """The zeroed record the next event of kind is written into: the buffer's next, or
    the scratch record (events not kept, or the buffer full)."""
    cdef EventBuf* b = &c.ev[kind]
    cdef uint8_t* rec = c.scratch
    if c.keep and b.n < b.cap:
        rec = b.data + <size_t>b.n * b.size
    memset(rec, 0, b.size)
    return rec


cdef inline void ev_commit(AppCtx* c, int kind, uint8_t* rec) noexcept nogil:
    """Keep the event written into rec (from ev_begin); one that found its buffer full
    is counted."""
    if rec != c.scratch:
        c.ev[kind].n += 1
    elif c.keep:
        c.cnt[A_EVENTS_DROPPED] += 1


cdef inline void ev_ident(uint8_t* rec, const AppCtx* c, bint fwd) noexcept nogil:
    """The flow's identity into the event's head (flow_id, endpoints, VLANs, IP version,
    protocol): the packet's sender as src when fwd, its receiver otherwise. ts_us and
    direction are left as they are."""
    cdef EvHead* h = <EvHead*>rec
    cdef const PacketView* v = c.v
    h.flow_id = c.flow_id
    memcpy(h.src_addr, &v.src[0] if fwd else &v.dst[0], 16)
    memcpy(h.dest_addr, &v.dst[0] if fwd else &v.src[0], 16)
    h.src_port = v.sport if fwd else v.dport
    h.dest_port = v.dport if fwd else v.sport
    h.vlan0 = v.vlan0
    h.vlan1 = v.vlan1
    h.nvlan = v.nvlan
    h.ip_version = v.ipver
    h.proto = v.proto


cdef inline void ev_head(uint8_t* rec, const AppCtx* c) noexcept nogil:
    """The event's head for the packet at hand: the flow, its time, the packet's sender
    as src, the packet's direction."""
    ev_ident(rec, c, True)
    (<EvHead*>rec).ts_us = c.ts
    (<EvHead*>rec).direction = c.dir


cdef inline void ev_tx_commit(AppCtx* c, int kind, uint8_t* rec, uint32_t* tx_id,
                              uint32_t* tx) noexcept nogil:
    """Finish a transaction's event: its tx_id field (tx_id, inside rec) takes the
    flow's next number (tx, then counted up), the event is kept (ev_commit) and the
    transaction counted (K_TX)."""
    tx_id[0] = tx[0]
    tx[0] += 1
    ev_commit(c, kind, rec)
    ctx_count(c, K_TX)
