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
