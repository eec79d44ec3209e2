# The application layer's table: the pools of flow records and TCP stream slots, the
# event buffers, the probe table, and what the meter calls for a flow's packets and at
# its end.
#
# A flow's record (AppRec: its protocol's summary, for the flow record's app_* fields)
# is taken when a probe matches its payload (or, over TCP, may still match), or, free
# ones only, to keep the first-bytes statistics of a flow no probe claims (first.pxd,
# in its summary); a stream
# slot (stream.pxd) while a TCP flow is parsed, given back once both directions are done.
# Both pools are bounded (app.max_flows, app.streams): a full pool takes back the record
# or slot of the flow seen longest ago among CLOCK_REACH candidates from a moving hand
# (its flow keeps its protocol; its summary or parse is lost, counted:
# wirescore.app_flows_reclaimed, wirescore.app_streams_reclaimed). Records and slots are
# handed out in order from the start of their arrays, so the memory touched is what the
# busiest moment needed.
#
# Inline, used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset
from counters cimport A_FLOWS_RECLAIMED, A_STREAMS_RECLAIMED, A_BUDGET, A_FIRST_SKIPPED
from enums cimport (AP_NONE, AP_FAILED, N_APP_EVENTS, N_APP_PROTOS, TH_SYN, TH_FIN, TH_RST,
                    IPP_TCP, IPP_UDP, APP_HOLD, CLOCK_REACH)
from decode cimport PacketView, FRAG_FIRST
from features cimport FlowRecord
from app.base cimport (AppCtx, AppLink, EventBuf, K_FLOW, AL_PAYLOAD, AL_DONE, AL_NOPROBE,
                       AL_LOST, app_count)
from app.events cimport evbuf_init, evbuf_free
from app.protocols cimport (AppProtos, AppProto, APP_SUMMARY_WORDS, app_protocols, app_row,
                            app_probe)
from app.stream cimport StreamSlot, StreamDir, stream_segment, sd_end, sd_first
from app.first cimport FirstBytes, first_take, first_any, first_record

cdef struct AppRec:
    int64_t last_ts                # its flow's last packet handled here
    AppLink* owner                 # the link in its flow's table entry
    uint32_t stream                # its stream slot + 1 (0: none)
    int32_t next_free
    uint32_t examined[2]           # UDP: bytes given to the parser per direction
    uint64_t summary[APP_SUMMARY_WORDS]   # the protocol's summary

cdef struct AppTable:
    AppProtos protos
    AppRec* recs
    StreamSlot* slots
    uint8_t* scratch               # an event record nobody keeps (events.pxd)
    EventBuf ev[N_APP_EVENTS]
    uint32_t nrecs
    uint32_t rec_high              # records ever handed out (the rest untouched)
    uint32_t rec_hand
    int32_t rec_free
    uint32_t nslots
    uint32_t slot_high
    uint32_t slot_hand
    int32_t slot_free
    uint8_t keep_events


cdef inline int app_init(AppTable* T, uint32_t nrecs, uint32_t nslots,
                         const uint32_t* budgets, uint32_t event_cap,
                         bint keep_events) noexcept nogil:
    """Pools of nrecs records and nslots stream slots, event buffers of event_cap
    records a kind; budgets: [AP_*][0 tcp, 1 udp] bytes per direction. -1 when out of
    memory (app_free() releases what was allocated)."""
    cdef int i, k
    cdef uint32_t scratch = 1
    memset(T, 0, sizeof(AppTable))
    app_protocols(&T.protos)
    for i in range(N_APP_PROTOS):
        for k in range(2):
            T.protos.budget[i][k] = budgets[2 * i + k]
    T.nrecs = nrecs
    T.nslots = nslots
    T.rec_free = -1
    T.slot_free = -1
    T.keep_events = keep_events
    T.recs = <AppRec*>calloc(nrecs, sizeof(AppRec))
    T.slots = <StreamSlot*>calloc(nslots, sizeof(StreamSlot))
    if T.recs == NULL or T.slots == NULL:
        return -1
    for k in range(N_APP_EVENTS):
        T.ev[k].size = T.protos.event_size[k] if T.protos.event_size[k] else 1
        if T.ev[k].size > scratch:
            scratch = T.ev[k].size
    for k in range(N_APP_EVENTS):
        if evbuf_init(&T.ev[k], event_cap if keep_events else 1, T.ev[k].size) < 0:
            return -1
    T.scratch = <uint8_t*>calloc(1, scratch)
    return -1 if T.scratch == NULL else 0


