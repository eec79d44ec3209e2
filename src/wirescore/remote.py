"""Remote capture over ssh: `-r ssh://[user@]host[:port]/IFACE[?bpf=EXPR]`.

    source = RemoteSource("ssh://root@sensor/eth1?bpf=not%20port%2022", reconnect=True)
    summary = Engine(cfg, "logs").run_source(source)      # engine.stop() ends it

The system's ssh client runs tcpdump on the host,

    ssh -o BatchMode=yes [-o OPTION ...] [-F CONFIG] [-p PORT] [-l USER] HOST \\
        sh -c '... tcpdump -i IFACE -U -w - -s SNAPLEN -B KIB --immediate-mode [EXPR] ...'

(pcap on standard output, flushed after every packet, delivered as soon as the kernel has
it; the kernel buffer as large as a live capture's, capture.buffer_mb: in immediate
mode libpcap gives each packet a slot of the snap length, so the 2 MiB default holds
about 30 full-size frames, and a burst while tcpdump waits for ssh would be dropped),
and its output is read as a pipe is (capture.FileSource over the ssh process's
standard output: the same batches, read timeouts on a quiet stream and expiry on the
wall clock; see capture.py). BatchMode means ssh never prompts: keys, the agent,
known_hosts and ~/.ssh/config are used as the user has them, a password never. ssh
options come from the settings (capture.ssh_config: -F FILE; capture.ssh_options:
-o KEY=VALUE, which win over the defaults added here: ConnectTimeout=10,
ServerAliveInterval=5, ServerAliveCountMax=3, so a dead connection is noticed within
about 15 s). The URL's bpf (URL-encoded) filters on the remote host, before the bytes
cross the network; --bpf filters here, as for any pipe. Capturing on the interface the
ssh session itself uses captures that session too: filter it out (`?bpf=not port 22`).

Errors are one line naming the source (ssh://...): a URL that is not one (before ssh
runs), no ssh client, ssh's own last line when it cannot connect or log in
("Connection refused", "Permission denied (publickey)", "Host key verification
failed."), a remote tcpdump that is missing, may not capture or is too old, and the
remote shell writing to standard output (a .bashrc that echoes) instead of pcap.

A session that ends during the run (connection dropped, sshd or tcpdump killed) is a
CaptureFault after every packet received before it (the engine writes them out; exit
status 1), unless reconnect is on: then the source keeps yielding empty batches every
timeout_ms (the engine keeps its flows and host state and ages them on the wall clock:
the last packet's time plus the time since it arrived), and opens a new ssh session with
the same command, after RETRY_FIRST_S, then twice as long each time up to RETRY_MAX_S.
Every loss is counted (stats capture.errors; link_downs, seconds_without_capture() and
reconnects here, which the engine's summary reports as wirescore.capture.link_down,
..._ms and wirescore.capture.reconnects), logged, and reported through take_events() as
EVE `engine` events and run status events (wirescore.status): when it went, each failed
attempt, and when capture resumed with the seconds without capture. Packets the
interface saw while no session was open are not captured.

Closing the source (the run's end, a stop) closes ssh's standard input and terminates
ssh; on the host, a watcher beside tcpdump sees its standard input close (as it does
when the connection is lost) and ends tcpdump, so none is left behind on a quiet link
(a bare `ssh host tcpdump` would keep running until its next write fails).
"""
from __future__ import annotations

import logging
import os
import re
import select
import shlex
import shutil
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterator, Optional
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from wirescore.capture import CaptureFault, FileSource, _prefetched
from wirescore.errors import WirescoreError

log = logging.getLogger(__name__)

SCHEME = "ssh://"
#: seconds before the first reconnection attempt, and the longest wait between two
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0
#: ssh -o defaults; an option of the same name in capture.ssh_options wins (ssh keeps the
#: first value it is given)
DEFAULT_SSH_OPTIONS = ("ConnectTimeout=10", "ServerAliveInterval=5", "ServerAliveCountMax=3")
#: seconds ssh is given to exit (and say why) once its output ended
EXIT_WAIT_S = 5.0
#: capture events (take_events) kept at most between two drains
MAX_EVENTS = 256
STDERR_LINES = 20

