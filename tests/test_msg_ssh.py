"""SSH parsers (ext/app/ssh.pxd via wirescore._core.msg_ssh) on real sessions.

Each SSH connection of the shared captures is followed by tshark (`-z follow,tcp,raw`):
the parser gets the first bytes of each direction, as the framework will hand them,
reads the identification string, then the binary packet after it (the KEXINIT). Its
fields are compared with tshark's ssh.protocol, the name-list lengths and HASSH /
HASSH-server (ssh.kex.hassh*, which tshark computes as Salesforce's HASSH does).
"""
from __future__ import annotations

import hashlib
import re
import subprocess

import pytest

from conftest import need_shared
from msgref import follow
from wirescore._core import msg_ssh

CAPTURES = (
    "peer-groundtruth/zeek/ssh__ssh.pcap",
    "peer-groundtruth/zeek/ssh__ssh_kex_dh_group18.pcap",
    "peer-groundtruth/zeek/ssh__server-pre-banner-data.pcap",
    "peer-groundtruth/nfstream/ssh.pcap",
    "peer-groundtruth/ndpi/ssh_unidirectional.pcap",
)
# RFC 4253 4.2: SSH-protoversion-softwareversion SP comments
IDENT = re.compile(r"SSH-([^-]*)-(\S*)(?: (.*))?")
LENGTH_FIELDS = ("kex_algorithms", "server_host_key_algorithms",
                 "encryption_algorithms_client_to_server",
                 "encryption_algorithms_server_to_client",
                 "mac_algorithms_client_to_server", "mac_algorithms_server_to_client",
                 "compression_algorithms_client_to_server",
                 "compression_algorithms_server_to_client")


def _tshark(pcap, *args) -> str:
    return subprocess.run(["tshark", "-r", str(pcap), *args], capture_output=True,
                          check=True, text=True, timeout=300).stdout


def _reference(pcap) -> dict[tuple[int, str], dict]:
    """tshark's SSH fields per (stream, sender "addr:port")."""
    fields = ["tcp.stream", "ip.src", "tcp.srcport", "ssh.protocol", "ssh.kex.hassh",
              "ssh.kex.hassh_algorithms", "ssh.kex.hasshserver",
              "ssh.kex.hasshserver_algorithms"] + [f"ssh.{f}_length" for f in LENGTH_FIELDS]
    args = ["-Y", "ssh.protocol || ssh.message_code == 20", "-T", "fields",
            "-E", "occurrence=f"]
    for f in fields:
        args += ["-e", f]
    ref: dict[tuple[int, str], dict] = {}
    for line in _tshark(pcap, *args).splitlines():
        row = dict(zip(fields, line.split("\t")))
        side = ref.setdefault((int(row["tcp.stream"]),
                               f"{row['ip.src']}:{row['tcp.srcport']}"), {})
        side.update({k: v for k, v in row.items() if v and k.startswith("ssh.")})
    return ref


def _sessions(rel: str):
    """(stream, is_client, direction's bytes, tshark's fields of that direction)."""
    pcap = need_shared() / "pcaps" / rel
    ref = _reference(pcap)
    for stream in sorted({s for s, _ in ref}):
        client, c2s, s2c = follow(pcap, stream)
        server = next((who for s, who in ref if s == stream and who != client), None)
        yield stream, True, c2s, ref.get((stream, client), {})
        if s2c:
            yield stream, False, s2c, ref.get((stream, server), {})


def _check_banner(got: dict, line: str, where):
    proto, software, comments = IDENT.fullmatch(line).groups()
    assert got["status"] == 0 and not got["prefix"], (where, got)
    assert got["proto_version"] == proto and got["software_version"] == software, where
    assert got.get("comments") == comments, (where, got)


def _check_kex(got: dict, exp: dict, is_client: bool, where):
    assert got["status"] == 0 and got["msg_code"] == 20 and not got["prefix"], (where, got)
    assert got["list_len"][:8] == [int(exp[f"ssh.{f}_length"]) for f in LENGTH_FIELDS]
    key = "hassh" if is_client else "hasshserver"
    mine = "hassh" if is_client else "hassh_server"
    assert got[mine + "_string"] == exp[f"ssh.kex.{key}_algorithms"], where
    assert got[mine] == exp[f"ssh.kex.{key}"], where
    # md5.h against hashlib on the same string
    assert got[mine] == hashlib.md5(got[mine + "_string"].encode()).hexdigest()


