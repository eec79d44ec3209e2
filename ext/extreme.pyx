"""The extreme-counts model's arithmetic in C (wirescore/models/extreme.py says what it
computes and why): quantities from feature rows, scores against the reference, and
winsorised learning into a ring with the reference refreshed from an order statistic,
over a whole batch without the GIL.

ExtremeCore gives the same numbers as the numpy formulation it replaces (kept in
tests/extreme_reference.py and compared there on real window records): the same
products in the same order, the same order statistic (numpy's method="higher": index
ceil(q * (n - 1)) of the sorted ring row), found by selection instead of a sort. A score
is numpy's log2 of the row's largest ratio (1 + x) / (1 + R) (the C loop finds the
ratio; log2 is increasing, so this is the largest of the logarithms numpy took), so
scores are bit for bit what they were.

The order statistic lies among a row's largest values, so each quantity keeps the set
of its ring slots whose value is > a level tau, and how many filled slots hold a value >
tau (gt) and == tau (eq), up to date as values come and go (a few comparisons a value
learnt). The answer is the need-th largest value (need = n - at): a refresh selects it
among the set when gt >= need (every value outside the set is smaller); it is tau itself
when gt < need <= gt + eq (counts are mostly ties: this is the common case, and costs
nothing); else it searches the whole row and builds the set again. After a selection
tau may rise to the value 2 * refresh places below the answer (so the set stays about
that size); it never falls except by a rebuild. A refresh then costs the set's size at
most, not the ring's.

Memory: the ring (quantities x memory doubles), the sets (quantities x memory int32
slots and flags) and a scratch row of `memory` doubles.
"""
import numpy as np
cimport numpy as cnp

from libc.math cimport ceil, INFINITY
from libc.stdint cimport int32_t, uint8_t

cnp.import_array()

cdef double POSINF_AS = 1e300       # +inf quantities count as this (numpy nan_to_num)


cdef inline void swap(double* a, Py_ssize_t i, Py_ssize_t j) noexcept nogil:
    cdef double t = a[i]
    a[i] = a[j]
    a[j] = t