_EMPTY_META = np.empty((0, 4), dtype=np.uint32)
_EMPTY_META.flags.writeable = False


def is_remote(path) -> bool:
    """True for an ssh:// source (any case of the scheme)."""
    return str(path)[:len(SCHEME)].lower() == SCHEME


@dataclass(frozen=True)
class RemoteTarget:
    """A parsed ssh:// URL: user and port None when not given; bpf URL-decoded."""

    user: Optional[str]
    host: str
    port: Optional[int]
    iface: str
    bpf: Optional[str]

    @property
    def name(self) -> str:
        """The source's name in messages: the URL without its query."""
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        return f"{SCHEME}{user}{host}{port}/{self.iface}"


def parse_url(url: str) -> RemoteTarget:
    """ssh://[user@]host[:port]/IFACE[?bpf=EXPR] -> RemoteTarget; a WirescoreError naming
    the URL and what is wrong otherwise (no password, one interface, bpf the only key)."""
    def bad(why: str) -> WirescoreError:
        return WirescoreError(f"{url}: not a remote source: {why} (expected "
                              "ssh://[user@]host[:port]/IFACE[?bpf=EXPR])")

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise bad(str(exc)) from None
    if parts.scheme.lower() != "ssh":
        raise bad("the scheme must be ssh://")
    if parts.password is not None:
        raise bad("no password in the URL: ssh logs in with keys or the agent")
    host = parts.hostname
    if not host or host.startswith("-") or any(c.isspace() for c in host):
        raise bad("no host" if not host else f"{host!r} is not a host name")
    user = unquote(parts.username) if parts.username else None
    if user is not None and (not user or user.startswith("-")
                             or any(c.isspace() for c in user)):
        raise bad(f"{user!r} is not a user name")
    if port == 0:
        raise bad("port 0")
    iface = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if not iface:
        raise bad("no interface after the host")
    if ("/" in iface or len(iface.encode()) > 15 or iface.startswith("-")
            or any(c.isspace() for c in iface)):
        raise bad(f"{iface!r} is not an interface name")
    if parts.fragment:
        raise bad(f"unexpected #{parts.fragment}")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise bad(f"cannot read the query {parts.query!r}") from None
    unknown = sorted(set(query) - {"bpf"})
    if unknown:
        raise bad(f"unknown query key {unknown[0]!r} (only bpf)")
    bpfs = query.get("bpf", [])
    if len(bpfs) > 1:
        raise bad("bpf given twice")
    bpf = bpfs[0].strip() if bpfs else None
    return RemoteTarget(user, host, port, iface, bpf or None)


def ssh_command(target: RemoteTarget, *, snaplen: int = 65535, buffer_mb: int = 64,
                ssh_config: Optional[str] = None, ssh_options=(),
                tcpdump: str = "tcpdump", ssh: str = "ssh") -> list[str]:
    """The argv that captures target's interface (module docstring). snaplen: bytes
    kept per packet; buffer_mb: the remote kernel buffer (MiB); ssh_options: KEY=VALUE
    strings (ssh -o); tcpdump: the remote command, split as a shell would (may hold
    sudo); the remote command line is quoted for the remote shell."""
    argv = ssh_prefix(target.host, target.user, target.port, ssh_config=ssh_config,
                      ssh_options=ssh_options, ssh=ssh)
    try:
        prog = shlex.split(tcpdump)
    except ValueError as exc:
        raise WirescoreError(f"--remote-tcpdump {tcpdump!r}: {exc}") from None
    if not prog:
        raise WirescoreError("--remote-tcpdump: empty command")
    remote = [*prog, "-i", target.iface, "-U", "-w", "-", "-s", str(int(snaplen)),
              "-B", str(int(buffer_mb) * 1024), "--immediate-mode"]
    if target.bpf:
        remote.append(target.bpf)
    return argv + [target.host, remote_command(remote)]


