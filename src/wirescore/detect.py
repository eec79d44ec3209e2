"""Detection: profiles turn finished flows and traffic windows into scores and alerts.

For each profile, per batch of records (finished flows in the order they ended for a
flow profile, FlowProfileDetector; the window records of its key for a window profile,
WindowProfileDetector):

1. features: the profile's columns from the records; `transform: log1p` maps
   x -> log(1 + max(x, 0)) (counts, bytes and times are heavy-tailed);
2. scaling to [0, 1] with running per-column minimum and maximum (what Half-Space
   Trees assume): a row by the range as of its chunk's start widened by the chunk's
   rows up to and including itself; a pre-trained (ONNX) model gets the transformed
   values unscaled, its own scaling is in its graph, and scores the whole batch in one
   call (it does not learn);
3. score with the model, then learn, in chunks of CHUNK rows of the profile's stream
   (not of a batch: a chunk may span batches, and its rows are scored with the state
   as of its start, whichever batch they come in): with `learn: all` each row is
   scored then learned before the next (exact streaming); with `learn: unalerted` a
   chunk is scored, then, once its last row has come, its rows that did not alert are
   learned;
4. threshold: a fixed score, or the running quantile of the scores of the last
   `window` samples (computed from the scores before the chunk) but never below
   `min`; no alert before `warmup` samples were learned;
5. an alert needs score > threshold, no allowlist match, and no alert with the same
   signature and source (a window: its key address) in the last `suppress.seconds`
   (packet time); with `suppress.per`, the feature that made the score and its scope's
   fields join the source (an address scan per service, a port scan per victim); the
   sample is learned whatever the allowlist says;
6. explanation: the `explain` features whose transformed value lies furthest from
   their running mean, in standard deviations (z), computed before the chunk.

A flow profile with `evidence: attempt` also scores attempt records (one per connection
attempt confirmed unanswered or answered, a grace after it: ext/pending.pxd) as they come,
with the same model, threshold, allowlist and suppression state as its flows, and never
learns from them (FlowProfileDetector.process_with_evidence): a scan is alerted at the
attempt that crosses the floor, its flows' scores and the reference stay as they were,
and the alert suppresses the same key's alert at the flow's end. One with `evidence:
update` scores the core's updates of open flows (flow records of a flow still open: at
its first and 4th packets, its TCP handshake's completion, then every
flow.update_interval) the same way, time the update's packet (end_us): a flow is
alerted as it grows, and a flow of one packet at that packet, not at its timeout. Its
end does not alert on scan counts that grew after its quiet update (_crossed_late).
A window profile with `evidence: early` scores early records of open windows (a key's
counts at its m-th, 2m-th, 4m-th ... packet in it) the same way, time that packet: a burst
is alerted once per key and window as it crosses, its closed window not again.

ARP profiles (unit: arp, ArpProfileDetector) score ARP records (one per ARP frame, from
the core's ARP tables) with the same steps; suppression counts by the sender's MAC.

App profiles (unit: app, AppProfileDetector) score app-layer events instead: each
event gives observations (wirescore.appkeys), the Detector's one first-seen table
answers how new and rare each is (wirescore._core.firstseen), and each profile's
firstseen model scores the observations of its kind; an alert needs score > threshold,
the table's warm-up passed (packet time since its first observation), and no alert of
the profile for the same client and scope (what the observation's kind says makes two
alerts different things: an HTTP input's escapes; one scope for the other kinds) in the
last `suppress.seconds`.

Evidence records are decided where they stand in the profile's stream, among its flows
or closed windows (wirescore.detect_evidence). Same input, same profiles and seeds ->
the same scores and alerts, however the records are cut into batches (with the
exception detect_evidence states): a profile's flow and window records
(tests/test_detect_stream_chunks.py) and a whole run's alerts, evidence included
(tests/test_detect_batch_cut.py).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from wirescore.allowlist import address_words, allowlist_hits
from wirescore.detect_app import AppAlert, AppProfileDetector
from wirescore.detect_chunk import CHUNK, Batch, OpenChunk, RunningStats
from wirescore.detect_evidence import EvidenceOrder, quiet_reads
from wirescore.catalog import ARP_BY_NAME, BY_NAME, WINDOW_BY_NAME
from wirescore.models.adapters import ModelAdapter
from wirescore.rules import Profile
from wirescore.suppression import first_alerts, first_alerts_once, suppress_keys


def transform_matrix(X: np.ndarray, transform: str) -> np.ndarray:
    """A profile's transform of a float64 feature matrix: "log1p" maps x to
    log(1 + max(x, 0)) (negative values, e.g. -1 for "not observed", become 0); "none"
    returns X as it is. Training (wirescore.train) uses this same function."""
    if transform == "log1p":
        return np.log1p(np.maximum(X, 0.0))
    return X


@dataclass
class Alert:
    """One alert: the flow record's index in its batch, and why."""

    index: int
    profile: Profile
    score: float
    threshold: float
    severity: int
    explanation: list[tuple[str, float, float]]   # (feature, raw value, z)
    attribution: dict | None = None    # SHAP / LIME (profile.explainer; wirescore.explain)


