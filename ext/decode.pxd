# Decoder: one captured frame -> PacketView (L2..L4), every read bounds-checked.
#
# Everything here is inline so that the flow table's per-packet loop compiles it in
# (no call through a module boundary per packet); decode.pyx wraps it for Python
# (tests, fuzzing). Packets are untrusted: no field is read before its bytes were
# checked to lie inside the captured length, whatever the Cython directives say.
#
# Result of decode_frame():
#   RES_IP     the packet has a valid IPv4/IPv6 header and, when it is the first (or
#              only) fragment, a valid L4 header for TCP/UDP/SCTP/ICMP; it goes into
#              a flow. Later fragments (offset > 0) are RES_IP with frag == FRAG_LATER.
#   RES_NONIP  a well-formed frame that carries no IP (LLDP, PPP control, ...).
#   RES_ARP    a well-formed ARP frame for IPv4 over Ethernet (RFC 826: htype 1, ptype
#              0x0800, hlen 6, plen 4, op request or reply), counted as non-IP;
#              v.payload_off is where its 28 bytes start (arp.pxd reads them). Other
#              ARP frames are RES_NONIP, counted by why they are not read.
#   RES_ERROR  malformed or truncated; cnt[reason] was incremented.
# Exactly one of C_DECODED_IP, C_NONIP, C_INVALID is incremented per call.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memset, memcpy
from counters cimport *
from enums cimport TH_FIN, TH_SYN, TH_RST, TH_PSH, TH_ACK, TH_URG   # enums.h, RFC 9293

cdef enum:
    RES_IP = 0
    RES_NONIP = 1
    RES_ERROR = 2
    RES_ARP = 3

cdef enum:
    FRAG_NONE = 0
    FRAG_FIRST = 1      # offset 0, more fragments follow: carries the L4 header
    FRAG_LATER = 2      # offset > 0: no L4 header

# Link types as libpcap reports them (pcap_datalink()).
cdef enum:
    DLT_NULL_ = 0
    DLT_EN10MB_ = 1
    DLT_PPP_ = 9
    DLT_RAW_ = 12
    DLT_RAW_OPENBSD_ = 14
    DLT_LINKTYPE_RAW_ = 101
    DLT_PPP_SERIAL_ = 50
    DLT_C_HDLC_ = 104
    DLT_LOOP_ = 108
    DLT_LINUX_SLL_ = 113
    DLT_IPV4_ = 228
    DLT_IPV6_ = 229
    DLT_NFLOG_ = 239
    DLT_LINUX_SLL2_ = 276


cdef inline bint tcp_flags_bad(uint8_t f) noexcept nogil:
    """A flag combination that no TCP stack sends, only a packet crafter: none of FIN
    SYN RST PSH ACK URG (a NULL probe); SYN with FIN or RST; or FIN, PSH or URG
    without ACK or RST (a FIN or Xmas probe). These are nmap's -sN/-sF/-sX scans and
    its OS-detection probes T2 (NULL), T3 (SYN FIN PSH URG) and T7 (FIN PSH URG).
    ECE and CWR are ignored (a SYN with both is RFC 3168's ECN set-up). A bare RST
    without ACK is legitimate (the answer to a segment that carried no ACK)."""
    if (f & 0x3F) == 0:
        return True
    if (f & TH_SYN) and (f & (TH_FIN | TH_RST)):
        return True
    return not (f & (TH_ACK | TH_RST)) and (f & (TH_FIN | TH_PSH | TH_URG)) != 0

cdef struct PacketView:
    uint8_t src[16]        # IPv4 in the first 4 bytes, rest zero
    uint8_t dst[16]
    uint32_t wire_len      # bytes on the wire: max(caplen, link header + IP total length)
    uint32_t payload_len   # L4 payload bytes per the headers (whole IP payload for port-less)
    uint32_t payload_off   # TCP/UDP: offset of the payload in the frame
    uint32_t payload_cap   # TCP/UDP: payload bytes captured from payload_off (<= payload_len;
                           # fewer when the snap length cut the frame)
    uint32_t tcp_seq       # TCP sequence number
    uint32_t ip_id         # IPv4 id, or IPv6 fragment id
    uint16_t sport
    uint16_t dport
    uint16_t vlan0
    uint16_t vlan1
    uint16_t tcp_win
    uint8_t nvlan
    uint8_t ipver          # 4 or 6
    uint8_t proto          # IP protocol (after IPv6 extension headers)
    uint8_t has_ports      # TCP, UDP, SCTP with a header
    uint8_t tcp_flags
    uint8_t ttl            # IPv4 TTL or IPv6 hop limit
    uint8_t icmp_type
    uint8_t icmp_code
    uint8_t frag           # FRAG_NONE / FRAG_FIRST / FRAG_LATER
    uint8_t l4_hdr         # L4 header bytes per the headers: TCP's data offset (options
                           # included), UDP 8, SCTP 12, ICMP up to 8; 0 otherwise and for
                           # later fragments (l4_hdr + payload_len: the IP payload)
    uint16_t error         # RES_ERROR: the fault's counter slot (E_*), else 0


