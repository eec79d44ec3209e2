"""Detection profiles (rules/*.yaml): loading and validation, with line numbers.

A profile is one detection: which unit it scores (flow or window), which feature
columns, which model and its parameters, the threshold policy, warm-up, severity,
suppression and allowlist, and an id that becomes the EVE alert's signature_id.
rules/README.md documents every field with an example; `wirescore rules check [PATH]`
validates files and points at the offending line.

Every default lives in one place, the Profile dataclass: a field the file leaves out
takes the dataclass default. Each YAML field (or group of fields) has its section
parser, which returns the Profile fields it sets. The model is built once, when the
profile is loaded (wirescore.models.registry): a wrong parameter fails here, and the
model that was checked is the one the first run uses (Profile.take_model).

Files are read with yaml.safe_load semantics (no tags that build objects).
"""
from __future__ import annotations

import difflib
import ipaddress
import logging
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

from wirescore.allowlist import cidr_words
from wirescore.core_names import PROTO_NUMBERS as _EVE_PROTOS, WINDOW_KINDS
from wirescore.errors import WirescoreError

UNITS = ("flow", "window", "app", "arp", "process")
#: what a process window (unit: process, wirescore.syscalls) is a vector of
PROCESS_KEYS = ("process", "host")
WINDOW_KEYS = WINDOW_KINDS
LEARN_MODES = ("all", "unalerted")
#: what a flow profile scores: finished flows ("flow"), and also attempt records as the
#: core confirms them ("attempt": ext/pending.pxd), or updates of open flows as they
#: grow ("update": FlowMeter update_interval); a window profile: closed windows ("flow"),
#: and also early records of open windows at checkpoint packets ("early": windows.pxd)
EVIDENCE = ("flow", "attempt", "update", "early")
TRANSFORMS = ("log1p", "none")
#: allowlist proto words: EVE's protocol names in lower case (tcp, udp, icmp, ipv6-icmp,
#: gre, ...; not "any", which names five numbers), and "icmpv6" for 58
PROTO_NUMBERS = {**{name.lower(): number for name, number in _EVE_PROTOS.items()},
                 "icmpv6": 58}
#: the fields a profile file may hold (rules/README.md, "Fields")
YAML_FIELDS = ("id", "rev", "name", "category", "unit", "window", "features", "transform",
               "model", "threshold", "warmup", "learn", "severity", "suppress",
               "allowlist", "explain", "enabled", "where", "evidence", "explainer")

log = logging.getLogger("wirescore.rules")


@dataclass(frozen=True)
class AllowRule:
    """Alerts matching any rule are dropped (the sample is still learned).

    cidr: either endpoint inside it; port: either endpoint's port (with proto, the
    flow's protocol too). Several fields in one rule must all match."""

    cidr: ipaddress._BaseNetwork | None = None
    port: int | None = None
    proto: int | None = None
    # cidr as the masked address words the batch check compares (allowlist.cidr_words)
    words: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.cidr is not None:
            object.__setattr__(self, "words", cidr_words(self.cidr))


@dataclass(frozen=True)
class SeverityBand:
    score: float          # from this score up ...
    severity: int         # ... alerts get this severity (1 = highest, as Suricata)


