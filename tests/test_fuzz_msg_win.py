"""The message parsers' fuzz target (tests/fuzz/fuzz_msg_win.py), replayed with the
installed core: its seeds (real messages of the shared captures) and what the fuzzer
found (tests/data/fuzz-regressions/msg_win/) pass every check, and the checks fail on
a parser that breaks the prefix contract (negative controls)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "fuzz"))
import fuzz_msg_win as fmw  # noqa: E402

SEEDS = REPO / "tests" / "fuzz" / "seeds-msg_win"
REGRESSIONS = REPO / "tests" / "data" / "fuzz-regressions" / "msg_win"


def inputs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".md"))


def test_seeds_pass_every_check():
    seeds = inputs(SEEDS)
    assert len(seeds) >= 100
    kinds = {fmw.PARSERS[p.read_bytes()[0] % len(fmw.PARSERS)][0] for p in seeds}
    assert kinds == {name for name, _ in fmw.PARSERS}
    whole = 0
    for path in seeds:
        data = path.read_bytes()
        whole += fmw.run_one(data).get("rc") == 0
        for cut in (1, 64, 200):                 # the same message with a prefix check
            fmw.run_one(data[:1] + bytes([0, cut]) + data[3:])
    assert whole >= len(seeds) // 2


@pytest.mark.parametrize("path", sorted(REGRESSIONS.glob("*.bin")),
                         ids=lambda p: p.name)
def test_regression_input(path):
    fmw.run_one(path.read_bytes())


def _seed(kind: int) -> bytes:
    return next(p.read_bytes() for p in inputs(SEEDS) if p.read_bytes()[0] == kind)


def test_checks_catch_a_prefix_that_contradicts_the_whole(monkeypatch):
    real = fmw.msg_dcerpc.parse_dcerpc

    def lying(data, full=None):
        out = real(data, full)
        if len(data) < (full or len(data)) and "call_id" in out:
            out["call_id"] += 1
        return out

    monkeypatch.setattr(fmw, "PARSERS", tuple((n, lying if n == "dcerpc" else p)
                                              for n, p in fmw.PARSERS))
    data = _seed(4)
    with pytest.raises(fmw.FuzzFailure, match="call_id"):
        fmw.run_one(data[:1] + bytes([0, 200]) + data[3:])


def test_checks_catch_an_overlong_string():
    with pytest.raises(fmw.FuzzFailure, match="bytes"):
        fmw.check_dict({"user": "x" * 300}, "ntlmssp")
    with pytest.raises(fmw.FuzzFailure, match="items"):
        fmw.check_dict({"dialects": list(range(17))}, "smb2")
