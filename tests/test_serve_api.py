"""The REST API over a real run's log directory: every endpoint, then bad input (unknown
alert ids, bad filters, snippet paths that try to leave pcaps/, a missing or wrong token
when the server needs one): a clear 4xx, one line, nothing of the server's disk."""
from __future__ import annotations

import io
import json
import os

import dpkt
import pytest
from serve_support import alert_like, append, later, real_run, wait_for

from starlette.testclient import TestClient
from wirescore.serve.app import build_app
from wirescore.serve.settings import ServeSettings

TOKEN = "t0ken-for-the-tests-0123456789"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve-api")
    real_run(d)
    return d


@pytest.fixture
def client(logdir, tmp_path):
    """A client of a server over a copy of the real run (the tests append to it)."""
    work = tmp_path / "logs"
    work.mkdir()
    (work / "eve.json").write_bytes((logdir / "eve.json").read_bytes())
    os.symlink(logdir / "pcaps", work / "pcaps")
    with TestClient(build_app(work)) as c:
        wait_for(lambda: c.get("/api/status").json()["events"].get("stats"), "the run read")
        c.logdir = work
        yield c


def events(client) -> list[dict]:
    return [json.loads(x) for x in (client.logdir / "eve.json").read_text().splitlines()]


def test_status_counts_what_the_run_wrote(client):
    ev = events(client)
    s = client.get("/api/status").json()
    assert s["events"] == {"alert": 3, "flow": 1994, "stats": 1}
    assert s["events"]["flow"] == sum(e["event_type"] == "flow" for e in ev)
    assert (s["alerts_total"], s["alerts_indexed"], s["newest_id"]) == (3, 3, 3)
    assert s["max_alerts"] == ServeSettings().max_alerts
    assert s["alerts_by_severity"] == {"1": 0, "2": 3, "3": 0, "4": 0}
    assert s["lines_read"] == len(ev)
    assert s["eve"] == "eve.json"


def test_alerts_newest_first_with_their_features(client):
    ev = [e for e in events(client) if e["event_type"] == "alert"]
    page = client.get("/api/alerts").json()
    assert [a["id"] for a in page["alerts"]] == [3, 2, 1]
    assert page["next_before"] is None and page["newest_id"] == 3
    for a, e in zip(reversed(page["alerts"]), ev):
        assert a["signature_id"] == e["alert"]["signature_id"]
        assert a["signature"] == e["alert"]["signature"]
        assert (a["src_ip"], a["dest_ip"]) == (e["src_ip"], e["dest_ip"])
        assert a["features"] == e["alert"]["metadata"]["wirescore_features"]
        assert a["score"] == pytest.approx(e["alert"]["context"]["wirescore"]["score"])
        assert a["has_pcap"] and a["timestamp"] == e["timestamp"]


def test_alerts_paged_filtered_and_since(client):
    sid = client.get("/api/alerts").json()["alerts"][0]["signature_id"]
    p1 = client.get("/api/alerts?limit=2").json()
    assert [a["id"] for a in p1["alerts"]] == [3, 2] and p1["next_before"] == 2
    p2 = client.get(f"/api/alerts?limit=2&before={p1['next_before']}").json()
    assert [a["id"] for a in p2["alerts"]] == [1] and p2["next_before"] is None
    assert [a["id"] for a in client.get("/api/alerts?since=1").json()["alerts"]] == [3, 2]
    assert client.get("/api/alerts?severity=1").json()["alerts"] == []
    assert len(client.get("/api/alerts?severity=1,2").json()["alerts"]) == 3
    assert {a["signature_id"] for a in
            client.get(f"/api/alerts?signature={sid}").json()["alerts"]} == {sid}
    assert len(client.get("/api/alerts?signature=FLOODED").json()["alerts"]) >= 1
    assert len(client.get("/api/alerts?address=64.13.134.52").json()["alerts"]) == 3
    assert client.get("/api/alerts?address=10.9.9.9").json()["alerts"] == []
    ts = client.get("/api/alerts/3").json()["timestamp"]
    assert {a["id"] for a in client.get("/api/alerts", params={"since": ts}).json()["alerts"]} >= {3}


def test_one_alert_opens_to_its_flow_and_explanation(client):
    ev = events(client)
    flows = {e["flow_id"]: e for e in ev if e["event_type"] == "flow"}
    for n in (1, 2, 3):
        a = client.get(f"/api/alerts/{n}").json()
        assert a["event"]["event_type"] == "alert"
        assert a["flow"] == flows[a["flow_id"]]
        assert any(x.startswith("stood out: ") for x in a["explanation"])
        assert any(x.startswith("score: ") for x in a["explanation"])


def test_snippet_downloads_as_the_pcap_the_run_wrote(client):
    a = client.get("/api/alerts/1").json()
    r = client.get("/api/alerts/1/pcap")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.tcpdump.pcap"
    assert "attachment" in r.headers["content-disposition"]
    assert r.content == (client.logdir / a["event"]["capture_file"]).read_bytes()
    packets = list(dpkt.pcap.Reader(io.BytesIO(r.content)))
    assert packets


