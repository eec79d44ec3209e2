"""Flow counts against two peers' published outputs for the same captures.

NFStream (peer-groundtruth/nfstream/*.nfstream.csv): made with NFStream's defaults, idle
timeout 120 s, active timeout 1800 s, no end on FIN/RST, tunnels decoded, non-IP ignored.
wirescore runs with every idle timeout at 120 s, --active-timeout 1800 and --no-tcp-close;
the sorted multiset of (packets, bytes) per flow must equal NFStream's.

Zeek (peer-groundtruth/zeek/*.conn.log, btest baselines): timeouts TCP 300 s, UDP/ICMP
60 s, and a TCP connection ends 5 s after its teardown. wirescore runs with those timeouts;
for every connection key (IP protocol, endpoint pair with ports for TCP/UDP only, no VLAN:
conn.log has none) the multiset of orig_pkts+resp_pkts per connection must equal the
multiset of packets per flow event.

Where a peer differs for a known reason, the reason is written below as a rule that
recognises it in the capture (tunnels, fragments, errors, byte accounting, link types), or
as a named per-capture entry, and each carries a check that could still fail, so an
explanation cannot hide an unrelated defect. Anything else fails. The match rates (exact /
explained / unexplained) are asserted in the *_match_rate tests and printed with -s.
"""
from __future__ import annotations

import csv
import ipaddress
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import SHARED_DATA, shared_available
from flowref import (DLT_EN10MB, SUPPORTED_LINKTYPES, L4Error, NotIP, Packet, decode_packets,
                     read_capture)
from test_flow_accounting import LINKTYPE_NAMES, PROTO_NUMBERS, PrefetchRuns

NFSTREAM_DIR = "peer-groundtruth/nfstream"
ZEEK_DIR = "peer-groundtruth/zeek"
IDLE_FLAGS = ["tcp-new", "tcp-established", "tcp-closed", "udp-new", "udp-established",
              "icmp-new", "icmp-established", "other-new", "other-established"]
NFSTREAM_ARGS = tuple(a for f in IDLE_FLAGS for a in (f"--flow-timeout-{f}", "120")) + (
    "--active-timeout", "1800", "--no-tcp-close")
ZEEK_TIMEOUTS = {"tcp-new": 300, "tcp-established": 300, "tcp-closed": 5, "udp-new": 60,
                 "udp-established": 60, "icmp-new": 60, "icmp-established": 60,
                 "other-new": 60, "other-established": 60}
ZEEK_ARGS = tuple(a for f, s in ZEEK_TIMEOUTS.items() for a in (f"--flow-timeout-{f}", str(s)))

# Tunnels NFStream decodes (nfstream/engine/engine_cc.c, packet_process): IP-in-IP always,
# and with decode_tunnels GTP-U (UDP 2152), CAPWAP data (UDP 5247) and TZSP (UDP 37008).
NFSTREAM_IP_TUNNELS = frozenset({4, 41})
NFSTREAM_UDP_TUNNELS = frozenset({2152, 5247, 37008})
# Tunnels Zeek decodes into inner connections: GRE, IP-in-IP, and UDP VXLAN 4789,
# Geneve 6081, Teredo 3544, GTP-U 2152, AYIYA 5072, GRE-in-UDP 4754.
ZEEK_IP_TUNNELS = frozenset({4, 41, 47})
ZEEK_UDP_TUNNELS = frozenset({4789, 6081, 3544, 2152, 5072, 4754})
ETH_VNTAG = 0x8926                 # Cisco VN-tag: Zeek decodes it; the contract: non-IP

# Zeek baselines that differ for a reason no rule can see in the capture. Each entry is
# (reason, check): check((our conns, our toserver), (zeek conns, inner keys, rows)) returns
# [] when the stated reason holds.
ZEEK_KNOWN = {
    "auth_change_session_keys.pcap": (
        "the baseline (btest scripts.base.frameworks.logging.field-name-map2) counts only the "
        "originator's packets: S0 with 5 orig_pkts and 0 resp_pkts, while the trace holds a "
        "full handshake (tshark: 5 packets from 192.168.1.2, 3 from 192.168.1.1)",
        lambda ours, zeek: _same_originator_packets(ours, zeek)),
    "tunnels__Teredo.pcap": (
        "Zeek splits connections the contract keeps whole: UDP DNS sessions end after "
        "dns_session_timeout (10 s) and a TCP connection ends 5 s after a one-sided FIN; "
        "per-key packet totals still agree",
        lambda ours, zeek: _same_totals(ours, zeek)),
}


