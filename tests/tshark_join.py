"""What the tshark parity tests (tests/test_app_*_tshark.py) share: reading a capture's
fields with `tshark -T fields`, and running a test's per-capture comparison over many
captures and joining its verdicts.

A comparison is `compare(path) -> (classes, unexplained)`: a Counter of the verdicts
(how many fields were equal, how many differ for a reason the test names) and the list
of differences no reason explains. The test asserts on both; nothing here asserts.
"""
from __future__ import annotations

import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

AGG = "\x1f"                 # separates a field's values within one frame
PROBLEMS_PER_CAPTURE = 5     # unexplained differences kept from each capture


def tshark_rows(path: Path | str, display_filter: str, fields: Iterable[str]) -> list[dict]:
    """The frames of `path` that `display_filter` keeps, one dict each: field name ->
    its values in the frame (a list; empty when the frame has none). Runs tshark with
    name resolution off; at most 10 minutes a capture."""
    fields = list(fields)
    cmd = ["tshark", "-n", "-r", str(path), "-Y", display_filter, "-T", "fields", "-E",
           f"aggregator={AGG}", "-E", "separator=\t"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, errors="surrogateescape",
                         timeout=600).stdout
    return [dict(zip(fields, (v.split(AGG) if v else [] for v in line.split("\t"))))
            for line in out.splitlines()]


def compare_all(compare: Callable[[Path], tuple[Counter, list[str]]],
                captures: list[Path]) -> tuple[Counter, list[str]]:
    """compare() on every capture (two at a time: tshark and the engine each take a
    core): the verdicts summed, and the first PROBLEMS_PER_CAPTURE unexplained
    differences of each capture, each prefixed with the capture's name."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(compare, captures))
    total: Counter = Counter()
    problems: list[str] = []
    for path, (classes, unexplained) in zip(captures, results):
        total += classes
        problems += [f"{path.name}: {u}" for u in unexplained[:PROBLEMS_PER_CAPTURE]]
    return total, problems


def unexplained_message(problems: list[str]) -> str:
    """The assertion message listing (the first 60 of) the unexplained differences."""
    return "unexplained differences from tshark:\n" + "\n".join(problems[:60])
