# cython: freethreading_compatible = False
"""First-bytes statistics (ext/app/bytes.pxd) for Python: tests, the fuzz target, the EVE
formatter's tests. parse_bytes(bytes, full=None) -> dict."""
from libc.stdint cimport uint8_t, uint32_t
from bytes cimport *
from msgapi cimport msg_bytes, msg_full

cdef extern from "msg_names.h":
    const char* const ws_magic_kinds[]

#: file kinds by BytesStats.magic, as compiled (msg_names.MAGIC)
MAGIC_NAMES = tuple(ws_magic_kinds[i].decode() for i in range(N_MAGIC))
#: the script markers as compiled: (kind name, word)
SCRIPT_MARKERS = tuple((MAGIC_NAMES[ws_script_markers[i].kind],
                        ws_script_markers[i].word[:ws_script_markers[i].len].decode())
                       for i in range(N_SCRIPT_MARKERS))
SCRIPT_WINDOW_BYTES = SCRIPT_WINDOW
SCRIPT_PRINTABLE_PERCENT = SCRIPT_PRINTABLE


def parse_bytes(data, full=None):
    """The first bytes of a payload -> dict: status (0 all of it, 1 a prefix), n,
    entropy (bits per byte), printable (share), magic (kind name), unreached (an MZ
    whose PE header lies past the bytes), prefix."""
    cdef const uint8_t[::1] buf = data
    cdef uint32_t whole = msg_full(buf, full)
    cdef const uint8_t* p = msg_bytes(buf)
    cdef BytesStats s
    cdef int rc
    with nogil:
        rc = bytes_parse(p, <uint32_t>buf.shape[0], whole, &s)
    return {"status": rc, "n": s.n, "entropy": s.entropy, "printable": s.printable,
            "magic": MAGIC_NAMES[s.magic], "unreached": bool(s.flags & BYTESF_UNREACHED),
            "prefix": bool(s.flags & BYTESF_CUT)}
