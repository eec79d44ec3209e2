"""The compiled core's name lists, each value beside its name, written once.

Counter slots, flow reasons, flow and TCP states, idle-timeout classes (with their
default seconds), window keys, TCP flags and EVE protocol names: one list each, in the
order of the C enum's values, and the few sizes of the core that its documentation
quotes. The C side is built from here: setup.py writes ext/includes/names.h (c_header())
before compiling, so the core's enums and name tables (ws_*) cannot drift from these
lists; tests/test_names.py checks the compiled tables slot by slot. Python takes the
names from here: outputs/eve.py, config.py, catalog.py, flowset.py, and
wirescore._core.flowtable re-exports them.

Pure data, no import of wirescore or of the compiled core (setup.py runs this file on
its own, and `wirescore features` or `wirescore config` work on a checkout whose core
was never built).
"""

# Counter slots: one uint64 each per meter. Names are dotted paths; where Suricata's EVE
# stats schema has the same counter, the name is its path under "stats". Every packet
# read lands in exactly one of three buckets, IP (C_DECODED_IP), non-IP (C_NONIP) and
# error (C_INVALID, with its reason), so C_PKTS == C_DECODED_IP + C_NONIP + C_INVALID.
COUNTERS = (
    # totals
    ("C_PKTS", "decoder.pkts"),
    ("C_BYTES", "decoder.bytes"),
    ("C_DECODED_IP", "wirescore.decoded_ip"),
    ("C_NONIP", "wirescore.nonip"),
    ("C_INVALID", "decoder.invalid"),
    # link layers and protocols seen (informational, not exclusive)
    ("C_ETHERNET", "decoder.ethernet"),
    ("C_SLL", "decoder.sll"),
    ("C_SLL2", "decoder.sll2"),
    ("C_RAW", "decoder.raw"),
    ("C_NULL", "decoder.null"),
    ("C_NFLOG", "wirescore.nflog"),
    ("C_PPP", "decoder.ppp"),
    ("C_CHDLC", "decoder.chdlc"),
    ("C_VLAN", "decoder.vlan"),
    ("C_VLAN_QINQ", "decoder.vlan_qinq"),
    ("C_MPLS", "decoder.mpls"),
    ("C_PPPOE", "decoder.pppoe"),
    ("C_IPV4", "decoder.ipv4"),
    ("C_IPV6", "decoder.ipv6"),
    ("C_TCP", "decoder.tcp"),
    ("C_UDP", "decoder.udp"),
    ("C_SCTP", "decoder.sctp"),
    ("C_ICMPV4", "decoder.icmpv4"),
    ("C_ICMPV6", "decoder.icmpv6"),
    ("C_OTHER_IP", "wirescore.other_ip"),
    ("C_FRAG4", "defrag.ipv4.fragments"),
    ("C_FRAG6", "defrag.ipv6.fragments"),
    ("C_FRAG_MATCHED", "wirescore.frag_matched"),
    ("C_FRAG_UNMATCHED", "wirescore.frag_unmatched"),
    ("C_SNAPPED", "wirescore.snapped"),
    # non-IP frames by kind
    ("C_ARP", "decoder.arp"),
    ("C_UNKNOWN_ETHERTYPE", "decoder.unknown_ethertype"),
    ("C_NONIP_NULL", "wirescore.nonip_null"),
    ("C_NONIP_NFLOG", "wirescore.nonip_nflog"),
    ("C_NONIP_PPP", "wirescore.nonip_ppp"),
    # errors: the packet makes no flow
    ("E_BAD_RECORD", "capture.errors"),
    ("E_ETH_SMALL", "decoder.event.ethernet.pkt_too_small"),
    ("E_VLAN_SMALL", "decoder.event.vlan.header_too_small"),
    ("E_VLAN_TOO_MANY", "decoder.event.vlan.too_many_layers"),
    ("E_MPLS_SMALL", "decoder.event.mpls.header_too_small"),
    ("E_MPLS_UNKNOWN", "decoder.event.mpls.unknown_payload_type"),
    ("E_PPPOE_SMALL", "decoder.event.pppoe.pkt_too_small"),
    ("E_SLL_SMALL", "decoder.event.sll.pkt_too_small"),
    ("E_SLL2_SMALL", "decoder.event.sll2.pkt_too_small"),
    ("E_NULL_SMALL", "decoder.event.ltnull.pkt_too_small"),
    ("E_NFLOG_SMALL", "wirescore.nflog_pkt_too_small"),
    ("E_NFLOG_BAD_TLV", "wirescore.nflog_bad_tlv"),
    ("E_PPP_SMALL", "decoder.event.ppp.pkt_too_small"),
    ("E_CHDLC_SMALL", "decoder.event.chdlc.pkt_too_small"),
    ("E_RAW_BAD_VERSION", "decoder.event.ipraw.invalid_ip_version"),
    ("E_IPV4_SMALL", "decoder.event.ipv4.pkt_too_small"),
    ("E_IPV4_WRONG_VER", "decoder.event.ipv4.wrong_ip_version"),
    ("E_IPV4_HLEN_SMALL", "decoder.event.ipv4.hlen_too_small"),
    ("E_IPV4_IPLEN_LT_HLEN", "decoder.event.ipv4.iplen_smaller_than_hlen"),
    ("E_IPV4_TRUNC", "decoder.event.ipv4.trunc_pkt"),
    ("E_IPV6_SMALL", "decoder.event.ipv6.pkt_too_small"),
    ("E_IPV6_WRONG_VER", "decoder.event.ipv6.wrong_ip_version"),
    ("E_IPV6_TRUNC_EXTHDR", "decoder.event.ipv6.trunc_exthdr"),
    ("E_TCP_SMALL", "decoder.event.tcp.pkt_too_small"),
    ("E_TCP_HLEN_SMALL", "decoder.event.tcp.hlen_too_small"),
    ("E_TCP_INVALID_OPTLEN", "decoder.event.tcp.invalid_optlen"),
    ("E_UDP_SMALL", "decoder.event.udp.pkt_too_small"),
    ("E_SCTP_SMALL", "decoder.event.sctp.pkt_too_small"),
    ("E_ICMPV4_SMALL", "decoder.event.icmpv4.pkt_too_small"),
    ("E_ICMPV6_SMALL", "decoder.event.icmpv6.pkt_too_small"),
    # flow table
    ("F_TOTAL", "flow.total"),
    ("F_TCP", "flow.tcp"),
    ("F_UDP", "flow.udp"),
    ("F_ICMPV4", "flow.icmpv4"),
    ("F_ICMPV6", "flow.icmpv6"),
    ("F_OTHER", "wirescore.flow_other"),
    ("F_END_TIMEOUT", "flow.mgr.flows_timeout"),
    ("F_END_ACTIVE", "wirescore.flow_active_timeout"),
    ("F_END_TCP_FIN", "wirescore.flow_tcp_fin"),
    ("F_END_TCP_RST", "wirescore.flow_tcp_rst"),
    ("F_END_FORCED", "flow.wrk.flows_evicted"),
    ("F_END_SHUTDOWN", "wirescore.flow_shutdown"),
    ("F_TCP_REUSE", "flow.tcp_reuse"),
    ("F_END_STATE_NEW", "flow.end.state.new"),
    ("F_END_STATE_ESTABLISHED", "flow.end.state.established"),
    ("F_END_STATE_CLOSED", "flow.end.state.closed"),
    ("F_TS_BACKWARDS", "wirescore.ts_backwards"),
    ("F_FRAG_TABLE_OVERWRITE", "defrag.tracker_hard_reuse"),
    ("F_CTX_HOST_REPLACED", "wirescore.ctx_host_replaced"),
    ("F_CTX_PAIR_REPLACED", "wirescore.ctx_pair_replaced"),
    ("F_CTX_PORT_REPLACED", "wirescore.ctx_port_replaced"),
    ("F_CTX_HIST_REPLACED", "wirescore.ctx_hist_replaced"),
    ("F_CTX_SCAN_REPLACED", "wirescore.ctx_scan_replaced"),
    ("W_WINDOWS", "wirescore.windows"),
    ("W_KEYS_DROPPED", "wirescore.window_keys_dropped"),
    # application layer (ext/app/): what bit, when it bit; the per-protocol counters
    # (Suricata's app_layer.*) follow, made from APP_PARSERS below
    ("A_FLOWS_RECLAIMED", "wirescore.app_flows_reclaimed"),
    ("A_STREAMS_RECLAIMED", "wirescore.app_streams_reclaimed"),
    ("A_GAPS", "wirescore.app_gaps"),
    ("A_GAP_ABORT", "wirescore.app_gap_abort"),
    ("A_REORDERED", "wirescore.app_reordered"),
    ("A_BUDGET", "wirescore.app_budget_exhausted"),
    ("A_TRUNCATED", "wirescore.app_truncated"),
    ("A_EVENTS_DROPPED", "wirescore.app_events_dropped"),
    ("A_FIRST_SKIPPED", "wirescore.app_first_bytes_skipped"),
    # ARP (decode.pxd decode_arp, arp.pxd): every ARP frame is non-IP and counted in
    # decoder.arp; one for IPv4 over Ethernet as a request or a reply, any other by the
    # reason it is not read (Suricata's decoder.event.arp.* names)
    ("C_ARP_REQUEST", "wirescore.arp_requests"),
    ("C_ARP_REPLY", "wirescore.arp_replies"),
    ("E_ARP_SMALL", "decoder.event.arp.pkt_too_small"),
    ("E_ARP_HW", "decoder.event.arp.unsupported_hardware"),
    ("E_ARP_PROTO", "decoder.event.arp.unsupported_protocol"),
    ("E_ARP_HLEN", "decoder.event.arp.invalid_hardware_size"),
    ("E_ARP_PLEN", "decoder.event.arp.invalid_protocol_size"),
    ("E_ARP_OPCODE", "decoder.event.arp.unsupported_opcode"),
    ("F_ARP_BINDING_CHANGES", "wirescore.arp_binding_changes"),
    ("F_ARP_SENDERS_REPLACED", "wirescore.arp_senders_replaced"),
    ("F_ARP_BINDINGS_REPLACED", "wirescore.arp_bindings_replaced"),
    # SMB 3.1.1 compression transform headers ([MS-SMB2] 2.2.42; ext/app/smbroom.pxd
    # smb_compressed): each one read, and each one by what it has wrong (one header may
    # count in several)
    ("A_SMB_COMPRESSED", "wirescore.smb_compressed"),
    ("A_SMB_COMP_UNNEGOTIATED", "wirescore.smb_compressed_not_negotiated"),
    ("A_SMB_COMP_ALG_UNNEGOTIATED", "wirescore.smb_compressed_algorithm_not_negotiated"),
    ("A_SMB_COMP_OVERFLOW", "wirescore.smb_compressed_size_overflow"),
    ("A_SMB_COMP_TOO_BIG", "wirescore.smb_compressed_size_too_big"),
    ("A_SMB_COMP_OFFSET", "wirescore.smb_compressed_offset_past_end"),
    ("A_SMB_COMP_ALGORITHM", "wirescore.smb_compressed_unknown_algorithm"),
    ("A_SMB_COMP_FLAGS", "wirescore.smb_compressed_unknown_flags"),
    ("A_SMB_COMP_CHAIN", "wirescore.smb_compressed_chain_past_end"),
    # pending connection attempts (ext/pending.pxd): the FIFO was full, so its oldest
    # entry was confirmed before its grace, or dropped (the record buffer full too)
    ("F_SCAN_PENDING_EARLY", "wirescore.scan_pending_early"),
    ("F_SCAN_PENDING_DROPPED", "wirescore.scan_pending_dropped"),
    # flow updates (records of open flows): the update buffer was full, so one was skipped
    ("F_FLOW_UPDATES_SKIPPED", "wirescore.flow_updates_skipped"),
    # quiet updates (FlowMeter quiet_after): a sweep wrote as many as it may, so the rest
    # of the quiet flows due waited for the next sweep (a second later)
    ("F_QUIET_DEFERRED", "wirescore.flow_quiet_deferred"),
    # early window records (snapshots of an open window at a checkpoint packet): the
    # early buffer was full, so one was skipped
    ("W_EARLY_SKIPPED", "wirescore.window_early_skipped"),
)

