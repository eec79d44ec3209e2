"""Detection quality against labels: metrics (numpy only), the evaluation run, reports.

Metrics, for scores (higher = more anomalous) and 0/1 labels (1 = attack):

- roc_auc: area under the ROC curve, ties counted half (the Mann-Whitney statistic);
  NaN when either class is absent. Equals sklearn.metrics.roc_auc_score.
- average_precision: sum over distinct score thresholds, from the highest, of
  (recall gained) * (precision there); NaN without attacks. Equals
  sklearn.metrics.average_precision_score.
- recall_at_fpr: the lowest threshold t that leaves at most fpr of the benign samples
  strictly above it (t = the (k+1)-th highest benign score, k = floor(fpr * benign)),
  and the share of attacks strictly above t. With ties at t the achieved false-positive
  rate is below fpr, never above.
- confusion: counts of (predicted, actual) pairs.

Profiles together ("combined", as benchmarks/eval_mix.py ranks them): each flow's
highest percentile, each profile's among the flows it scored (combined_scores), so a
flow ranks high when any profile ranks it high, as any profile's alert reaches the user;
percentiles are taken without labels.

scikit-learn is not needed here. evaluate() runs the pipeline over a capture with the
given profiles and scores every flow-level profile, and the profiles combined, on the
flows ending after `after`; write_plots() draws ROC and precision-recall curves with
matplotlib when it is installed.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from wirescore.errors import WirescoreError

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ metrics

def _prepare(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"{len(s)} scores but {len(y)} labels")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (benign) or 1 (attack)")
    return s, y.astype(np.int64)


def _counts(s: np.ndarray, y: np.ndarray):
    """Cumulative (true positives, false positives) at each distinct threshold, from
    the highest score down, and the thresholds."""
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last]
    fps = last + 1 - tps
    return tps, fps, s[last]


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates, thresholds), from (0, 0) at threshold
    +inf to (1, 1); a point per distinct score ("score >= threshold" is positive)."""
    s, y = _prepare(scores, labels)
    if len(s) == 0:
        return np.zeros(1), np.zeros(1), np.array([np.inf])
    tps, fps, thr = _counts(s, y)
    pos, neg = tps[-1], fps[-1]
    fpr = np.r_[0.0, fps / neg] if neg else np.r_[0.0, np.full(len(fps), np.nan)]
    tpr = np.r_[0.0, tps / pos] if pos else np.r_[0.0, np.full(len(tps), np.nan)]
    return fpr, tpr, np.r_[np.inf, thr]


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve (trapezoids: tied scores count half); NaN when the
    labels hold only one class or nothing."""
    s, y = _prepare(scores, labels)
    if len(s) == 0 or y.min() == y.max():
        return math.nan
    fpr, tpr, _ = roc_curve(s, y)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def precision_recall_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) at each distinct score, from the highest."""
    s, y = _prepare(scores, labels)
    if len(s) == 0:
        return np.ones(0), np.zeros(0), np.zeros(0)
    tps, fps, thr = _counts(s, y)
    pos = tps[-1]
    precision = tps / (tps + fps)
    recall = tps / pos if pos else np.full(len(tps), np.nan)
    return precision, recall, thr


def average_precision(scores, labels) -> float:
    """Sum of (recall_n - recall_{n-1}) * precision_n over the distinct thresholds;
    NaN without attacks."""
    precision, recall, _ = precision_recall_curve(scores, labels)
    if len(recall) == 0 or np.isnan(recall).any():
        return math.nan
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def recall_at_fpr(scores, labels, fpr: float = 0.01) -> tuple[float, float]:
    """(recall, threshold) at false-positive rate at most fpr (0 <= fpr <= 1); see the
    module docstring. (NaN, NaN) when a class is absent."""
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must lie in [0, 1], got {fpr}")
    s, y = _prepare(scores, labels)
    neg = np.sort(s[y == 0])[::-1]
    pos = s[y == 1]
    if len(neg) == 0 or len(pos) == 0:
        return math.nan, math.nan
    k = int(math.floor(fpr * len(neg) + 1e-9))
    threshold = -math.inf if k >= len(neg) else float(neg[k])
    return float((pos > threshold).mean()), threshold


def lowest_if_unscored(scores) -> np.ndarray:
    """Scores with NaN (a flow the profile's allowlist keeps from alerting has no score
    in --export) replaced by one less than the lowest real score, so those flows rank
    below every scored flow; all NaN: zeros."""
    s = np.asarray(scores, dtype=np.float64)
    nan = np.isnan(s)
    if not nan.any():
        return s
    finite = s[~nan]
    return np.where(nan, (finite.min() - 1.0) if len(finite) else 0.0, s)


