"""Coverage-guided fuzz target for the capture reader and the BPF interpreter.

One input is either a capture to read or a BPF program to run (byte 0, bit 0):

    reader (bit0 = 0)
      byte 1    seed of the pieces the bytes arrive in (and whether a piece may be empty)
      byte 2    bits0-1: rows per batch (1, 2, 7, 4096); bit2: --bpf on, bits3-5: which
                expression (FILTERS)
      then      the capture's bytes (pcap or pcapng, as a file would hold them)
    program (bit0 = 1)
      byte 1    instructions: byte % 48 + 1
      then      8 bytes an instruction (code u16, jt, jf, k u32, little-endian), 4 bytes
                wire length, then the frame (the rest)

Checks, beyond "no memory error" (ASAN + UBSan when tests/fuzz/run.py built the core):
- reader: the bytes read whole and read in pieces give the same rows (time, bytes, link
  type) and the same end (clean, or the same fault after the same packet): a pipe reads as
  a file does. Every buffer handed to the parser holds exactly the bytes that arrived
  (carried over like wirescore.capture does), so a read past them is a heap overflow.
  Every parse() returns within its range: rows inside [base, pos), caplen <= 262144,
  "need" only for more bytes than there are. Without a filter the rows equal the
  independent reader of tests/flowref.py (bytes, link types; reading error or not), up
  to the first packet on an interface whose link type the decoder lacks (where the
  reader stops, F_LINKTYPE); with one, the rows are those of the unfiltered reading
  that the program accepts.
- program: bpf_run_unchecked() (any instructions) equals a Python interpreter written
  here from libpcap's bpf_filter.c; a program that bpf_valid() accepts gives the same
  through bpf_filter() and, without shifts (libpcap 1.9 shifts by 32 or more as C does)
  or scratch-word loads (libpcap leaves them uninitialised, the reader starts them at 0),
  through libpcap's own bpf_filter() (ctypes).
"""
from __future__ import annotations

import ctypes
import random
import struct
import sys
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(TESTS))

import numpy as np  # noqa: E402
from fuzz_core import FuzzFailure, check, entry  # noqa: E402  (loads the fuzz build first)
from fuzz_core import main as fuzz_core_main  # noqa: E402

import flowref  # noqa: E402
from wirescore._core import pcapfile as _pf  # noqa: E402
from wirescore._core.decode import is_supported_linktype  # noqa: E402

ROWS = (1, 2, 7, 4096)
FILTERS = ("tcp", "udp port 53", "not ip6", "vlan or arp", "tcp[13] & 2 != 0", "icmp or icmp6",
           "ip[6:2] & 0x3fff != 0", "net 10.0.0.0/8")
LINKTYPE_TO_DLT = {100: 11, 101: 12, 102: 15, 103: 16}
MAX_INSNS = 48


# ---- the reader ---------------------------------------------------------------------------

@lru_cache(maxsize=256)
def _program(expr: str, linktype: int, swapped: bool):
    """libpcap's program for a capture file (None when it does not compile)."""
    from wirescore.bpfcompile import compile_for_file

    try:
        return tuple(compile_for_file(expr, linktype, swapped))
    except ValueError:
        return None