def ssh_prefix(host: str, user: Optional[str], port: Optional[int], *,
               ssh_config: Optional[str] = None, ssh_options=(), ssh: str = "ssh"
               ) -> list[str]:
    """ssh's argv up to the host (which comes next, then the remote command): never
    prompts (BatchMode), ssh_options (KEY=VALUE, ssh -o) before the defaults
    (DEFAULT_SSH_OPTIONS), -F ssh_config, -p port, -l user, and "--"."""
    argv = [ssh, "-T", "-o", "BatchMode=yes"]
    for option in ssh_options:
        option = str(option).strip()
        if not option or option.startswith("-") or "=" not in option:
            raise WirescoreError(f"--ssh-option {option!r}: expected KEY=VALUE "
                                 "(an ssh -o option, e.g. IdentityFile=~/.ssh/sensor)")
        argv += ["-o", option]
    for option in DEFAULT_SSH_OPTIONS:
        argv += ["-o", option]
    if ssh_config:
        argv += ["-F", str(ssh_config)]
    if port:
        argv += ["-p", str(port)]
    if user:
        argv += ["-l", user]
    return argv + ["--"]


def remote_command(tcpdump_argv: list[str]) -> str:
    """The command line ssh runs on the host: tcpdump, and a watcher that ends it when
    the session's standard input closes (wirescore closed it, or the connection went):
    without it, a tcpdump on a quiet link would outlive the session until its next
    write. The script runs under sh whatever the login shell; its exit status is
    tcpdump's (127: not found; 128 + N: killed by signal N)."""
    script = ("exec 3<&0 </dev/null; "
              + " ".join(shlex.quote(a) for a in tcpdump_argv) + " 3<&- & p=$!; "
              "{ cat <&3; kill $p; } >/dev/null 2>&1 & "
              "exec 3<&-; wait $p")
    return "sh -c " + shlex.quote(script)


#: what tcpdump says on standard error when all is well: not a reason
_CHATTER = re.compile(r"^tcpdump: listening on |^tcpdump: verbose output suppressed|"
                      r"^\d+ packets? (captured|received by filter|dropped by )")


def why_session_failed(returncode: Optional[int], stderr_lines: list[str]) -> str:
    """One line: why an ssh session ended, from ssh's exit status and
    the last lines of its standard error (ssh's own, or the remote tcpdump's)."""
    lines = [line for line in stderr_lines if line.strip() and not _CHATTER.search(line)]
    last = lines[-1].strip() if lines else ""
    text = "\n".join(lines).lower()
    if returncode == 255:
        return f"ssh failed: {last}" if last else ("ssh exit status 255 without a message "
                                                   "(the connection closed?)")
    if returncode == 127 or "command not found" in text:
        return (f"remote tcpdump not found ({last or 'exit status 127'}); install "
                "it on the host, or name it with --remote-tcpdump (e.g. /usr/sbin/tcpdump)")
    if "unrecognized option" in text and "immediate-mode" in text:
        return (f"the remote tcpdump is too old for --immediate-mode (4.7 or later "
                f"needed): {last}")
    if "tcpdump:" in text and ("permission" in text or "operation not permitted" in text):
        return (f"the remote tcpdump may not capture ({last}); log in as root, or "
                "capture through sudo (--remote-tcpdump 'sudo -n tcpdump')")
    if "tcpdump:" in text:
        tcpdump_lines = [line for line in lines if "tcpdump:" in line]
        return f"remote tcpdump failed: {tcpdump_lines[-1].strip()}"
    if returncode is None:
        return f"the ssh session's output ended{': ' + last if last else ''}"
    if returncode < 0:
        return f"ssh was killed by signal {-returncode}"
    if 128 < returncode < 160:
        return f"the remote tcpdump was killed by signal {returncode - 128}"
    return f"the remote side ended (exit status {returncode})" + \
        (f": {last}" if last else "")


