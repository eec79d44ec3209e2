"""Every model a profile can run, through the one contract (tests/model_contract.py):
wirescore's own (hst, tail, extreme, onnx), built as a profile builds them
(wirescore.models.registry), and River models through the adapter; and the models'
docstring examples, run as doctests."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import wirescore.models
from model_contract import ModelCase, check_model
from wirescore.models.registry import build

UNIT = ("a", "b", "c", "d")              # features min-max scaled to [0, 1]
COUNTS = ("a", "b", "c")


def unit_sample(rng, n):
    """Ordinary samples of scaled features: a cluster in the lower third of [0, 1]."""
    return 0.3 * rng.random((n, len(UNIT)))


def count_sample(rng, n):
    return rng.poisson(3, (n, len(COUNTS))).astype(float)


def weighted_sample(rng, n):
    """Counts, the last one the burst that weighs the others (1 + its own count)."""
    X = rng.poisson(3, (n, len(COUNTS))).astype(float)
    X[:, 2] += 1
    return X


def profile_model(name, params, features):
    return lambda: build(name, params, features)[0]


CASES = [
    ModelCase("hst", profile_model("hst", {"n_trees": 7, "height": 6, "window_size": 64,
                                           "seed": 3}, UNIT),
              UNIT, unit_sample, [1.0] * len(UNIT), keeps=64),
    ModelCase("tail", profile_model("tail", {"window": 200}, COUNTS), COUNTS, count_sample,
              [60.0] * len(COUNTS), keeps=200),
    ModelCase("tail weighted", profile_model(
        "tail", {"window": 50, "weight_by": {"a": "c", "b": "c"}, "unscored": ["c"]},
        COUNTS), COUNTS, weighted_sample, [60.0, 60.0, 1.0], keeps=500),
    ModelCase("extreme", profile_model("extreme", {"floors": {"a": 10, "a*b": 30},
                                                   "memory": 200, "refresh": 16}, COUNTS),
              COUNTS, count_sample, [200.0] * len(COUNTS), keeps=200),
    ModelCase("river HalfSpaceTrees", profile_model(
        "river:anomaly.HalfSpaceTrees", {"n_trees": 5, "height": 5, "window_size": 64,
                                         "seed": 1}, UNIT),
              UNIT, unit_sample, [1.0] * len(UNIT), keeps=64),
    ModelCase("river LODA", profile_model("river:anomaly.LODA", {"seed": 1}, UNIT),
              UNIT, unit_sample, [1.0] * len(UNIT)),
    ModelCase("river OneClassSVM", profile_model("river:anomaly.OneClassSVM", {}, UNIT),
              UNIT, unit_sample, [1.0] * len(UNIT)),
    ModelCase("river QuantileFilter(HalfSpaceTrees)", profile_model(
        "river:anomaly.QuantileFilter",
        {"q": 0.95, "anomaly_detector": {"name": "river:anomaly.HalfSpaceTrees",
                                         "params": {"window_size": 64, "seed": 1}}}, UNIT),
              UNIT, unit_sample, [1.0] * len(UNIT), keeps=64),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_model_contract(case):
    check_model(case)


@pytest.fixture(scope="module")
def forest_onnx(tmp_path_factory):
    """An IsolationForest trained on ordinary count samples, as an ONNX file."""
    pytest.importorskip("sklearn", reason="needs the training extra (scikit-learn)")
    pytest.importorskip("skl2onnx", reason="needs the training extra (skl2onnx)")
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import IsolationForest

    X = count_sample(np.random.default_rng(9), 2000).astype(np.float32)
    forest = IsolationForest(n_estimators=30, random_state=1).fit(X)
    onx = to_onnx(forest, initial_types=[("input", FloatTensorType([None, len(COUNTS)]))],
                  target_opset={"": 17, "ai.onnx.ml": 3})
    path = tmp_path_factory.mktemp("onnx") / "forest.onnx"
    path.write_bytes(onx.SerializeToString())
    return path


def test_onnx_model_contract(forest_onnx):
    params = {"path": str(forest_onnx), "output": "scores", "negate": True}
    check_model(ModelCase("onnx", profile_model("onnx", params, COUNTS), COUNTS, count_sample,
                          [60.0] * len(COUNTS), pickles=False, tolerance=1e-6))


def test_fitted_model_contract():
    """A fitted scikit-learn model handed in through the API (models.fitted)."""
    pytest.importorskip("sklearn", reason="needs the training extra (scikit-learn)")
    from sklearn.ensemble import IsolationForest

    from wirescore.models.fitted import FittedModel

    X = count_sample(np.random.default_rng(9), 2000).astype(np.float32)
    forest = IsolationForest(n_estimators=30, random_state=1).fit(X)
    check_model(ModelCase("fitted", lambda: FittedModel(forest), COUNTS, count_sample,
                          [60.0] * len(COUNTS)))


MODULES = sorted(m.name for m in pkgutil.iter_modules(wirescore.models.__path__,
                                                      "wirescore.models."))


@pytest.mark.parametrize("name", MODULES + ["wirescore.evaluate"])
def test_docstring_examples(name):
    """The examples in the models' docstrings (and the metrics') run as written."""
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


class _Mean:
    """A toy model (distance from the running mean, summed over features), and ways to
    break the contract with it."""

    batched = True
    scaled = False
    learns = True

    def __init__(self, features=COUNTS, flaw=None):
        self.features, self.flaw = tuple(features), flaw
        self.n, self.total, self.kept = 0, np.zeros(len(self.features)), []
        self.rng = np.random.default_rng()

    def score_many(self, X):
        mean = self.total / max(self.n, 1)
        s = np.abs(np.asarray(X) - mean).sum(axis=1)
        if self.flaw == "random":
            s = s + self.rng.random(len(s))
        return -s if self.flaw == "backwards" else s

    def learn_many(self, X):
        X = np.asarray(X)
        self.n += len(X)
        self.total = self.total + X.sum(axis=0)
        if self.flaw == "hoards":
            self.kept.extend(X.tolist())

    def score_learn_many(self, X):
        if self.flaw == "learns first":
            self.learn_many(X)
            return self.score_many(X)
        out = np.empty(len(X))
        for i in range(len(X)):
            out[i] = self.score_many(X[i:i + 1])[0]
            self.learn_many(X[i:i + 1])
        return out

    def score_one(self, x):
        return float(self.score_many(np.array([[x[f] for f in self.features]]))[0])

    def learn_one(self, x):
        self.learn_many(np.array([[x[f] for f in self.features]]))


@pytest.mark.parametrize("flaw, check", [
    ("learns first", "check_batched_equals_row_by_row"),
    ("random", "check_deterministic"),
    ("backwards", "check_outlier_scores_higher"),
    ("hoards", "check_state_bounded"),
])
def test_the_contract_catches_a_model_that_breaks_it(flaw, check):
    import model_contract

    sound = ModelCase("mean", _Mean, COUNTS, count_sample, [60.0] * len(COUNTS))
    check_model(sound)
    flawed = ModelCase(f"mean that {flaw}", lambda: _Mean(flaw=flaw), COUNTS, count_sample,
                       [60.0] * len(COUNTS))
    with pytest.raises(AssertionError, match=f"mean that {flaw}"):
        getattr(model_contract, check)(flawed)