cdef inline uint16_t be16(const uint8_t* p) noexcept nogil:
    return (<uint16_t>p[0] << 8) | p[1]


cdef inline uint32_t be32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint32_t le32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[3] << 24) | (<uint32_t>p[2] << 16) | (<uint32_t>p[1] << 8) | p[0]


cdef inline int fail(PacketView* v, uint64_t* cnt, int reason) noexcept nogil:
    """Refuse the frame: count the fault (reason: its E_* slot) and keep it in v.error."""
    v.error = <uint16_t>reason
    cnt[reason] += 1
    cnt[C_INVALID] += 1
    return RES_ERROR


cdef inline int nonip(uint64_t* cnt, int kind) noexcept nogil:
    cnt[kind] += 1
    cnt[C_NONIP] += 1
    return RES_NONIP


cdef inline void set_payload(PacketView* v, uint32_t off, uint32_t avail, uint32_t l4len,
                             uint32_t hdr) noexcept nogil:
    """The payload of a TCP/UDP header of hdr bytes at frame offset off: where it starts
    and how much of it was captured (avail bytes captured from off, l4len per the IP
    header; a header cut short leaves no captured payload)."""
    cdef uint32_t cap = avail if avail < l4len else l4len
    v.payload_off = off + hdr
    v.payload_cap = cap - hdr if cap > hdr else 0


cdef inline int decode_l4(const uint8_t* p, uint32_t off, uint32_t avail, uint32_t l4len,
                          PacketView* v, uint64_t* cnt) noexcept nogil:
    """L4 header at p, frame offset off: avail bytes captured, l4len bytes per the IP
    header."""
    cdef uint32_t doff
    cdef uint8_t proto = v.proto
    if proto == 6:
        if avail < 20 or l4len < 20:
            return fail(v, cnt, E_TCP_SMALL)
        doff = (p[12] >> 4) * 4
        if doff < 20:
            return fail(v, cnt, E_TCP_HLEN_SMALL)
        if doff > l4len:
            return fail(v, cnt, E_TCP_INVALID_OPTLEN)
        v.sport = be16(p)
        v.dport = be16(p + 2)
        v.tcp_seq = be32(p + 4)
        v.tcp_flags = p[13]
        v.tcp_win = be16(p + 14)
        v.has_ports = 1
        v.payload_len = l4len - doff
        v.l4_hdr = <uint8_t>doff
        set_payload(v, off, avail, l4len, doff)
        cnt[C_TCP] += 1
    elif proto == 17:
        if avail < 8 or l4len < 8:
            return fail(v, cnt, E_UDP_SMALL)
        v.sport = be16(p)
        v.dport = be16(p + 2)
        v.has_ports = 1
        v.payload_len = l4len - 8
        v.l4_hdr = 8
        set_payload(v, off, avail, l4len, 8)
        cnt[C_UDP] += 1
    elif proto == 132:
        if avail < 12 or l4len < 12:
            return fail(v, cnt, E_SCTP_SMALL)
        v.sport = be16(p)
        v.dport = be16(p + 2)
        v.has_ports = 1
        v.payload_len = l4len - 12
        v.l4_hdr = 12
        cnt[C_SCTP] += 1
    elif (proto == 1 and v.ipver == 4) or (proto == 58 and v.ipver == 6):
        if avail < 4 or l4len < 4:
            return fail(v, cnt, E_ICMPV4_SMALL if proto == 1 else E_ICMPV6_SMALL)
        v.icmp_type = p[0]
        v.icmp_code = p[1]
        v.payload_len = l4len - 8 if l4len > 8 else 0
        v.l4_hdr = <uint8_t>(l4len - v.payload_len)
        cnt[C_ICMPV4 if proto == 1 else C_ICMPV6] += 1
    else:
        v.payload_len = l4len
        cnt[C_OTHER_IP] += 1
    cnt[C_DECODED_IP] += 1
    return RES_IP


