"""Anomaly models. Every model follows River's anomaly protocol:

- ``learn_one(x)``: update the model with one sample, a mapping of feature name to
  number; returns None.
- ``score_one(x)``: the sample's anomaly score, a float; higher = more anomalous. It
  does not change the model.

so a River anomaly detector can stand wherever a wirescore model does. Models with a
compiled core add batched methods over 2-d float64 arrays (one row per sample, one
column per feature in the model's ``features`` order): ``learn_many(X)``,
``score_many(X)`` and ``score_learn_many(X)`` ("score, then learn" per row, in order).

- HalfSpaceTrees: native Half-Space Trees, River's algorithm and scores (models/hst.py).
- TailModel: one-sided ("more is worse") conformal tail scores against the last N
  learned samples (or N bursts, each counted once), for counts such as a flow's
  endpoint activity (models/tail.py).
- OnnxModel: a model trained offline, in an ONNX file, scored with onnxruntime
  (models/onnx.py; imported on use, so that onnxruntime loads only when needed).
"""
from wirescore.models.hst import HalfSpaceTrees

__all__ = ["HalfSpaceTrees"]
