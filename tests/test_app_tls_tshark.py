"""TLS and SSH parity with tshark, the independent reference, on every shared capture
holding a TLS handshake record or an SSH banner (and the tests' fixtures).

wirescore's engine hands over its tls and ssh events (on_app: one per connection, the
client as src); tshark lists, per packet, the hellos, certificates and banners
(`tshark -T fields`). Per connection (client address and port, server address and port)
the first ClientHello gives sni (tls.handshake.extensions_server_name), ja3 / ja3 string
(tls.handshake.ja3 / ja3_full) and JA4 (tshark 4.0 has no field: tests/tlsref.py makes it
from tshark's lists, itself checked on FoxIO's vectors); the first ServerHello ja3s
(ja3s / ja3s_full); the first Certificate message the serial (x509af.serialNumber) and
the fingerprint (SHA-1 of tshark's tls.handshake.certificate bytes); the banners
ssh.protocol. Subject and issuer strings are compared with OpenSSL on the same
certificates by tests/test_msg_tls.py (tshark has no rendered DN). Every difference
falls in one of the classes below or the test fails naming the capture and connection:

- not-decoded: tshark did not decode the connection (a port its dissector does not take
  without heuristics; wirescore finds TLS and SSH by content): ours only.
- mid-stream: the connection starts with another protocol (STARTTLS, a proxy's CONNECT,
  SOCKS) or was captured after its start: tshark follows the upgrade; wirescore probes a
  direction's first bytes only (ext/app/README.md), so it has no event.
- cut: our event marks the field's message cut (TE_CLIENT_CUT, TE_CERT_CUT: the snap
  length, a lost segment, a capture that ends) or the direction ended at a gap it could
  not resynchronise at (counted app_layer.error.tls.gap): what lay past the cut is
  absent; tshark reassembles what it can or decodes a later retransmission.
- string-cut: a JA3 string longer than the event keeps (TLS_EV_JA3, 512 bytes: a
  client offering hundreds of cipher suites): the hash is equal, the string kept cut
  (TE_TEXT_CUT).
- sslv2: an SSLv2-compatible ClientHello (TE_SSLV2): tshark makes a JA3 of its version
  and cipher specs; JA3 and JA4 are defined on TLS ClientHellos (Salesforce's, FoxIO's)
  and Suricata writes none for it, nor do we.
- no-event: our engine wrote no event for the connection though tshark decoded one:
  the capture was refused (another link type).
- malformed-hello: the client's first message is a whole ClientHello whose vector
  lengths break RFC 5246 7.4.1.2 (tlsref.client_hello_defect names the bytes: a
  cipher_suites length that is 0, odd or past the message's end, an empty
  compression_methods, a stray byte where the extensions' length goes) and tshark put an
  expert message on it: tshark truncates the vector and reads on, making a JA3 of
  whatever bytes follow; the room trusts the lengths, refuses the hello (counted
  app_layer.error.tls.parser) and writes no event for it.
- client-cert: a Certificate message from the connection's TLS client (mutual TLS:
  the server sent a CertificateRequest). tshark lists it like the server's; the event
  carries the server's certificate (Suricata's tls fields), so it is counted, not
  compared, and not taken for the server side of a connection the other way round.
- open: NOT explained yet: connections whose client bytes start with a handshake
  record and for which our engine writes no tls event (OPEN, listed one by one so that
  any other such connection fails the test); none left.
"""
from __future__ import annotations

import hashlib
import tempfile
from collections import Counter

import pytest

import tlsref
from conftest import fixture_captures, need_shared, shared_available, shared_captures
from wirescore.config import Config
from wirescore.core_names import TLS_BITS
from wirescore.engine import Engine
from wirescore.errors import WirescoreError

#: (capture, (client, port, server, port)) without our tls event, not yet explained
OPEN: set[tuple[str, tuple]] = set()
needs_tshark = pytest.mark.skipif(not tlsref.TSHARK, reason="tshark not installed")
ADDR = ["ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport"]
HELLO = ADDR + ["tls.handshake.type", "tls.handshake.extensions_server_name",
                "tls.handshake.ja3_full", "tls.handshake.ja3", "tls.handshake.ja3s_full",
                "tls.handshake.ja3s", "tls.handshake.extensions_alpn_str"] + tlsref.JA4_FIELDS
CERT = ADDR + ["x509af.serialNumber", "tls.handshake.certificate"]
SSH = ADDR + ["ssh.protocol"]


