"""EVE flow lines from flow records, in C: the output side of the hot path.

format_flows(records) turns an array of RECORD_DTYPE into the bytes of one EVE-JSON
"flow" event per record, newline-terminated, with the Community ID computed here too
(SHA-1 from includes/sha1.h). wirescore/outputs/eve.py has the same event built in
Python (FlowEventFormatter) for callbacks and export; a test requires the two to
agree byte for byte on real captures.

Every field is bounded (addresses, integers, fixed names), so a line never exceeds
LINE_MAX bytes and the output buffer is sized up front.

splice_fields(block, fragment) puts a run's fixed fields (host, pcap_filename) into
every line of a block, before its closing brace.

write_ordered(fd, blocks, keys) writes the lines of one batch in the order of their
timestamps (outputs/eve_order.py): line offsets found with memchr, one stable argsort
of the keys, the lines handed to writev() where they lie; no copy, no Python object per
line.
"""
import numpy as np
cimport numpy as cnp

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memchr, memcpy
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING

from evefmt cimport (TsCache, put, put_u64, put_ts, put_ip, put_mac, put_hex2, put_cid,
                     write_all, writev_all, iovec)

from features cimport FlowRecord
from enums cimport (N_REASONS, N_STATES, N_TCP_STATES, N_TCP_FLAGS, IPP_ICMP, IPP_TCP,
                    IPP_ICMPV6, N_APP_PROTOS, ws_reasons, ws_states, ws_tcp_states,
                    ws_tcp_flags, ws_proto_name, ws_has_ports, ws_app_protos)

cnp.import_array()

cdef enum:
    LINE_MAX = 1536        # bytes a flow line can take at most (it needs under 800)
    LINE_BLOCK = 4096      # lines per write() when writing to a file descriptor

# Community ID port equivalents of two-way ICMP types (the spec's tables); -1: one-way
cdef int ICMP4_PAIR[256]
cdef int ICMP6_PAIR[256]
cdef int _i
for _i in range(256):
    ICMP4_PAIR[_i] = -1
    ICMP6_PAIR[_i] = -1
for _a, _b in ((8, 0), (13, 14), (15, 16), (10, 9), (17, 18)):
    ICMP4_PAIR[_a] = _b
    ICMP4_PAIR[_b] = _a
for _a, _b in ((128, 129), (130, 131), (133, 134), (135, 136), (139, 140), (144, 145)):
    ICMP6_PAIR[_a] = _b
    ICMP6_PAIR[_b] = _a



cdef char* put_community_id(char* p, const FlowRecord* r, uint16_t seed) noexcept nogil:
    """The flow's Community ID: its ports, or an ICMP flow's type and code (a two-way
    type's pair as the other port), or none."""
    cdef int sp = -1, dp = -1, t
    cdef bint one_way = False
    if ws_has_ports(r.proto):
        sp = r.src_port
        dp = r.dest_port
    elif (((r.proto == IPP_ICMP and r.ip_version == 4)
           or (r.proto == IPP_ICMPV6 and r.ip_version == 6)) and r.icmp_seen & 1):
        sp = r.icmp_type_ts
        t = ICMP4_PAIR[sp] if r.proto == IPP_ICMP else ICMP6_PAIR[sp]
        if t < 0:
            dp = r.icmp_code_ts
            one_way = True
        else:
            dp = t
    return put_cid(p, seed, r.proto, 4 if r.ip_version == 4 else 16, r.src_addr,
                   r.dest_addr, sp, dp, one_way)


cdef char* put_tcp(char* p, const FlowRecord* r) noexcept nogil:
    """The tcp object: flags of both directions and each, each flag seen, the state."""
    cdef uint8_t f
    cdef int k
    f = r.tcp_flags_ts | r.tcp_flags_tc
    p = put(p, b",\"tcp\":{\"tcp_flags\":")
    p = put_hex2(p, f)
    p = put(p, b",\"tcp_flags_ts\":")
    p = put_hex2(p, r.tcp_flags_ts)
    p = put(p, b",\"tcp_flags_tc\":")
    p = put_hex2(p, r.tcp_flags_tc)
    for k in range(N_TCP_FLAGS):
        if f & ws_tcp_flags[k].value:
            p = put(p, b",\"")
            p = put(p, ws_tcp_flags[k].name)
            p = put(p, b"\":true")
    p = put(p, b",\"state\":\"")
    p = put(p, ws_tcp_states[r.tcp_state if r.tcp_state < N_TCP_STATES else 0].name)
    p = put(p, b"\"}")
    return p


