"""`wirescore model export` of a PyTorch model (wirescore.torch_export) and a torch
module handed in through the Python API (models.fitted.FittedTorch), on real flows.

A tiny MLP is trained with torch on a UNSW-NB15-layout slice of shared captures (a SYN
scan's flows as attacks, CIC-IDS2017 Monday traffic as benign: tests/unsw_slice.py; the
unsw-nb15 feature set's model columns), on standardised columns. Checked: the TorchScript
file, exported with its standardisation and sigmoid inside the graph, runs as a profile
in `wirescore run` on a scan capture, alerts, and its scores there equal torch's on the
same flows' columns (exported by the same run) within 1e-5; a state dict with a factory
file and a whole pickled module export too; FittedTorch alerts in an in-process run and
scores as the ONNX model does; bad inputs are one-line errors.

Needs torch (CPU-only build: `make install-torch`, pyproject's torch extra); skips,
saying so, without it.
"""
from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest

from conftest import need_shared, read_eve, run_wirescore

pytest.importorskip("torch", reason="PyTorch is not installed: the torch export tests need "
                                    "its CPU-only build (`make install-torch`)")
for module in ("onnx", "onnxruntime"):
    pytest.importorskip(module, reason=f"torch export needs {module}")

from unsw_slice import make_slice  # noqa: E402

# torch 2.13 marks TorchScript deprecated; its files are still what researchers have
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
SCAN = "pcaps/labeled/scans/esnet-nmap_80_all.pcap"
BENIGN = "pcaps/labeled/netml-cicids2017-demo/demo.pcap"
PROFILE_ID = 9200201
TOL = 1e-5

FACTORY = '''
import torch


class MLP(torch.nn.Module):
    """Two class logits from WIDTH columns."""

    def __init__(self, width=WIDTH):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(width, 16), torch.nn.ReLU(),
                                        torch.nn.Linear(16, 2))

    def forward(self, x):
        return self.body(x)


def make_mlp():
    return MLP()
'''


def _mlp(width: int, outputs: int):
    import torch

    return torch.nn.Sequential(torch.nn.Linear(width, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, outputs))


def _train(model, Xs, y, two_class: bool, epochs: int = 150):
    """Full-batch Adam on standardised rows: BCE on one logit, or cross-entropy on two."""
    import torch

    X_t = torch.from_numpy(Xs)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    if two_class:
        loss_fn, target = torch.nn.CrossEntropyLoss(), torch.from_numpy(y.astype(np.int64))
    else:
        loss_fn, target = torch.nn.BCEWithLogitsLoss(), torch.from_numpy(
            y.astype(np.float32))
    for _ in range(epochs):
        opt.zero_grad()
        out = model(X_t)
        loss = loss_fn(out if two_class else out[:, 0], target)
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def slice_(tmp_path_factory):
    """(tmp dir, dataset CSV, feature names, X, y, mean, std) from the shared captures."""
    import torch

    from wirescore.csvtrain import read_dataset_csv

    torch.set_num_threads(1)
    shared = need_shared()
    tmp = tmp_path_factory.mktemp("torchexport")
    path, n_attack, n_benign = make_slice(tmp, shared)
    assert n_attack > 50 and n_benign > 50
    flows, labels, names = read_dataset_csv(path, "unsw-nb15", "label")
    X = flows.matrix(names).astype(np.float32)
    y = labels.y(labels.attacks(flows))
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std == 0] = 1.0
    return tmp, path, names, X, y, mean, std


@pytest.fixture(scope="module")
def logit_mlp(slice_):
    """An MLP with one logit per row, trained on the slice's standardised columns."""
    import torch

    _, _, names, X, y, mean, std = slice_
    torch.manual_seed(0)                   # the initial weights: the same model every run
    model = _train(_mlp(len(names), 1), ((X - mean) / std).astype(np.float32), y, False)
    return model


