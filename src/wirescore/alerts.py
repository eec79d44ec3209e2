"""The detection stage of a run: finished flows and traffic windows through the
Detector (wirescore.detect), out as batches of EVE alert events for the sinks.

    stage = AlertStage(Detector(load_profiles(cfg)), FlowEventFormatter(), Timestamps())
    stage.hold_attempts(records)       # attempt records, decided with the next flows
    stage.hold_updates(records)        # flow update records, likewise
    out = stage.flows(records)         # FlowOutput: the AttemptAlertBatch and the
                                       # UpdateAlertBatch (None when nothing alerted),
                                       # then the FlowBatch (records, scores, alerts)
    batch = stage.windows(windows)     # WindowBatch, or None when nothing alerted
    batch = stage.app(app_batch)       # AppAlertBatch, or None when nothing alerted
    batch = stage.arp(arp_records)     # AppAlertBatch, or None when nothing alerted

The core hands over a batch's attempt and update records before its finished flows;
they are held until the flows come and decided with them in the order the core wrote
them (wirescore.detect.Detector.process_with_evidence), so alerts do not depend on
where batches were cut.

A flow alert's event carries the flow's identity and flow object, stamped when the flow
ended; a window alert's the window's key and bounds; an app alert's the event's flow
identity (client as src), stamped at the event's packet; an ARP alert's the frame's sender
and target, stamped at the frame; an attempt alert's the attempt's flow identity, stamped at
its confirmation; an update alert's the open flow's identity, stamped at the update's
packet (wirescore.outputs.eve).

When a profile's model (or anything else inside the Detector) raises, the stage raises a
StageFailure naming the profile whose code was running: "profile 9100002 (model tail):
ValueError: ..." (the innermost frame of the traceback that works for a profile, i.e.
whose `self.profile` is a rules.Profile); "detection: ..." when no such frame exists.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from wirescore.errors import StageFailure
from wirescore.outputs.eve import alert_event, app_alert_event, arp_alert_event, window_alert_event
from wirescore.outputs.eve import add_ether, attempt_alert_event, update_alert_event
from wirescore.outputs.sinks import (AlertEvent, AppAlertBatch, AttemptAlertBatch, FlowBatch,
                                     UpdateAlertBatch, WindowBatch)


class FlowOutput(NamedTuple):
    """What AlertStage.flows decides over one batch of the core's flow output."""

    attempts: Optional[AttemptAlertBatch]     # alerts at confirmed attempts (or None)
    updates: Optional[UpdateAlertBatch]       # alerts at updates of open flows (or None)
    flows: FlowBatch


def load_profiles(cfg) -> Optional[list]:
    """The profiles the detect.rules setting names (default: the shipped rules/), or
    None when detection is off."""
    if not cfg["detect.enabled"]:
        return None
    from wirescore.rules import default_rules_dir, load_paths

    paths = cfg["detect.rules"].split(",") if cfg["detect.rules"] else [default_rules_dir()]
    return load_paths(paths)


