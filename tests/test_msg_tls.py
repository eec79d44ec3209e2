"""TLS message parsers (ext/app/tls.pxd, x509.pxd, ja.pxd via wirescore._core.msg_tls) on
real bytes: messages cut out of captures by tests/tlsref.py (dpkt and Python, not the
parser under test), compared with tshark, FoxIO's JA4 vectors, Python's ssl and hashlib.
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import tlsref
from conftest import REPO, shared_available, shared_captures
from wirescore import tls_names
from wirescore._core import msg_tls

JA4_DIR = REPO / "tests" / "data" / "ja4"
PCAPS = REPO / "tests" / "data" / "pcaps"
OPENSSL = shutil.which("openssl")
needs_tshark = pytest.mark.skipif(not tlsref.TSHARK, reason="tshark not installed")


def messages(path: Path, hs_type: int) -> list[tuple[tlsref.Direction, bytes, bool]]:
    """(direction, message bytes, whole) of every handshake message of this type."""
    out = []
    for d in tlsref.directions(path):
        msgs, last_whole = tlsref.handshake_messages(d.data)
        for k, msg in enumerate(msgs):
            whole = k < len(msgs) - 1 or last_whole
            if msg[0] == hs_type:
                out.append((d, msg, whole))
    return out


# ---- hashes and name tables -----------------------------------------------------------

def test_md5_and_sha256_headers_equal_hashlib():
    rng = random.Random(7)
    for size in list(range(0, 130)) + [rng.randrange(130, 5000) for _ in range(40)]:
        data = rng.randbytes(size)
        assert msg_tls.md5(data) == hashlib.md5(data).hexdigest(), size
        assert msg_tls.sha256(data) == hashlib.sha256(data).hexdigest(), size


def test_the_compiled_tables_are_the_lists():
    assert msg_tls.VERSIONS == tls_names.TLS_VERSIONS
    assert msg_tls.X509_ATTRS == tuple((oid, tls_names.oid_der(oid), name)
                                       for oid, name in tls_names.X509_ATTRS)
    assert tls_names.version_name(0x0303) == "TLS 1.2"
    assert tls_names.version_name(0x7f1c) == "0x7f1c"


def test_oid_der_is_x690():
    assert tls_names.oid_der("2.5.4.3") == b"\x55\x04\x03"
    assert tls_names.oid_der("1.2.840.113549.1.9.1") == bytes.fromhex("2a864886f70d010901")


# ---- JA4 / JA4S against FoxIO's vectors ----------------------------------------------

@pytest.mark.parametrize("name", sorted(p.name for p in JA4_DIR.iterdir()
                                        if p.suffix in (".pcap", ".pcapng")))
def test_ja4_and_ja4s_equal_foxio_vectors(name):
    """Every TCP entry with a JA4 in FoxIO's JSON has its ClientHello here (and its
    ServerHello where the JSON has a JA4S), each fingerprint equal."""
    expected = json.loads((JA4_DIR / f"{name}.json").read_text())
    checked = 0
    for entry in expected:
        if "JA4.1" in entry:
            assert any((d.sport, d.dport) == (int(entry["srcport"]), int(entry["dstport"]))
                       for d, _, whole in messages(JA4_DIR / name, 1) if whole), entry
        ports = (int(entry["srcport"]), int(entry["dstport"]))
        for d, msg, whole in messages(JA4_DIR / name, 1):
            if (d.sport, d.dport) != ports or not whole:
                continue
            got = msg_tls.parse_client_hello(msg)
            assert got["rc"] == 0
            want = {"ja4": entry["JA4.1"], "ja4_r": entry["JA4_r.1"],
                    "ja4_o": entry["JA4_o.1"], "ja4_ro": entry["JA4_ro.1"]}
            for key, value in want.items():
                if value[8:10] == "99" and got[key][8:10] != "99":
                    # python/ja4.py writes "99" for a first ALPN byte over 127; JA4.md (the
                    # spec, same commit) says the hex digits (test_non_ascii_alpn_follows_
                    # the_spec_rule): the parser follows the spec, the rest is FoxIO's
                    assert got[key][:8] == value[:8] and got[key][10:] == value[10:]
                else:
                    assert got[key] == value, (name, key)
                checked += 1
        for d, msg, whole in messages(JA4_DIR / name, 2):
            if (d.dport, d.sport) != ports or "JA4S" not in entry:
                continue
            got = msg_tls.parse_server_hello(msg)
            assert (got["ja4s"], got["ja4s_r"]) == (entry["JA4S"], entry["JA4S_r"]), name
            checked += 1
    assert checked >= 4


@needs_tshark
@pytest.mark.parametrize("name", sorted(p.name for p in JA4_DIR.iterdir()
                                        if p.suffix in (".pcap", ".pcapng")))
def test_the_ja4_reference_equals_foxio_vectors(name):
    """tlsref.ja4_from_fields (the shared captures' JA4 reference, from tshark's lists)
    gives FoxIO's JA4 and JA4S; None only for the non-ASCII ALPN, which tshark escapes."""
    path = JA4_DIR / name
    vectors = {(int(e["srcport"]), int(e["dstport"])): e
               for e in json.loads((JA4_DIR / f"{name}.json").read_text()) if "JA4.1" in e}
    rows = tlsref.tshark_fields(path, "tcp and (tls.handshake.type == 1 or "
                                "tls.handshake.type == 2)",
                                ["tcp.srcport", "tcp.dstport", "tls.handshake.type",
                                 "tls.handshake.extensions_alpn_str"] + tlsref.JA4_FIELDS)
    nth: dict[tuple, int] = {}                 # hellos so far per (stream, type)
    for r in rows:
        t = int(r[2].split("|")[0])
        ports = (int(r[0]), int(r[1])) if t == 1 else (int(r[1]), int(r[0]))
        entry = vectors[ports]
        k = nth[ports + (t,)] = nth.get(ports + (t,), 0) + 1
        got = tlsref.ja4_from_fields(t, r[4:], r[3])
        if t == 1:       # the second ClientHello after a HelloRetryRequest is JA4.2
            assert got == (None if "non-ascii" in name else entry[f"JA4.{k}"]), ports
        elif k == 1 and "JA4S" in entry:     # FoxIO's JSON has no JA4S for some streams
            assert got == entry["JA4S"], ports
    assert sum(1 for key in nth if key[2] == 1) == len(vectors)


