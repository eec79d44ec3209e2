"""The tail model's reference in C (wirescore/models/tail.py says what it computes and
why): the ring of learnt samples and, per scored column, the distinct values it holds
with their summed weight and count, kept sorted; learning a batch and the upper-tail
weights of a batch's values, without the GIL.

TailCore keeps exactly the state of the numpy formulation it replaces (kept in
tests/tail_reference.py and compared there on real flow records): the same weights
(integers in 1 / UNIT, rint of UNIT / burst as numpy rounds), the same run of newest
samples per column (none older than the ring holds, weights adding up to at most the
limit, at least the newest), the same distinct values. p_values returns
(UNIT + weight of the values >= x) / (UNIT + W_j) computed as numpy did; the caller
takes the logarithm (numpy's), so scores are bit for bit the same.

Values are ordered as numpy sorts them: NaN after every number, NaNs equal.
Memory: the ring (max_samples x columns doubles and int64 weights) and per column up to
max_samples distinct values (double, two int64), plus scratch of the batch's size.
"""
import numpy as np
cimport numpy as cnp

from libc.math cimport rint, isnan
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport malloc, free, qsort

cnp.import_array()

cdef int64_t UNIT = 1 << 20


cdef struct Scratch:            # one learn call's buffers, each of the batch's length
    double* v                   # a column's new values kept ...
    int64_t* w                  # ... and their weights
    double* fv                  # values not held yet: sorted, distinct ...
    int64_t* fw                 # ... their summed weight ...
    int64_t* fc                 # ... and count


cdef inline bint before(double a, double b) noexcept nogil:
    """a sorts before b (numpy's order: NaN last, NaNs equal)."""
    if isnan(a):
        return False
    if isnan(b):
        return True
    return a < b


cdef inline bint same(double a, double b) noexcept nogil:
    return a == b or (isnan(a) and isnan(b))


cdef int cmp_double(const void* pa, const void* pb) noexcept nogil:
    cdef double a = (<const double*>pa)[0], b = (<const double*>pb)[0]
    if before(a, b):
        return -1
    if before(b, a):
        return 1
    return 0