cdef inline void app_free(AppTable* T) noexcept nogil:
    cdef int k
    free(T.recs)
    free(T.slots)
    free(T.scratch)
    T.recs = NULL
    T.slots = NULL
    T.scratch = NULL
    for k in range(N_APP_EVENTS):
        evbuf_free(&T.ev[k])


cdef inline uint32_t app_oldest(const int64_t* first_ts, size_t stride, uint32_t n,
                                uint32_t* hand) noexcept nogil:
    """Of the CLOCK_REACH rows from the hand (every row in use), the one whose last_ts
    (the int64 at the start of each row of stride bytes) is oldest; the hand moves past
    it."""
    cdef uint32_t i, k, best = hand[0] % n
    cdef int64_t ts, best_ts
    best_ts = (<const int64_t*>((<const uint8_t*>first_ts) + best * stride))[0]
    for k in range(1, CLOCK_REACH if CLOCK_REACH < n else n):
        i = (hand[0] + k) % n
        ts = (<const int64_t*>((<const uint8_t*>first_ts) + i * stride))[0]
        if ts < best_ts:
            best = i
            best_ts = ts
    hand[0] = (best + 1) % n
    return best


cdef inline void slot_release(AppTable* T, uint32_t s) noexcept nogil:
    """Give stream slot s (index) back."""
    T.slots[s].rec = 0
    T.slots[s].next_free = T.slot_free
    T.slot_free = <int32_t>s


cdef inline void rec_release(AppTable* T, AppLink* L) noexcept nogil:
    """Give the flow's record (and its stream slot) back."""
    cdef uint32_t i = L.rec - 1
    if T.recs[i].stream:
        slot_release(T, T.recs[i].stream - 1)
    T.recs[i].owner = NULL
    T.recs[i].stream = 0
    T.recs[i].next_free = T.rec_free
    T.rec_free = <int32_t>i
    L.rec = 0


cdef inline uint32_t rec_take(AppTable* T, AppLink* L, int64_t ts, uint64_t* cnt) noexcept nogil:
    """A record for the flow of L (L.rec set); returns its index."""
    cdef uint32_t i
    cdef AppLink* victim
    if T.rec_free >= 0:
        i = <uint32_t>T.rec_free
        T.rec_free = T.recs[i].next_free
    elif T.rec_high < T.nrecs:
        i = T.rec_high
        T.rec_high += 1
    else:
        i = app_oldest(&T.recs[0].last_ts, sizeof(AppRec), T.nrecs, &T.rec_hand)
        victim = T.recs[i].owner
        victim.flags |= AL_LOST | AL_DONE | (AL_DONE << 1)
        rec_release(T, victim)
        cnt[A_FLOWS_RECLAIMED] += 1
        T.rec_free = T.recs[i].next_free   # rec_release put it first on the free list
    memset(&T.recs[i], 0, sizeof(AppRec))
    T.recs[i].owner = L
    T.recs[i].last_ts = ts
    L.rec = i + 1
    return i


cdef inline StreamSlot* slot_take(AppTable* T, AppLink* L, int64_t ts,
                                  uint64_t* cnt) noexcept nogil:
    """A stream slot for the flow of L (which has a record); its directions start done
    as L says."""
    cdef uint32_t s, owner
    cdef StreamSlot* S
    cdef int d
    if T.slot_free >= 0:
        s = <uint32_t>T.slot_free
        T.slot_free = T.slots[s].next_free
    elif T.slot_high < T.nslots:
        s = T.slot_high
        T.slot_high += 1
    else:
        s = app_oldest(&T.slots[0].last_ts, sizeof(StreamSlot), T.nslots, &T.slot_hand)
        owner = T.slots[s].rec - 1
        for d in range(2):
            sd_first(&T.protos, &T.slots[s].d[d], T.recs[owner].owner, T.recs[owner].summary, d)
        T.recs[owner].owner.flags |= AL_DONE | (AL_DONE << 1)
        T.recs[owner].stream = 0
        cnt[A_STREAMS_RECLAIMED] += 1
    S = &T.slots[s]
    for d in range(2):                     # all but the hold buffers' bytes
        memset(&S.d[d], 0, <size_t>(<uint8_t*>&S.d[d].hold[0] - <uint8_t*>&S.d[d]))
        S.d[d].done = (L.flags >> (1 + d)) & 1
    memset(S.state, 0, sizeof(S.state))
    S.rec = L.rec
    S.last_ts = ts
    T.recs[L.rec - 1].stream = s + 1
    return S


