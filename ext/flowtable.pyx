"""The flow meter: batches of captured frames in, finished flow records out.

FlowMeter.feed() runs over a whole pcapy-ng next_batch() result without the GIL:
decode (decode.pxd, inlined) -> flow lookup/insert -> per-flow accumulators. Flows
that end (idle or active timeout, TCP teardown after its linger, eviction, shutdown)
are written as FlowRecord structs into a fixed output buffer; drain() hands them to
Python as a numpy structured array (RECORD_DTYPE, derived from the C struct).

Expiry rules (all on packet time, so replaying a file is deterministic):
- idle: a flow ends when no packet came for longer than the timeout of its class
  (protocol x state: tcp new/established/closed, udp/icmp/other new/established).
  "established" means packets were seen in both directions; a TCP flow is "closed"
  after FIN in both directions or an RST (unless tcp_close is off), and then lingers
  for the closed timeout so that final ACKs and retransmissions join it;
- active: a flow older than active_timeout ends at its next packet, which starts a
  new flow with the same key;
- TCP reuse: a SYN (without ACK) on a closed flow ends it and starts a new flow;
- eviction: with max_flows live flows, a new flow evicts the least recently seen
  flow (reason "forced"), counted in flow.wrk.flows_evicted;
- shutdown: shutdown() ends every remaining flow.
A flow's expiry is checked when its next packet arrives, and flows nobody touches are
swept once per second of packet time (or by expire() on a live clock).
"""
import numpy as np
cimport cython
cimport numpy as cnp

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcmp, memcpy, memset
from libc.math cimport sqrt

from counters cimport *
from decode cimport (PacketView, decode_frame, linktype_supported, RES_IP,
                     FRAG_NONE, FRAG_FIRST, FRAG_LATER, TH_SYN, TH_ACK, TH_FIN, TH_RST,
                     tcp_flags_bad)
from flowtable cimport *
from windows cimport (WinAcc, WindowRecord, win_slot, win_add, win_record, WIN_KEYS,
                      WIN_PROBE, WIN_KINDS, WIN_KIND_ALL, WIN_KIND_SRC, WIN_KIND_DST)
from context cimport (HostCtx, PairCtx, PortCtx, host_get, pair_touch, port_touch,
                      ctx_hash16, HostHist, hist_get, hist_add, hist_sub, hist_sums,
                      HIST_SETS_SHIFT, AROUND_US,
                      H_OUT, H_NEW_DST, H_NEW_PORT, H_IN, H_NEW_SRC, H_UNANS_NEW_DST,
                      H_UNANS_NEW_PORT, H_UNANS_NEW_SVC, H_FIELDS,
                      CTX_WAYS, CTX_HOST_SETS, ScanCtx, scan_get, scan_set, scan_unanswered,
                      scan_is_icmp, scan_service, SCAN_BY_SERVICE, SCAN_BY_SERVER,
                      SCAN_OF_SERVER)

cnp.import_array()

# Names of the counter slots, in the order of includes/counters.pxd.
COUNTER_NAMES = (
    "decoder.pkts", "decoder.bytes", "wirescore.decoded_ip", "wirescore.nonip",
    "decoder.invalid",
    "decoder.ethernet", "decoder.sll", "decoder.sll2", "decoder.raw", "decoder.null",
    "wirescore.nflog", "decoder.ppp", "decoder.chdlc", "decoder.vlan", "decoder.vlan_qinq", "decoder.mpls",
    "decoder.pppoe", "decoder.ipv4", "decoder.ipv6", "decoder.tcp", "decoder.udp",
    "decoder.sctp", "decoder.icmpv4", "decoder.icmpv6", "wirescore.other_ip",
    "defrag.ipv4.fragments", "defrag.ipv6.fragments", "wirescore.frag_matched",
    "wirescore.frag_unmatched", "wirescore.snapped",
    "decoder.arp", "decoder.unknown_ethertype", "wirescore.nonip_null",
    "wirescore.nonip_nflog", "wirescore.nonip_ppp",
    "capture.errors",
    "decoder.event.ethernet.pkt_too_small", "decoder.event.vlan.header_too_small",
    "decoder.event.vlan.too_many_layers", "decoder.event.mpls.header_too_small",
    "decoder.event.mpls.unknown_payload_type", "decoder.event.pppoe.pkt_too_small",
    "decoder.event.sll.pkt_too_small", "decoder.event.sll2.pkt_too_small",
    "decoder.event.ltnull.pkt_too_small", "wirescore.nflog_pkt_too_small",
    "wirescore.nflog_bad_tlv", "decoder.event.ppp.pkt_too_small",
    "decoder.event.chdlc.pkt_too_small", "decoder.event.ipraw.invalid_ip_version",
    "decoder.event.ipv4.pkt_too_small", "decoder.event.ipv4.wrong_ip_version",
    "decoder.event.ipv4.hlen_too_small", "decoder.event.ipv4.iplen_smaller_than_hlen",
    "decoder.event.ipv4.trunc_pkt",
    "decoder.event.ipv6.pkt_too_small", "decoder.event.ipv6.wrong_ip_version",
    "decoder.event.ipv6.trunc_exthdr",
    "decoder.event.tcp.pkt_too_small", "decoder.event.tcp.hlen_too_small",
    "decoder.event.tcp.invalid_optlen", "decoder.event.udp.pkt_too_small",
    "decoder.event.sctp.pkt_too_small", "decoder.event.icmpv4.pkt_too_small",
    "decoder.event.icmpv6.pkt_too_small",
    "flow.total", "flow.tcp", "flow.udp", "flow.icmpv4", "flow.icmpv6", "wirescore.flow_other",
    "flow.mgr.flows_timeout", "wirescore.flow_active_timeout", "wirescore.flow_tcp_fin",
    "wirescore.flow_tcp_rst", "flow.wrk.flows_evicted", "wirescore.flow_shutdown",
    "flow.tcp_reuse", "flow.end.state.new", "flow.end.state.established",
    "flow.end.state.closed", "wirescore.ts_backwards", "defrag.tracker_hard_reuse",
    "wirescore.ctx_host_replaced", "wirescore.ctx_pair_replaced", "wirescore.ctx_port_replaced",
    "wirescore.ctx_hist_replaced", "wirescore.ctx_scan_replaced",
    "wirescore.windows", "wirescore.window_keys_dropped",
)
N_COUNTER_SLOTS = N_COUNTERS
assert len(COUNTER_NAMES) == N_COUNTERS, (len(COUNTER_NAMES), N_COUNTERS)

REASON_NAMES = ("none", "timeout", "timeout", "tcp_fin", "tcp_rst", "forced", "shutdown")
STATE_NAMES = ("new", "established", "closed")
TCP_STATE_NAMES = ("none", "syn_sent", "syn_recv", "established", "fin_wait1", "closed")
TIMEOUT_CLASSES = ("tcp.new", "tcp.established", "tcp.closed", "udp.new", "udp.established",
                   "icmp.new", "icmp.established", "other.new", "other.established")

cdef FlowRecord _dummy_record
RECORD_DTYPE = np.asarray(<FlowRecord[:1]>(&_dummy_record)).dtype
cdef WindowRecord _dummy_window
WINDOW_DTYPE = np.asarray(<WindowRecord[:1]>(&_dummy_window)).dtype
WINDOW_KINDS = ("all", "src", "dst")
ENTRY_BYTES = sizeof(FlowEntry)
if sizeof(FlowKey) != 48:
    raise ImportError("FlowKey must be 48 bytes (hash_key reads 6 words)")

cdef int64_t FRAG_TTL_US = 60000000   # a first fragment's ports are kept 60 s
cdef int64_t SWEEP_US = 1000000       # idle sweep granularity: 1 s of packet time
cdef uint32_t UNSEEN32 = 0xFFFFFFFF   # handshake delay not observed


cdef inline uint64_t mix64(uint64_t h) noexcept nogil:
    # splitmix64 finaliser
    h ^= h >> 30
    h *= 0xbf58476d1ce4e5b9ULL
    h ^= h >> 27
    h *= 0x94d049bb133111ebULL
    h ^= h >> 31
    return h


cdef inline uint64_t hash_key(const FlowKey* k) noexcept nogil:
    # copy out as words with memcpy: reading the struct through a uint64_t pointer
    # breaks C's aliasing rules, and after inlining gcc then hashes stale fields
    cdef uint64_t w[6]          # sizeof(FlowKey) == 48, checked at import
    cdef uint64_t h = 0x9E3779B97F4A7C15ULL
    cdef int i
    memcpy(w, k, sizeof(FlowKey))
    for i in range(6):
        h = mix64(h ^ w[i])
    return h


cdef extern from *:
    """
    #define WS_PREFETCH(p) __builtin_prefetch((p), 0, 1)
    """
    void prefetch "WS_PREFETCH"(const void* p) noexcept nogil

cdef enum:
    CHUNK = 16          # packets decoded ahead of the table lookups (see _feed)

