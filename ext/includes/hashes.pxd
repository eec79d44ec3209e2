# The hash headers of the message parsers: md5.h (JA3, JA3S, HASSH) and sha256.h (JA4,
# JA4S); one digest of any length each, no allocation.
from libc.stdint cimport uint8_t

cdef extern from "md5.h" nogil:
    void ws_md5(const uint8_t* data, size_t length, uint8_t* out)

cdef extern from "sha256.h" nogil:
    void ws_sha256(const uint8_t* data, size_t length, uint8_t* out)
