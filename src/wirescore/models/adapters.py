"""One batched interface over every kind of model a profile can name.

    score(X) -> scores         X: float64 (n, d), columns in the profile's order,
                               each value in [0, 1] after the detector's scaling
    learn(X)                   update with those rows, in order

Native models (wirescore.models.HalfSpaceTrees, and wirescore.models.extreme.ExtremeCounts,
which takes the features unscaled) do both over numpy arrays without the
GIL; River models and a user's own object (anything with score_one/learn_one, or
score_many/learn_many) are called row by row with dicts {feature: value}. Higher
score = more anomalous, River's convention.

An ONNX model (wirescore.models.onnx.OnnxModel) is pre-trained: it takes the features
as the profile's transform leaves them (learns_online and scaled are False: no running
min-max scaling, learn does nothing) and scores whole batches at once.
"""
from __future__ import annotations

import importlib
from typing import Any, Sequence

import numpy as np

from wirescore.errors import WirescoreError


class ModelAdapter:
    """Wrap `model` (native, River or user object) for batched scoring."""

    def __init__(self, model: Any, features: Sequence[str], label: str, arrays: bool = False,
                 pretrained: bool = False, raw: bool = False):
        """arrays: the model's score_many/learn_many take 2-d float64 arrays.
        pretrained: the model was fitted offline (ONNX): it does not learn, and it takes
        the transformed features unscaled (they are not min-max scaled to [0, 1]).
        raw: the model learns online but takes the transformed features unscaled
        (wirescore.models.extreme.ExtremeCounts: counts against absolute floors)."""
        self.model = model
        self.features = tuple(features)
        self.label = label
        self._native = arrays
        self.learns_online = not pretrained
        self.scaled = not (pretrained or raw)
        if not (self._native or (hasattr(model, "score_one") and hasattr(model, "learn_one"))):
            raise WirescoreError(f"model {label}: needs score_one/learn_one "
                                 "(River's protocol) or score_many/learn_many")

    def score(self, X: np.ndarray) -> np.ndarray:
        if self._native:
            return np.asarray(self.model.score_many(X), dtype=np.float64)
        names = self.features
        return np.fromiter((self.model.score_one(dict(zip(names, row)))
                            for row in X.tolist()), dtype=np.float64, count=len(X))

    def score_learn(self, X: np.ndarray) -> np.ndarray:
        """Score each row, then learn it, row after row (exact streaming)."""
        if self._native:
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
        if self._native:
            self.model.learn_many(X)
            return
        names = self.features
        for row in X.tolist():
            self.model.learn_one(dict(zip(names, row)))


# wirescore's own models: profile name -> (module, class, raw: takes the transformed
# features unscaled). tail ranks against a reference it keeps, which moving min-max
# bounds would re-rank; extreme compares counts with floors in their own units.
NATIVE_MODELS = {
    "hst": ("wirescore.models.hst", "HalfSpaceTrees", False),
    "tail": ("wirescore.models.tail", "TailModel", True),
    "extreme": ("wirescore.models.extreme", "ExtremeCounts", True),
}


def native_model(name: str, features: Sequence[str], params: dict) -> Any:
    """A native model (NATIVE_MODELS) built from a profile's params; raises TypeError or
    ValueError when they are wrong."""
    module, cls, _ = NATIVE_MODELS[name]
    return getattr(importlib.import_module(module), cls)(features=tuple(features), **params)


def build_model(spec: dict, features: Sequence[str], user_object: Any = None,
                transform: str | None = None) -> ModelAdapter:
    """A model from a profile's `model:` mapping ({name, params}). For `onnx`, params
    holds the model file's path (absolute once rules.py has read the profile) and the
    output options of wirescore.models.onnx.OnnxModel; transform is the profile's,
    checked against the model's metadata."""
    name, params = spec["name"], dict(spec.get("params", {}))
    if user_object is not None:
        return ModelAdapter(user_object, features, type(user_object).__name__)
    if name == "onnx":
        from wirescore.models.onnx import OnnxModel

        if "path" not in params:
            raise WirescoreError("model onnx: params need path: FILE.onnx")
        path = params.pop("path")
        try:
            model = OnnxModel(path, features, transform=transform, **params)
        except TypeError as exc:
            raise WirescoreError(f"model onnx {path}: {exc}") from None
        return ModelAdapter(model, features, "onnx", arrays=True, pretrained=True)
    if name in NATIVE_MODELS:
        try:
            model = native_model(name, features, params)
        except (TypeError, ValueError) as exc:
            raise WirescoreError(f"model {name}: {exc}") from None
        return ModelAdapter(model, features, name, arrays=True, raw=NATIVE_MODELS[name][2])
    if name.startswith("river:"):
        path = name[len("river:"):]
        module, _, cls = path.rpartition(".")
        try:
            obj = getattr(importlib.import_module(f"river.{module}"), cls)
        except (ImportError, AttributeError):
            raise WirescoreError(f"model {name}: no class {cls} in river.{module}") from None
        try:
            return ModelAdapter(obj(**params), features, name)
        except (TypeError, ValueError) as exc:
            raise WirescoreError(f"model {name}: {exc}") from None
    raise WirescoreError(f"unknown model {name!r}")
