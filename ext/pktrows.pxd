# Packet rows: one fixed-size row per captured frame, the decoder's view of it (decode.pxd),
# for research paths that need every packet rather than the flow records (the netml
# feature set). Filled by pktrows.pyx without the GIL; PKTROW_DTYPE comes from the struct.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, int64_t

cdef struct PacketRow:
    int64_t ts_us          # capture time, microseconds since the epoch
    uint32_t caplen        # bytes captured of the frame (link header included)
    uint32_t wire_len      # decode.pxd's wire length (0 unless result is RES_IP)
    uint8_t src[16]        # IPv4 in the first 4 bytes, rest zero
    uint8_t dst[16]
    uint16_t sport         # TCP/UDP/SCTP ports (has_ports), else 0
    uint16_t dport
    uint8_t result         # decode.pxd RES_IP / RES_NONIP / RES_ERROR / RES_ARP
    uint8_t ipver          # 4 or 6 (RES_IP), else 0
    uint8_t proto          # IP protocol after IPv6 extension headers
    uint8_t has_ports
    uint8_t frag           # FRAG_NONE / FRAG_FIRST / FRAG_LATER
    uint8_t tcp_flags      # the TCP header's flag byte (FIN 0x01 .. CWR 0x80)
    uint8_t ttl            # IPv4 TTL or IPv6 hop limit
    uint8_t spare
