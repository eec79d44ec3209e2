"""Native Half-Space Trees: River's algorithm, scores and all, over a compiled core.

The trees are drawn here, once, with River's random draws; learning and scoring run in
wirescore._core.hst (ext/hst.pyx) without the GIL.
"""
from __future__ import annotations

import math
import random
from collections.abc import Hashable, Iterable, Mapping

import numpy as np

from wirescore._core.hst import NODE_DTYPE, HSTCore, check_params, grow_padded_tree

__all__ = ["HalfSpaceTrees"]

PADDING = 0.15          # River's: a split falls in the middle 70 % of its node's range
DEFAULT_LIMITS = (0.0, 1.0)


class HalfSpaceTrees:
    """Half-Space Trees (HST): an online anomaly detector, River's algorithm in C.

    Each tree cuts the feature space in half at every level, on a feature drawn with
    probability proportional to the width of its current range and at a random point
    in the middle 70 % of that range. The mass of a node is how many samples of a
    window of ``window_size`` samples passed through it. Learning counts samples into
    the latest window; every ``window_size`` samples the latest window becomes the
    reference window. A sample scores high when it falls where the reference window
    had few samples: ``1 - sum(r_mass * 2**depth) / max_score``, summed over trees and
    down each tree's path until the first node with r_mass < 0.1 * window_size, with
    max_score = n_trees * window_size * (2**(height+1) - 1). Scores lie in [0, 1];
    higher = more anomalous.

    Same results as ``river.anomaly.HalfSpaceTrees`` (checked against River 0.26):
    built with the same parameters and seed, this model draws the same trees (Python's
    ``random.Random(seed)``, the same calls in the same order) and returns the same
    scores, bit for bit; ``from_river`` copies a River model at any point of its life.

    When it fails: anomalies that come packed together in a window become the
    reference and stop looking anomalous (the original paper's caveat). Scores are 0
    during the first window: a detector must not alert before it (warm-up).

    Assumptions: every feature lies in its ``limits`` range, [0, 1] by default
    (scale the features first, e.g. with a min-max scaler, or give the ranges).
    Values outside are accepted and fall in the outermost half-spaces, which
    then separate nothing. A missing feature (absent key, or NaN) takes the child
    that more samples of the latest window took, as River does for an absent key
    (River sends an explicit NaN value right; here NaN is "missing").

    Cost: memory 24 bytes * n_trees * (2**(height+1) - 1) (123 kB by default). Time per
    sample linear in n_trees * (height + 1): with the defaults, score and learn take
    about 0.15-0.2 us a sample through score_learn_many and about 1 us through
    score_one + learn_one (River: 25-30 us); the window turn touches every node once
    per window_size samples. Drawing the trees (first learn) is Python: about 6 ms
    with the defaults, doubling with each level of height.

    Parameters
    ----------
    n_trees : int
        Number of trees (>= 1).
    height : int
        Levels of splits per tree, 0 to 24; a tree has 2**(height+1) - 1 nodes.
    window_size : int
        Samples per window (>= 1); nodes with fewer than 0.1 * window_size reference
        samples end a score walk.
    limits : mapping of feature name to (lo, hi), optional
        Range of each feature, in its own units; features not named get (0.0, 1.0).
        lo <= hi, finite; the features' widths must not all be 0.
    seed : int, optional
        Seed of the random draws of the trees (None: fresh entropy).
    features : iterable of hashable, optional
        Feature names in column order (the columns of the arrays given to the
        ``*_many`` methods). By default they come from the first sample learnt: the
        keys of a mapping, sorted (River's order), or ``0 .. ncols-1`` for an array.
        The trees are drawn over all of them, in sorted order as River does; a River
        model draws over the keys of its first sample, so the two agree when that
        sample holds every feature.

    Examples
    --------
    >>> from wirescore.models import HalfSpaceTrees
    >>> hst = HalfSpaceTrees(n_trees=5, height=3, window_size=3, seed=42)
    >>> for x in [0.5, 0.45, 0.43]:
    ...     hst.learn_one({"x": x})
    >>> round(hst.score_one({"x": 0.0}), 3), round(hst.score_one({"x": 0.44}), 3)
    (0.853, 0.107)
    >>> import numpy as np
    >>> scores = hst.score_learn_many(np.array([[0.44], [0.45], [0.0]]))

    References
    ----------
    Tan, S.C., Ting, K.M. and Liu, T.F., 2011. Fast anomaly detection for streaming
    data. IJCAI 2011. https://www.ijcai.org/Proceedings/11/Papers/254.pdf
    """

    batched = True          # the protocol's traits (wirescore.models)
    scaled = True
    learns = True

    def __init__(self, n_trees: int = 10, height: int = 8, window_size: int = 250,
                 limits: Mapping[Hashable, tuple[float, float]] | None = None,
                 seed: int | None = None, features: Iterable[Hashable] | None = None):
        for name, value in (("n_trees", n_trees), ("height", height),
                            ("window_size", window_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an int, got {value!r}")
        check_params(n_trees, height, window_size)
        self.n_trees = int(n_trees)
        self.height = int(height)
        self.window_size = int(window_size)
        self.limits = _check_limits(limits)
        self.seed = seed
        self._rng = random.Random(seed)
        self._features = None if features is None else _check_features(features)
        self._core: HSTCore | None = None

    # ------------------------------------------------------------ River's protocol

    def learn_one(self, x: Mapping) -> None:
        """Learn one sample: a mapping of feature name to number (absent = missing).
        The first sample learnt draws the trees (and, by default, fixes the features)."""
        if self._core is None:
            self._build(self._features if self._features is not None else sorted(x))
        self._core.learn_one(x)

    def score_one(self, x: Mapping) -> float:
        """Anomaly score of one sample, in [0, 1], higher = more anomalous; 0.0 during
        the first window. The model does not change."""
        if self._core is None:
            return 0.0
        return self._core.score_one(x)

    # ------------------------------------------------------------ batches

    def score_learn_many(self, X) -> np.ndarray:
        """Score each row of X, then learn it, in row order: exactly what
        ``score_one(x); learn_one(x)`` per row gives ("score then learn", as a stream is
        evaluated). X: 2-d, one row per sample, one column per feature in ``features``
        order (float64 C-contiguous is used as it is; anything else is converted).
        Returns float64 scores, one per row."""
        X = self._matrix(X)
        if self._core is None:
            self._build(self._features if self._features is not None
                        else range(X.shape[1]))
        return self._core.score_learn_many(X)

    def learn_many(self, X) -> None:
        """learn_one of every row of X, in order (windows turn as they fill)."""
        X = self._matrix(X)
        if self._core is None:
            self._build(self._features if self._features is not None
                        else range(X.shape[1]))
        self._core.learn_many(X)

    def score_many(self, X) -> np.ndarray:
        """score_one of every row of X against the model as it is (the model does not
        change between rows, unlike score_learn_many)."""
        X = self._matrix(X)
        if self._core is None:
            if self._features is not None and X.shape[1] != len(self._features):
                raise ValueError(f"X has {X.shape[1]} columns but the model has "
                                 f"{len(self._features)} features {self._features}")
            return np.zeros(X.shape[0])
        return self._core.score_many(X)

    # ------------------------------------------------------------ River interop

    @classmethod
    def from_river(cls, model, features: Iterable[Hashable] | None = None) -> HalfSpaceTrees:
        """A native copy of a ``river.anomaly.HalfSpaceTrees``, at the same point of its
        life: parameters, limits, the state of its random generator, and, once it has
        learnt, its trees (split features, thresholds, the masses l and r of every
        node), its window counter and whether its first window is over. Driven on the
        same samples afterwards, both give the same scores. The River model is not
        changed.

        features: column order for the ``*_many`` methods. By default: the features of
        River's splits, sorted (a feature River never split on is not a column), or, for
        a model that has not learnt yet, the keys of the first sample learnt.
        """
        for attr in ("n_trees", "height", "window_size", "limits", "rng", "trees",
                     "counter"):
            if not hasattr(model, attr):
                raise TypeError(f"from_river needs a river.anomaly.HalfSpaceTrees; "
                                f"{type(model).__name__} has no {attr!r}")
        self = cls(n_trees=model.n_trees, height=model.height,
                   window_size=model.window_size, limits=dict(model.limits),
                   seed=getattr(model, "seed", None), features=features)
        self._rng.setstate(model.rng.getstate())
        if not model.trees:
            return self
        if len(model.trees) != self.n_trees:
            raise ValueError(f"the River model has {len(model.trees)} trees, "
                             f"n_trees says {self.n_trees}")
        split = set()
        for tree in model.trees:
            _river_splits(tree, split)
        names = self._features if self._features is not None else tuple(sorted(split))
        lacking = split.difference(names)
        if lacking:
            raise ValueError(f"features lacks {sorted(lacking, key=repr)}, on which "
                             "the River model splits")
        col = {f: j for j, f in enumerate(names)}
        n_nodes = (1 << (self.height + 1)) - 1
        nodes = _blank_nodes(self.n_trees, n_nodes)
        for t, tree in enumerate(model.trees):
            _copy_river_tree(tree, self.height, col, nodes[t])
        core = HSTCore(names, self.n_trees, self.height, self.window_size)
        first = getattr(model, "_first_window", None)
        if first is None:
            raise TypeError("the River model has no _first_window attribute "
                            "(an unknown River version)")
        core.load(nodes, model.counter, bool(first))
        self._features = names
        self._core = core
        return self

    # ------------------------------------------------------------ state

    @property
    def features(self) -> tuple | None:
        """Feature names in column order (None until given or learnt)."""
        return self._features

    @property
    def counter(self) -> int:
        """Samples learnt in the latest window (0 .. window_size - 1)."""
        return 0 if self._core is None else self._core.counter

    @property
    def first_window(self) -> bool:
        """True until window_size samples have been learnt (scores are 0 until then)."""
        return True if self._core is None else self._core.first_window

    def node_array(self) -> np.ndarray | None:
        """The trees as a structured array (NODE_DTYPE: threshold, feature, l_mass,
        r_mass), shape (n_trees, 2**(height+1) - 1), heap order (children of node i:
        2i+1 for x[feature] < threshold, 2i+2); a copy. None before the first learn."""
        return None if self._core is None else self._core.export()

    def __repr__(self) -> str:
        return (f"HalfSpaceTrees(n_trees={self.n_trees}, height={self.height}, "
                f"window_size={self.window_size}, seed={self.seed!r})")

    # ------------------------------------------------------------ internals

    def _matrix(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-d, one row per sample and one column per "
                             f"feature; got shape {X.shape}")
        return np.ascontiguousarray(X, dtype=np.float64)

    def _build(self, features) -> None:
        """Draw the trees over `features`, exactly as river.tree.make_padded_tree does
        (same calls to the same random.Random, in the same order), into heap arrays."""
        names = _check_features(features)
        limits = {}
        for f in sorted(names):
            limits[f] = self.limits.get(f, DEFAULT_LIMITS)
        if not sum(hi - lo for lo, hi in limits.values()) > 0:
            raise ValueError(f"the features' limits are all of width 0: {limits}")
        col = {f: j for j, f in enumerate(names)}
        n_nodes = (1 << (self.height + 1)) - 1
        nodes = _blank_nodes(self.n_trees, n_nodes)
        keys = list(limits)                       # River's population order
        lo = np.array([limits[k][0] for k in keys], dtype=np.float64)
        hi = np.array([limits[k][1] for k in keys], dtype=np.float64)
        cols = np.array([col[k] for k in keys], dtype=np.int64)
        for t in range(self.n_trees):
            feature = np.full(n_nodes, -1, dtype=np.int64)
            threshold = np.full(n_nodes, math.nan)
            grow_padded_tree(self._rng, lo, hi, cols, self.height, PADDING, feature,
                             threshold)
            nodes[t]["feature"] = feature
            nodes[t]["threshold"] = threshold
        core = HSTCore(names, self.n_trees, self.height, self.window_size)
        core.load(nodes, 0, True)
        self._features = names
        self._core = core


def _blank_nodes(n_trees: int, n_nodes: int) -> np.ndarray:
    nodes = np.zeros((n_trees, n_nodes), dtype=NODE_DTYPE)
    nodes["feature"] = -1
    nodes["threshold"] = math.nan
    return nodes


def _river_splits(root, out: set) -> None:
    stack = [root]
    while stack:
        node = stack.pop()
        if hasattr(node, "threshold"):
            out.add(node.feature)
            stack.extend(node.children)


def _copy_river_tree(root, height: int, col: dict, out: np.ndarray) -> None:
    """One River padded tree into heap-ordered NODE_DTYPE rows (checks its shape)."""
    feature = out["feature"].copy()
    threshold = out["threshold"].copy()
    l_mass = np.zeros(len(out), dtype=np.int64)
    r_mass = np.zeros(len(out), dtype=np.int64)
    stack = [(root, 0, 0)]
    while stack:
        node, i, depth = stack.pop()
        is_branch = hasattr(node, "threshold")
        if is_branch != (depth < height):
            raise ValueError(f"the River tree is not complete to height {height}")
        l_mass[i] = node.l_mass
        r_mass[i] = node.r_mass
        if is_branch:
            feature[i] = col[node.feature]
            threshold[i] = node.threshold
            left, right = node.children
            stack.append((left, 2 * i + 1, depth + 1))
            stack.append((right, 2 * i + 2, depth + 1))
    if l_mass.min() < 0 or r_mass.min() < 0:
        raise ValueError("the River model has negative node masses")
    out["feature"] = feature
    out["threshold"] = threshold
    out["l_mass"] = np.minimum(l_mass, 2**32 - 1)   # load() rejects > window_size
    out["r_mass"] = np.minimum(r_mass, 2**32 - 1)


def _check_features(features) -> tuple:
    names = tuple(features)
    if not names:
        raise ValueError("a model needs at least one feature (the first sample is empty)")
    if len(set(names)) != len(names):
        raise ValueError(f"feature names repeat: {names}")
    return names


def _check_limits(limits) -> dict:
    if limits is None:
        return {}
    if not isinstance(limits, Mapping):
        raise TypeError(f"limits must map feature names to (lo, hi), got {limits!r}")
    out = {}
    for name, rng in limits.items():
        try:
            lo, hi = rng
            ok = math.isfinite(lo) and math.isfinite(hi) and lo <= hi
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"limits[{name!r}] must be (lo, hi) with finite lo <= hi, "
                             f"got {rng!r}")
        out[name] = rng        # kept as given: River draws from the values as they are
    return out