def read(data: bytes, max_rows: int, pieces: list[int] | None, expr: str | None):
    """(rows [(sec, usec, frame, linktype)], end) reading data as FileSource does: in
    buffers holding exactly the bytes that arrived (pieces: their sizes; None: all at
    once), the batch so far and an incomplete record carried to the next buffer. end is
    ("end", records), ("fault", code, text, records) or ("nocompile", linktype)."""
    reader = _pf.PcapReader(filtering=expr is not None)
    sizes = iter(pieces or [])
    arrived = min(len(data), next(sizes, len(data)))
    first = 0                                   # stream offset of buf[0]
    buf = _exact(data[:arrived])
    start = pos = n = 0
    rows_out = []
    meta = np.empty((max_rows, 4), dtype=np.uint32)
    while True:
        final = arrived == len(data)
        stop, n2, pos2 = reader.parse(buf, pos, len(buf), final, meta, n, start)
        check(pos <= pos2 <= len(buf) and n <= n2 <= max_rows,
              f"parse() out of range: pos {pos}->{pos2} of {len(buf)}, rows {n}->{n2}")
        for sec, usec, off, caplen in meta[n:n2].tolist():
            check(caplen <= 262144 and start + off + caplen <= pos2,
                  f"row outside its records: offset {off} caplen {caplen} pos {pos2}")
            rows_out.append((sec, usec, buf[start + off:start + off + caplen].tobytes(),
                             reader.batch_linktype))
        pos, n = pos2, n2
        if stop in ("full", "linktype"):
            start, n = pos, 0
        elif stop == "program":
            check(expr is not None, "a program wanted without a filter")
            prog = _program(expr, reader.want_linktype, reader.want_swapped)
            if prog is None:
                return rows_out, ("nocompile", reader.want_linktype)
            reader.add_program(reader.want_linktype, reader.want_swapped, prog)
        elif stop == "need":
            check(not final and reader.need > len(buf) - pos,
                  f"need {reader.need} bytes with {len(buf) - pos} there (final {final})")
            arrived = min(len(data), arrived + next(sizes, len(data)))
            first += start
            buf = _exact(data[first:arrived])
            pos -= start
            start = 0
        elif stop == "end":
            check(final and pos == len(buf), "end before the end of the input")
            return rows_out, ("end", reader.records)
        elif stop == "fault":
            text = reader.fault_text()
            check(isinstance(text, str) and text and "no fault" not in text, "fault text")
            return rows_out, ("fault", reader.fault, text, reader.records)
        else:
            raise FuzzFailure(f"parse() stopped with {stop!r} outside the header")


def _exact(b: bytes) -> np.ndarray:
    """A writable copy of b in a buffer of exactly len(b) bytes (numpy's allocation), so
    that a read past it is a heap overflow under ASAN."""
    out = np.empty(len(b), dtype=np.uint8)
    out[:] = np.frombuffer(b, dtype=np.uint8)
    return out


def pieces_of(data: bytes, seed: int) -> list[int]:
    """Sizes of the pieces the bytes arrive in, from the seed (empty pieces when bit 7)."""
    rng = random.Random(seed * 1_000_003 + len(data))
    low = 0 if seed & 0x80 else 1
    out, total = [], 0
    while total < len(data):
        size = rng.choice((low, 1, 2, 3, 7, 16, 24, 29, 100, rng.randrange(low, 600)))
        out.append(size)
        total += size
    return out


def reference(data: bytes):
    """flowref's reading: (frames, DLT per frame, read error or None), or None when the
    input is not one flowref reads like wirescore (an unknown magic, a pcap version
    other than 2.0-2.4)."""
    if len(data) < 4:
        return None
    magic = struct.unpack(">I", data[:4])[0]
    if magic == flowref.PCAPNG_MAGIC:
        cap = flowref._read_pcapng(data)
        linktypes = [LINKTYPE_TO_DLT.get(lt, lt) for lt in cap.linktypes]
    elif magic in flowref.PCAP_MAGICS:
        if len(data) >= 8:
            order = flowref.PCAP_MAGICS[magic][0]
            major, minor = struct.unpack(order + "HH", data[4:8])
            if major != 2 or minor > 4:
                return None
        cap = flowref._read_pcap(data)
        if len(data) >= 24:
            order = flowref.PCAP_MAGICS[magic][0]
            raw = struct.unpack(order + "I", data[20:24])[0]
            if raw & 0x03FFFFFF != raw & 0xFFFF:       # flowref keeps 16 bits of it
                return None
            dlt = LINKTYPE_TO_DLT.get(raw & 0xFFFF, raw & 0xFFFF)
        else:
            dlt = -1
        linktypes = [dlt] * len(cap.frames)
    else:
        return None
    return cap.frames, linktypes, cap.read_error


