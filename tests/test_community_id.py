"""Community ID v1: the function against published vectors, then wirescore's EVE end to end.

Vector sources:
- corelight/community-id-spec @ b1fe530faa0c6edc56fad01abf0bfe71f01134ed (BSD-3-Clause),
  baseline/README.md tables and baseline/baseline_*.json (copies in ../shared/data/community-id/).
- OISF/suricata-verify @ 10a45e4bad6d29d0f1239d93119ea24e1bbdab19 (MIT-style), tests
  community-id-ipv4, community-id-ipv6, community-id-sameip (test.yaml checks, seeds from
  their suricata.yaml).
- zeek/zeek @ a13de64fbbdb01f90961c04719b308fbbb6d199e (BSD-3-Clause),
  testing/btest/Traces/communityid/*.pcap with their expected *.communityid.out.
A handful of them are copied below so the unit tests run without ../shared.
"""
from __future__ import annotations

import gzip
import ipaddress
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import need_shared, read_eve, run_wirescore
from wirescore.core_names import PROTO_NUMBERS
from wirescore.outputs.community_id import community_id, community_ids, icmp_port_equivalents


def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


V6A = "fe80:0001:0203:0405:0607:0809:0A0B:0C0D"
V6B = "fe80:1011:1213:1415:1617:1819:1A1B:1C1D"

