"""First-seen DNS profiles end to end on real captures (rules/app-dns-*.yaml, unit: app):
the tunnel and C2 captures of ../shared/data/pcaps/labeled give alerts that name the
host, the domain and the counts, at the event's packet time, with the flow's identity
and a snippet; benign DNS-heavy captures give none; the warm-up keeps a young table
quiet. The labeled captures are 24-62 s long, shorter than the shipped 60 s warm-up, so
most tests run the shipped profiles with warmup_seconds 0 (nothing else changed)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import need_shared
from wirescore.appkeys import COLUMNS, KINDS
from wirescore.config import Config
from wirescore.dnsnames import NO_DOMAIN, split_name
from wirescore.engine import Engine
from wirescore.rules import default_rules_dir, load_paths

APP_IDS = (9100201, 9100202, 9100203)


def app_rules(tmp_path: Path, warmup: int | None = 0) -> list:
    """The shipped app profiles, their warm-up set to `warmup` seconds (None: as
    shipped)."""
    out = tmp_path / "rules"
    out.mkdir(exist_ok=True)
    for f in sorted(default_rules_dir().glob("app-*.yaml")):
        text = f.read_text()
        if warmup is not None:
            text, n = re.subn(r"warmup_seconds: \d+", f"warmup_seconds: {warmup}", text)
            assert n == 1, f.name
        (out / f.name).write_text(text)
    return load_paths([out])


def run(pcap: Path, tmp_path: Path, profiles) -> list[dict]:
    """The app profiles' alert events of one run."""
    logdir = tmp_path / pcap.stem
    Engine(Config.load(), logdir, profiles=profiles).run(str(pcap))
    events = [json.loads(line) for line in (logdir / "eve.json").read_text().splitlines()]
    alerts = [e for e in events if e["event_type"] == "alert"]
    for a in alerts:
        assert (logdir / a["capture_file"]).is_file()        # the flow's snippet
    return [a for a in alerts if a["alert"]["signature_id"] in APP_IDS]


def app_records(pcap: Path, logdir: Path, kind: str) -> np.ndarray:
    """The app-layer event records of one kind in one capture (detection off)."""
    got = []
    Engine(Config.load(overrides={"detect.enabled": False}), logdir,
           on_app=lambda k, r, e: got.append(r.copy()) if k == kind else None).run(str(pcap))
    return np.concatenate(got)


def labeled(name: str) -> Path:
    return need_shared() / "pcaps" / "labeled" / name


def message(alert: dict) -> str:
    return alert["alert"]["metadata"]["wirescore_firstseen"][0]


def test_iodine_tunnel_names_host_and_domain(tmp_path):
    pcap = labeled("tunnels-exfil/ndpi-dns-tunnel-iodine.pcap")
    alerts = run(pcap, tmp_path, app_rules(tmp_path))
    by_id = {a["alert"]["signature_id"]: a for a in alerts}
    assert set(by_id) == {9100201, 9100202}            # long names, NULL payloads
    names = by_id[9100201]
    assert names["src_ip"] == "10.0.2.30" and names["dest_ip"] == "10.0.2.20"
    assert names["dest_port"] == 53 and names["proto"] == "UDP"
    assert names["flow_id"] > 0 and names["community_id"].startswith("1:")
    text = message(names)
    assert text.startswith("21 distinct names under pirate.sea from 10.0.2.30")
    assert text.endswith("0 other hosts asked under pirate.sea before")
    meta = names["alert"]["metadata"]
    assert meta["wirescore_unit"] == ["app"] and meta["wirescore_model"] == ["firstseen"]
    assert "pair_keys_before=20" in meta["wirescore_features"]
    # at the packet of the 21st name, not when the flow ends (24 s capture)
    assert names["timestamp"] < "2010-08-21T02:10:48"
    payloads = by_id[9100202]
    count, rest = message(payloads).split(" ", 1)
    assert int(count) > 10            # payloads under 16 bytes (gate) may come between
    assert rest.startswith("distinct TXT/NULL payloads under pirate.sea for 10.0.2.30")
    # the answer's destination is the client: the alert turns the tuple
    assert payloads["src_ip"] == "10.0.2.30" and payloads["src_port"] != 53


