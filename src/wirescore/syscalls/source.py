"""Where syscall event lines come from: bpftrace here, bpftrace over ssh, or a recording.

    source = open_syscalls(cfg, script=None)                  # --syscalls [SCRIPT]
    source = open_syscalls(cfg, remote="ssh://root@web1")     # --syscalls ssh://...
    source = open_syscalls(cfg, recording="trace.txt")        # --syscalls-file FILE|-
    for line in source.lines():     # str lines; None when nothing came for a while
        ...
    source.close()

Local bpftrace is checked before it starts, each failure one line naming what to do:
no bpftrace binary, neither root nor CAP_BPF (with CAP_PERFMON or CAP_SYS_ADMIN),
tracefs not mounted (tracepoint:syscalls:* cannot attach then). A script that does
not compile or attach ends bpftrace before its first clock line: the error is
bpftrace's own first ERROR line (its RLIMIT_MEMLOCK warning is not one). bpftrace runs
with -B line (a line is handed over as it is printed) in its own session, and is sent
SIGINT, then SIGKILL, at close.

A remote source runs `REMOTE_BPFTRACE -B line -e SCRIPT` through the system's ssh with
remote.py's ssh command line (BatchMode, --ssh-config, --ssh-option) and its watcher
(the remote bpftrace ends when the session does). A session that ends is a
WirescoreError after every line read before it (the run writes them out), unless
reconnect is on: then it is reported (take_events: link_lost, reconnect_failed,
link_back, as remote.py's), retried after 1 s, then twice as long each time up to
30 s, and the gap counted (gaps, gap_seconds).
"""
from __future__ import annotations

import logging
import os
import select
import shlex
import shutil
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Iterator, Optional
from urllib.parse import urlsplit

from wirescore.errors import WirescoreError
from wirescore.remote import keep_stderr

log = logging.getLogger(__name__)

SCRIPT = Path(__file__).resolve().parent / "wirescore.bt"
TRACEFS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 21, 38, 39
IDLE_S = 0.2            # lines() yields None after this long without a line
START_S = 30.0          # the most bpftrace is given to print its first clock line
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0


def effective_caps(status: str = "/proc/self/status") -> int:
    """The process's effective capability bits (0 when unreadable)."""
    try:
        for line in Path(status).read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def preflight(bpftrace: str, script: Path, *, euid: Optional[int] = None,
              caps: Optional[int] = None, tracefs=TRACEFS) -> list[str]:
    """bpftrace's argv for script, or a WirescoreError saying what is missing."""
    try:
        prog = shlex.split(bpftrace)
    except ValueError as exc:
        raise WirescoreError(f"--syscalls-bpftrace {bpftrace!r}: {exc}") from None
    if not prog or shutil.which(prog[0]) is None:
        raise WirescoreError(f"--syscalls: {bpftrace!r} not found: install bpftrace "
                             "(apt-get install bpftrace), or name it with "
                             "--syscalls-bpftrace")
    euid = os.geteuid() if euid is None else euid
    caps = effective_caps() if caps is None else caps
    if euid != 0 and not (caps >> CAP_BPF & 1 and caps & (1 << CAP_PERFMON
                                                          | 1 << CAP_SYS_ADMIN)):
        raise WirescoreError("--syscalls: tracing needs root, or CAP_BPF and CAP_PERFMON "
                             "(run as root, or trace a host over ssh: --syscalls "
                             "ssh://root@HOST)")
    if not any((d / "events" / "syscalls").is_dir() for d in tracefs):
        raise WirescoreError("--syscalls: tracefs is not mounted, so no syscall "
                             "tracepoint can attach: mount -t tracefs nodev "
                             "/sys/kernel/tracing")
    if not script.is_file():
        raise WirescoreError(f"--syscalls: {script}: no such script")
    return [*prog, "-B", "line", str(script)]


def first_error(stderr_lines) -> str:
    """bpftrace's first ERROR line (not its RLIMIT_MEMLOCK warning), else its last."""
    lines = [ln.strip() for ln in stderr_lines if ln.strip() and "RLIMIT_MEMLOCK" not in ln]
    errors = [ln for ln in lines if "ERROR" in ln or "FATAL" in ln]
    return (errors or lines or ["exited without a message"])[0]


class _Process:
    """One bpftrace (or ssh) process, its standard error kept (last 50 lines)."""

    def __init__(self, argv: list[str], name: str):
        self.name = name
        self.stderr: deque = deque(maxlen=50)
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, start_new_session=True,
                                         close_fds=True)
        except OSError as exc:
            raise WirescoreError(f"{name}: cannot run {argv[0]}: {exc.strerror}") from None
        self._errors = keep_stderr(self.proc, self.stderr, name)
        self.buffer = b""
        self.queue: deque = deque()

    def lines(self, stop: threading.Event) -> Iterator[Optional[str]]:
        """Lines of standard output; None after IDLE_S without one; ends at its end."""
        fd = self.proc.stdout.fileno()
        while not stop.is_set():
            if self.queue:              # lines a generator left behind stay here
                yield self.queue.popleft()
                continue
            ready, _, _ = select.select([fd], [], [], IDLE_S)
            if not ready:
                yield None
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                if self.buffer:
                    yield self.buffer.decode("utf-8", "replace")
                return
            self.buffer += chunk
            *done, self.buffer = self.buffer.split(b"\n")
            self.queue.extend(raw.decode("utf-8", "replace") for raw in done)

    def why_ended(self) -> str:
        try:
            code = self.proc.wait(5.0)
        except subprocess.TimeoutExpired:
            code = None
        self._errors.join(1.0)
        return f"{first_error(list(self.stderr))} (exit status {code})"

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 2)        # SIGINT: bpftrace detaches cleanly
                self.proc.wait(5.0)
            except (subprocess.TimeoutExpired, ProcessLookupError, PermissionError):
                self.proc.kill()
                self.proc.wait()
        self._errors.join(1.0)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


