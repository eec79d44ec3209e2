"""HTTP/1.x through the application layer (ext/app/http.pxd): probe by content, header
blocks of requests and responses, transactions matched in order (keep-alive and
pipelined), bodies skipped by Content-Length, chunk sizes followed, bodies to the end,
the first bytes of each body through bytes.pxd's file magic (fileinfo events), gaps,
snap-length cuts, header blocks longer than the hold, the flow record's app_http_*
columns and the EVE http / fileinfo lines against Suricata's schema.

The messages are real: the TCP streams of zeek-wikipedia.pcap (shipped: 15 GET requests
answered 200 / 304 over keep-alive connections) and of ndpi-emotet.pcap (shared: two
Emotet PE downloads served as application/x-msdownload), reassembled by sequence number
and fed through AppDriver segment by segment, as the meter feeds a packet's payload.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import FIXTURES, need_shared
from wirescore._core.appcore import AppDriver
from wirescore._core.decode import decode_one
from wirescore._core.flowtable import COUNTER_NAMES
from wirescore.core_names import APP_HOLD, APP_PROTO_NAMES, HTTP_BITS
from wirescore.msg_names import MAGIC_NAMES
from wirescore.outputs.eve_http import FileEventFormatter, HttpEventFormatter

WIKI = FIXTURES / "zeek-wikipedia.pcap"
HTTP = APP_PROTO_NAMES.index("http")
FAILED = APP_PROTO_NAMES.index("failed")


def tcp_streams(path, port=80) -> list[tuple[bytes, bytes]]:
    """(client bytes, server bytes) of every TCP connection on `port` with payload, in
    the order their first packet appears; each direction reassembled by sequence number
    (retransmitted and overlapping bytes once)."""
    import pcapy

    reader, segs, order = pcapy.open_offline(str(path)), {}, []
    while True:
        hdr, data = reader.next()
        if hdr is None:
            break
        res, f, _ = decode_one(np.frombuffer(data, np.uint8).copy(), reader.datalink())
        if res != "ip" or f["proto"] != 6 or port not in (f["sport"], f["dport"]):
            continue
        d = 0 if f["dport"] == port else 1
        key = (f["src"], f["sport"], f["dst"], f["dport"]) if d == 0 else \
            (f["dst"], f["dport"], f["src"], f["sport"])
        if key not in segs:
            segs[key] = ({}, {})
            order.append(key)
        off = f["payload_off"]
        if f["payload_cap"]:
            segs[key][d].setdefault(f["tcp_seq"], bytes(data[off:off + f["payload_cap"]]))
    out = []
    for key in order:
        dirs = []
        for d in range(2):
            buf, nxt = b"", None
            for seq in sorted(segs[key][d]):
                p = segs[key][d][seq]
                if nxt is not None and seq < nxt:
                    p = p[nxt - seq:]
                buf += p
                nxt = seq + len(segs[key][d][seq]) if nxt is None else max(nxt, seq + len(segs[key][d][seq]))
            dirs.append(buf)
        if dirs[0] or dirs[1]:
            out.append((dirs[0], dirs[1]))
    return out


WIKI_STREAMS = tcp_streams(WIKI)


def arr(b: bytes) -> np.ndarray:
    return np.frombuffer(b, np.uint8).copy()


def counter(drv, name: str) -> int:
    return int(drv.counters[COUNTER_NAMES.index(name)])


def send(drv, stream: bytes, cuts=(), d=0, isn=1000, flow=0, lose=(), snap=None) -> None:
    """stream's bytes as segments ending at cuts (sorted offsets), after a SYN; the
    segments whose index is in `lose` are not given (a gap); snap: bytes captured of
    each segment (the rest cut by the snap length)."""
    drv.packet(flow, d, arr(b""), seq=isn, flags=0x02)
    start = 0
    for k, end in enumerate(list(cuts) + [len(stream)]):
        if end > start and k not in lose:
            seg = stream[start:end]
            cap = seg if snap is None else seg[:snap]
            drv.packet(flow, d, arr(cap), seq=isn + 1 + start, wire_len=len(seg))
        start = end


def exchange(drv, client: bytes, server: bytes, step=None, flow=0, **kw) -> None:
    """Both directions of one connection, in segments of `step` bytes (None: whole)."""
    for d, data in ((0, client), (1, server)):
        cuts = range(step, len(data), step) if step else ()
        send(drv, data, cuts, d=d, isn=1000 + 500000 * d, flow=flow, **kw)


def http_events(drv):
    ev = drv.events()
    return (list(HttpEventFormatter().events(ev["http"])),
            list(FileEventFormatter().events(ev["fileinfo"])), ev)


def requests_of(stream: bytes) -> list[bytes]:
    """The request lines of a client stream (what tshark shows as method and URI)."""
    return [line for line in stream.split(b"\r\n") if line.endswith((b" HTTP/1.1", b" HTTP/1.0"))
            and b" " in line]


def test_wikipedia_keepalive_requests_and_responses():
    """Every connection: each request line's method and URI, its Host, and the
    responses' statuses in order, with tx_id pairing the n-th of each."""
    drv = AppDriver(port=80)
    total = 0
    for client, server in WIKI_STREAMS:
        exchange(drv, client, server)
        evs, files, raw = http_events(drv)
        req = [e for e in evs if "http_method" in e["http"]]
        rsp = [e for e in evs if "status" in e["http"]]
        lines = requests_of(client)
        assert [f"{e['http']['http_method']} {e['http']['url']}" for e in req] == \
            [ln.rsplit(b" ", 1)[0].decode() for ln in lines]
        assert [e["tx_id"] for e in req] == list(range(len(req)))
        assert [e["tx_id"] for e in rsp] == list(range(len(rsp)))
        statuses = [int(s.split(b" ")[1]) for s in server.split(b"\r\n")
                    if s.startswith(b"HTTP/1.")]
        assert [e["http"]["status"] for e in rsp] == statuses
        assert all(e["http"]["hostname"].endswith("wikipedia.org") or
                   e["http"]["hostname"].endswith("wikimedia.org") for e in req)
        rec = drv.end(0)
        assert rec["app_proto"] == HTTP
        assert rec["app_http_requests"] == len(req) and rec["app_http_responses"] == len(rsp)
        assert rec["app_http_status_first"] == statuses[0]
        assert rec["app_http_ua_share"] == 1.0
        total += len(req)
    assert total == 15