def test_dnscat_exfiltration_without_public_suffix(tmp_path):
    pcap = labeled("tunnels-exfil/ndpi-dns_exfiltration.pcap")
    alerts = run(pcap, tmp_path, app_rules(tmp_path))
    names = [a for a in alerts if a["alert"]["signature_id"] == 9100201]
    assert len(names) == 1
    assert names[0]["src_ip"] == "192.168.220.56"
    assert "under (no public suffix) from 192.168.220.56 (this one dnscat." in message(names[0])


def test_commands_over_txt(tmp_path):
    pcap = labeled("windows-ad-attacks/"
                   "CommandandControl__cmds_over_dns_txt_queries_and_reponses.pcap")
    alerts = run(pcap, tmp_path, app_rules(tmp_path))
    assert [a["alert"]["signature_id"] for a in alerts] == [9100202]
    assert alerts[0]["src_ip"] == "192.168.100.121"
    assert message(alerts[0]).startswith(
        "11 distinct TXT/NULL payloads under ostrykebs.pl for 192.168.100.121")


@pytest.mark.parametrize("name", [
    "labeled/netml-cicids2017-demo/demo.pcap",            # a Windows client's day (DNS)
    "peer-groundtruth/nfstream/iphone.pcap",
    "peer-groundtruth/nfstream/android.pcap",
    "peer-groundtruth/nfstream/1kxun.pcap",
])
def test_benign_dns_gives_no_alert(name, tmp_path):
    pcap = need_shared() / "pcaps" / name
    assert run(pcap, tmp_path, app_rules(tmp_path)) == []


def test_shipped_warmup_keeps_a_young_table_quiet(tmp_path):
    # iodine's capture is 24 s long: every observation falls in the first 60 s
    pcap = labeled("tunnels-exfil/ndpi-dns-tunnel-iodine.pcap")
    assert run(pcap, tmp_path, app_rules(tmp_path, warmup=None)) == []


def test_key_spec_names():
    assert [k.name for k in KINDS] == ["dns.name", "dns.txt", "dns.nx", "dcerpc.op",
                                      "krb5.user", "http.fail", "http.input",
                                      "http.turn", "http.exe", "krb5.sname",
                                      "smb.comp"]
    for k in KINDS:                  # every message formats with the columns given
        k.message.format(count=1, calls=1, keys=1, client="a", server="b", key="c",
                         **{c: 0 for c in COLUMNS})


@pytest.mark.parametrize("name, domain, under", [
    (b"www.Example.COM.", b"example.com", b"www"),
    (b"a.b.bbc.co.uk", b"bbc.co.uk", b"a.b"),
    (b"co.uk", b"co.uk", b""),
    (b"isatap", b"isatap", b""),
    (b"dnscat.fe5801f500aa", NO_DOMAIN, b"dnscat.fe5801f500aa"),
    (b"x.xn--p1ai", b"x.xn--p1ai", b""),
    (b"1.2.168.192.in-addr.arpa", b"in-addr.arpa", b"1.2.168.192"),
])
def test_registered_domain(name, domain, under):
    assert split_name(name) == (domain, under)


def nxdomain_records(logdir, names, client_last=118, t0_s=1000):
    """Real NXDOMAIN answers (zeek-wikipedia.pcap's, for a search-list suffix), their
    question renamed to each of names and their client's last byte set, one a second
    from t0_s: what a host generating domains is told."""
    from conftest import FIXTURES

    got = []
    Engine(Config.load(overrides={"detect.enabled": False}), logdir,
           on_app=lambda kind, r, e: got.append(r.copy()) if kind == "dns" else None).run(
        str(FIXTURES / "zeek-wikipedia.pcap"))
    recs = np.concatenate(got)
    nx = recs[(recs["flags"] & 0x8000 > 0) & ((recs["flags"] & 15) == 3)][:1]
    assert len(nx) == 1 and nx["n_answers"][0] == 0
    out = np.repeat(nx, len(names))
    for i, name in enumerate(names):
        out["text"][i, :] = 0
        out["text"][i, :len(name)] = np.frombuffer(name, np.uint8)
        out["qname_len"][i] = out["text_len"][i] = len(name)
        out["ts_us"][i] = (t0_s + i) * 1_000_000
        out["dest_addr"][i, 3] = client_last
    return out