def _compare_reference(data: bytes, rows, end) -> None:
    ref = reference(data)
    if ref is None:
        return
    frames, linktypes, error = ref
    n = len(rows)
    got_frames = [r[2] for r in rows]
    if end[0] == "fault" and end[1] == _pf.FAULT_LINKTYPE:
        check(n < len(frames) and not is_supported_linktype(linktypes[n]),
              f"stopped for a link type at packet {n}, flowref reads {len(frames)} frames")
        frames, linktypes, error = frames[:n], linktypes[:n], "stopped"
    swapped_nflog = data[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d") or (
        data[:4] == b"\x0a\x0d\x0d\x0a" and data[8:12] == b"\x1a\x2b\x3c\x4d")
    if not (swapped_nflog and 239 in linktypes):       # libpcap swaps those TLVs in place
        check(got_frames == frames, f"frames differ from flowref's: {n} against "
              f"{len(frames)}, first at {_first_difference(got_frames, frames)}")
    check([r[3] for r in rows] == linktypes, "link types differ from flowref's")
    check((end[0] == "end") == (error is None),
          f"reader {end}, flowref's error {error!r}")


def _first_difference(a: list, b: list) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def run_reader(data: bytes) -> dict:
    seed, opts, body = data[1], data[2], data[3:]
    max_rows = ROWS[opts & 3]
    expr = FILTERS[(opts >> 3) & 7] if opts & 4 else None
    whole = read(body, max_rows, None, None)
    rows, end = whole
    check(read(body, max_rows, pieces_of(body, seed), None) == whole,
          "the bytes read in pieces give other rows or another end than read whole")
    check(read(body, 4096, None, None) == whole or max_rows == 4096 or
          read(body, 4096, None, None)[0] == rows,
          "the batch size changed the rows")
    _compare_reference(body, rows, end)
    if expr is not None:
        got, got_end = read(body, max_rows, pieces_of(body, seed ^ 0x55), expr)
        _check_filtered(body, rows, end, got, got_end, expr)
    return {"rows": len(rows), "end": end[0]}


def _check_filtered(data: bytes, rows, end, got, got_end, expr: str) -> None:
    """The filtered rows are the unfiltered rows the program accepts (in a file of one
    byte order, so the program of each row is known), with the same end, or, after a
    packet of an unsupported link type, begin with them."""
    if got_end[0] == "nocompile":
        return
    # a packet of a link type the decoder lacks ends the unfiltered reading; a filter
    # that rejects it lets the filtered reading go on past it
    unsupported = end[0] == "fault" and end[1] == _pf.FAULT_LINKTYPE
    check(got_end[0] == end[0] or unsupported, f"filtered end {got_end}, unfiltered {end}")
    swapped = _swapped(data)
    if swapped is None:
        return
    want = []
    for sec, usec, frame, linktype in rows:
        prog = _program(expr, linktype, swapped)
        if prog is None:
            return                                      # the filtered read stopped there
        # the expressions use no BPF_LEN, so the wire length does not matter
        if _pf.bpf_filter(list(prog), frame, len(frame)):
            want.append((sec, usec, frame, linktype))
    check((got[:len(want)] if unsupported else got) == want,
          f"filtered rows: {len(got)}, the program accepts {len(want)}")


