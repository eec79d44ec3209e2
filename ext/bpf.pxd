# Classic BPF (the filter language of libpcap and BSD's bpf(4)): a program is an array of
# (code, jt, jf, k) instructions over an accumulator A, an index register X and 16 scratch
# words, returning a number (0 = reject the packet). Programs come from libpcap's compiler
# (pcapy.compile(...).get_bpf()), one per link type; bpf_run() runs one over a frame
# without the GIL, as libpcap's bpf_filter() does for savefiles:
# - every load from the frame is bounds-checked against its captured length: a load past
#   it rejects the packet (returns 0); BPF_LEN loads the original (wire) length;
# - division or modulo by zero rejects; a shift by 32 or more gives 0;
# - an instruction that is not classic BPF, a scratch index >= 16 or a jump past the end
#   rejects (a program passed by bpf_valid() has none of them; the checks stay, so that
#   no program can read or jump outside its arrays).
# Cost: one switch per instruction; no allocation.

from libc.stdint cimport uint8_t, uint16_t, uint32_t


cdef struct BpfInsn:
    uint16_t code
    uint8_t jt
    uint8_t jf
    uint32_t k

# instruction classes, sizes, modes, operations and sources (pcap/bpf.h)
cdef enum:
    BPF_LD = 0x00
    BPF_LDX = 0x01
    BPF_ST = 0x02
    BPF_STX = 0x03
    BPF_ALU = 0x04
    BPF_JMP = 0x05
    BPF_RET = 0x06
    BPF_MISC = 0x07
    BPF_W = 0x00
    BPF_H = 0x08
    BPF_B = 0x10
    BPF_IMM = 0x00
    BPF_ABS = 0x20
    BPF_IND = 0x40
    BPF_MEM = 0x60
    BPF_LEN = 0x80
    BPF_MSH = 0xa0
    BPF_ADD = 0x00
    BPF_SUB = 0x10
    BPF_MUL = 0x20
    BPF_DIV = 0x30
    BPF_OR = 0x40
    BPF_AND = 0x50
    BPF_LSH = 0x60
    BPF_RSH = 0x70
    BPF_NEG = 0x80
    BPF_MOD = 0x90
    BPF_XOR = 0xa0
    BPF_JA = 0x00
    BPF_JEQ = 0x10
    BPF_JGT = 0x20
    BPF_JGE = 0x30
    BPF_JSET = 0x40
    BPF_K = 0x00
    BPF_X = 0x08
    BPF_A = 0x10
    BPF_TAX = 0x00
    BPF_TXA = 0x80
    BPF_MEMWORDS = 16
    BPF_MAXINSNS = 4096


cdef inline bint _load(const uint8_t* p, uint32_t buflen, uint32_t k, uint32_t size,
                       uint32_t* out) noexcept nogil:
    """Big-endian load of `size` bytes at offset k; False when it is not all captured."""
    if k > buflen or size > buflen - k:
        return False
    if size == 4:
        out[0] = ((<uint32_t>p[k] << 24) | (<uint32_t>p[k + 1] << 16) |
                  (<uint32_t>p[k + 2] << 8) | p[k + 3])
    elif size == 2:
        out[0] = (<uint32_t>p[k] << 8) | p[k + 1]
    else:
        out[0] = p[k]
    return True


cdef inline uint32_t _width(uint16_t code) noexcept nogil:
    """Bytes a BPF_W / BPF_H / BPF_B load reads."""
    return 4 if (code & 0x18) == BPF_W else (2 if (code & 0x18) == BPF_H else 1)


cdef inline bint _holds(uint16_t op, uint32_t a, uint32_t v) noexcept nogil:
    if op == BPF_JEQ:
        return a == v
    if op == BPF_JGT:
        return a > v
    if op == BPF_JGE:
        return a >= v
    return (a & v) != 0                         # BPF_JSET


