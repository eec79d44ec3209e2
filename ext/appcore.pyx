# cython: freethreading_compatible = False
"""The application layer's Python face: the event dtypes (derived from the rooms' C
structs, as RECORD_DTYPE is from FlowRecord), the budgets as the core takes them, and
AppDriver, which feeds segments and datagrams of a few flows straight into the rooms
(ext/app/), for tests and the parser-level fuzz target. The meter (flowtable.pyx) runs
the same inline functions on real packets.
"""
import numpy as np
cimport numpy as cnp

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset, memcpy

from counters cimport N_COUNTERS
from enums cimport N_APP_PROTOS, N_APP_EVENTS, EV_DNS, IPP_TCP, IPP_UDP
from decode cimport PacketView, FRAG_NONE
from features cimport FlowRecord
from app.base cimport AppLink
from app.events cimport EvHead
from app.protocols cimport (AppProtos, AppProto, APP_SUMMARY_BYTES, APP_STATE_BYTES,
                            app_protocols)
from app.dns cimport DnsEvent
from app.krb5room cimport Krb5Event
from app.ldaproom cimport LdapEvent
from app.dcerpc_room cimport DceEvent
from app.http cimport HttpEvent, FileEvent
from app.tlsroom cimport TlsEvent
from app.sshroom cimport SshEvent
from app.smbroom cimport SmbEvent
from app.app cimport AppTable, AppRec, app_init, app_free, app_packet, app_flow_end
from app.first cimport FIRST_BYTES_MAX
from app.stream cimport StreamSlot

from wirescore.core_names import APP_BUDGETS, APP_EVENT_KINDS, APP_PARSERS, APP_PROTOS

cnp.import_array()

cdef DnsEvent _dns
DNS_EVENT_DTYPE = np.asarray(<DnsEvent[:1]>(&_dns)).dtype
cdef Krb5Event _krb5
KRB5_EVENT_DTYPE = np.asarray(<Krb5Event[:1]>(&_krb5)).dtype
cdef LdapEvent _ldap
LDAP_EVENT_DTYPE = np.asarray(<LdapEvent[:1]>(&_ldap)).dtype
cdef DceEvent _dcerpc
DCERPC_EVENT_DTYPE = np.asarray(<DceEvent[:1]>(&_dcerpc)).dtype
cdef HttpEvent _http
HTTP_EVENT_DTYPE = np.asarray(<HttpEvent[:1]>(&_http)).dtype
cdef FileEvent _file
FILE_EVENT_DTYPE = np.asarray(<FileEvent[:1]>(&_file)).dtype
cdef TlsEvent _tls
TLS_EVENT_DTYPE = np.asarray(<TlsEvent[:1]>(&_tls)).dtype
cdef SshEvent _ssh
SSH_EVENT_DTYPE = np.asarray(<SshEvent[:1]>(&_ssh)).dtype
cdef SmbEvent _smb
SMB_EVENT_DTYPE = np.asarray(<SmbEvent[:1]>(&_smb)).dtype
#: the event dtype of each kind, in APP_EVENT_KINDS order
EVENT_DTYPES = (DNS_EVENT_DTYPE,
                KRB5_EVENT_DTYPE,
                LDAP_EVENT_DTYPE,
                DCERPC_EVENT_DTYPE,
                HTTP_EVENT_DTYPE,
                FILE_EVENT_DTYPE,
                TLS_EVENT_DTYPE,
                SSH_EVENT_DTYPE,
                SMB_EVENT_DTYPE,
                )
cdef FlowRecord _record
_RECORD_DTYPE = np.asarray(<FlowRecord[:1]>(&_record)).dtype
#: bytes of a flow's app record and of a TCP stream slot
APP_REC_BYTES = sizeof(AppRec)
APP_SLOT_BYTES = sizeof(StreamSlot)


cdef EvHead _head
#: the fields every event struct starts with (events.pxd EvHead, written by ev_head)
EVENT_HEAD_DTYPE = np.asarray(<EvHead[:1]>(&_head)).dtype


