"""HTTP parity with tshark, the independent reference, on every shared capture with HTTP.

For each capture tshark lists its HTTP/1.x messages (`tshark -r X -Y http -T fields`:
sender, receiver, ports, http.request.method, http.request.uri, http.host,
http.user_agent, http.response.code, http.content_type, http.content_length) and
wirescore's engine hands over its http event records (on_app). They are joined by
(sender, its port, receiver, its port, request or response) in order and compared field
by field. Every difference falls in one of the explained classes below or the test fails
naming the capture and the message:

- udp: HTTP over UDP (SSDP, port 1900): tshark decodes it; wirescore's HTTP room is TCP
  only (SSDP is not Suricata's http either).
- port: tshark decodes HTTP only on the ports its dissector is registered on (80, 8080,
  3128, ...) or by its heuristics; wirescore finds HTTP by content (http_probe): a
  message on another port is ours only, or tshark's only when its first bytes were not
  the direction's first (see midstream).
- midstream: the direction's first payload wirescore saw is not a message's start (the
  capture began inside the connection, or the first segment was lost): the probe
  refuses it and the direction is not parsed; tshark picks up at the next message.
- tcp-lost: messages after bytes wirescore gave up for lost (a gap inside a header
  block or chunk line ends the direction, README: Application layer), or after the
  parse ended (budget, a malformed message); tshark resynchronises on its own guesses.
- cut: a header block wirescore read from a prefix (the snap length, a gap, a block
  longer than the hold: HE_CUT) or a field longer than its room (field_trunc): the
  fields it has whole agree, the others are tshark's only.
- malformed: tshark flags the message malformed or could not parse its start line.
- tunnel: tshark decodes HTTP inside a tunnel (a frame with two IP layers); wirescore's
  decoder does not open tunnels.
- decode / link: frames or captures wirescore's decoder refuses (no flow of them).
- nul: a header value holding a NUL byte: tshark prints it up to the NUL, wirescore
  keeps the bytes (the EVE writer escapes them).
- bad-length: a Content-Length that is not a decimal number below 2**58 (negative, beyond
  2**64: request-smuggling probes): tshark prints the text, wirescore keeps no length
  (the body is then read as absent, RFC 9112 6.3).
- method: a request line with a method token tshark's dissector does not know (nmap's
  "XFOC", the draft QUERY method): HTTP to wirescore's probe (any upper-case token), not
  to tshark.
- interim: a 100, 102 or 103 response tshark lists; wirescore reads it over (Suricata's
  one transaction per request: the final response is its event).
- unfinished: wirescore's messages beyond tshark's on HTTP's own ports: tshark
  reassembles a body before it reports its message, and reports none when the body
  never completes in the capture (a download cut short, a body to the end of a
  connection the capture does not close), or takes the bytes after a message for its
  body (a smuggled request behind a Content-Length tshark read differently); wirescore
  reports a message when its header block ends.
When one frame ends several messages tshark lists a field once for the frame when not
every message has it: such a field is not compared.
Content-Length is compared as the number; Content-Type as written (tshark prints the
whole header value, as wirescore keeps it up to its room).
"""
from __future__ import annotations

import tempfile
from collections import Counter, defaultdict

import pytest

from conftest import SHARED_DATA, fixture_captures, shared_available, shared_captures
from tshark_join import compare_all, tshark_rows, unexplained_message
from wirescore.config import Config
from wirescore.core_names import HTTP_BITS
from wirescore.engine import Engine
from wirescore.errors import WirescoreError
from wirescore.outputs.eve import ip_text
from wirescore.outputs.eve_http import FIELDS as HF

FIELDS = ("frame.number", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport",
          "tcp.dstport", "udp.srcport", "http.request.method", "http.request.uri",
          "http.host", "http.user_agent", "http.response.code", "http.content_type",
          "http.content_length_header", "_ws.malformed")
AMBIGUOUS = "\x00?"      # a field of a frame of several messages, not one per message
BASE = {"frame.number", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport",
        "tcp.dstport", "udp.srcport", "_ws.malformed"}
