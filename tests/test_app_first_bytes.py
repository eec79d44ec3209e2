"""First-bytes columns (ext/app/first.pxd): the entropy, printable share and file magic
of the first payload bytes of each direction no protocol claims, in the flow record's
app_first_* fields.

The reference is independent of the core: dpkt reads the capture, each direction's
first payload bytes are joined in sequence order the way the stream room joins them
(from the first segment with payload; a retransmission adds nothing, an overlap only
its new bytes; a gap, a segment arriving early or a snap-length cut ends them), numpy
computes the entropy and the printable share; the file magic comes from msg_bytes (the
fuzzed, libmagic-checked parser: test_msg_bytes.py). The core examines the first
segment when no probe asks for more, else the bytes joined while the probes looked (at
most APP_PROBE): the test reads how many it took (app_first_bytes_*) and checks that it
lies between the first segment's bytes and the joined bytes, then that the statistics
are those of exactly that prefix.
"""
from __future__ import annotations

import socket

import dpkt
import numpy as np
import pytest

from conftest import need_shared
from test_core import meter_records as core_records
from wirescore._core.appcore import AppDriver
from wirescore._core.flowtable import COUNTER_NAMES, FlowMeter
from wirescore._core.msg_bytes import parse_bytes
from wirescore.core_names import APP_PROBE, APP_PROTO_NAMES
from wirescore.msg_names import MAGIC_NAMES

FAILED = APP_PROTO_NAMES.index("failed")
LIMIT = 512                       # app.first_bytes's default
DIRS = ("toserver", "toclient")
COLUMNS = [f"app_first_{s}_{d}" for s in ("bytes", "entropy", "printable", "magic")
           for d in DIRS]
# captures with flows no protocol claims: telnet, OpenVPN over TCP, RDP, QUIC,
# Steam and OICQ over UDP, Skype, syslog, BitTorrent, a SYN-ACK reflection attack and the
# CIC-IDS2017 demo (labeled), most beside flows of known protocols
CAPTURES = (
    "peer-groundtruth/ndpi/telnet.pcap",
    "peer-groundtruth/ndpi/openvpn_nohmac_tcp.pcapng",
    "peer-groundtruth/ndpi/rdp2.pcap",
    "peer-groundtruth/ndpi/quic_sh.pcap",
    "peer-groundtruth/ndpi/quic-v2.pcapng",
    "peer-groundtruth/nfstream/steam.pcap",
    "peer-groundtruth/ndpi/oicq.pcap",
    "peer-groundtruth/nfstream/skype.pcap",
    "peer-groundtruth/ndpi/syslog.pcap",
    "peer-groundtruth/nfstream/bittorrent.pcap",
    "labeled/ddos/stopddos-amp.TCP.reflection.SYNACK.pcap",
    "labeled/netml-cicids2017-demo/demo.pcap",
)


def meter_records(path, **kw) -> np.ndarray:
    """Every flow record of a capture through a FlowMeter (test_core's loop)."""
    return core_records(path, **kw)[0]


def _frames(path):
    """(linktype, frame bytes) of every record of a pcap or pcapng file (dpkt)."""
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        reader = dpkt.pcapng.Reader(f) if head == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(f)
        link = reader.datalink()
        for _, buf in reader:
            yield link, buf


def _ip(link, buf):
    """The IP packet of a frame (Ethernet with VLAN tags, Linux SLL, raw), or None."""
    if link == dpkt.pcap.DLT_EN10MB:
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
    elif link == dpkt.pcap.DLT_LINUX_SLL:
        ip = dpkt.sll.SLL(buf).data
    elif link in (dpkt.pcap.DLT_RAW, 101, 228, 229):
        ip = dpkt.ip.IP(buf) if buf[0] >> 4 == 4 else dpkt.ip6.IP6(buf)
    else:
        raise AssertionError(f"link type {link} not read by this test")
    return ip if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) else None


