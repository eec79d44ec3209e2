# Python's float floor division in C, for kernels that must repeat a Python program's
# arithmetic bit for bit (netmlseq.pyx).

from libc.math cimport fmod, floor, copysign

cdef inline double py_floordiv(double a, double b) noexcept nogil:
    """a // b as CPython's float_floor_div and numpy's npy_floor_divide compute it
    (through fmod, not floor(a / b): 1.0 // 0.1 is 9.0); b must not be 0."""
    cdef double mod = fmod(a, b), div, fl
    div = (a - mod) / b
    if mod != 0.0:
        if (b < 0.0) != (mod < 0.0):
            div -= 1.0
    if div != 0.0:
        fl = floor(div)
        if div - fl > 0.5:
            fl += 1.0
        return fl
    return copysign(0.0, a / b)
