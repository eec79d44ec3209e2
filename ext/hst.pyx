"""Half-Space Trees, the hot path: walks and mass updates over rows of doubles, nogil.

HSTCore holds the trees of one model (hst.pxd: heap-ordered HSTNode arrays) and runs
River's algorithm (river.anomaly.HalfSpaceTrees, as of River 0.26) on them:

- learn: every tree is walked root to leaf; each node passed, the leaf included, gets
  l_mass += 1. After window_size samples the window turns: r_mass = l_mass and
  l_mass = 0 on every node, and the model leaves its first window.
- score: 0 during the first window. After it, every tree is walked root to leaf adding
  r_mass * 2**depth of each node passed, stopping after the first node whose r_mass is
  below size_limit = 0.1 * window_size; the score is 1 - total / max_score with
  max_score = n_trees * window_size * (2**(height+1) - 1): in [0, 1], higher = more
  anomalous (few recent samples fell where this one falls).
- a missing feature (NaN in a row, an absent key in a mapping) sends the walk to the
  child with the larger l_mass (the left one on a tie), as River does for an absent
  key. River sends an explicit NaN value to the right child; here NaN means missing.

Scores are bit-identical to River's: masses are integers, their weighted sum is exact
in an int64 (max_score < 2**53 is checked), and the last step is the same double
division. The trees themselves (split features, thresholds) are drawn in Python
(wirescore.models.hst) with River's random draws, or copied from a River model, and
loaded here with load().

The three row methods (score_row, learn_row, score_learn_row) take a pointer to
n_features doubles and need no GIL; score_learn_row is "score, then learn" in a single
walk. They are not thread-safe on one model: one model per thread.
"""
import numpy as np
cimport cython
cimport numpy as cnp

from cpython.dict cimport PyDict_GetItem
from cpython.ref cimport PyObject
from libc.stdint cimport int32_t, uint32_t, int64_t
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memcpy
from libc.math cimport NAN, ceil

from hst cimport *


cnp.import_array()

cdef HSTNode _dummy_node
NODE_DTYPE = np.asarray(<HSTNode[:1]>(&_dummy_node)).dtype
MAX_TREE_HEIGHT = MAX_HEIGHT
MAX_WINDOW = 0x7FFFFFFF             # masses are uint32; a window of 2**31 - 1 samples at most
EXACT_LIMIT = 1 << 53               # max_score below this: every partial sum is exact


def check_params(Py_ssize_t n_trees, int height, Py_ssize_t window_size):
    """Raise ValueError unless (n_trees, height, window_size) make a model this core runs.

    n_trees >= 1; 0 <= height <= MAX_TREE_HEIGHT; 1 <= window_size <= MAX_WINDOW; and
    max_score = n_trees * window_size * (2**(height+1) - 1) < 2**53, so that scores are
    exact (they are sums of integers in a double).
    """
    if n_trees < 1:
        raise ValueError(f"n_trees must be >= 1, got {n_trees}")
    if height < 0 or height > MAX_HEIGHT:
        raise ValueError(f"height must be between 0 and {MAX_HEIGHT}, got {height}")
    if window_size < 1 or window_size > MAX_WINDOW:
        raise ValueError(f"window_size must be between 1 and {MAX_WINDOW}, got {window_size}")
    nodes = (1 << (height + 1)) - 1
    if <object>n_trees * <object>window_size * nodes >= EXACT_LIMIT:   # Python ints
        raise ValueError(f"n_trees * window_size * (2**(height+1) - 1) must be < 2**53, "
                         f"got {n_trees} * {window_size} * {nodes}")


cdef inline Py_ssize_t child(const HSTNode* tree, Py_ssize_t i, const double* x,
                             bint gaps) noexcept nogil:
    """Index of the child of internal node i that x goes to. The direction is as good as
    random, so it is computed, not branched on. With gaps (x has a NaN), a missing value
    takes the child with the larger l_mass, the left on a tie; without, the test is
    compiled out (the callers pass a constant)."""
    cdef double v = x[tree[i].feature]
    if gaps and v != v:
        return 2 * i + 1 + (tree[2 * i + 1].l_mass < tree[2 * i + 2].l_mass)
    return 2 * i + 1 + (not (v < tree[i].threshold))


