"""Coverage-guided fuzz target for the application layer (ext/app/): the stream room,
the pools, the probe table and every protocol room, fed segments and datagrams straight
(wirescore._core.appcore.AppDriver, the inline functions the meter runs).

One input:

    byte 0    bit0: UDP (else TCP); bits1-2: the server port (PORTS: the protocols' own
              and one they are probed on by content only; the first operation's bits5-7,
              unused by it, add 4 x their value to the index while it is in PORTS, so
              PORTS can grow and older inputs keep their port: bank 0 DNS's, 1 Kerberos, LDAP,
              DCE-RPC and HTTP's, 2 TLS's and SSH's, 3 SMB's); bits3-4: summary records
              (1, 2, 4, 64); bits5-6: stream slots (1, 2, 4, 16); bit7: 64-byte budgets
    then      operations until the input ends, each one byte:
                bits0-1 flow (4 flows), bit2 direction (0 client to server),
                bits3-4: 0/1 a packet with payload, 2 a packet without (flags only),
                3 the flow ends (its record is checked, its link starts over)
              a packet: seq delta (int16, big-endian, added to the direction's next
              expected sequence number: overlaps, retransmissions, gaps, reordering),
              TCP flags, captured length (u16 & 0x7ff), bytes cut by the snap length
              (u8; 0: none), then that many payload bytes (fewer if the input ends)

Checks, beyond "no memory error" (ASAN + UBSan under tests/fuzz/run.py): every event
record within its bounds (fuzz_core.check_dns_records; a buffer of 256 events, so that
a segment of many messages also fills it: counted, never overrun), written as EVE by the
Python writer (JSON-encodable) and by the C one (the same bytes:
fuzz_core.check_dns_lines), pools never beyond their size, every ended flow's record within
its units.
"""
from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(TESTS))

import numpy as np  # noqa: E402
from fuzz_core import (check, check_dns_lines, check_dns_records,  # noqa: E402  (the fuzz
                       entry)  # build first)
from fuzz_core import main as fuzz_core_main  # noqa: E402

from wirescore._core.appcore import AppDriver  # noqa: E402
from wirescore.core_names import APP_BUDGETS, APP_PROTO_NAMES, DCERPC_BITS, DNS_NAME  # noqa: E402
from wirescore.outputs.app_events import FORMATTERS  # noqa: E402
from wirescore.msg_names import MAGIC_NAMES  # noqa: E402

HTTP_PEEK = 512      # ext/app/http.pxd: body bytes examined
FIRST_BYTES = 512    # AppDriver's first_bytes (app.first_bytes' default)

PORTS = (53, 5300, 5353, 137,
         88, 389,
         135,
         80,
         443, 4433, 22, 2222,
         445, 139, 4445, 1139,
         )
RECORDS = (1, 2, 4, 64)
SLOTS = (1, 2, 4, 16)
NFLOWS = 4
_WRITERS = {kind: f() for kind, f in FORMATTERS.items()}


def _check_events(drv) -> int:
    n = 0
    for kind, recs in drv.events().items():
        n += len(recs)
        if kind == "dns":
            check_dns_records(recs)
            check_dns_lines(recs)
        if kind == "krb5":
            _check_krb5_records(recs)
        if kind == "dcerpc":
            check_dcerpc_records(recs)
        _check_http(kind, recs)
        if kind == "tls":
            check_tls_records(recs)
        if kind == "ssh":
            check_ssh_records(recs)
        for ev in _WRITERS[kind].events(recs):
            json.dumps(ev)
    return n


def _check_krb5_records(recs) -> None:
    """Kerberos events: names within their fields, a message type that makes an event."""
    for name in ("cname_len", "realm_len", "sname_len"):
        check(bool((recs[name] <= recs.dtype[name.replace("_len", "")].shape[0]).all()),
              f"krb5 {name} beyond its field")
    check(bool(np.isin(recs["msg_type"], (10, 11, 12, 13, 30)).all()), "krb5 msg_type")


#: the PDU types a dcerpc event's request and response sides can hold (0xFF: none)
DCE_REQ_TYPES = {0, 11, 14, 0xFF}
DCE_RES_TYPES = {2, 3, 12, 13, 15, 0xFF}


