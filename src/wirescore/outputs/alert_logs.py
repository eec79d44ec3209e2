"""The alert logs for readers of something else than EVE: LOGDIR/alerts.cef (CEF,
outputs/cef.py: --cef) and LOGDIR/notice.json (Zeek-style notices, outputs/notice.py:
--notice-log). One line per alert of every kind (flow, window, app, ARP, attempt and
update alerts), the same alerts as eve.json's.

Order: as eve.json's alert lines. A batch's alerts are formatted as they come (so a
later change to an event is not written, as in the EVE sink) and written at
end_batch(), stably sorted by their packet time (AlertEvent.ts_us), which is the order
eve.json gives them (outputs/eve_order.py sorts a batch's lines the same way).

Files: appended to, created with mode 0640 (they describe other people's traffic),
written in the engine's thread, a batch's lines at its end in one write, through an
EveWriter (outputs/eve_file.py: whole lines only, even when the disk fills up);
reopen() (SIGHUP, after logrotate) starts a new file by name. Reading a file (-r) a
failure ends the run, in one line naming the file: "CEF log logs/alerts.cef: No space
left on device"; on a live capture (live=True) the lines wait and are tried again as
eve.json's (counted as wirescore.output.<cef|notice>.*).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from wirescore.errors import WirescoreError
from wirescore.outputs.eve_file import EveWriter
from wirescore.outputs.sinks import (AlertEvent, AppAlertBatch, AttemptAlertBatch,
                                     FlowBatch, Sink, UpdateAlertBatch, WindowBatch)

log = logging.getLogger(__name__)


class AlertLogSink(Sink):
    """Writes line(event) for every alert to `path` (see the module docstring). what:
    the log's kind for messages ("CEF log", "notice log")."""

    def __init__(self, path: Path, line: Callable[[dict], str], what: str,
                 label: str = "alerts", live: bool = False, buffer_bytes: int = 64 << 20):
        """label: the counters' (wirescore.output.<label>.*); live, buffer_bytes:
        EveWriter's (module docstring)."""
        self.path, self.line = Path(path), line
        self.name = f"{what} {path}"
        self.label = label
        self.written = 0
        self._pending: list[tuple[int, str]] = []     # (ts_us, line) of the batch at hand
        try:
            self._file = EveWriter(self.path, live, buffer_bytes, label, name=self.name)
        except OSError as exc:
            raise WirescoreError(f"{self.path}: cannot open for writing: "
                                 f"{exc.strerror}") from None

    def _add(self, alerts: list[AlertEvent]) -> None:
        self._pending += [(a.ts_us, self.line(a.event)) for a in alerts]

    def flows(self, batch: FlowBatch) -> None:
        self._add(batch.alerts)

    def windows(self, batch: WindowBatch) -> None:
        self._add(batch.alerts)

    def app_alerts(self, batch: AppAlertBatch) -> None:
        self._add(batch.alerts)

    def attempt_alerts(self, batch: AttemptAlertBatch) -> None:
        self._add(batch.alerts)

    def update_alerts(self, batch: UpdateAlertBatch) -> None:
        self._add(batch.alerts)

    def end_batch(self) -> None:
        """Write the batch's lines in packet-time order (stable) and flush them."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        pending.sort(key=lambda item: item[0])        # stable: equal times keep their order
        # UTF-8 (CEF's encoding; the notice lines are ASCII); "\n" whatever the platform
        self._file.write_bytes("".join(line + "\n" for _, line in pending).encode("utf-8"))
        self.written += len(pending)

    def reopen(self) -> None:
        """Close the file and open it again by name (after logrotate moved it); lines
        of a batch not ended yet stay pending."""
        self._file.reopen()

    def _close_file(self) -> None:
        self._file.close()

    def counters(self) -> dict:
        return self._file.counters()

    def health(self) -> dict:
        return self._file.health()

    def close(self) -> None:
        """Lines of a batch not ended yet are written (a run that stopped early), then
        the file closed."""
        try:
            self.end_batch()
        finally:
            self._close_file()
        if self.written:
            log.info("%s: %d alerts written", self.path, self.written)


def open_alert_logs(cfg, log_dir: Path, live: bool = False) -> list[AlertLogSink]:
    """The alert log sinks the settings ask for (outputs.cef.*, outputs.notice.*), each
    opened (created when missing) in log_dir; [] when both are off. A log that cannot
    be opened closes those opened before it and raises WirescoreError. live: the run
    captures live (AlertLogSink)."""
    from wirescore.outputs.cef import cef_line
    from wirescore.outputs.notice import notice_line
    from wirescore.outputs.paths import ALERT_LOGS, log_filename

    lines = {"outputs.cef": cef_line, "outputs.notice": notice_line}
    sinks: list[AlertLogSink] = []
    try:
        for prefix, what in ALERT_LOGS:
            if cfg[f"{prefix}.enabled"]:
                name = log_filename(cfg, f"{prefix}.filename")
                sinks.append(AlertLogSink(Path(log_dir) / name, lines[prefix], what,
                                          prefix.split(".")[1], live,
                                          cfg["outputs.eve.buffer_mb"] << 20))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks

