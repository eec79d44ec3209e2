"""EVE outputs other than a regular file (outputs/eve_targets.py, outputs/eve_sockets.py),
each against a real peer on loopback: a unix stream and a unix datagram listener, a
syslog socket, a real redis-server. What a listener receives must be byte for byte what
the regular file holds; a peer that goes away and comes back loses no line up to the
buffer, and what the buffer cannot hold is counted; a peer that never reads does not
hold up the run.

redis-server comes from Debian's redis-server package (.ci/run installs it); the Redis
tests skip, saying so, where it is missing.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, run_wirescore

from wirescore.config import Config
from wirescore.engine import Engine
from wirescore.errors import WirescoreError
from wirescore.outputs import eve_sockets
from wirescore.outputs.eve_sockets import SocketOutput

SYNSCAN = FIXTURES / "ndpi-synscan.pcap"       # 1,998 EVE lines, 3 alerts


class StreamListener:
    """A unix stream socket that accepts one connection at a time and keeps what it
    receives, in a thread; read=False accepts but never reads (a stuck peer)."""

    def __init__(self, path: Path, read: bool = True):
        self.path, self.read = str(path), read
        self.data = bytearray()
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.conn = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.conn, _ = self.server.accept()
        while self.read:
            chunk = self.conn.recv(1 << 16)
            if not chunk:
                return
            self.data += chunk

    def drain(self) -> bytes:
        """Everything still unread (for a listener that did not read), then close."""
        self.thread.join(timeout=10)
        self.conn.setblocking(False)
        try:
            while chunk := self.conn.recv(1 << 16):
                self.data += chunk
        except BlockingIOError:
            pass
        return bytes(self.data)

    def received(self, timeout: float = 10) -> bytes:
        """Everything received once the writer hung up (the thread saw the end)."""
        self.thread.join(timeout=timeout)
        assert not self.thread.is_alive(), "the writer never hung up"
        return bytes(self.data)

    def wait_for(self, nbytes: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.data) < nbytes and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.data) >= nbytes, f"{len(self.data)} of {nbytes} bytes arrived"

    def stop(self) -> None:
        """Close as a peer that exits does (shutdown wakes the thread's recv)."""
        for s in (self.conn, self.server):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:          # the listening socket, or already shut
                    pass
                s.close()
        self.thread.join(timeout=10)
        Path(self.path).unlink(missing_ok=True)


def run(tmp_path: Path, name: str, **settings):
    """A whole run of the synscan capture with detection (so alerts come too); returns
    (log dir, Summary)."""
    logdir = tmp_path / name
    return logdir, Engine(Config(settings), logdir).run(str(SYNSCAN))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> bytes:
    """eve.json of a regular run."""
    logdir, _ = run(tmp_path_factory.mktemp("ref"), "regular")
    data = (logdir / "eve.json").read_bytes()
    assert data.count(b"\n") > 1000 and b'"event_type":"alert"' in data
    return data


def test_a_unix_stream_listener_receives_the_file_byte_for_byte(tmp_path, reference):
    listener = StreamListener(tmp_path / "router.sock")
    try:
        _, summary = run(tmp_path, "stream", **{"outputs.eve.filetype": "unix_stream",
                                                "outputs.eve.filename": listener.path})
        assert listener.received() == reference
        assert summary.counters["wirescore.output.eve.lines"] == reference.count(b"\n")
        assert summary.counters["wirescore.output.eve.dropped"] == 0
    finally:
        listener.stop()


def test_a_unix_dgram_listener_gets_a_line_a_datagram(tmp_path, reference):
    path = str(tmp_path / "eve.dgram")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    got: list[bytes] = []

    def receive():
        server.settimeout(5)
        try:
            while True:
                got.append(server.recv(1 << 20))
        except (socket.timeout, OSError):
            return

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    try:
        _, summary = run(tmp_path, "dgram", **{"outputs.eve.filetype": "unix_dgram",
                                               "outputs.eve.filename": path})
        thread.join(timeout=30)
    finally:
        server.close()
    assert all(d.endswith(b"\n") and d.count(b"\n") == 1 for d in got)
    assert b"".join(got) == reference
    assert summary.counters["wirescore.output.eve.dropped"] == 0


def test_syslog_messages_carry_facility_severity_identity_and_one_line(tmp_path, reference):
    path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    server.settimeout(5)
    try:
        _, summary = run(tmp_path, "syslog", **{
            "outputs.eve.filetype": "syslog", "outputs.eve.syslog.address": path,
            "outputs.eve.syslog.facility": "local5", "outputs.eve.syslog.level": "warning",
            "outputs.eve.syslog.identity": "suricata", "outputs.eve.types": "alert"})
        messages = []
        try:
            while True:
                messages.append(server.recv(1 << 20).decode())
        except socket.timeout:
            pass
    finally:
        server.close()
    alerts = [line for line in reference.decode().splitlines() if '"event_type":"alert"' in line]
    assert len(messages) == len(alerts) == 3
    for message, line in zip(messages, alerts):
        # RFC 3164 as glibc writes it: <PRI>Mmm dd hh:mm:ss ident[pid]: msg; PRI =
        # facility local5 (21) * 8 + severity warning (4)
        head, _, body = message.partition("]: ")
        assert head.startswith("<172>") and " suricata[" in head, head
        assert body == line
        json.loads(body)


def test_a_peer_that_restarts_loses_no_line_up_to_the_buffer(tmp_path):
    """Lines written while the listener is away wait in the buffer and arrive, in
    order, once it is back; the retry waits RETRY_S of the output's clock."""
    now = [100.0]
    path = tmp_path / "peer.sock"
    out = SocketOutput("EVE unix_stream test", "t", str(path), socket.SOCK_STREAM,
                       1 << 20, clock=lambda: now[0])
    lines = [json.dumps({"n": i, "pad": "x" * 50}).encode() + b"\n" for i in range(3000)]
    first = StreamListener(path)
    try:
        out.write_bytes(b"".join(lines[:1000]))
        first.wait_for(sum(map(len, lines[:1000])))
    finally:
        first.stop()
    out.write_bytes(b"".join(lines[1000:2000]))          # peer gone: buffered
    assert out.lines_sent == 1000 and out.dropped == 0
    second = StreamListener(path)
    try:
        out.write_bytes(b"".join(lines[2000:2500]))      # too soon to retry: buffered
        assert out.lines_sent == 1000
        now[0] += eve_sockets.RETRY_S
        out.write_bytes(b"".join(lines[2500:]))
        out.close()
        assert second.received() == b"".join(lines[1000:])
    finally:
        second.stop()
    assert (out.lines_sent, out.dropped, out.reconnects) == (3000, 0, 1)


def test_what_the_buffer_cannot_hold_is_dropped_newest_first_and_counted(tmp_path):
    now = [0.0]
    path = tmp_path / "peer.sock"
    limit = 1 << 20
    out = SocketOutput("EVE unix_stream test", "t", str(path), socket.SOCK_STREAM, limit,
                       clock=lambda: now[0])
    line_len = 1000
    lines = [(f'{{"n":{i:06d},"pad":"' + "x" * (line_len - 22) + '"}\n').encode()
             for i in range(2000)]
    assert all(len(line) == line_len for line in lines)
    out.write_bytes(b"".join(lines))                     # nobody listening yet
    fit = limit // line_len
    assert out.dropped == 2000 - fit and out.lines_sent == 0
    listener = StreamListener(path)
    try:
        now[0] += eve_sockets.RETRY_S
        out.close()
        assert listener.received() == b"".join(lines[:fit])
    finally:
        listener.stop()
    assert out.counters() == {"wirescore.output.t.lines": fit,
                              "wirescore.output.t.dropped": 2000 - fit,
                              "wirescore.output.t.reconnects": 0}


def test_a_peer_that_never_reads_does_not_hold_up_the_run(tmp_path, reference,
                                                          monkeypatch):
    """A listener that accepts and never reads: the run ends (the close gives the
    buffer CLOSE_WAIT_S), and every line is either in the socket or counted dropped."""
    monkeypatch.setattr(eve_sockets, "CLOSE_WAIT_S", 0.5)
    listener = StreamListener(tmp_path / "stuck.sock", read=False)
    try:
        _, summary = run(tmp_path, "stuck", **{"outputs.eve.filetype": "unix_stream",
                                               "outputs.eve.filename": listener.path,
                                               "outputs.eve.buffer_mb": 1})
        received = listener.drain()
    finally:
        listener.stop()
    total = reference.count(b"\n")
    dropped = summary.counters["wirescore.output.eve.dropped"]
    assert dropped > 0, "the socket took everything: the test needs a larger capture"
    assert received.count(b"\n") + dropped == total
    assert reference.startswith(received)
    assert summary.counters["wirescore.output.eve.lines"] == received.count(b"\n")


# ------------------------------------------------------------------ Redis


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free loopback port, no persistence; yields its port and a
    function that restarts it (same port)."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server not installed (Debian package redis-server)")
    redis = pytest.importorskip("redis", reason="the redis package (wirescore[redis])")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []

    def start():
        proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        client = redis.Redis(port=port)
        for _ in range(200):
            try:
                client.ping()
                return client
            except redis.ConnectionError:
                time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def stop():
        procs[-1].terminate()
        procs[-1].wait(timeout=10)

    yield port, start, stop
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("mode", ["list", "rpush", "stream", "publish"])
def test_redis_modes_carry_every_line(tmp_path, reference, redis_server, mode):
    port, start, _ = redis_server
    client = start()
    lines = reference.decode().splitlines()
    received: list[bytes] = []
    if mode == "publish":
        sub = client.pubsub()
        sub.subscribe("eve-ch")
        sub.get_message(timeout=2)                       # the subscribe confirmation
    _, summary = run(tmp_path, mode, **{
        "outputs.eve.filetype": "redis", "outputs.eve.redis.port": port,
        "outputs.eve.redis.mode": mode,
        "outputs.eve.redis.key": "eve-ch" if mode == "publish" else "suricata"})
    if mode == "list":          # LPUSH: the newest first, as Suricata's list mode
        received = client.lrange("suricata", 0, -1)[::-1]
    elif mode == "rpush":
        received = client.lrange("suricata", 0, -1)
    elif mode == "stream":
        received = [fields[b"eve"] for _, fields in client.xrange("suricata")]
    else:
        while len(received) < len(lines):
            message = sub.get_message(timeout=5)
            if message is None:
                break
            received.append(message["data"])
    assert [r.decode() for r in received] == lines
    assert summary.counters["wirescore.output.eve.lines"] == len(lines)


