# cython: freethreading_compatible = False
"""Capture files read from a byte buffer: classic pcap and pcapng, in batches of meta rows.

PcapReader.parse() walks the records between two offsets of a buffer without the GIL and
writes one row (sec, usec, offset, caplen) per packet into a uint32 array; offset and
caplen locate the frame in the same buffer (no copy, no Python object per packet). The
reader keeps what it learnt between calls (format, byte order, interfaces), so a stream
can arrive in pieces: the caller (wirescore.capture) reads a file or a pipe into buffers,
carrying an incomplete record over to the next buffer, and the result is the same however
the bytes were split. Three outcomes per record, never a fourth: a whole record (a row,
or a block that is taken into account), "needs more bytes" (ST_NEED, with how many), or
damaged (ST_FAULT, with what is wrong: FAULT_TEXT). A record cut short by the end of the
input (final) is damaged, as libpcap says ("truncated dump file").

The rules are libpcap's (1.9-1.10, which pcapy-ng reads through), so every capture that
libpcap reads gives the same packets, timestamps and bytes:
- classic pcap, both byte orders, microsecond and nanosecond magic (nanoseconds truncated
  to microseconds), Kuznetzov's patched format; versions 2.x up to 2.4 (caplen and len
  swapped before 2.3, and in 2.3 when caplen > len) and 543.0; the snaplen 0 or above
  2**31-1 means 262144; a record longer than 262144 bytes is damaged, one longer than the
  snaplen is cut to it (the rest skipped);
- pcapng: sections in either byte order (several, each with its own order), interface
  description blocks with if_tsresol (a power of 10 or of 2) and if_tsoffset, enhanced,
  simple and obsolete packet blocks; other blocks are skipped. A block whose length is not
  a multiple of 4, below its fixed part, above 16 MiB or not repeated in its trailer is
  damaged; so is a packet longer than its interface's snaplen or than 262144 bytes, or on
  an interface the section did not describe.
Where libpcap gives up and this reader does not: interfaces of one file with different
snap lengths or link types (each packet carries its interface's link type: a batch ends
where the link type changes), sections in different byte orders, pcapng version 1.2.
A packet on an interface whose link type the decoder lacks is damaged (F_LINKTYPE).

Link types are reported as libpcap's DLT values (LINKTYPE_RAW 101 -> DLT_RAW 12, ...).
A byte-swapped NFLOG capture has its TLV headers swapped into host order in the buffer, as
libpcap does. With a BPF program installed per link type (add_program), packets the
program rejects give no row (bpf.pxd runs it on the captured bytes with the original
length for BPF_LEN, as libpcap filters a savefile).
"""
import sys

import numpy as np

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset
from bpf cimport BpfInsn, bpf_run, BPF_MAXINSNS, BPF_MEMWORDS
from decode cimport linktype_supported
from pcapfile cimport *

cdef extern from *:
    """
    #define WS_BSWAP16(x) __builtin_bswap16(x)
    #define WS_BSWAP32(x) __builtin_bswap32(x)
    #define WS_BSWAP64(x) __builtin_bswap64(x)
    """
    uint16_t bswap16 "WS_BSWAP16"(uint16_t x) noexcept nogil
    uint32_t bswap32 "WS_BSWAP32"(uint32_t x) noexcept nogil
    uint64_t bswap64 "WS_BSWAP64"(uint64_t x) noexcept nogil

# magic numbers as read in the writer's byte order
cdef uint32_t PCAP_USEC = 0xA1B2C3D4
cdef uint32_t PCAP_NSEC = 0xA1B23C4D
cdef uint32_t PCAP_KUZNETZOV = 0xA1B2CD34
cdef uint32_t NG_SHB = 0x0A0D0D0A       # the same in both byte orders
cdef uint32_t NG_BOM = 0x1A2B3C4D
cdef uint32_t NG_IDB = 1, NG_PB = 2, NG_SPB = 3, NG_EPB = 6
cdef uint64_t USEC = 1000000
cdef int32_t DLT_NFLOG = 239
cdef uint8_t _EMPTY[1]                  # the base address of an empty buffer