class TraceSource:
    """Lines of one bpftrace process, here (argv: its command) or over ssh (argv: the
    ssh command); reconnect: a remote session that ends is opened again."""

    def __init__(self, name: str, argv: list[str], mode: str, reconnect: bool = False):
        self.name, self.argv, self.mode, self.reconnect = name, argv, mode, reconnect
        self.stop = threading.Event()
        self.events: list[dict] = []
        self.gaps, self.gap_seconds = 0, 0.0
        self.proc = self._start()

    def _start(self) -> _Process:
        """A process whose first line came (bpftrace compiled and attached), else the
        WirescoreError of its first error line."""
        proc = _Process(self.argv, self.name)
        deadline = time.monotonic() + START_S
        self._pending = []
        for line in proc.lines(self.stop):
            if line is not None:
                self._pending.append(line)
                if line.startswith("T\t"):
                    return proc
            if time.monotonic() > deadline:
                break
        why = proc.why_ended()
        proc.close()
        what = "the remote trace did not start" if self.mode == "remote" else "bpftrace failed"
        raise WirescoreError(f"{self.name}: {what}: {why}")

    def lines(self) -> Iterator[Optional[str]]:
        while True:
            yield from self._pending
            self._pending = []
            yield from self.proc.lines(self.stop)
            if self.stop.is_set():
                return
            why = self.proc.why_ended()
            if not self.reconnect:
                raise WirescoreError(f"{self.name}: the trace ended: {why}")
            yield from self._resume(why)

    def _resume(self, why: str) -> Iterator[None]:
        lost = time.monotonic()
        self.gaps += 1
        self._event("link_lost", f"{self.name}: the trace ended ({why}); reconnecting")
        wait = RETRY_FIRST_S
        while not self.stop.is_set():
            end = time.monotonic() + wait
            while time.monotonic() < end and not self.stop.is_set():
                time.sleep(IDLE_S)
                yield None
            try:
                self.proc.close()
                self.proc = self._start()
            except WirescoreError as exc:
                self._event("reconnect_failed", str(exc))
                wait = min(wait * 2, RETRY_MAX_S)
                continue
            gap = time.monotonic() - lost
            self.gap_seconds += gap
            self._event("link_back", f"{self.name}: tracing again after {gap:.1f} s",
                        seconds=round(gap, 3), reconnect=self.gaps)
            return

    def _event(self, kind: str, message: str, **details) -> None:
        log.warning("%s", message)
        self.events.append({"timestamp_us": int(time.time() * 1e6), "kind": kind,
                            "message": message, "details": details})

    def take_events(self) -> list[dict]:
        out, self.events = self.events, []
        return out

    def counters(self) -> dict:
        return {"wirescore.syscalls.gaps": self.gaps,
                "wirescore.syscalls.gap_ms": int(self.gap_seconds * 1000)}

    def close(self) -> None:
        self.stop.set()
        self.proc.close()


class RecordingSource:
    """Lines of a recorded trace (a file, or "-" for standard input: a pipe)."""

    def __init__(self, path: str):
        self.name = path
        self.mode = "pipe" if path == "-" else "file"
        try:
            self.file = (os.fdopen(os.dup(0), "rb") if path == "-" else open(path, "rb"))
        except OSError as exc:
            raise WirescoreError(f"{path}: cannot read: {exc.strerror}") from None

    def lines(self) -> Iterator[str]:
        for raw in self.file:
            yield raw.decode("utf-8", "replace")

    def take_events(self) -> list[dict]:
        return []

    def counters(self) -> dict:
        return {}

    def close(self) -> None:
        self.file.close()


def remote_argv(url: str, cfg, script: Path) -> tuple[str, list[str]]:
    """(name, ssh argv) of --syscalls ssh://[user@]host[:port]."""
    from wirescore.remote import remote_command, ssh_prefix

    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise WirescoreError(f"{url}: not a remote trace: {exc}") from None
    host = parts.hostname
    if (parts.scheme.lower() != "ssh" or not host or host.startswith("-")
            or parts.password or parts.path.strip("/") or parts.query):
        raise WirescoreError(f"{url}: not a remote trace (expected ssh://[user@]host[:port])")
    try:
        prog = shlex.split(cfg["syscalls.remote_bpftrace"])
        text = script.read_text()
    except (ValueError, OSError) as exc:
        raise WirescoreError(f"--syscalls {url}: {exc}") from None
    argv = ssh_prefix(host, parts.username, port, ssh_config=cfg["capture.ssh_config"],
                      ssh_options=cfg["capture.ssh_options"])
    name = f"ssh://{parts.username + '@' if parts.username else ''}{host}"
    return name, argv + [host, remote_command([*prog, "-B", "line", "-e", text])]


def open_syscalls(cfg, script: Optional[str] = None, remote: Optional[str] = None,
                  recording: Optional[str] = None):
    """The syscall source of a run (module docstring): a recording, a remote host, or
    bpftrace here with script (default: the shipped one)."""
    if recording is not None:
        return RecordingSource(recording)
    path = Path(script) if script else SCRIPT
    if remote is not None:
        name, argv = remote_argv(remote, cfg, path)
        return TraceSource(name, argv, "remote", cfg["capture.reconnect"])
    return TraceSource(f"bpftrace {path.name}", preflight(cfg["syscalls.bpftrace"], path),
                       "live")
