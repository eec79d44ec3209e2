"""TLS and SSH as rooms of the application layer (ext/app/tlsroom.pxd, sshroom.pxd):
the handshakes of real captures fed through AppDriver segment by segment, as the meter
feeds a packet's payload: whole, in small and odd segments, with retransmitted overlaps,
with lost segments and snap-length cuts; detection by content; the event at the end of
the handshake or of the flow; the flow record's app_tls_* / app_ssh_* columns; bounded
pools under a flood of half-open sessions.

The expected values are the message parsers' own results on messages cut out of the
same bytes by tests/tlsref.py (dpkt and Python) and hashlib's SHA-1 of the certificate:
what the room adds is the stream (records, segments, gaps, holds), which is what these
tests vary. tests/test_app_tls_tshark.py compares with tshark on every shared capture.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

import tlsref
from conftest import REPO, SHARED_DATA, shared_available
from wirescore._core import msg_tls
from wirescore._core.appcore import AppDriver
from wirescore._core.flowtable import COUNTER_NAMES
from wirescore.core_names import APP_HOLD, APP_PROTO_NAMES, SSH_BITS, TLS_BITS
from wirescore.outputs.eve_ssh import SshEventFormatter
from wirescore.outputs.eve_tls import TlsEventFormatter

JA4_DIR = REPO / "tests" / "data" / "ja4"
BROWSERS = JA4_DIR / "browsers-x509.pcapng"
TLS = APP_PROTO_NAMES.index("tls")
SSH = APP_PROTO_NAMES.index("ssh")
SSH_PCAP = SHARED_DATA / "pcaps" / "peer-groundtruth" / "zeek" / "ssh__ssh.pcap"
needs_shared = pytest.mark.skipif(not shared_available(), reason="needs ../shared/data")


def connections(path, port) -> list[tuple[bytes, bytes]]:
    """(client bytes, server bytes) of each connection to `port` whose directions are
    whole (no hole), in order of first appearance."""
    dirs = {d.key: d for d in tlsref.directions(path)}
    out = []
    for key, d in dirs.items():
        if d.dport != port:
            continue
        back = dirs.get((d.dst, d.dport, d.src, d.sport))
        if back is not None and not d.hole and not back.hole:
            out.append((d.data, back.data))
    return out


def arr(b: bytes) -> np.ndarray:
    return np.frombuffer(b, np.uint8).copy()


def counter(drv, name: str) -> int:
    return int(drv.counters[COUNTER_NAMES.index(name)])


def send(drv, flow, d, data: bytes, cuts, isn=1000, snap=None, drop=(), overlap=0):
    """data as segments ending at cuts (offsets), after a SYN; snap: bytes captured of
    each segment (the rest lost to the snap length); drop: indexes of segments lost;
    overlap: each segment also carries this many bytes before its start (retransmitted)."""
    drv.packet(flow, d, arr(b""), seq=isn, flags=0x02)
    start = 0
    for k, end in enumerate(sorted(set(cuts) | {len(data)})):
        if end <= start:
            continue
        lo = max(0, start - overlap)
        seg = data[lo:end]
        if k not in drop:
            cap = seg if snap is None else seg[:snap]
            drv.packet(flow, d, arr(cap), seq=isn + 1 + lo, wire_len=len(seg))
        start = end


def tls_events(drv) -> list[dict]:
    return [e["tls"] for e in TlsEventFormatter().events(drv.events()["tls"])]


def run(conn, cuts_c, cuts_s, port=443, **kw) -> tuple[list[dict], dict, AppDriver]:
    drv = AppDriver(port=port)
    client, server = conn
    send(drv, 0, 0, client, cuts_c, **kw)
    send(drv, 0, 1, server, cuts_s, isn=5000, **kw)
    evs = tls_events(drv)
    rec = drv.end(0)
    return evs + tls_events(drv), rec, drv


def expected(conn) -> dict:
    """The tls object the message parsers give for the connection's messages."""
    client, server = conn
    ch = msg_tls.parse_client_hello(tlsref.handshake_messages(client)[0][0])
    msgs = tlsref.handshake_messages(server)[0]
    sh = msg_tls.parse_server_hello(msgs[0])
    out = {"sni": ch["sni"], "ja3": {"hash": ch["ja3_hash"], "string": ch["ja3"]},
           "ja4": ch["ja4"], "ja3s": {"hash": sh["ja3s_hash"], "string": sh["ja3s"]}}
    certs = [m for m in msgs if m[0] == 11]
    if certs:
        first = msg_tls.parse_certificates(certs[0])["first"]
        x = msg_tls.parse_x509(first)
        out.update(subject=x["subject"], issuerdn=x["issuerdn"], serial=x["serial"],
                   notbefore=x["notbefore"], notafter=x["notafter"],
                   fingerprint=":".join(f"{b:02x}" for b in hashlib.sha1(first).digest()))
    return out