cdef inline void first_keep(AppTable* T, AppLink* L, const AppCtx* c, const uint8_t* p,
                            uint32_t cap) noexcept nogil:
    """Direction c.dir's first bytes p[0:cap] matched no probe: their statistics, in
    the flow's record (a free one taken when it has none; none free: not kept,
    counted)."""
    if T.protos.first_bytes == 0:
        return
    if L.rec == 0:
        if T.rec_free < 0 and T.rec_high >= T.nrecs:
            c.cnt[A_FIRST_SKIPPED] += 1
            return
        rec_take(T, L, c.ts, c.cnt)
    first_take(&(<FirstBytes*>T.recs[L.rec - 1].summary)[c.dir], p, cap, c.v.payload_len,
               T.protos.first_bytes)


cdef inline void rec_claim(AppTable* T, AppLink* L, int64_t ts, uint64_t* cnt) noexcept nogil:
    """A record for the flow a probe just matched: its own, emptied of first-bytes
    statistics, or a new one."""
    cdef AppRec* R
    if L.rec == 0:
        rec_take(T, L, ts, cnt)
        return
    R = &T.recs[L.rec - 1]
    memset(R.summary, 0, sizeof(R.summary))
    R.examined[0] = 0
    R.examined[1] = 0


cdef inline void app_ctx(AppTable* T, AppCtx* c, const PacketView* v, int d, int64_t ts,
                         uint64_t flow_id, uint64_t* cnt) noexcept nogil:
    c.v = v
    c.cnt = cnt
    c.ev = T.ev
    c.scratch = T.scratch
    c.keep = T.keep_events
    c.flow_id = flow_id
    c.ts = ts
    c.dir = <uint8_t>d
    c.hold_max = APP_HOLD
    c.skip = 0
    c.cut = 0


cdef inline void stream_finish(AppTable* T, AppLink* L, StreamSlot* S,
                               AppCtx* c) noexcept nogil:
    """The flow's stream ends (both directions done, or the flow ends): its room's
    finish function, if it has one, with the time of the flow's last packet."""
    cdef const AppProto* row = app_row(&T.protos, L.proto)
    if row == NULL or row.finish == NULL or S.rec == 0:
        return
    c.summary = T.recs[S.rec - 1].summary
    c.proto = L.proto
    c.udp = 0
    c.ts = S.last_ts
    row.finish(c, S.state)


cdef inline void app_udp(AppTable* T, AppLink* L, AppCtx* c, const uint8_t* p,
                         uint32_t cap) noexcept nogil:
    """A UDP datagram with payload: probed while the flow's protocol is unknown (each
    direction's first), then given whole to the protocol's room."""
    cdef const PacketView* v = c.v
    cdef const AppProto* row
    cdef AppRec* R
    cdef bint more
    cdef int proto
    L.flags |= AL_PAYLOAD
    if L.flags & AL_LOST:
        return
    if L.proto == AP_NONE:
        if L.flags & (AL_NOPROBE << c.dir):
            return
        proto = app_probe(&T.protos, p, cap, 1, v.sport, v.dport, &more)
        if proto == AP_NONE:
            L.flags |= <uint8_t>(AL_NOPROBE << c.dir)
            first_keep(T, L, c, p, cap)
            return
        rec_claim(T, L, c.ts, c.cnt)
        L.proto = <uint8_t>proto
        app_count(c.cnt, proto, 1, K_FLOW)
    if L.rec == 0 or L.flags & (AL_DONE << c.dir):
        return
    R = &T.recs[L.rec - 1]
    R.last_ts = c.ts
    row = app_row(&T.protos, L.proto)
    if row == NULL or row.datagram == NULL:
        return
    if R.examined[c.dir] >= T.protos.budget[L.proto][1]:
        L.flags |= <uint8_t>(AL_DONE << c.dir)
        c.cnt[A_BUDGET] += 1
        return
    R.examined[c.dir] += cap
    c.summary = R.summary
    c.udp = 1
    c.proto = L.proto
    c.wire_len = v.payload_len
    c.cut = cap < v.payload_len or v.frag == FRAG_FIRST
    row.datagram(c, p, cap)
    c.cut = 0


