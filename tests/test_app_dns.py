"""The application layer's framework with DNS through it (ext/app/): TCP delivery (order,
overlap, retransmission, gaps, snap-length cuts, reordering), the bounded pools and
budgets, detection by content, the flow summary, and the engine's wiring (EVE dns events,
app_proto, outputs.eve.types, on_app, --no-app).

The DNS messages are real: read from the shipped capture zeek-wikipedia.pcap (queries and
responses of one resolver, with answers, an NXDOMAIN); TCP streams are built from them
with RFC 1035's two-byte length prefix and fed through AppDriver segment by segment, as
the meter feeds a packet's payload.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import FIXTURES, need_shared
from meter_feed import drain_to_end, feed_capture
from wirescore._core.appcore import APP_REC_BYTES, APP_SLOT_BYTES, AppDriver
from wirescore._core.decode import decode_one
from wirescore._core.flowtable import COUNTER_NAMES
from wirescore.config import Config
from wirescore.core_names import APP_HOLD, APP_PROTO_NAMES, DNS_BITS
from wirescore.engine import Engine
from wirescore.outputs.eve_dns import DnsEventFormatter

WIKI = FIXTURES / "zeek-wikipedia.pcap"
DNS_HDR_BYTES = 12
DNS = APP_PROTO_NAMES.index("dns")
FAILED = APP_PROTO_NAMES.index("failed")


def udp_dns(path=WIKI) -> list[tuple[int, bytes]]:
    """(direction 0 query / 1 response, message) of every UDP port-53 payload."""
    import pcapy

    reader, out = pcapy.open_offline(str(path)), []
    while True:
        hdr, data = reader.next()
        if hdr is None:
            return out
        res, f, _ = decode_one(np.frombuffer(data, np.uint8).copy(), reader.datalink())
        if res == "ip" and f["proto"] == 17 and 53 in (f["sport"], f["dport"]):
            off = f["payload_off"]
            out.append((0 if f["dport"] == 53 else 1, bytes(data[off:off + f["payload_cap"]])))


MSGS = udp_dns()
QUERIES = [m for d, m in MSGS if d == 0]


def arr(b: bytes) -> np.ndarray:
    return np.frombuffer(b, np.uint8).copy()


def framed(msgs) -> bytes:
    return b"".join(len(m).to_bytes(2, "big") + m for m in msgs)


def counter(drv, name: str) -> int:
    return int(drv.counters[COUNTER_NAMES.index(name)])


def events(drv) -> list[dict]:
    return [e["dns"] for e in DnsEventFormatter().events(drv.events()["dns"])]


def qnames(evs) -> list[str]:
    return [e["queries"][0]["rrname"] for e in evs]


def send(drv, stream: bytes, cuts, d=0, isn=1000, flow=0) -> None:
    """stream's bytes as segments ending at cuts (sorted offsets), after a SYN."""
    drv.packet(flow, d, arr(b""), seq=isn, flags=0x02)
    start = 0
    for end in list(cuts) + [len(stream)]:
        if end > start:
            drv.packet(flow, d, arr(stream[start:end]), seq=isn + 1 + start)
        start = end


def test_real_messages_were_read():
    assert len(MSGS) == 28 and len(QUERIES) == 14


