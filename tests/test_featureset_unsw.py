"""The unsw-nb15 feature set against an independent dpkt reference (tests/unswref.py) on
real captures: `wirescore run --export F --feature-set unsw-nb15`, each exported flow
matched to the reference flow of its 5-tuple, column by column."""
from __future__ import annotations

import csv
import ipaddress
import math

import pytest

from conftest import need_shared, run_wirescore

dpkt = pytest.importorskip("dpkt", reason="the reference reads captures with dpkt")
from unswref import ct_counts, reference  # noqa: E402

CAPTURES = ("labeled/cicids2017-web-sqli/WebattackSQLinj.pcap",
            "labeled/bruteforce/slips-ssh-bruteforce.pcap",
            "labeled/scans/ndpi-tcp_scan.pcapng",
            "labeled/scans/esnet-nmap_80_vanilla.pcap",
            "labeled/scans/ndpi-synscan.pcap")       # ~2000 flows: the 100-flow window
NUMERIC = ("dur", "spkts", "dpkts", "sbytes", "dbytes", "rate", "sttl", "dttl", "sload",
           "dload", "sinpkt", "dinpkt", "sjit", "djit", "swin", "dwin", "synack",
           "ackdat", "tcprtt", "smean", "dmean", "is_sm_ips_ports")
CT = {"ct_srv_src": lambda r: (r["service"], r["src_ip"]),
      "ct_srv_dst": lambda r: (r["service"], r["dest_ip"]),
      "ct_dst_ltm": lambda r: r["dest_ip"], "ct_src_ltm": lambda r: r["src_ip"],
      "ct_src_dport_ltm": lambda r: (r["src_ip"], r["dest_port"]),
      "ct_dst_sport_ltm": lambda r: (r["dest_ip"], r["src_port"]),
      "ct_dst_src_ltm": lambda r: (r["src_ip"], r["dest_ip"])}


def _export(tmp_path, pcap):
    out = tmp_path / "unsw.csv"
    run_wirescore("run", "-r", pcap, "-l", tmp_path / "logs", "--no-detect",
                  "--export", out, "--feature-set", "unsw-nb15")
    with open(out, newline="") as fh:
        return list(csv.DictReader(fh))


def _key(row):
    """The reference key of an exported row."""
    proto = {"tcp": 6, "udp": 17}.get(row["proto"])
    ends = ((ipaddress.ip_address(row["src_ip"]).packed, int(row["src_port"] or 0)),
            (ipaddress.ip_address(row["dest_ip"]).packed, int(row["dest_port"] or 0)))
    return proto, frozenset(ends)


@pytest.mark.parametrize("name", CAPTURES)
def test_unsw_columns_match_dpkt(tmp_path, name):
    pcap = need_shared() / "pcaps" / name
    rows = _export(tmp_path, pcap)
    ref = reference(pcap)
    keys = [_key(r) for r in rows]
    single = {k for k in keys if keys.count(k) == 1}
    matched = [(r, ref[k]) for r, k in zip(rows, keys) if k in single and k in ref]
    assert len(matched) >= 0.9 * len(rows) and matched, (len(matched), len(rows))
    for row, flow in matched:
        want = flow.columns()
        for col in NUMERIC:
            assert float(row[col]) == pytest.approx(want[col], rel=1e-6, abs=2e-6), \
                (name, row["src_ip"], row["src_port"], col)
        assert row["state"] == want["state"], (name, row["src_port"], row["state"])
        if int(row["dest_port"] or 0) == 80 and flow.sides[0].requests:
            assert row["service"] == "http"
            assert float(row["trans_depth"]) == want["trans_depth"]
        for col in ("sloss", "dloss", "stcpb", "dtcpb", "response_body_len", "ct_state_ttl"):
            assert math.isnan(float(row[col]))
    # ct_*: counted independently over the export's own order of flows
    assert [float(r["id"]) for r in rows] == list(range(1, len(rows) + 1))
    for col, key in CT.items():
        assert [float(r[col]) for r in rows] == ct_counts([key(r) for r in rows]), col


def test_recent_counter_across_batches():
    """RecentCounter fed in uneven batches equals the one-pass reference count, on the
    (source, destination port) keys of a real scan's flows."""
    import numpy as np

    from wirescore.featuresets.recent import RecentCounter

    pcap = need_shared() / "pcaps" / "labeled/scans/ndpi-synscan.pcap"
    flows = list(reference(pcap).values())
    keys = [f.server[1] % 7 for f in flows]          # few distinct keys: long runs
    assert len(keys) > 300
    counter = RecentCounter(100)
    got, start = [], 0
    for size in (1, 50, 99, 100, 3, 1000, 10 ** 6):
        part = np.array(keys[start:start + size], dtype=">u2").view(np.uint8).reshape(-1, 2)
        got += counter.count(part).tolist()
        start += size
    assert got == ct_counts(keys)


def test_features_set_listing_and_errors(tmp_path):
    """`features --set` lists the sets; `--set unsw-nb15` one line a column with its unit,
    the columns not computed from packets marked; unknown sets and --feature-set
    without --export are one-line errors."""
    from wirescore.featuresets.unsw_nb15 import COLUMNS

    listing = run_wirescore("features", "--set").stdout
    sets = {ln.split()[0]: ln.split()[1] for ln in listing.splitlines()}
    assert sets == {"cicflowmeter": "79", "netml": "23", "splt": "60", "unsw-nb15": "45"}
    lines = run_wirescore("features", "--set", "unsw-nb15").stdout.splitlines()[1:]
    assert [ln.split()[0] for ln in lines] == [c.name for c in COLUMNS]
    assert [ln.split()[1] for ln in lines] == [c.unit for c in COLUMNS]
    marked = {ln.split()[0] for ln in lines if "[not computed: NaN]" in ln}
    assert marked == {"sloss", "dloss", "stcpb", "dtcpb", "response_body_len",
                      "ct_state_ttl", "is_ftp_login", "ct_ftp_cmd", "attack_cat", "label"}
    proc = run_wirescore("features", "--set", "nope", check=False)
    assert proc.returncode == 1
    assert "no feature set 'nope' (sets: cicflowmeter, netml, splt, unsw-nb15)" in proc.stderr
    pcap = need_shared() / "pcaps" / CAPTURES[0]
    proc = run_wirescore("run", "-r", pcap, "-l", tmp_path / "l", "--feature-set",
                         "unsw-nb15", check=False)
    assert proc.returncode == 1 and "needs --export FILE" in proc.stderr
