"""Window profiles: the `extreme` model, the shipped window profiles on real captures
(scanners are alerted with src_ip = the scanner; benign captures stay quiet), and the
warm-up warning of `wirescore rules check`.

Captures: tests/data/pcaps (shipped) always; ../shared/data (scans, the evaluation mix,
the benign peer-groundtruth captures) when present, else those tests skip saying so.
"""
from __future__ import annotations

import csv
import filecmp
import ipaddress
import json
import logging
import re

import flowref
import numpy as np
import pytest

from conftest import FIXTURES, SHARED_DATA, need_shared, read_eve, run_wirescore, shared_available
from model_contract import ModelCase, check_batched_equals_row_by_row
from wirescore.config import Config
from wirescore.engine import Engine
from wirescore.errors import WirescoreError
from wirescore.models.extreme import ExtremeCounts
from wirescore.rules import default_rules_dir, load_file, load_paths

SCAN = FIXTURES / "ndpi-synscan.pcap"
SCANNER = "172.16.0.8"
SOURCE_PROFILE = 9100102


# ------------------------------------------------------------------ the model

def test_extreme_scores_doublings_beyond_the_floor_one_sided():
    m = ExtremeCounts(("a", "b"), floors={"a": 15, "a*b": 7})
    X = np.array([[15, 0.0], [31, 0.0], [3, 1.0], [16, 1.0], [0, 0.0]])
    s = m.score_many(X)
    # a=15 is at its floor (0 doublings); 31 is one doubling beyond (32/16);
    # a*b = 16 > 7: log2(17/8); nothing is scored for being low
    assert s[0] == pytest.approx(0.0)
    assert s[1] == pytest.approx(1.0)
    assert s[3] == pytest.approx(np.log2(17 / 8))
    assert s[2] < 0 and s[4] < 0
    assert m.contributions([16, 1.0])[0][0] == "a*b"


def test_extreme_a_burst_does_not_move_the_reference_a_persistent_level_does():
    rng = np.random.default_rng(7)
    m = ExtremeCounts(("x",), floors={"x": 16}, quantile=0.99, margin=2, memory=1000,
                      refresh=100)
    m.learn_many(rng.poisson(2, size=(2000, 1)).astype(float))
    assert m.reference[0] == 16                       # a quiet network: the floor
    m.learn_many(np.full((5, 1), 1000.0))             # one scan: winsorised, forgotten
    m.learn_many(rng.poisson(2, size=(200, 1)).astype(float))
    assert m.reference[0] == 16 and m.score_many(np.array([[100.0]]))[0] > 0
    # a server that sends 100 every time: learnt at most margin-fold per memory turn
    levels = []
    for _ in range(6):
        m.learn_many(np.full((1000, 1), 100.0))
        levels.append(m.reference[0])
    assert levels[0] <= 2 * 16 * 2 and levels == sorted(levels)
    assert m.score_many(np.array([[100.0]]))[0] <= 0  # learnt: quiet now
    assert m.score_many(np.array([[1000.0]]))[0] > 0  # far beyond it still alerts


def test_extreme_streaming_is_the_same_however_the_stream_is_cut():
    """The model contract's first check (tests/model_contract.py) on a stream with a
    burst, cut at and around refreshes; the burst scores beyond the reference."""
    rng = np.random.default_rng(3)
    X = rng.poisson(5, size=(1500, 2)).astype(float)
    X[700:720] *= 40

    def make():
        return ExtremeCounts(("a", "b"), floors={"a": 20, "a*b": 200}, memory=500, refresh=64)

    case = ModelCase("extreme", make, ("a", "b"), None, None)
    whole = check_batched_equals_row_by_row(case, X, cuts=(1, 64, 235, 1, 698, 501))
    assert np.array_equal(make().score_learn_many(X), whole)
    assert (whole[700:720] > 0).all() and (whole[:700] <= 0).all()


@pytest.mark.parametrize("params, message", [
    ({"floors": {"window.nope": 3}}, "'window.nope' is not one of the profile's features"),
    ({"floors": {"window.packets": 0}}, "must be a number > 0"),
    ({"floors": {"window.packets": 3}, "margin": 0.5}, "margin must be"),
    ({}, "floors"),
])
def test_extreme_params_are_checked_at_the_profile_line(tmp_path, params, message):
    path = tmp_path / "p.yaml"
    path.write_text(f"""\
id: 4200201
name: t
unit: window
features: [window.packets, window.syn_ratio]
transform: none
model:
  name: extreme
  params: {json.dumps(params)}
threshold: {{fixed: 0}}
""")
    with pytest.raises(WirescoreError) as err:
        load_file(path)
    assert str(err.value).startswith(f"{path}:8:") and message in str(err.value)