def test_non_ascii_alpn_follows_the_spec_rule():
    """The one vector where FoxIO's python and its spec differ: the first ALPN of
    tls-non-ascii-alpn.pcapng is two non-ASCII bytes; JA4.md's rule is checked here on
    the raw bytes of the extension, read independently of the parser."""
    (d, msg, _), = messages(JA4_DIR / "tls-non-ascii-alpn.pcapng", 1)
    got = msg_tls.parse_client_hello(msg)
    at = 4 + 2 + 32
    at += 1 + msg[at]
    at += 2 + int.from_bytes(msg[at:at + 2], "big")
    at += 1 + msg[at]
    end = at + 2 + int.from_bytes(msg[at:at + 2], "big")
    at += 2
    first_alpn = None
    while at < end:
        etype, elen = int.from_bytes(msg[at:at + 2], "big"), int.from_bytes(msg[at + 2:at + 4], "big")
        if etype == 16:
            first_alpn = msg[at + 7:at + 7 + msg[at + 6]]
        at += 4 + elen
    assert first_alpn and first_alpn[0] > 127
    assert got["ja4"][8:10] == tlsref.ja4_alpn(first_alpn)


def test_ja4s_writes_a_non_ascii_alpn_by_the_spec_rule():
    """The fuzz finding tests/data/fuzz-regressions/msg_tls/ja4s-non-ascii-alpn.bin: a
    ServerHello choosing "http" + four bytes over 127. JA4S's ALPN part follows JA4's
    rule (hex digits), read here from the ALPN extension's raw bytes."""
    data = (REPO / "tests" / "data" / "fuzz-regressions" / "msg_tls" /
            "ja4s-non-ascii-alpn.bin").read_bytes()[3:]
    msg = bytes([2]) + (len(data) - 4).to_bytes(3, "big") + data[4:]
    alpn = msg[msg.index(b"\x00\x10\x00\x0b\x00\x09\x08") + 7:][:8]
    assert alpn[:4] == b"http" and min(alpn[4:]) > 127
    got = msg_tls.parse_server_hello(msg)
    assert got["rc"] == 0
    assert got["ja4s"][5:7] == tlsref.ja4_alpn(alpn) == "6e"
    assert got["ja4s_r"][:7] == got["ja4s"][:7]


# ---- every shared capture with TLS: fields equal tshark's ------------------------------

def _addr(row, v4, v6):
    return row[v4] or row[v6]