cdef void select_kth(double* a, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """Rearrange a[0:n] so that a[k] holds the value a sort would put there, every value
    before it <= a[k] and every value after it >= a[k] (0 <= k < n, no NaN).
    Quickselect with a median-of-three pivot and a three-way partition, so runs of equal
    values (counts are mostly ties) end in one step."""
    cdef Py_ssize_t lo = 0, hi = n - 1, lt, gt, i, mid
    cdef double pivot
    while hi > lo:
        mid = lo + (hi - lo) // 2
        if a[mid] < a[lo]:
            swap(a, mid, lo)
        if a[hi] < a[lo]:
            swap(a, hi, lo)
        if a[hi] < a[mid]:
            swap(a, hi, mid)
        pivot = a[mid]
        # a[lo:lt] < pivot, a[lt:i] == pivot, a[gt+1:hi+1] > pivot
        lt, i, gt = lo, lo, hi
        while i <= gt:
            if a[i] < pivot:
                swap(a, lt, i)
                lt += 1
                i += 1
            elif a[i] > pivot:
                swap(a, i, gt)
                gt -= 1
            else:
                i += 1
        if k < lt:
            hi = lt - 1
        elif k > gt:
            lo = gt + 1
        else:
            return


cdef class ExtremeCore:
    """The state of one ExtremeCounts model (see extreme.py for the parameters).

    terms: (quantities, T) int32 feature indices of each quantity's product, -1 after
    its last term; floors: one per quantity (> 0). Attributes reference and cap are
    numpy views of the model's state (read them, never write them)."""

    cdef readonly Py_ssize_t k, nfeat, memory, refresh, filled, next, since, learnt
    cdef readonly Py_ssize_t whole_searches   # refreshes that searched a whole row
    cdef readonly double quantile, margin
    cdef int32_t[:, ::1] terms
    cdef double[::1] floors, ref, cap
    cdef double[:, ::1] ring
    # per quantity: the level tau, the slots of the ring once > tau (stale ones are
    # dropped at the next selection), a flag per slot listed, how many filled slots
    # hold a value > tau and == tau now, and whether the set must be built again
    cdef double[::1] tau
    cdef int32_t[:, ::1] slots
    cdef uint8_t[:, ::1] listed
    cdef Py_ssize_t[::1] nslots, gt, eq
    cdef uint8_t[::1] rebuild
    cdef double[::1] scratch
    cdef object _ref_array, _cap_array

    def __init__(self, terms, floors, Py_ssize_t nfeat, double quantile, double margin,
                 Py_ssize_t memory, Py_ssize_t refresh):
        self.terms = np.ascontiguousarray(terms, dtype=np.int32)
        self.k = self.terms.shape[0]
        if self.k < 1 or np.asarray(floors).shape != (self.k,):
            raise ValueError("one floor per quantity, at least one quantity")
        t = np.asarray(self.terms)
        if t.shape[1] < 1 or (t[:, 0] < 0).any() or t.max() >= nfeat or t.min() < -1:
            raise ValueError("terms must name features 0..nfeat-1, -1 after the last")
        if not 0 < refresh <= memory:
            raise ValueError("refresh must lie in 1..memory")
        self.nfeat, self.quantile, self.margin = nfeat, quantile, margin
        self.memory, self.refresh = memory, refresh
        self.floors = np.array(floors, dtype=np.float64)
        self._ref_array = np.array(floors, dtype=np.float64)
        self._cap_array = np.array(floors, dtype=np.float64)
        self.ref = self._ref_array
        self.cap = self._cap_array
        self.ring = np.zeros((self.k, memory))
        self.tau = np.full(self.k, -np.inf)
        self.slots = np.zeros((self.k, memory), dtype=np.int32)
        self.listed = np.zeros((self.k, memory), dtype=np.uint8)
        self.nslots = np.zeros(self.k, dtype=np.intp)
        self.gt = np.zeros(self.k, dtype=np.intp)
        self.eq = np.zeros(self.k, dtype=np.intp)
        self.rebuild = np.zeros(self.k, dtype=np.uint8)
        self.scratch = np.empty(memory)
        self.filled = self.next = self.since = self.learnt = self.whole_searches = 0

    def __reduce__(self):
        state = (np.asarray(self.ring).copy(), self._ref_array.copy(), self._cap_array.copy(),
                 self.filled, self.next, self.since, self.learnt)
        return (_rebuild, (np.asarray(self.terms).copy(), np.asarray(self.floors).copy(),
                           self.nfeat, self.quantile, self.margin, self.memory,
                           self.refresh, state))

    def _restore(self, state):
        ring, ref, cap, self.filled, self.next, self.since, self.learnt = state
        np.asarray(self.ring)[...] = ring
        np.asarray(self.rebuild)[...] = 1           # the sets: built at the next refresh
        np.asarray(self.ref)[...] = ref
        np.asarray(self.cap)[...] = cap

    @property
    def reference(self):
        """R_q per quantity (a read-only view)."""
        view = self._ref_array.view()
        view.flags.writeable = False
        return view

    def quantities(self, X):
        """(n, quantities) from (n, features) float64: each quantity the product of its
        features in order, then negatives and NaN as 0 and +inf as 1e300."""
        cdef const double[:, ::1] x = self._rows(X)
        out = np.empty((x.shape[0], self.k))
        cdef double[:, ::1] q = out
        with nogil:
            self._quantities(x, q)
        return out

    def score(self, Q):
        """max over quantities of log2((1 + Q) / (1 + R)) per row of Q (n, quantities)."""
        cdef const double[:, ::1] q = self._quantity_rows(Q)
        out = np.empty(q.shape[0])
        cdef double[::1] s = out
        with nogil:
            self._ratio(q, 0, q.shape[0], s)
        return np.log2(out, out=out)

    def learn(self, Q):
        """Learn the rows of Q (n, quantities) in order."""
        cdef const double[:, ::1] q = self._quantity_rows(Q)
        with nogil:
            self._learn(q, 0, q.shape[0])

    def score_learn(self, X):
        """Scores of the rows of X (n, features), each row scored with the reference as
        it stood at the start of its block (rows up to the next refresh), then learnt."""
        cdef const double[:, ::1] x = self._rows(X)
        cdef Py_ssize_t n = x.shape[0], i = 0, take
        Q = np.empty((n, self.k))
        out = np.empty(n)
        cdef double[:, ::1] q = Q
        cdef double[::1] s = out
        with nogil:
            self._quantities(x, q)
            while i < n:
                take = self.refresh - self.since
                if take > n - i:
                    take = n - i
                self._ratio(q, i, i + take, s)
                self._learn(q, i, i + take)
                i += take
        return np.log2(out, out=out)

    def _quantity_rows(self, Q):
        q = np.ascontiguousarray(Q, dtype=np.float64)
        if q.ndim != 2 or q.shape[1] != self.k:
            raise ValueError(f"Q must have {self.k} columns")
        return q

    def _rows(self, X):
        x = np.ascontiguousarray(X, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.nfeat:
            raise ValueError(f"X must have {self.nfeat} columns")
        return x

    # ------------------------------------------------------------ in C

    cdef void _quantities(self, const double[:, ::1] x, double[:, ::1] q) noexcept nogil:
        cdef Py_ssize_t i, j, t, T = self.terms.shape[1]
        cdef double v
        for i in range(x.shape[0]):
            for j in range(self.k):
                v = x[i, self.terms[j, 0]]
                for t in range(1, T):
                    if self.terms[j, t] < 0:
                        break
                    v = v * x[i, self.terms[j, t]]
                if not v > 0.0:              # negative, zero or NaN
                    v = 0.0
                elif v == INFINITY:
                    v = POSINF_AS
                q[i, j] = v

    cdef void _ratio(self, const double[:, ::1] q, Py_ssize_t a, Py_ssize_t b,
                     double[::1] out) noexcept nogil:
        """Per row of q[a:b], the largest (1 + x) / (1 + R) over its quantities."""
        cdef Py_ssize_t i, j
        cdef double best, d
        for i in range(a, b):
            best = 0.0
            for j in range(self.k):
                d = (1.0 + q[i, j]) / (1.0 + self.ref[j])
                if d > best:
                    best = d
            out[i] = best

    cdef void _learn(self, const double[:, ::1] q, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
        cdef Py_ssize_t i, j, slot
        cdef double v
        cdef bint turned, was_filled
        for i in range(a, b):
            slot = self.next
            was_filled = self.filled == self.memory or slot < self.filled
            for j in range(self.k):
                v = q[i, j]
                if v > self.cap[j]:
                    v = self.cap[j]
                if not self.rebuild[j]:
                    if was_filled:
                        if self.ring[j, slot] > self.tau[j]:
                            self.gt[j] -= 1
                        elif self.ring[j, slot] == self.tau[j]:
                            self.eq[j] -= 1
                    if v > self.tau[j]:
                        self.gt[j] += 1
                        if not self.listed[j, slot]:
                            self.listed[j, slot] = 1
                            self.slots[j, self.nslots[j]] = <int32_t>slot
                            self.nslots[j] += 1
                    elif v == self.tau[j]:
                        self.eq[j] += 1
                self.ring[j, slot] = v
            self.next = (self.next + 1) % self.memory
            if self.filled < self.memory:
                self.filled += 1
            self.since += 1
            self.learnt += 1
            turned = self.learnt % self.memory == 0
            if self.since >= self.refresh or turned:
                self.since = 0
                for j in range(self.k):
                    v = self.margin * self._high(j)
                    self.ref[j] = v if v > self.floors[j] else self.floors[j]
            if turned:
                for j in range(self.k):
                    self.cap[j] = self.ref[j]

    cdef void _build(self, Py_ssize_t j, double level) noexcept nogil:
        """Row j's set made again from the ring: the filled slots holding > level."""
        cdef Py_ssize_t i, m = 0, ties = 0
        cdef double* row = &self.ring[j, 0]
        for i in range(self.memory):
            self.listed[j, i] = 0
        for i in range(self.filled):
            if row[i] > level:
                self.slots[j, m] = <int32_t>i
                self.listed[j, i] = 1
                m += 1
            elif row[i] == level:
                ties += 1
        self.tau[j] = level
        self.nslots[j] = m
        self.gt[j] = m
        self.eq[j] = ties
        self.rebuild[j] = 0

    cdef Py_ssize_t _gather(self, Py_ssize_t j, double* out) noexcept nogil:
        """The values of row j's set (> tau) into out, stale slots dropped; returns how
        many (gt)."""
        cdef Py_ssize_t i, m = 0, slot
        cdef double v, level = self.tau[j]
        for i in range(self.nslots[j]):
            slot = self.slots[j, i]
            v = self.ring[j, slot]
            if v > level:
                self.slots[j, m] = <int32_t>slot
                out[m] = v
                m += 1
            else:
                self.listed[j, slot] = 0
        self.nslots[j] = m
        return m

    cdef void _raise(self, Py_ssize_t j, double level) noexcept nogil:
        """tau of row j up to level (> tau): the set's values <= level leave it, those
        == level are counted as ties (every value > the old tau is in the set)."""
        cdef Py_ssize_t i, m = 0, ties = 0, slot
        cdef double v
        for i in range(self.nslots[j]):
            slot = self.slots[j, i]
            v = self.ring[j, slot]
            if v > level:
                self.slots[j, m] = <int32_t>slot
                m += 1
            else:
                self.listed[j, slot] = 0
                if v == level:
                    ties += 1
        self.tau[j] = level
        self.nslots[j] = m
        self.gt[j] = m
        self.eq[j] = ties

    cdef double _high(self, Py_ssize_t j) noexcept nogil:
        """The `quantile` (numpy's "higher") of ring row j's filled part (module
        docstring): tau itself when the ties at tau hold it, else selected among the
        set when it holds enough values, else among the whole row (the set then built
        again); after a selection tau rises to the value 2 * refresh places below the
        answer when that lies at least refresh places below it."""
        cdef Py_ssize_t n = self.filled, at, need, m, i, base, below
        cdef Py_ssize_t spare = 2 * self.refresh
        cdef double answer, level = -INFINITY
        cdef double* row = &self.ring[j, 0]
        cdef double* s = &self.scratch[0]
        at = <Py_ssize_t>ceil((n - 1) * self.quantile)
        need = n - at
        if not self.rebuild[j] and self.gt[j] < need <= self.gt[j] + self.eq[j]:
            return self.tau[j]
        if not self.rebuild[j] and self.gt[j] >= need:
            m = self._gather(j, s)
            base = n - m                    # the index of s's least value in the row
        else:
            for i in range(n):
                s[i] = row[i]
            m, base = n, 0
            self.rebuild[j] = 1
            self.whole_searches += 1
        select_kth(s, m, at - base)
        answer = s[at - base]
        below = at - spare
        if below < base:
            below = base
        if below <= at - spare // 2:
            if below < at:
                select_kth(s, at - base, below - base)
            level = s[below - base]
        if self.rebuild[j]:
            self._build(j, level)
        elif level > self.tau[j]:
            self._raise(j, level)
        return answer

def _rebuild(terms, floors, nfeat, quantile, margin, memory, refresh, state):
    """An ExtremeCore from its pickled parameters and state."""
    core = ExtremeCore(terms, floors, nfeat, quantile, margin, memory, refresh)
    core._restore(state)
    return core
