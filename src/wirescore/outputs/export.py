"""--export: one row per finished flow, for research (CSV, or Parquet with pyarrow).

Columns: the identity columns named as in EVE (flow_id, src_ip, src_port, dest_ip,
dest_port, proto, community_id, start, end), then every feature column of
wirescore.catalog in catalogue order, then one score column per flow-level profile
("score.<profile id>") once detection adds them: the score the profile's threshold is
compared with, empty (NaN in Parquet) for a flow the profile's allowlist keeps from
alerting (it is learned, never alerted). Ports are empty for port-less
protocols. Rows come in the order flows end, which is deterministic for a file.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from wirescore.catalog import ALL_FEATURES
from wirescore.errors import WirescoreError
from wirescore.outputs.paths import FILE_MODE

IDENTITY_COLUMNS = ("flow_id", "src_ip", "src_port", "dest_ip", "dest_port", "proto",
                    "community_id", "start", "end")


class FlowExporter:
    """Write flow rows to path; the format follows the extension (.csv / .parquet)."""

    def __init__(self, path: str | os.PathLike, score_columns: Sequence[str] = ()):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise WirescoreError(f"{self.path}: --export needs a .csv or .parquet file name")
        self.kind = suffix[1:]
        self.columns = [*IDENTITY_COLUMNS, *(f.name for f in ALL_FEATURES), *score_columns]
        self._fields = [f.field for f in ALL_FEATURES]
        self._scores = list(score_columns)
        if self.path.parent and not self.path.parent.exists():
            raise WirescoreError(f"{self.path}: folder {self.path.parent} does not exist")
        if self.kind == "parquet":
            try:
                import pyarrow  # noqa: F401
                import pyarrow.parquet  # noqa: F401
            except ImportError:
                raise WirescoreError(f"{self.path}: Parquet export needs pyarrow "
                                     "(pip install 'wirescore[parquet]'); or export to .csv"
                                     ) from None
        # opened (created with mode 0640) before the first packet, whatever the format:
        # a path that cannot be written is refused now, not after the run
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                         FILE_MODE)
        except OSError as exc:
            raise WirescoreError(f"{self.path}: cannot open the export for writing: "
                                 f"{exc.strerror}") from None
        self._writer = None
        self._closed = False
        if self.kind == "parquet":
            os.close(fd)                    # pyarrow writes the path itself
        else:
            self._fh = os.fdopen(fd, "w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._fh, lineterminator="\n")
            self._csv.writerow(self.columns)

    def write(self, records: np.ndarray, events: Sequence[Mapping[str, Any]],
              scores: Mapping[str, np.ndarray] | None = None) -> None:
        """records (RECORD_DTYPE) and their EVE flow events, in the same order."""
        if len(records) == 0:
            return
        ident = {
            "flow_id": [e["flow_id"] for e in events],
            "src_ip": [e["src_ip"] for e in events],
            "src_port": [e.get("src_port") for e in events],
            "dest_ip": [e["dest_ip"] for e in events],
            "dest_port": [e.get("dest_port") for e in events],
            "proto": [e["proto"] for e in events],
            "community_id": [e["community_id"] for e in events],
            "start": [e["flow"]["start"] for e in events],
            "end": [e["flow"]["end"] for e in events],
        }
        feats = [records[f] for f in self._fields]
        extra = [np.asarray((scores or {}).get(c, np.full(len(records), np.nan)))
                 for c in self._scores]
        if self.kind == "csv":
            cols = [ident[c] for c in IDENTITY_COLUMNS] + [f.tolist() for f in feats] + \
                   [x.tolist() for x in extra]
            self._csv.writerows(["" if v is None else v for v in row] for row in zip(*cols))
        else:
            self._write_parquet(ident, feats, extra)

    def _write_parquet(self, ident, feats, extra) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = [pa.array(ident[c]) for c in IDENTITY_COLUMNS]
        arrays += [pa.array(f) for f in feats] + [pa.array(x) for x in extra]
        table = pa.Table.from_arrays(arrays, names=self.columns)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        """Finish the file (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        if self.kind == "csv":
            self._fh.close()
        elif self._writer is not None:
            self._writer.close()
            self._writer = None
        else:
            # no flow at all: still leave a valid, empty file with the columns
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({c: pa.array([], pa.null()) for c in self.columns}),
                           self.path)
