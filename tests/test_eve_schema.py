"""Every eve.json line wirescore writes is valid Suricata EVE.

Two layers:
- schema: each line validates against Suricata's own JSON schema (../shared/data/
  suricata-eve-schema.json, OISF/suricata etc/schema.json) with Draft202012Validator. The schema
  is not vendored; without ../shared this layer is skipped with a reason.
- structure: what the schema leaves open but readers of eve.json rely on (field presence and
  types per event type, timestamp format, ports only for port protocols, TCP flag fields that
  agree with each other, a final stats event). Runs on the shipped fixtures always, and on every
  shared capture when ../shared is present.

Gzip'd traces are decompressed and piped to `-r -`. Each capture runs once per module
(parallel subprocesses, cached). A capture the command rejects (exit 1, "wirescore: error: ...")
is skipped with that line as reason; what it wrote before a fault is still checked.
"""
from __future__ import annotations

import gzip
import ipaddress
import json
import os
import re
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import FIXTURES, SHARED_DATA, fixture_captures, shared_available, shared_captures
from wirescore.core_names import PROTO_NUMBERS as PROTO_NAMES
from wirescore.outputs.community_id import community_id

SCHEMA_PATH = SHARED_DATA / "suricata-eve-schema.json"

# Packets in each shipped fixture that libpcap/tshark can read (tests/data/SOURCES.md).
FIXTURE_PACKETS = {
    "nfstream-dns-fragmented.pcap": 66,
    "zeek-wikipedia.pcap": 136,
    "zeek-vlan-pcp-dei.pcapng": 9,
    "zeek-tls-irc-starttls-sll.pcap": 20,
    "ndpi-synscan.pcap": 2011,
    "sv-tls-der-incomplete-header-broken.pcap": 6,
}

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}[+-]\d{4}$")
CID_RE = re.compile(r"^1:[A-Za-z0-9+/]{27}=$")
# PROTO_NAMES: Suricata's proto names (their spelling is checked in test_proto_names.py)
PORT_PROTOS = {"TCP", "UDP", "SCTP"}
REASONS = {"timeout", "forced", "shutdown", "tcp_fin", "tcp_rst"}
TCP_BITS = {"fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "ack": 0x10, "urg": 0x20,
            "ecn": 0x40, "cwr": 0x80}


def _label(path: Path) -> str:
    for root in (FIXTURES, SHARED_DATA / "pcaps"):
        try:
            return f"{'fixture' if root == FIXTURES else 'shared'}:{path.relative_to(root)}"
        except ValueError:
            continue
    return str(path)


FIXTURE_CAPTURES = fixture_captures()
SHARED_CAPTURES = shared_captures()
if shared_available():   # gzip'd traces too, decompressed and piped to `-r -`
    SHARED_CAPTURES += sorted(p for p in (SHARED_DATA / "pcaps").rglob("*.gz")
                              if p.name.endswith((".pcap.gz", ".pcapng.gz")))
ALL_CAPTURES = FIXTURE_CAPTURES + SHARED_CAPTURES


@dataclass
class Run:
    pcap: Path
    returncode: int
    stderr: str
    raw: str | None          # eve.json text, None when the file was not written

    @property
    def clean_rejection(self) -> str | None:
        """The error line when the command refused the input (exit 1, an error line last).

        How many stderr lines there may be is test_robustness.py's business; here it only
        decides between "skip the capture" and "fail".
        """
        lines = self.stderr.strip().splitlines()
        if self.returncode == 1 and lines and lines[-1].startswith("wirescore: error:"):
            return lines[-1]
        return None


def _run_one(pcap: Path, logroot: Path) -> Run:
    logdir = logroot / re.sub(r"[^A-Za-z0-9_.-]", "_", _label(pcap))
    source, data = str(pcap), None
    if pcap.suffix == ".gz":           # the command refuses gzip; pipe it in as its message says
        source, data = "-", gzip.decompress(pcap.read_bytes())
    proc = subprocess.run([sys.executable, "-m", "wirescore", "run", "-r", source, "-l", str(logdir),
                           "--no-detect"], input=data, capture_output=True, timeout=600)
    eve = logdir / "eve.json"
    return Run(pcap, proc.returncode, proc.stderr.decode(errors="replace"),
               eve.read_text() if eve.exists() else None)


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    """runs(pcap) -> Run. All captures selected in this module start at once, in parallel."""
    wanted = []
    for item in request.session.items:
        cs = getattr(item, "callspec", None)
        if item.module is request.module and cs and "pcap" in cs.params:
            wanted.append(cs.params["pcap"])
    logroot = tmp_path_factory.mktemp("eve")
    pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    futures = {p: pool.submit(_run_one, p, logroot) for p in dict.fromkeys(wanted)}

    def get(pcap: Path) -> Run:
        if pcap not in futures:
            futures[pcap] = pool.submit(_run_one, pcap, logroot)
        return futures[pcap].result()

    yield get
    pool.shutdown(wait=False, cancel_futures=True)


