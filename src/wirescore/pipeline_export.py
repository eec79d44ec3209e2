"""`wirescore model export`: a fitted scikit-learn Pipeline (imputer, scaler, one-hot
encoder, PCA, classifier; any step skl2onnx converts, XGBoost / LightGBM final steps
too) saved with joblib or pickle, as an ONNX model with its preprocessing inside the
graph, checked against the original on sample rows, and a profile that runs it.

The pipeline must take a float matrix whose columns are the profile's features in
order: a feature set's columns ("SET.column", categorical columns as their vocabulary
index, as the sensor encodes them; a one-hot encoder in the pipeline then works on
those codes) or catalogue columns. Sample rows: a CSV whose header names those columns
(a dataset CSV in its own layout, or a `--export --feature-set` file); at most
`max_rows` of them are used.

Known limit (skl2onnx 1.20): an imputer in front of a ColumnTransformer does not
convert (its output shape is unknown to the converter); put the imputers inside the
ColumnTransformer's branches, scikit-learn's usual layout. A one-hot encoder converts
over one column of codes at a time or several integer-valued ones.

A tree model behind a scaler or PCA compares float32 values the ONNX graph computed in
another order than the library: a value within a rounding of a split goes the other way.
On synthetic data XGBoost behind StandardScaler / PCA differed by up to 0.01 / 0.38
(LightGBM and scikit-learn's forests did not, there); such an export fails the check
below rather than shipping a model that scores differently.

The check: the attack-class probability (predict_proba column 1) of the original and
of onnxruntime on the sample rows (float32) differ by at most 1e-5, or it is an error.

Loading a pickle runs code from the file: export only pipelines you made or trust. The
sensor itself never unpickles (models/onnx.py); this command runs offline.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Sequence

from wirescore.compare import TOLERANCE
from wirescore.errors import WirescoreError
from wirescore.featuresets.csvrows import read_rows

EXPORT_ID = 9200201


def load_pipeline(path: str | Path):
    """The fitted object in a joblib or pickle file (see the module docstring)."""
    path = Path(path)
    try:
        import joblib

        model = joblib.load(path)
    except ImportError:
        with open(path, "rb") as fh:
            model = pickle.load(fh)
    except Exception as exc:
        raise WirescoreError(f"{path}: cannot load a fitted model: {exc}") from None
    if not hasattr(model, "predict_proba"):
        raise WirescoreError(f"{path}: {type(model).__name__} has no predict_proba; "
                             "model export takes classifiers (a Pipeline ending in one)")
    return model


def feature_names(feature_set: str | None, features: Sequence[str]) -> list[str]:
    """The profile features the pipeline's columns are, in order."""
    if feature_set:
        from wirescore.csvtrain import model_features

        return model_features(feature_set)
    from wirescore.catalog import BY_NAME

    unknown = [f for f in features if f not in BY_NAME]
    if not features or unknown:
        raise WirescoreError("give --feature-set NAME or --features A,B,... (catalogue "
                             f"columns){'; unknown: ' + unknown[0] if unknown else ''}")
    return list(features)


def export_paths(out_prefix, force: bool = False) -> tuple[Path, Path]:
    """PREFIX.onnx and PREFIX.yaml, the two files an export writes; an error naming the
    first that exists unless force."""
    prefix = Path(out_prefix)
    paths = (prefix.with_name(prefix.name + ".onnx"), prefix.with_name(prefix.name + ".yaml"))
    for p in paths:
        if p.exists() and not force:
            raise WirescoreError(f"{p}: already exists (use --force to overwrite)")
    return paths


def export_pipeline(model_path, out_prefix, sample_path, feature_set=None,
                    features: Sequence[str] = (), profile_id: int = EXPORT_ID,
                    threshold: float = 0.5, force: bool = False) -> dict:
    """Convert, check and write PREFIX.onnx and PREFIX.yaml; returns what was measured."""
    import yaml

    from wirescore.compare_onnx import check, to_onnx
    from wirescore.rules import load_file

    model = load_pipeline(model_path)
    names = feature_names(feature_set, features)
    X = read_rows(sample_path, names)
    width = getattr(model, "n_features_in_", len(names))
    if width != len(names):
        raise WirescoreError(f"{model_path}: the model takes {width} columns, the features "
                             f"are {len(names)}")
    onnx_path, yaml_path = export_paths(out_prefix, force)
    onnx_bytes = to_onnx(model, len(names), names)
    diff = check(onnx_bytes, model, X)
    if not diff <= TOLERANCE:
        raise WirescoreError(f"{model_path}: ONNX differs from the original by {diff:.3g} "
                             f"(> {TOLERANCE}) on the sample rows of {sample_path}")
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    onnx_path.write_bytes(onnx_bytes)
    doc = {"id": profile_id, "rev": 1,
           "name": f"WIRESCORE exported {type(model).__name__} ({Path(model_path).name})",
           "category": "Anomalous network behaviour", "unit": "flow", "features": names,
           "transform": "none",
           "model": {"name": "onnx", "params": {"path": onnx_path.name,
                                                "output": "probabilities", "column": 1}},
           "threshold": {"fixed": float(threshold)}, "warmup": 0, "severity": 2}
    yaml_path.write_text(f"# Written by `wirescore model export` from {Path(model_path).name}"
                         f"; checked on {len(X)} rows: max |onnx - original| = {diff:.3g}\n"
                         + yaml.safe_dump(doc, sort_keys=False, width=100))
    load_file(yaml_path)
    steps = [type(s).__name__ for _, s in getattr(model, "steps", [])] or \
        [type(model).__name__]
    return {"onnx": str(onnx_path), "profile": str(yaml_path), "rows": int(len(X)),
            "max_abs_diff": diff, "steps": steps}