class AlertStage:
    """Detection over batches; see the module docstring. detector: a
    wirescore.detect.Detector; formatter / ts: the run's FlowEventFormatter and
    Timestamps (caches only: any instance gives the same text)."""

    def __init__(self, detector, formatter, ts):
        self.detector = detector
        self.formatter = formatter
        self.ts = ts
        # flows an app profile, an attempt or an update alert is about, until they end (their flow
        # event then says "alerted": true); one id per alert, so as bounded as the alerts
        self.app_alerted: set[int] = set()
        self._held: dict[str, list[np.ndarray]] = {"attempts": [], "updates": []}

    def _detect(self, method, *args):
        """method(*args) of the Detector; what it raises becomes a StageFailure naming
        the profile at fault (culprit)."""
        try:
            return method(*args)
        except Exception as exc:
            raise StageFailure(culprit(exc), exc) from exc

    def hold_attempts(self, records: np.ndarray) -> None:
        """Attempt records, held until the next flows() (see the module docstring)."""
        if len(records):
            self._held["attempts"].append(records)

    def hold_updates(self, records: np.ndarray) -> None:
        """Flow update records, held until the next flows()."""
        if len(records):
            self._held["updates"].append(records)

    @property
    def holding(self) -> bool:
        """Whether evidence records wait for flows()."""
        return bool(self._held["attempts"] or self._held["updates"])

    def _take(self, kind: str) -> Optional[np.ndarray]:
        held, self._held[kind] = self._held[kind], []
        if not held:
            return None
        return held[0] if len(held) == 1 else np.concatenate(held)

    def flows(self, records: np.ndarray) -> FlowOutput:
        """Finished flows with the attempt and update records held since the last call:
        the alerts of the profiles over each, and the flows' batch (scores, alerted)."""
        attempts, updates = self._take("attempts"), self._take("updates")
        scores, found, at_attempts, at_updates = self._detect(
            self.detector.process_with_evidence, records, attempts, updates)
        # first the open flows' alerts: a flow alerted at an update that ends in this
        # batch is marked alerted in its flow event
        att = self._open_flow_alerts(at_attempts, attempts, attempt_alert_event,
                                     AttemptAlertBatch, "ts_us")
        upd = self._open_flow_alerts(at_updates, updates, update_alert_event,
                                     UpdateAlertBatch, "end_us")
        alerts, alerted = [], None
        by_app = None
        if self.app_alerted and len(records):
            ids = records["flow_id"]
            by_app = np.isin(ids, np.fromiter(self.app_alerted, np.uint64))
            self.app_alerted.difference_update(ids[by_app].tolist())
            if not by_app.any():
                by_app = None
        if found or by_app is not None:
            alerted = np.zeros(len(records), dtype=bool) if by_app is None else by_app
            alerted[[a.index for a in found]] = True
            for a in found:
                flow = next(iter(self.formatter.events(records[a.index:a.index + 1], [True])))
                alerts.append(AlertEvent(alert_event(flow, a, flow["flow"]["end"]),
                                         a.profile.id, records[a.index],
                                         int(records["end_us"][a.index])))
        return FlowOutput(att, upd, FlowBatch(records, self.formatter, scores, alerts,
                                              alerted))

    def windows(self, windows: np.ndarray) -> Optional[WindowBatch]:
        if len(windows) == 0:
            return None
        found = self._detect(self.detector.process_windows, windows)
        if not found:
            return None
        return WindowBatch([AlertEvent(window_alert_event(w, a, self.ts, self.formatter.seed),
                                       a.profile.id, w,
                                       int(w["end_us"])) for w, a in found])

    def arp(self, records: np.ndarray) -> Optional[AppAlertBatch]:
        """Alerts of the ARP profiles over ARP records; each AlertEvent's record is the
        ARP record, whose flow_id finds the sender's ARP frames in the ring."""
        found = self._detect(self.detector.process_arp, records)
        if not found:
            return None
        return AppAlertBatch([AlertEvent(arp_alert_event(records[i], a, self.ts),
                                         a.profile.id, records[i], int(records["ts_us"][i]))
                              for i, a in found])

    def app(self, batch) -> Optional[AppAlertBatch]:
        """Alerts of the app profiles over an AppBatch (events of one kind)."""
        found = self._detect(self.detector.process_app, batch.kind, batch.records)
        if not found:
            return None
        self.app_alerted.update(int(batch.records["flow_id"][a.index]) for a in found)
        return AppAlertBatch([AlertEvent(app_alert_event(batch.events[a.index], a, self.ts),
                                         a.profile.id, batch.records[a.index],
                                         int(a.observation["ts_us"]))
                              for a in found])

    def _open_flow_alerts(self, found: list, records: Optional[np.ndarray], event,
                          batch_type, stamp: str):
        """batch_type of the alerts found ((record index, alert) pairs) about open
        flows (attempts, updates), each event(record, alert, ts), stamped at the
        record's field `stamp` (µs); None when nothing alerted. Their flows are marked
        alerted until they end."""
        if not found:
            return None
        self.app_alerted.update(int(records["flow_id"][i]) for i, _ in found)
        seed = self.formatter.seed          # the flow lines' Community ID seed
        out = []
        for i, a in found:
            ev = event(records[i], a, self.ts, seed)
            if self.formatter.ether:
                add_ether(ev, records[i])
            out.append(AlertEvent(ev, a.profile.id, records[i], int(records[stamp][i])))
        return batch_type(out)


def culprit(exc: BaseException) -> str:
    """'profile <id> (model <name>)' of the innermost traceback frame working for a
    profile (its `self.profile` is a rules.Profile), else 'detection'."""
    from wirescore.rules import Profile

    found = None
    tb = exc.__traceback__
    while tb is not None:
        profile = getattr(tb.tb_frame.f_locals.get("self"), "profile", None)
        if isinstance(profile, Profile):
            found = profile
        tb = tb.tb_next
    if found is None:
        return "detection"
    return f"profile {found.id} (model {found.model_label})"
