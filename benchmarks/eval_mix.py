"""Detection quality on the public evaluation mix (../shared/data/eval/, see its README).

    python benchmarks/eval_mix.py [--eval-dir DIR] [--rules PATH] [--json]
    python benchmarks/eval_mix.py --seeds 1,2,3,4,5 [--rules PATH] [--json]
    python benchmarks/eval_mix.py --seeds 1,2,3 --background-half 0   # or 1

Runs `wirescore run --export` on the mix, joins every exported flow to the labels
(protocol and endpoints, or the address pair for ICMP, and time overlap within 1 s,
as the mix's README describes: wirescore.labels, as `wirescore eval` does), and reports
for each flow-level profile, on the flows that end after the training period:
ROC AUC, average precision, recall at 1 % false-positive rate (from the score.<id>
columns; a flow a profile's allowlist keeps from alerting has no score and ranks below
every scored flow, as in `wirescore eval`), and the same for the profiles together
("combined": wirescore.evaluate.combined_scores, each flow's highest percentile, each
profile's among the flows it scored, as `wirescore eval` ranks them) and its operating
point (the flows over any profile's fixed threshold: recall and false-positive rate,
before suppression), plus, from eve.json, how many attack types raised at least one alert and
how many alerts fell on background traffic.
The reference detectors' numbers from the mix's README are printed beside them.
Unsupervised: nothing here is fitted to the labels.

--seeds rebuilds the mix with other seeds (../shared/tools/make_eval_mix.py, the
command of the mix's README with only --seed changed: the same background and attack
captures, placed at other times and with other remapped addresses, ~5 s per mix) in a
temporary folder and measures each, then prints every seed's numbers and their mean,
minimum and maximum. One mix's numbers depend on where its attacks fall: an attack
early in the test period meets a young reference, and a scan learnt then hides a later
one, so the spread over seeds says how much of a difference between two profile sets
is placement.
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

from shared_data import shared_or_exit, shared_path
from wirescore.evaluate import (average_precision, combined_scores, lowest_if_unscored,
                                 recall_at_fpr, roc_auc)
from wirescore.flowset import read_export
from wirescore.labels import Labels
from wirescore.rules import default_rules_dir, load_paths

EVAL = shared_path("data", "eval")
MAKE_MIX = shared_path("tools", "make_eval_mix.py")
METRICS = ("roc_auc", "average_precision", "recall_at_1pct_fpr")
REFERENCES = [  # from ../shared/data/eval/README.md (measured 2026-11-23)
    ("NFStream + River MinMax + HST", 0.479, 0.126, 0.002),
    ("NFStream + IsolationForest", 0.435, 0.117, 0.001),
    ("netml IAT + OCSVM", 0.543, 0.078, 0.000),
]


def eve_time(text: str) -> float:
    """'2024-01-01T00:00:00.123456+0000' -> epoch seconds."""
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) + float(text[19:26])


def addresses_of_attacks(path: Path) -> dict:
    """{address: [(first_ts, last_ts, attack)]} of every attack flow's endpoints."""
    by_addr = defaultdict(list)
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            span = (float(row["first_ts"]), float(row["last_ts"]), row["attack"])
            for endpoint in (row["endpoint_a"], row["endpoint_b"]):
                by_addr[endpoint.rsplit(":", 1)[0].strip("[]")].append(span)
    return by_addr


def window_attack(by_addr: dict, ev: dict) -> str:
    """The attack a window alert's key address took part in during its window ('')."""
    window = ev["alert"]["metadata"]["wirescore_window"][0].split()
    start, end = eve_time(window[1]), eve_time(window[2])
    addr = ev.get("src_ip") or ev.get("dest_ip") or ""
    for first, last, attack in by_addr.get(addr, ()):
        if start <= last + 1 and end >= first - 1:
            return attack
    return ""


