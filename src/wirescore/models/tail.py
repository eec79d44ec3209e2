"""One-sided tail model: how far into the upper tail of recent samples a sample lies.

For features where more is worse (flows a host opened around a flow, new
destinations, new ports, failure counts...), "anomalous" has a direction: a source
that touches more new ports than any flow's source in the last ten thousand flows is
suspicious; one that touches fewer is not. Isolation-style models (Half-Space Trees,
Isolation Forest) score rarity in any direction and saturate once a sample is rare,
so a scan ranks beside an unusually quiet host. This model scores, per feature, the
conformal upper-tail p-value of the sample against the last `window` learned
samples,

    p_j = (1 + #{reference samples with value >= x_j}) / (1 + n)

and combines the features by the smallest p-value (the most extreme feature):

    score = log(1 / min_j p_j) / log(1 + window)

so the score is in [0, 1], on one scale whatever the reference holds: 0 for a sample
at or below every reference sample on every feature; 1 for a sample strictly above
every one of `window` reference samples on at least one feature; a score >= t means
that on some feature at most (1 + window) ** (1 - t) - 1 reference samples were as
large (t = 0.92 with window 10000: at most one). Nothing is fitted: the reference is the recent
past, so the score of a fixed threshold means the same on any network ("beyond the
last N flows on some feature"), and a benign stream of exchangeable samples exceeds
it with probability at most (number of features) x (1 + window) ** -t per sample.
Ties count against the sample (>=), so a burst of equal values is not more extreme
than the values it repeats. Until the reference holds `window` samples (n < window),
p_j >= 1 / (1 + n), so early scores are capped below 1 (log(1 + n) / log(1 + window)):
a young reference cannot call anything as extreme as a full one can.

The score is invariant to any increasing transform of a feature (log1p, min-max
scaling), so the profile's transform and the detector's scaling do not change it.
Memory: window x features float64, twice (ring of samples + sorted copies).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


class TailModel:
    """Upper-tail (more is worse) anomaly scores over a sliding reference.

    Parameters
    ----------
    features : sequence of str
        Feature names, in the order of the columns of the arrays given to the batched
        methods (and the keys score_one/learn_one read).
    window : int
        Reference samples kept (the most recent learned ones), >= 10.
    """

    def __init__(self, features: Sequence[str], window: int = 10000):
        if int(window) < 10:
            raise ValueError("window must be at least 10")
        self.features = tuple(features)
        self.window = int(window)
        k = len(self.features)
        self._ring = np.empty((self.window, k))
        self._pos = 0                    # next ring row to write
        self._n = 0                      # samples held (<= window)
        self._sorted = [np.empty(0) for _ in range(k)]
        self._norm = np.log1p(self.window)

    # ------------------------------------------------------------------ batched
    def score_many(self, X: np.ndarray) -> np.ndarray:
        """Scores of the rows of X (n x features); the model is unchanged."""
        X = np.asarray(X, dtype=np.float64)
        if len(X) == 0:
            return np.empty(0)
        n = self._n
        if n == 0:
            return np.zeros(len(X))
        # samples >= x: n - (index of the first reference value >= x)
        ge = np.column_stack([n - np.searchsorted(s, X[:, j], side="left")
                              for j, s in enumerate(self._sorted)])
        p_min = (1.0 + ge.min(axis=1)) / (1.0 + n)
        return np.minimum(-np.log(p_min) / self._norm, 1.0)

    def learn_many(self, X: np.ndarray) -> None:
        """Add the rows of X to the reference (the oldest leave once it is full)."""
        X = np.asarray(X, dtype=np.float64)
        if len(X) > self.window:
            X = X[-self.window:]
        m = len(X)
        if m == 0:
            return
        rows = (self._pos + np.arange(m)) % self.window
        if self._n + m > self.window:           # evict the rows about to be overwritten:
            # until the ring is full, the first window - n rows written are empty slots
            out = self._ring[rows[self.window - self._n:]]
            for j in range(len(self._sorted)):
                self._sorted[j] = _remove_sorted(self._sorted[j], out[:, j])
        self._ring[rows] = X
        for j in range(len(self._sorted)):
            new = np.sort(X[:, j])
            s = self._sorted[j]
            self._sorted[j] = np.insert(s, np.searchsorted(s, new, side="left"), new)
        self._pos = int((self._pos + m) % self.window)
        self._n = min(self._n + m, self.window)

    def score_learn_many(self, X: np.ndarray) -> np.ndarray:
        """Score each row, then learn it, row after row (exact streaming)."""
        X = np.asarray(X, dtype=np.float64)
        out = np.empty(len(X))
        for i in range(len(X)):
            out[i] = self.score_many(X[i:i + 1])[0]
            self.learn_many(X[i:i + 1])
        return out

    # ------------------------------------------------------------ River protocol
    def score_one(self, x: dict) -> float:
        return float(self.score_many(np.array([[x[f] for f in self.features]]))[0])

    def learn_one(self, x: dict) -> None:
        self.learn_many(np.array([[x[f] for f in self.features]]))


def _remove_sorted(s: np.ndarray, values: np.ndarray) -> np.ndarray:
    """s (sorted) without one occurrence of each of values (all present in s)."""
    v = np.sort(values)
    # the k-th copy of a repeated value removes the k-th of its equal run in s
    rank = np.arange(len(v)) - np.searchsorted(v, v, side="left")
    return np.delete(s, np.searchsorted(s, v, side="left") + rank)