#: fault -> (one-line message, with {a} and {b} from the reader's fault_a / fault_b)
FAULT_TEXT = {
    F_UNKNOWN_FORMAT: "unknown file format (neither pcap nor pcapng)",
    F_GZIP: "gzip-compressed",
    F_TRUNC_MAGIC: "truncated dump file; tried to read 4 file header bytes, only got {b}",
    F_TRUNC_FILE_HEADER: "truncated dump file; tried to read 24 file header bytes, only "
                         "got {b}",
    F_ARCHAIC: "archaic pcap savefile format",
    F_PCAP_VERSION: "unsupported pcap savefile version {a}.{b}",
    F_SHB_LENGTH: "Section Header Block in pcapng dump file has invalid length {a}",
    F_NG_VERSION: "unsupported pcapng savefile version {a}.{b}",
    F_NO_IDB: "the capture file has no Interface Description Blocks",
    F_PACKET_BEFORE_IDB: "the capture file has a packet block before any Interface "
                         "Description Blocks",
    F_TRUNC_RECORD_HEADER: "truncated dump file; tried to read {a} header bytes, only got {b}",
    F_TRUNC_RECORD_DATA: "truncated dump file; tried to read {a} captured bytes, only got {b}",
    F_CAPLEN: "invalid packet capture length {a}, bigger than {b}",   # b: see fault_text()
    F_TRUNC_BLOCK_HEADER: "truncated pcapng dump file; tried to read 8 bytes, only got {b}",
    F_TRUNC_BLOCK: "truncated pcapng dump file; tried to read {a} bytes, only got {b}",
    F_BLOCK_SHORT: "block in pcapng dump file has a length of {a} < 12",
    F_BLOCK_ALIGN: "block in pcapng dump file has a length of {a} that is not a multiple "
                   "of 4",
    F_BLOCK_BIG: "pcapng block size {a} > maximum {b}",
    F_TRAILER: "block total length in header and trailer don't match",
    F_BLOCK_TOO_SHORT: "block of type {a} in pcapng dump file is too short",
    F_BAD_BOM: "the file has a section with a bad byte order magic field",
    F_NG_MAJOR: "unknown pcapng savefile major version number {a}",
    F_NO_IFACE: "a packet arrived on interface {a}, but there's no Interface Description "
                "Block for that interface",
    F_OPT_ENDOFOPT: "Interface Description Block has opt_endofopt option with length {a} "
                    "!= 0",
    F_OPT_TSRESOL_LEN: "Interface Description Block has if_tsresol option with length {a} "
                       "!= 1",
    F_OPT_TSRESOL_TWICE: "Interface Description Block has more than one if_tsresol option",
    F_OPT_TSRESOL_BIN: "Interface Description Block if_tsresol option resolution 2^-{a} is "
                       "too high",
    F_OPT_TSRESOL_DEC: "Interface Description Block if_tsresol option resolution 10^-{a} "
                       "is too high",
    F_OPT_TSOFFSET_LEN: "Interface Description Block has if_tsoffset option with length {a} "
                        "!= 8",
    F_OPT_TSOFFSET_TWICE: "Interface Description Block has more than one if_tsoffset option",
    F_TOO_MANY_IFACES: "more than {a} interfaces in one section",
    F_LINKTYPE: "link type {b} of interface {a}",
}
assert len(FAULT_TEXT) == N_FAULTS - 1
#: the faults that wirescore.capture words itself
FAULT_GZIP = F_GZIP
FAULT_LINKTYPE = F_LINKTYPE
#: LINKTYPE_* values written in files that libpcap reports as another DLT (Linux values)
LINKTYPE_TO_DLT = {100: 11, 101: 12, 102: 15, 103: 16}
STOPS = {ST_NEED: "need", ST_FULL: "full", ST_LINKTYPE: "linktype", ST_PROGRAM: "program",
         ST_HEADER: "header", ST_END: "end", ST_FAULT: "fault"}
KIND_NAMES = {K_NONE: None, K_PCAP: "pcap", K_PCAPNG: "pcapng"}


# ---- byte order ----------------------------------------------------------------------------

cdef inline uint16_t rd16(const uint8_t* p, bint swapped) noexcept nogil:
    cdef uint16_t v
    memcpy(&v, p, 2)
    return bswap16(v) if swapped else v


cdef inline uint32_t rd32(const uint8_t* p, bint swapped) noexcept nogil:
    cdef uint32_t v
    memcpy(&v, p, 4)
    return bswap32(v) if swapped else v


cdef inline uint64_t rd64(const uint8_t* p, bint swapped) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, p, 8)
    return bswap64(v) if swapped else v


cdef inline int32_t to_dlt(uint32_t linktype) noexcept nogil:
    """libpcap's linktype_to_dlt() on Linux (LINKTYPE_TO_DLT)."""
    if linktype == 100:
        return 11
    if linktype == 101:
        return 12
    if linktype == 102:
        return 15
    if linktype == 103:
        return 16
    return <int32_t>linktype


cdef inline uint32_t adjust_snaplen(uint32_t snaplen) noexcept nogil:
    """libpcap's pcap_adjust_snapshot() (1.9): 0 or above 2**31-1 means the maximum."""
    if snaplen == 0 or snaplen > 0x7FFFFFFF:
        return MAX_CAPLEN
    return snaplen


