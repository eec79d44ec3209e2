"""PCAP evidence: the packets behind an alert, as a classic pcap in LOGDIR/pcaps/.

For a flow alert: the alerted flow's packets still in the core's ring; for a window
alert: the key's packets of that window still in the ring. Files keep the frames' link
type, microsecond timestamps, captured bytes and original lengths, so Wireshark and
tshark open them as they are; when a snippet's frames have different link types (a
pcapng merged from several interfaces) the file is a pcapng with one interface per link
type (still named .pcap: readers go by its content). Names are built from numbers only
(<signature_id>-<flow_id or window start>-<n>.pcap; with --workers, w<worker>- first),
never from packet or profile text, and stay inside the folder. n counts on from the
largest n of the folder's files of the same form, so a run into a log directory that
holds an earlier run's snippets never writes over them (their alert lines still name
them), and a replay into a fresh folder writes the same names every time. Disk use is bounded by max_files and max_bytes:
the oldest snippets (by creation, including those of earlier runs) are deleted first,
and counted.

A snippet that cannot be written (the disk is full, an I/O error) ends a file read (-r)
as any failed output does; on a live capture (live=True) the part written is removed,
the snippet is counted as dropped (its alert line still names it), the first failure of
an episode is logged with its cause and the first success after it too, and capture and
detection go on.
"""
from __future__ import annotations

import logging
import os
import re
import struct
from collections import deque
from pathlib import Path

import numpy as np

from wirescore.errors import WirescoreError
from wirescore.outputs.eve_file import failure_cause
from wirescore.outputs.paths import DIR_MODE, FILE_MODE

log = logging.getLogger(__name__)

PCAP_MAGIC = 0xA1B2C3D4
SNAPLEN = 262144


def pcap_bytes(linktype: int, data: bytes, meta: np.ndarray) -> bytes:
    """The frames of (sec, usec, caplen, wire_len[, linktype]) rows (FlowMeter.ring_*)
    as a capture file: a classic pcap of the rows' link type (`linktype` when the rows
    carry none, or there are no rows), or, when the rows' link types differ (a pcapng
    merged from interfaces of several link types), a pcapng with one interface per link
    type, so that no frame is labelled with another's link type."""
    kinds = sorted(set(meta[:, 4].tolist())) if meta.shape[1] > 4 and len(meta) else []
    if len(kinds) > 1:
        return _pcapng_bytes(kinds, data, meta)
    parts = [struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN,
                         kinds[0] if kinds else linktype)]
    pos = 0
    for sec, usec, caplen, wire_len in meta[:, :4].tolist():
        parts.append(struct.pack("<IIII", sec, usec, caplen, max(wire_len, caplen)))
        parts.append(data[pos:pos + caplen])
        pos += caplen
    return b"".join(parts)


def _pcapng_bytes(kinds: list, data: bytes, meta: np.ndarray) -> bytes:
    """pcapng (little-endian, microsecond timestamps): a section header, an interface
    description block per link type in `kinds`, an enhanced packet block per row."""
    parts = [struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)]
    parts += [struct.pack("<IIHHII", 1, 20, kind, 0, SNAPLEN, 20) for kind in kinds]
    iface = {kind: n for n, kind in enumerate(kinds)}
    pos = 0
    for sec, usec, caplen, wire_len, kind in meta.tolist():
        ts = sec * 1_000_000 + usec
        pad = -caplen % 4
        total = 32 + caplen + pad
        parts.append(struct.pack("<IIIIIII", 6, total, iface[kind], ts >> 32, ts & 0xFFFFFFFF,
                                 caplen, max(wire_len, caplen)))
        parts.append(data[pos:pos + caplen] + b"\0" * pad + struct.pack("<I", total))
        pos += caplen
    return b"".join(parts)


class SnippetStore:
    """Writes snippets into folder, keeping at most max_files files / max_bytes bytes."""

    def __init__(self, folder: str | os.PathLike, linktype: int, max_files: int = 1000,
                 max_bytes: int = 1 << 30, live: bool = False, worker: int = 0):
        """Creates folder when missing (a one-line WirescoreError when it cannot).
        written / deleted count this store's files written, and the files removed to
        stay within the bounds; live: a failed write is counted in dropped, not raised
        (module docstring); reconnects: failure episodes that ended; worker: the
        --workers process number (1..N) whose snippets these are, 0 for a run's only
        process (names: module docstring)."""
        self.folder = Path(folder)
        try:
            self.folder.mkdir(mode=DIR_MODE, exist_ok=True)
            old = sorted((p for p in self.folder.glob("*.pcap") if p.is_file()),
                         key=lambda p: (p.stat().st_mtime, p.name))
        except OSError as exc:
            raise WirescoreError(f"{self.folder}: cannot use as the snippets directory: "
                                 f"{exc.strerror}") from None
        self.linktype = linktype
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.written = 0
        self.deleted = 0
        self.live = live
        self.dropped = self.reconnects = 0
        self._outage = None              # why writing fails, during an episode
        self._files = deque((p, p.stat().st_size) for p in old)
        self._bytes = sum(size for _, size in self._files)
        self._prefix = f"w{int(worker)}-" if worker else ""
        form = re.compile(rf"{self._prefix}\d+-\d+-(\d+)\.pcap")
        self._seq = max((int(m.group(1)) for m in (form.fullmatch(p.name) for p, _ in
                                                   self._files) if m), default=0)

    @staticmethod
    def _write_file(path: Path, blob: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)

    def _failed(self, path: Path, exc: OSError) -> None:
        """A live run's snippet could not be written: no part of it stays, counted;
        logged once an episode (and when the cause changes)."""
        try:
            path.unlink()
        except OSError:
            pass
        self.dropped += 1
        why = failure_cause(exc)
        if self._outage != why:
            self._outage = why
            log.warning("snippets %s: cannot write %s: %s; alerts go on without their "
                        "snippet (counted) until there is room", self.folder, path.name, why)

    def counters(self) -> dict:
        """wirescore.output.snippets.{files,dropped,reconnects} (a live run's; none for a
        file read, where a failed write ends the run)."""
        if not self.live:
            return {}
        return {"wirescore.output.snippets.files": self.written,
                "wirescore.output.snippets.dropped": self.dropped,
                "wirescore.output.snippets.reconnects": self.reconnects}

    def health(self) -> dict:
        """For the stats event's health object (a live run's; {} for a file read)."""
        if not self.live:
            return {}
        return {"state": "failing" if self._outage else "writing", "queued_bytes": 0,
                "dropped": self.dropped}

    def name_for(self, signature_id: int, tag: int) -> Path:
        """The next file name: numbers only, inside the folder."""
        self._seq += 1
        return self.folder / f"{self._prefix}{int(signature_id)}-{int(tag)}-{self._seq}.pcap"

    def write(self, path: Path, data: bytes, meta: np.ndarray) -> None:
        """Write one snippet (called on the writer thread), then enforce the bounds."""
        blob = pcap_bytes(self.linktype, data, meta)
        try:
            self._write_file(path, blob)
        except OSError as exc:
            if not self.live:
                raise
            self._failed(path, exc)
            return
        if self._outage is not None:
            log.warning("snippets %s: writing again (%d snippets dropped so far)",
                        self.folder, self.dropped)
            self._outage = None
            self.reconnects += 1
        self.written += 1
        self._files.append((path, len(blob)))
        self._bytes += len(blob)
        while self._files and (len(self._files) > self.max_files or self._bytes > self.max_bytes):
            old, size = self._files.popleft()
            try:
                old.unlink()
            except FileNotFoundError:
                pass
            self._bytes -= size
            self.deleted += 1
