# DNS (RFC 1035): messages over UDP (one a datagram) and TCP (each behind a two-byte
# length, RFC 1035 4.2.2 / RFC 7766), each into one DnsEvent (Suricata's EVE dns event,
# version 3: one event a message) and the flow's DnsSummary (its app_dns_* fields).
#
# What is read: the header, the first question (name, type, class; further questions
# are walked over), every answer record (name, type, class, TTL; the data of A, AAAA,
# CNAME, NS, PTR, MX, TXT and NULL records kept, the others' only counted). The
# authority and additional sections are not read (their counts are in the header).
# Names are followed through compression pointers, forwards or backwards, at most
# NAME_STEPS labels and pointers (a loop ends there, malformed); a name's dotted bytes
# are kept up to DNS_NAME bytes, a longer one is cut and flagged. Bytes are kept as
# they are (labels with dots or any byte value included): the EVE writer escapes them.
#
# Three outcomes for a message: parsed (an event, the summary updated, app_layer.tx
# counted); malformed (a name that loops or uses a retired label type, a record running
# past the message's end: app_layer.error.<dns_udp|dns_tcp>.parser, no event); cut (the
# message's end was lost to the snap length, a gap or a TCP message longer than the
# hold buffer, even in a section not read: what was whole before the cut becomes the
# event, flagged DE_CUT and
# counted in wirescore.app_truncated; a cut before the first question gives no event).
#
# Inline, used without the GIL; registered in protocols.pxd.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy
from libc.math cimport log2
from counters cimport A_TRUNCATED
from enums cimport EV_DNS, DNS_NAME, DNS_ANSWERS, DNS_RDATA, DNS_TEXT
from decode cimport be16, be32
from features cimport FlowRecord
from app.base cimport AppCtx, APP_ERROR, K_TX, K_PARSER, ctx_count, gap_rest, lincount64
from app.events cimport ev_begin, ev_commit, ev_head, ev_tx_commit

cdef extern from "names.h":
    enum:                          # RR types, RCODEs (core_names.py DNS_RRTYPES, DNS_RCODES)
        T_A "WS_DNS_A"
        T_NS "WS_DNS_NS"
        T_CNAME "WS_DNS_CNAME"
        T_NULL "WS_DNS_NULL"
        T_PTR "WS_DNS_PTR"
        T_MX "WS_DNS_MX"
        T_TXT "WS_DNS_TXT"
        T_KEY "WS_DNS_KEY"
        T_AAAA "WS_DNS_AAAA"
        RC_NXDOMAIN "WS_DNS_RC_NXDOMAIN"
        # DnsEvent.status and .an_flags bits (core_names.py DNS_EVENT_BITS)
        DE_QUESTION "WS_DE_QUESTION"
        DE_QNAME_TRUNC "WS_DE_QNAME_TRUNC"
        DE_ANSWERS_MORE "WS_DE_ANSWERS_MORE"
        DE_CUT "WS_DE_CUT"
        DA_NAME_TRUNC "WS_DA_NAME_TRUNC"
        DA_DATA_TRUNC "WS_DA_DATA_TRUNC"
        DA_DATA "WS_DA_DATA"

cdef enum:
    DNS_PORT = 53
    MDNS_PORT = 5353               # mDNS (RFC 6762), LLMNR (RFC 4795) and NetBIOS name
    LLMNR_PORT = 5355              # service (RFC 1002) share DNS's format but are their
    NBNS_PORT = 137                # own protocols (Suricata's and tshark's too)
    DNS_HDR = 12
    NAME_STEPS = 255               # labels and pointers in one name at most (Suricata's)

cdef enum:                         # dns_name()
    N_OK = 0
    N_CUT = 1                      # the bytes ran out
    N_BAD = 2                      # malformed


