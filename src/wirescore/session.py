"""One run from the command line: resolve -> open -> drop privileges -> run.

    summary = run_file(cfg, "capture.pcap", "logs")   # -r FILE (or - for standard input)
    summary = run_live(cfg, "eth0", "logs")           # -i IFACE, one process or --workers N

The steps, in this order, and why:

1. Session.start(): resolve --user/--group (a bad name fails before anything else),
   check every output path (wirescore.outputs.paths: the log directory, the EVE file,
   the export, the snippets directory; one line for the first that cannot be written,
   before anything is read or dropped), load the detection profiles and import what the
   engine imports on first use: after dropping, the install (a virtualenv under /root,
   say) may be unreadable.
2. Session.run(open_source): open the packet source, which may need root (a live
   capture needs CAP_NET_RAW and CAP_NET_ADMIN; reading an open handle does not);
3. drop privileges (wirescore.privileges: the outputs are created first, owned by the
   target user, and checked writable by it after);
4. run the Engine until the source ends, a signal stops it (wirescore.signals: SIGTERM
   and SIGINT stop, SIGHUP reopens eve.json) or something fails.

--workers N (wirescore.workers.pool.WorkerPool): the parent does step 1, forks the
workers, each of which does steps 2 to 4 with the session the parent made
(Session.for_worker: its own file names), then the parent drops privileges itself.
"""
from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Callable, Optional

from wirescore import privileges, signals, status
from wirescore.alerts import load_profiles
from wirescore.errors import WirescoreError
from wirescore.outputs import paths
from wirescore.outputs.eve_targets import regular_files

log = logging.getLogger(__name__)

#: what a run imports on first use, imported before dropping privileges
LAZY_IMPORTS = ("wirescore.engine", "wirescore.detect", "wirescore.rules",
                "wirescore.sources", "wirescore.outputs.export", "wirescore.outputs.snippets",
                "wirescore.outputs.eve_sockets",
                "wirescore._core.eve", "wirescore._core.flowtable", "wirescore._core.decode")


class Session:
    """A run's settings, log directory, who to become (privileges.Target or None) and
    detection profiles (None: detection off); see the module docstring."""

    def __init__(self, cfg, log_dir, target, profiles, outputs: list):
        self.cfg, self.log_dir = cfg, Path(log_dir)
        self.target, self.profiles, self.outputs = target, profiles, outputs

    @classmethod
    def start(cls, cfg, log_dir, workers: int = 0, per_worker_files: bool = False
              ) -> "Session":
        """Step 1 (see the module docstring). workers: 0 for a run in this process,
        else the number of worker processes (their file names)."""
        target = privileges.resolve(cfg["run.user"], cfg["run.group"])
        outputs = paths.run_outputs(cfg, log_dir, workers, per_worker_files,
                                    regular_files(cfg))
        paths.check(outputs)
        return cls(cfg, log_dir, target, preload(cfg), outputs)

    def for_worker(self, cfg) -> "Session":
        """The same run for one worker process: its own settings (file names)."""
        return Session(cfg, self.log_dir, self.target, self.profiles,
                       paths.run_outputs(cfg, self.log_dir, more_eve=regular_files(cfg)))

    def prepare(self) -> None:
        """Before step 3: create the log directory and the output files for the target
        user (nothing without --user/--group: the engine creates them)."""
        if self.target is not None:
            privileges.prepare_outputs(self.target, self.log_dir, self._paths(False))

    def drop(self) -> None:
        """Step 3: become the target user, and check that it can write the outputs."""
        if self.target is not None:
            privileges.drop(self.target)
            privileges.check_writable(self.target, self.log_dir,
                                      self._paths(False) + self._paths(True))

    def _paths(self, folders: bool) -> list[str]:
        return [os.path.abspath(o.path) for o in self.outputs if o.is_dir == folders]

    def run(self, open_source: Callable, *, switch: Optional[signals.StopSwitch] = None,
            on_ready: Optional[Callable] = None, **engine_options):
        """Steps 2 to 4: open_source() (called with privileges), drop, run an Engine
        (engine_options: its callbacks) until the source ends or a stop. Without a
        switch, SIGTERM/SIGINT/SIGHUP are handled here for the run's time; a worker
        passes the switch its own handlers feed. on_ready(engine) is called once
        privileges are dropped, before the first packet. Returns the engine.Summary."""
        from wirescore.engine import Engine

        source = open_source()
        try:
            self.prepare()
            self.drop()
        except BaseException:
            source.close()
            raise
        # the command line logs what a run reports of itself (-v shows it)
        engine_options.setdefault("on_status", status.log_status)
        engine_options.setdefault("on_error", status.log_error)
        engine = Engine(self.cfg, self.log_dir, profiles=self.profiles, **engine_options)
        restore = None
        if switch is None:
            switch = signals.StopSwitch()
            restore = signals.install(switch.stop, switch.reopen)
        switch.attach(engine)
        try:
            if on_ready is not None:
                on_ready(engine)
            return engine.run_source(source)
        finally:
            if restore is not None:
                restore()


