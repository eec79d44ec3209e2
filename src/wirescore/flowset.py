"""Finished flows as columns, for training and evaluation: from a capture or an export.

- ``flows_from_capture(path, ...)`` runs the engine over a capture (with or without
  detection profiles) and keeps the flows it hands to its on_flow callback
  (FlowCollector): identity from the flows' EVE events, feature columns straight from
  the records, and one ``score.<id>`` column per flow profile, scored over the same
  batches;
- ``read_export(path)`` reads a ``wirescore run --export`` file (.csv, or .parquet with
  pyarrow) with the same columns.

Both give a FlowSet, rows in the order the flows ended (the order of the export), with
equal values for the same flows: a capture's FlowSet equals the FlowSet of its export,
column for column. Times are epoch seconds (float64, microsecond resolution); a
port-less flow has port -1.
"""
from __future__ import annotations

import calendar
import csv
import logging
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from wirescore.core_names import PROTO_NUMBERS
from wirescore.errors import WirescoreError

log = logging.getLogger(__name__)

IDENTITY = ("flow_id", "src_ip", "src_port", "dest_ip", "dest_port", "proto",
            "community_id", "start", "end")
_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$")


def parse_time(text: str | float, what: str = "time") -> float:
    """Epoch seconds from a number ("1704067680", "1704067680.5") or an ISO 8601 time
    ("2024-01-01T00:08:00Z", "...T00:08:00.25+0100"; no zone = UTC). EVE timestamps
    parse too. WirescoreError on anything else."""
    if isinstance(text, (int, float)):
        return float(text)
    text = str(text).strip()
    try:
        return float(text)
    except ValueError:
        pass
    m = _ISO.match(text)
    if not m:
        raise WirescoreError(f"{what} {text!r}: give epoch seconds or an ISO 8601 time "
                             "such as 2024-01-01T00:08:00Z")
    try:
        secs = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        raise WirescoreError(f"{what} {text!r}: not a valid date and time") from None
    frac = float(m.group(2)) if m.group(2) else 0.0
    zone = m.group(3)
    offset = 0
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * (1 if zone[0] == "+" else -1)
    return secs + frac - offset


def _eve_times(values: Sequence[str]) -> np.ndarray:
    """EVE timestamps ('2024-01-01T00:00:00.123456+0000') -> epoch seconds, caching the
    second part (flows of one file share few distinct seconds)."""
    cache: dict[str, float] = {}
    out = np.empty(len(values))
    for i, v in enumerate(values):
        head, tail = v[:19], v[19:]
        base = cache.get(head)
        if base is None:
            base = cache[head] = float(calendar.timegm(time.strptime(head,
                                                                      "%Y-%m-%dT%H:%M:%S")))
        if tail.endswith("+0000"):
            out[i] = base + (float(tail[:-5]) if len(tail) > 5 else 0.0)
        else:
            out[i] = parse_time(v)
    return out


@dataclass
class FlowSet:
    """Flows as columns. ``columns`` maps feature and score column names to float64
    arrays; the identity fields are arrays (ports: -1 when the protocol has none)."""

    source: str
    flow_id: np.ndarray
    proto: np.ndarray
    src_ip: list
    src_port: np.ndarray
    dest_ip: list
    dest_port: np.ndarray
    community_id: list
    start: np.ndarray
    end: np.ndarray
    columns: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.flow_id)

    def matrix(self, features: Sequence[str]) -> np.ndarray:
        """(rows, len(features)) float64, columns in the given order."""
        missing = [f for f in features if f not in self.columns]
        if missing:
            raise WirescoreError(f"{self.source}: no column {missing[0]!r} "
                                 f"({len(missing)} of the {len(features)} features missing; "
                                 "is it a `wirescore run --export` file?)")
        if not len(self):
            return np.empty((0, len(features)))
        return np.column_stack([self.columns[f] for f in features])

    def select(self, mask: np.ndarray) -> FlowSet:
        """The rows where mask is True (a boolean array), in order."""
        return self.take(np.flatnonzero(mask))

    def take(self, idx: np.ndarray) -> FlowSet:
        """The rows at the indices idx, in the order idx gives."""
        return FlowSet(self.source, self.flow_id[idx], self.proto[idx],
                       [self.src_ip[i] for i in idx], self.src_port[idx],
                       [self.dest_ip[i] for i in idx], self.dest_port[idx],
                       [self.community_id[i] for i in idx], self.start[idx], self.end[idx],
                       {k: v[idx] for k, v in self.columns.items()})