def _tls_captures() -> list[Path]:
    """Shared captures holding a TLS handshake record (a cheap byte search first)."""
    out = []
    for path in shared_captures():
        if b"\x16\x03" in path.read_bytes():
            out.append(path)
    return out


def _ours(path: Path):
    """{direction key: [(type, parsed dict, whole)...]} of our parse of every handshake
    message tlsref cut out, and the set of keys whose bytes had a hole."""
    ours: dict[tuple, list] = {}
    holes = set()
    for d in tlsref.directions(path):
        msgs, last_whole = tlsref.handshake_messages(d.data)
        for k, msg in enumerate(msgs):
            whole = k < len(msgs) - 1 or last_whole
            full = 4 + int.from_bytes(msg[1:4], "big")
            parse = {1: msg_tls.parse_client_hello, 2: msg_tls.parse_server_hello,
                     11: msg_tls.parse_certificates}.get(msg[0])
            if parse:
                ours.setdefault(d.key, []).append((msg[0], parse(msg, full), whole))
        if d.hole or (msgs and not last_whole):
            holes.add(d.key)
        if not d.data.startswith(b"\x16\x03") and not (d.data[:1] and d.data[0] & 0x80):
            holes.add(("not-from-start",) + d.key)
    return ours, holes


HELLO_FIELDS = ["ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
                "tls.handshake.type", "tls.handshake.ja3_full", "tls.handshake.ja3",
                "tls.handshake.ja3s_full", "tls.handshake.ja3s",
                "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str",
                "_ws.expert.message"] + tlsref.JA4_FIELDS


def _tshark_hellos(path: Path) -> dict[tuple, list]:
    """{direction key: [(ja3_full, ja3, ja3s_full, ja3s, sni, alpn list, expert, ja4)...]}
    per hello; the ALPN list and JA4 / JA4S (tlsref's, from tshark's lists: tshark 4.0
    has no JA4 field) only where the packet holds one hello (tshark joins the repeated
    values of all hellos of a packet), else None."""
    rows = tlsref.tshark_fields(path, "tls.handshake.type == 1 or tls.handshake.type == 2",
                                HELLO_FIELDS)
    out: dict[tuple, list] = {}
    for r in rows:
        if not r[2]:                     # QUIC's TLS (CRYPTO frames over UDP): not ours
            continue
        key = (_addr(r, 0, 1), int(r[2].split("|")[0]), _addr(r, 3, 4), int(r[5].split("|")[0]))
        cols = [v.split("|") if v else [] for v in r[7:13]]
        hellos = max(len(cols[0]), len(cols[2]))
        for k in range(hellos):
            pick = [c[k] if k < len(c) else "" for c in cols[:5]]
            alpn = cols[5] if hellos == 1 else None
            fp = (tlsref.ja4_from_fields(1 if cols[0] else 2, r[14:], r[12])
                  if hellos == 1 else None)
            out.setdefault(key, []).append((*pick, alpn, r[13], fp))
    return out


def _compare_hellos(path, ours, holes, theirs, report):
    for key, rows in theirs.items():
        if ("not-from-start",) + key in holes:
            # TLS after another protocol in the same connection (STARTTLS, SOCKS, HTTP
            # CONNECT): tshark follows the upgrade; finding where TLS starts is the
            # framework's protocol detection, not the message parsers' (tlsref cuts
            # messages only from a direction that starts with a record)
            report["mid_stream"] += 1
            continue
        mine = [(t, p) for t, p, whole in ours.get(key, ()) if t in (1, 2) and whole]
        if key in holes:
            # our bytes stop at a hole (a lost or snapped segment): ours is a prefix
            rows = rows[:len(mine)]
        assert len(mine) == len(rows), (path.name, key, len(mine), len(rows))
        for (t, p), (ja3_full, ja3, ja3s_full, ja3s, sni, alpn, expert, fp) in zip(mine, rows):
            if p["rc"] < 0:
                # we call it malformed: tshark must have said so too (an expert message:
                # a vector length too large or too small, bytes left over); its JA3 of
                # such a hello is made of whatever it read
                assert expert, (path.name, key, p["rc"])
                report["malformed"] += 1
                continue
            if t == 1:
                assert (p["ja3"], p["ja3_hash"]) == (ja3_full, ja3), (path.name, key)
                assert (p["sni"] or "") == sni, (path.name, key)
                if alpn is not None:
                    assert (p["alpn"] or []) == alpn, (path.name, key)
            else:
                assert (p["ja3s"], p["ja3s_hash"]) == (ja3s_full, ja3s), (path.name, key)
            if fp is None:
                report["ja4_not_from_tshark"] += 1
            else:
                assert p["ja4" if t == 1 else "ja4s"] == fp, (path.name, key)
                report["ja4"] += 1
            report["hellos"] += 1
    # what tshark did not decode: TLS on ports its dissector does not take without
    # heuristics (it decodes by port), so it has no row for these directions
    report["not_by_tshark"] += sum(1 for k in ours if k not in theirs and
                                   any(t in (1, 2) for t, _, _ in ours[k]))


