# Features: what a flow gathers from its packets, and the record it leaves as.
#
# FlowAcc is a flow's accumulators (kept in its flow table entry, flowtable.pxd): per
# direction packets, bytes, lengths and gaps (Welford running mean and squared
# deviations), TCP flags, the first TTL and window; for the flow, its state (new,
# established, closed), a simplified TCP state with the handshake's delays, and the first
# ICMP type and code of each direction. acc_packet() adds one packet.
#
# FlowRecord is what leaves the core when a flow ends: RECORD_DTYPE (flowtable.pyx) is
# derived from it, so the numpy view and the C struct cannot drift, and
# wirescore/catalog.py documents every feature field. Each room fills its part of a
# record: the flow table the identity (ft_identity), acc_record() the features, the
# endpoint context the ctx_* fields (context.pxd, scans.pxd), the application layer
# app_proto and the app_* fields (app/app.pxd).
#
# Directions: 0 = toserver (the direction of the flow's first packet), 1 = toclient.
# Times are microseconds of packet time; a flow's time never runs backwards (a packet
# older than the flow's last is taken at the last, and counted).
#
# Inline, used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memset
from libc.math cimport sqrt

from counters cimport *
from enums cimport (R_TIMEOUT, R_ACTIVE, R_TCP_FIN, R_TCP_RST, R_FORCED, R_SHUTDOWN, S_NEW,
                    S_ESTABLISHED, S_CLOSED, T_NONE, T_SYN_SENT, T_SYN_RECV, T_ESTABLISHED,
                    T_FIN_WAIT, T_CLOSED, TH_FIN, TH_SYN, TH_RST, TH_ACK, N_TCP_FLAGS,
                    IPP_ICMP, IPP_TCP, IPP_ICMPV6)
from decode cimport PacketView, FRAG_LATER, tcp_flags_bad

cdef extern from *:
    """
    #define WS_UNSEEN32 0xFFFFFFFFu   /* a length, gap or handshake delay not observed */
    """
    const uint32_t UNSEEN32 "WS_UNSEEN32"

cdef enum:
    SPLT_MAX = 32            # packets a record's splt_* arrays hold (splt.pxd)

cdef struct DirStats:
    uint64_t bytes
    uint64_t payload
    double len_mean          # Welford running mean / sum of squared deviations
    double len_m2
    double iat_mean          # microseconds
    double iat_m2
    int64_t last_ts          # microseconds since the epoch
    uint32_t pkts
    uint32_t len_min
    uint32_t len_max
    uint32_t iat_min         # microseconds, saturating at 2**32-2
    uint32_t iat_max
    uint32_t flags[8]        # packets with each TCP flag bit (enums.h order: FIN SYN ...)
    uint16_t win_first
    uint8_t ttl_first
    uint8_t flags_or

cdef struct FlowAcc:
    int64_t first_ts
    int64_t syn_ts           # -1 until a SYN is seen
    uint32_t synack_delay    # microseconds; UNSEEN32 = not seen
    uint32_t ack_delay
    uint8_t a_is_client      # 1 when the key's endpoint a sent the first packet
    uint8_t state            # S_* (enums.h)
    uint8_t tcp_state        # T_*
    uint8_t close_reason     # R_TCP_FIN / R_TCP_RST once closed
    uint8_t icmp_seen        # bit per direction
    uint8_t fin_bits         # bit per direction
    uint8_t icmp_type[2]
    uint8_t icmp_code[2]
    uint16_t bad_flags[2]    # per direction: TCP packets with flags no stack sends
                             # (decode.pxd tcp_flags_bad), saturating at 65535
    uint8_t pad[2]
    DirStats d[2]            # 0 = toserver, 1 = toclient