# --------------------------------------------------------------------------------------
# Facts a rule needs, read from the capture with the reference decoder
# --------------------------------------------------------------------------------------

@dataclass
class CaptureFacts:
    """What the explanations look for in a capture (reference decode of every frame)."""
    linktype: int
    packets: list = field(default_factory=list)         # decoded IP packets
    l4_errors: int = 0                                  # contract errors in TCP/UDP/ICMP
    later_fragments: int = 0
    orig_len_delta: int = 0      # sum over IP packets of (orig_len mod 2^16 - wire length)
    unknown_ethertype_ip_like: int = 0   # non-IP frames whose next byte reads as IPv4/v6
    vntag_frames: int = 0

    def has_proto(self, protos) -> bool:
        return any(p.proto in protos for p in self.packets)

    def has_udp_port(self, ports) -> bool:
        return any(p.proto == 17 and (p.sport in ports or p.dport in ports)
                   for p in self.packets)


def capture_facts(path: Path) -> CaptureFacts:
    capture = read_capture(path)
    facts = CaptureFacts(capture.linktype)
    for index, outcome in decode_packets(capture):
        if isinstance(outcome, Packet):
            facts.packets.append(outcome)
            facts.orig_len_delta += (capture.orig_lens[index] & 0xFFFF) - outcome.wire_len
            if outcome.frag_offset:
                facts.later_fragments += 1
        elif isinstance(outcome, L4Error):
            facts.l4_errors += 1
        elif isinstance(outcome, NotIP) and outcome.ethertype is not None:
            _count_non_ip(facts, capture.linktype, outcome, capture.frames[index])
    return facts


def _count_non_ip(facts: CaptureFacts, linktype: int, outcome: NotIP, frame: bytes):
    """VN-tag frames (anywhere in the tag stack), and Ethernet frames whose unknown
    ethertype NFStream skips, reading the next bytes as IP when they start with 4 or 6."""
    if outcome.ethertype == ETH_VNTAG:
        facts.vntag_frames += 1
    if (linktype == DLT_EN10MB and outcome.ethertype >= 0x0600 and len(frame) >= 34
            and frame[14] >> 4 in (4, 6)):
        facts.unknown_ethertype_ip_like += 1


def unsupported_linktype(facts: CaptureFacts) -> str | None:
    if facts.linktype in SUPPORTED_LINKTYPES:
        return None
    name = LINKTYPE_NAMES.get(facts.linktype, "unnamed")
    return f"link type {facts.linktype} ({name}) is outside the contract"


# --------------------------------------------------------------------------------------
# Shared plumbing
# --------------------------------------------------------------------------------------

def peer_captures(folder: str, suffix: str) -> list[Path]:
    """Captures of a peer folder that have a ground-truth file named capture + suffix."""
    if not shared_available():
        return []
    root = SHARED_DATA / "pcaps" / folder
    return sorted(Path(str(gt)[:-len(suffix)]) for gt in root.glob(f"*{suffix}"))


def peer_params(folder: str, suffix: str) -> list:
    captures = peer_captures(folder, suffix)
    if not captures:
        return [pytest.param(None, id="shared-absent")]
    return [pytest.param(p, id=p.name, marks=pytest.mark.shared) for p in captures]


def flow_events(events: list[dict]) -> list[dict]:
    return [e for e in events if e.get("event_type") == "flow"]


def flow_packets(event: dict) -> int:
    return event["flow"]["pkts_toserver"] + event["flow"]["pkts_toclient"]


def flow_bytes(event: dict) -> int:
    return event["flow"]["bytes_toserver"] + event["flow"]["bytes_toclient"]


