"""Feature columns: stable dotted name, unit, one-line definition, in one place.

Every flow-level feature is a field of the core's FlowRecord (ext/features.pxd); the
column name is "flow." + the field name, or "ctx." + the rest of a ctx_ field name. A
test checks that this catalogue and the record dtype list exactly the same fields, so
neither can change alone; the sizes it quotes come from the core's list (core_names.py).

Conventions: "toserver" is the direction of the flow's first packet (as Suricata);
lengths are wire bytes (link header included, see DESIGN: max(caplen, link header +
IP total length)); times inside a flow are microseconds, the flow duration seconds.
A statistic over packets of one direction is 0 when that direction saw no packet;
gap statistics are 0 with fewer than two packets; a handshake delay that was not
observed is -1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from wirescore.core_names import SCAN_BITS, WINDOW_BITS
from wirescore.msg_names import MAGIC_NAMES


@dataclass(frozen=True)
class Feature:
    name: str        # dotted column name, e.g. "flow.pkts_toserver"
    field: str       # FlowRecord field
    unit: str
    definition: str


def _per_direction() -> list[Feature]:
    out = []
    for d, who in (("toserver", "client to server"), ("toclient", "server to client")):
        specs = [
            ("pkts", "packets", f"packets {who}"),
            ("bytes", "bytes", f"wire bytes {who}"),
            ("payload_bytes", "bytes",
             f"L4 payload bytes {who} per the headers (whole IP payload for port-less "
             f"protocols)"),
            ("pktlen_min", "bytes", f"smallest wire length {who}"),
            ("pktlen_max", "bytes", f"largest wire length {who}"),
            ("pktlen_mean", "bytes", f"mean wire length {who}"),
            ("pktlen_std", "bytes", f"population standard deviation of wire length {who}"),
            ("iat_min", "us", f"smallest gap between consecutive packets {who}"),
            ("iat_max", "us", f"largest gap between consecutive packets {who}"),
            ("iat_mean", "us", f"mean gap between consecutive packets {who}"),
            ("iat_std", "us",
             f"population standard deviation of the gaps {who} (the squared deviations "
             f"over the number of gaps, ext/features.pxd)"),
            ("fin", "packets", f"TCP packets with FIN {who}"),
            ("syn", "packets", f"TCP packets with SYN {who}"),
            ("rst", "packets", f"TCP packets with RST {who}"),
            ("psh", "packets", f"TCP packets with PSH {who}"),
            ("ack", "packets", f"TCP packets with ACK {who}"),
            ("urg", "packets", f"TCP packets with URG {who}"),
            ("ece", "packets", f"TCP packets with ECE {who}"),
            ("cwr", "packets", f"TCP packets with CWR {who}"),
            ("bad_flags", "packets",
             f"TCP packets {who} with flags no TCP stack sends, only a packet crafter: "
             f"none of FIN SYN RST PSH ACK URG (NULL), SYN with FIN or RST, or FIN, PSH "
             f"or URG without ACK or RST (FIN, Xmas): nmap's -sN/-sF/-sX scans and "
             f"OS-detection probes"),
            ("ttl_first", "hops", f"IP TTL / hop limit of the first packet {who}"),
            ("win_first", "bytes",
             f"TCP window field (unscaled) of the first packet {who}; 0 for non-TCP"),
        ]
        out += [Feature(f"flow.{base}_{d}", f"{base}_{d}", unit, text)
                for base, unit, text in specs]
    return out


FLOW_FEATURES: tuple[Feature, ...] = (
    Feature("flow.duration", "duration", "s", "last packet time minus first packet time"),
    *_per_direction(),
    Feature("flow.tcp_syn_synack_delay", "tcp_syn_synack_delay", "us",
            "time from the client's SYN to the server's SYN/ACK; -1 if not observed"),
    Feature("flow.tcp_synack_ack_delay", "tcp_synack_ack_delay", "us",
            "time from the SYN/ACK to the client's ACK; -1 if not observed"),
)

# Endpoint context (ext/context.pxd, ext/scans.pxd), read when the flow is reported, as
# of the packet clock then. "decayed" counts fall by e every 60 s or 600 s (the suffix); a host's
# counts start when it is first seen; "new" means not contacted in the last 600 s.
# The *_around counts are what the endpoint did around the flow itself: flows that
# started from 10 s before its first packet to 10 s after its last, counted in 4 s
# buckets (so the edges stretch to 14 s) out of the last 128 s that the core keeps per
# host; a flow reported more than ~2 minutes after its start (long or long-idle flows)
# sees only the part still held, and no flow sees past the moment it is reported (a
# flow that ends by TCP close, eviction or shutdown before 10 s have passed).
CONTEXT_FEATURES: tuple[Feature, ...] = tuple(
    Feature("ctx." + field[4:], field, unit, text) for field, unit, text in (
        ("ctx_src_flows_60s", "flows", "flows the client opened, decayed over 60 s"),
        ("ctx_src_flows_600s", "flows", "flows the client opened, decayed over 600 s"),
        ("ctx_src_new_dsts_60s", "hosts",
         "servers the client contacted for the first time in 600 s, decayed over 60 s"),
        ("ctx_src_new_dsts_600s", "hosts", "the same, decayed over 600 s"),
        ("ctx_src_new_ports_60s", "services",
         "(protocol, server port) pairs the client used for the first time in 600 s "
         "(TCP, UDP, SCTP), decayed over 60 s"),
        ("ctx_src_new_ports_600s", "services", "the same, decayed over 600 s"),
        ("ctx_src_fail_ratio", "ratio",
         "share of the client's reported flows (600 s decay) that failed: no reply, an "
         "RST from the server, or a SYN never answered by a SYN/ACK; 0 before any"),
        ("ctx_src_mean_pkts", "packets",
         "mean packets per flow of the client's reported flows (600 s decay)"),
        ("ctx_src_unreach", "messages",
         "ICMP destination-unreachable / time-exceeded messages the client received "
         "(600 s decay)"),
        ("ctx_dst_flows_60s", "flows", "flows the server received, decayed over 60 s"),
        ("ctx_dst_flows_600s", "flows", "flows the server received, decayed over 600 s"),
        ("ctx_dst_fail_ratio", "ratio",
         "share of the server's received flows (600 s decay) that failed"),
        ("ctx_pair_flows", "flows", "flows from this client to this server (600 s decay)"),
        ("ctx_src_service_flows", "flows",
         "flows from this client to this protocol and server port on any server "
         "(600 s decay); 0 for port-less protocols"),
        ("ctx_src_flows_around", "flows",
         "flows the client opened around this flow: from 10 s before its first packet to "
         "10 s after its last, in 4 s buckets of the last 128 s (this one included); "
         "saturates at 255 per bucket"),
        ("ctx_src_new_dsts_around", "hosts",
         "of them, flows to a server the client had not contacted in 600 s"),
        ("ctx_src_new_ports_around", "services",
         "of them, flows to a (protocol, server port) the client had not used in 600 s "
         "(TCP, UDP, SCTP)"),
        ("ctx_dst_flows_around", "flows", "flows the server received around this flow"),
        ("ctx_dst_new_srcs_around", "hosts",
         "of them, flows from a client that had not contacted this server in 600 s"),
        ("ctx_src_unanswered_new_dsts_around", "hosts",
         "of the client's flows around this flow to a new server (src_new_dsts_around), "
         "the connection attempts the server has not answered by this flow's report "
         "(attempt and answer as for src_unanswered_hosts: a refused TCP port, a silent "
         "host or port); a scan or sweep fails, a busy client's fan-out mostly does not"),
        ("ctx_src_unanswered_new_ports_around", "services",
         "the same, of the client's flows to a new (protocol, port) "
         "(src_new_ports_around)"),
        ("ctx_dst_unanswered_new_ports_around", "services",
         "attempts the server received around this flow on a (protocol, port) that no "
         "client had used on it in 600 s, not answered by this flow's report (a host "
         "whose closed ports are being tried, by one client or many)"),
        ("ctx_src_unanswered_hosts", "hosts",
         "servers the client tried on this flow's service (protocol and server port, or "
         "ICMP request type) that never answered, over the last 150-300 s up to this "
         "flow's report (Zeek's address scan); an attempt is a flow's first packet to a "
         "unicast server: TCP without ACK or RST (a SYN, or a stealth scan's FIN, NULL "
         "or Xmas probe), a UDP datagram, an ICMP request; an answer a "
         "SYN/ACK, for UDP and ICMP any packet back (an RST or an ICMP error is none); "
         f"distinct by linear counting over {SCAN_BITS} bits (saturating at "
         f"{SCAN_BITS * math.log(SCAN_BITS):.0f}); 0 for other protocols"),
        ("ctx_src_unanswered_services", "services",
         "services the client tried on this flow's server that never answered, the same "
         "way (Zeek's port scan)"),
        ("ctx_dst_unanswered_srcs", "hosts",
         "clients whose attempts on this flow's server (any service) it never answered, "
         "the same way: a target's view (spoofed floods, distributed scans, a "
         "backscatter victim, a dead service clients still try)"),
    ))



def _first_bytes_features() -> list[tuple[str, str, str]]:
    """The app_first_* rows, one per direction: the first-bytes statistics of a
    direction no protocol claimed (ext/app/first.pxd)."""
    magic = ", ".join(f"{code} {name}" for code, name in enumerate(MAGIC_NAMES))
    rows = []
    for stat, unit, text in (
            ("bytes", "bytes",
             "first payload bytes of the {d} direction examined because no protocol claimed "
             "the flow (UDP: its first datagram; TCP: its first segment, or the in-order "
             "bytes joined while the probes looked, up to a gap, FIN or RST; at most "
             "app.first_bytes); 0 when the flow's protocol was found, the direction carried "
             "no payload, app.first_bytes is 0, or no summary record was free to keep them "
             "(wirescore.app_first_bytes_skipped)"),
            ("entropy", "bits/byte",
             "Shannon entropy of those bytes' values, 0..8 (0 with no bytes; stored to "
             "1/8191 bit)"),
            ("printable", "ratio",
             "share of those bytes that are printable ASCII (0x20..0x7e), tab, CR or LF; "
             "0 with no bytes"),
            ("magic", "code",
             "kind of file those bytes start (msg_names.MAGIC row, ext/app/bytes.pxd rules: "
             + magic + ")")):
        for d in ("toserver", "toclient"):
            rows.append((f"app_first_{stat}_{d}", unit, text.format(d=d)))
    return rows


# The application layer's summary of a flow (ext/app/; README "Application layer"): the
# protocol's fields, 0 for a flow of another protocol, with app.enabled off, or when the
# flow's summary was taken back for another flow (wirescore.app_flows_reclaimed). Counts
# cover what the parser examined (its budget: app.budget.*). DNS: over UDP and TCP,
# messages read whole or cut by lost bytes (README); "question names" are the first
# question's name of every message, queries' and responses' alike, in dotted form.
APP_FEATURES: tuple[Feature, ...] = tuple(
    Feature("app." + field[4:], field, unit, text) for field, unit, text in (
        ("app_dns_queries", "messages", "DNS queries (QR = 0) in the flow"),
        ("app_dns_responses", "messages", "DNS responses (QR = 1) in the flow"),
        ("app_dns_answers", "records", "answer records in the flow's responses"),
        ("app_dns_nxdomain", "messages", "responses with RCODE NXDOMAIN (3)"),
        ("app_dns_rcode_other", "messages",
         "responses with an RCODE other than NOERROR and NXDOMAIN (SERVFAIL, REFUSED, ...)"),
        ("app_dns_qname_len_max", "bytes",
         "length of the longest question name (dotted, at most 255 kept)"),
        ("app_dns_qname_labels", "labels", "labels of that longest name"),
        ("app_dns_qname_entropy", "bits",
         "Shannon entropy per byte of that name's leftmost labels: all but the last two "
         "(the first when it has two or fewer), dots left out; tunnels and generated "
         "names score high"),
        ("app_dns_odd_types", "records",
         "queries for, and answer records of, type TXT, NULL or KEY (what DNS tunnels "
         "carry data in)"),
        ("app_dns_qnames", "names",
         "distinct question names (linear counting over 64 bits: 1.01 for one name, a "
         f"few percent off up to about 100, saturating at {64 * math.log(64):.0f})"),
        ("app_krb5_requests", "messages", "Kerberos AS-REQ and TGS-REQ in the flow"),
        ("app_krb5_replies", "messages", "Kerberos AS-REP and TGS-REP in the flow"),
        ("app_krb5_errors", "messages", "KRB-ERROR messages in the flow"),
        ("app_krb5_preauth_failed", "messages",
         "errors KDC_ERR_PREAUTH_FAILED (24): a wrong password (password sprays, guessing)"),
        ("app_krb5_preauth_required", "messages",
         "errors KDC_ERR_PREAUTH_REQUIRED (25): a request without pre-authentication "
         "(normal as a client's first try; alone, the AS-REP roasting probe)"),
        ("app_krb5_unknown_client", "messages",
         "errors KDC_ERR_C_PRINCIPAL_UNKNOWN (6): no such user (user enumeration)"),
        ("app_krb5_weak_requests", "messages",
         "requests whose etype list holds only weak etypes (RC4, DES: every etype but "
         "AES and Camellia, as Suricata's weak_encryption): downgrades, Kerberoasting"),
        ("app_krb5_weak_replies", "messages",
         "replies whose enc-part or ticket etype is weak"),
        ("app_krb5_cnames", "names",
         "distinct client names (linear counting over 64 bits, as app.dns_qnames)"),
        ("app_ldap_requests", "messages", "LDAP request messages in the flow"),
        ("app_ldap_responses", "messages", "LDAP response messages in the flow"),
        ("app_ldap_simple_binds", "messages",
         "bind requests with simple authentication and a name: a password in clear text"),
        ("app_ldap_sasl_binds", "messages", "bind requests with SASL authentication"),
        ("app_ldap_bind_failures", "messages",
         "bind responses other than success and saslBindInProgress (invalidCredentials: "
         "password guessing)"),
        ("app_ldap_searches", "messages", "search requests"),
        ("app_ldap_subtree_searches", "messages",
         "search requests of scope subtree (directory enumeration: BloodHound, ldapsearch)"),
        ("app_ldap_entries", "messages", "search result entries returned"),
        ("app_ldap_result_errors", "messages",
         "responses with a result other than success, referral and saslBindInProgress"),
        ("app_ldap_sealed", "buffers",
         "SASL buffers sealed (encrypted) after a SASL bind: not read"),
        ("app_dcerpc_requests", "calls", "DCE-RPC REQUEST calls (fragments of one counted once)"),
        ("app_dcerpc_responses", "calls", "DCE-RPC RESPONSE and FAULT calls"),
        ("app_dcerpc_faults", "calls", "DCE-RPC FAULT answers"),
        ("app_dcerpc_binds", "PDUs", "DCE-RPC BIND and ALTER_CONTEXT PDUs"),
        ("app_dcerpc_rejects", "contexts",
         "BIND_NAKs and presentation contexts a BIND_ACK rejected"),
        ("app_dcerpc_interfaces", "interfaces",
         "interface UUIDs offered in BIND / ALTER_CONTEXT not bound on the connection "
         "before (distinct while the connection's context map of 8 holds them)"),
        ("app_dcerpc_ctx_over", "contexts",
         "presentation contexts offered while the connection's map (8) was full: their "
         "requests name no interface"),
        ("app_dcerpc_req_stub_bytes", "bytes",
         "stub data of the DCE-RPC requests (all fragments; auth padding included)"),
        ("app_http_requests", "messages", "HTTP requests in the flow (header blocks read)"),
        ("app_http_responses", "messages", "final (non-1xx) HTTP responses in the flow"),
        ("app_http_status_first", "code", "the first final response's status (0: none)"),
        ("app_http_status_errors", "messages", "responses with status 400 to 599"),
        ("app_http_uri_len_max", "bytes", "length of the longest request URI (at most 768 kept)"),
        ("app_http_ua_share", "ratio", "requests with a User-Agent over requests (0: none)"),
        ("app_http_bodies", "bodies",
         "request and response bodies whose first bytes were examined (fileinfo events)"),
        ("app_http_body_magic", "code",
         "kind of file the first response body starts (msg_names.MAGIC row: 0 none or "
         "no body, 1 PE, 2 MZ, 3 ELF, ...)"),
        ("app_http_type_mismatch", "bodies",
         "bodies whose declared Content-Type does not fit the kind found: an executable, "
         "archive or document declared text/ or image/ or undeclared; a script as image/"),
        ("app_http_exe_bodies", "bodies", "bodies that start an executable (PE, MZ, ELF, Mach-O)"),
        ("app_tls_version", "version code",
         "TLS version negotiated (the ServerHello's, supported_versions' choice for 1.3), "
         "else the ClientHello's: 0x0301 (769) TLS 1.0 ... 0x0304 (772) TLS 1.3, 0x0300 "
         "SSL 3.0, 2 SSLv2; 0 when no hello was read"),
        ("app_tls_ciphers", "cipher suites", "cipher suites the ClientHello offered"),
        ("app_tls_extensions", "extensions", "extensions in the ClientHello (GREASE included)"),
        ("app_tls_sni", "0/1", "the ClientHello named a server (SNI)"),
        ("app_tls_alpns", "protocols", "ALPN protocols the ClientHello offered"),
        ("app_tls_certs", "certificates",
         "certificates in the server's chain (TLS <= 1.2; those begun before a cut)"),
        ("app_tls_self_signed", "0/1",
         "the server's certificate has its subject as issuer (TLS <= 1.2)"),
        ("app_tls_cert_days", "days",
         "the server certificate's validity span, notafter - notbefore"),
        ("app_tls_cert_age_days", "days",
         "the certificate's age at the handshake: ClientHello time - notbefore (negative: "
         "not valid yet); 0 without a certificate"),
        ("app_ssh_banners", "banners", "SSH identification strings read (0, 1 or 2)"),
        ("app_ssh_proto_version", "version",
         "SSH protocol version of the server's banner (else the client's): 2.0, 1.99, 1.5"),
        ("app_smb_commands", "messages", "SMB messages read (SMB2/3, each of a compound; SMB1)"),
        ("app_smb_dialect", "dialect code",
         "SMB2 dialect the NEGOTIATE response chose: 0x0202 (514) 2.02 ... 0x0311 (785) "
         "3.1.1; 0 when none was read (SMB1 only, or the negotiate not captured)"),
        ("app_smb_tree_connects", "requests", "SMB2 TREE_CONNECT requests"),
        ("app_smb_admin_shares", "requests",
         "TREE_CONNECT requests to an administrative share (a path ending in '$' other "
         "than IPC$: ADMIN$, C$ ...)"),
        ("app_smb_creates", "requests", "SMB2 CREATE requests (files, directories, pipes opened)"),
        ("app_smb_pipes", "pipes", "named pipes opened (CREATE answered with success on IPC$)"),
        ("app_smb_auths", "requests",
         "SESSION_SETUP requests carrying an NTLMSSP AUTHENTICATE (authentication attempts)"),
        ("app_smb_errors", "responses",
         "SMB2 responses with an error status (not PENDING, MORE_PROCESSING_REQUIRED or "
         "BUFFER_OVERFLOW)"),
        ("app_smb_encrypted", "messages",
         "encrypted or compressed SMB3 messages (the direction is not read past the first)"),
        ("app_smb_rpc_requests", "calls", "DCE-RPC REQUEST calls over named pipes"),
        *_first_bytes_features(),
    ))

ALL_FEATURES: tuple[Feature, ...] = FLOW_FEATURES + CONTEXT_FEATURES + APP_FEATURES

# Window features (ext/windows.pxd): one vector per key (all traffic, a source or a
# destination address) and window of packet time; used by profiles with unit: window.
WINDOW_FEATURES: tuple[Feature, ...] = tuple(
    Feature("window." + field, field, unit, text) for field, unit, text in (
        ("packets", "packets", "IP packets of the key in the window"),
        ("bytes", "bytes", "their wire bytes"),
        ("mean_size", "bytes", "mean wire length"),
        ("syn_ratio", "ratio", "TCP packets with SYN and no ACK, over TCP packets"),
        ("synack_ratio", "ratio", "TCP SYN/ACK packets over TCP packets"),
        ("rst_ratio", "ratio", "TCP packets with RST over TCP packets"),
        ("fin_ratio", "ratio", "TCP packets with FIN over TCP packets"),
        ("unreach_ratio", "ratio",
         "ICMP destination-unreachable packets over all packets"),
        ("tcp_ratio", "ratio", "TCP packets over all packets"),
        ("udp_ratio", "ratio", "UDP packets over all packets"),
        ("icmp_ratio", "ratio", "ICMP / ICMPv6 packets over all packets"),
        ("distinct_dsts", "hosts",
         f"distinct destination addresses (linear counting over {WINDOW_BITS} bits: exact "
         f"for a few, a few percent off up to several hundred, saturating at "
         f"{WINDOW_BITS * math.log(WINDOW_BITS):.0f})"),
        ("distinct_dports", "ports", "distinct destination (protocol, port), same estimator"),
        ("distinct_srcs", "hosts", "distinct source addresses, same estimator"),
        ("dport_entropy", "bits",
         "entropy of destination ports over 32 hash buckets (0: one port; 5: spread)"),
        ("bad_flags", "packets",
         "TCP packets with flags no TCP stack sends (NULL, FIN or Xmas probes, SYN with "
         "FIN or RST; as flow.bad_flags_toserver)"),
    ))
WINDOW_BY_NAME = {f.name: f for f in WINDOW_FEATURES}

# ARP features (ext/arp.pxd): one vector per well-formed ARP frame (IPv4 over Ethernet);
# used by profiles with unit: arp.
ARP_FEATURES: tuple[Feature, ...] = tuple(
    Feature("arp." + field, field, unit, text) for field, unit, text in (
        ("sender_targets", "hosts",
         f"distinct target addresses the frame's sender (MAC, IP) asked for in ARP "
         f"requests over the last 30 to 60 s, this frame included (linear counting over "
         f"{SCAN_BITS} bits: exact for a few, within ~10 % up to 200, saturating at "
         f"{SCAN_BITS * math.log(SCAN_BITS):.0f}); gratuitous requests do not count; "
         f"probes (sender 0.0.0.0) count for the sender (MAC, 0.0.0.0)"),
        ("binding_change", "flag",
         "1: the frame's sender claims an IPv4 address that another MAC claimed or was "
         "seen holding in the last 120 s (neither MAC a VRRP/HSRP virtual router MAC); "
         "else 0"),
        ("prior_age_s", "s",
         "with binding_change, seconds since that other MAC last claimed or held the "
         "address; else 0"),
    ))
ARP_BY_NAME = {f.name: f for f in ARP_FEATURES}

# Process features (src/wirescore/syscalls/windows.py): one vector per process (comm,
# pid, uid) and per host, and second of the syscall trace (wirescore run --syscalls);
# used by profiles with unit: process. A host's vector sums its processes' (its distinct
# counts are over the union).
PROCESS_FEATURES: tuple[Feature, ...] = tuple(
    Feature("proc." + field, field, unit, text) for field, unit, text in (
        ("syscalls", "calls", "system calls entered (raw_syscalls:sys_enter)"),
        ("sockets", "calls", "socket() calls: sockets opened"),
        ("connects", "calls", "connect() calls to an IPv4 or IPv6 address"),
        ("connect_dsts", "endpoints", "distinct (address, port) those connects went to"),
        ("connect_hosts", "hosts", "distinct addresses those connects went to"),
        ("server_calls", "calls", "listen(), accept() and accept4() calls"),
        ("forks", "processes", "processes forked (sched_process_fork, as the parent)"),
        ("execs", "programs", "programs its children executed (execve, as the parent)"),
        ("shell_execs", "programs", "of those, shells (sh, bash, dash, zsh, ksh, ...)"),
        ("new_server_shell", "programs",
         "shells it executed as a server (its comm has called listen() or accept()) "
         "whose comm had never executed a shell before, past the learning period "
         "(syscalls.learn_seconds): who did what for the first time"),
        ("new_exec_pairs", "programs",
         "programs executed whose (parent comm, program) pair is new past the "
         "learning period"),
        ("opens", "calls", "openat() calls, for reading or writing"),
        ("write_opens", "calls", "openat() calls for writing (O_WRONLY, O_RDWR, O_CREAT "
         "or O_TRUNC)"),
        ("write_dirs", "directories", "distinct directories opened into for writing"),
    ))
PROCESS_BY_NAME = {f.name: f for f in PROCESS_FEATURES}

#: FlowRecord fields that identify a flow rather than describe it (not features)
IDENTITY_FIELDS = (
    "flow_id", "start_us", "end_us", "report_us", "src_addr", "dest_addr", "src_port", "dest_port",
    "vlan0", "vlan1", "nvlan", "ip_version", "proto", "reason", "state", "tcp_state",
    "tcp_flags_ts", "tcp_flags_tc", "icmp_seen", "icmp_type_ts", "icmp_code_ts",
    "icmp_type_tc", "icmp_code_tc", "app_proto", "pad", "src_mac", "dest_mac", "pad2",
)
#: FlowRecord fields that hold a flow's first packets as arrays (FlowMeter(splt=n); the
#: splt feature set, wirescore.featuresets.splt, makes columns of them)
SEQUENCE_FIELDS = ("splt_gap_us", "splt_size", "splt_direction", "splt_count", "pad3")


def _packet_stats() -> list[Feature]:
    out = []
    for d, who in (("_toserver", " client to server"), ("_toclient", " server to client"),
                   ("", " both ways")):
        out += [
            Feature(f"pkt_payload_min{d}", f"pkt_payload_min{d}", "bytes",
                    f"smallest L4 payload{who} (payload_bytes' per-packet values)"),
            Feature(f"pkt_payload_max{d}", f"pkt_payload_max{d}", "bytes",
                    f"largest L4 payload{who}"),
            Feature(f"pkt_payload_std{d}", f"pkt_payload_std{d}", "bytes",
                    f"population standard deviation of the L4 payloads{who} (exact: from "
                    f"integer sums)"),
        ]
    for d, who in (("_toserver", "client to server"), ("_toclient", "server to client")):
        out += [
            Feature(f"pkt_header_bytes{d}", f"pkt_header_bytes{d}", "bytes",
                    f"L4 header bytes {who}: TCP's data offset (options included), UDP "
                    f"8, SCTP 12, ICMP up to 8, 0 for other protocols and later fragments"),
            Feature(f"pkt_header_min{d}", f"pkt_header_min{d}", "bytes",
                    f"smallest L4 header {who}, as above"),
            Feature(f"pkt_data{d}", f"pkt_data{d}", "packets",
                    f"packets {who} with at least one L4 payload byte"),
        ]
    out += [
        Feature("pkt_iat_min", "pkt_iat_min", "us",
                "smallest gap between consecutive packets of the flow, either direction"),
        Feature("pkt_iat_max", "pkt_iat_max", "us", "largest such gap"),
        Feature("pkt_iat_std", "pkt_iat_std", "us",
                "population standard deviation of those gaps (their mean: duration over "
                "packets - 1)"),
    ]
    for kind, text in (("active", "activity periods: from a packet that follows a gap "
                        "longer than the activity timeout (or the flow's first) to the last "
                        "packet before the next such gap, counted when that gap comes and "
                        "longer than 0 (the period open at the flow's end is not: "
                        "CICFlowMeter's rule)"),
                       ("idle", "idle periods: the gaps longer than the activity timeout "
                        "(FlowMeter(activity_timeout=5 s), CICFlowMeter's)")):
        out += [
            Feature(f"pkt_{kind}_count", f"pkt_{kind}_count", "periods", text),
            Feature(f"pkt_{kind}_mean", f"pkt_{kind}_mean", "us", f"mean of the {kind} "
                    f"periods"),
            Feature(f"pkt_{kind}_std", f"pkt_{kind}_std", "us", f"population standard "
                    f"deviation of the {kind} periods"),
            Feature(f"pkt_{kind}_min", f"pkt_{kind}_min", "us", f"shortest {kind} period"),
            Feature(f"pkt_{kind}_max", f"pkt_{kind}_max", "us", f"longest {kind} period"),
        ]
    return out


#: FlowRecord fields of per-packet statistics (ext/pktstats.pxd), kept only with
#: FlowMeter(pktstats=True) (pkt_stats 1; all 0 otherwise): read by feature sets (the
#: cicflowmeter set turns them on), not profile columns. A statistic of a direction
#: without packets is 0; gap statistics under two packets are 0.
PACKET_STAT_FEATURES: tuple[Feature, ...] = tuple(_packet_stats())
PACKET_STAT_FIELDS = (*(f.field for f in PACKET_STAT_FEATURES), "pkt_stats", "pad4")

BY_NAME = {f.name: f for f in ALL_FEATURES}

#: the flow features an attempt record (ext/pending.pxd, ATTEMPT_DTYPE) carries under the
#: flow record's field names: the scan keys' counts of confirmed unanswered items at the
#: attempt's confirmation (a profile with evidence: attempt scores only these)
ATTEMPT_FEATURES = ("ctx.src_unanswered_hosts", "ctx.src_unanswered_services",
                    "ctx.dst_unanswered_srcs")
#: beside each, the attempt record's field with its key's first confirmed failure (µs)
ATTEMPT_SINCE = dict(zip(ATTEMPT_FEATURES, ("since_hosts_us", "since_services_us",
                                            "since_srcs_us")))
#: the identity fields an attempt record shares with the flow record (suppress.per, where)
ATTEMPT_FIELDS = ("src_addr", "dest_addr", "src_port", "dest_port", "proto", "ip_version",
                  "flow_id")

#: a finished flow's scan counts (read at its report) -> the FlowRecord field holding the
#: same count as read at its quiet update, if no packet came after it (ext/features.pxd;
#: wirescore.detect_evidence: an end does not alert on what came after that)
QUIET_FIELDS = {"ctx_src_unanswered_hosts": "quiet_src_unanswered_hosts",
                "ctx_src_unanswered_services": "quiet_src_unanswered_services",
                "ctx_dst_unanswered_srcs": "quiet_dst_unanswered_srcs"}


def describe() -> str:
    """A table of every feature column (for `wirescore features` and docs)."""
    every = ALL_FEATURES + WINDOW_FEATURES + ARP_FEATURES + PROCESS_FEATURES
    width = max(len(f.name) for f in every)
    return "\n".join(f"{f.name:<{width}}  {f.unit:<8}  {f.definition}" for f in every)
