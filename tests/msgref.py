"""tshark as the reference for the message parsers' tests (never imports wirescore).

tshark reads a capture (reassembling TCP) and gives, per frame, the raw bytes of the
application message and its dissection tree (PDML): the test hands the bytes to the
parser under test and compares its fields with the tree's.

    payloads(pcap, display_filter)  -> [(frame number, transport, bytes)]
    trees(pcap, display_filter, proto) -> {frame number: Node of that protocol}
    follow(pcap, stream)            -> (client "addr:port", client bytes, server bytes)

A Node is one PDML field: name (without the "proto." prefix), show (tshark's text),
children; find(path) / all(path) follow child names ("a/b/c", "*" any one level, "**"
any depth).
"""
from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Node:
    name: str
    show: str
    children: list["Node"] = field(default_factory=list)

    def all(self, path: str) -> list["Node"]:
        """The descendants along path ("a/b", "*" one level of any name, "**" any depth)."""
        level = [self]
        for part in path.split("/"):
            nxt: list[Node] = []
            for node in level:
                if part == "**":
                    nxt += list(node.walk())
                else:
                    nxt += [c for c in node.children if part in ("*", c.name)]
            level = nxt
        return level

    def find(self, path: str) -> "Node | None":
        found = self.all(path)
        return found[0] if found else None

    def value(self, path: str) -> str | None:
        node = self.find(path)
        return None if node is None else node.show

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


def _tshark(pcap: Path, display_filter: str, *args: str) -> bytes:
    cmd = ["tshark", "-r", str(pcap), "-Y", display_filter, *args]
    return subprocess.run(cmd, capture_output=True, check=True, timeout=300).stdout


def payloads(pcap: Path, display_filter: str) -> list[tuple[int, str, bytes]]:
    """(frame, "udp" | "tcp", message bytes) of the frames matching the filter: the UDP
    payload, or the TCP stream bytes the message came in (tshark's reassembled PDU when
    it took several segments, else the segment's payload)."""
    out = _tshark(pcap, display_filter, "-T", "fields", "-E", "occurrence=l",
                  "-e", "frame.number", "-e", "udp.payload", "-e", "tcp.reassembled.data",
                  "-e", "tcp.payload")
    rows = []
    for line in out.decode().splitlines():
        num, udp, reasm, tcp = (line.split("\t") + ["", "", ""])[:4]
        if udp:
            rows.append((int(num), "udp", bytes.fromhex(udp.replace(":", ""))))
        elif reasm or tcp:
            rows.append((int(num), "tcp", bytes.fromhex((reasm or tcp).replace(":", ""))))
    return rows


def _node(elem: ET.Element, prefix: str) -> list[Node]:
    """PDML fields below elem as Nodes; fields of other protocols are looked through."""
    nodes = []
    for c in elem:
        name = c.get("name", "")
        if c.tag == "field" and name.startswith(prefix):
            nodes.append(Node(name[len(prefix):], c.get("show", ""), _node(c, prefix)))
        elif c.tag in ("field", "proto"):
            nodes += _node(c, prefix)
    return nodes


def trees(pcap: Path, display_filter: str, proto: str) -> dict[int, list[Node]]:
    """{frame: [top Node of each `proto` layer in the frame]} (a frame may hold several
    messages of one protocol: each is one Node whose children are the message's fields)."""
    root = ET.fromstring(_tshark(pcap, display_filter, "-T", "pdml"))
    out: dict[int, list[Node]] = {}
    for packet in root.iter("packet"):
        num = int(next(f.get("show") for f in packet.iter("field")
                       if f.get("name") == "frame.number"))
        for p in packet.iter("proto"):
            if p.get("name") == proto:
                out.setdefault(num, []).append(Node(proto, "", _node(p, proto + ".")))
    return out


def follow(pcap: Path, stream: int) -> tuple[str, bytes, bytes]:
    """(client "addr:port", bytes it sent, bytes the server sent) of TCP stream `stream`,
    in stream order (tshark -z follow,tcp,raw: retransmissions dropped, segments ordered)."""
    out = subprocess.run(["tshark", "-r", str(pcap), "-q", "-z", f"follow,tcp,raw,{stream}"],
                         capture_output=True, check=True, text=True, timeout=300).stdout
    client, sides = "", {0: b"", 1: b""}
    for line in out.splitlines():
        if line.startswith("Node 0:"):
            client = line.split()[-1]
        elif re.fullmatch(r"\t?[0-9a-f]+", line):
            side = 1 if line.startswith("\t") else 0
            sides[side] += bytes.fromhex(line.strip())
    return client, sides[0], sides[1]
