"""EVE dns lines in C (wirescore._core.evedns.format_dns, what eve.json gets) against the
Python writer (outputs/eve_dns.py DnsEventFormatter through json, the reference): byte
for byte on the DNS events of every shared capture and fixture, and on crafted records
holding every escape case (control bytes, quote, backslash, DEL, non-ASCII, surrogate
pairs, bytes that are not UTF-8), names of DNS_NAME bytes, the truncation flags, every RR
type and RCODE the writer names (and unnamed ones), TXT strings (empty, cut), addresses of
odd lengths, offsets past the text, the answer cap, and lines longer than the C buffer's
first size.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

from conftest import FIXTURES, fixture_captures, need_shared, shared_captures
from wirescore._core.appcore import DNS_EVENT_DTYPE
from wirescore._core.evedns import format_dns
from wirescore.config import Config
from wirescore.core_names import (DNS_ANSWERS, DNS_BITS, DNS_NAME, DNS_RCODES, DNS_RRTYPES,
                                  DNS_TEXT)
from wirescore.engine import Engine
from wirescore.errors import WirescoreError
from wirescore.outputs.eve import _dumps
from wirescore.outputs.eve_dns import DnsEventFormatter

RR = {name: n for n, name in DNS_RRTYPES}
DATA = DNS_BITS["DA_DATA"]


def python_lines(records: np.ndarray, seed: int = 0) -> bytes:
    return "".join(_dumps(e) + "\n"
                   for e in DnsEventFormatter(seed).events(records)).encode("ascii")


def assert_same(records: np.ndarray, seed: int = 0) -> None:
    c, py = format_dns(records, seed=seed), python_lines(records, seed)
    if c != py:
        for n, (a, b) in enumerate(zip(c.split(b"\n"), py.split(b"\n"))):
            assert a == b, f"record {n}:\n C  {a[:2000]!r}\n Py {b[:2000]!r}"
    assert c == py


def dns_records(path) -> np.ndarray:
    """The DNS event records the engine hands over for a capture (what it read before a
    refusal included)."""
    got = []
    cfg = Config.load(overrides={"detect.enabled": False})
    with tempfile.TemporaryDirectory(prefix="ws-evedns-") as logs:
        try:
            Engine(cfg, log_dir=logs,
                   on_app=lambda kind, recs, evs: got.append(recs) if kind == "dns" else None
                   ).run(str(path))
        except WirescoreError:
            pass
    return np.concatenate(got) if got else np.zeros(0, DNS_EVENT_DTYPE)


def test_c_lines_equal_python_lines_on_every_capture_with_dns():
    """Every shared capture and fixture: the C lines of its DNS events are the Python
    writer's, byte for byte (55 captures with 3,143 events when this was written)."""
    need_shared()
    captures, events, differ = 0, 0, []
    for path in shared_captures() + fixture_captures():
        recs = dns_records(path)
        if not len(recs):
            continue
        captures += 1
        events += len(recs)
        if format_dns(recs) != python_lines(recs):
            differ.append(path.name)
    assert captures >= 10 and events >= 1000, (captures, events)
    assert differ == []


def test_eve_json_dns_lines_are_the_python_writers(tmp_path):
    """The engine writes eve.json's dns lines in C: the on_app events through json."""
    evs = []
    Engine(Config.load(overrides={"detect.enabled": False}), log_dir=tmp_path,
           on_app=lambda kind, recs, e: evs.extend(e) if kind == "dns" else None
           ).run(str(FIXTURES / "zeek-wikipedia.pcap"))
    lines = [ln for ln in (tmp_path / "eve.json").read_text().splitlines()
             if '"event_type":"dns"' in ln]
    assert len(lines) == 28
    assert lines == [_dumps(e) for e in evs]


