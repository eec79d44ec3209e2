"""Remote capture over ssh (wirescore.remote): `-r ssh://[user@]host[:port]/IFACE`.

Against a real OpenSSH server started by the test inside the capture namespace of
test_live.py's veth wire (ws-a in wscap<pid>, loopback up there): sshd listens on
127.0.0.1:PORT with a host key and an authorized client key made here in a temporary
folder, and the client runs with its own ssh_config (`--ssh-config`, ssh -F: the user's
~/.ssh is never read or touched), so the remote tcpdump captures ws-a while tcpreplay
sends from ws-b. Checked:
- the flows of `wirescore run -r ssh://root@127.0.0.1:PORT/ws-a` equal, per 5-tuple and
  direction, the flows of the same capture read from the file; every EVE line valid;
- the remote tcpdump killed, or the sshd session process killed: without --reconnect
  the run ends with one line, after writing every flow read before; with reconnect a new
  session captures what is replayed after it, the gap is counted (summary counters,
  stats capture.errors), reported (EVE engine events, status and error events);
- one-line errors: a URL that is not one, no ssh client, nothing listening, a key the
  server refuses, no tcpdump on the remote host.

Parsing and the ssh command line are checked without root; the rest is skipped, with
the reason, when not root, or without sshd, ssh, tcpdump, tcpreplay or `ip netns`.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_live import (CAP_IF, FIXTURES, GRACE_S, REPO, WHY_NOT, _ip, diff,
                       directional_totals, file_run, read_lines, schema_validator,
                       wire)  # noqa: F401  (wire: the fixture)

from wirescore.errors import WirescoreError
from wirescore.remote import RemoteSource, parse_url, ssh_command, why_session_failed

SSHD = "/usr/sbin/sshd"
FIRST, SECOND = FIXTURES / "zeek-wikipedia.pcap", FIXTURES / "ndpi-synscan.pcap"
WAIT_S = 60.0               # the most a test waits for what must happen long before


def _why_not_ssh() -> str | None:
    if WHY_NOT:
        return WHY_NOT
    for tool, package in ((SSHD, "openssh-server"), ("ssh", "openssh-client"),
                          ("ssh-keygen", "openssh-client"), ("tcpdump", "tcpdump")):
        if shutil.which(tool) is None:
            return f"remote capture tests need {tool} (apt-get install {package})"
    return None


WHY_NOT_SSH = _why_not_ssh()
needs_sshd = pytest.mark.skipif(WHY_NOT_SSH is not None, reason=WHY_NOT_SSH or "")


# ---------------------------------------------------------------------- no root needed

@pytest.mark.parametrize("url, want", [
    ("ssh://sensor/eth0", (None, "sensor", None, "eth0", None)),
    ("ssh://root@10.0.0.1:2222/ws-a", ("root", "10.0.0.1", 2222, "ws-a", None)),
    ("ssh://ops@[::1]:22/eth1?bpf=not%20port%2022", ("ops", "::1", 22, "eth1",
                                                    "not port 22")),
    ("SSH://h/any?bpf=", (None, "h", None, "any", None)),
])
def test_urls_parse(url, want):
    t = parse_url(url)
    assert (t.user, t.host, t.port, t.iface, t.bpf) == want


@pytest.mark.parametrize("url, why", [
    ("ssh://host", "no interface after the host"),
    ("ssh://host/", "no interface after the host"),
    ("ssh:///eth0", "no host"),
    ("ssh://user:secret@host/eth0", "no password in the URL"),
    ("ssh://host:99999/eth0", "Port out of range"),
    ("ssh://host:x/eth0", "Port could not be cast"),
    ("ssh://-oProxyCommand=x/eth0", "is not a host name"),
    ("ssh://host/eth0/more", "is not an interface name"),
    ("ssh://host/-x", "is not an interface name"),
    ("ssh://host/averyveryverylongname", "is not an interface name"),
    ("ssh://host/eth0?filter=tcp", "unknown query key 'filter'"),
    ("ssh://host/eth0?bpf=tcp&bpf=udp", "bpf given twice"),
    ("http://host/eth0", "the scheme must be ssh://"),
])
def test_bad_urls_are_one_line_errors(url, why):
    with pytest.raises(WirescoreError) as err:
        parse_url(url)
    text = str(err.value)
    assert text.startswith(f"{url}: not a remote source: ") and why in text, text
    assert "\n" not in text


def test_ssh_command_never_prompts_and_quotes_the_remote_command():
    t = parse_url("ssh://ops@sensor:2200/eth1?bpf=not%20port%2022%20and%20host%20'a'")
    argv = ssh_command(t, snaplen=1500, ssh_config="/etc/ws/ssh_config",
                       ssh_options=("ConnectTimeout=3", "IdentityFile=/k"),
                       tcpdump="sudo -n /usr/sbin/tcpdump")
    assert argv[:4] == ["ssh", "-T", "-o", "BatchMode=yes"]
    opts = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
    # the user's options come before the defaults: ssh keeps the first value given
    assert opts.index("ConnectTimeout=3") < opts.index("ConnectTimeout=10")
    assert "IdentityFile=/k" in opts
    assert argv[argv.index("-F") + 1] == "/etc/ws/ssh_config"
    assert argv[argv.index("-p") + 1] == "2200" and argv[argv.index("-l") + 1] == "ops"
    assert argv[-3:-1] == ["--", "sensor"]
    import shlex

    sh, dash_c, script = shlex.split(argv[-1])
    assert (sh, dash_c) == ("sh", "-c")
    tcpdump = shlex.split(script.split(" 3<&- &")[0].split("; ", 1)[1])
    assert tcpdump == ["sudo", "-n", "/usr/sbin/tcpdump", "-i", "eth1", "-U", "-w",
                       "-", "-s", "1500", "-B", "65536", "--immediate-mode",
                       "not port 22 and host 'a'"]
    assert not any("pass" in a.lower() for a in argv)
    with pytest.raises(WirescoreError, match="expected KEY=VALUE"):
        ssh_command(t, ssh_options=("-oProxyCommand=x",))


@pytest.mark.parametrize("code, lines, want", [
    (255, ["ssh: connect to host 127.0.0.1 port 1: Connection refused"],
     "ssh failed: ssh: connect to host 127.0.0.1 port 1: Connection refused"),
    (255, ["Warning: ...", "root@127.0.0.1: Permission denied (publickey)."],
     "ssh failed: root@127.0.0.1: Permission denied (publickey)."),
    (127, ["bash: line 1: exec: tcpdump: not found"], "remote tcpdump not found"),
    (1, ["tcpdump: eth9: You don't have permission to perform this capture on that "
         "device"], "the remote tcpdump may not capture"),
    (1, ["tcpdump: unrecognized option '--immediate-mode'"], "the remote tcpdump is too old for --immediate-mode"),
    (1, ["tcpdump: ws-x: No such device exists"],
     "remote tcpdump failed: tcpdump: ws-x: No such device exists"),
    (-9, [], "ssh was killed by signal 9"),
    (137, [], "the remote tcpdump was killed by signal 9"),
])
def test_why_a_session_ended_is_one_line(code, lines, want):
    text = why_session_failed(code, lines)
    assert text.startswith(want) and "\n" not in text, text


def test_no_ssh_client_is_one_line():
    with pytest.raises(WirescoreError) as err:
        RemoteSource("ssh://host/eth0", ssh="no-such-ssh-client")
    assert str(err.value) == ("ssh://host/eth0: no ssh client ('no-such-ssh-client' not "
                              "found); install OpenSSH's (apt-get install openssh-client)")


def _cli(*args: str, ns: str | None = None, timeout: float = 120):
    argv = [sys.executable, "-m", "wirescore", "run", *args]
    if ns is not None:
        argv = ["ip", "netns", "exec", ns, *argv]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def test_cli_bad_url_is_one_line(tmp_path):
    proc = _cli("-r", "ssh://host", "-l", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr == ("wirescore: error: ssh://host: not a remote source: no interface "
                           "after the host (expected ssh://[user@]host[:port]/IFACE"
                           "[?bpf=EXPR])\n")


# ---------------------------------------------------------------------- the server

class Sshd:
    """An OpenSSH server inside the capture namespace, with its keys, and a client
    configuration that trusts it and logs in as root with the test's key."""

    def __init__(self, wire, folder: Path):
        self.wire, self.dir = wire, folder
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        for name in ("host_key", "client_key", "other_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name,
                            "-f", str(self.dir / name)], check=True)
        (self.dir / "authorized_keys").write_text((self.dir / "client_key.pub").read_text())
        self.port = _free_port()
        self.config = self.dir / "sshd_config"
        self.config.write_text(
            f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {self.dir / 'host_key'}\n"
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            f"PidFile {self.dir / 'sshd.pid'}\nLogLevel VERBOSE\n")
        host_pub = (self.dir / "host_key.pub").read_text().split()
        (self.dir / "known_hosts").write_text(
            f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.client_config = self.client("client_key")
        self.proc = None

    def client(self, key: str) -> Path:
        path = self.dir / f"ssh_config.{key}"
        path.write_text(
            "Host *\n"
            f"  IdentityFile {self.dir / key}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.dir / 'known_hosts'}\n"
            "  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n"
            "  IdentityAgent none\n")
        return path

    def url(self, iface: str = CAP_IF, port: int | None = None) -> str:
        return f"ssh://root@127.0.0.1:{port or self.port}/{iface}"

    def start(self) -> "Sshd":
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)   # privilege separation
        _ip("-n", self.wire.cap_ns, "link", "set", "lo", "up")
        self.log = open(self.dir / "sshd.log", "wb")
        self.proc = subprocess.Popen(self.wire.ns_cmd(SSHD, "-D", "-e", "-f",
                                                      str(self.config)),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WAIT_S
        while not self.wire.in_capture_ns(_listening, self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start: {self.log_text()}")
            time.sleep(0.05)
        return self

    def log_text(self) -> str:
        return (self.dir / "sshd.log").read_text(errors="replace")[-3000:]

    def descendants(self) -> list[tuple[int, str]]:
        """(pid, command line) of every process under the server, parents first."""
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop(0)
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                try:
                    cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
                out.append((child, cmd.decode(errors="replace").strip()))
                todo.append(child)
        return out

    def remote_tcpdumps(self) -> list[int]:
        return [pid for pid, cmd in self.descendants() if cmd.startswith("tcpdump ")]

    def kill_remote_tcpdump(self) -> None:
        pids = self.remote_tcpdumps()
        assert len(pids) == 1, self.descendants()
        os.kill(pids[0], signal.SIGKILL)

    def kill_session(self) -> None:
        """SIGKILL the per-connection sshd processes (the connection drops)."""
        sessions = [pid for pid, cmd in self.descendants() if cmd.startswith("sshd")]
        assert sessions, self.descendants()
        for pid in sessions:
            os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc is not None:
            self.log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def sshd(wire, tmp_path_factory):
    if WHY_NOT_SSH:
        pytest.skip(WHY_NOT_SSH)
    server = Sshd(wire, tmp_path_factory.mktemp("sshd"))
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        pytest.skip(f"cannot start sshd in the capture namespace: {exc}")
    yield server
    server.stop()


def _wait(predicate, what, timeout: float = WAIT_S) -> None:
    """Poll predicate until true; what (a text, or a function giving one) says what
    was awaited when it does not come."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout:.0f} s: {what() if callable(what) else what}")


# ---------------------------------------------------------------------- runs

class RemoteRun:
    """Engine.run_source(RemoteSource) in a thread inside the capture namespace, with
    every status and error event kept."""

    def __init__(self, wire, server: Sshd, logdir: Path, **source_kwargs):
        import threading

        self.wire, self.server, self.logdir = wire, server, logdir
        self.kwargs = dict(ssh_config=str(server.client_config), **source_kwargs)
        self.events, self.status, self.errors = [], [], []
        self.ready = threading.Event()
        self.summary = self.error = self.engine = self.source = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        from test_live import config
        from wirescore.engine import Engine

        try:
            self.wire.enter_capture_ns()
            self.source = RemoteSource(self.server.url(), **self.kwargs)
            self.engine = Engine(config(), self.logdir,
                                 on_flow=lambda records, evs: self.events.extend(evs),
                                 on_status=self.status.append, on_error=self.errors.append)
            self.ready.set()
            self.summary = self.engine.run_source(self.source)
        except BaseException as exc:  # reported by stop()
            self.error = exc
            self.ready.set()

    def __enter__(self) -> "RemoteRun":
        self.thread.start()
        assert self.ready.wait(WAIT_S), "remote source did not open"
        if self.error:
            raise self.error
        return self

    def describe(self) -> str:
        """What the run has seen so far, for a failure's message."""
        session = self.source._session
        return (f"got {self.source.packets} packets, ssh stderr {list(session.stderr)}, "
                f"status {self.kinds()}, error {self.error!r}, server processes "
                f"{self.server.descendants()}")

    def kinds(self) -> list[str]:
        return [e.kind for e in self.status]

    def stop(self, timeout: float = WAIT_S):
        self.engine.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "engine did not stop after engine.stop()"
        if self.error:
            raise self.error

    def __exit__(self, *exc):
        if self.thread.is_alive() and self.engine is not None:
            self.engine.stop()
            self.thread.join(WAIT_S)


def _packets(pcap: Path, tmp: Path) -> int:
    return file_run(pcap, tmp)[1].counters["decoder.pkts"]


def _check_lines(path: Path) -> list[dict]:
    events = read_lines(path)
    validator = schema_validator()
    if validator is not None:
        for e in events:
            errors = sorted(validator.iter_errors(e), key=str)
            assert not errors, f"{e['event_type']} line fails the schema: {errors[0].message}"
    return events


@needs_sshd
@pytest.mark.live
def test_cli_remote_flows_equal_file_flows(wire, sshd, tmp_path):
    """`wirescore run -r ssh://...` (the command line, in the capture namespace) until
    SIGTERM: the flows of eve.json equal the file's, per 5-tuple and direction."""
    expected_events, file_summary = file_run(FIRST, tmp_path)
    frames = file_summary.counters["decoder.pkts"]
    logdir = tmp_path / "remote"
    argv = wire.ns_cmd(sys.executable, "-m", "wirescore", "-v", "run", "-r", sshd.url(),
                       "--ssh-config", str(sshd.client_config), "--no-detect",
                       "-l", str(logdir))
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait(lambda: sshd.remote_tcpdumps() or proc.poll() is not None,
              "the remote tcpdump runs")
        assert proc.poll() is None, proc.stderr.read()
        remote_pid = sshd.remote_tcpdumps()[0]
        time.sleep(GRACE_S)     # tcpdump is listening once its pcap header reached us
        sent = wire.replay(FIRST)
        time.sleep(2 * GRACE_S)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert sent["sent"] == frames and sent["failed"] == 0, sent
    assert f"{sshd.url()}: capturing over ssh" in err
    assert f"{sshd.url()}: {frames} packets" in err      # the summary line
    assert "start: " in err and "stop: " in err           # status events, logged (-v)
    events = _check_lines(logdir / "eve.json")
    expected, got = directional_totals(expected_events), directional_totals(events)
    assert expected and got == expected, diff(expected, got)
    assert all(e.get("in_iface") == (None if e["event_type"] == "stats" else CAP_IF)
               for e in events)
    _wait(lambda: not Path(f"/proc/{remote_pid}").exists(),
          "the remote tcpdump ends with the run", timeout=10)


def _kill(sshd: Sshd, how: str) -> None:
    if how == "tcpdump":
        sshd.kill_remote_tcpdump()
    else:
        sshd.kill_session()


@needs_sshd
@pytest.mark.live
@pytest.mark.parametrize("how", ["tcpdump", "session"])
def test_dropped_connection_ends_the_run_after_everything_read(wire, sshd, tmp_path, how):
    """Without --reconnect: every flow read before the drop is written, then one line."""
    from wirescore.engine import RunFault

    expected_events, _ = file_run(FIRST, tmp_path)
    frames = _packets(FIRST, tmp_path)
    run = RemoteRun(wire, sshd, tmp_path / "remote")
    with run:
        wire.replay(FIRST)
        _wait(lambda: run.source.packets >= frames,
              lambda: f"{frames} packets over ssh ({run.describe()})")
        remote_pid = sshd.remote_tcpdumps()[0]
        _kill(sshd, how)
        run.thread.join(WAIT_S)
        assert not run.thread.is_alive(), "the run did not notice the dropped connection"
        # the session gone, no tcpdump is left capturing on the host
        _wait(lambda: not Path(f"/proc/{remote_pid}").exists(), "the remote tcpdump ends",
              timeout=10)
    assert isinstance(run.error, RunFault), repr(run.error)
    text = str(run.error)
    assert text.startswith(f"{sshd.url()}: connection lost after packet {frames}: ")
    assert text.endswith("(--reconnect resumes)") and "\n" not in text, text
    if how == "tcpdump":
        assert "killed" in text or "exit status" in text, text
    assert run.error.summary.packets == frames
    got, want = directional_totals(run.events), directional_totals(expected_events)
    assert got == want, diff(want, got)
    assert run.kinds() == ["source_opened", "start", "stop"]
    assert [(e.kind, e.fatal, e.where) for e in run.errors] == [("capture", True, sshd.url())]
    assert run.errors[0].message == text and run.status[-1].details["fault"] == text
    _check_lines(tmp_path / "remote" / "eve.json")


@needs_sshd
@pytest.mark.live
@pytest.mark.parametrize("how", ["tcpdump", "session"])
def test_reconnect_resumes_and_counts_the_gap(wire, sshd, tmp_path, how):
    """--reconnect: a new session captures what is replayed after the drop; flows and
    host state survive; the gap is counted, logged and reported."""
    want = directional_totals(file_run(FIRST, tmp_path)[0] + file_run(SECOND, tmp_path)[0])
    first, second = _packets(FIRST, tmp_path), _packets(SECOND, tmp_path)
    run = RemoteRun(wire, sshd, tmp_path / "remote", reconnect=True)
    with run:
        wire.replay(FIRST)
        _wait(lambda: run.source.packets >= first,
              lambda: f"{first} packets over ssh ({run.describe()})")
        before = set(sshd.remote_tcpdumps())
        _kill(sshd, how)
        _wait(lambda: "link_back" in run.kinds(), "capturing again")
        assert set(sshd.remote_tcpdumps()) - before, "no new remote tcpdump"
        time.sleep(GRACE_S)
        wire.replay(SECOND)
        _wait(lambda: run.source.packets == first + second, "the second replay over ssh")
        run.stop()
    summary = run.summary
    assert summary.packets == first + second
    got = directional_totals(run.events)
    assert got == want, diff(want, got)
    counters = summary.counters
    assert counters["wirescore.capture.link_down"] == 1
    assert counters["wirescore.capture.reconnects"] == 1
    assert counters["wirescore.capture.link_down_ms"] >= 900       # the first retry: 1 s
    # status and error events: the drop survived, then the way back
    assert run.kinds() == ["source_opened", "start", "link_lost", "link_back", "stopping",
                           "stop"], run.kinds()
    lost, back = run.status[2], run.status[3]
    assert lost.message.startswith(f"{sshd.url()}: connection lost after packet {first}: ")
    assert lost.details == {"packets": first}
    assert back.details["seconds"] * 1000 == pytest.approx(
        counters["wirescore.capture.link_down_ms"], abs=50)
    assert back.details["reconnect"] == 1 and back.details["attempts"] == 1
    assert [(e.kind, e.fatal) for e in run.errors] == [("connection", False)]
    assert all(e.source == sshd.url() and e.mode == "remote" for e in run.status)
    # eve.json: engine events when it went and when it came back; stats count the loss
    events = _check_lines(tmp_path / "remote" / "eve.json")
    engine = [e for e in events if e["event_type"] == "engine"]
    assert [e["log_level"] for e in engine] == ["Warning", "Info"], engine
    assert "capturing again after" in engine[1]["engine"]["message"]
    final = [e for e in events if e["event_type"] == "stats"][-1]["stats"]["capture"]
    assert final["errors"] == 1
    assert directional_totals(events) == want


@needs_sshd
@pytest.mark.live
def test_reconnect_waits_for_the_server_and_reports_failed_attempts(wire, sshd, tmp_path):
    """The server down for a while: each failed attempt is a non-fatal error event (and
    an EVE engine event); the source reconnects once the server is back."""
    first = _packets(FIRST, tmp_path)
    run = RemoteRun(wire, sshd, tmp_path / "remote", reconnect=True)
    try:
        with run:
            wire.replay(FIRST)
            _wait(lambda: run.source.packets >= first,
              lambda: f"{first} packets over ssh ({run.describe()})")
            sessions = [pid for pid, cmd in sshd.descendants() if cmd.startswith("sshd")]
            sshd.stop()             # the listener first: no way back until it returns
            for pid in sessions:
                os.kill(pid, signal.SIGKILL)
            _wait(lambda: len(run.errors) >= 2, "a failed reconnection attempt")
            sshd.start()
            _wait(lambda: "link_back" in run.kinds(), "capturing again")
            run.stop()
    finally:
        if sshd.proc.poll() is not None:
            sshd.start()
    failed = run.errors[1:]
    assert failed and all(e.kind == "connection" and not e.fatal for e in failed)
    assert all("Connection refused" in e.message and "(attempt " in e.message
               for e in failed), [e.message for e in failed]
    assert run.summary.counters["wirescore.capture.reconnects"] == 1


def _one_line_error(proc) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wirescore: error: "), proc.stderr
    return lines[0][len("wirescore: error: "):]


@needs_sshd
@pytest.mark.live
def test_cli_errors_are_one_line(wire, sshd, tmp_path):
    """Nothing listening, a key the server refuses, no tcpdump there, no such interface:
    one line each, naming the source, before any output is written."""
    common = ("--ssh-config", str(sshd.client_config), "-l", str(tmp_path / "logs"))
    closed = _free_port()
    text = _one_line_error(_cli("-r", sshd.url(port=closed), *common, ns=wire.cap_ns))
    assert text == (f"{sshd.url(port=closed)}: ssh failed: ssh: connect to host 127.0.0.1 "
                    f"port {closed}: Connection refused"), text

    refused = ("--ssh-config", str(sshd.client("other_key")), "-l", str(tmp_path / "logs"))
    text = _one_line_error(_cli("-r", sshd.url(), *refused, ns=wire.cap_ns))
    assert text == f"{sshd.url()}: ssh failed: root@127.0.0.1: Permission denied (publickey).", \
        text

    text = _one_line_error(_cli("-r", sshd.url(), *common, "--remote-tcpdump",
                                "no-such-tcpdump", ns=wire.cap_ns))
    assert text.startswith(f"{sshd.url()}: remote tcpdump not found (") and \
        "no-such-tcpdump" in text and text.endswith(
            "install it on the host, or name it with --remote-tcpdump "
            "(e.g. /usr/sbin/tcpdump)"), text

    text = _one_line_error(_cli("-r", sshd.url(iface="ws-nope"), *common, ns=wire.cap_ns))
    assert text.startswith(f"{sshd.url(iface='ws-nope')}: remote tcpdump failed: tcpdump: "
                           "ws-nope: "), text
    assert not (tmp_path / "logs" / "eve.json").exists() or \
        not (tmp_path / "logs" / "eve.json").read_text()
