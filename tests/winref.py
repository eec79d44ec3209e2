"""Messages of the Windows protocols cut out of real captures, and what tshark reads in
them: the reference side of tests/test_msg_*.py (never imports wirescore).

tshark does the reading: each TCP segment's payload (`tcp.payload`, the captured bytes)
and real length (`tcp.len`); here the segments of each direction are laid out by their
sequence numbers (retransmitted bytes kept once, bytes a snap length cut left as a hole),
and the stream is cut into units by the protocol's own framing: the NetBIOS session
header (4 bytes: type, 24-bit length) for SMB, frag_length for DCE-RPC. A unit is its
offset, real length and the bytes we have of it (up to the first hole), and the frame
that carried its last byte: where tshark shows the reassembled message.

tshark_layers() gives, per frame, tshark's decode (`-T json`) of the layers asked for,
as lists of flattened dicts {field: [values]}: one per PDU (a frame holding three SMB2
messages has three).
"""
from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

TSHARK = "tshark"


@dataclass
class Stream:
    """One direction of a TCP connection: bytes by stream offset (None: a hole)."""
    key: tuple                                  # (tcp.stream, src, sport)
    data: bytearray = field(default_factory=bytearray)
    have: bytearray = field(default_factory=bytearray)   # 1 where data is known
    frames: list = field(default_factory=list)           # (end offset, frame number)

    def put(self, offset: int, payload: bytes, length: int, frame: int) -> None:
        end = offset + length
        if end > len(self.data):
            grow = end - len(self.data)
            self.data += bytes(grow)
            self.have += bytes(grow)
        for k, b in enumerate(payload):
            if not self.have[offset + k]:
                self.data[offset + k] = b
                self.have[offset + k] = 1
        if not self.frames or end > self.frames[-1][0]:
            self.frames.append((end, frame))

    def frame_of(self, offset: int) -> int:
        """The first frame whose segment reached past stream offset `offset`."""
        for end, frame in self.frames:
            if end > offset:
                return frame
        raise ValueError(offset)

    def known(self, start: int, end: int) -> bytes:
        """The bytes of [start, end) up to the first hole."""
        out = bytearray()
        for k in range(start, min(end, len(self.data))):
            if not self.have[k]:
                break
            out.append(self.data[k])
        return bytes(out)


@dataclass
class Unit:
    stream: tuple
    offset: int
    length: int                                 # real length (header included)
    data: bytes                                 # the bytes we have (a prefix when cut)
    frame: int                                  # the frame carrying its last byte

    @property
    def whole(self) -> bool:
        return len(self.data) == self.length


def _run(args: list[str]) -> str:
    return subprocess.run([TSHARK, *args], check=True, capture_output=True,
                          text=True).stdout


@lru_cache(maxsize=64)
def streams(pcap: Path) -> dict:
    """{(tcp.stream, src, sport): Stream} of every TCP segment with payload."""
    rows = _run(["-r", str(pcap), "-Y", "tcp.len > 0", "-T", "fields", "-e", "frame.number",
                 "-e", "tcp.stream", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
                 "-e", "tcp.seq_raw", "-e", "tcp.len", "-e", "tcp.payload"])
    segments = defaultdict(list)
    for line in rows.splitlines():
        frame, stream, src4, src6, sport, seq, length, payload = line.split("\t")
        segments[(int(stream), src4 or src6, int(sport))].append(
            (int(seq), int(length), bytes.fromhex(payload.replace(":", "")), int(frame)))
    out: dict = {}
    for key, segs in segments.items():
        base = min(seq for seq, *_ in segs)     # the first byte seen (no wrap in these)
        st = out[key] = Stream(key)
        for seq, length, payload, frame in segs:
            st.put(seq - base, payload, length, frame)
    return out


def _split(st: Stream, header: int, length_of) -> list[Unit]:
    units, at = [], 0
    while at + header <= len(st.data):
        head = st.known(at, at + header)
        if len(head) < header:
            break                               # a hole in a header: no way to go on
        length = length_of(head)
        if length is None:
            break
        data = st.known(at, at + length)
        end = min(at + length, len(st.data))
        units.append(Unit(st.key, at, length, data, st.frame_of(end - 1)))
        at += length
    return units


def nbss_units(st: Stream) -> list[Unit]:
    """NetBIOS session units (the whole 4-byte header + payload)."""
    def length_of(head):
        return 4 + int.from_bytes(head[1:4], "big") if head[0] in (0, 0x81, 0x82, 0x83,
                                                                    0x84, 0x85) else None
    return _split(st, 4, length_of)


def dcerpc_units(st: Stream) -> list[Unit]:
    """Connection-oriented DCE-RPC PDUs (frag_length, in the PDU's byte order)."""
    def length_of(head):
        if head[0] != 5 or head[1] > 1:
            return None
        order = "little" if head[4] & 0x10 else "big"
        length = int.from_bytes(head[8:10], order)
        return length if length >= 16 else None
    return _split(st, 10, length_of)


def _pairs(pairs):
    """json object_pairs_hook: keep every value of a repeated key."""
    out: dict = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def flatten(node, out=None) -> dict:
    """{field: [values]} of every field below node (JSON from _pairs), in order."""
    out = {} if out is None else out
    if isinstance(node, dict):
        for key, values in node.items():
            for value in values:
                if isinstance(value, (dict, list)):
                    flatten(value, out)
                else:
                    out.setdefault(key, []).append(value)
    elif isinstance(node, list):
        for item in node:
            flatten(item, out)
    return out


@lru_cache(maxsize=64)
def tshark_layers(pcap: Path, layer: str, display_filter: str) -> dict:
    """{frame number: [flattened PDU dicts]} of tshark's `layer` in the frames matching
    display_filter."""
    text = _run(["-r", str(pcap), "-Y", display_filter, "-T", "json", "-J", f"frame {layer}"])
    out = defaultdict(list)
    for packet in json.loads(text, object_pairs_hook=_pairs) or []:
        layers = packet["_source"][0]["layers"][0]
        frame = int(layers["frame"][0]["frame.number"][0])
        for pdu in layers.get(layer, []):
            for item in (pdu if isinstance(pdu, list) else [pdu]):
                out[frame].append(flatten(item))
    return dict(out)


def one(fields: dict, name: str, default=None):
    """The single value of a flattened field (default when absent)."""
    values = fields.get(name)
    return values[0] if values else default