def first_bytes(path) -> dict:
    """{(proto, endpoint, endpoint) sorted: {sender endpoint: state}}: per direction, its
    first segment's (or datagram's) bytes and the in-order bytes joined from it. A key
    seen in more than one flow is not told apart: the test leaves such flows out."""
    flows: dict = {}
    for link, buf in _frames(path):
        try:
            ip = _ip(link, buf)
        except (dpkt.UnpackError, IndexError):
            continue
        if ip is None or isinstance(ip, dpkt.ip.IP) and (ip.mf or ip.offset):
            continue                       # fragments: none in these captures' flows
        l4 = ip.data
        if not isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
            continue
        proto = 6 if isinstance(l4, dpkt.tcp.TCP) else 17
        a, b = (bytes(ip.src), l4.sport), (bytes(ip.dst), l4.dport)
        dirs = flows.setdefault((proto, *sorted((a, b))), {})
        st = dirs.setdefault(a, {"first": None, "joined": b"", "next": 0, "open": True})
        payload = bytes(l4.data)
        if proto == 6:
            head = ip.hl * 4 if isinstance(ip, dpkt.ip.IP) else 0
            wire = max((ip.len - head if head else ip.plen) - l4.off * 4, len(payload))
        else:
            wire = len(payload)
        if wire == 0 or not st["open"]:
            continue
        if proto == 17:
            if st["first"] is None:
                st["first"] = st["joined"] = payload
            continue
        seq = l4.seq + (1 if l4.flags & dpkt.tcp.TH_SYN else 0)
        if st["first"] is None:
            st["first"] = payload
            st["next"] = seq
        delta = (seq - st["next"]) & 0xFFFFFFFF
        if delta >= 0x80000000:            # starts before next: a retransmission or overlap
            trim = (st["next"] - seq) & 0xFFFFFFFF
            if trim >= wire:
                continue
            payload, wire = payload[trim:], wire - trim
        elif delta:
            st["open"] = False             # a gap: the bytes end here
            continue
        st["joined"] += payload
        st["next"] = (st["next"] + wire) & 0xFFFFFFFF
        if len(payload) < wire:
            st["open"] = False             # cut by the snap length
    return flows


def stats(data: bytes):
    """(entropy in bits per byte, printable share, magic name) of data (numpy; magic
    through msg_bytes)."""
    a = np.frombuffer(data, np.uint8)
    counts = np.bincount(a, minlength=256)
    p = counts[counts > 0] / len(a)
    entropy = float(max(0.0, -(p * np.log2(p)).sum()))
    printable = float((((a >= 32) & (a <= 126)) | (a == 9) | (a == 10) | (a == 13)).mean())
    return entropy, printable, parse_bytes(data)["magic"]


def _endpoints(rec):
    """(proto, sorted endpoints) key of a record and its client endpoint."""
    n = 4 if rec["ip_version"] == 4 else 16
    src = (bytes(rec["src_addr"])[:n], int(rec["src_port"]))
    dst = (bytes(rec["dest_addr"])[:n], int(rec["dest_port"]))
    return (int(rec["proto"]), *sorted((src, dst))), src, dst


def check_capture(path, limit=LIMIT):
    """Every flow of the capture: unclaimed directions' columns against the reference,
    every other flow's columns 0. Returns (unclaimed directions checked, magic kinds)."""
    recs = meter_records(path, app_first_bytes=limit)
    ref = first_bytes(path)
    seen: dict = {}
    for rec in recs:
        key = _endpoints(rec)[0]
        seen[key] = seen.get(key, 0) + 1
    checked, kinds = 0, set()
    for rec in recs:
        key, client, server = _endpoints(rec)
        if rec["app_proto"] != FAILED:
            assert all(rec[c] == 0 for c in COLUMNS), (path.name, key)
            continue
        if seen[key] > 1 or key not in ref:
            continue                        # a repeated key: not told apart
        for sender, name in zip((client, server), DIRS):
            st = ref[key].get(sender, {"first": None})
            n = int(rec[f"app_first_bytes_{name}"])
            if not st["first"]:
                assert n == 0, (path.name, key, name)
                continue
            # the first segment alone (no probe asked for more), or the bytes joined
            # while the probes looked (APP_PROBE at most; at least the first segment's)
            lo = min(len(st["first"]), limit, APP_PROBE if key[0] == 6 else limit)
            hi = max(min(len(st["first"]), limit),
                     min(len(st["joined"]), limit, APP_PROBE if key[0] == 6 else limit))
            assert lo <= n <= hi, (path.name, key, name, n, lo, hi)
            data = st["joined"][:n]
            entropy, printable, magic = stats(data)
            assert rec[f"app_first_entropy_{name}"] == pytest.approx(entropy, abs=1e-4)
            assert rec[f"app_first_printable_{name}"] == pytest.approx(printable, abs=1e-6)
            assert MAGIC_NAMES[int(rec[f"app_first_magic_{name}"])] == magic
            kinds.add(magic)
            checked += 1
    return checked, kinds


@pytest.mark.parametrize("name", CAPTURES)
def test_unclaimed_flows_carry_their_first_bytes_statistics(name):
    path = need_shared() / "pcaps" / name
    checked, _ = check_capture(path)
    assert checked >= 1, f"{name}: no unclaimed direction checked"


def test_the_columns_are_off_with_first_bytes_0():
    path = need_shared() / "pcaps" / CAPTURES[0]
    recs = meter_records(path, app_first_bytes=0)
    assert (recs["app_proto"] == FAILED).any()
    assert all((recs[c] == 0).all() for c in COLUMNS)
    with pytest.raises(ValueError, match="app_first_bytes"):
        FlowMeter(1, app_first_bytes=1 << 16)


