"""`wirescore train`: real captures in, an ONNX model + sidecar + profile out, which
`rules check` passes and `run` uses; scores equal scikit-learn's on the same rows.

Needs the training extra (pip install 'wirescore[train]'; `make test` installs it). The
evaluation-mix test needs ../shared/data/eval and says so when it skips.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from conftest import FIXTURES, SHARED_DATA, read_eve, run_wirescore, shared_available
from wirescore.detect import transform_matrix
from wirescore.flowset import flows_from_capture
from wirescore.rules import default_rules_dir, load_file

pytest.importorskip("sklearn", reason="needs the training extra: pip install 'wirescore[train]'")
pytest.importorskip("skl2onnx", reason="needs the training extra: pip install 'wirescore[train]'")

MIXED = FIXTURES / "zeek-wikipedia.pcap"
SCAN = FIXTURES / "ndpi-synscan.pcap"
EVAL = SHARED_DATA / "eval"


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def schema_validator():
    if not shared_available():
        return None
    import jsonschema

    schema = json.loads((SHARED_DATA / "suricata-eve-schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 25-tree IsolationForest trained by `wirescore train` on the wikipedia flows."""
    out = tmp_path_factory.mktemp("tiny") / "models" / "wiki-iforest"
    proc = run_wirescore("train", "-r", MIXED, "-o", out, "--param", "n_estimators=25",
                         "--seed", "3")
    return out, proc


def test_train_writes_model_sidecar_and_profile(tiny):
    out, proc = tiny
    onnx, sidecar, profile = (out.with_name(out.name + ext) for ext in (".onnx", ".json",
                                                                       ".yaml"))
    assert all(p.exists() for p in (onnx, sidecar, profile))
    assert f"wrote {profile}" in proc.stdout
    side = json.loads(sidecar.read_text())
    assert side["model_sha256"] == sha256(onnx)
    assert side["training"]["source_sha256"] == sha256(MIXED)
    assert side["input"] == {"name": "input", "dtype": "float32",
                             "shape": [None, len(side["features"])]}
    assert side["output"] == {"name": "scores", "column": 0, "negate": True,
                              "meaning": "-decision_function: higher = more anomalous"}
    assert side["preprocessing"]["transform"] == "log1p"
    assert side["estimator"]["class"] == "sklearn.ensemble.IsolationForest"
    assert side["estimator"]["params"]["n_estimators"] == 25
    t = side["training"]
    assert t["rows"] == 34 and t["fit_rows"] + t["validation_rows"] == 34
    assert side["validation"]["rows"] == t["validation_rows"]
    assert side["onnx_check"]["max_abs_diff"] < 1e-5
    check = run_wirescore("rules", "check", profile)
    shipped = load_file(default_rules_dir() / "flow-context-hst.yaml")[0]
    assert side["features"] == list(shipped.features)        # --like's default
    assert check.stdout.startswith(f"ok {profile}: 9200001 (flow, {len(shipped.features)} "
                                   "features, model onnx)")


def test_trained_scores_equal_sklearn(tiny):
    """The same matrix, the same estimator and seed in scikit-learn: the ONNX file scores
    every row as scikit-learn does, to float32 rounding; the matrix digest matches."""
    from sklearn.ensemble import IsolationForest

    from wirescore.models.onnx import OnnxModel

    out, _ = tiny
    side = json.loads(out.with_name(out.name + ".json").read_text())
    flows, _ = flows_from_capture(MIXED)
    order = np.argsort(flows.end, kind="mergesort")
    X = transform_matrix(flows.matrix(side["features"]), "log1p").astype(np.float32)[order]
    assert hashlib.sha256(X.tobytes()).hexdigest() == side["training"]["matrix_sha256"]
    fit = X[:side["training"]["fit_rows"]]          # the split is by time: the first rows
    forest = IsolationForest(n_estimators=25, random_state=3).fit(fit)
    model = OnnxModel(out.with_name(out.name + ".onnx"), side["features"], output="scores",
                      negate=True, transform="log1p")
    np.testing.assert_allclose(model.score_many(X), -forest.decision_function(X),
                               rtol=1e-6, atol=1e-6)


