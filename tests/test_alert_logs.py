"""The alert logs for SIEMs (outputs/alert_logs.py): CEF (outputs/cef.py) and the
Zeek-style notice log (outputs/notice.py), checked against eve.json's alerts on a real
capture, with a CEF parser written here from the CEF spec (not the module's code), and
the notices joined to Zeek's own Community IDs on Zeek's traces.
"""
from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from conftest import FIXTURES, need_shared, read_eve, run_wirescore
import wirescore
from wirescore.config import Config
from wirescore.engine import Engine
from wirescore.outputs.cef import cef_line
from wirescore.outputs.notice import note_of, notice_record

PCAP = FIXTURES / "ndpi-synscan.pcap"     # a SYN scan: window and attempt alerts
#: what the module docstrings document
CEF_SEVERITY = {1: 10, 2: 7, 3: 4}
ZEEK_PROTO = {"TCP": "tcp", "UDP": "udp", "ICMP": "icmp", "IPv6-ICMP": "icmp"}
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# ---------------------------------------------------------------- a CEF parser (spec)

def _unescape_runs(text: str) -> list[tuple[str, bool]]:
    """text as (char, was_escaped) pairs: a backslash escapes the character after it."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append((text[i + 1], True))
            i += 2
        else:
            out.append((text[i], False))
            i += 1
    return out


def parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """(7 header fields after "CEF:0", extension dict) of one CEF line. Header: split
    on the first 7 unescaped pipes, \\| and \\\\ unescaped. Extension: a key is the word
    before an unescaped "=" at the start or after a space; its value runs to the space
    before the next key; \\= \\\\ \\n \\r unescaped."""
    assert "\n" not in line and "\r" not in line, "a CEF line holds no line break"
    chars = _unescape_runs(line)
    fields, current, i = [], [], 0
    while len(fields) < 7:
        assert i < len(chars), f"fewer than 8 header fields: {line!r}"
        ch, escaped = chars[i]
        if ch == "|" and not escaped:
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    assert fields[0] == "CEF:0", line
    rest = chars[i:]
    # positions of unescaped '=' whose key starts the text or follows a space
    keys = []
    for pos, (ch, escaped) in enumerate(rest):
        if ch == "=" and not escaped:
            start = pos
            while start > 0 and re.fullmatch(r"[A-Za-z0-9_]", rest[start - 1][0]) \
                    and not rest[start - 1][1]:
                start -= 1
            assert start < pos and (start == 0 or rest[start - 1] == (" ", False)), \
                f"unescaped '=' outside a key at {pos}: {line!r}"
            keys.append((start, pos))
    ext = {}
    for n, (start, pos) in enumerate(keys):
        end = keys[n + 1][0] - 1 if n + 1 < len(keys) else len(rest)
        key = "".join(c for c, _ in rest[start:pos])
        value = "".join({"n": "\n", "r": "\r"}.get(c, c) if e else c
                        for c, e in rest[pos + 1:end])
        assert key not in ext, f"key {key} twice"
        ext[key] = value
    return fields[1:], ext


def epoch_us(timestamp: str) -> int:
    t = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    return int(t.replace(microsecond=0).timestamp()) * 1_000_000 + t.microsecond


def unbase62(text: str) -> int:
    n = 0
    for c in text:
        n = n * 62 + B62.index(c)
    return n


# ---------------------------------------------------------------- against eve.json

@pytest.fixture(scope="module")
def synscan(tmp_path_factory):
    """(eve events, CEF lines, notice dicts) of one run on the SYN scan, both logs on."""
    logs = tmp_path_factory.mktemp("alertlogs") / "logs"
    run_wirescore("run", "-r", PCAP, "-l", logs, "--cef", "--notice-log",
                  "--notice-filename", "zeek-notice.json")
    cef = (logs / "alerts.cef").read_text(encoding="utf-8").splitlines()
    notices = [json.loads(x) for x in (logs / "zeek-notice.json").read_text().splitlines()]
    return read_eve(logs), cef, notices


def eve_alerts(events: list[dict]) -> list[dict]:
    alerts = [e for e in events if e["event_type"] == "alert"]
    units = {a["alert"]["metadata"]["wirescore_unit"][0] for a in alerts}
    # more than one alert kind, with and without ports
    assert {"window", "attempt"} <= units, units
    return alerts


def test_cef_line_per_eve_alert_in_order(synscan):
    events, cef, _ = synscan
    alerts = eve_alerts(events)
    assert len(cef) == len(alerts)
    for line, ev in zip(cef, alerts):
        header, ext = parse_cef(line)
        a = ev["alert"]
        assert header == ["wirescore", "wirescore", wirescore.__version__,
                          str(a["signature_id"]), a["signature"],
                          str(CEF_SEVERITY[a["severity"]])]
        assert int(ext["rt"]) == epoch_us(ev["timestamp"]) // 1000
        assert ext["cat"] == a["category"]
        expected = {"src": ev.get("src_ip"), "dst": ev.get("dest_ip"),
                    "spt": ev.get("src_port"), "dpt": ev.get("dest_port"),
                    "proto": ev.get("proto"), "cs1": ev.get("community_id"),
                    "cs2": ev.get("flow_id"), "cs3": ev.get("capture_file")}
        for key, value in expected.items():
            # a field the alert lacks is left out of the line
            assert ext.get(key) == (None if value is None else str(value)), (key, line)
        for key, label in (("cs1", "community_id"), ("cs2", "flow_id"),
                           ("cfp1", "score"), ("cs3", "capture_file")):
            assert (ext.get(f"{key}Label") == label) == (key in ext), (key, line)
        assert float(ext["cfp1"]) == float(a["metadata"]["wirescore_score"][0])
        crossed = a["metadata"].get("wirescore_crossed")
        assert ext["msg"] == (crossed[0] if crossed else a["metadata"]["wirescore_features"][0])


def test_notice_line_per_eve_alert_in_order(synscan):
    events, _, notices = synscan
    alerts = eve_alerts(events)
    flows = {e["flow_id"]: e for e in events if e["event_type"] == "flow"}
    assert len(notices) == len(alerts)
    for n, ev in zip(notices, alerts):
        a = ev["alert"]
        assert n["ts"] == epoch_us(ev["timestamp"]) / 1e6
        expected = {"id.orig_h": ev.get("src_ip"), "id.orig_p": ev.get("src_port"),
                    "id.resp_h": ev.get("dest_ip"), "id.resp_p": ev.get("dest_port"),
                    "src": ev.get("src_ip"), "dst": ev.get("dest_ip"),
                    "community_id": ev.get("community_id"),
                    "proto": ZEEK_PROTO.get(ev["proto"]) if "proto" in ev else None,
                    "capture_file": ev.get("capture_file")}
        for key, value in expected.items():
            assert n.get(key) == value and ((key in n) == (value is not None)), (key, n)
        assert n["msg"] == a["signature"] and n["wirescore_signature_id"] == a["signature_id"]
        assert n["note"].startswith("Wirescore::") and \
            n["note"].endswith(f"_{a['signature_id']}")
        assert n["actions"] == ["Notice::ACTION_LOG"] and n["sub"]
        if "flow_id" in ev:
            assert n["uid"][0] == "C" and unbase62(n["uid"][1:]) == ev["flow_id"]
            # the notice joins the flow's own EVE flow event on community_id
            assert flows[ev["flow_id"]]["community_id"] == n["community_id"]
        else:
            assert "uid" not in n


def test_logs_are_off_by_default(tmp_path):
    run_wirescore("run", "-r", PCAP, "-l", tmp_path / "logs")
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["eve.json", "pcaps"]


@pytest.mark.parametrize("flag", ["--cef-filename", "--notice-filename"])
def test_filename_cannot_leave_the_log_directory(flag, tmp_path):
    on = "--cef" if flag == "--cef-filename" else "--notice-log"
    proc = run_wirescore("run", "-r", PCAP, "-l", tmp_path / "logs", on, flag, "../x.log",
                         check=False)
    assert proc.returncode != 0
    assert "must be a plain file name" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.log").exists()


def test_reopen_starts_new_files(tmp_path):
    """SIGHUP's reopen_outputs(): once the first alert lines are out, the logs are moved
    away (as logrotate does) and reopened; the lines after go to new files by name."""
    logs = tmp_path / "logs"
    cfg = Config.load(overrides={"outputs.cef.enabled": True, "outputs.notice.enabled": True,
                                 "capture.batch_size": 100})
    rotated = []

    def on_progress(progress):
        cef = logs / "alerts.cef"
        if not rotated and cef.exists() and cef.stat().st_size:
            for name in ("alerts.cef", "notice.json"):
                (logs / name).rename(logs / f"{name}.1")
            rotated.append(progress.packets)
            engine.reopen_outputs()

    engine = Engine(cfg, logs, on_progress=on_progress)
    engine.run(str(PCAP))
    alerts = eve_alerts(read_eve(logs))
    assert rotated, "no alert line was written before the end"
    for name in ("alerts.cef", "notice.json"):
        old = (logs / f"{name}.1").read_text().splitlines()
        new = (logs / name).read_text().splitlines()
        assert old and new and len(old) + len(new) == len(alerts), name


# ---------------------------------------------------------------- escaping

def test_cef_escaping_round_trips():
    nasty = "a|b=c\\d\ne\rf"
    event = {"timestamp": "2024-02-29T23:59:59.999999+0000", "src_ip": "2001:db8::1",
             "dest_ip": "10.0.0.1", "src_port": 1, "dest_port": 2, "proto": "UDP",
             "flow_id": 2 ** 63 - 1, "capture_file": "pcaps/x=y.pcap",
             "alert": {"signature_id": 42, "signature": nasty, "category": nasty,
                       "severity": 9, "metadata": {"wirescore_score": ["1.500000"],
                                                   "wirescore_crossed": [nasty]}}}
    line = cef_line(event)
    header, ext = parse_cef(line)
    # header: pipe and backslash escaped; a header field holds no line break
    assert header[4] == "a|b=c\\d e f" and header[5] == "5"
    assert ext["cat"] == nasty and ext["msg"] == nasty and ext["cs3"] == "pcaps/x=y.pcap"
    assert ext["rt"] == str(epoch_us(event["timestamp"]) // 1000)
    # IPv6 in c6a2 with its label, IPv4 in dst
    assert ext["c6a2"] == "2001:db8::1" and ext["c6a2Label"] == "Source IPv6 Address"
    assert "src" not in ext and ext["dst"] == "10.0.0.1" and "c6a3" not in ext
    assert ext["cs2"] == str(2 ** 63 - 1) and float(ext["cfp1"]) == 1.5
    assert "cs1" not in ext and "cs1Label" not in ext


def test_notice_without_ports_or_flow():
    """A window alert: one address, no ports, uid, proto or community_id: left out."""
    event = {"timestamp": "1970-01-01T00:00:01.000001+0000", "dest_ip": "10.0.0.9",
             "alert": {"signature_id": 7, "signature": "WIRESCORE dst flood: x",
                       "metadata": {}}}
    n = notice_record(event)
    assert n == {"ts": 1.000001, "id.resp_h": "10.0.0.9",
                 "note": "Wirescore::DstFloodX_7", "msg": "WIRESCORE dst flood: x",
                 "dst": "10.0.0.9", "actions": ["Notice::ACTION_LOG"],
                 "wirescore_signature_id": 7}
    assert note_of(3, "") == "Wirescore::Alert_3"


# ---------------------------------------------------------------- joined to Zeek

#: one alert per finished flow (every flow's pkts_toserver is beyond a tiny floor)
EVERY_FLOW = """\
id: 9999101
name: "TEST every flow"
category: "Not Suspicious Traffic"
unit: flow
features: [flow.pkts_toserver]
transform: none
model: {name: extreme, params: {floors: {flow.pkts_toserver: 0.001}, quantile: 0.999,
        margin: 1, memory: 20000}}