class Tally:
    """exact / explained / unexplained per capture, for the match-rate tests."""

    def __init__(self):
        self.outcomes = {}

    def record(self, name: str, outcome: str, detail: str = ""):
        self.outcomes[name] = (outcome, detail)

    def counts(self) -> Counter:
        return Counter(outcome for outcome, _ in self.outcomes.values())

    def summary(self, peer: str) -> str:
        counts = self.counts()
        compared = len(self.outcomes) - counts["skipped"]
        lines = [f"{peer}: {counts['exact']}/{compared} compared captures match exactly "
                 f"({100.0 * counts['exact'] / max(compared, 1):.1f}%), "
                 f"{counts['explained']} differ for a stated reason, "
                 f"{counts['unexplained']} unexplained; {counts['skipped']} not comparable"]
        lines += [f"  {outcome:11} {name}: {detail}" for name, (outcome, detail)
                  in sorted(self.outcomes.items()) if outcome != "exact"]
        return "\n".join(lines)


def need_peer(path):
    if path is None:
        pytest.skip(f"shared captures not found at {SHARED_DATA} (set WIRESCORE_SHARED)")


# --------------------------------------------------------------------------------------
# NFStream
# --------------------------------------------------------------------------------------

def nfstream_flows(csv_path: Path) -> list[tuple[int, int]]:
    """Sorted (bidirectional_packets, bidirectional_bytes) of NFStream's expected flows."""
    with csv_path.open(newline="") as handle:
        rows = csv.DictReader(handle)
        return sorted((int(r["bidirectional_packets"]), int(r["bidirectional_bytes"]))
                      for r in rows)


@dataclass
class NfCompare:
    ours: list            # sorted (packets, bytes) per wirescore flow
    theirs: list          # sorted (packets, bytes) per NFStream flow

    @property
    def our_packets(self) -> int:
        return sum(p for p, _ in self.ours)

    @property
    def their_packets(self) -> int:
        return sum(p for p, _ in self.theirs)

    @property
    def byte_gap(self) -> int:
        return sum(b for _, b in self.theirs) - sum(b for _, b in self.ours)


def nfstream_explanation(facts: CaptureFacts, cmp: NfCompare) -> tuple[str, list] | None:
    """(reason, problems) when a rule applies, else None; problems = its check's failures.

    Byte accounting explains a capture only if the packets per flow agree and the byte gap
    is exactly the gap between original lengths and the contract's wire lengths. The
    packet-count rules add up: NFStream's total must equal ours plus the stated deltas
    (at most that when a tunnel rule applies: its inner split and drops are not modelled)."""
    packets_equal = sorted(p for p, _ in cmp.ours) == sorted(p for p, _ in cmp.theirs)
    if packets_equal and cmp.byte_gap == facts.orig_len_delta:
        return ("same packets per flow; NFStream counts the pcap record's original length "
                "(mod 2^16), the contract max(caplen, link + IP length): the byte gap "
                f"{cmp.byte_gap} is exactly the original-length gap", [])
    rules, delta, tunnel = [], 0, False
    if facts.has_proto(NFSTREAM_IP_TUNNELS):
        tunnel = True
        rules.append("NFStream decodes IP-in-IP (protocols 4/41) into inner flows; the "
                     "contract keeps the outer flow")
    if facts.has_udp_port(NFSTREAM_UDP_TUNNELS):
        tunnel = True
        rules.append("NFStream decodes GTP-U/CAPWAP/TZSP (UDP 2152/5247/37008) into inner "
                     "flows; the contract keeps the outer UDP flow")
    if facts.later_fragments:
        delta -= facts.later_fragments
        rules.append(f"NFStream drops the {facts.later_fragments} later fragments (IPv4 and "
                     "IPv6); the contract joins them to their first fragment's flow")
    if facts.l4_errors:
        delta += facts.l4_errors
        rules.append(f"NFStream counts the {facts.l4_errors} packets whose TCP/UDP/ICMP "
                     "header the contract counts as an error")
    if facts.unknown_ethertype_ip_like:
        delta += facts.unknown_ethertype_ip_like
        rules.append(f"NFStream reads the {facts.unknown_ethertype_ip_like} frames of an "
                     "unknown ethertype (e.g. FabricPath 0x8903) as IP; the contract: non-IP")
    if not rules:
        return None
    want = cmp.our_packets + delta
    if tunnel:
        check = [] if cmp.their_packets <= want else [
            f"NFStream has {cmp.their_packets} packets, more than our {want} after the "
            "stated deltas (decoding a tunnel adds no packets)"]
    else:
        check = [] if cmp.their_packets == want else [
            f"NFStream has {cmp.their_packets} packets, ours {cmp.our_packets} + {delta} "
            f"(stated deltas) = {want}"]
    return "; ".join(rules), check


