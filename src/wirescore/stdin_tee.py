"""Standard input handed to libpcap through a pipe, with the recent bytes kept.

pcapy-ng's next_batch() drops the whole batch in which libpcap meets a damaged record,
and a pipe cannot be read twice, so on `-r -` the packets between the last batch
delivered and the damaged record were lost. StdinTee copies standard input into a pipe
that libpcap reads (/dev/fd/N) and keeps the last `keep_bytes` of the stream, so that
after a fault the records libpcap had already read can be parsed again from memory
(classic pcap only: its record offsets follow from the packets delivered; pcapng
blocks carry more than the packets, so a pcapng stream keeps the old behaviour).

Memory: the bytes libpcap has not delivered yet (the reader calls release() after each
batch: about one batch, plus the pipe's 64 KiB and one 1 MiB read ahead), and never more
than keep_bytes (16 MiB by default) plus one read: a batch larger than that cannot be
recovered, as before. The copy runs in a daemon thread; closing the tee (or the process
ending) stops it.

pcapy-ng's open_offline() holds the GIL while libpcap reads the file header, so the
copying thread could not hand it the bytes it waits for: open the reader only after
wait_header(), once the header is in the pipe (classic pcap: 24 bytes; pcapng: the
section header and blocks up to the first interface description), or the stream
ended. next_batch() releases the GIL while it reads.
"""
from __future__ import annotations

import os
import struct
import threading
from collections import deque
from typing import Iterator

#: pcap magic numbers (as read little-endian) -> (byte order, fraction is ns)
_MAGICS = {0xA1B2C3D4: ("<", False), 0xA1B23C4D: ("<", True),
           0xD4C3B2A1: (">", False), 0x4D3CB2A1: (">", True)}
MAX_SNAPLEN = 262144          # libpcap's largest record (pcap_adjust_snapshot)
CHUNK = 1 << 20


class StdinTee:
    """Copy file descriptor `fd` (standard input) to a pipe; keep its last bytes."""

    def __init__(self, fd: int = 0, keep_bytes: int = 16 << 20):
        self._src = fd
        self._keep = max(int(keep_bytes), CHUNK)
        self._read_fd, self._write_fd = os.pipe()
        self._lock = threading.Lock()
        self._chunks: deque = deque()   # (absolute offset, bytes) of the bytes kept
        self._kept = 0                  # their total length
        self._end = 0                   # absolute offset after the last byte read
        self._head = b""             # the first 24 bytes (the pcap file header), set
        #                              once the header is whole or the stream ended
        self._start = bytearray()    # the stream's first bytes, until the header is whole
        self._header = threading.Event()
        self._thread = threading.Thread(target=self._copy, name="wirescore-stdin",
                                        daemon=True)
        self._thread.start()

    def wait_header(self) -> None:
        """Return once the file header is in the pipe, or the stream ended."""
        self._header.wait()

    @property
    def path(self) -> str:
        """The pipe's read end, as a path libpcap can open."""
        return f"/dev/fd/{self._read_fd}"

    def _copy(self) -> None:
        try:
            while True:
                chunk = os.read(self._src, CHUNK)
                if not chunk:
                    return
                if not self._header.is_set():
                    self._start += chunk
                with self._lock:
                    self._chunks.append((self._end, chunk))
                    self._end += len(chunk)
                    self._kept += len(chunk)
                    while self._kept - len(self._chunks[0][1]) >= self._keep:
                        self._kept -= len(self._chunks.popleft()[1])
                # before writing: the write blocks until libpcap reads, and libpcap is
                # opened only once the header is known to be whole
                if not self._header.is_set() and _header_complete(bytes(self._start)):
                    self._header_known()
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self._write_fd, view):]
        except OSError:          # the reader went away (closed, or the process ends)
            return
        finally:
            if not self._header.is_set():
                self._header_known()
            try:
                os.close(self._write_fd)
            except OSError:
                pass

    def _header_known(self) -> None:
        """The header is whole (or the stream ended): keep its first 24 bytes, wake
        wait_header()."""
        with self._lock:
            self._head = bytes(self._start[:24])
        self._start = bytearray()
        self._header.set()

    def snaplen(self) -> int | None:
        """The classic-pcap stream's snaplen as libpcap applies it, None otherwise (not
        yet read, or not classic pcap)."""
        with self._lock:
            head = self._head
        if len(head) < 24 or struct.unpack("<I", head[:4])[0] not in _MAGICS:
            return None
        order = _MAGICS[struct.unpack("<I", head[:4])[0]][0]
        snaplen = struct.unpack(order + "I", head[16:20])[0]
        return MAX_SNAPLEN if snaplen == 0 or snaplen > MAX_SNAPLEN else snaplen

    def release(self, offset: int) -> None:
        """The bytes before absolute stream offset `offset` are no longer needed."""
        with self._lock:
            while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) <= offset:
                self._kept -= len(self._chunks.popleft()[1])

    def records_after(self, offset: int) -> Iterator[tuple[bytes, int, int]]:
        """(frame, sec, usec) of each whole, valid classic-pcap record from absolute
        stream offset `offset` on, stopping at the first that is cut short or claims
        more than the file's snaplen (the damaged one). Nothing when the stream is not
        classic pcap or `offset` has left the kept bytes."""
        snaplen = self.snaplen()
        with self._lock:
            head = self._head
            base = self._chunks[0][0] if self._chunks else self._end
            tail = b"".join(c for _o, c in self._chunks)
        if snaplen is None:
            return
        order, nano = _MAGICS[struct.unpack("<I", head[:4])[0]]
        pos = offset - base
        if pos < 0:
            return
        while pos + 16 <= len(tail):
            sec, frac, caplen, orig = struct.unpack_from(order + "IIII", tail, pos)
            if caplen > snaplen or orig < caplen or pos + 16 + caplen > len(tail):
                return
            yield tail[pos + 16:pos + 16 + caplen], sec, (frac // 1000 if nano else frac)
            pos += 16 + caplen

    def close(self) -> None:
        """Close the pipe's read end (libpcap's reader is closed first): the copy stops."""
        try:
            os.close(self._read_fd)
        except OSError:
            pass


def _header_complete(start: bytes) -> bool:
    """Whether `start`, the first bytes of a stream, hold what libpcap reads on opening
    it: 24 bytes of a classic pcap header; for pcapng the section header block and the
    blocks after it up to a whole interface description block (or 1 MiB of them);
    for anything else 24 bytes (libpcap refuses it from those)."""
    if len(start) < 24:
        return False
    if start[:4] != b"\x0a\x0d\x0d\x0a":
        return True
    order = "<" if start[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    pos = 0
    first = True
    while pos + 12 <= len(start):
        btype, blen = struct.unpack_from(order + "II", start, pos)
        if blen < 12 or pos + blen > len(start):
            return pos + 12 > 1 << 20 or blen < 12   # damaged or huge: let libpcap say so
        if btype == 1 and not first:
            return True
        first = False
        pos += blen
        if pos > 1 << 20:
            return True
    return False