def preload(cfg) -> Optional[list]:
    """Load the detection profiles (None when detection is off) and import what a run
    imports on first use, with the models and libraries the profiles and the export
    need, so that nothing needs reading from the install after dropping privileges."""
    for module in LAZY_IMPORTS:
        importlib.import_module(module)
    export = cfg["outputs.export"]
    feature_set = cfg["outputs.export_feature_set"]
    if feature_set:                 # refused before the first packet, in one line
        from wirescore.errors import WirescoreError
        from wirescore.featuresets import get

        if not export:
            raise WirescoreError(f"--feature-set {feature_set}: needs --export FILE (it "
                                 "names the export's columns)")
        get(feature_set).require_records()
    if export and str(export).endswith(".parquet"):
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            pass                    # the exporter reports it, with its own message
    # loading builds (so imports) every profile's model: a worker's or a second run's
    # fresh model needs nothing more from the install
    profiles = load_profiles(cfg)
    return profiles


def run_file(cfg, path: str, log_dir, on_progress: Optional[Callable] = None):
    """-r PATH: one process reads a capture file, standard input ("-") or a remote
    interface (ssh://..., wirescore.sources)."""
    from wirescore.sources import open_input

    session = Session.start(cfg, log_dir)
    return session.run(lambda: open_input(path, cfg), on_progress=on_progress)


def run_live(cfg, iface: str, log_dir):
    """-i IFACE: one capture in this process, or --workers N processes in a fanout
    group (--eve-per-worker always runs workers: their files are eve.<n>.json)."""
    from wirescore.live import LiveSource, options_from_config

    workers, per_worker = cfg["capture.workers"], cfg["outputs.eve.per_worker"]
    if workers > 1 or per_worker:
        from wirescore.workers.pool import WorkerPool

        if per_worker and (cfg["outputs.eve.filetype"] != "regular"
                           or cfg["outputs.eve.also"]):
            raise WirescoreError("--eve-per-worker writes one EVE file per worker: "
                                 f"outputs.eve.filetype {cfg['outputs.eve.filetype']!r} "
                                 "and outputs.eve.also need one EVE stream (leave out "
                                 "--eve-per-worker)")

        session = Session.start(cfg, log_dir, workers, per_worker)
        return WorkerPool(session, iface, workers=workers, per_worker_files=per_worker,
                          fanout_group=cfg["capture.fanout_group"]).run()

    def ready(engine) -> None:
        log.info("%s: capturing (1 worker, in this process); SIGTERM or Ctrl-C stops, "
                 "SIGHUP reopens eve.json", iface)

    session = Session.start(cfg, log_dir)
    return session.run(lambda: LiveSource(iface, **options_from_config(cfg)), on_ready=ready)
