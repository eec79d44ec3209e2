"""The one-sided tail model (wirescore.models.tail) against a brute-force reference."""
import numpy as np
import pytest

from model_contract import ModelCase, check_batched_equals_row_by_row
from wirescore.models.tail import UNIT, TailModel


def distinct(model: TailModel, j: int):
    """(values, weights, counts) of column j's reference (the C core's state)."""
    return model._core.distinct(j)


def total(model: TailModel, j: int) -> int:
    """W_j in 1 / UNIT."""
    return model._core.held(j)[1]


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
        for j in range(3):   # the reference holds exactly the last `window` rows
            u, w, c = distinct(model, j)
            np.testing.assert_array_equal(np.repeat(u, c), np.sort(seen[-window:, j]))
            np.testing.assert_array_equal(w, c * UNIT)   # 1 each


def test_score_learn_many_is_row_by_row_streaming():
    """The model contract's first check (tests/model_contract.py), on continuous values."""
    rng = np.random.default_rng(3)
    X = rng.exponential(size=(300, 2))
    case = ModelCase("tail", lambda: TailModel(("x", "y"), window=50), ("x", "y"), None, None)
    check_batched_equals_row_by_row(case, X)


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


def brute_weighted(seen: np.ndarray, by: dict, X: np.ndarray, window: int,
                   max_samples: int, scored=None) -> np.ndarray:
    """The weighted formula from the rows learned so far: per column, the longest run of
    the newest rows (at most max_samples) whose weights add up to at most `window`;
    weights 1 / max(1, v) rounded to 1 / UNIT (at least one unit); the most extreme of
    the `scored` columns (default: all)."""
    if len(seen) == 0:
        return np.zeros(len(X))
    seen = seen[-max_samples:]
    p_min = np.ones(len(X))
    for j in (range(seen.shape[1]) if scored is None else scored):
        w = (np.maximum(1, np.rint(UNIT / np.maximum(1.0, seen[:, by[j]]))).astype(np.int64)
             if j in by else np.full(len(seen), UNIT))
        newest_first = np.cumsum(w[::-1])
        keep = max(1, int((newest_first <= window * UNIT).sum()))
        ref, rw = seen[-keep:, j], w[-keep:]
        ge = np.array([int(rw[ref >= x].sum()) for x in X[:, j]])
        p_min = np.minimum(p_min, (UNIT + ge) / float(UNIT + rw.sum()))
    return np.minimum(np.log(1.0 / p_min) / np.log1p(window), 1.0)


def stream_checked(model, by: dict, chunks, seed: int, burst_probe: int, window: int,
                   cap: int, scored=None) -> np.ndarray:
    """Learn random chunks of (burst 0-9, new 0-5, other 0-5) rows into a 3-column model;
    before each, its scores of 30 random probes (burst up to burst_probe) must be the
    brute-force weighted formula's over the rows learned so far. Returns those rows."""
    rng = np.random.default_rng(seed)
    seen = np.empty((0, 3))
    for m in chunks:
        X = np.column_stack([rng.integers(0, 10, m), rng.integers(0, 6, m),
                             rng.integers(0, 6, m)]).astype(float)
        probe = np.column_stack([rng.integers(-1, burst_probe, 30), rng.integers(-1, 8, 30),
                                 rng.integers(-1, 8, 30)]).astype(float)
        np.testing.assert_allclose(model.score_many(probe),
                                   brute_weighted(seen, by, probe, window, cap, scored),
                                   rtol=1e-12, atol=1e-12)
        model.learn_many(X)
        seen = np.vstack([seen, X])
    return seen


@pytest.mark.parametrize("chunks", [(5,), (3, 40, 1, 90, 7), (400,)])
def test_weighted_scores_match_the_formula(chunks):
    """Column 0 is a burst size (weighs itself), column 1 weighs by column 0, column 2
    is unweighted; max_samples bites (bursts of up to 9 weigh 1/9 each)."""
    window, cap = 20, 60
    model = TailModel(("burst", "new", "other"), window=window, max_samples=cap,
                      weight_by={"burst": "burst", "new": "burst"})
    seen = stream_checked(model, {0: 0, 1: 0}, chunks, 11, 12, window, cap)
    assert total(model, 2) == min(len(seen), window) * UNIT   # unweighted: window rows
    assert total(model, 0) <= window * UNIT


