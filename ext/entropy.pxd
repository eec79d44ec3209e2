# Shannon entropy of a byte string (bits per byte), as wirescore.dnsnames defines it:
# -sum(p * log2(p)) over the distinct bytes, p = count / length, the terms summed left
# to right in the order each byte first occurs (Python's sum over a Counter's values),
# so the result is bit for bit what the Python definition gives. 0 for an empty string.
# fold: count ASCII upper-case letters as their lower-case ones (bytes.lower()).
#
# Everything here is inline and runs without the GIL.

from libc.math cimport log2
from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memset


cdef inline double entropy_bits(const uint8_t* data, Py_ssize_t n,
                                bint fold) noexcept nogil:
    """The entropy of data[0:n] (module comment); data is read only when n > 0."""
    cdef uint32_t count[256]
    cdef uint8_t order[256]
    cdef Py_ssize_t i
    cdef int distinct = 0, k
    cdef uint8_t b
    cdef double p, total = 0.0, length = <double>n
    if n <= 0:
        return 0.0
    memset(count, 0, sizeof(count))
    for i in range(n):
        b = data[i]
        if fold and 65 <= b <= 90:
            b += 32
        if count[b] == 0:
            order[distinct] = b
            distinct += 1
        count[b] += 1
    for k in range(distinct):
        p = <double>count[order[k]] / length
        total = total + p * log2(p)
    return -total
