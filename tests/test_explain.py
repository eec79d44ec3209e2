"""SHAP and LIME explanations per alert (wirescore.explain), on real flows: a random
forest and an ONNX model trained on a UNSW-NB15-layout slice of shared captures (the
unsw-nb15 feature set), explaining alerts of `wirescore`'s pipeline on a scan capture.

Checked: SHAP's values plus its expected value give the model's output (tree
explainer: exactly, to float tolerance; kernel explainer: the score minus the
background's mean score, by construction); LIME is deterministic for a fixed seed
whatever was explained before; the budget's accounting holds under a 10,000-alert burst
(on an injected clock: every alert returns, the explained ones fit the budget); the
explanation lands in the alert's EVE event under alert.context.wirescore and the event
still validates against Suricata's schema."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from conftest import SHARED_DATA, need_shared, run_wirescore

for module in ("sklearn", "shap", "lime", "onnxruntime"):
    pytest.importorskip(module, reason=f"explanations need the research extra ({module})")

from unsw_slice import make_slice  # noqa: E402

log = logging.getLogger(__name__)
SCAN = "pcaps/labeled/scans/esnet-masscan-tcp_0_1000_20190821.pcap"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(features, X, y, fitted forest, ONNX profile path) from the slice."""
    from sklearn.ensemble import RandomForestClassifier

    from wirescore.csvtrain import read_dataset_csv

    shared = need_shared()
    tmp = tmp_path_factory.mktemp("explain")
    path, _, _ = make_slice(tmp, shared)
    flows, labels, names = read_dataset_csv(path, "unsw-nb15", "label")
    X = flows.matrix(names).astype(np.float32)
    y = labels.y(labels.attacks(flows))
    forest = RandomForestClassifier(n_estimators=30, random_state=0, n_jobs=1).fit(X, y)
    run_wirescore("train", "--csv", path, "--feature-set", "unsw-nb15", "--label-column",
                  "label", "-o", tmp / "onnx" / "m")
    return names, X, y, forest, tmp / "onnx" / "m.yaml"


def _profile(names, model_object, explainer, pid=9300001):
    from wirescore.rules import Profile

    return Profile(id=pid, name="research forest", features=tuple(names),
                   model={"name": "fitted"}, transform="none", threshold_fixed=0.5,
                   threshold_quantile=None, warmup=0, suppress_seconds=0.0,
                   model_object=model_object, explainer=explainer)


def _alerts(profile, tmp_path):
    """The EVE alert events of a run of the scan capture with this one profile."""
    from wirescore.config import Config
    from wirescore.engine import Engine

    got = []
    cfg = Config.load(None, {"outputs.snippets.enabled": False})
    Engine(cfg, tmp_path / "logs", profiles=[profile], on_alert=got.append).run(
        str(need_shared() / SCAN))
    return got


def test_tree_shap_sums_to_the_forest_output_in_alerts(trained, tmp_path):
    from wirescore.explain import AlertExplainer
    from wirescore.models.fitted import FittedModel

    names, X, y, forest, _ = trained
    explainer = AlertExplainer("shap-tree", X[:50], names, budget_ms=1e9)
    alerts = _alerts(_profile(names, FittedModel(forest), explainer), tmp_path)
    assert len(alerts) > 100
    for event in alerts:
        ctx = event["alert"]["context"]["wirescore"]
        exp = ctx["explanation"]
        assert exp["method"] == "shap-tree" and set(exp["values"]) == set(names)
        total = exp["expected_value"] + sum(exp["values"].values())
        assert total == pytest.approx(ctx["score"], abs=1e-6)   # the forest's probability
    assert explainer.explained == len(alerts) and explainer.skipped == 0


def test_kernel_shap_on_the_onnx_profile_sums_to_score_minus_expected(trained, tmp_path):
    from wirescore.explain import AlertExplainer
    from wirescore.rules import load_file

    names, X, y, _, onnx_yaml = trained
    profile = load_file(onnx_yaml)[0]
    explainer = AlertExplainer("shap-kernel", X[y == 0][:40], profile.features,
                               budget_ms=1e9, samples=300)
    profile.explainer = explainer
    profile.suppress_seconds = 0.0
    alerts = _alerts(profile, tmp_path)[:20]
    assert alerts
    model = profile.take_model()
    base = float(np.mean(model.score_many(explainer.background)))
    for event in alerts:
        ctx = event["alert"]["context"]["wirescore"]
        exp = ctx["explanation"]
        assert exp["expected_value"] == pytest.approx(base, abs=1e-6)
        assert exp["expected_value"] + sum(exp["values"].values()) == \
            pytest.approx(ctx["score"], abs=1e-5)


