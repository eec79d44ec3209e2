"""LDAP message parser (ext/app/ldap.pxd via wirescore._core.msg_ldap) on real sessions.

Each LDAP connection of the shared captures is followed by tshark; each direction's
bytes are walked message by message as the framework will (an LDAPMessage, or a SASL
buffer whose token is recognised and, when it is a signed but not sealed GSS wrap
token, the LDAPMessage inside read too). The messages and SASL buffer lengths are
compared, in order, with tshark's dissection of the same direction (PDML).

tshark decodes the plaintext inside a SASL buffer only when it tracked the bind of that
connection; the messages it leaves undecoded there are checked by the other fields'
consistency only (message ids rising), never skipped elsewhere.
"""
from __future__ import annotations

import subprocess

import pytest

from conftest import need_shared
from msgref import Node, follow, trees
from wirescore._core import msg_ldap

CAPTURES = (
    "varied/linktypes/zeek-ldap__modify-request.pcapng",
    "labeled/netml-cicids2017-demo/demo.pcap",
    "peer-groundtruth/nfstream/kerberos.pcap",
)
RESULT_OPS = {"bindResponse", "searchResDone", "modifyResponse", "addResponse",
              "delResponse", "modDNResponse", "compareResponse", "extendedResp"}


def _filter_attrs(flt: Node) -> list[str]:
    """The attribute names a filter tests, distinct, in order (tshark's filter subtree)."""
    out: list[str] = []
    for n in flt.walk():
        if n.name in ("present", "attributeDesc", "type") and n.show not in out:
            out.append(n.show)
    return out


def _expected(msg: Node) -> dict:
    """The fields parse_ldap gives, from tshark's LDAPMessage_element."""
    exp = {"message_id": int(msg.value("messageID")), "op": int(msg.value("protocolOp"))}
    body = next((c for c in msg.find("protocolOp").children if c.name.endswith("_element")),
                None)
    kind = body.name[:-len("_element")] if body is not None else ""
    if kind == "bindRequest":
        exp.update(version=int(body.value("version")), dn=body.value("name"),
                   auth=int(body.value("authentication")))
        if body.value("authentication/sasl_element/mechanism") is not None:
            exp["mechanism"] = body.value("authentication/sasl_element/mechanism")
    elif kind in RESULT_OPS:
        exp.update(result_code=int(body.value("resultCode")),
                   matched_dn=body.value("matchedDN"), message=body.value("errorMessage"))
    elif kind == "searchRequest":
        exp.update(dn=body.value("baseObject"), scope=int(body.value("scope")),
                   deref=int(body.value("derefAliases")),
                   size_limit=int(body.value("sizeLimit")),
                   time_limit=int(body.value("timeLimit")),
                   types_only=body.value("typesOnly") == "1",
                   filter_kind=int(body.value("filter")),
                   filter_attrs=_filter_attrs(body.find("filter")),
                   attributes=[n.show for n in body.all("attributes/AttributeDescription")])
    elif kind == "searchResEntry":
        exp.update(dn=body.value("objectName"),
                   n_attributes=len(body.all("attributes/PartialAttributeList_item_element")))
    elif kind == "modifyRequest":
        exp["dn"] = body.value("object")
    return exp


def _tshark_sides(pcap) -> dict[tuple[int, str], list]:
    """(stream, sender port) -> [("sasl", length) | ("msg", expected fields)] in frame order."""
    out = subprocess.run(["tshark", "-r", str(pcap), "-Y", "ldap && tcp", "-T", "fields",
                          "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.srcport"],
                         capture_output=True, text=True, check=True).stdout
    where = {}
    for line in out.splitlines():
        num, stream, port = line.split("\t")
        where[int(num)] = (int(stream), port)
    sides: dict[tuple[int, str], list] = {}
    for num, protos in sorted(trees(pcap, "ldap && tcp", "ldap").items()):
        for proto in protos:
            for c in proto.children:
                if c.name == "sasl_buffer_length":
                    sides.setdefault(where[num], []).append(("sasl", int(c.show)))
                elif c.name == "LDAPMessage_element":
                    sides.setdefault(where[num], []).append(("msg", _expected(c)))
    return sides