def keep_stderr(proc, into: deque, name: str) -> threading.Thread:
    """Start a daemon thread that reads proc's standard error to its end, keeping each
    non-empty line (decoded, trailing space off) in `into` (a bounded deque) and logging
    it at debug level under `name`; returns the thread."""
    def read() -> None:
        for raw in iter(proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                into.append(line)
                log.debug("%s: %s", name, line)

    thread = threading.Thread(target=read, daemon=True, name=f"wirescore-stderr {name}")
    thread.start()
    return thread


class _Session:
    """One ssh process and, once its output starts, the FileSource reading it."""

    def __init__(self, argv: list[str], name: str):
        self.name = name
        self.stderr: deque = deque(maxlen=STDERR_LINES)
        self.reader: Optional[FileSource] = None
        try:
            # its own session: a Ctrl-C at the terminal stops the engine, which then
            # closes ssh, rather than killing ssh first (which would look like a drop).
            # Standard input stays open, unused, for the session's life: the remote
            # watcher (remote_command) ends tcpdump when it closes.
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         start_new_session=True, close_fds=True)
        except OSError as exc:
            raise WirescoreError(f"{name}: cannot run ssh: {exc.strerror}") from None
        self._errors = keep_stderr(self.proc, self.stderr, name)

    def output_ready(self, timeout_s: float) -> bool:
        """True once ssh's standard output has bytes or is closed (then opening reads
        without waiting long); waits at most timeout_s."""
        poller = select.poll()
        poller.register(self.proc.stdout.fileno(), select.POLLIN | select.POLLHUP)
        return bool(poller.poll(max(0.0, timeout_s) * 1000))

    def open_reader(self, bpf, batch_size: int, timeout_ms: int) -> FileSource:
        """The FileSource over ssh's output (its pcap header read); a WirescoreError
        saying why the session failed when no capture comes."""
        fd = os.dup(self.proc.stdout.fileno())
        try:
            self.reader = FileSource(self.name, bpf=bpf, batch_size=batch_size,
                                     timeout_ms=timeout_ms, fd=fd)
        except WirescoreError as exc:
            if "--bpf" in str(exc):
                raise
            code = self.wait_exit(EXIT_WAIT_S)
            if code is None and self.proc.poll() is None:     # alive, but not pcap
                raise WirescoreError(
                    f"{self.name}: the remote output is not a pcap stream ({exc}); does the "
                    "remote shell print at login (.bashrc)? The command must write only "
                    "tcpdump's output") from None
            raise WirescoreError(f"{self.name}: {why_session_failed(code, list(self.stderr))}"
                                 ) from None
        return self.reader

    def wait_exit(self, timeout_s: float) -> Optional[int]:
        """ssh's exit status once it exited (waiting at most timeout_s, then its standard
        error read to the end), else None."""
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None
        self._errors.join(1.0)
        return code

    def close(self) -> None:
        """Close ssh's standard input (the remote tcpdump ends), terminate ssh (then
        kill it if it lingers) and close the reader."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(2.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._errors.join(1.0)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        if self.reader is not None:
            self.reader.close()


class RemoteSource:
    """Packets of a remote interface, captured by tcpdump over ssh; see the module
    docstring. A packet source as wirescore.capture defines them (mode "remote").

    Parameters: url (ssh://[user@]host[:port]/IFACE[?bpf=EXPR]); bpf (a filter applied
    here, as --bpf on a pipe; None); batch_size, timeout_ms (as FileSource: packets per
    batch, ms a batch waits on a quiet stream); snaplen (bytes the remote tcpdump keeps
    per packet, 64..262144); buffer_mb (its kernel buffer, MiB); ssh_config (a file for ssh -F, or None for ~/.ssh/config);
    ssh_options (KEY=VALUE strings for ssh -o); tcpdump (the remote command); reconnect
    (open a new session when one ends, rather than ending the run); prefetch (batches
    read ahead by a reader thread, 0 = in the caller's thread); ssh (the client).

    Opening starts ssh and waits for the pcap header (as long as ssh takes to connect:
    ConnectTimeout); every failure to get there is a one-line WirescoreError.
    """

    mode = "remote"

    def __init__(self, url: str, *, bpf: Optional[str] = None, batch_size: int = 4096,
                 timeout_ms: int = 100, snaplen: int = 65535, buffer_mb: int = 64,
                 ssh_config: Optional[str] = None, ssh_options=(),
                 tcpdump: str = "tcpdump", reconnect: bool = False, prefetch: int = 4,
                 ssh: str = "ssh"):
        self.target = parse_url(url)
        self.name = self.target.name
        self.iface = self.target.iface
        self.url = url
        self.bpf = bpf
        self.batch_size, self.timeout_ms = int(batch_size), max(1, int(timeout_ms))
        self.tcpdump = tcpdump
        self.reconnect = bool(reconnect)
        self.prefetch = int(prefetch)
        self.size_bytes = None
        if not 64 <= int(snaplen) <= 262144:
            raise WirescoreError(f"{self.name}: snap length {snaplen} out of range "
                                 "(64..262144 bytes)")
        client = shutil.which(ssh)
        if client is None:
            raise WirescoreError(f"{self.name}: no ssh client ({ssh!r} not found); install "
                                 "OpenSSH's (apt-get install openssh-client)")
        self.argv = ssh_command(self.target, snaplen=snaplen, buffer_mb=buffer_mb,
                                ssh_config=ssh_config,
                                ssh_options=ssh_options, tcpdump=tcpdump, ssh=client)
        self.packets = 0
        self.link_downs = 0              # sessions lost during the run
        self.link_down_s = 0.0           # seconds without a session, in all
        self.reconnects = 0              # sessions opened again
        self.capture_state = "running"   # or "link_down" (the health object of stats)
        self._down_since: Optional[float] = None
        self._last_packet: Optional[tuple] = None     # (packet time, arrival monotonic)
        self._events: deque = deque(maxlen=MAX_EVENTS)
        self._lock = threading.Lock()
        self._closed = False
        self._clock = None
        log.debug("%s: %s", self.name, shlex.join(self.argv))
        self._session = _Session(self.argv, self.name)
        try:
            self._open_reader(self._session)
        except BaseException:
            self._session.close()
            raise
        self.linktype = self._session.reader.linktype
        log.info("%s: capturing over ssh", self.name)

    def _open_reader(self, session: _Session) -> FileSource:
        return session.open_reader(self.bpf, self.batch_size, self.timeout_ms)

    # ------------------------------------------------------------------ reading

    def batches(self) -> Iterator[tuple]:
        """Yield (data, meta, linktype) until the session ends (without reconnect: then
        CaptureFault) or the consumer stops iterating."""
        items = _prefetched(self._read_batches, self.prefetch, self.name) \
            if self.prefetch > 0 else self._read_batches()
        for data, meta, linktype, clock in items:
            self._clock = clock
            yield data, meta, linktype

    def expiry_clock(self) -> Optional[float]:
        """A quiet stream's clock (capture.FileSource), and during a reconnection the
        last packet's time plus the wall time since it arrived; else None."""
        return self._clock

    def _read_batches(self) -> Iterator[tuple]:
        while True:
            session = self._session
            fault: Optional[CaptureFault] = None
            try:
                for data, meta, linktype in session.reader.batches(prefetch=0):
                    if meta.shape[0]:
                        self.packets += meta.shape[0]
                        sec, usec = meta[-1, :2].tolist()
                        self._last_packet = (sec + usec / 1e6, time.monotonic())
                    yield data, meta, linktype, session.reader.expiry_clock()
            except CaptureFault as exc:
                fault = exc
            if self._closed:
                return
            why = why_session_failed(session.wait_exit(EXIT_WAIT_S), list(session.stderr))
            if fault is not None and "damaged" in str(fault):
                why = f"{why}; the stream ended inside a record ({fault})"
            session.close()
            if not self.reconnect:
                raise CaptureFault(f"{self.name}: connection lost after packet "
                                   f"{self.packets}: {why} (--reconnect resumes)")
            yield from self._resume(why)

    def _resume(self, why: str) -> Iterator[tuple]:
        """The session ended: report, yield empty batches every timeout_ms while opening
        new sessions (backing off), return once one delivers its pcap header."""
        self.link_downs += 1
        self.capture_state = "link_down"
        self._down_since = time.monotonic()
        lost = f"{self.name}: connection lost after packet {self.packets}: {why}"
        log.warning("%s; reconnecting in %.0f s", lost, RETRY_FIRST_S)
        self._event("Warning", "link_lost", f"{lost}; reconnecting", packets=self.packets)
        delay, next_try = RETRY_FIRST_S, self._down_since + RETRY_FIRST_S
        timeout_s = self.timeout_ms / 1000.0
        pending: Optional[_Session] = None
        attempts = 0
        try:
            while True:
                yield b"", _EMPTY_META, self.linktype, self._gap_clock()
                if self._closed:
                    return
                if pending is None:
                    left = next_try - time.monotonic()
                    if left > 0:
                        time.sleep(min(timeout_s, left))
                        continue
                    attempts += 1
                    try:
                        pending = _Session(self.argv, self.name)
                    except WirescoreError as exc:
                        failure = str(exc)
                    else:
                        if not pending.output_ready(timeout_s):
                            continue
                        failure = self._try_open(pending)
                elif not pending.output_ready(timeout_s):
                    continue
                else:
                    failure = self._try_open(pending)
                if failure is None:
                    with self._lock:
                        if self._closed:
                            return
                        self._session = pending
                    break
                if pending is not None:
                    pending.close()
                    pending = None
                delay = min(RETRY_MAX_S, delay * 2)
                next_try = time.monotonic() + delay
                log.warning("%s (attempt %d); next attempt in %.0f s", failure, attempts,
                            delay)
                self._event("Warning", "reconnect_failed", f"{failure} (attempt {attempts})")
        finally:  # a stop (or the consumer gone) during an attempt: no ssh left
            if pending is not None and pending is not self._session:
                pending.close()
        gap = time.monotonic() - self._down_since
        self.link_down_s += gap
        self._down_since = None
        self.reconnects += 1
        self.capture_state = "running"
        message = (f"{self.name}: capturing again after {gap:.1f} s without capture "
                   f"(reconnect {self.reconnects}, attempt {attempts})")
        log.warning("%s", message)
        self._event("Info", "link_back", message, seconds=round(gap, 3),
                    reconnect=self.reconnects, attempts=attempts)

    def _try_open(self, session: _Session) -> Optional[str]:
        """None when the session delivered its pcap header, else why not."""
        try:
            self._open_reader(session)
        except WirescoreError as exc:
            return str(exc)
        return None

    def _gap_clock(self) -> Optional[float]:
        if self._last_packet is None:
            return None
        packet_time, arrived = self._last_packet
        return packet_time + (time.monotonic() - arrived)

    # ------------------------------------------------------------------ reporting

    def _event(self, level: str, kind: str, message: str, **details) -> None:
        self._events.append({"timestamp_us": int(time.time() * 1e6), "log_level": level,
                             "module": "capture", "message": message, "kind": kind,
                             "details": details})

    def take_events(self) -> list[dict]:
        """Capture events since the last call, oldest first (at most MAX_EVENTS kept):
        dicts of timestamp_us (wall clock, µs), log_level, module, message, kind
        ("link_lost", "reconnect_failed", "link_back") and details. The engine writes
        them as EVE `engine` events and reports them as status events."""
        out = []
        while self._events:
            out.append(self._events.popleft())
        return out

    def stats(self) -> dict:
        """capture.* counters: no kernel counters reach here (tcpdump prints its own at
        its end); errors = sessions lost."""
        return {"kernel_drops": 0, "errors": self.link_downs}

    def seconds_without_capture(self) -> float:
        """Seconds without a session (lost connections), the running gap included."""
        since = self._down_since
        return self.link_down_s + (time.monotonic() - since if since is not None else 0.0)

    def summary_counters(self) -> dict:
        """Counters for the run's summary beside link_down and link_down_ms."""
        return {"wirescore.capture.reconnects": self.reconnects} if self.link_downs else {}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            session = self._session
        session.close()

    def __enter__(self) -> "RemoteSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_remote(url: str, cfg, prefetch: int = 4) -> RemoteSource:
    """A RemoteSource with the capture.* settings of a Config."""
    return RemoteSource(url, bpf=cfg["capture.bpf"], batch_size=cfg["capture.batch_size"],
                        timeout_ms=cfg["capture.timeout_ms"], snaplen=cfg["capture.snaplen"],
                        buffer_mb=cfg["capture.buffer_mb"],
                        ssh_config=cfg["capture.ssh_config"],
                        ssh_options=cfg["capture.ssh_options"],
                        tcpdump=cfg["capture.remote_tcpdump"],
                        reconnect=cfg["capture.reconnect"], prefetch=prefetch)
