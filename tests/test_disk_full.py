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
