# Bounded keyed tables (the endpoint context's and the scan tables'): a fixed array of
# rows, a hash index over it (chain heads; the rows chain through their own hnext),
# and a clock hand that picks the row a new key takes.
#
# The first lap fills the rows in order, so no key is replaced while a row was never
# used. Then the hand looks at up to CLOCK_REACH rows from where it stopped: a row whose
# key is no longer live (each table says what live means, by a recency stamp in its
# rows) is taken at once; when every row it looked at is live, the one touched least
# recently is taken, and that is counted (wirescore.ctx_*_replaced). So a table replaces
# live state only when it is (nearly) full of live keys: with a share f of its rows
# live, CLOCK_REACH live rows in a row come up once in 1 / f**CLOCK_REACH new keys (f =
# 0.5: never in practice; f = 0.8: one in 1,300; f = 0.9: one in 30): a replacement
# counted says a larger table would have kept the state.
#
# The rows are typed by their table (context.pxd, scans.pxd); these functions see them
# as bytes: a row's stride and where its hnext and its stamp lie in it. Links hold a
# row's number + 1 (0 ends a chain), so zeroed memory is an empty index: the heads and
# the rows are calloc'd and touched only as they are used.
#
# Inline, used by flowtable.pyx without the GIL.

from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset

from enums cimport CLOCK_REACH   # rows the hand looks at (core_names.py SIZES: 32)

cdef enum:
    CLOCK_FRESH = 0          # clock_pick(): a row never used
    CLOCK_DEAD = 1           # ... a row whose key was no longer live
    CLOCK_LIVE = 2           # ... the least recent of CLOCK_REACH live rows (replaced)

cdef struct Clock:
    int32_t* heads           # n chain heads: row + 1, 0: empty
    uint32_t n               # rows (a power of two)
    uint32_t filled          # rows used so far (the first lap)
    uint32_t hand            # the row the hand looks at next (after the first lap)


cdef inline int clock_init(Clock* c, uint32_t n) noexcept nogil:
    """An index of n rows (a power of two); -1 when out of memory."""
    c.n = n
    c.filled = 0
    c.hand = 0
    c.heads = <int32_t*>calloc(n, sizeof(int32_t))
    return -1 if c.heads == NULL else 0


cdef inline void clock_free(Clock* c) noexcept nogil:
    free(c.heads)
    c.heads = NULL


cdef inline int32_t clock_head(const Clock* c, uint64_t h) noexcept nogil:
    """The first row of the chain of hash h, or -1."""
    return c.heads[h & (c.n - 1)] - 1


cdef inline int32_t clock_after(int32_t hnext) noexcept nogil:
    """The row after one whose hnext is `hnext`, or -1 at the chain's end."""
    return hnext - 1


cdef inline int32_t* clock_next(char* next0, size_t stride, int32_t row) noexcept nogil:
    """The hnext of `row` (the next row + 1), next0 being that of row 0."""
    return <int32_t*>(next0 + <size_t>row * stride)


cdef inline int64_t clock_stamp(const char* stamp0, size_t stride, uint32_t row) noexcept nogil:
    return (<const int64_t*>(stamp0 + <size_t>row * stride))[0]


cdef inline int32_t clock_pick(Clock* c, const char* stamp0, size_t stride, int64_t dead_to,
                               int* took) noexcept nogil:
    """The row a new key takes: a fresh one during the first lap; then, from the hand
    on, the first row whose stamp is at most dead_to (its key no longer live), else the
    least recent (smallest stamp) of the CLOCK_REACH rows looked at. *took says which
    (CLOCK_FRESH, CLOCK_DEAD, CLOCK_LIVE); stamp0: the stamp of row 0."""
    cdef uint32_t k, row, reach = CLOCK_REACH if c.n > CLOCK_REACH else c.n
    cdef int32_t best = -1
    cdef int64_t stamp, best_stamp = 0
    if c.filled < c.n:
        took[0] = CLOCK_FRESH
        c.filled += 1
        return <int32_t>(c.filled - 1)
    for k in range(reach):
        row = c.hand
        c.hand = (c.hand + 1) & (c.n - 1)
        stamp = clock_stamp(stamp0, stride, row)
        if stamp <= dead_to:
            took[0] = CLOCK_DEAD
            return <int32_t>row
        if best < 0 or stamp < best_stamp:
            best = <int32_t>row
            best_stamp = stamp
    took[0] = CLOCK_LIVE
    return best


cdef inline void clock_unlink(Clock* c, uint64_t h, int32_t row, char* next0,
                              size_t stride) noexcept nogil:
    """Take `row` (its key hashing to h) out of its chain."""
    cdef int32_t* link = &c.heads[h & (c.n - 1)]
    while link[0] != row + 1:
        link = clock_next(next0, stride, link[0] - 1)
    link[0] = clock_next(next0, stride, row)[0]


cdef inline void clock_evict(Clock* c, int took, uint64_t old_h, int32_t row, char* next0,
                             size_t stride, uint64_t* replaced) noexcept nogil:
    """Free the row clock_pick() gave (`took`): unlink its old key (hashing to old_h)
    unless the row was fresh, and count it in replaced when that key was live."""
    if took == CLOCK_FRESH:
        return
    clock_unlink(c, old_h, row, next0, stride)
    if took == CLOCK_LIVE:
        replaced[0] += 1


cdef inline void clock_link(Clock* c, uint64_t h, int32_t row, char* next0,
                            size_t stride) noexcept nogil:
    """Put `row` (its key hashing to h) at the head of its chain."""
    clock_next(next0, stride, row)[0] = c.heads[h & (c.n - 1)]
    c.heads[h & (c.n - 1)] = row + 1


cdef inline void clock_reuse(Clock* c, int took, uint64_t old_h, uint64_t h, int32_t row,
                             char* row0, char* next0, size_t stride,
                             uint64_t* replaced) noexcept nogil:
    """Give the row clock_pick() gave (`took`) to a new key hashing to h: its old key
    (hashing to old_h) evicted and counted as clock_evict() does, the row zeroed (its
    stride bytes from row0, row 0's start) and put at the head of h's chain; the caller
    then writes the new key into it."""
    clock_evict(c, took, old_h, row, next0, stride, replaced)
    memset(row0 + <size_t>row * stride, 0, stride)
    clock_link(c, h, row, next0, stride)
