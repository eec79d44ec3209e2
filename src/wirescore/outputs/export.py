"""--export: one row per finished flow, for research (CSV, or Parquet with pyarrow).

Columns: the identity columns named as in EVE (flow_id, src_ip, src_port, dest_ip,
dest_port, proto, community_id, start, end), then every feature column of
wirescore.catalog in catalogue order, then one score column per flow-level profile
("score.<profile id>") once detection adds them: the score the profile's threshold is
compared with, empty (NaN in Parquet) for a flow the profile's allowlist keeps from
alerting (it is learned, never alerted). Ports are empty for port-less
protocols. Rows come in the order flows end, which is deterministic for a file.
With feature_set (--feature-set NAME, wirescore.featuresets), the feature columns are
that set's, in its order and under its names, computed from the same records; an
identity column whose name the set uses too (UNSW-NB15's proto) is written "eve_" + name.

Writing: CSV rows go out as whole lines through an EveWriter (outputs/eve.py: a failed
write never leaves a cut row); on a live capture (live=True) rows that cannot be written
wait (up to buffer_bytes) and are tried again, the rest dropped and counted, as eve.json's
lines. Parquet on a live capture: a failed write is logged and counted, and the export
stops there (a Parquet file cannot be resumed after a failed write); capture goes on.
A file read (-r) ends on a failed write either way.
"""
from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from wirescore.catalog import ALL_FEATURES
from wirescore.errors import WirescoreError
from wirescore.outputs.eve_file import EveWriter, failure_cause
from wirescore.outputs.paths import FILE_MODE

log = logging.getLogger(__name__)

IDENTITY_COLUMNS = ("flow_id", "src_ip", "src_port", "dest_ip", "dest_port", "proto",
                    "community_id", "start", "end")


class FlowExporter:
    """Write flow rows to path; the format follows the extension (.csv / .parquet)."""

    def __init__(self, path: str | os.PathLike, score_columns: Sequence[str] = (),
                 live: bool = False, buffer_bytes: int = 64 << 20,
                 feature_set: str | None = None, linktype: int = 1):
        """live, buffer_bytes, feature_set: see the module docstring; linktype: the
        capture's (a feature set's IP byte counts take its link header off)."""
        self.path = Path(path)
        self.live = live
        self.dropped = 0                     # Parquet rows not written (a live run)
        self._parquet_failed: str | None = None
        suffix = self.path.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise WirescoreError(f"{self.path}: --export needs a .csv or .parquet file name")
        self.kind = suffix[1:]
        self._compute = None
        if feature_set:
            from wirescore.featuresets import get, link_header_bytes

            fset = get(feature_set)
            self._compute = fset.computer(link_bytes=link_header_bytes(linktype))
            names = fset.names
        else:
            names = [f.name for f in ALL_FEATURES]
        ident = [f"eve_{c}" if c in names else c for c in IDENTITY_COLUMNS]
        self.columns = [*ident, *names, *score_columns]
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
        os.close(fd)                        # emptied; written by name from here
        self._lines = None
        if self.kind == "csv":
            self._lines = EveWriter(self.path, live, buffer_bytes, "export",
                                    name=f"export {self.path}")
        self._header_due = self.kind == "csv"    # written with the first rows

    def _header(self) -> bytes:
        """The header line the first time, then b""."""
        if not self._header_due:
            return b""
        self._header_due = False
        return self._csv_text([self.columns])

    @staticmethod
    def _csv_text(rows) -> bytes:
        """Rows as CSV lines (no value holds a newline: addresses, numbers, times)."""
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        return text.getvalue().encode("utf-8")

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
        if self._compute is not None:
            feats = list(self._compute(records).values())
        else:
            feats = [records[f] for f in self._fields]
        extra = [np.asarray((scores or {}).get(c, np.full(len(records), np.nan)))
                 for c in self._scores]
        if self.kind == "csv":
            cols = [ident[c] for c in IDENTITY_COLUMNS] + [f.tolist() for f in feats] + \
                   [x.tolist() for x in extra]
            rows = (["" if v is None else v for v in row] for row in zip(*cols))
            self._lines.write_bytes(self._header() + self._csv_text(rows))
        elif self._parquet_failed is not None:
            self.dropped += len(records)
        else:
            try:
                self._write_parquet(ident, feats, extra)
            except OSError as exc:
                if not self.live:
                    raise
                self._parquet_failed = failure_cause(exc)
                self.dropped += len(records)
                log.warning("export %s: cannot write: %s; the export stops here (counted), "
                            "capture and detection go on", self.path, self._parquet_failed)

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
            try:
                if self._header_due:             # no flow at all: the columns still
                    self._lines.write_bytes(self._header())
            finally:
                self._lines.close()
        elif self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except OSError:
                if not self.live:
                    raise
        else:
            # no flow at all: still leave a valid, empty file with the columns
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({c: pa.array([], pa.null()) for c in self.columns}),
                           self.path)

    def counters(self) -> dict:
        """A live run's wirescore.output.export.{lines,dropped,reconnects} (CSV: as
        eve.json's; Parquet: rows dropped); none for a file read."""
        if not self.live:
            return {}
        if self._lines is not None:
            return self._lines.counters()
        return {"wirescore.output.export.dropped": self.dropped}

    def health(self) -> dict:
        """For the stats event's health object (a live run's; {} for a file read)."""
        if not self.live:
            return {}
        if self._lines is not None:
            return self._lines.health()
        return {"state": "failing" if self._parquet_failed else "writing",
                "queued_bytes": 0, "dropped": self.dropped}