@pytest.mark.parametrize("rel", CAPTURES)
def test_sessions_equal_tshark(rel):
    banners = kexinits = 0
    for stream, is_client, data, exp in _sessions(rel):
        where = (rel, stream, is_client)
        banner = msg_ssh.parse_banner(data)
        if "ssh.protocol" in exp:
            _check_banner(banner, exp["ssh.protocol"], where)
            banners += 1
        elif banner["status"] == 0:
            # tshark names no banner after lines a server sends first (RFC 4253 4.2
            # allows them): the reference is the first line starting "SSH-"
            line = next(x for x in data.split(b"\n") if x.startswith(b"SSH-"))
            _check_banner(banner, line.rstrip(b"\r").decode(), where)
            assert banner["pre_lines"] > 0 and banner["skipped"] > 0, where
        if "ssh.kex.hassh" in exp or "ssh.kex.hasshserver" in exp:
            rest = data[banner["line_end"]:]
            status, length = msg_ssh.packet_frame(rest)
            assert status == 0 and length <= len(rest), where
            _check_kex(msg_ssh.parse_kex(rest[:length]), exp, is_client, where)
            kexinits += 1
    assert banners, rel
    assert kexinits or rel.endswith("ssh_unidirectional.pcap"), rel


def _first_session():
    rel = "peer-groundtruth/zeek/ssh__ssh_kex_dh_group18.pcap"
    return next(s for s in _sessions(rel) if s[1])[2]


def test_every_prefix_of_banner_and_kexinit():
    data = _first_session()
    whole = msg_ssh.parse_banner(data)
    line = data[:whole["line_end"]]
    for k in range(len(line)):
        cut = msg_ssh.parse_banner(line[:k], full=len(data))
        assert cut["status"] == 1 and cut["prefix"], (k, cut)
        for key in ("proto_version", "software_version", "comments"):
            if key in cut:
                assert whole.get(key, "").startswith(cut[key]), (k, key, cut)
    rest = data[whole["line_end"]:]
    length = msg_ssh.packet_frame(rest)[1]
    packet = rest[:length]
    kex = msg_ssh.parse_kex(packet)
    for k in range(len(packet)):
        cut = msg_ssh.parse_kex(packet[:k], full=length)
        assert cut["status"] == 1, (k, cut)
        if "hassh_string" in cut:
            assert kex["hassh_string"].startswith(cut["hassh_string"]), k
            assert "hassh" not in cut or cut["hassh"] == kex["hassh"], k
        lists = cut.get("list_len", [])
        whole_lists = max(len(lists) - 1, 0)     # the last one read may be cut
        assert lists[:whole_lists] == kex["list_len"][:whole_lists], (k, lists)


@pytest.mark.parametrize("data, status", [
    (b"", -2), (b"SS", 1), (b"HTTP/1.1 200 OK\r\n", -2), (b"\x16\x03\x01\x02\x00", -2),
    (b"SSH-2.0\r\n", -1), (b"SSH-2.0-x" + b"y" * 2000 + b"\r\n", -1),
])
def test_banner_outcomes(data, status):
    assert msg_ssh.parse_banner(data)["status"] == status


def test_lines_before_banner_need_more_bytes():
    """A line before the identification string is no verdict while more may come."""
    assert msg_ssh.parse_banner(b"Hello\r\n", full=2**32 - 1)["status"] == 1
    got = msg_ssh.parse_banner(b"Hello\r\nSSH-2.0-x y\r\n")
    assert (got["status"], got["pre_lines"], got["skipped"]) == (0, 1, 7)
    assert got["software_version"] == "x" and got["comments"] == "y"


def test_kex_outcomes():
    assert msg_ssh.packet_frame(b"\x00\x00") == (1, 0)
    assert msg_ssh.packet_frame(b"\x00\x00\x00\x01")[0] == -1
    assert msg_ssh.packet_frame(b"\x7f\x00\x00\x00")[0] == -1
    # a KEXINIT whose first list claims more bytes than the packet holds
    bad = b"\x00\x00\x00\x1c\x04\x14" + bytes(16) + b"\x00\x00\xff\xff" + bytes(4)
    assert msg_ssh.parse_kex(bad)["status"] == -1
