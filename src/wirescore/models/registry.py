"""The models a profile can name, and building one from the profile's `model:` mapping.

    build(name, params, features, transform, base_dir) -> (model, params)

- ``hst``, ``tail``, ``extreme``, ``firstseen``: wirescore's own models (NATIVE), built with the
  profile's features and params;
- ``onnx``: a model trained offline; ``params.path`` is taken relative to base_dir
  (the profile file's folder), never the working directory, and returned absolute in
  params; the file is loaded and checked against the features and transform;
- ``river:<module>.<Class>``: a River model (models/river_anomaly.py says which run).

Params are checked against the model's signature first (an unknown or missing name is
refused with the accepted ones), then the model is built: the object returned is the
one that runs (the profile keeps it; wirescore.rules.Profile.take_model). Every fault is
a ModelSpecError naming the keys under `model` at fault.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Mapping, Sequence

from wirescore.errors import WirescoreError
from wirescore.models.spec import ModelSpecError, check_params

#: wirescore's own models: profile name -> (module, class)
NATIVE = {
    "hst": ("wirescore.models.hst", "HalfSpaceTrees"),
    "tail": ("wirescore.models.tail", "TailModel"),
    "extreme": ("wirescore.models.extreme", "ExtremeCounts"),
    "firstseen": ("wirescore.models.firstseen", "FirstSeenRule"),
}
UNKNOWN_NAME = ("must be 'hst' or 'river:<module>.<Class>' (e.g. river:anomaly.OneClassSVM), "
                "'tail' (upper-tail p-values), 'extreme' (counts against floors), "
                "'firstseen' (first-seen rarity, unit: app), or 'onnx' for a model file "
                "trained offline")


def build(name: str, params: Mapping, features: Sequence[str], transform: str | None = None,
          base_dir: Path | None = None) -> tuple[Any, dict]:
    """(model, params) for a profile's model name and params (module docstring);
    params comes back as the model was built with it (an onnx path made absolute)."""
    if not isinstance(params, Mapping):
        raise ModelSpecError(("params",), "must be a mapping of parameter: value")
    params = dict(params)
    if name in NATIVE:
        return _native(name, params, features), params
    if name == "onnx":
        return _onnx(params, features, transform, base_dir)
    if isinstance(name, str) and name.startswith("river:"):
        from wirescore.models import river_anomaly

        return river_anomaly.build(name, params, features), params
    raise ModelSpecError(("name",), UNKNOWN_NAME)


def _native(name: str, params: dict, features: Sequence[str]) -> Any:
    module, cls_name = NATIVE[name]
    cls = getattr(importlib.import_module(module), cls_name)
    check_params(cls, params, f"the {name} model")
    try:
        return cls(features=tuple(features), **params)
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(("params",), str(exc)) from None


def _onnx(params: dict, features: Sequence[str], transform: str | None,
          base_dir: Path | None) -> tuple[Any, dict]:
    from wirescore.models.onnx import PARAM_TYPES, OnnxModel

    what = "an onnx model"
    check_params(OnnxModel, params, what, given=("features", "transform"))
    for key, value in params.items():
        kind = PARAM_TYPES[key]
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise ModelSpecError(("params", key), f"must be "
                                 f"{getattr(kind, '__name__', 'int or str')}, got {value!r}")
    path = Path(params["path"]).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    params["path"] = str(path)
    options = {k: v for k, v in params.items() if k != "path"}
    try:
        return OnnxModel(path, features, transform=transform, **options), params
    except WirescoreError as exc:
        raise ModelSpecError(("params", "path"), str(exc)) from None
