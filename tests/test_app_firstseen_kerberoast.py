"""Kerberoasting profiles end to end on real Kerberos events (rules/app-krb5-kerberoast
*.yaml, observation kind krb5.sname): a burst of TGS-REQs for many distinct services
alerts naming the client, the KDC and the count; asked with RC4/DES only it alerts at
the lower floor; every shared capture with Kerberos (workstation logons, a password
spray, lateral movement) stays quiet. No shared capture holds a Kerberoast, so the
bursts are real TGS-REQ events (a Windows 7 one offering AES, a Windows XP one offering
RC4 and DES only) with their service renamed, one every 200 ms, as nxdomain_records in
test_app_firstseen.py renames real NXDOMAIN answers."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import need_shared
from test_app_firstseen import app_records, app_rules
from wirescore.appkeys import EXTRACTORS, KIND_ID
from wirescore.config import Config
from wirescore.detect import Detector
from wirescore.engine import Engine

ROAST, ROAST_RC4 = 9100222, 9100223
DEMO = "labeled/netml-cicids2017-demo/demo.pcap"
XP = "peer-groundtruth/ndpi/kerberos-login.pcap"
#: every shared capture with a Kerberos message to or from a KDC (tshark -Y kerberos),
#: none a Kerberoast; TGS-REQs in the first three
BENIGN = [DEMO, XP, "peer-groundtruth/nfstream/kerberos.pcap",
          "peer-groundtruth/zeek/krb__optional-service-name.pcap",
          "labeled/windows-ad-attacks/CredAccess__CA_kerbrute_passwordspray_kerberos_"
          "AS-REQ.pcapng"]
#: Kerberos only inside another protocol's authentication (AP-REQ / AP-REP in SMB's
#: session setup, LDAP's SASL bind, DCE-RPC's auth): no krb5 event, no observation
INSIDE = ["peer-groundtruth/ndpi/smb_frags.pcap",
          "varied/linktypes/zeek-ldap__modify-request.pcapng",
          "labeled/windows-ad-attacks/LateralMovement__LM_WMI_ProcessCallCreate.pcapng"]


def krb5_records(name: str, logdir) -> np.ndarray:
    return app_records(need_shared() / "pcaps" / name, logdir, "krb5")


@pytest.mark.parametrize("name", INSIDE)
def test_kerberos_inside_other_protocols_gives_no_event(name, tmp_path):
    got = []
    Engine(Config.load(overrides={"detect.enabled": False}), tmp_path / "run",
           on_app=lambda k, r, e: got.append(k)).run(str(need_shared() / "pcaps" / name))
    assert "krb5" not in got


def tgs_burst(name: str, logdir, services: list[bytes], t0_s: int) -> np.ndarray:
    """The capture's first TGS-REQ event for a cifs/ service, once per service named,
    one every 200 ms from t0_s."""
    recs = krb5_records(name, logdir)
    tgs = recs[(recs["msg_type"] == 12)
               & np.array([bytes(s[:4]).lower() == b"cifs" for s in recs["sname"]])][:1]
    assert len(tgs) == 1
    out = np.repeat(tgs, len(services))
    for i, s in enumerate(services):
        out["sname"][i, :] = 0
        out["sname"][i, :len(s)] = np.frombuffer(s, np.uint8)
        out["sname_len"][i] = len(s)
        out["ts_us"][i] = t0_s * 1_000_000 + i * 200_000
    return out


SPNS = [f"MSSQLSvc/sql{i:02d}.corp.example:1433".encode() for i in range(20)]


@pytest.mark.parametrize("name, n, profile, count, weak, message", [
    # Windows 7 offers AES: the RC4 form stays quiet
    (DEMO, 20, ROAST, 13, 0,
     "13 distinct service tickets asked of KDC 192.168.10.3 by 192.168.10.5 within 60 s "
     "(this one mssqlsvc/sql12.corp.example:1433); 0 other hosts asked for it before"),
    # Windows XP offers RC4 and DES only: the lower floor
    (XP, 8, ROAST_RC4, 7, 1,
     "7 distinct service tickets asked of KDC 10.5.3.1 by 10.1.12.2 within 60 s (this "
     "one mssqlsvc/sql06.corp.example:1433 (RC4/DES only)); 0 other hosts asked for it "
     "before"),
])
def test_a_burst_of_service_tickets_alerts(tmp_path, name, n, profile, count, weak,
                                           message):
    det = Detector(app_rules(tmp_path, warmup=None))
    # the first observation starts the table's clock; the burst comes after the warm-up
    det.process_app("krb5", tgs_burst(name, tmp_path / "a", [b"cifs/dc"], t0_s=1000))
    alerts = det.process_app("krb5", tgs_burst(name, tmp_path / "b", SPNS[:n], t0_s=1200))
    assert [a.profile.id for a in alerts] == [profile]
    a = alerts[0]
    assert a.observation["count"] == count and a.observation["weak"] == weak
    assert a.message == message


def test_the_window_ends_the_count(tmp_path):
    # 12 services a minute, for three minutes: a busy host, never 13 in one window
    det = Detector(app_rules(tmp_path, warmup=0))
    for k in range(3):
        burst = tgs_burst(DEMO, tmp_path / f"w{k}", SPNS[:12], t0_s=1200 + 60 * k)
        assert det.process_app("krb5", burst) == []


def test_observations_of_two_logons(tmp_path):
    """Windows 7 offers AES (weak 0), Windows XP RC4 and DES only (weak 1); krbtgt
    (renewals) gives none; names lower-cased, the realm dropped."""
    obs = EXTRACTORS["krb5"](krb5_records(DEMO, tmp_path / "demo"))
    arr = obs.array()
    sn = arr[arr["kind"] == KIND_ID["krb5.sname"]]
    assert len(sn) == 11 and not sn["weak"].any()
    assert len(np.unique(sn["key"])) == 5
    obs = EXTRACTORS["krb5"](krb5_records(XP, tmp_path / "xp"))
    arr = obs.array()
    sn = arr[arr["kind"] == KIND_ID["krb5.sname"]]
    # 10 of the XP host's 12 TGS-REQs (2 for krbtgt), and a later host's ldap/dc
    # offering etype 23 alone
    assert len(sn) == 11 and sn["weak"].all()


@pytest.mark.parametrize("name", BENIGN)
def test_no_kerberoast_alert_on_captures_with_kerberos(name, tmp_path):
    det = Detector(app_rules(tmp_path, warmup=0))
    alerts = det.process_app("krb5", krb5_records(name, tmp_path / "run"))
    assert [a.profile.id for a in alerts if a.profile.id in (ROAST, ROAST_RC4)] == []
