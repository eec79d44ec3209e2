"""Follow an EVE file as it grows, like `tail -F`: whole lines only, across rotation.

Three things happen to a followed file, and each is handled:
- it grows: new whole lines are returned; a partial last line (a writer mid-write) waits
  for its newline;
- it is renamed away and a new one created (wirescore's --eve-rotate-*, logrotate then
  SIGHUP, Suricata's own rotation): the old file is read to its end through the open
  descriptor, then the new one from its start (a new inode at the path);
- it is truncated in place (logrotate's copytruncate) or replaced by a shorter file with
  the same inode: reading starts again at 0 (a shrunk file).
A path that does not exist yet is waited for (a run that has not written yet).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)


class EveFollower:
    """Reads the whole lines appended to `path` since the last call (see the module
    docstring). Not thread-safe: one reader. Counters: `rotations` (new inode seen),
    `truncations` (file shrank), `bytes_read`."""

    def __init__(self, path: str | os.PathLike, read_bytes: int = 1 << 20):
        """read_bytes: the most one poll() returns (it may return a little less, whole
        lines only; a single line longer than this is returned whole)."""
        self.path = Path(path)
        self.read_bytes = max(4096, int(read_bytes))
        self._fh = None
        self._ino: Optional[int] = None
        self._pos = 0
        self._partial = b""
        self.rotations = 0
        self.truncations = 0
        self.bytes_read = 0

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def poll(self) -> list[bytes]:
        """The whole lines now available (without their newline; empty lines skipped),
        at most about read_bytes of them; [] when nothing new. Never blocks."""
        if self._fh is None and not self._open():
            return []
        data = self._read()
        if not data:
            if self._rotated():
                return self.poll()
            return []
        return self._lines(data)

    @property
    def behind(self) -> bool:
        """True when the last poll stopped at read_bytes and more is waiting."""
        try:
            return self._fh is not None and os.fstat(self._fh.fileno()).st_size > self._pos
        except OSError:
            return False

    def _open(self) -> bool:
        try:
            fh = open(self.path, "rb")
        except OSError:
            return False
        self._fh, self._ino, self._pos, self._partial = fh, os.fstat(fh.fileno()).st_ino, 0, b""
        return True

    def _read(self) -> bytes:
        size = os.fstat(self._fh.fileno()).st_size
        if size < self._pos:                       # truncated in place: start again
            log.info("%s: file shrank (%d < %d bytes): reading it from the start",
                     self.path, size, self._pos)
            self.truncations += 1
            self._pos, self._partial = 0, b""
        self._fh.seek(self._pos)
        data = self._fh.read(self.read_bytes)
        self._pos += len(data)
        self.bytes_read += len(data)
        return data

    def _rotated(self) -> bool:
        """At the end of the open file: is another file now at the path? Then switch to
        it (the open one has been read to its end: nothing is lost)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False                            # renamed, new one not there yet
        if st.st_ino == self._ino and st.st_size >= self._pos:
            return False
        if st.st_ino != self._ino:
            log.info("%s: a new file at the path (rotated): following it", self.path)
            self.rotations += 1
            self.close()
            return self._open()
        return False

    def _lines(self, data: bytes) -> list[bytes]:
        data = self._partial + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            return []
        self._partial = data[cut + 1:]
        return [line for line in data[:cut].split(b"\n") if line.strip()]
