"""EVE file rotation (outputs/rotation.py) and SIGHUP reopen under load: by size with N
kept, by packet-time interval with strftime names, and a logrotate-style move + SIGHUP
loop against a run fed through a pipe. Every line stays whole, in one file, none lost:
the rotated files joined in order are the file a run without rotation writes.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import FIXTURES

from wirescore.config import Config
from wirescore.engine import Engine
from wirescore.outputs.rotation import RotatingWriter

SYNSCAN = FIXTURES / "ndpi-synscan.pcap"       # 23 s of packet time, 1,998 EVE lines


def run(logdir: Path, **settings) -> None:
    Engine(Config({"capture.batch_size": 64, **settings}), logdir).run(str(SYNSCAN))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> bytes:
    logdir = tmp_path_factory.mktemp("ref")
    run(logdir)
    return (logdir / "eve.json").read_bytes()


def numbered(logdir: Path, name: str = "eve.json") -> list[Path]:
    """eve.json.N .. eve.json.1, eve.json: oldest first."""
    files = sorted(logdir.glob(f"{name}.*"), key=lambda p: -int(p.suffix[1:]))
    return files + [logdir / name]


def test_size_rotation_keeps_every_line_whole_and_in_order(tmp_path, reference):
    limit = 64 << 10
    run(tmp_path, **{"outputs.eve.rotate_bytes": limit, "outputs.eve.rotate_keep": 1000})
    files = numbered(tmp_path)
    assert len(files) == len(reference) // limit + 1
    assert b"".join(f.read_bytes() for f in files) == reference
    for f, after in zip(files[:-1], files[1:]):
        data = f.read_bytes()
        # full: at most the size, and the next file's first line would not have fit
        first = after.read_bytes().split(b"\n", 1)[0] + b"\n"
        assert data.endswith(b"\n") and len(data) <= limit < len(data) + len(first)


def test_size_rotation_keeps_only_the_newest_n(tmp_path, reference):
    run(tmp_path, **{"outputs.eve.rotate_bytes": 32 << 10, "outputs.eve.rotate_keep": 3})
    files = numbered(tmp_path)
    assert [f.name for f in files] == ["eve.json.3", "eve.json.2", "eve.json.1", "eve.json"]
    kept = b"".join(f.read_bytes() for f in files)
    assert reference.endswith(kept) and kept.startswith(b"{") and len(kept) < len(reference)


def test_interval_rotation_names_each_file_for_its_interval(tmp_path, reference,
                                                            monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        run(tmp_path, **{"outputs.eve.filename": "eve-%H%M%S.json",
                         "outputs.eve.rotate_interval": 5})
    finally:
        monkeypatch.undo()
        time.tzset()
    files = sorted(tmp_path.glob("eve-*.json"))
    # the capture's 23 s (20:24:16 .. 20:24:39): files of the intervals from :15 (the
    # first alert) to :35 (the last stats event), each for an interval lines fell in
    names = [f.name for f in files]
    assert names[0] == "eve-202415.json" and names[-1] == "eve-202435.json"
    assert set(names) <= {f"eve-2024{s:02d}.json" for s in (15, 20, 25, 30, 35)}
    assert b"".join(f.read_bytes() for f in files) == reference
    for f in files:
        start = datetime.strptime("2010-07-04 " + f.name[4:10], "%Y-%m-%d %H%M%S").replace(
            tzinfo=timezone.utc).timestamp()
        for line in f.read_text().splitlines():
            stamp = datetime.strptime(json.loads(line)["timestamp"],
                                      "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
            assert stamp < start + 5, (f.name, line[:80])


def test_a_plain_name_rotated_by_interval_is_numbered(tmp_path, reference):
    run(tmp_path, **{"outputs.eve.rotate_interval": 10})
    files = numbered(tmp_path)
    assert [f.name for f in files] == ["eve.json.2", "eve.json.1", "eve.json"]
    assert b"".join(f.read_bytes() for f in files) == reference


def test_sighup_and_logrotate_moves_under_load_lose_no_line(tmp_path):
    """A run fed through a pipe for several seconds; meanwhile eve.json is moved away and
    SIGHUP sent, again and again, as logrotate does. Every line of every file parses,
    and the flows and alerts in them are those the run's summary counts."""
    logdir = tmp_path / "logs"
    proc = subprocess.Popen([sys.executable, "-m", "wirescore", "run", "-r", "-", "-l",
                             str(logdir), "--read-timeout", "20"],
                            stdin=subprocess.PIPE, stderr=(tmp_path / "err").open("wb"))
    moved: list[Path] = []
    done = threading.Event()

    def rotate():
        n = 0
        while not done.is_set():
            time.sleep(0.05)
            if (logdir / "eve.json").exists():
                n += 1
                target = logdir / f"moved.{n:04d}"
                os.rename(logdir / "eve.json", target)
                moved.append(target)
                proc.send_signal(signal.SIGHUP)

    data = SYNSCAN.read_bytes()
    thread = threading.Thread(target=rotate, daemon=True)
    thread.start()
    try:
        for i in range(0, len(data), 2048):          # ~3.6 s of feeding
            proc.stdin.write(data[i:i + 2048])
            proc.stdin.flush()
            time.sleep(0.05)
    finally:
        # no SIGHUP once the input ends: a run past its signal handlers would die of it
        done.set()
        thread.join(timeout=10)
        proc.stdin.close()
        proc.wait(timeout=120)
    err = (tmp_path / "err").read_text()
    assert proc.returncode == 0, err[-2000:]
    assert len(moved) >= 10, "too few rotations to test anything"
    files = moved + ([logdir / "eve.json"] if (logdir / "eve.json").exists() else [])
    assert sum(1 for f in files if f.stat().st_size) >= 3, "lines did not follow SIGHUP"
    events = []
    for f in files:
        text = f.read_text()
        assert not text or text.endswith("\n"), f
        events += [json.loads(line) for line in text.splitlines()]
    summary = next(line for line in err.splitlines() if "packets/s" in line)
    flows = int(summary.split(" flows,")[0].rsplit(" ", 1)[1])
    alerts = int(summary.split(" alerts,")[0].rsplit(" ", 1)[1])
    kinds = [e["event_type"] for e in events]
    assert (kinds.count("flow"), kinds.count("alert")) == (flows, alerts) != (0, 0)
    assert len({e["flow_id"] for e in events if e["event_type"] == "flow"}) == flows


def test_a_timed_name_opens_at_the_first_line(tmp_path):
    writer = RotatingWriter(tmp_path / "eve-%Y.json", interval_s=3600)
    assert list(tmp_path.iterdir()) == []
    us = int(datetime(2010, 7, 4, 20, tzinfo=timezone.utc).timestamp() * 1e6)
    writer.write_ordered([b'{"a":1}\n'], [us])
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["eve-2010.json"]