@dataclass
class Profile:
    """One validated profile. See rules/README.md for each field; the defaults here are
    the defaults of the file format."""

    id: int
    name: str
    features: tuple[str, ...]
    model: dict                       # {"name": ..., "params": {...}} as built
    rev: int = 1
    category: str = "Anomalous traffic"
    unit: str = "flow"
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
    suppress_per: tuple[tuple[str, tuple[str, ...]], ...] = ()   # (feature, fields)
    where: tuple[tuple[str, tuple[int, ...]], ...] = ()          # (field, values)
    allowlist: tuple[AllowRule, ...] = ()
    explain: int = 3
    window_seconds: float = 1.0       # unit: window
    window_key: str = "src"           # unit: window: all | src | dst; process: process | host
    evidence: str = "flow"            # flow | attempt | update; window: early (EVIDENCE)
    enabled: bool = True              # false: checked, but not run
    warnings: tuple[str, ...] = ()    # "FILE:LINE: field: problem" that does not stop a run
    model_object: Any = field(default=None, repr=False, compare=False)
    # an AlertExplainer (wirescore.explain) handed in through the API: SHAP / LIME per alert
    explainer: Any = field(default=None, repr=False, compare=False)
    # (process id, model) of the model the loader built, and whether a run took it
    _loaded: tuple | None = field(default=None, init=False, repr=False, compare=False)
    _taken: bool = field(default=False, init=False, repr=False, compare=False)

    def severity_for(self, score: float) -> int:
        best = self.severity[-1].severity
        for band in sorted(self.severity, key=lambda b: b.score):
            if score >= band.score:
                best = band.severity
        return best

    @property
    def model_given(self) -> bool:
        """Whether model_object was handed in through the API (not built from model)."""
        loaded = self._loaded
        return self.model_object is not None and (loaded is None
                                                  or self.model_object is not loaded[1])

    @property
    def model_label(self) -> str:
        """The model's name for messages: model.name, or the class of a given object."""
        if self.model_given:
            return type(self.model_object).__name__
        return self.model.get("name", "?")

    def take_model(self) -> Any:
        """The model object a run of this profile uses. A model given through the API
        (model_object set by the caller) is that object, every time. Otherwise the
        first call, in the process that loaded the profile, gets the model built (and
        so checked) when it was loaded; later calls, and calls in a forked worker, get
        a fresh one built from model.name and model.params, so every run starts from
        an untrained model and no two runs share one."""
        loaded = self._loaded
        if self.model_given:
            return self.model_object
        if loaded is not None and not self._taken and loaded[0] == os.getpid():
            self._taken = True
            return loaded[1]
        from wirescore.models.registry import build
        from wirescore.models.spec import ModelSpecError

        try:
            model, _ = build(self.model["name"], self.model.get("params", {}),
                             self.features, self.transform)
        except ModelSpecError as exc:
            raise WirescoreError(f"{self.source}: model: {exc}") from None
        return model


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

    def line_of(self, path: tuple) -> int | None:
        """The line of path, or of its nearest enclosing key that has one."""
        for n in range(len(path), 0, -1):
            line = self.lines.get(path[:n])
            if line:
                return line
        return None

    def fail(self, path: tuple, message: str):
        line = self.line_of(path)
        where = f"{self.path}:{line}" if line else self.path
        key = ".".join(str(p) for p in path) or "profile"
        raise WirescoreError(f"{where}: {key}: {message}")


DEFAULTS = {f.name: f.default for f in fields(Profile)}