cdef _check_table():
    """Every room's sizes fit the table's slots, and its events are of its kind."""
    cdef AppProtos t
    cdef AppProto* r
    cdef int i
    app_protocols(&t)
    if len(EVENT_DTYPES) != N_APP_EVENTS or len(APP_EVENT_KINDS) != N_APP_EVENTS:
        raise ImportError("appcore: EVENT_DTYPES must list every APP_EVENTS kind")
    for i in range(t.n):
        r = &t.row[i]
        if r.summary_size > APP_SUMMARY_BYTES or r.state_size > APP_STATE_BYTES:
            raise ImportError(f"app protocol {APP_PROTOS[r.proto][1]}: its summary or TCP "
                              "state is larger than the table's room")
        if EVENT_DTYPES[r.event].itemsize != r.event_size:
            raise ImportError(f"app protocol {APP_PROTOS[r.proto][1]}: its event struct is "
                              f"not EVENT_DTYPES[{r.event}]")
    for dtype in EVENT_DTYPES:          # rooms write an event's head with ev_head()
        if any(dtype.fields.get(name) != EVENT_HEAD_DTYPE.fields[name]
               for name in EVENT_HEAD_DTYPE.names):
            raise ImportError(f"app event {dtype}: its head fields are not EvHead's "
                              "(flow_id .. direction, same types and offsets)")
    for i in range(N_APP_EVENTS):
        if t.event_size[i] and EVENT_DTYPES[i].itemsize != t.event_size[i]:
            raise ImportError(f"app event kind {APP_EVENT_KINDS[i]}: its struct is not "
                              f"EVENT_DTYPES[{i}]")


_check_table()


def budget_array(budgets=None):
    """The budgets ({parser stem: bytes per direction}; None: APP_BUDGETS) as the core
    takes them: uint32 [AP_* x (tcp, udp)]. ValueError for an unknown stem."""
    given = dict(APP_BUDGETS if budgets is None else budgets)
    unknown = set(given) - set(APP_BUDGETS)
    if unknown:
        raise ValueError(f"unknown app budget {sorted(unknown)[0]!r}: one of "
                         f"{sorted(APP_BUDGETS)}")
    out = np.zeros(N_APP_PROTOS * 2, dtype=np.uint32)
    idents = [ident for ident, _ in APP_PROTOS]
    for ident, transport, stem, _, default in APP_PARSERS:
        value = int(given.get(stem, default))
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"app budget {stem}: {value} is not 0..2**32-1")
        out[2 * idents.index(ident) + (transport == "udp")] = value
    return out


