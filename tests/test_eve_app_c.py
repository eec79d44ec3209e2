"""EVE tls, ssh, http and fileinfo lines in C (wirescore._core.eveapp, what eve.json gets)
against the Python writers (outputs/eve_tls.py, eve_ssh.py, eve_http.py through json, the
references): byte for byte on the events of every shared capture, fixture and the public
evaluation mix, and on crafted and random records: every escape case, every status /
flag bit, lengths past their fields, Host headers with and without ports (IPv6 literals,
leading zeros, digits outside ASCII), certificate times from year 0 to the end of what
gmtime() takes, magic values, vlans, IPv6 and Community ID seeds.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

from conftest import FIXTURES, SHARED_DATA, fixture_captures, need_shared, shared_captures
from wirescore._core.appcore import (FILE_EVENT_DTYPE, HTTP_EVENT_DTYPE, SSH_EVENT_DTYPE,
                                     TLS_EVENT_DTYPE)
from wirescore._core.eveapp import format_fileinfo, format_http, format_ssh, format_tls
from wirescore.config import Config
from wirescore.core_names import HTTP_BITS, TLS_BITS
from wirescore.engine import Engine
from wirescore.errors import WirescoreError
from wirescore.msg_names import MAGIC_NAMES
from wirescore.outputs.app_events import C_LINE_WRITERS, line_writer
from wirescore.outputs.eve import _dumps
from wirescore.outputs.eve_http import FileEventFormatter, HttpEventFormatter
from wirescore.outputs.eve_ssh import SshEventFormatter
from wirescore.outputs.eve_tls import TlsEventFormatter

#: kind -> (C writer, Python formatter, dtype)
KINDS = {"tls": (format_tls, TlsEventFormatter, TLS_EVENT_DTYPE),
         "http": (format_http, HttpEventFormatter, HTTP_EVENT_DTYPE),
         "fileinfo": (format_fileinfo, FileEventFormatter, FILE_EVENT_DTYPE),
         "ssh": (format_ssh, SshEventFormatter, SSH_EVENT_DTYPE)}
TEXT = np.frombuffer(b'abc.-_:[]09"\\/\x00\x0a\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff\xb2',
                     np.uint8)
HEXCHARS = np.frombuffer(b"0123456789abcdef", np.uint8)


def cat(kind: str, parts) -> np.ndarray:
    """Records of kind joined (np.concatenate drops a dtype's trailing padding: put back)."""
    return np.concatenate(parts).astype(KINDS[kind][2])


def python_lines(kind: str, records: np.ndarray, seed: int = 0) -> bytes:
    return "".join(_dumps(e) + "\n"
                   for e in KINDS[kind][1](seed).events(records)).encode("ascii")


def assert_same(kind: str, records: np.ndarray, seed: int = 0) -> None:
    c, py = KINDS[kind][0](records, seed=seed), python_lines(kind, records, seed)
    if c != py:
        for n, (a, b) in enumerate(zip(c.split(b"\n"), py.split(b"\n"))):
            assert a == b, f"{kind} record {n}:\n C  {a[:2000]!r}\n Py {b[:2000]!r}"
    assert c == py


def app_records(path) -> dict[str, np.ndarray]:
    """The tls, ssh, http and fileinfo event records the engine hands over for a capture
    (what it read before a refusal included)."""
    got: dict[str, list] = {kind: [] for kind in KINDS}
    cfg = Config.load(overrides={"detect.enabled": False})
    with tempfile.TemporaryDirectory(prefix="ws-eveapp-") as logs:
        try:
            Engine(cfg, log_dir=logs,
                   on_app=lambda kind, recs, evs: got[kind].append(recs) if kind in got
                   else None).run(str(path))
        except WirescoreError:
            pass
    return {kind: cat(kind, v) if v else np.zeros(0, KINDS[kind][2])
            for kind, v in got.items()}


def test_c_writers_are_registered():
    for kind, (fn, _, _) in KINDS.items():
        assert line_writer(kind) is fn
        assert C_LINE_WRITERS[kind] == ("wirescore._core.eveapp", fn.__name__)


def test_c_lines_equal_python_lines_on_every_capture():
    """Every shared capture, fixture and the public evaluation mix: the C lines of their
    tls, ssh, http and fileinfo events are the Python writers', byte for byte (ssh:
    fewer captures hold it)."""
    need_shared()
    captures = shared_captures() + fixture_captures() + [SHARED_DATA / "eval" /
                                                         "mix-public.pcap"]
    seen = {kind: [0, 0] for kind in KINDS}         # captures with events, events
    differ = []
    for path in captures:
        for kind, recs in app_records(path).items():
            if not len(recs):
                continue
            seen[kind][0] += 1
            seen[kind][1] += len(recs)
            if KINDS[kind][0](recs) != python_lines(kind, recs):
                differ.append((kind, path.name))
    assert differ == []
    for kind, (caps, events) in seen.items():
        assert caps >= (2 if kind == "ssh" else 5) and events >= (5 if kind == "ssh"
                                                                    else 100), (kind, caps, events)


def test_eve_json_app_lines_are_the_python_writers(tmp_path):
    """The engine writes eve.json's tls, http and fileinfo lines in C: the on_app
    events through json, in order."""
    need_shared()
    evs: dict[str, list] = {kind: [] for kind in KINDS}
    lines: list[str] = []
    for k, path in enumerate((FIXTURES / "zeek-wikipedia.pcap",
                              SHARED_DATA / "pcaps/peer-groundtruth/ndpi/tls_cipher_lens.pcap")):
        Engine(Config.load(overrides={"detect.enabled": False}), log_dir=tmp_path / str(k),
               on_app=lambda kind, recs, e: evs[kind].extend(e) if kind in evs else None
               ).run(str(path))
        lines += (tmp_path / str(k) / "eve.json").read_text().splitlines()
    for kind in KINDS:
        assert [ln for ln in lines if f'"event_type":"{kind}"' in ln] == [
            _dumps(e) for e in evs[kind]]
    assert evs["http"] and evs["tls"]


def random_records(kind: str, n: int, rng) -> np.ndarray:
    """n records of kind, every byte random, then the fields the Python writer reads as
    ASCII made hex, text fields drawn from TEXT (escapes, UTF-8 and not), lengths
    anywhere in and past their fields."""
    dtype = KINDS[kind][2]
    raw = rng.integers(0, 256, (n, dtype.itemsize), dtype=np.uint8)
    recs = raw.view(dtype).reshape(n).copy()
    recs["ip_version"] = rng.choice([4, 6], n)
    recs["proto"] = rng.choice([6, 17], n)
    recs["ts_us"] = rng.integers(0, 4_000_000_000_000_000, n)
    recs["nvlan"] = rng.integers(0, 4, n)
    if kind == "tls":
        for f in ("ja3_md5", "ja3s_md5", "ja4"):
            recs[f] = HEXCHARS[rng.integers(0, 16, recs[f].shape)]
        for f in ("sni", "ja3", "ja3s", "subject", "issuer", "calpn", "salpn"):
            recs[f] = TEXT[rng.integers(0, len(TEXT), recs[f].shape)]
            cap = recs[f].shape[1]
            recs[f + "_len"] = rng.integers(0, min(cap + 40, 255 if f in ("calpn", "salpn")
                                                   else 65535), n)
        recs["calpn"][:, ::7] = rng.integers(0, 12, recs["calpn"][:, ::7].shape)
        recs["serial_len"] = rng.integers(0, 256, n)
        recs["status"] = rng.integers(0, 1 << 19, n)
        recs["n_calpn"] = rng.integers(0, 3, n)
        recs["version"] = rng.choice([0x0002, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304,
                                      0xfefd, 0x7f1c, 0], n)
        for f in ("not_before", "not_after"):
            recs[f] = np.where(rng.random(n) < 0.7,
                               rng.integers(-62167219200, 253402300800, n),
                               rng.integers(-2**63, 2**63 - 1, n, dtype=np.int64))
    elif kind == "ssh":
        for f in ("proto_version", "software"):
            recs[f] = TEXT[rng.integers(0, len(TEXT), recs[f].shape)]
        recs["proto_len"] = rng.integers(0, 24, recs["proto_len"].shape)
        recs["soft_len"] = rng.integers(0, 140, recs["soft_len"].shape)
        recs["status"] = rng.integers(0, 16, n)
    elif kind == "http":
        recs["text"] = TEXT[rng.integers(0, len(TEXT), recs["text"].shape)]
        recs["field_len"] = rng.integers(0, 300, recs["field_len"].shape) * (
            rng.random(recs["field_len"].shape) < 0.7)
        recs["field_off"] = rng.integers(0, 1600, recs["field_off"].shape)
        recs["flags"] = rng.integers(0, 32, n)
        recs["content_length"] = rng.integers(-2**63, 2**63 - 1, n, dtype=np.int64)
    else:
        for f in ("fname", "ctype"):
            recs[f] = TEXT[rng.integers(0, len(TEXT), recs[f].shape)]
            recs[f + "_len"] = rng.integers(0, recs[f].shape[1] + 20, n)
        recs["magic"] = rng.integers(0, len(MAGIC_NAMES), n)
        recs["flags"] = rng.integers(0, 64, n)
        recs["size"] = rng.integers(-2**63, 2**63 - 1, n, dtype=np.int64)
    return recs


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_random_records(kind):
    recs = random_records(kind, 3000, np.random.default_rng(2026))
    for seed in (0, 65535):
        assert_same(kind, recs, seed)


def tls_record(**fields) -> np.ndarray:
    r = np.zeros(1, TLS_EVENT_DTYPE)
    r["ip_version"], r["proto"] = 4, 6
    r["src_addr"][0, :4], r["dest_addr"][0, :4] = (10, 0, 0, 1), (192, 168, 200, 5)
    r["src_port"], r["dest_port"], r["flow_id"], r["ts_us"] = 40000, 443, 7, 1_700_000_000_1
    r["version"] = 0x0303
    for name, value in fields.items():
        if isinstance(value, bytes):
            r[name][0, :len(value)] = np.frombuffer(value, np.uint8)
            if name + "_len" in r.dtype.names:
                r[name + "_len"] = len(value)
        else:
            r[name] = value
    return r


def test_tls_fields_times_and_alpns():
    every = sum(TLS_BITS.values())
    times = [0, -1, 86399, 86400, -62135596800, -62135596801, -62167219200,
             253402300799, 253402300800, 2**40, -2**40, 951782400, 951868800, 4107542400,
             67767976233532799, 67767976233532800, -67768040609740800,
             -67768040609740801, 2**63 - 1, -2**63]
    recs = [tls_record(status=every, not_before=t, not_after=-t if t > -2**63 else 0)
            for t in times]
    recs += [tls_record(status=every, calpn=c, n_calpn=1, salpn=b"h2")
             for c in (b"\x02h2\x08http/1.1", b"\x00\x00", b"\x05ab", b"\x02h2\x09http")]
    recs += [tls_record(status=s, serial=b"\x00\xab\xff", sha1=bytes(range(20)),
                        sni="b\u00fccher.example".encode(), subject=b"CN=\xff\x00\"x",
                        ja3=b"771,4865-4866,0", ja3_md5=b"0123456789abcdef" * 2,
                        ja4=b"t13d1516h2_8daaf6152771_b186095e22b6")
             for s in [0] + list(TLS_BITS.values())]
    recs += [tls_record(version=v) for v in (0x0002, 0x0300, 0x0301, 0x0302, 0x0304, 0xfefc,
                                             0xfefd, 0xfeff, 0x0305, 0)]
    assert_same("tls", cat("tls", recs))


def http_record(fields: dict, **extra) -> np.ndarray:
    """A request (fields by eve_http.FIELDS name, packed in order into text)."""
    from wirescore.outputs.eve_http import FIELDS

    r = np.zeros(1, HTTP_EVENT_DTYPE)
    r["ip_version"], r["proto"] = 4, 6
    r["src_addr"][0, :4], r["dest_addr"][0, :4] = (10, 0, 0, 1), (192, 168, 200, 5)
    r["src_port"], r["dest_port"], r["flow_id"], r["ts_us"] = 40000, 80, 9, 1_700_000_000_1
    off = 0
    for k, name in enumerate(FIELDS):
        value = fields.get(name, b"")
        r["text"][0, off:off + len(value)] = np.frombuffer(value, np.uint8)
        r["field_off"][0, k], r["field_len"][0, k] = off, len(value)
        off += len(value)
    for name, value in extra.items():
        r[name] = value
    return r


HOSTS = [b"example.com", b"example.com:8080", b"example.com:0080", b"example.com:000",
         b"example.com:", b":80", b"::80", b"a:b:80", b"[::1]:80", b"[::1]", b"[::1]]:1",
         b"[[x]]", b"x]:5", b"[x", b"h:8a", "h:\u00b2".encode(), "h:\u0663".encode(),
         b"\xff:80", b"\xc3:80", "\u00e9t\u00e9.fr:443".encode(), b"h:" + b"9" * 40,
         b"h\x00:1", b"]:]:7"]


@pytest.mark.parametrize("host", HOSTS, ids=range(len(HOSTS)))
def test_http_hosts(host):
    fields = dict(method=b"GET", uri=b"/a b\xff", host=host, user_agent=b"curl/8",
                  referer=b"http://x/", content_type=b"text/html")
    recs = [http_record(fields), http_record(fields, flags=HTTP_BITS["HE_HTTP10"]),
            http_record(dict(host=host, location=b"/next", content_type=b"a/b"),
                        flags=sum(HTTP_BITS[b] for b in ("HE_RESPONSE", "HE_LENGTH")),
                        status=302, content_length=-5)]
    assert_same("http", cat("http", recs))


def test_http_requests_without_method_or_uri_and_responses_without_status():
    recs = [http_record({}), http_record({}, flags=HTTP_BITS["HE_RESPONSE"]),
            http_record(dict(reason=b"OK"), flags=HTTP_BITS["HE_RESPONSE"], status=200),
            http_record(dict(method=b"GET"), field_off=[1600] * 8)]
    assert_same("http", cat("http", recs))


def test_fileinfo_every_magic_and_flag():
    recs = np.zeros(len(MAGIC_NAMES) * 8, FILE_EVENT_DTYPE)
    recs["ip_version"], recs["proto"], recs["ts_us"] = 6, 6, 1_700_000_000_000_000
    recs["magic"] = np.repeat(np.arange(len(MAGIC_NAMES)), 8)
    recs["flags"] = np.tile(np.arange(8), len(MAGIC_NAMES))
    recs["fname"][:, :5] = np.frombuffer(b"a.exe", np.uint8)
    recs["fname_len"] = 5
    recs["ctype_len"] = np.arange(len(recs)) % 3
    recs["size"] = np.arange(len(recs)) * 1000
    assert_same("fileinfo", recs)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_into_a_file_and_refusals(kind, tmp_path):
    fn, _, dtype = KINDS[kind]
    recs = random_records(kind, 500, np.random.default_rng(7))
    path = tmp_path / "out.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        assert fn(recs, fd=fd) == len(python_lines(kind, recs))
    finally:
        os.close(fd)
    assert path.read_bytes() == python_lines(kind, recs)
    assert fn(np.zeros(0, dtype)) == b""
    with pytest.raises(ValueError):
        fn(np.zeros(2, np.uint8))
    with pytest.raises(ValueError):
        fn(np.zeros(4, dtype)[::2])
    with pytest.raises(ValueError):
        fn(np.zeros(1, dtype), seed=65536)


def test_every_event_struct_begins_with_the_event_head():
    """ev_head() / ev_ident() write events.pxd EvHead's fields through any kind's record:
    every event dtype (derived from its C struct) has them at EvHead's offsets and types,
    and the EVE writers' shared head (eve_head.HEAD_FIELDS) reads only those."""
    from wirescore._core.appcore import EVENT_DTYPES, EVENT_HEAD_DTYPE
    from wirescore.outputs.eve_head import HEAD_FIELDS

    assert EVENT_HEAD_DTYPE.names == ("flow_id", "ts_us", "src_addr", "dest_addr", "src_port",
                                      "dest_port", "vlan0", "vlan1", "nvlan", "ip_version",
                                      "proto", "direction")
    assert EVENT_HEAD_DTYPE.fields["direction"][1] == 59      # 60 bytes of fields
    for dtype in EVENT_DTYPES:
        for name in EVENT_HEAD_DTYPE.names:
            assert dtype.fields[name] == EVENT_HEAD_DTYPE.fields[name], (dtype, name)
    assert set(HEAD_FIELDS) <= set(EVENT_HEAD_DTYPE.names)
