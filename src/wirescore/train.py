"""Fit a model offline and ship it as ONNX: `wirescore train`.

From a FlowSet (a capture run through the core, or a `--export` file):

1. rows: the flows ending in [since, until] (epoch seconds; None = open), sorted by
   end time; with labels (wirescore.labels), each row's attack type;
2. features: the profile's columns through the profile's transform (the function the
   detector uses, wirescore.detect.transform_matrix), as float32;
3. split by time: the last `validation` share of the rows is held out (a supervised
   model falls back to a seeded stratified split when the time split leaves one side
   without a class, and the sidecar says so);
4. fit a scikit-learn pipeline (a StandardScaler before the One-Class SVM; tree models
   take the features as they are, scaling changes nothing for them):
   unsupervised, on traffic taken as normal (every row, or the rows labelled benign):
   ``iforest`` IsolationForest, ``ocsvm`` One-Class SVM (RBF; at most `max_rows` rows,
   drawn with the seed, since its cost grows with the square of the rows);
   supervised, given labels: ``rf`` random forest, ``gbt`` gradient-boosted trees;
5. convert it with skl2onnx (float32 input "input" [rows, features]), check that
   onnxruntime's scores equal scikit-learn's on the same rows to float32 rounding, and
   write PREFIX.onnx, PREFIX.json (the sidecar: features, preprocessing, training-data
   digests, validation metrics, threshold, versions) and PREFIX.yaml (a profile using
   the model; `wirescore rules check` passes it).

Scores: unsupervised models give -decision_function (higher = more anomalous);
classifiers the attack-class probability. The profile's threshold is fixed: the
`threshold_quantile` of the held-out (benign) scores for unsupervised models, 0.5 for
classifiers, unless a threshold is given.

scikit-learn and skl2onnx are an optional extra (pip install 'wirescore[train]'),
imported when training starts.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from wirescore.errors import WirescoreError

log = logging.getLogger(__name__)

UNSUPERVISED = ("iforest", "ocsvm")
SUPERVISED = ("rf", "gbt")
MODELS = UNSUPERVISED + SUPERVISED
ESTIMATORS = {
    "iforest": ("sklearn.ensemble", "IsolationForest", {"n_estimators": 100}),
    "ocsvm": ("sklearn.svm", "OneClassSVM", {"nu": 0.01, "gamma": "scale"}),
    "rf": ("sklearn.ensemble", "RandomForestClassifier",
           {"n_estimators": 200, "min_samples_leaf": 2, "class_weight": "balanced_subsample",
            "n_jobs": 1}),
    "gbt": ("sklearn.ensemble", "GradientBoostingClassifier", {"n_estimators": 200}),
}
SEEDED = ("iforest", "rf", "gbt")
SCALED = ("ocsvm",)             # models fitted behind a StandardScaler (in the ONNX graph)
SIDECAR_FORMAT = "wirescore-model/1"
DEFAULT_ID = 9200001


@dataclass
class TrainResult:
    """The files written and the sidecar's content."""

    onnx_path: Path
    sidecar_path: Path
    profile_path: Path
    sidecar: dict


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def need_training_libraries() -> None:
    """Raise a one-line WirescoreError when scikit-learn or skl2onnx is missing."""
    try:
        import skl2onnx  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise WirescoreError(f"wirescore train needs scikit-learn and skl2onnx ({exc.name} is "
                             "missing): pip install 'wirescore[train]'") from None


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _estimator(kind: str, seed: int, params: dict):
    import importlib

    module, cls, defaults = ESTIMATORS[kind]
    args = {**defaults, **({"random_state": seed} if kind in SEEDED else {}), **params}
    try:
        return getattr(importlib.import_module(module), cls)(**args)
    except TypeError as exc:
        raise WirescoreError(f"--param: {cls}: {exc}") from None


