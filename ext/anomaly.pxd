# Decoder faults as records: one per frame the decoder refused (decode.pxd fail(): a
# header too small, a wrong version, a length that does not add up), with the fault's
# counter slot (E_*, whose name is Suricata's decoder event) and what the frame showed
# before the fault (addresses once an IP header was read, ports once an L4 header was).
# FlowMeter(anomalies=True) keeps them until drain_anomalies(); feed() starts a chunk only
# when the buffer has room for one record a packet, so none is ever dropped.
#
# Inline, used by flowtable.pyx without the GIL.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy

from decode cimport PacketView

cdef struct AnomalyRecord:
    int64_t ts_us
    uint8_t src[16]           # zero until an IP header was read
    uint8_t dst[16]
    uint16_t event            # the counter slot of the fault (E_* in counters.h)
    uint16_t sport            # with has_ports: the L4 header was read
    uint16_t dport
    uint8_t ip_version        # 0: no IP header was read
    uint8_t proto
    uint8_t has_ports
    uint8_t pad[7]

cdef struct Anomalies:
    AnomalyRecord* out
    uint32_t n
    uint32_t cap              # 0: off


cdef inline int anomaly_init(Anomalies* a, uint32_t cap) noexcept nogil:
    a.out = <AnomalyRecord*>calloc(cap, sizeof(AnomalyRecord))
    a.n = 0
    a.cap = cap if a.out != NULL else 0
    return 0 if a.out != NULL else -1


cdef inline void anomaly_free(Anomalies* a) noexcept nogil:
    free(a.out)
    a.out = NULL
    a.cap = a.n = 0


cdef inline void anomaly_add(Anomalies* a, const PacketView* v, int64_t ts) noexcept nogil:
    """Record the fault of frame v at packet time ts (the caller made room)."""
    cdef AnomalyRecord* r
    if a.n >= a.cap:
        return
    r = &a.out[a.n]
    a.n += 1
    r.ts_us = ts
    r.event = v.error
    r.ip_version = v.ipver
    r.proto = v.proto if v.ipver else 0
    memcpy(r.src, v.src, 16)
    memcpy(r.dst, v.dst, 16)
    r.has_ports = v.has_ports
    r.sport = v.sport
    r.dport = v.dport
