# Flow table: bidirectional flows keyed by (VLAN ids, IP protocol, the two endpoints
# in canonical order), bounded by max_flows, with per-class idle-timeout LRU lists,
# active timeout, TCP teardown with a linger, and eviction when full.
#
# FlowEntry is the live state (kept small: it is what 1M concurrent flows cost);
# FlowRecord is what leaves the core when a flow ends, and RECORD_DTYPE in
# flowtable.pyx is derived from it, so the numpy view and the C struct cannot drift.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t

# flow.reason
cdef enum:
    R_NONE = 0
    R_TIMEOUT = 1
    R_ACTIVE = 2
    R_TCP_FIN = 3
    R_TCP_RST = 4
    R_FORCED = 5
    R_SHUTDOWN = 6

# flow.state
cdef enum:
    S_NEW = 0
    S_ESTABLISHED = 1
    S_CLOSED = 2

# tcp.state (a simplified Suricata TCP state)
cdef enum:
    T_NONE = 0
    T_SYN_SENT = 1
    T_SYN_RECV = 2
    T_ESTABLISHED = 3
    T_FIN_WAIT = 4
    T_CLOSED = 5

# idle-timeout classes: one LRU list each
cdef enum:
    TC_TCP_NEW = 0
    TC_TCP_EST = 1
    TC_TCP_CLOSED = 2
    TC_UDP_NEW = 3
    TC_UDP_EST = 4
    TC_ICMP_NEW = 5
    TC_ICMP_EST = 6
    TC_OTHER_NEW = 7
    TC_OTHER_EST = 8
    N_TC = 9

cdef struct FlowKey:
    uint8_t addr_a[16]       # the lower (address, port) endpoint
    uint8_t addr_b[16]
    uint16_t port_a
    uint16_t port_b
    uint16_t vlan0
    uint16_t vlan1
    uint8_t proto
    uint8_t ipver
    uint8_t nvlan
    uint8_t pad[5]           # zero: keys are compared and hashed as 48 bytes

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
    uint32_t iat_min         # microseconds, saturating at 2**32-1
    uint32_t iat_max
    uint32_t flags[8]        # FIN SYN RST PSH ACK URG ECE CWR
    uint16_t win_first
    uint8_t ttl_first
    uint8_t flags_or

cdef struct FlowEntry:
    FlowKey key
    int64_t first_ts
    int64_t syn_ts           # -1 until a SYN is seen
    int64_t queued_ts        # last_seen when (re)queued on its idle list
    uint32_t hash
    int32_t hnext            # bucket chain, or free-list link
    int32_t lprev            # idle list links
    int32_t lnext
    uint32_t synack_delay    # microseconds; 0xFFFFFFFF = not seen
    uint32_t ack_delay
    uint8_t a_is_client      # 1 when key.addr_a sent the first packet
    uint8_t state
    uint8_t tcp_state
    uint8_t close_reason     # R_TCP_FIN / R_TCP_RST once closed
    uint8_t tclass
    uint8_t icmp_seen        # bit per direction
    uint8_t fin_bits         # bit per direction
    uint8_t ctx_bits         # CB_* (flowtable.pyx): what the flow was to its endpoints
    uint8_t icmp_type[2]
    uint8_t icmp_code[2]
    uint16_t bad_flags[2]    # per direction: TCP packets with flags no stack sends
                             # (decode.pxd tcp_flags_bad), saturating at 65535
    DirStats d[2]            # 0 = toserver, 1 = toclient

cdef struct FlowRecord:
    # identity (EVE names)
    uint64_t flow_id
    int64_t start_us
    int64_t end_us
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
    uint8_t pad[3]
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
    # attempts of the client never answered, last 150-300 s (context.pxd scan tables)
    double ctx_src_unanswered_hosts
    double ctx_src_unanswered_services
    double ctx_dst_unanswered_srcs

cdef struct FragSlot:
    uint8_t src[16]
    uint8_t dst[16]
    int64_t ts
    uint32_t ip_id
    uint16_t sport
    uint16_t dport
    uint8_t proto
    uint8_t ipver
    uint8_t used
    uint8_t pad

cdef struct RingRec:
    int64_t ts_us
    uint64_t flow_id
    uint32_t off             # where the frame's bytes start in the ring's arena
    uint32_t caplen
    uint32_t wire_len
    uint32_t linktype        # the frame's libpcap DLT