def _need(doc: dict, key: str, kind, chk: _Checker, path=()):
    if key not in doc:
        chk.fail(path, f"missing required field '{key}'")
    value = doc[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        chk.fail(path + (key,), f"must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


# ------------------------------------------------------------------ section parsers
# Each takes the document (and the checker) and returns the Profile fields it sets;
# a field the document leaves out is not returned, so it keeps the Profile default.

def _identity(doc: dict, chk: _Checker) -> dict:
    pid = _need(doc, "id", int, chk)
    if not 1 <= pid <= 2**31 - 1:
        chk.fail(("id",), "must be between 1 and 2147483647 (it becomes alert.signature_id)")
    out = {"id": pid, "name": str(_need(doc, "name", str, chk))}
    if "rev" in doc:
        out["rev"] = int(doc["rev"])
    if "category" in doc:
        out["category"] = str(doc["category"])
    return out


def _unit(doc: dict, chk: _Checker) -> dict:
    unit = doc.get("unit", DEFAULTS["unit"])
    if unit not in UNITS:
        chk.fail(("unit",), f"must be one of {', '.join(UNITS)}")
    out = {"unit": unit}
    if unit == "process":
        return {**out, **_process_window(doc, chk)}
    if unit != "window":
        if "window" in doc:
            chk.fail(("window",), "only for unit: window")
        return out
    win = doc.get("window", {})
    if not isinstance(win, dict) or set(win) - {"seconds", "key"}:
        chk.fail(("window",), "must be {seconds: S, key: all|src|dst}")
    if "seconds" in win:
        if not isinstance(win["seconds"], (int, float)) or not 0.001 <= win["seconds"] <= 3600:
            chk.fail(("window", "seconds"), "must be a number of seconds in 0.001..3600")
        out["window_seconds"] = float(win["seconds"])
    if "key" in win:
        if win["key"] not in WINDOW_KEYS:
            chk.fail(("window", "key"), f"must be one of {', '.join(WINDOW_KEYS)}")
        out["window_key"] = win["key"]
    return out


def _process_window(doc: dict, chk: _Checker) -> dict:
    """unit: process: `window: {seconds: 1, key: process|host}` (the script flushes
    once a second: that is the only length)."""
    win = doc.get("window", {})
    if not isinstance(win, dict) or set(win) - {"seconds", "key"}:
        chk.fail(("window",), "must be {seconds: 1, key: process|host}")
    if win.get("seconds", 1) != 1:
        chk.fail(("window", "seconds"), "a process window is the syscall script's flush: 1")
    key = win.get("key", "process")
    if key not in PROCESS_KEYS:
        chk.fail(("window", "key"), f"must be one of {', '.join(PROCESS_KEYS)}")
    return {"window_key": key}


def _features(doc: dict, chk: _Checker, unit: str) -> dict:
    from wirescore.appkeys import COLUMNS as APP_COLUMNS
    from wirescore.catalog import ARP_BY_NAME, BY_NAME, PROCESS_BY_NAME, WINDOW_BY_NAME

    features = _need(doc, "features", list, chk)
    if not features:
        chk.fail(("features",), "needs at least one feature column")
    known = {"window": WINDOW_BY_NAME, "app": APP_COLUMNS, "arp": ARP_BY_NAME,
             "process": PROCESS_BY_NAME}.get(unit, BY_NAME)
    if unit == "flow" and any(_set_column(name, i, chk) for i, name in enumerate(features)):
        _set_profile(doc, chk, features)
        return {"features": tuple(features)}
    for i, name in enumerate(features):
        if name not in known:
            chk.fail(("features", i), _unknown_feature(name, unit, known))
    if len(set(features)) != len(features):
        chk.fail(("features",), "lists a feature twice")
    return {"features": tuple(features)}


def _set_column(name, i: int, chk: _Checker) -> bool:
    """Whether a flow profile's feature names a feature set's column (set.column)."""
    from wirescore import featuresets

    try:
        found = featuresets.split_name(name)
    except WirescoreError as exc:
        chk.fail(("features", i), str(exc))
    if found is None:
        return False
    if not found[1].computed or found[1].kind not in ("numeric", "categorical"):
        chk.fail(("features", i), f"{name!r} is not computed from packets (see "
                 f"`wirescore features --set {found[0].name}`)")
    return True


def _set_profile(doc: dict, chk: _Checker, features: list) -> None:
    """A profile of feature-set columns: all of one set, no `where`, no evidence (the
    set's ct_* windows count every flow of each batch once)."""
    from wirescore import featuresets

    found = [featuresets.split_name(f) for f in features]
    if any(f is None for f in found) or len({f[0].name for f in found}) != 1:
        chk.fail(("features",), "a profile takes one feature set's columns (set.column) "
                 "or catalogue columns, not both")
    for key in ("where", "evidence"):
        if doc.get(key):
            chk.fail((key,), "not for a profile of feature-set columns")


def _unknown_feature(name, unit: str, known) -> str:
    """Why `name` is not a column of a `unit` profile, with a hint."""
    from wirescore.catalog import BY_NAME, WINDOW_BY_NAME

    if unit == "flow" and name in WINDOW_BY_NAME:
        return (f"{name!r} is a window feature; flow profiles take flow and ctx columns "
                "(flow.*, ctx.*); window.* columns need unit: window")
    if unit == "app":
        return (f"{name!r} is not a first-seen column; app profiles take "
                f"{', '.join(known)}")
    if unit == "window" and name in BY_NAME:
        return (f"{name!r} is a flow feature; window profiles take window columns "
                "(window.*); flow.* and ctx.* columns need unit: flow")
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else " (see `wirescore features`)"
    return f"unknown feature column {name!r}{hint}"


def _given(doc: dict, chk: _Checker, key: str, ok, message: str) -> dict:
    """{key: value} when the document gives key and ok(value) holds; the failure
    `message` at key when it does not; {} when the key is absent (the default holds)."""
    if key not in doc:
        return {}
    if not ok(doc[key]):
        chk.fail((key,), message)
    return {key: doc[key]}


def _whole(value) -> bool:
    return isinstance(value, int) and value >= 0


def _transform(doc: dict, chk: _Checker) -> dict:
    return _given(doc, chk, "transform", lambda v: v in TRANSFORMS,
                  f"must be one of {', '.join(TRANSFORMS)}")


def _threshold(doc: dict, chk: _Checker) -> dict:
    if "threshold" not in doc:
        return {}
    thr = doc["threshold"]
    if not isinstance(thr, dict) or len({"quantile", "fixed"} & set(thr)) != 1:
        chk.fail(("threshold",), "give exactly one of quantile (adaptive) or fixed")
    q, fixed = thr.get("quantile"), thr.get("fixed")
    if q is not None and not (isinstance(q, (int, float)) and 0 < q < 1):
        chk.fail(("threshold", "quantile"), "must be a number between 0 and 1")
    if fixed is not None and not isinstance(fixed, (int, float)):
        chk.fail(("threshold", "fixed"), "must be a number (a score)")
    if set(thr) - {"quantile", "fixed", "window", "min"}:
        chk.fail(("threshold",), "fields: quantile or fixed, window, min")
    out = {"threshold_quantile": q, "threshold_fixed": None if fixed is None else float(fixed)}
    if "min" in thr:
        if not isinstance(thr["min"], (int, float)):
            chk.fail(("threshold", "min"), "must be a number (the lowest score that may alert)")
        out["threshold_min"] = float(thr["min"])
    if "window" in thr:
        window = thr["window"]
        if not isinstance(window, int) or window < 100:
            chk.fail(("threshold", "window"), "must be an integer >= 100 (scores kept)")
        out["threshold_window"] = window
    return out


def _learning(doc: dict, chk: _Checker) -> dict:
    return {**_given(doc, chk, "warmup", _whole, "must be a whole number of samples >= 0"),
            **_given(doc, chk, "learn", lambda v: v in LEARN_MODES,
                     f"must be one of {', '.join(LEARN_MODES)}")}


def _severity(doc: dict, chk: _Checker) -> dict:
    if "severity" not in doc:
        return {}
    sev = doc["severity"]
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
    if any(not 1 <= b.severity <= 4 for b in bands):
        chk.fail(("severity",), "severities go from 1 (highest) to 4")
    return {"severity": tuple(bands)}


#: the flow record fields a `suppress.per` scope may add to the source address
SUPPRESS_SCOPE_FIELDS = ("proto", "dest_port", "dest_addr")


def _suppress(doc: dict, chk: _Checker) -> dict:
    if "suppress" not in doc:
        return {}
    sup = doc["suppress"]
    if not isinstance(sup, dict) or ("seconds" in sup
                                     and not isinstance(sup["seconds"], (int, float))):
        chk.fail(("suppress",), "must be {seconds: T} (per signature and source)")
    for key in sup:
        if key not in ("seconds", "per"):
            chk.fail(("suppress", key), "unknown field (fields: per, seconds)")
    out = {"suppress_seconds": float(sup["seconds"])} if "seconds" in sup else {}
    if "per" in sup:
        out["suppress_per"] = _suppress_per(sup["per"], doc, chk)
    return out


def _suppress_per(per: Any, doc: dict, chk: _Checker) -> tuple:
    """`suppress.per`: {feature: [field, ...]}: an alert whose score that feature made
    (the first of its explanation) is suppressed per source address and those fields of
    the flow, so one source doing two different things is alerted for each."""
    if doc.get("unit", "flow") != "flow":
        chk.fail(("suppress", "per"), "only a flow profile's records have the fields "
                 f"({', '.join(SUPPRESS_SCOPE_FIELDS)})")
    if not isinstance(per, dict) or not per:
        chk.fail(("suppress", "per"), "must map a feature to a list of fields, e.g. "
                 "{ctx.src_unanswered_hosts: [proto, dest_port]}")
    features = doc.get("features") or []
    scopes = []
    for name, fields in per.items():
        if name not in features:
            chk.fail(("suppress", "per", name), "not one of the profile's features")
        if (not isinstance(fields, list) or not fields
                or any(f not in SUPPRESS_SCOPE_FIELDS for f in fields)):
            chk.fail(("suppress", "per", name),
                     f"must be a list of {', '.join(SUPPRESS_SCOPE_FIELDS)}")
        scopes.append((name, tuple(fields)))
    return tuple(scopes)


#: the flow record fields a profile's `where` may restrict (integers)
WHERE_FIELDS = ("proto", "dest_port", "icmp_type_ts")


def _where(doc: dict, chk: _Checker) -> dict:
    """`where: {field: [values]}`: the flows a flow profile sees (scores, learns, alerts
    on): those whose every named field is one of its values; the others get no score."""
    if "where" not in doc:
        return {}
    where = doc["where"]
    if doc.get("unit", "flow") != "flow":
        chk.fail(("where",), "only flow profiles take where (a flow's fields: "
                 f"{', '.join(WHERE_FIELDS)})")
    if not isinstance(where, dict) or not where:
        chk.fail(("where",), "must map a field to a list of values, e.g. "
                 "{proto: [1, 58], icmp_type_ts: [8, 128]}")
    out = []
    for name, values in where.items():
        if name not in WHERE_FIELDS:
            chk.fail(("where", name), f"unknown field (fields: {', '.join(WHERE_FIELDS)})")
        if (not isinstance(values, list) or not values
                or any(not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 65536
                       for v in values)):
            chk.fail(("where", name), "must be a list of integers 0-65535")
        out.append((name, tuple(values)))
    return {"where": tuple(out)}


def _evidence(doc: dict, chk: _Checker) -> dict:
    """`evidence: attempt`: a flow profile that also scores attempt records, whose
    features, `where` and `suppress.per` fields must all be ones an attempt record has;
    `evidence: update`: one that also scores updates of open flows (no app.* features:
    an update's app fields are zero); `evidence: early`: a window profile that also
    scores early records of open windows."""
    from wirescore.catalog import ATTEMPT_FEATURES, ATTEMPT_FIELDS

    if "evidence" not in doc:
        return {}
    evidence = doc["evidence"]
    if evidence not in EVIDENCE:
        chk.fail(("evidence",), f"must be one of {', '.join(EVIDENCE)}")
    if evidence in ("attempt", "update") and doc.get("unit", "flow") != "flow":
        chk.fail(("evidence",), f"only flow profiles take evidence: {evidence}")
    if evidence == "early" and doc.get("unit", "flow") != "window":
        chk.fail(("evidence",), "only window profiles take evidence: early")
    if evidence == "update":
        for i, name in enumerate(doc.get("features") or []):
            if str(name).startswith("app."):
                chk.fail(("features", i), "evidence: update: an open flow's record has "
                         "no app.* columns yet (the application layer reports at the end)")
    if evidence == "attempt":
        for i, name in enumerate(doc.get("features") or []):
            if name not in ATTEMPT_FEATURES:
                chk.fail(("features", i), f"evidence: attempt scores only "
                         f"{', '.join(ATTEMPT_FEATURES)} (an attempt record's columns)")
        for name in (doc.get("where") or {}):
            if name not in ATTEMPT_FIELDS:
                chk.fail(("where", name), "evidence: attempt: an attempt record has no "
                         "such field")
    return {"evidence": evidence}


def _allowlist(doc: dict, chk: _Checker) -> dict:
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
                chk.fail(("allowlist", i, "proto"),
                         "an IP protocol name as EVE writes it (tcp, udp, icmp, icmpv6, gre, ...)")
            proto = PROTO_NUMBERS[str(proto).lower()]
        allow.append(AllowRule(net, port, proto))
    return {"allowlist": tuple(allow)} if allow else {}


def _switches(doc: dict, chk: _Checker) -> dict:
    return {**_given(doc, chk, "explain", _whole,
                     "must be the number of features to explain (>= 0)"),
            **_given(doc, chk, "enabled", lambda v: isinstance(v, bool),
                     "must be true or false")}


def _model(doc: dict, chk: _Checker, features: tuple, transform: str) -> dict:
    """The model, built (and so checked) once: the model_object the first run uses."""
    from wirescore.models.registry import build
    from wirescore.models.spec import ModelSpecError

    model = _need(doc, "model", dict, chk)
    name = _need(model, "name", str, chk, ("model",))
    params = model.get("params", {})
    base_dir = Path(chk.path).resolve().parent if chk.path != "<api>" else None
    try:
        obj, params = build(name, params, features, transform, base_dir)
    except ModelSpecError as exc:
        chk.fail(("model",) + exc.where, str(exc))
    if (name == "firstseen") != (doc.get("unit") == "app"):
        chk.fail(("model", "name"), "the firstseen model scores unit: app profiles, "
                                    "and unit: app profiles take the firstseen model")
    if name == "extreme" and transform != "none":
        chk.fail(("transform",), "the extreme model compares counts with floors in "
                                 "their own units: use transform: none")
    return {"model": {"name": name, "params": params}, "model_object": obj}


def _warmup_warning(profile: Profile, chk: _Checker) -> str | None:
    """A quantile of scores means something once the model has a reference (a model
    with a window_size, such as Half-Space Trees, scores 0 before it is full) and the
    kept scores hold at least one above that quantile (1 / (1 - quantile) of them)."""
    q = profile.threshold_quantile
    if q is None or profile.threshold_fixed is not None:
        return None
    ws = getattr(profile.model_object, "window_size", 0)
    ws = ws if isinstance(ws, int) and not isinstance(ws, bool) and ws > 0 else 0
    tail = int(round(1 / (1 - q)))
    need = ws + tail
    if profile.warmup >= need:
        return None
    at = chk.lines.get(("warmup",)) or chk.lines.get(("threshold", "quantile"))
    return (f"{chk.path}:{at}: warmup: {profile.warmup} samples is less than "
            + (f"window_size ({ws}) + " if ws else "")
            + f"1/(1 - quantile) ({tail}) = {need}: the first alerts would come from a "
            f"threshold that has seen too few scores; give warmup: {need} or more")


def parse_profile(doc: Any, chk: _Checker) -> Profile:
    """One profile from its YAML mapping; WirescoreError naming file:line on a fault."""
    if not isinstance(doc, dict):
        chk.fail((), "a profile must be a mapping of fields")
    for key in doc:
        if key not in YAML_FIELDS:
            chk.fail((key,), f"unknown field (fields: {', '.join(sorted(YAML_FIELDS))})")
    values = {**_identity(doc, chk), **_unit(doc, chk)}
    values.update(_features(doc, chk, values["unit"]))
    values.update(_transform(doc, chk))
    transform = values.get("transform", DEFAULTS["transform"])
    values.update(_model(doc, chk, values["features"], transform))
    for section in (_threshold, _learning, _severity, _suppress, _where, _allowlist,
                    _switches, _evidence):
        values.update(section(doc, chk))
    from wirescore.rules_explainer import parse_explainer

    values.update(parse_explainer(doc, chk, values["features"]))
    profile = Profile(source=chk.path, **values)
    profile._loaded = (os.getpid(), profile.model_object)
    warning = _warmup_warning(profile, chk)
    if warning:
        profile.warnings = (warning,)
        log.warning("warning: %s", warning)
    return profile


def load_file(path: str | Path) -> list[Profile]:
    """Every profile in one YAML file (a mapping, or a list of mappings)."""
    import yaml

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
        return [parse_profile(item, _Checker(path, node.value[i]))
                for i, item in enumerate(doc)]
    return [parse_profile(doc, _Checker(path, node))]


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
