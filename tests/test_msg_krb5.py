"""Kerberos message parser (ext/app/krb5.pxd via wirescore._core.msg_krb5) on real messages.

Every Kerberos message on port 88 of the shared captures (UDP datagrams, TCP records
after their 4-byte record mark, reassembled by tshark when they span segments) is parsed
and every field compared with tshark's dissection of the same frame. Then every prefix
of a few messages: never a crash, status 1, fields before the cut equal the whole
parse's, a field cut in the middle is a prefix of the whole one and flagged.
"""
from __future__ import annotations

import datetime as dt

import pytest

from conftest import need_shared
from msgref import Node, payloads, trees
from wirescore import msg_names
from wirescore._core import msg_krb5

KRB_FILTER = "kerberos && (udp.port == 88 || tcp.port == 88)"
CAPTURES = (
    "labeled/windows-ad-attacks/CredAccess__CA_kerbrute_passwordspray_kerberos_AS-REQ.pcapng",
    "peer-groundtruth/ndpi/kerberos-login.pcap",
    "peer-groundtruth/nfstream/kerberos.pcap",
    "peer-groundtruth/zeek/krb__optional-service-name.pcap",
)
REQ, REP, AP_REQ, AP_REP, ERROR = (10, 12), (11, 13), (14,), (15,), (30,)


def _messages(rel: str) -> list[tuple[int, bytes, Node]]:
    """(frame, message bytes without the TCP record mark, tshark's tree) of a capture."""
    pcap = need_shared() / "pcaps" / rel
    tree = trees(pcap, KRB_FILTER, "kerberos")
    out = []
    for num, transport, data in payloads(pcap, KRB_FILTER):
        if transport == "tcp":
            status, length = msg_krb5.tcp_frame(data)
            assert status == 0 and length == len(data) - 4, (rel, num, status, length)
            data = data[4:]
        assert len(tree[num]) == 1, (rel, num, "one message a frame in these captures")
        # the message element (after the TCP record mark's fields)
        msg = next(c for c in tree[num][0].children if c.name.endswith("_element"))
        out.append((num, data, msg))
    assert out, rel
    return out


def _name(node: Node | None, element: str) -> tuple[int, str] | None:
    """(name-type, components joined with "/") of a PrincipalName element of node."""
    el = node.find(element) if node is not None else None
    if el is None:
        return None
    parts = [n.show for n in el.all("*/*") if n.name.endswith("NameString")]
    return int(el.value("name_type")), "/".join(parts)


def _till(text: str) -> int:
    """tshark's "Sep 13, 2037 02:48:05.000000000 UTC" -> epoch seconds."""
    day = dt.datetime.strptime(text.split(".")[0], "%b %d, %Y %H:%M:%S")
    return int(day.replace(tzinfo=dt.timezone.utc).timestamp())


def _pa_types(node: Node | None) -> list[int]:
    return [int(n.show) for n in node.all("PA_DATA_element/padata_type")] if node else []


