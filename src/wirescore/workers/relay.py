"""The EVE relay of --workers N with one eve.json: every worker's lines, whole, into one
file that only the parent writes.

Each worker's engine writes its EVE lines into its own pipe (a FIFO, LOGDIR/.wirescore-
<parent pid>-<n>.pipe, removed at the end; one left by a killed run is removed by the
next); the parent reads every pipe and appends only complete lines, in blocks, to
eve.json. Lines of two workers never interleave, whatever their length: no reliance on
O_APPEND atomicity (which holds only for local files, and only in practice). A worker
that dies part-way through a line loses that partial line (counted), never the file's
syntax. Stats events do not come this way: workers send their counters as data over
their status pipe (wirescore.workers.stats).
"""
from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

from wirescore.errors import WirescoreError

PIPE_PREFIX, PIPE_SUFFIX = ".wirescore-", ".pipe"
F_SETPIPE_SZ = 1031                  # fcntl.h (Linux)
PIPE_SIZE = 1 << 20                  # kernel buffer asked for each pipe
READ_CHUNK = 1 << 20


def pipe_name(parent_pid: int, index: int) -> str:
    """File name of worker index's EVE pipe in the log directory (hidden, not *.json)."""
    return f"{PIPE_PREFIX}{parent_pid}-{index}{PIPE_SUFFIX}"


def remove_stale_pipes(log_dir: Path) -> None:
    """Remove the pipes of runs whose parent process no longer exists."""
    try:
        entries = list(log_dir.glob(f"{PIPE_PREFIX}*{PIPE_SUFFIX}"))
    except OSError:
        return
    for path in entries:
        pid = path.name[len(PIPE_PREFIX):-len(PIPE_SUFFIX)].partition("-")[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            continue                       # that run is alive (or the pid is reused)
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        try:
            if stat.S_ISFIFO(path.lstat().st_mode):
                path.unlink()
        except OSError:
            pass


class WorkerPipe:
    """The read end of one worker's EVE pipe (non-blocking), and the incomplete last
    line read from it so far."""

    def __init__(self, index: int, path: Path, fd: int):
        self.index, self.path, self.fd = index, path, fd
        self.tail = b""
        self.eof = False
        self.partial_lost = 0            # bytes of unfinished lines dropped

    def complete_lines(self, final: bool = False) -> bytes:
        """The complete lines that arrived since the last call (b"" if none). At the end
        of the pipe, or when final (the worker has exited), an unfinished last line is
        dropped and counted."""
        chunks = []
        while not self.eof:
            try:
                data = os.read(self.fd, READ_CHUNK)
            except BlockingIOError:
                break
            if not data:
                self.eof = True
                break
            chunks.append(data)
            if len(data) < READ_CHUNK:
                break
        block = b""
        if chunks:
            buf = self.tail + b"".join(chunks)
            cut = buf.rfind(b"\n") + 1
            block, self.tail = buf[:cut], buf[cut:]
        if (self.eof or final) and self.tail:
            self.partial_lost += len(self.tail)
            self.tail = b""
        return block

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.eof = True


class EveRelay:
    """eve.json (opened by the caller) and one pipe per worker (made here, after removing stale
    ones; given to target when running as root, so that a worker can open it after
    dropping privileges)."""

    def __init__(self, log_dir: Path, eve, workers: int, target=None):
        """eve: the EveWriter of the merged file (outputs/eve_targets.py open_output:
        rotated when the settings ask)."""
        self.log_dir = Path(log_dir)
        self.eve = eve
        self.pipes: list[WorkerPipe] = []
        self.lines_relayed = 0           # workers' lines appended to eve.json
        self._lost_before = 0            # partial bytes of pipes replaced by renew()
        self._target = target
        remove_stale_pipes(self.log_dir)
        try:
            for i in range(1, workers + 1):
                self.pipes.append(self._make_pipe(i, target))
        except BaseException:
            self.close()
            raise

    def _make_pipe(self, index: int, target) -> WorkerPipe:
        path = self.log_dir / pipe_name(os.getpid(), index)
        try:
            if path.exists() or path.is_symlink():
                path.unlink()
            os.mkfifo(path, 0o600)
        except OSError as exc:
            raise WirescoreError(f"{path}: cannot make the pipe of worker {index}: "
                                 f"{exc.strerror}") from None
        if target is not None and os.geteuid() == 0:
            os.chown(path, target.uid, target.gid)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:  # above the system's pipe-max-size: keep the default
            pass
        return WorkerPipe(index, path, fd)

    def renew(self, index: int) -> WorkerPipe:
        """A new pipe for worker index (its predecessor died): the old one is closed
        and removed, its unfinished line counted in partial_lost."""
        old = self.pipes[index - 1]
        old.close()
        self._lost_before += old.partial_lost
        self.pipes[index - 1] = self._make_pipe(index, self._target)
        return self.pipes[index - 1]

    def fds(self) -> list[int]:
        """Descriptors a forked worker must close (the read ends, eve.json): a worker
        whose parent died must fail on its pipe, not block on a full one."""
        return [p.fd for p in self.pipes if p.fd >= 0] + [fd for fd in (self.eve._fd,)
                                                          if fd >= 0]

    def drain(self, pipe: WorkerPipe, final: bool = False) -> bool:
        """Append the pipe's complete lines to eve.json; False once it has ended."""
        block = pipe.complete_lines(final)
        if block:
            self.eve.write_bytes(block)
            self.lines_relayed += block.count(b"\n")
        if pipe.eof:
            pipe.close()
        return not pipe.eof

    def write(self, data: bytes) -> None:
        self.eve.write_bytes(data)

    @property
    def partial_lost(self) -> int:
        return self._lost_before + sum(p.partial_lost for p in self.pipes)

    def reopen(self) -> None:
        try:
            self.eve.reopen()
        except OSError as exc:
            raise WirescoreError(f"{self.eve.path}: cannot reopen: {exc.strerror}") from None

    def close(self) -> None:
        """Close every pipe and eve.json; remove the pipes."""
        for pipe in self.pipes:
            pipe.close()
            try:
                pipe.path.unlink()
            except OSError:  # already gone
                pass
        self.eve.close()