@pytest.fixture(scope="module")
def nfstream_runs(tmp_path_factory):
    order = peer_captures(NFSTREAM_DIR, ".nfstream.csv")
    runs = PrefetchRuns(order, tmp_path_factory.mktemp("nfstream"), extra=NFSTREAM_ARGS,
                        wanted=lambda p: read_capture(p).linktype in SUPPORTED_LINKTYPES)
    yield runs
    runs.close()


@pytest.fixture(scope="module")
def nfstream_tally():
    return Tally()


def judge_nfstream(path: Path, runs: PrefetchRuns, tally: Tally) -> list[str]:
    """Compare one capture with NFStream; record the outcome; return unexplained problems."""
    facts = capture_facts(path)
    theirs = nfstream_flows(Path(f"{path}.nfstream.csv"))
    unsupported = unsupported_linktype(facts)
    if unsupported:
        events, proc = runs.get(path)
        problems = [f"{len(flow_events(events))} flow(s) from a link type outside the "
                    "contract"] if flow_events(events) else []
        problems += ["traceback on stderr"] if "Traceback" in proc.stderr else []
        tally.record(path.name, "skipped" if not problems else "unexplained",
                     f"{unsupported}; NFStream decodes it ({len(theirs)} flows)")
        return problems
    events, _ = runs.get(path)
    ours = sorted((flow_packets(e), flow_bytes(e)) for e in flow_events(events))
    cmp = NfCompare(ours, theirs)
    if ours == theirs:
        tally.record(path.name, "exact")
        return []
    explained = nfstream_explanation(facts, cmp)
    header = (f"ours {len(ours)} flows/{cmp.our_packets} pkts, NFStream {len(theirs)} "
              f"flows/{cmp.their_packets} pkts")
    if not explained:
        tally.record(path.name, "unexplained", header)
        return [f"{header}; no rule explains it:\n  ours   {ours[:20]}\n  theirs {theirs[:20]}"]
    reason, problems = explained
    tally.record(path.name, "unexplained" if problems else "explained", f"{header}: {reason}")
    return [f"{header}; explanation '{reason}' does not hold: {p}" for p in problems]


@pytest.mark.parametrize("path", peer_params(NFSTREAM_DIR, ".nfstream.csv"))
def test_nfstream_flows(path, nfstream_runs, nfstream_tally):
    """(packets, bytes) per flow = NFStream's, or a stated reason that holds."""
    need_peer(path)
    problems = judge_nfstream(path, nfstream_runs, nfstream_tally)
    assert not problems, f"{path.name}: " + "\n".join(problems)


def test_nfstream_match_rate(nfstream_runs, nfstream_tally):
    """Every NFStream capture judged; at least 90% match exactly; none unexplained."""
    captures = peer_captures(NFSTREAM_DIR, ".nfstream.csv")
    if not captures:
        pytest.skip(f"shared captures not found at {SHARED_DATA} (set WIRESCORE_SHARED)")
    for path in captures:
        if path.name not in nfstream_tally.outcomes:
            judge_nfstream(path, nfstream_runs, nfstream_tally)
    summary = nfstream_tally.summary("NFStream")
    print("\n" + summary)
    counts = nfstream_tally.counts()
    assert counts["unexplained"] == 0, summary
    assert counts["exact"] >= 0.9 * len(captures), summary


# --------------------------------------------------------------------------------------
# Zeek
# --------------------------------------------------------------------------------------

def zeek_rows(conn_log: Path) -> list[dict]:
    """Rows of a Zeek ASCII log as dicts ([] when it has no #fields header)."""
    fields, rows = None, []
    for line in conn_log.read_text(errors="replace").splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#") and fields:
            rows.append(dict(zip(fields, line.split("\t"))))
    return rows


