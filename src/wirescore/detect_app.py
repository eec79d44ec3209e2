"""App profiles (unit: app, model firstseen): alerts over the first-seen answers of
app-layer observations (wirescore.detect's Detector runs them; module docstring there)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wirescore.rules import Profile


@dataclass
class AppAlert:
    """One alert of an app profile: the event's index in its batch, the observation
    (an appkeys.OBS_DTYPE record, its columns and the first-seen answer), and what was
    new, in words."""

    index: int
    profile: Profile
    score: float
    threshold: float
    severity: int
    observation: dict
    message: str


class AppProfileDetector:
    """An app profile (unit: app, model firstseen) over the observations of its kind."""

    def __init__(self, profile: Profile):
        from wirescore.appkeys import BY_NAME, KIND_ID

        self.profile = profile
        self.model = profile.take_model()
        self.kind_id = KIND_ID[self.model.kind]
        self.message = BY_NAME[self.model.kind].message
        self.last_alert: dict[tuple[bytes, int], int] = {}    # (client, scope)
        self.alerts = self.suppressed = 0

    def process(self, cols: dict, words, since_us: int) -> list[AppAlert]:
        """Alerts over one batch's observations (cols: every column, answers included,
        one entry per observation; words(i): (client, server, key) of observation i as
        text); since_us: the table's first observation (packet time)."""
        p = self.profile
        mine = np.flatnonzero(cols["kind"] == self.kind_id)
        if len(mine) == 0:
            return []
        part = {name: col[mine] for name, col in cols.items()}
        scores, counts = self.model.score(part), self.model.counted(part)
        thr = p.threshold_fixed if p.threshold_fixed is not None else 0.0
        hits = np.flatnonzero((scores > thr)
                              & (part["ts_us"] - since_us >= self.model.warmup_us))
        out = []
        for j in hits.tolist():
            ts = int(part["ts_us"][j])
            client = (part["client"][j].tobytes(), int(part["scope"][j]))
            last = self.last_alert.get(client)
            if last is not None and abs(ts - last) < p.suppress_seconds * 1e6:
                self.suppressed += 1
                continue
            self.last_alert[client] = ts
            i = int(mine[j])
            row = {name: col[j].item() for name, col in part.items() if col.ndim == 1}
            row["count"] = int(counts[j])
            row["calls"] = row["pair_count_before"] + 1
            row["keys"] = row["pair_keys_before"] + row["pair_new"]
            c, s, k = words(i)
            row.update(client=c, server=s, key=k)
            score = float(scores[j])
            out.append(AppAlert(int(part["row"][j]), p, score, thr, p.severity_for(score),
                                row, self.message.format(**row)))
        self.alerts += len(out)
        return out