def _ssl_view(der: bytes) -> dict | None:
    """Python's ssl (OpenSSL) decoding of a certificate, or None when it refuses it."""
    pem = ssl.DER_cert_to_PEM_cert(der)
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as fh:
        fh.write(pem)
        fh.flush()
        try:
            return ssl._ssl._test_decode_cert(fh.name)
        except (ssl.SSLError, ValueError):
            return None


# OpenSSL's long names (ssl's decoding) -> the names Suricata writes (tls_names.X509_ATTRS)
OPENSSL_NAMES = {"commonName": "CN", "countryName": "C", "localityName": "L",
                 "stateOrProvinceName": "ST", "organizationName": "O",
                 "organizationalUnitName": "OU", "domainComponent": "DC",
                 "emailAddress": "Email", "serialNumber": "serialNumber",
                 "surname": "surname", "givenName": "givenName", "title": "title",
                 "streetAddress": "streetAddress", "description": "description",
                 "unstructuredName": "unstructuredName"}
OPENSSL_OIDS = {"businessCategory": "2.5.4.15", "jurisdictionCountryName":
                "1.3.6.1.4.1.311.60.2.1.3", "jurisdictionStateOrProvinceName":
                "1.3.6.1.4.1.311.60.2.1.2", "jurisdictionLocalityName":
                "1.3.6.1.4.1.311.60.2.1.1", "postalCode": "2.5.4.17",
                "organizationIdentifier": "2.5.4.97", "name": "2.5.4.41"}


def _dn(rdns) -> str:
    def name(n):
        return OPENSSL_NAMES.get(n) or f"OID({OPENSSL_OIDS.get(n, n)})"
    return ", ".join(" + ".join(f"{name(k)}={v}" for k, v in rdn) for rdn in rdns)


def _compare_cert(der: bytes, got: dict, report) -> None:
    """One whole certificate: our fields against hashlib and OpenSSL's decoding."""
    assert got["rc"] == 0 and got["fingerprint"] == ":".join(
        f"{b:02x}" for b in hashlib.sha1(der).digest())
    view = _ssl_view(der)
    if view is None:
        report["ssl_refused"] += 1
        return
    assert int(got["serial"].replace(":", ""), 16) == int(view["serialNumber"], 16)
    assert got["notbefore_epoch"] == ssl.cert_time_to_seconds(view["notBefore"])
    assert got["notafter_epoch"] == ssl.cert_time_to_seconds(view["notAfter"])
    for key, want in (("subject", _dn(view["subject"])), ("issuerdn", _dn(view["issuer"]))):
        if got[f"{key}_truncated"]:          # kept: the first 383 bytes, its real length
            report["names_truncated"] += 1
            assert want.encode().startswith(got[key].encode("utf-8", "surrogateescape")[:300])
            assert got[f"{key}_len"] == len(want.encode())
        else:
            assert got[key] == want, (got[key], want)
    assert got["self_signed"] == (view["subject"] == view["issuer"])
    sans = [v for k, v in view.get("subjectAltName", ()) if k == "DNS"]
    assert got["san"] == sans[:8] and got["n_san"] == len(sans)
    report["certs"] += 1


def _compare_certificates(path, ours, report):
    rows = tlsref.tshark_fields(path, "tls.handshake.type == 11",
                                ["tcp.srcport", "tcp.dstport", "tls.handshake.certificate"])
    chains = {}
    for r in rows:
        chains.setdefault((int(r[0].split("|")[0]), int(r[1].split("|")[0])), []).append(
            r[2].split("|"))
    for key, msgs in ours.items():
        for t, p, whole in msgs:
            if t != 11 or not whole:
                continue
            der = p["first"]
            assert len(der) == p["first_len"]
            got = msg_tls.parse_x509(der)
            if got["rc"] < 0:
                # not a certificate to us: nor to OpenSSL (tshark shows the bytes as such)
                assert _ssl_view(der) is None, (path.name, key)
                report["cert_malformed"] += 1
                continue
            tshark_chain = chains.get((key[1], key[3]))
            if tshark_chain:                     # the chain length tshark lists
                assert p["n_certs"] in [len(c) for c in tshark_chain], (path.name, key)
                assert der.hex() in [c[0].replace(":", "") for c in tshark_chain]
            _compare_cert(der, got, report)