def confusion(predicted, labels) -> dict[str, int]:
    """{"tp", "fp", "fn", "tn"} from boolean predictions and 0/1 labels."""
    p = np.asarray(predicted, dtype=bool).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    return {"tp": int((p & y).sum()), "fp": int((p & ~y).sum()),
            "fn": int((~p & y).sum()), "tn": int((~p & ~y).sum())}


def percentiles(scores) -> np.ndarray:
    """Each score's mid-rank percentile among `scores`, in [0, 1] (ties share one
    value): the share of scores below it plus half the share equal to it."""
    s = np.asarray(scores, dtype=np.float64)
    _values, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    below = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return (below[inverse] + 0.5 * counts[inverse]) / max(len(s), 1)


def combined_scores(columns) -> np.ndarray:
    """The profiles together: for each flow, its highest percentile (percentiles())
    over the score columns given, each taken among the flows that profile scored; a
    flow a profile does not score (NaN: its allowlist or its `where` keeps the flow
    out) has 0 from it. A profile that scores only ICMP echo flows thus ranks its
    ordinary echo flows in the middle of its own, not above every flow it never saw.

    >>> combined_scores([[0.1, 0.9, 0.5], [3.0, 1.0, 2.0]]).round(3).tolist()
    [0.833, 0.833, 0.5]
    >>> combined_scores([[0.1, 0.9, 0.5], [np.nan, np.nan, 2.0]]).round(3).tolist()
    [0.167, 0.833, 0.5]
    """
    out = []
    for c in columns:
        c = np.asarray(c, dtype=np.float64)
        scored = ~np.isnan(c)
        pct = np.zeros(len(c))
        pct[scored] = percentiles(c[scored]) if scored.any() else 0.0
        out.append(pct)
    return np.max(out, axis=0)


def _num(x: float, digits: int = 4):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, digits)


# ------------------------------------------------------------------ the evaluation run

def evaluate(capture: str | Path, labels_path: str | Path, profiles: Sequence,
             after: float | None = None, fpr: float = 0.01,
             config_path: str | Path | None = None, log_dir: str | Path | None = None):
    """Run the pipeline over a capture with `profiles` and measure every flow profile,
    and the flow profiles combined (combined_scores) when there are several.

    after: only flows that end after this time (epoch seconds) are counted, e.g. the
    end of a training period; None counts every flow. Returns (result, curves):
    result is a JSON-ready dict (see `wirescore eval --help`), curves maps a profile's
    label to (scores, labels) of the counted flows, for write_plots().
    """
    from wirescore.flowset import flows_from_capture
    from wirescore.labels import Labels

    labels = Labels(labels_path)            # read first: a bad file fails before the run
    tally = _AlertTally()
    flows, summary = flows_from_capture(capture, config_path, list(profiles), log_dir,
                                        tally, columns=())
    attacks = labels.attacks(flows)
    y_all = labels.y(attacks)
    mask = np.ones(len(flows), dtype=bool) if after is None else flows.end > after
    counted = _Counted(y_all[mask], np.array(attacks, dtype=object)[mask],
                       flows.flow_id[mask], fpr)
    result = {
        "capture": str(capture), "labels": str(labels_path), "after": after, "fpr": fpr,
        "flows": len(flows), "attack_flows": int(y_all.sum()),
        "label_rows": labels.rows, "label_rows_matched": len(labels.matched_rows),
        "scored_flows": int(mask.sum()), "scored_attack_flows": int(counted.y.sum()),
        "profiles": [], "window_profiles": [], "combined": None,
    }
    curves, ranked = {}, []
    for p in profiles:
        if not p.enabled:
            log.warning("profile %d (%s) has enabled: false: not run, not evaluated",
                        p.id, p.name)
        elif p.unit != "flow":
            result["window_profiles"].append({"id": p.id, "name": p.name,
                                              "model": p.model["name"],
                                              "alerts": tally.counts.get(p.id, 0)})
        else:
            s = _scores(p, flows.columns[f"score.{p.id}"][mask])
            entry, predicted = _measure_profile(p, s, counted, tally)
            result["profiles"].append(entry)
            curves[f"{p.id} {p.model['name']}"] = (s, counted.y)
            ranked.append((p.id, flows.columns[f"score.{p.id}"][mask], predicted))
    if len(ranked) > 1:
        result["combined"], s = _measure_combined(ranked, counted)
        curves["combined"] = (s, counted.y)
    result["seconds"] = round(summary.elapsed, 2)
    return result, curves