def test_udp_messages_become_events_and_the_flow_summary():
    drv = AppDriver(udp=True)
    for d, m in MSGS[:6]:
        drv.packet(0, d, arr(m))
    evs = events(drv)
    assert [e["type"] for e in evs] == ["request", "response"] * 3
    assert [e["tx_id"] for e in evs] == list(range(6))
    assert qnames(evs) == ["upload.wikimedia.org"] * 2 + \
        ["upload.wikimedia.org.ncsa.uiuc.edu"] * 2 + ["upload.wikimedia.org"] * 2
    assert evs[3]["rcode"] == "NXDOMAIN"
    assert evs[5]["answers"] == [
        {"rrname": "upload.wikimedia.org", "rrtype": "CNAME", "ttl": 124,
         "rdata": "upload.pmtpa.wikimedia.org"},
        {"rrname": "upload.pmtpa.wikimedia.org", "rrtype": "A", "ttl": 2156,
         "rdata": "208.80.152.3"}]
    rec = drv.end(0)
    assert rec["app_proto"] == DNS
    assert (rec["app_dns_queries"], rec["app_dns_responses"], rec["app_dns_answers"],
            rec["app_dns_nxdomain"], rec["app_dns_rcode_other"]) == (3, 3, 2, 1, 0)
    assert rec["app_dns_qname_len_max"] == len("upload.wikimedia.org.ncsa.uiuc.edu")
    assert rec["app_dns_qname_labels"] == 6
    assert 1.9 < rec["app_dns_qnames"] < 2.2          # two distinct names
    assert counter(drv, "app_layer.flow.dns_udp") == 1
    assert counter(drv, "app_layer.tx.dns_udp") == 6


def test_qname_entropy_of_the_leftmost_labels():
    """Entropy of "upload.wikimedia.org.ncsa" (all but the last two labels, no dots)."""
    from collections import Counter
    from math import log2
    drv = AppDriver(udp=True)
    drv.packet(0, 0, arr(QUERIES[1]))
    text = "uploadwikimediaorgncsa"
    want = -sum(c / len(text) * log2(c / len(text)) for c in Counter(text).values())
    assert drv.end(0)["app_dns_qname_entropy"] == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("step", [1, 3, 7, 40, 1 << 16])
def test_tcp_messages_in_any_segmentation(step):
    stream = framed(QUERIES)
    drv = AppDriver()
    send(drv, stream, range(step, len(stream), step))
    assert qnames(events(drv)) == qnames(_udp_events(QUERIES))
    assert counter(drv, "app_layer.flow.dns_tcp") == 1
    assert counter(drv, "app_layer.tx.dns_tcp") == len(QUERIES)
    assert counter(drv, "wirescore.app_gaps") == 0


def _udp_events(msgs) -> list[dict]:
    drv = AppDriver(udp=True)
    for m in msgs:
        drv.packet(0, 0, arr(m))
    return events(drv)


def test_tcp_retransmissions_and_overlaps_are_delivered_once():
    stream, isn = framed(QUERIES[:4]), 5000
    drv = AppDriver()
    drv.packet(0, 0, arr(b""), seq=isn, flags=0x02)
    # every segment 30 bytes, each sent twice, and overlapping the next by 10 bytes
    for start in range(0, len(stream), 20):
        seg = stream[start:start + 30]
        drv.packet(0, 0, arr(seg), seq=isn + 1 + start)
        drv.packet(0, 0, arr(seg), seq=isn + 1 + start)
    assert qnames(events(drv)) == qnames(_udp_events(QUERIES[:4]))
    assert counter(drv, "wirescore.app_gaps") == 0


def test_a_gap_inside_a_message_resynchronises_on_the_next():
    msgs = QUERIES[:3]
    stream = framed(msgs)
    second = 2 + len(msgs[0])                  # where message 2's prefix starts
    lost = (second + 20, second + 30)          # ten bytes of its name
    drv = AppDriver()
    drv.packet(0, 0, arr(b""), seq=0, flags=0x02)
    drv.packet(0, 0, arr(stream[:lost[0]]), seq=1)
    drv.packet(0, 0, arr(stream[lost[1]:]), seq=1 + lost[1])
    evs = drv.events()["dns"]
    assert len(evs) == 2
    assert qnames(events_of(evs)) == [qnames(_udp_events(msgs))[0], qnames(_udp_events(msgs))[2]]
    assert counter(drv, "wirescore.app_gaps") == 1
    assert counter(drv, "wirescore.app_gap_abort") == 0
    assert counter(drv, "wirescore.app_truncated") == 1   # message 2: cut before its question


def events_of(records) -> list[dict]:
    return [e["dns"] for e in DnsEventFormatter().events(records)]


