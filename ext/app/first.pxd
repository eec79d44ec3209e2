# First-bytes statistics of the directions no protocol claims: the entropy, printable
# share and file magic (bytes.pxd) of a direction's first payload bytes, computed once,
# when the probes give the direction up, and kept until the flow's record is written in
# the summary of the flow's AppRec (app.pxd: a flow of no protocol has no summary of its
# own; 8 of its 40 bytes a direction). The flow table entry does not grow. A flow with
# no record when its first direction is given up takes a free one, never one taken back
# from another flow: with the pool full its statistics are not kept (counted:
# wirescore.app_first_bytes_skipped).
#
# Which bytes: UDP, the first datagram of the direction (as captured); TCP, the first
# segment when no probe asks for more, else the in-order bytes joined in the stream's
# hold while the probes looked at them (at most APP_PROBE), up to where they gave up, a
# gap, a FIN or RST, or the flow's end. At most the protocols table's first_bytes of
# them (setting app.first_bytes; 0: none). A flow whose protocol is found (either
# direction matched a probe) writes 0 in every column: its bytes are its parser's, and
# its summary is emptied for its room when the probe matches.
#
# Inline, used without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t
from features cimport FlowRecord
from app.bytes cimport BytesStats, bytes_parse

cdef enum:
    FIRST_ENTROPY_SCALE = 8191     # FirstBytes.entropy: bits per byte x this (0..65528)
    FIRST_BYTES_MAX = 65535        # the most bytes one direction's statistics cover

cdef struct FirstBytes:
    uint16_t n                     # bytes examined (0: none)
    uint16_t printable             # of them printable (bytes.pxd bytes_printable)
    uint16_t entropy               # Shannon entropy, bits per byte x FIRST_ENTROPY_SCALE
    uint8_t magic                  # MAGIC_* (bytes.pxd)
    uint8_t pad


cdef inline void first_take(FirstBytes* f, const uint8_t* p, uint32_t n, uint32_t full,
                            uint32_t limit) noexcept nogil:
    """The statistics of p[0:n], the first bytes of a direction whose payload (as far
    as known) is full bytes, over at most limit (<= FIRST_BYTES_MAX) of them. A
    direction keeps its first statistics; nothing is done when limit or n is 0."""
    cdef BytesStats s
    if f.n or limit == 0 or n == 0:
        return
    if n > limit:
        n = limit
    if full < n:
        full = n
    bytes_parse(p, n, full, &s)
    f.n = <uint16_t>s.n
    f.printable = <uint16_t>(<double>s.printable * s.n + 0.5)
    f.entropy = <uint16_t>(<double>s.entropy * FIRST_ENTROPY_SCALE + 0.5)
    f.magic = s.magic


cdef inline bint first_any(const void* summary) noexcept nogil:
    """Whether a summary holds the statistics of either direction."""
    cdef const FirstBytes* f = <const FirstBytes*>summary
    return f[0].n != 0 or f[1].n != 0


cdef inline void first_record(const void* summary, FlowRecord* r) noexcept nogil:
    """The flow record's app_first_* columns from the two directions' statistics in a
    summary (0 toserver)."""
    cdef const FirstBytes* f = <const FirstBytes*>summary
    r.app_first_bytes_toserver = f[0].n
    r.app_first_bytes_toclient = f[1].n
    r.app_first_entropy_toserver = f[0].entropy / <double>FIRST_ENTROPY_SCALE
    r.app_first_entropy_toclient = f[1].entropy / <double>FIRST_ENTROPY_SCALE
    r.app_first_printable_toserver = f[0].printable / <double>f[0].n if f[0].n else 0.0
    r.app_first_printable_toclient = f[1].printable / <double>f[1].n if f[1].n else 0.0
    r.app_first_magic_toserver = f[0].magic
    r.app_first_magic_toclient = f[1].magic
