"""The native models' differential fuzz target (tests/fuzz/fuzz_models.py) on the
installed core: its seeds pass every check, and the checks catch a native model or line
orderer that drifts from its reference. Under ASAN they run in
`tests/fuzz/run.py --target models smoke` (README there)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "fuzz"))
import fuzz_models  # noqa: E402
from fuzz_core import FuzzFailure  # noqa: E402

SEEDS = REPO / "tests" / "fuzz" / "seeds-models"
REGRESSIONS = REPO / "tests" / "data" / "fuzz-regressions" / "models"


def inputs(folder: Path) -> list:
    if not folder.is_dir():
        return []
    return [pytest.param(p, id=p.name) for p in sorted(folder.glob("*")) if p.is_file()]


@pytest.mark.parametrize("path", inputs(SEEDS) + inputs(REGRESSIONS))
def test_input_passes_every_check(path):
    fuzz_models.run_one(path.read_bytes())


def test_the_seeds_are_those_the_target_writes():
    """tests/fuzz/seeds-models/ is fuzz_models.seeds() (run.py --target models seeds)."""
    assert {p.name: p.read_bytes() for p in SEEDS.iterdir()} == fuzz_models.seeds()


@pytest.mark.parametrize("part", ["extreme", "tail", "order"])
def test_checks_catch_a_native_part_that_drifts(monkeypatch, part):
    """Each part's seed fails its check when the native side is off by a little: the
    extreme model's reference one ulp up, a tail score one ulp up, two equal keys'
    lines swapped."""
    if part == "extreme":
        real = fuzz_models.ExtremeCounts.reference

        class Off(fuzz_models.ExtremeCounts):
            reference = property(lambda self: np.nextafter(real.fget(self), np.inf))
        monkeypatch.setattr(fuzz_models, "ExtremeCounts", Off)
    elif part == "tail":
        class Off(fuzz_models.TailModel):
            def score_many(self, X):
                return np.nextafter(super().score_many(X), np.inf)
        monkeypatch.setattr(fuzz_models, "TailModel", Off)
    else:
        def unstable(eve, blocks, stamps):
            lines = b"".join(blocks).splitlines(keepends=True)
            keys = np.concatenate(stamps)
            order = sorted(range(len(lines)), key=lambda i: (keys[i], -i))
            eve.write_bytes(b"".join(lines[i] for i in order))
        monkeypatch.setattr(fuzz_models, "write_ordered", unstable)
    with pytest.raises(FuzzFailure):
        for name in sorted(p.name for p in SEEDS.iterdir() if p.name.startswith(part)):
            fuzz_models.run_one((SEEDS / name).read_bytes())
