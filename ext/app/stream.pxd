# The stream room: one TCP direction's bytes, in order, to its protocol's parser.
#
# Delivery (by sequence number, 32-bit serial arithmetic): the first segment seen sets
# the next expected sequence number (a SYN's data starts one after its number);
# a segment at it is delivered; one overlapping what was delivered is trimmed, and one
# holding nothing new (a retransmission) dropped; one beyond it declares the bytes
# between lost (a gap), then is delivered; a segment arriving later inside that gap is
# dropped and counted (wirescore.app_reordered): its bytes were given up for lost. A
# segment the snap length cut delivers its captured bytes, then a gap of the rest (the
# IP header gives the real length).
#
# Holding and skipping: a parser consumes whole units; the bytes of an unfinished one
# wait in the hold buffer (APP_HOLD bytes) and are given again, with what arrives next.
# A unit longer than the hold is the parser's to read from its first APP_HOLD bytes;
# it then names the bytes to skip (c.skip: a body, the rest of a long unit), dropped
# unread as they come. A gap inside those bytes costs nothing; any other gap goes to the
# parser's gap function with the held bytes: it resynchronises (a unit whose length it
# knows: it reads the held prefix as cut and skips the rest) or the direction ends
# (counted: wirescore.app_gap_abort and app_layer.error.<proto>.gap).
#
# Before the flow's protocol is known the direction's first bytes (APP_PROBE at most)
# wait in the hold for the probes (protocols.pxd); a match sets the flow's protocol and
# the held bytes go to its parser; no match, too many bytes or a gap end the direction.
# Budget: the bytes given to the parser per direction (skipped bytes are free); past it
# the direction ends (wirescore.app_budget_exhausted). A budget of 0 names the protocol
# (the probe) and parses nothing. FIN ends a direction, RST both.
#
# Inline, used without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.string cimport memcpy, memmove, memset
from counters cimport A_GAPS, A_GAP_ABORT, A_REORDERED, A_BUDGET
from enums cimport AP_NONE, APP_HOLD, APP_PROBE
from app.base cimport (AppCtx, AppLink, APP_ERROR, K_FLOW, K_PARSER, K_GAP, AL_DONE,
                       AL_NOPROBE, app_count, ctx_count)
from app.protocols cimport (AppProtos, AppProto, APP_STATE_WORDS, APP_SUMMARY_BYTES, app_row,
                            app_probe)
from app.first cimport FirstBytes, first_take

cdef struct StreamDir:
    uint32_t next_seq              # the sequence number expected next
    uint32_t gap_lo                # the last gap: [gap_lo, gap_hi) in sequence space
    uint32_t gap_hi
    uint32_t examined              # bytes given to the parser (the budget counts these)
    uint32_t skip                  # bytes still to drop unread
    uint16_t held                  # bytes in hold
    uint8_t started                # next_seq is set
    uint8_t done                   # not parsed any more
    uint8_t hold[APP_HOLD]

cdef struct StreamSlot:
    int64_t last_ts                # its flow's last packet (a full pool takes back the
                                   # slot whose flow was seen longest ago)
    uint32_t rec                   # its flow's record (app.pxd) + 1
    int32_t next_free
    StreamDir d[2]
    uint64_t state[APP_STATE_WORDS]   # the parser's state, zeroed when taken


cdef inline void sd_end(StreamDir* sd, AppLink* L, int d) noexcept nogil:
    """The direction is not parsed any more."""
    sd.done = 1
    sd.held = 0
    sd.skip = 0
    L.flags |= <uint8_t>(AL_DONE << d)


cdef inline void sd_first(const AppProtos* t, StreamDir* sd, const AppLink* L, void* summary,
                          int d) noexcept nogil:
    """Direction d, still being probed, stops: the first-bytes statistics of the bytes
    it holds, into the flow's summary (first.pxd)."""
    if L.proto == AP_NONE and not sd.done:
        first_take(&(<FirstBytes*>summary)[d], sd.hold, sd.held, sd.held, t.first_bytes)


cdef inline void sd_fail(StreamDir* sd, AppLink* L, AppCtx* c) noexcept nogil:
    """The parser refused the bytes (malformed, or not its protocol after all)."""
    ctx_count(c, K_PARSER)
    sd_end(sd, L, c.dir)


cdef inline uint32_t sd_probe(const AppProtos* t, StreamDir* sd, AppLink* L, AppCtx* c,
                              const uint8_t* p, uint32_t n) noexcept nogil:
    """Take the direction's first bytes into the hold (APP_PROBE at most) and ask the
    probes: a match sets the flow's protocol (app_layer.flow.<proto> counted); no match,
    or no answer within APP_PROBE bytes, ends the direction. Returns the bytes taken."""
    cdef uint32_t k = APP_PROBE - sd.held
    cdef bint more
    cdef int proto
    if k > n:
        k = n
    memcpy(sd.hold + sd.held, p, k)
    sd.held += k
    proto = app_probe(t, sd.hold, sd.held, 0, c.v.sport, c.v.dport, &more)
    if proto != AP_NONE:
        L.proto = <uint8_t>proto
        c.proto = <uint8_t>proto
        memset(c.summary, 0, APP_SUMMARY_BYTES)   # the other direction's first bytes
        app_count(c.cnt, proto, 0, K_FLOW)
    elif not more or sd.held >= APP_PROBE:
        L.flags |= <uint8_t>(AL_NOPROBE << c.dir)
        sd_first(t, sd, L, c.summary, c.dir)
        sd_end(sd, L, c.dir)
    return k


