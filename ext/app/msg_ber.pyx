# cython: freethreading_compatible = False
"""The BER/DER reader (ext/app/ber.pxd) for Python: its tests and the fuzz target."""
from libc.stdint cimport uint8_t, uint32_t, int64_t
from ber cimport *
from msgapi cimport msg_bytes, msg_full


cdef dict _tlv(int rc, const BerTlv* t):
    out = {"status": rc, "start": t.start, "hdr_cut": bool(t.hdr_cut)}
    if rc != BER_ERR and not t.hdr_cut:
        out.update(cls=t.cls, cons=bool(t.constructed), tag=t.tag, off=t.off, len=t.len, end=t.end,
                   indef=bool(t.indefinite))
    return out


def read(data, uint32_t at=0, limit=None, bint der=False):
    """The element header at data[at:] that must end by limit (default: the bytes'
    length) -> dict: status (0 OK, 1 cut, -1 malformed), start, hdr_cut, and when the
    header was read: cls, cons, tag, off, len, end, indef."""
    cdef const uint8_t[::1] buf = data
    cdef uint32_t lim = msg_full(buf, limit)
    cdef BerTlv t
    cdef int rc = ber_read(msg_bytes(buf), <uint32_t>buf.shape[0], at, lim,
                           BER_DER if der else 0, &t)
    return _tlv(rc, &t)


def children(data, limit=None, bint der=False):
    """The children of the constructed element at data[0:] as ber_next() walks them:
    (list of child dicts as read() gives, final status: 2 end, 1 cut, -1 malformed)."""
    cdef const uint8_t[::1] buf = data
    cdef uint32_t lim = msg_full(buf, limit)
    cdef uint32_t n = <uint32_t>buf.shape[0]
    cdef BerTlv t, c
    cdef BerWalk w
    cdef int flags = BER_DER if der else 0
    cdef int rc = ber_read(msg_bytes(buf), n, 0, lim, flags, &t)
    if rc == BER_ERR or t.hdr_cut or not t.constructed:
        return [], BER_ERR if rc != BER_CUT else BER_CUT
    ber_walk_init(&w, &t, flags, 0)
    out = []
    while True:
        rc = ber_next(&w, msg_bytes(buf), n, &c)
        if rc != BER_OK and rc != BER_CUT:
            return out, rc
        out.append(_tlv(rc, &c))
        if rc == BER_CUT:
            return out, rc


def integer(data):
    """The INTEGER element at data[0:] -> (status, value or None)."""
    cdef const uint8_t[::1] buf = data
    cdef BerTlv t
    cdef int64_t v = 0
    cdef int rc = ber_read(msg_bytes(buf), <uint32_t>buf.shape[0], 0,
                           <uint32_t>buf.shape[0], 0, &t)
    if rc == BER_OK:
        rc = ber_int(msg_bytes(buf), &t, &v)
    return rc, (v if rc == BER_OK else None)


def gentime(data):
    """The GeneralizedTime element at data[0:] -> (status, epoch seconds or None)."""
    cdef const uint8_t[::1] buf = data
    cdef BerTlv t
    cdef int64_t v = 0
    cdef int rc = ber_read(msg_bytes(buf), <uint32_t>buf.shape[0], 0,
                           <uint32_t>buf.shape[0], BER_DER, &t)
    if rc == BER_OK:
        rc = ber_gentime(msg_bytes(buf), &t, &v)
    return rc, (v if rc == BER_OK else None)
