# Packet ring: the most recent IP packets, for evidence snippets.
#
# An arena of FlowMeter(ring_bytes=N) bytes holds the frames as captured, written in
# order; it wraps to 0 when a frame does not fit at the end, and a frame written over
# older ones drops them (oldest first). An index of N / 64 RingRec slots (a circular
# queue, oldest first) gives each frame's time, flow id, place and lengths; when the
# index is full the oldest frame goes too. ring_pick() selects frames by flow id, or by
# time and an address; ring_copy() copies the picked frames out. A frame the meter
# decoded to unfragmented IP carries tags of its two addresses (ring_tag: an IPv4
# address itself, an IPv6 address folded to 32 bits), so an address query passes over
# the frames whose tag differs without decoding them; a frame whose tag matches an IPv6
# address, and a frame without tags, is decoded again to be sure (the decoder's
# counters go to scratch arrays, never the meter's).
#
# Inline, used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcmp, memcpy

from decode cimport PacketView, decode_frame, RES_IP

cdef struct RingRec:
    int64_t ts_us
    uint64_t flow_id
    uint32_t off             # where the frame's bytes start in the arena
    uint32_t caplen
    uint32_t wire_len
    uint16_t linktype        # the frame's libpcap DLT (a capture may mix link types)
    uint8_t ipver            # 4 / 6: the tags are those of this version's addresses;
                             # 0: no tags (not IP, a fragment): an address query decodes
    uint8_t pad
    uint32_t src_tag         # ring_tag() of the source and destination addresses
    uint32_t dst_tag

cdef struct Ring:
    uint8_t* arena           # NULL: no ring
    RingRec* recs
    uint64_t size            # arena bytes
    uint64_t head            # where the next frame goes
    uint32_t slots           # index slots: size // 64
    uint32_t first           # the oldest frame's slot
    uint32_t count           # frames held

# what ring_pick() selects
cdef struct RingQuery:
    bint by_flow             # frames of flow_id (else by time)
    uint64_t flow_id
    int64_t start_us         # by time: start_us <= time < end_us
    int64_t end_us
    int side                 # by time, 1 / 2: only frames whose source / destination
    const uint8_t* addr      # address is addr (alen bytes) of IP version `version`
    size_t alen
    int version
    uint64_t* scratch        # the decoder's counters and ethertypes while it does
    uint64_t* ethertypes