@pytest.fixture(scope="module")
def validator():
    if not SCHEMA_PATH.is_file():
        pytest.skip(f"Suricata EVE schema not found at {SCHEMA_PATH} (it is not vendored; "
                    "set WIRESCORE_SHARED); the structural checks still run")
    from jsonschema import Draft202012Validator
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _events(run: Run) -> list[dict]:
    assert run.raw is not None, f"{_label(run.pcap)}: no eve.json written (exit {run.returncode})"
    assert run.raw == "" or run.raw.endswith("\n"), f"{_label(run.pcap)}: last eve.json line is partial"
    out = []
    for n, line in enumerate(run.raw.splitlines(), 1):
        try:
            ev = json.loads(line)
        except ValueError as exc:
            pytest.fail(f"{_label(run.pcap)}: eve.json line {n} is not JSON ({exc}): {line[:200]!r}")
        assert isinstance(ev, dict), f"{_label(run.pcap)}: line {n} is not an object"
        out.append(ev)
    return out


def _accepted(run: Run) -> list[dict]:
    """Events of a run the command accepted; skip (with its message) a clean rejection."""
    assert "Traceback" not in run.stderr, f"{_label(run.pcap)}: traceback on stderr:\n{run.stderr[-3000:]}"
    if run.returncode != 0:
        if run.clean_rejection:
            if run.raw:
                return _events(run)   # flows decided before a fault are still checked
            pytest.skip(f"rejected cleanly: {run.clean_rejection}")
        pytest.fail(f"{_label(run.pcap)}: exit {run.returncode} without a 'wirescore: error:' line:\n"
                    f"{run.stderr[-3000:]}")
    return _events(run)


def _ids(paths):
    return [_label(p) for p in paths]


# ---- schema layer ------------------------------------------------------------------------------

@pytest.mark.parametrize("pcap", ALL_CAPTURES, ids=_ids(ALL_CAPTURES))
def test_eve_lines_validate_against_suricata_schema(pcap, runs, validator):
    events = _accepted(runs(pcap))
    problems = []
    for n, ev in enumerate(events, 1):
        for err in validator.iter_errors(ev):
            where = "/".join(map(str, err.absolute_path)) or "(top)"
            problems.append(f"line {n} ({ev.get('event_type')}): {where}: {err.message[:200]}")
            if len(problems) >= 10:
                break
        if len(problems) >= 10:
            break
    assert not problems, f"{_label(pcap)}: schema errors:\n" + "\n".join(problems)


# ---- structural layer --------------------------------------------------------------------------

def _ts(value, what):
    assert isinstance(value, str) and TS_RE.match(value), f"{what}: bad timestamp {value!r}"


def _seconds(value: str) -> int:
    from datetime import datetime
    return int(datetime.strptime(value[:19] + value[-5:], "%Y-%m-%dT%H:%M:%S%z").timestamp())


