"""System calls beside packets (wirescore.syscalls): `wirescore run --syscalls` and
`--syscalls-file`.

- the parser's three outcomes on every line kind, bad lines counted;
- process windows: counts per process, the host's union, execs counted for the parent,
  novelty only past the learning period and only for a server's first shell;
- the shipped recording (tests/data/syscalls-activity.txt, made with
  tests/syscall_activity.py under the shipped script) gives exactly the three alerts
  (shell from a server, connect burst, write burst), through the command line and
  through the API's on_alert, with status events, every EVE line valid Suricata EVE;
- bad input, one line each: no bpftrace, not root, tracefs not mounted, a script that
  does not compile (root), an unparsable line (counted, the run goes on);
- root only: the shipped script live for a few seconds while this test forks a server
  that spawns a shell, a connect burst and a write burst; and the trace over ssh from
  a loopback sshd (the remote "bpftrace" replays the recording), a dropped session one
  line, resumed with --reconnect and the gap counted.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import syscall_activity
from conftest import REPO
from wirescore.config import Config
from wirescore.errors import WirescoreError
from wirescore.syscalls.parse import (BadLine, Clock, Connect, Count, Exec, Flush,
                                      WriteOpen, parse_line)
from wirescore.syscalls.run import SyscallEngine
from wirescore.syscalls.source import SCRIPT, RecordingSource, first_error, preflight
from wirescore.syscalls.windows import KIND_HOST, KIND_PROCESS, ProcessWindows

RECORDING = REPO / "tests" / "data" / "syscalls-activity.txt"
SCHEMA = Path("/work/shared/data/suricata-eve-schema.json")
WANT = {9100401: "ws-testsrv", 9100402: "ws-burst", 9100403: "ws-writer"}
IS_ROOT = os.geteuid() == 0
BPFTRACE = shutil.which("bpftrace")
TRACEFS = Path("/sys/kernel/tracing")


def _why_not_trace() -> str | None:
    if not IS_ROOT:
        return "tracing system calls needs root"
    if BPFTRACE is None:
        return "needs bpftrace (apt-get install bpftrace)"
    if not (TRACEFS / "events" / "syscalls").is_dir():
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)],
                       capture_output=True)
    if not (TRACEFS / "events" / "syscalls").is_dir():
        return "tracefs cannot be mounted here"
    return None


WHY_NOT_TRACE = _why_not_trace()
traced = pytest.mark.skipif(WHY_NOT_TRACE is not None, reason=WHY_NOT_TRACE or "")


def _cli(*args: str, stdin=None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "wirescore", *args], env=env, text=True,
                          capture_output=True, stdin=stdin, timeout=timeout)


def _eve(logdir: Path) -> list[dict]:
    return [json.loads(line) for line in (logdir / "eve.json").read_text().splitlines()]


def _alerted(lines: list[dict]) -> dict[int, str]:
    return {e["alert"]["signature_id"]: e["alert"]["context"]["wirescore_process"]["comm"]
            for e in lines if e["event_type"] == "alert"}


def _valid(lines: list[dict]) -> None:
    try:
        from jsonschema import Draft202012Validator
    except ImportError:
        return
    if SCHEMA.is_file():
        check = Draft202012Validator(json.loads(SCHEMA.read_text()))
        for line in lines:
            errors = list(check.iter_errors(line))
            assert not errors, (line, errors[0].message)


# ---------------------------------------------------------------------- parsing

@pytest.mark.parametrize("line, want", [
    ("T\t44285148292424\t1796631972.191175\n", Clock(44285148292424, 1796631972191175)),
    ("F", Flush()),
    ("X\t5\t20623\t0\t20591\tsh\tnginx: worker", Exec(5, 20623, 0, 20591, "sh",
                                                     "nginx: worker")),
    ("C\t7\t9\t1000\t10\t::1\t22\tssh", Connect(7, 9, 1000, 10, "::1", 22, "ssh")),
    ("W\t8\t9\t0\tpython3\t/tmp/a b", WriteOpen(8, 9, 0, "python3", "/tmp/a b")),
    ("W\t8\t9\t0\tbash\t", WriteOpen(8, 9, 0, "bash", "")),
    ("@sys[20512, 0, tail]: 17", Count("syscalls", 20512, 0, "tail", 17)),
    ("@srv[1, 33, Web Content, x]: 2", Count("server_calls", 1, 33, "Web Content, x", 2)),
    ("Attaching 12 probes...", None),
    ("", None),
])
def test_lines_parse(line, want):
    assert parse_line(line) == want


@pytest.mark.parametrize("line", [
    "garbage", "T\tx\t1.0", "X\t1\t2", "C\t1\t2\t3\t1\t/tmp/sock\t0\tx",
    "@nope[1, 2, x]: 3", "@sys[1, 2]: 3", "@sys[1, 2, x]: many", "F\textra",
])
def test_bad_lines_are_bad(line):
    with pytest.raises(BadLine):
        parse_line(line)


# ---------------------------------------------------------------------- windows

def _feed(win: ProcessWindows, lines: list[str]):
    out = []
    for line in lines:
        got = win.add(parse_line(line))
        if got is not None:
            out.append(got)
    return out


def test_windows_count_per_process_and_host():
    win = ProcessWindows("h", learn_seconds=0)
    [rec] = _feed(win, [
        "T\t1000000000\t100.0",
        "C\t1100000000\t10\t0\t2\t10.0.0.1\t80\tcurl",
        "C\t1200000000\t10\t0\t2\t10.0.0.1\t80\tcurl",
        "C\t1200000000\t11\t0\t2\t10.0.0.2\t443\twget",
        "W\t1300000000\t11\t0\twget\t/tmp/x/a",
        "W\t1300000000\t11\t0\twget\t/tmp/y/b",
        "X\t1400000000\t12\t0\t10\tls\tcurl",
        "T\t2000000000\t101.0",
        "@sys[10, 0, curl]: 40", "@open[11, 0, wget]: 3",
        "F",
    ])
    by = {(bytes(r["comm"]).decode(), int(r["kind"])): r for r in rec}
    curl, wget, host = by["curl", KIND_PROCESS], by["wget", KIND_PROCESS], by["", KIND_HOST]
    assert (curl["connects"], curl["connect_dsts"], curl["syscalls"], curl["execs"]) == (
        2, 1, 40, 1)
    assert curl["new_exec_pairs"] == 1       # learn_seconds 0: new at once
    assert (wget["write_opens"], wget["write_dirs"], wget["opens"]) == (2, 2, 5)
    assert (host["connects"], host["connect_dsts"], host["connect_hosts"]) == (3, 2, 2)
    assert rec["start_us"][0] == 100_000_000 and rec["end_us"][0] == 101_000_000


def test_a_servers_first_shell_is_new_once_and_never_while_learning():
    win = ProcessWindows("h", learn_seconds=2)
    lines = ["T\t0\t100.0"]
    for second in range(1, 6):            # the server spawns a shell every second
        lines += [f"X\t{second}000000000\t{50 + second}\t0\t7\tsh\tnginx",
                  f"T\t{second}000000000\t{100 + second}.0", "@srv[7, 0, nginx]: 1", "F"]
    rows = [r[(r["kind"] == KIND_PROCESS) & (r["pid"] == 7)][0] for r in _feed(win, lines)]
    assert [int(r["shell_execs"]) for r in rows] == [1] * 5
    # learned in the first 2 s (the first shell was then), so never new after
    assert [int(r["new_server_shell"]) for r in rows] == [0] * 5
    win = ProcessWindows("h", learn_seconds=2)
    lines = ["T\t0\t100.0"] + [f"T\t{s}000000000\t{100 + s}.0\nF" for s in (1, 2, 3)]
    lines = "\n".join(lines).split("\n") + [
        "X\t3500000000\t60\t0\t7\tbash\tnginx", "X\t3600000000\t61\t0\t8\tbash\tcron",
        "T\t4000000000\t104.0", "@srv[7, 0, nginx]: 1", "F",
        "X\t4500000000\t62\t0\t7\tsh\tnginx", "T\t5000000000\t105.0", "F"]
    out = _feed(win, lines)
    new = [{bytes(r["comm"]).decode(): int(r["new_server_shell"]) for r in w} for w in out]
    assert new[3]["nginx"] == 1 and new[3]["cron"] == 0     # cron never listened
    assert new[4]["nginx"] == 0                               # a second time: not new


# ---------------------------------------------------------------------- the recording

def test_recording_gives_the_three_alerts_cli(tmp_path):
    proc = _cli("run", "--syscalls-file", str(RECORDING), "-l", str(tmp_path),
                "--syscalls-learn", "2")
    assert proc.returncode == 0, proc.stderr
    lines = _eve(tmp_path)
    assert _alerted(lines) == WANT
    _valid(lines)
    stats = [e for e in lines if e["event_type"] == "stats"][-1]
    figures = stats["metadata"]["flowints"]["wirescore_syscalls"]
    assert figures["bad_lines"] == 0 and figures["windows"] >= 8
    assert figures["events"] > 3000 and stats["stats"]["detect"]["alert"] == 3
    for e in lines:
        assert "src_ip" not in e and "flow_id" not in e
    assert "3 alerts" in proc.stderr


def test_recording_from_a_pipe_and_default_learning(tmp_path):
    with open(RECORDING, "rb") as f:
        proc = _cli("run", "--syscalls-file", "-", "-l", str(tmp_path), stdin=f)
    assert proc.returncode == 0, proc.stderr
    # 60 s of learning (the default) cover the whole 10 s recording: no first shell
    assert _alerted(_eve(tmp_path)) == {k: v for k, v in WANT.items() if k != 9100401}


def test_recording_through_the_api_with_status_and_bad_lines(tmp_path):
    text = RECORDING.read_text().splitlines(keepends=True)
    text[5:5] = ["this is not a line\n", "@sys[1, 2]: 3\n"]
    damaged = tmp_path / "damaged.txt"
    damaged.write_text("".join(text))
    alerts, status = [], []
    cfg = Config.load(overrides={"syscalls.learn_seconds": 2.0})
    summary = SyscallEngine(cfg, tmp_path / "logs", on_alert=alerts.append,
                            on_status=status.append).run_source(
        RecordingSource(str(damaged)))
    assert {a["alert"]["signature_id"] for a in alerts} == set(WANT)
    assert summary.bad_lines == 2 and summary.alerts == 3
    assert [s.kind for s in status] == ["source_opened", "start", "stop"]
    assert status[-1].details["alerts"] == 3


# ---------------------------------------------------------------------- bad input

def test_no_bpftrace_is_one_line(tmp_path):
    with pytest.raises(WirescoreError, match="not found: install bpftrace"):
        preflight("no-such-bpftrace", SCRIPT)
    proc = _cli("run", "--syscalls", "-l", str(tmp_path), "--syscalls-bpftrace",
                "no-such-bpftrace")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "wirescore: error: --syscalls: 'no-such-bpftrace' not found: install bpftrace "
        "(apt-get install bpftrace), or name it with --syscalls-bpftrace"]


@pytest.mark.skipif(BPFTRACE is None, reason="needs bpftrace")
def test_no_privilege_and_no_tracefs_are_one_line(tmp_path):
    with pytest.raises(WirescoreError, match="needs root, or CAP_BPF"):
        preflight("bpftrace", SCRIPT, euid=1000, caps=0)
    caps = 1 << 39 | 1 << 38               # CAP_BPF and CAP_PERFMON are enough
    with pytest.raises(WirescoreError, match="mount -t tracefs nodev /sys/kernel/tracing"):
        preflight("bpftrace", SCRIPT, euid=1000, caps=caps, tracefs=[tmp_path])


def test_bpftrace_first_error_skips_the_memlock_warning():
    assert first_error(["ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace",
                        "bad.bt:1:1-4: ERROR: syntax error, unexpected identifier",
                        "more"]) == "bad.bt:1:1-4: ERROR: syntax error, unexpected identifier"


@traced
def test_a_script_that_does_not_compile_is_one_line(tmp_path):
    bad = tmp_path / "bad.bt"
    bad.write_text("tracepoint:syscalls:sys_enter_openat { @x = nosuchfunction(); }\n")
    proc = _cli("run", "--syscalls", str(bad), "-l", str(tmp_path))
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("wirescore: error: bpftrace bad.bt: bpftrace failed: ")
    assert "ERROR" in line and "nosuchfunction" in line


# ---------------------------------------------------------------------- live (root)

@traced
def test_live_trace_sees_a_servers_shell_a_connect_burst_and_a_write_burst(tmp_path):
    logdir = tmp_path / "logs"
    run = subprocess.Popen([sys.executable, "-m", "wirescore", "run", "--syscalls", "-l",
                            str(logdir), "--syscalls-learn", "2", "--stats-interval", "1"],
                           env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                           stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (logdir / "eve.json").exists() or "stats" not in (
                logdir / "eve.json").read_text():
            assert run.poll() is None, run.stderr.read()
            assert time.monotonic() < deadline, "no stats event within 60 s"
            time.sleep(0.2)
        time.sleep(2.5)                       # past the learning period
        syscall_activity.everything(pause_s=1.5)
        time.sleep(2.5)                       # the last second flushed
    finally:
        run.send_signal(signal.SIGTERM)
        err = run.communicate(timeout=60)[1]
    assert run.returncode == 0, err
    lines = _eve(logdir)
    assert _alerted(lines) == WANT, err
    _valid(lines)


# ---------------------------------------------------------------------- ssh (root)

class _Sshd:
    """An OpenSSH server on 127.0.0.1 with a key made here; the client's own config."""

    def __init__(self, folder: Path):
        self.dir = folder
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            str(folder / name)], check=True)
        (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        (folder / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {folder / 'host_key'}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            f"PidFile {folder / 'sshd.pid'}\n")
        pub = (folder / "host_key.pub").read_text().split()
        (folder / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n")
        self.client = folder / "ssh_config"
        self.client.write_text(
            f"Host *\n  IdentityFile {folder / 'client_key'}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {folder / 'known_hosts'}\n  GlobalKnownHostsFile "
            "/dev/null\n  StrictHostKeyChecking yes\n  IdentityAgent none\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f",
                                      str(folder / "sshd_config")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            assert self.proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not IS_ROOT or not Path("/usr/sbin/sshd").exists() or not shutil.which("ssh"):
        pytest.skip("the ssh trace tests need root, sshd and ssh")
    server = _Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


def _fake_bpftrace(tmp_path: Path, then: str) -> Path:
    """A remote "bpftrace" that ignores its arguments, prints the recording, then runs
    `then` (a shell command: how the session goes on)."""
    fake = tmp_path / "fake-bpftrace"
    fake.write_text(f"#!/bin/sh\ncat {RECORDING}\n{then}\n")
    fake.chmod(0o755)
    return fake


def test_ssh_trace_replays_and_a_drop_is_one_line(sshd, tmp_path):
    fake = _fake_bpftrace(tmp_path, "exit 3")
    proc = _cli("run", "--syscalls", f"ssh://root@127.0.0.1:{sshd.port}", "-l",
                str(tmp_path), "--ssh-config", str(sshd.client), "--syscalls-learn", "2",
                "--syscalls-remote-bpftrace", str(fake))
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()[-1:]
    assert line.startswith("wirescore: error: ssh://root@127.0.0.1: the trace ended: ")
    assert "exit status 3" in line
    lines = _eve(tmp_path)            # everything read before the drop is written
    assert _alerted(lines) == WANT
    _valid(lines)


def test_ssh_trace_reconnects_and_counts_the_gap(sshd, tmp_path):
    fake = _fake_bpftrace(tmp_path, "sleep 0.5; exit 3")
    cfg = Config.load(overrides={"syscalls.learn_seconds": 2.0, "capture.reconnect": True,
                                 "capture.ssh_config": str(sshd.client),
                                 "syscalls.remote_bpftrace": str(fake)})
    from wirescore.syscalls.source import open_syscalls

    status, errors = [], []
    engine = SyscallEngine(cfg, tmp_path / "logs", on_status=status.append,
                           on_error=errors.append)
    source = open_syscalls(cfg, remote=f"ssh://root@127.0.0.1:{sshd.port}")

    def stop_when_back():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "link_back" not in [s.kind for s in status]:
            time.sleep(0.1)
        time.sleep(0.5)
        engine.stop()

    threading.Thread(target=stop_when_back, daemon=True).start()
    summary = engine.run_source(source)
    kinds = [s.kind for s in status]
    assert "link_lost" in kinds and "link_back" in kinds, kinds
    assert errors and errors[0].kind == "connection" and not errors[0].fatal
    assert summary.counters["wirescore.syscalls.gaps"] >= 1
    assert summary.counters["wirescore.syscalls.gap_ms"] >= 900      # retried after 1 s
    assert summary.alerts >= 3


def test_ssh_that_cannot_connect_is_one_line(tmp_path):
    if not shutil.which("ssh"):
        pytest.skip("needs the ssh client")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                 # nothing listens there once closed
    proc = _cli("run", "--syscalls", f"ssh://root@127.0.0.1:{port}", "-l", str(tmp_path),
                "--ssh-option", "UserKnownHostsFile=/dev/null")
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("wirescore: error: ssh://root@127.0.0.1: the remote trace did "
                           "not start: ssh: connect to host 127.0.0.1 port "), line
    assert "Connection refused" in line


def test_not_a_remote_trace_url_is_one_line(tmp_path):
    proc = _cli("run", "--syscalls", "ssh://root@host/eth0", "-l", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("wirescore: error: ssh://root@host/eth0: not a remote "
                                   "trace (expected ssh://[user@]host[:port])")


def test_unparsable_lines_are_counted_and_the_first_logged(tmp_path):
    lines = RECORDING.read_text().splitlines(keepends=True)
    junk = [f"junk {i}\n" for i in range(8)]
    damaged = tmp_path / "damaged.txt"
    damaged.write_text("".join(lines[:10] + junk + lines[10:]))
    proc = _cli("run", "--syscalls-file", str(damaged), "-l", str(tmp_path / "logs"),
                "--syscalls-learn", "2")
    assert proc.returncode == 0, proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if "does not parse" in ln]
    assert len(warned) == 5 and "line 11 does not parse" in warned[0]
    assert warned[-1].endswith("; further bad lines are only counted")
    assert "8 bad lines" in proc.stderr
    stats = [e for e in _eve(tmp_path / "logs") if e["event_type"] == "stats"][-1]
    assert stats["metadata"]["flowints"]["wirescore_syscalls"]["bad_lines"] == 8
    assert _alerted(_eve(tmp_path / "logs")) == WANT          # the run went on
