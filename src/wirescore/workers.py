"""Several capture workers on one interface (--workers N), one EVE stream out.

    pool = WorkerPool(cfg, "eth0", "logs", workers=4)
    summary = pool.run()          # until SIGTERM/SIGINT (or pool.stop()); SIGHUP reopens

Each worker is a process with its own capture handle, flow table and detection (its
own Engine). The handles join one PACKET_FANOUT group in flow-hash mode, so the kernel
hands both directions of a flow to the same worker (see wirescore.live for what that
means for IP fragments).

Processes are forked (not spawned): every worker needs the parent's already-imported
modules and loaded rules (with --user the install may be unreadable once privileges
are dropped; a spawned interpreter would import everything again, N times, which also
costs about half a second each) and inherits its pipes. The parent forks before it
starts any thread.

Output, one stream (default): the parent is the only writer of LOGDIR/eve.json. Each
worker's engine writes its EVE lines into its own pipe (a FIFO, LOGDIR/.wirescore-<parent
pid>-<n>.pipe, removed at the end; one left by a killed run is removed by the next);
the parent reads every pipe and appends only complete lines, in blocks, to eve.json.
Lines of two workers never interleave, whatever their length: no reliance on O_APPEND
atomicity (which holds only for local files, and only in practice). A worker
that dies part-way through a line loses that partial line, never the file's syntax.
The workers' stats events are not copied through: the parent writes one stats event
with the counters summed over the workers (uptime: the largest) each time every
running worker has reported (each reports every outputs.stats.interval seconds), and
a final one; it logs each worker's kernel received/dropped counts with it.

Output, one file per worker (per_worker_files=True, Suricata's threaded eve): worker n
writes LOGDIR/eve.<n>.json itself (n from 1), stats events included; --export gets the
same .<n> suffix in both modes.

Signals (parent): SIGTERM and SIGINT ask every worker to stop (each ends its flows
with reason shutdown and writes its final stats), the parent writes what they wrote
and its final stats, then returns; a second SIGTERM/SIGINT after 10 s kills workers
that are still busy. SIGHUP reopens eve.json (one stream) or is passed to the workers
(one file each), for logrotate. Workers ignore SIGINT (a terminal's Ctrl-C reaches
the whole process group; the parent decides) and die with the parent (PR_SET_PDEATHSIG).
A worker that fails stops the others and the run reports the failure (one line).
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import logging
import os
import selectors
import signal
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from wirescore.config import Config
from wirescore.errors import WirescoreError

log = logging.getLogger("wirescore.workers")

STATS_MARK = b'"event_type":"stats"'
F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20
READ_CHUNK = 1 << 20
READY_TIMEOUT_S = 60.0
KILL_AFTER_S = 10.0
PR_SET_PDEATHSIG = 1


def per_worker_name(filename: str, index: int) -> str:
    """eve.json -> eve.1.json; flows.csv -> flows.1.csv (index from 1)."""
    p = Path(filename)
    return str(p.with_name(f"{p.stem}.{index}{p.suffix}"))


PIPE_PREFIX, PIPE_SUFFIX = ".wirescore-", ".pipe"


def pipe_name(parent_pid: int, index: int) -> str:
    """File name of worker index's EVE pipe in the log directory (hidden, not *.json)."""
    return f"{PIPE_PREFIX}{parent_pid}-{index}{PIPE_SUFFIX}"


def _remove_stale_pipes(log_dir: Path) -> None:
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


