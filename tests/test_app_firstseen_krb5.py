"""First-seen Kerberos profile end to end on real captures (rules/app-krb5-many-
accounts.yaml, observation kind krb5.user): a password spray alerts naming the
sprayer, the KDC and the count of accounts; a workstation's logons (its machine
account and its user, names in two cases) stay under the floor."""
from __future__ import annotations

import numpy as np

from conftest import need_shared
from test_app_firstseen import app_records, app_rules, labeled
from wirescore.appkeys import EXTRACTORS, KIND_ID
from wirescore.detect import Detector

SPRAY = 9100221


def krb5_records(pcap, logdir) -> np.ndarray:
    return app_records(pcap, logdir, "krb5")


def test_password_spray_names_sprayer_and_kdc(tmp_path):
    pcap = labeled("windows-ad-attacks/CredAccess__CA_kerbrute_passwordspray_kerberos_"
                   "AS-REQ.pcapng")
    det = Detector(app_rules(tmp_path, warmup=0))
    alerts = det.process_app("krb5", krb5_records(pcap, tmp_path / "run"))
    assert [a.profile.id for a in alerts] == [SPRAY]
    a = alerts[0]
    assert a.observation["count"] == 9                     # the floor is 8
    assert a.message == ("9 distinct accounts asked of KDC 172.16.66.36 by 172.16.66.1 "
                         "(this one admin02); 0 other hosts asked for it before")


def test_workstation_logons_stay_under_the_floor(tmp_path):
    recs = krb5_records(need_shared() / "pcaps" / "labeled" /
                        "netml-cicids2017-demo/demo.pcap", tmp_path / "run")
    obs = EXTRACTORS["krb5"](recs).array()
    obs = obs[obs["kind"] == KIND_ID["krb5.user"]]
    # machine account and user, "MITACS-PC3$" and "mitacs-pc3$" being one account
    assert len(np.unique(obs["key"])) == 2 and len(obs) == 10
    det = Detector(app_rules(tmp_path, warmup=0))
    assert det.process_app("krb5", recs) == []


def test_shipped_warmup_keeps_a_young_table_quiet(tmp_path):
    pcap = labeled("windows-ad-attacks/CredAccess__CA_kerbrute_passwordspray_kerberos_"
                   "AS-REQ.pcapng")
    det = Detector(app_rules(tmp_path, warmup=None))
    assert det.process_app("krb5", krb5_records(pcap, tmp_path / "run")) == []