def _torch_prob(model, X, mean, std) -> np.ndarray:
    """sigmoid(model((X - mean) / std)), computed here in torch, float64."""
    import torch

    Xs = (torch.from_numpy(X.astype(np.float32)) - torch.from_numpy(mean.astype(np.float32))) \
        / torch.from_numpy(std.astype(np.float32))
    with torch.no_grad():
        return torch.sigmoid(model(Xs))[:, 0].double().numpy()


def test_torchscript_export_runs_alerts_and_equals_torch(slice_, logit_mlp, tmp_path):
    import torch

    from wirescore.featuresets.csvrows import read_rows

    _, path, names, X, y, mean, std = slice_
    # the model separates the slice (what the scan capture's alerts rest on)
    train_prob = _torch_prob(logit_mlp, X, mean, std)
    assert np.mean((train_prob >= 0.5) == (y == 1)) > 0.9
    torch.jit.script(logit_mlp).save(str(tmp_path / "mlp.pt"))
    (tmp_path / "scaler.json").write_text(json.dumps(
        {"mean": dict(zip(names, mean.tolist())), "std": std.tolist()}))
    prefix = tmp_path / "out" / "mlp"
    proc = run_wirescore("model", "export", tmp_path / "mlp.pt", "-o", prefix, "--sample", path,
                         "--feature-set", "unsw-nb15", "--scaler", tmp_path / "scaler.json",
                         "--activation", "sigmoid")
    assert "standardise -> Sequential -> sigmoid: checked on" in proc.stdout
    diff = float(proc.stdout.split("max |onnx - torch| = ")[1].split()[0])
    assert diff <= TOL
    assert prefix.with_suffix(".onnx").is_file() and prefix.with_suffix(".yaml").is_file()
    assert "max |onnx - torch|" in prefix.with_suffix(".yaml").read_text().splitlines()[0]

    # the scan alerts (an nmap scan the model never saw); the Monday traffic scores low
    for capture, tag in ((SCAN, "scan"), (BENIGN, "benign")):
        export = tmp_path / f"scored-{tag}.csv"
        run_wirescore("run", "-r", need_shared() / capture, "-l", tmp_path / f"logs-{tag}",
                      "--rules", prefix.with_suffix(".yaml"), "--export", export,
                      "--feature-set", "unsw-nb15")
        Xr = read_rows(export, names, max_rows=10 ** 6)
        with open(export, newline="") as fh:
            scores = np.array([float(r[f"score.{PROFILE_ID}"]) for r in csv.DictReader(fh)])
        assert len(scores) == len(Xr) > 0
        assert np.max(np.abs(scores - _torch_prob(logit_mlp, Xr, mean, std))) <= TOL
        if tag == "scan":
            alerts = [e for e in read_eve(tmp_path / "logs-scan")
                      if e["event_type"] == "alert" and e["alert"]["signature_id"] == PROFILE_ID]
            assert alerts, "the exported MLP raised no alert on the scan capture"
            assert np.sum(scores >= 0.5) >= len(alerts)
        else:
            assert np.mean(scores < 0.5) > 0.9


def _two_class_files(slice_, tmp_path):
    """A trained two-logit MLP of the factory file's class: (factory file, module)."""
    import torch

    _, _, names, X, y, mean, std = slice_
    factory = tmp_path / "mlpdef.py"
    factory.write_text(FACTORY.replace("WIDTH", str(len(names))))
    sys.path.insert(0, str(tmp_path))
    try:
        import mlpdef
    finally:
        sys.path.remove(str(tmp_path))
    torch.manual_seed(1)
    model = _train(mlpdef.make_mlp(), ((X - mean) / std).astype(np.float32), y, True,
                   epochs=80)
    return factory, model


