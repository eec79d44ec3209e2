# The hash headers of the message parsers: md5.h (JA3, JA3S, HASSH) and sha256.h (JA4,
# JA4S); one digest of any length each, no allocation. MD5 also streams (HASSH hashes
# name-lists as it walks them): init, update..., final, and its hex digits.
from libc.stdint cimport uint8_t

cdef extern from "md5.h" nogil:
    void ws_md5(const uint8_t* data, size_t length, uint8_t* out)
    ctypedef struct ws_md5_ctx:
        pass
    void ws_md5_init(ws_md5_ctx* c)
    void ws_md5_update(ws_md5_ctx* c, const uint8_t* p, size_t k)
    void ws_md5_final(ws_md5_ctx* c, uint8_t* out)
    void ws_md5_hex(const uint8_t* digest, char* hexdigits)

cdef extern from "sha256.h" nogil:
    void ws_sha256(const uint8_t* data, size_t length, uint8_t* out)