# FlowEntry.ctx_bits: what the flow was to its endpoints' context (context.pxd)
cdef enum:
    CB_ATTEMPT = 1      # its first packet was a connection attempt (scan tables' rule)
    CB_NEW_DST = 2      # its server was new to its client (no flow between them in 600 s)
    CB_NEW_PORT = 4     # its (protocol, port) was new to its client
    CB_NEW_SVC = 8      # its (protocol, port) was new to its server


cdef inline uint64_t make_key(PacketView* v, FlowKey* key) noexcept nogil:
    """Canonical key of a decoded packet; returns its hash. key.pad[0] is set to 1 when
    the packet's source is endpoint a (it is zeroed in the stored key)."""
    cdef int c = memcmp(v.src, v.dst, 16)
    cdef bint src_is_a = c < 0 or (c == 0 and v.sport <= v.dport)
    cdef uint64_t h
    memset(key, 0, sizeof(FlowKey))
    if src_is_a:
        memcpy(key.addr_a, v.src, 16)
        memcpy(key.addr_b, v.dst, 16)
        key.port_a = v.sport
        key.port_b = v.dport
    else:
        memcpy(key.addr_a, v.dst, 16)
        memcpy(key.addr_b, v.src, 16)
        key.port_a = v.dport
        key.port_b = v.sport
    key.vlan0 = v.vlan0
    key.vlan1 = v.vlan1
    key.nvlan = v.nvlan
    key.proto = v.proto
    key.ipver = v.ipver
    h = hash_key(key)
    key.pad[0] = src_is_a
    return h


cdef inline bint _unicast(const uint8_t* a, uint8_t ipver) noexcept nogil:
    """Not multicast (224.0.0.0/4, ff00::/8) nor the IPv4 limited broadcast."""
    if ipver == 4:
        return (a[0] & 0xF0) != 0xE0 and not (a[0] == 255 and a[1] == 255 and a[2] == 255
                                              and a[3] == 255)
    return a[0] != 0xFF


cdef inline void _hist_count(HostHist* h, int64_t when, int field, bint take_back) noexcept nogil:
    """Count one event of `field` at `when` in h, or take one back (nothing for h NULL:
    the host's history was replaced)."""
    if h == NULL:
        return
    if take_back:
        hist_sub(h, when, field)
    else:
        hist_add(h, when, field)


cdef inline bint _unspecified(const uint8_t* a, uint8_t ipver) noexcept nogil:
    """0.0.0.0 or :: (a DHCP client without an address)."""
    cdef int i
    for i in range(4 if ipver == 4 else 16):
        if a[i]:
            return False
    return True


cdef uint8_t _EMPTY[1]          # the base address of an empty batch (FlowMeter.feed)
cdef uint8_t _NO_ADDR[16]       # zeros: the second half of a SCAN_OF_SERVER key


cdef object _copy_out(const void* src, Py_ssize_t n, size_t size, object dtype):
    """n structs of `size` bytes at src as a new numpy array of dtype, in one memcpy
    (ndarray.copy() of a structured dtype copies field by field: a twentieth of the
    core's time)."""
    cdef cnp.ndarray arr = np.empty(n, dtype=dtype)
    if n:
        memcpy(cnp.PyArray_DATA(arr), src, n * size)
    return arr


cdef bint _pow2_between(unsigned long long n, unsigned long long lo,
                        unsigned long long hi):
    """n is a power of two in [lo, hi]."""
    return lo <= n <= hi and (n & (n - 1)) == 0


cdef inline uint32_t sat32(int64_t x) noexcept nogil:
    if x < 0:
        return 0
    if x > <int64_t>0xFFFFFFFEU:
        return 0xFFFFFFFEU
    return <uint32_t>x


