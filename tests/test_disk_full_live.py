"""A live capture whose log directory fills up and empties again (issue 23, part 2).

`wirescore run -i ws-a` on a veth pair (tests/test_live.py's Wire) writes into a 4 MiB
tmpfs that a filler file has nearly filled (96 KiB left). The capture is replayed into it:

1. the disk fills: one line names "No space left on device", the process goes on;
2. two more replays while it is full: the lines wait in the 1 MiB queue (--eve-buffer 1),
   the newest beyond it are dropped;
3. the filler is deleted and SIGHUP sent (a retry at once instead of after the back-off):
   "writing again"; one more replay, whose flows reach eve.json;
4. SIGINT: exit status 0.

Throughout, a reader tails eve.json as a log shipper would: it consumes only up to the
last newline and checks each line it consumes parses as JSON, and that the file never
shrinks below what it has consumed. "No partial line at any moment" is this: a cut
line that the next write appended to would be consumed as one broken line; a line being
written, or the unwritten part of a line taken back after a failed write, lies after
the last newline and is never consumed. After the run every line parses, the last stats
event's health object counts the dropped lines, and its decoder.pkts counts the packets
of the replays sent while the disk was full (capture and detection went on).

With 1 worker (in the process) and 2 (the parent writes eve.json; the workers' lines
come through pipes). Needs root, `ip netns` and tcpreplay (skipped otherwise, as
tests/test_live.py).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import FIXTURES, REPO
from test_live import CAP_IF, WHY_NOT, wire_up

SYNSCAN = FIXTURES / "ndpi-synscan.pcap"        # 2011 packets, ~1.1 MB of EVE lines
PACKETS = 2011


@pytest.fixture
def disk(tmp_path):
    if WHY_NOT:
        pytest.skip(WHY_NOT)
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def wire():
    w = wire_up(f"df{os.getpid()}")
    yield w
    w.down()


class Tail:
    """Tails a file as a log shipper does (module docstring); `errors` lists what it
    found wrong, `lines` what it consumed, `max_size` the largest size seen."""

    def __init__(self, path):
        self.path = path
        self.consumed = 0
        self.lines = 0
        self.max_size = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pending = b""
        while not self._stop.is_set():
            self._read_once(pending_box := [pending])
            pending = pending_box[0]
            time.sleep(0.002)
        self._read_once([pending])

    def _read_once(self, box: list) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            size = os.fstat(fd).st_size
            self.max_size = max(self.max_size, size)
            if size < self.consumed:
                self.errors.append(f"shrank to {size} below {self.consumed} consumed")
                return
            data = os.pread(fd, size - self.consumed, self.consumed)
        finally:
            os.close(fd)
        cut = data.rfind(b"\n") + 1
        for line in data[:cut].splitlines():
            try:
                json.loads(line)
            except ValueError:
                self.errors.append(f"a broken line at {self.consumed}: {line[:120]!r}")
            self.lines += 1
        self.consumed += cut

    def start(self) -> "Tail":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(10)


class Stderr:
    """Collects a process's stderr lines on a thread."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return True
            time.sleep(0.05)
        return False

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_live_run_survives_a_full_disk(wire, disk, workers):
    logdir = disk / "logs"
    logdir.mkdir()
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler.write_bytes(b"\0" * max(0, free - (96 << 10)))
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen(
        wire.ns_cmd(sys.executable, "-m", "wirescore", "run", "-i", CAP_IF, "-l", str(logdir),
                    "--stats-interval", "1", "--eve-buffer", "1",
                    "--flow-timeout-tcp-new", "1", "--flow-timeout-tcp-closed", "1",
                    "--flow-timeout-tcp-established", "1", "--workers", str(workers)),
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    err = Stderr(proc.stderr)
    tail = Tail(logdir / "eve.json").start()
    try:
        assert err.wait_for("capturing", 30), "\n".join(err.lines)
        sent = wire.replay(SYNSCAN)["sent"]
        assert err.wait_for("No space left on device", 30), "\n".join(err.lines)
        assert proc.poll() is None, "\n".join(err.lines)
        for _ in range(2):                           # while full: queued, then dropped
            sent += wire.replay(SYNSCAN)["sent"]
            time.sleep(2.5)
        assert proc.poll() is None and err.count("writing again") == 0, "\n".join(err.lines)
        size_full = tail.max_size
        filler.unlink()
        proc.send_signal(signal.SIGHUP)              # retry at once, not after the back-off
        assert err.wait_for("writing again", 10), "\n".join(err.lines)
        resumed_at = time.time()
        sent += wire.replay(SYNSCAN)["sent"]
        time.sleep(3)                                # flows of the last replay time out
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, "\n".join(err.lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        tail.stop()
    err.thread.join(10)
    assert sent == 4 * PACKETS
    assert not tail.errors, tail.errors[:5]
    data = (logdir / "eve.json").read_bytes()
    assert data.endswith(b"\n")
    events = [json.loads(line) for line in data.splitlines()]
    assert tail.consumed == len(data) and tail.lines == len(events)
    assert len(data) > size_full                     # writing resumed
    # one line names the cause when the episode starts, one when it ends
    assert err.count("cannot write: No space left on device") == 1, "\n".join(err.lines)
    assert err.count("EVE file") and err.count("writing again") >= 1
    from wirescore import health

    last = events[-1]
    assert last["event_type"] == "stats", last
    h = health.get(last)
    assert h["capture_state"] == "stopped"
    assert h["outputs"]["eve"]["dropped"] > 0 and h["outputs"]["eve"]["state"] == "writing"
    drops = last["stats"]["capture"]["kernel_drops"]
    assert h["kernel_drops"] == drops
    # every packet was decoded, those sent while the disk was full too
    assert last["stats"]["decoder"]["pkts"] + drops >= sent, last["stats"]
    late = [e for e in events if e["event_type"] == "flow"
            and e["flow"]["start"] >= time.strftime("%Y-%m-%dT%H:%M:%S",
                                                    time.gmtime(resumed_at))]
    assert len(late) >= PACKETS // 2, "the replay after the disk had room again is missing"
    print("health", h, "decoder.pkts", last["stats"]["decoder"]["pkts"], "sent", sent,
          "lines", len(events), "late flows", len(late), "tail reads consumed", tail.consumed)
    stats = [e for e in events if e["event_type"] == "stats"]
    pkts = [e["stats"]["decoder"]["pkts"] for e in stats]
    assert pkts == sorted(pkts)