cdef struct DnsSummary:            # the flow's, in its app record (40 bytes at most)
    uint64_t names                 # question names seen, a bit of 64 per name hash
    uint32_t queries               # messages with QR = 0
    uint32_t responses             # messages with QR = 1
    uint32_t answers               # answer records read in responses
    uint32_t tx                    # messages parsed: the next event's tx_id
    float qname_entropy            # bits per byte of the longest name's leftmost labels
    uint16_t nxdomain              # responses with RCODE 3 (saturating)
    uint16_t rcode_other           # responses with another RCODE than 0 or 3
    uint16_t odd_types             # queries for, and answer records of, TXT, NULL, KEY
    uint8_t qname_len              # the longest question name, bytes (dotted)
    uint8_t qname_labels           # its labels

cdef struct DnsEvent:              # one message; DNS_EVENT_DTYPE (appcore.pyx)
    uint64_t flow_id
    int64_t ts_us                  # the packet that completed (or cut) the message
    uint8_t src_addr[16]           # the message's sender
    uint8_t dest_addr[16]
    uint16_t src_port
    uint16_t dest_port
    uint16_t vlan0
    uint16_t vlan1
    uint8_t nvlan
    uint8_t ip_version
    uint8_t proto                  # 17 UDP, 6 TCP
    uint8_t direction              # 0 toserver, 1 toclient (the flow's)
    uint32_t tx_id                 # the flow's messages before this one
    uint32_t size                  # the message's bytes on the wire (TCP: without the
                                   # length prefix)
    uint16_t id
    uint16_t flags                 # the header's flags word (QR, opcode, ..., RCODE)
    uint16_t qdcount
    uint16_t ancount
    uint16_t nscount
    uint16_t arcount
    uint16_t qtype                 # the first question's
    uint16_t qclass
    uint16_t qname_len             # its name: text[0:qname_len]
    uint16_t text_len              # bytes of text used
    uint16_t answers               # answer records read whole (<= ancount)
    uint8_t n_answers              # kept below (<= DNS_ANSWERS): records read whole, and a
                                   # last TXT/NULL one cut by the capture (DE_CUT,
                                   # DA_DATA_TRUNC), not counted in answers
    uint8_t qname_labels
    uint8_t status                 # DE_* bits
    uint8_t pad[3]
    uint16_t an_type[DNS_ANSWERS]
    uint16_t an_class[DNS_ANSWERS]
    uint32_t an_ttl[DNS_ANSWERS]
    uint16_t an_name_off[DNS_ANSWERS]    # the record's name: text[off:off+len]
    uint16_t an_name_len[DNS_ANSWERS]
    uint16_t an_data_off[DNS_ANSWERS]    # its data as kept: A and AAAA the address
    uint16_t an_data_len[DNS_ANSWERS]    # bytes, CNAME NS PTR MX the name (dotted),
    uint8_t an_flags[DNS_ANSWERS]        # TXT and NULL the raw bytes; else none
    uint8_t text[DNS_TEXT]

cdef struct DnsName:               # what dns_name() read
    uint32_t end                   # offset after the name where it was written
    uint32_t len                   # bytes of its dotted form
    uint32_t kept                  # of them, written to the destination
    uint32_t labels


cdef inline int dns_name(const uint8_t* m, uint32_t n, uint32_t pos, uint8_t* out,
                         uint32_t room, DnsName* nm) noexcept nogil:
    """The name at m[pos] of the message m[0:n], its dotted bytes written to out (room
    bytes at most; out may be NULL with room 0). N_OK, N_CUT (it runs past n) or N_BAD
    (a retired label type, more than NAME_STEPS labels and pointers)."""
    cdef uint32_t steps = 0, take
    cdef uint8_t b
    cdef bint jumped = False
    nm.len = 0
    nm.kept = 0
    nm.labels = 0
    nm.end = 0
    while True:
        if pos >= n:
            return N_CUT
        b = m[pos]
        if b == 0:
            if not jumped:
                nm.end = pos + 1
            return N_OK
        steps += 1
        if steps > NAME_STEPS:
            return N_BAD
        if (b & 0xC0) == 0xC0:
            if n - pos < 2:
                return N_CUT
            if not jumped:
                nm.end = pos + 2
                jumped = True
            pos = (<uint32_t>(b & 0x3F) << 8) | m[pos + 1]
            continue
        if b & 0xC0:
            return N_BAD
        if n - pos - 1 < b:
            return N_CUT
        if nm.len > 0:
            if nm.kept < room:
                out[nm.kept] = 46          # '.'
                nm.kept += 1
            nm.len += 1
        take = room - nm.kept if room - nm.kept < b else b
        if take:
            memcpy(out + nm.kept, m + pos + 1, take)
            nm.kept += take
        nm.len += b
        nm.labels += 1
        pos += 1 + b