cdef inline int decode_ipv4(const uint8_t* pkt, uint32_t caplen, uint32_t off,
                            PacketView* v, uint64_t* cnt) noexcept nogil:
    cdef const uint8_t* ip
    cdef uint32_t hlen, tot, cap_l4, l4len, fragword
    if caplen < off or caplen - off < 20:
        return fail(v, cnt, E_IPV4_SMALL)
    ip = pkt + off
    if (ip[0] >> 4) != 4:
        return fail(v, cnt, E_IPV4_WRONG_VER)
    hlen = (ip[0] & 0x0F) * 4
    if hlen < 20:
        return fail(v, cnt, E_IPV4_HLEN_SMALL)
    tot = be16(ip + 2)
    if tot < hlen:
        return fail(v, cnt, E_IPV4_IPLEN_LT_HLEN)
    if caplen - off < hlen:
        return fail(v, cnt, E_IPV4_TRUNC)
    cnt[C_IPV4] += 1
    v.ipver = 4
    memcpy(v.src, ip + 12, 4)
    memcpy(v.dst, ip + 16, 4)
    v.proto = ip[9]
    v.ttl = ip[8]
    v.ip_id = be16(ip + 4)
    v.wire_len = caplen if caplen > off + tot else off + tot
    l4len = tot - hlen
    cap_l4 = caplen - off - hlen
    if cap_l4 > l4len:
        cap_l4 = l4len            # Ethernet padding is not IP payload
    if cap_l4 < l4len:
        cnt[C_SNAPPED] += 1
    fragword = be16(ip + 6)
    if (fragword & 0x1FFF) != 0:
        v.frag = FRAG_LATER
        v.payload_len = l4len
        cnt[C_FRAG4] += 1
        cnt[C_DECODED_IP] += 1
        return RES_IP
    if fragword & 0x2000:
        v.frag = FRAG_FIRST
        cnt[C_FRAG4] += 1
    return decode_l4(ip + hlen, off + hlen, cap_l4, l4len, v, cnt)


cdef inline int decode_ipv6(const uint8_t* pkt, uint32_t caplen, uint32_t off,
                            PacketView* v, uint64_t* cnt) noexcept nogil:
    """IPv6 and its extension headers (RFC 8200 4.; AH RFC 4302; mobility RFC 6275).

    The chain is walked within the captured bytes, however many headers there are
    (each is at least 8 bytes, so the walk ends). The payload length is believed,
    except a payload length of 0 behind a hop-by-hop header: a jumbogram (RFC 2675),
    whose length is then taken from the capture."""
    cdef const uint8_t* ip
    cdef uint32_t plen, cap, avail, pos, hl, fragword, l4len
    cdef uint8_t nh
    if caplen < off or caplen - off < 40:
        return fail(v, cnt, E_IPV6_SMALL)
    ip = pkt + off
    if (ip[0] >> 4) != 6:
        return fail(v, cnt, E_IPV6_WRONG_VER)
    cap = caplen - off - 40
    plen = be16(ip + 4)
    nh = ip[6]
    v.wire_len = caplen if caplen > off + 40 + plen else off + 40 + plen
    if plen == 0 and nh == 0:
        plen = cap
    if cap < plen:
        cnt[C_SNAPPED] += 1
    cnt[C_IPV6] += 1
    v.ipver = 6
    memcpy(v.src, ip + 8, 16)
    memcpy(v.dst, ip + 24, 16)
    v.ttl = ip[7]
    pos = 0                       # offset into the payload (after the fixed header)
    ip = ip + 40
    while True:
        if nh == 0 or nh == 43 or nh == 60 or nh == 135 or nh == 51:
            if pos > cap or cap - pos < 2:
                return fail(v, cnt, E_IPV6_TRUNC_EXTHDR)
            if nh == 51:
                hl = (<uint32_t>ip[pos + 1] + 2) * 4
            else:
                hl = (<uint32_t>ip[pos + 1] + 1) * 8
            if cap - pos < hl:
                return fail(v, cnt, E_IPV6_TRUNC_EXTHDR)
            nh = ip[pos]
            pos += hl
        elif nh == 44:
            if pos > cap or cap - pos < 8:
                return fail(v, cnt, E_IPV6_TRUNC_EXTHDR)
            fragword = be16(ip + pos + 2)
            v.ip_id = be32(ip + pos + 4)
            nh = ip[pos]
            pos += 8
            cnt[C_FRAG6] += 1
            if (fragword >> 3) != 0:
                v.frag = FRAG_LATER
                break               # what follows is the middle of the payload
            elif fragword & 1:
                v.frag = FRAG_FIRST
            else:
                v.frag = FRAG_NONE  # atomic fragment (RFC 6946): a whole packet
        else:
            break
    v.proto = nh
    l4len = plen - pos if plen > pos else 0
    avail = cap if cap < plen else plen
    avail = avail - pos if avail > pos else 0
    if v.frag == FRAG_LATER:
        v.payload_len = l4len
        cnt[C_DECODED_IP] += 1
        return RES_IP
    return decode_l4(ip + pos, off + 40 + pos, avail, l4len, v, cnt)


