# First-seen tables: who did what to whom for the first time, and how rare it is.
#
# An observation is (time, client, server, kind, key): a client used key (an
# operation, an interface, a share, a fingerprint, a name...) of kind (what the key
# is: "dcerpc.op", "tls.ja4", "dns.name", ...) on a server. The room answers, before
# counting the observation itself:
#   pair_new              this client never used this key of this kind on this server
#   pair_count_before     how often it did (saturating at 2**32 - 1)
#   pair_keys_before      how many distinct keys of this kind the client used on this
#                         server (a host asking 500 distinct names under one domain)
#   key_clients_before    how many distinct clients used this key on this server
#   server_clients_before how many distinct clients used this server for this kind at
#                         all (the denominator: "0 of 412 clients before")
#   key_hosts_before      how many distinct clients used this key network-wide, on any
#                         server ("how many hosts present this JA4")
#   key_age_us            how long ago the key was first seen network-wide (0: now)
#   server_others_before  server_clients_before without this client (when it used the
#                         server for this kind before): other clients of the server
#   key_others_before     key_hosts_before without this client: other hosts of the key
# Two bounded tables of 32-byte rows keyed by 64-bit hashes (clock.pxd: a hash index
# and a clock hand):
#   seen    membership: (client, server, kind, key) with its first and last time and
#           count; (client, server, kind) with its distinct keys; (client, kind, key)
#   tally   distinct-client counts: (server, kind, key), (server, kind), (kind, key),
#           the last with the key's first time
# No row ever dies of age (a client that used a service last week has used it), so
# once a table is full a new key replaces the least recently touched of CLOCK_REACH
# rows, and every such replacement is counted (FirstSeen.replaced): the table forgot
# something, and a pair it held may look new again. Rows and heads are calloc'd and
# touched as used: FS_ROW_BYTES x rows x 2 tables + 4 bytes x rows x 2 of index.
# Two 64-bit hashes collide with probability ~ n^2 / 2^65 (10^6 rows: 3e-8).
#
# Everything here is inline and runs without the GIL.

from libc.stdint cimport uint8_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

from context cimport ctx_mix
from clock cimport (Clock, clock_init, clock_free, clock_head, clock_after, clock_pick,
                    clock_reuse)

cdef enum:
    FS_MIN_ROWS = 64
    FS_ROW_BYTES = 32

# salts: which statistic a row holds (the hash of its parts is mixed with it)
cdef enum:
    FS_PAIR = 1              # seen:  (client, server, kind, key)
    FS_CLIENT_SERVER = 2     # seen:  (client, server, kind): count = distinct keys
    FS_CLIENT_KEY = 3        # seen:  (client, kind, key)
    FS_SERVER_KEY = 4        # tally: (server, kind, key): distinct clients
    FS_SERVER = 5            # tally: (server, kind): distinct clients
    FS_KEY = 6               # tally: (kind, key): distinct clients, first time

cdef struct FsRow:
    uint64_t key             # the 64-bit hash of the row's parts and salt
    int64_t last             # last touched, µs (at least 1): the clock's stamp
    int64_t first            # first touched, µs
    uint32_t count           # observations (seen pairs) or distinct clients (tally)
    int32_t hnext            # hash chain: next row + 1 (clock.pxd)

cdef struct FsTable:
    FsRow* rows
    Clock ix
    uint64_t replaced        # rows taken from a key still held (the table forgot it)

cdef struct FirstSeen:
    FsTable seen
    FsTable tally

cdef struct FsAnswer:        # one observation's answer (FS_ANSWER_DTYPE, firstseen.pyx)
    int64_t key_age_us
    uint32_t pair_count_before
    uint32_t pair_keys_before
    uint32_t key_clients_before
    uint32_t server_clients_before
    uint32_t key_hosts_before
    uint32_t server_others_before
    uint32_t key_others_before
    uint8_t pair_new
    uint8_t pad[3]


cdef inline uint64_t fs_join(uint64_t a, uint64_t b) noexcept nogil:
    """The hash of the ordered pair (a, b)."""
    return ctx_mix(a * 0x9e3779b97f4a7c15ULL + ctx_mix(b ^ 0x2545f4914f6cdd1dULL))