def test_lime_deterministic_with_a_fixed_seed(trained):
    from wirescore.explain import AlertExplainer
    from wirescore.models.fitted import FittedModel

    names, X, y, forest, _ = trained
    model = FittedModel(forest)
    runs = []
    for order in (list(range(5)), [4, 3, 2, 1, 0]):
        explainer = AlertExplainer("lime", X[:200], names, budget_ms=1e9, seed=7,
                                   samples=500)
        explainer.bind(model.score_many, model)
        got = {}
        for i in order:
            out = explainer.explain(X[np.flatnonzero(y)[i]])
            out.pop("elapsed_ms")
            got[i] = out
        runs.append(got)
    assert runs[0] == runs[1]
    assert len(runs[0][0]["weights"]) == 5
    other = AlertExplainer("lime", X[:200], names, budget_ms=1e9, seed=8, samples=500)
    other.bind(model.score_many, model)
    assert other.explain(X[np.flatnonzero(y)[0]])["weights"] != runs[0][0]["weights"]


def test_budget_holds_under_a_10000_alert_burst(trained):
    """Each explanation costs 7 ms on the injected clock; the budget is 1 ms an alert
    with a bucket of 10: about one alert in 7 is explained, every one returns, and the
    explanation time stays within alerts x budget + bucket + one explanation."""
    from wirescore.explain import AlertExplainer
    from wirescore.models.fitted import FittedModel

    names, X, y, forest, _ = trained
    now = [0.0]
    explainer = AlertExplainer("shap-tree", X[:50], names, budget_ms=1.0, burst=10,
                               clock=lambda: now[0])
    model = FittedModel(forest)
    explainer.bind(model.score_many, model)
    real = explainer._explain

    def costly(x):
        now[0] += 0.007
        return real(x)

    explainer._explain = costly
    rows = X[np.arange(10_000) % len(X)]
    out = [explainer.explain(r) for r in rows]
    assert len(out) == 10_000
    explained = [o for o in out if "values" in o]
    skipped = [o for o in out if o.get("skipped") == "budget"]
    assert len(explained) + len(skipped) == 10_000
    assert explainer.spent_ms <= 10_000 * 1.0 + 10 * 1.0 + 7.0 + 1e-6
    assert 10_000 // 7 - 2 <= len(explained) <= 10_000 // 7 + 12
    log.info("burst: %d explained, %d skipped", len(explained), len(skipped))


def test_explained_alert_validates_against_suricata_schema(trained, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = SHARED_DATA / "suricata-eve-schema.json"
    if not schema_path.exists():
        pytest.skip(f"{schema_path} not found")
    from wirescore.explain import AlertExplainer
    from wirescore.models.fitted import FittedModel

    names, X, y, forest, _ = trained
    alerts = _alerts(_profile(names, FittedModel(forest),
                              AlertExplainer("shap-tree", X[:50], names, budget_ms=1e9)),
                     tmp_path)
    validator = jsonschema.Draft202012Validator(json.loads(schema_path.read_text()))
    for event in alerts[:50]:
        validator.validate(json.loads(json.dumps(event)))


def test_profile_yaml_explainer_in_a_cli_run(trained, tmp_path):
    """An ONNX profile with `explainer:` (kernel SHAP, background from the training CSV)
    explains the alerts of `wirescore run`; a wrong key is one line naming file:line."""
    import yaml

    names, X, y, _, onnx_yaml = trained
    doc = yaml.safe_load(onnx_yaml.read_text())
    doc["suppress"] = {"seconds": 0}
    doc["explainer"] = {"method": "shap-kernel", "background": "background.csv",
                        "rows": 30, "samples": 200, "budget_ms": 1e9}
    folder = onnx_yaml.parent
    with open(folder / "background.csv", "w") as fh:
        short = [n.split(".", 1)[1] for n in names]
        fh.write(",".join(short) + "\n")
        for row in X[y == 0][:60]:
            fh.write(",".join(repr(float(v)) for v in row) + "\n")
    profile = folder / "explained.yaml"
    profile.write_text(yaml.safe_dump(doc, sort_keys=False))
    run_wirescore("run", "-r", need_shared() / SCAN, "-l", tmp_path / "logs", "--rules",
                  profile)
    events = [json.loads(x) for x in (tmp_path / "logs/eve.json").read_text().splitlines()]
    alerts = [e for e in events if e["event_type"] == "alert"]
    assert alerts
    for e in alerts[:50]:
        ctx = e["alert"]["context"]["wirescore"]
        exp = ctx["explanation"]
        assert exp["method"] == "shap-kernel"
        assert exp["expected_value"] + sum(exp["values"].values()) == \
            pytest.approx(ctx["score"], abs=1e-5)
    doc["explainer"]["budget"] = 5
    profile.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = run_wirescore("rules", "check", profile, check=False)
    assert proc.returncode == 1 and f"{profile}:" in proc.stderr
    assert "explainer.budget: unknown key" in proc.stderr