# flow.reason: why a flow ended (Suricata's flow.reason; an active timeout is a "timeout"
# there too, a TCP teardown "timeout" plus our tcp_fin / tcp_rst detail)
REASONS = (
    ("R_NONE", "none"),
    ("R_TIMEOUT", "timeout"),
    ("R_ACTIVE", "timeout"),
    ("R_TCP_FIN", "tcp_fin"),
    ("R_TCP_RST", "tcp_rst"),
    ("R_FORCED", "forced"),
    ("R_SHUTDOWN", "shutdown"),
)

# flow.state: established once a packet came back; closed after a TCP teardown
STATES = (
    ("S_NEW", "new"),
    ("S_ESTABLISHED", "established"),
    ("S_CLOSED", "closed"),
)

# tcp.state: a simplified Suricata TCP state
TCP_STATES = (
    ("T_NONE", "none"),
    ("T_SYN_SENT", "syn_sent"),
    ("T_SYN_RECV", "syn_recv"),
    ("T_ESTABLISHED", "established"),
    ("T_FIN_WAIT", "fin_wait1"),
    ("T_CLOSED", "closed"),
)

# idle-timeout classes (protocol x state), one idle list each in the flow table: the
# setting flow.timeouts.<name> and its default, seconds (Suricata's flow-timeouts)
TIMEOUTS = (
    ("TC_TCP_NEW", "tcp.new", 60),
    ("TC_TCP_EST", "tcp.established", 600),
    ("TC_TCP_CLOSED", "tcp.closed", 60),
    ("TC_UDP_NEW", "udp.new", 30),
    ("TC_UDP_EST", "udp.established", 300),
    ("TC_ICMP_NEW", "icmp.new", 30),
    ("TC_ICMP_EST", "icmp.established", 300),
    ("TC_OTHER_NEW", "other.new", 30),
    ("TC_OTHER_EST", "other.established", 300),
)

