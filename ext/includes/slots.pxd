# The row of a name list (includes/slots.h): an enum name, its C value, its name outside
# the core.

cdef extern from "slots.h":
    ctypedef struct ws_slot:
        const char* id
        long value
        const char* name
