"""Detection quality on the public evaluation mix (../shared/data/eval/, see its README).

    python benchmarks/eval_mix.py [--pcap mix-public.pcap] [--rules PATH] [--json]

Runs `wirescore run --export` on the mix, joins every exported flow to the labels
(community_id, and time overlap within 1 s, as the mix's README describes), and reports
for each flow-level profile, on the flows that end after the training period:
ROC AUC, average precision, recall at 1 % false-positive rate (from the score.<id>
columns), plus, from eve.json, how many attack types raised at least one alert and
how many alerts fell on background traffic. The reference detectors' numbers from
the mix's README are printed beside them. Unsupervised: nothing here is fitted to the
labels.
"""
from __future__ import annotations

import argparse
import calendar
import csv
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"
REFERENCES = [  # from ../shared/data/eval/README.md (measured 2026-11-23)
    ("NFStream + River MinMax + HST", 0.479, 0.126, 0.002),
    ("NFStream + IsolationForest", 0.435, 0.117, 0.001),
    ("netml IAT + OCSVM", 0.543, 0.078, 0.000),
]


def eve_time(text: str) -> float:
    """'2024-01-01T00:00:00.123456+0000' -> epoch seconds."""
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) + float(text[19:26])


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney U with average ranks for ties."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = labels.sum()
    neg = len(labels) - pos
    return float((ranks[labels == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    order = np.argsort(-scores, kind="mergesort")
    y = labels[order]
    precision = np.cumsum(y) / np.arange(1, len(y) + 1)
    return float((precision * y).sum() / y.sum())


def recall_at_fpr(scores: np.ndarray, labels: np.ndarray, fpr: float = 0.01) -> float:
    threshold = np.quantile(scores[labels == 0], 1 - fpr)
    return float((scores[labels == 1] > threshold).mean())


def load_labels(path: Path):
    """(by community_id, by address): lists of (first_ts, last_ts, attack)."""
    by_cid = defaultdict(list)
    by_addr = defaultdict(list)
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            span = (float(row["first_ts"]), float(row["last_ts"]), row["attack"])
            by_cid[row["community_id"]].append(span)
            for endpoint in (row["endpoint_a"], row["endpoint_b"]):
                by_addr[endpoint.rsplit(":", 1)[0].strip("[]")].append(span)
    return by_cid, by_addr


def label_of(by_cid, cid: str, start: float, end: float) -> str:
    for first, last, attack in by_cid.get(cid, ()):
        if start <= last + 1 and end >= first - 1:
            return attack
    return ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--rules", help="profiles to evaluate (default: the shipped ones)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    pcap = args.eval_dir / "mix-public.pcap"
    if not pcap.exists():
        print(f"eval_mix: {pcap} not found (needs ../shared/data/eval)", file=sys.stderr)
        return 2
    summary = json.loads((args.eval_dir / "mix-public.summary.json").read_text())
    train_end = summary["train_end_ts"]
    by_cid, by_addr = load_labels(args.eval_dir / "mix-public.labels.csv")
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "flows.csv"
        cmd = [sys.executable, "-m", "wirescore", "-q", "run", "-r", str(pcap), "-l", tmp,
               "--export", str(export)] + (["--rules", args.rules] if args.rules else [])
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        elapsed = time.perf_counter() - t0
        with open(export, newline="") as fh:
            rows = list(csv.DictReader(fh))
        alerts = [json.loads(line) for line in open(Path(tmp) / "eve.json")
                  if '"event_type":"alert"' in line]
    score_cols = [c for c in rows[0] if c.startswith("score.")] if rows else []
    attack = [label_of(by_cid, r["community_id"], eve_time(r["start"]), eve_time(r["end"]))
              for r in rows]
    y = np.array([1 if a else 0 for a in attack])
    ends = np.array([eve_time(r["end"]) for r in rows])
    test = ends > train_end
    result = {"flows": len(rows), "attack_flows_matched": int(y.sum()),
              "test_flows": int(test.sum()), "test_attack_flows": int(y[test].sum()),
              "seconds": round(elapsed, 2), "profiles": {}}
    alert_attack = defaultdict(int)
    alerts_background = 0
    for ev in alerts:
        if "flow" in ev:
            a = label_of(by_cid, ev["community_id"], eve_time(ev["flow"]["start"]),
                         eve_time(ev["flow"]["end"]))
        else:   # a window alert: its key address took part in an attack flow then
            window = ev["alert"]["metadata"]["wirescore_window"][0].split()
            addr = ev.get("src_ip") or ev.get("dest_ip") or ""
            a = label_of({addr: by_addr.get(addr, [])}, addr, eve_time(window[1]),
                         eve_time(window[2]))
        if a:
            alert_attack[a] += 1
        else:
            alerts_background += 1
    attack_types = sorted({a for a in attack if a})
    for col in score_cols:
        s = np.array([float(r[col]) for r in rows])
        result["profiles"][col] = {
            "roc_auc": round(roc_auc(s[test], y[test]), 4),
            "average_precision": round(average_precision(s[test], y[test]), 4),
            "recall_at_1pct_fpr": round(recall_at_fpr(s[test], y[test]), 4),
        }
    result["alerts"] = len(alerts)
    result["alerts_on_background"] = alerts_background
    result["attack_types"] = len(attack_types)
    result["attack_types_alerted"] = sorted(alert_attack)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"flows {result['flows']} (attack {result['attack_flows_matched']}); scored after "
          f"the training period: {result['test_flows']} (attack {result['test_attack_flows']}); "
          f"run {elapsed:.1f} s")
    print(f"{'detector':<40} {'ROC AUC':>8} {'AP':>7} {'R@1%FPR':>8}")
    for col, m in result["profiles"].items():
        print(f"{'wirescore ' + col:<40} {m['roc_auc']:>8.3f} {m['average_precision']:>7.3f} "
              f"{m['recall_at_1pct_fpr']:>8.3f}")
    for name, auc, apv, rec in REFERENCES:
        print(f"{name + ' (reference)':<40} {auc:>8.3f} {apv:>7.3f} {rec:>8.3f}")
    per_sig = defaultdict(int)
    for ev in alerts:
        per_sig[ev["alert"]["signature_id"]] += 1
    print(f"alerts: {len(alerts)} ({', '.join(f'{k}: {v}' for k, v in sorted(per_sig.items()))}), "
          f"on background: {alerts_background}; attack types with an alert: "
          f"{len(alert_attack)} of {len(attack_types)} ({', '.join(sorted(alert_attack))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
