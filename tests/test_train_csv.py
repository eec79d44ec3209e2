"""train --csv: a model trained on a UNSW-NB15-layout CSV slice runs on packets.

The slice is made here with the training CSV's real header: the unsw-nb15 columns of a
labelled SYN scan capture (label 1, attack_cat Reconnaissance) and of CIC-IDS2017
Monday traffic (documented benign, label 0), exported by `wirescore run --export
--feature-set unsw-nb15`; the model is trained from the CSV alone, then `wirescore run`
with the profile it wrote scores another scan capture (masscan) from packets."""
from __future__ import annotations

import csv
import json

import pytest

from conftest import need_shared, run_wirescore

pytest.importorskip("sklearn", reason="train needs the train extra (scikit-learn)")
pytest.importorskip("skl2onnx", reason="train needs the train extra (skl2onnx)")

from unsw_slice import make_slice  # noqa: E402


def test_train_csv_then_run_on_packets(tmp_path):
    shared = need_shared()
    path, n_attack, n_benign = make_slice(tmp_path, shared)
    assert n_attack > 500 and n_benign > 100
    prefix = tmp_path / "model" / "unsw"
    proc = run_wirescore("train", "--csv", path, "--feature-set", "unsw-nb15",
                         "--label-column", "label", "-o", prefix)
    assert "onnx check" in proc.stdout
    side = json.loads(prefix.with_suffix(".json").read_text())
    assert side["features"][0] == "unsw-nb15.dur" and "unsw-nb15.sloss" not in side["features"]
    assert side["onnx_check"]["max_abs_diff"] <= 1e-5
    assert side["validation"]["roc_auc"] > 0.9
    run_wirescore("rules", "check", prefix.with_suffix(".yaml"))
    logs = tmp_path / "run"
    scan = shared / "pcaps/labeled/scans/esnet-masscan-tcp_0_1000_20190821.pcap"
    export = tmp_path / "scored.csv"
    run_wirescore("run", "-r", scan, "-l", logs, "--rules", prefix.with_suffix(".yaml"),
                  "--export", export)
    events = [json.loads(x) for x in (logs / "eve.json").read_text().splitlines()]
    alerts = [e for e in events if e["event_type"] == "alert"]
    assert alerts and alerts[0]["alert"]["signature_id"] == 9200001
    # alerts are suppressed per source (the copied profile's suppress.seconds): the
    # scores of every flow say what the model made of the scan
    with open(export, newline="") as fh:
        scores = [float(r["score.9200001"]) for r in csv.DictReader(fh)]
    assert len(scores) > 900
    assert sum(s > 0.5 for s in scores) >= 0.5 * len(scores)

def test_train_csv_errors(tmp_path):
    bad = tmp_path / "nolabel.csv"
    bad.write_text("id,dur,proto\n1,0.1,tcp\n")
    proc = run_wirescore("train", "--csv", bad, "--feature-set", "unsw-nb15",
                         "--label-column", "label", "-o", tmp_path / "m", check=False)
    assert proc.returncode == 1 and "no label column 'label'" in proc.stderr
    assert str(bad) in proc.stderr
    short = tmp_path / "short.csv"
    short.write_text("id,dur,proto,label\n1,0.1,tcp,0\n")
    proc = run_wirescore("train", "--csv", short, "--feature-set", "unsw-nb15",
                         "--label-column", "label", "-o", tmp_path / "m", check=False)
    assert proc.returncode == 1 and "no column 'service' of feature set unsw-nb15" in proc.stderr
    proc = run_wirescore("train", "--csv", short, "--feature-set", "nope",
                         "--label-column", "label", "-o", tmp_path / "m", check=False)
    assert proc.returncode == 1 and "no feature set 'nope'" in proc.stderr


def test_train_from_a_capture_on_a_feature_set(tmp_path):
    """train -r CAPTURE --labels FILE --feature-set unsw-nb15: the set's columns computed
    from the evaluation mix's packets; the sidecar names them, ONNX matches."""
    eval_dir = need_shared() / "eval"
    prefix = tmp_path / "mix"
    run_wirescore("train", "-r", eval_dir / "mix-public.pcap", "--labels",
                  eval_dir / "mix-public.labels.csv", "--feature-set", "unsw-nb15",
                  "--model", "rf", "-o", prefix)
    side = json.loads(prefix.with_suffix(".json").read_text())
    from wirescore.csvtrain import model_features

    assert side["features"] == model_features("unsw-nb15")
    assert side["onnx_check"]["max_abs_diff"] <= 1e-5
    assert side["training"]["rows"] > 8000
