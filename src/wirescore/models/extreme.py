"""Extreme counts: how far a sample's counts lie beyond what normal traffic reaches.

A model for "more is worse" quantities, such as what one source does in one second:
distinct destinations, distinct ports, SYNs, ICMP messages. Each scored quantity q has a
reference

    R_q = max(floor_q, margin * Q_q)

where floor_q is an absolute floor (the most one ordinary host does, given in the
profile) and Q_q the running `quantile` of q over the last `memory` samples learnt (what
this network's busiest windows do). The score is how many doublings the most extreme
quantity lies beyond its reference:

    score = max_q log2((1 + x_q) / (1 + R_q))

positive only when some quantity exceeds both its floor and `margin` times the
network's own high quantile; a fixed threshold of 0 alerts exactly then. Lower values
never raise a score (one-sided): a quiet source is not anomalous.

Why not a median and MAD, or a rarity score: in one-second windows of a source the
median of every count is 0 or 1 and the MAD is 0 (nine sources in ten send to one
address and one port), so robust z-scores are infinite for any change; and a rarity
score (Half-Space Trees) saturates, so a quantile threshold on it fires at a fixed rate
whether or not anything is wrong. Counts beyond a floor and beyond the network's own
busy tail are neither.

Learning is winsorised: a value is learnt as min(x, C), where C is the reference as it
stood when the memory last turned over (every `memory` samples learnt; the floors
before). So one burst (a scan) cannot move the reference, while a condition that
persists in more than 1 - quantile of the windows (a busy server) lifts it at most
`margin`-fold per turn of the memory, and stops alerting after a few turns.

The reference is refreshed after every `refresh` samples learnt (exact streaming at that
granularity: the same stream gives the same scores however it is cut into batches).
Before anything is learnt, R_q is the floor: the model can score from the first sample
(a profile needs no warm-up beyond what its floors justify).

The arithmetic runs in C over whole batches without the GIL (ext/extreme.pyx,
ExtremeCore); the numpy formulation it replaces is kept in tests/extreme_reference.py
and a test requires the two to agree on real window records.

Scored quantities are features of the profile or products of them, written with `*`:
``window.packets*window.tcp_ratio*window.syn_ratio`` is the window's SYN packets. The
model takes raw feature values (the profile's transform should be ``none``) and is not
min-max scaled.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["ExtremeCounts"]


class ExtremeCounts:
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
    >>> from wirescore.models.extreme import ExtremeCounts
    >>> model = ExtremeCounts(["ports"], floors={"ports": 15})
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
        from wirescore._core.extreme import ExtremeCore

        width = max(map(len, self.terms))
        terms = np.full((len(self.terms), width), -1, dtype=np.int32)
        for j, cols in enumerate(self.terms):
            terms[j, :len(cols)] = cols
        self._core = ExtremeCore(terms, self.floors, len(self.features), self.quantile,
                                 self.margin, self.memory, self.refresh)

    @property
    def reference(self) -> np.ndarray:
        """R_q per quantity, in the order of `floors` (read-only)."""
        return self._core.reference

    # ------------------------------------------------------------ quantities

    def quantities(self, X: np.ndarray) -> np.ndarray:
        """(n, quantities) from (n, features): products of the named columns, in the
        order named; negative and NaN products count as 0, +inf as 1e300."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.features):
            raise ValueError(f"X must have {len(self.features)} columns "
                             f"({', '.join(self.features)})")
        return self._core.quantities(X)

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

    # ------------------------------------------------------------ batches

    def score_many(self, X) -> np.ndarray:
        return self._core.score(self.quantities(X))

    def learn_many(self, X) -> None:
        self._core.learn(self.quantities(X))

    def score_learn_many(self, X) -> np.ndarray:
        """Score then learn, row after row: rows up to the next refresh share one
        reference (the reference changes only at a refresh)."""
        X = np.asarray(X, dtype=np.float64)
        self.quantities(X[:0])                     # checks the shape
        return self._core.score_learn(X)

    # ------------------------------------------------------------ River's protocol

    def _row(self, x: Mapping) -> np.ndarray:
        return np.array([[float(x.get(name, 0.0)) for name in self.features]])

    def score_one(self, x: Mapping) -> float:
        return float(self.score_many(self._row(x))[0])

    def learn_one(self, x: Mapping) -> None:
        self.learn_many(self._row(x))
