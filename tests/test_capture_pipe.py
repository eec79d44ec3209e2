"""A pipe on a quiet link: batches leave after the read timeout, and idle flows end on the
wall clock while the input stays open (README "Pipes and standard input").

The issue: `tcpdump -U -w - | wirescore run -r -` handed packets to the core only when
4,096 had arrived or the input ended, so 60 packets over 15 s with
--flow-timeout-udp-new 1 wrote no flow before the input closed. These tests write
packets slowly into a real `wirescore run -r -` (and into FileSource through a pipe)
and watch what comes out while the pipe is still open. Times are generous (flows are
expected about a second after their timeout; the test waits up to a minute), so a busy
machine slows them down without failing them.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from conftest import FIXTURES
from wirescore.capture import FileSource

T0 = 1_700_000_000
GAP = 0.25                      # seconds between packets, on the wire and in packet time
PACKETS = 60


def udp_frame(sport: int) -> bytes:
    """Ethernet + IPv4 + UDP 10.0.0.1:sport -> 10.0.0.2:53 with 8 bytes of payload."""
    udp = struct.pack(">HHHH", sport, 53, 16, 0) + b"wirescor"
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     b"\x0a\0\0\x01", b"\x0a\0\0\x02")
    return bytes.fromhex("020000000002020000000001" "0800") + ip + udp


def record(i: int) -> bytes:
    """Packet i of flow i, stamped GAP * i seconds after T0."""
    f = udp_frame(10000 + i)
    usec = int(i * GAP * 1_000_000)
    return struct.pack("<IIII", T0 + usec // 1_000_000, usec % 1_000_000, len(f), len(f)) + f


PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def flow_count(eve: Path) -> int:
    try:
        return eve.read_text().count('"event_type":"flow"')
    except FileNotFoundError:
        return 0


def test_sixty_packets_written_slowly_give_their_flows_before_the_input_closes(tmp_path):
    logdir = tmp_path / "logs"
    eve = logdir / "eve.json"
    proc = subprocess.Popen([sys.executable, "-m", "wirescore", "run", "-r", "-", "-l",
                             str(logdir), "--no-detect", "--flow-timeout-udp-new", "1"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        proc.stdin.write(PCAP_HEADER)
        proc.stdin.flush()
        first_flow_at = None                    # packets written when the first flow showed
        for i in range(PACKETS):
            proc.stdin.write(record(i))
            proc.stdin.flush()
            time.sleep(GAP)
            if first_flow_at is None and flow_count(eve):
                first_flow_at = i + 1
        deadline = time.monotonic() + 60
        while flow_count(eve) < PACKETS and time.monotonic() < deadline:
            time.sleep(0.2)
        while_open = flow_count(eve)
        assert proc.poll() is None, "wirescore ended while its input was open"
    finally:
        proc.stdin.close()
        proc.wait(timeout=120)
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    assert first_flow_at is not None and first_flow_at < PACKETS, \
        "no flow event while the packets were being written"
    assert while_open == PACKETS, f"{while_open} of {PACKETS} flows before the input closed"
    assert flow_count(eve) == PACKETS                   # and none twice at the end


def pipe_source(**kw) -> tuple[FileSource, int]:
    """A FileSource reading a new pipe (through /dev/fd), and the pipe's write end,
    after the pcap header is written."""
    r, w = os.pipe()
    os.write(w, PCAP_HEADER)
    try:
        return FileSource(f"/dev/fd/{r}", **kw), w
    finally:
        os.close(r)


def test_a_quiet_pipe_yields_empty_batches_and_a_moving_clock():
    """One packet, then nothing: its batch leaves within the read timeout; then empty
    batches whose expiry clock (once the pipe was quiet for a whole read timeout) is the
    packet's time plus the wall time since it came."""
    source, w = pipe_source(timeout_ms=50)
    try:
        batches = source.batches(prefetch=0)
        os.write(w, record(0))
        written = time.monotonic()
        data, meta, linktype = next(batches)
        assert linktype == 1 and meta.shape == (1, 4) and meta[0, 0] == T0
        clocks = [] if source.expiry_clock() is None else \
            [(source.expiry_clock(), time.monotonic() - written)]

        while len(clocks) < 5:
            data, meta, _ = next(batches)
            assert meta.shape == (0, 4)
            if source.expiry_clock() is not None:
                clocks.append((source.expiry_clock(), time.monotonic() - written))
        for clock, since in clocks:
            assert T0 + 0.05 <= clock <= T0 + since + 0.01
        assert [c for c, _ in clocks] == sorted(c for c, _ in clocks)
    finally:
        os.close(w)
    assert all(meta.shape == (0, 4) for _, meta, _ in batches)   # ends at end of input
    source.close()


def test_a_busy_pipe_and_a_file_have_no_expiry_clock(tmp_path):
    """Packets keep coming (no read timeout without bytes): packet time alone ages
    flows, as for a regular file, which never has a clock."""
    source = FileSource(FIXTURES / "zeek-wikipedia.pcap")
    assert all(source.expiry_clock() is None for _ in source.batches())
    source.close()
    source, w = pipe_source(timeout_ms=10_000)
    data = b"".join(record(i) for i in range(200))
    os.write(w, data)
    os.close(w)
    rows = []
    for _, meta, _ in source.batches():
        assert source.expiry_clock() is None
        rows.append(meta)
    source.close()
    assert np.concatenate(rows).shape == (200, 4)
