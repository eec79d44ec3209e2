"""The message parsers' fuzz target (tests/fuzz/fuzz_msg_krb.py) with the installed core:
its seeds and every input it found (tests/data/fuzz-regressions/msg_krb/) pass its checks,
and the checks fail on a parser that breaks the prefix rule (a negative control)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "fuzz"))
import fuzz_msg_krb  # noqa: E402

REGRESSIONS = REPO / "tests" / "data" / "fuzz-regressions" / "msg_krb"
SEEDS = REPO / "tests" / "fuzz" / "seeds-msg_krb"


def _inputs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix != ".md") \
        if folder.is_dir() else []


@pytest.mark.parametrize("path", _inputs(REGRESSIONS), ids=lambda p: p.name)
def test_regression_input(path):
    fuzz_msg_krb.run_one(path.read_bytes())


def test_seeds_pass():
    seeds = _inputs(SEEDS)
    assert len(seeds) > 40
    for path in seeds:
        fuzz_msg_krb.run_one(path.read_bytes())


def test_checks_catch_a_broken_prefix(monkeypatch):
    """A parser whose prefix parse invents a field value is caught."""
    real = fuzz_msg_krb.msg_krb5.parse_krb5

    def broken(data, full=None):
        out = real(data, full)
        if out.get("prefix") and "realm" in out:
            out["realm"] = "X" + out["realm"]
        return out

    monkeypatch.setattr(fuzz_msg_krb.msg_krb5, "parse_krb5", broken)
    krb = next(p for p in _inputs(SEEDS) if p.read_bytes()[0] == 0)   # a Kerberos message
    data = krb.read_bytes()
    with pytest.raises(AssertionError):
        for cut in range(60, len(data)):            # some cut lies after the realm
            fuzz_msg_krb.run_one(data[:1] + cut.to_bytes(2, "big") + data[3:])