def _key(r) -> tuple:
    return (r[0] or r[1], int(r[2].split("|")[0]), r[3] or r[4], int(r[5].split("|")[0]))


def _rev(k: tuple) -> tuple:
    return (k[2], k[3], k[0], k[1])


def theirs(path) -> dict[tuple, dict]:
    """{(client, cport, server, sport): the first value tshark shows of each field}."""
    out: dict[tuple, dict] = {}
    for r in tlsref.tshark_fields(path, "tls.handshake.type == 1 || tls.handshake.type == 2",
                                  HELLO):
        if not r[2]:
            continue                         # QUIC's TLS: not ours
        types = r[6].split("|")
        k = _key(r)
        if "1" in types:
            c = out.setdefault(k, {})
            c.setdefault("sni", r[7].split("|")[0] or None)
            c.setdefault("ja3", (r[9].split("|")[0], r[8].split("|")[0]))
            if types == ["1"]:
                c.setdefault("ja4", tlsref.ja4_from_fields(1, r[13:], r[12]))
        if "2" in types and r[11]:
            out.setdefault(_rev(k), {}).setdefault("ja3s", (r[11].split("|")[0],
                                                            r[10].split("|")[0]))
    clients = {k for k, c in out.items() if "ja3" in c}
    for r in tlsref.tshark_fields(path, "tls.handshake.type == 11", CERT):
        if r[2] and r[6] and r[7] and _key(r) in clients:
            out[_key(r)]["client_cert"] = True       # mutual TLS: the client's own
        elif r[2] and r[6] and r[7]:
            c = out.setdefault(_rev(_key(r)), {})
            c.setdefault("serial", r[6].split("|")[0].replace(":", "").upper())
            c.setdefault("fingerprint", hashlib.sha1(
                bytes.fromhex(r[7].split("|")[0].replace(":", ""))).hexdigest())
    for r in tlsref.tshark_fields(path, "ssh.protocol", SSH):
        if not r[2]:
            continue
        out.setdefault(_key(r), {}).setdefault("ssh_line", r[6].split("|")[0])
    return out


