"""Live capture from a network interface, in batches, for Engine.run_source().

    source = LiveSource("eth0", bpf="not port 22", buffer_mb=64)
    summary = Engine(cfg, "logs").run_source(source)      # engine.stop() ends it

A LiveSource is a packet source as wirescore.capture defines them (name, linktype,
size_bytes=None, batches() of (data, meta, linktype), expiry_clock(), stats(), close()).
batches() never ends by itself: it yields an empty batch whenever timeout_ms passes
without a packet, and expiry_clock() is the wall clock, so the engine ages flows on a
quiet link too and notices stop() within about timeout_ms.

How it reads: the handle is opened with pcap_create/pcap_activate (snap length,
promiscuous mode, kernel ring buffer size, read timeout) and put in non-blocking mode;
batches() waits for the socket with poll(timeout_ms) and then takes whatever the
kernel ring holds (next_batch, one call per batch). libpcap's blocking read is not
used: with TPACKET_V3 it waits forever on a quiet interface (an empty ring block is
never retired), so a stop request would go unnoticed.

Faults are one-line WirescoreErrors raised before any packet, naming the interface:
no such interface (with the list of those that exist), permission denied (run as root
or give the interpreter CAP_NET_RAW and CAP_NET_ADMIN), interface down, Wi-Fi monitor
mode (802.11 frames, which wirescore does not decode), a BPF filter that does not
compile, a fanout group taken by another capture, and libpcap's own text for anything
else ("unable to activate ..."). An interface that is up without carrier, or a Wi-Fi
interface in managed mode, is a warning in the log: capture works but may see little.

Fanout (several workers on one interface): with fanout_group set, the socket joins
that PACKET_FANOUT group in PACKET_FANOUT_HASH mode (flow hash, both directions of a
flow to the same socket) with PACKET_FANOUT_FLAG_DEFRAG: the kernel reassembles IPv4
fragments before hashing, so a fragmented datagram reaches the worker of its flow, as
one packet (the kernel's flow hash ignores ports on fragments, so without the flag the
fragments of a UDP datagram would land on another worker than its flow). Packets that
reached this socket before it joined the group were also seen by the other sockets:
they are discarded (by timestamp) and counted in discarded_at_start.

Link loss: an interface that goes down, disappears or is re-created during the capture
ends the handle, not the run (unless resume_on_link_loss is False: then it is a
CaptureFault, as before any packet). The source logs it, closes the handle, keeps
yielding empty batches every timeout_ms (the engine keeps its flows and host state and
ages them on the wall clock) and tries to open the interface again every
LINK_RETRY_S, with the same BPF and fanout group; when it is back, capture resumes on
the new handle. Each episode is counted (capture.errors in stats; link_downs and
link_down_s here) and reported twice as an EVE `engine` event (take_events()): when the
link went and when it came back, with the seconds without capture. Kernel counters of
the closed handles are kept and added to the new one's.

Cost: one poll() and one next_batch() per batch; no Python object per packet.
"""
from __future__ import annotations

import errno
import logging
import os
import select
import socket
import sys
import threading
import time
from collections import deque
from typing import Iterator

import numpy as np

from wirescore.capture import SUPPORTED, CaptureFault, _prefetched, dlt_name
from wirescore.errors import WirescoreError
from wirescore.interfaces import IFF_RUNNING, IFF_UP, interface_flags, is_wireless

log = logging.getLogger(__name__)

# libpcap status codes (pcap/pcap.h)
PCAP_ERROR_NO_SUCH_DEVICE = -5
PCAP_ERROR_RFMON_NOTSUP = -6
PCAP_ERROR_NOT_RFMON = -7
PCAP_ERROR_PERM_DENIED = -8
PCAP_ERROR_IFACE_NOT_UP = -9
PCAP_ERROR_PROMISC_PERM_DENIED = -11
PCAP_ERROR_CAPTURE_NOTSUP = -13
PCAP_WARNING_PROMISC_NOTSUP = 2

PACKET_FANOUT_FLAG_DEFRAG = 0x8000          # linux/if_packet.h
#: link types of 802.11 captures (monitor mode): wirescore decodes none of them
WIFI_DLTS = {105, 119, 127, 163, 192}

_EMPTY_META = np.empty((0, 4), dtype=np.uint32)
_EMPTY_META.flags.writeable = False

#: seconds between two attempts to open an interface that went away
LINK_RETRY_S = 1.0
#: capture events (take_events) kept at most between two drains
MAX_EVENTS = 256


class LinkLost(CaptureFault):
    """The interface went down, disappeared or was re-created under the handle."""