# (proto, saddr, daddr, sport, dport, seed, base64, expected).
# From corelight/community-id-spec baseline/README.md @ b1fe530 (BSD-3-Clause): rows of the
# "Default settings", "A custom seed=1 value" and "No base64-encoding" tables; ICMP rows give the
# raw type and code. Then suricata-verify @ 10a45e4 (MIT-style) test.yaml community_id values
# with the seed set in each test's suricata.yaml.
EMBEDDED_VECTORS = [
    (6, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, True, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
    (6, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, True, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
    (17, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, True, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="),
    (132, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, True, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="),
    (1, "1.2.3.4", "5.6.7.8", 8, 0, 0, True, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),
    (1, "5.6.7.8", "1.2.3.4", 0, 0, 0, True, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),
    (1, "1.2.3.4", "5.6.7.8", 11, 0, 0, True, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="),
    (58, V6A, V6B, 128, 0, 0, True, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="),
    (58, V6B, V6A, 129, 0, 0, True, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="),
    (58, V6A, V6B, 146, 0, 0, True, "1:fYC8+pz24E+EhANP1EZhpX0Dw10="),
    (46, "1.2.3.4", "5.6.7.8", None, None, 0, True, "1:ikv3kmf89luf73WPz1jOs49S768="),
    (46, "5.6.7.8", "1.2.3.4", None, None, 0, True, "1:ikv3kmf89luf73WPz1jOs49S768="),
    (46, V6B, V6A, None, None, 0, True, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="),
    (6, "5.6.7.8", "1.2.3.4", 3344, 1122, 1, True, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="),
    (1, "5.6.7.8", "1.2.3.4", 0, 0, 1, True, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="),
    (58, V6A, V6B, 146, 0, 1, True, "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="),
    (46, V6A, V6B, None, None, 1, True, "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="),
    (6, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, False, "1:c026f7386ef200559e95a53276ed03fb5db908b3"),
    (1, "1.2.3.4", "5.6.7.8", 11, 0, 0, False, "1:7ff6224b25aa733ad381f5026650549ef1d170f9"),
    (46, V6A, V6B, None, None, 0, False, "1:c10ff69b0ae75cfe259897077462f978f8d1f9ed"),
    # suricata-verify community-id-ipv4 / -ipv6 (seed 7) and community-id-sameip (seed 1)
    (6, "172.26.0.39", "172.217.14.206", 35958, 443, 7, True, "1:IwiTNfuO7aCaamMijl+7/X9uLx0="),
    (6, "2600:1f13:f8:d400:3a6:303c:e011:18eb", "2607:f8b0:400a:800::200e", 60202, 443, 7, True,
     "1:ptJhMvufAbB5nLDNW77cB800wFM="),
    (6, "192.168.0.254", "192.168.0.254", 56162, 3306, 1, True, "1:IJQHtzXv/tXud3FtXIufkDsfEd4="),
    (6, "192.168.0.254", "192.168.0.254", 3306, 56162, 1, True, "1:IJQHtzXv/tXud3FtXIufkDsfEd4="),
]


@pytest.mark.parametrize("proto,saddr,daddr,sport,dport,seed,b64,expected", EMBEDDED_VECTORS)
def test_embedded_vectors(proto, saddr, daddr, sport, dport, seed, b64, expected):
    assert community_id(proto, ip(saddr), ip(daddr), sport, dport, seed=seed, base64=b64) == expected


def test_default_seed_is_zero_and_base64():
    a, b = ip("1.2.3.4"), ip("5.6.7.8")
    assert community_id(6, a, b, 1122, 3344) == community_id(6, a, b, 1122, 3344, seed=0, base64=True)
    assert community_id(6, a, b, 1122, 3344, seed=1) != community_id(6, a, b, 1122, 3344)


def test_direction_does_not_matter_for_two_way_tuples():
    pairs = [(6, "10.0.0.1", "127.0.0.1", 1234, 80), (17, "::1", "::2", 53, 53),
             (1, "10.0.0.1", "10.0.0.2", 13, 0), (58, "::1", "::2", 135, 0)]
    for proto, s, d, sp, dp in pairs:
        fwd = community_id(proto, ip(s), ip(d), sp, dp)
        if proto in (1, 58):   # the reply type answers the request type
            rev = community_id(proto, ip(d), ip(s), icmp_port_equivalents(proto, sp, dp)[1], 0)
        else:
            rev = community_id(proto, ip(d), ip(s), dp, sp)
        assert fwd == rev, (proto, s, d)


def test_one_way_icmp_keeps_direction():
    # Destination unreachable (3) has no counter-type: hashed as given, never reordered.
    a, b = ip("10.0.0.1"), ip("10.0.0.2")
    assert community_id(1, a, b, 3, 1) != community_id(1, b, a, 3, 1)
    assert icmp_port_equivalents(1, 3, 1) == (3, 1, True)
    assert icmp_port_equivalents(1, 8, 0) == (8, 0, False)
    assert icmp_port_equivalents(58, 128, 0) == (128, 129, False)
    assert icmp_port_equivalents(58, 1, 4) == (1, 4, True)


def test_icmp_mapping_is_idempotent():
    # Feeding the mapped (type, counter-type) back in gives the same ID (the baselines rely on it).
    a, b = ip("192.168.0.89"), ip("192.168.0.1")
    assert community_id(1, a, b, 8, 0) == "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="   # raw type, code
    assert community_id(1, b, a, 0, 8) == "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="   # mapped, reversed
    assert community_id(1, a, b, 13, 0) == community_id(1, a, b, 13, 14)      # timestamp request
    assert community_id(58, a + a + a + a, b * 4, 135, 0) == community_id(58, a * 4, b * 4, 135, 136)


def test_equal_addresses_ports_decide():
    a = ip("192.168.0.254")
    assert community_id(17, a, a, 1, 2) == community_id(17, a, a, 2, 1)
    assert community_id(17, a, a, 1, 2) != community_id(17, a, a, 1, 3)


def test_portless_tcp_differs_from_ported():
    # Non-first fragments keyed port-less must not collide with the ported flow.
    a, b = ip("10.0.0.1"), ip("10.0.0.2")
    assert community_id(6, a, b, None, None) == community_id(6, b, a, None, None)
    assert community_id(6, a, b, None, None) != community_id(6, a, b, 0, 0)


@pytest.mark.parametrize("args", [
    (6, b"\x01\x02\x03", bytes(4), 1, 2),          # 3-byte address
    (6, bytes(4), bytes(16), 1, 2),                # v4 with v6
    (6, bytes(4), bytes(4), 1, None),              # one port only
    (6, bytes(4), bytes(4), 70000, 1),             # port out of range
    (6, bytes(4), bytes(4), -1, 1),
    (256, bytes(4), bytes(4), 1, 2),               # proto out of range
])
def test_bad_input_raises_valueerror(args):
    with pytest.raises(ValueError):
        community_id(*args)


def test_bad_seed_raises():
    with pytest.raises(ValueError):
        community_id(6, bytes(4), bytes(4), 1, 2, seed=65536)


def test_batch_matches_single():
    rows = [(p, ip(s), ip(d), sp, dp) for p, s, d, sp, dp, seed, b64, _ in EMBEDDED_VECTORS
            if seed == 0 and b64]
    assert community_ids(rows) == [community_id(*r) for r in rows]
    assert community_ids(rows, seed=1, base64=False) == [community_id(*r, seed=1, base64=False)
                                                          for r in rows]


# ---- full published files (../shared) -------------------------------------------------------

TABLE_OPTIONS = {"default": dict(seed=0, base64=True), "seed1": dict(seed=1, base64=True),
                 "nob64_seed0": dict(seed=0, base64=False)}


def test_spec_tables_all_rows():
    data = need_shared()
    tables = json.loads((data / "community-id" / "spec_table_vectors.json").read_text())["tables"]
    assert set(tables) == set(TABLE_OPTIONS)
    n = 0
    for name, rows in tables.items():
        for r in rows:
            got = community_id(r["proto"], ip(r["saddr"]), ip(r["daddr"]), r["sport"], r["dport"],
                               **TABLE_OPTIONS[name])
            assert got == r["communityid"], (name, r)
            n += 1
    assert n == 48


@pytest.mark.parametrize("fname,opts", [("baseline_deflt.json", dict(seed=0, base64=True)),
                                        ("baseline_seed1.json", dict(seed=1, base64=True)),
                                        ("baseline_nob64.json", dict(seed=0, base64=False))])
def test_baseline_json(fname, opts):
    data = need_shared()
    rows = json.loads((data / "community-id" / fname).read_text())
    assert len(rows) == 23
    for r in rows:
        # ICMP sport/dport there are already port equivalents; the mapping is idempotent.
        got = community_id(r["proto"], ip(r["saddr"]), ip(r["daddr"]), r["sport"], r["dport"], **opts)
        assert got == r["communityid"], r


# ---- end to end: wirescore's EVE community_id against published values ----------------------

PROTO_NUM = PROTO_NUMBERS   # Suricata's proto names (spellings: test_proto_names.py)
PORT_PROTOS = (6, 17, 132)


def norm(addr: str) -> str:
    return ipaddress.ip_address(addr).compressed


def flow_key(proto, a, ap, b, bp):
    if proto in PORT_PROTOS:
        return proto, frozenset({(norm(a), ap), (norm(b), bp)})
    return proto, frozenset({norm(a), norm(b)})


def eve_flows(logdir: Path) -> list[dict]:
    return [e for e in read_eve(logdir) if e.get("event_type") == "flow"]


def check_against_published(flows: list[dict], published: list[dict], what: str,
                            seed: int = 0):
    """published: dicts with proto, saddr, daddr, sport, dport, communityid (base64,
    hashed with seed, as the flows were)."""
    by_key: dict = {}
    for r in published:
        by_key.setdefault(flow_key(r["proto"], r["saddr"], r["sport"], r["daddr"], r["dport"]),
                          []).append(r)
    seen = set()
    for f in flows:
        proto = PROTO_NUM.get(f["proto"]) or int(f["proto"])
        key = flow_key(proto, f["src_ip"], f.get("src_port"), f["dest_ip"], f.get("dest_port"))
        assert key in by_key, f"{what}: wirescore flow {key} has no published Community ID"
        seen.add(key)
        cid = f.get("community_id")
        candidates = by_key[key]
        assert cid in {r["communityid"] for r in candidates}, (what, f, candidates)
        if proto in (1, 58):
            # the published record for this flow's first packet (same sender and type)
            exact = [r for r in candidates if norm(r["saddr"]) == norm(f["src_ip"])
                     and r["sport"] == f["icmp_type"]]
            if exact:
                assert cid == exact[0]["communityid"], (what, f, exact[0])
            sp, dp = f["icmp_type"], f["icmp_code"]
        else:
            sp, dp = f.get("src_port"), f.get("dest_port")
        assert cid == community_id(proto, ip(f["src_ip"]), ip(f["dest_ip"]), sp, dp,
                                   seed=seed), (what, f)
    missing = set(by_key) - seen
    assert not missing, f"{what}: no wirescore flow for published tuples {sorted(map(str, missing))}"


@pytest.fixture(scope="module")
def run_logs(tmp_path_factory):
    """run_logs(pcap) -> LOGDIR after one wirescore run per capture (cached for the module)."""
    cache: dict = {}

    def _run(pcap: Path) -> Path:
        if pcap not in cache:
            logdir = tmp_path_factory.mktemp("cid") / "logs"
            run_wirescore("run", "-r", pcap, "-l", logdir, "--no-detect")
            cache[pcap] = logdir
        return cache[pcap]

    return _run


def test_e2e_corelight_combined_pcap(run_logs, tmp_path_factory):
    data = need_shared()
    pcap = tmp_path_factory.mktemp("combined") / "combined.pcap"
    with gzip.open(data / "community-id" / "combined.pcap.gz") as src, open(pcap, "wb") as dst:
        shutil.copyfileobj(src, dst)
    published = json.loads((data / "community-id" / "baseline_deflt.json").read_text())
    flows = eve_flows(run_logs(pcap))
    assert flows, "no flow events for combined.pcap"
    check_against_published(flows, published, "combined.pcap")


def test_e2e_corelight_combined_pcap_seed1(tmp_path):
    """--community-id-seed 1 against the baseline hashed with seed 1 (as Suricata's
    community-id-seed: 1); no flow keeps its seed-0 ID."""
    data = need_shared()
    pcap = tmp_path / "combined.pcap"
    with gzip.open(data / "community-id" / "combined.pcap.gz") as src, open(pcap, "wb") as dst:
        shutil.copyfileobj(src, dst)
    run_wirescore("run", "-r", pcap, "-l", tmp_path / "logs", "--no-detect",
                  "--community-id-seed", "1")
    published = json.loads((data / "community-id" / "baseline_seed1.json").read_text())
    flows = eve_flows(tmp_path / "logs")
    assert flows, "no flow events for combined.pcap"
    check_against_published(flows, published, "combined.pcap seed 1", seed=1)
    seed0 = {r["communityid"] for r in
             json.loads((data / "community-id" / "baseline_deflt.json").read_text())}
    assert not seed0 & {f["community_id"] for f in flows}


ZEEK_LINE = re.compile(r"\[orig_h=(?P<oh>[^,]+), orig_p=(?P<op>\d+)/(?P<ot>\w+), resp_h=(?P<rh>[^,]+), "
                       r"resp_p=(?P<rp>\d+)/(?P<rt>\w+), proto=(?P<proto>\d+), ctx=\[\]\], (?P<cid>1:\S+)")


def zeek_expected(out: Path) -> list[dict]:
    rows = []
    for line in out.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = ZEEK_LINE.fullmatch(line.strip())
        assert m, f"unparsed line in {out.name}: {line!r}"
        proto = int(m["proto"])
        ported = proto in PORT_PROTOS or proto in (1, 58)
        rows.append(dict(proto=proto, saddr=m["oh"], daddr=m["rh"],
                         sport=int(m["op"]) if ported else None,
                         dport=int(m["rp"]) if ported else None, communityid=m["cid"], ptype=m["ot"]))
    return rows


ZEEK_CID = ["arp", "icmp", "icmp6", "ipv6", "tcp", "udp", "sctp"]


@pytest.mark.parametrize("name", ZEEK_CID)
def test_e2e_zeek_communityid_traces(name, run_logs):
    data = need_shared()
    folder = data / "pcaps" / "peer-groundtruth" / "zeek-communityid"
    expected = zeek_expected(folder / f"{name}.pcap.communityid.out")
    if name == "sctp":
        # Zeek's baseline predates its SCTP analyzer: ports logged "0/unknown" and hashed as 0/0.
        # The spec (and Suricata, and the corelight baseline for this same trace inside
        # combined.pcap, ports 7/7) hash the real SCTP ports; that case is checked above.
        assert all(r["ptype"] == "unknown" and r["sport"] == 0 for r in expected)
        pytest.skip("zeek's sctp baseline hashes ports 0/0 (no SCTP port parsing in that Zeek); "
                    "SCTP is checked against the corelight baseline in test_e2e_corelight_combined_pcap")
    flows = eve_flows(run_logs(folder / f"{name}.pcap"))
    if name == "arp":
        assert expected == [] and flows == [], "ARP is non-IP: no flows and no Community IDs"
        return
    check_against_published(flows, expected, f"zeek-communityid/{name}.pcap")