def check_dcerpc_records(recs) -> None:
    """dcerpc event records within their bounds: at most 8 interfaces, PDU types of the
    side they are on, flags among DCERPC_BITS, a request's fields only with its side."""
    allowed = 0
    for name, bit in DCERPC_BITS.items():
        allowed |= bit if name.startswith("DV_") else 0
    for r in recs:
        check(int(r["n_ifaces"]) <= 8, f"n_ifaces {r['n_ifaces']}")
        check(int(r["req_ptype"]) in DCE_REQ_TYPES, f"req_ptype {r['req_ptype']}")
        check(int(r["res_ptype"]) in DCE_RES_TYPES, f"res_ptype {r['res_ptype']}")
        check(int(r["flags"]) & ~allowed == 0, f"flags {r['flags']}")
        check(not int(r["flags"]) & DCERPC_BITS["DV_REQ"] or int(r["req_ptype"]) == 0,
              "req fields without a request")
        check(int(r["req_ptype"]) != 0xFF or int(r["res_ptype"]) != 0xFF, "an empty event")


def check_tls_records(recs) -> None:
    """Every kept length within its field."""
    for name in ("sni", "ja3", "ja3s", "subject", "issuer", "calpn", "salpn", "serial"):
        cap = recs.dtype[name].shape[0]
        check(bool((recs[name + "_len"] <= cap).all()), f"tls {name}_len beyond its field")


def check_ssh_records(recs) -> None:
    check(bool((recs["proto_len"] <= recs.dtype["proto_version"].shape[1]).all())
          and bool((recs["soft_len"] <= recs.dtype["software"].shape[1]).all()),
          "ssh lengths beyond their fields")


def _check_record(rec: dict) -> None:
    check(0 <= rec["app_proto"] < len(APP_PROTO_NAMES), f"app_proto {rec['app_proto']}")
    check(0 <= rec["app_dns_qname_len_max"] <= DNS_NAME, "qname_len_max beyond DNS_NAME")
    check(rec["app_dns_qname_labels"] <= 128, "more labels than a 255-byte name holds")
    check(0 <= rec["app_dns_qname_entropy"] <= 8, "entropy beyond 8 bits a byte")
    check(rec["app_dns_answers"] >= 0 and rec["app_dns_qnames"] >= 0, "negative counts")
    check(rec["app_dcerpc_faults"] <= rec["app_dcerpc_responses"], "more faults than answers")
    check(rec["app_dcerpc_ctx_over"] <= rec["app_dcerpc_binds"] * 8,
          "more contexts over the map than the binds offered")
    check(0 <= rec["app_http_ua_share"] <= 1, "ua share beyond 0..1")
    check(0 <= rec["app_http_body_magic"] < len(MAGIC_NAMES), "unknown body kind")
    check(min(rec[k] for k in rec if k.startswith("app_http_")) >= 0, "negative http field")
    _check_first_bytes(rec)


def port_of(opt: int, first_op: int) -> int:
    """The server port of an input (module docstring)."""
    k = ((opt >> 1) & 3) + 4 * (first_op >> 5)
    return PORTS[k if k < len(PORTS) else (opt >> 1) & 3]


def _check_first_bytes(rec: dict) -> None:
    """The first-bytes columns (ext/app/first.pxd): within their units, and 0 for a
    flow whose protocol was found."""
    failed = rec["app_proto"] == APP_PROTO_NAMES.index("failed")
    for d in ("toserver", "toclient"):
        n = rec[f"app_first_bytes_{d}"]
        check(0 <= n <= FIRST_BYTES, f"first bytes {n} beyond app.first_bytes")
        check(0 <= rec[f"app_first_entropy_{d}"] <= 8, "first-bytes entropy beyond 0..8")
        check(0 <= rec[f"app_first_printable_{d}"] <= 1, "printable share beyond 0..1")
        check(0 <= rec[f"app_first_magic_{d}"] < len(MAGIC_NAMES), "unknown first-bytes kind")
        check(failed or n == 0, "first-bytes columns on a flow whose protocol was found")
        check(n or rec[f"app_first_entropy_{d}"] == rec[f"app_first_magic_{d}"] == 0,
              "first-bytes statistics without bytes")