# traffic window keys: the whole stream, each source, each destination address
WINDOW_KEYS = (
    ("WIN_KIND_ALL", "all"),
    ("WIN_KIND_SRC", "src"),
    ("WIN_KIND_DST", "dst"),
)

# TCP flag bits (RFC 9293; ECE and CWR RFC 3168) and their EVE names (Suricata's tcp
# object says "ecn" for ECE), lowest bit first
TCP_FLAGS = (
    ("TH_FIN", 0x01, "fin"),
    ("TH_SYN", 0x02, "syn"),
    ("TH_RST", 0x04, "rst"),
    ("TH_PSH", 0x08, "psh"),
    ("TH_ACK", 0x10, "ack"),
    ("TH_URG", 0x20, "urg"),
    ("TH_ECE", 0x40, "ecn"),
    ("TH_CWR", 0x80, "cwr"),
)

# The IP protocols the core handles by number (a C enum each), and whether their flows are
# keyed and written with ports; their EVE names are IP_PROTO_NAMES' below
PROTOS = (
    ("IPP_ICMP", 1, "ICMP", False),
    ("IPP_TCP", 6, "TCP", True),
    ("IPP_UDP", 17, "UDP", True),
    ("IPP_ICMPV6", 58, "IPv6-ICMP", False),
    ("IPP_SCTP", 132, "SCTP", True),
)