class ProfileDetector(EvidenceOrder, abc.ABC):
    """Scores the records of one profile and decides which alert (the steps of the
    module docstring). A subclass says what a record of its unit is: which catalogue
    its features come from, which address suppression counts alerts by, and which of
    the allowlist's fields a record has."""

    catalog: dict = {}
    time_field = "end_us"         # a record's packet time (µs), for suppression
    key_field = "src_addr"        # the address suppression counts a record's alerts by

    def __init__(self, profile: Profile):
        self.profile = profile
        self.fields = [self.catalog[name].field for name in profile.features]
        self.model = ModelAdapter(profile.take_model(), profile.features,
                                  profile.model["name"])
        self.stats = RunningStats(len(self.fields))
        # the running statistics serve the min-max scaling and the z-scores that explain
        # and scope an alert of a model without contributions: a model that is not
        # scaled and explains itself never reads them, and they are not kept for it
        self._tracks_stats = (self.model.scaled
                              or getattr(self.model.model, "contributions", None) is None)
        self.learned = 0
        self.history = np.empty(0)
        self._open: OpenChunk | None = None     # the chunk whose last row has not come
        self.last_alert: dict[tuple[int, bytes], int] = {}
        self.alerts = 0
        self.allowlisted = 0
        self.suppressed = 0
        self.explainer = profile.explainer
        if self.explainer is not None:
            self.explainer.bind(self.model.score, self.model.model,
                                lambda B: transform_matrix(B, profile.transform))

    def key_address(self, rec) -> bytes:
        """The address suppression counts a record's alerts by (its `key_field`)."""
        return bytes(rec[self.key_field])

    @abc.abstractmethod
    def _allowlisted(self, recs: np.ndarray) -> np.ndarray:
        """Which records match an allowlist rule (all of a rule's fields), vectorised."""

    def transform(self, records: np.ndarray) -> np.ndarray:
        X = np.column_stack([records[f].astype(np.float64) for f in self.fields])
        return transform_matrix(X, self.profile.transform)

    def threshold(self) -> float:
        p = self.profile
        if p.threshold_fixed is not None:
            return p.threshold_fixed
        if len(self.history) == 0:
            return np.inf
        return max(float(np.quantile(self.history, p.threshold_quantile)), p.threshold_min)

    def process(self, records: np.ndarray) -> tuple[np.ndarray, list[Alert]]:
        """Scores (one per record) and alerts for a batch of records, in chunks of CHUNK
        rows of the profile's whole stream (not of the batch): every row of a chunk is
        scored with the model, threshold and statistics as of the chunk's start, and
        the chunk is learned when its last row has come, so however the stream is cut
        into batches the scores and alerts are the same. A model that does not learn
        scores each batch at once (one batched call). A record the allowlist keeps from
        alerting (learned, never alerted) has no score: NaN (what --export writes for
        it: empty)."""
        if len(records) == 0:
            return np.empty(0), []
        batch = self._begin(records)
        self._advance(batch, len(records))
        return self._finish(batch)

    def _begin(self, records: np.ndarray) -> Batch:
        """A batch of records to process in steps (_advance), what every step shares
        computed once: features, the allowlist, a model's batched scores."""
        b = Batch()
        b.records = records
        b.X = self.transform(records)
        # a scaled model's rows are scaled chunk by chunk (OpenChunk.scale)
        b.Xs = np.empty_like(b.X) if self.model.scaled else b.X
        b.pre = (self.model.score(b.X)
                 if not (self.model.learns_online or self.model.scaled) else None)
        b.scores = np.empty(len(b.X))
        b.allowed = self._allowlisted(records)
        b.alerts = []
        b.done = 0
        return b

    def _advance(self, b: Batch, stop: int) -> None:
        """Score, decide and (chunk by chunk) learn the batch's rows up to `stop`."""
        start = b.done
        while start < stop:
            if self._open is None:
                self._open = OpenChunk(self.learned, self.threshold(), self.stats,
                                       self._tracks_stats)
            end = min(start + CHUNK - self._open.rows, stop)
            b.alerts += self._chunk(b.records, b.X, b.Xs, b.scores, b.allowed, start, end,
                                    b.pre)
            start = end
        b.done = max(b.done, stop)

    def _finish(self, b: Batch) -> tuple[np.ndarray, list[Alert]]:
        """The batch's scores (NaN where allowlisted) and alerts, once every row went
        through _advance."""
        self.alerts += len(b.alerts)
        b.scores[b.allowed] = np.nan
        if self.explainer is not None:
            for a in b.alerts:               # within the explainer's time budget
                a.attribution = self.explainer.explain(b.Xs[a.index])
        return b.scores, b.alerts

    def _chunk(self, records, X, Xs, scores, allowed, start, stop,
               pre=None) -> list[Alert]:
        """Rows start..stop of the batch, all in the open chunk: scored with the state
        as of its start, decided; learned when the chunk is complete."""
        p = self.profile
        c = self._open
        if self.model.scaled:
            Xs[start:stop] = c.scale(X[start:stop])
        part = Xs[start:stop]
        if pre is not None:
            s = pre[start:stop]
        elif not self.model.learns_online:
            s = self.model.score(part)
        elif p.learn == "all":
            s = self.model.score_learn(part)           # exact score-then-learn per row
        else:
            s = self.model.score(part)
        scores[start:stop] = s
        candidates = np.flatnonzero(s > c.thr)
        candidates = candidates[c.learned + c.rows + candidates >= p.warmup]
        # learn: unalerted learns neither what alerted nor what would have but for
        # suppression (the rest of a scan's burst must not teach the model the scan);
        # allowlisted rows are learned (chatter is normal)
        keep = np.ones(len(part), dtype=bool)
        if self.quiet_reads:             # crossed only on host counts read after quiet
            late = self._crossed_late(records, start + candidates, c)
            keep[candidates[late]] = False
            self.late += int(late.sum())
            candidates = candidates[~late]
        alerts, decided = self._decide(records, X, start + candidates, s[candidates], c.thr,
                                       allowed, c.mean, c.std, self.time_field)
        keep[candidates[decided]] = False
        c.add(X[start:stop], part, keep, s)
        if c.rows == CHUNK:
            self._close_chunk()
        return alerts

    def _close_chunk(self) -> None:
        """Learn the open chunk (its rows that did not alert, with learn: unalerted) and
        fold it into the statistics and the threshold's history."""
        c, p = self._open, self.profile
        self._open = None
        X, part, keep, s = c.joined()
        if p.learn == "all":
            self.learned += len(part)
        else:
            self.model.learn(part[keep])
            self.learned += int(keep.sum())
        if self._tracks_stats:
            self.stats.update(X)
        if p.threshold_fixed is None:
            self.history = np.concatenate([self.history, s])[-p.threshold_window:]

    def _decide(self, records, X, rows, s, thr, allowed, mean, std,
                time_field, once: set | None = None) -> tuple[list[Alert], np.ndarray]:
        """Alerts among the rows (indices into records and X, ascending) whose scores s
        passed the threshold thr: an allowlisted row is counted, never alerted; the
        others are suppressed per key (wirescore.suppression) at packet time
        records[time_field] (µs). once: flow ids that alert at most once (an open
        flow's updates): a row of one already in it is passed over, one that alerts is
        added. Returns the alerts (index: the row, in row order) and, per row, whether
        it alerted or was suppressed (or passed over)."""
        p = self.profile
        decided = np.zeros(len(rows), dtype=bool)
        alerts: list[Alert] = []
        listed = allowed[rows]
        if listed.any():
            self.allowlisted += int(listed.sum())
        at = np.flatnonzero(~listed)
        if len(at) == 0:
            return alerts, decided
        live = rows[at]
        decided[at] = True
        tops = self._tops(X[live], mean, std) if p.suppress_per else None
        keys = suppress_keys(records, self.key_field, live, p.suppress_per, tops)
        times = records[time_field][live].astype(np.int64)
        window_us = p.suppress_seconds * 1e6
        if once is None:
            found, quiet = first_alerts(self.last_alert, p.id, keys, times, window_us)
        else:
            found, quiet = first_alerts_once(self.last_alert, p.id, keys, times, window_us,
                                             self._once_ids(records[live]), once)
        self.suppressed += quiet
        for j in found:
            n, i = int(at[j]), int(live[j])
            score = float(s[n])
            alerts.append(Alert(i, p, score, thr, p.severity_for(score),
                                self._explain(X[i], records[i], mean, std)))
        return alerts, decided

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        """X scaled by the running range as it stands (X itself for an unscaled model)."""
        if not self.model.scaled:
            return X
        span = np.where(self.stats.hi > self.stats.lo, self.stats.hi - self.stats.lo, 1.0)
        return np.clip((X - self.stats.lo) / span, 0.0, 1.0)

    def _tops(self, Xc: np.ndarray, mean, std) -> list[str]:
        """The feature that made the score of each candidate row of Xc (transformed
        features): the model's most extreme quantity (its `top_many`, else its
        `contributions` row by row), else the one furthest from its mean in standard
        deviations as of the chunk start."""
        model = self.model.model
        top_many = getattr(model, "top_many", None)
        if top_many is not None:
            return top_many(Xc)
        contributions = getattr(model, "contributions", None)
        if contributions is not None:
            return [contributions(x)[0][0] for x in Xc]
        z = np.abs(Xc - mean) / np.where(std > 0, std, 1)
        return [self.profile.features[j] for j in np.argmax(z, axis=1).tolist()]

    def _explain(self, x, rec, mean, std) -> list[tuple[str, float, float]]:
        k = self.profile.explain
        contributions = getattr(self.model.model, "contributions", None)
        if k and contributions is not None:
            # the model says which quantities made the score (extreme: value, and how
            # many doublings beyond its reference), from the first sample on
            found = contributions(x)
            return [c for c in found[:k] if c[2] > 0] or found[:1]
        if k == 0 or self.stats.n < 2:
            return []
        z = np.where(std > 0, (x - mean) / np.where(std > 0, std, 1), 0.0)
        top = np.argsort(-np.abs(z), kind="stable")[:k]
        names = rec.dtype.names
        return [(self.profile.features[j],
                 float(rec[self.fields[j]] if self.fields[j] in names else x[j]), float(z[j]))
                for j in top.tolist()]


