"""The body of one worker process of --workers N (forked by wirescore.workers.pool).

A worker runs steps 2 to 4 of a session (wirescore.session) with its own settings: open
its capture handle in the pool's PACKET_FANOUT group, drop privileges, run an Engine
until SIGTERM. Its EVE lines go to its pipe (one eve.json, wirescore.workers.relay) or to
its own eve.<n>.json. It tells the parent, over its status pipe (a multiprocessing
Connection), as data:

    ("ready", pid)            capturing, privileges dropped
    ("stats", event)          each stats event (one eve.json: the parent sums them)
    ("done", {...})           packets, flows, alerts, counters, nonip_ethertypes, kernel
    ("error", message)        one line; the exit status is then 1

Signals: SIGTERM stops the engine (flows end with reason shutdown, final stats);
SIGINT is ignored (a terminal's Ctrl-C reaches the whole process group: the parent
decides); SIGHUP reopens the worker's own eve.<n>.json, and is ignored with one
eve.json (the parent reopens it). A worker dies with its parent (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys

from wirescore import signals
from wirescore.config import Config
from wirescore.errors import describe

PR_SET_PDEATHSIG = 1                 # linux/prctl.h


def worker_main(index: int, session, values: dict, conn, iface: str, source_options: dict,
                fanout_group: int, per_worker_files: bool, close_fds: list,
                parent_pid: int) -> None:
    """Run worker `index` (forked: session is the parent's, values its settings with
    the worker's own file names) and exit with its status; never returns."""
    for fd in close_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    switch = signals.StopSwitch()
    signals.install(switch.stop, switch.reopen if per_worker_files else None,
                    interrupt=False)
    _die_with_parent(parent_pid)
    status = 1
    try:
        status = _run(session.for_worker(Config.load(overrides=values)), conn, iface,
                      dict(source_options, fanout_group=fanout_group), per_worker_files,
                      switch, index)
    except BaseException as exc:  # reported to the parent, never a traceback per worker
        send(conn, ("error", describe(exc)))
    finally:
        conn.close()
    sys.stdout.flush()
    os._exit(status)


def _run(session, conn, iface: str, source_options: dict, per_worker_files: bool,
         switch, index: int) -> int:
    from wirescore.engine import RunFault
    from wirescore.live import LiveSource

    opened = []

    def open_capture():
        opened.append(LiveSource(iface, **source_options))
        return opened[0]

    fault = None
    try:
        summary = session.run(
            open_capture, switch=switch,
            on_ready=lambda engine: send(conn, ("ready", os.getpid())),
            on_stats=None if per_worker_files else lambda event: send(conn, ("stats", event)),
            eve_stats=per_worker_files, worker=index)
    except RunFault as exc:
        summary, fault = exc.summary, str(exc)
    send(conn, ("done", {"packets": summary.packets, "flows": summary.flows,
                         "alerts": summary.alerts, "counters": summary.counters,
                         "nonip_ethertypes": summary.nonip_ethertypes,
                         "kernel": opened[0].stats()}))
    if fault:
        send(conn, ("error", fault))
        return 1
    return 0


def send(conn, message) -> None:
    """Tell the parent; nothing when it is gone."""
    try:
        conn.send(message)
    except (OSError, ValueError):
        pass


def _die_with_parent(parent_pid: int) -> None:
    """SIGTERM this worker when the parent dies (Linux prctl; best effort elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:          # the parent died before prctl
        os.kill(os.getpid(), signal.SIGTERM)
