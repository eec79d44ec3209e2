"""`wirescore model export` of a PyTorch model: a trained torch.nn.Module as an ONNX
model whose graph holds the preprocessing and the score, checked against torch itself on
sample rows, and a profile that runs it.

What a researcher has, and what this takes (`load_torch_model`):

- a TorchScript file (`torch.jit.script(model).save("m.pt")` or `torch.jit.trace`): self
  contained, nothing else needed;
- a state dict (`torch.save(model.state_dict(), "m.pt")`, or a checkpoint dict holding
  one under "state_dict" / "model_state_dict") plus a factory, `--factory
  MODULE:CALLABLE` or `--factory path/to/file.py:CALLABLE`: called with no arguments, it
  returns the untrained module the weights go into. The state dict is read with
  `weights_only=True` (no code from the file runs); the factory is your own code;
- a whole pickled module (`torch.save(model, "m.pt")`): unpickling runs code from the
  file and needs the module's class importable (from the factory's module, or a module
  on the path; not a training script's __main__): export only files you made or trust.

The module takes a float32 matrix [rows, features] whose columns are the profile's
features in order (a feature set's model columns with `--feature-set`, categorical ones
as their vocabulary index, or catalogue columns). Around it the export puts, in one
graph (`ScoreModule`):

- standardisation, (x - mean) / std per column, when the model was trained on
  standardised rows (`--scaler FILE.json`: {"mean": [...], "std": [...]}, lists in the
  column order or objects keyed by feature name; "scale" is taken for "std"); a std of
  0 counts as 1 (scikit-learn's StandardScaler does the same);
- the activation that makes the output a score: none (the output as it is), sigmoid
  (one logit per row -> attack probability) or softmax (class logits -> probabilities);
- the score's column (`column`: 0 for a one-column output; say which for more).

The ONNX file has one input "input" float32 [rows, features] and one output "score"
[rows]; its metadata names the features and transform "none", as `wirescore train`
writes them, so the `onnx` profile checks them against its own.

The check: torch's own output of that same ScoreModule and onnxruntime's on the sample
rows (float32, at most 1000) differ by at most 1e-5, or it is an error (relative to the
score where it is larger than 1: raw logits in the tens round by some 1e-6 in float32;
a probability is held to 1e-5 absolute). The largest absolute difference is reported. Export uses the
TorchScript-based exporter of torch.onnx (dynamo=False) on the module traced with
torch.jit.trace, which takes TorchScript modules too and needs no onnxscript; where that
exporter is gone (a future torch), the torch.export-based one is tried (it needs
onnxscript). Tracing records the operations one input ran: Python control flow that
depends on the values (not on the shapes) is frozen to the branch taken; script such a
model (torch.jit.script: its control flow is kept); the check on the sample rows
catches a frozen branch those rows reach.

The Python API scores a module in process without ONNX: models.fitted.FittedTorch.
"""
from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from wirescore.errors import WirescoreError

EXPORT_ID = 9200201
TOLERANCE = 1e-5
ACTIVATIONS = ("none", "sigmoid", "softmax")
TORCH_SUFFIXES = (".pt", ".pth", ".ts", ".jit", ".torchscript")
OPSET = 17

__all__ = ["export_torch", "load_torch_model", "is_torch_file",
           "need_torch", "read_scaler", "score_module", "ACTIVATIONS"]


def _first_line(exc: BaseException, limit: int = 240) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    line = lines[0].strip() if lines else type(exc).__name__
    return line if len(line) <= limit else line[:limit] + "..."


def need_torch():
    """torch, or a one-line WirescoreError saying how to install it CPU-only."""
    try:
        import torch
    except ImportError:
        raise WirescoreError("a PyTorch model needs torch (CPU-only build: see the torch "
                             "extra in pyproject.toml, or `make install-torch`)") from None
    return torch


