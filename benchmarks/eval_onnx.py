"""ONNX models trained offline next to the shipped online profile, on the public evaluation mix.

    python benchmarks/eval_onnx.py [--eval-dir ../shared/data/eval] [--models iforest,ocsvm]
                                   [--keep DIR] [--json]

1. `wirescore train -r mix-public.pcap --until TRAIN_END --model M` for each model M: fit
   on the flows that end in the mix's training period (benign only: the first 40 %,
   `train_end_ts` of mix-public.summary.json), features and allowlist of the shipped
   rules/flow-context-hst.yaml; writes M.onnx / .json / .yaml.
2. `wirescore eval --after TRAIN_END --json` with the shipped tail flow profile
   (rules/flow-around-tail.yaml) and every
   trained profile: one run of the whole pipeline, scored on the flows that end after
   the training period (the held-out part), labels joined as the mix's README says.
3. Prints ROC AUC, average precision and recall at 1 % FPR per profile, with the
   reference detectors of the mix's README below them.

Nothing is fitted on the held-out part or on the labels. Needs the training extra
(pip install 'wirescore[train]') and ../shared/data/eval.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shared_data import shared_or_exit, shared_path

REPO = Path(__file__).resolve().parents[1]
EVAL = shared_path("data", "eval")
SHIPPED = REPO / "rules" / "flow-around-tail.yaml"
REFERENCES = [  # from ../shared/data/eval/README.md (measured 2026-11-23)
    ("NFStream + River MinMax + HST", 0.479, 0.126, 0.002),
    ("NFStream + IsolationForest", 0.435, 0.117, 0.001),
    ("netml IAT + OCSVM", 0.543, 0.078, 0.000),
]


def wirescore(*args) -> str:
    proc = subprocess.run([sys.executable, "-m", "wirescore", "-q", *map(str, args)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"eval_onnx: wirescore {args[0]} failed (exit {proc.returncode})")
    return proc.stdout


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--models", default="iforest,ocsvm",
                    help="unsupervised models to train, comma-separated (iforest, ocsvm)")
    ap.add_argument("--keep", type=Path, help="keep the trained files in this folder")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if args.eval_dir == EVAL:
        shared_or_exit("eval_onnx")           # one line: where the shared folder was sought
    pcap = args.eval_dir / "mix-public.pcap"
    if not pcap.exists():
        print(f"eval_onnx: {pcap} not found (needs ../shared/data/eval)", file=sys.stderr)
        return 2
    train_end = json.loads((args.eval_dir / "mix-public.summary.json").read_text())[
        "train_end_ts"]
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        rules = [str(SHIPPED)]
        trained = {}
        for n, model in enumerate(m.strip() for m in args.models.split(",") if m.strip()):
            prefix = out_dir / f"mix-{model}"
            t0 = time.perf_counter()
            wirescore("train", "-r", pcap, "--until", train_end, "--model", model,
                      "--id", 9200001 + n, "-o", prefix, "--force")
            side = json.loads(prefix.with_name(prefix.name + ".json").read_text())
            trained[9200001 + n] = {"model": model, "seconds": round(time.perf_counter() - t0, 1),
                                    "fit_rows": side["training"]["fit_rows"],
                                    "threshold": side["threshold"]["fixed"]}
            rules.append(str(prefix.with_name(prefix.name + ".yaml")))
        result = json.loads(wirescore("eval", "-r", pcap, "--labels",
                                      args.eval_dir / "mix-public.labels.csv", "--rules",
                                      ",".join(rules), "--after", train_end, "--json"))
    result["trained"] = trained
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"trained on flows ending by {train_end} (training period); scored: "
          f"{result['scored_flows']} flows ending after it ({result['scored_attack_flows']} "
          f"attack); labels matched {result['label_rows_matched']}/{result['label_rows']} rows")
    print(f"{'detector':<44} {'ROC AUC':>8} {'AP':>7} {'R@1%FPR':>8}")
    for p in result["profiles"]:
        what = (f"wirescore {p['id']} {p['model']}" +
                (f" ({trained[p['id']]['model']}, {trained[p['id']]['fit_rows']} rows)"
                 if p["id"] in trained else " (shipped, online)"))

        def f(x):
            return "-" if x is None else f"{x:.3f}"

        print(f"{what:<44} {f(p['roc_auc']):>8} {f(p['average_precision']):>7} "
              f"{f(p['recall_at_fpr']):>8}")
    for name, auc, apv, rec in REFERENCES:
        print(f"{name + ' (reference)':<44} {auc:>8.3f} {apv:>7.3f} {rec:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