class _SetField:
    """A feature-set column in place of a catalogue Feature (its field: its name)."""

    def __init__(self, name: str):
        self.field = name


class FlowProfileDetector(ProfileDetector):
    """A flow profile (unit: flow) over batches of finished flows: alerts are suppressed
    per source address; allowlist rules match either address, either port, the
    protocol."""

    catalog = BY_NAME

    def __init__(self, profile: Profile):
        # a profile of a named feature set's columns (wirescore.featuresets: no `where`,
        # no evidence, rules.py checks) computes them from each whole batch
        self._set = None
        if profile.features and "." in profile.features[0] and \
                profile.features[0].split(".")[0] not in ("flow", "ctx", "app"):
            from wirescore.featuresets import SetMatrix

            self._set = SetMatrix(profile.features)
            self.catalog = {n: _SetField(n) for n in profile.features}
        super().__init__(profile)
        self.quiet_reads = quiet_reads(profile, self.fields)
        # flows alerted at an update, until they end: their later updates are not
        # scored and their end gives no second alert (one alert a flow, as without
        # updates); one id per alert, so as bounded as the alerts
        self.open_alerted: set[int] = set()

    def transform(self, records: np.ndarray) -> np.ndarray:
        if self._set is None:
            return super().transform(records)
        return transform_matrix(self._set(records), self.profile.transform)

    def process(self, records: np.ndarray) -> tuple[np.ndarray, list[Alert]]:
        """As ProfileDetector.process, over the records `where` admits (all without
        one); the others are neither scored (NaN) nor learned. A flow alerted at an
        update is scored, suppressed and learned as any, but not alerted again."""
        scores, alerts = self._process_where(records)
        return scores, self._once_more(records, alerts, self.open_alerted)

    def _process_where(self, records: np.ndarray) -> tuple[np.ndarray, list[Alert]]:
        where = self.profile.where
        if not where or len(records) == 0:
            return super().process(records)
        keep = np.ones(len(records), dtype=bool)
        for name, values in where:
            keep &= np.isin(records[name], values)
        idx = np.flatnonzero(keep)
        scores = np.full(len(records), np.nan)
        if len(idx) == 0:
            return scores, []
        part, alerts = super().process(records[idx])
        scores[idx] = part
        for a in alerts:
            a.index = int(idx[a.index])
        return scores, alerts

    def process_with_evidence(self, records: np.ndarray, evidence: np.ndarray
                              ) -> tuple[np.ndarray, list[Alert], list[Alert]]:
        """Scores and alerts of a batch of finished flows (as process) and the alerts
        over the batch's evidence records: attempt records (ATTEMPT_DTYPE; evidence:
        attempt) or flow update records (RECORD_DTYPE, reason none; evidence: update).
        The attempts unanswered and the updates that `where` admits are scored with the
        model as of the flows the core reported before them (report_us of the flows
        <= the attempt's ts_us or the update's report_us; wirescore.detect_evidence),
        never learned, and thresholded, allowlisted and suppressed with the flows' own
        state (time: the confirmation's, ts_us, or the update's packet, end_us).
        Evidence alert indices are into `evidence`."""
        p = self.profile
        attempts = p.evidence == "attempt"
        if len(evidence) == 0:
            scores, alerts = self.process(records)
            return scores, alerts, []
        if attempts:
            keep = evidence["answered"] == 0
        elif self.open_alerted:
            keep = ~np.isin(evidence["flow_id"], np.fromiter(self.open_alerted, np.uint64))
        else:
            keep = np.ones(len(evidence), dtype=bool)
        for name, values in p.where:
            keep &= np.isin(evidence[name], values)
        idx = None if keep.all() else np.flatnonzero(keep)
        ev = evidence if idx is None else evidence[idx]     # records of 1.7 kB: no copy
        admitted = np.ones(len(records), dtype=bool)
        for name, values in p.where:
            admitted &= np.isin(records[name], values)
        mine = np.flatnonzero(admitted)
        batch = (self._begin(records if len(mine) == len(records) else records[mine])
                 if len(mine) else None)
        before = np.concatenate([[0], np.cumsum(admitted, dtype=np.int64)])
        pos = np.searchsorted(records["report_us"],
                              ev["ts_us"] if attempts else ev["report_us"], side="right")
        found = self._interleave(
            ev, pos, before, (lambda c: self._advance(batch, c)) if batch else (lambda c: None),
            "ts_us" if attempts else "end_us", None if attempts else self.open_alerted)
        if idx is not None:
            for a in found:
                a.index = int(idx[a.index])
        scores = np.full(len(records), np.nan)
        alerts: list[Alert] = []
        if batch is not None:
            self._advance(batch, len(mine))
            part, alerts = self._finish(batch)
            scores[mine] = part
            for a in alerts:
                a.index = int(mine[a.index])
        return scores, self._once_more(records, alerts, self.open_alerted), found

    def _allowlisted(self, recs: np.ndarray) -> np.ndarray:
        return allowlist_hits(self.profile.allowlist, recs,
                              [address_words(recs["src_addr"]),
                               address_words(recs["dest_addr"])],
                              ports=(recs["src_port"], recs["dest_port"]),
                              proto=recs["proto"])


