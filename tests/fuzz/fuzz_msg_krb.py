"""Coverage-guided fuzz target for the Kerberos, LDAP, SSH, BER and first-bytes parsers
(ext/app/krb5.pxd, ldap.pxd, ssh.pxd, ber.pxd, bytes.pxd through wirescore._core.msg_*):
`run.py --target msg_krb ...`.

One input:

    byte 0    bits0-2: what (0 Kerberos message, 1 Kerberos over TCP: record mark then
              message, 2 LDAPMessage, 3 one LDAP direction walked (messages and SASL
              buffers), 4 SSH banner then the packet after it, 5 SSH binary packet,
              6 first-bytes statistics, 7 BER element and its children); bit3: DER
              for 7
    bytes 1-2 the cut: the parser also gets the first (cut % (len + 1)) bytes of the
              message, whose real length it is told (a prefix, as a snap length makes it)
    then      the message

Checks, beyond "no memory error" (ASAN + UBSan + Cython bounds checks when run.py built
the core; every buffer is an exact-size numpy copy, so a read past it is caught):
- outcomes in range (0 whole, 1 prefix, negative malformed / not this protocol);
- a prefix of a message that parses whole parses as a prefix (1) or, when the message
  ended before the cut, whole; every field it gives equals the whole parse's, and a
  field flagged cut is a prefix of the whole one (strings; lists joined);
- strings within their arrays (the copied text never longer than the stated length);
  first-bytes entropy in [0, 8] bits and printable share in [0, 1].
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(TESTS))

import numpy as np  # noqa: E402
from fuzz_core import check, entry  # noqa: E402  (loads the fuzz build first)
from fuzz_core import main as fuzz_core_main  # noqa: E402

from wirescore._core import msg_ber, msg_bytes, msg_krb5, msg_ldap, msg_ssh  # noqa: E402

# keys that are not fields of the message (status, flags, counts of what was kept)
META = {"status", "prefix", "cut", "capped", "pa_enc_timestamp", "weak", "ticket_weak",
        "filter_deep", "no_cr", "pre_lines", "skipped", "line_end", "hassh", "hassh_server",
        "first_kex_follows", "list_len"}
FSTR_CAP = 127                                 # bytes an FStr holds (fstr.pxd, NUL aside)


def _exact(buf: bytes) -> np.ndarray:
    """A copy in a buffer of exactly len(buf) bytes (fuzz_core._exact)."""
    return np.frombuffer(buf, dtype=np.uint8).copy()


def _text(value):
    return ",".join(map(str, value)) if isinstance(value, list) else value


def _compare(whole: dict, part: dict, what: str) -> None:
    """A prefix's fields against the whole message's (module docstring)."""
    cut = set(part.get("cut", ()))
    for key, value in part.items():
        if key in META or key.endswith("_len") or key.startswith("n_"):
            continue
        check(key in whole, f"{what}: prefix has {key}, the whole message not")
        if key in cut:
            check(isinstance(value, (str, list)), f"{what}: {key} cut but not text")
            # the text is decoded with "replace": a UTF-8 sequence the cut split ends
            # the prefix's text in U+FFFD where the whole one has the character
            check(str(_text(whole[key])).startswith(str(_text(value)).rstrip("\ufffd")),
                  f"{what}: cut {key} is no prefix of the whole one")
        else:
            check(value == whole[key], f"{what}: {key} differs from the whole parse")


def _strings(d: dict, what: str) -> None:
    """Strings within their arrays (decoded text has at most as many characters as the
    bytes copied); a capped or cut string's stated length at least what was copied."""
    for key, value in d.items():
        if isinstance(value, str) and "hassh" not in key:
            check(len(value) <= FSTR_CAP, f"{what}: {key} beyond its array")
            if key + "_len" in d and "\ufffd" not in value:
                check(len(value.encode()) <= d[key + "_len"], f"{what}: {key} over its length")


def _message(parse, msg: bytes, cut: int, what: str) -> dict:
    """Parse msg whole and its prefix; check both (module docstring)."""
    whole = parse(_exact(msg))
    check(whole["status"] in (0, 1, -1, -2), f"{what}: status {whole['status']}")
    _strings(whole, what)
    n = cut % (len(msg) + 1)
    part = parse(_exact(msg[:n]), full=len(msg))
    check(part["status"] in (0, 1, -1, -2), f"{what}: prefix status {part['status']}")
    _strings(part, what)
    if whole["status"] == 0 and n < len(msg):
        check(part["status"] in (0, 1), f"{what}: prefix of a whole message: "
                                        f"{part['status']}")
        _compare(whole, part, what)
    return whole


def run_krb5(msg: bytes, cut: int, tcp: bool) -> None:
    if tcp:
        status, length = msg_krb5.tcp_frame(_exact(msg))
        check(status in (0, 1, -1), "tcp_frame status")
        if status != 0:
            return
        msg = msg[4:4 + length]
    msg_krb5.probe(_exact(msg))
    _message(msg_krb5.parse_krb5, msg, cut, "krb5")


