"""The capture reader (wirescore.capture.FileSource over wirescore._core.pcapfile) against
libpcap, packet for packet, on real captures.

- Every shared capture and every shipped fixture: the packets FileSource delivers
  (timestamps, bytes, link type) are those pcapy-ng (libpcap) returns, read in small
  buffers so that records are carried over from buffer to buffer; where libpcap stops
  at a damaged record, the reader stops after the same packet, with libpcap's words for
  classic pcap. Where libpcap gives up on a pcapng because its interfaces differ in snap
  length or link type, the reader reads the whole file, and tshark checks the packets.
- zeek-ldap__modify-request.pcapng (126 interfaces, snap lengths 65535 and 8192): its 17
  packets, as tshark reads them.
- `--bpf`: the packets kept are those libpcap keeps (pcapy.open_offline + setfilter) on
  every shared capture, for several expressions; the interpreter's result equals libpcap's
  bpf_filter (pcapy's BPFProgram.filter) frame by frame.
"""
from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, SHARED_DATA, fixture_captures, shared_available, shared_captures
from wirescore.capture import CaptureFault, FileSource
from wirescore.errors import WirescoreError

SMALL_CHUNK = 1 << 16           # FileSource's smallest buffer: most records get carried over
MULTI_INTERFACE_REFUSALS = ("an interface has a snapshot length", "an interface has a type")
LDAP = "varied/linktypes/zeek-ldap__modify-request.pcapng"


def all_captures() -> list:
    params = [pytest.param(p, id=f"fixtures/{p.name}") for p in fixture_captures()]
    params += [pytest.param(p, id=f"shared/{p.relative_to(SHARED_DATA / 'pcaps')}",
                            marks=pytest.mark.shared) for p in shared_captures()]
    mix = SHARED_DATA / "eval" / "mix-public.pcap"
    if mix.is_file():
        params.append(pytest.param(mix, id="shared/eval/mix-public.pcap",
                                   marks=pytest.mark.shared))
    return params


class Packets:
    """A reading, kept as arrays: (sec, usec) rows, one DLT per packet, the frames joined
    (compared in bulk: the evaluation mix has 150,000 packets)."""

    def __init__(self, times, linktypes, frames: list[bytes]):
        self.times = np.asarray(times, dtype=np.uint32).reshape(-1, 2)
        self.linktypes = np.asarray(linktypes, dtype=np.int64)
        self.lens = np.fromiter(map(len, frames), dtype=np.int64, count=len(frames))
        self.blob = b"".join(frames)

    def __len__(self) -> int:
        return len(self.lens)

    def same(self, other: "Packets") -> bool:
        """Same timestamps and bytes (link types aside)."""
        return (np.array_equal(self.times, other.times)
                and np.array_equal(self.lens, other.lens) and self.blob == other.blob)

    def where(self, keep) -> "Packets":
        """The packets whose index is in keep (a boolean mask)."""
        ends = np.cumsum(self.lens)
        starts = ends - self.lens
        frames = [self.blob[a:b] for a, b in zip(starts[keep], ends[keep])]
        return Packets(self.times[keep], self.linktypes[keep], frames)


def libpcap_packets(path: Path, bpf: str | None = None):
    """(DLT or None, Packets, error or None) as pcapy-ng's next_batch gives them (the
    32-bit meta fields the engine used), with libpcap's own filter for bpf. Read in large
    batches; one packet per call when libpcap meets an error, so that nothing before it
    is lost (next_batch drops the batch holding the error)."""
    import pcapy

    def read(batch: int):
        try:
            reader = pcapy.open_offline(str(path))
        except pcapy.PcapError as exc:
            return None, [], [], str(exc)
        if bpf:
            reader.setfilter(bpf)       # PcapError when it does not compile: to the caller
        times, frames = [], []
        while True:
            try:
                data, meta = reader.next_batch(batch)
            except pcapy.PcapError as exc:
                return reader.datalink(), times, frames, str(exc)
            if not meta:
                return reader.datalink(), times, frames, None
            rows = np.frombuffer(meta, dtype=np.uint32).reshape(-1, 4)
            times.append(rows[:, :2])
            frames += [bytes(data[o:o + c]) for o, c in rows[:, 2:].tolist()]

    dlt, times, frames, error = read(65536)
    if error is not None and dlt is not None:
        dlt, times, frames, error = read(1)
    rows = np.concatenate(times) if times else np.empty((0, 2), dtype=np.uint32)
    return dlt, Packets(rows, [dlt] * len(frames), frames), error