def _expected(msg: Node) -> dict:
    """The fields parse_krb5 gives, read from tshark's tree of one message."""
    mt = int(msg.value("msg_type"))
    exp = {"msg_type": mt, "pvno": int(msg.value("pvno"))}
    names: dict[str, tuple | None] = {}
    if mt in REQ:
        body = msg.find("req_body_element")
        exp["realm"] = body.value("realm")
        names = {"cname": _name(body, "cname_element"), "sname": _name(body, "sname_element")}
        exp["till"] = _till(body.value("till"))
        exp["nonce"] = int(body.value("nonce"))
        exp["etypes"] = [int(n.show) for n in body.all("kdc-req-body.etype/ENCTYPE")]
        if msg.find("padata") is not None:
            exp["pa_types"] = _pa_types(msg.find("padata"))
        # the TGT a TGS-REQ presents: its ticket's etype (PA-TGS-REQ's AP-REQ)
        tgt = msg.find("padata/PA_DATA_element/padata_type/padata_value/ap_req_element")
        if tgt is not None:
            exp["ticket_etype"] = int(tgt.value("ticket_element/enc_part_element/etype"))
    elif mt in REP:
        ticket = msg.find("ticket_element")
        exp.update(crealm=msg.value("crealm"), realm=ticket.value("realm"),
                   ticket_etype=int(ticket.value("enc_part_element/etype")),
                   enc_etype=int(msg.value("enc_part_element/etype")))
        names = {"cname": _name(msg, "cname_element"), "sname": _name(ticket, "sname_element")}
        if msg.find("padata") is not None:
            exp["pa_types"] = _pa_types(msg.find("padata"))
    elif mt in ERROR:
        exp["error_code"] = int(msg.value("error_code"))
        for key, field in (("realm", "realm"), ("crealm", "crealm"), ("etext", "e_text")):
            if msg.value(field) is not None:
                exp[key] = msg.value(field)
        names = {"cname": _name(msg, "cname_element"), "sname": _name(msg, "sname_element")}
        edata = msg.find("e_data")
        if edata is not None and edata.all("**/PA_DATA_element"):
            exp["pa_types"] = [int(n.show) for n in edata.all("**/PA_DATA_element/padata_type")]
    for key, value in names.items():
        if value is not None:
            exp[key + "_type"], exp[key] = value
    return exp


def _suricata_view(got: dict) -> dict:
    """Derived fields as Suricata's EVE krb5 decides them (weak etypes, pre-auth)."""
    view = {"pa_enc_timestamp": 2 in got.get("pa_types", [])}
    if "enc_etype" in got:
        view["weak"] = msg_names.krb5_etype_weak(got["enc_etype"])
    if "ticket_etype" in got:
        view["ticket_weak"] = msg_names.krb5_etype_weak(got["ticket_etype"])
    return view


FIELDS = ("msg_type", "pvno", "realm", "crealm", "cname", "cname_type", "sname",
          "sname_type", "etext", "till", "nonce", "etypes", "pa_types", "enc_etype",
          "ticket_etype", "error_code")


@pytest.mark.parametrize("rel", CAPTURES)
def test_messages_equal_tshark(rel):
    kinds = set()
    for num, data, tree in _messages(rel):
        got = msg_krb5.parse_krb5(data)
        assert got["status"] == 0 and not got["prefix"], (rel, num, got)
        exp = _expected(tree)
        for key in FIELDS:
            # kdc_options / till / nonce are compared where tshark shows them (requests)
            assert got.get(key) == exp.get(key), (rel, num, key, got, exp)
        for key, value in _suricata_view(got).items():
            assert got[key] == value, (rel, num, key, got)
        assert "cut" not in got and "capped" not in got, (rel, num, got)
        kinds.add(got["msg_type"])
    assert kinds & {10, 11, 12, 13, 30}, (rel, kinds)


def test_message_kinds_covered():
    """Across the captures: AS-REQ/REP, TGS-REQ/REP and KRB-ERROR with error codes and
    pre-auth given (PA-ENC-TIMESTAMP) and not."""
    seen, errors, preauth = set(), set(), set()
    for rel in CAPTURES:
        for _, data, _tree in _messages(rel):
            got = msg_krb5.parse_krb5(data)
            seen.add(got["msg_type"])
            if "error_code" in got:
                errors.add(msg_names.krb5_error_name(got["error_code"]))
            if got["msg_type"] == 10:
                preauth.add(got["pa_enc_timestamp"])
    assert {10, 11, 12, 13, 30} <= seen
    assert {"KDC_ERR_PREAUTH_REQUIRED", "KDC_ERR_C_PRINCIPAL_UNKNOWN"} <= errors, errors
    assert preauth == {True, False}


def _check_prefix(whole: dict, cut: dict, k: int, data: bytes):
    assert cut["status"] == 1 and cut["prefix"], (k, cut)
    cut_fields = set(cut.get("cut", []))
    for key in FIELDS:
        if key not in cut:
            continue
        if key in cut_fields:                       # a string or list cut in the middle
            assert whole[key][:len(cut[key])] == cut[key], (k, key, cut, whole)
            if isinstance(cut[key], str):       # the length as far as the bytes went
                assert cut[key + "_len"] <= whole.get(key + "_len", len(whole[key]))
        else:
            assert cut[key] == whole[key], (k, key, cut, whole)