def test_top_series_stats_and_openapi(client):
    top = client.get("/api/top?n=5").json()
    assert top["sources"] == [{"address": "172.16.0.8", "alerts": 3}]
    assert top["destinations"] == [{"address": "64.13.134.52", "alerts": 3}]
    ev = events(client)
    s = client.get("/api/series").json()
    assert sum(s["flows_per_s"]["v"]) == sum(e["event_type"] == "flow" for e in ev)
    assert sum(sum(s["alerts_per_min"][k]) for k in "1234") == 3
    stats = [e for e in ev if e["event_type"] == "stats"][-1]["stats"]
    st = client.get("/api/stats").json()
    assert st["latest"]["packets"] == stats["decoder"]["pkts"]
    assert st["latest"]["kernel_drops"] == stats["capture"]["kernel_drops"]
    assert st["points"][0]["packets_per_s"] == pytest.approx(
        stats["decoder"]["pkts"] / stats["uptime"], rel=1e-3)
    assert sum(x["alerts"] for x in st["signatures"]) == 3
    doc = client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/status", "/api/stats", "/api/alerts", "/api/alerts/{alert_id}",
            "/api/alerts/{alert_id}/pcap", "/api/top", "/api/series"} <= set(doc["paths"])


def test_page_and_assets_ship_with_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/plotly.min.js" in page.text
    assert "cdn" not in page.text.lower()
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert client.get("/static/app.js").status_code == 200


def test_an_appended_alert_is_served_and_a_flow_read_later_attaches(client):
    alert = next(e for e in events(client) if e["event_type"] == "alert")
    append(client.logdir / "eve.json",
           alert_like(alert, later(0), flow_id=4242, src_ip="10.1.2.3"))
    wait_for(lambda: client.get("/api/status").json()["alerts_total"] == 4, "alert 4")
    a = client.get("/api/alerts/4").json()
    assert (a["src_ip"], a["flow"]) == ("10.1.2.3", None)
    flow = next(e for e in events(client) if e["event_type"] == "flow")
    append(client.logdir / "eve.json",
           (json.dumps({**flow, "flow_id": 4242}) + "\n").encode())
    wait_for(lambda: client.get("/api/alerts/4").json()["flow"], "the flow to attach")
    assert client.get("/api/top").json()["sources"][1] == {"address": "10.1.2.3",
                                                           "alerts": 1}


@pytest.mark.parametrize("query, names", [
    ("severity=5", "severity"), ("severity=high", "severity"), ("severity=²", "severity"),
    ("limit=0", "limit"), ("limit=100000", "limit"), ("limit=-1", "limit"),
    ("before=x", "before"), ("since=yesterday", "since"), ("address=999.1.1.1", "address"),
    ("address=<script>", "address"), ("colour=red", "colour"), ("signature=" + "x" * 201,
                                                              "signature"),
])
def test_bad_filters_are_400_naming_the_parameter(client, query, names):
    r = client.get(f"/api/alerts?{query}")
    assert r.status_code == 400
    assert r.json()["error"].startswith(names + ":")
    assert "Traceback" not in r.text and "<script>" not in r.json()["error"]


@pytest.mark.parametrize("path, status, text", [
    ("/api/alerts/99", 404, "no alert 99"),
    ("/api/alerts/0", 404, "no alert 0"),
    ("/api/alerts/abc", 400, "alert id: not a whole number"),
    ("/api/alerts/-1", 400, "alert id: not a whole number"),
    ("/api/alerts/99999999999999999999999", 400, "alert id: not a whole number"),
    ("/api/alerts/99/pcap", 404, "no alert 99"),
    ("/api/top?n=0", 400, "n: not a whole number from 1 to 100"),
    ("/api/top?n=many", 400, "n: not a whole number from 1 to 100"),
])
def test_unknown_ids_and_bad_values(client, path, status, text):
    r = client.get(path)
    assert (r.status_code, r.json()) == (status, {"error": text})


def test_unknown_path_is_404(client):
    assert client.get("/api/nothing").status_code == 404
    assert client.get("/static/../../../etc/passwd").status_code == 404


def test_evicted_alert_is_said_to_be_evicted(logdir):
    with TestClient(build_app(logdir, settings=ServeSettings(max_alerts=2))) as c:
        wait_for(lambda: c.get("/api/status").json()["alerts_total"] == 3, "the alerts")
        r = c.get("/api/alerts/1")
        assert r.status_code == 404 and "no longer indexed" in r.json()["error"]
        assert c.get("/api/status").json()["alerts_indexed"] == 2