def test_extreme_needs_transform_none(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("id: 4200202\nname: t\nunit: window\nfeatures: [window.packets]\n"
                    "model: {name: extreme, params: {floors: {window.packets: 9}}}\n"
                    "threshold: {fixed: 0}\n")
    with pytest.raises(WirescoreError, match="transform: none"):
        load_file(path)


# ------------------------------------------------------------------ rules check warning

HST_QUANTILE = """\
id: 4200203
name: t
features: [flow.duration]
model: {{name: hst, params: {{window_size: 250}}}}
threshold: {{quantile: 0.999}}
warmup: {warmup}
"""


def test_rules_check_warns_when_warmup_is_shorter_than_the_threshold_needs(tmp_path):
    short = tmp_path / "short.yaml"
    short.write_text(HST_QUANTILE.format(warmup=1000))
    proc = run_wirescore("rules", "check", short)
    assert proc.stdout.startswith("ok ")
    assert (f"warning: {short}:6: warmup: 1000 samples is less than window_size (250) + "
            "1/(1 - quantile) (1000) = 1250") in proc.stderr
    enough = tmp_path / "enough.yaml"
    enough.write_text(HST_QUANTILE.format(warmup=1250))
    proc = run_wirescore("rules", "check", enough)
    assert proc.stdout.startswith("ok ") and "warning" not in proc.stderr


def test_shipped_profiles_check_without_warnings(caplog):
    with caplog.at_level(logging.WARNING, logger="wirescore.rules"):
        profiles = load_paths([default_rules_dir()])
    assert not caplog.records and not any(p.warnings for p in profiles)
    by_id = {p.id: p for p in profiles}
    assert by_id[SOURCE_PROFILE].enabled and by_id[SOURCE_PROFILE].warmup == 0
    assert not by_id[9100101].enabled          # HST window profile: an option, off


# ------------------------------------------------------------------ shipped captures

def window_alerts(events):
    return [e for e in events if e["event_type"] == "alert" and "flow" not in e]


def test_synscan_alone_alerts_the_scanner_from_the_first_capture(tmp_path):
    """No benign traffic before the scan, default profiles (what `make demo` runs)."""
    run_wirescore("run", "-r", SCAN, "-l", tmp_path / "a")
    alerts = window_alerts(read_eve(tmp_path / "a"))
    mine = [a for a in alerts if a["alert"]["signature_id"] == SOURCE_PROFILE]
    assert [a.get("src_ip") for a in mine] == [SCANNER]
    meta = mine[0]["alert"]["metadata"]
    assert float(meta["wirescore_score"][0]) > float(meta["wirescore_threshold"][0]) == 0
    assert "tcp_ratio*window.syn_ratio" in meta["wirescore_features"][0]
    assert all(a.get("src_ip", SCANNER) == SCANNER for a in alerts)
    run_wirescore("run", "-r", SCAN, "-l", tmp_path / "b")
    assert filecmp.cmp(tmp_path / "a" / "eve.json", tmp_path / "b" / "eve.json",
                       shallow=False)


@pytest.mark.parametrize("pcap", [p for p in sorted(FIXTURES.iterdir())
                                  if p.name != SCAN.name and p.suffix in (".pcap", ".pcapng")],
                         ids=lambda p: p.name)
def test_shipped_benign_captures_raise_no_window_alert(tmp_path, pcap):
    proc = run_wirescore("run", "-r", pcap, "-l", tmp_path, check=False)
    assert proc.returncode == 0 or "capture damaged" in proc.stderr, proc.stderr
    assert window_alerts(read_eve(tmp_path)) == []


@pytest.mark.skipif(not shared_available(), reason="needs ../shared for the EVE schema")
def test_window_alerts_of_the_shipped_profiles_validate(tmp_path):
    import jsonschema

    schema = json.loads((SHARED_DATA / "suricata-eve-schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    run_wirescore("run", "-r", SCAN, "-l", tmp_path)
    alerts = window_alerts(read_eve(tmp_path))
    assert {a["alert"]["signature_id"] for a in alerts} >= {SOURCE_PROFILE}
    for ev in alerts:
        errors = list(validator.iter_errors(ev))
        assert not errors, (ev, errors[0].message)


# ------------------------------------------------------------------ ../shared

def window_profiles():
    return [p for p in load_paths([default_rules_dir()]) if p.unit == "window" and p.enabled]


def run_in_process(pcap, tmp_path, profiles):
    alerts = []
    cfg = Config.load(overrides={"outputs.snippets.enabled": False})
    Engine(cfg, tmp_path, profiles=profiles, on_alert=alerts.append).run(str(pcap))
    return [a for a in alerts if "flow" not in a]


def scan_cases():
    if not shared_available():
        return []
    out = []
    with open(SHARED_DATA / "pcaps" / "labeled" / "LABELS.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            m = re.search(r"(\d+\.\d+\.\d+\.\d+)", row["hosts"])
            if row["file"].startswith("scans/") and m and "arp" not in row["label"].lower():
                out.append((row["file"], m.group(1)))
    return out


# Scans fast enough to show in one second of the scanner's traffic (tens to hundreds of
# ports or hosts probed per second). The others (nmap against one port of one host, 7
# probes, a UDP sweep at 10 hosts/s) are below what a one-second window can tell from
# a busy client (the 7 probes are caught by their crafted flags, tested below);
# benchmarks/scan_detect.py reports every capture.
FAST = {"esnet-masscan-tcp_0_1000_20190821.pcap", "ndpi-synscan.pcap",
        "sgr-hs-icmpScan.pcap", "sgr-hs-tcp_synPingSweepRand.pcapng",
        "slips-test12-icmp-portscan.pcap"}


@pytest.mark.parametrize("case", [c for c in scan_cases() if c[0].split("/")[1] in FAST],
                         ids=lambda c: c[0])
def test_fast_scans_alert_their_scanner(tmp_path, case):
    need_shared()
    name, scanner = case
    alerts = run_in_process(SHARED_DATA / "pcaps" / "labeled" / name, tmp_path,
                            window_profiles())
    srcs = {a.get("src_ip") for a in alerts if "src_ip" in a}
    assert scanner in srcs and srcs <= {scanner}, alerts


def test_stealth_scan_probes_alert_their_scanner(tmp_path):
    """ndpi-tcp_scan: nmap sends seven probes over 40 s (too slow for any fan-out in one
    second), three of them FIN, NULL and Xmas: the crafted probes alone name the
    scanner, once (suppression)."""
    need_shared()
    alerts = run_in_process(SHARED_DATA / "pcaps" / "labeled" / "scans" /
                            "ndpi-tcp_scan.pcapng", tmp_path, window_profiles())
    assert [(a["src_ip"], a["alert"]["signature_id"]) for a in alerts] == \
        [("192.168.1.178", SOURCE_PROFILE)]
    assert is_crafted_alert(alerts[0])


def test_fast_scans_are_all_listed():
    need_shared()
    assert {c[0].split("/")[1] for c in scan_cases()} >= FAST


def crafted_senders(pcap) -> set:
    """Addresses that sent a TCP packet with flags no stack sends, per the dpkt reference."""
    return flowref.crafted_senders(flowref.read_capture(pcap))


def is_crafted_alert(alert) -> bool:
    return alert["alert"]["metadata"]["wirescore_features"][0].startswith("window.bad_flags=")


def test_benign_peer_groundtruth_captures_raise_no_window_alert(tmp_path):
    """Every benign capture under peer-groundtruth/, each on its own from its first
    packet (the window profiles need no warm-up): not one window alert, except on the
    sources that really sent a TCP packet with flags no stack sends (two captures: nDPI's
    one-packet all-flags test, and a damaged capture of nfstream's), and those all."""
    root = need_shared() / "pcaps" / "peer-groundtruth"
    profiles = window_profiles()
    found, crafted, expected, ran = [], set(), set(), 0
    for pcap in sorted(p for p in root.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap")):
        try:
            alerts = run_in_process(pcap, tmp_path / str(ran), profiles)
        except WirescoreError:       # link types wirescore refuses (802.11 ...)
            continue
        ran += 1
        name = str(pcap.relative_to(root))
        expected |= {(name, src) for src in crafted_senders(pcap)}
        for a in alerts:
            if is_crafted_alert(a):
                crafted.add((name, a.get("src_ip")))
            else:
                found.append((name, a.get("src_ip") or a.get("dest_ip"),
                              a["alert"]["metadata"].get("wirescore_features")))
    assert ran > 400
    assert found == []
    assert crafted == expected and len(expected) == 3, (crafted, expected)


def test_mix_window_alerts_name_only_attack_addresses(tmp_path):
    """The public evaluation mix: benign background from 457 captures, 30 attack types.
    Every window alert names an address that takes part in an attack (none in the
    benign training period, none on background hosts), except crafted-flag alerts,
    which name a source that sent such a packet, at any time (per the dpkt reference:
    the mix's background holds three copies of nDPI's one-packet all-flags test
    capture)."""
    eval_dir = need_shared() / "eval"
    attackers = set()
    with open(eval_dir / "mix-public.labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            for endpoint in (row["endpoint_a"], row["endpoint_b"]):
                attackers.add(endpoint.rsplit(":", 1)[0].strip("[]"))
    train_end = json.loads((eval_dir / "mix-public.summary.json").read_text())["train_end_ts"]
    alerts = run_in_process(eval_dir / "mix-public.pcap", tmp_path, window_profiles())
    assert alerts, "the mix holds scans and floods"
    senders = crafted_senders(eval_dir / "mix-public.pcap")
    for a in alerts:
        addr = a.get("src_ip") or a.get("dest_ip")
        if is_crafted_alert(a):          # whenever the packet came, training included
            assert a.get("src_ip") in senders, a
            continue
        assert addr in attackers, a
        start = a["alert"]["metadata"]["wirescore_window"][0].split()[1]
        assert start[:19] >= _iso(train_end), a
    assert all(ipaddress.ip_address(a.get("src_ip") or a.get("dest_ip")) for a in alerts)


def _iso(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