class _AlertTally:
    """on_alert: alerts per signature id, and the flows each flow profile alerted."""

    def __init__(self):
        self.counts: dict[int, int] = {}          # window alerts have no flow
        self.flows: dict[int, set] = {}

    def __call__(self, event: dict) -> None:
        sid = event["alert"]["signature_id"]
        self.counts[sid] = self.counts.get(sid, 0) + 1
        if "flow_id" in event:
            self.flows.setdefault(sid, set()).add(event["flow_id"])

    def alerted(self, sid: int, flow_ids: np.ndarray) -> np.ndarray:
        return np.isin(flow_ids, np.fromiter(self.flows.get(sid, ()), dtype=np.uint64))


class _Counted:
    """The flows that count (ending after `after`): labels, attack names, flow ids."""

    def __init__(self, y: np.ndarray, attack_names: np.ndarray, flow_ids: np.ndarray,
                 fpr: float):
        self.y, self.attack_names, self.flow_ids, self.fpr = y, attack_names, flow_ids, fpr
        self.types = sorted({a for a in attack_names if a})

    def ranking(self, s: np.ndarray, predicted: np.ndarray, alerted=None) -> dict:
        """ROC AUC, AP, recall at fpr and per-attack recall of scores s, and the
        confusion of the predictions."""
        rec, thr_fpr = recall_at_fpr(s, self.y, self.fpr) if len(s) else (math.nan, math.nan)
        above = s > thr_fpr if not math.isnan(thr_fpr) else np.zeros(len(s), dtype=bool)
        per_attack = {}
        for t in self.types:
            sel = self.attack_names == t
            per_attack[t] = {"flows": int(sel.sum()),
                             "recall_at_fpr": _num(float(above[sel].mean())),
                             "recall_at_threshold": _num(float(predicted[sel].mean()))}
            if alerted is not None:
                per_attack[t]["alerted"] = int(alerted[sel].sum())
        return {"roc_auc": _num(roc_auc(s, self.y)),
                "average_precision": _num(average_precision(s, self.y)),
                "recall_at_fpr": _num(rec),
                "fpr_threshold": None if math.isnan(thr_fpr) or math.isinf(thr_fpr)
                else round(thr_fpr, 6),
                "confusion": confusion(predicted, self.y), "per_attack": per_attack}


def _scores(p, s: np.ndarray) -> np.ndarray:
    nan = np.isnan(s)
    if nan.any():
        log.info("profile %d: %d flows without a score (its allowlist keeps them from "
                 "alerting) count as the lowest score", p.id, int(nan.sum()))
    return lowest_if_unscored(s)


def _measure_profile(p, s: np.ndarray, counted: _Counted, tally: _AlertTally):
    """(result entry, predicted) of one flow profile's scores s of the counted flows."""
    was_alerted = tally.alerted(p.id, counted.flow_ids)
    if p.threshold_fixed is not None:
        predicted, basis = s > p.threshold_fixed, f"score > {p.threshold_fixed:g} (fixed)"
        threshold = {"fixed": p.threshold_fixed}
    else:
        predicted, basis = was_alerted, "alerted (adaptive threshold)"
        threshold = {"quantile": p.threshold_quantile,
                     "min": p.threshold_min if math.isfinite(p.threshold_min) else None,
                     "window": p.threshold_window}      # JSON has no -Infinity
    ranking = counted.ranking(s, predicted, was_alerted)
    per_attack = ranking.pop("per_attack")
    entry = {"id": p.id, "name": p.name, "model": p.model["name"], "source": p.source,
             "threshold": threshold, **ranking, "confusion_basis": basis,
             "confusion_alerts": confusion(was_alerted, counted.y),
             "alerts": tally.counts.get(p.id, 0), "per_attack": per_attack}
    return entry, predicted


def _measure_combined(ranked: list, counted: _Counted) -> tuple[dict, np.ndarray]:
    """The flow profiles together: ranked by combined_scores (of the scores as the
    profiles gave them, NaN where one gave none), predicted when any
    profile predicts (its fixed threshold, or its alerts)."""
    s = combined_scores([scores for _, scores, _ in ranked])
    predicted = np.any([pred for _, _, pred in ranked], axis=0)
    entry = {"profiles": [pid for pid, _, _ in ranked], **counted.ranking(s, predicted),
             "confusion_basis": "any profile's prediction"}
    return entry, s


