# What the message parsers' test/API modules (msg_*.pyx) share: the bytes a parser is
# given, and its output struct's strings as Python values. Python level (not nogil):
# these modules serve tests, the fuzz target and the EVE formatter's tests, never the
# packet path.

from libc.stdint cimport uint8_t, uint32_t
from fstr cimport FStr, FS_PRESENT, FS_CAPPED, FS_CUT

cdef extern from *:
    """
    static const unsigned char ws_msg_empty[1] = {0};
    """
    const uint8_t ws_msg_empty[1]


cdef inline const uint8_t* msg_bytes(const uint8_t[::1] buf):
    """The first byte of buf (a valid pointer when buf is empty: nothing is read then)."""
    return &buf[0] if buf.shape[0] else ws_msg_empty


cdef inline uint32_t msg_full(const uint8_t[::1] buf, full) except? 0:
    """The message's real length: `full`, or the buffer's when None; never below it."""
    cdef Py_ssize_t n = buf.shape[0]
    if full is None:
        full = n
    if full < n or full > 0xFFFFFFFF or n > 0xFFFFFFFF:
        raise ValueError(f"full={full} with {n} bytes: need {n} <= full < 2**32")
    return <uint32_t>full


cdef inline str fstr_text(const FStr* f):
    """s[0:n] as text (UTF-8, invalid bytes replaced)."""
    return f.s[:f.n].decode("utf-8", "replace")


cdef inline void fstr_put(dict out, str key, const FStr* f) except *:
    """out[key] = the text when the field is present; a capped or cut field is listed
    under out["capped"] / out["cut"], its real length under out[key + "_len"]."""
    if not (f.flags & FS_PRESENT):
        return
    out[key] = fstr_text(f)
    if f.flags & FS_CAPPED:
        out.setdefault("capped", []).append(key)
    if f.flags & FS_CUT:
        out.setdefault("cut", []).append(key)
    if f.flags & (FS_CAPPED | FS_CUT):
        out[key + "_len"] = f.len