cdef struct FlowRecord:
    # identity (EVE names)
    uint64_t flow_id
    int64_t start_us
    int64_t end_us
    int64_t report_us        # the packet clock (µs) when the core wrote the record: the
                             # packet that ended the flow, the sweep's or shutdown's
                             # clock, an update's packet; never decreasing in a run
    uint8_t src_addr[16]
    uint8_t dest_addr[16]
    uint16_t src_port
    uint16_t dest_port
    uint16_t vlan0
    uint16_t vlan1
    uint8_t nvlan
    uint8_t ip_version
    uint8_t proto
    uint8_t reason
    uint8_t state
    uint8_t tcp_state
    uint8_t tcp_flags_ts
    uint8_t tcp_flags_tc
    uint8_t icmp_seen
    uint8_t icmp_type_ts
    uint8_t icmp_code_ts
    uint8_t icmp_type_tc
    uint8_t icmp_code_tc
    uint8_t app_proto        # AP_* (core_names.py APP_PROTOS): EVE's app_proto
    uint8_t pad[2]
    uint8_t src_mac[6]       # Ethernet, FlowMeter(macs=True): the MACs of the first packet
    uint8_t dest_mac[6]      # (zero otherwise)
    uint8_t pad2[4]
    # features: documented one by one in wirescore/catalog.py
    double duration
    uint64_t pkts_toserver
    uint64_t pkts_toclient
    uint64_t bytes_toserver
    uint64_t bytes_toclient
    uint64_t payload_bytes_toserver
    uint64_t payload_bytes_toclient
    double pktlen_min_toserver
    double pktlen_max_toserver
    double pktlen_mean_toserver
    double pktlen_std_toserver
    double pktlen_min_toclient
    double pktlen_max_toclient
    double pktlen_mean_toclient
    double pktlen_std_toclient
    double iat_min_toserver
    double iat_max_toserver
    double iat_mean_toserver
    double iat_std_toserver
    double iat_min_toclient
    double iat_max_toclient
    double iat_mean_toclient
    double iat_std_toclient
    uint64_t fin_toserver
    uint64_t syn_toserver
    uint64_t rst_toserver
    uint64_t psh_toserver
    uint64_t ack_toserver
    uint64_t urg_toserver
    uint64_t ece_toserver
    uint64_t cwr_toserver
    uint64_t bad_flags_toserver
    uint64_t fin_toclient
    uint64_t syn_toclient
    uint64_t rst_toclient
    uint64_t psh_toclient
    uint64_t ack_toclient
    uint64_t urg_toclient
    uint64_t ece_toclient
    uint64_t cwr_toclient
    uint64_t bad_flags_toclient
    double ttl_first_toserver
    double ttl_first_toclient
    double win_first_toserver
    double win_first_toclient
    double tcp_syn_synack_delay
    double tcp_synack_ack_delay
    # endpoint context when the flow is reported (context.pxd)
    double ctx_src_flows_60s
    double ctx_src_flows_600s
    double ctx_src_new_dsts_60s
    double ctx_src_new_dsts_600s
    double ctx_src_new_ports_60s
    double ctx_src_new_ports_600s
    double ctx_src_fail_ratio
    double ctx_src_mean_pkts
    double ctx_src_unreach
    double ctx_dst_flows_60s
    double ctx_dst_flows_600s
    double ctx_dst_fail_ratio
    double ctx_pair_flows
    double ctx_src_service_flows
    # endpoint activity around the flow: [start - 10 s, end + 10 s] (context.pxd hist)
    double ctx_src_flows_around
    double ctx_src_new_dsts_around
    double ctx_src_new_ports_around
    double ctx_dst_flows_around
    double ctx_dst_new_srcs_around
    double ctx_src_unanswered_new_dsts_around
    double ctx_src_unanswered_new_ports_around
    double ctx_dst_unanswered_new_ports_around
    # attempts of the client never answered, last 150-300 s (scans.pxd)
    double ctx_src_unanswered_hosts
    double ctx_src_unanswered_services
    double ctx_dst_unanswered_srcs
    # the same three as read when the flow went quiet (its quiet update: flowtable.pyx
    # quiet_after), if no packet came since; else (and for updates) equal to the above
    double quiet_src_unanswered_hosts
    double quiet_src_unanswered_services
    double quiet_dst_unanswered_srcs
    # the application layer's summary of the flow (ext/app/; 0 for another protocol)
    double app_dns_queries
    double app_dns_responses
    double app_dns_answers
    double app_dns_nxdomain
    double app_dns_rcode_other
    double app_dns_qname_len_max
    double app_dns_qname_labels
    double app_dns_qname_entropy
    double app_dns_odd_types
    double app_dns_qnames
    double app_krb5_requests
    double app_krb5_replies
    double app_krb5_errors
    double app_krb5_preauth_failed
    double app_krb5_preauth_required
    double app_krb5_unknown_client
    double app_krb5_weak_requests
    double app_krb5_weak_replies
    double app_krb5_cnames
    double app_ldap_requests
    double app_ldap_responses
    double app_ldap_simple_binds
    double app_ldap_sasl_binds
    double app_ldap_bind_failures
    double app_ldap_searches
    double app_ldap_subtree_searches
    double app_ldap_entries
    double app_ldap_result_errors
    double app_ldap_sealed
    double app_dcerpc_requests
    double app_dcerpc_responses
    double app_dcerpc_faults
    double app_dcerpc_binds
    double app_dcerpc_rejects
    double app_dcerpc_interfaces
    double app_dcerpc_ctx_over
    double app_dcerpc_req_stub_bytes
    double app_http_requests
    double app_http_responses
    double app_http_status_first
    double app_http_status_errors
    double app_http_uri_len_max
    double app_http_ua_share
    double app_http_bodies
    double app_http_body_magic
    double app_http_type_mismatch
    double app_http_exe_bodies
    double app_tls_version
    double app_tls_ciphers
    double app_tls_extensions
    double app_tls_sni
    double app_tls_alpns
    double app_tls_certs
    double app_tls_self_signed
    double app_tls_cert_days
    double app_tls_cert_age_days
    double app_ssh_banners
    double app_ssh_proto_version
    double app_smb_commands
    double app_smb_dialect
    double app_smb_tree_connects
    double app_smb_admin_shares
    double app_smb_creates
    double app_smb_pipes
    double app_smb_auths
    double app_smb_errors
    double app_smb_encrypted
    double app_smb_rpc_requests
    double app_first_bytes_toserver
    double app_first_bytes_toclient
    double app_first_entropy_toserver
    double app_first_entropy_toclient
    double app_first_printable_toserver
    double app_first_printable_toclient
    double app_first_magic_toserver
    double app_first_magic_toclient
    # the flow's first packets (splt.pxd; FlowMeter(splt=n), all zero when off): the
    # first splt_count of them, each its gap since the flow's previous packet (µs,
    # saturating), wire length (bytes, saturating) and direction (0 toserver)
    uint32_t splt_gap_us[SPLT_MAX]
    uint16_t splt_size[SPLT_MAX]
    uint8_t splt_direction[SPLT_MAX]
    uint8_t splt_count
    uint8_t pad3[7]
    # per-packet statistics (pktstats.pxd; FlowMeter(pktstats=True), all zero when off,
    # pkt_stats 1 when on): L4 payload lengths (bytes) per direction and merged, L4
    # header bytes, packets with payload, gaps of both directions merged (µs), activity
    # periods (µs; count, mean, population std, min, max); wirescore/catalog.py
    double pkt_payload_min_toserver
    double pkt_payload_max_toserver
    double pkt_payload_std_toserver
    double pkt_payload_min_toclient
    double pkt_payload_max_toclient
    double pkt_payload_std_toclient
    double pkt_payload_min
    double pkt_payload_max
    double pkt_payload_std
    double pkt_header_bytes_toserver
    double pkt_header_bytes_toclient
    double pkt_header_min_toserver
    double pkt_header_min_toclient
    double pkt_data_toserver
    double pkt_data_toclient
    double pkt_iat_min
    double pkt_iat_max
    double pkt_iat_std
    double pkt_active_count
    double pkt_active_mean
    double pkt_active_std
    double pkt_active_min
    double pkt_active_max
    double pkt_idle_count
    double pkt_idle_mean
    double pkt_idle_std
    double pkt_idle_min
    double pkt_idle_max
    uint8_t pkt_stats
    uint8_t pad4[7]


