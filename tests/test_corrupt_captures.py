"""Damaged copies of real captures: truncated at many offsets and with bytes flipped.

For each capture (the shipped fixtures always; ../shared/data/pcaps/varied/linktypes when
present) a seeded generator makes damaged copies, deterministically:
- truncations: an empty file, inside the file header, at a record boundary (a clean
  shorter file), inside a record header, inside a record's packet data, one byte short;
- byte flips (XOR with a random non-zero byte) in the file header, in record headers
  (pcapng: the fixed part of packet blocks) and in packet data.
Each copy is run through `wirescore run -r COPY -l DIR --no-detect`, and:
- the run ends with exit 0, or exit 1 with exactly one stderr line starting
  "wirescore: error:" that names the file, and no traceback;
- exit 1 exactly when libpcap itself cannot read the copy to its end (refused up front or
  a bad record part-way); exit 0 otherwise, with the faults counted in the last stats
  event (decoder.pkts = frames libpcap returned, decoder.invalid = the reference's errors);
- eve.json holds only whole JSON lines;
- every packet libpcap returns before the fault is in a flow: the packets and bytes per
  flow key in eve.json equal those of tests/flowref.py's accounting of exactly the frames
  libpcap returned (read here with pcapy, whose rules wirescore's reader follows).
  One exception: a pcapng that libpcap refuses because its interfaces differ in snap
  length or link type, which wirescore reads: there the reference reading is flowref's
  (libpcap's rules otherwise, each interface with its own snap length and link type).
For the truncated copies the reference itself is checked: libpcap returns exactly the
original's first k frames, k the records wholly before the cut, and stops with an error
unless the cut falls on a record boundary.

WIRESCORE_CORRUPT_FULL=1 runs more copies per capture (and the shared labeled captures).
"""
from __future__ import annotations

import ipaddress
import json
import os
import random
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import FIXTURES, SHARED_DATA, fixture_captures, shared_available
from flowref import SUPPORTED_LINKTYPES, Capture, account, flow_key, read_capture
from wirescore.core_names import PROTO_NUMBERS as CORE_PROTO_NUMBERS

FULL = os.environ.get("WIRESCORE_CORRUPT_FULL", "") not in ("", "0")
PARALLEL = 2
PROTO_NUMBERS = CORE_PROTO_NUMBERS   # EVE proto names (Suricata spellings: test_proto_names.py)


# ---- the layout of a capture: where headers and packet data are ---------------------------

@dataclass
class Layout:
    kind: str                      # "pcap" or "pcapng"
    header: tuple                  # (start, end) of the file header (pcapng: SHB + IDBs)
    records: list                  # [(start, data_start, end)] of each packet record
    size: int


def layout(data: bytes) -> Layout:
    """Record boundaries of a pcap or pcapng file, as far as they can be parsed."""
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        records, off, header_end = [], 0, None
        while off + 12 <= len(data):
            btype, blen = struct.unpack(order + "II", data[off:off + 8])
            if blen < 12 or off + blen > len(data):
                break
            if btype in (2, 3, 6):                      # PB, SPB, EPB
                fixed = {2: 28, 3: 12, 6: 28}[btype]
                records.append((off, off + fixed, off + blen))
                header_end = header_end or off
            off += blen
        return Layout("pcapng", (0, header_end or off), records, len(data))
    order = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    records, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack(order + "I", data[off + 8:off + 12])[0]
        if off + 16 + caplen > len(data):
            break
        records.append((off, off + 16, off + 16 + caplen))
        off += 16 + caplen
    return Layout("pcap", (0, 24), records, len(data))


# ---- the damaged copies ------------------------------------------------------------------

@dataclass
class Mutant:
    name: str                      # what was done, e.g. "cut@1234 (in packet data)"
    data: bytes
    cut_records: int | None = None  # truncations: records wholly before the cut
    cut_clean: bool | None = None   # truncations: the cut falls on a record boundary


