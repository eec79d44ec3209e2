"""Kerberos parity with tshark, the independent reference, on every shared capture with
Kerberos.

The captures: every shared capture (and the evaluation mix) holding a packet on port 88
(tcpdump's `port 88`, cheap; tshark dissects Kerberos on port 88 only). For each, tshark
lists its Kerberos frames (`-T fields`: sender, receiver, ports, kerberos.msg_type,
kerberos.CNameString, kerberos.realm, kerberos.crealm, kerberos.SNameString,
kerberos.error_code, kerberos.ENCTYPE) and the engine hands over its krb5 event records
(on_app). They are joined by (sender, its port, receiver, its port) and order, and
compared field by field:

- msg_type: the frame's first kerberos.msg_type (a TGS-REQ's second is the AP-REQ
  inside its PA-TGS-REQ). Frames of AP-REQ, AP-REP, KRB-SAFE/PRIV/CRED have no event
  (Suricata writes none) and are left out.
- cname: the CNameString components joined with "/" (Suricata's form).
- realm: a request's and an error's is their last kerberos.realm (a TGS-REQ's TGT
  realm comes first), a reply's its crealm.
- sname: tshark's SNameString components joined with "/" end with ours (a TGS-REQ's
  TGT sname comes first in tshark's list; a reply's enc-part, where tshark would find
  another, is encrypted).
- error_code; the requested etypes (kerberos.ENCTYPE, requests only, the first
  K5_MAX_ETYPES).
Classes of difference, each explained, else the test fails naming the frame:
- retransmission: tshark dissects a TCP retransmission of a message again (and then
  reads none of its fields); wirescore's stream delivers the bytes once, one event.
- cut: our event is flagged cut (the snap length, a lost segment, a TCP message over the
  2 KiB hold): the fields after the cut are absent, those read agree.
"""
from __future__ import annotations

import subprocess
import tempfile
from collections import Counter, defaultdict

import pytest

from conftest import SHARED_DATA, shared_available, shared_captures
from tshark_join import tshark_rows
from wirescore._core import msg_krb5
from wirescore.config import Config
from wirescore.engine import Engine
from wirescore.outputs.eve import ip_text

FIELDS = ("frame.number", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "udp.srcport",
          "udp.dstport", "tcp.srcport", "tcp.dstport", "kerberos.msg_type",
          "kerberos.CNameString", "kerberos.realm", "kerberos.crealm",
          "kerberos.SNameString", "kerberos.error_code", "kerberos.ENCTYPE",
          "tcp.analysis.retransmission")
EVENT_TYPES = {10, 11, 12, 13, 30}
KE_CUT, KE_CNAME, KE_REALM, KE_SNAME = 1, 16, 32, 64


def kerberos_captures() -> list:
    """Shared captures (and the evaluation mix) with a packet on port 88."""
    if not shared_available():
        return []
    found = []
    for path in shared_captures() + [SHARED_DATA / "eval" / "mix-public.pcap"]:
        out = subprocess.run(["tcpdump", "-nn", "-r", str(path), "-c", "1", "port 88"],
                             capture_output=True, timeout=300).stdout
        if out.strip():
            found.append(path)
    return found


CAPTURES = kerberos_captures()


def tshark_messages(path) -> list[dict]:
    msgs = []
    for row in tshark_rows(path, "kerberos", FIELDS):
        if not row["kerberos.msg_type"]:
            continue
        t = int(row["kerberos.msg_type"][0])
        if t not in EVENT_TYPES:
            continue
        src = (row["ip.src"] + row["ipv6.src"])[-1]
        dst = (row["ip.dst"] + row["ipv6.dst"])[-1]
        sport = int((row["udp.srcport"] + row["tcp.srcport"])[-1])
        dport = int((row["udp.dstport"] + row["tcp.dstport"])[-1])
        realms = row["kerberos.crealm"] if t in (11, 13) else row["kerberos.realm"]
        msgs.append(dict(
            frame=row["frame.number"][0], key=(src, sport, dst, dport), msg_type=t,
            retransmission=bool(row["tcp.analysis.retransmission"]),
            cname="/".join(row["kerberos.CNameString"]) or None,
            realm=(realms[0] if t in (11, 13) else realms[-1]) if realms else None,
            sname="/".join(row["kerberos.SNameString"]),
            error_code=int(row["kerberos.error_code"][0]) if t == 30 else None,
            etypes=[int(v) for v in row["kerberos.ENCTYPE"]][:msg_krb5.MAX_ETYPES]
            if t in (10, 12) else None))
    return msgs


