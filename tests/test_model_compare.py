"""`wirescore model compare`: seven classifiers on the labelled evaluation mix, each
exported to ONNX and checked against the library; the table, plots and best profile.

Correctness checked here, not speed (fit times are recorded in compare.json only):
the held-out metrics are recomputed from the written ONNX files with scikit-learn's
metric functions on the same seeded split, and each ONNX file's probabilities are
compared with a model refitted with the same seed by the library itself."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import need_shared, run_wirescore

for module in ("sklearn", "skl2onnx", "onnxruntime", "matplotlib", "xgboost", "lightgbm",
               "onnxmltools"):
    pytest.importorskip(module, reason=f"model compare needs the research extra ({module})")

SEVEN = ["xgboost", "lightgbm", "rf", "gbt", "dtree", "knn", "logreg"]


@pytest.fixture(scope="module")
def mix_table():
    from wirescore.compare_run import load_table

    eval_dir = need_shared() / "eval"
    return load_table(capture=eval_dir / "mix-public.pcap",
                      labels_path=eval_dir / "mix-public.labels.csv",
                      feature_set="unsw-nb15")


def test_compare_on_the_eval_mix(tmp_path):
    eval_dir = need_shared() / "eval"
    out = tmp_path / "bench"
    proc = run_wirescore("model", "compare", "-r", eval_dir / "mix-public.pcap",
                         "--labels", eval_dir / "mix-public.labels.csv",
                         "--feature-set", "unsw-nb15", "-o", out)
    report = json.loads((out / "compare.json").read_text())
    assert [r["model"] for r in report["results"]] == SEVEN
    assert report["attack_rows"] > 500 and report["rows"] > 8000
    # the highest F1, ties by ROC AUC, then by the models' order (compare.best)
    rank = {r["model"]: (r["f1"], r["roc_auc"], -SEVEN.index(r["model"]))
            for r in report["results"]}
    assert report["best"] == max(rank, key=rank.get)
    assert "best by F1: " + report["best"] in proc.stdout
    for r in report["results"]:
        assert r["onnx_max_abs_diff"] <= 1e-5 and (out / r["onnx"]).stat().st_size > 0
    for png in ("confusion.png", "roc.png", "importance.png", "comparison.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run_wirescore("rules", "check", out / "best.yaml")


def test_onnx_equals_library_and_metrics_recomputed(tmp_path, mix_table):
    """The written ONNX files against freshly fitted library models (same seed, same
    split) and the report's F1 / ROC AUC against scikit-learn's metrics."""
    from sklearn.metrics import f1_score, roc_auc_score

    from wirescore.compare import make, split
    from wirescore.compare_onnx import onnx_proba
    from wirescore.compare_run import run_compare

    t = mix_table
    report = run_compare(t, tmp_path, SEVEN, 0.3, 42, plots=False)
    tr, te = split(t.y.astype(np.int64), 0.3, 42)
    for row in report["results"]:
        model = make(row["model"], 42).fit(t.X[tr], t.y[tr])
        lib = model.predict_proba(t.X[te])[:, 1]
        onx = onnx_proba((tmp_path / row["onnx"]).read_bytes(), t.X[te])[:, 1]
        assert np.max(np.abs(onx - lib)) <= 1e-5, row["model"]
        # the report measures the library's probabilities (the ONNX float32 ones can
        # tie where float64 does not, which moves ROC AUC in the 4th decimal)
        assert row["f1"] == pytest.approx(f1_score(t.y[te], (lib >= 0.5).astype(int)),
                                          abs=1e-12), row["model"]
        assert row["roc_auc"] == pytest.approx(roc_auc_score(t.y[te], lib), abs=1e-12)
        assert roc_auc_score(t.y[te], onx) == pytest.approx(row["roc_auc"], abs=2e-3)


def test_onnx_difference_fails_loudly(tmp_path, mix_table, monkeypatch):
    import wirescore.compare as compare
    from wirescore.compare_run import run_compare
    from wirescore.errors import WirescoreError

    monkeypatch.setattr(compare, "TOLERANCE", -1.0)      # every difference too large
    with pytest.raises(WirescoreError, match="ONNX differs from the library"):
        run_compare(mix_table, tmp_path, ["dtree"], 0.3, 42, plots=False)


def test_unknown_classifier_and_missing_labels(tmp_path):
    eval_dir = need_shared() / "eval"
    proc = run_wirescore("model", "compare", "-r", eval_dir / "mix-public.pcap", "-o",
                         tmp_path, check=False)
    assert proc.returncode == 1 and "needs --labels FILE" in proc.stderr
    from wirescore.compare import make
    from wirescore.errors import WirescoreError

    with pytest.raises(WirescoreError, match="unknown classifier 'svm'"):
        make("svm", 0)


def test_compare_on_a_unsw_csv_then_the_best_runs_on_packets(tmp_path):
    """--csv in UNSW-NB15's layout: the benchmark's best.yaml computes the set's columns
    from a scan capture's packets and scores its flows as attacks."""
    import csv

    from unsw_slice import make_slice

    shared = need_shared()
    path, _, _ = make_slice(tmp_path, shared)
    out = tmp_path / "bench"
    run_wirescore("model", "compare", "--csv", path, "--feature-set", "unsw-nb15",
                  "--label-column", "label", "-o", out, "--no-plots")
    report = json.loads((out / "compare.json").read_text())
    assert [r["model"] for r in report["results"]] == SEVEN and "plots" not in report
    export = tmp_path / "scored.csv"
    scan = shared / "pcaps/labeled/scans/esnet-masscan-tcp_0_1000_20190821.pcap"
    run_wirescore("run", "-r", scan, "-l", tmp_path / "logs", "--rules", out / "best.yaml",
                  "--export", export)
    with open(export, newline="") as fh:
        scores = [float(r["score.9200101"]) for r in csv.DictReader(fh)]
    assert len(scores) > 900 and sum(s >= 0.5 for s in scores) >= 0.5 * len(scores)
