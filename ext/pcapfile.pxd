# The capture-file reader: classic pcap and pcapng records in a byte buffer -> meta rows
# (sec, usec, offset, caplen) pointing into that buffer. State carried between buffers
# (format, byte order, interfaces, BPF programs) lives in PcapState; pcapfile.pyx has the
# parser and its rules (see its module docstring).

from libc.stdint cimport uint8_t, uint32_t, uint64_t, int32_t
from bpf cimport BpfInsn

cdef enum:
    MAX_CAPLEN = 262144         # libpcap's MAXIMUM_SNAPLEN: a longer record is damaged
    MAX_BLOCK = 16777216        # libpcap's largest pcapng block (INITIAL_MAX_BLOCKSIZE)
    MAX_SHB = 1048576           # libpcap's largest first section header (BT_SHB_INSANE_MAX)
    MAX_IFACES = 65536          # interfaces per pcapng section
    MAX_PROGRAMS = 64           # (link type, byte order) pairs with a BPF program

# file kinds
cdef enum:
    K_NONE = 0                  # the file header is not read yet
    K_PCAP = 1
    K_PCAPNG = 2

# classic pcap: are a record's caplen and len fields swapped (libpcap lengths_swapped)
cdef enum:
    L_NOT = 0
    L_MAYBE = 1                 # version 2.3: when caplen > len
    L_ALWAYS = 2                # versions < 2.3 and 543.0

# pcapng: converting a timestamp's fraction to microseconds
cdef enum:
    SC_PASS = 0                 # the interface ticks in microseconds
    SC_UP_DEC = 1               # a coarser power of 10: times factor
    SC_DOWN_DEC = 2             # a finer power of 10: divided by factor (truncates)
    SC_BIN = 3                  # a power of 2: times 10**6, divided by ticks (uint64)

# why parse() returned
cdef enum:
    ST_NEED = 0                 # the next record is not whole: s.need bytes from s.pos
    ST_FULL = 1                 # the batch holds max_rows rows
    ST_LINKTYPE = 2             # the next packet's link type is not the batch's
    ST_PROGRAM = 3              # no BPF program for the next packet's link type (want_*)
    ST_HEADER = 4               # header_only: the first link type is known
    ST_END = 5                  # final, and the input ended after a whole record
    ST_FAULT = 6                # damaged (s.fault, s.fault_a, s.fault_b); the rows are good

# what is wrong (messages in pcapfile.pyx FAULT_TEXT, beside these names)
cdef enum:
    F_NONE = 0
    F_UNKNOWN_FORMAT = 1
    F_GZIP = 2
    F_TRUNC_MAGIC = 3
    F_TRUNC_FILE_HEADER = 4
    F_ARCHAIC = 5
    F_PCAP_VERSION = 6
    F_SHB_LENGTH = 7
    F_NG_VERSION = 8
    F_NO_IDB = 9
    F_PACKET_BEFORE_IDB = 10
    F_TRUNC_RECORD_HEADER = 11
    F_TRUNC_RECORD_DATA = 12
    F_CAPLEN = 13
    F_TRUNC_BLOCK_HEADER = 14
    F_TRUNC_BLOCK = 15
    F_BLOCK_SHORT = 16
    F_BLOCK_ALIGN = 17
    F_BLOCK_BIG = 18
    F_TRAILER = 19
    F_BLOCK_TOO_SHORT = 20
    F_BAD_BOM = 21
    F_NG_MAJOR = 22
    F_NO_IFACE = 23
    F_OPT_ENDOFOPT = 24
    F_OPT_TSRESOL_LEN = 25
    F_OPT_TSRESOL_TWICE = 26
    F_OPT_TSRESOL_BIN = 27
    F_OPT_TSRESOL_DEC = 28
    F_OPT_TSOFFSET_LEN = 29
    F_OPT_TSOFFSET_TWICE = 30
    F_TOO_MANY_IFACES = 31
    F_LINKTYPE = 32
    N_FAULTS = 33

cdef struct PcapIface:
    uint64_t tsresol            # timestamp ticks per second
    uint64_t tsoffset           # seconds added to every timestamp
    uint64_t factor             # SC_UP_DEC / SC_DOWN_DEC
    uint32_t snaplen            # as libpcap adjusts it (0 or > 2**31-1 -> 262144)
    int32_t linktype            # libpcap DLT
    uint8_t scale               # SC_*

cdef struct BpfProgram:
    BpfInsn* insns
    uint32_t n
    int32_t linktype
    bint swapped                # for sections in the other byte order (libpcap compiles
                                # loopback AF_ constants swapped for them)

cdef struct PcapState:
    uint8_t kind                # K_*
    bint swapped                # pcap: the file; pcapng: the current section
    bint nano                   # pcap: nanosecond timestamps
    uint8_t lengths             # pcap: L_*
    uint32_t rec_hdr            # pcap: record header bytes (16, Kuznetzov's 24)
    uint32_t snapshot           # pcap: the adjusted snaplen records are cut to
    int32_t linktype            # pcap: the file's DLT
    int32_t first_linktype      # the first interface's DLT; -1 until known
    PcapIface* ifaces           # pcapng: the current section's interfaces
    uint32_t n_ifaces
    uint32_t cap_ifaces
    uint64_t records            # packet records read so far (filtered out ones too)
    bint filtering              # run the BPF program of each packet's link type
    uint32_t n_programs
    BpfProgram programs[MAX_PROGRAMS]
    # what the last parse() left
    uint64_t pos                # where the next record starts
    uint64_t need               # ST_NEED: bytes from pos that the next record needs
    int32_t batch_linktype      # the link type of the rows returned
    int32_t want_linktype       # ST_PROGRAM: the link type and byte order needing one
    bint want_swapped
    int fault                   # F_*
    uint64_t fault_a
    uint64_t fault_b