def record(**fields) -> np.ndarray:
    """One zeroed record: UDP over IPv4 between two addresses, fields as given; text as
    bytes (text_len its length unless given)."""
    r = np.zeros(1, DNS_EVENT_DTYPE)
    r["ip_version"], r["proto"] = 4, 17
    r["src_addr"][0, :4], r["dest_addr"][0, :4] = (10, 0, 0, 1), (192, 168, 200, 53)
    r["src_port"], r["dest_port"], r["flow_id"], r["ts_us"] = 40000, 53, 7, 1_700_000_000_123456
    text = fields.pop("text", b"")
    r["text"][0, :len(text)] = np.frombuffer(text, np.uint8)
    r["text_len"] = fields.pop("text_len", len(text))
    answers = fields.pop("answers", [])
    for k, (rrtype, name, data, flags) in enumerate(answers):
        r["an_type"][0, k], r["an_ttl"][0, k], r["an_flags"][0, k] = rrtype, 300 + k, flags
        r["an_name_off"][0, k], r["an_name_len"][0, k] = name
        r["an_data_off"][0, k], r["an_data_len"][0, k] = data
    r["n_answers"] = fields.pop("n_answers", len(answers))
    for name, value in fields.items():
        r[name] = value
    return r


def question(name: bytes, **fields) -> np.ndarray:
    """A record whose first question's name is name (the start of its text)."""
    base = dict(qname_len=len(name), qtype=1, status=DNS_BITS["DE_QUESTION"], flags=0x0100)
    return record(text=name, **{**base, **fields})


NAMES = [
    b"", b"www.example.com", bytes(range(0x20)), b"\x7f", b'quo"te', b"back\\slash",
    b"sl/ash", b"\n\r\t\b\f\x00\x01\x1f",
    "caf\u00e9.\u4e2d\u6587.\U0001f600.\u20ac".encode(),       # 2, 3 and 4-byte UTF-8
    "\ud7ff\ue000\uffff\U00010000\U0010ffff".encode(),          # the edges of the ranges
    b"\x80", b"\xff" * DNS_NAME, b"a\xc0\x80b", b"\xed\xa0\x80",  # overlong, surrogate
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xe2\x82", b"x\xe2\x82\xac\xe2",  # cut
    b'bad\xfe"\\\x00\n\x7f\xc3', b"\xc2\xa0" * 127, b"\x00" * DNS_NAME,
    "\U0001f600".encode() * 63,
]


@pytest.mark.parametrize("name", NAMES, ids=range(len(NAMES)))
def test_names_escape_as_json_dumps(name):
    assert_same(question(name))
    trunc = DNS_BITS["DE_QUESTION"] | DNS_BITS["DE_QNAME_TRUNC"]
    assert_same(question(name, status=trunc))
    n = len(name)
    answers = [(RR["CNAME"], (0, n), (0, n), DATA), (RR["TXT"], (0, n), (0, n), DATA),
               (RR["NULL"], (0, n), (0, n), DATA | DNS_BITS["DA_DATA_TRUNC"]),
               (RR["MX"], (0, n), (0, 0), DATA | DNS_BITS["DA_NAME_TRUNC"])]
    assert_same(question(name, answers=answers, flags=0x8180))


def test_every_two_byte_start():
    """Every pair of bytes, alone and followed by two continuation bytes (each UTF-8
    lead byte with every second byte, cut or not): nine names a record."""
    names = [bytes([a, b]) + tail for tail in (b"", b"\x80\xbf")
             for a in range(256) for b in range(256)]
    recs = []
    for i in range(0, len(names), 9):
        group = names[i:i + 9]
        offs = np.cumsum([0] + [len(g) for g in group])
        answers = [(RR["CNAME"], (int(offs[k]), len(g)), (int(offs[k]), len(g)), DATA)
                   for k, g in enumerate(group[1:], 1)]
        recs.append(question(b"".join(group), qname_len=len(group[0]), answers=answers,
                             flags=0x8180))
    assert_same(np.concatenate(recs))


