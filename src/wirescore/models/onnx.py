"""A pre-trained model in an ONNX file, scored with onnxruntime in batches.

What it does: feeds a float32 matrix (one row per sample, one column per feature, in
the profile's order, after the profile's transform) to the model's one input and reads
one output as the anomaly score: a score tensor (IsolationForest's and One-Class SVM's
``scores``, a regressor's output) or one column of a probability matrix (a classifier's
attack-class probability). ``negate`` turns "higher = more normal" outputs (scikit-learn's
decision_function) into wirescore's convention, higher = more anomalous. The model never
learns: ``learn`` is a no-op and "score, then learn" is "score".

Checks, at load time, each one a one-line WirescoreError naming the file:

- the file exists and onnxruntime can load it (anything else is "not an ONNX model");
- exactly one input (or the one named by ``input``), of element type float32
  (``tensor(float)``), rank 2; when its width is fixed it must equal the number of
  feature columns, when it is symbolic a one-row probe run checks it;
- the output named by ``output`` exists (by default: the one float output, if there is
  exactly one), and ``column`` lies inside it;
- when the file carries wirescore metadata (``wirescore train`` writes it), the feature
  names and their order, and the transform, must equal the profile's.

Assumptions: the model takes the features exactly as the profile's ``transform`` leaves
them (no running min-max scaling; any scaling the model needs is inside the graph, as
``wirescore train`` puts it). Models travel as ONNX only: nothing here unpickles.

Cost: one onnxruntime session (its memory is the model's size plus working buffers);
scoring is one ``run`` per ``batch`` rows. onnxruntime is imported when the first model
is loaded, not when wirescore starts.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from wirescore.errors import WirescoreError

log = logging.getLogger(__name__)

META_FEATURES = "wirescore.features"      # JSON list of feature column names
META_TRANSFORM = "wirescore.transform"    # the profile transform the model expects
FLOAT = "tensor(float)"
#: the types a profile may give OnnxModel's parameters (model.params; path is required)
PARAM_TYPES = {"path": str, "output": str, "column": (int, str), "negate": bool,
               "input": str, "batch": int, "threads": int}

__all__ = ["OnnxModel", "META_FEATURES", "META_TRANSFORM", "PARAM_TYPES"]


def stamp_metadata(model, features: Sequence[str], transform: str = "none") -> None:
    """Write the feature column names (META_FEATURES, JSON) and the transform
    (META_TRANSFORM) into an onnx ModelProto's metadata, as OnnxModel reads them."""
    for key, value in ((META_FEATURES, json.dumps(list(features))),
                       (META_TRANSFORM, transform)):
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[:limit] + "..."


