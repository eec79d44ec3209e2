"""The flow meter: batches of captured frames in, finished flow records out.

FlowMeter owns the memory of the core's rooms and wires them together in one loop
(ext/README.md has the map). FlowMeter.feed() runs over a whole pcapy-ng next_batch()
result without the GIL: decode (decode.pxd) -> fragments (defrag.pxd) -> windows
(windows.pxd) -> flow lookup/insert (flowtable.pxd) -> per-flow accumulators
(features.pxd) -> endpoint context and scan tables at a flow's start, first packets and
end (context.pxd, scans.pxd) -> packet ring (ring.pxd). Flows that end (idle or active
timeout, TCP teardown after its linger, eviction, shutdown) are written as FlowRecord
structs into a fixed output buffer; drain() hands them to Python as a numpy structured
array (RECORD_DTYPE, derived from the C struct).

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
from libc.string cimport memset, memcpy

from counters cimport *
from enums cimport R_NONE, R_FORCED, R_SHUTDOWN, N_TC, WIN_KINDS, T_ESTABLISHED
from decode cimport (PacketView, decode_frame, linktype_supported, RES_IP, RES_ARP, RES_ERROR,
                    FRAG_NONE)
from features cimport (FlowRecord, SPLT_MAX, acc_packet, acc_end_reason, acc_record, count_end,
                       acc_last_seen)
from flowtable cimport *
from defrag cimport Defrag, defrag_init, defrag_free, defrag_packet
from windows cimport (Windows, WindowRecord, win_init, win_free, win_packet, win_close,
                      WIN_KEYS, WIN_PROBE, win_early_init)
from context cimport (Context, ctx_init, ctx_free, ctx_flow_start, ctx_flow_end, CTX_HOSTS,
                      CTX_MIN_HOSTS, ctx_flow_peek)
from scans cimport Scans, scans_init, scans_free, scan_first, scan_flow_end
from pending cimport (Pending, AttemptRecord, pending_init, pending_free, pending_add,
                      pending_due)
from arp cimport ArpTable, ArpRecord, arp_init, arp_free, arp_frame
from anomaly cimport Anomalies, AnomalyRecord, anomaly_init, anomaly_free, anomaly_add
from ring cimport Ring, RingQuery, ring_init, ring_free, ring_add, ring_pick, ring_copy
from splt cimport Splt, splt_init, splt_free, splt_start, splt_packet, splt_record
from pktstats cimport PktStatsTable, pks_init, pks_free, pks_start, pks_packet, pks_record
from enums cimport N_APP_EVENTS, IPP_TCP, IPP_UDP, TH_FIN, TH_RST
from decode cimport FRAG_LATER
from app.app cimport AppTable, AppRec, app_init, app_free, app_packet, app_flow_end
from app.first cimport FIRST_BYTES_MAX
from app.stream cimport StreamSlot
from app.events cimport evbuf_room, APP_EVENTS_PER_PACKET

from wirescore.core_names import (APP_EVENT_KINDS, COUNTER_NAMES, REASON_NAMES, STATE_NAMES,
                                  TCP_STATE_NAMES, TIMEOUT_CLASSES, TIMEOUT_DEFAULTS,
                                  WINDOW_KINDS)
from wirescore._core.appcore import EVENT_DTYPES, budget_array

cnp.import_array()

N_COUNTER_SLOTS = N_COUNTERS

cdef FlowRecord _dummy_record
RECORD_DTYPE = np.asarray(<FlowRecord[:1]>(&_dummy_record)).dtype
#: FlowMeter(splt=n): n at most this (the records' splt_* arrays)
SPLT_PACKETS_MAX = SPLT_MAX
cdef WindowRecord _dummy_window
WINDOW_DTYPE = np.asarray(<WindowRecord[:1]>(&_dummy_window)).dtype
cdef ArpRecord _dummy_arp
ARP_DTYPE = np.asarray(<ArpRecord[:1]>(&_dummy_arp)).dtype
cdef AttemptRecord _dummy_attempt
cdef AnomalyRecord _dummy_anomaly
ANOMALY_DTYPE = np.asarray(<AnomalyRecord[:1]>(&_dummy_anomaly)).dtype
ATTEMPT_DTYPE = np.asarray(<AttemptRecord[:1]>(&_dummy_attempt)).dtype
ENTRY_BYTES = sizeof(FlowEntry)
if sizeof(FlowKey) != 48:
    raise ImportError("FlowKey must be 48 bytes (hash_key reads 6 words)")

cdef int64_t SWEEP_US = 1000000       # idle sweep granularity: 1 s of packet time


cdef inline int64_t sweep_after(int64_t t) noexcept nogil:
    """When the sweep after one at packet time t (µs) is due: the next whole second."""
    return (t // SWEEP_US + 1) * SWEEP_US


cdef extern from *:
    """
    #define WS_PREFETCH(p) __builtin_prefetch((p), 0, 1)
    """
    void prefetch "WS_PREFETCH"(const void* p) noexcept nogil

cdef enum:
    CHUNK = 16          # packets decoded ahead of the table lookups (see _feed)
    ANOMALY_CAP = 4096  # anomaly records buffered between drains (a default batch's)


cdef uint8_t _EMPTY[1]          # the base address of an empty batch (FlowMeter.feed)


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


cdef int _window_kinds(window_keys) except -1:
    """The bit set of the window key names given (WINDOW_KINDS)."""
    cdef int kinds = 0
    for name in window_keys:
        if name not in WINDOW_KINDS:
            raise ValueError(f"window key {name!r}: one of {WINDOW_KINDS}")
        kinds |= 1 << WINDOW_KINDS.index(name)
    return kinds


cdef _check_sizes(unsigned int max_flows, unsigned int context_hosts,
                  unsigned int window_max_keys, unsigned int out_capacity):
    if max_flows < 1 or max_flows > (1 << 30):
        raise ValueError("max_flows must be between 1 and 2**30")
    if not _pow2_between(context_hosts, CTX_MIN_HOSTS, 1 << 24):
        raise ValueError(f"context_hosts must be a power of two from {CTX_MIN_HOSTS} "
                         f"to 2**24, not {context_hosts}")
    if not _pow2_between(window_max_keys, WIN_PROBE, 1 << 24):
        raise ValueError(f"window_max_keys must be a power of two from {WIN_PROBE} "
                         f"to 2**24, not {window_max_keys}")
    if out_capacity < 4 * CHUNK:
        raise ValueError(f"out_capacity must be at least {4 * CHUNK}")


cdef _check_timeouts(timeouts, double active_timeout, double* seconds):
    """The idle timeouts (TIMEOUT_CLASSES order; None: the defaults) into seconds[N_TC]."""
    cdef int i
    if timeouts is None:
        timeouts = TIMEOUT_DEFAULTS
    if len(timeouts) != N_TC:
        raise ValueError(f"timeouts needs {N_TC} values: {TIMEOUT_CLASSES}")
    for i in range(N_TC):
        if not timeouts[i] > 0:
            raise ValueError(f"timeout {TIMEOUT_CLASSES[i]} must be > 0")
        seconds[i] = float(timeouts[i])
    if not active_timeout > 0:
        raise ValueError("active_timeout must be > 0")


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
        Idle timeouts in TIMEOUT_CLASSES order (default TIMEOUT_DEFAULTS).
    active_timeout : float, seconds
        A flow older than this ends at its next packet.
    tcp_close : bool
        End TCP flows on FIN both ways or RST (after the tcp.closed linger).
    out_capacity : int
        Flow records buffered before feed() returns early so Python can drain().
    frag_slots : int
        Fragmented datagrams whose ports are kept for their later fragments
        (defrag.pxd; rounded up to a power of two).
    context : bool
        Keep endpoint context (context.pxd, scans.pxd, about 32 MB) and fill the ctx_*
        fields.
    window_seconds, window_keys : float, sequence of "all" / "src" / "dst"
        Traffic windows (windows.pxd) of this length in packet time, one record per
        key and window, taken with drain_windows(); none when window_keys is empty.
    context_hosts : int
        Hosts the context tables hold (a power of two, 16 to 2**24; default 65,536,
        about 33 MB, 510 bytes a host): twice as many pairs and (client or server,
        service) ports, a quarter as many 128 s histories, half as many scan keys. A
        table replaces live state only when it is (nearly) full of it (clock.pxd),
        counted (wirescore.ctx_*_replaced): a larger table would have kept it.
    window_max_keys : int
        Keys (source or destination addresses) per kind and window (a power of two,
        16 to 2**24; default 16,384; about 550 bytes per key and kind: the table and
        room for two windows of records); packets of further keys are counted in
        wirescore.window_keys_dropped.
    ring_bytes : int
        Keep the most recent IP packets (bytes as captured, with time and flow id) in
        a ring of this many bytes, for evidence snippets (ring_flow(), ring_between());
        0: no ring. Index: one 32-byte record per 64 ring bytes.
    app : bool
        Parse the application layer (ext/app/): app_proto and the app_* fields of the
        records, app-layer events (drain_app()).
    app_flows, app_streams : int
        Flows whose protocol is known (or being probed) that keep a summary at once
        (AppRec, APP_REC_BYTES each), and TCP flows parsed at once (a stream slot,
        APP_SLOT_BYTES each); both touched lazily. When full, the record or slot of the
        flow seen longest ago is taken back (counted: wirescore.app_flows_reclaimed,
        wirescore.app_streams_reclaimed).
    app_budgets : mapping {parser stem: bytes} or None
        Bytes examined per direction by each parser (core_names.APP_BUDGETS: the
        defaults, by stats name such as "dns_tcp").
    app_events : bool
        Keep app-layer events for drain_app(), which the caller must then call after
        every feed() (feed() stops early while an event buffer is nearly full); off
        (the default) the parsers still fill the records and drain_app() is empty.
    app_first_bytes : int
        First-bytes statistics (ext/app/first.pxd) of each direction no probe claims:
        at most this many of its first payload bytes (0..65535; 0: none), in the
        records' app_first_* fields.
    app_event_capacity : int
        Events of each kind buffered before feed() returns early so Python can
        drain_app() (at least 8 * CHUNK * APP_EVENTS_PER_PACKET).
    arp_hosts : int
        ARP in the host context (arp.pxd): rows of its two tables, senders and IPv4
        bindings (a power of two, 16 to 2**24; 96 bytes a row), and one ArpRecord per
        ARP frame for drain_arp(); 0 (the default): off (ARP frames are still decoded
        and counted). The ring, when on, keeps ARP frames too, under their sender's ARP
        id (ring_flow(record["flow_id"])).
    macs : bool
        Keep each flow's first Ethernet frame's source and destination MAC (12 bytes a
        flow-table entry, in a table of their own: the entries stay small) for the
        records' src_mac/dest_mac (EVE ether); off (the default) they are zero.
    splt : int, packets
        Keep the first splt (1..SPLT_MAX, 32) packets of each flow: direction, wire
        length, gap (splt.pxd; NFStream's early-flow sequence), in the records' splt_*
        fields; (1 + 7 splt) bytes per flow-table entry, in a table of their own. 0 (the
        default): off, the fields are zero.
    pktstats : bool
        Keep per-packet statistics of each flow (pktstats.pxd: L4 payload lengths per
        direction and merged, L4 header bytes, packets with payload, merged gaps, activity
        periods) in the records' pkt_* fields (pkt_stats 1); 176 bytes per flow-table
        entry, in a table of their own. Off (the default): the fields are zero.
    activity_timeout : float, seconds
        With pktstats: a gap between packets of a flow longer than this ends an activity
        period and is an idle period (CICFlowMeter's activity timeout, 5 s).
    anomalies : bool
        Keep one AnomalyRecord (ANOMALY_DTYPE) per frame the decoder refuses, for
        drain_anomalies(), which the caller must then call after every feed() (feed()
        stops early while the buffer could not take a chunk's); off (the default) the
        faults are only counted.
    scan_pending : int
        Connection attempts awaiting confirmation (pending.pxd; needs context): each
        attempt still unanswered scan_grace after it is a confirmed failure, and one
        AttemptRecord (ATTEMPT_DTYPE) for drain_attempts(), answered or not, which the
        caller must then call after every feed(), expire() and shutdown() (they stop
        early: feed() while its buffer is half full, the others when it is full); 0
        (the default): off. When the FIFO is full its oldest entry is confirmed early,
        or dropped when the record buffer is full too (wirescore.scan_pending_early,
        wirescore.scan_pending_dropped).
    scan_grace : float, seconds
        Packet time after an attempt at which it is confirmed (> 0).
    update_interval : float, seconds
        Flow updates: a FlowRecord of an open flow (reason "none", what it holds after
        the packet that wrote it) for drain_updates(), written at its first packet (a
        flow of one packet, a flood's or a sweep's, is scored before its timeout), at
        its 4th packet, at the packet that completes a TCP handshake, and at its first
        packet after each
        update_interval of packet time since its start (at most one per packet). Its
        context is read without changing any (ctx_flow_peek: the around window is
        [start - 10 s, min(now, last packet + 10 s)]); its app_* fields are zero (the
        application layer reports at the end). The buffer holds out_capacity updates:
        one more is skipped (wirescore.flow_updates_skipped) until drain_updates(). 0
        (the default): off.
    quiet_after : float, seconds
        A flow that has had no packet for longer than this is quiet: the sweep (at most
        1 s of packet time late) finds it on the quiet list (flowtable.pxd) and moves it
        to its class's idle list; with update_interval it writes one more update then,
        its quiet one (what it holds), and again after each later packet followed by as
        long a silence. A flow whose class timeout is not longer ends before it is
        quiet. The quiet list keeps the idle lists in the order of their flows' last
        packets, so a flow ends at most quiet_after + 1 s after its timeout (without
        it, a flow requeued behind fresher ones can wait up to a timeout more). 10 s
        (the around window's reach after the last packet) gives the quiet update the
        around counts its end would: a flow that ends idle is scored a timeout sooner.
        A sweep writes at most out_capacity / 2 - 16 quiet updates, the same however
        the capture is cut into batches; the rest wait for the next sweep
        (wirescore.flow_quiet_deferred counts the sweeps that left some). With updates
        on, feed() also stops when the update buffer lacks room for that and a chunk's
        updates (then drain_updates() and feed again), so none is skipped.
        0 (the default): off.
    window_early : int, packets
        Early window records (windows.pxd) for drain_window_updates(): while a window is
        open, the packet that brings a key's count in it to window_early, 2x, 4x, 8x,
        ... that many writes a WindowRecord of the key (early 1, end_us the packet's
        time, the window's counts up to and including it). 0 (the default) or no
        window keys: off.
    window_early_capacity : int
        Early records buffered (>= 1); one more is skipped
        (wirescore.window_early_skipped) until drain_window_updates().
    """
    cdef FlowTable ft
    cdef Defrag frag
    cdef Windows win
    cdef Context ctx
    cdef Scans scans
    cdef Ring ring
    cdef AppTable app
    cdef bint app_on
    cdef ArpTable arp
    cdef bint arp_on
    cdef bint eth_frames     # the batch at hand is Ethernet
    cdef uint8_t* macs       # macs=True: 12 bytes an entry, its first frame's source and
                             # destination MAC (zero: not Ethernet); NULL: off
    cdef double* quiet_scan  # with context and quiet updates: 3 doubles an entry, its
                             # scan counts when its quiet update was written; NULL: off
    cdef Anomalies anom
    cdef Pending pend
    cdef Splt splt
    cdef PktStatsTable pks
    cdef FlowRecord* out
    cdef uint32_t out_cap, out_n, reserve
    cdef FlowRecord* upd
    cdef uint32_t upd_n
    cdef int64_t upd_every
    cdef uint32_t quiet_max  # quiet updates a sweep writes at most (see _feed's room)
    cdef uint64_t* cnt
    cdef uint64_t* ethertypes
    cdef bint context
    cdef bint tcp_close
    cdef int linktype
    cdef int64_t now_us
    cdef int64_t next_sweep

    def __cinit__(self, int linktype, unsigned int max_flows=1 << 20, timeouts=None,
                  double active_timeout=1800.0, bint tcp_close=True,
                  unsigned int out_capacity=65536, unsigned int frag_slots=16384,
                  bint context=True, double window_seconds=0.0, window_keys=(),
                  unsigned long long ring_bytes=0,
                  unsigned int context_hosts=CTX_HOSTS,
                  unsigned int window_max_keys=WIN_KEYS, bint app=True,
                  unsigned int app_flows=1 << 18, unsigned int app_streams=4096,
                  app_budgets=None, bint app_events=False,
                  unsigned int app_event_capacity=1024, unsigned int arp_hosts=0,
                  unsigned int app_first_bytes=512, unsigned int scan_pending=0,
                  double scan_grace=0.5, double update_interval=0.0,
                  double quiet_after=0.0,
                  unsigned int window_early=0, unsigned int window_early_capacity=65536,
                  bint anomalies=False, bint macs=False, unsigned int splt=0,
                  bint pktstats=False, double activity_timeout=5.0):
        cdef double seconds[N_TC]
        cdef int kinds
        cdef const uint32_t[::1] budgets
        if not linktype_supported(linktype):
            raise ValueError(f"unsupported link type {linktype}")
        _check_sizes(max_flows, context_hosts, window_max_keys, out_capacity)
        _check_timeouts(timeouts, active_timeout, seconds)
        self.linktype = linktype
        self.tcp_close = tcp_close
        self.context = context
        self.out_cap = out_capacity
        self.now_us = -(1 << 62)
        self.next_sweep = -(1 << 62)
        if quiet_after < 0 or (quiet_after and quiet_after * 1e6 < 1):
            raise ValueError("quiet_after must be 0 (off) or at least 1 µs")
        self.quiet_max = out_capacity // 2 - CHUNK
        if (ft_init(&self.ft, max_flows, seconds, active_timeout,
                    <int64_t>(quiet_after * 1e6)) < 0
                or defrag_init(&self.frag, frag_slots) < 0):
            raise MemoryError("cannot allocate the flow table")
        self.out = <FlowRecord*>calloc(out_capacity, sizeof(FlowRecord))
        self.cnt = <uint64_t*>calloc(N_COUNTERS, sizeof(uint64_t))
        self.ethertypes = <uint64_t*>calloc(65536, sizeof(uint64_t))
        if self.out == NULL or self.cnt == NULL or self.ethertypes == NULL:
            raise MemoryError("cannot allocate the flow table")
        kinds = _window_kinds(window_keys)
        if window_seconds < 0 or (kinds and not window_seconds > 0):
            raise ValueError("window_seconds must be > 0 when window keys are given")
        # feed() starts a chunk only while the window records waiting are at most one full
        # set of tables; within the chunk, closes emit at most the keys live at its start
        # plus one new key per packet and kind
        if win_init(&self.win, kinds, window_seconds, window_max_keys, CHUNK * WIN_KINDS) < 0:
            raise MemoryError("cannot allocate the window tables")
        if window_early and window_early_capacity < 1:
            raise ValueError("window_early_capacity must be at least 1")
        if kinds and window_early and win_early_init(&self.win, window_early,
                                                     window_early_capacity) < 0:
            raise MemoryError("cannot allocate the early window records")
        if ring_bytes:
            if ring_bytes < 65536 or ring_bytes > (1 << 32) - 1:
                raise ValueError("ring_bytes must be between 64 KiB and 4 GiB")
            if ring_init(&self.ring, ring_bytes) < 0:
                raise MemoryError("cannot allocate the packet ring")
        if context and (ctx_init(&self.ctx, context_hosts) < 0
                        or scans_init(&self.scans, context_hosts) < 0):
            raise MemoryError("cannot allocate the context tables")
        if arp_hosts:
            if not _pow2_between(arp_hosts, 16, 1 << 24):
                raise ValueError(f"arp_hosts must be 0 or a power of two from 16 to 2**24, "
                                 f"not {arp_hosts}")
            if arp_init(&self.arp, arp_hosts, out_capacity) < 0:
                raise MemoryError("cannot allocate the ARP tables")
            self.arp_on = True
        if macs:
            self.macs = <uint8_t*>calloc(max_flows, 12)
            if self.macs == NULL:
                raise MemoryError("cannot allocate the MAC table")
        if splt > SPLT_MAX:
            raise ValueError(f"splt must be 0 (off) .. {SPLT_MAX} packets, not {splt}")
        if splt and splt_init(&self.splt, splt, max_flows) < 0:
            raise MemoryError("cannot allocate the SPLT table")
        if pktstats:
            if not activity_timeout > 0:
                raise ValueError("activity_timeout must be > 0")
            if pks_init(&self.pks, max_flows, <int64_t>(activity_timeout * 1e6)) < 0:
                raise MemoryError("cannot allocate the packet statistics table")
        if anomalies and anomaly_init(&self.anom, ANOMALY_CAP) < 0:
            raise MemoryError("cannot allocate the anomaly records")
        if scan_pending and not context:
            raise ValueError("scan_pending needs context (the scan tables)")
        if scan_pending and not scan_grace > 0:
            raise ValueError("scan_grace must be > 0")
        if pending_init(&self.pend, scan_pending, <int64_t>(scan_grace * 1e6),
                        out_capacity) < 0:
            raise MemoryError("cannot allocate the pending attempts")
        if update_interval < 0 or (update_interval and update_interval * 1e6 < 1):
            raise ValueError("update_interval must be 0 (off) or at least 1 µs")
        self.upd_every = <int64_t>(update_interval * 1e6)
        if self.upd_every:
            self.upd = <FlowRecord*>calloc(out_capacity, sizeof(FlowRecord))
            if self.upd == NULL:
                raise MemoryError("cannot allocate the flow update buffer")
            if context and quiet_after:
                self.quiet_scan = <double*>calloc(max_flows, 3 * sizeof(double))
                if self.quiet_scan == NULL:
                    raise MemoryError("cannot allocate the quiet scan counts")
        self.app_on = app
        if app:
            if app_flows < 1 or app_streams < 1 or app_flows > (1 << 30) or app_streams > (1 << 24):
                raise ValueError("app_flows must be 1..2**30 and app_streams 1..2**24")
            if app_event_capacity < 8 * CHUNK * APP_EVENTS_PER_PACKET:
                raise ValueError("app_event_capacity must be at least "
                                 f"{8 * CHUNK * APP_EVENTS_PER_PACKET}")
            budgets = budget_array(app_budgets)
            if app_init(&self.app, app_flows, app_streams, &budgets[0], app_event_capacity,
                        app_events) < 0:
                raise MemoryError("cannot allocate the application layer's pools")
            if app_first_bytes > FIRST_BYTES_MAX:
                raise ValueError(f"app_first_bytes must be 0..{FIRST_BYTES_MAX}")
            self.app.protos.first_bytes = app_first_bytes

    def __dealloc__(self):
        ft_free(&self.ft)
        defrag_free(&self.frag)
        win_free(&self.win)
        ring_free(&self.ring)
        app_free(&self.app)
        ctx_free(&self.ctx)
        scans_free(&self.scans)
        arp_free(&self.arp)
        anomaly_free(&self.anom)
        free(self.macs)
        free(self.quiet_scan)
        splt_free(&self.splt)
        pks_free(&self.pks)
        pending_free(&self.pend)
        free(self.out)
        free(self.upd)
        free(self.cnt)
        free(self.ethertypes)

    # ---------------------------------------------------------------- Python API

    def feed(self, const uint8_t[::1] data, const uint32_t[:, ::1] meta, Py_ssize_t start=0,
             int linktype=-1):
        """Process packets meta[start:] of one batch, every frame of link type linktype
        (a libpcap DLT; -1: the constructor's; ValueError if the decoder lacks it).

        meta rows are (sec, usec, offset, caplen) as pcapy-ng packs them; offset and
        caplen locate the frame in data (a record pointing outside data is counted
        as capture.errors). Returns the index of the next packet to process: less
        than len(meta) when the record buffer filled up (or, with updates and
        quiet_after, the update buffer), in which case call drain() (and
        drain_updates()) and feed again from there.
        """
        if linktype == -1:
            linktype = self.linktype
        elif not linktype_supported(linktype):
            raise ValueError(f"unsupported link type {linktype}")
        self.eth_frames = linktype == 1          # DLT_EN10MB
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

    @property
    def splt_packets(self):
        """Packets each record's splt_* fields hold at most (the splt option; 0: off)."""
        return self.splt.n

    @property
    def pktstats(self):
        """Whether the records' pkt_* fields are kept (the pktstats option)."""
        return self.pks.s != NULL

    @property
    def activity_timeout(self):
        """With pktstats: the activity timeout, seconds (0.0 when off)."""
        return self.pks.activity_us / 1e6 if self.pks.s != NULL else 0.0

    def drain(self):
        """Finished flows since the last drain, as an array of RECORD_DTYPE (a copy)."""
        cdef Py_ssize_t n = self.out_n
        arr = _copy_out(<const void*>self.out, n, sizeof(FlowRecord), RECORD_DTYPE)
        self.out_n = 0
        return arr

    def drain_arp(self):
        """ARP records since the last drain (ARP_DTYPE array, a copy; empty when
        arp_hosts is 0)."""
        cdef Py_ssize_t n = self.arp.out_n
        arr = _copy_out(<const void*>self.arp.out, n, sizeof(ArpRecord), ARP_DTYPE)
        self.arp.out_n = 0
        return arr

    def drain_anomalies(self):
        """Decoder faults since the last drain (ANOMALY_DTYPE array, a copy, in packet
        order; empty unless anomalies=True): anomaly.pxd."""
        cdef Py_ssize_t n = self.anom.n
        arr = _copy_out(<const void*>self.anom.out, n, sizeof(AnomalyRecord), ANOMALY_DTYPE)
        self.anom.n = 0
        return arr

    def drain_attempts(self):
        """Attempt records since the last drain (ATTEMPT_DTYPE array, a copy; empty when
        scan_pending is 0), in confirmation order."""
        cdef Py_ssize_t n = self.pend.out_n
        arr = _copy_out(<const void*>self.pend.out, n, sizeof(AttemptRecord), ATTEMPT_DTYPE)
        self.pend.out_n = 0
        return arr

    def drain_updates(self):
        """Flow updates since the last drain (RECORD_DTYPE array, a copy, reason "none";
        empty when update_interval is 0), in packet order."""
        cdef Py_ssize_t n = self.upd_n
        arr = _copy_out(<const void*>self.upd, n, sizeof(FlowRecord), RECORD_DTYPE)
        self.upd_n = 0
        return arr

    def drain_app(self):
        """App-layer events since the last drain: {kind: array} for every kind of
        APP_EVENT_KINDS (EVENT_DTYPES, derived from the rooms' C structs; copies)."""
        out = {}
        cdef int k
        for k in range(N_APP_EVENTS):
            n = self.app.ev[k].n if self.app_on else 0
            out[APP_EVENT_KINDS[k]] = _copy_out(<const void*>self.app.ev[k].data, n,
                                                self.app.ev[k].size, EVENT_DTYPES[k])
            if self.app_on:
                self.app.ev[k].n = 0
        return out

    @property
    def app_bytes(self):
        """Bytes the application layer's pools and buffers have touched (records and
        stream slots as handed out, event buffers whole)."""
        cdef int k
        if not self.app_on:
            return 0
        total = (self.app.rec_high * sizeof(AppRec) + self.app.slot_high * sizeof(StreamSlot))
        for k in range(N_APP_EVENTS):
            total += self.app.ev[k].cap * self.app.ev[k].size
        return total

    def expire(self, double now):
        """Sweep idle flows against a live clock (seconds since the epoch), and close the
        traffic window when the clock has passed its end (a quiet link's last window is
        reported then, not at the next packet; drain_windows() has its records).

        Returns True when the sweep finished, False when the record buffer (flows or
        attempts) filled (drain and call again)."""
        cdef int64_t t = <int64_t>(now * 1e6)
        cdef bint done
        with nogil:
            if t > self.now_us:
                self.now_us = t
            if (self.win.kinds and self.win.end >= 0 and self.now_us >= self.win.end
                    and self.win.out_n <= self.win.room):
                win_close(&self.win, self.cnt)
                self.win.end = -1
            pending_due(&self.pend, &self.scans, self.now_us, False)
            done = self._sweep(self.now_us)
        return bool(done) and not self._attempts_due()

    cdef bint _attempts_due(self) noexcept nogil:
        """A pending attempt's grace has passed (it waits for room in the buffer)."""
        return self.pend.n > 0 and self.pend.q[self.pend.head].t + self.pend.grace <= self.now_us

    def shutdown(self):
        """Confirm every pending attempt at the packet clock, then end every live flow
        with reason "shutdown".

        Returns the number of flows still live plus attempts still pending: non-zero
        when a record buffer filled up (drain and call again)."""
        cdef int c
        with nogil:
            pending_due(&self.pend, &self.scans, self.now_us, True)
            for c in range(NL):
                while self.ft.heads[c] >= 0 and self.out_n < self.out_cap:
                    self._end(self.ft.heads[c], R_SHUTDOWN)
        return self.ft.n_active + self.pend.n

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
        return self.ft.n_active

    @property
    def memuse(self):
        """Bytes held by live flow entries (entries are touched lazily)."""
        return self.ft.high_water * sizeof(FlowEntry) + self.ft.nbuckets * sizeof(int32_t)

    @property
    def packet_clock(self):
        """Latest packet time seen, seconds since the epoch (None before any)."""
        return None if self.now_us < 0 else self.now_us / 1e6

    def close_window(self):
        """Emit the window in progress (end of input); drain_windows() returns it.
        RuntimeError when more than one window's records wait undrained."""
        if self.win.kinds and self.win.out_n > self.win.room:
            raise RuntimeError("close_window(): drain_windows() first")
        if self.win.kinds and self.win.end >= 0:
            with nogil:
                win_close(&self.win, self.cnt)
            self.win.end = -1

    def drain_windows(self):
        """Window records since the last drain (WINDOW_DTYPE array, a copy)."""
        cdef Py_ssize_t n = self.win.out_n
        arr = _copy_out(<const void*>self.win.out, n, sizeof(WindowRecord), WINDOW_DTYPE)
        self.win.out_n = 0
        return arr

    def drain_window_updates(self):
        """Early window records since the last drain (WINDOW_DTYPE array, a copy, early
        1; empty when window_early is 0), in packet order."""
        cdef Py_ssize_t n = self.win.early_n
        arr = _copy_out(<const void*>self.win.early, n, sizeof(WindowRecord), WINDOW_DTYPE)
        self.win.early_n = 0
        return arr

    def ring_flow(self, flow_id):
        """(frames bytes, meta (n, 5) uint32 of sec, usec, caplen, wire_len, linktype)
        of the flow's packets still in the ring, oldest first."""
        cdef RingQuery q
        if self.ring.arena == NULL:
            return b"", np.empty((0, 5), dtype=np.uint32)
        memset(&q, 0, sizeof(RingQuery))
        q.by_flow = True
        q.flow_id = flow_id
        return self._ring_select(&q)

    def ring_between(self, double start, double end):
        """Like ring_flow() for every packet with start <= time < end (seconds)."""
        cdef RingQuery q
        if self.ring.arena == NULL:
            return b"", np.empty((0, 5), dtype=np.uint32)
        memset(&q, 0, sizeof(RingQuery))
        q.start_us = <int64_t>(start * 1e6)
        q.end_us = <int64_t>(end * 1e6)
        return self._ring_select(&q)

    def ring_key(self, int side, key, int version, double start, double end):
        """Like ring_between() for the packets whose source (side 1) or destination
        (side 2) address is key (bytes: 4 for IPv4, 16 for IPv6): the packets behind a
        window alert of that key. Frames that do not decode to IP are left out."""
        cdef RingQuery q
        cdef const uint8_t[::1] k
        if self.ring.arena == NULL:
            return b"", np.empty((0, 5), dtype=np.uint32)
        if side not in (1, 2):
            raise ValueError(f"side must be 1 (source) or 2 (destination), not {side}")
        k = bytes(key)
        memset(&q, 0, sizeof(RingQuery))
        q.alen = 4 if version == 4 else 16
        if <size_t>k.shape[0] < q.alen or version not in (4, 6):
            raise ValueError("side 1/2 needs an IPv4 or IPv6 key address")
        q.start_us = <int64_t>(start * 1e6)
        q.end_us = <int64_t>(end * 1e6)
        q.side = side
        q.addr = &k[0]
        q.version = version
        return self._ring_select(&q)

    cdef _ring_select(self, RingQuery* q):
        """The ring's frames the query picks (the ring is on): (frames bytes, meta rows)."""
        cdef uint32_t n
        cdef uint64_t total
        cdef uint32_t* picked
        cdef unsigned char[::1] out
        cdef uint32_t[:, ::1] rows
        picked = <uint32_t*>malloc((self.ring.count + 1) * sizeof(uint32_t))
        try:
            if q.side:
                # the decoder's counters while it decodes the frames again: not the meter's
                q.scratch = <uint64_t*>calloc(N_COUNTERS, sizeof(uint64_t))
                q.ethertypes = <uint64_t*>calloc(65536, sizeof(uint64_t))
            if picked == NULL or (q.side and (q.scratch == NULL or q.ethertypes == NULL)):
                raise MemoryError()
            with nogil:
                n = ring_pick(&self.ring, q, picked, &total)
            data = bytearray(total)
            meta = np.empty((n, 5), dtype=np.uint32)
            out = data
            rows = meta
            if n:                               # then total > 0: frames are never empty
                with nogil:
                    ring_copy(&self.ring, picked, n, &out[0], &rows[0, 0])
            return bytes(data), meta
        finally:
            free(picked)
            free(q.scratch)
            free(q.ethertypes)

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
        cdef uint8_t state[CHUNK]      # 0 not IP, 1 IP keyed, 2 IP keyed in stage 2, 3 ARP
        cdef const uint8_t* frames[CHUNK]
        cdef uint32_t caplens[CHUNK]
        cdef int32_t idx
        cdef uint64_t fid
        cdef Py_ssize_t i = start, m, j
        cdef const uint32_t* r
        cdef int64_t ts
        cdef uint32_t off, caplen
        cdef int32_t ahead
        cdef int res
        cdef ArpRecord* arec
        while i < n:
            m = n - i if n - i < CHUNK else CHUNK
            if self.out_n + 2 * m > self.out_cap:
                return i
            if self.win.kinds and self.win.out_n > self.win.room:
                return i
            if self.app_on and not self._app_room():
                return i
            if self.arp_on and self.arp.out_n + m > self.arp.out_cap:
                return i
            if self.anom.cap and self.anom.n + m > self.anom.cap:
                return i
            if self.pend.n and self.pend.out_n >= self.pend.out_cap // 2:
                return i
            if self.upd_every and self.ft.timeout_us[LQ]:
                # room for the chunk's updates, one a packet, and its sweep's quiet ones
                # (a chunk holds one sweep at most), so that how many a sweep writes
                # never depends on where the batches were cut
                m = self._one_sweep(meta, i, m)
                if self.upd_n + m + self.quiet_max > self.out_cap:
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
                res = decode_frame(base + off, caplen, linktype, &views[j], self.cnt,
                                   self.ethertypes)
                if res != RES_IP:
                    self.cnt[C_BYTES] += caplen
                    if res == RES_ERROR and self.anom.cap:
                        anomaly_add(&self.anom, &views[j], stamps[j])
                    if res == RES_ARP and self.arp_on:
                        state[j] = 3
                    continue
                self.cnt[C_BYTES] += views[j].wire_len
                if views[j].frag != FRAG_NONE:
                    state[j] = 2       # ports may come from a fragment earlier in the chunk
                    continue
                state[j] = 1
                hashes[j] = make_key(&views[j], &keys[j])
                prefetch(&self.ft.buckets[hashes[j] & (self.ft.nbuckets - 1)])
            for j in range(m):
                if j + 2 < m and state[j + 2] == 1:
                    ahead = self.ft.buckets[hashes[j + 2] & (self.ft.nbuckets - 1)]
                    if ahead >= 0:
                        prefetch(&self.ft.entries[ahead])
                ts = stamps[j]
                if ts > self.now_us:
                    self.now_us = ts
                if self.pend.n:
                    pending_due(&self.pend, &self.scans, self.now_us, False)
                if ts >= self.next_sweep:
                    self.reserve = 2 * (m - j)
                    self._sweep(self.now_us)
                if state[j] == 0:
                    continue
                if state[j] == 3:
                    arec = arp_frame(&self.arp, frames[j] + views[j].payload_off,
                                    views[j].vlan0, ts, self.cnt)
                    if self.ring.arena != NULL:
                        ring_add(&self.ring, frames[j], caplens[j], caplens[j], ts, linktype,
                                 arec.flow_id, NULL)
                    continue
                if state[j] == 2:
                    defrag_packet(&self.frag, &views[j], ts, self.cnt)
                    hashes[j] = make_key(&views[j], &keys[j])
                idx = self._packet(&views[j], &keys[j], hashes[j], ts, frames[j])
                fid = flow_id(hashes[j], self.ft.entries[idx].f.first_ts)
                if self.win.kinds:
                    win_packet(&self.win, &views[j], fid, self.now_us, self.cnt)
                if self.ring.arena != NULL:
                    ring_add(&self.ring, frames[j], caplens[j], views[j].wire_len, ts, linktype,
                             fid, &views[j] if state[j] == 1 else NULL)
            i += m
        return n

    cdef Py_ssize_t _one_sweep(self, const uint32_t* meta, Py_ssize_t i,
                               Py_ssize_t m) noexcept nogil:
        """How many of the m packets from i a chunk takes so that it holds one sweep at
        most: up to the packet before the second (read from the timestamps alone)."""
        cdef int64_t clock = self.now_us, due = self.next_sweep, ts
        cdef const uint32_t* r
        cdef bint swept = False
        cdef Py_ssize_t j
        for j in range(m):
            r = meta + 4 * (i + j)
            ts = <int64_t>r[0] * 1000000 + r[1]
            if ts > clock:
                clock = ts
            if clock >= due:
                if swept:
                    return j
                swept = True
                due = sweep_after(clock)
        return m

    cdef bint _app_room(self) noexcept nogil:
        """Every app event buffer has room for what a chunk can add (always, when
        events are not kept)."""
        cdef int k
        if not self.app.keep_events:
            return True
        for k in range(N_APP_EVENTS):
            if not evbuf_room(&self.app.ev[k], CHUNK * APP_EVENTS_PER_PACKET):
                return False
        return True

    cdef bint _sweep(self, int64_t now) noexcept nogil:
        """End idle flows at time now; False if the record buffer filled first
        (keeping `reserve` records free), in which case the sweep is retried at the
        next packet: expiry is also checked when a flow's next packet arrives, so a
        late sweep changes when a record is written, never what it holds."""
        cdef int c
        cdef int32_t idx
        for c in range(N_TC):
            while True:
                idx = ft_expired_head(&self.ft, c, now)
                if idx < 0:
                    break
                if self.out_n + self.reserve >= self.out_cap:
                    return False
                self._end(idx, ft_idle_reason(&self.ft.entries[idx]))
        if self.ft.timeout_us[LQ] and not self._quiet(now):
            return False
        self.next_sweep = sweep_after(now)
        return True

    cdef bint _quiet(self, int64_t now) noexcept nogil:
        """The quiet list's part of a sweep: each flow quiet at time now writes its
        quiet update (with updates on: see quiet_after) and moves to its class list;
        one idle past its class timeout too (the sweep was late) ends. Writes at most
        quiet_max updates (the next sweep goes on: _feed keeps room for them); False if
        the record buffer filled first."""
        cdef int32_t idx
        cdef FlowEntry* e
        cdef uint32_t written = 0
        while True:
            idx = self.ft.heads[LQ]
            if idx < 0:
                return True
            if ft_requeue(&self.ft, idx):
                continue
            e = &self.ft.entries[idx]
            if not ft_quiet(&self.ft, e, now):
                return True
            if ft_idle(&self.ft, e, now):
                if self.out_n + self.reserve >= self.out_cap:
                    return False
                self._end(idx, ft_idle_reason(e))
                continue
            if self.upd_every:
                if written == self.quiet_max or self.upd_n >= self.out_cap:
                    self.cnt[F_QUIET_DEFERRED] += 1
                    return True
                self._update(e, hash_key(&e.key))
                written += 1
                if self.quiet_scan != NULL:
                    _keep_scan(self.upd + self.upd_n - 1, self.quiet_scan + <size_t>idx * 3)
            e.quiet_done = 1
            ft_requeue(&self.ft, idx)

    cdef int32_t _packet(self, PacketView* v, FlowKey* key, uint64_t h, int64_t ts,
                         const uint8_t* frame) noexcept nogil:
        """Account one decoded packet (of frame) whose canonical key and hash are made;
        returns the index of its flow entry."""
        cdef bint src_is_a = key.pad[0]
        cdef int32_t idx
        cdef int reason, direction
        cdef int32_t what
        cdef FlowEntry* e
        cdef int64_t prev_last = 0
        cdef uint8_t prev_tcp = 0
        cdef bint first
        key.pad[0] = 0               # stored and compared keys keep their padding zero
        idx = ft_find(&self.ft, key, h)
        if idx >= 0:
            reason = ft_expiry(&self.ft, &self.ft.entries[idx], v, ts, self.cnt)
            if reason != R_NONE:
                self._end(idx, reason)
                idx = -1
        if idx < 0:
            idx = self._start(key, h, ts, src_is_a)
            if self.macs != NULL:
                self._keep_macs(idx, frame)
        e = &self.ft.entries[idx]
        direction = 0 if (<uint8_t>src_is_a) == e.f.a_is_client else 1
        if self.upd_every or self.splt.n or self.pks.s != NULL:
            prev_last = acc_last_seen(&e.f)
            prev_tcp = e.f.tcp_state
        first = acc_packet(&e.f, v, &ts, direction, self.tcp_close, self.cnt)
        if self.splt.n:
            splt_packet(&self.splt, <size_t>idx, direction, v.wire_len, ts - prev_last)
        if self.pks.s != NULL:
            pks_packet(&self.pks, <size_t>idx, v, direction, ts, prev_last,
                       <uint64_t>e.f.d[0].pkts + e.f.d[1].pkts)
        if first and self.context:
            what = scan_first(&self.scans, &self.ctx, e, v, direction, ts, self.cnt)
            if what >= 0 and self.pend.cap:
                pending_add(&self.pend, &self.scans, e, flow_id(h, e.f.first_ts), ts,
                            <uint16_t>what, v.icmp_type, v.icmp_code, self.cnt)
        # the application layer: packets with payload, and a TCP flow's FIN or RST while
        # it holds a record (no work for the others)
        if (self.app_on and (v.proto == IPP_TCP or v.proto == IPP_UDP) and v.has_ports
                and v.frag != FRAG_LATER
                and (v.payload_len or (e.app.rec and v.tcp_flags & (TH_FIN | TH_RST)))):
            app_packet(&self.app, &e.app, v, frame, direction, ts,
                       flow_id(h, e.f.first_ts), self.cnt)
        if self.upd_every and self._update_due(&e.f, prev_last, prev_tcp, ts):
            self._update(e, h)
        ft_touch(&self.ft, idx)
        return idx

    cdef int32_t _start(self, FlowKey* key, uint64_t h, int64_t ts, bint src_is_a) noexcept nogil:
        """A new flow (evicting the least recently seen one when the table is full), and
        its start in its endpoints' context; returns its entry."""
        cdef int32_t idx
        cdef FlowEntry* e
        if self.ft.n_active >= self.ft.max_flows:
            idx = ft_oldest(&self.ft)
            if idx >= 0:
                self._end(idx, R_FORCED)
        idx = ft_insert(&self.ft, key, h, ts, src_is_a, self.cnt)
        if self.splt.n:
            splt_start(&self.splt, <size_t>idx)
        if self.pks.s != NULL:
            pks_start(&self.pks, <size_t>idx, ts)
        if self.context:
            e = &self.ft.entries[idx]
            if src_is_a:
                e.ctx_bits = ctx_flow_start(&self.ctx, key.addr_a, key.addr_b, key.port_b,
                                            key.ipver, key.proto, ts, self.cnt)
            else:
                e.ctx_bits = ctx_flow_start(&self.ctx, key.addr_b, key.addr_a, key.port_a,
                                            key.ipver, key.proto, ts, self.cnt)
        return idx

    cdef bint _update_due(self, const FlowAcc* f, int64_t prev_last, uint8_t prev_tcp,
                          int64_t ts) noexcept nogil:
        """Whether the packet just added (at ts, after the flow's last packet prev_last
        and TCP state prev_tcp) writes an update: the first and the 4th packet, the TCP
        handshake's completion, the first packet in a new update_interval since the
        flow's start."""
        cdef uint64_t n = <uint64_t>f.d[0].pkts + f.d[1].pkts
        if n == 1 or n == 4:
            return True
        if f.tcp_state == T_ESTABLISHED and prev_tcp != T_ESTABLISHED and n > 1:
            return True
        return (n > 1 and (ts - f.first_ts) // self.upd_every
                > (prev_last - f.first_ts) // self.upd_every)

    cdef void _keep_macs(self, int32_t idx, const uint8_t* frame) noexcept nogil:
        """A new flow's MACs, from its first frame (Ethernet: 6 bytes destination, then 6
        source); zero for other link types (the entry may have held another flow)."""
        cdef uint8_t* m = &self.macs[<size_t>idx * 12]
        if self.eth_frames:
            memcpy(m, frame + 6, 6)
            memcpy(m + 6, frame, 6)
        else:
            memset(m, 0, 12)

    cdef void _put_macs(self, int32_t idx, FlowRecord* r) noexcept nogil:
        if self.macs != NULL:
            memcpy(r.src_mac, &self.macs[<size_t>idx * 12], 6)
            memcpy(r.dest_mac, &self.macs[<size_t>idx * 12 + 6], 6)

    cdef void _update(self, const FlowEntry* e, uint64_t h) noexcept nogil:
        """The open flow's update record (see update_interval), or a skip counted when
        the update buffer is full."""
        cdef FlowRecord* r
        if self.upd_n >= self.out_cap:
            self.cnt[F_FLOW_UPDATES_SKIPPED] += 1
            return
        r = &self.upd[self.upd_n]
        self.upd_n += 1
        memset(r, 0, sizeof(FlowRecord))
        ft_identity(e, h, r)
        self._put_macs(<int32_t>(e - self.ft.entries), r)
        if self.splt.n:
            splt_record(&self.splt, <size_t>(e - self.ft.entries), r)
        if self.pks.s != NULL:
            pks_record(&self.pks, <size_t>(e - self.ft.entries), &e.f, r)
        acc_record(&e.f, R_NONE, r)
        r.report_us = self.now_us
        if self.context:
            ctx_flow_peek(&self.ctx, r, self.now_us)
            scan_flow_end(&self.scans, r, self.now_us)
            _keep_scan(r, &r.quiet_src_unanswered_hosts)

    cdef void _end(self, int32_t idx, int reason) noexcept nogil:
        """End a flow: its record, with its endpoints' context as of the packet clock,
        goes to the output buffer (which has room: see _feed and _sweep)."""
        cdef FlowEntry* e = &self.ft.entries[idx]
        cdef FlowRecord* r = &self.out[self.out_n]
        cdef uint64_t h = hash_key(&e.key)
        ft_detach(&self.ft, idx, h)
        if reason == R_FORCED:
            self.cnt[F_END_FORCED] += 1
        reason = acc_end_reason(&e.f, reason)
        self.out_n += 1
        memset(r, 0, sizeof(FlowRecord))
        ft_identity(e, h, r)
        self._put_macs(idx, r)
        if self.splt.n:
            splt_record(&self.splt, <size_t>idx, r)
        if self.pks.s != NULL:
            pks_record(&self.pks, <size_t>idx, &e.f, r)
        acc_record(&e.f, reason, r)
        r.report_us = self.now_us
        if self.app_on:
            app_flow_end(&self.app, &e.app, e.key.proto, r, self.cnt)
        if self.context:
            ctx_flow_end(&self.ctx, r, self.now_us, self.cnt)
            scan_flow_end(&self.scans, r, self.now_us)
            _keep_scan(r, &r.quiet_src_unanswered_hosts)
            if e.quiet_done and self.quiet_scan != NULL:
                memcpy(&r.quiet_src_unanswered_hosts, self.quiet_scan + <size_t>idx * 3,
                       3 * sizeof(double))
        count_end(self.cnt, reason, e.f.state)
        ft_release(&self.ft, idx)


cdef inline void _keep_scan(const FlowRecord* r, double* to) noexcept nogil:
    """The record's three scan counts (ctx_src_unanswered_hosts, ..._services,
    ctx_dst_unanswered_srcs) into to[0..2]."""
    to[0] = r.ctx_src_unanswered_hosts
    to[1] = r.ctx_src_unanswered_services
    to[2] = r.ctx_dst_unanswered_srcs


def _debug_chains(FlowMeter m):
    """Bucket chain length histogram (tests and tuning only)."""
    cdef uint32_t b
    cdef int32_t idx
    cdef int n
    hist = {}
    for b in range(m.ft.nbuckets):
        n = 0
        idx = m.ft.buckets[b]
        while idx >= 0:
            n += 1
            idx = m.ft.entries[idx].hnext
        hist[n] = hist.get(n, 0) + 1
    return hist
