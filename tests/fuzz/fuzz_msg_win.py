"""Coverage-guided fuzz target for the Windows-protocol message parsers (ext/app/: the
NetBIOS session header, SMB2/3 and its transform headers, SMB1, NTLMSSP, the SPNEGO /
Kerberos security blob, DCE-RPC connection-oriented PDUs), through the test modules
wirescore._core.msg_smb / msg_ntlmssp / msg_dcerpc.

One input:

    byte 0    the parser: % 7 (PARSERS)
    byte 1    how much longer the message really is than the bytes we have
              (full = len(message) + EXTRA[byte % 8]): a snap length's or a budget's cut
    byte 2    where to cut the prefix the second parse gets (len * byte // 256)
    then      the message's bytes

Each parse gets exactly its bytes in a malloc'd block (msgdict.exact_copy), so a read
past them is a heap overflow under ASAN; UBSan checks the arithmetic. Checks, beyond "no
memory error": the return code is one of the three outcomes (0, 1, MSG_NOT -1, MSG_BAD
-2); every string is valid UTF-8 (the dict holds it decoded) and shorter than its array;
lists are no longer than their caps; a message that parsed whole (rc 0, full = its
length) gives rc 1 on every non-empty prefix shorter than its own end (an SMB2
compound member's NextCommand, a PDU's frag_length) (the contract: every byte we have is
consistent, the rest is missing), and the fields of that prefix parse are the whole
parse's (a string cut at the end flagged STR_CUT and a prefix of the whole's; spans
that run to the cut excepted).
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(TESTS))

from fuzz_core import FuzzFailure, check, entry  # noqa: E402,F401 (loads the fuzz build)
from fuzz_core import main as fuzz_core_main  # noqa: E402

from wirescore._core import msg_dcerpc, msg_ntlmssp, msg_smb  # noqa: E402

PARSERS = (("smb2", msg_smb.parse_smb2), ("smb1", msg_smb.parse_smb1),
           ("ntlmssp", msg_ntlmssp.parse_ntlmssp), ("gss", msg_ntlmssp.parse_gss),
           ("dcerpc", msg_dcerpc.parse_dcerpc), ("nbss", None), ("frag_len", None))
EXTRA = (0, 0, 0, 1, 7, 300, 65536, 2 ** 32 - 1)
STR_CAP = 256
# the parsers' array sizes (smb2msg.pxd, smb1.pxd, dcerpc.pxd, spnego.pxd)
CAPS = {"dialects": 16, "dialects_cut": 16, "ctx_types": 8, "hashes": 4, "ciphers": 4,
        "comps": 4, "signs": 4, "ctx": 8, "results": 8, "mechs": 8}
# spans and lengths that end at the bytes we have (a prefix's stub, token, blob)
RUNS_TO_CUT = {"rc", "stub_len", "token_len", "data_len", "blob_len"}


def check_dict(d: dict, where: str) -> None:
    """Strings within their arrays, lists within their caps, nested dicts too."""
    for key, value in d.items():
        if isinstance(value, str):
            check(len(value.encode()) < STR_CAP, f"{where}.{key}: {len(value.encode())} bytes")
        elif isinstance(value, dict):
            check_dict(value, f"{where}.{key}")
        elif isinstance(value, list):
            check(len(value) <= CAPS[key], f"{where}.{key}: {len(value)} items")
            for item in value:
                if isinstance(item, dict):
                    check_dict(item, f"{where}.{key}[]")


def same_fields(whole: dict, part: dict, where: str) -> None:
    """The fields of a prefix parse equal the whole parse's (module docstring)."""
    for key, value in part.items():
        if key in RUNS_TO_CUT or key.endswith("_flags"):
            continue
        check(key in whole, f"{where}: {key} only in the prefix")
        if part.get(key + "_flags", 0) & 1:              # STR_CUT
            check(part[key + "_flags"] & 1 and whole[key].startswith(value),
                  f"{where}: {key} {value!r} vs {whole[key]!r}")
        elif isinstance(value, dict):
            same_fields(whole[key], value, f"{where}.{key}")
        else:
            check(whole[key] == value, f"{where}: {key} {value!r} vs {whole[key]!r}")


