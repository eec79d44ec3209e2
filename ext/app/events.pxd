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

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset
from counters cimport A_EVENTS_DROPPED
from app.base cimport AppCtx, EventBuf

cdef enum:
    APP_EVENTS_PER_PACKET = 4   # room a chunk needs per packet (see above)


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
