/* Counter slots shared by the decoder and the meter's rooms: one uint64 array per meter.
 *
 * WS_COUNTERS is the one list: each slot's enum name beside its counter name. The enum
 * below and the name table (wirescore._core.names.COUNTER_NAMES) are both expanded from
 * it, so a slot and its name cannot drift apart. Names are dotted paths; where
 * Suricata's EVE stats schema has the same counter, the name is its path under "stats"
 * (decoder.event.ipv4.trunc_pkt ...).
 *
 * Every packet read lands in exactly one of three buckets:
 *   IP (went into the flow table)  = C_DECODED_IP
 *   non-IP (ARP, LLDP, ...)        = C_NONIP
 *   error (counted by reason)      = C_INVALID
 * so C_PKTS == C_DECODED_IP + C_NONIP + C_INVALID always.
 */
#ifndef WS_COUNTERS_H
#define WS_COUNTERS_H

#include "slots.h"

#define WS_COUNTERS(X) \
    /* totals */ \
    X(C_PKTS,                  "decoder.pkts") \
    X(C_BYTES,                 "decoder.bytes") \
    X(C_DECODED_IP,            "wirescore.decoded_ip") \
    X(C_NONIP,                 "wirescore.nonip") \
    X(C_INVALID,               "decoder.invalid") \
    /* link layers and protocols seen (informational, not exclusive) */ \
    X(C_ETHERNET,              "decoder.ethernet") \
    X(C_SLL,                   "decoder.sll") \
    X(C_SLL2,                  "decoder.sll2") \
    X(C_RAW,                   "decoder.raw") \
    X(C_NULL,                  "decoder.null") \
    X(C_NFLOG,                 "wirescore.nflog") \
    X(C_PPP,                   "decoder.ppp") \
    X(C_CHDLC,                 "decoder.chdlc") \
    X(C_VLAN,                  "decoder.vlan") \
    X(C_VLAN_QINQ,             "decoder.vlan_qinq") \
    X(C_MPLS,                  "decoder.mpls") \
    X(C_PPPOE,                 "decoder.pppoe") \
    X(C_IPV4,                  "decoder.ipv4") \
    X(C_IPV6,                  "decoder.ipv6") \
    X(C_TCP,                   "decoder.tcp") \
    X(C_UDP,                   "decoder.udp") \
    X(C_SCTP,                  "decoder.sctp") \
    X(C_ICMPV4,                "decoder.icmpv4") \
    X(C_ICMPV6,                "decoder.icmpv6") \
    X(C_OTHER_IP,              "wirescore.other_ip") \
    X(C_FRAG4,                 "defrag.ipv4.fragments") \
    X(C_FRAG6,                 "defrag.ipv6.fragments") \
    X(C_FRAG_MATCHED,          "wirescore.frag_matched") \
    X(C_FRAG_UNMATCHED,        "wirescore.frag_unmatched") \
    X(C_SNAPPED,               "wirescore.snapped") \
    /* non-IP frames by kind */ \
    X(C_ARP,                   "decoder.arp") \
    X(C_UNKNOWN_ETHERTYPE,     "decoder.unknown_ethertype") \
    X(C_NONIP_NULL,            "wirescore.nonip_null") \
    X(C_NONIP_NFLOG,           "wirescore.nonip_nflog") \
    X(C_NONIP_PPP,             "wirescore.nonip_ppp") \
    /* errors: the packet makes no flow */ \
    X(E_BAD_RECORD,            "capture.errors") \
    X(E_ETH_SMALL,             "decoder.event.ethernet.pkt_too_small") \
    X(E_VLAN_SMALL,            "decoder.event.vlan.header_too_small") \
    X(E_VLAN_TOO_MANY,         "decoder.event.vlan.too_many_layers") \
    X(E_MPLS_SMALL,            "decoder.event.mpls.header_too_small") \
    X(E_MPLS_UNKNOWN,          "decoder.event.mpls.unknown_payload_type") \
    X(E_PPPOE_SMALL,           "decoder.event.pppoe.pkt_too_small") \
    X(E_SLL_SMALL,             "decoder.event.sll.pkt_too_small") \
    X(E_SLL2_SMALL,            "decoder.event.sll2.pkt_too_small") \
    X(E_NULL_SMALL,            "decoder.event.ltnull.pkt_too_small") \
    X(E_NFLOG_SMALL,           "wirescore.nflog_pkt_too_small") \
    X(E_NFLOG_BAD_TLV,         "wirescore.nflog_bad_tlv") \
    X(E_PPP_SMALL,             "decoder.event.ppp.pkt_too_small") \
    X(E_CHDLC_SMALL,           "decoder.event.chdlc.pkt_too_small") \
    X(E_RAW_BAD_VERSION,       "decoder.event.ipraw.invalid_ip_version") \
    X(E_IPV4_SMALL,            "decoder.event.ipv4.pkt_too_small") \
    X(E_IPV4_WRONG_VER,        "decoder.event.ipv4.wrong_ip_version") \
    X(E_IPV4_HLEN_SMALL,       "decoder.event.ipv4.hlen_too_small") \
    X(E_IPV4_IPLEN_LT_HLEN,    "decoder.event.ipv4.iplen_smaller_than_hlen") \
    X(E_IPV4_TRUNC,            "decoder.event.ipv4.trunc_pkt") \
    X(E_IPV6_SMALL,            "decoder.event.ipv6.pkt_too_small") \
    X(E_IPV6_WRONG_VER,        "decoder.event.ipv6.wrong_ip_version") \
    X(E_IPV6_TRUNC_EXTHDR,     "decoder.event.ipv6.trunc_exthdr") \
    X(E_TCP_SMALL,             "decoder.event.tcp.pkt_too_small") \
    X(E_TCP_HLEN_SMALL,        "decoder.event.tcp.hlen_too_small") \
    X(E_TCP_INVALID_OPTLEN,    "decoder.event.tcp.invalid_optlen") \
    X(E_UDP_SMALL,             "decoder.event.udp.pkt_too_small") \
    X(E_SCTP_SMALL,            "decoder.event.sctp.pkt_too_small") \
    X(E_ICMPV4_SMALL,          "decoder.event.icmpv4.pkt_too_small") \
    X(E_ICMPV6_SMALL,          "decoder.event.icmpv6.pkt_too_small") \
    /* flow table */ \
    X(F_TOTAL,                 "flow.total") \
    X(F_TCP,                   "flow.tcp") \
    X(F_UDP,                   "flow.udp") \
    X(F_ICMPV4,                "flow.icmpv4") \
    X(F_ICMPV6,                "flow.icmpv6") \
    X(F_OTHER,                 "wirescore.flow_other") \
    X(F_END_TIMEOUT,           "flow.mgr.flows_timeout") \
    X(F_END_ACTIVE,            "wirescore.flow_active_timeout") \
    X(F_END_TCP_FIN,           "wirescore.flow_tcp_fin") \
    X(F_END_TCP_RST,           "wirescore.flow_tcp_rst") \
    X(F_END_FORCED,            "flow.wrk.flows_evicted") \
    X(F_END_SHUTDOWN,          "wirescore.flow_shutdown") \
    X(F_TCP_REUSE,             "flow.tcp_reuse") \
    X(F_END_STATE_NEW,         "flow.end.state.new") \
    X(F_END_STATE_ESTABLISHED, "flow.end.state.established") \
    X(F_END_STATE_CLOSED,      "flow.end.state.closed") \
    X(F_TS_BACKWARDS,          "wirescore.ts_backwards") \
    X(F_FRAG_TABLE_OVERWRITE,  "defrag.tracker_hard_reuse") \
    X(F_CTX_HOST_REPLACED,     "wirescore.ctx_host_replaced") \
    X(F_CTX_PAIR_REPLACED,     "wirescore.ctx_pair_replaced") \
    X(F_CTX_PORT_REPLACED,     "wirescore.ctx_port_replaced") \
    X(F_CTX_HIST_REPLACED,     "wirescore.ctx_hist_replaced") \
    X(F_CTX_SCAN_REPLACED,     "wirescore.ctx_scan_replaced") \
    X(W_WINDOWS,               "wirescore.windows") \
    X(W_KEYS_DROPPED,          "wirescore.window_keys_dropped")

enum { WS_COUNTERS(WS_ENUM_ITEM) WS_N_COUNTERS };
static const ws_slot ws_counter_slots[WS_N_COUNTERS] = { WS_COUNTERS(WS_SLOT_ITEM) };

#endif
