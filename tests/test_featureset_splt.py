"""The splt feature set end to end: trained from a capture's packets, run as a profile.

`wirescore train -r MIX --labels L --feature-set splt` trains on the first 20 packets of
every flow of the public evaluation mix (the columns computed by the core and
wirescore.featuresets.splt); the profile it writes runs on packets and alerts on a SYN
scan, whose flows' first packets (one bare SYN, perhaps a RST back) look nothing like
the mix's benign sessions. The meter keeps each flow's packets only because the profile
reads the set (meter.splt_wanted): the same run's records carry them, a run without the
set does not.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import FIXTURES, need_shared

SCAN = FIXTURES / "ndpi-synscan.pcap"


def wirescore(*args):
    return subprocess.run([sys.executable, "-m", "wirescore", *map(str, args)],
                          check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    shared = need_shared()
    out = tmp_path_factory.mktemp("splt") / "splt"
    wirescore("train", "-r", shared / "eval" / "mix-public.pcap", "--labels",
              shared / "eval" / "mix-public.labels.csv", "--feature-set", "splt",
              "-o", out)
    return out


def test_a_profile_trained_on_first_packets_alerts_on_a_scan(model, tmp_path):
    profile = model.with_suffix(".yaml").read_text()
    assert "splt.splt_ps_1" in profile and "flow." not in profile
    logs = tmp_path / "logs"
    wirescore("run", "-r", SCAN, "-l", logs, "--rules", model.with_suffix(".yaml"))
    alerts = [json.loads(line) for line in (logs / "eve.json").read_text().splitlines()
              if '"event_type":"alert"' in line]
    assert alerts and all(a["alert"]["metadata"]["wirescore_model"] == ["onnx"]
                          for a in alerts)
    assert {a["src_ip"] for a in alerts} == {"172.16.0.8"}        # the scanner


def test_the_meter_keeps_packets_only_when_a_set_reads_them():
    from wirescore.alerts import load_profiles
    from wirescore.config import Config
    from wirescore.detect import Detector
    from wirescore.meter import meter_options

    cfg = Config.load()
    shipped = Detector(load_profiles(cfg))
    assert meter_options(cfg, shipped)["splt"] == 0
    assert meter_options(Config.load(overrides={"outputs.export_feature_set": "splt"}),
                         None)["splt"] == 20
    assert meter_options(Config.load(overrides={"flow.splt_packets": 32}), None)["splt"] == 32


def test_records_carry_the_first_packets(model):
    """flows_from_capture with the set: the kept columns are the records' packets (a SYN
    scan's flows: one 60-byte SYN toserver, perhaps a RST back, then -1)."""
    from wirescore.flowset import flows_from_capture

    flows, _ = flows_from_capture(SCAN, feature_set="splt")
    ps1 = np.asarray(flows.columns["splt.splt_ps_1"])
    d2 = np.asarray(flows.columns["splt.splt_direction_2"])
    ps21 = [c for c in flows.columns if c.endswith("_21")]
    assert len(ps1) > 1000 and (ps1 > 0).all() and set(np.unique(d2)) <= {-1, 0, 1}
    assert not ps21                                   # the set's 20 packets
    assert (np.asarray(flows.columns["splt.splt_ps_3"]) == -1).mean() > 0.9