class WindowProfileDetector(ProfileDetector):
    """A window profile (unit: window) over the window records of its key: a record has
    one address (the key), no ports and no protocol, so an allowlist rule with a port
    or a protocol never matches one."""

    catalog = WINDOW_BY_NAME

    key_field = "addr"

    def __init__(self, profile: Profile):
        super().__init__(profile)
        # (key address, window start) of windows alerted at an early record, until the
        # window closes: their later early records are not scored and their closed
        # record gives no second alert; one entry per alert, so as bounded as the alerts
        self.early_alerted: set[tuple[bytes, int]] = set()

    def _once_ids(self, recs: np.ndarray) -> list:
        """An open window's key: its address and the window's start."""
        return list(zip((a.tobytes() for a in recs["addr"]), recs["start_us"].tolist()))

    def process(self, records: np.ndarray) -> tuple[np.ndarray, list[Alert]]:
        """As ProfileDetector.process over closed windows; a window alerted at an early
        record is scored, suppressed and learned as any, but not alerted again."""
        scores, alerts = super().process(records)
        return scores, self._once_more(records, alerts, self.early_alerted)

    def process_with_early(self, closed: np.ndarray, early: np.ndarray) -> list[tuple]:
        """(record, alert) pairs over a batch of closed windows and early records of
        this profile's key (evidence: early), in packet-time order: an early record is
        decided after the windows that closed before its window opened, before its own
        window's close, with the state as of the chunks those windows completed
        (wirescore.detect_evidence). Early records are never learned; they are
        thresholded, allowlisted and suppressed with the closed windows' own state, time
        the checkpoint packet (end_us); the first crossing of a (key, window) alerts,
        its later records are passed over."""
        if len(early) == 0:
            _, alerts = self.process(closed)
            return [(closed[a.index], a) for a in alerts]
        pos = np.searchsorted(closed["start_us"], early["start_us"], side="left")
        batch = self._begin(closed) if len(closed) else None
        found = self._interleave(
            early, pos, np.arange(len(closed) + 1),
            (lambda c: self._advance(batch, c)) if batch else (lambda c: None),
            "end_us", self.early_alerted)
        alerts: list[Alert] = []
        if batch is not None:
            self._advance(batch, len(closed))
            _, alerts = self._finish(batch)
        alerts = self._once_more(closed, alerts, self.early_alerted)
        out = [(closed[a.index], a) for a in alerts] + [(early[a.index], a) for a in found]
        out.sort(key=lambda pair: int(pair[0]["end_us"]))
        return out

    def _allowlisted(self, recs: np.ndarray) -> np.ndarray:
        return allowlist_hits(self.profile.allowlist, recs, [address_words(recs["addr"])])


