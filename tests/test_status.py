"""A run that reports itself (wirescore.status): on_status and on_error of the Engine.

Each event kind a run emits, from a file, a pipe (whole and cut inside a record), a stop
request, failing callbacks (on_flow, on_status at start and at stop, on_error while a
failure is reported) and a live link lost and back on test_live.py's veth wire (root
only; the remote source's link_lost / link_back / failed attempts are in
test_remote.py). The command line logs the same events (-v).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from conftest import FIXTURES, REPO

from wirescore.capture import FileSource
from wirescore.config import Config
from wirescore.engine import Engine, RunFault
from wirescore.status import ERROR_KINDS, STATUS_KINDS, ErrorEvent, StatusEvent

PCAP = FIXTURES / "ndpi-synscan.pcap"
PACKETS = 2011


def engine(tmp_path, **callbacks) -> tuple[Engine, list, list]:
    status, errors = [], []
    callbacks.setdefault("on_status", status.append)
    callbacks.setdefault("on_error", errors.append)
    cfg = Config.load(overrides={"detect.enabled": False, "capture.batch_size": 500})
    return Engine(cfg, tmp_path / "logs", **callbacks), status, errors


def _pipe_source(data: bytes) -> FileSource:
    """A FileSource over a pipe that a thread fills with data, then closes."""
    r, w = os.pipe()

    def write():
        with os.fdopen(w, "wb") as f:
            f.write(data)

    threading.Thread(target=write, daemon=True).start()
    return FileSource("pipe-in", fd=r, timeout_ms=20)


def test_a_file_run_reports_opened_start_stop(tmp_path):
    run, status, errors = engine(tmp_path)
    before = time.time()
    summary = run.run(str(PCAP))
    assert [e.kind for e in status] == ["source_opened", "start", "stop"]
    assert errors == []
    assert all(isinstance(e, StatusEvent) and e.kind in STATUS_KINDS for e in status)
    assert all(e.source == str(PCAP) and e.mode == "file" for e in status)
    assert before <= status[0].time <= status[1].time <= status[2].time <= time.time()
    opened, start, stop = status
    assert opened.details == {"linktype": 1, "size_bytes": PCAP.stat().st_size,
                              "iface": None}
    assert opened.message == f"{PCAP}: opened (file)"
    assert start.details == {"log_dir": str(tmp_path / "logs"),
                             "eve": str(tmp_path / "logs" / "eve.json"),
                             "detection": False}
    assert stop.details["packets"] == summary.packets == PACKETS
    assert stop.details["flows"] == summary.flows and stop.details["alerts"] == 0
    assert stop.details["fault"] is None and stop.details["elapsed_s"] >= 0
    assert stop.message == (f"{PCAP}: stopped after {PACKETS} packets, {summary.flows} "
                            "flows, 0 alerts")


def test_a_pipe_run_and_a_pipe_cut_inside_a_record(tmp_path):
    data = PCAP.read_bytes()
    run, status, errors = engine(tmp_path)
    run.run_source(_pipe_source(data))
    assert [(e.kind, e.mode) for e in status] == [("source_opened", "pipe"),
                                                  ("start", "pipe"), ("stop", "pipe")]
    assert status[0].details["size_bytes"] is None and errors == []

    run, status, errors = engine(tmp_path)
    with pytest.raises(RunFault) as info:
        run.run_source(_pipe_source(data[:5000]))
    assert [e.kind for e in status] == ["source_opened", "start", "stop"]
    assert len(errors) == 1 and isinstance(errors[0], ErrorEvent)
    error = errors[0]
    assert (error.kind, error.where, error.fatal, error.mode) == ("capture", "pipe-in",
                                                                  True, "pipe")
    assert error.message == str(info.value)
    assert error.message.startswith("pipe-in: capture damaged after packet ")
    assert status[-1].details["fault"] == error.message
    assert status[-1].details["packets"] == info.value.summary.packets > 0


def test_a_stop_request_is_reported(tmp_path):
    def on_progress(progress):
        if progress.packets >= 1000:
            run.stop()

    run, status, errors = engine(tmp_path, on_progress=on_progress)
    run.run(str(PCAP))
    assert [e.kind for e in status] == ["source_opened", "start", "stopping", "stop"]
    assert status[2].message == f"{PCAP}: stop requested: ending flows and writing stats"
    assert status[3].details["packets"] == 1000 and errors == []


def test_a_failing_flow_callback_is_a_fatal_error_event(tmp_path):
    def on_flow(records, events):
        raise RuntimeError("stop here")

    run, status, errors = engine(tmp_path, on_flow=on_flow)
    with pytest.raises(RunFault):
        run.run(str(PCAP))
    assert [(e.kind, e.where, e.fatal, e.message) for e in errors] == [
        ("callback", "callback on_flow", True, "callback on_flow: RuntimeError: stop here")]
    assert all(e.kind in ERROR_KINDS for e in errors)
    assert status[-1].kind == "stop"
    assert status[-1].details["fault"] == "callback on_flow: RuntimeError: stop here"


@pytest.mark.parametrize("at", ["source_opened", "start", "stop"])
def test_a_failing_status_callback_stops_the_run_and_is_named(tmp_path, at):
    seen = []

    def on_status(event):
        seen.append(event.kind)
        if event.kind == at:
            raise ValueError(f"no {at}")

    run, _, errors = engine(tmp_path, on_status=on_status)
    with pytest.raises(RunFault if at != "source_opened" else Exception) as info:
        run.run(str(PCAP))
    assert str(info.value) == f"callback on_status: ValueError: no {at}"
    assert [(e.kind, e.where, e.fatal) for e in errors] == [
        ("callback", "callback on_status", True)]
    if at == "start":          # before any packet: nothing read, everything closed
        assert info.value.summary.packets == 0
        assert seen == ["source_opened", "start", "stop"]
    elif at == "stop":         # at the very end: every packet read and written
        assert info.value.summary.packets == PACKETS
    else:                      # before the outputs open: not a run at all
        assert not isinstance(info.value, RunFault)
        assert not (tmp_path / "logs" / "eve.json").exists()


def test_a_failing_error_callback_is_logged_and_the_first_failure_stands(tmp_path, caplog):
    def on_flow(records, events):
        raise RuntimeError("first")

    def on_error(event):
        raise KeyError("second")

    run, _, _ = engine(tmp_path, on_flow=on_flow, on_error=on_error)
    with pytest.raises(RunFault) as info:
        run.run(str(PCAP))
    assert str(info.value) == "callback on_flow: RuntimeError: first"
    assert "also: callback on_error: KeyError: 'second'" in caplog.text


def test_the_command_line_logs_the_events(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, "-m", "wirescore", "-v", "run", "-r", str(PCAP),
                           "--no-detect", "-l", str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    for kind, text in (("source_opened", f"{PCAP}: opened (file)"),
                       ("start", f"{PCAP}: running (file), EVE to "),
                       ("stop", f"{PCAP}: stopped after {PACKETS} packets")):
        assert any(line.startswith(f"wirescore: {kind}: {text}") for line in lines), \
            proc.stderr
    quiet = subprocess.run([sys.executable, "-m", "wirescore", "run", "-r", str(PCAP),
                            "--no-detect", "-l", str(tmp_path / "q")], capture_output=True,
                           text=True, env=env, timeout=300)
    assert "stopped after" not in quiet.stderr       # without -v: the summary line only


# ---------------------------------------------------------------------- a live link

def test_a_live_link_lost_and_back(tmp_path):
    """On the veth wire (root): the capture interface down, then up again."""
    from test_link_loss import _wait
    from test_live import CAP_IF, _ip, wire_up
    from wirescore.live import LiveSource

    wire = wire_up(f"st{os.getpid()}")
    run, status, errors = engine(tmp_path)
    box: dict = {}

    def capture():
        try:
            wire.enter_capture_ns()
            box["summary"] = run.run_source(LiveSource(CAP_IF, timeout_ms=50))
        except BaseException as exc:  # re-raised below
            box["error"] = exc

    thread = threading.Thread(target=capture, daemon=True)
    try:
        thread.start()
        _wait(lambda: [e.kind for e in status] == ["source_opened", "start"], "the start")
        _ip("-n", wire.cap_ns, "link", "set", CAP_IF, "down")
        _wait(lambda: "link_lost" in [e.kind for e in status], "the link lost")
        _ip("-n", wire.cap_ns, "link", "set", CAP_IF, "up")
        _wait(lambda: "link_back" in [e.kind for e in status], "the link back")
        run.stop()
        thread.join(60)
    finally:
        run.stop()
        thread.join(60)
        wire.down()
    assert "error" not in box, box
    assert [e.kind for e in status] == ["source_opened", "start", "link_lost", "link_back",
                                        "stopping", "stop"]
    assert all(e.mode == "live" and e.source == CAP_IF for e in status)
    assert status[0].details["iface"] == CAP_IF
    lost, back = status[2], status[3]
    assert lost.message == f"{CAP_IF}: the interface went down during the capture; " \
                           "waiting for it"
    assert back.details["seconds"] > 0 and "capturing again after" in back.message
    assert [(e.kind, e.fatal, e.where, e.message) for e in errors] == [
        ("capture", False, CAP_IF, lost.message)]