cdef inline bint has_nan(const double* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    cdef bint nan = False
    for j in range(n):
        nan |= x[j] != x[j]
    return nan


# The trees of a model are walked TREE_CHUNK at a time, level by level: the walks of a
# chunk are independent chains of dependent loads (node -> feature value -> child), and
# taking one step of each in turn lets the CPU overlap them (measured: 1.6x faster than
# one whole walk after the other, 10 trees of height 8).

cdef inline void learn_trees(HSTNode* nodes, Py_ssize_t n_trees, Py_ssize_t n_nodes,
                             int height, const double* x, bint gaps) noexcept nogil:
    """l_mass += 1 on every node of x's path in every tree, the leaf included."""
    cdef HSTNode* trees[TREE_CHUNK]
    cdef Py_ssize_t idx[TREE_CHUNK]
    cdef Py_ssize_t t0 = 0, t, m
    cdef int d
    while t0 < n_trees:
        m = n_trees - t0 if n_trees - t0 < TREE_CHUNK else TREE_CHUNK
        for t in range(m):
            trees[t] = nodes + (t0 + t) * n_nodes
            idx[t] = 0
        for d in range(height):
            for t in range(m):
                trees[t][idx[t]].l_mass += 1
                idx[t] = child(trees[t], idx[t], x, gaps)
        for t in range(m):
            trees[t][idx[t]].l_mass += 1
        t0 += m


cdef inline int64_t score_trees(const HSTNode* nodes, Py_ssize_t n_trees,
                                Py_ssize_t n_nodes, int height, uint32_t limit,
                                const double* x, bint gaps) noexcept nogil:
    """Sum over trees of r_mass * 2**depth along x's path, up to and including the
    first node whose r_mass is below limit (or the leaf). A tree that has stopped
    stays in step with a zero mask; the chunk ends when all have stopped."""
    cdef const HSTNode* trees[TREE_CHUNK]
    cdef Py_ssize_t idx[TREE_CHUNK]
    cdef int64_t keep[TREE_CHUNK]      # -1 while the tree's sum runs, then 0
    cdef Py_ssize_t t0 = 0, t, m
    cdef int d
    cdef int64_t total = 0, live
    cdef uint32_t r
    while t0 < n_trees:
        m = n_trees - t0 if n_trees - t0 < TREE_CHUNK else TREE_CHUNK
        for t in range(m):
            trees[t] = nodes + (t0 + t) * n_nodes
            idx[t] = 0
            keep[t] = -1
        live = -1
        for d in range(height):
            live = 0
            for t in range(m):
                r = trees[t][idx[t]].r_mass
                total += (<int64_t>r << d) & keep[t]
                keep[t] &= -(<int64_t>(r >= limit))
                live |= keep[t]
                idx[t] = child(trees[t], idx[t], x, gaps)
            if live == 0:
                break
        if live != 0:
            for t in range(m):
                total += (<int64_t>trees[t][idx[t]].r_mass << height) & keep[t]
        t0 += m
    return total


cdef inline int64_t score_learn_trees(HSTNode* nodes, Py_ssize_t n_trees,
                                      Py_ssize_t n_nodes, int height, uint32_t limit,
                                      const double* x, bint gaps) noexcept nogil:
    """score_trees then learn_trees in one walk per tree. Both see the trees as they
    were before x: the sum reads r_mass, which learning leaves alone, and child()
    compares the children's l_mass before they are incremented. The walk goes to the
    leaf anyway, so a stopped sum is masked, not branched on."""
    cdef HSTNode* trees[TREE_CHUNK]
    cdef Py_ssize_t idx[TREE_CHUNK]
    cdef int64_t keep[TREE_CHUNK]
    cdef Py_ssize_t t0 = 0, t, m
    cdef int d
    cdef int64_t total = 0
    cdef uint32_t r
    cdef HSTNode* node
    while t0 < n_trees:
        m = n_trees - t0 if n_trees - t0 < TREE_CHUNK else TREE_CHUNK
        for t in range(m):
            trees[t] = nodes + (t0 + t) * n_nodes
            idx[t] = 0
            keep[t] = -1
        for d in range(height):
            for t in range(m):
                node = trees[t] + idx[t]
                r = node.r_mass
                total += (<int64_t>r << d) & keep[t]
                keep[t] &= -(<int64_t>(r >= limit))
                node.l_mass += 1
                idx[t] = child(trees[t], idx[t], x, gaps)
        for t in range(m):
            node = trees[t] + idx[t]
            total += (<int64_t>node.r_mass << height) & keep[t]
            node.l_mass += 1
        t0 += m
    return total


@cython.final
cdef class HSTCore:
    """The trees and window state of one Half-Space Trees model.

    Parameters
    ----------
    names : sequence of hashable
        Feature names in column order: column j of a row is the feature names[j], and a
        mapping sample is read as x[names[j]] (absent = missing).
    n_trees, height, window_size : int
        As in River; see check_params() for the accepted ranges. Memory is
        24 * n_trees * (2**(height+1) - 1) bytes (10 trees of height 8: 123 kB).

    Read-only attributes: names, n_features, n_trees, height, window_size; counter
    (samples learnt in the latest window: the window turns when it reaches window_size,
    and it is 0 again) and first_window (True until a window has turned; scores are 0
    until then).

    A new core holds placeholder trees (every split on column 0 at NaN: all samples go
    right); load() puts real ones in. Samples are learnt and scored through mappings
    (learn_one, score_one, score_learn_one) or float64 C-contiguous 2-d arrays, one row
    per sample (learn_many, score_many, score_learn_many); the batched methods run
    without the GIL and equal the per-row calls in row order.
    """

    cdef HSTNode* nodes
    cdef readonly Py_ssize_t n_trees
    cdef readonly int height
    cdef readonly uint32_t window_size
    cdef readonly Py_ssize_t n_features
    cdef readonly tuple names          # feature names, in column order
    cdef readonly uint32_t counter     # samples learnt in the latest window, < window_size
    cdef readonly bint first_window    # no full window learnt yet: scores are 0
    cdef Py_ssize_t n_nodes            # per tree: 2**(height+1) - 1
    cdef uint32_t limit                # a score walk stops after a node whose r_mass is
                                       # below this: ceil(0.1 * window_size), since for an
                                       # integer r, r < s <=> r < ceil(s)
    cdef double max_score              # n_trees * window_size * (2**(height+1) - 1)

    def __cinit__(self, names, Py_ssize_t n_trees, int height, Py_ssize_t window_size):
        cdef Py_ssize_t k, n_internal
        check_params(n_trees, height, window_size)
        self.names = tuple(names)
        if len(self.names) == 0:
            raise ValueError("a model needs at least one feature")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"feature names repeat: {self.names}")
        self.n_features = len(self.names)
        self.n_trees = n_trees
        self.height = height
        self.n_nodes = (<Py_ssize_t>1 << (height + 1)) - 1
        self.window_size = <uint32_t>window_size
        self.limit = <uint32_t>ceil(0.1 * window_size)
        self.max_score = <double>(n_trees * window_size * self.n_nodes)
        self.counter = 0
        self.first_window = True
        self.nodes = <HSTNode*>calloc(n_trees * self.n_nodes, sizeof(HSTNode))
        if self.nodes == NULL:
            raise MemoryError(f"cannot allocate {n_trees} trees of height {height}")
        n_internal = (<Py_ssize_t>1 << height) - 1
        for k in range(n_trees * self.n_nodes):
            self.nodes[k].threshold = NAN
            self.nodes[k].feature = 0 if k % self.n_nodes < n_internal else -1

    def __dealloc__(self):
        free(self.nodes)

    def __reduce__(self):
        return (_rebuild, (self.names, self.n_trees, self.height, self.window_size,
                           self.export(), self.counter, self.first_window))

    # ------------------------------------------------------------ state

    def load(self, nodes, Py_ssize_t counter=0, bint first_window=True):
        """Replace the trees and window state.

        nodes: array of NODE_DTYPE, shape (n_trees, 2**(height+1) - 1), heap order (the
        children of node i are 2i+1, left, and 2i+2). On the 2**height - 1 internal
        nodes, feature must be a column index in [0, n_features); leaves' feature and
        threshold are ignored. Masses must not exceed window_size (a River model's
        never do). counter: samples already learnt in the latest window,
        0 <= counter < window_size. first_window: True until a window has turned.
        ValueError on any violation, and then nothing changes.
        """
        arr = np.asarray(nodes)
        if arr.dtype != NODE_DTYPE:
            raise ValueError(f"nodes must have dtype NODE_DTYPE, got {arr.dtype}")
        if arr.shape != (self.n_trees, self.n_nodes):
            raise ValueError(f"nodes must have shape ({self.n_trees}, {self.n_nodes}), "
                             f"got {arr.shape}")
        cdef Py_ssize_t k, n_internal = (1 << self.height) - 1
        feats = arr["feature"][:, :n_internal]
        if feats.size and (feats.min() < 0 or feats.max() >= self.n_features):
            raise ValueError(f"split features must be column indices in "
                             f"[0, {self.n_features})")
        if arr["l_mass"].max() > self.window_size or arr["r_mass"].max() > self.window_size:
            raise ValueError(f"node masses must not exceed window_size ({self.window_size})")
        if counter < 0 or counter >= self.window_size:
            raise ValueError(f"counter must be in [0, {self.window_size}), got {counter}")
        arr = np.ascontiguousarray(arr)
        cdef const unsigned char[::1] raw = arr.view(np.uint8).reshape(-1)
        memcpy(self.nodes, &raw[0], self.n_trees * self.n_nodes * sizeof(HSTNode))
        for k in range(self.n_trees * self.n_nodes):      # leaves marked as leaves
            if k % self.n_nodes >= n_internal:
                self.nodes[k].feature = -1
                self.nodes[k].threshold = NAN
            self.nodes[k].pad = 0
        self.counter = <uint32_t>counter
        self.first_window = first_window

    def export(self):
        """The trees as a NODE_DTYPE array of shape (n_trees, nodes per tree), a copy."""
        cdef Py_ssize_t nbytes = self.n_trees * self.n_nodes * sizeof(HSTNode)
        flat = np.frombuffer(<char[:nbytes]><char*>self.nodes, dtype=NODE_DTYPE).copy()
        return flat.reshape(self.n_trees, self.n_nodes)

    # ------------------------------------------------------------ one sample (mapping)

    def learn_one(self, x):
        """Learn one sample, a mapping of feature name to number (absent = missing)."""
        self._one(x, DO_LEARN)

    def score_one(self, x):
        """Score of one mapping sample, in [0, 1] (0 during the first window); the
        model does not change."""
        return self._one(x, DO_SCORE)

    def score_learn_one(self, x):
        """score_one(x), then learn_one(x); returns the score."""
        return self._one(x, DO_SCORE | DO_LEARN)

    # ------------------------------------------------------------ batches (2-d float64)

    def learn_many(self, const double[:, ::1] X):
        """learn_one of every row of X, in order (window turns included)."""
        self._check_width(X)
        cdef Py_ssize_t i, n = X.shape[0]
        if n == 0:
            return
        with nogil:
            for i in range(n):
                self.learn_row(&X[i, 0])

    def score_many(self, const double[:, ::1] X):
        """score_one of every row of X against the current model (which does not change);
        float64 array of len(X)."""
        self._check_width(X)
        cdef Py_ssize_t i, n = X.shape[0]
        out = np.zeros(n, dtype=np.float64)
        cdef double[::1] o = out
        if n == 0 or self.first_window:
            return out
        with nogil:
            for i in range(n):
                o[i] = self.score_row(&X[i, 0])
        return out

    def score_learn_many(self, const double[:, ::1] X):
        """For each row in order: its score, then learn it ("score then learn", as a
        stream is evaluated); float64 array of the scores."""
        self._check_width(X)
        cdef Py_ssize_t i, n = X.shape[0]
        out = np.empty(n, dtype=np.float64)
        cdef double[::1] o = out
        if n == 0:
            return out
        with nogil:
            for i in range(n):
                o[i] = self.score_learn_row(&X[i, 0])
        return out

    # ------------------------------------------------------------ C level

    cdef double score_row(self, const double* x) noexcept nogil:
        """Score of the row x (n_features doubles); 0 during the first window."""
        cdef int64_t total
        if self.first_window:
            return 0.0
        if has_nan(x, self.n_features):
            total = score_trees(self.nodes, self.n_trees, self.n_nodes, self.height,
                                self.limit, x, True)
        else:
            total = score_trees(self.nodes, self.n_trees, self.n_nodes, self.height,
                                self.limit, x, False)
        return 1.0 - <double>total / self.max_score

    cdef void learn_row(self, const double* x) noexcept nogil:
        """Learn the row x; turns the window after every window_size rows."""
        if has_nan(x, self.n_features):
            learn_trees(self.nodes, self.n_trees, self.n_nodes, self.height, x, True)
        else:
            learn_trees(self.nodes, self.n_trees, self.n_nodes, self.height, x, False)
        self.counter += 1
        if self.counter == self.window_size:
            self._pivot()

    cdef double score_learn_row(self, const double* x) noexcept nogil:
        """score_row(x) then learn_row(x) in one walk (the score sees the model before
        x is learnt: the walk reads r_mass, which learning does not touch, and a missing
        feature compares the children's l_mass before they are incremented)."""
        cdef int64_t total
        if self.first_window:
            self.learn_row(x)
            return 0.0
        if has_nan(x, self.n_features):
            total = score_learn_trees(self.nodes, self.n_trees, self.n_nodes, self.height,
                                      self.limit, x, True)
        else:
            total = score_learn_trees(self.nodes, self.n_trees, self.n_nodes, self.height,
                                      self.limit, x, False)
        self.counter += 1
        if self.counter == self.window_size:
            self._pivot()
        return 1.0 - <double>total / self.max_score

    cdef void _pivot(self) noexcept nogil:
        cdef Py_ssize_t k
        for k in range(self.n_trees * self.n_nodes):
            self.nodes[k].r_mass = self.nodes[k].l_mass
            self.nodes[k].l_mass = 0
        self.counter = 0
        self.first_window = False

    cdef int _fill_row(self, object x, double* row) except -1:
        """row[j] = x[names[j]] as a double, NaN when the key is absent."""
        cdef Py_ssize_t j
        cdef PyObject* p
        cdef object v
        cdef bint exact = type(x) is dict
        for j in range(self.n_features):
            name = self.names[j]
            if exact:
                p = PyDict_GetItem(x, name)     # borrowed; NULL when absent
                if p == NULL:
                    row[j] = NAN
                    continue
                v = <object>p
            else:
                try:
                    v = x[name]
                except KeyError:
                    row[j] = NAN
                    continue
            try:
                row[j] = v
            except (TypeError, ValueError):
                raise TypeError(f"feature {name!r}: expected a number, got {v!r}") from None
        return 0

    cdef double _one(self, object x, int what) except? -1.0:
        cdef double buf[ROW_STACK]
        cdef double* row = buf
        cdef double s = 0.0
        if self.n_features > ROW_STACK:
            row = <double*>malloc(self.n_features * sizeof(double))
            if row == NULL:
                raise MemoryError()
        try:
            self._fill_row(x, row)
            if what == DO_SCORE:
                s = self.score_row(row)
            elif what == DO_LEARN:
                self.learn_row(row)
            else:
                s = self.score_learn_row(row)
        finally:
            if row != buf:
                free(row)
        return s

    cdef int _check_width(self, const double[:, ::1] X) except -1:
        if X.shape[1] != self.n_features:
            names = self.names if self.n_features <= 8 else self.names[:8] + ("...",)
            raise ValueError(f"X has {X.shape[1]} columns but the model has "
                             f"{self.n_features} features {names}")
        return 0


