"""Shannon entropy of many byte strings at once (entropy.pxd says what it computes): the
narrow numpy edge.

    bits = entropy_rows(data, rows, offs, lens, fold=False)   # float64, one a string

data: (m, width) uint8, the strings' rows (a record array's fixed-width text column,
read in place when its bytes are contiguous within a row);
string j is data[rows[j], offs[j]:offs[j] + lens[j]]. A string that does not lie inside
its row is a ValueError naming it (checked before any byte is read). Cost: one pass over
each string's bytes plus its distinct bytes; no Python object per string.
"""
import numpy as np
cimport numpy as cnp

from libc.stdint cimport uint8_t, int64_t

from entropy cimport entropy_bits

cnp.import_array()


def entropy_one(const uint8_t[::1] data, bint fold=False):
    """The entropy of one byte string (bytes or a 1-d uint8 array), bits per byte."""
    cdef Py_ssize_t n = data.shape[0]
    cdef double bits
    with nogil:
        bits = entropy_bits(&data[0] if n else NULL, n, fold)
    return bits


def entropy_rows(data, rows, offs, lens, bint fold=False):
    """One float64 per string (see the module docstring): bits per byte, 0 for an empty
    string; fold counts ASCII upper-case letters as lower-case."""
    data = np.asarray(data)
    if data.ndim != 2 or data.dtype != np.uint8 or data.strides[1] != 1:
        data = np.ascontiguousarray(data, dtype=np.uint8).reshape(len(data), -1)
    cdef const uint8_t[:, :] d = data
    cdef const int64_t[::1] r = np.ascontiguousarray(rows, dtype=np.int64)
    cdef const int64_t[::1] o = np.ascontiguousarray(offs, dtype=np.int64)
    cdef const int64_t[::1] n = np.ascontiguousarray(lens, dtype=np.int64)
    cdef Py_ssize_t j, m = r.shape[0], width = d.shape[1], height = d.shape[0]
    if o.shape[0] != m or n.shape[0] != m:
        raise ValueError("entropy_rows: rows, offs and lens of one length")
    for j in range(m):
        if (r[j] < 0 or r[j] >= height or o[j] < 0 or n[j] < 0
                or o[j] + n[j] > width):
            raise ValueError(f"entropy_rows: string {j} (row {r[j]}, bytes {o[j]} + "
                             f"{n[j]}) is not inside a row of {width} bytes of "
                             f"{height} rows")
    out = np.zeros(m, dtype=np.float64)
    cdef double[::1] bits = out
    with nogil:
        for j in range(m):
            if n[j] > 0:
                bits[j] = entropy_bits(&d[r[j], o[j]], n[j], fold)
    return out
