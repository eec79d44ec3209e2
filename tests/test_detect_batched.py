"""Detection's batched paths give exactly what the row-by-row definitions give: the
`extreme` model's order statistic over its column-major ring equals
np.quantile(method="higher"), its reference after learning a real stream equals the
one a row-major ring and np.quantile give, and the most extreme quantity (feature) of
every candidate row found at once (`top_many`, what suppression scopes by) equals
`contributions(row)[0][0]`, for the extreme and the tail models, on real records.

Captures: tests/data/pcaps always; the public evaluation mix (../shared/data/eval)
when present, else those cases skip saying so.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import FIXTURES, SHARED_DATA, need_shared
from meter_feed import feed_capture
from extreme_reference import ExtremeReference, higher_quantile, higher_quantile_above
from wirescore.models.extreme import ExtremeCounts
from wirescore.models.tail import TailModel
from wirescore.rules import default_rules_dir, load_file

QUANTILES = (0.999, 0.99, 0.9, 0.5, 0.25, 0.001, 1 / 3)


def window_records(path) -> np.ndarray:
    """The 1-second window records of every key of a capture, as the core emits them."""
    from wirescore._core.flowtable import WINDOW_DTYPE, FlowMeter

    out = []

    def after_feed(meter):
        meter.drain()
        out.append(meter.drain_windows())

    meter = feed_capture(path, lambda dlt: FlowMeter(dlt, window_seconds=1.0,
                                                     window_keys=("src", "dst")), after_feed)
    meter.close_window()
    out.append(meter.drain_windows())
    return np.concatenate(out) if out else np.empty(0, WINDOW_DTYPE)


def capture(which: str):
    if which == "synscan":
        return FIXTURES / "ndpi-synscan.pcap"
    return need_shared() / "eval" / "mix-public.pcap"


def profile_features(rec: np.ndarray, name: str):
    """(features matrix, model) of a shipped profile over records of its unit."""
    from wirescore.catalog import WINDOW_BY_NAME

    (profile,) = load_file(default_rules_dir() / name)
    X = np.column_stack([rec[WINDOW_BY_NAME[f].field].astype(np.float64)
                         for f in profile.features])
    return X, profile.take_model()


class RowMajorExtreme(ExtremeReference):
    """The reference: the numpy model with its ring one learnt sample per row,
    np.quantile across it."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._rows = np.zeros((self.memory, len(self.names)))

    def _store(self, slots, block):
        self._rows[slots] = block

    def _high(self):
        return np.quantile(self._rows[:self._filled], self.quantile, axis=0, method="higher")


# ------------------------------------------------------------------ order statistic

@pytest.mark.parametrize("q", QUANTILES)
def test_higher_quantile_is_numpys_higher_method_for_every_length(q):
    rng = np.random.default_rng(11)
    for n in list(range(1, 400)) + [999, 1000, 1001, 19999, 20000]:
        # small integers: many ties, as counts have
        rows = rng.integers(0, 5, size=(3, n)).astype(np.float64)
        rows[2] = rng.standard_normal(n)                       # no ties
        want = np.quantile(rows, q, axis=1, method="higher")
        assert np.array_equal(higher_quantile(rows, q), want), (q, n)
        # a slice of a wider ring (what the model passes while it fills)
        wide = np.zeros((3, n + 17))
        wide[:, :n] = rows
        assert np.array_equal(higher_quantile(wide[:, :n], q), want), (q, n)


