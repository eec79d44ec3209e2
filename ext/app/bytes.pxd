# First-bytes statistics of a payload: Shannon entropy, printable share and the kind of
# file the bytes start (its "magic"), for whatever the protocol rooms do not parse (and
# the bodies they carry). Pure nogil, no allocation, every read inside p[0:n].
#
#   bytes_parse(p, n, full, &s)  p[0:n] the first bytes of a payload whose real length is
#                                full (>= n). 0 the statistics cover all of it, 1 they
#                                cover a prefix (BYTESF_CUT). Never fails.
#
# Kinds (msg_names.MAGIC, the C enum WS_MAGIC_*), by the bytes at offset 0:
#   MZ: PE when "PE\0\0" is at e_lfanew (the 32-bit little-endian value at 0x3c), MZ
#   (DOS) when something else is there, MZ with BYTESF_UNREACHED when e_lfanew + 4 lies
#   past the bytes; 7f "ELF"; Mach-O fe ed fa ce/cf and ce/cf fa ed fe; ca fe ba be / bf
#   with fewer than MACHO_FAT_MAX architectures is a fat Mach-O, else a Java class (the
#   same magic: libmagic decides the same way); "#!" a script; PK 03 04 / 05 06 / 07 08
#   ZIP; "Rar!" 1a 07 00 / 01 00 RAR; "7z" bc af 27 1c; 1f 8b 08 gzip; "MSCF" 00 00 00 00
#   CAB; "%PDF-"; d0 cf 11 e0 a1 b1 1a e1 OLE (MS Office 97-2003, MSI). Otherwise, when
#   at least SCRIPT_PRINTABLE of the first SCRIPT_WINDOW bytes are printable, the first
#   script marker (msg_names.SCRIPT_MARKERS, case ignored) found in them: PowerShell,
#   VBScript, JScript. Else MAGIC_NONE.

from libc.stdint cimport uint8_t, uint32_t
from libc.math cimport log2
from libc.string cimport memset

cdef extern from "msg_names.h":
    enum:
        MAGIC_NONE "WS_MAGIC_NONE"
        MAGIC_PE "WS_MAGIC_PE"
        MAGIC_MZ "WS_MAGIC_MZ"
        MAGIC_ELF "WS_MAGIC_ELF"
        MAGIC_MACHO "WS_MAGIC_MACHO"
        MAGIC_MACHO_FAT "WS_MAGIC_MACHO_FAT"
        MAGIC_JAVA_CLASS "WS_MAGIC_JAVA_CLASS"
        MAGIC_SHEBANG "WS_MAGIC_SHEBANG"
        MAGIC_POWERSHELL "WS_MAGIC_POWERSHELL"
        MAGIC_VBSCRIPT "WS_MAGIC_VBSCRIPT"
        MAGIC_JSCRIPT "WS_MAGIC_JSCRIPT"
        MAGIC_ZIP "WS_MAGIC_ZIP"
        MAGIC_RAR "WS_MAGIC_RAR"
        MAGIC_7Z "WS_MAGIC_7Z"
        MAGIC_GZIP "WS_MAGIC_GZIP"
        MAGIC_CAB "WS_MAGIC_CAB"
        MAGIC_PDF "WS_MAGIC_PDF"
        MAGIC_OLE "WS_MAGIC_OLE"
        N_MAGIC "WS_N_MAGIC"
        N_SCRIPT_MARKERS "WS_N_SCRIPT_MARKERS"
    ctypedef struct ws_script_marker "struct ws_script_marker_s":
        int kind
        const char* word
        unsigned int len
    const ws_script_marker ws_script_markers[]

cdef enum:
    SCRIPT_WINDOW = 512         # bytes searched for script markers
    SCRIPT_PRINTABLE = 90       # percent of them that must be printable
    MACHO_FAT_MAX = 30          # a fat Mach-O lists fewer architectures than this
    BYTESF_CUT = 1              # the statistics cover a prefix of the payload
    BYTESF_UNREACHED = 2        # "MZ" whose PE header offset lies past the bytes

cdef struct BytesStats:
    uint32_t n                  # bytes examined
    float entropy               # Shannon entropy of those bytes, bits per byte (0..8)
    float printable             # their share that is printable ASCII, tab, CR or LF (0..1)
    uint8_t magic               # MAGIC_* kind
    uint8_t flags               # BYTESF_*


cdef inline bint bytes_at(const uint8_t* p, uint32_t n, uint32_t at, const char* sig,
                          uint32_t k) noexcept nogil:
    """Whether the k bytes sig lie at p[at:] (within n)."""
    cdef uint32_t i
    if at > n or k > n - at:
        return False
    for i in range(k):
        if p[at + i] != <uint8_t>sig[i]:
            return False
    return True