class OnnxModel:
    """An ONNX file as a batched anomaly scorer (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The .onnx file (a profile names it relative to the profile's own file).
    features : sequence of str
        The profile's feature columns, in order: the model's input width.
    output : str, optional
        Name of the output holding the score. Default: the model's only float output.
    column : int, optional
        For a 2-d output (n, k): which column is the score, e.g. 1 for the attack-class
        probability of a binary classifier; for a ZipMap output (list of dicts), the
        key. Default 0 when the output has one column; required when it has several.
    negate : bool
        The output means "higher = more normal": wirescore uses its negative.
    input : str, optional
        Name of the input, when the model has several.
    batch : int
        Rows per onnxruntime call (>= 1), bounding the working memory.
    threads : int
        onnxruntime intra-op threads (>= 1); 1 leaves the other cores to the capture.
    transform : str, optional
        The profile's transform, checked against the model's metadata when both exist.

    Examples
    --------
    >>> model = OnnxModel("iforest.onnx", ["flow.duration", "flow.pkts_toserver"],
    ...                   output="scores", negate=True)          # doctest: +SKIP
    >>> model.score_many(np.array([[0.1, 2.0]]))                  # doctest: +SKIP
    array([-0.0412...])
    """

    batched = True          # the protocol's traits (wirescore.models)
    scaled = False          # any scaling the model needs is inside its graph
    learns = False          # fitted offline

    def __init__(self, path: str | Path, features: Sequence[str], *, output: str | None = None,
                 column: int | str | None = None, negate: bool = False,
                 input: str | None = None, batch: int = 65536, threads: int = 1,
                 transform: str | None = None):
        self.path = Path(path)
        self.features = tuple(features)
        self.negate = bool(negate)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise WirescoreError(f"{self.path}: batch must be a whole number of rows >= 1")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise WirescoreError(f"{self.path}: threads must be a whole number >= 1")
        self.batch = batch
        self._session = self._open(threads)
        self.input_name = self._pick_input(input)
        self.output_name, self._zipmap = self._pick_output(output)
        self.column = self._pick_column(column)
        self._check_metadata(transform)
        self._probe()

    # ------------------------------------------------------------ loading and checks

    def _open(self, threads: int):
        if not self.path.is_file():
            raise WirescoreError(f"{self.path}: no such ONNX model file")
        try:
            import onnxruntime as ort
        except ImportError:
            raise WirescoreError(f"{self.path}: ONNX models need onnxruntime "
                                 "(pip install onnxruntime)") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3            # errors only: no warnings on stderr
        try:
            return ort.InferenceSession(str(self.path), sess_options=opts,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:             # onnxruntime raises its own, untyped errors
            raise WirescoreError(f"{self.path}: not a loadable ONNX model "
                                 f"({_first_line(exc)})") from None

    def _named(self, args, name: str, kind: str, described: str):
        """The graph input or output called name, or a one-line error listing them."""
        for arg in args:
            if arg.name == name:
                return arg
        raise WirescoreError(f"{self.path}: no {kind} named {name!r} ({kind}s: {described})")

    def _pick_input(self, name: str | None) -> str:
        inputs = self._session.get_inputs()
        described = ", ".join(f"{i.name} {i.type} {list(i.shape)}" for i in inputs)
        if name is not None:
            arg = self._named(inputs, name, "input", described)
        elif len(inputs) != 1:
            raise WirescoreError(f"{self.path}: has {len(inputs)} inputs ({described}); "
                                 "wirescore feeds one float32 matrix: name it with "
                                 "model.params.input")
        else:
            arg = inputs[0]
        if arg.type != FLOAT:
            raise WirescoreError(f"{self.path}: input {arg.name!r} has element type "
                                 f"{arg.type}; wirescore feeds float32 ({FLOAT}) - "
                                 "convert the model with a FloatTensorType input")
        shape = list(arg.shape)
        if len(shape) != 2:
            raise WirescoreError(f"{self.path}: input {arg.name!r} has shape {shape}; "
                                 "wirescore feeds a matrix [rows, features]")
        width = shape[1]
        if isinstance(width, int) and width != len(self.features):
            raise WirescoreError(f"{self.path}: input {arg.name!r} takes {width} feature "
                                 f"columns but the profile lists {len(self.features)}")
        return arg.name

    def _pick_output(self, name: str | None) -> tuple[str, bool]:
        outputs = self._session.get_outputs()
        described = ", ".join(f"{o.name} ({o.type})" for o in outputs)
        if name is not None:
            out = self._named(outputs, name, "output", described)
        else:
            floats = [o for o in outputs if o.type == FLOAT]
            if len(floats) != 1:
                raise WirescoreError(f"{self.path}: cannot tell which output is the score "
                                     f"(outputs: {described}); name it with "
                                     "model.params.output")
            out = floats[0]
        zipmap = out.type.startswith("seq(map(")
        if not zipmap and out.type not in (FLOAT, "tensor(double)"):
            raise WirescoreError(f"{self.path}: output {out.name!r} has type {out.type}; "
                                 "a score must be a float tensor (or a ZipMap of class "
                                 "probabilities)")
        return out.name, zipmap

    def _pick_column(self, column):
        out = next(o for o in self._session.get_outputs() if o.name == self.output_name)
        if self._zipmap:
            if column is None:
                raise WirescoreError(f"{self.path}: output {self.output_name!r} maps classes "
                                     "to probabilities; name the attack class with "
                                     "model.params.column")
            return column
        if column is not None and (isinstance(column, bool) or not isinstance(column, int)
                                   or column < 0):
            raise WirescoreError(f"{self.path}: column must be a column index >= 0, "
                                 f"got {column!r}")
        shape = list(out.shape)
        width = shape[1] if len(shape) == 2 else 1
        if len(shape) > 2:
            raise WirescoreError(f"{self.path}: output {self.output_name!r} has shape {shape}; "
                                 "a score is one value per row")
        if isinstance(width, int):
            if column is None and width != 1:
                raise WirescoreError(f"{self.path}: output {self.output_name!r} has {width} "
                                     "columns; say which is the score with "
                                     "model.params.column")
            if column is not None and column >= width:
                raise WirescoreError(f"{self.path}: column {column} is outside output "
                                     f"{self.output_name!r}, which has {width} columns")
        return 0 if column is None else column

    def _check_metadata(self, transform: str | None) -> None:
        meta = self._session.get_modelmeta().custom_metadata_map or {}
        if META_FEATURES in meta:
            try:
                trained = tuple(json.loads(meta[META_FEATURES]))
            except (ValueError, TypeError):
                raise WirescoreError(f"{self.path}: metadata {META_FEATURES} is not a JSON "
                                     "list of names") from None
            if trained != self.features:
                if len(trained) != len(self.features):
                    what = (f"it was trained on {len(trained)} feature columns, the profile "
                            f"lists {len(self.features)}")
                else:
                    j = next(i for i, (a, b) in enumerate(zip(trained, self.features))
                             if a != b)
                    what = (f"feature column {j + 1} is {trained[j]!r} in the model but "
                            f"{self.features[j]!r} in the profile")
                raise WirescoreError(f"{self.path}: features differ from the profile's: "
                                     f"{what}")
        if transform is not None and META_TRANSFORM in meta and meta[META_TRANSFORM] != transform:
            raise WirescoreError(f"{self.path}: trained on transform {meta[META_TRANSFORM]!r} "
                                 f"but the profile says transform: {transform}")

    def _probe(self) -> None:
        """One row of zeros through the model: catches a symbolic input width that does
        not match, and an output that is not one value per row."""
        try:
            self.score_many(np.zeros((1, len(self.features)), dtype=np.float32))
        except WirescoreError:
            raise
        except Exception as exc:
            raise WirescoreError(f"{self.path}: a probe row of {len(self.features)} "
                                 f"float32 columns failed ({_first_line(exc)})") from None

    # ------------------------------------------------------------ scoring

    def score_many(self, X) -> np.ndarray:
        """Anomaly scores (float64, one per row; higher = more anomalous) of X, a 2-d
        array (rows, len(features)); converted to C-contiguous float32, the model's
        input type, so float64 inputs lose precision beyond float32's (~7 digits).
        An empty X gives an empty result. The model does not change."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.features):
            raise WirescoreError(f"{self.path}: expected rows of {len(self.features)} "
                                 f"columns, got shape {X.shape}")
        out = np.empty(len(X), dtype=np.float64)
        for start in range(0, len(X), self.batch):
            part = X[start:start + self.batch]
            (res,) = self._session.run([self.output_name], {self.input_name: part})
            out[start:start + len(part)] = self._column(res, len(part))
        return -out if self.negate else out

    def _column(self, res, n: int) -> np.ndarray:
        if self._zipmap:
            try:
                return np.array([row[self.column] for row in res], dtype=np.float64)
            except KeyError:
                keys = sorted(res[0]) if len(res) else []
                raise WirescoreError(f"{self.path}: output {self.output_name!r} has no class "
                                     f"{self.column!r} (classes: {keys})") from None
        arr = np.asarray(res)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[0] != n:
            raise WirescoreError(f"{self.path}: output {self.output_name!r} gave shape "
                                 f"{arr.shape} for {n} rows; a score is one value per row")
        if self.column >= arr.shape[1]:
            raise WirescoreError(f"{self.path}: column {self.column} is outside output "
                                 f"{self.output_name!r}, which has {arr.shape[1]} columns")
        return arr[:, self.column]

    # River-style protocol, for callers that stay on it
    def score_one(self, x) -> float:
        """Score of one sample, a mapping {feature: value} (missing features are 0)."""
        row = np.array([[float(x.get(f, 0.0)) for f in self.features]])
        return float(self.score_many(row)[0])

    def learn_one(self, x) -> None:
        """Pre-trained: learning does nothing."""

    def learn_many(self, X) -> None:
        """Pre-trained: learning does nothing."""

    def score_learn_many(self, X) -> np.ndarray:
        """The same as score_many (nothing is learned)."""
        return self.score_many(X)
