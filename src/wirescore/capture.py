"""Packet sources: capture files (pcap, pcapng) and standard input, in batches.

A source yields (data, meta, linktype) straight from pcapy-ng's next_batch(): data is
one bytes object holding the batch's frames, meta a read-only (n, 4) uint32 array of
(sec, usec, offset, caplen) rows, linktype the file's link type. No Python object is
made per packet. expiry_clock() is None: only packet time ages flows (a replay is
deterministic).

Faults: a capture that cannot be opened, or whose link type the decoder lacks, raises
WirescoreError before any packet. A record that libpcap cannot read in the middle of a
file (cut short, absurd length) ends the stream: the packets before it are still
yielded, then CaptureFault (a WirescoreError) is raised. Because pcapy-ng drops the
whole batch in which the fault happened, a file source re-reads that batch one packet
at a time to recover the packets before the fault. Standard input cannot be read
twice: libpcap reads it through a pipe (stdin_tee.StdinTee) that keeps the bytes not yet
delivered (up to 16 MiB), from which the records of the lost batch are parsed again
(classic pcap without --bpf, while no packet reached the snaplen, which libpcap may have
cut; otherwise up to one batch before the fault may be lost).
"""
from __future__ import annotations

import logging
import os
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


class CaptureFault(WirescoreError):
    """The capture became unreadable part-way; earlier packets were delivered."""


def dlt_name(dlt: int) -> str:
    return f"{dlt} ({DLT_NAMES[dlt]})" if dlt in DLT_NAMES else str(dlt)


def _pcap_message(exc: Exception) -> str:
    msg = str(exc).strip() or type(exc).__name__
    return msg.splitlines()[0]


class FileSource:
    """A pcap/pcapng file, or standard input when path is "-".

    Parameters: path; bpf (filter expression or None); batch_size (packets per
    next_batch call, >= 1).
    """

    def __init__(self, path: str | os.PathLike, bpf: str | None = None,
                 batch_size: int = 4096):
        import pcapy  # lazy: start-up time

        from wirescore._core.decode import is_supported_linktype

        self._pcapy = pcapy
        self.path = str(path)
        self.name = "<stdin>" if self.path == "-" else self.path
        self.bpf = bpf
        self.batch_size = max(1, int(batch_size))
        self.size_bytes = None
        self._tee = None
        self._tee_snaplen = None        # the piped classic pcap's snaplen (None: not one)
        self._delivered_bytes = 0       # classic pcap on stdin: record bytes delivered so
        #                                 far (-1: unknown, no recovery from the tee)
        if self.path == "-":
            from wirescore.stdin_tee import StdinTee

            self._tee = StdinTee()
        else:
            p = Path(self.path)
            if p.is_dir():
                raise WirescoreError(f"{self.name}: is a directory, not a capture file")
            if not p.exists():
                raise WirescoreError(f"{self.name}: no such file")
            if p.suffix == ".gz":
                raise WirescoreError(f"{self.name}: gzip-compressed; decompress it first "
                                     f"(zcat {p.name} | wirescore run -r - ...)")
            self.size_bytes = p.stat().st_size
        self._reader = self._open()
        self.linktype = int(self._reader.datalink())
        if not is_supported_linktype(self.linktype):
            raise WirescoreError(f"{self.name}: unsupported link type "
                                 f"{dlt_name(self.linktype)}; wirescore reads {SUPPORTED}")
        self.packets_read = 0
        self.lost_in_fault = 0

    def _open(self):
        opened = self._tee.path if self._tee is not None else self.path
        if self._tee is not None:
            self._tee.wait_header()     # open_offline() reads it holding the GIL
            self._tee_snaplen = self._tee.snaplen()
        try:
            reader = self._pcapy.open_offline(opened)
        except self._pcapy.PcapError as exc:
            msg = _pcap_message(exc)
            if msg.startswith(opened + ":"):
                msg = msg[len(opened) + 1:].strip()
            raise WirescoreError(f"{self.name}: not a readable pcap/pcapng capture: {msg}") from None
        if self.bpf:
            try:
                reader.setfilter(self.bpf)
            except Exception as exc:  # pcapy raises PcapError or BPFError
                raise WirescoreError(f"--bpf {self.bpf!r}: {_pcap_message(exc)}") from None
        return reader

    def batches(self, prefetch: int = 4) -> Iterator[tuple[bytes, np.ndarray, int]]:
        """Yield (data, meta, linktype) until the end of the capture; see the module doc
        on faults.

        With prefetch > 0 a reader thread keeps up to that many batches ready:
        next_batch() releases the GIL while libpcap reads, so reading overlaps the
        core's nogil work on a second CPU. Order and content are the same either way.
        """
        if prefetch <= 0:
            yield from self._read_batches()
            return
        yield from _prefetched(self._read_batches, prefetch, self.name)

    def _read_batches(self) -> Iterator[tuple[bytes, np.ndarray, int]]:
        while True:
            try:
                data, meta = self._reader.next_batch(self.batch_size)
            except self._pcapy.PcapError as exc:
                yield from self._recover(_pcap_message(exc))
                return
            if not meta:
                return
            rows = np.frombuffer(meta, dtype=np.uint32).reshape(-1, 4)
            self.packets_read += rows.shape[0]
            if self._tee is not None and self._delivered_bytes >= 0:
                snaplen = self._tee_snaplen
                if snaplen is None or int(rows[:, 3].max()) >= snaplen:
                    self._delivered_bytes = -1      # a record may have been cut: offsets unknown
                else:
                    self._delivered_bytes += 16 * rows.shape[0] + int(rows[:, 3].sum())
                    self._tee.release(24 + self._delivered_bytes)
            yield data, rows, self.linktype

    def _recover(self, message: str) -> Iterator[tuple[bytes, np.ndarray, int]]:
        """Deliver the packets of the failed batch that precede the fault, then raise."""
        where = f"after packet {self.packets_read}"
        if self.path != "-":
            reader = self._open()
            skip = self.packets_read
            try:
                while skip > 0:
                    _, meta = reader.next_batch(min(skip, 65536))
                    if not meta:
                        break
                    skip -= len(meta) // 16
                while True:
                    data, meta = reader.next_batch(1)
                    if not meta:
                        break
                    self.packets_read += 1
                    rows = np.frombuffer(meta, dtype=np.uint32).reshape(-1, 4)
                    yield data, rows, self.linktype
            except self._pcapy.PcapError:
                pass
            where = f"after packet {self.packets_read}"
        elif self._tee is not None and not self.bpf and self._delivered_bytes >= 0:
            # the records libpcap read before the damaged one, from the tee's copy
            for frame, sec, usec in self._tee.records_after(24 + self._delivered_bytes):
                self.packets_read += 1
                rows = np.array([[sec, usec, 0, len(frame)]], dtype=np.uint32)
                yield frame, rows, self.linktype
            where = f"after packet {self.packets_read}"
        raise CaptureFault(f"{self.name}: capture damaged {where}: {message}")

    def expiry_clock(self) -> None:
        """None: only packet time ages the flows of a capture file."""
        return None

    def stats(self) -> dict:
        """Capture-level drop counters (a file has none). Packet counts come from the
        engine, which counts what it consumed (the reader thread runs ahead)."""
        return {"kernel_drops": 0}

    def close(self) -> None:
        close = getattr(self._reader, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # closing a finished reader is best effort
                pass
        if self._tee is not None:
            self._tee.close()


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


def open_source(path: str, bpf: str | None = None, batch_size: int = 4096) -> FileSource:
    """Open a capture file, or standard input for "-"."""
    return FileSource(path, bpf=bpf, batch_size=batch_size)