def _check_http(kind: str, recs) -> None:
    """HTTP and file events within their bounds (ext/app/http.pxd)."""
    if kind == "http":
        text = recs.dtype["text"].shape[0]
        for r in recs:
            ends = r["field_off"].astype(int) + r["field_len"]
            check(bool((ends <= text).all()), "an http field beyond the text")
            check(int(r["field_len"].sum()) <= text, "http fields overlap")
    elif kind == "fileinfo":
        for r in recs:
            check(r["fname_len"] <= recs.dtype["fname"].shape[0], "file name beyond its room")
            check(r["ctype_len"] <= recs.dtype["ctype"].shape[0], "ctype beyond its room")
            check(r["examined"] <= HTTP_PEEK and r["magic"] < len(MAGIC_NAMES),
                  "file prefix beyond HTTP_PEEK or an unknown kind")
            check(0 <= r["entropy"] <= 8 and 0 <= r["printable"] <= 1, "bytes stats range")


def run_one(data: bytes) -> dict:
    """One input (module docstring)."""
    if len(data) < 2:
        return {}
    opt = data[0]
    udp = bool(opt & 1)
    records, slots = RECORDS[(opt >> 3) & 3], SLOTS[(opt >> 5) & 3]
    budgets = {stem: 64 for stem in APP_BUDGETS} if opt & 0x80 else None
    drv = AppDriver(nflows=NFLOWS, udp=udp, port=port_of(opt, data[1]), app_flows=records,
                    app_streams=slots, budgets=budgets, event_capacity=256)
    nxt = [[1000 + 7919 * f, 2_000_000_000 + 7919 * f] for f in range(NFLOWS)]
    pos, ts, ops, events = 1, 0, 0, 0
    last = drv.counters
    while pos < len(data):
        op = data[pos]
        pos += 1
        flow, d, kind = op & 3, (op >> 2) & 1, (op >> 3) & 3
        ts += 1
        ops += 1
        if kind == 3:
            _check_record(drv.end(flow))
            continue
        if len(data) - pos < 6:
            break
        delta, flags, cap, cut = struct.unpack(">hBHB", data[pos:pos + 6])
        pos += 6
        cap = 0 if kind == 2 else cap & 0x7FF
        payload = np.frombuffer(data[pos:pos + cap], np.uint8).copy()
        pos += len(payload)
        seq = (nxt[flow][d] + delta) & 0xFFFFFFFF
        wire = len(payload) + cut
        drv.packet(flow, d, payload, ts_us=ts, seq=seq, flags=flags, wire_len=wire)
        nxt[flow][d] = (seq + wire + (1 if flags & 0x02 else 0)) & 0xFFFFFFFF
        events += _check_events(drv)
        check(drv.pools[0] <= records and drv.pools[1] <= slots, f"pools {drv.pools}")
        got = drv.counters
        check(bool((got >= last).all()), "a counter went down")
        last = got
    for flow in range(NFLOWS):
        _check_record(drv.end(flow))
    events += _check_events(drv)
    return {"ops": ops, "events": events}


# ---- seeds ---------------------------------------------------------------------------------

def _messages() -> list[tuple[int, bytes]]:
    """(direction, message) of the shipped capture's DNS over UDP."""
    import test_app_dns
    return test_app_dns.MSGS


def _packet(flow: int, d: int, payload: bytes, delta: int = 0, flags: int = 0x18,
            cut: int = 0) -> bytes:
    return bytes([flow | d << 2]) + struct.pack(">hBHB", delta, flags, len(payload), cut) + payload