@needs_tshark
@pytest.mark.shared
@pytest.mark.skipif(not shared_available(), reason="needs ../shared/data")
def test_every_shared_capture_with_tls_equals_tshark():
    """ClientHello: JA3 string and MD5, SNI, ALPN list, JA4; ServerHello: JA3S string and
    MD5, JA4S (JA4 / JA4S from tshark's lists by tlsref, itself checked against FoxIO's
    vectors; not where tshark's values cannot give them: see tlsref.ja4_from_fields);
    Certificate: chain length and the first certificate's DER (tshark), its subject,
    issuer, serial, validity, self-signed, SAN (OpenSSL via ssl) and SHA-1 (hashlib).
    Differences explained: directions with a hole compare their prefix; directions tshark
    does not decode (ports its TLS dissector does not take) are counted, not compared;
    certificates OpenSSL refuses are counted."""
    report = {"captures": 0, "hellos": 0, "certs": 0, "not_by_tshark": 0, "ssl_refused": 0,
              "malformed": 0, "mid_stream": 0, "names_truncated": 0,
              "cert_malformed": 0, "ja4": 0, "ja4_not_from_tshark": 0}
    for path in _tls_captures():
        ours, holes = _ours(path)
        if not ours:
            continue
        report["captures"] += 1
        _compare_hellos(path, ours, holes, _tshark_hellos(path), report)
        _compare_certificates(path, ours, report)
    print(report)
    assert report["captures"] >= 50 and report["hellos"] >= 500 and report["certs"] >= 50
    assert report["ja4"] >= 0.9 * report["hellos"], report


def _openssl_cert(folder: Path, n_ip: int, n_ext: int) -> bytes:
    """A self-signed certificate made by the openssl tool: n_ext private extensions, then
    a subjectAltName of n_ip IP addresses followed by DNS:late.example."""
    sans = ",".join([f"IP:10.0.{i >> 8}.{i & 255}" for i in range(n_ip)] + ["DNS:late.example"])
    exts = [a for i in range(n_ext) for a in ("-addext", f"1.3.6.1.4.1.99999.{i}=ASN1:NULL")]
    out = folder / f"{n_ip}-{n_ext}.der"
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(folder / "k.pem"),
                    "-subj", "/CN=x", "-days", "1", *exts, "-addext", f"subjectAltName={sans}",
                    "-outform", "DER", "-out", str(out)], check=True, capture_output=True)
    return out.read_bytes()


@pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
@pytest.mark.parametrize("n_ip, n_ext, read", [(255, 0, True), (300, 0, False),
                                               (0, 58, True), (0, 70, False)])
def test_san_names_past_the_caps_are_flagged(tmp_path, n_ip, n_ext, read):
    """The DNS name after n_ip other names (X509_MAX_NAMES = 256 looked at) or after n_ext
    other extensions (X509_MAX_EXTS = 64; openssl adds 3 of its own before ours) is kept
    within the caps; past them it is unread and san_truncated says so. OpenSSL (ssl)
    lists it in every case."""
    der = _openssl_cert(tmp_path, n_ip, n_ext)
    view = _ssl_view(der)
    assert [v for k, v in view["subjectAltName"] if k == "DNS"] == ["late.example"]
    got = msg_tls.parse_x509(der)
    assert got["rc"] == 0
    assert (got["san"], got["san_truncated"]) == ((["late.example"], False) if read else ([], True))


# ---- prefixes: a capture cut by the snap length ---------------------------------------

def _exact(b: bytes) -> np.ndarray:
    """A copy in a buffer of exactly len(b) bytes (numpy's allocation, not Python's
    object arena: a sanitizer build sees a read past it)."""
    return np.frombuffer(bytearray(b), dtype=np.uint8) if b else np.zeros(0, np.uint8)