def test_segmented_the_same_as_whole():
    """Every 1, 7 and 100 bytes a segment: the same events as whole streams."""
    client, server = max(WIKI_STREAMS, key=lambda s: len(s[1]))
    drv = AppDriver(port=80)
    exchange(drv, client, server)
    whole = http_events(drv)[:2]
    drv.end(0)
    for step in (1, 7, 100):
        exchange(drv, client, server, step=step)
        got = http_events(drv)[:2]
        drv.end(0)
        strip = lambda evs: [{k: v for k, v in e.items() if k != "timestamp"} for e in evs]
        assert strip(got[0]) == strip(whole[0]) and strip(got[1]) == strip(whole[1]), step


@pytest.fixture(scope="module")
def emotet():
    """Emotet's HTTP connections: a 46144-byte gzip page whole, two PE downloads
    (their first 7806 and 9388 body bytes captured)."""
    return tcp_streams(need_shared() / "pcaps" / "labeled" / "malware-c2" / "ndpi-emotet.pcap")


def head_and_body(server: bytes) -> tuple[bytes, bytes]:
    end = server.index(b"\r\n\r\n") + 4
    return server[:end], server[end:]


def messages(stream: bytes, response: bool) -> list[bytes]:
    """A direction's messages (bodies by Content-Length)."""
    out, i = [], 0
    while i < len(stream):
        end = stream.index(b"\r\n\r\n", i) + 4
        n = 0
        for line in stream[i:end].split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        out.append(stream[i:end + n])
        i = end + n
    return out


