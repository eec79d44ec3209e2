"""Shared fixtures: where the captures are, and how to run wirescore.

Two sets of captures:
- tests/data/pcaps/: a few small real captures shipped with the repo (origin and
  licence in tests/data/SOURCES.md); every default test can use them.
- ../shared/data/: the team's larger collection. Suites that need it are skipped,
  with a reason naming the missing folder, when it is absent; CI always has it.
  WIRESCORE_SHARED=/path overrides the location.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data" / "pcaps"
SHARED = Path(os.environ.get("WIRESCORE_SHARED", REPO.parent / "shared")).resolve()
SHARED_DATA = SHARED / "data"
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")

# Several suites start `python -m wirescore` from background threads (test_eve_schema
# runs every capture at once) while the main thread goes on. CPython 3.11 starts
# children with vfork() and releases the GIL around it (gh-104372), so other threads
# run inside the shared address space until the child execs; in CI that ended once in
# "OSError: [Errno 14] Bad address" from exec. fork() gives each child its own copy:
# slower by a few milliseconds per child, never wrong.
if hasattr(subprocess, "_USE_VFORK"):
    subprocess._USE_VFORK = False


def shared_available() -> bool:
    return (SHARED_DATA / "pcaps").is_dir()


def need_shared() -> Path:
    """Return ../shared/data or skip the calling test, saying why."""
    if not shared_available():
        pytest.skip(f"shared captures not found at {SHARED_DATA} (set WIRESCORE_SHARED); "
                    "this suite runs whenever ../shared is present, as in CI")
    return SHARED_DATA


def list_captures(folder: Path) -> list[Path]:
    """Capture files below folder, sorted, by suffix (gzip'd traces excluded)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in CAPTURE_SUFFIXES)


def shared_captures(*subdirs: str) -> list[Path]:
    """Captures under ../shared/data/pcaps/<subdir>... ([] when shared is absent)."""
    if not shared_available():
        return []
    out: list[Path] = []
    for sub in subdirs or ("",):
        out += list_captures(SHARED_DATA / "pcaps" / sub)
    return out


def fixture_captures() -> list[Path]:
    return list_captures(FIXTURES)


# Linux carries a process's peak RSS across exec (signal->maxrss), so a child spawned
# straight from pytest reports pytest's own peak (200-300 MB late in a full run, more once
# scikit-learn and onnxruntime are loaded). A small launcher (python -S) spawns the
# command instead and prints that grandchild's wait4 ru_maxrss (KiB) as its last line of
# stdout; its exit status is the grandchild's.
RSS_LAUNCHER = ("import os, sys, subprocess\n"
                "p = subprocess.Popen(sys.argv[1:])\n"
                "_, status, usage = os.wait4(p.pid, 0)\n"
                "print(usage.ru_maxrss, flush=True)\n"
                "sys.exit(os.waitstatus_to_exitcode(status))\n")


def with_peak_rss(cmd: list) -> list:
    """cmd run through RSS_LAUNCHER (read the peak with peak_rss_mb(stdout))."""
    return [sys.executable, "-S", "-c", RSS_LAUNCHER, *map(str, cmd)]


def peak_rss_mb(stdout) -> float:
    """The launcher's report: the command's peak RSS in MB (MiB)."""
    text = stdout.decode() if isinstance(stdout, bytes) else stdout
    return int(text.split()[-1]) / 1024


def run_wirescore(*args: str, check: bool = True, stdin=None, timeout: float = 600):
    """Run `python -m wirescore ARGS` in a subprocess; returns CompletedProcess (text)."""
    proc = subprocess.run([sys.executable, "-m", "wirescore", *map(str, args)],
                          capture_output=True, text=True, stdin=stdin, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"wirescore {' '.join(map(str, args))} exited {proc.returncode}:\n"
                             f"{proc.stderr[-4000:]}")
    return proc


def read_eve(logdir: Path) -> list[dict]:
    """Every line of LOGDIR/eve.json parsed (fails on a partial line)."""
    lines = (Path(logdir) / "eve.json").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def run_capture(tmp_path):
    """run_capture(pcap, *extra_args) -> (events, CompletedProcess) with --no-detect."""
    counter = {"n": 0}

    def _run(pcap, *extra, check=True):
        counter["n"] += 1
        logdir = tmp_path / f"logs{counter['n']}"
        proc = run_wirescore("run", "-r", pcap, "-l", logdir, "--no-detect", *extra, check=check)
        events = read_eve(logdir) if (logdir / "eve.json").exists() else []
        return events, proc

    return _run
