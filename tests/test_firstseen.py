"""The first-seen tables (ext/firstseen.pxd, wirescore._core.firstseen): what each answer
column means, row by row within one batch, and the bounds (a flood of distinct keys keeps
the memory fixed and counts what it replaced)."""
from __future__ import annotations

import numpy as np
import pytest

from wirescore._core.firstseen import FS_ANSWER_DTYPE, FirstSeenTable


def addr(last: int) -> np.ndarray:
    a = np.zeros(16, np.uint8)
    a[:4] = (10, 0, 2, last)
    return a


def observe(table, rows):
    """rows: (ts_s, client last byte, server last byte, kind, key) each."""
    ts = np.array([int(r[0] * 1e6) for r in rows], np.int64)
    client = np.stack([addr(r[1]) for r in rows])
    server = np.stack([addr(r[2]) for r in rows])
    kind = np.array([r[3] for r in rows], np.uint64)
    key = np.array([r[4] for r in rows], np.uint64)
    return table.observe(ts, client, server, kind, key)


def test_answers_count_before_each_row():
    t = FirstSeenTable(1024)
    # clients 1..3 use key 7 (kind 1) on server 100; client 1 twice; client 4 key 8
    out = observe(t, [(1, 1, 100, 1, 7), (2, 1, 100, 1, 7), (3, 2, 100, 1, 7),
                      (4, 3, 100, 1, 8), (5, 3, 101, 1, 7)])
    assert out.dtype == FS_ANSWER_DTYPE
    assert out["pair_new"].tolist() == [1, 0, 1, 1, 1]
    assert out["pair_count_before"].tolist() == [0, 1, 0, 0, 0]
    # distinct clients of (server 100, key 7) before the row
    assert out["key_clients_before"].tolist() == [0, 1, 1, 0, 0]
    # distinct clients of server 100 (kind 1) before the row; server 101 is new
    assert out["server_clients_before"].tolist() == [0, 1, 1, 2, 0]
    # ... without the row's own client
    assert out["server_others_before"].tolist() == [0, 0, 1, 2, 0]
    # distinct clients of key 7 network-wide (any server)
    assert out["key_hosts_before"].tolist() == [0, 1, 1, 0, 2]
    assert out["key_others_before"].tolist() == [0, 0, 1, 0, 2]
    # distinct keys this client used on this server before
    assert out["pair_keys_before"].tolist() == [0, 1, 0, 0, 0]
    # key 7 was first seen at 1 s
    assert out["key_age_us"].tolist() == [0, 1_000_000, 2_000_000, 0, 4_000_000]


def test_kinds_are_apart():
    t = FirstSeenTable(1024)
    out = observe(t, [(1, 1, 100, 1, 7), (2, 1, 100, 2, 7)])
    assert out["pair_new"].tolist() == [1, 1]
    assert out["key_hosts_before"].tolist() == [0, 0]
    assert out["server_clients_before"].tolist() == [0, 0]


def test_batch_equals_one_row_at_a_time():
    rng = np.random.default_rng(3)
    rows = [(i, int(rng.integers(1, 6)), int(rng.integers(100, 103)), 1,
             int(rng.integers(1, 9))) for i in range(1, 200)]
    whole = observe(FirstSeenTable(1024), rows)
    t = FirstSeenTable(1024)
    single = np.concatenate([observe(t, [r]) for r in rows])
    assert whole.dtype.itemsize == 40          # no hidden padding: bytes are fields
    assert whole.tobytes() == single.tobytes()


def test_flood_of_keys_is_bounded_and_counted():
    t = FirstSeenTable(64)
    assert t.memory_bytes == 2 * 64 * 36
    n = 5000
    ts = np.arange(1, n + 1, dtype=np.int64) * 1000
    client = np.tile(addr(1), (n, 1))
    server = np.tile(addr(2), (n, 1))
    out = t.observe(ts, client, server, np.ones(n, np.uint64), np.arange(n, dtype=np.uint64))
    assert out["pair_new"].all()
    # two new seen rows (pair, client-key) and two new tally rows (server-key, key)
    # a key: every one after the first lap of 64 rows replaced a held key
    rep = t.replaced
    assert rep["seen"] >= 2 * n - 64 and rep["tally"] >= 2 * n - 64
    # the first key was forgotten: it looks new again, and replacing it was counted
    again = t.observe(ts[-1:] + 1, client[:1], server[:1], np.ones(1, np.uint64),
                      np.zeros(1, np.uint64))
    assert again["pair_new"][0] == 1
    assert t.replaced["seen"] > rep["seen"]
    # the (client, server) row is touched by every key: the most recent, never replaced
    assert again["pair_keys_before"][0] == n


def test_bad_arguments():
    with pytest.raises(ValueError, match="power of two"):
        FirstSeenTable(100)
    t = FirstSeenTable(64)
    with pytest.raises(ValueError, match="one length"):
        t.observe(np.zeros(2, np.int64), np.zeros((1, 16), np.uint8),
                  np.zeros((2, 16), np.uint8), np.zeros(2, np.uint64),
                  np.zeros(2, np.uint64))
