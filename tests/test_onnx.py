"""The `onnx` model kind: scores equal scikit-learn's, wrong files fail in one line.

Models are fitted here on the flows of shipped captures (tests/data/pcaps), converted
with skl2onnx, and scored through wirescore.models.onnx.OnnxModel and through whole
runs. Needs the training extra (pip install 'wirescore[train]'; `make test` installs it).
"""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import FIXTURES, SHARED_DATA, read_eve, run_wirescore, shared_available
from wirescore.detect import transform_matrix
from wirescore.errors import WirescoreError
from wirescore.rules import load_file

sklearn = pytest.importorskip("sklearn", reason="needs the training extra: "
                                                "pip install 'wirescore[train]'")
pytest.importorskip("skl2onnx", reason="needs the training extra: pip install 'wirescore[train]'")

MIXED = FIXTURES / "zeek-wikipedia.pcap"
SCAN = FIXTURES / "ndpi-synscan.pcap"
FEATURES = ["flow.pkts_toserver", "flow.bytes_toserver", "flow.duration",
            "ctx.src_flows_60s", "ctx.src_new_ports_60s"]


@pytest.fixture(scope="module")
def flows():
    from wirescore.flowset import flows_from_capture

    got, _ = flows_from_capture(MIXED)
    return got


@pytest.fixture(scope="module")
def X(flows):
    return transform_matrix(flows.matrix(FEATURES), "log1p").astype(np.float32)


def to_onnx_file(model, width, path, double=False, meta=None, zipmap=False):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    kind = DoubleTensorType if double else FloatTensorType
    options = None
    if hasattr(model, "predict_proba"):
        est = model.steps[-1][1] if hasattr(model, "steps") else model
        options = {id(est): {"zipmap": zipmap}}
    onx = to_onnx(model, initial_types=[("input", kind([None, width]))],
                  target_opset={"": 17, "ai.onnx.ml": 3}, options=options)
    for key, value in (meta or {}).items():
        entry = onx.metadata_props.add()
        entry.key, entry.value = key, value
    path.write_bytes(onx.SerializeToString())
    return path


def test_isolation_forest_scores_equal_sklearn(tmp_path, X):
    from sklearn.ensemble import IsolationForest

    from wirescore.models.onnx import OnnxModel

    forest = IsolationForest(n_estimators=30, random_state=0).fit(X)
    path = to_onnx_file(forest, len(FEATURES), tmp_path / "if.onnx")
    model = OnnxModel(path, FEATURES, output="scores", negate=True)
    got = model.score_many(X.astype(np.float64))
    want = -forest.decision_function(X)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    # batches of any size give the same scores
    small = OnnxModel(path, FEATURES, output="scores", negate=True, batch=7)
    np.testing.assert_array_equal(small.score_many(X), got)
    assert model.score_many(np.empty((0, len(FEATURES)))).shape == (0,)


@pytest.mark.parametrize("zipmap", [False, True])
def test_classifier_probability_column(tmp_path, X, zipmap):
    from sklearn.ensemble import RandomForestClassifier

    from wirescore.models.onnx import OnnxModel

    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    forest = RandomForestClassifier(n_estimators=15, random_state=0).fit(X, y)
    path = to_onnx_file(forest, len(FEATURES), tmp_path / "rf.onnx", zipmap=zipmap)
    model = OnnxModel(path, FEATURES, output="probabilities" if not zipmap else
                      "output_probability", column=1)
    np.testing.assert_allclose(model.score_many(X), forest.predict_proba(X)[:, 1],
                               rtol=1e-5, atol=1e-6)


def test_one_class_svm_behind_a_scaler(tmp_path, X):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import OneClassSVM

    from wirescore.models.onnx import OnnxModel

    pipe = make_pipeline(StandardScaler(), OneClassSVM(nu=0.1)).fit(X)
    path = to_onnx_file(pipe, len(FEATURES), tmp_path / "svm.onnx")
    got = OnnxModel(path, FEATURES, output="scores", negate=True).score_many(X)
    want = -pipe.decision_function(X)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1, np.abs(want).max()))


