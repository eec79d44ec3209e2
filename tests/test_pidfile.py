"""--pidfile: written at start, held by a lock, refused in one line while another run
holds it, a stale one replaced, removed at the end, after an error too."""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time

from conftest import FIXTURES, run_wirescore

PCAP = FIXTURES / "zeek-wikipedia.pcap"


def test_written_while_running_and_removed_at_the_end(tmp_path):
    pid = tmp_path / "w.pid"
    proc = subprocess.Popen([sys.executable, "-m", "wirescore", "run", "-r", "-", "-l",
                             str(tmp_path / "logs"), "--pidfile", str(pid)],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        data = PCAP.read_bytes()
        proc.stdin.write(data[:24])             # the header: the run is under way
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        while not (pid.exists() and pid.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid.read_text() == f"{proc.pid}\n"
        assert oct(pid.stat().st_mode & 0o777) == "0o644"
        # a second run on the same pid file is refused in one line, naming the holder
        second = run_wirescore("run", "-r", PCAP, "-l", tmp_path / "logs2", "--pidfile",
                               pid, check=False)
        assert second.returncode == 1
        assert second.stderr.strip().splitlines() == [
            f"wirescore: error: {pid}: wirescore is already running as process {proc.pid} "
            "(stop it first, or give another --pidfile)"]
        assert not (tmp_path / "logs2").exists()
        proc.stdin.write(data[24:])
        proc.stdin.close()
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not pid.exists()


def test_a_stale_pid_file_is_replaced(tmp_path):
    pid = tmp_path / "w.pid"
    pid.write_text("999999\n")                  # a run that died: nobody holds the lock
    run_wirescore("run", "-r", PCAP, "-l", tmp_path / "logs", "--pidfile", pid)
    assert not pid.exists()


def test_removed_after_an_error(tmp_path):
    pid = tmp_path / "w.pid"
    proc = run_wirescore("run", "-r", tmp_path / "missing.pcap", "-l", tmp_path / "logs",
                         "--pidfile", pid, check=False)
    assert proc.returncode == 1 and "missing.pcap" in proc.stderr
    assert not pid.exists()


def test_a_held_file_is_left_to_its_holder(tmp_path):
    """Refused: the holder's file is neither replaced nor removed."""
    pid = tmp_path / "w.pid"
    fd = os.open(pid, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"4242\n")
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = run_wirescore("run", "-r", PCAP, "-l", tmp_path / "logs", "--pidfile", pid,
                             check=False)
        assert proc.returncode == 1 and "already running as process 4242" in proc.stderr
        assert pid.read_text() == "4242\n"
    finally:
        os.close(fd)


def test_a_pid_file_that_cannot_be_written_is_one_line(tmp_path):
    proc = run_wirescore("run", "-r", PCAP, "-l", tmp_path / "logs", "--pidfile",
                         tmp_path / "no" / "such" / "dir" / "w.pid", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"wirescore: error: {tmp_path}/no/such/dir/w.pid: cannot open the pid file: "
        "No such file or directory"]