@pytest.mark.parametrize("which", ["synscan", "mix"])
def test_higher_quantile_on_real_window_counts(which):
    rec = window_records(capture(which))
    X, model = profile_features(rec, "window-source-extreme.yaml")
    Q = model.quantities(X).T.copy()
    for q in QUANTILES:
        for n in (1, 2, 255, 256, len(rec) // 2, len(rec)):
            if 0 < n <= Q.shape[1]:
                assert np.array_equal(higher_quantile(Q[:, :n], q),
                                      np.quantile(Q[:, :n], q, axis=1, method="higher"))


@pytest.mark.parametrize("which", ["synscan", "mix"])
@pytest.mark.parametrize("name", ["window-source-extreme.yaml", "window-dest-extreme.yaml"])
def test_extreme_reference_equals_the_row_major_reference_on_a_real_stream(which, name):
    rec = window_records(capture(which))
    X, shipped = profile_features(rec, name)
    # low floors, so the network's quantile (not the floor) makes the reference
    floors = {name: 0.5 for name in shipped.names}
    kw = dict(quantile=shipped.quantile, margin=1.5, memory=300, refresh=32)
    fast = ExtremeCounts(shipped.features, floors, **kw)          # the C core
    ref = RowMajorExtreme(shipped.features, floors, **kw)
    moved = 0
    for start in range(0, len(X), 97):              # uneven batches, many turns
        part = X[start:start + 97]
        assert np.array_equal(fast.score_learn_many(part), ref.score_learn_many(part))
        assert np.array_equal(fast.reference, ref.reference)
        moved += bool((fast.reference > fast.floors).any())
    assert moved, "the stream never lifted the reference above the floors"


# ------------------------------------------------------------------ top quantity

def _same_tops(model, X):
    tops = model.top_many(X)
    assert tops == [model.contributions(x)[0][0] for x in X]
    return tops


@pytest.mark.parametrize("which", ["synscan", "mix"])
def test_extreme_top_many_is_each_rows_first_contribution(which):
    rec = window_records(capture(which))
    X, model = profile_features(rec, "window-source-extreme.yaml")
    half = len(X) // 2
    _same_tops(model, X[:half])                     # the floors as reference
    model.learn_many(X[:half])
    tops = _same_tops(model, X[half:])              # a learnt reference
    assert len(set(tops)) > 1


def test_extreme_top_many_breaks_ties_in_the_order_of_the_floors():
    model = ExtremeCounts(("a", "b"), floors={"a": 15, "b": 15, "a*b": 225})
    X = np.array([[15.0, 15.0], [31.0, 31.0], [0.0, 31.0], [0.0, 0.0], [np.nan, 3.0],
                  [np.inf, 1.0]])
    assert _same_tops(model, X)[:3] == ["a", "a*b", "b"]
    assert model.top_many(np.empty((0, 2))) == []


@pytest.mark.parametrize("which", ["synscan", "mix"])
def test_tail_top_many_is_each_rows_first_contribution(which):
    rec = window_records(capture(which))
    X, _ = profile_features(rec, "window-source-extreme.yaml")
    names = ("packets", "dsts", "ports", "bursts")
    X = np.column_stack([X[:, 0], X[:, 4], X[:, 5], X[:, 0]])
    model = TailModel(names, window=50, weight_by={"dsts": "bursts"}, unscored=["bursts"])
    half = len(X) // 2
    model.learn_many(X[:half])
    tops = _same_tops(model, X[half:])
    assert "bursts" not in tops


@pytest.mark.parametrize("which", ["synthetic", "synscan", "mix"])
def test_higher_quantile_above_a_hint_is_the_higher_quantile_whatever_the_hint(which):
    """The model's streaming use (refresh samples replaced between two calls, the hint
    each call returns given to the next) and arbitrary hints (too high, too low, none)
    give np.quantile's answer; the returned hints let most calls sort part of a row."""
    rng = np.random.default_rng(5)
    if which == "synthetic":
        Q = np.minimum(rng.geometric(0.6, size=(6000, 4)) - 1.0, 40.0)
        Q[:, 2] = rng.standard_normal(len(Q)) ** 2
        Q[:, 3] = 0.0
    else:
        rec = window_records(capture(which))
        X, model = profile_features(rec, "window-source-extreme.yaml")
        Q = model.quantities(X)
    memory, refresh, q = 2000, 64, 0.99
    ring = np.zeros((Q.shape[1], memory))
    hint = np.full(Q.shape[1], -np.inf)
    partial = calls = 0
    for start in range(0, len(Q), refresh):
        block = Q[start:start + refresh]
        ring[:, (start + np.arange(len(block))) % memory] = block.T
        held = ring[:, :min(memory, start + len(block))]
        want = np.quantile(held, q, axis=1, method="higher")
        got, hint = higher_quantile_above(held, q, hint, 2 * refresh)
        assert np.array_equal(got, want), start
        for wild in (rng.uniform(0, 2 * held.max() + 1, size=len(hint)),
                     np.full(len(hint), -np.inf), np.full(len(hint), np.inf)):
            assert np.array_equal(higher_quantile_above(held, q, wild, 2 * refresh)[0], want)
        calls += len(hint)
        partial += int(np.isfinite(hint).sum())
    assert calls
    if len(Q) >= 2 * memory:        # a stream long enough to turn the ring over
        assert partial > calls // 2
