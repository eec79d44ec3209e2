"""One line of the syscall script's output -> one event (wirescore.bt, format 1).

Three outcomes, never a fourth: an event (a tuple below), None for a line that carries
nothing (bpftrace's "Attaching N probes..." and the empty line it prints for an empty
map), or BadLine for a line that cannot be one of ours (the caller counts it and goes
on). Lines are tab-separated (comm, the kernel's task name, holds at most 15 bytes and
may hold spaces; a comm holding a tab makes its line a BadLine). A count line is
bpftrace's own map format, "@name[pid, uid, comm]: n", comm last, so a comm holding
", " still parses.

Times: "T nsecs wall" gives bpftrace's monotonic clock (ns since boot) beside the wall
clock (s, µs precision, converted by bpftrace from the boot time); every other time is
monotonic and is put on the wall clock with the offset of the latest T line
(Clock.wall_us). Edge cases: a suspended machine stops the monotonic clock, so an
offset is only good until the next T line (one a second); the wall clock stepping
(NTP) moves every later time with it; a line before any T line has no offset (the
script prints one at BEGIN, so only a cut recording has such lines: they take the
next T line's offset). A recording replays with its own times.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Union

#: the count maps of the script and what each counts (per process and flush)
COUNT_MAPS = {"sys": "syscalls", "sock": "sockets", "srv": "server_calls",
              "open": "read_opens", "fork": "forks"}


class BadLine(ValueError):
    """A line that is not one the script prints (the reason in args[0])."""


class Clock(NamedTuple):
    nsecs: int          # bpftrace's monotonic clock (ns)
    wall_us: int        # the wall clock at the same moment (µs since the epoch)


class Flush(NamedTuple):
    """The end of one second's counts (the script's F line)."""


class Count(NamedTuple):
    what: str           # a COUNT_MAPS value
    pid: int
    uid: int
    comm: str
    n: int


class Exec(NamedTuple):
    nsecs: int
    pid: int
    uid: int
    ppid: int
    comm: str           # the program now running (the new comm)
    parent: str         # the parent's comm


class Connect(NamedTuple):
    nsecs: int
    pid: int
    uid: int
    family: int         # 2: IPv4, 10: IPv6
    addr: str
    port: int
    comm: str


class WriteOpen(NamedTuple):
    nsecs: int
    pid: int
    uid: int
    comm: str
    path: str           # "" when the kernel could not read it yet (page not present)


Event = Union[Clock, Flush, Count, Exec, Connect, WriteOpen]

_CHATTER = ("Attaching ", "Lost ")


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadLine(f"{what} {text!r} is not a number") from None


def _count(line: str) -> Count:
    name, sep, rest = line[1:].partition("[")
    if not sep or name not in COUNT_MAPS:
        raise BadLine(f"unknown map @{name}")
    key, sep, value = rest.rpartition("]: ")
    parts = key.split(", ", 2)
    if not sep or len(parts) != 3:
        raise BadLine("a count line is @map[pid, uid, comm]: n")
    return Count(COUNT_MAPS[name], _int(parts[0], "pid"), _int(parts[1], "uid"), parts[2],
                 _int(value, "count"))


def parse_line(line: str) -> Optional[Event]:
    """The event of one line (its newline stripped or not); None for chatter and empty
    lines; BadLine otherwise."""
    line = line.rstrip("\r\n")
    if not line or line.startswith(_CHATTER):
        return None
    if line.startswith("@"):
        return _count(line)
    f = line.split("\t")
    kind, n = f[0], len(f)
    if kind == "F" and n == 1:
        return Flush()
    if kind == "T" and n == 3:
        try:
            wall_us = round(float(f[2]) * 1e6)
        except ValueError:
            raise BadLine(f"wall time {f[2]!r} is not a number") from None
        return Clock(_int(f[1], "nsecs"), wall_us)
    if kind == "X" and n == 7:
        return Exec(_int(f[1], "nsecs"), _int(f[2], "pid"), _int(f[3], "uid"),
                    _int(f[4], "ppid"), f[5], f[6])
    if kind == "C" and n == 8:
        family = _int(f[4], "family")
        if family not in (2, 10):
            raise BadLine(f"address family {family}")
        return Connect(_int(f[1], "nsecs"), _int(f[2], "pid"), _int(f[3], "uid"), family,
                       f[5], _int(f[6], "port"), f[7])
    if kind == "W" and n >= 6:
        return WriteOpen(_int(f[1], "nsecs"), _int(f[2], "pid"), _int(f[3], "uid"), f[4],
                         "\t".join(f[5:]))
    raise BadLine(f"unknown line kind {kind[:8]!r} with {n} fields")
