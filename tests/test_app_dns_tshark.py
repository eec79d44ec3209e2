"""DNS parity with tshark, the independent reference, on every shared capture.

For each capture (../shared/data/pcaps and the tests' fixtures) tshark lists its DNS
messages (`tshark -r X -Y dns -T fields -e ...`: sender, receiver, ports, id, QR, the
first question's name and type, RCODE, answer count) and wirescore's engine hands over
its DNS event records (on_app). They are joined by (sender, its port, receiver, its port,
DNS id, QR) and compared field by field, in order. Every difference falls in one of the
explained classes below or the test fails naming the capture and the message:

- tunnel: tshark decodes DNS inside a tunnel (Teredo, VXLAN, GRE, GTP, 6in4: a frame
  with two IP layers); wirescore's decoder does not open tunnels, the outer flow is what
  it parses.
- port: tshark decodes DNS only on the ports its dissector is registered on; wirescore
  finds DNS by content (ext/app/dns.pxd dns_probe): messages on other ports are ours only.
  mDNS (5353), LLMNR (5355) and NBNS (137) are their own protocols to both.
- malformed: tshark flags the frame malformed (an expert error), or prints a name it
  could not read as "<Name too long>" (a pointer loop, over 255 bytes); wirescore counts such a message as a parse error and writes no event (or, cut
  by the snap length or a lost segment, an event flagged cut holding what was whole).
- fragment: a DNS message in fragmented IP datagrams; tshark reassembles them, wirescore
  parses the first fragment's bytes (cut) and does not reassemble.
- tcp-lost: DNS over TCP after bytes wirescore gave up for lost (a gap at a message
  boundary ends the direction, README: Application layer); tshark resynchronises on
  its own guesses.
- decode: a frame wirescore's decoder refuses (counted in decoder.event.*), so no flow
  of it exists: an IPv6 packet in a LINKTYPE_IPV4 capture.
- link: a capture of a link type wirescore does not read (802.11 radiotap): refused in
  one line, nothing parsed.
- probe: the first message of a direction that wirescore's probe refused (not DNS-like:
  several questions on a port other than 53, a zero type), where tshark decodes by port.
Names are compared as tshark prints them: wirescore's bytes with tshark's escapes, the
root as "<Root>".
"""
from __future__ import annotations

import re
import tempfile
from collections import Counter, defaultdict

import pytest

from conftest import SHARED_DATA, fixture_captures, shared_available, shared_captures
from tshark_join import compare_all, tshark_rows, unexplained_message
from wirescore.config import Config
from wirescore.engine import Engine
from wirescore.errors import WirescoreError
from wirescore.outputs.eve import ip_text

FIELDS = ("frame.number", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "udp.srcport",
          "udp.dstport", "tcp.srcport", "tcp.dstport", "dns.id", "dns.flags.response",
          "dns.qry.name", "dns.qry.type", "dns.flags.rcode", "dns.count.answers",
          "dns.count.queries", "dns.count.zones", "dns.count.prerequisites",
          "_ws.malformed", "ip.flags.mf", "ip.frag_offset", "_ws.expert.severity")
PI_ERROR = 0x00800000        # tshark's expert severity of a malformed field
NAME_REFUSED = "<Name too long>"     # tshark's text for a name it could not read
OTHER_PROTOCOLS = {5353, 5355, 137}


def tshark_messages(path) -> list[dict]:
    """tshark's DNS messages of a capture, one dict per message (a TCP frame may carry
    several), with the frame's facts the classes need."""
    msgs = []
    for row in tshark_rows(path, "dns", FIELDS):
        srcs, dsts = row["ip.src"] + row["ipv6.src"], row["ip.dst"] + row["ipv6.dst"]
        ports = (row["udp.srcport"] + row["tcp.srcport"], row["udp.dstport"] + row["tcp.dstport"])
        frame = dict(frame=row["frame.number"][0], tunnel=len(srcs) != 1 or len(ports[0]) != 1,
                     malformed=bool(row["_ws.malformed"])
                     or any(int(v) >= PI_ERROR for v in row["_ws.expert.severity"]),
                     name_refused=any(NAME_REFUSED in v for vs in row.values() for v in vs),
                     fragment=bool(row["ip.frag_offset"] and row["ip.frag_offset"] != ["0"])
                     or "1" in row["ip.flags.mf"] or "True" in row["ip.flags.mf"],
                     tcp=bool(row["tcp.srcport"]))
        if frame["tunnel"] or not ports[0]:
            msgs.append(dict(frame, key=None))
            continue
        n = len(row["dns.id"])
        # an UPDATE (opcode 5) names its sections zone, prerequisite, update, additional
        row["dns.count.queries"] = row["dns.count.queries"] or row["dns.count.zones"]
        row["dns.count.answers"] = row["dns.count.answers"] or row["dns.count.prerequisites"]
        one_q = len(row["dns.qry.name"]) == n and row["dns.count.queries"] == ["1"] * n

        def col(field, i, default=None):
            """A message's value of field (all of a frame's messages have it, or none:
            tshark writes RCODE for responses only, which one TCP frame never mixes
            with queries)."""
            vals = row[field]
            return vals[i] if len(vals) == n else default
        for i in range(n):
            msgs.append(dict(
                frame, key=(srcs[-1], int(ports[0][-1]), dsts[-1], int(ports[1][-1]),
                            int(row["dns.id"][i], 16),
                            row["dns.flags.response"][i] in ("1", "True")),
                value=(non_ascii(row["dns.qry.name"][i]) if one_q else None,
                       int(row["dns.qry.type"][i]) if one_q else None,
                       int(col("dns.flags.rcode", i, "0")),
                       int(col("dns.count.answers", i, "0"))),
                questions=int(col("dns.count.queries", i, "0"))))
    return msgs