cdef inline int bad_arp(uint64_t* cnt, int reason) noexcept nogil:
    """An ARP frame that is not IPv4 over Ethernet, or cut short: non-IP, counted by why
    it is not read."""
    cnt[reason] += 1
    cnt[C_NONIP] += 1
    return RES_NONIP


cdef inline int decode_arp(const uint8_t* pkt, uint32_t caplen, uint32_t off,
                           PacketView* v, uint64_t* cnt) noexcept nogil:
    """An ARP header at pkt+off (RFC 826): only IPv4 over Ethernet is ARP the host
    context reads (RES_ARP); any other hardware or protocol type, address size or
    operation, or a header cut short, is a non-IP frame counted by the reason
    (Suricata's decoder.event.arp.* names). Trailing Ethernet padding is allowed."""
    cdef const uint8_t* a
    cdef uint16_t op
    cnt[C_ARP] += 1
    if caplen < off or caplen - off < 8:
        return bad_arp(cnt, E_ARP_SMALL)
    a = pkt + off
    if be16(a) != 1:
        return bad_arp(cnt, E_ARP_HW)
    if be16(a + 2) != 0x0800:
        return bad_arp(cnt, E_ARP_PROTO)
    if a[4] != 6:
        return bad_arp(cnt, E_ARP_HLEN)
    if a[5] != 4:
        return bad_arp(cnt, E_ARP_PLEN)
    op = be16(a + 6)
    if op != 1 and op != 2:
        return bad_arp(cnt, E_ARP_OPCODE)
    if caplen - off < 28:
        return bad_arp(cnt, E_ARP_SMALL)
    cnt[C_ARP_REQUEST if op == 1 else C_ARP_REPLY] += 1
    cnt[C_NONIP] += 1
    v.payload_off = off
    v.payload_cap = 28
    return RES_ARP