# EVE's proto name of IP protocols 0..143, by number: the IANA keywords as Suricata (7 and
# 8, src/util-proto-name.c known_proto[]) spells them, its oddities kept ("IPv6-ICMP",
# "IP-in-IP", "Any" for the five numbers IANA assigns to "any ... protocol"), so that
# wirescore's flow and alert lines match Suricata's for the same packets. Protocols
# 144..255 have no name there: EVE writes the number ("200").
IP_PROTO_NAMES = (
    "HOPOPT", "ICMP", "IGMP", "GGP", "IP-in-IP", "ST", "TCP", "CBT", "EGP", "IGP",
    "BBN-RCC-MON", "NVP-II", "PUP", "ARGUS", "EMCON", "XNET", "CHAOS", "UDP", "MUX",
    "DCN-MEAS", "HMP", "PRM", "XNS-IDP", "TRUNK-1", "TRUNK-2", "LEAF-1", "LEAF-2", "RDP",
    "IRTP", "ISO-TP4", "NETBLT", "MFE-NSP", "MERIT-INP", "DCCP", "3PC", "IDPR", "XTP",
    "DDP", "IDPR-CMTP", "TP++", "IL", "IPv6", "SDRP", "IPv6-Route", "IPv6-Frag", "IDRP",
    "RSVP", "GRE", "DSR", "BNA", "ESP", "AH", "I-NLSP", "SwIPe", "NARP", "MOBILE", "TLSP",
    "SKIP", "IPv6-ICMP", "IPv6-NoNxt", "IPv6-Opts", "Any", "CFTP", "Any", "SAT-EXPAK",
    "KRYPTOLAN", "RVD", "IPPC", "Any", "SAT-MON", "VISA", "IPCU", "CPNX", "CPHB", "WSN",
    "PVP", "BR-SAT-MON", "SUN-ND", "WB-MON", "WB-EXPAK", "ISO-IP", "VMTP", "SECURE-VMTP",
    "VINES", "TTP", "NSFNET-IGP", "DGP", "TCF", "EIGRP", "OSPF", "Sprite-RPC", "LARP",
    "MTP", "AX.25", "OS", "MICP", "SCC-SP", "ETHERIP", "ENCAP", "Any", "GMTP", "IFMP",
    "PNNI", "PIM", "ARIS", "SCPS", "QNX", "A/N", "IPComp", "SNP", "Compaq-Peer",
    "IPX-in-IP", "VRRP", "PGM", "Any", "L2TP", "DDX", "IATP", "STP", "SRP", "UTI", "SMP",
    "SM", "PTP", "IS-IS", "FIRE", "CRTP", "CRUDP", "SSCOPMCE", "IPLT", "SPS", "PIPE",
    "SCTP", "FC", "RSVP-E2E-IGNORE", "Mobility", "UDPLite", "MPLS-in-IP", "manet", "HIP",
    "Shim6", "WESP", "ROHC", "Ethernet",
)

# Application-layer protocols (ext/app/): FlowRecord.app_proto and EVE's app_proto
# (Suricata's names). AP_NONE: no payload seen, or no decision yet (no app_proto
# written); AP_FAILED: payload seen and no protocol matched (Suricata's "failed").
APP_PROTOS = (
    ("AP_NONE", ""),
    ("AP_FAILED", "failed"),
    ("AP_DNS", "dns"),
    ("AP_KRB5", "krb5"),
    ("AP_LDAP", "ldap"),
    ("AP_DCERPC", "dcerpc"),
    ("AP_HTTP", "http"),
    ("AP_TLS", "tls"),
    ("AP_SSH", "ssh"),
    ("AP_SMB", "smb"),
)

# The parsers, one row per protocol and transport: Suricata's name for the pair in its
# stats (app_layer.flow.<stem>), the counters it has (flow: flows detected; tx: messages
# parsed; parser: malformed messages; gap: lost bytes that ended the parse, stats
# app_layer.error.<stem>.gap), and its default budget: bytes examined per direction
# (setting app.budget.<stem>). AP_FAILED's rows count the flows nothing matched.
APP_PARSERS = (
    ("AP_FAILED", "tcp", "failed_tcp", ("flow",), 0),
    ("AP_FAILED", "udp", "failed_udp", ("flow",), 0),
    ("AP_DNS", "tcp", "dns_tcp", ("flow", "tx", "parser", "gap"), 65536),
    ("AP_DNS", "udp", "dns_udp", ("flow", "tx", "parser"), 65536),
    ("AP_KRB5", "tcp", "krb5_tcp", ("flow", "tx", "parser", "gap"), 65536),
    ("AP_KRB5", "udp", "krb5_udp", ("flow", "tx", "parser"), 65536),
    ("AP_LDAP", "tcp", "ldap_tcp", ("flow", "tx", "parser", "gap"), 65536),
    ("AP_LDAP", "udp", "ldap_udp", ("flow", "tx", "parser"), 65536),
    ("AP_DCERPC", "tcp", "dcerpc_tcp", ("flow", "tx", "parser", "gap"), 1048576),
    ("AP_HTTP", "tcp", "http", ("flow", "tx", "parser", "gap"), 65536),
    ("AP_TLS", "tcp", "tls", ("flow", "tx", "parser", "gap"), 16384),
    ("AP_SSH", "tcp", "ssh", ("flow", "tx", "parser", "gap"), 4096),
    ("AP_SMB", "tcp", "smb", ("flow", "tx", "parser", "gap"), 1048576),
)
APP_COUNTER_KINDS = ("flow", "tx", "parser", "gap")
_APP_COUNTER_PATHS = ("app_layer.flow.{}", "app_layer.tx.{}", "app_layer.error.{}.parser",
                      "app_layer.error.{}.gap")
COUNTERS = COUNTERS + tuple(
    (f"A_{stem.upper()}_{kind.upper()}", _APP_COUNTER_PATHS[APP_COUNTER_KINDS.index(kind)]
     .format(stem))
    for _, _, stem, kinds, _ in APP_PARSERS for kind in kinds)

