"""The TLS message parsers' fuzz target (tests/fuzz/fuzz_msg_tls.py) on the installed core:
its seeds and every regression input (tests/data/fuzz-regressions/msg_tls/) pass every
check, and the checks catch a parser whose prefix fields differ from its whole parse's.
Under ASAN they run in `tests/fuzz/run.py --target msg_tls smoke` (README there)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "fuzz"))
import fuzz_msg_tls  # noqa: E402
from fuzz_core import FuzzFailure  # noqa: E402

SEEDS = REPO / "tests" / "fuzz" / "seeds-msg_tls"
REGRESSIONS = REPO / "tests" / "data" / "fuzz-regressions" / "msg_tls"


def inputs(folder: Path) -> list:
    return [pytest.param(p, id=p.name) for p in sorted(folder.glob("*")) if p.is_file()]


@pytest.mark.parametrize("path", inputs(SEEDS) + inputs(REGRESSIONS))
def test_input_passes_every_check(path):
    fuzz_msg_tls.run_one(path.read_bytes())


def test_the_seeds_are_those_the_target_writes():
    """tests/fuzz/seeds-msg_tls/ is fuzz_msg_tls.seeds() (run.py --target msg_tls seeds)."""
    assert {p.name: p.read_bytes() for p in SEEDS.iterdir()} == fuzz_msg_tls.seeds()


def test_checks_catch_a_prefix_field_that_differs(monkeypatch):
    """A ClientHello seed cut short: a parser that reports another version for a prefix
    than for the whole message fails the target's prefix check."""
    seed = (SEEDS / "msg-tls12-0-0").read_bytes()
    real = fuzz_msg_tls.PARSERS[0]

    def lying(data, full=None):
        d = real(data, full)
        if full is not None and len(data) < full and d.get("version") is not None:
            d["version"] += 1
        return d

    monkeypatch.setitem(fuzz_msg_tls.PARSERS, 0, lying)
    with pytest.raises(FuzzFailure, match="prefix field version"):
        fuzz_msg_tls.run_one(seed[:1] + (100).to_bytes(2, "big") + seed[3:])