def test_every_prefix():
    """Every prefix of one message of each kind: status 1, what is there equals the
    whole parse, a field cut inside is a prefix of the whole one and flagged cut."""
    picked: dict[int, bytes] = {}
    for rel in CAPTURES:
        for _, data, _tree in _messages(rel):
            picked.setdefault(msg_krb5.parse_krb5(data)["msg_type"], data)
    assert {10, 11, 12, 13, 30} <= set(picked)
    for mt, data in picked.items():
        whole = msg_krb5.parse_krb5(data)
        for k in range(len(data)):
            cut = msg_krb5.parse_krb5(data[:k], full=len(data))
            _check_prefix(whole, cut, k, data)
        # the message's own DER length ends it: bytes after it in the record are not read
        assert msg_krb5.parse_krb5(data, full=len(data) + 10)["status"] == 0


def test_strings_and_lists_bounded():
    """A cname longer than the array is kept to its first bytes, flagged capped, with
    its real length; more etypes than kept are counted."""
    def der(tag: int, body: bytes) -> bytes:
        n = len(body)
        head = bytes([n]) if n < 128 else bytes([0x82, n >> 8, n & 255])
        return bytes([tag]) + head + body
    long_name = b"u" * 300
    cname = der(0xA1, der(0x30, der(0xA0, der(2, b"\x01")) +
                      der(0xA1, der(0x30, der(0x1B, long_name)))))
    etypes = der(0xA8, der(0x30, b"".join(der(2, bytes([e])) for e in range(1, 21))))
    body = der(0xA4, der(0x30, cname + der(0xA2, der(0x1B, b"R")) + etypes))
    msg = der(0x6A, der(0x30, der(0xA1, der(2, b"\x05")) + der(0xA2, der(2, b"\x0a")) + body))
    got = msg_krb5.parse_krb5(msg)
    assert got["status"] == 0
    assert got["cname"] == "u" * 127 and got["cname_len"] == 300 and "cname" in got["capped"]
    assert got["etypes"] == list(range(1, 17)) and got["n_etypes"] == 20
    assert msg_krb5.probe(msg) == 1 and msg_krb5.probe(msg[:3]) == -1


def test_repeated_field_is_malformed():
    """DER: a SEQUENCE's fields in tag order, each once (an etype list tagged as a second
    sname must not overwrite the first)."""
    _, data, _tree = _messages(CAPTURES[0])[3]             # an AS-REQ
    got = msg_krb5.parse_krb5(data)
    assert got["msg_type"] == 10 and got["etypes"] == [18, 17, 23]
    at = data.rindex(bytes([0xA8, 0x0B, 0x30, 0x09]))      # etype [8]: SEQUENCE OF 3 ints
    bad = data[:at] + b"\xa3" + data[at + 1:]
    assert msg_krb5.parse_krb5(bad)["status"] == -1


@pytest.mark.parametrize("data, status", [
    (b"", -2), (b"\x16\x03\x01\x00\x05", -2), (b"GET / HTTP/1.1\r\n", -2),
    (b"\x6a\x05\x30\x03\x02\x01", -1),              # a length past its parent
    (b"\x6a\x03\x31\x01\x00", -1),                  # not a SEQUENCE inside
])
def test_not_kerberos_or_malformed(data, status):
    assert msg_krb5.parse_krb5(data)["status"] == status


def test_tcp_record_mark():
    assert msg_krb5.tcp_frame(b"\x00\x00\x01") == (1, 0)
    assert msg_krb5.tcp_frame(b"\x00\x00\x01\x00") == (0, 256)
    assert msg_krb5.tcp_frame(b"\x80\x00\x01\x00")[0] == -1
    assert msg_krb5.tcp_frame(b"\x00\x00\x00\x00")[0] == -1
