"""First-seen rarity: scores app-layer observations (unit: app) by how far a count of
new things lies beyond its floor, where the thing is rare.

For observations of one kind (wirescore.appkeys.KINDS), with the first-seen tables'
answer (wirescore._core.firstseen: pair_new, pair_keys_before, server_clients_before,
key_hosts_before, ...) and the observation's own columns (key_len, key_entropy):

- gates: every `at_least` column >= its value and every `at_most` column <= its value
  (e.g. at_most {server_clients_before: 1}: nobody but this client asked under the
  domain; at_least {key_len: 24}: the name is long);
- count: the `count` column with this observation included where it adds to it
  (pair_count_before + 1; pair_keys_before + pair_new, "how many distinct names"), any
  other column as it is ("how many clients the server had before");
- score: log2((1 + count) / (1 + floor)), the doublings beyond the floor, where the gates
  hold; -1 where they do not. With `threshold: {fixed: 0}` an observation alerts when
  its count exceeds the floor; a larger count ranks higher, so "0 of 412 clients before"
  (count 412 of server_clients_before, gate at_most {key_clients_before: 0}) outranks
  "0 of 5".

Nothing is learned beyond the tables themselves; no alert comes in the first
`warmup_seconds` of packet time after the tables' first observation (the detector
applies it: the tables have not yet seen who normally does what).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


class FirstSeenRule:
    """kind: an observation kind (wirescore.appkeys.KINDS); count: the counted column;
    floor: the count an alert must exceed (>= 0); at_least / at_most: {column: value}
    gates; warmup_seconds: packet time after the first observation before any alert.
    Columns: wirescore.appkeys.COLUMNS. Cost: a few numpy passes per batch."""

    def __init__(self, features: Sequence[str], kind: str, count: str, floor: float,
                 at_least: Mapping[str, float] | None = None,
                 at_most: Mapping[str, float] | None = None, warmup_seconds: float = 60.0):
        from wirescore.appkeys import BY_NAME, COLUMNS

        if kind not in BY_NAME:
            raise ValueError(f"kind {kind!r} is not an observation kind "
                             f"(one of: {', '.join(BY_NAME)})")
        at_least, at_most = dict(at_least or {}), dict(at_most or {})
        for col in (count, *at_least, *at_most):
            if col not in COLUMNS:
                raise ValueError(f"{col!r} is not a first-seen column "
                                 f"(one of: {', '.join(COLUMNS)})")
            if col not in features:
                raise ValueError(f"{col!r} must be one of the profile's features")
        if not floor >= 0 or not warmup_seconds >= 0:
            raise ValueError("floor and warmup_seconds must be >= 0")
        self.kind, self.count, self.floor = kind, count, float(floor)
        self.at_least, self.at_most = at_least, at_most
        self.warmup_us = int(warmup_seconds * 1e6)

    def score(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        """One score per observation (the module docstring), from its columns."""
        n = len(cols[self.count])
        ok = np.ones(n, dtype=bool)
        for col, value in self.at_least.items():
            ok &= cols[col].astype(np.float64) >= value
        for col, value in self.at_most.items():
            ok &= cols[col].astype(np.float64) <= value
        count = self.counted(cols)
        return np.where(ok, np.log2((1.0 + count) / (1.0 + self.floor)), -1.0)

    def counted(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        """The count of each observation (the module docstring)."""
        count = cols[self.count].astype(np.float64)
        if self.count == "pair_count_before":
            return count + 1.0
        if self.count == "pair_keys_before":
            return count + cols["pair_new"]
        return count
