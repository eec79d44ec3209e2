"""Endpoint activity around each flow (the ctx.*_around columns, ext/context.pxd's
per-host bucket history) against an independent count made from the flow records.

Every flow is reported at shutdown here (timeouts of days, no TCP close), so the
history each query sees ends at the host's last flow start; the reference below
rebuilds the buckets from the records' start times and the documented rules (4 s
buckets, the last 32 kept, 10 s either side of the flow, counts saturating at 255 per
bucket, "new" = no flow between the same client and server (or to the same protocol
and port) started in the 600 s before; as every flow is reported at the end, no
report refreshes a pair in between).
"""
from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict

import numpy as np
import pytest

from conftest import fixture_captures, need_shared, shared_captures, shared_available
from conftest import SHARED_DATA
from flowref import Packet, decode_packets, read_capture
from test_core import _feed, _frame, meter_records
from wirescore._core.flowtable import COUNTER_NAMES, FlowMeter

BUCKET_US = 4_000_000
AROUND_US = 10_000_000
KNOWN_US = 600_000_000
BUCKETS = 32
FIELDS = ("ctx_src_flows_around", "ctx_src_new_dsts_around", "ctx_src_new_ports_around",
          "ctx_dst_flows_around", "ctx_dst_new_srcs_around")
FOREVER = dict(timeouts=(1e9,) * 9, active_timeout=1e9, tcp_close=False)   # ~30 years


def _new_at_start(records: np.ndarray):
    """The records in start order, with what was new about each by the documented rules:
    (index, client, server, start µs, new pair, new port, new service). "New" = no flow
    between the same client and server, from the client to the same protocol and port,
    or (service) to the same protocol and port of the server from any client, started in
    the 600 s before (TCP, UDP, SCTP for ports); as every flow is reported at the end, no
    report refreshes a pair in between."""
    pair_seen: dict = {}                          # (client, server) -> last start, µs
    port_seen: dict = {}                          # (client, proto, port) -> last start
    svc_seen: dict = {}                           # (server, proto, port) -> last start
    for i in np.argsort(records["start_us"], kind="stable").tolist():
        r = records[i]
        v = int(r["ip_version"])
        a, b = (v, bytes(r["src_addr"])), (v, bytes(r["dest_addr"]))
        t = int(r["start_us"])
        new_pair = t - pair_seen.get((a, b), -KNOWN_US - 1) > KNOWN_US
        pair_seen[a, b] = t
        proto = int(r["proto"])
        new_port = new_svc = False
        if proto in (6, 17, 132):
            port = int(r["dest_port"])
            new_port = t - port_seen.get((a, proto, port), -KNOWN_US - 1) > KNOWN_US
            port_seen[a, proto, port] = t
            new_svc = t - svc_seen.get((b, proto, port), -KNOWN_US - 1) > KNOWN_US
            svc_seen[b, proto, port] = t
        yield i, a, b, t, new_pair, new_port, new_svc


def _sum_around(records: np.ndarray, counts: dict, newest: dict, src_fields: tuple,
                dst_fields: tuple) -> np.ndarray:
    """(flows, fields) per record: counts[host, bucket, field] summed over the buckets that
    overlap 10 s before its start to 10 s after its end, as far as the host's history (the
    last BUCKETS up to its newest bucket written) holds them; column = field."""
    out = np.zeros((len(records), max(src_fields + dst_fields) + 1))
    for i, r in enumerate(records):
        v = int(r["ip_version"])
        lo = (int(r["start_us"]) - AROUND_US) // BUCKET_US
        hi = (int(r["end_us"]) + AROUND_US) // BUCKET_US
        for host, fields in (((v, bytes(r["src_addr"])), src_fields),
                             ((v, bytes(r["dest_addr"])), dst_fields)):
            last = newest[host]
            for f in fields:
                out[i, f] = sum(counts.get((host, x, f), 0)
                                for x in range(max(lo, last - BUCKETS + 1), min(hi, last) + 1))
    return out