def test_a_run_with_the_trained_profile_writes_valid_alerts(tiny, tmp_path):
    from test_eve_schema import check_structure

    out, _ = tiny
    profile = out.with_name(out.name + ".yaml")
    # a copy that alerts on every flow of the scan capture, to have alerts to check
    text = profile.read_text()
    lines = [line for line in text.splitlines() if not line.startswith("threshold:")]
    loud = profile.with_name("loud.yaml")
    loud.write_text("\n".join(lines) + "\nthreshold: {fixed: -1.0}\n")
    logdir = tmp_path / "logs"
    run_wirescore("run", "-r", SCAN, "-l", logdir, "--rules", loud)
    events = read_eve(logdir)
    check_structure(events, "trained profile run")
    alerts = [e for e in events if e["event_type"] == "alert"]
    assert alerts and all(a["alert"]["signature_id"] == 9200001 for a in alerts)
    validator = schema_validator()
    if validator is not None:
        for ev in events:
            errors = list(validator.iter_errors(ev))
            assert not errors, (ev, errors[0].message)


def test_capture_and_export_give_the_same_model(tiny, tmp_path):
    out, _ = tiny
    export = tmp_path / "flows.csv"
    run_wirescore("run", "-r", MIXED, "-l", tmp_path / "l", "--no-detect", "--export", export)
    again = tmp_path / "again"
    run_wirescore("train", "--flows", export, "-o", again, "--param", "n_estimators=25",
                  "--seed", "3")
    a = json.loads(out.with_name(out.name + ".json").read_text())
    b = json.loads(again.with_name("again.json").read_text())
    assert a["training"]["matrix_sha256"] == b["training"]["matrix_sha256"]
    assert a["model_sha256"] == b["model_sha256"]
    assert b["training"]["source_sha256"] == sha256(export)


