"""ARP in the host context (ext/arp.pxd) and its profiles (rules/arp-scan.yaml 9100301,
rules/arp-spoof.yaml 9100302).

- the three labelled ARP attacks of the shared set alert, on the attacker, through a
  whole `wirescore run` (EVE alert with Suricata's `arp` object, a PCAP snippet of the
  sender's ARP frames, every line valid against Suricata's schema);
- no ARP alert on any other shared capture (the whole set, the evaluation mix included,
  is the negative: the captures that hold ARP are listed and counted);
- the decoder: ARP frames it does not read (not IPv4 over Ethernet, cut short) are
  non-IP counted by reason (Suricata's decoder.event.arp.*), the others requests and
  replies, over Ethernet, 802.1Q/QinQ and SLL;
- the binding rules on real frames: what is a change and what is not (probes, the same
  MAC again, a stale binding, virtual router MACs);
- bounds: a flood of distinct senders keeps both tables at their size, every key pushed
  out while live counted.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, need_shared, read_eve, run_wirescore, shared_available
from wirescore.capture import open_source
from wirescore.core_names import COUNTER_NAMES

SCANS = "pcaps/labeled/scans"
ATTACKS = {
    # capture: (signature, sender MAC, sender IP of the alert)
    "sgr-hs-arpScan.pcap": (9100301, "00:0c:29:20:a8:7f", "10.0.0.128"),
    "slips-test8-arp-scan.pcap": (9100301, "50:ed:3c:39:bc:d9", "192.168.1.247"),
    "sgr-na-arpSpoofing.pcap": (9100302, "00:e0:4d:3c:25:7b", "10.0.0.157"),
}
ARP_RULES = [REPO / "rules" / "arp-scan.yaml", REPO / "rules" / "arp-spoof.yaml"]
DLT_EN10MB, DLT_LINUX_SLL = 1, 113


def frames(path: Path) -> list[tuple[int, bytes]]:
    """(µs, frame bytes) of every frame of a capture."""
    src = open_source(str(path), bpf=None, batch_size=4096, timeout_ms=100)
    out = []
    try:
        for data, meta, _ in src.batches():
            buf = bytes(data)
            for sec, usec, off, cap in meta.tolist():
                out.append((sec * 1_000_000 + usec, buf[off:off + cap]))
    finally:
        src.close()
    return out


def feed(meter, items, linktype=DLT_EN10MB):
    """Feed (µs, frame) pairs; returns the ARP records."""
    data = b"".join(f for _, f in items)
    meta = np.zeros((len(items), 4), dtype=np.uint32)
    off = 0
    for k, (ts, f) in enumerate(items):
        meta[k] = (ts // 1_000_000, ts % 1_000_000, off, len(f))
        off += len(f)
    recs = []
    i = 0
    while i < len(items):
        i = meter.feed(np.frombuffer(data, dtype=np.uint8), meta, i, linktype)
        recs.append(meter.drain_arp())
        meter.drain()
    return np.concatenate(recs) if recs else np.empty(0)


def counters(meter) -> dict:
    return dict(zip(COUNTER_NAMES, meter.counters.tolist()))


def meter(rows=1024):
    from wirescore._core.flowtable import FlowMeter

    return FlowMeter(DLT_EN10MB, app=False, context=False, arp_hosts=rows)


def arp_frame(op, smac, sip, tmac, tip, eth_src=None) -> bytes:
    """An Ethernet ARP frame built on the layout of the spoofing capture's first frame
    (its bytes, the fields replaced)."""
    data = need_shared()
    base = frames(data / SCANS / "sgr-na-arpSpoofing.pcap")[0][1]
    mac = bytes.fromhex
    ip = lambda t: bytes(int(x) for x in t.split("."))     # noqa: E731
    body = (base[14:20] + op.to_bytes(2, "big") + mac(smac) + ip(sip) + mac(tmac) + ip(tip))
    return mac("ffffffffffff") + mac(eth_src or smac) + base[12:14] + body + base[42:]


# ---------------------------------------------------------------- the labelled attacks

@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_labelled_arp_attack_alerts(name, tmp_path):
    data = need_shared()
    sid, mac, ip = ATTACKS[name]
    run_wirescore("run", "-r", data / SCANS / name, "-l", tmp_path)
    events = read_eve(tmp_path)
    alerts = [e for e in events if e["event_type"] == "alert"]
    arp_alerts = [a for a in alerts if a["alert"]["signature_id"] in (9100301, 9100302)]
    assert [a["alert"]["signature_id"] for a in arp_alerts] == [sid]
    a = arp_alerts[0]
    assert (a["src_ip"], a["arp"]["src_mac"], a["arp"]["src_ip"]) == (ip, mac, ip)
    assert a["arp"]["hw_type"] == "ethernet" and a["arp"]["proto_type"] == "ipv4"
    assert a["alert"]["metadata"]["wirescore_unit"] == ["arp"]
    if sid == 9100301:
        # alerted at the request that crosses the floor (64 distinct targets), not later
        assert a["arp"]["opcode"] == "request"
        feats = a["alert"]["metadata"]["wirescore_features"][0]
        assert feats.startswith("arp.sender_targets=")
        assert 63 < float(feats.split("=")[1].split()[0]) < 80
    else:
        # 10.0.0.157 was learnt at b0:7f:b9:4e:f0:9c from the first reply's target fields
        assert a["arp"]["opcode"] == "reply"
        assert a["alert"]["metadata"]["wirescore_arp"] == [
            "10.0.0.157 claimed by 00:e0:4d:3c:25:7b, held by b0:7f:b9:4e:f0:9c "
            "0.000 s before"]
    snippet = frames(tmp_path / a["capture_file"])
    assert snippet and all(f[12:14] == b"\x08\x06" and f[22:28] == bytes.fromhex(
        mac.replace(":", "")) for _, f in snippet)
    stats = [e for e in events if e["event_type"] == "stats"][-1]["stats"]
    assert stats["decoder"]["arp"] == sum(1 for _, f in frames(data / SCANS / name)
                                          if f[12:14] == b"\x08\x06")


def test_arp_alerts_valid_against_schema(tmp_path):
    data = need_shared()
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((data / "suricata-eve-schema.json").read_text())
    for name in ATTACKS:
        run_wirescore("run", "-r", data / SCANS / name, "-l", tmp_path / name)
        for e in read_eve(tmp_path / name):
            jsonschema.validate(e, schema)


def test_no_arp_alert_on_any_other_shared_capture():
    """The whole shared set minus the three attacks: ARP records through the two
    profiles exactly as a run scores them (FlowMeter -> Detector.process_arp)."""
    from wirescore.detect import Detector
    from wirescore.rules import load_paths
    import sys

    data = need_shared()
    sys.path.insert(0, str(REPO / "tests" / "golden"))
    from make_golden import captures

    with_arp, alerted = [], {}
    for path in captures(data):
        try:
            src = open_source(str(path), bpf=None, batch_size=4096, timeout_ms=100)
        except Exception:
            continue                     # refused captures: test_golden holds their errors
        det = Detector(load_paths([str(p) for p in ARP_RULES]))
        m, n = None, 0
        try:
            for buf, meta, lt in src.batches():
                if m is None:
                    from wirescore._core.flowtable import FlowMeter
                    m = FlowMeter(src.linktype, app=False, context=False, arp_hosts=1 << 14)
                i = 0
                while i < meta.shape[0]:
                    i = m.feed(buf, meta, i, lt)
                    recs = m.drain_arp()
                    m.drain()
                    n += len(recs)
                    for _, a in det.process_arp(recs):
                        alerted.setdefault(path.name, []).append(a.profile.id)
        except Exception:
            pass                         # a damaged capture: what was read still counts
        finally:
            src.close()
        if n:
            with_arp.append(path.name)
    assert sorted(alerted) == sorted(ATTACKS), alerted
    assert alerted == {name: [sid] for name, (sid, _, _) in ATTACKS.items()}
    negatives = sorted(set(with_arp) - set(ATTACKS))
    # 23 captures with benign ARP (routers, gratuitous ARP, probes, VLAN and SLL2
    # frames, the evaluation mix's 1,172 ARP frames) and none alerts
    assert len(negatives) == 23, negatives
    assert "mix-public.pcap" in negatives


# ---------------------------------------------------------------- the decoder

def test_decoder_counts_good_and_bad_arp():
    from wirescore._core.decode import decode_one

    good = arp_frame(1, "020000000001", "192.0.2.1", "000000000000", "192.0.2.2")
    names = {k: i for i, k in enumerate(COUNTER_NAMES)}
    res, _, c = decode_one(good, DLT_EN10MB)
    assert res == "nonip" and c[names["wirescore.arp_requests"]] == 1
    assert c[names["decoder.arp"]] == 1 and c[names["wirescore.nonip"]] == 1
    cases = {
        "decoder.event.arp.unsupported_hardware": good[:14] + b"\x00\x06" + good[16:],
        "decoder.event.arp.unsupported_protocol": good[:16] + b"\x86\xdd" + good[18:],
        "decoder.event.arp.invalid_hardware_size": good[:18] + b"\x08" + good[19:],
        "decoder.event.arp.invalid_protocol_size": good[:19] + b"\x10" + good[20:],
        "decoder.event.arp.unsupported_opcode": good[:20] + b"\x00\x03" + good[22:],
        "decoder.event.arp.pkt_too_small": good[:14 + 27],
    }
    for name, frame in cases.items():     # non-IP still, counted by why it is not read
        res, _, c = decode_one(frame, DLT_EN10MB)
        assert res == "nonip", name
        assert c[names[name]] == 1 and c[names["decoder.invalid"]] == 0, name
        assert c[names["decoder.arp"]] == 1 and c[names["wirescore.nonip"]] == 1, name
        assert c[names["wirescore.arp_requests"]] + c[names["wirescore.arp_replies"]] == 0
    for cut in range(14, 14 + 28):        # every truncation is counted, never read past
        res, _, c = decode_one(good[:cut], DLT_EN10MB)
        assert res == "nonip" and c[names["decoder.event.arp.pkt_too_small"]] == 1


def test_arp_over_vlan_and_sll():
    from wirescore._core.flowtable import FlowMeter

    good = arp_frame(2, "020000000001", "192.0.2.1", "020000000002", "192.0.2.2")
    tagged = good[:12] + b"\x81\x00\x00\x2a" + good[12:]
    qinq = good[:12] + b"\x88\xa8\x00\x07\x81\x00\x00\x2a" + good[12:]
    m = meter()
    recs = feed(m, [(1_000_000, good), (1_000_001, tagged), (1_000_002, qinq)])
    assert recs["op"].tolist() == [2, 2, 2]
    assert recs["vlan0"].tolist() == [0, 42, 7]
    # Linux cooked capture: 16-byte header, the protocol at 14
    sll = b"\x00\x04\x00\x01\x00\x06" + good[6:12] + b"\x00\x00" + b"\x08\x06" + good[14:]
    m = FlowMeter(DLT_LINUX_SLL, app=False, context=False, arp_hosts=64)
    recs = feed(m, [(1_000_000, sll)], DLT_LINUX_SLL)
    assert bytes(recs["sender_ip"][0][:4]) == bytes([192, 0, 2, 1])
    assert bytes(recs["target_mac"][0]) == bytes.fromhex("020000000002")


# ---------------------------------------------------------------- the binding rules

A, B, C = "020000000001", "020000000002", "020000000003"
VRRP, HSRP = "00005e000107", "00000c07ac01"


def changes(items) -> list[int]:
    return feed(meter(), items)["binding_change"].tolist()


def test_a_second_mac_claiming_a_fresh_binding_is_a_change():
    s = 1_000_000
    recs = feed(meter(), [(s, arp_frame(2, A, "192.0.2.1", B, "192.0.2.2")),
                          (s + 5 * s, arp_frame(2, C, "192.0.2.1", B, "192.0.2.2"))])
    assert recs["binding_change"].tolist() == [0, 1]
    assert bytes(recs["prior_mac"][1]) == bytes.fromhex(A)
    assert recs["prior_age_s"][1] == pytest.approx(5.0)


def test_what_is_not_a_change():
    s = 1_000_000
    # the same MAC again (a gratuitous ARP)
    assert changes([(s, arp_frame(1, A, "192.0.2.1", "000000000000", "192.0.2.1")),
                    (2 * s, arp_frame(1, A, "192.0.2.1", "000000000000", "192.0.2.1"))]) \
        == [0, 0]
    # a probe from 0.0.0.0 (RFC 5227) claims nothing, whoever holds the target
    assert changes([(s, arp_frame(2, A, "192.0.2.1", B, "192.0.2.2")),
                    (2 * s, arp_frame(1, C, "0.0.0.0", "000000000000", "192.0.2.1")),
                    (3 * s, arp_frame(2, A, "192.0.2.1", B, "192.0.2.2"))]) == [0, 0, 0]
    # a binding older than 120 s: the address moved (DHCP), no spoof
    assert changes([(s, arp_frame(2, A, "192.0.2.1", B, "192.0.2.2")),
                    (122 * s, arp_frame(2, C, "192.0.2.1", B, "192.0.2.2"))]) == [0, 0]
    # a router group's virtual MAC taking the address over, and back
    for virtual in (VRRP, HSRP):
        assert changes([(s, arp_frame(2, A, "192.0.2.1", B, "192.0.2.2")),
                        (2 * s, arp_frame(2, virtual, "192.0.2.1", B, "192.0.2.2")),
                        (3 * s, arp_frame(2, A, "192.0.2.1", B, "192.0.2.2"))]) == [0, 0, 0]


def test_a_reply_target_teaches_the_binding():
    s = 1_000_000
    # B answers A's request (target fields: A's own), then C claims A's address
    assert changes([(s, arp_frame(2, B, "192.0.2.2", A, "192.0.2.1")),
                    (2 * s, arp_frame(2, C, "192.0.2.1", B, "192.0.2.2"))]) == [0, 1]
    # a request's target fields (zero MAC) teach nothing
    assert changes([(s, arp_frame(1, B, "192.0.2.2", "000000000000", "192.0.2.1")),
                    (2 * s, arp_frame(2, C, "192.0.2.1", B, "192.0.2.2"))]) == [0, 0]


def test_sender_targets_count_distinct_requests():
    s = 1_000_000
    items = [(s + k, arp_frame(1, A, "192.0.2.1", "000000000000", f"192.0.2.{10 + k % 5}"))
             for k in range(50)]
    recs = feed(meter(), items)
    assert recs["sender_targets"].max() == pytest.approx(5.0, abs=0.2)
    # a gratuitous request counts no target; probes (sender 0.0.0.0) count for the
    # sender (MAC, 0.0.0.0): a sweep of probes is a scan too
    recs = feed(meter(), [(s, arp_frame(1, A, "192.0.2.1", "000000000000", "192.0.2.1"))]
                + [(s + k, arp_frame(1, A, "0.0.0.0", "000000000000", f"192.0.2.{k}"))
                   for k in range(1, 101)])
    assert recs["sender_targets"][0] == 0.0
    assert recs["sender_targets"][1] == pytest.approx(1.0, abs=0.01)
    assert 80 < recs["sender_targets"][-1] < 120        # 100 distinct, within ~10 %


# ---------------------------------------------------------------- bounds

def test_flood_of_distinct_senders_stays_in_the_tables():
    """N distinct (MAC, IP) senders, 1 µs apart (every key live), into tables of ROWS
    rows: each new sender past the first lap pushes out a live one and is counted, in
    both tables; the records keep coming, one per frame."""
    rows, n = 1024, 20_000
    s = 1_000_000
    items = []
    for k in range(n):
        mac = f"02{k:010x}"
        ip = f"10.{(k >> 16) & 255}.{(k >> 8) & 255}.{k & 255}"
        items.append((s + k, arp_frame(1, mac, ip, "000000000000", "10.255.255.254")))
    m = meter(rows)
    recs = feed(m, items)
    c = counters(m)
    assert len(recs) == n and c["wirescore.arp_requests"] == n
    assert c["wirescore.arp_senders_replaced"] == n - rows
    assert c["wirescore.arp_bindings_replaced"] == n - rows
    assert c["wirescore.arp_binding_changes"] == 0
    assert recs["sender_targets"].max() == pytest.approx(1.0, abs=0.01)   # one bit of 128