def capabilities_hint() -> str:
    """How to let a non-root user capture, naming the interpreter that must hold the
    capabilities (file capabilities apply to the binary that runs, not to a script)."""
    exe = os.path.realpath(sys.executable)
    return (f"run as root, or give the interpreter the capture capabilities: "
            f"sudo setcap cap_net_raw,cap_net_admin=eip {exe}")


def _known_names() -> list[str]:
    """Interfaces libpcap can open, for an error message (best effort)."""
    import pcapy

    try:
        return list(pcapy.findalldevs())
    except Exception:  # pcapy raises PcapError when there is none
        try:
            return [n for _, n in socket.if_nameindex()]
        except OSError:
            return []


class LiveSource:
    """Packets from a live interface; see the module docstring.

    Parameters: iface (name, or "any" for every interface, Linux cooked frames);
    bpf (pcap-filter(7) expression or None); snaplen (bytes kept per packet, 65535 =
    whole frames); promisc (promiscuous mode); buffer_mb (kernel ring buffer, MiB:
    what absorbs bursts while the engine is busy); timeout_ms (ring block timeout and
    poll interval, ms: upper bound on packet latency and on the time to notice stop());
    batch_size (packets per next_batch call at most); fanout_group (None, or a
    PACKET_FANOUT group id 0..65535 shared by every worker on this interface);
    prefetch (batches read ahead by a reader thread, 0 = read in the caller's thread);
    resume_on_link_loss (wait for an interface that went away and resume on it; False:
    a CaptureFault ends the run).
    """

    mode = "live"

    def __init__(self, iface: str, bpf: str | None = None, snaplen: int = 65535,
                 promisc: bool = True, buffer_mb: int = 64, timeout_ms: int = 100,
                 batch_size: int = 4096, fanout_group: int | None = None,
                 prefetch: int = 4, resume_on_link_loss: bool = True):
        import pcapy  # lazy: start-up time

        self._pcapy = pcapy
        self.iface = self.name = str(iface)
        self.bpf = bpf
        self.snaplen = int(snaplen)
        self.promisc = bool(promisc)
        self.buffer_mb = int(buffer_mb)
        self.timeout_ms = max(1, int(timeout_ms))
        self.batch_size = max(1, int(batch_size))
        self.fanout_group = fanout_group
        self.prefetch = int(prefetch)
        self.resume_on_link_loss = bool(resume_on_link_loss)
        self.size_bytes = None
        self.packets_read = 0
        self.discarded_at_start = 0
        self.link_downs = 0              # episodes of link loss
        self.link_down_s = 0.0           # seconds without a capture handle, in all
        self.capture_state = "running"   # or "link_down" (the health object of stats)
        self._down_since: float | None = None
        self._last_stats = {"kernel_packets": 0, "kernel_drops": 0, "kernel_ifdrops": 0}
        self._closed_stats = dict(self._last_stats)     # of handles closed on link loss
        self._events: deque = deque(maxlen=MAX_EVENTS)
        self._lock = threading.Lock()    # the handle: the reader thread vs close()
        self._closed = False
        self._start_us = 0
        if not self.iface or len(self.iface.encode()) > 15 or "/" in self.iface:
            raise WirescoreError(f"{self.iface!r}: not an interface name")
        if self.snaplen < 64 or self.snaplen > 262144:
            raise WirescoreError(f"{self.iface}: snap length {self.snaplen} out of range "
                                 "(64..262144 bytes)")
        if self.buffer_mb < 1:
            raise WirescoreError(f"{self.iface}: buffer size must be >= 1 MiB")
        if fanout_group is not None and not 0 <= int(fanout_group) <= 0xFFFF:
            raise WirescoreError(f"{self.iface}: fanout group {fanout_group} out of range "
                                 "(0..65535)")
        self._reader = self._open()
        try:
            self._set_up(self._reader)
            self._warn_if_quiet()
        except BaseException:
            self.close()
            raise

    def _set_up(self, reader) -> None:
        """Link type checks, BPF, non-blocking mode and fanout on a new handle."""
        from wirescore._core.decode import is_supported_linktype

        bpf, fanout_group = self.bpf, self.fanout_group
        self.linktype = int(reader.datalink())
        if self.linktype in WIFI_DLTS:
            raise WirescoreError(
                f"{self.iface}: Wi-Fi monitor mode (link type {dlt_name(self.linktype)}) "
                "is not supported: wirescore decodes Ethernet frames; capture on the "
                f"interface in managed mode (iw dev {self.iface} set type managed) or on "
                "a wired port or mirror")
        if not is_supported_linktype(self.linktype):
            raise WirescoreError(f"{self.iface}: unsupported link type "
                                 f"{dlt_name(self.linktype)}; wirescore reads {SUPPORTED}")
        if bpf:
            try:
                reader.setfilter(bpf)
            except Exception as exc:  # PcapError or BPFError
                raise WirescoreError(f"--bpf {bpf!r}: {_first_line(exc)}") from None
        reader.setnonblock(1)
        self._fd = int(reader.getfd())
        if fanout_group is not None:
            self._join_fanout(reader, int(fanout_group))

    # ------------------------------------------------------------------ opening

    def _open(self):
        pcapy, name = self._pcapy, self.iface
        try:
            reader = pcapy.create(name)
            reader.set_snaplen(self.snaplen)
            reader.set_promisc(1 if self.promisc else 0)
            reader.set_timeout(self.timeout_ms)
            reader.set_buffer_size(self.buffer_mb << 20)
            status = int(reader.activate())
        except pcapy.PcapError as exc:
            raise WirescoreError(f"{name}: cannot open for capture: {_first_line(exc)}") from None
        if status < 0:
            try:
                reader.close()
            except Exception:  # best effort: the handle is useless anyway
                pass
            raise WirescoreError(self._activate_message(status))
        if status == PCAP_WARNING_PROMISC_NOTSUP:
            log.warning("%s: promiscuous mode not supported: only traffic to and from "
                        "this host is captured", name)
        elif status > 0:
            log.warning("%s: libpcap warning %d while activating the capture", name, status)
        return reader

    def _activate_message(self, status: int) -> str:
        name = self.iface
        if status == PCAP_ERROR_NO_SUCH_DEVICE:
            known = _known_names()
            listed = ", ".join(known) if known else "none found"
            return (f"{name}: no such interface (interfaces: {listed}; "
                    "`wirescore interfaces` describes them)")
        if status == PCAP_ERROR_PERM_DENIED:
            return f"{name}: permission denied opening a live capture: {capabilities_hint()}"
        if status == PCAP_ERROR_PROMISC_PERM_DENIED:
            return (f"{name}: permission denied for promiscuous mode: "
                    f"{capabilities_hint()}; or capture without it (--no-promisc)")
        if status == PCAP_ERROR_IFACE_NOT_UP:
            return f"{name}: interface is down; bring it up first (ip link set {name} up)"
        if status in (PCAP_ERROR_RFMON_NOTSUP, PCAP_ERROR_NOT_RFMON):
            return (f"{name}: Wi-Fi monitor mode is not supported here, and wirescore does "
                    "not decode 802.11 frames anyway: capture in managed mode or on a "
                    "wired port or mirror")
        if status == PCAP_ERROR_CAPTURE_NOTSUP:
            return f"{name}: this device does not support packet capture"
        # libpcap's text is only in the handle's error buffer, which pcapy-ng does not
        # expose after activate(); open_live() repeats the attempt and reports it.
        detail = f"libpcap status {status}"
        try:
            probe = self._pcapy.open_live(name, self.snaplen, 1 if self.promisc else 0,
                                          self.timeout_ms)
        except self._pcapy.PcapError as exc:
            detail = _first_line(exc)
            if detail.startswith(name + ":"):
                detail = detail[len(name) + 1:].strip()
        else:
            try:
                probe.close()
            except Exception:  # best effort
                pass
        return f"{name}: unable to activate the capture: {detail}"

    def _join_fanout(self, reader, group: int) -> None:
        mode = self._pcapy.PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG
        try:
            reader.set_fanout(group, mode)
        except self._pcapy.PcapError as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
            if code == errno.EINVAL:
                raise WirescoreError(
                    f"{self.iface}: fanout group {group} is used by another capture "
                    "(another interface or mode): choose another group id") from None
            if code == errno.ENOSPC:
                raise WirescoreError(f"{self.iface}: fanout group {group} is full") from None
            raise WirescoreError(f"{self.iface}: cannot join fanout group {group}: "
                                 f"{_first_line(exc)}") from None
        # packets captured before the join were seen by every socket: not ours to keep
        self._start_us = int(time.time() * 1e6)

    def _warn_if_quiet(self) -> None:
        if self.iface == "any":
            return
        flags = interface_flags(self.iface)
        if flags is not None and flags & IFF_UP and not flags & IFF_RUNNING:
            log.warning("%s: interface is up but has no carrier (link down): no packets "
                        "will arrive until it has", self.iface)
        if is_wireless(self.iface):
            log.warning("%s: Wi-Fi in managed mode carries this host's traffic only; for "
                        "a whole network capture on a wired mirror port", self.iface)

    # ------------------------------------------------------------------ reading

    def batches(self) -> Iterator[tuple[bytes, np.ndarray, int]]:
        """Yield (data, meta, linktype) forever (until the consumer stops iterating); an
        empty batch after each timeout_ms without packets."""
        if self.prefetch <= 0:
            yield from self._read_batches()
            return
        yield from _prefetched(self._read_batches, self.prefetch, self.name)

    def _read_batches(self) -> Iterator[tuple[bytes, np.ndarray, int]]:
        while True:
            try:
                yield from self._read_handle()
            except LinkLost as exc:
                if not self.resume_on_link_loss:
                    raise
                yield from self._wait_for_link(str(exc))

    def _read_handle(self) -> Iterator[tuple[bytes, np.ndarray, int]]:
        """Batches from the open handle until it fails (LinkLost, CaptureFault)."""
        poller = select.poll()
        poller.register(self._fd, select.POLLIN | select.POLLERR)
        reader, pcap_error = self._reader, self._pcapy.PcapError
        n_max, timeout, linktype = self.batch_size, self.timeout_ms, self.linktype
        while True:
            try:
                data, meta = reader.next_batch(n_max)
            except pcap_error as exc:
                self._raise_socket_error()
                raise _fault_from_pcap(self.iface, _first_line(exc)) from None
            if not meta:
                try:
                    events = poller.poll(timeout)
                except InterruptedError:  # pragma: no cover - retried by Python (PEP 475)
                    events = []
                if not events:
                    yield b"", _EMPTY_META, linktype
                    continue
                for _, ev in events:
                    if ev & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                        self._raise_socket_error()
                        if ev & (select.POLLHUP | select.POLLNVAL):
                            raise LinkLost(f"{self.iface}: the capture socket was closed "
                                           "(the interface disappeared)")
                continue
            rows = np.frombuffer(meta, dtype=np.uint32).reshape(-1, 4)
            if self._start_us:
                rows = self._drop_before_start(rows)
                if rows is None:
                    continue
            self.packets_read += rows.shape[0]
            yield data, rows, linktype

    def _wait_for_link(self, why: str) -> Iterator[tuple[bytes, np.ndarray, int]]:
        """The handle is lost: close it, report, yield empty batches every timeout_ms
        while trying to open the interface again every LINK_RETRY_S; return once
        capturing again (the caller reads the new handle)."""
        self._drop_handle()
        self.link_downs += 1
        self.capture_state = "link_down"
        self._down_since = time.monotonic()
        log.warning("%s; capture resumes when it is back (retrying every %.0f s)", why,
                    LINK_RETRY_S)
        self._event("Warning", f"{why}; waiting for it", "link_lost",
                    packets=self.packets_read)
        next_try = self._down_since + LINK_RETRY_S
        empty = (b"", _EMPTY_META, self.linktype)
        while True:
            yield empty
            now = time.monotonic()
            if now < next_try:
                time.sleep(min(self.timeout_ms / 1000.0, next_try - now))
                continue
            next_try = now + LINK_RETRY_S
            if self._try_reopen():
                break
        gap = time.monotonic() - self._down_since
        self.link_down_s += gap
        self._down_since = None
        self.capture_state = "running"
        log.warning("%s: the interface is back after %.1f s without capture; capturing "
                    "again", self.iface, gap)
        self._event("Info", f"{self.iface}: capturing again after {gap:.1f} s without "
                            f"capture (link loss {self.link_downs})", "link_back",
                    seconds=round(gap, 3))

    def _try_reopen(self) -> bool:
        """Open, set up and install a new handle; False (logged at debug) while the
        interface is not there or not up."""
        try:
            reader = self._open()
        except WirescoreError as exc:
            log.debug("%s: not back yet: %s", self.iface, exc)
            return False
        try:
            self._set_up(reader)
        except WirescoreError as exc:
            log.debug("%s: not back yet: %s", self.iface, exc)
            _close_quietly(reader)
            return False
        with self._lock:
            if self._closed:                 # close() came first: not ours to keep
                _close_quietly(reader)
                return False
            self._reader = reader
        return True

    def _drop_handle(self) -> None:
        """Close the failed handle, keeping its kernel counters."""
        with self._lock:
            reader, self._reader = self._reader, None
        if reader is None:
            return
        last = self._handle_stats(reader)
        self._closed_stats = {k: self._closed_stats[k] + last[k] for k in self._closed_stats}
        self._last_stats = dict(self._closed_stats)
        _close_quietly(reader)

    def _event(self, level: str, message: str, kind: str, **details) -> None:
        self._events.append({"timestamp_us": int(time.time() * 1e6), "log_level": level,
                             "module": "capture", "message": message, "kind": kind,
                             "details": details})

    def take_events(self) -> list[dict]:
        """Capture events since the last call (oldest first; at most MAX_EVENTS kept):
        dicts of timestamp_us (wall clock, µs), log_level ("Warning", "Info"), module,
        message, kind ("link_lost", "link_back") and details. The engine writes them as
        EVE `engine` events and reports them as status events (wirescore.status)."""
        out = []
        while self._events:
            out.append(self._events.popleft())
        return out

    def _drop_before_start(self, rows: np.ndarray):
        """Discard leading packets stamped before the fanout join; None if all were."""
        stamps = rows[:, 0].astype(np.int64) * 1_000_000 + rows[:, 1]
        keep = stamps >= self._start_us
        if keep.all():
            self._start_us = 0                     # past the start: stop checking
            return rows
        self.discarded_at_start += int((~keep).sum())
        rows = rows[keep]
        if rows.shape[0]:
            self._start_us = 0
            return rows
        return None

    def _raise_socket_error(self) -> None:
        try:
            with socket.socket(fileno=os.dup(self._fd)) as s:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError:
            err = 0
        if err == errno.ENETDOWN:
            raise LinkLost(f"{self.iface}: the interface went down during the capture")
        if err == errno.ENODEV or err == errno.ENXIO:
            raise LinkLost(f"{self.iface}: the interface disappeared during the capture")
        if err:
            raise CaptureFault(f"{self.iface}: capture failed: {os.strerror(err)}")

    def expiry_clock(self) -> float:
        """The wall clock: live packets are stamped with it, so a flow idle on a quiet
        link ends on time although no packet comes."""
        return time.time()

    # ------------------------------------------------------------------ counters

    def stats(self) -> dict:
        """Kernel counters of this capture since it was opened (capture.* in stats):
        kernel_packets = packets that passed the filter (including those dropped),
        kernel_drops = dropped because the ring buffer was full, kernel_ifdrops =
        dropped by the interface/driver (0 where unknown), summed over the handles
        of the run (a new one after each link loss); errors = link losses."""
        reader = self._reader
        if reader is not None:
            current = self._handle_stats(reader)
            if current is not None:
                self._last_stats = {k: self._closed_stats[k] + current[k]
                                    for k in self._closed_stats}
        return dict(self._last_stats, errors=self.link_downs)

    @staticmethod
    def _handle_stats(reader) -> dict | None:
        try:
            recv, drop, ifdrop = reader.stats()
        except Exception:  # a closed or failed handle
            return None
        return {"kernel_packets": int(recv), "kernel_drops": int(drop),
                "kernel_ifdrops": int(ifdrop)}

    def seconds_without_capture(self) -> float:
        """Seconds the capture had no handle (link losses), the running episode included."""
        since = self._down_since
        return self.link_down_s + (time.monotonic() - since if since is not None else 0.0)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            reader = getattr(self, "_reader", None)
        if reader is None:
            return
        self.stats()
        with self._lock:
            self._reader = None
        _close_quietly(reader)

    def __enter__(self) -> "LiveSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _close_quietly(reader) -> None:
    try:
        reader.close()
    except Exception:  # closing is best effort
        pass