def _split(n: int, validation: float, y: np.ndarray | None, seed: int):
    """(train indices, validation indices, how). Rows are in end-time order."""
    n_val = int(math.floor(validation * n))
    idx = np.arange(n)
    tr, va = idx[:n - n_val], idx[n - n_val:]
    how = f"by time: the last {validation:.0%} of the rows (by flow end) held out"
    if y is not None and n_val and (len(np.unique(y[tr])) < 2 or len(np.unique(y[va])) < 2):
        rng = np.random.default_rng(seed)
        va_parts = []
        for cls in (0, 1):
            members = idx[y == cls]
            take = int(round(validation * len(members)))
            va_parts.append(rng.choice(members, size=take, replace=False))
        va = np.sort(np.concatenate(va_parts))
        tr = np.setdiff1d(idx, va)
        how = (f"stratified random {validation:.0%} held out (seed {seed}): the time split "
               "left one side without attack or benign rows")
    return tr, va, how


def _profile_doc(like, features, transform, kind, onnx_name, output, column, negate,
                 threshold, profile_id, name) -> dict:
    doc: dict[str, Any] = {
        "id": profile_id, "rev": 1, "name": name,
        "category": like.category if like is not None else "Anomalous network behaviour",
        "unit": "flow", "features": list(features), "transform": transform,
        "model": {"name": "onnx",
                  "params": {"path": onnx_name, "output": output, "column": column,
                             "negate": negate}},
        "threshold": {"fixed": float(threshold)}, "warmup": 0,
        "severity": 2 if kind in UNSUPERVISED else [{"score": 0.0, "severity": 3},
                                                    {"score": 0.9, "severity": 2}],
    }
    if like is not None:
        doc["suppress"] = {"seconds": like.suppress_seconds}
        allow = []
        from wirescore.rules import PROTO_NUMBERS

        names = {v: k for k, v in PROTO_NUMBERS.items()}
        for rule in like.allowlist:
            entry: dict[str, Any] = {}
            if rule.cidr is not None:
                entry["cidr"] = str(rule.cidr)
            if rule.port is not None:
                entry["port"] = rule.port
            if rule.proto is not None:
                entry["proto"] = names[rule.proto]
            allow.append(entry)
        if allow:
            doc["allowlist"] = allow
    return doc


@dataclass
class _Rows:
    """The flows trained on: by end time, their labels and transformed features."""

    flows: Any                      # wirescore.flowset.FlowSet
    attacks: list | None            # attack type per row ('' = benign), with labels
    y: np.ndarray | None            # 0/1 per row, with labels
    X: np.ndarray                   # float32 (rows, features) after the transform


@dataclass
class _Split:
    """Which rows fit the model and which validate it."""

    train: np.ndarray               # rows on the training side of the split
    validation: np.ndarray          # rows held out
    how: str                        # how the split was made, for the sidecar
    fit: np.ndarray                 # the training rows the estimator is fitted on
    sampled: int | None             # ocsvm: the fit rows were sampled down to this many


@dataclass
class _Fitted:
    """The fitted pipeline and how its ONNX output reads as a score."""

    pipe: Any
    estimator: Any
    output: str                     # the ONNX output holding the score
    column: int
    negate: bool

    def sk_scores(self, X: np.ndarray) -> np.ndarray:
        """scikit-learn's scores, higher = more anomalous (module docstring)."""
        if self.output == "probabilities":
            return self.pipe.predict_proba(X)[:, self.column]
        return -self.pipe.decision_function(X)


