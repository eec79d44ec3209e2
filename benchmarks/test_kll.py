"""The KLL sketch's costs next to the re-sorted reservoir the models use today, in one run.

Values: `kll_values` below, numpy seed 20240402: Pareto(1.1) * 100, a heavy tail like
flow bytes (fast to make, no cache). Benchmarks (group "kll"):

- test_kll_update_many: KLLSketch(k=200).update_many over all values, fresh sketch per
  round: ns per value.
- test_kll_quantile: one value added (so the sorted view is rebuilt, as after every
  batch a model learns) then quantile(0.99) on a sketch holding all values: us per query.
- test_reservoir_partition: np.quantile(method="higher") (np.partition) of a
  RESERVOIR-sample ring for q = 0.99, as the extreme model did per quantity before its
  C core: us per query.
- test_model_path_kll / test_model_path_reservoir: the models' loop over all values:
  every CHUNK values learnt, then the q = 0.99 quantile of about the last RESERVOIR values
  recomputed: WindowedKLL(epoch=RESERVOIR // 2: it covers the last 10,000 to 19,999
  values) against a ring of RESERVOIR values written in place and np.quantile of it:
  ns per value.

test_kll_ratios (last) reports, from the medians of this run: reservoir query / KLL query
and reservoir model path / KLL model path (how many times cheaper the sketch is).
Nothing is gated: the machine's load decides absolute numbers, the ratios are within one run.
"""
from __future__ import annotations

import numpy as np
import pytest

RESERVOIR = 20_000              # the models' `memory` (ExtremeCounts) and threshold window
CHUNK = 256                     # samples between two quantile updates in the models
Q = 0.99
DATA_SEED = 20240402
# (values, rounds) by suite mode
SIZES = {"full": (1_000_000, 10), "short": (200_000, 5)}
MEDIANS: dict[str, float] = {}


def kll_values(n: int, seed: int = DATA_SEED) -> np.ndarray:
    return np.random.default_rng(seed).pareto(1.1, n) * 100.0


@pytest.fixture(scope="module")
def kll_workload(bench_mode):
    try:
        from wirescore._core import sketch
    except ImportError as exc:
        pytest.skip(f"wirescore is not importable ({exc}); run `pip install -e .` first")
    n, rounds = SIZES[bench_mode.name]
    return dict(sketch=sketch, x=kll_values(n), n=n, rounds=rounds)


def record(benchmark, name: str, per: float, unit: str, scale: float) -> None:
    """The median round, per `per` operations, in `unit` (scale: seconds -> unit)."""
    benchmark.extra_info.update(statistic="median")
    if not benchmark.stats:          # --benchmark-disable
        return
    median = benchmark.stats.stats.median
    MEDIANS[name] = median / per
    benchmark.extra_info[unit] = round(median / per * scale, 3)


@pytest.mark.benchmark(group="kll")
def test_kll_update_many(benchmark, kll_workload):
    w = kll_workload
    taken = benchmark.pedantic(lambda s: s.update_many(w["x"]),
                               setup=lambda: ((w["sketch"].KLLSketch(k=200, seed=1),), {}),
                               rounds=w["rounds"], warmup_rounds=1, iterations=1)
    assert taken == w["n"]
    record(benchmark, "update", w["n"], "ns_per_value", 1e9)


@pytest.mark.benchmark(group="kll")
def test_kll_quantile(benchmark, kll_workload):
    w = kll_workload
    s = w["sketch"].KLLSketch(k=200, seed=1)
    s.update_many(w["x"])
    extra = iter(np.tile(w["x"][:1000], 1000))

    def query():
        s.update(next(extra))
        return s.quantile(Q)

    got = benchmark.pedantic(query, rounds=2000, warmup_rounds=10, iterations=1)
    exact_rank = np.searchsorted(np.sort(w["x"]), got, side="right") / w["n"]
    assert abs(exact_rank - Q) <= w["sketch"].normalized_rank_error(200) + 1e-3
    record(benchmark, "query", 1, "us_per_query", 1e6)


@pytest.mark.benchmark(group="kll")
def test_reservoir_partition(benchmark, kll_workload):
    w = kll_workload
    ring = w["x"][-RESERVOIR:].copy()
    benchmark.pedantic(lambda: np.quantile(ring, Q, method="higher"), rounds=2000,
                       warmup_rounds=10, iterations=1)
    record(benchmark, "reservoir_query", 1, "us_per_query", 1e6)


def _kll_path(sketch, x):
    out = []
    for i in range(0, len(x), CHUNK):
        sketch.update_many(x[i:i + CHUNK])
        out.append(sketch.quantile(Q))
    return out


def _reservoir_path(ring, x):
    out = []
    filled = 0
    for i in range(0, len(x), CHUNK):
        chunk = x[i:i + CHUNK]
        pos = (i + np.arange(len(chunk))) % RESERVOIR
        ring[pos] = chunk
        filled = min(RESERVOIR, filled + len(chunk))
        out.append(np.quantile(ring[:filled], Q, method="higher"))
    return out


@pytest.mark.benchmark(group="kll")
def test_model_path_kll(benchmark, kll_workload):
    w = kll_workload
    out = benchmark.pedantic(
        _kll_path, setup=lambda: ((w["sketch"].WindowedKLL(RESERVOIR // 2, k=200, seed=1),
                                   w["x"]), {}),
        rounds=w["rounds"], warmup_rounds=1, iterations=1)
    assert len(out) == -(-w["n"] // CHUNK)
    record(benchmark, "kll_path", w["n"], "ns_per_value", 1e9)


@pytest.mark.benchmark(group="kll")
def test_model_path_reservoir(benchmark, kll_workload):
    w = kll_workload
    out = benchmark.pedantic(
        _reservoir_path, setup=lambda: ((np.empty(RESERVOIR), w["x"]), {}),
        rounds=max(3, w["rounds"] // 3), warmup_rounds=0, iterations=1)
    assert len(out) == -(-w["n"] // CHUNK)
    record(benchmark, "reservoir_path", w["n"], "ns_per_value", 1e9)


def test_kll_ratios(record_property):
    """Reservoir / KLL, per query and per value of the model path (from this run)."""
    if not {"query", "reservoir_query", "kll_path", "reservoir_path"} <= MEDIANS.keys():
        pytest.skip("needs the kll benchmarks of this run (not --benchmark-disable)")
    ratios = {"query": MEDIANS["reservoir_query"] / MEDIANS["query"],
              "model_path": MEDIANS["reservoir_path"] / MEDIANS["kll_path"]}
    for name, value in ratios.items():
        record_property(f"reservoir_over_kll_{name}", round(value, 2))
    print(f"\nKLL: update {MEDIANS['update'] * 1e9:.1f} ns/value, quantile "
          f"{MEDIANS['query'] * 1e6:.2f} us; reservoir np.quantile "
          f"{MEDIANS['reservoir_query'] * 1e6:.2f} us; model path KLL "
          f"{MEDIANS['kll_path'] * 1e9:.1f} ns/value, reservoir "
          f"{MEDIANS['reservoir_path'] * 1e9:.1f} ns/value; reservoir/KLL: query "
          f"{ratios['query']:.1f}x, model path {ratios['model_path']:.1f}x")