def expected_around(records: np.ndarray) -> np.ndarray:
    """(flows, 5) counts the documented rules give, from the records alone."""
    events: Counter = Counter()                   # (host, bucket, field) -> count
    newest: dict = {}                             # host -> newest bucket written
    for _, a, b, t, new_pair, new_port, _ in _new_at_start(records):
        bucket = t // BUCKET_US
        for host, fields in ((a, (0, 1 if new_pair else None, 2 if new_port else None)),
                             (b, (3, 4 if new_pair else None))):
            for f in fields:
                if f is not None:
                    events[host, bucket, f] += 1
            newest[host] = max(newest.get(host, bucket), bucket)
    saturated = {k: min(255, n) for k, n in events.items()}
    return _sum_around(records, saturated, newest, (0, 1, 2), (3, 4))


CAPTURES = fixture_captures() + shared_captures("labeled/scans")
EVAL_MIX = SHARED_DATA / "eval" / "mix-public.pcap"     # 5,677 hosts over 20 minutes
MIX = [EVAL_MIX] if shared_available() and EVAL_MIX.is_file() else []


@pytest.mark.parametrize("pcap", CAPTURES + MIX, ids=[p.name for p in CAPTURES + MIX])
def test_around_counts_match_the_records(pcap):
    records, c = meter_records(pcap, **FOREVER)
    if len(records) == 0:
        pytest.skip("no IP flows")
    assert c["wirescore.ctx_hist_replaced"] == 0
    assert c["wirescore.ctx_pair_replaced"] == 0 and c["wirescore.ctx_port_replaced"] == 0
    got = np.column_stack([records[f] for f in FIELDS])
    want = expected_around(records)
    bad = np.flatnonzero((got != want).any(axis=1))
    assert len(bad) == 0, (f"{len(bad)} of {len(records)} flows differ; first: flow_id "
                           f"{records['flow_id'][bad[0]]} got {got[bad[0]]} want {want[bad[0]]}")


def test_a_scan_burst_is_seen_by_each_of_its_flows():
    """ndpi-synscan: one scanner, one target, hundreds of ports in a few seconds. Every
    scan flow sees the burst (not only the flows reported after it)."""
    pcap = next(p for p in fixture_captures() if p.name == "ndpi-synscan.pcap")
    records, _ = meter_records(pcap)                  # default timeouts and TCP close
    src = np.array([bytes(a) for a in records["src_addr"]])
    scanner = Counter(src.tolist()).most_common(1)[0][0]
    mine = records[src == scanner]
    assert len(mine) > 500
    assert np.median(mine["ctx_src_new_ports_around"]) > 100
    assert np.median(mine["ctx_dst_flows_around"]) > 100


@pytest.mark.parametrize("pcap", CAPTURES, ids=[p.name for p in CAPTURES])
def test_a_small_context_table_forgets_and_counts_it(pcap):
    """context_hosts=16 (16 host rows, 32 pair and port rows, 4 histories): a
    history replaced is counted and its counts are lost, never invented, so the flow
    counts around each flow are at most what the default table gives (the new_* counts
    may go either way: a pair forgotten is new again); a table that never replaces
    gives the default's values exactly."""
    big, cb = meter_records(pcap, **FOREVER)
    small, cs = meter_records(pcap, context_hosts=16, **FOREVER)
    if len(big) == 0:
        pytest.skip("no IP flows")
    assert len(small) == len(big) and (small["flow_id"] == big["flow_id"]).all()
    hosts = {(int(r["ip_version"]), bytes(a)) for r in big
             for a in (r["src_addr"], r["dest_addr"])}
    for f in ("ctx_src_flows_around", "ctx_dst_flows_around"):
        assert (small[f] <= big[f]).all(), f
    if len(hosts) > 4:                            # more hosts than the 4 histories
        assert cs["wirescore.ctx_hist_replaced"] > 0
    else:
        assert cs["wirescore.ctx_hist_replaced"] == 0
        for f in FIELDS:
            assert (small[f] == big[f]).all(), f