def _walk(data: bytes) -> list[tuple]:
    """One direction's bytes as the parser sees them: ("sasl", length, kind, sealed),
    ("msg", fields, inside_sasl)."""
    out, at = [], 0
    while at < len(data):
        kind = msg_ldap.probe(data[at:])
        if kind == 2:
            s = msg_ldap.parse_sasl(data[at:])
            assert s["status"] == 0, (at, s)
            out.append(("sasl", s["length"], s["kind"], s["sealed"]))
            if s["sealed"] == "clear":
                inner = data[at + s["inner"]:at + 4 + s["length"]]
                status, length = msg_ldap.frame(inner)
                assert status == 0 and length == len(inner), (at, status, length)
                out.append(("msg", msg_ldap.parse_ldap(inner), True))
            at += 4 + s["length"]
            continue
        status, length = msg_ldap.frame(data[at:])
        assert kind == 1 and status == 0, (at, kind, status)
        out.append(("msg", msg_ldap.parse_ldap(data[at:at + length]), False))
        at += length
    return out


def _text(value) -> str:
    """A field as the parser stores it: lists of names joined by ","."""
    return ",".join(value) if isinstance(value, list) else value


def _same(got: dict, exp: dict, where):
    assert got["status"] == 0 and not got["prefix"], (where, got)
    for key, value in exp.items():
        if key in got.get("capped", []):         # longer than its array: the first bytes
            assert _text(value).startswith(_text(got[key])), (where, key, got, exp)
            assert got["n_" + key] == len(value), (where, key, got)
        else:
            assert got.get(key) == value, (where, key, got, exp)


@pytest.mark.parametrize("rel", CAPTURES)
def test_sessions_equal_tshark(rel):
    pcap = need_shared() / "pcaps" / rel
    counted = 0
    for (stream, sender), expected in _tshark_sides(pcap).items():
        client, c2s, s2c = follow(pcap, stream)
        ours = _walk(c2s if client.rpartition(":")[2] == sender else s2c)
        i = 0                                         # position in tshark's list
        for item in ours:
            where = (rel, stream, sender, item[:2] if item[0] == "sasl" else item[1])
            if item[0] == "sasl":
                assert expected[i] == ("sasl", item[1]), where
                i += 1
                counted += 1
                continue
            got, inside = item[1], item[2]
            if i < len(expected) and expected[i][0] == "msg":
                _same(got, expected[i][1], where)
                i += 1
                counted += 1
            else:
                assert inside, where                  # tshark left a SASL payload raw
        assert i == len(expected), (rel, stream, sender, i, len(expected))
    assert counted, rel


def test_sasl_kinds_seen():
    """The SASL buffers of the captures: Kerberos CFX wrap tokens, signed (clear)."""
    pcap = need_shared() / "pcaps" / "labeled/netml-cicids2017-demo/demo.pcap"
    kinds = set()
    for stream, _ in _tshark_sides(pcap):
        _, c2s, s2c = follow(pcap, stream)
        kinds |= {item[2:] for item in _walk(c2s) + _walk(s2c) if item[0] == "sasl"}
    assert ("krb5-cfx", "clear") in kinds, kinds


def _first_search() -> bytes:
    pcap = need_shared() / "pcaps" / CAPTURES[0]
    _, c2s, _ = follow(pcap, 0)
    length = msg_ldap.frame(c2s)[1]
    return c2s[:length]


def test_every_prefix_of_a_search():
    data = _first_search()
    whole = msg_ldap.parse_ldap(data)
    assert whole["op"] == 3 and whole["status"] == 0
    for k in range(len(data)):
        cut = msg_ldap.parse_ldap(data[:k], full=len(data))
        assert cut["status"] == 1 and cut["prefix"], (k, cut)
        cut_fields = set(cut.get("cut", []))
        for key, value in cut.items():
            if key in ("status", "prefix", "cut", "capped") or key.endswith("_len") or \
                    key.startswith("n_"):
                continue
            if key in cut_fields:                  # a name cut inside: a prefix
                assert _text(whole[key]).startswith(_text(value)), (k, key, cut)
            else:
                assert value == whole[key], (k, key, cut, whole)


@pytest.mark.parametrize("data, status", [
    (b"", -2), (b"GET / HTTP/1.1\r\n", -2), (b"\x30\x03\x02\x01", 1),
    (b"\x30\x03\x02\x01\x01", -1),                  # no protocolOp
])
def test_outcomes(data, status):
    full = 5 if data == b"\x30\x03\x02\x01" else None
    assert msg_ldap.parse_ldap(data, full=full)["status"] == status