def mutants(path: Path, full: bool) -> list[Mutant]:
    """Deterministic damaged copies of one capture (seeded by its name)."""
    data = path.read_bytes()
    lay = layout(data)
    rng = random.Random(zlib.crc32(path.name.encode()))
    recs = lay.records
    out: list[Mutant] = []

    def cut(at: int, where: str) -> None:
        whole = sum(1 for _s, _d, end in recs if end <= at)
        clean = at == lay.header[1] if whole == 0 else any(end == at for _s, _d, end in recs)
        out.append(Mutant(f"cut@{at} ({where})", data[:at], whole, clean))

    def flip(at: int, where: str) -> None:
        mask = rng.randrange(1, 256)
        out.append(Mutant(f"xor@{at}^0x{mask:02x} ({where})",
                          data[:at] + bytes([data[at] ^ mask]) + data[at + 1:]))

    picks = (lambda seq, k: [seq[rng.randrange(len(seq))] for _ in range(k)]) if recs else \
        (lambda seq, k: [])
    h0, h1 = lay.header
    n_mid = 3 if full else 1
    if full or path.parent == FIXTURES:
        cut(0, "empty file")
        cut(rng.randrange(max(1, h0 + 1), max(2, h1)), "in the file header")
    for s, d, e in picks(recs, n_mid):
        cut(s, "at a record boundary")
        cut(rng.randrange(s + 1, d), "in a record header")
        if e > d + 1:
            cut(rng.randrange(d + 1, e), "in packet data")
    if recs:
        cut(len(data) - 1, "one byte short")
    k_hdr, k_rec, k_data = (6, 8, 8) if full else (2, 2, 2)
    for _ in range(k_hdr):
        flip(rng.randrange(h0, h1), "in the file header")
    for s, d, _e in picks(recs, k_rec):
        flip(rng.randrange(s, d), "in a record header")
    for _s, d, e in picks([r for r in recs if r[2] > r[1]], k_data):
        flip(rng.randrange(d, e), "in packet data")
    return out


# ---- the reference: what libpcap returns, accounted by tests/flowref.py -----------------------

@dataclass
class Reading:
    opened: bool
    linktype: int | None
    frames: list
    times_us: list
    error: str | None
    linktypes: list = field(default_factory=list)   # per frame, when they may differ


MULTI_INTERFACE_REFUSALS = ("an interface has a snapshot length", "an interface has a type")


def libpcap_read(path: Path) -> Reading:
    """The frames libpcap returns, up to its first error (pcapy: the rules wirescore's
    reader follows); for a pcapng whose interfaces libpcap refuses, flowref's reading."""
    import pcapy

    try:
        reader = pcapy.open_offline(str(path))
    except pcapy.PcapError as exc:
        return Reading(False, None, [], [], str(exc))
    reading = _libpcap_frames(reader)
    if reading.error is not None and reading.error.startswith(MULTI_INTERFACE_REFUSALS):
        cap = read_capture(path)
        return Reading(cap.linktype >= 0, cap.linktype if cap.linktype >= 0 else None,
                       cap.frames, cap.times_us, cap.read_error, cap.linktypes)
    return reading


def _libpcap_frames(reader) -> Reading:
    import pcapy

    linktype = reader.datalink()
    frames, times = [], []
    while True:
        try:
            hdr, buf = reader.next()
        except pcapy.PcapError as exc:
            return Reading(True, linktype, frames, times, str(exc))
        if hdr is None:
            return Reading(True, linktype, frames, times, None)
        sec, usec = hdr.getts()
        frames.append(bytes(buf))
        times.append(sec * 1_000_000 + usec)


def reference(reading: Reading):
    """flowref's accounting of the frames libpcap returned. libpcap hands NFLOG TLVs over in
    host order whatever the file's byte order, hence '<'."""
    cap = Capture(reading.linktype, "<", list(reading.frames), list(reading.times_us),
                  [len(f) for f in reading.frames], reading.error,
                  linktypes=list(reading.linktypes))
    return account(cap)


# ---- running wirescore, two at a time --------------------------------------------------------

