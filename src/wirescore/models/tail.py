"""One-sided tail model: how far into the upper tail of recent samples a sample lies.

For features where more is worse (flows a host opened around a flow, new
destinations, new ports, failure counts...), "anomalous" has a direction: a source
that touches more new ports than any flow's source in the last ten thousand flows is
suspicious; one that touches fewer is not. Isolation-style models (Half-Space Trees,
Isolation Forest) score rarity in any direction and saturate once a sample is rare,
so a scan ranks beside an unusually quiet host. This model scores, per feature, the
conformal upper-tail p-value of the sample against the recent learned samples (the
reference),

    p_j = (1 + weight of the reference samples with value >= x_j) / (1 + W_j)

where W_j is the reference's total weight in feature j, and combines the features by
the smallest p-value (the most extreme feature):

    score = log(1 / min_j p_j) / log(1 + window)

Unweighted (the default) every sample weighs 1, the reference is the last `window`
learned samples and W_j = n, the samples it holds. So the score is in [0, 1], on one
scale whatever the reference holds: 0 for a sample at or below every reference sample
on every feature; 1 for a sample strictly above every one of `window` reference
samples on at least one feature; a score >= t means that on some feature at most
(1 + window) ** (1 - t) - 1 reference samples were as large (t = 0.92 with window
10000: at most one). Nothing is fitted: the reference is the recent past, so the score
of a fixed threshold means the same on any network ("beyond the last N flows on some
feature"), and a benign stream of exchangeable samples exceeds it with probability at
most (number of features) x (1 + window) ** -t per sample. Ties count against the
sample (>=), so a burst of equal values is not more extreme than the values it
repeats. Until the reference holds `window` samples (n < window), p_j >= 1 / (1 + n),
so early scores are capped below 1 (log(1 + n) / log(1 + window)): a young reference
cannot call anything as extreme as a full one can.

Weighted (`weight_by`, one burst counts once): when samples come in bursts that share
a value (every flow of a host's burst of 150 flows carries "150 flows around it"), an
unweighted reference counts the burst 150 times, and one busy host (a peer-to-peer
client, a resolver) fills the reference's tail: a scan of 50 hosts is then ordinary
beside it. `weight_by` maps a feature to the feature that measures its burst: a
learned sample weighs 1 / max(1, that feature's value) in that feature's column, so
each burst adds about 1 to the reference whatever its size, and p_j is the share of
recent *bursts* (not flows) that were as large. The sample scored counts as a whole
burst (the 1 in the numerator). Each weighted column keeps the most recent samples
whose weights add up to at most `window` (W_j <= window), so `window` is the number of
bursts the reference spans and the threshold keeps its meaning; at most `max_samples`
samples are kept (default 10 x window; when traffic comes in bursts so large that
`max_samples` samples weigh less than `window`, the reference is capped there and
scores are capped as for a young reference, log(1 + W_j) / log(1 + window)). The
weight feature's value is taken as the model receives it: give such a profile
`transform: none` (the scores do not depend on the transform, the weights do).
Weights are integers in units of 1 / UNIT (2**-20; a burst of 200 weighs 5243 units,
not 5242.88), so their sums are exact in any order: learning a stream in batches of any
size leaves the same reference as learning it row by row. A feature that only measures
bursts (`unscored`) weighs the others and is not scored itself: a host's unanswered
attempts weighed by all the flows it opened, without its flow count alone making a
busy host anomalous.

The score is invariant to any increasing transform of a scored feature (log1p, min-max
scaling), so the profile's transform and the detector's scaling do not change it.
Memory: the ring of learned samples (max_samples x features float64, twice with
weights) and, per feature, the distinct values held with their total weight and count
(room for max_samples entries; a few hundred in use for counts). The reference is kept
in C (ext/tail.pyx, TailCore); the numpy formulation it replaces is kept in
tests/tail_reference.py and a test requires the two to agree on real flow records.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Sequence

import numpy as np

__all__ = ["TailModel"]

#: weights are integers in units of 1 / UNIT (a burst of v samples: round(UNIT / v) each)
UNIT = 1 << 20


class TailModel:
    """Upper-tail (more is worse) anomaly scores over a sliding reference.

    Parameters
    ----------
    features : sequence of str
        Feature names, in the order of the columns of the arrays given to the batched
        methods (and the keys score_one/learn_one read).
    window : int
        Reference size, >= 10: the last `window` learned samples; in a weighted
        feature, the most recent samples whose weights add up to at most `window`.
    weight_by : mapping feature -> feature, optional
        For each feature named, the feature (of this model) whose value v makes a
        learned sample weigh 1 / max(1, v) in that feature's column (module docstring).
        Features not named weigh 1.
    max_samples : int, optional
        Learned samples kept at most (default: window, or 10 x window with weight_by).
    unscored : sequence of str, optional
        Features given only to weigh others (each must be a weight in `weight_by`):
        not scored, no reference kept.

    Examples
    --------
    >>> import numpy as np
    >>> from wirescore.models.tail import TailModel
    >>> model = TailModel(["flows"], window=10)
    >>> model.learn_many(np.arange(10.0).reshape(-1, 1))      # 0 .. 9 flows
    >>> model.score_many(np.array([[3.0], [9.0], [50.0]])).round(3)
    array([0.133, 0.711, 1.   ])

    Seven of the ten reference samples are at least 3 (p = 8/11), one is at least 9
    (p = 2/11), none reaches 50 (p = 1/11, the lowest a reference of ten can give);
    the score is log(1 / p) / log(11).
    """

    batched = True          # the protocol's traits (wirescore.models)
    scaled = False          # ranks: any increasing transform leaves the scores as they are
    learns = True

    def __init__(self, features: Sequence[str], window: int = 10000,
                 weight_by: Mapping[str, str] | None = None, max_samples: int | None = None,
                 unscored: Sequence[str] | None = None):
        if isinstance(window, bool) or int(window) < 10:
            raise ValueError("window must be at least 10")
        self.features = tuple(features)
        self.window = int(window)
        k = len(self.features)
        index = {name: i for i, name in enumerate(self.features)}
        self._by = np.full(k, -1)        # column -> column of its weight (-1: weight 1)
        if weight_by:
            if not isinstance(weight_by, Mapping):
                raise ValueError("weight_by: give feature: weight feature pairs")
            for name, by in weight_by.items():
                for what in (name, by):
                    if what not in index:
                        raise ValueError(f"weight_by: {what!r} is not one of the "
                                         "profile's features")
                self._by[index[name]] = index[by]
        self._scored = np.ones(k, dtype=bool)
        if unscored is not None:
            if isinstance(unscored, (str, bytes)) or not isinstance(unscored, Sequence):
                raise ValueError("unscored: give a list of features")
            weights_of = {self.features[b] for b in self._by if b >= 0}
            for name in unscored:
                if name not in index:
                    raise ValueError(f"unscored: {name!r} is not one of the profile's "
                                     "features")
                if name not in weights_of:
                    raise ValueError(f"unscored: {name!r} weighs no feature (weight_by); "
                                     "a feature neither scored nor a weight does nothing")
                self._scored[index[name]] = False
            if not self._scored.any():
                raise ValueError("unscored: at least one feature must be scored")
        weighted = bool((self._by >= 0).any())
        if max_samples is None:
            max_samples = self.window * (10 if weighted else 1)
        if isinstance(max_samples, bool) or int(max_samples) < self.window:
            raise ValueError("max_samples must be at least window")
        self.max_samples = int(max_samples)
        from wirescore._core.tail import TailCore

        # the reference (ring, per column the distinct values held), in C
        self._core = TailCore(self._by, self._scored, self.window, self.max_samples)
        self._norm = np.log1p(self.window)

    # ------------------------------------------------------------------ batched

    def score_many(self, X: np.ndarray) -> np.ndarray:
        """Scores of the rows of X (n x features); the model is unchanged."""
        X = np.asarray(X, dtype=np.float64)
        if len(X) == 0:
            return np.empty(0)
        return self._column_scores(X).max(axis=1)

    def contributions(self, x: Sequence[float]) -> list[tuple[str, float, float]]:
        """(feature, value, its own score) of one sample for each scored feature, most
        extreme first: the sample's score is the first one's."""
        x = np.asarray([x], dtype=np.float64)
        s = self._column_scores(x)[0]
        cols = np.flatnonzero(self._scored)
        order = cols[np.argsort(-s[cols], kind="stable")]
        return [(self.features[j], float(x[0, j]), float(s[j])) for j in order.tolist()]

    def top_many(self, X: np.ndarray) -> list[str]:
        """The most extreme scored feature of each row of X (n x features): for every
        row, contributions(row)[0][0], computed for all rows at once (the first of
        equal scores in feature order)."""
        X = np.asarray(X, dtype=np.float64)
        if len(X) == 0:
            return []
        cols = np.flatnonzero(self._scored)
        top = cols[np.argmax(self._column_scores(X)[:, cols], axis=1)]
        return [self.features[j] for j in top.tolist()]

    def _column_scores(self, X: np.ndarray) -> np.ndarray:
        """(n, features) score of each row in each column, log(1 / p_j) / log(1 + window)
        capped at 1; 0 in unscored columns and columns with an empty reference."""
        p = self._core.p_values(X)
        empty = np.isnan(p)
        out = np.minimum(-np.log(p) / self._norm, 1.0)
        out[empty] = 0.0
        return out

    def learn_many(self, X: np.ndarray) -> None:
        """Add the rows of X to the reference as if one after the other (the oldest leave
        as it fills): the same state however a stream is cut into batches (weights are
        integers in 1/UNIT, so their sums are exact in any order)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.features):
            raise ValueError(f"expected rows of {len(self.features)} features")
        self._learn(X)

    def _learn(self, X: np.ndarray) -> None:
        """learn_many's work on checked rows."""
        self._core.learn(X)

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
