"""First-seen tables over application-layer observations (firstseen.pxd says what they
hold and answer): the narrow numpy edge.

    table = FirstSeenTable(rows=1 << 16)
    answers = table.observe(ts_us, client, server, kind, key)   # FS_ANSWER_DTYPE, one a row

ts_us: int64 microseconds (packet time); client, server: (n, 16) uint8 addresses (an
IPv4 address in the first 4 bytes, as the records keep it); kind: uint64 (which kind of
key: wirescore.appkeys gives each kind its number); key: uint64, the key's 64-bit hash.
Rows are answered in order, each as before itself and after the rows before it, so a
batch gives what one row at a time would. Memory is fixed at creation: `rows` rows in
each of the two tables (32 bytes each, plus 4 bytes of index), touched as used.
"""
import numpy as np
cimport numpy as cnp

from libc.stdint cimport uint8_t, uint64_t, int64_t

from firstseen cimport (FirstSeen, FsAnswer, FS_MIN_ROWS, fs_table_init, fs_table_free,
                        fs_observe)

cnp.import_array()

cdef FsAnswer _answer
FS_ANSWER_DTYPE = np.asarray(<FsAnswer[:1]>(&_answer)).dtype


cdef class FirstSeenTable:
    """Bounded first-seen tables (firstseen.pxd). rows: a power of two from 64 to 2**26,
    the rows of each table; a table full of held keys replaces the least recently
    touched one it looks at, counted in `replaced`."""

    cdef FirstSeen fs
    cdef readonly unsigned int rows

    def __cinit__(self, unsigned int rows=65536):
        if rows < FS_MIN_ROWS or rows > (1 << 26) or rows & (rows - 1):
            raise ValueError(f"rows must be a power of two from {FS_MIN_ROWS} to 2**26, "
                             f"not {rows}")
        self.rows = rows
        if fs_table_init(&self.fs.seen, rows) < 0:
            raise MemoryError("first-seen table")
        if fs_table_init(&self.fs.tally, rows) < 0:
            fs_table_free(&self.fs.seen)
            raise MemoryError("first-seen table")

    def __dealloc__(self):
        fs_table_free(&self.fs.seen)
        fs_table_free(&self.fs.tally)

    @property
    def replaced(self):
        """{"seen": n, "tally": n}: rows taken from a key still held, per table."""
        return {"seen": int(self.fs.seen.replaced), "tally": int(self.fs.tally.replaced)}

    @property
    def memory_bytes(self):
        """The most the tables take: rows and index of both."""
        return 2 * self.rows * (32 + 4)

    def observe(self, ts_us, client, server, kind, key):
        """One FS_ANSWER_DTYPE record per observation (see the module docstring)."""
        cdef cnp.int64_t[::1] t = np.ascontiguousarray(ts_us, dtype=np.int64)
        cdef uint8_t[:, ::1] c = np.ascontiguousarray(client, dtype=np.uint8)
        cdef uint8_t[:, ::1] s = np.ascontiguousarray(server, dtype=np.uint8)
        cdef cnp.uint64_t[::1] k = np.ascontiguousarray(kind, dtype=np.uint64)
        cdef cnp.uint64_t[::1] h = np.ascontiguousarray(key, dtype=np.uint64)
        cdef Py_ssize_t i, n = t.shape[0]
        if (c.shape[0] != n or s.shape[0] != n or k.shape[0] != n or h.shape[0] != n
                or (n and (c.shape[1] != 16 or s.shape[1] != 16))):
            raise ValueError("observe: ts_us, kind, key of one length n; client and "
                             "server (n, 16) uint8")
        out = np.zeros(n, dtype=FS_ANSWER_DTYPE)
        cdef FsAnswer[::1] o = out
        with nogil:
            for i in range(n):
                fs_observe(&self.fs, t[i], &c[i, 0], &s[i, 0], k[i], h[i], &o[i])
        return out
