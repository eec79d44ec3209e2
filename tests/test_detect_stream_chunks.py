"""A profile's scores and alerts do not depend on how its stream is cut into batches.

ProfileDetector.process scores in chunks of CHUNK rows of the profile's whole stream:
every row of a chunk with the model, threshold and statistics as of the chunk's start,
the chunk learned once its last row has come. So one call over every record and calls
over the same records cut at random places must give bit-for-bit the same scores and
the same alerts (row, score, threshold, severity, explanation), for the shipped flow
and window profiles (tail, extreme) and for Half-Space Trees (a scaled model, learned
row by row or per chunk, a quantile threshold), on real records.

Captures: tests/data/pcaps always; the public evaluation mix (../shared/data/eval) when
present, else those cases skip saying so.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import FIXTURES, need_shared
from meter_feed import drain_to_end, feed_capture
from wirescore.detect import FlowProfileDetector, WindowProfileDetector
from wirescore.detect_chunk import CHUNK
from wirescore.rules import default_rules_dir, load_file


def records_of(path):
    """(flow records, window records) of a capture as the core emits them (context on,
    1-second source and destination windows)."""
    from wirescore._core.flowtable import FlowMeter

    flows, windows = [], []

    def after_feed(meter):
        flows.append(meter.drain())
        windows.append(meter.drain_windows())

    meter = feed_capture(path, lambda dlt: FlowMeter(dlt, window_seconds=1.0,
                                                     window_keys=("src", "dst")), after_feed)
    meter.close_window()
    windows.append(meter.drain_windows())
    return np.concatenate(flows + drain_to_end(meter)), np.concatenate(windows)


def capture(which: str):
    if which == "synscan":
        return FIXTURES / "ndpi-synscan.pcap"
    return need_shared() / "eval" / "mix-public.pcap"


def profile(name: str, **change):
    (p,) = load_file(default_rules_dir() / name)
    for key, value in change.items():
        setattr(p, key, value)
    return p


# (rules file, changes): the shipped profiles, and HST both ways it learns
FLOW_PROFILES = [("flow-around-tail.yaml", {}), ("flow-scan.yaml", {}),
                 ("flow-context-hst.yaml", {}),
                 ("flow-context-hst.yaml", {"learn": "all"})]
WINDOW_PROFILES = [("window-source-extreme.yaml", {}), ("window-dest-extreme.yaml", {}),
                   ("window-source-hst.yaml", {})]


def run(detector_of, records, cuts):
    """Scores and alerts (as comparable tuples, rows counted over the whole stream) of
    a fresh detector fed records cut at `cuts`."""
    det = detector_of()
    scores, alerts = [], []
    bounds = [0] + sorted(cuts) + [len(records)]
    for a, b in zip(bounds, bounds[1:]):
        s, found = det.process(records[a:b])
        scores.append(s)
        alerts += [(a + x.index, x.score, x.threshold, x.severity,
                    [(f, v, z) for f, v, z in x.explanation]) for x in found]
    return np.concatenate(scores), alerts, det


def random_cuts(n: int, seed: int) -> list[int]:
    """Cuts at random places, batches of 1 to 3 chunks' rows, some mid-chunk."""
    rng = np.random.default_rng(seed)
    cuts, at = [], 0
    while True:
        at += int(rng.integers(1, 3 * CHUNK))
        if at >= n:
            return cuts
        cuts.append(at)


# windows: only the mix has more than a chunk of them (synscan: 16 per key kind)
CASES = ([("synscan", n, c) for n, c in FLOW_PROFILES]
         + [("mix", n, c) for n, c in FLOW_PROFILES + WINDOW_PROFILES])


@pytest.mark.parametrize("which,name,change", CASES,
                         ids=lambda v: v if isinstance(v, str) else
                         ",".join(f"{k}={x}" for k, x in v.items()) or "shipped")
def test_the_same_stream_cut_anywhere_scores_and_alerts_the_same(which, name, change):
    flows, windows = records_of(capture(which))
    p = profile(name, **change)
    if p.unit == "flow":
        records, make = flows, lambda: FlowProfileDetector(profile(name, **change))
    else:
        kind = {"src": 1, "dst": 2}[p.window_key]
        records = windows[windows["kind"] == kind]
        make = lambda: WindowProfileDetector(profile(name, **change))   # noqa: E731
    assert len(records) > CHUNK
    whole, whole_alerts, det = run(make, records, [])
    assert det.learned > 0 or whole_alerts       # something was learned or alerted
    for seed in (1, 2):
        cuts = random_cuts(len(records), seed)
        assert any(c % CHUNK for c in cuts)
        scores, alerts, _ = run(make, records, cuts)
        assert np.array_equal(scores, whole, equal_nan=True)
        assert alerts == whole_alerts
    # and the cut that matters most: one row at a time for the first chunks
    scores, alerts, _ = run(make, records, list(range(1, min(len(records), 2 * CHUNK + 3))))
    assert np.array_equal(scores, whole, equal_nan=True)
    assert alerts == whole_alerts


def test_an_open_chunk_is_scored_with_the_model_as_of_its_start(tmp_path):
    """Rows of a chunk that is not complete are scored, alerted on, and not yet
    learned: the model learns them when the chunk's last row comes."""
    flows, _ = records_of(FIXTURES / "ndpi-synscan.pcap")
    assert len(flows) > CHUNK + 10
    det = FlowProfileDetector(profile("flow-around-tail.yaml"))
    det.process(flows[:CHUNK - 1])
    assert det.learned == 0
    det.process(flows[CHUNK - 1:CHUNK + 10])
    assert 0 < det.learned <= CHUNK
