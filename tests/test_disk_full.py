"""A log directory on a file system that fills up mid-run (a real 256 KiB tmpfs): the run
stops with one line that says the disk is full, and eve.json ends with a whole line (the
part of a line a failed write left is taken back), so a reader tailing it and the next run
appending to it never meet a cut JSON object. Needs root (mount); skipped otherwise.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import FIXTURES, run_wirescore

SYNSCAN = FIXTURES / "ndpi-synscan.pcap"        # ~1.1 MB of EVE lines


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_leaves_whole_lines_and_says_so(tmp_path, small_disk):
    reference_dir = tmp_path / "ref"
    run_wirescore("run", "-r", SYNSCAN, "-l", reference_dir, "--no-detect")
    reference = (reference_dir / "eve.json").read_bytes()
    assert len(reference) > 4 * 256 * 1024
    logdir = small_disk / "logs"
    proc = run_wirescore("run", "-r", SYNSCAN, "-l", logdir, "--no-detect",
                         "--batch-size", "64", check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "No space left on device" in last and "eve.json" in last, last
    data = (logdir / "eve.json").read_bytes()
    assert data and data.endswith(b"\n"), data[-200:]
    assert reference.startswith(data)                   # whole lines, in order
    for line in data.splitlines():
        json.loads(line)
    # the next run appends to a clean file: its first line starts a line
    proc = run_wirescore("run", "-r", SYNSCAN, "-l", logdir, "--no-detect", check=False)
    after = (logdir / "eve.json").read_bytes()
    assert after.startswith(data) and (after == data or after.endswith(b"\n"))


# ---------------------------------------------------------------------- a live run's writers

def fill(disk, leave: int = 0) -> "os.PathLike":
    """A filler file that takes every free byte of `disk` but about `leave`."""
    filler = disk / "filler"
    st = os.statvfs(disk)
    size = max(0, st.f_bavail * st.f_frsize - leave)
    with open(filler, "wb") as fh:
        try:
            fh.write(b"\0" * size)
            fh.flush()
        except OSError:
            pass
    return filler


def make_lines(first: int, n: int, pad: int = 200) -> list[str]:
    return [json.dumps({"n": i, "pad": "x" * pad}) for i in range(first, first + n)]


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def numbers(path) -> list[int]:
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), data[-100:]
    return [json.loads(line)["n"] for line in data.splitlines()]


def test_a_live_writer_keeps_lines_while_full_and_resumes(small_disk, caplog):
    """live=True: a full disk raises nothing; the unwritten lines wait (bounded), the
    newest beyond the bound are dropped and counted, one warning names the cause, and
    once there is room the waiting lines follow the written ones in order."""
    from wirescore.outputs import eve_file as eve

    clock = FakeClock()
    path = small_disk / "eve.json"
    writer = eve.EveWriter(path, live=True, buffer_bytes=64 << 10, clock=clock)
    filler = fill(small_disk, leave=40 << 10)
    sent = 0
    with caplog.at_level("WARNING", logger="wirescore.outputs"):
        for _ in range(60):                      # ~12 KiB a call: 720 KiB in all
            writer.write_lines(make_lines(sent, 60))
            sent += 60
            assert numbers(path) == list(range(len(numbers(path))))   # whole, in order
    on_disk = len(numbers(path))
    assert 0 < on_disk < sent
    h = writer.health()
    assert h["state"] == "waiting" and 0 < h["queued_bytes"] <= 64 << 10
    assert h["dropped"] > 0
    causes = [r.getMessage() for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(causes) == 1 and "No space left on device" in causes[0], causes
    # no room yet: a due retry fails again, nothing lost or cut
    clock.now += eve.RETRY_MAX_S
    writer.pump()
    assert len(numbers(path)) == on_disk
    os.unlink(filler)
    writer.pump()                                # the back-off has doubled: not due yet
    assert len(numbers(path)) == on_disk
    clock.now += eve.RETRY_MAX_S
    writer.write_lines(make_lines(sent, 5))      # queued behind, then all go out
    got = numbers(path)
    c = writer.counters()
    assert c["wirescore.output.eve.dropped"] == h["dropped"]
    assert c["wirescore.output.eve.lines"] == len(got)
    assert c["wirescore.output.eve.reconnects"] == 1
    assert len(got) + c["wirescore.output.eve.dropped"] == sent + 5
    # what is missing is one run of the newest lines of the outage, the rest in order
    assert got == sorted(got) and got[-5:] == list(range(sent, sent + 5))
    missing = sorted(set(range(sent + 5)) - set(got))
    assert missing == list(range(missing[0], missing[0] + len(missing)))
    assert writer.health() == {"state": "writing", "queued_bytes": 0,
                               "dropped": c["wirescore.output.eve.dropped"]}
    writer.close()


def test_sighup_retries_at_once_and_a_vanished_directory_waits(small_disk):
    """reopen() (SIGHUP) tries the waiting lines without waiting for the back-off; a log
    directory that is gone is an outage too, not an end."""
    from wirescore.outputs import eve_file as eve

    clock = FakeClock()
    logdir = small_disk / "logs"
    logdir.mkdir()
    writer = eve.EveWriter(logdir / "eve.json", live=True, buffer_bytes=1 << 20,
                           clock=clock)
    writer.write_lines(make_lines(0, 10))
    os.unlink(logdir / "eve.json")
    logdir.rmdir()
    writer.reopen()                              # ENOENT: waits, raises nothing
    writer.write_lines(make_lines(10, 10))
    assert writer.health()["state"] == "waiting"
    logdir.mkdir()
    writer.reopen()                              # at once, whatever the back-off
    assert numbers(logdir / "eve.json") == list(range(10, 20))
    assert writer.counters()["wirescore.output.eve.dropped"] == 0
    writer.close()


def test_a_file_read_writer_still_raises(small_disk):
    from wirescore.outputs import eve_file as eve

    writer = eve.EveWriter(small_disk / "eve.json")
    fill(small_disk, leave=8 << 10)
    with pytest.raises(OSError):
        for i in range(100):
            writer.write_lines(make_lines(i * 20, 20))
    assert numbers(small_disk / "eve.json") == list(range(len(numbers(small_disk /
                                                                      "eve.json"))))
    assert writer.counters() == {}
    writer.close()


def test_a_live_run_counts_a_snippet_it_cannot_write(small_disk, caplog):
    import numpy as np

    from wirescore.outputs.snippets import SnippetStore

    meta = np.array([[1, 0, 60000, 60000]], dtype=np.uint32)
    data = b"\xab" * 60000
    live = SnippetStore(small_disk / "pcaps", 1, live=True)
    filler = fill(small_disk, leave=100 << 10)
    with caplog.at_level("WARNING", logger="wirescore.outputs"):
        for n in range(6):
            live.write(live.name_for(1, n), data, meta)
    assert live.written >= 1 and live.dropped >= 1 and live.written + live.dropped == 6
    files = sorted(p.stat().st_size for p in (small_disk / "pcaps").glob("*.pcap"))
    assert len(files) == live.written and set(files) == {files[0]}   # no cut file left
    assert sum("No space left on device" in r.getMessage() for r in caplog.records) == 1
    assert live.health()["state"] == "failing"
    os.unlink(filler)
    live.write(live.name_for(1, 99), data, meta)
    assert live.counters() == {"wirescore.output.snippets.files": live.written,
                               "wirescore.output.snippets.dropped": live.dropped,
                               "wirescore.output.snippets.reconnects": 1}
    assert live.written + live.dropped == 7 and live.health()["state"] == "writing"
    fill(small_disk, leave=0)
    plain = SnippetStore(small_disk / "pcaps2", 1)
    with pytest.raises(OSError):
        plain.write(plain.name_for(1, 1), data, meta)


def test_a_live_export_keeps_whole_rows(tmp_path, small_disk):
    """live=True: CSV rows that cannot be written wait and go out whole once there is
    room; the header is written once; rows written + dropped = flows."""
    from wirescore.config import Config
    from wirescore.engine import Engine
    from wirescore.outputs.export import FlowExporter

    got: list = []
    Engine(Config.load(overrides={"detect.enabled": False}), tmp_path / "ref",
           on_flow=lambda r, e: got.append((r.copy(), e))).run(str(SYNSCAN))
    path = small_disk / "flows.csv"
    exporter = FlowExporter(path, live=True, buffer_bytes=1 << 20)
    filler = fill(small_disk, leave=64 << 10)
    for records, events in got:
        exporter.write(records, events)
    text = path.read_bytes()
    assert text.endswith(b"\n")
    width = text.splitlines()[0].count(b",")
    assert all(line.count(b",") == width for line in text.splitlines())
    assert exporter.health()["state"] == "waiting"
    os.unlink(filler)
    exporter.close()                              # one last try: the waiting rows go out
    rows = path.read_bytes().splitlines()
    assert all(line.count(b",") == width for line in rows)
    c = exporter.counters()
    assert c["wirescore.output.export.lines"] == len(rows)
    assert len(rows) - 1 + c["wirescore.output.export.dropped"] == sum(len(r) for r, _ in got)
    assert rows.count(rows[0]) == 1 and rows[0].startswith(b"flow_id,")


def test_a_live_alert_log_waits_too(small_disk):
    """The CEF and notice logs write through the same EveWriter: on a live run a full
    disk raises nothing and leaves whole lines; counted under their label."""
    from wirescore.outputs.alert_logs import AlertLogSink
    from wirescore.outputs.sinks import AlertEvent, WindowBatch

    sink = AlertLogSink(small_disk / "alerts.cef", lambda e: "CEF:0|" + e["pad"], "CEF log",
                        "cef", live=True, buffer_bytes=1 << 20)
    filler = fill(small_disk, leave=16 << 10)
    for n in range(40):
        sink.windows(WindowBatch([AlertEvent({"pad": f"{n}:" + "x" * 1000}, 1, None, n)]))
        sink.end_batch()
    data = (small_disk / "alerts.cef").read_bytes()
    assert data.endswith(b"\n") and len(data.splitlines()) < 40
    assert sink.health()["state"] == "waiting"
    os.unlink(filler)
    sink.close()
    lines = (small_disk / "alerts.cef").read_bytes().splitlines()
    assert [int(line[6:].split(b":")[0]) for line in lines] == list(range(40))
    assert sink.counters() == {"wirescore.output.cef.lines": 40,
                               "wirescore.output.cef.dropped": 0,
                               "wirescore.output.cef.reconnects": 1}


def test_a_live_writer_recreates_a_removed_file(tmp_path):
    from wirescore.outputs import eve_file as eve

    path = tmp_path / "eve.json"
    writer = eve.EveWriter(path, live=True)
    writer.write_lines(make_lines(0, 3))
    path.unlink()
    writer.write_lines(make_lines(3, 3))
    assert numbers(path) == [3, 4, 5]
    plain = eve.EveWriter(tmp_path / "plain.json")            # -r: as before
    (tmp_path / "plain.json").unlink()
    plain.write_lines(make_lines(0, 1))
    assert not (tmp_path / "plain.json").exists()
    writer.close(), plain.close()


def test_a_live_writer_never_waits_for_a_fifo_reader(tmp_path):
    """A --workers relay pipe whose parent died: the worker's live writer must not wait
    for ever in open() for a reader (SIGTERM could then never end the worker). Opening
    with no reader fails at once (ENXIO); with a reader lines go through; after the
    reader goes, lines wait and a reopen fails at once again; a file read's writer keeps
    the plain open. Each call runs on a thread joined with a timeout: a wait fails the
    test instead of hanging it."""
    import errno
    import threading

    from wirescore.outputs.eve_file import EveWriter

    fifo = tmp_path / "relay.pipe"
    os.mkfifo(fifo)

    def returns(fn, seconds=5.0):
        box = {}

        def run():
            try:
                box["value"] = fn()
            except OSError as exc:
                box["error"] = exc
        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(seconds)
        assert not t.is_alive(), "waited for a reader"
        return box

    got = returns(lambda: EveWriter(fifo, live=True))
    assert got["error"].errno == errno.ENXIO
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = returns(lambda: EveWriter(fifo, live=True))["value"]
    writer.write_lines(['{"a":1}'])
    assert os.read(reader, 100) == b'{"a":1}\n'
    os.close(reader)
    # the reader is gone: a write to the pipe fails at once (the worker's run ends) ...
    assert returns(lambda: writer.write_lines(['{"a":2}']))["error"].errno == errno.EPIPE
    # ... and reopening it by name (the path removed and made again, as a new run's
    # pipes are) fails at once too, counted, instead of waiting for a reader
    assert "error" not in returns(writer.reopen)
    assert writer._fd < 0 and writer.health()["state"] != "writing"
    returns(writer.close)
    plain = threading.Thread(target=lambda: EveWriter(fifo), daemon=True)
    plain.start()
    plain.join(0.5)
    assert plain.is_alive()                               # a file read: waits, as before
    os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # lets it go