cdef inline bint dns_port_other(uint16_t sport, uint16_t dport) noexcept nogil:
    """mDNS, LLMNR or NBNS: DNS's format, their own protocols."""
    return (sport == MDNS_PORT or dport == MDNS_PORT or sport == LLMNR_PORT
            or dport == LLMNR_PORT or sport == NBNS_PORT or dport == NBNS_PORT)


cdef inline int dns_probe(const uint8_t* p, uint32_t n, uint8_t udp, uint16_t sport,
                          uint16_t dport) noexcept nogil:
    """Whether p[0:n], a flow's first payload in one direction, is DNS: 1 yes, 0 no, -1
    more bytes needed (TCP). On port 53 the header must be sane (Suricata's probe: an
    opcode in use, records that fit the size, a request with a question); elsewhere the
    message must also hold exactly one question, read whole, of class IN, CH, HS, NONE
    or ANY and a type other than 0, with the Z bit clear."""
    cdef uint32_t size, records, flags, qd, opcode, qclass
    cdef DnsName nm
    cdef int r
    cdef bint hint = sport == DNS_PORT or dport == DNS_PORT
    if dns_port_other(sport, dport):
        return 0
    if not udp:
        if n < 2:
            return -1
        size = be16(p)
        p += 2
        n -= 2
        if n > size:
            n = size
    else:
        size = n
    if size < DNS_HDR:
        return 0
    if n < DNS_HDR:
        return -1
    flags = be16(p + 2)
    opcode = (flags >> 11) & 15
    if opcode == 3 or opcode > 5:
        return 0
    qd = be16(p + 4)
    records = qd + be16(p + 6) + be16(p + 8) + be16(p + 10)
    if 2 * records > size or (qd == 0 and not (flags & 0x8000)):
        return 0
    if records == 0 and size > DNS_HDR:
        return 0
    if hint:
        return 1
    if qd != 1 or flags & 0x0040:
        return 0
    r = dns_name(p, n, DNS_HDR, NULL, 0, &nm)
    if r == N_OK and n - nm.end < 4:
        r = N_CUT
    if r == N_CUT:
        return -1 if n < size else 0
    if r == N_BAD or be16(p + nm.end) == 0:
        return 0
    qclass = be16(p + nm.end + 2) & 0x7FFF      # the top bit: mDNS's unicast-response bit
    return 1 if qclass == 1 or qclass == 3 or qclass == 4 or qclass == 254 or qclass == 255 else 0


cdef inline int dns_questions(const uint8_t* m, uint32_t n, uint32_t* pos,
                              DnsEvent* e) noexcept nogil:
    """The question section: the first question kept, the others walked over."""
    cdef DnsName nm
    cdef uint32_t i
    cdef int r
    for i in range(e.qdcount):
        if i == 0:
            r = dns_name(m, n, pos[0], e.text, DNS_NAME, &nm)
        else:
            r = dns_name(m, n, pos[0], NULL, 0, &nm)
        if r != N_OK:
            return r
        if n - nm.end < 4:
            return N_CUT
        if i == 0:
            e.qtype = be16(m + nm.end)
            e.qclass = be16(m + nm.end + 2)
            e.qname_len = <uint16_t>nm.kept
            e.text_len = <uint16_t>nm.kept
            e.qname_labels = <uint8_t>(nm.labels if nm.labels < 255 else 255)
            e.status |= DE_QUESTION | (DE_QNAME_TRUNC if nm.len > nm.kept else 0)
        pos[0] = nm.end + 4
    return N_OK


