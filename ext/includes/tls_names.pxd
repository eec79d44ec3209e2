# The TLS and X.509 name tables (src/wirescore/tls_names.py; setup.py generates
# tls_names.h from it), declared once for the rooms of ext/app/ and msg_tls.pyx.

cdef extern from "tls_names.h" nogil:
    ctypedef struct ws_tls_version:
        unsigned int value
        const char* name
        const char* ja4
    ctypedef struct ws_x509_attr:
        unsigned char len
        unsigned char oid[10]
        const char* dotted
        const char* name
    enum:
        WS_N_TLS_VERSIONS
        WS_N_X509_ATTRS
    const ws_tls_version ws_tls_versions[]
    const ws_x509_attr ws_x509_attrs[]
    const char ws_ja4_unknown_version[]
    const char ws_x509_unknown_attr_open[]
    const char ws_x509_unknown_attr_close[]