def conn_key(proto: int, a: str, a_port: int, b: str, b_port: int):
    """Zeek-comparable key: no VLAN, ports for TCP/UDP only, addresses normalised."""
    a, b = str(ipaddress.ip_address(a)), str(ipaddress.ip_address(b))
    if proto not in (6, 17):
        a_port = b_port = 0
    return (proto, tuple(sorted(((a, int(a_port)), (b, int(b_port))))))


def zeek_conn_key(row: dict):
    orig = row.get("id.orig_h", row.get("src_ip"))
    resp = row.get("id.resp_h", row.get("dst_ip"))
    ports = (row.get("id.orig_p", row.get("src_port")), row.get("id.resp_p", row.get("dst_port")))
    proto = {"tcp": 6, "udp": 17}.get(row["proto"])
    if proto is None and row.get("ip_proto", "-") != "-":
        proto = int(row["ip_proto"])
    elif proto is None:
        proto = 58 if ":" in orig else 1
    return conn_key(proto, orig, ports[0], resp, ports[1])


def zeek_connections(rows: list[dict]):
    """(key -> [packets per connection], keys of rows with tunnel_parents)."""
    conns, inner = defaultdict(list), set()
    for row in rows:
        key = zeek_conn_key(row)
        if row.get("tunnel_parents", "-") not in ("-", "(empty)"):
            inner.add(key)
            continue
        conns[key].append(int(row["orig_pkts"]) + int(row["resp_pkts"]))
    return conns, inner


def our_connections(events: list[dict]):
    """key -> [packets per flow event], and key -> [pkts_toserver per flow event]."""
    conns, toserver = defaultdict(list), defaultdict(list)
    for event in flow_events(events):
        proto = PROTO_NUMBERS.get(event["proto"]) or int(event["proto"])
        key = conn_key(proto, event["src_ip"], event.get("src_port", 0),
                       event["dest_ip"], event.get("dest_port", 0))
        conns[key].append(flow_packets(event))
        toserver[key].append(event["flow"]["pkts_toserver"])
    return conns, toserver


def _same_totals(ours, zeek) -> list[str]:
    """Per key, the packets summed over connections agree (only the split differs)."""
    totals = {k: sum(v) for k, v in ours[0].items()}
    ztotals = {k: sum(v) for k, v in zeek[0].items()}
    return [] if totals == ztotals else [f"per-key totals differ: ours {totals}, Zeek {ztotals}"]


def _same_originator_packets(ours, zeek) -> list[str]:
    """Zeek's orig_pkts are our toserver packets and its resp_pkts are all 0."""
    got = sorted((zeek_conn_key(r), int(r["orig_pkts"]), int(r["resp_pkts"])) for r in zeek[2])
    want = sorted((k, sum(v), 0) for k, v in ours[1].items())
    return [] if got == want else [f"Zeek (key, orig, resp) {got} vs our toserver {want}"]


def differing_keys(conns, zconns) -> set:
    return {k for k in set(conns) | set(zconns)
            if sorted(conns.get(k, [])) != sorted(zconns.get(k, []))}


def zeek_rule_explains(facts: CaptureFacts, conns, zconns, keys) -> tuple[str, list] | None:
    """The tunnel / VN-tag rules: which differing keys they excuse, and what must hold."""
    reasons, problems = [], []
    tunnel = facts.has_proto(ZEEK_IP_TUNNELS) or facts.has_udp_port(ZEEK_UDP_TUNNELS)
    our_pairs = {tuple(a for a, _ in pair) for _, pair in conns}
    if tunnel:
        reasons.append("Zeek decodes the tunnel (GRE/IP-in-IP/VXLAN/Geneve/Teredo/GTP/AYIYA) "
                       "into inner connections and counts outer tunnel connections its own "
                       "way; the contract keeps the outer flow")
    if facts.vntag_frames:
        reasons.append(f"Zeek decodes the {facts.vntag_frames} VN-tag (0x8926) frames; the "
                       "contract counts them as non-IP")
    if not reasons:
        return None
    for key in sorted(keys, key=repr):
        proto, pair = key
        addresses = tuple(a for a, _ in pair)
        outer = proto in ZEEK_IP_TUNNELS or (proto == 17 and any(
            port in ZEEK_UDP_TUNNELS for _, port in pair))
        if tunnel and key in conns and outer:
            continue                                 # the outer tunnel flow
        if key not in conns and addresses not in our_pairs:
            continue                                 # a decoded inner connection
        problems.append(f"{key}: ours {sorted(conns.get(key, []))}, "
                        f"Zeek {sorted(zconns.get(key, []))} is not a tunnel/VN-tag effect")
    return "; ".join(reasons), problems