cdef inline void dns_rdata(const uint8_t* m, uint32_t n, uint32_t at, uint32_t rdlen,
                           DnsEvent* e, uint32_t k) noexcept nogil:
    """Keep answer k's data (at m[at], rdlen bytes) in the event's text, as far as it
    fits: an address, a name (CNAME, NS, PTR, MX; only when it ends within the data), or
    the bytes of TXT and NULL records (DNS_RDATA at most)."""
    cdef uint16_t t = e.an_type[k]
    cdef uint32_t room = DNS_TEXT - e.text_len
    cdef uint32_t take
    cdef DnsName nm
    e.an_data_off[k] = e.text_len
    if (t == T_A and rdlen == 4) or (t == T_AAAA and rdlen == 16):
        if room >= rdlen:
            memcpy(e.text + e.text_len, m + at, rdlen)
            e.an_data_len[k] = <uint16_t>rdlen
            e.an_flags[k] |= DA_DATA
    elif t == T_CNAME or t == T_NS or t == T_PTR or t == T_MX:
        if t == T_MX:
            if rdlen < 2:
                return
            at += 2
            rdlen -= 2
        if dns_name(m, n, at, e.text + e.text_len, room if room < DNS_NAME else DNS_NAME,
                    &nm) == N_OK and nm.end <= at + rdlen:
            e.an_data_len[k] = <uint16_t>nm.kept
            e.an_flags[k] |= DA_DATA | (DA_DATA_TRUNC if nm.len > nm.kept else 0)
    elif t == T_TXT or t == T_NULL:
        take = rdlen if rdlen < DNS_RDATA else DNS_RDATA
        take = take if take < room else room
        memcpy(e.text + e.text_len, m + at, take)
        e.an_data_len[k] = <uint16_t>take
        e.an_flags[k] |= DA_DATA | (DA_DATA_TRUNC if take < rdlen else 0)
    e.text_len += e.an_data_len[k]


cdef inline void dns_keep_answer(const uint8_t* m, uint32_t n, uint32_t p,
                                 const DnsName* nm, uint32_t rdlen, DnsEvent* e,
                                 uint32_t k) noexcept nogil:
    """Keep as answer k the record of message m[0:n] whose name was read into the
    event's text (nm) and whose type field is at m[p], with rdlen bytes of its data
    (p + 10 + rdlen <= n)."""
    e.an_type[k] = be16(m + p)
    e.an_class[k] = be16(m + p + 2)
    e.an_ttl[k] = be32(m + p + 4)
    e.an_name_off[k] = e.text_len
    e.an_name_len[k] = <uint16_t>nm.kept
    if nm.len > nm.kept:
        e.an_flags[k] |= DA_NAME_TRUNC
    e.text_len += <uint16_t>nm.kept
    dns_rdata(m, n, p + 10, rdlen, e, k)
    e.n_answers = <uint8_t>(k + 1)


cdef inline int dns_answers(const uint8_t* m, uint32_t n, uint32_t* pos, DnsEvent* e,
                            uint32_t* odd, bint cut) noexcept nogil:
    """The answer section: every record read, the first DNS_ANSWERS kept while the
    event's text has room; odd: records of type TXT, NULL or KEY. cut: the message's
    end was lost (snap length, gap): a TXT or NULL record whose data runs past the
    bytes there is kept with the bytes there, flagged DA_DATA_TRUNC (as a record longer
    than DNS_RDATA is), and is not counted in answers (records read whole); a C2 answer
    of a few hundred bytes in a capture cut at 256 bytes a packet keeps its first
    ~160."""
    cdef DnsName nm
    cdef uint32_t i, p, rdlen, room
    cdef uint32_t k
    cdef uint16_t t
    cdef int r
    cdef bint keep
    for i in range(e.ancount):
        k = e.n_answers
        room = DNS_TEXT - e.text_len
        keep = k < DNS_ANSWERS and not (e.status & DE_ANSWERS_MORE)
        r = dns_name(m, n, pos[0], e.text + e.text_len if keep else NULL,
                     (room if room < DNS_NAME else DNS_NAME) if keep else 0, &nm)
        if r != N_OK:
            return r
        p = nm.end
        if n - p < 10:
            return N_CUT
        t = be16(m + p)
        rdlen = be16(m + p + 8)
        if keep and nm.kept < nm.len and room < DNS_NAME:
            keep = False                        # the name would not fit the text
        if n - p - 10 < rdlen:
            if cut and keep and (t == T_TXT or t == T_NULL) and n - p - 10 > 0:
                dns_keep_answer(m, n, p, &nm, n - p - 10, e, k)
                e.an_flags[k] |= DA_DATA_TRUNC
            return N_CUT
        e.answers += 1
        if t == T_TXT or t == T_NULL or t == T_KEY:
            odd[0] += 1
        if keep:
            dns_keep_answer(m, n, p, &nm, rdlen, e, k)
        else:
            e.status |= DE_ANSWERS_MORE
        pos[0] = p + 10 + rdlen
    return N_OK