def ours(path) -> tuple[dict[tuple, dict], str | None]:
    """{(client, cport, server, sport): our tls / ssh event objects}, and the error
    that refused the capture, if any."""
    got: dict[tuple, dict] = {}

    def on_app(kind, recs, evs):
        if kind in ("tls", "ssh"):
            for rec, e in zip(recs, evs):
                got.setdefault((e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"]),
                               {})[kind] = (e[kind], int(rec["status"]))
        else:
            for e in evs:
                key = (e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"])
                for k in (key, _rev(key)):
                    got.setdefault(k, {}).setdefault("other", kind)
    error = None
    cfg = Config.load(overrides={"detect.enabled": False})
    with tempfile.TemporaryDirectory(prefix="ws-tls-parity-") as logs:
        try:
            Engine(cfg, log_dir=logs, on_app=on_app).run(str(path))
        except WirescoreError as exc:
            error = str(exc)
    return got, error


def _ssh_side(line: str) -> dict:
    parts = line.rstrip("\r\n").split("-", 2)
    return {"proto_version": parts[1], "software_version": parts[2].split(" ")[0]}


def compare(path, total: Counter, problems: list) -> None:
    them = theirs(path)
    if not them:
        return
    mine, error = ours(path)
    total["captures"] += 1
    dirs = tlsref.directions(path)
    starts = {d.key: d.data[:4] for d in dirs}
    defects = {d.key: tlsref.client_hello_defect(d.data) for d in dirs}
    flagged: set[tuple] = set()              # hellos tshark put an expert message on
    if any(defects.values()):
        flagged = {_key(r) for r in tlsref.tshark_fields(
            path, "tls.handshake.type == 1", ADDR + ["_ws.expert.message"]) if r[2] and r[6]}

    def missing(k, first: bytes) -> str | None:
        """The class of a connection without our event, or None (unexplained)."""
        if error:
            return "no-event"
        if "other" in mine.get(k, {}):
            # the client spoke another protocol first (an HTTP GET to an SSH server): the
            # flow is that protocol's, found by its first payload, and the other
            # direction is not parsed as SSH or TLS (Suricata flags such a flow as a
            # protocol mismatch between its directions)
            return "other-protocol"
        head = starts.get(k, b"")
        if not head.startswith(first) and not (first == b"\x16" and head[:1] == b"\x80"):
            return "mid-stream"
        if first == b"\x16" and defects.get(k) and k in flagged:
            return "malformed-hello"
        return None
    for k in set(mine) - set(them) - {_rev(x) for x in them}:
        total["not-decoded"] += 1
    for k, t in them.items():
        m = mine.get(k)
        if "ssh_line" in t:
            # the banner's direction: ours are keyed client first
            side = "client" if k in mine else "server"
            m = mine.get(k) or mine.get(_rev(k))
            if m is None or "ssh" not in m:
                why = missing(k, b"SSH-")
                if why is None:
                    problems.append(f"{path.name} {k}: no ssh event")
                else:
                    total[why] += 1
                continue
            ev, st = m["ssh"]
            want = _ssh_side(t["ssh_line"])
            if ev.get(side) == want:
                total["ssh-equal"] += 1
            elif st & 12:
                total["cut"] += 1
            else:
                problems.append(f"{path.name} {k}: ssh {ev} != {want}")
            continue
        if t.get("client_cert"):
            total["client-cert"] += 1
        if m is None or "tls" not in m:
            why = missing(k, b"\x16")
            if why is None and (path.name, k) in OPEN:
                total["open"] += 1
            elif why is None:
                problems.append(f"{path.name} {k}: no tls event")
            else:
                total[why] += 1
            continue
        ev, st = m["tls"]
        for field in ("sni", "ja3", "ja4", "ja3s", "serial", "fingerprint"):
            if field not in t or t[field] is None:
                continue
            want = t[field]
            if field == "ja3":
                got = (ev["ja3"]["hash"], ev["ja3"]["string"]) if "ja3" in ev else None
            elif field == "ja3s":
                got = (ev["ja3s"]["hash"], ev["ja3s"]["string"]) if "ja3s" in ev else None
            elif field in ("serial", "fingerprint"):
                got = ev.get(field, "").replace(":", "")
                got = got.upper() if field == "serial" else got
                got = got or None
            else:
                got = ev.get(field)
            if got == want:
                total[f"{field}-equal"] += 1
            elif (field == "ja3" and got and got[0] == want[0] and st & TLS_BITS["TE_TEXT_CUT"]
                  and want[1].startswith(got[1])):
                total["string-cut"] += 1
            elif got is None and st & (TLS_BITS["TE_CLIENT_CUT"] | TLS_BITS["TE_CERT_CUT"]):
                total["cut"] += 1
            elif got is None and field in ("ja3", "ja4") and st & TLS_BITS["TE_SSLV2"]:
                total["sslv2"] += 1
            else:
                problems.append(f"{path.name} {k}: {field} {got!r} != tshark {want!r} "
                                f"(status {st:#x})")


@needs_tshark
@pytest.mark.shared
@pytest.mark.skipif(not shared_available(), reason="needs ../shared/data")
def test_tls_and_ssh_events_equal_tshark_on_every_shared_capture():
    total: Counter = Counter()
    problems: list[str] = []
    for path in shared_captures() + fixture_captures():
        raw = path.read_bytes()
        if b"\x16\x03" not in raw and b"SSH-" not in raw:
            continue
        compare(path, total, problems)
    print("TLS/SSH parity with tshark:", dict(total))
    assert total["ja3-equal"] >= 100 and total["ssh-equal"] >= 5, dict(total)
    assert not problems, "unexplained differences from tshark:\n" + "\n".join(problems[:60])


@needs_tshark
@pytest.mark.shared
@pytest.mark.skipif(not shared_available(), reason="needs ../shared/data")
def test_malformed_hellos_and_client_certificates_are_classed():
    """The two classes on their captures: nDPI's tls_cipher_lens (four ClientHellos
    with a cipher_suites length of 0, 133 or 134, or 132 leaving compression_methods
    empty) and tls_invalid_reads (compression_methods empty, one stray byte) hold
    malformed hellos; anydesk's three mutual-TLS connections send a client certificate.
    Their good neighbours (the well-formed hello of tls_cipher_lens, anydesk's server
    sides) compare equal."""
    folder = need_shared() / "pcaps" / "peer-groundtruth" / "ndpi"
    total: Counter = Counter()
    problems: list[str] = []
    for name in ("tls_cipher_lens.pcap", "tls_invalid_reads.pcap", "anydesk.pcapng"):
        compare(folder / name, total, problems)
    assert not problems, problems
    assert total["malformed-hello"] == 5 and total["client-cert"] == 3, dict(total)
    assert total["open"] == 0 and total["ja3-equal"] == 4 and total["fingerprint-equal"] == 3, \
        dict(total)