def reader_packets(path, chunk_bytes: int = SMALL_CHUNK, bpf: str | None = None, **kw):
    """(first DLT, Packets, fault message or None) through FileSource."""
    source = FileSource(path, bpf=bpf, chunk_bytes=chunk_bytes, **kw)
    times, linktypes, frames, fault = [], [], [], None
    try:
        for data, meta, linktype in source.batches():
            assert not meta.flags.writeable and meta.dtype == np.uint32
            view = bytes(data)
            times.append(meta[:, :2])
            linktypes += [linktype] * len(meta)
            frames += [view[o:o + c] for o, c in meta[:, 2:].tolist()]
    except CaptureFault as exc:
        fault = str(exc)
    finally:
        source.close()
    rows = np.concatenate(times) if times else np.empty((0, 2), dtype=np.uint32)
    return source.linktype, Packets(rows, linktypes, frames), fault


def tshark_packets(path: Path) -> Packets:
    """The packets as tshark reads them (linktypes: the interface ids)."""
    proc = subprocess.run(["tshark", "-r", str(path), "-T", "json", "-x"],
                          capture_output=True, text=True, check=True)
    times, ifaces, frames = [], [], []
    for pkt in json.loads(proc.stdout):
        layers = pkt["_source"]["layers"]
        sec, frac = layers["frame"]["frame.time_epoch"].split(".")
        times.append((int(sec), int(frac[:6].ljust(6, "0"))))
        ifaces.append(int(layers["frame"].get("frame.interface_id", 0)))
        frames.append(bytes.fromhex(layers["frame_raw"][0]))
    return Packets(times, ifaces, frames)


@pytest.mark.parametrize("path", all_captures())
def test_same_packets_as_libpcap(path):
    from wirescore._core.decode import is_supported_linktype

    dlt, want, error = libpcap_packets(path)
    if dlt is not None and not is_supported_linktype(dlt):
        with pytest.raises(WirescoreError, match="unsupported link type"):
            FileSource(path)
        return
    if dlt is None:
        with pytest.raises(WirescoreError, match="not a readable pcap/pcapng capture"):
            FileSource(path)
        return
    first, got, fault = reader_packets(path)
    if error and error.startswith(MULTI_INTERFACE_REFUSALS):
        assert fault is None and len(got) > len(want)
        assert got.same(tshark_packets(path))
        return
    assert first == dlt and set(got.linktypes.tolist()) <= {dlt}
    assert got.same(want)
    if error is None:
        assert fault is None
    else:
        assert fault is not None and f"after packet {len(want)}:" in fault, (fault, error)
        if path.read_bytes()[:4] != b"\x0a\x0d\x0d\x0a":     # classic pcap: libpcap's words
            assert fault.endswith(f": {error}"), (fault, error)


def test_the_sweep_covers_the_shared_captures():
    if not shared_available():
        pytest.skip(f"shared captures not found at {SHARED_DATA}")
    assert len(all_captures()) > 500


@pytest.mark.parametrize("chunk", [SMALL_CHUNK, 1 << 20, 1 << 26])
def test_buffer_size_changes_nothing(chunk):
    """The same packets whatever the buffer size (records carried over or not)."""
    path = FIXTURES / "zeek-wikipedia.pcap"
    first, got, fault = reader_packets(path, chunk)
    _, ref, _ = libpcap_packets(path)
    assert (first, fault) == (1, None) and got.same(ref)


def test_ldap_pcapng_with_126_interfaces_gives_its_17_packets():
    """Interfaces of snap lengths 65535 and 8192 (libpcap refuses the file at packet 0)."""
    if not shared_available():
        pytest.skip(f"shared captures not found at {SHARED_DATA}")
    path = SHARED_DATA / "pcaps" / LDAP
    dlt, got, fault = reader_packets(path)
    ref = tshark_packets(path)
    assert fault is None and dlt == 1 and len(got) == len(ref) == 17
    assert got.same(ref)
    assert libpcap_packets(path)[2].startswith(MULTI_INTERFACE_REFUSALS)


# ---- crafted pcapng: what no shared capture has -----------------------------------------------