def _proto_number(text: str) -> int:
    """The IP protocol of an EVE or export proto field (Suricata's name, or the number of
    a protocol without one); -1 for "Any" (IANA's keyword of five numbers) or garbage."""
    if text in PROTO_NUMBERS:
        return PROTO_NUMBERS[text]
    try:
        return int(text)
    except ValueError:
        return -1


def _ports(values) -> np.ndarray:
    """Ports as int64; -1 for a flow without ports (empty, or None)."""
    return np.array([-1 if v in ("", None) else int(v) for v in values], dtype=np.int64)


def _from_columns(source: str, cols: dict) -> FlowSet:
    lacking = [c for c in IDENTITY if c not in cols]
    if lacking:
        raise WirescoreError(f"{source}: not a wirescore flow export (no column "
                             f"{lacking[0]!r}; write one with `wirescore run --export`)")

    try:
        numeric = {name: np.asarray([float(v) if v not in ("", None) else np.nan
                                     for v in values], dtype=np.float64)
                   for name, values in cols.items() if name not in IDENTITY}
        return FlowSet(
            source=source,
            flow_id=np.array([int(v) for v in cols["flow_id"]], dtype=np.uint64),
            proto=np.array([_proto_number(str(v)) for v in cols["proto"]], dtype=np.int64),
            src_ip=list(cols["src_ip"]), src_port=_ports(cols["src_port"]),
            dest_ip=list(cols["dest_ip"]), dest_port=_ports(cols["dest_port"]),
            community_id=[str(v or "") for v in cols["community_id"]],
            start=_eve_times(list(cols["start"])), end=_eve_times(list(cols["end"])),
            columns=numeric)
    except (ValueError, TypeError) as exc:
        raise WirescoreError(f"{source}: a value is not a number where one belongs "
                             f"({exc})") from None


def read_export(path: str | Path) -> FlowSet:
    """A FlowSet from a `wirescore run --export` file: .csv, or .parquet (needs pyarrow)."""
    path = Path(path)
    if not path.is_file():
        raise WirescoreError(f"{path}: no such flow export file")
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise WirescoreError(f"{path}: reading Parquet needs pyarrow "
                                 "(pip install 'wirescore[parquet]')") from None
        try:
            table = pq.read_table(path)
        except Exception as exc:          # pyarrow's errors are not one family
            raise WirescoreError(f"{path}: not a readable Parquet file ({exc})") from None
        cols = {name: ["" if v is None else v for v in table.column(name).to_pylist()]
                for name in table.column_names}
        return _from_columns(str(path), cols)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header:
                raise WirescoreError(f"{path}: empty file (no header row)")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise WirescoreError(f"{path}: cannot read: {exc}") from None
    bad = next((i for i, r in enumerate(rows) if len(r) != len(header)), None)
    if bad is not None:
        raise WirescoreError(f"{path}:{bad + 2}: {len(rows[bad])} fields, the header has "
                             f"{len(header)}")
    columns = list(zip(*rows)) if rows else [()] * len(header)
    return _from_columns(str(path), dict(zip(header, columns)))