# ---------------------------------------------------------------- wrong files, one line

PROFILE = """\
id: 4300001
name: onnx test
features: [{features}]
transform: log1p
model:
  name: onnx
  params: {{path: {path}{extra}}}
threshold: {{fixed: {threshold}}}
warmup: 0
suppress: {{seconds: 0}}
"""


def write_profile(tmp_path, model_path, features=FEATURES, extra=", output: scores, "
                  "negate: true", threshold=0.0, name="p.yaml"):
    path = tmp_path / name
    path.write_text(PROFILE.format(features=", ".join(features), path=model_path, extra=extra,
                                   threshold=threshold))
    return path


@pytest.fixture(scope="module")
def forest_file(tmp_path_factory, X):
    from sklearn.ensemble import IsolationForest

    from wirescore.models.onnx import META_FEATURES, META_TRANSFORM

    forest = IsolationForest(n_estimators=20, random_state=1).fit(X)
    folder = tmp_path_factory.mktemp("models")
    path = to_onnx_file(forest, len(FEATURES), folder / "forest.onnx",
                        meta={META_FEATURES: json.dumps(FEATURES), META_TRANSFORM: "log1p"})
    return forest, path


def bad_cases(tmp_path, X, forest_file):
    """(name, model file, profile kwargs, expected fragment of the message)."""
    from sklearn.ensemble import IsolationForest

    _, good = forest_file
    wide = IsolationForest(n_estimators=5, random_state=0).fit(np.c_[X, X[:, :2]])
    wide_path = to_onnx_file(wide, 7, tmp_path / "wide.onnx")
    from sklearn.linear_model import LinearRegression

    double_path = to_onnx_file(LinearRegression().fit(X.astype(np.float64), X[:, 0]),
                               len(FEATURES), tmp_path / "double.onnx", double=True)
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, X[:, 0] > 1)
    rf_path = to_onnx_file(rf, len(FEATURES), tmp_path / "rf.onnx")
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    pickled = tmp_path / "pickled.onnx"
    import pickle

    pickled.write_bytes(pickle.dumps({"a": 1}))
    swapped = list(reversed(FEATURES))
    return [
        ("wrong width", wide_path, {}, "takes 7 feature columns but the profile lists 5"),
        ("not onnx (text)", text, {}, "not a loadable ONNX model"),
        ("not onnx (a pickle)", pickled, {}, "not a loadable ONNX model"),
        ("wrong dtype", double_path, {}, "element type tensor(double)"),
        ("missing output", good, {"extra": ", output: anomaly"},
         "no output named 'anomaly' (outputs: label (tensor(int64)), scores (tensor(float)))"),
        ("no such column", good, {"extra": ", output: scores, column: 3"},
         "column 3 is outside output 'scores', which has 1 columns"),
        ("which column", rf_path, {"extra": ""},
         "output 'probabilities' has 2 columns; say which is the score"),
        ("feature order", good, {"features": swapped},
         f"feature column 1 is {FEATURES[0]!r} in the model but {swapped[0]!r} in the profile"),
        ("missing file", tmp_path / "nowhere.onnx", {}, "no such ONNX model file"),
    ]


def test_wrong_model_files_fail_in_one_line(tmp_path, X, forest_file):
    for what, model_path, kwargs, fragment in bad_cases(tmp_path, X, forest_file):
        profile = write_profile(tmp_path, model_path, name=f"{what.replace(' ', '_')}.yaml",
                                **kwargs)
        with pytest.raises(WirescoreError) as err:
            load_file(profile)
            pytest.fail(f"{what}: no error")
        message = str(err.value)
        assert "\n" not in message, what
        assert message.startswith(f"{profile}:"), (what, message)
        assert str(model_path) in message and fragment in message, (what, message)
        for command in (["rules", "check", profile],
                        ["run", "-r", MIXED, "-l", tmp_path / "logs", "--rules", profile]):
            proc = run_wirescore(*command, check=False)
            assert proc.returncode == 1, (what, command)
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("wirescore: error: "), (what, lines)
            assert str(model_path) in lines[0] and fragment in lines[0], (what, lines[0])
            assert "Traceback" not in proc.stderr


