# The row of a name list (names.h, generated from wirescore/core_names.py): an enum name,
# its C value, its name outside the core.

cdef extern from "names.h":
    ctypedef struct ws_slot:
        const char* id
        long value
        const char* name