cdef inline int sd_run_hold(const AppProto* row, StreamSlot* S, StreamDir* sd, AppLink* L,
                            AppCtx* c) noexcept nogil:
    """Give the held bytes to the parser, drop what it consumed and then what it asked
    to skip; returns the bytes consumed, or APP_ERROR (the direction ended)."""
    cdef int r
    cdef uint32_t k, s
    c.skip = 0
    r = row.parse(c, S.state, sd.hold, sd.held)
    if r < 0 or <uint32_t>r > sd.held:
        sd_fail(sd, L, c)
        return APP_ERROR
    sd.examined += <uint32_t>r
    s = sd.held - <uint32_t>r
    if s > c.skip:
        s = c.skip
    k = <uint32_t>r + s
    sd.skip = c.skip - s
    memmove(sd.hold, sd.hold + k, sd.held - k)
    sd.held = <uint16_t>(sd.held - k)
    return r


cdef inline void sd_deliver(const AppProtos* t, StreamSlot* S, AppLink* L, AppCtx* c,
                            const uint8_t* p, uint32_t n) noexcept nogil:
    """In-order bytes p[0:n] of direction c.dir."""
    cdef StreamDir* sd = &S.d[c.dir]
    cdef const AppProto* row
    cdef uint32_t k
    cdef int r
    while n > 0 and not sd.done:
        if sd.skip:
            k = sd.skip if sd.skip < n else n
            sd.skip -= k
            p += k
            n -= k
            continue
        if L.proto == AP_NONE:
            k = sd_probe(t, sd, L, c, p, n)
            p += k
            n -= k
            if L.proto == AP_NONE:
                continue
            if t.budget[L.proto][0] == 0:  # the protocol named, its parser given nothing
                c.cnt[A_BUDGET] += 1
                sd_end(sd, L, c.dir)
                return
            if sd_run_hold(app_row(t, L.proto), S, sd, L, c) < 0:
                return
            continue
        row = app_row(t, L.proto)
        if row == NULL or row.parse == NULL:
            sd_end(sd, L, c.dir)
            return
        if sd.examined >= t.budget[L.proto][0]:
            c.cnt[A_BUDGET] += 1
            sd_end(sd, L, c.dir)
            return
        if sd.held:
            k = APP_HOLD - sd.held
            if k > n:
                k = n
            memcpy(sd.hold + sd.held, p, k)
            sd.held += k
            p += k
            n -= k
            r = sd_run_hold(row, S, sd, L, c)
            if r < 0:
                return
            if r == 0 and sd.held == APP_HOLD:
                sd_fail(sd, L, c)          # a full hold the parser will not consume
                return
            continue
        c.skip = 0
        r = row.parse(c, S.state, p, n)
        if r < 0 or <uint32_t>r > n:
            sd_fail(sd, L, c)
            return
        sd.examined += <uint32_t>r
        p += r
        n -= <uint32_t>r
        sd.skip = c.skip
        if n and not sd.skip:              # an unfinished unit: hold it
            if n > APP_HOLD:
                sd_fail(sd, L, c)          # longer than the hold, and not consumed
                return
            memcpy(sd.hold, p, n)
            sd.held = <uint16_t>n
            return


cdef inline void sd_gap(const AppProtos* t, StreamSlot* S, AppLink* L, AppCtx* c,
                        uint32_t missing) noexcept nogil:
    """`missing` bytes of direction c.dir are lost (a lost segment, or cut by the snap
    length)."""
    cdef StreamDir* sd = &S.d[c.dir]
    cdef const AppProto* row
    cdef int r
    c.cnt[A_GAPS] += 1
    if sd.done:
        return
    if sd.skip >= missing:
        sd.skip -= missing
        return
    missing -= sd.skip
    sd.skip = 0
    row = app_row(t, L.proto)
    if row == NULL or row.gap == NULL:
        if L.proto == AP_NONE:
            L.flags |= <uint8_t>(AL_NOPROBE << c.dir)
            sd_first(t, sd, L, c.summary, c.dir)
        c.cnt[A_GAP_ABORT] += 1
        sd_end(sd, L, c.dir)
        return
    c.skip = 0
    r = row.gap(c, S.state, sd.hold, sd.held, missing)
    sd.held = 0
    if r < 0:
        c.cnt[A_GAP_ABORT] += 1
        ctx_count(c, K_GAP)
        sd_end(sd, L, c.dir)
        return
    sd.skip = c.skip


cdef inline void stream_segment(const AppProtos* t, StreamSlot* S, AppLink* L, AppCtx* c,
                                uint32_t seq, const uint8_t* p, uint32_t cap,
                                uint32_t wire) noexcept nogil:
    """One TCP segment of direction c.dir: its first payload byte's sequence number,
    cap bytes captured at p of the wire bytes its headers give."""
    cdef StreamDir* sd = &S.d[c.dir]
    cdef int32_t d
    cdef uint32_t trim
    if sd.done or wire == 0:
        return
    if not sd.started:
        sd.next_seq = seq
        sd.gap_lo = seq
        sd.gap_hi = seq
        sd.started = 1
    d = <int32_t>(seq - sd.next_seq)
    if d < 0:
        if <int32_t>(seq - sd.gap_lo) >= 0 and <int32_t>(seq - sd.gap_hi) < 0:
            c.cnt[A_REORDERED] += 1        # its bytes were given up for lost
            return
        trim = sd.next_seq - seq
        if trim >= wire:
            return                         # a retransmission: nothing new
        seq = sd.next_seq
        wire -= trim
        if trim >= cap:
            cap = 0
        else:
            p += trim
            cap -= trim
    elif d > 0:
        sd.gap_lo = sd.next_seq
        sd.gap_hi = seq
        sd.next_seq = seq
        sd_gap(t, S, L, c, <uint32_t>d)
    sd.next_seq = seq + wire
    if cap:
        sd_deliver(t, S, L, c, p, cap)
    if cap < wire:
        sd_gap(t, S, L, c, wire - cap)
