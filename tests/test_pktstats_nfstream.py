"""The records' per-packet statistics (ext/pktstats.pxd, the pkt_* fields) and their
per-direction gap statistics against NFStream's statistical analysis, on NFStream's own
regression captures (../shared/data/pcaps/peer-groundtruth/nfstream/).

NFStream (`NFStreamer(statistical_analysis=True, accounting_mode=3)`: packet sizes as
L4 payload bytes, which is what the core's payload lengths are; its default mode 0 is
the frame's length) gives per direction and bidirectionally min, max, mean and sample
standard deviation of the sizes and of the inter-arrival times (piat). Flows are matched
as tests/test_splt_nfstream.py matches them (NFStream's flow definition for the core:
idle timeout 120 s for every protocol, no end at a TCP close; key: endpoints, protocol,
first packet ms) and only keys that are unique on both sides are compared.

- sizes: equal (a float's rounding aside; TCP, UDP, ICMP: see PROTOCOLS): min, max and mean exactly; the sample
  standard deviation from the record's population one;
- gaps: NFStream keeps packet times in whole milliseconds and subtracts them, so each of
  its gaps is within 1 ms of the core's (µs) gap / 1000: min, max and mean within 1 ms,
  the sample standard deviation within sqrt(n / (n - 1)) ms of n gaps (the gap vectors
  differ by less than 1 ms in each entry; a standard deviation is a seminorm).
  Bidirectionally these are the new pkt_iat_* fields, per direction the record's
  iat_*_toserver / _toclient.
"""
from __future__ import annotations

import collections
import ipaddress
import math
from pathlib import Path

import numpy as np
import pytest

nfstream = pytest.importorskip("nfstream", reason="NFStream is not installed "
                               "(pip install 'wirescore[test]')")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pcaps"
NFDIR = SHARED / "peer-groundtruth" / "nfstream"
CAPTURES = ("iphone.pcap", "skype.pcap", "bittorrent.pcap", "android.pcap", "quic.pcap",
            "1kxun.pcap", "alexa-app.pcapng", "viber.pcap", "pps.pcap")
#: protocols compared: NFStream's payload of another protocol (IGMP, ...) is 0, the
#: core's the whole IP payload (port-less protocols, catalog payload_bytes)
PROTOCOLS = (6, 17, 1, 58)

pytestmark = pytest.mark.skipif(not NFDIR.is_dir(), reason=f"{NFDIR} not present "
                                "(../shared is not checked out)")


def _records(path: Path) -> np.ndarray:
    from wirescore._core.flowtable import FlowMeter
    from wirescore.capture import open_source

    source = open_source(str(path))
    meter = FlowMeter(source.linktype, pktstats=True, context=False, app=False,
                      timeouts=[120.0] * 9, active_timeout=1800.0, tcp_close=False)
    out = []
    for data, meta, linktype in source.batches(prefetch=0):
        i = 0
        while i < len(meta):
            i = meter.feed(data, meta, i, linktype)
            out.append(meter.drain())
    while meter.shutdown():
        out.append(meter.drain())
    out.append(meter.drain())
    return np.concatenate(out)


def _sample(pop_std: float, n: int) -> float:
    return pop_std * math.sqrt(n / (n - 1)) if n >= 2 else 0.0


