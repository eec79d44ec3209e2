"""Counts over the last N connections, in the order flows end (UNSW-NB15's ct_* columns).

RecentCounter(keys, window) keeps, across batches, the keys of the last window-1 rows;
count(batch) gives, for each row of the batch, how many of the `window` rows ending with
it (itself included, so the least is 1) have the same key. Keys are rows of a 2-D
uint8 array (any fixed width): address bytes, ports, a service code, joined.

Cost: one np.unique and one sort over (window - 1 + batch rows) per key and batch.
"""
from __future__ import annotations

import numpy as np


def window_counts(groups: np.ndarray, window: int) -> np.ndarray:
    """For each position j of groups (int ids), the number of positions in
    [j - window + 1, j] with the same id."""
    m = len(groups)
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    pos = np.arange(m, dtype=np.int64)
    span = m + window
    composite = groups.astype(np.int64) * span + pos
    order = np.argsort(composite, kind="stable")
    sorted_c = composite[order]
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)
    lo = np.searchsorted(sorted_c, groups.astype(np.int64) * span + (pos - window + 1),
                         side="left")
    return rank - lo + 1


class RecentCounter:
    """Same-key counts over the last `window` rows, kept across batches."""

    def __init__(self, window: int = 100):
        self.window = window
        self._history: np.ndarray | None = None    # the last window-1 key rows

    def count(self, keys: np.ndarray) -> np.ndarray:
        """keys: (rows, width) uint8, the batch in flow-end order."""
        keys = np.ascontiguousarray(keys, dtype=np.uint8)
        n = len(keys)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        hist = self._history if self._history is not None else keys[:0]
        allk = np.concatenate([hist, keys]) if len(hist) else keys
        void = allk.view(np.dtype((np.void, allk.shape[1]))).ravel()
        _, groups = np.unique(void, return_inverse=True)
        counts = window_counts(groups.ravel(), self.window)[len(hist):]
        self._history = allk[-(self.window - 1):].copy() if self.window > 1 else keys[:0]
        return counts