def run_one(data: bytes) -> dict:
    """One input (module docstring)."""
    if len(data) < 3:
        return {}
    name, parse = PARSERS[data[0] % len(PARSERS)]
    msg = data[3:]
    if name == "nbss":
        out = msg_smb.parse_nbss(msg)
        check(out["rc"] in (0, 1, -1, -2), f"nbss rc {out['rc']}")
        return out
    if name == "frag_len":
        n = msg_dcerpc.frag_len(msg)
        check(n in (-1, -2) or 16 <= n <= 0xFFFF, f"frag_len {n}")
        return {"frag_len": n}
    full = len(msg) + EXTRA[data[1] % 8]
    if full >= 2 ** 32:
        full = 2 ** 32 - 1
    out = parse(msg, full)
    check(out["rc"] in (0, 1, -1, -2), f"{name} rc {out['rc']}")
    check_dict(out, name)
    cut = len(msg) * data[2] // 256
    # a message's own end: an SMB2 compound member's NextCommand, a PDU's frag_length
    own = out.get("next_command") or out.get("frag_len") or len(msg)
    if out["rc"] == 0 and full == len(msg) and 0 < cut < min(own, len(msg)):
        part = parse(msg[:cut], full)
        # rc 0 only when the message's own end (a DER length, say) lies before the cut
        check(part["rc"] == 1 or part == out,
              f"{name}: prefix of {cut}/{len(msg)} bytes: rc {part['rc']}")
        check_dict(part, name)
        same_fields(out, part, f"{name}[:{cut}]")
    return out


# ---- seeds ---------------------------------------------------------------------------------

def seeds() -> dict[str, bytes]:
    """Starting inputs: the real messages of the shared captures the tests read (each
    SMB message, NTLMSSP token, security blob and DCE-RPC PDU, the first 8 of a kind
    per capture), whole and with a cut."""
    import test_msg_dcerpc as tdce
    import test_msg_smb as tsmb
    from conftest import SHARED_DATA

    out: dict[str, bytes] = {}

    def add(kind: int, tag: str, msg: bytes) -> None:
        if len(msg) <= 8000 and sum(k.startswith(f"{kind}-{tag}") for k in out) < 8:
            out[f"{kind}-{tag}-{len(out):04d}"] = bytes([kind, 0, 128]) + msg

    for name in tsmb.SMB_CAPTURES:
        pcap = SHARED_DATA / "pcaps" / name
        tag = pcap.stem[:24]
        for unit in tsmb.smb_units(pcap):
            add(5, tag, unit.data[:4])
            if unit.data[4] == 0xFF:
                add(1, tag, unit.data[4:])
                continue
            for msg, _ in tsmb.smb2_messages(unit):
                m = msg_smb.parse_smb2(msg)
                add(0, tag + f"-c{m.get('command', 'x')}", msg)
                if "blob_off" in m and m.get("blob_len"):
                    blob = msg[m["blob_off"]:m["blob_off"] + m["blob_len"]]
                    add(3, tag, blob)
    for name in tdce.DCERPC_CAPTURES:
        pcap = SHARED_DATA / "pcaps" / name
        tag = pcap.stem[:24]
        for unit in tdce.dcerpc_units(pcap):
            add(4, tag + f"-t{unit.data[2]}", unit.data)
            add(6, tag, unit.data[:10])
            m = msg_dcerpc.parse_dcerpc(unit.data)
            if m.get("auth", {}).get("kind") == "ntlmssp":
                start = m["auth_off"] + m["auth"]["token_off"]
                add(2, tag, unit.data[start:start + m["auth"]["token_len"]])
    return out


# ---- libFuzzer entry point ------------------------------------------------------------------

TestOneInput = entry(run_one)  # noqa: N816 (atheris' name)


if __name__ == "__main__":
    fuzz_core_main(sys.argv, TestOneInput)