cdef inline uint32_t bytes_le32(const uint8_t* p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline uint8_t bytes_mz(const uint8_t* p, uint32_t n, uint8_t* flags) noexcept nogil:
    """An "MZ" executable: PE when its e_lfanew points at "PE\\0\\0" within the bytes."""
    cdef uint32_t at
    if n < 0x40:
        flags[0] |= BYTESF_UNREACHED
        return MAGIC_MZ
    at = bytes_le32(p + 0x3C)
    if at > n or n - at < 4:
        flags[0] |= BYTESF_UNREACHED
        return MAGIC_MZ
    return MAGIC_PE if bytes_at(p, n, at, b"PE\0\0", 4) else MAGIC_MZ


cdef inline uint8_t bytes_script(const uint8_t* p, uint32_t n) noexcept nogil:
    """The kind of the first script marker found in p[0:n] (ASCII case ignored)."""
    cdef int m
    cdef uint32_t i, j, k
    cdef const char* w
    for m in range(N_SCRIPT_MARKERS):
        w = ws_script_markers[m].word
        k = ws_script_markers[m].len
        if k == 0 or k > n:
            continue
        for i in range(n - k + 1):
            j = 0
            while j < k and (p[i + j] | 0x20 if 65 <= p[i + j] <= 90 else p[i + j]) == \
                    <uint8_t>w[j]:
                j += 1
            if j == k:
                return <uint8_t>ws_script_markers[m].kind
    return MAGIC_NONE


cdef inline uint8_t bytes_magic(const uint8_t* p, uint32_t n, uint32_t printable,
                                uint8_t* flags) noexcept nogil:
    """The kind of file p[0:n] starts (module comment); printable: how many of the first
    min(n, SCRIPT_WINDOW) bytes are printable."""
    cdef uint32_t w = n if n < SCRIPT_WINDOW else SCRIPT_WINDOW
    if bytes_at(p, n, 0, b"MZ", 2):
        return bytes_mz(p, n, flags)
    if bytes_at(p, n, 0, b"\x7fELF", 4):
        return MAGIC_ELF
    if (bytes_at(p, n, 0, b"\xfe\xed\xfa", 3) and n >= 4 and (p[3] == 0xCE or p[3] == 0xCF)) or \
            (bytes_at(p, n, 1, b"\xfa\xed\xfe", 3) and (p[0] == 0xCE or p[0] == 0xCF)):
        return MAGIC_MACHO
    if bytes_at(p, n, 0, b"\xca\xfe\xba", 3) and n >= 8 and (p[3] == 0xBE or p[3] == 0xBF):
        if p[4] == 0 and p[5] == 0 and p[6] == 0 and 0 < p[7] < MACHO_FAT_MAX:
            return MAGIC_MACHO_FAT
        return MAGIC_JAVA_CLASS if p[3] == 0xBE else MAGIC_NONE
    if bytes_at(p, n, 0, b"#!", 2):
        return MAGIC_SHEBANG
    if bytes_at(p, n, 0, b"PK", 2) and n >= 4 and p[3] == p[2] + 1 and \
            (p[2] == 3 or p[2] == 5 or p[2] == 7):
        return MAGIC_ZIP
    if bytes_at(p, n, 0, b"Rar!\x1a\x07\x00", 7) or bytes_at(p, n, 0, b"Rar!\x1a\x07\x01\x00", 8):
        return MAGIC_RAR
    if bytes_at(p, n, 0, b"7z\xbc\xaf\x27\x1c", 6):
        return MAGIC_7Z
    if bytes_at(p, n, 0, b"\x1f\x8b\x08", 3):
        return MAGIC_GZIP
    if bytes_at(p, n, 0, b"MSCF\0\0\0\0", 8):
        return MAGIC_CAB
    if bytes_at(p, n, 0, b"%PDF-", 5):
        return MAGIC_PDF
    if bytes_at(p, n, 0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8):
        return MAGIC_OLE
    if w and printable * 100 >= w * SCRIPT_PRINTABLE:
        return bytes_script(p, w)
    return MAGIC_NONE


cdef inline bint bytes_printable(uint8_t c) noexcept nogil:
    return 32 <= c <= 126 or c == 9 or c == 10 or c == 13


cdef inline int bytes_parse(const uint8_t* p, uint32_t n, uint32_t full,
                            BytesStats* s) noexcept nogil:
    """Entropy, printable share and kind of p[0:n] (module comment)."""
    cdef uint32_t hist[256]
    cdef uint32_t i, printable = 0, early = 0
    cdef double h = 0.0
    memset(s, 0, sizeof(BytesStats))
    memset(hist, 0, sizeof(hist))
    if n > full:
        n = full
    s.n = n
    for i in range(n):
        hist[p[i]] += 1
        if bytes_printable(p[i]):
            printable += 1
            if i < SCRIPT_WINDOW:
                early += 1
    if n:
        for i in range(256):
            if hist[i]:
                h += hist[i] * log2(<double>hist[i])
        h = log2(<double>n) - h / n          # rounding leaves -4e-16 for one symbol
        s.entropy = <float>(0.0 if h < 0.0 else (8.0 if h > 8.0 else h))
        s.printable = <float>(<double>printable / n)
    s.magic = bytes_magic(p, n, early, &s.flags)
    if n < full:
        s.flags |= BYTESF_CUT
        return 1
    return 0
