"""The detection stage of a run: finished flows and traffic windows through the
Detector (wirescore.detect), out as batches of EVE alert events for the sinks.

    stage = AlertStage(Detector(load_profiles(cfg)), FlowEventFormatter(), Timestamps())
    batch = stage.flows(records)       # FlowBatch: records, scores, alerts, alerted
    batch = stage.windows(windows)     # WindowBatch, or None when nothing alerted
    batch = stage.app(app_batch)       # AppAlertBatch, or None when nothing alerted
    batch = stage.arp(arp_records)     # AppAlertBatch, or None when nothing alerted
    batch = stage.attempts(records)    # AttemptAlertBatch, or None when nothing alerted
    batch = stage.updates(records)     # UpdateAlertBatch, or None when nothing alerted

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

from typing import Optional

import numpy as np

from wirescore.errors import StageFailure
from wirescore.outputs.eve import alert_event, app_alert_event, arp_alert_event, window_alert_event
from wirescore.outputs.eve import add_ether, attempt_alert_event, update_alert_event
from wirescore.outputs.sinks import (AlertEvent, AppAlertBatch, AttemptAlertBatch, FlowBatch,
                                     UpdateAlertBatch, WindowBatch)


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

    def _detect(self, method, *args):
        """method(*args) of the Detector; what it raises becomes a StageFailure naming
        the profile at fault (culprit)."""
        try:
            return method(*args)
        except Exception as exc:
            raise StageFailure(culprit(exc), exc) from exc

    def flows(self, records: np.ndarray) -> FlowBatch:
        scores, found = self._detect(self.detector.process, records)
        alerts, alerted = [], None
        by_app = None
        if self.app_alerted:
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
        return FlowBatch(records, self.formatter, scores, alerts, alerted)

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

    def attempts(self, records: np.ndarray) -> Optional[AttemptAlertBatch]:
        """Alerts of the flow profiles with evidence: attempt over attempt records; each
        AlertEvent's record is the attempt record (its client's packets in the ring are
        the snippet)."""
        return self._open_flow_alerts(self.detector.process_attempts, records,
                                      attempt_alert_event, AttemptAlertBatch, "ts_us")

    def updates(self, records: np.ndarray) -> Optional[UpdateAlertBatch]:
        """Alerts of the flow profiles with evidence: update over flow update records;
        each AlertEvent's record is the update record (the flow's packets in the ring up
        to it are the snippet)."""
        return self._open_flow_alerts(self.detector.process_updates, records,
                                      update_alert_event, UpdateAlertBatch, "end_us")

    def _open_flow_alerts(self, method, records: np.ndarray, event, batch_type,
                          stamp: str):
        """batch_type of the alerts method(records) finds about open flows (attempts,
        updates), each event(record, alert, ts), stamped at the record's field `stamp`
        (µs); None when nothing alerted. Their flows are marked alerted until they end."""
        found = self._detect(method, records)
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
