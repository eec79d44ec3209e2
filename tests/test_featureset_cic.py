"""The cicflowmeter feature set against the independent dpkt reference (tests/unswref.py
cic_columns) on real captures: `wirescore run --export F --feature-set cicflowmeter`,
each exported flow matched to the reference flow of its 5-tuple, every computed column
compared; the columns the core cannot give are NaN, the dataset's constant ones 0."""
from __future__ import annotations

import csv
import ipaddress
import math

import pytest

from conftest import need_shared, run_wirescore

pytest.importorskip("dpkt", reason="the reference reads captures with dpkt")
from unswref import cic_columns, reference  # noqa: E402

CAPTURES = ("labeled/cicids2017-web-sqli/WebattackSQLinj.pcap",
            "labeled/bruteforce/slips-ssh-bruteforce.pcap",
            "labeled/scans/ndpi-tcp_scan.pcapng",
            "labeled/scans/ndpi-synscan.pcap")


def _key(row):
    """The reference key of an exported row."""
    proto = {"TCP": 6, "UDP": 17}.get(row["proto"])
    ends = ((ipaddress.ip_address(row["src_ip"]).packed, int(row["src_port"] or 0)),
            (ipaddress.ip_address(row["dest_ip"]).packed, int(row["dest_port"] or 0)))
    return proto, frozenset(ends)


@pytest.mark.parametrize("name", CAPTURES)
def test_cic_columns_match_dpkt(tmp_path, name):
    from wirescore.featuresets import get

    pcap = need_shared() / "pcaps" / name
    out = tmp_path / "cic.csv"
    run_wirescore("run", "-r", pcap, "-l", tmp_path / "logs", "--no-detect", "--export",
                  out, "--feature-set", "cicflowmeter")
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    ref = reference(pcap)
    keys = [_key(r) for r in rows]
    single = {k for k in keys if keys.count(k) == 1}
    matched = [(r, ref[k]) for r, k in zip(rows, keys) if k in single and k in ref]
    assert matched and len(matched) >= 0.9 * len(rows), (len(matched), len(rows))
    columns = get("cicflowmeter").columns
    for row, flow in matched:
        want = cic_columns(flow)
        for col, value in want.items():
            assert float(row[col]) == pytest.approx(value, rel=1e-6, abs=1e-6), \
                (name, row["src_port"], col)
        for c in columns:
            if not c.computed and c.kind == "numeric":
                assert math.isnan(float(row[c.name])), c.name
            elif "Bulk" in c.name:
                assert float(row[c.name]) == 0.0
    # every computed column is checked against the reference, except the bulk ones
    # (the dataset's constant 0, checked above)
    computed = {c.name for c in columns if c.computed}
    assert set(cic_columns(matched[0][1])) == {c for c in computed if "Bulk" not in c}


def test_train_on_cicflowmeter_csv_runs_on_its_capture(tmp_path):
    """netml's demo.csv (CICFlowMeter's own output, the CIC-IDS2017 header with its
    leading spaces and Infinity rates; demo labels) trains a profile by the set's names
    alone; the profile then scores every flow of demo.pcap from packets."""
    import json

    demo = need_shared() / "pcaps/labeled/netml-cicids2017-demo"
    prefix = tmp_path / "cic"
    run_wirescore("train", "--csv", demo / "demo.csv", "--feature-set", "cicflowmeter",
                  "--label-column", "Label", "-o", prefix)
    side = json.loads(prefix.with_suffix(".json").read_text())
    assert len(side["features"]) == 78 and side["onnx_check"]["max_abs_diff"] <= 1e-5
    out = tmp_path / "scored.csv"
    run_wirescore("run", "-r", demo / "demo.pcap", "-l", tmp_path / "logs", "--rules",
                  prefix.with_suffix(".yaml"), "--export", out)
    with open(out, newline="") as fh:
        scores = [float(r["score.9200001"]) for r in csv.DictReader(fh)]
    # NaN: a flow the copied allowlist keeps from alerting (multicast, ...) is not scored
    scored = [s for s in scores if not math.isnan(s)]
    assert len(scores) == 200 and len(scored) >= 150
    assert all(0.0 <= s <= 1.0 for s in scored)