cdef bint has_mac(const FlowRecord* r) noexcept nogil:
    cdef int i
    for i in range(6):
        if r.src_mac[i] or r.dest_mac[i]:
            return True
    return False


cdef char* put_flow(char* p, const FlowRecord* r, uint16_t seed, bint alerted,
                    TsCache* tc, bint ether) noexcept nogil:
    cdef bint ports = ws_has_ports(r.proto)
    cdef bint icmp = ((r.proto == IPP_ICMP and r.ip_version == 4)
                      or (r.proto == IPP_ICMPV6 and r.ip_version == 6))
    cdef const char* name
    p = put(p, b"{\"timestamp\":\"")
    p = put_ts(p, r.start_us, tc)
    p = put(p, b"\",\"flow_id\":")
    p = put_u64(p, r.flow_id)
    if r.nvlan:
        p = put(p, b",\"vlan\":[")
        p = put_u64(p, r.vlan0)
        if r.nvlan > 1:
            p = put(p, b",")
            p = put_u64(p, r.vlan1)
        p = put(p, b"]")
    p = put(p, b",\"src_ip\":")
    p = put_ip(p, r.src_addr, r.ip_version)
    if ports:
        p = put(p, b",\"src_port\":")
        p = put_u64(p, r.src_port)
    p = put(p, b",\"dest_ip\":")
    p = put_ip(p, r.dest_addr, r.ip_version)
    if ports:
        p = put(p, b",\"dest_port\":")
        p = put_u64(p, r.dest_port)
    p = put(p, b",\"proto\":\"")
    name = ws_proto_name(r.proto)
    if name != NULL:
        p = put(p, name)
    else:
        p = put_u64(p, r.proto)
    p = put(p, b"\"")
    if icmp and r.icmp_seen & 1:
        p = put(p, b",\"icmp_type\":")
        p = put_u64(p, r.icmp_type_ts)
        p = put(p, b",\"icmp_code\":")
        p = put_u64(p, r.icmp_code_ts)
    if icmp and r.icmp_seen & 2:
        p = put(p, b",\"response_icmp_type\":")
        p = put_u64(p, r.icmp_type_tc)
        p = put(p, b",\"response_icmp_code\":")
        p = put_u64(p, r.icmp_code_tc)
    p = put(p, b",\"community_id\":")
    p = put_community_id(p, r, seed)
    p = put(p, b",\"event_type\":\"flow\"")
    if r.app_proto and r.app_proto < N_APP_PROTOS:
        p = put(p, b",\"app_proto\":\"")
        p = put(p, ws_app_protos[r.app_proto].name)
        p = put(p, b"\"")
    if ether and has_mac(r):
        p = put(p, b",\"ether\":{\"src_macs\":[")
        p = put_mac(p, r.src_mac)
        p = put(p, b"],\"dest_macs\":[")
        p = put_mac(p, r.dest_mac)
        p = put(p, b"]}")
    p = put(p, b",\"flow\":{\"pkts_toserver\":")
    p = put_u64(p, r.pkts_toserver)
    p = put(p, b",\"pkts_toclient\":")
    p = put_u64(p, r.pkts_toclient)
    p = put(p, b",\"bytes_toserver\":")
    p = put_u64(p, r.bytes_toserver)
    p = put(p, b",\"bytes_toclient\":")
    p = put_u64(p, r.bytes_toclient)
    p = put(p, b",\"start\":\"")
    p = put_ts(p, r.start_us, tc)
    p = put(p, b"\",\"end\":\"")
    p = put_ts(p, r.end_us, tc)
    p = put(p, b"\",\"age\":")
    p = put_u64(p, <uint64_t>(r.end_us // 1000000 - r.start_us // 1000000))
    p = put(p, b",\"state\":\"")
    p = put(p, ws_states[r.state if r.state < N_STATES else 0].name)
    p = put(p, b"\",\"reason\":\"")
    p = put(p, ws_reasons[r.reason if r.reason < N_REASONS else 0].name)
    p = put(p, b"\",\"alerted\":")
    p = put(p, b"true}" if alerted else b"false}")
    if r.proto == IPP_TCP:
        p = put_tcp(p, r)
    p = put(p, b"}\n")
    return p


def format_flows(cnp.ndarray records, alerted=None, int seed=0, int fd=-1,
                 bint ether=False):
    """EVE flow lines, one per record, newline-terminated.

    records: a C-contiguous RECORD_DTYPE array; alerted: None or a bool array of the
    same length (flow.alerted); seed: Community ID seed, 0..65535; ether: write
    ether{src_macs, dest_macs} (the first packet's MACs) for flows that have them
    (Ethernet), as Suricata's eve-log ethernet: yes. With fd >= 0 the
    lines are written to that file descriptor (one write() per LINE_BLOCK lines, no
    copy into Python) and the byte count is returned; otherwise the bytes are.
    An OSError is raised when write() fails.
    """
    from wirescore._core.flowtable import RECORD_DTYPE

    if records.dtype != RECORD_DTYPE or not records.flags.c_contiguous or records.ndim != 1:
        raise ValueError("records must be a 1-d C-contiguous RECORD_DTYPE array")
    if not 0 <= seed <= 0xFFFF:
        raise ValueError("seed must be in 0..65535")
    cdef Py_ssize_t n = records.shape[0], i, done = 0
    cdef const uint8_t[::1] al
    cdef bint have_alerted = alerted is not None
    if have_alerted:
        al = np.ascontiguousarray(alerted, dtype=np.uint8)
        if al.shape[0] != n:
            raise ValueError("alerted must have one value per record")
    if n == 0:
        return 0 if fd >= 0 else b""
    cdef const FlowRecord* recs = <const FlowRecord*>cnp.PyArray_DATA(records)
    cdef Py_ssize_t block = n if fd < 0 else (n if n < LINE_BLOCK else LINE_BLOCK)
    cdef char* buf = <char*>malloc(block * LINE_MAX)
    if buf == NULL:
        raise MemoryError()
    cdef char* p
    cdef TsCache tc
    cdef size_t total = 0
    cdef int err = 0
    tc.sec = -1
    try:
        with nogil:
            while done < n and err == 0:
                p = buf
                for i in range(done, done + block if done + block < n else n):
                    p = put_flow(p, &recs[i], <uint16_t>seed,
                                 have_alerted and al[i] != 0, &tc, ether)
                done = done + block if done + block < n else n
                if fd >= 0:
                    err = write_all(fd, buf, p - buf)
                    total += p - buf
        if err:
            raise OSError(err, "cannot write EVE lines")
        if fd >= 0:
            return total
        return PyBytes_FromStringAndSize(buf, p - buf)
    finally:
        free(buf)



cdef enum:
    IOV_BATCH = 1024       # iovecs per writev() (POSIX guarantees IOV_MAX >= 16, Linux 1024)


def write_ordered(int fd, list blocks, const int64_t[::1] keys):
    """Write the newline-terminated lines of `blocks` (bytes objects, in their order)
    to file descriptor `fd`, stably sorted by `keys` (one key per line, e.g. its
    timestamp in µs; lines with equal keys keep their order). Returns the byte count.

    No copy of the lines: their offsets are found with memchr, the keys argsorted
    (stable) once, and the lines handed to writev() IOV_BATCH pieces at a time, runs of
    lines that lie next to each other in a block as one piece (blocks already in order
    are written whole). A ValueError when a block does not end in a newline or the
    lines are not as many as the keys (the formatter and its stamps disagree); an
    OSError when a write fails.
    """
    cdef Py_ssize_t n = keys.shape[0], nb = len(blocks), b, i, k, m = 0, size = 0, pos = 0
    cdef Py_ssize_t total = 0
    cdef const char* base
    cdef const char* nl
    cdef bint in_order = True
    for i in range(1, n):
        if keys[i] < keys[i - 1]:
            in_order = False
            break
    for b in range(nb):
        if not isinstance(blocks[b], bytes):
            raise TypeError("blocks must be bytes")
        size = len(<bytes>blocks[b])
        if size and PyBytes_AS_STRING(blocks[b])[size - 1] != 10:
            raise ValueError("EVE lines must end in a newline")
        total += size
    # the start of each line and, after the last, the end of its block
    cdef const char** start = <const char**>malloc((n + 1) * sizeof(char*))
    cdef size_t* length = <size_t*>malloc((n + 1) * sizeof(size_t))
    cdef iovec* iov = <iovec*>malloc(IOV_BATCH * sizeof(iovec))
    cdef int cnt = 0, err = 0
    cdef const int64_t[::1] order
    try:
        if start == NULL or length == NULL or iov == NULL:
            raise MemoryError()
        for b in range(nb):
            base = PyBytes_AS_STRING(blocks[b])
            size = len(<bytes>blocks[b])
            pos = 0
            with nogil:
                while pos < size and m < n:
                    nl = <const char*>memchr(base + pos, 10, size - pos)
                    start[m] = base + pos
                    length[m] = (nl - base) + 1 - pos
                    pos += length[m]
                    m += 1
            if pos != size:
                break
        if m != n or pos != size:
            raise ValueError(f"EVE lines and timestamps disagree ({n} timestamps)")
        if not in_order:
            order = np.argsort(np.asarray(keys), kind="stable").astype(np.int64, copy=False)
        with nogil:
            for i in range(n):
                k = i if in_order else order[i]
                if cnt and <const char*>iov[cnt - 1].iov_base + iov[cnt - 1].iov_len \
                        == start[k]:
                    iov[cnt - 1].iov_len += length[k]
                    continue
                if cnt == IOV_BATCH:
                    err = writev_all(fd, iov, cnt)
                    cnt = 0
                    if err:
                        break
                iov[cnt].iov_base = <void*>start[k]
                iov[cnt].iov_len = length[k]
                cnt += 1
            if err == 0 and cnt:
                err = writev_all(fd, iov, cnt)
        if err:
            raise OSError(err, "cannot write EVE lines")
        return total
    finally:
        free(start)
        free(length)
        free(iov)


def splice_fields(bytes block, bytes fragment):
    """The lines of block (EVE lines, each ending in '}' and a newline) with fragment
    (a run's fixed fields, e.g. b',"host":"s1"') inserted before each closing '}': the
    fields Suricata adds to every event (host, pcap_filename), added in one pass over
    the block, no Python object per line. An empty fragment returns block itself; an
    empty block returns b"". ValueError when a line does not end in '}' and a newline
    (a last line without its newline included) or is "{}": nothing is spliced into a
    line that is not a whole JSON object with a field."""
    cdef Py_ssize_t n = len(block), flen = len(fragment), lines = 0, i, start, end
    cdef const char* src = block
    cdef const char* frag = fragment
    cdef const char* nl
    cdef char* dst
    if flen == 0 or n == 0:
        return block
    if src[n - 1] != b'\n':
        raise ValueError("EVE block does not end with a newline")
    start = 0
    while start < n:
        nl = <const char*>memchr(src + start, b'\n', n - start)
        end = nl - src                      # nl is found: the block ends with one
        # an empty object ("{}") has no field for the fragment's comma to follow
        if end - start < 2 or src[end - 1] != b'}' or src[end - 2] == b'{':
            raise ValueError(f"EVE line at byte {start} is not an object ending in '}}'")
        lines += 1
        start = end + 1
    out = PyBytes_FromStringAndSize(NULL, n + lines * flen)
    dst = PyBytes_AS_STRING(out)
    with nogil:
        start = 0
        while start < n:
            end = <const char*>memchr(src + start, b'\n', n - start) - src
            memcpy(dst, src + start, end - 1 - start)        # up to the closing '}'
            dst += end - 1 - start
            memcpy(dst, frag, flen)
            dst += flen
            dst[0] = b'}'
            dst[1] = b'\n'
            dst += 2
            start = end + 1
    return out
