"""Streaming quantile sketches for the models: KLLSketch and WindowedKLL over ext/kll.pxd.

KLLSketch is Apache DataSketches' KllDoublesSketch (Karnin, Lang & Liberty, FOCS 2016)
in a fixed block of memory: quantiles of a stream of doubles with a normalized rank error
of at most normalized_rank_error(k) (DataSketches' fit to the 99th percentile of the
measured maximum error: 1.33 % for k = 200; 1.65 % "double-sided", for the difference of two
ranks) whatever the stream, in size_bytes that depend on k and max_levels only.

Conventions:
- quantile(q), q in [0, 1]: numpy's quantile(method="higher") of the stream, the value at
  0-based position ceil((n - 1) * q) of the sorted stream as the sketch knows it (exact
  while n <= k); q = 0 and q = 1 give the exact min and max; NaN when empty or q is
  outside [0, 1].
- rank(x): inclusive, the fraction of stream values <= x (estimated); NaN when empty.
- NaN values are ignored and counted (nan_count); n counts the values taken.
- Deterministic: the same values in the same order with the same seed give the same
  sketch and the same answers.
- Values beyond k * 2**(max_levels - 1) may be refused; they are counted (dropped).

Batch methods (update_many, quantiles, ranks) run without the GIL. One object is not
thread-safe: one sketch per thread.

    >>> s = KLLSketch(k=200, seed=1)
    >>> s.update_many(np.arange(1000, dtype=np.float64))
    1000
    >>> abs(s.rank(s.quantile(0.5)) - 0.5) <= normalized_rank_error(200)
    True
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.math cimport NAN, pow

from kll cimport *

cnp.import_array()

MIN_K = KLL_MIN_K
MAX_K = KLL_MAX_K
MAX_LEVELS = KLL_MAX_LEVELS
DEFAULT_LEVELS = KLL_DEFAULT_LEVELS


def normalized_rank_error(int k, bint pmf=False):
    """DataSketches' a-priori normalized rank error of a KLL sketch with parameter k, at 99 %
    confidence (their fit to measured errors, getNormalizedRankError): single-sided (any
    rank or quantile query) 2.296 / k**0.9723, or with pmf=True double-sided (a difference of
    two ranks, e.g. a histogram bar) 2.446 / k**0.9433."""
    return 2.446 / pow(k, 0.9433) if pmf else 2.296 / pow(k, 0.9723)


def _check(int k, int max_levels):
    if k < KLL_MIN_K or k > KLL_MAX_K:
        raise ValueError(f"k must be in [{KLL_MIN_K}, {KLL_MAX_K}], got {k}")
    if max_levels < 1 or max_levels > KLL_MAX_LEVELS:
        raise ValueError(f"max_levels must be in [1, {KLL_MAX_LEVELS}], got {max_levels}")


cdef double[::1] _as_doubles(values):
    return np.ascontiguousarray(values, dtype=np.float64).reshape(-1)


cdef class _View:
    """A sorted view's storage, allocated once: two buffers of `size` pairs (the view is
    merged from one into the other, level by level) and `slots` doubles to sort level 0."""
    cdef KLLPair *a
    cdef KLLPair *b
    cdef double *scratch
    cdef KLLPair *pairs                  # a or b: the built view
    cdef Py_ssize_t size, slots

    def __cinit__(self, Py_ssize_t size, Py_ssize_t slots):
        self.a = <KLLPair *>malloc(max(size, 1) * 2 * sizeof(KLLPair) + max(slots, 1) * sizeof(double))
        if self.a == NULL:
            raise MemoryError()
        self.b = self.a + max(size, 1)
        self.scratch = <double *>(self.b + max(size, 1))
        self.pairs = self.a
        self.size = size
        self.slots = slots

    def __dealloc__(self):
        free(self.a)

    @property
    def nbytes(self):
        return max(self.size, 1) * 2 * sizeof(KLLPair) + max(self.slots, 1) * sizeof(double)


cdef object _quantiles(const KLLPair *view, Py_ssize_t count, uint64_t n, double lo,
                       double hi, qs):
    cdef double[::1] q = _as_doubles(qs)
    out = np.empty(q.shape[0], dtype=np.float64)
    cdef double[::1] o = out
    cdef Py_ssize_t i
    with nogil:
        for i in range(q.shape[0]):
            o[i] = kll_view_quantile(view, count, n, lo, hi, q[i])
    return out


cdef object _ranks(const KLLPair *view, Py_ssize_t count, uint64_t n, xs):
    cdef double[::1] x = _as_doubles(xs)
    out = np.empty(x.shape[0], dtype=np.float64)
    cdef double[::1] o = out
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            o[i] = kll_view_rank(view, count, n, x[i])
    return out


cdef class KLLSketch:
    """KLL quantile sketch of a stream of doubles (see the module docstring).

    Parameters: k (8..65535, default 200): accuracy, error ~ 1/k; max_levels (1..61,
    default 32): fixes the memory (no value refused before k * 2**(max_levels-1));
    seed: the compaction coins' generator.
    Cost: update amortized O(1) (a compaction sorts at most k values every ~k/2 values);
    a query after updates sorts the retained values once (O(r log r), r <= ~3k), then
    O(log r) per quantile or rank.
    """
    cdef KLL s
    cdef _View view
    cdef Py_ssize_t view_count
    cdef bint view_ok
    cdef readonly uint64_t seed

    def __cinit__(self, int k=200, int max_levels=KLL_DEFAULT_LEVELS, uint64_t seed=0):
        _check(k, max_levels)
        self.s.items = NULL
        if kll_init(&self.s, k, max_levels, seed) < 0:
            raise MemoryError()
        self.view = _View(self.s.n_slots, self.s.n_slots)
        self.view_ok = False
        self.seed = seed

    def __dealloc__(self):
        kll_free(&self.s)

    def update(self, double x):
        """Add one value (NaN ignored and counted)."""
        kll_update(&self.s, x)
        self.view_ok = False

    def update_many(self, const double[:] values):
        """Add a 1-d float64 array of values in order, without the GIL; returns how many
        were taken (NaN and refused values are counted, not taken)."""
        cdef uint64_t taken
        cdef Py_ssize_t stride = values.strides[0] // <Py_ssize_t>sizeof(double)
        if values.shape[0] == 0:
            return 0
        with nogil:
            taken = kll_update_many(&self.s, &values[0], values.shape[0], stride)
        self.view_ok = False
        return taken

    def merge(self, KLLSketch other not None):
        """Add other's stream (same k) into this sketch: its quantiles are then those of
        both streams, within the bound for the combined n."""
        if other.s.k != self.s.k:
            raise ValueError(f"cannot merge a k={other.s.k} sketch into a k={self.s.k} one")
        cdef double *work = <double *>malloc((self.s.n_slots + other.s.n_slots) * sizeof(double))
        cdef uint32_t *lv = <uint32_t *>malloc(2 * (self.s.max_levels + 3) * sizeof(uint32_t))
        cdef int r
        if work == NULL or lv == NULL:
            free(work)
            free(lv)
            raise MemoryError()
        with nogil:
            r = kll_merge(&self.s, &other.s, work, lv, lv + self.s.max_levels + 3)
        free(work)
        free(lv)
        self.view_ok = False
        if r < 0:
            raise OverflowError(f"merged sketch needs more than max_levels="
                                f"{self.s.max_levels} levels")

    def reset(self):
        """Empty the sketch (n, counts, min, max); the coin generator keeps running."""
        kll_reset(&self.s)
        self.view_ok = False

    cdef void _build(self) noexcept:
        if not self.view_ok:
            self.view_count = 0
            with nogil:
                self.view.pairs = kll_view_collect(&self.s, self.view.a, &self.view_count,
                                                   self.view.b, self.view.scratch)
                kll_view_cumulate(self.view.pairs, self.view_count)
            self.view_ok = True

    def quantile(self, double q):
        """The q-quantile, numpy's method="higher" convention (module docstring)."""
        self._build()
        return kll_view_quantile(self.view.pairs, self.view_count, self.s.n, self.s.min_v,
                                 self.s.max_v, q)

    def quantiles(self, qs):
        """quantile() of each of qs (array-like), as a float64 array."""
        self._build()
        return _quantiles(self.view.pairs, self.view_count, self.s.n, self.s.min_v,
                          self.s.max_v, qs)

    def rank(self, double x):
        """Inclusive normalized rank of x: estimated fraction of values <= x."""
        self._build()
        return kll_view_rank(self.view.pairs, self.view_count, self.s.n, x)

    def ranks(self, xs):
        """rank() of each of xs (array-like), as a float64 array."""
        self._build()
        return _ranks(self.view.pairs, self.view_count, self.s.n, xs)

    def retained(self):
        """(values, weights): the retained values, lowest level first, and the stream
        values each stands for (2**level)."""
        cdef Py_ssize_t i, c = kll_view_add(&self.s, self.view.a, 0)
        self.view_ok = False
        v = np.empty(c, dtype=np.float64)
        w = np.empty(c, dtype=np.uint64)
        for i in range(c):
            v[i] = self.view.a[i].v
            w[i] = self.view.a[i].w
        return v, w

    @property
    def k(self):
        return self.s.k

    @property
    def max_levels(self):
        return self.s.max_levels

    @property
    def n(self):
        """Values taken."""
        return self.s.n

    @property
    def nan_count(self):
        return self.s.nan_count

    @property
    def dropped(self):
        """Values refused because max_levels was reached."""
        return self.s.dropped

    @property
    def min(self):
        """Exact smallest value taken; NaN when empty."""
        return self.s.min_v

    @property
    def max(self):
        return self.s.max_v

    @property
    def num_levels(self):
        return self.s.num_levels

    @property
    def num_retained(self):
        return kll_retained(&self.s)

    @property
    def size_bytes(self):
        """Bytes of the sketch (struct and its block), fixed by k and max_levels; the sorted
        view of queries adds 40 bytes a slot (view_bytes)."""
        return kll_size_bytes(&self.s)

    @property
    def view_bytes(self):
        return self.view.nbytes