cdef inline int ring_init(Ring* g, uint64_t nbytes) noexcept nogil:
    """A ring of nbytes (64 KiB to 4 GiB, checked by the caller); -1 when out of memory."""
    g.size = nbytes
    g.slots = <uint32_t>(nbytes // 64)
    g.arena = <uint8_t*>malloc(nbytes)
    g.recs = <RingRec*>malloc(g.slots * sizeof(RingRec))
    return -1 if g.arena == NULL or g.recs == NULL else 0


cdef inline void ring_free(Ring* g) noexcept nogil:
    free(g.arena)
    free(g.recs)
    g.arena = NULL
    g.recs = NULL


cdef inline uint32_t ring_tag(const uint8_t* addr, int version) noexcept nogil:
    """The tag of an address: IPv4's 4 bytes as they are (equal tags, equal
    addresses), IPv6's 16 folded by XOR of their 32-bit words (equal addresses, equal
    tags; the converse is checked by decoding)."""
    cdef uint32_t w[4]
    if version == 4:
        memcpy(&w[0], addr, 4)
        return w[0]
    memcpy(&w[0], addr, 16)
    return w[0] ^ w[1] ^ w[2] ^ w[3]


cdef inline void ring_pop(Ring* g) noexcept nogil:
    g.first = (g.first + 1) % g.slots
    g.count -= 1


cdef inline void ring_add(Ring* g, const uint8_t* frame, uint32_t caplen, uint32_t wire_len,
                          int64_t ts, int linktype, uint64_t flow_id,
                          const PacketView* v) noexcept nogil:
    """Append a frame, dropping the oldest frames whose bytes it overwrites. The arena is
    written in order and wraps to 0 when a frame does not fit at the end; the frames left
    beyond the wrap point are the oldest, and go first. An empty frame, or one larger
    than the arena, is not kept. v: what decode_frame() made of this very frame when
    it is unfragmented IP (its addresses become the tags), else NULL."""
    cdef uint64_t at = g.head
    cdef RingRec* r
    cdef uint32_t slot
    if caplen == 0 or caplen > g.size:
        return
    if at + caplen > g.size:
        while g.count and g.recs[g.first].off >= at:
            ring_pop(g)
        at = 0
    while g.count:
        r = &g.recs[g.first]
        if r.off < at + caplen and r.off + r.caplen > at:
            ring_pop(g)
        else:
            break
    if g.count == g.slots:
        ring_pop(g)
    memcpy(g.arena + at, frame, caplen)
    slot = (g.first + g.count) % g.slots
    r = &g.recs[slot]
    r.ts_us = ts
    r.flow_id = flow_id
    r.off = <uint32_t>at
    r.caplen = caplen
    r.wire_len = wire_len
    r.linktype = <uint16_t>linktype
    if v != NULL and (v.ipver == 4 or v.ipver == 6):
        r.ipver = v.ipver
        r.src_tag = ring_tag(&v.src[0], v.ipver)
        r.dst_tag = ring_tag(&v.dst[0], v.ipver)
    else:
        r.ipver = 0
    g.count += 1
    g.head = at + caplen


cdef inline bint ring_has_addr(const Ring* g, const RingRec* r, const RingQuery* q) noexcept nogil:
    """Whether frame r decodes to IP of the query's version with its source (side 1) or
    destination (side 2) address equal to the query's."""
    cdef PacketView v
    cdef const uint8_t* got
    if decode_frame(g.arena + r.off, r.caplen, <int>r.linktype, &v, q.scratch,
                    q.ethertypes) != RES_IP or v.ipver != q.version:
        return False
    got = &v.src[0] if q.side == 1 else &v.dst[0]
    return memcmp(got, q.addr, q.alen) == 0


cdef inline bint ring_tag_says(const RingRec* r, const RingQuery* q, uint32_t tag,
                               bint* sure) noexcept nogil:
    """False when frame r's tags rule out the query's address (tag: ring_tag() of it);
    else True, with sure set when they prove it (an IPv4 tag is the address)."""
    sure[0] = False
    if r.ipver == 0:
        return True
    if r.ipver != q.version or (r.src_tag if q.side == 1 else r.dst_tag) != tag:
        return False
    sure[0] = q.version == 4
    return True


cdef inline uint32_t ring_pick(const Ring* g, const RingQuery* q, uint32_t* picked,
                               uint64_t* total) noexcept nogil:
    """The slots of the frames the query selects, oldest first, into picked (room for
    g.count); returns how many, their bytes in total."""
    cdef uint32_t k, slot, n = 0
    cdef uint64_t nbytes = 0
    cdef const RingRec* r
    # the ring's and the query's fields in locals: stores into picked[] could alias them
    cdef const RingRec* recs = g.recs
    cdef uint32_t count = g.count, first = g.first, slots = g.slots
    cdef bint by_flow = q.by_flow
    cdef uint64_t flow_id = q.flow_id
    cdef int64_t start_us = q.start_us, end_us = q.end_us
    cdef int side = q.side
    cdef uint32_t tag = ring_tag(q.addr, q.version) if side else 0
    cdef bint sure
    for k in range(count):
        slot = (first + k) % slots
        r = &recs[slot]
        if by_flow:
            if r.flow_id != flow_id:
                continue
        elif not (start_us <= r.ts_us < end_us):
            continue
        elif side and not (ring_tag_says(r, q, tag, &sure)
                           and (sure or ring_has_addr(g, r, q))):
            continue
        picked[n] = slot
        n += 1
        nbytes += r.caplen
    total[0] = nbytes
    return n


cdef inline void ring_copy(const Ring* g, const uint32_t* picked, uint32_t n, uint8_t* out,
                           uint32_t* meta) noexcept nogil:
    """The picked frames' bytes one after the other into out, and a (sec, usec, caplen,
    wire_len, linktype) row each into meta (n x 5)."""
    cdef uint32_t i
    cdef uint64_t pos = 0
    cdef const RingRec* r
    for i in range(n):
        r = &g.recs[picked[i]]
        if r.caplen:
            memcpy(out + pos, g.arena + r.off, r.caplen)
        meta[5 * i] = <uint32_t>(r.ts_us // 1000000)
        meta[5 * i + 1] = <uint32_t>(r.ts_us % 1000000)
        meta[5 * i + 2] = r.caplen
        meta[5 * i + 3] = r.wire_len
        meta[5 * i + 4] = r.linktype
        pos += r.caplen
