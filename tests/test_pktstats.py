"""The per-packet statistics room (ext/pktstats.pxd) on a hand-made TCP flow whose every
value can be checked by hand, through the cicflowmeter set's columns; the gate (the
meter keeps them only when a set reads them); the fuzz oracle's check of them."""
from __future__ import annotations

import math
import statistics
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from wirescore._core.flowtable import FlowMeter

CLIENT, SERVER = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])

#: (µs, from the client?, TCP flags, TCP header bytes, payload bytes)
PACKETS = (
    (0, True, 0x02, 32, 0),              # SYN with 12 bytes of options
    (1_000, False, 0x12, 32, 0),         # SYN/ACK
    (1_500, True, 0x10, 20, 0),          # ACK
    (2_000, True, 0x18, 20, 100),        # data
    (8_002_000, False, 0x18, 20, 300),   # 8 s later: an idle period (> 5 s)
    (8_003_000, True, 0x18, 20, 50),
    (8_004_000, False, 0x10, 20, 0),
)


def _frame(client: bool, flags: int, thl: int, payload: int) -> bytes:
    src, dst = (CLIENT, SERVER) if client else (SERVER, CLIENT)
    sport, dport = (40000, 80) if client else (80, 40000)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, (thl // 4) << 4, flags, 1000, 0, 0)
    tcp += b"\x01" * (thl - 20) + b"x" * payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, src, dst)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp


def _records(packets=PACKETS, **options) -> np.ndarray:
    frames = [_frame(c, f, h, p) for _t, c, f, h, p in packets]
    data = np.frombuffer(b"".join(frames), dtype=np.uint8)
    meta, off = [], 0
    for (t, *_rest), fr in zip(packets, frames):
        meta.append((1_700_000_000 + t // 1_000_000, t % 1_000_000, off, len(fr)))
        off += len(fr)
    meter = FlowMeter(1, context=False, app=False, **options)
    assert meter.feed(data, np.array(meta, dtype=np.uint32)) == len(packets)
    out = [meter.drain()]
    while meter.shutdown():
        out.append(meter.drain())
    out.append(meter.drain())
    return np.concatenate(out)


def test_a_hand_made_flow_gives_the_values_worked_out_by_hand():
    from wirescore.featuresets.cicflowmeter import compute

    recs = _records(pktstats=True)
    assert len(recs) == 1 and recs["pkt_stats"][0] == 1
    c = {k: float(v[0]) for k, v in compute(recs).items() if k != "Label"}
    fwd, bwd = [0, 0, 100, 50], [0, 300, 0]
    gaps = [1_000, 500, 500, 8_000_000, 1_000, 1_000]
    want = {
        "Fwd Packet Length Max": 100, "Fwd Packet Length Min": 0,
        "Fwd Packet Length Mean": 37.5, "Fwd Packet Length Std": statistics.stdev(fwd),
        "Bwd Packet Length Max": 300, "Bwd Packet Length Min": 0,
        "Bwd Packet Length Std": statistics.stdev(bwd),
        "Min Packet Length": 0, "Max Packet Length": 300,
        "Packet Length Std": statistics.stdev(fwd + bwd),
        "Packet Length Variance": statistics.variance(fwd + bwd),
        "Fwd Header Length": 32 + 20 + 20 + 20, "Fwd Header Length.1": 92,
        "Bwd Header Length": 32 + 20 + 20,
        "act_data_pkt_fwd": 2, "min_seg_size_forward": 20,
        "Flow IAT Mean": statistics.fmean(gaps), "Flow IAT Std": statistics.stdev(gaps),
        "Flow IAT Max": 8_000_000, "Flow IAT Min": 500,
        # the first active period, 0 .. 2000 µs, ends at the 8 s gap; the one open at
        # the flow's end (8,002,000 .. 8,004,000) is not counted (CICFlowMeter's rule)
        "Active Mean": 2_000, "Active Std": 0, "Active Max": 2_000, "Active Min": 2_000,
        "Idle Mean": 8_000_000, "Idle Std": 0, "Idle Max": 8_000_000,
        "Idle Min": 8_000_000,
    }
    for name, value in want.items():
        assert c[name] == pytest.approx(value, rel=1e-12, abs=1e-9), name


def test_activity_timeout_is_the_meters():
    """With a 10 s activity timeout the 8 s gap is no idle period: no periods at all."""
    recs = _records(pktstats=True, activity_timeout=10.0)
    assert recs["pkt_idle_count"][0] == 0 and recs["pkt_active_count"][0] == 0
    assert recs["pkt_active_mean"][0] == 0 and recs["pkt_idle_max"][0] == 0


def test_off_by_default_the_fields_are_zero_and_the_columns_nan():
    from wirescore.featuresets.cicflowmeter import COLUMNS, compute

    recs = _records()
    assert recs["pkt_stats"][0] == 0
    assert all(recs[n][0] == 0 for n in recs.dtype.names if n.startswith("pkt_"))
    cols = compute(recs)
    assert math.isnan(cols["Fwd Packet Length Max"][0]) and math.isnan(cols["Idle Max"][0])
    assert cols["Fwd Packet Length Mean"][0] == 37.5       # the summary columns stay
    per_packet = [c.name for c in COLUMNS
                  if c.kind == "numeric" and math.isnan(cols[c.name][0])]
    assert len(per_packet) == 26


def test_the_meter_keeps_them_only_for_a_set_that_reads_them():
    from wirescore.config import Config
    from wirescore.meter import meter_options

    def opts(**over):
        return meter_options(Config.load(overrides=over), None)

    assert opts()["pktstats"] is False
    assert opts(**{"outputs.export_feature_set": "unsw-nb15"})["pktstats"] is False
    on = opts(**{"outputs.export_feature_set": "cicflowmeter",
                 "flow.activity_timeout": 2.5})
    assert on["pktstats"] is True and on["activity_timeout"] == 2.5
    assert opts(**{"flow.packet_stats": True})["pktstats"] is True


def test_the_fuzz_oracle_catches_a_wrong_statistic():
    sys.path.insert(0, str(Path(__file__).parent / "fuzz"))
    import fuzz_core

    recs = _records(pktstats=True)
    fuzz_core.check_pktstats(recs, 5.0)
    for field, value in (("pkt_payload_max_toserver", 10.0), ("pkt_iat_min", 9e9),
                         ("pkt_data_toclient", 5.0), ("pkt_idle_min", 1.0)):
        bad = recs.copy()
        bad[field] = value
        with pytest.raises(fuzz_core.FuzzFailure):
            fuzz_core.check_pktstats(bad, 5.0)
    with pytest.raises(fuzz_core.FuzzFailure):
        fuzz_core.check_pktstats(recs, None)          # set although off