#: the TCP ports tshark's HTTP dissector is registered on by default (http.tcp.port)
TSHARK_PORTS = {80, 3128, 3132, 5985, 8080, 8088, 11371, 1900, 2869, 2710}
#: request methods tshark's HTTP dissector knows (RFC 9110, WebDAV, ...): a request
#: line with another token is not HTTP to it
TSHARK_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                  "PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK",
                  "UNLOCK", "SEARCH", "REPORT", "CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY",
                  "SUBSCRIBE", "UNSUBSCRIBE", "POLL", "BCOPY", "BDELETE", "BMOVE",
                  "BPROPFIND", "BPROPPATCH", "ACL", "MKACTIVITY", "VERSION-CONTROL",
                  "UPDATE", "LABEL", "UNCHECKOUT", "MKWORKSPACE", "BASELINE-CONTROL"}
LENGTH_MAX = 1 << 58     # ext/app/http.pxd decimal(): larger lengths are not kept
#: compared fields: (tshark field, wirescore field (eve_http.FIELDS) or special)
REQUEST = (("http.request.method", "method"), ("http.request.uri", "uri"),
           ("http.host", "host"), ("http.user_agent", "user_agent"),
           ("http.content_type", "content_type"), ("http.content_length_header", "length"))
RESPONSE = (("http.response.code", "status"), ("http.content_type", "content_type"),
            ("http.content_length_header", "length"))


def tshark_messages(path) -> list[dict]:
    """tshark's HTTP messages of a capture (one per frame that ends one)."""
    msgs = []
    for row in tshark_rows(path, "http.request or http.response", FIELDS):
        srcs, dsts = row["ip.src"] + row["ipv6.src"], row["ip.dst"] + row["ipv6.dst"]
        base = dict(frame=row["frame.number"][0], malformed=bool(row["_ws.malformed"]))
        if row["udp.srcport"]:
            msgs.append(dict(base, key=None, why="udp"))
            continue
        if len(srcs) != 1 or len(row["tcp.srcport"]) != 1:
            msgs.append(dict(base, key=None, why="tunnel"))
            continue
        response = bool(row["http.response.code"])
        n = max(len(row["http.response.code"]), len(row["http.request.method"]), 1)
        if n > 1:                         # several messages in one frame: one each; a
            for i in range(n):            # field with fewer values is not attributable
                one = {k: v[i:i + 1] if len(v) == n else (v if k in BASE else [AMBIGUOUS])
                       for k, v in row.items()}
                msgs.append(_message(base, srcs, dsts, one, response))
        else:
            msgs.append(_message(base, srcs, dsts, row, response))
    return msgs


def _message(base, srcs, dsts, row, response) -> dict:
    spec = RESPONSE if response else REQUEST
    return dict(base, key=(srcs[0], int(row["tcp.srcport"][0]), dsts[0],
                           int(row["tcp.dstport"][0]), response),
                value={ours: (row[theirs][0] if row[theirs] else None) for theirs, ours in spec})


def our_messages(path) -> tuple[list[dict], set, str | None]:
    """wirescore's http event records of a capture, keyed like tshark's."""
    got, flows = [], set()
    error = None

    def on_flow(records, events):
        for e in events:
            flows.add((e["src_ip"], e.get("src_port"), e["dest_ip"], e.get("dest_port")))
            flows.add((e["dest_ip"], e.get("dest_port"), e["src_ip"], e.get("src_port")))
    cfg = Config.load(overrides={"detect.enabled": False})
    with tempfile.TemporaryDirectory(prefix="ws-http-parity-") as logs:
        try:
            Engine(cfg, log_dir=logs, on_flow=on_flow,
                   on_app=lambda kind, recs, evs: got.extend(recs) if kind == "http" else None
                   ).run(str(path))
        except WirescoreError as exc:
            error = str(exc)
    out = []
    for r in got:
        v = int(r["ip_version"])
        alen = 4 if v == 4 else 16
        flags = int(r["flags"])
        response = bool(flags & HTTP_BITS["HE_RESPONSE"])
        text = bytes(r["text"])
        field = {name: text[int(r["field_off"][k]):int(r["field_off"][k]) + int(r["field_len"][k])]
                 .decode("utf-8", "replace") for k, name in enumerate(HF)}
        trunc = {name for k, name in enumerate(HF) if int(r["field_trunc"]) >> k & 1}
        spec = RESPONSE if response else REQUEST
        value = {}
        for _, ours in spec:
            if ours == "status":
                value[ours] = str(int(r["status"])) if r["status"] else None
            elif ours == "length":
                value[ours] = str(int(r["content_length"])) if flags & HTTP_BITS["HE_LENGTH"] else None
            else:
                value[ours] = field[ours] or None
        out.append(dict(key=(ip_text(bytes(r["src_addr"][:alen]), v), int(r["src_port"]),
                             ip_text(bytes(r["dest_addr"][:alen]), v), int(r["dest_port"]),
                             response),
                        value=value, cut=bool(flags & HTTP_BITS["HE_CUT"]), trunc=trunc))
    return out, flows, error