CONNS = connections(BROWSERS, 443)


def test_the_capture_has_whole_handshakes_with_long_certificates():
    assert len(CONNS) >= 3
    longest = max(len(m) for _, s in CONNS for m in tlsref.handshake_messages(s)[0]
                  if m[0] == 11)
    assert longest > 2 * APP_HOLD          # the certificate message outgrows the hold


@pytest.mark.parametrize("seg", [1, 7, 100, 1448, 1 << 20])
def test_segmented_handshakes_give_the_parsers_fields(seg):
    for conn in CONNS:
        want = expected(conn)
        evs, rec, drv = run(conn, range(seg, len(conn[0]), seg), range(seg, len(conn[1]), seg))
        assert len(evs) == 1, evs
        got = evs[0]
        for k, v in want.items():
            assert got.get(k) == v, (k, got.get(k), v)
        assert rec["app_proto"] == TLS
        assert rec["app_tls_sni"] == 1.0 and rec["app_tls_ciphers"] > 0
        if "notbefore" in want:
            assert rec["app_tls_cert_days"] > 1 and rec["app_tls_certs"] >= 1
        assert counter(drv, "wirescore.app_gaps") == 0


def test_retransmitted_overlaps_change_nothing():
    conn = CONNS[0]
    want, _, _ = run(conn, range(300, len(conn[0]), 300), range(300, len(conn[1]), 300))
    got, _, _ = run(conn, range(300, len(conn[0]), 300), range(300, len(conn[1]), 300),
                    overlap=120)
    assert got == want


def test_a_lost_certificate_segment_keeps_the_hellos_and_cuts_the_fingerprint():
    conn = CONNS[0]
    msgs = tlsref.handshake_messages(conn[1])[0]
    assert msgs[0][0] == 2 and len(msgs[1]) > 3000
    want = expected(conn)
    # segments of 1000 bytes: the third is inside the certificate message, past the
    # first certificate's fields (within its first ~1.5 KB)
    evs, rec, drv = run(conn, [], range(1000, len(conn[1]), 1000), drop={2})
    got, = evs
    assert got["ja3s"] == want["ja3s"] and got["ja3"] == want["ja3"]
    assert got["subject"] == want["subject"] and "fingerprint" not in got
    assert counter(drv, "wirescore.app_gaps") >= 1


def test_snap_length_cut_client_hello_still_names_the_server():
    """The public mix is cut at 256 bytes a packet: the ClientHello's captured prefix
    gives the SNI; JA3 and JA4 need every list, so they are left out; the event is
    written at the flow's end with what was read."""
    conn = CONNS[0]
    ch = msg_tls.parse_client_hello(tlsref.handshake_messages(conn[0])[0][0])
    evs, rec, drv = run(conn, range(1448, len(conn[0]), 1448),
                        range(1448, len(conn[1]), 1448), snap=200)
    got, = evs
    assert got["sni"] == ch["sni"] and "ja3" not in got and "ja4" not in got
    assert counter(drv, "wirescore.app_truncated") >= 1
    assert rec["app_tls_sni"] == 1.0


def test_a_client_hello_within_the_snap_length_gives_ja3_and_ja4():
    small = [c for c in connections(JA4_DIR / "tls12.pcap", 443)
             + connections(BROWSERS, 443) if len(tlsref.handshake_messages(c[0])[0][0]) < 600]
    assert small
    conn = small[0]
    ch = msg_tls.parse_client_hello(tlsref.handshake_messages(conn[0])[0][0])
    evs, _, _ = run(conn, [], range(200, len(conn[1]), 200), snap=700)
    got, = evs
    assert got["ja3"]["hash"] == ch["ja3_hash"] and got["ja4"] == ch["ja4"]


