"""Helpers of the `wirescore serve` tests: a real run's log directory, alert lines
appended as a live run would write them, a server on a free port in a thread, waiting
with a generous timeout (tests check what happens, never how fast: the times measured
are recorded in ARTEFACTS, not asserted)."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO, read_eve, run_wirescore

pytest.importorskip("starlette", reason="the serve extra is not installed: "
                    "pip install 'wirescore[serve]'")

#: where the serve tests keep what they measured and the browser's screenshots
ARTEFACTS = REPO / "tests" / "artefacts" / "serve"
#: the most a test waits for something that takes milliseconds [s]
PATIENCE = 15.0
SYNSCAN = FIXTURES / "ndpi-synscan.pcap"


def real_run(logdir: Path) -> list[dict]:
    """`wirescore run -r ndpi-synscan.pcap -l logdir`: eve.json (3 alerts with
    snippets, 1994 flows, 1 stats event) and pcaps/; returns the events."""
    run_wirescore("run", "-r", SYNSCAN, "-l", logdir)
    return read_eve(logdir)


def alert_like(template: dict, when: datetime, **changes) -> bytes:
    """A copy of a real alert event with a new timestamp (and top-level changes), as
    one EVE line with its newline."""
    event = dict(template)
    event["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    event.update(changes)
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def later(seconds: float) -> datetime:
    return now_utc() + timedelta(seconds=seconds)


def append(path: Path, data: bytes) -> float:
    """Append bytes to a file as a writer does (one write, then closed); returns the
    time.monotonic() just after the write."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return time.monotonic()


def wait_for(check, what: str, timeout: float = PATIENCE, every: float = 0.02):
    """Call check() until it returns something true; fails naming `what` after
    `timeout` s."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """A real uvicorn server with the dashboard app, in a thread, on a free port."""

    def __init__(self, app, host: str = "127.0.0.1"):
        import uvicorn

        from wirescore.serve.server import ws_protocol

        self.host, self.port = host, free_port()
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning",
                                lifespan="on", ws=ws_protocol(), access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self):
        self.thread.start()
        wait_for(lambda: self.server.started, "the server to start")
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(PATIENCE)

    def get_json(self, path: str, headers: dict | None = None):
        req = urllib.request.Request(self.url + path, headers=headers or {})
        with urllib.request.urlopen(req, timeout=PATIENCE) as resp:
            return json.loads(resp.read())


def record(name: str, values: dict) -> Path:
    """Keep measured numbers as ARTEFACTS/<name>.json (merged over what is there)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old.update(values)
    path.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")
    return path