def sum_stats(a, b):
    """Add two nested stats mappings leaf by leaf (uptime: the larger)."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict):
            out[key] = sum_stats(out.get(key, {}), value)
        elif key == "uptime":
            out[key] = max(out.get(key, 0), value)
        else:
            out[key] = out.get(key, 0) + value
    return out


@dataclass
class _Worker:
    index: int                         # from 1
    process: object = None
    conn: object = None                # status messages from the worker
    fifo_fd: int = -1                  # read end of its EVE pipe (one stream)
    tail: bytes = b""                  # incomplete last line read so far
    eof: bool = True
    ready: bool = False
    done: dict | None = None
    error: str | None = None
    latest_stats: dict | None = None   # its last stats event (parsed)
    stats_ts: str = ""
    fresh: bool = False
    partial_lost: int = 0


@dataclass
class PoolResult:
    """Per-worker outcome, kept on the pool after run() (pool.results)."""

    index: int
    pid: int
    packets: int = 0
    flows: int = 0
    kernel: dict = field(default_factory=dict)
    exitcode: int | None = None
    error: str | None = None


class WorkerPool:
    """N worker processes on one interface; see the module docstring.

    Parameters: cfg (Config); iface; log_dir; workers (>= 1); per_worker_files (one
    eve.<n>.json per worker instead of one merged eve.json); user / group (drop to
    them once every capture is open, see wirescore.privileges); fanout_group
    (PACKET_FANOUT group id; default derived from the process id); source_options
    (LiveSource keyword arguments; default from cfg's capture.* settings).
    """

    def __init__(self, cfg: Config, iface: str, log_dir: str | os.PathLike = ".", *,
                 workers: int = 2, per_worker_files: bool = False, user: str | None = None,
                 group: str | None = None, fanout_group: int | None = None,
                 source_options: dict | None = None):
        from wirescore.live import options_from_config

        if int(workers) < 1:
            raise WirescoreError(f"--workers {workers}: must be >= 1")
        self.cfg = cfg
        self.iface = iface
        self.log_dir = Path(log_dir)
        self.n = int(workers)
        self.per_worker_files = per_worker_files
        self.user, self.group = user, group
        self.fanout_group = (os.getpid() & 0xFFFF) if fanout_group is None else int(fanout_group)
        self.source_options = dict(options_from_config(cfg) if source_options is None
                                   else source_options)
        self.results: list[PoolResult] = []
        self._workers: list[_Worker] = []
        self._stop_requested = False
        self._hup_requested = False
        self._stop_sent_at: float | None = None
        self._killed = False
        self._eve = None
        self._fifo_paths: list[Path] = []
        self._wake_r = self._wake_w = -1
        self._stats_round_start: float | None = None
        self._stats_written = 0

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        """Ask the workers to finish (signal-safe: sets a flag the loop acts on)."""
        self._stop_requested = True
        self._wake()

    def reopen(self) -> None:
        """Reopen the output files (SIGHUP)."""
        self._hup_requested = True
        self._wake()

    def _wake(self) -> None:
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"x")
            except OSError:  # full or closed: the loop wakes anyway
                pass

    # ------------------------------------------------------------------ running

    def run(self):
        """Start the workers, relay their output until they have all finished, and
        return an engine.Summary of the whole run (counters summed over workers).
        Raises WirescoreError when a worker could not start or failed."""
        from wirescore import privileges
        from wirescore.engine import Summary
        from wirescore.outputs.eve import EveWriter

        cfg = self.cfg
        started = time.monotonic()
        target = privileges.resolve(self.user, self.group)
        profiles = privileges.preload(cfg)
        if threading.active_count() > 1:
            log.debug("forking workers with %d threads running", threading.active_count())
        eve_name = cfg["outputs.eve.filename"]
        eve_names = ([per_worker_name(eve_name, i) for i in range(1, self.n + 1)]
                     if self.per_worker_files else [eve_name])
        export_names = []
        if cfg["outputs.export"]:
            export_names = [str(Path(per_worker_name(cfg["outputs.export"], i)).resolve())
                            for i in range(1, self.n + 1)]
        privileges.prepare_outputs(target, self.log_dir, eve_names + export_names)
        eve_path = self.log_dir / eve_name
        restore = self._install_signals()
        try:
            if not self.per_worker_files:
                try:
                    self._eve = EveWriter(eve_path)
                except OSError as exc:
                    raise WirescoreError(f"{eve_path}: cannot open for writing: "
                                         f"{exc.strerror}") from None
                self._make_fifos(target)
            try:
                self._start_workers(target, profiles)
                self._wait_ready()
                privileges.drop(target)
                privileges.check_writable(target, self.log_dir, eve_names + export_names)
                log.info("%s: %d workers capturing (fanout group %d)", self.iface, self.n,
                         self.fanout_group)
            except BaseException:
                self._abort()
                raise
            finally:
                if self._stop_requested and self._stop_sent_at is None:
                    self._send_stop()
            try:
                self._relay()
            except OSError as exc:          # writing eve.json failed (disk full...)
                self._abort(drain=False)
                raise WirescoreError(f"{eve_path}: cannot write: {exc.strerror}") from None
            except BaseException:
                self._abort(drain=False)
                raise
        finally:
            try:
                if self._eve is not None:
                    self._write_final_stats()
            except OSError as exc:
                log.error("%s: cannot write the final stats: %s", eve_path, exc.strerror)
            finally:
                self._cleanup()
                restore()
        failed = [w for w in self._workers if w.error]
        self.results = [self._result(w) for w in self._workers]
        counters: dict = {}
        ethertypes: dict = {}
        packets = flows = alerts = 0
        for w in self._workers:
            d = w.done or {}
            packets += d.get("packets", 0)
            flows += d.get("flows", 0)
            alerts += d.get("alerts", 0)
            for k, v in d.get("counters", {}).items():
                counters[k] = counters.get(k, 0) + v
            for k, v in d.get("nonip_ethertypes", {}).items():
                ethertypes[k] = ethertypes.get(k, 0) + v
        for r in self.results:
            log.info("%s worker %d: %d packets, %d flows; kernel %d packets, %d dropped",
                     self.iface, r.index, r.packets, r.flows,
                     r.kernel.get("kernel_packets", 0), r.kernel.get("kernel_drops", 0))
        lost = sum(w.partial_lost for w in self._workers)
        fault = failed[0].error if failed else None
        summary = Summary(
            source=f"{self.iface} ({self.n} workers)", packets=packets, flows=flows,
            alerts=alerts, decode_errors=counters.get("decoder.invalid", 0),
            nonip=counters.get("wirescore.nonip", 0), elapsed=time.monotonic() - started,
            counters=counters, nonip_ethertypes=ethertypes, fault=fault,
            eve_path=str(self.log_dir / (eve_names[0] if not self.per_worker_files
                                         else eve_name)))
        if lost:
            log.warning("%d bytes of unfinished EVE lines from failed workers were dropped",
                        lost)
        if failed:
            raise WirescoreError(f"{self.iface}: worker {failed[0].index}: {failed[0].error}")
        return summary

    def _install_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
            fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
        previous = {}

        def on_stop(signum, frame):
            if self._stop_requested and self._stop_sent_at is not None and \
                    time.monotonic() - self._stop_sent_at > KILL_AFTER_S:
                self._killed = True
            self.stop()

        def on_hup(signum, frame):
            self.reopen()

        for sig, handler in ((signal.SIGTERM, on_stop), (signal.SIGINT, on_stop),
                             (signal.SIGHUP, on_hup)):
            previous[sig] = signal.signal(sig, handler)

        def restore():
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _make_fifos(self, target) -> None:
        """One pipe per worker, LOGDIR/.wirescore-<parent pid>-<n>.pipe (a FIFO: the
        engine opens LOGDIR/<eve file name> as for a file). Pipes left behind by a
        killed run (its pid gone) are removed first."""
        self._fifo_paths = []
        _remove_stale_pipes(self.log_dir)
        for i in range(1, self.n + 1):
            w = _Worker(index=i)
            path = self.log_dir / pipe_name(os.getpid(), i)
            try:
                if path.exists() or path.is_symlink():
                    path.unlink()
                os.mkfifo(path, 0o600)
            except OSError as exc:
                raise WirescoreError(f"{path}: cannot make the pipe of worker {i}: "
                                     f"{exc.strerror}") from None
            self._fifo_paths.append(path)
            if target is not None and os.geteuid() == 0:
                os.chown(path, target.uid, target.gid)
            w.fifo_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                fcntl.fcntl(w.fifo_fd, F_SETPIPE_SZ, PIPE_SIZE)
            except OSError:  # above the system's pipe-max-size: keep the default
                pass
            w.eof = False
            self._workers.append(w)

    def _start_workers(self, target, profiles) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        if not self._workers:
            self._workers = [_Worker(index=i) for i in range(1, self.n + 1)]
        base = dict(self.cfg.items())
        for w in self._workers:
            values = dict(base)
            log_dir = str(self.log_dir)         # snippets (pcaps/) go there in both modes
            if self.per_worker_files:
                values["outputs.eve.filename"] = per_worker_name(base["outputs.eve.filename"],
                                                                 w.index)
            else:
                values["outputs.eve.filename"] = pipe_name(os.getpid(), w.index)
            if base.get("outputs.export"):
                values["outputs.export"] = per_worker_name(base["outputs.export"], w.index)
            recv, send = ctx.Pipe(duplex=False)
            # descriptors of the parent the worker must not hold: the read ends of the
            # EVE pipes (else a worker whose parent died would block on a full pipe
            # instead of failing), the other status pipes, eve.json, the wake-up pipe
            close_fds = [x.fifo_fd for x in self._workers if x.fifo_fd >= 0]
            close_fds += [x.conn.fileno() for x in self._workers if x.conn is not None]
            close_fds += [fd for fd in (self._wake_r, self._wake_w, recv.fileno(),
                                        getattr(self._eve, "_fd", -1)) if fd >= 0]
            args = (w.index, values, log_dir, send, self.iface, self.source_options,
                    self.fanout_group, target, profiles, self.per_worker_files, close_fds,
                    os.getpid())
            w.process = ctx.Process(target=_worker_main, args=args,
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
        elif kind == "error":
            w.error = payload
        elif kind == "done":
            w.done = payload

    def _send_stop(self) -> None:
        self._stop_sent_at = time.monotonic()
        for w in self._workers:
            if w.process is not None and w.process.is_alive():
                try:
                    os.kill(w.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

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
        if self._eve is not None and drain:
            for w in self._workers:
                try:
                    self._drain(w, final=True)
                except OSError as exc:
                    log.error("%s: cannot write: %s", self._eve.path, exc.strerror)
                    break

    def _relay(self) -> None:
        """Copy complete lines from the worker pipes to eve.json until all are done."""
        sel = selectors.DefaultSelector()
        if self._wake_r >= 0:
            sel.register(self._wake_r, selectors.EVENT_READ, None)
        for w in self._workers:
            if w.fifo_fd >= 0 and not w.eof:
                sel.register(w.fifo_fd, selectors.EVENT_READ, ("fifo", w))
            if w.conn is not None:
                sel.register(w.conn.fileno(), selectors.EVENT_READ, ("conn", w))
        interval = float(self.cfg["outputs.stats.interval"])
        try:
            while True:
                if self._stop_requested and self._stop_sent_at is None:
                    log.info("stopping %d workers: flows end with reason shutdown", self.n)
                    self._send_stop()
                if self._killed:
                    self._kill_busy()
                if self._hup_requested:
                    self._hup_requested = False
                    self._reopen_outputs()
                for key, _ in sel.select(timeout=0.5):
                    if key.data is None:
                        try:
                            os.read(self._wake_r, 4096)
                        except BlockingIOError:
                            pass
                        continue
                    kind, w = key.data
                    if kind == "fifo":
                        if not self._drain(w):
                            sel.unregister(key.fd)
                    else:
                        self._poll_status(w)
                        if w.conn is None:
                            sel.unregister(key.fd)
                            if w.fifo_fd >= 0:
                                # the worker has exited: whatever it wrote is in the
                                # pipe (a worker that never opened it gives no EOF)
                                sel.unregister(w.fifo_fd)
                                self._drain(w, final=True)
                                self._close_fifo(w)
                        if w.error and not self._stop_requested:
                            log.error("%s worker %d: %s; stopping the others", self.iface,
                                      w.index, w.error)
                            self.stop()
                self._maybe_write_stats(interval)
                if all(w.conn is None and (w.eof or w.fifo_fd < 0) for w in self._workers):
                    break
        finally:
            sel.close()
        for w in self._workers:
            if w.process is not None:
                w.process.join()

    def _kill_busy(self) -> None:
        self._killed = False
        for w in self._workers:
            if w.process is not None and w.process.is_alive():
                log.warning("%s worker %d did not finish: killed", self.iface, w.index)
                w.process.kill()

    def _drain(self, w: _Worker, final: bool = False) -> bool:
        """Read what worker w wrote; write its complete lines. False at end of pipe."""
        if w.fifo_fd < 0 or w.eof:
            return False
        chunks = []
        while True:
            try:
                data = os.read(w.fifo_fd, READ_CHUNK)
            except BlockingIOError:
                break
            if not data:
                w.eof = True
                break
            chunks.append(data)
            if len(data) < READ_CHUNK:
                break
        if chunks:
            buf = w.tail + b"".join(chunks)
            cut = buf.rfind(b"\n") + 1
            w.tail = buf[cut:]
            if cut:
                self._write_block(w, buf[:cut])
        if w.eof or final:
            if w.tail:
                w.partial_lost += len(w.tail)
                w.tail = b""
            if w.eof:
                self._close_fifo(w)
        return not w.eof

    @staticmethod
    def _close_fifo(w: _Worker) -> None:
        if w.fifo_fd >= 0:
            os.close(w.fifo_fd)
            w.fifo_fd = -1
        w.eof = True

    def _write_block(self, w: _Worker, block: bytes) -> None:
        if STATS_MARK in block:
            kept = []
            for line in block[:-1].split(b"\n"):
                line += b"\n"
                if STATS_MARK in line:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        kept.append(line)
                        continue
                    if event.get("event_type") == "stats":
                        w.latest_stats = event.get("stats", {})
                        w.stats_ts = event.get("timestamp", "")
                        if not w.fresh and self._stats_round_start is None:
                            self._stats_round_start = time.monotonic()
                        w.fresh = True
                        continue
                kept.append(line)
            block = b"".join(kept)
        if block:
            self._eve.write_bytes(block)

    def _maybe_write_stats(self, interval: float) -> None:
        """One summed stats event once every running worker has reported since the
        last one (or half an interval after the first did, so a quiet worker does not
        hold the others back)."""
        if self._eve is None or self._stats_round_start is None:
            return
        running = [w for w in self._workers if not w.eof]
        waited = time.monotonic() - self._stats_round_start
        if all(w.fresh for w in running) or (interval and waited > interval / 2):
            self._write_stats()

    def _write_stats(self) -> None:
        from wirescore.outputs.eve import _dumps

        reported = [w for w in self._workers if w.latest_stats is not None]
        if not reported:
            return
        total: dict = {}
        for w in reported:
            total = sum_stats(total, w.latest_stats)
        stamp = max(w.stats_ts for w in reported)
        event = {"timestamp": stamp, "event_type": "stats", "stats": total}
        self._eve.write_bytes((_dumps(event) + "\n").encode("ascii"))
        self._stats_written += 1
        parts = []
        for w in reported:
            cap = w.latest_stats.get("capture", {})
            parts.append(f"worker {w.index} {cap.get('kernel_packets', 0)} packets "
                         f"{cap.get('kernel_drops', 0)} dropped")
            w.fresh = False
        self._stats_round_start = None
        log.info("%s kernel counters: %s", self.iface, "; ".join(parts))

    def _write_final_stats(self) -> None:
        """The last summed stats event, unless it was written already."""
        reported = [w for w in self._workers if w.latest_stats is not None]
        if reported and (any(w.fresh for w in reported) or not self._stats_written):
            self._write_stats()

    def _reopen_outputs(self) -> None:
        if self._eve is not None:
            try:
                self._eve.reopen()
            except OSError as exc:
                raise WirescoreError(f"{self._eve.path}: cannot reopen: {exc.strerror}") from None
            return
        for w in self._workers:
            if w.process is not None and w.process.is_alive():
                try:
                    os.kill(w.process.pid, signal.SIGHUP)
                except ProcessLookupError:
                    pass

    def _cleanup(self) -> None:
        for w in self._workers:
            if w.fifo_fd >= 0:
                os.close(w.fifo_fd)
                w.fifo_fd = -1
            if w.conn is not None:
                w.conn.close()
                w.conn = None
        if self._eve is not None:
            self._eve.close()
            self._eve = None
        for path in self._fifo_paths:
            try:
                path.unlink()
            except OSError:  # already gone
                pass
        self._fifo_paths = []
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def _result(self, w: _Worker) -> PoolResult:
        d = w.done or {}
        return PoolResult(index=w.index, pid=w.process.pid if w.process else 0,
                          packets=d.get("packets", 0), flows=d.get("flows", 0),
                          kernel=d.get("kernel", {}),
                          exitcode=w.process.exitcode if w.process else None, error=w.error)


# ---------------------------------------------------------------------- the worker

def _worker_main(index, values, log_dir, conn, iface, source_options, fanout_group,
                 target, profiles, per_worker_files, close_fds, parent_pid) -> None:
    """Body of worker `index` (forked): open the capture, drop privileges, run."""
    for fd in close_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    engine_box: list = []
    stopping = []

    def on_term(signum, frame):
        stopping.append(signum)
        if engine_box:
            engine_box[0].stop()

    def on_hup(signum, frame):
        if engine_box:
            engine_box[0].reopen_outputs()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, on_hup if per_worker_files else signal.SIG_IGN)
    _die_with_parent(parent_pid)
    status = 1
    try:
        status = _worker_run(index, values, log_dir, conn, iface, source_options,
                             fanout_group, target, profiles, engine_box, stopping)
    except BaseException as exc:  # reported to the parent, never a traceback per worker
        _send(conn, ("error", str(exc) or type(exc).__name__))
    finally:
        conn.close()
    sys.stdout.flush()
    os._exit(status)


def _worker_run(index, values, log_dir, conn, iface, source_options, fanout_group,
                target, profiles, engine_box, stopping) -> int:
    from wirescore import privileges
    from wirescore.engine import Engine, RunFault
    from wirescore.live import LiveSource

    cfg = Config.load(overrides=values)
    try:
        source = LiveSource(iface, fanout_group=fanout_group, **source_options)
    except WirescoreError as exc:
        _send(conn, ("error", str(exc)))
        return 1
    try:
        privileges.drop(target)
    except WirescoreError as exc:
        source.close()
        _send(conn, ("error", str(exc)))
        return 1
    engine = Engine(cfg, log_dir, profiles=profiles)
    engine_box.append(engine)
    if stopping:
        engine.stop()
    _send(conn, ("ready", os.getpid()))
    fault = None
    try:
        summary = engine.run_source(source)
    except RunFault as exc:
        summary, fault = exc.summary, str(exc)
    done = {"packets": summary.packets, "flows": summary.flows, "alerts": summary.alerts,
            "counters": summary.counters, "nonip_ethertypes": summary.nonip_ethertypes,
            "kernel": source.stats()}
    _send(conn, ("done", done))
    if fault:
        _send(conn, ("error", fault))
        return 1
    return 0


def _send(conn, message) -> None:
    try:
        conn.send(message)
    except (OSError, ValueError):  # the parent is gone: nothing to tell
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


# ---------------------------------------------------------------------- one process

def run_one(cfg: Config, iface: str, log_dir: str | os.PathLike = ".", *,
            user: str | None = None, group: str | None = None, on_engine=None,
            on_progress=None, source_options: dict | None = None):
    """One capture in this process (--workers 1): open the interface, drop to
    user/group if given, run the engine until stop() (privileges.run_dropped; on_engine
    as there). Returns the engine.Summary."""
    from wirescore import privileges
    from wirescore.live import LiveSource, options_from_config

    options = options_from_config(cfg) if source_options is None else source_options
    return privileges.run_dropped(cfg, lambda: LiveSource(iface, **options), log_dir,
                                  user=user, group=group, on_engine=on_engine,
                                  on_progress=on_progress)