def seeds() -> dict[str, bytes]:
    """Real DNS messages (zeek-wikipedia.pcap) as UDP datagrams and as TCP streams in
    segments: whole, split, overlapping, with a gap, cut by the snap length; then ended."""
    msgs = _messages()
    out: dict[str, bytes] = {}
    for port in range(4):
        ops = b"".join(_packet(k % NFLOWS, d, m) for k, (d, m) in enumerate(msgs[:8]))
        out[f"udp-port{port}"] = bytes([1 | port << 1 | 3 << 3]) + ops + bytes([0x18])
    stream = b"".join(len(m).to_bytes(2, "big") + m for d, m in msgs if d == 0)[:1500]
    resp = b"".join(len(m).to_bytes(2, "big") + m for d, m in msgs if d == 1)[:1500]
    syn = _packet(0, 0, b"", flags=0x02)
    out["tcp-whole"] = bytes([0x78]) + syn + _packet(0, 0, stream) + _packet(0, 1, resp)
    out["tcp-split"] = bytes([0x78]) + syn + b"".join(
        _packet(0, 0, stream[i:i + 37]) for i in range(0, len(stream), 37))
    out["tcp-overlap"] = bytes([0x78]) + syn + b"".join(
        _packet(0, 0, stream[i:i + 60], delta=-20 if i else 0) for i in range(0, 600, 40))
    out["tcp-gap"] = bytes([0x78]) + syn + _packet(0, 0, stream[:50]) + \
        _packet(0, 0, stream[80:400], delta=30) + _packet(0, 0, stream[50:80], delta=-350)
    out["tcp-snap"] = bytes([0x78]) + syn + _packet(0, 0, stream[:30], cut=40) + \
        _packet(0, 0, stream[70:300]) + _packet(0, 0, b"", flags=0x01)
    out.update(_http_seeds())
    out["tcp-pools"] = bytes([0x00]) + b"".join(
        _packet(f, 0, stream[:120]) for f in range(NFLOWS)) + bytes([0x18, 0x19])
    out.update(_krb5_seeds())
    out.update(dcerpc_seeds())
    out.update(_tls_seeds())
    return out


def dcerpc_seeds() -> dict[str, bytes]:
    """DCE-RPC over TCP on port 135 (PORTS[6]: bits1-2 2, group 1): the psexec capture's epm connection
    (BIND, BIND_ACK, ept_map) and the DCSync capture's drsuapi calls (a 4.8 kB
    response), whole, in pieces (29 and 300 bytes), with a gap inside a PDU and cut at 64 bytes a
    segment. None without the shared captures."""
    import test_app_dcerpc
    from conftest import shared_available
    if not shared_available():
        return {}
    out: dict[str, bytes] = {}
    port135 = 1 << 5                                 # first operation: PORTS[2 + 4]
    for name, capture in (("epm", test_app_dcerpc.PSEXEC), ("drsuapi", test_app_dcerpc.DCSYNC)):
        _, pdus = test_app_dcerpc.connections(capture)[0]
        pdus = pdus[:8]
        syn = bytes([port135]) + struct.pack(">hBHB", 0, 0x02, 0, 0)
        whole = b"".join(_packet(0, d, p[i:i + 1400]) for d, p in pdus   # MSS-sized
                         for i in range(0, len(p), 1400))
        piece = 29 if name == "epm" else 300            # the inputs stay under MAX_LEN
        split = b"".join(_packet(0, d, p[i:i + piece]) for d, p in pdus
                         for i in range(0, len(p), piece))
        d0, p0 = pdus[0]
        gap = _packet(0, d0, p0[:20]) + _packet(0, d0, p0[40:], delta=20) + b"".join(
            _packet(0, d, p[i:i + 1400]) for d, p in pdus[1:] for i in range(0, len(p), 1400))
        snap = b"".join(_packet(0, d, p[:64], cut=max(0, min(255, len(p) - 64)))
                        for d, p in pdus if len(p) <= 64 + 255)
        for kind, ops in (("whole", whole), ("split", split), ("gap", gap), ("snap", snap)):
            out[f"dcerpc-{name}-{kind}"] = bytes([0x78 | 2 << 1]) + syn + ops + bytes([0x18])
    return out


