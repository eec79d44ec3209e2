# The probe table: every application protocol's room, one line each in app_protocols(),
# and the dispatch over it. A protocol is found by content: the first payload bytes of a
# direction go to each row's probe, the rows listing one of the packet's ports first (a
# hint, as nDPI and Suricata use ports: content decides), the others after; the first
# probe to say yes names the flow's protocol.
#
# A room gives (the contract, ext/app/README.md):
#   probe(p, n, udp, sport, dport)  1: this protocol; 0: not; -1: more bytes needed
#                                   (TCP, at most APP_PROBE of them are ever given)
#   parse(c, state, p, n)           TCP: consume whole units of p[0:n]; returns the bytes
#                                   consumed (0: needs more), or APP_ERROR; may set
#                                   c.skip (bytes after them to drop unread)
#   gap(c, state, held, n, missing) TCP: `missing` bytes lost after the n held; 0 when
#                                   resynchronised (c.skip set), APP_ERROR when not
#   datagram(c, p, n)               UDP: one datagram, whole
#   record(summary, r)              the flow record's app_<proto>_* fields
# and its sizes: the event struct (events.pxd), the summary (in the flow's AppRec, at
# most APP_SUMMARY_BYTES) and the TCP state (in its stream slot, at most
# APP_STATE_BYTES; zeroed when the slot is taken).
#
# Inline, used without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t
from enums cimport AP_NONE, AP_DNS, EV_DNS, N_APP_PROTOS, N_APP_EVENTS
from enums cimport AP_KRB5, EV_KRB5
from enums cimport AP_LDAP, EV_LDAP
from enums cimport AP_DCERPC, EV_DCERPC
from enums cimport AP_HTTP, EV_HTTP, EV_FILEINFO
from features cimport FlowRecord
from app.base cimport AppCtx
from app.dns cimport (DnsEvent, DnsSummary, dns_probe, dns_parse, dns_gap, dns_datagram,
                      dns_record)
from app.krb5room cimport (Krb5Event, Krb5Summary, krb5_room_probe, krb5_parse_tcp, krb5_gap,
                           krb5_datagram, krb5_record)
from app.ldaproom cimport (LdapEvent, LdapSummary, ldap_room_probe, ldap_parse_tcp, ldap_gap,
                           ldap_datagram, ldap_record)
from app.dcerpc_room cimport (DceEvent, DceSummary, DceState, dce_probe, dce_parse, dce_gap,
                              dce_record)
from app.http cimport (HttpEvent, FileEvent, HttpSummary, HttpState, http_probe,
                       http_parse, http_gap, http_record)
from enums cimport AP_TLS, EV_TLS
from app.tlsroom cimport (TlsEvent, TlsSummary, TlsState, tls_probe, tls_parse, tls_gap,
                          tls_finish, tls_record, TLS_PORT, TLS_ALT_PORT)
from enums cimport AP_SSH, EV_SSH
from app.sshroom cimport (SshEvent, SshSummary, SshState, sshr_probe, sshr_parse, sshr_gap,
                          sshr_finish, sshr_record, SSH_PORT)
from enums cimport AP_SMB, EV_SMB
from app.smbroom cimport (SmbEvent, SmbSummary, SmbState, smb_probe, smb_parse, smb_gap,
                          smb_record, SMB_PORT, SMB_NB_PORT)

ctypedef int (*probe_fn)(const uint8_t* p, uint32_t n, uint8_t udp, uint16_t sport,
                         uint16_t dport) noexcept nogil
ctypedef int (*parse_fn)(AppCtx* c, void* state, const uint8_t* p,
                         uint32_t n) noexcept nogil
ctypedef int (*gap_fn)(AppCtx* c, void* state, const uint8_t* held, uint32_t n,
                       uint32_t missing) noexcept nogil
ctypedef int (*datagram_fn)(AppCtx* c, const uint8_t* p, uint32_t n) noexcept nogil
ctypedef void (*record_fn)(const void* summary, FlowRecord* r) noexcept nogil
ctypedef void (*finish_fn)(AppCtx* c, void* state) noexcept nogil

cdef enum:
    APP_MAX_PROTOS = 16
    APP_SUMMARY_WORDS = 5          # a flow's summary (app.pxd AppRec), 64-bit words
    APP_SUMMARY_BYTES = 40
    APP_STATE_WORDS = 272          # a TCP parser's state (stream.pxd StreamSlot)
    APP_STATE_BYTES = 2176

cdef struct AppProto:
    probe_fn probe
    parse_fn parse                 # NULL: not over TCP
    gap_fn gap
    datagram_fn datagram           # NULL: not over UDP
    record_fn record
    finish_fn finish               # NULL, or: the stream ends (its state's last word)
    uint32_t event_size
    uint32_t summary_size
    uint32_t state_size
    uint16_t ports[4]              # the hint: probed first on these (0: unused)
    uint8_t proto                  # AP_*
    uint8_t event                  # EV_* of its events

cdef struct AppProtos:
    AppProto row[APP_MAX_PROTOS]
    int n
    int by_proto[N_APP_PROTOS]     # the row of each AP_*, or -1
    uint32_t budget[N_APP_PROTOS][2]   # bytes examined per direction: [AP_*][0 tcp, 1 udp]
    uint32_t event_size[N_APP_EVENTS]  # record bytes of each event kind (0: none written)
    uint32_t first_bytes           # first-bytes statistics (first.pxd): bytes a direction at most


