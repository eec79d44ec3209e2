# Counter slots shared by decode and flowtable: one uint64 array per meter.
#
# The order here is the order of COUNTER_NAMES in flowtable.pyx (a test checks the
# two agree). Names are dotted paths; where Suricata's EVE stats schema has the same
# counter, the name is its path under "stats" (decoder.event.ipv4.trunc_pkt ...).
#
# Every packet read lands in exactly one of three buckets:
#   IP (went into the flow table)  = C_DECODED_IP
#   non-IP (ARP, LLDP, ...)        = C_NONIP
#   error (counted by reason)      = C_INVALID
# so C_PKTS == C_DECODED_IP + C_NONIP + C_INVALID always.

cdef enum:
    # totals
    C_PKTS
    C_BYTES
    C_DECODED_IP
    C_NONIP
    C_INVALID
    # link layers and protocols seen (informational, not exclusive)
    C_ETHERNET
    C_SLL
    C_SLL2
    C_RAW
    C_NULL
    C_NFLOG
    C_PPP
    C_CHDLC
    C_VLAN
    C_VLAN_QINQ
    C_MPLS
    C_PPPOE
    C_IPV4
    C_IPV6
    C_TCP
    C_UDP
    C_SCTP
    C_ICMPV4
    C_ICMPV6
    C_OTHER_IP
    C_FRAG4
    C_FRAG6
    C_FRAG_MATCHED
    C_FRAG_UNMATCHED
    C_SNAPPED
    # non-IP frames by kind
    C_ARP
    C_UNKNOWN_ETHERTYPE
    C_NONIP_NULL
    C_NONIP_NFLOG
    C_NONIP_PPP
    # errors: the packet makes no flow
    E_BAD_RECORD
    E_ETH_SMALL
    E_VLAN_SMALL
    E_VLAN_TOO_MANY
    E_MPLS_SMALL
    E_MPLS_UNKNOWN
    E_PPPOE_SMALL
    E_SLL_SMALL
    E_SLL2_SMALL
    E_NULL_SMALL
    E_NFLOG_SMALL
    E_NFLOG_BAD_TLV
    E_PPP_SMALL
    E_CHDLC_SMALL
    E_RAW_BAD_VERSION
    E_IPV4_SMALL
    E_IPV4_WRONG_VER
    E_IPV4_HLEN_SMALL
    E_IPV4_IPLEN_LT_HLEN
    E_IPV4_TRUNC
    E_IPV6_SMALL
    E_IPV6_WRONG_VER
    E_IPV6_TRUNC_EXTHDR
    E_TCP_SMALL
    E_TCP_HLEN_SMALL
    E_TCP_INVALID_OPTLEN
    E_UDP_SMALL
    E_SCTP_SMALL
    E_ICMPV4_SMALL
    E_ICMPV6_SMALL
    # flow table
    F_TOTAL
    F_TCP
    F_UDP
    F_ICMPV4
    F_ICMPV6
    F_OTHER
    F_END_TIMEOUT
    F_END_ACTIVE
    F_END_TCP_FIN
    F_END_TCP_RST
    F_END_FORCED
    F_END_SHUTDOWN
    F_TCP_REUSE
    F_END_STATE_NEW
    F_END_STATE_ESTABLISHED
    F_END_STATE_CLOSED
    F_TS_BACKWARDS
    F_FRAG_TABLE_OVERWRITE
    F_CTX_HOST_REPLACED
    F_CTX_PAIR_REPLACED
    F_CTX_PORT_REPLACED
    F_CTX_HIST_REPLACED
    F_CTX_SCAN_REPLACED
    W_WINDOWS
    W_KEYS_DROPPED
    N_COUNTERS