def _prefix_messages():
    """(name, parse function, message bytes) of real messages: hellos, Certificate
    messages and certificates of the vector captures and the shipped fixtures."""
    out = []
    for path in (JA4_DIR / "tls12.pcap", JA4_DIR / "tls-alpn-h2.pcap",
                 JA4_DIR / "badcurveball.pcap", PCAPS / "zeek-tls-irc-starttls-sll.pcap"):
        for t, parse in ((1, msg_tls.parse_client_hello), (2, msg_tls.parse_server_hello),
                         (11, msg_tls.parse_certificates)):
            for d, msg, whole in messages(path, t)[:1]:
                if whole:
                    out.append((f"{path.name}-{t}", parse, msg))
                    if t == 11:
                        first = msg_tls.parse_certificates(msg)["first"]
                        out.append((f"{path.name}-x509", msg_tls.parse_x509, first))
    return out


PREFIX_MESSAGES = _prefix_messages()


@pytest.mark.parametrize("name,parse,msg", PREFIX_MESSAGES, ids=[m[0] for m in PREFIX_MESSAGES])
def test_every_prefix_parses_as_a_prefix(name, parse, msg):
    """Every cut of a real message: rc 1 (never an error), each field either absent or
    equal to the whole parse's, and once there, there at every longer cut."""
    whole = parse(_exact(msg))
    assert whole["rc"] == 0 and not whole["prefix"]
    fields = [k for k in whole if k not in ("rc", "flags", "prefix") and
              not k.endswith("truncated") and k not in ("first", "n_certs_seen",
              "chain_complete", "sslv2", "bad_extension", "hello_retry")]
    present_from = {}
    for n in range(len(msg)):
        got = parse(_exact(msg[:n]), len(msg))
        assert got["rc"] == 1 and got["prefix"], (name, n, got["rc"])
        for k in fields:
            if got[k] is not None and whole[k] is not None:
                assert got[k] == whole[k], (name, n, k)
                present_from.setdefault(k, n)
            elif k in present_from and isinstance(whole[k], (int, str, list)):
                raise AssertionError(f"{name}: {k} there at {present_from[k]}, gone at {n}")
    # the hash-like fields need every byte: only the whole message has them
    for k in ("ja3", "ja4", "ja3s", "ja4s", "fingerprint"):
        assert k not in whole or whole[k] is None or k not in present_from, (name, k)
    assert present_from, name


def test_a_256_byte_capture_still_names_the_server():
    """The evaluation mix keeps 256 bytes a packet: with ~200 bytes of the ClientHello,
    SNI (commonly an early extension) is there, the fingerprints are not."""
    (d, msg, _), = messages(JA4_DIR / "tls12.pcap", 1)
    got = msg_tls.parse_client_hello(_exact(msg[:256 - 54 - 5]), len(msg))
    assert got["rc"] == 1 and got["sni"] == "contile.services.mozilla.com"
    assert got["version"] == 0x0303 and got["ciphers"] is not None
    assert got["ja3"] is None and got["ja4"] is None and got["extensions"] is None


# ---- the record walker and SSLv2 hellos ------------------------------------------------

def _walk_captures() -> list[Path]:
    return [p for folder in (JA4_DIR, PCAPS) for p in sorted(folder.iterdir())
            if p.suffix in (".pcap", ".pcapng")]


@pytest.mark.parametrize("path", _walk_captures(), ids=lambda p: p.name)
def test_the_record_walker_cuts_the_messages_tlsref_cuts(path):
    """tls_next_message over a direction's bytes gives the handshake messages that
    tlsref's Python cuts (joined across records), then stops where the handshake records
    end; cut at every length, it gives the whole messages before the cut and "more"."""
    walked = 0
    for d in tlsref.directions(path):
        if not d.data.startswith(b"\x16\x03"):
            continue
        want, last_whole = tlsref.handshake_messages(d.data)
        got, end = msg_tls.handshakes(_exact(d.data))
        assert [m["data"] for m in got] == want, (path.name, d.key)
        assert all(m["full"] == 4 + int.from_bytes(m["data"][1:4], "big") for m in got)
        if last_whole and end.startswith("end:"):
            assert int(end[4:]) in (20, 21, 23)         # CCS, alert, application data
        elif not last_whole:
            assert end == "more"
        for cut in range(0, min(len(d.data), 3000), 7):
            part, end = msg_tls.handshakes(_exact(d.data[:cut]))
            assert end in ("more", "end:20", "end:21", "end:23"), (cut, end)
            for m, w in zip(part, want):
                assert w.startswith(m["data"])
                assert m["full"] == 4 + int.from_bytes(w[1:4], "big") or (
                    m["full"] == 0 and len(m["data"]) < 4)
        walked += 1
    assert walked or path.suffix == ".pcapng" or path.name.startswith(("ndpi", "nfstream",
                                                                        "zeek", "sv-"))


