# KLL quantile sketch (Karnin, Lang & Liberty, "Optimal Quantile Approximation in Streams",
# FOCS 2016) over doubles, as Apache DataSketches' KllDoublesSketch builds it: levels of
# retained values, a value at level h standing for 2**h stream values; level h holds up to
# max(m, round(k * (2/3)**depth)) values, depth = num_levels - 1 - h (the top level k, each
# level below two thirds of the one above, none below m = 8). When level 0 is full, the
# lowest level at or over its capacity is compacted: sorted (level 0; the others are kept
# sorted), one value kept back when its count is odd, then every other value of the sorted
# run, starting at a random offset 0 or 1, moves up one level (merged into it) and the
# rest are dropped. When the top level is the one compacted, a level is added above it.
#
# Layout: one allocation per sketch, made once by kll_init for k and max_levels: the value
# buffer (KLL.n_slots doubles: the capacity of max_levels levels), the level boundaries
# and the capacity of each depth. The retained values sit at the end of the buffer, level 0
# lowest: level h is items[levels[h] .. levels[h+1]), levels[num_levels] == n_slots, and
# level 0 may grow down to KLL.base = n_slots - (capacity of num_levels levels). Adding a
# level moves nothing: base goes down by the new bottom level's capacity.
#
# Random bits come from a splitmix64 generator in the struct, seeded by kll_init: the same
# values in the same order with the same seed give the same sketch, bit for bit. kll_reset
# empties the sketch and keeps the generator running (a reset sketch does not replay the
# previous epoch's coin flips).
#
# Limit: with max_levels levels, a value is refused (KLL.dropped += 1) only when the top
# level is full and a level would have to be added: that takes at least k * 2**(max_levels-1)
# values (4.3e11 for k = 200 and the default 32 levels).
#
# Quantiles (kll_view_*): the retained values with their weights, sorted, cumulated; the
# q-quantile is the value at 0-based position ceil((n - 1) * q) of the weighted sorted
# stream, numpy's quantile(method="higher") (exact while nothing has been compacted, i.e.
# n <= k); q = 0 and q = 1 give the exact min and max. rank(x) is inclusive: the weight of
# retained values <= x over n.

from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memmove, memcpy
from libc.math cimport isnan, ceil, NAN

cdef enum:
    KLL_M = 8                 # smallest capacity of a level (DataSketches' m)
    KLL_MIN_K = 8             # DataSketches' bounds on k
    KLL_MAX_K = 65535
    KLL_MAX_LEVELS = 61       # depth <= 60, as DataSketches
    KLL_DEFAULT_LEVELS = 32

cdef struct KLL:
    double *items             # n_slots values; retained ones in [levels[0], n_slots)
    uint32_t *levels          # max_levels + 3 boundaries (merge's compaction reads two above)
    uint32_t *caps            # caps[depth], depth < max_levels
    uint64_t n                # values taken (NaN and dropped ones excluded)
    uint64_t nan_count        # NaN values ignored
    uint64_t dropped          # values refused because max_levels was reached
    uint64_t rng              # splitmix64 state
    double min_v              # exact min / max of the values taken; NaN while n == 0
    double max_v
    uint32_t k
    uint32_t max_levels
    uint32_t num_levels
    uint32_t n_slots          # capacity of max_levels levels
    uint32_t base             # lowest slot level 0 may use with num_levels levels
    int level0_sorted

cdef struct KLLPair:          # one retained value of a sorted view and its weight
    double v                  # (cumulated by kll_view_cumulate: the weight of values <= v)
    uint64_t w


cdef inline uint64_t kll_next(uint64_t *state) noexcept nogil:
    """splitmix64 (Steele, Lea & Flood 2014): the next 64 random bits."""
    state[0] += <uint64_t>0x9E3779B97F4A7C15
    cdef uint64_t z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
    return z ^ (z >> 31)