def check_flow_event(ev: dict, what: str) -> None:
    _ts(ev["timestamp"], what)
    assert isinstance(ev.get("flow_id"), int) and 0 < ev["flow_id"] < 2 ** 63, f"{what}: flow_id {ev.get('flow_id')!r}"
    src = ipaddress.ip_address(ev["src_ip"])
    dst = ipaddress.ip_address(ev["dest_ip"])
    assert src.version == dst.version, f"{what}: mixed address families"
    proto = ev["proto"]
    assert isinstance(proto, str), f"{what}: proto must be a string"
    if proto not in PROTO_NAMES:
        # Suricata names 0..143 ("Any" five of them), and writes the number above
        assert proto == "Any" or proto.isdigit() and 143 < int(proto) <= 255, \
            f"{what}: proto {proto!r} is neither a known name nor a decimal protocol number"
    if proto in PORT_PROTOS:
        for k in ("src_port", "dest_port"):
            assert isinstance(ev.get(k), int) and 0 <= ev[k] <= 65535, f"{what}: {k} {ev.get(k)!r}"
    else:
        assert "src_port" not in ev and "dest_port" not in ev, f"{what}: ports on a {proto} flow"
    if proto in ("ICMP", "IPv6-ICMP"):
        for k in ("icmp_type", "icmp_code"):
            assert isinstance(ev.get(k), int) and 0 <= ev[k] <= 255, f"{what}: {k} {ev.get(k)!r}"
        assert ("response_icmp_type" in ev) == ("response_icmp_code" in ev), what
    else:
        assert not any(k in ev for k in ("icmp_type", "icmp_code", "response_icmp_type")), \
            f"{what}: ICMP fields on a {proto} flow"
    if "vlan" in ev:
        v = ev["vlan"]
        assert isinstance(v, list) and 1 <= len(v) <= 2 and all(isinstance(i, int) and 0 <= i <= 4095 for i in v), \
            f"{what}: vlan {v!r}"
    assert isinstance(ev.get("community_id"), str) and CID_RE.match(ev["community_id"]), \
        f"{what}: community_id {ev.get('community_id')!r}"
    # the Community ID of the tuple this very event shows (seed 0; spec-checked in
    # test_community_id.py): catches swapped endpoints, ports or ICMP type/code in the plumbing
    pnum = PROTO_NAMES.get(proto) or (int(proto) if proto.isdigit() else None)
    if proto in PORT_PROTOS:
        sp, dp = ev["src_port"], ev["dest_port"]
    elif "icmp_type" in ev:
        sp, dp = ev["icmp_type"], ev["icmp_code"]
    else:
        sp = dp = None
    # ("Any" names five protocols: its line's tuple has no one number to check)
    assert pnum is None or ev["community_id"] == community_id(
        pnum, src.packed, dst.packed, sp, dp), \
        f"{what}: community_id {ev['community_id']} is not that of the event's own tuple"
    fl = ev["flow"]
    for k in ("pkts_toserver", "pkts_toclient", "bytes_toserver", "bytes_toclient", "age"):
        assert isinstance(fl.get(k), int) and not isinstance(fl.get(k), bool), f"{what}: flow.{k} {fl.get(k)!r}"
    assert fl["pkts_toserver"] >= 1, f"{what}: the first packet of a flow is toserver"
    assert fl["pkts_toclient"] >= 0
    # wire length of an IP packet is at least its 20-byte IPv4 (40-byte IPv6) header
    minlen = 20 if src.version == 4 else 40
    assert fl["bytes_toserver"] >= minlen * fl["pkts_toserver"], f"{what}: bytes_toserver too small: {fl}"
    assert fl["bytes_toclient"] >= minlen * fl["pkts_toclient"], f"{what}: bytes_toclient too small: {fl}"
    _ts(fl["start"], what)
    _ts(fl["end"], what)
    assert fl["age"] == _seconds(fl["end"]) - _seconds(fl["start"]), f"{what}: age {fl['age']} vs start/end {fl}"
    assert fl.get("reason") in REASONS, f"{what}: flow.reason {fl.get('reason')!r}"
    assert isinstance(fl.get("state"), str), f"{what}: flow.state"
    assert isinstance(fl.get("alerted"), bool), f"{what}: flow.alerted"
    if proto == "TCP":
        tcp = ev.get("tcp")
        assert isinstance(tcp, dict), f"{what}: TCP flow without tcp object"
        flags = {}
        for k in ("tcp_flags", "tcp_flags_ts", "tcp_flags_tc"):
            assert isinstance(tcp.get(k), str) and re.fullmatch(r"[0-9a-f]{2}", tcp[k]), f"{what}: tcp.{k} {tcp.get(k)!r}"
            flags[k] = int(tcp[k], 16)
        assert flags["tcp_flags"] == flags["tcp_flags_ts"] | flags["tcp_flags_tc"], f"{what}: tcp flags {tcp}"
        if fl["pkts_toclient"] == 0:
            assert flags["tcp_flags_tc"] == 0, f"{what}: toclient flags without toclient packets: {tcp}"
        for name, bit in TCP_BITS.items():
            assert bool(tcp.get(name, False)) == bool(flags["tcp_flags"] & bit), \
                f"{what}: tcp.{name} disagrees with tcp_flags {tcp['tcp_flags']}: {tcp}"
        if fl["reason"] == "tcp_fin":
            assert flags["tcp_flags"] & 0x01, f"{what}: reason tcp_fin without a FIN: {tcp}"
        if fl["reason"] == "tcp_rst":
            assert flags["tcp_flags"] & 0x04, f"{what}: reason tcp_rst without a RST: {tcp}"
    else:
        assert fl["reason"] not in ("tcp_fin", "tcp_rst"), f"{what}: TCP close reason on {proto}"
        assert "tcp" not in ev, f"{what}: tcp object on a {proto} flow"