def test_a_gap_inside_the_answers_keeps_the_question_flagged_cut():
    resp = [m for d, m in MSGS if d == 1][2]                # the CNAME + A response
    stream = framed([resp, QUERIES[0]])
    drv = AppDriver()
    drv.packet(0, 1, arr(b""), seq=0, flags=0x12)
    drv.packet(0, 1, arr(stream[:len(resp) - 4]), seq=1)
    drv.packet(0, 1, arr(stream[len(resp):]), seq=1 + len(resp))
    recs = drv.events()["dns"]
    assert len(recs) == 2 and recs[0]["status"] & DNS_BITS["DE_CUT"]
    assert not recs[1]["status"] & DNS_BITS["DE_CUT"]
    assert events_of(recs)[0]["queries"][0]["rrname"] == "upload.wikimedia.org"


def test_a_gap_at_a_message_boundary_ends_the_direction():
    stream = framed(QUERIES[:3])
    first = 2 + len(QUERIES[0])
    drv = AppDriver()
    drv.packet(0, 0, arr(b""), seq=0, flags=0x02)
    drv.packet(0, 0, arr(stream[:first]), seq=1)
    drv.packet(0, 0, arr(stream[first + 2 + len(QUERIES[1]):]),
               seq=1 + first + 2 + len(QUERIES[1]))
    assert len(drv.events()["dns"]) == 1
    assert counter(drv, "wirescore.app_gap_abort") == 1
    assert counter(drv, "app_layer.error.dns_tcp.gap") == 1


def test_a_segment_cut_by_the_snap_length():
    """The captured prefix is read (flagged cut: here its additional section is lost),
    the rest skipped: the next message is whole again."""
    resp = [m for d, m in MSGS if d == 1][2]                # the CNAME + A response
    stream = framed([resp, QUERIES[0]])
    first = 2 + len(resp)
    drv = AppDriver()
    drv.packet(0, 1, arr(b""), seq=0, flags=0x12)
    drv.packet(0, 1, arr(stream[:first - 6]), seq=1, wire_len=first)
    drv.packet(0, 1, arr(stream[first:]), seq=1 + first)
    recs = drv.events()["dns"]
    assert [bool(r["status"] & DNS_BITS["DE_CUT"]) for r in recs] == [True, False]
    assert qnames(events_of(recs)) == ["upload.wikimedia.org"] * 2
    assert counter(drv, "wirescore.app_truncated") == 1


def test_a_txt_answer_cut_by_the_snap_length_keeps_its_captured_bytes():
    """A datagram cut inside a TXT record's data keeps the bytes there as the answer's
    data, flagged DA_DATA_TRUNC and not counted as a record read whole; a record cut in
    its header, or an A record cut in its data, is not kept. The answers are the
    labeled C2 capture's (a PowerShell stager in ~200-byte base64 TXT answers), cut as
    the evaluation mix cuts every packet (256 bytes of frame: 214 of DNS)."""
    path = need_shared() / "pcaps/labeled/windows-ad-attacks/" \
        "CommandandControl__cmds_over_dns_txt_queries_and_reponses.pcap"
    txt = [m for d, m in udp_dns(path) if d == 1 and len(m) > 214 and b"ostrykebs" in m]
    assert len(txt) >= 10
    drv = AppDriver(udp=True)
    for m in txt:
        drv.packet(0, 1, arr(m[:214]), wire_len=len(m))
    recs = drv.events()["dns"]
    assert len(recs) == len(txt)
    trunc = DNS_BITS["DA_DATA_TRUNC"]
    for r, m in zip(recs, txt):
        assert r["status"] & DNS_BITS["DE_CUT"]
        assert (r["n_answers"], r["answers"]) == (1, 0)
        assert r["an_flags"][0] & trunc
        off, n = int(r["an_data_off"][0]), int(r["an_data_len"][0])
        kept = r["text"][off:off + n].tobytes()
        assert 100 < n < len(m) and m[:214].endswith(kept)   # the bytes up to the cut
    whole = [m for m in txt if len(m) < 400][0]
    drv = AppDriver(udp=True)
    drv.packet(0, 1, arr(whole), wire_len=len(whole))
    rec = drv.events()["dns"][0]
    assert (rec["n_answers"], rec["answers"]) == (1, 1)
    assert not rec["an_flags"][0] & trunc and not rec["status"] & DNS_BITS["DE_CUT"]
    a_resp = [m for d, m in MSGS if d == 1][2]              # the CNAME + A response
    one_whole = 0
    for cut in range(len(a_resp) - 1, DNS_HDR_BYTES, -1):
        drv = AppDriver(udp=True)
        drv.packet(0, 1, arr(a_resp[:cut]), wire_len=len(a_resp))
        recs = drv.events()["dns"]
        if len(recs) and recs[0]["answers"] == 1:           # the A record cut
            one_whole += 1
            assert recs[0]["status"] & DNS_BITS["DE_CUT"] and recs[0]["n_answers"] == 1
    assert one_whole >= 16                                  # its header and data