def test_weighted_a_busy_host_counts_once():
    """A reference of 500 quiet flows (1 flow around each) and one host's burst of 200
    flows (200 around each): unweighted, a scan of 100 lies below the burst's 200 flows
    (2/7 of the reference); weighted, the burst is one sample of 501 and the scan ranks
    beyond all but it."""
    quiet = np.ones((500, 1))
    burst = np.full((200, 1), 200.0)
    flat = TailModel(("around",), window=1000)
    burst_once = TailModel(("around",), window=1000, weight_by={"around": "around"})
    for m in (flat, burst_once):
        m.learn_many(np.vstack([quiet, burst]))
    scan = np.array([[100.0]])
    assert flat.score_many(scan)[0] == pytest.approx(np.log(701 / 201) / np.log(1001))
    # (weights are rounded to 1 / UNIT: 1/200 is 5243 / 2**20)
    assert burst_once.score_many(scan)[0] == pytest.approx(np.log(502 / 2) / np.log(1001),
                                                           abs=1e-5)
    assert total(burst_once, 0) / UNIT == pytest.approx(501.0, abs=1e-3)


def test_weight_by_is_checked():
    with pytest.raises(ValueError, match="not one of"):
        TailModel(("a", "b"), weight_by={"a": "c"})
    with pytest.raises(ValueError, match="max_samples"):
        TailModel(("a",), window=100, max_samples=50)


def test_learning_in_batches_is_learning_row_by_row():
    """Any cut of a stream into batches leaves the same reference (exact integer
    weights), so the same scores: the detector learns a chunk at a time."""
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.integers(1, 40, 3000), rng.integers(0, 9, 3000)]).astype(float)
    kw = dict(window=200, max_samples=900, weight_by={"a": "a", "b": "a"})
    rows, cut = TailModel(("a", "b"), **kw), TailModel(("a", "b"), **kw)
    for row in X:
        rows.learn_many(row[None, :])
    i = 0
    for m in rng.integers(1, 700, 100):
        cut.learn_many(X[i:i + m])
        i += m
        if i >= len(X):
            break
    cut.learn_many(X[i:])
    for j in range(2):
        for a, b in zip(distinct(rows, j), distinct(cut, j)):
            np.testing.assert_array_equal(a, b)
        assert rows._core.held(j) == cut._core.held(j)
    probe = rng.integers(0, 50, size=(100, 2)).astype(float)
    np.testing.assert_array_equal(rows.score_many(probe), cut.score_many(probe))



@pytest.mark.parametrize("chunks", [(5,), (3, 40, 1, 90, 7)])
def test_an_unscored_weight_column_weighs_and_is_not_scored(chunks):
    """`unscored: [burst]`: the model scores as the brute-force weighted formula over the
    other columns ("new" weighed by "burst"); the burst column's own values never raise
    a score, and no reference is kept for it."""
    window, cap = 20, 60
    model = TailModel(("burst", "new", "other"), window=window, max_samples=cap,
                      weight_by={"new": "burst"}, unscored=["burst"])
    stream_checked(model, {1: 0}, chunks, 13, 40, window, cap, scored=(1, 2))
    assert len(distinct(model, 0)[0]) == 0 and total(model, 0) == 0
    assert model.score_many(np.array([[1e9, -1.0, -1.0]]))[0] == 0.0


def test_unscored_is_checked():
    with pytest.raises(ValueError, match="not one of"):
        TailModel(("a", "b"), weight_by={"a": "b"}, unscored=["c"])
    with pytest.raises(ValueError, match="weighs no feature"):
        TailModel(("a", "b"), weight_by={"a": "a"}, unscored=["b"])
    with pytest.raises(ValueError, match="at least one"):
        TailModel(("a",), weight_by={"a": "a"}, unscored=["a"])
    with pytest.raises(ValueError, match="list"):
        TailModel(("a", "b"), weight_by={"a": "b"}, unscored="b")


def test_contributions_are_the_scored_columns_own_scores():
    """Each scored feature's own tail score, most extreme first; the sample's score is
    the first one's; an unscored column is not listed."""
    rng = np.random.default_rng(3)
    model = TailModel(("w", "a", "b"), window=100, weight_by={"a": "w"}, unscored=["w"])
    model.learn_many(np.column_stack([rng.integers(1, 5, 300), rng.integers(0, 10, 300),
                                      rng.integers(0, 10, 300)]).astype(float))
    x = [3.0, 4.0, 11.0]
    found = model.contributions(x)
    assert [f for f, _, _ in found] == ["b", "a"]
    assert found[0][1] == 11.0 and found[0][2] == pytest.approx(model.score_many(np.array([x]))[0])
    one = TailModel(("a",), window=100)
    one.learn_many(np.arange(100.0)[:, None])
    assert one.contributions([99.5])[0][2] == pytest.approx(np.log(101) / np.log(101))
