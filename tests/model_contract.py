"""The model protocol's contract (wirescore.models), written once and run on every model:
River's check_estimator idea (river/checks/).

A ModelCase says how to make a fresh model (the same seed every time), its features,
what ordinary samples look like and what an obvious outlier is. check_model(case) runs
every check; each check is also a function a model's own tests call with their data:

- batched equals row by row: the detector's batched interface (ModelAdapter.score_learn)
  over a whole stream, and over the stream cut into uneven batches, equals score_one
  then learn_one per row, exactly (a case may allow a tolerance: an ONNX model agrees
  to float32 rounding, as onnxruntime sums a batch in another order than one row);
  learning a batch equals learn_one per row (the scores after are equal); scoring does
  not change the model;
- determinism: two fresh models give the same scores on the same stream;
- finite: every score is a finite number, on ordinary samples, zeros and the outlier;
- direction: after learning ordinary samples, the outlier scores higher than nine in
  ten ordinary samples (higher = more anomalous);
- bounded state: learning four times more samples than the model keeps does not grow
  it (its pickled size stays within 10 %); a model that does not learn (the ``learns``
  trait False) scores the same after learning;
- pickling: a pickled and unpickled model goes on exactly as the original, where the
  model can be pickled (an ONNX session cannot: models travel as ONNX files).
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from wirescore.models.adapters import ModelAdapter

CUTS = (1, 7, 64, 3, 333, 2)        # batch sizes, cycled: uneven cuts of a stream


@dataclass
class ModelCase:
    name: str
    make: Callable[[], Any]                          # a fresh model, same seed each time
    features: Sequence[str]
    sample: Callable[[np.random.Generator, int], np.ndarray]   # n ordinary rows
    outlier: Sequence[float]                         # one row far beyond ordinary ones
    keeps: int = 1000              # samples the model keeps at most (its window)
    pickles: bool = True
    tolerance: float = 0.0         # batched vs row by row: 0 = bit for bit

    def same(self, got, want) -> bool:
        got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        if self.tolerance == 0:
            return np.array_equal(got, want)
        return got.shape == want.shape and np.allclose(got, want, rtol=0,
                                                       atol=self.tolerance)

    def adapter(self, model=None) -> ModelAdapter:
        return ModelAdapter(self.make() if model is None else model, self.features)

    def rows(self, X: np.ndarray) -> list[dict]:
        return [dict(zip(self.features, x)) for x in X.tolist()]


def stream(case: ModelCase, n: int = 800, seed: int = 0) -> np.ndarray:
    return np.asarray(case.sample(np.random.default_rng(seed), n), dtype=np.float64)


def row_by_row(case: ModelCase, X: np.ndarray, model=None) -> np.ndarray:
    """score_one then learn_one, per row: River's protocol, the reference."""
    model = case.make() if model is None else model
    out = np.empty(len(X))
    for i, x in enumerate(case.rows(X)):
        out[i] = model.score_one(x)
        model.learn_one(x)
    return out


def check_batched_equals_row_by_row(case: ModelCase, X: np.ndarray | None = None,
                                    cuts: Sequence[int] = CUTS) -> np.ndarray:
    """The first check of the module docstring; returns the row-by-row scores."""
    X = stream(case) if X is None else np.asarray(X, dtype=np.float64)
    want = row_by_row(case, X)
    whole = case.adapter().score_learn(X)
    assert case.same(whole, want), f"{case.name}: a batch is not row by row"
    cut, parts, i, k = case.adapter(), [], 0, 0
    while i < len(X):
        parts.append(cut.score_learn(X[i:i + cuts[k % len(cuts)]]))
        i += cuts[k % len(cuts)]
        k += 1
    assert case.same(np.concatenate(parts), want), f"{case.name}: cut batches differ"
    half = len(X) // 2
    batched, rowed = case.adapter(), case.make()
    batched.learn(X[:half])
    for x in case.rows(X[:half]):
        rowed.learn_one(x)
    after = batched.score(X[half:])
    assert case.same(after, [rowed.score_one(x) for x in case.rows(X[half:])]), \
        f"{case.name}: learning a batch is not learn_one per row"
    assert np.array_equal(batched.score(X[half:]), after), f"{case.name}: scoring changed it"
    return want


def check_deterministic(case: ModelCase) -> None:
    X = stream(case)
    assert np.array_equal(case.adapter().score_learn(X), case.adapter().score_learn(X)), \
        f"{case.name}: two fresh models disagree"


def check_finite(case: ModelCase) -> None:
    X = stream(case)
    a = case.adapter()
    scores = np.concatenate([a.score_learn(X), a.score(np.zeros((1, len(case.features)))),
                             a.score(np.asarray([case.outlier], dtype=np.float64))])
    assert np.isfinite(scores).all(), f"{case.name}: a score is not finite"


def check_outlier_scores_higher(case: ModelCase) -> None:
    a = case.adapter()
    a.learn(stream(case, n=max(800, 2 * case.keeps)))
    ordinary = a.score(stream(case, n=200, seed=1))
    outlier = a.score(np.asarray([case.outlier], dtype=np.float64))[0]
    assert outlier > np.quantile(ordinary, 0.9), \
        f"{case.name}: the outlier scores {outlier}, ordinary samples up to " \
        f"{np.quantile(ordinary, 0.9)} (nine in ten)"


def check_state_bounded(case: ModelCase) -> None:
    model = case.make()
    a = case.adapter(model)
    n = max(1000, 2 * case.keeps)
    a.learn(stream(case, n=n, seed=2))
    if not a.learns_online:
        probe = stream(case, n=50, seed=3)
        before = a.score(probe)
        a.learn(stream(case, n=n, seed=4))
        assert np.array_equal(a.score(probe), before), f"{case.name} learns: learns = False"
        return
    first = len(pickle.dumps(model))
    a.learn(stream(case, n=4 * n, seed=4))
    assert len(pickle.dumps(model)) <= 1.1 * first + 1024, \
        f"{case.name}: its state grew from {first} to {len(pickle.dumps(model))} bytes"


def check_pickle(case: ModelCase) -> None:
    if not case.pickles:
        return
    X = stream(case)
    half = len(X) // 2
    model = case.make()
    case.adapter(model).learn(X[:half])
    copy = pickle.loads(pickle.dumps(model))
    assert np.array_equal(case.adapter(copy).score_learn(X[half:]),
                          case.adapter(model).score_learn(X[half:])), \
        f"{case.name}: the unpickled model goes on differently"


CHECKS = (check_batched_equals_row_by_row, check_deterministic, check_finite,
          check_outlier_scores_higher, check_state_bounded, check_pickle)


def check_model(case: ModelCase) -> None:
    """Every check of the contract."""
    for check in CHECKS:
        check(case)
