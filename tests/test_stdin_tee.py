"""wirescore.stdin_tee: standard input through a pipe, its last bytes kept so that the
records of a batch pcapy-ng dropped at a damaged record can be parsed again."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from test_input_limits import T0, frame, pcap, pcapng, rec
from wirescore.stdin_tee import StdinTee, _header_complete


def tee_of(data: bytes, tmp_path, keep: int = 64 << 20) -> StdinTee:
    """A tee reading `data` (from a file, as `< file` gives standard input), its pipe
    read to the end as libpcap would."""
    src = tmp_path / "stdin.bin"
    src.write_bytes(data)
    fd = os.open(src, os.O_RDONLY)
    tee = StdinTee(fd=fd, keep_bytes=keep)
    out = os.open(tee.path, os.O_RDONLY)
    got = b""
    while chunk := os.read(out, 1 << 16):
        got += chunk
    os.close(out)
    tee._thread.join(timeout=10)
    os.close(fd)
    assert got == data
    return tee


def test_records_after_parses_classic_pcap_from_an_offset(tmp_path):
    frames = [frame(sport=1000 + i, payload=b"x" * i) for i in range(5)]
    data = pcap([rec(f, sec=T0 + i, frac=10 * i) for i, f in enumerate(frames)]
                + [(T0, 0, 0xFFFFFFFF, 0xFFFFFFFF, b"\xaa" * 8)])
    tee = tee_of(data, tmp_path)
    offset = 24 + sum(16 + len(f) for f in frames[:2])     # two records delivered
    got = list(tee.records_after(offset))
    assert got == [(frames[i], T0 + i, 10 * i) for i in range(2, 5)]   # stops at the bad one
    tee.close()


def test_nanosecond_pcap_gives_microseconds(tmp_path):
    f = frame()
    data = pcap([rec(f, sec=T0, frac=123_456_789)], magic=0xA1B23C4D)
    tee = tee_of(data, tmp_path)
    assert list(tee.records_after(24)) == [(f, T0, 123_456)]
    tee.close()


def test_nothing_once_the_offset_left_the_kept_bytes_or_for_pcapng(tmp_path):
    frames = [frame(payload=b"y" * 1000) for _ in range(3000)]    # ~3.2 MB
    data = pcap([rec(f) for f in frames])
    tee = tee_of(data, tmp_path, keep=1 << 20)              # keeps the last 1 MiB only
    assert list(tee.records_after(24)) == []
    last = 24 + sum(16 + len(f) for f in frames[:-1])
    assert list(tee.records_after(last)) == [(frames[-1], T0, 0)]
    tee.close()
    ng = tee_of(pcapng([(len(frame()), frame(), len(frame()))]), tmp_path)
    assert list(ng.records_after(0)) == [] and ng.snaplen() is None
    ng.close()


def test_header_complete():
    assert not _header_complete(pcap([])[:23]) and _header_complete(pcap([]))
    ng = pcapng([])                                # SHB + IDB
    assert _header_complete(ng) and not _header_complete(ng[:-1])
    assert _header_complete(b"garbage, not a capture at all")    # libpcap will refuse it


@pytest.mark.parametrize("magic", [0xA1B2C3D4, 0xA1B23C4D])
def test_stdin_and_file_give_the_same_flows_before_a_damaged_record(tmp_path, magic):
    """Three packets of two flows then a record claiming 4 GB: the file is re-read by
    libpcap, standard input parsed again from the tee; same flows, same timestamps."""
    good = [rec(frame(sport=2000), frac=5_000_123), rec(frame(sport=2000, flags=0x10),
                                                        sec=T0 + 1, frac=7_000_456),
            rec(frame(sport=2001), sec=T0 + 2, frac=9)]
    path = tmp_path / "cut.pcap"
    path.write_bytes(pcap(good + [(T0 + 3, 0, 0xFFFFFFFF, 0xFFFFFFFF, b"\xaa" * 64)],
                          magic=magic))
    flows = {}
    for how in ("file", "stdin"):
        logs = tmp_path / how
        cmd = [sys.executable, "-m", "wirescore", "run", "-l", str(logs), "--no-detect", "-r",
               str(path) if how == "file" else "-"]
        with open(path, "rb") as fh:
            proc = subprocess.run(cmd, stdin=fh if how == "stdin" else subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and "capture damaged after packet 3" in proc.stderr
        events = [json.loads(line) for line in open(logs / "eve.json")]
        flows[how] = sorted((e["src_port"], e["flow"]["pkts_toserver"], e["flow"]["start"],
                             e["flow"]["end"]) for e in events if e["event_type"] == "flow")
    assert len(flows["file"]) == 2 and flows["stdin"] == flows["file"]


def test_release_drops_what_was_delivered(tmp_path):
    frames = [frame(payload=b"z" * 500) for _ in range(4000)]     # ~2.2 MB: 3 chunks
    data = pcap([rec(f) for f in frames])
    tee = tee_of(data, tmp_path)
    assert tee._kept == len(data)
    delivered = 24 + sum(16 + len(f) for f in frames[:3990])
    tee.release(delivered)
    assert tee._kept < (1 << 20) + 16 + 554       # only the chunk holding the rest
    assert [f for f, *_ in tee.records_after(delivered)] == frames[3990:]
    assert list(tee.records_after(24)) == []      # released
    tee.close()


@pytest.mark.parametrize("how", ["redirect", "pipe"])
def test_a_large_stream_on_stdin(tmp_path, how):
    """A capture of several MiB as standard input, redirected from a file (the first
    read returns a whole 1 MiB chunk, more than the pipe holds) or piped: all of it is
    read. (The header must be known whole before that chunk is written: libpcap is
    opened only then, and the write waits for libpcap.)"""
    frames = [frame(sport=1000 + i % 500, payload=b"p" * 900) for i in range(6000)]
    path = tmp_path / "big.pcap"
    path.write_bytes(pcap([rec(f, sec=T0 + i // 1000, frac=i % 1000) for i, f in
                           enumerate(frames)]))
    logs = tmp_path / "logs"
    cmd = [sys.executable, "-m", "wirescore", "run", "-r", "-", "-l", str(logs), "--no-detect"]
    if how == "redirect":
        with open(path, "rb") as fh:
            proc = subprocess.run(cmd, stdin=fh, capture_output=True, text=True, timeout=120)
    else:
        cat = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)
        proc = subprocess.run(cmd, stdin=cat.stdout, capture_output=True, text=True,
                              timeout=120)
        cat.stdout.close()
        cat.wait()
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in open(logs / "eve.json")]
    assert sum(e["flow"]["pkts_toserver"] for e in events if e["event_type"] == "flow") == 6000