cdef inline uint32_t sat32(int64_t x) noexcept nogil:
    """x clamped to [0, 2**32-2] (2**32-1 is UNSEEN32)."""
    if x < 0:
        return 0
    if x > <int64_t>0xFFFFFFFEU:
        return 0xFFFFFFFEU
    return <uint32_t>x


cdef inline void acc_init(FlowAcc* f, int64_t ts, bint a_is_client) noexcept nogil:
    """A flow whose first packet is at ts (f zeroed by the caller)."""
    f.first_ts = ts
    f.syn_ts = -1
    f.synack_delay = UNSEEN32
    f.ack_delay = UNSEEN32
    f.a_is_client = 1 if a_is_client else 0
    f.d[0].last_ts = ts
    f.d[1].last_ts = ts
    f.d[0].len_min = UNSEEN32
    f.d[1].len_min = UNSEEN32
    f.d[0].iat_min = UNSEEN32
    f.d[1].iat_min = UNSEEN32


cdef inline int64_t acc_last_seen(const FlowAcc* f) noexcept nogil:
    return f.d[0].last_ts if f.d[0].last_ts > f.d[1].last_ts else f.d[1].last_ts


cdef inline void acc_tcp(FlowAcc* f, uint8_t flags, int64_t ts, int direction,
                         bint tcp_close) noexcept nogil:
    """The TCP state machine: handshake delays (SYN -> SYN/ACK -> ACK), teardown (FIN both
    ways or an RST closes; the flow's state becomes closed when tcp_close is set)."""
    if (flags & (TH_SYN | TH_ACK)) == TH_SYN:
        if f.syn_ts < 0 and direction == 0:
            f.syn_ts = ts
            if f.tcp_state == T_NONE:
                f.tcp_state = T_SYN_SENT
    elif (flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK):
        if f.syn_ts >= 0 and f.synack_delay == UNSEEN32 and direction == 1:
            f.synack_delay = sat32(ts - f.syn_ts)
            if f.tcp_state == T_SYN_SENT:
                f.tcp_state = T_SYN_RECV
    elif flags & TH_ACK:
        if (f.tcp_state == T_SYN_RECV and direction == 0
                and f.ack_delay == UNSEEN32):
            f.ack_delay = sat32(ts - f.syn_ts - f.synack_delay)
            f.tcp_state = T_ESTABLISHED
    if f.tcp_state == T_NONE and f.d[0].pkts > 0 and f.d[1].pkts > 0:
        f.tcp_state = T_ESTABLISHED       # picked up mid-stream
    if f.tcp_state == T_CLOSED:
        return
    if flags & TH_RST:
        f.tcp_state = T_CLOSED
        f.close_reason = R_TCP_RST
    elif flags & TH_FIN:
        f.fin_bits |= <uint8_t>(1 << direction)
        if f.fin_bits == 3:
            f.tcp_state = T_CLOSED
            f.close_reason = R_TCP_FIN
        else:
            f.tcp_state = T_FIN_WAIT
    if f.tcp_state == T_CLOSED and tcp_close:
        f.state = S_CLOSED


