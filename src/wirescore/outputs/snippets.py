"""PCAP evidence: the packets behind an alert, as a classic pcap in LOGDIR/pcaps/.

For a flow alert: the alerted flow's packets still in the core's ring; for a window
alert: the key's packets of that window still in the ring. Files keep the capture's
link type, microsecond timestamps, captured bytes and original lengths, so Wireshark
and tshark open them as they are. Names are built from numbers only
(<signature_id>-<flow_id or window start>-<n>.pcap), never from packet or profile
text, and stay inside the folder. Disk use is bounded by max_files and max_bytes:
the oldest snippets (by creation, including those of earlier runs) are deleted first,
and counted.
"""
from __future__ import annotations

import os
import struct
from collections import deque
from pathlib import Path

import numpy as np

from wirescore.errors import WirescoreError
from wirescore.outputs.paths import DIR_MODE, FILE_MODE

PCAP_MAGIC = 0xA1B2C3D4
SNAPLEN = 262144


def pcap_bytes(linktype: int, data: bytes, meta: np.ndarray) -> bytes:
    """A classic pcap from frames and (sec, usec, caplen, wire_len) rows."""
    parts = [struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, linktype)]
    pos = 0
    for sec, usec, caplen, wire_len in meta.tolist():
        parts.append(struct.pack("<IIII", sec, usec, caplen, max(wire_len, caplen)))
        parts.append(data[pos:pos + caplen])
        pos += caplen
    return b"".join(parts)


class SnippetStore:
    """Writes snippets into folder, keeping at most max_files files / max_bytes bytes."""

    def __init__(self, folder: str | os.PathLike, linktype: int, max_files: int = 1000,
                 max_bytes: int = 1 << 30):
        """Creates folder when missing (a one-line WirescoreError when it cannot).
        written / deleted count this store's files written, and the files removed to
        stay within the bounds."""
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
        self._files = deque((p, p.stat().st_size) for p in old)
        self._bytes = sum(size for _, size in self._files)
        self._seq = 0

    def name_for(self, signature_id: int, tag: int) -> Path:
        """The next file name: numbers only, inside the folder."""
        self._seq += 1
        return self.folder / f"{int(signature_id)}-{int(tag)}-{self._seq}.pcap"

    def write(self, path: Path, data: bytes, meta: np.ndarray) -> None:
        """Write one snippet (called on the writer thread), then enforce the bounds."""
        blob = pcap_bytes(self.linktype, data, meta)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
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