@pytest.mark.parametrize("capture_file", [
    "../../../../../../etc/passwd", "/etc/passwd", "pcaps/../eve.json",
    "pcaps/../../outside.pcap", "pcaps/link.pcap", "pcaps/sub/x.pcap", "eve.json",
    "pcaps/%2e%2e/x.pcap", "pcaps/x.pcap\u0000.txt", 12, None,
])
def test_snippet_paths_outside_pcaps_are_refused(client, tmp_path, capture_file):
    """A crafted eve.json line cannot make the server read outside LOGDIR/pcaps: a
    symlink out of the folder, '..', an absolute path, another file type."""
    (tmp_path / "outside.pcap").write_bytes(b"secret")
    pcaps = tmp_path / "own-pcaps"
    pcaps.mkdir()
    os.unlink(client.logdir / "pcaps")
    pcaps.rename(client.logdir / "pcaps")
    (client.logdir / "pcaps" / "link.pcap").symlink_to(tmp_path / "outside.pcap")
    alert = next(e for e in events(client) if e["event_type"] == "alert")
    append(client.logdir / "eve.json", alert_like(alert, later(0), capture_file=capture_file))
    wait_for(lambda: client.get("/api/status").json()["alerts_total"] == 4, "alert 4")
    r = client.get("/api/alerts/4/pcap")
    assert r.status_code == 404
    assert r.json() == {"error": "alert 4 has no pcap snippet in the log directory's pcaps/"}
    assert b"secret" not in r.content and b"root:" not in r.content


def test_deleted_snippet_is_410(client, tmp_path):
    alert = next(e for e in events(client) if e["event_type"] == "alert")
    os.unlink(client.logdir / "pcaps")
    (client.logdir / "pcaps").mkdir()
    append(client.logdir / "eve.json", alert_like(alert, later(0)))
    wait_for(lambda: client.get("/api/status").json()["alerts_total"] == 4, "alert 4")
    r = client.get("/api/alerts/4/pcap")
    assert r.status_code == 410 and "gone" in r.json()["error"]


def test_bad_lines_are_counted_not_fatal(client):
    append(client.logdir / "eve.json", b"not json\n[1,2]\n{\"event_type\": \"alert\"}\n")
    wait_for(lambda: client.get("/api/status").json()["events"].get("bad_lines") == 2,
             "the bad lines")
    assert client.get("/api/status").json()["alerts_total"] == 3


class TestToken:
    """A server with a token (required beyond loopback) asks for it on /api and /ws."""

    @pytest.fixture
    def guarded(self, logdir):
        with TestClient(build_app(logdir, token=TOKEN)) as c:
            yield c

    @pytest.mark.parametrize("path", ["/api/status", "/api/stats", "/api/alerts",
                                      "/api/alerts/1", "/api/alerts/1/pcap", "/api/top",
                                      "/api/series", "/api/openapi.json", "/api/nothing"])
    def test_missing_and_wrong_token(self, guarded, path):
        r = guarded.get(path)
        assert r.status_code == 401 and "token" in r.json()["error"]
        assert r.headers["www-authenticate"] == "Bearer"
        r = guarded.get(path, headers={"Authorization": "Bearer wrong-token-000000000"})
        assert (r.status_code, r.json()) == (403, {"error": "wrong token"})
        r = guarded.get(path + ("&" if "?" in path else "?") + "token=" + TOKEN[:-1])
        assert r.status_code == 403 and TOKEN not in r.text

    def test_right_token_by_header_or_query(self, guarded):
        wait_for(lambda: guarded.get("/api/status", params={"token": TOKEN}).json()
                 ["alerts_total"] == 3, "the alerts")
        r = guarded.get("/api/alerts/1", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        r = guarded.get("/api/alerts/1/pcap", params={"token": TOKEN})
        assert r.status_code == 200 and r.content[:4] == b"\xd4\xc3\xb2\xa1"

    def test_the_page_holds_no_data_and_needs_no_token(self, guarded):
        assert guarded.get("/").status_code == 200
        assert guarded.get("/static/app.js").status_code == 200

    def test_websocket_needs_the_token(self, guarded):
        from starlette.websockets import WebSocketDisconnect

        for query in ("", "?token=wrong-token-000000000"):
            with pytest.raises(WebSocketDisconnect) as err:
                with guarded.websocket_connect("/ws" + query) as ws:
                    ws.receive_json()
            assert err.value.code in (4401, 4403)
        with guarded.websocket_connect(f"/ws?token={TOKEN}") as ws:
            assert ws.receive_json()["type"] == "hello"


def test_websocket_sends_appended_alerts_matching_its_filter(client):
    alert = next(e for e in events(client) if e["event_type"] == "alert")
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_json({"filter": {"address": "10.7.7.7"}})
        ws.send_json({"filter": {"severity": "9"}})
        assert ws.receive_json() == {"type": "error",
                                     "error": "severity: '9' is not one of 1, 2, 3, 4"}
        append(client.logdir / "eve.json",
               alert_like(alert, later(0), src_ip="10.8.8.8") +
               alert_like(alert, later(0), src_ip="10.7.7.7"))
        while True:
            m = ws.receive_json()
            if m["type"] == "alerts":
                break
        assert [(a["id"], a["src_ip"]) for a in m["alerts"]] == [(5, "10.7.7.7")]
