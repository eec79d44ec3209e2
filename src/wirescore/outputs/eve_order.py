"""One batch's EVE lines, held until the batch is over and written in packet-time order.

The stages of a batch hand their lines over one after another (window alerts, attempt
and update alerts, app-layer events and their alerts, finished flows and their alerts),
so unordered an alert at 5.0 s could follow a DNS event at 5.3 s. BatchLines keeps each
stage's lines as one block of bytes beside their timestamps in µs (from the records:
an alert's ts_us, a flow's start_us, an app-layer event's ts_us; never parsed back from
the text) and write() puts them in the file ordered by timestamp, stably: lines with
equal timestamps keep the order they came in. A batch already in order (one block, or
timestamps non-decreasing) is written as it came, without splitting into lines.

Cost: one pass over the batch's timestamps and, only when the order changes, one
stable argsort; the lines go from their blocks to the file by writev() (eve.pyx
write_ordered: no copy, no Python object per line). Memory: the lines of one batch (the
shutdown's batch holds every flow still open).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from wirescore.outputs.app_events import FORMATTERS, line_writer
from wirescore.outputs.eve import _dumps


class BatchLines:
    """The lines of the batch at hand for an EveWriter `eve`; used by one thread (the
    run's BackgroundWriter). A failure while formatting writes what was collected before
    it, then raises (whatever fails, everything decided before it is still written)."""

    def __init__(self, eve, community_id_seed: int = 0, common: bytes = b"",
                 stats_common: Optional[bytes] = None, ether: bool = False):
        self.eve = eve
        self.ether = ether                     # flow lines carry ether{} (eve.pyx)
        self.seed = community_id_seed          # of every line's community_id, 0..65535
        # the run's fixed fields (outputs/eve.py common_fields), spliced into every line;
        # stats lines get stats_common (no in_iface, as Suricata's)
        self.common = common
        self.stats_common = common if stats_common is None else stats_common
        self._stamps: list[np.ndarray] = []
        self._blocks: list[bytes] = []
        # kinds whose formatter writes a line for some records only (written())
        self._written = {kind: f().written for kind, f in FORMATTERS.items()
                         if hasattr(f, "written")}

    def add_flows(self, records: np.ndarray, alerted: Optional[np.ndarray]) -> None:
        """Flow events of RECORD_DTYPE records (alerted: None or one bool each), stamped
        at each flow's start."""
        from wirescore._core.eve import format_flows

        self._add(lambda: format_flows(records, alerted, self.seed, ether=self.ether),
                  records["start_us"])

    def add_app(self, kind: str, records: np.ndarray) -> None:
        """App-layer events of one kind, each stamped at its record's ts_us."""
        written = self._written.get(kind)
        stamps = (written(records) if written else records)["ts_us"]
        self._add(lambda: line_writer(kind, self.seed)(records), stamps)

    def add_anomalies(self, records: np.ndarray) -> None:
        """Decode anomaly events (outputs/eve.py anomaly_events), each at its frame's
        time."""
        from wirescore.outputs.eve import Timestamps, _dumps, anomaly_events

        self._add(lambda: "".join(_dumps(e) + "\n" for e in anomaly_events(
            records, Timestamps())).encode("ascii"), records["ts_us"])

    def add_lines(self, stamps: np.ndarray, lines: list[str]) -> None:
        """Lines made already (alert events), one stamp (µs) each."""
        self._add(lambda: "".join(line + "\n" for line in lines).encode("ascii"), stamps)

    def _add(self, make, stamps: np.ndarray) -> None:
        try:
            block = make()
            nlines = block.count(b"\n")
            if nlines != len(stamps):
                raise ValueError(f"{nlines} EVE lines for {len(stamps)} timestamps")
        except BaseException:
            self.write()
            raise
        if block and self.common:
            from wirescore._core.eve import splice_fields

            block = splice_fields(block, self.common)
        if block:
            self._stamps.append(np.asarray(stamps, dtype=np.int64))
            self._blocks.append(block)

    def write_stats(self, event: dict) -> None:
        """A stats event, written at once (after its batch), with the common fields."""
        from wirescore._core.eve import splice_fields

        line = (_dumps(event) + "\n").encode("ascii")
        self.eve.write_event_bytes(event, splice_fields(line, self.stats_common)
                                   if self.stats_common else line)

    def write(self) -> None:
        """Write the batch's lines ordered by timestamp (stable) and start a new batch;
        a batch without lines lets the output retry what waits (pump: a live run's file
        that could not be written, a peer that was away)."""
        if not self._blocks:
            self.eve.pump()
            return
        blocks, stamps = self._blocks, self._stamps
        self._blocks, self._stamps = [], []
        write_ordered(self.eve, blocks, stamps)


def write_ordered(eve, blocks: list[bytes], stamps: list[np.ndarray]) -> None:
    """Write the lines of `blocks` (each ending in a newline, one stamp a line in
    `stamps`) to the EveWriter `eve`, stably sorted by stamp."""
    eve.write_ordered(blocks, np.concatenate(stamps))