# ---- outcomes ------------------------------------------------------------------------------

cdef inline int fault(PcapState* s, int what, uint64_t a, uint64_t b) noexcept nogil:
    s.fault = what
    s.fault_a = a
    s.fault_b = b
    return ST_FAULT


cdef inline int need(PcapState* s, uint64_t avail, uint64_t want, bint final, int what,
                     uint64_t a) noexcept nogil:
    """The next record needs `want` bytes and has `avail`: ST_NEED, or at the end of the
    input (final) the fault `what` (a, avail)."""
    if final:
        return fault(s, what, a, avail)
    s.need = want
    return ST_NEED


cdef void swap_nflog(uint8_t* p, uint32_t caplen, uint32_t length) noexcept nogil:
    """NFLOG TLV headers from the file's byte order to the host's, in place, as libpcap's
    swap_nflog_header() does for a byte-swapped capture."""
    cdef uint32_t size
    cdef uint16_t t, n
    if caplen < 4 or length < 4 or p[1] != 0:      # header: family, version 0, resource id
        return
    caplen -= 4
    length -= 4
    p += 4
    while caplen >= 4:
        memcpy(&t, p, 2)
        memcpy(&n, p + 2, 2)
        t = bswap16(t)
        n = bswap16(n)
        memcpy(p, &t, 2)
        memcpy(p + 2, &n, 2)
        size = n
        if size % 4:
            size += 4 - size % 4
        if size < 4 or caplen < size or length < size:
            return
        caplen -= size
        length -= size
        p += size


cdef inline BpfProgram* find_program(PcapState* s, int32_t linktype,
                                     bint swapped) noexcept nogil:
    cdef uint32_t i
    for i in range(s.n_programs):
        if s.programs[i].linktype == linktype and s.programs[i].swapped == swapped:
            return &s.programs[i]
    return NULL


cdef inline int emit(PcapState* s, uint8_t* buf, uint64_t data_at, uint32_t caplen,
                     uint32_t wirelen, uint32_t sec, uint32_t usec, int32_t linktype,
                     uint64_t iface, uint64_t next_pos, uint32_t* meta, uint32_t* rows,
                     uint32_t max_rows, uint64_t base) noexcept nogil:
    """One whole, valid packet record: a row (unless the filter rejects it), then
    consumed; or a reason to stop before it (batch full, other link type, no program
    yet). Returns -1 to go on, else ST_*."""
    cdef BpfProgram* prog = NULL
    cdef uint32_t* row
    if rows[0] >= max_rows:
        return ST_FULL
    if rows[0] > 0 and linktype != s.batch_linktype:
        return ST_LINKTYPE
    if s.filtering:
        prog = find_program(s, linktype, s.swapped)
        if prog == NULL:
            s.want_linktype = linktype
            s.want_swapped = s.swapped
            return ST_PROGRAM
    if s.swapped and linktype == DLT_NFLOG:
        swap_nflog(buf + data_at, caplen, wirelen)
    if prog != NULL and bpf_run(prog.insns, prog.n, buf + data_at, wirelen, caplen) == 0:
        s.records += 1
        s.pos = next_pos
        return -1
    if not linktype_supported(linktype):
        return fault(s, F_LINKTYPE, iface, <uint64_t>linktype)
    row = meta + 4 * rows[0]
    row[0] = sec
    row[1] = usec
    row[2] = <uint32_t>(data_at - base)
    row[3] = caplen
    rows[0] += 1
    s.batch_linktype = linktype
    s.records += 1
    s.pos = next_pos
    return -1


# ---- the file header ----------------------------------------------------------------------