def run_ldap_walk(data: bytes, cut: int) -> None:
    at, steps = 0, 0
    while at < len(data) and steps < 64:
        steps += 1
        rest = data[at:]
        kind = msg_ldap.probe(_exact(rest))
        check(kind in (-1, 0, 1, 2), f"ldap probe {kind}")
        if kind == 2:
            s = msg_ldap.parse_sasl(_exact(rest))
            check(s["status"] in (0, 1, -2), f"sasl status {s['status']}")
            if s["status"] != 0:
                return
            check(s["inner"] <= 4 + s["length"], "sasl inner offset past the buffer")
            if s["sealed"] == "clear":
                _message(msg_ldap.parse_ldap, rest[s["inner"]:4 + s["length"]], cut, "ldap")
            at += 4 + s["length"]
            continue
        status, length = msg_ldap.frame(_exact(rest))
        if kind != 1 or status != 0:
            return
        check(length > 0, "ldap frame of no bytes")
        _message(msg_ldap.parse_ldap, rest[:length], cut, "ldap")
        at += length


def run_ssh(data: bytes, cut: int, banner: bool) -> None:
    if banner:
        b = _message(msg_ssh.parse_banner, data, cut, "ssh banner")
        msg_ssh.probe(_exact(data))
        if b["status"] != 0:
            return
        check(0 < b["line_end"] <= len(data), "banner line_end out of the bytes")
        data = data[b["line_end"]:]
    status, length = msg_ssh.packet_frame(_exact(data))
    check(status in (0, 1, -1), "packet_frame status")
    if status == 0:
        k = _message(msg_ssh.parse_kex, data[:length], cut, "ssh kex")
        if "hassh" in k:
            check(len(k["hassh"]) == 32 and len(k["hassh_server"]) == 32, "hassh form")


def run_bytes(data: bytes, cut: int) -> None:
    for n in (len(data), cut % (len(data) + 1)):
        s = msg_bytes.parse_bytes(_exact(data[:n]), full=len(data))
        check(0.0 <= s["entropy"] <= 8.0 + 1e-4, f"entropy {s['entropy']}")
        check(0.0 <= s["printable"] <= 1.0, f"printable {s['printable']}")
        check(s["n"] == n and s["prefix"] == (n < len(data)), "bytes examined")


def run_ber(data: bytes, der: bool) -> None:
    t = msg_ber.read(_exact(data), der=der)
    check(t["status"] in (0, 1, -1), "ber status")
    if t["status"] == 0:
        check(t["off"] <= t["end"] <= len(data), "element past its limit")
    kids, status = msg_ber.children(_exact(data), der=der)
    check(status in (1, 2, -1), f"children status {status}")
    for k in kids:
        check(k["start"] < len(data), "child start past the bytes")
    msg_ber.integer(_exact(data))
    msg_ber.gentime(_exact(data))


def run_one(data: bytes) -> None:
    if len(data) < 3:
        return
    what, flag, cut = data[0] & 7, bool(data[0] & 8), int.from_bytes(data[1:3], "big")
    body = data[3:]
    if what <= 1:
        run_krb5(body, cut, what == 1)
    elif what == 2:
        _message(msg_ldap.parse_ldap, body, cut, "ldap")
    elif what == 3:
        run_ldap_walk(body, cut)
    elif what <= 5:
        run_ssh(body, cut, what == 4)
    elif what == 6:
        run_bytes(body, cut)
    else:
        run_ber(body, flag)


def seeds() -> dict[str, bytes]:
    """Starting inputs: real messages from the shared captures (as the tests extract
    them), each under its parser, cut at a few places."""
    from conftest import shared_available  # noqa: PLC0415 (tests/ on sys.path above)

    out: dict[str, bytes] = {}
    if not shared_available():
        return out
    import test_msg_krb5  # noqa: PLC0415
    import test_msg_ldap  # noqa: PLC0415
    import test_msg_ssh  # noqa: PLC0415
    from msgref import follow  # noqa: PLC0415

    for rel in test_msg_krb5.CAPTURES:
        for num, msg, _tree in test_msg_krb5._messages(rel)[:6]:
            name = f"krb5-{Path(rel).stem}-{num}"
            out[name] = bytes([0, 0, 40]) + msg[:8000]
            out[name + "-tcp"] = bytes([1, 1, 7]) + len(msg).to_bytes(4, "big") + msg[:8000]
            out[name + "-ber"] = bytes([7 | 8, 0, 0]) + msg[:8000]
    for rel in test_msg_ldap.CAPTURES[:2]:
        pcap = Path(test_msg_ldap.need_shared()) / "pcaps" / rel
        _, c2s, s2c = follow(pcap, 0)
        out[f"ldap-{Path(rel).stem}-c2s"] = bytes([3, 0, 90]) + c2s[:8000]
        out[f"ldap-{Path(rel).stem}-s2c"] = bytes([3, 1, 3]) + s2c[:8000]
        out[f"ldap-{Path(rel).stem}-msg"] = bytes([2, 0, 60]) + c2s[:msg_ldap.frame(c2s)[1]]
    for rel in test_msg_ssh.CAPTURES[:3]:
        for stream, is_client, data, _exp in list(test_msg_ssh._sessions(rel))[:2]:
            out[f"ssh-{Path(rel).stem}-{stream}-{int(is_client)}"] = bytes([4, 2, 0]) + data[:3000]
    out["bytes-mz"] = bytes([6, 0, 70]) + b"MZ" + bytes(0x3A) + b"\x80\0\0\0" + bytes(0x40) + \
        b"PE\0\0"
    out["bytes-ps"] = bytes([6, 0, 30]) + b"Invoke-Expression (New-Object Net.WebClient)"
    return out


TestOneInput = entry(run_one)  # noqa: N816 (atheris' name)


if __name__ == "__main__":
    fuzz_core_main(sys.argv, TestOneInput)