# App-layer event kinds: one bounded buffer each in the core (ext/app/events.pxd), drained
# as numpy arrays; the EVE event_type of their lines (outputs.eve.types selects them)
APP_EVENTS = (
    ("EV_DNS", "dns"),
    ("EV_KRB5", "krb5"),
    ("EV_LDAP", "ldap"),
    ("EV_DCERPC", "dcerpc"),
    ("EV_HTTP", "http"),
    ("EV_FILEINFO", "fileinfo"),
    ("EV_TLS", "tls"),
    ("EV_SSH", "ssh"),
    ("EV_SMB", "smb"),
)

# sizes of the application layer that its documentation quotes
APP_SIZES = (
    ("APP_HOLD", 2048),      # stream.pxd: bytes a TCP direction holds for a unit to complete
    ("APP_PROBE", 512),      # stream.pxd: bytes a direction's protocol probes may look at
    ("DNS_NAME", 255),       # dns.pxd: bytes of a name kept (longer ones are flagged)
    ("DNS_ANSWERS", 8),      # dns.pxd: answers kept per event (the count is kept whole)
    ("DNS_RDATA", 255),      # dns.pxd: TXT / NULL record bytes kept per answer
    ("DNS_TEXT", 1024),      # dns.pxd: bytes of names and record data per event
)

# DNS resource record types (IANA "Domain Name System (DNS) Parameters", RR TYPEs; the
# mnemonics as Suricata's EVE writes them) and response codes (RCODEs, as Suricata writes
# them; 11 to 15 are written as numbers)
DNS_RRTYPES = (
    (1, "A"), (2, "NS"), (3, "MD"), (4, "MF"), (5, "CNAME"), (6, "SOA"), (7, "MB"),
    (8, "MG"), (9, "MR"), (10, "NULL"), (11, "WKS"), (12, "PTR"), (13, "HINFO"),
    (14, "MINFO"), (15, "MX"), (16, "TXT"), (17, "RP"), (18, "AFSDB"), (19, "X25"),
    (20, "ISDN"), (21, "RT"), (22, "NSAP"), (23, "NSAPPTR"), (24, "SIG"), (25, "KEY"),
    (26, "PX"), (27, "GPOS"), (28, "AAAA"), (29, "LOC"), (30, "NXT"), (33, "SRV"),
    (34, "ATMA"), (35, "NAPTR"), (36, "KX"), (37, "CERT"), (38, "A6"), (39, "DNAME"),
    (41, "OPT"), (42, "APL"), (43, "DS"), (44, "SSHFP"), (45, "IPSECKEY"), (46, "RRSIG"),
    (47, "NSEC"), (48, "DNSKEY"), (49, "DHCID"), (50, "NSEC3"), (51, "NSEC3PARAM"),
    (52, "TLSA"), (55, "HIP"), (59, "CDS"), (60, "CDNSKEY"), (65, "HTTPS"), (99, "SPF"),
    (249, "TKEY"), (250, "TSIG"), (254, "MAILA"), (255, "ANY"), (256, "URI"),
)
DNS_RCODES = (
    (0, "NOERROR"), (1, "FORMERR"), (2, "SERVFAIL"), (3, "NXDOMAIN"), (4, "NOTIMP"),
    (5, "REFUSED"), (6, "YXDOMAIN"), (7, "YXRRSET"), (8, "NXRRSET"), (9, "NOTAUTH"),
    (10, "NOTZONE"),
)

# the bits of a DNS event's status and of each answer's flags (ext/app/dns.pxd DnsEvent)

# the bits of a TLS event's status (ext/app/tlsroom.pxd TlsEvent): a field's bit is set
# when the event holds it
TLS_EVENT_BITS = (
    ("TE_CLIENT", 1),            # a ClientHello was read (whole or its prefix)
    ("TE_SERVER", 2),            # a ServerHello was read
    ("TE_CERT", 4),              # the server's first certificate was read (TLS <= 1.2)
    ("TE_SNI", 8),               # sni
    ("TE_JA3", 16),              # ja3 (the ClientHello's lists were whole)
    ("TE_JA3S", 32),             # ja3s
    ("TE_JA4", 64),              # ja4
    ("TE_SUBJECT", 128),         # subject
    ("TE_ISSUER", 256),          # issuerdn
    ("TE_SERIAL", 512),          # serial
    ("TE_VALIDITY", 1024),       # notbefore, notafter
    ("TE_SHA1", 2048),           # fingerprint (the whole certificate was read)
    ("TE_SELF_SIGNED", 4096),    # subject and issuer are equal
    ("TE_CLIENT_CUT", 8192),     # the ClientHello was cut (snap length, a gap)
    ("TE_CERT_CUT", 16384),      # the certificate was cut before its end
    ("TE_TEXT_CUT", 32768),      # a string longer than its field was kept cut
    ("TE_DONE", 65536),          # the handshake in clear was seen to its end
    ("TE_CHAIN", 131072),        # n_certs is the whole chain's length
    ("TE_SSLV2", 262144),        # the ClientHello was SSLv2-compatible (no JA3 / JA4:
                                 # they are defined on TLS ClientHellos)
)

