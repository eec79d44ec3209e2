"""Coverage-guided differential fuzz target for the native models and the EVE line
orderer (ext/extreme.pyx, ext/tail.pyx, ext/eve.pyx write_ordered): `run.py --target
models ...`.

One input:

    byte 0    what: 0 extreme model, 1 tail model, 2 write_ordered (mod 3)
    bytes 1-4 parameters (memory, refresh, quantile, floors; window, max_samples,
              weights, unscored; how blocks are cut)
    then      the stream: one byte a value (byte_value()), rows of 3 values, cut into
              batches by the bytes at the start of each batch; for write_ordered,
              lines of the bytes' text with one key byte each

Checks, beyond "no memory error" (ASAN + UBSan + Cython bounds checks when run.py built
the core; the model cores hold their state in numpy arrays of exact size):
- extreme: after every call the reference and every score equal the numpy model's
  (tests/extreme_reference.py) bit for bit;
- tail: every score bit for bit the numpy model's (tests/tail_reference.py), and the
  distinct values, weights, counts, oldest sample and total of every column equal after
  each batch;
- write_ordered: the file holds the lines stably sorted by key (Python's sorted()).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(TESTS))

import numpy as np  # noqa: E402
from fuzz_core import FuzzFailure, check, entry  # noqa: E402  (loads the fuzz build)
from fuzz_core import main as fuzz_core_main  # noqa: E402

from extreme_reference import ExtremeReference  # noqa: E402
from tail_reference import TailReference  # noqa: E402
from wirescore.models.extreme import ExtremeCounts  # noqa: E402
from wirescore.models.tail import TailModel  # noqa: E402
from wirescore.outputs.eve import EveWriter  # noqa: E402
from wirescore.outputs.eve_order import write_ordered  # noqa: E402

SPECIAL = (np.nan, np.inf, -np.inf, -1.0, 0.5, 1e6, 1e300, -0.0)
QUANTILES = (0.5, 0.9, 0.99, 0.999)
FEATURES = ("a", "b", "c")


def byte_value(b: int) -> float:
    """A feature value from one byte: small counts (ties) mostly, a few specials."""
    if b >= 248:
        return SPECIAL[b - 248]
    if b >= 200:
        return float((b - 200) * 37)                 # sparse large counts
    return float(b % 12)


def stream(data: bytes) -> list[np.ndarray]:
    """Batches of rows of 3 values: each batch starts with its length byte."""
    out, i = [], 0
    while i < len(data):
        n = 1 + data[i] % 40
        body = data[i + 1:i + 1 + 3 * n]
        rows = len(body) // 3
        if rows == 0:
            break
        out.append(np.array([byte_value(b) for b in body[:3 * rows]]).reshape(rows, 3))
        i += 1 + 3 * rows
    return out


def run_extreme(p: bytes, data: bytes) -> None:
    params = {"features": FEATURES,
              "floors": ({"a": 1 + p[2] % 9, "a*b": 2.5} if p[3] & 1
                         else {"c": 0.5 + p[2] % 4, "b*c*a": 7, "a": 3}),
              "quantile": QUANTILES[p[3] >> 1 & 3], "margin": 1.0 + (p[3] >> 3 & 3),
              "memory": 100 + p[0] % 64, "refresh": 1 + p[1] % 100}
    native, ref = ExtremeCounts(**params), ExtremeReference(**params)
    for n, X in enumerate(stream(data)):
        method = ("score_learn_many", "learn_many", "score_many")[n % 3]
        out = getattr(native, method)(X)
        with np.errstate(all="ignore"):          # inf * 0, overflow: as the C core
            want = getattr(ref, method)(X)
        if out is not None:
            check(np.array_equal(out, want), f"extreme {method} scores")
        check(np.array_equal(native.reference, ref.reference),
              f"extreme reference after batch {n}: {native.reference} != {ref.reference}")


def run_tail(p: bytes, data: bytes) -> None:
    window = 10 + p[0] % 40
    weights = ({}, {"a": "c"}, {"a": "c", "b": "c"}, {"a": "a", "b": "a"})[p[2] & 3]
    params = {"features": FEATURES, "window": window,
              "max_samples": window * (1 + p[1] % 4) if p[2] & 4 else None,
              "weight_by": weights or None,
              "unscored": ["c"] if p[2] & 8 and "c" in weights.values()
              and len(weights) == 2 else None}
    native, ref = TailModel(**params), TailReference(**params)
    bursts = [FEATURES.index(b) for b in set(weights.values())]
    for n, X in enumerate(stream(data)):
        # a NaN burst size: the numpy model casts NaN to int64 (undefined), the native
        # one weighs it 1; not compared
        X[:, bursts] = np.nan_to_num(X[:, bursts], nan=0.25)
        with np.errstate(all="ignore"):
            out, want = native.score_many(X), ref.score_many(X)
            check(np.array_equal(out, want, equal_nan=True), f"tail scores of batch {n}")
            native.learn_many(X)
            ref.learn_many(X)
        for j in np.flatnonzero(ref._scored).tolist():
            u, w, c = native._core.distinct(j)
            check(np.array_equal(u, ref._u[j], equal_nan=True)
                  and np.array_equal(w, ref._w[j]) and np.array_equal(c, ref._c[j]),
                  f"tail column {j} distinct values after batch {n}")
            check(native._core.held(j) == (int(ref._first[j]), int(ref._total[j])),
                  f"tail column {j} oldest sample / total after batch {n}")


def run_order(p: bytes, data: bytes) -> None:
    """Lines 'k:text' cut into blocks where p says, keys from one byte each."""
    lines, keys = [], []
    for i in range(0, len(data) - 1, 2):
        keys.append(data[i] % (1 + p[0] % 16))
        text = data[i + 1:i + 2].hex().encode() * (data[i + 1] % 7)
        lines.append(b"%d:%d:%s\n" % (keys[-1], i, text))
    cut_every = 1 + p[1] % 50
    blocks = [b"".join(lines[a:a + cut_every]) for a in range(0, len(lines), cut_every)]
    stamps = [np.array(keys[a:a + cut_every], dtype=np.int64)
              for a in range(0, len(lines), cut_every)]
    with tempfile.TemporaryDirectory() as tmp:
        eve = EveWriter(os.path.join(tmp, "eve.json"))
        try:
            write_ordered(eve, blocks, stamps) if blocks else None
        finally:
            eve.close()
        got = Path(tmp, "eve.json").read_bytes()
    order = sorted(range(len(lines)), key=lambda i: keys[i])
    check(got == b"".join(lines[i] for i in order), "write_ordered: not a stable sort")


def run_one(data: bytes) -> None:
    if len(data) < 5:
        return
    what, p, rest = data[0] % 3, data[1:5], data[5:]
    try:
        (run_extreme, run_tail, run_order)[what](p, rest)
    except FuzzFailure:
        raise
    except ValueError as exc:          # parameters the models refuse (checked, named)
        check("must" in str(exc) or "floors" in str(exc), f"unexpected error: {exc}")


def seeds() -> dict[str, bytes]:
    """Starting inputs: each part with a few parameter sets and streams of ties, bursts
    and specials."""
    rng = np.random.default_rng(0)
    out = {}
    for what in range(3):
        for k in range(4):
            p = bytes(rng.integers(0, 256, 4).tolist())
            body = bytes(rng.choice([0, 1, 2, 3, 5, 11, 205, 230, 248, 249, 251],
                                    size=600).tolist())
            out[f"{('extreme', 'tail', 'order')[what]}-{k}"] = bytes([what]) + p + body
    return out


TestOneInput = entry(run_one)  # noqa: N816 (atheris' name)


if __name__ == "__main__":
    fuzz_core_main(sys.argv, TestOneInput)