def test_context_hosts_must_be_a_power_of_two():
    for bad in (0, 8, 100, 1 << 25):
        with pytest.raises(ValueError, match="context_hosts"):
            FlowMeter(1, context_hosts=bad)


def test_no_context_leaves_the_columns_zero():
    pcap = next(p for p in fixture_captures() if p.name == "ndpi-synscan.pcap")
    records, c = meter_records(pcap, context=False)
    for f in FIELDS:
        assert not records[f].any()
    assert c["wirescore.ctx_hist_replaced"] == 0


REPLACED = ("wirescore.ctx_host_replaced", "wirescore.ctx_pair_replaced",
            "wirescore.ctx_port_replaced", "wirescore.ctx_hist_replaced",
            "wirescore.ctx_scan_replaced")


def test_the_eval_mix_fits_the_default_tables():
    """The evaluation mix's 5,677 hosts in the default 65,536: nothing is replaced (a
    host may only be pushed out when the table is full of live ones)."""
    need_shared()
    _, c = meter_records(EVAL_MIX)
    assert {k: c[k] for k in REPLACED} == dict.fromkeys(REPLACED, 0)


def _clients(n: int, t0: float, first: int = 0) -> list:
    """n clients (10.1.x.y), each sending one UDP datagram to 10.0.0.53 port 53, 1 ms
    apart from t0."""
    server = (10, 0, 0, 53)
    return [(t0 + i / 1000, _frame((10, 1 + (first + i) // 250, (first + i) % 250, 1),
                                   server, 40000, 53, None, 17)) for i in range(n)]


def _replaced(frames, hosts: int) -> dict:
    """{table: replacements counted} after the frames went through a meter of
    context_hosts=hosts (default timeouts: a client's flow is reported 30 s on)."""
    meter = FlowMeter(1, context_hosts=hosts)
    _feed(meter, frames)
    c = dict(zip(COUNTER_NAMES, meter.counters.tolist()))
    return {k.split("_")[1]: c[k] for k in REPLACED}


def test_hosts_are_replaced_only_when_the_table_is_full_of_live_ones():
    """1,024 host rows: 960 clients and their server (94 % of the rows) all keep their
    state; 2,048 clients do not fit, and that is counted; a table four times larger
    keeps them all, and one of 16,384 keeps their histories and scan keys too."""
    fits = _replaced(_clients(960, 1000.0), 1024)
    assert (fits["host"], fits["pair"], fits["port"]) == (0, 0, 0), fits
    assert fits["hist"] > 0 and fits["scan"] > 0        # 256 histories, 512 scan keys
    crowd = _clients(2048, 1000.0)
    assert _replaced(crowd, 1024)["host"] > 0
    larger = _replaced(crowd, 4096)
    assert (larger["host"], larger["pair"], larger["port"]) == (0, 0, 0), larger
    assert _replaced(crowd, 16384) == dict.fromkeys(("host", "pair", "port", "hist", "scan"), 0)


def test_hosts_gone_quiet_make_room_without_a_count():
    """1,000 clients, their flows reported at 1,040 s (a packet moves the clock past
    their 30 s timeout), then at 1,700 s (past the 600 s a host stays live) 1,000 others
    in 1,024 host rows: the newcomers take the quiet clients' rows, and nothing live was
    replaced."""
    tick = (1040.0, _frame((10, 9, 0, 1), (10, 9, 0, 2), 1, 2, None, 17))
    frames = _clients(1000, 1000.0) + [tick] + _clients(1000, 1700.0, first=1000)
    got = _replaced(frames, 1024)
    assert (got["host"], got["pair"], got["port"]) == (0, 0, 0), got


# ---- the scan tables: ctx.src_unanswered_hosts / _services ---------------------------------

SCAN_HALF_US = 150_000_000
REQUESTS = {4: {8, 13, 15, 17}, 6: {128}}            # ICMP requests (echo, ts, info, mask)
REPLIES = {4: {0, 14, 16, 18}, 6: {129}}
ICMP = {4: 1, 6: 58}


def _unicast(addr: bytes, version: int) -> bool:
    if version == 4:
        return addr[0] & 0xF0 != 0xE0 and addr != b"\xff" * 4
    return addr[0] != 0xFF


def attempts(path):
    """From flowref's decode of a capture (dpkt-based, independent of the core; later
    fragments carry their first fragment's ports): ({flow key: (client, its port,
    server, version, proto, service port or ICMP type, ts of the first packet, whether
    it was an attempt)}, {flow key: ts of the server's answer}, the last ts), or None
    for a capture without frames. By the documented rules (scans.pxd, scan tables):
    an attempt is a flow's first packet to a unicast server from a specified client,
    TCP without ACK or RST, UDP or SCTP, an ICMP request; its answer is the server's
    first packet if that is a SYN/ACK, any UDP or SCTP packet, an ICMP reply. Keys:
    (vlan ids, version, proto, sorted (address bytes, port) ends), ports 0 without
    ports."""
    cap = read_capture(path)
    if not cap.frames:
        return None
    first: dict = {}
    answered: dict = {}
    seen_server: set = set()
    for index, pkt in decode_packets(cap):
        if not isinstance(pkt, Packet):
            continue
        ts = cap.times_us[index]
        version, proto = pkt.version, pkt.proto
        src, dst = ipaddress.ip_address(pkt.src).packed, ipaddress.ip_address(pkt.dst).packed
        sport, dport = (pkt.sport, pkt.dport) if proto in (6, 17, 132) else (0, 0)
        flags, itype = pkt.tcp_flags or 0, pkt.icmp_type
        key = (tuple(pkt.vlan), version, proto, tuple(sorted(((src, sport), (dst, dport)))))
        if key not in first:
            attempt = ((proto == 6 and flags & 0x14 == 0) or proto in (17, 132)
                       or (proto == ICMP[version] and itype in REQUESTS[version]))
            unspecified = not any(src)
            ok = attempt and _unicast(dst, version) and not unspecified
            what = itype if proto == ICMP[version] else dport
            first[key] = (src, sport, dst, version, proto, what, ts, ok)
            continue
        if (src, sport) == first[key][:2] or key in seen_server:
            continue                  # the client's packets; the server's after its first
        seen_server.add(key)
        if (proto == 6 and flags & 0x12 == 0x12) or proto in (17, 132) or \
                (proto == ICMP[version] and itype in REPLIES[version]):
            answered[key] = ts
    return first, answered, max(cap.times_us)


def expected_unanswered(path) -> dict | None:
    """{(client, service): servers, (client, server): services, ("of", server): clients}
    tried without an answer in the halves a report at the capture's last packet sees
    (the documented rules,
    from flowref's decode of the frames), or None for a capture without frames."""
    walk = attempts(path)
    if walk is None:
        return None
    first, answered, last = walk
    halves = {last // SCAN_HALF_US, last // SCAN_HALF_US - 1}
    tried, ok_answer = defaultdict(set), defaultdict(set)
    for key, (client, _port, server, version, proto, what, ts, ok) in first.items():
        if not ok or ts // SCAN_HALF_US not in halves:
            continue
        service = (proto, what)
        tried[(version, client, service)].add(server)
        tried[(version, client, server)].add(service)
        tried[(version, "of", server)].add(client)
        if key in answered and answered[key] // SCAN_HALF_US in halves:
            ok_answer[(version, client, service)].add(server)
            ok_answer[(version, client, server)].add(service)
            ok_answer[(version, "of", server)].add(client)
    return {k: len(v - ok_answer[k]) for k, v in tried.items()}


SCAN_CAPTURES = [p for p in fixture_captures() + shared_captures("labeled/scans")
                 if p.suffix in (".pcap", ".pcapng")]


@pytest.mark.parametrize("pcap", SCAN_CAPTURES, ids=[p.name for p in SCAN_CAPTURES])
def test_unanswered_counts_match_an_independent_count(pcap):
    """Every flow reported at the end: each flow's ctx.src_unanswered_hosts (servers its
    client tried on its service without an answer), _services (services tried on its
    server) and ctx.dst_unanswered_srcs (clients that tried its server without an
    answer) against the same count made with dpkt from the packets; the core counts
    distinct items by linear counting over 128 bits, so within 15 % (+1) up to 400, and
    beyond 300 (saturating at 621, the documented ceiling) above that."""
    want = expected_unanswered(pcap)
    if want is None:
        pytest.skip("no frames")
    records, c = meter_records(pcap, **FOREVER)
    if len(records) == 0:
        pytest.skip("no IP flows")
    assert c["wirescore.ctx_scan_replaced"] == 0
    bad = []
    for r in records:
        v = int(r["ip_version"])
        alen = 4 if v == 4 else 16
        client, server = bytes(r["src_addr"][:alen]), bytes(r["dest_addr"][:alen])
        proto = int(r["proto"])
        if proto not in (6, 17, 132, ICMP[v]):
            assert r["ctx_src_unanswered_hosts"] == 0 and r["ctx_src_unanswered_services"] == 0
            assert r["ctx_dst_unanswered_srcs"] == 0
            continue
        what = int(r["icmp_type_ts"]) if proto == ICMP[v] else int(r["dest_port"])
        exp_hosts = want.get((v, client, (proto, what)), 0)
        exp_services = want.get((v, client, server), 0)
        exp_clients = want.get((v, "of", server), 0)
        for got, exp in ((r["ctx_src_unanswered_hosts"], exp_hosts),
                         (r["ctx_src_unanswered_services"], exp_services),
                         (r["ctx_dst_unanswered_srcs"], exp_clients)):
            if (abs(got - exp) > 1 + 0.15 * exp) if exp <= 400 else not (300 < got <= 622):
                bad.append((int(r["flow_id"]), float(got), exp))
    assert not bad, f"{len(bad)} of {len(records)} flows differ (flow, got, want): {bad[:5]}"


UNANSWERED_NEW = ("ctx_src_unanswered_new_dsts_around", "ctx_src_unanswered_new_ports_around",
                  "ctx_dst_unanswered_new_ports_around")


def _record_key(r) -> tuple:
    """A record's key as attempts() spells it."""
    v = int(r["ip_version"])
    alen = 4 if v == 4 else 16
    proto = int(r["proto"])
    sp, dp = (int(r["src_port"]), int(r["dest_port"])) if proto in (6, 17, 132) else (0, 0)
    vlan = (int(r["vlan0"]), int(r["vlan1"]))[:int(r["nvlan"])]
    return (vlan, v, proto, tuple(sorted(((bytes(r["src_addr"][:alen]), sp),
                                          (bytes(r["dest_addr"][:alen]), dp)))))


def expected_unanswered_new(records: np.ndarray, walk) -> np.ndarray:
    """(flows, 3) counts of UNANSWERED_NEW by the documented rules, every flow reported
    at the end: an attempt (attempts()) to a server new to its client (no flow between
    them started in the 600 s before), to a (protocol, port) new to its client, or on a
    (protocol, port) new to its server (no flow to it from any client in 600 s; TCP,
    UDP, SCTP) counts +1 in its host's bucket of the flow's start, and its answer takes
    that back (-1); a bucket's count saturates at 255 and then stays. Read like the
    other around counts (expected_around)."""
    first, answered, _ = walk
    newest: dict = {}
    events = []                                   # (ts, answer?, host, bucket, field, step)
    for i, a, b, t, new_pair, new_port, new_svc in _new_at_start(records):
        bucket = t // BUCKET_US
        for host in (a, b):
            newest[host] = max(newest.get(host, bucket), bucket)
        key = _record_key(records[i])
        if not first[key][7]:
            continue                              # not an attempt
        for host, field, new in ((a, 0, new_pair), (a, 1, new_port), (b, 2, new_svc)):
            if new:
                events.append((t, 0, host, bucket, field, 1))
                if key in answered:
                    events.append((answered[key], 1, host, bucket, field, -1))
    counts: dict = defaultdict(int)
    for _, _, host, bucket, field, step in sorted(events, key=lambda e: e[:2]):
        c = counts[host, bucket, field]
        if step > 0:
            counts[host, bucket, field] = min(255, c + 1)
        elif 0 < c < 255:
            counts[host, bucket, field] = c - 1
    return _sum_around(records, counts, newest, (0, 1), (2,))


@pytest.mark.parametrize("pcap", SCAN_CAPTURES, ids=[p.name for p in SCAN_CAPTURES])
def test_unanswered_new_counts_match_an_independent_count(pcap):
    """Every flow reported at the end: its client's unanswered attempts on new servers and
    new services around it, and its server's on services new to the server, against the
    same count made from dpkt's reading of the packets (attempts and answers) and the
    records (which flows were new)."""
    walk = attempts(pcap)
    if walk is None:
        pytest.skip("no frames")
    records, c = meter_records(pcap, **FOREVER)
    if len(records) == 0:
        pytest.skip("no IP flows")
    assert c["wirescore.ctx_hist_replaced"] == 0
    assert c["wirescore.ctx_pair_replaced"] == 0 and c["wirescore.ctx_port_replaced"] == 0
    keys = Counter(_record_key(r) for r in records)
    if max(keys.values()) > 1:
        pytest.skip("a key with two flows (TCP port reuse): attempts() cannot tell "
                    "which flow a packet began")
    got = np.column_stack([records[f] for f in UNANSWERED_NEW])
    want = expected_unanswered_new(records, walk)
    bad = np.flatnonzero((got != want).any(axis=1))
    assert len(bad) == 0, (f"{len(bad)} of {len(records)} flows differ; first: flow_id "
                           f"{records['flow_id'][bad[0]]} got {got[bad[0]]} want {want[bad[0]]}")
    # the counts are part of the around counts they qualify
    assert (records["ctx_src_unanswered_new_dsts_around"]
            <= records["ctx_src_new_dsts_around"]).all()
    assert (records["ctx_src_unanswered_new_ports_around"]
            <= records["ctx_src_new_ports_around"]).all()


def test_a_sweep_is_unanswered_and_a_busy_client_is_not():
    """The ICMP sweep's scanner: every one of its flows sees the whole sweep (read at the
    report, after its own flow); the synscan capture's scanner probes many ports of one
    host (services) on a single port per flow."""
    sweep = next((p for p in shared_captures("labeled/scans") if p.name == "sgr-hs-icmpScan.pcap"),
                 None)
    if sweep is None:
        pytest.skip("needs ../shared (labeled/scans)")
    records, _ = meter_records(sweep)                 # default timeouts
    src = np.array([bytes(a[:4]) for a in records["src_addr"]])
    scanner = Counter(src.tolist()).most_common(1)[0][0]
    mine = records[src == scanner]
    assert mine["ctx_src_unanswered_hosts"].min() > 100
    synscan = next(p for p in fixture_captures() if p.name == "ndpi-synscan.pcap")
    records, _ = meter_records(synscan)
    src = np.array([bytes(a[:4]) for a in records["src_addr"]])
    scanner = Counter(src.tolist()).most_common(1)[0][0]
    assert np.median(records[src == scanner]["ctx_src_unanswered_services"]) > 100
    others = records[src != scanner]["ctx_src_unanswered_services"]
    assert others.max(initial=0) <= 2


def _tcp_frame(src: bytes, dst: bytes, sport: int, dport: int, flags: int) -> bytes:
    """An Ethernet/IPv4/TCP frame built with dpkt."""
    import dpkt

    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, seq=1, off=5)
    ip = dpkt.ip.IP(src=src, dst=dst, p=6, ttl=64, data=tcp)
    ip.len = 20 + len(bytes(tcp))
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, data=ip))