cdef inline void dir_add(DirStats* d, const PacketView* v, int64_t ts) noexcept nogil:
    """One packet of wire length v.wire_len at ts (not before d.last_ts) in direction d."""
    cdef int64_t iat
    cdef uint32_t wl = v.wire_len
    cdef double delta, x
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


cdef inline bint acc_packet(FlowAcc* f, const PacketView* v, int64_t* ts, int direction,
                            bint tcp_close, uint64_t* cnt) noexcept nogil:
    """Add one decoded packet of the flow in `direction`. ts (in/out): its time, moved
    up to the flow's last packet if older (counted in wirescore.ts_backwards). True when
    it is the first packet of its direction (a connection attempt or its answer: the
    scan tables' business, scans.pxd)."""
    cdef DirStats* d = &f.d[direction]
    cdef int64_t last = acc_last_seen(f)
    cdef bint first = d.pkts == 0
    cdef uint8_t flags
    cdef int k
    if ts[0] < last:
        cnt[F_TS_BACKWARDS] += 1
        ts[0] = last
    dir_add(d, v, ts[0])
    if v.proto == IPP_TCP and v.frag != FRAG_LATER:
        flags = v.tcp_flags
        d.flags_or |= flags
        for k in range(N_TCP_FLAGS):
            if flags & (1 << k):
                d.flags[k] += 1
        if tcp_flags_bad(flags) and f.bad_flags[direction] < 65535:
            f.bad_flags[direction] += 1
        acc_tcp(f, flags, ts[0], direction, tcp_close)
    elif (v.proto == IPP_ICMP or v.proto == IPP_ICMPV6) and v.frag != FRAG_LATER:
        if not (f.icmp_seen & (1 << direction)):
            f.icmp_seen |= <uint8_t>(1 << direction)
            f.icmp_type[direction] = v.icmp_type
            f.icmp_code[direction] = v.icmp_code
    if f.state == S_NEW and f.d[1].pkts > 0:
        f.state = S_ESTABLISHED
    return first