def our_messages(path) -> list[dict]:
    got = []
    cfg = Config.load(overrides={"detect.enabled": False})
    with tempfile.TemporaryDirectory(prefix="ws-krb5-parity-") as logs:
        Engine(cfg, log_dir=logs,
               on_app=lambda kind, recs, evs: got.extend(recs) if kind == "krb5" else None
               ).run(str(path))
    out = []
    for r in got:
        v = int(r["ip_version"])
        alen = 4 if v == 4 else 16
        t, status = int(r["msg_type"]), int(r["status"])

        def text(name, bit):
            return bytes(r[name][:int(r[name + "_len"])]).decode("utf-8", "replace") \
                if status & bit else None
        out.append(dict(
            key=(ip_text(bytes(r["src_addr"][:alen]), v), int(r["src_port"]),
                 ip_text(bytes(r["dest_addr"][:alen]), v), int(r["dest_port"])),
            msg_type=t, cname=text("cname", KE_CNAME), realm=text("realm", KE_REALM),
            sname=text("sname", KE_SNAME) or "",
            error_code=int(r["error_code"]) if t == 30 else None,
            etypes=[int(x) for x in r["etypes"][:min(int(r["n_etypes"]), msg_krb5.MAX_ETYPES)]]
            if t in (10, 12) else None,
            cut=bool(status & KE_CUT)))
    return out


def _same(t: dict, m: dict) -> bool:
    return (t["msg_type"] == m["msg_type"] and t["cname"] == m["cname"]
            and t["realm"] == m["realm"] and t["sname"].endswith(m["sname"])
            and t["error_code"] == m["error_code"] and t["etypes"] == m["etypes"])


def compare(path) -> tuple[Counter, list[str]]:
    theirs, ours = tshark_messages(path), our_messages(path)
    classes: Counter = Counter()
    unexplained: list[str] = []
    by_key = defaultdict(list)
    for m in ours:
        by_key[m["key"]].append(m)
    for t in theirs:
        mine = by_key.get(t["key"])
        m = mine.pop(0) if mine else None
        if m is not None and _same(t, m):
            classes["equal"] += 1
        elif m is not None and m["cut"] and t["msg_type"] == m["msg_type"]:
            classes["cut"] += 1
        elif m is None and t["retransmission"]:
            classes["retransmission"] += 1
        else:
            unexplained.append(f"frame {t['frame']} {t['key']}: tshark {t}, wirescore {m}")
    for rest in by_key.values():
        for m in rest:
            unexplained.append(f"wirescore only: {m}")
    return classes, unexplained


def test_there_are_captures_with_kerberos():
    if not shared_available():
        pytest.skip("shared captures not found")
    assert len(CAPTURES) >= 6


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_krb5_fields_equal_tsharks(path):
    classes, unexplained = compare(path)
    assert not unexplained, f"{path.name}: {classes}\n" + "\n".join(unexplained[:10])


def test_every_kerberos_capture_was_compared_message_by_message():
    """The comparison is not empty: the Kerberos captures' messages all matched."""
    if not shared_available():
        pytest.skip("shared captures not found")
    total = Counter()
    for path in CAPTURES:
        if "kerberos" in path.name or "krb" in path.name:
            total.update(compare(path)[0])
    assert total["equal"] >= 60