def ours(path: Path) -> dict:
    """{key: {statistic name in NFStream's words: value}} of the core's records."""
    recs = _records(path)
    out: dict = collections.defaultdict(list)
    for r in recs:
        v = int(r["ip_version"])

        def addr(b):
            return str(ipaddress.ip_address(bytes(b[:4]) if v == 4 else bytes(b)))
        key = (addr(r["src_addr"]), int(r["src_port"]), addr(r["dest_addr"]),
               int(r["dest_port"]), int(r["proto"]), int(r["start_us"]) // 1000)
        ns, nc = int(r["pkts_toserver"]), int(r["pkts_toclient"])
        n = ns + nc
        s = {"bidirectional_min_ps": r["pkt_payload_min"],
             "bidirectional_max_ps": r["pkt_payload_max"],
             "bidirectional_mean_ps": (r["payload_bytes_toserver"]
                                       + r["payload_bytes_toclient"]) / n,
             "bidirectional_stddev_ps": _sample(r["pkt_payload_std"], n)}
        for d, side, k in (("src2dst", "toserver", ns), ("dst2src", "toclient", nc)):
            if k:
                s.update({f"{d}_min_ps": r[f"pkt_payload_min_{side}"],
                          f"{d}_max_ps": r[f"pkt_payload_max_{side}"],
                          f"{d}_mean_ps": r[f"payload_bytes_{side}"] / k,
                          f"{d}_stddev_ps": _sample(r[f"pkt_payload_std_{side}"], k)})
        gaps = {"bidirectional": (n, r["pkt_iat_min"], r["pkt_iat_max"],
                                  r["duration"] * 1e6 / (n - 1) if n > 1 else 0.0,
                                  r["pkt_iat_std"])}
        for d, side, k in (("src2dst", "toserver", ns), ("dst2src", "toclient", nc)):
            gaps[d] = (k, r[f"iat_min_{side}"], r[f"iat_max_{side}"], r[f"iat_mean_{side}"],
                       r[f"iat_std_{side}"])
        for d, (k, lo, hi, mean, std) in gaps.items():
            if k >= 2:
                s.update({f"{d}_min_piat_ms": lo / 1000, f"{d}_max_piat_ms": hi / 1000,
                          f"{d}_mean_piat_ms": mean / 1000})
            if k >= 3:
                s[f"{d}_stddev_piat_ms"] = _sample(std, k - 1) / 1000
        out[key].append({name: float(x) for name, x in s.items()})
    return out


def theirs(path: Path) -> dict:
    frame = nfstream.NFStreamer(source=str(path), statistical_analysis=True,
                                accounting_mode=3, n_dissections=0).to_pandas()
    out: dict = collections.defaultdict(list)
    for x in frame.to_dict("records"):
        key = (x["src_ip"], int(x["src_port"]), x["dst_ip"], int(x["dst_port"]),
               int(x["protocol"]), int(x["bidirectional_first_seen_ms"]))
        out[key].append(x)
    return out


def compare(path: Path) -> tuple[int, int, list]:
    """(flows compared, values compared, the differences beyond the bounds)."""
    a, b = ours(path), theirs(path)
    keys = [k for k in a if len(a[k]) == 1 and len(b.get(k, ())) == 1
            and k[4] in PROTOCOLS]
    values, bad = 0, []
    for k in keys:
        mine, ref = a[k][0], b[k][0]
        for name, value in mine.items():
            want = float(ref[name])
            if "piat" not in name:
                ok = value == pytest.approx(want, rel=1e-9, abs=1e-9)
            elif "stddev" in name:
                gaps = (int(ref[name.replace("stddev_piat_ms", "packets")]) - 1)
                ok = abs(value - want) <= math.sqrt(gaps / (gaps - 1)) + 1e-9
            else:
                ok = abs(value - want) <= 1 + 1e-9
            values += 1
            if not ok:
                bad.append((k, name, value, want))
    return len(keys), values, bad


@pytest.mark.parametrize("name", CAPTURES)
def test_packet_statistics_equal_nfstream(name):
    path = NFDIR / name
    flows, values, bad = compare(path)
    assert flows >= 5 and values >= 8 * flows, (flows, values)
    assert not bad, f"{name}: {len(bad)} of {values} values differ; first: {bad[:3]}"


def test_parity_numbers(capsys):
    """The flows and values compared over all CAPTURES (printed with -s)."""
    total = [0, 0]
    for name in CAPTURES:
        flows, values, bad = compare(NFDIR / name)
        total[0] += flows
        total[1] += values
        assert not bad
    with capsys.disabled():
        print(f"\npktstats vs NFStream: {total[0]} flows, {total[1]} values, all equal "
              "within the bounds")