cdef inline int decode_ethertype(const uint8_t* pkt, uint32_t caplen, uint32_t off,
                                 uint16_t etype, PacketView* v, uint64_t* cnt,
                                 uint64_t* ethertypes) noexcept nogil:
    """Dispatch on an ethertype at pkt+off: VLAN tags, MPLS, PPPoE session, IP."""
    cdef uint8_t nib
    cdef uint16_t ppp
    while True:
        if etype == 0x0800:
            return decode_ipv4(pkt, caplen, off, v, cnt)
        if etype == 0x86DD:
            return decode_ipv6(pkt, caplen, off, v, cnt)
        if etype == 0x8100 or etype == 0x88A8 or etype == 0x9100:
            if caplen < off or caplen - off < 4:
                return fail(v, cnt, E_VLAN_SMALL)
            if v.nvlan == 2:
                return fail(v, cnt, E_VLAN_TOO_MANY)
            if v.nvlan == 0:
                v.vlan0 = be16(pkt + off) & 0x0FFF
                cnt[C_VLAN] += 1
            else:
                v.vlan1 = be16(pkt + off) & 0x0FFF
                cnt[C_VLAN_QINQ] += 1
            v.nvlan += 1
            etype = be16(pkt + off + 2)
            off += 4
            continue
        if etype == 0x8847 or etype == 0x8848:
            cnt[C_MPLS] += 1
            while True:
                if caplen < off or caplen - off < 4:
                    return fail(v, cnt, E_MPLS_SMALL)
                off += 4
                if pkt[off - 2] & 0x01:
                    break
            if caplen <= off:
                return fail(v, cnt, E_MPLS_SMALL)
            nib = pkt[off] >> 4
            if nib == 4:
                return decode_ipv4(pkt, caplen, off, v, cnt)
            if nib == 6:
                return decode_ipv6(pkt, caplen, off, v, cnt)
            return fail(v, cnt, E_MPLS_UNKNOWN)
        if etype == 0x8864:
            if caplen < off or caplen - off < 8:
                return fail(v, cnt, E_PPPOE_SMALL)
            cnt[C_PPPOE] += 1
            ppp = be16(pkt + off + 6)
            off += 8
            if ppp == 0x0021:
                return decode_ipv4(pkt, caplen, off, v, cnt)
            if ppp == 0x0057:
                return decode_ipv6(pkt, caplen, off, v, cnt)
            return nonip(cnt, C_NONIP_PPP)
        ethertypes[etype] += 1
        if etype == 0x0806:
            return decode_arp(pkt, caplen, off, v, cnt)
        return nonip(cnt, C_UNKNOWN_ETHERTYPE)


cdef inline int decode_nflog(const uint8_t* pkt, uint32_t caplen, PacketView* v,
                             uint64_t* cnt) noexcept nogil:
    """NFLOG: 4-byte header (family, version, resource id) then TLVs in host order."""
    cdef uint32_t off = 4, tlen, ttype
    cdef uint8_t family
    if caplen < 4:
        return fail(v, cnt, E_NFLOG_SMALL)
    family = pkt[0]
    while caplen - off >= 4:
        tlen = pkt[off] | (<uint32_t>pkt[off + 1] << 8)
        ttype = (pkt[off + 2] | (<uint32_t>pkt[off + 3] << 8)) & 0x7FFF
        if tlen < 4 or tlen > caplen - off:
            return fail(v, cnt, E_NFLOG_BAD_TLV)
        if ttype == 9:            # NFULA_PAYLOAD
            off += 4
            if family == 2:
                return decode_ipv4(pkt, caplen, off, v, cnt)
            if family == 10:
                return decode_ipv6(pkt, caplen, off, v, cnt)
            return nonip(cnt, C_NONIP_NFLOG)
        tlen = (tlen + 3) & ~(<uint32_t>3)
        if tlen > caplen - off:
            break
        off += tlen
    return nonip(cnt, C_NONIP_NFLOG)


cdef inline int decode_ppp(const uint8_t* pkt, uint32_t caplen, PacketView* v,
                           uint64_t* cnt, uint64_t* ethertypes) noexcept nogil:
    """PPP (RFC 1661), with or without the 0xFF 0x03 address/control bytes (RFC 1662).

    Some captures labelled PPP hold Cisco HDLC frames (address 0x0F or 0x8F, then an
    ethertype); like Wireshark, those are decoded as Cisco HDLC."""
    cdef uint32_t off = 0
    cdef uint16_t proto
    if caplen >= 4 and (pkt[0] == 0x0F or pkt[0] == 0x8F):
        cnt[C_CHDLC] += 1
        return decode_ethertype(pkt, caplen, 4, be16(pkt + 2), v, cnt, ethertypes)
    cnt[C_PPP] += 1
    if caplen >= 2 and pkt[0] == 0xFF and pkt[1] == 0x03:
        off = 2
    if caplen < off + 1:
        return fail(v, cnt, E_PPP_SMALL)
    if pkt[off] & 0x01:           # protocol field compressed to one byte (RFC 1661 6.5)
        proto = pkt[off]
        off += 1
    else:
        if caplen < off + 2:
            return fail(v, cnt, E_PPP_SMALL)
        proto = be16(pkt + off)
        off += 2
    if proto == 0x0021:
        return decode_ipv4(pkt, caplen, off, v, cnt)
    if proto == 0x0057:
        return decode_ipv6(pkt, caplen, off, v, cnt)
    return nonip(cnt, C_NONIP_PPP)


