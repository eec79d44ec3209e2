"""Process windows: the syscall events of one flush (one second) as feature vectors.

    windows = ProcessWindows("sensor1", learn_seconds=60)
    for event in events:                      # wirescore.syscalls.parse events
        closed = windows.add(event)           # PROC_DTYPE records at each F line, else None

A window is what the script counted between two flushes: it starts at the previous
clock line's wall time and ends at the flush's. Each process (comm, pid, uid) seen in
it is one record (kind KIND_PROCESS), and the host one more (KIND_HOST: sums over its
processes, distinct counts over their union); columns: catalog.PROCESS_FEATURES.
An event is attributed to the flush it arrives before: bpftrace reads its per-CPU
buffers in turn, so an event of the last microseconds of a second may count in the
next one.

An exec counts for the parent (ppid, its comm, the child's uid): the parent is who did
it. Novelty is about who did what for the first time, never about rare syscalls: a
(parent comm, program) pair never seen before, and a shell executed by a server (a comm
that has called listen() or accept()) whose comm never executed a shell before. The
first learn_seconds of events (from the first clock line) are learned, never new: on a
running host the first minutes would otherwise make every pair new. Execs are decided
at the flush, after its counts, so a server that listens and spawns a shell in the same
second is a server already. What is remembered is bounded (max_names entries per
table, the oldest forgotten first and counted: replaced).
"""
from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from typing import Optional

import numpy as np

from wirescore.catalog import PROCESS_FEATURES
from wirescore.syscalls.parse import Clock, Connect, Count, Exec, Flush, WriteOpen

KIND_PROCESS, KIND_HOST = 0, 1
KEY_NAMES = ("process", "host")
#: programs that are shells (the comm after exec: the program's file name, 15 bytes)
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "csh", "tcsh",
                    "fish", "ash", "busybox", "rbash", "pwsh"})
COLUMNS = tuple(f.field for f in PROCESS_FEATURES)
PROC_DTYPE = np.dtype([("start_us", "<i8"), ("end_us", "<i8"), ("kind", "u1"),
                       ("key", "V16"), ("pid", "<i8"), ("uid", "<i8"), ("comm", "S16")]
                      + [(c, "<f8") for c in COLUMNS])


def window_key(kind: int, comm: str, pid: int, uid: int, host: str) -> bytes:
    """16 bytes that name a window's key (what suppression counts alerts by)."""
    text = f"{host}\0{comm}\0{pid}\0{uid}" if kind == KIND_PROCESS else f"{host}\0"
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).digest()


class _Seen:
    """A bounded set of keys, the oldest forgotten first (counted)."""

    def __init__(self, limit: int):
        self.keys: dict = {}
        self.limit = limit
        self.replaced = 0

    def add(self, key) -> bool:
        """Whether key is new (it is remembered from now)."""
        if key in self.keys:
            return False
        if len(self.keys) >= self.limit:
            del self.keys[next(iter(self.keys))]
            self.replaced += 1
        self.keys[key] = None
        return True


class _Proc:
    """One process's counts in the window at hand."""

    __slots__ = ("counts", "dsts", "dirs")

    def __init__(self):
        self.counts = defaultdict(float)
        self.dsts: set = set()
        self.dirs: set = set()