def test_supervised_models_from_labels(tmp_path):
    """rf and gbt from a labels file (the scan's flows of one source marked as attack,
    mixed with the wikipedia capture's flows via a flow export of each, trained on one)."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    from wirescore.labels import Labels
    from wirescore.models.onnx import OnnxModel

    flows, _ = flows_from_capture(SCAN)
    # label every third flow of the scan as an attack, as a labels file would
    picks = np.arange(0, len(flows), 3)
    rows = ["proto,endpoint_a,endpoint_b,first_ts,last_ts,attack"]
    for i in picks:
        rows.append(f"6,{flows.src_ip[i]}:{flows.src_port[i]},{flows.dest_ip[i]}:"
                    f"{flows.dest_port[i]},{flows.start[i]:.6f},{flows.end[i]:.6f},scan")
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    for kind, cls, extra in (("rf", RandomForestClassifier,
                              {"min_samples_leaf": 2, "class_weight": "balanced_subsample",
                               "n_jobs": 1}),
                             ("gbt", GradientBoostingClassifier, {})):
        out = tmp_path / kind
        run_wirescore("train", "-r", SCAN, "--labels", labels, "--model", kind, "-o", out,
                      "--param", "n_estimators=10", "--features",
                      "flow.pkts_toserver,flow.bytes_toserver,flow.win_first_toserver,"
                      "flow.ttl_first_toserver,ctx.src_new_ports_60s")
        side = json.loads((tmp_path / f"{kind}.json").read_text())
        assert side["output"]["name"] == "probabilities" and side["output"]["column"] == 1
        assert side["threshold"]["fixed"] == 0.5
        v = side["validation"]
        assert v["attack_rows"] > 0 and v["roc_auc"] is not None
        assert side["training"]["labels_sha256"] == sha256(labels)
        feats = side["features"]
        order = np.argsort(flows.end, kind="mergesort")
        X = transform_matrix(flows.matrix(feats), "log1p").astype(np.float32)[order]
        y = Labels(labels).y(Labels(labels).attacks(flows))[order]
        assert y.sum() == len(picks)
        model = OnnxModel(tmp_path / f"{kind}.onnx", feats, output="probabilities", column=1)
        n = side["training"]["fit_rows"]
        assert side["training"]["split"].startswith("by time")   # both classes on each side
        ref = cls(n_estimators=10, random_state=42, **extra).fit(X[:n], y[:n])
        np.testing.assert_allclose(model.score_many(X), ref.predict_proba(X)[:, 1],
                                   rtol=1e-5, atol=1e-5)
        run_wirescore("rules", "check", tmp_path / f"{kind}.yaml")
    # an unsupervised model given labels fits the benign rows only, and is validated on them
    run_wirescore("train", "-r", SCAN, "--labels", labels, "--model", "iforest", "-o",
                  tmp_path / "if", "--param", "n_estimators=10")
    side = json.loads((tmp_path / "if.json").read_text())
    t = side["training"]
    assert t["fit_on"] == "rows labelled benign" and t["attack_rows"] == len(picks)
    assert t["fit_rows"] < t["rows"] - t["validation_rows"]
    assert side["validation"]["roc_auc"] is not None


@pytest.mark.parametrize("args, fragment", [
    (["--model", "rf"], "--model rf is supervised: give --labels FILE"),
    (["--features", "flow.nope"], "--features: unknown flow feature column 'flow.nope'"),
    (["--until", "1999-01-01T00:00:00Z"], "only 0 training flows"),
    (["--param", "n_trees"], "--param 'n_trees': write KEY=VALUE"),
    (["--param", "bogus=1"], "IsolationForest"),
])
def test_train_errors_are_one_line(tmp_path, args, fragment):
    proc = run_wirescore("train", "-r", MIXED, "-o", tmp_path / "m", *args, check=False)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("wirescore: error:")]
    assert len(errors) == 1 and fragment in errors[0], lines
    assert "Traceback" not in proc.stderr


def test_train_refuses_to_overwrite_and_to_read_a_non_export(tiny, tmp_path):
    out, _ = tiny
    proc = run_wirescore("train", "-r", MIXED, "-o", out, check=False)
    assert proc.returncode == 1 and "already exists (use --force to overwrite)" in proc.stderr
    not_export = tmp_path / "x.csv"
    not_export.write_text("a,b\n1,2\n")
    proc = run_wirescore("train", "--flows", not_export, "-o", tmp_path / "m", check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert f"{not_export}: not a wirescore flow export" in proc.stderr


@pytest.mark.shared
@pytest.mark.skipif(not (EVAL / "mix-public.pcap").exists(),
                    reason=f"evaluation mix not found at {EVAL} (set WIRESCORE_SHARED); "
                           "this test runs whenever ../shared is present, as in CI")
def test_mix_onnx_trained_on_the_first_part_scores_the_rest(tmp_path):
    """Must-show: an IsolationForest trained by `wirescore train` on the mix's training
    period (benign, first 40 %) scores the rest; `wirescore eval` reports it next to the
    shipped tail profile, and the run's alerts validate."""
    summary = json.loads((EVAL / "mix-public.summary.json").read_text())
    cut = summary["train_end_ts"]
    out = tmp_path / "mix-iforest"
    run_wirescore("train", "-r", EVAL / "mix-public.pcap", "--until", cut, "-o", out)
    side = json.loads((tmp_path / "mix-iforest.json").read_text())
    assert side["training"]["last_flow_end_utc"] <= "2024-01-01T00:08:00.000000Z"
    shipped = FIXTURES.parent.parent.parent / "rules" / "flow-around-tail.yaml"
    logdir = tmp_path / "logs"
    proc = run_wirescore("eval", "-r", EVAL / "mix-public.pcap", "--labels",
                         EVAL / "mix-public.labels.csv", "--rules",
                         f"{shipped},{tmp_path / 'mix-iforest.yaml'}", "--after", cut, "--json",
                         "-l", logdir)
    result = json.loads(proc.stdout)
    by_id = {p["id"]: p for p in result["profiles"]}
    assert set(by_id) == {9100002, 9200001}
    assert result["label_rows_matched"] == result["label_rows"] == 721
    onnx = by_id[9200001]
    assert onnx["model"] == "onnx" and onnx["roc_auc"] > 0.55  # measured 0.655-0.740
    assert onnx["confusion"]["tp"] > 0
    validator = schema_validator()
    for ev in read_eve(logdir):
        if ev["event_type"] == "alert":
            errors = list(validator.iter_errors(ev))
            assert not errors, (ev, errors[0].message)