def test_nxdomain_burst_of_generated_domains(tmp_path):
    from wirescore.detect import Detector

    det = Detector(app_rules(tmp_path, warmup=None))
    generated = [f"q{i:02d}x{i * 7919 % 1000:03d}kz.com".encode() for i in range(12)]
    # the first observation starts the table's clock; 60 s later the burst comes
    det.process_app("dns", nxdomain_records(tmp_path, [b"stale-link.org"], t0_s=1000))
    alerts = det.process_app("dns", nxdomain_records(tmp_path, generated, t0_s=1100))
    assert [a.profile.id for a in alerts] == [9100203]
    a = alerts[0]
    # the 11th distinct domain: stale-link.org, then the 10th generated one
    assert a.observation["count"] == 11
    assert a.message == ("11 distinct nonexistent domains for 141.142.220.118 from "
                         "141.142.2.2 (this one q09x271kz.com); 0 hosts were told it "
                         "does not exist before")
    # another host told of the same domains: each was someone else's first
    assert det.process_app("dns", nxdomain_records(tmp_path, generated, 119, t0_s=1200)) == []
    # single-label names and names without a public suffix are no registered domains
    labels = [f"probe{i}".encode() for i in range(20)]
    assert det.process_app("dns", nxdomain_records(tmp_path, labels, 120, t0_s=1300)) == []


def test_nxdomain_inside_the_warmup_is_quiet(tmp_path):
    from wirescore.detect import Detector

    det = Detector(app_rules(tmp_path, warmup=None))
    generated = [f"g{i}zz.net".encode() for i in range(30)]
    assert det.process_app("dns", nxdomain_records(tmp_path, generated, t0_s=1000)) == []


def test_alert_lines_validate_against_suricata_schema(tmp_path):
    from conftest import SHARED_DATA

    schema_path = SHARED_DATA / "suricata-eve-schema.json"
    if not schema_path.is_file():
        pytest.skip(f"Suricata EVE schema not found at {schema_path}")
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(schema_path.read_text()))
    alerts = run(labeled("tunnels-exfil/ndpi-dns-tunnel-iodine.pcap"), tmp_path,
                 app_rules(tmp_path))
    assert alerts
    for a in alerts:
        assert not list(validator.iter_errors(a))


def test_a_small_table_counts_what_it_replaced(tmp_path):
    pcap = labeled("tunnels-exfil/ndpi-dns-tunnel-iodine.pcap")
    cfg = Config.load(overrides={"detect.firstseen_rows": 64})
    summary = Engine(cfg, tmp_path / "small", profiles=app_rules(tmp_path)).run(str(pcap))
    assert summary.counters["wirescore.firstseen_seen_replaced"] > 0
    assert summary.counters["wirescore.firstseen_tally_replaced"] > 0
    roomy = Engine(Config.load(), tmp_path / "roomy", profiles=app_rules(tmp_path)).run(
        str(pcap))
    assert roomy.counters["wirescore.firstseen_seen_replaced"] == 0


def test_observations_of_hostile_records(tmp_path):
    """Any bytes and lengths in a record (names, answer offsets past the text) give
    observations or none, never an exception."""
    from wirescore.appkeys import dns_observations

    recs = nxdomain_records(tmp_path, [b"example.com"] * 400)
    rng = np.random.default_rng(16)
    recs["text"] = rng.integers(0, 256, recs["text"].shape, dtype=np.uint8)
    for field in ("qname_len", "an_data_off", "an_data_len"):
        recs[field] = rng.integers(0, 65536, recs[field].shape, dtype=np.uint16)
    recs["flags"] = rng.integers(0, 65536, len(recs), dtype=np.uint16)
    recs["n_answers"] = rng.integers(0, 256, len(recs), dtype=np.uint8)
    recs["an_type"] = rng.choice(np.array([1, 10, 16], np.uint16), recs["an_type"].shape)
    recs["an_type"][::2] = 1            # no TXT/NULL kept: n_answers past the kept ones
    obs = dns_observations(recs)
    assert len(obs.rows) > 0
    for i in range(len(obs.rows)):
        obs.words(i)


def test_the_alerted_flow_says_so(tmp_path):
    pcap = labeled("tunnels-exfil/ndpi-dns_exfiltration.pcap")
    alerts = run(pcap, tmp_path, app_rules(tmp_path))
    flows = [json.loads(line) for line in
             (tmp_path / pcap.stem / "eve.json").read_text().splitlines()
             if '"event_type":"flow"' in line]
    alerted = {f["flow_id"] for f in flows if f["flow"].get("alerted")}
    assert alerted == {a["flow_id"] for a in alerts} and len(alerted) == 1
