"""The signals of a run, in one place: SIGTERM and SIGINT stop it, SIGHUP reopens its
files (logrotate).

    restore = install(on_stop=engine.stop, on_reopen=engine.reopen_outputs)
    try: ... finally: restore()

Handlers only set flags or write to a wake-up pipe (what on_stop / on_reopen do must be
signal-safe: Engine.stop(), Engine.reopen_outputs(), WorkerPool.stop() are). Python
runs them in the main thread; elsewhere install() does nothing (an embedding program
owns its signals).

StopSwitch: a stop or reopen that arrives before the engine exists (a worker process
starting up) is kept and handed to the engine once attached.
"""
from __future__ import annotations

import signal
import threading
from typing import Callable, Optional


def install(on_stop: Callable[[], None], on_reopen: Optional[Callable[[], None]] = None, *,
            interrupt: bool = True) -> Callable[[], None]:
    """SIGTERM -> on_stop(); SIGINT -> on_stop() (ignored when interrupt is False: a
    terminal's Ctrl-C reaches the whole process group and a worker leaves the decision
    to its parent); SIGHUP -> on_reopen() (ignored when None). Returns restore(), which
    puts back the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    stop = lambda signum, frame: on_stop()                            # noqa: E731
    handlers = {signal.SIGTERM: stop,
                signal.SIGINT: stop if interrupt else signal.SIG_IGN,
                signal.SIGHUP: ((lambda signum, frame: on_reopen())
                                if on_reopen is not None else signal.SIG_IGN)}
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


class StopSwitch:
    """Stop and reopen requests for an engine that may not exist yet."""

    def __init__(self):
        self.engine = None
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True
        if self.engine is not None:
            self.engine.stop()

    def reopen(self) -> None:
        if self.engine is not None:
            self.engine.reopen_outputs()

    def attach(self, engine) -> None:
        """From now on requests go to engine; a stop that came before is passed on."""
        self.engine = engine
        if self.stopped:
            engine.stop()
