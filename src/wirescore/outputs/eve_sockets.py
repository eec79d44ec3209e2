"""EVE lines to a peer that can go away: a unix socket (stream or datagram), syslog, Redis.

Each of these outputs keeps the lines its peer has not taken yet in a bounded buffer
(outputs.eve.buffer_mb) and sends from it whenever it is written to (every batch, so
about every --read-timeout on a quiet live link) without waiting on the peer: sockets
are non-blocking; a Redis call waits at most RedisOutput.TIMEOUT_S (a server that
accepts and then hangs costs that once per try, a try a second). A peer that is down, not
there yet, or too slow leaves the lines in the buffer; a peer that is down is tried again
at most once a second (RETRY_S). What the buffer cannot hold is dropped, newest first (the
buffer keeps the lines from the start of the outage, in order), and counted
(wirescore.output.<label>.dropped in the run's counters, logged at the end of the run),
so capture never stops for an output.

Whole lines only: a stream connection that breaks after part of a line went out loses
that line (counted as dropped); the next connection starts at a line's beginning. Redis
commands go in pipelines: a connection that breaks in the middle of one may leave the
commands before the break applied and sends them again (duplicates, never loss).

At close() the buffer gets CLOSE_WAIT_S more seconds to go out; what is left then is
counted as dropped.
"""
from __future__ import annotations

import errno
import logging
from abc import ABC, abstractmethod
import os
import select
import socket
import time
from typing import Callable, Optional

import numpy as np

from wirescore.outputs.eve_file import _dumps, ordered_bytes  # noqa: F401 (rotation's)
from wirescore.outputs.spill import LineQueue

log = logging.getLogger(__name__)

RETRY_S = 1.0           # a peer that is down is tried again after this many seconds
CLOSE_WAIT_S = 5.0      # at the end of a run: how long the buffer may still take to go out
#: errors that mean the peer is not there (or went away): buffer and retry
PEER_GONE = (errno.ECONNREFUSED, errno.ENOENT, errno.EPIPE, errno.ECONNRESET,
             errno.ENOTCONN, errno.ECONNABORTED, errno.EHOSTUNREACH, errno.ENETUNREACH,
             errno.ETIMEDOUT, errno.EDESTADDRREQ)
#: errors that mean the peer is there but busy: keep the lines, send later
PEER_BUSY = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS, errno.EINTR)


