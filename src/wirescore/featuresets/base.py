"""The shapes every feature set shares: a Column (name, unit, definition) and a
FeatureSet (its columns and its computer); see wirescore.featuresets."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from wirescore.errors import WirescoreError

#: column kinds: numeric (float), categorical (a string from a fixed vocabulary),
#: id (a row number), label (a dataset's ground truth: never computed from packets)
KINDS = ("numeric", "categorical", "id", "label")


@dataclass(frozen=True)
class Column:
    name: str            # the dataset's own column name
    unit: str
    definition: str      # one line: what the dataset means, and how it is computed here
    kind: str = "numeric"
    computed: bool = True   # False: the core does not give it; always NaN / "" (see text)
    vocabulary: tuple[str, ...] = ()   # categorical: the values, in code order
    # a dataset CSV's non-finite values (Infinity, NaN) stand for this value (the one the
    # set computes: CICFlowMeter's rates over a zero duration are 0 here); None: refused
    csv_nonfinite: float | None = None


@dataclass(frozen=True)
class FeatureSet:
    name: str
    title: str
    columns: tuple[Column, ...]
    computer: Callable[..., Callable[[np.ndarray], dict]]   # (link_bytes=...) -> compute
    # the flow records' packets the set reads: FlowMeter(splt=n) keeps each flow's first
    # n packets in its record (ext/splt.pxd); 0: the set reads the summary fields only
    splt_packets: int = 0
    # not computed from flow records: why, and what to use instead (one line); such a
    # set's columns are templates ("iat_k") and its computer refuses (require_records)
    needs_capture: str = ""
    # the set reads the records' per-packet statistics (pkt_* fields: FlowMeter(pktstats=
    # True), ext/pktstats.pxd)
    packet_stats: bool = False

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def model_columns(self) -> list[Column]:
        """The columns a model may take as input (not the row id or the labels)."""
        return [c for c in self.columns if c.kind in ("numeric", "categorical")]

    def require_records(self) -> None:
        """An error (one line: why, and what to use instead) for a set that is not
        computed from the core's flow records (--export, profiles, train)."""
        if self.needs_capture:
            raise WirescoreError(f"feature set {self.name}: {self.needs_capture}")

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise WirescoreError(f"feature set {self.name}: no column {name!r} "
                             f"(columns: {', '.join(self.names)})")