cdef inline void app_register(AppProtos* t, uint8_t proto, uint8_t event,
                              uint32_t event_size, uint32_t summary_size,
                              uint32_t state_size, uint16_t port0, uint16_t port1,
                              probe_fn probe, parse_fn parse, gap_fn gap,
                              datagram_fn datagram, record_fn record) noexcept nogil:
    cdef AppProto* r = &t.row[t.n]
    r.proto = proto
    r.event = event
    r.event_size = event_size
    r.summary_size = summary_size
    r.state_size = state_size
    r.ports[0] = port0
    r.ports[1] = port1
    r.ports[2] = 0
    r.ports[3] = 0
    r.probe = probe
    r.parse = parse
    r.gap = gap
    r.datagram = datagram
    r.record = record
    r.finish = NULL
    t.by_proto[proto] = t.n
    t.event_size[event] = event_size
    t.n += 1


cdef inline void app_event(AppProtos* t, uint8_t event, uint32_t event_size) noexcept nogil:
    """A further event kind a room writes besides its row's (a file seen in its
    messages): its buffer's record size."""
    t.event_size[event] = event_size


cdef inline void app_protocols(AppProtos* t) noexcept nogil:
    """The table: one line per protocol room (checked against the sizes at import,
    appcore.pyx)."""
    cdef int i
    t.n = 0
    for i in range(N_APP_PROTOS):
        t.by_proto[i] = -1
    for i in range(N_APP_EVENTS):
        t.event_size[i] = 0
    #            AP_*    EV_*    event struct       summary             TCP state  ports
    app_register(t, AP_DNS, EV_DNS, sizeof(DnsEvent), sizeof(DnsSummary), 0, 53, 0,
                 dns_probe, dns_parse, dns_gap, dns_datagram, dns_record)
    app_register(t, AP_KRB5, EV_KRB5, sizeof(Krb5Event), sizeof(Krb5Summary), 0, 88, 0,
                 krb5_room_probe, krb5_parse_tcp, krb5_gap, krb5_datagram, krb5_record)
    app_register(t, AP_LDAP, EV_LDAP, sizeof(LdapEvent), sizeof(LdapSummary), 0, 389, 3268,
                 ldap_room_probe, ldap_parse_tcp, ldap_gap, ldap_datagram, ldap_record)
    app_register(t, AP_DCERPC, EV_DCERPC, sizeof(DceEvent), sizeof(DceSummary),
                 sizeof(DceState), 135, 0, dce_probe, dce_parse, dce_gap, NULL, dce_record)
    app_register(t, AP_HTTP, EV_HTTP, sizeof(HttpEvent), sizeof(HttpSummary),
                 sizeof(HttpState), 80, 8080,
                 http_probe, http_parse, http_gap, NULL, http_record)
    app_event(t, EV_FILEINFO, sizeof(FileEvent))
    app_register(t, AP_TLS, EV_TLS, sizeof(TlsEvent), sizeof(TlsSummary), sizeof(TlsState),
                 TLS_PORT, TLS_ALT_PORT, tls_probe, tls_parse, tls_gap, NULL, tls_record)
    t.row[t.n - 1].finish = tls_finish
    app_register(t, AP_SSH, EV_SSH, sizeof(SshEvent), sizeof(SshSummary), sizeof(SshState),
                 SSH_PORT, 0, sshr_probe, sshr_parse, sshr_gap, NULL, sshr_record)
    t.row[t.n - 1].finish = sshr_finish
    app_register(t, AP_SMB, EV_SMB, sizeof(SmbEvent), sizeof(SmbSummary), sizeof(SmbState),
                 SMB_PORT, SMB_NB_PORT, smb_probe, smb_parse, smb_gap, NULL, smb_record)


cdef inline const AppProto* app_row(const AppProtos* t, int proto) noexcept nogil:
    """The row of protocol AP_* proto, or NULL."""
    if proto < 0 or proto >= N_APP_PROTOS or t.by_proto[proto] < 0:
        return NULL
    return &t.row[t.by_proto[proto]]


cdef inline bint app_port_hint(const AppProto* r, uint16_t sport, uint16_t dport) noexcept nogil:
    cdef int k
    for k in range(4):
        if r.ports[k] and (r.ports[k] == sport or r.ports[k] == dport):
            return True
    return False


cdef inline int app_probe(const AppProtos* t, const uint8_t* p, uint32_t n, uint8_t udp,
                          uint16_t sport, uint16_t dport, bint* more) noexcept nogil:
    """The protocol (AP_*) p[0:n] is, or AP_NONE; more: some probe wants more bytes.
    Rows with a port hint for this packet go first, then the others, in table order."""
    cdef int k, hinted, r
    cdef const AppProto* row
    more[0] = False
    for hinted in range(2):
        for k in range(t.n):
            row = &t.row[k]
            if (udp and row.datagram == NULL) or (not udp and row.parse == NULL):
                continue
            if app_port_hint(row, sport, dport) != (hinted == 0):
                continue
            r = row.probe(p, n, udp, sport, dport)
            if r == 1:
                return row.proto
            if r < 0:
                more[0] = True
    return AP_NONE