def test_redis_restart_loses_no_line(tmp_path, redis_server):
    port, start, stop = redis_server
    now = [0.0]
    out = eve_sockets.RedisOutput("EVE redis test", "r", "127.0.0.1", port, "rpush", "k",
                                  1 << 20, clock=lambda: now[0])
    client = start()
    lines = [f'{{"n":{i}}}\n'.encode() for i in range(300)]
    out.write_bytes(b"".join(lines[:100]))
    assert client.llen("k") == 100
    stop()
    out.write_bytes(b"".join(lines[100:200]))            # server gone: buffered
    client = start()                                     # a fresh server: empty
    now[0] += eve_sockets.RETRY_S
    out.write_bytes(b"".join(lines[200:]))
    out.close()
    assert client.lrange("k", 0, -1) == [line.rstrip(b"\n") for line in lines[100:]]
    assert (out.lines_sent, out.dropped, out.reconnects) == (300, 0, 1)


# ------------------------------------------------------------------ several at once


def test_several_outputs_each_with_its_own_types(tmp_path, reference):
    listener = StreamListener(tmp_path / "alerts.sock")
    try:
        logdir, _ = run(tmp_path, "many", **{"outputs.eve.types": "flow", "outputs.eve.also": [
            f"unix_stream:{listener.path}?types=alert", "regular:everything.json"]})
        alerts = listener.received().decode()
    finally:
        listener.stop()
    lines = reference.decode().splitlines()
    kinds = [json.loads(line)["event_type"] for line in lines]
    assert (logdir / "everything.json").read_bytes() == reference
    assert (logdir / "eve.json").read_text().splitlines() == \
        [line for line, k in zip(lines, kinds) if k == "flow"]
    assert alerts.splitlines() == \
        [line for line, k in zip(lines, kinds) if k == "alert"]