def is_torch_file(path: str | Path) -> bool:
    """Whether path looks like a torch file: a torch suffix, or the zip archive that
    torch.save and torch.jit.save write (joblib and pickle files are not zips)."""
    path = Path(path)
    return path.suffix.lower() in TORCH_SUFFIXES or zipfile.is_zipfile(path)


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("/constants.pkl") or n == "constants.pkl"
                       for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_factory(spec: str):
    """The callable named by MODULE:CALLABLE or FILE.py:CALLABLE (the current directory
    is on the import path for MODULE)."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise WirescoreError(f"--factory {spec}: give MODULE:CALLABLE or FILE.py:CALLABLE")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise WirescoreError(f"--factory {spec}: no such file {where}")
            mod_spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules.setdefault(path.stem, module)   # its classes unpickle by name
            mod_spec.loader.exec_module(module)
        else:
            if "" not in sys.path and "." not in sys.path:
                sys.path.insert(0, "")
            module = importlib.import_module(where)
    except WirescoreError:
        raise
    except Exception as exc:
        raise WirescoreError(f"--factory {spec}: cannot import {where}: "
                             f"{_first_line(exc)}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise WirescoreError(f"--factory {spec}: {where} has no callable {name!r}")
    return fn


def _state_dict(obj) -> dict | None:
    """The state dict in obj (itself, or a checkpoint's "state_dict"/"model_state_dict")."""
    import torch

    if not isinstance(obj, dict):
        return None
    for key in ("state_dict", "model_state_dict"):
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    return None


def load_torch_model(path: str | Path, factory: str | None = None):
    """The torch.nn.Module in path (module docstring: TorchScript, a state dict with a
    factory, or a pickled module), in eval mode on the CPU."""
    torch = need_torch()
    path = Path(path)
    make = load_factory(factory) if factory else None
    if not path.is_file():
        raise WirescoreError(f"{path}: no such file")
    if _is_torchscript(path):
        if make is not None:
            raise WirescoreError(f"{path}: a TorchScript file holds its own module; "
                                 "--factory is for a state dict")
        try:
            with warnings.catch_warnings():      # torch 2.13 marks TorchScript deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                return torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as exc:
            raise WirescoreError(f"{path}: cannot load the TorchScript module: "
                                 f"{_first_line(exc)}") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as safe_exc:
        if make is not None and not zipfile.is_zipfile(path):
            raise WirescoreError(f"{path}: not a torch file ({_first_line(safe_exc)})") \
                from None
        try:                          # a whole pickled module: runs code from the file
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            hint = ("; save a state dict and give --factory, or a TorchScript file "
                    "(torch.jit.script(model).save(PATH))"
                    if isinstance(exc, (AttributeError, ModuleNotFoundError)) else "")
            raise WirescoreError(f"{path}: cannot load a torch model: "
                                 f"{_first_line(exc)}{hint}") from None
    if isinstance(obj, torch.nn.Module):
        if make is not None:
            raise WirescoreError(f"{path}: holds a whole module; --factory is for a "
                                 "state dict")
        return obj.eval()
    state = _state_dict(obj)
    if state is None:
        raise WirescoreError(f"{path}: holds a {type(obj).__name__}, neither a module nor a "
                             "state dict of tensors")
    if make is None:
        raise WirescoreError(f"{path}: holds a state dict (weights only); give --factory "
                             "MODULE:CALLABLE that builds the module they go into")
    try:
        module = make()
    except Exception as exc:
        raise WirescoreError(f"--factory {factory}: calling it failed: "
                             f"{_first_line(exc)}") from None
    if not isinstance(module, torch.nn.Module):
        raise WirescoreError(f"--factory {factory}: returned a {type(module).__name__}, "
                             "not a torch.nn.Module")
    try:
        module.load_state_dict(state)
    except Exception as exc:
        raise WirescoreError(f"{path}: the state dict does not fit {factory}(): "
                             f"{_first_line(exc)}") from None
    return module.eval()


def _in_order(values, names: Sequence[str], what: str):
    """values, or a mapping {feature: value} as a list in the order of names."""
    if not isinstance(values, dict):
        return values
    missing = [n for n in names if n not in values]
    if missing:
        raise WirescoreError(f"{what} has no value for {missing[0]}")
    return [values[n] for n in names]


def read_scaler(path: str | Path, names: Sequence[str]) -> tuple[list, list]:
    """(mean, std) from a JSON file (module docstring), in the order of names."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WirescoreError(f"{path}: not a JSON scaler file: {_first_line(exc)}") from None
    if not isinstance(doc, dict) or "mean" not in doc or not ({"std", "scale"} & set(doc)):
        raise WirescoreError(f"{path}: a scaler file is {{\"mean\": [...], \"std\": [...]}}")
    out = []
    for key in ("mean", "std" if "std" in doc else "scale"):
        value = doc[key]
        if isinstance(value, dict):
            missing = [n for n in names if n not in value
                       and n.split(".", 1)[-1] not in value]
            if missing:
                raise WirescoreError(f"{path}: {key} has no value for {missing[0]}")
            value = [value[n] if n in value else value[n.split(".", 1)[-1]] for n in names]
        out.append(value)
    return out[0], out[1]


def _vector(values, n: int, what: str):
    import torch

    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (n,):
        raise WirescoreError(f"{what} has {arr.size} values, the features are {n}")
    if not np.all(np.isfinite(arr)):
        raise WirescoreError(f"{what} has a value that is not a finite number")
    return torch.tensor(arr, dtype=torch.float32)


_SCORE_MODULE = None


def __getattr__(name):
    """ScoreModule subclasses torch.nn.Module: made on first use, torch imports late."""
    if name == "ScoreModule":
        return _score_module_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _score_module_class():
    global _SCORE_MODULE
    if _SCORE_MODULE is None:
        _SCORE_MODULE = _make_score_module()
    return _SCORE_MODULE


def _make_score_module():
    import torch

    class ScoreModule(torch.nn.Module):
        """model between standardisation and the score: float32 [rows, features] ->
        float32 [rows] (module docstring of wirescore.torch_export)."""

        def __init__(self, model, n_features: int, mean=None, std=None,
                     activation: str = "none", column: int | None = None):
            super().__init__()
            if activation not in ACTIVATIONS:
                raise WirescoreError(f"activation must be one of {', '.join(ACTIVATIONS)}, "
                                     f"got {activation!r}")
            if (mean is None) != (std is None):
                raise WirescoreError("standardisation needs both mean and std")
            if column is not None and (isinstance(column, bool) or not isinstance(column, int)
                                       or column < 0):
                raise WirescoreError(f"column must be a column index >= 0, got {column!r}")
            self.model = model
            self.n_features = int(n_features)
            self.activation = activation
            self.column = column
            self.standardise = mean is not None
            if self.standardise:
                self.register_buffer("mean", _vector(mean, n_features, "mean"))
                std_t = _vector(std, n_features, "std")
                self.register_buffer("std", torch.where(std_t == 0, torch.ones_like(std_t),
                                                        std_t))

        def forward(self, x):
            if self.standardise:
                x = (x - self.mean) / self.std
            out = self.model(x)
            if out.dim() == 1:
                out = out.unsqueeze(1)
            if self.activation == "sigmoid":
                out = torch.sigmoid(out)
            elif self.activation == "softmax":
                out = torch.softmax(out, dim=1)
            return out[:, 0 if self.column is None else self.column]

    ScoreModule.__module__ = __name__
    ScoreModule.__qualname__ = "ScoreModule"
    return ScoreModule


def _declared_width(model) -> int | None:
    """in_features of the model's first Linear layer, when it has one (for messages)."""
    try:
        for sub in model.modules():
            if type(sub).__name__ == "Linear" or getattr(sub, "original_name", "") == "Linear":
                weight = getattr(sub, "weight", None)
                if weight is not None and weight.dim() == 2:
                    return int(weight.shape[1])
    except Exception:
        return None
    return None


def score_module(model, n_features: int, mean=None, std=None, activation: str = "none",
                 column: int | None = None, what: str = "torch model"):
    """A ScoreModule around model, float32 and in eval mode, probed with two rows of
    n_features columns: one-line errors for a wrong width or an output that is not a
    score. model is put in eval mode; its weights are not changed (a float32 CPU copy is
    scored when they are of another type or on another device)."""
    torch = need_torch()
    if not isinstance(model, torch.nn.Module):
        raise WirescoreError(f"{what}: a {type(model).__name__}, not a torch.nn.Module")
    params = list(model.parameters()) + list(model.buffers())
    if any((p.is_floating_point() and p.dtype != torch.float32) or p.device.type != "cpu"
           for p in params):
        model = copy.deepcopy(model).float().cpu()
    model.eval()
    wrapped = _score_module_class()(model, n_features, mean, std, activation, column).eval()
    try:
        with torch.no_grad():
            raw = model(torch.zeros(2, n_features))
    except Exception as exc:
        width = _declared_width(model)
        if width is not None and width != n_features:
            raise WirescoreError(f"{what}: the model takes {width} columns, the features "
                                 f"are {n_features}") from None
        raise WirescoreError(f"{what}: fails on rows of {n_features} columns: "
                             f"{_first_line(exc)}") from None
    if not isinstance(raw, torch.Tensor):
        raise WirescoreError(f"{what}: returns a {type(raw).__name__}; a score model returns "
                             "one tensor [rows] or [rows, k] (wrap it to pick one)")
    shape = list(raw.shape)
    if not (len(shape) in (1, 2) and shape[0] == 2):
        raise WirescoreError(f"{what}: returns shape {shape} for 2 rows; a score model "
                             "returns [rows] or [rows, k]")
    width = 1 if len(shape) == 1 else shape[1]
    if column is None and width != 1:
        raise WirescoreError(f"{what}: returns {width} columns per row; say which is the "
                             "score (--column, e.g. 1 for the attack class)")
    if column is not None and column >= width:
        raise WirescoreError(f"{what}: column {column} is outside its output, which has "
                             f"{width} column{'s' if width != 1 else ''}")
    if activation == "softmax" and width < 2:
        raise WirescoreError(f"{what}: softmax over a one-column output is always 1; use "
                             "sigmoid for one logit per row")
    return wrapped


def _to_onnx_bytes(wrapped, n_features: int, names: Sequence[str]) -> bytes:
    """The ScoreModule as ONNX bytes: input "input" [rows, n], output "score" [rows],
    with wirescore's feature / transform metadata."""
    import io

    import onnx
    import torch

    from wirescore.models.onnx import stamp_metadata

    example = torch.zeros(2, n_features)
    buf = io.BytesIO()
    common = dict(input_names=["input"], output_names=["score"], opset_version=OPSET,
                  dynamic_axes={"input": {0: "rows"}, "score": {0: "rows"}})
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            # traced first: the TorchScript exporter cannot trace a module that holds a
            # TorchScript submodule (a loaded .pt), torch.jit.trace can
            traced = torch.jit.trace(wrapped, (example,), check_trace=False)
            torch.onnx.export(traced, (example,), buf, dynamo=False, **common)
    except Exception as legacy_exc:
        try:
            import onnxscript  # noqa: F401
        except ImportError:
            raise WirescoreError(f"cannot export to ONNX: {_first_line(legacy_exc)}") from None
        buf = io.BytesIO()
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(wrapped, (example,), buf, dynamo=True,
                                  input_names=["input"], output_names=["score"],
                                  dynamic_shapes=({0: torch.export.Dim("rows")},))
        except Exception as exc:
            raise WirescoreError(f"cannot export to ONNX: {_first_line(legacy_exc)} "
                                 f"(torch.export: {_first_line(exc)})") from None
    model = onnx.load_from_string(buf.getvalue())
    stamp_metadata(model, names)
    return model.SerializeToString()


def onnx_scores(onnx_bytes: bytes, X: np.ndarray) -> np.ndarray:
    """onnxruntime's "score" output for X (float32), float64."""
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    out = sess.run(["score"], {"input": np.ascontiguousarray(X, dtype=np.float32)})[0]
    return np.asarray(out, dtype=np.float64).reshape(-1)


def torch_scores(wrapped, X: np.ndarray) -> np.ndarray:
    """The ScoreModule's own output for X (float32), float64."""
    import torch

    with torch.no_grad():
        out = wrapped(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)))
    return out.double().numpy().reshape(-1)