# the bits of an SSH event's status (ext/app/sshroom.pxd SshEvent)
SSH_EVENT_BITS = (
    ("SE_CLIENT", 1),            # the client's identification string was read
    ("SE_SERVER", 2),            # the server's
    ("SE_CLIENT_CUT", 4),        # the client's line was cut (snap length, a gap)
    ("SE_SERVER_CUT", 8),
)
DNS_EVENT_BITS = (
    ("DE_QUESTION", 1),          # the first question was read whole
    ("DE_QNAME_TRUNC", 2),       # its name is longer than DNS_NAME bytes: kept cut
    ("DE_ANSWERS_MORE", 4),      # answers read but not kept (DNS_ANSWERS, DNS_TEXT full)
    ("DE_CUT", 8),               # the message was cut: what followed the cut is missing
    ("DA_NAME_TRUNC", 1),        # an answer's name is longer than kept
    ("DA_DATA_TRUNC", 2),        # its data is longer than kept (TXT, NULL: DNS_RDATA, or cut)
    ("DA_DATA", 4),              # its data is kept
)

# the bits of a DCE-RPC event's flags (ext/app/dcerpc_room.pxd DceEvent)
DCERPC_EVENT_BITS = (
    ("DV_RESPONSE", 1),          # the event is a response-side PDU (BIND_ACK, RESPONSE...)
    ("DV_REQ", 2),               # it carries a request's opnum, frag_cnt, stub size
    ("DV_RES", 4),               # it carries a response's frag_cnt and stub size
    ("DV_CUT", 8),               # a PDU of it was cut: fields after the cut are missing
    ("DV_STATUS", 16),           # a FAULT: status is set
    ("DI_ACK", 1),               # an interface's ack_result is known
)

# the bits of an HTTP event's flags and of a file event's (ext/app/http.pxd HttpEvent,
# FileEvent)
HTTP_EVENT_BITS = (
    ("HE_RESPONSE", 1),          # a response (else a request)
    ("HE_CUT", 2),               # the header block was read from a prefix (hold, gap, snap)
    ("HE_CHUNKED", 4),           # Transfer-Encoding: chunked
    ("HE_LENGTH", 8),            # Content-Length was given
    ("HE_HTTP10", 16),           # HTTP/1.0 (else HTTP/1.1)
    ("FE_CLOSED", 1),            # the whole body was examined
    ("FE_GAPS", 2),              # bytes of the examined prefix were lost (gap, snap length)
    ("FE_SIZE", 4),              # the body's size is known (Content-Length)
    ("FE_MISMATCH", 8),          # the declared Content-Type does not fit the kind found
    ("FE_FNAME_TRUNC", 16),      # the file name is longer than kept
)

# the bits of an SMB event's flags (ext/app/smbroom.pxd SmbEvent)
SMB_EVENT_BITS = (
    ("SB_RESPONSE", 1),          # the response was read: status is set
    ("SB_REQUEST", 2),           # the request was read (its fields are in the event)
    ("SB_SHARE", 4),             # share: the tree's path (TREE_CONNECT; the file's tree)
    ("SB_FILENAME", 8),          # filename: a CREATE's name (a file, or a pipe on IPC$)
    ("SB_PIPE", 16),             # the file is a named pipe (its tree is IPC$)
    ("SB_NTLM", 32),             # ntlmssp: user, domain, host of an AUTHENTICATE
    ("SB_DISPOSITION", 64),      # disposition (CREATE request)
    ("SB_DIALECT", 128),         # dialect (NEGOTIATE response: SMB2 revision)
    ("SB_CUT", 256),             # a message of it was cut: fields after the cut are missing
    ("SB_TRUNC", 512),           # a string is longer than its field: kept cut
    ("SB_SMB1", 1024),           # an SMB1 message (command is SMB1's)
    ("SB_DIALECTS", 2048),       # client_dialects (NEGOTIATE request)
    ("SB_SHARE_TYPE", 4096),     # share_type (TREE_CONNECT response)
    ("SB_COMPRESSED", 8192),     # a compression transform header that breaks [MS-SMB2]:
                                 # comp_* fields, no EVE smb line (SMB_COMP_VIOLATIONS)
)

# what an SMB compression transform header ([MS-SMB2] 2.2.42) has wrong: SmbEvent.comp_bad
# bits, with the words an alert uses (rules/README.md "SMB compression" says why each is
# one). The first six are the message parser's (ext/app/smb2msg.pxd SMB2_COMP_*), the
# last two the room's, which knows the connection's NEGOTIATE.
SMB_COMP_VIOLATIONS = (
    ("SC_OVERFLOW", 1, "OriginalCompressedSegmentSize + Offset wraps 32 bits"),
    ("SC_TOO_BIG", 2, "the original message would be larger than a Direct TCP frame "
                      "carries (0xffffff bytes)"),
    ("SC_OFFSET", 4, "Offset runs past the message"),
    ("SC_ALGORITHM", 8, "an algorithm MS-SMB2 does not define"),
    ("SC_FLAGS", 16, "Flags neither NONE nor CHAINED"),
    ("SC_CHAIN", 32, "a chained payload header runs past the message"),
    ("SC_UNNEGOTIATED", 64, "compression was not negotiated"),
    ("SC_ALG_UNNEGOTIATED", 128, "its algorithm was not negotiated"),
)

# sizes of the core that its documentation quotes (catalog.py, the fuzz target)
SIZES = (
    ("SCAN_BITS", 128),      # scans.pxd: the item maps of the scan tables (linear counting)
    ("WIN_BITS", 256),       # windows.pxd: a window's distinct-count maps (linear counting)
    ("CLOCK_REACH", 32),     # clock.pxd: rows the hand looks at for one holding nothing live
)

