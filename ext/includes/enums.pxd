# The core's enums whose names leave it (flow reasons and states, TCP states, timeout
# classes, window keys, TCP flags, EVE protocol names, application-layer protocols and
# event kinds) and the sizes its documentation
# quotes: each list is in wirescore/core_names.py, beside its names; setup.py generates
# names.h from it. Declared here for Cython, which takes the values from the header.

from slots cimport ws_slot

cdef extern from "names.h":
    enum:
        # flow.reason
        R_NONE "WS_R_NONE"
        R_TIMEOUT "WS_R_TIMEOUT"
        R_ACTIVE "WS_R_ACTIVE"
        R_TCP_FIN "WS_R_TCP_FIN"
        R_TCP_RST "WS_R_TCP_RST"
        R_FORCED "WS_R_FORCED"
        R_SHUTDOWN "WS_R_SHUTDOWN"
        N_REASONS "WS_N_REASONS"
        # flow.state
        S_NEW "WS_S_NEW"
        S_ESTABLISHED "WS_S_ESTABLISHED"
        S_CLOSED "WS_S_CLOSED"
        N_STATES "WS_N_STATES"
        # tcp.state
        T_NONE "WS_T_NONE"
        T_SYN_SENT "WS_T_SYN_SENT"
        T_SYN_RECV "WS_T_SYN_RECV"
        T_ESTABLISHED "WS_T_ESTABLISHED"
        T_FIN_WAIT "WS_T_FIN_WAIT"
        T_CLOSED "WS_T_CLOSED"
        N_TCP_STATES "WS_N_TCP_STATES"
        # idle-timeout classes
        TC_TCP_NEW "WS_TC_TCP_NEW"
        TC_TCP_EST "WS_TC_TCP_EST"
        TC_TCP_CLOSED "WS_TC_TCP_CLOSED"
        TC_UDP_NEW "WS_TC_UDP_NEW"
        TC_UDP_EST "WS_TC_UDP_EST"
        TC_ICMP_NEW "WS_TC_ICMP_NEW"
        TC_ICMP_EST "WS_TC_ICMP_EST"
        TC_OTHER_NEW "WS_TC_OTHER_NEW"
        TC_OTHER_EST "WS_TC_OTHER_EST"
        N_TC "WS_N_TC"
        # traffic window keys
        WIN_KIND_ALL "WS_WIN_KIND_ALL"
        WIN_KIND_SRC "WS_WIN_KIND_SRC"
        WIN_KIND_DST "WS_WIN_KIND_DST"
        WIN_KINDS "WS_WIN_KINDS"
        # TCP flag bits
        TH_FIN "WS_TH_FIN"
        TH_SYN "WS_TH_SYN"
        TH_RST "WS_TH_RST"
        TH_PSH "WS_TH_PSH"
        TH_ACK "WS_TH_ACK"
        TH_URG "WS_TH_URG"
        TH_ECE "WS_TH_ECE"
        TH_CWR "WS_TH_CWR"
        N_TCP_FLAGS "WS_N_TCP_FLAGS"
        # IP protocols with an EVE name
        IPP_ICMP "WS_IPP_ICMP"
        IPP_TCP "WS_IPP_TCP"
        IPP_UDP "WS_IPP_UDP"
        IPP_ICMPV6 "WS_IPP_ICMPV6"
        IPP_SCTP "WS_IPP_SCTP"
        N_PROTOS "WS_N_PROTOS"
        # application-layer protocols (FlowRecord.app_proto) and event kinds
        AP_NONE "WS_AP_NONE"
        AP_FAILED "WS_AP_FAILED"
        AP_DNS "WS_AP_DNS"
        AP_KRB5 "WS_AP_KRB5"
        AP_LDAP "WS_AP_LDAP"
        AP_DCERPC "WS_AP_DCERPC"
        AP_HTTP "WS_AP_HTTP"
        AP_TLS "WS_AP_TLS"
        AP_SSH "WS_AP_SSH"
        AP_SMB "WS_AP_SMB"
        N_APP_PROTOS "WS_N_APP_PROTOS"
        EV_DNS "WS_EV_DNS"
        EV_KRB5 "WS_EV_KRB5"
        EV_LDAP "WS_EV_LDAP"
        EV_DCERPC "WS_EV_DCERPC"
        EV_HTTP "WS_EV_HTTP"
        EV_FILEINFO "WS_EV_FILEINFO"
        EV_TLS "WS_EV_TLS"
        EV_SSH "WS_EV_SSH"
        EV_SMB "WS_EV_SMB"
        N_APP_EVENTS "WS_N_APP_EVENTS"
        # DNS RR types and RCODEs with an EVE name (ws_dns_rrtypes, ws_dns_rcodes)
        N_DNS_RRTYPES "WS_N_DNS_RRTYPES"
        N_DNS_RCODES "WS_N_DNS_RCODES"
        # sizes of the application layer
        APP_HOLD "WS_APP_HOLD"
        APP_PROBE "WS_APP_PROBE"
        DNS_NAME "WS_DNS_NAME"
        DNS_ANSWERS "WS_DNS_ANSWERS"
        DNS_RDATA "WS_DNS_RDATA"
        DNS_TEXT "WS_DNS_TEXT"
        # sizes quoted outside the core
        SCAN_BITS "WS_SCAN_BITS"
        SCAN_WORDS "WS_SCAN_WORDS"
        WIN_BITS "WS_WIN_BITS"
        WIN_WORDS "WS_WIN_WORDS"
        CLOCK_REACH "WS_CLOCK_REACH"

    const ws_slot ws_reasons[]
    const ws_slot ws_states[]
    const ws_slot ws_tcp_states[]
    const ws_slot ws_timeout_classes[]
    const double ws_timeout_defaults[]
    const ws_slot ws_window_kinds[]
    const ws_slot ws_tcp_flags[]
    const ws_slot ws_protos[]
    const ws_slot ws_app_protos[]
    const ws_slot ws_app_events[]
    const ws_slot ws_dns_rrtypes[]
    const ws_slot ws_dns_rcodes[]
    const unsigned char ws_proto_ports[]
    const char* ws_proto_name(unsigned int p) noexcept nogil
    bint ws_has_ports(unsigned int p) noexcept nogil