def evaluate_mix(eval_dir: Path, rules: str | None = None) -> dict:
    """Run the profiles over the mix and measure them (see the module docstring)."""
    pcap = eval_dir / "mix-public.pcap"
    summary = json.loads((eval_dir / "mix-public.summary.json").read_text())
    train_end = summary["train_end_ts"]
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "flows.csv"
        cmd = [sys.executable, "-m", "wirescore", "-q", "run", "-r", str(pcap), "-l", tmp,
               "--export", str(export)] + (["--rules", rules] if rules else [])
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        elapsed = time.perf_counter() - t0
        flows = read_export(export)
        alerts = [json.loads(line) for line in open(Path(tmp) / "eve.json")
                  if '"event_type":"alert"' in line]
    labels = Labels(eval_dir / "mix-public.labels.csv")
    attack = labels.attacks(flows)       # (protocol, endpoints) + time; ICMP by addresses
    y = labels.y(attack)
    test = flows.end > train_end
    result = {"flows": len(flows), "attack_flows_matched": int(y.sum()),
              "test_flows": int(test.sum()), "test_attack_flows": int(y[test].sum()),
              "seconds": round(elapsed, 2), "profiles": {}}
    attack_of_flow = dict(zip((int(f) for f in flows.flow_id), attack))
    by_addr = addresses_of_attacks(eval_dir / "mix-public.labels.csv")
    alert_attack = defaultdict(int)
    alerts_background = 0
    per_sig = defaultdict(int)
    for ev in alerts:
        per_sig[ev["alert"]["signature_id"]] += 1
        # flow and app-layer alerts carry their flow's id; window alerts an address
        a = (attack_of_flow.get(ev["flow_id"], "") if "flow_id" in ev
             else window_attack(by_addr, ev))
        if a:
            alert_attack[a] += 1
        else:
            alerts_background += 1
    columns = {col: lowest_if_unscored(np.asarray(flows.columns[col], dtype=np.float64)[test])
               for col in flows.columns if col.startswith("score.")}
    fixed = {f"score.{p.id}": p.threshold_fixed
             for p in load_paths([rules] if rules else [default_rules_dir()])
             if p.enabled and p.unit == "flow" and p.threshold_fixed is not None}
    over = np.zeros(int(test.sum()), dtype=bool)
    for col, thr in fixed.items():
        if col in columns:
            over |= columns[col] > thr
    if len(columns) > 1:
        columns["combined"] = combined_scores(
            [np.asarray(flows.columns[col], dtype=np.float64)[test] for col in columns])
    for col, sc in columns.items():
        result["profiles"][col] = {
            "roc_auc": round(roc_auc(sc, y[test]), 4),
            "average_precision": round(average_precision(sc, y[test]), 4),
            "recall_at_1pct_fpr": round(recall_at_fpr(sc, y[test], 0.01)[0], 4),
        }
    yt = y[test].astype(bool)
    result["over_a_threshold"] = {
        "profiles": sorted(fixed), "recall": round(float(over[yt].mean()), 4),
        "false_positive_rate": round(float(over[~yt].mean()), 5)}
    background = int((test & (y == 0)).sum())
    hours = (summary["last_ts"] - train_end) / 3600
    result.update({
        "alerts": len(alerts), "alerts_by_signature": dict(sorted(per_sig.items())),
        "alerts_on_background": alerts_background,
        "background_flows_after_training": background,
        "false_alerts_per_1000_flows": round(1000 * alerts_background / max(background, 1), 3),
        "false_alerts_per_hour": round(alerts_background / hours, 1),
        "attack_types": len({a for a in attack if a}),
        "attack_types_alerted": sorted(alert_attack),
    })
    return result


def half_background(eval_dir: Path, half: int, out_dir: Path) -> Path:
    """Every other entry of eval_dir's background list (half 0: the 1st, 3rd, ...;
    half 1: the 2nd, 4th, ...), its paths made absolute, as a list in out_dir."""
    src = eval_dir / "mix-public.background.csv"
    lines = src.read_text().splitlines()
    head = [lines[0]]                                   # the header: file,copies
    rows = [line for line in lines[1:] if line.strip() and not line.startswith("#")]
    out = out_dir / "background-half.csv"
    out.write_text("\n".join(head + [str((src.parent / r.split(",", 1)[0]).resolve())
                                       + ("," + r.split(",", 1)[1] if "," in r else "")
                                       for r in rows[half::2]]) + "\n")
    return out


def build_mix(eval_dir: Path, seed: int, out_dir: Path, half: int | None = None) -> Path:
    """The mix of eval_dir's lists and arguments rebuilt with another seed, in out_dir
    (as mix-public.*, so that evaluate_mix reads it); with `half`, over that half of the
    background list only (half_background); returns out_dir."""
    made = json.loads((eval_dir / "mix-public.summary.json").read_text())["args"]
    background = (eval_dir / "mix-public.background.csv" if half is None
                  else half_background(eval_dir, half, out_dir))
    cmd = [sys.executable, str(MAKE_MIX),
           "--background", str(background),
           "--attacks", str(eval_dir / "mix-public.attacks.csv"),
           "--seed", str(seed), "--out-pcap", str(out_dir / "mix-public.pcap")]
    for key in ("span", "train_frac", "guard", "copies", "max_gap", "flow_timeout",
                "snaplen", "epoch"):
        if key in made:
            cmd += ["--" + key.replace("_", "-"), str(made[key])]
    if made.get("remap_all"):
        cmd.append("--remap-all")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"eval_mix: make_eval_mix.py --seed {seed} failed "
                         f"(exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return out_dir