def pipelined(drv, reqs, resps, depth, step=1460) -> None:
    """Requests sent up to `depth` ahead of their responses on one connection, in
    segments."""
    seq = [1001, 500001]
    drv.packet(0, 0, arr(b""), seq=1000, flags=0x02)
    drv.packet(0, 1, arr(b""), seq=500000, flags=0x12)

    def put(d, msg):
        for i in range(0, len(msg), step):
            drv.packet(0, d, arr(msg[i:i + step]), seq=seq[d])
            seq[d] += len(msg[i:i + step])
    for k in range(len(reqs) + depth):
        if k >= depth:
            put(1, resps[k - depth])
        if k < len(reqs):
            put(0, reqs[k])


def test_pipelined_requests_match_responses_in_order(emotet):
    """Emotet's gzip page request then every wikipedia request on one connection, two
    requests ahead of their responses (HTTP_PENDING): tx_ids in order, the page's body
    (Content-Length 46144, skipped) found as gzip with its file name from its own
    request's URI, and every response after it read."""
    page_c, page_s = emotet[0]
    reqs = [page_c] + [m for c, _ in WIKI_STREAMS for m in messages(c, False)]
    resps = [page_s] + [m for _, s in WIKI_STREAMS for m in messages(s, True)]
    drv = AppDriver(port=80)
    pipelined(drv, reqs, resps, depth=2)
    evs, files, raw = http_events(drv)
    req = [e for e in evs if "http_method" in e["http"]]
    rsp = [e for e in evs if "status" in e["http"]]
    assert len(req) == 16 and len(rsp) == 16
    assert [e["tx_id"] for e in req] == list(range(16))
    assert [e["tx_id"] for e in rsp] == list(range(16))
    assert [e["http"]["status"] for e in rsp] == [200] + [304] * 15
    assert len(files) == 1 and files[0]["fileinfo"]["tx_id"] == 0
    assert files[0]["fileinfo"]["magic"] == "gzip compressed data"
    assert files[0]["fileinfo"]["filename"] == "Elw3kPvOsZxM5"
    assert files[0]["fileinfo"]["size"] == 46144
    assert files[0]["http"]["http_content_type"] == "text/html"
    # gzip by Content-Encoding, declared text/html: not a mismatch
    assert not raw["fileinfo"][0]["flags"] & HTTP_BITS["FE_MISMATCH"]
    assert counter(drv, "wirescore.app_gap_abort") == 0
    # deeper than HTTP_PENDING: the same transactions, the file's name unknown
    drv = AppDriver(port=80)
    pipelined(drv, reqs, resps, depth=5)
    evs, files, raw = http_events(drv)
    assert [e["tx_id"] for e in evs if "status" in e["http"]] == list(range(16))
    assert files[0]["fileinfo"]["filename"] == ""


def chunked(body: bytes, size: int) -> bytes:
    """body in chunks of `size` bytes, a chunk extension on the first, and a trailer."""
    out = b""
    for k, i in enumerate(range(0, len(body), size)):
        part = body[i:i + size]
        ext = b";ext=1" if k == 0 else b""
        out += f"{len(part):x}".encode() + ext + b"\r\n" + part + b"\r\n"
    return out + b"0\r\nX-Trailer: 1\r\n\r\n"


def test_chunked_bodies_followed(emotet):
    """Emotet's gzip page re-framed as chunked (Content-Length replaced by
    Transfer-Encoding), then a wikipedia response: the chunk sizes are followed through
    the body, its first chunk's bytes give its kind, the next response is read."""
    page_c, page_s = emotet[0]
    head, body = head_and_body(page_s)
    lines = [ln for ln in head.split(b"\r\n")[:-2]
             if not ln.lower().startswith(b"content-length")]
    framed = (b"\r\n".join(lines + [b"Transfer-Encoding: chunked"]) + b"\r\n\r\n"
              + chunked(body, 700))
    wiki_c, wiki_s = WIKI_STREAMS[0]
    for step in (536, 1, 4096):
        drv = AppDriver(port=80)
        exchange(drv, page_c + wiki_c, framed + wiki_s, step=step)
        evs, files, raw = http_events(drv)
        rsp = [e for e in evs if "status" in e["http"]]
        assert [e["http"]["status"] for e in rsp] == [200, 304], step
        flags = [r["flags"] for r in raw["http"] if r["flags"] & HTTP_BITS["HE_RESPONSE"]]
        assert flags[0] & HTTP_BITS["HE_CHUNKED"] and not flags[1] & HTTP_BITS["HE_CHUNKED"]
        assert len(files) == 1 and files[0]["fileinfo"]["magic"] == "gzip compressed data"
        assert "size" not in files[0]["fileinfo"]
        assert counter(drv, "app_layer.error.http.parser") == 0


