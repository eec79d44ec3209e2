"""BPF filter expressions compiled by libpcap exactly as it compiles them for a capture file.

libpcap's code for a capture file differs from what pcapy.compile() gives (a "dead"
handle, as for a live capture) on loopback link types (NULL, LOOP, ENC): for a file it
accepts every platform's AF_INET6 value (24, 28 and 30), and for a file written in the
other byte order it swaps the AF_ constants of NULL and ENC. So compile_for_file() opens
a handle on a pcap file header of the link type and byte order (24 bytes in a temporary
file) and compiles there, through the libpcap that pcapy-ng carries (ctypes: pcapy-ng
keeps the compiled program out of reach of Python for such a handle). The program is
the list of (code, jt, jf, k) instructions that wirescore._core.pcapfile runs.

Cost: a file open and a compile, once per (link type, byte order) of a run.
"""
from __future__ import annotations

import ctypes
import struct
import sys
import tempfile
from functools import lru_cache

SNAPLEN = 262144        # the snap length compiled for: the value an accepting program returns


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]


class _Program(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_Insn))]


@lru_cache(maxsize=1)
def _libpcap():
    """libpcap's functions, found through pcapy-ng's extension (which links it)."""
    import pcapy

    lib = ctypes.CDLL(pcapy.__file__)
    lib.pcap_open_offline.restype = ctypes.c_void_p
    lib.pcap_open_offline.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.pcap_compile.restype = ctypes.c_int
    lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Program), ctypes.c_char_p,
                                 ctypes.c_int, ctypes.c_uint32]
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = [ctypes.c_void_p]
    lib.pcap_freecode.argtypes = [ctypes.POINTER(_Program)]
    lib.pcap_close.argtypes = [ctypes.c_void_p]
    return lib


def compile_for_file(expression: str, linktype: int, swapped: bool = False
                     ) -> list[tuple[int, int, int, int]]:
    """libpcap's program for `expression` on a capture file of DLT `linktype`, written
    in the other byte order than this host's when `swapped`; ValueError with libpcap's
    message when it does not compile."""
    lib = _libpcap()
    native = "<" if sys.byteorder == "little" else ">"
    order = {"<": ">", ">": "<"}[native] if swapped else native
    header = struct.pack(order + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, linktype)
    errbuf = ctypes.create_string_buffer(512)
    with tempfile.NamedTemporaryFile(prefix="wirescore-bpf-", suffix=".pcap") as fh:
        fh.write(header)
        fh.flush()
        handle = lib.pcap_open_offline(fh.name.encode(), errbuf)
    if not handle:
        raise ValueError(errbuf.value.decode(errors="replace"))
    try:
        program = _Program()
        if lib.pcap_compile(handle, ctypes.byref(program), expression.encode(), 1, 0) != 0:
            raise ValueError(lib.pcap_geterr(handle).decode(errors="replace"))
        try:
            return [(i.code, i.jt, i.jf, i.k) for i in program.bf_insns[:program.bf_len]]
        finally:
            lib.pcap_freecode(ctypes.byref(program))
    finally:
        lib.pcap_close(handle)