def test_a_client_only_handshake_is_written_at_the_flow_end():
    conn = CONNS[0]
    drv = AppDriver(port=443)
    send(drv, 0, 0, conn[0], [])
    assert tls_events(drv) == []
    drv.end(0)
    got, = tls_events(drv)
    assert got["sni"] and "ja3s" not in got and got["version"]


def test_tls_is_found_by_content_on_any_port_and_not_by_port():
    conn = CONNS[0]
    evs, rec, _ = run(conn, [], [], port=8080)
    assert rec["app_proto"] == TLS and len(evs) == 1
    drv = AppDriver(port=443)
    send(drv, 0, 0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", [])
    assert drv.end(0)["app_proto"] != TLS


def test_a_flood_of_half_open_tls_sessions_stays_in_the_pools():
    """ClientHellos that never get an answer nor a FIN: the records and stream slots
    stay at their caps, the oldest taken back and counted."""
    hello = CONNS[0][0][:600]
    drv = AppDriver(nflows=400, port=443, app_flows=64, app_streams=16)
    for f in range(400):
        drv.packet(f, 0, arr(b""), seq=1, flags=0x02)
        drv.packet(f, 0, arr(hello), seq=2, wire_len=len(CONNS[0][0]))
    recs, slots = drv.pools
    assert recs <= 64 and slots <= 16
    assert counter(drv, "wirescore.app_streams_reclaimed") >= 400 - 16
    assert counter(drv, "wirescore.app_flows_reclaimed") >= 400 - 64


@needs_shared
def test_ssh_banners_of_both_sides():
    conns = connections(SSH_PCAP, 22)
    assert conns
    for client, server in conns:
        drv = AppDriver(port=22)
        send(drv, 0, 1, server, range(5, len(server), 5), isn=9000)
        send(drv, 0, 0, client, range(3, len(client), 3))
        evs = list(SshEventFormatter().events(drv.events()["ssh"]))
        rec = drv.end(0)
        assert len(evs) == 1 and drv.events()["ssh"].size == 0
        want = {side: data.split(b"\n")[0].rstrip(b"\r").decode().split("-", 2)
                for side, data in (("client", client), ("server", server))}
        for side, (_, proto, soft) in want.items():
            assert evs[0]["ssh"][side] == {"proto_version": proto,
                                           "software_version": soft.split(" ")[0]}
        assert rec["app_proto"] == SSH and rec["app_ssh_banners"] == 2
        assert rec["app_ssh_proto_version"] == float(want["server"][1])


@needs_shared
def test_one_ssh_banner_is_written_at_the_flow_end_and_a_cut_one_flagged():
    client, server = connections(SSH_PCAP, 22)[0]
    drv = AppDriver(port=22)
    send(drv, 0, 1, server, [], snap=12)
    drv.end(0)
    rec, = drv.events()["ssh"]
    ev = SshEventFormatter().event(rec)["ssh"]
    assert list(ev) == ["server"] and server.startswith(b"SSH-" + ev["server"]["proto_version"]
                                                        .encode() + b"-")
    assert rec["status"] & SSH_BITS["SE_SERVER_CUT"]


@needs_shared
def test_malformed_client_hellos_are_counted_and_give_no_event():
    """nDPI's tls_cipher_lens.pcap: one ClientHello sent five times with the
    cipher_suites length rewritten (0x48 the real one; 0x00, 0x84, 0x85, 0x86 breaking
    RFC 5246's vectors: tlsref.client_hello_defect). The four malformed ones count
    app_layer.error.tls.parser and give no event, whole or in 7-byte segments; the real
    one gives its event and no count."""
    path = SHARED_DATA / "pcaps" / "peer-groundtruth" / "ndpi" / "tls_cipher_lens.pcap"
    hellos = [d.data for d in tlsref.directions(path) if d.dport == 443]
    defects = [tlsref.client_hello_defect(h) for h in hellos]
    assert len(hellos) == 5 and sum(d is None for d in defects) == 1
    for hello, defect in zip(hellos, defects):
        for cuts in ([], range(0, len(hello), 7)):
            drv = AppDriver(port=443)
            send(drv, 0, 0, hello, cuts)
            evs = tls_events(drv)
            drv.end(0)
            evs += tls_events(drv)
            assert counter(drv, "app_layer.error.tls.parser") == (defect is not None)
            assert len(evs) == (defect is None), defect
