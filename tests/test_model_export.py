"""`wirescore model export`: a fitted scikit-learn Pipeline (imputer, one-hot encoder
and scaler in a ColumnTransformer, PCA, classifier) saved with joblib becomes an ONNX
model with its preprocessing inside; the profile it writes runs in `wirescore run`, and
the scores there equal the original pipeline's predict_proba on the same flows' columns
(exported by the same run with --feature-set), within 1e-5."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from conftest import need_shared, run_wirescore

for module in ("sklearn", "skl2onnx", "onnxruntime", "joblib"):
    pytest.importorskip(module, reason=f"model export needs the train extra ({module})")

from unsw_slice import make_slice  # noqa: E402

CATEGORICAL = ("proto", "service", "state")


def _pipeline(names, final):
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    short = [n.split(".", 1)[1] for n in names]
    cat = [i for i, n in enumerate(short) if n in CATEGORICAL]
    num = [i for i, n in enumerate(short) if n not in CATEGORICAL]
    # imputers inside the branches, scikit-learn's usual layout (skl2onnx cannot
    # convert an imputer in front of a ColumnTransformer: pipeline_export's docstring)
    prep = ColumnTransformer([
        ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore",
                                                   sparse_output=False))]), cat),
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                          ("scale", StandardScaler())]), num)])
    return Pipeline([("prep", prep), ("pca", PCA(n_components=8, random_state=0)),
                     ("model", final)])


@pytest.mark.parametrize("kind", ["logreg", "rf"])
def test_exported_pipeline_runs_and_equals_the_original(tmp_path, kind):
    import joblib
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from wirescore.csvtrain import read_dataset_csv
    from wirescore.featuresets.csvrows import read_rows

    shared = need_shared()
    path, _, _ = make_slice(tmp_path, shared)
    flows, labels, names = read_dataset_csv(path, "unsw-nb15", "label")
    final = (LogisticRegression(max_iter=2000) if kind == "logreg"
             else RandomForestClassifier(n_estimators=50, random_state=0))
    pipe = _pipeline(names, final).fit(flows.matrix(names).astype(np.float32),
                                       labels.y(labels.attacks(flows)))
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    prefix = tmp_path / "out" / "pipe"
    proc = run_wirescore("model", "export", tmp_path / "pipe.joblib", "-o", prefix,
                         "--sample", path, "--feature-set", "unsw-nb15")
    assert "ColumnTransformer -> PCA" in proc.stdout
    scan = shared / "pcaps/labeled/scans/esnet-nmap_80_all.pcap"
    export = tmp_path / "scored.csv"
    run_wirescore("run", "-r", scan, "-l", tmp_path / "logs", "--rules",
                  prefix.with_suffix(".yaml"), "--export", export,
                  "--feature-set", "unsw-nb15")
    X = read_rows(export, names, max_rows=10 ** 6)
    with open(export, newline="") as fh:
        scores = np.array([float(r["score.9200201"]) for r in csv.DictReader(fh)])
    assert len(scores) == len(X) > 0
    assert np.max(np.abs(scores - pipe.predict_proba(X)[:, 1])) <= 1e-5


def test_export_errors(tmp_path):
    import joblib
    from sklearn.cluster import KMeans

    shared = need_shared()
    path, _, _ = make_slice(tmp_path, shared)
    joblib.dump(KMeans(n_clusters=2, n_init=1).fit(np.zeros((4, 2)) + np.arange(4)[:, None]),
                tmp_path / "km.joblib")
    proc = run_wirescore("model", "export", tmp_path / "km.joblib", "-o", tmp_path / "x",
                         "--sample", path, "--feature-set", "unsw-nb15", check=False)
    assert proc.returncode == 1 and "KMeans has no predict_proba" in proc.stderr
    from sklearn.linear_model import LogisticRegression

    joblib.dump(LogisticRegression().fit(np.arange(6).reshape(3, 2), [0, 1, 1]),
                tmp_path / "lr.joblib")
    proc = run_wirescore("model", "export", tmp_path / "lr.joblib", "-o", tmp_path / "x",
                         "--sample", path, "--feature-set", "unsw-nb15", check=False)
    assert proc.returncode == 1 and "takes 2 columns, the features are" in proc.stderr