class BufferedOutput(ABC):
    """The buffer, the retries and the counters every peer output shares; a subclass
    says how to connect (_connect), send (_send_some) and hang up (_disconnect).

    The buffer (outputs/spill.py LineQueue, shared with the files of a live run) holds
    chunks of whole lines, oldest first; a datagram-like output (one message per line)
    gets one line per chunk (split_lines=True)."""

    split_lines = False

    def __init__(self, name: str, label: str, buffer_bytes: int,
                 clock: Callable[[], float] = time.monotonic):
        self.name, self.label = name, label
        self.limit = int(buffer_bytes)
        self.clock = clock
        self._waiting = LineQueue(name, self.limit)
        self._chunks = self._waiting.chunks       # the same deque
        self._connected = False
        self._next_try = 0.0
        self._outage: Optional[str] = None       # why the peer is down (logged once)
        self.lines_sent = self.reconnects = 0
        self._ever_connected = False

    @property
    def dropped(self) -> int:
        """Lines dropped so far (buffer full, cut by a broken connection, left at the
        end)."""
        return self._waiting.dropped

    @dropped.setter
    def dropped(self, value: int) -> None:
        self._waiting.dropped = value

    @property
    def _buffered(self) -> int:                  # bytes in _chunks
        return self._waiting.size

    @_buffered.setter
    def _buffered(self, value: int) -> None:
        self._waiting.size = value

    # ---------------------------------------------------------- what EveSink calls

    def write_ordered(self, blocks: list[bytes], keys) -> None:
        self.write_bytes(ordered_bytes(blocks, np.asarray(keys)))

    def write_lines(self, lines) -> None:
        self.write_bytes("".join(line + "\n" for line in lines).encode("ascii"))

    def write_event(self, event) -> None:
        self.write_lines([_dumps(event)])

    def write_event_bytes(self, event, data: bytes) -> None:
        self.write_bytes(data)

    def write_bytes(self, data: bytes) -> None:
        """Queue whole lines (data ends with a newline) and send what the peer takes."""
        if data:
            self._queue(data)
        self.pump()

    def reopen(self) -> None:
        """SIGHUP: hang up and connect again (a peer that was restarted)."""
        self._hang_up(None)
        self._next_try = 0.0
        self.pump()

    def close(self) -> None:
        """Give the buffer CLOSE_WAIT_S to go out, count the rest as dropped, hang up."""
        deadline = self.clock() + CLOSE_WAIT_S
        while self._chunks and self.clock() < deadline:
            self.pump()
            if self._chunks:
                self._wait(min(0.2, max(0.0, deadline - self.clock())))
        self._waiting.drop_all()
        if self.dropped:
            log.warning("%s: %d EVE lines were dropped (peer away and buffer full, or "
                        "still buffered at the end)", self.name, self.dropped)
        self._hang_up(None)

    def counters(self) -> dict:
        """The run's counters of this output (wirescore.output.<label>.*)."""
        stem = f"wirescore.output.{self.label}"
        return {f"{stem}.lines": self.lines_sent, f"{stem}.dropped": self.dropped,
                f"{stem}.reconnects": self.reconnects}

    # ---------------------------------------------------------- the buffer

    def _queue(self, data: bytes) -> None:
        self._waiting.put(data, self.split_lines)

    def pump(self) -> None:
        """Send buffered chunks until the buffer is empty or the peer stops taking them;
        never waits."""
        while self._chunks:
            if not self._connected and not self._try_connect():
                return
            chunk = self._chunks[0]
            try:
                sent = self._send_some(chunk)
            except OSError as exc:
                if exc.errno in PEER_BUSY:
                    return
                self._hang_up(exc)
                return
            if sent >= len(chunk):
                self._chunks.popleft()
                self._buffered -= len(chunk)
                self.lines_sent += chunk.count(b"\n") or 1
                self._mid_line = False
            else:
                self._partly_sent(chunk, sent)
                return
        self._waiting.drained()

    def _partly_sent(self, chunk: bytes, sent: int) -> None:
        """A stream took the first `sent` bytes of the first chunk: keep the rest first
        (it must go on this connection: see _hang_up)."""
        self._chunks[0] = chunk[sent:]
        self._buffered -= sent
        self.lines_sent += chunk.count(b"\n", 0, sent)
        self._mid_line = sent and chunk[sent - 1:sent] != b"\n"

    _mid_line = False

    def _try_connect(self) -> bool:
        now = self.clock()
        if now < self._next_try:
            return False
        try:
            self._connect()
        except OSError as exc:
            self._next_try = now + RETRY_S
            self._note_outage(exc)
            return False
        self._connected = True
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        if self._outage is not None:
            log.warning("%s: connected again (%d bytes of lines were waiting)", self.name,
                        self._buffered)
            self._outage = None
        return True

    def _hang_up(self, exc: Optional[OSError]) -> None:
        """The connection ended (exc: why; None: on purpose). The rest of a line begun
        on it cannot go on another connection: it is dropped and counted."""
        if self._connected:
            self._disconnect()
        self._connected = False
        if self._mid_line and self._chunks:
            rest = self._chunks[0]
            cut = rest.find(b"\n") + 1
            self._buffered -= cut
            if cut >= len(rest):
                self._chunks.popleft()
            else:
                self._chunks[0] = rest[cut:]
            self.dropped += 1
        self._mid_line = False
        if exc is not None:
            self._next_try = self.clock() + RETRY_S
            self._note_outage(exc)

    def _note_outage(self, exc: OSError) -> None:
        why = exc.strerror or str(exc)
        if self._outage != why:
            self._outage = why
            log.warning("%s: %s; keeping up to %d bytes of EVE lines and trying again "
                        "every %g s", self.name, why, self.limit, RETRY_S)

    def _wait(self, seconds: float) -> None:
        time.sleep(seconds)

    # ---------------------------------------------------------- per transport

    @abstractmethod
    def _connect(self) -> None:
        """Connect to the peer; raises OSError when it is not there."""

    @abstractmethod
    def _send_some(self, chunk: bytes) -> int:
        """Send (part of) chunk; return the bytes taken. Raises OSError."""

    @abstractmethod
    def _disconnect(self) -> None:
        """Hang up (the connection is known to be open)."""