@pytest.mark.parametrize("args, message", [
    (["--eve-filetype", "kafka"], "filetype 'kafka' is not one of regular, unix_stream"),
    (["--eve-filetype", "redis", "--eve-redis-mode", "lset"], "redis mode 'lset'"),
    (["--eve-also", "redis:host:99999"], "'host:99999' is not HOST:PORT"),
    (["--eve-also", "unix_stream"], "unix_stream needs a path"),
    (["--eve-also", "stdout?colour=1"], "unknown key 'colour'"),
    (["--eve-also", "syslog?facility=local9"], "syslog facility 'local9'"),
    (["--eve-also", "regular:a/b.json"], "must be a plain file name inside the log"),
    (["--eve-also", "regular:/tmp/elsewhere.json"], "must be a plain file name inside the log"),
    (["--eve-also", "regular:x.json?types=alerts"], "unknown event type 'alerts'"),
])
def test_a_bad_output_is_refused_in_one_line(tmp_path, args, message):
    proc = run_wirescore("run", "-r", SYNSCAN, "-l", tmp_path, *args, check=False)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert message in last, proc.stderr


def test_stdout_carries_the_lines_and_the_summary_stays_on_stderr(tmp_path, reference):
    proc = run_wirescore("run", "-r", SYNSCAN, "-l", tmp_path, "--eve-filetype", "stdout")
    assert proc.stdout.encode() == reference
    assert "packets/s" in proc.stderr and not (tmp_path / "eve.json").exists()


