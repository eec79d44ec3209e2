"""Standard input and pipes read exactly as files: the same bytes give the same flows, cut
anywhere, and a damaged record loses nothing before it.

- Cut anywhere: a classic pcap and a pcapng (merged from two link types when mergecap is
  there) cut at many offsets (inside the file header, the section header, an interface
  block, a record header, packet data, on a record boundary, and at random), each read as
  a file and through a pipe written in random-sized pieces: the same eve.json flow events
  and the same error (or none).
- The 5 MB cut of the evaluation mix through `wirescore run -r -` (the issue's
  `head -c 5000000 mix.pcap | wirescore run -r -`): the same flow events and the same
  "capture damaged after packet N" as the file cut at the same byte.
- Records claiming gigabytes after good packets, a large stream redirected or piped.

The pipe runs here set the read timeout to its maximum (10 s): a pipe that stays quiet for
the read timeout ages flows on the wall clock (test_capture_pipe.py), which a writer
paused by a loaded machine could trigger; these tests are about what is read, not when.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import FIXTURES, SHARED_DATA, shared_available
from test_input_limits import T0, frame, pcap, pcapng, rec
from wirescore.config import Config
from wirescore.engine import Engine
from wirescore.errors import WirescoreError

QUIET_MS = 10_000                # the longest read timeout (see the module docstring)


def record_layout(data: bytes) -> tuple[list[int], list[int]]:
    """(offsets where the file header / blocks before the first packet end and records
    start, offsets inside headers of records or blocks) of a pcap or pcapng."""
    bounds, insides = [], []
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        off = 0
        while off + 12 <= len(data):
            btype, blen = struct.unpack_from(order + "II", data, off)
            insides += [off + 3, off + 9, off + min(blen - 1, 30)]
            off += blen
            bounds.append(off)
        return bounds, insides
    off = 24
    insides = [1, 4, 10, 23]
    while off + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, off + 8)[0]
        insides += [off + 5, off + 15, off + 16 + caplen // 2]
        off += 16 + caplen
        bounds.append(off)
    return bounds, insides


def cut_points(data: bytes, rng: random.Random, n_random: int = 8) -> list[int]:
    bounds, insides = record_layout(data)
    picks = [0, 1, 3, 4, 12, 23, 24, 25, len(data) - 1, len(data)]
    picks += rng.sample(bounds, min(6, len(bounds))) + rng.sample(insides, min(10, len(insides)))
    picks += [rng.randrange(len(data)) for _ in range(n_random)]
    return sorted({p for p in picks if 0 <= p <= len(data)})


def run_engine(path: str, logdir: Path) -> tuple[list[str], str | None]:
    """(flow event lines, the one-line error or None) of one in-process run."""
    cfg = Config.load(overrides={"detect.enabled": False, "capture.timeout_ms": QUIET_MS})
    error = None
    try:
        Engine(cfg, log_dir=logdir).run(path)
    except WirescoreError as exc:
        error = str(exc).replace(path, "<input>")
    eve = logdir / "eve.json"
    lines = eve.read_text().splitlines() if eve.exists() else []
    return [ln for ln in lines if '"event_type":"flow"' in ln], error


def run_through_pipe(data: bytes, logdir: Path, rng: random.Random):
    """run_engine() on a pipe that a thread fills in pieces of 1 byte to 64 KiB."""
    r, w = os.pipe()

    def write() -> None:
        view, pos = memoryview(data), 0
        try:
            while pos < len(data):
                n = rng.choice((1, 7, 100, 4096, 65536, rng.randrange(1, 65536)))
                pos += os.write(w, view[pos:pos + n])
        except BrokenPipeError:                  # the reader stopped at a header fault
            pass
        finally:
            os.close(w)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        return run_engine(f"/dev/fd/{r}", logdir)
    finally:
        os.close(r)                              # a writer stuck on a full pipe gets EPIPE
        writer.join()


def inputs(tmp_path: Path) -> list[tuple[str, bytes]]:
    out = [("pcap", (FIXTURES / "zeek-wikipedia.pcap").read_bytes()),
           ("pcapng", (FIXTURES / "zeek-vlan-pcp-dei.pcapng").read_bytes())]
    if shutil.which("mergecap"):
        merged = tmp_path / "merged.pcapng"
        subprocess.run(["mergecap", "-F", "pcapng", "-w", str(merged),
                        str(FIXTURES / "zeek-wikipedia.pcap"),
                        str(FIXTURES / "zeek-tls-irc-starttls-sll.pcap")],
                       check=True, capture_output=True)
        out.append(("pcapng of two link types", merged.read_bytes()))
    return out


def test_pipe_equals_file_cut_anywhere(tmp_path):
    rng = random.Random(14)
    checked = 0
    for kind, data in inputs(tmp_path):
        for cut in cut_points(data, rng):
            piece = data[:cut]
            path = tmp_path / f"cut{checked}"
            path.write_bytes(piece)
            as_file = run_engine(str(path), tmp_path / f"f{checked}")
            as_pipe = run_through_pipe(piece, tmp_path / f"p{checked}", rng)
            assert as_pipe == as_file, f"{kind} cut at {cut} of {len(data)}"
            checked += 1
    assert checked > 60


def test_a_cut_record_ends_the_stream_after_every_whole_one(tmp_path):
    """A file cut inside a record: every whole record before it is in a flow, and the
    error says after which packet (the issue: up to a batch of packets was lost)."""
    data = (FIXTURES / "zeek-wikipedia.pcap").read_bytes()
    bounds, _ = record_layout(data)
    for k in (1, 50, 135):
        flows, error = run_through_pipe(data[:bounds[k - 1] + 7], tmp_path / f"k{k}",
                                        random.Random(k))
        assert error and f"capture damaged after packet {k}: truncated dump file" in error
        packets = sum(json.loads(ln)["flow"]["pkts_toserver"] + json.loads(ln)["flow"][
            "pkts_toclient"] for ln in flows)
        assert packets <= k and packets >= k - 10       # the 10 ARP frames make no flow


# ---- real standard input ---------------------------------------------------------------------

def wirescore_cmd(logdir: Path, source: str, *extra) -> list[str]:
    return [sys.executable, "-m", "wirescore", "run", "-r", source, "-l", str(logdir),
            "--no-detect", "--read-timeout", str(QUIET_MS), *extra]


def flow_events(logdir: Path) -> list[str]:
    lines = (logdir / "eve.json").read_text().splitlines()
    return sorted(ln for ln in lines if '"event_type":"flow"' in ln)


def piped(cmd: list[str], data: bytes) -> subprocess.CompletedProcess:
    """cmd with data written into its standard input through a pipe."""
    return subprocess.run(cmd, input=data, capture_output=True, timeout=600)


def file_and_stdin(tmp_path: Path, name: str, data: bytes):
    """`wirescore run` on data written to tmp_path/name, then on data piped into `-r -`
    (log directories tmp_path/file and tmp_path/stdin): both CompletedProcess."""
    path = tmp_path / name
    path.write_bytes(data)
    from_file = subprocess.run(wirescore_cmd(tmp_path / "file", str(path)),
                               capture_output=True, timeout=600)
    return from_file, piped(wirescore_cmd(tmp_path / "stdin", "-"), data)


def test_five_megabyte_cut_of_the_mix_same_flows_from_stdin(tmp_path):
    if not shared_available():
        pytest.skip(f"shared captures not found at {SHARED_DATA}")
    data = (SHARED_DATA / "eval" / "mix-public.pcap").read_bytes()[:5_000_000]
    from_file, from_stdin = file_and_stdin(tmp_path, "mix-5MB.pcap", data)
    assert from_file.returncode == from_stdin.returncode == 1
    err_file = from_file.stderr.decode().strip().splitlines()[-1]
    err_stdin = from_stdin.stderr.decode().strip().splitlines()[-1]
    assert "capture damaged after packet 32149: truncated dump file" in err_file
    assert err_stdin == err_file.replace(str(tmp_path / "mix-5MB.pcap"), "<stdin>").replace(
        str(tmp_path / "file"), str(tmp_path / "stdin"))
    flows = flow_events(tmp_path / "file")
    assert len(flows) > 1000 and flow_events(tmp_path / "stdin") == flows


def test_pcapng_cut_same_flows_from_stdin(tmp_path):
    """A pcapng (several interfaces, one link type) cut inside a block, through `-r -`."""
    if not shared_available():
        pytest.skip(f"shared captures not found at {SHARED_DATA}")
    data = (SHARED_DATA / "pcaps" / "peer-groundtruth" / "ndpi" / "anydesk.pcapng").read_bytes()
    from_file, from_stdin = file_and_stdin(tmp_path, "cut.pcapng",
                                           data[:len(data) * 2 // 3 + 5])
    assert from_file.returncode == from_stdin.returncode == 1
    assert b"truncated pcapng dump file" in from_stdin.stderr
    flows = flow_events(tmp_path / "file")
    assert flows and flow_events(tmp_path / "stdin") == flows


@pytest.mark.parametrize("magic", [0xA1B2C3D4, 0xA1B23C4D])
def test_stdin_and_file_give_the_same_flows_before_a_damaged_record(tmp_path, magic):
    """Three packets of two flows then a record claiming 4 GB: same flows, same
    timestamps, from the file and from standard input."""
    good = [rec(frame(sport=2000), frac=5_000_123), rec(frame(sport=2000, flags=0x10),
                                                        sec=T0 + 1, frac=7_000_456),
            rec(frame(sport=2001), sec=T0 + 2, frac=9)]
    path = tmp_path / "cut.pcap"
    path.write_bytes(pcap(good + [(T0 + 3, 0, 0xFFFFFFFF, 0xFFFFFFFF, b"\xaa" * 64)],
                          magic=magic))
    flows = {}
    for how in ("file", "stdin"):
        logs = tmp_path / how
        with open(path, "rb") as fh:
            proc = subprocess.run(wirescore_cmd(logs, str(path) if how == "file" else "-"),
                                  stdin=fh if how == "stdin" else subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and "capture damaged after packet 3" in proc.stderr
        events = [json.loads(line) for line in open(logs / "eve.json")]
        flows[how] = sorted((e["src_port"], e["flow"]["pkts_toserver"], e["flow"]["start"],
                             e["flow"]["end"]) for e in events if e["event_type"] == "flow")
    assert len(flows["file"]) == 2 and flows["stdin"] == flows["file"]


@pytest.mark.parametrize("how", ["redirect", "pipe"])
def test_a_large_stream_on_stdin(tmp_path, how):
    """A capture of several MiB as standard input, redirected from a file (read as a
    regular file) or piped (read as a pipe): all of it is read."""
    frames = [frame(sport=1000 + i % 500, payload=b"p" * 900) for i in range(6000)]
    path = tmp_path / "big.pcap"
    path.write_bytes(pcap([rec(f, sec=T0 + i // 1000, frac=i % 1000) for i, f in
                           enumerate(frames)]))
    logs = tmp_path / "logs"
    if how == "redirect":
        with open(path, "rb") as fh:
            proc = subprocess.run(wirescore_cmd(logs, "-"), stdin=fh, capture_output=True,
                                  text=True, timeout=120)
    else:
        cat = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)
        proc = subprocess.run(wirescore_cmd(logs, "-"), stdin=cat.stdout, capture_output=True,
                              text=True, timeout=120)
        cat.stdout.close()
        cat.wait()
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in open(logs / "eve.json")]
    assert sum(e["flow"]["pkts_toserver"] for e in events if e["event_type"] == "flow") == 6000


def test_gzip_on_stdin_is_refused_in_one_line(tmp_path):
    import gzip

    data = gzip.compress((FIXTURES / "zeek-wikipedia.pcap").read_bytes())
    proc = piped(wirescore_cmd(tmp_path / "logs", "-"), data)
    lines = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1
    assert "<stdin>: gzip-compressed; decompress it first (zcat FILE |" in lines[0]


def test_pcapng_from_stdin_in_pieces_is_read_whole(tmp_path):
    """A pcapng whose section header arrives byte by byte: nothing waits for more than
    what is there, and every packet is read."""
    f = frame()
    data = pcapng([(len(f), f, len(f))] * 5)
    flows, error = run_through_pipe(data, tmp_path / "ng", random.Random(3))
    assert error is None
    assert sum(json.loads(ln)["flow"]["pkts_toserver"] for ln in flows) == 5
