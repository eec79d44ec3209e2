"""Per-alert explanations by SHAP or LIME (optional: the research extra), under a time
budget, attached to the alert's EVE event at alert.context.wirescore.explanation.

    explainer = AlertExplainer("shap-kernel", background, features, budget_ms=20)
    profile.explainer = explainer          # the detector binds the profile's scorer

Methods:
- ``shap-tree``: SHAP's TreeExplainer over an in-process tree model (a FittedModel of a
  random forest, gradient boosting, XGBoost, LightGBM ...): exact; the values plus the
  expected value equal the model's raw output (a forest's probability, a boosted
  model's margin: `output` says which);
- ``shap-kernel``: Kernel SHAP over the profile's own scorer (any model, ONNX too) with
  the background rows as the reference: the values sum to score(x) minus the mean
  score of the background, by construction; `samples` model evaluations;
- ``lime``: LIME's tabular explainer (regression on the score, `samples` perturbations,
  the background rows for its statistics): the `top` weights, deterministic for a fixed
  seed (its random state is reset before each alert, so an alert's explanation does not
  depend on the alerts before it).

Background: rows of the training data (float, the profile's features after its
transform; raw_background: before it, transformed at bind), at most `background_rows`
kept (a seeded sample).

Budget: explanations run inline in the detection stage, never queued: each alert adds
`budget_ms` to a bucket (holding at most `burst` alerts' worth); an alert is explained
only when the bucket holds the expected cost of one explanation (the mean of the last
ones; the first is always tried), and what it took is taken out. The alert itself is
written either way: without room its explanation is {"method": ..., "skipped":
"budget"}. So over any stretch the explanation time is at most alerts x budget_ms plus
`burst` x budget_ms plus one explanation's overrun, whatever the burst; `clock` is
injectable for tests. Counters: explained, skipped, spent_ms.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Sequence

import numpy as np

from wirescore.errors import WirescoreError

log = logging.getLogger(__name__)

METHODS = ("shap-tree", "shap-kernel", "lime")


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise WirescoreError(f"explanations by {module} need the {module} package: pip "
                             "install 'wirescore[research]'") from None


class AlertExplainer:
    """See the module docstring."""

    def __init__(self, method: str, background: np.ndarray, features: Sequence[str], *,
                 budget_ms: float = 20.0, burst: int = 10, samples: int = 200,
                 top: int = 5, seed: int = 0, background_rows: int = 50,
                 raw_background: bool = False,
                 clock: Callable[[], float] = time.perf_counter):
        if method not in METHODS:
            raise WirescoreError(f"explainer method {method!r}: one of {', '.join(METHODS)}")
        background = np.asarray(background, dtype=np.float64)
        if background.ndim != 2 or background.shape[1] != len(features) or not len(background):
            raise WirescoreError(f"explainer: background rows must be (rows, "
                                 f"{len(features)}); got {background.shape}")
        if len(background) > background_rows:
            pick = np.random.default_rng(seed).choice(len(background), background_rows,
                                                      replace=False)
            background = background[np.sort(pick)]
        self.method, self.background, self.features = method, background, list(features)
        self.budget_ms, self.burst, self.samples, self.top = budget_ms, burst, samples, top
        self.seed, self.clock = seed, clock
        self.raw_background = raw_background   # rows before the profile's transform
        self.bucket_ms = budget_ms * burst
        self._costs: list[float] = []
        self.explained = self.skipped = 0
        self.spent_ms = 0.0
        self._impl = None

    def bind(self, score: Callable[[np.ndarray], np.ndarray], model=None,
             transform: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """Attach the profile's scorer (X float64 -> scores), its model object and
        its transform (applied once to raw background rows)."""
        self._score = score
        if self.raw_background and transform is not None:
            self.background = transform(self.background)
            self.raw_background = False
        if self.method == "shap-tree":
            shap = _need("shap")
            estimator = getattr(model, "estimator", None)
            if estimator is None:
                raise WirescoreError("explainer shap-tree needs an in-process tree model "
                                     "(models.fitted.FittedModel); use shap-kernel for "
                                     "ONNX and other models")
            self._impl = shap.TreeExplainer(estimator)
        elif self.method == "shap-kernel":
            shap = _need("shap")
            self._impl = shap.KernelExplainer(lambda X: self._score(np.asarray(X)),
                                              self.background)
        else:
            lime_tabular = _need("lime.lime_tabular")
            self._impl = lime_tabular.LimeTabularExplainer(
                self.background, feature_names=self.features, mode="regression",
                random_state=self.seed, discretize_continuous=True)

    def _room(self) -> bool:
        expected = float(np.mean(self._costs[-8:])) if self._costs else 0.0
        return self.bucket_ms >= expected

    def explain(self, x: np.ndarray) -> dict:
        """The explanation of one alert's feature row, or a 'skipped' note (budget)."""
        self.bucket_ms = min(self.bucket_ms + self.budget_ms, self.budget_ms * self.burst)
        if not self._room():
            self.skipped += 1
            return {"method": self.method, "skipped": "budget"}
        t0 = self.clock()
        out = self._explain(np.asarray(x, dtype=np.float64))
        cost = (self.clock() - t0) * 1000.0
        self._costs.append(cost)
        self.bucket_ms -= cost
        self.spent_ms += cost
        self.explained += 1
        out["elapsed_ms"] = round(cost, 3)
        return out

    def _explain(self, x: np.ndarray) -> dict:
        if self.method == "lime":
            return self._lime(x)
        if self.method == "shap-tree":
            values = np.asarray(self._impl.shap_values(x[None, :].astype(np.float32)))
            base = np.ravel(self._impl.expected_value)
            if values.ndim == 3:              # (rows, features, classes): the attack class
                values, base = values[..., -1], base[-1:]
            output = "raw model output (a forest's probability, a boosted model's margin)"
        else:
            values = np.asarray(self._impl.shap_values(x[None, :], nsamples=self.samples,
                                                       silent=True))
            base = np.ravel(self._impl.expected_value)
            output = "the profile's score"
        phi = np.ravel(values)[:len(self.features)]
        return {"method": self.method, "expected_value": float(base[0]),
                "output": output, "values": dict(zip(self.features, phi.tolist()))}

    def _lime(self, x: np.ndarray) -> dict:
        from sklearn.utils import check_random_state

        # every random state LIME keeps (sampling, its ridge, the discretizer's
        # undiscretize), reset: an alert's explanation does not depend on earlier ones
        self._impl.random_state = check_random_state(self.seed)
        self._impl.base.random_state = check_random_state(self.seed)
        if getattr(self._impl, "discretizer", None) is not None:
            self._impl.discretizer.random_state = check_random_state(self.seed)
        exp = self._impl.explain_instance(x, lambda X: self._score(np.asarray(X)),
                                          num_features=self.top, num_samples=self.samples)
        # lime's regression mode keeps the score's explanation under label 1
        return {"method": "lime", "intercept": float(exp.intercept[1]),
                "local_prediction": float(np.ravel(exp.local_pred)[0]),
                "weights": {name: float(w) for name, w in exp.as_list(label=1)}}

    def counters(self) -> dict:
        return {"explained": self.explained, "skipped": self.skipped,
                "spent_ms": round(self.spent_ms, 3)}