def test_executable_download(emotet):
    """Emotet's payload downloads: each response body starts a PE (MZ with "PE\\0\\0" at
    e_lfanew), declared application/x-msdownload (no mismatch); the flow record counts an
    executable body and names PE as the first body's kind."""
    pe = 0
    for client, server in emotet:
        if head_and_body(server)[1][:2] != b"MZ":
            continue
        pe += 1
        drv = AppDriver(port=80)
        exchange(drv, client, server, step=1460)
        evs, files, raw = http_events(drv)
        rec = drv.end(0)
        assert files[0]["fileinfo"]["magic"].startswith("PE32")
        assert files[0]["http"]["http_content_type"] == "application/x-msdownload"
        assert raw["fileinfo"][0]["magic"] == MAGIC_NAMES.index("pe")
        assert not raw["fileinfo"][0]["flags"] & HTTP_BITS["FE_MISMATCH"]
        assert rec["app_http_exe_bodies"] == 1 and rec["app_http_type_mismatch"] == 0
        assert rec["app_http_body_magic"] == MAGIC_NAMES.index("pe")
        # the same body declared text/html: a mismatch
        drv = AppDriver(port=80)
        exchange(drv, client, server.replace(b"application/x-msdownload", b"text/html", 1),
                 step=1460)
        assert drv.end(0)["app_http_type_mismatch"] == 1
    assert pe == 2


@pytest.mark.parametrize("where", ["inside", "prefix"])
def test_gap_in_a_body_is_skipped(emotet, where):
    """A segment lost inside Emotet's page body (Content-Length known): skipped with the
    body, the wikipedia response after it still read, nothing aborted; lost among the
    body's first bytes: the fileinfo event says gaps. TRUNCATED either way (the body's
    rest is skipped unread)."""
    page_c, page_s = emotet[0]
    head, body = head_and_body(page_s)
    wiki_c, wiki_s = WIKI_STREAMS[0]
    server = page_s + wiki_s
    step = 100
    lose = (len(head) + 20000) // step if where == "inside" else len(head) // step + 2
    drv = AppDriver(port=80)
    send(drv, page_c + wiki_c, (len(page_c),), d=0)
    send(drv, server, range(step, len(server), step), d=1, isn=9000, lose={lose})
    evs, files, raw = http_events(drv)
    assert [e["http"]["status"] for e in evs if "status" in e["http"]] == [200, 304]
    assert counter(drv, "wirescore.app_gap_abort") == 0
    assert files[0]["fileinfo"]["gaps"] is (where == "prefix")
    assert files[0]["fileinfo"]["state"] == "TRUNCATED"


def test_snap_length_cut_keeps_the_request_line():
    """Every segment cut at 200 bytes (as the public mix at 256 per packet): each
    connection's first request line, Host if it fits, the response's status; the cut
    block flagged and counted."""
    drv = AppDriver(port=80)
    for client, server in WIKI_STREAMS:
        exchange(drv, client, server, step=1460, snap=200)
        evs, files, raw = http_events(drv)
        drv.end(0)
        req = [e for e in evs if "http_method" in e["http"]]
        first = requests_of(client)[0].rsplit(b" ", 1)[0].decode()
        assert f"{req[0]['http']['http_method']} {req[0]['http']['url']}" == first
        assert raw["http"][0]["flags"] & HTTP_BITS["HE_CUT"]
        assert any(e["http"].get("status") for e in evs)
    assert counter(drv, "wirescore.app_truncated") >= len(WIKI_STREAMS)


