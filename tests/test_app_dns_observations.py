"""The DNS observations (wirescore.appkeys.dns_observations, vectorised over a batch, and
DnsObserver, which caches measured names across batches) and
the entropy they measure (wirescore._core.entropy) equal their one-event-at-a-time
definition, bit for bit: on the DNS events of every shared capture, on edge-case names
(empty, 255 bytes, non-ASCII, upper case, trailing dots, reverse, single-label, no public
suffix) and on hostile records (random bytes and lengths)."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from conftest import FIXTURES, list_captures, need_shared
from test_app_firstseen import nxdomain_records
from wirescore._core.entropy import entropy_one, entropy_rows
from wirescore import appkeys
from wirescore.appkeys import (KIND_ID, OBS_DTYPE, DnsObserver, dns_observations, hash64,
                               stand_in)
from wirescore.config import Config
from wirescore.core_names import DNS_BITS
from wirescore.dnsnames import NO_DOMAIN, entropy_bits, split_name
from wirescore.engine import Engine
from wirescore.errors import WirescoreError


def reference_entropy(data: bytes) -> float:
    """Shannon entropy, bits per byte, as Python sums it over a Counter."""
    if not data:
        return 0.0
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values())


def reference_observations(records: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
    """(OBS_DTYPE rows, raw parts) of DNS events, one event at a time, as the appkeys
    module docstring defines them."""
    rows, raws = [], []

    def add(i, kind, client, server, key, key_len, entropy, swap, raw):
        r = records[i]
        rows.append((i, KIND_ID[kind], r["ts_us"], np.frombuffer(client, np.uint8),
                     np.frombuffer(server, np.uint8), hash64(key), key_len, entropy,
                     r["ip_version"], swap, 0, 0))
        raws.append((int(r["ip_version"]), *raw))

    for i, r in enumerate(records):
        if not r["status"] & DNS_BITS["DE_QUESTION"] or {5353, 5355} & {
                int(r["src_port"]), int(r["dest_port"])}:
            continue
        f = int(r["flags"])
        text = r["text"]
        name = text[:int(r["qname_len"])].tobytes().rstrip(b".").lower()
        domain, under = split_name(name)
        src, dst = r["src_addr"].tobytes(), r["dest_addr"].tobytes()
        if not f & 0x8000:
            data = b"" if domain in (b"in-addr.arpa", b"ip6.arpa") else under
            add(i, "dns.name", src, stand_in(domain), name, len(data),
                reference_entropy(data), 0, (src, domain, name))
            continue
        if (f & 15) == 3 and b"." in domain and domain != NO_DOMAIN:
            add(i, "dns.nx", dst, src, domain, 0, 0.0, 1, (dst, src, domain))
        types = r["an_type"]
        for k in range(min(int(r["n_answers"]), len(types))):
            if int(types[k]) in (16, 10):
                off, n = int(r["an_data_off"][k]), int(r["an_data_len"][k])
                payload = text[off:off + n].tobytes()
                add(i, "dns.txt", dst, stand_in(domain), payload, len(payload),
                    reference_entropy(payload), 1, (dst, domain, name))
                break
    return np.array(rows, dtype=OBS_DTYPE), raws


def assert_same(records: np.ndarray, extract=dns_observations) -> int:
    """extract(records) equals the reference, bytes and raw parts; returns the number
    of observations."""
    want, raws = reference_observations(records)
    obs = extract(records)
    got = obs.array()
    assert got.dtype == OBS_DTYPE and len(obs.rows) == len(want)
    assert got.tobytes() == want.tobytes()          # every column, floats bit for bit
    for i, raw in enumerate(raws):
        assert tuple(obs._raw[i]) == raw
        obs.words(i)
    return len(want)


def test_every_shared_capture_as_one_event_at_a_time(tmp_path):
    captures = list_captures(need_shared() / "pcaps") + list_captures(FIXTURES)
    seen = batches = 0
    for pcap in captures:
        got, observer = [], DnsObserver()      # its cache lives across the batches
        try:
            Engine(Config.load(overrides={"detect.enabled": False}), tmp_path,
                   on_app=lambda kind, r, e: got.append(r.copy()) if kind == "dns"
                   else None).run(str(pcap))
        except WirescoreError:          # unsupported link types, damaged files
            pass
        for records in got:
            seen += assert_same(records)
            assert assert_same(records, observer) == assert_same(records)
            batches += 1
    assert batches >= 50 and seen >= 2000             # 56 batches, 2457 observations


EDGE_NAMES = [
    b"", b".", b"..", b"a", b"wpad", b"WPAD.", b"www.Example.COM", b"www.example.com..",
    b"mail.bbc.co.uk", b"co.uk", b"x.CO.UK", b"1.0.0.127.in-addr.arpa",
    b"b.a.9.8.ip6.arpa", b"dnscat.0a1b2c.3d4e5f", b"xn--bcher-kva.example.xn--p1ai",
    b"a.xn--", b"\xff\xfe\x80.example.com", b"\x00\x00.example.org", b"ABC\xc3\xa9.de",
    b"tunnel-" + bytes(range(0x41, 0x5b)) * 3 + b".pirate.sea",
    b".".join([b"abcdefghi"] * 25) + b".example.net",        # 254 bytes
    (b"a" * 63 + b".") * 3 + b"b" * 59 + b".com",             # 255 bytes
    b"A" * 255, bytes(range(1, 256)),
]


@pytest.mark.parametrize("qr", [0, 0x8003])
def test_edge_case_names(tmp_path, qr):
    recs = nxdomain_records(tmp_path, EDGE_NAMES * 2)
    recs["flags"] = qr
    recs["status"] |= DNS_BITS["DE_QUESTION"]
    assert assert_same(recs) >= (len(EDGE_NAMES) if not qr else 10)


@pytest.mark.parametrize("memo", [0, 3, 1 << 13])
def test_the_name_cache_changes_no_answer(tmp_path, monkeypatch, memo):
    """A DnsObserver answers each batch as the one-batch function, whatever its cache
    holds: none, a few names (forgetting all the time) or every one."""
    monkeypatch.setattr(appkeys, "DNS_MEMO_MAX", memo)
    recs = nxdomain_records(tmp_path, EDGE_NAMES * 3)
    recs["flags"][::2] = 0
    recs["flags"][1::2] = 0x8003
    recs["status"] |= DNS_BITS["DE_QUESTION"]
    observer = DnsObserver()
    seen = sum(assert_same(recs[i:i + 5], observer) for i in range(0, len(recs), 5))
    assert seen > len(EDGE_NAMES) and len(observer._memo) <= memo


def test_txt_payloads_cut_at_the_text_end(tmp_path):
    recs = nxdomain_records(tmp_path, [b"t.example.com"] * 6)
    width = recs["text"].shape[1]
    recs["flags"] = 0x8000
    recs["n_answers"] = 2
    recs["an_type"][:, :2] = (1, 16)
    recs["an_data_off"][:, 1] = (20, width - 10, width, width + 5, 0, 3)
    recs["an_data_len"][:, 1] = (40, 50, 9, 1, 0, 300)
    recs["text"][:, 20:] = np.arange(width - 20, dtype=np.uint64) % 251
    assert assert_same(recs) == 6


def test_hostile_records_as_one_event_at_a_time(tmp_path):
    recs = nxdomain_records(tmp_path, [b"example.com"] * 400)
    rng = np.random.default_rng(17)
    recs["text"] = rng.integers(0, 256, recs["text"].shape, dtype=np.uint8)
    recs["text"][::3, :40] = rng.choice(np.frombuffer(b"aB.-", np.uint8), (134, 40))
    for field in ("qname_len", "an_data_off", "an_data_len"):
        recs[field] = rng.integers(0, 65536, recs[field].shape, dtype=np.uint16)
    recs["qname_len"][::2] %= 300
    recs["flags"] = rng.integers(0, 65536, len(recs), dtype=np.uint16)
    recs["status"] = rng.integers(0, 256, len(recs), dtype=np.uint8)
    recs["n_answers"] = rng.integers(0, 256, len(recs), dtype=np.uint8)
    recs["an_type"] = rng.choice(np.array([1, 10, 16], np.uint16), recs["an_type"].shape)
    assert assert_same(recs) > 50


def test_no_question_no_observation(tmp_path):
    recs = nxdomain_records(tmp_path, [b"example.com"] * 3)
    recs["status"] &= 0xFF ^ DNS_BITS["DE_QUESTION"]
    assert dns_observations(recs).rows == []
    assert dns_observations(recs[:0]).rows == []


ENTROPY_CASES = [b"", b"a", b"aaaa", b"ab", b"abcabcabd", bytes(range(256)),
                 bytes(range(256)) * 4 + b"\x00", b"\xff" * 255, b"\x80\x81\xfe\xff",
                 b"AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_"]


def test_entropy_equals_the_python_definition():
    rng = np.random.default_rng(3)
    cases = ENTROPY_CASES + [
        rng.integers(0, hi, rng.integers(0, 300), dtype=np.uint8).tobytes()
        for hi in (2, 16, 37, 256) for _ in range(500)]
    for data in cases:
        assert entropy_bits(data) == entropy_one(data) == reference_entropy(data)
        assert entropy_one(data, True) == reference_entropy(data.lower())


def test_entropy_rows_reads_each_string_in_its_row():
    data = np.zeros((len(ENTROPY_CASES), 1100), np.uint8)
    rows, offs, lens = [], [], []
    for i, s in enumerate(ENTROPY_CASES):
        off = (7 * i) % 50
        data[i, off:off + len(s)] = np.frombuffer(s, np.uint8)
        rows.append(i)
        offs.append(off)
        lens.append(len(s))
    got = entropy_rows(data, rows[::-1], offs[::-1], lens[::-1])
    assert got.tolist() == [reference_entropy(s) for s in ENTROPY_CASES[::-1]]
    records = np.zeros(len(data), [("n", np.int64), ("text", np.uint8, data.shape[1])])
    records["text"] = data                              # a strided column, read in place
    assert entropy_rows(records["text"], rows, offs, lens).tolist() == [
        reference_entropy(s) for s in ENTROPY_CASES]
    assert entropy_rows(data, [], [], []).tolist() == []


@pytest.mark.parametrize("row,off,n", [(0, 1090, 11), (0, -1, 2), (0, 0, -1), (10, 0, 1),
                                       (-1, 0, 1)])
def test_entropy_rows_refuses_strings_outside_their_row(row, off, n):
    data = np.zeros((10, 1100), np.uint8)
    with pytest.raises(ValueError, match="not inside a row"):
        entropy_rows(data, [row], [off], [n])
