"""Coverage-guided fuzz target for the TLS message parsers (ext/app/tls.pxd, x509.pxd,
ber.pxd, ja.pxd through wirescore._core.msg_tls): `run.py --target msg_tls ...`.

One input:

    byte 0    bits0-2: what (0 ClientHello, 1 ServerHello, 2 Certificate message,
              3 X.509 DER, 4 the record walker, 5 SSLv2 ClientHello, 6-7 ClientHello);
              bit3: keep the message's own header (else its type byte and 24-bit length
              are set to match the body, so the parse goes past the header)
    bytes 1-2 the cut: the parser gets the first (cut % (len + 1)) bytes of the message,
              whose real length is len (a prefix, as a snap length makes it); the walker:
              its buffer size (cut % 4096 + 1) and, with bit 15, one ChangeCipherSpec
              stepped over
    then      the message (or, for the walker, one direction's bytes)

Checks, beyond "no memory error" (ASAN + UBSan + Cython bounds checks when run.py built
the core; every buffer is an exact-size numpy allocation, so a read past it is caught):
- results in range: rc 0 / 1 / negative; a TLS message cut short is never "whole";
- a prefix of a message that parses whole parses as a prefix (rc 1) and each field it
  gives equals the whole parse's (fields past the cut absent);
- fingerprints well formed: JA3 strings of decimal lists and their MD5; JA4 a_b_c with
  10 + 12 + 12 characters; the X.509 serial and fingerprint in Suricata's forms;
- the walker's messages hold at most its buffer's bytes and lie within the input.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(TESTS))

import numpy as np  # noqa: E402
from fuzz_core import check, entry  # noqa: E402  (loads the fuzz build first)
from fuzz_core import main as fuzz_core_main  # noqa: E402

from wirescore._core import msg_tls  # noqa: E402

PARSERS = {0: msg_tls.parse_client_hello, 1: msg_tls.parse_server_hello,
           2: msg_tls.parse_certificates, 3: msg_tls.parse_x509,
           5: msg_tls.parse_client_hello, 6: msg_tls.parse_client_hello,
           7: msg_tls.parse_client_hello}
TYPES = {0: 1, 1: 2, 2: 11, 6: 1, 7: 1}
SKIP = {"rc", "flags", "prefix", "first", "n_certs_seen", "chain_complete", "sslv2",
        "bad_extension", "hello_retry"}
JA3 = re.compile(r"\d+,(\d+(-\d+)*)?,(\d+(-\d+)*)?,(\d+(-\d+)*)?,(\d+(-\d+)*)?")
JA4 = re.compile(r"[tqd][0-9a-z]{2}[di]\d{4}[0-9A-Za-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}")
HEX_PAIRS = re.compile(r"[0-9A-F]{2}(:[0-9A-F]{2})*")


def _exact(b: bytes) -> np.ndarray:
    return np.frombuffer(bytearray(b), dtype=np.uint8) if b else np.zeros(0, np.uint8)


def _shape(what: int, keep_header: bool, body: bytes) -> bytes:
    """Give the message the header of its type (type byte, 24-bit length; SSLv2: the
    2-byte length with its top bit and msg_type 1), unless the input keeps its own."""
    if keep_header or len(body) < 4:
        return body
    if what in TYPES:
        return bytes([TYPES[what]]) + (len(body) - 4).to_bytes(3, "big") + body[4:]
    if what == 5 and len(body) < 0x8000:
        return bytes([0x80 | len(body) - 2 >> 8, (len(body) - 2) & 0xff, 1]) + body[3:]
    return body


def _check_fields(d: dict) -> None:
    if d.get("ja3") is not None:
        check(JA3.fullmatch(d["ja3"]) is not None, f"ja3 {d['ja3']!r}")
        check(re.fullmatch(r"[0-9a-f]{32}", d["ja3_hash"]) is not None, "ja3 md5")
    for key in ("ja4", "ja4_o"):
        if d.get(key) is not None:
            check(JA4.fullmatch(d[key]) is not None, f"{key} {d[key]!r}")
            check(d[key.replace("ja4", "ja4_r") if key == "ja4" else "ja4_ro"][:10] ==
                  d[key][:10], "raw and hashed a parts differ")
    if d.get("serial") is not None:
        check(HEX_PAIRS.fullmatch(d["serial"]) is not None, "serial form")
    if d.get("fingerprint") is not None:
        check(re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){19}", d["fingerprint"]) is not None,
              "fingerprint form")


def run_message(what: int, msg: bytes, cut: int) -> None:
    parse = PARSERS[what]
    whole = parse(_exact(msg))
    check(whole["rc"] in (0, 1, -1, -2), f"rc {whole['rc']}")
    check(whole["rc"] != 1 or what == 3, "a whole TLS message parsed as a prefix")
    _check_fields(whole)
    n = cut % (len(msg) + 1)
    part = parse(_exact(msg[:n]), len(msg))
    check(part["rc"] in (0, 1, -1, -2), f"prefix rc {part['rc']}")
    if what != 3 and n < len(msg):
        check(part["rc"] != 0, "a cut TLS message parsed whole")
    _check_fields(part)
    if whole["rc"] == 0 and n < len(msg) and what != 3:
        check(part["rc"] == 1, f"prefix of a whole message: rc {part['rc']}")
        for key, value in part.items():
            if key not in SKIP and not key.endswith("truncated") and value is not None \
                    and whole[key] is not None:
                check(value == whole[key], f"prefix field {key} differs")


def run_walk(data: bytes, cut: int) -> None:
    cap = cut % 4096 + 1
    msgs, end = msg_tls.handshakes(_exact(data), cap=cap, skip_ccs=cut >> 15)
    check(end in ("more", "error", "sslv2", "limit") or end.startswith("end:"), end)
    for m in msgs:
        check(len(m["data"]) <= cap and m["start"] < max(len(data), 1), "message bounds")
        check(m["full"] == 0 or len(m["data"]) <= m["full"], "copied more than the message")
        if m["data"] and m["data"][0] == 1 and m["full"] and len(m["data"]) == m["full"]:
            run_message(0, m["data"], cut)


def run_one(data: bytes) -> None:
    if len(data) < 3:
        return
    what, keep, cut = data[0] & 7, bool(data[0] & 8), int.from_bytes(data[1:3], "big")
    body = data[3:]
    if what == 4:
        run_walk(body, cut)
    else:
        run_message(what, _shape(what, keep, body), cut)


SEED_VECTORS = ("badcurveball.pcap", "tls-alpn-h2.pcap", "tls-non-ascii-alpn.pcapng",
                "tls12.pcap")      # of tests/data/ja4 (the larger ones add no new shapes)


def seeds() -> dict[str, bytes]:
    """Starting inputs: the handshake messages, certificates and directions of four JA4
    vector captures and the shipped fixtures (tests/tlsref.py cuts them out)."""
    import tlsref

    out: dict[str, bytes] = {}
    fixtures = sorted((TESTS / "data" / "pcaps").iterdir())
    captures = [TESTS / "data" / "ja4" / name for name in SEED_VECTORS] + \
        [p for p in fixtures if p.suffix in (".pcap", ".pcapng")]
    for path in captures:
        for k, d in enumerate(tlsref.directions(path)):
            if not d.data.startswith(b"\x16\x03"):
                continue
            out[f"walk-{path.stem}-{k}"] = bytes([4, 0x0f, 0xff]) + d.data[:8000]
            msgs, _ = tlsref.handshake_messages(d.data)
            for j, msg in enumerate(msgs):
                what = {1: 0, 2: 1, 11: 2}.get(msg[0])
                if what is None or len(msg) > 8000:
                    continue
                out[f"msg-{path.stem}-{k}-{j}"] = bytes([what | 8, 0x01, 0x00]) + msg
                if what == 2:
                    first = msg_tls.parse_certificates(_exact(msg))["first"]
                    if first and len(first) <= 8000:
                        out[f"x509-{path.stem}-{k}-{j}"] = bytes([3, 0x02, 0x00]) + first
    sslv2 = bytes.fromhex("802e0103010015000000100000050000040100800300800700c0"
                          "00000a000009") + bytes(16)
    out["sslv2-hello"] = bytes([5 | 8, 0x00, 0x20]) + sslv2
    return out


# ---- libFuzzer entry point ------------------------------------------------------------------

TestOneInput = entry(run_one)  # noqa: N816 (atheris' name)


if __name__ == "__main__":
    fuzz_core_main(sys.argv, TestOneInput)