def test_unknown_onnx_parameter_points_at_the_line(tmp_path, forest_file):
    _, path = forest_file
    profile = write_profile(tmp_path, path, extra=", output: scores, negate: true, colour: red")
    with pytest.raises(WirescoreError, match=r"p\.yaml:7: model\.params\.colour: unknown "
                                             "parameter of an onnx model"):
        load_file(profile)


def test_the_model_file_is_loaded_once_for_checking_and_running(tmp_path, forest_file,
                                                                monkeypatch):
    """Loading the profile opens the ONNX session that the run scores with; only a
    second run of the same profile opens another."""
    from wirescore.detect import Detector
    from wirescore.models import onnx as onnx_module

    opened = []
    real_open = onnx_module.OnnxModel._open

    def counting_open(self, threads):
        opened.append(self)
        return real_open(self, threads)

    monkeypatch.setattr(onnx_module.OnnxModel, "_open", counting_open)
    _, path = forest_file
    (profile,) = load_file(write_profile(tmp_path, path))
    detector = Detector([profile])
    assert len(opened) == 1 and detector.detectors[0].model.model is opened[0]
    Detector([profile])
    assert len(opened) == 2


def test_relative_model_path_is_taken_from_the_profile_folder(tmp_path, forest_file,
                                                              monkeypatch):
    import shutil

    _, path = forest_file
    shutil.copy(path, tmp_path / "here.onnx")
    profile = write_profile(tmp_path, "here.onnx")
    monkeypatch.chdir(FIXTURES)                  # not where the model is
    (p,) = load_file(profile)
    assert p.model["params"]["path"] == str(tmp_path / "here.onnx")


# ---------------------------------------------------------------- whole runs

def test_run_scores_are_the_models_scores_unscaled(tmp_path, forest_file):
    """The detector feeds the transformed features as they are (no running min-max
    scaling): the export's score column equals the forest's own scores."""
    forest, path = forest_file
    profile = write_profile(tmp_path, path, threshold=1e9)
    export = tmp_path / "flows.csv"
    run_wirescore("run", "-r", MIXED, "-l", tmp_path / "logs", "--rules", profile,
                  "--export", export)
    with open(export, newline="") as fh:
        rows = list(csv.DictReader(fh))
    raw = np.array([[float(r[f]) for f in FEATURES] for r in rows])
    X = transform_matrix(raw, "log1p").astype(np.float32)
    got = np.array([float(r["score.4300001"]) for r in rows])
    np.testing.assert_allclose(got, -forest.decision_function(X), rtol=1e-6, atol=1e-6)


def test_onnx_alerts_are_valid_eve(tmp_path, forest_file):
    from test_eve_schema import check_structure

    _, path = forest_file
    profile = write_profile(tmp_path, path, threshold=-1.0)     # every flow alerts
    logdir = tmp_path / "logs"
    # ~2,000 alerts: room for every snippet (the default keeps the newest 1,000 files)
    run_wirescore("run", "-r", SCAN, "-l", logdir, "--rules", profile,
                  "--snippet-max-files", "10000")
    events = read_eve(logdir)
    check_structure(events, "onnx run")
    alerts = [e for e in events if e["event_type"] == "alert"]
    flows = [e for e in events if e["event_type"] == "flow"]
    assert alerts
    alerted = {e["flow_id"] for e in flows if e["flow"]["alerted"]}
    assert alerted == {e["flow_id"] for e in alerts}
    for al in alerts:
        assert al["alert"]["signature_id"] == 4300001
        assert al["alert"]["metadata"]["wirescore_model"] == ["onnx"]
        assert (logdir / al["capture_file"]).exists()
    if shared_available():
        import jsonschema

        schema = json.loads((SHARED_DATA / "suricata-eve-schema.json").read_text())
        validator = jsonschema.Draft202012Validator(schema)
        for ev in events:
            errors = list(validator.iter_errors(ev))
            assert not errors, (ev, errors[0].message)
