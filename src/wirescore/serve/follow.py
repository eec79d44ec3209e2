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

EveFileSet follows every file of one run's EVE output at once: the name itself, one file
per worker (`--eve-per-worker`: eve.1.json, eve.2.json ...) and, for a name with strftime
fields (`--eve-rotate-interval` with eve-%Y%m%d-%H%M.json), each file the pattern names,
new ones picked up as they appear; each file through its own EveFollower.
"""
from __future__ import annotations

import logging
import os
import re
import time
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


#: seconds between two looks for new files of an EveFileSet
RESCAN_S = 1.0
#: files an EveFileSet keeps open at most: beyond, the oldest read to their end are
#: closed and not read again (time-rotated files of months of hourly rotation)
MAX_OPEN = 64


def name_pattern(eve_name: str) -> re.Pattern:
    """The file names of one EVE output: the name, its per-worker names (stem.N.ext),
    and when the name has strftime fields (%Y, %m ...) any text in their place."""
    stem, dot, ext = eve_name.rpartition(".")
    if not dot:
        stem, ext = eve_name, ""

    def fields(text: str) -> str:
        return "".join(".+?" if part.startswith("%") and len(part) == 2 else re.escape(part)
                       for part in re.split(r"(%.)", text) if part)

    tail = re.escape("." + ext) if ext else ""
    return re.compile(f"{fields(stem)}(\\.[0-9]+)?{tail}")


class EveFileSet:
    """The whole lines appended to every file of one EVE output in `log_dir` (module
    docstring); the same interface as EveFollower (poll, behind, close, path and the
    counters summed over the files). Files are taken in name order; within a file,
    in order."""

    def __init__(self, log_dir: str | os.PathLike, eve_name: str, read_bytes: int = 1 << 20):
        self.log_dir = Path(log_dir)
        self.path = self.log_dir / eve_name
        self.read_bytes = read_bytes
        self._pattern = name_pattern(eve_name)
        self._files: dict[str, EveFollower] = {}
        self._done: set[str] = set()         # read to their end and closed (MAX_OPEN)
        self._next_scan = 0.0

    def _scan(self) -> None:
        now = time.monotonic()
        if now < self._next_scan:
            return
        self._next_scan = now + RESCAN_S
        try:
            names = sorted(e.name for e in os.scandir(self.log_dir)
                           if self._pattern.fullmatch(e.name))
        except OSError:
            return
        for name in names:
            if name not in self._files and name not in self._done:
                if self._files:
                    log.info("%s: following %s too", self.log_dir, name)
                self._files[name] = EveFollower(self.log_dir / name, self.read_bytes)

    def poll(self) -> list[bytes]:
        self._scan()
        if not self._files and "%" not in self.path.name:   # waits for the file
            self._files[self.path.name] = EveFollower(self.path, self.read_bytes)
        out: list[bytes] = []
        for follower in self._files.values():
            out += follower.poll()
            if len(out) > 0 and follower.behind:
                break                          # the rest next time: bounded per poll
        if len(self._files) > MAX_OPEN:
            self._retire()
        return out

    def _retire(self) -> None:
        for name in sorted(self._files)[:len(self._files) - MAX_OPEN]:
            follower = self._files[name]
            if not follower.behind:
                follower.close()
                del self._files[name]
                self._done.add(name)

    @property
    def behind(self) -> bool:
        return any(f.behind for f in self._files.values())

    @property
    def files(self) -> list[str]:
        return list(self._files)

    @property
    def rotations(self) -> int:
        return sum(f.rotations for f in self._files.values())

    @property
    def truncations(self) -> int:
        return sum(f.truncations for f in self._files.values())

    @property
    def bytes_read(self) -> int:
        return sum(f.bytes_read for f in self._files.values())

    def close(self) -> None:
        for follower in self._files.values():
            follower.close()
