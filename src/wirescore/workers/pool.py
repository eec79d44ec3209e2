"""Several capture workers on one interface (--workers N): start them, watch them, stop
them, and turn their output into one run.

    session = Session.start(cfg, "logs", workers=4)
    summary = WorkerPool(session, "eth0", workers=4).run()   # until SIGTERM/SIGINT

Each worker is a process with its own capture handle, flow table and detection (its own
Engine; wirescore.workers.body). The handles join one PACKET_FANOUT group in flow-hash
mode, so the kernel hands both directions of a flow to the same worker (see
wirescore.live for what that means for IP fragments).

Processes are forked (not spawned): every worker needs the parent's already-imported
modules and loaded rules (with --user the install may be unreadable once privileges
are dropped; a spawned interpreter would import everything again, N times, which also
costs about half a second each) and inherits its pipes. The parent forks before it
starts any thread.

Output: with one EVE stream (default) the parent is the only writer of every EVE output
(eve.json or another filetype, and outputs.eve.also's: wirescore.workers.relay) and
writes the stats summed over the workers (wirescore.workers.stats); with per_worker_files (Suricata's threaded EVE) worker n
writes LOGDIR/eve.<n>.json itself (n from 1), stats events included. --export gets the
same .<n> suffix in both modes.

Signals (parent): SIGTERM and SIGINT ask every worker to stop (each ends its flows with
reason shutdown and writes its final stats), the parent writes what they wrote and its
final stats, then returns; a second SIGTERM/SIGINT more than 10 s after the first kills
workers that are still busy. SIGHUP reopens eve.json (one stream) or is passed to the
workers (one file each), for logrotate.

Supervision: a worker that dies after it started capturing (SIGKILL from the OOM
killer, a crash, a failure it reports) is restarted in its place: a new process, a new
EVE pipe, a new capture handle in the same fanout group (until it joins, the kernel
hands the dead socket's share of the flows to the others). What its table held is lost
(its flows in progress: counted from its last stats report, wirescore.workers.flows_lost;
the unfinished line in its pipe: counted in bytes); its counters stay in the summed
stats, which never go back. At most capture.worker_restarts restarts in any minute:
beyond that, or with 0, a dead worker stops the others and the run reports the
failure (one line). A restart that cannot capture (privileges dropped with --user
cannot open a new handle) is logged and the run goes on with the others.
"""
from __future__ import annotations

import fcntl
import logging
import os
import selectors
import signal
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from wirescore import signals
from wirescore.errors import WirescoreError
from wirescore.outputs.app_events import eve_types
from wirescore.outputs.eve_targets import also_outputs, main_output, open_output
from wirescore._core.eve import splice_fields
from wirescore.outputs.eve import _dumps, common_fields
from wirescore.outputs.paths import eve_filename, make_log_dir, per_worker_name
from wirescore import health
from wirescore.workers import stats
from wirescore.workers.body import worker_main
from wirescore.workers.relay import (EveRelay, RelayTarget, WorkerPipe, pipe_name,
                                     relay_types)

log = logging.getLogger("wirescore.workers")

READY_TIMEOUT_S = 60.0
KILL_AFTER_S = 10.0
RESTART_WINDOW_S = 60.0              # capture.worker_restarts counts restarts in this window


@dataclass
class _Worker:
    index: int                          # from 1
    process: object = None
    conn: object = None                 # its status pipe (None once it has closed)
    pipe: Optional[WorkerPipe] = None   # its EVE pipe (one eve.json)
    ready: bool = False
    done: Optional[dict] = None
    error: Optional[str] = None
    restarted: int = 0                  # times this slot was given a new process
    abandoned: bool = False             # its restart could not capture: run without it


