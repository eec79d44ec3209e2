"""Alert events of an engine run with the packet clock at which each was decided, for the
tests of alerts that come before a flow ends (attempts, updates).
"""
from __future__ import annotations


def decided_alerts(path, rules: list, log_dir, stages: tuple, overrides: dict) -> list:
    """The alert events of a run of the profiles in `rules` (paths) over the capture
    `path`, each with "decided_us": the packet clock when the engine's stage (one of
    `stages`, _Run method names: "flows", "attempts", "updates") handed it to the sinks,
    read after each call (a flow-end alert's timestamp is the flow's last packet, not
    when its report came). overrides: settings (Config.load)."""
    from wirescore import engine
    from wirescore.config import Config
    from wirescore.rules import load_paths

    events = []
    cfg = Config.load(overrides=overrides)
    run = engine.Engine(cfg, log_dir, profiles=load_paths([str(r) for r in rules]),
                        on_alert=events.append)
    saved = {name: getattr(engine._Run, name) for name in stages}

    def clocked(stage):
        def call(self, records):
            n = len(events)
            stage(self, records)
            for e in events[n:]:
                e["decided_us"] = int(round(self.meter.packet_clock * 1e6))
        return call

    try:
        for name, stage in saved.items():
            setattr(engine._Run, name, clocked(stage))
        run.run(str(path))
    finally:
        for name, stage in saved.items():
            setattr(engine._Run, name, stage)
    return events