def format_report(result: dict) -> str:
    """The human-readable report of an evaluate() result."""
    from datetime import datetime, timezone

    fpr_pct = f"{100 * result['fpr']:g}%"
    when = "every flow" if result["after"] is None else (
        "flows ending after " + datetime.fromtimestamp(result["after"], timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    lines = [f"{result['capture']}: {result['flows']} flows, {result['attack_flows']} "
             f"labelled attack ({result['label_rows_matched']} of {result['label_rows']} "
             f"label rows matched); scored: {when}: {result['scored_flows']} flows, "
             f"{result['scored_attack_flows']} attack",
             f"{'profile':<9} {'model':<8} {'ROC AUC':>7} {'AP':>6} "
             f"{'R@' + fpr_pct + 'FPR':>9}  {'TP':>5} {'FP':>6} {'FN':>5} {'TN':>6}  "
             "confusion at the profile's threshold"]
    for p in result["profiles"]:
        lines.append(_row(str(p["id"]), p["model"][:8], p) + f"  {p['confusion_basis']}; "
                     f"{p['alerts']} alerts in the run")
    combined = result.get("combined")
    if combined:
        lines.append(_row("combined", "max pct", combined) + "  any profile's prediction "
                     f"({', '.join(str(i) for i in combined['profiles'])}: each flow's "
                     "highest percentile)")
    for w in result["window_profiles"]:
        lines.append(f"{w['id']:<9} {w['model'][:8]:<8} (window profile: no per-flow score) "
                     f"{w['alerts']} alerts in the run")
    lines += _per_attack_table(result, fpr_pct)
    return "\n".join(lines)


def _cell(x, width: int, digits: int = 3) -> str:
    return f"{'-':>{width}}" if x is None else f"{x:>{width}.{digits}f}"


def _row(label: str, model: str, m: dict) -> str:
    """One line of the table: the ranking figures and the confusion counts."""
    c = m["confusion"]
    return (f"{label:<9} {model:<8} {_cell(m['roc_auc'], 7)} "
            f"{_cell(m['average_precision'], 6)} {_cell(m['recall_at_fpr'], 9)}  "
            f"{c['tp']:>5} {c['fp']:>6} {c['fn']:>5} {c['tn']:>6}")


def _per_attack_table(result: dict, fpr_pct: str) -> list[str]:
    """Recall per attack type, one column per profile (and the profiles combined)."""
    columns = [(str(p["id"]), p) for p in result["profiles"]]
    if result.get("combined"):
        columns.append(("combined", result["combined"]))
    if not columns or not columns[0][1]["per_attack"]:
        return []
    lines = [f"recall per attack type at {fpr_pct} FPR / at the profile's threshold:",
             f"  {'attack':<28} {'flows':>5}  " + "  ".join(f"{c:>13}" for c, _ in columns)]
    for t in sorted(columns[0][1]["per_attack"]):
        cells = []
        for _, m in columns:
            a = m["per_attack"][t]
            cells.append(f"{a['recall_at_fpr']:>6.2f}/{a['recall_at_threshold']:<6.2f}")
        flows = columns[0][1]["per_attack"][t]["flows"]
        lines.append(f"  {t[:28]:<28} {flows:>5}  " + "  ".join(cells))
    return lines


# ------------------------------------------------------------------ plots

def plotting_available() -> None:
    """Raise a one-line WirescoreError when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise WirescoreError("--plots needs matplotlib (pip install 'wirescore[train]' "
                             "or pip install matplotlib)") from None


def write_plots(curves: dict, out_dir: str | Path) -> list[Path]:
    """roc.png and pr.png in out_dir (created if missing): one curve per profile, its
    label with the ROC AUC / average precision. Returns the paths written."""
    plotting_available()
    from matplotlib.figure import Figure     # no pyplot: no global state, no display

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WirescoreError(f"{out}: cannot create plot folder: {exc.strerror}") from None
    written = []
    for kind in ("roc", "pr"):
        fig = Figure(figsize=(6, 5), dpi=100)
        ax = fig.add_subplot()
        for label, (s, y) in curves.items():
            if kind == "roc":
                fx, fy, _ = roc_curve(s, y)
                ax.plot(fx, fy, label=f"{label} (AUC {roc_auc(s, y):.3f})")
            else:
                precision, recall, _ = precision_recall_curve(s, y)
                ax.step(np.r_[0.0, recall], np.r_[precision[:1] if len(precision) else [1.0],
                                                  precision], where="post",
                        label=f"{label} (AP {average_precision(s, y):.3f})")
        if kind == "roc":
            ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
            ax.set_xlabel("false-positive rate")
            ax.set_ylabel("true-positive rate (recall)")
            ax.set_title("ROC")
        else:
            prevalence = next((float(np.mean(y)) for s, y in curves.values() if len(y)), 0.0)
            ax.axhline(prevalence, linestyle=":", color="grey", label="chance")
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
            ax.set_title("Precision-recall")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower right" if kind == "roc" else "upper right", fontsize="small")
        path = out / f"{kind}.png"
        try:
            fig.savefig(path)
        except OSError as exc:
            raise WirescoreError(f"{path}: cannot write: {exc.strerror}") from None
        written.append(path)
    return written
