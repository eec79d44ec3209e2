"""The one-sided tail model (wirescore.models.tail) against a brute-force reference."""
import numpy as np
import pytest

from wirescore.models.tail import TailModel


def brute_scores(ref: np.ndarray, X: np.ndarray, window: int) -> np.ndarray:
    """The documented formula, computed directly from the reference rows."""
    n = len(ref)
    if n == 0:
        return np.zeros(len(X))
    ge = (ref[None, :, :] >= X[:, None, :]).sum(axis=1)          # (rows, features)
    p = (1.0 + ge.min(axis=1)) / (1.0 + n)
    return np.minimum(np.log(1.0 / p) / np.log1p(window), 1.0)


@pytest.mark.parametrize("chunks", [(7,), (3, 50, 1, 64, 200, 5), (500,)])
def test_scores_match_the_formula_over_the_sliding_window(chunks):
    rng = np.random.default_rng(7)
    window = 64
    model = TailModel(("a", "b", "c"), window=window)
    seen = np.empty((0, 3))
    for m in chunks:
        # small integers: many ties, the case the >= rule and the eviction must get right
        X = rng.integers(0, 6, size=(m, 3)).astype(float)
        probe = rng.integers(-1, 8, size=(40, 3)).astype(float)
        np.testing.assert_allclose(model.score_many(probe),
                                   brute_scores(seen[-window:], probe, window))
        model.learn_many(X)
        seen = np.vstack([seen, X])
        for j in range(3):   # the sorted copies hold exactly the last `window` rows
            np.testing.assert_array_equal(model._sorted[j], np.sort(seen[-window:, j]))


def test_score_learn_many_is_row_by_row_streaming():
    rng = np.random.default_rng(3)
    X = rng.exponential(size=(300, 2))
    a, b = TailModel(("x", "y"), window=50), TailModel(("x", "y"), window=50)
    streamed = a.score_learn_many(X)
    expect = []
    for row in X:
        expect.append(b.score_one({"x": row[0], "y": row[1]}))
        b.learn_one({"x": row[0], "y": row[1]})
    np.testing.assert_allclose(streamed, expect)


def test_direction_and_range():
    model = TailModel(("f",), window=1000)
    model.learn_many(np.arange(1000.0)[:, None])
    s = model.score_many(np.array([[-5.0], [500.0], [999.0], [1e9]]))
    assert s[0] == 0.0                        # below everything: not anomalous at all
    assert 0.0 < s[1] < s[2] < s[3]
    assert s[3] == pytest.approx(1.0)         # above every reference sample
    assert s[2] < 1.0                         # equal to the largest: a tie is not beyond it


def test_rejects_a_tiny_window():
    with pytest.raises(ValueError):
        TailModel(("f",), window=3)
