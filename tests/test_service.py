"""contrib/: the systemd unit, its environment file and the logrotate snippet an operator
installs (issue 23, part 4).

- the unit's key settings: an unprivileged user, only CAP_NET_RAW and CAP_NET_ADMIN,
  no new privileges, a read-only system but the log directory, restart on failure,
  reload by SIGHUP, the pid file in the runtime directory;
- its ExecStart, expanded with contrib/wirescore.default as systemd would, is accepted
  by `wirescore run`: run with a capture file in place of the interface (the rest of
  the command line as shipped) it reads the file, writes eve.json and removes the pid
  file;
- `systemd-analyze verify` finds nothing to say about it (when systemd-analyze is
  installed; the unit's binary path is pointed at this install's `wirescore`);
- the logrotate snippet, run for real by logrotate on a running wirescore (paths pointed
  at a temporary directory; no systemd here, so its fallback signals the pid file):
  the file is moved, wirescore reopens eve.json by name and goes on writing in the new
  one, every line whole in both.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO

CONTRIB = REPO / "contrib"
UNIT = CONTRIB / "wirescore.service"
DEFAULTS = CONTRIB / "wirescore.default"
LOGROTATE = CONTRIB / "wirescore.logrotate"
PCAP = FIXTURES / "ndpi-synscan.pcap"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [values, in order]}} of a unit file (comments, blank lines and
    backslash continuations as systemd reads them)."""
    out: dict = {}
    section = None
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = out.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return out


def parse_env(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


def expand(command: str, env: dict[str, str]) -> list[str]:
    """ExecStart as systemd runs it: ${VAR} as one word, $VAR split on whitespace."""
    words = []
    for word in shlex.split(command):
        if re.fullmatch(r"\$[A-Za-z_]\w*", word):
            words += env.get(word[1:], "").split()
        else:
            words.append(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), word))
    return words


@pytest.fixture(scope="module")
def unit():
    return parse_unit(UNIT.read_text())


def one(unit, section, key) -> str:
    values = unit[section].get(key, [])
    assert len(values) == 1, f"{section}.{key}: {values}"
    return values[0]


def test_the_unit_runs_unprivileged_with_two_capabilities(unit):
    s = "Service"
    assert one(unit, s, "User") == "wirescore" and one(unit, s, "Group") == "wirescore"
    caps = {"CAP_NET_RAW", "CAP_NET_ADMIN"}
    assert set(one(unit, s, "AmbientCapabilities").split()) == caps
    assert set(one(unit, s, "CapabilityBoundingSet").split()) == caps
    assert one(unit, s, "NoNewPrivileges") == "yes"
    assert one(unit, s, "ProtectSystem") == "strict"
    assert one(unit, s, "PrivateTmp") == "yes"
    assert "/var/log/wirescore" in one(unit, s, "ReadWritePaths").split()
    assert one(unit, s, "Restart") == "on-failure"
    assert one(unit, s, "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(unit, s, "KillSignal") == "SIGTERM"
    assert "AF_PACKET" in one(unit, s, "RestrictAddressFamilies").split()
    assert one(unit, s, "EnvironmentFile") == "-/etc/default/wirescore"
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_the_pid_file_and_logs_are_in_the_units_directories(unit):
    argv = expand(one(unit, "Service", "ExecStart"), parse_env(DEFAULTS.read_text()))
    pidfile = Path(argv[argv.index("--pidfile") + 1])
    logdir = argv[argv.index("-l") + 1]
    assert pidfile.parent == Path("/run") / one(unit, "Service", "RuntimeDirectory")
    assert logdir == "/var/log/" + one(unit, "Service", "LogsDirectory")
    assert argv[1:3] == ["run", "-i"] and argv[3] == "eth0"


def test_exec_start_is_accepted_by_wirescore_run(unit, tmp_path):
    """The shipped command line with a capture file in place of the interface."""
    env = parse_env(DEFAULTS.read_text())
    argv = expand(one(unit, "Service", "ExecStart"), env)
    assert Path(argv[0]).name == "wirescore"
    args = argv[1:]
    args[args.index("-i"):args.index("-i") + 2] = ["-r", str(PCAP)]
    args[args.index("-l") + 1] = str(tmp_path / "logs")
    pid = tmp_path / "wirescore.pid"
    args[args.index("--pidfile") + 1] = str(pid)
    proc = subprocess.run([sys.executable, "-m", "wirescore", *args], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "logs" / "eve.json").read_text().splitlines()
    assert json.loads(lines[-1])["event_type"] == "stats"
    assert not pid.exists()


def test_systemd_analyze_verify_says_nothing(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    binary = Path(sys.executable).parent / "wirescore"
    if not binary.exists():
        pytest.skip(f"no wirescore entry point beside {sys.executable}")
    copy = tmp_path / "wirescore.service"
    copy.write_text(UNIT.read_text().replace("/usr/local/bin/wirescore", str(binary)))
    proc = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True)
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and not out, out


def test_logrotate_moves_the_file_and_wirescore_reopens_it(tmp_path):
    logrotate = shutil.which("logrotate")
    if logrotate is None:
        pytest.skip("logrotate is not installed")
    logdir, pid = tmp_path / "logs", tmp_path / "wirescore.pid"
    conf = tmp_path / "logrotate.conf"
    conf.write_text(LOGROTATE.read_text()
                    .replace("/var/log/wirescore", str(logdir))
                    .replace("/run/wirescore/wirescore.pid", str(pid))
                    .replace("systemctl reload wirescore.service", "false")
                    .replace("create 0640 wirescore wirescore", "create 0640"))
    data = PCAP.read_bytes()
    proc = subprocess.Popen([sys.executable, "-m", "wirescore", "run", "-r", "-", "-l",
                             str(logdir), "--pidfile", str(pid), "--stats-interval", "0.01",
                             "--no-detect"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        half = len(data) // 2
        proc.stdin.write(data[:half])
        proc.stdin.flush()
        eve = logdir / "eve.json"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (eve.exists() and eve.stat().st_size
                                                   and pid.exists()):
            time.sleep(0.05)
        assert eve.stat().st_size > 0
        done = subprocess.run([logrotate, "-f", "-s", str(tmp_path / "state"), str(conf)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        rotated = [p for p in logdir.iterdir() if p.name.startswith("eve.json-")]
        assert len(rotated) == 1, sorted(logdir.iterdir())
        time.sleep(0.5)                  # SIGHUP is acted on after the batch at hand
        proc.stdin.write(data[half:])
        proc.stdin.close()
        assert proc.wait(120) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    old = rotated[0].read_bytes()
    new = eve.read_bytes()
    assert old.endswith(b"\n") and new.endswith(b"\n")
    old_events = [json.loads(line) for line in old.splitlines()]
    new_events = [json.loads(line) for line in new.splitlines()]
    assert old_events and new_events[-1]["event_type"] == "stats"
    assert not pid.exists()