cdef int file_header(PcapState* s, uint8_t* buf, uint64_t end, bint final) noexcept nogil:
    """The pcap file header, or the pcapng file's first section header block."""
    cdef uint64_t pos = s.pos, avail = end - s.pos
    cdef uint8_t* p = buf + pos
    cdef uint32_t magic, major, minor, total, linktype
    if avail < 4:
        return need(s, avail, 4, final, F_TRUNC_MAGIC, 4)
    if p[0] == 0x1F and p[1] == 0x8B:
        return fault(s, F_GZIP, 0, 0)
    magic = rd32(p, False)
    if magic == NG_SHB:
        if avail < 12:
            return need(s, avail, 12, final, F_UNKNOWN_FORMAT, 0)
        if rd32(p + 8, False) == NG_BOM:
            s.swapped = False
        elif rd32(p + 8, True) == NG_BOM:
            s.swapped = True
        else:
            return fault(s, F_UNKNOWN_FORMAT, 0, 0)
        total = rd32(p + 4, s.swapped)
        if total < 28 or total > MAX_SHB:
            return fault(s, F_SHB_LENGTH, total, 0)
        if avail < total:
            return need(s, avail - 8, total, final, F_TRUNC_BLOCK, total - 8)
        major = rd16(p + 12, s.swapped)
        minor = rd16(p + 14, s.swapped)
        if major != 1 or (minor != 0 and minor != 2):
            return fault(s, F_NG_VERSION, major, minor)
        s.kind = K_PCAPNG
        s.n_ifaces = 0
        s.pos = pos + total             # libpcap checks no trailer on the first section
        return -1
    s.nano = False
    s.rec_hdr = 16
    if magic == PCAP_USEC or magic == PCAP_NSEC or magic == PCAP_KUZNETZOV:
        s.swapped = False
    else:
        magic = bswap32(magic)
        if magic != PCAP_USEC and magic != PCAP_NSEC and magic != PCAP_KUZNETZOV:
            return fault(s, F_UNKNOWN_FORMAT, 0, 0)
        s.swapped = True
    if avail < 24:
        return need(s, avail, 24, final, F_TRUNC_FILE_HEADER, 24)
    major = rd16(p + 4, s.swapped)
    minor = rd16(p + 6, s.swapped)
    if major < 2:
        return fault(s, F_ARCHAIC, major, minor)
    if not ((major == 2 and minor <= 4) or (major == 543 and minor == 0)):
        return fault(s, F_PCAP_VERSION, major, minor)
    linktype = rd32(p + 20, s.swapped) & 0x03FFFFFF
    s.kind = K_PCAP
    s.nano = magic == PCAP_NSEC
    s.linktype = to_dlt(linktype)
    s.first_linktype = s.linktype
    s.snapshot = adjust_snaplen(rd32(p + 16, s.swapped))
    if major == 543 or minor < 3:
        s.lengths = L_ALWAYS
    elif minor == 3:
        s.lengths = L_MAYBE
    else:
        s.lengths = L_NOT
    if magic == PCAP_KUZNETZOV:
        s.rec_hdr = 24
        if s.linktype == 1:
            s.snapshot += 14
    s.pos = pos + 24
    return -1


# ---- classic pcap records -----------------------------------------------------------------

