"""First-bytes statistics (ext/app/bytes.pxd via wirescore._core.msg_bytes).

File kinds against libmagic (`file --mime-type`, the MIME types msg_names.MAGIC lists for
each kind): on the files tshark exports from shared captures (a PsExec service
executable over SMB, Java classes of a Log4Shell exploit over HTTP, a DLL and web
objects over HTTP), and on samples of each kind made here (Python's zipfile / gzip,
this machine's ELF loader, the container headers as their specifications write them).
Entropy and printable share against the same sums computed in Python.
"""
from __future__ import annotations

import gzip
import io
import math
import struct
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from conftest import need_shared
from wirescore import msg_names
from wirescore._core import msg_bytes

EXPORTS = (   # (capture, tshark --export-objects protocols)
    ("labeled/windows-ad-attacks/LateralMovement__LM_psexec_smb_dcerpc_epm_svcctl.pcapng",
     ("smb",)),
    ("labeled/web-attacks/ndpi-log4j-webapp-exploit.pcap", ("http",)),
    ("peer-groundtruth/nfstream/pps.pcap", ("http",)),
)
# MIME types libmagic gives by weaker rules than a magic number, which this parser does
# not try: DOS .COM heuristics (an MMS message exported from a capture is one to it)
LIBMAGIC_HEURISTIC = {"application/x-dosexec"}


def _mime(path: Path) -> str:
    return subprocess.run(["file", "--mime-type", "-b", str(path)], capture_output=True,
                          text=True, check=True).stdout.strip()


def _owner(mime: str) -> set[str]:
    """The kinds whose MIME list holds mime."""
    return {kind for kind, mimes in msg_names.MAGIC_MIME.items() if mime in mimes}


def _agree(path: Path, got: str):
    mime = _mime(path)
    if got != "none":
        assert mime in msg_names.MAGIC_MIME[got], (path.name, got, mime)
    elif mime not in LIBMAGIC_HEURISTIC and not mime.startswith("text/"):
        # a MIME type only one of our binary kinds has must have been recognised
        assert not _owner(mime), (path.name, mime)


def _python_stats(data: bytes) -> tuple[float, float]:
    n = len(data)
    if not n:
        return 0.0, 0.0
    h = -sum(c / n * math.log2(c / n) for c in Counter(data).values())
    printable = sum(32 <= b <= 126 or b in (9, 10, 13) for b in data) / n
    return h, printable


def test_exported_objects_agree_with_libmagic(tmp_path):
    shared = need_shared()
    kinds = Counter()
    for rel, protocols in EXPORTS:
        out = tmp_path / Path(rel).stem
        args = []
        for proto in protocols:
            args += ["--export-objects", f"{proto},{out}"]
        subprocess.run(["tshark", "-r", str(shared / "pcaps" / rel), "-q", *args],
                       capture_output=True, check=True, timeout=300)
        for path in sorted(out.iterdir()):
            data = path.read_bytes()
            got = msg_bytes.parse_bytes(data)
            _agree(path, got["magic"])
            h, printable = _python_stats(data)
            assert got["entropy"] == pytest.approx(h, abs=1e-4)
            assert got["printable"] == pytest.approx(printable, abs=1e-6)
            # the first 256 bytes (the evaluation mix's cut) decide the same kind
            head = msg_bytes.parse_bytes(data[:256], full=len(data))
            assert head["magic"] == got["magic"] and head["prefix"] == (len(data) > 256)
            kinds[got["magic"]] += 1
    assert kinds["pe"] == 2 and kinds["java-class"] == 2 and kinds["none"] > 40, kinds


def _samples() -> dict[str, bytes]:
    """kind -> bytes of a file of that kind."""
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("a.txt", "hello " * 50)
    cab = (b"MSCF" + bytes(4) + struct.pack("<I", 100) + bytes(4) + struct.pack("<I", 44)
           + bytes(4) + bytes([3, 1]) + struct.pack("<HHHHH", 1, 1, 0, 0, 0) + bytes(60))
    ole = (bytes.fromhex("d0cf11e0a1b11ae1") + bytes(16)
           + struct.pack("<HHHH", 0x3E, 3, 0xFFFE, 9) + bytes(480))
    fat = (struct.pack(">II", 0xCAFEBABE, 2)
           + struct.pack(">iiIII", 0x01000007, 3, 4096, 100, 12) * 2 + bytes(100))
    return {
        "elf": Path(sys.executable).resolve().read_bytes()[:4096],
        "zip": zipped.getvalue(),
        "gzip": gzip.compress(b"hello " * 100),
        "pdf": b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n",
        "7z": b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(24),
        "rar": b"Rar!\x1a\x07\x01\x00" + bytes(40),
        "cab": cab,
        "ole": ole,
        "macho": struct.pack("<IiiIIII", 0xFEEDFACF, 0x01000007, 3, 2, 0, 0, 0) + bytes(100),
        "macho-fat": fat,
        "script": b"#!/bin/sh\necho hi\n",
        "powershell": b'$x = 1\nInvoke-WebRequest -Uri http://h/p -OutFile f\n',
        "vbscript": b'On Error Resume Next\nSet o = CreateObject("WScript.Shell")\n',
        "jscript": b'var s = new ActiveXObject("WScript.Shell");\ns.Run("calc");\n',
    }


@pytest.mark.parametrize("kind", sorted(_samples()))
def test_samples_agree_with_libmagic(kind, tmp_path):
    data = _samples()[kind]
    path = tmp_path / f"sample-{kind}"
    path.write_bytes(data)
    got = msg_bytes.parse_bytes(data)
    assert got["magic"] == kind
    _agree(path, got["magic"])


def test_mz_without_pe_header_in_reach():
    exe = bytearray(b"MZ" + bytes(0x3A) + struct.pack("<I", 0x80) + bytes(0x40) + b"PE\0\0")
    assert msg_bytes.parse_bytes(bytes(exe))["magic"] == "pe"
    cut = msg_bytes.parse_bytes(bytes(exe[:0x60]), full=len(exe))
    assert (cut["magic"], cut["unreached"], cut["prefix"]) == ("mz", True, True)
    exe[0x80:0x84] = b"NE\0\0"
    assert msg_bytes.parse_bytes(bytes(exe))["magic"] == "mz"


@pytest.mark.parametrize("data, entropy, printable", [
    (b"", 0.0, 0.0), (b"aaaa", 0.0, 1.0), (bytes(range(256)), 8.0, 98 / 256),  # 32-126, TAB CR LF
    (b"ab" * 10, 1.0, 1.0),
])
def test_entropy_and_printable(data, entropy, printable):
    got = msg_bytes.parse_bytes(data)
    assert got["entropy"] == pytest.approx(entropy, abs=1e-5)
    assert got["printable"] == pytest.approx(printable, abs=1e-6)
    assert got["status"] == 0 and got["n"] == len(data)


def test_plain_text_is_no_script():
    """Words of prose and web pages are not script markers."""
    text = b"Dim the lights; var is short for variable.\r\n" * 20
    assert msg_bytes.parse_bytes(text)["magic"] == "none"