class SocketOutput(BufferedOutput):
    """A unix socket (a path), or for datagrams also a UDP address (host, port)."""

    def __init__(self, name: str, label: str, address, kind: int, buffer_bytes: int,
                 prefix: Optional[Callable[[], bytes]] = None, strip_newline: bool = False,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(name, label, buffer_bytes, clock)
        self.address, self.kind = address, kind
        self.split_lines = kind == socket.SOCK_DGRAM
        self.prefix, self.strip_newline = prefix, strip_newline
        self._sock: Optional[socket.socket] = None

    def _connect(self) -> None:
        family = socket.AF_UNIX if isinstance(self.address, str) else socket.AF_INET
        sock = socket.socket(family, self.kind | socket.SOCK_CLOEXEC)
        sock.setblocking(False)
        try:
            sock.connect(self.address)
        except OSError:
            sock.close()
            raise
        self._sock = sock

    def _send_some(self, chunk: bytes) -> int:
        if not self.split_lines:
            return self._sock.send(chunk)
        message = chunk[:-1] if self.strip_newline and chunk.endswith(b"\n") else chunk
        if self.prefix is not None:
            message = self.prefix() + message
        try:
            self._sock.send(message)
        except OSError as exc:
            if exc.errno != errno.EMSGSIZE:
                raise
            self.dropped += 1                    # larger than a datagram can be
            log.warning("%s: an EVE line of %d bytes is larger than a datagram; dropped "
                        "(counted)", self.name, len(message))
            self.lines_sent -= 1
        return len(chunk)

    def _disconnect(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _wait(self, seconds: float) -> None:
        if self._sock is None:
            time.sleep(seconds)
        else:
            select.select([], [self._sock], [], seconds)


class RedisOutput(BufferedOutput):
    """Redis (redis-py, the `redis` extra), as Suricata's eve-log redis output: each line
    (without its newline) by LPUSH (mode list or lpush), RPUSH (rpush), PUBLISH (channel
    or publish) or XADD key MAXLEN ~ 100000 * eve <line> (stream), in pipelines of at
    most PIPELINE lines."""

    split_lines = True
    PIPELINE = 1000
    TIMEOUT_S = 0.5          # connect, and each round trip: a hung server costs this
    STREAM_MAXLEN = 100_000                       # as Suricata's stream default

    def __init__(self, name: str, label: str, server: str, port: int, mode: str, key: str,
                 buffer_bytes: int, clock: Callable[[], float] = time.monotonic):
        super().__init__(name, label, buffer_bytes, clock)
        try:
            import redis
        except ImportError:
            from wirescore.errors import WirescoreError

            raise WirescoreError(f"{name}: needs the redis package (pip install "
                                 "'wirescore[redis]')") from None
        self._redis = redis
        self.server, self.port, self.mode, self.key = server, port, mode, key
        self._client = None

    def _connect(self) -> None:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # no retries inside redis-py (its default backs off for seconds): a failure hangs
        # up here and the next try comes RETRY_S later, so the writer thread waits at
        # most the timeouts below per try
        client = self._redis.Redis(host=self.server, port=self.port,
                                   socket_timeout=self.TIMEOUT_S,
                                   socket_connect_timeout=self.TIMEOUT_S,
                                   retry=Retry(NoBackoff(), 0))
        try:
            client.ping()
        except self._redis.RedisError as exc:
            client.close()
            raise OSError(errno.ECONNREFUSED, f"Redis {self.server}:{self.port}: {exc}")
        self._client = client

    def _send_some(self, chunk: bytes) -> int:
        """One line (pump sends PIPELINE lines a round trip; this is the one-line case)."""
        try:
            self._push([chunk.rstrip(b"\n")])
        except self._redis.RedisError as exc:
            raise OSError(errno.ECONNRESET, f"Redis {self.server}:{self.port}: {exc}")
        return len(chunk)

    def pump(self) -> None:
        """Like BufferedOutput.pump, PIPELINE lines per round trip."""
        while self._chunks:
            if not self._connected and not self._try_connect():
                return
            n = min(len(self._chunks), self.PIPELINE)
            lines = [self._chunks[i].rstrip(b"\n") for i in range(n)]
            try:
                self._push(lines)
            except self._redis.RedisError as exc:
                self._hang_up(OSError(errno.ECONNRESET, f"Redis {self.server}:"
                                                        f"{self.port}: {exc}"))
                return
            for _ in range(n):
                self._buffered -= len(self._chunks.popleft())
            self.lines_sent += n
        self._waiting.drained()

    def _push(self, lines: list[bytes]) -> None:
        mode, key = self.mode, self.key
        if mode in ("list", "lpush"):
            self._client.lpush(key, *lines)
        elif mode == "rpush":
            self._client.rpush(key, *lines)
        else:
            pipe = self._client.pipeline(transaction=False)
            for line in lines:
                if mode == "stream":
                    pipe.xadd(key, {"eve": line}, maxlen=self.STREAM_MAXLEN,
                              approximate=True)
                else:
                    pipe.publish(key, line)
            pipe.execute()

    def _disconnect(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except self._redis.RedisError:
                pass
            self._client = None


def syslog_prefix(facility: int, severity: int, identity: str) -> Callable[[], bytes]:
    """The RFC 3164 header glibc's syslog() puts before each message on /dev/log:
    '<PRI>Mmm dd hh:mm:ss identity[pid]: ' (local time)."""
    pri = f"<{facility * 8 + severity}>"
    tail = f" {identity}[{os.getpid()}]: "
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
              "Dec")

    def prefix() -> bytes:
        t = time.localtime()
        stamp = f"{months[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:" \
                f"{t.tm_sec:02d}"
        return (pri + stamp + tail).encode("ascii", "replace")

    return prefix
