"""Security of the command line's inputs and outputs.

YAML (-c FILE): loaded with yaml.safe_load, so a python tag is refused in one line and
nothing runs; a self-referencing alias or an alias bomb ("billion laughs", 10**9 keys
after expansion) must also end in one line, quickly and in bounded memory.

Files: eve.json and the export files are created with mode 0640 (they describe other
people's traffic) whatever the umask, even umask 000; a log directory that wirescore
creates must not be world-writable either (in a world-writable log directory any local
user can plant eve.json as a symlink to a file of their choosing, which wirescore, often
root, then appends to: eve.json is opened without O_NOFOLLOW, see below).

Paths: `-l DIR` is the operator's choice (any directory, created when missing).
--eve-filename (outputs.eve.filename) is "the name of the EVE-JSON file inside the log
directory" (its help text): a name with "..", an absolute path or a NUL byte must not put
the file elsewhere, and must not end in a traceback.

Current behaviour, documented here (see the report to the lead for the gaps):
- python tags: refused in one line, nothing runs (tested);
- eve.json and CSV export: 0640 under umask 000 (tested); Parquet export: 0640 once
  written, but with no flow at all the empty file keeps 0666 & ~umask (tested when
  pyarrow is installed);
- a log directory created by wirescore gets 0777 & ~umask: 0777 under umask 000;
- --eve-filename "../x.json" or "/abs/x.json" writes outside the log directory, exit 0;
- a NUL byte in outputs.eve.filename (YAML "a\\0b") ends in a ValueError traceback;
- a recursive alias ends in a RecursionError traceback, an alias bomb in a MemoryError
  traceback (or, without a memory limit, exhausts memory);
- an existing eve.json that is a symlink is followed (appended to), like Suricata.
"""
from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES

PCAP = FIXTURES / "zeek-wikipedia.pcap"          # TCP, UDP, ICMPv6, ARP
FILE_MODE = 0o640
ADDRESS_SPACE_MB = 1024                          # see test_input_limits