cdef inline uint32_t kll_cap_aux_aux(uint64_t k, uint32_t depth) noexcept nogil:
    """round(k * (2/3)**depth) in integers, depth <= 30 (DataSketches' intCapAuxAux)."""
    cdef uint64_t p3 = 1
    cdef uint32_t i
    for i in range(depth):
        p3 *= 3
    return <uint32_t>((((k << 1) << depth) // p3 + 1) >> 1)


cdef inline uint32_t kll_level_cap(uint32_t k, uint32_t depth) noexcept nogil:
    """Capacity of a level depth levels below the top: max(m, round(k * (2/3)**depth))."""
    cdef uint32_t c
    if depth <= 30:
        c = kll_cap_aux_aux(k, depth)
    else:
        c = kll_cap_aux_aux(kll_cap_aux_aux(k, depth // 2), depth - depth // 2)
    return c if c > KLL_M else KLL_M


cdef inline uint32_t kll_total_cap(const KLL *s, uint32_t num_levels) noexcept nogil:
    """Value slots num_levels levels may hold: the sum of caps[0 .. num_levels)."""
    cdef uint32_t t = 0, d
    for d in range(num_levels):
        t += s.caps[d]
    return t


cdef inline void kll_reset(KLL *s) noexcept nogil:
    """Empty the sketch (one empty level, n = 0, counts 0); the generator keeps running."""
    s.n = 0
    s.nan_count = 0
    s.dropped = 0
    s.min_v = NAN
    s.max_v = NAN
    s.num_levels = 1
    s.levels[0] = s.n_slots
    s.levels[1] = s.n_slots
    s.base = s.n_slots - s.caps[0]
    s.level0_sorted = 0


cdef inline int kll_init(KLL *s, uint32_t k, uint32_t max_levels, uint64_t seed) \
        except -1 nogil:
    """Allocate the sketch's one block for k (KLL_MIN_K..KLL_MAX_K) and max_levels
    (1..KLL_MAX_LEVELS) and empty it; -1 when malloc fails. The caller checks k and
    max_levels and frees with kll_free."""
    cdef uint32_t d, slots = 0
    s.items = NULL
    s.k = k
    s.max_levels = max_levels
    for d in range(max_levels):
        slots += kll_level_cap(k, d)
    cdef char *block = <char *>malloc(slots * sizeof(double)
                                      + (2 * max_levels + 3) * sizeof(uint32_t))
    if block == NULL:
        return -1
    s.items = <double *>block
    s.levels = <uint32_t *>(block + slots * sizeof(double))
    s.caps = s.levels + max_levels + 3
    for d in range(max_levels):
        s.caps[d] = kll_level_cap(k, d)
    s.n_slots = slots
    s.rng = seed
    kll_reset(s)
    return 0


cdef inline void kll_free(KLL *s) noexcept nogil:
    free(s.items)
    s.items = NULL


cdef inline size_t kll_size_bytes(const KLL *s) noexcept nogil:
    """Bytes of the sketch: the struct and its one block (fixed by k and max_levels)."""
    return sizeof(KLL) + s.n_slots * sizeof(double) + (2 * s.max_levels + 3) * sizeof(uint32_t)


cdef inline uint32_t kll_retained(const KLL *s) noexcept nogil:
    return s.n_slots - s.levels[0]


cdef inline void kll_sort(double *a, Py_ssize_t n) noexcept nogil:
    """Sort n values (no NaN) ascending in place: quicksort (median of three, Hoare
    partition, recursing into the smaller side: depth <= log2 n), insertion sort below 17.
    Inline, with no comparison callback: compactions sort level 0 every ~k/2 values."""
    cdef Py_ssize_t i, j, mid
    cdef double p, t
    while n > 16:
        mid = (n - 1) // 2
        if a[mid] < a[0]:
            t = a[mid]; a[mid] = a[0]; a[0] = t
        if a[n - 1] < a[0]:
            t = a[n - 1]; a[n - 1] = a[0]; a[0] = t
        if a[n - 1] < a[mid]:
            t = a[n - 1]; a[n - 1] = a[mid]; a[mid] = t
        p = a[mid]
        i = -1
        j = n
        while True:
            i += 1
            while a[i] < p:
                i += 1
            j -= 1
            while a[j] > p:
                j -= 1
            if i >= j:
                break
            t = a[i]; a[i] = a[j]; a[j] = t
        if j + 1 < n - j - 1:              # a[0..j] <= p <= a[j+1..n)
            kll_sort(a, j + 1)
            a += j + 1
            n -= j + 1
        else:
            kll_sort(a + j + 1, n - j - 1)
            n = j + 1
    for i in range(1, n):
        t = a[i]
        j = i
        while j > 0 and a[j - 1] > t:
            a[j] = a[j - 1]
            j -= 1
        a[j] = t


cdef inline void kll_halve_down(double *buf, uint32_t start, uint32_t length, uint64_t *rng) \
        noexcept nogil:
    """Keep every other value of the sorted run buf[start .. start+length) (length even),
    from a random offset 0 or 1, packed into its lower half."""
    cdef uint32_t half = length // 2, i
    cdef uint32_t j = start + <uint32_t>(kll_next(rng) >> 63)
    for i in range(start, start + half):
        buf[i] = buf[j]
        j += 2


cdef inline void kll_halve_up(double *buf, uint32_t start, uint32_t length, uint64_t *rng) \
        noexcept nogil:
    """As kll_halve_down, the kept values packed into the upper half of the run."""
    cdef uint32_t half = length // 2, i
    cdef uint32_t j = start + length - 1 - <uint32_t>(kll_next(rng) >> 63)
    i = start + length
    while i > start + half:
        i -= 1
        buf[i] = buf[j]
        j -= 2


cdef inline void kll_merge_sorted(const double *a, uint32_t na, const double *b, uint32_t nb,
                                  double *out) noexcept nogil:
    """Merge two sorted runs into out; out may end where b begins (out + na + nb <= b + nb,
    out >= a + na), as compaction does in place."""
    cdef uint32_t i = 0, j = 0, o = 0
    while i < na and j < nb:
        if b[j] < a[i]:
            out[o] = b[j]
            j += 1
        else:
            out[o] = a[i]
            i += 1
        o += 1
    while i < na:
        out[o] = a[i]
        i += 1
        o += 1
    while j < nb:
        out[o] = b[j]
        j += 1
        o += 1


cdef inline void kll_promote(double *buf, uint32_t adj_beg, uint32_t adj_pop,
                             uint32_t pop_above, uint64_t *rng) noexcept nogil:
    """The compaction of one level: half of its sorted even run buf[adj_beg ..
    adj_beg+adj_pop) (every other value, random offset) joins the sorted level above,
    which starts right after the run and holds pop_above values; the joined level then
    starts at adj_beg + adj_pop / 2."""
    cdef uint32_t half = adj_pop // 2
    if pop_above == 0:
        kll_halve_up(buf, adj_beg, adj_pop, rng)
    else:
        kll_halve_down(buf, adj_beg, adj_pop, rng)
        kll_merge_sorted(buf + adj_beg, half, buf + adj_beg + adj_pop, pop_above,
                         buf + adj_beg + half)


cdef inline int kll_compress(KLL *s) noexcept nogil:
    """Free room in level 0 (it is full): compact the lowest level at or over its capacity
    (DataSketches' compressWhileUpdatingSketch). -1 when that is the top level and the
    sketch already has max_levels levels (nothing changed)."""
    cdef uint32_t level = 0, nl = s.num_levels
    while level < nl - 1 and s.levels[level + 1] - s.levels[level] < s.caps[nl - 1 - level]:
        level += 1
    if level == nl - 1:
        if nl == s.max_levels:
            return -1
        s.base -= s.caps[nl]              # the new bottom level's capacity
        s.levels[nl + 1] = s.n_slots      # the new top level, empty
        s.num_levels = nl + 1
    cdef uint32_t raw_beg = s.levels[level], raw_end = s.levels[level + 1]
    cdef uint32_t pop_above = s.levels[level + 2] - raw_end
    cdef uint32_t raw_pop = raw_end - raw_beg
    cdef uint32_t odd = raw_pop & 1
    cdef uint32_t adj_beg = raw_beg + odd, adj_pop = raw_pop - odd, half = adj_pop // 2
    if level == 0 and not s.level0_sorted:
        kll_sort(s.items + adj_beg, adj_pop)
    kll_promote(s.items, adj_beg, adj_pop, pop_above, &s.rng)
    s.levels[level + 1] -= half
    if odd:
        s.levels[level] = s.levels[level + 1] - 1
        s.items[s.levels[level]] = s.items[raw_beg]
    else:
        s.levels[level] = s.levels[level + 1]
    # the levels below move up by half, giving the room to level 0
    if level > 0:
        memmove(s.items + s.levels[0] + half, s.items + s.levels[0],
                (raw_beg - s.levels[0]) * sizeof(double))
    cdef uint32_t lvl
    for lvl in range(level):
        s.levels[lvl] += half
    return 0


cdef inline int kll_update(KLL *s, double x) noexcept nogil:
    """Take one value: 1 taken, 0 NaN (counted in nan_count) or refused at max_levels
    (counted in dropped)."""
    if isnan(x):
        s.nan_count += 1
        return 0
    if s.levels[0] == s.base:
        if kll_compress(s) < 0:
            s.dropped += 1
            return 0
    if s.n == 0:
        s.min_v = x
        s.max_v = x
    elif x < s.min_v:
        s.min_v = x
    elif x > s.max_v:
        s.max_v = x
    s.levels[0] -= 1
    s.items[s.levels[0]] = x
    s.level0_sorted = 0
    s.n += 1
    return 1


cdef inline uint64_t kll_update_many(KLL *s, const double *xs, Py_ssize_t count,
                                     Py_ssize_t stride) noexcept nogil:
    """kll_update of count values xs[0], xs[stride], ... (stride in doubles); the number
    taken."""
    cdef Py_ssize_t i
    cdef uint64_t taken = 0
    for i in range(count):
        taken += kll_update(s, xs[i * stride])
    return taken


cdef inline uint32_t kll_level_pop(const KLL *s, uint32_t lvl) noexcept nogil:
    return s.levels[lvl + 1] - s.levels[lvl] if lvl < s.num_levels else 0


cdef inline int kll_general_compress(KLL *s, uint32_t num_levels, double *buf,
                                     uint32_t *in_lv, uint32_t *out_lv, uint32_t *out_pop) \
        noexcept nogil:
    """Compact the levels in buf (boundaries in_lv, num_levels levels; in_lv has room for
    s.max_levels + 3 entries) until the values fit their capacities (DataSketches'
    generalCompress, buf being both input and output). Writes out_lv (num_levels + 1
    boundaries) and the retained count; returns the final number of levels, -1 beyond
    s.max_levels."""
    cdef uint32_t cur = in_lv[num_levels] - in_lv[0]
    cdef uint32_t target = kll_total_cap(s, num_levels)
    cdef uint32_t lvl = 0, raw_beg, raw_end, raw_pop, pop_above, odd, adj_beg, adj_pop, half
    out_lv[0] = 0
    while True:
        if lvl == num_levels - 1:
            in_lv[lvl + 2] = in_lv[lvl + 1]
        raw_beg = in_lv[lvl]
        raw_end = in_lv[lvl + 1]
        raw_pop = raw_end - raw_beg
        if cur < target or raw_pop < s.caps[num_levels - 1 - lvl]:
            memmove(buf + out_lv[lvl], buf + raw_beg, raw_pop * sizeof(double))
            out_lv[lvl + 1] = out_lv[lvl] + raw_pop
        else:
            pop_above = in_lv[lvl + 2] - raw_end
            odd = raw_pop & 1
            adj_beg = raw_beg + odd
            adj_pop = raw_pop - odd
            half = adj_pop // 2
            if odd:
                buf[out_lv[lvl]] = buf[raw_beg]
                out_lv[lvl + 1] = out_lv[lvl] + 1
            else:
                out_lv[lvl + 1] = out_lv[lvl]
            if lvl == 0:
                kll_sort(buf + adj_beg, adj_pop)
            kll_promote(buf, adj_beg, adj_pop, pop_above, &s.rng)
            cur -= half
            in_lv[lvl + 1] -= half
            if lvl == num_levels - 1:
                if num_levels == s.max_levels:
                    return -1
                num_levels += 1
                target += s.caps[num_levels - 1]
        if lvl == num_levels - 1:
            out_pop[0] = cur
            return num_levels
        lvl += 1


cdef inline int kll_merge(KLL *s, const KLL *o, double *work, uint32_t *in_lv,
                          uint32_t *out_lv) noexcept nogil:
    """Add sketch o (same k) into s, as DataSketches merges: o's level 0 values are
    updated into s one by one, then the levels above are joined level by level with s's and
    compacted until they fit. work holds s.n_slots + o.n_slots doubles, in_lv and out_lv
    s.max_levels + 3 entries each. -1 when the result needs more than s.max_levels levels
    (s then holds o's level 0 but not the rest)."""
    cdef uint64_t n_before = s.n, dropped_before = s.dropped
    cdef uint32_t i, lvl, w, sp, op, nl
    cdef uint32_t pop
    cdef int r
    for i in range(o.levels[0], o.levels[1]):
        kll_update(s, o.items[i])
    if s.dropped != dropped_before:
        return -1
    if o.num_levels > 1:
        if o.num_levels > s.max_levels:
            return -1
        nl = s.num_levels if s.num_levels > o.num_levels else o.num_levels
        in_lv[0] = 0
        sp = kll_level_pop(s, 0)
        memcpy(work, s.items + s.levels[0], sp * sizeof(double))
        in_lv[1] = sp
        for lvl in range(1, nl):
            sp = kll_level_pop(s, lvl)
            op = kll_level_pop(o, lvl)
            w = in_lv[lvl]
            in_lv[lvl + 1] = w + sp + op
            kll_merge_sorted(s.items + s.levels[lvl] if sp else work, sp,
                             o.items + o.levels[lvl] if op else work, op, work + w)
        r = kll_general_compress(s, nl, work, in_lv, out_lv, &pop)
        if r < 0:
            return -1
        nl = <uint32_t>r
        memcpy(s.items + s.n_slots - pop, work + out_lv[0], pop * sizeof(double))
        for lvl in range(nl + 1):
            s.levels[lvl] = out_lv[lvl] - out_lv[0] + s.n_slots - pop
        s.num_levels = nl
        s.base = s.n_slots - kll_total_cap(s, nl)
        s.level0_sorted = 0
    if o.n:                               # NaN-safe: s may still be empty
        if not (o.min_v >= s.min_v):
            s.min_v = o.min_v
        if not (o.max_v <= s.max_v):
            s.max_v = o.max_v
    s.n = n_before + o.n
    s.nan_count += o.nan_count
    s.dropped += o.dropped
    return 0


cdef inline Py_ssize_t kll_view_add(const KLL *s, KLLPair *out, Py_ssize_t at) noexcept nogil:
    """Append s's retained values with their weights (2**level) at out[at ...], lowest
    level first; the new count (the caller gives room for kll_retained(s) more)."""
    cdef uint32_t lvl, i
    cdef uint64_t w = 1
    for lvl in range(s.num_levels):
        for i in range(s.levels[lvl], s.levels[lvl + 1]):
            out[at].v = s.items[i]
            out[at].w = w
            at += 1
        w <<= 1
    return at


cdef inline Py_ssize_t kll_merge_run(const KLLPair *a, Py_ssize_t na, const double *b,
                                     uint32_t nb, uint64_t w, KLLPair *out) noexcept nogil:
    """Merge sorted pairs a with the sorted run b (each value of weight w) into out."""
    cdef Py_ssize_t i = 0, o = 0
    cdef uint32_t j = 0
    while i < na and j < nb:
        if b[j] < a[i].v:
            out[o].v = b[j]
            out[o].w = w
            j += 1
        else:
            out[o] = a[i]
            i += 1
        o += 1
    while i < na:
        out[o] = a[i]
        i += 1
        o += 1
    while j < nb:
        out[o].v = b[j]
        out[o].w = w
        j += 1
        o += 1
    return o


cdef inline KLLPair *kll_view_collect(const KLL *s, KLLPair *view, Py_ssize_t *count,
                                      KLLPair *spare, double *scratch) noexcept nogil:
    """Merge s's retained values, level by level (each level is a sorted run; level 0 is
    sorted in scratch, s is left as it is), into the sorted pairs view[0 .. count[0]).
    view and spare each have room for all the pairs; returns the one now holding them (the
    other is free); count[0] is updated. O(r log levels) against O(r log r) for a sort."""
    cdef uint32_t lvl, pop
    cdef uint64_t w = 1
    cdef const double *run
    cdef KLLPair *t
    for lvl in range(s.num_levels):
        pop = s.levels[lvl + 1] - s.levels[lvl]
        if pop:
            run = s.items + s.levels[lvl]
            if lvl == 0 and not s.level0_sorted:
                memcpy(scratch, run, pop * sizeof(double))
                kll_sort(scratch, pop)
                run = scratch
            count[0] = kll_merge_run(view, count[0], run, pop, w, spare)
            t = view
            view = spare
            spare = t
        w <<= 1
    return view


cdef inline void kll_view_cumulate(KLLPair *view, Py_ssize_t count) noexcept nogil:
    """Turn the sorted pairs' weights into cumulated ones (w = weight of values <= v)."""
    cdef Py_ssize_t i
    for i in range(1, count):
        view[i].w += view[i - 1].w


cdef inline double kll_view_quantile(const KLLPair *view, Py_ssize_t count, uint64_t n,
                                     double lo, double hi, double q) noexcept nogil:
    """The q-quantile (q in [0, 1]) of a built view over n values with exact min lo and
    max hi: lo at q = 0, hi at q = 1, else the first value whose cumulated weight exceeds
    ceil((n - 1) * q) (numpy's method="higher"); NaN when n == 0 or q is outside [0, 1]."""
    if n == 0 or count == 0 or not (q >= 0.0 and q <= 1.0):
        return NAN
    if q == 0.0:
        return lo
    if q == 1.0:
        return hi
    cdef uint64_t pos = <uint64_t>ceil(<double>(n - 1) * q)
    cdef Py_ssize_t a = 0, b = count - 1, mid
    while a < b:                          # first i with view[i].w > pos
        mid = (a + b) // 2
        if view[mid].w > pos:
            b = mid
        else:
            a = mid + 1
    return view[a].v


cdef inline double kll_view_rank(const KLLPair *view, Py_ssize_t count, uint64_t n, double x) \
        noexcept nogil:
    """Inclusive normalized rank of x: the weight of values <= x over n; NaN when n == 0
    or x is NaN."""
    if n == 0 or isnan(x):
        return NAN
    cdef Py_ssize_t a = 0, b = count, mid
    while a < b:                          # first i with view[i].v > x
        mid = (a + b) // 2
        if view[mid].v > x:
            b = mid
        else:
            a = mid + 1
    return 0.0 if a == 0 else <double>view[a - 1].w / <double>n


# Windowed form: the quantiles of about the last `epoch` values. Two sketches take turns:
# values go into the current one; when it has taken `epoch` values it becomes the previous
# one and the other, reset, the current one. A query reads the union of both (their
# weighted values in one view: no merge, no extra compaction), so it covers the last
# epoch + c values, c = values in the current epoch (0 <= c < epoch), i.e. between epoch and
# 2 * epoch - 1 values once the first epoch is full, all values before.

cdef struct WKLL:
    KLL sk[2]
    uint64_t epoch            # values per epoch (>= 1)
    uint64_t in_cur           # values the current sketch has taken
    int cur                   # index of the current sketch
    int full                  # an epoch has been completed (sk[1 - cur] holds it)


cdef inline int wkll_init(WKLL *w, uint32_t k, uint32_t max_levels, uint64_t epoch,
                          uint64_t seed) except -1 nogil:
    """Both sketches allocated (seeds seed and seed + 1); -1 when malloc fails (then
    nothing stays allocated)."""
    w.sk[1].items = NULL
    if kll_init(&w.sk[0], k, max_levels, seed) < 0:
        return -1
    if kll_init(&w.sk[1], k, max_levels, seed + 1) < 0:
        kll_free(&w.sk[0])
        return -1
    w.epoch = epoch
    w.in_cur = 0
    w.cur = 0
    w.full = 0
    return 0


cdef inline void wkll_free(WKLL *w) noexcept nogil:
    kll_free(&w.sk[0])
    kll_free(&w.sk[1])


cdef inline void wkll_reset(WKLL *w) noexcept nogil:
    kll_reset(&w.sk[0])
    kll_reset(&w.sk[1])
    w.in_cur = 0
    w.cur = 0
    w.full = 0


cdef inline int wkll_update(WKLL *w, double x) noexcept nogil:
    """Take one value into the current epoch (1 taken, 0 NaN or dropped, as kll_update);
    the epoch turns right after the value that fills it."""
    if not kll_update(&w.sk[w.cur], x):
        return 0
    w.in_cur += 1
    if w.in_cur == w.epoch:
        w.cur = 1 - w.cur
        kll_reset(&w.sk[w.cur])
        w.in_cur = 0
        w.full = 1
    return 1


cdef inline uint64_t wkll_covered(const WKLL *w) noexcept nogil:
    """Values a query covers: the previous epoch's (when there is one) and the current's."""
    return w.sk[0].n + w.sk[1].n if w.full else w.sk[w.cur].n


cdef inline KLLPair *wkll_view(const WKLL *w, KLLPair *view, KLLPair *spare, double *scratch,
                               Py_ssize_t *count, double *lo, double *hi) noexcept nogil:
    """Build the view of the covered values (view and spare: room for both sketches'
    retained values; scratch: one sketch's n_slots); returns the buffer holding it, its
    pair count in count[0]; lo, hi: the covered values' exact min and max (NaN when none)."""
    cdef KLLPair *res
    cdef int i
    count[0] = 0
    lo[0] = NAN
    hi[0] = NAN
    for i in range(2):
        if w.sk[i].n == 0 or (i != w.cur and not w.full):
            continue
        res = kll_view_collect(&w.sk[i], view, count, spare, scratch)
        if res != view:
            spare = view
            view = res
        if not (w.sk[i].min_v >= lo[0]):
            lo[0] = w.sk[i].min_v
        if not (w.sk[i].max_v <= hi[0]):
            hi[0] = w.sk[i].max_v
    kll_view_cumulate(view, count[0])
    return view