def run_all(jobs: list[tuple[Path, Path]]) -> list[subprocess.CompletedProcess]:
    """`wirescore run -r CAPTURE -l LOGDIR --no-detect` for each (capture, logdir),
    PARALLEL at a time; processes are started from this thread only."""
    results: list = [None] * len(jobs)
    running: list = []

    def reap(block: bool) -> None:
        for item in list(running):
            i, child, logdir, cmd = item
            if not block and child.poll() is None:
                continue
            try:
                child.wait(timeout=300)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            results[i] = subprocess.CompletedProcess(
                cmd, child.returncode, (logdir / "stdout.txt").read_text(errors="replace"),
                (logdir / "stderr.txt").read_text(errors="replace"))
            running.remove(item)
            if block:
                return

    for i, (capture, logdir) in enumerate(jobs):
        while len(running) >= PARALLEL:
            reap(block=False)
            if len(running) >= PARALLEL:
                reap(block=True)
        logdir.mkdir(parents=True)
        cmd = [sys.executable, "-m", "wirescore", "run", "-r", str(capture), "-l",
               str(logdir / "logs"), "--no-detect"]
        with open(logdir / "stdout.txt", "w") as out, open(logdir / "stderr.txt", "w") as err:
            child = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        running.append((i, child, logdir, cmd))
    while running:
        reap(block=True)
    return results


# ---- checking one run ---------------------------------------------------------------------

def eve_events(eve: Path) -> tuple[list[dict], list[str]]:
    if not eve.exists():
        return [], []
    raw = eve.read_text(errors="replace")
    problems = []
    if raw and not raw.endswith("\n"):
        problems.append(f"eve.json ends in a partial line: {raw[-120:]!r}")
    events = []
    for n, line in enumerate(raw.splitlines(), 1):
        try:
            events.append(json.loads(line))
        except ValueError:
            problems.append(f"eve.json line {n} is not whole JSON: {line[:120]!r}")
    return events, problems


def eve_totals(events: list[dict]) -> dict:
    totals: dict = {}
    for e in events:
        if e.get("event_type") != "flow":
            continue
        proto = PROTO_NUMBERS.get(e["proto"]) or int(e["proto"])
        key = flow_key(tuple(e.get("vlan", ())), proto, str(ipaddress.ip_address(e["src_ip"])),
                       e.get("src_port", 0), str(ipaddress.ip_address(e["dest_ip"])),
                       e.get("dest_port", 0))
        t = totals.setdefault(key, [0, 0])
        t[0] += e["flow"]["pkts_toserver"] + e["flow"]["pkts_toclient"]
        t[1] += e["flow"]["bytes_toserver"] + e["flow"]["bytes_toclient"]
    return totals


def exit_problems(proc, capture: Path, must_fail: bool) -> list[str]:
    problems = []
    if "Traceback" in proc.stderr:
        problems.append(f"traceback on stderr:\n{proc.stderr[-1500:]}")
    if proc.returncode not in (0, 1):
        problems.append(f"exit {proc.returncode} (only 0 or 1 allowed): {proc.stderr[-800:]}")
    if proc.returncode == 1:
        errors = proc.stderr.strip().splitlines()
        if len(errors) != 1 or not errors[0].startswith("wirescore: error:"):
            problems.append(f"exit 1 needs exactly one 'wirescore: error:' line, got "
                            f"{len(errors)}: {proc.stderr[-800:]!r}")
        elif capture.name not in errors[0]:
            problems.append(f"the error line does not name the file: {errors[0]!r}")
    if must_fail and proc.returncode != 1:
        problems.append(f"libpcap cannot read this copy to its end, yet exit "
                        f"{proc.returncode}: {proc.stderr[-400:]!r}")
    if not must_fail and proc.returncode != 0:
        problems.append(f"libpcap reads this copy to its end, yet exit {proc.returncode}: "
                        f"{proc.stderr[-400:]!r}")
    return problems


def check_run(capture: Path, eve: Path, proc, reading: Reading) -> list[str]:
    """Everything wrong with one run of wirescore on capture ([] when right); eve is its
    LOGDIR/eve.json, reading what libpcap returns from the capture."""
    events, problems = eve_events(eve)
    supported = reading.opened and reading.linktype in SUPPORTED_LINKTYPES
    problems += exit_problems(proc, capture, must_fail=not supported or reading.error is not None)
    got = eve_totals(events)
    if not supported:
        if got:
            problems.append(f"{len(got)} flow keys from a capture libpcap refuses or whose "
                            f"link type ({reading.linktype}) is unsupported")
        return problems
    ref = reference(reading)
    for key in sorted(set(ref.flows) | set(got), key=repr):
        if ref.flows.get(key) != got.get(key):
            problems.append(f"flow {key}: reference [pkts, bytes] {ref.flows.get(key)}, "
                            f"eve.json {got.get(key)}")
            if len(problems) > 8:
                problems.append("...")
                break
    stats = [e for e in events if e.get("event_type") == "stats"]
    if not stats:
        problems.append("no stats event")
    else:
        dec = stats[-1]["stats"].get("decoder", {})
        if (dec.get("pkts"), dec.get("invalid")) != (ref.frames, ref.error_count):
            problems.append(f"last stats decoder pkts/invalid {dec.get('pkts')}/"
                            f"{dec.get('invalid')}, libpcap returned {ref.frames} frames of "
                            f"which the reference counts {ref.error_count} errors")
    return problems


