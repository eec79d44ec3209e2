"""The seven classifiers of the papers this tool grew from, benchmarked side by side:
`wirescore model compare`.

On one labelled table of flows (a dataset CSV read by wirescore.csvtrain, or a capture
with a labels file), every classifier is fitted on the same seeded stratified split
(`test_share` held out; a time split would leave no attack in the training part of a
mix whose first 40 % is benign) and measured on the held-out rows: F1, precision and
recall of the attack class at probability 0.5, ROC AUC of the attack probability, fit
and predict seconds (recorded, machine-dependent). The best is the highest F1 (ties:
ROC AUC, then the order below).

Classifiers (scikit-learn unless said; seeded; one thread each):
``xgboost`` XGBClassifier, ``lightgbm`` LGBMClassifier (both optional: the research
extra), ``rf`` random forest, ``gbt`` gradient boosting, ``dtree`` decision tree,
``knn`` k nearest neighbours (k = 5) and ``logreg`` logistic regression, the last two
behind a StandardScaler in the same pipeline (so the scaler goes into the ONNX graph).

Every fitted model is exported to ONNX (wirescore.compare_onnx) and its attack
probability checked against the library's own predict_proba on the held-out rows: a
difference above 1e-5 is an error, never a warning. Plots: wirescore.compare_plots.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from wirescore.errors import WirescoreError

log = logging.getLogger(__name__)

ORDER = ("xgboost", "lightgbm", "rf", "gbt", "dtree", "knn", "logreg")
TOLERANCE = 1e-5            # |ONNX - library| on the attack probability, at most


@dataclass
class Result:
    """One classifier's measures on the held-out rows."""

    name: str
    model: object
    f1: float
    precision: float
    recall: float
    roc_auc: float
    fit_s: float
    predict_s: float
    proba: np.ndarray
    pred: np.ndarray
    onnx_max_diff: float = float("nan")
    onnx_path: str = ""
    extra: dict = field(default_factory=dict)

    def row(self) -> dict:
        return {"model": self.name, "f1": self.f1, "precision": self.precision,
                "recall": self.recall, "roc_auc": self.roc_auc, "fit_s": self.fit_s,
                "predict_s": self.predict_s, "onnx_max_abs_diff": self.onnx_max_diff,
                "onnx": self.onnx_path}


def make(name: str, seed: int):
    """An unfitted classifier by name (ORDER); an error naming the missing library."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "xgboost":
        xgb = _optional("xgboost", "xgboost")
        return xgb.XGBClassifier(n_estimators=200, max_depth=6, learning_rate=0.1,
                                 random_state=seed, n_jobs=1, tree_method="hist")
    if name == "lightgbm":
        lgb = _optional("lightgbm", "lightgbm")
        return lgb.LGBMClassifier(n_estimators=200, random_state=seed, n_jobs=1, verbose=-1)
    from sklearn import ensemble, linear_model, neighbors, tree

    makers = {
        "rf": lambda: ensemble.RandomForestClassifier(n_estimators=200, random_state=seed,
                                                      n_jobs=1),
        "gbt": lambda: ensemble.GradientBoostingClassifier(n_estimators=100,
                                                           random_state=seed),
        "dtree": lambda: tree.DecisionTreeClassifier(random_state=seed),
        "knn": lambda: make_pipeline(StandardScaler(), neighbors.KNeighborsClassifier(5)),
        "logreg": lambda: make_pipeline(StandardScaler(),
                                        linear_model.LogisticRegression(max_iter=2000)),
    }
    if name not in makers:
        raise WirescoreError(f"--models: unknown classifier {name!r} (one of "
                             f"{', '.join(ORDER)})")
    return makers[name]()


def _optional(module: str, extra_name: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise WirescoreError(f"classifier {extra_name} needs the {module} package: pip "
                             "install 'wirescore[research]' (or leave it out of --models)"
                             ) from None


def split(y: np.ndarray, test_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified (train, test) indices; an error when a class has under 2 rows."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y.astype(np.int64), minlength=2)
    if counts.min() < 2:
        raise WirescoreError(f"need at least 2 rows of each class; have {counts[0]} benign, "
                             f"{counts[1]} attack")
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_share, random_state=seed, stratify=y)
    return np.sort(tr), np.sort(te)


def measure(name: str, model, X: np.ndarray, y: np.ndarray, tr, te) -> Result:
    """Fit on the train rows, measure on the test rows (module docstring)."""
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    t0 = time.perf_counter()
    model.fit(X[tr], y[tr])
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    proba = model.predict_proba(X[te])[:, 1]
    predict_s = time.perf_counter() - t0
    pred = (proba >= 0.5).astype(np.int8)
    yt = y[te]
    return Result(name, model, float(f1_score(yt, pred, zero_division=0)),
                  float(precision_score(yt, pred, zero_division=0)),
                  float(recall_score(yt, pred, zero_division=0)),
                  float(roc_auc_score(yt, proba)), fit_s, predict_s, proba, pred)


def best(results: Sequence[Result]) -> Result:
    """Highest F1; ties by ROC AUC, then ORDER."""
    return max(results, key=lambda r: (r.f1, r.roc_auc, -ORDER.index(r.name)))


def compare(X: np.ndarray, y: np.ndarray, names: Sequence[str] = ORDER,
            test_share: float = 0.3, seed: int = 42) -> tuple[list[Result], np.ndarray]:
    """Fit and measure each classifier of names on one split; (results, test indices).
    X: float32 (rows, features); y: 0/1."""
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y).astype(np.int64)
    if not np.isfinite(X).all():
        raise WirescoreError("feature values are not all finite")
    tr, te = split(y, test_share, seed)
    results = []
    for name in names:
        r = measure(name, make(name, seed), X, y, tr, te)
        log.info("%s: F1 %.4f, ROC AUC %.4f, fit %.2f s", name, r.f1, r.roc_auc, r.fit_s)
        results.append(r)
    return results, te


def table(results: Sequence[Result], chosen: Result) -> str:
    """The comparison as aligned text, best marked with '*'."""
    head = (f"{'model':<9} {'F1':>7} {'prec':>7} {'recall':>7} {'ROC AUC':>8} "
            f"{'fit s':>7} {'pred s':>7} {'|onnx-lib|':>10}")
    lines = [head]
    for r in results:
        mark = "*" if r is chosen else " "
        lines.append(f"{r.name:<8}{mark} {r.f1:7.4f} {r.precision:7.4f} {r.recall:7.4f} "
                     f"{r.roc_auc:8.4f} {r.fit_s:7.2f} {r.predict_s:7.3f} "
                     f"{r.onnx_max_diff:10.2e}")
    return "\n".join(lines)