cdef inline uint32_t _alu(uint16_t op, uint32_t a, uint32_t v) noexcept nogil:
    """A op v for the binary ALU operations (v != 0 for DIV and MOD: checked before)."""
    if op == BPF_ADD:
        return a + v
    if op == BPF_SUB:
        return a - v
    if op == BPF_MUL:
        return a * v
    if op == BPF_DIV:
        return a // v
    if op == BPF_MOD:
        return a % v
    if op == BPF_AND:
        return a & v
    if op == BPF_OR:
        return a | v
    if op == BPF_XOR:
        return a ^ v
    if op == BPF_LSH:
        return a << v if v < 32 else 0
    return a >> v if v < 32 else 0              # BPF_RSH


cdef inline uint32_t bpf_run(const BpfInsn* prog, uint32_t n, const uint8_t* p,
                             uint32_t wirelen, uint32_t buflen) noexcept nogil:
    """Run program prog (n instructions) over frame p (buflen captured bytes of a
    wirelen-byte packet); the program's return value, 0 = reject. The instructions are
    exactly those of libpcap's bpf_filter(); see the file header for the checks."""
    cdef uint32_t A = 0, X = 0, v = 0, i = 0, k
    cdef uint32_t mem[BPF_MEMWORDS]
    cdef const BpfInsn* pc
    cdef uint16_t code
    cdef int j
    for j in range(BPF_MEMWORDS):
        mem[j] = 0
    while i < n:
        pc = &prog[i]
        i += 1
        code = pc.code
        k = pc.k
        # loads
        if code == BPF_LD | BPF_W | BPF_ABS or code == BPF_LD | BPF_H | BPF_ABS or \
                code == BPF_LD | BPF_B | BPF_ABS:
            if not _load(p, buflen, k, _width(code), &A):
                return 0
        elif code == BPF_LD | BPF_W | BPF_IND or code == BPF_LD | BPF_H | BPF_IND or \
                code == BPF_LD | BPF_B | BPF_IND:
            if k > buflen or X > buflen - k or not _load(p, buflen, X + k, _width(code), &A):
                return 0
        elif code == BPF_LD | BPF_W | BPF_LEN:
            A = wirelen
        elif code == BPF_LDX | BPF_W | BPF_LEN:
            X = wirelen
        elif code == BPF_LDX | BPF_MSH | BPF_B:
            if k >= buflen:
                return 0
            X = (p[k] & 0x0f) << 2
        elif code == BPF_LD | BPF_IMM:
            A = k
        elif code == BPF_LDX | BPF_IMM:
            X = k
        elif code == BPF_LD | BPF_MEM or code == BPF_LDX | BPF_MEM:
            if k >= BPF_MEMWORDS:
                return 0
            if code == BPF_LD | BPF_MEM:
                A = mem[k]
            else:
                X = mem[k]
        elif code == BPF_ST or code == BPF_STX:
            if k >= BPF_MEMWORDS:
                return 0
            mem[k] = A if code == BPF_ST else X
        # returns
        elif code == BPF_RET | BPF_K:
            return k
        elif code == BPF_RET | BPF_A:
            return A
        # jumps: relative to the next instruction
        elif code == BPF_JMP | BPF_JA:
            if k >= n - i:
                return 0
            i += k
        elif code < 0x100 and (code & 0x07) == BPF_JMP and (code & 0xf0) in (
                BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET):
            v = X if (code & BPF_X) else k
            if _holds(code & 0xf0, A, v):
                i += pc.jt
            else:
                i += pc.jf
        # arithmetic
        elif code == BPF_ALU | BPF_NEG:
            A = 0 - A
        elif code < 0x100 and (code & 0x07) == BPF_ALU and (code & 0xf0) in (
                BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND, BPF_OR, BPF_XOR,
                BPF_LSH, BPF_RSH):
            v = X if (code & BPF_X) else k
            if v == 0 and ((code & 0xf0) == BPF_DIV or (code & 0xf0) == BPF_MOD):
                return 0
            A = _alu(code & 0xf0, A, v)
        elif code == BPF_MISC | BPF_TAX:
            X = A
        elif code == BPF_MISC | BPF_TXA:
            A = X
        else:
            return 0                            # not an instruction of classic BPF
    return 0                                    # ran past the end
