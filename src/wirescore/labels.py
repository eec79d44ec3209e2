"""Ground-truth labels for flows: the format of ../shared/data/eval (mix-public.labels.csv).

A labels file is CSV with a header; the columns used are

    proto       IP protocol number (6, 17, 1, 58, ...)
    endpoint_a  one endpoint as ip:port (IPv6 as [addr]:port); port 0 when port-less
    endpoint_b  the other endpoint (the order does not matter)
    first_ts    time of the flow's first packet, epoch seconds
    last_ts     time of its last packet, epoch seconds
    attack      the attack type (a name; rows with label 0, if a label column exists,
                are not attacks and are ignored)

Every other flow is benign (label 0). A flow takes the attack of the first labelled row
with the same canonical key whose time span overlaps the flow's, give or take
``slack`` seconds (1 s: flow tables cut flows differently). The key is (protocol, the
two endpoints in either order); for ICMP, ICMPv6 and other port-less protocols only the
two addresses count (their labels carry no community_id and port 0).
"""
from __future__ import annotations

import csv
import hashlib
import ipaddress
from collections import defaultdict
from pathlib import Path

import numpy as np

from wirescore.errors import WirescoreError

PORTED = (6, 17, 132)          # TCP, UDP, SCTP: the key includes the ports
REQUIRED = ("proto", "endpoint_a", "endpoint_b", "first_ts", "last_ts", "attack")


def _addr(text: str) -> str:
    try:
        return ipaddress.ip_address(text.strip("[]")).compressed
    except ValueError:
        return text


def _split(endpoint: str) -> tuple[str, int]:
    host, sep, port = endpoint.rpartition(":")
    if not sep:
        return _addr(endpoint), 0
    return _addr(host), int(port or 0)


def flow_key(proto: int, a: str, a_port: int, b: str, b_port: int) -> tuple:
    """The canonical key of a flow: (proto, frozenset of endpoints), ports only for
    TCP, UDP and SCTP."""
    if proto in PORTED:
        return proto, frozenset(((a, a_port), (b, b_port)))
    return proto, frozenset((a, b))


class Labels:
    """The attack flows of one labels file (see the module docstring).

    Attributes: path, rows (attack rows read), sha256 (of the file's bytes),
    matched_rows (indices of the rows the last attacks() call matched)."""

    def __init__(self, path: str | Path, slack: float = 1.0):
        self.path = Path(path)
        self.slack = float(slack)
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise WirescoreError(f"{self.path}: cannot read labels: {exc.strerror}") from None
        self.sha256 = hashlib.sha256(raw).hexdigest()
        try:
            lines = raw.decode("utf-8").splitlines()
        except UnicodeDecodeError:
            raise WirescoreError(f"{self.path}: labels are not UTF-8 text") from None
        reader = csv.DictReader(lines)
        header = reader.fieldnames or []
        lacking = [c for c in REQUIRED if c not in header]
        if lacking:
            raise WirescoreError(f"{self.path}: labels lack column(s) {', '.join(lacking)} "
                                 f"(needed: {', '.join(REQUIRED)}; format: "
                                 "mix-public.labels.csv)")
        self._by_key: dict[tuple, list] = defaultdict(list)
        self.rows = 0
        self.matched_rows: set[int] = set()     # rows some flow matched (after attacks())
        for n, row in enumerate(reader, start=2):
            if row.get("label", "1").strip() in ("0", "0.0"):
                continue
            try:
                proto = int(row["proto"])
                a, ap = _split(row["endpoint_a"])
                b, bp = _split(row["endpoint_b"])
                span = (float(row["first_ts"]), float(row["last_ts"]))
            except (TypeError, ValueError):
                raise WirescoreError(f"{self.path}:{n}: bad proto, endpoint or time "
                                     f"value") from None
            attack = (row["attack"] or "attack").strip()
            self._by_key[flow_key(proto, a, ap, b, bp)].append((*span, attack, self.rows))
            self.rows += 1

    def attacks(self, flows) -> list[str]:
        """The attack type of every flow of a FlowSet ('' = benign), in row order."""
        out = []
        self.matched_rows = set()
        cache: dict[str, str] = {}

        def addr(text):
            got = cache.get(text)
            if got is None:
                got = cache[text] = _addr(text)
            return got

        for i in range(len(flows)):
            key = flow_key(int(flows.proto[i]), addr(flows.src_ip[i]),
                           max(int(flows.src_port[i]), 0), addr(flows.dest_ip[i]),
                           max(int(flows.dest_port[i]), 0))
            found = ""
            for first, last, attack, row in self._by_key.get(key, ()):
                if flows.start[i] <= last + self.slack and flows.end[i] >= first - self.slack:
                    found = attack
                    self.matched_rows.add(row)
                    break
            out.append(found)
        return out

    def y(self, attacks: list[str]) -> np.ndarray:
        """0/1 labels (int8) from attack names."""
        return np.array([1 if a else 0 for a in attacks], dtype=np.int8)
