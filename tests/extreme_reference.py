"""The extreme-counts model in numpy: the formulation wirescore/models/extreme.py ran
before its arithmetic moved to C (ext/extreme.pyx), kept as the reference the native
model is compared with (tests/test_extreme_native.py). Same parameters and the same
batch interface as ExtremeCounts; see that module for what the model computes.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

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


class ExtremeReference:
    """See the module docstring. Parameters:

    features : the profile's feature names, in column order.
    floors : mapping quantity -> floor (> 0); a quantity is a feature name or a
        product of feature names joined by ``*``.
    quantile : the network's high quantile, in (0, 1) (default 0.999).
    margin : how many times that quantile a value must exceed (>= 1, default 2).
    memory : samples kept for the quantile (>= 100, default 20000).
    refresh : samples learnt between two refreshes of the reference (default 256).

    Examples
    --------
    >>> import numpy as np
    >>> model = ExtremeReference(["ports"], floors={"ports": 15})
    >>> model.score_many(np.array([[3.0], [15.0], [63.0]]))     # nothing learnt yet
    array([-2.,  0.,  2.])

    3 ports lie two doublings below the floor, 15 at it, 63 two doublings beyond it:
    log2((1 + x) / (1 + 15)).
    """

    batched = True          # the protocol's traits (wirescore.models)
    scaled = False          # counts against floors in their own units
    learns = True

    def __init__(self, features: Sequence[str], floors: Mapping[str, float],
                 quantile: float = 0.999, margin: float = 2.0, memory: int = 20000,
                 refresh: int = 256):
        self.features = tuple(features)
        index = {name: i for i, name in enumerate(self.features)}
        if not isinstance(floors, Mapping) or not floors:
            raise ValueError("floors: give at least one quantity: floor")
        self.names: list[str] = []
        self.terms: list[list[int]] = []
        floor_values = []
        for name, value in floors.items():
            parts = [p.strip() for p in str(name).split("*")]
            missing = [p for p in parts if p not in index]
            if missing:
                raise ValueError(f"floors: {name!r}: {missing[0]!r} is not one of the "
                                 "profile's features")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"floors: {name!r}: the floor must be a number > 0")
            self.names.append(str(name))
            self.terms.append([index[p] for p in parts])
            floor_values.append(float(value))
        self.floors = np.array(floor_values)
        if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) \
                or not 0 < quantile < 1:
            raise ValueError("quantile must be a number between 0 and 1")
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 1:
            raise ValueError("margin must be a number >= 1")
        for label, value, least in (("memory", memory, 100), ("refresh", refresh, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{label} must be an integer >= {least}")
        if refresh > memory:
            raise ValueError("refresh must not exceed memory")
        self.quantile = float(quantile)
        self.margin = float(margin)
        self.memory = int(memory)
        self.refresh = int(refresh)
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

    # ------------------------------------------------------------ quantities

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

    def doublings(self, Q: np.ndarray) -> np.ndarray:
        """(n, quantities): how many doublings each quantity of each row lies beyond
        its reference (negative below it)."""
        return np.log2((1.0 + Q) / (1.0 + self.reference))

    def contributions(self, x: Sequence[float]) -> list[tuple[str, float, float]]:
        """(quantity, value, doublings beyond its reference) of one sample, most
        extreme first (ties in the order of `floors`)."""
        q = self.quantities(np.asarray([x], dtype=np.float64))[0]
        d = self.doublings(q)
        order = np.argsort(-d, kind="stable")
        return [(self.names[j], float(q[j]), float(d[j])) for j in order.tolist()]

    def top_many(self, X: np.ndarray) -> list[str]:
        """The most extreme quantity of each row of X (n, features): for every row,
        contributions(row)[0][0], computed for all rows at once (the first of equal
        quantities in the order of `floors`)."""
        if len(X) == 0:
            return []
        top = np.argmax(self.doublings(self.quantities(X)), axis=1)
        return [self.names[j] for j in top.tolist()]

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

    # ------------------------------------------------------------ River's protocol

    def _row(self, x: Mapping) -> np.ndarray:
        return np.array([[float(x.get(name, 0.0)) for name in self.features]])

    def score_one(self, x: Mapping) -> float:
        return float(self.score_many(self._row(x))[0])

    def learn_one(self, x: Mapping) -> None:
        self.learn_many(self._row(x))
