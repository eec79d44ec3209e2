"""Detection profiles (rules/*.yaml): loading and validation, with line numbers.

A profile is one detection: which unit it scores (flow), which feature columns, which
model and its parameters, the threshold policy, warm-up, severity, suppression and
allowlist, and an id that becomes the EVE alert's signature_id. rules/README.md
documents every field with an example; `wirescore rules check [PATH]` validates files
and points at the offending line.

Files are read with yaml.safe_load semantics (no tags that build objects).
"""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from wirescore.errors import WirescoreError

UNITS = ("flow", "window")
WINDOW_KEYS = ("all", "src", "dst")
LEARN_MODES = ("all", "unalerted")
TRANSFORMS = ("log1p", "none")
PROTO_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "sctp": 132}
MODEL_NAMES = ("hst", "tail", "extreme", "onnx")

log = logging.getLogger("wirescore.rules")
_WARNED: set[str] = set()


@dataclass(frozen=True)
class AllowRule:
    """Alerts matching any rule are dropped (the sample is still learned).

    cidr: either endpoint inside it; port: either endpoint's port (with proto, the
    flow's protocol too). Several fields in one rule must all match."""

    cidr: ipaddress._BaseNetwork | None = None
    port: int | None = None
    proto: int | None = None


@dataclass(frozen=True)
class SeverityBand:
    score: float          # from this score up ...
    severity: int         # ... alerts get this severity (1 = highest, as Suricata)


@dataclass
class Profile:
    """One validated profile. See rules/README.md for each field."""

    id: int
    rev: int
    name: str
    category: str
    unit: str
    features: tuple[str, ...]
    model: dict
    source: str = "<api>"
    transform: str = "log1p"
    threshold_quantile: float | None = 0.995
    threshold_fixed: float | None = None
    threshold_window: int = 20000
    threshold_min: float = float("-inf")
    warmup: int = 1000
    learn: str = "all"
    severity: tuple[SeverityBand, ...] = (SeverityBand(0.0, 2),)
    suppress_seconds: float = 60.0
    allowlist: tuple[AllowRule, ...] = ()
    explain: int = 3
    window_seconds: float = 1.0       # unit: window
    window_key: str = "src"           # unit: window: all | src | dst
    enabled: bool = True              # false: checked, but not run
    warnings: tuple[str, ...] = ()    # "FILE:LINE: field: problem" that does not stop a run
    model_object: Any = field(default=None, repr=False)   # a user's model (API only)

    def severity_for(self, score: float) -> int:
        best = self.severity[-1].severity
        for band in sorted(self.severity, key=lambda b: b.score):
            if score >= band.score:
                best = band.severity
        return best


class _Checker:
    """Validates one parsed document, remembering line numbers for messages."""

    def __init__(self, path: str, node):
        self.path = path
        self.lines = {}
        self._index(node, ())

    def _index(self, node, prefix) -> None:
        import yaml

        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = prefix + (key.value,)
                self.lines[path] = key.start_mark.line + 1
                self._index(value, path)
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                self.lines[prefix + (i,)] = value.start_mark.line + 1
                self._index(value, prefix + (i,))

    def fail(self, path: tuple, message: str):
        line = None
        for n in range(len(path), 0, -1):
            line = self.lines.get(path[:n])
            if line:
                break
        where = f"{self.path}:{line}" if line else self.path
        key = ".".join(str(p) for p in path) or "profile"
        raise WirescoreError(f"{where}: {key}: {message}")