def tshark_name(raw: bytes) -> str:
    """A name as tshark prints it: UTF-8, control bytes as \\ooo, the root as <Root>;
    then (both sides) every run of non-ASCII characters as one "?": tshark and Python
    replace bytes that are not UTF-8 by U+FFFD at slightly different boundaries."""
    if not raw:
        return "<Root>"
    text = "".join(f"\\{ord(c):03o}" if ord(c) < 0x20 or ord(c) == 0x7F else c
                   for c in raw.decode("utf-8", "replace"))
    return non_ascii(text)


def non_ascii(name: str) -> str:
    return re.sub(r"[^\x00-\x7f]+", "?", name)


def our_messages(path) -> tuple[list[dict], set, str | None]:
    """wirescore's DNS event records of a capture, as dicts keyed like tshark's; the
    (address, port) pairs of its flows; the error that refused the capture, if any."""
    got, flows = [], set()
    error = None

    def on_flow(records, events):
        for e in events:
            flows.add((e["src_ip"], e.get("src_port"), e["dest_ip"], e.get("dest_port")))
            flows.add((e["dest_ip"], e.get("dest_port"), e["src_ip"], e.get("src_port")))
    cfg = Config.load(overrides={"detect.enabled": False})
    with tempfile.TemporaryDirectory(prefix="ws-dns-parity-") as logs:
        try:
            Engine(cfg, log_dir=logs, on_flow=on_flow,
                   on_app=lambda kind, recs, evs: got.extend(recs) if kind == "dns" else None
                   ).run(str(path))
        except WirescoreError as exc:         # a refused capture: what was read counts
            error = str(exc)
    out = []
    for r in got:
        v = int(r["ip_version"])
        alen = 4 if v == 4 else 16
        flags = int(r["flags"])
        q = bool(r["status"] & 1)
        name = bytes(r["text"][:int(r["qname_len"])])
        out.append(dict(
            key=(ip_text(bytes(r["src_addr"][:alen]), v), int(r["src_port"]),
                 ip_text(bytes(r["dest_addr"][:alen]), v), int(r["dest_port"]),
                 int(r["id"]), bool(flags & 0x8000)),
            value=(tshark_name(name) if q else None, int(r["qtype"]) if q else None,
                   flags & 15, int(r["ancount"])),
            cut=bool(r["status"] & 8), truncated=bool(r["status"] & 2),
            tcp=int(r["proto"]) == 6, ports=(int(r["src_port"]), int(r["dest_port"]))))
    return out, flows, error


def compare(path) -> tuple[Counter, list[str]]:
    """(count of each class of difference and of equal messages, unexplained ones)."""
    theirs, (ours, flows, error) = tshark_messages(path), our_messages(path)
    classes: Counter = Counter()
    unexplained: list[str] = []
    if error and "unsupported link type" in error:
        return Counter(link=len(theirs)), []
    by_key = defaultdict(list)
    for m in ours:
        by_key[m["key"]].append(m)
    for t in theirs:
        if t["key"] is None:
            classes["tunnel"] += 1
            continue
        mine = by_key.get(t["key"])
        m = mine.pop(0) if mine else None
        verdict = (_explain_pair(t, m) if m else "decode" if t["key"][:4] not in flows
                   else _explain_missing(t))
        if verdict is None:
            unexplained.append(f"frame {t['frame']} {t['key']}: tshark {t['value']}, "
                               f"wirescore {m and m['value']}")
        else:
            classes[verdict] += 1
    for rest in by_key.values():
        for m in rest:
            verdict = _explain_extra(m)
            if verdict is None:
                unexplained.append(f"wirescore only: {m['key']} {m['value']}")
            else:
                classes[verdict] += 1
    return classes, unexplained


def _explain_pair(t: dict, m: dict) -> str | None:
    if t["value"] == m["value"]:
        return "equal"
    tv, mv = t["value"], m["value"]
    if t["malformed"] or t["fragment"] or m["cut"]:
        # what both read of a cut or malformed message: the header's fields agree
        if tv[2:] == mv[2:] and (mv[0] is None or tv[0] is None or tv[0] == mv[0]
                                 or m["truncated"]):
            return "malformed" if t["malformed"] else "fragment" if t["fragment"] else "cut"
    if tv[0] is None and t["questions"] != 1 and tv[2:] == mv[2:]:
        return "questions"                     # not one question: tshark's lists misalign
    return None


def _explain_missing(t: dict) -> str | None:
    if t["malformed"] or t["name_refused"]:
        return "malformed"
    if t["fragment"]:
        return "fragment"
    ports = t["key"][1], t["key"][3]
    if OTHER_PROTOCOLS & set(ports):
        return "port"
    if t["tcp"]:
        return "tcp-lost"
    if 53 not in ports:
        return "probe"
    return None


def _explain_extra(m: dict) -> str | None:
    if 53 not in m["ports"]:
        return "port"
    return None


CAPTURES = fixture_captures() + shared_captures()


@pytest.mark.skipif(not shared_available(), reason=f"shared captures not found at {SHARED_DATA}")
def test_dns_messages_equal_tshark_on_every_capture():
    total, problems = compare_all(compare, CAPTURES)
    print("DNS parity with tshark:", dict(total))
    assert total["equal"] > 2000, dict(total)
    assert not problems, unexplained_message(problems)