def _rebuild(names, n_trees, height, window_size, nodes, counter, first_window):
    """Unpickle an HSTCore."""
    core = HSTCore(names, n_trees, height, window_size)
    core.load(nodes, counter, first_window)
    return core


# ---------------------------------------------------------------- drawing the trees

def grow_padded_tree(object rng, double[::1] lo, double[::1] hi, const int64_t[::1] cols,
                     int height, object padding, int64_t[::1] feature,
                     double[::1] threshold):
    """Draw one tree of `height` into heap-ordered feature / threshold arrays, exactly
    as river.tree.make_padded_tree does with the same random.Random `rng`.

    River draws each node with ``rng.choices(population=features, weights=[hi - lo
    ...])[0]`` then ``rng.uniform(a + padding * (b - a), b - padding * (b - a))``. This
    makes the same calls to rng.random(), in the same order, and the same arithmetic as
    CPython's random module: cumulative weights (left to right sums) bisected at
    random() * total; the uniform's multiply-adds in Python floats, so that no C
    compiler fuses them (an FMA would round differently). lo/hi: the current limits of
    each feature, in population order (restored on return); cols: each feature's column
    index, written to `feature`. tests/test_hst.py checks the trees against River's."""
    cdef Py_ssize_t n = lo.shape[0]
    if n == 0 or hi.shape[0] != n or cols.shape[0] != n:
        raise ValueError("lo, hi and cols must have one entry per feature")
    if height < 0 or feature.shape[0] < (1 << (height + 1)) - 1 \
            or threshold.shape[0] < feature.shape[0]:
        raise ValueError(f"feature/threshold arrays too short for height {height}")
    cdef double[::1] cum = np.empty(n)
    _grow_node(rng.random, &lo[0], &hi[0], &cols[0], n, &cum[0], height, float(padding),
               &feature[0], &threshold[0], 0)