threshold: {fixed: 0.0}
warmup: 0
learn: unalerted
"""
ZEEK_LINE = re.compile(r"\[orig_h=([^,]+), orig_p=(\d+)/(\w+), resp_h=([^,]+), "
                       r"resp_p=(\d+)/(\w+), proto=(\d+), ctx=\[\]\], (1:\S+)")


def zeek_conn_ids(out: Path) -> dict[str, list[tuple]]:
    """Zeek's community_id -> its conn ids (orig_h, orig_p, resp_h, resp_p, proto)."""
    rows: dict[str, list[tuple]] = {}
    for line in out.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = ZEEK_LINE.fullmatch(line.strip())
        assert m, f"unparsed line in {out.name}: {line!r}"
        oh, op, ptype, rh, rp, _, _, cid = m.groups()
        rows.setdefault(cid, []).append((ipaddress.ip_address(oh), int(op),
                                         ipaddress.ip_address(rh), int(rp), ptype))
    return rows


@pytest.mark.parametrize("name", ["tcp", "udp", "icmp", "icmp6", "ipv6"])
def test_notices_join_zeek_on_community_id(name, tmp_path):
    """Zeek's own Community IDs for these traces (zeek-community-id's baselines, the
    value Zeek's community-id package writes to conn.log): every notice's community_id
    is one of them, for the same connection as Zeek names it (ICMP "ports" included)."""
    folder = need_shared() / "pcaps" / "peer-groundtruth" / "zeek-communityid"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found: Zeek's Community ID traces are not in this "
                    "copy of the shared data")
    zeek = zeek_conn_ids(folder / f"{name}.pcap.communityid.out")
    (tmp_path / "every.yaml").write_text(EVERY_FLOW)
    logs = tmp_path / "logs"
    run_wirescore("run", "-r", folder / f"{name}.pcap", "-l", logs, "--notice-log",
                  "--rules", tmp_path / "every.yaml")
    notices = [json.loads(x) for x in (logs / "notice.json").read_text().splitlines()]
    assert notices and len(notices) == len(eve_alerts_any(read_eve(logs)))
    for n in notices:
        assert n["community_id"] in zeek, f"{name}: no Zeek connection has {n}"
        ours = (ipaddress.ip_address(n["id.orig_h"]), n["id.orig_p"],
                ipaddress.ip_address(n["id.resp_h"]), n["id.resp_p"], n["proto"])
        assert ours in zeek[n["community_id"]], (name, ours, zeek[n["community_id"]])


def eve_alerts_any(events: list[dict]) -> list[dict]:
    return [e for e in events if e["event_type"] == "alert"]