def test_state_dict_with_factory_and_whole_module(slice_, tmp_path, monkeypatch):
    import torch

    from wirescore.models.onnx import OnnxModel
    from wirescore.rules import load_file
    from wirescore.torch_export import export_torch

    _, path, names, X, y, mean, std = slice_
    factory, model = _two_class_files(slice_, tmp_path)
    torch.save({"epoch": 80, "model_state_dict": model.state_dict()}, tmp_path / "ckpt.pth")
    with torch.no_grad():
        want = torch.softmax(model((torch.from_numpy(X) - torch.from_numpy(mean))
                                   / torch.from_numpy(std)), dim=1)[:, 1].double().numpy()
    got = export_torch(tmp_path / "ckpt.pth", tmp_path / "sd", path, "unsw-nb15",
                       factory=f"{factory}:make_mlp", mean=mean, std=std,
                       activation="softmax", column=1)
    assert got["max_abs_diff"] <= TOL and got["steps"][-2:] == ["softmax", "column 1"]
    profile = load_file(got["profile"])[0]
    onnx_model = profile.take_model()
    assert isinstance(onnx_model, OnnxModel)
    assert np.max(np.abs(onnx_model.score_many(X) - want)) <= TOL

    # a whole module (torch.save(model)): its class importable from the path
    torch.save(model, tmp_path / "whole.pt")
    monkeypatch.syspath_prepend(str(tmp_path))
    got = export_torch(tmp_path / "whole.pt", tmp_path / "whole", path, "unsw-nb15",
                       mean=mean, std=std, activation="softmax", column=1)
    onnx_model = OnnxModel(got["onnx"], names)
    assert np.max(np.abs(onnx_model.score_many(X) - want)) <= TOL


def test_fitted_torch_alerts_in_process_and_scores_as_onnx(slice_, logit_mlp, tmp_path):
    from wirescore.config import Config
    from wirescore.engine import Engine
    from wirescore.models.fitted import FittedModel, FittedTorch
    from wirescore.models.onnx import OnnxModel
    from wirescore.rules import Profile
    from wirescore.torch_export import export_torch
    from wirescore.errors import WirescoreError

    _, path, names, X, y, mean, std = slice_
    fitted = FittedTorch(logit_mlp, names, mean=dict(zip(names, mean.tolist())), std=std,
                         activation="sigmoid")
    assert np.max(np.abs(fitted.score_many(X) - _torch_prob(logit_mlp, X, mean, std))) <= TOL
    got = export_torch(logit_mlp, tmp_path / "api", path, "unsw-nb15", mean=mean, std=std,
                       activation="sigmoid")
    assert np.max(np.abs(OnnxModel(got["onnx"], names).score_many(X)
                         - fitted.score_many(X))) <= TOL
    # the logits themselves (no sigmoid to flatten a difference), spread over tens
    logits = FittedTorch(logit_mlp, names, mean=mean, std=std)
    got = export_torch(logit_mlp, tmp_path / "logit", path, "unsw-nb15", mean=mean, std=std)
    raw = logits.score_many(X)
    assert np.ptp(raw) > 10
    gap = np.abs(OnnxModel(got["onnx"], names).score_many(X) - raw)
    assert np.max(gap / np.maximum(1, np.abs(raw))) <= TOL      # float32 rounding of ~100

    profile = Profile(id=9300002, name="research torch MLP", features=tuple(names),
                      model={"name": "fitted"}, transform="none", threshold_fixed=0.5,
                      threshold_quantile=None, warmup=0, suppress_seconds=0.0,
                      model_object=fitted)
    alerts = []
    cfg = Config.load(None, {"outputs.snippets.enabled": False})
    Engine(cfg, tmp_path / "logs", profiles=[profile], on_alert=alerts.append).run(
        str(need_shared() / SCAN))
    assert alerts and all(a["alert"]["signature_id"] == 9300002 for a in alerts)
    with pytest.raises(WirescoreError, match="a torch module; use FittedTorch"):
        FittedModel(logit_mlp)
    with pytest.raises(WirescoreError, match=f"takes {len(names)} columns, the features are 3"):
        FittedTorch(logit_mlp, names[:3])


def test_a_differing_onnx_fails_the_export(slice_, logit_mlp, tmp_path, monkeypatch):
    from wirescore import torch_export
    from wirescore.errors import WirescoreError

    _, path, names, X, y, mean, std = slice_
    real = torch_export.torch_scores
    monkeypatch.setattr(torch_export, "torch_scores", lambda w, X: real(w, X) + 1e-3)
    with pytest.raises(WirescoreError, match=r"ONNX differs from torch by 0\.001 "):
        torch_export.export_torch(logit_mlp, tmp_path / "bad", path, "unsw-nb15",
                                  mean=mean, std=std, activation="sigmoid")
    assert not (tmp_path / "bad.onnx").exists() and not (tmp_path / "bad.yaml").exists()


