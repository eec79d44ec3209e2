"""One batched interface over every model a profile can run.

    score(X) -> scores         X: float64 (n, d), columns in the profile's order
    learn(X)                   update with those rows, in order
    score_learn(X) -> scores   score each row, then learn it, row after row

A model with the ``batched`` trait (wirescore's own: HalfSpaceTrees, TailModel,
ExtremeCounts, OnnxModel) gets the arrays as they are, without the GIL where it has a
compiled core; any other model (a River model, a user's object with score_one /
learn_one) is called row by row with dicts {feature: value}. The ``scaled`` and
``learns`` traits (wirescore.models) tell the detector whether to min-max scale the
features and whether the model learns at all. Higher score = more anomalous.

>>> import numpy as np
>>> from wirescore.models.adapters import ModelAdapter
>>> from wirescore.models.tail import TailModel
>>> adapter = ModelAdapter(TailModel(["flows"], window=10), ["flows"])
>>> adapter.scaled, adapter.learns_online
(False, True)
>>> adapter.score_learn(np.array([[1.0], [2.0], [5.0]])).round(3)
array([0.   , 0.289, 0.458])
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from wirescore.errors import WirescoreError


class ModelAdapter:
    """Wrap `model` for batched scoring; its traits come from its class (defaults:
    River's protocol, row by row, scaled input, learning)."""

    def __init__(self, model: Any, features: Sequence[str], label: str | None = None):
        self.model = model
        self.features = tuple(features)
        self.label = label or type(model).__name__
        kind = type(model)          # class attributes only: a River wrapper forwards
        self._batched = bool(getattr(kind, "batched", False))   # unknown attributes
        self.scaled = bool(getattr(kind, "scaled", True))
        self.learns_online = bool(getattr(kind, "learns", True))
        needs = (("score_many", "learn_many", "score_learn_many") if self._batched
                 else ("score_one", "learn_one"))
        missing = [m for m in needs if not hasattr(model, m)]
        if missing:
            raise WirescoreError(f"model {self.label}: has no {missing[0]}; a model needs "
                                 "score_one/learn_one (River's protocol), or the batched "
                                 "methods when it declares batched = True")

    def score(self, X: np.ndarray) -> np.ndarray:
        if self._batched:
            return np.asarray(self.model.score_many(X), dtype=np.float64)
        names = self.features
        return np.fromiter((self.model.score_one(dict(zip(names, row)))
                            for row in X.tolist()), dtype=np.float64, count=len(X))

    def score_learn(self, X: np.ndarray) -> np.ndarray:
        """Score each row, then learn it, row after row (exact streaming)."""
        if self._batched:
            return np.asarray(self.model.score_learn_many(X), dtype=np.float64)
        names = self.features
        out = np.empty(len(X))
        for i, row in enumerate(X.tolist()):
            x = dict(zip(names, row))
            out[i] = self.model.score_one(x)
            self.model.learn_one(x)
        return out

    def learn(self, X: np.ndarray) -> None:
        if len(X) == 0:
            return
        if self._batched:
            self.model.learn_many(X)
            return
        names = self.features
        for row in X.tolist():
            self.model.learn_one(dict(zip(names, row)))