def export_torch(model: Any, out_prefix, sample_path, feature_set: str | None = None,
                 features: Sequence[str] = (), *, factory: str | None = None,
                 scaler: str | Path | None = None, mean=None, std=None,
                 activation: str = "none", column: int | None = None,
                 profile_id: int = EXPORT_ID, threshold: float = 0.5,
                 force: bool = False) -> dict:
    """Convert, check and write PREFIX.onnx and PREFIX.yaml; returns what was measured.

    model: a file (module docstring) or a torch.nn.Module in this process. mean / std
    (sequences in the column order) or scaler (a JSON file) standardise inside the graph.
    """
    import yaml

    from wirescore.featuresets.csvrows import read_rows
    from wirescore.pipeline_export import export_paths, feature_names
    from wirescore.rules import load_file

    torch = need_torch()
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise WirescoreError("exporting a torch model needs onnx (pip install onnx)") from None
    if isinstance(model, torch.nn.Module):
        source, module = type(model).__name__, model
    elif not isinstance(model, (str, Path)):
        raise WirescoreError(f"a {type(model).__name__}, neither a torch.nn.Module nor a file")
    else:
        source, module = Path(model).name, load_torch_model(model, factory)
    names = feature_names(feature_set, features)
    if scaler is not None:
        if mean is not None or std is not None:
            raise WirescoreError("give a scaler file or mean and std, not both")
        mean, std = read_scaler(scaler, names)
    else:
        mean, std = (_in_order(v, names, key) for v, key in ((mean, "mean"), (std, "std")))
    wrapped = score_module(module, len(names), mean, std, activation, column, what=source)
    X = read_rows(sample_path, names)
    onnx_path, yaml_path = export_paths(out_prefix, force)
    onnx_bytes = _to_onnx_bytes(wrapped, len(names), names)
    reference = torch_scores(wrapped, X)
    if not np.all(np.isfinite(reference)):
        raise WirescoreError(f"{source}: torch scores a sample row of {sample_path} as "
                             "NaN or infinity")
    gap = np.abs(onnx_scores(onnx_bytes, X) - reference)
    diff = float(np.max(gap))
    # 1e-5 absolute on scores up to 1 in size (probabilities), relative beyond: a raw
    # output in the tens carries float32 rounding of about 1e-6 of itself
    worst = float(np.max(gap / np.maximum(1.0, np.abs(reference))))
    if not worst <= TOLERANCE:
        raise WirescoreError(f"{source}: ONNX differs from torch by {diff:.3g} "
                             f"(> {TOLERANCE}{' relative' if worst != diff else ''}) on the "
                             f"sample rows of {sample_path}")
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    onnx_path.write_bytes(onnx_bytes)
    kind = getattr(module, "original_name", None) or type(module).__name__
    doc = {"id": profile_id, "rev": 1,
           "name": f"WIRESCORE exported torch {kind} ({source})",
           "category": "Anomalous network behaviour", "unit": "flow", "features": names,
           "transform": "none",
           "model": {"name": "onnx", "params": {"path": onnx_path.name, "output": "score"}},
           "threshold": {"fixed": float(threshold)}, "warmup": 0, "severity": 2}
    steps = (["standardise"] if mean is not None else []) + [kind] + \
        ([activation] if activation != "none" else []) + \
        ([f"column {column}"] if column is not None else [])
    yaml_path.write_text(f"# Written by `wirescore model export` from {source} "
                         f"({' -> '.join(steps)}); checked on {len(X)} rows: "
                         f"max |onnx - torch| = {diff:.3g}\n"
                         + yaml.safe_dump(doc, sort_keys=False, width=100))
    load_file(yaml_path)
    return {"onnx": str(onnx_path), "profile": str(yaml_path), "rows": int(len(X)),
            "max_abs_diff": diff, "steps": steps}
