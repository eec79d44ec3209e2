"""A profile's `explainer:` field (rules/README.md, "Explanations"): SHAP or LIME per
alert, built into a wirescore.explain.AlertExplainer when the profile loads.

    explainer:
      method: shap-kernel        # shap-tree (in-process tree models, API only), lime
      background: train.csv      # training rows: a CSV naming the profile's features
      rows: 50                   # background rows kept (a seeded sample)
      budget_ms: 20              # explanation time an alert, on average
      burst: 10                  # alerts' worth of budget the bucket holds
      samples: 200               # model evaluations (kernel SHAP) / perturbations (LIME)
      top: 5                     # LIME: the weights kept
      seed: 0

The background path is relative to the profile's file; its rows go through the
profile's transform when the detector binds the explainer (raw_background). shap and
lime are imported when a run starts (the research extra).
"""
from __future__ import annotations

from pathlib import Path

KEYS = {"method": str, "background": str, "rows": int, "budget_ms": (int, float),
        "burst": int, "samples": int, "top": int, "seed": int}


def parse_explainer(doc: dict, chk, features) -> dict:
    """{"explainer": AlertExplainer} from the profile's mapping, {} without one."""
    spec = doc.get("explainer")
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        chk.fail(("explainer",), "a mapping: method, background, budget_ms, ...")
    for key, value in spec.items():
        if key not in KEYS:
            chk.fail(("explainer", key), f"unknown key (keys: {', '.join(KEYS)})")
        if isinstance(value, bool) or not isinstance(value, KEYS[key]):
            chk.fail(("explainer", key), "wrong type")
    for key in ("method", "background"):
        if key not in spec:
            chk.fail(("explainer",), f"needs {key}")
    from wirescore.errors import WirescoreError
    from wirescore.explain import AlertExplainer
    from wirescore.featuresets.csvrows import read_rows

    path = Path(chk.path).parent / spec["background"]
    try:
        rows = read_rows(path, features, max_rows=100_000)
        explainer = AlertExplainer(
            spec["method"], rows, features, raw_background=True,
            budget_ms=float(spec.get("budget_ms", 20)),
            burst=spec.get("burst", 10), samples=spec.get("samples", 200),
            top=spec.get("top", 5), seed=spec.get("seed", 0),
            background_rows=spec.get("rows", 50))
    except WirescoreError as exc:
        chk.fail(("explainer",), str(exc))
    return {"explainer": explainer}
