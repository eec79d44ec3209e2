"""A public dataset's CSV (e.g. UNSW_NB15_training-set.csv) as training rows for
`wirescore train --csv FILE --feature-set NAME --label-column COLUMN`.

The CSV keeps its own layout: a header with the feature set's column names (any order,
other columns ignored) and a label column. The model's features are the set's model
columns that the set computes from packets (wirescore.featuresets: the others are NaN
on live traffic, so a model must not lean on them), named "SET.column" as a profile
names them; categorical values (UNSW-NB15's proto, service, state) become their index
in the set's vocabulary (-1: a value outside it), as the sensor encodes them.

Labels: a row is benign when its label is 0, "0", "normal" or "benign" (any case),
an attack otherwise; its attack type is the `attack_cat` column when the CSV has one
(UNSW-NB15), else the label's text. Row order stands for time: the split holds out
the last rows (wirescore.train), so a CSV sorted by time validates on its later part.

Errors name the file and what is wrong: no header, no label column, a set column
missing, a value that is not a finite number (unless the set's column says what a
dataset's Infinity / NaN stands for: CICFlowMeter's rates over a zero duration, 0).
"""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from wirescore.errors import WirescoreError
from wirescore.featuresets import encode, get

BENIGN = ("0", "0.0", "normal", "benign")


class CsvLabels:
    """The labels of a dataset CSV, in the shape wirescore.train reads (Labels'):
    path, sha256, attacks(flows) (row order = flow_id), y(attacks)."""

    def __init__(self, path: Path, attacks: list[str], sha256: str):
        self.path, self.sha256, self._attacks = path, sha256, attacks

    def attacks(self, flows) -> list[str]:
        """The attack type of each row of flows ('' = benign); flows' flow_id is the
        CSV row index."""
        return [self._attacks[int(i)] for i in flows.flow_id]

    @staticmethod
    def y(attacks: list[str]) -> np.ndarray:
        return np.array([1 if a else 0 for a in attacks], dtype=np.int8)


def model_features(set_name: str) -> list[str]:
    """The profile feature names ("SET.column") a model of this set takes."""
    fset = get(set_name)
    fset.require_records()          # a profile scores flow records: not a per-capture set
    return [f"{fset.name}.{c.name}" for c in fset.model_columns if c.computed]


def read_dataset_csv(path: str | Path, set_name: str, label_column: str):
    """(FlowSet, CsvLabels, features) from a dataset CSV; see the module docstring."""
    from wirescore.flowset import FlowSet

    path = Path(path)
    fset = get(set_name)
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise WirescoreError(f"{path}: empty file, no header")
        rows = list(reader)
    where = {name: i for i, name in enumerate(header)}
    if label_column not in where:
        raise WirescoreError(f"{path}: no label column {label_column!r} (columns: "
                             f"{', '.join(header[:8])}{', ...' if len(header) > 8 else ''})")
    features = model_features(set_name)
    columns = {}
    for feat in features:
        col = fset.column(feat.split(".", 1)[1])
        if col.name not in where:
            raise WirescoreError(f"{path}: no column {col.name!r} of feature set "
                                 f"{fset.name} in the header")
        values = [r[where[col.name]].strip() if len(r) > where[col.name] else ""
                  for r in rows]
        try:
            got = encode(col, np.array(values, dtype=object))
        except ValueError:
            bad = next(i for i, v in enumerate(values) if not _is_number(v))
            raise WirescoreError(f"{path}: row {bad + 2}: column {col.name}: "
                                 f"{values[bad]!r} is not a number") from None
        odd = ~np.isfinite(got)
        if odd.any() and col.csv_nonfinite is not None:
            got[odd] = col.csv_nonfinite
        elif odd.any():
            bad = int(np.flatnonzero(odd)[0])
            raise WirescoreError(f"{path}: row {bad + 2}: column {col.name}: "
                                 f"{values[bad]!r} is not a finite number")
        columns[feat] = got
    cat = where.get("attack_cat")
    attacks = []
    for r in rows:
        label = r[where[label_column]].strip()
        benign = label.lower() in BENIGN
        kind = (r[cat].strip() if cat is not None else label) or label
        attacks.append("" if benign else kind)
    n = len(rows)
    order = np.arange(n, dtype=np.float64)
    flows = FlowSet(str(path), np.arange(n, dtype=np.uint64), np.zeros(n, np.int64),
                    [""] * n, np.full(n, -1), [""] * n, np.full(n, -1), [""] * n,
                    order, order, columns)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return flows, CsvLabels(path, attacks, digest), features


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