def _answered(client: bytes, server: bytes, sport: int, dport: int, t: float) -> list:
    """A client's SYN and the server's SYN/ACK 1 ms later: (frame, time) pairs."""
    return [(_tcp_frame(client, server, sport, dport, 0x02), t),
            (_tcp_frame(server, client, dport, sport, 0x12), t + 0.001)]


def _write_pcap(path, frames) -> None:
    """(frame, time) pairs to a classic pcap, with dpkt."""
    import dpkt

    with open(path, "wb") as fh:
        w = dpkt.pcap.Writer(fh)
        for frame, t in frames:
            w.writepkt(frame, t)


@pytest.mark.parametrize("probe, name", [(0x01, "FIN"), (0x00, "NULL"), (0x29, "Xmas"),
                                         (0x02, "SYN")])
def test_a_stealth_scan_counts_as_unanswered_services(tmp_path, probe, name):
    """nmap -sF / -sN / -sX (and -sS): 40 probes to 40 ports of one host, 10 ms apart;
    closed ports answer with an RST (half of them), open ones not at all. Every flow of
    the scanner sees ~40 unanswered services; a client whose SYNs get SYN/ACKs sees 0."""
    scanner, target, client = b"\x0a\0\0\x05", b"\x0a\0\0\x09", b"\x0a\0\0\x07"
    path = tmp_path / f"{name}.pcap"
    frames, t = [], 1_700_000_000.0
    for port in range(1000, 1040):
        frames.append((_tcp_frame(scanner, target, 40000, port, probe), t))
        if port % 2:
            frames.append((_tcp_frame(target, scanner, port, 40000, 0x14), t + 0.001))  # RST/ACK
        t += 0.01
    for port in range(2000, 2030):                     # an ordinary client, answered
        frames += _answered(client, target, 41000 + port, 443, t)
        t += 0.01
    _write_pcap(path, frames)
    records, _ = meter_records(path)
    src = np.array([bytes(a[:4]) for a in records["src_addr"]])
    mine = records[src == scanner]
    assert len(mine) == 40
    assert (np.abs(mine["ctx_src_unanswered_services"] - 40) <= 1 + 0.15 * 40).all()
    assert (records[src == client]["ctx_src_unanswered_services"] == 0).all()
    assert (records[src == client]["ctx_src_unanswered_hosts"] == 0).all()