cdef class WindowedKLL:
    """Quantiles of about the last `epoch` values: two KLL sketches taking turns, one
    epoch of `epoch` values each; a query reads the previous (full) epoch and the current
    one together, i.e. the last epoch + c values, 0 <= c < epoch (between epoch and
    2 * epoch - 1 values; all of them before the first epoch is full). covered gives that
    count; the error bound is the sketch's, relative to the covered values.

    Parameters as KLLSketch, and epoch (>= 1): values per epoch. Memory: two sketches and
    a view of both.
    """
    cdef WKLL w
    cdef _View view
    cdef Py_ssize_t view_count
    cdef double lo, hi
    cdef bint view_ok

    def __cinit__(self, uint64_t epoch, int k=200, int max_levels=KLL_DEFAULT_LEVELS,
                  uint64_t seed=0):
        _check(k, max_levels)
        if epoch < 1:
            raise ValueError("epoch must be >= 1")
        self.w.sk[0].items = NULL
        self.w.sk[1].items = NULL
        if wkll_init(&self.w, k, max_levels, epoch, seed) < 0:
            raise MemoryError()
        self.view = _View(2 * self.w.sk[0].n_slots, self.w.sk[0].n_slots)
        self.view_ok = False

    def __dealloc__(self):
        wkll_free(&self.w)

    def update(self, double x):
        """Add one value (NaN ignored); the epoch turns right after the value that fills it."""
        wkll_update(&self.w, x)
        self.view_ok = False

    def update_many(self, const double[:] values):
        """Add values in order without the GIL (epochs turn inside the batch); returns how
        many were taken."""
        cdef Py_ssize_t i, stride = values.strides[0] // <Py_ssize_t>sizeof(double)
        cdef uint64_t taken = 0
        if values.shape[0] == 0:
            return 0
        cdef const double *p = &values[0]
        with nogil:
            for i in range(values.shape[0]):
                taken += wkll_update(&self.w, p[i * stride])
        self.view_ok = False
        return taken

    def reset(self):
        wkll_reset(&self.w)
        self.view_ok = False

    cdef void _build(self) noexcept:
        if not self.view_ok:
            with nogil:
                self.view.pairs = wkll_view(&self.w, self.view.a, self.view.b,
                                            self.view.scratch, &self.view_count, &self.lo,
                                            &self.hi)
            self.view_ok = True

    def quantile(self, double q):
        """The q-quantile of the covered values (KLLSketch.quantile's convention)."""
        self._build()
        return kll_view_quantile(self.view.pairs, self.view_count, wkll_covered(&self.w),
                                 self.lo, self.hi, q)

    def quantiles(self, qs):
        self._build()
        return _quantiles(self.view.pairs, self.view_count, wkll_covered(&self.w), self.lo,
                          self.hi, qs)

    def rank(self, double x):
        self._build()
        return kll_view_rank(self.view.pairs, self.view_count, wkll_covered(&self.w), x)

    @property
    def covered(self):
        """How many of the latest values the queries cover."""
        return wkll_covered(&self.w)

    @property
    def epoch(self):
        return self.w.epoch

    @property
    def size_bytes(self):
        return (kll_size_bytes(&self.w.sk[0]) + kll_size_bytes(&self.w.sk[1])
                + sizeof(WKLL) - 2 * sizeof(KLL))

    @property
    def view_bytes(self):
        return self.view.nbytes