cdef int pcap_record(PcapState* s, uint8_t* buf, uint64_t end, bint final, uint32_t* meta,
                     uint32_t* rows, uint32_t max_rows, uint64_t base) noexcept nogil:
    cdef uint64_t pos = s.pos, avail = end - s.pos
    cdef uint32_t hdr = s.rec_hdr, sec, frac, caplen, length, keep, t
    cdef uint8_t* p = buf + pos
    if avail == 0 and final:
        return ST_END
    if avail < hdr:
        return need(s, avail, hdr, final, F_TRUNC_RECORD_HEADER, hdr)
    sec = rd32(p, s.swapped)
    frac = rd32(p + 4, s.swapped)
    caplen = rd32(p + 8, s.swapped)
    length = rd32(p + 12, s.swapped)
    if s.nano:
        # libpcap divides the signed 32-bit field (tv_usec)
        frac = <uint32_t>(<int32_t>frac // 1000)
    if s.lengths == L_ALWAYS or (s.lengths == L_MAYBE and caplen > length):
        t = caplen
        caplen = length
        length = t
    if caplen > MAX_CAPLEN:
        return fault(s, F_CAPLEN, caplen, s.snapshot)
    keep = caplen if caplen <= s.snapshot else s.snapshot
    if avail - hdr < caplen:
        return need(s, avail - hdr, <uint64_t>hdr + caplen, final, F_TRUNC_RECORD_DATA,
                    caplen)
    return emit(s, buf, pos + hdr, keep, length, sec, frac, s.linktype, 0,
                pos + hdr + caplen, meta, rows, max_rows, base)


# ---- pcapng blocks ------------------------------------------------------------------------

cdef int add_interface(PcapState* s, const uint8_t* body, uint32_t size) noexcept nogil:
    """An interface description block (body: after the block header, size bytes before
    the trailer): its link type, snaplen and clock, with libpcap's option checks."""
    cdef PcapIface iface
    cdef PcapIface* grown
    cdef const uint8_t* o = body + 8
    cdef uint32_t left = size - 8, code, olen, padded, cap, i
    cdef uint8_t res
    cdef bint seen_res = False, seen_off = False, binary = False
    memset(&iface, 0, sizeof(PcapIface))
    iface.linktype = to_dlt(rd16(body, s.swapped))
    iface.snaplen = adjust_snaplen(rd32(body + 4, s.swapped))
    iface.tsresol = USEC
    while left != 0:
        if left < 4:
            return fault(s, F_BLOCK_TOO_SHORT, NG_IDB, 0)
        code = rd16(o, s.swapped)
        olen = rd16(o + 2, s.swapped)
        padded = (olen + 3) & ~(<uint32_t>3)
        if left - 4 < padded:
            return fault(s, F_BLOCK_TOO_SHORT, NG_IDB, 0)
        if code == 0:
            if olen != 0:
                return fault(s, F_OPT_ENDOFOPT, olen, 0)
            break
        if code == 9:                   # if_tsresol
            if olen != 1:
                return fault(s, F_OPT_TSRESOL_LEN, olen, 0)
            if seen_res:
                return fault(s, F_OPT_TSRESOL_TWICE, 0, 0)
            seen_res = True
            res = o[4]
            if res & 0x80:
                if (res & 0x7F) > 63:
                    return fault(s, F_OPT_TSRESOL_BIN, res & 0x7F, 0)
                binary = True
                iface.tsresol = (<uint64_t>1) << (res & 0x7F)
            else:
                if res > 19:
                    return fault(s, F_OPT_TSRESOL_DEC, res, 0)
                binary = False
                iface.tsresol = 1
                for i in range(res):
                    iface.tsresol *= 10
        elif code == 14:                # if_tsoffset
            if olen != 8:
                return fault(s, F_OPT_TSOFFSET_LEN, olen, 0)
            if seen_off:
                return fault(s, F_OPT_TSOFFSET_TWICE, 0, 0)
            seen_off = True
            iface.tsoffset = rd64(o + 4, s.swapped)
        o += 4 + padded
        left -= 4 + padded
    if iface.tsresol == USEC:
        iface.scale = SC_PASS
    elif binary:
        iface.scale = SC_BIN
    elif iface.tsresol > USEC:
        iface.scale = SC_DOWN_DEC
        iface.factor = iface.tsresol // USEC
    else:
        iface.scale = SC_UP_DEC
        iface.factor = USEC // iface.tsresol
    if s.n_ifaces == MAX_IFACES:
        return fault(s, F_TOO_MANY_IFACES, MAX_IFACES, 0)
    if s.n_ifaces == s.cap_ifaces:
        cap = 16 if s.cap_ifaces == 0 else 2 * s.cap_ifaces
        grown = <PcapIface*>realloc(s.ifaces, cap * sizeof(PcapIface))
        if grown == NULL:
            return fault(s, F_TOO_MANY_IFACES, s.n_ifaces, 0)
        s.ifaces = grown
        s.cap_ifaces = cap
    s.ifaces[s.n_ifaces] = iface
    s.n_ifaces += 1
    if s.first_linktype < 0:
        s.first_linktype = iface.linktype
    return -1


cdef inline void ng_time(PcapIface* f, uint64_t t, uint32_t* sec, uint32_t* usec) noexcept nogil:
    """A pcapng timestamp of `t` ticks as libpcap converts it (uint64 arithmetic, the
    fraction truncated to microseconds; seconds and fraction kept as 32-bit fields)."""
    cdef uint64_t whole = t // f.tsresol + f.tsoffset
    cdef uint64_t frac = t % f.tsresol
    if f.scale == SC_UP_DEC:
        frac *= f.factor
    elif f.scale == SC_DOWN_DEC:
        frac //= f.factor
    elif f.scale == SC_BIN:
        frac = frac * USEC // f.tsresol
    sec[0] = <uint32_t>whole
    usec[0] = <uint32_t>frac


cdef int ng_block(PcapState* s, uint8_t* buf, uint64_t end, bint final, uint32_t* meta,
                  uint32_t* rows, uint32_t max_rows, uint64_t base) noexcept nogil:
    cdef uint64_t pos = s.pos, avail = end - s.pos
    cdef uint8_t* p = buf + pos
    cdef const uint8_t* body = p + 8
    cdef uint32_t btype, blen, size, iface, caplen, length, sec = 0, usec = 0
    cdef uint64_t t
    cdef bint swapped = s.swapped
    cdef PcapIface* f
    cdef int st
    if avail == 0 and final:
        return ST_END if s.first_linktype >= 0 else fault(s, F_NO_IDB, 0, 0)
    if avail < 8:
        return need(s, avail, 8, final, F_TRUNC_BLOCK_HEADER, 8)
    btype = rd32(p, swapped)
    if btype == NG_SHB:                 # a new section, maybe in the other byte order
        if avail < 12:
            return need(s, avail - 8, 12, final, F_TRUNC_BLOCK, 4)
        if rd32(p + 8, False) == NG_BOM:
            swapped = False
        elif rd32(p + 8, True) == NG_BOM:
            swapped = True
        else:
            return fault(s, F_BAD_BOM, 0, 0)
    blen = rd32(p + 4, swapped)
    if blen < 12:
        return fault(s, F_BLOCK_SHORT, blen, 0)
    if blen % 4:
        return fault(s, F_BLOCK_ALIGN, blen, 0)
    if blen > MAX_BLOCK:
        return fault(s, F_BLOCK_BIG, blen, MAX_BLOCK)
    if avail < blen:
        return need(s, avail - 8, blen, final, F_TRUNC_BLOCK, blen - 8)
    if rd32(p + blen - 4, swapped) != blen:
        return fault(s, F_TRAILER, 0, 0)
    size = blen - 12                    # the body, between header and trailer
    if btype == NG_SHB:
        if size < 16:
            return fault(s, F_BLOCK_TOO_SHORT, btype, 0)
        if rd16(body + 4, swapped) != 1:
            return fault(s, F_NG_MAJOR, rd16(body + 4, swapped), 0)
        s.swapped = swapped
        s.n_ifaces = 0
        s.pos = pos + blen
        return -1
    if btype == NG_IDB:
        if size < 8:
            return fault(s, F_BLOCK_TOO_SHORT, btype, 0)
        st = add_interface(s, body, size)
        if st == -1:
            s.pos = pos + blen
        return st
    if btype != NG_EPB and btype != NG_SPB and btype != NG_PB:
        s.pos = pos + blen              # name resolution, statistics, custom, ...: skipped
        return -1
    if s.first_linktype < 0:
        return fault(s, F_PACKET_BEFORE_IDB, 0, 0)
    if btype == NG_SPB:
        if size < 4:
            return fault(s, F_BLOCK_TOO_SHORT, btype, 0)
        if s.n_ifaces == 0:
            return fault(s, F_NO_IFACE, 0, 0)
        f = &s.ifaces[0]
        length = rd32(body, swapped)
        caplen = length if length <= f.snaplen else f.snaplen
        if caplen > MAX_CAPLEN:
            return fault(s, F_CAPLEN, caplen, f.snaplen)
        if caplen > size - 4:
            return fault(s, F_BLOCK_TOO_SHORT, btype, 0)
        ng_time(f, 0, &sec, &usec)
        return emit(s, buf, pos + 12, caplen, length, sec, usec, f.linktype, 0, pos + blen,
                    meta, rows, max_rows, base)
    if size < 20:
        return fault(s, F_BLOCK_TOO_SHORT, btype, 0)
    iface = rd32(body, swapped) if btype == NG_EPB else rd16(body, swapped)
    t = (<uint64_t>rd32(body + 4, swapped) << 32) | rd32(body + 8, swapped)
    caplen = rd32(body + 12, swapped)
    length = rd32(body + 16, swapped)
    if iface >= s.n_ifaces:
        return fault(s, F_NO_IFACE, iface, 0)
    f = &s.ifaces[iface]
    if caplen > f.snaplen or caplen > MAX_CAPLEN:
        return fault(s, F_CAPLEN, caplen, f.snaplen)
    if caplen > size - 20:
        return fault(s, F_BLOCK_TOO_SHORT, btype, 0)
    ng_time(f, t, &sec, &usec)
    return emit(s, buf, pos + 28, caplen, length, sec, usec, f.linktype, iface, pos + blen,
                meta, rows, max_rows, base)


# ---- the loop -----------------------------------------------------------------------------

cdef int pf_parse(PcapState* s, uint8_t* buf, uint64_t pos, uint64_t end, bint final,
                  uint32_t* meta, uint32_t* rows, uint32_t max_rows, uint64_t base,
                  bint header_only) noexcept nogil:
    """Records of buf[pos:end] until a reason to stop (ST_*); rows are appended to meta
    from rows[0] on, offsets relative to base. s.pos is where the next record starts.
    header_only: stop (ST_HEADER) as soon as the first link type is known."""
    cdef int st = -1
    s.pos = pos
    s.need = 0
    if rows[0] == 0:
        s.batch_linktype = -1
    while st == -1:
        if header_only and s.first_linktype >= 0:
            return ST_HEADER
        if s.kind == K_NONE:
            st = file_header(s, buf, end, final)
        elif s.kind == K_PCAP:
            st = pcap_record(s, buf, end, final, meta, rows, max_rows, base)
        else:
            st = ng_block(s, buf, end, final, meta, rows, max_rows, base)
    return st


# ---- Python face ------------------------------------------------------------------------

cdef class PcapReader:
    """Incremental reader of one capture stream (see the module docstring).

    parse(buf, pos, end, final, meta, rows, base, header_only=False) reads the records
    of buf[pos:end] (a writable buffer: byte-swapped NFLOG headers are fixed in place),
    appending rows to meta (an (N, 4) uint32 array) from index `rows`, with offsets
    relative to `base`; returns (stop, rows, pos): why it stopped (ST_* as a name from
    STOPS), the rows now in meta, and where the next record starts. final: no byte
    follows buf[end]. After "fault", fault_text() says what is wrong.

    filtering: every packet goes through the BPF program of its link type and byte order
    (add_program); parse() stops with "program" at a packet that has none yet.
    """
    cdef PcapState s

    def __cinit__(self, bint filtering=False):
        memset(&self.s, 0, sizeof(PcapState))
        self.s.filtering = filtering
        self.s.first_linktype = -1
        self.s.batch_linktype = -1
        self.s.want_linktype = -1

    def __dealloc__(self):
        cdef uint32_t i
        free(self.s.ifaces)
        for i in range(self.s.n_programs):
            free(self.s.programs[i].insns)

    def parse(self, unsigned char[::1] buf, uint64_t pos, uint64_t end, bint final,
              uint32_t[:, ::1] meta, uint32_t rows, uint64_t base, bint header_only=False):
        cdef uint8_t* data = &buf[0] if buf.shape[0] > 0 else &_EMPTY[0]
        cdef uint32_t* out
        cdef uint32_t max_rows = meta.shape[0]
        cdef int st
        if meta.shape[1] != 4:
            raise ValueError("meta must have 4 columns (sec, usec, offset, caplen)")
        if end > <uint64_t>buf.shape[0] or pos > end or base > pos:
            raise ValueError(f"bad range: base {base}, pos {pos}, end {end}, "
                             f"buffer {buf.shape[0]}")
        if rows > max_rows:
            raise ValueError(f"rows {rows} > meta rows {max_rows}")
        if end - base > 0xFFFFFFFF:
            raise ValueError("a batch spans more than 4 GiB")
        out = &meta[0, 0] if max_rows > 0 else <uint32_t*>&_EMPTY[0]
        with nogil:
            st = pf_parse(&self.s, data, pos, end, final, out, &rows, max_rows, base,
                          header_only)
        return STOPS[st], rows, self.s.pos

    def add_program(self, int linktype, bint swapped, insns):
        """Filter packets of `linktype` in sections of byte order `swapped` (the other
        than this host's) with a BPF program: a sequence of (code, jt, jf, k), as
        libpcap compiles it for such a file; ValueError if it is not valid (bpf_valid),
        or when the reader was not made with filtering."""
        cdef BpfProgram* prog
        if not self.s.filtering:
            raise ValueError("this reader does not filter (PcapReader(filtering=True))")
        if not bpf_valid(insns):
            raise ValueError(f"not a valid BPF program for link type {linktype}")
        if find_program(&self.s, linktype, swapped) != NULL:
            raise ValueError(f"link type {linktype} has a program already")
        if self.s.n_programs == MAX_PROGRAMS:
            raise ValueError(f"more than {MAX_PROGRAMS} link types to filter")
        prog = &self.s.programs[self.s.n_programs]
        prog.insns = _insns(insns)
        prog.n = len(insns)
        prog.linktype = linktype
        prog.swapped = swapped
        self.s.n_programs += 1

    def fault_text(self):
        """The last fault as one line (libpcap's words where libpcap has them)."""
        a, b = self.s.fault_a, self.s.fault_b
        if self.s.fault == F_CAPLEN:        # b: the snaplen that applied
            b = f"snaplen of {b}" if a > b else f"maximum of {MAX_CAPLEN}"
        return FAULT_TEXT.get(self.s.fault, "no fault").format(a=a, b=b)

    @property
    def fault(self):
        """The last fault (F_* value; 0: none)."""
        return self.s.fault

    @property
    def fault_args(self):
        """The last fault's two numbers (F_LINKTYPE: interface, DLT)."""
        return self.s.fault_a, self.s.fault_b

    @property
    def kind(self):
        """"pcap", "pcapng", or None before the file header."""
        return KIND_NAMES[self.s.kind]

    @property
    def first_linktype(self):
        """DLT of the first interface (-1 until known)."""
        return self.s.first_linktype

    @property
    def want_linktype(self):
        """After "program": the link type that needs a BPF program."""
        return self.s.want_linktype

    @property
    def want_swapped(self):
        """After "program": whether that section's byte order is not this host's."""
        return bool(self.s.want_swapped)

    @property
    def swapped(self):
        """The current section (pcap: the file) is in the other byte order than this
        host's."""
        return bool(self.s.swapped)

    @property
    def batch_linktype(self):
        """DLT of the rows the last parse() returned (-1 for none)."""
        return self.s.batch_linktype

    @property
    def need(self):
        """After "need": bytes from pos that the next record needs at least."""
        return self.s.need

    @property
    def records(self):
        """Packet records read so far (those a filter rejected too)."""
        return self.s.records

    @property
    def interfaces(self):
        """pcapng: (DLT, snaplen) of the current section's interfaces; pcap: one."""
        if self.s.kind == K_PCAP:
            return [(self.s.linktype, self.s.snapshot)]
        return [(self.s.ifaces[i].linktype, self.s.ifaces[i].snaplen)
                for i in range(self.s.n_ifaces)]


cdef BpfInsn* _insns(insns) except NULL:
    cdef Py_ssize_t n = len(insns), i
    cdef BpfInsn* out = <BpfInsn*>malloc(max(1, n) * sizeof(BpfInsn))
    if out == NULL:
        raise MemoryError()
    for i in range(n):
        code, jt, jf, k = insns[i]
        out[i].code = code
        out[i].jt = jt
        out[i].jf = jf
        out[i].k = k
    return out


def bpf_valid(insns):
    """libpcap's bpf_validate(), made as strict as its interpreter: 1..4096 instructions,
    each one bpf_filter() knows (the exact code), every jump forward and inside the
    program, scratch indexes < 16, no division by a constant 0, the last instruction a
    return. Fields out of range (code > 0xff, jt > 255, ...) are invalid."""
    cdef Py_ssize_t n = len(insns), i
    if not 0 < n <= BPF_MAXINSNS:
        return False
    for i in range(n):
        try:
            code, jt, jf, k = insns[i]
        except (TypeError, ValueError):
            return False
        # code above 0xff: libpcap's validator lets such bits through, its interpreter
        # then aborts
        if not (0 <= code <= 0xFF and 0 <= jt <= 255 and 0 <= jf <= 255
                and 0 <= k <= 0xFFFFFFFF):
            return False
        cls = code & 0x07
        if cls == 0x00 or cls == 0x01:              # LD, LDX
            mode = code & 0xE0
            if mode == 0x60 and k >= BPF_MEMWORDS:
                return False
            if code not in (0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x80, 0x00, 0x60,
                            0x81, 0xB1, 0x01, 0x61):
                return False
        elif cls == 0x02 or cls == 0x03:            # ST, STX
            if code not in (0x02, 0x03) or k >= BPF_MEMWORDS:
                return False
        elif cls == 0x04:                           # ALU
            op = code & 0xF0
            if code != 0x84 and (op not in (0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70,
                                            0x90, 0xA0) or code & 0x07 != 0x04):
                return False
            if (op == 0x30 or op == 0x90) and not code & 0x08 and k == 0:
                return False
        elif cls == 0x05:                           # JMP
            if code == 0x05:
                if k >= n - i - 1:
                    return False
            elif (code & 0xF0) in (0x10, 0x20, 0x30, 0x40):
                if i + 1 + jt >= n or i + 1 + jf >= n:
                    return False
            else:
                return False
        elif cls == 0x06:                           # RET
            if code not in (0x06, 0x16):
                return False
        elif code not in (0x07, 0x87):              # MISC
            return False
    return insns[n - 1][0] in (0x06, 0x16)


def bpf_filter(insns, const uint8_t[::1] frame, uint32_t wirelen):
    """Run a valid BPF program over one frame (its captured bytes; wirelen for BPF_LEN)
    as the reader does; the program's return value (0 = reject). For tests and fuzzing."""
    cdef BpfInsn* prog
    cdef const uint8_t* data = &frame[0] if frame.shape[0] > 0 else &_EMPTY[0]
    cdef uint32_t n = len(insns), buflen = frame.shape[0], out
    if not bpf_valid(insns):
        raise ValueError("not a valid BPF program")
    prog = _insns(insns)
    try:
        with nogil:
            out = bpf_run(prog, n, data, wirelen, buflen)
    finally:
        free(prog)
    return out


def bpf_run_unchecked(insns, const uint8_t[::1] frame, uint32_t wirelen):
    """bpf_filter() without bpf_valid(): any instructions (fields masked to their C
    widths), for the fuzzer to check that even a program libpcap would refuse reads and
    jumps only inside its arrays."""
    cdef Py_ssize_t n = len(insns), i
    cdef BpfInsn* prog = <BpfInsn*>malloc(max(1, n) * sizeof(BpfInsn))
    cdef const uint8_t* data = &frame[0] if frame.shape[0] > 0 else &_EMPTY[0]
    cdef uint32_t buflen = frame.shape[0], out
    if prog == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            code, jt, jf, k = insns[i]
            prog[i].code = code & 0xFFFF
            prog[i].jt = jt & 0xFF
            prog[i].jf = jf & 0xFF
            prog[i].k = k & 0xFFFFFFFF
        with nogil:
            out = bpf_run(prog, <uint32_t>n, data, wirelen, buflen)
    finally:
        free(prog)
    return out