def test_a_small_buffer_keeps_a_message_prefix_and_walks_on():
    """cap smaller than a message: its first cap bytes, and the walk goes on after it."""
    (d,) = [d for d in tlsref.directions(JA4_DIR / "badcurveball.pcap") if d.sport == 443]
    whole, _ = msg_tls.handshakes(_exact(d.data))
    small, _ = msg_tls.handshakes(_exact(d.data), cap=100)
    assert [m["full"] for m in small] == [m["full"] for m in whole]
    assert [m["data"] for m in small] == [m["data"][:100] for m in whole]


def test_the_walker_steps_over_a_compatibility_ccs_when_told():
    """tls-handshake.pcapng's port 50159: the server answers with a HelloRetryRequest, the
    client sends TLS 1.3's compatibility ChangeCipherSpec, then its second ClientHello.
    The walk stops at the CCS unless told to step over it; then the second hello's JA4
    is FoxIO's JA4.2."""
    path = JA4_DIR / "tls-handshake.pcapng"
    entry, = [e for e in json.loads(path.with_name(path.name + ".json").read_text())
              if e["srcport"] == "50159"]
    client, server = [[d for d in tlsref.directions(path) if getattr(d, side) == 50159][0]
                      for side in ("sport", "dport")]
    (hrr, *_), _ = msg_tls.handshakes(_exact(server.data))
    assert msg_tls.parse_server_hello(_exact(hrr["data"]))["hello_retry"]
    msgs, end = msg_tls.handshakes(_exact(client.data))
    assert [m["type"] for m in msgs] == [1] and end == "end:20"
    msgs, end = msg_tls.handshakes(_exact(client.data), skip_ccs=1)
    assert [m["type"] for m in msgs] == [1, 1] and end == "more"   # the capture ends there
    ccs = msgs[0]["start"] + msgs[0]["full"]
    assert client.data[ccs:ccs + 6] == bytes.fromhex("140303000101")
    assert msgs[1]["start"] == ccs + 6 + 5
    assert msgs[1]["start"] + msgs[1]["full"] == len(client.data)
    for k, m in enumerate(msgs, 1):
        assert msg_tls.parse_client_hello(_exact(m["data"]))["ja4"] == entry[f"JA4.{k}"]
    for cut in range(len(client.data)):             # never past the bytes there are
        part, _ = msg_tls.handshakes(_exact(client.data[:cut]), skip_ccs=1)
        assert all(m["data"] == msgs[k]["data"][:len(m["data"])] for k, m in enumerate(part))


@needs_tshark
@pytest.mark.shared
@pytest.mark.skipif(not shared_available(), reason="needs ../shared/data")
@pytest.mark.parametrize("rel", ["peer-groundtruth/nfstream/skype.pcap",
                                 "peer-groundtruth/suricata-verify/tls__tls-glupteba/input.pcap"])
def test_sslv2_hellos_are_recognised(rel):
    """SSLv2-compatible ClientHellos (real ones): the walker says "sslv2", the parser
    reads their version and the TLS cipher suites among the 3-byte cipher specs, as
    tshark's tls.handshake.cipherspec lists them."""
    from conftest import SHARED_DATA
    path = SHARED_DATA / "pcaps" / rel
    rows = tlsref.tshark_fields(path, "tls.handshake.cipherspec",
                                ["tcp.srcport", "tls.handshake.version", "tls.handshake.cipherspec"])
    specs = {int(r[0]): (int(r[1], 16), [int(s, 16) for s in r[2].split("|")]) for r in rows}
    seen = 0
    for d in tlsref.directions(path):
        if d.sport not in specs or not d.data[:1] or not d.data[0] & 0x80:
            continue
        msgs, end = msg_tls.handshakes(_exact(d.data))
        assert end == "sslv2" and len(msgs) == 1
        got = msg_tls.parse_client_hello(_exact(msgs[0]["data"]))
        version, cipherspecs = specs[d.sport]
        assert got["rc"] == 0 and got["sslv2"] and got["version"] == version
        assert got["ciphers"] == [s for s in cipherspecs if s < 0x10000]
        assert got["ja3"] is None and got["ja4"] is None        # no extensions: no JA3/JA4
        seen += 1
    assert seen


