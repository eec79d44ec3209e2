"""River models in a profile: ``model.name: river:<module>.<Class>``.

Which River classes run, decided from the class before anything is built:

- an unsupervised anomaly detector (a ``river.base.AnomalyDetector``: in
  ``river.anomaly`` HalfSpaceTrees, LODA, OneClassSVM, LocalOutlierFactor) runs as it
  is: the detector hands it one sample at a time, ``score_one(x)`` then ``learn_one(x)``;
- an anomaly filter (a ``river.base.AnomalyFilter``: QuantileFilter, ThresholdFilter)
  wraps such a detector, named in its params the way a profile names a model:
  ``anomaly_detector: {name: river:anomaly.HalfSpaceTrees, params: {seed: 42}}``. It
  scores as the detector does and keeps it from learning the samples it classifies as
  anomalous (``protect_anomaly_detector``);
- a supervised anomaly detector (a ``river.base.SupervisedAnomalyDetector``:
  GaussianScorer, StandardAbsoluteDeviation, PredictiveAnomalyDetection) scores a target
  value y given x (``score_one(x, y)``); a profile has features, no target: refused;
- anything else (not an anomaly detector, abstract, not a class): refused.

Parameters are checked against the class's signature (an unknown name is refused with
the accepted ones), then the model is built, and a copy of it (River's ``clone()``:
same parameters, nothing learnt) learns and scores one sample of zeros, so a value
River only trips over when it learns (``n_trees: "many"``) is refused when the profile
is loaded, not in the middle of a run. Every refusal is a ModelSpecError: one line
that says why, and where in the profile (the key path under ``model``).
"""
from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any, Mapping, Sequence

from wirescore.models.spec import ModelSpecError, check_params

PREFIX = "river:"
UNSUPERVISED_EXAMPLES = "river:anomaly.HalfSpaceTrees, LODA or OneClassSVM"


def resolve(name: str) -> type:
    """The River class `name` ("river:<module>.<Class>") names, if it can run here;
    ModelSpecError(("name",), why) otherwise."""
    module_name, _, cls_name = name[len(PREFIX):].rpartition(".")
    if not module_name or not cls_name:
        raise ModelSpecError(("name",), f"{name!r}: write river:<module>.<Class>, e.g. "
                                        "river:anomaly.HalfSpaceTrees")
    try:
        module = importlib.import_module(f"river.{module_name}")
    except ImportError:
        raise ModelSpecError(("name",), f"{name}: River has no module river.{module_name} "
                                        "(anomaly detectors are in river.anomaly)") from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        classes = sorted(n for n in getattr(module, "__all__", dir(module))
                         if inspect.isclass(getattr(module, n, None)))
        close = difflib.get_close_matches(cls_name, classes, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ModelSpecError(("name",), f"{name}: river.{module_name} has no class "
                                        f"{cls_name!r} ({hint}classes: {', '.join(classes)})")
    refuse = refusal(cls)
    if refuse:
        raise ModelSpecError(("name",), f"{name}: {refuse}")
    return cls


def refusal(cls: Any) -> str | None:
    """Why the River object `cls` cannot be a profile's model, or None when it can."""
    from river import base

    if not inspect.isclass(cls):
        return "not a class"
    if issubclass(cls, base.SupervisedAnomalyDetector):
        return ("supervised: it needs labels, a target value y with every sample "
                "(score_one(x, y)), and a profile gives features only; use an unsupervised "
                f"anomaly detector ({UNSUPERVISED_EXAMPLES})")
    if not issubclass(cls, (base.AnomalyDetector, base.AnomalyFilter)):
        return (f"not an anomaly detector (a {_kind(cls)}); a profile needs one that scores "
                f"samples without labels ({UNSUPERVISED_EXAMPLES})")
    if inspect.isabstract(cls):
        return f"an abstract base class; name a concrete one ({UNSUPERVISED_EXAMPLES})"
    return None


def _kind(cls: type) -> str:
    """The River base class that says what cls is (e.g. "Regressor")."""
    from river import base

    for b in cls.__mro__[1:]:
        if b.__module__.startswith("river.base") and b is not base.Base:
            return b.__name__
    return cls.__name__


def build(name: str, params: Mapping, features: Sequence[str]) -> Any:
    """The River model of a profile's `model:` mapping, checked (module docstring)."""
    from river import base

    cls = resolve(name)
    check_params(cls, params, name)
    params = dict(params)
    if issubclass(cls, base.AnomalyFilter):
        params["anomaly_detector"] = _inner(params["anomaly_detector"], features)
    try:
        model = cls(**params)
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(("params",), f"{name}: {exc}") from None
    _probe(model, name, features)
    return model


def _inner(spec: Any, features: Sequence[str]) -> Any:
    """The detector an anomaly filter wraps, from {name: river:..., params: {...}}."""
    where = ("params", "anomaly_detector")
    if not isinstance(spec, Mapping) or "name" not in spec or set(spec) - {"name", "params"}:
        raise ModelSpecError(where, "name the detector the filter wraps as a model: "
                                    "{name: river:anomaly.HalfSpaceTrees, params: {...}}")
    inner = spec["name"]
    if not isinstance(inner, str) or not inner.startswith(PREFIX):
        raise ModelSpecError(where + ("name",), "a River filter wraps a River detector: "
                                                "river:<module>.<Class>")
    params = spec.get("params", {}) or {}
    if not isinstance(params, Mapping):
        raise ModelSpecError(where + ("params",), "must be a mapping of parameter: value")
    try:
        return build(inner, params, features)
    except ModelSpecError as exc:
        raise ModelSpecError(where + exc.where, str(exc)) from None


def _probe(model: Any, name: str, features: Sequence[str]) -> None:
    """A fresh copy of model learns and scores one sample of zeros; any failure there is
    a ModelSpecError naming the exception."""
    x = {f: 0.0 for f in features}
    try:
        probe = model.clone()
        probe.learn_one(x)
        score = float(probe.score_one(x))
    except Exception as exc:        # River raises anything; the profile must say what
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ModelSpecError(("params",), f"{name} fails on a sample of zeros "
                                          f"({type(exc).__name__}: {first})") from None
    if score != score:
        raise ModelSpecError(("params",), f"{name} scores a sample of zeros NaN")