def check_dns_event(ev: dict, what: str) -> None:
    """An app-layer dns event (Suricata 8, version 3): its tuple and Community ID, a
    request or response that agrees with its header flags, queries and answers typed."""
    _ts(ev["timestamp"], what)
    assert isinstance(ev.get("flow_id"), int) and 0 < ev["flow_id"] < 2 ** 63, what
    src, dst = ipaddress.ip_address(ev["src_ip"]), ipaddress.ip_address(ev["dest_ip"])
    assert ev["proto"] in ("UDP", "TCP"), f"{what}: dns over {ev['proto']}"
    assert ev["community_id"] == community_id(PROTO_NAMES[ev["proto"]], src.packed, dst.packed,
                                              ev["src_port"], ev["dest_port"]), what
    d = ev["dns"]
    assert d["version"] == 3 and d["type"] in ("request", "response"), f"{what}: {d}"
    flags = int(d["flags"], 16)
    assert (d["type"] == "response") == bool(flags & 0x8000) == bool(d.get("qr")), what
    assert d["opcode"] == (flags >> 11) & 15, what
    for q in d.get("queries", []):
        assert isinstance(q["rrname"], str) and isinstance(q["rrtype"], str), what
    for a in d.get("answers", []):
        assert isinstance(a["ttl"], int) and 0 <= a["ttl"] < 2 ** 32, what
        assert isinstance(a["rrname"], str) and isinstance(a["rrtype"], str), what


def check_stats_event(ev: dict, what: str) -> None:
    _ts(ev["timestamp"], what)
    st = ev.get("stats")
    assert isinstance(st, dict), f"{what}: stats event without stats object"
    dec = st.get("decoder")
    assert isinstance(dec, dict) and isinstance(dec.get("pkts"), int) and dec["pkts"] >= 0, \
        f"{what}: stats.decoder.pkts missing: {st}"

    def walk(obj, path):
        for k, v in obj.items():
            if isinstance(v, dict):
                walk(v, f"{path}.{k}")
            else:
                assert isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0, \
                    f"{what}: {path}.{k} = {v!r} is not a non-negative number"
    walk(st, "stats")


def check_structure(events: list[dict], label: str, complete: bool = True) -> dict | None:
    """Structural checks on one run; returns the last stats event.

    complete=False for a run that stopped on an input fault: a final stats event is then not
    required (the flows written before the fault are still checked).
    """
    assert events or not complete, f"{label}: eve.json is empty (expected at least a stats event)"
    flows = [e for e in events if e.get("event_type") == "flow"]
    stats = [e for e in events if e.get("event_type") == "stats"]
    for n, ev in enumerate(events, 1):
        assert isinstance(ev.get("event_type"), str), f"{label} line {n}: event_type"
        if ev["event_type"] == "flow":
            check_flow_event(ev, f"{label} line {n}")
        elif ev["event_type"] == "stats":
            check_stats_event(ev, f"{label} line {n}")
        elif ev["event_type"] == "dns":
            check_dns_event(ev, f"{label} line {n}")
        else:
            _ts(ev.get("timestamp"), f"{label} line {n}")
    # an app-layer event belongs to a flow, whose event names its protocol
    by_id = {f["flow_id"]: f for f in flows}
    for ev in events:
        if ev.get("event_type") == "dns" and complete:
            assert by_id[ev["flow_id"]].get("app_proto") == "dns", \
                f"{label}: dns event of flow {ev['flow_id']} without its app_proto"
    dup = [i for i, n in Counter(f["flow_id"] for f in flows).items() if n > 1]
    assert not dup, f"{label}: flow_id used by more than one flow event: {sorted(dup)[:5]}"
    if not stats:
        assert not complete, f"{label}: no stats event"
        return None
    last = stats[-1]
    total = sum(f["flow"]["pkts_toserver"] + f["flow"]["pkts_toclient"] for f in flows)
    assert total <= last["stats"]["decoder"]["pkts"], \
        f"{label}: flows hold {total} packets but stats.decoder.pkts is {last['stats']['decoder']['pkts']}"
    return last


