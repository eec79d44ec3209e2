"""The KLL quantile sketch (ext/kll.pxd, wirescore._core.sketch) against exact quantiles.

The bound is DataSketches' single-sided normalized rank error (normalized_rank_error(k):
1.33 % for k = 200), their fit to the 99th percentile of the largest rank error of a
sketch: for every stream below, over SEEDS seeds, the largest rank error of all the queried
quantiles must stay within it for at least 99 % of the seeds. The rank error of a returned
value v for quantile q is how far the target position ceil((n - 1) * q) lies outside the
positions v holds in the sorted stream, over n.
"""
from __future__ import annotations

import csv

import dpkt
import numpy as np
import pytest

from conftest import need_shared, run_wirescore
from wirescore._core.sketch import (DEFAULT_LEVELS, MAX_LEVELS, KLLSketch, WindowedKLL,
                                    normalized_rank_error)

K = 200
EPS = normalized_rank_error(K)
SEEDS = 200                          # seeds per stream for the 99 % check
QS = np.unique(np.concatenate([np.linspace(0.0, 1.0, 101), [0.001, 0.005, 0.995, 0.999]]))
# real value streams: frame lengths and gaps of CAPTURES; flow features (`wirescore run
# --export`) of the flows of EXPORTS, one stream a column, captures one after the other
CAPTURES = ("pcaps/labeled/netml-cicids2017-demo/demo.pcap",
            "pcaps/peer-groundtruth/nfstream/pps.pcap",
            "pcaps/peer-groundtruth/nfstream/alexa-app.pcapng")
EXPORTS = ("pcaps/labeled/netml-cicids2017-demo/demo.pcap",
           "pcaps/labeled/ddos/stopddos-amp.TCP.reflection.SYNACK.pcap",
           "pcaps/labeled/ddos/stopddos-pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng")
FLOW_COLUMNS = ("flow.bytes_toserver", "flow.bytes_toclient", "flow.pkts_toserver")


def exact_higher(sorted_x: np.ndarray, qs: np.ndarray) -> np.ndarray:
    return np.quantile(sorted_x, qs, method="higher")