def test_every_rrtype_rcode_and_flag():
    numbers = [n for n, _ in DNS_RRTYPES] + [0, 31, 64, 257, 4660, 65535]
    recs = [question(b"a.b", qtype=t, answers=[(t, (0, 3), (0, 3), DATA)], flags=0x8000)
            for t in numbers]
    recs += [question(b"a.b", flags=f) for f in range(0, 0x10000, 0x0101)]
    recs += [question(b"a.b", flags=0x8000 | rc) for rc in range(16)]
    recs += [question(b"a.b", flags=bit) for bit in (0x8000, 0x0400, 0x0200, 0x0100,
                                                      0x0080, 0x0040, 0x0020, 0x0010)]
    assert {n for n, _ in DNS_RCODES} <= set(range(16))
    assert_same(np.concatenate(recs))


def test_addresses_txt_strings_and_clamped_offsets():
    addr = bytes([1, 2, 3, 4]) + bytes(range(0xf0, 0x100)) + b"\x00" * 8
    txt = b"\x03abc\x00\x05hello\x02\xff\x80\x09cut"
    text = addr + txt
    a, t = len(addr), len(txt)
    cases = [
        [(RR["A"], (0, 0), (0, 4), DATA), (RR["AAAA"], (0, 0), (4, 16), DATA)],
        [(RR["A"], (0, 0), (0, n), DATA) for n in (0, 1, 3, 5, 15, 17, 20)],
        [(RR["AAAA"], (0, 0), (0, n), DATA) for n in (4, 7, 16, 21)],
        [(RR["TXT"], (0, 3), (a, t), DATA), (RR["TXT"], (0, 3), (a, 0), DATA),
         (RR["TXT"], (0, 3), (a, t), 0), (RR["TXT"], (0, 3), (a + 4, 1), DATA),
         (RR["TXT"], (2, 1), (a + 9, 3), DATA), (RR["A"], (0, 1), (0, 4), DATA)],
        [(RR["SOA"], (0, 3), (0, 0), 0), (RR["SRV"], (0, 3), (0, 9), 0),
         (RR["CNAME"], (0, 3), (0, 0), 0), (RR["A"], (0, 3), (0, 4), 0)],
        [(RR["CNAME"], (1000, 100), (DNS_TEXT, 9), DATA),        # past text_len, DNS_TEXT
         (RR["A"], (65535, 65535), (65530, 65535), DATA),
         (RR["TXT"], (0, 65535), (a, 65535), DATA)],
        [(RR["A"], (0, 0), (0, 4), DATA), (RR["CNAME"], (0, 3), (0, 3), DATA),
         (RR["A"], (0, 3), (0, 4), DATA), (RR["TXT"], (0, 3), (a, t), DATA),
         (RR["AAAA"], (0, 3), (4, 16), DATA), (RR["TXT"], (0, 3), (a, 4), DATA),
         (RR["NS"], (0, 3), (0, 3), DATA), (RR["PTR"], (0, 3), (0, 3), DATA)],
    ]
    recs = [question(text, answers=c, flags=0x8180, ancount=len(c)) for c in cases]
    full = question(b"x" * DNS_NAME + b"\xff" * (DNS_TEXT - DNS_NAME),
                    answers=[(RR["NULL"], (k, DNS_NAME), (DNS_NAME, DNS_TEXT - DNS_NAME), DATA)
                             for k in range(DNS_ANSWERS)],
                    status=DNS_BITS["DE_QUESTION"] | DNS_BITS["DE_ANSWERS_MORE"],
                    flags=0x8180, ancount=40)
    recs += [full, question(b"a", n_answers=3, flags=0x8180), question(b"a", text_len=4000)]
    assert_same(np.concatenate(recs))


def test_tuples_vlans_ipv6_tcp_seeds():
    recs = []
    for version in (4, 6):
        for proto in (6, 17):
            for nvlan in range(4):
                r = question(b"host", nvlan=nvlan, vlan0=10, vlan1=4095, proto=proto,
                             ip_version=version, ts_us=1_600_000_000_000_000 + nvlan)
                if version == 6:
                    r["src_addr"][0] = list(range(16))
                    r["dest_addr"][0] = [0x20, 1, 0xd, 0xb8] + [0] * 11 + [1]
                recs.append(r)
    recs.append(question(b"same", src_port=53, dest_port=53))
    recs.append(question(b"same", src_port=53, dest_port=53, flags=0x8180,
                         src_addr=recs[-1]["dest_addr"], dest_addr=recs[-1]["src_addr"]))
    recs = np.concatenate(recs)
    for seed in (0, 1, 65535):
        assert_same(recs, seed)