def _fault_from_pcap(iface: str, text: str) -> CaptureFault:
    """libpcap's read error as a fault: its texts for an interface that went down or
    away (pcap-linux.c) are link losses."""
    lowered = text.lower()
    if "went down" in lowered or "disappeared" in lowered or "no such device" in lowered:
        return LinkLost(f"{iface}: the interface went down during the capture"
                        if "went down" in lowered else
                        f"{iface}: the interface disappeared during the capture")
    return CaptureFault(f"{iface}: capture failed: {text}")


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) or (exc.args and isinstance(exc.args[0], int)
                                    and len(exc.args) > 1):
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    else:
        text = str(exc)
    text = text.strip() or type(exc).__name__
    return text.splitlines()[0]


#: LiveSource keyword argument -> the setting (wirescore.config) that gives it
SOURCE_SETTINGS = {"bpf": "capture.bpf", "snaplen": "capture.snaplen",
                   "promisc": "capture.promisc", "buffer_mb": "capture.buffer_mb",
                   "timeout_ms": "capture.timeout_ms", "batch_size": "capture.batch_size"}


def options_from_config(cfg) -> dict:
    """LiveSource keyword arguments from the capture.* settings of a Config."""
    options = {arg: cfg[key] for arg, key in SOURCE_SETTINGS.items()}
    options["resume_on_link_loss"] = not cfg["capture.exit_on_link_loss"]
    return options