def train(flows, features: Sequence[str], out_prefix: str | Path, *, kind: str = "iforest",
          labels=None, transform: str = "log1p", since: float | None = None,
          until: float | None = None, validation: float = 0.2,
          threshold_quantile: float = 0.995, threshold: float | None = None,
          profile_id: int = DEFAULT_ID, name: str | None = None, seed: int = 42,
          params: dict | None = None, max_rows: int = 20000, like=None,
          source_sha256: str | None = None, force: bool = False) -> TrainResult:
    """Fit, convert, check and write a model (see the module docstring).

    flows: a wirescore.flowset.FlowSet. labels: a wirescore.labels.Labels or None.
    out_prefix: PREFIX of PREFIX.onnx / .json / .yaml (the folder is created).
    like: a Profile whose category, suppression and allowlist the written profile
    copies. source_sha256: digest of the capture or export the flows came from.
    force: overwrite existing files. Raises WirescoreError (one line) on any fault."""
    _check_arguments(kind, labels, validation, threshold_quantile)
    need_training_libraries()
    paths = _output_paths(Path(out_prefix), force)
    rows = _rows(flows, features, labels, transform, since, until)
    split = _split_rows(rows, kind, validation, seed, max_rows)
    if len(split.fit) < 10:
        raise WirescoreError(f"{flows.source}: only {len(split.fit)} training flows "
                             f"(between {_iso(since) or 'the start'} and "
                             f"{_iso(until) or 'the end'}); need at least 10")
    if kind in SUPERVISED and len(np.unique(rows.y[split.train])) < 2:
        raise WirescoreError(f"{labels.path}: the labels mark "
                             f"{'no' if rows.y[split.train].sum() == 0 else 'every'} "
                             "training flow as an attack; a classifier needs both kinds")
    fitted = _fit(kind, seed, dict(params or {}), rows, split, len(features))
    onnx_bytes, scores, check = _write_checked_onnx(fitted, kind, features, transform, rows,
                                                   split, paths[".onnx"])
    thr, thr_how = _threshold(kind, scores, rows, split, threshold, threshold_quantile)
    name = name or f"WIRESCORE {kind} model trained on {Path(flows.source).name}"
    sidecar = {
        "format": SIDECAR_FORMAT,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model_file": paths[".onnx"].name,
        "model_sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        "profile_file": paths[".yaml"].name,
        "unit": "flow",
        "features": list(features),
        "input": {"name": "input", "dtype": "float32", "shape": [None, len(features)]},
        "output": {"name": fitted.output, "column": fitted.column, "negate": fitted.negate,
                   "meaning": ("attack-class probability" if kind in SUPERVISED else
                               "-decision_function: higher = more anomalous")},
        "preprocessing": _preprocessing(fitted, kind, transform),
        "estimator": {"kind": kind, "class": f"{ESTIMATORS[kind][0]}.{ESTIMATORS[kind][1]}",
                      "params": {k: v for k, v in fitted.estimator.get_params().items()
                                 if isinstance(v, (int, float, str, bool, type(None)))}},
        "training": _training_doc(rows, split, kind, labels, since, until, seed,
                                  source_sha256),
        "validation": _validation(scores[split.validation],
                                  None if rows.y is None else rows.y[split.validation], thr,
                                  None if rows.attacks is None
                                  else [rows.attacks[i] for i in split.validation]),
        "onnx_check": check,
        "threshold": {"fixed": thr, "how": thr_how},
        "versions": _versions(),
    }
    paths[".json"].write_text(json.dumps(sidecar, indent=1) + "\n")
    doc = _profile_doc(like, features, transform, kind, paths[".onnx"].name, fitted.output,
                       fitted.column, fitted.negate, thr, profile_id, name)
    _write_profile(paths[".yaml"], doc, sidecar)
    from wirescore.rules import load_file

    load_file(paths[".yaml"])        # what we wrote passes `wirescore rules check`
    log.info("wrote %s, %s, %s", paths[".onnx"], paths[".json"], paths[".yaml"])
    return TrainResult(paths[".onnx"], paths[".json"], paths[".yaml"], sidecar)


def _check_arguments(kind: str, labels, validation: float, threshold_quantile: float) -> None:
    if kind not in MODELS:
        raise WirescoreError(f"--model {kind!r}: one of {', '.join(MODELS)}")
    if kind in SUPERVISED and labels is None:
        raise WirescoreError(f"--model {kind} is supervised: give --labels FILE "
                             "(or choose iforest / ocsvm)")
    if not 0.0 <= validation < 1.0:
        raise WirescoreError(f"--validation {validation}: a share in [0, 1)")
    if not 0.0 < threshold_quantile < 1.0:
        raise WirescoreError(f"--threshold-quantile {threshold_quantile}: between 0 and 1")