class WorkerPool:
    """N worker processes on one interface; see the module docstring.

    Parameters: session (wirescore.session.Session: settings, log directory, who to
    become, profiles; its outputs name the per-worker files); iface; workers (>= 1);
    per_worker_files (one eve.<n>.json per worker instead of one merged eve.json);
    fanout_group (PACKET_FANOUT group id; default derived from the process id);
    source_options (LiveSource keyword arguments; default from the capture.* settings).
    """

    def __init__(self, session, iface: str, *, workers: int = 2,
                 per_worker_files: bool = False, fanout_group: int | None = None,
                 source_options: dict | None = None):
        from wirescore.live import options_from_config

        if int(workers) < 1:
            raise WirescoreError(f"--workers {workers}: must be >= 1")
        self.session, self.cfg, self.iface = session, session.cfg, iface
        self.log_dir = Path(session.log_dir)
        self.n = int(workers)
        self.per_worker_files = per_worker_files
        self.fanout_group = (os.getpid() & 0xFFFF) if fanout_group is None else int(fanout_group)
        self.source_options = dict(options_from_config(self.cfg) if source_options is None
                                   else source_options)
        self.stats = stats.StatsMerge(iface, self.cfg["outputs.stats.interval"])
        self._workers: list[_Worker] = []
        self._relay: Optional[EveRelay] = None
        self._stop_requested = self._hup_requested = self._kill = False
        self._lines_at_stats = 0         # relay.lines_relayed when stats were last written
        self._stop_sent_at: float | None = None
        self.max_restarts = int(self.cfg["capture.worker_restarts"])
        self._restart_times: deque = deque()
        self.restarts = 0                # workers restarted in this run
        self.flows_lost = 0              # flows in the tables of dead workers
        self._retired: list[dict] = []   # done reports (or what stats said) of dead workers
        self._selector = None            # the supervision loop's, while it runs
        self._to_restart: list[_Worker] = []
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
            fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC)

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        """Ask the workers to finish (signal-safe: sets a flag the loop acts on). A
        second request more than KILL_AFTER_S after the first kills the busy ones."""
        if self._stop_sent_at is not None and \
                time.monotonic() - self._stop_sent_at > KILL_AFTER_S:
            self._kill = True
        self._stop_requested = True
        self._wake()

    def reopen(self) -> None:
        """Reopen the output files (SIGHUP)."""
        self._hup_requested = True
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:  # full or closed: the loop wakes anyway
            pass

    # ------------------------------------------------------------------ running

    def run(self):
        """Start the workers, relay their output until they have all finished, and
        return an engine.Summary of the whole run (counters summed over workers).
        Raises WirescoreError when a worker could not start or failed."""
        started = time.monotonic()
        session = self.session
        main = main_output(self.cfg)
        eve_path = (self.log_dir / eve_filename(self.cfg) if main.filetype == "regular"
                    else main.describe())
        restore = signals.install(self.stop, self.reopen)
        try:
            session.prepare()
            make_log_dir(self.log_dir)
            if not self.per_worker_files:
                self._relay = EveRelay(self.log_dir, self._open_outputs(), self.n,
                                       session.target)
            self._start_up()
            try:
                self._supervise()
            except OSError as exc:          # writing an EVE file failed (disk full...)
                self._abort(drain=False)
                raise WirescoreError(f"{eve_path}: cannot write: {exc.strerror}") from None
            except BaseException:
                self._abort(drain=False)
                raise
        finally:
            try:
                self._write_stats(self.stats.final(self._lines_since_stats()))
            except OSError as exc:
                log.error("%s: cannot write the final stats: %s", eve_path, exc.strerror)
            finally:
                self._cleanup()
                restore()
        return self._summary(started, eve_path)

    def _open_outputs(self) -> list[RelayTarget]:
        """The run's EVE outputs (the main one, then outputs.eve.also's), opened here: the
        parent is their only writer. One that cannot open closes those opened before."""
        outputs = [main_output(self.cfg), *also_outputs(self.cfg)]
        every = eve_types(relay_types(outputs))
        opened: list[RelayTarget] = []
        try:
            for out in outputs:
                types = eve_types(out.types)
                opened.append(RelayTarget(
                    open_output(out, self.log_dir, live=True), out.label,
                    out.describe(self.log_dir),
                    None if types >= every else frozenset(t.encode() for t in types)))
        except BaseException:
            for t in opened:
                t.writer.close()
            raise
        return opened

    def _start_up(self) -> None:
        """Fork the workers, wait until each captures, then drop privileges here too."""
        try:
            self._start_workers()
            self._wait_ready()
            self.session.drop()
            log.info("%s: %d workers capturing (fanout group %d)", self.iface, self.n,
                     self.fanout_group)
        except BaseException:
            self._abort()
            raise
        finally:
            if self._stop_requested and self._stop_sent_at is None:
                self._send_stop()

    def _start_workers(self) -> None:
        pipes = self._relay.pipes if self._relay is not None else [None] * self.n
        self._workers = [_Worker(index=i, pipe=p) for i, p in enumerate(pipes, 1)]
        for w in self._workers:
            self._fork(w)

    def _fork(self, w: _Worker) -> None:
        """Start worker w's process (its settings: the run's with its own file names)."""
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        base = dict(self.cfg.items())
        values = dict(base)
        values["outputs.eve.filename"] = (
            per_worker_name(base["outputs.eve.filename"], w.index) if self.per_worker_files
            else pipe_name(os.getpid(), w.index))
        if not self.per_worker_files:
            # the worker writes its pipe; the parent rotates the files and writes every
            # output, each its own types
            values["outputs.eve.filetype"] = "regular"
            values["outputs.eve.also"] = ()
            values["outputs.eve.types"] = relay_types(
                [main_output(self.cfg), *also_outputs(self.cfg)])
            values["outputs.eve.rotate_interval"] = 0.0
            values["outputs.eve.rotate_bytes"] = 0
        for key in ("outputs.cef.filename", "outputs.notice.filename"):
            values[key] = per_worker_name(base[key], w.index)   # one writer a file
        if base.get("outputs.export"):
            values["outputs.export"] = per_worker_name(base["outputs.export"], w.index)
        recv, send = ctx.Pipe(duplex=False)
        # descriptors of the parent the worker must not hold: the relay's, the other
        # status pipes, the wake-up pipe
        close_fds = self._relay.fds() if self._relay is not None else []
        close_fds += [x.conn.fileno() for x in self._workers if x.conn is not None]
        close_fds += [self._wake_r, self._wake_w, recv.fileno()]
        args = (w.index, self.session, values, send, self.iface, self.source_options,
                self.fanout_group, self.per_worker_files, close_fds, os.getpid())
        w.process = ctx.Process(target=worker_main, args=args,
                                name=f"wirescore-worker-{w.index}", daemon=False)
        w.process.start()
        send.close()
        w.conn = recv

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all(w.ready or w.error for w in self._workers):
            if self._stop_requested:
                return
            if time.monotonic() > deadline:
                raise WirescoreError(f"{self.iface}: workers not ready after "
                                     f"{READY_TIMEOUT_S:.0f} s")
            for w in self._workers:
                self._poll_status(w, timeout=0.05)
                if w.error:
                    raise WirescoreError(w.error)

    def _poll_status(self, w: _Worker, timeout: float = 0.0) -> None:
        """Take one message from w's status pipe, if one is there."""
        if w.conn is None:
            return
        try:
            if not w.conn.poll(timeout):
                return
            kind, payload = w.conn.recv()
        except (EOFError, OSError):
            w.conn.close()
            w.conn = None
            w.process.join(timeout=5)
            if not w.done and not w.error:
                w.error = f"exited unexpectedly (exit code {w.process.exitcode})"
            return
        if kind == "ready":
            w.ready = True
            if w.restarted:
                log.warning("%s worker %d restarted: capturing again (pid %s)", self.iface,
                            w.index, payload)
        elif kind == "stats":
            self.stats.report(w.index, payload)
        elif kind == "error":
            w.error = payload
        elif kind == "done":
            w.done = payload

    def _supervise(self) -> None:
        """Relay the workers' lines and status until every one has finished."""
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ, None)
        for w in self._workers:
            if w.pipe is not None and not w.pipe.eof:
                sel.register(w.pipe.fd, selectors.EVENT_READ, ("pipe", w))
            if w.conn is not None:
                sel.register(w.conn.fileno(), selectors.EVENT_READ, ("conn", w))
        self._selector = sel
        try:
            while not all(w.conn is None and (w.pipe is None or w.pipe.eof)
                          for w in self._workers):
                self._act_on_requests()
                for key, _ in sel.select(timeout=0.5):
                    if key.data is None:
                        self._drain_wake()
                    elif key.data[0] == "pipe":
                        if key.data[1].pipe.fd != key.fd:
                            continue             # closed earlier in this round
                        if not self._relay.drain(key.data[1].pipe):
                            sel.unregister(key.fd)
                    else:
                        self._on_status(sel, key)
                while self._to_restart:          # after the round: its keys are stale
                    self._restart(self._to_restart.pop(0))
                if self._relay is not None:
                    self._relay.pump()
                if self._relay is not None and self.stats.due(
                        w.index for w in self._workers if not w.pipe.eof):
                    self._write_stats(self.stats.summed())
        finally:
            self._selector = None
            sel.close()
        for w in self._workers:
            w.process.join()

    def _on_status(self, sel, key) -> None:
        w = key.data[1]
        self._poll_status(w)
        if w.conn is None:
            sel.unregister(key.fd)
            if w.pipe is not None and not w.pipe.eof:
                # the worker has exited: whatever it wrote is in the pipe (a worker
                # that never opened it gives no end of file)
                sel.unregister(w.pipe.fd)
                self._relay.drain(w.pipe, final=True)
                w.pipe.close()
        if not w.error or self._stop_requested or w.abandoned:
            return
        if w.restarted and not w.ready and w.conn is None:
            # a restart that never captured: retrying would fail the same way
            log.error("%s worker %d could not be restarted: %s; going on with the others",
                      self.iface, w.index, w.error)
            w.abandoned = True
            if all(x.abandoned or x.conn is None for x in self._workers):
                self.stop()
            return
        if w.ready and self._may_restart():
            if w.conn is None:               # exited: whatever it wrote is relayed
                self._to_restart.append(w)
            return                           # reported its failure: restart at its exit
        log.error("%s worker %d: %s; stopping the others%s", self.iface, w.index, w.error,
                  f" ({len(self._restart_times)} restarts in the last minute)"
                  if self.max_restarts else "")
        self.stop()

    def _may_restart(self) -> bool:
        """Whether a dead worker may be restarted now (capture.worker_restarts a minute)."""
        now = time.monotonic()
        while self._restart_times and now - self._restart_times[0] > RESTART_WINDOW_S:
            self._restart_times.popleft()
        return len(self._restart_times) < self.max_restarts

    def _restart(self, w: _Worker) -> None:
        """Give worker w's slot a new process (module docstring: Supervision)."""
        last = self.stats.retire(w.index)
        lost = stats.leaf(last, "flow.active")
        self.flows_lost += lost
        self._retired.append(w.done or {"packets": stats.leaf(last, "decoder.pkts"),
                                        "alerts": stats.leaf(last, "detect.alert")})
        self._restart_times.append(time.monotonic())
        self.restarts += 1
        log.error("%s worker %d %s; restarting it (restart %d of the run; about %d flows "
                  "in progress lost with its table)", self.iface, w.index, w.error,
                  self.restarts, lost)
        w.process.join(timeout=5)
        if self._relay is not None:
            w.pipe = self._relay.renew(w.index)
        w.ready, w.done, w.error = False, None, None
        w.restarted += 1
        self._fork(w)
        sel = self._selector
        if sel is not None:
            if w.pipe is not None:
                sel.register(w.pipe.fd, selectors.EVENT_READ, ("pipe", w))
            sel.register(w.conn.fileno(), selectors.EVENT_READ, ("conn", w))

    def _act_on_requests(self) -> None:
        if self._stop_requested and self._stop_sent_at is None:
            log.info("stopping %d workers: flows end with reason shutdown", self.n)
            self._send_stop()
        if self._kill:
            self._kill = False
            for w in self._workers:
                if w.process.is_alive():
                    log.warning("%s worker %d did not finish: killed", self.iface, w.index)
                    w.process.kill()
        if self._hup_requested:
            self._hup_requested = False
            if self._relay is not None:
                self._relay.reopen()
            else:
                self._signal_workers(signal.SIGHUP)

    def _drain_wake(self) -> None:
        try:
            os.read(self._wake_r, 4096)
        except BlockingIOError:
            pass

    def _write_stats(self, event: Optional[dict]) -> None:
        if event is not None and self._relay is not None:
            for t in self._relay.outputs:                # the merged outputs'
                figures = getattr(t.writer, "health", None)
                health.put_output(event, t.label, figures() if callable(figures) else {})
            # the workers' lines carry host already (their engines splice it in)
            common = common_fields(self.cfg["outputs.eve.sensor_name"])
            self._relay.write(splice_fields((_dumps(event) + "\n").encode("ascii"), common))
            self._lines_at_stats = self._relay.lines_relayed

    def _lines_since_stats(self) -> bool:
        """Whether workers' lines were relayed after the last stats event written."""
        return self._relay is not None and self._relay.lines_relayed > self._lines_at_stats

    def _signal_workers(self, signum: int) -> None:
        for w in self._workers:
            if w.process is not None and w.process.is_alive():
                try:
                    os.kill(w.process.pid, signum)
                except ProcessLookupError:
                    pass

    def _send_stop(self) -> None:
        self._stop_sent_at = time.monotonic()
        self._signal_workers(signal.SIGTERM)

    def _abort(self, drain: bool = True) -> None:
        """Start-up (or the relay) failed: stop whatever started, wait for it, and keep
        what it wrote when drain is set."""
        self._send_stop()
        deadline = time.monotonic() + KILL_AFTER_S
        for w in self._workers:
            if w.process is None:
                continue
            w.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
        if self._relay is not None and drain:
            for w in self._workers:
                try:
                    self._relay.drain(w.pipe, final=True)
                except OSError as exc:
                    log.error("%s: cannot write: %s", self._relay.outputs[0].name,
                              exc.strerror)
                    break

    def _cleanup(self) -> None:
        for w in self._workers:
            if w.conn is not None:
                w.conn.close()
                w.conn = None
        if self._relay is not None:
            self._relay.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def _summary(self, started: float, eve_path: Path):
        failed = [w for w in self._workers if w.error and not w.abandoned]
        for w in self._workers:
            d, kernel = w.done or {}, (w.done or {}).get("kernel", {})
            log.info("%s worker %d: %d packets, %d flows; kernel %d packets, %d dropped",
                     self.iface, w.index, d.get("packets", 0), d.get("flows", 0),
                     kernel.get("kernel_packets", 0), kernel.get("kernel_drops", 0))
        lost = self._relay.partial_lost if self._relay is not None else 0
        if lost:
            log.warning("%d bytes of unfinished EVE lines from failed workers were dropped",
                        lost)
        if self.restarts:
            log.warning("%s: %d worker restarts; about %d flows in progress lost with the "
                        "dead workers' tables", self.iface, self.restarts, self.flows_lost)
        summary = stats.summary(self.iface, self.n,
                                [w.done or {} for w in self._workers] + self._retired,
                                time.monotonic() - started,
                                failed[0].error if failed else None, str(eve_path))
        if self.restarts:
            summary.counters["wirescore.workers.restarts"] = self.restarts
            summary.counters["wirescore.workers.flows_lost"] = self.flows_lost
        if self._relay is not None:
            for t in self._relay.outputs:
                summary.counters.update(t.writer.counters())
        if failed:
            raise WirescoreError(f"{self.iface}: worker {failed[0].index}: {failed[0].error}")
        return summary