def test_a_smaller_limit_cuts_the_bytes_examined():
    path = need_shared() / "pcaps" / CAPTURES[0]
    checked, _ = check_capture(path, limit=16)
    assert checked >= 1
    recs = meter_records(path, app_first_bytes=16)
    assert recs["app_first_bytes_toserver"].max() <= 16


# AppDriver: one TCP or UDP flow on a port no protocol lists, fed as the meter feeds it
PORT = 4444
TEXT = b"hello from a home-made protocol, nothing any probe knows\r\n" * 3


def _end(drv):
    rec = drv.end(0)
    return {k[len("app_first_"):]: v for k, v in rec.items() if k.startswith("app_first_")}


def _expect(rec, d, data):
    entropy, printable, magic = stats(data)
    assert rec[f"bytes_{d}"] == len(data)
    assert rec[f"entropy_{d}"] == pytest.approx(entropy, abs=1e-4)
    assert rec[f"printable_{d}"] == pytest.approx(printable, abs=1e-6)
    assert MAGIC_NAMES[int(rec[f"magic_{d}"])] == magic


def test_udp_first_datagram_of_each_direction():
    drv = AppDriver(udp=True, port=PORT)
    drv.packet(0, 0, np.frombuffer(TEXT, np.uint8))
    drv.packet(0, 0, np.frombuffer(b"\0" * 100, np.uint8))     # the second: not examined
    reply = bytes(range(256)) * 3
    drv.packet(0, 1, np.frombuffer(reply, np.uint8))
    rec = _end(drv)
    _expect(rec, "toserver", TEXT)
    _expect(rec, "toclient", reply[:LIMIT])                   # at most app.first_bytes
    assert rec["entropy_toclient"] == pytest.approx(8.0, abs=1e-4)


def test_tcp_first_segment_and_a_segment_cut_by_the_snap_length():
    drv = AppDriver(port=PORT)
    drv.packet(0, 0, np.frombuffer(TEXT, np.uint8), seq=1000)
    drv.packet(0, 0, np.frombuffer(b"\0" * 50, np.uint8), seq=1000 + len(TEXT))
    drv.packet(0, 1, np.frombuffer(TEXT[:20], np.uint8), seq=5000, wire_len=400)
    rec = _end(drv)
    _expect(rec, "toserver", TEXT)
    _expect(rec, "toclient", TEXT[:20])


def test_a_flow_claimed_by_its_other_direction_reads_0():
    """A datagram no probe knows, then a real DNS message the other way (zeek-wikipedia's,
    on a port DNS does not list: found by content): the flow is DNS, its first
    datagram's statistics are not written."""
    from test_app_dns import QUERIES

    drv = AppDriver(udp=True, port=PORT)
    drv.packet(0, 0, np.frombuffer(TEXT, np.uint8))
    drv.packet(0, 1, np.frombuffer(QUERIES[0], np.uint8))
    rec = drv.end(0)
    assert APP_PROTO_NAMES[rec["app_proto"]] == "dns"
    assert all(rec[c] == 0 for c in COLUMNS)


def _tcp_capture(path, client: bytes, server: bytes, port=PORT, mss=1460):
    """An Ethernet pcap of one TCP connection (handshake, client bytes, then server
    bytes in mss-byte segments, FIN both ways) on a port no protocol lists."""
    import time

    cli, srv = socket.inet_aton("10.1.0.5"), socket.inet_aton("10.1.0.9")
    seq = {0: 1000, 1: 70000}
    frames = []

    def seg(d, flags, data=b""):
        src, dst = (cli, srv) if d == 0 else (srv, cli)
        tcp = dpkt.tcp.TCP(sport=50123 if d == 0 else port, dport=port if d == 0 else 50123,
                           seq=seq[d], ack=seq[1 - d], flags=flags, data=data)
        ip = dpkt.ip.IP(src=src, dst=dst, p=dpkt.ip.IP_PROTO_TCP, data=tcp)
        ip.len = len(ip)
        eth = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6,
                                     type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
        frames.append(bytes(eth))
        seq[d] += len(data) + (1 if flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN) else 0)

    seg(0, dpkt.tcp.TH_SYN)
    seg(1, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK)
    seg(0, dpkt.tcp.TH_ACK)
    for d, data in ((0, client), (1, server)):
        for i in range(0, len(data), mss):
            seg(d, dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, data[i:i + mss])
    seg(0, dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK)
    seg(1, dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK)
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        t = time.mktime((2024, 1, 1, 0, 0, 0, 0, 0, 0))
        for k, frame in enumerate(frames):
            w.writepkt(frame, ts=t + k * 0.001)