def _normal(t: dict, m: dict) -> tuple[dict, dict]:
    """Both sides' values with what cannot be compared left out: tshark's fields it
    could not attribute to one message of a frame."""
    tv, mv = dict(t["value"]), dict(m["value"])
    for k, v in list(tv.items()):
        if v == AMBIGUOUS:
            del tv[k], mv[k]
    if tv.get("length") is not None and tv["length"].strip().isdigit():
        tv["length"] = str(int(tv["length"].strip()))
    return tv, mv


def _bad_length(v: str | None) -> bool:
    """A Content-Length that is not a decimal number below LENGTH_MAX (negative,
    beyond 2**64, not digits): invalid (RFC 9112 6.3), wirescore keeps none."""
    return v is not None and not (v.isdigit() and int(v) < LENGTH_MAX)


def classify(t: dict, m: dict) -> str | None:
    tv, mv = _normal(t, m)
    if tv == mv:
        return "equal"
    why = set()
    for k in tv:
        theirs, mine = tv[k], mv[k]
        if theirs == mine:
            continue
        if mine and "\x00" in mine and mine.split("\x00")[0] == theirs:
            why.add("nul")
        elif k == "length" and mine is None and _bad_length(theirs):
            why.add("bad-length")
        elif (k in m["trunc"] or m["cut"]) and (mine is None or (theirs or "").startswith(mine)):
            why.add("cut")
        elif t["malformed"]:
            why.add("malformed")
        else:
            return None
    return min(why)


def compare(path) -> tuple[Counter, list[str]]:
    theirs, (ours, flows, error) = tshark_messages(path), our_messages(path)
    classes: Counter = Counter()
    unexplained: list[str] = []
    if error and "unsupported link type" in error:
        return Counter(link=len(theirs)), []
    by_key = defaultdict(list)
    for m in ours:
        by_key[m["key"]].append(m)
    seen_keys = set()
    for t in theirs:
        if t["key"] is None:
            classes[t["why"]] += 1
            continue
        status = t["value"].get("status") or ""
        if status.startswith("1") and status != "101":
            classes["interim"] += 1
            continue
        mine = by_key.get(t["key"])
        m = mine.pop(0) if mine else None
        if m is None:
            verdict = ("decode" if t["key"][:4] not in flows else "malformed" if t["malformed"]
                       else "tcp-lost" if t["key"] in seen_keys or by_key.get(t["key"]) is not None
                       else "midstream")
        else:
            verdict = classify(t, m)
        seen_keys.add(t["key"])
        if verdict is None:
            unexplained.append(f"frame {t['frame']} {t['key']}: tshark {t['value']}, "
                               f"wirescore {m and m['value']}")
        else:
            classes[verdict] += 1
    for key, rest in by_key.items():
        for m in rest:
            ports = {key[1], key[3]}
            method = m["value"].get("method")
            classes["port" if not ports & TSHARK_PORTS else
                    "method" if method and method not in TSHARK_METHODS else
                    "unfinished"] += 1
    return classes, unexplained


CAPTURES = fixture_captures() + shared_captures()


@pytest.mark.skipif(not shared_available(), reason=f"shared captures not found at {SHARED_DATA}")
def test_http_messages_equal_tshark_on_every_capture():
    total, problems = compare_all(compare, CAPTURES)
    print("HTTP parity with tshark:", dict(total))
    assert total["equal"] > 100, dict(total)
    assert not problems, unexplained_message(problems)