def _krb5_seeds() -> dict[str, bytes]:
    """Real Kerberos messages (tests/test_app_krb5.py's captures, when ../shared is
    there) on port 88 (PORTS[4]: group 1): UDP datagrams, a TCP stream of records whole,
    split and with a gap."""
    import test_app_krb5
    from conftest import shared_available
    if not shared_available():
        return {}
    udp = [m for t, m in test_app_krb5._messages(test_app_krb5.SPRAY) if t == "udp"][:6]
    tcp = [m for _, m in test_app_krb5._messages(test_app_krb5.NFSTREAM)][:5]
    group = 1 << 5                                  # the first operation's port group
    first = lambda pkt: bytes([pkt[0] | group]) + pkt[1:]      # noqa: E731
    ops = b"".join(_packet(k % NFLOWS, k & 1, m) for k, m in enumerate(udp))
    stream = b"".join(len(m).to_bytes(4, "big") + m for m in tcp[:3])
    resp = b"".join(len(m).to_bytes(4, "big") + m for m in tcp[3:5])
    syn = first(_packet(0, 0, b"", flags=0x02))
    return {
        "krb5-udp": bytes([1 | 3 << 3]) + first(ops) + bytes([0x18]),
        "krb5-tcp-whole": bytes([0x78]) + syn + _packet(0, 0, stream) + _packet(0, 1, resp),
        "krb5-tcp-split": bytes([0x78]) + syn + b"".join(
            _packet(0, 0, stream[i:i + 97]) for i in range(0, len(stream), 97)),
        "krb5-tcp-gap": bytes([0x78]) + syn + _packet(0, 0, stream[:300]) +
        _packet(0, 0, stream[340:], delta=40),
    }


def _http_seeds() -> dict[str, bytes]:
    """zeek-wikipedia.pcap's HTTP connections (port 80: PORTS[7]: bits1-2 3, group 1),
    both directions whole, in 300-byte segments and cut by the snap length."""
    import test_app_http
    out = {}
    for k, (client, server) in enumerate(test_app_http.WIKI_STREAMS[:3]):
        client, server = client[:3000], server[:3000]
        syn = _packet(0, 0, b"", flags=0x02) + _packet(0, 1, b"", flags=0x12)
        whole = syn + _packet(0, 0, client) + _packet(0, 1, server)
        split = syn + b"".join(_packet(0, d, data[i:i + 300]) for d, data in
                               ((0, client), (1, server)) for i in range(0, len(data), 300))
        snap = syn + _packet(0, 0, client[:200], cut=40) + _packet(0, 1, server[:200], cut=200)
        for name, ops in (("whole", whole), ("split", split), ("snap", snap)):
            out[f"http-{name}-{k}"] = bytes([0x78 | 3 << 1, ops[0] | 1 << 5]) + ops[1:]
    return out


def _tls_seeds() -> dict[str, bytes]:
    """Real TLS handshakes (tests/data/ja4/browsers-x509.pcapng) and SSH banners (a
    made-up pair in OpenSSH's form) on the TLS/SSH port bank (PORTS[8:12]: the first op byte's
    bits 5-7 = 2): whole, split, with a gap, cut by the snap length."""
    import test_app_tls
    out: dict[str, bytes] = {}
    bank = 2 << 5
    client, server = test_app_tls.CONNS[0]
    client, server = client[:1800], server[:6000]
    syn = _packet(0, 0, b"", flags=0x02)     # its first byte gives way to the bank's
    for port in range(2):
        opt = bytes([port << 1 | 3 << 3 | 3 << 5])
        out[f"tls-port{port}"] = opt + bytes([bank]) + syn[1:] + b"".join(
            _packet(0, 0, client[i:i + 1400]) for i in range(0, len(client), 1400)) + \
            b"".join(_packet(0, 1, server[i:i + 1400]) for i in range(0, len(server), 1400))
        out[f"tls-snap{port}"] = opt + bytes([bank]) + syn[1:] + \
            _packet(0, 0, client[:200], cut=255) + \
            _packet(0, 1, server[:200], cut=255) + _packet(0, 1, server[455:655], cut=255)
        out[f"tls-gap{port}"] = opt + bytes([bank]) + syn[1:] + _packet(0, 0, client) + \
            _packet(0, 1, server[:1000]) + _packet(0, 1, server[2000:4000], delta=1000)
    banners = (b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n", b"SSH-2.0-OpenSSH_8.9\r\n")
    for port in (2, 3):
        opt = bytes([port << 1 | 3 << 3 | 3 << 5])
        out[f"ssh-port{port}"] = opt + bytes([bank]) + syn[1:] + _packet(0, 1, banners[1]) + \
            _packet(0, 0, banners[0][:10]) + _packet(0, 0, banners[0][10:]) + bytes([0x18])
    return out


# ---- libFuzzer entry point ------------------------------------------------------------------

TestOneInput = entry(run_one)  # noqa: N816 (atheris' name)


if __name__ == "__main__":
    fuzz_core_main(sys.argv, TestOneInput)