@pytest.mark.parametrize("pcap", FIXTURE_CAPTURES, ids=_ids(FIXTURE_CAPTURES))
def test_fixture_structure(pcap, runs):
    run = runs(pcap)
    events = _accepted(run)
    last = check_structure(events, _label(pcap), complete=run.returncode == 0)
    expected = FIXTURE_PACKETS[pcap.name]
    if last is not None:
        assert last["stats"]["decoder"]["pkts"] == expected, \
            f"{pcap.name}: stats.decoder.pkts {last['stats']['decoder']['pkts']}, expected {expected} readable packets"
    assert any(e.get("event_type") == "flow" for e in events), f"{pcap.name}: no flow events"


def test_fixture_list_matches_sources():
    names = {p.name for p in FIXTURE_CAPTURES}
    assert names == set(FIXTURE_PACKETS), "tests/data/pcaps and FIXTURE_PACKETS disagree"
    sources = (FIXTURES.parent / "SOURCES.md").read_text()
    for n in names:
        assert f"`{n}`" in sources, f"{n} is not described in tests/data/SOURCES.md"


@pytest.mark.skipif(not shared_available(), reason=f"shared captures not found at {SHARED_DATA}")
@pytest.mark.parametrize("pcap", SHARED_CAPTURES, ids=_ids(SHARED_CAPTURES))
def test_shared_structure(pcap, runs):
    run = runs(pcap)
    check_structure(_accepted(run), _label(pcap), complete=run.returncode == 0)


def test_dns_events_are_written_and_checked(runs):
    """zeek-wikipedia: 28 DNS messages over UDP (tshark counts the same) give 28 dns
    events, each checked above; the structural checker refuses a broken one."""
    events = _accepted(runs(FIXTURES / "zeek-wikipedia.pcap"))
    dns = [e for e in events if e.get("event_type") == "dns"]
    assert len(dns) == 28
    check_dns_event(dns[1], "unmutated")
    for broken in ({"type": "request"}, {"version": 2}, {"flags": "0"}):
        ev = json.loads(json.dumps(dns[1]))
        ev["dns"].update(broken)
        with pytest.raises(AssertionError):
            check_dns_event(ev, f"mutated {broken}")


def test_vlan_ids_in_flow_key(runs):
    """zeek-vlan-pcp-dei: one handshake sent QinQ [10, 20], VLAN [20] and untagged = 3 flows."""
    events = _accepted(runs(FIXTURES / "zeek-vlan-pcp-dei.pcapng"))
    flows = [e for e in events if e.get("event_type") == "flow"]
    seen = sorted((tuple(f.get("vlan", ())), f["flow"]["pkts_toserver"], f["flow"]["pkts_toclient"])
                  for f in flows)
    assert seen == [((), 2, 1), ((10, 20), 2, 1), ((20,), 2, 1)], seen
    for f in flows:
        assert (f["src_ip"], f["src_port"], f["dest_ip"], f["dest_port"]) == \
            ("192.168.1.100", 12345, "192.168.1.200", 80)


def test_structural_checker_rejects_broken_events(runs):
    """The checker itself can fail: mutated copies of a real flow event are refused."""
    events = _accepted(runs(FIXTURES / "zeek-tls-irc-starttls-sll.pcap"))
    good = next(e for e in events if e.get("event_type") == "flow" and e["proto"] == "TCP")
    check_flow_event(good, "unmutated")

    def mutated(fn):
        ev = json.loads(json.dumps(good))
        fn(ev)
        return ev

    breakages = {
        "millisecond timestamp": lambda e: e.update(timestamp=e["timestamp"][:23] + "+0000"),
        "string flow_id": lambda e: e.update(flow_id=str(e["flow_id"])),
        "ports swapped": lambda e: e.update(src_port=e["dest_port"], dest_port=e["src_port"]),
        "ICMP field on TCP": lambda e: e.update(icmp_type=8),
        "unknown reason": lambda e: e["flow"].update(reason="idle"),
        "age off by one": lambda e: e["flow"].update(age=e["flow"]["age"] + 1),
        "flag word and flag names disagree": lambda e: e["tcp"].update(tcp_flags="00"),
        "missing syn name": lambda e: e["tcp"].pop("syn"),
        "no toserver packets": lambda e: e["flow"].update(pkts_toserver=0),
        "vlan not a list": lambda e: e.update(vlan=10),
        "proto number for a named proto": lambda e: e.update(proto="6"),
    }
    for name, fn in breakages.items():
        with pytest.raises(AssertionError):
            check_flow_event(mutated(fn), name)
