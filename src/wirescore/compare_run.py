"""`wirescore model compare` from end to end: load a labelled table of flows, run the
seven-classifier benchmark (wirescore.compare), export and check each model as ONNX
(wirescore.compare_onnx), write the plots (wirescore.compare_plots), the table
(compare.json, compare.txt) and a profile that runs the best model (best.yaml).

Inputs (load_table): a dataset CSV in its own layout with a feature set and a label
column (wirescore.csvtrain), or a capture with a labels file (wirescore.labels, the
format of ../shared/data/eval): its flows' columns are a feature set's (--feature-set)
or catalogue columns (the shipped flow-context-hst profile's, or --features).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from wirescore.errors import WirescoreError

log = logging.getLogger(__name__)

PROFILE_ID = 9200101


@dataclass
class Table:
    source: str
    X: np.ndarray          # float32 (rows, features)
    y: np.ndarray          # 0/1
    features: list[str]


def load_table(csv_path=None, feature_set=None, label_column=None, capture=None,
               labels_path=None, features: Sequence[str] | None = None,
               config_path=None) -> Table:
    """The labelled rows to compare on (module docstring)."""
    if bool(csv_path) == bool(capture):
        raise WirescoreError("give one input: --csv FILE or -r CAPTURE")
    if csv_path:
        if not feature_set or not label_column:
            raise WirescoreError(f"{csv_path}: --csv needs --feature-set and --label-column")
        from wirescore.csvtrain import read_dataset_csv

        flows, labels, names = read_dataset_csv(csv_path, feature_set, label_column)
        y = labels.y(labels.attacks(flows))
        return Table(str(csv_path), flows.matrix(names).astype(np.float32), y, names)
    if not labels_path:
        raise WirescoreError(f"{capture}: -r needs --labels FILE (the attack flows)")
    from wirescore.flowset import flows_from_capture
    from wirescore.labels import Labels

    if not feature_set and not features:
        from wirescore.rules import default_rules_dir, load_file

        like = load_file(default_rules_dir() / "flow-context-hst.yaml")[0]
        features = list(like.features)
    flows, summary = flows_from_capture(capture, config_path, feature_set=feature_set,
                                        columns=None if feature_set else features)
    log.info("%s", summary.line())
    names = list(flows.columns) if feature_set else list(features)
    labels = Labels(labels_path)
    y = labels.y(labels.attacks(flows))
    return Table(str(capture), flows.matrix(names).astype(np.float32), y, names)


def run_compare(table: Table, out_dir: str | Path, names: Sequence[str], test_share: float,
                seed: int, plots: bool = True) -> dict:
    """Benchmark, export, check, plot, write; returns the report (compare.json)."""
    from wirescore.compare import TOLERANCE, best, compare, table as text_table
    from wirescore.compare_onnx import check, to_onnx

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results, te = compare(table.X, table.y, names, test_share, seed)
    for r in results:
        onnx_bytes = to_onnx(r.model, table.X.shape[1], table.features)
        r.onnx_max_diff = check(onnx_bytes, r.model, table.X[te])
        if not r.onnx_max_diff <= TOLERANCE:
            raise WirescoreError(f"{r.name}: ONNX differs from the library by "
                                 f"{r.onnx_max_diff:.3g} (> {TOLERANCE}) on the held-out rows")
        path = out / f"{r.name}.onnx"
        path.write_bytes(onnx_bytes)
        r.onnx_path = path.name
    chosen = best(results)
    report = {"source": table.source, "rows": int(len(table.y)),
              "attack_rows": int(table.y.sum()), "test_rows": int(len(te)),
              "split": f"stratified, seeded ({seed}), {test_share:.0%} held out",
              "features": table.features, "best": chosen.name, "by": "F1",
              "onnx_tolerance": TOLERANCE, "results": [r.row() for r in results]}
    text = text_table(results, chosen)
    (out / "compare.txt").write_text(text + "\n")
    if plots:
        from wirescore.compare_plots import write_plots

        written = write_plots(results, chosen, table.X[te], table.y[te], table.features, out)
        report["plots"] = [p.name for p in written]
    report["profile"] = _write_best_profile(out, chosen, table.features).name
    (out / "compare.json").write_text(json.dumps(report, indent=1) + "\n")
    report["table"] = text
    return report


def _write_best_profile(out: Path, chosen, features: Sequence[str]) -> Path:
    """best.yaml: an onnx profile running the best model (attack probability >= 0.5)."""
    import yaml

    from wirescore.rules import load_file

    doc = {"id": PROFILE_ID, "rev": 1,
           "name": f"WIRESCORE {chosen.name} classifier (wirescore model compare)",
           "category": "Anomalous network behaviour", "unit": "flow",
           "features": list(features), "transform": "none",
           "model": {"name": "onnx", "params": {"path": chosen.onnx_path,
                                                "output": "probabilities", "column": 1}},
           "threshold": {"fixed": 0.5}, "warmup": 0, "severity": 2}
    path = out / "best.yaml"
    path.write_text(f"# Written by `wirescore model compare`: the best by F1 "
                    f"({chosen.f1:.4f}) of the benchmark in compare.json.\n"
                    + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None,
                                     width=100))
    load_file(path)              # what we wrote passes `wirescore rules check`
    return path
