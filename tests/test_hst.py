"""Native Half-Space Trees against River's, score for score.

The reference is river.anomaly.HalfSpaceTrees driven the way a stream is evaluated
(score_one, then learn_one, per sample). The native model is made equal to it in two
ways: built with the same parameters and seed (it draws the same trees with the same
random.Random calls), or copied with from_river. Scores must agree to within 1e-12 at
every one of 100,000 steps (in practice they are bit-identical: sums of integers and
the same final division).
"""
from __future__ import annotations

import csv
import pickle

import numpy as np
import pytest

from conftest import FIXTURES, run_wirescore
from model_contract import ModelCase, check_batched_equals_row_by_row
from wirescore._core.hst import NODE_DTYPE, HSTCore
from wirescore.models import HalfSpaceTrees

river_anomaly = pytest.importorskip("river.anomaly")

N = 100_000
RTOL, ATOL = 1e-12, 1e-12
REAL_PCAPS = ("ndpi-synscan.pcap", "zeek-wikipedia.pcap", "nfstream-dns-fragmented.pcap")


def river_stream(model, rows: list[dict]) -> np.ndarray:
    """River's scores of a stream: score_one then learn_one per sample."""
    out = np.empty(len(rows))
    for i, x in enumerate(rows):
        out[i] = model.score_one(x)
        model.learn_one(x)
    return out


def same_nodes(a, b) -> bool:
    """Two node arrays are equal (leaves' thresholds are NaN on both sides)."""
    return all(np.array_equal(a[f], b[f], equal_nan=(f == "threshold"))
               for f in a.dtype.names)


def as_dicts(names, X) -> list[dict]:
    """Rows as River samples; NaN cells become absent keys."""
    return [{n: v for n, v in zip(names, row) if v == v} for row in X.tolist()]


def assert_same(got, want, what=""):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, what
    bad = ~np.isclose(got, want, rtol=RTOL, atol=ATOL)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        pytest.fail(f"{what}: {bad.sum()} of {len(want)} scores differ; first at step {i}: "
                    f"native {got[i]!r}, River {want[i]!r}")


# ---------------------------------------------------------------- streams