def crafted_pcapng(order: str, tsresol: bytes | None, tsoffset: int | None) -> bytes:
    """One section in byte order `order`, one Ethernet interface with the given
    if_tsresol / if_tsoffset (option 14), then an enhanced, a simple and an obsolete
    packet block between blocks that are skipped (name resolution, statistics, custom)."""
    def block(btype, body):
        pad = -len(body) % 4
        size = 12 + len(body) + pad
        return struct.pack(order + "II", btype, size) + body + b"\0" * pad + \
            struct.pack(order + "I", size)

    def opt(code, value):
        return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)

    frame = (FIXTURES / "zeek-wikipedia.pcap").read_bytes()[40:40 + 74]
    opts = (opt(9, tsresol) if tsresol else b"") + \
        (opt(14, struct.pack(order + "q", tsoffset)) if tsoffset is not None else b"")
    ticks = 0x1_2345_6789_AB
    out = block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack(order + "HHI", 1, 0, 0) + opts + (opt(0, b"") if opts else b""))
    out += block(4, struct.pack(order + "HH", 0, 0))
    out += block(6, struct.pack(order + "IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, 60, 74)
                 + frame[:60])
    out += block(5, struct.pack(order + "III", 0, 0, 0))
    out += block(3, struct.pack(order + "I", 74) + frame)
    out += block(0x40000BAD, b"custom")
    out += block(2, struct.pack(order + "HHIIII", 0, 0, 7, 123_456_789, 74, 74) + frame)
    return out


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("tsresol", [None, b"\x09", b"\x03", b"\x94", b"\x80", b"\x00"])
@pytest.mark.parametrize("tsoffset", [None, 1_600_000_000])
def test_crafted_pcapng_as_libpcap_reads_it(tmp_path, order, tsresol, tsoffset):
    """Timestamps in powers of 10 and of 2 (truncated to microseconds as libpcap does),
    with and without if_tsoffset, in both byte orders, from every packet block kind."""
    path = tmp_path / "crafted.pcapng"
    path.write_bytes(crafted_pcapng(order, tsresol, tsoffset))
    dlt, want, error = libpcap_packets(path)
    first, got, fault = reader_packets(path)
    assert (dlt, error, len(want)) == (1, None, 3)
    assert (first, fault) == (1, None) and got.same(want)


def test_pcapng_sections_in_both_byte_orders(tmp_path):
    """libpcap refuses a second section in the other byte order; the reader reads it,
    each section with its own interfaces."""
    path = tmp_path / "two.pcapng"
    little = crafted_pcapng("<", b"\x09", None)
    big = crafted_pcapng(">", b"\x94", 1_600_000_000)
    path.write_bytes(little + big)
    (tmp_path / "little.pcapng").write_bytes(little)
    (tmp_path / "big.pcapng").write_bytes(big)
    _, got, fault = reader_packets(path)
    assert fault is None and len(got) == 6
    assert got.where(np.arange(6) < 3).same(libpcap_packets(tmp_path / "little.pcapng")[1])
    assert got.where(np.arange(6) >= 3).same(libpcap_packets(tmp_path / "big.pcapng")[1])
    _, by_libpcap, error = libpcap_packets(path)
    assert error is not None and len(by_libpcap) == 3     # it stops at the second section


# ---- BPF ----------------------------------------------------------------------------------

BPF_EXPRESSIONS = ["tcp", "udp port 53", "not ip6", "tcp[tcpflags] & tcp-syn != 0",
                   "greater 600", "vlan or arp", "ip[6:2] & 0x3fff != 0", "icmp or icmp6"]


def bpf_captures() -> list:
    """Shared captures libpcap reads (its filter is the reference), with a supported link
    type, plus the fixtures."""
    from wirescore._core.decode import is_supported_linktype

    params = []
    for param in all_captures():
        path = param.values[0]
        dlt, packets, error = libpcap_packets(path)
        if dlt is not None and is_supported_linktype(dlt) and len(packets):
            params.append(param)
    return params


@pytest.mark.parametrize("path", bpf_captures())
def test_bpf_keeps_what_libpcap_keeps(path):
    import pcapy

    for expr in BPF_EXPRESSIONS:
        try:
            _, want, error = libpcap_packets(path, bpf=expr)
        except pcapy.PcapError as exc:      # does not compile for this link type
            with pytest.raises(WirescoreError, match=re.escape(f"--bpf {expr!r}: {exc}")):
                FileSource(path, bpf=expr)
            continue
        _, got, fault = reader_packets(path, bpf=expr)
        assert got.same(want), expr
        assert (fault is None) == (error is None), (expr, fault, error)


def test_bpf_interpreter_equals_libpcap_bpf_filter():
    """Frame by frame on the fixtures: the interpreter's return value is libpcap's."""
    import pcapy

    from wirescore._core.pcapfile import bpf_filter

    checked = 0
    for path in fixture_captures():
        dlt, packets, _ = libpcap_packets(path)
        for expr in BPF_EXPRESSIONS + ["len >= 100 and len < 1000", "ether[0] & 1 = 0"]:
            try:
                program = pcapy.compile(dlt, 65535, expr, 1, 0)
            except pcapy.PcapError:
                continue                    # e.g. "ether" on a raw IP capture
            insns = program.get_bpf()
            ends = np.cumsum(packets.lens)
            for a, b in zip((ends - packets.lens).tolist(), ends.tolist()):
                frame = packets.blob[a:b]
                assert bpf_filter(insns, frame, len(frame)) == program.filter(frame), expr
                checked += 1
    assert checked > 1000


def test_bpf_on_a_file_that_does_not_compile_fails_before_any_packet():
    with pytest.raises(WirescoreError, match="--bpf 'tcp port': "):
        FileSource(FIXTURES / "zeek-wikipedia.pcap", bpf="tcp port")


if __name__ == "__main__":          # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