cdef inline uint64_t fs_addr(const uint8_t* a) noexcept nogil:
    """The hash of a 16-byte address (an IPv4 address in its first 4 bytes)."""
    cdef uint64_t w[2]
    memcpy(w, a, 16)
    return fs_join(ctx_mix(w[0]), w[1])


cdef inline int fs_table_init(FsTable* t, uint32_t rows) noexcept nogil:
    """A table of rows (a power of two); -1 when out of memory."""
    t.replaced = 0
    t.rows = <FsRow*>calloc(rows, sizeof(FsRow))
    if t.rows == NULL:
        return -1
    if clock_init(&t.ix, rows) < 0:
        free(t.rows)
        t.rows = NULL
        return -1
    return 0


cdef inline void fs_table_free(FsTable* t) noexcept nogil:
    free(t.rows)
    t.rows = NULL
    clock_free(&t.ix)


cdef inline FsRow* fs_get(FsTable* t, uint64_t key, int64_t now, bint* created) noexcept nogil:
    """The row of key, its last time brought to now (never backwards); made (first =
    last = now, count 0; created set) in the row the clock picks if absent, a held key
    it replaces counted in t.replaced."""
    cdef int32_t i = clock_head(&t.ix, key)
    cdef int took
    cdef FsRow* e
    if now < 1:
        now = 1
    while i >= 0:
        e = &t.rows[i]
        if e.key == key:
            if now > e.last:
                e.last = now
            created[0] = False
            return e
        i = clock_after(e.hnext)
    # no row is ever dead (dead_to 0 < every stamp): a full table replaces the least
    # recent of the rows the hand looks at
    i = clock_pick(&t.ix, <char*>&t.rows[0].last, sizeof(FsRow), 0, &took)
    e = &t.rows[i]
    clock_reuse(&t.ix, took, e.key, key, i, <char*>t.rows, <char*>&t.rows[0].hnext,
                sizeof(FsRow), &t.replaced)
    e.key = key
    e.first = now
    e.last = now
    created[0] = True
    return e


cdef inline void fs_count(uint32_t* c) noexcept nogil:
    if c[0] != 0xFFFFFFFFU:
        c[0] += 1


cdef inline void fs_observe(FirstSeen* fs, int64_t now, const uint8_t* client,
                            const uint8_t* server, uint64_t kind, uint64_t key,
                            FsAnswer* out) noexcept nogil:
    """Answer one observation (the module comment's fields, as before it), then count
    it. Each row is read and updated before the next is looked up: looking one up may
    replace another."""
    cdef uint64_t hc = fs_addr(client), hs = fs_addr(server)
    cdef uint64_t kk = fs_join(ctx_mix(kind), key)
    cdef uint64_t cs = fs_join(fs_join(hc, hs), kind)
    cdef bint pair_new, cs_new, ck_new, made
    cdef FsRow* r
    memset(out, 0, sizeof(FsAnswer))
    r = fs_get(&fs.seen, fs_join(fs_join(cs, kk), FS_PAIR), now, &pair_new)
    out.pair_new = pair_new
    out.pair_count_before = r.count
    fs_count(&r.count)
    r = fs_get(&fs.seen, fs_join(cs, FS_CLIENT_SERVER), now, &cs_new)
    out.pair_keys_before = r.count
    if pair_new:
        fs_count(&r.count)
    r = fs_get(&fs.seen, fs_join(fs_join(hc, kk), FS_CLIENT_KEY), now, &ck_new)
    r = fs_get(&fs.tally, fs_join(fs_join(hs, kk), FS_SERVER_KEY), now, &made)
    out.key_clients_before = r.count
    if pair_new:
        fs_count(&r.count)
    r = fs_get(&fs.tally, fs_join(fs_join(hs, ctx_mix(kind)), FS_SERVER), now, &made)
    out.server_clients_before = r.count
    out.server_others_before = r.count - (0 if cs_new or r.count == 0 else 1)
    if cs_new:
        fs_count(&r.count)
    r = fs_get(&fs.tally, fs_join(kk, FS_KEY), now, &made)
    out.key_hosts_before = r.count
    out.key_others_before = r.count - (0 if ck_new or r.count == 0 else 1)
    out.key_age_us = now - r.first if now > r.first else 0
    if ck_new:
        fs_count(&r.count)