def _need(doc: dict, key: str, kind, chk: _Checker, path=()):
    if key not in doc:
        chk.fail(path, f"missing required field '{key}'")
    value = doc[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        chk.fail(path + (key,), f"must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def parse_profile(doc: Any, chk: _Checker, known_features: Iterable[str]) -> Profile:
    """One profile from its YAML mapping; WirescoreError naming file:line on a fault."""
    known = set(known_features)
    if not isinstance(doc, dict):
        chk.fail((), "a profile must be a mapping of fields")
    allowed = {"id", "rev", "name", "category", "unit", "features", "transform", "model",
               "threshold", "warmup", "learn", "severity", "suppress", "allowlist", "explain",
               "window", "enabled"}
    for key in doc:
        if key not in allowed:
            chk.fail((key,), f"unknown field (fields: {', '.join(sorted(allowed))})")
    pid = _need(doc, "id", int, chk)
    if not 1 <= pid <= 2**31 - 1:
        chk.fail(("id",), "must be between 1 and 2147483647 (it becomes alert.signature_id)")
    unit = doc.get("unit", "flow")
    if unit not in UNITS:
        chk.fail(("unit",), f"must be one of {', '.join(UNITS)}")
    features = _need(doc, "features", list, chk)
    if not features:
        chk.fail(("features",), "needs at least one feature column")
    if unit == "window":
        from wirescore.catalog import WINDOW_BY_NAME

        known = set(WINDOW_BY_NAME)
        win = doc.get("window", {})
        if not isinstance(win, dict) or set(win) - {"seconds", "key"}:
            chk.fail(("window",), "must be {seconds: S, key: all|src|dst}")
        wsec = win.get("seconds", 1.0)
        if not isinstance(wsec, (int, float)) or not 0.001 <= wsec <= 3600:
            chk.fail(("window", "seconds"), "must be a number of seconds in 0.001..3600")
        wkey = win.get("key", "src")
        if wkey not in WINDOW_KEYS:
            chk.fail(("window", "key"), f"must be one of {', '.join(WINDOW_KEYS)}")
    elif "window" in doc:
        chk.fail(("window",), "only for unit: window")
    for i, name in enumerate(features):
        if name not in known:
            import difflib

            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else " (see `wirescore features`)"
            chk.fail(("features", i), f"unknown feature column {name!r}{hint}")
    if len(set(features)) != len(features):
        chk.fail(("features",), "lists a feature twice")
    model = _need(doc, "model", dict, chk)
    mname = _need(model, "name", str, chk, ("model",))
    params = model.get("params", {})
    if not isinstance(params, dict):
        chk.fail(("model", "params"), "must be a mapping of parameter: value")
    if mname not in MODEL_NAMES and not mname.startswith("river:"):
        chk.fail(("model", "name"), "must be 'hst' or 'river:<module>.<Class>' (e.g. "
                                    "river:anomaly.OneClassSVM), 'tail' (upper-tail "
                                    "p-values), 'extreme' (counts against floors), or "
                                    "'onnx' for a model file trained offline")
    thr = doc.get("threshold", {"quantile": 0.995})
    if not isinstance(thr, dict) or len({"quantile", "fixed"} & set(thr)) != 1:
        chk.fail(("threshold",), "give exactly one of quantile (adaptive) or fixed")
    q = thr.get("quantile")
    fixed = thr.get("fixed")
    if q is not None and not (isinstance(q, (int, float)) and 0 < q < 1):
        chk.fail(("threshold", "quantile"), "must be a number between 0 and 1")
    if fixed is not None and not isinstance(fixed, (int, float)):
        chk.fail(("threshold", "fixed"), "must be a number (a score)")
    if set(thr) - {"quantile", "fixed", "window", "min"}:
        chk.fail(("threshold",), "fields: quantile or fixed, window, min")
    tmin = thr.get("min", float("-inf"))
    if not isinstance(tmin, (int, float)):
        chk.fail(("threshold", "min"), "must be a number (the lowest score that may alert)")
    window = thr.get("window", 20000)
    if not isinstance(window, int) or window < 100:
        chk.fail(("threshold", "window"), "must be an integer >= 100 (scores kept)")
    warmup = doc.get("warmup", 1000)
    if not isinstance(warmup, int) or warmup < 0:
        chk.fail(("warmup",), "must be a whole number of samples >= 0")
    learn = doc.get("learn", "all")
    if learn not in LEARN_MODES:
        chk.fail(("learn",), f"must be one of {', '.join(LEARN_MODES)}")
    transform = doc.get("transform", "log1p")
    if transform not in TRANSFORMS:
        chk.fail(("transform",), f"must be one of {', '.join(TRANSFORMS)}")
    sev = doc.get("severity", 2)
    bands: list[SeverityBand] = []
    if isinstance(sev, int) and not isinstance(sev, bool):
        bands = [SeverityBand(0.0, sev)]
    elif isinstance(sev, list) and sev:
        for i, band in enumerate(sev):
            if (not isinstance(band, dict) or set(band) != {"score", "severity"}
                    or not isinstance(band["severity"], int)):
                chk.fail(("severity", i), "each band is {score: S, severity: N}")
            bands.append(SeverityBand(float(band["score"]), band["severity"]))
    else:
        chk.fail(("severity",), "must be an integer 1-4 or a list of {score, severity}")
    for b in bands:
        if not 1 <= b.severity <= 4:
            chk.fail(("severity",), "severities go from 1 (highest) to 4")
    sup = doc.get("suppress", {"seconds": 60})
    if not isinstance(sup, dict) or not isinstance(sup.get("seconds", 60), (int, float)):
        chk.fail(("suppress",), "must be {seconds: T} (per signature and source)")
    allow: list[AllowRule] = []
    for i, rule in enumerate(doc.get("allowlist", []) or []):
        if not isinstance(rule, dict) or not rule or set(rule) - {"cidr", "port", "proto"}:
            chk.fail(("allowlist", i), "each entry has cidr, port and/or proto")
        try:
            net = ipaddress.ip_network(rule["cidr"], strict=False) if "cidr" in rule else None
        except ValueError as exc:
            chk.fail(("allowlist", i, "cidr"), str(exc))
        port = rule.get("port")
        if port is not None and not (isinstance(port, int) and 0 <= port <= 65535):
            chk.fail(("allowlist", i, "port"), "must be a port number 0-65535")
        proto = rule.get("proto")
        if proto is not None:
            if str(proto).lower() not in PROTO_NUMBERS:
                chk.fail(("allowlist", i, "proto"), f"one of {', '.join(PROTO_NUMBERS)}")
            proto = PROTO_NUMBERS[str(proto).lower()]
        allow.append(AllowRule(net, port, proto))
    explain = doc.get("explain", 3)
    if not isinstance(explain, int) or explain < 0:
        chk.fail(("explain",), "must be the number of features to explain (>= 0)")
    enabled = doc.get("enabled", True)
    if not isinstance(enabled, bool):
        chk.fail(("enabled",), "must be true or false")
    if mname == "onnx":
        params = _onnx_params(params, chk, tuple(features), transform)
    if mname in ("tail", "extreme"):
        from wirescore.models.adapters import native_model

        try:
            native_model(mname, features, params)
        except (TypeError, ValueError) as exc:
            chk.fail(("model", "params"), str(exc))
    if mname == "extreme" and transform != "none":
        chk.fail(("transform",), "the extreme model compares counts with floors in "
                                 "their own units: use transform: none")
    warnings = []
    if q is not None:
        # a quantile of scores means something once the model has a reference (Half-Space
        # Trees: one window_size of samples; scores are 0 before) and the kept scores
        # hold at least one above that quantile (1 / (1 - quantile) of them)
        ws = params.get("window_size", 250 if mname == "hst" else 0)
        ws = ws if isinstance(ws, int) and not isinstance(ws, bool) and ws > 0 else 0
        tail = int(round(1 / (1 - q)))
        need = ws + tail
        if warmup < need:
            at = chk.lines.get(("warmup",)) or chk.lines.get(("threshold", "quantile"))
            warnings.append(
                f"{chk.path}:{at}: warmup: {warmup} samples is less than "
                + (f"window_size ({ws}) + " if ws else "")
                + f"1/(1 - quantile) ({tail}) = {need}: the first alerts would come "
                f"from a threshold that has seen too few scores; give warmup: {need} or more")
    for w in warnings:
        if w not in _WARNED:          # once per process, however often the file is read
            _WARNED.add(w)
            log.warning("warning: %s", w)
    return Profile(
        id=pid, rev=int(doc.get("rev", 1)), name=str(_need(doc, "name", str, chk)),
        category=str(doc.get("category", "Anomalous traffic")), unit=unit,
        features=tuple(features), model={"name": mname, "params": dict(params)},
        source=chk.path, transform=transform, threshold_quantile=q,
        threshold_fixed=None if fixed is None else float(fixed), threshold_window=window,
        threshold_min=float(tmin),
        warmup=warmup, learn=learn, severity=tuple(bands),
        suppress_seconds=float(sup.get("seconds", 60)), allowlist=tuple(allow),
        explain=explain,
        window_seconds=float(doc.get("window", {}).get("seconds", 1.0)) if unit == "window" else 1.0,
        window_key=doc.get("window", {}).get("key", "src") if unit == "window" else "src",
        enabled=enabled, warnings=tuple(warnings))


ONNX_PARAMS = {"path": str, "output": str, "column": (int, str), "negate": bool,
               "input": str, "batch": int, "threads": int}


def _onnx_params(params: dict, chk: _Checker, features: tuple, transform) -> dict:
    """Check an `onnx` model's params, make `path` absolute (relative paths are taken
    from the profile file's folder, never the working directory), and load the model
    once so that a wrong file fails here, naming the profile line and the model file."""
    for key, value in params.items():
        kind = ONNX_PARAMS.get(key)
        if kind is None:
            chk.fail(("model", "params", key),
                     f"unknown parameter of an onnx model (parameters: {', '.join(ONNX_PARAMS)})")
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            chk.fail(("model", "params", key), f"must be {getattr(kind, '__name__', 'int or str')}"
                                               f", got {value!r}")
    if "path" not in params:
        chk.fail(("model", "params"), "an onnx model needs path: FILE.onnx")
    model_path = Path(params["path"]).expanduser()
    if not model_path.is_absolute() and chk.path != "<api>":
        model_path = Path(chk.path).resolve().parent / model_path
    params = {**params, "path": str(model_path)}
    from wirescore.models.onnx import OnnxModel

    opts = {k: v for k, v in params.items() if k != "path"}
    try:
        OnnxModel(model_path, features, transform=transform, **opts)
    except WirescoreError as exc:
        chk.fail(("model", "params", "path"), str(exc))
    return params


def load_file(path: str | Path) -> list[Profile]:
    """Every profile in one YAML file (a mapping, or a list of mappings)."""
    import yaml

    from wirescore.catalog import BY_NAME

    path = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise WirescoreError(f"{path}: cannot read: {exc.strerror}") from None
    from wirescore.config import load_yaml, refuse_aliases

    refuse_aliases(text, path)
    try:
        node, doc = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise WirescoreError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if doc is None:
        return []
    if isinstance(doc, list):
        out = []
        for i, item in enumerate(doc):
            out.append(parse_profile(item, _Checker(path, node.value[i]), BY_NAME))
        return out
    return [parse_profile(doc, _Checker(path, node), BY_NAME)]


def load_paths(paths: Iterable[str | Path]) -> list[Profile]:
    """Profiles from files and folders (*.yaml, *.yml, sorted); ids must be unique."""
    profiles: list[Profile] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
        elif p.exists():
            files = [p]
        else:
            raise WirescoreError(f"{p}: no such rules file or folder")
        for f in files:
            profiles += load_file(f)
    seen: dict[int, str] = {}
    for prof in profiles:
        if prof.id in seen:
            raise WirescoreError(f"{prof.source}: id {prof.id} is also used in {seen[prof.id]}")
        seen[prof.id] = prof.source
    return profiles


def default_rules_dir() -> Path:
    """The profiles shipped with wirescore."""
    return Path(__file__).resolve().parent / "rules"