cdef inline float dns_entropy(const uint8_t* name, uint32_t n, uint32_t labels) noexcept nogil:
    """Shannon entropy (bits per byte) of a dotted name's leftmost labels: all but the
    last two (the registered domain, roughly), or the first when it has two or fewer;
    the dots are left out. 0 for an empty name."""
    cdef uint32_t end = n, dots = 0, i, total = 0
    cdef uint32_t counts[256]
    cdef double h = 0.0
    if labels > 2:
        i = n
        while i > 0:
            i -= 1
            if name[i] == 46:
                dots += 1
                if dots == 2:
                    end = i
                    break
    else:
        for i in range(n):
            if name[i] == 46:
                end = i
                break
    for i in range(256):
        counts[i] = 0
    for i in range(end):
        if name[i] != 46:
            counts[name[i]] += 1
            total += 1
    if total == 0:
        return 0.0
    for i in range(256):
        if counts[i]:
            h -= counts[i] * log2(<double>counts[i] / total)
    return <float>(h / total)


cdef inline uint64_t dns_name_bit(const uint8_t* name, uint32_t n) noexcept nogil:
    """The name's bit of 64 (FNV-1a of its bytes, folded)."""
    cdef uint64_t h = 0xcbf29ce484222325ULL
    cdef uint32_t i
    for i in range(n):
        h = (h ^ name[i]) * 0x100000001b3ULL
    h ^= h >> 32
    h ^= h >> 16
    return (<uint64_t>1) << (h & 63)


cdef inline uint16_t sat16(uint32_t x) noexcept nogil:
    return <uint16_t>(x if x < 65535 else 65535)


cdef inline void dns_sum(DnsSummary* s, const DnsEvent* e, uint32_t odd) noexcept nogil:
    """Add a parsed message to the flow's summary."""
    cdef uint32_t rcode = e.flags & 15
    if e.flags & 0x8000:
        s.responses += 1
        s.answers += e.answers
        if rcode == RC_NXDOMAIN:
            s.nxdomain = sat16(s.nxdomain + 1)
        elif rcode != 0:
            s.rcode_other = sat16(s.rcode_other + 1)
    else:
        s.queries += 1
    if e.status & DE_QUESTION:
        if not (e.flags & 0x8000) and (e.qtype == T_TXT or e.qtype == T_NULL
                                       or e.qtype == T_KEY):
            odd += 1
        s.names |= dns_name_bit(e.text, e.qname_len)
        if e.qname_len > s.qname_len:
            s.qname_len = <uint8_t>e.qname_len
            s.qname_labels = e.qname_labels
            s.qname_entropy = dns_entropy(e.text, e.qname_len, e.qname_labels)
    s.odd_types = sat16(s.odd_types + odd)