class ProcessWindows:
    """Events in, closed windows out (module docstring). host: the host's name in keys
    and alerts; learn_seconds: the learning period of the novelty columns (s);
    max_names: entries per novelty table."""

    def __init__(self, host: str, learn_seconds: float = 60.0, max_names: int = 1 << 16):
        self.host = host
        self.learn_us = int(learn_seconds * 1e6)
        self.offset_us: Optional[int] = None       # wall µs - monotonic ns / 1000
        self.first_us: Optional[int] = None
        self.start_us: Optional[int] = None
        self.end_us: Optional[int] = None
        self.procs: dict[tuple, _Proc] = {}
        self.execs: list[tuple] = []
        self.pairs, self.shell_parents = _Seen(max_names), _Seen(max_names)
        self.servers = _Seen(max_names)
        self.windows = 0

    def _proc(self, pid: int, uid: int, comm: str) -> _Proc:
        key = (comm, pid, uid)
        proc = self.procs.get(key)
        if proc is None:
            proc = self.procs[key] = _Proc()
        return proc

    def wall_us(self, nsecs: int) -> Optional[int]:
        """A monotonic time on the wall clock (None before any clock line)."""
        return None if self.offset_us is None else self.offset_us + nsecs // 1000

    def add(self, ev) -> Optional[np.ndarray]:
        """Take one event; the closed window's records at a flush, else None."""
        kind = type(ev)
        if kind is Count:
            self._proc(ev.pid, ev.uid, ev.comm).counts[ev.what] += ev.n
            if ev.what == "server_calls" and ev.n:
                self.servers.add(ev.comm)
        elif kind is Connect:
            proc = self._proc(ev.pid, ev.uid, ev.comm)
            proc.counts["connects"] += 1
            proc.dsts.add((ev.addr, ev.port))
        elif kind is WriteOpen:
            proc = self._proc(ev.pid, ev.uid, ev.comm)
            proc.counts["write_opens"] += 1
            proc.dirs.add(os.path.dirname(ev.path) if ev.path else "?")
        elif kind is Exec:
            self.execs.append(ev)
        elif kind is Clock:
            self.offset_us = ev.wall_us - ev.nsecs // 1000
            if self.first_us is None:
                self.first_us = self.start_us = ev.wall_us
            self.end_us = ev.wall_us
        elif kind is Flush:
            return self._close()
        return None

    def _decide_execs(self) -> None:
        for ev in self.execs:
            parent = self._proc(ev.ppid, ev.uid, ev.parent)
            parent.counts["execs"] += 1
            at = self.wall_us(ev.nsecs)
            learning = (at is None or self.first_us is None
                        or at - self.first_us < self.learn_us)
            if self.pairs.add((ev.parent, ev.comm)) and not learning:
                parent.counts["new_exec_pairs"] += 1
            if ev.comm in SHELLS:
                parent.counts["shell_execs"] += 1
                server = ev.parent in self.servers.keys
                if server and self.shell_parents.add(ev.parent) and not learning:
                    parent.counts["new_server_shell"] += 1
        self.execs = []

    def _close(self) -> Optional[np.ndarray]:
        self._decide_execs()
        start, end = self.start_us, self.end_us
        procs, self.procs = self.procs, {}
        self.start_us = end
        if end is None:                 # counts before any clock line: no times
            return None
        out = np.zeros(len(procs) + 1, dtype=PROC_DTYPE)
        out["start_us"], out["end_us"] = start, end
        host_dsts, host_dirs = set(), set()
        for i, ((comm, pid, uid), proc) in enumerate(procs.items()):
            row = out[i]
            row["kind"], row["pid"], row["uid"] = KIND_PROCESS, pid, uid
            row["comm"] = comm.encode("utf-8", "replace")[:16]
            row["key"] = window_key(KIND_PROCESS, comm, pid, uid, self.host)
            _fill(row, proc)
            host_dsts |= proc.dsts
            host_dirs |= proc.dirs
        host = out[-1]
        host["kind"], host["pid"], host["uid"] = KIND_HOST, -1, -1
        host["key"] = window_key(KIND_HOST, "", -1, -1, self.host)
        for c in COLUMNS:
            host[c] = out[c][:-1].sum()
        host["connect_dsts"], host["write_dirs"] = len(host_dsts), len(host_dirs)
        host["connect_hosts"] = len({a for a, _ in host_dsts})
        self.windows += 1
        return out

    def counters(self) -> dict:
        """Windows closed and novelty entries forgotten (dotted names)."""
        return {"wirescore.syscalls.windows": self.windows,
                "wirescore.syscalls.names_replaced": (self.pairs.replaced
                                                      + self.shell_parents.replaced
                                                      + self.servers.replaced)}


def _fill(row, proc: _Proc) -> None:
    c = proc.counts
    for name in ("syscalls", "sockets", "server_calls", "forks", "connects", "execs",
                 "shell_execs", "new_server_shell", "new_exec_pairs", "write_opens"):
        row[name] = c.get(name, 0.0)
    row["opens"] = c.get("read_opens", 0.0) + c.get("write_opens", 0.0)
    row["connect_dsts"] = len(proc.dsts)
    row["connect_hosts"] = len({a for a, _ in proc.dsts})
    row["write_dirs"] = len(proc.dirs)