cdef int _grow_node(object rand, double* lo, double* hi, const int64_t* cols, Py_ssize_t n,
                    double* cum, int h, object padding, int64_t* feature, double* threshold,
                    Py_ssize_t i) except -1:
    if h == 0:
        return 0
    cdef Py_ssize_t j, on, first, last
    cdef double total, r, a, b, at
    cum[0] = hi[0] - lo[0]
    for j in range(1, n):
        cum[j] = cum[j - 1] + (hi[j] - lo[j])
    total = cum[n - 1] + 0.0
    if not (total > 0.0 and total < float("inf")):
        raise ValueError("the features' limits have no finite positive width")
    r = rand()
    r = r * total
    first, last = 0, n - 1          # bisect.bisect_right(cum, r, 0, n - 1)
    while first < last:
        j = (first + last) // 2
        if r < cum[j]:
            last = j
        else:
            first = j + 1
    on = first
    a, b = lo[on], hi[on]
    pa, pb = <object>a, <object>b
    x = pa + padding * (pb - pa)
    y = pb - padding * (pb - pa)
    at = x + (y - x) * rand()
    feature[i] = cols[on]
    threshold[i] = at
    hi[on] = at
    _grow_node(rand, lo, hi, cols, n, cum, h - 1, padding, feature, threshold, 2 * i + 1)
    hi[on] = b
    lo[on] = at
    _grow_node(rand, lo, hi, cols, n, cum, h - 1, padding, feature, threshold, 2 * i + 2)
    lo[on] = a
    return 0