cdef inline Py_ssize_t lower_bound(const double* u, Py_ssize_t n, double x) noexcept nogil:
    """The first index i with u[i] >= x in numpy's order (n when none)."""
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if before(u[mid], x):
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef class TailCore:
    """The reference of one TailModel. by: per column, the column of its weight (-1:
    weight 1); scored: per column, 1 when a reference is kept. Attributes are read-only
    numpy views for tests (distinct(j) gives one column's values, weights, counts)."""

    cdef readonly Py_ssize_t k, window, size
    cdef readonly int64_t seq, limit
    cdef Py_ssize_t[::1] by
    cdef uint8_t[::1] scored
    cdef double[:, ::1] vals            # ring of learnt samples: slot = seq % size
    cdef int64_t[:, ::1] wts
    cdef int64_t[::1] first, total      # per column: oldest sample held, W_j (1/UNIT)
    cdef double[:, ::1] u               # per column: distinct values, sorted ...
    cdef int64_t[:, ::1] w, c           # ... their summed weight and count
    cdef Py_ssize_t[::1] nu

    def __init__(self, by, scored, Py_ssize_t window, Py_ssize_t size):
        self.by = np.ascontiguousarray(by, dtype=np.intp)
        self.scored = np.ascontiguousarray(scored, dtype=np.uint8)
        self.k = self.by.shape[0]
        if self.scored.shape[0] != self.k or self.k < 1:
            raise ValueError("one weight column and one scored flag per column")
        if np.asarray(self.by).max() >= self.k or np.asarray(self.by).min() < -1:
            raise ValueError("weight columns must be columns of the model (or -1)")
        if window < 1 or size < window:
            raise ValueError("size must be at least window >= 1")
        self.window, self.size = window, size
        self.limit = window * UNIT
        self.seq = 0
        self.vals = np.zeros((size, self.k))
        self.wts = np.zeros((size, self.k), dtype=np.int64)
        self.first = np.zeros(self.k, dtype=np.int64)
        self.total = np.zeros(self.k, dtype=np.int64)
        self.u = np.zeros((self.k, size))
        self.w = np.zeros((self.k, size), dtype=np.int64)
        self.c = np.zeros((self.k, size), dtype=np.int64)
        self.nu = np.zeros(self.k, dtype=np.intp)

    def __reduce__(self):
        state = self._arrays()
        state = tuple(a.copy() for a in state)
        return (_rebuild, (np.asarray(self.by).copy(), np.asarray(self.scored).copy(),
                           self.window, self.size, self.seq, state))

    def _arrays(self):
        """The state's arrays as numpy views (pickling order)."""
        return (np.asarray(self.vals), np.asarray(self.wts), np.asarray(self.first),
                np.asarray(self.total), np.asarray(self.u), np.asarray(self.w),
                np.asarray(self.c), np.asarray(self.nu))

    def _restore(self, seq, state):
        self.seq = seq
        for mine, saved in zip(self._arrays(), state):
            mine[...] = saved

    def distinct(self, Py_ssize_t j):
        """(values, weights, counts) of column j's reference, sorted by value (copies)."""
        n = self.nu[j]
        return (np.asarray(self.u[j, :n]).copy(), np.asarray(self.w[j, :n]).copy(),
                np.asarray(self.c[j, :n]).copy())

    def held(self, Py_ssize_t j):
        """(oldest sample held, W_j in 1 / UNIT) of column j."""
        return int(self.first[j]), int(self.total[j])

    def _rows(self, X):
        x = np.ascontiguousarray(X, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.k:
            raise ValueError(f"expected rows of {self.k} features")
        return x

    def p_values(self, X):
        """(n, columns): (UNIT + weight of column j's reference values >= x) /
        (UNIT + W_j) for each row's value x; NaN in columns not scored or with an empty
        reference."""
        cdef const double[:, ::1] x = self._rows(X)
        cdef Py_ssize_t n = x.shape[0], i, j, nu, idx
        out = np.full((n, self.k), np.nan)
        cdef double[:, ::1] p = out
        cdef int64_t* suffix = <int64_t*>malloc((self.size + 1) * sizeof(int64_t))
        if suffix == NULL:
            raise MemoryError()
        try:
            with nogil:
                for j in range(self.k):
                    nu = self.nu[j]
                    if not self.scored[j] or nu == 0:
                        continue
                    suffix[nu] = 0
                    for i in range(nu - 1, -1, -1):
                        suffix[i] = suffix[i + 1] + self.w[j, i]
                    for i in range(n):
                        idx = lower_bound(&self.u[j, 0], nu, x[i, j])
                        p[i, j] = <double>(UNIT + suffix[idx]) / <double>(UNIT + self.total[j])
        finally:
            free(suffix)
        return out

    def learn(self, X):
        """Add the rows of X to the reference as if one after the other (the oldest
        leave as it fills)."""
        cdef const double[:, ::1] x = self._rows(X)
        cdef Py_ssize_t m = x.shape[0], i, j
        if m == 0:
            return
        weights = np.full((m, self.k), UNIT, dtype=np.int64)
        cdef int64_t[:, ::1] wt = weights
        cdef double burst
        cdef int64_t r
        cdef int64_t seq0 = self.seq, seq1 = self.seq + m
        cdef int64_t low = seq1 - self.size if seq1 > self.size else 0, row
        cdef Scratch sc
        sc.v = <double*>malloc((m + 1) * sizeof(double))
        sc.w = <int64_t*>malloc((m + 1) * sizeof(int64_t))
        sc.fv = <double*>malloc((m + 1) * sizeof(double))
        sc.fw = <int64_t*>malloc((m + 1) * sizeof(int64_t))
        sc.fc = <int64_t*>malloc((m + 1) * sizeof(int64_t))
        try:
            if sc.v == NULL or sc.w == NULL or sc.fv == NULL or sc.fw == NULL \
                    or sc.fc == NULL:
                raise MemoryError()
            with nogil:
                for j in range(self.k):
                    if self.by[j] < 0:
                        continue
                    for i in range(m):
                        # max(1, rint(UNIT / max(1, burst))); a NaN burst weighs 1
                        burst = x[i, self.by[j]]
                        if isnan(burst):
                            wt[i, j] = 1
                            continue
                        if burst < 1.0:
                            burst = 1.0
                        r = <int64_t>rint(<double>UNIT / burst)
                        wt[i, j] = r if r > 1 else 1
                for j in range(self.k):
                    if self.scored[j]:
                        self._learn_column(j, x, wt, seq0, seq1, low, &sc)
                row = seq0 if seq0 > low else low
                while row < seq1:
                    for j in range(self.k):
                        self.vals[row % self.size, j] = x[row - seq0, j]
                        self.wts[row % self.size, j] = wt[row - seq0, j]
                    row += 1
                self.seq = seq1
        finally:
            free(sc.v)
            free(sc.w)
            free(sc.fv)
            free(sc.fw)
            free(sc.fc)

    cdef inline int64_t _weight(self, Py_ssize_t j, int64_t idx, int64_t seq0,
                                int64_t[:, ::1] wt) noexcept nogil:
        """The weight of sample idx in column j: from the ring when older than the
        batch, else from the batch."""
        if idx < seq0:
            return self.wts[idx % self.size, j]
        return wt[idx - seq0, j]

    cdef void _learn_column(self, Py_ssize_t j, const double[:, ::1] x, int64_t[:, ::1] wt,
                            int64_t seq0, int64_t seq1, int64_t low,
                            Scratch* sc) noexcept nogil:
        """Column j after samples seq0..seq1-1: it keeps the longest run of the newest
        samples, none older than low (the ring), whose weights add up to at most the
        limit (at least the newest sample); the samples that leave are taken out of its
        distinct values and the new ones it keeps put in."""
        cdef int64_t first = self.first[j], total = self.total[j], idx, start, cut
        cdef int64_t new_from = seq0 if seq0 > low else low
        cdef int64_t gone_end
        cdef Py_ssize_t i, n
        cut = first if first > low else low
        if cut > seq0:
            cut = seq0
        idx = first
        while idx < cut:
            total -= self.wts[idx % self.size, j]
            idx += 1
        idx = new_from
        while idx < seq1:
            total += wt[idx - seq0, j]
            idx += 1
        start = first if first > low else low
        while total > self.limit and start < seq1 - 1:
            total -= self._weight(j, start, seq0, wt)
            start += 1
        gone_end = start if start < seq0 else seq0
        idx = first
        while idx < gone_end:
            self._remove(j, self.vals[idx % self.size, j], self.wts[idx % self.size, j])
            idx += 1
        self._compact(j)
        n = 0
        idx = start if start > seq0 else seq0
        while idx < seq1:
            sc.v[n] = x[idx - seq0, j]
            sc.w[n] = wt[idx - seq0, j]
            n += 1
            idx += 1
        self._insert(j, sc, n)
        self.first[j] = start
        self.total[j] = total

    cdef void _remove(self, Py_ssize_t j, double v, int64_t weight) noexcept nogil:
        """One held sample out of column j's distinct values (its entry stays, with
        count 0, until _compact)."""
        cdef Py_ssize_t idx = lower_bound(&self.u[j, 0], self.nu[j], v)
        if idx < self.nu[j] and same(self.u[j, idx], v):
            self.w[j, idx] -= weight
            self.c[j, idx] -= 1

    cdef void _compact(self, Py_ssize_t j) noexcept nogil:
        cdef Py_ssize_t i, m = 0
        for i in range(self.nu[j]):
            if self.c[j, i] > 0:
                if m != i:
                    self.u[j, m] = self.u[j, i]
                    self.w[j, m] = self.w[j, i]
                    self.c[j, m] = self.c[j, i]
                m += 1
        self.nu[j] = m

    cdef void _insert(self, Py_ssize_t j, Scratch* sc, Py_ssize_t n) noexcept nogil:
        """The n new samples of sc (v, w) into column j's distinct values: those already
        held added to their entry, the others sorted, summed per value and merged in
        (one pass from the end)."""
        cdef Py_ssize_t i, idx, fresh = 0, a = 0, b, out
        cdef double* v = sc.v
        cdef int64_t* weight = sc.w
        for i in range(n):
            idx = lower_bound(&self.u[j, 0], self.nu[j], v[i])
            if idx < self.nu[j] and same(self.u[j, idx], v[i]):
                self.w[j, idx] += weight[i]
                self.c[j, idx] += 1
            else:                               # kept for the merge, in place
                v[fresh] = v[i]
                weight[fresh] = weight[i]
                fresh += 1
        if fresh == 0:
            return
        for i in range(fresh):
            sc.fv[i] = v[i]
        qsort(sc.fv, fresh, sizeof(double), cmp_double)
        for i in range(fresh):                  # distinct fresh values, in order
            if a == 0 or not same(sc.fv[i], sc.fv[a - 1]):
                sc.fv[a] = sc.fv[i]
                sc.fw[a] = 0
                sc.fc[a] = 0
                a += 1
        for i in range(fresh):
            idx = lower_bound(sc.fv, a, v[i])
            sc.fw[idx] += weight[i]
            sc.fc[idx] += 1
        # merge from the end: held entries [0, nu) and fresh values [0, a)
        b = self.nu[j]
        out = b + a
        i = a
        while i > 0:
            out -= 1
            if b > 0 and before(sc.fv[i - 1], self.u[j, b - 1]):
                b -= 1
                self.u[j, out] = self.u[j, b]
                self.w[j, out] = self.w[j, b]
                self.c[j, out] = self.c[j, b]
            else:
                i -= 1
                self.u[j, out] = sc.fv[i]
                self.w[j, out] = sc.fw[i]
                self.c[j, out] = sc.fc[i]
        self.nu[j] += a

def _rebuild(by, scored, window, size, seq, state):
    """A TailCore from its pickled parameters and state."""
    core = TailCore(by, scored, window, size)
    core._restore(seq, state)
    return core
