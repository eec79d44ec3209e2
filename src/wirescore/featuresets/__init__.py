"""Named feature sets: the columns of a public dataset's CSV, computed from packets.

A research model trained on a dataset's own CSV (UNSW-NB15's, ...) needs the same
columns on live traffic. Each set is a module here that writes its column list once,
beside each column's unit and definition (and where a packet-derived value cannot
match the dataset's tools), and a computer that turns batches of the core's flow
records (RECORD_DTYPE, in the order flows end) into those columns, vectorised:

    fs = get("unsw-nb15")
    compute = fs.computer()             # keeps state between batches (ct_* windows)
    cols = compute(records)             # {column name: numpy array}, one value a record

Values a set cannot compute from what the core keeps are NaN (numeric) or "" (text),
and their column's definition says so; they are never made up.

`wirescore features --set NAME` prints a set (describe()); `wirescore run --export F
--feature-set NAME` writes it (outputs/export.py); `wirescore train --csv` trains on it.
"""
from __future__ import annotations

import numpy as np

from wirescore.errors import WirescoreError

from wirescore.featuresets.base import KINDS, Column, FeatureSet  # noqa: F401 (re-exported)

#: bytes of link header a packet, by pcap link type (DLT), for IP byte counts: Ethernet
#: 14 (a VLAN tag adds 4 more, not taken off), Linux cooked 16 / 20, BSD loopback and
#: PPP / C-HDLC 4, raw IP 0; another link type is taken as Ethernet
LINK_BYTES = {1: 14, 113: 16, 276: 20, 0: 4, 108: 4, 9: 4, 50: 4, 104: 4, 12: 0, 14: 0,
              101: 0, 228: 0, 229: 0}


def link_header_bytes(linktype: int) -> int:
    """The link header bytes of a packet of this pcap link type (LINK_BYTES)."""
    return LINK_BYTES.get(int(linktype), 14)


def _registry() -> dict[str, FeatureSet]:
    from wirescore.featuresets import cicflowmeter, netml, splt, unsw_nb15

    return {s.name: s for s in (unsw_nb15.SET, cicflowmeter.SET, splt.SET, netml.SET)}


def splt_packets(set_names) -> int:
    """The first packets per flow the core must keep in its records for these sets
    (names; None and "" are skipped): the largest any of them reads."""
    return max((get(n).splt_packets for n in set_names if n), default=0)


def packet_stats(set_names) -> bool:
    """Whether the core must keep per-packet statistics in its records for these sets
    (names; None and "" are skipped)."""
    return any(get(n).packet_stats for n in set_names if n)


def names() -> list[str]:
    """The sets' names."""
    return sorted(_registry())


def get(name: str) -> FeatureSet:
    """The set called name; an error naming the known sets otherwise."""
    sets = _registry()
    if name not in sets:
        raise WirescoreError(f"no feature set {name!r} (sets: {', '.join(sorted(sets))})")
    return sets[name]


def describe(name: str) -> str:
    """One line a column: name, unit, definition (marked when not computed)."""
    fs = get(name)
    width = max(len(c.name) for c in fs.columns)
    lines = [f"# {fs.name}: {fs.title}"]
    for c in fs.columns:
        note = "" if c.computed else "[not computed: NaN] "
        lines.append(f"{c.name:<{width}}  {c.unit:<8}  {note}{c.definition}")
    return "\n".join(lines)


def listing() -> str:
    """One line a set: name, columns (a per-capture set's column templates: "kinds"),
    title."""
    sets = _registry()
    return "\n".join(f"{n:<12} {len(sets[n].columns):>3} "
                     f"{'kinds  ' if sets[n].needs_capture else 'columns'}  {sets[n].title}"
                     for n in sorted(sets))


def split_name(name: str) -> tuple[FeatureSet, Column] | None:
    """("unsw-nb15.sbytes" ->) the set and column a profile's feature name means, None
    for a name without a set's prefix; an error for a known set without that column."""
    prefix, dot, column = str(name).partition(".")
    if not dot or prefix not in _registry():
        return None
    fset = get(prefix)
    return fset, fset.column(column)


def encode(column: Column, values: np.ndarray) -> np.ndarray:
    """A column's values as float64: a categorical's value is its index in the column's
    vocabulary (-1: a value outside it); numbers as they are (NaN stays NaN)."""
    if column.kind != "categorical":
        return np.asarray(values, dtype=np.float64)
    index = {v: float(i) for i, v in enumerate(column.vocabulary)}
    return np.array([index.get(str(v), -1.0) for v in values], dtype=np.float64)


class SetMatrix:
    """A profile's feature-set columns ("set.column" names, all of one set) as a
    matrix over batches of flow records, computed over every flow of the batch (the
    ct_* windows see all flows); link_bytes: see the set's computer."""

    def __init__(self, features, link_bytes: int = 14):
        parts = [split_name(f) for f in features]
        if any(p is None for p in parts) or len({p[0].name for p in parts}) != 1:
            raise WirescoreError(f"features {list(features)}: not all of one feature set")
        self.set = parts[0][0]
        self.set.require_records()
        self.columns = [p[1] for p in parts]
        self._compute = self.set.computer(link_bytes=link_bytes)

    def __call__(self, records: np.ndarray) -> np.ndarray:
        cols = self._compute(records)
        return np.column_stack([encode(c, cols[c.name]) for c in self.columns])
