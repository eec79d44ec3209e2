"""Every output path is checked before the first packet, and refused in one line.

A run writes the log directory, the EVE file in it, the export (--export) and the
snippets directory (LOGDIR/pcaps/). Each is put where it cannot be written: in a
read-only file system (a tmpfs mounted read-only when the tests run as root, else a
folder of mode 0555), or shadowed by a file of the wrong kind. The command must refuse in
one line naming the path, exit 1, with no traceback, before reading anything (no
eve.json appears); the Python API refuses in one line too (WirescoreError).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, run_wirescore
from wirescore.config import Config
from wirescore.engine import Engine
from wirescore.errors import WirescoreError

PCAP = FIXTURES / "ndpi-synscan.pcap"
IS_ROOT = os.geteuid() == 0


@pytest.fixture
def readonly(tmp_path):
    """A folder nothing can be written in: a read-only tmpfs as root (root may write
    anywhere else), a folder of mode 0555 otherwise. Holds a directory sub/ and a file
    old.json."""
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "sub").mkdir()
    (ro / "old.json").write_text("")
    if IS_ROOT:
        staging = tmp_path / "staging"
        subprocess.run(["cp", "-a", str(ro), str(staging)], check=True)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(ro)],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
        try:
            subprocess.run(["cp", "-a", f"{staging}/.", str(ro)], check=True)
            subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
            yield ro
        finally:
            subprocess.run(["umount", str(ro)], check=True)
    else:
        for p in (ro / "sub", ro):
            p.chmod(0o555)
        try:
            yield ro
        finally:
            for p in (ro, ro / "sub"):
                p.chmod(0o755)


REASONS = ("read-only file system", "permission denied")


def refused(proc, path: Path, what: str, reasons=REASONS) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    prefix = f"wirescore: error: {path}: cannot write the {what} here: "
    assert lines[0].startswith(prefix), lines[0]
    assert lines[0][len(prefix):] in reasons, lines[0]


def test_export_in_a_read_only_place(tmp_path, readonly):
    export = readonly / "flows.csv"
    proc = run_wirescore("run", "-r", PCAP, "-l", tmp_path / "logs", "--export", export,
                         check=False)
    refused(proc, export, "export")
    assert not (tmp_path / "logs").exists(), "the run started before refusing"


def test_export_over_a_read_only_file(tmp_path, readonly):
    proc = run_wirescore("run", "-r", PCAP, "-l", tmp_path / "logs", "--export",
                         readonly / "old.json", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"wirescore: error: {readonly / 'old.json'}: cannot write "
                                  "the export here: "), proc.stderr


def test_log_directory_to_create_in_a_read_only_place(readonly):
    logs = readonly / "new" / "logs"
    proc = run_wirescore("run", "-r", PCAP, "-l", logs, check=False)
    refused(proc, logs, "log directory")


def refused_in_log_dir(tmp_path: Path, name: str, target: Path, what: str) -> Path:
    """LOGDIR/name a symbolic link to target: the run is refused naming LOGDIR/name."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / name).symlink_to(target)
    refused(run_wirescore("run", "-r", PCAP, "-l", logs, check=False), logs / name, what)
    return logs


def test_eve_file_in_a_read_only_place(tmp_path, readonly):
    refused_in_log_dir(tmp_path, "eve.json", readonly / "old.json", "EVE file")
    assert (readonly / "old.json").read_text() == ""


def test_eve_file_that_is_a_directory(tmp_path):
    logs = tmp_path / "logs"
    (logs / "eve.json").mkdir(parents=True)
    proc = run_wirescore("run", "-r", PCAP, "-l", logs, check=False)
    refused(proc, logs / "eve.json", "EVE file", reasons=("is a directory",))


def test_snippets_directory_in_a_read_only_place(tmp_path, readonly):
    logs = refused_in_log_dir(tmp_path, "pcaps", readonly / "sub", "snippets directory")
    assert not (logs / "eve.json").exists(), "the run started before refusing"
    # without detection there are no snippets: nothing to refuse
    assert run_wirescore("run", "-r", PCAP, "-l", logs, "--no-detect").returncode == 0


def test_snippets_directory_that_is_a_file(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "pcaps").write_text("not a folder\n")
    proc = run_wirescore("run", "-r", PCAP, "-l", logs, check=False)
    refused(proc, logs / "pcaps", "snippets directory", reasons=("not a directory",))


def test_export_folder_missing_but_not_the_log_directory(tmp_path):
    """The export may go into the log directory the run creates; not into a folder
    nothing creates."""
    logs = tmp_path / "new" / "logs"
    run_wirescore("run", "-r", PCAP, "-l", logs, "--no-detect", "--export", logs / "f.csv")
    assert (logs / "f.csv").stat().st_size > 0
    proc = run_wirescore("run", "-r", PCAP, "-l", tmp_path / "l2", "--export",
                         tmp_path / "nowhere" / "f.csv", check=False)
    refused(proc, tmp_path / "nowhere" / "f.csv", "export",
            reasons=(f"folder {tmp_path / 'nowhere'} does not exist",))


@pytest.mark.skipif(not IS_ROOT, reason="dropping to another user needs root")
def test_checked_before_privileges_are_dropped(tmp_path, readonly):
    """--user: the check comes before the capture is opened and privileges dropped."""
    export = readonly / "flows.csv"
    proc = run_wirescore("run", "-r", PCAP, "-l", tmp_path / "logs", "--user", "nobody",
                         "--export", export, check=False)
    refused(proc, export, "export")


def test_api_refuses_an_unwritable_export_in_one_line(tmp_path, readonly):
    cfg = Config.load(overrides={"outputs.export": str(readonly / "flows.csv"),
                                 "detect.enabled": False})
    with pytest.raises(WirescoreError) as info:
        Engine(cfg, tmp_path / "logs").run(str(PCAP))
    message = str(info.value)
    assert message.startswith(f"{readonly / 'flows.csv'}: cannot open the export for "
                              "writing: ") and "\n" not in message, message


def test_api_refuses_an_unusable_snippets_directory_in_one_line(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "pcaps").write_text("")
    with pytest.raises(WirescoreError) as info:
        Engine(Config.load(), logs).run(str(PCAP))
    assert str(info.value).startswith(f"{logs / 'pcaps'}: cannot use as the snippets "
                                      "directory: "), str(info.value)