def test_header_block_longer_than_the_hold():
    """A Cookie line longer than the hold in a real request: the fields before it kept,
    the block flagged cut, walked to its end, and the next request read whole."""
    client, server = WIKI_STREAMS[0]
    req = client.split(b"\r\n\r\n")[0]
    head, rest = req.split(b"\r\n", 1)
    long_req = head + b"\r\n" + rest + b"\r\nCookie: " + b"a=1; " * (APP_HOLD // 4) + b"\r\n\r\n"
    drv = AppDriver(port=80)
    send(drv, long_req + client, range(1000, len(long_req + client), 1000))
    evs, _, raw = http_events(drv)
    assert len(evs) == 1 + len(requests_of(client))
    assert raw["http"][0]["flags"] & HTTP_BITS["HE_CUT"]
    assert evs[0]["http"]["hostname"] == "www.wikipedia.org"
    assert evs[1]["http"]["url"] == evs[0]["http"]["url"] and evs[1]["tx_id"] == 1
    assert not raw["http"][1]["flags"] & HTTP_BITS["HE_CUT"]


def test_probe_by_content_not_port():
    """HTTP on port 5000 is found; a non-HTTP payload on port 80 is not claimed by HTTP:
    a TLS ClientHello there is TLS, bytes of no protocol are nobody's."""
    client, server = WIKI_STREAMS[0]
    drv = AppDriver(port=5000)
    exchange(drv, client, server)
    assert drv.end(0)["app_proto"] == HTTP
    drv = AppDriver(port=80)
    send(drv, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(600))
    assert drv.end(0)["app_proto"] == APP_PROTO_NAMES.index("tls")
    send(drv, b"\xee\x17 not a protocol " + bytes(600))
    assert drv.end(0)["app_proto"] == FAILED
    send(drv, b"get / HTTP/1.1\r\n\r\n")          # a method is upper case
    assert drv.end(0)["app_proto"] == FAILED


def test_eve_lines_valid_against_the_schema(emotet):
    """Every http and fileinfo line of the wikipedia and Emotet streams validates."""
    import jsonschema

    from conftest import SHARED_DATA
    schema = json.loads((SHARED_DATA / "suricata-eve-schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    drv = AppDriver(port=80)
    lines = 0
    for client, server in WIKI_STREAMS + emotet:
        exchange(drv, client, server, step=1460)
        evs, files, _ = http_events(drv)
        drv.end(0)
        for ev in evs + files:
            errors = list(validator.iter_errors(json.loads(json.dumps(ev))))
            assert not errors, (ev, errors[0].message)
            lines += 1
    assert lines == 2 * 15 + 2 * 3 + 3      # each message, and each body's file


def test_request_or_response_by_the_start_line():
    """A capture that began with the server's bytes (its first packet names the flow's
    client): the server's messages are still responses, the client's requests; an
    interim 100 before a real response is read over (one transaction); a block that
    starts neither ends the direction, counted."""
    client, server = WIKI_STREAMS[0]
    drv = AppDriver(port=80)
    send(drv, server, (), d=0)
    send(drv, client, (), d=1, isn=9000)
    evs, _, raw = http_events(drv)
    assert [bool(r["flags"] & HTTP_BITS["HE_RESPONSE"]) for r in raw["http"]] == [True, False]
    assert evs[0]["http"]["status"] == 304 and evs[1]["http"]["http_method"] == "GET"
    drv = AppDriver(port=80)
    exchange(drv, client, b"HTTP/1.1 100 Continue\r\n\r\n" + server)
    evs, _, _ = http_events(drv)
    assert [e["http"].get("status") for e in evs] == [None, 304]
    assert drv.end(0)["app_http_responses"] == 1
    drv = AppDriver(port=80)
    send(drv, client + b"\x00\x01binary\r\n\r\n" + client)
    assert len(http_events(drv)[0]) == 1
    assert counter(drv, "app_layer.error.http.parser") == 1