class FlowCollector:
    """An Engine on_flow callback that keeps every finished flow for a FlowSet.

    Identity columns come from the EVE flow events the engine hands over with the
    records (what --export writes), feature columns from the records themselves (all
    of wirescore.catalog's, or only `columns`), as float64. scorer: a
    wirescore.detect.Detector of flow profiles run over the same batches, in the same
    order, as the engine's own detector: its scores become ``score.<id>`` columns."""

    def __init__(self, columns: Iterable[str] | None = None, scorer=None,
                 feature_set: str | None = None):
        """feature_set: keep that named set's model columns ("SET.column", encoded as
        a profile reads them: wirescore.featuresets.SetMatrix) instead of columns."""
        from wirescore.catalog import ALL_FEATURES, BY_NAME

        self._set = None
        if feature_set:
            from wirescore.featuresets import SetMatrix, get

            fset = get(feature_set)
            names = [f"{fset.name}.{c.name}" for c in fset.model_columns if c.computed]
            self._set = SetMatrix(names)
            self._fields = {}
        else:
            names = [f.name for f in ALL_FEATURES] if columns is None else list(columns)
            self._fields = {name: BY_NAME[name].field for name in names}
        self._set_names = names if feature_set else []
        self._scorer = scorer
        self._ident: dict[str, list] = {c: [] for c in IDENTITY}
        self._parts: dict[str, list] = {name: [] for name in names}
        if scorer is not None:
            self._parts.update({c: [] for c in scorer.score_columns})

    def __call__(self, records: np.ndarray, events: Sequence[dict]) -> None:
        for name, fld in self._fields.items():
            self._parts[name].append(records[fld].astype(np.float64))
        if self._set is not None:
            X = self._set(records)
            for j, name in enumerate(self._set_names):
                self._parts[name].append(X[:, j])
        if self._scorer is not None:
            scores, _ = self._scorer.process(records)
            for name, values in scores.items():
                self._parts[name].append(values)
        ident = self._ident
        for e in events:
            ident["flow_id"].append(e["flow_id"])
            ident["src_ip"].append(e["src_ip"])
            ident["src_port"].append(e.get("src_port"))
            ident["dest_ip"].append(e["dest_ip"])
            ident["dest_port"].append(e.get("dest_port"))
            ident["proto"].append(e["proto"])
            ident["community_id"].append(e["community_id"])
            ident["start"].append(e["flow"]["start"])
            ident["end"].append(e["flow"]["end"])

    def flowset(self, source: str) -> FlowSet:
        """What was collected, as a FlowSet named source."""
        ident = self._ident
        columns = {name: np.concatenate(parts) if parts else np.empty(0)
                   for name, parts in self._parts.items()}
        return FlowSet(
            source=source,
            flow_id=np.array(ident["flow_id"], dtype=np.uint64),
            proto=np.array([_proto_number(str(v)) for v in ident["proto"]], dtype=np.int64),
            src_ip=ident["src_ip"], src_port=_ports(ident["src_port"]),
            dest_ip=ident["dest_ip"], dest_port=_ports(ident["dest_port"]),
            community_id=[str(v or "") for v in ident["community_id"]],
            start=_eve_times(ident["start"]), end=_eve_times(ident["end"]), columns=columns)


def flows_from_capture(path: str | Path, config_path: str | Path | None = None,
                       profiles: list | None = None, log_dir: str | Path | None = None,
                       on_alert: Callable | None = None,
                       columns: Iterable[str] | None = None,
                       feature_set: str | None = None):
    """Run the pipeline over a capture and return (FlowSet, Summary).

    profiles: detection profiles to run, as `wirescore run` runs them (alerts, window
    profiles, eve.json); the enabled flow profiles' scores become ``score.<id>``
    columns. None runs the flow core alone. columns: the feature columns to keep
    (default: every one, as --export writes them). log_dir: where eve.json goes
    (default: a temporary folder, deleted afterwards). config_path: a `wirescore
    config` YAML file for flow settings. on_alert(event) sees every EVE alert.
    Snippets are not written. feature_set: keep a named set's columns instead
    (FlowCollector).
    """
    from wirescore.config import Config
    from wirescore.engine import Engine

    scorer = None
    if profiles is not None:
        from wirescore.detect import Detector

        scorer = Detector([p for p in profiles if p.unit == "flow"])
    collect = FlowCollector(columns, scorer, feature_set)
    with tempfile.TemporaryDirectory(prefix="wirescore-") as tmp:
        overrides = {"detect.enabled": profiles is not None,
                     "outputs.snippets.enabled": False, "outputs.export": ""}
        cfg = Config.load(config_path, overrides)
        if feature_set:                  # the records keep the packets the set reads
            from wirescore.featuresets import get

            fset = get(feature_set)
            more = {}
            if fset.splt_packets > cfg["flow.splt_packets"]:
                more["flow.splt_packets"] = fset.splt_packets
            if fset.packet_stats and not cfg["flow.packet_stats"]:
                more["flow.packet_stats"] = True
            if more:
                cfg = Config.load(config_path, dict(overrides, **more))
        engine = Engine(cfg, log_dir if log_dir is not None else Path(tmp) / "logs",
                        profiles=profiles, on_flow=collect, on_alert=on_alert)
        log.info("%s: running the pipeline%s", path,
                 f" with {len(profiles)} profile(s)" if profiles else "")
        summary = engine.run(str(path))
    return collect.flowset(str(path)), summary
