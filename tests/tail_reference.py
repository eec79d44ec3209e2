"""The tail model's reference in numpy: the formulation wirescore/models/tail.py ran
before its reference moved to C (ext/tail.pyx), kept as the reference the native model is
compared with (tests/test_tail_native.py). Same parameters, explanations and batch
interface as TailModel (see that module for what the model computes).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Sequence

import numpy as np

from wirescore.models.tail import UNIT, TailModel


class TailReference(TailModel):
    """TailModel with the numpy reference: the ring, the distinct values per column,
    learning and the per-column tail scores."""

    def __init__(self, features: Sequence[str], window: int = 10000,
                 weight_by: Mapping[str, str] | None = None, max_samples: int | None = None,
                 unscored: Sequence[str] | None = None):
        super().__init__(features, window, weight_by, max_samples, unscored)
        del self._core
        k = len(self.features)
        self._vals = np.empty((self.max_samples, k))     # ring of learned samples
        self._wts = np.empty((self.max_samples, k), dtype=np.int64)   # weights, in 1/UNIT
        self._seq = 0                    # samples ever learned; ring slot = seq % size
        self._first = np.zeros(k, dtype=np.int64)   # per column: oldest sample held
        self._total = np.zeros(k, dtype=np.int64)   # per column: W_j, in 1/UNIT
        # per column: the distinct values held (sorted), their summed weight and count
        self._u = [np.empty(0) for _ in range(k)]
        self._w = [np.empty(0, dtype=np.int64) for _ in range(k)]
        self._c = [np.empty(0, dtype=np.int64) for _ in range(k)]
        self._limit = self.window * UNIT

    def _column_scores(self, X: np.ndarray) -> np.ndarray:
        """(n, features) score of each row in each column, log(1 / p_j) / log(1 + window)
        capped at 1; 0 in unscored columns and columns with an empty reference."""
        out = np.zeros(X.shape)
        for j in np.flatnonzero(self._scored).tolist():
            u, w = self._u[j], self._w[j]
            if len(u) == 0:
                continue
            # weight of the reference values >= x: a suffix sum from the first such value
            suffix = np.concatenate([np.cumsum(w[::-1])[::-1], [0]])
            ge = suffix[np.searchsorted(u, X[:, j], side="left")]
            p = (UNIT + ge) / float(UNIT + self._total[j])
            out[:, j] = np.minimum(-np.log(p) / self._norm, 1.0)
        return out

    def _learn(self, X: np.ndarray) -> None:
        m = len(X)
        if m == 0:
            return
        weights = np.full(X.shape, UNIT, dtype=np.int64)
        for j in np.flatnonzero(self._by >= 0):
            burst = np.maximum(1.0, X[:, self._by[j]])
            weights[:, j] = np.maximum(1, np.rint(UNIT / burst)).astype(np.int64)
        size = self.max_samples
        seq0, seq1 = self._seq, self._seq + m
        low = max(0, seq1 - size)                  # the ring keeps the last `size` samples
        for j in np.flatnonzero(self._scored).tolist():
            self._learn_column(j, X[:, j], weights[:, j], seq0, seq1, low)
        rows = np.arange(max(seq0, low), seq1)
        self._vals[rows % size] = X[rows - seq0]
        self._wts[rows % size] = weights[rows - seq0]
        self._seq = seq1

    def _learn_column(self, j: int, values: np.ndarray, weights: np.ndarray,
                      seq0: int, seq1: int, low: int) -> None:
        """Column j after samples seq0..seq1-1 (values, weights) are learned: it keeps
        the longest run of the newest samples, none older than `low` (the ring), whose
        weights add up to at most the limit (at least the newest sample). Adding the
        samples one by one and dropping the oldest while the total is over the limit
        keeps the same run: totals only grow as samples are added, so the run's start
        only moves forward. Only the oldest samples that leave are read (in blocks)."""
        size = self.max_samples
        first = int(self._first[j])
        total = int(self._total[j])
        # samples the ring no longer holds leave first
        cut = min(max(first, low), seq0)
        if cut > first:
            total -= int(self._wts[np.arange(first, cut) % size, j].sum())
        new_from = max(seq0, low)
        total += int(weights[new_from - seq0:].sum())
        # then the oldest, while the total is over the limit (the newest sample alone
        # weighs at most UNIT <= the limit, so this ends before reaching it)
        start = max(first, low)
        block = max(1024, 4 * (seq1 - seq0))
        while total > self._limit:
            idx = np.arange(start, min(start + block, seq1 - 1))
            w = np.where(idx < seq0, self._wts[idx % size, j],
                         weights[np.maximum(idx - seq0, 0)])
            cum = np.cumsum(w)
            k = min(int(np.searchsorted(cum, total - self._limit, side="left")),
                    len(cum) - 1)              # the first k + 1 samples leave
            total -= int(cum[k])
            start += k + 1
        gone = np.arange(first, min(start, seq0))
        if len(gone):
            self._remove(j, self._vals[gone % size, j], self._wts[gone % size, j])
        kept_new = slice(max(start, seq0) - seq0, seq1 - seq0)
        self._insert(j, values[kept_new], weights[kept_new])
        self._first[j] = start
        self._total[j] = total

    def _insert(self, j: int, values: np.ndarray, weights: np.ndarray) -> None:
        if len(values) == 0:
            return
        allv = np.concatenate([self._u[j], values])
        uniq, inv = np.unique(allv, return_inverse=True)
        w = np.concatenate([self._w[j], weights])
        c = np.concatenate([self._c[j], np.ones(len(values), dtype=np.int64)])
        # sums of integers below 2**53: exact in float64
        self._w[j] = np.rint(np.bincount(inv, weights=w, minlength=len(uniq))).astype(np.int64)
        self._c[j] = np.rint(np.bincount(inv, weights=c, minlength=len(uniq))).astype(np.int64)
        self._u[j] = uniq

    def _remove(self, j: int, values: np.ndarray, weights: np.ndarray) -> None:
        uniq, inv = np.unique(values, return_inverse=True)
        idx = np.searchsorted(self._u[j], uniq, side="left")
        self._w[j][idx] -= np.rint(np.bincount(inv, weights=weights)).astype(np.int64)
        self._c[j][idx] -= np.bincount(inv).astype(np.int64)
        keep = self._c[j] > 0
        if not keep.all():
            self._u[j], self._w[j], self._c[j] = (self._u[j][keep], self._w[j][keep],
                                                  self._c[j][keep])
