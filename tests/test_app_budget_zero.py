"""A parser's budget 0 (app.budget.<stem>, --app-budget-<stem> 0) names the protocol and
parses nothing (ext/app/stream.pxd): the flows keep their app_proto, no event of the
protocol is written, and each direction ended so counts in
wirescore.app_budget_exhausted. What benchmarks/test_app_cost.py's "budget 0" mode
relies on to measure a parser's cost."""
from __future__ import annotations

import json

import pytest

from conftest import need_shared
from wirescore.config import Config
from wirescore.engine import Engine

PSEXEC = "labeled/windows-ad-attacks/LateralMovement__LM_psexec_smb_dcerpc_epm_svcctl.pcapng"
DEMO = "labeled/netml-cicids2017-demo/demo.pcap"


def run(tmp_path, name, overrides):
    logdir = tmp_path / "run"
    summary = Engine(Config.load(overrides={"detect.enabled": False, **overrides}),
                     logdir).run(str(need_shared() / "pcaps" / name))
    events = [json.loads(line) for line in (logdir / "eve.json").read_text().splitlines()]
    return summary, events


@pytest.mark.parametrize("name, stems, kinds, proto", [
    (PSEXEC, ("smb",), ("smb",), "smb"),
    (DEMO, ("dns_tcp", "dns_udp"), ("dns",), "dns"),
    (DEMO, ("tls",), ("tls",), "tls"),
])
def test_budget_zero_names_the_protocol_and_parses_nothing(tmp_path, name, stems, kinds,
                                                           proto):
    _, full = run(tmp_path / "full", name, {})
    summary, off = run(tmp_path / "off", name, {f"app.budget.{s}": 0 for s in stems})
    for kind in kinds:
        assert any(e["event_type"] == kind for e in full)
        assert not any(e["event_type"] == kind for e in off)
    apps = [sorted(e.get("app_proto", "") for e in ev if e["event_type"] == "flow")
            for ev in (full, off)]
    assert apps[0] == apps[1] and proto in apps[1]
    assert summary.counters["wirescore.app_budget_exhausted"] > 0