def test_the_config_lists_outputs_also_as_yaml(tmp_path):
    cfg = Config.load(overrides={"outputs.eve.also": ("stdout?types=alert",)})
    assert 'also: ["stdout?types=alert"]' in cfg.to_yaml()
    yaml_file = tmp_path / "w.yaml"
    yaml_file.write_text("outputs:\n  eve:\n    also:\n      - regular:a.json\n"
                         "      - stdout?types=alert\n")
    assert Config.load(yaml_file)["outputs.eve.also"] == ("regular:a.json",
                                                          "stdout?types=alert")
    yaml_file.write_text("outputs:\n  eve:\n    also: [1, 2]\n")
    with pytest.raises(WirescoreError, match="outputs.eve.also must be list"):
        Config.load(yaml_file)


# ------------------------------------------------------------------ a real consumer


RSYSLOG_CONF = """\
global(workDirectory="{dir}" maxMessageSize="256k")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{dir}/log.sock" RateLimit.Interval="0")
template(name="eveline" type="string" string="%msg:2:$%\\n")
if $programname == "wirescore" then action(type="omfile" file="{dir}/eve.json"
                                           template="eveline")
"""


def test_rsyslog_writes_the_eve_file_again_from_the_syslog_output(tmp_path, reference):
    """The README's rsyslog recipe with a real rsyslogd (Debian's rsyslog): its file
    is byte for byte the regular eve.json."""
    exe = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd"
                                       if Path("/usr/sbin/rsyslogd").exists() else None)
    if exe is None:
        pytest.skip("rsyslogd not installed (Debian package rsyslog)")
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONF.format(dir=tmp_path))
    proc = subprocess.Popen([exe, "-n", "-f", str(conf), "-i", str(tmp_path / "pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(500):
            if (tmp_path / "log.sock").exists():
                break
            time.sleep(0.01)
        run(tmp_path, "syslog-run", **{"outputs.eve.filetype": "syslog",
                                       "outputs.eve.syslog.address": str(tmp_path / "log.sock")})
    finally:
        proc.terminate()                 # rsyslogd writes out its queue as it stops
        _, err = proc.communicate(timeout=30)
    assert (tmp_path / "eve.json").read_bytes() == reference, err.decode()[-2000:]


def test_a_redis_that_fails_is_tried_once_a_second_not_retried_inside(tmp_path):
    """A server that accepts and hangs up (a Redis that is restarting): each write tries
    one connection at most, none while RETRY_S has not passed (redis-py's own retries,
    which back off for seconds on the writer thread, are off), and the lines wait."""
    pytest.importorskip("redis", reason="the redis package (wirescore[redis])")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.05)
    accepted = []

    def accept_and_close():
        while True:
            try:
                conn, _ = server.accept()
            except socket.timeout:
                continue
            except OSError:                     # the test closed the server
                return
            accepted.append(conn)
            conn.close()

    now = [0.0]
    out = eve_sockets.RedisOutput("EVE redis test", "r", "127.0.0.1",
                                  server.getsockname()[1], "rpush", "k", 1 << 20,
                                  clock=lambda: now[0])
    thread = threading.Thread(target=accept_and_close, daemon=True)
    thread.start()
    try:
        for i in range(5):                      # no time passes: one try in all
            out.write_bytes(f'{{"n":{i}}}\n'.encode())
        time.sleep(0.2)
        assert len(accepted) == 1
        now[0] += eve_sockets.RETRY_S
        out.write_bytes(b'{"n":5}\n')
        time.sleep(0.2)
        assert len(accepted) == 2
        assert (out.lines_sent, out.dropped) == (0, 0) and out._buffered == 6 * 8
    finally:
        server.close()
        thread.join(timeout=5)