def test_a_target_counts_the_clients_it_left_unanswered(tmp_path):
    """A spoofed SYN flood: 60 sources each send one SYN to port 80 of a victim that never
    answers; 30 ordinary clients get SYN/ACKs from a web server. Every flow to the victim
    sees ~60 unanswered clients (linear counting: within 15 %), the web server's 0; the
    sources themselves are no scanners (one attempt each)."""
    victim, web = b"\x0a\0\0\x09", b"\x0a\0\0\x0a"
    path = tmp_path / "flood.pcap"
    frames, t = [], 1_700_000_000.0
    for i in range(60):
        frames.append((_tcp_frame(bytes([198, 51, 100, i + 1]), victim, 1024 + i, 80, 0x02), t))
        t += 0.01
    for i in range(30):
        frames += _answered(bytes([10, 0, 1, i + 1]), web, 40000 + i, 443, t)
        t += 0.01
    _write_pcap(path, frames)
    records, _ = meter_records(path)
    dst = np.array([bytes(a[:4]) for a in records["dest_addr"]])
    to_victim = records[dst == victim]
    assert len(to_victim) == 60
    assert (np.abs(to_victim["ctx_dst_unanswered_srcs"] - 60) <= 1 + 0.15 * 60).all()
    assert (records[dst == web]["ctx_dst_unanswered_srcs"] == 0).all()
    assert (to_victim["ctx_src_unanswered_hosts"] < 1.5).all()      # each its own one
