"""Packet sources: capture files (pcap, pcapng) and standard input or a pipe, in batches.

A FileSource reads its file descriptor (a regular file, or standard input: a pipe, a FIFO,
a file redirected with <) in large chunks into buffers, and the compiled reader
(wirescore._core.pcapfile) parses each buffer's records without the GIL into meta rows
that point into the buffer: no copy and no Python object per packet. A record cut by the
end of a buffer is carried over to the next one. Files and pipes take the same path, so
the same bytes give the same packets however they arrive.

The packet-source protocol (LiveSource in live.py follows it too):
- name, size_bytes (None when unknown), linktype (the first interface's libpcap DLT);
- batches() yields (data, meta, linktype): data a bytes-like buffer, meta a read-only
  (n, 4) uint32 array of (sec, usec, offset, caplen) rows locating each frame in data,
  linktype the DLT of every frame of the batch (a pcapng with interfaces of several link
  types gives batches of each). n may be 0: a read timeout on a quiet pipe. After the
  last good batch, a damaged input raises CaptureFault (its message names the input, the
  packets before the damage and what is wrong, in libpcap's words);
- expiry_clock(), asked after every batch: a time (seconds since the epoch, on the packet
  clock) up to which idle flows may end although no packet reached it, or None;
- stats() (capture.* counters) and close().

Reading a pipe: a batch leaves when it holds batch_size packets, at the end of a buffer,
where the link type changes, or at the latest timeout_ms after the previous batch (the
`capture.timeout_ms` setting, `--read-timeout`, as on a live interface), with whatever
has arrived, perhaps nothing. While the pipe has been quiet for the whole read timeout,
expiry_clock() gives the last packet's time plus the wall time since that packet arrived
(measured when the quiet batch was cut, so that batches read ahead never let it pass a
packet still queued), so flows end on a quiet link about as soon as their timeout allows;
otherwise None, so a replay that keeps the pipe busy is aged by packet time alone. A
regular file never waits, and its expiry_clock() is always None (deterministic replay).

Damage (see pcapfile.pyx for the rules): a record that cannot be valid, or one cut short
by the end of the input, ends the stream; every whole record before it is delivered
first. A file that is not a readable capture, is gzip-compressed, or whose first link type
the decoder lacks raises WirescoreError before any packet.

BPF (`--bpf`): libpcap compiles the expression once per link type and byte order, as
for a capture file (wirescore.bpfcompile; the first at opening, so a bad expression fails
before any packet), and the reader runs the program on each packet (bpf.pxd), so the
packets kept are those libpcap's own filter keeps.
"""
from __future__ import annotations

import logging
import os
import select
import stat
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from wirescore.errors import WirescoreError

log = logging.getLogger(__name__)

#: libpcap DLT values -> names, for messages (the decoder's own list decides support)
DLT_NAMES = {
    0: "NULL (BSD loopback)", 1: "EN10MB (Ethernet)", 6: "IEEE802", 8: "SLIP", 9: "PPP",
    10: "FDDI", 12: "RAW (IP)", 14: "RAW (IP, OpenBSD)", 50: "PPP_SERIAL", 51: "PPP_ETHER",
    101: "RAW (IP)", 104: "C_HDLC", 105: "IEEE802_11 (Wi-Fi)", 108: "LOOP (OpenBSD loopback)",
    113: "LINUX_SLL", 119: "PRISM_HEADER", 127: "IEEE802_11_RADIO (radiotap)",
    192: "PPI", 228: "IPV4", 229: "IPV6", 239: "NFLOG", 276: "LINUX_SLL2",
    240: "NETANALYZER", 281: "DSA_TAG_BRCM", 284: "DSA_TAG_DSA",
}
SUPPORTED = "Ethernet, Linux SLL/SLL2, raw IPv4/IPv6, BSD NULL/LOOP, NFLOG, PPP, Cisco HDLC"
CHUNK_BYTES = 8 << 20       # bytes read at once; a batch never spans two buffers


class CaptureFault(WirescoreError):
    """The capture became unreadable part-way; earlier packets were delivered."""


def dlt_name(dlt: int) -> str:
    return f"{dlt} ({DLT_NAMES[dlt]})" if dlt in DLT_NAMES else str(dlt)


def _pcap_message(exc: Exception) -> str:
    msg = str(exc).strip() or type(exc).__name__
    return msg.splitlines()[0]


