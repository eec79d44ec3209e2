"""A model fitted in this process (scikit-learn, XGBoost, LightGBM, ...), handed to a
profile through the Python API for research runs, no ONNX file between:

    from wirescore.models.fitted import FittedModel
    profile = Profile(id=9300001, name="my forest", features=(...), transform="none",
                      model={"name": "fitted"}, model_object=FittedModel(forest),
                      threshold_fixed=0.5, threshold_quantile=None, warmup=0)

Score: the estimator's predict_proba column `column` (a classifier's attack
probability), or, without predict_proba, -decision_function (scikit-learn's outlier
detectors: higher = more anomalous). The model never learns (the detector's learn is a
no-op) and takes the features as the profile's transform leaves them (no min-max
scaling). `estimator` stays reachable for explainers (SHAP's tree explainer).

A trained torch.nn.Module runs the same way through FittedTorch:

    from wirescore.models.fitted import FittedTorch
    model_object=FittedTorch(mlp, features, mean=mu, std=sd, activation="sigmoid")

It scores with the very module `wirescore model export` puts into ONNX
(wirescore.torch_export.ScoreModule: standardisation, the model, the activation, the
score's column), so the in-process scores and the exported model's agree (within 1e-5,
the export's check). The module is put in eval mode (dropout off, batch norm on its
running statistics) and is not trained further.
"""
from __future__ import annotations

import numpy as np

from wirescore.errors import WirescoreError


class FittedModel:
    """A fitted estimator as a batched wirescore model (see the module docstring)."""

    batched = True
    scaled = False
    learns = False

    def __init__(self, estimator, column: int = 1):
        if not (hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function")):
            if any(c.__module__.startswith("torch.") and c.__name__ == "Module"
                   for c in type(estimator).__mro__):
                raise WirescoreError(f"{type(estimator).__name__}: a torch module; use "
                                     "FittedTorch(module, features, ...)")
            raise WirescoreError(f"{type(estimator).__name__}: a fitted model needs "
                                 "predict_proba or decision_function")
        self.estimator = estimator
        self.column = column

    def score_many(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if hasattr(self.estimator, "predict_proba"):
            return np.asarray(self.estimator.predict_proba(X), dtype=np.float64)[:, self.column]
        return -np.asarray(self.estimator.decision_function(X), dtype=np.float64)

    def score_one(self, x: dict) -> float:
        """River's protocol: one row as {feature: value}, in the profile's order."""
        return float(self.score_many(np.array([list(x.values())], dtype=np.float64))[0])

    def learn_one(self, x: dict) -> None:
        """Nothing: the model is fixed."""

    def learn_many(self, X: np.ndarray) -> None:
        """Nothing: the model is fixed."""

    def score_learn_many(self, X: np.ndarray) -> np.ndarray:
        return self.score_many(X)


class FittedTorch:
    """A trained torch.nn.Module as a batched wirescore model (see the module docstring).

    Parameters
    ----------
    module : torch.nn.Module
        Takes float32 [rows, len(features)], returns [rows] or [rows, k].
    features : sequence of str
        The profile's feature columns, in the module's order.
    mean, std : sequences (in the column order) or mappings {feature: value}, optional
        Standardisation before the module, (x - mean) / std (a std of 0 counts as 1).
    activation : "none", "sigmoid" or "softmax"
        Turns the output into the score (one logit per row; class logits).
    column : int, optional
        The output column that is the score, for an output with several.
    """

    batched = True
    scaled = False
    learns = False

    def __init__(self, module, features, mean=None, std=None, activation: str = "none",
                 column: int | None = None):
        from wirescore.torch_export import _in_order, score_module

        self.features = tuple(features)
        mean, std = (_in_order(v, self.features, k) for v, k in ((mean, "mean"), (std, "std")))
        self.module = module
        self.scorer = score_module(module, len(self.features), mean, std, activation,
                                   column, what=type(module).__name__)

    def score_many(self, X: np.ndarray) -> np.ndarray:
        from wirescore.torch_export import torch_scores

        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.features):
            raise WirescoreError(f"{type(self.module).__name__}: expected rows of "
                                 f"{len(self.features)} columns, got shape {X.shape}")
        if len(X) == 0:
            return np.empty(0, dtype=np.float64)
        return torch_scores(self.scorer, X)

    def score_one(self, x: dict) -> float:
        """River's protocol: one row as {feature: value} (missing features are 0)."""
        row = np.array([[float(x.get(f, 0.0)) for f in self.features]], dtype=np.float64)
        return float(self.score_many(row)[0])

    def learn_one(self, x: dict) -> None:
        """Nothing: the model is fixed."""

    def learn_many(self, X: np.ndarray) -> None:
        """Nothing: the model is fixed."""

    def score_learn_many(self, X: np.ndarray) -> np.ndarray:
        return self.score_many(X)