def _swapped(data: bytes):
    """Whether the whole file is in the other byte order than this host's (None: a pcapng
    with several sections, or not a capture)."""
    little = sys.byteorder == "little"
    if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\x34\xcd\xb2\xa1"):
        return not little
    if data[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d", b"\xa1\xb2\xcd\x34"):
        return little
    if data[:4] == b"\x0a\x0d\x0d\x0a" and data.count(b"\x0a\x0d\x0d\x0a") == 1:
        return (data[8:12] == b"\x4d\x3c\x2b\x1a") != little
    return None


# ---- BPF programs ---------------------------------------------------------------------------

def py_bpf(insns, p: bytes, wirelen: int) -> int:
    """libpcap's bpf_filter() (1.10) in Python, with the reader's checks for what libpcap
    leaves to bpf_validate(): an unknown instruction, a scratch index >= 16 or a jump past
    the end rejects (0)."""
    M = 0xFFFFFFFF
    A = X = 0
    mem = [0] * 16
    n, i = len(insns), 0
    buflen = len(p)

    def load(k, size):
        if k > buflen or size > buflen - k:
            return None
        return int.from_bytes(p[k:k + size], "big")

    while i < n:
        code, jt, jf, k = insns[i]
        i += 1
        cls, size = code & 7, {0: 4, 8: 2, 0x10: 1}.get(code & 0x18)
        if code in (0x20, 0x28, 0x30):
            v = load(k, size)
            if v is None:
                return 0
            A = v
        elif code in (0x40, 0x48, 0x50):
            if k > buflen or X > buflen - k:
                return 0
            v = load(X + k, size)
            if v is None:
                return 0
            A = v
        elif code == 0x80:
            A = wirelen
        elif code == 0x81:
            X = wirelen
        elif code == 0xB1:
            if k >= buflen:
                return 0
            X = (p[k] & 0xF) << 2
        elif code == 0x00:
            A = k
        elif code == 0x01:
            X = k
        elif code in (0x60, 0x61, 0x02, 0x03):
            if k >= 16:
                return 0
            if code == 0x60:
                A = mem[k]
            elif code == 0x61:
                X = mem[k]
            else:
                mem[k] = A if code == 0x02 else X
        elif code == 0x06:
            return k
        elif code == 0x16:
            return A
        elif code == 0x05:
            if k >= n - i:
                return 0
            i += k
        elif code < 0x100 and cls == 5 and code & 0xF0 in (0x10, 0x20, 0x30, 0x40):
            v = X if code & 8 else k
            op = code & 0xF0
            cond = (A == v if op == 0x10 else A > v if op == 0x20 else A >= v if op == 0x30
                    else (A & v) != 0)
            i += jt if cond else jf
        elif code == 0x84:
            A = (-A) & M
        elif code < 0x100 and cls == 4 and code & 0xF0 in (0x00, 0x10, 0x20, 0x30, 0x40,
                                                           0x50, 0x60, 0x70, 0x90, 0xA0):
            v = X if code & 8 else k
            op = code & 0xF0
            if op in (0x30, 0x90) and v == 0:
                return 0
            A = {0x00: A + v, 0x10: A - v, 0x20: A * v, 0x30: A // v if v else 0,
                 0x40: A | v, 0x50: A & v, 0x60: A << v if v < 32 else 0,
                 0x70: A >> v if v < 32 else 0, 0x90: A % v if v else 0, 0xA0: A ^ v}[op] & M
        elif code == 0x07:
            X = A
        elif code == 0x87:
            A = X
        else:
            return 0
    return 0


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]


@lru_cache(maxsize=1)
def _libpcap_bpf_filter():
    import pcapy

    fn = ctypes.CDLL(pcapy.__file__).bpf_filter
    fn.restype = ctypes.c_uint
    fn.argtypes = [ctypes.POINTER(_Insn), ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint]
    return fn


def libpcap_bpf(insns, p: bytes, wirelen: int) -> int:
    arr = (_Insn * len(insns))(*[_Insn(*i) for i in insns])
    return _libpcap_bpf_filter()(arr, p, wirelen, len(p))


