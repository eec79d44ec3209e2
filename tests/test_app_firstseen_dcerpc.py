"""First-seen DCE-RPC profiles end to end on real captures (rules/app-dcerpc-*.yaml,
observation kind dcerpc.op): each labeled Windows technique alerts naming the client,
the server and the operation; a workstation's routine calls to its DC alert only for
the first host that ever made them, and another host making the same calls is quiet;
the shipped warm-up keeps a young table quiet."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import need_shared
from test_app_firstseen import app_records, app_rules, labeled
from wirescore.appkeys import EXTRACTORS, KIND_ID, dcerpc_label
from wirescore.config import Config
from wirescore.detect import Detector
from wirescore.engine import Engine
from wirescore.win_names import uuid_bytes

NEW_OP, REPEATED_OP = 9100211, 9100212
DEMO = "netml-cicids2017-demo/demo.pcap"


def dcerpc_records(pcap, logdir) -> np.ndarray:
    return app_records(pcap, logdir, "dcerpc")


def dcerpc_alerts(pcap, tmp_path, warmup=0):
    det = Detector(app_rules(tmp_path, warmup=warmup))
    return det.process_app("dcerpc", dcerpc_records(pcap, tmp_path / "run"))


@pytest.mark.parametrize("name, client, server, first_key", [
    ("LateralMovement__LM_psexec_smb_dcerpc_epm_svcctl.pcapng", "172.16.66.1",
     "172.16.66.36", "epmapper ept_map (opnum 3)"),
    ("LateralMovement__LM_WMI_ProcessCallCreate.pcapng", "172.16.66.1", "172.16.66.36",
     "IRemoteSCMActivator RemoteCreateInstance (opnum 4)"),
    ("Discovery__Discovery_impacket_rpcdump.pcapng", "10.0.2.15", "10.0.2.16",
     "epmapper ept_lookup (opnum 2)"),
    # the BIND precedes the capture: the interface is unknown, the operation new
    ("CredAccess__DCSync_krbtgt_dcerpc_smb.pcapng", "172.16.66.1", "172.16.66.36",
     "opnum 0 of an unseen interface"),
])
def test_windows_technique_names_the_new_operation(name, client, server, first_key,
                                                   tmp_path):
    alerts = dcerpc_alerts(labeled("windows-ad-attacks/" + name), tmp_path)
    assert [a.profile.id for a in alerts] == [NEW_OP]      # one per client per 60 s
    a = alerts[0]
    assert a.observation["client"] == client and a.observation["server"] == server
    assert a.message.startswith(f"call 1 of {first_key} from {client} to {server}; "
                                "0 other hosts called it before")


def test_endpoint_mapper_scan_counts_the_calls(tmp_path):
    pcap = labeled("windows-ad-attacks/Discovery__discovery_scan_dcerpc_endpoint_mapper"
                   ".pcapng")
    alerts = dcerpc_alerts(pcap, tmp_path)
    assert [a.profile.id for a in alerts] == [NEW_OP, REPEATED_OP]
    scan = alerts[1]
    assert scan.observation["count"] == 17                 # past the floor of 16
    assert scan.message.startswith("call 17 of epmapper ept_lookup (opnum 2) from "
                                   "10.0.2.17 to 10.0.2.18")


def test_routine_calls_alert_for_the_first_host_only(tmp_path):
    # a CIC-IDS2017 workstation's logon: ept_map, drsuapi, lsarpc, netlogon to its DC
    recs = dcerpc_records(need_shared() / "pcaps" / "labeled" / DEMO, tmp_path / "run")
    obs = EXTRACTORS["dcerpc"](recs).array()
    assert len(np.unique(obs["key"])) == 10 and (obs["kind"] == KIND_ID["dcerpc.op"]).all()
    det = Detector(app_rules(tmp_path, warmup=0))
    first = det.process_app("dcerpc", recs)
    assert [a.profile.id for a in first] == [NEW_OP]       # 10 operations in 28 s
    # another workstation, an hour later, making the same calls to the same DC
    other = recs.copy()
    other["src_addr"][other["src_addr"][:, 3] == 5, 3] = 6
    other["dest_addr"][other["dest_addr"][:, 3] == 5, 3] = 6
    other["ts_us"] += 3600 * 10**6
    assert det.process_app("dcerpc", other) == []


def test_shipped_warmup_keeps_a_young_table_quiet(tmp_path):
    pcap = labeled("windows-ad-attacks/LateralMovement__LM_WMI_ProcessCallCreate.pcapng")
    assert dcerpc_alerts(pcap, tmp_path, warmup=None) == []


def test_operation_labels():
    drsuapi = uuid_bytes("e3514235-4b06-11d1-ab04-00c04fc2dcd2")
    assert dcerpc_label(drsuapi, 3) == "drsuapi DRSGetNCChanges (opnum 3)"
    assert dcerpc_label(drsuapi, 999) == "drsuapi opnum 999"
    odd = uuid_bytes("01234567-89ab-cdef-0123-456789abcdef")
    assert dcerpc_label(odd, 1) == "01234567-89ab-cdef-0123-456789abcdef opnum 1"


def test_engine_writes_the_alert_with_flow_and_snippet(tmp_path):
    import json

    from conftest import SHARED_DATA

    pcap = labeled("windows-ad-attacks/LateralMovement__LM_psexec_smb_dcerpc_epm_svcctl"
                   ".pcapng")
    logdir = tmp_path / "eve"
    Engine(Config.load(), logdir, profiles=app_rules(tmp_path)).run(str(pcap))
    events = [json.loads(line) for line in (logdir / "eve.json").read_text().splitlines()]
    alerts = [e for e in events if e["event_type"] == "alert"
              and e["alert"]["signature_id"] == NEW_OP]
    assert len(alerts) == 1
    a = alerts[0]
    assert (a["src_ip"], a["dest_ip"], a["dest_port"]) == ("172.16.66.1", "172.16.66.36",
                                                           135)
    assert a["flow_id"] > 0 and a["community_id"].startswith("1:")
    assert (logdir / a["capture_file"]).is_file()
    assert a["alert"]["metadata"]["wirescore_firstseen"][0].startswith(
        "call 1 of epmapper ept_map (opnum 3) from 172.16.66.1 to 172.16.66.36")
    schema_path = SHARED_DATA / "suricata-eve-schema.json"
    if schema_path.is_file():
        from jsonschema import Draft202012Validator

        validator = Draft202012Validator(json.loads(schema_path.read_text()))
        assert not list(validator.iter_errors(a))