cdef inline int decode_frame(const uint8_t* pkt, uint32_t caplen, int linktype,
                             PacketView* v, uint64_t* cnt,
                             uint64_t* ethertypes) noexcept nogil:
    """Decode one frame of the given link type into v; see the module comment."""
    cdef uint32_t af
    cdef uint8_t nib
    memset(v, 0, sizeof(PacketView))
    cnt[C_PKTS] += 1
    if linktype == DLT_EN10MB_:
        cnt[C_ETHERNET] += 1
        if caplen < 14:
            return fail(v, cnt, E_ETH_SMALL)
        return decode_ethertype(pkt, caplen, 14, be16(pkt + 12), v, cnt, ethertypes)
    if linktype == DLT_LINUX_SLL_:
        cnt[C_SLL] += 1
        if caplen < 16:
            return fail(v, cnt, E_SLL_SMALL)
        return decode_ethertype(pkt, caplen, 16, be16(pkt + 14), v, cnt, ethertypes)
    if linktype == DLT_LINUX_SLL2_:
        cnt[C_SLL2] += 1
        if caplen < 20:
            return fail(v, cnt, E_SLL2_SMALL)
        return decode_ethertype(pkt, caplen, 20, be16(pkt), v, cnt, ethertypes)
    if linktype == DLT_RAW_ or linktype == DLT_RAW_OPENBSD_ or linktype == DLT_LINKTYPE_RAW_:
        cnt[C_RAW] += 1
        if caplen < 1:
            return fail(v, cnt, E_RAW_BAD_VERSION)
        nib = pkt[0] >> 4
        if nib == 4:
            return decode_ipv4(pkt, caplen, 0, v, cnt)
        if nib == 6:
            return decode_ipv6(pkt, caplen, 0, v, cnt)
        return fail(v, cnt, E_RAW_BAD_VERSION)
    if linktype == DLT_IPV4_:
        cnt[C_RAW] += 1
        return decode_ipv4(pkt, caplen, 0, v, cnt)
    if linktype == DLT_IPV6_:
        cnt[C_RAW] += 1
        return decode_ipv6(pkt, caplen, 0, v, cnt)
    if linktype == DLT_NULL_ or linktype == DLT_LOOP_:
        cnt[C_NULL] += 1
        if caplen < 4:
            return fail(v, cnt, E_NULL_SMALL)
        if linktype == DLT_LOOP_:
            af = be32(pkt)
        else:
            af = le32(pkt)        # host order of the capturing machine: guess,
            if (af >> 16) != 0:   # as Wireshark does, by which half is zero
                af = be32(pkt)
        if af == 2:
            return decode_ipv4(pkt, caplen, 4, v, cnt)
        if af == 10 or af == 24 or af == 28 or af == 30:
            return decode_ipv6(pkt, caplen, 4, v, cnt)
        return nonip(cnt, C_NONIP_NULL)
    if linktype == DLT_NFLOG_:
        cnt[C_NFLOG] += 1
        return decode_nflog(pkt, caplen, v, cnt)
    if linktype == DLT_PPP_ or linktype == DLT_PPP_SERIAL_:
        return decode_ppp(pkt, caplen, v, cnt, ethertypes)
    if linktype == DLT_C_HDLC_:
        # Cisco HDLC (RFC 1547 style): address, control, then an ethertype
        cnt[C_CHDLC] += 1
        if caplen < 4:
            return fail(v, cnt, E_CHDLC_SMALL)
        return decode_ethertype(pkt, caplen, 4, be16(pkt + 2), v, cnt, ethertypes)
    # the caller refuses unsupported link types before the first packet
    return nonip(cnt, C_UNKNOWN_ETHERTYPE)


cdef inline bint linktype_supported(int linktype) noexcept nogil:
    return (linktype == DLT_EN10MB_ or linktype == DLT_LINUX_SLL_ or
            linktype == DLT_LINUX_SLL2_ or linktype == DLT_RAW_ or
            linktype == DLT_RAW_OPENBSD_ or linktype == DLT_LINKTYPE_RAW_ or
            linktype == DLT_IPV4_ or linktype == DLT_IPV6_ or linktype == DLT_NULL_ or
            linktype == DLT_LOOP_ or linktype == DLT_NFLOG_ or linktype == DLT_PPP_ or
            linktype == DLT_PPP_SERIAL_ or linktype == DLT_C_HDLC_)
