"""Feature rows from a CSV whose header names the columns: a dataset CSV in its own
layout (a set's columns by their own names), a `wirescore run --export --feature-set`
file, or an export of catalogue columns; for checking exported models and for the
background rows of explanations."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from wirescore.errors import WirescoreError


def read_rows(path: str | Path, names: Sequence[str], max_rows: int = 1000) -> np.ndarray:
    """float32 (rows, len(names)) from a CSV whose header names the columns (a set's
    columns by their own name or as SET.column)."""
    from wirescore.featuresets import encode, split_name

    path = Path(path)
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [r for _, r in zip(range(max_rows), reader)]
        header = reader.fieldnames or []
    cols = []
    for name in names:
        found = split_name(name)
        short = found[1].name if found else name
        key = name if name in header else short
        if key not in header:
            raise WirescoreError(f"{path}: no column {short!r} for feature {name}")
        values = np.array([r[key] for r in rows], dtype=object)
        try:
            cols.append(encode(found[1], values) if found else values.astype(np.float64))
        except ValueError:
            raise WirescoreError(f"{path}: column {key}: a value is not a number") from None
    if not rows:
        raise WirescoreError(f"{path}: no sample rows")
    return np.column_stack(cols).astype(np.float32)