class ArpProfileDetector(ProfileDetector):
    """An ARP profile (unit: arp) over ARP records: alerts are suppressed per sender
    MAC (a spoofer claims other hosts' addresses, a scanner may change its own);
    allowlist rules match the sender or target address; a port or protocol never
    matches."""

    catalog = ARP_BY_NAME
    time_field = "ts_us"

    key_field = "sender_mac"

    def _allowlisted(self, recs: np.ndarray) -> np.ndarray:
        return allowlist_hits(self.profile.allowlist, recs,
                              [address_words(recs["sender_ip"]),
                               address_words(recs["target_ip"])])


class Detector:
    """Every enabled profile: flow profiles over batches of finished flows, window
    profiles over the window records of their key, ARP profiles over ARP records, app
    profiles over app-layer events
    (with one first-seen table, app_rows rows in each of its two tables)."""

    def __init__(self, profiles: Sequence[Profile], app_rows: int = 1 << 16):
        profiles = [p for p in profiles if p.enabled]     # enabled: false -> checked only
        self.detectors = [FlowProfileDetector(p) for p in profiles if p.unit == "flow"]
        self.evidence_detectors = [d for d in self.detectors
                                   if d.profile.evidence == "attempt"]
        self.update_detectors = [d for d in self.detectors
                                 if d.profile.evidence == "update"]
        self.app_detectors = [AppProfileDetector(p) for p in profiles if p.unit == "app"]
        self.arp_detectors = [ArpProfileDetector(p) for p in profiles if p.unit == "arp"]
        self.app_rows = app_rows
        self._firstseen = None
        self._first_us: int | None = None
        self._extractors: dict = {}        # event kind -> its extractor (appkeys)
        self.window_detectors = [WindowProfileDetector(p) for p in profiles
                                 if p.unit == "window"]
        self.early_detectors = [d for d in self.window_detectors
                                if d.profile.evidence == "early"]
        lengths = {p.window_seconds for p in profiles if p.unit == "window"}
        if len(lengths) > 1:
            from wirescore.errors import WirescoreError

            raise WirescoreError("window profiles must share one window length for now; "
                                 f"found {sorted(lengths)} seconds")
        self.window_seconds = lengths.pop() if lengths else 0.0
        self.window_keys = tuple(sorted({p.window_key for p in profiles
                                         if p.unit == "window"}))

    def process_windows(self, windows: np.ndarray) -> list[tuple[np.ndarray, Alert]]:
        """Alerts of the window profiles, each with the window record it is about. Early
        records (early 1) are scored by the profiles with evidence: early
        (WindowProfileDetector.process_with_early); the others ignore them."""
        from wirescore._core.flowtable import WINDOW_KINDS

        out = []
        early = windows["early"] == 1
        for d in self.window_detectors:
            of_key = windows["kind"] == WINDOW_KINDS.index(d.profile.window_key)
            mine = windows[of_key & ~early]
            if d.profile.evidence == "early":
                out += d.process_with_early(mine, windows[of_key & early])
            elif len(mine):
                _, alerts = d.process(mine)
                out += [(mine[a.index], a) for a in alerts]
        return out

    def process_arp(self, records: np.ndarray) -> list[tuple[int, Alert]]:
        """Alerts of the ARP profiles over a batch of ARP records, each with its
        record's index, in record order."""
        out = []
        for d in self.arp_detectors:
            _, alerts = d.process(records)
            out += [(a.index, a) for a in alerts]
        out.sort(key=lambda pair: (pair[0], pair[1].profile.id))
        return out

    @property
    def firstseen(self):
        """The first-seen table (made on first use), or None without app profiles."""
        if self._firstseen is None and self.app_detectors:
            from wirescore._core.firstseen import FirstSeenTable

            self._firstseen = FirstSeenTable(self.app_rows)
        return self._firstseen

    def counters(self) -> dict:
        """Detection's own counters by dotted name: the first-seen tables' rows taken
        from a key still held (wirescore.firstseen_seen_replaced, _tally_replaced), when
        app profiles run."""
        if self._firstseen is None:
            return {}
        return {f"wirescore.firstseen_{table}_replaced": n
                for table, n in self._firstseen.replaced.items()}

    def process_app(self, kind: str, records: np.ndarray) -> list[AppAlert]:
        """Alerts of the app profiles over one batch of app-layer events of one kind
        (every event is observed, whichever profile alerts), in event order."""
        from wirescore.appkeys import EXTRACTORS

        table = self.firstseen
        if table is None or kind not in EXTRACTORS or len(records) == 0:
            return []
        extract = self._extractors.get(kind)
        if extract is None:
            extract = EXTRACTORS[kind]
            extract = self._extractors[kind] = extract() if isinstance(extract, type) else extract
        obs = extract(records)
        if not obs.rows:
            return []
        arr = obs.array()
        answers = table.observe(arr["ts_us"], arr["client"], arr["server"], arr["kind"],
                                arr["key"])
        if self._first_us is None:
            self._first_us = int(arr["ts_us"][0])
        cols = {name: arr[name] for name in arr.dtype.names}
        cols.update((name, answers[name]) for name in answers.dtype.names
                    if name != "pad")
        alerts = [a for d in self.app_detectors
                  for a in d.process(cols, obs.words, self._first_us)]
        alerts.sort(key=lambda a: (a.index, a.profile.id))
        return alerts

    @property
    def feature_sets(self) -> list[str]:
        """The named feature sets the flow profiles read (wirescore.featuresets)."""
        return [d._set.set.name for d in self.detectors if getattr(d, "_set", None)]

    @property
    def uses_context(self) -> bool:
        """Whether a flow profile reads endpoint context (a ctx.* feature column)."""
        return any(f.startswith("ctx.") for d in self.detectors for f in d.profile.features)

    @property
    def score_columns(self) -> list[str]:
        return [f"score.{d.profile.id}" for d in self.detectors]

    def process(self, records: np.ndarray, attempts: np.ndarray | None = None,
                updates: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], list[Alert]]:
        """Scores of every flow profile ({"score.<id>": one per record}) and their
        alerts, in record order, over a batch of finished flows; with the batch's
        attempt and update records, see process_with_evidence (their alerts dropped)."""
        scores, alerts, _, _ = self.process_with_evidence(records, attempts, updates)
        return scores, alerts

    def process_with_evidence(self, records: np.ndarray, attempts: np.ndarray | None,
                              updates: np.ndarray | None) -> tuple:
        """One batch of the core's flow output: finished flows (records), attempt
        records and flow update records, each in the order the core wrote them (None:
        none). Returns the flow profiles' scores ({"score.<id>": one per record}), their
        alerts over the flows (in record order) and over the attempts and the updates
        ((record index, alert) pairs, in record order). A profile with evidence: attempt
        or update decides its evidence between the flows the core reported before and
        after it (FlowProfileDetector.process_with_evidence)."""
        scores: dict[str, np.ndarray] = {}
        alerts: list[Alert] = []
        found: dict[str, list[tuple[int, Alert]]] = {"attempt": [], "update": []}
        for d in self.detectors:
            ev = {"attempt": attempts, "update": updates}.get(d.profile.evidence)
            if ev is None:
                s, a = d.process(records)
            else:
                s, a, e = d.process_with_evidence(records, ev)
                found[d.profile.evidence] += [(x.index, x) for x in e]
            scores[f"score.{d.profile.id}"] = s
            alerts += a
        alerts.sort(key=lambda a: (a.index, a.profile.id))
        for pairs in found.values():
            pairs.sort(key=lambda pair: (pair[0], pair[1].profile.id))
        return scores, alerts, found["attempt"], found["update"]