def _output_paths(prefix: Path, force: bool) -> dict[str, Path]:
    """PREFIX.onnx / .json / .yaml; refused when one exists, unless force."""
    paths = {ext: prefix.with_name(prefix.name + ext) for ext in (".onnx", ".json", ".yaml")}
    if not force:
        for p in paths.values():
            if p.exists():
                raise WirescoreError(f"{p}: already exists (use --force to overwrite)")
    return paths


def _rows(flows, features, labels, transform: str, since, until) -> _Rows:
    """The flows ending in [since, until], sorted by end time (the split is by time),
    their labels, and their features through the profile's transform, as float32."""
    from wirescore.detect import transform_matrix

    keep = np.ones(len(flows), dtype=bool)
    if since is not None:
        keep &= flows.end >= since
    if until is not None:
        keep &= flows.end <= until
    rows = flows.select(keep)
    rows = rows.take(np.argsort(rows.end, kind="mergesort"))
    attacks = labels.attacks(rows) if labels is not None else None
    X = transform_matrix(rows.matrix(features), transform).astype(np.float32)
    if not np.isfinite(X).all():
        raise WirescoreError(f"{flows.source}: feature values are not all finite after "
                             f"transform {transform}")
    return _Rows(rows, attacks, labels.y(attacks) if labels is not None else None, X)


def _split_rows(rows: _Rows, kind: str, validation: float, seed: int,
                max_rows: int) -> _Split:
    """The split by time (_split) and the rows the estimator fits: unsupervised models
    fit the benign rows when there are labels; ocsvm at most max_rows of them."""
    n = len(rows.flows)
    fit_mask = np.ones(n, dtype=bool)
    if kind in UNSUPERVISED and rows.y is not None:
        fit_mask = rows.y == 0                 # traffic taken as normal: the benign rows
    tr, va, how = _split(n, validation, rows.y if kind in SUPERVISED else None, seed)
    fit = tr[fit_mask[tr]]
    sampled = None
    if kind == "ocsvm" and len(fit) > max_rows:
        rng = np.random.default_rng(seed)
        fit = np.sort(rng.choice(fit, size=max_rows, replace=False))
        sampled = max_rows
    return _Split(tr, va, how, fit, sampled)