def run_program(data: bytes) -> dict:
    n = data[1] % MAX_INSNS + 1
    raw = data[2:2 + 8 * n]
    insns = [struct.unpack_from("<HBBI", raw, 8 * j) for j in range(len(raw) // 8)]
    rest = data[2 + 8 * n:]
    wirelen = struct.unpack("<I", rest[:4])[0] if len(rest) >= 4 else len(rest)
    frame = _exact(rest[4:]).tobytes() if len(rest) >= 4 else b""
    if not insns:
        return {"insns": 0}
    got = _pf.bpf_run_unchecked(insns, _exact(frame), wirelen)
    check(got == py_bpf(insns, frame, wirelen),
          f"interpreter {got}, reference {py_bpf(insns, frame, wirelen)} on {insns}")
    if _pf.bpf_valid(insns):
        check(_pf.bpf_filter(insns, _exact(frame), wirelen) == got, "bpf_filter differs")
        # libpcap 1.9 shifts by 32 or more as C does, and leaves its scratch words
        # uninitialised (the reader's start at 0): no comparison for those programs
        if not any((c & 7 == 4 and c & 0xF0 in (0x60, 0x70)) or c in (0x60, 0x61)
                   for c, *_ in insns):
            want = libpcap_bpf(insns, frame, wirelen)
            check(got == want, f"interpreter {got}, libpcap {want} on {insns}")
    return {"insns": len(insns), "result": got}


def run_one(data: bytes) -> dict:
    """One input (module docstring)."""
    if len(data) < 3:
        return {}
    if data[0] & 1:
        return run_program(data)
    return run_reader(data)


# ---- seeds ---------------------------------------------------------------------------------

def seeds() -> dict[str, bytes]:
    """Starting inputs: the head of every shipped capture (as a file and as pcapng blocks
    of several kinds), crafted pcapng with clocks, sections and packet block kinds, and
    BPF programs libpcap compiles."""
    from wirescore.bpfcompile import compile_for_file

    out: dict[str, bytes] = {}
    fixtures = sorted((TESTS / "data" / "pcaps").iterdir())
    for k, path in enumerate(fixtures):
        head = path.read_bytes()[:3000]
        out[f"file-{path.stem}"] = bytes([0, k, 0x02]) + head
        out[f"file-{path.stem}-filtered"] = bytes([0, k + 7, 0x05 | (k % 8) << 3]) + head
    frame = bytes.fromhex("020000000002020000000001" "0800") + bytes.fromhex(
        "450000280001000040060000" "0a0000010a000002" "03e800500000000100000000500202000000"
        "0000")
    out["ng-clocks"] = bytes([0, 3, 0x01]) + _ng_crafted(frame)
    out["ng-swapped-sections"] = (bytes([0, 9, 0x00]) + _ng_crafted(frame, ">")
                                  + _ng_crafted(frame, "<"))
    for k, expr in enumerate(FILTERS):
        prog = compile_for_file(expr, 1)[:MAX_INSNS]
        body = b"".join(struct.pack("<HBBI", *i) for i in prog)
        out[f"bpf-{k}"] = bytes([1, len(prog) - 1]) + body + struct.pack("<I", 60) + frame
    return out


def _ng_crafted(frame: bytes, order: str = "<") -> bytes:
    """A pcapng: a section, an Ethernet interface at 2**-20 s ticks with an offset, an
    SLL interface at 10**-9 s, a name resolution block, then an enhanced, a simple and an
    obsolete packet block."""
    def block(btype, body):
        pad = -len(body) % 4
        return struct.pack(order + "II", btype, 12 + len(body) + pad) + body + b"\0" * pad + \
            struct.pack(order + "I", 12 + len(body) + pad)

    def opt(code, value):
        return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)

    shb = block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb1 = block(1, struct.pack(order + "HHI", 1, 0, 0) + opt(9, b"\x94") +
                 opt(14, struct.pack(order + "q", 1_600_000_000)) + opt(0, b""))
    idb2 = block(1, struct.pack(order + "HHI", 113, 0, 96) + opt(9, b"\x09") + opt(0, b""))
    nrb = block(4, struct.pack(order + "HH", 1, 9) + b"\x0a\0\0\x01host\0\0\0\0"
                + struct.pack(order + "HH", 0, 0))
    ts = 12_345_678_901
    epb = block(6, struct.pack(order + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame),
                               len(frame)) + frame)
    spb = block(3, struct.pack(order + "I", len(frame)) + frame)
    sll = b"\0\0\0\x01\0\x06" + b"\x02" * 8 + b"\x08\x00" + frame[14:]
    pb = block(2, struct.pack(order + "HHIIII", 1, 0, 0, 1_700_000_000, len(sll), len(sll)) + sll)
    return shb + idb1 + idb2 + nrb + epb + spb + pb


# ---- libFuzzer entry point ------------------------------------------------------------------

TestOneInput = entry(run_one)  # noqa: N816 (atheris' name)


if __name__ == "__main__":
    fuzz_core_main(sys.argv, TestOneInput)
