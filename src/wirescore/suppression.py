"""Alert suppression: at most one alert per key and suppress.seconds of packet time.

A key is what makes two alerts of a profile the same thing: the record's key address
(a flow's source, a window's address, an ARP sender's MAC) and, with `suppress.per`,
the feature that made the score and that feature's scope fields of the record. A row
over the threshold alerts unless its key alerted within suppress.seconds of its packet
time (before or after it: rows come out of time order); an alert sets its key's last
alert time. Keys never interact, so each key's rows are decided on their own, in row
order: a key whose every row lies within suppress.seconds of its last alert is
suppressed whole, with no Python work per row (a scanner's thousands of attempts over
the floor).

The table of last alerts (key -> µs) belongs to the caller (one per profile detector).
"""
from __future__ import annotations

import numpy as np


def suppress_keys(records: np.ndarray, key_field: str, live: np.ndarray,
                  per: tuple = (), tops=None) -> np.ndarray:
    """One fixed-width byte string (numpy void) per row of records[live]: the key
    address (records[key_field]), then with `per` ((feature, fields) pairs of
    suppress.per) a tag (0: no scope; k: the k-th pair, whose feature is the row's
    entry in tops, the features that made the scores) and that pair's fields of the
    record (addresses as their bytes, the others as int64), zero-padded. Two rows have
    the same key exactly when their bytes are equal."""
    n = len(live)
    addr = np.ascontiguousarray(records[key_field][live])
    parts = [addr.view(np.uint8).reshape(n, -1)]
    if per:
        tops = np.array(tops, dtype=object)
        width = max(sum(16 if f.endswith("addr") else 8 for f in fields)
                    for _, fields in per)
        tag = np.zeros((n, 1), dtype=np.uint8)
        body = np.zeros((n, width), dtype=np.uint8)
        for k, (name, fields) in enumerate(per, 1):
            hit = np.flatnonzero(tops == name)
            if len(hit) == 0:
                continue
            tag[hit, 0] = k
            col = 0
            for f in fields:
                values = records[f][live[hit]]
                if f.endswith("addr"):
                    b = np.ascontiguousarray(values).view(np.uint8).reshape(len(hit), -1)
                else:
                    b = values.astype("<i8").view(np.uint8).reshape(len(hit), 8)
                body[hit, col:col + b.shape[1]] = b
                col += b.shape[1]
        parts += [tag, body]
    mat = np.ascontiguousarray(np.hstack(parts)) if len(parts) > 1 else parts[0]
    return mat.view(f"V{mat.shape[1]}").ravel()


def first_alerts(table: dict, pid: int, keys: np.ndarray, times: np.ndarray,
                 window_us: float) -> tuple[list[int], int]:
    """(positions of the rows that alert, ascending; how many rows were suppressed) of
    rows with suppression keys `keys` (suppress_keys) at packet times `times` (µs);
    table: (pid, key bytes) -> the key's last alert (µs), updated."""
    uniq, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(inverse[order])) + 1)
    found: list[int] = []
    suppressed = 0
    for key_bytes, members in zip(uniq, groups):
        key = (pid, key_bytes.tobytes())
        last = table.get(key)
        if last is not None and bool((np.abs(times[members] - last) < window_us).all()):
            suppressed += len(members)
            continue
        for j in members.tolist():
            when = int(times[j])
            if last is not None and abs(when - last) < window_us:
                suppressed += 1
                continue
            last = when
            found.append(j)
        table[key] = last
    found.sort()
    return found, suppressed


def first_alerts_once(table: dict, pid: int, keys: np.ndarray, times: np.ndarray,
                      window_us: float, ids: list, once: set) -> tuple[list[int], int]:
    """As first_alerts, row by row in row order, for rows that may alert once per id
    (ids[j]: row j's; an open flow's updates): a row whose id is in once is passed over,
    one that alerts adds its id."""
    found: list[int] = []
    suppressed = 0
    for j, key_bytes in enumerate(keys):
        if ids[j] in once:
            continue
        key = (pid, key_bytes.tobytes())
        when = int(times[j])
        last = table.get(key)
        if last is not None and abs(when - last) < window_us:
            suppressed += 1
            continue
        table[key] = when
        once.add(ids[j])
        found.append(j)
    return found, suppressed
