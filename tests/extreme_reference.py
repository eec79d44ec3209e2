"""The extreme-counts model in numpy: the formulation wirescore/models/extreme.py ran
before its arithmetic moved to C (ext/extreme.pyx), kept as the reference the native
model is compared with (tests/test_extreme_native.py). Same parameters and the same
batch interface as ExtremeCounts; see that module for what the model computes.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from wirescore.models.extreme import ExtremeCounts

def higher_quantile(rows: np.ndarray, q: float) -> np.ndarray:
    """The q-quantile of each row of `rows` (k, n), n >= 1, no NaN: the order statistic
    at index ceil(q * (n - 1)) (0-based, ascending), which is what
    ``np.quantile(rows, q, axis=1, method="higher")`` returns. Found by sorting the
    contiguous rows: numpy's SIMD sort beats its partial sort (introselect) several
    times over on counts, which are mostly ties."""
    n = rows.shape[1]
    at = int(np.ceil((n - 1) * np.float64(q)))     # numpy's index for method="higher"
    return np.sort(rows, axis=1)[:, at]


def higher_quantile_above(rows: np.ndarray, q: float, hint: np.ndarray,
                          spare: int) -> tuple[np.ndarray, np.ndarray]:
    """higher_quantile(rows, q), sorting of each row only its values >= hint (one per
    row) when at least the n - ceil(q * (n - 1)) largest values are among them and
    they are at most a quarter of the row; any other row is sorted whole. The answer
    is the same whatever the hint (-inf: none).

    Also returns the next hint, per row: the value `spare` places below the answer
    in the row's sorted order, or the least value sorted when that one is higher, as
    long as it lies at least spare // 2 places below the answer (-inf otherwise). After
    at most spare // 2 values of a row are replaced or added, at most that many more
    values lie below it, so it cannot lie above the new answer: with spare twice the
    values changed between two calls, each call sorts about spare + n - at values."""
    k, n = rows.shape
    at = int(np.ceil((n - 1) * np.float64(q)))     # numpy's index for method="higher"
    need = n - at                                  # the answer is the need-th largest
    above = rows >= np.asarray(hint, dtype=np.float64)[:, None]
    counts = np.count_nonzero(above, axis=1)
    partial = (counts >= need) & (counts <= n // 4)
    out = np.empty(k)
    nxt = np.full(k, -np.inf)
    for j in range(k):
        if partial[j]:
            top = np.sort(rows[j][above[j]])
            base = n - len(top)                    # the index of top[0] in the row
        else:
            top = np.sort(rows[j])
            base = 0
        out[j] = top[at - base]
        below = max(base, at - spare)
        if below <= at - spare // 2:
            nxt[j] = top[below - base]
    return out, nxt


class ExtremeReference(ExtremeCounts):
    """ExtremeCounts (its parameters, checks and explanations) with the numpy
    arithmetic: quantities, scores, learning and the reference's order statistic."""

    reference = None        # an array here, set by learning (a property of the parent)

    def __init__(self, features: Sequence[str], floors: Mapping[str, float], **params):
        super().__init__(features, floors, **params)
        del self._core
        # learnt quantities, one contiguous row per quantity (the order statistic is
        # taken along a row)
        self._ring = np.zeros((len(self.names), self.memory))
        self._filled = 0          # rows of the ring in use
        self._next = 0            # next row to write
        self._since = 0           # samples learnt since the last refresh
        self._learnt = 0          # samples learnt in all
        self.reference = self.floors.copy()
        self._cap = self.floors.copy()   # winsorising level: reference at the last turn
        # per quantity, a value the next quantile cannot lie below (higher_quantile_above)
        self._hint = np.full(len(self.names), -np.inf)

    def quantities(self, X: np.ndarray) -> np.ndarray:
        """(n, quantities) from (n, features): products of the named columns."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.features):
            raise ValueError(f"X must have {len(self.features)} columns "
                             f"({', '.join(self.features)})")
        out = np.empty((len(X), len(self.names)))
        for j, cols in enumerate(self.terms):
            q = X[:, cols[0]].copy()
            for c in cols[1:]:
                q *= X[:, c]
            out[:, j] = q
        np.maximum(out, 0.0, out=out)
        return np.nan_to_num(out, copy=False, nan=0.0, posinf=1e300)

    def _score_q(self, Q: np.ndarray) -> np.ndarray:
        return np.log2((1.0 + Q) / (1.0 + self.reference)).max(axis=1)

    # ------------------------------------------------------------ learning

    def _learn_q(self, Q: np.ndarray) -> None:
        """Learn rows of quantities in order, refreshing the reference every
        `refresh` samples."""
        i = 0
        while i < len(Q):
            take = min(len(Q) - i, self.refresh - self._since,
                       self.memory - self._learnt % self.memory)
            block = np.minimum(Q[i:i + take], self._cap)           # winsorised
            self._store((self._next + np.arange(take)) % self.memory, block)
            self._next = (self._next + take) % self.memory
            self._filled = min(self.memory, self._filled + take)
            self._since += take
            self._learnt += take
            i += take
            turned = self._learnt % self.memory == 0
            if self._since >= self.refresh or turned:
                self._since = 0
                self.reference = np.maximum(self.floors, self.margin * self._high())
            if turned:
                self._cap = self.reference.copy()

    def _store(self, slots: np.ndarray, block: np.ndarray) -> None:
        """Rows of winsorised quantities (take, quantities) into ring slots."""
        self._ring[:, slots] = block.T

    def _high(self) -> np.ndarray:
        """The `quantile` of each quantity over the samples the ring holds (at most
        `refresh` samples learnt since the last call)."""
        high, self._hint = higher_quantile_above(self._ring[:, :self._filled],
                                                 self.quantile, self._hint,
                                                 2 * self.refresh)
        return high

    # ------------------------------------------------------------ batches

    def score_many(self, X) -> np.ndarray:
        return self._score_q(self.quantities(X))

    def learn_many(self, X) -> None:
        self._learn_q(self.quantities(X))

    def score_learn_many(self, X) -> np.ndarray:
        """Score then learn, row after row: rows up to the next refresh share one
        reference (the reference changes only at a refresh)."""
        Q = self.quantities(X)
        out = np.empty(len(Q))
        i = 0
        while i < len(Q):
            take = min(len(Q) - i, self.refresh - self._since)
            out[i:i + take] = self._score_q(Q[i:i + take])
            self._learn_q(Q[i:i + take])
            i += take
        return out