def _fails(*args) -> str:
    proc = run_wirescore("model", "export", *map(str, args), check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wirescore: error: "), proc.stderr
    return lines[0]


def test_export_errors_are_one_line(slice_, logit_mlp, tmp_path):
    """Through the command (each a subprocess importing torch: a few), then the rest of
    the checks in process."""
    import torch

    from wirescore.errors import WirescoreError
    from wirescore.torch_export import export_torch

    _, path, names, X, y, mean, std = slice_
    out = ("-o", tmp_path / "x", "--sample", path)
    (tmp_path / "junk.pt").write_text("not a model\n")
    assert "junk.pt: cannot load a torch model" in _fails(tmp_path / "junk.pt",
                                                          "--feature-set", "unsw-nb15", *out)
    torch.jit.script(logit_mlp).save(str(tmp_path / "mlp.pt"))
    three = "flow.duration,flow.pkts_toserver,flow.bytes_toserver"
    assert f"mlp.pt: the model takes {len(names)} columns, the features are 3" in _fails(
        tmp_path / "mlp.pt", "--features", three, *out)
    (tmp_path / "pipe.joblib").write_bytes(b"\x80\x04N.")
    assert "--activation: only for a PyTorch model" in _fails(
        tmp_path / "pipe.joblib", "--framework", "sklearn", "--activation", "sigmoid",
        "--feature-set", "unsw-nb15", *out)

    def fails(model, match, **kw):
        with pytest.raises(WirescoreError, match=match) as got:
            export_torch(model, tmp_path / "x", path, "unsw-nb15", **kw)
        assert "\n" not in str(got.value)

    factory, model = _two_class_files(slice_, tmp_path)
    torch.save(model.state_dict(), tmp_path / "sd.pth")
    fails(tmp_path / "sd.pth", r"holds a state dict \(weights only\); give --factory")
    fails(tmp_path / "sd.pth", r"returns 2 columns per row; say which is the score",
          factory=f"{factory}:make_mlp")
    fails(tmp_path / "sd.pth", r"column 2 is outside its output, which has 2 columns",
          factory=f"{factory}:make_mlp", column=2)
    fails(tmp_path / "mlp.pt", r"softmax over a one-column output", activation="softmax")
    fails(tmp_path / "mlp.pt", r"a TorchScript file holds its own module",
          factory=f"{factory}:make_mlp")
    torch.save(_mlp(5, 2).state_dict(), tmp_path / "small.pth")
    fails(tmp_path / "small.pth", r"small.pth: the state dict does not fit .*make_mlp\(\)",
          factory=f"{factory}:make_mlp")
    fails(tmp_path / "sd.pth", r"--factory nosuchmodule:make: cannot import nosuchmodule",
          factory="nosuchmodule:make")
    fails(tmp_path / "sd.pth", r"--factory nocolon: give MODULE:CALLABLE", factory="nocolon")
    (tmp_path / "scaler.json").write_text(json.dumps({"mean": [0.0] * 5, "std": [1.0] * 5}))
    fails(tmp_path / "mlp.pt", f"mean has 5 values, the features are {len(names)}",
          scaler=tmp_path / "scaler.json")
    (tmp_path / "scaler.json").write_text(json.dumps({"mean": [0.0] * len(names)}))
    fails(tmp_path / "mlp.pt", r"a scaler file is", scaler=tmp_path / "scaler.json")
    torch.save({"note": "no tensors"}, tmp_path / "dict.pt")
    fails(tmp_path / "dict.pt", r"holds a dict, neither a module nor a state dict")
    torch.save((torch.zeros(1), torch.zeros(1)), tmp_path / "tup.pt")
    fails(tmp_path / "tup.pt", r"holds a tuple")
    fails(X, r"a ndarray, neither a torch.nn.Module nor a file")