def over_seeds(eval_dir: Path, seeds: list[int], rules: str | None,
               half: int | None = None) -> dict:
    """evaluate_mix on the mix rebuilt with each seed (and `half` of the background
    list, build_mix), and the spread of the numbers."""
    runs = {}
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            runs[seed] = evaluate_mix(build_mix(eval_dir, seed, Path(tmp), half), rules)
    spread = {}
    for col in runs[seeds[0]]["profiles"]:
        for metric in METRICS:
            v = [r["profiles"][col][metric] for r in runs.values()]
            spread.setdefault(col, {})[metric] = {
                "mean": round(float(np.mean(v)), 4), "min": min(v), "max": max(v)}
    bg = [r["alerts_on_background"] for r in runs.values()]
    return {"seeds": runs, "spread": spread,
            "alerts_on_background": {"mean": float(np.mean(bg)), "max": max(bg)}}


def _cell(values) -> str:
    return "{:>26}".format(" / ".join(f"{v:.3f}" for v in values))


def print_seeds(result: dict) -> None:
    cols = list(result["spread"])
    head = "".join(f"{c.replace('score.', ''):>26}" for c in cols)
    print(f"{'seed':>6}{head}  {'bg alerts':>9}  types alerted   (ROC AUC / AP / R@1%FPR)")
    for seed, r in result["seeds"].items():
        cells = "".join(_cell(r["profiles"][c][m] for m in METRICS) for c in cols)
        print(f"{seed:>6}{cells}  {r['alerts_on_background']:>9}  "
              f"{len(r['attack_types_alerted'])} of {r['attack_types']}")
    bg = result["alerts_on_background"]
    for stat in ("mean", "min", "max"):
        cells = "".join(_cell(result["spread"][c][m][stat] for m in METRICS) for c in cols)
        extra = {"mean": f"  {bg['mean']:>9.1f}", "max": f"  {bg['max']:>9}"}.get(stat, "")
        print(f"{stat:>6}{cells}{extra}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--rules", help="profiles to evaluate (default: the shipped ones)")
    ap.add_argument("--seeds", help="rebuild the mix with these seeds (comma-separated) "
                                    "and measure each (needs ../shared/tools)")
    ap.add_argument("--background-half", type=int, choices=(0, 1),
                    help="with --seeds: rebuild over every other entry of the background "
                         "list (0: the first, third, ...; 1: the others), to check on one "
                         "half what was chosen on the other")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if args.eval_dir == EVAL or args.seeds:
        shared_or_exit("eval_mix")            # one line: where the shared folder was sought
    if not (args.eval_dir / "mix-public.pcap").exists():
        print(f"eval_mix: {args.eval_dir / 'mix-public.pcap'} not found (needs "
              "../shared/data/eval)", file=sys.stderr)
        return 2
    if args.seeds:
        try:
            seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
        except ValueError:
            print(f"eval_mix: --seeds {args.seeds!r}: give integers separated by commas",
                  file=sys.stderr)
            return 2
        if not seeds or not MAKE_MIX.exists():
            print(f"eval_mix: --seeds needs at least one seed and {MAKE_MIX}",
                  file=sys.stderr)
            return 2
        result = over_seeds(args.eval_dir, seeds, args.rules, args.background_half)
        if args.json:
            print(json.dumps(result, indent=1))
        else:
            print_seeds(result)
        return 0
    result = evaluate_mix(args.eval_dir, args.rules)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"flows {result['flows']} (attack {result['attack_flows_matched']}); scored after "
          f"the training period: {result['test_flows']} (attack {result['test_attack_flows']}); "
          f"run {result['seconds']:.1f} s")
    print(f"{'detector':<40} {'ROC AUC':>8} {'AP':>7} {'R@1%FPR':>8}")
    for col, m in result["profiles"].items():
        name = "wirescore profiles combined" if col == "combined" else "wirescore " + col
        print(f"{name:<40} {m['roc_auc']:>8.3f} {m['average_precision']:>7.3f} "
              f"{m['recall_at_1pct_fpr']:>8.3f}")
    for name, auc, apv, rec in REFERENCES:
        print(f"{name + ' (reference)':<40} {auc:>8.3f} {apv:>7.3f} {rec:>8.3f}")
    o = result["over_a_threshold"]
    print(f"over any fixed threshold ({', '.join(o['profiles'])}): recall {o['recall']:.3f} "
          f"at false-positive rate {o['false_positive_rate']:.4f}")
    sigs = ", ".join(f"{k}: {v}" for k, v in result["alerts_by_signature"].items())
    print(f"alerts: {result['alerts']} ({sigs}), on background: "
          f"{result['alerts_on_background']} ({result['false_alerts_per_1000_flows']} per "
          f"1,000 background flows, {result['false_alerts_per_hour']} per hour); attack types "
          f"with an alert: {len(result['attack_types_alerted'])} of {result['attack_types']} "
          f"({', '.join(result['attack_types_alerted'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