# ---- the tests ----------------------------------------------------------------------------

def captures() -> list:
    params = [pytest.param(p, id=f"fixtures/{p.name}") for p in fixture_captures()]
    if shared_available():
        root = SHARED_DATA / "pcaps"
        subdirs = ["varied/linktypes"] + (["labeled"] if FULL else [])
        for sub in subdirs:
            for p in sorted((root / sub).rglob("*")):
                if p.is_file() and p.suffix in (".pcap", ".pcapng") and \
                        p.stat().st_size <= (20 << 20):
                    params.append(pytest.param(p, id=f"shared/{p.relative_to(root)}",
                                               marks=pytest.mark.shared))
    return params


CAPTURES = captures()


def test_shared_captures_are_damaged_too():
    """Say so when the shared collection is absent (the fixtures still run)."""
    if not shared_available():
        pytest.skip(f"shared captures not found at {SHARED_DATA}: only the fixtures were damaged")
    assert any("shared/" in p.id for p in CAPTURES)


@pytest.mark.parametrize("capture", CAPTURES)
def test_damaged_copies(capture: Path, tmp_path):
    original = libpcap_read(capture)
    copies = mutants(capture, FULL)
    assert copies, f"{capture.name}: no damaged copy made"
    jobs, readings = [], []
    for n, m in enumerate(copies):
        path = tmp_path / f"copy{n:03d}{capture.suffix}"
        path.write_bytes(m.data)
        jobs.append((path, tmp_path / f"run{n:03d}"))
        readings.append(libpcap_read(path))
    report = []
    for m, reading in zip(copies, readings):
        if m.cut_records is None or not original.opened:
            continue
        # the reference reader itself: a truncated copy yields the original's prefix
        k = min(m.cut_records, len(original.frames))
        if reading.opened and reading.frames != original.frames[:len(reading.frames)]:
            report.append(f"{m.name}: libpcap's frames are not a prefix of the original's")
        if reading.opened and len(original.frames) >= m.cut_records and \
                len(reading.frames) != k:
            report.append(f"{m.name}: libpcap returned {len(reading.frames)} frames, "
                          f"{k} records lie wholly before the cut")
        if m.cut_clean is not None and reading.opened and m.cut_records > 0 and \
                (reading.error is None) != m.cut_clean and original.error is None:
            report.append(f"{m.name}: libpcap error {reading.error!r} but clean cut "
                          f"{m.cut_clean}")
    for m, (path, logdir), proc, reading in zip(copies, jobs, run_all(jobs), readings):
        problems = check_run(path, logdir / "logs" / "eve.json", proc, reading)
        if problems:
            report.append(f"{m.name} -> {path}:\n      " + "\n      ".join(problems))
    assert not report, f"{capture.name}: {len(report)} damaged cop(ies) mishandled:\n  " + \
        "\n  ".join(report)


def test_generator_is_deterministic_and_covers_every_region():
    """Same copies on every run; each region is truncated and flipped at least once."""
    capture = FIXTURES / "zeek-wikipedia.pcap"
    a, b = mutants(capture, False), mutants(capture, False)
    assert [m.name for m in a] == [m.name for m in b] and [m.data for m in a] == [m.data for m in b]
    names = " ".join(m.name for m in a)
    for region in ("empty file", "cut@", "in the file header", "at a record boundary",
                   "in a record header", "in packet data", "one byte short", "xor@"):
        assert region in names, region
    original = capture.read_bytes()
    assert all(m.data != original for m in a)