def rank_errors(sorted_x: np.ndarray, qs: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Normalized distance of each target position ceil((n-1) q) from the positions the
    returned value holds in the sorted stream (0 when it is one of them)."""
    n = len(sorted_x)
    pos = np.ceil((n - 1) * qs)
    lo = np.searchsorted(sorted_x, got, side="left")
    hi = np.searchsorted(sorted_x, got, side="right") - 1
    return np.maximum(0, np.maximum(lo - pos, pos - hi)) / n


def max_rank_error(x: np.ndarray, sorted_x: np.ndarray, seed: int, k: int = K) -> float:
    s = KLLSketch(k=k, seed=seed)
    s.update_many(x)
    return float(rank_errors(sorted_x, QS, s.quantiles(QS)).max())


def share_within(x: np.ndarray, seeds: int = SEEDS, k: int = K) -> float:
    sx = np.sort(x)
    eps = normalized_rank_error(k)
    return float(np.mean([max_rank_error(x, sx, seed, k) <= eps for seed in range(seeds)]))


def synthetic(name: str, n: int) -> np.ndarray:
    rng = np.random.default_rng(12345)
    if name == "uniform":
        return rng.random(n)
    if name == "sorted":
        return np.arange(n, dtype=np.float64)
    if name == "reverse":
        return np.arange(n, 0, -1, dtype=np.float64)
    if name == "equal":
        return np.full(n, 7.0)
    if name == "pareto":                      # heavy tail: alpha 1.1, no finite variance
        return rng.pareto(1.1, n) * 100.0
    if name == "few-values":                  # many ties: 5 distinct values, skewed
        return rng.choice([1.0, 2.0, 3.0, 40.0, 1e6], n, p=[0.6, 0.2, 0.1, 0.09, 0.01])
    if name == "zoom-in":
        # adversarial for compaction: each block lands between the two middle values of
        # the previous one, so new values keep falling into the densest region
        out = np.empty(n)
        lo, hi, i = 0.0, 1.0, 0
        while i < n:
            m = min(500, n - i)
            out[i:i + m] = np.linspace(lo, hi, m)
            lo, hi = out[i + m // 2 - 1], out[i + m // 2]
            i += m
        return out
    if name == "sawtooth":                    # sorted runs of k + 1, restarting
        return (np.arange(n) % (K + 1)).astype(np.float64) + (np.arange(n) // (K + 1)) * 1e-9
    raise ValueError(name)


STREAMS = ("uniform", "sorted", "reverse", "equal", "pareto", "few-values", "zoom-in",
           "sawtooth")


# --- exact while nothing is compacted ------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 17, K])
def test_exact_up_to_k_is_numpy_higher(n):
    x = np.random.default_rng(n).normal(size=n)
    s = KLLSketch(k=K, seed=3)
    s.update_many(x)
    qs = np.concatenate([QS, np.random.default_rng(0).random(500)])
    assert s.num_levels == 1 and s.num_retained == n
    np.testing.assert_array_equal(s.quantiles(qs), np.quantile(x, qs, method="higher"))
    assert [s.quantile(q) for q in qs[:20]] == list(np.quantile(x, qs[:20], method="higher"))
    sx = np.sort(x)
    probes = np.concatenate([x, x + 1e-9, [sx[0] - 1, sx[-1] + 1]])
    np.testing.assert_array_equal(s.ranks(probes),
                                  np.searchsorted(sx, probes, side="right") / n)


def test_empty_sketch():
    s = KLLSketch()
    assert s.n == 0 and np.isnan(s.min) and np.isnan(s.max)
    assert np.isnan(s.quantile(0.5)) and np.isnan(s.rank(1.0))
    assert np.isnan(s.quantiles([0.0, 1.0])).all()
    assert s.update_many(np.empty(0)) == 0


def test_q_outside_unit_interval_is_nan():
    s = KLLSketch()
    s.update_many(np.arange(10.0))
    assert np.isnan(s.quantiles([-0.1, 1.1, np.nan])).all()


def test_first_compaction_as_datasketches():
    """Level 0 holds k values; the (k+1)-th compacts it: k/2 values go up one level,
    (its capacity is then round(k * 2/3) = 133 for k = 200), level 0 keeps the new one."""
    s = KLLSketch(k=K, seed=1)
    s.update_many(np.arange(K, dtype=np.float64))
    assert (s.num_levels, s.num_retained) == (1, K)
    s.update(1000.0)
    assert (s.num_levels, s.num_retained) == (2, K // 2 + 1)
    v, w = s.retained()
    assert sorted(w.tolist()) == [1] + [2] * (K // 2)
    kept = np.sort(v[w == 2])
    assert (np.diff(kept) == 2).all() and kept[0] in (0.0, 1.0)   # every other, offset 0 or 1


# --- the bound ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", STREAMS)
def test_rank_error_within_bound_for_99_percent_of_seeds(name):
    x = synthetic(name, 100_000)
    assert share_within(x) >= 0.99


@pytest.mark.parametrize("k", [8, 50, 1000])
def test_bound_for_other_k(k):
    x = synthetic("pareto", 50_000)
    assert share_within(x, seeds=100, k=k) >= 0.99


@pytest.mark.parametrize("name", ["uniform", "pareto", "sorted"])
def test_million_values(name):
    x = synthetic(name, 1_000_000)
    sx = np.sort(x)
    errors = [max_rank_error(x, sx, seed) for seed in range(5)]
    assert max(errors) <= EPS
    s = KLLSketch(k=K, seed=0)
    s.update_many(x)
    assert s.n == len(x) and s.min == sx[0] and s.max == sx[-1]
    assert s.quantile(0.0) == sx[0] and s.quantile(1.0) == sx[-1]
    r = s.ranks(sx[::10_007])
    exact = np.searchsorted(sx, sx[::10_007], side="right") / len(x)
    assert np.abs(r - exact).max() <= EPS


def test_rank_of_probes_within_bound():
    x = synthetic("pareto", 100_000)
    sx = np.sort(x)
    probes = np.quantile(sx, np.linspace(0, 1, 201))
    exact = np.searchsorted(sx, probes, side="right") / len(x)
    ok = []
    for seed in range(SEEDS):
        s = KLLSketch(k=K, seed=seed)
        s.update_many(x)
        ok.append(np.abs(s.ranks(probes) - exact).max() <= EPS)
    assert np.mean(ok) >= 0.99


# --- real value streams ------------------------------------------------------------------

def capture_streams(path) -> dict[str, np.ndarray]:
    """Frame lengths (bytes) and gaps between frames (microseconds) of a capture."""
    with open(path, "rb") as fh:
        reader = dpkt.pcap.UniversalReader(fh)          # pcap or pcapng, by content
        ts, lens = zip(*((t, len(buf)) for t, buf in reader))
    ts = np.asarray(ts, dtype=np.float64)
    return {"frame_len": np.asarray(lens, dtype=np.float64),
            "gap_us": np.round(np.diff(ts) * 1e6)}


@pytest.fixture(scope="module")
def real_streams(tmp_path_factory):
    data = need_shared()
    streams = {}
    for rel in CAPTURES:
        for key, values in capture_streams(data / rel).items():
            streams[f"{rel.rsplit('/', 1)[1]}:{key}"] = values
    rows = []
    for i, rel in enumerate(EXPORTS):
        out = tmp_path_factory.mktemp("kll") / f"flows{i}.csv"
        run_wirescore("run", "-r", data / rel, "-l", out.parent / "logs", "--no-detect",
                      "--export", out)
        with open(out, newline="") as fh:
            rows += list(csv.DictReader(fh))
    for col in FLOW_COLUMNS:
        streams[f"flows:{col}"] = np.array([float(r[col]) for r in rows])
    return streams


def test_real_streams_within_bound(real_streams):
    assert len(real_streams) == 9
    for name, x in real_streams.items():
        assert len(x) >= 1000, name
        assert share_within(x, seeds=100) >= 0.99, name


def test_real_stream_repeated_to_a_million(real_streams):
    x = np.tile(real_streams["pps.pcap:frame_len"], 1_000_000 // len(real_streams["pps.pcap:frame_len"]) + 1)
    x = x[:1_000_000]
    sx = np.sort(x)
    assert max(max_rank_error(x, sx, seed) for seed in range(5)) <= EPS


# --- exact counts, NaN, determinism, memory ------------------------------------------------

def test_min_max_n_exact_and_nan_counted():
    x = synthetic("pareto", 300_000)
    x[::1000] = np.nan
    s = KLLSketch(seed=5)
    taken = s.update_many(x)
    good = x[~np.isnan(x)]
    assert taken == s.n == len(good) and s.nan_count == 300
    assert s.min == good.min() and s.max == good.max()
    s.update(np.nan)
    assert s.n == len(good) and s.nan_count == 301


def test_update_many_equals_update_and_takes_strides():
    x = synthetic("uniform", 20_000)
    a, b, c = KLLSketch(seed=9), KLLSketch(seed=9), KLLSketch(seed=9)
    a.update_many(x[::2])
    for v in x[::2]:
        b.update(v)
    c.update_many(np.ascontiguousarray(x[::2]))
    for other in (b, c):
        np.testing.assert_array_equal(a.retained()[0], other.retained()[0])
        np.testing.assert_array_equal(a.quantiles(QS), other.quantiles(QS))


def test_deterministic_by_seed():
    x = synthetic("pareto", 100_000)
    runs = []
    for seed in (4, 4, 5):
        s = KLLSketch(seed=seed)
        for chunk in np.array_split(x, 37):
            s.update_many(chunk)
        runs.append(s.retained()[0])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_memory_fixed_and_retained_bounded():
    """size_bytes depends on k and max_levels only; retained values stay within the
    capacity of the levels in use (~3k + 8 a level)."""
    s = KLLSketch(k=K, seed=0)
    size = s.size_bytes
    caps = [max(8, round(K * (2 / 3) ** d)) for d in range(DEFAULT_LEVELS)]
    assert size >= 8 * sum(caps)
    x = synthetic("uniform", 2_000_000)
    for chunk in np.array_split(x, 20):
        s.update_many(chunk)
        assert s.size_bytes == size
        assert s.num_retained <= sum(caps[:s.num_levels])
    assert s.num_levels <= 16 and s.num_retained <= 3 * K + 8 * s.num_levels
    assert KLLSketch(k=K, max_levels=MAX_LEVELS).size_bytes > size


def test_max_levels_reached_refuses_and_counts():
    s = KLLSketch(k=8, max_levels=2, seed=0)
    s.update_many(np.arange(100, dtype=np.float64))
    # the top level cannot be compacted: values are refused once the 16 slots are full,
    # never before k * 2**(max_levels - 1) = 16 values; the first n values stay sketched
    assert s.n + s.dropped == 100 and s.dropped > 0 and 16 <= s.n < 100
    assert s.num_levels == 2 and s.num_retained == 16
    assert (s.min, s.max) == (0.0, s.n - 1.0)


def test_bad_parameters():
    for k, levels in ((7, 10), (65536, 10), (200, 0), (200, MAX_LEVELS + 1)):
        with pytest.raises(ValueError):
            KLLSketch(k=k, max_levels=levels)
    with pytest.raises(ValueError):
        WindowedKLL(0)


def test_reset_empties():
    s = KLLSketch(seed=2)
    s.update_many(synthetic("uniform", 10_000))
    s.reset()
    assert s.n == 0 and s.num_retained == 0 and np.isnan(s.min)
    s.update_many(np.arange(10.0))
    assert s.quantile(0.5) == 5.0


# --- merge -------------------------------------------------------------------------------

@pytest.mark.parametrize("parts", [2, 7])
def test_merge_within_bound_of_the_merged_stream(parts):
    x = synthetic("pareto", 200_000)
    sx = np.sort(x)
    ok = []
    for seed in range(SEEDS // 2):
        pieces = np.array_split(x, parts)
        total = KLLSketch(seed=seed * 100)
        for i, piece in enumerate(pieces):
            part = KLLSketch(seed=seed * 100 + i + 1)
            part.update_many(piece)
            total.merge(part)
        assert total.n == len(x) and total.min == sx[0] and total.max == sx[-1]
        ok.append(rank_errors(sx, QS, total.quantiles(QS)).max() <= EPS)
    assert np.mean(ok) >= 0.99


def test_merge_small_and_empty():
    a, b, e = KLLSketch(seed=1), KLLSketch(seed=2), KLLSketch(seed=3)
    a.update_many(np.arange(50.0))
    b.update_many(np.arange(50.0, 120.0))
    a.merge(e)
    assert a.n == 50
    e.merge(a)
    assert e.n == 50 and e.min == 0.0 and e.max == 49.0
    a.merge(b)                                 # 120 values: still exact
    x = np.arange(120.0)
    np.testing.assert_array_equal(a.quantiles(QS), np.quantile(x, QS, method="higher"))
    with pytest.raises(ValueError):
        a.merge(KLLSketch(k=100))


def test_merge_of_big_into_small_levels():
    a, b = KLLSketch(seed=1), KLLSketch(seed=2)
    a.update_many(synthetic("uniform", 1000))
    b.update_many(synthetic("pareto", 500_000))
    a.merge(b)
    x = np.sort(np.concatenate([synthetic("uniform", 1000), synthetic("pareto", 500_000)]))
    assert a.n == len(x) and a.num_retained <= 3 * K + 8 * a.num_levels
    assert rank_errors(x, QS, a.quantiles(QS)).max() <= EPS


# --- windowed form ------------------------------------------------------------------------

def test_windowed_covers_the_last_epoch_and_the_current_one():
    epoch = 20_000
    rng = np.random.default_rng(7)
    # drifting stream: the level moves every 15000 values, so a wrong window is visible
    x = np.concatenate([rng.pareto(1.5, 15_000) * 10 + 1000 * i for i in range(8)])
    checkpoints = [1, 500, 19_999, 20_000, 20_001, 33_333, 39_999, 40_000, 77_777, 120_000]
    ok = []
    for seed in range(50):
        w = WindowedKLL(epoch, seed=seed)
        done = 0
        for c in checkpoints:
            w.update_many(x[done:c])
            done = c
            covered = w.covered
            assert covered == (c if c < epoch else epoch + c % epoch)
            window = np.sort(x[c - covered:c])
            got = w.quantiles(QS)
            assert got[0] == window[0] and got[-1] == window[-1]
            ok.append(rank_errors(window, QS, got).max() <= EPS)
    assert np.mean(ok) >= 0.99


def test_windowed_exact_small_and_reset():
    w = WindowedKLL(10, seed=1)
    w.update_many(np.arange(25.0))
    assert w.covered == 15
    np.testing.assert_array_equal(w.quantiles(QS),
                                  np.quantile(np.arange(10.0, 25.0), QS, method="higher"))
    w.reset()
    assert w.covered == 0 and np.isnan(w.quantile(0.5))


def test_queries_leave_the_sketch_as_it_is():
    """The view sorts a copy of level 0: a sketch queried after every batch ends equal to
    one never queried (same seed), so answers do not depend on when one asks."""
    x = synthetic("uniform", 50_000)
    quiet, asked = KLLSketch(seed=8), KLLSketch(seed=8)
    quiet.update_many(x)
    for chunk in np.array_split(x, 97):
        asked.update_many(chunk)
        asked.quantiles(QS)
        asked.rank(0.5)
    np.testing.assert_array_equal(quiet.retained()[0], asked.retained()[0])
    np.testing.assert_array_equal(quiet.quantiles(QS), asked.quantiles(QS))


def test_published_bounds():
    """DataSketches' numbers for k = 200: 1.33 % single-sided, 1.65 % double-sided (pmf)."""
    assert round(normalized_rank_error(200) * 100, 2) == 1.33
    assert round(normalized_rank_error(200, pmf=True) * 100, 2) == 1.65
    assert normalized_rank_error(400) < normalized_rank_error(200) < normalized_rank_error(100)


def test_windowed_update_many_equals_update():
    x = synthetic("pareto", 30_000)
    # k = 1000: an epoch of 1000 values is never compacted, so the window is exact
    a, b = WindowedKLL(1000, k=1000, seed=4), WindowedKLL(1000, k=1000, seed=4)
    a.update_many(x)
    for v in x:
        b.update(v)
    assert a.covered == b.covered == 1000
    np.testing.assert_array_equal(a.quantiles(QS), b.quantiles(QS))
    np.testing.assert_array_equal(a.quantiles(QS), np.quantile(x[-1000:], QS, method="higher"))
