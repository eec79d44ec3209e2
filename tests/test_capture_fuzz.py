"""The reader's fuzz target (tests/fuzz/fuzz_reader.py) on the installed core: its seeds
and every regression input (tests/data/fuzz-regressions/reader/) pass every check, and
the checks catch a reader that loses a packet when the bytes arrive in pieces or an
interpreter that disagrees with libpcap. Under ASAN they run in
`tests/fuzz/run.py --target reader smoke` (README there)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "fuzz"))
import fuzz_reader  # noqa: E402

SEEDS = REPO / "tests" / "fuzz" / "seeds-reader"
REGRESSIONS = REPO / "tests" / "data" / "fuzz-regressions" / "reader"


def inputs(folder: Path) -> list:
    return [pytest.param(p, id=p.name) for p in sorted(folder.glob("*")) if p.is_file()]


@pytest.mark.parametrize("path", inputs(SEEDS) + inputs(REGRESSIONS))
def test_input_passes_every_check(path):
    fuzz_reader.run_one(path.read_bytes())


def test_the_seeds_are_those_the_target_writes():
    """tests/fuzz/seeds-reader/ is fuzz_reader.seeds() (run.py --target reader seeds)."""
    want = fuzz_reader.seeds()
    assert {p.name: p.read_bytes() for p in SEEDS.iterdir()} == want


def test_checks_catch_a_reader_that_loses_a_packet_in_pieces(monkeypatch):
    seed = (SEEDS / "file-zeek-wikipedia").read_bytes()
    real = fuzz_reader.read

    def lossy(data, max_rows, pieces, expr):
        rows, end = real(data, max_rows, pieces, expr)
        return (rows[:-1] if pieces else rows), end

    monkeypatch.setattr(fuzz_reader, "read", lossy)
    with pytest.raises(fuzz_reader.FuzzFailure, match="read in pieces"):
        fuzz_reader.run_one(seed)


def test_checks_catch_an_interpreter_that_differs_from_libpcap(monkeypatch):
    seed = (SEEDS / "bpf-0").read_bytes()
    monkeypatch.setattr(fuzz_reader, "py_bpf", lambda insns, p, wirelen: 1)
    with pytest.raises(fuzz_reader.FuzzFailure, match="reference"):
        fuzz_reader.run_one(seed)