#: counter names by slot (FlowMeter.counters is in this order)
COUNTER_NAMES = tuple(name for _, name in COUNTERS)
#: EVE flow.reason by FlowRecord.reason
REASON_NAMES = tuple(name for _, name in REASONS)
#: EVE flow.state by FlowRecord.state
STATE_NAMES = tuple(name for _, name in STATES)
#: EVE tcp.state by FlowRecord.tcp_state
TCP_STATE_NAMES = tuple(name for _, name in TCP_STATES)
#: idle-timeout classes in FlowMeter(timeouts=...) order; settings flow.timeouts.<name>
TIMEOUT_CLASSES = tuple(name for _, name, _ in TIMEOUTS)
#: their defaults, seconds
TIMEOUT_DEFAULTS = tuple(float(seconds) for _, _, seconds in TIMEOUTS)
#: traffic window keys by WindowRecord.kind
WINDOW_KINDS = tuple(name for _, name in WINDOW_KEYS)
#: (bit, EVE name) of each TCP flag, lowest bit first
TCP_FLAG_NAMES = tuple((bit, name) for _, bit, name in TCP_FLAGS)
#: EVE proto name by IP protocol number (numbers without one are written as digits)
PROTO_NAMES = dict(enumerate(IP_PROTO_NAMES))
#: IP protocol number by EVE proto name, for the names only one number has ("Any" has 5)
PROTO_NUMBERS = {name: number for number, name in PROTO_NAMES.items()
                 if IP_PROTO_NAMES.count(name) == 1}
#: IP protocols whose flows have ports
PORT_PROTOS = tuple(number for _, number, _, ports in PROTOS if ports)
SCAN_BITS, WINDOW_BITS, CLOCK_REACH = (value for _, value in SIZES)
#: EVE app_proto by FlowRecord.app_proto ("": none written)
APP_PROTO_NAMES = tuple(name for _, name in APP_PROTOS)
#: app-layer event kinds in FlowMeter.drain_app() order (their EVE event_type)
APP_EVENT_KINDS = tuple(name for _, name in APP_EVENTS)
#: each parser's default budget (bytes examined per direction), by its stats stem
APP_BUDGETS = {stem: budget for _, _, stem, _, budget in APP_PARSERS if budget}
APP_HOLD, APP_PROBE, DNS_NAME, DNS_ANSWERS, DNS_RDATA, DNS_TEXT = (
    value for _, value in APP_SIZES)
#: EVE rrtype and rcode strings by number (others are written as the number)
DNS_RRTYPE_NAMES = dict(DNS_RRTYPES)
DNS_RCODE_NAMES = dict(DNS_RCODES)
#: DnsEvent status and answer flag bits by name
DNS_BITS = dict(DNS_EVENT_BITS)
#: DceEvent flag bits by name
DCERPC_BITS = dict(DCERPC_EVENT_BITS)
#: HttpEvent and FileEvent flag bits by name
HTTP_BITS = dict(HTTP_EVENT_BITS)
#: TlsEvent and SshEvent flag bits by name
TLS_BITS = dict(TLS_EVENT_BITS)
SSH_BITS = dict(SSH_EVENT_BITS)
#: SmbEvent flag bits by name
SMB_BITS = dict(SMB_EVENT_BITS)

#: the lists as rows of (C enum name, C value, name): what the compiled tables hold
ROWS = {
    "counters": tuple((ident, k, name) for k, (ident, name) in enumerate(COUNTERS)),
    "reasons": tuple((ident, k, name) for k, (ident, name) in enumerate(REASONS)),
    "states": tuple((ident, k, name) for k, (ident, name) in enumerate(STATES)),
    "tcp_states": tuple((ident, k, name) for k, (ident, name) in enumerate(TCP_STATES)),
    "timeout_classes": tuple((ident, k, name) for k, (ident, name, _) in enumerate(TIMEOUTS)),
    "window_kinds": tuple((ident, k, name) for k, (ident, name) in enumerate(WINDOW_KEYS)),
    "tcp_flags": tuple((ident, bit, name) for ident, bit, name in TCP_FLAGS),
    "protos": tuple((ident, number, name) for ident, number, name, _ in PROTOS),
    "app_protos": tuple((ident, k, name) for k, (ident, name) in enumerate(APP_PROTOS)),
    "app_events": tuple((ident, k, name) for k, (ident, name) in enumerate(APP_EVENTS)),
    "dns_rrtypes": tuple((f"DNS_{name}", n, name) for n, name in DNS_RRTYPES),
    "dns_rcodes": tuple((f"DNS_RC_{name}", n, name) for n, name in DNS_RCODES),
}
# (the C enum's count name, the table's C name) of each list
_C_TABLES = {
    "counters": ("N_COUNTERS", "ws_counter_slots"),
    "reasons": ("N_REASONS", "ws_reasons"),
    "states": ("N_STATES", "ws_states"),
    "tcp_states": ("N_TCP_STATES", "ws_tcp_states"),
    "timeout_classes": ("N_TC", "ws_timeout_classes"),
    "window_kinds": ("WIN_KINDS", "ws_window_kinds"),
    "tcp_flags": ("N_TCP_FLAGS", "ws_tcp_flags"),
    "protos": ("N_PROTOS", "ws_protos"),
    "app_protos": ("N_APP_PROTOS", "ws_app_protos"),
    "app_events": ("N_APP_EVENTS", "ws_app_events"),
    "dns_rrtypes": ("N_DNS_RRTYPES", "ws_dns_rrtypes"),
    "dns_rcodes": ("N_DNS_RCODES", "ws_dns_rcodes"),
}