cdef inline int dns_message(AppCtx* c, const uint8_t* m, uint32_t n,
                            uint32_t size) noexcept nogil:
    """One message, m[0:n] of its size bytes (n < size: cut, and c.cut says so). 0:
    parsed or cut (an event unless cut before its first question); APP_ERROR:
    malformed (no event; the caller counts it)."""
    cdef DnsEvent* e
    cdef uint32_t pos = DNS_HDR, odd = 0
    cdef int r
    if n < DNS_HDR:
        if c.cut:
            c.cnt[A_TRUNCATED] += 1
            return 0
        return APP_ERROR
    e = <DnsEvent*>ev_begin(c, EV_DNS)
    ev_head(<uint8_t*>e, c)
    e.size = size
    e.id = be16(m)
    e.flags = be16(m + 2)
    e.qdcount = be16(m + 4)
    e.ancount = be16(m + 6)
    e.nscount = be16(m + 8)
    e.arcount = be16(m + 10)
    r = dns_questions(m, n, &pos, e)
    if r == N_OK:
        r = dns_answers(m, n, &pos, e, &odd, c.cut)
    if r == N_BAD or (r == N_CUT and not c.cut):
        return APP_ERROR
    if c.cut and (r == N_CUT or n < size):
        e.status |= DE_CUT
        c.cnt[A_TRUNCATED] += 1
        if not (e.status & DE_QUESTION):
            return 0
    dns_sum(<DnsSummary*>c.summary, e, odd)
    ev_tx_commit(c, EV_DNS, <uint8_t*>e, &e.tx_id, &(<DnsSummary*>c.summary).tx)
    return 0


cdef inline int dns_datagram(AppCtx* c, const uint8_t* p, uint32_t n) noexcept nogil:
    """A UDP datagram's payload (n bytes captured of c.wire_len): one message. A
    malformed one is counted and the next datagram read all the same."""
    if dns_message(c, p, n, c.wire_len) == APP_ERROR:
        ctx_count(c, K_PARSER)
    return 0


cdef inline int dns_parse(AppCtx* c, void* st, const uint8_t* p, uint32_t n) noexcept nogil:
    """TCP: the whole messages in p[0:n] (each a two-byte length and the message);
    returns the bytes consumed. A message longer than the hold is read from its first
    c.hold_max bytes (cut) and the rest skipped."""
    cdef uint32_t used = 0, size
    while n - used >= 2:
        size = be16(p + used)
        if n - used - 2 >= size:
            if dns_message(c, p + used + 2, size, size) == APP_ERROR:
                ctx_count(c, K_PARSER)
            used += 2 + size
            continue
        if n - used >= c.hold_max:
            c.cut = 1
            if dns_message(c, p + used + 2, n - used - 2, size) == APP_ERROR:
                ctx_count(c, K_PARSER)
            c.cut = 0
            c.skip = 2 + size - (n - used)
            return n
        break
    return used


cdef inline int dns_gap(AppCtx* c, void* st, const uint8_t* held, uint32_t n,
                        uint32_t missing) noexcept nogil:
    """TCP: `missing` bytes lost after the n bytes held (an unfinished message, or
    none). The held message is read as cut, and the rest of it skipped: the next message
    starts where its length says. A loss at a message boundary, or one running past the
    message's end, leaves no length to go by: APP_ERROR."""
    cdef uint32_t size
    if n < 2:
        return APP_ERROR
    size = be16(held)
    c.cut = 1
    if dns_message(c, held + 2, n - 2, size) == APP_ERROR:
        ctx_count(c, K_PARSER)
    c.cut = 0
    return gap_rest(c, n, missing, 2 + <uint64_t>size)


cdef inline void dns_record(const void* summary, FlowRecord* r) noexcept nogil:
    """The flow record's app_dns_* fields from the summary."""
    cdef const DnsSummary* s = <const DnsSummary*>summary
    r.app_dns_queries = s.queries
    r.app_dns_responses = s.responses
    r.app_dns_answers = s.answers
    r.app_dns_nxdomain = s.nxdomain
    r.app_dns_rcode_other = s.rcode_other
    r.app_dns_qname_len_max = s.qname_len
    r.app_dns_qname_labels = s.qname_labels
    r.app_dns_qname_entropy = s.qname_entropy
    r.app_dns_odd_types = s.odd_types
    r.app_dns_qnames = lincount64(s.names)
