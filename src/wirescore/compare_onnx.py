"""A fitted classifier (scikit-learn estimator or pipeline, XGBoost, LightGBM) as ONNX,
checked against the library's own predictions.

to_onnx(model, n_features, features) converts with skl2onnx (XGBoost and LightGBM through
onnxmltools' converters, registered with skl2onnx so a pipeline may hold them): one
float32 input "input" [rows, n_features], outputs "label" and "probabilities" (no
ZipMap), the feature names and transform "none" in the metadata as `wirescore train`
writes them, so an `onnx` profile checks them against its own features.

check(onnx_bytes, model, X) runs onnxruntime on X (float32) and returns the largest
|ONNX - predict_proba| of the attack class (column 1).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from wirescore.errors import WirescoreError

_REGISTERED = set()


def _register(model) -> None:
    """Register onnxmltools' converter for an XGBoost / LightGBM classifier."""
    kind = type(model).__name__
    if kind in _REGISTERED or kind not in ("XGBClassifier", "LGBMClassifier"):
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import \
        calculate_linear_classifier_output_shapes

    try:
        if kind == "XGBClassifier":
            from onnxmltools.convert.xgboost.operator_converters.XGBoost import \
                convert_xgboost as converter
            from xgboost import XGBClassifier as cls
            alias = "XGBoostXGBClassifier"
        else:
            from lightgbm import LGBMClassifier as cls
            from onnxmltools.convert.lightgbm.operator_converters.LightGbm import \
                convert_lightgbm as converter
            alias = "LightGbmLGBMClassifier"
    except ImportError as exc:
        raise WirescoreError(f"exporting {kind} to ONNX needs onnxmltools ({exc.name} is "
                             "missing): pip install 'wirescore[research]'") from None
    update_registered_converter(cls, alias, calculate_linear_classifier_output_shapes,
                                converter, options={"nocl": [True, False],
                                                    "zipmap": [True, False, "columns"]})
    _REGISTERED.add(kind)


def _final(model):
    return model.steps[-1][1] if hasattr(model, "steps") else model


def to_onnx(model, n_features: int, features: Sequence[str] | None = None,
            transform: str = "none") -> bytes:
    """The fitted model as ONNX bytes (module docstring)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    from wirescore.models.onnx import stamp_metadata

    _register(_final(model))
    options = {id(_final(model)): {"zipmap": False}}
    try:
        onx = convert_sklearn(model, initial_types=[("input",
                                                     FloatTensorType([None, n_features]))],
                              options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    except Exception as exc:      # skl2onnx raises many kinds; one line for the user
        raise WirescoreError(f"cannot convert {type(model).__name__} to ONNX: "
                             f"{str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    if features is not None:
        stamp_metadata(onx, features, transform)
    return onx.SerializeToString()


def onnx_proba(onnx_bytes: bytes, X: np.ndarray) -> np.ndarray:
    """onnxruntime's "probabilities" output for X (float32), all columns."""
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    out = sess.run(["probabilities"], {"input": np.asarray(X, dtype=np.float32)})[0]
    return np.asarray(out, dtype=np.float64)


def check(onnx_bytes: bytes, model, X: np.ndarray) -> float:
    """max |ONNX - predict_proba| of the attack class over the rows of X."""
    X = np.asarray(X, dtype=np.float32)
    if len(X) == 0:
        return 0.0
    lib = np.asarray(model.predict_proba(X), dtype=np.float64)[:, 1]
    return float(np.max(np.abs(onnx_proba(onnx_bytes, X)[:, 1] - lib)))