class FileSource:
    """A pcap/pcapng file, or standard input when path is "-" (see the module docstring).

    Parameters: path; bpf (filter expression or None); batch_size (packets per batch at
    most, >= 1); timeout_ms (pipes: the most a batch waits for more packets, and how
    often a quiet pipe yields an empty batch; ms, >= 1); chunk_bytes (bytes read at once;
    memory is a few of these, touched only as far as bytes arrive); fd (an open file
    descriptor to read instead of path, which then only names the input in messages:
    the source owns it and closes it, also when the constructor raises).

    mode is "file" for a regular file, "pipe" for anything else (wirescore.status).
    """

    def __init__(self, path: str | os.PathLike, bpf: str | None = None,
                 batch_size: int = 4096, timeout_ms: int = 100,
                 chunk_bytes: int = CHUNK_BYTES, fd: int | None = None):
        from wirescore._core.decode import is_supported_linktype
        from wirescore._core.pcapfile import PcapReader

        self.path = str(path)
        self.name = "<stdin>" if self.path == "-" else self.path
        self.bpf = bpf
        self.batch_size = max(1, int(batch_size))
        self.timeout = max(1, int(timeout_ms)) / 1000.0
        self._chunk = max(1 << 16, int(chunk_bytes))
        self._fd = self._open() if fd is None else fd
        try:
            info = os.fstat(self._fd)
            self._regular = stat.S_ISREG(info.st_mode)
            self.mode = "file" if self._regular else "pipe"
            self._poll = select.poll()
            self._poll.register(self._fd, select.POLLIN)
            self.size_bytes = info.st_size if self._regular else None
            self._reader = PcapReader(filtering=bool(bpf))
            self._buf = np.empty(0, dtype=np.uint8)
            self._start = self._pos = self._end = 0     # batch start, next record, bytes in
            self._eof = False
            self._last_input = time.monotonic()         # the last read that brought bytes
            self._last_packet = None                    # (time, arrival) of the last packet
            self._clock = None
            self._read_header()
            self.linktype = self._reader.first_linktype
            if not is_supported_linktype(self.linktype):
                raise WirescoreError(f"{self.name}: unsupported link type "
                                     f"{dlt_name(self.linktype)}; wirescore reads {SUPPORTED}")
            if bpf:
                self._compile(self.linktype, self._reader.swapped, opening=True)
        except BaseException:
            os.close(self._fd)
            raise

    # ------------------------------------------------------------------ opening

    def _open(self) -> int:
        if self.path == "-":
            if os.isatty(0):
                raise WirescoreError("<stdin>: is a terminal, not a capture; pipe one in "
                                     "(tcpdump -U -w - ... | wirescore run -r -)")
            return os.dup(0)
        p = Path(self.path)
        if p.is_dir():
            raise WirescoreError(f"{self.name}: is a directory, not a capture file")
        if not p.exists():
            raise WirescoreError(f"{self.name}: no such file")
        if p.suffix == ".gz":
            raise WirescoreError(self._gzip_message())
        try:
            return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise WirescoreError(f"{self.name}: cannot open: {exc.strerror}") from None

    def _gzip_message(self) -> str:
        what = Path(self.path).name if self.path != "-" else "FILE"
        return (f"{self.name}: gzip-compressed; decompress it first "
                f"(zcat {what} | wirescore run -r - ...)")

    def _read_header(self) -> None:
        """Read until the first link type is known (pcap: the file header; pcapng: up to
        the first interface description block); a fault there means no capture."""
        from wirescore._core.pcapfile import FAULT_GZIP

        no_rows = np.empty((0, 4), dtype=np.uint32)
        while True:
            stop, _, self._pos = self._reader.parse(self._buf, self._pos, self._end,
                                                    self._eof, no_rows, 0, self._start,
                                                    True)
            if stop == "header":
                return
            if stop == "fault":
                if self._reader.fault == FAULT_GZIP:
                    raise WirescoreError(self._gzip_message())
                raise WirescoreError(f"{self.name}: not a readable pcap/pcapng capture: "
                                     f"{self._reader.fault_text()}")
            self._more(None)                            # "need": blocking, no timeout

    def _compile(self, linktype: int, swapped: bool, opening: bool = False) -> None:
        """Give the reader libpcap's program for `--bpf` on this link type and byte
        order (wirescore.bpfcompile)."""
        from wirescore.bpfcompile import compile_for_file

        try:
            program = compile_for_file(self.bpf, linktype, swapped)
        except ValueError as exc:
            text = f"--bpf {self.bpf!r}: {_pcap_message(exc)}"
            if opening:
                raise WirescoreError(text) from None
            raise CaptureFault(f"{text} (link type {dlt_name(linktype)} in {self.name}, "
                               f"after packet {self._reader.records})") from None
        self._reader.add_program(linktype, swapped, program)

    # ------------------------------------------------------------------ reading

    def _more(self, deadline: float | None) -> bool:
        """Read more bytes after self._end. When the next record cannot fit in this
        buffer, the batch so far and the incomplete record move to a new one first (so a
        batch leaves full whatever the buffer size: at most one batch is copied per
        buffer). False when the deadline passed first (pipes only); at the end of the
        input, sets _eof."""
        want = max(self._reader.need, self._end - self._pos + 1)
        if self._pos + want > len(self._buf):
            keep = self._end - self._start
            least = self._pos - self._start + want
            size = max(2 * least, self._chunk)      # doubles: each byte moves O(1) times
            if self._regular:       # a small file needs no large buffer
                left = self.size_bytes - os.lseek(self._fd, 0, os.SEEK_CUR)
                size = max(least, min(size, keep + left + 1))
            fresh = np.empty(size, dtype=np.uint8)
            fresh[:keep] = self._buf[self._start:self._end]
            self._buf = fresh
            self._pos -= self._start
            self._end = keep
            self._start = 0
        if not self._regular and deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not self._poll.poll(left * 1000):
                return False
        try:
            got = os.readv(self._fd, [memoryview(self._buf)[self._end:]])
        except OSError as exc:
            raise CaptureFault(f"{self.name}: read failed after packet "
                               f"{self._reader.records}: {exc.strerror}") from None
        if got == 0:
            self._eof = True
        else:
            self._end += got
            self._last_input = time.monotonic()
        return True

    def batches(self, prefetch: int = 4) -> Iterator[tuple]:
        """Yield (data, meta, linktype) until the end of the input (module docstring).

        With prefetch > 0 a reader thread keeps up to that many batches ready (the
        reader releases the GIL while it reads and parses), so reading overlaps the
        core's nogil work on a second CPU. Order and content are the same either way."""
        items = _prefetched(self._read_batches, prefetch, self.name) if prefetch > 0 \
            else self._read_batches()
        for data, meta, linktype, clock in items:
            self._clock = clock
            yield data, meta, linktype

    def expiry_clock(self) -> float | None:
        """See the module docstring: None for a regular file and a busy pipe."""
        return self._clock

    def _read_batches(self) -> Iterator[tuple]:
        reader, size = self._reader, self.batch_size
        meta = np.empty((size, 4), dtype=np.uint32)
        rows = 0
        deadline = None if self._regular else time.monotonic() + self.timeout
        while True:
            before = rows
            stop, rows, self._pos = reader.parse(self._buf, self._pos, self._end,
                                                 self._eof, meta, rows, self._start)
            if rows > before:
                sec, usec = meta[rows - 1, :2].tolist()
                self._last_packet = (sec + usec / 1e6, self._last_input)
            if stop == "need":
                if self._more(deadline):
                    continue
                yield self._cut(meta, rows, self._quiet_clock())
                meta, rows = np.empty((size, 4), dtype=np.uint32), 0
                deadline = time.monotonic() + self.timeout
            elif stop == "program":
                try:
                    self._compile(reader.want_linktype, reader.want_swapped)
                except CaptureFault:
                    if rows:
                        yield self._cut(meta, rows, None)
                    raise
            elif stop in ("full", "linktype"):
                yield self._cut(meta, rows, None)
                meta, rows = np.empty((size, 4), dtype=np.uint32), 0
                if deadline is not None:
                    deadline = time.monotonic() + self.timeout
            else:                                       # "end" or "fault"
                if rows or self._pos > self._start:
                    yield self._cut(meta, rows, None)
                if stop == "fault":
                    raise CaptureFault(self._fault_message())
                return

    def _cut(self, meta: np.ndarray, rows: int, clock: float | None) -> tuple:
        """The batch of the rows so far: (data, meta, linktype, expiry clock). data spans
        the input from the previous batch's end to this one's (what the progress line
        counts)."""
        data = memoryview(self._buf)[self._start:self._pos]
        out = meta[:rows]
        out.flags.writeable = False
        linktype = self._reader.batch_linktype if rows else self.linktype
        self._start = self._pos
        return data, out, linktype, clock

    def _quiet_clock(self) -> float | None:
        """At a read timeout: the packet clock a quiet pipe has reached (module doc)."""
        now = time.monotonic()
        if self._last_packet is None or now - self._last_input < self.timeout:
            return None
        packet_time, arrived = self._last_packet
        return packet_time + (now - arrived)

    def _fault_message(self) -> str:
        from wirescore._core.pcapfile import FAULT_LINKTYPE

        reader = self._reader
        if reader.fault == FAULT_LINKTYPE:
            iface, linktype = reader.fault_args
            return (f"{self.name}: packet {reader.records + 1} is on interface {iface} of "
                    f"link type {dlt_name(linktype)}, which wirescore does not decode (it "
                    f"reads {SUPPORTED}); drop that interface's packets first (tshark -r IN "
                    f"-w OUT -Y 'frame.interface_id != {iface}')")
        return (f"{self.name}: capture damaged after packet {reader.records}: "
                f"{reader.fault_text()}")

    def stats(self) -> dict:
        """Capture-level drop counters (a file has none). Packet counts come from the
        engine, which counts what it consumed (the reader thread runs ahead)."""
        return {"kernel_drops": 0}

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = -1


def _prefetched(produce, depth: int, name: str) -> Iterator:
    """Run the generator function produce() in a thread, depth items ahead.

    Exceptions raised by produce() are re-raised in the consumer, after every item
    produced before them. Closing the consumer stops the thread."""
    import queue
    import threading

    q: "queue.Queue" = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in produce():
                if not put(("item", item)):
                    return
            put(("end", end))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))

    thread = threading.Thread(target=run, name=f"wirescore-reader {name}", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        thread.join()


def open_source(path: str, bpf: str | None = None, batch_size: int = 4096,
                timeout_ms: int = 100) -> FileSource:
    """Open a capture file, or standard input for "-"."""
    return FileSource(path, bpf=bpf, batch_size=batch_size, timeout_ms=timeout_ms)