def test_lines_beyond_the_first_buffer_and_into_a_file(tmp_path):
    """A TXT record of 255 empty strings repeats its 255-byte name 255 times (~400 kB a
    line, beyond the buffer's first 256 kB): grown, and with fd flushed first."""
    name = b"\x01" * DNS_NAME
    txt = b"\x00" * 255
    big = question(name + txt, answers=[(RR["TXT"], (0, DNS_NAME), (DNS_NAME, 255), DATA)],
                   flags=0x8180)
    recs = np.concatenate([question(b"small")] * 300 + [big, big] + [question(b"end")])
    assert len(format_dns(big)) > 1 << 18
    assert_same(recs)
    path = tmp_path / "out.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        assert format_dns(recs, fd=fd) == len(python_lines(recs))
    finally:
        os.close(fd)
    assert path.read_bytes() == python_lines(recs)


def test_random_records():
    """Random records (every field random within its range, text random bytes, mostly
    ASCII, offsets anywhere): the same lines."""
    rng = np.random.default_rng(2026)
    n = 3000
    raw = rng.integers(0, 256, (n, DNS_EVENT_DTYPE.itemsize), dtype=np.uint8)
    recs = raw.view(DNS_EVENT_DTYPE).reshape(n).copy()
    alphabet = np.frombuffer(b'abc.-_"\\\x00\x0a\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff',
                             np.uint8)
    recs["text"] = alphabet[rng.integers(0, len(alphabet), recs["text"].shape)]
    recs["ip_version"] = rng.choice([4, 6], n)
    recs["proto"] = rng.choice([6, 17], n)
    recs["ts_us"] = rng.integers(0, 4_000_000_000_000_000, n)
    recs["n_answers"] = rng.integers(0, DNS_ANSWERS + 1, n)
    recs["text_len"] = rng.integers(0, DNS_TEXT + 64, n)
    recs["qname_len"] = rng.integers(0, DNS_NAME + 2, n)
    types = np.array([n for n, _ in DNS_RRTYPES] + [0, 999], np.uint16)
    recs["an_type"] = types[rng.integers(0, len(types), recs["an_type"].shape)]
    recs["qtype"] = types[rng.integers(0, len(types), n)]
    for f in ("an_name_off", "an_data_off"):
        recs[f] = rng.integers(0, DNS_TEXT + 8, recs[f].shape)
    for f in ("an_name_len", "an_data_len"):
        recs[f] = rng.integers(0, 300, recs[f].shape)
    assert_same(recs)


def test_refuses_other_arrays():
    with pytest.raises(ValueError):
        format_dns(np.zeros(2, np.uint8))
    with pytest.raises(ValueError):
        format_dns(np.zeros(4, DNS_EVENT_DTYPE)[::2])
    with pytest.raises(ValueError):
        format_dns(np.zeros(1, DNS_EVENT_DTYPE), seed=65536)
    assert format_dns(np.zeros(0, DNS_EVENT_DTYPE)) == b""


def test_python_line_writer_is_the_c_writer_on_dns(tmp_path):
    """line_writer's Python path (used by kinds without a C writer) gives the C writer's
    bytes on the DNS events of a fixture, returned and written to a file descriptor."""
    from wirescore.outputs.app_events import _PythonLines

    recs = np.concatenate([dns_records(p) for p in fixture_captures()])
    assert len(recs) >= 10
    lines = _PythonLines(DnsEventFormatter())
    assert lines(recs) == format_dns(recs)
    path = tmp_path / "out.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        assert lines(recs, fd=fd) == len(format_dns(recs))
    finally:
        os.close(fd)
    assert path.read_bytes() == format_dns(recs)
