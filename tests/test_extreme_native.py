"""The extreme model's C core (ext/extreme.pyx) gives the numbers of the numpy model it
replaced (tests/extreme_reference.py): the same references and the same scores, bit for
bit, on every call the shipped window profiles make during a run of
the public evaluation mix, and on synthetic streams built to hit the order statistic's
corner cases (ties, hints that stop holding, the memory turning over between two
refreshes); a pickled model goes on as the original.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from conftest import need_shared
from extreme_reference import ExtremeReference
from wirescore.config import Config
from wirescore._core.extreme import ExtremeCore
from wirescore.engine import Engine
from wirescore.models import extreme
from wirescore.models.extreme import ExtremeCounts

def params_of(model) -> dict:
    return {"features": model.features, "floors": dict(zip(model.names, model.floors)),
            "quantile": model.quantile, "margin": model.margin, "memory": model.memory,
            "refresh": model.refresh}


def replay(calls: list, params: dict) -> None:
    """Make the calls (method, X, output) on a fresh reference model and compare each
    output and the reference after it."""
    ref = ExtremeReference(**params)
    for n, (method, X, out, after) in enumerate(calls):
        with np.errstate(invalid="ignore"):          # inf * 0 in a product: NaN -> 0
            want = getattr(ref, method)(X)
        if out is not None:
            assert np.array_equal(out, want), (n, method)
        assert np.array_equal(after, ref.reference), (n, method)


def test_every_call_of_a_run_of_the_mix_matches_the_numpy_model(tmp_path, monkeypatch):
    mix = need_shared() / "eval" / "mix-public.pcap"
    made = []

    class Recorded(ExtremeCounts):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.calls = []
            made.append(self)

        def _record(self, method, X, out):
            self.calls.append((method, np.array(X, dtype=np.float64), out,
                               self.reference.copy()))
            return out

        def score_many(self, X):
            return self._record("score_many", X, super().score_many(X))

        def learn_many(self, X):
            return self._record("learn_many", X, super().learn_many(X))

        def score_learn_many(self, X):
            return self._record("score_learn_many", X, super().score_learn_many(X))

    monkeypatch.setattr(extreme, "ExtremeCounts", Recorded)
    Engine(Config.load(), tmp_path).run(str(mix))
    assert len(made) >= 2, "the shipped window profiles use the extreme model"
    learnt = [sum(len(X) for m, X, *_ in model.calls if "learn" in m) for model in made]
    assert max(learnt) > max(model.memory for model in made), "the memory turns over"
    for model in made:
        replay(model.calls, params_of(model))


def synthetic(rng, n: int) -> np.ndarray:
    """Counts with many ties, a level shift, bursts, NaN, inf and negative values."""
    X = rng.poisson(3, size=(n, 3)).astype(float)
    X[:, 2] = rng.random(n)
    X[n // 3:] += rng.poisson(20, size=(n - n // 3, 3)) * (rng.random((n - n // 3, 1)) < 0.3)
    X[rng.random(n) < 0.01, 0] = 5000.0
    X[rng.integers(0, n, 5), 1] = np.nan
    X[rng.integers(0, n, 5), 1] = np.inf
    X[rng.integers(0, n, 5), 0] = -7.0
    return X


@pytest.mark.parametrize("memory, refresh, quantile", [
    (500, 64, 0.999), (500, 64, 0.99), (1000, 7, 0.9), (100, 100, 0.5), (333, 1, 0.999)])
def test_synthetic_streams_match_the_numpy_model_however_cut(memory, refresh, quantile):
    rng = np.random.default_rng(memory + refresh)
    X = synthetic(rng, 6 * memory)
    params = {"features": ("a", "b", "c"), "floors": {"a": 8, "a*b": 40, "b*c*a": 3},
              "quantile": quantile, "margin": 2.0, "memory": memory, "refresh": refresh}
    model = ExtremeCounts(**params)
    calls, i, cuts = [], 0, (1, 63, 7, 250, 2, 501)
    for k in range(10_000):
        if i >= len(X):
            break
        part = X[i:i + cuts[k % len(cuts)]]
        method = ("score_learn_many", "learn_many", "score_many")[k % 3]
        out = getattr(model, method)(part)
        calls.append((method, part, out, model.reference.copy()))
        i += len(part)
    replay(calls, params)


@pytest.mark.parametrize("n, quantile", [(100, 0.999), (101, 0.97), (2000, 0.999),
                                         (2000, 0.5), (5000, 0.9)])
def test_each_refresh_takes_numpys_higher_quantile_of_the_ring(n, quantile):
    """The core started from a full ring of tied counts with rare large values (its
    state restored as pickling restores it), then fed row by row, a refresh every 16
    rows and at each turn of the memory: after every refresh the reference is np.quantile(ring, q, method="higher") (margin 1, a floor
    below everything), whether it was selected among the set of large values or the row
    was searched whole."""
    rng = np.random.default_rng(n)
    ring = rng.poisson(2, size=(1, n)).astype(float)
    ring[0, rng.random(n) < 0.01] = 1e6
    core = ExtremeCore(np.array([[0]]), [1e-300], 1, quantile, 1.0, n, 16)
    core._restore((ring, np.array([1e-300]), np.array([np.inf]), n, 0, 0, 0))
    refreshes, searched = 0, []
    for step in range(60):
        rows = rng.poisson(2 + step % 7, size=(16, 1)).astype(float)
        rows[rng.random(16) < 0.1] = 1e5 * (1 + step)
        for row in rows:
            core.learn(row[None, :])
            if core.since == 0:                          # a refresh just happened
                refreshes += 1
                now = core.__reduce__()[1][7][0]         # the ring as pickled
                searched.append(core.whole_searches)
                assert core.reference[0] == np.quantile(now[0], quantile,
                                                        method="higher"), step
    assert refreshes >= 60
    # most refreshes selected among the set of large values; some searched the row
    assert 0 < searched[-1] < refreshes // 2


def test_a_pickled_model_goes_on_as_the_original():
    rng = np.random.default_rng(11)
    X = synthetic(rng, 3000)
    params = {"features": ("a", "b", "c"), "floors": {"a": 8, "a*b": 40},
              "memory": 700, "refresh": 50, "quantile": 0.99}
    model = ExtremeCounts(**params)
    model.score_learn_many(X[:1234])
    twin = pickle.loads(pickle.dumps(model))
    assert np.array_equal(twin.score_learn_many(X[1234:]), model.score_learn_many(X[1234:]))
    assert np.array_equal(twin.reference, model.reference)


def test_the_reference_cannot_be_written_from_outside():
    model = ExtremeCounts(("a",), floors={"a": 3})
    with pytest.raises(ValueError):
        model.reference[0] = 1.0


def test_the_core_refuses_arrays_of_the_wrong_shape():
    core = ExtremeCore(np.array([[0, 1], [1, -1]]), [3.0, 4.0], 2, 0.99, 2.0, 100, 10)
    with pytest.raises(ValueError, match="2 columns"):
        core.score(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="2 columns"):
        core.learn(np.zeros(4))
    with pytest.raises(ValueError, match="2 columns"):
        core.score_learn(np.zeros((4, 1)))
    for terms in ([[2]], [[-1]], [[0, -2]]):
        with pytest.raises(ValueError, match="terms"):
            ExtremeCore(np.array(terms), [3.0], 2, 0.99, 2.0, 100, 10)
