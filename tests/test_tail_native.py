"""The tail model's C reference (ext/tail.pyx) keeps the state of the numpy model it
replaced (tests/tail_reference.py) and gives its scores bit for bit: on every call the
shipped flow profile makes during a run of the public evaluation mix, and on synthetic
streams built to hit the corners (weighted and unscored columns, bursts so large that
the ring caps the reference, continuous values that are nearly all distinct, ties,
NaN, values leaving and coming back); the distinct values, weights, counts and totals
after each batch are the same; a pickled model goes on as the original.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from conftest import need_shared
from tail_reference import TailReference
from wirescore._core.tail import TailCore
from wirescore.config import Config
from wirescore.engine import Engine
from wirescore.models import tail
from wirescore.models.tail import TailModel


def same_state(native: TailModel, ref: TailReference) -> None:
    for j in np.flatnonzero(ref._scored).tolist():
        u, w, c = native._core.distinct(j)
        assert np.array_equal(u, ref._u[j], equal_nan=True), j
        assert np.array_equal(w, ref._w[j]) and np.array_equal(c, ref._c[j]), j
        assert native._core.held(j) == (int(ref._first[j]), int(ref._total[j])), j


def replay(calls: list, params: dict, native: TailModel | None = None) -> None:
    """The calls (method, X, output) made again on a fresh numpy model: every output
    the same bit for bit; then (given the native model) the same state."""
    ref = TailReference(**params)
    for n, (method, X, out) in enumerate(calls):
        want = getattr(ref, method)(X)
        if out is not None:
            assert np.array_equal(out, want), (n, method)
    if native is not None:
        same_state(native, ref)


def test_every_call_of_a_run_of_the_mix_matches_the_numpy_model(tmp_path, monkeypatch):
    mix = need_shared() / "eval" / "mix-public.pcap"
    made = []

    class Recorded(TailModel):
        def __init__(self, features, **params):
            super().__init__(features, **params)
            self.params = {"features": features, **params}
            self.calls = []
            made.append(self)

        def score_many(self, X):
            out = super().score_many(X)
            self.calls.append(("score_many", np.array(X, dtype=np.float64), out))
            return out

        def learn_many(self, X):
            super().learn_many(X)
            self.calls.append(("learn_many", np.array(X, dtype=np.float64), None))

    monkeypatch.setattr(tail, "TailModel", Recorded)
    Engine(Config.load(), tmp_path).run(str(mix))
    assert made, "the shipped flow-around-tail profile uses the tail model"
    for model in made:
        assert sum(len(X) for m, X, _ in model.calls if m == "learn_many") > 5000
        assert any((out > 0.9).any() for m, _, out in model.calls if out is not None)
        replay(model.calls, model.params, model)
        # the same flows through a reference of 300 (weighted: bursts) samples, so
        # that its oldest leave all along: native and numpy again alike
        small = {**model.params, "window": 300, "max_samples": None}
        native = TailModel(**small)
        calls = [(m, X, getattr(native, m)(X)) for m, X, _ in model.calls]
        replay(calls, small, native)
        assert native._core.held(0)[0] > 0, "the oldest samples left"


def stream(rng, n: int, kind: str) -> np.ndarray:
    """Columns a (counts), b (continuous), c (burst sizes)."""
    X = np.empty((n, 3))
    X[:, 0] = rng.poisson(3, n)
    X[:, 1] = rng.random(n) * 100 if kind != "ties" else rng.integers(0, 4, n)
    X[:, 2] = rng.integers(1, 400 if kind != "huge-bursts" else 100_000, n)
    X[rng.random(n) < 0.01, 0] = 1e6                       # rare large values
    if kind == "nan":
        X[rng.integers(0, n, 20), 1] = np.nan
        X[rng.integers(0, n, 5), 0] = -np.inf
        X[rng.integers(0, n, 5), 2] = 0.25                 # bursts below 1 weigh 1
    return X


@pytest.mark.parametrize("kind", ["plain", "ties", "huge-bursts", "nan"])
@pytest.mark.parametrize("params", [
    {"window": 50},
    {"window": 200, "weight_by": {"a": "c", "b": "c"}},
    {"window": 100, "weight_by": {"a": "c"}, "unscored": ["c"], "max_samples": 300},
])
def test_synthetic_streams_match_the_numpy_model_however_cut(kind, params):
    rng = np.random.default_rng(len(kind) * 7 + params["window"])
    X = stream(rng, 4000, kind)
    params = {"features": ("a", "b", "c"), **params}
    native, calls, i, step = TailModel(**params), [], 0, 0
    cuts = (1, 333, 7, 64, 1500, 2, 90)
    while i < len(X):
        part = X[i:i + cuts[step % len(cuts)]]
        with np.errstate(invalid="ignore"):
            calls.append(("score_many", part, native.score_many(part)))
            native.learn_many(part)
        calls.append(("learn_many", part, None))
        i, step = i + len(part), step + 1
    with np.errstate(invalid="ignore"):
        replay(calls, params, native)


def test_a_pickled_model_goes_on_as_the_original():
    rng = np.random.default_rng(2)
    X = stream(rng, 3000, "plain")
    params = {"features": ("a", "b", "c"), "window": 300, "weight_by": {"a": "c"}}
    model = TailModel(**params)
    model.learn_many(X[:1700])
    twin = pickle.loads(pickle.dumps(model))
    for part in (X[1700:1701], X[1701:2500], X[2500:]):
        assert np.array_equal(twin.score_many(part), model.score_many(part))
        twin.learn_many(part)
        model.learn_many(part)
    for j in range(3):
        assert all(np.array_equal(a, b) for a, b in zip(twin._core.distinct(j),
                                                         model._core.distinct(j)))


def test_the_core_refuses_arrays_and_parameters_of_the_wrong_shape():
    core = TailCore(np.array([-1, 0]), np.array([1, 1]), 10, 20)
    with pytest.raises(ValueError, match="2 features"):
        core.learn(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="2 features"):
        core.p_values(np.zeros(4))
    with pytest.raises(ValueError, match="weight columns"):
        TailCore(np.array([2, -1]), np.array([1, 1]), 10, 20)
    with pytest.raises(ValueError, match="size"):
        TailCore(np.array([-1]), np.array([1]), 10, 5)
