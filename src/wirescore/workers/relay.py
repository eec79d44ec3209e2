"""The EVE relay of --workers N with one EVE stream: every worker's lines, whole, into the
run's EVE outputs (eve.json or any other filetype, and each outputs.eve.also), which
only the parent writes.

Each worker's engine writes its EVE lines into its own pipe (a FIFO, LOGDIR/.wirescore-
<parent pid>-<n>.pipe, removed at the end; one left by a killed run is removed by the
next); the parent reads every pipe and appends only complete lines, in blocks, to
eve.json. Lines of two workers never interleave, whatever their length: no reliance on
O_APPEND atomicity (which holds only for local files, and only in practice). A worker
that dies part-way through a line loses that partial line (counted), never the file's
syntax. Stats events do not come this way: workers send their counters as data over
their status pipe (wirescore.workers.stats).

Workers write every event type any output takes (relay_types); an output that takes
fewer gets only its types' lines (select_types: a line's event_type read from its
bytes). Peer outputs (sockets, syslog, Redis) keep what their peer has not taken in
their own bounded buffers; pump() sends it between the workers' lines.
"""
from __future__ import annotations

import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

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


#: how an EVE line made by an engine names its type: the key, then the type up to '"'
EVENT_TYPE_KEY = b'"event_type":"'


def relay_types(outputs) -> str:
    """outputs.eve.types for the workers of one stream: every type any of the outputs
    takes ("all" when that is every type), so that each can be given its own."""
    from wirescore.outputs.app_events import EVE_TYPES, eve_types

    wanted = frozenset().union(*(eve_types(o.types) for o in outputs))
    if wanted >= frozenset(EVE_TYPES):
        return "all"
    return ",".join(t for t in EVE_TYPES if t in wanted)


def event_type(line: bytes) -> bytes:
    """The event_type of one EVE line (b"" when it names none)."""
    at = line.find(EVENT_TYPE_KEY)
    if at < 0:
        return b""
    start = at + len(EVENT_TYPE_KEY)
    return line[start:line.find(b'"', start)]


def select_types(block: bytes, types: frozenset) -> bytes:
    """The lines of block (whole lines) whose event_type is in types (bytes), in
    order. A line naming no type is kept: nothing is dropped for want of a name."""
    keep = [line for line in block.splitlines(keepends=True)
            if (t := event_type(line)) in types or not t]
    return b"".join(keep)


@dataclass
class RelayTarget:
    """One EVE output of the merged stream: its writer (outputs/eve_targets.py
    open_output), its label (the stats' health and counters name it so), its name in
    messages, and the event types it takes (bytes; None: every type the workers
    write)."""

    writer: object
    label: str
    name: str
    types: Optional[frozenset] = None

    def takes(self, kind: bytes) -> bool:
        return self.types is None or kind in self.types

    def fileno(self) -> int:
        """The writer's descriptor (a file's, a socket's), -1 when it has none open."""
        fd = getattr(self.writer, "_fd", -1)
        if isinstance(fd, int) and fd >= 0:
            return fd
        sock = getattr(self.writer, "_sock", None)
        return sock.fileno() if sock is not None else -1


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
    """The run's EVE outputs (opened by the caller) and one pipe per worker (made here,
    after removing stale ones; given to target when running as root, so that a worker
    can open it after dropping privileges)."""

    def __init__(self, log_dir: Path, outputs: list[RelayTarget], workers: int,
                 target=None):
        """outputs: the main EVE output first (a file is rotated when the settings
        ask), then outputs.eve.also's."""
        self.log_dir = Path(log_dir)
        self.outputs = list(outputs)
        self.eve = self.outputs[0].writer
        self.pipes: list[WorkerPipe] = []
        self.lines_relayed = 0           # workers' lines written out
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
        """Descriptors a forked worker must close (the read ends, the outputs' files and
        sockets): a worker whose parent died must fail on its pipe, not block on a full
        one, nor hold the parent's connections."""
        return ([p.fd for p in self.pipes if p.fd >= 0]
                + [fd for fd in (t.fileno() for t in self.outputs) if fd >= 0])

    def drain(self, pipe: WorkerPipe, final: bool = False) -> bool:
        """Write the pipe's complete lines to every output (each its types); False once
        the pipe has ended."""
        block = pipe.complete_lines(final)
        if block:
            self._write(block)
            self.lines_relayed += block.count(b"\n")
        if pipe.eof:
            pipe.close()
        return not pipe.eof

    def _write(self, block: bytes) -> None:
        for t in self.outputs:
            data = block if t.types is None else select_types(block, t.types)
            if data:
                t.writer.write_bytes(data)

    def write(self, data: bytes, kind: bytes = b"stats") -> None:
        """The parent's own lines (its summed stats events, of type kind) to the outputs
        that take kind."""
        for t in self.outputs:
            if t.takes(kind):
                t.writer.write_bytes(data)

    def pump(self) -> None:
        """Let every output send what it holds (a peer that was away, a file that
        could not be written): between the workers' lines, never waiting."""
        for t in self.outputs:
            pump = getattr(t.writer, "pump", None)
            if pump is not None:
                pump()

    @property
    def partial_lost(self) -> int:
        return self._lost_before + sum(p.partial_lost for p in self.pipes)

    def reopen(self) -> None:
        """SIGHUP: every output reopens (a file by name, after logrotate; a peer
        connects again)."""
        for t in self.outputs:
            try:
                t.writer.reopen()
            except OSError as exc:
                raise WirescoreError(f"{t.name}: cannot reopen: {exc.strerror}") from None

    def close(self) -> None:
        """Close every pipe and output (a peer output gets its last seconds to send);
        remove the pipes."""
        for pipe in self.pipes:
            pipe.close()
            try:
                pipe.path.unlink()
            except OSError:  # already gone
                pass
        failed = None
        for t in self.outputs:
            try:
                t.writer.close()
            except OSError as exc:          # the others still close
                failed = failed or exc
        if failed is not None:
            raise failed