cdef inline void app_tcp(AppTable* T, AppLink* L, AppCtx* c, const uint8_t* p,
                         uint32_t cap) noexcept nogil:
    """A TCP segment with payload, FIN or RST: probed from the packet alone while no
    record is held (a segment no probe wants costs nothing more), else through the
    flow's stream slot."""
    cdef const PacketView* v = c.v
    cdef AppRec* R
    cdef StreamSlot* S
    cdef bint more
    cdef int proto
    cdef uint32_t seq
    if v.payload_len:
        L.flags |= AL_PAYLOAD
    if L.flags & AL_LOST:
        return
    if L.rec == 0 or (L.proto == AP_NONE and T.recs[L.rec - 1].stream == 0):
        if v.payload_len == 0 or L.flags & (AL_DONE << c.dir):
            return
        if L.proto == AP_NONE:
            proto = app_probe(&T.protos, p, cap, 0, v.sport, v.dport, &more)
            if proto == AP_NONE and not more:
                L.flags |= <uint8_t>((AL_NOPROBE | AL_DONE) << c.dir)
                first_keep(T, L, c, p, cap)
                return
        if L.rec == 0:
            rec_take(T, L, c.ts, c.cnt)
    R = &T.recs[L.rec - 1]
    R.last_ts = c.ts
    if R.stream == 0:
        if v.payload_len == 0 or L.flags & (AL_DONE << c.dir):
            return
        slot_take(T, L, c.ts, c.cnt)
    S = &T.slots[R.stream - 1]
    S.last_ts = c.ts
    c.summary = R.summary
    c.udp = 0
    c.proto = L.proto
    if v.payload_len:
        seq = v.tcp_seq + (1 if v.tcp_flags & TH_SYN else 0)
        stream_segment(&T.protos, S, L, c, seq, p, cap, v.payload_len)
    if v.tcp_flags & TH_RST:
        sd_first(&T.protos, &S.d[0], L, R.summary, 0)
        sd_first(&T.protos, &S.d[1], L, R.summary, 1)
        sd_end(&S.d[0], L, 0)
        sd_end(&S.d[1], L, 1)
    elif v.tcp_flags & TH_FIN:
        sd_first(&T.protos, &S.d[c.dir], L, R.summary, c.dir)
        sd_end(&S.d[c.dir], L, c.dir)
    if S.d[0].done and S.d[1].done:
        stream_finish(T, L, S, c)
        slot_release(T, R.stream - 1)
        R.stream = 0
        if L.proto == AP_NONE and not first_any(R.summary):
            rec_release(T, L)


cdef inline void app_packet(AppTable* T, AppLink* L, const PacketView* v,
                            const uint8_t* frame, int d, int64_t ts, uint64_t flow_id,
                            uint64_t* cnt) noexcept nogil:
    """One packet of a TCP or UDP flow (direction d) that carries payload, or is a TCP
    FIN or RST of a flow holding a stream."""
    cdef AppCtx c
    app_ctx(T, &c, v, d, ts, flow_id, cnt)
    if v.proto == IPP_UDP:
        app_udp(T, L, &c, frame + v.payload_off, v.payload_cap)
    else:
        app_tcp(T, L, &c, frame + v.payload_off, v.payload_cap)


cdef inline void app_flow_end(AppTable* T, AppLink* L, uint8_t ipproto, FlowRecord* r,
                              uint64_t* cnt) noexcept nogil:
    """The flow ends: its record's app_proto and app_* fields; its record and slot go
    back. A flow whose payload matched no protocol is "failed" (counted) and gets the
    first-bytes columns of its directions (first.pxd)."""
    cdef const AppProto* row
    cdef AppCtx c
    cdef AppRec* R
    cdef int d
    r.app_proto = L.proto
    if L.proto == AP_NONE and L.flags & AL_PAYLOAD:
        r.app_proto = AP_FAILED
        app_count(cnt, AP_FAILED, 1 if ipproto == IPP_UDP else 0, K_FLOW)
    if L.rec:
        R = &T.recs[L.rec - 1]
        if R.stream:
            for d in range(2):
                sd_first(&T.protos, &T.slots[R.stream - 1].d[d], L, R.summary, d)
            app_ctx(T, &c, NULL, 0, 0, 0, cnt)
            stream_finish(T, L, &T.slots[R.stream - 1], &c)
        row = app_row(&T.protos, L.proto)
        if row != NULL and row.record != NULL:
            row.record(R.summary, r)
        if L.proto == AP_NONE:
            first_record(R.summary, r)
        rec_release(T, L)