@pytest.fixture(scope="module")
def flow_stream(tmp_path_factory):
    """Flow features of the shipped captures (`wirescore run --export`), min-max scaled
    to [0, 1] per column, replayed end to end until there are N samples."""
    tmp = tmp_path_factory.mktemp("hst_flows")
    blocks, names = [], None
    for pcap in REAL_PCAPS:
        out = tmp / f"{pcap}.csv"
        run_wirescore("run", "-r", FIXTURES / pcap, "-l", tmp / pcap, "--no-detect",
                      "--export", out)
        with open(out, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            cols = [j for j, h in enumerate(header) if h.startswith("flow.")]
            names = [header[j] for j in cols]
            blocks.append(np.array([[float(r[j]) for j in cols] for r in reader]))
    X = np.vstack(blocks)
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    X = (X - lo) / span
    reps = -(-N // len(X))
    return names, np.ascontiguousarray(np.tile(X, (reps, 1))[:N])


@pytest.fixture(scope="module")
def synthetic():
    """N samples of 6 features: a drifting cluster, 1 % scattered outliers, 3 % of the
    cells missing (absent keys for River, NaN for the arrays); feature 'b' lives in
    [-5, 5], the others in [0, 1] (the first sample is complete, so that River draws its
    trees over every feature)."""
    rng = np.random.default_rng(20240401)
    names = ["a", "b", "c", "d", "e", "f"]
    centre = 0.5 + 0.2 * np.sin(np.linspace(0, 6 * np.pi, N))[:, None]
    X = np.clip(centre + 0.05 * rng.standard_normal((N, 6)), 0, 1)
    out = rng.random(N) < 0.01
    X[out] = rng.random((out.sum(), 6))
    X[:, 1] = X[:, 1] * 10 - 5
    X[rng.random((N, 6)) < 0.03] = np.nan
    X[0] = 0.5
    return names, X


SYN_PARAMS = dict(n_trees=12, height=7, window_size=100, limits={"b": (-5.0, 5.0)}, seed=11)


@pytest.fixture(scope="module")
def synthetic_river_scores(synthetic):
    names, X = synthetic
    return river_stream(river_anomaly.HalfSpaceTrees(**SYN_PARAMS), as_dicts(names, X))


# ---------------------------------------------------------------- equal to River

def test_real_flow_stream_from_river(flow_stream):
    """River learns one sample (and draws its trees); the native copy then follows it
    over the rest of 100,000 flow samples, batched, score for score."""
    names, X = flow_stream
    rows = as_dicts(names, X)
    river = river_anomaly.HalfSpaceTrees(seed=42)
    river.learn_one(rows[0])
    native = HalfSpaceTrees.from_river(river, features=names)
    want = river_stream(river, rows[1:])
    got = native.score_learn_many(X[1:])
    assert_same(got, want, "flow stream, from_river")
    assert (want[:249] == 0).all() and (want[249:] > 0).any()   # River's first window
    assert native.counter == river.counter


def test_same_seed_same_scores_batched(synthetic, synthetic_river_scores):
    """Same parameters and seed, no copying: the native model draws River's trees."""
    names, X = synthetic
    native = HalfSpaceTrees(features=names, **SYN_PARAMS)
    assert_same(native.score_learn_many(X), synthetic_river_scores, "synthetic, batched")


def test_same_seed_same_scores_per_sample(synthetic, synthetic_river_scores):
    """The dict API, sample by sample, with absent keys; features from the first
    sample (sorted keys, as River orders them)."""
    names, X = synthetic
    native = HalfSpaceTrees(**SYN_PARAMS)
    got = np.empty(N)
    for i, x in enumerate(as_dicts(names, X)):
        got[i] = native.score_one(x)
        native.learn_one(x)
    assert native.features == tuple(sorted(names))
    assert_same(got, synthetic_river_scores, "synthetic, per sample")


def test_same_seed_same_trees_as_river():
    river = river_anomaly.HalfSpaceTrees(n_trees=3, height=4, seed=5,
                                         limits={"x": (0, 10), "y": (-1.0, 1.0)})
    river.learn_one({"y": 0.3, "x": 2.0, "z": 0.5})
    native = HalfSpaceTrees(n_trees=3, height=4, seed=5,
                            limits={"x": (0, 10), "y": (-1.0, 1.0)})
    native.learn_one({"y": 0.3, "x": 2.0, "z": 0.5})
    nodes = native.node_array()
    for t, tree in enumerate(river.trees):
        todo = [(tree, 0)]
        while todo:
            node, i = todo.pop()
            assert nodes[t, i]["l_mass"] == node.l_mass
            if hasattr(node, "threshold"):
                assert native.features[nodes[t, i]["feature"]] == node.feature
                assert nodes[t, i]["threshold"] == node.threshold
                todo += [(node.children[0], 2 * i + 1), (node.children[1], 2 * i + 2)]


def test_from_river_before_it_learns():
    """A River model that has not learnt yet: its random state is copied, so both draw
    the same trees at their first learn_one."""
    rng = np.random.default_rng(3)
    rows = [{"p": float(a), "q": float(b)} for a, b in rng.random((3000, 2))]
    river = river_anomaly.HalfSpaceTrees(n_trees=4, height=5, window_size=50)   # no seed
    native = HalfSpaceTrees.from_river(river)
    got = np.empty(len(rows))
    for i, x in enumerate(rows):
        got[i] = native.score_one(x)
        native.learn_one(x)
    assert_same(got, river_stream(river, rows), "from_river before learning")


def test_from_river_mid_window():
    """Copied after several window turns and part-way through a window."""
    rng = np.random.default_rng(4)
    X = rng.random((6000, 3))
    names = ["u", "v", "w"]
    rows = as_dicts(names, X)
    river = river_anomaly.HalfSpaceTrees(n_trees=6, height=6, window_size=64, seed=2)
    river_stream(river, rows[:1234])
    assert river.counter == 1234 % 64 and not river._first_window
    native = HalfSpaceTrees.from_river(river, features=names)
    assert native.counter == river.counter and not native.first_window
    assert_same(native.score_learn_many(X[1234:]), river_stream(river, rows[1234:]),
                "from_river mid-window")


def test_from_river_column_order_and_checks():
    river = river_anomaly.HalfSpaceTrees(n_trees=2, height=3, seed=1)
    river.learn_one({"a": 0.1, "b": 0.9})
    native = HalfSpaceTrees.from_river(river, features=["b", "a"])
    x = {"a": 0.2, "b": 0.7}
    assert native.score_many(np.array([[0.7, 0.2]]))[0] == native.score_one(x)
    with pytest.raises(ValueError, match="lacks"):
        HalfSpaceTrees.from_river(river, features=["a"])
    with pytest.raises(TypeError, match="river.anomaly.HalfSpaceTrees"):
        HalfSpaceTrees.from_river(object())


# ---------------------------------------------------------------- windows

def test_first_window_scores_zero_then_turns():
    rng = np.random.default_rng(5)
    X = rng.random((1000, 4))
    m = HalfSpaceTrees(n_trees=5, height=4, window_size=100, seed=1)
    assert m.score_one({0: 0.5}) == 0.0 and m.first_window
    s = m.score_learn_many(X[:250])
    assert (s[:100] == 0).all() and (s[100:] > 0).all()
    assert not m.first_window and m.counter == 50


def test_window_turn_moves_masses():
    rng = np.random.default_rng(6)
    X = rng.random((30, 2))
    m = HalfSpaceTrees(n_trees=3, height=3, window_size=10, seed=1)
    m.learn_many(X[:9])
    before = m.node_array()
    assert m.counter == 9 and m.first_window
    assert (before["l_mass"][:, 0] == 9).all() and (before["r_mass"] == 0).all()
    m.learn_many(X[9:10])
    after = m.node_array()
    assert m.counter == 0 and not m.first_window
    assert (after["l_mass"] == 0).all() and (after["r_mass"][:, 0] == 10).all()
    # every level of a tree holds the window's samples once; the leaves' masses sum to it
    leaves = after["r_mass"][:, 7:]
    assert (leaves.sum(axis=1) == 10).all()
    m.learn_many(X[10:15])
    third = m.node_array()
    assert (third["r_mass"] == after["r_mass"]).all() and (third["l_mass"][:, 0] == 5).all()


# ---------------------------------------------------------------- batched API

def test_batched_equals_per_row():
    """The model contract's first check (tests/model_contract.py) on rows with missing
    values (NaN), cut in batches of 333; then the trees themselves are equal."""
    rng = np.random.default_rng(7)
    X = rng.random((3000, 5))
    X[rng.random(X.shape) < 0.05] = np.nan
    names = list("vwxyz")
    X[0] = 0.5

    def make():
        return HalfSpaceTrees(n_trees=7, height=6, window_size=128, seed=3, features=names)

    case = ModelCase("hst with missing values", make, names, None, None)
    per_row = check_batched_equals_row_by_row(case, X, cuts=(333,))
    a, b = make(), make()
    assert np.array_equal(b.score_learn_many(X), per_row)
    absent = np.array([(a.score_one(x), a.learn_one(x))[0]        # absent keys, not NaN
                       for x in as_dicts(names, X)])
    assert np.array_equal(absent, per_row)
    assert same_nodes(a.node_array(), b.node_array())
    # learn_many == learn_one per row, node for node; score_many leaves the nodes as
    # they were
    d = make()
    d.learn_many(X)
    assert same_nodes(d.node_array(), a.node_array()) and d.counter == a.counter
    before = d.node_array()
    pure = d.score_many(X[:500])
    assert np.array_equal(pure, [a.score_one(x) for x in as_dicts(names, X[:500])])
    assert same_nodes(d.node_array(), before) and d.counter == a.counter


def test_batched_accepts_other_dtypes_and_layouts():
    rng = np.random.default_rng(8)
    X = rng.random((400, 3))
    a = HalfSpaceTrees(n_trees=3, height=4, window_size=50, seed=1)
    b = HalfSpaceTrees(n_trees=3, height=4, window_size=50, seed=1)
    want = a.score_learn_many(X)
    assert np.array_equal(b.score_learn_many(np.asfortranarray(X)), want)
    assert a.features == (0, 1, 2)        # an array learnt first: columns 0..n-1
    c = HalfSpaceTrees(n_trees=3, height=4, window_size=50, seed=1)
    assert np.array_equal(c.score_learn_many(X.tolist()), want)
    ints = (X * 4).astype(np.int64)
    d = HalfSpaceTrees(n_trees=3, height=4, window_size=50, seed=1)
    e = HalfSpaceTrees(n_trees=3, height=4, window_size=50, seed=1)
    assert np.array_equal(d.score_learn_many(ints), e.score_learn_many(ints.astype(float)))
    assert len(a.score_many(np.empty((0, 3)))) == 0


def test_wrong_width_and_shape_errors():
    m = HalfSpaceTrees(n_trees=2, height=2, window_size=5, seed=0,
                       features=["syn", "rst", "fin"])
    with pytest.raises(ValueError, match=r"X has 2 columns but the model has 3 features"):
        m.score_many(np.zeros((4, 2)))          # before the trees are drawn
    m.learn_many(np.zeros((4, 3)))
    for f in (m.score_many, m.learn_many, m.score_learn_many):
        with pytest.raises(ValueError, match=r"X has 4 columns .* 3 features \('syn'"):
            f(np.zeros((4, 4)))
        with pytest.raises(ValueError, match="must be 2-d"):
            f(np.zeros(3))
    assert m.counter == 4                       # nothing was learnt by the failed calls
    with pytest.raises(TypeError, match="feature 'rst': expected a number, got 'x'"):
        m.learn_one({"syn": 0.1, "rst": "x"})


# ---------------------------------------------------------------- limits and parameters

def test_default_limits_are_unit_interval():
    m = HalfSpaceTrees(n_trees=20, height=1, seed=9)
    m.learn_one({"a": 0.5, "b": 0.5})
    roots = m.node_array()[:, 0]
    assert ((roots["threshold"] >= 0.15) & (roots["threshold"] <= 0.85)).all()
    assert set(roots["feature"]) == {0, 1}


def test_limits_shape_the_splits_as_in_river():
    limits = {"wide": (0.0, 1000.0), "narrow": (0.0, 1.0)}
    m = HalfSpaceTrees(n_trees=30, height=1, seed=9, limits=limits)
    m.learn_one({"wide": 10.0, "narrow": 0.5})
    roots = m.node_array()[:, 0]
    wide = m.features.index("wide")
    assert (roots["feature"] == wide).sum() >= 28      # drawn by width: 1000 to 1
    t = roots["threshold"][roots["feature"] == wide]
    assert ((t >= 150) & (t <= 850)).all()
    # values far outside the limits are scored, not rejected
    m2 = HalfSpaceTrees(n_trees=4, height=3, window_size=5, seed=1, limits=limits,
                        features=["wide", "narrow"])
    s = m2.score_learn_many(np.array([[1e9, -1e9]] * 12))
    assert np.isfinite(s).all()


@pytest.mark.parametrize("limits, msg", [
    ({"a": (1.0, 0.0)}, r"limits\['a'\] must be \(lo, hi\) with finite lo <= hi"),
    ({"a": (0.0, float("inf"))}, "finite"),
    ({"a": (0.0,)}, "must be"),
    ({"a": "01"}, "must be"),
])
def test_bad_limits(limits, msg):
    with pytest.raises(ValueError, match=msg):
        HalfSpaceTrees(limits=limits)


def test_zero_width_limits_everywhere():
    m = HalfSpaceTrees(limits={"a": (2.0, 2.0)})
    with pytest.raises(ValueError, match="width 0"):
        m.learn_one({"a": 2.0})


@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(n_trees=0), ValueError, "n_trees must be >= 1"),
    (dict(height=-1), ValueError, "height must be between 0 and 24"),
    (dict(height=25), ValueError, "height must be between 0 and 24"),
    (dict(window_size=0), ValueError, "window_size must be between 1"),
    (dict(n_trees=10**6, window_size=10**6, height=20), ValueError, "2\\*\\*53"),
    (dict(n_trees=2.5), TypeError, "n_trees must be an int"),
    (dict(features=[]), ValueError, "at least one feature"),
    (dict(features=["a", "a"]), ValueError, "repeat"),
])
def test_bad_parameters(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        HalfSpaceTrees(**kwargs)


def test_height_zero_is_one_leaf_per_tree():
    rows = [{"a": v} for v in np.linspace(0, 1, 40)]
    river = river_anomaly.HalfSpaceTrees(n_trees=3, height=0, window_size=7, seed=1)
    native = HalfSpaceTrees(n_trees=3, height=0, window_size=7, seed=1)
    got = [(native.score_one(x), native.learn_one(x))[0] for x in rows]
    assert_same(got, river_stream(river, rows), "height 0")


# ---------------------------------------------------------------- determinism, state

def test_seed_determinism():
    rng = np.random.default_rng(10)
    X = rng.random((2000, 4))
    runs = [HalfSpaceTrees(n_trees=5, height=5, window_size=64, seed=s).score_learn_many(X)
            for s in (123, 123, 124)]
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_pickle_round_trip():
    rng = np.random.default_rng(11)
    X = rng.random((700, 3))
    m = HalfSpaceTrees(n_trees=4, height=4, window_size=64, seed=1)
    m.learn_many(X[:300])
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.counter == m.counter and m2.features == m.features
    assert np.array_equal(m2.score_learn_many(X[300:]), m.score_learn_many(X[300:]))


def test_core_load_checks():
    core = HSTCore(("a", "b"), 2, 2, 10)
    nodes = core.export()
    assert nodes.dtype == NODE_DTYPE and nodes.shape == (2, 7)
    bad = nodes.copy()
    bad["feature"][0, 1] = 2
    with pytest.raises(ValueError, match=r"column indices in \[0, 2\)"):
        core.load(bad)
    bad = nodes.copy()
    bad["r_mass"][1, 3] = 11
    with pytest.raises(ValueError, match="must not exceed window_size"):
        core.load(bad)
    with pytest.raises(ValueError, match="shape"):
        core.load(nodes[:1])
    with pytest.raises(ValueError, match="counter"):
        core.load(nodes, counter=10)


def test_wide_rows_and_other_mappings():
    """More features than the row buffer on the stack (64), a read-only array, and a
    mapping that is not a dict: all the same model."""
    from types import MappingProxyType

    rng = np.random.default_rng(12)
    names = [f"x{j}" for j in range(80)]
    X = rng.random((600, 80))
    X[rng.random(X.shape) < 0.02] = np.nan
    X[0] = 0.5
    rows = as_dicts(names, X)
    river = river_anomaly.HalfSpaceTrees(n_trees=4, height=5, window_size=50, seed=8)
    want = river_stream(river, rows)
    a = HalfSpaceTrees(n_trees=4, height=5, window_size=50, seed=8)
    got = [(a.score_one(MappingProxyType(x)), a.learn_one(MappingProxyType(x)))[0]
           for x in rows]
    assert_same(got, want, "80 features, mapping proxies")
    b = HalfSpaceTrees(n_trees=4, height=5, window_size=50, seed=8, features=names)
    X.setflags(write=False)
    assert_same(b.score_learn_many(X), want, "80 features, read-only array")
