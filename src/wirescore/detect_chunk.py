"""The state a profile's stream is scored with (wirescore.detect, step 3).

A profile scores its records in chunks of CHUNK rows of its whole stream, not of a
batch: OpenChunk holds the rows of the chunk whose last row has not come yet (fewer
than CHUNK) and the state they are scored with, taken at the chunk's start (the model
is left as it was: the detector learns the chunk when it is complete); RunningStats
keeps the per-column statistics the chunks are folded into (scaling, explanations).
"""
from __future__ import annotations

import numpy as np

CHUNK = 256      # rows scored between two threshold / statistics updates


class RunningStats:
    """Per-column count, mean and variance (Chan's parallel update), and min/max."""

    def __init__(self, width: int):
        self.n = 0
        self.mean = np.zeros(width)
        self.m2 = np.zeros(width)
        self.lo = np.full(width, np.inf)
        self.hi = np.full(width, -np.inf)

    def update(self, X: np.ndarray) -> None:
        if len(X) == 0:
            return
        nb = len(X)
        mb = X.mean(axis=0)
        m2b = ((X - mb) ** 2).sum(axis=0)
        delta = mb - self.mean
        total = self.n + nb
        self.mean = self.mean + delta * nb / total
        self.m2 = self.m2 + m2b + delta ** 2 * self.n * nb / total
        self.n = total
        self.lo = np.minimum(self.lo, X.min(axis=0))
        self.hi = np.maximum(self.hi, X.max(axis=0))

    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / self.n) if self.n else np.zeros_like(self.mean)


class OpenChunk:
    """The rows of a profile's open chunk (fewer than CHUNK) and the state they are
    scored with, as of its start: learned (rows the model had learned), thr (the
    threshold), and from stats the range a scaled model's rows start from and, when
    explain_stats, the means and standard deviations explanations measure z by."""

    def __init__(self, learned: int, thr: float, stats: RunningStats, explain_stats: bool):
        self.rows = 0
        self.learned = learned
        self.thr = thr
        self.mean = self.std = None
        if explain_stats:
            self.mean, self.std = stats.mean.copy(), stats.std()
        self._lo, self._hi = stats.lo.copy(), stats.hi.copy()
        self._parts: list[tuple] = []

    def scale(self, X: np.ndarray) -> np.ndarray:
        """Rows of X scaled to [0, 1] by the range as of the chunk's start widened by
        the chunk's rows up to and including each row."""
        lo = np.minimum(np.minimum.accumulate(X, axis=0), self._lo)
        hi = np.maximum(np.maximum.accumulate(X, axis=0), self._hi)
        self._lo, self._hi = lo[-1], hi[-1]
        span = np.where(hi > lo, hi - lo, 1.0)
        return np.clip((X - lo) / span, 0.0, 1.0)

    def add(self, X, part, keep, s) -> None:
        """Rows that came: their features X, the rows the model scored (part: X scaled,
        or X), which of them to learn (keep) and their scores s."""
        self._parts.append((X, part, keep, s))
        self.rows += len(X)

    def joined(self) -> tuple:
        """(X, scaled rows, keep, scores) of the whole chunk, in order."""
        if len(self._parts) == 1:
            return self._parts[0]
        return tuple(np.concatenate(col) for col in zip(*self._parts))


class Batch:
    """A batch of records a profile detector processes in steps (wirescore.detect
    ProfileDetector._begin, _advance, _finish): the records, their features (X; Xs as
    the model scores them), a model's batched scores (pre: one that neither learns nor
    scales), allowlist hits, scores and alerts so far, and how many rows are done."""

    __slots__ = ("records", "X", "Xs", "pre", "scores", "allowed", "alerts", "done")
