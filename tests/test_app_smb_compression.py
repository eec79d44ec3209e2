"""SMB 3.1.1 compression transform headers ([MS-SMB2] 2.2.42) in the SMB room
(ext/app/smbroom.pxd smb_compressed), the smb.comp observation (appkeys.py) and the
SMBGhost profile (rules/app-smb-compression.yaml, 9100235).

The labeled SMBGhost capture (CVE-2020-0796, loopback) sends one compressed message
whose OriginalCompressedSegmentSize is 0xffffffff and Offset 16, on a connection whose
NEGOTIATE response carried no SMB2_COMPRESSION_CAPABILITIES (the client offered LZ77 and
LZ77+Huffman, the server agreed on none): three violations, one alert. The room's other
cases are the capture's real units with one field changed (the NEGOTIATE left out, a
well-formed size), or a NEGOTIATE response built to [MS-SMB2] 2.2.4 agreeing on LZNT1
alone. No shared capture holds a benign compressed SMB3 exchange (every shared capture
with SMB: the golden file's smb events; tshark finds no other compression transform
header in them), so the benign side is every other shared capture with SMB: no
compressed message, no observation, no alert.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import need_shared
from test_app_firstseen import app_records, app_rules
from test_app_smb import SMBGHOST, connections, counter, feed
from wirescore._core.appcore import AppDriver
from wirescore.appkeys import EXTRACTORS
from wirescore.config import Config
from wirescore.core_names import SMB_BITS, SMB_COMP_VIOLATIONS
from wirescore.detect import Detector
from wirescore.engine import Engine
from wirescore.outputs.app_events import line_writer

PROFILE = 9100235
BAD = {name: bit for name, bit, _ in SMB_COMP_VIOLATIONS}
#: every shared capture the SMB room reads (tests/golden/shared.json: smb events), but
#: the SMBGhost one; none sends a compression transform header
BENIGN = ["labeled/netml-cicids2017-demo/demo.pcap",
          "labeled/windows-ad-attacks/CredAccess__DCSync_krbtgt_dcerpc_smb.pcapng",
          "labeled/windows-ad-attacks/LateralMovement__LM_WMI_ProcessCallCreate.pcapng",
          "labeled/windows-ad-attacks/LateralMovement__LM_psexec_smb_dcerpc_epm_svcctl"
          ".pcapng",
          "peer-groundtruth/ndpi/smb_frags.pcap",
          "peer-groundtruth/nfstream/kerberos.pcap",
          "peer-groundtruth/nfstream/smb_deletefile.pcap",
          "peer-groundtruth/nfstream/smbv1.pcap"]
COMPRESSED = [f"wirescore.smb_compressed{tail}" for tail in
              ("", "_not_negotiated", "_algorithm_not_negotiated", "_size_overflow",
               "_size_too_big", "_offset_past_end", "_unknown_algorithm",
               "_unknown_flags", "_chain_past_end")]


@pytest.fixture(scope="module")
def ghost():
    conns = [units for port, units in connections(SMBGHOST) if port == 445]
    assert len(conns) == 1
    return conns[0]


def compressed_at(units) -> int:
    return next(k for k, (_, u, _) in enumerate(units) if u[4:8] == b"\xfcSMB")


def comp_records(drv, every=None) -> np.ndarray:
    """The SB_COMPRESSED records among the driver's smb events (drained: every, when
    given, gets them all)."""
    recs = drv.events()["smb"]
    if every is not None:
        every.append(recs)
    return recs[(recs["flags"] & SMB_BITS["SB_COMPRESSED"]) != 0]


def test_smbghost_header_breaks_three_rules(ghost):
    drv = AppDriver(port=445)
    feed(drv, ghost)
    every = []
    (rec,) = comp_records(drv, every)
    assert (int(rec["comp_size"]), int(rec["comp_offset"]), int(rec["comp_alg"])) == \
        (0xFFFFFFFF, 16, 2)                                  # LZ77
    assert rec["comp_bad"] == BAD["SC_OVERFLOW"] | BAD["SC_TOO_BIG"] | BAD["SC_UNNEGOTIATED"]
    assert rec["direction"] == 0 and rec["dest_port"] == 445
    assert counter(drv, "wirescore.smb_compressed") == 1
    for name in ("not_negotiated", "size_overflow", "size_too_big"):
        assert counter(drv, f"wirescore.smb_compressed_{name}") == 1
    for name in ("algorithm_not_negotiated", "offset_past_end", "unknown_algorithm",
                 "unknown_flags", "chain_past_end"):
        assert counter(drv, f"wirescore.smb_compressed_{name}") == 0
    # no EVE smb line for it: the connection's other responses only
    lines = line_writer("smb")(every[0]).splitlines()
    assert len(every[0]) > 1 and len(lines) == len(every[0]) - 1
    assert b"compress" not in b"".join(lines).lower()


def test_negotiate_not_seen_judges_the_header_alone(ghost):
    k = compressed_at(ghost)
    units = [u for u in ghost[:k] if u[1][4:8] != b"\xfeSMB"
             or u[1][16:18] != b"\x00\x00"] + ghost[k:]   # every NEGOTIATE left out
    drv = AppDriver(port=445)
    feed(drv, units)
    (rec,) = comp_records(drv)
    assert rec["comp_bad"] == BAD["SC_OVERFLOW"] | BAD["SC_TOO_BIG"]


def with_size(unit: bytes, size: int) -> bytes:
    return unit[:8] + size.to_bytes(4, "little") + unit[12:]


def test_well_formed_header_after_a_negotiate_without_compression(ghost):
    k = compressed_at(ghost)
    d, unit, whole = ghost[k]
    drv = AppDriver(port=445)
    feed(drv, ghost[:k] + [(d, with_size(unit, 4096), whole)])
    (rec,) = comp_records(drv)
    assert rec["comp_bad"] == BAD["SC_UNNEGOTIATED"]


def test_well_formed_header_without_negotiate_writes_nothing(ghost):
    k = compressed_at(ghost)
    d, unit, whole = ghost[k]
    drv = AppDriver(port=445)
    feed(drv, [(d, with_size(unit, 4096), whole)])
    assert len(comp_records(drv)) == 0
    assert counter(drv, "wirescore.smb_compressed") == 1
    assert sum(counter(drv, n) for n in COMPRESSED[1:]) == 0


def negotiate_response(alg: int) -> bytes:
    """An SMB2 NEGOTIATE response ([MS-SMB2] 2.2.4) choosing 3.1.1, with one
    SMB2_COMPRESSION_CAPABILITIES context (2.2.3.1.3) listing alg alone."""
    hdr = (b"\xfeSMB" + (64).to_bytes(2, "little") + bytes(6) + bytes(2)
           + (1).to_bytes(2, "little") + (1).to_bytes(4, "little") + bytes(4)
           + bytes(8) + bytes(4) + bytes(4) + bytes(8) + bytes(16))
    body = ((65).to_bytes(2, "little") + (1).to_bytes(2, "little")
            + (0x0311).to_bytes(2, "little") + (1).to_bytes(2, "little") + bytes(16)
            + bytes(4) + (1 << 20).to_bytes(4, "little") * 3 + bytes(16)
            + (128).to_bytes(2, "little") + bytes(2) + (128).to_bytes(4, "little"))
    ctx = ((3).to_bytes(2, "little") + (10).to_bytes(2, "little") + bytes(4)
           + (1).to_bytes(2, "little") + bytes(2) + bytes(4) + alg.to_bytes(2, "little"))
    msg = hdr + body + ctx
    assert len(hdr) == 64 and len(hdr + body) == 128
    return len(msg).to_bytes(4, "big") + msg


@pytest.mark.parametrize("agreed, bad", [(2, 0), (1, BAD["SC_ALG_UNNEGOTIATED"])])
def test_algorithm_against_the_negotiate(ghost, agreed, bad):
    """The header's LZ77 (2) after a NEGOTIATE agreeing on LZ77: nothing to say; on
    LZNT1 (1) alone: its algorithm was not negotiated."""
    k = compressed_at(ghost)
    d, unit, whole = ghost[k]
    drv = AppDriver(port=445)
    feed(drv, [ghost[0], (1, negotiate_response(agreed), True),
               (d, with_size(unit, 4096), whole)])
    got = comp_records(drv)
    assert [int(r["comp_bad"]) for r in got] == ([bad] if bad else [])
    assert counter(drv, "wirescore.smb_compressed_algorithm_not_negotiated") == int(bool(bad))


def test_smbghost_capture_alerts_naming_the_header(tmp_path):
    pcap = need_shared() / "pcaps" / SMBGHOST
    logdir = tmp_path / "run"
    summary = Engine(Config.load(), logdir, profiles=app_rules(tmp_path)).run(str(pcap))
    events = [json.loads(line) for line in (logdir / "eve.json").read_text().splitlines()]
    alerts = [e for e in events if e["event_type"] == "alert"
              and e["alert"]["signature_id"] == PROFILE]
    assert len(alerts) == 1
    a = alerts[0]
    assert (a["src_ip"], a["dest_ip"], a["dest_port"]) == ("127.0.0.1", "127.0.0.1", 445)
    assert a["alert"]["metadata"]["wirescore_firstseen"][0] == (
        f"SMB compression header with OriginalCompressedSegmentSize 0xffffffff + offset "
        f"16 from 127.0.0.1:{a['src_port']} to 127.0.0.1:445; OriginalCompressedSegmentSize"
        " + Offset wraps 32 bits; the original message would be larger than a Direct TCP "
        "frame carries (0xffffff bytes); compression was not negotiated")
    assert (logdir / a["capture_file"]).is_file()
    got = {name: summary.counters[name] for name in COMPRESSED}
    assert got == dict.fromkeys(COMPRESSED, 0) | {
        "wirescore.smb_compressed": 1, "wirescore.smb_compressed_not_negotiated": 1,
        "wirescore.smb_compressed_size_overflow": 1,
        "wirescore.smb_compressed_size_too_big": 1}
    assert not any(e["event_type"] == "smb" and "compress" in json.dumps(e).lower()
                   for e in events)


@pytest.mark.parametrize("name", BENIGN)
def test_benign_smb_captures_have_no_compression_observation(name, tmp_path):
    recs = app_records(need_shared() / "pcaps" / name, tmp_path / "run", "smb")
    assert len(recs)
    assert not (recs["flags"] & SMB_BITS["SB_COMPRESSED"]).any()
    assert EXTRACTORS["smb"](recs).rows == []
    det = Detector(app_rules(tmp_path, warmup=0))
    assert [a.profile.id for a in det.process_app("smb", recs)] == []