@pytest.fixture(scope="module")
def zeek_runs(tmp_path_factory):
    order = [p for p in peer_captures(ZEEK_DIR, ".conn.log") if zeek_covered(p) is None]
    runs = PrefetchRuns(order, tmp_path_factory.mktemp("zeek"), extra=ZEEK_ARGS)
    yield runs
    runs.close()


@pytest.fixture(scope="module")
def zeek_tally():
    return Tally()


def zeek_covered(path: Path) -> str | None:
    """Why a Zeek baseline cannot be compared, or None."""
    if path.name.endswith(".gz"):
        return "gzip'd trace: libpcap (so wirescore) reads no gzip"
    rows = zeek_rows(Path(f"{path}.conn.log"))
    if not rows or "orig_pkts" not in rows[0] or "resp_pkts" not in rows[0]:
        return "baseline keeps no orig_pkts/resp_pkts columns (zeek-cut output)"
    return unsupported_linktype(CaptureFacts(read_capture(path).linktype))


def judge_zeek(path: Path, runs: PrefetchRuns, tally: Tally) -> list[str]:
    """Compare one capture with Zeek's conn.log; record the outcome; return problems."""
    skip = zeek_covered(path)
    if skip:
        tally.record(path.name, "skipped", skip)
        return []
    rows = zeek_rows(Path(f"{path}.conn.log"))
    zconns, inner = zeek_connections(rows)
    events, _ = runs.get(path)
    conns, toserver = our_connections(events)
    keys = differing_keys(conns, zconns)
    if not keys and not inner:
        tally.record(path.name, "exact")
        return []
    if path.name in ZEEK_KNOWN:
        reason, check = ZEEK_KNOWN[path.name]
        problems = check((conns, toserver), (zconns, inner, rows))
    else:
        explained = zeek_rule_explains(capture_facts(path), conns, zconns, keys)
        if explained is None:
            lines = [f"{k}: ours {sorted(conns.get(k, []))}, Zeek {sorted(zconns.get(k, []))}"
                     for k in sorted(keys, key=repr)]
            tally.record(path.name, "unexplained", f"{len(keys)} keys differ")
            return ["no rule explains:"] + lines[:12]
        reason, problems = explained
    tally.record(path.name, "unexplained" if problems else "explained", reason)
    return [f"explanation '{reason}' does not hold: {p}" for p in problems]


@pytest.mark.parametrize("path", peer_params(ZEEK_DIR, ".conn.log"))
def test_zeek_connections(path, zeek_runs, zeek_tally):
    """Packets per connection per key = Zeek's conn.log, or a stated reason that holds."""
    need_peer(path)
    reason = zeek_covered(path)
    if reason:
        zeek_tally.record(path.name, "skipped", reason)
        pytest.skip(reason)
    problems = judge_zeek(path, zeek_runs, zeek_tally)
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def test_zeek_match_rate(zeek_runs, zeek_tally):
    """Every comparable Zeek baseline judged; at least 65% exact; none unexplained.

    (56 baselines are comparable; the 17 not exact are tunnels, VN-tag and two named ones.)"""
    captures = peer_captures(ZEEK_DIR, ".conn.log")
    if not captures:
        pytest.skip(f"shared captures not found at {SHARED_DATA} (set WIRESCORE_SHARED)")
    for path in captures:
        if path.name not in zeek_tally.outcomes:
            judge_zeek(path, zeek_runs, zeek_tally)
    summary = zeek_tally.summary("Zeek")
    print("\n" + summary)
    counts = zeek_tally.counts()
    compared = counts["exact"] + counts["explained"] + counts["unexplained"]
    assert counts["unexplained"] == 0, summary
    assert compared >= 50 and counts["exact"] >= 0.65 * compared, summary