def wirescore(*args, umask: int | None = None, timeout: float = 120, limit_memory=False):
    """Run `python -m wirescore ARGS` (optionally under a umask and RLIMIT_AS)."""
    def pre():
        if umask is not None:
            os.umask(umask)
        if limit_memory:
            cap = ADDRESS_SPACE_MB << 20
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return subprocess.run([sys.executable, "-m", "wirescore", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, preexec_fn=pre)


def one_line_error(proc, name: str) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 1, f"exit {proc.returncode}:\n{proc.stderr[-2000:]}"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{proc.stderr[-2000:]}"
    assert lines[0].startswith("wirescore: error:") and name in lines[0], lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- YAML ---------------------------------------------------------------------------------

PYTHON_TAGS = [
    '!!python/object/apply:os.system ["touch {marker}"]',
    '!!python/object/new:os.system ["touch {marker}"]',
    '!!python/object/apply:subprocess.check_call [["touch", "{marker}"]]',
    '!!python/name:os.system',
    '!!python/module:os',
    '!!python/object:argparse.Namespace {{x: 1}}',
]


@pytest.mark.parametrize("tag", PYTHON_TAGS, ids=[t.split()[0] for t in PYTHON_TAGS])
@pytest.mark.parametrize("command", ["run", "config"])
def test_python_tag_in_config_is_refused_and_nothing_runs(tag, command, tmp_path):
    marker = tmp_path / "PWNED"
    conf = tmp_path / "evil.yaml"
    conf.write_text("flow:\n  max_flows: " + tag.format(marker=marker) + "\n")
    args = ["run", "-r", PCAP, "-l", tmp_path / "logs", "--no-detect"] if command == "run" \
        else ["config"]
    proc = wirescore(*args, "-c", conf)
    one_line_error(proc, "evil.yaml")
    assert not marker.exists(), "the YAML tag ran code"
    assert not (tmp_path / "logs" / "eve.json").exists()


def test_recursive_alias_in_config_is_one_line_error(tmp_path):
    """A mapping that contains itself (a: &a {b: *a})."""
    conf = tmp_path / "loop.yaml"
    conf.write_text("flow: &a\n  max_flows: 3\n  again: *a\n")
    proc = wirescore("run", "-r", PCAP, "-l", tmp_path / "logs", "--no-detect", "-c", conf,
                     timeout=60)
    one_line_error(proc, "loop.yaml")


def test_alias_bomb_in_config_is_refused_quickly(tmp_path):
    """'Billion laughs': 9 levels of 10 aliases, 10**9 keys once expanded. Under a 1 GB
    address-space limit and 60 s it must end in one line (not memory, not a traceback)."""
    lines = ["x0: &x0 {" + ", ".join(f"k{j}: 1" for j in range(10)) + "}"]
    for i in range(1, 9):
        lines.append(f"x{i}: &x{i} {{" + ", ".join(f"k{j}: *x{i - 1}" for j in range(10)) + "}")
    conf = tmp_path / "bomb.yaml"
    conf.write_text("\n".join(lines) + "\n")
    proc = wirescore("run", "-r", PCAP, "-l", tmp_path / "logs", "--no-detect", "-c", conf,
                     timeout=60, limit_memory=True)
    one_line_error(proc, "bomb.yaml")


# ---- file modes ---------------------------------------------------------------------------

def test_eve_and_csv_export_are_0640_under_umask_000(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    proc = wirescore("run", "-r", PCAP, "-l", logs, "--no-detect", "--export",
                     tmp_path / "flows.csv", umask=0)
    assert proc.returncode == 0, proc.stderr
    for path in (logs / "eve.json", tmp_path / "flows.csv"):
        assert mode(path) & ~FILE_MODE == 0, f"{path.name}: mode {oct(mode(path))}"


@pytest.mark.parametrize("bpf", [None, "port 1"], ids=["flows", "no-flow"])
def test_parquet_export_is_0640_under_umask_000(bpf, tmp_path):
    pytest.importorskip("pyarrow", reason="Parquet export needs pyarrow (wirescore[parquet])")
    extra = ["--bpf", bpf] if bpf else []
    proc = wirescore("run", "-r", PCAP, "-l", tmp_path / "logs", "--no-detect", "--export",
                     tmp_path / "flows.parquet", *extra, umask=0)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "flows.parquet"
    assert mode(path) & ~FILE_MODE == 0, f"{path.name}: mode {oct(mode(path))}"


def test_created_log_directory_is_not_world_writable_under_umask_000(tmp_path):
    logs = tmp_path / "new" / "logs"
    proc = wirescore("run", "-r", PCAP, "-l", logs, "--no-detect", umask=0)
    assert proc.returncode == 0, proc.stderr
    assert mode(logs / "eve.json") & ~FILE_MODE == 0
    assert mode(logs) & 0o002 == 0, f"{logs} created with mode {oct(mode(logs))}"


def test_existing_eve_json_mode_is_kept(tmp_path):
    """Appending never widens an existing file's mode (0600 stays 0600)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "eve.json").write_text("")
    os.chmod(logs / "eve.json", 0o600)
    proc = wirescore("run", "-r", PCAP, "-l", logs, "--no-detect", umask=0)
    assert proc.returncode == 0, proc.stderr
    assert mode(logs / "eve.json") == 0o600
    assert (logs / "eve.json").stat().st_size > 0


# ---- paths --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../escaped.json", "sub/../../escaped.json", "ABSOLUTE"])
def test_eve_filename_cannot_leave_the_log_directory(name, tmp_path):
    """Either a one-line error, or the file inside the log directory; never outside."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "sub").mkdir()
    outside = tmp_path / "escaped.json"
    if name == "ABSOLUTE":
        name = str(outside)
    proc = wirescore("run", "-r", PCAP, "-l", logs, "--no-detect", "--eve-filename", name)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not outside.exists(), (f"--eve-filename {name!r} wrote {outside}, outside the log "
                                  f"directory {logs} (exit {proc.returncode})")
    if proc.returncode != 0:
        one_line_error(proc, "")


def test_eve_filename_with_a_nul_byte_is_one_line_error(tmp_path):
    conf = tmp_path / "nul.yaml"
    conf.write_text('outputs:\n  eve:\n    filename: "a\\0b.json"\n')
    proc = wirescore("run", "-r", PCAP, "-l", tmp_path / "logs", "--no-detect", "-c", conf)
    one_line_error(proc, "")


@pytest.mark.parametrize("name", ["", ".", ".."])
def test_eve_filename_naming_a_directory_is_one_line_error(name, tmp_path):
    proc = wirescore("run", "-r", PCAP, "-l", tmp_path / "logs", "--no-detect",
                     "--eve-filename", name)
    one_line_error(proc, "")


def test_log_dir_that_is_a_file_is_refused(tmp_path):
    """-l naming a file: refused before anything is read (click's usage error, exit 2)."""
    target = tmp_path / "afile"
    target.write_text("keep me\n")
    proc = wirescore("run", "-r", PCAP, "-l", target, "--no-detect")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert target.read_text() == "keep me\n"
