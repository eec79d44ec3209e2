"""`wirescore serve`: how long from an alert line reaching eve.json to its delivery on the
dashboard's WebSocket (the page shows it on that message; tests/test_serve_browser.py
records the same to the row on a real page, in tests/artefacts/serve/browser.json).

One round: append one alert line (a copy of a real alert of ndpi-synscan.pcap, new
timestamp) and wait for the {"type": "alerts"} message that carries it. The server runs
in a thread of this process (uvicorn, the app as `wirescore serve` builds it) and polls
the file every settings.poll_s (0.1 s), so the expected figure is about half of that.
Skipped when the serve extra is absent. Nothing is asserted about time.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="needs the serve extra: pip install 'wirescore[serve]'")
ws_client = pytest.importorskip("websockets.sync.client",
                                reason="needs websockets >= 12 (the serve extra)")

REPO = Path(__file__).resolve().parent.parent
SYNSCAN = REPO / "tests" / "data" / "pcaps" / "ndpi-synscan.pcap"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(eve.json path, an alert event to copy, the server's port) over a real run."""
    import uvicorn

    from wirescore.serve.app import build_app
    from wirescore.serve.server import ws_protocol

    logdir = tmp_path_factory.mktemp("serve-bench")
    subprocess.run([sys.executable, "-m", "wirescore", "run", "-r", SYNSCAN, "-l", logdir],
                   check=True, capture_output=True)
    alert = next(e for e in map(json.loads, (logdir / "eve.json").read_text().splitlines())
                 if e["event_type"] == "alert")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app(logdir), port=port, log_level="warning",
                                           ws=ws_protocol(), access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield logdir / "eve.json", alert, port
    server.should_exit = True
    thread.join(30)


def test_append_to_websocket_delivery(benchmark, served):
    eve, alert, port = served
    with ws_client.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"
        seq = {"n": 0}

        def one_alert():
            seq["n"] += 1
            src = f"10.200.{seq['n'] >> 8 & 255}.{seq['n'] & 255}"
            line = dict(alert, src_ip=src, timestamp=datetime.now(timezone.utc)
                        .strftime("%Y-%m-%dT%H:%M:%S.%f+0000"))
            with open(eve, "ab") as fh:
                fh.write((json.dumps(line) + "\n").encode())
            while True:
                m = json.loads(ws.recv(timeout=30))
                if m["type"] == "alerts" and any(a["src_ip"] == src for a in m["alerts"]):
                    return

        benchmark.pedantic(one_alert, rounds=20, iterations=1, warmup_rounds=1)
    benchmark.extra_info["what"] = "alert line appended -> delivered on the WebSocket"