cdef inline int acc_end_reason(const FlowAcc* f, int reason) noexcept nogil:
    """The reason a flow ending for `reason` is reported with: a closed TCP flow that is
    still lingering when it is evicted or shut down keeps its teardown reason (tcp_fin /
    tcp_rst): the teardown is what ended it."""
    if f.state == S_CLOSED and (reason == R_FORCED or reason == R_SHUTDOWN):
        return f.close_reason
    return reason


cdef inline void dir_features(const DirStats* d, double* lens, double* iats) noexcept nogil:
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


cdef inline void dir_flags(const DirStats* d, uint64_t* counts) noexcept nogil:
    """The eight per-flag packet counts, in the record's order (fin syn rst psh ack urg
    ece cwr: the flag bits' order)."""
    cdef int k
    for k in range(N_TCP_FLAGS):
        counts[k] = d.flags[k]


cdef inline void acc_record(const FlowAcc* f, int reason, FlowRecord* r) noexcept nogil:
    """The record's times, reason, states and features (r zeroed by the caller)."""
    cdef const DirStats* ds = &f.d[0]
    cdef const DirStats* dc = &f.d[1]
    cdef int64_t last = acc_last_seen(f)
    r.start_us = f.first_ts
    r.end_us = last
    r.reason = <uint8_t>reason
    r.state = f.state
    r.tcp_state = f.tcp_state
    r.tcp_flags_ts = ds.flags_or
    r.tcp_flags_tc = dc.flags_or
    r.icmp_seen = f.icmp_seen
    r.icmp_type_ts = f.icmp_type[0]
    r.icmp_code_ts = f.icmp_code[0]
    r.icmp_type_tc = f.icmp_type[1]
    r.icmp_code_tc = f.icmp_code[1]
    r.duration = (last - f.first_ts) / 1e6
    r.pkts_toserver = ds.pkts
    r.pkts_toclient = dc.pkts
    r.bytes_toserver = ds.bytes
    r.bytes_toclient = dc.bytes
    r.payload_bytes_toserver = ds.payload
    r.payload_bytes_toclient = dc.payload
    dir_features(ds, &r.pktlen_min_toserver, &r.iat_min_toserver)
    dir_features(dc, &r.pktlen_min_toclient, &r.iat_min_toclient)
    dir_flags(ds, &r.fin_toserver)
    r.bad_flags_toserver = f.bad_flags[0]
    dir_flags(dc, &r.fin_toclient)
    r.bad_flags_toclient = f.bad_flags[1]
    r.ttl_first_toserver = ds.ttl_first
    r.ttl_first_toclient = dc.ttl_first if dc.pkts else 0
    r.win_first_toserver = ds.win_first
    r.win_first_toclient = dc.win_first if dc.pkts else 0
    r.tcp_syn_synack_delay = -1 if f.synack_delay == UNSEEN32 else <double>f.synack_delay
    r.tcp_synack_ack_delay = -1 if f.ack_delay == UNSEEN32 else <double>f.ack_delay


cdef inline void count_end(uint64_t* cnt, int reason, int state) noexcept nogil:
    """The end counters of a flow reported with `reason` in `state` (flow.wrk.flows_evicted
    is counted where the eviction is decided, whatever the reason reported)."""
    if reason == R_TIMEOUT:
        cnt[F_END_TIMEOUT] += 1
    elif reason == R_ACTIVE:
        cnt[F_END_ACTIVE] += 1
    elif reason == R_TCP_FIN:
        cnt[F_END_TCP_FIN] += 1
    elif reason == R_TCP_RST:
        cnt[F_END_TCP_RST] += 1
    elif reason == R_SHUTDOWN:
        cnt[F_END_SHUTDOWN] += 1
    if state == S_NEW:
        cnt[F_END_STATE_NEW] += 1
    elif state == S_ESTABLISHED:
        cnt[F_END_STATE_ESTABLISHED] += 1
    else:
        cnt[F_END_STATE_CLOSED] += 1