# ---- the BER/DER reader room (ber.pxd), which Kerberos and LDAP reuse -----------------

def test_ber_headers_as_x690_writes_them():
    h = msg_tls.ber_header
    assert h(b"\x02\x01\x05") == (0, 0, 0, 2, 2, 1, 0)                  # INTEGER 5
    assert h(b"\x30\x81\x80" + bytes(128)) == (0, 0, 1, 16, 3, 128, 0)   # long form
    assert h(b"\x5f\x81\x00\x00") == (0, 1, 0, 128, 4, 0, 0)            # high tag number
    assert h(b"\xbf\xff\xff\xff\x7f\x00")[3] == 0x0fffffff             # 4 digits: 28 bits
    assert h(b"\xbf\x81\x80\x80\x80\x00\x00")[0] == -1                  # 5 digits: refused
    assert h(b"\x30\x80\x00\x00")[0] == -1                              # indefinite in DER
    assert h(b"\x30\x80\x00\x00", der=False)[::6] == (0, 1)             # ... allowed in BER
    assert h(b"\x04\x80", der=False)[0] == -1                           # primitive indefinite
    assert h(b"\x04\x85\x01\x00\x00\x00\x00")[0] == -1                  # 5 length octets
    assert h(b"\x04\x05abc")[0] == -1                                   # past its end
    assert h(b"\x04\x05abc", full=7)[:6] == (1, 0, 0, 4, 2, 5)          # past n: cut
    assert h(b"\x04", full=3)[0] == 1 and h(b"", full=3)[0] == 1        # header cut
    assert h(b"")[0] == -1


def test_ber_times_equal_python_calendar():
    import calendar
    from datetime import datetime, timedelta
    rng = random.Random(3)
    for _ in range(3000):
        t = datetime(1950, 1, 1) + timedelta(seconds=rng.randrange(0, 100 * 365 * 86400))
        utc = t.strftime("%y%m%d%H%M%S").encode() + b"Z"
        assert msg_tls.ber_time_seconds(b"\x17\x0d" + utc) == calendar.timegm(t.timetuple())
        g = datetime(1, 1, 1) + timedelta(seconds=rng.randrange(0, 9998 * 365 * 86400))
        frac, off = rng.choice([b"", b".5", b".123"]), rng.randrange(-720, 721, 30)
        zone = b"Z" if not off else f"{'+' if off > 0 else '-'}{abs(off) // 60:02d}{abs(off) % 60:02d}".encode()
        text = g.strftime("%Y%m%d%H%M%S").encode().rjust(14, b"0") + frac + zone
        want = (g - datetime(1970, 1, 1)) // timedelta(seconds=1) - off * 60
        assert msg_tls.ber_time_seconds(bytes([0x18, len(text)]) + text) == want, text
    for bad in (b"\x17\x0d991301000000Z", b"\x17\x0d9912010000", b"\x18\x0f2020010100000Q",
                b"\x17\x0d99120100000aZ", b"\x04\x0d991201000000Z"):
        assert msg_tls.ber_time_seconds(bad) is None, bad


def test_ber_oids_round_trip():
    rng = random.Random(5)
    for _ in range(2000):
        first = rng.randrange(3)
        arcs = [first, rng.randrange(40 if first < 2 else 2**20)] + \
               [rng.choice([rng.randrange(128), rng.randrange(2**63)]) for _ in range(rng.randrange(8))]
        dotted = ".".join(map(str, arcs))
        der = tls_names.oid_der(dotted)
        assert msg_tls.ber_oid_dotted(bytes([6, len(der)]) + der) == dotted
    assert msg_tls.ber_oid_dotted(b"\x06\x02\x2a\x86") is None          # unfinished arc
    assert msg_tls.ber_oid_dotted(b"\x06\x0b\x2a" + b"\xff" * 9 + b"\x7f") is None  # > 64 bits
    # an arc led by 0x80 (not DER, but BER) still may not pass 64 bits; 64 bits exactly do
    assert msg_tls.ber_oid_dotted(b"\x06\x0c\x2a\x80" + b"\xff" * 9 + b"\x7f") is None
    assert msg_tls.ber_oid_dotted(b"\x06\x0b\x2a\x81" + b"\xff" * 8 + b"\x7f") == \
        f"1.2.{2**64 - 1}"