def _fit(kind: str, seed: int, params: dict, rows: _Rows, split: _Split,
         n_features: int) -> _Fitted:
    """The scikit-learn pipeline, fitted on the fit rows."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    est = _estimator(kind, seed, params)
    # trees split on one feature at a time: scaling changes nothing for them, and leaving
    # it out keeps ONNX's float32 thresholds exactly sklearn's; the SVM's RBF kernel needs it
    steps = [("scale", StandardScaler())] if kind in SCALED else []
    pipe = Pipeline(steps + [("model", est)])
    X_fit = rows.X[split.fit]
    log.info("fitting %s on %d rows x %d features", type(est).__name__, len(X_fit),
             n_features)
    try:
        if kind in SUPERVISED:
            pipe.fit(X_fit, rows.y[split.fit])
        else:
            pipe.fit(X_fit)
    except ValueError as exc:
        raise WirescoreError(f"{type(est).__name__}: {exc}") from None
    if kind in SUPERVISED:
        return _Fitted(pipe, est, "probabilities", list(pipe.classes_).index(1), False)
    return _Fitted(pipe, est, "scores", 0, True)


def _write_checked_onnx(fitted: _Fitted, kind: str, features, transform: str, rows: _Rows,
                        split: _Split, path: Path) -> tuple[bytes, np.ndarray, dict]:
    """Convert the pipeline, check that onnxruntime scores the rows as scikit-learn does
    (to float32 rounding), and only then put the file in place. Returns the ONNX bytes,
    onnxruntime's score of every row, and the check's figures for the sidecar."""
    onnx_bytes = _to_onnx(fitted.pipe, fitted.estimator, features, transform, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(onnx_bytes)
    try:
        from wirescore.models.onnx import OnnxModel

        model = OnnxModel(tmp, features, output=fitted.output, column=fitted.column,
                          negate=fitted.negate, transform=transform)
        check_rows = np.r_[split.validation, split.train][:5000]
        scores = model.score_many(rows.X)
        ref = fitted.sk_scores(rows.X[check_rows])
        diff = float(np.max(np.abs(scores[check_rows] - ref))) if len(check_rows) else 0.0
        scale = max(1.0, float(np.max(np.abs(ref)))) if len(ref) else 1.0
        if not diff <= 1e-4 * scale:
            raise WirescoreError(f"{path}: ONNX scores differ from scikit-learn's "
                                 f"by up to {diff:.3g}: the conversion is wrong")
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return onnx_bytes, scores, {"rows": int(len(check_rows)), "max_abs_diff": diff}


def _threshold(kind: str, scores: np.ndarray, rows: _Rows, split: _Split,
               threshold: float | None, quantile: float) -> tuple[float, str]:
    """The profile's fixed threshold and how it was chosen, from onnxruntime's scores:
    given; 0.5 for a classifier; else the quantile of the held-out benign scores (the
    training scores when fewer than 100 are held out)."""
    if threshold is not None:
        return float(threshold), "given with --threshold"
    if kind in SUPERVISED:
        return 0.5, "attack-class probability 0.5"
    va = split.validation
    benign_va = va if rows.y is None else va[rows.y[va] == 0]
    held_out = len(benign_va) >= 100
    calib = scores[benign_va] if held_out else scores[split.fit]
    return float(np.quantile(calib, quantile)), (
        f"{quantile:.4g} quantile of the {'held-out' if held_out else 'training'} "
        f"{'benign ' if rows.y is not None else ''}scores ({len(calib)} rows)")


def _preprocessing(fitted: _Fitted, kind: str, transform: str) -> dict:
    doc = {
        "transform": transform,
        "transform_applied_by": "wirescore, before the model (the profile's "
                                "transform: log1p = log(1 + max(x, 0)))"
        if transform == "log1p" else "none",
        "in_graph": ["StandardScaler"] if kind in SCALED else [],
    }
    if kind in SCALED:
        scaler = fitted.pipe.named_steps["scale"]
        doc["scaler_mean"] = [round(float(v), 9) for v in scaler.mean_]
        doc["scaler_scale"] = [round(float(v), 9) for v in scaler.scale_]
    return doc


def _training_doc(rows: _Rows, split: _Split, kind: str, labels, since, until, seed: int,
                  source_sha256: str | None) -> dict:
    flows, y = rows.flows, rows.y
    return {
        "source": flows.source, "source_sha256": source_sha256,
        "labels": None if labels is None else str(labels.path),
        "labels_sha256": None if labels is None else labels.sha256,
        "since": since, "until": until, "since_utc": _iso(since), "until_utc": _iso(until),
        "rows": len(flows), "fit_rows": int(len(split.fit)),
        "validation_rows": int(len(split.validation)),
        "fit_on": ("rows labelled benign" if kind in UNSUPERVISED and y is not None
                   else "every row, taken as normal" if kind in UNSUPERVISED
                   else "every row, with its label"),
        "subsampled_to": split.sampled, "split": split.how, "seed": seed,
        "attack_rows": None if y is None else int(y.sum()),
        "first_flow_end_utc": _iso(float(flows.end[0])) if len(flows) else None,
        "last_flow_end_utc": _iso(float(flows.end[-1])) if len(flows) else None,
        "matrix_sha256": hashlib.sha256(np.ascontiguousarray(rows.X).tobytes()).hexdigest(),
        "matrix": "float32 C-order, rows by flow end, columns as features, after the "
                  "transform",
    }


def _to_onnx(pipe, est, features, transform, kind) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    from wirescore.models.onnx import META_FEATURES, META_TRANSFORM

    options = {id(est): {"zipmap": False}} if kind in SUPERVISED else None
    try:
        onx = to_onnx(pipe, initial_types=[("input", FloatTensorType([None, len(features)]))],
                      target_opset={"": 17, "ai.onnx.ml": 3}, options=options,
                      model_optim=False)   # its identity pass is quadratic: minutes for
                                           # 200 trees; onnxruntime optimises at load
    except Exception as exc:              # skl2onnx raises many kinds
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise WirescoreError(f"skl2onnx cannot convert {type(est).__name__}: {first}") from None
    # skl2onnx lists the opsets in set order: sort them, so the same input and seed give
    # the same bytes (and the same model_sha256)
    opsets = sorted(((o.domain, o.version) for o in onx.opset_import))
    del onx.opset_import[:]
    for domain, version in opsets:
        entry = onx.opset_import.add()
        entry.domain, entry.version = domain, version
    for key, value in ((META_FEATURES, json.dumps(list(features))),
                       (META_TRANSFORM, transform)):
        entry = onx.metadata_props.add()
        entry.key, entry.value = key, value
    onx.doc_string = (f"wirescore {kind} model; input: float32 [rows, {len(features)}] "
                      f"feature columns after transform {transform}")
    return onx.SerializeToString()


def _validation(s: np.ndarray, y: np.ndarray | None, thr: float, attacks) -> dict:
    from wirescore.evaluate import average_precision, confusion, recall_at_fpr, roc_auc

    out: dict[str, Any] = {"rows": int(len(s)), "threshold": thr}
    if len(s):
        q = np.quantile(s, [0.5, 0.9, 0.99, 0.999])
        out["score_quantiles"] = {k: round(float(v), 6)
                                  for k, v in zip(("p50", "p90", "p99", "p99.9"), q)}
        out["above_threshold"] = round(float(np.mean(s > thr)), 6)
    if y is not None and len(s):
        def num(x):
            return None if math.isnan(x) else round(x, 4)

        rec, _ = recall_at_fpr(s, y, 0.01)
        out.update(attack_rows=int(y.sum()), roc_auc=num(roc_auc(s, y)),
                   average_precision=num(average_precision(s, y)),
                   recall_at_1pct_fpr=num(rec), confusion=confusion(s > thr, y))
        if attacks is not None and y.sum():
            per = {}
            for t in sorted({a for a in attacks if a}):
                sel = np.array([a == t for a in attacks])
                per[t] = {"rows": int(sel.sum()),
                          "recall_at_threshold": round(float(np.mean(s[sel] > thr)), 4)}
            out["per_attack"] = per
    return out


def _versions() -> dict:
    import onnxruntime
    import skl2onnx
    import sklearn

    from wirescore import __version__

    return {"wirescore": __version__, "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def _write_profile(path: Path, doc: dict, sidecar: dict) -> None:
    import yaml

    t = sidecar["training"]
    v = sidecar["validation"]
    header = [
        f"# Written by `wirescore train` on {sidecar['created']}: {sidecar['estimator']['class']}",
        f"# fitted on {t['fit_rows']} flows of {Path(t['source']).name} "
        f"({t['fit_on']}; flows ending {t['since_utc'] or 'from the start'} .. "
        f"{t['until_utc'] or 'the end'}).",
        f"# Model: {sidecar['model_file']} (sha256 {sidecar['model_sha256'][:16]}...); "
        f"sidecar: {path.with_suffix('.json').name}",
        f"# Threshold: {sidecar['threshold']['how']}; held-out rows above it: "
        f"{v.get('above_threshold')}.",
        "# The model is fixed (it does not learn); re-train to follow changes in traffic.",
    ]
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)
    path.write_text("\n".join(header) + "\n" + body)
