"""Samples per second of native Half-Space Trees next to River's, on the same samples.

All three benchmarks evaluate one stream the way a detector does, "score, then learn"
per sample, with River's default model (10 trees, height 8, window 250, seed 42) over 10
features in [0, 1]:

- test_hst_river: river.anomaly.HalfSpaceTrees, score_one + learn_one per dict sample;
- test_hst_native_batched: wirescore.models.HalfSpaceTrees.score_learn_many over the
  same samples as one float64 array (the detector's path);
- test_hst_native_dict: the native model through score_one + learn_one per dict, for
  callers that stay on River's protocol.

Every round starts from an identical model that has already learnt its first window
(so every sample is scored, not answered with the first window's 0), made outside the
timed call; the dicts are made once, outside too. After the rounds, the native scores
are checked equal to River's (the benchmarks time the same computation). The goal: the
batched native path at least GOAL_HST_SPEEDUP times River's samples/s.

Samples: `hst_samples` below, numpy seed 20240401: a cluster drifting through the unit
cube with 1 % of the samples scattered uniformly (anomalies), so walks take every
kind of path. Fast to make (no cache needed).
"""
from __future__ import annotations

import numpy as np
import pytest

from goals import GOAL_HST_SPEEDUP

FEATURES = 10
WARMUP = 250                    # samples learnt before timing: River's first window
SEED = 42                       # the models' seed
DATA_SEED = 20240401
# (samples per round, River rounds, native rounds) by suite mode
SIZES = {"full": (100_000, 3, 30), "short": (20_000, 3, 20)}


def hst_samples(n: int, d: int = FEATURES, seed: int = DATA_SEED) -> np.ndarray:
    """n samples of d features in [0, 1], float64 C-contiguous (see the module doc)."""
    rng = np.random.default_rng(seed)
    centre = 0.5 + 0.25 * np.sin(np.linspace(0, 8 * np.pi, n))[:, None]
    X = np.clip(centre + 0.05 * rng.standard_normal((n, d)), 0.0, 1.0)
    out = rng.random(n) < 0.01
    X[out] = rng.random((int(out.sum()), d))
    return np.ascontiguousarray(X)


@pytest.fixture(scope="module")
def hst_workload(bench_mode):
    """(warm-up rows, timed rows, timed dicts, names, River rounds, native rounds)."""
    river = pytest.importorskip("river.anomaly")
    try:
        from wirescore.models import HalfSpaceTrees  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"wirescore is not importable ({exc}); run `pip install -e .` first")
    n, river_rounds, native_rounds = SIZES[bench_mode.name]
    X = hst_samples(WARMUP + n)
    names = [f"f{j}" for j in range(FEATURES)]
    dicts = [dict(zip(names, row)) for row in X.tolist()]
    return dict(river=river, warm=X[:WARMUP], X=X[WARMUP:], warm_dicts=dicts[:WARMUP],
                dicts=dicts[WARMUP:], names=names, n=n, river_rounds=river_rounds,
                native_rounds=native_rounds, scores={})


def _river_model(w):
    model = w["river"].HalfSpaceTrees(seed=SEED)
    for x in w["warm_dicts"]:
        model.learn_one(x)
    return model


def _native_model(w):
    from wirescore.models import HalfSpaceTrees

    model = HalfSpaceTrees(seed=SEED, features=w["names"])
    model.learn_many(w["warm"])
    return model


def record_hst(benchmark, summary, name: str, n: int) -> None:
    """samples/s of the median round into extra_info and the session summary."""
    benchmark.extra_info.update(mode=summary.mode, samples=n, features=FEATURES,
                                statistic="median")
    if not benchmark.stats:          # --benchmark-disable
        return
    median = benchmark.stats.stats.median
    sps = n / median
    benchmark.extra_info.update(median_s=round(median, 6), samples_per_s=round(sps, 1))
    summary.hst[name] = sps
    ratio = summary.hst_ratio
    if ratio is not None:
        benchmark.extra_info["speedup_over_river"] = round(ratio, 1)


@pytest.mark.benchmark(group="hst")
def test_hst_river(benchmark, hst_workload, summary):
    """River's HalfSpaceTrees: score_one then learn_one per dict sample."""
    w = hst_workload

    def run(model):
        out = []
        for x in w["dicts"]:
            out.append(model.score_one(x))
            model.learn_one(x)
        return out

    scores = benchmark.pedantic(run, setup=lambda: ((_river_model(w),), {}),
                                rounds=w["river_rounds"], warmup_rounds=0, iterations=1)
    w["scores"]["river"] = np.asarray(scores, dtype=np.float64)
    record_hst(benchmark, summary, "river", w["n"])


@pytest.mark.benchmark(group="hst")
def test_hst_native_batched(benchmark, hst_workload, summary, pytestconfig):
    """wirescore's HalfSpaceTrees.score_learn_many over the samples as one array."""
    w = hst_workload
    scores = benchmark.pedantic(lambda model: model.score_learn_many(w["X"]),
                                setup=lambda: ((_native_model(w),), {}),
                                rounds=w["native_rounds"], warmup_rounds=1, iterations=1)
    record_hst(benchmark, summary, "native", w["n"])
    if "river" in w["scores"]:
        np.testing.assert_allclose(scores, w["scores"]["river"], rtol=1e-12, atol=1e-12)
    ratio = summary.hst_ratio
    if ratio is not None and pytestconfig.getoption("bench_check_goals"):
        assert ratio >= GOAL_HST_SPEEDUP, (f"native/River = {ratio:.0f}x < goal "
                                           f"{GOAL_HST_SPEEDUP}x")


@pytest.mark.benchmark(group="hst")
def test_hst_native_dict(benchmark, hst_workload, summary):
    """The native model on River's protocol: score_one then learn_one per dict."""
    w = hst_workload

    def run(model):
        out = []
        for x in w["dicts"]:
            out.append(model.score_one(x))
            model.learn_one(x)
        return out

    scores = benchmark.pedantic(run, setup=lambda: ((_native_model(w),), {}),
                                rounds=w["river_rounds"], warmup_rounds=1, iterations=1)
    record_hst(benchmark, summary, "native_dict", w["n"])
    if "river" in w["scores"]:
        np.testing.assert_allclose(scores, w["scores"]["river"], rtol=1e-12, atol=1e-12)