def _app_header() -> list:
    """The application layer's sizes, its counter slots by (protocol, transport, kind),
    and the DNS event bits, as C (the DNS RR types and RCODEs are tables of ROWS)."""
    out = ["enum { " + ", ".join(f"WS_{ident} = {value}" for ident, value in APP_SIZES)
           + " };"]
    slots = {(proto, transport, kind): f"WS_A_{stem.upper()}_{kind.upper()}"
             for proto, transport, stem, kinds, _ in APP_PARSERS for kind in kinds}
    out.append("/* the counter slot of (app protocol, 0 tcp / 1 udp, kind: flow tx parser "
               "gap), or -1 */")
    out.append(f"static const int ws_app_counters[WS_N_APP_PROTOS][2][{len(APP_COUNTER_KINDS)}]"
               " = {")
    for ident, _ in APP_PROTOS:
        rows = ["{" + ", ".join(slots.get((ident, t, k), "-1") for k in APP_COUNTER_KINDS)
                + "}" for t in ("tcp", "udp")]
        out.append(f"    {{{', '.join(rows)}}},   /* {ident} */")
    out.append("};")
    out.append("enum { " + ", ".join(f"WS_{name} = {bit}" for name, bit in DNS_EVENT_BITS)
               + " };   /* DnsEvent bits */")
    out.append("enum { " + ", ".join(f"WS_{name} = {bit}" for name, bit in DCERPC_EVENT_BITS)
               + " };   /* DceEvent bits */")
    out.append("enum { " + ", ".join(f"WS_{name} = {bit}" for name, bit in HTTP_EVENT_BITS)
               + " };   /* HttpEvent, FileEvent bits */")
    out.append("enum { " + ", ".join(f"WS_{name} = {bit}" for name, bit in TLS_EVENT_BITS)
               + " };   /* TlsEvent bits */")
    out.append("enum { " + ", ".join(f"WS_{name} = {bit}" for name, bit in SSH_EVENT_BITS)
               + " };   /* SshEvent bits */")
    out.append("enum { " + ", ".join(f"WS_{name} = {bit}" for name, bit in SMB_EVENT_BITS)
               + " };   /* SmbEvent bits */")
    out.append("enum { " + ", ".join(f"WS_{name} = {bit}" for name, bit, _ in SMB_COMP_VIOLATIONS)
               + " };   /* SmbEvent.comp_bad bits */")
    return out


def c_header() -> str:
    """ext/includes/names.h: each list as a C enum (every name prefixed WS_, so that no
    macro of the same name, such as Python's T_NONE, can reach it; the .pxd files give
    Cython the short names) and a table of ws_slot rows; the sizes as enum values."""
    out = ["/* Generated by setup.py from src/wirescore/core_names.py: edit that, not this. */",
           "#ifndef WS_NAMES_H", "#define WS_NAMES_H", "",
           "typedef struct { const char* id; long value; const char* name; } ws_slot;", ""]
    for key, rows in ROWS.items():
        count, table = _C_TABLES[key]
        out.append("enum {")
        out += [f"    WS_{ident} = {value}," for ident, value, _ in rows]
        out += [f"    WS_{count} = {len(rows)}", "};"]
        out.append(f"static const ws_slot {table}[WS_{count}] = {{")
        out += [f'    {{"{ident}", WS_{ident}, "{name}"}},' for ident, _, name in rows]
        out += ["};", ""]
    out.append("static const double ws_timeout_defaults[WS_N_TC] = {"
               + ", ".join(repr(s) for s in TIMEOUT_DEFAULTS) + "};")
    out.append("static const unsigned char ws_proto_ports[WS_N_PROTOS] = {"
               + ", ".join(str(int(ports)) for *_, ports in PROTOS) + "};")
    out.append("enum { " + ", ".join(f"WS_{ident} = {value}" for ident, value in SIZES) + " };")
    out.append("enum { " + ", ".join(f"WS_{ident[:-5]}_WORDS = {value // 64}"
                                     for ident, value in SIZES if ident.endswith("_BITS"))
               + " };   /* the bit maps' 64-bit words */")
    out += _app_header()
    out.append("/* EVE's name of each IP protocol (NULL: none, its number is written) */")
    out.append(f"static const char* const ws_ip_proto_names[256] = {{"
               + ", ".join(f'"{name}"' for name in IP_PROTO_NAMES) + "};")
    out += ["", "/* the row of IP protocol p in ws_protos, or -1 */",
            "static inline int ws_proto_row(unsigned int p) {",
            "    int i;",
            "    for (i = 0; i < (int)WS_N_PROTOS; i++)",
            "        if (ws_protos[i].value == (long)p)",
            "            return i;",
            "    return -1;",
            "}", "",
            "/* the EVE name of IP protocol p, or NULL (then its number is written) */",
            "static inline const char* ws_proto_name(unsigned int p) {",
            "    return p < 256 ? ws_ip_proto_names[p] : 0;",
            "}", "",
            "/* whether flows of IP protocol p are keyed and written with ports */",
            "static inline int ws_has_ports(unsigned int p) {",
            "    int i = ws_proto_row(p);",
            "    return i >= 0 && ws_proto_ports[i];",
            "}", "", "#endif", ""]
    return "\n".join(out)