def test_a_pe_sent_raw_shows_its_magic(tmp_path):
    """Emotet's PE downloads (ndpi-emotet.pcap) served without HTTP, as a raw C2 stage
    is: the response body's bytes are the server's first bytes on port 4444, the
    client's request line replaced by a few bytes no probe knows."""
    from test_app_http import head_and_body, tcp_streams

    shown = 0
    for _, server in tcp_streams(need_shared() / "pcaps" / "labeled" / "malware-c2"
                                 / "ndpi-emotet.pcap"):
        body = head_and_body(server)[1]
        if body[:2] != b"MZ":
            continue
        path = tmp_path / f"raw-pe-{shown}.pcap"
        _tcp_capture(path, b"\x05\x01\x00stage2\n", body[:8000])
        checked, kinds = check_capture(path)
        assert checked == 2 and "pe" in kinds
        rec = meter_records(path)[0]
        assert MAGIC_NAMES[int(rec["app_first_magic_toclient"])] == "pe"
        assert rec["app_first_bytes_toclient"] == LIMIT
        shown += 1
    assert shown == 2


# "GE" could start an HTTP request: the probes ask for more, the stream room holds the
# bytes; what ends the wait decides which bytes are examined
def _ge(drv, flow=0):
    drv.packet(flow, 0, np.frombuffer(b"GE", np.uint8), seq=1000)
    assert drv.link(flow)[2], "the probes no longer ask for more after 'GE'"


def test_bytes_joined_while_the_probes_looked():
    drv = AppDriver(port=PORT)
    _ge(drv)
    drv.packet(0, 0, np.frombuffer(TEXT, np.uint8), seq=1002)
    _expect(_end(drv), "toserver", b"GE" + TEXT)


@pytest.mark.parametrize("how", ["fin", "rst", "gap", "flow end", "slot taken back"])
def test_held_bytes_are_examined_when_the_direction_stops(how):
    drv = AppDriver(nflows=2, port=PORT, app_streams=1)
    _ge(drv)
    if how == "fin":
        drv.packet(0, 0, np.frombuffer(b"", np.uint8), seq=1002, flags=0x11)
    elif how == "rst":
        drv.packet(0, 1, np.frombuffer(b"", np.uint8), seq=9000, flags=0x04)
    elif how == "gap":
        drv.packet(0, 0, np.frombuffer(TEXT, np.uint8), seq=1100)
    elif how == "slot taken back":
        _ge(drv, flow=1)
    _expect(_end(drv), "toserver", b"GE")


def test_a_flow_the_probes_claim_after_holding_reads_0():
    drv = AppDriver(port=PORT)
    _ge(drv)
    drv.packet(0, 0, np.frombuffer(b"T / HTTP/1.1\r\nHost: x\r\n\r\n", np.uint8), seq=1002)
    rec = drv.end(0)
    assert APP_PROTO_NAMES[rec["app_proto"]] == "http"
    assert all(rec[c] == 0 for c in COLUMNS)


def test_first_bytes_0_examines_nothing():
    for udp in (False, True):
        drv = AppDriver(udp=udp, port=PORT, first_bytes=0)
        drv.packet(0, 0, np.frombuffer(TEXT, np.uint8), seq=1000)
        rec = drv.end(0)
        assert rec["app_proto"] == FAILED and all(rec[c] == 0 for c in COLUMNS)


def test_a_tcp_flow_claimed_by_its_other_direction_reads_0():
    """The client's first segment no probe knows (its statistics kept in a record), then
    an HTTP response from the server: the flow is HTTP, its summary starts empty."""
    drv = AppDriver(port=PORT)
    drv.packet(0, 0, np.frombuffer(TEXT, np.uint8), seq=1000)
    assert drv.link(0)[2]
    drv.packet(0, 1, np.frombuffer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", np.uint8),
               seq=5000)
    rec = drv.end(0)
    assert APP_PROTO_NAMES[rec["app_proto"]] == "http"
    assert all(rec[c] == 0 for c in COLUMNS)
    assert rec["app_http_status_first"] in (0, 200) and rec["app_http_requests"] == 0


def test_first_bytes_take_only_free_records():
    """With the record pool full the statistics are not kept (counted): no flow of a
    known protocol loses its summary for them."""
    from test_app_dns import QUERIES

    drv = AppDriver(nflows=2, udp=True, port=PORT, app_flows=1)
    drv.packet(0, 0, np.frombuffer(QUERIES[0], np.uint8))
    drv.packet(1, 0, np.frombuffer(TEXT, np.uint8))
    count = dict(zip(COUNTER_NAMES, drv.counters))
    assert count["wirescore.app_first_bytes_skipped"] == 1
    assert count["wirescore.app_flows_reclaimed"] == 0
    rec = drv.end(1)
    assert rec["app_proto"] == FAILED and all(rec[c] == 0 for c in COLUMNS)
    rec = drv.end(0)
    assert APP_PROTO_NAMES[rec["app_proto"]] == "dns" and rec["app_dns_queries"] == 1
