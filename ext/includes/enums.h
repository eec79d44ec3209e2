/* The core's enums whose names leave it (EVE strings, settings, window keys), each value
 * beside its name, once (slots.h says how a list expands). Python reads the names from
 * wirescore._core.names (outputs/eve.py, config.py, ...); eve.pyx writes them from the
 * ws_* tables here. */
#ifndef WS_ENUMS_H
#define WS_ENUMS_H

#include "slots.h"

/* flow.reason: why a flow ended (Suricata's flow.reason; an active timeout is a
 * "timeout" there too, a TCP teardown is "timeout" plus our tcp_fin / tcp_rst detail) */
#define WS_REASONS(X) \
    X(R_NONE,     "none") \
    X(R_TIMEOUT,  "timeout") \
    X(R_ACTIVE,   "timeout") \
    X(R_TCP_FIN,  "tcp_fin") \
    X(R_TCP_RST,  "tcp_rst") \
    X(R_FORCED,   "forced") \
    X(R_SHUTDOWN, "shutdown")
enum { WS_REASONS(WS_ENUM_ITEM) WS_N_REASONS };
static const ws_slot ws_reasons[WS_N_REASONS] = { WS_REASONS(WS_SLOT_ITEM) };

/* flow.state: established once a packet came back; closed after a TCP teardown */
#define WS_STATES(X) \
    X(S_NEW,         "new") \
    X(S_ESTABLISHED, "established") \
    X(S_CLOSED,      "closed")
enum { WS_STATES(WS_ENUM_ITEM) WS_N_STATES };
static const ws_slot ws_states[WS_N_STATES] = { WS_STATES(WS_SLOT_ITEM) };

/* tcp.state: a simplified Suricata TCP state */
#define WS_TCP_STATES(X) \
    X(T_NONE,        "none") \
    X(T_SYN_SENT,    "syn_sent") \
    X(T_SYN_RECV,    "syn_recv") \
    X(T_ESTABLISHED, "established") \
    X(T_FIN_WAIT,    "fin_wait1") \
    X(T_CLOSED,      "closed")
enum { WS_TCP_STATES(WS_ENUM_ITEM) WS_N_TCP_STATES };
static const ws_slot ws_tcp_states[WS_N_TCP_STATES] = { WS_TCP_STATES(WS_SLOT_ITEM) };

/* idle-timeout classes (protocol x state), one idle list each in the flow table; the
 * name is the setting's (flow.timeouts.<name>), the value its default in seconds
 * (Suricata's flow-timeouts) */
#define WS_TIMEOUT_CLASSES(X) \
    X(TC_TCP_NEW,        60,  "tcp.new") \
    X(TC_TCP_EST,        600, "tcp.established") \
    X(TC_TCP_CLOSED,     60,  "tcp.closed") \
    X(TC_UDP_NEW,        30,  "udp.new") \
    X(TC_UDP_EST,        300, "udp.established") \
    X(TC_ICMP_NEW,       30,  "icmp.new") \
    X(TC_ICMP_EST,       300, "icmp.established") \
    X(TC_OTHER_NEW,      30,  "other.new") \
    X(TC_OTHER_EST,      300, "other.established")
#define WS_TC_ENUM(id, seconds, name) WS_##id,
#define WS_TC_SLOT(id, seconds, name) {#id, WS_##id, name},
#define WS_TC_DEFAULT(id, seconds, name) seconds,
enum { WS_TIMEOUT_CLASSES(WS_TC_ENUM) WS_N_TC };
static const ws_slot ws_timeout_classes[WS_N_TC] = { WS_TIMEOUT_CLASSES(WS_TC_SLOT) };
static const double ws_timeout_defaults[WS_N_TC] = { WS_TIMEOUT_CLASSES(WS_TC_DEFAULT) };

/* traffic window keys: the whole stream, each source, each destination address */
#define WS_WINDOW_KINDS(X) \
    X(WIN_KIND_ALL, "all") \
    X(WIN_KIND_SRC, "src") \
    X(WIN_KIND_DST, "dst")
enum { WS_WINDOW_KINDS(WS_ENUM_ITEM) WS_WIN_KINDS };
static const ws_slot ws_window_kinds[WS_WIN_KINDS] = { WS_WINDOW_KINDS(WS_SLOT_ITEM) };

/* TCP flag bits (RFC 9293; ECE/CWR RFC 3168) and their EVE names (Suricata's tcp
 * object says "ecn" for ECE); bit k of the flags byte is the k-th row */
#define WS_TCP_FLAGS(X) \
    X(TH_FIN, 0x01, "fin") \
    X(TH_SYN, 0x02, "syn") \
    X(TH_RST, 0x04, "rst") \
    X(TH_PSH, 0x08, "psh") \
    X(TH_ACK, 0x10, "ack") \
    X(TH_URG, 0x20, "urg") \
    X(TH_ECE, 0x40, "ecn") \
    X(TH_CWR, 0x80, "cwr")
enum { WS_TCP_FLAGS(WS_ENUM_VALUE) };
static const ws_slot ws_tcp_flags[] = { WS_TCP_FLAGS(WS_SLOT_VALUE) };
enum { WS_N_TCP_FLAGS = WS_COUNT(ws_tcp_flags) };

/* IP protocols by their EVE proto name (Suricata's; any other is written as its number),
 * and whether flows of it are keyed and written with ports */
#define WS_PROTOS(X) \
    X(IPP_ICMP,   1,   "ICMP",      0) \
    X(IPP_TCP,    6,   "TCP",       1) \
    X(IPP_UDP,    17,  "UDP",       1) \
    X(IPP_ICMPV6, 58,  "IPv6-ICMP", 0) \
    X(IPP_SCTP,   132, "SCTP",      1)
#define WS_PROTO_ENUM(id, number, name, ports) WS_##id = number,
#define WS_PROTO_SLOT(id, number, name, ports) {#id, number, name},
#define WS_PROTO_PORTS(id, number, name, ports) ports,
enum { WS_PROTOS(WS_PROTO_ENUM) };
static const ws_slot ws_protos[] = { WS_PROTOS(WS_PROTO_SLOT) };
static const unsigned char ws_proto_ports[] = { WS_PROTOS(WS_PROTO_PORTS) };
enum { WS_N_PROTOS = WS_COUNT(ws_protos) };

/* the row of IP protocol p in ws_protos, or -1 */
static inline int ws_proto_row(unsigned int p) {
    int i;
    for (i = 0; i < (int)WS_N_PROTOS; i++)
        if (ws_protos[i].value == (long)p)
            return i;
    return -1;
}

/* the EVE name of IP protocol p, or NULL (then its number is written) */
static inline const char* ws_proto_name(unsigned int p) {
    int i = ws_proto_row(p);
    return i < 0 ? 0 : ws_protos[i].name;
}

/* whether flows of IP protocol p are keyed and written with ports */
static inline int ws_has_ports(unsigned int p) {
    int i = ws_proto_row(p);
    return i >= 0 && ws_proto_ports[i];
}

#endif
