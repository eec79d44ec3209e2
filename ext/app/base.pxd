# The application layer's shared words: the per-flow link kept in the flow table entry,
# the context a protocol room's functions are called with, the event buffers' shape,
# and the counters by (protocol, transport, kind).
#
# A flow's app state is split in three, by what it costs: the link (AppLink, 8 bytes in
# every flow table entry: the protocol, a few flags, the index of its record), a record
# (app.pxd AppRec: the protocol's summary, for flows whose protocol is known or being
# probed; a bounded pool) and, for TCP while it is parsed, a stream slot (stream.pxd:
# the two directions' delivery state and hold buffers; a smaller pool). A flow without
# payload costs its 8 bytes and nothing else.
#
# Inline, used without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.math cimport log
from counters cimport ws_app_counters
from decode cimport PacketView

cdef enum:
    APP_ERROR = -1       # a parser's answer: malformed, or lost bytes it cannot skip: the
                         # direction ends (a protocol room's three outcomes are: bytes
                         # consumed (parsed), 0 (needs more bytes), APP_ERROR)

cdef enum:               # counter kinds (core_names.py APP_COUNTER_KINDS)
    K_FLOW = 0
    K_TX = 1
    K_PARSER = 2
    K_GAP = 3

cdef enum:               # AppLink.flags; DONE and NOPROBE are shifted by the direction
    AL_PAYLOAD = 1       # payload seen in either direction
    AL_DONE = 2          # the direction is not parsed any more (2: toserver, 4: toclient)
    AL_NOPROBE = 8       # its first bytes matched no protocol (8, 16)
    AL_LOST = 32         # the flow's record was taken back for another flow (pool full)

cdef struct AppLink:
    uint32_t rec         # its record (app.pxd AppRec) + 1; 0: none
    uint8_t proto        # AP_* (enums.pxd): the flow's protocol once a probe matched
    uint8_t flags        # AL_*
    uint8_t pad[2]

cdef struct EventBuf:
    uint8_t* data        # cap records of size bytes
    uint32_t n           # records written since the last drain
    uint32_t cap
    uint32_t size

cdef struct AppCtx:
    const PacketView* v  # the packet at hand: its sender is an event's source
    uint64_t* cnt
    EventBuf* ev         # the event buffers by kind (EV_*)
    uint8_t* scratch     # a record to write an event nobody keeps into
    void* summary        # the flow's summary: the protocol room's struct in AppRec
    uint64_t flow_id
    int64_t ts           # the packet's time, microseconds
    uint32_t hold_max    # TCP: the most bytes one call is given (APP_HOLD): a unit longer
                         # than this is parsed from its first hold_max bytes, then skipped
    uint32_t skip        # out (TCP): bytes after those consumed to drop unread (a body)
    uint32_t wire_len    # UDP: the datagram's payload bytes on the wire
    uint8_t dir          # 0 toserver, 1 toclient (the flow's directions)
    uint8_t udp          # 1 for UDP, 0 for TCP
    uint8_t proto        # AP_* of the room called
    uint8_t cut          # the bytes given end where bytes were lost (snap length, a gap,
                         # a unit longer than the hold): what a unit lacks is missing,
                         # not malformed
    uint8_t keep         # events are kept (else written to the scratch record only)


cdef inline void app_count(uint64_t* cnt, int proto, int udp, int kind) noexcept nogil:
    """Count one of `kind` for (protocol, transport) when that pair has the counter."""
    cdef int slot = ws_app_counters[proto][udp][kind]
    if slot >= 0:
        cnt[slot] += 1


cdef inline void ctx_count(const AppCtx* c, int kind) noexcept nogil:
    app_count(c.cnt, c.proto, c.udp, kind)


cdef inline int gap_rest(AppCtx* c, uint32_t n, uint32_t missing, uint64_t unit) noexcept nogil:
    """TCP, after a loss: a unit of `unit` bytes (header included) of which n were held
    and `missing` then lost; c.skip takes the rest of it and 0 is returned. A loss that
    runs past the unit's end leaves no length to find the next unit by: APP_ERROR
    (c.skip untouched)."""
    if <uint64_t>n + missing > unit:
        return APP_ERROR
    c.skip = <uint32_t>(unit - n - missing)
    return 0


cdef inline double lincount64(uint64_t bits) noexcept nogil:
    """Distinct items hashed into the 64-bit map `bits`: linear counting (Whang et al.
    1990); with every bit set it saturates at 64 ln 64 (266)."""
    cdef uint32_t zeros = 0, i
    for i in range(64):
        if not (bits >> i) & 1:
            zeros += 1
    return 0.0 if zeros == 64 else -64.0 * log((zeros if zeros else 1) / 64.0)
