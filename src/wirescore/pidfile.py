"""--pidfile PATH: the process id in a file for the service manager, held by a lock.

    with PidFile(path):          # refuses (WirescoreError) while another run holds it
        run()                    # the file is removed at the end, on errors too

The file holds the pid and a newline, and stays locked (flock, exclusive) for the run's
life: a second run on the same file is refused in one line naming the holder's pid; a
file left by a run that died (nobody holds its lock) is stale and replaced. Workers
forked by the run inherit the locked descriptor, so the lock lasts while any of them
lives. Removing at the end can fail once privileges are dropped (a root-owned
directory): that leaves a stale file, which the next start replaces.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
from typing import Optional

from wirescore.errors import WirescoreError

log = logging.getLogger(__name__)


class PidFile:
    """A pid file held for a run (module docstring)."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        """Lock the file (creating it, mode 0644) and write this process's id; a
        one-line WirescoreError when another process holds it or it cannot be written."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                         0o644)
        except OSError as exc:
            raise WirescoreError(f"{self.path}: cannot open the pid file: "
                                 f"{exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise WirescoreError(
                    f"{self.path}: wirescore is already running"
                    + (f" as process {holder}" if holder else "")
                    + " (stop it first, or give another --pidfile)") from None
            raise WirescoreError(f"{self.path}: cannot lock the pid file: "
                                 f"{exc.strerror}") from None
        try:
            stale = _read_pid(fd)
            if stale:
                log.info("%s: replacing the stale pid file of process %d", self.path, stale)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:
            os.close(fd)
            raise WirescoreError(f"{self.path}: cannot write the pid file: "
                                 f"{exc.strerror}") from None
        self._fd = fd

    def release(self) -> None:
        """Remove the file if it is still this process's, then unlock (once)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if _read_pid(fd) == os.getpid() and _same_file(fd, self.path):
                os.unlink(self.path)
        except OSError as exc:
            log.warning("%s: cannot remove the pid file: %s (the next start replaces "
                        "it)", self.path, exc.strerror)
        finally:
            os.close(fd)

    def __enter__(self) -> "PidFile":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> Optional[int]:
    """The pid written in the file (None when empty or not a number)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _same_file(fd: int, path: str) -> bool:
    """Whether path still names the file open at fd (not one that replaced it)."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
