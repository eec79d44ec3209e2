"""LDAP parity with tshark on every shared capture with LDAP (ports 389 and 3268, by
tcpdump, and the evaluation mix): tshark's `-T fields` (ldap.messageID,
ldap.protocolOp, ldap.resultCode, ldap.baseObject, ldap.name, ldap.objectName,
ldap.object, for LDAP over TCP, inside integrity-only SASL wraps, and CLDAP) against
the engine's ldap event records, per direction of each flow (sender, its port,
receiver, its port):

- the sequence of (message ID, operation) is equal;
- the result codes, in order, are equal;
- the DNs both write (bind name, search base, entry and modify object), non-empty ones
  as a set, are equal.
Classes of difference, each explained, else the test fails naming the flow:
- sealed: tshark reads nothing inside sealed SASL buffers either; nothing to compare.
- sasl-ntlm: messages inside integrity-only NTLMSSP SASL buffers (a 16-byte signature,
  then the plaintext LDAPMessage): wirescore reads them, tshark leaves them undissected
  (it reads Kerberos wraps, which are compared); the messages outside the wraps agree.
- cut: a message cut by the snap length or longer than the 2 KiB hold (our event is
  flagged cut): its operation and ID agree, fields after the cut are absent (its DN
  and result code are left out of the comparison for that direction); when segments
  after it are cut too, the direction's parse may end there (tshark goes on).
- port: LDAP on another port (1389: a JNDI exploit's LDAP server) is found by content
  by wirescore; tshark dissects port 389 only.
"""
from __future__ import annotations

import subprocess
import tempfile
from collections import Counter, defaultdict

import pytest

from conftest import SHARED_DATA, shared_available, shared_captures
from tshark_join import tshark_rows
from wirescore.config import Config
from wirescore.engine import Engine
from wirescore.outputs.eve import ip_text

FIELDS = ("ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "udp.srcport", "udp.dstport",
          "tcp.srcport", "tcp.dstport", "ldap.messageID", "ldap.protocolOp",
          "ldap.resultCode", "ldap.baseObject", "ldap.name", "ldap.objectName",
          "ldap.object")
LD_RESULT, LE_CUT, LE_SASL = 1 << 6, 1, 128


def ldap_captures() -> list:
    if not shared_available():
        return []
    found = []
    for path in shared_captures() + [SHARED_DATA / "eval" / "mix-public.pcap"]:
        out = subprocess.run(["tcpdump", "-nn", "-r", str(path), "-c", "1",
                              "port 389 or port 3268"], capture_output=True, timeout=300).stdout
        if out.strip():
            found.append(path)
    return found


CAPTURES = ldap_captures()


def tshark_side(path) -> dict:
    by_key: dict = defaultdict(lambda: {"ops": [], "results": [], "dns": set()})
    for row in tshark_rows(path, "ldap || cldap", FIELDS):
        if not row["ldap.protocolOp"]:
            continue
        key = ((row["ip.src"] + row["ipv6.src"])[-1],
               int((row["udp.srcport"] + row["tcp.srcport"])[-1]),
               (row["ip.dst"] + row["ipv6.dst"])[-1],
               int((row["udp.dstport"] + row["tcp.dstport"])[-1]))
        side = by_key[key]
        side["ops"] += list(zip(map(int, row["ldap.messageID"]), map(int, row["ldap.protocolOp"])))
        side["results"] += [int(v) for v in row["ldap.resultCode"]]
        for f in ("ldap.baseObject", "ldap.name", "ldap.objectName", "ldap.object"):
            side["dns"] |= {v for v in row[f] if v}
    return by_key


def our_side(path) -> dict:
    got = []
    with tempfile.TemporaryDirectory(prefix="ws-ldap-parity-") as logs:
        Engine(Config.load(overrides={"detect.enabled": False}), log_dir=logs,
               on_app=lambda kind, recs, evs: got.extend(recs) if kind == "ldap" else None
               ).run(str(path))
    by_key: dict = defaultdict(lambda: {"ops": [], "plain": [], "results": [], "dns": set(),
                                        "plain_results": [], "cut": False})
    for r in got:
        v = int(r["ip_version"])
        alen = 4 if v == 4 else 16
        key = (ip_text(bytes(r["src_addr"][:alen]), v), int(r["src_port"]),
               ip_text(bytes(r["dest_addr"][:alen]), v), int(r["dest_port"]))
        side = by_key[key]
        wrapped = bool(int(r["status"]) & LE_SASL)
        side["ops"].append((int(r["message_id"]), int(r["op"])))
        if not wrapped:
            side["plain"].append((int(r["message_id"]), int(r["op"])))
        if int(r["present"]) & LD_RESULT:
            side["results"].append(int(r["result_code"]))
            if not wrapped:
                side["plain_results"].append(int(r["result_code"]))
        dn = bytes(r["dn"][:int(r["dn_len"])]).decode("utf-8", "replace")
        if dn:
            side["dns"].add(dn)
        side["cut"] |= bool(int(r["status"]) & LE_CUT)
    return by_key


def compare(path) -> tuple[Counter, list[str]]:
    theirs, ours = tshark_side(path), our_side(path)
    classes: Counter = Counter()
    bad = []
    for key in sorted(set(theirs) | set(ours)):
        t, m = theirs.get(key), ours.get(key)
        if t is None and 389 not in key[1::2] and 3268 not in key[1::2]:
            classes["port"] += 1
            continue
        if t is None or m is None:
            bad.append(f"{key}: only {'wirescore' if t is None else 'tshark'} has LDAP")
            continue
        if t["ops"] != m["ops"] and t["ops"] == m["plain"]:
            classes["sasl-ntlm"] += 1         # the module docstring
            m["results"] = m["plain_results"]
            if t["results"] != m["results"]:
                bad.append(f"{key}: results tshark {t['results'][:8]} wirescore {m['results'][:8]}")
            continue
        if m["cut"] and t["ops"][:len(m["ops"])] == m["ops"]:
            classes["cut"] += 1               # lost bytes ended the parse: the module docstring
            continue
        if t["ops"] != m["ops"]:
            bad.append(f"{key}: operations tshark {t['ops'][:8]} wirescore {m['ops'][:8]}")
        elif m["cut"]:
            classes["cut"] += 1
        elif t["results"] != m["results"] or t["dns"] != m["dns"]:
            bad.append(f"{key}: results/DNs tshark {t['results'][:8]} {sorted(t['dns'])[:4]} "
                       f"wirescore {m['results'][:8]} {sorted(m['dns'])[:4]}")
        else:
            classes["equal"] += 1
    return classes, bad


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_ldap_fields_equal_tsharks(path):
    classes, bad = compare(path)
    assert not bad, f"{path.name}: {classes}\n" + "\n".join(bad[:10])


def test_the_ldap_captures_were_compared():
    if not shared_available():
        pytest.skip("shared captures not found")
    assert len(CAPTURES) >= 4
