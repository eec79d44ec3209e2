"""The BER/DER reader (ext/app/ber.pxd via wirescore._core.msg_ber): X.690 encodings and
the three outcomes (OK, cut, malformed) on which the Kerberos and LDAP parsers stand.
Real messages go through it in tests/test_msg_krb5.py and test_msg_ldap.py."""
from __future__ import annotations

import pytest

from wirescore._core import msg_ber

OK, CUT, END, ERR = 0, 1, 2, -1


def test_short_and_long_lengths():
    seq = msg_ber.read(b"\x30\x03\x02\x01\x05")
    assert (seq["status"], seq["cls"], seq["tag"], seq["cons"]) == (OK, 0, 16, True)
    assert (seq["off"], seq["len"], seq["end"]) == (2, 3, 5)
    octets = msg_ber.read(b"\x04\x81\x03abc", der=True)
    assert (octets["off"], octets["len"]) == (3, 3)
    # long form with leading zeros, as Active Directory writes LDAP lengths
    ad = msg_ber.read(b"\x30\x84\x00\x00\x00\x03\x02\x01\x05")
    assert (ad["status"], ad["off"], ad["len"]) == (OK, 6, 3)


def test_high_tag_number_form():
    t = msg_ber.read(b"\x5f\x81\x01\x00")            # APPLICATION 129, primitive
    assert (t["status"], t["cls"], t["tag"], t["cons"], t["off"]) == (OK, 1, 129, False, 4)


def test_indefinite_length_ber_only():
    data = b"\x30\x80\x02\x01\x05\x04\x00\x00\x00"
    assert msg_ber.read(data)["indef"] and msg_ber.read(data)["status"] == OK
    assert msg_ber.read(data, der=True)["status"] == ERR
    kids, status = msg_ber.children(data)
    assert status == END and [k["tag"] for k in kids] == [2, 4]
    assert msg_ber.read(b"\x04\x80abc\x00\x00")["status"] == ERR    # primitive: never


def test_nesting_capped():
    """Indefinite lengths are found by walking; the walk stops at BER_MAX_DEPTH."""
    shallow = b"\x30\x80" + b"\x30\x80" * 10 + b"\x00\x00" * 11
    kids, status = msg_ber.children(shallow)
    assert status == END and kids[0]["end"] == len(shallow) - 2
    deep = b"\x30\x80" + b"\x30\x80" * 40 + b"\x00\x00" * 41
    assert msg_ber.children(deep)[1] == ERR


@pytest.mark.parametrize("data, limit, status, hdr_cut", [
    (b"\x30\x05\x02", 10, CUT, False),              # content runs past the bytes
    (b"\x30", 10, CUT, True),                       # so does the header
    (b"\x30\x82\x01", 10, CUT, True),
    (b"\x30\x05\x02", None, ERR, False),            # past its container's end
    (b"\x30\x85\x01\x00\x00\x00\x00", None, ERR, False),   # 5 length bytes
    (b"\x30\x84\xff\xff\xff\xff", 2**32 - 1, ERR, False),
])
def test_cut_versus_malformed(data, limit, status, hdr_cut):
    t = msg_ber.read(data, limit=limit)
    assert (t["status"], t["hdr_cut"]) == (status, hdr_cut)


def test_walk_stops_at_a_child_past_its_parent():
    kids, status = msg_ber.children(b"\x30\x07\x02\x01\x05\x04\x05ab", limit=9)
    assert [k["tag"] for k in kids] == [2] and status == ERR
    kids, status = msg_ber.children(b"\x30\x07\x02\x01\x05\x04\x02a", limit=9)
    assert [k["status"] for k in kids] == [OK, CUT] and status == CUT


@pytest.mark.parametrize("data, value", [
    (b"\x02\x01\x05", 5), (b"\x02\x01\xff", -1), (b"\x02\x02\x00\x80", 128),
    (b"\x02\x08\x7f" + b"\xff" * 7, 2**63 - 1), (b"\x02\x01\x80", -128),
    (b"\x02\x00", None), (b"\x02\x09\x01" + bytes(8), None),
])
def test_integer(data, value):
    status, got = msg_ber.integer(data)
    assert got == value and status == (OK if value is not None else ERR)


@pytest.mark.parametrize("text, epoch", [
    (b"20370913024805Z", 2136422885), (b"19700101000000Z", 0),
    (b"20200723191635Z", 1595531795), (b"20000229120000Z", 951825600),
    (b"2037091302480XZ", None), (b"20371313024805Z", None), (b"20370913024805", None),
])
def test_generalized_time(text, epoch):
    status, got = msg_ber.gentime(bytes([0x18, len(text)]) + text)
    assert got == epoch and status == (OK if epoch is not None else ERR)