cdef class AppDriver:
    """nflows flows between two hosts (10.0.0.1 port 40000+i, the client, and
    10.0.0.2 port `port`), over TCP or UDP, whose payloads are given straight to the
    application layer as the meter gives a packet's: segments of TCP flows with their
    sequence numbers, flags, captured and wire lengths; UDP datagrams. Pools as given
    (small ones make the take-back reachable)."""

    cdef AppTable T
    cdef AppLink* links
    cdef uint64_t* cnt
    cdef int nflows
    cdef int ipproto
    cdef uint16_t port
    cdef bint ready

    def __cinit__(self, int nflows=1, bint udp=False, int port=53, int app_flows=64,
                  int app_streams=16, budgets=None, int event_capacity=4096,
                  unsigned int first_bytes=512):
        cdef const uint32_t[::1] b = budget_array(budgets)
        if nflows < 1 or app_flows < 1 or app_streams < 1 or event_capacity < 1:
            raise ValueError("nflows, app_flows, app_streams and event_capacity must be >= 1")
        self.nflows = nflows
        self.ipproto = IPP_UDP if udp else IPP_TCP
        self.port = port
        self.links = <AppLink*>calloc(nflows, sizeof(AppLink))
        self.cnt = <uint64_t*>calloc(N_COUNTERS, sizeof(uint64_t))
        if (self.links == NULL or self.cnt == NULL
                or app_init(&self.T, app_flows, app_streams, &b[0], event_capacity, True) < 0):
            raise MemoryError()
        if first_bytes > FIRST_BYTES_MAX:
            raise ValueError(f"first_bytes must be 0..{FIRST_BYTES_MAX}")
        self.T.protos.first_bytes = first_bytes
        self.ready = True

    def __dealloc__(self):
        app_free(&self.T)
        free(self.links)
        free(self.cnt)

    cdef void _view(self, PacketView* v, int flow, int d, uint32_t wire,
                    uint32_t cap) noexcept:
        memset(v, 0, sizeof(PacketView))
        v.ipver = 4
        v.proto = <uint8_t>self.ipproto
        v.has_ports = 1
        v.frag = FRAG_NONE
        a = bytes((10, 0, 0, 1))
        b = bytes((10, 0, 0, 2))
        memcpy(v.src, <const char*>(a if d == 0 else b), 4)
        memcpy(v.dst, <const char*>(b if d == 0 else a), 4)
        v.sport = <uint16_t>(40000 + flow if d == 0 else self.port)
        v.dport = <uint16_t>(self.port if d == 0 else 40000 + flow)
        v.payload_len = wire
        v.payload_cap = cap
        v.payload_off = 0

    def packet(self, int flow, int d, const uint8_t[::1] payload, int64_t ts_us=0,
               uint32_t seq=0, int flags=0x18, wire_len=None):
        """One packet of flow `flow` in direction d (0 client to server): its captured
        payload (a buffer of exactly those bytes), the wire length (default: as
        captured), TCP sequence number and flags (ignored for UDP)."""
        cdef PacketView v
        cdef uint32_t cap = payload.shape[0]
        cdef uint32_t wire = cap if wire_len is None else wire_len
        cdef const uint8_t* p = &payload[0] if cap else <const uint8_t*>b""
        if not 0 <= flow < self.nflows or d not in (0, 1):
            raise ValueError("no such flow or direction")
        if wire < cap:
            raise ValueError("wire_len is less than the bytes captured")
        self._view(&v, flow, d, wire, cap)
        v.tcp_seq = seq
        v.tcp_flags = <uint8_t>flags
        if wire == 0 and not (self.ipproto == IPP_TCP and flags & 0x05 and self.links[flow].rec):
            return
        app_packet(&self.T, &self.links[flow], &v, p, d, ts_us, <uint64_t>(flow + 1), self.cnt)

    def end(self, int flow):
        """End flow `flow`: its record's app fields (a dict of the FlowRecord's app_*
        fields and app_proto); its link starts over."""
        cdef FlowRecord r
        if not 0 <= flow < self.nflows:
            raise ValueError("no such flow")
        memset(&r, 0, sizeof(FlowRecord))
        app_flow_end(&self.T, &self.links[flow], <uint8_t>self.ipproto, &r, self.cnt)
        memset(&self.links[flow], 0, sizeof(AppLink))
        out = np.empty(1, dtype=_RECORD_DTYPE)
        memcpy(cnp.PyArray_DATA(out), &r, sizeof(FlowRecord))
        rec = out[0]
        return {name: rec[name].item() for name in rec.dtype.names
                if name.startswith("app_")}

    def link(self, int flow):
        """(app_proto, flags, has a record) of flow `flow`'s link."""
        cdef AppLink l
        if not 0 <= flow < self.nflows:
            raise ValueError("no such flow")
        l = self.links[flow]
        return l.proto, l.flags, l.rec != 0

    def events(self):
        """The events since the last call: {kind: array}."""
        cdef int k
        out = {}
        for k in range(N_APP_EVENTS):
            n = self.T.ev[k].n
            arr = np.empty(n, dtype=EVENT_DTYPES[k])
            if n:
                memcpy(cnp.PyArray_DATA(arr), self.T.ev[k].data, n * self.T.ev[k].size)
            out[APP_EVENT_KINDS[k]] = arr
            self.T.ev[k].n = 0
        return out

    @property
    def counters(self):
        """The counters (COUNTER_NAMES order), a copy."""
        return np.asarray(<uint64_t[:N_COUNTERS]>self.cnt).copy()

    @property
    def pools(self):
        """(records handed out, stream slots handed out): the memory touched."""
        return self.T.rec_high, self.T.slot_high