def test_a_late_segment_inside_a_gap_is_dropped_and_counted():
    stream = framed(QUERIES[:3])
    first = 2 + len(QUERIES[0])
    drv = AppDriver()
    drv.packet(0, 0, arr(b""), seq=0, flags=0x02)
    drv.packet(0, 0, arr(stream[:first + 10]), seq=1)
    drv.packet(0, 0, arr(stream[first + 30:]), seq=1 + first + 30)
    drv.packet(0, 0, arr(stream[first + 10:first + 30]), seq=1 + first + 10)
    assert counter(drv, "wirescore.app_reordered") == 1
    assert counter(drv, "wirescore.app_gaps") == 1
    assert counter(drv, "wirescore.app_gap_abort") == 0
    assert len(drv.events()["dns"]) == 2          # the first and third messages


def test_detection_is_by_content_with_the_port_a_hint():
    dns_elsewhere = AppDriver(udp=True, port=5300)
    dns_elsewhere.packet(0, 0, arr(QUERIES[0]))
    assert dns_elsewhere.end(0)["app_proto"] == DNS
    http_on_53 = AppDriver(port=53)
    send(http_on_53, b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n", [])
    assert http_on_53.end(0)["app_proto"] == APP_PROTO_NAMES.index("http")
    other_on_53 = AppDriver(port=53)
    send(other_on_53, b"get / http/1.1\r\nhost: example.org\r\n\r\n", [])
    assert other_on_53.end(0)["app_proto"] == FAILED
    assert counter(other_on_53, "app_layer.flow.failed_tcp") == 1
    for port in (5353, 5355, 137):      # mDNS, LLMNR, NBNS: their own protocols
        other = AppDriver(udp=True, port=port)
        other.packet(0, 0, arr(QUERIES[0]))
        assert other.end(0)["app_proto"] == FAILED


def test_the_record_pool_is_bounded_and_takes_back_the_oldest():
    drv = AppDriver(nflows=6, udp=True, app_flows=4)
    for flow in range(6):
        drv.packet(flow, 0, arr(QUERIES[flow]), ts_us=flow)
    assert drv.pools[0] == 4
    assert counter(drv, "wirescore.app_flows_reclaimed") == 2
    lost = [drv.end(f) for f in range(6)]
    assert [r["app_dns_queries"] for r in lost] == [0, 0, 1, 1, 1, 1]
    assert all(r["app_proto"] == DNS for r in lost)         # the protocol stays known


def test_the_stream_pool_is_bounded_and_takes_back_the_oldest():
    stream = framed(QUERIES[:2])
    drv = AppDriver(nflows=3, app_streams=2)
    for flow in range(3):                  # each flow: its first message and half the next
        send(drv, stream[:2 + len(QUERIES[0]) + 8], [], flow=flow)
    assert drv.pools[1] == 2
    assert counter(drv, "wirescore.app_streams_reclaimed") == 1
    assert len(drv.events()["dns"]) == 3


def test_the_budget_ends_a_direction():
    stream = framed(QUERIES)
    drv = AppDriver(budgets={"dns_tcp": 100})
    send(drv, stream, range(20, len(stream), 20))
    n = len(drv.events()["dns"])
    assert 0 < n < len(QUERIES)
    assert counter(drv, "wirescore.app_budget_exhausted") == 1
    with pytest.raises(ValueError, match="unknown app budget"):
        AppDriver(budgets={"dns": 1})


def test_pool_bytes_are_what_the_docs_quote():
    assert APP_SLOT_BYTES < 2 * APP_HOLD + 2176 + 256     # + APP_STATE_BYTES (TLS's event)
    assert APP_REC_BYTES <= 80


# ---- the engine ---------------------------------------------------------------------------

def run(tmp_path, **overrides):
    cfg = Config.load(overrides={"detect.enabled": False, **overrides})
    got = []
    Engine(cfg, log_dir=tmp_path, on_app=lambda kind, recs, evs: got.append((kind, evs))
           ).run(str(WIKI))
    lines = [json.loads(line) for line in (tmp_path / "eve.json").read_text().splitlines()]
    return lines, got


def test_the_engine_writes_dns_events_and_app_proto(tmp_path):
    lines, got = run(tmp_path)
    dns = [e for e in lines if e["event_type"] == "dns"]
    assert len(dns) == len(MSGS)               # NBNS and LLMNR on other ports are not DNS
    assert [e for kind, evs in got if kind == "dns" for e in evs] == dns
    flows = {e["flow_id"]: e for e in lines if e["event_type"] == "flow"}
    assert all(flows[e["flow_id"]]["app_proto"] == "dns" for e in dns)
    assert {f.get("app_proto") for f in flows.values()} == {"dns", "http", "failed", None}


def test_eve_types_selects_what_eve_json_holds(tmp_path):
    lines, got = run(tmp_path, **{"outputs.eve.types": "flow,stats"})
    assert {e["event_type"] for e in lines} == {"flow", "stats"}
    assert got                                  # callbacks get every type


def test_an_unknown_eve_type_is_refused_in_one_line(tmp_path):
    from wirescore.errors import WirescoreError
    with pytest.raises(WirescoreError, match="outputs.eve.types: unknown event type 'dnsx'"):
        run(tmp_path, **{"outputs.eve.types": "flow,dnsx"})


def test_no_app_leaves_the_application_layer_out(tmp_path):
    lines, got = run(tmp_path, **{"app.enabled": False})
    assert not got and not [e for e in lines if e["event_type"] == "dns"]
    assert not [e for e in lines if "app_proto" in e]


def _meter_run(path, drain_app: bool, **kw):
    """A capture through a FlowMeter directly (as test_core does): (records, events)."""
    from wirescore._core.flowtable import FlowMeter

    out, events = [], [0]

    def after_feed(meter):
        if drain_app:
            events[0] += len(meter.drain_app()["dns"])
        out.append(meter.drain())

    meter = feed_capture(path, lambda dlt: FlowMeter(dlt, **kw), after_feed)
    out += drain_to_end(meter)
    return np.concatenate(out), events[0]


def test_a_meter_that_does_not_drain_app_events_is_never_stalled():
    """FlowMeter keeps no events unless asked (app_events=True, then drain_app() after
    every feed(), as MeterStage does): the public mix's 4,000-odd DNS messages, more than
    an event buffer holds, run through both ways to the same app columns."""
    data = need_shared()
    mix = data / "eval" / "mix-public.pcap"
    plain, _ = _meter_run(mix, False)
    kept, events = _meter_run(mix, True, app_events=True, app_event_capacity=512)
    assert events > 4000
    assert events == int((kept["app_dns_queries"] + kept["app_dns_responses"]).sum())
    for col in (c for c in plain.dtype.names if c.startswith("app_")):
        assert np.array_equal(plain[col], kept[col]), col
