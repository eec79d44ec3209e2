"""Coverage-guided fuzz target for the application layer (ext/app/): the stream room,
the pools, the probe table and every protocol room, fed segments and datagrams straight
(wirescore._core.appcore.AppDriver, the inline functions the meter runs).

One input:

    byte 0    bit0: UDP (else TCP); bits1-2: the server port (PORTS: the protocols' own
              and one they are probed on by content only; bits5-7 of byte 1 pick
              the bank of four ports: 0 DNS's, 1 TLS's and SSH's); bits3-4: summary records
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
                       count_input)                                # build first)
from fuzz_core import main as fuzz_core_main  # noqa: E402

from wirescore._core.appcore import AppDriver  # noqa: E402
from wirescore.core_names import APP_PROTO_NAMES, DNS_NAME  # noqa: E402
from wirescore.outputs.app_events import FORMATTERS  # noqa: E402

PORTS = (53, 5300, 5353, 137,
         443, 4433, 22, 2222)
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
        if kind == "tls":
            check_tls_records(recs)
        if kind == "ssh":
            check_ssh_records(recs)
        for ev in _WRITERS[kind].events(recs):
            json.dumps(ev)
    return n


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


def run_one(data: bytes) -> dict:
    """One input (module docstring)."""
    if len(data) < 2:
        return {}
    opt = data[0]
    udp = bool(opt & 1)
    records, slots = RECORDS[(opt >> 3) & 3], SLOTS[(opt >> 5) & 3]
    budgets = {"dns_tcp": 64, "dns_udp": 64, "tls": 64, "ssh": 64} if opt & 0x80 else None
    port = PORTS[((data[1] >> 5) * 4 + ((opt >> 1) & 3)) % len(PORTS)]
    drv = AppDriver(nflows=NFLOWS, udp=udp, port=port, app_flows=records,
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
    out["tcp-pools"] = bytes([0x00]) + b"".join(
        _packet(f, 0, stream[:120]) for f in range(NFLOWS)) + bytes([0x18, 0x19])
    out.update(_tls_seeds())
    return out


def _tls_seeds() -> dict[str, bytes]:
    """Real TLS handshakes (tests/data/ja4/browsers-x509.pcapng) and SSH banners (a
    made-up pair in OpenSSH's form) on the TLS/SSH port bank (the first op byte's
    bits 5-7 = 1): whole, split, with a gap, cut by the snap length."""
    import test_app_tls
    out: dict[str, bytes] = {}
    bank = 1 << 5
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

def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    count_input()
    run_one(data)


if __name__ == "__main__":
    fuzz_core_main(sys.argv, TestOneInput)
