"""Where evidence records stand in a profile's stream (wirescore.detect, step 3).

A flow profile with `evidence: attempt` or `update` scores attempt records and updates
of open flows besides its finished flows; a window profile with `evidence: early`, early
records of open windows besides its closed windows. The core hands over a batch's
evidence records and its finished flows (or closed windows) separately; what decides
an evidence record is where it stands among them in the core's output, not which batch
it came in:
- an attempt (its confirmation, ts_us) or an update (report_us) comes after the flows
  the core reported at or before that packet time (a flow record's report_us, the packet
  clock when the core wrote it) and before the rest; an early record comes after the
  windows that closed before its window opened;
- it is scored with the model, threshold, statistics and warm-up count as of the chunks
  the records before it completed (the state moves only when a chunk is learned, or at
  every row for a model with learn: all), and decided (allowlist, suppression, once)
  after those records were decided, before the records after it.
So a replay and a live run cut into other batches alert alike. One exception: of two
packets with the same microsecond timestamp, the first confirming an attempt or updating
a flow and the second ending flows, the flows are put first when both are in one batch
(equal times: flows first) and second when a batch ends between the two.
"""
from __future__ import annotations

import numpy as np

from wirescore.catalog import QUIET_FIELDS
from wirescore.detect_chunk import CHUNK


def quiet_reads(profile, fields: list) -> tuple:
    """(record field, quiet field) of each of a flow profile's columns that is a host
    count the core also keeps as of the flow's quiet update; () unless the profile has
    evidence: update (without it the end is the flow's only judgement)."""
    if profile.evidence != "update":
        return ()
    return tuple((f, QUIET_FIELDS[f]) for f in fields if f in QUIET_FIELDS)


class EvidenceOrder:
    """The ordering of evidence records for a wirescore.detect.ProfileDetector (a mixin:
    it reads the detector's profile, model, chunk state and decision methods)."""

    quiet_reads: tuple = ()      # (record field, quiet field): see quiet_reads()
    late = 0                     # finished flows not alerted by _crossed_late

    def _crossed_late(self, records: np.ndarray, rows: np.ndarray, chunk) -> np.ndarray:
        """Which of the finished flows records[rows] (which crossed the open chunk's
        threshold) cross only on host counts read after they went quiet: scored again
        with those counts as the core read them at the flow's quiet update (the record's
        quiet_* fields; equal to the end's when a packet came after it), they stay under
        the threshold. Such a flow's quiet update was judged on what was known then;
        what came after it is judged where it arrives (the later flows and attempts that
        carry it), so the end does not alert on it a timeout late. With learn:
        unalerted it is not learned either, as a suppressed flow is not."""
        late = np.zeros(len(rows), dtype=bool)
        if len(rows) == 0:
            return late
        recs = records[rows]
        moved = np.zeros(len(rows), dtype=bool)
        for field, quiet in self.quiet_reads:
            moved |= recs[field] != recs[quiet]
        if not moved.any():
            return late
        alt = recs[moved]                       # a copy
        for field, quiet in self.quiet_reads:
            alt[field] = alt[quiet]
        X = self.transform(alt)
        late[moved] = ~(self.model.score(chunk.scale(X) if self.model.scaled else X)
                        > chunk.thr)
        return late

    def _once_ids(self, recs: np.ndarray) -> list:
        """What makes two records the same thing to alert once about: the flow id."""
        return recs["flow_id"].tolist()

    def _once_more(self, records: np.ndarray, alerts: list, once: set) -> list:
        """The alerts of a batch of ended records (flows, closed windows) less those of
        records already alerted while open (their ids in once, _once_ids), whose ids
        leave once: they have ended."""
        if not once or len(records) == 0:
            return alerts
        ids = self._once_ids(records)
        ended = [i in once for i in ids]
        if any(ended):
            kept = [a for a in alerts if not ended[a.index]]
            self.alerts -= len(alerts) - len(kept)
            alerts = kept
            once.difference_update(i for i, e in zip(ids, ended) if e)
        return alerts

    def _rows_until_change(self) -> int:
        """How many more admitted records can come before the state evidence is scored
        with changes: the open chunk's rows left (the model, threshold, statistics and
        warm-up count move when a chunk is learned), or 1 for a model that learns row
        by row (learn: all)."""
        if self.profile.learn == "all" and self.model.learns_online:
            return 1
        return CHUNK - (self._open.rows if self._open is not None else 0)

    def _interleave(self, ev: np.ndarray, pos: np.ndarray, before: np.ndarray,
                    advance, time_field: str, once: set | None) -> list:
        """Evidence records (attempts, updates, early windows) decided in their order in
        the stream among a batch's records (finished flows, closed windows): pos[k]
        records precede evidence record k (non-decreasing in k); before[i]: how many of
        the first i records count towards chunks (those `where` admits); advance(c)
        processes the batch's admitted records up to the c-th. An evidence record is
        scored with the state as of the chunks completed by the records before it, and
        decided (allowlist, suppression: time ev[time_field], once) after those records
        were, so what alerts does not depend on where batches were cut. The caller
        advances past the last evidence record. Returns the evidence's alerts (indices
        into ev)."""
        p = self.profile
        found: list = []
        i = 0
        while i < len(ev):
            done = int(before[pos[i]])
            advance(done)
            # the evidence whose preceding records leave the state as it is now
            j = i + int(np.searchsorted(before[pos[i:]] - done, self._rows_until_change(),
                                        side="left"))
            if self.learned >= p.warmup:
                group = ev[i:j]
                X = self.transform(group)
                s = self.model.score(self._scaled(X))
                thr = self.threshold()
                over = np.flatnonzero(s > thr)
                at = before[pos[i:j][over]]
                # the allowlist is asked only about the rows that crossed
                allowed = np.zeros(len(group), dtype=bool)
                if len(over):
                    allowed[over] = self._allowlisted(group[over])
                for c in np.unique(at).tolist():
                    rows = over[at == c]
                    advance(c)
                    got, _ = self._decide(group, X, rows, s[rows], thr, allowed,
                                          self.stats.mean, self.stats.std(), time_field,
                                          once)
                    for a in got:
                        a.index += i
                    found += got
            i = j
        self.alerts += len(found)
        return found