@cython.final
cdef class FlowMeter:
    """Decode and meter frames of one link type into bidirectional flows.

    Parameters
    ----------
    linktype : int
        libpcap DLT of every frame fed (ValueError if the decoder lacks it).
    max_flows : int
        Live flows at most; memory is about ENTRY_BYTES per live flow (touched
        lazily) plus 4 bytes per hash bucket. When full, the least recently seen
        flow is evicted (reason "forced").
    timeouts : sequence of 9 floats, seconds
        Idle timeouts in TIMEOUT_CLASSES order.
    active_timeout : float, seconds
        A flow older than this ends at its next packet.
    tcp_close : bool
        End TCP flows on FIN both ways or RST (after the tcp.closed linger).
    out_capacity : int
        Flow records buffered before feed() returns early so Python can drain().
    context : bool
        Keep endpoint context (context.pxd, about 27 MB) and fill the ctx_* fields.
    window_seconds, window_keys : float, sequence of "all" / "src" / "dst"
        Traffic windows (windows.pxd) of this length in packet time, one record per
        key and window, taken with drain_windows(); none when window_keys is empty.
    context_hosts : int
        Hosts the context tables hold (a power of two, 16 to 2**24; default 65,536,
        about 27 MB): context_hosts / 4 sets of 4 ways, twice as many for pairs and
        (client or server, service) ports, a quarter as many for the 128 s histories. A host
        replaced while still live is counted (wirescore.ctx_*_replaced).
    window_max_keys : int
        Keys (source or destination addresses) per kind and window (a power of two,
        16 to 2**24; default 16,384; about 550 bytes per key and kind: the table and
        room for two windows of records); packets of further keys are counted in
        wirescore.window_keys_dropped.
    ring_bytes : int
        Keep the most recent IP packets (bytes as captured, with time and flow id) in
        a ring of this many bytes, for evidence snippets (ring_flow(), ring_between());
        0: no ring. Index: one 32-byte record per 64 ring bytes.
    """
    cdef FlowEntry* entries
    cdef int32_t* buckets
    cdef FlowRecord* out
    cdef FragSlot* frags
    cdef uint64_t* cnt
    cdef uint64_t* ethertypes
    cdef WinAcc* win[WIN_KINDS]
    cdef uint32_t* win_used[WIN_KINDS]
    cdef uint32_t win_n[WIN_KINDS]
    cdef WindowRecord* win_out
    cdef uint32_t win_out_n, win_out_cap, win_keys, win_room
    cdef int64_t win_len_us, win_start, win_end
    cdef int win_kinds
    cdef uint8_t* ring
    cdef RingRec* ring_recs
    cdef uint64_t ring_size, ring_head
    cdef uint32_t ring_slots, ring_first, ring_count
    cdef HostCtx* hosts
    cdef PairCtx* pairs
    cdef PortCtx* ports
    cdef HostHist* hist
    cdef ScanCtx* scans
    cdef uint64_t host_sets, pair_sets, hist_sets, scan_sets
    cdef bint context
    cdef uint32_t max_flows, nbuckets, frag_slots, out_cap, out_n
    cdef uint32_t high_water, n_active, reserve
    cdef int32_t free_head
    cdef int32_t heads[N_TC]
    cdef int32_t tails[N_TC]
    cdef int64_t timeout_us[N_TC]
    cdef int64_t active_us
    cdef int64_t now_us
    cdef int64_t next_sweep
    cdef bint tcp_close
    cdef int linktype

    def __cinit__(self, int linktype, unsigned int max_flows=1 << 20, timeouts=None,
                  double active_timeout=1800.0, bint tcp_close=True,
                  unsigned int out_capacity=65536, unsigned int frag_slots=16384,
                  bint context=True, double window_seconds=0.0, window_keys=(),
                  unsigned long long ring_bytes=0,
                  unsigned int context_hosts=CTX_HOST_SETS * CTX_WAYS,
                  unsigned int window_max_keys=WIN_KEYS):
        cdef int i
        if not linktype_supported(linktype):
            raise ValueError(f"unsupported link type {linktype}")
        if max_flows < 1 or max_flows > (1 << 30):
            raise ValueError("max_flows must be between 1 and 2**30")
        if not _pow2_between(context_hosts, 4 * CTX_WAYS, 1 << 24):
            raise ValueError(f"context_hosts must be a power of two from {4 * CTX_WAYS} "
                             f"to 2**24, not {context_hosts}")
        if not _pow2_between(window_max_keys, WIN_PROBE, 1 << 24):
            raise ValueError(f"window_max_keys must be a power of two from {WIN_PROBE} "
                             f"to 2**24, not {window_max_keys}")
        if out_capacity < 4 * CHUNK:
            raise ValueError(f"out_capacity must be at least {4 * CHUNK}")
        if timeouts is None:
            timeouts = (60, 600, 60, 30, 300, 30, 300, 30, 300)
        if len(timeouts) != N_TC:
            raise ValueError(f"timeouts needs {N_TC} values: {TIMEOUT_CLASSES}")
        for i in range(N_TC):
            if not timeouts[i] > 0:
                raise ValueError(f"timeout {TIMEOUT_CLASSES[i]} must be > 0")
            self.timeout_us[i] = <int64_t>(min(float(timeouts[i]), 1e12) * 1e6)  # 1e12 s: never
            self.heads[i] = -1
            self.tails[i] = -1
        if not active_timeout > 0:
            raise ValueError("active_timeout must be > 0")
        self.active_us = <int64_t>(min(active_timeout, 1e12) * 1e6)
        self.linktype = linktype
        self.tcp_close = tcp_close
        self.max_flows = max_flows
        self.nbuckets = 1
        while self.nbuckets < max_flows:
            self.nbuckets <<= 1
        self.frag_slots = 1
        while self.frag_slots < frag_slots:
            self.frag_slots <<= 1
        self.out_cap = out_capacity
        self.entries = <FlowEntry*>calloc(max_flows, sizeof(FlowEntry))
        self.buckets = <int32_t*>calloc(self.nbuckets, sizeof(int32_t))
        self.out = <FlowRecord*>calloc(out_capacity, sizeof(FlowRecord))
        self.frags = <FragSlot*>calloc(self.frag_slots, sizeof(FragSlot))
        self.cnt = <uint64_t*>calloc(N_COUNTERS, sizeof(uint64_t))
        self.ethertypes = <uint64_t*>calloc(65536, sizeof(uint64_t))
        self.win_kinds = 0
        for name in window_keys:
            if name not in WINDOW_KINDS:
                raise ValueError(f"window key {name!r}: one of {WINDOW_KINDS}")
            self.win_kinds |= 1 << WINDOW_KINDS.index(name)
        if window_seconds < 0 or (self.win_kinds and not window_seconds > 0):
            raise ValueError("window_seconds must be > 0 when window keys are given")
        self.win_len_us = <int64_t>(window_seconds * 1e6) if self.win_kinds else 0
        self.win_start = 0
        self.win_end = -1
        self.win_keys = window_max_keys
        if self.win_kinds:
            for i in range(WIN_KINDS):
                if self.win_kinds & (1 << i):
                    self.win[i] = <WinAcc*>calloc(self.win_keys, sizeof(WinAcc))
                    self.win_used[i] = <uint32_t*>calloc(self.win_keys, sizeof(uint32_t))
                    if self.win[i] == NULL or self.win_used[i] == NULL:
                        raise MemoryError("cannot allocate the window tables")
                    self.win_room += self.win_keys
            # feed() starts a chunk only while out_n <= win_room (one full set of tables);
            # within the chunk, closes emit at most the keys live at its start (<=
            # win_room) plus one new key per packet and kind
            self.win_out_cap = 2 * self.win_room + CHUNK * WIN_KINDS
            self.win_out = <WindowRecord*>calloc(self.win_out_cap, sizeof(WindowRecord))
            if self.win_out == NULL:
                raise MemoryError("cannot allocate the window records")
        if ring_bytes:
            if ring_bytes < 65536 or ring_bytes > (1 << 32) - 1:
                raise ValueError("ring_bytes must be between 64 KiB and 4 GiB")
            self.ring_size = ring_bytes
            self.ring_slots = <uint32_t>(ring_bytes // 64)
            self.ring = <uint8_t*>malloc(ring_bytes)
            self.ring_recs = <RingRec*>malloc(self.ring_slots * sizeof(RingRec))
            if self.ring == NULL or self.ring_recs == NULL:
                raise MemoryError("cannot allocate the packet ring")
        self.context = context
        self.host_sets = context_hosts // CTX_WAYS
        self.pair_sets = 2 * self.host_sets             # pairs, and (client, service) ports
        self.hist_sets = max(1, self.host_sets >> HIST_SETS_SHIFT)
        self.scan_sets = max(1, self.host_sets >> 1)
        if context:
            self.hosts = <HostCtx*>calloc(self.host_sets * CTX_WAYS, sizeof(HostCtx))
            self.pairs = <PairCtx*>calloc(self.pair_sets * CTX_WAYS, sizeof(PairCtx))
            self.ports = <PortCtx*>calloc(self.pair_sets * CTX_WAYS, sizeof(PortCtx))
            self.hist = <HostHist*>calloc(self.hist_sets * CTX_WAYS, sizeof(HostHist))
            self.scans = <ScanCtx*>calloc(self.scan_sets * CTX_WAYS, sizeof(ScanCtx))
            if (self.hosts == NULL or self.pairs == NULL or self.ports == NULL
                    or self.hist == NULL or self.scans == NULL):
                raise MemoryError("cannot allocate the context tables")
        if (self.entries == NULL or self.buckets == NULL or self.out == NULL or
                self.frags == NULL or self.cnt == NULL or self.ethertypes == NULL):
            raise MemoryError("cannot allocate the flow table")
        for i in range(self.nbuckets):
            self.buckets[i] = -1
        self.free_head = -1
        self.now_us = -(1 << 62)
        self.next_sweep = -(1 << 62)

    def __dealloc__(self):
        cdef int i
        free(self.entries)
        free(self.buckets)
        free(self.out)
        free(self.frags)
        free(self.cnt)
        free(self.ethertypes)
        free(self.hosts)
        free(self.pairs)
        free(self.ports)
        free(self.hist)
        free(self.scans)
        for i in range(WIN_KINDS):
            free(self.win[i])
            free(self.win_used[i])
        free(self.win_out)
        free(self.ring)
        free(self.ring_recs)

    # ---------------------------------------------------------------- Python API

    def feed(self, const uint8_t[::1] data, const uint32_t[:, ::1] meta, Py_ssize_t start=0,
             int linktype=-1):
        """Process packets meta[start:] of one batch, every frame of link type linktype
        (a libpcap DLT; -1: the constructor's; ValueError if the decoder lacks it).

        meta rows are (sec, usec, offset, caplen) as pcapy-ng packs them; offset and
        caplen locate the frame in data (a record pointing outside data is counted
        as capture.errors). Returns the index of the next packet to process: less
        than len(meta) when the record buffer filled up, in which case call drain()
        and feed again from there.
        """
        if linktype == -1:
            linktype = self.linktype
        elif not linktype_supported(linktype):
            raise ValueError(f"unsupported link type {linktype}")
        if start < 0:
            raise ValueError(f"start {start} is negative")
        if start >= meta.shape[0]:
            return start
        if meta.shape[0] == 0:
            return start
        if meta.shape[1] != 4:
            raise ValueError("meta must have 4 columns (sec, usec, offset, caplen)")
        cdef Py_ssize_t n = meta.shape[0]
        cdef Py_ssize_t i = start
        # an empty buffer (every frame of the batch empty) still gets a real address:
        # NULL + 0 is undefined behaviour in C (UBSan, found by the fuzzer)
        cdef const uint8_t* base = &data[0] if data.shape[0] > 0 else &_EMPTY[0]
        cdef uint64_t dlen = data.shape[0]
        with nogil:
            i = self._feed(base, dlen, &meta[0, 0], n, start, linktype)
        return i

    def drain(self):
        """Finished flows since the last drain, as an array of RECORD_DTYPE (a copy)."""
        cdef Py_ssize_t n = self.out_n
        arr = _copy_out(<const void*>self.out, n, sizeof(FlowRecord), RECORD_DTYPE)
        self.out_n = 0
        return arr

    def expire(self, double now):
        """Sweep idle flows against a live clock (seconds since the epoch).

        Returns True when the sweep finished, False when the record buffer filled
        (drain and call again)."""
        cdef int64_t t = <int64_t>(now * 1e6)
        cdef bint done
        with nogil:
            if t > self.now_us:
                self.now_us = t
            done = self._sweep(self.now_us)
        return bool(done)

    def shutdown(self):
        """End every live flow with reason "shutdown".

        Returns the number of flows still live: non-zero when the record buffer
        filled up (drain and call again)."""
        cdef int c
        with nogil:
            for c in range(N_TC):
                while self.heads[c] >= 0 and self.out_n < self.out_cap:
                    self._end(self.heads[c], R_SHUTDOWN)
        return self.n_active

    @property
    def counters(self):
        """Counter values (uint64 array in COUNTER_NAMES order), a copy."""
        return np.asarray(<uint64_t[:N_COUNTERS]>self.cnt).copy()

    @property
    def nonip_ethertypes(self):
        """{ethertype: frames} of non-IP frames seen (ARP, LLDP, 802.3 lengths...)."""
        arr = np.asarray(<uint64_t[:65536]>self.ethertypes)
        nz = np.flatnonzero(arr)
        return {int(k): int(arr[k]) for k in nz}

    @property
    def active_flows(self):
        return self.n_active

    @property
    def memuse(self):
        """Bytes held by live flow entries (entries are touched lazily)."""
        return self.high_water * sizeof(FlowEntry) + self.nbuckets * sizeof(int32_t)

    @property
    def packet_clock(self):
        """Latest packet time seen, seconds since the epoch (None before any)."""
        return None if self.now_us < 0 else self.now_us / 1e6

    # ---------------------------------------------------------------- the loop

    cdef Py_ssize_t _feed(self, const uint8_t* base, uint64_t dlen, const uint32_t* meta,
                          Py_ssize_t n, Py_ssize_t start, int linktype) noexcept nogil:
        """The loop, in chunks of CHUNK packets: first decode the chunk, build each
        key and prefetch its hash bucket; then process the packets in order,
        prefetching the flow entry two packets ahead. Memory latency of the table
        is what a packet costs, and this hides most of it. A chunk starts only when
        the record buffer has room for everything it can end (2 flows a packet)."""
        cdef PacketView views[CHUNK]
        cdef FlowKey keys[CHUNK]
        cdef uint64_t hashes[CHUNK]
        cdef int64_t stamps[CHUNK]
        cdef uint8_t state[CHUNK]      # 0 not IP, 1 IP keyed, 2 IP keyed in stage 2
        cdef const uint8_t* frames[CHUNK]
        cdef uint32_t caplens[CHUNK]
        cdef int32_t idx
        cdef Py_ssize_t i = start, m, j
        cdef const uint32_t* r
        cdef int64_t ts
        cdef uint32_t off, caplen
        cdef int32_t ahead
        while i < n:
            m = n - i if n - i < CHUNK else CHUNK
            if self.out_n + 2 * m > self.out_cap:
                return i
            if self.win_kinds and self.win_out_n > self.win_room:
                return i
            for j in range(m):
                r = meta + 4 * (i + j)
                stamps[j] = <int64_t>r[0] * 1000000 + r[1]
                state[j] = 0
                off = r[2]
                caplen = r[3]
                if off > dlen or caplen > dlen - off:
                    self.cnt[C_PKTS] += 1
                    self.cnt[E_BAD_RECORD] += 1
                    self.cnt[C_INVALID] += 1
                    continue
                frames[j] = base + off
                caplens[j] = caplen
                if decode_frame(base + off, caplen, linktype, &views[j], self.cnt,
                                self.ethertypes) != RES_IP:
                    self.cnt[C_BYTES] += caplen
                    continue
                self.cnt[C_BYTES] += views[j].wire_len
                if views[j].frag != FRAG_NONE:
                    state[j] = 2       # ports may come from a fragment earlier in the chunk
                    continue
                state[j] = 1
                hashes[j] = make_key(&views[j], &keys[j])
                prefetch(&self.buckets[hashes[j] & (self.nbuckets - 1)])
            for j in range(m):
                if j + 2 < m and state[j + 2] == 1:
                    ahead = self.buckets[hashes[j + 2] & (self.nbuckets - 1)]
                    if ahead >= 0:
                        prefetch(&self.entries[ahead])
                ts = stamps[j]
                if ts > self.now_us:
                    self.now_us = ts
                if ts >= self.next_sweep:
                    self.reserve = 2 * (m - j)
                    self._sweep(self.now_us)
                if state[j] == 0:
                    continue
                if self.win_kinds:
                    self._window_packet(&views[j])
                if state[j] == 2:
                    self._fragment(&views[j], ts)
                    hashes[j] = make_key(&views[j], &keys[j])
                idx = self._packet(&views[j], &keys[j], hashes[j], ts)
                if self.ring != NULL:
                    self._ring_add(frames[j], caplens[j], views[j].wire_len, ts, linktype,
                                   mix64(hashes[j] ^ <uint64_t>self.entries[idx].first_ts)
                                   & ((1ULL << 51) - 1))
            i += m
        return n

    cdef bint _sweep(self, int64_t now) noexcept nogil:
        """End idle flows at time now; False if the record buffer filled first
        (keeping `reserve` records free), in which case the sweep is retried at the
        next packet: expiry is also checked when a flow's next packet arrives, so a
        late sweep changes when a record is written, never what it holds.

        The idle lists are lazy: a packet does not move its flow (that would cost
        two cache misses on the neighbours). A list is ordered by queued_ts; a head
        that was touched since it was queued, or whose class changed, is requeued
        here, so each touch costs at most one requeue."""
        cdef int c
        cdef int32_t idx
        cdef FlowEntry* e
        for c in range(N_TC):
            while True:
                idx = self.heads[c]
                if idx < 0:
                    break
                e = &self.entries[idx]
                if now - self._last_seen(e) > self.timeout_us[self._class_of(e)]:
                    if self.out_n + self.reserve >= self.out_cap:
                        return False
                    self._end(idx, self._idle_reason(e))
                elif not self._requeue(idx, e):
                    break
        self.next_sweep = (now // SWEEP_US + 1) * SWEEP_US
        return True

    cdef inline bint _requeue(self, int32_t idx, FlowEntry* e) noexcept nogil:
        """Move a head touched since it was queued (or of another class) to the tail
        of its class list; False when it is where it belongs."""
        cdef int c = self._class_of(e)
        cdef int64_t last = self._last_seen(e)
        if c == e.tclass and e.queued_ts >= last:
            return False
        self._list_remove(e.tclass, idx)
        e.tclass = <uint8_t>c
        e.queued_ts = last
        self._list_append(c, idx)
        return True

    cdef inline int64_t _last_seen(self, FlowEntry* e) noexcept nogil:
        return e.d[0].last_ts if e.d[0].last_ts > e.d[1].last_ts else e.d[1].last_ts

    cdef inline int _idle_reason(self, FlowEntry* e) noexcept nogil:
        if e.state == S_CLOSED:
            return e.close_reason
        return R_TIMEOUT

    # ---------------------------------------------------------------- fragments

    cdef inline uint32_t _frag_slot(self, PacketView* v) noexcept nogil:
        cdef uint64_t h = mix64(v.ip_id ^ (<uint64_t>v.proto << 32) ^ (<uint64_t>v.ipver << 40))
        cdef uint64_t w[4]
        memcpy(w, v.src, 16)
        memcpy(&w[2], v.dst, 16)
        h = mix64(h ^ w[0]) ^ mix64(w[1] ^ 0x51ED27ULL)
        h = mix64(h ^ w[2]) ^ mix64(w[3] ^ 0xA24BAED4ULL)
        return <uint32_t>(h & (self.frag_slots - 1))

    cdef inline bint _frag_same(self, FragSlot* f, PacketView* v) noexcept nogil:
        return (f.used and f.ip_id == v.ip_id and f.proto == v.proto and f.ipver == v.ipver
                and memcmp(f.src, v.src, 16) == 0 and memcmp(f.dst, v.dst, 16) == 0)

    cdef void _frag_remember(self, PacketView* v, int64_t ts) noexcept nogil:
        cdef FragSlot* f = &self.frags[self._frag_slot(v)]
        if f.used and not self._frag_same(f, v) and ts - f.ts <= FRAG_TTL_US:
            self.cnt[F_FRAG_TABLE_OVERWRITE] += 1
        memcpy(f.src, v.src, 16)
        memcpy(f.dst, v.dst, 16)
        f.ip_id = v.ip_id
        f.proto = v.proto
        f.ipver = v.ipver
        f.sport = v.sport
        f.dport = v.dport
        f.ts = ts
        f.used = 1

    cdef void _frag_join(self, PacketView* v, int64_t ts) noexcept nogil:
        cdef FragSlot* f = &self.frags[self._frag_slot(v)]
        if self._frag_same(f, v) and ts - f.ts <= FRAG_TTL_US:
            v.sport = f.sport
            v.dport = f.dport
            v.has_ports = 1
            self.cnt[C_FRAG_MATCHED] += 1
        else:
            self.cnt[C_FRAG_UNMATCHED] += 1

    # ---------------------------------------------------------------- per packet

    cdef inline void _fragment(self, PacketView* v, int64_t ts) noexcept nogil:
        """Remember a first fragment's ports; give them to its later fragments."""
        if v.frag == FRAG_FIRST and v.has_ports:
            self._frag_remember(v, ts)
        elif v.frag == FRAG_LATER and (v.proto == 6 or v.proto == 17 or v.proto == 132):
            self._frag_join(v, ts)

    cdef int32_t _packet(self, PacketView* v, FlowKey* key, uint64_t h, int64_t ts) noexcept nogil:
        """Account one decoded packet whose canonical key and hash are made; returns the
        index of its flow entry."""
        cdef int direction
        cdef bint src_is_a = key.pad[0]
        cdef int32_t idx
        cdef FlowEntry* e
        cdef int64_t last
        key.pad[0] = 0               # stored and compared keys keep their padding zero

        idx = self.buckets[h & (self.nbuckets - 1)]
        while idx >= 0:
            e = &self.entries[idx]
            if e.hash == <uint32_t>h and memcmp(&e.key, key, sizeof(FlowKey)) == 0:
                break
            idx = e.hnext

        if idx >= 0:
            last = self._last_seen(e)
            if ts - last > self.timeout_us[self._class_of(e)]:
                self._end(idx, self._idle_reason(e))
                idx = -1
            elif ts - e.first_ts > self.active_us:
                self._end(idx, R_ACTIVE)
                idx = -1
            elif (e.state == S_CLOSED and v.proto == 6
                  and (v.tcp_flags & (TH_SYN | TH_ACK)) == TH_SYN):
                self.cnt[F_TCP_REUSE] += 1
                self._end(idx, e.close_reason)
                idx = -1

        if idx < 0:
            idx = self._insert(key, h, ts, src_is_a)
        e = &self.entries[idx]
        direction = 0 if (<uint8_t>src_is_a) == e.a_is_client else 1
        self._update(e, v, ts, direction)
        self._touch(idx, e)
        return idx

    cdef int32_t _insert(self, FlowKey* key, uint64_t h, int64_t ts, bint src_is_a) noexcept nogil:
        cdef int32_t idx
        cdef FlowEntry* e
        cdef uint32_t b
        if self.n_active >= self.max_flows:
            self._evict_one()
        if self.free_head >= 0:
            idx = self.free_head
            self.free_head = self.entries[idx].hnext
        else:
            idx = <int32_t>self.high_water
            self.high_water += 1
        e = &self.entries[idx]
        memset(e, 0, sizeof(FlowEntry))
        memcpy(&e.key, key, sizeof(FlowKey))
        e.hash = <uint32_t>h
        b = <uint32_t>(h & (self.nbuckets - 1))
        e.hnext = self.buckets[b]
        self.buckets[b] = idx
        e.first_ts = ts
        e.syn_ts = -1
        e.synack_delay = UNSEEN32
        e.ack_delay = UNSEEN32
        e.a_is_client = 1 if src_is_a else 0
        e.d[0].last_ts = ts
        e.d[1].last_ts = ts
        e.d[0].len_min = UNSEEN32
        e.d[1].len_min = UNSEEN32
        e.d[0].iat_min = UNSEEN32
        e.d[1].iat_min = UNSEEN32
        e.tclass = self._class_of(e)
        e.queued_ts = ts
        e.lprev = -1
        e.lnext = -1
        self._list_append(e.tclass, idx)
        self.n_active += 1
        if self.context:
            if src_is_a:
                self._ctx_start(e, key.addr_a, key.addr_b, key.port_b, key, ts)
            else:
                self._ctx_start(e, key.addr_b, key.addr_a, key.port_a, key, ts)
        self.cnt[F_TOTAL] += 1
        if key.proto == 6:
            self.cnt[F_TCP] += 1
        elif key.proto == 17:
            self.cnt[F_UDP] += 1
        elif key.proto == 1 and key.ipver == 4:
            self.cnt[F_ICMPV4] += 1
        elif key.proto == 58 and key.ipver == 6:
            self.cnt[F_ICMPV6] += 1
        else:
            self.cnt[F_OTHER] += 1
        return idx

    cdef void _evict_one(self) noexcept nogil:
        """End the least recently seen flow (heads are first brought up to date)."""
        cdef int c
        cdef int32_t best = -1
        cdef int64_t best_ts = 0, t
        for c in range(N_TC):
            while self.heads[c] >= 0 and self._requeue(self.heads[c],
                                                       &self.entries[self.heads[c]]):
                pass
            if self.heads[c] >= 0:
                t = self._last_seen(&self.entries[self.heads[c]])
                if best < 0 or t < best_ts:
                    best = self.heads[c]
                    best_ts = t
        if best >= 0:
            self._end(best, R_FORCED)

    cdef inline int _class_of(self, FlowEntry* e) noexcept nogil:
        cdef uint8_t p = e.key.proto
        cdef bint est = e.state != S_NEW
        if p == 6:
            if e.state == S_CLOSED:
                return TC_TCP_CLOSED
            return TC_TCP_EST if est else TC_TCP_NEW
        if p == 17:
            return TC_UDP_EST if est else TC_UDP_NEW
        if (p == 1 and e.key.ipver == 4) or (p == 58 and e.key.ipver == 6):
            return TC_ICMP_EST if est else TC_ICMP_NEW
        return TC_OTHER_EST if est else TC_OTHER_NEW

    cdef void _update(self, FlowEntry* e, PacketView* v, int64_t ts, int direction) noexcept nogil:
        cdef DirStats* d = &e.d[direction]
        cdef int64_t last = self._last_seen(e)
        cdef int64_t iat
        cdef uint32_t wl = v.wire_len
        cdef double delta, x
        cdef uint8_t f
        cdef int k
        if ts < last:
            self.cnt[F_TS_BACKWARDS] += 1
            ts = last
        if d.pkts > 0:
            iat = ts - d.last_ts
            if iat < 0:
                iat = 0
            if sat32(iat) < d.iat_min:
                d.iat_min = sat32(iat)
            if sat32(iat) > d.iat_max:
                d.iat_max = sat32(iat)
            x = <double>iat
            delta = x - d.iat_mean
            d.iat_mean += delta / d.pkts          # d.pkts gaps so far + 1 (before ++)
            d.iat_m2 += delta * (x - d.iat_mean)
        else:
            d.ttl_first = v.ttl
            d.win_first = v.tcp_win
            if self.context:
                self._scan_first(e, v, direction, ts)
        d.pkts += 1
        d.bytes += wl
        d.payload += v.payload_len
        if wl < d.len_min:
            d.len_min = wl
        if wl > d.len_max:
            d.len_max = wl
        x = <double>wl
        delta = x - d.len_mean
        d.len_mean += delta / d.pkts
        d.len_m2 += delta * (x - d.len_mean)
        d.last_ts = ts

        if v.proto == 6 and v.frag != FRAG_LATER:
            f = v.tcp_flags
            d.flags_or |= f
            for k in range(8):
                if f & (1 << k):
                    d.flags[k] += 1
            if tcp_flags_bad(f) and e.bad_flags[direction] < 65535:
                e.bad_flags[direction] += 1
            self._tcp(e, f, ts, direction)
        elif (v.proto == 1 or v.proto == 58) and v.frag != FRAG_LATER:
            if not (e.icmp_seen & (1 << direction)):
                e.icmp_seen |= <uint8_t>(1 << direction)
                e.icmp_type[direction] = v.icmp_type
                e.icmp_code[direction] = v.icmp_code

        if e.state == S_NEW and e.d[1].pkts > 0:
            e.state = S_ESTABLISHED

    cdef void _tcp(self, FlowEntry* e, uint8_t f, int64_t ts, int direction) noexcept nogil:
        if (f & (TH_SYN | TH_ACK)) == TH_SYN:
            if e.syn_ts < 0 and direction == 0:
                e.syn_ts = ts
                if e.tcp_state == T_NONE:
                    e.tcp_state = T_SYN_SENT
        elif (f & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK):
            if e.syn_ts >= 0 and e.synack_delay == UNSEEN32 and direction == 1:
                e.synack_delay = sat32(ts - e.syn_ts)
                if e.tcp_state == T_SYN_SENT:
                    e.tcp_state = T_SYN_RECV
        elif f & TH_ACK:
            if (e.tcp_state == T_SYN_RECV and direction == 0
                    and e.ack_delay == UNSEEN32):
                e.ack_delay = sat32(ts - e.syn_ts - e.synack_delay)
                e.tcp_state = T_ESTABLISHED
        if e.tcp_state == T_NONE and e.d[0].pkts > 0 and e.d[1].pkts > 0:
            e.tcp_state = T_ESTABLISHED       # picked up mid-stream
        if e.tcp_state == T_CLOSED:
            return
        if f & TH_RST:
            e.tcp_state = T_CLOSED
            e.close_reason = R_TCP_RST
        elif f & TH_FIN:
            e.fin_bits |= <uint8_t>(1 << direction)
            if e.fin_bits == 3:
                e.tcp_state = T_CLOSED
                e.close_reason = R_TCP_FIN
            else:
                e.tcp_state = T_FIN_WAIT
        if e.tcp_state == T_CLOSED and self.tcp_close:
            e.state = S_CLOSED

    # ---------------------------------------------------------------- packet ring

    cdef inline void _ring_pop(self) noexcept nogil:
        self.ring_first = (self.ring_first + 1) % self.ring_slots
        self.ring_count -= 1

    cdef void _ring_add(self, const uint8_t* frame, uint32_t caplen, uint32_t wire_len,
                        int64_t ts, int linktype, uint64_t flow_id) noexcept nogil:
        """Append a frame, dropping the oldest frames whose bytes it overwrites. The
        arena is written in order and wraps to 0 when a frame does not fit at the end;
        the frames left beyond the wrap point are the oldest, and go first."""
        cdef uint64_t at = self.ring_head
        cdef RingRec* r
        cdef uint32_t slot
        if caplen == 0 or caplen > self.ring_size:
            return
        if at + caplen > self.ring_size:
            while self.ring_count and self.ring_recs[self.ring_first].off >= at:
                self._ring_pop()
            at = 0
        while self.ring_count:
            r = &self.ring_recs[self.ring_first]
            if r.off < at + caplen and r.off + r.caplen > at:
                self._ring_pop()
            else:
                break
        if self.ring_count == self.ring_slots:
            self._ring_pop()
        memcpy(self.ring + at, frame, caplen)
        slot = (self.ring_first + self.ring_count) % self.ring_slots
        r = &self.ring_recs[slot]
        r.ts_us = ts
        r.flow_id = flow_id
        r.off = <uint32_t>at
        r.caplen = caplen
        r.wire_len = wire_len
        r.linktype = <uint32_t>linktype
        self.ring_count += 1
        self.ring_head = at + caplen

    def _ring_select(self, uint64_t flow_id, int64_t start_us, int64_t end_us, bint by_flow,
                     int side=0, const uint8_t[::1] key=None, int version=0):
        """The ring's records picked by flow id (by_flow), or by time [start_us, end_us)
        and, with side 1 / 2, by source / destination address (key: 4 or 16 bytes of
        IP version `version`, each frame decoded again, in C): (frames, meta)."""
        cdef uint32_t k, slot, n = 0, picked_n = 0
        cdef uint64_t total = 0
        cdef RingRec* r
        cdef PacketView v
        cdef uint64_t* scratch = NULL       # the decoder's counters: not the meter's
        cdef uint64_t* eth = NULL
        cdef const uint8_t* want = NULL
        cdef const uint8_t* got
        cdef size_t alen = 4 if version == 4 else 16
        cdef uint32_t* picked = <uint32_t*>malloc((self.ring_count + 1) * sizeof(uint32_t))
        if picked == NULL:
            raise MemoryError()
        try:
            if side:
                if key is None or <size_t>key.shape[0] < alen or version not in (4, 6):
                    raise ValueError("side 1/2 needs an IPv4 or IPv6 key address")
                want = &key[0]
                scratch = <uint64_t*>calloc(N_COUNTERS, sizeof(uint64_t))
                eth = <uint64_t*>calloc(65536, sizeof(uint64_t))
                if scratch == NULL or eth == NULL:
                    raise MemoryError()
            with nogil:
                for k in range(self.ring_count):
                    slot = (self.ring_first + k) % self.ring_slots
                    r = &self.ring_recs[slot]
                    if by_flow:
                        if r.flow_id != flow_id:
                            continue
                    elif not (start_us <= r.ts_us < end_us):
                        continue
                    elif side:
                        if decode_frame(self.ring + r.off, r.caplen, <int>r.linktype, &v,
                                        scratch, eth) != RES_IP or v.ipver != version:
                            continue
                        got = &v.src[0] if side == 1 else &v.dst[0]
                        if memcmp(got, want, alen) != 0:
                            continue
                    picked[picked_n] = slot
                    picked_n += 1
                    total += r.caplen
            data = bytearray(total)
            meta = np.empty((picked_n, 5), dtype=np.uint32)
            out_meta = meta
            self._ring_copy(picked, picked_n, data, out_meta)
            return bytes(data), meta
        finally:
            free(picked)
            free(scratch)
            free(eth)

    cdef void _ring_copy(self, const uint32_t* picked, uint32_t n, unsigned char[::1] out,
                         uint32_t[:, ::1] meta):
        cdef uint32_t i
        cdef uint64_t pos = 0
        cdef RingRec* r
        for i in range(n):
            r = &self.ring_recs[picked[i]]
            if r.caplen:
                memcpy(&out[pos], self.ring + r.off, r.caplen)
            meta[i, 0] = r.ts_us // 1000000
            meta[i, 1] = r.ts_us % 1000000
            meta[i, 2] = r.caplen
            meta[i, 3] = r.wire_len
            meta[i, 4] = r.linktype
            pos += r.caplen

    def ring_flow(self, flow_id):
        """(frames bytes, meta (n, 5) uint32 of sec, usec, caplen, wire_len, linktype)
        of the flow's packets still in the ring, oldest first."""
        if self.ring == NULL:
            return b"", np.empty((0, 5), dtype=np.uint32)
        return self._ring_select(flow_id, 0, 0, True)

    def ring_between(self, double start, double end):
        """Like ring_flow() for every packet with start <= time < end (seconds)."""
        if self.ring == NULL:
            return b"", np.empty((0, 5), dtype=np.uint32)
        return self._ring_select(0, <int64_t>(start * 1e6), <int64_t>(end * 1e6), False)

    def ring_key(self, int side, key, int version, double start, double end):
        """Like ring_between() for the packets whose source (side 1) or destination
        (side 2) address is key (bytes: 4 for IPv4, 16 for IPv6): the packets behind a
        window alert of that key. Frames that do not decode to IP are left out."""
        if self.ring == NULL:
            return b"", np.empty((0, 5), dtype=np.uint32)
        if side not in (1, 2):
            raise ValueError(f"side must be 1 (source) or 2 (destination), not {side}")
        cdef bytes k = bytes(key)
        return self._ring_select(0, <int64_t>(start * 1e6), <int64_t>(end * 1e6), False,
                                 side, k, version)

    # ---------------------------------------------------------------- windows

    cdef void _window_packet(self, PacketView* v) noexcept nogil:
        """Add a packet (at the packet clock) to the current window of every key kind."""
        cdef int64_t now = self.now_us
        cdef uint8_t zero[16]
        cdef WinAcc* a
        cdef int k
        cdef const uint8_t* key
        if now >= self.win_end:
            if self.win_end >= 0:
                self._window_close()
            self.win_start = now - now % self.win_len_us
            self.win_end = self.win_start + self.win_len_us
        memset(zero, 0, 16)
        for k in range(WIN_KINDS):
            if not (self.win_kinds & (1 << k)):
                continue
            if k == WIN_KIND_ALL:
                key = &zero[0]
            elif k == WIN_KIND_SRC:
                key = &v.src[0]
            else:
                key = &v.dst[0]
            a = win_slot(self.win[k], self.win_keys, key,
                         0 if k == WIN_KIND_ALL else v.ipver, self.win_used[k], &self.win_n[k])
            if a == NULL:
                self.cnt[W_KEYS_DROPPED] += 1
                continue
            win_add(a, v.src, v.dst, v.ipver, v.proto, v.dport, v.has_ports, v.tcp_flags,
                    v.icmp_type, v.wire_len)

    cdef void _window_close(self) noexcept nogil:
        """Emit one record per key of the current window and empty the tables."""
        cdef int k
        cdef uint32_t j
        cdef WinAcc* a
        for k in range(WIN_KINDS):
            if not (self.win_kinds & (1 << k)):
                continue
            for j in range(self.win_n[k]):
                a = &self.win[k][self.win_used[k][j]]
                win_record(a, &self.win_out[self.win_out_n], <uint8_t>k,
                           self.win_start, self.win_end)
                self.win_out_n += 1
                memset(a, 0, sizeof(WinAcc))
            self.win_n[k] = 0
        self.cnt[W_WINDOWS] += 1

    def close_window(self):
        """Emit the window in progress (end of input); drain_windows() returns it.
        RuntimeError when more than one window's records wait undrained."""
        if self.win_kinds and self.win_out_n > self.win_room:
            raise RuntimeError("close_window(): drain_windows() first")
        if self.win_kinds and self.win_end >= 0:
            with nogil:
                self._window_close()
            self.win_end = -1

    def drain_windows(self):
        """Window records since the last drain (WINDOW_DTYPE array, a copy)."""
        cdef Py_ssize_t n = self.win_out_n
        arr = _copy_out(<const void*>self.win_out, n, sizeof(WindowRecord), WINDOW_DTYPE)
        self.win_out_n = 0
        return arr

    # ---------------------------------------------------------------- context

    cdef void _ctx_start(self, FlowEntry* e, const uint8_t* client, const uint8_t* server,
                         uint16_t dport, FlowKey* key, int64_t ts) noexcept nogil:
        """A flow starts: the client opened one, the server received one. What was new
        about it is kept in e.ctx_bits for _scan_first (attempts and answers)."""
        cdef HostCtx* h
        cdef HostHist* hh
        cdef double flows
        cdef bint new_pair, new_port = False, new_svc = False
        new_pair = pair_touch(self.pairs, self.pair_sets, client, server, key.ipver, ts, 1,
                              &flows, &self.cnt[F_CTX_PAIR_REPLACED])
        if key.proto == 6 or key.proto == 17 or key.proto == 132:
            new_port = port_touch(self.ports, self.pair_sets, client, key.ipver, key.proto,
                                  dport, ts, 1, &flows, &self.cnt[F_CTX_PORT_REPLACED])
            # the server's side of the same table: ipver's high bit marks its entries
            new_svc = port_touch(self.ports, self.pair_sets, server, key.ipver | 0x80,
                                 key.proto, dport, ts, 1, &flows,
                                 &self.cnt[F_CTX_PORT_REPLACED])
        e.ctx_bits = ((CB_NEW_DST if new_pair else 0) | (CB_NEW_PORT if new_port else 0)
                      | (CB_NEW_SVC if new_svc else 0))
        h = host_get(self.hosts, self.host_sets, client, key.ipver, ts,
                     &self.cnt[F_CTX_HOST_REPLACED])
        h.out_flows[0] += 1
        h.out_flows[1] += 1
        if new_pair:
            h.new_dsts[0] += 1
            h.new_dsts[1] += 1
        if new_port:
            h.new_ports[0] += 1
            h.new_ports[1] += 1
        h = host_get(self.hosts, self.host_sets, server, key.ipver, ts,
                     &self.cnt[F_CTX_HOST_REPLACED])
        h.in_flows[0] += 1
        h.in_flows[1] += 1
        hh = hist_get(self.hist, self.hist_sets, client, key.ipver, ts, True,
                      &self.cnt[F_CTX_HIST_REPLACED])
        hist_add(hh, ts, H_OUT)
        if new_pair:
            hist_add(hh, ts, H_NEW_DST)
        if new_port:
            hist_add(hh, ts, H_NEW_PORT)
        hh = hist_get(self.hist, self.hist_sets, server, key.ipver, ts, True,
                      &self.cnt[F_CTX_HIST_REPLACED])
        hist_add(hh, ts, H_IN)
        if new_pair:
            hist_add(hh, ts, H_NEW_SRC)

    cdef void _scan_first(self, FlowEntry* e, PacketView* v, int direction,
                          int64_t ts) noexcept nogil:
        """The first packet of a flow (direction 0) may be a connection attempt, the
        server's first packet (direction 1) its answer: context.pxd, scan tables."""
        cdef const uint8_t* client = &e.key.addr_a[0]
        cdef const uint8_t* server = &e.key.addr_b[0]
        cdef uint16_t what = e.key.port_b if e.a_is_client else e.key.port_a
        cdef uint8_t proto = e.key.proto, ipver = e.key.ipver
        cdef bint icmp = scan_is_icmp(proto, ipver)
        cdef uint8_t t
        cdef uint8_t svc[16]
        if not e.a_is_client:
            client = &e.key.addr_b[0]
            server = &e.key.addr_a[0]
        if direction == 0:
            if proto == 6:
                # a probe: no ACK and no RST (a bare SYN, or a stealth scan's FIN, NULL
                # or Xmas packet, which a closed port answers with an RST and an open
                # one not at all); a flow picked up mid-stream starts with an ACK
                if v.tcp_flags & (TH_ACK | TH_RST):
                    return
            elif icmp:
                t = v.icmp_type
                if not ((ipver == 4 and (t == 8 or t == 13 or t == 15 or t == 17))
                        or (ipver == 6 and t == 128)):
                    return
            elif proto != 17 and proto != 132:
                return
            if not _unicast(server, ipver) or _unspecified(client, ipver):
                return
            e.ctx_bits |= CB_ATTEMPT
        elif not (e.ctx_bits & CB_ATTEMPT):
            return
        else:
            if proto == 6:
                if (v.tcp_flags & (TH_SYN | TH_ACK)) != (TH_SYN | TH_ACK):
                    return
            elif icmp:
                t = v.icmp_type
                if not ((ipver == 4 and (t == 0 or t == 14 or t == 16 or t == 18))
                        or (ipver == 6 and t == 129)):
                    return
        self._unanswered_new(e, client, server, direction == 1)
        if icmp:
            what = e.icmp_type[0] if direction == 1 else v.icmp_type
        scan_service(svc, proto, what)
        self._scan_mark(client, svc, ipver, SCAN_BY_SERVICE, ts, direction == 1,
                        ctx_hash16(server, ipver))
        self._scan_mark(client, server, ipver, SCAN_BY_SERVER, ts, direction == 1,
                        ctx_hash16(svc, 0x5E))
        self._scan_mark(server, _NO_ADDR, ipver, SCAN_OF_SERVER, ts, direction == 1,
                        ctx_hash16(client, 0xC1))

    cdef void _unanswered_new(self, FlowEntry* e, const uint8_t* client,
                              const uint8_t* server, bint answer) noexcept nogil:
        """An attempt to a new destination or service counts as unanswered in the
        endpoints' history (at the flow's start) until its answer takes it back. A
        history replaced in between (table full) loses the attempt: the take-back then
        finds 0 or another flow's attempt, an undercount, never an overcount."""
        cdef HostHist* hh
        cdef uint8_t ipver = e.key.ipver
        if e.ctx_bits & (CB_NEW_DST | CB_NEW_PORT):
            hh = hist_get(self.hist, self.hist_sets, client, ipver, e.first_ts, False, NULL)
            if e.ctx_bits & CB_NEW_DST:
                _hist_count(hh, e.first_ts, H_UNANS_NEW_DST, answer)
            if e.ctx_bits & CB_NEW_PORT:
                _hist_count(hh, e.first_ts, H_UNANS_NEW_PORT, answer)
        if e.ctx_bits & CB_NEW_SVC:
            hh = hist_get(self.hist, self.hist_sets, server, ipver, e.first_ts, False, NULL)
            _hist_count(hh, e.first_ts, H_UNANS_NEW_SVC, answer)

    cdef inline void _scan_mark(self, const uint8_t* client, const uint8_t* b, uint8_t ipver,
                                uint8_t kind, int64_t ts, bint answer,
                                uint64_t item) noexcept nogil:
        """Set `item` in the tried bits of key (client, b, kind), created if absent, or in
        its answered bits when `answer` (only if the key exists)."""
        cdef ScanCtx* s = scan_get(self.scans, self.scan_sets, client, b, ipver, kind, ts,
                                   not answer, &self.cnt[F_CTX_SCAN_REPLACED])
        if s != NULL:
            scan_set(&s.answered_cur[0] if answer else &s.tried_cur[0], item)

    cdef void _ctx_end(self, FlowRecord* r) noexcept nogil:
        """A flow is reported: count how it went, then read both endpoints' context
        (as of the packet clock) into the record."""
        cdef HostCtx* h
        cdef double around[H_FIELDS]
        cdef int64_t now = self.now_us
        cdef double flows
        cdef bint icmp_error = (
            (r.proto == 1 and r.ip_version == 4 and (r.icmp_type_ts == 3 or r.icmp_type_ts == 11))
            or (r.proto == 58 and r.ip_version == 6 and (r.icmp_type_ts == 1 or r.icmp_type_ts == 3)))
        cdef bint failed = (r.pkts_toclient == 0 or r.rst_toclient > 0
                            or (r.syn_toserver > 0 and r.syn_toclient == 0))
        h = host_get(self.hosts, self.host_sets, r.src_addr, r.ip_version, now,
                     &self.cnt[F_CTX_HOST_REPLACED])
        if not icmp_error:
            h.out_ended += 1
            h.out_failed += failed
            h.out_pkts += <double>(r.pkts_toserver + r.pkts_toclient)
        r.ctx_src_flows_60s = h.out_flows[0]
        r.ctx_src_flows_600s = h.out_flows[1]
        r.ctx_src_new_dsts_60s = h.new_dsts[0]
        r.ctx_src_new_dsts_600s = h.new_dsts[1]
        r.ctx_src_new_ports_60s = h.new_ports[0]
        r.ctx_src_new_ports_600s = h.new_ports[1]
        r.ctx_src_fail_ratio = h.out_failed / h.out_ended if h.out_ended > 0 else 0.0
        r.ctx_src_mean_pkts = h.out_pkts / h.out_ended if h.out_ended > 0 else 0.0
        r.ctx_src_unreach = h.unreach_in
        h = host_get(self.hosts, self.host_sets, r.dest_addr, r.ip_version, now,
                     &self.cnt[F_CTX_HOST_REPLACED])
        if icmp_error:
            h.unreach_in += 1
        else:
            h.in_ended += 1
            h.in_failed += failed
        r.ctx_dst_flows_60s = h.in_flows[0]
        r.ctx_dst_flows_600s = h.in_flows[1]
        r.ctx_dst_fail_ratio = h.in_failed / h.in_ended if h.in_ended > 0 else 0.0
        pair_touch(self.pairs, self.pair_sets, r.src_addr, r.dest_addr, r.ip_version, now, 0,
                   &flows, &self.cnt[F_CTX_PAIR_REPLACED])
        r.ctx_pair_flows = flows
        flows = 0
        if r.proto == 6 or r.proto == 17 or r.proto == 132:
            port_touch(self.ports, self.pair_sets, r.src_addr, r.ip_version, r.proto,
                       r.dest_port, now, 0, &flows, &self.cnt[F_CTX_PORT_REPLACED])
        r.ctx_src_service_flows = flows
        # around the flow: from its packets' time, not the report's (which comes a
        # timeout later, when a burst the flow was part of has long ended)
        hist_sums(hist_get(self.hist, self.hist_sets, r.src_addr, r.ip_version, now, False,
                           NULL),
                  r.start_us - AROUND_US, r.end_us + AROUND_US, around)
        r.ctx_src_flows_around = around[H_OUT]
        r.ctx_src_new_dsts_around = around[H_NEW_DST]
        r.ctx_src_new_ports_around = around[H_NEW_PORT]
        r.ctx_src_unanswered_new_dsts_around = around[H_UNANS_NEW_DST]
        r.ctx_src_unanswered_new_ports_around = around[H_UNANS_NEW_PORT]
        hist_sums(hist_get(self.hist, self.hist_sets, r.dest_addr, r.ip_version, now, False,
                           NULL),
                  r.start_us - AROUND_US, r.end_us + AROUND_US, around)
        r.ctx_dst_flows_around = around[H_IN]
        r.ctx_dst_new_srcs_around = around[H_NEW_SRC]
        r.ctx_dst_unanswered_new_ports_around = around[H_UNANS_NEW_SVC]
        self._scan_end(r, now)

    cdef void _scan_end(self, FlowRecord* r, int64_t now) noexcept nogil:
        """The client's unanswered attempts on the flow's service and to its server, and
        the clients whose attempts the server left unanswered."""
        cdef uint8_t svc[16]
        cdef bint icmp = scan_is_icmp(r.proto, r.ip_version)
        r.ctx_src_unanswered_hosts = 0
        r.ctx_src_unanswered_services = 0
        r.ctx_dst_unanswered_srcs = 0
        if not icmp and r.proto != 6 and r.proto != 17 and r.proto != 132:
            return
        scan_service(svc, r.proto, r.icmp_type_ts if icmp else r.dest_port)
        r.ctx_src_unanswered_hosts = scan_unanswered(scan_get(
            self.scans, self.scan_sets, r.src_addr, svc, r.ip_version, SCAN_BY_SERVICE, now,
            False, NULL))
        r.ctx_src_unanswered_services = scan_unanswered(scan_get(
            self.scans, self.scan_sets, r.src_addr, r.dest_addr, r.ip_version,
            SCAN_BY_SERVER, now, False, NULL))
        r.ctx_dst_unanswered_srcs = scan_unanswered(scan_get(
            self.scans, self.scan_sets, r.dest_addr, _NO_ADDR, r.ip_version,
            SCAN_OF_SERVER, now, False, NULL))

    # ---------------------------------------------------------------- lists

    cdef inline void _list_append(self, int c, int32_t idx) noexcept nogil:
        cdef FlowEntry* e = &self.entries[idx]
        e.lprev = self.tails[c]
        e.lnext = -1
        if self.tails[c] >= 0:
            self.entries[self.tails[c]].lnext = idx
        else:
            self.heads[c] = idx
        self.tails[c] = idx

    cdef inline void _list_remove(self, int c, int32_t idx) noexcept nogil:
        cdef FlowEntry* e = &self.entries[idx]
        if e.lprev >= 0:
            self.entries[e.lprev].lnext = e.lnext
        else:
            self.heads[c] = e.lnext
        if e.lnext >= 0:
            self.entries[e.lnext].lprev = e.lprev
        else:
            self.tails[c] = e.lprev
        e.lprev = -1
        e.lnext = -1

    cdef inline void _touch(self, int32_t idx, FlowEntry* e) noexcept nogil:
        """After a packet: move the flow only when its class now has a shorter
        timeout than the list it sits on (e.g. TCP teardown); see _sweep."""
        cdef int c = self._class_of(e)
        if c == e.tclass or self.timeout_us[c] >= self.timeout_us[e.tclass]:
            return
        self._list_remove(e.tclass, idx)
        e.tclass = <uint8_t>c
        e.queued_ts = self._last_seen(e)
        self._list_append(c, idx)

    # ---------------------------------------------------------------- ending

    cdef void _end(self, int32_t idx, int reason) noexcept nogil:
        cdef FlowEntry* e = &self.entries[idx]
        cdef uint32_t b = e.hash & (self.nbuckets - 1)
        cdef int32_t* link = &self.buckets[b]
        while link[0] != idx:
            link = &self.entries[link[0]].hnext
        link[0] = e.hnext
        self._list_remove(e.tclass, idx)
        self._emit(e, reason)
        e.hnext = self.free_head
        self.free_head = idx
        self.n_active -= 1

    cdef void _emit(self, FlowEntry* e, int reason) noexcept nogil:
        """Write the flow's record. A closed TCP flow that is still lingering when it
        is evicted or shut down is reported with its teardown reason (tcp_fin /
        tcp_rst): the teardown is what ended it; the eviction is counted anyway."""
        cdef FlowRecord* r = &self.out[self.out_n]
        cdef DirStats* ds = &e.d[0]
        cdef DirStats* dc = &e.d[1]
        cdef int64_t last = self._last_seen(e)
        if reason == R_FORCED:
            self.cnt[F_END_FORCED] += 1
        if e.state == S_CLOSED and (reason == R_FORCED or reason == R_SHUTDOWN):
            reason = e.close_reason
        self.out_n += 1
        memset(r, 0, sizeof(FlowRecord))
        r.flow_id = mix64(hash_key(&e.key) ^ <uint64_t>e.first_ts) & ((1ULL << 51) - 1)
        r.start_us = e.first_ts
        r.end_us = last
        if e.a_is_client:
            memcpy(r.src_addr, e.key.addr_a, 16)
            memcpy(r.dest_addr, e.key.addr_b, 16)
            r.src_port = e.key.port_a
            r.dest_port = e.key.port_b
        else:
            memcpy(r.src_addr, e.key.addr_b, 16)
            memcpy(r.dest_addr, e.key.addr_a, 16)
            r.src_port = e.key.port_b
            r.dest_port = e.key.port_a
        r.vlan0 = e.key.vlan0
        r.vlan1 = e.key.vlan1
        r.nvlan = e.key.nvlan
        r.ip_version = e.key.ipver
        r.proto = e.key.proto
        r.reason = <uint8_t>reason
        r.state = e.state
        r.tcp_state = e.tcp_state
        r.tcp_flags_ts = ds.flags_or
        r.tcp_flags_tc = dc.flags_or
        r.icmp_seen = e.icmp_seen
        r.icmp_type_ts = e.icmp_type[0]
        r.icmp_code_ts = e.icmp_code[0]
        r.icmp_type_tc = e.icmp_type[1]
        r.icmp_code_tc = e.icmp_code[1]
        r.duration = (last - e.first_ts) / 1e6
        r.pkts_toserver = ds.pkts
        r.pkts_toclient = dc.pkts
        r.bytes_toserver = ds.bytes
        r.bytes_toclient = dc.bytes
        r.payload_bytes_toserver = ds.payload
        r.payload_bytes_toclient = dc.payload
        _dir_features(ds, &r.pktlen_min_toserver, &r.iat_min_toserver)
        _dir_features(dc, &r.pktlen_min_toclient, &r.iat_min_toclient)
        r.fin_toserver = ds.flags[0]
        r.syn_toserver = ds.flags[1]
        r.rst_toserver = ds.flags[2]
        r.psh_toserver = ds.flags[3]
        r.ack_toserver = ds.flags[4]
        r.urg_toserver = ds.flags[5]
        r.ece_toserver = ds.flags[6]
        r.cwr_toserver = ds.flags[7]
        r.bad_flags_toserver = e.bad_flags[0]
        r.fin_toclient = dc.flags[0]
        r.syn_toclient = dc.flags[1]
        r.rst_toclient = dc.flags[2]
        r.psh_toclient = dc.flags[3]
        r.ack_toclient = dc.flags[4]
        r.urg_toclient = dc.flags[5]
        r.ece_toclient = dc.flags[6]
        r.cwr_toclient = dc.flags[7]
        r.bad_flags_toclient = e.bad_flags[1]
        r.ttl_first_toserver = ds.ttl_first
        r.ttl_first_toclient = dc.ttl_first if dc.pkts else 0
        r.win_first_toserver = ds.win_first
        r.win_first_toclient = dc.win_first if dc.pkts else 0
        r.tcp_syn_synack_delay = -1 if e.synack_delay == UNSEEN32 else <double>e.synack_delay
        r.tcp_synack_ack_delay = -1 if e.ack_delay == UNSEEN32 else <double>e.ack_delay
        if self.context:
            self._ctx_end(r)

        if reason == R_TIMEOUT:
            self.cnt[F_END_TIMEOUT] += 1
        elif reason == R_ACTIVE:
            self.cnt[F_END_ACTIVE] += 1
        elif reason == R_TCP_FIN:
            self.cnt[F_END_TCP_FIN] += 1
        elif reason == R_TCP_RST:
            self.cnt[F_END_TCP_RST] += 1
        elif reason == R_SHUTDOWN:
            self.cnt[F_END_SHUTDOWN] += 1
        if e.state == S_NEW:
            self.cnt[F_END_STATE_NEW] += 1
        elif e.state == S_ESTABLISHED:
            self.cnt[F_END_STATE_ESTABLISHED] += 1
        else:
            self.cnt[F_END_STATE_CLOSED] += 1


cdef inline void _dir_features(DirStats* d, double* lens, double* iats) noexcept nogil:
    """Write min, max, mean, std of lengths (bytes) and gaps (µs) for one direction.

    Zeros when the direction saw no packet (lengths) or fewer than two (gaps)."""
    if d.pkts == 0:
        return
    lens[0] = d.len_min
    lens[1] = d.len_max
    lens[2] = d.len_mean
    lens[3] = sqrt(d.len_m2 / d.pkts) if d.len_m2 > 0 else 0.0
    if d.pkts < 2:
        return
    iats[0] = d.iat_min
    iats[1] = d.iat_max
    iats[2] = d.iat_mean
    iats[3] = sqrt(d.iat_m2 / (d.pkts - 1)) if d.iat_m2 > 0 else 0.0


def _debug_chains(FlowMeter m):
    """Bucket chain length histogram (tests and tuning only)."""
    cdef uint32_t b
    cdef int32_t idx
    cdef int n
    hist = {}
    for b in range(m.nbuckets):
        n = 0
        idx = m.buckets[b]
        while idx >= 0:
            n += 1
            idx = m.entries[idx].hnext
        hist[n] = hist.get(n, 0) + 1
    return hist

